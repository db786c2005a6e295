/*
 * Compressed clusters: raw deflate (zlib, 4 KiB window like QEMU) or zstd
 * frames.  Reading inflates into exactly one cluster and treats anything
 * else as corruption; writing packs compressed clusters byte by byte into
 * shared host clusters, each sharing one counted in its refcount.
 */
#include "block/qcow2.h"

#include <string.h>
#include <zlib.h>
#include <zstd.h>

static int inflate_zlib(Qcow2 *q, const uint8_t *in, size_t len, uint8_t *out)
{
    z_stream s = {0};
    if (inflateInit2(&s, -15) != Z_OK)
        return -1;
    s.next_in = (Bytef *)in;
    s.avail_in = (uInt)len;
    s.next_out = out;
    s.avail_out = (uInt)q->cluster_size;
    int r = inflate(&s, Z_FINISH);
    bool full = s.avail_out == 0 && (r == Z_STREAM_END || r == Z_BUF_ERROR || r == Z_OK);
    inflateEnd(&s);
    return full ? 0 : -1;
}

static int inflate_zstd(Qcow2 *q, const uint8_t *in, size_t len, uint8_t *out)
{
    if (!q->zstd_dctx) {
        q->zstd_dctx = ZSTD_createDCtx();
        if (!q->zstd_dctx)
            return -1;
        /* Bound what a hostile frame can make us allocate. */
        ZSTD_DCtx_setParameter(q->zstd_dctx, ZSTD_d_windowLogMax, 22);
    }
    ZSTD_DCtx_reset(q->zstd_dctx, ZSTD_reset_session_only);
    ZSTD_inBuffer ib = {in, len, 0};
    ZSTD_outBuffer ob = {out, q->cluster_size, 0};
    while (ob.pos < ob.size) {
        size_t r = ZSTD_decompressStream(q->zstd_dctx, &ob, &ib);
        if (ZSTD_isError(r) || (ib.pos == ib.size && ob.pos < ob.size))
            return -1;
        if (r == 0 && ob.pos < ob.size)
            return -1; /* the frame ended short of a cluster */
    }
    return 0;
}

int qcow2_read_compressed(Qcow2 *q, uint64_t l2_entry, uint8_t *out, Error *err)
{
    uint64_t off, len;
    qcow2_compressed_extent(q, l2_entry, &off, &len);
    if (off < q->cluster_size || off + len > QCOW2_MAX_OFFSET)
        return qcow2_corrupt(q, err, "compressed cluster at bad offset 0x%llx",
                             (unsigned long long)off);
    if (block_file_pread(q->file, off, q->comp_buf, (size_t)len, err) < 0)
        return -1;
    int r = q->compression_type == QCOW2_COMPRESS_ZSTD
                ? inflate_zstd(q, q->comp_buf, (size_t)len, out)
                : inflate_zlib(q, q->comp_buf, (size_t)len, out);
    if (r < 0)
        return qcow2_corrupt(q, err,
                             "compressed cluster at 0x%llx does not inflate to a "
                             "cluster",
                             (unsigned long long)off);
    return 0;
}

/* Compress one cluster into out (< cluster_size bytes); 0 when it would not get smaller. */
static size_t deflate_cluster(Qcow2 *q, const uint8_t *in, uint8_t *out)
{
    size_t cap = q->cluster_size - 1;
    if (q->compression_type == QCOW2_COMPRESS_ZSTD) {
        if (!q->zstd_cctx && !(q->zstd_cctx = ZSTD_createCCtx()))
            return 0;
        size_t r = ZSTD_compress2(q->zstd_cctx, out, cap, in, q->cluster_size);
        return ZSTD_isError(r) ? 0 : r;
    }
    z_stream s = {0};
    if (deflateInit2(&s, Z_DEFAULT_COMPRESSION, Z_DEFLATED, -12, 9, Z_DEFAULT_STRATEGY) != Z_OK)
        return 0;
    s.next_in = (Bytef *)in;
    s.avail_in = (uInt)q->cluster_size;
    s.next_out = out;
    s.avail_out = (uInt)cap;
    int r = deflate(&s, Z_FINISH);
    size_t n = cap - s.avail_out;
    deflateEnd(&s);
    return r == Z_STREAM_END ? n : 0;
}

/* May one more compressed cluster start in (or spill from) the cluster holding off? */
static int can_share(Qcow2 *q, uint64_t off, bool *ok, Error *err)
{
    uint64_t rc;
    *ok = false;
    if (!off || !(off & (q->cluster_size - 1)))
        return 0;
    if (qcow2_refcount_get(q, off >> q->cluster_bits, &rc, err) < 0)
        return -1;
    *ok = rc < q->refcount_max; /* narrow refcounts (1 bit) cannot count sharers */
    return 0;
}

/* Host bytes for n bytes of compressed data: the rest of the current shared cluster or new. */
static int64_t alloc_bytes(Qcow2 *q, size_t n, Error *err)
{
    uint64_t cs = q->cluster_size, cur = q->compress_off, in = cur & (cs - 1);
    bool share;
    if (can_share(q, cur, &share, err) < 0)
        return -1;
    if (!share) {
        cur = 0;
        in = 0;
    }
    if (cur && in && n <= cs - in) {
        if (qcow2_refcount_update(q, cur, 1, 1, err) < 0)
            return -1;
    } else if (cur && in) {
        /* Spill into new clusters: if they follow the current one, the data spans both. */
        int64_t c = qcow2_alloc_clusters(q, n - (cs - in), err);
        if (c < 0)
            return -1;
        if ((uint64_t)c == cur - in + cs) {
            if (qcow2_refcount_update(q, cur, 1, 1, err) < 0)
                return -1;
        } else {
            cur = (uint64_t)c;
        }
    } else {
        int64_t c = qcow2_alloc_clusters(q, n, err);
        if (c < 0)
            return -1;
        cur = (uint64_t)c;
    }
    q->compress_off = (cur + n) & (q->cluster_size - 1) ? cur + n : 0;
    return (int64_t)cur;
}

static int free_old(Qcow2 *q, uint64_t e, Error *err)
{
    if (e & QCOW2_OFLAG_COMPRESSED) {
        uint64_t off, len;
        qcow2_compressed_extent(q, e, &off, &len);
        return qcow2_free_later(q, off, len, err);
    }
    return qcow2_free_later(q, e & QCOW2_L2_OFFSET_MASK, q->cluster_size, err);
}

static int store_compressed(Qcow2 *q, uint64_t offset, const uint8_t *data, size_t clen, Error *err)
{
    int64_t host = alloc_bytes(q, clen, err);
    if (host < 0 || block_file_pwrite(q->file, (uint64_t)host, data, clen, err) < 0)
        return -1;
    uint8_t *l2;
    if (qcow2_l2_for_write(q, offset, &l2, err) < 0)
        return -1;
    uint64_t i = (offset >> q->cluster_bits) & ((1ull << q->l2_bits) - 1), bm;
    uint64_t old = qcow2_l2_get(q, l2, i, &bm);
    unsigned x = 62 - (q->cluster_bits - 8);
    uint64_t sectors = (((uint64_t)host + clen - 1) >> 9) - ((uint64_t)host >> 9);
    qcow2_l2_set(q, l2, i, QCOW2_OFLAG_COMPRESSED | ((uint64_t)host) | (sectors << x), 0);
    qcow2_cache_mark_dirty(&q->l2_cache, l2);
    if ((old & QCOW2_L2_OFFSET_MASK) || (old & QCOW2_OFLAG_COMPRESSED))
        return free_old(q, old, err);
    return 0;
}

int qcow2_write_compressed(BlockDev *bd, uint64_t offset, const void *buf, size_t len, Error *err)
{
    Qcow2 *q = qcow2_of(bd);
    if ((offset & (q->cluster_size - 1)) ||
        (len != q->cluster_size && !(len < q->cluster_size && offset + len == bd->length)))
        return error_set(err, "%s: compressed writes must cover one whole cluster", bd->filename);
    uint8_t *in = q->cow_buf; /* padded to a whole cluster, as QEMU does */
    memcpy(in, buf, len);
    memset(in + len, 0, q->cluster_size - len);
    size_t clen = deflate_cluster(q, in, q->comp_buf);
    if (clen == 0) {
        struct iovec iov = {.iov_base = (void *)buf, .iov_len = len};
        return qcow2_writev(bd, offset, &iov, 1, err);
    }
    q->dec_valid = false;
    return store_compressed(q, offset, q->comp_buf, clen, err);
}

void qcow2_compress_free(Qcow2 *q)
{
    ZSTD_freeDCtx(q->zstd_dctx);
    ZSTD_freeCCtx(q->zstd_cctx);
    q->zstd_dctx = q->zstd_cctx = NULL;
}
