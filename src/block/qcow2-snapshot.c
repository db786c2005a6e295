/*
 * qcow2 internal snapshots (see qcow2-snapshot.h for the model and the
 * crash-safety order).  The table format follows QEMU's
 * docs/interop/qcow2.txt, "Snapshots".
 */
#include "block/qcow2-snapshot.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static void put_be16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}

static uint64_t align8(uint64_t n)
{
    return (n + 7) & ~7ull;
}

/* A table that breaks the format: refused at open, like QEMU, without marking the image. */
static int __attribute__((format(printf, 3, 4)))
snap_bad(Qcow2 *q, Error *err, const char *fmt, ...)
{
    char why[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, sizeof(why), fmt, ap);
    va_end(ap);
    return error_set(err, "%s: image is corrupt: %s", q->file->path, why);
}

/* ---- the table in memory ---- */

static void snap_clear(Qcow2Snapshot *sn)
{
    free(sn->id);
    free(sn->name);
    free(sn->unknown);
    memset(sn, 0, sizeof(*sn));
}

void qcow2_snapshot_free_table(Qcow2 *q)
{
    for (uint32_t i = 0; q->snapshots && i < q->nb_snapshots; i++)
        snap_clear(&q->snapshots[i]);
    free(q->snapshots);
    q->snapshots = NULL;
}

/* Extra data bytes we write for sn: the known fields, then what we did not know. */
static uint32_t snap_write_extra_len(const Qcow2Snapshot *sn)
{
    return QCOW2_SNAPSHOT_EXTRA_KNOWN + sn->unknown_len;
}

static uint64_t snap_entry_bytes(const Qcow2Snapshot *sn, uint32_t extra_len)
{
    return align8(QCOW2_SNAPSHOT_HEADER_LEN + (uint64_t)extra_len + strlen(sn->id) +
                  strlen(sn->name));
}

uint64_t qcow2_snapshot_table_bytes(const Qcow2 *q)
{
    uint64_t n = 0;
    for (uint32_t i = 0; q->snapshots && i < q->nb_snapshots; i++)
        n += snap_entry_bytes(&q->snapshots[i], q->snapshots[i].extra_len);
    return n;
}

/* ---- loading ---- */

/* Read a string field of len bytes at off into a NUL-terminated copy. */
static char *snap_read_str(Qcow2 *q, uint64_t off, uint32_t len, Error *err)
{
    char *s = malloc((size_t)len + 1);
    if (!s) {
        error_set(err, "out of memory");
        return NULL;
    }
    if (block_file_pread(q->file, off, s, len, err) < 0) {
        free(s);
        return NULL;
    }
    s[len] = '\0';
    return s;
}

/* Parse the extra data (extra_len bytes already read into x) into sn. */
static int snap_parse_extra(Qcow2 *q, Qcow2Snapshot *sn, const uint8_t *x, uint32_t extra_len,
                            Error *err)
{
    sn->disk_size = q->size; /* v2 tables may not record it: the image's size then */
    sn->icount = UINT64_MAX;
    if (extra_len >= 8)
        sn->vm_state_size = qcow2_be64(x);
    if (extra_len >= 16)
        sn->disk_size = qcow2_be64(x + 8);
    if (extra_len >= 24)
        sn->icount = qcow2_be64(x + 16);
    if (extra_len > QCOW2_SNAPSHOT_EXTRA_KNOWN) {
        sn->unknown_len = extra_len - QCOW2_SNAPSHOT_EXTRA_KNOWN;
        sn->unknown = malloc(sn->unknown_len);
        if (!sn->unknown)
            return error_set(err, "out of memory");
        memcpy(sn->unknown, x + QCOW2_SNAPSHOT_EXTRA_KNOWN, sn->unknown_len);
    }
    return 0;
}

/* The L1 table a snapshot names must be one QEMU would accept too. */
static int snap_check_l1(Qcow2 *q, const Qcow2Snapshot *sn, uint32_t i, Error *err)
{
    if (sn->l1_table_offset & (q->cluster_size - 1))
        return snap_bad(q, err,
                        "snapshot %u: L1 table offset 0x%llx is not "
                        "cluster aligned",
                        i, (unsigned long long)sn->l1_table_offset);
    if (sn->l1_size > QCOW2_MAX_L1_BYTES / 8)
        return snap_bad(q, err, "snapshot %u: L1 table too large (%u entries)", i, sn->l1_size);
    if (sn->l1_table_offset >= QCOW2_MAX_OFFSET ||
        (uint64_t)sn->l1_size * 8 > QCOW2_MAX_OFFSET - sn->l1_table_offset)
        return snap_bad(q, err, "snapshot %u: L1 table offset 0x%llx invalid", i,
                        (unsigned long long)sn->l1_table_offset);
    return 0;
}

/* Read entry i at *off (advanced past it); end: first byte the table may not use. */
static int snap_read_entry(Qcow2 *q, uint32_t i, uint64_t *off, uint64_t end, Qcow2Snapshot *sn,
                           Error *err)
{
    uint8_t h[QCOW2_SNAPSHOT_HEADER_LEN], x[QCOW2_MAX_SNAPSHOT_EXTRA];
    if (*off > end || end - *off < sizeof(h))
        return snap_bad(q, err, "snapshot table runs past its limit");
    if (block_file_pread(q->file, *off, h, sizeof(h), err) < 0)
        return -1;
    sn->l1_table_offset = qcow2_be64(h);
    sn->l1_size = qcow2_be32(h + 8);
    uint32_t id_len = (uint32_t)h[12] << 8 | h[13], name_len = (uint32_t)h[14] << 8 | h[15];
    sn->date_sec = qcow2_be32(h + 16);
    sn->date_nsec = qcow2_be32(h + 20);
    sn->vm_clock_nsec = qcow2_be64(h + 24);
    sn->vm_state_size = qcow2_be32(h + 32);
    sn->extra_len = qcow2_be32(h + 36);
    if (sn->extra_len > QCOW2_MAX_SNAPSHOT_EXTRA)
        return snap_bad(q, err, "snapshot %u: too much extra data (%u bytes)", i, sn->extra_len);
    if (q->version >= 3 && sn->extra_len < 16)
        return snap_bad(q, err, "snapshot %u: too little extra data (%u bytes)", i, sn->extra_len);
    /* The last entry's padding may lie past the end of the file (QEMU does not write it). */
    uint64_t len = QCOW2_SNAPSHOT_HEADER_LEN + (uint64_t)sn->extra_len + id_len + name_len;
    if (end - *off < len)
        return snap_bad(q, err, "snapshot table runs past its limit");
    uint64_t p = *off + sizeof(h);
    if (block_file_pread(q->file, p, x, sn->extra_len, err) < 0 ||
        snap_parse_extra(q, sn, x, sn->extra_len, err) < 0)
        return -1;
    p += sn->extra_len;
    if (!(sn->id = snap_read_str(q, p, id_len, err)) ||
        !(sn->name = snap_read_str(q, p + id_len, name_len, err)))
        return -1;
    *off = align8(p + id_len + name_len);
    return snap_check_l1(q, sn, i, err);
}

int qcow2_snapshot_load_table(Qcow2 *q, Error *err)
{
    q->snapshots = NULL;
    if (q->nb_snapshots == 0)
        return 0;
    if (q->nb_snapshots > QCOW2_MAX_SNAPSHOTS)
        return snap_bad(q, err, "too many snapshots (%u)", q->nb_snapshots);
    if (q->snapshots_offset & (q->cluster_size - 1) || q->snapshots_offset >= QCOW2_MAX_OFFSET)
        return snap_bad(q, err, "snapshot table offset 0x%llx invalid",
                        (unsigned long long)q->snapshots_offset);
    /* The table must lie in the file: a short file cannot make us read 64 MiB of zeroes. */
    uint64_t flen = block_file_length(q->file), off = q->snapshots_offset;
    uint64_t end = off + QCOW2_MAX_SNAPSHOTS_BYTES;
    if (end > flen)
        end = flen > off ? flen : off;
    Qcow2Snapshot *t = calloc(q->nb_snapshots, sizeof(*t));
    if (!t)
        return error_set(err, "out of memory");
    q->snapshots = t;
    for (uint32_t i = 0; i < q->nb_snapshots; i++) {
        if (snap_read_entry(q, i, &off, end, &t[i], err) < 0) {
            qcow2_snapshot_free_table(q);
            return -1;
        }
    }
    return 0;
}

/* ---- writing the table ---- */

static uint8_t *snap_encode_entry(const Qcow2Snapshot *sn, uint8_t *p)
{
    uint32_t extra = snap_write_extra_len(sn);
    size_t id_len = strlen(sn->id), name_len = strlen(sn->name);
    uint8_t *start = p;
    qcow2_put_be64(p, sn->l1_table_offset);
    qcow2_put_be32(p + 8, sn->l1_size);
    put_be16(p + 12, (uint16_t)id_len);
    put_be16(p + 14, (uint16_t)name_len);
    qcow2_put_be32(p + 16, sn->date_sec);
    qcow2_put_be32(p + 20, sn->date_nsec);
    qcow2_put_be64(p + 24, sn->vm_clock_nsec);
    qcow2_put_be32(p + 32, sn->vm_state_size > UINT32_MAX ? 0 : (uint32_t)sn->vm_state_size);
    qcow2_put_be32(p + 36, extra);
    p += QCOW2_SNAPSHOT_HEADER_LEN;
    qcow2_put_be64(p, sn->vm_state_size);
    qcow2_put_be64(p + 8, sn->disk_size);
    qcow2_put_be64(p + 16, sn->icount);
    if (sn->unknown_len)
        memcpy(p + QCOW2_SNAPSHOT_EXTRA_KNOWN, sn->unknown, sn->unknown_len);
    p += extra;
    memcpy(p, sn->id, id_len);
    memcpy(p + id_len, sn->name, name_len);
    return start + snap_entry_bytes(sn, extra); /* padding: the buffer is zeroed */
}

/*
 * Write q->snapshots to fresh clusters, point the header at them, then
 * free the old table (old_off, old_bytes).  On success every entry's
 * extra_len is what is now on disk.
 */
static int snap_commit_table(Qcow2 *q, uint64_t old_off, uint64_t old_bytes, Error *err)
{
    uint64_t bytes = 0;
    for (uint32_t i = 0; i < q->nb_snapshots; i++)
        bytes += snap_entry_bytes(&q->snapshots[i], snap_write_extra_len(&q->snapshots[i]));
    if (bytes > QCOW2_MAX_SNAPSHOTS_BYTES)
        return error_set(err, "snapshot table would exceed %u bytes", QCOW2_MAX_SNAPSHOTS_BYTES);
    int64_t new_off = 0;
    if (bytes) {
        uint8_t *buf = calloc(1, bytes), *p = buf;
        if (!buf)
            return error_set(err, "out of memory");
        for (uint32_t i = 0; i < q->nb_snapshots; i++)
            p = snap_encode_entry(&q->snapshots[i], p);
        new_off = qcow2_alloc_clusters(q, bytes, err);
        int r = new_off < 0 ? -1 : block_file_pwrite(q->file, (uint64_t)new_off, buf, bytes, err);
        free(buf);
        if (r < 0 || qcow2_flush_metadata(q, true, err) < 0)
            return -1;
    }
    uint64_t prev = q->snapshots_offset;
    q->snapshots_offset = (uint64_t)new_off;
    if (qcow2_write_header(q, err) < 0 || block_file_sync(q->file, err) < 0) {
        q->snapshots_offset = prev;
        return -1;
    }
    for (uint32_t i = 0; i < q->nb_snapshots; i++)
        q->snapshots[i].extra_len = snap_write_extra_len(&q->snapshots[i]);
    if (old_off && old_bytes && qcow2_refcount_update(q, old_off, old_bytes, -1, err) < 0)
        return -1;
    return 0;
}

/* ---- walking what an L1 table reaches ---- */

/* Called for every host range an L1 table holds a reference on. */
typedef int (*SnapVisit)(Qcow2 *q, uint64_t off, uint64_t len, void *ctx, Error *err);

static int snap_check_table_off(Qcow2 *q, uint64_t off, const char *what, Error *err)
{
    if (off & (q->cluster_size - 1) || off >= QCOW2_MAX_OFFSET)
        return qcow2_corrupt(q, err, "%s offset 0x%llx invalid", what, (unsigned long long)off);
    return 0;
}

/* Visit the data clusters of one L2 table, merging contiguous runs. */
static int snap_walk_l2(Qcow2 *q, const uint8_t *l2, SnapVisit fn, void *ctx, Error *err)
{
    uint64_t run_off = 0, run_len = 0, n = q->cluster_size / q->l2_entry_size;
    for (uint64_t j = 0; j < n; j++) {
        uint64_t bitmap, e = qcow2_l2_get(q, l2, j, &bitmap);
        uint64_t off = e & QCOW2_L2_OFFSET_MASK, len = q->cluster_size;
        if (e & QCOW2_OFLAG_COMPRESSED) {
            qcow2_compressed_extent(q, e & ~QCOW2_OFLAG_COPIED, &off, &len);
            if (fn(q, off, len, ctx, err) < 0)
                return -1;
            continue;
        }
        if (!off)
            continue;
        if (run_len && off == run_off + run_len) {
            run_len += len;
            continue;
        }
        if (run_len && fn(q, run_off, run_len, ctx, err) < 0)
            return -1;
        run_off = off;
        run_len = len;
    }
    return run_len ? fn(q, run_off, run_len, ctx, err) : 0;
}

/* Visit every L2 table and data cluster reachable from l1 (n entries, host-endian). */
static int snap_walk(Qcow2 *q, const uint64_t *l1, uint32_t n, SnapVisit fn, void *ctx, Error *err)
{
    uint8_t *l2 = malloc(q->cluster_size);
    if (!l2)
        return error_set(err, "out of memory");
    int r = 0;
    for (uint32_t i = 0; i < n && r == 0; i++) {
        uint64_t l2_off = l1[i] & QCOW2_L1_OFFSET_MASK;
        if (!l2_off)
            continue;
        r = snap_check_table_off(q, l2_off, "L2 table", err);
        if (r == 0)
            r = block_file_pread(q->file, l2_off, l2, q->cluster_size, err);
        if (r == 0)
            r = snap_walk_l2(q, l2, fn, ctx, err);
        if (r == 0)
            r = fn(q, l2_off, q->cluster_size, ctx, err);
    }
    free(l2);
    return r;
}

static int snap_visit_update(Qcow2 *q, uint64_t off, uint64_t len, void *ctx, Error *err)
{
    return qcow2_refcount_update(q, off, len, *(const int64_t *)ctx, err);
}

/* Refuse up front a reference that would overflow a narrow refcount. */
static int snap_visit_headroom(Qcow2 *q, uint64_t off, uint64_t len, void *ctx, Error *err)
{
    (void)ctx;
    uint64_t first = off >> q->cluster_bits, last = (off + len - 1) >> q->cluster_bits;
    for (uint64_t c = first; c <= last; c++) {
        uint64_t rc;
        if (qcow2_refcount_get(q, c, &rc, err) < 0)
            return -1;
        if (rc >= q->refcount_max)
            return error_set(err, "refcount of cluster 0x%llx would overflow %u-bit refcounts",
                             (unsigned long long)c << q->cluster_bits, q->refcount_bits);
    }
    return 0;
}

/* Returned when an operation was refused before it changed anything. */
#define SNAP_REFUSED (-2)

/*
 * Add delta to every refcount an L1 table holds.  delta > 0 first checks
 * that no refcount would overflow: SNAP_REFUSED, nothing changed.
 */
static int snap_tree_update(Qcow2 *q, const uint64_t *l1, uint32_t n, int64_t delta, Error *err)
{
    /* Widths of 16 bits and more cannot overflow with at most 65536 snapshots. */
    if (delta > 0 && q->refcount_max <= QCOW2_MAX_SNAPSHOTS + 1 &&
        snap_walk(q, l1, n, snap_visit_headroom, NULL, err) < 0)
        return SNAP_REFUSED;
    return snap_walk(q, l1, n, snap_visit_update, &delta, err);
}

/* ---- COPIED flags of the active tables ---- */

static int snap_copied_want(Qcow2 *q, uint64_t off, bool *want, Error *err)
{
    uint64_t rc;
    if (qcow2_refcount_get(q, off >> q->cluster_bits, &rc, err) < 0)
        return -1;
    *want = rc == 1;
    return 0;
}

static uint64_t with_copied(uint64_t e, bool copied)
{
    return copied ? e | QCOW2_OFLAG_COPIED : e & ~QCOW2_OFLAG_COPIED;
}

/* Recompute the COPIED flags of one active L2 table; *dirty when it changed. */
static int snap_fix_l2_copied(Qcow2 *q, uint8_t *l2, bool *dirty, Error *err)
{
    uint64_t n = q->cluster_size / q->l2_entry_size;
    *dirty = false;
    for (uint64_t j = 0; j < n; j++) {
        uint64_t bitmap, e = qcow2_l2_get(q, l2, j, &bitmap), ne = e;
        bool want = false;
        if (!(e & QCOW2_OFLAG_COMPRESSED) && (e & QCOW2_L2_OFFSET_MASK) &&
            snap_copied_want(q, e & QCOW2_L2_OFFSET_MASK, &want, err) < 0)
            return -1;
        ne = with_copied(e, want); /* compressed and unallocated: never COPIED */
        if (ne != e) {
            qcow2_l2_set(q, l2, j, ne, bitmap);
            *dirty = true;
        }
    }
    return 0;
}

/*
 * Make the COPIED flags of the active L1 and its L2 tables say "refcount is
 * exactly one", as the format requires after the refcounts changed.  The
 * L2 cache must be clean (flushed); it is dropped afterwards.
 */
static int snap_sync_copied(Qcow2 *q, Error *err)
{
    uint8_t *l2 = malloc(q->cluster_size);
    if (!l2)
        return error_set(err, "out of memory");
    bool l1_dirty = false;
    int r = 0;
    for (uint32_t i = 0; i < q->l1_size && r == 0; i++) {
        uint64_t l2_off = q->l1_table[i] & QCOW2_L1_OFFSET_MASK;
        bool want, dirty;
        if (!l2_off)
            continue;
        if ((r = snap_check_table_off(q, l2_off, "L2 table", err)) < 0 ||
            (r = snap_copied_want(q, l2_off, &want, err)) < 0)
            break;
        uint64_t ne = with_copied(q->l1_table[i], want);
        l1_dirty |= ne != q->l1_table[i];
        q->l1_table[i] = ne;
        r = block_file_pread(q->file, l2_off, l2, q->cluster_size, err);
        if (r == 0)
            r = snap_fix_l2_copied(q, l2, &dirty, err);
        if (r == 0 && dirty)
            r = block_file_pwrite(q->file, l2_off, l2, q->cluster_size, err);
    }
    free(l2);
    qcow2_cache_drop(q);
    if (r == 0 && l1_dirty)
        r = qcow2_write_l1(q, err);
    return r == 0 ? block_file_sync(q->file, err) : -1;
}

/* ---- finding and listing ---- */

/* Index of the snapshot with this id, else this name, else -1. */
static int snap_find(const Qcow2 *q, const char *id_or_name)
{
    for (uint32_t i = 0; i < q->nb_snapshots; i++)
        if (strcmp(q->snapshots[i].id, id_or_name) == 0)
            return (int)i;
    for (uint32_t i = 0; i < q->nb_snapshots; i++)
        if (strcmp(q->snapshots[i].name, id_or_name) == 0)
            return (int)i;
    return -1;
}

static int snap_find_or_fail(Qcow2 *q, const char *id_or_name, Error *err)
{
    int i = snap_find(q, id_or_name);
    if (i < 0)
        error_set(err, "%s: snapshot '%s' not found", q->bd.filename, id_or_name);
    return i;
}

int qcow2_snapshot_list(BlockDev *bd, BlockSnapshot **list, int *count, Error *err)
{
    Qcow2 *q = qcow2_of(bd);
    *list = NULL;
    *count = 0;
    if (!q->nb_snapshots)
        return 0;
    BlockSnapshot *l = calloc(q->nb_snapshots, sizeof(*l));
    if (!l)
        return error_set(err, "out of memory");
    for (uint32_t i = 0; i < q->nb_snapshots; i++) {
        const Qcow2Snapshot *sn = &q->snapshots[i];
        snprintf(l[i].id, sizeof(l[i].id), "%s", sn->id);
        l[i].name = strdup(sn->name);
        if (!l[i].name) {
            block_snapshot_list_free(l, (int)i);
            return error_set(err, "out of memory");
        }
        l[i].vm_state_size = sn->vm_state_size;
        l[i].disk_size = sn->disk_size;
        l[i].date_sec = sn->date_sec;
        l[i].date_nsec = sn->date_nsec;
        l[i].vm_clock_nsec = sn->vm_clock_nsec;
        l[i].icount = sn->icount;
    }
    *list = l;
    *count = (int)q->nb_snapshots;
    return 0;
}

/* ---- create ---- */

/* The caller's id if it gave one, else one more than the largest numeric id. */
static int snap_new_id(Qcow2 *q, const BlockSnapshot *req, char *id, size_t len, Error *err)
{
    if (req->id[0]) {
        for (uint32_t i = 0; i < q->nb_snapshots; i++)
            if (strcmp(q->snapshots[i].id, req->id) == 0)
                return error_set(err, "%s: snapshot id '%s' already exists", q->bd.filename,
                                 req->id);
        snprintf(id, len, "%s", req->id);
        return 0;
    }
    unsigned long max = 0;
    for (uint32_t i = 0; i < q->nb_snapshots; i++) {
        unsigned long v = strtoul(q->snapshots[i].id, NULL, 10);
        max = v > max ? v : max;
    }
    snprintf(id, len, "%lu", max + 1);
    return 0;
}

static int snap_check_request(Qcow2 *q, const BlockSnapshot *req, Error *err)
{
    const char *name = req->name ? req->name : "";
    if (strlen(name) > UINT16_MAX)
        return error_set(err, "snapshot name too long");
    if (q->nb_snapshots >= QCOW2_MAX_SNAPSHOTS)
        return error_set(err, "%s: too many snapshots (at most %d)", q->bd.filename,
                         QCOW2_MAX_SNAPSHOTS);
    for (uint32_t i = 0; i < q->nb_snapshots; i++)
        if (strcmp(q->snapshots[i].name, name) == 0)
            return error_set(err, "%s: snapshot '%s' already exists", q->bd.filename, name);
    return 0;
}

static int snap_fill_entry(Qcow2 *q, const BlockSnapshot *req, Qcow2Snapshot *sn, Error *err)
{
    char id[32];
    if (snap_new_id(q, req, id, sizeof(id), err) < 0)
        return -1;
    memset(sn, 0, sizeof(*sn));
    sn->id = strdup(id);
    sn->name = strdup(req->name ? req->name : "");
    if (!sn->id || !sn->name) {
        snap_clear(sn);
        return error_set(err, "out of memory");
    }
    sn->date_sec = req->date_sec;
    sn->date_nsec = req->date_nsec;
    if (!req->date_sec && !req->date_nsec) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        sn->date_sec = (uint32_t)ts.tv_sec;
        sn->date_nsec = (uint32_t)ts.tv_nsec;
    }
    sn->vm_clock_nsec = req->vm_clock_nsec;
    sn->disk_size = q->size;
    sn->icount = req->icount;
    sn->extra_len = QCOW2_SNAPSHOT_EXTRA_KNOWN;
    return 0;
}

/* Write a copy of l1 (n entries, host-endian) to fresh clusters; returns its offset. */
static int64_t snap_write_l1_copy(Qcow2 *q, const uint64_t *l1, uint32_t n, Error *err)
{
    if (!n)
        return 0;
    uint8_t *buf = malloc((size_t)n * 8);
    if (!buf)
        return error_set(err, "out of memory");
    for (uint32_t i = 0; i < n; i++)
        qcow2_put_be64(buf + 8 * (size_t)i, l1[i]);
    int64_t off = qcow2_alloc_clusters(q, (uint64_t)n * 8, err);
    if (off >= 0 && block_file_pwrite(q->file, (uint64_t)off, buf, (size_t)n * 8, err) < 0)
        off = -1;
    free(buf);
    if (off >= 0 && qcow2_flush_metadata(q, true, err) < 0)
        off = -1;
    return off;
}

/* Append sn to the table and write it; on failure the table is as before. */
static int snap_append(Qcow2 *q, Qcow2Snapshot *sn, Error *err)
{
    uint64_t old_off = q->snapshots_offset, old_bytes = qcow2_snapshot_table_bytes(q);
    Qcow2Snapshot *t = realloc(q->snapshots, (q->nb_snapshots + 1) * sizeof(*t));
    if (!t)
        return error_set(err, "out of memory");
    q->snapshots = t;
    t[q->nb_snapshots++] = *sn;
    if (snap_commit_table(q, old_off, old_bytes, err) < 0) {
        q->nb_snapshots--;
        return -1;
    }
    return 0;
}

/* Take the references, then add sn (filled, owned by us from here on) to the table. */
static int snap_do_create(Qcow2 *q, Qcow2Snapshot sn, Error *err)
{
    /* References first (synced), then the flags that depend on them, then the entry. */
    int64_t l1_off = snap_tree_update(q, q->l1_table, q->l1_size, 1, err);
    if (l1_off == 0 && qcow2_flush_metadata(q, true, err) == 0 && snap_sync_copied(q, err) == 0)
        l1_off = snap_write_l1_copy(q, q->l1_table, q->l1_size, err);
    else if (l1_off == 0)
        l1_off = -1;
    if (l1_off < 0) {
        snap_clear(&sn);
        return (int)l1_off;
    }
    sn.l1_table_offset = (uint64_t)l1_off;
    sn.l1_size = q->l1_size;
    if (snap_append(q, &sn, err) < 0) {
        snap_clear(&sn);
        return -1;
    }
    return qcow2_flush_metadata(q, true, err);
}

/* ---- apply ---- */

/* Read a snapshot's L1 table into a host-endian array of max(l1_size, min_entries). */
static uint64_t *snap_read_l1(Qcow2 *q, const Qcow2Snapshot *sn, uint32_t entries, Error *err)
{
    uint64_t *l1 = calloc(entries ? entries : 1, 8);
    if (!l1) {
        error_set(err, "out of memory");
        return NULL;
    }
    if (sn->l1_size &&
        block_file_pread(q->file, sn->l1_table_offset, l1, (size_t)sn->l1_size * 8, err) < 0) {
        free(l1);
        return NULL;
    }
    for (uint32_t i = 0; i < sn->l1_size; i++)
        l1[i] = qcow2_be64((const uint8_t *)&l1[i]);
    return l1;
}

/* L1 entries needed to map a virtual size. */
static uint64_t snap_l1_entries_for(const Qcow2 *q, uint64_t size)
{
    uint64_t per_l1 = q->cluster_size << q->l2_bits; /* bytes one L2 table maps */
    return size / per_l1 + (size % per_l1 != 0);
}

/* Make (l1, n, l1_off) the active L1 table and size the disk; the header switches. */
static int snap_switch_active(Qcow2 *q, uint64_t *l1, uint32_t n, uint64_t l1_off, uint64_t size,
                              Error *err)
{
    uint64_t *old = q->l1_table, old_off = q->l1_table_offset, old_size = q->size;
    uint32_t old_n = q->l1_size;
    q->l1_table = l1;
    q->l1_size = n;
    q->l1_table_offset = l1_off;
    q->size = size;
    if (qcow2_write_header(q, err) < 0 || block_file_sync(q->file, err) < 0) {
        q->l1_table = old;
        q->l1_size = old_n;
        q->l1_table_offset = old_off;
        q->size = old_size;
        return -1;
    }
    q->bd.length = size;
    free(old);
    return 0;
}

/* Take references on everything sn's tree reaches and write the new active L1. */
static int64_t snap_prepare_apply(Qcow2 *q, const Qcow2Snapshot *sn, const uint64_t *l1, uint32_t n,
                                  Error *err)
{
    int r = snap_tree_update(q, l1, sn->l1_size, 1, err);
    if (r < 0 || qcow2_flush_metadata(q, true, err) < 0)
        return r < 0 ? r : -1;
    return snap_write_l1_copy(q, l1, n, err);
}

/* Drop the references of a former active L1 table (its tree and its clusters). */
static int snap_release_l1(Qcow2 *q, const uint64_t *l1, uint32_t n, uint64_t off, Error *err)
{
    if (snap_tree_update(q, l1, n, -1, err) < 0)
        return -1;
    if (n && qcow2_refcount_update(q, off, (uint64_t)n * 8, -1, err) < 0)
        return -1;
    return qcow2_flush_metadata(q, true, err);
}

static int snap_do_apply(Qcow2 *q, const char *id_or_name, Error *err)
{
    int i = snap_find_or_fail(q, id_or_name, err);
    if (i < 0 || qcow2_flush_metadata(q, true, err) < 0)
        return -1;
    const Qcow2Snapshot *sn = &q->snapshots[i];
    uint64_t need = snap_l1_entries_for(q, sn->disk_size);
    if (need > QCOW2_MAX_L1_BYTES / 8)
        return snap_bad(q, err, "snapshot '%s' disk size too large", sn->name);
    uint32_t n = sn->l1_size > need ? sn->l1_size : (uint32_t)need;
    uint64_t *l1 = snap_read_l1(q, sn, n, err);
    uint64_t *old = malloc(((size_t)q->l1_size + 1) * 8);
    if (!l1 || !old) {
        free(l1);
        free(old);
        return l1 ? error_set(err, "out of memory") : -1;
    }
    for (uint32_t k = 0; k < n; k++)
        l1[k] &= ~QCOW2_OFLAG_COPIED; /* everything it reaches is shared with sn now */
    uint64_t old_off = q->l1_table_offset;
    uint32_t old_n = q->l1_size;
    memcpy(old, q->l1_table, (size_t)old_n * 8);
    /* The old active tree stays referenced until the header no longer names it. */
    int64_t l1_off = snap_prepare_apply(q, sn, l1, n, err);
    if (l1_off < 0 || snap_switch_active(q, l1, n, (uint64_t)l1_off, sn->disk_size, err) < 0) {
        free(l1);
        free(old);
        return l1_off == SNAP_REFUSED ? SNAP_REFUSED : -1;
    }
    qcow2_cache_drop(q);
    int r = snap_release_l1(q, old, old_n, old_off, err);
    free(old);
    return r == 0 ? snap_sync_copied(q, err) : -1;
}

/* ---- delete ---- */

static int snap_do_delete(Qcow2 *q, const char *id_or_name, Error *err)
{
    int i = snap_find_or_fail(q, id_or_name, err);
    if (i < 0 || qcow2_flush_metadata(q, true, err) < 0)
        return -1;
    Qcow2Snapshot sn = q->snapshots[i];
    uint64_t *l1 = snap_read_l1(q, &sn, sn.l1_size, err);
    if (!l1)
        return -1;
    /* The entry goes first; its references are dropped once that is on disk. */
    uint64_t old_off = q->snapshots_offset, old_bytes = qcow2_snapshot_table_bytes(q);
    memmove(&q->snapshots[i], &q->snapshots[i + 1],
            (q->nb_snapshots - (uint32_t)i - 1) * sizeof(sn));
    q->nb_snapshots--;
    if (snap_commit_table(q, old_off, old_bytes, err) < 0) {
        memmove(&q->snapshots[i + 1], &q->snapshots[i],
                (q->nb_snapshots - (uint32_t)i) * sizeof(sn));
        q->snapshots[i] = sn;
        q->nb_snapshots++;
        free(l1);
        return -1;
    }
    int r = snap_tree_update(q, l1, sn.l1_size, -1, err);
    if (r == 0 && sn.l1_size)
        r = qcow2_refcount_update(q, sn.l1_table_offset, (uint64_t)sn.l1_size * 8, -1, err);
    free(l1);
    snap_clear(&sn);
    if (r == 0)
        r = qcow2_flush_metadata(q, true, err);
    if (r == 0)
        r = snap_sync_copied(q, err);
    return r;
}

/* ---- the operations, marked dirty while they run ---- */

/*
 * A refcount and the COPIED flag that depends on it live in different
 * clusters, so a crash between the two writes leaves them disagreeing.
 * While an operation runs, a v3 image carries the dirty bit: after a crash
 * the next open for writing (ours or QEMU's) rebuilds the refcounts and
 * flags.  A failed operation leaves the bit set for the same reason.
 */
static int snap_mark_dirty(Qcow2 *q, bool *marked, Error *err)
{
    *marked = false;
    if (q->version < 3 || (q->incompatible_features & QCOW2_INCOMPAT_DIRTY))
        return 0;
    if (qcow2_set_incompat(q, QCOW2_INCOMPAT_DIRTY, 0, err) < 0)
        return -1;
    *marked = true;
    return 0;
}

static int snap_mark_clean(Qcow2 *q, bool marked, int r, Error *err)
{
    if ((r < 0 && r != SNAP_REFUSED) || !marked)
        return r < 0 ? -1 : r;
    Error ignored;
    if (qcow2_set_incompat(q, 0, QCOW2_INCOMPAT_DIRTY, r < 0 ? &ignored : err) < 0)
        return -1;
    return r < 0 ? -1 : 0;
}

int qcow2_snapshot_create(BlockDev *bd, const BlockSnapshot *sn, Error *err)
{
    Qcow2 *q = qcow2_of(bd);
    Qcow2Snapshot entry;
    bool marked;
    if (snap_check_request(q, sn, err) < 0 || qcow2_flush_metadata(q, true, err) < 0 ||
        snap_fill_entry(q, sn, &entry, err) < 0)
        return -1;
    if (snap_mark_dirty(q, &marked, err) < 0) {
        snap_clear(&entry);
        return -1;
    }
    return snap_mark_clean(q, marked, snap_do_create(q, entry, err), err);
}

int qcow2_snapshot_apply(BlockDev *bd, const char *id_or_name, Error *err)
{
    Qcow2 *q = qcow2_of(bd);
    bool marked;
    if (snap_find_or_fail(q, id_or_name, err) < 0 || qcow2_flush_metadata(q, true, err) < 0 ||
        snap_mark_dirty(q, &marked, err) < 0)
        return -1;
    return snap_mark_clean(q, marked, snap_do_apply(q, id_or_name, err), err);
}

int qcow2_snapshot_delete(BlockDev *bd, const char *id_or_name, Error *err)
{
    Qcow2 *q = qcow2_of(bd);
    bool marked;
    if (snap_find_or_fail(q, id_or_name, err) < 0 || qcow2_flush_metadata(q, true, err) < 0 ||
        snap_mark_dirty(q, &marked, err) < 0)
        return -1;
    return snap_mark_clean(q, marked, snap_do_delete(q, id_or_name, err), err);
}
