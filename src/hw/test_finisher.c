/*
 * sifive,test finisher (QEMU hw/misc/sifive_test.c semantics): a 32-bit
 * write to offset 0 of
 *   0x5555                pass: the machine exits with status 0;
 *   0x3333 | code << 16   fail: the machine exits with status code;
 *   0x7777                reset request.
 * (16-bit writes are zero-extended, as in QEMU.)  Other values and offsets
 * are ignored; reads return 0.
 */
#include "hw/test_finisher.h"

#include <stdlib.h>

#include "util/log.h"

struct TestFinisher {
    Device dev; /* first: the Device is the TestFinisher */
    FinisherHooks hooks;
    bool warned; /* an unknown command was logged once already */
};

TestFinisher *test_finisher_new(const FinisherHooks *hooks)
{
    TestFinisher *f = calloc(1, sizeof(*f));
    if (!f)
        return NULL;
    f->dev = (Device){.ops = &test_finisher_device_ops, .size = FINISHER_SIZE};
    f->hooks = *hooks;
    return f;
}

void test_finisher_free(TestFinisher *f)
{
    free(f);
}

static bool finisher_read(void *opaque, uint64_t offset, unsigned size, uint64_t *value)
{
    *value = 0;
    return true;
}

static bool finisher_write(void *opaque, uint64_t offset, unsigned size, uint64_t value)
{
    TestFinisher *f = opaque;
    if (offset != 0 || size < 2)
        return true;
    unsigned status = value & 0xffff, code = (value >> 16) & 0xffff;
    switch (status) {
    case FINISHER_PASS: f->hooks.exit(f->hooks.opaque, false, 0); break;
    case FINISHER_FAIL: f->hooks.exit(f->hooks.opaque, true, (int)code); break;
    case FINISHER_RESET: f->hooks.reset(f->hooks.opaque); break;
    default:
        if (!f->warned)
            log_warn("test finisher: unknown command 0x%x ignored", status);
        f->warned = true;
    }
    return true;
}

const MmioOps test_finisher_ops = {
    .read = finisher_read,
    .write = finisher_write,
};

static void finisher_fdt(const Device *d, DeviceTree *dt, unsigned nharts)
{
    uint64_t base = d->base;
    static const char *const compat[] = {"sifive,test1", "sifive,test0", "syscon"};
    dt_begin_at(dt, "test", base);
    dt_prop_strs(dt, "compatible", compat, 3);
    dt_prop_reg(dt, base, FINISHER_SIZE);
    dt_prop_u32(dt, "phandle", FDT_PHANDLE_TEST);
    dt_end(dt);
    dt_begin(dt, "poweroff");
    dt_prop_str(dt, "compatible", "syscon-poweroff");
    dt_prop_u32(dt, "regmap", FDT_PHANDLE_TEST);
    dt_prop_u32(dt, "offset", 0);
    dt_prop_u32(dt, "value", 0x5555);
    dt_end(dt);
    dt_begin(dt, "reboot");
    dt_prop_str(dt, "compatible", "syscon-reboot");
    dt_prop_u32(dt, "regmap", FDT_PHANDLE_TEST);
    dt_prop_u32(dt, "offset", 0);
    dt_prop_u32(dt, "value", 0x7777);
    dt_end(dt);
}

/* ---- the device ---- */

static void finisher_device_free(Device *d)
{
    test_finisher_free((TestFinisher *)d);
}

const DeviceOps test_finisher_device_ops = {
    .name = "test-finisher",
    .mmio = &test_finisher_ops,
    .fdt = finisher_fdt,
    .free = finisher_device_free,
};

Device *test_finisher_create(const DeviceArgs *a, Error *err)
{
    FinisherHooks hooks = {.exit = a->power_exit, .reset = a->power_reset, .opaque = a->opaque};
    TestFinisher *f = test_finisher_new(&hooks);
    if (!f) {
        error_set(err, "out of memory creating the test finisher");
        return NULL;
    }
    device_place(&f->dev, a);
    return &f->dev;
}
