/*
 * A unix socket as the guest's wire: one Ethernet frame per message (no
 * virtio header, no length prefix) on a SOCK_SEQPACKET socket, the wire
 * between a VMM and a virtual switch port (`hostel switch`, hosteld's
 * networks) or another VMM (a socketpair as a crossover cable).
 *
 *   --net socket,path=PATH  connect to a listening socket; when the peer is
 *                           not there (yet) or hangs up, try again every
 *                           second, the card's link down meanwhile
 *   --net socket,fd=N       a connected socket inherited as fd N (a
 *                           SOCK_DGRAM unix socket works too); when its
 *                           peer hangs up the card's link goes down for good
 *   --net network,...,fd=N  the same, the fd handed over by hosteld
 *
 * The backend keeps no state of its own (as a tap): a restore needs the
 * same path, or the same fd open again.
 */
#ifndef HOSTEL_NET_SOCKET_H
#define HOSTEL_NET_SOCKET_H

#include "net/net.h"
#include "util/error.h"
#include "util/evloop.h"

/* How often a path= card tries to connect while it has no peer. */
#define NET_SOCKET_RETRY_NS 1000000000ull

/*
 * Create the backend for cfg (NET_SOCKET or NET_NETWORK), served on loop.
 * A path= card starts even when nobody listens yet (its link is down
 * until it connects).  Returns NULL with one line in err: a network card
 * without fd=, an fd that is not open or not a unix SEQPACKET/DGRAM
 * socket, a path whose listener refuses us for good (permission, not a
 * SEQPACKET socket).
 */
NetBackend *net_socket_new(const NetConfig *cfg, EventLoop *loop, Error *err);

/*
 * Put an fd= card (socket or network) on a new connected socket fd, in
 * place of the one it has (hosteld does, through the VMM's `set-net-fd`,
 * when a network's switch was restarted): the old socket is closed, the
 * new one takes its descriptor number (so the card's fd= stays true) and
 * is watched, and the link comes up.  The counters go on.  fd is the
 * backend's from the call on, and closed when this fails.  Returns 0, or
 * -1 with one line in err: b is not a socket backend, a path= card (it
 * reconnects by itself), fd is not a connected unix SEQPACKET/DGRAM socket.
 */
int net_socket_set_fd(NetBackend *b, int fd, Error *err);

#endif
