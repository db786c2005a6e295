/*
 * The tap backend: a non-blocking file descriptor on /dev/net/tun bound
 * to one tap interface (IFF_TAP | IFF_NO_PI: each read or write is one
 * bare Ethernet frame).  As the socket backend, the VM thread never waits
 * on the host:
 *   - reads run from the event loop when the fd is readable, at most
 *     TAP_READ_BATCH frames per wake-up (the loop is level-triggered: a
 *     flood leaves frames in the kernel queue for the next turn rather than
 *     starving the harts), and only while the card has a receive buffer:
 *     without one the fd is not watched for input until the guest posts
 *     buffers (rx_ready), so frames wait in the tap's kernel queue (which
 *     drops beyond its length, as a full wire would; TCP sends it again);
 *   - a write the tap cannot take now (EAGAIN) is held: the
 *     backend keeps that one frame, watches for writability and says it
 *     cannot send (can_send) until the frame has gone, so the card leaves
 *     the guest's next frames in its transmit ring; then the card is told
 *     (net_backend_tx_ready).
 * When does a tap write say EAGAIN?  A write hands the frame to the host
 * stack there and then (the tap's txqueuelen is its queue towards us, not
 * from us), so only when the tap has a send buffer limit (TUNSETSNDBUF,
 * e.g. set by the parent of an fd= tap, as QEMU's sndbuf= does) and the
 * frames it wrote that still wait in the queue of a device the tap is
 * bridged to (a slow or shaped one) fill it; writability comes back when
 * they have drained to half of it.  With the default limit (none:
 * INT_MAX, which taps we open and hosteld's have) a write always succeeds
 * and a full host queue drops the frame after it.  Frames the host routes,
 * or that reach a socket or another tap, leave the tap's account at once:
 * a slow route or reader on the host is never back-pressure.  ENOBUFS (the
 * kernel is out of memory) drops the frame: the fd says writable at once,
 * so holding it would spin the loop.
 * Drops are counted; the first failure of another kind (the interface
 * down or deleted under us, a frame too long) is logged once, and a read
 * failure stops the reads (and drops a held frame) so a dead fd cannot
 * spin the loop.  With fd=N the descriptor comes open and attached from
 * the parent (hosteld makes the taps of bridged networks).
 */
#include "net/tap.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/if_tun.h>
#include <net/if.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "util/compiler.h"
#include "util/log.h"

#define TAP_DEVICE "/dev/net/tun"
#define TAP_READ_BATCH 64

typedef struct NetTap {
    NetBackend nb; /* first: container_of */
    EventLoop *loop;
    int fd;               /* /dev/net/tun, bound to ifname; -1 before */
    bool watched;         /* fd is in the loop */
    bool paused;          /* not watched for input: the card has no receive buffer */
    bool held;            /* txbuf holds a frame the tap could not take yet */
    bool tx_error_logged; /* a frame was dropped for another reason than EAGAIN */
    char ifname[NET_IFNAME_MAX];
    NetBackendStats stats;
    uint8_t buf[NET_MAX_FRAME + 1]; /* one more: a longer frame is seen, and dropped */
    size_t held_len;
    uint8_t txbuf[NET_MAX_FRAME];
} NetTap;

static NetTap *tap_of(NetBackend *b)
{
    return container_of(b, NetTap, nb);
}

/* Stop watching the fd; a frame held for it is dropped (the card is told by the caller). */
static void tap_unwatch(NetTap *t)
{
    if (t->watched)
        evloop_del_fd(t->loop, t->fd);
    t->watched = false;
    t->paused = false;
    if (t->held)
        t->stats.tx_dropped++;
    t->held = false;
}

/* Watch the fd for what is wanted now: input unless paused, output while a frame is held. */
static void tap_set_events(NetTap *t, bool paused, bool held)
{
    uint32_t ev = (paused ? 0 : EPOLLIN) | (held ? EPOLLOUT : 0);
    if (t->watched && evloop_mod_fd(t->loop, t->fd, ev) == 0)
        t->paused = paused;
}

/* NetBackendOps.can_send: not while a frame waits for the tap. */
static bool net_tap_can_send(NetBackend *b)
{
    return !tap_of(b)->held;
}

/* ---- frames ---- */

/* Write one frame: 0 written, EAGAIN the tap is full, else the frame is dropped (counted). */
static int tap_write_one(NetTap *t, const uint8_t *frame, size_t len)
{
    int e = EMSGSIZE; /* too long: not written */
    if (len <= NET_MAX_FRAME) {
        ssize_t n;
        do
            n = write(t->fd, frame, len);
        while (n < 0 && errno == EINTR);
        if (n == (ssize_t)len)
            return 0;
        e = n < 0 ? errno : EIO; /* a tap takes a frame whole or not at all */
    }
    if (e == EAGAIN)
        return EAGAIN;
    t->stats.tx_dropped++;
    if (!t->tx_error_logged) {
        t->tx_error_logged = true;
        log_warn("net tap %s: a frame from the guest was dropped: %s%s%s (further drops are "
                 "counted, not logged)",
                 t->ifname, strerror(e),
                 e == EIO ? "; the interface is down: ip link set up dev " : "",
                 e == EIO ? t->ifname : "");
    }
    return e;
}

static void net_tap_send(NetBackend *b, const uint8_t *frame, size_t len)
{
    NetTap *t = tap_of(b);
    if (!t->watched || t->held) { /* the fd is dead; or the card did not ask */
        t->stats.tx_dropped++;
        return;
    }
    if (tap_write_one(t, frame, len) != EAGAIN)
        return;
    memcpy(t->txbuf, frame, len); /* the tap is full: hold it until it is writable */
    t->held_len = len;
    t->held = true;
    tap_set_events(t, t->paused, true);
}

/* The tap can take frames again: write the held one, then let the card go on. */
static void tap_writable(NetTap *t)
{
    t->held = false; /* in flight: written, or dropped and counted once by tap_write_one */
    if (tap_write_one(t, t->txbuf, t->held_len) == EAGAIN) {
        t->held = true; /* still full */
        return;
    }
    tap_set_events(t, t->paused, false);
    net_backend_tx_ready(&t->nb);
}

/* The fd failed for good (e.g. the interface was deleted): stop watching it. */
static void tap_read_failed(NetTap *t, int e)
{
    bool held = t->held;
    log_warn("net tap %s: reading the tap failed: %s; frames to and from the guest are dropped "
             "from now on",
             t->ifname, strerror(e));
    tap_unwatch(t);
    if (held) /* the card drops its frames from now on */
        net_backend_tx_ready(&t->nb);
}

static void tap_deliver(NetTap *t, size_t len)
{
    if (len > NET_MAX_FRAME || !net_backend_deliver(&t->nb, t->buf, len))
        t->stats.rx_dropped++;
}

/* Event-loop handler: frames are waiting, the held frame can go, or the fd failed. */
static void tap_readable(void *opaque, uint32_t events)
{
    NetTap *t = opaque;
    if ((events & EPOLLOUT) && t->held)
        tap_writable(t);
    if (!(events & (EPOLLIN | EPOLLHUP | EPOLLERR)))
        return;
    for (int i = 0; i < TAP_READ_BATCH && t->watched; i++) {
        if (!(events & (EPOLLHUP | EPOLLERR)) && !net_backend_can_receive(&t->nb)) {
            tap_set_events(t, true, t->held);
            return;
        }
        ssize_t n = read(t->fd, t->buf, sizeof(t->buf));
        if (n > 0)
            tap_deliver(t, (size_t)n);
        else if (n == 0 || errno == EAGAIN)
            return;
        else if (errno != EINTR)
            tap_read_failed(t, errno);
    }
}

/* NetBackendOps.rx_ready: the guest posted receive buffers. */
static void net_tap_rx_ready(NetBackend *b)
{
    NetTap *t = tap_of(b);
    if (t->paused)
        tap_set_events(t, false, t->held);
}

static void net_tap_stats(NetBackend *b, NetBackendStats *st)
{
    *st = tap_of(b)->stats;
}

static void net_tap_free(NetBackend *b)
{
    NetTap *t = tap_of(b);
    tap_unwatch(t);
    if (t->fd >= 0)
        close(t->fd);
    free(t);
}

/*
 * No save/load: the tap holds no guest state, and a restore attaches by
 * name again (or takes the same fd again).
 */
static const NetBackendOps net_tap_ops = {
    .name = "tap",
    .send = net_tap_send,
    .free = net_tap_free,
    .stats = net_tap_stats,
    .rx_ready = net_tap_rx_ready,
    .can_send = net_tap_can_send,
};

/* ---- attaching ---- */

/* Who the hint in a permission error should name as the tap's owner. */
static void user_name(char *buf, size_t size)
{
    struct passwd *pw = getpwuid(geteuid());
    if (pw && pw->pw_name)
        snprintf(buf, size, "%s", pw->pw_name);
    else
        snprintf(buf, size, "%u", (unsigned)geteuid());
}

/* TUNSETIFF failed with e: say why in the user's terms. */
static int tap_attach_error(const char *name, int e, bool existed, Error *err)
{
    char user[64];
    user_name(user, sizeof(user));
    switch (e) {
    case EPERM:
    case EACCES:
        if (existed)
            return error_set(err,
                             "tap %s: permission denied (the interface belongs to another "
                             "user; make it yours with: ip tuntap del dev %s mode tap; "
                             "ip tuntap add dev %s mode tap user %s)",
                             name, name, name, user);
        return error_set(err,
                         "tap %s: permission denied (create it with: ip tuntap add dev "
                         "%s mode tap user %s)",
                         name, name, user);
    case EBUSY:
        return error_set(err,
                         "tap %s: the interface is in use by another process (one VM "
                         "per tap)",
                         name);
    case EINVAL:
        return error_set(err,
                         "tap %s: the interface exists and is not a tap (or is a "
                         "multi-queue one, which hostel does not use)",
                         name);
    default: return error_set_errno(err, e, "tap %s: cannot attach to the interface", name);
    }
}

/* Open /dev/net/tun and bind it to the tap ifname (creating it if we may). */
static int tap_open(NetTap *t, Error *err)
{
    bool existed = if_nametoindex(t->ifname) != 0;
    t->fd = open(TAP_DEVICE, O_RDWR | O_NONBLOCK | O_CLOEXEC);
    if (t->fd < 0 && errno == ENOENT)
        return error_set(err,
                         "tap %s: " TAP_DEVICE " does not exist (load the tun module: "
                         "modprobe tun)",
                         t->ifname);
    if (t->fd < 0)
        return error_set_errno(err, errno, "tap %s: cannot open " TAP_DEVICE, t->ifname);
    struct ifreq ifr = {.ifr_flags = IFF_TAP | IFF_NO_PI};
    memcpy(ifr.ifr_name, t->ifname, sizeof(t->ifname)); /* both IFNAMSIZ, NUL-padded */
    if (ioctl(t->fd, TUNSETIFF, &ifr) < 0)
        return tap_attach_error(t->ifname, errno, existed, err);
    if (!existed)
        log_info("net tap %s: created the interface; it goes away when the VM exits "
                 "(configure its host side, e.g.: ip link set %s up)",
                 t->ifname, t->ifname);
    return 0;
}

/*
 * fd=N: an open /dev/net/tun descriptor someone else attached (hosteld
 * for a bridged network).  It must be a tap without the packet-info and
 * virtio-net headers, as tap_open makes one.
 */
static int tap_inherit(NetTap *t, int fd, Error *err)
{
    struct ifreq ifr = {0};
    if (fcntl(fd, F_GETFD) < 0)
        return error_set(err, "tap fd=%d: the descriptor is not open (the parent must pass it)",
                         fd);
    if (ioctl(fd, TUNGETIFF, &ifr) < 0)
        return error_set(err, "tap fd=%d: not a tap (%s)", fd,
                         errno == EBADFD ? "a /dev/net/tun descriptor with no interface attached"
                                         : "not a /dev/net/tun descriptor");
    if ((ifr.ifr_flags & (IFF_TUN | IFF_TAP)) != IFF_TAP)
        return error_set(err, "tap fd=%d: interface %.*s is a tun, not a tap", fd, IFNAMSIZ,
                         ifr.ifr_name);
    if (!(ifr.ifr_flags & IFF_NO_PI) || (ifr.ifr_flags & IFF_VNET_HDR))
        return error_set(err,
                         "tap fd=%d: interface %.*s was attached with %s (hostel needs "
                         "IFF_TAP | IFF_NO_PI: bare Ethernet frames)",
                         fd, IFNAMSIZ, ifr.ifr_name,
                         ifr.ifr_flags & IFF_VNET_HDR ? "IFF_VNET_HDR" : "packet information");
    int fl = fcntl(fd, F_GETFL);
    if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0 || fcntl(fd, F_SETFD, FD_CLOEXEC) < 0)
        return error_set_errno(err, errno, "tap fd=%d", fd);
    snprintf(t->ifname, sizeof(t->ifname), "%.*s", IFNAMSIZ - 1, ifr.ifr_name);
    t->fd = fd; /* ours from here: closed with the backend */
    return 0;
}

NetBackend *net_tap_new(const NetConfig *cfg, EventLoop *loop, Error *err)
{
    _Static_assert(NET_IFNAME_MAX == IFNAMSIZ, "interface names as the kernel has them");
    NetTap *t = calloc(1, sizeof(*t));
    if (!t) {
        error_set(err, "out of memory creating the tap backend");
        return NULL;
    }
    t->nb.ops = &net_tap_ops; /* fields one by one: a compound literal would be 64 KiB */
    t->loop = loop;
    t->fd = -1;
    snprintf(t->ifname, sizeof(t->ifname), "%s", cfg->ifname);
    if ((cfg->fd >= 0 ? tap_inherit(t, cfg->fd, err) : tap_open(t, err)) < 0 ||
        evloop_add_fd(loop, t->fd, EPOLLIN, tap_readable, t, err) < 0) {
        net_tap_free(&t->nb);
        return NULL;
    }
    t->watched = true;
    return &t->nb;
}
