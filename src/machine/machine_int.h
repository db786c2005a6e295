/*
 * The Machine's internals, shared by the files that make up the machine
 * (machine.c: devices and run loop; firmware.c: booting and built-in SBI).
 * Nothing outside src/machine/ includes this (but tests/unit/test_board.c).
 */
#ifndef HOSTEL_MACHINE_MACHINE_INT_H
#define HOSTEL_MACHINE_MACHINE_INT_H

#include <jansson.h>

#include "cpu/hart.h"
#include "hw/bus.h"
#include "hw/device.h"
#include "hw/fdt.h"
#include "hw/goldfish_rtc.h"
#include "hw/htif.h"
#include "hw/uart16550.h"
#include "hw/sifive_gpio.h"
#include "hw/vmgenid.h"
#include "machine/boot.h"
#include "machine/elf.h"
#include "machine/machine.h"
#include "machine/virt.h"
#include "util/evloop.h"
#include "virtio/mmio.h"

/*
 * Instructions per hart per turn.  Timers are polled between turns, so this
 * bounds how late a timer interrupt is: ~0.3 ms of guest time at 300 MIPS.
 */
#define MACHINE_SLICE 100000ull
/*
 * Longest idle wait: bounds how long a stop request from a signal handler
 * that did not call machine_kick() can go unnoticed (it may land just
 * before the wait starts).  One wake-up a second costs nothing.
 */
#define MACHINE_IDLE_MAX_NS 1000000000ull
#define MACHINE_MAX_DEVICES 24 /* instances the device table may build */

struct Machine {
    VmConfig vm;      /* the definition it was built from (owned copy) */
    MachineHost host; /* fds and limits the process lends it */
    Bus bus;
    Hart *harts[MACHINE_MAX_HARTS];
    unsigned nharts;
    Device *devices[MACHINE_MAX_DEVICES]; /* built from virt_devices[], in its order */
    unsigned ndevices;
    IrqController *irq_controller; /* the PLIC's lines, once it is built */
    /* Devices the board talks to itself (they are in devices[] too). */
    Uart16550 *uart;
    GoldfishRtc *rtc;
    VmGenId *vmgenid;
    SifiveGpio *gpio;           /* its pin SIFIVE_GPIO_POWER_PIN is the power button */
    Htif *htif;                 /* NULL unless the kernel defines tohost; not a table device */
    ElfFile *kernel;            /* bare-metal ELF, kept open to reload it on reset */
    MachineBoot boot;           /* what machine_boot() was asked to load (for resets) */
    bool linux_boot;            /* booted through machine_boot (firmware or built-in SBI) */
    int hsm[MACHINE_MAX_HARTS]; /* SBI HSM state of each hart (built-in firmware) */
    volatile bool stop;         /* every hart's *stop points here */
    bool exited;                /* the guest ended the run */
    int exit_status;            /* 0..255, valid when exited */
    bool reset_requested;
    uint64_t instret_base; /* instructions retired before the last reset */
    MachineStats stats;
    EventLoop *loop;
    uint8_t rom[VIRT_ROM_SIZE];               /* boot ROM: the reset vector (firmware boots) */
    unsigned vconsole_slot;                   /* the virtio-console's slot */
    VirtioMmio *virtio[MACHINE_VIRTIO_SLOTS]; /* as vm.devices lays them out */
    void (*feed_hook)(void *opaque);          /* before each turn (machine_set_feed_hook) */
    MachineAgentSink agent;                   /* the agent port's host side */
    void *feed_opaque;
    struct MachineDiskInfo {
        const char *format;         /* the opened image's format ("raw", "qcow2") */
        uint64_t length;            /* bytes the guest sees */
    } disk_info[MACHINE_MAX_DISKS]; /* by disk index */
    bool paused;                    /* the harts do not run (machine_pause) */
    unsigned throttle_pct;          /* share of host time the harts sleep (machine_set_throttle) */
    uint64_t throttle_until;        /* host ns: the harts sleep until then */
    GuestClock clock;               /* guest time: harts, ACLINT and RTC read it */
};

/* Device-facing hooks implemented in machine.c. */
void machine_guest_exit(void *opaque, bool failed, int code);
void machine_guest_reset(void *opaque);
/* Guest console output to the host's sink, or to host.out_fd (dropped if the console is gone). */
void machine_console_write(void *opaque, const uint8_t *buf, size_t len);
/* The UART's and the SBI console's output: machine_console_write unless the console is virtio. */
void machine_serial_write(void *opaque, const uint8_t *buf, size_t len);
/* SYS_write to fd 2: the host's console_err, or host.err_fd. */
void machine_console_write_err(void *opaque, const uint8_t *buf, size_t len);
/* Reset every device to its power-on state (before restarting the harts). */
void machine_reset_devices(Machine *m);
/*
 * The virtio row's constructor (virt.c): the device the configuration puts
 * in slot a->instance (disks, network card, rng, console, placeholders).
 * a->opaque is the Machine.  NULL with err filled.
 */
Device *machine_virtio_create(const DeviceArgs *a, Error *err);

/* ---- the device table's walks (virt.c) ---- */

/* Build and map every device of virt_devices[]. Returns 0, or -1 with err filled. */
int virt_create_devices(Machine *m, Error *err);
/* The built device of these ops and instance (its struct begins with the Device), or NULL. */
void *virt_find(const Machine *m, const DeviceOps *ops, unsigned instance);
/* Reset, then free, every built device, backwards through the table. */
void virt_reset_devices(Machine *m);
void virt_free_devices(Machine *m);
/* Write every device's nodes (inside /soc), in table order. */
void virt_fdt_devices(const Machine *m, DeviceTree *dt);
/* Timers raise what has come due (between hart slices). */
void virt_poll_devices(Machine *m);
/* Host ns until the devices' next deadline (0 = due, UINT64_MAX = none). */
uint64_t virt_next_deadline_ns(const Machine *m);
/* Drop decoded code for every RAM page before rewriting RAM. */
void machine_invalidate_code(Machine *m);
/* Build the device tree of the board into dt. Returns 0 or -1. */
int machine_build_fdt(Machine *m, const BootLayout *lay, DeviceTree *dt, Error *err);
/* Remember what to boot on a reset, without loading it (a restored machine). */
int machine_set_boot(Machine *m, const MachineBoot *boot, Error *err);
/* (Re)load everything machine_boot() loads and restart the harts. */
int machine_boot_load(Machine *m, Error *err);

#endif
