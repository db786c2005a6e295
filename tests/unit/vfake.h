/*
 * What the unit tests share to stand in for a guest and a board: a bus with
 * RAM and harts, an interrupt line that records its level, a minimal
 * guest-side virtio-mmio driver (rings built by hand in the bus's RAM), and
 * the one place tests create devices with an interrupt line, so a change of
 * the device constructors is adapted here and nowhere else.
 */
#ifndef HOSTEL_TESTS_VFAKE_H
#define HOSTEL_TESTS_VFAKE_H

#include <stdbool.h>
#include <stdint.h>

#include "cpu/hart.h"
#include "hw/bus.h"
#include "hw/goldfish_rtc.h"
#include "hw/sifive_gpio.h"
#include "hw/uart16550.h"
#include "hw/vmgenid.h"
#include "virtio/blk.h"
#include "virtio/console.h"
#include "virtio/gpu.h"
#include "virtio/input.h"
#include "virtio/net.h"
#include "virtio/rng.h"

#define VFAKE_RAM_BASE 0x80000000ull
#define VFAKE_MAX_HARTS 2

/* ---- an interrupt line ---- */

/* What a device did to its line: the last level (-1 before any) and how often it rose. */
typedef struct VFakeIrq {
    IrqController ctl; /* set by the vfake_* constructors */
    int level;
    int raises;
    unsigned src; /* the source number of the last change */
} VFakeIrq;

/* A line into irq as PLIC source src (the constructors below use source 1). */
IrqLine vfake_irq_line(VFakeIrq *irq, unsigned src);

/* ---- a bus with harts (interrupt controllers, timers) ---- */

typedef struct VFakeHarts {
    Bus bus; /* 16 MiB of RAM at VFAKE_RAM_BASE */
    Hart *harts[VFAKE_MAX_HARTS];
    int n;
} VFakeHarts;

/* A bus and n (1..VFAKE_MAX_HARTS) harts; 0, or -1 with err set (nothing left to free). */
int vfake_harts_init(VFakeHarts *b, int n, Error *err);
void vfake_harts_destroy(VFakeHarts *b);

/* ---- guest RAM ---- */

/* Host pointer to guest physical address pa (which must be in RAM). */
void *vfake_ram(Bus *bus, uint64_t pa);
void vfake_put16(Bus *bus, uint64_t pa, uint16_t v);
uint16_t vfake_get16(Bus *bus, uint64_t pa);
uint32_t vfake_get32(Bus *bus, uint64_t pa);
/* Write one split-ring descriptor at pa. */
void vfake_write_desc(Bus *bus, uint64_t pa, uint64_t addr, uint32_t len, uint16_t flags,
                      uint16_t next);

/* ---- devices, created with their line wired to irq ---- */

/* The virtio devices at base on bus (interrupt source 1); NULL with err set on failure. */
VirtioMmio *vfake_virtio_blk(Bus *bus, uint64_t base, VFakeIrq *irq, const VirtioBlkConfig *cfg,
                             Error *err);
VirtioMmio *vfake_virtio_net(Bus *bus, uint64_t base, VFakeIrq *irq, const VirtioNetConfig *cfg,
                             Error *err);
VirtioMmio *vfake_virtio_rng(Bus *bus, uint64_t base, VFakeIrq *irq, Error *err);
VirtioMmio *vfake_virtio_gpu(Bus *bus, uint64_t base, VFakeIrq *irq, const VirtioGpuConfig *cfg,
                             Error *err);
VirtioMmio *vfake_virtio_console(Bus *bus, uint64_t base, VFakeIrq *irq,
                                 const VirtioConsoleConfig *cfg, Error *err);
VirtioMmio *vfake_virtio_input(Bus *bus, uint64_t base, VFakeIrq *irq, const VirtioInputConfig *cfg,
                               Error *err);
/* An empty slot (device id 0): no line. */
VirtioMmio *vfake_virtio_placeholder(Bus *bus, uint64_t base, Error *err);
VmGenId *vfake_vmgenid(VFakeIrq *irq);
GoldfishRtc *vfake_rtc(VFakeIrq *irq);
/* A GPIO controller whose pin i is source 13 + i (the board's numbering). */
SifiveGpio *vfake_sifive_gpio(VFakeIrq *irq);
/* A UART from cfg (its line fields are set here). */
Uart16550 *vfake_uart(VFakeIrq *irq, UartConfig cfg);

/* ---- a minimal virtio-mmio driver ---- */

uint32_t vfake_rd(VirtioMmio *v, uint64_t off); /* 4-byte register read */
uint8_t vfake_rd8(VirtioMmio *v, uint64_t off); /* 1-byte read (config space) */
void vfake_wr(VirtioMmio *v, uint64_t off, uint32_t val);
uint64_t vfake_device_features(VirtioMmio *v); /* all 64 offered bits */
bool vfake_broken(VirtioMmio *v);              /* DEVICE_NEEDS_RESET set */
/* Reset, negotiate device features & want; returns the Status read back. */
uint32_t vfake_negotiate(VirtioMmio *v, uint64_t want);
void vfake_driver_ok(VirtioMmio *v);

/* Driver-side state of one queue: its rings at desc, desc + 0x1000, desc + 0x2000. */
typedef struct VFakeQueue {
    VirtioMmio *v;
    Bus *bus;
    unsigned index;
    uint16_t num, avail_idx, used_seen, next_desc;
    uint64_t desc, avail, used;
} VFakeQueue;

/* One buffer of a chain: guest address, length, device-writable. */
typedef struct VFakeSeg {
    uint64_t addr;
    uint32_t len;
    bool write;
} VFakeSeg;

/* Set up queue index of num entries with zeroed rings at area (0x3000 bytes), ready. */
void vfake_queue(VFakeQueue *d, VirtioMmio *v, unsigned index, uint16_t num, uint64_t area);
/* Put a chain of n segments in the table and make it available (no notify). */
void vfake_add(VFakeQueue *d, const VFakeSeg *s, unsigned n);
void vfake_kick(VFakeQueue *d);
uint16_t vfake_used_idx(const VFakeQueue *d);
/* Length of used element k (0-based since the queue started). */
uint32_t vfake_used_len(const VFakeQueue *d, uint16_t k);

/* ---- --net parsing ---- */

/* Does --net spec fail with one line that names --net and contains want? */
bool vfake_net_parse_fails(const char *spec, const char *want);

#endif
