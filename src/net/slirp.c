/*
 * The libslirp backend.  Slirp is driven the way its API expects of a
 * poll() loop, mapped onto our epoll-based event loop:
 *   - "sync" (after every call into slirp) runs slirp_pollfds_fill and
 *     mirrors the sockets and events it asks for into a private epoll set
 *     (epfd), only touching epoll for what changed, and arms the poll timer
 *     at the timeout slirp wants (its TCP fast/slow timers, at most 1 s);
 *   - epfd is watched by the VM's loop: when a socket is ready, or when the
 *     poll timer fires, "poll" collects the ready events and runs
 *     slirp_pollfds_poll, then syncs again;
 *   - slirp's own timers (IPv6 router advertisements) are util/timer.h
 *     timers.
 * Sockets slirp closes are dropped from epfd through unregister_poll_fd
 * (called before the close), and any that a fill no longer asks for are
 * dropped after it.  A few close paths do not call unregister_poll_fd; if
 * a new socket takes the closed one's number before the next fill, the
 * table would wrongly think it registered, so every half second a fill
 * registers every socket again.
 */
#include "net/slirp.h"

#include <arpa/inet.h>
#include <errno.h>
#include <slirp/libslirp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "util/compiler.h"
#include "util/log.h"
#include "util/timer.h"

#define SLIRP_EPOLL_BATCH 64
#define SLIRP_MAX_GUEST_ERRORS 10
#define SLIRP_RECHECK_NS 500000000ull /* re-register every socket this often */

/* What we know of one socket (indexed by fd number). */
typedef struct SlirpFd {
    uint32_t events; /* epoll events registered in epfd (when watched) */
    int revents;     /* SLIRP_POLL_* ready in the current poll round */
    uint32_t seen;   /* the fill round that last asked for it */
    bool watched;    /* registered in epfd */
} SlirpFd;

typedef struct NetSlirp {
    NetBackend nb; /* first: container_of */
    Slirp *slirp;
    EventLoop *loop;
    TimerList *timers;
    Timer *poll_timer; /* next slirp_pollfds_poll when no socket wakes us first */
    int epfd;          /* the sockets slirp wants polled */
    bool epfd_watched; /* epfd is in the VM's loop */
    SlirpFd *fds;      /* by fd number */
    int fds_len;
    int *polled; /* fds of the last fill, by the index add_poll returned */
    int npolled, polled_cap;
    uint32_t round;                  /* fill round */
    bool recheck;                    /* this fill re-registers every socket */
    uint64_t recheck_at;             /* ns: when the next fill does */
    unsigned guest_errors;           /* logged so far */
    char name[64];                   /* "net user", "uplink nat": for messages */
    char fwd_label[80];              /* starts a forward's error: "--net", "uplink nat:" */
    NetHostFwd fwd[NET_MAX_HOSTFWD]; /* the forwards bound now */
    unsigned nfwd;
} NetSlirp;

/* A timer slirp asked for: its callback, then a sync. */
typedef struct SlirpTimer {
    NetSlirp *s;
    SlirpTimerCb cb;
    void *cb_opaque;
    Timer *t;
} SlirpTimer;

static NetSlirp *slirp_of(NetBackend *b)
{
    return container_of(b, NetSlirp, nb);
}

/* ---- the socket table and epfd ---- */

/* Make room for fd in the fd table. Returns false if out of memory. */
static bool slirp_fds_reserve(NetSlirp *s, int fd)
{
    if (fd < s->fds_len)
        return true;
    int len = fd + 1 > 2 * s->fds_len ? fd + 1 : 2 * s->fds_len;
    SlirpFd *p = realloc(s->fds, (size_t)len * sizeof(*p));
    if (!p)
        return false;
    memset(p + s->fds_len, 0, (size_t)(len - s->fds_len) * sizeof(*p));
    s->fds = p;
    s->fds_len = len;
    return true;
}

/* Append fd to the fill's index table; returns its index or -1. */
static int slirp_polled_add(NetSlirp *s, int fd)
{
    if (s->npolled == s->polled_cap) {
        int cap = s->polled_cap ? 2 * s->polled_cap : 16;
        int *p = realloc(s->polled, (size_t)cap * sizeof(*p));
        if (!p)
            return -1;
        s->polled = p;
        s->polled_cap = cap;
    }
    s->polled[s->npolled] = fd;
    return s->npolled++;
}

/*
 * Register fd in epfd with ev, or change its events; a no-op if unchanged,
 * unless this fill rechecks: then a socket slirp closed without telling us
 * and whose number a new socket took is registered again.
 */
static void slirp_watch(NetSlirp *s, int fd, uint32_t ev)
{
    SlirpFd *f = &s->fds[fd];
    if (f->watched && f->events == ev && !s->recheck)
        return;
    struct epoll_event e = {.events = ev, .data.fd = fd};
    int op = f->watched ? EPOLL_CTL_MOD : EPOLL_CTL_ADD;
    int rc = epoll_ctl(s->epfd, op, fd, &e);
    if (rc < 0 && errno == (op == EPOLL_CTL_ADD ? EEXIST : ENOENT)) /* fd number reused */
        rc = epoll_ctl(s->epfd, op == EPOLL_CTL_ADD ? EPOLL_CTL_MOD : EPOLL_CTL_ADD, fd, &e);
    f->watched = rc == 0;
    f->events = ev;
}

static void slirp_unwatch(NetSlirp *s, int fd)
{
    if (fd < 0 || fd >= s->fds_len || !s->fds[fd].watched)
        return;
    epoll_ctl(s->epfd, EPOLL_CTL_DEL, fd, NULL); /* ENOENT/EBADF: already gone */
    s->fds[fd].watched = false;
}

static uint32_t slirp_to_epoll(int events)
{
    return (events & SLIRP_POLL_IN ? EPOLLIN : 0) | (events & SLIRP_POLL_OUT ? EPOLLOUT : 0) |
           (events & SLIRP_POLL_PRI ? EPOLLPRI : 0);
}

static int slirp_from_epoll(uint32_t ev)
{
    return (ev & EPOLLIN ? SLIRP_POLL_IN : 0) | (ev & EPOLLOUT ? SLIRP_POLL_OUT : 0) |
           (ev & EPOLLPRI ? SLIRP_POLL_PRI : 0) | (ev & EPOLLERR ? SLIRP_POLL_ERR : 0) |
           (ev & EPOLLHUP ? SLIRP_POLL_HUP : 0);
}

/* slirp_pollfds_fill's add_poll: slirp wants fd polled for events. */
static int slirp_add_poll(int fd, int events, void *opaque)
{
    NetSlirp *s = opaque;
    if (fd < 0 || !slirp_fds_reserve(s, fd))
        return -1;
    s->fds[fd].seen = s->round;
    s->fds[fd].revents = 0;
    slirp_watch(s, fd, slirp_to_epoll(events));
    return slirp_polled_add(s, fd);
}

/* slirp_pollfds_poll's get_revents: what was ready on the idx-th fd of the fill. */
static int slirp_get_revents(int idx, void *opaque)
{
    NetSlirp *s = opaque;
    if (idx < 0 || idx >= s->npolled)
        return 0;
    return s->fds[s->polled[idx]].revents;
}

/* Forget sockets the last fill did not ask for. */
static void slirp_drop_stale(NetSlirp *s)
{
    for (int fd = 0; fd < s->fds_len; fd++)
        if (s->fds[fd].watched && s->fds[fd].seen != s->round)
            slirp_unwatch(s, fd);
}

/* ---- driving slirp ---- */

/* After any call into slirp: mirror its sockets into epfd and arm the poll timer. */
static void slirp_sync(NetSlirp *s)
{
    uint32_t timeout_ms = UINT32_MAX;
    uint64_t now = timer_now_ns();
    s->round++;
    s->npolled = 0;
    s->recheck = now >= s->recheck_at;
    if (s->recheck)
        s->recheck_at = now + SLIRP_RECHECK_NS;
    slirp_pollfds_fill(s->slirp, &timeout_ms, slirp_add_poll, s);
    slirp_drop_stale(s);
    if (timeout_ms == UINT32_MAX)
        return;
    uint64_t at = now + (uint64_t)timeout_ms * 1000000ull;
    if (timer_expire_ns(s->poll_timer) > at) /* an earlier poll does no harm */
        timer_mod(s->poll_timer, at);
}

/* Collect ready sockets, let slirp serve them and its TCP timers, then sync. */
static void slirp_poll(NetSlirp *s)
{
    struct epoll_event evs[SLIRP_EPOLL_BATCH];
    int n = epoll_wait(s->epfd, evs, SLIRP_EPOLL_BATCH, 0);
    for (int i = 0; i < n; i++)
        if (evs[i].data.fd < s->fds_len)
            s->fds[evs[i].data.fd].revents = slirp_from_epoll(evs[i].events);
    timer_del(s->poll_timer);
    slirp_pollfds_poll(s->slirp, n < 0 && errno != EINTR, slirp_get_revents, s);
    for (int i = 0; i < n; i++)
        if (evs[i].data.fd < s->fds_len)
            s->fds[evs[i].data.fd].revents = 0;
    slirp_sync(s);
}

/* Event-loop handler: some socket in epfd is ready. */
static void slirp_ready(void *opaque, uint32_t events)
{
    slirp_poll(opaque);
}

/* The poll timer fired: slirp's TCP timers are due. */
static void slirp_poll_timer(void *opaque)
{
    slirp_poll(opaque);
}

/* ---- callbacks from slirp ---- */

static ssize_t slirp_cb_send_packet(const void *buf, size_t len, void *opaque)
{
    NetSlirp *s = opaque;
    net_backend_deliver(&s->nb, buf, len); /* a dropped frame is retransmitted by TCP */
    return (ssize_t)len;
}

static void slirp_cb_guest_error(const char *msg, void *opaque)
{
    NetSlirp *s = opaque;
    if (s->guest_errors >= SLIRP_MAX_GUEST_ERRORS)
        return;
    s->guest_errors++;
    log_warn("%s: guest error: %s%s", s->name, msg,
             s->guest_errors == SLIRP_MAX_GUEST_ERRORS ? " (further errors not logged)" : "");
}

static int64_t slirp_cb_clock_get_ns(void *opaque)
{
    return (int64_t)timer_now_ns();
}

static void slirp_timer_fire(void *opaque)
{
    SlirpTimer *st = opaque;
    NetSlirp *s = st->s;
    st->cb(st->cb_opaque); /* may free st */
    slirp_sync(s);
}

static void *slirp_cb_timer_new(SlirpTimerCb cb, void *cb_opaque, void *opaque)
{
    SlirpTimer *st = malloc(sizeof(*st));
    if (!st)
        return NULL;
    *st = (SlirpTimer){.s = opaque, .cb = cb, .cb_opaque = cb_opaque};
    st->t = timer_new(st->s->timers, slirp_timer_fire, st, NULL);
    if (!st->t) {
        free(st);
        return NULL;
    }
    return st;
}

static void slirp_cb_timer_free(void *timer, void *opaque)
{
    SlirpTimer *st = timer;
    if (!st)
        return;
    timer_free(st->t);
    free(st);
}

/* expire_ms is on the clock_get_ns clock, in milliseconds. */
static void slirp_cb_timer_mod(void *timer, int64_t expire_ms, void *opaque)
{
    SlirpTimer *st = timer;
    if (st)
        timer_mod(st->t, expire_ms > 0 ? (uint64_t)expire_ms * 1000000ull : 0);
}

static void slirp_cb_register_poll_fd(int fd, void *opaque)
{
    /* Nothing: a socket is watched once a fill asks for it. */
}

static void slirp_cb_unregister_poll_fd(int fd, void *opaque)
{
    slirp_unwatch(opaque, fd); /* before slirp closes it: the number may come back */
}

static void slirp_cb_notify(void *opaque)
{
    /* Nothing: every call into slirp is followed by a sync. */
}

static const SlirpCb slirp_callbacks = {
    .send_packet = slirp_cb_send_packet,
    .guest_error = slirp_cb_guest_error,
    .clock_get_ns = slirp_cb_clock_get_ns,
    .timer_new = slirp_cb_timer_new,
    .timer_free = slirp_cb_timer_free,
    .timer_mod = slirp_cb_timer_mod,
    .register_poll_fd = slirp_cb_register_poll_fd,
    .unregister_poll_fd = slirp_cb_unregister_poll_fd,
    .notify = slirp_cb_notify,
};

/* ---- saving and loading (libslirp's own state format) ---- */

/*
 * What libslirp carries (state version 4): the sockets of guestfwd rules
 * (hostel sets none), the IP identification counter and the DHCP lease
 * table.  Connections through the NAT and hostfwd connections are not in
 * it: their host sockets die with the process.  hostfwd listeners come
 * back from the configuration, not from this blob.
 */

typedef struct SlirpBlob {
    uint8_t *buf;
    size_t len, cap, pos;
    bool failed; /* out of memory, or larger than NET_STATE_MAX */
} SlirpBlob;

static ssize_t slirp_blob_write(const void *buf, size_t len, void *opaque)
{
    SlirpBlob *b = opaque;
    if (b->failed || len > NET_STATE_MAX - b->len) {
        b->failed = true;
        return -1;
    }
    if (b->len + len > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->len + len)
            cap *= 2;
        uint8_t *p = realloc(b->buf, cap);
        if (!p) {
            b->failed = true;
            return -1;
        }
        b->buf = p;
        b->cap = cap;
    }
    memcpy(b->buf + b->len, buf, len);
    b->len += len;
    return (ssize_t)len;
}

/* Reads past the end fail; libslirp then reads zeroes, hence the length check before. */
static ssize_t slirp_blob_read(void *buf, size_t len, void *opaque)
{
    SlirpBlob *b = opaque;
    size_t n = len < b->len - b->pos ? len : b->len - b->pos;
    memcpy(buf, b->buf + b->pos, n);
    b->pos += n;
    return (ssize_t)n;
}

static uint16_t net_slirp_state_version(void)
{
    return (uint16_t)slirp_state_version();
}

static int net_slirp_save(NetBackend *nb, uint8_t **blob, size_t *len, Error *err)
{
    SlirpBlob b = {0};
    slirp_state_save(slirp_of(nb)->slirp, slirp_blob_write, &b);
    if (b.failed || !b.len) {
        free(b.buf);
        return error_set(err, "%s: cannot save the network state (%s)", slirp_of(nb)->name,
                         b.len ? "out of memory or too large" : "empty");
    }
    *blob = b.buf;
    *len = b.len;
    return 0;
}

/*
 * A blob of ours starts with libslirp's end-of-sockets mark: hostel adds
 * no guestfwd rules, so it saves no sockets.  One that claims sockets is
 * refused here, before libslirp would allocate the buffers it describes.
 * libslirp reads a short blob as zeroes without noticing, so a blob of
 * this build's version must be exactly as long as this backend's own.
 */
static int net_slirp_check(NetBackend *nb, uint16_t version, const uint8_t *blob, size_t len,
                           Error *err)
{
    if (len < 1 || blob[0] != 0)
        return error_set(err, "%s: saved state holds guestfwd sockets (hostel has none)",
                         slirp_of(nb)->name);
    if (version != slirp_state_version())
        return 0;
    uint8_t *own = NULL;
    size_t own_len = 0;
    if (net_slirp_save(nb, &own, &own_len, err) < 0)
        return -1;
    free(own);
    if (len != own_len)
        return error_set(err, "%s: saved state is %zu bytes (libslirp state version %u has %zu)",
                         slirp_of(nb)->name, len, version, own_len);
    return 0;
}

static int net_slirp_load(NetBackend *nb, uint16_t version, const uint8_t *blob, size_t len,
                          Error *err)
{
    NetSlirp *s = slirp_of(nb);
    SlirpBlob b = {.buf = (uint8_t *)blob, .len = len};
    int rc = slirp_state_load(s->slirp, version, slirp_blob_read, &b);
    slirp_sync(s);
    if (rc < 0)
        return error_set_errno(err, -rc, "%s: cannot load the network state", s->name);
    return 0;
}

/* ---- the backend ---- */

static void net_slirp_send(NetBackend *b, const uint8_t *frame, size_t len)
{
    NetSlirp *s = slirp_of(b);
    if (len > NET_MAX_FRAME)
        return;
    slirp_input(s->slirp, frame, (int)len);
    slirp_sync(s);
}

static void net_slirp_free(NetBackend *b)
{
    NetSlirp *s = slirp_of(b);
    if (s->slirp)
        slirp_cleanup(s->slirp); /* calls timer_free and unregister_poll_fd */
    timer_list_free(s->timers);
    if (s->epfd_watched)
        evloop_del_fd(s->loop, s->epfd);
    if (s->epfd >= 0)
        close(s->epfd);
    free(s->fds);
    free(s->polled);
    free(s);
}

static const NetBackendOps net_slirp_ops = {
    .name = "user",
    .send = net_slirp_send,
    .free = net_slirp_free,
    .state_tag = "slirp",
    .state_version = net_slirp_state_version,
    .save = net_slirp_save,
    .check = net_slirp_check,
    .load = net_slirp_load,
};

static struct in6_addr ip6(const char *s)
{
    struct in6_addr a;
    inet_pton(AF_INET6, s, &a);
    return a;
}

static uint32_t prefix_mask(unsigned prefix)
{
    return prefix ? ~0u << (32 - prefix) : 0;
}

int net_slirp_subnet_check(struct in_addr network, unsigned prefix, Error *err)
{
    char text[INET_ADDRSTRLEN], fixed[INET_ADDRSTRLEN];
    inet_ntop(AF_INET, &network, text, sizeof(text));
    if (prefix < NET_SLIRP_PREFIX_MIN || prefix > NET_SLIRP_PREFIX_MAX)
        return error_set(err,
                         "subnet %s/%u: the prefix length must be %d to %d (the network holds "
                         ".2, .3 and 16 leases from .15)",
                         text, prefix, NET_SLIRP_PREFIX_MIN, NET_SLIRP_PREFIX_MAX);
    struct in_addr net = {htonl(ntohl(network.s_addr) & prefix_mask(prefix))};
    inet_ntop(AF_INET, &net, fixed, sizeof(fixed));
    if (net.s_addr != network.s_addr)
        return error_set(err, "subnet %s/%u: host bits are set (the network is %s/%u)", text,
                         prefix, fixed, prefix);
    return 0;
}

struct in_addr net_slirp_addr(struct in_addr network, uint32_t host)
{
    return (struct in_addr){htonl(ntohl(network.s_addr) + host)};
}

/* The addresses: QEMU's layout (.2, .3, .15) on c's network; IPv6 on fec0::/64. */
static Slirp *slirp_start(NetSlirp *s, const NetSlirpConfig *c)
{
    SlirpConfig sc = {
        .version = 1,
        .restricted = 0,
        .in_enabled = true,
        .vnetwork = c->network,
        .vnetmask = {htonl(prefix_mask(c->prefix))},
        .vhost = net_slirp_addr(c->network, 2),
        .in6_enabled = true,
        .vprefix_addr6 = ip6("fec0::"),
        .vprefix_len = 64,
        .vhost6 = ip6("fec0::2"),
        .vdhcp_start = net_slirp_addr(c->network, 15),
        .vnameserver = net_slirp_addr(c->network, 3),
        .vnameserver6 = ip6("fec0::3"),
    };
    return slirp_new(&sc, &slirp_callbacks, s);
}

/* ---- forwards ---- */

/* Bind one forward; err names it. */
static int slirp_fwd_add(NetSlirp *s, const NetHostFwd *f, Error *err)
{
    errno = 0;
    if (slirp_add_hostfwd(s->slirp, f->udp, f->host_addr, f->host_port, f->guest_addr,
                          f->guest_port) == 0)
        return 0;
    int e = errno;
    char rule[96];
    net_hostfwd_format(f, rule, sizeof(rule));
    if (e)
        return error_set_errno(err, e, "%s hostfwd %s: cannot use the host port", s->fwd_label,
                               rule);
    return error_set(err, "%s hostfwd %s: cannot use the host port", s->fwd_label, rule);
}

/* Close one forward's host socket (connections it brought in go on). */
static void slirp_fwd_remove(NetSlirp *s, const NetHostFwd *f)
{
    slirp_remove_hostfwd(s->slirp, f->udp, f->host_addr, f->host_port);
}

static bool fwd_same(const NetHostFwd *a, const NetHostFwd *b)
{
    return a->udp == b->udp && a->host_addr.s_addr == b->host_addr.s_addr &&
           a->host_port == b->host_port && a->guest_addr.s_addr == b->guest_addr.s_addr &&
           a->guest_port == b->guest_port;
}

/* Both cannot be bound at once: one protocol and port, one address or any. */
static bool fwd_clash(const NetHostFwd *a, const NetHostFwd *b)
{
    return a->udp == b->udp && a->host_port == b->host_port &&
           (a->host_addr.s_addr == b->host_addr.s_addr || !a->host_addr.s_addr ||
            !b->host_addr.s_addr);
}

static bool fwd_in(const NetHostFwd *f, const NetHostFwd *set, unsigned n)
{
    for (unsigned i = 0; i < n; i++)
        if (fwd_same(f, &set[i]))
            return true;
    return false;
}

/* The change from s's forwards to a new set: what is kept, added, in the way. */
typedef struct FwdPlan {
    const NetHostFwd *fwd; /* the new set */
    unsigned nfwd;
    bool keep[NET_MAX_HOSTFWD];    /* old i is in the new set */
    bool fresh[NET_MAX_HOSTFWD];   /* new j is not in the old set */
    bool blocked[NET_MAX_HOSTFWD]; /* new j clashes with an old rule that goes */
    bool added[NET_MAX_HOSTFWD];   /* new j was bound */
    bool freed[NET_MAX_HOSTFWD];   /* old i was closed to make room */
} FwdPlan;

static void fwd_plan(const NetSlirp *s, FwdPlan *p)
{
    for (unsigned i = 0; i < s->nfwd; i++)
        p->keep[i] = fwd_in(&s->fwd[i], p->fwd, p->nfwd);
    for (unsigned j = 0; j < p->nfwd; j++) {
        p->fresh[j] = !fwd_in(&p->fwd[j], s->fwd, s->nfwd);
        for (unsigned i = 0; i < s->nfwd && p->fresh[j]; i++)
            p->blocked[j] |= !p->keep[i] && fwd_clash(&p->fwd[j], &s->fwd[i]);
    }
}

/* Bind the fresh rules that are (or are not) blocked. Returns 0, or -1 at the first failure. */
static int fwd_bind(NetSlirp *s, FwdPlan *p, bool blocked, Error *err)
{
    for (unsigned j = 0; j < p->nfwd; j++) {
        if (!p->fresh[j] || p->blocked[j] != blocked)
            continue;
        if (slirp_fwd_add(s, &p->fwd[j], err) < 0)
            return -1;
        p->added[j] = true;
    }
    return 0;
}

/* Undo a change that failed: the new rules closed, the old ones made room for bound again. */
static void fwd_undo(NetSlirp *s, FwdPlan *p)
{
    for (unsigned j = 0; j < p->nfwd; j++)
        if (p->added[j])
            slirp_fwd_remove(s, &p->fwd[j]);
    for (unsigned i = 0; i < s->nfwd; i++) {
        Error e = {0};
        if (p->freed[i] && slirp_fwd_add(s, &s->fwd[i], &e) < 0)
            log_warn("%s: a forward could not be restored: %s", s->name, e.msg);
    }
}

int net_slirp_set_forwards(NetBackend *b, const NetHostFwd *fwd, unsigned nfwd, Error *err)
{
    if (!b || b->ops != &net_slirp_ops)
        return error_set(err, "not a user-mode network");
    NetSlirp *s = slirp_of(b);
    if (nfwd > NET_MAX_HOSTFWD)
        return error_set(err, "%s at most %d forwards", s->fwd_label, NET_MAX_HOSTFWD);
    for (unsigned j = 0; j < nfwd; j++)
        for (unsigned k = 0; k < j; k++)
            if (fwd_clash(&fwd[j], &fwd[k]))
                return error_set(err, "%s host port %u is forwarded twice", s->fwd_label,
                                 fwd[j].host_port);
    FwdPlan *p = calloc(1, sizeof(*p));
    if (!p)
        return error_set(err, "%s: out of memory", s->name);
    p->fwd = fwd;
    p->nfwd = nfwd;
    fwd_plan(s, p);
    int rc = fwd_bind(s, p, false, err); /* first what needs no room */
    for (unsigned i = 0; rc == 0 && i < s->nfwd; i++) {
        for (unsigned j = 0; j < nfwd && !p->keep[i] && !p->freed[i]; j++)
            p->freed[i] = p->blocked[j] && fwd_clash(&fwd[j], &s->fwd[i]);
        if (p->freed[i])
            slirp_fwd_remove(s, &s->fwd[i]);
    }
    if (rc == 0)
        rc = fwd_bind(s, p, true, err); /* then into the room made */
    if (rc < 0) {
        fwd_undo(s, p);
    } else {
        for (unsigned i = 0; i < s->nfwd; i++)
            if (!p->keep[i] && !p->freed[i])
                slirp_fwd_remove(s, &s->fwd[i]);
        memcpy(s->fwd, fwd, nfwd * sizeof(*fwd));
        s->nfwd = nfwd;
    }
    free(p);
    slirp_sync(s);
    return rc;
}

static int slirp_add_forwards(NetSlirp *s, const NetSlirpConfig *c, Error *err)
{
    if (c->nfwd > NET_MAX_HOSTFWD)
        return error_set(err, "%s at most %d forwards", c->fwd_label, NET_MAX_HOSTFWD);
    for (unsigned i = 0; i < c->nfwd; i++) {
        if (slirp_fwd_add(s, &c->fwd[i], err) < 0)
            return -1;
        s->fwd[s->nfwd++] = c->fwd[i];
    }
    return 0;
}

/* Everything but the forwards; returns 0 or -1 with err filled. */
static int net_slirp_init(NetSlirp *s, const NetSlirpConfig *c, EventLoop *loop, Error *err)
{
    s->nb.ops = &net_slirp_ops;
    s->loop = loop;
    snprintf(s->name, sizeof(s->name), "%s", c->name);
    snprintf(s->fwd_label, sizeof(s->fwd_label), "%s", c->fwd_label);
    s->epfd = epoll_create1(EPOLL_CLOEXEC);
    if (s->epfd < 0)
        return error_set_errno(err, errno, "%s: cannot create an epoll set", s->name);
    if (evloop_add_fd(loop, s->epfd, EPOLLIN, slirp_ready, s, err) < 0)
        return -1;
    s->epfd_watched = true;
    s->timers = timer_list_new(loop, err);
    if (!s->timers)
        return -1;
    s->poll_timer = timer_new(s->timers, slirp_poll_timer, s, err);
    if (!s->poll_timer)
        return -1;
    s->slirp = slirp_start(s, c);
    if (!s->slirp)
        return error_set(err, "%s: cannot start libslirp", s->name);
    return 0;
}

NetBackend *net_slirp_new_net(const NetSlirpConfig *c, EventLoop *loop, Error *err)
{
    if (net_slirp_subnet_check(c->network, c->prefix, err) < 0)
        return NULL;
    NetSlirp *s = calloc(1, sizeof(*s));
    if (!s) {
        error_set(err, "out of memory creating the user network");
        return NULL;
    }
    s->epfd = -1;
    if (net_slirp_init(s, c, loop, err) < 0 || slirp_add_forwards(s, c, err) < 0) {
        net_slirp_free(&s->nb);
        return NULL;
    }
    slirp_sync(s);
    return &s->nb;
}

NetBackend *net_slirp_new(const NetConfig *cfg, EventLoop *loop, Error *err)
{
    NetSlirpConfig c = {
        .network = {htonl(0x0a000200u)}, /* 10.0.2.0/24, as QEMU */
        .prefix = 24,
        .fwd = cfg->fwd,
        .nfwd = cfg->nfwd,
        .name = "net user",
        .fwd_label = "--net",
    };
    return net_slirp_new_net(&c, loop, err);
}
