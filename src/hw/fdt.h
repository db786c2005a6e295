/*
 * Building the flattened device tree (libfdt's sequential-write API).
 *
 * DeviceTree wraps libfdt so that callers write nodes without checking every
 * call: the first failure is remembered and reported by fdt_finish().
 * Devices write their own nodes with these helpers; phandles of the
 * interrupt controllers are fixed (FDT_PHANDLE_*) so any node can refer to
 * them whatever the order of writing.
 */
#ifndef HOSTEL_HW_FDT_H
#define HOSTEL_HW_FDT_H

#include <stddef.h>
#include <stdint.h>

#include "util/error.h"

#define FDT_MAX_SIZE (64u * 1024)
#define MACHINE_MAX_HARTS_FDT 8            /* largest hart count a node is written for */
#define FDT_PHANDLE_CPU_INTC(n) (1u + (n)) /* hart n's local interrupt controller */
#define FDT_PHANDLE_PLIC 0x40u
#define FDT_PHANDLE_TEST 0x41u /* the sifive,test syscon */
#define FDT_PHANDLE_GPIO 0x42u /* the sifive,gpio0 controller */

typedef struct DeviceTree {
    void *blob; /* FDT_MAX_SIZE bytes */
    int err;    /* first libfdt error, 0 if none */
} DeviceTree;

/* Start a tree (and its root node). Returns 0, or -1 with err filled. */
int dt_start(DeviceTree *f, Error *err);
/* Close the root node and finish. Returns 0, or -1 with err filled. */
int dt_finish(DeviceTree *f, Error *err);
void dt_free(DeviceTree *f);
/* Total size of a finished tree in bytes. */
size_t dt_size(const DeviceTree *f);

void dt_begin(DeviceTree *f, const char *name);
/* Begin "name@<hex address>". */
void dt_begin_at(DeviceTree *f, const char *name, uint64_t addr);
void dt_end(DeviceTree *f);
void dt_prop_empty(DeviceTree *f, const char *name);
void dt_prop_u32(DeviceTree *f, const char *name, uint32_t v);
void dt_prop_u64(DeviceTree *f, const char *name, uint64_t v);
void dt_prop_str(DeviceTree *f, const char *name, const char *s);
/* A string list from n NUL-terminated strings. */
void dt_prop_strs(DeviceTree *f, const char *name, const char *const *s, unsigned n);
/* An array of n 32-bit cells. */
void dt_prop_cells(DeviceTree *f, const char *name, const uint32_t *cells, unsigned n);
/*
 * interrupts-extended = <&intc0 irq_a &intc0 irq_b &intc1 irq_a ...>: two
 * local interrupts of every hart (e.g. MSI and MTI for the CLINT).
 */
void dt_prop_hart_irqs(DeviceTree *f, unsigned nharts, uint32_t irq_a, uint32_t irq_b);
/* reg = <addr size> with #address-cells = #size-cells = 2. */
void dt_prop_reg(DeviceTree *f, uint64_t addr, uint64_t size);

#endif
