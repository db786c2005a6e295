/*
 * qcow2 operations on ranges of clusters: discard, write-zeroes, make
 * empty, block status and resize.  Whole clusters change their L2 entries
 * (v3 zero flag, or unallocated) and drop their host clusters; partial
 * clusters get zeroes written.
 *
 * Discard follows QEMU: on v3 a discarded cluster reads zeroes when there
 * is a backing file (else it is simply unallocated); on v2 it becomes
 * unallocated, so it shows the backing file's data again (partial clusters
 * too: they get the backing data written, so every byte agrees).
 */
#include "block/qcow2.h"

#include <stdlib.h>
#include <string.h>

enum ZeroMode { ZM_FULL, ZM_DISCARD, ZM_ZERO_UNMAP, ZM_ZERO_KEEP };

static const uint8_t zero_chunk[65536];

static bool in_place(const Qcow2 *q, uint64_t e)
{
    return !(e & QCOW2_OFLAG_COMPRESSED) && (e & QCOW2_L2_OFFSET_MASK) && (e & QCOW2_OFLAG_COPIED);
}

/* Write zero data over [off, off+len), skipping what already reads as zeroes. */
static int zero_data(Qcow2 *q, uint64_t off, uint64_t len, Error *err)
{
    while (len) {
        Qcow2Map m;
        if (qcow2_map(q, off, len, &m, err) < 0)
            return -1;
        bool zero = m.type == QCOW2_MAP_ZERO || (m.type == QCOW2_MAP_UNALLOC && !q->bd.backing);
        uint64_t n = m.len;
        if (!zero) {
            struct iovec v[16];
            int c = 0;
            for (uint64_t k = 0; k < n && c < 16; c++, k += sizeof(zero_chunk)) {
                v[c].iov_base = (void *)zero_chunk;
                v[c].iov_len = n - k < sizeof(zero_chunk) ? n - k : sizeof(zero_chunk);
            }
            n = qcow2_iov_bytes(v, c);
            if (qcow2_writev(&q->bd, off, v, c, err) < 0)
                return -1;
        }
        off += n;
        len -= n;
    }
    return 0;
}

/* v2 discard with a backing file: a partial cluster shows the backing data, like whole ones. */
static int below_data(Qcow2 *q, uint64_t off, uint64_t len, Error *err)
{
    uint8_t *buf = malloc(len);
    if (!buf)
        return error_set(err, "out of memory");
    struct iovec v = {buf, len};
    int rc = qcow2_read_below(q, off, &v, 1, err);
    if (rc == 0)
        rc = qcow2_writev(&q->bd, off, &v, 1, err);
    free(buf);
    return rc;
}

static int partial(Qcow2 *q, enum ZeroMode mode, uint64_t off, uint64_t len, Error *err)
{
    if (mode == ZM_DISCARD && q->version < 3 && q->bd.backing)
        return below_data(q, off, len, err);
    return zero_data(q, off, len, err);
}

/* New entry for a whole cluster; *drop: the old host cluster loses this reference. */
static void zeroed_entry(const Qcow2 *q, enum ZeroMode mode, uint64_t e, uint64_t bm, uint64_t *ne,
                         uint64_t *nbm, bool *drop)
{
    bool unalloc = !(e & (QCOW2_L2_OFFSET_MASK | QCOW2_OFLAG_COMPRESSED));
    bool keep = mode == ZM_ZERO_KEEP && in_place(q, e);
    bool zero =
        q->version >= 3 && mode != ZM_FULL && (q->bd.backing || (mode != ZM_DISCARD && !unalloc));
    *drop = !keep && !unalloc;
    if (!zero) {
        *ne = 0;
        *nbm = 0;
    } else if (q->extended_l2) {
        *ne = keep ? e : 0;
        *nbm = QCOW2_BITMAP_ZERO_ALL;
    } else {
        *ne = (keep ? e : 0) | QCOW2_OFLAG_ZERO;
        *nbm = 0;
    }
}

static int free_entry(Qcow2 *q, uint64_t e, Error *err)
{
    uint64_t off = e & QCOW2_L2_OFFSET_MASK, len = q->cluster_size;
    if (e & QCOW2_OFLAG_COMPRESSED)
        qcow2_compressed_extent(q, e, &off, &len);
    return qcow2_free_later(q, off, len, err);
}

/* Whole clusters [off, off+len) inside one L2 table. */
static int zero_in_table(Qcow2 *q, enum ZeroMode mode, uint64_t off, uint64_t len, Error *err)
{
    uint64_t l2_off;
    if (qcow2_l2_offset(q, off, &l2_off, err) < 0)
        return -1;
    bool unalloc_stays = !q->bd.backing || mode == ZM_FULL || q->version < 3;
    if (!l2_off && unalloc_stays)
        return 0;
    uint8_t *l2;
    if (qcow2_l2_for_write(q, off, &l2, err) < 0)
        return -1;
    uint64_t first = (off >> q->cluster_bits) & ((1ull << q->l2_bits) - 1);
    bool changed = false;
    for (uint64_t i = first; i < first + (len >> q->cluster_bits); i++) {
        uint64_t bm, ne, nbm;
        bool drop;
        uint64_t e = qcow2_l2_get(q, l2, i, &bm);
        zeroed_entry(q, mode, e, bm, &ne, &nbm, &drop);
        if (ne == e && nbm == bm)
            continue;
        qcow2_l2_set(q, l2, i, ne, nbm);
        changed = true;
        if (drop && free_entry(q, e, err) < 0)
            return -1;
    }
    if (changed)
        qcow2_cache_mark_dirty(&q->l2_cache, l2);
    return 0;
}

static int zero_range(Qcow2 *q, enum ZeroMode mode, uint64_t off, uint64_t len, Error *err)
{
    uint64_t cs = q->cluster_size, end = off + len;
    uint64_t a = (off + cs - 1) & ~(cs - 1), b = end & ~(cs - 1);
    if (end == q->bd.length && end > b)
        b = a > end ? a : (end + cs - 1) & ~(cs - 1); /* the image's last partial cluster */
    if (qcow2_begin_write(q, err) < 0)
        return -1;
    q->dec_valid = false;
    if (q->version < 3 && mode >= ZM_ZERO_UNMAP && (q->bd.backing || mode == ZM_ZERO_KEEP))
        return zero_data(q, off, len, err);
    if (a >= b)
        return partial(q, mode, off, len, err);
    if (off < a && partial(q, mode, off, a - off, err) < 0)
        return -1;
    uint64_t table = 1ull << (q->l2_bits + q->cluster_bits);
    for (uint64_t p = a; p < b;) {
        uint64_t n = ((p / table) + 1) * table - p;
        if (n > b - p)
            n = b - p;
        if (zero_in_table(q, mode, p, n, err) < 0)
            return -1;
        p += n;
    }
    return b < end ? partial(q, mode, b, end - b, err) : 0;
}

int qcow2_discard(BlockDev *bd, uint64_t offset, uint64_t len, Error *err)
{
    return zero_range(qcow2_of(bd), ZM_DISCARD, offset, len, err);
}

int qcow2_write_zeroes(BlockDev *bd, uint64_t offset, uint64_t len, bool may_unmap, Error *err)
{
    return zero_range(qcow2_of(bd), may_unmap ? ZM_ZERO_UNMAP : ZM_ZERO_KEEP, offset, len, err);
}

int qcow2_make_range_empty(Qcow2 *q, uint64_t off, uint64_t len, Error *err)
{
    return zero_range(q, ZM_FULL, off, len, err);
}

int qcow2_make_empty(BlockDev *bd, Error *err)
{
    Qcow2 *q = qcow2_of(bd);
    if (zero_range(q, ZM_FULL, 0, bd->length, err) < 0)
        return -1;
    return qcow2_flush_metadata(q, true, err);
}

int qcow2_status(BlockDev *bd, uint64_t offset, uint64_t len, uint64_t *pnum, unsigned *flags,
                 uint64_t *host_off, Error *err)
{
    Qcow2 *q = qcow2_of(bd);
    Qcow2Map m;
    if (qcow2_map(q, offset, len, &m, err) < 0)
        return -1;
    *pnum = m.len;
    *host_off = m.host;
    switch (m.type) {
    case QCOW2_MAP_DATA: *flags = BLOCK_ST_ALLOCATED | BLOCK_ST_DATA | BLOCK_ST_OFFSET; break;
    case QCOW2_MAP_ZERO:
        *flags = BLOCK_ST_ALLOCATED | BLOCK_ST_ZERO | (m.host ? BLOCK_ST_OFFSET : 0);
        break;
    case QCOW2_MAP_COMPRESSED:
        *flags = BLOCK_ST_ALLOCATED | BLOCK_ST_DATA | BLOCK_ST_COMPRESSED;
        *host_off = 0;
        break;
    default: *flags = 0;
    }
    return 0;
}
