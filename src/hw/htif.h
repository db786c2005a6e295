/*
 * Spike's host-target interface (HTIF), as used by riscv-tests, the proxy
 * kernel's syscall convention and OpenSBI on Spike: two 64-bit words in the
 * guest's own RAM, tohost and fromhost, found by ELF symbol and overlaid
 * with MMIO so that a store to tohost reaches the host at once.
 */
#ifndef HOSTEL_HW_HTIF_H
#define HOSTEL_HW_HTIF_H

#include <stdbool.h>
#include <stdint.h>

#include "hw/bus.h"
#include "util/io.h"

#define HTIF_REG_SIZE 8 /* bytes mapped at tohost and at fromhost */

typedef struct HtifConfig {
    Bus *bus; /* guest RAM, for syscall blocks and SYS_write buffers */
    /* Console output and SYS_write to fd 1: out(out_opaque, buf, len). */
    ConsoleOutFn out;
    /* SYS_write to fd 2: err(out_opaque, buf, len). */
    ConsoleOutFn err;
    void *out_opaque;
    /* The guest asked to end the run: failed = (code != 0). */
    void (*exit)(void *opaque, bool failed, int code);
    void *opaque;
} HtifConfig;

typedef struct Htif Htif;

/* MMIO ops for the tohost and fromhost words; the opaque pointer is the Htif. */
extern const MmioOps htif_tohost_ops;
extern const MmioOps htif_fromhost_ops;

/* Create the device. Returns NULL only when out of memory. */
Htif *htif_new(const HtifConfig *cfg);
void htif_free(Htif *h);

/* Forget any pending command and response (machine reset). */
void htif_reset(Htif *h);

#endif
