/* The VMM event loop: epoll for fds, an eventfd-kicked queue for calls. */
#include "util/evloop.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#define EVLOOP_MAX_FDS 64
#define EVLOOP_BATCH 16

typedef struct FdWatch {
    int fd; /* -1 when the slot is free */
    EvFdHandler fn;
    void *opaque;
} FdWatch;

typedef struct Call {
    EvCallFn fn;
    void *opaque;
    struct Call *next;
} Call;

struct EventLoop {
    int epfd;
    int kickfd; /* eventfd: written by evloop_call/evloop_kick */
    FdWatch watches[EVLOOP_MAX_FDS];
    pthread_mutex_t lock; /* protects the call queue */
    Call *head, *tail;
};

EventLoop *evloop_new(Error *err)
{
    EventLoop *l = calloc(1, sizeof(*l));
    if (!l) {
        error_set(err, "out of memory creating the event loop");
        return NULL;
    }
    for (unsigned i = 0; i < EVLOOP_MAX_FDS; i++)
        l->watches[i].fd = -1;
    pthread_mutex_init(&l->lock, NULL);
    l->epfd = epoll_create1(EPOLL_CLOEXEC);
    l->kickfd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = NULL};
    if (l->epfd < 0 || l->kickfd < 0 || epoll_ctl(l->epfd, EPOLL_CTL_ADD, l->kickfd, &ev) < 0) {
        error_set_errno(err, errno, "cannot create the event loop");
        evloop_free(l);
        return NULL;
    }
    return l;
}

void evloop_free(EventLoop *l)
{
    if (!l)
        return;
    while (l->head) {
        Call *c = l->head;
        l->head = c->next;
        free(c);
    }
    if (l->epfd >= 0)
        close(l->epfd);
    if (l->kickfd >= 0)
        close(l->kickfd);
    pthread_mutex_destroy(&l->lock);
    free(l);
}

static FdWatch *find_watch(EventLoop *l, int fd)
{
    for (unsigned i = 0; i < EVLOOP_MAX_FDS; i++)
        if (l->watches[i].fd == fd)
            return &l->watches[i];
    return NULL;
}

int evloop_add_fd(EventLoop *l, int fd, uint32_t events, EvFdHandler fn, void *opaque, Error *err)
{
    FdWatch *w = find_watch(l, -1);
    if (fd < 0 || !w)
        return error_set(err, "event loop: %s", fd < 0 ? "bad fd" : "too many fds");
    struct epoll_event ev = {.events = events, .data.ptr = w};
    if (epoll_ctl(l->epfd, EPOLL_CTL_ADD, fd, &ev) < 0)
        return error_set_errno(err, errno, "event loop: cannot watch fd %d", fd);
    *w = (FdWatch){.fd = fd, .fn = fn, .opaque = opaque};
    return 0;
}

int evloop_mod_fd(EventLoop *l, int fd, uint32_t events)
{
    FdWatch *w = find_watch(l, fd);
    struct epoll_event ev = {.events = events, .data.ptr = w};
    if (fd < 0 || !w)
        return -1;
    return epoll_ctl(l->epfd, EPOLL_CTL_MOD, fd, &ev);
}

void evloop_del_fd(EventLoop *l, int fd)
{
    FdWatch *w = fd < 0 ? NULL : find_watch(l, fd);
    if (!w)
        return;
    epoll_ctl(l->epfd, EPOLL_CTL_DEL, fd, NULL);
    w->fd = -1;
}

void evloop_kick(EventLoop *l)
{
    uint64_t one = 1;
    ssize_t r = write(l->kickfd, &one, sizeof(one));
    (void)r; /* EAGAIN: the counter is already non-zero, the loop will wake */
}

int evloop_call(EventLoop *l, EvCallFn fn, void *opaque)
{
    Call *c = malloc(sizeof(*c));
    if (!c)
        return -1;
    *c = (Call){.fn = fn, .opaque = opaque};
    pthread_mutex_lock(&l->lock);
    if (l->tail)
        l->tail->next = c;
    else
        l->head = c;
    l->tail = c;
    pthread_mutex_unlock(&l->lock);
    evloop_kick(l);
    return 0;
}

static int run_calls(EventLoop *l)
{
    uint64_t v;
    ssize_t r = read(l->kickfd, &v, sizeof(v));
    (void)r;
    pthread_mutex_lock(&l->lock);
    Call *c = l->head;
    l->head = l->tail = NULL;
    pthread_mutex_unlock(&l->lock);
    int n = 0;
    while (c) {
        Call *next = c->next;
        c->fn(c->opaque);
        free(c);
        c = next;
        n++;
    }
    return n;
}

static int timeout_ms(uint64_t ns)
{
    if (ns == UINT64_MAX)
        return -1;
    uint64_t ms = (ns + 999999) / 1000000;
    return ms > 60000 ? 60000 : (int)ms;
}

int evloop_run_once(EventLoop *l, uint64_t timeout_ns)
{
    struct epoll_event evs[EVLOOP_BATCH];
    int n = epoll_wait(l->epfd, evs, EVLOOP_BATCH, timeout_ms(timeout_ns));
    if (n < 0)
        return errno == EINTR ? 0 : -1;
    int ran = 0;
    for (int i = 0; i < n; i++) {
        FdWatch *w = evs[i].data.ptr;
        if (!w) {
            ran += run_calls(l);
        } else if (w->fd >= 0) {
            w->fn(w->opaque, evs[i].events);
            ran++;
        }
    }
    return ran;
}
