/* Unit tests of the Goldfish RTC: time read/set, alarm, interrupt line. */
#include <time.h>

#include "tap.h"
#include "vfake.h"

static VFakeIrq irq = {.level = -1};

static uint64_t rd(GoldfishRtc *r, uint64_t off)
{
    uint64_t v = 0;
    goldfish_rtc_ops.read(r, off, 4, &v);
    return v;
}

static void wr(GoldfishRtc *r, uint64_t off, uint64_t v)
{
    goldfish_rtc_ops.write(r, off, 4, v);
}

static uint64_t read_time(GoldfishRtc *r)
{
    uint64_t lo = rd(r, 0x00);
    return rd(r, 0x04) << 32 | lo;
}

int main(void)
{
    GoldfishRtc *r = vfake_rtc(&irq);
    uint64_t host = (uint64_t)time(NULL) * 1000000000ull;
    uint64_t t = read_time(r);
    ok(t + 2000000000ull > host && t < host + 2000000000ull, "time is the host's wall clock");

    wr(r, 0x04, 0);    /* TIME_HIGH */
    wr(r, 0x00, 1000); /* TIME_LOW: time is now about 1000 ns after the epoch */
    t = read_time(r);
    ok(t >= 1000 && t < 1000000000ull, "the guest can set the time (%llu)", (unsigned long long)t);

    wr(r, 0x10, 1); /* IRQ_ENABLED */
    wr(r, 0x0c, 0);
    wr(r, 0x08, 5); /* alarm in the past: fires at once */
    ok(irq.level == 1 && rd(r, 0x18) == 0, "a past alarm raises the line and disarms");
    ok(irq.src == 11, "the line is the source it was given (%u)", irq.src);
    wr(r, 0x1c, 1); /* CLEAR_INTERRUPT */
    ok(irq.level == 0, "clear interrupt lowers the line");

    wr(r, 0x0c, 1);
    wr(r, 0x08, 0); /* alarm ~4.3 s ahead */
    goldfish_rtc_poll(r);
    ok(irq.level == 0 && rd(r, 0x18) == 1, "a future alarm stays armed");
    uint64_t d = goldfish_rtc_next_deadline_ns(r);
    ok(d > 1000000000ull && d < 5000000000ull, "deadline reported (%llu ns)",
       (unsigned long long)d);
    wr(r, 0x14, 1); /* CLEAR_ALARM */
    ok(goldfish_rtc_next_deadline_ns(r) == UINT64_MAX, "clear alarm disarms");
    uint64_t v;
    ok(!goldfish_rtc_ops.read(r, 0, 8, &v), "only 32-bit accesses");

    /* Resuming after a 3 s pause shifts the clock back 3 s: the time reads 3 s
     * less, and an alarm 4 s ahead (in guest time) is 7 s of host time away. */
    wr(r, 0x04, 100); /* TIME_HIGH: ~430 s after the epoch, room to go back */
    wr(r, 0x0c, (uint32_t)((read_time(r) + 4000000000ull) >> 32));
    wr(r, 0x08, (uint32_t)(read_time(r) + 4000000000ull));
    t = read_time(r);
    goldfish_rtc_shift(r, -3000000000ll);
    uint64_t t2 = read_time(r);
    ok(t - t2 > 2900000000ull && t - t2 < 3100000000ull, "shift moves the guest's time");
    d = goldfish_rtc_next_deadline_ns(r);
    ok(d > 6000000000ull && d < 7100000000ull, "and the alarm stays in guest time (%llu ns)",
       (unsigned long long)d);

    /* On the machine's guest clock: it stands still while that clock is paused. */
    GuestClock clock;
    guest_clock_init(&clock);
    goldfish_rtc_set_clock(r, &clock);
    t = read_time(r);
    guest_clock_pause(&clock);
    struct timespec nap = {0, 200000000};
    nanosleep(&nap, NULL);
    /* The host's wall and monotonic clocks are read a moment apart: a few µs either way. */
    int64_t moved = (int64_t)(read_time(r) - t);
    ok(moved > -50000000 && moved < 50000000, "paused guest clock: the RTC stands still (%lld ns)",
       (long long)moved);
    guest_clock_resume(&clock);
    moved = (int64_t)(read_time(r) - t);
    ok(moved > -50000000 && moved < 50000000, "and goes on from there at resume (%lld ns)",
       (long long)moved);
    goldfish_rtc_free(r);
    return tap_done();
}
