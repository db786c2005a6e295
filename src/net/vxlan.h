/*
 * VXLAN (RFC 7348) without sockets: the 8-byte header that goes in front
 * of an Ethernet frame inside a UDP datagram, and the table of which
 * remote host (tunnel peer) an address was last seen behind.  The vxlan
 * uplink (net/uplink_vxlan.c) puts them on a UDP socket.
 *
 *   byte 0: flags, 0x08 (I: the VNI is valid); bytes 1-3 reserved (0)
 *   bytes 4-6: the 24-bit VNI; byte 7 reserved (0)
 *
 * Reserved bits are sent as zero and ignored on receipt, as the RFC says.
 */
#ifndef HOSTEL_NET_VXLAN_H
#define HOSTEL_NET_VXLAN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "net/net.h"

#define VXLAN_HDR_LEN 8
#define VXLAN_PORT 4789         /* IANA's port */
#define VXLAN_FLAG_I 0x08       /* the VNI is valid */
#define VXLAN_VNI_MAX 0xffffffu /* 24 bits */
#define VXLAN_MIN_FRAME 14      /* an inner frame has at least an Ethernet header */

typedef enum VxlanError {
    VXLAN_OK = 0,
    VXLAN_SHORT = -1,  /* shorter than the header and an Ethernet header */
    VXLAN_NO_VNI = -2, /* the I flag is clear */
} VxlanError;

/* Write the header for vni (0..VXLAN_VNI_MAX) into hdr. */
void vxlan_encode(uint8_t hdr[VXLAN_HDR_LEN], uint32_t vni);

/*
 * Read a UDP payload: VXLAN_OK with *vni filled (the inner frame is the
 * rest, pkt + VXLAN_HDR_LEN), or a negative VxlanError.
 */
int vxlan_decode(const uint8_t *pkt, size_t len, uint32_t *vni);

/*
 * Which peer (an index the caller defines) each remote address was last
 * seen behind, forgotten after ageing_ns without traffic.  A bounded hash
 * table: when it is full, new addresses are not learned (frames for them
 * are flooded, which is still correct).
 */
typedef struct VxlanMacTable VxlanMacTable;

/* A table of at most max addresses.  Returns NULL if out of memory. */
VxlanMacTable *vxlan_macs_new(uint32_t max, uint64_t ageing_ns);
void vxlan_macs_free(VxlanMacTable *t);

/* mac (unicast; group addresses are ignored) was seen behind peer at now_ns. */
void vxlan_macs_learn(VxlanMacTable *t, const uint8_t mac[NET_MAC_LEN], unsigned peer,
                      uint64_t now_ns);

/* The peer mac is behind, or -1 if unknown or aged out. */
int vxlan_macs_lookup(const VxlanMacTable *t, const uint8_t mac[NET_MAC_LEN], uint64_t now_ns);

/* Forget the addresses not seen for the ageing time. */
void vxlan_macs_age(VxlanMacTable *t, uint64_t now_ns);

/* Addresses in the table now. */
uint32_t vxlan_macs_count(const VxlanMacTable *t);

#endif
