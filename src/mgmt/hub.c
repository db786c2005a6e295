/*
 * The stream hub (hub.h).  One epoll loop on its own thread: client
 * sockets, bridged sockets and an eventfd that other threads write to
 * after queueing (hub_send, hub_close, hub_adopt).  Outgoing queues are
 * guarded by the hub's lock; everything else of a connection (its parser,
 * its bridge) belongs to the hub's thread.  The ops are called without the
 * lock held, so an op may take other locks (the event bus's) that senders
 * hold while they call hub_send.
 *
 * The list of connections only grows at its head (hub_adopt, any thread)
 * and only shrinks on the hub's thread, so the hub's thread may walk it
 * from a head it read under the lock.
 */
#include "mgmt/hub.h"
#include "util/clocks.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "util/log.h"

#define HUB_READ_CHUNK 16384
#define HUB_EPOLL_BATCH 64
/* The kernel's share of a client's backlog (our queue holds the rest). */
#define HUB_SNDBUF (32 << 10)
#define HUB_CLOSE_GRACE_S 5 /* a client that does not read its close frame is let go after this */
#define HUB_TICK_MS 1000    /* the loop wakes this often to let such clients go */

/* What an epoll event points at: a connection's client socket or its bridge. */
typedef struct HubWatch {
    HubConn *c;
    bool bridge;
} HubWatch;

typedef struct OutQ {
    uint8_t *buf;
    size_t off, len, cap;
} OutQ;

typedef enum HubAct { ACT_NONE, ACT_OPEN, ACT_END } HubAct;

struct HubConn {
    MgmtHub *hub;
    int fd;
    HubRelease *release;
    void *release_opaque;
    const HubConnOps *ops;
    void *opaque;
    /* under hub->lock */
    OutQ out;
    bool closing;         /* a close frame is queued: nothing after it; the end once it is out */
    double closing_since; /* monotonic seconds: when it was queued */
    bool dead;            /* end now without flushing: dropped, or the client is gone */
    bool want_out;        /* EPOLLOUT is on for fd */
    unsigned tag;         /* hub_adopt_tagged's (a web session's serial), or 0 */
    /* the hub's thread only */
    WsParser parser;
    HubWatch w_client, w_bridge;
    bool registered, reading_stopped;
    HubAct act;
    int bridge_fd; /* -1 without a bridge */
    OutQ bout;     /* bytes for the bridge it did not take yet */
    bool bridge_paused, bridge_want_out;
    HubConn *prev, *next;
};

struct MgmtHub {
    HubOptions opt;
    int epfd, kickfd;
    pthread_t thread;
    bool thread_started;
    pthread_mutex_t lock;
    HubConn *conns; /* under lock */
    size_t count;
    bool stopping;
};

/* ---- queues ---- */

static size_t q_bytes(const OutQ *q)
{
    return q->len - q->off;
}

static int q_append(OutQ *q, const void *data, size_t len)
{
    if (q->off == q->len)
        q->off = q->len = 0;
    if (q->len + len > q->cap && q->off) { /* what was sent goes before the buffer grows */
        memmove(q->buf, q->buf + q->off, q->len - q->off);
        q->len -= q->off;
        q->off = 0;
    }
    if (q->len + len > q->cap) {
        size_t cap = 2 * q->cap > q->len + len ? 2 * q->cap : q->len + len + 4096;
        uint8_t *b = realloc(q->buf, cap);
        if (!b)
            return -1;
        q->buf = b;
        q->cap = cap;
    }
    memcpy(q->buf + q->len, data, len);
    q->len += len;
    return 0;
}

static void q_free(OutQ *q)
{
    free(q->buf);
    memset(q, 0, sizeof(*q));
}

static void kick(MgmtHub *hub)
{
    uint64_t one = 1;
    if (write(hub->kickfd, &one, sizeof(one)) < 0 && errno != EAGAIN)
        log_warn("hub: cannot wake the stream thread");
}

/* Queue one frame for c's client (the lock held); force: ignore the cap (control frames). */
static int queue_frame(HubConn *c, WsOpcode op, const void *data, size_t len, bool force)
{
    uint8_t header[WS_HEADER_MAX];
    size_t h = ws_header_encode(header, op, true, len, NULL);
    if (c->closing || c->dead)
        return -1;
    if (!force && q_bytes(&c->out) + h + len > c->hub->opt.queue_max) {
        log_info("hub: a stream client does not read what it is sent: dropped");
        c->dead = true;
        return -1;
    }
    if (q_append(&c->out, header, h) < 0 || (len && q_append(&c->out, data, len) < 0)) {
        c->dead = true;
        return -1;
    }
    return 0;
}

/* Queue a close frame (the lock held): the last thing c's client is sent. */
static void queue_close(HubConn *c, uint16_t code, const char *reason)
{
    uint8_t p[WS_CONTROL_MAX];
    size_t n = ws_close_payload(p, code, reason);
    if (queue_frame(c, WS_OP_CLOSE, p, n, true) == 0) {
        c->closing = true;
        c->closing_since = clock_mono_s();
    }
}

int hub_send(HubConn *c, WsOpcode op, const void *data, size_t len)
{
    MgmtHub *hub = c->hub;
    pthread_mutex_lock(&hub->lock);
    int r = queue_frame(c, op, data, len, false);
    bool dropped = c->dead;
    pthread_mutex_unlock(&hub->lock);
    if (r == 0 || dropped)
        kick(hub);
    return r;
}

void hub_close(HubConn *c, uint16_t code, const char *reason)
{
    pthread_mutex_lock(&c->hub->lock);
    queue_close(c, code, reason);
    pthread_mutex_unlock(&c->hub->lock);
    kick(c->hub);
}

/* ---- the hub's thread: writing ---- */

static void watch_client(HubConn *c, bool out)
{
    struct epoll_event ev = {.events = EPOLLIN | (out ? EPOLLOUT : 0), .data.ptr = &c->w_client};
    epoll_ctl(c->hub->epfd, EPOLL_CTL_MOD, c->fd, &ev);
    c->want_out = out;
}

/* Send what c's queue holds, as far as the socket takes it (the lock held). */
static void flush_out(HubConn *c)
{
    OutQ *q = &c->out;
    while (q_bytes(q) && !c->dead) {
        ssize_t n = send(c->fd, q->buf + q->off, q_bytes(q), MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            if (!c->want_out)
                watch_client(c, true);
            return;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            c->dead = true;
        else
            q->off += (size_t)n;
    }
    if (c->want_out)
        watch_client(c, false);
}

/* ---- the bridge ---- */

static void watch_bridge(HubConn *c)
{
    uint32_t events = (c->bridge_paused ? 0 : EPOLLIN) | (c->bridge_want_out ? EPOLLOUT : 0);
    struct epoll_event ev = {.events = events, .data.ptr = &c->w_bridge};
    epoll_ctl(c->hub->epfd, EPOLL_CTL_MOD, c->bridge_fd, &ev);
}

static void bridge_end(HubConn *c)
{
    if (c->bridge_fd < 0)
        return;
    epoll_ctl(c->hub->epfd, EPOLL_CTL_DEL, c->bridge_fd, NULL);
    close(c->bridge_fd);
    c->bridge_fd = -1;
    q_free(&c->bout);
}

int hub_bridge(HubConn *c, int fd, Error *err)
{
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = &c->w_bridge};
    if (c->bridge_fd >= 0) {
        close(fd);
        return error_set(err, "the stream is already bridged");
    }
    if (fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) < 0 ||
        epoll_ctl(c->hub->epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
        error_set_errno(err, errno, "cannot watch the bridged socket");
        close(fd);
        return -1;
    }
    c->bridge_fd = fd;
    c->bridge_paused = c->bridge_want_out = false;
    return 0;
}

/* Write what the bridge holds back; the rest waits for EPOLLOUT. */
static void bridge_flush(HubConn *c)
{
    OutQ *q = &c->bout;
    while (q_bytes(q)) {
        ssize_t n = send(c->bridge_fd, q->buf + q->off, q_bytes(q), MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            break;
        if (n <= 0) {
            bridge_end(c);
            hub_close(c, WS_CLOSE_NORMAL, "the other end closed");
            return;
        }
        q->off += (size_t)n;
    }
    bool want = q_bytes(q) != 0;
    if (want != c->bridge_want_out) {
        c->bridge_want_out = want;
        watch_bridge(c);
    }
}

/* A binary message from the client, for the bridge. */
static void bridge_write(HubConn *c, const uint8_t *data, size_t len)
{
    if (q_bytes(&c->bout) + len > c->hub->opt.queue_max || q_append(&c->bout, data, len) < 0) {
        hub_close(c, WS_CLOSE_POLICY, "the other end does not take input this fast");
        return;
    }
    bridge_flush(c);
}

/* The bridge has bytes (or closed): they go to the client; pause when its queue fills. */
static void bridge_read(HubConn *c)
{
    uint8_t buf[HUB_READ_CHUNK];
    ssize_t n = recv(c->bridge_fd, buf, sizeof(buf), MSG_DONTWAIT);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
        return;
    if (n <= 0) {
        bridge_end(c);
        hub_close(c, WS_CLOSE_NORMAL, "the other end closed");
        return;
    }
    hub_send(c, WS_OP_BINARY, buf, (size_t)n);
    pthread_mutex_lock(&c->hub->lock);
    bool full = q_bytes(&c->out) > c->hub->opt.queue_max / 2;
    pthread_mutex_unlock(&c->hub->lock);
    if (full) {
        c->bridge_paused = true;
        watch_bridge(c);
    }
}

static void on_bridge_event(HubConn *c, uint32_t events)
{
    if (events & EPOLLOUT)
        bridge_flush(c);
    if (c->bridge_fd >= 0 && (events & (EPOLLIN | EPOLLHUP | EPOLLERR)) && !c->bridge_paused)
        bridge_read(c);
}

/* ---- the hub's thread: reading ---- */

static void mark_dead(HubConn *c)
{
    pthread_mutex_lock(&c->hub->lock);
    c->dead = true;
    pthread_mutex_unlock(&c->hub->lock);
}

static void on_message(HubConn *c, const WsMessage *m)
{
    switch (m->op) {
    case WS_OP_PING: /* under the cap: pings from a client that does not read get it dropped */
        hub_send(c, WS_OP_PONG, m->data, m->len);
        return;
    case WS_OP_PONG: return;
    case WS_OP_CLOSE:
        c->reading_stopped = true;
        hub_close(c, m->close_code == WS_CLOSE_NO_STATUS ? WS_CLOSE_NORMAL : m->close_code, "");
        return;
    case WS_OP_BINARY:
        if (c->bridge_fd >= 0) {
            bridge_write(c, m->data, m->len);
            return;
        }
        /* fall through */
    default:
        if (c->ops->on_message)
            c->ops->on_message(c, c->opaque, m->op, m->data, m->len);
    }
}

/* Take the messages the parser holds; a protocol error closes with its code. */
static void take_input(HubConn *c)
{
    WsMessage m;
    Error err = {0};
    int r = 0;
    while (!c->reading_stopped && (r = ws_parser_next(&c->parser, &m, &err)) == 1)
        on_message(c, &m);
    if (r < 0) {
        log_debug("hub: %s: closing with %u", err.msg, c->parser.error);
        c->reading_stopped = true;
        hub_close(c, c->parser.error, err.msg);
    }
}

static void on_client_event(HubConn *c, uint32_t events)
{
    if (events & EPOLLOUT) {
        pthread_mutex_lock(&c->hub->lock);
        flush_out(c);
        pthread_mutex_unlock(&c->hub->lock);
    }
    if (!(events & (EPOLLIN | EPOLLHUP | EPOLLERR)))
        return;
    uint8_t buf[HUB_READ_CHUNK];
    ssize_t n = recv(c->fd, buf, sizeof(buf), MSG_DONTWAIT);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
        return;
    if (n <= 0 || c->reading_stopped) { /* gone; or past its close: what it sends is dropped */
        if (n <= 0)
            mark_dead(c);
        return;
    }
    if (ws_parser_feed(&c->parser, buf, (size_t)n, NULL) < 0)
        mark_dead(c);
    else
        take_input(c);
}

/* ---- the hub's thread: a connection's life ---- */

static void conn_open(HubConn *c)
{
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = &c->w_client};
    if (epoll_ctl(c->hub->epfd, EPOLL_CTL_ADD, c->fd, &ev) < 0) {
        mark_dead(c);
        return;
    }
    c->registered = true;
    if (c->ops->on_open && c->ops->on_open(c, c->opaque) < 0) {
        hub_close(c, WS_CLOSE_INTERNAL, "the stream cannot start");
        return;
    }
    take_input(c); /* what came with the handshake */
}

static void conn_release(int fd, HubRelease *release, void *opaque)
{
    shutdown(fd, SHUT_RDWR);
    if (release)
        release(opaque);
    else
        close(fd);
}

static void conn_end(HubConn *c)
{
    MgmtHub *hub = c->hub;
    pthread_mutex_lock(&hub->lock);
    c->dead = true; /* from now on hub_send refuses */
    pthread_mutex_unlock(&hub->lock);
    bridge_end(c);
    if (c->registered)
        epoll_ctl(hub->epfd, EPOLL_CTL_DEL, c->fd, NULL);
    conn_release(c->fd, c->release, c->release_opaque);
    if (c->ops->on_close)
        c->ops->on_close(c, c->opaque);
    pthread_mutex_lock(&hub->lock);
    if (c->prev)
        c->prev->next = c->next;
    else
        hub->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    hub->count--;
    pthread_mutex_unlock(&hub->lock);
    ws_parser_free(&c->parser);
    q_free(&c->out);
    free(c);
}

/* Decide what each connection needs (the lock held); returns the head to walk. */
static HubConn *plan(MgmtHub *hub)
{
    double now = clock_mono_s();
    for (HubConn *c = hub->conns; c; c = c->next) {
        if (c->registered && !c->dead)
            flush_out(c);
        if (!c->registered && !c->dead)
            c->act = ACT_OPEN;
        else if (c->dead || hub->stopping ||
                 (c->closing && (!q_bytes(&c->out) || now - c->closing_since > HUB_CLOSE_GRACE_S)))
            c->act = ACT_END;
        else
            c->act = ACT_NONE;
    }
    return hub->conns;
}

/* Resume a paused bridge once its client has read most of what it was sent. */
static void bridge_resume(HubConn *c)
{
    pthread_mutex_lock(&c->hub->lock);
    bool drained = q_bytes(&c->out) <= c->hub->opt.queue_max / 4;
    pthread_mutex_unlock(&c->hub->lock);
    if (drained) {
        c->bridge_paused = false;
        watch_bridge(c);
    }
}

static void service(MgmtHub *hub)
{
    pthread_mutex_lock(&hub->lock);
    HubConn *c = plan(hub);
    pthread_mutex_unlock(&hub->lock);
    while (c) {
        HubConn *next = c->next;
        if (c->act == ACT_OPEN)
            conn_open(c);
        else if (c->act == ACT_END)
            conn_end(c);
        else if (c->bridge_fd >= 0 && c->bridge_paused)
            bridge_resume(c);
        c = next;
    }
}

static void dispatch(MgmtHub *hub, const struct epoll_event *ev)
{
    HubWatch *w = ev->data.ptr;
    if (!w) {
        uint64_t v;
        if (read(hub->kickfd, &v, sizeof(v)) < 0 && errno != EAGAIN)
            log_warn("hub: cannot read the wake-up counter");
        return;
    }
    if (w->bridge)
        on_bridge_event(w->c, ev->events);
    else
        on_client_event(w->c, ev->events);
}

/* The daemon stops: every client is told (best effort), then let go. */
static void end_all(MgmtHub *hub)
{
    pthread_mutex_lock(&hub->lock);
    for (HubConn *c = hub->conns; c; c = c->next) {
        queue_close(c, WS_CLOSE_GOING_AWAY, "the daemon stops");
        flush_out(c); /* also those not yet opened */
    }
    pthread_mutex_unlock(&hub->lock);
    while (hub->conns) /* only this thread removes; adopting is refused now */
        conn_end(hub->conns);
}

static void *hub_run(void *opaque)
{
    MgmtHub *hub = opaque;
    struct epoll_event evs[HUB_EPOLL_BATCH];
    for (;;) {
        int n = epoll_wait(hub->epfd, evs, HUB_EPOLL_BATCH, HUB_TICK_MS);
        if (n < 0 && errno != EINTR) {
            log_error("hub: epoll_wait: %s", strerror(errno));
            break;
        }
        for (int i = 0; i < n; i++)
            dispatch(hub, &evs[i]);
        pthread_mutex_lock(&hub->lock);
        bool stopping = hub->stopping;
        pthread_mutex_unlock(&hub->lock);
        if (stopping)
            break;
        service(hub);
    }
    end_all(hub);
    return NULL;
}

/* ---- making and ending ---- */

int hub_new(MgmtHub **out, const HubOptions *opt, Error *err)
{
    MgmtHub *hub = calloc(1, sizeof(*hub));
    if (!hub)
        return error_set(err, "out of memory");
    hub->opt.queue_max = opt && opt->queue_max ? opt->queue_max : HUB_QUEUE_MAX_DEFAULT;
    hub->opt.message_max = opt && opt->message_max ? opt->message_max : HUB_MESSAGE_MAX_DEFAULT;
    pthread_mutex_init(&hub->lock, NULL);
    hub->epfd = epoll_create1(EPOLL_CLOEXEC);
    hub->kickfd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = NULL};
    if (hub->epfd < 0 || hub->kickfd < 0 ||
        epoll_ctl(hub->epfd, EPOLL_CTL_ADD, hub->kickfd, &ev) < 0) {
        error_set_errno(err, errno, "cannot make the stream hub's loop");
        hub_free(hub);
        return -1;
    }
    if (pthread_create(&hub->thread, NULL, hub_run, hub) != 0) {
        error_set(err, "cannot start the stream hub's thread");
        hub_free(hub);
        return -1;
    }
    hub->thread_started = true;
    *out = hub;
    return 0;
}

void hub_stop(MgmtHub *hub)
{
    pthread_mutex_lock(&hub->lock);
    hub->stopping = true;
    pthread_mutex_unlock(&hub->lock);
    if (hub->thread_started) {
        kick(hub);
        pthread_join(hub->thread, NULL);
        hub->thread_started = false;
    }
}

void hub_free(MgmtHub *hub)
{
    if (!hub)
        return;
    hub_stop(hub);
    if (hub->epfd >= 0)
        close(hub->epfd);
    if (hub->kickfd >= 0)
        close(hub->kickfd);
    pthread_mutex_destroy(&hub->lock);
    free(hub);
}

/* Tell a client the hub no longer takes that the daemon stops (best effort, never blocks). */
static void say_going_away(int fd)
{
    uint8_t f[2 + WS_CONTROL_MAX];
    size_t n = ws_close_payload(f + 2, WS_CLOSE_GOING_AWAY, "the daemon stops");
    ws_header_encode(f, WS_OP_CLOSE, true, n, NULL);
    if (send(fd, f, n + 2, MSG_NOSIGNAL | MSG_DONTWAIT) < 0)
        log_debug("hub: a client gone before its close frame");
}

int hub_adopt(MgmtHub *hub, int fd, const void *extra, size_t extra_len, HubRelease *release,
              void *release_opaque, const HubConnOps *ops, void *opaque, Error *err)
{
    return hub_adopt_tagged(hub, fd, extra, extra_len, release, release_opaque, ops, opaque, 0,
                            err);
}

void hub_close_tagged(MgmtHub *hub, unsigned tag, uint16_t code, const char *reason)
{
    if (!tag)
        return;
    pthread_mutex_lock(&hub->lock);
    for (HubConn *c = hub->conns; c; c = c->next)
        if (c->tag == tag)
            queue_close(c, code, reason);
    pthread_mutex_unlock(&hub->lock);
    kick(hub);
}

int hub_adopt_tagged(MgmtHub *hub, int fd, const void *extra, size_t extra_len, HubRelease *release,
                     void *release_opaque, const HubConnOps *ops, void *opaque, unsigned tag,
                     Error *err)
{
    HubConn *c = calloc(1, sizeof(*c));
    int sndbuf = HUB_SNDBUF;
    if (c) {
        *c = (HubConn){.hub = hub,
                       .fd = fd,
                       .release = release,
                       .release_opaque = release_opaque,
                       .ops = ops,
                       .opaque = opaque,
                       .tag = tag,
                       .bridge_fd = -1};
        c->w_client = (HubWatch){.c = c, .bridge = false};
        c->w_bridge = (HubWatch){.c = c, .bridge = true};
        ws_parser_init(&c->parser, true, hub->opt.message_max);
    }
    if (!c || ws_parser_feed(&c->parser, extra, extra_len, err) < 0 ||
        fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) < 0)
        goto refuse;
    setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof(sndbuf)); /* a hint: may fail */
    pthread_mutex_lock(&hub->lock);
    if (hub->stopping) {
        pthread_mutex_unlock(&hub->lock);
        say_going_away(fd);
        error_set(err, "the daemon stops");
        goto refuse;
    }
    c->next = hub->conns;
    if (hub->conns)
        hub->conns->prev = c;
    hub->conns = c;
    hub->count++;
    pthread_mutex_unlock(&hub->lock);
    kick(hub);
    return 0;
refuse:
    if (!c)
        error_set(err, "out of memory");
    conn_release(fd, release, release_opaque);
    if (ops->on_close)
        ops->on_close(c, opaque);
    if (c)
        ws_parser_free(&c->parser);
    free(c);
    return -1;
}

size_t hub_count(MgmtHub *hub)
{
    pthread_mutex_lock(&hub->lock);
    size_t n = hub->count;
    pthread_mutex_unlock(&hub->lock);
    return n;
}
