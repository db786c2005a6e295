/*
 * Operations (ops.h): a list of them, newest first, under one lock; one
 * detached thread per running operation; one document per operation.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "mgmt/ops.h"
#include "util/clocks.h"
#include "mgmt/vm.h"

enum { OP_RUNNING, OP_SUCCESS, OP_FAILURE, OP_CANCELLED };

static const char *const status_names[] = {
    [OP_RUNNING] = "running",
    [OP_SUCCESS] = "success",
    [OP_FAILURE] = "failure",
    [OP_CANCELLED] = "cancelled",
};

struct MgmtOp {
    MgmtOps *ops;
    char id[MGMT_OP_ID_LEN + 1];
    char *description, *resource;
    uid_t uid;
    bool may_cancel;
    atomic_bool cancel;
    int status;
    double created, updated; /* realtime seconds */
    json_t *progress, *result;
    char err[sizeof(((Error *)0)->msg)];
    MgmtOpFn *run;
    void *ctx;
    void (*ctx_free)(void *ctx);
    struct MgmtOp *next;
};

struct MgmtOps {
    char dir[PATH_MAX]; /* STATE/operations */
    MgmtNotifyFn *notify;
    void *notify_ctx;
    pthread_mutex_t lock;
    pthread_cond_t changed; /* generation moved (CLOCK_MONOTONIC) */
    uint64_t generation;
    unsigned running;
    MgmtOp *head;
};

/* The API's object of op (the lock held). */
static json_t *op_json(const MgmtOp *op)
{
    char created[40], updated[40];
    clock_text(op->created, created, sizeof(created));
    clock_text(op->updated, updated, sizeof(updated));
    return json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:I, s:b, s:O?, s:O?, s:s}", "id", op->id,
                     "class", "task", "description", op->description, "status",
                     status_names[op->status], "created_at", created, "updated_at", updated, "uid",
                     (json_int_t)op->uid, "may_cancel", op->may_cancel && op->status == OP_RUNNING,
                     "progress", op->progress, "result", op->result, "err", op->err);
}

/* The object with "resources" (the resource it acts on). */
static json_t *op_json_full(const MgmtOp *op)
{
    json_t *j = op_json(op);
    if (j)
        json_object_set_new(j, "resources", json_pack("[s]", op->resource));
    return j;
}

/* Write op's document (tmp + rename: a reader sees the old one or the new one). */
static void op_save(const MgmtOps *ops, const MgmtOp *op)
{
    char path[PATH_MAX + 64], tmp[PATH_MAX + 80];
    snprintf(path, sizeof(path), "%s/%s.json", ops->dir, op->id);
    snprintf(tmp, sizeof(tmp), "%s/.%s.json.tmp", ops->dir, op->id);
    json_t *j = op_json_full(op);
    if (j && json_dump_file(j, tmp, JSON_COMPACT) == 0 && rename(tmp, path) != 0)
        unlink(tmp);
    json_decref(j);
}

static void op_free(MgmtOp *op)
{
    if (op->ctx_free)
        op->ctx_free(op->ctx);
    free(op->description);
    free(op->resource);
    json_decref(op->progress);
    json_decref(op->result);
    free(op);
}

/* Forget the finished operations past the newest MGMT_OPS_KEEP (the lock held). */
static void ops_prune(MgmtOps *ops)
{
    unsigned n = 0;
    for (MgmtOp **p = &ops->head; *p;) {
        MgmtOp *op = *p;
        if (op->status != OP_RUNNING && ++n > MGMT_OPS_KEEP) {
            char path[PATH_MAX + 64];
            snprintf(path, sizeof(path), "%s/%s.json", ops->dir, op->id);
            unlink(path);
            *p = op->next;
            op_free(op);
        } else {
            p = &op->next;
        }
    }
}

static void notify(MgmtOps *ops, const char *type, json_t *obj)
{
    if (ops->notify && obj)
        ops->notify(ops->notify_ctx, type, NULL, obj);
    else
        json_decref(obj);
}

static MgmtOp *op_find(MgmtOps *ops, const char *id)
{
    for (MgmtOp *op = ops->head; op; op = op->next)
        if (strcmp(op->id, id) == 0)
            return op;
    return NULL;
}

/* ---- the thread ---- */

static void *op_thread(void *opaque)
{
    MgmtOp *op = opaque;
    MgmtOps *ops = op->ops;
    json_t *result = NULL;
    Error err = {0};
    int rc = op->run(op, op->ctx, &result, &err);
    pthread_mutex_lock(&ops->lock);
    op->status = rc == 0 ? OP_SUCCESS : atomic_load(&op->cancel) ? OP_CANCELLED : OP_FAILURE;
    op->result = result;
    if (rc < 0)
        snprintf(op->err, sizeof(op->err), "%s", err.msg[0] ? err.msg : "failed");
    op->updated = clock_real_s();
    op_save(ops, op);
    json_t *obj = op_json_full(op);
    ops->generation++;
    ops->running--;
    ops_prune(ops);
    pthread_cond_broadcast(&ops->changed);
    pthread_mutex_unlock(&ops->lock);
    notify(ops, "operation-finished", obj);
    return NULL;
}

int mgmt_ops_start(MgmtOps *ops, const MgmtOpSpec *spec, char id[MGMT_OP_ID_LEN + 1], Error *err)
{
    MgmtOp *op = calloc(1, sizeof(*op));
    if (!op || mgmt_uuid_new(op->id, err) < 0 || !(op->description = strdup(spec->description)) ||
        !(op->resource = strdup(spec->resource))) {
        if (spec->ctx_free)
            spec->ctx_free(spec->ctx);
        if (op)
            free(op->description);
        free(op);
        return err && err->msg[0] ? -1 : error_set(err, "out of memory");
    }
    op->ops = ops;
    op->uid = spec->uid;
    op->may_cancel = spec->may_cancel;
    op->run = spec->run;
    op->ctx = spec->ctx;
    op->ctx_free = spec->ctx_free;
    op->created = op->updated = clock_real_s();
    memcpy(id, op->id, sizeof(op->id));
    pthread_attr_t at;
    pthread_t t;
    pthread_attr_init(&at);
    pthread_attr_setdetachstate(&at, PTHREAD_CREATE_DETACHED);
    pthread_mutex_lock(&ops->lock);
    op->next = ops->head;
    ops->head = op;
    ops->running++;
    op_save(ops, op);
    json_t *obj = op_json_full(op);
    int rc = pthread_create(&t, &at, op_thread, op);
    if (rc != 0) {
        ops->head = op->next;
        ops->running--;
        char path[PATH_MAX + 64];
        snprintf(path, sizeof(path), "%s/%s.json", ops->dir, op->id);
        unlink(path);
    }
    pthread_mutex_unlock(&ops->lock);
    pthread_attr_destroy(&at);
    if (rc != 0) {
        json_decref(obj);
        op_free(op);
        return error_set_errno(err, rc, "cannot start a thread for the operation");
    }
    notify(ops, "operation-created", obj);
    return 0;
}

/* ---- queries ---- */

json_t *mgmt_ops_get(MgmtOps *ops, const char *id)
{
    pthread_mutex_lock(&ops->lock);
    MgmtOp *op = op_find(ops, id);
    json_t *j = op ? op_json_full(op) : NULL;
    pthread_mutex_unlock(&ops->lock);
    return j;
}

json_t *mgmt_ops_list(MgmtOps *ops, bool recursion)
{
    json_t *a = json_array();
    pthread_mutex_lock(&ops->lock);
    for (MgmtOp *op = ops->head; a && op; op = op->next) {
        char url[80];
        snprintf(url, sizeof(url), "/1.0/operations/%s", op->id);
        if (json_array_append_new(a, recursion ? op_json_full(op) : json_string(url)) < 0) {
            json_decref(a);
            a = NULL;
        }
    }
    pthread_mutex_unlock(&ops->lock);
    return a;
}

int mgmt_ops_cancel(MgmtOps *ops, const char *id, Error *err)
{
    pthread_mutex_lock(&ops->lock);
    MgmtOp *op = op_find(ops, id);
    int rc = 0;
    if (!op)
        rc = error_set(err, "no operation %s", id);
    else if (op->status != OP_RUNNING)
        rc = error_set(err, "operation %s has ended (%s)", id, status_names[op->status]) - 1;
    else if (!op->may_cancel)
        rc = error_set(err, "operation %s cannot be cancelled", id) - 1;
    else
        atomic_store(&op->cancel, true);
    pthread_mutex_unlock(&ops->lock);
    return rc;
}

bool mgmt_ops_done(MgmtOps *ops, const char *id, bool *known)
{
    pthread_mutex_lock(&ops->lock);
    MgmtOp *op = op_find(ops, id);
    *known = op != NULL;
    bool done = op && op->status != OP_RUNNING;
    pthread_mutex_unlock(&ops->lock);
    return done;
}

uint64_t mgmt_ops_generation(MgmtOps *ops)
{
    pthread_mutex_lock(&ops->lock);
    uint64_t g = ops->generation;
    pthread_mutex_unlock(&ops->lock);
    return g;
}

uint64_t mgmt_ops_wait_change(MgmtOps *ops, uint64_t seen, double timeout_s)
{
    struct timespec until;
    clock_gettime(CLOCK_MONOTONIC, &until);
    until.tv_sec += (time_t)timeout_s;
    until.tv_nsec += (long)((timeout_s - (double)(time_t)timeout_s) * 1e9);
    if (until.tv_nsec >= 1000000000L) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&ops->lock);
    while (ops->generation == seen)
        if (pthread_cond_timedwait(&ops->changed, &ops->lock, &until) == ETIMEDOUT)
            break;
    uint64_t g = ops->generation;
    pthread_mutex_unlock(&ops->lock);
    return g;
}

void mgmt_op_progress(MgmtOp *op, json_t *progress)
{
    MgmtOps *ops = op->ops;
    pthread_mutex_lock(&ops->lock);
    json_decref(op->progress);
    op->progress = progress;
    op->updated = clock_real_s();
    json_t *obj = op_json_full(op);
    pthread_mutex_unlock(&ops->lock);
    notify(ops, "operation-updated", obj);
}

const atomic_bool *mgmt_op_cancel_flag(MgmtOp *op)
{
    return &op->cancel;
}

bool mgmt_op_cancelled(const MgmtOp *op)
{
    return atomic_load(&((MgmtOp *)op)->cancel);
}

/* ---- open, free ---- */

/* One document found at open: kept as a finished operation (an interrupted one failed). */
static void load_one(MgmtOps *ops, const char *file)
{
    char path[PATH_MAX + 300];
    snprintf(path, sizeof(path), "%s/%s", ops->dir, file);
    json_t *j = json_load_file(path, 0, NULL);
    const char *id = json_string_value(json_object_get(j, "id"));
    const char *status = json_string_value(json_object_get(j, "status"));
    MgmtOp *op = j && id && status && mgmt_uuid_check(id) ? calloc(1, sizeof(*op)) : NULL;
    if (!op) { /* not one of ours, or torn: it is only a record, drop it */
        json_decref(j);
        unlink(path);
        return;
    }
    op->ops = ops;
    snprintf(op->id, sizeof(op->id), "%s", id);
    op->description = strdup(json_string_value(json_object_get(j, "description")) ?: "");
    json_t *res = json_array_get(json_object_get(j, "resources"), 0);
    op->resource = strdup(json_string_value(res) ?: "");
    op->uid = (uid_t)json_integer_value(json_object_get(j, "uid"));
    op->status = OP_FAILURE;
    for (int s = OP_SUCCESS; s <= OP_CANCELLED; s++)
        if (strcmp(status, status_names[s]) == 0)
            op->status = s;
    op->created = op->updated = clock_real_s();
    op->result = json_incref(json_object_get(j, "result"));
    snprintf(op->err, sizeof(op->err), "%s", json_string_value(json_object_get(j, "err")) ?: "");
    if (strcmp(status, "running") == 0) {
        snprintf(op->err, sizeof(op->err), "interrupted: hosteld stopped while it ran");
        op_save(ops, op);
    }
    json_decref(j);
    op->next = ops->head;
    ops->head = op;
}

static int ops_load(MgmtOps *ops, Error *err)
{
    DIR *d = opendir(ops->dir);
    if (!d)
        return error_set_errno(err, errno, "cannot read %.200s", ops->dir);
    struct dirent *e;
    while ((e = readdir(d))) {
        size_t n = strlen(e->d_name);
        if (e->d_name[0] == '.' && n > 4 && strcmp(e->d_name + n - 4, ".tmp") == 0) {
            char path[PATH_MAX + 300];
            snprintf(path, sizeof(path), "%s/%s", ops->dir, e->d_name);
            unlink(path); /* a write that a crash interrupted */
        } else if (n > 5 && strcmp(e->d_name + n - 5, ".json") == 0) {
            load_one(ops, e->d_name);
        }
    }
    closedir(d);
    ops_prune(ops);
    return 0;
}

int mgmt_ops_new(MgmtOps **out, const char *dir, MgmtNotifyFn *notify_fn, void *notify_ctx,
                 Error *err)
{
    MgmtOps *ops = calloc(1, sizeof(*ops));
    if (!ops)
        return error_set(err, "out of memory");
    int n = snprintf(ops->dir, sizeof(ops->dir), "%s/operations", dir);
    if (n < 0 || (size_t)n >= sizeof(ops->dir) || (mkdir(ops->dir, 0750) < 0 && errno != EEXIST)) {
        error_set_errno(err, errno, "cannot make %.200s/operations", dir);
        free(ops);
        return -1;
    }
    ops->notify = notify_fn;
    ops->notify_ctx = notify_ctx;
    pthread_mutex_init(&ops->lock, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&ops->changed, &ca);
    pthread_condattr_destroy(&ca);
    if (ops_load(ops, err) < 0) {
        mgmt_ops_free(ops, 0);
        return -1;
    }
    *out = ops;
    return 0;
}

bool mgmt_ops_free(MgmtOps *ops, double timeout_s)
{
    if (!ops)
        return true;
    pthread_mutex_lock(&ops->lock);
    while (ops->running) {
        uint64_t g = ops->generation;
        pthread_mutex_unlock(&ops->lock);
        if (mgmt_ops_wait_change(ops, g, timeout_s) == g)
            return false; /* still running: the caller leaves as it is */
        pthread_mutex_lock(&ops->lock);
    }
    pthread_mutex_unlock(&ops->lock);
    while (ops->head) {
        MgmtOp *op = ops->head;
        ops->head = op->next;
        op_free(op);
    }
    pthread_cond_destroy(&ops->changed);
    pthread_mutex_destroy(&ops->lock);
    free(ops);
    return true;
}
