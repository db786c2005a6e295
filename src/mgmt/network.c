/*
 * Network definitions (network.h): the rules of each member, the document
 * codec, the default subnet, the switch process's configuration.  The
 * definitions kept in the state directory are network_store.c's.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mgmt/network.h"

static const char *const kind_names[] = {
    [MGMT_NET_NAT] = "nat",     [MGMT_NET_ISOLATED] = "isolated", [MGMT_NET_INTERNAL] = "internal",
    [MGMT_NET_VXLAN] = "vxlan", [MGMT_NET_BRIDGED] = "bridged",
};

const char *mgmt_net_kind_name(MgmtNetKind k)
{
    return (unsigned)k < sizeof(kind_names) / sizeof(kind_names[0]) ? kind_names[k] : "unknown";
}

bool mgmt_net_kind_parse(const char *s, MgmtNetKind *k)
{
    for (unsigned i = 0; s && i < sizeof(kind_names) / sizeof(kind_names[0]); i++) {
        if (strcmp(s, kind_names[i]) == 0) {
            *k = (MgmtNetKind)i;
            return true;
        }
    }
    return false;
}

/* "a" or "an" before the kind's name. */
static const char *article(MgmtNetKind k)
{
    return k == MGMT_NET_ISOLATED || k == MGMT_NET_INTERNAL ? "an" : "a";
}

bool mgmt_net_has_switch(MgmtNetKind k)
{
    return k != MGMT_NET_BRIDGED;
}

bool mgmt_net_needs_root(MgmtNetKind k)
{
    return k == MGMT_NET_INTERNAL || k == MGMT_NET_BRIDGED;
}

bool mgmt_network_host_nat(const MgmtNetwork *net)
{
    return net->nat && net->nat_mode == MGMT_NAT_HOST;
}

bool mgmt_network_host_tap(const MgmtNetwork *net)
{
    return net->kind == MGMT_NET_INTERNAL || mgmt_network_host_nat(net);
}

bool mgmt_network_needs_root(const MgmtNetwork *net)
{
    return mgmt_net_needs_root(net->kind) || mgmt_network_host_nat(net);
}

const char *mgmt_network_root_what(const MgmtNetwork *net)
{
    if (net->kind == MGMT_NET_INTERNAL)
        return "an internal network";
    if (net->kind == MGMT_NET_BRIDGED)
        return "a bridged network";
    return "a nat network in host mode (a host tap, dnsmasq and nftables)";
}

int mgmt_net_fail(Error *err, int code, const char *fmt, ...)
{
    if (err) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
        va_end(ap);
        err->code = 0;
    }
    return code;
}

static bool alnum(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

bool mgmt_net_name_check(const char *name, Error *err)
{
    size_t n = strlen(name);
    if (n == 0 || n > MGMT_NET_NAME_MAX) {
        error_set(err, "name: %zu bytes, 1 to %d are allowed", n, MGMT_NET_NAME_MAX);
        return false;
    }
    if (!alnum(name[0])) {
        error_set(err, "name: '%.63s' does not start with a letter or a digit", name);
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        if (!alnum(name[i]) && name[i] != '.' && name[i] != '_' && name[i] != '-') {
            error_set(err, "name: '%.63s' holds a character outside [A-Za-z0-9._-]", name);
            return false;
        }
    }
    return true;
}

/* ---- addresses ---- */

static uint32_t prefix_mask(unsigned prefix)
{
    return prefix == 0 ? 0 : 0xffffffffu << (32 - prefix);
}

/* A dotted IPv4 address (inet_pton's strict form) into *a, host order. */
static bool parse_ipv4(const char *s, uint32_t *a)
{
    struct in_addr in;
    if (inet_pton(AF_INET, s, &in) != 1)
        return false;
    *a = ntohl(in.s_addr);
    return true;
}

static void format_ipv4(uint32_t a, char *buf, size_t size)
{
    struct in_addr in = {.s_addr = htonl(a)};
    if (!inet_ntop(AF_INET, &in, buf, (socklen_t)size) && size)
        buf[0] = '\0';
}

/* A decimal 1..65535 filling all of s. */
static bool parse_port(const char *s, uint16_t *port)
{
    char *end;
    if (*s < '0' || *s > '9' || strlen(s) > 5)
        return false;
    unsigned long v = strtoul(s, &end, 10);
    if (*end || v == 0 || v > 65535)
        return false;
    *port = (uint16_t)v;
    return true;
}

int mgmt_subnet_parse(const char *text, MgmtSubnet *s, Error *err)
{
    char buf[40], *slash;
    uint32_t a;
    char *end;
    if (strlen(text) >= sizeof(buf) || !(slash = strchr(strcpy(buf, text), '/')))
        return error_set(err, "'%.40s' is not an IPv4 subnet ADDR/PREFIX (e.g. 10.77.0.0/24)",
                         text);
    *slash = '\0';
    unsigned long prefix = strtoul(slash + 1, &end, 10);
    if (!parse_ipv4(buf, &a) || slash[1] < '0' || slash[1] > '9' || *end)
        return error_set(err, "'%s' is not an IPv4 subnet ADDR/PREFIX (e.g. 10.77.0.0/24)", text);
    if (prefix < MGMT_NET_PREFIX_MIN || prefix > MGMT_NET_PREFIX_MAX)
        return error_set(err,
                         "'%s': the prefix must be /%d to /%d (DHCP leases .15 to .30 must fit)",
                         text, MGMT_NET_PREFIX_MIN, MGMT_NET_PREFIX_MAX);
    if (a & ~prefix_mask((unsigned)prefix)) {
        char net[MGMT_NET_ADDR_TEXT];
        format_ipv4(a & prefix_mask((unsigned)prefix), net, sizeof(net));
        return error_set(err,
                         "'%s': the address has bits set past the prefix (did you mean %s/%lu?)",
                         text, net, prefix);
    }
    s->addr = a;
    s->prefix = (unsigned)prefix;
    return 0;
}

void mgmt_subnet_format(const MgmtSubnet *s, char *buf, size_t size)
{
    char a[MGMT_NET_ADDR_TEXT];
    format_ipv4(s->addr, a, sizeof(a));
    snprintf(buf, size, "%s/%u", a, s->prefix);
}

bool mgmt_subnet_overlap(const MgmtSubnet *a, const MgmtSubnet *b)
{
    if (!a->prefix || !b->prefix)
        return false;
    uint32_t m = prefix_mask(a->prefix < b->prefix ? a->prefix : b->prefix);
    return (a->addr & m) == (b->addr & m);
}

void mgmt_subnet_host(const MgmtSubnet *s, uint32_t host, char *buf, size_t size)
{
    format_ipv4(s->addr + host, buf, size);
}

uint32_t mgmt_net_hash(const char *s)
{
    uint32_t h = 2166136261u;
    for (; *s; s++)
        h = (h ^ (uint8_t)*s) * 16777619u;
    return h;
}

MgmtSubnet mgmt_net_pick_subnet(const char *name, const MgmtSubnet *taken, size_t ntaken)
{
    enum { SPAN = 254 * 256 }; /* 10.1.0.0/24 to 10.254.255.0/24 */
    uint32_t start = mgmt_net_hash(name) % SPAN;
    for (uint32_t i = 0; i < SPAN; i++) {
        uint32_t k = (start + i) % SPAN;
        MgmtSubnet s = {.addr = (10u << 24) | ((1 + k / 256) << 16) | ((k % 256) << 8),
                        .prefix = 24};
        bool clash = false;
        for (size_t t = 0; t < ntaken && !clash; t++)
            clash = mgmt_subnet_overlap(&s, &taken[t]);
        if (!clash)
            return s;
    }
    return (MgmtSubnet){0};
}

int mgmt_net_forward_parse(const char *text, const MgmtSubnet *subnet,
                           char out[MGMT_NET_FORWARD_TEXT], Error *err)
{
    return mgmt_net_forward_parse_mode(text, subnet, MGMT_NAT_USER, out, err);
}

/* off is the host number of a VM in a subnet of mask m and that NAT mode (not a service's). */
static bool vm_host_ok(uint32_t off, uint32_t m, MgmtNatMode mode)
{
    if (off == 0 || off == ~m)
        return false;
    return mode == MGMT_NAT_HOST ? off != 1 : off != 2 && off != 3;
}

int mgmt_net_forward_parse_mode(const char *text, const MgmtSubnet *subnet, MgmtNatMode mode,
                                char out[MGMT_NET_FORWARD_TEXT], Error *err)
{
    static const char syntax[] = "[tcp|udp:][HOSTADDR:]HOSTPORT-VMADDR:VMPORT";
    char buf[80], *p = buf, *dash, *colon;
    const char *proto = "tcp";
    uint32_t host = 0, vm;
    uint16_t hport, vport;
    if (strlen(text) >= sizeof(buf))
        return error_set(err, "forward '%.40s...': too long", text);
    strcpy(buf, text);
    if (strncmp(p, "tcp:", 4) == 0 || strncmp(p, "udp:", 4) == 0) {
        proto = p[0] == 'u' ? "udp" : "tcp";
        p += 4;
    }
    if (!(dash = strchr(p, '-')))
        return error_set(err, "forward '%s': expected %s", text, syntax);
    *dash = '\0';
    if ((colon = strrchr(p, ':'))) { /* HOSTADDR:HOSTPORT */
        *colon = '\0';
        if (!parse_ipv4(p, &host))
            return error_set(err, "forward '%s': '%s' is not an IPv4 host address", text, p);
        p = colon + 1;
    }
    char *vmaddr = dash + 1, *vcolon = strchr(vmaddr, ':');
    if (!parse_port(p, &hport) || !vcolon)
        return error_set(err, "forward '%s': expected %s (ports 1-65535)", text, syntax);
    *vcolon = '\0';
    if (!parse_ipv4(vmaddr, &vm) || !parse_port(vcolon + 1, &vport))
        return error_set(err, "forward '%s': expected %s (VMADDR an IPv4 address, ports 1-65535)",
                         text, syntax);
    uint32_t m = prefix_mask(subnet->prefix), off = vm & ~m;
    if (!subnet->prefix || (vm & m) != subnet->addr || !vm_host_ok(off, m, mode)) {
        char s[40];
        mgmt_subnet_format(subnet, s, sizeof(s));
        return error_set(
            err, "forward '%s': the VM address %s is not a VM's address in the subnet %s (%s)",
            text, vmaddr, s,
            mode == MGMT_NAT_HOST ? ".1 is the host's" : ".2 is the gateway, .3 the DNS server");
    }
    if (mode == MGMT_NAT_HOST && (host >> 24) == 127)
        return error_set(err,
                         "forward '%s': a host-mode NAT forwards with nftables, which cannot send "
                         "the host's loopback addresses to a VM: give another host address, or "
                         "none (every address)",
                         text);
    char h[MGMT_NET_ADDR_TEXT], v[MGMT_NET_ADDR_TEXT];
    format_ipv4(host, h, sizeof(h));
    format_ipv4(vm, v, sizeof(v));
    snprintf(out, MGMT_NET_FORWARD_TEXT, "%s:%s:%u-%s:%u", proto, h, hport, v, vport);
    return 0;
}

int mgmt_net_forward_split(const char *normal, MgmtForward *f)
{
    char buf[MGMT_NET_FORWARD_TEXT], *hp, *dash, *va, *vp;
    memset(f, 0, sizeof(*f));
    if (strlen(normal) >= sizeof(buf) ||
        (strncmp(normal, "tcp:", 4) != 0 && strncmp(normal, "udp:", 4) != 0))
        return -1;
    strcpy(buf, normal);
    memcpy(f->proto, buf, 3);
    if (!(dash = strchr(buf + 4, '-')))
        return -1;
    *dash = '\0';
    va = dash + 1;
    if (!(hp = strchr(buf + 4, ':')) || !(vp = strchr(va, ':')))
        return -1;
    *hp++ = '\0';
    *vp++ = '\0';
    if (!parse_ipv4(buf + 4, &f->host_addr) || !parse_port(hp, &f->host_port) ||
        !parse_ipv4(va, &f->vm_addr) || !parse_port(vp, &f->vm_port))
        return -1;
    return 0;
}

/* "ADDR" or "ADDR:PORT" of a VXLAN peer. */
static bool peer_ok(const char *s)
{
    char buf[MGMT_NET_PEER_TEXT], *colon;
    uint32_t a;
    uint16_t port;
    if (strlen(s) >= sizeof(buf))
        return false;
    strcpy(buf, s);
    if ((colon = strchr(buf, ':'))) {
        *colon = '\0';
        if (!parse_port(colon + 1, &port))
            return false;
    }
    return parse_ipv4(buf, &a);
}

static bool ifname_ok(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n >= MGMT_NET_IFNAME_MAX || strcmp(s, ".") == 0 || strcmp(s, "..") == 0)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!alnum(s[i]) && s[i] != '.' && s[i] != '_' && s[i] != '-')
            return false;
    return true;
}

void mgmt_net_ifname(const char *prefix, const char *name, const char *suffix,
                     char out[MGMT_NET_IFNAME_MAX])
{
    if (strlen(prefix) + 1 + strlen(name) + strlen(suffix) < MGMT_NET_IFNAME_MAX)
        snprintf(out, MGMT_NET_IFNAME_MAX, "%s-%s%s", prefix, name, suffix);
    else /* the hashed form has a hex digit, never '-', after the prefix */
        snprintf(out, MGMT_NET_IFNAME_MAX, "%.3s%08x%.3s", prefix, mgmt_net_hash(name), suffix);
}

/* ---- the JSON codec ---- */

/* A string member: 1 with *out, 0 when absent, -EPROTO for another type. */
static int get_string(const json_t *j, const char *path, const char *key, const char **out,
                      Error *err)
{
    const json_t *v = json_object_get(j, key);
    *out = NULL;
    if (!v)
        return 0;
    if (!json_is_string(v) || strlen(json_string_value(v)) != json_string_length(v))
        return mgmt_net_fail(err, -EPROTO, "%s%s: not a string", path, key);
    *out = json_string_value(v);
    return 1;
}

/* Every member of j is one of names (NULL-terminated); else -EPROTO. */
static int members_known(const json_t *j, const char *path, const char *const *names, Error *err)
{
    const char *key;
    const json_t *v;
    json_object_foreach((json_t *)j, key, v)
    {
        size_t i = 0;
        while (names[i] && strcmp(names[i], key) != 0)
            i++;
        if (!names[i])
            return mgmt_net_fail(err, -EPROTO, "%s%s: unknown member", path, key);
    }
    return 0;
}

/* nat: {"mode": "user" | "host"}. */
static int read_nat(const json_t *nat, MgmtNetwork *net, Error *err)
{
    static const char *const names[] = {"mode", NULL};
    const char *mode;
    int rc;
    if (!json_is_object(nat))
        return mgmt_net_fail(err, -EPROTO, "nat: not an object");
    if ((rc = members_known(nat, "nat.", names, err)) < 0 ||
        (rc = get_string(nat, "nat.", "mode", &mode, err)) < 0)
        return rc;
    net->nat = true;
    net->nat_mode = MGMT_NAT_USER;
    if (mode && strcmp(mode, "host") == 0)
        net->nat_mode = MGMT_NAT_HOST;
    else if (mode && strcmp(mode, "user") != 0)
        return mgmt_net_fail(err, -EINVAL, "nat.mode: '%.32s' is not 'user' or 'host'", mode);
    return 0;
}

static int read_forwards(const json_t *a, MgmtNetwork *net, Error *err)
{
    size_t i;
    const json_t *f;
    if (!json_is_array(a))
        return mgmt_net_fail(err, -EPROTO, "forwards: not an array");
    if (json_array_size(a) > MGMT_NET_FORWARDS_MAX)
        return mgmt_net_fail(err, -EINVAL, "forwards: at most %d", MGMT_NET_FORWARDS_MAX);
    if (!net->nat)
        return mgmt_net_fail(err, -EINVAL, "forwards: %s %s network without NAT forwards nothing",
                             article(net->kind), mgmt_net_kind_name(net->kind));
    if (json_array_size(a) && !net->subnet.prefix)
        return mgmt_net_fail(err, -EINVAL,
                             "forwards: give the subnet too (the VM addresses are in it)");
    json_array_foreach(a, i, f)
    {
        Error e = {0};
        if (!json_is_string(f))
            return mgmt_net_fail(err, -EPROTO, "forwards[%zu]: not a string", i);
        if (mgmt_net_forward_parse_mode(json_string_value(f), &net->subnet, net->nat_mode,
                                        net->forwards[i], &e) < 0)
            return mgmt_net_fail(err, -EINVAL, "forwards[%zu]: %s", i, e.msg);
        net->nforwards = (unsigned)i + 1;
    }
    return 0;
}

/* An integer member in lo..hi: 1 with *out, 0 when absent, else < 0. */
static int get_int(const json_t *j, const char *path, const char *key, json_int_t lo, json_int_t hi,
                   json_int_t *out, Error *err)
{
    const json_t *v = json_object_get(j, key);
    if (!v)
        return 0;
    if (!json_is_integer(v))
        return mgmt_net_fail(err, -EPROTO, "%s%s: not an integer", path, key);
    *out = json_integer_value(v);
    if (*out < lo || *out > hi)
        return mgmt_net_fail(err, -EINVAL, "%s%s: %lld is not in %lld..%lld", path, key,
                             (long long)*out, (long long)lo, (long long)hi);
    return 1;
}

static int read_peers(const json_t *a, MgmtNetwork *net, Error *err)
{
    size_t i;
    const json_t *p;
    if (!json_is_array(a))
        return mgmt_net_fail(err, -EPROTO, "vxlan.peers: not an array");
    if (json_array_size(a) > MGMT_NET_PEERS_MAX)
        return mgmt_net_fail(err, -EINVAL, "vxlan.peers: at most %d", MGMT_NET_PEERS_MAX);
    json_array_foreach(a, i, p)
    {
        if (!json_is_string(p))
            return mgmt_net_fail(err, -EPROTO, "vxlan.peers[%zu]: not a string", i);
        if (!peer_ok(json_string_value(p)))
            return mgmt_net_fail(err, -EINVAL,
                                 "vxlan.peers[%zu]: '%.40s' is not ADDR or ADDR:PORT (IPv4)", i,
                                 json_string_value(p));
        for (size_t k = 0; k < i; k++)
            if (strcmp(net->peers[k], json_string_value(p)) == 0)
                return mgmt_net_fail(err, -EINVAL, "vxlan.peers[%zu]: '%s' is listed twice", i,
                                     net->peers[k]);
        snprintf(net->peers[i], MGMT_NET_PEER_TEXT, "%s", json_string_value(p));
        net->npeers = (unsigned)i + 1;
    }
    return 0;
}

/* vxlan: {"vni" (required), "port", "local", "peers"}. */
static int read_vxlan(const json_t *x, MgmtNetwork *net, Error *err)
{
    static const char *const names[] = {"vni", "port", "local", "peers", NULL};
    json_int_t vni = 0, port = MGMT_NET_VXLAN_PORT;
    const char *local;
    uint32_t a;
    int rc;
    if (!json_is_object(x))
        return mgmt_net_fail(err, -EPROTO, "vxlan: not an object");
    if ((rc = members_known(x, "vxlan.", names, err)) < 0 ||
        (rc = get_int(x, "vxlan.", "vni", 1, MGMT_NET_VNI_MAX, &vni, err)) < 0 ||
        (rc = get_int(x, "vxlan.", "port", 1, 65535, &port, err)) < 0 ||
        (rc = get_string(x, "vxlan.", "local", &local, err)) < 0)
        return rc;
    if (!vni)
        return mgmt_net_fail(err, -EINVAL, "vxlan.vni: missing (1 to %u)", MGMT_NET_VNI_MAX);
    if (local && !parse_ipv4(local, &a))
        return mgmt_net_fail(err, -EINVAL, "vxlan.local: '%.40s' is not an IPv4 address", local);
    net->vni = (uint32_t)vni;
    net->vxlan_port = (uint16_t)port;
    snprintf(net->local, sizeof(net->local), "%s", local ? local : "0.0.0.0");
    json_t *peers = json_object_get(x, "peers");
    return peers ? read_peers(peers, net, err) : 0;
}

/* name, kind, description (and created for a document). */
static int read_common(const json_t *j, bool doc, MgmtNetwork *net, Error *err)
{
    const char *name, *kind, *desc, *created;
    Error e = {0};
    int rc;
    if ((rc = get_string(j, "", "name", &name, err)) < 0 ||
        (rc = get_string(j, "", "kind", &kind, err)) < 0 ||
        (rc = get_string(j, "", "description", &desc, err)) < 0 ||
        (rc = get_string(j, "", "created", &created, err)) < 0)
        return rc;
    if (!name)
        return mgmt_net_fail(err, -EPROTO, "name: missing");
    if (!mgmt_net_name_check(name, &e))
        return mgmt_net_fail(err, -EPROTO, "%s", e.msg);
    snprintf(net->name, sizeof(net->name), "%s", name);
    if (kind && !mgmt_net_kind_parse(kind, &net->kind))
        return mgmt_net_fail(
            err, -EINVAL, "kind: '%.32s' is not nat, isolated, internal, vxlan or bridged", kind);
    if (!kind && doc)
        return mgmt_net_fail(err, -EPROTO, "kind: missing");
    if (desc && strlen(desc) > MGMT_DESCRIPTION_MAX)
        return mgmt_net_fail(err, -EPROTO, "description: more than %d bytes", MGMT_DESCRIPTION_MAX);
    snprintf(net->description, sizeof(net->description), "%s", desc ? desc : "");
    snprintf(net->created, sizeof(net->created), "%s", created && doc ? created : "");
    return 0;
}

/* A member given that the kind has no use for: -EINVAL naming it. */
static int refuse_member(const json_t *j, const char *key, const MgmtNetwork *net, Error *err)
{
    if (!json_object_get(j, key))
        return 0;
    return mgmt_net_fail(err, -EINVAL, "%s: %s %s network has none", key, article(net->kind),
                         mgmt_net_kind_name(net->kind));
}

/*
 * dhcp: dnsmasq on the host tap.  An internal network's is off unless
 * asked; a host-mode NAT's is on unless refused; no other network has one
 * of dnsmasq's (a user-mode NAT's DHCP is libslirp's).
 */
static int read_dhcp(const json_t *v, MgmtNetwork *net, Error *err)
{
    net->dhcp = mgmt_network_host_nat(net);
    if (!v)
        return 0;
    if (!json_is_boolean(v))
        return mgmt_net_fail(err, -EPROTO, "dhcp: not a boolean");
    if (!mgmt_network_host_tap(net))
        return mgmt_net_fail(err, -EINVAL,
                             "dhcp: only internal networks and nat networks in host mode have a "
                             "dnsmasq (a nat network in user mode always serves DHCP itself)");
    net->dhcp = json_is_true(v);
    return 0;
}

/* The members of the kind: nat, subnet, forwards, vxlan, bridge. */
static int read_kind(const json_t *j, MgmtNetwork *net, Error *err)
{
    MgmtNetKind k = net->kind;
    const json_t *nat = json_object_get(j, "nat"), *vx = json_object_get(j, "vxlan");
    const char *subnet, *bridge;
    Error e = {0};
    int rc;
    if ((rc = get_string(j, "", "subnet", &subnet, err)) < 0 ||
        (rc = get_string(j, "", "bridge", &bridge, err)) < 0)
        return rc;
    if (k != MGMT_NET_NAT && k != MGMT_NET_VXLAN && (rc = refuse_member(j, "nat", net, err)) < 0)
        return rc;
    if (nat && (rc = read_nat(nat, net, err)) < 0)
        return rc;
    if (k == MGMT_NET_NAT)
        net->nat = true; /* nat: {"mode": "user"} when not given */
    if (subnet && !net->nat && k != MGMT_NET_INTERNAL)
        return mgmt_net_fail(err, -EINVAL, "subnet: %s %s network%s has none", article(k),
                             mgmt_net_kind_name(k), k == MGMT_NET_VXLAN ? " without nat" : "");
    if (subnet && mgmt_subnet_parse(subnet, &net->subnet, &e) < 0)
        return mgmt_net_fail(err, -EINVAL, "subnet: %s", e.msg);
    const json_t *fwd = json_object_get(j, "forwards");
    if (fwd && (rc = read_forwards(fwd, net, err)) < 0)
        return rc;
    if (k != MGMT_NET_VXLAN && (rc = refuse_member(j, "vxlan", net, err)) < 0)
        return rc;
    if (k == MGMT_NET_VXLAN && !vx)
        return mgmt_net_fail(err, -EINVAL,
                             "vxlan: missing (a vxlan network needs at least its vni)");
    if (vx && (rc = read_vxlan(vx, net, err)) < 0)
        return rc;
    if (k != MGMT_NET_BRIDGED && (rc = refuse_member(j, "bridge", net, err)) < 0)
        return rc;
    if (k == MGMT_NET_BRIDGED && !bridge)
        return mgmt_net_fail(err, -EINVAL, "bridge: missing (the host bridge the VMs' taps join)");
    if (bridge && !ifname_ok(bridge))
        return mgmt_net_fail(err, -EINVAL,
                             "bridge: '%.40s' is not an interface name (1 to 15 of [A-Za-z0-9._-])",
                             bridge);
    snprintf(net->bridge, sizeof(net->bridge), "%s", bridge ? bridge : "");
    return read_dhcp(json_object_get(j, "dhcp"), net, err);
}

int mgmt_network_from_json(const json_t *j, bool doc, MgmtNetwork *net, Error *err)
{
    static const char *const names[] = {"name", "kind",     "description", "subnet",
                                        "nat",  "forwards", "vxlan",       "bridge",
                                        "dhcp", "version",  "created",     NULL};
    memset(net, 0, sizeof(*net));
    net->kind = MGMT_NET_NAT;
    if (!json_is_object(j))
        return mgmt_net_fail(err, -EPROTO, "a network is a JSON object");
    int rc = members_known(j, "", names, err);
    if (rc < 0)
        return rc;
    json_int_t version = 0;
    if (!doc && (json_object_get(j, "version") || json_object_get(j, "created")))
        return mgmt_net_fail(err, -EPROTO, "%s: read-only",
                             json_object_get(j, "version") ? "version" : "created");
    if (doc && (rc = get_int(j, "", "version", 1, MGMT_NET_DOC_VERSION, &version, err)) <= 0)
        return rc < 0 ? rc : mgmt_net_fail(err, -EPROTO, "version: missing");
    if ((rc = read_common(j, doc, net, err)) < 0)
        return rc;
    return read_kind(j, net, err);
}

static json_t *vxlan_json(const MgmtNetwork *net)
{
    json_t *peers = json_array();
    for (unsigned i = 0; peers && i < net->npeers; i++)
        json_array_append_new(peers, json_string(net->peers[i]));
    return json_pack("{s:I, s:i, s:s, s:o*}", "vni", (json_int_t)net->vni, "port",
                     (int)net->vxlan_port, "local", net->local, "peers", peers);
}

static json_t *string_array(const char (*items)[MGMT_NET_FORWARD_TEXT], unsigned n)
{
    json_t *a = json_array();
    for (unsigned i = 0; a && i < n; i++)
        json_array_append_new(a, json_string(items[i]));
    return a;
}

json_t *mgmt_network_to_json(const MgmtNetwork *net, bool doc)
{
    json_t *j =
        json_pack("{s:s, s:s, s:s, s:s}", "name", net->name, "kind", mgmt_net_kind_name(net->kind),
                  "description", net->description, "created", net->created);
    if (!j)
        return NULL;
    if (doc)
        json_object_set_new(j, "version", json_integer(MGMT_NET_DOC_VERSION));
    if (net->subnet.prefix) {
        char s[40];
        mgmt_subnet_format(&net->subnet, s, sizeof(s));
        json_object_set_new(j, "subnet", json_string(s));
    }
    if (net->nat) {
        json_object_set_new(
            j, "nat", json_pack("{s:s}", "mode", net->nat_mode == MGMT_NAT_HOST ? "host" : "user"));
        json_object_set_new(j, "forwards", string_array(net->forwards, net->nforwards));
    }
    if (mgmt_network_host_tap(net))
        json_object_set_new(j, "dhcp", json_boolean(net->dhcp));
    if (net->kind == MGMT_NET_VXLAN)
        json_object_set_new(j, "vxlan", vxlan_json(net));
    if (net->kind == MGMT_NET_BRIDGED)
        json_object_set_new(j, "bridge", json_string(net->bridge));
    return j;
}

json_t *mgmt_network_switch_config(const MgmtNetwork *net, const char *host_ifname)
{
    json_t *uplinks = json_array(),
           *cfg = json_pack("{s:s, s:o}", "name", net->name, "uplinks", uplinks);
    if (!cfg)
        return NULL;
    if (net->nat && net->nat_mode == MGMT_NAT_USER) {
        char s[40];
        mgmt_subnet_format(&net->subnet, s, sizeof(s));
        json_array_append_new(uplinks, json_pack("{s:s, s:s, s:s, s:o}", "kind", "slirp", "name",
                                                 "nat", "subnet", s, "hostfwd",
                                                 string_array(net->forwards, net->nforwards)));
    }
    if (net->kind == MGMT_NET_VXLAN) {
        json_t *x = vxlan_json(net);
        json_object_set_new(x, "kind", json_string("vxlan"));
        json_object_set_new(x, "name", json_string("vxlan"));
        json_array_append_new(uplinks, x);
    }
    if (mgmt_network_host_tap(net))
        json_array_append_new(uplinks, json_pack("{s:s, s:s, s:s}", "kind", "tap", "name",
                                                 net->kind == MGMT_NET_INTERNAL ? "host" : "nat",
                                                 "ifname", host_ifname ? host_ifname : ""));
    return cfg;
}
