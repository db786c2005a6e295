/*
 * The vxlan uplink: the switch's frames in VXLAN (RFC 7348, net/vxlan.h)
 * over one UDP socket (IPv4) to a static list of peers, the other hosts of
 * the network.  It interoperates with Linux's vxlan device
 * (`ip link add vx0 type vxlan id VNI remote ADDR dstport 4789`).
 *
 *   out: a frame for a unicast address learned behind one peer goes to
 *        that peer; any other (broadcast, multicast, unknown) is copied to
 *        every peer (head-end replication);
 *   in:  datagrams from an address outside the peer list (any source port:
 *        Linux picks one per flow), too short, without the I flag or of
 *        another VNI are dropped and counted; the others' inner source
 *        address is learned behind the sender, and the frame goes to the
 *        switch.
 *
 * Outer packets are sent without DF, so an inner frame of a full MTU
 * crosses an underlay of the same MTU in fragments (the receiving kernel
 * reassembles them), as Linux's device does by default.  A datagram the
 * socket cannot send now is dropped and counted (tx-errors); a tunnel does
 * not queue.  IPv6 underlays are not supported.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "net/uplink.h"
#include "net/vxlan.h"
#include "util/compiler.h"
#include "util/log.h"
#include "util/timer.h"

#define VXLAN_READ_BATCH 64           /* datagrams per wake-up */
#define VXLAN_SOCKET_BUFFER (4 << 20) /* bytes of send and receive buffer asked for */

typedef struct UplinkVxlan {
    Uplink up; /* first: container_of */
    EventLoop *loop;
    int fd;
    bool watched;
    char name[SWITCH_NAME_MAX];
    uint32_t vni;
    UplinkPeer peers[UPLINK_VXLAN_MAX_PEERS];
    unsigned npeers;
    VxlanMacTable *macs; /* remote address -> peer index */
    uint64_t rx_packets, tx_packets;
    uint64_t drop_peer, drop_vni, drop_malformed, tx_errors;
    bool tx_error_logged;
    uint8_t buf[VXLAN_HDR_LEN + NET_MAX_FRAME + 1]; /* one more: a longer one is seen */
} UplinkVxlan;

static UplinkVxlan *vxlan_of(Uplink *u)
{
    return container_of(u, UplinkVxlan, up);
}

/* ---- out ---- */

static void vxlan_send_to(UplinkVxlan *v, unsigned peer, const uint8_t *frame, size_t len)
{
    uint8_t hdr[VXLAN_HDR_LEN];
    vxlan_encode(hdr, v->vni);
    struct sockaddr_in to = {.sin_family = AF_INET,
                             .sin_addr = v->peers[peer].addr,
                             .sin_port = htons(v->peers[peer].port)};
    struct iovec iov[2] = {{hdr, sizeof(hdr)}, {(void *)frame, len}};
    struct msghdr msg = {
        .msg_name = &to, .msg_namelen = sizeof(to), .msg_iov = iov, .msg_iovlen = 2};
    ssize_t n;
    do
        n = sendmsg(v->fd, &msg, MSG_DONTWAIT | MSG_NOSIGNAL);
    while (n < 0 && errno == EINTR);
    if (n >= 0) {
        v->tx_packets++;
        return;
    }
    v->tx_errors++;
    if (!v->tx_error_logged) {
        v->tx_error_logged = true;
        log_warn("uplink %s: sending to %s:%u failed: %s (further failures are counted, not "
                 "logged)",
                 v->name, inet_ntoa(v->peers[peer].addr), v->peers[peer].port, strerror(errno));
    }
}

static int vxlan_output(Uplink *u, const uint8_t *frame, size_t len)
{
    UplinkVxlan *v = vxlan_of(u);
    int peer = -1;
    if (len >= NET_MAC_LEN && !(frame[0] & 1))
        peer = vxlan_macs_lookup(v->macs, frame, timer_now_ns());
    if (peer >= 0) {
        vxlan_send_to(v, (unsigned)peer, frame, len);
        return 1;
    }
    for (unsigned i = 0; i < v->npeers; i++)
        vxlan_send_to(v, i, frame, len);
    return 1;
}

/* ---- in ---- */

static int vxlan_peer_of(const UplinkVxlan *v, struct in_addr a)
{
    for (unsigned i = 0; i < v->npeers; i++)
        if (v->peers[i].addr.s_addr == a.s_addr)
            return (int)i;
    return -1;
}

/* One datagram of len bytes in v->buf from from. */
static void vxlan_datagram(UplinkVxlan *v, const struct sockaddr_in *from, size_t len)
{
    int peer = vxlan_peer_of(v, from->sin_addr);
    uint32_t vni = 0;
    if (peer < 0) {
        v->drop_peer++;
        return;
    }
    if (len > VXLAN_HDR_LEN + NET_MAX_FRAME || vxlan_decode(v->buf, len, &vni) != VXLAN_OK) {
        v->drop_malformed++;
        return;
    }
    if (vni != v->vni) {
        v->drop_vni++;
        return;
    }
    v->rx_packets++;
    const uint8_t *frame = v->buf + VXLAN_HDR_LEN;
    vxlan_macs_learn(v->macs, frame + NET_MAC_LEN, (unsigned)peer, timer_now_ns());
    uplink_input(&v->up, frame, len - VXLAN_HDR_LEN);
}

/* Event-loop handler: datagrams wait on the socket. */
static void vxlan_readable(void *opaque, uint32_t events)
{
    UplinkVxlan *v = opaque;
    for (int i = 0; i < VXLAN_READ_BATCH; i++) {
        struct sockaddr_in from;
        socklen_t fromlen = sizeof(from);
        ssize_t n = recvfrom(v->fd, v->buf, sizeof(v->buf), MSG_DONTWAIT | MSG_TRUNC,
                             (struct sockaddr *)&from, &fromlen);
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return;
        if (n < 0)
            continue; /* an ICMP error for an earlier send, reported once: go on */
        if (fromlen < sizeof(from) || from.sin_family != AF_INET)
            continue;
        vxlan_datagram(v, &from, (size_t)n);
    }
}

/* ---- the uplink ---- */

static void vxlan_age(Uplink *u, uint64_t now_ns)
{
    vxlan_macs_age(vxlan_of(u)->macs, now_ns);
}

static size_t vxlan_counters(Uplink *u, UplinkCounter *out, size_t max)
{
    UplinkVxlan *v = vxlan_of(u);
    UplinkCounter c[] = {
        {"rx-packets", v->rx_packets},
        {"tx-packets", v->tx_packets},
        {"drop-peer", v->drop_peer},
        {"drop-vni", v->drop_vni},
        {"drop-malformed", v->drop_malformed},
        {"tx-errors", v->tx_errors},
        {"remote-macs", vxlan_macs_count(v->macs)},
    };
    size_t n = ARRAY_SIZE(c) < max ? ARRAY_SIZE(c) : max;
    memcpy(out, c, n * sizeof(*c));
    return n;
}

static void vxlan_free(Uplink *u)
{
    UplinkVxlan *v = vxlan_of(u);
    if (v->watched)
        evloop_del_fd(v->loop, v->fd);
    if (v->fd >= 0)
        close(v->fd);
    vxlan_macs_free(v->macs);
    free(v);
}

static const UplinkOps vxlan_ops = {
    .kind = "vxlan",
    .output = vxlan_output,
    .age = vxlan_age,
    .counters = vxlan_counters,
    .free = vxlan_free,
};

/* The socket: non-blocking, bound to local:port, no DF. Returns 0 or -1 with err filled. */
static int vxlan_socket(UplinkVxlan *v, const UplinkConfig *cfg, Error *err)
{
    v->fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (v->fd < 0)
        return error_set_errno(err, errno, "uplink %s: cannot create a UDP socket", v->name);
    int dont = IP_PMTUDISC_DONT;
    setsockopt(v->fd, IPPROTO_IP, IP_MTU_DISCOVER, &dont, sizeof(dont));
    /* a burst of a VM's TCP window must not overflow the default buffers (the kernel drops
       what does not fit, and TCP in the guests retransmits): as large as we may have them */
    int big = VXLAN_SOCKET_BUFFER;
    if (setsockopt(v->fd, SOL_SOCKET, SO_RCVBUFFORCE, &big, sizeof(big)) < 0)
        setsockopt(v->fd, SOL_SOCKET, SO_RCVBUF, &big, sizeof(big)); /* capped by rmem_max */
    if (setsockopt(v->fd, SOL_SOCKET, SO_SNDBUFFORCE, &big, sizeof(big)) < 0)
        setsockopt(v->fd, SOL_SOCKET, SO_SNDBUF, &big, sizeof(big));
    struct sockaddr_in a = {
        .sin_family = AF_INET, .sin_addr = cfg->vxlan.local, .sin_port = htons(cfg->vxlan.port)};
    if (bind(v->fd, (struct sockaddr *)&a, sizeof(a)) < 0)
        return error_set_errno(err, errno, "uplink %s: cannot bind UDP %s:%u", v->name,
                               inet_ntoa(cfg->vxlan.local), cfg->vxlan.port);
    if (evloop_add_fd(v->loop, v->fd, EPOLLIN, vxlan_readable, v, err) < 0)
        return -1;
    v->watched = true;
    return 0;
}

Uplink *uplink_vxlan_new(const UplinkConfig *cfg, const UplinkEnv *env, Error *err)
{
    UplinkVxlan *v = calloc(1, sizeof(*v));
    if (!v) {
        error_set(err, "uplink %s: out of memory", cfg->name);
        return NULL;
    }
    v->up.ops = &vxlan_ops;
    v->loop = env->loop;
    v->fd = -1;
    snprintf(v->name, sizeof(v->name), "%s", cfg->name);
    v->vni = cfg->vxlan.vni;
    v->npeers = cfg->vxlan.npeers;
    memcpy(v->peers, cfg->vxlan.peers, sizeof(v->peers));
    uint64_t ageing_ns =
        (uint64_t)(env->ageing_s ? env->ageing_s : SWITCH_DEFAULT_AGEING) * 1000000000ull;
    v->macs = vxlan_macs_new(env->max_macs ? env->max_macs : SWITCH_DEFAULT_FDB_MAX, ageing_ns);
    if (!v->macs) {
        error_set(err, "uplink %s: out of memory", cfg->name);
        vxlan_free(&v->up);
        return NULL;
    }
    if (vxlan_socket(v, cfg, err) < 0) {
        vxlan_free(&v->up);
        return NULL;
    }
    return &v->up;
}
