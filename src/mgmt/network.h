/*
 * hosteld's virtual networks (docs/mgmt.md, "Networks"): a network's
 * definition, its rules, its document, and the definitions kept in the
 * state directory:
 *
 *   DIR/networks/NAME.json   one document per network, versioned, written
 *                            atomically (mgmt_write_atomic)
 *
 * A network is a kind and the members of that kind:
 *
 *   nat       a switch with a NAT uplink: libslirp in the switch process
 *             (nat.mode "user": DHCP from .15, gateway .2, DNS .3), or, as
 *             root, the host itself (nat.mode "host": the tap "hn-NAME" with
 *             the subnet's .1, dnsmasq for DHCP and DNS, nftables NAT):
 *             subnet, nat {mode}, forwards, dhcp (host mode)
 *   isolated  a switch and the VMs on it, nothing else
 *   internal  a switch with a tap uplink hosteld makes on the host
 *             ("hn-NAME", the subnet's .1 as its address): subnet, dhcp (root)
 *   vxlan     a switch with a VXLAN uplink to peers: vxlan {vni, port,
 *             local, peers}, and optionally a NAT uplink as well (nat,
 *             subnet, forwards)
 *   bridged   no switch: each VM card is a tap on the host bridge `bridge`
 *             (root)
 *
 * Nothing here runs anything (netrun.c does) and nothing is thread-safe:
 * the API serialises calls.  Failures return a negative errno that
 * classifies them, with one line in err:
 *   -EPROTO  the shape: an unknown member, a wrong type, a bad name (400)
 *   -EINVAL  a value: a bad kind, subnet, forward, VNI... (422)
 *   -EEXIST  the name is taken, or a broken document holds it (409)
 *   -EBUSY   it clashes with another network (subnet, host port, VXLAN port) (409)
 *   -ENOENT  no such network (404)
 *   -EIO     the state directory cannot be written, or out of memory (500)
 */
#ifndef HOSTEL_MGMT_NETWORK_H
#define HOSTEL_MGMT_NETWORK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mgmt/vm.h"
#include "util/error.h"

struct json_t;

#define MGMT_NET_NAME_MAX 63 /* bytes of a network's name: [A-Za-z0-9._-], first alphanumeric */
#define MGMT_NET_DOC_VERSION 1
#define MGMT_NET_FORWARDS_MAX 16 /* port forwards of one network */
#define MGMT_NET_PEERS_MAX 32    /* VXLAN peers of one network */
#define MGMT_NET_FORWARD_TEXT 64 /* "udp:255.255.255.255:65535-255.255.255.255:65535" + NUL */
#define MGMT_NET_PEER_TEXT 24    /* "255.255.255.255:65535" + NUL */
#define MGMT_NET_ADDR_TEXT 16    /* a dotted IPv4 address + NUL */
#define MGMT_NET_IFNAME_MAX 16   /* a host interface's name with its NUL (IFNAMSIZ) */
#define MGMT_NET_VNI_MAX 16777215u
#define MGMT_NET_VXLAN_PORT 4789
#define MGMT_NET_PREFIX_MIN 8 /* a subnet is /8 to /27: DHCP leases .15 to .30 must fit */
#define MGMT_NET_PREFIX_MAX 27

typedef enum MgmtNetKind {
    MGMT_NET_NAT,
    MGMT_NET_ISOLATED,
    MGMT_NET_INTERNAL,
    MGMT_NET_VXLAN,
    MGMT_NET_BRIDGED,
} MgmtNetKind;

/* How a NAT uplink is made: libslirp in the switch; or a host tap, dnsmasq and nftables (root). */
typedef enum MgmtNatMode {
    MGMT_NAT_USER,
    MGMT_NAT_HOST,
} MgmtNatMode;

/* An IPv4 subnet: its network address (host byte order, host bits zero) and prefix length. */
typedef struct MgmtSubnet {
    uint32_t addr;
    unsigned prefix; /* 0: none */
} MgmtSubnet;

/* A network's definition: plain data, copyable. */
typedef struct MgmtNetwork {
    char name[MGMT_NET_NAME_MAX + 1];
    MgmtNetKind kind;
    char description[MGMT_DESCRIPTION_MAX + 1];
    char created[32]; /* "2026-12-07T05:05:23Z" (UTC) */
    /* a NAT uplink: nat always, vxlan when asked */
    bool nat;
    MgmtNatMode nat_mode;
    MgmtSubnet subnet; /* nat (and vxlan with nat), internal; else none */
    char forwards[MGMT_NET_FORWARDS_MAX][MGMT_NET_FORWARD_TEXT]; /* "tcp:ADDR:PORT-VMADDR:PORT" */
    unsigned nforwards;
    /* dnsmasq serves DHCP (and DNS) on the host tap: internal (when asked), nat in host mode */
    bool dhcp;
    /* vxlan */
    uint32_t vni;
    uint16_t vxlan_port;
    char local[MGMT_NET_ADDR_TEXT];
    char peers[MGMT_NET_PEERS_MAX][MGMT_NET_PEER_TEXT]; /* "ADDR" or "ADDR:PORT" */
    unsigned npeers;
    /* bridged */
    char bridge[MGMT_NET_IFNAME_MAX];
} MgmtNetwork;

/* "nat", "isolated", ...; and back (false when s names none). */
const char *mgmt_net_kind_name(MgmtNetKind k);
bool mgmt_net_kind_parse(const char *s, MgmtNetKind *k);

/* The kind runs a switch process (all but bridged). */
bool mgmt_net_has_switch(MgmtNetKind k);

/* The kind needs hosteld to run as root (internal, bridged). */
bool mgmt_net_needs_root(MgmtNetKind k);

/* net needs hosteld to run as root: its kind, or a NAT in host mode. */
bool mgmt_network_needs_root(const MgmtNetwork *net);

/* net has a host tap ("hn-NAME" with the subnet's .1): internal, or a NAT in host mode. */
bool mgmt_network_host_tap(const MgmtNetwork *net);

/* net is NATed by the host (nftables): a NAT in host mode. */
bool mgmt_network_host_nat(const MgmtNetwork *net);

/* "an internal network", "a host-mode nat network"...: what needs root, for messages. */
const char *mgmt_network_root_what(const MgmtNetwork *net);

/*
 * name is a network's name: 1 to 63 of [A-Za-z0-9._-], the first a letter
 * or a digit.  Returns true, or false with err saying why ("name: ...").
 */
bool mgmt_net_name_check(const char *name, Error *err);

/* "10.77.0.0/24" into *s (host bits must be zero, prefix 8..27). Returns 0, or -1. */
int mgmt_subnet_parse(const char *text, MgmtSubnet *s, Error *err);
void mgmt_subnet_format(const MgmtSubnet *s, char *buf, size_t size);

/* a and b share an address. */
bool mgmt_subnet_overlap(const MgmtSubnet *a, const MgmtSubnet *b);

/* The subnet's address number host (1 = .1), dotted, into buf. */
void mgmt_subnet_host(const MgmtSubnet *s, uint32_t host, char *buf, size_t size);

/*
 * The default subnet of a network named name: a 10.X.Y.0/24 picked from a
 * hash of the name, the first one after it that overlaps none of taken
 * (ntaken of them).  Deterministic: the same name and taken list give the
 * same subnet.
 */
MgmtSubnet mgmt_net_pick_subnet(const char *name, const MgmtSubnet *taken, size_t ntaken);

/*
 * A port forward "[tcp|udp:][HOSTADDR:]HOSTPORT-VMADDR:VMPORT" (HOSTADDR
 * absent: every host address) into its normal form
 * "tcp:HOSTADDR:HOSTPORT-VMADDR:VMPORT" in out; VMADDR must be a host of
 * subnet other than the gateway (.2) and the DNS server (.3).  Returns 0,
 * or -1 with err.
 */
int mgmt_net_forward_parse(const char *text, const MgmtSubnet *subnet,
                           char out[MGMT_NET_FORWARD_TEXT], Error *err);

/*
 * The same for a NAT of the given mode: in host mode the gateway is .1
 * (the host tap), and HOSTADDR may not be a loopback address (nftables
 * cannot send 127.0.0.0/8 to a VM).
 */
int mgmt_net_forward_parse_mode(const char *text, const MgmtSubnet *subnet, MgmtNatMode mode,
                                char out[MGMT_NET_FORWARD_TEXT], Error *err);

/* A forward in its normal form, split: protocol ("tcp"/"udp"), addresses (host order), ports. */
typedef struct MgmtForward {
    char proto[4];
    uint32_t host_addr; /* 0: every host address */
    uint16_t host_port;
    uint32_t vm_addr;
    uint16_t vm_port;
} MgmtForward;

/* A forward's normal form (as stored) into *f. Returns 0, or -1 when it is not one. */
int mgmt_net_forward_split(const char *normal, MgmtForward *f);

/*
 * A network from the JSON object j into net: a create's body (doc false:
 * "created" and "version" are not accepted; the defaults are not applied
 * here, see mgmt_networks_define) or a stored document (doc true).
 * Members that do not belong to the kind are refused.  Returns 0, or
 * -EPROTO / -EINVAL with err naming the member.
 */
int mgmt_network_from_json(const struct json_t *j, bool doc, MgmtNetwork *net, Error *err);

/* The document ({"version": 1, ...}, doc) or the API's object (without version). NULL if OOM. */
struct json_t *mgmt_network_to_json(const MgmtNetwork *net, bool doc);

/*
 * The switch process's configuration (docs/net.md: {"name", "uplinks":
 * [...]}) for net; host_ifname is the tap the uplink of an internal
 * network or a host-mode NAT attaches to.  NULL if out of memory.
 */
struct json_t *mgmt_network_switch_config(const MgmtNetwork *net, const char *host_ifname);

/*
 * A host interface name of at most 15 bytes made of prefix and name, so
 * that different names give different interfaces: "PREFIX-NAME" when it
 * fits, else PREFIX and 8 hex digits of a hash of the name (prefix: "hn"
 * for an internal network's tap).  suffix (may be "") is appended to
 * either form ("-0", ".0": a card's number).
 */
void mgmt_net_ifname(const char *prefix, const char *name, const char *suffix,
                     char out[MGMT_NET_IFNAME_MAX]);

/* Fill err (if not NULL) with the line; returns code (one of the negative errnos above). */
int mgmt_net_fail(Error *err, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* FNV-1a (32 bits) of s: the hash that shortens names. */
uint32_t mgmt_net_hash(const char *s);

/* ---- the definitions in the state directory ---- */

typedef struct MgmtNetworks MgmtNetworks;

/*
 * Open DIR/networks (made if missing): remove stray temporary files, read
 * every document (one that does not read is logged and skipped, never
 * deleted, and its name stays taken).  Returns 0 with *out set, or -EIO.
 */
int mgmt_networks_open(MgmtNetworks **out, const char *state_dir, Error *err);
void mgmt_networks_close(MgmtNetworks *n);

/* The networks, sorted by name: count, the i-th (valid until the next change), by name. */
size_t mgmt_networks_count(const MgmtNetworks *n);
const MgmtNetwork *mgmt_networks_at(const MgmtNetworks *n, size_t i);
const MgmtNetwork *mgmt_networks_find(const MgmtNetworks *n, const char *name);

/*
 * net clashes with another network than itself (same name skipped): an
 * overlapping subnet, a host port forwarded twice, the same VXLAN UDP
 * port and local address, the same host bridge.  Returns 0, or -EBUSY.
 */
int mgmt_networks_conflict(const MgmtNetworks *n, const MgmtNetwork *net, Error *err);

/*
 * Fill what a new network leaves out: the subnet of a NAT or internal
 * network (mgmt_net_pick_subnet over the other networks' subnets and the
 * extra ones given, e.g. the host's), the creation time.  Then check it
 * against the others (mgmt_networks_conflict).  Returns 0, or -EBUSY.
 */
int mgmt_networks_complete(const MgmtNetworks *n, MgmtNetwork *net, const MgmtSubnet *extra,
                           size_t nextra, Error *err);

/*
 * Write net's document atomically (a new one, or over the one of its
 * name) and keep a copy.  Returns 0, or -EEXIST (create only: the name is
 * taken or held by a broken document), -EIO.
 */
int mgmt_networks_put(MgmtNetworks *n, const MgmtNetwork *net, bool create, Error *err);

/* Delete the definition (file and memory). Returns 0, or -ENOENT, -EIO. */
int mgmt_networks_remove(MgmtNetworks *n, const char *name, Error *err);

#endif
