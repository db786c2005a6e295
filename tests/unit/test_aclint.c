/*
 * ACLINT unit tests: msip drives MSIP per hart, mtimecmp and mtime in 64-
 * and 32-bit accesses, MTIP as a level of mtime >= mtimecmp, the deadline
 * the machine sleeps to, Sstc's STIP, bounds and access sizes, reset.
 */
#include <time.h>

#include "cpu/hart.h"
#include "hw/aclint.h"
#include "tap.h"
#include "vfake.h"

#define MSIP(n) (ACLINT_MSWI_OFFSET + 4ull * (n))
#define MTIMECMP(n) (ACLINT_MTIMECMP_OFFSET + 8ull * (n))
#define MTIME ACLINT_MTIME_OFFSET
#define SECOND 10000000ull /* ticks */
#define STCE (1ull << 63)

static Aclint *aclint;
static VFakeHarts board;

static uint64_t rd(uint64_t off, unsigned size)
{
    uint64_t v = 0xdeadbeef;
    if (!aclint_ops.read(aclint, off, size, &v))
        return 0xbad;
    return v;
}

static bool wr(uint64_t off, unsigned size, uint64_t v)
{
    return aclint_ops.write(aclint, off, size, v);
}

static bool has(int hart, uint64_t bit)
{
    return (board.harts[hart]->mip & bit) != 0;
}

static void sleep_ms(long ms)
{
    struct timespec ts = {.tv_sec = 0, .tv_nsec = ms * 1000000};
    nanosleep(&ts, NULL);
}

static void test_msip(void)
{
    ok(wr(MSIP(1), 4, 1), "msip write");
    ok(has(1, MIP_MSIP) && !has(0, MIP_MSIP), "msip[1] raises hart 1's MSIP only");
    is_u64(rd(MSIP(1), 4), 1, "msip[1] reads 1");
    wr(MSIP(1), 4, 0xfffffffe);
    ok(!has(1, MIP_MSIP), "only bit 0 counts: MSIP lowered");
    is_u64(rd(MSIP(1), 4), 0, "msip[1] reads 0");
    wr(MSIP(0), 4, 3);
    is_u64(rd(MSIP(0), 4), 1, "msip keeps bit 0 only");
    ok(has(0, MIP_MSIP), "msip[0] raises hart 0's MSIP");
    ok(wr(MSIP(2), 4, 1) && rd(MSIP(2), 4) == 0, "msip of a missing hart: ignored, reads 0");
    ok(wr(0x3ffc, 4, 1) && rd(0x3ffc, 4) == 0, "last msip slot (hart 4095): reads 0");
    ok(!aclint_ops.write(aclint, MSIP(0), 8, 0), "8-byte msip write faults");
    ok(!aclint_ops.write(aclint, MSIP(0), 1, 0), "1-byte msip write faults");
    uint64_t v;
    ok(!aclint_ops.read(aclint, MSIP(0) + 2, 2, &v), "2-byte msip read faults");
    wr(MSIP(0), 4, 0);
    ok(!has(0, MIP_MSIP), "msip[0] = 0 lowers MSIP");
}

static void test_mtimecmp_access(void)
{
    const uint64_t far = 0x7654321012345678ull;
    wr(MTIMECMP(1), 8, far);
    is_u64(rd(MTIMECMP(1), 8), far, "mtimecmp[1] 64-bit read back");
    is_u64(rd(MTIMECMP(1), 4), 0x12345678, "mtimecmp[1] low half");
    is_u64(rd(MTIMECMP(1) + 4, 4), 0x76543210, "mtimecmp[1] high half");
    wr(MTIMECMP(1) + 4, 4, 0x7fffffff);
    is_u64(rd(MTIMECMP(1), 8), 0x7fffffff12345678ull, "high-half write keeps the low half");
    wr(MTIMECMP(1), 4, 0xabcdef01);
    is_u64(rd(MTIMECMP(1), 8), 0x7fffffffabcdef01ull, "low-half write keeps the high half");
    ok(!aclint_ops.write(aclint, MTIMECMP(1) + 4, 8, 0), "misaligned 8-byte write faults");
    ok(!aclint_ops.write(aclint, MTIMECMP(1), 2, 0), "2-byte mtimecmp write faults");
    ok(wr(MTIMECMP(2), 8, 5) && rd(MTIMECMP(2), 8) == 0, "mtimecmp of a missing hart: 0");
    ok(wr(0xc000, 8, 5) && rd(0xc000, 8) == 0 && rd(0xfff8, 8) == 0, "holes read 0");
}

static void test_mtip_level(void)
{
    uint64_t now = rd(MTIME, 8);
    wr(MTIMECMP(0), 8, now + 100 * SECOND);
    ok(!has(0, MIP_MTIP), "mtimecmp in the future: MTIP cleared at once");
    wr(MTIMECMP(0), 8, now);
    ok(has(0, MIP_MTIP), "mtimecmp <= mtime: MTIP set at once");
    wr(MTIMECMP(0), 8, rd(MTIME, 8) + SECOND / 1000); /* 100 us ahead */
    ok(!has(0, MIP_MTIP), "100 us ahead: not yet");
    sleep_ms(2);
    ok(!has(0, MIP_MTIP), "time passed, no poll: mip unchanged");
    aclint_poll(aclint);
    ok(has(0, MIP_MTIP), "aclint_poll raises MTIP once mtime >= mtimecmp");
    ok(!has(1, MIP_MTIP), "hart 1's MTIP follows its own mtimecmp");
    wr(MTIMECMP(1), 8, 1ull << 32); /* 7 minutes ahead */
    ok(!has(1, MIP_MTIP), "mtimecmp[1] = 2^32: MTIP clear");
    wr(MTIMECMP(1) + 4, 4, 0); /* high half 0: mtimecmp[1] = 0, in the past */
    ok(has(1, MIP_MTIP), "32-bit write of the high half re-evaluates MTIP");
}

static void test_mtime(void)
{
    uint64_t a = rd(MTIME, 8);
    sleep_ms(2);
    uint64_t b = rd(MTIME, 8);
    ok(b - a >= 2 * SECOND / 1000 && b - a < SECOND, "mtime runs at 10 MHz (%llu ticks in 2 ms)",
       (unsigned long long)(b - a));
    uint64_t t = hart_time(board.harts[1]), m = aclint_mtime(aclint);
    ok(m >= t && m - t < SECOND / 100, "mtime is the harts' time CSR");
    wr(MTIME, 8, 0x123456789ull);
    m = rd(MTIME, 8);
    ok(m >= 0x123456789ull && m < 0x123456789ull + SECOND, "mtime write (64-bit)");
    t = hart_time(board.harts[1]);
    ok(t >= 0x123456789ull && t < 0x123456789ull + SECOND, "the time CSR follows mtime writes");
    wr(MTIME + 4, 4, 5);
    is_u64(rd(MTIME + 4, 4), 5, "mtime high-half write");
    ok(has(0, MIP_MTIP) && has(1, MIP_MTIP), "mtime moved past every mtimecmp: MTIP set");
    wr(MTIME, 8, 0);
    ok(rd(MTIME, 8) < SECOND, "mtime back to 0");
    ok(board.harts[0]->clock == board.harts[1]->clock, "the harts share one guest clock");
    guest_clock_pause(board.harts[0]->clock);
    a = rd(MTIME, 8);
    sleep_ms(5);
    ok(rd(MTIME, 8) == a && hart_time(board.harts[1]) == a,
       "the clock paused: mtime and the time CSR stand still");
    guest_clock_resume(board.harts[0]->clock);
    ok(rd(MTIME, 8) - a < SECOND / 500, "and go on from there at resume");
}

static void test_deadline(void)
{
    uint64_t now = rd(MTIME, 8);
    wr(MTIMECMP(0), 8, 0);
    wr(MTIMECMP(1), 8, 0);
    aclint_poll(aclint);
    is_u64(aclint_next_deadline_ns(aclint), UINT64_MAX, "every timer fired: no deadline");
    wr(MTIMECMP(0), 8, now + SECOND);
    uint64_t ns = aclint_next_deadline_ns(aclint);
    ok(ns > 900000000ull && ns <= 1000000000ull, "deadline 1 s ahead (%llu ns)",
       (unsigned long long)ns);
    wr(MTIMECMP(1), 8, now + SECOND / 2);
    ns = aclint_next_deadline_ns(aclint);
    ok(ns > 400000000ull && ns <= 500000000ull, "the earliest hart's deadline wins (%llu ns)",
       (unsigned long long)ns);
    wr(MTIMECMP(1), 8, ~0ull);
    wr(MTIMECMP(0), 8, rd(MTIME, 8) + 20000); /* 2 ms ahead: still future when written */
    sleep_ms(5);
    is_u64(aclint_next_deadline_ns(aclint), 0, "due but not polled yet: deadline 0");
    aclint_poll(aclint);
    ns = aclint_next_deadline_ns(aclint);
    ok(ns > 100ull * 365 * 86400 * 1000000000ull, "mtimecmp = ~0: a deadline centuries away");
}

static void test_sstc(void)
{
    Hart *h = board.harts[0];
    wr(MTIMECMP(0), 8, ~0ull);
    wr(MTIMECMP(1), 8, ~0ull);
    hart_set_irq(h, MIP_STIP, true);
    h->stimecmp = 0;
    aclint_poll(aclint);
    ok(has(0, MIP_STIP), "STCE clear: STIP is left alone (software-driven)");
    hart_set_irq(h, MIP_STIP, false);
    h->menvcfg |= STCE;
    aclint_poll(aclint);
    ok(has(0, MIP_STIP), "STCE set: stimecmp <= time raises STIP");
    h->stimecmp = hart_time(h) + SECOND / 5;
    aclint_poll(aclint);
    ok(!has(0, MIP_STIP), "stimecmp in the future: STIP cleared");
    uint64_t ns = aclint_next_deadline_ns(aclint);
    ok(ns > 100000000ull && ns <= 200000000ull, "stimecmp sets the deadline (%llu ns)",
       (unsigned long long)ns);
    h->menvcfg &= ~STCE;
    ok(aclint_next_deadline_ns(aclint) > 1000000000ull, "STCE clear: stimecmp is ignored");
}

static void test_reset(void)
{
    wr(MSIP(1), 4, 1);
    wr(MTIME, 8, 1000 * SECOND);
    wr(MTIMECMP(1), 8, 2000 * SECOND);
    aclint_reset(aclint);
    ok(!has(1, MIP_MSIP) && rd(MSIP(1), 4) == 0, "reset clears msip");
    ok(rd(MTIME, 8) < SECOND, "reset restarts mtime at 0");
    ok(rd(MTIMECMP(1), 8) == 0 && has(1, MIP_MTIP), "reset: mtimecmp 0, MTIP pending (QEMU)");
}

static void test_new_bounds(void)
{
    Error err = {0};
    ok(aclint_new(board.harts, 0, &err) == NULL && err.msg[0], "0 harts refused: %s", err.msg);
    ok(aclint_new(board.harts, ACLINT_MAX_HARTS + 1, &err) == NULL, "too many harts refused");
}

int main(void)
{
    Error err = {0};
    if (vfake_harts_init(&board, 2, &err) < 0)
        return printf("Bail out! %s\n", err.msg), 1;
    aclint = aclint_new(board.harts, 2, &err);
    ok(aclint != NULL, "aclint_new: %s", err.msg);
    if (!aclint)
        return tap_done();
    ok(has(0, MIP_MTIP) && has(1, MIP_MTIP), "after reset mtimecmp = 0: MTIP pending");
    test_msip();
    test_mtimecmp_access();
    test_mtip_level();
    test_mtime();
    test_deadline();
    test_sstc();
    test_reset();
    test_new_bounds();
    aclint_free(aclint);
    vfake_harts_destroy(&board);
    return tap_done();
}
