/*
 * qcow2 write path.  A request is cut into runs of clusters inside one L2
 * table that one host write can serve: clusters we own (COPIED) and that
 * are host-contiguous are written in place; anything else (unallocated,
 * zero, compressed, shared with a snapshot) gets fresh contiguous clusters,
 * with the untouched head and tail filled from what the guest saw there
 * before (backing file, zeroes, the old cluster).  With extended L2 only
 * the touched subclusters are filled and marked; a cluster copied from a
 * shared or compressed one is copied whole.
 */
#include "block/qcow2.h"

#include <string.h>

#include "util/zero.h"

typedef struct WriteRun {
    uint64_t ws, we; /* guest bytes of the request in this run */
    uint64_t es, ee; /* guest bytes written to the host (request plus fills) */
    uint64_t first;  /* index in the L2 table of the first cluster */
    uint64_t n;      /* clusters */
    uint64_t host;   /* host offset of the first cluster (in place runs) */
    bool alloc;
} WriteRun;

static bool in_place(const Qcow2 *q, uint64_t e)
{
    return !(e & QCOW2_OFLAG_COMPRESSED) && (e & QCOW2_L2_OFFSET_MASK) &&
           (e & QCOW2_OFLAG_COPIED) && (q->extended_l2 || !(e & QCOW2_OFLAG_ZERO));
}

/* A cluster whose contents must be copied whole into its replacement. */
static bool copy_whole(const Qcow2 *q, uint64_t e)
{
    return (e & QCOW2_OFLAG_COMPRESSED) || ((e & QCOW2_L2_OFFSET_MASK) && q->extended_l2);
}

static int plan_run(Qcow2 *q, const uint8_t *l2, uint64_t off, uint64_t len, WriteRun *r,
                    Error *err)
{
    uint64_t cs = q->cluster_size, mask = (1ull << q->l2_bits) - 1, bm;
    r->first = (off >> q->cluster_bits) & mask;
    uint64_t e0 = qcow2_l2_get(q, l2, r->first, &bm);
    if (qcow2_entry_check(q, e0, err) < 0)
        return -1;
    r->alloc = !in_place(q, e0);
    r->host = e0 & QCOW2_L2_OFFSET_MASK;
    uint64_t max_n = (1ull << q->l2_bits) - r->first;
    uint64_t need = (((off & (cs - 1)) + len + cs - 1) >> q->cluster_bits);
    r->n = 1;
    while (r->n < need && r->n < max_n) {
        uint64_t e = qcow2_l2_get(q, l2, r->first + r->n, &bm);
        if (qcow2_entry_check(q, e, err) < 0)
            return -1;
        if (in_place(q, e) == r->alloc)
            break;
        if (!r->alloc && (e & QCOW2_L2_OFFSET_MASK) != r->host + r->n * cs)
            break;
        r->n++;
    }
    uint64_t cb = off & ~(cs - 1), ce = cb + r->n * cs;
    r->ws = off;
    r->we = off + len < ce ? off + len : ce;
    return 0;
}

/* Widen [ws, we) to what must be written: whole clusters or subclusters (see file comment). */
static void widen_run(Qcow2 *q, const uint8_t *l2, WriteRun *r)
{
    uint64_t cs = q->cluster_size, sc = 1ull << q->subcluster_bits, bm;
    uint64_t cb = r->ws & ~(cs - 1), ce = ((r->we - 1) & ~(cs - 1)) + cs;
    uint64_t e_first = qcow2_l2_get(q, l2, r->first, &bm), bm_first = bm;
    uint64_t e_last = qcow2_l2_get(q, l2, r->first + r->n - 1, &bm), bm_last = bm;
    if (!q->extended_l2) {
        r->es = r->alloc ? cb : r->ws;
        r->ee = r->alloc ? ce : r->we;
        return;
    }
    unsigned j0 = (unsigned)((r->ws - cb) >> q->subcluster_bits);
    unsigned j1 = (unsigned)(((r->we - 1) & (cs - 1)) >> q->subcluster_bits);
    if (r->alloc && copy_whole(q, e_first))
        r->es = cb;
    else if (!r->alloc && (bm_first & (1ull << j0)))
        r->es = r->ws;
    else
        r->es = r->ws & ~(sc - 1);
    if (r->alloc && copy_whole(q, e_last))
        r->ee = ce;
    else if (!r->alloc && (bm_last & (1ull << j1)))
        r->ee = r->we;
    else
        r->ee = ((r->we - 1) & ~(sc - 1)) + sc;
}

/* Subclusters of cluster i of the run that [es, ee) covers. */
static uint64_t written_mask(const Qcow2 *q, const WriteRun *r, uint64_t i)
{
    uint64_t cs = q->cluster_size, cb = (r->es & ~(cs - 1)) + i * cs;
    uint64_t a = r->es > cb ? r->es - cb : 0, b = r->ee < cb + cs ? r->ee - cb : cs;
    unsigned j0 = (unsigned)(a >> q->subcluster_bits);
    unsigned j1 = (unsigned)((b - 1) >> q->subcluster_bits);
    return (j1 - j0 == 31) ? QCOW2_BITMAP_ALLOC_ALL : (((1ull << (j1 - j0 + 1)) - 1) << j0);
}

static int free_entry(Qcow2 *q, uint64_t e, Error *err)
{
    if (e & QCOW2_OFLAG_COMPRESSED) {
        uint64_t off, len;
        qcow2_compressed_extent(q, e, &off, &len);
        return qcow2_free_later(q, off, len, err);
    }
    uint64_t host = e & QCOW2_L2_OFFSET_MASK;
    return host ? qcow2_free_later(q, host, q->cluster_size, err) : 0;
}

static int update_entries(Qcow2 *q, uint8_t *l2, const WriteRun *r, Error *err)
{
    bool changed = false;
    for (uint64_t i = 0; i < r->n; i++) {
        uint64_t bm, e = qcow2_l2_get(q, l2, r->first + i, &bm);
        uint64_t w = q->extended_l2 ? written_mask(q, r, i) : 0;
        uint64_t alloc = (r->alloc ? 0 : bm & QCOW2_BITMAP_ALLOC_ALL) | w;
        uint64_t nbm = alloc | (bm & QCOW2_BITMAP_ZERO_ALL & ~(alloc << 32));
        uint64_t ne = r->alloc ? ((r->host + i * q->cluster_size) | QCOW2_OFLAG_COPIED) : e;
        if (ne == e && nbm == bm)
            continue;
        qcow2_l2_set(q, l2, r->first + i, ne, nbm);
        changed = true;
        if (r->alloc && free_entry(q, e, err) < 0)
            return -1;
    }
    if (changed)
        qcow2_cache_mark_dirty(&q->l2_cache, l2);
    return 0;
}

static int write_run(Qcow2 *q, WriteRun *r, const struct iovec *iov, int iovcnt, uint64_t skip,
                     Error *err)
{
    uint64_t cs = q->cluster_size, head = r->ws - r->es, tail = r->ee - r->we;
    struct iovec hv = {q->cow_buf, head}, tv = {q->cow_buf + cs, tail};
    if ((head && qcow2_read_layer(q, r->es, &hv, 1, err) < 0) ||
        (tail && qcow2_read_layer(q, r->we, &tv, 1, err) < 0))
        return -1;
    if (r->alloc) {
        uint64_t eof = block_file_length(q->file);
        int64_t h = qcow2_alloc_clusters(q, r->n * cs, err);
        if (h < 0)
            return -1;
        r->host = (uint64_t)h;
        /* Fresh clusters past the end of the file read as zeroes already: when the guest
         * saw zeroes around the write, size the file over them instead of writing them
         * (a 4 KiB write into a new 64 KiB cluster then writes 4 KiB, as QEMU does). */
        if (r->host >= eof && buf_is_zero(q->cow_buf, head) && buf_is_zero(q->cow_buf + cs, tail)) {
            uint64_t end = r->host + r->n * cs;
            if (block_file_length(q->file) < end && q->file->ops->truncate(q->file, end, err) < 0)
                return -1;
            head = tail = 0;
            r->es = r->ws;
            r->ee = r->we;
            hv.iov_len = tv.iov_len = 0;
        }
    }
    if (!r->alloc &&
        qcow2_overlap_check(q, r->host + (r->es & (cs - 1)), r->ee - r->es, false, err) < 0)
        return -1;
    struct iovec *v = q->iov_scratch;
    int cnt = qcow2_iov_slice(iov, iovcnt, skip, r->we - r->ws, v + 1, BLOCK_MAX_IOV + 2);
    if (cnt < 0)
        return error_set(err, "request with too many buffers");
    v[0] = hv;
    v[cnt + 1] = tv;
    struct iovec *start = head ? v : v + 1;
    int total = cnt + (head ? 1 : 0) + (tail ? 1 : 0);
    return q->file->ops->pwritev(q->file, r->host + (r->es & (cs - 1)), start, total, err);
}

int qcow2_writev(BlockDev *bd, uint64_t offset, const struct iovec *iov, int iovcnt, Error *err)
{
    Qcow2 *q = qcow2_of(bd);
    uint64_t len = qcow2_iov_bytes(iov, iovcnt), done = 0;
    if (qcow2_begin_write(q, err) < 0)
        return -1;
    while (done < len) {
        uint8_t *l2;
        WriteRun r;
        if (qcow2_l2_for_write(q, offset + done, &l2, err) < 0)
            return -1;
        if (plan_run(q, l2, offset + done, len - done, &r, err) < 0)
            return -1;
        widen_run(q, l2, &r);
        if (write_run(q, &r, iov, iovcnt, done, err) < 0 ||
            qcow2_l2_for_write(q, offset + done, &l2, err) < 0 ||
            update_entries(q, l2, &r, err) < 0)
            return -1;
        done += r.we - r.ws;
    }
    return 0;
}
