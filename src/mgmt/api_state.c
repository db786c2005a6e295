/*
 * The lifecycle resources: /1.0/vms/NAME/state (read it; PUT an action:
 * start, stop, reboot, pause, resume, suspend) and /1.0/vms/NAME/snapshots.
 * Every action is an operation (202 + Location) whose work calls the
 * runtime (runtime.h); what can be refused at once (no such VM, not
 * running, already running) is refused here with 404 or 409.
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mgmt/api_int.h"

#define STOP_TIMEOUT_DEFAULT_S 60
#define STOP_TIMEOUT_MAX_S 3600

/* What an action's operation needs: the runtime, the VM, the caller's options. */
typedef struct Action {
    MgmtRuntime *rt;
    MgmtVm vm; /* a copy of the definition when the action was asked */
    char what[16];
    bool force;
    unsigned timeout_s;
    char snapshot[MGMT_NAME_MAX + 2];
} Action;

static void action_free(void *opaque)
{
    Action *a = opaque;
    mgmt_vm_free(&a->vm);
    free(a);
}

static bool is_on(MgmtPower p)
{
    return p != MGMT_POWER_STOPPED;
}

/* ---- the work of each action ---- */

static int do_stop(Action *a, json_t **result, Error *err)
{
    bool forced;
    if (mgmt_runtime_stop(a->rt, a->vm.name, a->force, a->timeout_s, &forced, err) < 0)
        return -1;
    *result = json_pack("{s:b}", "forced", forced);
    return 0;
}

static int do_start(Action *a, json_t **result, Error *err)
{
    if (mgmt_runtime_start(a->rt, &a->vm, err) < 0)
        return -1;
    *result = mgmt_runtime_state_json(a->rt, a->vm.name);
    return 0;
}

static int run_action(MgmtOp *op, void *ctx, json_t **result, Error *err)
{
    Action *a = ctx;
    const char *w = a->what;
    (void)op;
    if (strcmp(w, "start") == 0)
        return do_start(a, result, err);
    if (strcmp(w, "stop") == 0)
        return do_stop(a, result, err);
    if (strcmp(w, "reboot") == 0) {
        json_t *stopped = NULL;
        if (do_stop(a, &stopped, err) < 0)
            return -1;
        json_decref(stopped);
        return do_start(a, result, err);
    }
    if (strcmp(w, "suspend") == 0)
        return mgmt_runtime_suspend(a->rt, a->vm.name, err);
    if (strcmp(w, "snapshot-create") == 0 || strcmp(w, "snapshot-delete") == 0 ||
        strcmp(w, "snapshot-revert") == 0) {
        json_t *args = json_pack("{s:s}", "name", a->snapshot);
        int rc = mgmt_runtime_call(a->rt, a->vm.name, w, args, result, 600 * 1000, err);
        json_decref(args);
        return rc;
    }
    return mgmt_runtime_call(a->rt, a->vm.name, w, NULL, NULL, 0, err); /* pause, resume */
}

/* ---- requests ---- */

/* The action's verdict before it is started: NULL (go on) or the reason for a 409. */
static const char *refusal(const char *what, MgmtPower p)
{
    if (strcmp(what, "start") == 0)
        return is_on(p) ? "is already running" : NULL;
    if (strcmp(what, "pause") == 0)
        return p == MGMT_POWER_RUNNING ? NULL : "is not running";
    if (strcmp(what, "resume") == 0)
        return p == MGMT_POWER_PAUSED ? NULL : "is not paused";
    return p == MGMT_POWER_RUNNING || p == MGMT_POWER_PAUSED ? NULL : "is not running";
}

static bool known_action(const char *w)
{
    static const char *const names[] = {"start", "stop", "reboot", "pause", "resume", "suspend"};
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        if (w && strcmp(w, names[i]) == 0)
            return true;
    return false;
}

/* force and timeout of a body into a; false after a 400. */
static bool take_options(const json_t *body, Action *a, ApiResponse *r)
{
    json_t *force = json_object_get(body, "force"), *timeout = json_object_get(body, "timeout");
    if (force && !json_is_boolean(force)) {
        api_error(r, 400, "force: not a boolean");
        return false;
    }
    if (timeout && (!json_is_integer(timeout) || json_integer_value(timeout) < 0 ||
                    json_integer_value(timeout) > STOP_TIMEOUT_MAX_S)) {
        api_error(r, 400, "timeout: not a number of seconds from 0 to %d", STOP_TIMEOUT_MAX_S);
        return false;
    }
    a->force = json_is_true(force);
    a->timeout_s = timeout ? (unsigned)json_integer_value(timeout) : STOP_TIMEOUT_DEFAULT_S;
    return true;
}

/* An Action for the VM named name (its definition copied), or NULL after a reply. */
static Action *action_new(Api *api, const char *name, const char *what, ApiResponse *r)
{
    const MgmtVm *vm = api_vm_or_404(api, name, r);
    if (!vm)
        return NULL;
    if (!api->runtime) {
        api_error(r, 501, "this daemon runs no VMs");
        return NULL;
    }
    Action *a = calloc(1, sizeof(*a));
    Error err = {0};
    if (!a || mgmt_vm_copy(&a->vm, vm, &err) < 0) {
        free(a);
        api_error(r, 500, "out of memory");
        return NULL;
    }
    a->rt = api->runtime;
    snprintf(a->what, sizeof(a->what), "%s", what);
    return a;
}

static void start_action(Api *api, const ApiRequest *req, Action *a, const char *description,
                         ApiResponse *r)
{
    char resource[128];
    snprintf(resource, sizeof(resource), "/" API_VERSION "/vms/%s", a->vm.name);
    MgmtOpSpec spec = {.description = description,
                       .resource = resource,
                       .uid = req->uid,
                       .run = run_action,
                       .ctx = a,
                       .ctx_free = action_free};
    api_reply_operation(api, &spec, r);
}

void api_h_vm_state_get(Api *api, const ApiRequest *req, const ApiArgs *args, ApiResponse *r)
{
    const char *name = args->arg[0];
    (void)req;
    pthread_mutex_lock(&api->lock); /* an unlocked route: the lock only for the definitions */
    bool known = api_vm_or_404(api, name, r) != NULL;
    pthread_mutex_unlock(&api->lock);
    if (!known)
        return;
    if (!api->runtime) {
        api_reply_json(r, 200, json_pack("{s:s}", "status", "stopped"));
        return;
    }
    json_t *state = mgmt_runtime_state_json(api->runtime, name);
    if (state)
        api_vm_state_add_stats(api, name, state);
    api_reply_json(r, 200, state);
}

void api_h_vm_state_put(Api *api, const ApiRequest *req, const ApiArgs *args, ApiResponse *r)
{
    static const char *const names[] = {"action", "force", "timeout", NULL};
    const char *name = args->arg[0];
    json_t *body = api_vm_or_404(api, name, r) ? api_body_object(req, r) : NULL;
    if (!body || !api_members_known(body, names, r)) {
        json_decref(body);
        return;
    }
    const char *what = json_string_value(json_object_get(body, "action"));
    Action *a = NULL, checked;
    const char *why;
    char description[128];
    if (!known_action(what))
        api_error(r, 400, "action: not one of start, stop, reboot, pause, resume, suspend");
    else if (!take_options(body, &checked, r))
        ; /* 400 */
    else if (api->runtime && (why = refusal(what, mgmt_runtime_power(api->runtime, name))))
        api_error(r, 409, "%s %s", name, why);
    else if ((a = action_new(api, name, what, r)) && take_options(body, a, r)) {
        snprintf(description, sizeof(description), "%s %s", what, name);
        start_action(api, req, a, description, r);
        a = NULL;
    }
    if (a)
        action_free(a);
    json_decref(body);
}

/* ---- snapshots: the VMM's own (memory and disks), while it runs ---- */

/* An Action on a running VM's snapshots, or NULL after a 404/409. */
static Action *snapshot_action(Api *api, const char *name, const char *what, ApiResponse *r)
{
    Action *a = action_new(api, name, what, r);
    if (a && !is_on(mgmt_runtime_power(api->runtime, name))) {
        api_error(r, 409, "%s is not running: snapshots are taken and used while it runs", name);
        action_free(a);
        return NULL;
    }
    return a;
}

void api_h_snapshots_list(Api *api, const ApiRequest *req, const ApiArgs *args, ApiResponse *r)
{
    const char *name = args->arg[0];
    (void)req;
    Action *a = snapshot_action(api, name, "snapshot-list", r);
    if (!a)
        return;
    json_t *ret = NULL;
    Error err = {0};
    if (mgmt_runtime_call(api->runtime, name, "snapshot-list", NULL, &ret, 0, &err) < 0)
        api_error(r, 409, "%s", err.msg);
    else
        api_reply_json(r, 200, ret);
    action_free(a);
}

void api_h_snapshot_create(Api *api, const ApiRequest *req, const ApiArgs *args, ApiResponse *r)
{
    static const char *const names[] = {"name", NULL};
    const char *name = args->arg[0];
    json_t *body = api_vm_or_404(api, name, r) ? api_body_object(req, r) : NULL;
    if (!body || !api_members_known(body, names, r)) {
        json_decref(body);
        return;
    }
    const char *snap = json_string_value(json_object_get(body, "name"));
    Error err = {0};
    Action *a = NULL;
    if (!snap || !mgmt_name_check(snap, &err))
        api_error(r, 400, "%s", snap ? err.msg : "name: missing or not a string");
    else if ((a = snapshot_action(api, name, "snapshot-create", r))) {
        char description[160];
        snprintf(a->snapshot, sizeof(a->snapshot), "%s", snap);
        snprintf(description, sizeof(description), "snapshot %s of %s", snap, name);
        start_action(api, req, a, description, r);
    }
    json_decref(body);
}

static void snapshot_op(Api *api, const ApiRequest *req, const ApiArgs *args, const char *what,
                        ApiResponse *r)
{
    Action *a = snapshot_action(api, args->arg[0], what, r);
    if (!a)
        return;
    char description[200];
    snprintf(a->snapshot, sizeof(a->snapshot), "%s", args->arg[1]);
    snprintf(description, sizeof(description), "%s %s of %s", what, args->arg[1], args->arg[0]);
    start_action(api, req, a, description, r);
}

void api_h_snapshot_delete(Api *api, const ApiRequest *req, const ApiArgs *args, ApiResponse *r)
{
    snapshot_op(api, req, args, "snapshot-delete", r);
}

void api_h_snapshot_revert(Api *api, const ApiRequest *req, const ApiArgs *args, ApiResponse *r)
{
    snapshot_op(api, req, args, "snapshot-revert", r);
}

/* One attach worker's share: every n-th VM from first (the API's lock is held by its caller). */
typedef struct AttachJob {
    Api *api;
    size_t first, step;
    pthread_t thread;
} AttachJob;

static void *attach_some(void *opaque)
{
    AttachJob *j = opaque;
    for (size_t i = j->first; i < mgmt_store_count(j->api->store); i += j->step) {
        const MgmtVm *vm = mgmt_store_at(j->api->store, i);
        mgmt_runtime_attach(j->api->runtime, vm->name, vm->restart);
    }
    return NULL;
}

void api_attach_vms(Api *api)
{
    enum { WORKERS = 8 };
    AttachJob jobs[WORKERS];
    if (!api->runtime)
        return;
    pthread_mutex_lock(&api->lock);
    size_t n = mgmt_store_count(api->store), w = n < WORKERS ? n : WORKERS, started = 0;
    for (size_t i = 0; i < w; i++) {
        jobs[i] = (AttachJob){.api = api, .first = i, .step = w};
        if (pthread_create(&jobs[i].thread, NULL, attach_some, &jobs[i]) != 0)
            break;
        started++;
    }
    if (started < w) /* no thread: the rest, here */
        for (size_t i = started; i < n; i += w)
            attach_some(&(AttachJob){.api = api, .first = i, .step = w});
    for (size_t i = 0; i < started; i++)
        pthread_join(jobs[i].thread, NULL);
    pthread_mutex_unlock(&api->lock);
}

void api_autostart_vms(Api *api)
{
    if (!api->runtime)
        return;
    pthread_mutex_lock(&api->lock);
    size_t n = mgmt_store_count(api->store);
    for (size_t i = 0; i < n; i++) {
        const MgmtVm *vm = mgmt_store_at(api->store, i);
        if (!vm->autostart || mgmt_runtime_power(api->runtime, vm->name) != MGMT_POWER_STOPPED)
            continue;
        ApiResponse r = {0};
        Action *a = action_new(api, vm->name, "start", &r);
        if (a) {
            char description[128];
            snprintf(description, sizeof(description), "autostart %s", vm->name);
            MgmtOpSpec spec = {.description = description,
                               .resource = "/" API_VERSION "/vms",
                               .uid = 0,
                               .run = run_action,
                               .ctx = a,
                               .ctx_free = action_free};
            api_reply_operation(api, &spec, &r);
        }
        api_response_free(&r);
    }
    pthread_mutex_unlock(&api->lock);
}
