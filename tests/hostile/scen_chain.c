/*
 * Hostile descriptor chains on virtio-blk: loops, indexes past the table,
 * buffers outside RAM or wrapping around the address space, oversized
 * totals, misordered buffers, a runaway available index.  Each one must
 * break the device without touching guest memory or the disk.
 */
#include "scen.h"

#define CANARY 0xa5
#define BUF_OUT (BUF_DATA + 0x2000) /* what a hostile OUT would write to the disk */
#define BIG_BUF (32ull << 20)       /* 128 of these exceed 4 GiB */
#define FINISHER 0x100000ull

/* Start the device and fill the canary and the hostile payload. */
static int prepare(Ctx *c, const QueueCfg *q)
{
    START(&c->blk, FEATS, q);
    phys_fill(BUF_DATA, CANARY, SECTOR);
    phys_fill(BUF_OUT, HOSTILE_BYTE, SECTOR);
    return 0;
}

/* Broken, and the IN buffer that precedes the bad part was not written. */
static int broken_clean(Ctx *c)
{
    int rc = expect_broken(&c->blk, true);
    if (rc == 0 && !phys_all(BUF_DATA, CANARY, SECTOR))
        return fail(FAIL_DATA, "a rejected chain's buffer was written at", BUF_DATA);
    return rc;
}

/* IN of sector 0 into the canary buffer, then the buffer (addr, len), then the status. */
static int in_chain_with(Ctx *c, uint64_t addr, uint32_t len)
{
    int rc = prepare(c, &queue_default);
    if (rc)
        return rc;
    blk_hdr(BUF_HDR, BLK_T_IN, 0);
    desc_put(Q_DESC, 0, BUF_HDR, 16, DESC_F_NEXT, 1);
    desc_put(Q_DESC, 1, BUF_DATA, SECTOR, DESC_F_WRITE | DESC_F_NEXT, 2);
    desc_put(Q_DESC, 2, addr, len, DESC_F_WRITE | DESC_F_NEXT, 3);
    desc_put(Q_DESC, 3, BUF_STATUS, 1, DESC_F_WRITE, 0);
    dev_submit(&c->blk, 0);
    return broken_clean(c);
}

/* OUT to SECTOR_TARGET with the payload at (addr, len). */
static int out_chain_with(Ctx *c, uint64_t addr, uint32_t len)
{
    int rc = prepare(c, &queue_default);
    if (rc)
        return rc;
    blk_hdr(BUF_HDR, BLK_T_OUT, SECTOR_TARGET);
    desc_put(Q_DESC, 0, BUF_HDR, 16, DESC_F_NEXT, 1);
    desc_put(Q_DESC, 1, addr, len, DESC_F_NEXT, 2);
    desc_put(Q_DESC, 2, BUF_STATUS, 1, DESC_F_WRITE, 0);
    dev_submit(&c->blk, 0);
    return broken_clean(c);
}

static int loop_self(Ctx *c)
{
    int rc = prepare(c, &queue_default);
    if (rc)
        return rc;
    blk_hdr(BUF_HDR, BLK_T_OUT, SECTOR_TARGET);
    desc_put(Q_DESC, 0, BUF_HDR, 16, DESC_F_NEXT, 0);
    dev_submit(&c->blk, 0);
    return broken_clean(c);
}

static int loop_pair(Ctx *c)
{
    int rc = prepare(c, &queue_default);
    if (rc)
        return rc;
    blk_hdr(BUF_HDR, BLK_T_OUT, SECTOR_TARGET);
    desc_put(Q_DESC, 0, BUF_HDR, 16, DESC_F_NEXT, 1);
    desc_put(Q_DESC, 1, BUF_OUT, SECTOR, DESC_F_NEXT, 0);
    dev_submit(&c->blk, 0);
    return broken_clean(c);
}

/* 5 -> 6 -> 7 -> 1 -> 2 -> 3 -> 1: a loop that does not return to the head. */
static int loop_to_middle(Ctx *c)
{
    int rc = prepare(c, &queue_default);
    if (rc)
        return rc;
    blk_hdr(BUF_HDR, BLK_T_OUT, SECTOR_TARGET);
    desc_put(Q_DESC, 5, BUF_HDR, 16, DESC_F_NEXT, 6);
    desc_put(Q_DESC, 6, BUF_OUT, SECTOR, DESC_F_NEXT, 7);
    desc_put(Q_DESC, 7, BUF_OUT, SECTOR, DESC_F_NEXT, 1);
    for (unsigned i = 1; i <= 3; i++)
        desc_put(Q_DESC, i, BUF_OUT, SECTOR, DESC_F_NEXT, i == 3 ? 1 : i + 1);
    dev_submit(&c->blk, 5);
    return broken_clean(c);
}

/* No loop: 7 direct descriptors, then an indirect table of 8 (15 > 8). */
static int longer_than_queue(Ctx *c)
{
    int rc = prepare(c, &queue_default);
    if (rc)
        return rc;
    blk_hdr(BUF_HDR, BLK_T_OUT, SECTOR_TARGET);
    desc_put(Q_DESC, 0, BUF_HDR, 16, DESC_F_NEXT, 1);
    for (unsigned i = 1; i < 7; i++)
        desc_put(Q_DESC, i, BUF_OUT, SECTOR, DESC_F_NEXT, i + 1);
    desc_put(Q_DESC, 7, IND_A, 8 * 16, DESC_F_INDIRECT, 0);
    for (unsigned i = 0; i < 8; i++)
        desc_put(IND_A, i, BUF_OUT, SECTOR, i < 7 ? DESC_F_NEXT : 0, i + 1);
    dev_submit(&c->blk, 0);
    return broken_clean(c);
}

static int submit_head(Ctx *c, uint16_t head)
{
    int rc = prepare(c, &queue_default);
    if (rc)
        return rc;
    blk_chain(Q_DESC, 0, BLK_T_IN, 0, SECTOR);
    dev_submit(&c->blk, head);
    return broken_clean(c);
}

static int head_out_of_range(Ctx *c)
{
    return submit_head(c, 8);
}
static int head_0xffff(Ctx *c)
{
    return submit_head(c, 0xffff);
}

static int next_out_of_range(Ctx *c)
{
    int rc = prepare(c, &queue_default);
    if (rc)
        return rc;
    blk_chain(Q_DESC, 0, BLK_T_IN, 0, SECTOR);
    desc_put(Q_DESC, 1, BUF_DATA, SECTOR, DESC_F_WRITE | DESC_F_NEXT, 8);
    dev_submit(&c->blk, 0);
    return broken_clean(c);
}

static int buf_at_zero(Ctx *c)
{
    return out_chain_with(c, 0, SECTOR);
}
static int buf_at_top(Ctx *c)
{
    return in_chain_with(c, 0xffffffffffff0000ull, SECTOR);
}
static int buf_wraps(Ctx *c)
{
    return in_chain_with(c, 0xfffffffffffffe00ull, 0x400);
}
static int buf_past_ram_end(Ctx *c)
{
    return in_chain_with(c, RAM_END - 0x100, SECTOR);
}
static int buf_below_ram(Ctx *c)
{
    return out_chain_with(c, RAM_BASE - 0x100, SECTOR);
}
static int buf_len_4g(Ctx *c)
{
    return in_chain_with(c, BUF_DATA + SECTOR, 0xffffffffu);
}
static int buf_on_mmio(Ctx *c)
{
    return in_chain_with(c, VM_SLOT0, SECTOR);
}
static int buf_on_finisher(Ctx *c)
{
    return in_chain_with(c, FINISHER, SECTOR);
}

/* 256 readable buffers of 32 MiB (all in RAM, overlapping): more than 4 GiB in total. */
static int total_over_4g(Ctx *c)
{
    QueueCfg q = queue_default;
    q.num = 256;
    int rc = prepare(c, &q);
    if (rc)
        return rc;
    blk_hdr(BUF_HDR, BLK_T_OUT, SECTOR_TARGET);
    desc_put(Q_DESC, 0, IND_A, 256 * 16, DESC_F_INDIRECT, 0);
    desc_put(IND_A, 0, BUF_HDR, 16, DESC_F_NEXT, 1);
    for (unsigned i = 1; i < 256; i++)
        desc_put(IND_A, i, RAM_BASE, BIG_BUF, i < 255 ? DESC_F_NEXT : 0, i + 1);
    dev_submit(&c->blk, 0);
    return broken_clean(c);
}

static int readable_after_writable(Ctx *c)
{
    int rc = prepare(c, &queue_default);
    if (rc)
        return rc;
    blk_hdr(BUF_HDR, BLK_T_OUT, SECTOR_TARGET);
    desc_put(Q_DESC, 0, BUF_HDR, 16, DESC_F_NEXT, 1);
    desc_put(Q_DESC, 1, BUF_STATUS, 1, DESC_F_WRITE | DESC_F_NEXT, 2);
    desc_put(Q_DESC, 2, BUF_OUT, SECTOR, 0, 0);
    dev_submit(&c->blk, 0);
    return broken_clean(c);
}

static int avail_jump(Ctx *c, uint16_t idx)
{
    int rc = prepare(c, &queue_default);
    if (rc)
        return rc;
    blk_chain(Q_DESC, 0, BLK_T_IN, 0, SECTOR);
    dev_avail_publish(&c->blk, idx); /* every ring slot names chain 0 */
    return broken_clean(c);
}

static int avail_idx_jump(Ctx *c)
{
    return avail_jump(c, 9);
}
static int avail_idx_backwards(Ctx *c)
{
    return avail_jump(c, 0xffff);
}

/* A good read and a bad head in one notification: nothing is published. */
static int good_then_bad(Ctx *c)
{
    int rc = prepare(c, &queue_default);
    if (rc)
        return rc;
    blk_chain(Q_DESC, 0, BLK_T_IN, 0, SECTOR);
    dev_avail_add(&c->blk, 0);
    dev_avail_add(&c->blk, 9);
    dev_avail_publish(&c->blk, 2);
    rc = expect_broken(&c->blk, true);
    delay_us(20000); /* the read may finish on the worker: it must stay unpublished */
    if (rc == 0 && dev_used_idx(&c->blk) != 0)
        return fail(FAIL_DATA, "published after the device broke; used idx", dev_used_idx(&c->blk));
    return rc;
}

/* Once broken, a good request is not served until the reset. */
static int broken_ignores_work(Ctx *c)
{
    int rc = submit_head(c, 8);
    if (rc)
        return rc;
    blk_chain(Q_DESC, 0, BLK_T_IN, 0, SECTOR);
    dev_submit(&c->blk, 0);
    delay_us(20000);
    if (dev_used_idx(&c->blk) != 0 || *phys(BUF_STATUS) != 0xff)
        return fail(FAIL_OUTCOME, "a broken device served a request; used idx",
                    dev_used_idx(&c->blk));
    return broken_clean(c);
}

const Scenario scen_chain[] = {
    {"loop_self", loop_self, false, false, false},
    {"loop_pair", loop_pair, false, false, false},
    {"loop_to_middle", loop_to_middle, false, false, false},
    {"longer_than_queue", longer_than_queue, false, false, false},
    {"head_out_of_range", head_out_of_range, false, false, false},
    {"head_0xffff", head_0xffff, false, false, false},
    {"next_out_of_range", next_out_of_range, false, false, false},
    {"buf_at_zero", buf_at_zero, false, false, false},
    {"buf_at_top", buf_at_top, false, false, false},
    {"buf_wraps", buf_wraps, false, false, false},
    {"buf_past_ram_end", buf_past_ram_end, false, false, false},
    {"buf_below_ram", buf_below_ram, false, false, false},
    {"buf_len_4g", buf_len_4g, false, false, false},
    {"buf_on_mmio", buf_on_mmio, false, false, false},
    {"buf_on_finisher", buf_on_finisher, false, false, false},
    {"total_over_4g", total_over_4g, false, false, false},
    {"readable_after_writable", readable_after_writable, false, false, false},
    {"avail_idx_jump", avail_idx_jump, false, false, false},
    {"avail_idx_backwards", avail_idx_backwards, false, false, false},
    {"good_then_bad", good_then_bad, false, false, false},
    {"broken_ignores_work", broken_ignores_work, false, false, false},
    {NULL, NULL, false, false, false},
};
