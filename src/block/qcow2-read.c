/*
 * qcow2 read path: map each extent of the request and serve it from host
 * data (one preadv per host-contiguous run), zeroes, the backing chain or
 * an inflated compressed cluster.
 */
#include "block/qcow2.h"

#include <string.h>

uint64_t qcow2_iov_bytes(const struct iovec *iov, int iovcnt)
{
    uint64_t n = 0;
    for (int i = 0; i < iovcnt; i++)
        n += iov[i].iov_len;
    return n;
}

void qcow2_iov_zero(const struct iovec *iov, int iovcnt)
{
    for (int i = 0; i < iovcnt; i++)
        memset(iov[i].iov_base, 0, iov[i].iov_len);
}

int qcow2_iov_slice(const struct iovec *iov, int iovcnt, uint64_t skip, uint64_t len,
                    struct iovec *out, int max)
{
    int n = 0;
    for (int i = 0; i < iovcnt && len; i++) {
        if (skip >= iov[i].iov_len) {
            skip -= iov[i].iov_len;
            continue;
        }
        uint64_t take = iov[i].iov_len - skip;
        if (take > len)
            take = len;
        if (n == max)
            return -1;
        out[n].iov_base = (uint8_t *)iov[i].iov_base + skip;
        out[n].iov_len = (size_t)take;
        n++;
        len -= take;
        skip = 0;
    }
    return n;
}

static void iov_from_buf(const struct iovec *iov, int iovcnt, const uint8_t *buf)
{
    for (int i = 0; i < iovcnt; i++) {
        memcpy(iov[i].iov_base, buf, iov[i].iov_len);
        buf += iov[i].iov_len;
    }
}

int qcow2_read_below(Qcow2 *q, uint64_t off, const struct iovec *iov, int iovcnt, Error *err)
{
    BlockDev *b = q->bd.backing;
    uint64_t len = qcow2_iov_bytes(iov, iovcnt);
    if (!b || off >= b->length) {
        qcow2_iov_zero(iov, iovcnt);
        return 0;
    }
    if (len <= b->length - off)
        return block_readv(b, off, iov, iovcnt, err);
    /* The backing file ends inside the request: the rest reads as zeroes. */
    struct iovec part[BLOCK_MAX_IOV];
    uint64_t n = b->length - off;
    int c = qcow2_iov_slice(iov, iovcnt, 0, n, part, BLOCK_MAX_IOV);
    if (c < 0 || block_readv(b, off, part, c, err) < 0)
        return c < 0 ? error_set(err, "request with too many buffers") : -1;
    c = qcow2_iov_slice(iov, iovcnt, n, len - n, part, BLOCK_MAX_IOV);
    if (c < 0)
        return error_set(err, "request with too many buffers");
    qcow2_iov_zero(part, c);
    return 0;
}

static int read_compressed_part(Qcow2 *q, const Qcow2Map *m, uint64_t off, const struct iovec *iov,
                                int cnt, Error *err)
{
    if (!q->dec_valid || q->dec_entry != m->entry) {
        q->dec_valid = false;
        if (qcow2_read_compressed(q, m->entry, q->dec_buf, err) < 0)
            return -1;
        q->dec_entry = m->entry;
        q->dec_valid = true;
    }
    iov_from_buf(iov, cnt, q->dec_buf + (off & (q->cluster_size - 1)));
    return 0;
}

static int read_extent(Qcow2 *q, const Qcow2Map *m, uint64_t off, const struct iovec *iov, int cnt,
                       Error *err)
{
    switch (m->type) {
    case QCOW2_MAP_DATA: return q->file->ops->preadv(q->file, m->host, iov, cnt, err);
    case QCOW2_MAP_ZERO: qcow2_iov_zero(iov, cnt); return 0;
    case QCOW2_MAP_COMPRESSED: return read_compressed_part(q, m, off, iov, cnt, err);
    default: return qcow2_read_below(q, off, iov, cnt, err);
    }
}

int qcow2_read_layer(Qcow2 *q, uint64_t off, const struct iovec *iov, int iovcnt, Error *err)
{
    uint64_t len = qcow2_iov_bytes(iov, iovcnt), done = 0;
    while (done < len) {
        Qcow2Map m;
        if (qcow2_map(q, off + done, len - done, &m, err) < 0)
            return -1;
        int cnt = qcow2_iov_slice(iov, iovcnt, done, m.len, q->iov_scratch, BLOCK_MAX_IOV + 4);
        if (cnt < 0)
            return error_set(err, "request with too many buffers");
        if (read_extent(q, &m, off + done, q->iov_scratch, cnt, err) < 0)
            return -1;
        done += m.len;
    }
    return 0;
}

int qcow2_readv(BlockDev *bd, uint64_t offset, const struct iovec *iov, int iovcnt, Error *err)
{
    return qcow2_read_layer(qcow2_of(bd), offset, iov, iovcnt, err);
}
