/*
 * virtio-blk requests: malformed framing that breaks the device (no status
 * byte, a short header), and requests the spec answers with a status
 * (sectors past the capacity or overflowing the byte offset, lengths that
 * are not whole sectors, unknown or disabled types), which must complete
 * without breaking anything or writing the disk.  Also a header split
 * across descriptors (legal), one chain in flight twice, a reset with a
 * read in flight, and a read DMA'd over code the hart has already run.
 */
#include "scen.h"

#define BUF_OUT (BUF_DATA + 0x2000)
#define BLK_T_DISCARD 11
#define BLK_T_UNKNOWN 0x1234
#define SECTOR_WRAPS (1ull << 55) /* * 512 = 2^64: offset 0 if computed carelessly */

static int req_no_status(Ctx *c)
{
    START(&c->blk, FEATS, &queue_default);
    phys_fill(BUF_OUT, HOSTILE_BYTE, SECTOR);
    blk_hdr(BUF_HDR, BLK_T_OUT, SECTOR_TARGET);
    desc_put(Q_DESC, 0, BUF_HDR, 16, DESC_F_NEXT, 1);
    desc_put(Q_DESC, 1, BUF_OUT, SECTOR, 0, 0);
    dev_submit(&c->blk, 0);
    return expect_broken(&c->blk, true);
}

static int req_short_header(Ctx *c)
{
    START(&c->blk, FEATS, &queue_default);
    blk_hdr(BUF_HDR, BLK_T_IN, 0);
    desc_put(Q_DESC, 0, BUF_HDR, 8, DESC_F_NEXT, 1);
    desc_put(Q_DESC, 1, BUF_STATUS, 1, DESC_F_WRITE, 0);
    dev_submit(&c->blk, 0);
    return expect_broken(&c->blk, true);
}

/* Submit one request of `type` at `sector` with `len` data bytes; expect `status`. */
static int request(Ctx *c, uint32_t type, uint64_t sector, uint32_t len, uint8_t status)
{
    START(&c->blk, FEATS, &queue_default);
    phys_fill(BUF_DATA, HOSTILE_BYTE, len);
    blk_chain(Q_DESC, 0, type, sector, len);
    dev_submit(&c->blk, 0);
    return expect_blk_status(&c->blk, 0, status);
}

static int sector_at_capacity(Ctx *c)
{
    return request(c, BLK_T_IN, c->capacity, SECTOR, BLK_S_IOERR);
}

static int sector_straddles_end(Ctx *c)
{
    return request(c, BLK_T_IN, c->capacity - 1, 2 * SECTOR, BLK_S_IOERR);
}

static int write_sector_max(Ctx *c)
{
    return request(c, BLK_T_OUT, ~0ull, SECTOR, BLK_S_IOERR);
}

static int write_offset_wraps(Ctx *c)
{
    return request(c, BLK_T_OUT, SECTOR_WRAPS, SECTOR, BLK_S_IOERR);
}

static int read_not_sectors(Ctx *c)
{
    return request(c, BLK_T_IN, 0, 100, BLK_S_IOERR);
}

static int write_not_sectors(Ctx *c)
{
    return request(c, BLK_T_OUT, SECTOR_TARGET, 100, BLK_S_IOERR);
}

static int unknown_type(Ctx *c)
{
    return request(c, BLK_T_UNKNOWN, 0, SECTOR, BLK_S_UNSUPP);
}

static int discard_not_negotiated(Ctx *c)
{
    return request(c, BLK_T_DISCARD, SECTOR_TARGET, 16, BLK_S_UNSUPP);
}

/* The header in two 8-byte pieces and the data in two: legal, must read sector 1. */
static int header_split(Ctx *c)
{
    START(&c->blk, FEATS, &queue_default);
    phys_fill(BUF_DATA, 0, SECTOR);
    blk_hdr(BUF_HDR, BLK_T_IN, 1);
    desc_put(Q_DESC, 0, BUF_HDR, 8, DESC_F_NEXT, 1);
    desc_put(Q_DESC, 1, BUF_HDR + 8, 8, DESC_F_NEXT, 2);
    desc_put(Q_DESC, 2, BUF_DATA, 200, DESC_F_WRITE | DESC_F_NEXT, 3);
    desc_put(Q_DESC, 3, BUF_DATA + 200, SECTOR - 200, DESC_F_WRITE | DESC_F_NEXT, 4);
    desc_put(Q_DESC, 4, BUF_STATUS, 1, DESC_F_WRITE, 0);
    dev_submit(&c->blk, 0);
    int rc = expect_blk_status(&c->blk, 0, BLK_S_OK);
    if (rc == 0 && !disk_matches(BUF_DATA, 1, SECTOR))
        return fail(FAIL_DATA, "split request read wrong data at", BUF_DATA);
    return rc;
}

/* The same chain offered twice at once (both in flight): both complete, nothing breaks. */
static int same_chain_twice(Ctx *c)
{
    START(&c->blk, FEATS, &queue_default);
    phys_fill(BUF_DATA, 0, SECTOR);
    blk_chain(Q_DESC, 0, BLK_T_IN, 1, SECTOR);
    dev_avail_add(&c->blk, 0);
    dev_avail_add(&c->blk, 0);
    dev_avail_publish(&c->blk, 2);
    if (!dev_wait_used(&c->blk, 2))
        return fail(FAIL_OUTCOME, "duplicate chains not both completed; used idx",
                    dev_used_idx(&c->blk));
    if (*phys(BUF_STATUS) != BLK_S_OK || !disk_matches(BUF_DATA, 1, SECTOR))
        return fail(FAIL_DATA, "duplicate chains: status", *phys(BUF_STATUS));
    return 0;
}

/* A read DMA'd over code the hart already ran: the next call must run the new code. */
#define CODE_PAGE 0x80300000ull
#define INSN_LI_A0(n) (0x00000513u | (uint32_t)(n) << 20) /* addi a0, zero, n */
#define INSN_RET 0x00008067u                              /* jalr zero, 0(ra) */

static int call_code(void)
{
    return ((int (*)(void))(uintptr_t)CODE_PAGE)();
}

static void put_function(uint64_t at, int result)
{
    *(volatile uint32_t *)phys(at) = INSN_LI_A0(result);
    *(volatile uint32_t *)phys(at + 4) = INSN_RET;
}

static int dma_over_code(Ctx *c)
{
    put_function(CODE_PAGE, 1);
    __asm__ volatile("fence.i" ::: "memory");
    int before = 0;
    for (int i = 0; i < 100; i++)
        before += call_code();
    if (before != 100)
        return fail(FAIL_SETUP, "code page ran wrong before the DMA", before);
    START(&c->blk, FEATS, &queue_default);
    phys_fill(BUF_DATA, 0, SECTOR);
    put_function(BUF_DATA, 2);
    blk_chain(Q_DESC, 0, BLK_T_OUT, SECTOR_WRITTEN, SECTOR);
    dev_submit(&c->blk, 0);
    int rc = expect_blk_status(&c->blk, 0, BLK_S_OK);
    if (rc || (rc = recover_blk(c)) != 0) /* restarts the queue for the read */
        return rc;
    blk_hdr(BUF_HDR, BLK_T_IN, SECTOR_WRITTEN);
    desc_put(Q_DESC, 1, CODE_PAGE, SECTOR, DESC_F_WRITE | DESC_F_NEXT, 2);
    dev_submit(&c->blk, 0);
    if (!dev_wait_used(&c->blk, 2) || *phys(BUF_STATUS) != BLK_S_OK)
        return fail(FAIL_OUTCOME, "read into the code page failed; status", *phys(BUF_STATUS));
    int after = call_code(); /* no fence.i: hostel drops decoded code on DMA */
    if (after != 2)
        return fail(FAIL_DATA, "stale code ran after a DMA write; result", after);
    return 0;
}

/* Reset right after submitting a 16-sector read; the runner checks the device recovers. */
static int reset_in_flight(Ctx *c)
{
    START(&c->blk, FEATS, &queue_default);
    blk_chain(Q_DESC, 0, BLK_T_IN, 0, 16 * SECTOR);
    dev_submit(&c->blk, 0);
    if (!dev_reset(&c->blk))
        return fail(FAIL_OUTCOME, "reset with a request in flight; Status",
                    dev_read(&c->blk, VM_STATUS));
    delay_us(20000);
    if (dev_used_idx(&c->blk) > 1)
        return fail(FAIL_DATA, "used index after a reset", dev_used_idx(&c->blk));
    return 0;
}

const Scenario scen_blk[] = {
    {"req_no_status", req_no_status, false, false, false},
    {"req_short_header", req_short_header, false, false, false},
    {"sector_at_capacity", sector_at_capacity, false, true, false},
    {"sector_straddles_end", sector_straddles_end, false, true, false},
    {"write_sector_max", write_sector_max, false, true, false},
    {"write_offset_wraps", write_offset_wraps, false, true, false},
    {"read_not_sectors", read_not_sectors, false, true, false},
    {"write_not_sectors", write_not_sectors, false, true, false},
    {"unknown_type", unknown_type, false, true, false},
    {"discard_not_negotiated", discard_not_negotiated, false, false, false},
    {"header_split", header_split, false, true, false},
    {"same_chain_twice", same_chain_twice, false, false, false},
    {"reset_in_flight", reset_in_flight, false, true, false},
    {"dma_over_code", dma_over_code, false, false, false},
    {NULL, NULL, false, false, false},
};
