/*
 * QEMU virt's "sifive,test" device: one 32-bit register through which a
 * bare-metal program or firmware ends the run (pass, fail with a code) or
 * asks for a reset.
 */
#ifndef HOSTEL_HW_TEST_FINISHER_H
#define HOSTEL_HW_TEST_FINISHER_H

#include <stdbool.h>
#include <stdint.h>

#include "hw/device.h"

#define FINISHER_SIZE 0x1000
#define FINISHER_FAIL 0x3333
#define FINISHER_PASS 0x5555
#define FINISHER_RESET 0x7777

/* How the device reports to the machine that owns it. */
typedef struct FinisherHooks {
    /* pass (failed = false, code 0) or fail (failed = true, code from the guest, maybe 0) */
    void (*exit)(void *opaque, bool failed, int code);
    void (*reset)(void *opaque); /* the guest asked for a reset */
    void *opaque;
} FinisherHooks;

/* The TestFinisher begins with its Device (a Device pointer is the TestFinisher). */
typedef struct TestFinisher TestFinisher;

/* Its device ops: "test-finisher", registers, fdt (no reset, no state). */
extern const DeviceOps test_finisher_device_ops;

/* MMIO ops; the opaque pointer is the TestFinisher. */
extern const MmioOps test_finisher_ops;

/* Create the device. Returns NULL only when out of memory. */
TestFinisher *test_finisher_new(const FinisherHooks *hooks);
void test_finisher_free(TestFinisher *f);

/*
 * The board's constructor: at a->base, reporting to a->power_exit and
 * a->power_reset (with a->opaque).  Its device-tree nodes: the sifive,test
 * syscon and the syscon-poweroff / syscon-reboot nodes that drive it (as
 * QEMU virt does).  NULL with err filled.
 */
Device *test_finisher_create(const DeviceArgs *a, Error *err);

#endif
