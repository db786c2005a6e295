/*
 * The VmConfig codec: JSON in (strict: types, ranges and member names
 * checked, errors naming the member as "nics[0].mac"), JSON out, and the
 * reader of format-1 state file configurations (one "net" object).
 * A card's members at their defaults are not written (a tap's, socket's or
 * network card's fd only when it has one: a stored definition has none,
 * hosteld adds it when it starts the VMM).
 *
 *   {"ram-size": 134217728, "harts": 1,
 *    "boot": {"kernel": "/k/Image", "initrd": null, "cmdline": "console=ttyS0", "bios": null},
 *    "disks": [{"path": "/d/a.qcow2", "read-only": false, "format": "qcow2",
 *               "l2-cache-size": 0}],
 *    "nics": [{"kind": "user", "mac": "52:54:00:12:34:56", "hostfwd": ["tcp::2222-:22"]},
 *             {"kind": "tap", "mac": "52:54:00:12:34:57", "ifname": "tap0"},
 *             {"kind": "socket", "mac": "52:54:00:12:34:58", "path": "/run/sw.sock"},
 *             {"kind": "network", "mac": "52:54:00:12:34:59", "network": "lan", "fd": 3,
 *              "trunk": [10, 20], "native": 1, "isolated": true, "spoof-check": false,
 *              "rate-mbit": 100, "flood-pps": 1000}],
 *    "devices": ["blk:0", "net:0", "net:1", "rng", "console", "empty", "empty", "empty"]}
 */
#include <arpa/inet.h>
#include <jansson.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "machine/vmconfig.h"

#define PATH_LEN 64 /* "nics[5].hostfwd[15]" and the like */

/* ---- reading members ---- */

/* parent.key, or key at the top level. */
static const char *at(char *buf, const char *parent, const char *key)
{
    if (*parent)
        snprintf(buf, PATH_LEN, "%.40s.%.20s", parent, key);
    else
        snprintf(buf, PATH_LEN, "%.20s", key);
    return buf;
}

/* obj is an object whose members are all in names (NULL-terminated). */
static int check_members(const json_t *obj, const char *path, const char *const *names, Error *err)
{
    const char *key;
    json_t *v;
    char where[PATH_LEN];
    if (!json_is_object(obj))
        return error_set(err, "%s: not an object", *path ? path : "the configuration");
    json_object_foreach((json_t *)obj, key, v)
    {
        const char *const *n = names;
        while (*n && strcmp(*n, key) != 0)
            n++;
        if (!*n)
            return error_set(err, "%s: unknown member", at(where, path, key));
    }
    return 0;
}

/* An integer member >= 0 into *out; absent: *out unchanged. */
static int get_u64(const json_t *obj, const char *path, const char *key, uint64_t *out, Error *err)
{
    char where[PATH_LEN];
    json_t *v = json_object_get(obj, key);
    if (!v)
        return 0;
    if (!json_is_integer(v) || json_integer_value(v) < 0)
        return error_set(err, "%s: not a non-negative integer", at(where, path, key));
    *out = (uint64_t)json_integer_value(v);
    return 0;
}

static int get_bool(const json_t *obj, const char *path, const char *key, bool *out, Error *err)
{
    char where[PATH_LEN];
    json_t *v = json_object_get(obj, key);
    if (v && !json_is_boolean(v))
        return error_set(err, "%s: not true or false", at(where, path, key));
    if (v)
        *out = json_is_true(v);
    return 0;
}

/* A string member, or null / absent (*out NULL): copied into *out. */
static int get_str(const json_t *obj, const char *path, const char *key, char **out, Error *err)
{
    char where[PATH_LEN];
    json_t *v = json_object_get(obj, key);
    if (v && !json_is_null(v) && !json_is_string(v))
        return error_set(err, "%s: not a string", at(where, path, key));
    return vmconfig_set_string(out, json_string_value(v), err);
}

/* A string member that must be there (not null). */
static const char *need_str(const json_t *obj, const char *path, const char *key, Error *err)
{
    char where[PATH_LEN];
    json_t *v = json_object_get(obj, key);
    if (!v || json_is_null(v))
        error_set(err, "%s: missing", at(where, path, key));
    else if (!json_is_string(v))
        error_set(err, "%s: not a string", at(where, path, key));
    return json_string_value(v);
}

/* An array member of at most max elements; absent: *out NULL. */
static int get_array(const json_t *obj, const char *path, const char *key, size_t max, json_t **out,
                     Error *err)
{
    char where[PATH_LEN];
    json_t *v = json_object_get(obj, key);
    *out = v;
    if (v && !json_is_array(v))
        return error_set(err, "%s: not an array", at(where, path, key));
    if (v && json_array_size(v) > max)
        return error_set(err, "%s: %zu entries, at most %zu", at(where, path, key),
                         json_array_size(v), max);
    return 0;
}

/* ---- the parts ---- */

static int read_top(const json_t *j, VmConfig *cfg, Error *err)
{
    uint64_t harts = cfg->nharts;
    if (get_u64(j, "", "ram-size", &cfg->ram_size, err) < 0 ||
        get_u64(j, "", "harts", &harts, err) < 0)
        return -1;
    if (harts < 1 || harts > VMCONFIG_MAX_HARTS)
        return error_set(err, "harts: %llu requested, 1 to %d are supported",
                         (unsigned long long)harts, VMCONFIG_MAX_HARTS);
    cfg->nharts = (unsigned)harts;
    return 0;
}

static int read_boot(const json_t *j, VmConfig *cfg, Error *err)
{
    static const char *const names[] = {"kernel", "initrd", "cmdline", "bios", NULL};
    const json_t *b = json_object_get(j, "boot");
    if (!b || json_is_null(b))
        return 0;
    if (check_members(b, "boot", names, err) < 0)
        return -1;
    VmBoot *o = &cfg->boot;
    if (get_str(b, "boot", "kernel", &o->kernel, err) < 0 ||
        get_str(b, "boot", "initrd", &o->initrd, err) < 0 ||
        get_str(b, "boot", "cmdline", &o->cmdline, err) < 0 ||
        get_str(b, "boot", "bios", &o->bios, err) < 0)
        return -1;
    return 0;
}

static int read_disk(const json_t *d, const char *path, VmDisk *out, Error *err)
{
    static const char *const names[] = {"path", "read-only", "format", "l2-cache-size", NULL};
    Error e = {0};
    if (check_members(d, path, names, err) < 0)
        return -1;
    const char *file = need_str(d, path, "path", &e);
    if (!file)
        return error_set(err, "%s", e.msg);
    if (vmconfig_set_string(&out->path, file, err) < 0 ||
        get_bool(d, path, "read-only", &out->read_only, err) < 0 ||
        get_str(d, path, "format", &out->format, err) < 0 ||
        get_u64(d, path, "l2-cache-size", &out->l2_cache_bytes, err) < 0)
        return -1;
    return 0;
}

static int read_disks(const json_t *j, VmConfig *cfg, Error *err)
{
    json_t *disks, *d;
    size_t i;
    if (get_array(j, "", "disks", VMCONFIG_MAX_DISKS, &disks, err) < 0)
        return -1;
    json_array_foreach(disks, i, d)
    {
        char path[PATH_LEN];
        snprintf(path, sizeof(path), "disks[%zu]", i);
        cfg->ndisks++; /* owned from here: vmconfig_free frees a half-read disk */
        if (read_disk(d, path, &cfg->disks[i], err) < 0)
            return -1;
    }
    return 0;
}

static int read_mac(const json_t *n, const char *path, NetConfig *nic, Error *err)
{
    char where[PATH_LEN];
    json_t *v = json_object_get(n, "mac");
    if (!v)
        return 0;
    if (!json_is_string(v))
        return error_set(err, "%s: not a string", at(where, path, "mac"));
    if (net_mac_parse(nic->mac, json_string_value(v), NULL) < 0)
        return error_set(err,
                         "%s: '%.40s' is not a MAC address (six hex bytes like "
                         "52:54:00:12:34:56, unicast, not zero)",
                         at(where, path, "mac"), json_string_value(v));
    return 0;
}

static int read_hostfwd(const json_t *n, const char *path, NetConfig *nic, Error *err)
{
    json_t *fwd, *f;
    size_t i;
    char where[PATH_LEN + 32];
    if (get_array(n, path, "hostfwd", NET_MAX_HOSTFWD, &fwd, err) < 0)
        return -1;
    if (fwd && json_array_size(fwd) && nic->kind != NET_USER)
        return error_set(err, "%s: only a user card forwards ports", at(where, path, "hostfwd"));
    json_array_foreach(fwd, i, f)
    {
        Error e = {0};
        snprintf(where, sizeof(where), "%s.hostfwd[%zu]", path, i);
        if (!json_is_string(f))
            return error_set(err, "%s: not a string", where);
        if (net_config_add_hostfwd(nic, json_string_value(f), &e) < 0)
            return error_set(err, "%s: %s", where, e.msg);
    }
    return 0;
}

/* Member key of n is there although the card's kind has no such thing: say whose it is. */
static int not_for_kind(const json_t *n, const char *path, const char *key, bool ok,
                        const char *whose, Error *err)
{
    char where[PATH_LEN];
    if (ok || !json_object_get(n, key))
        return 0;
    return error_set(err, "%s: only %s", at(where, path, key), whose);
}

static int read_ifname(const json_t *n, const char *path, NetConfig *nic, Error *err)
{
    char where[PATH_LEN];
    json_t *v = json_object_get(n, "ifname");
    if (not_for_kind(n, path, "ifname", nic->kind == NET_TAP, "a tap card has an interface name",
                     err) < 0)
        return -1;
    if (!v)
        return 0;
    if (!json_is_string(v))
        return error_set(err, "%s: not a string", at(where, path, "ifname"));
    const char *name = json_string_value(v);
    if (!net_ifname_valid(name))
        return error_set(err,
                         "%s: '%.40s' is not an interface name (1 to %d letters, digits, "
                         "'.', '_' or '-')",
                         at(where, path, "ifname"), name, NET_IFNAME_MAX - 1);
    strcpy(nic->ifname, name);
    return 0;
}

static int read_path(const json_t *n, const char *path, NetConfig *nic, Error *err)
{
    char where[PATH_LEN];
    json_t *v = json_object_get(n, "path");
    if (not_for_kind(n, path, "path", nic->kind == NET_SOCKET, "a socket card has a path", err) < 0)
        return -1;
    if (!v)
        return 0;
    if (!json_is_string(v))
        return error_set(err, "%s: not a string", at(where, path, "path"));
    const char *file = json_string_value(v);
    if (!*file)
        return error_set(err, "%s: empty (expected a unix socket's path)", at(where, path, "path"));
    if (strlen(file) >= NET_SOCKET_PATH_MAX)
        return error_set(err, "%s: too long for a unix socket (at most %d bytes)",
                         at(where, path, "path"), NET_SOCKET_PATH_MAX - 1);
    strcpy(nic->path, file);
    return 0;
}

static int read_fd(const json_t *n, const char *path, NetConfig *nic, Error *err)
{
    char where[PATH_LEN];
    json_t *v = json_object_get(n, "fd");
    if (not_for_kind(n, path, "fd", nic->kind != NET_USER,
                     "a tap, socket or network card has a descriptor", err) < 0)
        return -1;
    if (!v)
        return 0;
    if (!json_is_integer(v) || json_integer_value(v) < 3 || json_integer_value(v) > INT_MAX)
        return error_set(err, "%s: not a descriptor number of 3 or more", at(where, path, "fd"));
    nic->fd = (int)json_integer_value(v);
    return 0;
}

static int read_network(const json_t *n, const char *path, NetConfig *nic, Error *err)
{
    char where[PATH_LEN];
    Error e = {0};
    if (not_for_kind(n, path, "network", nic->kind == NET_NETWORK, "a network card names a network",
                     err) < 0)
        return -1;
    if (nic->kind != NET_NETWORK)
        return 0;
    const char *name = need_str(n, path, "network", &e);
    if (!name)
        return error_set(err, "%s", e.msg);
    if (!net_network_name_valid(name))
        return error_set(err,
                         "%s: '%.40s' is not a network name (1 to %d letters, digits, '.', "
                         "'_' or '-', starting with a letter or digit)",
                         at(where, path, "network"), name, NET_NETWORK_NAME_MAX - 1);
    strcpy(nic->network, name);
    return 0;
}

/* A VLAN number member (absent: *out unchanged). */
static int get_vlan(const json_t *v, const char *where, uint16_t *out, Error *err)
{
    if (!json_is_integer(v) || json_integer_value(v) < 1 || json_integer_value(v) > NET_VLAN_MAX)
        return error_set(err, "%s: not a VLAN number (1 to %d)", where, NET_VLAN_MAX);
    *out = (uint16_t)json_integer_value(v);
    return 0;
}

static int read_trunk(const json_t *n, const char *path, NetPortOptions *p, Error *err)
{
    json_t *trunk, *t;
    size_t i;
    char where[PATH_LEN + 32];
    if (get_array(n, path, "trunk", NET_MAX_TRUNK, &trunk, err) < 0)
        return -1;
    json_array_foreach(trunk, i, t)
    {
        snprintf(where, sizeof(where), "%s.trunk[%zu]", path, i);
        if (get_vlan(t, where, &p->trunk[i], err) < 0)
            return -1;
        p->ntrunk++;
    }
    return 0;
}

/* A 32-bit limit member (0 = none). */
static int get_u32(const json_t *n, const char *path, const char *key, uint32_t *out, Error *err)
{
    char where[PATH_LEN];
    uint64_t v = *out;
    if (get_u64(n, path, key, &v, err) < 0)
        return -1;
    if (v > UINT32_MAX)
        return error_set(err, "%s: at most %u", at(where, path, key), UINT32_MAX);
    *out = (uint32_t)v;
    return 0;
}

/* The switch port's members: vlan, trunk, native, isolated, spoof-check, rate-mbit, flood-pps. */
static int read_port(const json_t *n, const char *path, NetConfig *nic, Error *err)
{
    static const char *const keys[] = {"vlan",        "trunk",     "native",   "isolated",
                                       "spoof-check", "rate-mbit", "flood-pps"};
    char where[PATH_LEN];
    NetPortOptions *p = &nic->port;
    bool spoof_check = true;
    for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
        if (not_for_kind(n, path, keys[i], nic->kind == NET_NETWORK,
                         "a network card has switch port options", err) < 0)
            return -1;
    json_t *vlan = json_object_get(n, "vlan"), *native = json_object_get(n, "native");
    if ((vlan && get_vlan(vlan, at(where, path, "vlan"), &p->vlan, err) < 0) ||
        (native && get_vlan(native, at(where, path, "native"), &p->native, err) < 0) ||
        read_trunk(n, path, p, err) < 0 || get_bool(n, path, "isolated", &p->isolated, err) < 0 ||
        get_bool(n, path, "spoof-check", &spoof_check, err) < 0 ||
        get_u32(n, path, "rate-mbit", &p->rate_mbit, err) < 0 ||
        get_u32(n, path, "flood-pps", &p->flood_pps, err) < 0)
        return -1;
    p->no_spoof_check = !spoof_check;
    return 0;
}

static int read_nic(const json_t *n, unsigned index, NetConfig *nic, Error *err)
{
    static const char *const names[] = {
        "kind",  "mac",    "hostfwd",  "ifname",      "path",      "fd",        "network", "vlan",
        "trunk", "native", "isolated", "spoof-check", "rate-mbit", "flood-pps", NULL};
    char path[PATH_LEN], where[PATH_LEN];
    Error e = {0};
    snprintf(path, sizeof(path), "nics[%u]", index);
    if (check_members(n, path, names, err) < 0)
        return -1;
    const char *kind = need_str(n, path, "kind", &e);
    if (!kind)
        return error_set(err, "%s", e.msg);
    net_config_default(nic);
    net_default_mac_of(index, nic->mac);
    if (!net_kind_from_name(kind, &nic->kind) || nic->kind == NET_NONE)
        return error_set(err, "%s: '%.40s' is not user, tap, socket or network",
                         at(where, path, "kind"), kind);
    if (read_mac(n, path, nic, err) < 0 || read_hostfwd(n, path, nic, err) < 0 ||
        read_ifname(n, path, nic, err) < 0 || read_path(n, path, nic, err) < 0 ||
        read_fd(n, path, nic, err) < 0 || read_network(n, path, nic, err) < 0 ||
        read_port(n, path, nic, err) < 0)
        return -1;
    return 0;
}

static int read_nics(const json_t *j, VmConfig *cfg, Error *err)
{
    json_t *nics, *n;
    size_t i;
    if (get_array(j, "", "nics", VMCONFIG_MAX_NICS, &nics, err) < 0)
        return -1;
    json_array_foreach(nics, i, n)
    {
        if (read_nic(n, (unsigned)i, &cfg->nics[i], err) < 0)
            return -1;
        cfg->nnics++;
    }
    return 0;
}

static int read_devices(const json_t *j, VmConfig *cfg, Error *err)
{
    json_t *devices = json_object_get(j, "devices"), *d;
    size_t i;
    Error e = {0};
    if (!devices) { /* the default layout */
        if (vmconfig_default_layout(cfg, &e) < 0)
            return error_set(err, "devices: %s", e.msg);
        return 0;
    }
    if (!json_is_array(devices) || json_array_size(devices) != VMCONFIG_SLOTS)
        return error_set(err, "devices: expected an array of %d slots", VMCONFIG_SLOTS);
    json_array_foreach(devices, i, d)
    {
        const char *s = json_string_value(d);
        if (!s || !vmconfig_slot_parse(s, &cfg->devices[i]))
            return error_set(err,
                             "devices[%zu]: not a device (\"blk:N\", \"net:N\", \"rng\", "
                             "\"console\", \"keyboard\", \"tablet\" or \"empty\")",
                             i);
    }
    return 0;
}

/* "display": null (none) or {"width": W, "height": H} (a headless virtio-gpu). */
static int read_display(const json_t *j, VmConfig *cfg, Error *err)
{
    static const char *const names[] = {"width", "height", NULL};
    const json_t *d = json_object_get(j, "display");
    if (!d || json_is_null(d))
        return 0;
    if (!json_is_object(d))
        return error_set(err, "display: expected an object or null");
    uint64_t w = cfg->display.width, h = cfg->display.height;
    if (check_members(d, "display", names, err) < 0 ||
        get_u64(d, "display", "width", &w, err) < 0 || get_u64(d, "display", "height", &h, err) < 0)
        return -1;
    cfg->display =
        (VmDisplay){true, w > UINT32_MAX ? 0 : (uint32_t)w, h > UINT32_MAX ? 0 : (uint32_t)h};
    return 0;
}

/* "console": "serial" (the default) or "virtio". */
static int read_console(const json_t *j, VmConfig *cfg, Error *err)
{
    const json_t *c = json_object_get(j, "console");
    if (!c || json_is_null(c))
        return 0;
    const char *s = json_string_value(c);
    if (!s || (strcmp(s, "serial") != 0 && strcmp(s, "virtio") != 0))
        return error_set(err, "console: expected \"serial\" or \"virtio\"");
    cfg->console = strcmp(s, "virtio") == 0 ? VM_CONSOLE_VIRTIO : VM_CONSOLE_SERIAL;
    return 0;
}

int vmconfig_from_json(const json_t *j, VmConfig *cfg, Error *err)
{
    static const char *const names[] = {"ram-size", "harts",   "boot",    "disks", "nics",
                                        "devices",  "display", "console", NULL};
    vmconfig_default(cfg);
    if (check_members(j, "", names, err) < 0 || read_top(j, cfg, err) < 0 ||
        read_boot(j, cfg, err) < 0 || read_disks(j, cfg, err) < 0 || read_nics(j, cfg, err) < 0 ||
        read_display(j, cfg, err) < 0 || read_console(j, cfg, err) < 0 ||
        read_devices(j, cfg, err) < 0 || vmconfig_check(cfg, err) < 0) {
        vmconfig_free(cfg);
        return -1;
    }
    return 0;
}

int vmconfig_from_text(const char *text, size_t len, VmConfig *cfg, Error *err)
{
    json_error_t jerr;
    json_t *j = json_loadb(text, len, 0, &jerr);
    if (!j) {
        vmconfig_default(cfg);
        return error_set(err, "not JSON: %s (line %d)", jerr.text, jerr.line);
    }
    int rc = vmconfig_from_json(j, cfg, err);
    json_decref(j);
    return rc;
}

/* ---- format 1 (state files written before VmConfig) ---- */

/* One hostfwd object of format 1 (integer addresses), through the text parser. */
static int read_v1_hostfwd(const json_t *f, unsigned i, NetConfig *nic, Error *err)
{
    int udp = 0;
    json_int_t ha, hp, ga, gp;
    if (json_unpack((json_t *)f, "{s:b, s:I, s:I, s:I, s:I}", "udp", &udp, "host-addr", &ha,
                    "host-port", &hp, "guest-addr", &ga, "guest-port", &gp) < 0 ||
        ha < 0 || ha > UINT32_MAX || ga < 0 || ga > UINT32_MAX || hp < 0 || hp > 65535 || gp < 0 ||
        gp > 65535)
        return error_set(err, "net.hostfwd[%u]: not a forwarding rule", i);
    struct in_addr h = {htonl((uint32_t)ha)}, g = {htonl((uint32_t)ga)};
    char host[INET_ADDRSTRLEN], guest[INET_ADDRSTRLEN] = "", rule[80];
    Error e = {0};
    inet_ntop(AF_INET, &h, host, sizeof(host));
    if (ga)
        inet_ntop(AF_INET, &g, guest, sizeof(guest));
    snprintf(rule, sizeof(rule), "%s:%s:%d-%s:%d", udp ? "udp" : "tcp", host, (int)hp, guest,
             (int)gp);
    if (net_config_add_hostfwd(nic, rule, &e) < 0)
        return error_set(err, "net.hostfwd[%u]: %s", i, e.msg);
    return 0;
}

static int read_v1_net(const json_t *net, VmConfig *cfg, Error *err)
{
    const char *kind = NULL, *mac = NULL, *ifname = NULL;
    json_t *fwd = NULL, *f;
    NetConfig nic;
    size_t i;
    if (json_is_null(net))
        return 0;
    net_config_default(&nic);
    if (json_unpack((json_t *)net, "{s:s, s:s, s:o, s?s}", "kind", &kind, "mac", &mac, "hostfwd",
                    &fwd, "ifname", &ifname) < 0 ||
        !json_is_array(fwd) || json_array_size(fwd) > NET_MAX_HOSTFWD)
        return error_set(err, "net: not a network card");
    if (!net_kind_from_name(kind, &nic.kind) || (nic.kind != NET_USER && nic.kind != NET_TAP))
        return error_set(err, "net.kind: '%.40s' is not user or tap", kind);
    if (net_mac_parse(nic.mac, mac, NULL) < 0)
        return error_set(err, "net.mac: '%.40s' is not a MAC address", mac);
    if (nic.kind == NET_TAP && (!ifname || !net_ifname_valid(ifname)))
        return error_set(err, "net.ifname: not an interface name");
    if (nic.kind == NET_TAP)
        strcpy(nic.ifname, ifname);
    json_array_foreach(fwd, i, f) if (read_v1_hostfwd(f, (unsigned)i, &nic, err) < 0) return -1;
    return vmconfig_add_nic(cfg, &nic, err);
}

/* Format 1 named each slot's virtio device; the n-th disk or card is blk:n or net:n. */
static int read_v1_devices(const json_t *devices, VmConfig *cfg, Error *err)
{
    static const struct {
        const char *name;
        VmDeviceKind kind;
    } names[] = {
        {"virtio-blk", VM_DEV_BLK},    {"virtio-net", VM_DEV_NET},
        {"virtio-rng", VM_DEV_RNG},    {"virtio-console", VM_DEV_CONSOLE},
        {"virtio-mmio", VM_DEV_EMPTY}, {"", VM_DEV_EMPTY},
    };
    unsigned count[VM_DEV_CONSOLE + 1] = {0};
    if (!json_is_array(devices) || json_array_size(devices) != VMCONFIG_SLOTS)
        return error_set(err, "devices: expected an array of %d slots", VMCONFIG_SLOTS);
    for (size_t s = 0; s < VMCONFIG_SLOTS; s++) {
        const char *name = json_string_value(json_array_get(devices, s));
        size_t k = 0;
        while (name && k < sizeof(names) / sizeof(names[0]) && strcmp(names[k].name, name) != 0)
            k++;
        if (!name || k == sizeof(names) / sizeof(names[0]))
            return error_set(err, "devices[%zu]: not a virtio device name", s);
        VmDeviceKind kind = names[k].kind;
        cfg->devices[s] =
            (VmSlot){kind, kind == VM_DEV_BLK || kind == VM_DEV_NET ? count[kind]++ : 0};
    }
    return 0;
}

int vmconfig_from_json_v1(const json_t *j, VmConfig *cfg, Error *err)
{
    static const char *const names[] = {"ram-size", "harts", "disks", "net",
                                        "devices",  "boot",  NULL};
    static const char *const needed[] = {"ram-size", "harts", "disks", "net", "devices", "boot"};
    vmconfig_default(cfg);
    if (check_members(j, "", names, err) < 0)
        return -1;
    for (size_t i = 0; i < sizeof(needed) / sizeof(needed[0]); i++)
        if (!json_object_get(j, needed[i]))
            return error_set(err, "%s: missing", needed[i]);
    if (read_top(j, cfg, err) < 0 || read_boot(j, cfg, err) < 0 || read_disks(j, cfg, err) < 0 ||
        read_v1_net(json_object_get(j, "net"), cfg, err) < 0 ||
        read_v1_devices(json_object_get(j, "devices"), cfg, err) < 0 ||
        vmconfig_check(cfg, err) < 0) {
        vmconfig_free(cfg);
        return -1;
    }
    return 0;
}

/* ---- writing ---- */

static json_t *str_or_null(const char *s)
{
    return s ? json_string(s) : json_null();
}

static json_t *disk_json(const VmDisk *d)
{
    return json_pack("{s:s, s:b, s:o, s:I}", "path", d->path ? d->path : "", "read-only",
                     d->read_only, "format", str_or_null(d->format), "l2-cache-size",
                     (json_int_t)d->l2_cache_bytes);
}

/* A network card's switch port: only the members that are not at their defaults. */
static void port_json(json_t *j, const NetPortOptions *p)
{
    if (p->vlan)
        json_object_set_new(j, "vlan", json_integer(p->vlan));
    if (p->ntrunk) {
        json_t *trunk = json_array();
        for (unsigned i = 0; trunk && i < p->ntrunk && i < NET_MAX_TRUNK; i++)
            json_array_append_new(trunk, json_integer(p->trunk[i]));
        json_object_set_new(j, "trunk", trunk);
    }
    if (p->native)
        json_object_set_new(j, "native", json_integer(p->native));
    if (p->isolated)
        json_object_set_new(j, "isolated", json_true());
    if (p->no_spoof_check)
        json_object_set_new(j, "spoof-check", json_false());
    if (p->rate_mbit)
        json_object_set_new(j, "rate-mbit", json_integer(p->rate_mbit));
    if (p->flood_pps)
        json_object_set_new(j, "flood-pps", json_integer(p->flood_pps));
}

static json_t *hostfwd_json(const NetConfig *n)
{
    char rule[80];
    json_t *fwd = json_array();
    for (unsigned i = 0; fwd && i < n->nfwd; i++) {
        net_hostfwd_format(&n->fwd[i], rule, sizeof(rule));
        json_array_append_new(fwd, json_string(rule));
    }
    return fwd;
}

static json_t *nic_json(const NetConfig *n)
{
    char mac[NET_MAC_TEXT];
    net_mac_format(n->mac, mac);
    json_t *j = json_pack("{s:s, s:s}", "kind", net_kind_name(n->kind), "mac", mac);
    if (!j)
        return NULL;
    if (n->kind == NET_USER)
        json_object_set_new(j, "hostfwd", hostfwd_json(n));
    if (n->kind == NET_TAP && n->ifname[0])
        json_object_set_new(j, "ifname", json_string(n->ifname));
    if (n->kind == NET_SOCKET && n->path[0])
        json_object_set_new(j, "path", json_string(n->path));
    if (n->kind == NET_NETWORK)
        json_object_set_new(j, "network", json_string(n->network));
    if (n->kind != NET_USER && n->fd >= 0) /* what the running VMM inherited, never stored */
        json_object_set_new(j, "fd", json_integer(n->fd));
    if (n->kind == NET_NETWORK)
        port_json(j, &n->port);
    return j;
}

json_t *vmconfig_to_json(const VmConfig *cfg)
{
    json_t *disks = json_array(), *nics = json_array(), *devices = json_array();
    char slot[24];
    for (unsigned i = 0; disks && i < cfg->ndisks; i++)
        json_array_append_new(disks, disk_json(&cfg->disks[i]));
    for (unsigned i = 0; nics && i < cfg->nnics; i++)
        json_array_append_new(nics, nic_json(&cfg->nics[i]));
    for (unsigned s = 0; devices && s < VMCONFIG_SLOTS; s++) {
        vmconfig_slot_format(cfg->devices[s], slot, sizeof(slot));
        json_array_append_new(devices, json_string(slot));
    }
    const VmBoot *b = &cfg->boot;
    json_t *top = json_pack("{s:I, s:I, s:{s:o, s:o, s:o, s:o}, s:o, s:o, s:o}", "ram-size",
                            (json_int_t)cfg->ram_size, "harts", (json_int_t)cfg->nharts, "boot",
                            "kernel", str_or_null(b->kernel), "initrd", str_or_null(b->initrd),
                            "cmdline", str_or_null(b->cmdline), "bios", str_or_null(b->bios),
                            "disks", disks, "nics", nics, "devices", devices);
    if (top && cfg->display.enabled) /* absent without a display, as before displays existed */
        json_object_set_new(top, "display",
                            json_pack("{s:I, s:I}", "width", (json_int_t)cfg->display.width,
                                      "height", (json_int_t)cfg->display.height));
    if (top && cfg->console != VM_CONSOLE_SERIAL) /* absent for the default, as before */
        json_object_set_new(top, "console", json_string(vmconfig_console_name(cfg->console)));
    return top;
}

char *vmconfig_to_text(const VmConfig *cfg)
{
    json_t *j = vmconfig_to_json(cfg);
    char *text = j ? json_dumps(j, JSON_COMPACT) : NULL;
    json_decref(j);
    return text;
}
