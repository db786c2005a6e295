/*
 * A Linux tap interface as the guest's wire: every Ethernet frame the
 * guest sends comes out of the host interface NAME, and every frame the
 * host stack sends to NAME goes to the guest.  The host side (addresses,
 * a bridge, routes) is configured on NAME as for any interface; hostel
 * only attaches to it.
 *
 * The backend keeps no state of its own: the guest's connections live in
 * the guest's memory, so a suspended VM restored onto the same tap carries
 * on with them (a peer that retransmits meanwhile sees a slow link).
 */
#ifndef HOSTEL_NET_TAP_H
#define HOSTEL_NET_TAP_H

#include "net/net.h"
#include "util/error.h"
#include "util/evloop.h"

/*
 * Attach to the tap interface cfg->ifname (cfg->kind is NET_TAP); reads are
 * served on loop.  An interface made with `ip tuntap add dev NAME mode tap
 * user USER` stays after the VM exits; without it, a process allowed to
 * (CAP_NET_ADMIN) creates one that goes away with the VM.  Returns the
 * backend, or NULL with one line in err (e.g. "tap NAME: permission denied
 * (create it with: ip tuntap add dev NAME mode tap user USER)").
 * With cfg->fd >= 0 the backend takes that descriptor instead, an open
 * /dev/net/tun attached to a tap with IFF_TAP | IFF_NO_PI (checked with
 * TUNGETIFF), and owns it.
 */
NetBackend *net_tap_new(const NetConfig *cfg, EventLoop *loop, Error *err);

#endif
