/* Unit tests of the event loop: fd handlers, cross-thread calls, timeouts. */
#include <pthread.h>
#include <sys/epoll.h>
#include <time.h>
#include <unistd.h>

#include "tap.h"
#include "util/evloop.h"

static int fd_hits, calls;

static void on_fd(void *opaque, uint32_t events)
{
    char c;
    if ((events & EPOLLIN) && read(*(int *)opaque, &c, 1) == 1)
        fd_hits++;
}

static void on_call(void *opaque)
{
    calls += *(int *)opaque;
}

static void *poster(void *opaque)
{
    static int three = 3;
    usleep(50000);
    evloop_call(opaque, on_call, &three);
    return NULL;
}

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

int main(void)
{
    Error err;
    EventLoop *l = evloop_new(&err);
    ok(l != NULL, "create");
    int p[2];
    ok(pipe(p) == 0 && evloop_add_fd(l, p[0], EPOLLIN, on_fd, &p[0], &err) == 0, "watch fd");
    ok(evloop_run_once(l, 0) == 0 && fd_hits == 0, "nothing ready: returns at once");
    ok(write(p[1], "x", 1) == 1 && evloop_run_once(l, 0) == 1 && fd_hits == 1,
       "readable fd runs its handler");

    double t0 = now();
    evloop_run_once(l, 30000000ull);
    double dt = now() - t0;
    ok(dt >= 0.025 && dt < 1.0, "waits about the timeout (%.3f s)", dt);

    pthread_t t;
    pthread_create(&t, NULL, poster, l);
    t0 = now();
    int n = evloop_run_once(l, UINT64_MAX);
    pthread_join(t, NULL);
    ok(n == 1 && calls == 3, "a call from another thread wakes the loop and runs on it");
    ok(now() - t0 < 5.0, "woken promptly");

    evloop_del_fd(l, p[0]);
    ok(write(p[1], "y", 1) == 1 && evloop_run_once(l, 0) == 0 && fd_hits == 1,
       "deleted fd no longer dispatched");
    ok(evloop_add_fd(l, -1, EPOLLIN, on_fd, NULL, &err) < 0, "bad fd refused");
    close(p[0]);
    close(p[1]);
    evloop_free(l);
    return tap_done();
}
