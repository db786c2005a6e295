/*
 * A network card's configuration (NetConfig): the --net option parser and
 * the helpers the VM definition codec (machine/vmconfig) and the --net
 * parser (net/net_spec.c) share: MAC addresses and hostfwd rules in their
 * text forms, names, a switch port's options.  Plain data only: this file
 * links without any backend (net/backend.c has those).
 */
#include "net/net.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/compiler.h"

#define HOSTFWD_SYNTAX "[tcp|udp]:[HOSTADDR]:HOSTPORT-[GUESTADDR]:GUESTPORT"

const uint8_t net_default_mac[NET_MAC_LEN] = {0x52, 0x54, 0x00, 0x12, 0x34, 0x56};

/* ---- --net parsing ---- */

/* A decimal port 1..65535 filling all of s. */
static bool parse_port(const char *s, uint16_t *port)
{
    char *end;
    if (*s < '0' || *s > '9')
        return false;
    unsigned long v = strtoul(s, &end, 10);
    if (*end || v == 0 || v > 65535)
        return false;
    *port = (uint16_t)v;
    return true;
}

/* "ADDR:PORT" with ADDR empty (0) or dotted IPv4; s is modified. */
static bool parse_addr_port(char *s, struct in_addr *addr, uint16_t *port)
{
    char *colon = strchr(s, ':');
    if (!colon || strchr(colon + 1, ':'))
        return false;
    *colon = '\0';
    addr->s_addr = htonl(INADDR_ANY);
    if (*s && inet_pton(AF_INET, s, addr) != 1)
        return false;
    return parse_port(colon + 1, port);
}

/* A guest address must be a host of the user network network/prefix (not its first or last). */
static bool guest_addr_ok(struct in_addr a, struct in_addr network, unsigned prefix)
{
    uint32_t h = ntohl(a.s_addr), mask = prefix ? ~0u << (32 - prefix) : 0;
    if (h == 0)
        return true; /* the DHCP address */
    return (h & mask) == ntohl(network.s_addr) && (h & ~mask) != 0 && (h & ~mask) != ~mask;
}

int net_hostfwd_parse(NetHostFwd *f, const char *value, Error *err)
{
    return net_hostfwd_parse_in(f, value, (struct in_addr){htonl(0x0a000200u)}, 24, err);
}

int net_hostfwd_parse_in(NetHostFwd *f, const char *value, struct in_addr network, unsigned prefix,
                         Error *err)
{
    char buf[128];
    if (strlen(value) >= sizeof(buf))
        return error_set(err, "hostfwd '%.40s...': too long", value);
    strcpy(buf, value);
    char *colon = strchr(buf, ':'), *dash = strchr(buf, '-');
    *f = (NetHostFwd){0};
    if (!colon || !dash || dash < colon)
        return error_set(err, "hostfwd '%s': expected " HOSTFWD_SYNTAX, value);
    *colon = *dash = '\0';
    if (strcmp(buf, "udp") == 0)
        f->udp = true;
    else if (*buf && strcmp(buf, "tcp") != 0)
        return error_set(err, "hostfwd '%s': protocol '%s' is not tcp or udp", value, buf);
    if (!parse_addr_port(colon + 1, &f->host_addr, &f->host_port) ||
        !parse_addr_port(dash + 1, &f->guest_addr, &f->guest_port))
        return error_set(
            err, "hostfwd '%s': expected " HOSTFWD_SYNTAX " (IPv4 addresses, ports 1-65535)",
            value);
    if (!guest_addr_ok(f->guest_addr, network, prefix)) {
        char net[INET_ADDRSTRLEN];
        inet_ntop(AF_INET, &network, net, sizeof(net));
        return error_set(err, "hostfwd '%s': the guest address must be in %s/%u", value, net,
                         prefix);
    }
    return 0;
}

static bool same_host_port(const NetHostFwd *a, const NetHostFwd *b)
{
    return a->udp == b->udp && a->host_port == b->host_port &&
           (a->host_addr.s_addr == b->host_addr.s_addr || a->host_addr.s_addr == 0 ||
            b->host_addr.s_addr == 0);
}

int net_config_add_hostfwd(NetConfig *cfg, const char *value, Error *err)
{
    if (cfg->nfwd == NET_MAX_HOSTFWD)
        return error_set(err, "at most %d hostfwd rules", NET_MAX_HOSTFWD);
    NetHostFwd *f = &cfg->fwd[cfg->nfwd];
    if (net_hostfwd_parse(f, value, err) < 0)
        return -1;
    for (unsigned i = 0; i < cfg->nfwd; i++)
        if (same_host_port(&cfg->fwd[i], f))
            return error_set(err, "hostfwd '%s': host port %u is already forwarded", value,
                             f->host_port);
    cfg->nfwd++;
    return 0;
}

static int hex_digit(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    c = (char)(c | 0x20);
    return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

int net_mac_parse(uint8_t *mac, const char *s, Error *err)
{
    uint8_t m[NET_MAC_LEN];
    bool zero = true;
    for (int i = 0; i < NET_MAC_LEN; i++) {
        const char *p = s + 3 * i;
        int hi = hex_digit(p[0]), lo = hi < 0 ? -1 : hex_digit(p[1]);
        char sep = lo < 0 ? 'x' : p[2];
        if (lo < 0 || sep != (i == NET_MAC_LEN - 1 ? '\0' : ':'))
            return error_set(err, "mac '%s': expected six hex bytes like 52:54:00:12:34:56", s);
        m[i] = (uint8_t)(hi << 4 | lo);
        zero = zero && m[i] == 0;
    }
    if (zero || (m[0] & 1))
        return error_set(err, "mac '%s': a card needs a unicast, non-zero address", s);
    memcpy(mac, m, sizeof(m));
    return 0;
}

/* A network name --net and the state file use, by kind. */
static const char *const net_kind_names[] = {
    [NET_NONE] = "none",     [NET_USER] = "user",       [NET_TAP] = "tap",
    [NET_SOCKET] = "socket", [NET_NETWORK] = "network",
};

const char *net_kind_name(NetKind kind)
{
    return (unsigned)kind < ARRAY_SIZE(net_kind_names) ? net_kind_names[kind] : "?";
}

bool net_kind_from_name(const char *name, NetKind *kind)
{
    for (unsigned k = 0; k < ARRAY_SIZE(net_kind_names); k++)
        if (strcmp(name, net_kind_names[k]) == 0) {
            *kind = (NetKind)k;
            return true;
        }
    return false;
}

static bool ascii_alnum(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

bool net_ifname_valid(const char *name)
{
    size_t len = strlen(name);
    if (len == 0 || len >= NET_IFNAME_MAX || strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
        return false;
    for (const char *p = name; *p; p++)
        if (!ascii_alnum(*p) && *p != '.' && *p != '_' && *p != '-')
            return false;
    return true;
}

bool net_network_name_valid(const char *name)
{
    size_t len = strlen(name);
    if (len == 0 || len >= NET_NETWORK_NAME_MAX || !ascii_alnum(name[0]))
        return false;
    for (const char *p = name; *p; p++)
        if (!ascii_alnum(*p) && *p != '.' && *p != '_' && *p != '-')
            return false;
    return true;
}

static bool vlan_ok(unsigned v)
{
    return v >= 1 && v <= NET_VLAN_MAX;
}

static int check_trunk(const NetPortOptions *p, Error *err)
{
    if (p->ntrunk > NET_MAX_TRUNK)
        return error_set(err, "trunk: at most %d VLANs", NET_MAX_TRUNK);
    for (unsigned i = 0; i < p->ntrunk; i++) {
        if (!vlan_ok(p->trunk[i]))
            return error_set(err, "trunk: %u is not a VLAN (1 to %d)", p->trunk[i], NET_VLAN_MAX);
        if (i && p->trunk[i] == p->trunk[i - 1])
            return error_set(err, "trunk: VLAN %u is listed twice", p->trunk[i]);
        if (i && p->trunk[i] < p->trunk[i - 1])
            return error_set(err, "trunk: list the VLANs in ascending order (%u after %u)",
                             p->trunk[i], p->trunk[i - 1]);
    }
    return 0;
}

int net_port_options_check(const NetPortOptions *p, Error *err)
{
    if (p->vlan && !vlan_ok(p->vlan))
        return error_set(err, "vlan: %u is not a VLAN (1 to %d)", p->vlan, NET_VLAN_MAX);
    if (p->vlan && p->ntrunk)
        return error_set(err, "vlan: a trunk port has no access VLAN (native gives its "
                              "untagged frames a VLAN)");
    if (p->native && !p->ntrunk)
        return error_set(err, "native: only a trunk port (trunk) has a native VLAN");
    if (p->native && !vlan_ok(p->native))
        return error_set(err, "native: %u is not a VLAN (1 to %d)", p->native, NET_VLAN_MAX);
    return check_trunk(p, err);
}

void net_config_default(NetConfig *cfg)
{
    *cfg = (NetConfig){.kind = NET_USER, .fd = -1}; /* as QEMU: a card on user networking */
    memcpy(cfg->mac, net_default_mac, NET_MAC_LEN);
}

void net_default_mac_of(unsigned index, uint8_t mac[NET_MAC_LEN])
{
    memcpy(mac, net_default_mac, NET_MAC_LEN);
    mac[NET_MAC_LEN - 1] = (uint8_t)(mac[NET_MAC_LEN - 1] + index);
}

void net_mac_format(const uint8_t mac[NET_MAC_LEN], char buf[NET_MAC_TEXT])
{
    snprintf(buf, NET_MAC_TEXT, "%02x:%02x:%02x:%02x:%02x:%02x", mac[0], mac[1], mac[2], mac[3],
             mac[4], mac[5]);
}

void net_hostfwd_format(const NetHostFwd *f, char *buf, size_t size)
{
    char host[INET_ADDRSTRLEN] = "", guest[INET_ADDRSTRLEN] = "";
    inet_ntop(AF_INET, &f->host_addr, host, sizeof(host));
    if (f->guest_addr.s_addr)
        inet_ntop(AF_INET, &f->guest_addr, guest, sizeof(guest));
    snprintf(buf, size, "%s:%s:%u-%s:%u", f->udp ? "udp" : "tcp", host, f->host_port, guest,
             f->guest_port);
}
