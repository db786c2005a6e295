/*
 * The VMM's event loop: runs on the VM thread, between hart slices and
 * while every hart waits in WFI.  Devices register file descriptors
 * (stdin, sockets, eventfds) with callbacks, and worker threads hand work
 * back to the VM thread with evloop_call(), which is thread-safe and wakes
 * a waiting loop.  Callbacks therefore always run on the VM thread and may
 * touch device and hart state without locks.
 */
#ifndef HOSTEL_UTIL_EVLOOP_H
#define HOSTEL_UTIL_EVLOOP_H

#include <stdbool.h>
#include <stdint.h>

#include "util/error.h"

typedef struct EventLoop EventLoop;

/* events: EPOLLIN/EPOLLOUT bits as reported by epoll */
typedef void (*EvFdHandler)(void *opaque, uint32_t events);
typedef void (*EvCallFn)(void *opaque);

/* Create a loop. Returns NULL with err filled. */
EventLoop *evloop_new(Error *err);
void evloop_free(EventLoop *l);

/* Watch fd for events (EPOLLIN, EPOLLOUT). Returns 0, or -1 with err filled. */
int evloop_add_fd(EventLoop *l, int fd, uint32_t events, EvFdHandler fn, void *opaque, Error *err);
/* Change the events of a watched fd. Returns 0 or -1. */
int evloop_mod_fd(EventLoop *l, int fd, uint32_t events);
/* Stop watching fd (it is not closed). */
void evloop_del_fd(EventLoop *l, int fd);

/*
 * Queue fn(opaque) to run on the loop thread at its next iteration.  Safe
 * from any thread; wakes a loop blocked in evloop_run_once().  Returns 0,
 * or -1 if out of memory (the call is dropped).
 */
int evloop_call(EventLoop *l, EvCallFn fn, void *opaque);

/* Wake a blocked evloop_run_once() from any thread, without queueing work. */
void evloop_kick(EventLoop *l);

/*
 * Dispatch ready fd handlers and queued calls, waiting up to timeout_ns for
 * something to happen (0 = do not wait, UINT64_MAX = until something does).
 * Returns the number of handlers and calls run, or -1 on an epoll error.
 */
int evloop_run_once(EventLoop *l, uint64_t timeout_ns);

#endif
