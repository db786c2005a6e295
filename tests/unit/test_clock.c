/*
 * The guest clock: reads from 0, counts in ns and 10 MHz ticks, stands
 * still while paused and goes on from there, can be set (restore), and
 * counts the time spent paused.
 */
#include <time.h>

#include "hw/clock.h"
#include "tap.h"

#define MS 1000000ull

static void nap_ms(unsigned ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

int main(void)
{
    GuestClock c;
    guest_clock_init(&c);
    uint64_t t0 = guest_clock_ns(&c);
    ok(t0 < 50 * MS, "a new clock reads about 0 (%llu ns)", (unsigned long long)t0);
    nap_ms(100);
    uint64_t t1 = guest_clock_ns(&c);
    ok(t1 - t0 >= 100 * MS && t1 - t0 < 400 * MS, "it follows the host (%llu ns in 100 ms)",
       (unsigned long long)(t1 - t0));
    ok(guest_clock_ticks(&c) / (GUEST_CLOCK_HZ / 1000) >= t1 / MS, "ticks are 10 MHz");

    guest_clock_pause(&c);
    uint64_t p0 = guest_clock_ns(&c);
    nap_ms(150);
    ok(guest_clock_ns(&c) == p0, "paused: guest time stands still");
    ok(guest_clock_paused_ns(&c) >= 150 * MS, "the current pause is counted (%llu ns)",
       (unsigned long long)guest_clock_paused_ns(&c));
    guest_clock_settle(&c);
    ok(guest_clock_ns(&c) == p0 && c.paused, "settle leaves guest time and the pause as they are");
    nap_ms(50);
    guest_clock_resume(&c);
    uint64_t r0 = guest_clock_ns(&c);
    ok(r0 - p0 < 20 * MS, "resume goes on where it stopped (+%llu ns)",
       (unsigned long long)(r0 - p0));
    ok(guest_clock_paused_ns(&c) >= 200 * MS && guest_clock_paused_ns(&c) < 600 * MS,
       "pauses add up (%llu ns)", (unsigned long long)guest_clock_paused_ns(&c));
    guest_clock_resume(&c);
    ok(guest_clock_ns(&c) - r0 < 20 * MS, "a second resume changes nothing");

    guest_clock_set_ticks(&c, 123456789);
    uint64_t t = guest_clock_ticks(&c);
    ok(t >= 123456789 && t < 123456789 + GUEST_CLOCK_HZ / 10, "set: reads the ticks given (%llu)",
       (unsigned long long)t);
    guest_clock_pause(&c);
    guest_clock_set_ticks(&c, 42);
    nap_ms(20);
    ok(guest_clock_ticks(&c) == 42, "set while paused: holds that value");
    guest_clock_resume(&c);
    ok(guest_clock_ticks(&c) - 42 < GUEST_CLOCK_HZ / 50, "and goes on from it");
    guest_clock_set_ticks(&c, UINT64_MAX / GUEST_CLOCK_NS_PER_TICK - 5);
    ok(guest_clock_ticks(&c) >= UINT64_MAX / GUEST_CLOCK_NS_PER_TICK - 5,
       "times up to 2^64 ns are exact");
    return tap_done();
}
