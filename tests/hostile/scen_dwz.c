/*
 * Discard and write-zeroes requests with hostile segments: ranges past the
 * capacity or whose byte offset overflows 64 bits (it would land on sector
 * 0), too many sectors or segments, partial segments, unknown flags.  Each
 * must complete with its status and leave the disk alone.
 */
#include "scen.h"

#define F_DISCARD (1ull << 13)
#define F_WRITE_ZEROES (1ull << 14)
#define BLK_T_DISCARD 11
#define BLK_T_WRITE_ZEROES 13
#define DWZ_F_UNMAP 1
#define SEG_SIZE 16
#define BUF_SEGS (BUF_DATA + 0x3000)

static void seg_put(unsigned i, uint64_t sector, uint32_t num, uint32_t flags)
{
    volatile uint8_t *p = phys(BUF_SEGS + (uint64_t)i * SEG_SIZE);
    *(volatile uint64_t *)p = sector;
    *(volatile uint32_t *)(p + 8) = num;
    *(volatile uint32_t *)(p + 12) = flags;
}

/* Send `len` bytes of segments (already in BUF_SEGS) as `type`; expect `status`. */
static int dwz(Ctx *c, uint32_t type, uint32_t len, uint8_t status)
{
    START(&c->blk, FEATS | F_DISCARD | F_WRITE_ZEROES, &queue_default);
    blk_hdr(BUF_HDR, type, 0);
    desc_put(Q_DESC, 0, BUF_HDR, 16, DESC_F_NEXT, 1);
    desc_put(Q_DESC, 1, BUF_SEGS, len, DESC_F_NEXT, 2);
    desc_put(Q_DESC, 2, BUF_STATUS, 1, DESC_F_WRITE, 0);
    dev_submit(&c->blk, 0);
    return expect_blk_status(&c->blk, 0, status);
}

static int wz_offset_wraps(Ctx *c)
{
    seg_put(0, 1ull << 55, 1, 0);
    return dwz(c, BLK_T_WRITE_ZEROES, SEG_SIZE, BLK_S_IOERR);
}

static int wz_past_end(Ctx *c)
{
    seg_put(0, c->capacity - 1, 2, 0);
    return dwz(c, BLK_T_WRITE_ZEROES, SEG_SIZE, BLK_S_IOERR);
}

static int wz_huge_count(Ctx *c)
{
    seg_put(0, SECTOR_TARGET, 0xffffffffu, DWZ_F_UNMAP);
    return dwz(c, BLK_T_WRITE_ZEROES, SEG_SIZE, BLK_S_IOERR);
}

static int wz_bad_flags(Ctx *c)
{
    seg_put(0, SECTOR_TARGET, 1, 0x80000000u);
    return dwz(c, BLK_T_WRITE_ZEROES, SEG_SIZE, BLK_S_UNSUPP);
}

static int discard_unmap(Ctx *c)
{
    seg_put(0, SECTOR_TARGET, 1, DWZ_F_UNMAP);
    return dwz(c, BLK_T_DISCARD, SEG_SIZE, BLK_S_UNSUPP);
}

/* A good segment first, then one past the end: the whole request fails. */
static int discard_second_bad(Ctx *c)
{
    seg_put(0, SECTOR_TARGET, 1, 0);
    seg_put(1, ~0ull, 1, 0);
    return dwz(c, BLK_T_DISCARD, 2 * SEG_SIZE, BLK_S_IOERR);
}

static int discard_partial_segment(Ctx *c)
{
    seg_put(0, SECTOR_TARGET, 1, 0);
    return dwz(c, BLK_T_DISCARD, SEG_SIZE + 4, BLK_S_IOERR);
}

static int wz_too_many_segments(Ctx *c)
{
    for (unsigned i = 0; i < 17; i++)
        seg_put(i, SECTOR_TARGET, 1, 0);
    return dwz(c, BLK_T_WRITE_ZEROES, 17 * SEG_SIZE, BLK_S_IOERR);
}

const Scenario scen_dwz[] = {
    {"wz_offset_wraps", wz_offset_wraps, false, true, false},
    {"wz_past_end", wz_past_end, false, true, false},
    {"wz_huge_count", wz_huge_count, false, true, false},
    {"wz_bad_flags", wz_bad_flags, false, true, false},
    {"discard_unmap", discard_unmap, false, true, false},
    {"discard_second_bad", discard_second_bad, false, false, false},
    {"discard_partial_segment", discard_partial_segment, false, false, false},
    {"wz_too_many_segments", wz_too_many_segments, false, false, false},
    {NULL, NULL, false, false, false},
};
