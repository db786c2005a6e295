/*
 * qcow2 check and repair (see qcow2-check.h).  What counts as one
 * corruption or one leak follows `qemu-img check` so both tools give the
 * same numbers on the same image: one per cluster whose refcount differs,
 * one per bad table entry, one per wrong COPIED flag.
 */
#include "block/qcow2-check.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "block/qcow2-snapshot.h"

#define QCOW2_REFT_RESERVED_MASK 0x1ffull

typedef struct Check {
    Qcow2 *q;
    BlockCheckResult *res;
    uint32_t *ref; /* expected refcount of each host cluster */
    uint64_t nb;   /* entries of ref */
    uint64_t file_len;
    uint64_t file_clusters; /* clusters the file covers, partly or fully */
    uint64_t used;          /* 1 + the highest cluster referenced */
    uint64_t ref_limit;     /* largest refcount the image can store */
    uint64_t *reftable;     /* as on disk, host-endian */
    uint64_t reftable_n;
    bool rebuild; /* refcount structures are broken: only a rebuild helps */
    uint8_t *buf; /* one cluster of scratch */
} Check;

static void check_note(Check *c, const char *fmt, va_list ap)
{
    if (!c->res->first_problem[0])
        vsnprintf(c->res->first_problem, sizeof(c->res->first_problem), fmt, ap);
}

static void __attribute__((format(printf, 2, 3))) check_corrupt(Check *c, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    check_note(c, fmt, ap);
    va_end(ap);
    c->res->corruptions++;
}

static void __attribute__((format(printf, 2, 3))) check_leak(Check *c, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    check_note(c, fmt, ap);
    va_end(ap);
    c->res->leaks++;
}

static int check_read(Check *c, uint64_t off, void *buf, size_t len, Error *err)
{
    if (block_file_pread(c->q->file, off, buf, len, err) < 0) {
        c->res->check_errors++;
        return -1;
    }
    return 0;
}

/* ---- expected refcounts ---- */

/* Size the expected-refcount array to the file as it is now. */
static int check_size(Check *c, Error *err)
{
    Qcow2 *q = c->q;
    c->file_len = block_file_length(q->file);
    c->file_clusters = (c->file_len + q->cluster_size - 1) >> q->cluster_bits;
    uint64_t nb = c->file_clusters + 1; /* a reference may end in a partly written cluster */
    if (nb > QCOW2_CHECK_MAX_CLUSTERS) {
        c->res->check_errors++;
        return error_set(err, "%s: image too large to check (%llu clusters, at most %llu)",
                         q->file->path, (unsigned long long)nb,
                         (unsigned long long)QCOW2_CHECK_MAX_CLUSTERS);
    }
    uint32_t *ref = realloc(c->ref, nb * sizeof(*ref));
    if (!ref) {
        c->res->check_errors++;
        return error_set(err, "out of memory");
    }
    c->ref = ref;
    c->nb = nb;
    return 0;
}

/* Count one reference on every cluster of [off, off+len). */
static void check_ref(Check *c, uint64_t off, uint64_t len)
{
    uint64_t end = off + len;
    if (!len)
        return;
    /* The last cluster may be partly past EOF; a whole cluster more may not. */
    if (end > c->file_len && end - c->file_len >= c->q->cluster_size) {
        check_corrupt(c, "reference to 0x%llx+0x%llx is past the end of the file",
                      (unsigned long long)off, (unsigned long long)len);
        return;
    }
    for (uint64_t i = off >> c->q->cluster_bits; i <= (end - 1) >> c->q->cluster_bits; i++) {
        if (c->ref[i] >= c->ref_limit) {
            check_corrupt(c, "refcount of cluster 0x%llx overflows",
                          (unsigned long long)i << c->q->cluster_bits);
            continue;
        }
        c->ref[i]++;
        if (i + 1 > c->used)
            c->used = i + 1;
    }
}

static void check_unref(Check *c, uint64_t off, uint64_t len)
{
    uint64_t end = off + len;
    if (!len || (end > c->file_len && end - c->file_len >= c->q->cluster_size))
        return;
    for (uint64_t i = off >> c->q->cluster_bits; i <= (end - 1) >> c->q->cluster_bits; i++)
        if (c->ref[i])
            c->ref[i]--;
}

static void check_compressed(Check *c, uint64_t e, uint64_t bitmap, bool active)
{
    uint64_t off, len;
    if (e & QCOW2_OFLAG_COPIED)
        check_corrupt(c, "compressed cluster entry 0x%llx has the COPIED flag",
                      (unsigned long long)e);
    if (bitmap) {
        check_corrupt(c, "compressed cluster entry 0x%llx has a subcluster bitmap",
                      (unsigned long long)e);
        return;
    }
    qcow2_compressed_extent(c->q, e & ~QCOW2_OFLAG_COPIED, &off, &len);
    check_ref(c, off, len);
    if (active) {
        c->res->allocated_clusters++;
        c->res->compressed_clusters++;
        c->res->fragmented_clusters++; /* qemu-img counts every compressed one */
    }
}

static void check_data(Check *c, uint64_t e, uint64_t bitmap, bool active, uint64_t *next)
{
    uint64_t off = e & QCOW2_L2_OFFSET_MASK;
    if (c->q->extended_l2 && ((bitmap >> 32) & bitmap))
        check_corrupt(c, "cluster 0x%llx: subcluster bitmap 0x%llx both allocated and zero",
                      (unsigned long long)off, (unsigned long long)bitmap);
    if (off & (c->q->cluster_size - 1))
        check_corrupt(c, "data cluster offset 0x%llx is not cluster aligned",
                      (unsigned long long)off);
    if (active) {
        c->res->allocated_clusters++;
        if (*next && off != *next)
            c->res->fragmented_clusters++;
        *next = off + c->q->cluster_size;
    }
    check_ref(c, off, c->q->cluster_size);
}

static int check_l2(Check *c, uint64_t l2_off, bool active, Error *err)
{
    Qcow2 *q = c->q;
    uint64_t n = q->cluster_size / q->l2_entry_size, next = 0;
    if (check_read(c, l2_off, c->buf, q->cluster_size, err) < 0)
        return -1;
    for (uint64_t j = 0; j < n; j++) {
        uint64_t bitmap, e = qcow2_l2_get(q, c->buf, j, &bitmap);
        if (e & QCOW2_OFLAG_COMPRESSED) {
            check_compressed(c, e, bitmap, active);
            continue;
        }
        if (e & QCOW2_L2_RESERVED_MASK)
            check_corrupt(c, "L2 entry 0x%llx has reserved bits set", (unsigned long long)e);
        if (e & QCOW2_L2_OFFSET_MASK)
            check_data(c, e, bitmap, active, &next);
        else if (q->extended_l2 && (bitmap & QCOW2_BITMAP_ALLOC_ALL))
            check_corrupt(c, "unallocated cluster has subclusters allocated (bitmap 0x%llx)",
                          (unsigned long long)bitmap);
    }
    return 0;
}

static int check_l1(Check *c, uint64_t l1_off, uint32_t n, bool active, Error *err)
{
    if (!n)
        return 0;
    check_ref(c, l1_off, (uint64_t)n * 8);
    uint8_t *l1 = malloc((size_t)n * 8);
    if (!l1) {
        c->res->check_errors++;
        return error_set(err, "out of memory");
    }
    int r = check_read(c, l1_off, l1, (size_t)n * 8, err);
    for (uint32_t i = 0; i < n && r == 0; i++) {
        uint64_t e = qcow2_be64(l1 + 8 * (size_t)i), l2_off = e & QCOW2_L1_OFFSET_MASK;
        if (!e)
            continue;
        if (e & QCOW2_L1_RESERVED_MASK)
            check_corrupt(c, "L1 entry 0x%llx has reserved bits set", (unsigned long long)e);
        check_ref(c, l2_off, c->q->cluster_size);
        if (l2_off & (c->q->cluster_size - 1))
            check_corrupt(c, "L2 table offset 0x%llx is not cluster aligned",
                          (unsigned long long)l2_off);
        r = check_l2(c, l2_off, active, err);
    }
    free(l1);
    return r;
}

static int check_snapshots(Check *c, Error *err)
{
    Qcow2 *q = c->q;
    for (uint32_t i = 0; i < q->nb_snapshots; i++) {
        const Qcow2Snapshot *sn = &q->snapshots[i];
        if (sn->l1_table_offset & (q->cluster_size - 1)) {
            check_corrupt(c, "snapshot %s: L1 table is not cluster aligned", sn->id);
            continue;
        }
        if (sn->l1_size > QCOW2_MAX_L1_BYTES / 8) {
            check_corrupt(c, "snapshot %s: L1 table is too large", sn->id);
            continue;
        }
        if (check_l1(c, sn->l1_table_offset, sn->l1_size, false, err) < 0)
            return -1;
    }
    check_ref(c, q->snapshots_offset, qcow2_snapshot_table_bytes(q));
    return 0;
}

/* ---- persistent dirty bitmaps (kept as bytes by the driver; their clusters count) ---- */

#define BITMAP_MAX_DIR_BYTES (64u << 20)
#define BITMAP_ENTRY_RESERVED 0xff000000000001feull

/* One bitmap table (n entries at off): the table and every data cluster it names. */
static int check_bitmap_table(Check *c, uint64_t off, uint32_t n, Error *err)
{
    Qcow2 *q = c->q;
    if (off & (q->cluster_size - 1) || (uint64_t)n * 8 > QCOW2_MAX_L1_BYTES) {
        check_corrupt(c, "bitmap table at 0x%llx (%u entries) is invalid", (unsigned long long)off,
                      n);
        return 0;
    }
    check_ref(c, off, (uint64_t)n * 8);
    for (uint32_t done = 0; done < n;) {
        uint32_t k = n - done < q->cluster_size / 8 ? n - done : (uint32_t)(q->cluster_size / 8);
        if (check_read(c, off + (uint64_t)done * 8, c->buf, (size_t)k * 8, err) < 0)
            return -1;
        for (uint32_t i = 0; i < k; i++) {
            uint64_t e = qcow2_be64(c->buf + 8 * i), data = e & QCOW2_L1_OFFSET_MASK;
            if ((e & BITMAP_ENTRY_RESERVED) || (data & (q->cluster_size - 1)) ||
                (data && (e & 1))) {
                check_corrupt(c, "bitmap table entry 0x%llx is invalid", (unsigned long long)e);
                continue;
            }
            if (data)
                check_ref(c, data, q->cluster_size);
        }
        done += k;
    }
    return 0;
}

/* Walk the bitmap directory dir (len bytes): each entry's table. */
static int check_bitmap_dir(Check *c, const uint8_t *dir, uint64_t len, uint32_t nb, Error *err)
{
    uint64_t p = 0;
    for (uint32_t i = 0; i < nb; i++) {
        if (len - p < 24) {
            check_corrupt(c, "bitmap directory is truncated");
            return 0;
        }
        const uint8_t *e = dir + p;
        uint64_t toff = qcow2_be64(e);
        uint32_t tsize = (uint32_t)(qcow2_be64(e + 8) >> 32);
        uint64_t name = (uint64_t)e[18] << 8 | e[19];
        uint64_t extra = qcow2_be64(e + 16) & 0xffffffffull;
        uint64_t sz = (24 + extra + name + 7) & ~7ull;
        if (sz > len - p) {
            check_corrupt(c, "bitmap directory is truncated");
            return 0;
        }
        if (check_bitmap_table(c, toff, tsize, err) < 0)
            return -1;
        p += sz;
    }
    return 0;
}

/* Bitmaps count only while the autoclear bit says the extension is valid (as for QEMU). */
static int check_bitmaps(Check *c, Error *err)
{
    Qcow2 *q = c->q;
    const Qcow2Ext *x = NULL;
    for (int i = 0; i < q->nb_exts && !x; i++)
        if (q->exts[i].type == QCOW2_EXT_BITMAPS && q->exts[i].len >= 24)
            x = &q->exts[i];
    if (!x || !(q->autoclear_features & QCOW2_AUTOCLEAR_BITMAPS))
        return 0;
    uint32_t nb = (uint32_t)(qcow2_be64(x->data) >> 32);
    uint64_t len = qcow2_be64(x->data + 8), off = qcow2_be64(x->data + 16);
    if (!nb)
        return 0;
    check_ref(c, off, len);
    if (len > BITMAP_MAX_DIR_BYTES || (off & (q->cluster_size - 1))) {
        check_corrupt(c, "bitmap directory at 0x%llx (%llu bytes) is invalid",
                      (unsigned long long)off, (unsigned long long)len);
        return 0;
    }
    uint8_t *dir = malloc(len ? len : 1);
    if (!dir) {
        c->res->check_errors++;
        return error_set(err, "out of memory");
    }
    int r = check_read(c, off, dir, len, err);
    if (r == 0)
        r = check_bitmap_dir(c, dir, len, nb, err);
    free(dir);
    return r;
}

/* Does reftable entry e name a refblock we can count (the qemu-img conditions)? */
static bool check_refblock_ok(Check *c, uint64_t e)
{
    uint64_t off = e & QCOW2_REFT_OFFSET_MASK;
    return off && !(e & QCOW2_REFT_RESERVED_MASK) && !(off & (c->q->cluster_size - 1)) &&
           (off >> c->q->cluster_bits) < c->file_clusters;
}

static void check_refblocks(Check *c)
{
    for (uint64_t i = 0; i < c->reftable_n; i++) {
        uint64_t e = c->reftable[i], off = e & QCOW2_REFT_OFFSET_MASK;
        if (e & QCOW2_REFT_RESERVED_MASK || off & (c->q->cluster_size - 1)) {
            check_corrupt(c, "refcount table entry %llu (0x%llx) is invalid", (unsigned long long)i,
                          (unsigned long long)e);
            c->rebuild = true;
            continue;
        }
        if ((off >> c->q->cluster_bits) >= c->file_clusters) {
            check_corrupt(c, "refcount block %llu is outside the image", (unsigned long long)i);
            c->rebuild = true;
            continue;
        }
        if (!off)
            continue;
        check_ref(c, off, c->q->cluster_size);
        uint32_t rc = c->ref[off >> c->q->cluster_bits];
        if (rc != 1) {
            check_corrupt(c, "refcount block %llu is referenced %u times", (unsigned long long)i,
                          rc);
            c->rebuild = true;
        }
    }
}

static int check_load_reftable(Check *c, Error *err)
{
    Qcow2 *q = c->q;
    free(c->reftable);
    c->reftable_n = (uint64_t)q->refcount_table_clusters * q->cluster_size / 8;
    c->reftable = malloc(c->reftable_n ? c->reftable_n * 8 : 1);
    if (!c->reftable) {
        c->res->check_errors++;
        return error_set(err, "out of memory");
    }
    if (c->reftable_n &&
        check_read(c, q->refcount_table_offset, c->reftable, c->reftable_n * 8, err) < 0)
        return -1;
    for (uint64_t i = 0; i < c->reftable_n; i++)
        c->reftable[i] = qcow2_be64((const uint8_t *)&c->reftable[i]);
    return 0;
}

/* Walk everything that holds a reference and fill c->ref. */
static int check_calculate(Check *c, Error *err)
{
    Qcow2 *q = c->q;
    memset(c->ref, 0, c->nb * sizeof(*c->ref));
    c->used = 0;
    c->rebuild = false;
    c->res->allocated_clusters = c->res->compressed_clusters = 0;
    c->res->fragmented_clusters = 0;
    check_ref(c, 0, q->cluster_size); /* header */
    if (check_l1(c, q->l1_table_offset, q->l1_size, true, err) < 0 || check_snapshots(c, err) < 0 ||
        check_load_reftable(c, err) < 0)
        return -1;
    check_ref(c, q->refcount_table_offset, (uint64_t)q->refcount_table_clusters * q->cluster_size);
    if (check_bitmaps(c, err) < 0)
        return -1;
    check_refblocks(c);
    return 0;
}

/* ---- stored refcounts, read straight from the file ---- */

typedef struct RefReader {
    uint64_t block; /* reftable index of the block in buf, UINT64_MAX = none */
    uint8_t *buf;
} RefReader;

static uint64_t refcount_decode(const Qcow2 *q, const uint8_t *b, uint64_t k)
{
    switch (q->refcount_order) {
    case 3: return b[k];
    case 4: return (uint64_t)b[2 * k] << 8 | b[2 * k + 1];
    case 5:
        return (uint64_t)b[4 * k] << 24 | (uint64_t)b[4 * k + 1] << 16 |
               (uint64_t)b[4 * k + 2] << 8 | b[4 * k + 3];
    case 6: return qcow2_be64(b + 8 * k);
    default: { /* 1, 2 or 4 bits, lowest bits of a byte first */
        unsigned bits = 1u << q->refcount_order, per = 8 / bits;
        return (b[k / per] >> (k % per * bits)) & ((1u << bits) - 1);
    }
    }
}

static void refcount_encode(const Qcow2 *q, uint8_t *b, uint64_t k, uint64_t v)
{
    if (v > q->refcount_max)
        v = q->refcount_max;
    switch (q->refcount_order) {
    case 3: b[k] = (uint8_t)v; return;
    case 4:
        b[2 * k] = (uint8_t)(v >> 8);
        b[2 * k + 1] = (uint8_t)v;
        return;
    case 5:
        for (int i = 0; i < 4; i++)
            b[4 * k + (uint64_t)i] = (uint8_t)(v >> (24 - 8 * i));
        return;
    case 6: qcow2_put_be64(b + 8 * k, v); return;
    default: {
        unsigned bits = 1u << q->refcount_order, per = 8 / bits, sh = (unsigned)(k % per) * bits;
        b[k / per] = (uint8_t)((b[k / per] & ~(((1u << bits) - 1) << sh)) | (v << sh));
    }
    }
}

/* Stored refcount of cluster idx; -1 when its refcount block cannot be read. */
static int check_stored(Check *c, RefReader *r, uint64_t idx, uint64_t *rc, Error *err)
{
    Qcow2 *q = c->q;
    uint64_t t = idx >> q->refblock_bits, e = t < c->reftable_n ? c->reftable[t] : 0;
    uint64_t off = e & QCOW2_REFT_OFFSET_MASK;
    *rc = 0;
    if (!off)
        return 0;
    if (off & (q->cluster_size - 1))
        return -1;
    if (r->block != t) {
        r->block = UINT64_MAX;
        if (block_file_pread(q->file, off, r->buf, q->cluster_size, err) < 0)
            return -1;
        r->block = t;
    }
    *rc = refcount_decode(q, r->buf, idx & ((1ull << q->refblock_bits) - 1));
    return 0;
}

/* Set a stored refcount through the driver; true when it worked. */
static bool check_set(Check *c, uint64_t idx, uint64_t v)
{
    Error e2;
    return qcow2_refcount_set(c->q, idx, v, &e2) == 0;
}

/* Compare stored with expected refcounts; fix what fix allows.  *highest: last used cluster. */
static void check_compare(Check *c, unsigned fix, uint64_t *highest, Error *err)
{
    RefReader r = {.block = UINT64_MAX, .buf = c->buf};
    uint64_t end = c->used > c->file_clusters ? c->used : c->file_clusters;
    *highest = 0;
    for (uint64_t i = 0; i < end; i++) {
        uint64_t s, e = i < c->nb ? c->ref[i] : 0;
        if (check_stored(c, &r, i, &s, err) < 0) {
            c->res->check_errors++;
            continue;
        }
        if (s || e)
            *highest = i;
        if (s == e)
            continue;
        if (s == 0)
            c->rebuild = true; /* no refcount block to fix it in */
        else if (s > e && (fix & BLOCK_FIX_LEAKS) && check_set(c, i, e)) {
            c->res->leaks_fixed++;
            continue;
        } else if (s < e && (fix & BLOCK_FIX_ERRORS) && check_set(c, i, e)) {
            c->res->corruptions_fixed++;
            continue;
        }
        if (s < e)
            check_corrupt(c, "cluster %llu refcount=%llu reference=%llu", (unsigned long long)i,
                          (unsigned long long)s, (unsigned long long)e);
        else
            check_leak(c, "leaked cluster %llu refcount=%llu reference=%llu", (unsigned long long)i,
                       (unsigned long long)s, (unsigned long long)e);
    }
}

/* ---- COPIED flags ---- */

static bool copied_mismatch(uint64_t e, uint64_t rc)
{
    return (rc == 1) != ((e & QCOW2_OFLAG_COPIED) != 0);
}

static uint64_t copied_fixed(uint64_t e, uint64_t rc)
{
    return rc == 1 ? e | QCOW2_OFLAG_COPIED : e & ~QCOW2_OFLAG_COPIED;
}

/* COPIED flags of one active L2 table; returns the number of entries fixed in c->buf. */
static int64_t check_l2_copied(Check *c, RefReader *r, bool repair, Error *err)
{
    Qcow2 *q = c->q;
    uint64_t n = q->cluster_size / q->l2_entry_size;
    int64_t fixed = 0;
    for (uint64_t j = 0; j < n; j++) {
        uint64_t bitmap, rc, e = qcow2_l2_get(q, c->buf, j, &bitmap);
        uint64_t off = e & QCOW2_L2_OFFSET_MASK;
        if ((e & QCOW2_OFLAG_COMPRESSED) || !off ||
            check_stored(c, r, off >> q->cluster_bits, &rc, err) < 0 || !copied_mismatch(e, rc))
            continue;
        check_corrupt(c, "COPIED flag of data cluster entry 0x%llx wrong (refcount %llu)",
                      (unsigned long long)e, (unsigned long long)rc);
        if (repair) {
            qcow2_l2_set(q, c->buf, j, copied_fixed(e, rc), bitmap);
            fixed++;
        }
    }
    return fixed;
}

static int check_copied(Check *c, unsigned fix, Error *err)
{
    Qcow2 *q = c->q;
    BlockCheckResult *res = c->res;
    bool repair = (fix & BLOCK_FIX_ERRORS) || ((fix & BLOCK_FIX_LEAKS) && !res->check_errors &&
                                               !res->corruptions && !res->leaks);
    uint8_t *rbuf = malloc(q->cluster_size);
    if (!rbuf) {
        res->check_errors++;
        return error_set(err, "out of memory");
    }
    RefReader r = {.block = UINT64_MAX, .buf = rbuf};
    int ret = 0;
    bool wrote = false;
    for (uint32_t i = 0; i < q->l1_size && ret == 0; i++) {
        uint64_t e = q->l1_table[i], l2_off = e & QCOW2_L1_OFFSET_MASK, rc;
        if (!l2_off || check_stored(c, &r, l2_off >> q->cluster_bits, &rc, err) < 0)
            continue;
        if (copied_mismatch(e, rc)) {
            check_corrupt(c, "COPIED flag of L1 entry %u wrong (refcount %llu)", i,
                          (unsigned long long)rc);
            if (repair) {
                q->l1_table[i] = copied_fixed(e, rc);
                if ((ret = qcow2_write_l1_entry(q, i, err)) < 0)
                    break;
                res->corruptions--;
                res->corruptions_fixed++;
            }
        }
        if ((ret = check_read(c, l2_off, c->buf, q->cluster_size, err)) < 0)
            break;
        int64_t fixed = check_l2_copied(c, &r, repair, err);
        if (fixed &&
            (ret = block_file_pwrite(q->file, l2_off, c->buf, q->cluster_size, err)) == 0) {
            wrote = true;
            res->corruptions -= fixed;
            res->corruptions_fixed += fixed;
        }
    }
    free(rbuf);
    if (wrote)
        qcow2_cache_drop(q);
    if (ret < 0)
        res->check_errors++;
    return ret;
}

/* ---- rebuilding the refcount structures ---- */

/* Expected refcount of cluster i once new structures sit at [first, end). */
static uint64_t rebuild_value(const Check *c, uint64_t i, uint64_t first, uint64_t end)
{
    uint64_t v = i < c->nb ? c->ref[i] : 0;
    return v + (i >= first && i < end);
}

static int rebuild_write(Check *c, uint64_t first, uint64_t nblocks, uint64_t tclusters,
                         uint64_t **table, Error *err)
{
    Qcow2 *q = c->q;
    uint64_t per = 1ull << q->refblock_bits, end = first + nblocks + tclusters;
    uint64_t tn = tclusters * q->cluster_size / 8;
    uint64_t *t = calloc(tn, 8);
    uint8_t *tb = calloc(tn, 8);
    int r = t && tb ? 0 : error_set(err, "out of memory");
    for (uint64_t k = 0; k < nblocks && r == 0; k++) {
        memset(c->buf, 0, q->cluster_size);
        for (uint64_t j = 0; j < per; j++)
            refcount_encode(q, c->buf, j, rebuild_value(c, k * per + j, first, end));
        t[k] = (first + k) << q->cluster_bits;
        qcow2_put_be64(tb + 8 * k, t[k]);
        r = block_file_pwrite(q->file, t[k], c->buf, q->cluster_size, err);
    }
    if (r == 0)
        r = block_file_pwrite(q->file, (first + nblocks) << q->cluster_bits, tb, tn * 8, err);
    free(tb);
    if (r == 0)
        r = block_file_sync(q->file, err);
    if (r < 0) {
        free(t);
        return -1;
    }
    *table = t;
    return 0;
}

/* Point the header and the driver at the new refcount table. */
static int rebuild_switch(Check *c, uint64_t *table, uint64_t off, uint64_t clusters, Error *err)
{
    Qcow2 *q = c->q;
    q->refcount_table_offset = off;
    q->refcount_table_clusters = (uint32_t)clusters;
    if (qcow2_write_header(q, err) < 0 || block_file_sync(q->file, err) < 0) {
        free(table);
        return -1;
    }
    for (int32_t i = 0; i < q->rb_cache.n; i++)
        if (q->rb_cache.e[i].offset)
            qcow2_cache_forget(&q->rb_cache, q->rb_cache.e[i].offset);
    free(q->refcount_table);
    q->refcount_table = table;
    q->reftable_entries = clusters * q->cluster_size / 8;
    qcow2_reftable_used(q);
    q->free_hint = 0;
    return 0;
}

/*
 * Write fresh refcount blocks and table after everything in use, from the
 * expected refcounts (the old structures no longer count), and switch to them.
 */
static int check_rebuild(Check *c, Error *err)
{
    Qcow2 *q = c->q;
    check_unref(c, q->refcount_table_offset,
                (uint64_t)q->refcount_table_clusters * q->cluster_size);
    for (uint64_t i = 0; i < c->reftable_n; i++)
        if (check_refblock_ok(c, c->reftable[i]))
            check_unref(c, c->reftable[i] & QCOW2_REFT_OFFSET_MASK, q->cluster_size);
    uint64_t first = c->used > c->file_clusters ? c->used : c->file_clusters;
    uint64_t per = 1ull << q->refblock_bits, nblocks = 0, tclusters = 0;
    for (;;) { /* the new structures count themselves: iterate to a fixed point */
        uint64_t total = first + nblocks + tclusters;
        uint64_t nb2 = (total + per - 1) / per;
        uint64_t tc2 = (nb2 * 8 + q->cluster_size - 1) / q->cluster_size;
        if (nb2 == nblocks && tc2 == tclusters)
            break;
        nblocks = nb2;
        tclusters = tc2;
    }
    if (tclusters * q->cluster_size > QCOW2_MAX_REFTABLE_BYTES)
        return error_set(err, "%s: refcount table would be too large to rebuild", q->file->path);
    uint64_t *table;
    if (rebuild_write(c, first, nblocks, tclusters, &table, err) < 0)
        return -1;
    return rebuild_switch(c, table, (first + nblocks) << q->cluster_bits, tclusters, err);
}

/* Rebuild, then count again: what the rebuild cured counts as fixed. */
static int check_rebuild_and_recount(Check *c, uint64_t *highest, Error *err)
{
    BlockCheckResult old = *c->res;
    if (check_rebuild(c, err) < 0) {
        c->res->check_errors++;
        return -1;
    }
    c->res->corruptions = c->res->leaks = 0;
    if (check_size(c, err) < 0 || check_calculate(c, err) < 0)
        return -1;
    check_compare(c, BLOCK_FIX_LEAKS, highest, err);
    if (c->res->corruptions < old.corruptions)
        c->res->corruptions_fixed += old.corruptions - c->res->corruptions;
    if (c->res->leaks < old.leaks)
        c->res->leaks_fixed += old.leaks - c->res->leaks;
    return 0;
}

/* ---- the whole check ---- */

static int check_init(Check *c, Qcow2 *q, BlockCheckResult *res, Error *err)
{
    memset(c, 0, sizeof(*c));
    c->q = q;
    c->res = res;
    c->ref_limit = q->refcount_max < UINT32_MAX ? q->refcount_max : UINT32_MAX;
    c->buf = malloc(q->cluster_size);
    if (!c->buf) {
        res->check_errors++;
        return error_set(err, "out of memory");
    }
    return check_size(c, err);
}

static void check_fini(Check *c)
{
    free(c->ref);
    free(c->buf);
    free(c->reftable);
}

/* Refcounts: count, then fix as allowed (a rebuild when the structures are broken). */
static int check_refcounts(Check *c, unsigned fix, uint64_t *highest, Error *err)
{
    BlockCheckResult before = *c->res;
    check_compare(c, 0, highest, err);
    if (c->rebuild && (fix & BLOCK_FIX_ERRORS))
        return check_rebuild_and_recount(c, highest, err);
    if (!fix)
        return 0;
    if (c->rebuild) {
        c->res->check_errors++;
        return error_set(err, "%s: the refcount structures are broken; repair them with -r all",
                         c->q->file->path);
    }
    if (c->res->leaks || c->res->corruptions) {
        *c->res = before;
        check_compare(c, fix, highest, err);
    }
    return qcow2_flush_metadata(c->q, true, err);
}

/* Mark the image clean and consistent once nothing is left to repair. */
static int check_mark_clean(Qcow2 *q, Error *err)
{
    uint64_t bits = q->incompatible_features & (QCOW2_INCOMPAT_DIRTY | QCOW2_INCOMPAT_CORRUPT);
    if (!bits)
        return 0;
    if (qcow2_set_incompat(q, 0, bits, err) < 0)
        return -1;
    q->dirty_on_disk = false;
    q->corrupt_marked = false;
    return 0;
}

static int check_run(Qcow2 *q, BlockCheckResult *res, unsigned fix, bool mark_clean, Error *err)
{
    Check c;
    uint64_t highest = 0;
    memset(res, 0, sizeof(*res));
    if (!q->bd.read_only && qcow2_flush_metadata(q, true, err) < 0) {
        res->check_errors++;
        return -1;
    }
    int r = check_init(&c, q, res, err);
    if (r == 0)
        r = check_calculate(&c, err);
    if (r == 0)
        r = check_refcounts(&c, fix, &highest, err);
    if (r == 0)
        r = check_copied(&c, fix, err);
    check_fini(&c);
    res->image_end_offset = (highest + 1) << q->cluster_bits;
    res->total_clusters = (q->size + q->cluster_size - 1) >> q->cluster_bits;
    if (r == 0 && fix && mark_clean && !res->check_errors && !res->corruptions)
        r = check_mark_clean(q, err);
    return r;
}

int qcow2_check(BlockDev *bd, BlockCheckResult *res, unsigned fix, Error *err)
{
    return check_run(qcow2_of(bd), res, fix, true, err);
}

int qcow2_check_repair_dirty(Qcow2 *q, Error *err)
{
    BlockCheckResult res;
    if (check_run(q, &res, BLOCK_FIX_LEAKS | BLOCK_FIX_ERRORS, false, err) < 0)
        return -1;
    if (res.corruptions || res.check_errors)
        return error_set(err,
                         "%s: image is corrupt: %lld problems left after repairing refcounts "
                         "(first: %s)",
                         q->file->path, (long long)(res.corruptions + res.check_errors),
                         res.first_problem);
    return 0;
}
