/*
 * Network backends: where the Ethernet frames of a guest's network card
 * go.  A backend is an ops table (send a frame from the guest, free) plus
 * a receive hook the device installs to get frames for the guest; the
 * device knows nothing of the backend behind it.  User-mode networking
 * (libslirp, net/slirp.h) and a Linux tap device (net/tap.h) are the
 * backends; a switch port would plug in the same way.
 *
 * This file also parses the --net option into a NetConfig:
 *   none
 *   user[,hostfwd=[tcp|udp]:[HOSTADDR]:HOSTPORT-[GUESTADDR]:GUESTPORT]...[,mac=MAC]
 *   tap,ifname=NAME[,mac=MAC]
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
#define NET_MAX_FRAME 65550 /* largest Ethernet frame carried (64 KiB + header + VLAN) */
#define NET_IFNAME_MAX 16   /* a host interface name with its NUL (Linux IFNAMSIZ) */
#define NET_MAC_TEXT 18     /* "52:54:00:12:34:56" with its NUL */

/* The default MAC address, as QEMU's first NIC: 52:54:00:12:34:56. */
extern const uint8_t net_default_mac[NET_MAC_LEN];

typedef enum NetKind {
    NET_NONE, /* no network card */
    NET_USER, /* user-mode networking (libslirp) */
    NET_TAP,  /* a host tap interface, attached by name */
} NetKind;

/* One host port forwarded into the guest (hostfwd=). */
typedef struct NetHostFwd {
    bool udp;
    struct in_addr host_addr;  /* INADDR_ANY = every host address */
    uint16_t host_port;        /* 1..65535 */
    struct in_addr guest_addr; /* 0 = the guest's DHCP address (10.0.2.15) */
    uint16_t guest_port;       /* 1..65535 */
} NetHostFwd;

/* What --net asked for; plain data (copyable, no pointers). */
typedef struct NetConfig {
    NetKind kind;
    uint8_t mac[NET_MAC_LEN];        /* the card's address */
    NetHostFwd fwd[NET_MAX_HOSTFWD]; /* NET_USER only */
    unsigned nfwd;
    char ifname[NET_IFNAME_MAX]; /* NET_TAP: the host interface */
} NetConfig;

typedef struct NetBackend NetBackend;

/* Frames a backend could not pass on (the card's own drops are its stats). */
typedef struct NetBackendStats {
    uint64_t tx_dropped; /* from the guest: the host side refused or could not take them */
    uint64_t rx_dropped; /* for the guest: too long, or the card had no buffer */
} NetBackendStats;

/* Hands a frame to the guest's card; returns false if the card dropped it. */
typedef bool (*NetReceiveFn)(void *opaque, const uint8_t *frame, size_t len);

typedef struct NetBackendOps {
    const char *name;
    /* Send one Ethernet frame (no virtio header) from the guest; the backend may drop it. */
    void (*send)(NetBackend *b, const uint8_t *frame, size_t len);
    void (*free)(NetBackend *b);
    /* Optional: drop counters (all zero when absent). */
    void (*stats)(NetBackend *b, NetBackendStats *st);
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
};

/*
 * What a VM gets without --net: one card on user-mode networking (as QEMU's
 * default), the default MAC, no forwards (so no host port is bound).
 */
void net_config_default(NetConfig *cfg);

/* "none", "user" or "tap": the word --net and the state file use. */
const char *net_kind_name(NetKind kind);

/* The kind whose net_kind_name is name; false if there is none. */
bool net_kind_from_name(const char *name, NetKind *kind);

/*
 * A tap interface name --net accepts: 1..15 of letters, digits, '.', '_',
 * '-' (no '%', which would have the kernel pick a new name), not "." or "..".
 */
bool net_ifname_valid(const char *name);

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
 * it).  Returns NULL with err filled (a port that cannot be forwarded, a
 * tap that cannot be attached, no backend for NET_NONE).
 */
NetBackend *net_backend_new(const NetConfig *cfg, EventLoop *loop, Error *err);

/* Install the hook that takes frames for the guest (the device calls it once). */
void net_backend_attach(NetBackend *b, NetReceiveFn fn, void *opaque);

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
