/*
 * qcow2 cluster mapping: guest offset -> L1 -> L2 entry -> what the guest
 * sees there (backing, zeroes, host data, compressed data), with every
 * offset taken from the image checked before use; and getting an L2 table
 * ready for writing (allocated, not shared with a snapshot).
 */
#include "block/qcow2.h"

#include <string.h>

#include "block/qcow2-snapshot.h"

int qcow2_l2_offset(Qcow2 *q, uint64_t guest_off, uint64_t *l2_off, Error *err)
{
    uint64_t i = guest_off >> (q->l2_bits + q->cluster_bits);
    *l2_off = 0;
    if (i >= q->l1_size)
        return 0;
    uint64_t e = q->l1_table[i];
    uint64_t off = e & QCOW2_L1_OFFSET_MASK;
    if (e & QCOW2_L1_RESERVED_MASK)
        return qcow2_corrupt(q, err, "L1 entry %llu has reserved bits set", (unsigned long long)i);
    if (off && ((off & (q->cluster_size - 1)) || off < q->cluster_size))
        return qcow2_corrupt(q, err, "L2 table at bad offset 0x%llx (L1 entry %llu)",
                             (unsigned long long)off, (unsigned long long)i);
    *l2_off = off;
    return 0;
}

void qcow2_compressed_extent(const Qcow2 *q, uint64_t l2_entry, uint64_t *off, uint64_t *len)
{
    unsigned x = 62 - (q->cluster_bits - 8);
    *off = l2_entry & ((1ull << x) - 1);
    uint64_t sectors = ((l2_entry >> x) & ((1ull << (q->cluster_bits - 8)) - 1)) + 1;
    *len = sectors * 512 - (*off & 511);
}

int qcow2_entry_check(Qcow2 *q, uint64_t e, Error *err)
{
    uint64_t host = e & QCOW2_L2_OFFSET_MASK;
    if (e & QCOW2_OFLAG_COMPRESSED)
        return 0;
    if (e & QCOW2_L2_RESERVED_MASK & ~(q->extended_l2 ? 0 : QCOW2_OFLAG_ZERO))
        return qcow2_corrupt(q, err, "L2 entry 0x%016llx has reserved bits set",
                             (unsigned long long)e);
    if (host & (q->cluster_size - 1))
        return qcow2_corrupt(q, err, "data cluster at misaligned offset 0x%llx",
                             (unsigned long long)host);
    if (host && host < q->cluster_size)
        return qcow2_corrupt(q, err, "data cluster overlaps the header");
    return 0;
}

static bool overlaps(uint64_t a, uint64_t alen, uint64_t b, uint64_t blen)
{
    return blen && a < b + blen && b < a + alen;
}

/* Tables longer than this are not scanned per write (a cost bound; QEMU checks cached ones). */
#define OVERLAP_SCAN_MAX 65536

int qcow2_overlap_check(Qcow2 *q, uint64_t off, uint64_t len, bool is_l2, Error *err)
{
    uint64_t cs = q->cluster_size;
    const char *what = NULL;
    if (off < cs)
        what = "the header";
    else if (overlaps(off, len, q->l1_table_offset, (uint64_t)q->l1_size * 8))
        what = "the L1 table";
    else if (overlaps(off, len, q->refcount_table_offset,
                      (uint64_t)q->refcount_table_clusters * cs))
        what = "the refcount table";
    else if (q->nb_snapshots &&
             overlaps(off, len, q->snapshots_offset, qcow2_snapshot_table_bytes(q)))
        what = "the snapshot table";
    for (uint64_t i = 0; !what && q->reftable_used <= OVERLAP_SCAN_MAX && i < q->reftable_used;
         i++) {
        uint64_t rb = q->refcount_table[i] & QCOW2_REFT_OFFSET_MASK;
        if (rb && overlaps(off, len, rb, cs))
            what = "a refcount block";
    }
    for (uint32_t i = 0; !what && !is_l2 && q->l1_size <= OVERLAP_SCAN_MAX && i < q->l1_size; i++) {
        uint64_t l2 = q->l1_table[i] & QCOW2_L1_OFFSET_MASK;
        if (l2 && overlaps(off, len, l2, cs))
            what = "an L2 table";
    }
    if (!what)
        return 0;
    return qcow2_corrupt(q, err, "a write to 0x%llx+0x%llx would overlap %s",
                         (unsigned long long)off, (unsigned long long)len, what);
}

/* The state of subcluster j (or the whole cluster without extended L2). */
static int classify(Qcow2 *q, uint64_t e, uint64_t bitmap, unsigned j, Qcow2Map *m, Error *err)
{
    uint64_t host = e & QCOW2_L2_OFFSET_MASK;
    m->entry = e;
    m->host = 0;
    if (e & QCOW2_OFLAG_COMPRESSED) {
        m->type = QCOW2_MAP_COMPRESSED;
        return 0;
    }
    if (qcow2_entry_check(q, e, err) < 0)
        return -1;
    if (!q->extended_l2) {
        m->type = (e & QCOW2_OFLAG_ZERO) ? QCOW2_MAP_ZERO
                  : host                 ? QCOW2_MAP_DATA
                                         : QCOW2_MAP_UNALLOC;
        m->host = host;
        return 0;
    }
    bool alloc = bitmap & (1ull << j), zero = bitmap & (1ull << (32 + j));
    if (alloc && (zero || !host))
        return qcow2_corrupt(q, err, "bad subcluster bitmap 0x%016llx", (unsigned long long)bitmap);
    m->type = alloc ? QCOW2_MAP_DATA : zero ? QCOW2_MAP_ZERO : QCOW2_MAP_UNALLOC;
    m->host = alloc ? host + ((uint64_t)j << q->subcluster_bits) : 0;
    return 0;
}

static bool same_run(const Qcow2Map *a, const Qcow2Map *b, uint64_t dist)
{
    if (a->type != b->type || a->type == QCOW2_MAP_COMPRESSED)
        return false;
    if (a->type == QCOW2_MAP_DATA)
        return b->host == a->host + dist;
    return (a->host != 0) == (b->host != 0); /* preallocated zeroes apart from plain */
}

int qcow2_map(Qcow2 *q, uint64_t off, uint64_t max, Qcow2Map *m, Error *err)
{
    uint64_t l2_off, unit = 1ull << q->subcluster_bits;
    uint64_t table_end = ((off >> (q->l2_bits + q->cluster_bits)) + 1)
                         << (q->l2_bits + q->cluster_bits);
    if (max > table_end - off)
        max = table_end - off;
    if (qcow2_l2_offset(q, off, &l2_off, err) < 0)
        return -1;
    if (!l2_off) {
        *m = (Qcow2Map){.type = QCOW2_MAP_UNALLOC, .len = max};
        return 0;
    }
    const uint8_t *l2 = qcow2_cache_get(q, &q->l2_cache, l2_off, false, err);
    if (!l2)
        return -1;
    uint64_t mask = (1ull << q->l2_bits) - 1, bm, pos = off;
    uint64_t e = qcow2_l2_get(q, l2, (pos >> q->cluster_bits) & mask, &bm);
    unsigned j = (unsigned)((pos >> q->subcluster_bits) & (QCOW2_SUBCLUSTERS - 1));
    if (classify(q, e, bm, q->extended_l2 ? j : 0, m, err) < 0)
        return -1;
    if (m->type == QCOW2_MAP_COMPRESSED) {
        uint64_t rest = q->cluster_size - (off & (q->cluster_size - 1));
        m->len = rest < max ? rest : max;
        return 0;
    }
    if (m->host)
        m->host += pos & (unit - 1);
    pos = (pos | (unit - 1)) + 1;
    while (pos < off + max) {
        Qcow2Map next;
        e = qcow2_l2_get(q, l2, (pos >> q->cluster_bits) & mask, &bm);
        j = (unsigned)((pos >> q->subcluster_bits) & (QCOW2_SUBCLUSTERS - 1));
        if (classify(q, e, bm, q->extended_l2 ? j : 0, &next, err) < 0)
            return -1;
        if (!same_run(m, &next, pos - off))
            break;
        pos += unit;
    }
    m->len = (pos < off + max ? pos : off + max) - off;
    return 0;
}

/* Write a whole L2 table (already in the cache at off) to disk before anything points at it. */
static int publish_l2(Qcow2 *q, uint32_t l1_idx, uint64_t off, const uint8_t *table, Error *err)
{
    if (qcow2_cache_write(q, &q->rb_cache, err) < 0 || block_file_sync(q->file, err) < 0 ||
        block_file_pwrite(q->file, off, table, q->cluster_size, err) < 0 ||
        block_file_sync(q->file, err) < 0)
        return -1;
    q->l1_table[l1_idx] = off | QCOW2_OFLAG_COPIED;
    return qcow2_write_l1_entry(q, l1_idx, err);
}

/* Copy of a shared L2 table (snapshots): ours gets COPIED, data entries lose theirs. */
static int cow_l2(Qcow2 *q, uint32_t l1_idx, uint64_t old, Error *err)
{
    const uint8_t *src = qcow2_cache_get(q, &q->l2_cache, old, false, err);
    if (!src)
        return -1;
    memcpy(q->cow_buf, src, q->cluster_size);
    for (uint64_t i = 0; i < (1ull << q->l2_bits); i++) {
        uint64_t bm, e = qcow2_l2_get(q, q->cow_buf, i, &bm);
        qcow2_l2_set(q, q->cow_buf, i, e & ~QCOW2_OFLAG_COPIED, bm);
    }
    int64_t off = qcow2_alloc_clusters(q, q->cluster_size, err);
    if (off < 0 || publish_l2(q, l1_idx, (uint64_t)off, q->cow_buf, err) < 0)
        return -1;
    uint8_t *t = qcow2_cache_get(q, &q->l2_cache, (uint64_t)off, true, err);
    if (!t)
        return -1;
    memcpy(t, q->cow_buf, q->cluster_size);
    return qcow2_free_later(q, old, q->cluster_size, err);
}

int qcow2_l2_for_write(Qcow2 *q, uint64_t guest_off, uint8_t **l2, Error *err)
{
    uint32_t i = (uint32_t)(guest_off >> (q->l2_bits + q->cluster_bits));
    uint64_t off;
    if (qcow2_l2_offset(q, guest_off, &off, err) < 0)
        return -1;
    if (i >= q->l1_size)
        return qcow2_corrupt(q, err, "write beyond the L1 table");
    if (off && qcow2_overlap_check(q, off, q->cluster_size, true, err) < 0)
        return -1;
    if (off && !(q->l1_table[i] & QCOW2_OFLAG_COPIED)) {
        uint64_t rc;
        if (qcow2_refcount_get(q, off >> q->cluster_bits, &rc, err) < 0)
            return -1;
        if (rc == 0)
            return qcow2_corrupt(q, err, "L2 table at 0x%llx has refcount 0",
                                 (unsigned long long)off);
        if (rc > 1 && cow_l2(q, i, off, err) < 0)
            return -1;
        if (rc == 1) {
            q->l1_table[i] |= QCOW2_OFLAG_COPIED;
            if (qcow2_write_l1_entry(q, i, err) < 0)
                return -1;
        }
    } else if (!off) {
        int64_t n = qcow2_alloc_clusters(q, q->cluster_size, err);
        if (n < 0)
            return -1;
        uint8_t *t = qcow2_cache_get(q, &q->l2_cache, (uint64_t)n, true, err);
        if (!t || publish_l2(q, i, (uint64_t)n, t, err) < 0)
            return -1;
    }
    *l2 = qcow2_cache_get(q, &q->l2_cache, q->l1_table[i] & QCOW2_L1_OFFSET_MASK, false, err);
    return *l2 ? 0 : -1;
}
