/*
 * The API's storage resources (/1.0/storage-pools, .../volumes): pools
 * defined, listed and removed; volumes created, cloned, imported,
 * exported, resized and deleted, all by pool.c.  A library failure's
 * class (its negative errno) picks the status: pool_status below.
 *
 * Creates and linked clones are answered when done (201).  Full clones,
 * imports and exports copy whole images: what can be refused at once is
 * (a taken name, a missing source or file), then they run as operations
 * (202 + /1.0/operations/ID) with progress and cancel, without the API's
 * lock, on a copy of the pool's description.
 */
#include <errno.h>
#include <jansson.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

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

/* ---- the long ones (full clone, import, export) as operations ---- */

/* A volume job: what it needs, copied, since the request's memory is gone when it runs. */
typedef struct VolumeJob {
    MgmtPool pool; /* a copy: name, kind, path (owned) */
    char name[MGMT_NAME_MAX + 2], source[MGMT_NAME_MAX + 2];
    char *host_path; /* import: the file read; export: the file written */
    char format[8];
    enum { JOB_CLONE, JOB_IMPORT, JOB_EXPORT } kind;
    MgmtOp *op;
    double last_report; /* monotonic seconds */
} VolumeJob;

static void job_free(void *opaque)
{
    VolumeJob *j = opaque;
    free(j->pool.path);
    free(j->host_path);
    free(j);
}

static double mono_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Progress from pool.c: the operation's, at most four times a second (and at the end). */
static void job_report(void *opaque, uint64_t done, uint64_t total)
{
    VolumeJob *j = opaque;
    double now = mono_s();
    if (done < total && now - j->last_report < 0.25)
        return;
    j->last_report = now;
    mgmt_op_progress(j->op, json_pack("{s:i, s:I, s:I}", "percent",
                                      total ? (int)(done * 100 / total) : 100, "bytes_done",
                                      (json_int_t)done, "bytes_total", (json_int_t)total));
}

static int job_run(MgmtOp *op, void *ctx, json_t **result, Error *err)
{
    VolumeJob *j = ctx;
    j->op = op;
    MgmtProgress progress = {.report = job_report, .opaque = j, .cancel = mgmt_op_cancel_flag(op)};
    int rc;
    if (j->kind == JOB_CLONE)
        rc = mgmt_volume_clone(&j->pool, j->source, j->name, false, &progress, err);
    else if (j->kind == JOB_IMPORT)
        rc = mgmt_volume_import(&j->pool, j->name, j->host_path, j->format, &progress, err);
    else
        rc = mgmt_volume_export(&j->pool, j->name, j->host_path, j->format, &progress, err);
    if (rc < 0)
        return -1;
    *result = j->kind == JOB_EXPORT
                  ? json_pack("{s:s, s:s}", "path", j->host_path, "format", j->format)
                  : json_pack("{s:s}", "volume", j->name);
    return 0;
}

/* A job on pool for the volume name; NULL (after a 500) when out of memory. */
static VolumeJob *job_new(const MgmtPool *pool, const char *name, ApiResponse *r)
{
    VolumeJob *j = calloc(1, sizeof(*j));
    if (j && !(j->pool.path = strdup(pool->path))) {
        free(j);
        j = NULL;
    }
    if (!j) {
        api_error(r, 500, "out of memory");
        return NULL;
    }
    snprintf(j->pool.name, sizeof(j->pool.name), "%s", pool->name);
    j->pool.kind = pool->kind;
    snprintf(j->name, sizeof(j->name), "%s", name);
    return j;
}

/* Start the job as an operation (202), described as what it does. */
static void job_start(Api *api, const ApiRequest *req, VolumeJob *j, ApiResponse *r)
{
    static const char *const verbs[] = {"clone", "import", "export"};
    char description[200], resource[200];
    snprintf(description, sizeof(description), "%s volume %s/%s", verbs[j->kind], j->pool.name,
             j->name);
    snprintf(resource, sizeof(resource), "/" API_VERSION "/storage-pools/%s/volumes/%s",
             j->pool.name, j->name);
    MgmtOpSpec spec = {.description = description,
                       .resource = resource,
                       .uid = req->uid,
                       .may_cancel = true,
                       .run = job_run,
                       .ctx = j,
                       .ctx_free = job_free};
    api_reply_operation(api, &spec, r);
}

/* What can be refused before a clone or import starts: a taken name, a bad source or file. */
static bool job_precheck(const MgmtPool *pool, const VolumePost *p, ApiResponse *r)
{
    MgmtVolume v;
    Error err = {0};
    struct stat st;
    if (mgmt_volume_get(pool, p->name, &v, &err) == 0) {
        mgmt_volume_free(&v);
        api_error(r, 409, "volume '%s' exists in pool '%s'", p->name, pool->name);
        return false;
    }
    if (p->source) {
        int rc = mgmt_volume_get(pool, p->source, &v, &err);
        if (rc < 0) {
            api_error(r, pool_status(rc), "%s", err.msg);
            return false;
        }
        bool foreign = v.backing_file != NULL;
        mgmt_volume_free(&v);
        if (foreign)
            api_error(r, 422, "volume '%s' has a backing file outside the pool", p->source);
        return !foreign;
    }
    const char *why = p->import[0] != '/'        ? "is not an absolute path"
                      : stat(p->import, &st) < 0 ? strerror(errno)
                      : !S_ISREG(st.st_mode)     ? "is not a file"
                                                 : NULL;
    if (why)
        api_error(r, 422, "import: %.200s: %s", p->import, why);
    return !why;
}

/* A full clone or an import: an operation; else the quick ones, answered at once. */
static void volume_post_start(Api *api, const ApiRequest *req, const MgmtPool *pool,
                              const VolumePost *p, ApiResponse *r)
{
    Error err = {0};
    if ((p->source && p->linked) || (!p->source && !p->import)) {
        int rc = volume_post(pool, p, &err);
        if (rc < 0)
            api_error(r, pool_status(rc), "%s", err.msg);
        else
            reply_volume(api, pool, p->name, 201, r);
        return;
    }
    if (p->import && p->format && !mgmt_volume_format(p->format)) {
        api_error(r, 422, "format: '%.32s' is not qcow2 or raw", p->format);
        return;
    }
    VolumeJob *j = job_precheck(pool, p, r) ? job_new(pool, p->name, r) : NULL;
    if (!j)
        return;
    j->kind = p->source ? JOB_CLONE : JOB_IMPORT;
    snprintf(j->source, sizeof(j->source), "%s", p->source ? p->source : "");
    snprintf(j->format, sizeof(j->format), "%s", p->format ? p->format : "qcow2");
    if (p->import && !(j->host_path = strdup(p->import))) {
        job_free(j);
        api_error(r, 500, "out of memory");
        return;
    }
    job_start(api, req, j, r);
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
        if (volume_post_parse(api, body, &p, r))
            volume_post_start(api, req, pool, &p, r);
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
    if (!bad && !path)
        api_error(r, 400, "path: missing");
    else if (!bad && !host_paths_allowed(api, r))
        ; /* 403 */
    else if (!bad && path[0] != '/')
        api_error(r, 422, "path: '%.200s' is not absolute", path);
    else if (!bad && access(path, F_OK) == 0)
        api_error(r, 409, "path: %.200s exists (an export never overwrites)", path);
    else if (!bad && (format = export_format(pool, args->arg[1], format, r))) {
        VolumeJob *j = job_new(pool, args->arg[1], r);
        if (j && !(j->host_path = strdup(path))) {
            job_free(j);
            j = NULL;
            api_error(r, 500, "out of memory");
        }
        if (j) {
            j->kind = JOB_EXPORT;
            snprintf(j->format, sizeof(j->format), "%s", format);
            job_start(api, req, j, r);
        }
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

/* ---- a VM's own volumes, deleted with it (DELETE /1.0/vms/NAME?purge=1) ---- */

/* No VM of the store has the file st as a disk or in its disk's backing chain. */
static bool unused_image(Api *api, const struct stat *st)
{
    for (size_t v = 0; v < mgmt_store_count(api->store); v++) {
        const VmConfig *c = &mgmt_store_at(api->store, v)->config;
        for (unsigned d = 0; d < c->ndisks; d++) {
            struct stat ds;
            if (stat(c->disks[d].path, &ds) == 0 && ds.st_dev == st->st_dev &&
                ds.st_ino == st->st_ino)
                return false;
            if (mgmt_image_backs(c->disks[d].path, st))
                return false;
        }
    }
    return true;
}

/* The volume of some pool that is the file at path: *pool and v filled; false when none. */
static bool volume_of_file(Api *api, const char *path, const MgmtPool **pool, MgmtVolume *v)
{
    struct stat ds, vs;
    if (!path || stat(path, &ds) < 0)
        return false;
    for (size_t p = 0; p < mgmt_pools_count(api->pools); p++) {
        MgmtVolume *vols;
        size_t n;
        Error err = {0};
        if (mgmt_volume_list(mgmt_pools_at(api->pools, p), &vols, &n, &err) < 0)
            continue;
        for (size_t i = 0; i < n; i++) {
            if (stat(vols[i].path, &vs) == 0 && vs.st_dev == ds.st_dev && vs.st_ino == ds.st_ino &&
                mgmt_volume_get(mgmt_pools_at(api->pools, p), vols[i].name, v, &err) == 0) {
                *pool = mgmt_pools_at(api->pools, p);
                mgmt_volumes_free(vols, n);
                return true;
            }
        }
        mgmt_volumes_free(vols, n);
    }
    return false;
}

/* A disk image the daemon made in the VM's own data directory (a clone's), deleted if unused. */
static bool purge_own_image(Api *api, const char *name, const char *path)
{
    char dir[PATH_MAX];
    struct stat st;
    if (!api->runtime || mgmt_runtime_path(api->runtime, name, "", dir, sizeof(dir)) < 0)
        return false;
    size_t n = strlen(dir);
    if (strncmp(path, dir, n) != 0 || path[n] != '/' || strchr(path + n + 1, '/') ||
        stat(path, &st) < 0 || !unused_image(api, &st))
        return false;
    return unlink(path) == 0;
}

json_t *api_purge_volumes(Api *api, const char *name, const VmConfig *config)
{
    json_t *gone = json_array();
    for (unsigned d = 0; gone && d < config->ndisks; d++)
        if (purge_own_image(api, name, config->disks[d].path))
            json_array_append_new(gone, json_string(config->disks[d].path));
    for (unsigned d = 0; gone && d < config->ndisks; d++) {
        const MgmtPool *pool;
        MgmtVolume v;
        Error err = {0};
        if (!volume_of_file(api, config->disks[d].path, &pool, &v))
            continue; /* a host file, not a volume: left alone */
        const char *names[1];
        char ref[2 * MGMT_NAME_MAX + 2];
        snprintf(ref, sizeof(ref), "%s/%s", pool->name, v.name);
        struct stat st;
        if (mgmt_volume_users(api->store, &v, names, 1) == 0 && stat(v.path, &st) == 0 &&
            unused_image(api, &st) && mgmt_volume_delete(pool, v.name, &err) == 0)
            json_array_append_new(gone, json_string(ref));
        mgmt_volume_free(&v);
    }
    return gone;
}
