/*
 * The management API's routes and handlers (api.h).  A request is matched
 * against one table (path pattern, method, handler); a path that matches
 * with another method is 405 with Allow, no match is 404.  Handlers build
 * JSON with jansson and never print; every failure goes through
 * reply_error, so the error shape is written in one place.
 */
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "mgmt/api.h"
#include "util/compiler.h"
#include "util/io.h"
#include "util/log.h"

#define DEFAULT_GUEST_CMDLINE "console=ttyS0 earlycon=sbi" /* as `hostel run` */
#define PATH_SEGMENTS 8

struct Api {
    MgmtStore *store;
    int audit_fd; /* DIR/audit.log, O_APPEND */
    char *guest_dir;
    char *server_version;
    pthread_mutex_t lock; /* serialises api_handle: the store is not thread-safe */
};

/* One route: a pattern of segments ("{name}" matches one VM name), a method, a handler. */
typedef struct ApiRoute {
    const char *pattern;
    const char *method;
    void (*handle)(Api *api, const ApiRequest *req, const char *name, ApiResponse *resp);
} ApiRoute;

/* ---- replies ---- */

static void reply_text(ApiResponse *r, int status, char *text)
{
    free(r->body);
    r->status = status;
    r->body = text;
}

static void reply_error(ApiResponse *r, int status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void reply_error(ApiResponse *r, int status, const char *fmt, ...)
{
    char msg[600];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    for (char *p = msg; *p; p++) /* one line, always */
        if ((unsigned char)*p < 0x20)
            *p = ' ';
    json_t *m = json_string(msg);
    if (!m) { /* a client's bytes that are not UTF-8 (a path, a name): shown as '?' */
        for (char *p = msg; *p; p++)
            if ((unsigned char)*p >= 0x80)
                *p = '?';
        m = json_string(msg);
    }
    json_t *j = m ? json_pack("{s:{s:i, s:o}}", "error", "code", status, "message", m) : NULL;
    char *text = j ? json_dumps(j, 0) : NULL;
    json_decref(j);
    /* out of memory: a constant that needs none */
    reply_text(r, text ? status : 500,
               text ? text
                    : strdup("{\"error\": {\"code\": 500, \"message\": \"out of memory\"}}"));
}

/* Reply with j (the reference is taken); NULL means we ran out of memory. */
static void reply_json(ApiResponse *r, int status, json_t *j)
{
    char *text = j ? json_dumps(j, 0) : NULL;
    json_decref(j);
    if (!text)
        reply_error(r, 500, "out of memory");
    else
        reply_text(r, status, text);
}

/* ---- request bodies ---- */

static bool content_type_is_json(const char *ct)
{
    static const char want[] = "application/json";
    if (!ct || strncasecmp(ct, want, sizeof(want) - 1) != 0)
        return false;
    char c = ct[sizeof(want) - 1];
    return c == '\0' || c == ';' || c == ' ';
}

/* The body as a JSON object, or NULL after replying 413, 415 or 400. */
static json_t *body_object(const ApiRequest *req, ApiResponse *r)
{
    if (req->body_len > API_BODY_MAX) {
        reply_error(r, 413, "the request body is larger than %u bytes", API_BODY_MAX);
        return NULL;
    }
    if (!content_type_is_json(req->content_type)) {
        reply_error(r, 415, "the request body must be application/json, not %.60s",
                    req->content_type ? req->content_type : "untyped");
        return NULL;
    }
    json_error_t je;
    json_t *j = json_loadb(req->body ? req->body : "", req->body_len, JSON_REJECT_DUPLICATES, &je);
    if (!j) {
        reply_error(r, 400, "malformed JSON: line %d column %d: %s", je.line, je.column, je.text);
        return NULL;
    }
    if (!json_is_object(j)) {
        json_decref(j);
        reply_error(r, 400, "the request body is not a JSON object");
        return NULL;
    }
    return j;
}

/* Every member of obj is in names; else 400 naming the first stranger. */
static bool members_known(const json_t *obj, const char *const *names, ApiResponse *r)
{
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)obj, key, v)
    {
        const char *const *n = names;
        while (*n && strcmp(*n, key) != 0)
            n++;
        if (!*n) {
            reply_error(r, 400, "%.64s: unknown member", key);
            return false;
        }
    }
    return true;
}

/* ---- the members of a VM a client sets ---- */

/* description and autostart from body into vm when present; else 400. */
static bool take_user_members(const json_t *body, MgmtVm *vm, ApiResponse *r)
{
    json_t *desc = json_object_get(body, "description");
    json_t *autostart = json_object_get(body, "autostart");
    if (desc && (!json_is_string(desc) || json_string_length(desc) > MGMT_DESCRIPTION_MAX)) {
        reply_error(r, 400, "description: not a string of at most %d bytes", MGMT_DESCRIPTION_MAX);
        return false;
    }
    if (autostart && !json_is_boolean(autostart)) {
        reply_error(r, 400, "autostart: not a boolean");
        return false;
    }
    Error err = {0};
    if (desc && vmconfig_set_string(&vm->description, json_string_value(desc), &err) < 0) {
        reply_error(r, 500, "%s", err.msg);
        return false;
    }
    if (autostart)
        vm->autostart = json_is_true(autostart);
    return true;
}

/* The config object c through the VmConfig codec into vm; else 422 with its message. */
static bool take_config(const json_t *c, MgmtVm *vm, ApiResponse *r)
{
    json_t *doc = json_pack("{s:i, s:s, s:s, s:O}", "version", MGMT_DOC_VERSION, "name", vm->name,
                            "uuid", vm->uuid, "config", c);
    if (!doc) {
        reply_error(r, 500, "out of memory");
        return false;
    }
    MgmtVm parsed;
    Error err = {0};
    int rc = mgmt_vm_from_doc(doc, &parsed, &err);
    json_decref(doc);
    if (rc < 0) {
        reply_error(r, 422, "%s", err.msg);
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
        reply_error(r, 400, "name: a VM cannot be renamed (it is '%s')", vm->name);
        return false;
    }
    if (uuid && (!json_is_string(uuid) || strcmp(json_string_value(uuid), vm->uuid) != 0)) {
        reply_error(r, 400, "uuid: read-only (it is %s)", vm->uuid);
        return false;
    }
    return true;
}

/* Store vm and reply with its object (status 200 or 201). */
static void save_and_reply(Api *api, const MgmtVm *vm, int status, ApiResponse *r)
{
    Error err = {0};
    if (mgmt_store_put(api->store, vm, &err) < 0) {
        reply_error(r, 500, "%s", err.msg);
        return;
    }
    if (status == 201)
        snprintf(r->location, sizeof(r->location), "/" API_VERSION "/vms/%s", vm->name);
    reply_json(r, status, mgmt_vm_to_api(vm, "defined"));
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

/* No kernel and no firmware: boot the default guest (its initrd and cmdline unless given). */
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
    char kernel[PATH_MAX], initrd[PATH_MAX];
    snprintf(kernel, sizeof(kernel), "%s/Image", api->guest_dir);
    snprintf(initrd, sizeof(initrd), "%s/initramfs.cpio.gz", api->guest_dir);
    if (json_object_set_new(boot, "kernel", json_string(kernel)) < 0 ||
        set_default(boot, "initrd", json_string(initrd)) < 0 ||
        set_default(boot, "cmdline", json_string(DEFAULT_GUEST_CMDLINE)) < 0)
        return -1;
    return 0;
}

/* A copy of the config given to a create with the defaults filled in; NULL if no memory. */
static json_t *config_with_defaults(const Api *api, const json_t *given)
{
    json_t *c = given ? json_deep_copy(given) : json_object();
    if (!c || !json_is_object(c))
        return c; /* not an object: the codec refuses it */
    if (!json_object_get(c, "nics") &&
        json_object_set_new(c, "nics", json_pack("[{s:s}]", "kind", "user")) < 0)
        goto fail;
    if (default_boot(api, c) < 0)
        goto fail;
    return c;
fail:
    json_decref(c);
    return NULL;
}

/* ---- handlers ---- */

static void h_versions(Api *api, const ApiRequest *req, const char *name, ApiResponse *r)
{
    reply_json(r, 200, json_pack("[s]", "/" API_VERSION));
}

static void h_server(Api *api, const ApiRequest *req, const char *name, ApiResponse *r)
{
    reply_json(r, 200,
               json_pack("{s:s, s:[s], s:{s:s, s:s, s:I, s:s}, s:s, s:I}", "api_version",
                         API_VERSION, "api_extensions", "vms", "server", "name", "hosteld",
                         "version", api->server_version, "pid", (json_int_t)getpid(), "state_dir",
                         mgmt_store_dir(api->store), "auth", "unix", "auth_uid",
                         (json_int_t)req->uid));
}

static void h_openapi(Api *api, const ApiRequest *req, const char *name, ApiResponse *r)
{
    char *text = strdup(mgmt_openapi_json);
    if (!text)
        reply_error(r, 500, "out of memory");
    else
        reply_text(r, 200, text);
}

/* ?recursion=0|1 (the only parameter of the list); -1 after a 400. */
static int list_recursion(const ApiRequest *req, ApiResponse *r)
{
    const char *q = req->query;
    if (!q || !*q || strcmp(q, "recursion=0") == 0)
        return 0;
    if (strcmp(q, "recursion=1") == 0)
        return 1;
    reply_error(r, 400, "query: '%.60s' is not recursion=0 or recursion=1", q);
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

static void h_vms_list(Api *api, const ApiRequest *req, const char *name, ApiResponse *r)
{
    int recursion = list_recursion(req, r);
    if (recursion < 0)
        return;
    json_t *vms = json_array();
    for (size_t i = 0; vms && i < mgmt_store_count(api->store); i++) {
        const MgmtVm *vm = mgmt_store_at(api->store, i);
        json_t *item = recursion ? mgmt_vm_to_api(vm, "defined") : json_string(vm->name);
        if (json_array_append_new(vms, item) < 0) {
            json_decref(vms);
            vms = NULL;
        }
    }
    json_t *broken = broken_list(api->store);
    if (!vms || !broken) {
        json_decref(vms);
        json_decref(broken);
        reply_error(r, 500, "out of memory");
        return;
    }
    reply_json(r, 200, json_pack("{s:o, s:o}", "vms", vms, "broken", broken));
}

/* The name member of a create: a valid name no VM (nor broken document) has. */
static const char *create_name(Api *api, const json_t *body, ApiResponse *r)
{
    const json_t *n = json_object_get(body, "name");
    Error err = {0};
    if (!json_is_string(n)) {
        reply_error(r, 400, "name: %s", n ? "not a string" : "missing");
        return NULL;
    }
    const char *name = json_string_value(n);
    if (strlen(name) != json_string_length(n) || !mgmt_name_check(name, &err)) {
        reply_error(r, 400, "%s", err.msg[0] ? err.msg : "name: holds a NUL byte");
        return NULL;
    }
    if (mgmt_store_find(api->store, name)) {
        reply_error(r, 409, "a VM named '%s' exists", name);
        return NULL;
    }
    if (mgmt_store_broken_find(api->store, name)) {
        reply_error(r, 409, "vms/%s.json exists but is broken: repair or remove it first", name);
        return NULL;
    }
    return name;
}

static void create_vm(Api *api, const json_t *body, const char *name, ApiResponse *r)
{
    MgmtVm vm;
    Error err = {0};
    if (mgmt_vm_init(&vm, &err) < 0 || mgmt_uuid_new(vm.uuid, &err) < 0) {
        reply_error(r, 500, "%s", err.msg);
        mgmt_vm_free(&vm);
        return;
    }
    snprintf(vm.name, sizeof(vm.name), "%s", name);
    json_t *config = config_with_defaults(api, json_object_get(body, "config"));
    if (!config)
        reply_error(r, 500, "out of memory");
    else if (take_user_members(body, &vm, r) && take_config(config, &vm, r))
        save_and_reply(api, &vm, 201, r);
    json_decref(config);
    mgmt_vm_free(&vm);
}

static void h_vms_create(Api *api, const ApiRequest *req, const char *unused, ApiResponse *r)
{
    static const char *const names[] = {"name", "description", "autostart", "config", NULL};
    json_t *body = body_object(req, r);
    if (!body)
        return;
    const char *name = members_known(body, names, r) ? create_name(api, body, r) : NULL;
    if (name)
        create_vm(api, body, name, r);
    json_decref(body);
}

/* The VM named name, or NULL after a 404. */
static const MgmtVm *vm_or_404(Api *api, const char *name, ApiResponse *r)
{
    const MgmtVm *vm = mgmt_store_find(api->store, name);
    if (!vm)
        reply_error(r, 404, "no VM named '%s'", name);
    return vm;
}

static void h_vm_get(Api *api, const ApiRequest *req, const char *name, ApiResponse *r)
{
    const MgmtVm *vm = vm_or_404(api, name, r);
    if (vm)
        reply_json(r, 200, mgmt_vm_to_api(vm, "defined"));
}

static void h_vm_delete(Api *api, const ApiRequest *req, const char *name, ApiResponse *r)
{
    Error err = {0};
    if (!vm_or_404(api, name, r))
        return;
    if (mgmt_store_remove(api->store, name, &err) < 0)
        reply_error(r, 500, "%s", err.msg);
    else
        reply_json(r, 200, json_object());
}

/*
 * A change (PUT or PATCH) to the VM named name: body checked, a copy of
 * the VM changed by apply, stored.  apply replies itself when it fails.
 */
static void change_vm(Api *api, const ApiRequest *req, const char *name, ApiResponse *r,
                      bool (*apply)(Api *, const json_t *, MgmtVm *, ApiResponse *))
{
    static const char *const names[] = {"name", "uuid", "description", "autostart", "config", NULL};
    const MgmtVm *old = vm_or_404(api, name, r);
    json_t *body = old ? body_object(req, r) : NULL;
    if (!body)
        return;
    MgmtVm vm;
    Error err = {0};
    if (!members_known(body, names, r) || !identity_unchanged(body, old, r)) {
        json_decref(body);
        return;
    }
    if (mgmt_vm_copy(&vm, old, &err) < 0) {
        reply_error(r, 500, "%s", err.msg);
    } else {
        if (apply(api, body, &vm, r))
            save_and_reply(api, &vm, 200, r);
        mgmt_vm_free(&vm);
    }
    json_decref(body);
}

/* PUT: the definition is the body (absent members take their defaults; config is required). */
static bool apply_put(Api *api, const json_t *body, MgmtVm *vm, ApiResponse *r)
{
    const json_t *config = json_object_get(body, "config");
    if (!config) {
        reply_error(r, 400, "config: missing (PUT replaces the whole definition)");
        return false;
    }
    vm->autostart = false;
    if (vmconfig_set_string(&vm->description, "", NULL) < 0) {
        reply_error(r, 500, "out of memory");
        return false;
    }
    return take_user_members(body, vm, r) && take_config(config, vm, r);
}

/*
 * PATCH: the members given replace the VM's, config member by member.  A
 * change to disks or nics without devices lays the slots out afresh.
 */
static bool apply_patch(Api *api, const json_t *body, MgmtVm *vm, ApiResponse *r)
{
    const json_t *patch = json_object_get(body, "config");
    if (!take_user_members(body, vm, r))
        return false;
    if (!patch)
        return true;
    if (!json_is_object(patch)) {
        reply_error(r, 422, "config: not an object");
        return false;
    }
    json_t *merged = vmconfig_to_json(&vm->config);
    if (!merged || json_object_update(merged, (json_t *)patch) < 0) {
        json_decref(merged);
        reply_error(r, 500, "out of memory");
        return false;
    }
    if ((json_object_get(patch, "disks") || json_object_get(patch, "nics")) &&
        !json_object_get(patch, "devices"))
        json_object_del(merged, "devices");
    bool ok = take_config(merged, vm, r);
    json_decref(merged);
    return ok;
}

static void h_vm_put(Api *api, const ApiRequest *req, const char *name, ApiResponse *r)
{
    change_vm(api, req, name, r, apply_put);
}

static void h_vm_patch(Api *api, const ApiRequest *req, const char *name, ApiResponse *r)
{
    change_vm(api, req, name, r, apply_patch);
}

/* ---- routing ---- */

static const ApiRoute routes[] = {
    {.pattern = "/", .method = "GET", .handle = h_versions},
    {.pattern = "/1.0", .method = "GET", .handle = h_server},
    {.pattern = "/1.0/openapi.json", .method = "GET", .handle = h_openapi},
    {.pattern = "/1.0/vms", .method = "GET", .handle = h_vms_list},
    {.pattern = "/1.0/vms", .method = "POST", .handle = h_vms_create},
    {.pattern = "/1.0/vms/{name}", .method = "GET", .handle = h_vm_get},
    {.pattern = "/1.0/vms/{name}", .method = "PUT", .handle = h_vm_put},
    {.pattern = "/1.0/vms/{name}", .method = "PATCH", .handle = h_vm_patch},
    {.pattern = "/1.0/vms/{name}", .method = "DELETE", .handle = h_vm_delete},
};

/*
 * path matches pattern segment by segment; the segment under "{name}"
 * goes to name (NUL-terminated, at most MGMT_NAME_MAX + 1 bytes kept so an
 * over-long one still fails the name check).
 */
static bool route_match(const char *pattern, const char *path, char *name, size_t size)
{
    while (*pattern && *path) {
        if (strncmp(pattern, "{name}", 6) == 0) {
            size_t n = strcspn(path, "/");
            if (n == 0)
                return false;
            /* a longer segment is cut to size - 1 > MGMT_NAME_MAX bytes: still refused */
            snprintf(name, size, "%.*s", (int)(n < size ? n : size - 1), path);
            path += n;
            pattern += 6;
        } else if (*pattern++ != *path++) {
            return false;
        }
    }
    return *pattern == '\0' && *path == '\0';
}

/* The methods path allows, "GET, PUT" style, into allow; false if no route has path. */
static bool route_allow(const char *path, char *allow, size_t size)
{
    char name[MGMT_NAME_MAX + 2];
    allow[0] = '\0';
    for (size_t i = 0; i < ARRAY_SIZE(routes); i++) {
        if (!route_match(routes[i].pattern, path, name, sizeof(name)))
            continue;
        size_t n = strlen(allow);
        snprintf(allow + n, size - n, "%s%s", n ? ", " : "", routes[i].method);
    }
    return allow[0] != '\0';
}

static void route(Api *api, const ApiRequest *req, ApiResponse *r)
{
    char name[MGMT_NAME_MAX + 2];
    for (size_t i = 0; i < ARRAY_SIZE(routes); i++) {
        name[0] = '\0';
        if (strcmp(routes[i].method, req->method) != 0 ||
            !route_match(routes[i].pattern, req->path, name, sizeof(name)))
            continue;
        Error err = {0};
        if (strstr(routes[i].pattern, "{name}") && !mgmt_name_check(name, &err)) {
            reply_error(r, 400, "%s", err.msg);
            return;
        }
        routes[i].handle(api, req, name, r);
        return;
    }
    if (route_allow(req->path, r->allow, sizeof(r->allow)))
        reply_error(r, 405, "%.10s is not allowed on %.200s (allowed: %s)", req->method, req->path,
                    r->allow);
    else
        reply_error(r, 404, "no such resource: %.200s", req->path);
}

/* ---- the audit log ---- */

static bool is_mutating(const char *method)
{
    return strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0 &&
           strcmp(method, "OPTIONS") != 0;
}

static void audit(Api *api, const ApiRequest *req, int status)
{
    char when[40];
    struct timespec ts;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    size_t n = strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(when + n, sizeof(when) - n, ".%03ldZ", ts.tv_nsec / 1000000);
    json_t *j = json_pack("{s:s, s:I, s:s, s:s, s:i}", "time", when, "uid", (json_int_t)req->uid,
                          "method", req->method, "path", req->path, "status", status);
    char *line = j ? json_dumps(j, JSON_COMPACT) : NULL;
    json_decref(j);
    if (!line || !io_write_all(api->audit_fd, line, strlen(line)) ||
        !io_write_all(api->audit_fd, "\n", 1))
        log_warn("cannot append to the audit log");
    free(line);
}

void api_handle(Api *api, const ApiRequest *req, ApiResponse *resp)
{
    memset(resp, 0, sizeof(*resp));
    pthread_mutex_lock(&api->lock);
    route(api, req, resp);
    if (is_mutating(req->method))
        audit(api, req, resp->status);
    pthread_mutex_unlock(&api->lock);
}

void api_response_free(ApiResponse *resp)
{
    free(resp->body);
    resp->body = NULL;
}

int api_default_guest_dir(char *buf, size_t size, Error *err)
{
    const char *cache = getenv("HOSTEL_CACHE"), *home = getenv("HOME");
    int n;
    if (cache && *cache)
        n = snprintf(buf, size, "%s/guest", cache);
    else if (home && *home)
        n = snprintf(buf, size, "%s/.cache/hostel/guest", home);
    else
        return error_set(err, "no default guest directory: neither HOSTEL_CACHE nor HOME is set");
    if (n < 0 || (size_t)n >= size)
        return error_set(err, "the default guest directory's path is too long");
    return 0;
}

int api_new(Api **out, MgmtStore *store, const ApiOptions *opt, Error *err)
{
    Api *api = calloc(1, sizeof(*api));
    char path[PATH_MAX];
    if (!api)
        return error_set(err, "out of memory");
    api->store = store;
    api->guest_dir = strdup(opt->guest_dir ? opt->guest_dir : "");
    api->server_version = strdup(opt->server_version ? opt->server_version : "");
    snprintf(path, sizeof(path), "%s/audit.log", mgmt_store_dir(store));
    api->audit_fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
    if (api->audit_fd < 0 || !api->guest_dir || !api->server_version) {
        error_set_errno(err, api->audit_fd < 0 ? errno : ENOMEM, "cannot open %.200s", path);
        api_free(api);
        return -1;
    }
    pthread_mutex_init(&api->lock, NULL);
    *out = api;
    return 0;
}

void api_free(Api *api)
{
    if (!api)
        return;
    if (api->audit_fd >= 0) {
        close(api->audit_fd);
        pthread_mutex_destroy(&api->lock);
    }
    free(api->guest_dir);
    free(api->server_version);
    free(api);
}
