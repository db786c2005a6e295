/*
 * The hostile guest: a bare-metal program that drives hostel's virtio-blk
 * and virtio-rng devices with malformed descriptor chains, queue setups and
 * requests, one scenario at a time.  Each scenario prints "scenario NAME"
 * on the UART and checks the device's reaction (broken with
 * DEVICE_NEEDS_RESET, or the request completed with its defined status);
 * then the device is reset and must serve a well-formed request again.
 * Exit status 0: every scenario behaved; N: scenario N (counted from 1 in
 * run order) went wrong; 128 + N: the device did not work again after
 * scenario N and its reset; 253: too many scenarios; 254: no devices;
 * 255: a trap.  The UART says which check failed.
 * Built with -DPEER_ONLY it runs only the scenarios whose outcome the spec
 * defines, so the same program can run on QEMU.
 */
#include "scen.h"

#define FAIL_TOO_MANY 253 /* more scenarios than distinct exit codes */
#define FAIL_NO_DEVICE 254
#define RECOVER_BASE 128
#define MAX_SCENARIOS 120 /* so that RECOVER_BASE + N < FAIL_TOO_MANY */
#define BLK_MIN_SECTORS 8

#ifdef PEER_ONLY
#define SELECTED(s) ((s)->peer)
#else
#define SELECTED(s) true
#endif

static const Scenario *const groups[] = {
    scen_chain, scen_indirect, scen_queue, scen_blk,   scen_dwz,
    scen_rng,   scen_misc,     scen_gpu,   scen_final,
};

static int probe(Ctx *c)
{
    if (!dev_probe(&c->blk, ID_BLOCK, "virtio-blk") || !dev_probe(&c->rng, ID_RNG, "virtio-rng")) {
        uart_puts("hostile: no virtio-blk or virtio-rng device\n");
        return FAIL_NO_DEVICE;
    }
    c->has_gpu = dev_probe(&c->gpu, ID_GPU, "virtio-gpu");
    c->capacity = mmio_read32(c->blk.base + VM_CONFIG) |
                  (uint64_t)mmio_read32(c->blk.base + VM_CONFIG + 4) << 32;
    if (c->capacity < BLK_MIN_SECTORS) {
        uart_puts("hostile: disk too small\n");
        return FAIL_NO_DEVICE;
    }
    return 0;
}

/* Run one scenario, reset its device and check that it works again. */
static int run_one(Ctx *c, const Scenario *s)
{
    uart_puts("scenario ");
    uart_puts(s->name);
    uart_puts("\n");
    int rc = s->run(c);
    if (rc)
        return rc;
    Dev *d = s->gpu ? &c->gpu : s->rng ? &c->rng : &c->blk;
    if (!dev_reset(d))
        return fail(FAIL_RECOVER, "reset did not clear Status", dev_read(d, VM_STATUS));
    return s->gpu ? recover_gpu(c) : s->rng ? recover_rng(c) : recover_blk(c);
}

int main(void)
{
    Ctx c;
    int rc = probe(&c);
    if (rc)
        return rc;
    unsigned n = 0;
    for (size_t g = 0; g < sizeof(groups) / sizeof(groups[0]); g++)
        for (const Scenario *s = groups[g]; s->name; s++) {
            if (!SELECTED(s) || (s->gpu && !c.has_gpu))
                continue;
            if (++n > MAX_SCENARIOS)
                return FAIL_TOO_MANY;
            rc = run_one(&c, s);
            if (rc)
                return (int)(rc == FAIL_RECOVER ? RECOVER_BASE + n : n);
        }
    dev_reset(&c.blk);
    dev_reset(&c.rng);
    if (c.has_gpu)
        dev_reset(&c.gpu);
    uart_puts("hostile: all scenarios passed\n");
    return 0;
}
