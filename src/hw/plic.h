/*
 * SiFive PLIC as on QEMU's virt board (0xc000000, 0x600000 bytes): sources
 * 1..PLIC_NUM_SOURCES-1 with priorities 0..7 (0 = never interrupts),
 * pending bits, and two contexts per hart: context 2N is hart N's M-mode
 * (drives MIP_MEIP), 2N+1 its S-mode (drives MIP_SEIP); each context has
 * its enable bits, a priority threshold and a claim/complete register.
 *
 * Sources are level-triggered, with the PLIC spec's gateway: a line going
 * high makes its source pending, and the request stays pending if the line
 * drops again (as on QEMU); a claim clears the pending bit and the source
 * stays in service (not pending again) until the claiming context writes
 * its id to complete; if the line is still high then, it is pending again.
 *
 * Not thread-safe: call everything from the thread that runs the harts.
 */
#ifndef HOSTEL_HW_PLIC_H
#define HOSTEL_HW_PLIC_H

#include <stdbool.h>
#include <stdint.h>

#include "cpu/hart.h"
#include "hw/device.h"

#define PLIC_SIZE 0x600000
#define PLIC_NUM_SOURCES 96 /* including source 0, which does not exist */
#define PLIC_MAX_PRIORITY 7
#define PLIC_MAX_HARTS 64 /* (1024 contexts would fit in the register map) */

/* Register map (offsets from the base). */
#define PLIC_PRIORITY_BASE 0x0   /* + 4 * source */
#define PLIC_PENDING_BASE 0x1000 /* bit per source */
#define PLIC_ENABLE_BASE 0x2000  /* + 0x80 * context, bit per source */
#define PLIC_ENABLE_STRIDE 0x80
#define PLIC_CONTEXT_BASE 0x200000 /* + 0x1000 * context */
#define PLIC_CONTEXT_STRIDE 0x1000 /* +0 threshold, +4 claim/complete */

/*
 * The Plic begins with its Device (a Device pointer is the Plic) and
 * offers its sources through d->irq_controller: IrqLine {ctl, src}.
 */
typedef struct Plic Plic;

/* Its device ops: name (state tag) "plic", registers, reset, fdt, state. */
extern const DeviceOps plic_device_ops;

/* MMIO ops; the opaque pointer is the Plic. */
extern const MmioOps plic_ops;

/*
 * Create a PLIC for harts[0..nharts) (1..PLIC_MAX_HARTS; the harts must
 * outlive it), in its reset state.  Returns NULL with err filled on failure.
 */
Plic *plic_new(Hart *const *harts, unsigned nharts, Error *err);
void plic_free(Plic *p);

/* Save/restore table: priorities, lines, pending, claimed, contexts. */
extern const struct StateDesc plic_state_desc;

/*
 * Priorities, enables, thresholds and claims to 0; the input lines keep
 * their levels (they belong to the devices), so a high line is pending again.
 */
void plic_reset(Plic *p);

/* Drive the line of source src (1..PLIC_NUM_SOURCES-1; others are ignored). */
void plic_set_irq(Plic *p, unsigned src, bool level);

/*
 * The board's constructor: a PLIC for a->harts at a->base (its device-tree
 * node: SiFive PLIC, M and S contexts per hart).  NULL with err filled.
 */
Device *plic_create(const DeviceArgs *a, Error *err);

#endif
