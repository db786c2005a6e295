/*
 * VM cards on hosteld's networks (netrun.h): before a VMM is spawned, each
 * card of kind network gets a port of its network's switch (a SEQPACKET
 * socketpair: one end to the switch with add-port, the other for the VMM
 * as fd 3 + card), or, on a bridged network, a tap joined to the host
 * bridge (handed over as `tap,fd=3+card`); when the VMM is gone, they are
 * removed.  The runtime calls these through mgmt_netrun_nic_hooks.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "mgmt/nethost.h"
#include "mgmt/netrun_int.h"
#include "util/log.h"

#define PORT_CALL_MS 5000  /* add-port, remove-port */
#define STALE_CALL_MS 1000 /* query-ports of every switch at a VM's start */

/* The part of a VM's port names before ".CARD": the VM's name, hashed when too long. */
static void port_base(const char *vm, char out[64])
{
    if (strlen(vm) <= 60)
        snprintf(out, 64, "%s", vm);
    else
        snprintf(out, 64, "%.50s-%08x", vm, mgmt_net_hash(vm));
}

void mgmt_netrun_port_name(const char *vm, unsigned card, char out[64])
{
    char base[64];
    port_base(vm, base);
    snprintf(out, 64, "%.60s.%u", base, card % 100);
}

void mgmt_netrun_tap_name(const char *vm, unsigned card, char out[MGMT_NET_IFNAME_MAX])
{
    char suffix[8];
    snprintf(suffix, sizeof(suffix), "-%u", card % 10);
    mgmt_net_ifname("hb", vm, suffix, out);
}

/* name is one of vm's port names: BASE "." digits. */
static bool is_vm_port(const char *name, const char *vm)
{
    char base[64];
    port_base(vm, base);
    size_t n = strlen(base);
    if (strncmp(name, base, n) != 0 || name[n] != '.' || !name[n + 1])
        return false;
    for (const char *p = name + n + 1; *p; p++)
        if (*p < '0' || *p > '9')
            return false;
    return true;
}

/* The names of the networks whose switches run now (malloc'd array of *n). */
static char (*running_switches(MgmtNetRun *nr, size_t *n))[MGMT_NET_NAME_MAX + 1]
{
    char(*names)[MGMT_NET_NAME_MAX + 1] = NULL;
    *n = 0;
    pthread_mutex_lock(&nr->lock);
    for (NetEntry *e = nr->nets; e; e = e->next) {
        if (e->removed || !e->pid)
            continue;
        void *v = realloc(names, (*n + 1) * sizeof(*names));
        if (!v)
            break;
        names = v;
        snprintf(names[(*n)++], sizeof(names[0]), "%s", e->def.name);
    }
    pthread_mutex_unlock(&nr->lock);
    return names;
}

/* Remove the ports of vm a crash left on any switch (a VMM that died while hosteld was away). */
static void remove_stale_ports(MgmtNetRun *nr, const char *vm)
{
    size_t n;
    char(*names)[MGMT_NET_NAME_MAX + 1] = running_switches(nr, &n);
    for (size_t s = 0; s < n; s++) {
        json_t *ret = NULL, *p;
        size_t i;
        if (mgmt_netrun_call(nr, names[s], "query-ports", NULL, -1, &ret, STALE_CALL_MS, NULL) < 0)
            continue;
        json_array_foreach(json_object_get(ret, "ports"), i, p)
        {
            const char *port = json_string_value(json_object_get(p, "name"));
            if (!port || !is_vm_port(port, vm))
                continue;
            json_t *args = json_pack("{s:s}", "name", port);
            if (mgmt_netrun_call(nr, names[s], "remove-port", args, -1, NULL, PORT_CALL_MS, NULL) ==
                0)
                log_info("network %s: removed the port %s that %s left", names[s], port, vm);
            json_decref(args);
        }
        json_decref(ret);
    }
    free(names);
}

/* The add-port arguments of a card: its port's options and MAC. */
static json_t *port_args(const char *port, const NetConfig *nic)
{
    const NetPortOptions *o = &nic->port;
    char mac[NET_MAC_TEXT];
    net_mac_format(nic->mac, mac);
    json_t *a =
        json_pack("{s:s, s:s, s:b, s:b, s:s}", "name", port, "mode", o->ntrunk ? "trunk" : "access",
                  "isolated", o->isolated, "spoof-check", !o->no_spoof_check, "mac", mac);
    if (!a)
        return NULL;
    if (o->ntrunk) {
        json_t *allowed = json_array();
        for (unsigned i = 0; allowed && i < o->ntrunk; i++)
            json_array_append_new(allowed, json_integer(o->trunk[i]));
        json_object_set_new(a, "allowed", allowed);
        json_object_set_new(a, "native", json_integer(o->native));
    } else {
        json_object_set_new(a, "vlan", json_integer(o->vlan ? o->vlan : 1));
    }
    if (o->rate_mbit)
        json_object_set_new(a, "rate-mbit", json_integer(o->rate_mbit));
    if (o->flood_pps)
        json_object_set_new(a, "flood-pps", json_integer(o->flood_pps));
    return a;
}

/* A switch port for card i of vm on network: the VMM's end of the socketpair, or -1. */
static int plug_port(MgmtNetRun *nr, const char *vm, unsigned i, const NetConfig *nic, Error *err)
{
    char port[64];
    int sv[2];
    mgmt_netrun_port_name(vm, i, port);
    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0, sv) < 0)
        return error_set_errno(err, errno, "card %u: cannot make a socketpair", i);
    json_t *args = port_args(port, nic);
    Error e = {0};
    int rc =
        args ? mgmt_netrun_call(nr, nic->network, "add-port", args, sv[0], NULL, PORT_CALL_MS, &e)
             : error_set(&e, "out of memory");
    json_decref(args);
    close(sv[0]); /* the switch has its own */
    if (rc < 0) {
        close(sv[1]);
        return error_set(err, "card %u: network '%s': %s", i, nic->network, e.msg);
    }
    return sv[1];
}

/* A tap on net's bridge for card i of vm: its descriptor, or -1. */
static int plug_tap(const char *vm, unsigned i, const MgmtNetwork *net, Error *err)
{
    char tap[MGMT_NET_IFNAME_MAX];
    Error e = {0};
    if (geteuid() != 0)
        return error_set(err, "card %u: network '%s' is bridged: hosteld must run as root", i,
                         net->name);
    mgmt_netrun_tap_name(vm, i, tap);
    int fd = nethost_bridge_tap(tap, net->bridge, &e);
    if (fd < 0)
        return error_set(err, "card %u: network '%s': %s", i, net->name, e.msg);
    return fd;
}

/* Undo card i (as plugged: a network port or our tap, with fd set). */
static void unplug_card(MgmtNetRun *nr, const char *vm, unsigned i, const NetConfig *nic)
{
    char name[64];
    Error err = {0};
    if (nic->fd < 0)
        return;
    if (nic->kind == NET_NETWORK) {
        mgmt_netrun_port_name(vm, i, name);
        json_t *args = json_pack("{s:s}", "name", name);
        if (mgmt_netrun_call(nr, nic->network, "remove-port", args, -1, NULL, PORT_CALL_MS, &err) <
            0)
            log_info("network %s: port %s: %s", nic->network, name, err.msg);
        json_decref(args);
        netrun_vm_left(nr, nic->network);
    } else if (nic->kind == NET_TAP) { /* it goes with its last descriptor; else here */
        mgmt_netrun_tap_name(vm, i, name);
        if (nethost_delete(name, &err) < 0)
            log_warn("%s: %s", vm, err.msg);
    }
}

/* The definition and status of the network named name: false when there is none. */
static bool network_of(MgmtNetRun *nr, const char *name, MgmtNetwork *net, NetStatus *st, char *why,
                       size_t size)
{
    pthread_mutex_lock(&nr->lock);
    NetEntry *e = netrun_find(nr, name);
    bool found = e && !e->removed;
    if (found) {
        *net = e->def;
        *st = e->status;
        snprintf(why, size, "%s", e->message);
    }
    pthread_mutex_unlock(&nr->lock);
    return found;
}

/* Plug card i in (cfg's card rewritten for the VMM); its descriptor, or -1. */
static int plug_card(MgmtNetRun *nr, const char *vm, unsigned i, NetConfig *nic, Error *err)
{
    MgmtNetwork *net = malloc(sizeof(*net));
    NetStatus st;
    char why[300];
    int fd = -1;
    if (!net)
        return error_set(err, "out of memory");
    if (!network_of(nr, nic->network, net, &st, why, sizeof(why)))
        error_set(err, "card %u: no network named '%s'", i, nic->network);
    else if (net->kind == MGMT_NET_BRIDGED && (fd = plug_tap(vm, i, net, err)) >= 0) {
        NetConfig tap;
        net_config_default(&tap);
        tap.kind = NET_TAP;
        memcpy(tap.mac, nic->mac, sizeof(tap.mac));
        *nic = tap;
    } else if (net->kind != MGMT_NET_BRIDGED && st != NR_RUNNING)
        error_set(err, "card %u: network '%s' is not running%s%s", i, nic->network,
                  why[0] ? ": " : "", why);
    else if (net->kind != MGMT_NET_BRIDGED)
        fd = plug_port(nr, vm, i, nic, err);
    free(net);
    if (fd >= 0)
        nic->fd = 3 + (int)i;
    return fd;
}

int mgmt_netrun_plug(MgmtNetRun *nr, const char *vm, VmConfig *cfg, int fds[VMCONFIG_MAX_NICS],
                     Error *err)
{
    bool any = false;
    for (unsigned i = 0; i < VMCONFIG_MAX_NICS; i++)
        fds[i] = -1;
    for (unsigned i = 0; i < cfg->nnics; i++)
        any |= cfg->nics[i].kind == NET_NETWORK;
    remove_stale_ports(nr, vm); /* also when it has no card on a network any more */
    for (unsigned i = 0; any && i < cfg->nnics; i++) {
        if (cfg->nics[i].kind != NET_NETWORK)
            continue;
        cfg->nics[i].fd = -1;
        fds[i] = plug_card(nr, vm, i, &cfg->nics[i], err);
        if (fds[i] < 0) {
            mgmt_netrun_unplug(nr, vm, cfg);
            for (unsigned k = 0; k < i; k++)
                if (fds[k] >= 0)
                    close(fds[k]);
            for (unsigned k = 0; k < VMCONFIG_MAX_NICS; k++)
                fds[k] = -1;
            return -1;
        }
    }
    return 0;
}

void mgmt_netrun_unplug(MgmtNetRun *nr, const char *vm, const VmConfig *cfg)
{
    for (unsigned i = 0; i < cfg->nnics; i++)
        unplug_card(nr, vm, i, &cfg->nics[i]);
}

static int hook_plug(void *ctx, const char *vm, VmConfig *cfg, int fds[VMCONFIG_MAX_NICS],
                     Error *err)
{
    return mgmt_netrun_plug(ctx, vm, cfg, fds, err);
}

static void hook_unplug(void *ctx, const char *vm, const VmConfig *cfg)
{
    mgmt_netrun_unplug(ctx, vm, cfg);
}

const MgmtNicHooks mgmt_netrun_nic_hooks = {.plug = hook_plug, .unplug = hook_unplug};
