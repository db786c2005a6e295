/*
 * Fault-injecting BlockFile (see fault_file.h).  The page cache is an
 * in-memory copy of the whole file (a mem_file), the pending log lists the
 * changes made to it since the last completed sync.
 */
#include "fault_file.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mem_file.h"

typedef enum { OP_WRITE, OP_TRUNCATE, OP_PUNCH } OpKind;

typedef struct PendingOp {
    OpKind kind;
    uint64_t off, len; /* truncate: off = new length */
    uint8_t *data;     /* write: len bytes */
} PendingOp;

typedef struct FaultFile {
    BlockFile base;
    BlockFile *lower; /* the disk */
    BlockFile *cache; /* what reads see */
    PendingOp *log;
    size_t nlog, caplog;
    FaultMode mode;
    uint64_t seed;
    uint64_t calls, syncs;
    uint64_t trip; /* crash when calls reaches this */
    bool crashed;
    bool trace; /* print every call and the crash's outcome (FAULT_TRACE=1) */
} FaultFile;

static FaultFile *ff(BlockFile *f)
{
    return (FaultFile *)f;
}

static uint64_t rng_next(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static int log_apply(BlockFile *disk, const PendingOp *op, Error *err)
{
    switch (op->kind) {
    case OP_WRITE: return block_file_pwrite(disk, op->off, op->data, (size_t)op->len, err);
    case OP_TRUNCATE: return disk->ops->truncate(disk, op->off, err);
    case OP_PUNCH: return disk->ops->punch(disk, op->off, op->len, err);
    }
    return error_set(err, "bad pending op");
}

static void log_clear(FaultFile *f)
{
    for (size_t i = 0; i < f->nlog; i++)
        free(f->log[i].data);
    f->nlog = 0;
}

/* Let a random subset of the pending log reach the disk, in random order. */
static void resolve_subset(FaultFile *f)
{
    size_t *order = malloc(f->nlog * sizeof(*order) + 1);
    size_t n = 0;
    if (!order)
        return;
    for (size_t i = 0; i < f->nlog; i++) {
        if (rng_next(&f->seed) & 1)
            order[n++] = i;
    }
    for (size_t i = n; i > 1; i--) {
        size_t j = (size_t)(rng_next(&f->seed) % i);
        size_t t = order[i - 1];
        order[i - 1] = order[j];
        order[j] = t;
    }
    for (size_t i = 0; i < n; i++) {
        const PendingOp *op = &f->log[order[i]];
        if (f->trace)
            fprintf(stderr, "fault: crash keeps op %zu (%d 0x%llx+0x%llx)\n", order[i], op->kind,
                    (unsigned long long)op->off, (unsigned long long)op->len);
        log_apply(f->lower, op, NULL);
    }
    f->lower->ops->sync(f->lower, NULL);
    free(order);
}

void fault_file_crash(BlockFile *bf)
{
    FaultFile *f = ff(bf);
    if (f->crashed)
        return;
    f->crashed = true;
    if (f->mode == FAULT_SUBSET)
        resolve_subset(f);
    log_clear(f);
}

/* Count a mutating call; crash instead if the armed count is reached. */
static int fault_enter(FaultFile *f, Error *err)
{
    if (!f->crashed && f->calls >= f->trip)
        fault_file_crash(&f->base);
    if (f->crashed)
        return error_set_errno(err, EIO, "%s: simulated crash", f->base.path);
    f->calls++;
    return 0;
}

static void fault_trace(FaultFile *f, const char *what, uint64_t off, uint64_t len)
{
    if (f->trace)
        fprintf(stderr, "fault: call %llu %s 0x%llx+0x%llx (op %zu)\n",
                (unsigned long long)f->calls, what, (unsigned long long)off,
                (unsigned long long)len, f->nlog);
}

static int log_push(FaultFile *f, PendingOp op, Error *err)
{
    if (f->nlog == f->caplog) {
        size_t cap = f->caplog ? f->caplog * 2 : 64;
        PendingOp *nl = realloc(f->log, cap * sizeof(*nl));
        if (!nl) {
            free(op.data);
            return error_set_errno(err, ENOMEM, "out of memory");
        }
        f->log = nl;
        f->caplog = cap;
    }
    f->log[f->nlog++] = op;
    return 0;
}

static int fault_preadv(BlockFile *bf, uint64_t off, const struct iovec *iov, int iovcnt,
                        Error *err)
{
    FaultFile *f = ff(bf);
    if (f->crashed)
        return error_set_errno(err, EIO, "%s: simulated crash", bf->path);
    return f->cache->ops->preadv(f->cache, off, iov, iovcnt, err);
}

static int fault_pwritev(BlockFile *bf, uint64_t off, const struct iovec *iov, int iovcnt,
                         Error *err)
{
    FaultFile *f = ff(bf);
    if (fault_enter(f, err) < 0)
        return -1;
    uint64_t len = 0;
    for (int i = 0; i < iovcnt; i++)
        len += iov[i].iov_len;
    fault_trace(f, "write", off, len);
    uint8_t *data = malloc(len ? (size_t)len : 1);
    if (!data)
        return error_set_errno(err, ENOMEM, "out of memory");
    uint8_t *p = data;
    for (int i = 0; i < iovcnt; i++) {
        memcpy(p, iov[i].iov_base, iov[i].iov_len);
        p += iov[i].iov_len;
    }
    if (f->cache->ops->pwritev(f->cache, off, iov, iovcnt, err) < 0) {
        free(data);
        return -1;
    }
    return log_push(f, (PendingOp){.kind = OP_WRITE, .off = off, .len = len, .data = data}, err);
}

static int fault_sync(BlockFile *bf, Error *err)
{
    FaultFile *f = ff(bf);
    if (fault_enter(f, err) < 0)
        return -1;
    fault_trace(f, "sync", 0, 0);
    for (size_t i = 0; i < f->nlog; i++) {
        if (log_apply(f->lower, &f->log[i], err) < 0)
            return -1;
    }
    if (f->lower->ops->sync(f->lower, err) < 0)
        return -1;
    log_clear(f);
    f->syncs++;
    return 0;
}

static int fault_truncate(BlockFile *bf, uint64_t len, Error *err)
{
    FaultFile *f = ff(bf);
    if (fault_enter(f, err) < 0 || f->cache->ops->truncate(f->cache, len, err) < 0)
        return -1;
    fault_trace(f, "truncate", len, 0);
    return log_push(f, (PendingOp){.kind = OP_TRUNCATE, .off = len}, err);
}

static int fault_punch(BlockFile *bf, uint64_t off, uint64_t len, Error *err)
{
    FaultFile *f = ff(bf);
    if (fault_enter(f, err) < 0 || f->cache->ops->punch(f->cache, off, len, err) < 0)
        return -1;
    fault_trace(f, "punch", off, len);
    return log_push(f, (PendingOp){.kind = OP_PUNCH, .off = off, .len = len}, err);
}

static uint64_t fault_length(BlockFile *bf)
{
    return block_file_length(ff(bf)->cache);
}

static void fault_close(BlockFile *bf)
{
    FaultFile *f = ff(bf);
    /* Closing without a crash is a clean shutdown: the page cache reaches the disk. */
    for (size_t i = 0; !f->crashed && i < f->nlog; i++)
        log_apply(f->lower, &f->log[i], NULL);
    log_clear(f);
    free(f->log);
    block_file_close(f->cache);
    block_file_close(f->lower);
    free(bf->path);
    free(f);
}

static const BlockFileOps fault_file_ops = {
    .preadv = fault_preadv,
    .pwritev = fault_pwritev,
    .sync = fault_sync,
    .truncate = fault_truncate,
    .punch = fault_punch,
    .length = fault_length,
    .allocated = fault_length,
    .close = fault_close,
};

/* A mem_file holding lower's current bytes. */
static BlockFile *cache_load(BlockFile *lower, uint64_t max_len, Error *err)
{
    uint64_t len = block_file_length(lower);
    if (len > max_len) {
        error_set(err, "%s: %llu bytes is more than the fault file holds", lower->path,
                  (unsigned long long)len);
        return NULL;
    }
    uint8_t *buf = malloc(len ? (size_t)len : 1);
    MemStore *s = NULL;
    if (buf && block_file_pread(lower, 0, buf, (size_t)len, err) == 0)
        s = mem_store_new(buf, (size_t)len, max_len);
    free(buf);
    BlockFile *cache = s ? mem_file_open(s, lower->path, lower->read_only) : NULL;
    mem_store_unref(s);
    if (!cache)
        error_set(err, "%s: cannot load the file into memory", lower->path);
    return cache;
}

BlockFile *fault_file_wrap(BlockFile *lower, uint64_t max_len, Error *err)
{
    FaultFile *f = calloc(1, sizeof(*f));
    char *path = strdup(lower->path);
    BlockFile *cache = f && path ? cache_load(lower, max_len, err) : NULL;
    if (!cache) {
        if (!f || !path)
            error_set(err, "out of memory");
        free(f);
        free(path);
        block_file_close(lower);
        return NULL;
    }
    f->lower = lower;
    f->cache = cache;
    f->trip = UINT64_MAX;
    f->trace = getenv("FAULT_TRACE") != NULL;
    f->base =
        (BlockFile){.ops = &fault_file_ops, .path = path, .fd = -1, .read_only = lower->read_only};
    return &f->base;
}

void fault_file_set_mode(BlockFile *f, FaultMode mode, uint64_t seed)
{
    ff(f)->mode = mode;
    ff(f)->seed = seed;
}

void fault_file_arm(BlockFile *f, uint64_t n)
{
    FaultFile *x = ff(f);
    x->trip = n == UINT64_MAX || x->calls > UINT64_MAX - n ? UINT64_MAX : x->calls + n;
}

bool fault_file_crashed(BlockFile *f)
{
    return ff(f)->crashed;
}

uint64_t fault_file_calls(BlockFile *f)
{
    return ff(f)->calls;
}

uint64_t fault_file_syncs(BlockFile *f)
{
    return ff(f)->syncs;
}

uint64_t fault_file_pending(BlockFile *f)
{
    return ff(f)->nlog;
}

/* ---- the size cap alone: a pass-through that fails writes past max_len ---- */

typedef struct CapFile {
    BlockFile base;
    BlockFile *lower;
    uint64_t max_len;
} CapFile;

static BlockFile *lower_of(BlockFile *f)
{
    return ((CapFile *)f)->lower;
}

static int cap_check(BlockFile *f, uint64_t end, Error *err)
{
    uint64_t max = ((CapFile *)f)->max_len;
    if (end > max)
        return error_set_errno(err, ENOSPC, "%s: file would grow to %llu bytes (cap %llu)", f->path,
                               (unsigned long long)end, (unsigned long long)max);
    return 0;
}

static int cap_preadv(BlockFile *f, uint64_t off, const struct iovec *iov, int iovcnt, Error *err)
{
    return lower_of(f)->ops->preadv(lower_of(f), off, iov, iovcnt, err);
}

static int cap_pwritev(BlockFile *f, uint64_t off, const struct iovec *iov, int iovcnt, Error *err)
{
    uint64_t len = 0;
    for (int i = 0; i < iovcnt; i++)
        len += iov[i].iov_len;
    if (cap_check(f, off + len < off ? UINT64_MAX : off + len, err) < 0)
        return -1;
    return lower_of(f)->ops->pwritev(lower_of(f), off, iov, iovcnt, err);
}

static int cap_sync(BlockFile *f, Error *err)
{
    return lower_of(f)->ops->sync(lower_of(f), err);
}

static int cap_truncate(BlockFile *f, uint64_t len, Error *err)
{
    if (cap_check(f, len, err) < 0)
        return -1;
    return lower_of(f)->ops->truncate(lower_of(f), len, err);
}

static int cap_punch(BlockFile *f, uint64_t off, uint64_t len, Error *err)
{
    return lower_of(f)->ops->punch(lower_of(f), off, len, err);
}

static uint64_t cap_length(BlockFile *f)
{
    return lower_of(f)->ops->length(lower_of(f));
}

static uint64_t cap_allocated(BlockFile *f)
{
    return lower_of(f)->ops->allocated(lower_of(f));
}

static void cap_close(BlockFile *f)
{
    block_file_close(lower_of(f));
    free(f->path);
    free(f);
}

static const BlockFileOps cap_file_ops = {
    .preadv = cap_preadv,
    .pwritev = cap_pwritev,
    .sync = cap_sync,
    .truncate = cap_truncate,
    .punch = cap_punch,
    .length = cap_length,
    .allocated = cap_allocated,
    .close = cap_close,
};

BlockFile *cap_file_wrap(BlockFile *lower, uint64_t max_len, Error *err)
{
    CapFile *c = calloc(1, sizeof(*c));
    char *path = strdup(lower->path);
    if (!c || !path) {
        free(c);
        free(path);
        block_file_close(lower);
        error_set(err, "out of memory");
        return NULL;
    }
    c->lower = lower;
    c->max_len = max_len;
    c->base = (BlockFile){
        .ops = &cap_file_ops, .path = path, .fd = lower->fd, .read_only = lower->read_only};
    return &c->base;
}
