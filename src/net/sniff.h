/*
 * Reading addresses out of Ethernet frames in passing: what a card or a
 * switch port shows as its host's IPv4 address without an agent in the
 * guest (as libvirt's `domifaddr --source arp` does).  Frames are untagged
 * (the EtherType at offset 12); anything too short or not the expected
 * protocol is simply not a match.  Pure functions, no state.
 */
#ifndef HOSTEL_NET_SNIFF_H
#define HOSTEL_NET_SNIFF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "net/net.h"

/*
 * A DHCP ACK: an IPv4/UDP frame from port 67 to 68, a BOOTP reply whose
 * message type (option 53) is ACK, with a yiaddr other than 0.0.0.0.
 * Returns true and fills chaddr (the client's hardware address, the first
 * 6 bytes of the field) and yiaddr (host order); false otherwise.
 */
bool net_sniff_dhcp_ack(const uint8_t *frame, size_t len, uint8_t chaddr[NET_MAC_LEN],
                        uint32_t *yiaddr);

/*
 * The sender's own IPv4 address: an IPv4 packet's source or an ARP
 * sender's protocol address.  Returns true and fills ip (host order) when
 * there is one that can be a host's address (not 0.0.0.0 as a DHCP client
 * sends, not loopback, multicast or reserved/broadcast); false otherwise.
 */
bool net_sniff_source_ipv4(const uint8_t *frame, size_t len, uint32_t *ip);

#endif
