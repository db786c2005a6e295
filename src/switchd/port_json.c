/* add-port's arguments and query-ports' entries (docs/net.md, "The switch process"). */
#include "switchd/port_json.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "control/control.h"

#define PORT_RATE_MBIT_MAX 1000000u   /* 1 Tbit/s */
#define PORT_FLOOD_PPS_MAX 100000000u /* frames per second */
#define PORT_QUEUE_MAX 65536u

static const char *const port_members[] = {
    "name", "mode",        "vlan",      "allowed",   "native", "isolated", "uplink",
    "mac",  "spoof-check", "rate-mbit", "flood-pps", "queue",  NULL,
};

/* args[key] as an integer in min..max; *out untouched when absent. */
static int arg_uint(const json_t *args, const char *key, uint64_t min, uint64_t max, uint64_t *out,
                    Error *err)
{
    const json_t *v = json_object_get(args, key);
    if (!v)
        return 0;
    json_int_t i = json_is_integer(v) ? json_integer_value(v) : -1;
    if (i < 0 || (uint64_t)i < min || (uint64_t)i > max)
        return error_set(err, "\"%s\" must be an integer from %llu to %llu", key,
                         (unsigned long long)min, (unsigned long long)max);
    *out = (uint64_t)i;
    return 0;
}

/* args[key] as a boolean; *out untouched when absent. */
static int arg_bool(const json_t *args, const char *key, bool *out, Error *err)
{
    const json_t *v = json_object_get(args, key);
    if (!v)
        return 0;
    if (!json_is_boolean(v))
        return error_set(err, "\"%s\" must be true or false", key);
    *out = json_is_true(v);
    return 0;
}

/* One element of "allowed": a VLAN number, or "A-B" for a range. */
static int allowed_item(SwitchPortConfig *pc, const json_t *v, Error *err)
{
    unsigned lo, hi;
    char tail;
    if (json_is_integer(v)) {
        json_int_t i = json_integer_value(v);
        lo = hi = i >= SWITCH_VLAN_MIN && i <= SWITCH_VLAN_MAX ? (unsigned)i : 0;
    } else if (!json_is_string(v) ||
               sscanf(json_string_value(v), "%u-%u%c", &lo, &hi, &tail) != 2 || lo > hi) {
        lo = hi = 0;
    }
    if (lo < SWITCH_VLAN_MIN || hi > SWITCH_VLAN_MAX)
        return error_set(err, "\"allowed\": a VLAN is a number from %d to %d, or \"A-B\"",
                         SWITCH_VLAN_MIN, SWITCH_VLAN_MAX);
    for (unsigned vlan = lo; vlan <= hi; vlan++)
        switchd_vlan_set(pc->allowed, vlan);
    return 0;
}

static int port_trunk(SwitchPortConfig *pc, const json_t *args, Error *err)
{
    const json_t *allowed = json_object_get(args, "allowed");
    uint64_t native = 0;
    if (json_object_get(args, "vlan"))
        return error_set(err, "\"vlan\" is for access ports (a trunk's untagged VLAN is "
                              "\"native\")");
    if (allowed && !json_is_array(allowed))
        return error_set(err, "\"allowed\" must be an array of VLANs");
    size_t i;
    json_t *v;
    json_array_foreach(allowed, i, v)
    {
        if (allowed_item(pc, v, err) < 0)
            return -1;
    }
    if (arg_uint(args, "native", 0, SWITCH_VLAN_MAX, &native, err) < 0)
        return -1;
    pc->mode = SWITCH_TRUNK;
    pc->vlan = (uint16_t)native;
    return 0;
}

static int port_access(SwitchPortConfig *pc, const json_t *args, Error *err)
{
    uint64_t vlan = SWITCH_DEFAULT_VLAN;
    if (json_object_get(args, "allowed") || json_object_get(args, "native"))
        return error_set(err, "\"allowed\" and \"native\" are for trunk ports (\"mode\": "
                              "\"trunk\")");
    if (arg_uint(args, "vlan", SWITCH_VLAN_MIN, SWITCH_VLAN_MAX, &vlan, err) < 0)
        return -1;
    pc->mode = SWITCH_ACCESS;
    pc->vlan = (uint16_t)vlan;
    return 0;
}

/* mac and spoof-check: the check is on by default when a MAC is given, and needs one. */
static int port_mac(SwitchPortConfig *pc, const json_t *args, Error *err)
{
    const json_t *mac = json_object_get(args, "mac");
    Error e = {0};
    if (mac && (!json_is_string(mac) || net_mac_parse(pc->mac, json_string_value(mac), &e) < 0))
        return error_set(err, "\"mac\" must be a unicast MAC address like 52:54:00:12:34:56");
    pc->spoof_check = mac != NULL;
    if (arg_bool(args, "spoof-check", &pc->spoof_check, err) < 0)
        return -1;
    if (pc->spoof_check && !mac)
        return error_set(err, "\"spoof-check\" needs the port's \"mac\"");
    return 0;
}

static int port_limits(SwitchPortConfig *pc, const json_t *args, Error *err)
{
    uint64_t rate = 0, flood = 0, queue = 0;
    if (arg_uint(args, "rate-mbit", 0, PORT_RATE_MBIT_MAX, &rate, err) < 0 ||
        arg_uint(args, "flood-pps", 0, PORT_FLOOD_PPS_MAX, &flood, err) < 0 ||
        arg_uint(args, "queue", 0, PORT_QUEUE_MAX, &queue, err) < 0)
        return -1;
    pc->rate_bps = rate * 1000000u;
    pc->flood_pps = (uint32_t)flood;
    pc->queue_frames = (uint32_t)queue;
    return 0;
}

int switchd_port_from_json(SwitchPortConfig *pc, const json_t *args, Error *err)
{
    const char *name = json_string_value(json_object_get(args, "name"));
    const char *mode = json_string_value(json_object_get(args, "mode"));
    if (control_args_check(args, port_members, err) < 0)
        return -1;
    if (!name)
        return error_set(err, "\"name\" is required: the port's name");
    if (strlen(name) >= SWITCH_NAME_MAX)
        return error_set(err, "\"name\" is longer than %d bytes", SWITCH_NAME_MAX - 1);
    if (json_object_get(args, "mode") &&
        (!mode || (strcmp(mode, "access") != 0 && strcmp(mode, "trunk") != 0)))
        return error_set(err, "\"mode\" must be \"access\" or \"trunk\"");
    switch_port_config_default(pc, name);
    bool trunk = mode && strcmp(mode, "trunk") == 0;
    if ((trunk ? port_trunk(pc, args, err) : port_access(pc, args, err)) < 0 ||
        arg_bool(args, "isolated", &pc->isolated, err) < 0 ||
        arg_bool(args, "uplink", &pc->uplink, err) < 0 || port_mac(pc, args, err) < 0 ||
        port_limits(pc, args, err) < 0)
        return -1;
    return switch_port_config_check(pc, err);
}

/* ---- query-ports ---- */

static json_t *allowed_json(const SwitchPortConfig *pc)
{
    json_t *list = json_array();
    for (unsigned v = SWITCH_VLAN_MIN; list && pc->mode == SWITCH_TRUNK && v <= SWITCH_VLAN_MAX;
         v++)
        if (switchd_vlan_isset(pc->allowed, v))
            json_array_append_new(list, json_integer(v));
    return list;
}

static json_t *stats_json(const SwitchPortStats *st)
{
    return json_pack("{s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I}", "rx-frames",
                     (json_int_t)st->rx_frames, "rx-bytes", (json_int_t)st->rx_bytes, "tx-frames",
                     (json_int_t)st->tx_frames, "tx-bytes", (json_int_t)st->tx_bytes,
                     "drop-malformed", (json_int_t)st->drop_malformed, "drop-vlan",
                     (json_int_t)st->drop_vlan, "drop-spoof", (json_int_t)st->drop_spoof,
                     "drop-rate", (json_int_t)st->drop_rate, "drop-flood",
                     (json_int_t)st->drop_flood, "drop-queue", (json_int_t)st->drop_queue,
                     "drop-gone", (json_int_t)st->drop_gone, "queued", (json_int_t)st->queued);
}

static json_t *counters_json(const SwitchdPortInfo *p)
{
    json_t *o = json_object();
    for (size_t i = 0; o && i < p->ncounters; i++)
        json_object_set_new(o, p->counters[i].name, json_integer((json_int_t)p->counters[i].value));
    return o;
}

json_t *switchd_port_to_json(const SwitchdPortInfo *p)
{
    const SwitchPortConfig *c = p->cfg;
    bool trunk = c->mode == SWITCH_TRUNK;
    char mac[NET_MAC_TEXT], ipv4[INET_ADDRSTRLEN];
    struct in_addr a = {p->stats.ipv4};
    net_mac_format(c->mac, mac);
    inet_ntop(AF_INET, &a, ipv4, sizeof(ipv4));
    bool has_mac = c->spoof_check || memcmp(c->mac, (uint8_t[NET_MAC_LEN]){0}, NET_MAC_LEN) != 0;
    json_t *o = json_pack(
        "{s:s,s:s,s:s,s:i,s:o,s:i,s:b,s:b,s:b,s:s?,s:I,s:I,s:I,s:s,s:s?,s:o}", "name", c->name,
        "kind", p->kind, "mode", trunk ? "trunk" : "access", "vlan", trunk ? 0 : c->vlan, "allowed",
        allowed_json(c), "native", trunk ? c->vlan : 0, "isolated", c->isolated, "uplink",
        c->uplink, "spoof-check", c->spoof_check, "mac", has_mac ? mac : NULL, "rate-mbit",
        (json_int_t)(c->rate_bps / 1000000u), "flood-pps", (json_int_t)c->flood_pps, "queue",
        (json_int_t)(c->queue_frames ? c->queue_frames : SWITCH_DEFAULT_QUEUE), "link",
        p->link_up ? "up" : "down", "ipv4", p->stats.ipv4 ? ipv4 : NULL, "stats",
        stats_json(&p->stats));
    if (o && p->transport)
        json_object_set_new(o, "transport", json_string(p->transport));
    if (o && p->port_kind == SWITCHD_PORT_UPLINK)
        json_object_set_new(o, "counters", counters_json(p));
    return o;
}
