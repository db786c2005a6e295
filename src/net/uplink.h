/*
 * A switch's uplinks: the ports that lead off the switch of `hostel
 * switch` (docs/net.md, "The switch process"), each behind a small ops
 * table, one file per kind:
 *   slirp  a user-mode NAT (libslirp, net/slirp.h) on its own subnet
 *          (net/uplink_slirp.c);
 *   vxlan  a UDP tunnel to a static list of other hosts, RFC 7348
 *          (net/uplink_vxlan.c);
 *   tap    an existing tap interface of the host, attached by name
 *          (net/uplink_tap.c).
 * The switch daemon (net/switchd.h) makes each one a switch port with
 * uplink=true: frames the switch sends to it go to output(); frames from
 * outside come to the input function given at creation.  Everything runs
 * on the daemon's event loop.
 */
#ifndef HOSTEL_NET_UPLINK_H
#define HOSTEL_NET_UPLINK_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "net/net.h"
#include "net/switch.h"
#include "util/error.h"
#include "util/evloop.h"

#define UPLINK_MAX 8              /* uplinks of one switch */
#define UPLINK_VXLAN_MAX_PEERS 64 /* hosts one tunnel reaches */
#define UPLINK_MAX_COUNTERS 8     /* kind-specific counters of one uplink */
#define UPLINK_PATH_MAX 1024      /* a file an uplink keeps (the slirp one's leases) */

typedef enum UplinkKind {
    UPLINK_SLIRP,
    UPLINK_VXLAN,
    UPLINK_TAP,
} UplinkKind;

/* One tunnel peer: where its frames are sent (its address also admits what it sends). */
typedef struct UplinkPeer {
    struct in_addr addr;
    uint16_t port; /* UDP port frames are sent to */
} UplinkPeer;

/* An uplink's configuration: plain data, copyable. */
typedef struct UplinkConfig {
    UplinkKind kind;
    char name[SWITCH_NAME_MAX]; /* its port's name */
    struct {
        struct in_addr network; /* host bits zero */
        unsigned prefix;
        NetHostFwd fwd[NET_MAX_HOSTFWD]; /* guest addresses inside the network */
        unsigned nfwd;
        char leases[UPLINK_PATH_MAX]; /* where the DHCP leases are kept; "" = nowhere */
    } slirp;
    struct {
        uint32_t vni;         /* 0..VXLAN_VNI_MAX */
        struct in_addr local; /* the address to bind; INADDR_ANY = every one */
        uint16_t port;        /* the local UDP port, and the peers' default */
        UplinkPeer peers[UPLINK_VXLAN_MAX_PEERS];
        unsigned npeers;
    } vxlan;
    struct {
        char ifname[NET_IFNAME_MAX];
    } tap;
} UplinkConfig;

/* One kind-specific counter, for query-ports. */
typedef struct UplinkCounter {
    const char *name; /* e.g. "drop-peer" */
    uint64_t value;
} UplinkCounter;

typedef struct Uplink Uplink;

/* A frame from outside for the switch (valid during the call only). */
typedef void (*UplinkInputFn)(void *opaque, const uint8_t *frame, size_t len);

typedef struct UplinkOps {
    const char *kind; /* "slirp", "vxlan", "tap" */
    /* A frame from the switch for outside: SwitchOutputFn's contract (1 sent, 0 later, -1 gone). */
    int (*output)(Uplink *u, const uint8_t *frame, size_t len);
    /* Optional: called once a second (the vxlan uplink ages its remote addresses, the slirp
     * one writes its leases). */
    void (*age)(Uplink *u, uint64_t now_ns);
    /* Optional: fill up to max counters, return how many. */
    size_t (*counters)(Uplink *u, UplinkCounter *out, size_t max);
    /* Optional (slirp): replace the host port forwards, all or nothing (net_slirp_set_forwards). */
    int (*set_forwards)(Uplink *u, const NetHostFwd *fwd, unsigned nfwd, Error *err);
    void (*free)(Uplink *u);
} UplinkOps;

/* The common part of every uplink (embedded first). */
struct Uplink {
    const UplinkOps *ops;
    UplinkInputFn input;
    void *input_opaque;
};

/* What an uplink is created with besides its configuration. */
typedef struct UplinkEnv {
    EventLoop *loop;
    UplinkInputFn input;
    void *input_opaque;
    uint32_t ageing_s; /* how long remote addresses are kept */
    uint32_t max_macs; /* how many remote addresses are kept */
} UplinkEnv;

/* Create the uplink cfg describes.  Returns NULL with err filled ("uplink NAME: ..."). */
Uplink *uplink_new(const UplinkConfig *cfg, const UplinkEnv *env, Error *err);

/* The kind's word in the configuration: "slirp", "vxlan", "tap". */
const char *uplink_kind_name(UplinkKind kind);
bool uplink_kind_from_name(const char *name, UplinkKind *kind);

/* Fill a switch port configuration for the uplink: its mode, VLANs, uplink=true. */
void uplink_port_config(const UplinkConfig *cfg, SwitchPortConfig *pc);

/* Hand a frame from outside to the switch. */
void uplink_input(Uplink *u, const uint8_t *frame, size_t len);

int uplink_output(Uplink *u, const uint8_t *frame, size_t len);
void uplink_age(Uplink *u, uint64_t now_ns);
size_t uplink_counters(Uplink *u, UplinkCounter *out, size_t max);
/* Replace the uplink's forwards; an uplink without them refuses.  Returns 0 or -1 with err. */
int uplink_set_forwards(Uplink *u, const NetHostFwd *fwd, unsigned nfwd, Error *err);
void uplink_free(Uplink *u);

/* The constructors behind uplink_new, one per file. */
Uplink *uplink_slirp_new(const UplinkConfig *cfg, const UplinkEnv *env, Error *err);
Uplink *uplink_vxlan_new(const UplinkConfig *cfg, const UplinkEnv *env, Error *err);
Uplink *uplink_tap_new(const UplinkConfig *cfg, const UplinkEnv *env, Error *err);

#endif
