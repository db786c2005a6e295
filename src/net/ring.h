/*
 * Shared-memory frame rings between a VMM and its switch port.
 *
 * A switch port's wire is a unix SOCK_SEQPACKET socket, one frame per
 * message (net/socket.h).  That costs two system calls per frame (a send
 * and a receive) on each side of the switch, which bounds a switch to a few
 * hundred thousand small frames a second per core.  The two ends can
 * instead agree, over that socket, on a pair of rings in shared memory:
 *
 *   - the VMM sends a ring request: a message carrying one descriptor, an
 *     eventfd (the VMM's doorbell);
 *   - the switch answers with a ring accept: a message carrying a sealed
 *     memfd (the two rings; it cannot be shrunk, so a VMM cannot make the
 *     switch fault) and the switch's own eventfd;
 *   - from then on frames go through the rings: "up" (VMM to switch) and
 *     "down" (switch to VMM).  The socket stays open and watched: it says
 *     when the other side is gone, and frames still on it are read.
 *
 * Frames never carry descriptors, so a message that does is a ring message
 * and a guest cannot forge one.  A peer that does not know rings (an older
 * hostel, another VMM at the other end of a socketpair) reads the request
 * with recv(), which drops the descriptor; the payload looks like a frame
 * from and to 00:00:00:00:00:00 of the IEEE local experimental Ethertype
 * 0x88b5 that nobody accepts.  No answer: the VMM stays on the socket.
 *
 * A ring is single-producer, single-consumer, in bytes: records of a
 * 32-bit length and the frame, 8-byte aligned, with a wrap marker where a
 * record does not fit before the end.  head (bytes written) belongs to the
 * producer and tail (bytes read) to the consumer, both free-running.
 * Doorbells are rung only when needed: a consumer about to sleep sets its
 * "idle" flag, and a producer that published frames rings the consumer's
 * eventfd only if the flag is set (and clears it); a producer that finds
 * the ring full sets its "waiting" flag and the consumer rings it once it
 * has made room (half the ring).  Both sides re-check after setting a flag (with a full
 * fence), so no wake-up is lost, and a busy pair makes no system call.
 *
 * Each side treats the shared memory as hostile: what the other side
 * writes (its index, a record's length) is read once, checked, and a
 * violation makes the ring "broken" (the caller hangs up), never a read or
 * write outside the ring.  Frames are copied out before they are looked at.
 */
#ifndef HOSTEL_NET_RING_H
#define HOSTEL_NET_RING_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "util/error.h"

#define NET_RING_BYTES (256u * 1024u) /* data bytes of one direction */
#define NET_RING_FRAME_MAX 65550      /* as NET_MAX_FRAME: the largest frame carried */
#define NET_RING_MSG_LEN 32           /* a request or an accept, in bytes */
#define NET_RING_MAX_FDS 2            /* descriptors a ring message carries */

typedef struct NetRingHdr NetRingHdr; /* the shared part of one direction */

/* One direction of a ring pair, as one side sees it. */
typedef struct NetRing {
    NetRingHdr *h;
    uint8_t *data;
    uint32_t size; /* data bytes, a power of two */
    uint32_t pos;  /* producer: its head; consumer: its tail (private copies) */
    uint32_t seen; /* the other side's index when last read (producer: tail; consumer: head) */
} NetRing;

/* Both directions of one port, mapped. */
typedef struct NetRingPair {
    void *map;
    size_t map_len;
    NetRing tx; /* the one this side produces into */
    NetRing rx; /* the one this side consumes */
} NetRingPair;

/* What push and pop report. */
typedef enum NetRingResult {
    NET_RING_OK = 1,     /* a frame was pushed or popped */
    NET_RING_EMPTY = 0,  /* pop: nothing to read; push: the ring is full */
    NET_RING_BROKEN = -1 /* the other side broke the protocol: hang up */
} NetRingResult;

/* The memfd size for rings of ring_bytes each. */
size_t net_ring_region_size(uint32_t ring_bytes);

/*
 * The switch's side: create a sealed memfd holding two empty rings of
 * ring_bytes (a power of two, 256 KiB..16 MiB) each and map it into *rp as
 * the switch sees it (tx = down, rx = up).  *memfd is to be sent in the
 * accept, then closed.  Returns 0, or -1 with err.
 */
int net_ring_create(NetRingPair *rp, uint32_t ring_bytes, int *memfd, Error *err);

/*
 * The VMM's side: map the memfd of an accept announcing ring_bytes (its
 * size must be exactly that), as the VMM sees it (tx = up, rx = down).
 * Returns 0, or -1 with err.
 */
int net_ring_attach(NetRingPair *rp, int memfd, uint32_t ring_bytes, Error *err);

/* Unmap (a zeroed or already unmapped pair is fine). */
void net_ring_detach(NetRingPair *rp);

/*
 * Producer: append one frame of len bytes (1..NET_RING_FRAME_MAX).
 * NET_RING_OK, NET_RING_EMPTY when it does not fit now (see
 * net_ring_wait_space), NET_RING_BROKEN when the consumer's index is not
 * possible.  A frame longer than the limit is NET_RING_BROKEN too: callers
 * check lengths first.
 */
NetRingResult net_ring_push(NetRing *r, const void *frame, size_t len);

/* Producer: the bytes the consumer has yet to read (the whole ring if its index is impossible). */
uint32_t net_ring_used(NetRing *r);

/*
 * Producer, after pushing one or more frames: must the consumer's doorbell
 * be rung?  True (once) if the consumer said it was going to sleep.
 */
bool net_ring_push_done(NetRing *r);

/*
 * Producer, a frame of len bytes did not fit: ask to be rung when the
 * consumer makes room.  Returns true if it fits now (the flag is
 * withdrawn: push again), false to wait for the doorbell.
 */
bool net_ring_wait_space(NetRing *r, size_t len);

/*
 * Consumer: copy the next frame into buf (cap bytes, at least
 * NET_RING_FRAME_MAX) and its length into *len.  NET_RING_OK,
 * NET_RING_EMPTY, or NET_RING_BROKEN (the producer wrote something
 * impossible).
 */
NetRingResult net_ring_pop(NetRing *r, uint8_t *buf, size_t cap, size_t *len);

/*
 * Consumer, after popping one or more frames: must the producer's doorbell
 * be rung?  True (once) if the producer waits for room and at least half
 * the ring is free (so a producer faster than its consumer is woken once
 * per half ring, not once per frame).
 */
bool net_ring_pop_done(NetRing *r);

/*
 * Consumer, found the ring empty and about to sleep: set the idle flag.
 * Returns true if the ring is still empty (sleep until the doorbell),
 * false if a frame came meanwhile (the flag is withdrawn: pop again).
 */
bool net_ring_idle(NetRing *r);

/* Consumer, awake: withdraw the idle flag (the producer need not ring). */
void net_ring_busy(NetRing *r);

/* ---- the handshake on the port's socket ---- */

/*
 * Receive one message from a SEQPACKET socket (non-blocking) into buf:
 * its real length (MSG_TRUNC; more than cap means it was cut), 0 for an
 * orderly hang-up, -1 with errno.  Descriptors it carried go into fds
 * (*nfds of them, at most NET_RING_MAX_FDS; extra ones are closed).
 */
ssize_t net_ring_recv(int sock, uint8_t *buf, size_t cap, int fds[NET_RING_MAX_FDS], int *nfds);

/* Close the descriptors net_ring_recv returned. */
void net_ring_close_fds(int *fds, int nfds);

/* VMM: send a request carrying efd (its doorbell).  0, or -1 with errno. */
int net_ring_send_request(int sock, int efd);

/*
 * Switch: is the message (n bytes, nfds descriptors) a ring request?  On
 * true, *efd is the VMM's doorbell: checked to be an eventfd and made
 * non-blocking (the switch never waits on a VMM).
 */
bool net_ring_parse_request(const uint8_t *msg, size_t n, const int *fds, int nfds, int *efd);

/* Switch: send the accept carrying the memfd and efd (its doorbell).  0, or -1 with errno. */
int net_ring_send_accept(int sock, int memfd, int efd, uint32_t ring_bytes);

/*
 * VMM: is the message an accept?  On true, *memfd, *efd and *ring_bytes
 * are what it carries (efd made non-blocking).
 */
bool net_ring_parse_accept(const uint8_t *msg, size_t n, const int *fds, int nfds, int *memfd,
                           int *efd, uint32_t *ring_bytes);

/* Ring an eventfd doorbell (a full counter is as good as a rung one). */
void net_ring_kick(int efd);

/* Empty an eventfd doorbell. */
void net_ring_drain(int efd);

#endif
