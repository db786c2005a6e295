/*
 * The guest's clock: one per machine, read by the harts (the time CSR), the
 * ACLINT (mtime) and the goldfish RTC.  Guest time is the host's monotonic
 * clock minus an offset; it stands still while the machine is paused (a
 * pause moves the offset on by its length at resume), and a restore sets
 * it to the saved value (the ACLINT's mtime in a state file).  The RTC
 * adds the host's wall clock and reads only how long the clock was paused.
 *
 * Everything here runs on the thread that runs the harts.
 */
#ifndef HOSTEL_HW_CLOCK_H
#define HOSTEL_HW_CLOCK_H

#include <stdbool.h>
#include <stdint.h>

#define GUEST_CLOCK_HZ 10000000ull /* timer ticks per second (the time CSR, mtime) */
#define GUEST_CLOCK_NS_PER_TICK (1000000000ull / GUEST_CLOCK_HZ)

typedef struct GuestClock {
    uint64_t base_ns;        /* host monotonic ns at guest time 0 (mod 2^64), pauses excluded */
    bool paused;             /* guest time stands at pause_start_ns - base_ns */
    uint64_t pause_start_ns; /* host monotonic ns when the current pause began */
    uint64_t paused_ns;      /* host ns spent in pauses that ended */
} GuestClock;

/* Host CLOCK_MONOTONIC in ns. */
uint64_t guest_clock_host_ns(void);

/* A running clock that reads 0 now. */
void guest_clock_init(GuestClock *c);
/* Guest time in ns. */
uint64_t guest_clock_ns(const GuestClock *c);
/* Guest time in ticks of 1 / GUEST_CLOCK_HZ s. */
uint64_t guest_clock_ticks(const GuestClock *c);
/* Make the clock read ticks now (a restore, a write to mtime); exact up to 2^64 ns. */
void guest_clock_set_ticks(GuestClock *c, uint64_t ticks);
/* Stop guest time (no-op if stopped). */
void guest_clock_pause(GuestClock *c);
/* Let guest time go on from where it stopped (no-op if running). */
void guest_clock_resume(GuestClock *c);
/*
 * While paused: count the pause so far as ended and start a new one at
 * once (guest time does not change).  Used before a state is saved.
 */
void guest_clock_settle(GuestClock *c);
/* Host ns the clock has spent paused, the current pause included. */
uint64_t guest_clock_paused_ns(const GuestClock *c);

#endif
