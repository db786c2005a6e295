/*
 * The host side of hosteld's networks: the interfaces it makes and
 * removes as root (an internal network's tap, a bridged network's bridge
 * and its VMs' taps), through the `ip` tool (iproute2) and
 * /dev/net/tun.  Each call runs to its end; failures fill err with one
 * line (`ip`'s own last line when it said one).
 */
#ifndef HOSTEL_MGMT_NETHOST_H
#define HOSTEL_MGMT_NETHOST_H

#include <stdbool.h>
#include <stdint.h>
#include <stddef.h>

#include "mgmt/network.h"
#include "util/error.h"

/* Run `ip ARGS...` (args NULL-terminated, without "ip"). Returns 0 when it exits 0, else -1. */
int nethost_ip(const char *const *args, Error *err);

/* The host has an interface named ifname. */
bool nethost_exists(const char *ifname);

/* ifname is a bridge (/sys/class/net/IF/bridge). */
bool nethost_is_bridge(const char *ifname);

/* A VM's tap's counters, as the VM sees them (the host's rx is the VM's tx). */
typedef struct NetHostTapStats {
    uint64_t from_vm_frames, from_vm_bytes;
    uint64_t to_vm_frames, to_vm_bytes, to_vm_dropped; /* to_vm_dropped: the VM did not read */
} NetHostTapStats;

/* The counters of tap ifname (all zero for what cannot be read). */
void nethost_tap_stats(const char *ifname, NetHostTapStats *st);

/*
 * An internal network's host side: the persistent tap ifname (made if
 * missing) with address .1 of subnet, up.  Returns 0, or -1.
 */
int nethost_host_tap(const char *ifname, const MgmtSubnet *subnet, Error *err);

/*
 * The bridge named bridge, up: made when missing (*made set then).
 * Returns 0, or -1 (it exists and is no bridge, or cannot be made).
 */
int nethost_bridge(const char *bridge, bool *made, Error *err);

/*
 * A new tap ifname (a stale interface of that name is removed first),
 * set up and joined to bridge; the open descriptor (O_CLOEXEC) is returned:
 * the tap lives as long as a descriptor of it is open.  Returns the fd, or
 * -1.
 */
int nethost_bridge_tap(const char *ifname, const char *bridge, Error *err);

/* Remove the interface ifname if there is one. Returns 0, or -1. */
int nethost_delete(const char *ifname, Error *err);

/*
 * The IPv4 subnets of the host's interfaces (getifaddrs), at most max
 * into out; how many.  For picking a network's default subnet clear of
 * them.
 */
size_t nethost_subnets(MgmtSubnet *out, size_t max);

#endif
