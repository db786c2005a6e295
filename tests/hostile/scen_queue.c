/*
 * Hostile queue setups: sizes that are not a power of two or exceed
 * QueueNumMax, rings outside RAM, misaligned or wrapping around the
 * address space.  QueueReady must stay 0 and the device must be broken;
 * setting DRIVER_OK and notifying afterwards must do no harm.
 */
#include "scen.h"

static int bad_queue(Dev *d, const QueueCfg *q)
{
    if (!dev_negotiate(d, FEATS))
        return FAIL_SETUP;
    if (dev_queue_setup(d, q))
        return fail(FAIL_OUTCOME, "QueueReady accepted a bad queue of size", q->num);
    int rc = expect_broken(d, false);
    if (rc)
        return rc;
    dev_driver_ok(d);
    dev_write(d, VM_QUEUE_NOTIFY, 0);
    if (!(dev_read(d, VM_STATUS) & ST_NEEDS_RESET))
        return fail(FAIL_OUTCOME, "DEVICE_NEEDS_RESET cleared by DRIVER_OK; Status",
                    dev_read(d, VM_STATUS));
    return 0;
}

static int blk_queue(Ctx *c, uint32_t num, uint64_t desc, uint64_t avail, uint64_t used)
{
    QueueCfg q = {num, desc, avail, used};
    return bad_queue(&c->blk, &q);
}

static int qsize_not_pow2(Ctx *c)
{
    return blk_queue(c, 6, Q_DESC, Q_AVAIL, Q_USED);
}
static int qsize_over_max(Ctx *c)
{
    return blk_queue(c, 512, Q_DESC, Q_AVAIL, Q_USED);
}
static int qsize_zero(Ctx *c)
{
    return blk_queue(c, 0, Q_DESC, Q_AVAIL, Q_USED);
}
static int qsize_65536(Ctx *c)
{
    return blk_queue(c, 0x10000, Q_DESC, Q_AVAIL, Q_USED);
}
static int qsize_huge(Ctx *c)
{
    return blk_queue(c, 0xffffffffu, Q_DESC, Q_AVAIL, Q_USED);
}
static int desc_at_zero(Ctx *c)
{
    return blk_queue(c, 8, 0, Q_AVAIL, Q_USED);
}
static int desc_misaligned(Ctx *c)
{
    return blk_queue(c, 8, Q_DESC + 8, Q_AVAIL, Q_USED);
}

static int desc_wraps(Ctx *c)
{
    return blk_queue(c, 8, 0xfffffffffffffff0ull, Q_AVAIL, Q_USED);
}

static int avail_past_ram(Ctx *c)
{
    return blk_queue(c, 8, Q_DESC, RAM_END, Q_USED);
}
static int avail_misaligned(Ctx *c)
{
    return blk_queue(c, 8, Q_DESC, Q_AVAIL + 1, Q_USED);
}
static int used_straddles_end(Ctx *c)
{
    return blk_queue(c, 8, Q_DESC, Q_AVAIL, RAM_END - 16);
}
static int used_misaligned(Ctx *c)
{
    return blk_queue(c, 8, Q_DESC, Q_AVAIL, Q_USED + 2);
}
static int used_on_mmio(Ctx *c)
{
    return blk_queue(c, 8, Q_DESC, Q_AVAIL, VM_SLOT0);
}

static int rng_qsize_over_max(Ctx *c)
{
    QueueCfg q = {128, Q_DESC, Q_AVAIL, Q_USED};
    return bad_queue(&c->rng, &q);
}

const Scenario scen_queue[] = {
    {"qsize_not_pow2", qsize_not_pow2, false, false, false},
    {"qsize_over_max", qsize_over_max, false, false, false},
    {"qsize_zero", qsize_zero, false, false, false},
    {"qsize_65536", qsize_65536, false, false, false},
    {"qsize_huge", qsize_huge, false, false, false},
    {"desc_at_zero", desc_at_zero, false, false, false},
    {"desc_misaligned", desc_misaligned, false, false, false},
    {"desc_wraps", desc_wraps, false, false, false},
    {"avail_past_ram", avail_past_ram, false, false, false},
    {"avail_misaligned", avail_misaligned, false, false, false},
    {"used_straddles_end", used_straddles_end, false, false, false},
    {"used_misaligned", used_misaligned, false, false, false},
    {"used_on_mmio", used_on_mmio, false, false, false},
    {"rng_qsize_over_max", rng_qsize_over_max, true, false, false},
    {NULL, NULL, false, false, false},
};
