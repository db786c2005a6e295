/*
 * User-mode networking through libslirp: a private IPv4 network (for
 * `--net user` QEMU's 10.0.2.0/24; any other for a switch's NAT uplink),
 * plus IPv6 fec0::/64, behind a NAT made of host sockets.  In the network
 * N/P the host (gateway) is N+2, DNS N+3, and DHCP leases (libslirp has
 * 16) start at N+15.  The guest reaches the host's loopback as N+2 and,
 * unrestricted, whatever the host can reach; hostfwd rules forward host
 * ports to guest ports.  One implementation serves both the VMM's card
 * (net_slirp_new) and `hostel switch`'s slirp uplink (net_slirp_new_net),
 * which is a NetBackend like any other: frames in through send, out
 * through the receive hook.
 *
 * libslirp is poll()-driven; this backend keeps the sockets it wants
 * polled in a private epoll set that is itself watched by the VM's event
 * loop, and drives slirp's timers with util/timer.h, so an idle machine
 * wakes for network input and TCP timers.  No thread of its own.
 */
#ifndef HOSTEL_NET_SLIRP_H
#define HOSTEL_NET_SLIRP_H

#include "net/net.h"
#include "util/error.h"
#include "util/evloop.h"

#define NET_SLIRP_PREFIX_MIN 8  /* the widest network accepted */
#define NET_SLIRP_PREFIX_MAX 27 /* the narrowest that holds .2, .3 and 16 leases from .15 */

/* A user-mode network's addresses and forwards. */
typedef struct NetSlirpConfig {
    struct in_addr network; /* host bits zero */
    unsigned prefix;        /* NET_SLIRP_PREFIX_MIN..NET_SLIRP_PREFIX_MAX */
    const NetHostFwd *fwd;  /* guest addresses inside the network (0 = its first lease) */
    unsigned nfwd;
    const char *name;      /* starts messages and log lines: "net user", "uplink nat" */
    const char *fwd_label; /* starts a forward's error: "--net", "uplink nat:" */
} NetSlirpConfig;

/*
 * Check network/prefix for a user-mode network (the prefix in range, no
 * host bits set).  Returns 0, or -1 with err filled.
 */
int net_slirp_subnet_check(struct in_addr network, unsigned prefix, Error *err);

/*
 * The address the network's host number host has (e.g. 2 for the
 * gateway), in network order.
 */
struct in_addr net_slirp_addr(struct in_addr network, uint32_t host);

/* Create a user-mode network as c says.  Returns the backend, or NULL with err filled. */
NetBackend *net_slirp_new_net(const NetSlirpConfig *c, EventLoop *loop, Error *err);

/*
 * Replace the forwards of a user-mode network made by net_slirp_new_net
 * with fwd[0..nfwd) (guest addresses inside its network, 0 = its first
 * lease), at run time and all or nothing: rules in both sets are left
 * alone (and their connections), the new ones are bound, the others
 * closed (connections they brought in go on).  When a new rule cannot be
 * bound (a host port in use), nothing is changed and err names the rule
 * as at start ("uplink nat: hostfwd tcp:127.0.0.1:8080-10.77.0.15:80:
 * cannot use the host port: Address already in use").  Returns 0 or -1.
 */
int net_slirp_set_forwards(NetBackend *b, const NetHostFwd *fwd, unsigned nfwd, Error *err);

/*
 * Create a user-mode network with cfg's forwards (cfg->kind is NET_USER),
 * on 10.0.2.0/24.
 * Returns the backend, or NULL with one line in err (e.g. "hostfwd
 * tcp:127.0.0.1:8080-:80: cannot listen on the host port: Address already
 * in use").
 */
NetBackend *net_slirp_new(const NetConfig *cfg, EventLoop *loop, Error *err);

#endif
