/*
 * qcow2 resize: growing may need a larger L1 table (a new one is written,
 * synced, then the header points at it and the old one is freed);
 * shrinking drops every cluster and L2 table past the new end and zeroes
 * the rest of the last cluster, so growing again shows zeroes; growing over
 * a longer backing file zeroes the new area, so the backing data stays hidden.
 */
#include "block/qcow2.h"

#include <stdlib.h>
#include <string.h>

static uint64_t l1_needed(const Qcow2 *q, uint64_t size)
{
    uint64_t per_l2 = 1ull << (q->l2_bits + q->cluster_bits);
    return (size + per_l2 - 1) / per_l2;
}

int qcow2_grow_l1(Qcow2 *q, uint64_t entries, Error *err)
{
    if (entries <= q->l1_size)
        return 0;
    if (entries * 8 > QCOW2_MAX_L1_BYTES)
        return error_set(err, "%s: the L1 table would exceed %u MiB", q->file->path,
                         QCOW2_MAX_L1_BYTES >> 20);
    uint64_t *t = calloc(entries, 8);
    if (!t)
        return error_set(err, "out of memory growing the L1 table");
    memcpy(t, q->l1_table, (size_t)q->l1_size * 8);
    int64_t off = qcow2_alloc_clusters(q, entries * 8, err);
    uint64_t *old = q->l1_table, old_off = q->l1_table_offset, old_n = q->l1_size;
    if (off < 0 || qcow2_flush_metadata(q, true, err) < 0) {
        free(t);
        return -1;
    }
    q->l1_table = t;
    q->l1_table_offset = (uint64_t)off;
    q->l1_size = (uint32_t)entries;
    if (qcow2_write_l1(q, err) < 0 || block_file_sync(q->file, err) < 0 ||
        qcow2_write_header(q, err) < 0) {
        q->l1_table = old;
        q->l1_table_offset = old_off;
        q->l1_size = (uint32_t)old_n;
        free(t);
        return -1;
    }
    free(old);
    return old_n ? qcow2_refcount_update(q, old_off, old_n * 8, -1, err) : 0;
}

/* Drop the L2 tables wholly past `size` (their entries were already dropped). */
static int drop_tables(Qcow2 *q, uint64_t size, Error *err)
{
    for (uint64_t i = l1_needed(q, size); i < q->l1_size; i++) {
        uint64_t off = q->l1_table[i] & QCOW2_L1_OFFSET_MASK;
        if (!off)
            continue;
        q->l1_table[i] = 0;
        if (qcow2_write_l1_entry(q, (uint32_t)i, err) < 0 ||
            qcow2_free_later(q, off, q->cluster_size, err) < 0)
            return -1;
    }
    return 0;
}

static int shrink(Qcow2 *q, uint64_t size, Error *err)
{
    uint64_t cs = q->cluster_size, old = q->bd.length;
    uint64_t cut = (size + cs - 1) & ~(cs - 1);
    if (size < cut && cut <= old && qcow2_write_zeroes(&q->bd, size, cut - size, false, err) < 0)
        return -1;
    if (cut < old && qcow2_make_range_empty(q, cut, old - cut, err) < 0)
        return -1;
    return drop_tables(q, size, err);
}

int qcow2_truncate(BlockDev *bd, uint64_t new_length, Error *err)
{
    Qcow2 *q = qcow2_of(bd);
    if (new_length == bd->length)
        return 0;
    if (new_length % 512)
        return error_set(err, "%s: the new size must be a multiple of 512", bd->filename);
    if (new_length > QCOW2_MAX_VIRTUAL_SIZE)
        return error_set(err, "%s: the new size is too large", bd->filename);
    if (q->nb_snapshots && (q->version < 3 || new_length < bd->length))
        return error_set(err, "%s: cannot %s an image with internal snapshots", bd->filename,
                         new_length < bd->length ? "shrink" : "resize a v2");
    if (qcow2_begin_write(q, err) < 0)
        return -1;
    int rc = new_length > bd->length ? qcow2_grow_l1(q, l1_needed(q, new_length), err)
                                     : shrink(q, new_length, err);
    if (rc < 0 || qcow2_flush_metadata(q, true, err) < 0)
        return -1;
    uint64_t old = bd->length;
    q->size = bd->length = new_length;
    if (qcow2_write_header(q, err) < 0)
        return -1;
    /* The grown area reads as zeroes, as QEMU makes it: a longer backing file must not
     * show through it (it would bring back data from before a shrink). */
    uint64_t below = bd->backing ? bd->backing->length : 0;
    uint64_t end = below < new_length ? below : new_length;
    if (new_length > old && end > old)
        return qcow2_write_zeroes(bd, old, end - old, true, err);
    return 0;
}
