/*
 * Network backends: where the Ethernet frames of a guest's network card
 * go.  A backend is an ops table (send a frame from the guest, free) plus
 * a receive hook the device installs to get frames for the guest; the
 * device knows nothing of the backend behind it.  User-mode networking
 * (libslirp, net/slirp.h), a Linux tap device (net/tap.h) and a unix
 * SEQPACKET socket to a switch port or another VM (net/socket.h) are the
 * backends.
 *
 * This file also parses the --net option into a NetConfig:
 *   none
 *   user[,hostfwd=[tcp|udp]:[HOSTADDR]:HOSTPORT-[GUESTADDR]:GUESTPORT]...[,mac=MAC]
 *   tap,ifname=NAME[,mac=MAC] | tap,fd=N[,mac=MAC]
 *   socket,path=PATH[,mac=MAC] | socket,fd=N[,mac=MAC]
 *   network,name=NET[,fd=N][,vlan=V | ,trunk=V:V:...[,native=V]][,isolated[=on|off]]
 *          [,spoof-check=on|off][,rate=MBIT][,flood=PPS][,mac=MAC]
 * Everything runs on the VM thread.
 */
#ifndef HOSTEL_NET_NET_H
#define HOSTEL_NET_NET_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/error.h"
#include "util/evloop.h"

#define NET_MAX_HOSTFWD 16
#define NET_MAC_LEN 6
#define NET_MAX_FRAME 65550     /* largest Ethernet frame carried (64 KiB + header + VLAN) */
#define NET_IFNAME_MAX 16       /* a host interface name with its NUL (Linux IFNAMSIZ) */
#define NET_MAC_TEXT 18         /* "52:54:00:12:34:56" with its NUL */
#define NET_SOCKET_PATH_MAX 108 /* sizeof(sun_path) */
#define NET_NETWORK_NAME_MAX 64 /* a network's name with its NUL */
#define NET_MAX_TRUNK 64        /* VLANs listed on one trunk port */
#define NET_VLAN_MAX 4094       /* VLAN numbers are 1..NET_VLAN_MAX */
#define NET_SPEC_TEXT 2048      /* room for any --net value net_config_format writes */

/* The default MAC address, as QEMU's first NIC: 52:54:00:12:34:56. */
extern const uint8_t net_default_mac[NET_MAC_LEN];

typedef enum NetKind {
    NET_NONE,    /* no network card */
    NET_USER,    /* user-mode networking (libslirp) */
    NET_TAP,     /* a host tap interface, attached by name or inherited as an fd */
    NET_SOCKET,  /* a unix SEQPACKET socket: connected to path, or inherited as an fd */
    NET_NETWORK, /* a port of hosteld's network: the switch's socket, inherited as an fd */
} NetKind;

/* One host port forwarded into the guest (hostfwd=). */
typedef struct NetHostFwd {
    bool udp;
    struct in_addr host_addr;  /* INADDR_ANY = every host address */
    uint16_t host_port;        /* 1..65535 */
    struct in_addr guest_addr; /* 0 = the guest's DHCP address (10.0.2.15) */
    uint16_t guest_port;       /* 1..65535 */
} NetHostFwd;

/*
 * NET_NETWORK only: what the card's switch port is.  The VMM does not use
 * these (the switch does: hosteld reads them from the VM definition); all
 * zero is an access port on VLAN 1 with the switch's default checks.
 */
typedef struct NetPortOptions {
    uint16_t vlan; /* access VLAN, 1..4094; 0 = default (1). Not with trunk */
    uint16_t
        trunk[NET_MAX_TRUNK]; /* trunk: the VLANs carried tagged, 1..4094, ascending, distinct */
    unsigned ntrunk;          /* 0 = an access port */
    uint16_t native;          /* trunk only: untagged frames belong to it; 0 = none */
    bool isolated;            /* reaches the network's uplink only */
    bool no_spoof_check;      /* default false: the port may only send from the card's MAC */
    uint32_t rate_mbit;       /* ingress limit, Mbit/s; 0 = none */
    uint32_t flood_pps;       /* broadcast/multicast/unknown unicast limit, frames/s; 0 = none */
} NetPortOptions;

/* What --net asked for; plain data (copyable, no pointers). */
typedef struct NetConfig {
    NetKind kind;
    uint8_t mac[NET_MAC_LEN];        /* the card's address */
    NetHostFwd fwd[NET_MAX_HOSTFWD]; /* NET_USER only */
    unsigned nfwd;
    char ifname[NET_IFNAME_MAX];    /* NET_TAP by name: the host interface ("" with fd) */
    char path[NET_SOCKET_PATH_MAX]; /* NET_SOCKET by path: the listening socket ("" with fd) */
    int fd; /* NET_TAP, NET_SOCKET, NET_NETWORK: an inherited descriptor (>= 3); -1 = none */
    char network[NET_NETWORK_NAME_MAX]; /* NET_NETWORK: the network's name */
    NetPortOptions port;                /* NET_NETWORK: the switch port's options */
} NetConfig;

typedef struct NetBackend NetBackend;

/* Frames a backend could not pass on (the card's own drops are its stats). */
typedef struct NetBackendStats {
    uint64_t tx_dropped; /* from the guest: the host side refused or could not take them */
    uint64_t rx_dropped; /* for the guest: too long, or the card had no buffer */
} NetBackendStats;

/* Hands a frame to the guest's card; returns false if the card dropped it. */
typedef bool (*NetReceiveFn)(void *opaque, const uint8_t *frame, size_t len);

/* Tells the card its link went up or down (the guest sees the carrier). */
typedef void (*NetLinkFn)(void *opaque, bool up);

/* Asks the card whether it can take a frame now (the guest has a receive buffer posted). */
typedef bool (*NetCanReceiveFn)(void *opaque);

/* Tells the card the backend can take frames from the guest again. */
typedef void (*NetTxReadyFn)(void *opaque);

typedef struct NetBackendOps {
    const char *name;
    /* Send one Ethernet frame (no virtio header) from the guest; the backend may drop it. */
    void (*send)(NetBackend *b, const uint8_t *frame, size_t len);
    void (*free)(NetBackend *b);
    /* Optional: drop counters (all zero when absent). */
    void (*stats)(NetBackend *b, NetBackendStats *st);
    /*
     * Optional: the card can take frames again (the guest posted receive
     * buffers).  A backend that leaves frames with its peer while
     * net_backend_can_receive() is false resumes reading here.
     */
    void (*rx_ready)(NetBackend *b);
    /*
     * Optional: can the backend take a frame from the guest now?  A backend
     * whose peer is momentarily full holds the frame it could not send and
     * says no until it has sent it; then it calls net_backend_tx_ready()
     * and the card takes the guest's next frames (none is dropped meanwhile:
     * the guest's transmit ring waits, as on a real card).  Absent = always.
     */
    bool (*can_send)(NetBackend *b);
    /*
     * Save/restore (optional, all or none): the backend's state as an
     * opaque blob in its own stream section (tag state_tag, version
     * state_version()).  check validates a blob without changing the
     * backend (the first, side-effect-free phase of a restore); load puts
     * it into a backend of the same configuration: a fresh one after
     * `run --restore`, the running one at a snapshot revert (whose open
     * connections are left alone).
     */
    const char *state_tag;
    uint16_t (*state_version)(void);
    int (*save)(NetBackend *b, uint8_t **blob, size_t *len, Error *err);
    int (*check)(NetBackend *b, uint16_t version, const uint8_t *blob, size_t len, Error *err);
    int (*load)(NetBackend *b, uint16_t version, const uint8_t *blob, size_t len, Error *err);
} NetBackendOps;

/* The common part of every backend (embedded first; container_of gets back). */
struct NetBackend {
    const NetBackendOps *ops;
    NetReceiveFn receive; /* installed by the device; NULL = frames are dropped */
    void *receive_opaque;
    NetLinkFn link; /* installed by the device (optional), called with receive_opaque */
    NetCanReceiveFn can_receive; /* installed by the device (optional), with receive_opaque */
    NetTxReadyFn tx_ready;       /* installed by the device (optional), with receive_opaque */
    bool link_down;              /* the backend has no peer now (a socket whose peer hung up) */
};

/*
 * What a VM gets without --net: one card on user-mode networking (as QEMU's
 * default), the default MAC, no forwards (so no host port is bound), no
 * descriptor (fd = -1: a zeroed NetConfig would mean fd 0, so every
 * NetConfig starts from here).
 */
void net_config_default(NetConfig *cfg);

/* "none", "user", "tap", "socket" or "network": the word --net and the state file use. */
const char *net_kind_name(NetKind kind);

/* The kind whose net_kind_name is name; false if there is none. */
bool net_kind_from_name(const char *name, NetKind *kind);

/*
 * A tap interface name --net accepts: 1..15 of letters, digits, '.', '_',
 * '-' (no '%', which would have the kernel pick a new name), not "." or "..".
 */
bool net_ifname_valid(const char *name);

/*
 * A network name: 1..63 of letters, digits, '.', '_', '-', starting with a
 * letter or a digit.
 */
bool net_network_name_valid(const char *name);

/*
 * Check a card's switch port options (VLAN numbers, the trunk list
 * ascending and distinct, native only on a trunk, vlan not on one).
 * Messages name the --net option ("vlan=4095: ...").  Returns 0, or -1
 * with err filled.
 */
int net_port_options_check(const NetPortOptions *p, Error *err);

/*
 * Parse a --net value into cfg (filled from scratch, from
 * net_config_default).  Returns 0, or -1 with one line in err naming what is wrong.
 */
int net_config_parse(NetConfig *cfg, const char *spec, Error *err);

/*
 * As net_config_parse, for a VM's card number index (0, 1, ...): without
 * mac=, the card gets net_default_mac_of(index) (QEMU's numbering).
 */
int net_config_parse_nic(NetConfig *cfg, const char *spec, unsigned index, Error *err);

/*
 * Write cfg as a --net value net_config_parse reads back into the same
 * NetConfig ("network,name=lan,fd=3,vlan=10,mac=52:54:00:12:34:56"; the MAC
 * is always written, options at their defaults are not).  buf should have
 * NET_SPEC_TEXT bytes; a shorter one gets a truncated value.
 */
void net_config_format(const NetConfig *cfg, char *buf, size_t size);

/* The default MAC of card number index: 52:54:00:12:34:56, then :57, :58... */
void net_default_mac_of(unsigned index, uint8_t mac[NET_MAC_LEN]);

/*
 * Parse "52:54:00:12:34:56" (six hex bytes; unicast and not all zero) into
 * mac.  Returns 0, or -1 with err filled (mac unchanged).
 */
int net_mac_parse(uint8_t *mac, const char *s, Error *err);

/* Write mac as "52:54:00:12:34:56" into buf. */
void net_mac_format(const uint8_t mac[NET_MAC_LEN], char buf[NET_MAC_TEXT]);

/*
 * Parse one hostfwd rule, [tcp|udp]:[HOSTADDR]:HOSTPORT-[GUESTADDR]:GUESTPORT,
 * into f.  Returns 0, or -1 with err filled.
 */
int net_hostfwd_parse(NetHostFwd *f, const char *value, Error *err);

/*
 * As net_hostfwd_parse, for a user network on network/prefix (host bits
 * zero): a guest address must be one of its hosts.
 */
int net_hostfwd_parse_in(NetHostFwd *f, const char *value, struct in_addr network, unsigned prefix,
                         Error *err);

/*
 * Parse a hostfwd rule and add it to cfg (at most NET_MAX_HOSTFWD, no host
 * port forwarded twice).  Returns 0, or -1 with err filled (cfg unchanged).
 */
int net_config_add_hostfwd(NetConfig *cfg, const char *value, Error *err);

/*
 * Format a hostfwd rule as "tcp:127.0.0.1:2222-10.0.2.15:22" (for messages;
 * net_hostfwd_parse reads it back: an unset guest address is left out).
 */
void net_hostfwd_format(const NetHostFwd *f, char *buf, size_t size);

/*
 * Create the backend cfg->kind names, working on loop (which must outlive
 * it).  A backend built on an inherited fd owns it (closes it when freed).
 * Returns NULL with err filled (a port that cannot be forwarded, a tap
 * that cannot be attached, a descriptor that is not what the kind needs,
 * a network card without its fd, no backend for NET_NONE).
 */
NetBackend *net_backend_new(const NetConfig *cfg, EventLoop *loop, Error *err);

/* Install the hook that takes frames for the guest (the device calls it once). */
void net_backend_attach(NetBackend *b, NetReceiveFn fn, void *opaque);

/* Install the hook told of link changes (with the receive hook's opaque). */
void net_backend_attach_link(NetBackend *b, NetLinkFn fn);

/*
 * Install the hook that says whether the card can take a frame now (optional;
 * the device then calls net_backend_rx_ready() when it can again).
 */
void net_backend_attach_can_receive(NetBackend *b, NetCanReceiveFn fn);

/*
 * For backends: can the card take a frame now?  True without the hook (and
 * without a card: the frame is dropped), so a backend may always ask.
 * Backends whose peer can hold frames (a socket, a tap) read only while it
 * is true: frames then wait on the host side, where the sender's queue
 * decides what waits and what is dropped, instead of being dropped here.
 */
bool net_backend_can_receive(NetBackend *b);

/* For the device: it can take frames again (the guest posted receive buffers). */
void net_backend_rx_ready(NetBackend *b);

/* Install the hook told that the backend can take frames again (optional). */
void net_backend_attach_tx_ready(NetBackend *b, NetTxReadyFn fn);

/* For the device: may it hand the backend a frame now?  (NetBackendOps.can_send; true without.) */
bool net_backend_can_send(NetBackend *b);

/* For backends: frames from the guest can be taken again; the card is told. */
void net_backend_tx_ready(NetBackend *b);

/* True unless the backend has lost its peer (every backend starts up but a socket's). */
bool net_backend_link_up(const NetBackend *b);

/* For backends: the link went up or down; the card is told if it changed. */
void net_backend_set_link(NetBackend *b, bool up);

/* Send a frame from the guest through the backend. */
void net_backend_send(NetBackend *b, const uint8_t *frame, size_t len);

/* The backend's drop counters. */
void net_backend_stats(NetBackend *b, NetBackendStats *st);

/* For backends: hand a frame to the attached card. Returns false if it was dropped. */
bool net_backend_deliver(NetBackend *b, const uint8_t *frame, size_t len);

/* The largest backend state blob a restore accepts. */
#define NET_STATE_MAX (1u << 20)

/* The backend's state section tag, or NULL when it has no state to save. */
const char *net_backend_state_tag(const NetBackend *b);
uint16_t net_backend_state_version(const NetBackend *b);

/* Save the backend's state into a malloc'd *blob of *len bytes. */
int net_backend_save(NetBackend *b, uint8_t **blob, size_t *len, Error *err);

/* Check a saved blob (size, version, structure) without changing anything. */
int net_backend_check(NetBackend *b, uint16_t version, const uint8_t *blob, size_t len, Error *err);

/* Load a blob net_backend_check accepted into b (same configuration). */
int net_backend_load(NetBackend *b, uint16_t version, const uint8_t *blob, size_t len, Error *err);

/* Free a backend through its ops (NULL is ignored). */
void net_backend_free(NetBackend *b);

#endif
