/*
 * qcow2 driver: open (header, tables, caches, backing file), flush, close,
 * info, set_backing and the ops table.  The work is in qcow2-*.c; see
 * qcow2.h for the crash-safety rules they share.
 */
#include "block/qcow2.h"

#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "block/qcow2-check.h"
#include "block/qcow2-snapshot.h"

/* Default L2 cache: enough tables to map 8 GiB, at least 1 MiB, at most 32 MiB. */
#define QCOW2_L2_CACHE_COVER (8ull << 30)
#define QCOW2_L2_CACHE_MIN (1u << 20)
#define QCOW2_L2_CACHE_MAX (32u << 20)

Qcow2 *qcow2_of(BlockDev *bd)
{
    return (Qcow2 *)((char *)bd - offsetof(Qcow2, bd));
}

static int qcow2_probe(const uint8_t *buf, size_t len)
{
    return len >= 4 && memcmp(buf, "QFI\xfb", 4) == 0 ? 100 : 0;
}

int qcow2_begin_write(Qcow2 *q, Error *err)
{
    if (!q->lazy || q->dirty_on_disk)
        return 0;
    if (qcow2_set_incompat(q, QCOW2_INCOMPAT_DIRTY, 0, err) < 0)
        return -1;
    q->dirty_on_disk = true;
    return 0;
}

static void qcow2_free(Qcow2 *q)
{
    qcow2_snapshot_free_table(q);
    qcow2_cache_destroy(&q->l2_cache);
    qcow2_cache_destroy(&q->rb_cache);
    for (int i = 0; i < q->nb_exts; i++)
        free(q->exts[i].data);
    free(q->exts);
    free(q->l1_table);
    free(q->refcount_table);
    free(q->backing_file);
    free(q->backing_fmt);
    free(q->cow_buf);
    free(q->comp_buf);
    free(q->dec_buf);
    qcow2_compress_free(q);
    block_file_close(q->file);
    free(q);
}

static uint64_t l2_cache_bytes(const Qcow2 *q, const BlockOpenOpts *o)
{
    if (o->l2_cache_bytes)
        return o->l2_cache_bytes;
    uint64_t cover = q->size < QCOW2_L2_CACHE_COVER ? q->size : QCOW2_L2_CACHE_COVER;
    uint64_t per_table = 1ull << (q->l2_bits + q->cluster_bits);
    uint64_t bytes = ((cover + per_table - 1) / per_table) << q->cluster_bits;
    if (bytes < QCOW2_L2_CACHE_MIN)
        bytes = QCOW2_L2_CACHE_MIN;
    return bytes > QCOW2_L2_CACHE_MAX ? QCOW2_L2_CACHE_MAX : bytes;
}

static int open_backing(Qcow2 *q, const BlockOpenOpts *o, Error *err)
{
    if (!q->backing_file || o->no_backing)
        return 0;
    char *path = block_backing_path(q->file->path, q->backing_file);
    if (!path)
        return error_set(err, "out of memory");
    BlockOpenOpts o2 = {.format = q->backing_fmt,
                        .read_only = true,
                        .depth = o->depth + 1,
                        .no_lock = o->no_lock,
                        .l2_cache_bytes = o->l2_cache_bytes};
    Error e2 = {0};
    q->bd.backing = block_open_opts(path, &o2, &e2);
    free(path);
    if (!q->bd.backing)
        return error_set(err, "%s: cannot open backing file: %s", q->file->path, e2.msg);
    return 0;
}

/* Read-write open: drop autoclear bits we do not maintain, repair after an unclean close. */
static int open_for_writing(Qcow2 *q, Error *err)
{
    q->lazy = q->compatible_features & QCOW2_COMPAT_LAZY_REFCOUNTS;
    if (q->incompatible_features & QCOW2_INCOMPAT_DIRTY) {
        if (qcow2_check_repair_dirty(q, err) < 0)
            return -1;
        if (qcow2_set_incompat(q, 0, QCOW2_INCOMPAT_DIRTY, err) < 0)
            return -1;
    }
    if (q->autoclear_features) {
        q->autoclear_features = 0; /* e.g. bitmaps: we do not keep them in sync */
        return qcow2_write_header(q, err);
    }
    return 0;
}

static int open_image(Qcow2 *q, const BlockOpenOpts *o, Error *err)
{
    /* A repair may open an image marked corrupt for writing: the check then clears it. */
    if (qcow2_load(q, o->read_only || o->repair, err) < 0)
        return -1;
    q->bd.length = q->size;
    q->bd.cluster_size = (uint32_t)q->cluster_size;
    q->cow_buf = malloc(2 * q->cluster_size);
    q->comp_buf = malloc(2 * q->cluster_size);
    q->dec_buf = malloc(q->cluster_size);
    if (!q->cow_buf || !q->comp_buf || !q->dec_buf)
        return error_set(err, "out of memory opening %s", q->file->path);
    uint64_t l2_bytes = l2_cache_bytes(q, o);
    uint64_t rb_bytes = l2_bytes / 4 > (256u << 10) ? l2_bytes / 4 : (256u << 10);
    if (qcow2_refcount_init(q, err) < 0 ||
        qcow2_cache_init(q, &q->l2_cache, l2_bytes, true, err) < 0 ||
        qcow2_cache_init(q, &q->rb_cache, rb_bytes, false, err) < 0)
        return -1;
    if (qcow2_snapshot_load_table(q, err) < 0)
        return -1;
    if (open_backing(q, o, err) < 0)
        return -1;
    q->bd.read_only = o->read_only;
    return o->read_only ? 0 : open_for_writing(q, err);
}

static BlockDev *qcow2_open(BlockFile *f, const BlockOpenOpts *o, Error *err)
{
    Qcow2 *q = calloc(1, sizeof(*q));
    if (!q) {
        error_set(err, "out of memory opening %s", f->path);
        block_file_close(f);
        return NULL;
    }
    q->file = f;
    q->bd = (BlockDev){.drv = &block_qcow2_driver, .read_only = true, .file = f};
    if (open_image(q, o, err) < 0) {
        block_close(q->bd.backing);
        qcow2_free(q);
        return NULL;
    }
    return &q->bd;
}

static int qcow2_flush(BlockDev *bd, Error *err)
{
    return qcow2_flush_metadata(qcow2_of(bd), true, err);
}

static void qcow2_close(BlockDev *bd)
{
    Qcow2 *q = qcow2_of(bd);
    /* Nothing to report to: on failure the image keeps its dirty bit or leaks clusters. */
    if (!bd->read_only && qcow2_flush_metadata(q, true, NULL) == 0 && q->dirty_on_disk)
        qcow2_set_incompat(q, 0, QCOW2_INCOMPAT_DIRTY, NULL);
    qcow2_free(q);
}

static char *dup_or_null(const char *s)
{
    return s ? strdup(s) : NULL;
}

static int qcow2_info(BlockDev *bd, BlockInfo *info, Error *err)
{
    Qcow2 *q = qcow2_of(bd);
    info->format = "qcow2";
    info->virtual_size = bd->length;
    info->actual_size = q->file->ops->allocated(q->file);
    info->cluster_size = (uint32_t)q->cluster_size;
    info->backing_file = dup_or_null(q->backing_file);
    info->backing_fmt = dup_or_null(q->backing_fmt);
    if (q->backing_file)
        info->full_backing_file = block_backing_path(q->file->path, q->backing_file);
    info->dirty = q->incompatible_features & QCOW2_INCOMPAT_DIRTY;
    info->compat = q->version >= 3 ? "1.1" : "0.10";
    info->lazy_refcounts = q->compatible_features & QCOW2_COMPAT_LAZY_REFCOUNTS;
    info->corrupt = q->incompatible_features & QCOW2_INCOMPAT_CORRUPT;
    info->extended_l2 = q->extended_l2;
    info->refcount_bits = q->refcount_bits;
    info->compression_type = q->compression_type == QCOW2_COMPRESS_ZSTD ? "zstd" : "zlib";
    return qcow2_snapshot_list(bd, &info->snapshots, &info->nb_snapshots, err);
}

static int qcow2_set_backing(BlockDev *bd, const char *file, const char *fmt, Error *err)
{
    Qcow2 *q = qcow2_of(bd);
    if (file && strlen(file) > QCOW2_MAX_BACKING_NAME)
        return error_set(err, "%s: backing file name is too long", bd->filename);
    char *nf = dup_or_null(file), *nfmt = file ? dup_or_null(fmt) : NULL;
    if ((file && !nf) || (file && fmt && !nfmt)) {
        free(nf);
        free(nfmt);
        return error_set(err, "out of memory");
    }
    char *of = q->backing_file, *ofmt = q->backing_fmt;
    q->backing_file = nf;
    q->backing_fmt = nfmt;
    if (qcow2_flush_metadata(q, true, err) < 0 || qcow2_write_header(q, err) < 0) {
        q->backing_file = of;
        q->backing_fmt = ofmt;
        free(nf);
        free(nfmt);
        return -1;
    }
    free(of);
    free(ofmt);
    return 0;
}

const BlockDriver block_qcow2_driver = {
    .format = "qcow2",
    .probe = qcow2_probe,
    .open = qcow2_open,
    .readv = qcow2_readv,
    .writev = qcow2_writev,
    .flush = qcow2_flush,
    .discard = qcow2_discard,
    .write_zeroes = qcow2_write_zeroes,
    .close = qcow2_close,
    .status = qcow2_status,
    .truncate = qcow2_truncate,
    .write_compressed = qcow2_write_compressed,
    .make_empty = qcow2_make_empty,
    .set_backing = qcow2_set_backing,
    .create = qcow2_create,
    .info = qcow2_info,
    .check = qcow2_check,
    .snapshot_create = qcow2_snapshot_create,
    .snapshot_list = qcow2_snapshot_list,
    .snapshot_apply = qcow2_snapshot_apply,
    .snapshot_delete = qcow2_snapshot_delete,
};
