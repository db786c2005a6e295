/*
 * virtio-net (virtio 1.2, 5.1): one receive queue and one transmit queue
 * in front of a network backend (net/net.h).  Features: MAC, STATUS (the
 * link is up unless the backend lost its peer: a socket card whose peer
 * hung up; a change raises a configuration interrupt) and, through the
 * transport, VERSION_1, so every
 * buffer starts with the 12-byte virtio_net_hdr (num_buffers included).
 * No offloads: frames carry complete checksums and at most one MTU.
 *
 * Transmit chains are copied out (minus the header) and handed to the
 * backend at once.  Frames from the backend go into the next receive
 * buffer, or are dropped (and counted) when the guest has posted none:
 * the backend's protocols retransmit.  Everything runs on the VM thread.
 */
#ifndef HOSTEL_VIRTIO_NET_H
#define HOSTEL_VIRTIO_NET_H

#include <stdint.h>

#include "net/net.h"
#include "util/error.h"
#include "virtio/mmio.h"

/* Feature bits (virtio 1.2, 5.1.3). */
#define VIRTIO_NET_F_MAC 5
#define VIRTIO_NET_F_STATUS 16

#define VIRTIO_NET_S_LINK_UP 1
#define VIRTIO_NET_HDR_SIZE 12 /* struct virtio_net_hdr with num_buffers */
#define VIRTIO_NET_QUEUE_MAX 256
#define VIRTIO_NET_RXQ 0
#define VIRTIO_NET_TXQ 1

/* Configuration space offsets (struct virtio_net_config). */
enum {
    VIRTIO_NET_CFG_MAC = 0,
    VIRTIO_NET_CFG_STATUS = 6,
    VIRTIO_NET_CFG_MAX_VQ_PAIRS = 8,
    VIRTIO_NET_CFG_SIZE = 10,
};

typedef struct VirtioNetConfig {
    NetBackend *backend; /* taken over by the device (freed with it) */
    uint8_t mac[NET_MAC_LEN];
} VirtioNetConfig;

/* Frame counters (query-stats, tests), kept on the VM thread: plain counters. */
typedef struct VirtioNetStats {
    uint64_t tx_frames;  /* handed to the backend */
    uint64_t tx_bytes;   /* their Ethernet bytes (no virtio header) */
    uint64_t tx_dropped; /* larger than NET_MAX_FRAME */
    uint64_t rx_frames;  /* delivered to the guest */
    uint64_t rx_bytes;   /* their Ethernet bytes (no virtio header) */
    uint64_t rx_dropped; /* no receive buffer posted, or the driver not running */
    uint32_t ipv4;       /* the guest's IPv4 address as its last frames said (host order), or 0 */
} VirtioNetStats;

/*
 * Create a virtio-net device on ncfg->backend.  Returns the transport part
 * (map it with virtio_mmio_ops, free it with virtio_mmio_free, which frees
 * the backend too), or NULL with err filled (the backend is then freed).
 */
VirtioMmio *virtio_net_new(const VirtioMmioConfig *mcfg, const VirtioNetConfig *ncfg, Error *err);

/*
 * The backend behind a virtio-net device (its state is saved in its own
 * section; the device has none to save: its configuration space follows
 * from the MAC and its queues belong to the transport).
 */
NetBackend *virtio_net_backend(VirtioMmio *v);

/* Copy the device's counters into st (all zero if v is not a virtio-net device). */
void virtio_net_stats(VirtioMmio *v, VirtioNetStats *st);

#endif
