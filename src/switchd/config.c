/*
 * `hostel switch --config`: one function per JSON object, each checking
 * its members against a list, then every value's type and range, so the
 * error names the member in the words of the file.
 */
#include "switchd/config.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "net/slirp.h"
#include "net/vxlan.h"

/* Every member of obj is in allowed (NULL-terminated). */
static int members_check(const json_t *obj, const char *const *allowed, const char *where,
                         Error *err)
{
    const char *key;
    json_t *value;
    json_object_foreach((json_t *)obj, key, value)
    {
        bool ok = false;
        for (size_t i = 0; allowed[i] && !ok; i++)
            ok = strcmp(key, allowed[i]) == 0;
        if (!ok)
            return error_set(err, "%sunknown member \"%s\"", where, key);
    }
    return 0;
}

/* obj[key] as an integer in min..max, or dflt when absent. */
static int get_uint(const json_t *obj, const char *key, uint64_t min, uint64_t max, uint64_t dflt,
                    uint64_t *out, const char *where, Error *err)
{
    const json_t *v = json_object_get(obj, key);
    if (!v) {
        *out = dflt;
        return 0;
    }
    json_int_t i = json_is_integer(v) ? json_integer_value(v) : -1;
    if (i < 0 || (uint64_t)i < min || (uint64_t)i > max)
        return error_set(err, "%s\"%s\" must be an integer from %llu to %llu", where, key,
                         (unsigned long long)min, (unsigned long long)max);
    *out = (uint64_t)i;
    return 0;
}

/* obj[key] as a string (NULL when absent and not required). */
static int get_str(const json_t *obj, const char *key, bool required, const char **out,
                   const char *where, Error *err)
{
    const json_t *v = json_object_get(obj, key);
    *out = json_string_value(v);
    if (!v && !required)
        return 0;
    if (!json_is_string(v))
        return error_set(err, "%s\"%s\" %s a string", where, key, v ? "must be" : "is required:");
    return 0;
}

/* A port name the switch takes: 1..63 of [A-Za-z0-9._:-]. */
static bool port_name_valid(const char *name)
{
    size_t n = strlen(name);
    if (n < 1 || n >= SWITCH_NAME_MAX)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!isalnum((unsigned char)name[i]) && !strchr("._:-", name[i]))
            return false;
    return true;
}

/* "A.B.C.D" (IPv4 only). */
static bool parse_ipv4(const char *s, struct in_addr *a)
{
    return inet_pton(AF_INET, s, a) == 1;
}

/* ---- slirp ---- */

static int subnet_parse(const char *s, struct in_addr *net, unsigned *prefix, const char *where,
                        Error *err)
{
    char addr[INET_ADDRSTRLEN];
    const char *slash = strchr(s, '/');
    char *end;
    size_t n = slash ? (size_t)(slash - s) : 0;
    unsigned long p = slash && slash[1] ? strtoul(slash + 1, &end, 10) : 0;
    if (!slash || n >= sizeof(addr) || !isdigit((unsigned char)slash[1]) || *end || p > 32)
        return error_set(err, "%s\"subnet\" '%s': expected IPV4/PREFIX, e.g. 10.77.0.0/24", where,
                         s);
    memcpy(addr, s, n);
    addr[n] = '\0';
    if (!parse_ipv4(addr, net))
        return error_set(err, "%s\"subnet\" '%s': expected IPV4/PREFIX, e.g. 10.77.0.0/24", where,
                         s);
    *prefix = (unsigned)p;
    Error e = {0};
    if (net_slirp_subnet_check(*net, *prefix, &e) < 0)
        return error_set(err, "%s%s", where, e.msg);
    return 0;
}

static bool fwd_same_host_port(const NetHostFwd *a, const NetHostFwd *b)
{
    return a->udp == b->udp && a->host_port == b->host_port &&
           (a->host_addr.s_addr == b->host_addr.s_addr || !a->host_addr.s_addr ||
            !b->host_addr.s_addr);
}

int switchd_config_hostfwd(UplinkConfig *u, const json_t *list, const char *where, Error *err)
{
    u->slirp.nfwd = 0;
    if (!list)
        return 0;
    if (!json_is_array(list))
        return error_set(err, "%s\"hostfwd\" must be an array of strings", where);
    if (json_array_size(list) > NET_MAX_HOSTFWD)
        return error_set(err, "%s\"hostfwd\": at most %d rules", where, NET_MAX_HOSTFWD);
    size_t i;
    json_t *v;
    json_array_foreach(list, i, v)
    {
        NetHostFwd *f = &u->slirp.fwd[u->slirp.nfwd];
        Error e = {0};
        if (!json_is_string(v))
            return error_set(err, "%s\"hostfwd\"[%zu] must be a string", where, i);
        if (net_hostfwd_parse_in(f, json_string_value(v), u->slirp.network, u->slirp.prefix, &e) <
            0)
            return error_set(err, "%s%s", where, e.msg);
        for (unsigned k = 0; k < u->slirp.nfwd; k++)
            if (fwd_same_host_port(&u->slirp.fwd[k], f))
                return error_set(err, "%shostfwd '%s': host port %u is already forwarded", where,
                                 json_string_value(v), f->host_port);
        u->slirp.nfwd++;
    }
    return 0;
}

static int slirp_parse(UplinkConfig *u, const json_t *o, const char *where, Error *err)
{
    static const char *const members[] = {"kind", "name", "subnet", "hostfwd", "leases", NULL};
    const char *subnet, *leases;
    if (members_check(o, members, where, err) < 0 ||
        get_str(o, "subnet", false, &subnet, where, err) < 0 ||
        get_str(o, "leases", false, &leases, where, err) < 0)
        return -1;
    if (leases && (!leases[0] || strlen(leases) >= sizeof(u->slirp.leases)))
        return error_set(err, "%s\"leases\" must be a file's path of 1 to %zu bytes", where,
                         sizeof(u->slirp.leases) - 1);
    snprintf(u->slirp.leases, sizeof(u->slirp.leases), "%s", leases ? leases : "");
    if (subnet_parse(subnet ? subnet : "10.0.2.0/24", &u->slirp.network, &u->slirp.prefix, where,
                     err) < 0)
        return -1;
    return switchd_config_hostfwd(u, json_object_get(o, "hostfwd"), where, err);
}

/* ---- vxlan ---- */

/* "A.B.C.D" or "A.B.C.D:PORT". */
static int peer_parse(UplinkPeer *p, const char *s, uint16_t dflt_port, const char *where,
                      Error *err)
{
    char addr[INET_ADDRSTRLEN];
    const char *colon = strchr(s, ':');
    size_t n = colon ? (size_t)(colon - s) : strlen(s);
    unsigned long port = dflt_port;
    char *end = (char *)"";
    if (colon && strchr(colon + 1, ':'))
        return error_set(err, "%speer '%s': IPv6 peers are not supported (IPV4[:PORT])", where, s);
    if (colon)
        port = isdigit((unsigned char)colon[1]) ? strtoul(colon + 1, &end, 10) : 0;
    if (n >= sizeof(addr) || (colon && (*end || port < 1 || port > 65535)))
        return error_set(err, "%speer '%s': expected IPV4[:PORT] (ports 1-65535)", where, s);
    memcpy(addr, s, n);
    addr[n] = '\0';
    if (!parse_ipv4(addr, &p->addr))
        return error_set(err, "%speer '%s': expected IPV4[:PORT] (ports 1-65535)", where, s);
    if (p->addr.s_addr == htonl(INADDR_ANY) || (ntohl(p->addr.s_addr) >> 28) >= 14)
        return error_set(err, "%speer '%s': not a unicast address", where, s);
    p->port = (uint16_t)port;
    return 0;
}

static int peers_parse(UplinkConfig *u, const json_t *list, const char *where, Error *err)
{
    if (!list)
        return 0;
    if (!json_is_array(list))
        return error_set(err, "%s\"peers\" must be an array of strings", where);
    if (json_array_size(list) > UPLINK_VXLAN_MAX_PEERS)
        return error_set(err, "%s\"peers\": at most %d", where, UPLINK_VXLAN_MAX_PEERS);
    size_t i;
    json_t *v;
    json_array_foreach(list, i, v)
    {
        UplinkPeer *p = &u->vxlan.peers[u->vxlan.npeers];
        if (!json_is_string(v))
            return error_set(err, "%s\"peers\"[%zu] must be a string", where, i);
        if (peer_parse(p, json_string_value(v), u->vxlan.port, where, err) < 0)
            return -1;
        for (unsigned k = 0; k < u->vxlan.npeers; k++)
            if (u->vxlan.peers[k].addr.s_addr == p->addr.s_addr)
                return error_set(err, "%speer '%s' is listed twice", where, json_string_value(v));
        u->vxlan.npeers++;
    }
    return 0;
}

static int vxlan_parse(UplinkConfig *u, const json_t *o, const char *where, Error *err)
{
    static const char *const members[] = {"kind", "name", "vni", "local", "port", "peers", NULL};
    uint64_t vni = 0, port = 0;
    const char *local;
    if (members_check(o, members, where, err) < 0)
        return -1;
    if (!json_object_get(o, "vni"))
        return error_set(err, "%s\"vni\" is required (0 to %u)", where, VXLAN_VNI_MAX);
    if (get_uint(o, "vni", 0, VXLAN_VNI_MAX, 0, &vni, where, err) < 0 ||
        get_uint(o, "port", 1, 65535, VXLAN_PORT, &port, where, err) < 0 ||
        get_str(o, "local", false, &local, where, err) < 0)
        return -1;
    u->vxlan.vni = (uint32_t)vni;
    u->vxlan.port = (uint16_t)port;
    u->vxlan.local.s_addr = htonl(INADDR_ANY);
    if (local && !parse_ipv4(local, &u->vxlan.local))
        return error_set(err, "%s\"local\" '%s' is not an IPv4 address (IPv6 is not supported)",
                         where, local);
    return peers_parse(u, json_object_get(o, "peers"), where, err);
}

/* ---- tap ---- */

static int tap_parse(UplinkConfig *u, const json_t *o, const char *where, Error *err)
{
    static const char *const members[] = {"kind", "name", "ifname", NULL};
    const char *ifname;
    if (members_check(o, members, where, err) < 0 ||
        get_str(o, "ifname", true, &ifname, where, err) < 0)
        return -1;
    if (!net_ifname_valid(ifname))
        return error_set(err,
                         "%s\"ifname\" '%s': 1 to 15 letters, digits, '.', '_', '-' "
                         "(not . or ..)",
                         where, ifname);
    snprintf(u->tap.ifname, sizeof(u->tap.ifname), "%s", ifname);
    return 0;
}

/* ---- uplinks ---- */

static int uplink_parse(SwitchdConfig *cfg, size_t index, const json_t *o, Error *err)
{
    static int (*const parse[])(UplinkConfig *, const json_t *, const char *, Error *) = {
        [UPLINK_SLIRP] = slirp_parse, [UPLINK_VXLAN] = vxlan_parse, [UPLINK_TAP] = tap_parse};
    UplinkConfig *u = &cfg->uplinks[cfg->nuplinks];
    char where[64];
    const char *kind, *name;
    snprintf(where, sizeof(where), "uplinks[%zu]: ", index);
    if (!json_is_object(o))
        return error_set(err, "%san uplink is an object", where);
    if (get_str(o, "kind", true, &kind, where, err) < 0)
        return -1;
    memset(u, 0, sizeof(*u));
    if (!uplink_kind_from_name(kind, &u->kind))
        return error_set(err, "%s\"kind\" '%s' is not slirp, vxlan or tap", where, kind);
    snprintf(where, sizeof(where), "uplinks[%zu] (%s): ", index, kind);
    if (get_str(o, "name", false, &name, where, err) < 0)
        return -1;
    name = name ? name : kind;
    if (!port_name_valid(name))
        return error_set(err, "%s\"name\" '%s': 1 to 63 letters, digits, '.', '_', ':', '-'", where,
                         name);
    for (unsigned k = 0; k < cfg->nuplinks; k++) {
        if (strcmp(cfg->uplinks[k].name, name) == 0)
            return error_set(err, "%sthe name '%s' is taken by uplinks[%u]", where, name, k);
        if (u->kind == UPLINK_SLIRP && cfg->uplinks[k].kind == UPLINK_SLIRP)
            return error_set(err, "%sat most one slirp uplink (two would both serve DHCP)", where);
    }
    snprintf(u->name, sizeof(u->name), "%s", name);
    if (parse[u->kind](u, o, where, err) < 0)
        return -1;
    cfg->nuplinks++;
    return 0;
}

static int uplinks_parse(SwitchdConfig *cfg, const json_t *list, Error *err)
{
    if (!list)
        return 0;
    if (!json_is_array(list))
        return error_set(err, "\"uplinks\" must be an array");
    if (json_array_size(list) > UPLINK_MAX)
        return error_set(err, "\"uplinks\": at most %d", UPLINK_MAX);
    size_t i;
    json_t *v;
    json_array_foreach(list, i, v)
    {
        if (uplink_parse(cfg, i, v, err) < 0)
            return -1;
    }
    return 0;
}

int switchd_config_from_json(SwitchdConfig *cfg, const json_t *root, Error *err)
{
    static const char *const members[] = {"name", "ageing", "fdb-max", "uplinks", NULL};
    uint64_t ageing = 0, fdb_max = 0;
    const char *name;
    memset(cfg, 0, sizeof(*cfg));
    if (!json_is_object(root))
        return error_set(err, "the configuration is a JSON object");
    if (members_check(root, members, "", err) < 0 ||
        get_str(root, "name", true, &name, "", err) < 0)
        return -1;
    if (!net_network_name_valid(name))
        return error_set(err,
                         "\"name\" '%s': 1 to 63 letters, digits, '.', '_', '-', starting with "
                         "a letter or a digit",
                         name);
    if (get_uint(root, "ageing", 1, 1000000, SWITCH_DEFAULT_AGEING, &ageing, "", err) < 0 ||
        get_uint(root, "fdb-max", 1, 1u << 20, SWITCH_DEFAULT_FDB_MAX, &fdb_max, "", err) < 0)
        return -1;
    snprintf(cfg->name, sizeof(cfg->name), "%s", name);
    cfg->ageing_s = (uint32_t)ageing;
    cfg->fdb_max = (uint32_t)fdb_max;
    return uplinks_parse(cfg, json_object_get(root, "uplinks"), err);
}

int switchd_config_load(SwitchdConfig *cfg, const char *path, Error *err)
{
    struct stat st;
    if (stat(path, &st) < 0)
        return error_set_errno(err, errno, "%s", path);
    if (!S_ISREG(st.st_mode) || st.st_size > SWITCHD_CONFIG_MAX)
        return error_set(err, "%s: not a regular file of at most %u bytes", path,
                         SWITCHD_CONFIG_MAX);
    json_error_t je;
    json_t *root = json_load_file(path, JSON_REJECT_DUPLICATES, &je);
    if (!root)
        return error_set(err, "%s: line %d column %d: %s", path, je.line, je.column, je.text);
    Error e = {0};
    int rc = switchd_config_from_json(cfg, root, &e);
    json_decref(root);
    if (rc < 0)
        return error_set(err, "%s: %s", path, e.msg);
    return 0;
}
