/*
 * The API's network resources (/1.0/networks, /1.0/networks/NAME):
 * definitions created, read, changed and deleted (network.c,
 * network_store.c), each brought up and down by netrun.c.  A network's
 * object is its definition, what its switch is doing, the VMs whose
 * definitions use it, and (for one network) its ports and address table
 * as its switch reports them.
 *
 * The reads are unlocked routes: the definitions are copied under the
 * API's lock, then the switches are asked without it (a hung switch
 * costs a read its timeout, never the API).
 */
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include "mgmt/api_int.h"
#include "mgmt/nethost.h"
#include "mgmt/netroot.h"
#include "mgmt/netrun.h"
#include "mgmt/network.h"
#include "util/log.h"

#define SWITCH_TIMEOUT_MS 1000 /* a read asks a switch for at most this long */
#define HOST_SUBNETS_MAX 64

/* One VM card on a network: the VM, the card's number, its port (or tap) name. */
typedef struct NetUse {
    char vm[MGMT_NAME_MAX + 1];
    unsigned card;
    char port[64];
} NetUse;

/* What a read copies under the lock: a network and the cards on it. */
typedef struct NetView {
    MgmtNetwork net;
    NetUse *uses;
    size_t nuses;
} NetView;

/* The status of a network.c failure. */
static int net_status(int rc)
{
    switch (-rc) {
    case EPROTO: return 400;
    case EINVAL: return 422;
    case EEXIST:
    case EBUSY: return 409;
    case ENOENT: return 404;
    default: return 500;
    }
}

/* ---- the cards on a network ---- */

/* The cards of the VM definitions of the store on network name (the API's lock held). */
static size_t collect_uses(Api *api, const MgmtNetwork *net, NetUse **out)
{
    size_t n = 0;
    *out = NULL;
    for (size_t i = 0; i < mgmt_store_count(api->store); i++) {
        const MgmtVm *vm = mgmt_store_at(api->store, i);
        for (unsigned c = 0; c < vm->config.nnics; c++) {
            const NetConfig *nic = &vm->config.nics[c];
            if (nic->kind != NET_NETWORK || strcmp(nic->network, net->name) != 0)
                continue;
            NetUse *u = realloc(*out, (n + 1) * sizeof(*u));
            if (!u)
                return n;
            *out = u;
            snprintf(u[n].vm, sizeof(u[n].vm), "%s", vm->name);
            u[n].card = c;
            if (net->kind == MGMT_NET_BRIDGED)
                mgmt_netrun_tap_name(vm->name, c, u[n].port);
            else
                mgmt_netrun_port_name(vm->name, c, u[n].port);
            n++;
        }
    }
    return n;
}

/* The distinct VM names of uses, in order. */
static json_t *used_by(const NetUse *uses, size_t n)
{
    json_t *a = json_array();
    for (size_t i = 0; a && i < n; i++)
        if (i == 0 || strcmp(uses[i].vm, uses[i - 1].vm) != 0)
            json_array_append_new(a, json_string(uses[i].vm));
    return a;
}

/* The VMs of uses that run now, "vm1, vm2" into buf; how many. */
static size_t running_users(Api *api, const NetUse *uses, size_t n, char *buf, size_t size)
{
    size_t count = 0, len = 0;
    buf[0] = '\0';
    for (size_t i = 0; api->runtime && i < n; i++) {
        if ((i > 0 && strcmp(uses[i].vm, uses[i - 1].vm) == 0) ||
            mgmt_runtime_power(api->runtime, uses[i].vm) == MGMT_POWER_STOPPED)
            continue;
        int k = snprintf(buf + len, size - len, "%s%s", count ? ", " : "", uses[i].vm);
        len = k < 0 || (size_t)k >= size - len ? size - 1 : len + (size_t)k;
        count++;
    }
    return count;
}

/* ---- objects ---- */

/* The definition, "state" and the rest of netrun's state, "used_by". */
static json_t *base_object(Api *api, const NetView *v)
{
    json_t *j = mgmt_network_to_json(&v->net, false);
    json_t *st = api->netrun ? mgmt_netrun_state_json(api->netrun, v->net.name)
                             : json_pack("{s:s}", "status", "stopped");
    if (!j || !st) {
        json_decref(j);
        json_decref(st);
        return NULL;
    }
    json_object_set(j, "state", json_object_get(st, "status"));
    json_object_del(st, "status");
    json_object_update(j, st);
    json_decref(st);
    json_object_set_new(j, "used_by", used_by(v->uses, v->nuses));
    return j;
}

/* The card whose port (or tap) is name, or NULL. */
static const NetUse *use_of(const NetView *v, const char *name)
{
    for (size_t i = 0; name && i < v->nuses; i++)
        if (strcmp(v->uses[i].port, name) == 0)
            return &v->uses[i];
    return NULL;
}

/* The switch's ports, each with "vm" and "card" (null for an uplink). */
static json_t *switch_ports(Api *api, const NetView *v)
{
    json_t *ret = NULL, *p;
    size_t i;
    Error err = {0};
    if (!api->netrun || mgmt_netrun_call(api->netrun, v->net.name, "query-ports", NULL, -1, &ret,
                                         SWITCH_TIMEOUT_MS, &err) < 0)
        return NULL;
    json_t *ports = json_incref(json_object_get(ret, "ports"));
    json_decref(ret);
    json_array_foreach(ports, i, p)
    {
        const NetUse *u = use_of(v, json_string_value(json_object_get(p, "name")));
        json_object_set_new(p, "vm", u ? json_string(u->vm) : json_null());
        json_object_set_new(p, "card", u ? json_integer(u->card) : json_null());
    }
    return json_is_array(ports) ? ports : (json_decref(ports), NULL);
}

/* A bridged network's ports: the taps of its VMs' cards that exist now. */
static json_t *tap_ports(const NetView *v)
{
    json_t *a = json_array();
    for (size_t i = 0; a && i < v->nuses; i++) {
        if (!nethost_exists(v->uses[i].port))
            continue;
        NetHostTapStats st;
        nethost_tap_stats(v->uses[i].port, &st);
        json_t *stats = json_pack(
            "{s:I, s:I, s:I, s:I, s:I}", "rx-frames", (json_int_t)st.from_vm_frames, "rx-bytes",
            (json_int_t)st.from_vm_bytes, "tx-frames", (json_int_t)st.to_vm_frames, "tx-bytes",
            (json_int_t)st.to_vm_bytes, "drop-queue", (json_int_t)st.to_vm_dropped);
        json_array_append_new(a, json_pack("{s:s, s:s, s:s, s:i, s:o}", "name", v->uses[i].port,
                                           "kind", "tap", "vm", v->uses[i].vm, "card",
                                           (int)v->uses[i].card, "stats", stats));
    }
    return a;
}

/* The number of VM ports in ports (an array from switch_ports), or of taps. */
static size_t count_vm_ports(const json_t *ports)
{
    size_t i, n = 0;
    json_t *p;
    json_array_foreach(ports, i, p)
    {
        n += json_is_string(json_object_get(p, "vm"));
    }
    return n;
}

/* The object of a list: base + "port_count". */
static json_t *list_object(Api *api, const NetView *v)
{
    json_t *j = base_object(api, v);
    json_t *ports = v->net.kind == MGMT_NET_BRIDGED ? tap_ports(v) : switch_ports(api, v);
    if (j)
        json_object_set_new(j, "port_count", json_integer((json_int_t)count_vm_ports(ports)));
    json_decref(ports);
    return j;
}

/* A network with a host tap: its "host" object and, with dnsmasq, its "leases". */
static void host_members(Api *api, const NetView *v, json_t *j, json_t *ports)
{
    json_t *host = api->netrun ? mgmt_netroot_host_json(api->netrun, &v->net) : NULL;
    json_t *leases = api->netrun ? mgmt_netroot_leases(api->netrun, &v->net) : NULL;
    if (host)
        json_object_set_new(j, "host", host);
    if (leases) {
        mgmt_netroot_fill_ipv4(ports, leases);
        json_object_set_new(j, "leases", leases);
    }
}

/* The object of one network: base + "port_count", "ports", "fdb" (+ "host", "leases"). */
static json_t *full_object(Api *api, const NetView *v)
{
    json_t *j = base_object(api, v), *fdb = NULL;
    json_t *ports = v->net.kind == MGMT_NET_BRIDGED ? tap_ports(v) : switch_ports(api, v);
    Error err = {0};
    if (v->net.kind != MGMT_NET_BRIDGED && api->netrun && ports)
        mgmt_netrun_call(api->netrun, v->net.name, "query-fdb", NULL, -1, &fdb, SWITCH_TIMEOUT_MS,
                         &err);
    if (j)
        host_members(api, v, j, ports);
    if (j) {
        json_object_set_new(j, "port_count", json_integer((json_int_t)count_vm_ports(ports)));
        json_object_set_new(j, "ports", ports ? ports : json_array());
        json_t *table = json_object_get(fdb, "fdb");
        json_object_set_new(j, "fdb", json_is_array(table) ? json_incref(table) : json_array());
    } else {
        json_decref(ports);
    }
    json_decref(fdb);
    return j;
}

static void view_free(NetView *v, size_t n)
{
    for (size_t i = 0; v && i < n; i++)
        free(v[i].uses);
    free(v);
}

/* ---- reads (unlocked routes) ---- */

/* Copies of the networks (all, or the one named name) and their cards, under the lock. */
static NetView *views_copy(Api *api, const char *name, size_t *n)
{
    pthread_mutex_lock(&api->lock);
    size_t count = mgmt_networks_count(api->networks), k = 0;
    NetView *v = calloc(count ? count : 1, sizeof(*v));
    for (size_t i = 0; v && i < count; i++) {
        const MgmtNetwork *net = mgmt_networks_at(api->networks, i);
        if (name && strcmp(net->name, name) != 0)
            continue;
        v[k].net = *net;
        v[k].nuses = collect_uses(api, net, &v[k].uses);
        k++;
    }
    pthread_mutex_unlock(&api->lock);
    *n = k;
    return v;
}

void api_h_networks_list(Api *api, const ApiRequest *req, const ApiArgs *args, ApiResponse *r)
{
    size_t n;
    (void)req;
    (void)args;
    NetView *v = views_copy(api, NULL, &n);
    json_t *a = v ? json_array() : NULL;
    for (size_t i = 0; a && i < n; i++) {
        if (json_array_append_new(a, list_object(api, &v[i])) < 0) {
            json_decref(a);
            a = NULL;
        }
    }
    view_free(v, n);
    api_reply_json(r, 200, a ? json_pack("{s:o}", "networks", a) : NULL);
}

void api_h_network_get(Api *api, const ApiRequest *req, const ApiArgs *args, ApiResponse *r)
{
    size_t n;
    (void)req;
    NetView *v = views_copy(api, args->arg[0], &n);
    if (v && n == 0)
        api_error(r, 404, "no network named '%s'", args->arg[0]);
    else
        api_reply_json(r, 200, v ? full_object(api, v) : NULL);
    view_free(v, n);
}

/* ---- changes ---- */

/*
 * A lifecycle event for the network named name (action "network-created"...)
 * by the caller of req.
 */
static void emit_network(Api *api, const ApiRequest *req, const char *name, const char *action)
{
    char resource[MGMT_NAME_MAX + 24];
    snprintf(resource, sizeof(resource), "/" API_VERSION "/networks/%s", name);
    json_t *meta = json_pack("{s:s, s:s}", "action", action, "name", name);
    if (meta && req->tls)
        json_object_update_new(meta, json_pack("{s:s, s:s}", "certificate", req->cert_fingerprint,
                                               "certificate_name", req->cert_name));
    mgmt_events_emit(api->events, "lifecycle", resource, req->uid, meta);
}

/* Reply with the network named name's object (status 200, or 201 with its Location). */
static void reply_network(Api *api, const char *name, int status, ApiResponse *r)
{
    const MgmtNetwork *net = mgmt_networks_find(api->networks, name);
    NetView v = {.uses = NULL};
    if (!net) {
        api_error(r, 500, "network '%s' vanished", name);
        return;
    }
    v.net = *net;
    v.nuses = collect_uses(api, &v.net, &v.uses);
    if (status == 201)
        snprintf(r->location, sizeof(r->location), "/" API_VERSION "/networks/%s", name);
    api_reply_json(r, status, base_object(api, &v));
    free(v.uses);
}

/* A kind that needs root on a daemon that is not: false after a 422. */
static bool root_ok(const MgmtNetwork *net, ApiResponse *r)
{
    if (!mgmt_network_needs_root(net) || geteuid() == 0)
        return true;
    api_error(r, 422, "%s needs hosteld to run as root (it makes host interfaces)",
              mgmt_network_root_what(net));
    return false;
}

/* Bring a stored network up; when it cannot start, forget it again (false after a 422). */
static bool start_new(Api *api, const MgmtNetwork *net, ApiResponse *r)
{
    Error err = {0};
    if (!api->netrun || mgmt_netrun_start(api->netrun, net, &err) == 0)
        return true;
    mgmt_netrun_stop(api->netrun, net->name, true, NULL);
    mgmt_networks_remove(api->networks, net->name, NULL);
    api_error(r, 422, "network '%s' cannot start: %s", net->name, err.msg);
    return false;
}

void api_h_networks_create(Api *api, const ApiRequest *req, const ApiArgs *args, ApiResponse *r)
{
    MgmtSubnet host[HOST_SUBNETS_MAX];
    MgmtNetwork *net = calloc(1, sizeof(*net));
    Error err = {0};
    (void)args;
    json_t *body = net ? api_body_object(req, r) : NULL;
    int rc = body ? mgmt_network_from_json(body, false, net, &err) : 0;
    json_decref(body);
    if (!net)
        api_error(r, 500, "out of memory");
    if (!body || !net)
        goto out;
    if (rc < 0) {
        api_error(r, net_status(rc), "%s", err.msg);
        goto out;
    }
    if (!root_ok(net, r))
        goto out;
    if (mgmt_networks_find(api->networks, net->name)) {
        api_error(r, 409, "a network named '%s' exists", net->name);
        goto out;
    }
    size_t nhost = nethost_subnets(host, HOST_SUBNETS_MAX);
    if ((rc = mgmt_networks_complete(api->networks, net, host, nhost, &err)) < 0 ||
        (rc = mgmt_networks_put(api->networks, net, true, &err)) < 0) {
        api_error(r, net_status(rc), "%s", err.msg);
        goto out;
    }
    if (start_new(api, net, r)) {
        emit_network(api, req, net->name, "network-created");
        reply_network(api, net->name, 201, r);
    }
out:
    free(net);
}

/* The members whose change needs the network brought down and up (none of its VMs running). */
static bool shape_changed(const MgmtNetwork *a, const MgmtNetwork *b)
{
    return a->kind != b->kind || a->nat != b->nat || a->nat_mode != b->nat_mode ||
           a->dhcp != b->dhcp || a->subnet.addr != b->subnet.addr ||
           a->subnet.prefix != b->subnet.prefix || a->vni != b->vni ||
           a->vxlan_port != b->vxlan_port || strcmp(a->local, b->local) != 0 ||
           a->npeers != b->npeers || memcmp(a->peers, b->peers, sizeof(a->peers)) != 0 ||
           strcmp(a->bridge, b->bridge) != 0;
}

/*
 * The definition old with the members of patch over it into *out (name
 * and created read-only).  Returns 0, or a negative errno with err.
 */
static int patched(const MgmtNetwork *old, const json_t *patch, MgmtNetwork *out, Error *err)
{
    const json_t *name = json_object_get(patch, "name");
    if (name && (!json_is_string(name) || strcmp(json_string_value(name), old->name) != 0))
        return mgmt_net_fail(err, -EPROTO, "name: a network cannot be renamed (it is '%s')",
                             old->name);
    if (json_object_get(patch, "created"))
        return mgmt_net_fail(err, -EPROTO, "created: read-only");
    json_t *merged = mgmt_network_to_json(old, false);
    if (!merged)
        return mgmt_net_fail(err, -EIO, "out of memory");
    json_object_del(merged, "created");
    if (json_object_get(patch, "kind")) { /* another kind: its members come from the patch */
        json_t *desc = json_incref(json_object_get(merged, "description"));
        json_object_clear(merged);
        json_object_set_new(merged, "description", desc);
    }
    if (json_object_get(patch, "nat") && !json_object_get(patch, "dhcp"))
        json_object_del(merged, "dhcp"); /* the default of the NAT's (new) mode */
    json_object_update(merged, (json_t *)patch);
    json_object_set_new(merged, "name", json_string(old->name));
    int rc = mgmt_network_from_json(merged, false, out, err);
    json_decref(merged);
    snprintf(out->created, sizeof(out->created), "%s", old->created);
    return rc;
}

/* Apply the stored change from old to net to the running network; false after a reply. */
static bool apply_change(Api *api, const MgmtNetwork *old, const MgmtNetwork *net, ApiResponse *r)
{
    Error err = {0};
    bool pending = false;
    int rc = 0;
    if (!api->netrun)
        return true;
    if (shape_changed(old, net)) { /* nothing runs on it: down and up again */
        mgmt_netrun_stop(api->netrun, old->name, false, NULL);
        rc = mgmt_netrun_start(api->netrun, net, &err);
    } else {
        rc = mgmt_netrun_update(api->netrun, net, &pending, &err);
        if (rc == 0 && (old->nforwards != net->nforwards ||
                        memcmp(old->forwards, net->forwards, sizeof(net->forwards)) != 0))
            rc = mgmt_netroot_forwards(api->netrun, net, &err); /* host NAT: applied live */
    }
    if (rc == -EBUSY) { /* the switch kept its forwards: so does the definition */
        Error e = {0};
        if (mgmt_networks_put(api->networks, old, false, &e) < 0)
            log_warn("network %s: its old definition cannot be put back: %s", old->name, e.msg);
        api_error(r, 409, "network '%s': the forwards are not changed: %s", net->name, err.msg);
    } else if (rc < 0) {
        api_error(r, 500, "network '%s' is changed but its switch failed: %s", net->name, err.msg);
    }
    return rc == 0;
}

void api_h_network_patch(Api *api, const ApiRequest *req, const ApiArgs *args, ApiResponse *r)
{
    const MgmtNetwork *cur = mgmt_networks_find(api->networks, args->arg[0]);
    MgmtNetwork *old = calloc(1, sizeof(*old)), *net = calloc(1, sizeof(*net));
    Error err = {0};
    NetUse *uses = NULL;
    char running[256];
    json_t *body = NULL;
    if (!old || !net)
        api_error(r, 500, "out of memory");
    else if (!cur)
        api_error(r, 404, "no network named '%s'", args->arg[0]);
    else if ((body = api_body_object(req, r))) {
        *old = *cur;
        int rc = patched(old, body, net, &err);
        size_t nuses = collect_uses(api, old, &uses);
        if (rc < 0)
            api_error(r, net_status(rc), "%s", err.msg);
        else if (shape_changed(old, net) &&
                 running_users(api, uses, nuses, running, sizeof(running)) > 0)
            api_error(r, 409,
                      "only description and forwards change while VMs are attached (%s run on "
                      "'%s'): stop them first",
                      running, old->name);
        else if (root_ok(net, r) && ((rc = mgmt_networks_conflict(api->networks, net, &err)) < 0 ||
                                     (rc = mgmt_networks_put(api->networks, net, false, &err)) < 0))
            api_error(r, net_status(rc), "%s", err.msg);
        else if (r->status == 0 && apply_change(api, old, net, r)) {
            emit_network(api, req, net->name, "network-updated");
            reply_network(api, net->name, 200, r);
        }
    }
    json_decref(body);
    free(uses);
    free(old);
    free(net);
}

void api_h_network_delete(Api *api, const ApiRequest *req, const ApiArgs *args, ApiResponse *r)
{
    const MgmtNetwork *net = mgmt_networks_find(api->networks, args->arg[0]);
    NetUse *uses = NULL;
    Error err = {0};
    if (!net) {
        api_error(r, 404, "no network named '%s'", args->arg[0]);
        return;
    }
    size_t n = collect_uses(api, net, &uses);
    json_t *users = used_by(uses, n);
    free(uses);
    if (json_array_size(users)) {
        char names[300] = "";
        size_t i;
        json_t *u;
        json_array_foreach(users, i, u)
        {
            size_t len = strlen(names);
            snprintf(names + len, sizeof(names) - len, "%s%s", i ? ", " : "", json_string_value(u));
        }
        bool one = json_array_size(users) == 1;
        api_error(r, 409, "network '%s' is used by the VM%s %s: remove %s cards on it first",
                  net->name, one ? "" : "s", names, one ? "its" : "their");
    } else if (api->netrun && mgmt_netrun_stop(api->netrun, net->name, true, &err) < 0) {
        api_error(r, 500, "%s", err.msg);
    } else {
        char name[MGMT_NET_NAME_MAX + 1];
        snprintf(name, sizeof(name), "%s", net->name);
        int rc = mgmt_networks_remove(api->networks, name, &err);
        if (rc < 0) {
            api_error(r, net_status(rc), "%s", err.msg);
        } else {
            emit_network(api, req, name, "network-deleted");
            api_reply_json(r, 200, json_object());
        }
    }
    json_decref(users);
}

/* ---- for the VM resources and the daemon ---- */

void api_nics_fresh_macs(json_t *config)
{
    size_t i;
    json_t *nic;
    json_array_foreach(json_object_get(config, "nics"), i, nic)
    {
        const char *kind = json_string_value(json_object_get(nic, "kind"));
        uint8_t m[NET_MAC_LEN];
        char text[NET_MAC_TEXT];
        if (!json_is_object(nic) || json_object_get(nic, "mac") || !kind ||
            strcmp(kind, "network") != 0)
            continue;
        if (getrandom(m, sizeof(m), 0) != (ssize_t)sizeof(m))
            continue;                           /* the codec's default then */
        m[0] = (uint8_t)((m[0] & 0xfe) | 0x02); /* unicast, locally administered */
        net_mac_format(m, text);
        json_object_set_new(nic, "mac", json_string(text));
    }
}

bool api_nics_check(Api *api, const VmConfig *cfg, ApiResponse *r)
{
    for (unsigned i = 0; i < cfg->nnics; i++) {
        const NetConfig *nic = &cfg->nics[i];
        if (nic->fd >= 0) {
            api_error(r, 400,
                      "config.nics[%u].fd: a definition holds no descriptor (hosteld hands one "
                      "over when the VM starts)",
                      i);
            return false;
        }
        if (nic->kind == NET_NETWORK && !mgmt_networks_find(api->networks, nic->network)) {
            api_error(r, 400, "config.nics[%u].network: no network named '%s'", i, nic->network);
            return false;
        }
    }
    return true;
}

void api_attach_networks(Api *api)
{
    if (!api->netrun)
        return;
    pthread_mutex_lock(&api->lock);
    for (size_t i = 0; i < mgmt_networks_count(api->networks); i++) {
        const MgmtNetwork *net = mgmt_networks_at(api->networks, i);
        Error err = {0};
        if (mgmt_netrun_start(api->netrun, net, &err) < 0)
            log_warn("network %s does not start (tried again later): %s", net->name, err.msg);
    }
    pthread_mutex_unlock(&api->lock);
}
