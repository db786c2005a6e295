/*
 * The socket backend: a non-blocking unix SOCK_SEQPACKET socket (or an
 * inherited SOCK_DGRAM one), one Ethernet frame per message.  As the tap
 * backend, the VM thread never waits on the peer:
 *   - reads run from the event loop when the socket is readable, at most
 *     SOCKET_READ_BATCH frames per wake-up (a flooding peer cannot starve
 *     the harts), and only while the card has a receive buffer: without
 *     one the socket is not watched for input (rx_ready resumes it), so
 *     frames wait in the socket and the sender (the switch, with its
 *     unicast-first queue) decides what waits and what is dropped;
 *   - a send the socket cannot take now (EAGAIN, ENOBUFS) is held: the
 *     backend keeps that one frame, watches for writability and says it
 *     cannot send (can_send) until the frame has gone, so the card leaves
 *     the guest's next frames in its transmit ring (as a real card whose
 *     wire is busy) instead of dropping them; then the card is told
 *     (net_backend_tx_ready).  Without a peer, frames are dropped.
 * A peer that hangs up (a 0-length read, EPIPE, ECONNRESET) takes the
 * card's link down.  A path= card then closes its socket and tries to
 * connect again every second from a timer; an fd= card stops watching its
 * socket (a dead one cannot spin the loop) and stays down until it is
 * given a new socket (net_socket_set_fd).  Drops are counted; link
 * changes are logged once each.
 *
 * Rings: on every new SEQPACKET connection the backend asks the peer for
 * shared-memory rings (net/ring.h).  A switch answers, and from then on
 * frames go through the rings and the socket only tells that the peer is
 * there; a peer that does not answer is used over the socket as before.
 * The same back-pressure holds on a ring: a full up ring holds the frame
 * (the switch rings the doorbell when it has made room), and without a
 * receive buffer frames stay in the down ring (rx_ready resumes).
 */
#include "net/socket.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <poll.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "net/ring.h"
#include "util/compiler.h"
#include "util/log.h"
#include "util/timer.h"

#define SOCKET_READ_BATCH 64
#define ETH_HEADER 14

typedef struct NetSocket {
    NetBackend nb; /* first: container_of */
    EventLoop *loop;
    TimerList *timers; /* path= only: the reconnect timer's */
    Timer *retry;
    int fd;       /* -1 while a path= card has no connection */
    int type;     /* SOCK_SEQPACKET or SOCK_DGRAM */
    bool watched; /* fd is in the loop */
    bool paused;  /* not watched for input: the card has no receive buffer */
    bool held;    /* txbuf holds a frame the socket could not take yet */
    bool tx_error_logged;
    bool refused_logged; /* a path= connect failed for another reason than "nobody listens" */
    bool ring_paused;    /* frames wait in the down ring: the card has no receive buffer */
    bool ring_watched;   /* ring_efd is in the loop */
    NetRingPair ring;    /* ring.map set: frames go through the rings */
    int ring_efd;        /* our doorbell: asked for on this socket, or in use; -1 */
    int peer_efd;        /* the switch's doorbell; -1 */
    char path[NET_SOCKET_PATH_MAX];                             /* "" for fd= */
    char what[NET_SOCKET_PATH_MAX + NET_NETWORK_NAME_MAX + 32]; /* "socket PATH", for logs */
    NetBackendStats stats;
    uint8_t buf[NET_MAX_FRAME + 1]; /* one more: a longer frame is seen, and dropped */
    size_t held_len;
    uint8_t txbuf[NET_MAX_FRAME];
} NetSocket;

static NetSocket *sock_of(NetBackend *b)
{
    return container_of(b, NetSocket, nb);
}

/* Leave the rings (or forget the request): back to nothing, as on a new socket. */
static void sock_ring_stop(NetSocket *s)
{
    if (s->ring_watched)
        evloop_del_fd(s->loop, s->ring_efd);
    if (s->ring_efd >= 0)
        close(s->ring_efd);
    if (s->peer_efd >= 0)
        close(s->peer_efd);
    s->ring_efd = s->peer_efd = -1;
    s->ring_watched = s->ring_paused = false;
    net_ring_detach(&s->ring);
}

/* Stop watching the socket; a frame held for it is dropped (the card is told by the caller). */
static void sock_unwatch(NetSocket *s)
{
    sock_ring_stop(s);
    if (s->watched)
        evloop_del_fd(s->loop, s->fd);
    s->watched = false;
    s->paused = false;
    if (s->held)
        s->stats.tx_dropped++;
    s->held = false;
}

/* Watch the socket for what is wanted now: input unless paused, output while a frame is held. */
static void sock_set_events(NetSocket *s, bool paused, bool held)
{
    uint32_t ev = (paused ? 0 : EPOLLIN) | (held && !s->ring.map ? EPOLLOUT : 0);
    if (s->watched && evloop_mod_fd(s->loop, s->fd, ev) == 0)
        s->paused = paused;
}

/* The card has no receive buffer: leave frames in the socket until it has. */
static void sock_pause(NetSocket *s)
{
    if (!s->paused)
        sock_set_events(s, true, s->held);
}

/* NetBackendOps.rx_ready: the guest posted receive buffers. */
static void net_socket_rx_ready(NetBackend *b)
{
    NetSocket *s = sock_of(b);
    if (s->paused)
        sock_set_events(s, false, s->held);
    if (s->ring_paused) { /* read the ring from the loop, not from inside the card */
        s->ring_paused = false;
        net_ring_kick(s->ring_efd);
    }
}

/* NetBackendOps.can_send: not while a frame waits for the socket. */
static bool net_socket_can_send(NetBackend *b)
{
    return !sock_of(b)->held;
}

/* ---- the peer went away ---- */

static void sock_hangup(NetSocket *s, int e)
{
    bool held = s->held;
    sock_unwatch(s);
    net_backend_set_link(&s->nb, false);
    if (held) /* the card drops its frames from now on */
        net_backend_tx_ready(&s->nb);
    if (!s->path[0]) {
        log_warn("net %s: the peer hung up%s%s; the link is down (frames are dropped)", s->what,
                 e ? ": " : "", e ? strerror(e) : "");
        return;
    }
    log_warn("net %s: the peer hung up; reconnecting every second (frames are dropped meanwhile)",
             s->what);
    close(s->fd);
    s->fd = -1;
    timer_mod(s->retry, timer_now_ns() + NET_SOCKET_RETRY_NS);
}

static bool peer_gone(int e)
{
    return e == EPIPE || e == ECONNRESET || e == ECONNREFUSED || e == ENOTCONN;
}

/* ---- frames ---- */

/* Send one frame: 0 sent, EAGAIN the socket is full, else the frame is dropped (counted). */
static int sock_send_one(NetSocket *s, const uint8_t *frame, size_t len)
{
    ssize_t n = -1;
    do
        n = send(s->fd, frame, len, MSG_DONTWAIT | MSG_NOSIGNAL);
    while (n < 0 && errno == EINTR);
    if (n == (ssize_t)len)
        return 0;
    int e = n < 0 ? errno : EMSGSIZE;
    if (e == EAGAIN || e == ENOBUFS)
        return EAGAIN;
    s->stats.tx_dropped++;
    if (peer_gone(e))
        sock_hangup(s, e);
    else if (!s->tx_error_logged) {
        s->tx_error_logged = true;
        log_warn("net %s: a frame from the guest was dropped: %s (further drops are counted, "
                 "not logged)",
                 s->what, strerror(e));
    }
    return e;
}

/* One message of n bytes (its real length: MSG_TRUNC) is in buf. */
static void sock_deliver(NetSocket *s, size_t n)
{
    if (n < ETH_HEADER || n > NET_MAX_FRAME || !net_backend_deliver(&s->nb, s->buf, n))
        s->stats.rx_dropped++;
}

/* ---- rings ---- */

/* The switch broke the ring protocol: hang up, as on a broken socket. */
static void ring_broken(NetSocket *s)
{
    log_warn("net %s: the peer broke the ring protocol; hanging up", s->what);
    sock_hangup(s, EPROTO);
}

/* Push one frame up: NET_RING_OK (the switch rung if it sleeps), NET_RING_EMPTY (full). */
static NetRingResult ring_push(NetSocket *s, const uint8_t *frame, size_t len)
{
    NetRingResult r = net_ring_push(&s->ring.tx, frame, len);
    if (r == NET_RING_EMPTY && net_ring_wait_space(&s->ring.tx, len))
        r = net_ring_push(&s->ring.tx, frame, len);
    if (r == NET_RING_OK && net_ring_push_done(&s->ring.tx))
        net_ring_kick(s->peer_efd);
    return r;
}

/* A frame from the guest into the up ring; held while the ring is full. */
static void ring_send(NetSocket *s, const uint8_t *frame, size_t len)
{
    NetRingResult r = ring_push(s, frame, len);
    if (r == NET_RING_EMPTY) {
        memcpy(s->txbuf, frame, len); /* the switch rings us once it has made room */
        s->held_len = len;
        s->held = true;
    } else if (r == NET_RING_BROKEN) {
        s->stats.tx_dropped++;
        ring_broken(s);
    }
}

/* Frames from the down ring to the card, while it has buffers. */
static void ring_receive(NetSocket *s)
{
    int i = 0;
    for (; i < SOCKET_READ_BATCH; i++) {
        if (!net_backend_can_receive(&s->nb)) {
            s->ring_paused = true; /* rx_ready rings our own doorbell */
            break;
        }
        size_t len;
        NetRingResult r = net_ring_pop(&s->ring.rx, s->buf, sizeof(s->buf), &len);
        if (r == NET_RING_EMPTY)
            break;
        if (r == NET_RING_BROKEN) {
            ring_broken(s);
            return;
        }
        sock_deliver(s, len);
    }
    if (i > 0 && net_ring_pop_done(&s->ring.rx))
        net_ring_kick(s->peer_efd);
    if (i == SOCKET_READ_BATCH || (!s->ring_paused && !net_ring_idle(&s->ring.rx)))
        net_ring_kick(s->ring_efd); /* more: on the next turn of the loop */
}

/* Event-loop handler: the switch rang (frames for us, or room for ours). */
static void ring_ready(void *opaque, uint32_t events)
{
    NetSocket *s = opaque;
    (void)events;
    net_ring_drain(s->ring_efd);
    net_ring_busy(&s->ring.rx);
    if (s->held) {
        NetRingResult r = ring_push(s, s->txbuf, s->held_len);
        if (r == NET_RING_BROKEN) {
            s->stats.tx_dropped++;
            ring_broken(s);
            return;
        }
        if (r == NET_RING_OK) {
            s->held = false;
            net_backend_tx_ready(&s->nb);
            if (!s->ring.map) /* the card's frames hung the peer up */
                return;
        }
    }
    ring_receive(s);
}

/* Ask the peer for rings: a request carrying our doorbell (on SEQPACKET sockets only). */
static void ring_request(NetSocket *s)
{
    if (s->type != SOCK_SEQPACKET)
        return;
    s->ring_efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (s->ring_efd >= 0 && net_ring_send_request(s->fd, s->ring_efd) < 0) {
        close(s->ring_efd); /* the socket is full or gone: frames stay on it */
        s->ring_efd = -1;
    }
}

/* A message with descriptors: the peer's accept (the rings begin), or ignored. */
static void ring_accept(NetSocket *s, size_t n, int *fds, int nfds)
{
    int memfd, efd;
    uint32_t bytes;
    Error err = {0};
    if (s->ring_efd < 0 || s->ring.map || n > NET_RING_MSG_LEN ||
        !net_ring_parse_accept(s->buf, n, fds, nfds, &memfd, &efd, &bytes)) {
        net_ring_close_fds(fds, nfds);
        return;
    }
    if (net_ring_attach(&s->ring, memfd, bytes, &err) < 0 ||
        evloop_add_fd(s->loop, s->ring_efd, EPOLLIN, ring_ready, s, &err) < 0) {
        log_warn("net %s: %s; frames stay on the socket", s->what, err.msg);
        net_ring_detach(&s->ring);
        net_ring_close_fds(fds, nfds);
        return;
    }
    close(memfd); /* the mapping keeps it */
    s->peer_efd = efd;
    s->ring_watched = true;
    log_info("net %s: frames go through shared-memory rings", s->what);
    net_ring_kick(s->ring_efd); /* frames may be waiting already */
}

static void net_socket_send(NetBackend *b, const uint8_t *frame, size_t len)
{
    NetSocket *s = sock_of(b);
    if (!s->watched || s->held || len > sizeof(s->txbuf)) { /* no peer; or the card did not ask */
        s->stats.tx_dropped++;
        return;
    }
    if (s->ring.map) {
        ring_send(s, frame, len);
        return;
    }
    if (sock_send_one(s, frame, len) != EAGAIN)
        return;
    memcpy(s->txbuf, frame, len); /* the socket is full: hold it until it is writable */
    s->held_len = len;
    s->held = true;
    sock_set_events(s, s->paused, true);
}

/* The socket can take frames again: send the held one, then let the card go on. */
static void sock_writable(NetSocket *s)
{
    s->held = false; /* in flight: sent, or dropped and counted once by sock_send_one */
    if (sock_send_one(s, s->txbuf, s->held_len) == EAGAIN) {
        s->held = true; /* still full */
        return;
    }
    if (s->watched) /* else the peer went: the socket is not watched any more */
        sock_set_events(s, s->paused, false);
    net_backend_tx_ready(&s->nb);
}

/*
 * The event said hang-up or error: is it true of the socket now?  The
 * event may be older than the socket (net_socket_set_fd put a new one
 * under the same number in the same round of the loop).
 */
static bool sock_broken_now(int fd)
{
    struct pollfd p = {.fd = fd, .events = POLLIN};
    return poll(&p, 1, 0) == 1 && (p.revents & (POLLHUP | POLLERR));
}

/* Event-loop handler: frames are waiting, or the peer hung up. */
static void sock_readable(void *opaque, uint32_t events)
{
    NetSocket *s = opaque;
    if ((events & EPOLLOUT) && s->held)
        sock_writable(s);
    if (!(events & (EPOLLIN | EPOLLHUP | EPOLLERR)))
        return;
    for (int i = 0; i < SOCKET_READ_BATCH && s->watched; i++) {
        if (!(events & (EPOLLHUP | EPOLLERR)) && !net_backend_can_receive(&s->nb)) {
            sock_pause(s); /* a peer that hangs up is read to the end (and dropped) */
            return;
        }
        int fds[NET_RING_MAX_FDS], nfds;
        ssize_t n = net_ring_recv(s->fd, s->buf, sizeof(s->buf), fds, &nfds);
        if (n > 0 && nfds > 0) {
            ring_accept(s, (size_t)n, fds, nfds);
        } else if (n > 0 || (n == 0 && s->type == SOCK_DGRAM)) {
            sock_deliver(s, (size_t)n);
        } else if (n == 0) {
            sock_hangup(s, 0); /* SEQPACKET: the peer closed its end */
        } else if (errno == EAGAIN) {
            if (i == 0 && (events & (EPOLLHUP | EPOLLERR)) && sock_broken_now(s->fd))
                sock_hangup(s, 0); /* nothing to read and never will be */
            return;
        } else if (errno != EINTR) {
            sock_hangup(s, errno);
        }
    }
}

static void net_socket_stats(NetBackend *b, NetBackendStats *st)
{
    *st = sock_of(b)->stats;
}

static void net_socket_free(NetBackend *b)
{
    NetSocket *s = sock_of(b);
    sock_unwatch(s);
    if (s->fd >= 0)
        close(s->fd);
    timer_free(s->retry);
    timer_list_free(s->timers);
    free(s);
}

/* No save/load: the socket holds no guest state; a restore connects (or inherits) again. */
static const NetBackendOps net_socket_ops = {
    .name = "socket",
    .send = net_socket_send,
    .free = net_socket_free,
    .stats = net_socket_stats,
    .rx_ready = net_socket_rx_ready,
    .can_send = net_socket_can_send,
};

static int sock_watch(NetSocket *s, Error *err)
{
    if (evloop_add_fd(s->loop, s->fd, EPOLLIN, sock_readable, s, err) < 0)
        return -1;
    s->watched = true;
    net_backend_set_link(&s->nb, true);
    ring_request(s);
    return 0;
}

/* ---- path=: connecting, and again after a hang-up ---- */

/* Nobody listens (yet): worth trying again. */
static bool connect_retryable(int e)
{
    return e == ENOENT || e == ECONNREFUSED || e == EAGAIN;
}

/* One connect attempt; 0 = connected, else the errno. */
static int sock_connect(NetSocket *s)
{
    struct sockaddr_un a = {.sun_family = AF_UNIX};
    memcpy(a.sun_path, s->path, sizeof(s->path)); /* both sizeof(sun_path), NUL-terminated */
    int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return errno;
    if (connect(fd, (struct sockaddr *)&a, sizeof(a)) < 0) {
        int e = errno;
        close(fd);
        return e;
    }
    s->fd = fd;
    return 0;
}

static const char *connect_hint(int e)
{
    switch (e) {
    case EPROTOTYPE: return " (the listener is not a SOCK_SEQPACKET socket)";
    case EACCES: return " (no permission to connect to it)";
    default: return "";
    }
}

/* Timer: try to connect again. */
static void sock_retry(void *opaque)
{
    NetSocket *s = opaque;
    Error err = {0};
    int e = sock_connect(s);
    if (e == 0 && sock_watch(s, &err) == 0) {
        log_info("net %s: connected; the link is up", s->what);
        s->refused_logged = false;
        return;
    }
    if (e == 0) { /* connected but cannot be watched */
        log_warn("net %s: %s", s->what, err.msg);
        close(s->fd);
        s->fd = -1;
    } else if (!connect_retryable(e) && !s->refused_logged) {
        s->refused_logged = true;
        log_warn("net %s: cannot connect: %s%s; trying again every second", s->what, strerror(e),
                 connect_hint(e));
    }
    timer_mod(s->retry, timer_now_ns() + NET_SOCKET_RETRY_NS);
}

static int sock_open_path(NetSocket *s, Error *err)
{
    if (!(s->timers = timer_list_new(s->loop, err)) ||
        !(s->retry = timer_new(s->timers, sock_retry, s, err)))
        return -1;
    s->type = SOCK_SEQPACKET;
    int e = sock_connect(s);
    if (e == 0)
        return sock_watch(s, err);
    if (!connect_retryable(e))
        return error_set_errno(err, e, "%s: cannot connect%s", s->what, connect_hint(e));
    log_info("net %s: nobody listens yet (%s); trying every second, the link is down until then",
             s->what, strerror(e));
    net_backend_set_link(&s->nb, false);
    timer_mod(s->retry, timer_now_ns() + NET_SOCKET_RETRY_NS);
    return 0;
}

/* ---- fd=: an inherited socket ---- */

/* fd is a unix SEQPACKET or DGRAM socket: its type into *type.  Returns 0, or -1 with err. */
static int sock_check_fd(const NetSocket *s, int fd, int *type, Error *err)
{
    struct sockaddr_storage a;
    socklen_t alen = sizeof(a), tlen = sizeof(*type);
    if (fcntl(fd, F_GETFD) < 0)
        return error_set(err, "%s: descriptor %d is not open (the parent must pass it)", s->what,
                         fd);
    if (getsockopt(fd, SOL_SOCKET, SO_TYPE, type, &tlen) < 0)
        return error_set(err, "%s: descriptor %d is not a socket", s->what, fd);
    if (getsockname(fd, (struct sockaddr *)&a, &alen) < 0 || a.ss_family != AF_UNIX)
        return error_set(err, "%s: descriptor %d is not a unix socket", s->what, fd);
    if (*type != SOCK_SEQPACKET && *type != SOCK_DGRAM)
        return error_set(err,
                         "%s: descriptor %d is a unix %s socket (expected SOCK_SEQPACKET, "
                         "one frame per message)",
                         s->what, fd, *type == SOCK_STREAM ? "stream" : "other");
    return 0;
}

/* Non-blocking and close-on-exec, as the loop needs it. */
static int sock_prepare_fd(const NetSocket *s, int fd, Error *err)
{
    int fl = fcntl(fd, F_GETFL);
    if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0 || fcntl(fd, F_SETFD, FD_CLOEXEC) < 0)
        return error_set_errno(err, errno, "%s: descriptor %d", s->what, fd);
    return 0;
}

static int sock_open_fd(NetSocket *s, int fd, Error *err)
{
    if (sock_check_fd(s, fd, &s->type, err) < 0 || sock_prepare_fd(s, fd, err) < 0)
        return -1;
    s->fd = fd; /* ours from here: closed with the backend */
    return sock_watch(s, err);
}

/* ---- a new socket for an fd= card ---- */

static int sock_check_new(const NetSocket *s, int fd, int *type, Error *err)
{
    struct sockaddr_storage a;
    socklen_t alen = sizeof(a);
    if (sock_check_fd(s, fd, type, err) < 0)
        return -1;
    if (getpeername(fd, (struct sockaddr *)&a, &alen) < 0)
        return error_set(err, "%s: the new socket is not connected", s->what);
    return sock_prepare_fd(s, fd, err);
}

int net_socket_set_fd(NetBackend *b, int fd, Error *err)
{
    int type;
    if (!b || b->ops != &net_socket_ops) {
        close(fd);
        return error_set(err, "the card is not on a socket (only socket and network cards are)");
    }
    NetSocket *s = sock_of(b);
    if (s->path[0]) {
        close(fd);
        return error_set(err,
                         "%s: a path= card connects again by itself (only fd= cards take a "
                         "new socket)",
                         s->what);
    }
    if (sock_check_new(s, fd, &type, err) < 0) {
        close(fd);
        return -1;
    }
    bool held = s->held; /* dropped with the old socket: the card goes on */
    sock_unwatch(s);
    if (s->fd >= 0 && dup3(fd, s->fd, O_CLOEXEC) == s->fd) { /* the old one goes; same number */
        close(fd);
    } else {
        if (s->fd >= 0)
            close(s->fd);
        s->fd = fd;
    }
    s->type = type;
    s->tx_error_logged = false;
    int rc = sock_watch(s, err);
    if (rc < 0)
        net_backend_set_link(&s->nb, false); /* kept, unwatched: closed with the backend */
    else
        log_info("net %s: on a new socket; the link is up", s->what);
    if (held)
        net_backend_tx_ready(&s->nb);
    return rc;
}

static void sock_name(NetSocket *s, const NetConfig *cfg)
{
    if (cfg->kind == NET_NETWORK)
        snprintf(s->what, sizeof(s->what), "network %s (fd=%d)", cfg->network, cfg->fd);
    else if (cfg->fd >= 0)
        snprintf(s->what, sizeof(s->what), "socket fd=%d", cfg->fd);
    else
        snprintf(s->what, sizeof(s->what), "socket %s", cfg->path);
}

NetBackend *net_socket_new(const NetConfig *cfg, EventLoop *loop, Error *err)
{
    _Static_assert(NET_SOCKET_PATH_MAX == sizeof(((struct sockaddr_un *)0)->sun_path),
                   "paths as sun_path holds them");
    if (cfg->kind == NET_NETWORK && cfg->fd < 0) {
        error_set(err, "--net network: a network's port is handed over by hosteld (fd=N); "
                       "without hosteld use --net socket,path=PATH");
        return NULL;
    }
    NetSocket *s = calloc(1, sizeof(*s));
    if (!s) {
        error_set(err, "out of memory creating the socket backend");
        return NULL;
    }
    s->nb.ops = &net_socket_ops; /* fields one by one: a compound literal would be 64 KiB */
    s->loop = loop;
    s->fd = -1;
    s->ring_efd = s->peer_efd = -1;
    sock_name(s, cfg);
    if (cfg->fd < 0)
        snprintf(s->path, sizeof(s->path), "%s", cfg->path);
    if ((cfg->fd >= 0 ? sock_open_fd(s, cfg->fd, err) : sock_open_path(s, err)) < 0) {
        net_socket_free(&s->nb);
        return NULL;
    }
    return &s->nb;
}
