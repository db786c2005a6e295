/*
 * Hostile chains on virtio-rng, the device that writes guest memory at
 * once: a loop and buffers on MMIO or past the end of RAM must break it
 * before it writes anything; a chain without a writable buffer and an
 * oversized buffer must complete, and the device may not write more than
 * the used length it reports.
 */
#include "scen.h"

#define CANARY 0xa5
#define RNG_BUF 64
#define RNG_BIG (1u << 20)
#define BUF_BIG 0x80400000ull /* 1 MiB of RAM nobody else uses */

static int rng_start(Ctx *c)
{
    START(&c->rng, FEATS, &queue_default);
    phys_fill(BUF_DATA, CANARY, RNG_BUF);
    return 0;
}

/* Broken, and the good buffer in front of the bad one still holds the canary. */
static int rng_broken_clean(Ctx *c)
{
    int rc = expect_broken(&c->rng, true);
    if (rc == 0 && !phys_all(BUF_DATA, CANARY, RNG_BUF))
        return fail(FAIL_DATA, "rng wrote into a rejected chain at", BUF_DATA);
    return rc;
}

static int rng_bad_second(Ctx *c, uint64_t addr)
{
    int rc = rng_start(c);
    if (rc)
        return rc;
    desc_put(Q_DESC, 0, BUF_DATA, RNG_BUF, DESC_F_WRITE | DESC_F_NEXT, 1);
    desc_put(Q_DESC, 1, addr, RNG_BUF, DESC_F_WRITE, 0);
    dev_submit(&c->rng, 0);
    return rng_broken_clean(c);
}

static int rng_loop(Ctx *c)
{
    int rc = rng_start(c);
    if (rc)
        return rc;
    desc_put(Q_DESC, 0, BUF_DATA, RNG_BUF, DESC_F_WRITE | DESC_F_NEXT, 1);
    desc_put(Q_DESC, 1, BUF_DATA, RNG_BUF, DESC_F_WRITE | DESC_F_NEXT, 0);
    dev_submit(&c->rng, 0);
    return rng_broken_clean(c);
}

static int rng_buf_on_mmio(Ctx *c)
{
    return rng_bad_second(c, VM_SLOT0);
}
static int rng_buf_past_ram_end(Ctx *c)
{
    return rng_bad_second(c, RAM_END - RNG_BUF / 2);
}

/* Completed: one used element for head 0; returns its length through *len. */
static int rng_completed(Ctx *c, uint32_t *len)
{
    if (!dev_wait_used(&c->rng, 1))
        return fail(FAIL_OUTCOME, "rng request not completed; used idx", dev_used_idx(&c->rng));
    uint32_t id;
    dev_used_elem(&c->rng, 0, &id, len);
    if (id != 0)
        return fail(FAIL_DATA, "rng used element names chain", id);
    if (dev_read(&c->rng, VM_STATUS) & ST_NEEDS_RESET)
        return fail(FAIL_OUTCOME, "rng broken by a legal chain; Status",
                    dev_read(&c->rng, VM_STATUS));
    return 0;
}

static int rng_readable_only(Ctx *c)
{
    int rc = rng_start(c);
    if (rc)
        return rc;
    desc_put(Q_DESC, 0, BUF_DATA, RNG_BUF, 0, 0);
    dev_submit(&c->rng, 0);
    uint32_t len;
    rc = rng_completed(c, &len);
    if (rc)
        return rc;
    if (len != 0 || !phys_all(BUF_DATA, CANARY, RNG_BUF))
        return fail(FAIL_DATA, "rng wrote a device-readable buffer; used length", len);
    return 0;
}

/* 1 MiB asked: some bytes, none past the used length. */
static int rng_oversized(Ctx *c)
{
    int rc = rng_start(c);
    if (rc)
        return rc;
    phys_fill(BUF_BIG, 0, RNG_BIG);
    desc_put(Q_DESC, 0, BUF_BIG, RNG_BIG, DESC_F_WRITE, 0);
    dev_submit(&c->rng, 0);
    uint32_t len;
    rc = rng_completed(c, &len);
    if (rc)
        return rc;
    if (len == 0 || len > RNG_BIG)
        return fail(FAIL_DATA, "rng used length for a 1 MiB buffer", len);
    if (!phys_all(BUF_BIG + len, 0, RNG_BIG - len))
        return fail(FAIL_DATA, "rng wrote past its used length", len);
    return 0;
}

const Scenario scen_rng[] = {
    {"rng_loop", rng_loop, true, false, false},
    {"rng_buf_on_mmio", rng_buf_on_mmio, true, false, false},
    {"rng_buf_past_ram_end", rng_buf_past_ram_end, true, false, false},
    {"rng_readable_only", rng_readable_only, true, false, false},
    {"rng_oversized", rng_oversized, true, false, false},
    {NULL, NULL, false, false, false},
};
