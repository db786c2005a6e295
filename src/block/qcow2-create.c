/*
 * qcow2 image creation, laid out like qemu-img: header in cluster 0, the
 * refcount table in cluster 1, its first block in cluster 2; the image is
 * then opened with the driver and resized, which writes the L1 table
 * (cluster 3 on a small image), and preallocated if asked.
 */
#include "block/qcow2.h"

#include <fcntl.h>
#include <stdlib.h>
#include <string.h>

typedef struct CreateParams {
    uint32_t cluster_bits, version, refcount_order;
    uint64_t size;
    int prealloc; /* 0 off, 1 metadata, 2 falloc, 3 full */
} CreateParams;

static int log2_exact(uint64_t v)
{
    return v && !(v & (v - 1)) ? __builtin_ctzll(v) : -1;
}

static int backing_size(const char *path, const BlockCreateOpts *o, uint64_t *size, Error *err)
{
    char *bp = block_backing_path(path, o->backing_file);
    if (!bp)
        return error_set(err, "out of memory");
    BlockOpenOpts bo = {.format = o->backing_fmt, .read_only = true};
    Error e2 = {0};
    BlockDev *b = block_open_opts(bp, &bo, &e2);
    free(bp);
    if (!b)
        return error_set(err, "%s: cannot open backing file: %s", path, e2.msg);
    *size = block_length(b);
    block_close(b);
    return 0;
}

static int check_opts(const char *path, const BlockCreateOpts *o, CreateParams *p, Error *err)
{
    static const char *const modes[] = {"off", "metadata", "falloc", "full"};
    int cb = log2_exact(o->cluster_size ? o->cluster_size : 65536);
    int ro = log2_exact(o->refcount_bits ? o->refcount_bits : 16);
    p->version = o->compat ? (uint32_t)o->compat : 3;
    if (cb < QCOW2_MIN_CLUSTER_BITS || cb > QCOW2_MAX_CLUSTER_BITS)
        return error_set(err, "cluster size must be a power of two between 512 and 2M");
    if (p->version != 2 && p->version != 3)
        return error_set(err, "compat must be 0.10 or 1.1");
    if (ro < 0 || ro > 6 || (p->version == 2 && ro != 4))
        return error_set(err, "refcount_bits must be a power of two up to 64 (16 with compat "
                              "0.10)");
    if (p->version == 2 && (o->lazy_refcounts || o->extended_l2 ||
                            (o->compression_type && strcmp(o->compression_type, "zlib"))))
        return error_set(err, "lazy_refcounts, extended_l2 and zstd need compat=1.1");
    if (o->extended_l2 && cb < 14)
        return error_set(err, "extended_l2 needs a cluster size of at least 16k");
    if (o->compression_type && strcmp(o->compression_type, "zlib") &&
        strcmp(o->compression_type, "zstd"))
        return error_set(err, "compression_type must be zlib or zstd");
    p->prealloc = -1;
    for (int i = 0; i < 4; i++) {
        if (!o->preallocation || strcmp(o->preallocation, modes[i]) == 0) {
            p->prealloc = o->preallocation ? i : 0;
            break;
        }
    }
    if (p->prealloc < 0)
        return error_set(err, "preallocation must be off, metadata, falloc or full");
    if (p->prealloc && o->backing_file)
        return error_set(err, "a backing file and preallocation cannot be used together");
    p->cluster_bits = (uint32_t)cb;
    p->refcount_order = (uint32_t)ro;
    p->size = o->size;
    if (!p->size && o->backing_file && backing_size(path, o, &p->size, err) < 0)
        return -1;
    p->size = (p->size + 511) & ~511ull;
    if (p->size > QCOW2_MAX_VIRTUAL_SIZE)
        return error_set(err, "image size is too large");
    return 0;
}

/* Refcount 1 for clusters 0, 1, 2 (header, table, this block) in a block of that width. */
static void first_refblock(uint8_t *b, uint32_t order)
{
    uint32_t w = 1u << order;
    for (uint32_t i = 0; i < 3; i++) {
        if (w < 8)
            b[i * w / 8] |= (uint8_t)(1u << (i * w % 8));
        else
            b[(i + 1) * (w / 8) - 1] = 1;
    }
}

static int write_skeleton(const char *path, const BlockCreateOpts *o, const CreateParams *p,
                          Error *err)
{
    Qcow2 *q = calloc(1, sizeof(*q));
    uint64_t cs = 1ull << p->cluster_bits;
    uint8_t *buf = calloc(2, cs);
    int rc = -1;
    if (!q || !buf) {
        error_set(err, "out of memory");
        goto out;
    }
    q->file = block_file_create(path, err);
    if (!q->file)
        goto out;
    q->version = p->version;
    q->cluster_bits = p->cluster_bits;
    q->cluster_size = cs;
    q->refcount_table_offset = cs;
    q->refcount_table_clusters = 1;
    q->refcount_order = p->refcount_order;
    q->compatible_features = o->lazy_refcounts ? QCOW2_COMPAT_LAZY_REFCOUNTS : 0;
    q->extended_l2 = o->extended_l2;
    q->incompatible_features = o->extended_l2 ? QCOW2_INCOMPAT_EXTL2 : 0;
    if (o->compression_type && strcmp(o->compression_type, "zstd") == 0) {
        q->compression_type = QCOW2_COMPRESS_ZSTD;
        q->incompatible_features |= QCOW2_INCOMPAT_COMPRESSION;
    }
    q->backing_file = (char *)o->backing_file;
    q->backing_fmt = (char *)o->backing_fmt;
    qcow2_put_be64(buf, 2 * cs);
    first_refblock(buf + cs, p->refcount_order);
    rc = block_file_pwrite(q->file, cs, buf, 2 * cs, err);
    if (rc == 0)
        rc = qcow2_write_header(q, err); /* syncs */
out:
    if (q)
        block_file_close(q->file);
    free(q);
    free(buf);
    return rc;
}

/* Map every cluster of the disk to a host cluster (metadata preallocation). */
static int prealloc_metadata(Qcow2 *q, Error *err)
{
    uint64_t table = 1ull << (q->l2_bits + q->cluster_bits), cs = q->cluster_size;
    for (uint64_t off = 0; off < q->size; off += table) {
        uint64_t bytes = q->size - off < table ? q->size - off : table;
        uint64_t n = (bytes + cs - 1) >> q->cluster_bits;
        uint8_t *l2;
        if (qcow2_l2_for_write(q, off, &l2, err) < 0)
            return -1;
        int64_t host = qcow2_alloc_clusters(q, n * cs, err);
        if (host < 0 || qcow2_l2_for_write(q, off, &l2, err) < 0)
            return -1;
        for (uint64_t i = 0; i < n; i++)
            qcow2_l2_set(q, l2, i, ((uint64_t)host + i * cs) | QCOW2_OFLAG_COPIED,
                         q->extended_l2 ? QCOW2_BITMAP_ALLOC_ALL : 0);
        qcow2_cache_mark_dirty(&q->l2_cache, l2);
    }
    return qcow2_flush_metadata(q, true, err);
}

/* Give the file its full length: sparse (metadata), reserved (falloc) or written (full). */
static int prealloc_data(Qcow2 *q, int mode, Error *err)
{
    uint64_t start = block_file_length(q->file), end = start;
    Qcow2Map m;
    for (uint64_t off = 0; off < q->size; off += m.len) {
        if (qcow2_map(q, off, q->size - off, &m, err) < 0)
            return -1;
        if (m.type == QCOW2_MAP_DATA && m.host + m.len > end)
            end = (m.host + m.len + q->cluster_size - 1) & ~(q->cluster_size - 1);
    }
    if (mode == 2 && q->file->fd >= 0 && end > start &&
        posix_fallocate(q->file->fd, (off_t)start, (off_t)(end - start)) == 0)
        return 0;
    if (mode >= 2) {
        static const uint8_t zero[65536];
        for (uint64_t o = start; o < end; o += sizeof(zero)) {
            uint64_t n = end - o < sizeof(zero) ? end - o : sizeof(zero);
            if (block_file_pwrite(q->file, o, zero, (size_t)n, err) < 0)
                return -1;
        }
    }
    if (end > block_file_length(q->file) && q->file->ops->truncate(q->file, end, err) < 0)
        return -1;
    return block_file_sync(q->file, err);
}

int qcow2_create(const char *path, const BlockCreateOpts *o, Error *err)
{
    CreateParams p = {0};
    if (check_opts(path, o, &p, err) < 0 || write_skeleton(path, o, &p, err) < 0)
        return -1;
    BlockOpenOpts bo = {.format = "qcow2", .no_backing = true};
    BlockDev *bd = block_open_opts(path, &bo, err);
    if (!bd)
        return -1;
    Qcow2 *q = qcow2_of(bd);
    int rc = p.size ? block_truncate(bd, p.size, err) : 0;
    if (rc == 0 && p.prealloc)
        rc = prealloc_metadata(q, err);
    if (rc == 0 && p.prealloc)
        rc = prealloc_data(q, p.prealloc, err);
    if (rc == 0)
        rc = qcow2_flush_metadata(q, true, err);
    block_close(bd);
    return rc;
}
