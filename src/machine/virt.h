/*
 * The virt board: its memory map (QEMU's hw/riscv/virt.c layout, the part
 * that exists so far) and the one table of its devices, which every walk
 * over the devices follows: building, mapping, reset, device tree, state
 * sections, printing a state file, timers, freeing.
 * Nothing outside src/machine/ includes this (but tests/unit/test_board.c).
 */
#ifndef HOSTEL_MACHINE_VIRT_H
#define HOSTEL_MACHINE_VIRT_H

#include <stdbool.h>
#include <stdint.h>

#include "hw/device.h"
#include "util/error.h"

/* The memory map's entries. */
typedef enum VirtMemmapIndex {
    VIRT_ROM,     /* boot ROM: the reset vector */
    VIRT_TEST,    /* sifive,test finisher */
    VIRT_RTC,     /* google,goldfish-rtc */
    VIRT_VMGENID, /* microsoft,vmgenid (free in QEMU virt) */
    VIRT_GPIO,    /* sifive,gpio0 with the power button (free in QEMU virt) */
    VIRT_ACLINT,  /* MSWI + MTIMER (CLINT layout) */
    VIRT_PLIC,
    VIRT_UART0,  /* ns16550a */
    VIRT_VIRTIO, /* one virtio-mmio slot; MACHINE_VIRTIO_SLOTS of them, size apart */
    VIRT_DRAM,   /* size 0: the configuration's RAM size */
    VIRT_MEMMAP_COUNT
} VirtMemmapIndex;

typedef struct MemMapEntry {
    uint64_t base;
    uint64_t size; /* bytes */
} MemMapEntry;

extern const MemMapEntry virt_memmap[VIRT_MEMMAP_COUNT];

#define VIRT_ROM_SIZE 0x1000u /* virt_memmap[VIRT_ROM].size, for arrays */

/* PLIC sources (QEMU virt numbering; vmgenid's and the GPIO pins' are unused by QEMU). */
enum {
    VIRT_VIRTIO_IRQ = 1,
    VIRT_UART0_IRQ = 10,
    VIRT_RTC_IRQ = 11,
    VIRT_VMGENID_IRQ = 12,
    VIRT_GPIO_IRQ = 13, /* pin i: 13 + i */
};

/*
 * One row of the device table: count instances of one kind of device,
 * instance n at virt_memmap[map].base + n * size with PLIC source irq + n
 * (irq 0: no line).  ops says what the device is (its name, its state
 * table for printing a file without a machine); create builds it.
 */
typedef struct VirtDevice {
    VirtMemmapIndex map;
    unsigned irq;
    unsigned count; /* 0 means 1 */
    const DeviceOps *ops;
    DeviceCreateFn create;
} VirtDevice;

extern const VirtDevice virt_devices[];
extern const unsigned virt_ndevices;

/* Instances of the table's row r. */
unsigned virt_row_count(const VirtDevice *r);

/* The ops of the device whose state section has this tag, or NULL. */
const DeviceOps *virt_ops_of_tag(const char *tag);

#endif
