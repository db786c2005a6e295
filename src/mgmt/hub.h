/*
 * The stream hub: one thread with its own epoll loop that owns every
 * websocket connection of the daemon (the /1.0/events streams, the
 * consoles), so that no stream ever blocks the HTTP server's thread.  The
 * HTTP adapter (tools/hosteld.c) answers the upgrade and hands the socket
 * over with hub_adopt; from then on the hub reads frames (util/ws.h),
 * answers pings, and calls the connection's ops on its own thread.
 *
 * Anyone may send to a connection from any thread (hub_send): the message
 * is queued and the hub is woken; the queue is capped, and a client that
 * does not read what it is sent is dropped (close 1008) when it passes the
 * cap: it never stalls the daemon or the sender.
 *
 * A connection can be bridged to a connected stream socket (hub_bridge):
 * the console proxy.  Binary messages from the client are written to the
 * socket, bytes read from the socket go to the client as binary messages,
 * and either side closing closes the other.  Reading the socket pauses
 * while the client's queue is over half full, so a slow reader slows the
 * console rather than being dropped.
 *
 * The mgmt library stays free of the HTTP library: a socket is given back
 * through the HubRelease the adapter passes (MHD's "close" of an upgraded
 * connection), or closed when there is none.
 */
#ifndef HOSTEL_MGMT_HUB_H
#define HOSTEL_MGMT_HUB_H

#include <stddef.h>
#include <stdint.h>

#include "util/error.h"
#include "util/ws.h"

#define HUB_QUEUE_MAX_DEFAULT (1u << 20)   /* bytes queued for one client before it is dropped */
#define HUB_MESSAGE_MAX_DEFAULT (1u << 20) /* the largest message a client may send */

typedef struct MgmtHub MgmtHub;
typedef struct HubConn HubConn;

/* What a connection does; every call is made on the hub's thread. */
typedef struct HubConnOps {
    /* The connection is live: subscribe, bridge...  Returns 0, or -1 to close it (1011). */
    int (*on_open)(HubConn *c, void *opaque);
    /* A text or binary message from the client (binary ones go to the bridge when there is one). */
    void (*on_message)(HubConn *c, void *opaque, WsOpcode op, const uint8_t *data, size_t len);
    /* The connection is gone: the last call (also when on_open never was); free opaque here. */
    void (*on_close)(HubConn *c, void *opaque);
} HubConnOps;

typedef struct HubOptions {
    size_t queue_max;   /* 0: HUB_QUEUE_MAX_DEFAULT */
    size_t message_max; /* 0: HUB_MESSAGE_MAX_DEFAULT */
} HubOptions;

/* How an adopted socket is given back (it is shut down first); NULL: close(fd). */
typedef void HubRelease(void *opaque);

/* Start a hub and its thread.  Returns 0, or -1. */
int hub_new(MgmtHub **out, const HubOptions *opt, Error *err);

/*
 * Close every connection (close 1001, "the daemon stops"), call their
 * on_close and stop the thread; later hub_adopt calls fail.  Idempotent.
 */
void hub_stop(MgmtHub *hub);

/* Stop the hub (hub_stop) and free it: nobody may call hub_adopt any more. */
void hub_free(MgmtHub *hub);

/*
 * Take over fd, a connected socket on which the websocket handshake was
 * answered (extra: extra_len bytes already read past it, copied).  The
 * connection's on_open then runs on the hub's thread.  Thread-safe.
 * Returns 0, or -1 (the hub stops, or no memory): then the socket is
 * released and ops->on_close called before returning.
 */
int hub_adopt(MgmtHub *hub, int fd, const void *extra, size_t extra_len, HubRelease *release,
              void *release_opaque, const HubConnOps *ops, void *opaque, Error *err);

/*
 * hub_adopt, the connection tagged with tag (not 0): hub_close_tagged
 * closes every connection of a tag (a web session's streams at its end).
 */
int hub_adopt_tagged(MgmtHub *hub, int fd, const void *extra, size_t extra_len, HubRelease *release,
                     void *release_opaque, const HubConnOps *ops, void *opaque, unsigned tag,
                     Error *err);

/* Close every connection tagged tag (0: none) as hub_close does.  Thread-safe. */
void hub_close_tagged(MgmtHub *hub, unsigned tag, uint16_t code, const char *reason);

/*
 * Queue a message (TEXT or BINARY) for c's client.  Thread-safe, never
 * blocks; allowed until c's on_close has returned.  Returns 0, or -1 when
 * the connection is closing or was just dropped for passing its queue cap.
 */
int hub_send(HubConn *c, WsOpcode op, const void *data, size_t len);

/* Close c with code and reason once what is queued is sent.  Thread-safe. */
void hub_close(HubConn *c, uint16_t code, const char *reason);

/*
 * Bridge c to fd, a connected stream socket (taken: the hub closes it).
 * On the hub's thread only (from an op).  Returns 0, or -1 (fd closed).
 */
int hub_bridge(HubConn *c, int fd, Error *err);

/* Connections the hub holds (for tests and the log). Thread-safe. */
size_t hub_count(MgmtHub *hub);

#endif
