/*
 * The API's VM resources (/1.0/vms, /1.0/vms/NAME): definitions created,
 * read, changed and deleted.  A create fills in what `hostel run` would
 * use (the default guest, one user-mode network card); changes go through
 * the VmConfig codec so the daemon never stores what `hostel run` would
 * refuse.
 */
#include <jansson.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "block/block.h"
#include "mgmt/api_int.h"

#define DEFAULT_GUEST_CMDLINE "console=ttyS0 earlycon=sbi" /* as `hostel run` */

/* ---- the members of a VM a client sets ---- */

/* description and autostart from body into vm when present; else 400. */
static bool take_user_members(const json_t *body, MgmtVm *vm, ApiResponse *r)
{
    json_t *desc = json_object_get(body, "description");
    json_t *autostart = json_object_get(body, "autostart");
    if (desc && (!json_is_string(desc) || json_string_length(desc) > MGMT_DESCRIPTION_MAX)) {
        api_error(r, 400, "description: not a string of at most %d bytes", MGMT_DESCRIPTION_MAX);
        return false;
    }
    if (autostart && !json_is_boolean(autostart)) {
        api_error(r, 400, "autostart: not a boolean");
        return false;
    }
    json_t *restart = json_object_get(body, "restart");
    if (restart && !mgmt_restart_parse(json_string_value(restart), &vm->restart)) {
        api_error(r, 400, "restart: not \"no\", \"on-failure\" or \"always\"");
        return false;
    }
    json_t *labels = json_object_get(body, "labels");
    Error lerr = {0};
    if (labels && !mgmt_vm_labels_check(labels, &lerr)) {
        api_error(r, 400, "%s", lerr.msg);
        return false;
    }
    if (labels) { /* the labels given replace the VM's */
        json_object_clear(vm->labels);
        json_object_update(vm->labels, labels);
    }
    Error err = {0};
    if (desc && vmconfig_set_string(&vm->description, json_string_value(desc), &err) < 0) {
        api_error(r, 500, "%s", err.msg);
        return false;
    }
    if (autostart)
        vm->autostart = json_is_true(autostart);
    return true;
}

/*
 * The API's form of the display (docs/api.md): {"enabled": false} is no
 * display (the codec's null), "enabled": true beside the size is dropped;
 * false after a 422 when enabled is not a boolean.
 */
static bool display_from_api(json_t *config, ApiResponse *r)
{
    json_t *d = json_object_get(config, "display");
    json_t *enabled = json_is_object(d) ? json_object_get(d, "enabled") : NULL;
    if (!enabled)
        return true;
    if (!json_is_boolean(enabled)) {
        api_error(r, 422, "config.display.enabled: not a boolean");
        return false;
    }
    if (json_is_false(enabled))
        json_object_set_new(config, "display", json_null());
    else
        json_object_del(d, "enabled");
    return true;
}

/*
 * The config object c through the VmConfig codec into vm (its disks given
 * as volumes resolved to their files first); else 422 with its message.
 * A display comes with its keyboard and tablet (added when missing).
 */
static bool take_config(Api *api, const json_t *c, MgmtVm *vm, ApiResponse *r)
{
    json_t *doc = json_pack("{s:i, s:s, s:s, s:o}", "version", MGMT_DOC_VERSION, "name", vm->name,
                            "uuid", vm->uuid, "config", json_deep_copy(c));
    if (!doc) {
        api_error(r, 500, "out of memory");
        return false;
    }
    api_nics_fresh_macs(json_object_get(doc, "config"));
    if (!display_from_api(json_object_get(doc, "config"), r) ||
        !api_disks_from_volumes(api, json_object_get(doc, "config"), r)) {
        json_decref(doc);
        return false;
    }
    MgmtVm parsed;
    Error err = {0};
    int rc = mgmt_vm_from_doc(doc, &parsed, &err);
    json_decref(doc);
    if (rc == 0 && parsed.config.display.enabled && vmconfig_add_input(&parsed.config, &err) < 0) {
        char why[sizeof(err.msg)];
        snprintf(why, sizeof(why), "%s", err.msg);
        mgmt_vm_free(&parsed);
        rc =
            error_set(&err, "config.display: %s (\"display\": {\"enabled\": false} for none)", why);
    }
    if (rc < 0) {
        api_error(r, 422, "%s", err.msg);
        return false;
    }
    if (!api_nics_check(api, &parsed.config, r)) {
        mgmt_vm_free(&parsed);
        return false;
    }
    vmconfig_free(&vm->config);
    vm->config = parsed.config;
    vmconfig_default(&parsed.config);
    mgmt_vm_free(&parsed);
    return true;
}

/* name/uuid given in a body for an existing VM must be its own (they cannot change). */
static bool identity_unchanged(const json_t *body, const MgmtVm *vm, ApiResponse *r)
{
    const json_t *name = json_object_get(body, "name"), *uuid = json_object_get(body, "uuid");
    if (name && (!json_is_string(name) || strcmp(json_string_value(name), vm->name) != 0)) {
        api_error(r, 400, "name: a VM cannot be renamed (it is '%s')", vm->name);
        return false;
    }
    if (uuid && (!json_is_string(uuid) || strcmp(json_string_value(uuid), vm->uuid) != 0)) {
        api_error(r, 400, "uuid: read-only (it is %s)", vm->uuid);
        return false;
    }
    return true;
}

const char *api_vm_state(Api *api, const char *name)
{
    if (!api->runtime)
        return "stopped";
    MgmtPower p = mgmt_runtime_power(api->runtime, name);
    if (p == MGMT_POWER_STOPPED && mgmt_runtime_is_suspended(api->runtime, name))
        return "suspended";
    return mgmt_power_name(p);
}

/*
 * vm runs with another machine than its definition now says: the members
 * of config that differ ("config.harts"...), which apply at its next start;
 * NULL when none (description, labels, autostart and restart apply at once).
 */
static json_t *pending_changes(Api *api, const MgmtVm *vm)
{
    char path[4096];
    if (!api->runtime || mgmt_runtime_power(api->runtime, vm->name) == MGMT_POWER_STOPPED ||
        mgmt_runtime_path(api->runtime, vm->name, "config.json", path, sizeof(path)) < 0)
        return NULL;
    json_t *running = json_load_file(path, 0, NULL), *now = vmconfig_to_json(&vm->config);
    json_t *names = running && now && !json_equal(running, now) ? json_array() : NULL;
    const char *key;
    json_t *v;
    json_object_foreach(now, key, v)
    {
        if (names && !json_equal(v, json_object_get(running, key)))
            json_array_append_new(names, json_sprintf("config.%s", key));
    }
    json_decref(running);
    json_decref(now);
    return names;
}

/*
 * A lifecycle event for the VM named name: action ("vm-created"...) by the
 * caller of req (over HTTPS, whose uid is -1, the certificate says who).
 */
static void emit_vm(Api *api, const ApiRequest *req, const char *name, const char *action)
{
    char resource[MGMT_NAME_MAX + 16];
    snprintf(resource, sizeof(resource), "/" API_VERSION "/vms/%s", name);
    json_t *meta = json_pack("{s:s, s:s}", "action", action, "name", name);
    if (meta && req->tls)
        json_object_update_new(meta, json_pack("{s:s, s:s}", "certificate", req->cert_fingerprint,
                                               "certificate_name", req->cert_name));
    mgmt_events_emit(api->events, "lifecycle", resource, req->uid, meta);
}

/* Store vm, tell the event bus, and reply with its object (status 200 or 201). */
static void save_and_reply(Api *api, const ApiRequest *req, const MgmtVm *vm, int status,
                           ApiResponse *r)
{
    Error err = {0};
    if (mgmt_store_put(api->store, vm, &err) < 0) {
        api_error(r, 500, "%s", err.msg);
        return;
    }
    emit_vm(api, req, vm->name, status == 201 ? "vm-created" : "vm-updated");
    if (status == 201)
        snprintf(r->location, sizeof(r->location), "/" API_VERSION "/vms/%s", vm->name);
    json_t *j = mgmt_vm_to_api(vm, api_vm_state(api, vm->name));
    json_t *pending = status == 200 ? pending_changes(api, vm) : NULL;
    if (j && pending) {
        json_object_set_new(j, "restart_required", json_true());
        json_object_set_new(j, "pending", pending);
    } else {
        json_decref(pending);
    }
    if (api->runtime)
        mgmt_runtime_set_restart(api->runtime, vm->name, vm->restart);
    api_reply_json(r, status, j);
}

/* ---- defaults for a new VM (as `hostel run`) ---- */

static int set_default(json_t *obj, const char *key, json_t *value)
{
    if (json_object_get(obj, key) && !json_is_null(json_object_get(obj, key))) {
        json_decref(value);
        return 0;
    }
    return json_object_set_new(obj, key, value);
}

/*
 * The first disk's image looks bootable (a partition table): it boots
 * through firmware, as `hostel run -d DISK` does.  A file that cannot be
 * read yet is not bootable (it is needed when the VM starts).
 */
static bool first_disk_bootable(const json_t *config)
{
    const json_t *d = json_array_get(json_object_get(config, "disks"), 0);
    const char *path = json_string_value(json_object_get(d, "path"));
    Error err = {0};
    return path &&
           block_probe_bootable(path, json_string_value(json_object_get(d, "format")), &err) == 1;
}

/* Debian's OpenSBI and U-Boot, and 1 GiB unless the RAM is given. */
static int firmware_boot(json_t *config, json_t *boot)
{
    if (json_object_set_new(boot, "bios", json_string(VMCONFIG_FIRMWARE_OPENSBI)) < 0 ||
        json_object_set_new(boot, "kernel", json_string(VMCONFIG_FIRMWARE_UBOOT)) < 0)
        return -1;
    return set_default(config, "ram-size", json_integer((json_int_t)VMCONFIG_FIRMWARE_RAM));
}

/*
 * No kernel and no firmware: boot a bootable first disk through firmware,
 * else the default guest (its initrd and cmdline unless given).
 */
static int default_boot(const Api *api, json_t *config)
{
    json_t *boot = json_object_get(config, "boot");
    if (!boot) {
        boot = json_object();
        if (json_object_set_new(config, "boot", boot) < 0)
            return -1;
    }
    if (!json_is_object(boot))
        return 0; /* the codec says why */
    if ((json_object_get(boot, "kernel") && !json_is_null(json_object_get(boot, "kernel"))) ||
        (json_object_get(boot, "bios") && !json_is_null(json_object_get(boot, "bios"))))
        return 0;
    const json_t *initrd_given = json_object_get(boot, "initrd");
    if ((!initrd_given || json_is_null(initrd_given)) && first_disk_bootable(config))
        return firmware_boot(config, boot);
    char kernel[PATH_MAX], initrd[PATH_MAX];
    snprintf(kernel, sizeof(kernel), "%s/Image", api->guest_dir);
    snprintf(initrd, sizeof(initrd), "%s/initramfs.cpio.gz", api->guest_dir);
    if (json_object_set_new(boot, "kernel", json_string(kernel)) < 0 ||
        set_default(boot, "initrd", json_string(initrd)) < 0 ||
        set_default(boot, "cmdline", json_string(DEFAULT_GUEST_CMDLINE)) < 0)
        return -1;
    return 0;
}

/*
 * A copy of the config given to a create with the defaults filled in (its
 * volumes resolved to files); NULL with r filled.
 */
static json_t *config_with_defaults(Api *api, const json_t *given, ApiResponse *r)
{
    json_t *c = given ? json_deep_copy(given) : json_object();
    if (!c || !json_is_object(c)) {
        if (!c)
            api_error(r, 500, "out of memory");
        return c; /* not an object: the codec refuses it */
    }
    if (!api_disks_from_volumes(api, c, r)) {
        json_decref(c);
        return NULL;
    }
    if (!json_object_get(c, "nics") &&
        json_object_set_new(c, "nics", json_pack("[{s:s}]", "kind", "user")) < 0)
        goto fail;
    /*
     * A screen by default (the web console's): 1024x768 with its keyboard
     * and tablet, three virtio slots, when the disks and cards leave them.
     */
    size_t used =
        json_array_size(json_object_get(c, "disks")) + json_array_size(json_object_get(c, "nics"));
    if (!json_object_get(c, "display") && used + 3 <= VMCONFIG_SLOTS - 2 &&
        json_object_set_new(c, "display", json_pack("{s:i, s:i}", "width", 1024, "height", 768)) <
            0)
        goto fail;
    if (default_boot(api, c) < 0)
        goto fail;
    return c;
fail:
    api_error(r, 500, "out of memory");
    json_decref(c);
    return NULL;
}

static int list_recursion(const ApiRequest *req, ApiResponse *r)
{
    const char *q = req->query;
    if (!q || !*q || strcmp(q, "recursion=0") == 0)
        return 0;
    if (strcmp(q, "recursion=1") == 0)
        return 1;
    api_error(r, 400, "query: '%.60s' is not recursion=0 or recursion=1", q);
    return -1;
}

static json_t *broken_list(const MgmtStore *s)
{
    json_t *a = json_array();
    for (size_t i = 0; a && i < mgmt_store_broken_count(s); i++) {
        const MgmtBroken *b = mgmt_store_broken_at(s, i);
        if (json_array_append_new(
                a, json_pack("{s:s, s:s}", "file", b->file, "message", b->message)) < 0) {
            json_decref(a);
            return NULL;
        }
    }
    return a;
}

/* The VM object of a list, with "uptime_s" when it runs. */
static json_t *vm_with_uptime(Api *api, const MgmtVm *vm)
{
    json_t *j = mgmt_vm_to_api(vm, api_vm_state(api, vm->name));
    double up = api->runtime ? mgmt_runtime_uptime(api->runtime, vm->name) : -1;
    if (j && up >= 0)
        json_object_set_new(j, "uptime_s", json_real(up));
    return j;
}

void api_h_vms_list(Api *api, const ApiRequest *req, const ApiArgs *args, ApiResponse *r)
{
    int recursion = list_recursion(req, r);
    if (recursion < 0)
        return;
    json_t *vms = json_array();
    for (size_t i = 0; vms && i < mgmt_store_count(api->store); i++) {
        const MgmtVm *vm = mgmt_store_at(api->store, i);
        json_t *item = recursion ? vm_with_uptime(api, vm) : json_string(vm->name);
        if (json_array_append_new(vms, item) < 0) {
            json_decref(vms);
            vms = NULL;
        }
    }
    json_t *broken = broken_list(api->store);
    if (!vms || !broken) {
        json_decref(vms);
        json_decref(broken);
        api_error(r, 500, "out of memory");
        return;
    }
    api_reply_json(r, 200, json_pack("{s:o, s:o}", "vms", vms, "broken", broken));
}

/* The name member of a create: a valid name no VM (nor broken document) has. */
static const char *create_name(Api *api, const json_t *body, ApiResponse *r)
{
    const json_t *n = json_object_get(body, "name");
    Error err = {0};
    if (!json_is_string(n)) {
        api_error(r, 400, "name: %s", n ? "not a string" : "missing");
        return NULL;
    }
    const char *name = json_string_value(n);
    if (strlen(name) != json_string_length(n) || !mgmt_name_check(name, &err)) {
        api_error(r, 400, "%s", err.msg[0] ? err.msg : "name: holds a NUL byte");
        return NULL;
    }
    if (mgmt_store_find(api->store, name)) {
        api_error(r, 409, "a VM named '%s' exists", name);
        return NULL;
    }
    if (mgmt_store_broken_find(api->store, name)) {
        api_error(r, 409, "vms/%s.json exists but is broken: repair or remove it first", name);
        return NULL;
    }
    return name;
}

static void create_vm(Api *api, const ApiRequest *req, const json_t *body, const char *name,
                      ApiResponse *r)
{
    MgmtVm vm;
    Error err = {0};
    if (mgmt_vm_init(&vm, &err) < 0 || mgmt_uuid_new(vm.uuid, &err) < 0) {
        api_error(r, 500, "%s", err.msg);
        mgmt_vm_free(&vm);
        return;
    }
    snprintf(vm.name, sizeof(vm.name), "%s", name);
    json_t *config = config_with_defaults(api, json_object_get(body, "config"), r);
    if (config && take_user_members(body, &vm, r) && take_config(api, config, &vm, r))
        save_and_reply(api, req, &vm, 201, r);
    json_decref(config);
    mgmt_vm_free(&vm);
}

void api_h_vms_create(Api *api, const ApiRequest *req, const ApiArgs *args, ApiResponse *r)
{
    static const char *const names[] = {"name",    "description", "labels", "autostart",
                                        "restart", "config",      NULL};
    json_t *body = api_body_object(req, r);
    if (!body)
        return;
    const char *name = api_members_known(body, names, r) ? create_name(api, body, r) : NULL;
    if (name)
        create_vm(api, req, body, name, r);
    json_decref(body);
}

const MgmtVm *api_vm_or_404(Api *api, const char *name, ApiResponse *r)
{
    const MgmtVm *vm = mgmt_store_find(api->store, name);
    if (!vm)
        api_error(r, 404, "no VM named '%s'", name);
    return vm;
}

/* One interface's addresses (agent-interfaces' form) appended to out as {interface, family, address, prefix}. */
static void agent_interface_addresses(json_t *out, const json_t *iface)
{
    const char *ifname = json_string_value(json_object_get(iface, "name"));
    size_t i;
    json_t *a;
    if (!ifname || strcmp(ifname, "lo") == 0)
        return;
    json_array_foreach(json_object_get(iface, "ip-addresses"), i, a)
    {
        const char *type = json_string_value(json_object_get(a, "ip-address-type"));
        const char *addr = json_string_value(json_object_get(a, "ip-address"));
        json_t *prefix = json_object_get(a, "prefix");
        if (type && addr && json_is_integer(prefix))
            json_array_append_new(out,
                                  json_pack("{s:s, s:s, s:s, s:O}", "interface", ifname, "family",
                                            type, "address", addr, "prefix", prefix));
    }
}

/*
 * A running VM's addresses as its guest agent reports them (docs/agent.md):
 * NULL when it does not run or no agent answers within AGENT_ADDRESSES_MS.
 */
#define AGENT_ADDRESSES_MS 1500
static json_t *agent_addresses(Api *api, const char *name)
{
    json_t *ret = NULL, *iface;
    Error err = {0};
    size_t i;
    if (!api->runtime || mgmt_runtime_power(api->runtime, name) != MGMT_POWER_RUNNING ||
        mgmt_runtime_call(api->runtime, name, "agent-interfaces", NULL, &ret, AGENT_ADDRESSES_MS,
                          &err) < 0)
        return NULL;
    json_t *out = json_array();
    json_array_foreach(json_object_get(ret, "interfaces"), i, iface)
    {
        if (out)
            agent_interface_addresses(out, iface);
    }
    json_decref(ret);
    return out;
}

void api_h_vm_get(Api *api, const ApiRequest *req, const ApiArgs *args, ApiResponse *r)
{
    const char *name = args->arg[0];
    const MgmtVm *vm = api_vm_or_404(api, name, r);
    if (!vm)
        return;
    json_t *j = vm_with_uptime(api, vm), *addresses = j ? agent_addresses(api, name) : NULL;
    if (addresses)
        json_object_set_new(j, "addresses", addresses);
    api_reply_json(r, 200, j);
}

void api_h_vm_delete(Api *api, const ApiRequest *req, const ApiArgs *args, ApiResponse *r)
{
    const char *name = args->arg[0];
    Error err = {0};
    const char *q = req->query;
    bool purge = q && strcmp(q, "purge=1") == 0;
    if (q && *q && !purge && strcmp(q, "purge=0") != 0) {
        api_error(r, 400, "query: '%.60s' is not purge=0 or purge=1", q);
        return;
    }
    const MgmtVm *vm = api_vm_or_404(api, name, r);
    if (!vm)
        return;
    if (api->runtime && mgmt_runtime_power(api->runtime, name) != MGMT_POWER_STOPPED) {
        api_error(r, 409, "%s is %s: stop it first", name, api_vm_state(api, name));
        return;
    }
    VmConfig disks;
    if (vmconfig_copy(&disks, &vm->config, &err) < 0) {
        api_error(r, 500, "%s", err.msg);
        return;
    }
    if (api->runtime && mgmt_runtime_forget(api->runtime, name, &err) < 0)
        api_error(r, 409, "%s", err.msg);
    else if (mgmt_store_remove(api->store, name, &err) < 0)
        api_error(r, 500, "%s", err.msg);
    else {
        emit_vm(api, req, name, "vm-deleted");
        api_reply_json(r, 200,
                       purge ? json_pack("{s:o}", "purged", api_purge_volumes(api, name, &disks))
                             : json_object());
        if (purge && api->runtime) /* its data directory, now that its images may be gone */
            mgmt_runtime_forget(api->runtime, name, NULL);
    }
    vmconfig_free(&disks);
}

/*
 * A change (PUT or PATCH) to the VM named name: body checked, a copy of
 * the VM changed by apply, stored.  apply replies itself when it fails.
 */
static void change_vm(Api *api, const ApiRequest *req, const char *name, ApiResponse *r,
                      bool (*apply)(Api *, const json_t *, MgmtVm *, ApiResponse *))
{
    static const char *const names[] = {"name",      "uuid",    "description", "labels",
                                        "autostart", "restart", "config",      NULL};
    const MgmtVm *old = api_vm_or_404(api, name, r);
    json_t *body = old ? api_body_object(req, r) : NULL;
    if (!body)
        return;
    MgmtVm vm;
    Error err = {0};
    if (!api_members_known(body, names, r) || !identity_unchanged(body, old, r)) {
        json_decref(body);
        return;
    }
    if (mgmt_vm_copy(&vm, old, &err) < 0) {
        api_error(r, 500, "%s", err.msg);
    } else {
        if (apply(api, body, &vm, r))
            save_and_reply(api, req, &vm, 200, r);
        mgmt_vm_free(&vm);
    }
    json_decref(body);
}

/* PUT: the definition is the body (absent members take their defaults; config is required). */
static bool apply_put(Api *api, const json_t *body, MgmtVm *vm, ApiResponse *r)
{
    const json_t *config = json_object_get(body, "config");
    if (!config) {
        api_error(r, 400, "config: missing (PUT replaces the whole definition)");
        return false;
    }
    vm->autostart = false;
    vm->restart = MGMT_RESTART_NO;
    json_object_clear(vm->labels);
    if (vmconfig_set_string(&vm->description, "", NULL) < 0) {
        api_error(r, 500, "out of memory");
        return false;
    }
    return take_user_members(body, vm, r) && take_config(api, config, vm, r);
}

/*
 * PATCH: the members given replace the VM's, config member by member.  A
 * change to disks, nics or display without devices lays the slots out
 * afresh.
 */
static bool apply_patch(Api *api, const json_t *body, MgmtVm *vm, ApiResponse *r)
{
    const json_t *patch = json_object_get(body, "config");
    if (!take_user_members(body, vm, r))
        return false;
    if (!patch)
        return true;
    if (!json_is_object(patch)) {
        api_error(r, 422, "config: not an object");
        return false;
    }
    json_t *merged = vmconfig_to_json(&vm->config);
    if (!merged || json_object_update(merged, (json_t *)patch) < 0) {
        json_decref(merged);
        api_error(r, 500, "out of memory");
        return false;
    }
    if ((json_object_get(patch, "disks") || json_object_get(patch, "nics") ||
         json_object_get(patch, "display")) &&
        !json_object_get(patch, "devices"))
        json_object_del(merged, "devices");
    bool ok = take_config(api, merged, vm, r);
    json_decref(merged);
    return ok;
}

void api_h_vm_put(Api *api, const ApiRequest *req, const ApiArgs *args, ApiResponse *r)
{
    const char *name = args->arg[0];
    change_vm(api, req, name, r, apply_put);
}

void api_h_vm_patch(Api *api, const ApiRequest *req, const ApiArgs *args, ApiResponse *r)
{
    const char *name = args->arg[0];
    change_vm(api, req, name, r, apply_patch);
}
