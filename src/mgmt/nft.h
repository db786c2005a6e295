/*
 * The nftables table of a network NATed by the host (nat.mode "host",
 * docs/mgmt.md "Networks"): one table of its own per network,
 * `table ip hostel-NAME`, never touching any other:
 *
 *   prerouting  (nat)     the network's forwards, for traffic from outside
 *                         (not from the network's own tap): DNAT to the VM
 *   output      (nat)     the same for connections the host itself makes
 *   postrouting (nat)     masquerade of the subnet leaving by any other
 *                         interface than the network's tap
 *   forward     (filter)  the subnet may go out by its tap, replies
 *                         (established, related) and forwarded connections
 *                         (DNAT) come back in; anything else in or out of
 *                         the tap is dropped (as libvirt's NAT does)
 *
 * The ruleset is applied with the `nft` tool as one batch that adds the
 * table, deletes it and adds it again with its chains: atomic, and the
 * same whether the table existed or not (a daemon restart, a change of
 * forwards).
 */
#ifndef HOSTEL_MGMT_NFT_H
#define HOSTEL_MGMT_NFT_H

#include <stdbool.h>
#include <stddef.h>

#include "mgmt/network.h"
#include "util/error.h"

/* "hostel-NAME": the table's name (NAME is a network's: [A-Za-z0-9._-], nft takes it as is). */
void mgmt_nft_table(const char *name, char *out, size_t size);

/*
 * The batch that (re)creates net's table, its NAT behind the tap ifname;
 * NULL if out of memory.  The caller frees it.
 */
char *mgmt_nft_ruleset(const MgmtNetwork *net, const char *ifname);

/* Apply mgmt_nft_ruleset with `nft -f -`. Returns 0, or -1 with nft's error line. */
int mgmt_nft_apply(const MgmtNetwork *net, const char *ifname, Error *err);

/* Remove the network named name's table (none is fine). Returns 0, or -1. */
int mgmt_nft_remove(const char *name, Error *err);

/* The table of the network named name exists. */
bool mgmt_nft_exists(const char *name);

#endif
