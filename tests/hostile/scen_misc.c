/*
 * Register-level abuse that must change nothing: notifying or selecting
 * queues that do not exist, changing a live queue, reading and writing
 * past the configuration space, odd access widths, the driver setting
 * DEVICE_NEEDS_RESET itself, features the device did not offer.  The
 * device must not break and must keep serving requests.
 */
#include "scen.h"

/* A good read of sector 0 on the running queue, without a reset. */
static int still_works(Ctx *c)
{
    if (dev_read(&c->blk, VM_STATUS) & ST_NEEDS_RESET)
        return fail(FAIL_OUTCOME, "device broken by register abuse; Status",
                    dev_read(&c->blk, VM_STATUS));
    phys_fill(BUF_DATA, 0, SECTOR);
    blk_chain(Q_DESC, 0, BLK_T_IN, 0, SECTOR);
    dev_submit(&c->blk, 0);
    int rc = expect_blk_status(&c->blk, 0, BLK_S_OK);
    if (rc == 0 && !disk_matches(BUF_DATA, 0, SECTOR))
        return fail(FAIL_DATA, "read after register abuse: wrong data at", BUF_DATA);
    return rc;
}

static int missing_queues(Ctx *c)
{
    START(&c->blk, FEATS, &queue_default);
    dev_write(&c->blk, VM_QUEUE_NOTIFY, 5);
    dev_write(&c->blk, VM_QUEUE_NOTIFY, 0xffff);
    dev_write(&c->blk, VM_QUEUE_SEL, 7);
    if (dev_read(&c->blk, VM_QUEUE_NUM_MAX) != 0)
        return fail(FAIL_OUTCOME, "QueueNumMax of a missing queue",
                    dev_read(&c->blk, VM_QUEUE_NUM_MAX));
    dev_write(&c->blk, VM_QUEUE_NUM, 8);
    dev_write(&c->blk, VM_QUEUE_DESC_LOW, 0);
    dev_write(&c->blk, VM_QUEUE_READY, 1);
    if (dev_read(&c->blk, VM_QUEUE_READY) != 0)
        return fail(FAIL_OUTCOME, "QueueReady of a missing queue", 1);
    dev_write(&c->blk, VM_QUEUE_SEL, 0);
    return still_works(c);
}

/* QueueNum and the ring addresses may not change while the queue is ready. */
static int live_queue_change(Ctx *c)
{
    START(&c->blk, FEATS, &queue_default);
    dev_write(&c->blk, VM_QUEUE_NUM, 4);
    dev_write(&c->blk, VM_QUEUE_DESC_LOW, 0);
    dev_write(&c->blk, VM_QUEUE_DRIVER_HIGH, 0xffffffffu);
    dev_write(&c->blk, VM_QUEUE_DEVICE_LOW, 0x10001000u);
    return still_works(c);
}

static int config_abuse(Ctx *c)
{
    START(&c->blk, FEATS, &queue_default);
    uintptr_t cfg = c->blk.base + VM_CONFIG;
    volatile uint64_t *far = (volatile uint64_t *)(cfg + 0xef8);
    if (*far != 0)
        return fail(FAIL_OUTCOME, "config space read past its end", *far);
    *far = ~0ull;
    *(volatile uint64_t *)cfg = 0;                             /* capacity is read-only */
    *(volatile uint8_t *)(c->blk.base + VM_STATUS + 1) = 0xff; /* byte write to a register */
    (void)*(volatile uint16_t *)(c->blk.base + VM_MAGIC + 2);
    if (mmio_read32(cfg) != (uint32_t)c->capacity)
        return fail(FAIL_OUTCOME, "capacity changed by a config write", mmio_read32(cfg));
    return still_works(c);
}

static int driver_sets_needs_reset(Ctx *c)
{
    START(&c->blk, FEATS, &queue_default);
    dev_write(&c->blk, VM_STATUS, dev_read(&c->blk, VM_STATUS) | ST_NEEDS_RESET);
    return still_works(c);
}

static int features_refused(Ctx *c, uint64_t features)
{
    if (dev_negotiate(&c->blk, features))
        return fail(FAIL_OUTCOME, "FEATURES_OK accepted for features", features >> 32);
    if (dev_read(&c->blk, VM_STATUS) & ST_NEEDS_RESET)
        return fail(FAIL_OUTCOME, "broken by a refused negotiation; Status",
                    dev_read(&c->blk, VM_STATUS));
    return 0;
}

static int features_unoffered(Ctx *c)
{
    return features_refused(c, F_VERSION_1 | 1ull << 63);
}
static int features_legacy(Ctx *c)
{
    return features_refused(c, 0);
}

const Scenario scen_misc[] = {
    {"missing_queues", missing_queues, false, false, false},
    {"live_queue_change", live_queue_change, false, false, false},
    {"config_abuse", config_abuse, false, false, false},
    {"driver_sets_needs_reset", driver_sets_needs_reset, false, false, false},
    {"features_unoffered", features_unoffered, false, false, false},
    {"features_legacy", features_legacy, false, false, false},
    {NULL, NULL, false, false, false},
};
