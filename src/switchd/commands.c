/* The switch's control commands: one handler each, thin over net/switchd.h. */
#include "switchd/commands.h"

#include <stdlib.h>
#include <unistd.h>

#include "switchd/config.h"
#include "switchd/port_json.h"
#include "util/compiler.h"

#define NS_PER_S 1000000000ull

static json_t *cmd_add_port(void *opaque, json_t *args, Error *err)
{
    SwitchdControl *c = opaque;
    int fd = control_take_fd(c->srv); /* ours now: closed whatever happens next */
    SwitchPortConfig pc;
    if (switchd_port_from_json(&pc, args, err) < 0) {
        if (fd >= 0)
            close(fd);
        return NULL;
    }
    if (switchd_port_add(c->d, &pc, fd, err) < 0)
        return NULL;
    return json_object();
}

static json_t *cmd_remove_port(void *opaque, json_t *args, Error *err)
{
    static const char *const allowed[] = {"name", NULL};
    SwitchdControl *c = opaque;
    const char *name = json_string_value(json_object_get(args, "name"));
    if (control_args_check(args, allowed, err) < 0)
        return NULL;
    if (!name)
        return error_set(err, "\"name\" is required: the port's name"), NULL;
    if (switchd_port_remove(c->d, name, err) < 0)
        return NULL;
    return json_object();
}

static json_t *cmd_set_port(void *opaque, json_t *args, Error *err)
{
    SwitchdControl *c = opaque;
    SwitchPortConfig pc;
    if (switchd_port_from_json(&pc, args, err) < 0 || switchd_port_set(c->d, &pc, err) < 0)
        return NULL;
    return json_object();
}

/*
 * {"uplink": NAME (optional: the slirp uplink there is), "hostfwd": [RULE...]}:
 * the uplink's forwards become these, all or none.
 */
static json_t *cmd_set_forwards(void *opaque, json_t *args, Error *err)
{
    static const char *const allowed[] = {"uplink", "hostfwd", NULL};
    SwitchdControl *c = opaque;
    const json_t *name = json_object_get(args, "uplink"), *list = json_object_get(args, "hostfwd");
    if (control_args_check(args, allowed, err) < 0)
        return NULL;
    if (name && !json_is_string(name))
        return error_set(err, "\"uplink\" must be a string: the slirp uplink's name"), NULL;
    if (!list)
        return error_set(err, "\"hostfwd\" is required: the forwards, [] for none"), NULL;
    const UplinkConfig *uc =
        switchd_uplink_config(c->d, json_string_value(name), UPLINK_SLIRP, err);
    UplinkConfig *u = uc ? malloc(sizeof(*u)) : NULL;
    if (uc && !u)
        error_set(err, "out of memory");
    if (!u)
        return NULL;
    *u = *uc;
    int rc = switchd_config_hostfwd(u, list, "", err);
    if (rc == 0)
        rc = switchd_uplink_set_forwards(c->d, u->name, u->slirp.fwd, u->slirp.nfwd, err);
    free(u);
    return rc < 0 ? NULL : json_object();
}

static void port_append(void *opaque, const SwitchdPortInfo *p)
{
    json_array_append_new(opaque, switchd_port_to_json(p));
}

static json_t *cmd_query_ports(void *opaque, json_t *args, Error *err)
{
    SwitchdControl *c = opaque;
    if (control_args_check(args, NULL, err) < 0)
        return NULL;
    json_t *list = json_array();
    if (list)
        switchd_port_foreach(c->d, port_append, list);
    return json_pack("{s:o*}", "ports", list);
}

static void fdb_append(void *opaque, const SwitchdFdbEntry *e)
{
    char mac[NET_MAC_TEXT];
    net_mac_format(e->mac, mac);
    json_array_append_new(opaque,
                          json_pack("{s:s,s:i,s:s,s:I}", "mac", mac, "vlan", e->vlan, "port",
                                    e->port, "age", (json_int_t)(e->age_ns / NS_PER_S)));
}

static json_t *cmd_query_fdb(void *opaque, json_t *args, Error *err)
{
    SwitchdControl *c = opaque;
    if (control_args_check(args, NULL, err) < 0)
        return NULL;
    json_t *list = json_array();
    if (list)
        switchd_fdb_foreach(c->d, fdb_append, list);
    return json_pack("{s:o*}", "fdb", list);
}

static json_t *cmd_query_status(void *opaque, json_t *args, Error *err)
{
    SwitchdControl *c = opaque;
    if (control_args_check(args, NULL, err) < 0)
        return NULL;
    SwitchdStatus st;
    switchd_status(c->d, &st);
    return json_pack("{s:s,s:I,s:I,s:I}", "name", st.name, "ports", (json_int_t)st.ports, "uptime",
                     (json_int_t)(st.uptime_ns / NS_PER_S), "forwarded", (json_int_t)st.forwarded);
}

static json_t *cmd_quit(void *opaque, json_t *args, Error *err)
{
    SwitchdControl *c = opaque;
    if (control_args_check(args, NULL, err) < 0)
        return NULL;
    c->quit = true;
    return json_object();
}

const ControlCommand switchd_commands[] = {
    {"add-port", cmd_add_port,
     "add a port on the SOCK_SEQPACKET socket passed with the request: name, mode, vlan, ..."},
    {"remove-port", cmd_remove_port, "remove a VM or listen port: name"},
    {"set-port", cmd_set_port, "replace a port's options (as add-port's, without a socket)"},
    {"set-forwards", cmd_set_forwards,
     "replace the slirp uplink's host port forwards: hostfwd [RULE...], uplink (all or none)"},
    {"query-ports", cmd_query_ports, "every port: options, link, IPv4 address, counters"},
    {"query-fdb", cmd_query_fdb, "the learned addresses: mac, vlan, port, age in seconds"},
    {"query-status", cmd_query_status, "name, ports, uptime in seconds, frames forwarded"},
    {"quit", cmd_quit, "stop the switch (every port is closed)"},
};
const size_t switchd_ncommands = ARRAY_SIZE(switchd_commands);
