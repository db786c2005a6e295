/*
 * The host side of the networks that have a host tap, which hosteld makes
 * as root (docs/mgmt.md "Networks"): an internal network, and a nat
 * network in host mode (the root variant of NAT, as libvirt's):
 *
 *   the tap "hn-NAME" with the subnet's .1 (the gateway), up; the
 *   network's switch attaches to it with its tap uplink
 *   dnsmasq on that tap alone (dnsmasq.h), when the network has "dhcp"
 *   host mode NAT: net.ipv4.ip_forward=1 (host-wide; when hosteld had to
 *   set it, STATE/netdata/ip_forward.hosteld says so) and the nftables
 *   table "hostel-NAME" (nft.h)
 *
 * Files: DATA/NAME/leases and DATA/NAME/dnsmasq.log (DATA is
 * STATE_DIR/netdata), NETRUN/NAME/dnsmasq.pid.  Every step is idempotent:
 * bringing a network up again after a daemon restart finds its tap and
 * its dnsmasq and writes its table anew.
 */
#ifndef HOSTEL_MGMT_NETROOT_H
#define HOSTEL_MGMT_NETROOT_H

#include <jansson.h>
#include <stdbool.h>

#include "mgmt/netrun.h"
#include "mgmt/network.h"
#include "util/error.h"

/* Bring net's host side up (nothing for a network without a host tap). Returns 0, or -1. */
int mgmt_netroot_up(MgmtNetRun *nr, const MgmtNetwork *net, Error *err);

/*
 * Take it down: dnsmasq ended, the nft table removed (the tap is
 * netrun's); the leases and dnsmasq's log too when purge.
 */
void mgmt_netroot_down(MgmtNetRun *nr, const MgmtNetwork *net, bool purge);

/* A host-mode NAT's forwards changed: write its nft table anew. Returns 0, or -1. */
int mgmt_netroot_forwards(MgmtNetRun *nr, const MgmtNetwork *net, Error *err);

/*
 * The API's "host" object of net (NULL when it has no host tap):
 * {"interface", "address", "nft_table" (host NAT), "ip_forward" (host
 * NAT: {"enabled", "set_by_hosteld"}), "dnsmasq" (with dhcp: its state)}.
 */
json_t *mgmt_netroot_host_json(MgmtNetRun *nr, const MgmtNetwork *net);

/* The DHCP leases dnsmasq gave on net (mgmt_leases_json); NULL when it has no dnsmasq. */
json_t *mgmt_netroot_leases(MgmtNetRun *nr, const MgmtNetwork *net);

/*
 * Give each port of ports (the switch's query-ports, with "mac" and
 * "ipv4") whose address the switch has not learned ("ipv4" null) the
 * address leased to its MAC in leases (mgmt_netroot_leases).
 */
void mgmt_netroot_fill_ipv4(json_t *ports, const json_t *leases);

#endif
