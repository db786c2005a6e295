/*
 * In-memory BlockFile (see mem_file.h).
 */
#include "mem_file.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

struct MemStore {
    uint8_t *buf;
    size_t len, cap;  /* bytes in use, bytes allocated */
    uint64_t max_len; /* never grow past this */
    uint64_t bytes_read;
    int refs;
};

typedef struct MemFile {
    BlockFile base;
    MemStore *store;
} MemFile;

MemStore *mem_store_new(const void *data, size_t len, uint64_t max_len)
{
    MemStore *s = calloc(1, sizeof(*s));
    if (!s)
        return NULL;
    s->max_len = max_len < len ? len : max_len;
    s->refs = 1;
    if (len) {
        s->buf = malloc(len);
        if (!s->buf) {
            free(s);
            return NULL;
        }
        memcpy(s->buf, data, len);
    }
    s->len = s->cap = len;
    return s;
}

void mem_store_unref(MemStore *s)
{
    if (s && --s->refs == 0) {
        free(s->buf);
        free(s);
    }
}

const uint8_t *mem_store_data(const MemStore *s, size_t *len)
{
    *len = s->len;
    return s->buf;
}

uint64_t mem_store_bytes_read(const MemStore *s)
{
    return s->bytes_read;
}

/* Make the store len bytes long (new bytes read as zeroes). */
static int mem_store_resize(MemStore *s, uint64_t len, const char *name, Error *err)
{
    if (len > s->max_len)
        return error_set_errno(err, ENOSPC, "%s: file would grow to %llu bytes (cap %llu)", name,
                               (unsigned long long)len, (unsigned long long)s->max_len);
    if (len > s->cap) {
        size_t cap = s->cap ? s->cap : 4096;
        while (cap < len)
            cap = cap > (SIZE_MAX >> 1) ? (size_t)len : cap * 2;
        if (cap > s->max_len)
            cap = (size_t)s->max_len;
        uint8_t *nb = realloc(s->buf, cap);
        if (!nb)
            return error_set_errno(err, ENOMEM, "%s: out of memory", name);
        s->buf = nb;
        s->cap = cap;
    }
    if (len > s->len)
        memset(s->buf + s->len, 0, (size_t)len - s->len);
    s->len = (size_t)len;
    return 0;
}

static MemStore *store_of(BlockFile *f)
{
    return ((MemFile *)f)->store;
}

static int mem_preadv(BlockFile *f, uint64_t off, const struct iovec *iov, int iovcnt, Error *err)
{
    MemStore *s = store_of(f);
    for (int i = 0; i < iovcnt; i++) {
        size_t n = iov[i].iov_len;
        size_t have = off < s->len ? s->len - (size_t)off : 0;
        size_t copy = n < have ? n : have;
        if (copy)
            memcpy(iov[i].iov_base, s->buf + off, copy);
        memset((uint8_t *)iov[i].iov_base + copy, 0, n - copy);
        off += n;
        s->bytes_read += n;
    }
    return 0;
}

static int mem_pwritev(BlockFile *f, uint64_t off, const struct iovec *iov, int iovcnt, Error *err)
{
    MemStore *s = store_of(f);
    if (f->read_only)
        return error_set_errno(err, EBADF, "%s: write to a read-only file", f->path);
    uint64_t total = 0;
    for (int i = 0; i < iovcnt; i++)
        total += iov[i].iov_len;
    if (off + total < off)
        return error_set_errno(err, EFBIG, "%s: write past 2^64", f->path);
    if (off + total > s->len && mem_store_resize(s, off + total, f->path, err) < 0)
        return -1;
    for (int i = 0; i < iovcnt; i++) {
        memcpy(s->buf + off, iov[i].iov_base, iov[i].iov_len);
        off += iov[i].iov_len;
    }
    return 0;
}

static int mem_sync(BlockFile *f, Error *err)
{
    return 0;
}

static int mem_truncate(BlockFile *f, uint64_t len, Error *err)
{
    if (f->read_only)
        return error_set_errno(err, EBADF, "%s: truncate of a read-only file", f->path);
    return mem_store_resize(store_of(f), len, f->path, err);
}

static int mem_punch(BlockFile *f, uint64_t off, uint64_t len, Error *err)
{
    MemStore *s = store_of(f);
    if (f->read_only)
        return error_set_errno(err, EBADF, "%s: punch in a read-only file", f->path);
    if (off >= s->len)
        return 0; /* like FALLOC_FL_KEEP_SIZE: nothing past the end */
    size_t n = len < s->len - off ? (size_t)len : s->len - (size_t)off;
    memset(s->buf + off, 0, n);
    return 0;
}

static uint64_t mem_length(BlockFile *f)
{
    return store_of(f)->len;
}

static void mem_close(BlockFile *f)
{
    mem_store_unref(store_of(f));
    free(f->path);
    free(f);
}

static const BlockFileOps mem_file_ops = {
    .preadv = mem_preadv,
    .pwritev = mem_pwritev,
    .sync = mem_sync,
    .truncate = mem_truncate,
    .punch = mem_punch,
    .length = mem_length,
    .allocated = mem_length,
    .close = mem_close,
};

BlockFile *mem_file_open(MemStore *s, const char *name, bool read_only)
{
    MemFile *m = calloc(1, sizeof(*m));
    char *path = strdup(name);
    if (!m || !path) {
        free(m);
        free(path);
        return NULL;
    }
    s->refs++;
    m->store = s;
    m->base = (BlockFile){.ops = &mem_file_ops, .path = path, .fd = -1, .read_only = read_only};
    return &m->base;
}

MemStore *mem_file_store(BlockFile *f)
{
    return f && f->ops == &mem_file_ops ? store_of(f) : NULL;
}
