/*
 * User-mode networking through libslirp: a private IPv4 network
 * 10.0.2.0/24 (plus IPv6 fec0::/64) behind a NAT made of host sockets, with
 * QEMU's addresses: the host (gateway) at 10.0.2.2, DNS at 10.0.2.3, DHCP
 * leases from 10.0.2.15.  The guest reaches the host's loopback as
 * 10.0.2.2 and, unrestricted, whatever the host can reach; hostfwd rules
 * forward host ports to guest ports.
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

/*
 * Create a user-mode network with cfg's forwards (cfg->kind is NET_USER).
 * Returns the backend, or NULL with one line in err (e.g. "hostfwd
 * tcp:127.0.0.1:8080-:80: cannot listen on the host port: Address already
 * in use").
 */
NetBackend *net_slirp_new(const NetConfig *cfg, EventLoop *loop, Error *err);

#endif
