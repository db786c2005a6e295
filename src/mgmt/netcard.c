/*
 * VM cards on hosteld's networks (netrun.h): before a VMM is spawned, each
 * card of kind network gets a port of its network's switch (a SEQPACKET
 * socketpair: one end to the switch with add-port, the other for the VMM
 * as fd 3 + card), or, on a bridged network, a tap joined to the host
 * bridge (handed over as `tap,fd=3+card`); when the VMM is gone, they are
 * removed.  When a switch was started again after it died (or found gone
 * at daemon start), the running VMs' cards on it get new ports: a new
 * socketpair, add-port, and the VMM's end handed over with the VMM's
 * set-net-fd (replug).  The runtime calls these through
 * mgmt_netrun_nic_hooks.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "control/client.h"
#include "mgmt/nethost.h"
#include "mgmt/netrun_int.h"
#include "util/log.h"

#define PORT_CALL_MS 5000  /* add-port, remove-port */
#define STALE_CALL_MS 1000 /* query-ports of every switch at a VM's start */
#define VMM_CALL_MS 5000   /* set-net-fd */

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
        if (e->removed || !e->proc.pid)
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

/* ---- replug: new ports for a running VM's cards whose ports have gone ---- */

/* The link ("up", "down") of the port named port on the network's switch, "" when it has none. */
static int port_link(MgmtNetRun *nr, const char *network, const char *port, char link[8],
                     Error *err)
{
    json_t *ret = NULL, *p;
    size_t i;
    link[0] = '\0';
    if (mgmt_netrun_call(nr, network, "query-ports", NULL, -1, &ret, STALE_CALL_MS, err) < 0)
        return -1;
    json_array_foreach(json_object_get(ret, "ports"), i, p)
    {
        const char *name = json_string_value(json_object_get(p, "name"));
        const char *l = json_string_value(json_object_get(p, "link"));
        if (name && strcmp(name, port) == 0)
            snprintf(link, 8, "%s", l ? l : "down");
    }
    json_decref(ret);
    return 0;
}

/* set-net-fd {card} with fd on the VMM's control socket at control. */
static int vmm_set_net_fd(const char *control, unsigned card, int fd, Error *err)
{
    ControlConn c;
    if (control_conn_open(&c, control, VMM_CALL_MS, err) < 0)
        return -1;
    json_t *args = json_pack("{s:i}", "card", (int)card);
    json_t *reply = control_conn_call_fd(&c, "set-net-fd", args, fd, err);
    json_decref(args);
    control_conn_close(&c);
    if (!reply)
        return -1;
    int rc = 0;
    if (!json_object_get(reply, "return")) {
        const char *d = json_string_value(json_object_get(json_object_get(reply, "error"), "desc"));
        rc = error_set(err, "set-net-fd: %s", d ? d : "the VMM sent a malformed reply");
    }
    json_decref(reply);
    return rc;
}

static void remove_port(MgmtNetRun *nr, const char *network, const char *port)
{
    json_t *args = json_pack("{s:s}", "name", port);
    mgmt_netrun_call(nr, network, "remove-port", args, -1, NULL, PORT_CALL_MS, NULL);
    json_decref(args);
}

/*
 * Card i of the running VM vm: when its switch has no port for it (the
 * switch is a new one) or a dead one, a new port, its socket handed to
 * the VMM.  Returns 1 when it was plugged in again, 0 when its port was
 * there, -1 with err.
 */
static int replug_card(MgmtNetRun *nr, const char *vm, unsigned i, const NetConfig *nic,
                       const char *control, Error *err)
{
    char port[64], link[8];
    mgmt_netrun_port_name(vm, i, port);
    if (port_link(nr, nic->network, port, link, err) < 0)
        return -1;
    if (strcmp(link, "up") == 0)
        return 0;
    if (link[0]) /* its VMM's end is gone: this VMM has another socket */
        remove_port(nr, nic->network, port);
    int fd = plug_port(nr, vm, i, nic, err);
    if (fd < 0)
        return -1;
    int rc = vmm_set_net_fd(control, i, fd, err);
    close(fd); /* the VMM has its own */
    if (rc < 0) {
        remove_port(nr, nic->network, port);
        return -1;
    }
    return 1;
}

void mgmt_netrun_replug(MgmtNetRun *nr, const char *vm, const VmConfig *cfg, const char *network,
                        const char *control)
{
    for (unsigned i = 0; i < cfg->nnics; i++) {
        const NetConfig *nic = &cfg->nics[i];
        Error err = {0};
        if (nic->kind != NET_NETWORK || nic->fd < 0 || (network && strcmp(nic->network, network)))
            continue;
        int rc = replug_card(nr, vm, i, nic, control, &err);
        if (rc > 0)
            log_info("network %s: %s's card %u has a port again (set-net-fd)", nic->network, vm, i);
        else if (rc < 0)
            log_warn("network %s: %s's card %u cannot get its port back: %s", nic->network, vm, i,
                     err.msg);
    }
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

static void hook_replug(void *ctx, const char *vm, const VmConfig *cfg, const char *network,
                        const char *control)
{
    mgmt_netrun_replug(ctx, vm, cfg, network, control);
}

const MgmtNicHooks mgmt_netrun_nic_hooks = {
    .plug = hook_plug, .unplug = hook_unplug, .replug = hook_replug};
