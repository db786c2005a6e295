/* The guest clock (see clock.h): an offset from the host's monotonic clock. */
#include "hw/clock.h"

#include <time.h>

uint64_t guest_clock_host_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

void guest_clock_init(GuestClock *c)
{
    *c = (GuestClock){.base_ns = guest_clock_host_ns()};
}

/* The host time guest time is read at: now, or when the pause began. */
static uint64_t read_at(const GuestClock *c)
{
    return c->paused ? c->pause_start_ns : guest_clock_host_ns();
}

uint64_t guest_clock_ns(const GuestClock *c)
{
    return read_at(c) - c->base_ns;
}

uint64_t guest_clock_ticks(const GuestClock *c)
{
    return guest_clock_ns(c) / GUEST_CLOCK_NS_PER_TICK;
}

void guest_clock_set_ticks(GuestClock *c, uint64_t ticks)
{
    c->base_ns = read_at(c) - ticks * GUEST_CLOCK_NS_PER_TICK;
}

void guest_clock_pause(GuestClock *c)
{
    if (c->paused)
        return;
    c->pause_start_ns = guest_clock_host_ns();
    c->paused = true;
}

/* End the current pause at host time now: the offset grows by its length. */
static void end_pause(GuestClock *c, uint64_t now)
{
    uint64_t d = now - c->pause_start_ns;
    c->base_ns += d;
    c->paused_ns += d;
}

void guest_clock_resume(GuestClock *c)
{
    if (!c->paused)
        return;
    end_pause(c, guest_clock_host_ns());
    c->paused = false;
}

void guest_clock_settle(GuestClock *c)
{
    if (!c->paused)
        return;
    uint64_t now = guest_clock_host_ns();
    end_pause(c, now);
    c->pause_start_ns = now;
}

uint64_t guest_clock_paused_ns(const GuestClock *c)
{
    return c->paused_ns + (c->paused ? guest_clock_host_ns() - c->pause_start_ns : 0);
}
