/*
 * Storage pools (pool.h): the definitions under DIR/storage-pools, read at
 * open and written atomically, the default pool, and a pool's usage.  The
 * volumes inside a pool are pool_volume.c's.
 */
#include <dirent.h>
#include <errno.h>
#include <jansson.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "mgmt/fileio.h"
#include "mgmt/pool.h"
#include "mgmt/pool_int.h"
#include "util/io.h"
#include "util/log.h"

#define POOL_DOC_MAX_BYTES (64u << 10) /* a pool document larger than this is not read */

struct MgmtPools {
    char *doc_dir;   /* DIR/storage-pools */
    char *pools_dir; /* DIR/pools: where the default pool lives */
    MgmtPool *pools; /* sorted by name */
    size_t n;
};

int pool_fail(Error *err, int code, const char *fmt, ...)
{
    if (err) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
        va_end(ap);
        err->code = 0;
    }
    return code;
}

int pool_fail_errno(Error *err, int code, int errnum, const char *fmt, ...)
{
    if (err) {
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
        va_end(ap);
        if (n >= 0 && (size_t)n < sizeof(err->msg))
            snprintf(err->msg + n, sizeof(err->msg) - n, ": %s", strerror(errnum));
        err->code = errnum;
    }
    return code;
}

static void pool_free(MgmtPool *pool)
{
    free(pool->path);
    pool->path = NULL;
}

/* Where name is, or would go, in the sorted list. */
static size_t pools_index(const MgmtPools *p, const char *name, bool *found)
{
    size_t i = 0;
    while (i < p->n && strcmp(p->pools[i].name, name) < 0)
        i++;
    *found = i < p->n && strcmp(p->pools[i].name, name) == 0;
    return i;
}

/* Take pool (moved) into the sorted list. Returns 0 or -EIO. */
static int pools_take(MgmtPools *p, MgmtPool *pool, Error *err)
{
    bool found;
    size_t i = pools_index(p, pool->name, &found);
    MgmtPool *v = realloc(p->pools, (p->n + 1) * sizeof(*v));
    if (!v) {
        error_set(err, "out of memory");
        return -EIO;
    }
    p->pools = v;
    memmove(&v[i + 1], &v[i], (p->n - i) * sizeof(*v));
    v[i] = *pool;
    p->n++;
    return 0;
}

/* path canonical when it resolves, else as given (malloc'd), or NULL if out of memory. */
static char *canonical(const char *path)
{
    char *real = realpath(path, NULL);
    return real ? real : strdup(path);
}

/* ---- documents ---- */

json_t *mgmt_pool_to_doc(const MgmtPool *pool)
{
    return json_pack("{s:i, s:s, s:s, s:s}", "version", MGMT_POOL_DOC_VERSION, "name", pool->name,
                     "kind", pool->kind, "path", pool->path);
}

/* A document into pool: known members only, this version or older, kind dir, absolute path. */
static int pool_from_doc(const json_t *doc, MgmtPool *pool, Error *err)
{
    const char *name, *kind, *path;
    json_int_t version;
    json_error_t je;
    if (json_unpack_ex((json_t *)doc, &je, JSON_STRICT, "{s:I, s:s, s:s, s:s}", "version", &version,
                       "name", &name, "kind", &kind, "path", &path) < 0)
        return error_set(err, "%s", je.text);
    if (version < 1 || version > MGMT_POOL_DOC_VERSION)
        return error_set(err, "version %lld: this hosteld reads up to %d", (long long)version,
                         MGMT_POOL_DOC_VERSION);
    if (!mgmt_name_check(name, err))
        return -1;
    if (strcmp(kind, "dir") != 0)
        return error_set(err, "kind: '%.32s' is not a kind of pool this hosteld knows", kind);
    if (path[0] != '/')
        return error_set(err, "path: '%.200s' is not absolute", path);
    snprintf(pool->name, sizeof(pool->name), "%s", name);
    pool->kind = "dir";
    pool->path = canonical(path);
    return pool->path ? 0 : error_set(err, "out of memory");
}

/* Write pool's document atomically as DOC_DIR/NAME.json. */
static int pool_write(const MgmtPools *p, const MgmtPool *pool, Error *err)
{
    char file[MGMT_NAME_MAX + 8];
    snprintf(file, sizeof(file), "%s.json", pool->name);
    json_t *doc = mgmt_pool_to_doc(pool);
    char *text = doc ? json_dumps(doc, JSON_INDENT(2) | JSON_SORT_KEYS) : NULL;
    char *line = NULL;
    json_decref(doc);
    if (!text || asprintf(&line, "%s\n", text) < 0) {
        free(text);
        error_set(err, "out of memory");
        return -EIO;
    }
    free(text);
    char path[PATH_MAX];
    int rc = snprintf(path, sizeof(path), "%s/%s", p->doc_dir, file) >= (int)sizeof(path)
                 ? error_set(err, "%.200s: path too long", p->doc_dir)
                 : mgmt_write_atomic(path, line, strlen(line), 0640, err);
    free(line);
    return rc < 0 ? -EIO : 0;
}

/* One file of DOC_DIR: a pool taken in, or logged and skipped. */
static void load_entry(MgmtPools *p, const char *file)
{
    size_t len = strlen(file);
    char path[PATH_MAX];
    if (file[0] == '.' || len <= 5 || strcmp(file + len - 5, ".json") != 0)
        return;
    snprintf(path, sizeof(path), "%s/%s", p->doc_dir, file);
    MgmtPool pool = {0};
    Error why = {0};
    struct stat st;
    json_error_t je;
    json_t *doc = NULL;
    if (stat(path, &st) < 0 || !S_ISREG(st.st_mode) || st.st_size > POOL_DOC_MAX_BYTES)
        error_set(&why, "not a regular file of at most %u bytes", POOL_DOC_MAX_BYTES);
    else if (!(doc = json_load_file(path, JSON_REJECT_DUPLICATES, &je)))
        error_set(&why, "line %d: %s", je.line, je.text);
    else if (pool_from_doc(doc, &pool, &why) == 0 &&
             (strncmp(file, pool.name, len - 5) != 0 || strlen(pool.name) != len - 5))
        error_set(&why, "name: '%s' is not the file's name", pool.name);
    json_decref(doc);
    bool found;
    if (!why.msg[0])
        pools_index(p, pool.name, &found);
    if (!why.msg[0] && !found && pools_take(p, &pool, &why) == 0)
        return;
    log_warn("%s is broken and skipped (kept on disk): %s", path, why.msg);
    pool_free(&pool);
}

static int load_all(MgmtPools *p, Error *err)
{
    DIR *dir = opendir(p->doc_dir);
    if (!dir) {
        error_set_errno(err, errno, "cannot read %.200s", p->doc_dir);
        return -EIO;
    }
    struct dirent *d;
    while ((d = readdir(dir)) != NULL) {
        if (d->d_name[0] == '.' && strstr(d->d_name, ".json.tmp-"))
            unlinkat(dirfd(dir), d->d_name, 0); /* left by an interrupted write */
        else
            load_entry(p, d->d_name);
    }
    closedir(dir);
    return 0;
}

static int make_dir(const char *path, Error *err)
{
    if (mkdir(path, 0750) < 0 && errno != EEXIST) {
        error_set_errno(err, errno, "cannot create %.200s", path);
        return -EIO;
    }
    return 0;
}

/* The default pool: its directory made, its definition written if missing. */
static int ensure_default(MgmtPools *p, Error *err)
{
    char path[PATH_MAX];
    snprintf(path, sizeof(path), "%s/" MGMT_POOL_DEFAULT, p->pools_dir);
    const MgmtPool *def = mgmt_pools_find(p, MGMT_POOL_DEFAULT);
    if (def)
        return make_dir(def->path, err);
    if (make_dir(p->pools_dir, err) < 0 || make_dir(path, err) < 0)
        return -EIO;
    return mgmt_pool_define(p, MGMT_POOL_DEFAULT, "dir", path, err);
}

int mgmt_pools_open(MgmtPools **out, const char *state_dir, Error *err)
{
    MgmtPools *p = calloc(1, sizeof(*p));
    if (!p || asprintf(&p->doc_dir, "%s/storage-pools", state_dir) < 0 ||
        asprintf(&p->pools_dir, "%s/pools", state_dir) < 0) {
        if (p)
            p->pools_dir = NULL;
        mgmt_pools_close(p);
        error_set(err, "out of memory");
        return -EIO;
    }
    int rc = make_dir(p->doc_dir, err);
    if (rc == 0)
        rc = load_all(p, err);
    if (rc == 0)
        rc = ensure_default(p, err);
    if (rc < 0) {
        mgmt_pools_close(p);
        return rc;
    }
    *out = p;
    return 0;
}

void mgmt_pools_close(MgmtPools *p)
{
    if (!p)
        return;
    for (size_t i = 0; i < p->n; i++)
        pool_free(&p->pools[i]);
    free(p->pools);
    free(p->doc_dir);
    free(p->pools_dir);
    free(p);
}

size_t mgmt_pools_count(const MgmtPools *p)
{
    return p->n;
}

const MgmtPool *mgmt_pools_at(const MgmtPools *p, size_t i)
{
    return i < p->n ? &p->pools[i] : NULL;
}

const MgmtPool *mgmt_pools_find(const MgmtPools *p, const char *name)
{
    bool found;
    size_t i = pools_index(p, name, &found);
    return found ? &p->pools[i] : NULL;
}

/* ---- define, undefine ---- */

/* kind and path for a new pool: "dir", an existing directory; its canonical path into *real. */
static int define_check(const MgmtPools *p, const char *kind, const char *path, char **real,
                        Error *err)
{
    struct stat st;
    if (strcmp(kind, "dir") != 0)
        return pool_fail(err, -EINVAL, "kind: '%.32s' is not a kind of pool (dir)", kind);
    if (path[0] != '/')
        return pool_fail(err, -EINVAL, "path: '%.200s' is not absolute", path);
    if (stat(path, &st) < 0 || !S_ISDIR(st.st_mode))
        return pool_fail(err, -EINVAL, "path: %.200s is not a directory", path);
    if (!(*real = realpath(path, NULL)))
        return pool_fail_errno(err, -EINVAL, errno, "path: %.200s", path);
    for (size_t i = 0; i < p->n; i++) {
        if (strcmp(p->pools[i].path, *real) == 0) {
            error_set(err, "path: %.200s is already pool '%s'", *real, p->pools[i].name);
            free(*real);
            return -EEXIST;
        }
    }
    return 0;
}

int mgmt_pool_define(MgmtPools *p, const char *name, const char *kind, const char *path, Error *err)
{
    if (!mgmt_name_check(name, err))
        return -EINVAL;
    if (mgmt_pools_find(p, name)) {
        error_set(err, "a pool named '%s' exists", name);
        return -EEXIST;
    }
    MgmtPool pool = {.kind = "dir"};
    int rc = define_check(p, kind, path, &pool.path, err);
    if (rc < 0)
        return rc;
    snprintf(pool.name, sizeof(pool.name), "%s", name);
    if ((rc = pool_write(p, &pool, err)) == 0 && (rc = pools_take(p, &pool, err)) == 0)
        return 0;
    pool_free(&pool);
    return rc;
}

int mgmt_pool_undefine(MgmtPools *p, const char *name, Error *err)
{
    bool found;
    size_t i = pools_index(p, name, &found);
    MgmtPoolUsage u;
    char path[PATH_MAX];
    if (!found)
        return pool_fail(err, -ENOENT, "no pool named '%.64s'", name);
    if (strcmp(name, MGMT_POOL_DEFAULT) == 0)
        return pool_fail(err, -EBUSY, "the default pool cannot be removed");
    if (mgmt_pool_usage(&p->pools[i], &u, err) == 0 && u.volumes)
        return pool_fail(err, -EBUSY, "pool '%s' holds %zu volumes: delete them first", name,
                         u.volumes);
    snprintf(path, sizeof(path), "%s/%s.json", p->doc_dir, name);
    if (unlink(path) < 0 && errno != ENOENT)
        return pool_fail_errno(err, -EIO, errno, "cannot remove %.200s", path);
    io_sync_dir_of(path);
    pool_free(&p->pools[i]);
    memmove(&p->pools[i], &p->pools[i + 1], (p->n - i - 1) * sizeof(*p->pools));
    p->n--;
    return 0;
}

int mgmt_pool_usage(const MgmtPool *pool, MgmtPoolUsage *u, Error *err)
{
    struct statvfs sv;
    memset(u, 0, sizeof(*u));
    if (statvfs(pool->path, &sv) < 0)
        return pool_fail_errno(err, errno == ENOENT ? -ENOENT : -EIO, errno, "pool '%s': %.200s",
                               pool->name, pool->path);
    u->capacity = (uint64_t)sv.f_blocks * sv.f_frsize;
    u->available = (uint64_t)sv.f_bavail * sv.f_frsize;
    MgmtVolume *v;
    size_t n;
    int rc = mgmt_volume_list(pool, &v, &n, err);
    if (rc < 0)
        return rc;
    for (size_t i = 0; i < n; i++)
        u->allocation += v[i].allocation;
    u->volumes = n;
    mgmt_volumes_free(v, n);
    return 0;
}
