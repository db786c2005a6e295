/*
 * Hostile indirect descriptor tables on virtio-blk: nested tables, tables
 * of a bad length or outside RAM, loops and out-of-range indexes inside a
 * table, INDIRECT combined with NEXT, and indirect use without the
 * negotiated feature.  Each must break the device.
 */
#include "scen.h"

/* Start with `features`, point descriptor 0 at an indirect table, submit it. */
static int submit_indirect(Ctx *c, uint64_t features, uint64_t table, uint32_t len, uint16_t flags)
{
    START(&c->blk, features, &queue_default);
    desc_put(Q_DESC, 0, table, len, DESC_F_INDIRECT | flags, 1);
    blk_chain(Q_DESC, 1, BLK_T_IN, 0, SECTOR); /* where a NEXT would lead */
    dev_submit(&c->blk, 0);
    return expect_broken(&c->blk, true);
}

/* A well-formed 3-entry IN request in the table at `table`. */
static void good_table(uint64_t table)
{
    blk_chain(table, 0, BLK_T_IN, 0, SECTOR);
}

static int indirect_nested(Ctx *c)
{
    good_table(IND_B);
    blk_hdr(BUF_HDR, BLK_T_IN, 0);
    desc_put(IND_A, 0, BUF_HDR, 16, DESC_F_NEXT, 1);
    desc_put(IND_A, 1, IND_B, 3 * 16, DESC_F_INDIRECT, 0);
    return submit_indirect(c, FEATS, IND_A, 2 * 16, 0);
}

static int indirect_len_zero(Ctx *c)
{
    good_table(IND_A);
    return submit_indirect(c, FEATS, IND_A, 0, 0);
}

static int indirect_len_unaligned(Ctx *c)
{
    good_table(IND_A);
    return submit_indirect(c, FEATS, IND_A, 24, 0);
}

static int indirect_too_many(Ctx *c)
{
    good_table(IND_A);
    return submit_indirect(c, FEATS, IND_A, 9 * 16, 0);
}

static int indirect_with_next(Ctx *c)
{
    good_table(IND_A);
    return submit_indirect(c, FEATS, IND_A, 3 * 16, DESC_F_NEXT);
}

static int indirect_past_ram_end(Ctx *c)
{
    return submit_indirect(c, FEATS, RAM_END - 16, 3 * 16, 0);
}

static int indirect_at_zero(Ctx *c)
{
    return submit_indirect(c, FEATS, 0, 3 * 16, 0);
}

/* Inside the table: 0 -> 1 -> 2 -> 3 -> 1. */
static int indirect_loop(Ctx *c)
{
    blk_hdr(BUF_HDR, BLK_T_IN, 0);
    desc_put(IND_A, 0, BUF_HDR, 16, DESC_F_NEXT, 1);
    for (unsigned i = 1; i < 4; i++)
        desc_put(IND_A, i, BUF_DATA, SECTOR, DESC_F_WRITE | DESC_F_NEXT, i == 3 ? 1 : i + 1);
    return submit_indirect(c, FEATS, IND_A, 4 * 16, 0);
}

static int indirect_next_out_of_range(Ctx *c)
{
    good_table(IND_A);
    desc_put(IND_A, 1, BUF_DATA, SECTOR, DESC_F_WRITE | DESC_F_NEXT, 5);
    return submit_indirect(c, FEATS, IND_A, 3 * 16, 0);
}

static int indirect_not_negotiated(Ctx *c)
{
    good_table(IND_A);
    return submit_indirect(c, F_VERSION_1, IND_A, 3 * 16, 0);
}

const Scenario scen_indirect[] = {
    {"indirect_nested", indirect_nested, false, false, false},
    {"indirect_len_zero", indirect_len_zero, false, false, false},
    {"indirect_len_unaligned", indirect_len_unaligned, false, false, false},
    {"indirect_too_many", indirect_too_many, false, false, false},
    {"indirect_with_next", indirect_with_next, false, false, false},
    {"indirect_past_ram_end", indirect_past_ram_end, false, false, false},
    {"indirect_at_zero", indirect_at_zero, false, false, false},
    {"indirect_loop", indirect_loop, false, false, false},
    {"indirect_next_out_of_range", indirect_next_out_of_range, false, false, false},
    {"indirect_not_negotiated", indirect_not_negotiated, false, false, false},
    {NULL, NULL, false, false, false},
};
