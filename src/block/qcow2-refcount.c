/*
 * qcow2 refcounts: the refcount table (in memory), refcount blocks (in the
 * refcount-block cache) of any width 1..64 bits, the first-fit cluster
 * allocator, growing the table, and deferred frees.
 *
 * A missing refcount block goes to a free cluster that an existing block
 * already covers, when there is one (its refcount is then set there);
 * otherwise it is created at the first cluster of the range it covers
 * (cluster b << refblock_bits), where it can describe itself.  Placing it
 * inside its own range every time would cut every run of free clusters at
 * block boundaries: with narrow blocks (64-bit refcounts, 512-byte
 * clusters: 64 clusters a block) a contiguous run of 64 clusters could
 * never be found, and the allocator would chase it forever.
 */
#include "block/qcow2.h"

#include <stdlib.h>
#include <string.h>

int qcow2_refcount_init(Qcow2 *q, Error *err)
{
    q->refcount_table = calloc(q->reftable_entries, 8);
    if (!q->refcount_table)
        return error_set(err, "out of memory loading the refcount table");
    if (block_file_pread(q->file, q->refcount_table_offset, q->refcount_table,
                         q->reftable_entries * 8, err) < 0)
        return -1;
    for (uint64_t i = 0; i < q->reftable_entries; i++)
        q->refcount_table[i] = qcow2_be64((const uint8_t *)&q->refcount_table[i]);
    qcow2_reftable_used(q);
    return 0;
}

void qcow2_reftable_used(Qcow2 *q)
{
    uint64_t n = q->reftable_entries;
    while (n && !(q->refcount_table[n - 1] & QCOW2_REFT_OFFSET_MASK))
        n--;
    q->reftable_used = n;
}

static uint64_t rb_entry_get(const Qcow2 *q, const uint8_t *rb, uint64_t i)
{
    uint32_t w = q->refcount_bits;
    if (w < 8)
        return (rb[i * w / 8] >> (i * w % 8)) & ((1u << w) - 1);
    uint64_t v = 0;
    for (uint32_t k = 0; k < w / 8; k++)
        v = (v << 8) | rb[i * (w / 8) + k];
    return v;
}

static void rb_entry_set(const Qcow2 *q, uint8_t *rb, uint64_t i, uint64_t v)
{
    uint32_t w = q->refcount_bits;
    if (w < 8) {
        uint8_t *p = &rb[i * w / 8];
        unsigned sh = (unsigned)(i * w % 8), mask = ((1u << w) - 1) << sh;
        *p = (uint8_t)((*p & ~mask) | ((unsigned)v << sh));
        return;
    }
    for (int k = (int)(w / 8) - 1; k >= 0; k--, v >>= 8)
        rb[i * (w / 8) + (unsigned)k] = (uint8_t)v;
}

/* Host offset of refcount block b, 0 if there is none. */
static int rb_offset(Qcow2 *q, uint64_t b, uint64_t *off, Error *err)
{
    *off = 0;
    if (b >= q->reftable_entries)
        return 0;
    uint64_t e = q->refcount_table[b];
    if (e & ~QCOW2_REFT_OFFSET_MASK & 0x1ff)
        return qcow2_corrupt(q, err, "refcount table entry %llu has reserved bits set",
                             (unsigned long long)b);
    e &= QCOW2_REFT_OFFSET_MASK;
    if (e && ((e & (q->cluster_size - 1)) || e >= QCOW2_MAX_OFFSET || e < q->cluster_size))
        return qcow2_corrupt(q, err, "refcount block %llu at bad offset 0x%llx",
                             (unsigned long long)b, (unsigned long long)e);
    *off = e;
    return 0;
}

int qcow2_refcount_get(Qcow2 *q, uint64_t idx, uint64_t *refcount, Error *err)
{
    uint64_t off;
    *refcount = 0;
    if (rb_offset(q, idx >> q->refblock_bits, &off, err) < 0)
        return -1;
    if (!off)
        return 0;
    const uint8_t *rb = qcow2_cache_get(q, &q->rb_cache, off, false, err);
    if (!rb)
        return -1;
    *refcount = rb_entry_get(q, rb, idx & ((1ull << q->refblock_bits) - 1));
    return 0;
}

static int write_reftable_entry(Qcow2 *q, uint64_t b, Error *err)
{
    uint8_t e[8];
    qcow2_put_be64(e, q->refcount_table[b]);
    return block_file_pwrite(q->file, q->refcount_table_offset + b * 8, e, 8, err);
}

/*
 * A new refcount table at the first uncovered cluster S, followed by the
 * blocks covering the table and themselves; then the header points to it
 * and the old table is freed.
 */
static int grow_reftable(Qcow2 *q, uint64_t need_b, Error *err)
{
    uint64_t per_block = 1ull << q->refblock_bits, cs = q->cluster_size;
    uint64_t s = q->reftable_entries * per_block, first_b = q->reftable_entries;
    uint64_t want = need_b + 1 > first_b + first_b / 2 ? need_b + 1 : first_b + first_b / 2 + 1;
    uint64_t t = 0, k = 1, n = 0;
    for (int iter = 0; iter < 64; iter++) {
        n = want > first_b + k ? want : first_b + k;
        t = (n * 8 + cs - 1) / cs;
        uint64_t k2 = (t + k + per_block - 1) / per_block;
        if (k2 == k)
            break;
        k = k2;
    }
    n = t * cs / 8;
    if (t * cs > QCOW2_MAX_REFTABLE_BYTES || (s + t + k) >= (QCOW2_MAX_OFFSET >> q->cluster_bits))
        return error_set(err, "%s: the refcount table would grow past its limit", q->file->path);
    uint64_t *tab = calloc(n, 8);
    uint8_t *buf = calloc(1, t * cs > cs ? t * cs : cs);
    int rc = -1;
    if (!tab || !buf) {
        error_set(err, "out of memory growing the refcount table");
        goto out;
    }
    memcpy(tab, q->refcount_table, q->reftable_entries * 8);
    for (uint64_t j = 0; j < k; j++) {
        memset(buf, 0, cs);
        for (uint64_t c = (first_b + j) * per_block; c < (first_b + j + 1) * per_block; c++) {
            if (c < s + t + k)
                rb_entry_set(q, buf, c - (first_b + j) * per_block, 1);
        }
        tab[first_b + j] = (s + t + j) * cs;
        if (block_file_pwrite(q->file, (s + t + j) * cs, buf, cs, err) < 0)
            goto out;
    }
    for (uint64_t i = 0; i < n; i++)
        qcow2_put_be64(buf + i * 8, tab[i]);
    if (block_file_pwrite(q->file, s * cs, buf, t * cs, err) < 0 ||
        block_file_sync(q->file, err) < 0)
        goto out;
    uint64_t old_off = q->refcount_table_offset, old_bytes = q->reftable_entries * 8;
    uint64_t *old_tab = q->refcount_table;
    uint32_t old_clusters = q->refcount_table_clusters;
    q->refcount_table = tab;
    q->refcount_table_offset = s * cs;
    q->refcount_table_clusters = (uint32_t)t;
    q->reftable_entries = n;
    qcow2_reftable_used(q);
    if (qcow2_write_header(q, err) < 0) {
        q->refcount_table = old_tab;
        q->refcount_table_offset = old_off;
        q->refcount_table_clusters = old_clusters;
        q->reftable_entries = old_bytes / 8;
        qcow2_reftable_used(q);
        goto out;
    }
    tab = old_tab;
    rc = qcow2_refcount_update(q, old_off, old_bytes, -1, err);
out:
    free(tab);
    free(buf);
    return rc;
}

/* A free cluster whose refcount block exists already: 1 and *idx, 0 if none, -1. */
static int find_covered_free(Qcow2 *q, uint64_t *idx, Error *err)
{
    uint64_t limit = q->reftable_entries << q->refblock_bits;
    for (uint64_t i = q->free_hint ? q->free_hint : 1; i < limit; i++) {
        uint64_t b = i >> q->refblock_bits, off, rc;
        if (rb_offset(q, b, &off, err) < 0)
            return -1;
        if (!off) {
            i = ((b + 1) << q->refblock_bits) - 1; /* a missing block: skip its range */
            continue;
        }
        if (qcow2_refcount_get(q, i, &rc, err) < 0)
            return -1;
        if (rc == 0) {
            *idx = i;
            return 1;
        }
    }
    return 0;
}

/* Make sure refcount block b exists (see the file comment for where it goes). */
static int ensure_block(Qcow2 *q, uint64_t b, bool *created, Error *err)
{
    uint64_t off;
    if (b >= q->reftable_entries) {
        if (grow_reftable(q, b, err) < 0)
            return -1;
        if (created)
            *created = true; /* the new table and blocks took clusters */
    }
    if (rb_offset(q, b, &off, err) < 0)
        return -1;
    if (off)
        return 0;
    uint64_t x = 0;
    int covered = find_covered_free(q, &x, err);
    if (covered < 0)
        return -1;
    off = covered ? x << q->cluster_bits : b << (q->refblock_bits + q->cluster_bits);
    if (off >= QCOW2_MAX_OFFSET)
        return error_set(err, "%s: image is full", q->file->path);
    uint8_t *rb = qcow2_cache_get(q, &q->rb_cache, off, true, err);
    if (!rb)
        return -1;
    if (!covered)
        rb_entry_set(q, rb, 0, 1); /* it counts itself */
    qcow2_cache_mark_dirty(&q->rb_cache, rb);
    if (covered && qcow2_refcount_set(q, x, 1, err) < 0) /* counted by its neighbour */
        return -1;
    if (qcow2_cache_write(q, &q->rb_cache, err) < 0 || block_file_sync(q->file, err) < 0)
        return -1;
    q->refcount_table[b] = off;
    if (b >= q->reftable_used)
        q->reftable_used = b + 1;
    if (write_reftable_entry(q, b, err) < 0 || block_file_sync(q->file, err) < 0)
        return -1;
    if (created)
        *created = true;
    return 0;
}

int qcow2_refcount_set(Qcow2 *q, uint64_t idx, uint64_t refcount, Error *err)
{
    uint64_t b = idx >> q->refblock_bits, off;
    if (refcount > q->refcount_max)
        return qcow2_corrupt(q, err, "refcount of cluster %llu overflows %u bits",
                             (unsigned long long)idx, q->refcount_bits);
    if (ensure_block(q, b, NULL, err) < 0 || rb_offset(q, b, &off, err) < 0)
        return -1;
    uint8_t *rb = qcow2_cache_get(q, &q->rb_cache, off, false, err);
    if (!rb)
        return -1;
    rb_entry_set(q, rb, idx & ((1ull << q->refblock_bits) - 1), refcount);
    qcow2_cache_mark_dirty(&q->rb_cache, rb);
    q->l2_needs_sync = true;
    if (refcount == 0) {
        /* A freed cluster may come back holding anything else. */
        q->dec_valid = false;
        if (q->compress_off >> q->cluster_bits == idx)
            q->compress_off = 0;
        if (idx < q->free_hint)
            q->free_hint = idx;
    }
    return 0;
}

int qcow2_refcount_update(Qcow2 *q, uint64_t off, uint64_t len, int64_t delta, Error *err)
{
    if (len == 0)
        return 0;
    uint64_t first = off >> q->cluster_bits, last = (off + len - 1) >> q->cluster_bits;
    uint64_t punch_start = 0, punch_n = 0;
    for (uint64_t idx = first; idx <= last; idx++) {
        uint64_t rc;
        if (qcow2_refcount_get(q, idx, &rc, err) < 0)
            return -1;
        if ((delta < 0 && rc < (uint64_t)-delta) ||
            (delta > 0 && q->refcount_max - rc < (uint64_t)delta))
            return qcow2_corrupt(q, err, "refcount of cluster 0x%llx would %s",
                                 (unsigned long long)(idx << q->cluster_bits),
                                 delta < 0 ? "drop below 0" : "overflow");
        if (qcow2_refcount_set(q, idx, rc + (uint64_t)delta, err) < 0)
            return -1;
        if (rc + (uint64_t)delta == 0) {
            qcow2_cache_forget(&q->l2_cache, idx << q->cluster_bits);
            if (punch_n && punch_start + punch_n == idx) {
                punch_n++;
            } else {
                if (punch_n && q->file->ops->punch(q->file, punch_start << q->cluster_bits,
                                                   punch_n << q->cluster_bits, NULL) < 0)
                    punch_n = 0; /* punching is only a space optimisation */
                punch_start = idx;
                punch_n = 1;
            }
        }
    }
    if (punch_n)
        q->file->ops->punch(q->file, punch_start << q->cluster_bits, punch_n << q->cluster_bits,
                            NULL);
    return 0;
}

/* First run of n free clusters at or after the hint (blocks may be missing: all free). */
static int find_free(Qcow2 *q, uint64_t n, uint64_t *start, Error *err)
{
    if (q->free_hint == 0)
        q->free_hint = 1; /* cluster 0 is the header, whatever its refcount says */
    uint64_t limit = QCOW2_MAX_OFFSET >> q->cluster_bits, run = 0, idx = q->free_hint;
    /* Refcounts that claim everything far past the end of the file are lying. */
    uint64_t sane = (block_file_length(q->file) >> q->cluster_bits) + (1ull << 22);
    for (; idx < limit; idx++) {
        uint64_t rc;
        if (qcow2_refcount_get(q, idx, &rc, err) < 0)
            return -1;
        if (rc) {
            if (idx > sane && idx > q->free_hint + (1ull << 22))
                return qcow2_corrupt(q, err,
                                     "refcounts claim clusters far past the end of "
                                     "the file");
            if (run == 0 && idx == q->free_hint)
                q->free_hint = idx + 1;
            run = 0;
            continue;
        }
        if (++run == n) {
            *start = idx + 1 - n;
            return 0;
        }
    }
    return error_set(err, "%s: image is full", q->file->path);
}

int64_t qcow2_alloc_clusters(Qcow2 *q, uint64_t bytes, Error *err)
{
    uint64_t n = (bytes + q->cluster_size - 1) >> q->cluster_bits, s = 0;
    if (n == 0)
        n = 1;
    for (;;) {
        if (find_free(q, n, &s, err) < 0)
            return -1;
        bool created = false;
        uint64_t b0 = s >> q->refblock_bits, b1 = (s + n - 1) >> q->refblock_bits;
        for (uint64_t b = b0; b <= b1; b++) {
            if (ensure_block(q, b, &created, err) < 0)
                return -1;
        }
        if (!created)
            break; /* else a new block may sit inside the run: look again */
    }
    for (uint64_t i = 0; i < n; i++) {
        if (qcow2_refcount_set(q, s + i, 1, err) < 0)
            return -1;
    }
    if (q->free_hint == s)
        q->free_hint = s + n;
    return (int64_t)(s << q->cluster_bits);
}

int qcow2_free_later(Qcow2 *q, uint64_t off, uint64_t len, Error *err)
{
    if (len == 0)
        return 0;
    uint64_t cmask = q->cluster_size - 1;
    /* Only whole clusters merge: two compressed extents sharing a cluster drop two refs. */
    if (q->nb_pending && !((off | len) & cmask)) {
        Qcow2Free *last = &q->pending[q->nb_pending - 1];
        if (!((last->off | last->len) & cmask) && last->off + last->len == off) {
            last->len += len;
            return 0;
        }
    }
    if (q->nb_pending == QCOW2_MAX_PENDING_FREES && qcow2_flush_metadata(q, false, err) < 0)
        return -1;
    q->pending[q->nb_pending++] = (Qcow2Free){.off = off, .len = len};
    return 0;
}

int qcow2_flush_metadata(Qcow2 *q, bool sync, Error *err)
{
    bool need_sync = false;
    if (q->rb_cache.ndirty) {
        if (qcow2_cache_write(q, &q->rb_cache, err) < 0)
            return -1;
        need_sync = true;
    }
    if (q->l2_cache.ndirty) {
        if (qcow2_cache_write(q, &q->l2_cache, err) < 0)
            return -1;
        need_sync = true;
    }
    if (q->nb_pending) {
        if (need_sync && block_file_sync(q->file, err) < 0)
            return -1;
        int n = q->nb_pending;
        q->nb_pending = 0;
        for (int i = 0; i < n; i++) {
            if (qcow2_refcount_update(q, q->pending[i].off, q->pending[i].len, -1, err) < 0)
                return -1;
        }
        if (qcow2_cache_write(q, &q->rb_cache, err) < 0)
            return -1;
    }
    return sync ? block_file_sync(q->file, err) : 0;
}
