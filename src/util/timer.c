/*
 * One-shot timers over one timerfd per list.  The handful of timers a
 * backend needs live on a short linked list; the timerfd is always armed
 * at the earliest expiry (or disarmed), and firing runs every timer that
 * was due when the round started, one at a time, restarting the scan after
 * each callback because it may change the list.
 */
#include "util/timer.h"

#include <errno.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#define TIMER_OFF UINT64_MAX

struct Timer {
    TimerList *list;
    Timer *prev, *next;
    TimerFn fn;
    void *opaque;
    uint64_t expire; /* ns, TIMER_OFF when disarmed */
    uint64_t round;  /* the list's round when it was armed */
};

struct TimerList {
    EventLoop *loop;
    int fd; /* timerfd */
    Timer *head;
    uint64_t armed_at; /* what the timerfd is set to, TIMER_OFF = disarmed */
    uint64_t round;    /* bumped at each firing */
};

uint64_t timer_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* Set the timerfd to the earliest expiry, if that changed. */
static void timer_list_rearm(TimerList *tl)
{
    uint64_t first = TIMER_OFF;
    for (Timer *t = tl->head; t; t = t->next)
        first = t->expire < first ? t->expire : first;
    if (first == tl->armed_at)
        return;
    struct itimerspec its = {0};
    if (first != TIMER_OFF) {
        uint64_t at = first ? first : 1; /* an all-zero value would disarm */
        its.it_value.tv_sec = (time_t)(at / 1000000000ull);
        its.it_value.tv_nsec = (long)(at % 1000000000ull);
    }
    if (timerfd_settime(tl->fd, TFD_TIMER_ABSTIME, &its, NULL) == 0)
        tl->armed_at = first;
}

/* A timer armed before this round and due by now, or NULL. */
static Timer *timer_list_due(TimerList *tl, uint64_t now)
{
    for (Timer *t = tl->head; t; t = t->next)
        if (t->expire <= now && t->round < tl->round)
            return t;
    return NULL;
}

/* Event-loop handler: the timerfd expired. */
static void timer_list_fire(void *opaque, uint32_t events)
{
    TimerList *tl = opaque;
    uint64_t ticks;
    ssize_t r = read(tl->fd, &ticks, sizeof(ticks));
    (void)r;                  /* EAGAIN: re-armed since it expired; the scan below decides */
    tl->armed_at = TIMER_OFF; /* a one-shot timerfd that expired is disarmed */
    tl->round++;
    uint64_t now = timer_now_ns();
    Timer *t;
    while ((t = timer_list_due(tl, now)) != NULL) {
        t->expire = TIMER_OFF;
        t->fn(t->opaque);
    }
    timer_list_rearm(tl);
}

TimerList *timer_list_new(EventLoop *loop, Error *err)
{
    TimerList *tl = calloc(1, sizeof(*tl));
    if (!tl) {
        error_set(err, "out of memory creating a timer list");
        return NULL;
    }
    tl->loop = loop;
    tl->armed_at = TIMER_OFF;
    tl->fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
    if (tl->fd < 0) {
        error_set_errno(err, errno, "cannot create a timerfd");
        free(tl);
        return NULL;
    }
    if (evloop_add_fd(loop, tl->fd, EPOLLIN, timer_list_fire, tl, err) < 0) {
        close(tl->fd);
        free(tl);
        return NULL;
    }
    return tl;
}

void timer_list_free(TimerList *tl)
{
    if (!tl)
        return;
    while (tl->head)
        timer_free(tl->head);
    evloop_del_fd(tl->loop, tl->fd);
    close(tl->fd);
    free(tl);
}

Timer *timer_new(TimerList *tl, TimerFn fn, void *opaque, Error *err)
{
    Timer *t = calloc(1, sizeof(*t));
    if (!t) {
        error_set(err, "out of memory creating a timer");
        return NULL;
    }
    *t = (Timer){.list = tl, .next = tl->head, .fn = fn, .opaque = opaque, .expire = TIMER_OFF};
    if (tl->head)
        tl->head->prev = t;
    tl->head = t;
    return t;
}

void timer_mod(Timer *t, uint64_t expire_ns)
{
    t->expire = expire_ns == TIMER_OFF ? TIMER_OFF - 1 : expire_ns;
    t->round = t->list->round;
    timer_list_rearm(t->list);
}

void timer_del(Timer *t)
{
    if (t->expire == TIMER_OFF)
        return;
    t->expire = TIMER_OFF;
    timer_list_rearm(t->list);
}

bool timer_pending(const Timer *t)
{
    return t->expire != TIMER_OFF;
}

uint64_t timer_expire_ns(const Timer *t)
{
    return t->expire;
}

void timer_free(Timer *t)
{
    if (!t)
        return;
    TimerList *tl = t->list;
    if (t->prev)
        t->prev->next = t->next;
    else
        tl->head = t->next;
    if (t->next)
        t->next->prev = t->prev;
    bool armed = t->expire != TIMER_OFF;
    free(t);
    if (armed)
        timer_list_rearm(tl);
}
