/*
 * qcow2 header: parse and validate it on open (fields, feature bits,
 * extensions, backing name, L1 table), rewrite it when something in it
 * changes, and mark an image corrupt.
 */
#include "block/qcow2.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Bytes of cluster 0 we ever parse (header + extensions + backing name). */
#define QCOW2_HEADER_AREA_MAX 65536u
#define QCOW2_V3_WRITE_LEN 112u

int qcow2_corrupt(Qcow2 *q, Error *err, const char *fmt, ...)
{
    char why[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, sizeof(why), fmt, ap);
    va_end(ap);
    if (!q->bd.read_only && q->version >= 3 && !q->corrupt_marked) {
        q->corrupt_marked = true; /* before: marking may fail and recurse */
        qcow2_set_incompat(q, QCOW2_INCOMPAT_CORRUPT, 0, NULL);
    }
    return error_set(err, "%s: image is corrupt: %s", q->file->path, why);
}

int qcow2_set_incompat(Qcow2 *q, uint64_t set, uint64_t clear, Error *err)
{
    if (q->version < 3)
        return 0;
    q->incompatible_features = (q->incompatible_features | set) & ~clear;
    uint8_t b[8];
    qcow2_put_be64(b, q->incompatible_features);
    if (block_file_pwrite(q->file, 72, b, 8, err) < 0)
        return -1;
    return block_file_sync(q->file, err);
}

/* "the dirty bit"-style name of an incompatible feature from the image's feature table. */
static void feature_name(const Qcow2 *q, unsigned bit, char *out, size_t n)
{
    snprintf(out, n, "bit %u", bit);
    for (int i = 0; i < q->nb_exts; i++) {
        if (q->exts[i].type != QCOW2_EXT_FEATURES)
            continue;
        for (uint32_t o = 0; o + 48 <= q->exts[i].len; o += 48) {
            const uint8_t *e = q->exts[i].data + o;
            if (e[0] == 0 && e[1] == bit) {
                snprintf(out, n, "'%.46s'", (const char *)e + 2);
                return;
            }
        }
    }
}

static int keep_ext(Qcow2 *q, uint32_t type, const uint8_t *data, uint32_t len, Error *err)
{
    Qcow2Ext *n = realloc(q->exts, sizeof(*n) * (size_t)(q->nb_exts + 1));
    if (!n)
        return error_set(err, "out of memory");
    q->exts = n;
    uint8_t *copy = malloc(len ? len : 1);
    if (!copy)
        return error_set(err, "out of memory");
    memcpy(copy, data, len);
    q->exts[q->nb_exts++] = (Qcow2Ext){.type = type, .len = len, .data = copy};
    return 0;
}

static int parse_one_ext(Qcow2 *q, uint32_t type, const uint8_t *d, uint32_t len, Error *err)
{
    switch (type) {
    case QCOW2_EXT_BACKING_FMT:
        if (len > 63 || memchr(d, 0, len))
            return qcow2_corrupt(q, err, "bad backing format extension");
        free(q->backing_fmt);
        q->backing_fmt = strndup((const char *)d, len);
        return q->backing_fmt ? 0 : error_set(err, "out of memory");
    case QCOW2_EXT_DATA_FILE:
        return error_set(err, "%s: qcow2 images with an external data file are not supported",
                         q->file->path);
    default: /* feature table, bitmaps, unknown: kept and written back */
        return keep_ext(q, type, d, len, err);
    }
}

/* Extensions live in [start, end) of the header area buf. */
static int parse_exts(Qcow2 *q, const uint8_t *buf, uint32_t start, uint32_t end, Error *err)
{
    uint32_t off = start;
    while (off + 8 <= end) {
        uint32_t type = qcow2_be32(buf + off), len = qcow2_be32(buf + off + 4);
        off += 8;
        if (type == QCOW2_EXT_END)
            return 0;
        if (len > end - off)
            return qcow2_corrupt(q, err, "header extension 0x%08x overruns the header cluster",
                                 type);
        if (parse_one_ext(q, type, buf + off, len, err) < 0)
            return -1;
        off += (len + 7u) & ~7u;
    }
    return 0; /* no end marker before the area ends: accepted, as QEMU does */
}

static int check_features(Qcow2 *q, bool read_only, Error *err)
{
    uint64_t unknown = q->incompatible_features & ~QCOW2_INCOMPAT_KNOWN;
    if (unknown) {
        char name[64];
        feature_name(q, (unsigned)__builtin_ctzll(unknown), name, sizeof(name));
        return error_set(err, "%s: unsupported qcow2 feature %s", q->file->path, name);
    }
    if (q->incompatible_features & QCOW2_INCOMPAT_DATA_FILE)
        return error_set(err, "%s: qcow2 images with an external data file are not supported",
                         q->file->path);
    if ((q->incompatible_features & QCOW2_INCOMPAT_CORRUPT) && !read_only)
        return error_set(err,
                         "%s: image is corrupt: marked corrupt; run 'hostel img check -r "
                         "all'",
                         q->file->path);
    if (q->extended_l2 && q->cluster_bits < 14)
        return qcow2_corrupt(q, err, "extended L2 entries need clusters of at least 16 KiB");
    return 0;
}

static int parse_v3_fields(Qcow2 *q, const uint8_t *h, Error *err)
{
    q->incompatible_features = qcow2_be64(h + 72);
    q->compatible_features = qcow2_be64(h + 80);
    q->autoclear_features = qcow2_be64(h + 88);
    q->refcount_order = qcow2_be32(h + 96);
    q->header_length = qcow2_be32(h + 100);
    if (q->header_length < QCOW2_V3_HEADER_LEN || q->header_length > q->cluster_size ||
        q->header_length > QCOW2_HEADER_AREA_MAX)
        return qcow2_corrupt(q, err, "bad header length %u", q->header_length);
    if (q->refcount_order > 6)
        return qcow2_corrupt(q, err, "refcount order %u (at most 6)", q->refcount_order);
    q->compression_type = q->header_length > 104 ? h[104] : QCOW2_COMPRESS_ZLIB;
    if (q->compression_type > QCOW2_COMPRESS_ZSTD)
        return error_set(err, "%s: unknown compression type %u", q->file->path,
                         q->compression_type);
    if (q->compression_type != QCOW2_COMPRESS_ZLIB &&
        !(q->incompatible_features & QCOW2_INCOMPAT_COMPRESSION))
        return qcow2_corrupt(q, err, "compression type set without its feature bit");
    q->extended_l2 = q->incompatible_features & QCOW2_INCOMPAT_EXTL2;
    return 0;
}

static int parse_fields(Qcow2 *q, const uint8_t *h, Error *err)
{
    if (qcow2_be32(h) != QCOW2_MAGIC)
        return error_set(err, "%s: not a qcow2 image", q->file->path);
    q->version = qcow2_be32(h + 4);
    if (q->version != 2 && q->version != 3)
        return error_set(err, "%s: unsupported qcow2 version %u", q->file->path, q->version);
    q->cluster_bits = qcow2_be32(h + 20);
    if (q->cluster_bits < QCOW2_MIN_CLUSTER_BITS || q->cluster_bits > QCOW2_MAX_CLUSTER_BITS)
        return qcow2_corrupt(q, err, "cluster bits %u (must be 9..21)", q->cluster_bits);
    q->cluster_size = 1ull << q->cluster_bits;
    q->size = qcow2_be64(h + 24);
    if (qcow2_be32(h + 32) != 0)
        return error_set(err, "%s: encrypted qcow2 images are not supported", q->file->path);
    q->l1_size = qcow2_be32(h + 36);
    q->l1_table_offset = qcow2_be64(h + 40);
    q->refcount_table_offset = qcow2_be64(h + 48);
    q->refcount_table_clusters = qcow2_be32(h + 56);
    q->nb_snapshots = qcow2_be32(h + 60);
    q->snapshots_offset = qcow2_be64(h + 64);
    q->refcount_order = 4;
    q->header_length = QCOW2_V2_HEADER_LEN;
    return q->version == 3 ? parse_v3_fields(q, h, err) : 0;
}

static bool bad_table(const Qcow2 *q, uint64_t off, uint64_t bytes)
{
    return (off & (q->cluster_size - 1)) || off >= QCOW2_MAX_OFFSET ||
           bytes > QCOW2_MAX_OFFSET - off || (bytes && off == 0);
}

static int check_geometry(Qcow2 *q, Error *err)
{
    q->l2_entry_size = q->extended_l2 ? 16 : 8;
    q->l2_bits = q->cluster_bits - (q->extended_l2 ? 4 : 3);
    q->subcluster_bits = q->extended_l2 ? q->cluster_bits - 5 : q->cluster_bits;
    q->refcount_bits = 1u << q->refcount_order;
    q->refcount_max = q->refcount_bits == 64 ? UINT64_MAX : (1ull << q->refcount_bits) - 1;
    q->refblock_bits = q->cluster_bits + 3 - q->refcount_order;
    if (q->size > QCOW2_MAX_VIRTUAL_SIZE)
        return qcow2_corrupt(q, err, "virtual size 0x%llx is too large",
                             (unsigned long long)q->size);
    uint64_t per_l2 = 1ull << (q->l2_bits + q->cluster_bits);
    uint64_t need = (q->size + per_l2 - 1) / per_l2;
    if ((uint64_t)q->l1_size * 8 > QCOW2_MAX_L1_BYTES)
        return qcow2_corrupt(q, err, "L1 table of %u entries is too large", q->l1_size);
    if (q->l1_size < need)
        return qcow2_corrupt(q, err, "L1 table of %u entries is too small for the disk size",
                             q->l1_size);
    if (bad_table(q, q->l1_table_offset, (uint64_t)q->l1_size * 8))
        return qcow2_corrupt(q, err, "bad L1 table offset 0x%llx",
                             (unsigned long long)q->l1_table_offset);
    uint64_t rt_bytes = (uint64_t)q->refcount_table_clusters << q->cluster_bits;
    if (q->refcount_table_clusters == 0 || rt_bytes > QCOW2_MAX_REFTABLE_BYTES)
        return qcow2_corrupt(q, err, "refcount table of %u clusters", q->refcount_table_clusters);
    if (bad_table(q, q->refcount_table_offset, rt_bytes))
        return qcow2_corrupt(q, err, "bad refcount table offset 0x%llx",
                             (unsigned long long)q->refcount_table_offset);
    if (q->nb_snapshots && bad_table(q, q->snapshots_offset, 1))
        return qcow2_corrupt(q, err, "bad snapshot table offset 0x%llx",
                             (unsigned long long)q->snapshots_offset);
    q->reftable_entries = rt_bytes / 8;
    return 0;
}

static int load_backing_name(Qcow2 *q, const uint8_t *h, Error *err)
{
    uint64_t off = qcow2_be64(h + 8);
    uint32_t len = qcow2_be32(h + 16);
    if (off == 0)
        return 0;
    if (len == 0 || len > QCOW2_MAX_BACKING_NAME || off >= q->cluster_size ||
        len > q->cluster_size - off)
        return qcow2_corrupt(q, err, "bad backing file name (offset 0x%llx, %u bytes)",
                             (unsigned long long)off, len);
    char *name = calloc(1, len + 1);
    if (!name)
        return error_set(err, "out of memory");
    q->backing_file = name;
    if (block_file_pread(q->file, off, name, len, err) < 0)
        return -1;
    if (strlen(name) != len)
        return qcow2_corrupt(q, err, "backing file name contains a NUL byte");
    return 0;
}

static int load_l1(Qcow2 *q, Error *err)
{
    size_t bytes = (size_t)q->l1_size * 8;
    q->l1_table = calloc(q->l1_size ? q->l1_size : 1, 8);
    if (!q->l1_table)
        return error_set(err, "out of memory loading the L1 table");
    if (bytes && block_file_pread(q->file, q->l1_table_offset, q->l1_table, bytes, err) < 0)
        return -1;
    for (uint32_t i = 0; i < q->l1_size; i++)
        q->l1_table[i] = qcow2_be64((const uint8_t *)&q->l1_table[i]);
    return 0;
}

int qcow2_load(Qcow2 *q, bool read_only, Error *err)
{
    uint8_t h[QCOW2_V3_WRITE_LEN];
    if (block_file_pread(q->file, 0, h, sizeof(h), err) < 0 || parse_fields(q, h, err) < 0 ||
        check_geometry(q, err) < 0)
        return -1;
    uint64_t bf = qcow2_be64(h + 8);
    uint32_t end =
        q->cluster_size < QCOW2_HEADER_AREA_MAX ? (uint32_t)q->cluster_size : QCOW2_HEADER_AREA_MAX;
    if (bf > q->header_length && bf < end)
        end = (uint32_t)bf;
    uint8_t *area = malloc(end);
    if (!area)
        return error_set(err, "out of memory");
    int rc = block_file_pread(q->file, 0, area, end, err);
    if (rc == 0)
        rc = parse_exts(q, area, q->header_length, end, err);
    free(area);
    if (rc < 0 || check_features(q, read_only, err) < 0 || load_backing_name(q, h, err) < 0)
        return -1;
    return load_l1(q, err);
}

/* Append extension (type, data, len) at *pos of buf (cap bytes); false if it does not fit. */
static bool put_ext(uint8_t *buf, size_t cap, size_t *pos, uint32_t type, const void *data,
                    uint32_t len)
{
    size_t padded = ((size_t)len + 7) & ~(size_t)7;
    if (*pos + 8 + padded > cap)
        return false;
    qcow2_put_be32(buf + *pos, type);
    qcow2_put_be32(buf + *pos + 4, len);
    memset(buf + *pos + 8, 0, padded);
    if (len)
        memcpy(buf + *pos + 8, data, len);
    *pos += 8 + padded;
    return true;
}

static void put_fixed(const Qcow2 *q, uint8_t *b)
{
    qcow2_put_be32(b, QCOW2_MAGIC);
    qcow2_put_be32(b + 4, q->version);
    qcow2_put_be32(b + 20, q->cluster_bits);
    qcow2_put_be64(b + 24, q->size);
    qcow2_put_be32(b + 36, q->l1_size);
    qcow2_put_be64(b + 40, q->l1_table_offset);
    qcow2_put_be64(b + 48, q->refcount_table_offset);
    qcow2_put_be32(b + 56, q->refcount_table_clusters);
    qcow2_put_be32(b + 60, q->nb_snapshots);
    qcow2_put_be64(b + 64, q->snapshots_offset);
    if (q->version < 3)
        return;
    qcow2_put_be64(b + 72, q->incompatible_features);
    qcow2_put_be64(b + 80, q->compatible_features);
    qcow2_put_be64(b + 88, q->autoclear_features);
    qcow2_put_be32(b + 96, q->refcount_order);
    qcow2_put_be32(b + 100, QCOW2_V3_WRITE_LEN);
    b[104] = q->compression_type;
}

/* Header, extensions and backing name in buf; returns the length, 0 if it does not fit. */
static size_t build_header(const Qcow2 *q, uint8_t *buf, size_t cap)
{
    size_t pos = q->version < 3 ? QCOW2_V2_HEADER_LEN : QCOW2_V3_WRITE_LEN;
    memset(buf, 0, pos);
    put_fixed(q, buf);
    bool ok = true;
    if (q->backing_fmt)
        ok = put_ext(buf, cap, &pos, QCOW2_EXT_BACKING_FMT, q->backing_fmt,
                     (uint32_t)strlen(q->backing_fmt));
    for (int i = 0; ok && i < q->nb_exts; i++)
        ok = put_ext(buf, cap, &pos, q->exts[i].type, q->exts[i].data, q->exts[i].len);
    if (!ok || !put_ext(buf, cap, &pos, QCOW2_EXT_END, NULL, 0))
        return 0;
    if (q->backing_file) {
        size_t len = strlen(q->backing_file);
        if (pos + len > cap)
            return 0;
        qcow2_put_be64(buf + 8, pos);
        qcow2_put_be32(buf + 16, (uint32_t)len);
        memcpy(buf + pos, q->backing_file, len);
        pos += len;
    }
    return pos;
}

int qcow2_write_header(Qcow2 *q, Error *err)
{
    size_t cap = q->cluster_size < QCOW2_HEADER_AREA_MAX ? q->cluster_size : QCOW2_HEADER_AREA_MAX;
    uint8_t *buf = calloc(1, cap);
    if (!buf)
        return error_set(err, "out of memory");
    size_t len = build_header(q, buf, cap);
    int rc = len ? block_file_pwrite(q->file, 0, buf, len, err)
                 : error_set(err,
                             "%s: header, extensions and backing name do not fit in %zu "
                             "bytes",
                             q->file->path, cap);
    free(buf);
    return rc < 0 ? -1 : block_file_sync(q->file, err);
}

int qcow2_write_l1(Qcow2 *q, Error *err)
{
    size_t bytes = (size_t)q->l1_size * 8;
    uint8_t *buf = malloc(bytes ? bytes : 1);
    if (!buf)
        return error_set(err, "out of memory");
    for (uint32_t i = 0; i < q->l1_size; i++)
        qcow2_put_be64(buf + (size_t)i * 8, q->l1_table[i]);
    int rc = bytes ? block_file_pwrite(q->file, q->l1_table_offset, buf, bytes, err) : 0;
    free(buf);
    return rc;
}

int qcow2_write_l1_entry(Qcow2 *q, uint32_t idx, Error *err)
{
    uint8_t b[8];
    qcow2_put_be64(b, q->l1_table[idx]);
    return block_file_pwrite(q->file, q->l1_table_offset + (uint64_t)idx * 8, b, 8, err);
}
