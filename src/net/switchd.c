/*
 * The switch daemon's engine: ports over sockets around the switch core.
 *
 * Port sockets (VM and listen ports) sit in a private epoll set (epfd),
 * itself one descriptor of the event loop, so the number of ports is not
 * bound by the loop's table.  A round takes the ready ports from epfd and
 * serves each: its queue first if it became writable, then up to
 * SWITCHD_READ_BATCH frames.  epoll returns a port that is still readable
 * behind the others, so every port gets its turn.
 *
 * Re-entrancy: the switch core is not re-entered.  An uplink may produce a
 * frame while the switch is handing it one (libslirp answers an ARP request
 * inside slirp_input); such frames are copied into a short queue and
 * switched once the outer switch_input returns.  Ports are never freed in
 * the middle of a round or of a switch_input: a listen port whose peer
 * hangs up is marked and removed afterwards.
 */
#include "net/switchd.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "net/ring.h"
#include "util/log.h"
#include "util/timer.h"

#define SWITCHD_EPOLL_BATCH 128 /* ready ports taken per round */
#define SWITCHD_LISTEN_BACKLOG 16

typedef struct SwitchdPort SwitchdPort;

/* What an event in epfd is about: a port's socket or its ring doorbell. */
typedef struct SwitchdWatch {
    SwitchdPort *p;
    bool ring;
} SwitchdWatch;

struct SwitchdPort {
    SwitchDaemon *d;
    SwitchPort *sp; /* NULL until the switch has it */
    SwitchdPortKind kind;
    int fd;         /* VM and listen ports: the socket; -1 once the peer is gone */
    bool out_armed; /* EPOLLOUT is watched */
    bool doomed;    /* a listen port whose peer left: removed after the round */
    Uplink *uplink; /* uplinks only */
    uint64_t oversize, oversize_bytes; /* frames longer than NET_MAX_FRAME, dropped */
    uint64_t bad_ring_msgs;            /* descriptors sent with something not a ring request */
    NetRingPair ring;                  /* ring.map set: frames go through the rings */
    int ring_efd;                      /* the switch's doorbell for this port, in epfd; -1 */
    int peer_efd;                      /* the VMM's doorbell; -1 */
    bool kick;                         /* on the kick list: frames pushed, the VMM not rung */
    SwitchdPort *kick_next;
    SwitchdWatch w_sock, w_ring;
};

/* A frame produced while the switch was busy. */
typedef struct SwitchdDeferred {
    SwitchdPort *port;
    uint8_t *frame;
    size_t len;
} SwitchdDeferred;

struct SwitchDaemon {
    SwitchdConfig cfg;
    EventLoop *loop;
    Switch *sw;
    SwitchdPort **ports; /* uplinks first, then in the order they came */
    size_t nports, cap;
    int epfd; /* the port sockets */
    bool epfd_watched;
    TimerList *timers;
    Timer *age_timer;
    int listen_fd;
    char *listen_path;
    dev_t listen_dev;
    ino_t listen_ino;
    unsigned listen_seq; /* the N of the next listen-N */
    uint64_t started_ns;
    uint64_t removed_tx; /* frames sent by ports since removed */
    unsigned depth;      /* > 0 while switch_input runs */
    SwitchdPort *kicks;  /* ports whose VMM may need ringing (ring.tx pushed) */
    bool round;          /* a round of port events is being served */
    uint64_t round_ns;   /* when it began: the time of its frames (a clock read per frame costs) */
    SwitchdDeferred defer[SWITCHD_DEFER_MAX];
    unsigned defer_head, defer_len;
    uint8_t buf[NET_MAX_FRAME + 1]; /* one more: a longer frame is seen, and dropped */
};

/* ---- the port table ---- */

static SwitchdPort *switchd_find(SwitchDaemon *d, const char *name)
{
    for (size_t i = 0; i < d->nports; i++)
        if (d->ports[i]->sp && strcmp(switch_port_config(d->ports[i]->sp)->name, name) == 0)
            return d->ports[i];
    return NULL;
}

static int switchd_append(SwitchDaemon *d, SwitchdPort *p, Error *err)
{
    if (d->nports == d->cap) {
        size_t cap = d->cap ? 2 * d->cap : 16;
        SwitchdPort **np = realloc(d->ports, cap * sizeof(*np));
        if (!np)
            return error_set(err, "out of memory adding a port");
        d->ports = np;
        d->cap = cap;
    }
    d->ports[d->nports++] = p;
    return 0;
}

static void port_ring_stop(SwitchdPort *p);

/* Take p off the switch and the table and free it (never inside a round or an input). */
static void switchd_drop(SwitchDaemon *d, SwitchdPort *p)
{
    for (size_t i = 0; i < d->nports; i++) {
        if (d->ports[i] == p) {
            memmove(d->ports + i, d->ports + i + 1, (d->nports - i - 1) * sizeof(*d->ports));
            d->nports--;
            break;
        }
    }
    if (p->sp) {
        SwitchPortStats st;
        switch_port_stats(p->sp, &st);
        d->removed_tx += st.tx_frames;
        switch_port_remove(d->sw, p->sp);
        p->sp = NULL; /* an uplink that still sends while it is freed is not switched */
    }
    port_ring_stop(p);
    if (p->fd >= 0) {
        epoll_ctl(d->epfd, EPOLL_CTL_DEL, p->fd, NULL);
        close(p->fd);
    }
    uplink_free(p->uplink);
    free(p);
}

/* Remove the listen ports whose peers left, once nothing refers to them. */
static void switchd_reap(SwitchDaemon *d)
{
    if (d->depth || d->round)
        return;
    for (size_t i = d->nports; i-- > 0;)
        if (d->ports[i]->doomed)
            switchd_drop(d, d->ports[i]);
}

/* ---- frames into the switch ---- */

static void switchd_defer(SwitchDaemon *d, SwitchdPort *p, const uint8_t *frame, size_t len)
{
    uint8_t *copy = d->defer_len < SWITCHD_DEFER_MAX ? malloc(len ? len : 1) : NULL;
    if (!copy)
        return; /* as a full wire: the sender's protocol copes */
    memcpy(copy, frame, len);
    d->defer[(d->defer_head + d->defer_len++) % SWITCHD_DEFER_MAX] =
        (SwitchdDeferred){.port = p, .frame = copy, .len = len};
}

/* Ring the doorbells of the VMMs that got frames and sleep (once per round, not per frame). */
static void switchd_ring_doorbells(SwitchDaemon *d)
{
    while (d->kicks) {
        SwitchdPort *p = d->kicks;
        d->kicks = p->kick_next;
        p->kick = false;
        p->kick_next = NULL;
        if (p->ring.map && net_ring_push_done(&p->ring.tx))
            net_ring_kick(p->peer_efd);
    }
}

/* A frame port p received: switch it, and whatever it caused an uplink to produce. */
static void switchd_input(SwitchDaemon *d, SwitchdPort *p, const uint8_t *frame, size_t len)
{
    if (!p->sp)
        return;
    if (d->depth) {
        switchd_defer(d, p, frame, len);
        return;
    }
    d->depth++;
    uint64_t now = d->round ? d->round_ns : timer_now_ns();
    switch_input(d->sw, p->sp, frame, len, now);
    while (d->defer_len) {
        SwitchdDeferred f = d->defer[d->defer_head];
        d->defer_head = (d->defer_head + 1) % SWITCHD_DEFER_MAX;
        d->defer_len--;
        switch_input(d->sw, f.port->sp, f.frame, f.len, now);
        free(f.frame);
    }
    d->depth--;
    if (!d->round)
        switchd_ring_doorbells(d);
    switchd_reap(d);
}

/* UplinkInputFn: a frame from outside. */
static void switchd_uplink_input(void *opaque, const uint8_t *frame, size_t len)
{
    SwitchdPort *p = opaque;
    switchd_input(p->d, p, frame, len);
}

/* ---- socket ports ---- */

static void port_watch(SwitchdPort *p, bool out)
{
    struct epoll_event ev = {.events = EPOLLIN | (out ? EPOLLOUT : 0), .data.ptr = &p->w_sock};
    if (p->fd >= 0 && epoll_ctl(p->d->epfd, EPOLL_CTL_MOD, p->fd, &ev) == 0)
        p->out_armed = out;
}

/* The peer is gone: stop watching and close; a listen port is removed after the round. */
static void port_hangup(SwitchdPort *p)
{
    if (p->fd < 0)
        return;
    const char *name = switch_port_config(p->sp)->name;
    log_info("port %s: the peer hung up%s", name,
             p->kind == SWITCHD_PORT_LISTEN ? "; port removed" : "; link down until removed");
    epoll_ctl(p->d->epfd, EPOLL_CTL_DEL, p->fd, NULL);
    close(p->fd);
    p->fd = -1;
    p->out_armed = false;
    port_ring_stop(p);
    p->doomed = p->kind == SWITCHD_PORT_LISTEN;
}

/* ---- rings ---- */

/* The VMM broke the ring protocol: the port hangs up (a VM port's link goes down). */
static void port_ring_broken(SwitchdPort *p)
{
    log_warn("port %s: the peer broke the ring protocol; hanging up",
             switch_port_config(p->sp)->name);
    port_hangup(p);
}

static void port_ring_stop(SwitchdPort *p)
{
    if (!p->ring.map)
        return;
    if (p->kick) { /* off the kick list */
        SwitchdPort **q = &p->d->kicks;
        while (*q != p)
            q = &(*q)->kick_next;
        *q = p->kick_next;
        p->kick = false;
    }
    epoll_ctl(p->d->epfd, EPOLL_CTL_DEL, p->ring_efd, NULL);
    close(p->ring_efd);
    close(p->peer_efd);
    p->ring_efd = p->peer_efd = -1;
    net_ring_detach(&p->ring);
}

/*
 * A frame for the VMM, into its down ring: as port_output says.  Flooded
 * frames take at most SWITCHD_RING_FLOOD_BYTES of the ring: the frames in
 * a ring are read in order, so a broadcast storm that filled it would put
 * thousands of its frames ahead of every unicast frame for the VM; beyond
 * that they wait in the port's queue, behind unicast (switch.c).
 */
static int port_ring_output(SwitchdPort *p, const uint8_t *frame, size_t len, bool flooded)
{
    if (flooded && net_ring_used(&p->ring.tx) > SWITCHD_RING_FLOOD_BYTES) {
        if (!net_ring_wait_space(&p->ring.tx, p->ring.tx.size)) /* rung when it empties */
            return 0;
    }
    NetRingResult r = net_ring_push(&p->ring.tx, frame, len);
    if (r == NET_RING_EMPTY && net_ring_wait_space(&p->ring.tx, len))
        r = net_ring_push(&p->ring.tx, frame, len);
    if (r == NET_RING_EMPTY)
        return 0; /* queued; the VMM rings us when it has made room */
    if (r == NET_RING_BROKEN) {
        port_ring_broken(p);
        return -1;
    }
    if (!p->kick) {
        p->kick = true;
        p->kick_next = p->d->kicks;
        p->d->kicks = p;
    }
    return 1;
}

/*
 * The port's doorbell rang: the VMM made room in the down ring (send what
 * waits in the port's queue) or pushed frames up (switch up to
 * SWITCHD_RING_BATCH of them; more are left for the next round, so every
 * port gets its turn).
 */
static void port_ring_ready(SwitchdPort *p)
{
    SwitchDaemon *d = p->d;
    net_ring_drain(p->ring_efd);
    net_ring_busy(&p->ring.rx);
    if (switch_port_pending(p->sp))
        switch_port_flush(d->sw, p->sp);
    int i = 0;
    for (; i < SWITCHD_RING_BATCH && p->ring.map; i++) {
        size_t len;
        NetRingResult r = net_ring_pop(&p->ring.rx, d->buf, sizeof(d->buf), &len);
        if (r == NET_RING_EMPTY)
            break;
        if (r == NET_RING_BROKEN) {
            port_ring_broken(p);
            return;
        }
        switchd_input(d, p, d->buf, len);
    }
    if (!p->ring.map)
        return;
    if (i > 0 && net_ring_pop_done(&p->ring.rx))
        net_ring_kick(p->peer_efd);
    if (i == SWITCHD_RING_BATCH || !net_ring_idle(&p->ring.rx))
        net_ring_kick(p->ring_efd); /* more: come back next round */
}

/* Create the rings and the doorbell, and answer the VMM's request on its socket. */
static int port_ring_start(SwitchdPort *p, int peer_efd, Error *err)
{
    int memfd = -1;
    if (net_ring_create(&p->ring, NET_RING_BYTES, &memfd, err) < 0)
        return -1;
    p->ring_efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = &p->w_ring};
    if (p->ring_efd < 0 || epoll_ctl(p->d->epfd, EPOLL_CTL_ADD, p->ring_efd, &ev) < 0 ||
        net_ring_send_accept(p->fd, memfd, p->ring_efd, NET_RING_BYTES) < 0) {
        error_set_errno(err, errno, "cannot set up the ring");
        if (p->ring_efd >= 0) {
            epoll_ctl(p->d->epfd, EPOLL_CTL_DEL, p->ring_efd, NULL);
            close(p->ring_efd);
        }
        p->ring_efd = -1;
        close(memfd);
        net_ring_detach(&p->ring);
        return -1;
    }
    close(memfd); /* the VMM has it, and the mapping keeps it here */
    p->peer_efd = peer_efd;
    return 0;
}

/* A message with descriptors on p's socket: a ring request, or refused (and counted). */
static void port_ring_request(SwitchdPort *p, size_t n, int *fds, int nfds)
{
    const char *name = switch_port_config(p->sp)->name;
    int efd;
    if (p->ring.map || n > NET_RING_MSG_LEN ||
        !net_ring_parse_request(p->d->buf, n, fds, nfds, &efd)) {
        net_ring_close_fds(fds, nfds);
        if (!p->bad_ring_msgs++)
            log_warn("port %s: descriptors came with something that is not a ring request "
                     "(ignored; further ones are counted)",
                     name);
        return;
    }
    Error err = {0};
    if (port_ring_start(p, efd, &err) < 0) {
        close(efd);
        log_warn("port %s: %s; frames stay on the socket", name, err.msg);
        return;
    }
    log_info("port %s: frames go through shared-memory rings", name);
}

/* SwitchOutputFn of socket ports. */
static int port_output(void *opaque, const uint8_t *frame, size_t len, bool flooded)
{
    SwitchdPort *p = opaque;
    if (p->fd < 0)
        return -1;
    if (p->ring.map)
        return port_ring_output(p, frame, len, flooded);
    ssize_t n;
    do
        n = send(p->fd, frame, len, MSG_DONTWAIT | MSG_NOSIGNAL);
    while (n < 0 && errno == EINTR);
    if (n >= 0)
        return 1;
    if (errno == EAGAIN || errno == EWOULDBLOCK) {
        if (!p->out_armed)
            port_watch(p, true);
        return 0;
    }
    if (errno == EPIPE || errno == ECONNRESET || errno == ENOTCONN || errno == ECONNREFUSED) {
        port_hangup(p);
        return -1;
    }
    return 1; /* ENOBUFS and the like: lost, as on a wire */
}

/* SwitchOutputFn of uplinks. */
static int port_uplink_output(void *opaque, const uint8_t *frame, size_t len, bool flooded)
{
    (void)flooded;
    SwitchdPort *p = opaque;
    return uplink_output(p->uplink, frame, len);
}

/* Up to SWITCHD_READ_BATCH frames from p's socket into the switch. */
static void port_read(SwitchdPort *p)
{
    SwitchDaemon *d = p->d;
    for (int i = 0; i < SWITCHD_READ_BATCH && p->fd >= 0; i++) {
        int fds[NET_RING_MAX_FDS], nfds;
        ssize_t n = net_ring_recv(p->fd, d->buf, sizeof(d->buf), fds, &nfds);
        if (n > 0 && nfds > 0) {
            port_ring_request(p, (size_t)n, fds, nfds);
            continue;
        }
        net_ring_close_fds(fds, nfds);
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return;
        if (n <= 0) { /* 0: the peer has gone (the protocol sends no empty frame) */
            port_hangup(p);
            return;
        }
        if ((size_t)n > NET_MAX_FRAME) {
            p->oversize++;
            p->oversize_bytes += (uint64_t)n;
            continue;
        }
        switchd_input(d, p, d->buf, (size_t)n);
    }
}

/* Its queue can move again: send from it, and stop watching once it is empty. */
static void port_flush(SwitchdPort *p)
{
    switch_port_flush(p->d->sw, p->sp);
    if (p->fd >= 0 && !switch_port_pending(p->sp))
        port_watch(p, false);
}

/* Event-loop handler: some port sockets are ready. */
static void switchd_ports_ready(void *opaque, uint32_t events)
{
    SwitchDaemon *d = opaque;
    struct epoll_event evs[SWITCHD_EPOLL_BATCH];
    int n = epoll_wait(d->epfd, evs, SWITCHD_EPOLL_BATCH, 0);
    d->round = true;
    d->round_ns = timer_now_ns();
    for (int i = 0; i < n; i++) {
        SwitchdWatch *w = evs[i].data.ptr;
        SwitchdPort *p = w->p;
        if (w->ring) {
            if (p->ring.map)
                port_ring_ready(p);
            continue;
        }
        if ((evs[i].events & EPOLLOUT) && p->fd >= 0)
            port_flush(p);
        if ((evs[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR)) && p->fd >= 0)
            port_read(p);
    }
    switchd_ring_doorbells(d);
    d->round = false;
    switchd_reap(d);
}

/* Check that fd is a connected SOCK_SEQPACKET unix socket. Returns 0, or -1 with err filled. */
static int port_fd_check(int fd, Error *err)
{
    int type = 0, domain = 0, listening = 0;
    socklen_t len = sizeof(int);
    if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) < 0)
        return error_set(err, "the file descriptor is not a socket (%s)", strerror(errno));
    len = sizeof(int);
    getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &domain, &len);
    len = sizeof(int);
    getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &len);
    struct sockaddr_un peer;
    socklen_t plen = sizeof(peer);
    if (domain != AF_UNIX || type != SOCK_SEQPACKET)
        return error_set(err, "the file descriptor is not a unix SOCK_SEQPACKET socket");
    if (listening || getpeername(fd, (struct sockaddr *)&peer, &plen) < 0)
        return error_set(err, "the socket is not connected");
    return 0;
}

/* A socket port of kind on fd (taken; closed on failure). */
static int port_add_socket(SwitchDaemon *d, const SwitchPortConfig *pc, SwitchdPortKind kind,
                           int fd, Error *err)
{
    SwitchdPort *p = calloc(1, sizeof(*p));
    if (!p) {
        close(fd);
        return error_set(err, "out of memory adding port %s", pc->name);
    }
    *p = (SwitchdPort){.d = d, .kind = kind, .fd = -1, .ring_efd = -1, .peer_efd = -1};
    p->w_sock = (SwitchdWatch){.p = p};
    p->w_ring = (SwitchdWatch){.p = p, .ring = true};
    int fl = fcntl(fd, F_GETFL);
    if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0 || fcntl(fd, F_SETFD, FD_CLOEXEC) < 0) {
        close(fd);
        free(p);
        return error_set_errno(err, errno, "port %s: cannot use the socket", pc->name);
    }
    p->sp = switch_port_add(d->sw, pc, port_output, p, err);
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = &p->w_sock};
    if (!p->sp || switchd_append(d, p, err) < 0) {
        close(fd);
        if (p->sp)
            switch_port_remove(d->sw, p->sp);
        free(p);
        return -1;
    }
    if (epoll_ctl(d->epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
        error_set_errno(err, errno, "port %s: cannot watch the socket", pc->name);
        close(fd);
        switchd_drop(d, p);
        return -1;
    }
    p->fd = fd;
    return 0;
}

int switchd_port_add(SwitchDaemon *d, const SwitchPortConfig *pc, int fd, Error *err)
{
    if (fd < 0)
        return error_set(err, "add-port needs a socket (pass one with the request)");
    if (port_fd_check(fd, err) < 0) {
        close(fd);
        return -1;
    }
    return port_add_socket(d, pc, SWITCHD_PORT_VM, fd, err);
}

/* A port the control socket may change: a VM or listen port. */
static SwitchdPort *switchd_find_changeable(SwitchDaemon *d, const char *name, Error *err)
{
    SwitchdPort *p = switchd_find(d, name);
    if (!p)
        error_set(err, "no port named %s", name);
    else if (p->kind == SWITCHD_PORT_UPLINK)
        error_set(err, "port %s is an uplink (it comes from the configuration)", name);
    else
        return p;
    return NULL;
}

int switchd_port_remove(SwitchDaemon *d, const char *name, Error *err)
{
    SwitchdPort *p = switchd_find_changeable(d, name, err);
    if (!p)
        return -1;
    switchd_drop(d, p);
    return 0;
}

int switchd_port_set(SwitchDaemon *d, const SwitchPortConfig *pc, Error *err)
{
    SwitchdPort *p = switchd_find_changeable(d, pc->name, err);
    if (!p)
        return -1;
    return switch_port_set_config(d->sw, p->sp, pc, err);
}

/* ---- the listening socket ---- */

/* Event-loop handler: a connection on --listen becomes port listen-N. */
static void switchd_accept(void *opaque, uint32_t events)
{
    SwitchDaemon *d = opaque;
    int fd = accept4(d->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0)
        return;
    char name[SWITCH_NAME_MAX];
    do
        snprintf(name, sizeof(name), "listen-%u", d->listen_seq++);
    while (switchd_find(d, name));
    SwitchPortConfig pc;
    switch_port_config_default(&pc, name);
    Error err = {0};
    if (port_add_socket(d, &pc, SWITCHD_PORT_LISTEN, fd, &err) < 0)
        log_warn("a connection on %s was refused: %s", d->listen_path, err.msg);
    else
        log_info("port %s: connected on %s", name, d->listen_path);
}

/* 1 if somebody listens at path, 0 if not (a stale socket), -1 with err filled. */
static int listen_path_live(const char *path, const struct sockaddr_un *a, Error *err)
{
    struct stat st;
    if (lstat(path, &st) < 0)
        return errno == ENOENT ? 0 : error_set_errno(err, errno, "cannot inspect %s", path);
    if (!S_ISSOCK(st.st_mode))
        return error_set(err, "%s exists and is not a socket: not replacing it", path);
    int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return error_set_errno(err, errno, "cannot create a socket");
    int rc = connect(fd, (const struct sockaddr *)a, sizeof(*a));
    int e = errno;
    close(fd);
    if (rc == 0)
        return error_set(err, "somebody already listens on %s", path);
    if (e != ECONNREFUSED && e != EPROTOTYPE)
        return error_set_errno(err, e, "cannot check whether %s is in use", path);
    return 0;
}

/* Bind fd to path (0600), replacing a stale socket file. */
static int listen_bind(int fd, const char *path, Error *err)
{
    struct sockaddr_un a = {.sun_family = AF_UNIX};
    if (strlen(path) >= sizeof(a.sun_path))
        return error_set(err, "socket path %s is too long (at most %zu bytes)", path,
                         sizeof(a.sun_path) - 1);
    strcpy(a.sun_path, path);
    if (bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0) {
        if (errno != EADDRINUSE)
            return error_set_errno(err, errno, "cannot bind %s", path);
        if (listen_path_live(path, &a, err) < 0)
            return -1;
        if (unlink(path) < 0 && errno != ENOENT)
            return error_set_errno(err, errno, "cannot remove the stale socket %s", path);
        if (bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0)
            return error_set_errno(err, errno, "cannot bind %s", path);
    }
    if (chmod(path, 0600) < 0) {
        int e = errno;
        unlink(path);
        return error_set_errno(err, e, "cannot set the mode of %s", path);
    }
    return 0;
}

int switchd_listen(SwitchDaemon *d, const char *path, Error *err)
{
    if (d->listen_fd >= 0)
        return error_set(err, "the switch listens already");
    int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return error_set_errno(err, errno, "cannot create a socket");
    struct stat st;
    if (listen_bind(fd, path, err) < 0) {
        close(fd);
        return -1;
    }
    if (stat(path, &st) < 0 || listen(fd, SWITCHD_LISTEN_BACKLOG) < 0 ||
        !(d->listen_path = strdup(path))) {
        int e = errno;
        close(fd);
        unlink(path);
        return error_set_errno(err, e, "cannot listen on %s", path);
    }
    if (evloop_add_fd(d->loop, fd, EPOLLIN, switchd_accept, d, err) < 0) {
        close(fd);
        unlink(path);
        free(d->listen_path);
        d->listen_path = NULL;
        return -1;
    }
    d->listen_fd = fd;
    d->listen_dev = st.st_dev;
    d->listen_ino = st.st_ino;
    return 0;
}

static void switchd_unlisten(SwitchDaemon *d)
{
    if (d->listen_fd < 0)
        return;
    evloop_del_fd(d->loop, d->listen_fd);
    close(d->listen_fd);
    struct stat st;
    if (lstat(d->listen_path, &st) == 0 && st.st_dev == d->listen_dev && st.st_ino == d->listen_ino)
        unlink(d->listen_path);
    free(d->listen_path);
    d->listen_fd = -1;
}

/* ---- uplinks ---- */

static int switchd_add_uplink(SwitchDaemon *d, const UplinkConfig *uc, Error *err)
{
    SwitchdPort *p = calloc(1, sizeof(*p));
    if (!p)
        return error_set(err, "out of memory adding uplink %s", uc->name);
    *p = (SwitchdPort){
        .d = d, .kind = SWITCHD_PORT_UPLINK, .fd = -1, .ring_efd = -1, .peer_efd = -1};
    UplinkEnv env = {.loop = d->loop,
                     .input = switchd_uplink_input,
                     .input_opaque = p,
                     .ageing_s = d->cfg.ageing_s,
                     .max_macs = d->cfg.fdb_max};
    SwitchPortConfig pc;
    uplink_port_config(uc, &pc);
    if (!(p->uplink = uplink_new(uc, &env, err)) ||
        !(p->sp = switch_port_add(d->sw, &pc, port_uplink_output, p, err)) ||
        switchd_append(d, p, err) < 0) {
        if (p->sp)
            switch_port_remove(d->sw, p->sp);
        uplink_free(p->uplink);
        free(p);
        return -1;
    }
    return 0;
}

const UplinkConfig *switchd_uplink_config(SwitchDaemon *d, const char *name, UplinkKind kind,
                                          Error *err)
{
    for (unsigned i = 0; i < d->cfg.nuplinks; i++) {
        const UplinkConfig *u = &d->cfg.uplinks[i];
        if (name ? strcmp(u->name, name) != 0 : u->kind != kind)
            continue;
        if (u->kind == kind)
            return u;
        error_set(err, "%s is a %s uplink, not a %s one", name, uplink_kind_name(u->kind),
                  uplink_kind_name(kind));
        return NULL;
    }
    if (name)
        error_set(err, "no uplink named %s", name);
    else
        error_set(err, "the switch has no %s uplink", uplink_kind_name(kind));
    return NULL;
}

int switchd_uplink_set_forwards(SwitchDaemon *d, const char *name, const NetHostFwd *fwd,
                                unsigned nfwd, Error *err)
{
    SwitchdPort *p = switchd_find(d, name);
    if (!p || !p->uplink)
        return error_set(err, "no uplink named %s", name);
    if (nfwd > NET_MAX_HOSTFWD)
        return error_set(err, "at most %d forwards", NET_MAX_HOSTFWD);
    if (uplink_set_forwards(p->uplink, fwd, nfwd, err) < 0)
        return -1;
    for (unsigned i = 0; i < d->cfg.nuplinks; i++) { /* what the uplink is now */
        UplinkConfig *u = &d->cfg.uplinks[i];
        if (strcmp(u->name, name) == 0) {
            memcpy(u->slirp.fwd, fwd, nfwd * sizeof(*fwd));
            u->slirp.nfwd = nfwd;
        }
    }
    return 0;
}

/* ---- ageing ---- */

static void switchd_age(void *opaque)
{
    SwitchDaemon *d = opaque;
    uint64_t now = timer_now_ns();
    switch_age(d->sw, now);
    for (size_t i = 0; i < d->nports; i++)
        if (d->ports[i]->uplink)
            uplink_age(d->ports[i]->uplink, now);
    timer_mod(d->age_timer, now + SWITCHD_AGE_NS);
}

/* ---- the daemon ---- */

static int switchd_start(SwitchDaemon *d, Error *err)
{
    SwitchConfig sc = {.ageing_s = d->cfg.ageing_s, .fdb_max = d->cfg.fdb_max};
    if (!(d->sw = switch_new(&sc, err)))
        return -1;
    d->epfd = epoll_create1(EPOLL_CLOEXEC);
    if (d->epfd < 0)
        return error_set_errno(err, errno, "cannot create an epoll set");
    if (evloop_add_fd(d->loop, d->epfd, EPOLLIN, switchd_ports_ready, d, err) < 0)
        return -1;
    d->epfd_watched = true;
    if (!(d->timers = timer_list_new(d->loop, err)) ||
        !(d->age_timer = timer_new(d->timers, switchd_age, d, err)))
        return -1;
    timer_mod(d->age_timer, timer_now_ns() + SWITCHD_AGE_NS);
    for (unsigned i = 0; i < d->cfg.nuplinks; i++)
        if (switchd_add_uplink(d, &d->cfg.uplinks[i], err) < 0)
            return -1;
    return 0;
}

SwitchDaemon *switchd_new(const SwitchdConfig *cfg, EventLoop *loop, Error *err)
{
    SwitchDaemon *d = calloc(1, sizeof(*d));
    if (!d) {
        error_set(err, "out of memory creating the switch");
        return NULL;
    }
    d->cfg = *cfg;
    d->loop = loop;
    d->epfd = -1;
    d->listen_fd = -1;
    d->started_ns = timer_now_ns();
    if (switchd_start(d, err) < 0) {
        switchd_free(d);
        return NULL;
    }
    return d;
}

void switchd_free(SwitchDaemon *d)
{
    if (!d)
        return;
    switchd_unlisten(d);
    while (d->nports)
        switchd_drop(d, d->ports[d->nports - 1]);
    while (d->defer_len) {
        free(d->defer[d->defer_head].frame);
        d->defer_head = (d->defer_head + 1) % SWITCHD_DEFER_MAX;
        d->defer_len--;
    }
    timer_list_free(d->timers);
    if (d->epfd_watched)
        evloop_del_fd(d->loop, d->epfd);
    if (d->epfd >= 0)
        close(d->epfd);
    switch_free(d->sw);
    free(d->ports);
    free(d);
}

/* ---- queries ---- */

static void port_info(SwitchdPort *p, SwitchdPortInfo *info)
{
    static const char *const kinds[] = {[SWITCHD_PORT_VM] = "vm", [SWITCHD_PORT_LISTEN] = "listen"};
    *info = (SwitchdPortInfo){.port_kind = p->kind, .cfg = switch_port_config(p->sp)};
    info->kind = p->uplink ? p->uplink->ops->kind : kinds[p->kind];
    switch_port_stats(p->sp, &info->stats);
    info->stats.rx_frames += p->oversize;
    info->stats.rx_bytes += p->oversize_bytes;
    info->stats.drop_malformed += p->oversize;
    info->link_up = p->uplink || p->fd >= 0;
    info->transport = p->uplink ? NULL : p->ring.map ? "ring" : "socket";
    if (p->uplink)
        info->ncounters = uplink_counters(p->uplink, info->counters, UPLINK_MAX_COUNTERS);
}

bool switchd_port_info(SwitchDaemon *d, const char *name, SwitchdPortInfo *info)
{
    SwitchdPort *p = switchd_find(d, name);
    if (p)
        port_info(p, info);
    return p != NULL;
}

void switchd_port_foreach(SwitchDaemon *d, void (*fn)(void *opaque, const SwitchdPortInfo *p),
                          void *opaque)
{
    for (size_t i = 0; i < d->nports; i++) {
        SwitchdPortInfo info;
        port_info(d->ports[i], &info);
        fn(opaque, &info);
    }
}

typedef struct FdbWalk {
    void (*fn)(void *opaque, const SwitchdFdbEntry *e);
    void *opaque;
    uint64_t now;
} FdbWalk;

static void fdb_entry(void *opaque, const SwitchFdbEntry *e)
{
    FdbWalk *w = opaque;
    SwitchdFdbEntry out = {
        .vlan = e->vlan,
        .port = switch_port_config(e->port)->name,
        .age_ns = w->now > e->last_seen_ns ? w->now - e->last_seen_ns : 0,
    };
    memcpy(out.mac, e->mac, NET_MAC_LEN);
    w->fn(w->opaque, &out);
}

void switchd_fdb_foreach(SwitchDaemon *d, void (*fn)(void *opaque, const SwitchdFdbEntry *e),
                         void *opaque)
{
    FdbWalk w = {.fn = fn, .opaque = opaque, .now = timer_now_ns()};
    switch_fdb_foreach(d->sw, fdb_entry, &w);
}

void switchd_status(SwitchDaemon *d, SwitchdStatus *st)
{
    *st = (SwitchdStatus){.name = d->cfg.name,
                          .ports = d->nports,
                          .uptime_ns = timer_now_ns() - d->started_ns,
                          .forwarded = d->removed_tx};
    for (size_t i = 0; i < d->nports; i++) {
        SwitchPortStats ps;
        switch_port_stats(d->ports[i]->sp, &ps);
        st->forwarded += ps.tx_frames;
    }
}
