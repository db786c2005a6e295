/*
 * One-shot timers on the VM thread's event loop.  A TimerList owns one
 * timerfd, watched by the loop and armed at the earliest pending expiry,
 * so a machine whose harts all wait in WFI still wakes for a timer.
 * Callbacks run on the loop thread from evloop_run_once(); they may arm,
 * disarm or free any timer, including their own.
 *
 * Times are absolute nanoseconds of CLOCK_MONOTONIC (timer_now_ns()).
 * Not thread-safe: use a list only from its loop's thread.
 */
#ifndef HOSTEL_UTIL_TIMER_H
#define HOSTEL_UTIL_TIMER_H

#include <stdbool.h>
#include <stdint.h>

#include "util/error.h"
#include "util/evloop.h"

typedef struct TimerList TimerList;
typedef struct Timer Timer;
typedef void (*TimerFn)(void *opaque);

/* The timers' clock: CLOCK_MONOTONIC in nanoseconds. */
uint64_t timer_now_ns(void);

/* Create a list whose timerfd is watched by loop. Returns NULL with err filled. */
TimerList *timer_list_new(EventLoop *loop, Error *err);

/* Stop watching the timerfd and free the list and every timer still in it (NULL is ignored). */
void timer_list_free(TimerList *tl);

/* A new, disarmed timer calling fn(opaque). Returns NULL with err filled if out of memory. */
Timer *timer_new(TimerList *tl, TimerFn fn, void *opaque, Error *err);

/* Arm t to fire once at expire_ns (a time already past fires at the next loop turn). */
void timer_mod(Timer *t, uint64_t expire_ns);

/* Disarm t (nothing if it is not armed). */
void timer_del(Timer *t);

/* True while t is armed and has not fired. */
bool timer_pending(const Timer *t);

/* When t will fire (ns), or UINT64_MAX when it is not armed. */
uint64_t timer_expire_ns(const Timer *t);

/* Disarm and free t (NULL is ignored). */
void timer_free(Timer *t);

#endif
