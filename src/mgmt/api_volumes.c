/*
 * The API's storage resources (/1.0/storage-pools, .../volumes): pools
 * defined, listed and removed; volumes created, cloned, imported,
 * exported, resized and deleted, all by pool.c.  A library failure's
 * class (its negative errno) picks the status: pool_status below.
 *
 * Clones, imports and exports are answered when done (201/200): the
 * library calls take a progress callback and a cancel flag so they can
 * become background operations (202 + /1.0/operations/ID) unchanged.
 */
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <string.h>

#include "mgmt/api_int.h"
#include "mgmt/pool.h"

#define USERS_MAX 64 /* VMs named in a volume's used_by */

/* The status of a pool.c failure. */
static int pool_status(int rc)
{
    switch (-rc) {
    case ENOENT: return 404;
    case EEXIST:
    case EBUSY:
    case ECANCELED: return 409;
    case EINVAL:
    case EXDEV: return 422;
    default: return 500;
    }
}

/* The pool named in args->arg[0], or NULL after a 404. */
static const MgmtPool *pool_or_404(Api *api, const ApiArgs *args, ApiResponse *r)
{
    const MgmtPool *pool = mgmt_pools_find(api->pools, args->arg[0]);
    if (!pool)
        api_error(r, 404, "no pool named '%s'", args->arg[0]);
    return pool;
}

/* A string member: its value, NULL when absent; *bad after a 400 for another type. */
static const char *string_member(const json_t *body, const char *key, bool *bad, ApiResponse *r)
{
    const json_t *v = json_object_get(body, key);
    if (!v || *bad)
        return NULL;
    if (!json_is_string(v) || strlen(json_string_value(v)) != json_string_length(v)) {
        api_error(r, 400, "%s: not a string", key);
        *bad = true;
        return NULL;
    }
    return json_string_value(v);
}

/* ---- objects ---- */

static json_t *pool_object(const MgmtPool *pool)
{
    MgmtPoolUsage u;
    Error err = {0};
    bool ok = mgmt_pool_usage(pool, &u, &err) == 0;
    json_t *j =
        json_pack("{s:s, s:s, s:s, s:I, s:I, s:I, s:I, s:s}", "name", pool->name, "kind",
                  pool->kind, "path", pool->path, "capacity", (json_int_t)u.capacity, "available",
                  (json_int_t)u.available, "allocation", (json_int_t)u.allocation, "volumes",
                  (json_int_t)u.volumes, "status", ok ? "available" : "unavailable");
    if (j && !ok)
        json_object_set_new(j, "message", json_string(err.msg));
    return j;
}

static json_t *volume_object(Api *api, const MgmtPool *pool, const MgmtVolume *v)
{
    const char *names[USERS_MAX];
    size_t n = mgmt_volume_users(api->store, v, names, USERS_MAX);
    json_t *users = json_array();
    for (size_t i = 0; users && i < n && i < USERS_MAX; i++)
        json_array_append_new(users, json_string(names[i]));
    json_t *j = users ? json_pack("{s:s, s:s, s:s, s:I, s:I, s:o, s:s, s:o}", "name", v->name,
                                  "pool", pool->name, "format", v->format, "size",
                                  (json_int_t)v->size, "allocation", (json_int_t)v->allocation,
                                  "backing", v->backing ? json_string(v->backing) : json_null(),
                                  "path", v->path, "used_by", users)
                      : NULL;
    if (j && v->backing_file)
        json_object_set_new(j, "backing_file", json_string(v->backing_file));
    return j;
}

/* Reply with volume name of pool (status 200 or 201 with its Location). */
static void reply_volume(Api *api, const MgmtPool *pool, const char *name, int status,
                         ApiResponse *r)
{
    MgmtVolume v;
    Error err = {0};
    int rc = mgmt_volume_get(pool, name, &v, &err);
    if (rc < 0) {
        api_error(r, pool_status(rc), "%s", err.msg);
        return;
    }
    if (status == 201)
        snprintf(r->location, sizeof(r->location), "/" API_VERSION "/storage-pools/%s/volumes/%s",
                 pool->name, name);
    api_reply_json(r, status, volume_object(api, pool, &v));
    mgmt_volume_free(&v);
}

/* ---- pools ---- */

void api_h_pools_list(Api *api, const ApiRequest *req, const ApiArgs *args, ApiResponse *r)
{
    json_t *a = json_array();
    for (size_t i = 0; a && i < mgmt_pools_count(api->pools); i++) {
        if (json_array_append_new(a, pool_object(mgmt_pools_at(api->pools, i))) < 0) {
            json_decref(a);
            a = NULL;
        }
    }
    api_reply_json(r, 200, a ? json_pack("{s:o}", "pools", a) : NULL);
}

/* The API may name host paths (pool directories, imports, exports); else a 403. */
static bool host_paths_allowed(const Api *api, ApiResponse *r)
{
    if (api->host_paths)
        return true;
    api_error(r, 403, "this daemon does not read or write host paths given by clients");
    return false;
}

void api_h_pools_create(Api *api, const ApiRequest *req, const ApiArgs *args, ApiResponse *r)
{
    static const char *const names[] = {"name", "kind", "path", NULL};
    json_t *body = api_body_object(req, r);
    bool bad = body ? !api_members_known(body, names, r) : true;
    const char *name = string_member(body, "name", &bad, r);
    const char *kind = string_member(body, "kind", &bad, r);
    const char *path = string_member(body, "path", &bad, r);
    Error err = {0};
    if (!bad && (!name || !path))
        api_error(r, 400, "%s: missing", name ? "path" : "name");
    else if (!bad && !host_paths_allowed(api, r))
        ; /* 403 */
    else if (!bad && !mgmt_name_check(name, &err))
        api_error(r, 400, "%s", err.msg);
    else if (!bad) {
        int rc = mgmt_pool_define(api->pools, name, kind ? kind : "dir", path, &err);
        if (rc < 0) {
            api_error(r, pool_status(rc), "%s", err.msg);
        } else {
            snprintf(r->location, sizeof(r->location), "/" API_VERSION "/storage-pools/%s", name);
            api_reply_json(r, 201, pool_object(mgmt_pools_find(api->pools, name)));
        }
    }
    json_decref(body);
}

void api_h_pool_get(Api *api, const ApiRequest *req, const ApiArgs *args, ApiResponse *r)
{
    const MgmtPool *pool = pool_or_404(api, args, r);
    if (pool)
        api_reply_json(r, 200, pool_object(pool));
}

void api_h_pool_delete(Api *api, const ApiRequest *req, const ApiArgs *args, ApiResponse *r)
{
    Error err = {0};
    int rc = mgmt_pool_undefine(api->pools, args->arg[0], &err);
    if (rc < 0)
        api_error(r, pool_status(rc), "%s", err.msg);
    else
        api_reply_json(r, 200, json_object());
}

/* ---- volumes ---- */

void api_h_volumes_list(Api *api, const ApiRequest *req, const ApiArgs *args, ApiResponse *r)
{
    const MgmtPool *pool = pool_or_404(api, args, r);
    MgmtVolume *v;
    size_t n;
    Error err = {0};
    if (!pool)
        return;
    int rc = mgmt_volume_list(pool, &v, &n, &err);
    if (rc < 0) {
        api_error(r, pool_status(rc), "%s", err.msg);
        return;
    }
    json_t *a = json_array();
    for (size_t i = 0; a && i < n; i++) {
        if (json_array_append_new(a, volume_object(api, pool, &v[i])) < 0) {
            json_decref(a);
            a = NULL;
        }
    }
    mgmt_volumes_free(v, n);
    api_reply_json(r, 200, a ? json_pack("{s:o}", "volumes", a) : NULL);
}

/* size: a non-negative integer (its value is the library's to judge); else false after a 400. */
static bool size_member(const json_t *body, uint64_t *size, ApiResponse *r)
{
    const json_t *s = json_object_get(body, "size");
    *size = 0;
    if (!s)
        return true;
    if (!json_is_integer(s)) {
        api_error(r, 400, "size: not an integer (bytes)");
        return false;
    }
    if (json_integer_value(s) <= 0) {
        api_error(r, 422, "size: %lld is not a positive number of bytes",
                  (long long)json_integer_value(s));
        return false;
    }
    *size = (uint64_t)json_integer_value(s);
    return true;
}

/* The members a kind of POST .../volumes allows besides name: else false after a 400. */
static bool only_members(const json_t *body, const char *const *allowed, const char *what,
                         ApiResponse *r)
{
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)body, key, v)
    {
        const char *const *a = allowed;
        while (*a && strcmp(*a, key) != 0)
            a++;
        if (!*a) {
            api_error(r, 400, "%s: not with %s", key, what);
            return false;
        }
    }
    return true;
}

/* The create, clone or import a POST .../volumes asks for. */
typedef struct VolumePost {
    const char *name, *source, *import, *format, *backing;
    bool linked;
    uint64_t size;
} VolumePost;

/* body into *p, each member's type checked: else false after a 400. */
static bool volume_post_parse(const Api *api, const json_t *body, VolumePost *p, ApiResponse *r)
{
    static const char *const clone_m[] = {"name", "source", "linked", NULL};
    static const char *const import_m[] = {"name", "import", "format", NULL};
    static const char *const create_m[] = {"name", "size", "format", "backing", NULL};
    bool bad = false;
    const json_t *linked = json_object_get(body, "linked");
    p->source = string_member(body, "source", &bad, r);
    p->import = string_member(body, "import", &bad, r);
    p->format = string_member(body, "format", &bad, r);
    p->backing = string_member(body, "backing", &bad, r);
    if (bad)
        return false;
    if (linked && !json_is_boolean(linked)) {
        api_error(r, 400, "linked: not a boolean");
        return false;
    }
    p->linked = json_is_true(linked);
    if (p->source)
        return only_members(body, clone_m, "source", r);
    if (p->import)
        return only_members(body, import_m, "import", r) && host_paths_allowed(api, r);
    if (!only_members(body, create_m, "size", r) || !size_member(body, &p->size, r))
        return false;
    if (!p->size && !p->backing) {
        api_error(r, 400, "size: missing (or give source, import or backing)");
        return false;
    }
    return true;
}

/* Do what p asks; 0, or a pool.c failure with err filled. */
static int volume_post(const MgmtPool *pool, const VolumePost *p, Error *err)
{
    const char *format = p->format ? p->format : "qcow2";
    if (p->source)
        return mgmt_volume_clone(pool, p->source, p->name, p->linked, NULL, err);
    if (p->import)
        return mgmt_volume_import(pool, p->name, p->import, format, NULL, err);
    MgmtVolumeCreate c = {
        .name = p->name, .format = format, .size = p->size, .backing = p->backing};
    return mgmt_volume_create(pool, &c, err);
}

void api_h_volumes_create(Api *api, const ApiRequest *req, const ApiArgs *args, ApiResponse *r)
{
    static const char *const names[] = {"name",   "size",   "format", "backing",
                                        "source", "linked", "import", NULL};
    const MgmtPool *pool = pool_or_404(api, args, r);
    json_t *body = pool ? api_body_object(req, r) : NULL;
    bool bad = body ? !api_members_known(body, names, r) : true;
    const char *name = string_member(body, "name", &bad, r);
    Error err = {0};
    if (!bad && !name)
        api_error(r, 400, "name: missing");
    else if (!bad && !mgmt_name_check(name, &err))
        api_error(r, 400, "%s", err.msg);
    else if (!bad) {
        VolumePost p = {.name = name};
        int rc = volume_post_parse(api, body, &p, r) ? volume_post(pool, &p, &err) : 1;
        if (rc < 0)
            api_error(r, pool_status(rc), "%s", err.msg);
        else if (rc == 0)
            reply_volume(api, pool, name, 201, r);
    }
    json_decref(body);
}

void api_h_volume_get(Api *api, const ApiRequest *req, const ApiArgs *args, ApiResponse *r)
{
    const MgmtPool *pool = pool_or_404(api, args, r);
    if (pool)
        reply_volume(api, pool, args->arg[1], 200, r);
}

void api_h_volume_patch(Api *api, const ApiRequest *req, const ApiArgs *args, ApiResponse *r)
{
    static const char *const names[] = {"size", "shrink", NULL};
    const MgmtPool *pool = pool_or_404(api, args, r);
    json_t *body = pool ? api_body_object(req, r) : NULL;
    const json_t *shrink = body ? json_object_get(body, "shrink") : NULL;
    uint64_t size = 0;
    Error err = {0};
    if (!body || !api_members_known(body, names, r) || !size_member(body, &size, r)) {
        json_decref(body);
        return;
    }
    if (shrink && !json_is_boolean(shrink))
        api_error(r, 400, "shrink: not a boolean");
    else if (!size)
        api_error(r, 400, "size: missing (the only change a volume takes)");
    else {
        int rc = mgmt_volume_resize(pool, args->arg[1], size, json_is_true(shrink), &err);
        if (rc < 0)
            api_error(r, pool_status(rc), "%s", err.msg);
        else
            reply_volume(api, pool, args->arg[1], 200, r);
    }
    json_decref(body);
}

void api_h_volume_delete(Api *api, const ApiRequest *req, const ApiArgs *args, ApiResponse *r)
{
    const MgmtPool *pool = pool_or_404(api, args, r);
    const char *names[1];
    MgmtVolume v;
    Error err = {0};
    if (!pool)
        return;
    int rc = mgmt_volume_get(pool, args->arg[1], &v, &err);
    if (rc < 0) {
        api_error(r, pool_status(rc), "%s", err.msg);
        return;
    }
    size_t users = mgmt_volume_users(api->store, &v, names, 1);
    mgmt_volume_free(&v);
    if (users)
        api_error(r, 409, "volume '%s' is a disk of VM '%s'%s", args->arg[1], names[0],
                  users > 1 ? " and others" : "");
    else if ((rc = mgmt_volume_delete(pool, args->arg[1], &err)) < 0)
        api_error(r, pool_status(rc), "%s", err.msg);
    else
        api_reply_json(r, 200, json_object());
}

/* The format of an export: the one asked for, else the volume's; NULL after a reply. */
static const char *export_format(const MgmtPool *pool, const char *name, const char *given,
                                 ApiResponse *r)
{
    MgmtVolume v;
    Error err = {0};
    int rc = mgmt_volume_get(pool, name, &v, &err);
    const char *fmt = rc == 0 ? (given ? mgmt_volume_format(given) : v.format) : NULL;
    if (rc < 0)
        api_error(r, pool_status(rc), "%s", err.msg);
    else if (!fmt)
        api_error(r, 422, "format: '%.32s' is not qcow2 or raw", given);
    if (rc == 0)
        mgmt_volume_free(&v);
    return fmt;
}

void api_h_volume_export(Api *api, const ApiRequest *req, const ApiArgs *args, ApiResponse *r)
{
    static const char *const names[] = {"path", "format", NULL};
    const MgmtPool *pool = pool_or_404(api, args, r);
    json_t *body = pool ? api_body_object(req, r) : NULL;
    bool bad = body ? !api_members_known(body, names, r) : true;
    const char *path = string_member(body, "path", &bad, r);
    const char *format = string_member(body, "format", &bad, r);
    Error err = {0};
    if (!bad && !path)
        api_error(r, 400, "path: missing");
    else if (!bad && !host_paths_allowed(api, r))
        ; /* 403 */
    else if (!bad && (format = export_format(pool, args->arg[1], format, r))) {
        int rc = mgmt_volume_export(pool, args->arg[1], path, format, NULL, &err);
        if (rc < 0)
            api_error(r, pool_status(rc), "%s", err.msg);
        else
            api_reply_json(r, 200, json_pack("{s:s, s:s}", "path", path, "format", format));
    }
    json_decref(body);
}

/* ---- VM disks given as volumes ---- */

/* Disk i = {"volume", "read-only"?} rewritten as the volume's file; else false after a 422. */
static bool disk_from_volume(Api *api, json_t *disk, size_t i, ApiResponse *r)
{
    static const char *const names[] = {"volume", "read-only", NULL};
    const json_t *ref = json_object_get(disk, "volume");
    const char *spec = json_string_value(ref), *slash = spec ? strchr(spec, '/') : NULL;
    const char *key;
    json_t *v;
    char pool_name[MGMT_NAME_MAX + 2];
    json_object_foreach(disk, key, v)
    {
        const char *const *n = names;
        while (*n && strcmp(*n, key) != 0)
            n++;
        if (!*n) {
            api_error(r, 422, "config.disks[%zu].%.64s: not with volume", i, key);
            return false;
        }
    }
    if (!spec) {
        api_error(r, 422, "config.disks[%zu].volume: not a string", i);
        return false;
    }
    snprintf(pool_name, sizeof(pool_name), "%.*s", slash ? (int)(slash - spec) : 7,
             slash ? spec : MGMT_POOL_DEFAULT);
    const MgmtPool *pool = mgmt_pools_find(api->pools, pool_name);
    MgmtVolume vol;
    Error err = {0};
    if (!pool) {
        api_error(r, 422, "config.disks[%zu].volume: no pool named '%.64s'", i, pool_name);
        return false;
    }
    if (mgmt_volume_get(pool, slash ? slash + 1 : spec, &vol, &err) < 0) {
        api_error(r, 422, "config.disks[%zu].volume: %s", i, err.msg);
        return false;
    }
    bool ok = json_object_set_new(disk, "path", json_string(vol.path)) == 0 &&
              json_object_set_new(disk, "format", json_string(vol.format)) == 0 &&
              json_object_del(disk, "volume") == 0;
    mgmt_volume_free(&vol);
    if (!ok)
        api_error(r, 500, "out of memory");
    return ok;
}

bool api_disks_from_volumes(Api *api, json_t *config, ApiResponse *r)
{
    json_t *disks = json_object_get(config, "disks"), *d;
    size_t i;
    json_array_foreach(disks, i, d)
    {
        if (json_is_object(d) && json_object_get(d, "volume") && !disk_from_volume(api, d, i, r))
            return false;
    }
    return true;
}
