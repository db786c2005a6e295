/*
 * POST /1.0/vms/NAME/clones {"name": NEW, "linked": false}: a new VM made
 * from NAME, with its own identity (name, UUID, MAC addresses).
 *
 * - A running (or paused) VM is suspended first, cloned as a suspended VM,
 *   and resumed: the clone starts where the source was (`hostel start NEW`
 *   resumes it), the source stands still only for its suspend and resume
 *   (plus the disk copies of a full clone).
 * - A suspended VM: its state file is cloned with `hostel clone`, which
 *   also clones its writable disks and gives the clone's cards new MACs.
 * - A stopped VM: each writable disk is cloned (`hostel clone` on the
 *   image) into the clone's data directory; read-only disks are shared.
 *
 * A linked clone is qcow2 overlays over the source's disks, which then
 * become shared read-only bases: the source moves onto overlays of its own
 * too, and its definition follows.  A full clone copies every writable
 * disk.  The work is an operation; the daemon runs the `hostel` executable
 * for it (mgmt_runtime_tool), so it links no emulator.
 */
#include <jansson.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "mgmt/api_int.h"

typedef struct CloneJob {
    Api *api;
    MgmtVm src; /* the definition when asked */
    char name[MGMT_NAME_MAX + 1];
    bool linked;
} CloneJob;

static void clone_job_free(void *opaque)
{
    CloneJob *j = opaque;
    mgmt_vm_free(&j->src);
    free(j);
}

/* The machine a state file holds (hostel run --print-config --restore FILE), into cfg. */
static int state_config(MgmtRuntime *rt, const char *state, VmConfig *cfg, Error *err)
{
    const char *args[] = {"run", "--print-config", "--restore", state, NULL};
    char *text = NULL;
    if (mgmt_runtime_tool(rt, args, &text, err) < 0)
        return -1;
    json_error_t je;
    json_t *j = json_loads(text, 0, &je);
    free(text);
    vmconfig_default(cfg);
    int rc = j ? vmconfig_from_json(j, cfg, err) : error_set(err, "print-config: %s", je.text);
    json_decref(j);
    return rc;
}

/* A stopped VM: each writable disk cloned into DATA/NEW/vdX.qcow2 (and the source's overlays). */
static int clone_disks(CloneJob *j, VmConfig *mine, VmConfig *theirs, Error *err)
{
    MgmtRuntime *rt = j->api->runtime;
    if (j->linked && mgmt_runtime_prepare(rt, j->src.name, err) < 0) /* for its overlays */
        return -1;
    for (unsigned i = 0; i < mine->ndisks; i++) {
        if (mine->disks[i].read_only)
            continue; /* shared as it is */
        char file[16], dst[PATH_MAX], src_overlay[PATH_MAX];
        snprintf(file, sizeof(file), "vd%c.qcow2", 'a' + (int)i);
        mgmt_runtime_path(rt, j->name, file, dst, sizeof(dst));
        const char *full[] = {"clone", "--full", mine->disks[i].path, dst, NULL};
        const char *linked[] = {"clone", mine->disks[i].path, dst, NULL};
        if (mgmt_runtime_tool(rt, j->linked ? linked : full, NULL, err) < 0)
            return -1;
        if (j->linked) { /* the source writes to an overlay of its own from now on */
            mgmt_runtime_path(rt, j->src.name, file, src_overlay, sizeof(src_overlay));
            const char *again[] = {"clone", mine->disks[i].path, src_overlay, NULL};
            if (mgmt_runtime_tool(rt, again, NULL, err) < 0 ||
                vmconfig_set_string(&theirs->disks[i].path, src_overlay, err) < 0)
                return -1;
        }
        if (vmconfig_set_string(&mine->disks[i].path, dst, err) < 0)
            return -1;
        if (vmconfig_set_string(&mine->disks[i].format, "qcow2", err) < 0)
            return -1;
    }
    vmconfig_fresh_macs(mine);
    return 0;
}

/* A suspended VM: its state file cloned; both machines read back from their state files. */
static int clone_state(CloneJob *j, VmConfig *mine, VmConfig *theirs, Error *err)
{
    MgmtRuntime *rt = j->api->runtime;
    char src[PATH_MAX], dst[PATH_MAX];
    mgmt_runtime_path(rt, j->src.name, "suspended.hstate", src, sizeof(src));
    mgmt_runtime_path(rt, j->name, "suspended.hstate", dst, sizeof(dst));
    const char *full[] = {"clone", "--full", src, dst, NULL};
    const char *linked[] = {"clone", src, dst, NULL};
    if (mgmt_runtime_tool(rt, j->linked ? linked : full, NULL, err) < 0)
        return -1;
    vmconfig_free(mine);
    vmconfig_free(theirs);
    if (state_config(rt, dst, mine, err) < 0)
        return -1;
    return state_config(rt, src, theirs, err);
}

/* The clone's definition: the source's, renamed, a new UUID, machine mine; put into the store. */
static int put_clone(CloneJob *j, const MgmtVm *src, const VmConfig *mine, Error *err)
{
    MgmtVm vm;
    if (mgmt_vm_copy(&vm, src, err) < 0)
        return -1;
    snprintf(vm.name, sizeof(vm.name), "%s", j->name);
    vm.autostart = false;
    vmconfig_free(&vm.config);
    int rc = vmconfig_copy(&vm.config, mine, err);
    if (rc == 0)
        rc = mgmt_uuid_new(vm.uuid, err);
    if (rc == 0)
        rc = mgmt_store_put(j->api->store, &vm, err);
    mgmt_vm_free(&vm);
    return rc;
}

/* The source's disks as they now are (a linked clone moved it onto overlays). */
static int put_source_disks(CloneJob *j, const MgmtVm *src, const VmConfig *theirs, Error *err)
{
    bool moved = false;
    for (unsigned i = 0; i < src->config.ndisks && i < theirs->ndisks; i++)
        moved |= strcmp(src->config.disks[i].path, theirs->disks[i].path) != 0;
    if (!moved)
        return 0;
    MgmtVm vm;
    if (mgmt_vm_copy(&vm, src, err) < 0)
        return -1;
    int rc = 0;
    for (unsigned i = 0; rc == 0 && i < vm.config.ndisks && i < theirs->ndisks; i++) {
        rc = vmconfig_set_string(&vm.config.disks[i].path, theirs->disks[i].path, err);
        if (rc == 0 && strcmp(src->config.disks[i].path, theirs->disks[i].path) != 0)
            rc = vmconfig_set_string(&vm.config.disks[i].format, "qcow2", err);
    }
    if (rc == 0)
        rc = mgmt_store_put(j->api->store, &vm, err);
    mgmt_vm_free(&vm);
    return rc;
}

/* Store the clone's definition and the source's new disks, under the API's lock. */
static int store_both(CloneJob *j, VmConfig *mine, VmConfig *theirs, Error *err)
{
    Api *api = j->api;
    int rc = -1;
    pthread_mutex_lock(&api->lock);
    const MgmtVm *src = mgmt_store_find(api->store, j->src.name);
    if (mgmt_store_find(api->store, j->name))
        error_set(err, "a VM named '%s' appeared meanwhile", j->name);
    else if (!src)
        error_set(err, "'%s' was deleted meanwhile", j->src.name);
    else if (put_clone(j, src, mine, err) == 0) /* the store changed: find the source again */
        rc = put_source_disks(j, mgmt_store_find(api->store, j->src.name), theirs, err);
    pthread_mutex_unlock(&api->lock);
    return rc;
}

static int clone_run(MgmtOp *op, void *ctx, json_t **result, Error *err)
{
    CloneJob *j = ctx;
    MgmtRuntime *rt = j->api->runtime;
    (void)op;
    MgmtPower was = mgmt_runtime_power(rt, j->src.name);
    bool running = was == MGMT_POWER_RUNNING || was == MGMT_POWER_PAUSED;
    if (was != MGMT_POWER_STOPPED && !running)
        return error_set(err, "%s is %s: try again when it is running or stopped", j->src.name,
                         mgmt_power_name(was));
    if (running && mgmt_runtime_suspend(rt, j->src.name, err) < 0)
        return -1;
    bool from_state = mgmt_runtime_is_suspended(rt, j->src.name);
    VmConfig mine, theirs;
    int rc = mgmt_runtime_prepare(rt, j->name, err);
    if (rc == 0)
        rc = vmconfig_copy(&mine, &j->src.config, err);
    if (rc == 0 && (rc = vmconfig_copy(&theirs, &j->src.config, err)) < 0)
        vmconfig_free(&mine);
    if (rc == 0) {
        rc = from_state ? clone_state(j, &mine, &theirs, err) : clone_disks(j, &mine, &theirs, err);
        if (rc == 0)
            rc = store_both(j, &mine, &theirs, err);
        vmconfig_free(&mine);
        vmconfig_free(&theirs);
    }
    if (running) { /* the source goes on, whatever became of the clone */
        Error serr = {0};
        if (mgmt_runtime_start(rt, &j->src, &serr) < 0 && rc == 0)
            rc = error_set(err, "cloned, but %s did not resume: %s", j->src.name, serr.msg);
    }
    if (rc == 0)
        *result = json_pack("{s:s, s:b, s:b}", "name", j->name, "linked", j->linked, "suspended",
                            from_state);
    return rc;
}

void api_h_vm_clone(Api *api, const ApiRequest *req, const ApiArgs *args, ApiResponse *r)
{
    static const char *const names[] = {"name", "linked", NULL};
    const MgmtVm *src = api_vm_or_404(api, args->arg[0], r);
    json_t *body = src ? api_body_object(req, r) : NULL;
    if (!body || !api_members_known(body, names, r)) {
        json_decref(body);
        return;
    }
    const char *name = json_string_value(json_object_get(body, "name"));
    json_t *linked = json_object_get(body, "linked");
    Error err = {0};
    CloneJob *j = NULL;
    if (!name || !mgmt_name_check(name, &err))
        api_error(r, 400, "%s", name ? err.msg : "name: missing or not a string");
    else if (linked && !json_is_boolean(linked))
        api_error(r, 400, "linked: not a boolean");
    else if (mgmt_store_find(api->store, name) || mgmt_store_broken_find(api->store, name))
        api_error(r, 409, "a VM named '%s' exists", name);
    else if (!api->runtime)
        api_error(r, 501, "this daemon runs no VMs");
    else if (!(j = calloc(1, sizeof(*j))) || mgmt_vm_copy(&j->src, src, &err) < 0) {
        free(j);
        api_error(r, 500, "out of memory");
    } else {
        char description[200], resource[128];
        j->api = api;
        j->linked = json_is_true(linked);
        snprintf(j->name, sizeof(j->name), "%s", name);
        snprintf(description, sizeof(description), "clone %s to %s", src->name, name);
        snprintf(resource, sizeof(resource), "/" API_VERSION "/vms/%s", src->name);
        MgmtOpSpec spec = {.description = description,
                           .resource = resource,
                           .uid = req->uid,
                           .run = clone_run,
                           .ctx = j,
                           .ctx_free = clone_job_free};
        api_reply_operation(api, &spec, r);
    }
    json_decref(body);
}
