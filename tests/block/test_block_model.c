/*
 * Randomized model test of the block layer: thousands of random reads,
 * writes (unaligned, scattered over several iovecs), discards,
 * write-zeroes, compressed writes, flushes, status queries, reopens,
 * resizes and internal snapshots (create / apply / delete) on an image, each checked
 * against an in-memory model of the disk.  One configuration per image
 * kind: raw; qcow2 v2 and v3 with 512 B, 4 KiB, 64 KiB and 2 MiB clusters;
 * extended L2; lazy refcounts; a tiny L2 cache; zlib and zstd compressed
 * clusters; a raw backing file and a two-deep qcow2 backing chain (the
 * model starts from the chain's content).
 *
 * After each configuration the whole disk is read back, block_check must
 * find no corruption and no leak, and when qemu-img is installed
 * `qemu-img check` must pass and `qemu-img compare` must see the same
 * content as a raw copy of the model.
 *
 * Seeds are fixed (printed per configuration); MODEL_SEED=N overrides the
 * base seed, MODEL_ONLY=NAME runs one configuration, MODEL_TRACE=1 prints
 * every operation, MODEL_OPS_SCALE=N multiplies the operation counts.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "block/block.h"
#include "block/file.h"
#include "fault_file.h"
#include "robust.h"
#include "tap.h"

#define KiB 1024ull
#define MiB (1024ull * 1024)
#define MAX_SNAPS 4

typedef enum { BK_NONE, BK_RAW, BK_QCOW2 } BackingKind;

typedef struct Config {
    const char *name;
    const char *format;
    uint64_t size;
    uint32_t cluster_size;
    int compat;
    bool extended_l2, lazy_refcounts, compressed, no_snapshots;
    const char *compression_type;
    unsigned refcount_bits; /* 0: 16 */
    BackingKind backing;
    uint64_t l2_cache_bytes;
    unsigned ops;
} Config;

static const Config configs[] = {
    {"raw", "raw", 8 * MiB, 0, 0, .ops = 3000},
    {"v3-64k", "qcow2", 8 * MiB, 64 * KiB, 3, .ops = 2000},
    {"v2-64k", "qcow2", 8 * MiB, 64 * KiB, 2, .ops = 1500},
    {"v3-512", "qcow2", 2 * MiB, 512, 3, .ops = 2000},
    {"v2-512", "qcow2", 2 * MiB, 512, 2, .ops = 1500},
    {"v3-4k", "qcow2", 8 * MiB, 4 * KiB, 3, .ops = 2000},
    {"v2-4k", "qcow2", 8 * MiB, 4 * KiB, 2, .ops = 1500},
    {"v3-2m", "qcow2", 16 * MiB, 2 * MiB, 3, .ops = 300},
    {"v2-2m", "qcow2", 16 * MiB, 2 * MiB, 2, .ops = 250},
    {"extl2-64k", "qcow2", 8 * MiB, 64 * KiB, 3, .extended_l2 = true, .ops = 1500},
    {"extl2-2m", "qcow2", 16 * MiB, 2 * MiB, 3, .extended_l2 = true, .ops = 300},
    {"lazy-64k", "qcow2", 8 * MiB, 64 * KiB, 3, .lazy_refcounts = true, .ops = 1200},
    {"tiny-l2-cache", "qcow2", 8 * MiB, 4 * KiB, 3, .l2_cache_bytes = 8 * KiB, .ops = 1200},
    {"zlib-64k", "qcow2", 8 * MiB, 64 * KiB, 3, .compressed = true, .ops = 1200},
    {"zstd-4k", "qcow2", 8 * MiB, 4 * KiB, 3, .compressed = true, .compression_type = "zstd",
     .ops = 1200},
    {"zlib-v2-512", "qcow2", 2 * MiB, 512, 2, .compressed = true, .ops = 1000},
    {"raw-backing", "qcow2", 8 * MiB, 64 * KiB, 3, .backing = BK_RAW, .ops = 1500},
    {"chain-v2", "qcow2", 8 * MiB, 4 * KiB, 2, .backing = BK_QCOW2, .ops = 1200},
    {"chain-extl2-2m", "qcow2", 16 * MiB, 2 * MiB, 3, .extended_l2 = true, .backing = BK_QCOW2,
     .compressed = true, .ops = 300},
    /* Refcount widths other than 16: 64 bits in 512-byte clusters makes the refcount
       table grow; 1 bit cannot count a second reference (no snapshots). */
    {"rc64-512", "qcow2", 2 * MiB, 512, 3, .refcount_bits = 64, .ops = 800},
    {"rc1-4k", "qcow2", 8 * MiB, 4 * KiB, 3, .refcount_bits = 1, .no_snapshots = true, .ops = 1000},
};

typedef struct Snap {
    char name[24];
    uint8_t *data, *disc;
} Snap;

typedef struct Model {
    const Config *c;
    Rng rng;
    uint64_t seed;
    char *dir, *path;
    BlockDev *bd;
    uint64_t size, maxlen; /* current disk size, longest request */
    uint64_t cap, maxlen0; /* most the disk may grow to (resize), longest request at all */
    uint32_t cs;           /* cluster size that shapes requests (raw: 64 KiB) */
    uint8_t *data;         /* expected content */
    uint8_t *disc;         /* 1: discarded, reads 0 or under[] (then pinned) */
    uint8_t *under;        /* the backing chain's content, or NULL */
    uint8_t *buf;          /* scratch, maxlen bytes */
    Snap snaps[MAX_SNAPS];
    int nsnaps, snap_seq;
    bool can_snap, can_compress, can_resize;
    unsigned op;
    bool failed, trace;
    unsigned long counts[16];
} Model;

enum {
    C_WRITE,
    C_READ,
    C_DISCARD,
    C_ZERO,
    C_COMP,
    C_FLUSH,
    C_STATUS,
    C_REOPEN,
    C_SNAP_C,
    C_SNAP_A,
    C_SNAP_D,
    C_RESIZE
};

static void fail(Model *m, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void fail(Model *m, const char *fmt, ...)
{
    va_list ap;
    printf("# FAIL %s (seed %" PRIu64 ", op %u): ", m->c->name, m->seed, m->op);
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    printf("\n");
    m->failed = true;
}

static void trace(Model *m, const char *what, uint64_t off, uint64_t len)
{
    if (m->trace)
        printf("# %u %s 0x%" PRIx64 "+0x%" PRIx64 "\n", m->op, what, off, len);
}

static uint64_t file_bound(const Model *m);

/* A random range: lengths from 1 byte to a few clusters, offsets unaligned or aligned. */
static void pick_range(Model *m, uint64_t *off, uint64_t *len)
{
    Rng *r = &m->rng;
    uint64_t cs = m->cs, n;
    switch (rng_below(r, 6)) {
    case 0: n = 1 + rng_below(r, 512); break;
    case 1: n = 1 + rng_below(r, 2 * cs); break;
    case 2: n = cs * (1 + rng_below(r, 3)); break;
    case 3: n = 512 * (1 + rng_below(r, m->maxlen / 512)); break;
    case 4: n = 1 + rng_below(r, m->maxlen); break;
    default: n = 1 + rng_below(r, 8192); break;
    }
    if (n > m->maxlen)
        n = m->maxlen;
    uint64_t span = m->size - n + 1, o;
    switch (rng_below(r, 5)) {
    case 0: o = rng_below(r, span) / cs * cs; break;
    case 1: o = rng_below(r, span) / 512 * 512; break;
    case 2: o = m->size - n; break; /* the end of the disk */
    default: o = rng_below(r, span); break;
    }
    *off = o;
    *len = n;
}

/* Data that compresses about half of the time. */
static void fill_data(Model *m, uint8_t *buf, size_t len)
{
    if (rng_below(&m->rng, 2)) {
        rng_fill(&m->rng, buf, len);
        return;
    }
    size_t period = 1 + (size_t)rng_below(&m->rng, 64);
    rng_fill(&m->rng, buf, len < period ? len : period);
    for (size_t done = period; done < len; done *= 2) /* repeat the period by doubling */
        memcpy(buf + done, buf, len - done < done ? len - done : done);
    for (size_t i = 4096; i < len; i += 3 * 4096) /* and a zeroed 4 KiB block in three */
        memset(buf + i, 0, len - i < 4096 ? len - i : 4096);
}

/* Split [buf, buf+len) into 1-5 iovecs (some of them empty). */
static int split_iov(Model *m, uint8_t *buf, size_t len, struct iovec *iov)
{
    int n = 1 + (int)rng_below(&m->rng, 5);
    size_t done = 0;
    for (int i = 0; i < n; i++) {
        size_t part = i == n - 1 ? len - done : (size_t)rng_below(&m->rng, len - done + 1);
        iov[i] = (struct iovec){.iov_base = buf + done, .iov_len = part};
        done += part;
    }
    return n;
}

/* Compare what was read with the model; discarded bytes get pinned to what was read. */
static void check_read(Model *m, uint64_t off, const uint8_t *got, uint64_t len, const char *what)
{
    if (memcmp(got, m->data + off, len) == 0)
        return;
    for (uint64_t i = 0; i < len; i++) {
        uint64_t b = off + i;
        if (got[i] == m->data[b])
            continue;
        if (m->disc[b] && m->under && got[i] == m->under[b]) {
            m->data[b] = got[i];
            m->disc[b] = 0;
            continue;
        }
        fail(m, "%s 0x%" PRIx64 "+0x%" PRIx64 ": byte 0x%" PRIx64 " is 0x%02x, want 0x%02x%s", what,
             off, len, b, got[i], m->data[b], m->disc[b] ? " (discarded)" : "");
        return;
    }
}

static void set_known(Model *m, uint64_t off, const uint8_t *src, uint64_t len)
{
    if (src)
        memcpy(m->data + off, src, len);
    else
        memset(m->data + off, 0, len);
    memset(m->disc + off, 0, len);
}

static void op_write(Model *m)
{
    uint64_t off, len;
    struct iovec iov[5];
    Error err = {0};
    pick_range(m, &off, &len);
    trace(m, "write", off, len);
    fill_data(m, m->buf, len);
    int n = split_iov(m, m->buf, len, iov);
    if (block_writev(m->bd, off, iov, n, &err) < 0)
        return fail(m, "write 0x%" PRIx64 "+0x%" PRIx64 ": %s", off, len, err.msg);
    set_known(m, off, m->buf, len);
}

static void op_read(Model *m)
{
    uint64_t off, len;
    struct iovec iov[5];
    Error err = {0};
    pick_range(m, &off, &len);
    trace(m, "read", off, len);
    memset(m->buf, 0xa5, len);
    int n = split_iov(m, m->buf, len, iov);
    if (block_readv(m->bd, off, iov, n, &err) < 0)
        return fail(m, "read 0x%" PRIx64 "+0x%" PRIx64 ": %s", off, len, err.msg);
    check_read(m, off, m->buf, len, "read");
}

static void op_discard(Model *m)
{
    uint64_t off, len;
    Error err = {0};
    pick_range(m, &off, &len);
    trace(m, "discard", off, len);
    if (block_discard(m->bd, off, len, &err) < 0)
        return fail(m, "discard 0x%" PRIx64 "+0x%" PRIx64 ": %s", off, len, err.msg);
    set_known(m, off, NULL, len);
    if (m->under)
        memset(m->disc + off, 1, len);
}

static void op_zero(Model *m)
{
    uint64_t off, len;
    Error err = {0};
    bool unmap = rng_below(&m->rng, 2);
    pick_range(m, &off, &len);
    trace(m, unmap ? "zero-unmap" : "zero", off, len);
    if (block_write_zeroes(m->bd, off, len, unmap, &err) < 0)
        return fail(m, "write-zeroes 0x%" PRIx64 "+0x%" PRIx64 ": %s", off, len, err.msg);
    set_known(m, off, NULL, len);
}

static void op_compressed(Model *m)
{
    Error err = {0};
    uint64_t clusters = (m->size + m->cs - 1) / m->cs;
    uint64_t off = rng_below(&m->rng, clusters) * m->cs;
    uint64_t len = m->size - off < m->cs ? m->size - off : m->cs;
    trace(m, "compressed", off, len);
    fill_data(m, m->buf, len);
    if (block_write_compressed(m->bd, off, m->buf, len, &err) < 0)
        return fail(m, "compressed write 0x%" PRIx64 "+0x%" PRIx64 ": %s", off, len, err.msg);
    set_known(m, off, m->buf, len);
}

static void op_flush(Model *m)
{
    Error err = {0};
    trace(m, "flush", 0, 0);
    if (block_flush(m->bd, &err) < 0)
        fail(m, "flush: %s", err.msg);
}

static bool all_zero_or_discarded(Model *m, uint64_t off, uint64_t len)
{
    for (uint64_t i = off; i < off + len; i++) {
        if (m->data[i] && !m->disc[i])
            return false;
    }
    return true;
}

/* Walk block_status_chain over a range: extents said to read as zeroes must be zeroes. */
static void op_status(Model *m)
{
    uint64_t off, len;
    pick_range(m, &off, &len);
    trace(m, "status", off, len);
    for (int i = 0; i < 64 && len; i++) {
        uint64_t pnum, host;
        unsigned flags, depth;
        Error err = {0};
        if (block_status_chain(m->bd, off, len, &pnum, &flags, &host, &depth, &err) < 0)
            return fail(m, "status 0x%" PRIx64 "+0x%" PRIx64 ": %s", off, len, err.msg);
        if (pnum == 0 || pnum > len)
            return fail(m, "status 0x%" PRIx64 "+0x%" PRIx64 ": extent of 0x%" PRIx64, off, len,
                        pnum);
        bool zero = (flags & BLOCK_ST_ZERO) || !(flags & BLOCK_ST_ALLOCATED);
        if (zero && !all_zero_or_discarded(m, off, pnum))
            return fail(m,
                        "status says 0x%" PRIx64 "+0x%" PRIx64
                        " reads as zeroes (flags 0x%x, depth %u), the model has data",
                        off, pnum, flags, depth);
        off += pnum;
        len -= pnum;
    }
}

/*
 * The image under test sits on a cap_file: a runaway allocation fails at
 * once instead of filling the host's disk.
 */
static BlockDev *open_top(Model *m, Error *err)
{
    BlockOpenOpts o = {.format = m->c->format, .l2_cache_bytes = m->c->l2_cache_bytes};
    BlockFile *lower = block_file_open(m->path, false, true, err);
    BlockFile *f = lower ? cap_file_wrap(lower, file_bound(m), err) : NULL;
    return f ? block_open_file(f, &o, err) : NULL;
}

static void op_reopen(Model *m)
{
    Error err = {0};
    trace(m, "reopen", 0, 0);
    block_close(m->bd);
    m->bd = open_top(m, &err);
    if (!m->bd)
        fail(m, "reopen: %s", err.msg);
}

static void snap_free(Snap *s)
{
    free(s->data);
    free(s->disc);
}

/* The image's snapshot list must hold exactly the model's names. */
static void check_snap_list(Model *m)
{
    BlockSnapshot *list;
    int count;
    Error err = {0};
    if (block_snapshot_list(m->bd, &list, &count, &err) < 0)
        return fail(m, "snapshot list: %s", err.msg);
    if (count != m->nsnaps)
        fail(m, "snapshot list has %d entries, want %d", count, m->nsnaps);
    for (int i = 0; i < m->nsnaps && !m->failed; i++) {
        bool found = false;
        for (int j = 0; j < count; j++)
            found |= list[j].name && strcmp(list[j].name, m->snaps[i].name) == 0;
        if (!found)
            fail(m, "snapshot %s missing from the list", m->snaps[i].name);
    }
    block_snapshot_list_free(list, count);
}

static void op_snap_create(Model *m)
{
    Error err = {0};
    if (m->nsnaps == MAX_SNAPS)
        return;
    Snap *s = &m->snaps[m->nsnaps];
    snprintf(s->name, sizeof(s->name), "snap%d", ++m->snap_seq);
    trace(m, s->name, 0, 0);
    BlockSnapshot sn = {.name = s->name, .icount = UINT64_MAX};
    if (block_snapshot_create(m->bd, &sn, &err) < 0)
        return fail(m, "snapshot create %s: %s", s->name, err.msg);
    /* Slots keep their buffers: fresh 8 MiB allocations cost more in page faults than the test. */
    if (!s->data)
        s->data = malloc(m->cap);
    if (!s->disc)
        s->disc = malloc(m->cap);
    if (!s->data || !s->disc)
        return fail(m, "out of memory");
    memcpy(s->data, m->data, m->size);
    memcpy(s->disc, m->disc, m->size);
    m->nsnaps++;
    check_snap_list(m);
}

static void op_snap_apply(Model *m)
{
    Error err = {0};
    if (m->nsnaps == 0)
        return;
    Snap *s = &m->snaps[rng_below(&m->rng, (uint64_t)m->nsnaps)];
    trace(m, "apply", 0, 0);
    if (block_snapshot_apply(m->bd, s->name, &err) < 0)
        return fail(m, "snapshot apply %s: %s", s->name, err.msg);
    memcpy(m->data, s->data, m->size);
    memcpy(m->disc, s->disc, m->size);
}

static void op_snap_delete(Model *m)
{
    Error err = {0};
    if (m->nsnaps == 0)
        return;
    int i = (int)rng_below(&m->rng, (uint64_t)m->nsnaps);
    trace(m, "delete", 0, 0);
    if (block_snapshot_delete(m->bd, m->snaps[i].name, &err) < 0)
        return fail(m, "snapshot delete %s: %s", m->snaps[i].name, err.msg);
    Snap gone = m->snaps[i];
    m->snaps[i] = m->snaps[--m->nsnaps];
    m->snaps[m->nsnaps] = gone;
    check_snap_list(m);
}

/*
 * Grow or shrink, after deleting every snapshot (a v3 image may grow with
 * snapshots, but shrinking is refused, and applying one would change the
 * size under the model).
 * The new area reads as zeroes, also over a longer backing file (as QEMU
 * zero-fills it since 5.0).
 */
static void op_resize(Model *m)
{
    Error err = {0};
    while (m->nsnaps && !m->failed) /* make way: delete them all (they come back later) */
        op_snap_delete(m);
    if (m->failed)
        return;
    uint64_t lo = m->c->size / 2, n = lo + rng_below(&m->rng, m->cap - lo + 1);
    n = n / 512 * 512;
    trace(m, "resize", n, 0);
    if (block_truncate(m->bd, n, &err) < 0)
        return fail(m, "resize 0x%" PRIx64 " -> 0x%" PRIx64 ": %s", m->size, n, err.msg);
    if (block_length(m->bd) != n)
        return fail(m, "resize to 0x%" PRIx64 ": the length is 0x%" PRIx64, n, block_length(m->bd));
    if (n < m->size) /* what lies past the end is gone for good */
        set_known(m, n, NULL, m->size - n);
    m->size = n;
    m->maxlen = m->maxlen0 < n ? m->maxlen0 : n;
}

/*
 * The image file may hold the disk once per snapshot plus the live copy,
 * and metadata; far more means leaked or runaway allocations.
 */
static uint64_t file_bound(const Model *m)
{
    return (MAX_SNAPS + 2) * m->cap + 16 * MiB;
}

static void check_file_size(Model *m)
{
    uint64_t len = m->bd->file->ops->length(m->bd->file);
    if (len > file_bound(m))
        fail(m, "the image file grew to %" PRIu64 " bytes for a %" PRIu64 "-byte disk", len,
             m->size);
}

/* One random operation, weighted towards I/O. */
static void step(Model *m)
{
    static const struct {
        int kind;
        unsigned weight;
    } table[] = {
        {C_WRITE, 30}, {C_READ, 25},  {C_DISCARD, 8}, {C_ZERO, 8},   {C_COMP, 6},   {C_FLUSH, 4},
        {C_STATUS, 6}, {C_REOPEN, 1}, {C_SNAP_C, 1},  {C_SNAP_A, 1}, {C_SNAP_D, 1}, {C_RESIZE, 1},
    };
    unsigned total = 0;
    for (size_t i = 0; i < sizeof(table) / sizeof(table[0]); i++)
        total += table[i].weight;
    unsigned pick = (unsigned)rng_below(&m->rng, total);
    int kind = C_WRITE;
    for (size_t i = 0; i < sizeof(table) / sizeof(table[0]); i++) {
        if (pick < table[i].weight) {
            kind = table[i].kind;
            break;
        }
        pick -= table[i].weight;
    }
    bool snap = kind == C_SNAP_C || kind == C_SNAP_A || kind == C_SNAP_D;
    if ((kind == C_COMP && !m->can_compress) || (snap && !m->can_snap) ||
        (kind == C_RESIZE && !m->can_resize))
        kind = C_READ;
    m->counts[kind]++;
    switch (kind) {
    case C_WRITE: op_write(m); break;
    case C_READ: op_read(m); break;
    case C_DISCARD: op_discard(m); break;
    case C_ZERO: op_zero(m); break;
    case C_COMP: op_compressed(m); break;
    case C_FLUSH: op_flush(m); break;
    case C_STATUS: op_status(m); break;
    case C_REOPEN: op_reopen(m); break;
    case C_SNAP_C: op_snap_create(m); break;
    case C_SNAP_A: op_snap_apply(m); break;
    case C_SNAP_D: op_snap_delete(m); break;
    default: op_resize(m); break;
    }
}

/* ---- setup: backing files and the image under test ---- */

/* Write random extents (and for qcow2 some zeroed ones) into img; mirror them in under[]. */
static int scribble(Model *m, BlockDev *img, uint64_t len, uint8_t *under, Error *err)
{
    for (int i = 0; i < 24; i++) {
        uint64_t n = 1 + rng_below(&m->rng, len / 8);
        uint64_t off = rng_below(&m->rng, len - n + 1);
        if (i % 6 == 5 && strcmp(img->drv->format, "qcow2") == 0) {
            if (block_write_zeroes(img, off, n, rng_below(&m->rng, 2), err) < 0)
                return -1;
            memset(under + off, 0, n);
            continue;
        }
        uint8_t *p = malloc(n);
        if (!p)
            return error_set(err, "out of memory");
        rng_fill(&m->rng, p, n);
        int rc = block_pwrite(img, off, p, n, err);
        if (rc == 0)
            memcpy(under + off, p, n);
        free(p);
        if (rc < 0)
            return -1;
    }
    return 0;
}

/* Create dir/name (fmt, size, backing) and scribble on it. */
static int make_layer(Model *m, const char *name, const char *fmt, BlockCreateOpts *co, Error *err)
{
    char path[4096];
    snprintf(path, sizeof(path), "%s/%s", m->dir, name);
    if (block_create(path, fmt, co, err) < 0)
        return -1;
    BlockDev *img = block_open(path, fmt, false, err);
    if (!img)
        return -1;
    int rc = scribble(m, img, co->size, m->under, err);
    block_close(img);
    return rc;
}

/* The backing chain under the image; fills m->under and *bfile / *bfmt. */
static int make_backing(Model *m, const char **bfile, const char **bfmt, Error *err)
{
    m->under = calloc(1, m->cap);
    if (!m->under)
        return error_set(err, "out of memory");
    if (m->c->backing == BK_RAW) {
        /* Shorter than the image, and not a whole number of sectors. */
        BlockCreateOpts co = {.size = m->size * 3 / 4 + 777};
        *bfile = "base.raw";
        *bfmt = "raw";
        return make_layer(m, *bfile, "raw", &co, err);
    }
    BlockCreateOpts base = {.size = m->size / 2, .cluster_size = 4096, .compat = 3};
    if (make_layer(m, "base.qcow2", "qcow2", &base, err) < 0)
        return -1;
    BlockCreateOpts mid = {.size = m->size * 3 / 4,
                           .cluster_size = 65536,
                           .compat = m->c->compat,
                           .backing_file = "base.qcow2",
                           .backing_fmt = "qcow2"};
    *bfile = "mid.qcow2";
    *bfmt = "qcow2";
    return make_layer(m, *bfile, "qcow2", &mid, err);
}

static int model_setup(Model *m, Error *err)
{
    const Config *c = m->c;
    m->size = c->size;
    m->cap = 2 * c->size;
    m->cs = c->cluster_size ? c->cluster_size : 64 * KiB;
    m->maxlen0 = 3ull * m->cs > 256 * KiB ? 3ull * m->cs : 256 * KiB;
    m->maxlen = m->maxlen0 < m->size ? m->maxlen0 : m->size;
    m->data = calloc(1, m->cap);
    m->disc = calloc(1, m->cap);
    m->buf = malloc(m->maxlen0);
    m->dir = scratch_dir("model");
    if (!m->data || !m->disc || !m->buf || !m->dir ||
        asprintf(&m->path, "%s/disk.%s", m->dir, c->format) < 0)
        return error_set(err, "out of memory or no scratch directory");
    BlockCreateOpts co = {.size = m->size,
                          .cluster_size = c->cluster_size,
                          .compat = c->compat,
                          .extended_l2 = c->extended_l2,
                          .lazy_refcounts = c->lazy_refcounts,
                          .compression_type = c->compression_type,
                          .refcount_bits = c->refcount_bits};
    if (c->backing != BK_NONE) {
        if (make_backing(m, &co.backing_file, &co.backing_fmt, err) < 0)
            return -1;
        memcpy(m->data, m->under, m->size);
    }
    if (block_create(m->path, c->format, &co, err) < 0)
        return -1;
    m->bd = open_top(m, err);
    if (!m->bd)
        return -1;
    m->can_snap = !c->no_snapshots && m->bd->drv->snapshot_create && m->bd->drv->snapshot_apply &&
                  m->bd->drv->snapshot_delete;
    m->can_compress = c->compressed && m->bd->drv->write_compressed;
    m->can_resize = m->bd->drv->truncate != NULL;
    return 0;
}

static void model_free(Model *m)
{
    block_close(m->bd);
    for (int i = 0; i < MAX_SNAPS; i++)
        snap_free(&m->snaps[i]);
    if (m->dir && !getenv("MODEL_KEEP"))
        scratch_remove(m->dir);
    else if (m->dir)
        printf("# kept %s\n", m->dir);
    free(m->dir);
    free(m->path);
    free(m->data);
    free(m->disc);
    free(m->under);
    free(m->buf);
}

/* ---- the checks after the random run ---- */

static void read_all(Model *m)
{
    Error err = {0};
    for (uint64_t off = 0; off < m->size && !m->failed; off += m->maxlen) {
        uint64_t n = m->size - off < m->maxlen ? m->size - off : m->maxlen;
        if (block_pread(m->bd, off, m->buf, n, &err) < 0)
            return fail(m, "final read at 0x%" PRIx64 ": %s", off, err.msg);
        check_read(m, off, m->buf, n, "final read");
    }
    /* Whatever stayed discarded and read as the model's zeroes is zeroes now. */
    memset(m->disc, 0, m->size);
}

static void check_image(Model *m)
{
    BlockCheckResult res;
    Error err = {0};
    if (!m->bd->drv->check) {
        printf("# %s: the %s format has no metadata to check\n", m->c->name, m->c->format);
        return;
    }
    int rc = block_check(m->bd, &res, 0, &err);
    ok(rc == 0 && res.corruptions == 0 && res.leaks == 0 && res.check_errors == 0,
       "%s: block_check finds no corruption or leak", m->c->name);
    if (rc < 0)
        printf("#   %s\n", err.msg);
    else if (res.corruptions || res.leaks || res.check_errors)
        printf("#   %" PRId64 " corruptions, %" PRId64 " leaks, %" PRId64 " errors: %s\n",
               res.corruptions, res.leaks, res.check_errors, res.first_problem);
}

/* qemu-img check and compare against a raw copy of the model (image closed). */
static void check_with_qemu(Model *m)
{
    static char out[8192];
    char ref[4096];
    if (strcmp(m->c->format, "qcow2") != 0 || !have_qemu_img())
        return;
    int rc = run_cmd(out, sizeof(out), "qemu-img check -f qcow2 '%s'", m->path);
    ok(rc == 0, "%s: qemu-img check passes", m->c->name);
    if (rc != 0)
        printf("# exit %d:\n%s", rc, out);
    snprintf(ref, sizeof(ref), "%s/model.raw", m->dir);
    FILE *f = fopen(ref, "wb");
    bool wrote = f && fwrite(m->data, 1, m->size, f) == m->size;
    if (f)
        fclose(f);
    rc = wrote
             ? run_cmd(out, sizeof(out), "qemu-img compare -f qcow2 -F raw '%s' '%s'", m->path, ref)
             : -1;
    ok(rc == 0, "%s: qemu-img compare sees the model's content", m->c->name);
    if (rc != 0)
        printf("# exit %d:\n%s", rc, out);
}

static void run_config(const Config *c, uint64_t seed, unsigned scale)
{
    Model m = {.c = c, .seed = seed, .rng = {seed}, .trace = getenv("MODEL_TRACE") != NULL};
    Error err = {0};
    printf("# %s: seed %" PRIu64 "\n", c->name, seed);
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    if (model_setup(&m, &err) < 0) {
        ok(0, "%s: set up the image: %s", c->name, err.msg);
        model_free(&m);
        return;
    }
    unsigned ops = c->ops * scale;
    for (m.op = 0; m.op < ops && !m.failed && m.bd; m.op++) {
        step(&m);
        if (m.bd && !m.failed)
            check_file_size(&m);
    }
    if (!m.failed && m.bd)
        read_all(&m);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    ok(!m.failed, "%s: %u random operations match the model", c->name, m.op);
    printf("# %lu writes, %lu reads, %lu discards, %lu zeroes, %lu compressed, %lu flushes, "
           "%lu status, %lu reopens, %lu/%lu/%lu snapshot create/apply/delete, %lu resizes; "
           "%.2f s\n",
           m.counts[C_WRITE], m.counts[C_READ], m.counts[C_DISCARD], m.counts[C_ZERO],
           m.counts[C_COMP], m.counts[C_FLUSH], m.counts[C_STATUS], m.counts[C_REOPEN],
           m.counts[C_SNAP_C], m.counts[C_SNAP_A], m.counts[C_SNAP_D], m.counts[C_RESIZE],
           (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9);
    if (m.bd && !m.failed) {
        check_image(&m);
        block_close(m.bd);
        m.bd = NULL;
        check_with_qemu(&m);
    }
    model_free(&m);
}

int main(void)
{
    const char *s = getenv("MODEL_SEED"), *only = getenv("MODEL_ONLY");
    const char *sc = getenv("MODEL_OPS_SCALE");
    uint64_t base = s ? strtoull(s, NULL, 0) : 0x5eed2024;
    unsigned scale = sc && atoi(sc) > 0 ? (unsigned)atoi(sc) : 1;
    setvbuf(stdout, NULL, _IOLBF, 0);
    for (size_t i = 0; i < sizeof(configs) / sizeof(configs[0]); i++) {
        if (only && strcmp(only, configs[i].name) != 0)
            continue;
        run_config(&configs[i], base + i, scale);
    }
    return tap_done();
}
