/*
 * The --net option's text: net_config_parse reads "KIND[,OPTION]..." into
 * a NetConfig, net_config_format writes one back.  Each option is a row of
 * one table (its key, the kinds that take it, how its value is read), so
 * the parser, the "given twice" check and the messages listing what a kind
 * takes cannot disagree.
 */
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "net/net.h"
#include "util/compiler.h"

#define KIND(k) (1u << (k))

typedef int (*NetOptionFn)(NetConfig *cfg, const char *value, Error *err);

typedef struct NetOption {
    const char *key;
    unsigned kinds; /* KIND() bits of the kinds that take it */
    bool flag;      /* may stand alone ("isolated" = "isolated=on") */
    bool repeat;    /* may be given more than once (hostfwd) */
    NetOptionFn set;
} NetOption;

/* Append to the text in buf (truncated at size). */
static void __attribute__((format(printf, 3, 4))) add(char *buf, size_t size, const char *fmt, ...)
{
    size_t len = strlen(buf);
    if (len + 1 >= size)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf + len, size - len, fmt, ap);
    va_end(ap);
}

/* ---- reading values ---- */

/* A decimal number min..max filling all of s. */
static bool parse_uint(const char *s, unsigned long min, unsigned long max, unsigned long *out)
{
    char *end;
    if (*s < '0' || *s > '9')
        return false;
    errno = 0;
    unsigned long v = strtoul(s, &end, 10);
    if (*end || errno || v < min || v > max)
        return false;
    *out = v;
    return true;
}

static int parse_on_off(const char *key, const char *value, bool *out, Error *err)
{
    if (strcmp(value, "on") == 0)
        *out = true;
    else if (strcmp(value, "off") == 0)
        *out = false;
    else
        return error_set(err, "%s=%.40s: expected on or off", key, value);
    return 0;
}

static int set_mac(NetConfig *cfg, const char *value, Error *err)
{
    return net_mac_parse(cfg->mac, value, err);
}

static int set_hostfwd(NetConfig *cfg, const char *value, Error *err)
{
    return net_config_add_hostfwd(cfg, value, err);
}

static int set_ifname(NetConfig *cfg, const char *value, Error *err)
{
    if (!net_ifname_valid(value))
        return error_set(err,
                         "ifname '%.40s': expected 1 to %d letters, digits, '.', '_' "
                         "or '-'",
                         value, NET_IFNAME_MAX - 1);
    strcpy(cfg->ifname, value);
    return 0;
}

static int set_fd(NetConfig *cfg, const char *value, Error *err)
{
    unsigned long fd;
    if (!parse_uint(value, 0, INT_MAX, &fd))
        return error_set(err, "fd=%.40s: expected a descriptor number", value);
    if (fd < 3)
        return error_set(err,
                         "fd=%lu: expected a descriptor number of 3 or more (0, 1 and 2 are "
                         "the standard streams)",
                         fd);
    cfg->fd = (int)fd;
    return 0;
}

static int set_path(NetConfig *cfg, const char *value, Error *err)
{
    if (!*value)
        return error_set(err, "path is empty (expected a unix socket's path)");
    if (strlen(value) >= NET_SOCKET_PATH_MAX)
        return error_set(err, "path '%.40s...': too long for a unix socket (at most %d bytes)",
                         value, NET_SOCKET_PATH_MAX - 1);
    strcpy(cfg->path, value);
    return 0;
}

static int set_name(NetConfig *cfg, const char *value, Error *err)
{
    if (!net_network_name_valid(value))
        return error_set(err,
                         "name '%.40s': expected a network name (1 to %d letters, digits, "
                         "'.', '_' or '-', starting with a letter or digit)",
                         value, NET_NETWORK_NAME_MAX - 1);
    strcpy(cfg->network, value);
    return 0;
}

static int parse_vlan(const char *key, const char *value, uint16_t *out, Error *err)
{
    unsigned long v;
    if (!parse_uint(value, 1, NET_VLAN_MAX, &v))
        return error_set(err, "%s=%.40s: expected a VLAN number, 1 to %d", key, value,
                         NET_VLAN_MAX);
    *out = (uint16_t)v;
    return 0;
}

static int set_vlan(NetConfig *cfg, const char *value, Error *err)
{
    return parse_vlan("vlan", value, &cfg->port.vlan, err);
}

static int set_native(NetConfig *cfg, const char *value, Error *err)
{
    return parse_vlan("native", value, &cfg->port.native, err);
}

/* V:V:...: the order and duplicates are net_port_options_check's. */
static int set_trunk(NetConfig *cfg, const char *value, Error *err)
{
    char buf[NET_SPEC_TEXT];
    char *save = NULL;
    NetPortOptions *p = &cfg->port;
    if (!*value || value[0] == ':' || value[strlen(value) - 1] == ':' || strstr(value, "::"))
        return error_set(err, "trunk=%.40s: expected VLAN numbers separated by ':' (10:20:30)",
                         value);
    snprintf(buf, sizeof(buf), "%s", value);
    for (char *v = strtok_r(buf, ":", &save); v; v = strtok_r(NULL, ":", &save)) {
        if (p->ntrunk == NET_MAX_TRUNK)
            return error_set(err, "trunk: at most %d VLANs", NET_MAX_TRUNK);
        if (parse_vlan("trunk", v, &p->trunk[p->ntrunk], err) < 0)
            return -1;
        p->ntrunk++;
    }
    return 0;
}

static int set_isolated(NetConfig *cfg, const char *value, Error *err)
{
    return parse_on_off("isolated", value, &cfg->port.isolated, err);
}

static int set_spoof_check(NetConfig *cfg, const char *value, Error *err)
{
    bool on;
    if (parse_on_off("spoof-check", value, &on, err) < 0)
        return -1;
    cfg->port.no_spoof_check = !on;
    return 0;
}

static int parse_rate(const char *key, const char *unit, const char *value, uint32_t *out,
                      Error *err)
{
    unsigned long v;
    if (!parse_uint(value, 0, UINT32_MAX, &v))
        return error_set(err, "%s=%.40s: expected %s, a whole number (0 = no limit)", key, value,
                         unit);
    *out = (uint32_t)v;
    return 0;
}

static int set_rate(NetConfig *cfg, const char *value, Error *err)
{
    return parse_rate("rate", "Mbit/s", value, &cfg->port.rate_mbit, err);
}

static int set_flood(NetConfig *cfg, const char *value, Error *err)
{
    return parse_rate("flood", "frames per second", value, &cfg->port.flood_pps, err);
}

#define ALL_CARDS (KIND(NET_USER) | KIND(NET_TAP) | KIND(NET_SOCKET) | KIND(NET_NETWORK))

/* In the order a kind's options are listed in messages. */
static const NetOption net_options[] = {
    {"hostfwd", KIND(NET_USER), false, true, set_hostfwd},
    {"ifname", KIND(NET_TAP), false, false, set_ifname},
    {"path", KIND(NET_SOCKET), false, false, set_path},
    {"name", KIND(NET_NETWORK), false, false, set_name},
    {"fd", KIND(NET_TAP) | KIND(NET_SOCKET) | KIND(NET_NETWORK), false, false, set_fd},
    {"vlan", KIND(NET_NETWORK), false, false, set_vlan},
    {"trunk", KIND(NET_NETWORK), false, false, set_trunk},
    {"native", KIND(NET_NETWORK), false, false, set_native},
    {"isolated", KIND(NET_NETWORK), true, false, set_isolated},
    {"spoof-check", KIND(NET_NETWORK), false, false, set_spoof_check},
    {"rate", KIND(NET_NETWORK), false, false, set_rate},
    {"flood", KIND(NET_NETWORK), false, false, set_flood},
    {"mac", ALL_CARDS, false, false, set_mac},
};

/* ---- parsing ---- */

/* "ifname=..., fd=... or mac=...": what kind takes, for messages. */
static const char *options_of(NetKind kind, char *buf, size_t size)
{
    const NetOption *o[ARRAY_SIZE(net_options)];
    size_t n = 0;
    for (size_t i = 0; i < ARRAY_SIZE(net_options); i++)
        if (net_options[i].kinds & KIND(kind))
            o[n++] = &net_options[i];
    buf[0] = '\0';
    for (size_t i = 0; i < n; i++)
        add(buf, size, "%s%s%s",
            i == 0       ? ""
            : i + 1 == n ? " or "
                         : ", ",
            o[i]->key, o[i]->flag ? "" : "=...");
    return buf;
}

static const NetOption *option_find(const char *key)
{
    for (size_t i = 0; i < ARRAY_SIZE(net_options); i++)
        if (strcmp(net_options[i].key, key) == 0)
            return &net_options[i];
    return NULL;
}

/* An option that is not the kind's: the most helpful line for it. */
static int foreign_option(NetKind kind, const char *opt, const NetOption *o, Error *err)
{
    char list[256];
    if (o && strcmp(o->key, "hostfwd") == 0)
        return error_set(err,
                         "hostfwd is for --net user (on a %s, the host reaches the guest "
                         "at the guest's own address)",
                         net_kind_name(kind));
    if (o)
        return error_set(err, "%s is not an option of --net %s (expected %s)", o->key,
                         net_kind_name(kind), options_of(kind, list, sizeof(list)));
    return error_set(err, "unknown option '%s' (expected %s)", opt,
                     options_of(kind, list, sizeof(list)));
}

/* One ",key=value" option; seen[] marks the options already given. */
static int parse_option(NetConfig *cfg, char *opt, bool *seen, Error *err)
{
    char *eq = strchr(opt, '=');
    if (eq)
        *eq = '\0';
    const NetOption *o = option_find(opt);
    if (eq && (!o || !(o->kinds & KIND(cfg->kind))))
        *eq = '=';
    if (!o || !(o->kinds & KIND(cfg->kind)))
        return foreign_option(cfg->kind, opt, o, err);
    if (!eq && !o->flag)
        return error_set(err, "%s needs a value (%s=...)", o->key, o->key);
    if (seen[o - net_options] && !o->repeat)
        return error_set(err, "%s is given twice", o->key);
    seen[o - net_options] = true;
    return o->set(cfg, eq ? eq + 1 : "on", err);
}

/* Exactly one of two ways to reach the card's peer. */
static int check_one_of(const char *kind, bool a, const char *a_text, bool b, const char *b_text,
                        Error *err)
{
    if (!a && !b)
        return error_set(err, "%s needs %s or %s", kind, a_text, b_text);
    if (a && b)
        return error_set(err, "%s takes %s or %s, not both", kind, a_text, b_text);
    return 0;
}

/* What a kind needs, once every option is read. */
static int check_kind(const NetConfig *cfg, Error *err)
{
    switch (cfg->kind) {
    case NET_TAP:
        return check_one_of("tap", cfg->ifname[0],
                            "ifname=NAME (a tap interface made with: "
                            "ip tuntap add dev NAME mode tap user $USER)",
                            cfg->fd >= 0, "fd=N (an open tap)", err);
    case NET_SOCKET:
        return check_one_of("socket", cfg->path[0], "path=PATH (a listening SEQPACKET socket)",
                            cfg->fd >= 0, "fd=N (a connected one)", err);
    case NET_NETWORK:
        if (!cfg->network[0])
            return error_set(err, "network needs name=NET (a network of hosteld)");
        return net_port_options_check(&cfg->port, err);
    default: return 0;
    }
}

static int parse_spec(NetConfig *cfg, char *buf, Error *err)
{
    bool seen[ARRAY_SIZE(net_options)] = {false};
    char *save = NULL, *kind = strtok_r(buf, ",", &save);
    if (!kind || buf[0] == ',')
        return error_set(err, "expected 'none', 'user[,option]...', 'tap,ifname=NAME', "
                              "'socket,path=PATH' or 'network,name=NET'");
    if (!net_kind_from_name(kind, &cfg->kind))
        return error_set(err,
                         "unknown network type '%s' (expected none, user, tap, socket or "
                         "network)",
                         kind);
    if (cfg->kind == NET_NONE)
        return strtok_r(NULL, ",", &save) ? error_set(err, "'none' takes no options") : 0;
    for (char *opt; (opt = strtok_r(NULL, ",", &save)) != NULL;)
        if (parse_option(cfg, opt, seen, err) < 0)
            return -1;
    return check_kind(cfg, err);
}

int net_config_parse(NetConfig *cfg, const char *spec, Error *err)
{
    return net_config_parse_nic(cfg, spec, 0, err);
}

int net_config_parse_nic(NetConfig *cfg, const char *spec, unsigned index, Error *err)
{
    char buf[NET_SPEC_TEXT];
    Error e = {0};
    net_config_default(cfg);
    net_default_mac_of(index, cfg->mac);
    if (strlen(spec) >= sizeof(buf))
        return error_set(err, "--net: the value is too long");
    if (strstr(spec, ",,") || (*spec && spec[strlen(spec) - 1] == ','))
        return error_set(err, "--net '%s': empty option", spec);
    strcpy(buf, spec);
    if (parse_spec(cfg, buf, &e) < 0)
        return error_set(err, "--net '%s': %s", spec, e.msg);
    return 0;
}

/* ---- formatting ---- */

static void format_port(const NetPortOptions *p, char *buf, size_t size)
{
    if (p->vlan)
        add(buf, size, ",vlan=%u", p->vlan);
    for (unsigned i = 0; i < p->ntrunk && i < NET_MAX_TRUNK; i++)
        add(buf, size, "%s%u", i ? ":" : ",trunk=", p->trunk[i]);
    if (p->native)
        add(buf, size, ",native=%u", p->native);
    if (p->isolated)
        add(buf, size, ",isolated");
    if (p->no_spoof_check)
        add(buf, size, ",spoof-check=off");
    if (p->rate_mbit)
        add(buf, size, ",rate=%u", (unsigned)p->rate_mbit);
    if (p->flood_pps)
        add(buf, size, ",flood=%u", (unsigned)p->flood_pps);
}

void net_config_format(const NetConfig *cfg, char *buf, size_t size)
{
    char mac[NET_MAC_TEXT], rule[80];
    if (!size)
        return;
    snprintf(buf, size, "%s", net_kind_name(cfg->kind));
    if (cfg->kind == NET_NONE)
        return;
    for (unsigned i = 0; cfg->kind == NET_USER && i < cfg->nfwd && i < NET_MAX_HOSTFWD; i++) {
        net_hostfwd_format(&cfg->fwd[i], rule, sizeof(rule));
        add(buf, size, ",hostfwd=%s", rule);
    }
    if (cfg->kind == NET_TAP && cfg->ifname[0])
        add(buf, size, ",ifname=%.*s", NET_IFNAME_MAX - 1, cfg->ifname);
    if (cfg->kind == NET_SOCKET && cfg->path[0])
        add(buf, size, ",path=%.*s", NET_SOCKET_PATH_MAX - 1, cfg->path);
    if (cfg->kind == NET_NETWORK)
        add(buf, size, ",name=%.*s", NET_NETWORK_NAME_MAX - 1, cfg->network);
    if (cfg->kind != NET_USER && cfg->fd >= 0)
        add(buf, size, ",fd=%d", cfg->fd);
    if (cfg->kind == NET_NETWORK)
        format_port(&cfg->port, buf, size);
    net_mac_format(cfg->mac, mac);
    add(buf, size, ",mac=%s", mac);
}
