/*
 * virtio-net.  Transmit: each chain on queue 1 is a 12-byte header (ignored:
 * no offloads were negotiated) followed by one Ethernet frame, copied out
 * and sent through the backend before the chain is returned.  Receive: the
 * backend calls net_receive() with a frame; it goes into the next chain of
 * queue 0 behind a zeroed header with num_buffers = 1.  Chains that break
 * the rules (a transmit chain without a whole header or with writable
 * parts, a receive chain with readable parts or no room for the header)
 * make the device broken; frames that cannot be delivered are dropped and
 * counted.
 */
#include "virtio/net.h"

#include <endian.h>
#include <stdlib.h>
#include <string.h>

#include "net/sniff.h"
#include "util/compiler.h"

typedef struct VirtioNet {
    VirtioMmio vdev; /* first: container_of */
    NetBackend *backend;
    uint8_t config[VIRTIO_NET_CFG_SIZE];
    VirtioNetStats stats;
    VirtqElem rx_elem; /* the chain being filled */
    VirtqElem tx_elem; /* the chain being sent */
    uint8_t tx_buf[NET_MAX_FRAME];
} VirtioNet;

static VirtioNet *net_of(VirtioMmio *v)
{
    return container_of(v, VirtioNet, vdev);
}

/* ---- receive (backend -> guest) ---- */

static bool net_rx_drop(VirtioNet *n)
{
    n->stats.rx_dropped++;
    return false;
}

/* Check a popped receive chain; false = the device is now broken. */
static bool net_rx_chain_ok(VirtioNet *n, const VirtqElem *e)
{
    if (e->n_out) {
        virtio_mmio_set_broken(&n->vdev, "receive chain %u has device-readable buffers", e->head);
        return false;
    }
    if (e->in_len < VIRTIO_NET_HDR_SIZE) {
        virtio_mmio_set_broken(&n->vdev, "receive chain %u is shorter than the %d-byte header",
                               e->head, VIRTIO_NET_HDR_SIZE);
        return false;
    }
    return true;
}

/* Write header + frame into e; returns the bytes written (0 if the frame does not fit). */
static uint32_t net_rx_fill(const VirtqElem *e, const uint8_t *frame, size_t len)
{
    uint8_t hdr[VIRTIO_NET_HDR_SIZE] = {0};
    uint16_t num_buffers = htole16(1);
    if (e->in_len - VIRTIO_NET_HDR_SIZE < len)
        return 0; /* the driver SHOULD post 1526-byte buffers; it gets an empty one */
    memcpy(hdr + 10, &num_buffers, 2);
    virtq_elem_write(e, 0, hdr, sizeof(hdr));
    virtq_elem_write(e, VIRTIO_NET_HDR_SIZE, frame, len);
    return (uint32_t)(VIRTIO_NET_HDR_SIZE + len);
}

/*
 * A DHCP ACK the guest receives gives it its address before it has sent
 * anything from it (net/sniff.h).
 */
static void net_learn_dhcp_ack(VirtioNet *n, const uint8_t *f, size_t len)
{
    uint8_t chaddr[NET_MAC_LEN];
    uint32_t ip;
    if (net_sniff_dhcp_ack(f, len, chaddr, &ip))
        n->stats.ipv4 = ip;
}

/* NetReceiveFn: a frame for the guest. */
static bool net_receive(void *opaque, const uint8_t *frame, size_t len)
{
    VirtioNet *n = opaque;
    Virtq *q = &n->vdev.vq[VIRTIO_NET_RXQ];
    if (!virtio_mmio_running(&n->vdev) || !q->ready || len > NET_MAX_FRAME)
        return net_rx_drop(n);
    if (virtq_pop(q, &n->rx_elem) <= 0 || !net_rx_chain_ok(n, &n->rx_elem))
        return net_rx_drop(n);
    uint32_t written = net_rx_fill(&n->rx_elem, frame, len);
    virtq_push(q, &n->rx_elem, written);
    virtio_mmio_notify_used(&n->vdev, VIRTIO_NET_RXQ);
    if (!written)
        return net_rx_drop(n);
    n->stats.rx_frames++;
    n->stats.rx_bytes += len;
    net_learn_dhcp_ack(n, frame, len);
    return true;
}

/*
 * NetCanReceiveFn: has the guest posted a receive buffer?  When the card
 * does not run, frames are taken (and dropped) as before: only a driver
 * that has buffers to post makes the backend wait.
 */
static bool net_can_receive(void *opaque)
{
    VirtioNet *n = opaque;
    Virtq *q = &n->vdev.vq[VIRTIO_NET_RXQ];
    if (!virtio_mmio_running(&n->vdev) || !q->ready)
        return true;
    return virtq_avail(q) != 0;
}

/* ---- transmit (guest -> backend) ---- */

/*
 * The guest's address as its own frames give it (an IPv4 packet's source,
 * an ARP sender's address; 0.0.0.0 of a DHCP client is not one): what a
 * management tool shows as the VM's IP without an agent in the guest, as
 * libvirt's `domifaddr --source arp` does.
 */
static void net_learn_ipv4(VirtioNet *n, const uint8_t *f, size_t len)
{
    uint32_t ip;
    if (net_sniff_source_ipv4(f, len, &ip))
        n->stats.ipv4 = ip;
}

/* Send the frame of the popped chain; false = the chain is bad (device broken). */
static bool net_tx_one(VirtioNet *n)
{
    const VirtqElem *e = &n->tx_elem;
    if (e->n_in || e->out_len < VIRTIO_NET_HDR_SIZE) {
        virtio_mmio_set_broken(&n->vdev, "transmit chain %u %s", e->head,
                               e->n_in ? "has device-writable buffers"
                                       : "is shorter than the 12-byte header");
        return false;
    }
    uint64_t len = e->out_len - VIRTIO_NET_HDR_SIZE;
    if (len > NET_MAX_FRAME) {
        n->stats.tx_dropped++;
        return true;
    }
    virtq_elem_read(e, VIRTIO_NET_HDR_SIZE, n->tx_buf, (size_t)len);
    n->stats.tx_frames++;
    n->stats.tx_bytes += len;
    net_learn_ipv4(n, n->tx_buf, (size_t)len);
    net_backend_send(n->backend, n->tx_buf, (size_t)len);
    return true;
}

static void net_tx(VirtioNet *n)
{
    Virtq *q = &n->vdev.vq[VIRTIO_NET_TXQ];
    bool pushed = false;
    while (net_backend_can_send(n->backend) && virtq_pop(q, &n->tx_elem) == 1) {
        if (!net_tx_one(n))
            break;
        virtq_push(q, &n->tx_elem, 0);
        pushed = true;
    }
    if (pushed)
        virtio_mmio_notify_used(&n->vdev, VIRTIO_NET_TXQ);
}

/* NetTxReadyFn: the backend sent what it held; take the frames the guest queued meanwhile. */
static void net_tx_ready(void *opaque)
{
    net_tx(opaque);
}

static void net_queue_notify(VirtioMmio *v, unsigned q)
{
    if (q == VIRTIO_NET_TXQ)
        net_tx(net_of(v));
    else /* receive buffers posted: a backend waiting for them reads again */
        net_backend_rx_ready(net_of(v)->backend);
}

/* ---- configuration and lifetime ---- */

static uint64_t net_config_read(VirtioMmio *v, uint64_t offset, unsigned size)
{
    VirtioNet *n = net_of(v);
    return virtio_config_bytes(n->config, sizeof(n->config), offset, size);
}

static void net_free(VirtioMmio *v)
{
    VirtioNet *n = net_of(v);
    net_backend_free(n->backend);
    free(n);
}

static const VirtioDeviceOps net_ops = {
    .name = "virtio-net",
    .device_id = VIRTIO_ID_NET,
    .features = VIRTIO_BIT(VIRTIO_NET_F_MAC) | VIRTIO_BIT(VIRTIO_NET_F_STATUS),
    .num_queues = 2,
    .queue_max = VIRTIO_NET_QUEUE_MAX,
    .config_read = net_config_read,
    .queue_notify = net_queue_notify,
    .free = net_free,
};

static void net_set_status(VirtioNet *n, bool link_up)
{
    uint16_t status = htole16(link_up ? VIRTIO_NET_S_LINK_UP : 0);
    memcpy(n->config + VIRTIO_NET_CFG_STATUS, &status, 2);
}

/* NetLinkFn: the backend gained or lost its peer; the driver reads the new status. */
static void net_link_changed(void *opaque, bool up)
{
    VirtioNet *n = opaque;
    net_set_status(n, up);
    virtio_mmio_config_changed(&n->vdev);
}

static void net_build_config(VirtioNet *n, const uint8_t *mac)
{
    uint16_t pairs = htole16(1);
    memcpy(n->config + VIRTIO_NET_CFG_MAC, mac, NET_MAC_LEN);
    net_set_status(n, net_backend_link_up(n->backend));
    memcpy(n->config + VIRTIO_NET_CFG_MAX_VQ_PAIRS, &pairs, 2);
}

VirtioMmio *virtio_net_new(const VirtioMmioConfig *mcfg, const VirtioNetConfig *ncfg, Error *err)
{
    VirtioNet *n = calloc(1, sizeof(*n));
    if (!n) {
        net_backend_free(ncfg->backend);
        error_set(err, "out of memory creating virtio-net");
        return NULL;
    }
    virtio_mmio_init(&n->vdev, &net_ops, mcfg);
    n->backend = ncfg->backend;
    net_build_config(n, ncfg->mac);
    net_backend_attach(n->backend, net_receive, n);
    net_backend_attach_link(n->backend, net_link_changed);
    net_backend_attach_can_receive(n->backend, net_can_receive);
    net_backend_attach_tx_ready(n->backend, net_tx_ready);
    return &n->vdev;
}

void virtio_net_stats(VirtioMmio *v, VirtioNetStats *st)
{
    static const VirtioNetStats none;
    *st = v && v->ops == &net_ops ? net_of(v)->stats : none;
}

NetBackend *virtio_net_backend(VirtioMmio *v)
{
    return net_of(v)->backend;
}
