/*
 * ACLINT as on QEMU's virt board (register-compatible with the SiFive CLINT
 * that OpenSBI and Linux drive): one 64 KiB region holding
 *   MSWI    at +0x0000: msip[N], 4 bytes per hart, bit 0 drives MIP_MSIP;
 *   MTIMER  at +0x4000: mtimecmp[N], 8 bytes per hart (64-bit or 32-bit
 *           halves), and mtime at +0xbff8.
 * mtime is the harts' time CSR (hart_time(), 10 MHz): the ACLINT owns the
 * harts' common time base, so a write to mtime moves the time CSR of every
 * hart too.  MTIP of hart N is a level, mtime >= mtimecmp[N].  Time moves
 * without any access, so the machine calls aclint_poll() between hart
 * slices and sleeps no longer than aclint_next_deadline_ns().
 *
 * Sstc: while a hart's menvcfg.STCE is set, aclint_poll() also drives its
 * MIP_STIP from time >= stimecmp (a CSR of the hart).
 *
 * Not thread-safe: call everything from the thread that runs the harts.
 */
#ifndef HOSTEL_HW_ACLINT_H
#define HOSTEL_HW_ACLINT_H

#include <stdint.h>

#include "cpu/hart.h"
#include "hw/device.h"

#define ACLINT_SIZE 0x10000
#define ACLINT_MSWI_OFFSET 0x0
#define ACLINT_MTIMECMP_OFFSET 0x4000
#define ACLINT_MTIME_OFFSET 0xbff8
#define ACLINT_MAX_HARTS 4095 /* what the MTIMER layout has room for */

/* The Aclint begins with its Device (a Device pointer is the Aclint). */
typedef struct Aclint Aclint;

/* Its device ops: "aclint" (state tag), registers, reset, fdt, state, poll, deadline. */
extern const DeviceOps aclint_device_ops;

/* MMIO ops for the whole region; the opaque pointer is the Aclint. */
extern const MmioOps aclint_ops;

/*
 * Create an ACLINT for harts[0..nharts) (1..ACLINT_MAX_HARTS; the harts
 * must outlive it) and reset it.  Returns NULL with err filled on failure.
 */
Aclint *aclint_new(Hart *const *harts, unsigned nharts, Error *err);
void aclint_free(Aclint *a);

/* Save/restore table: mtime, msip, mtimecmp (the object is the Aclint). */
extern const struct StateDesc aclint_state_desc;

/*
 * Reset: mtime restarts at 0 for every hart, msip = 0, mtimecmp = 0 (so
 * MTIP is pending, as on QEMU).  Call after resetting the harts.
 */
void aclint_reset(Aclint *a);

/* The current mtime in ticks of 1/HART_TIMEBASE_HZ s. */
uint64_t aclint_mtime(const Aclint *a);

/* Update every hart's MTIP (and STIP under Sstc) from the current time. */
void aclint_poll(Aclint *a);

/*
 * Host nanoseconds until the earliest timer comparison (mtimecmp, or
 * stimecmp under Sstc) that is still in the future turns true: 0 if one is
 * already due and not yet reflected by aclint_poll(), UINT64_MAX if none.
 */
uint64_t aclint_next_deadline_ns(const Aclint *a);

/*
 * The board's constructor: an ACLINT for a->harts at a->base (its
 * device-tree node: a SiFive CLINT, MSWI + MTIMER).  NULL with err filled.
 */
Device *aclint_create(const DeviceArgs *a, Error *err);

#endif
