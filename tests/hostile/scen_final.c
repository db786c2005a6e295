/*
 * The well-formed end of the run: write a known pattern to SECTOR_WRITTEN,
 * read it back, then read sector 0 (and 1) and compare them with the
 * disk's known content.  The e2e test checks the image file afterwards.
 */
#include "scen.h"

#define BUF_IN (BUF_DATA + 0x1000)

static int transfer(Ctx *c, uint32_t type, uint64_t sector, uint64_t buf, uint32_t len)
{
    START(&c->blk, FEATS, &queue_default);
    blk_hdr(BUF_HDR, type, sector);
    desc_put(Q_DESC, 0, BUF_HDR, 16, DESC_F_NEXT, 1);
    desc_put(Q_DESC, 1, buf, len, DESC_F_NEXT | (type == BLK_T_IN ? DESC_F_WRITE : 0), 2);
    desc_put(Q_DESC, 2, BUF_STATUS, 1, DESC_F_WRITE, 0);
    dev_submit(&c->blk, 0);
    return expect_blk_status(&c->blk, 0, BLK_S_OK);
}

static int final_io(Ctx *c)
{
    volatile uint8_t *out = phys(BUF_DATA), *in = phys(BUF_IN);
    for (unsigned i = 0; i < SECTOR; i++)
        out[i] = written_byte(i);
    int rc = transfer(c, BLK_T_OUT, SECTOR_WRITTEN, BUF_DATA, SECTOR);
    if (rc)
        return rc;
    phys_fill(BUF_IN, 0, SECTOR);
    rc = transfer(c, BLK_T_IN, SECTOR_WRITTEN, BUF_IN, SECTOR);
    if (rc)
        return rc;
    for (unsigned i = 0; i < SECTOR; i++)
        if (in[i] != written_byte(i))
            return fail(FAIL_DATA, "written sector read back wrong at byte", i);
    phys_fill(BUF_IN, 0, 2 * SECTOR);
    rc = transfer(c, BLK_T_IN, 0, BUF_IN, 2 * SECTOR);
    if (rc)
        return rc;
    if (!disk_matches(BUF_IN, 0, 2 * SECTOR))
        return fail(FAIL_DATA, "sectors 0-1 differ from the disk's content at", BUF_IN);
    return 0;
}

const Scenario scen_final[] = {
    {"final_io", final_io, false, true, false},
    {NULL, NULL, false, false, false},
};
