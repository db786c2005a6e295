/*
 * The engine of `hostel switch` (docs/net.md, "The switch process"): one
 * virtual switch (net/switch.h) with its ports on one event loop.
 *
 *   - VM ports: a connected SOCK_SEQPACKET unix socket per port, one
 *     Ethernet frame per message, handed over by the caller (hosteld
 *     passes it on the control socket).  When the peer hangs up the port
 *     stays, link down (frames for it are counted as drop-gone), until it
 *     is removed.
 *   - listen ports: connections accepted on a SOCK_SEQPACKET socket the
 *     daemon listens on (`--listen PATH`), named listen-0, listen-1, ...,
 *     access VLAN 1; removed when the peer hangs up.
 *   - uplinks (net/uplink.h), from the configuration.
 *
 * Every port socket is in one private epoll set watched by the loop.
 * Reading is fair: at most SWITCHD_READ_BATCH frames from one port per
 * round, and epoll hands the ports still readable over in turn, so a port
 * that floods cannot starve the others.  A port is watched for
 * writability only while frames wait in its queue.  The address table is
 * aged once a second.  Frames an uplink produces while the switch is busy
 * with another (libslirp answers inside its input) wait in a short queue
 * and are switched right after.
 *
 * Not thread-safe: everything runs on the loop's thread.
 */
#ifndef HOSTEL_NET_SWITCHD_H
#define HOSTEL_NET_SWITCHD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "net/switch.h"
#include "net/uplink.h"
#include "util/error.h"
#include "util/evloop.h"

#define SWITCHD_NAME_MAX NET_NETWORK_NAME_MAX /* a network's name with its NUL */
#define SWITCHD_READ_BATCH 64                 /* frames read from one port's socket per round */
#define SWITCHD_RING_BATCH 256                /* frames taken from one port's ring per round */
#define SWITCHD_RING_FLOOD_BYTES (32 * 1024)  /* of a VM's ring, what flooded frames may fill */
#define SWITCHD_DEFER_MAX 256        /* frames produced while the switch is busy, waiting */
#define SWITCHD_AGE_NS 1000000000ull /* how often the tables are aged */

/* The switch process's configuration (`--config`): plain data, copyable. */
typedef struct SwitchdConfig {
    char name[SWITCHD_NAME_MAX]; /* the network's name */
    uint32_t ageing_s;           /* 0 = SWITCH_DEFAULT_AGEING */
    uint32_t fdb_max;            /* 0 = SWITCH_DEFAULT_FDB_MAX */
    UplinkConfig uplinks[UPLINK_MAX];
    unsigned nuplinks;
} SwitchdConfig;

typedef enum SwitchdPortKind {
    SWITCHD_PORT_VM,     /* add-port: a socket handed over */
    SWITCHD_PORT_LISTEN, /* accepted on --listen */
    SWITCHD_PORT_UPLINK, /* from the configuration */
} SwitchdPortKind;

/* What query-ports shows of one port. */
typedef struct SwitchdPortInfo {
    const char *kind; /* "vm", "listen", "slirp", "vxlan", "tap" */
    SwitchdPortKind port_kind;
    const SwitchPortConfig *cfg;
    SwitchPortStats stats; /* drop_malformed includes frames too long to take */
    bool link_up;          /* the peer is there (uplinks: always) */
    const char *transport; /* VM and listen ports: "socket", or "ring" (shared memory) */
    UplinkCounter counters[UPLINK_MAX_COUNTERS]; /* an uplink's own */
    size_t ncounters;
} SwitchdPortInfo;

/* One learned address, for query-fdb. */
typedef struct SwitchdFdbEntry {
    uint8_t mac[NET_MAC_LEN];
    uint16_t vlan;
    const char *port;
    uint64_t age_ns; /* since it was last seen */
} SwitchdFdbEntry;

typedef struct SwitchdStatus {
    const char *name;
    size_t ports;
    uint64_t uptime_ns;
    uint64_t
        forwarded; /* frames handed to ports' outputs since the start, removed ports included */
} SwitchdStatus;

typedef struct SwitchDaemon SwitchDaemon;

/*
 * Build the switch and its uplinks on loop (which must outlive it) and
 * start the ageing timer.  Returns NULL with err filled (an uplink that
 * cannot start: a port in use, a tap that cannot be attached).
 */
SwitchDaemon *switchd_new(const SwitchdConfig *cfg, EventLoop *loop, Error *err);

/* Close every port and uplink, the listening socket (its file is removed) and the switch. */
void switchd_free(SwitchDaemon *d);

/*
 * Listen for SOCK_SEQPACKET connections at path (mode 0600; a stale socket
 * file is replaced, a live one or another file refused).  Returns 0, or -1
 * with err filled.
 */
int switchd_listen(SwitchDaemon *d, const char *path, Error *err);

/*
 * Add a VM port with options pc on fd, a connected SOCK_SEQPACKET unix
 * socket (anything else is refused).  fd is the daemon's from then on,
 * even when this fails (it is closed then).  Returns 0, or -1 with err
 * filled.
 */
int switchd_port_add(SwitchDaemon *d, const SwitchPortConfig *pc, int fd, Error *err);

/* Remove a VM or listen port (not an uplink).  Returns 0, or -1 with err filled. */
int switchd_port_remove(SwitchDaemon *d, const char *name, Error *err);

/* Change a VM or listen port's options (pc->name names it).  Returns 0, or -1 with err filled. */
int switchd_port_set(SwitchDaemon *d, const SwitchPortConfig *pc, Error *err);

/*
 * The configuration of the uplink called name, or, name NULL, of the
 * switch's one uplink of kind kind.  NULL with err filled when there is
 * none ("no uplink named X", "X is a vxlan uplink", "the switch has no
 * slirp uplink").
 */
const UplinkConfig *switchd_uplink_config(SwitchDaemon *d, const char *name, UplinkKind kind,
                                          Error *err);

/*
 * Replace the forwards of the uplink called name (a slirp one), all or
 * nothing (uplink_set_forwards).  Returns 0, or -1 with err filled (the
 * uplink keeps its forwards).
 */
int switchd_uplink_set_forwards(SwitchDaemon *d, const char *name, const NetHostFwd *fwd,
                                unsigned nfwd, Error *err);

/* Fill info for the port called name.  Returns false if there is none. */
bool switchd_port_info(SwitchDaemon *d, const char *name, SwitchdPortInfo *info);

/* Call fn for every port, uplinks first, then the others in the order they came. */
void switchd_port_foreach(SwitchDaemon *d, void (*fn)(void *opaque, const SwitchdPortInfo *p),
                          void *opaque);

/* Call fn for every learned address. */
void switchd_fdb_foreach(SwitchDaemon *d, void (*fn)(void *opaque, const SwitchdFdbEntry *e),
                         void *opaque);

void switchd_status(SwitchDaemon *d, SwitchdStatus *st);

/* The VLAN bitmap of SwitchPortConfig.allowed: VLAN v is bit v % 8 of byte v / 8. */
static inline void switchd_vlan_set(uint8_t *allowed, unsigned v)
{
    allowed[v / 8] |= (uint8_t)(1u << (v % 8));
}

static inline bool switchd_vlan_isset(const uint8_t *allowed, unsigned v)
{
    return allowed[v / 8] & (1u << (v % 8));
}

#endif
