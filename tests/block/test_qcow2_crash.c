/*
 * Crash safety of qcow2 images: the image lives in a real file under a
 * fault_file (see fault_file.h), a random workload of writes, discards,
 * write-zeroes, snapshot operations and occasional flushes runs on it, and
 * the "machine" crashes at a random point: after a random number of the
 * driver's host-file calls, so often in the middle of one of its
 * operations.  Every change no completed sync covers is dropped (or, in
 * the reordering scenarios, a random subset of them reaches the disk).
 *
 * Then, with the plain driver on the real file:
 *   - `qemu-img check` passes, leaks allowed (exit 0 or 3), before we
 *     touch the image, unless the crash left it marked dirty (lazy
 *     refcounts, or an operation that marks the image dirty while it runs):
 *     then both QEMU and we repair it on the next open for writing;
 *   - the image opens for writing (a dirty lazy-refcounts image is
 *     repaired on open), block_check finds no corruption;
 *   - every byte written before the last completed flush, and not written
 *     since, reads back;
 *   - `qemu-img check` passes again after our open and close;
 *   - every snapshot taken before the last completed flush (and not
 *     deleted since) is listed, and applying it gives back its content.
 *
 * First, the fault_file itself is checked on a raw image.
 * CRASH_SEED=N changes the base seed, CRASH_ONLY=NAME runs one scenario,
 * CRASH_CASES=N overrides the number of crash points per scenario,
 * CRASH_CASE=I replays crash point I only, FAULT_TRACE=1 prints the host
 * file calls and what the crash kept, CRASH_KEEP=1 keeps a failing
 * scenario's scratch directory, with the image as the crash left it
 * (*.crashed).
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
#define FAULT_CAP (32 * MiB) /* images here stay under 8 MiB: a runaway fails fast */
#define MAX_SNAPS 6

typedef struct Scenario {
    const char *name;
    uint32_t cluster_size;
    int compat;
    bool lazy, extended_l2, subset, backing, snapshots, resize;
    unsigned cases, ops;
    unsigned refcount_bits; /* 0: 16 */
} Scenario;

static const Scenario scenarios[] = {
    /* raw first: checks the harness itself (raw keeps exactly what was synced) */
    {"raw", 64 * KiB, 0, .cases = 10, .ops = 120},
    {"v3-64k", 64 * KiB, 3, .cases = 40, .ops = 120},
    {"v3-4k-reorder", 4 * KiB, 3, .subset = true, .cases = 25, .ops = 120},
    {"v2-4k", 4 * KiB, 2, .cases = 20, .ops = 120},
    {"lazy-64k", 64 * KiB, 3, .lazy = true, .cases = 30, .ops = 120},
    {"lazy-4k-reorder", 4 * KiB, 3, .lazy = true, .subset = true, .cases = 20, .ops = 120},
    {"backing-64k", 64 * KiB, 3, .backing = true, .cases = 20, .ops = 120},
    {"extl2-64k", 64 * KiB, 3, .extended_l2 = true, .cases = 15, .ops = 120},
    {"snapshots-64k", 64 * KiB, 3, .snapshots = true, .cases = 30, .ops = 150},
    /* 64-bit refcounts in 512-byte clusters: a refcount block covers 32 KiB, the first
       refcount table 2 MiB, so the table grows (new table, header switch) mid-run. */
    {"rc64-512-growth", 512, 3, .refcount_bits = 64, .cases = 15, .ops = 40},
    /* 512-byte clusters: one L1 cluster maps 2 MiB, so growing to 8 MiB moves the L1 table. */
    {"resize-512", 512, 3, .resize = true, .cases = 20, .ops = 100},
};

typedef enum { SN_PENDING, SN_DURABLE, SN_DELETING } SnapState;

typedef struct CSnap {
    char name[24];
    uint8_t *data;
    SnapState state;
} CSnap;

typedef struct Crash {
    const Scenario *sc;
    Rng rng;
    uint64_t seed;
    const char *dir;
    char path[4096];
    uint64_t size;    /* current disk size */
    uint64_t size0;   /* at creation */
    uint64_t cap;     /* most it may grow to: the model arrays' length */
    uint64_t lo, hi;  /* the sizes a crash may leave: last flushed one, and any set since */
    uint8_t *cur;     /* what the guest wrote (acknowledged) */
    uint8_t *durable; /* cur at the last completed flush */
    uint8_t *dirty;   /* 1: changed since the last completed flush (not checked) */
    const uint8_t *under;
    CSnap snaps[MAX_SNAPS];
    int nsnaps, snap_seq;
    BlockDev *bd;
    BlockFile *ff;
    bool failed;
    uint64_t checked_bytes;
} Crash;

static void fail(Crash *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void fail(Crash *c, const char *fmt, ...)
{
    va_list ap;
    if (c->failed)
        return; /* the first problem is the one to debug */
    printf("# FAIL %s (seed %" PRIu64 "): ", c->sc ? c->sc->name : "raw", c->seed);
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    printf("\n");
    c->failed = true;
}

/* ---- the fault_file on its own, on a raw image ---- */

static BlockDev *open_faulty(const char *path, const char *fmt, BlockFile **ff, Error *err)
{
    BlockFile *lower = block_file_open(path, false, true, err);
    if (!lower)
        return NULL;
    *ff = fault_file_wrap(lower, FAULT_CAP, err);
    if (!*ff)
        return NULL;
    BlockOpenOpts o = {.format = fmt};
    return block_open_file(*ff, &o, err);
}

static bool read_is(BlockDev *bd, uint64_t off, uint8_t val, size_t len)
{
    uint8_t buf[4096];
    Error err = {0};
    if (len > sizeof(buf) || block_pread(bd, off, buf, len, &err) < 0)
        return false;
    for (size_t i = 0; i < len; i++) {
        if (buf[i] != val)
            return false;
    }
    return true;
}

static BlockDev *raw_image(const char *dir, const char *name, char *path, size_t pathlen)
{
    Error err = {0};
    BlockCreateOpts co = {.size = MiB};
    snprintf(path, pathlen, "%s/%s", dir, name);
    return block_create(path, "raw", &co, &err) == 0 ? block_open(path, "raw", false, &err) : NULL;
}

static void test_fault_file_drop(const char *dir)
{
    char path[4096];
    uint8_t a[4096], b[4096];
    Error err = {0};
    BlockFile *ff = NULL;
    block_close(raw_image(dir, "drop.raw", path, sizeof(path)));
    BlockDev *bd = open_faulty(path, "raw", &ff, &err);
    ok(bd != NULL, "fault_file: a raw image opens on it%s%s", bd ? "" : ": ", err.msg);
    if (!bd)
        return;
    memset(a, 0xaa, sizeof(a));
    memset(b, 0xbb, sizeof(b));
    int rc = block_pwrite(bd, 0, a, sizeof(a), &err) | block_flush(bd, &err) |
             block_pwrite(bd, 8192, b, sizeof(b), &err);
    ok(rc == 0 && read_is(bd, 8192, 0xbb, 4096), "fault_file: reads see pending writes");
    ok(fault_file_pending(ff) == 1 && fault_file_syncs(ff) == 1,
       "fault_file: one sync, one write pending");
    fault_file_crash(ff);
    ok(block_pwrite(bd, 0, b, 512, &err) < 0 && err.code == EIO,
       "fault_file: writes after the crash fail with EIO");
    ok(block_pread(bd, 0, b, 512, &err) < 0, "fault_file: reads after the crash fail");
    block_close(bd);
    bd = block_open(path, "raw", true, &err);
    ok(bd && read_is(bd, 0, 0xaa, 4096) && read_is(bd, 8192, 0, 4096),
       "fault_file: after the crash the synced write is there, the pending one is not");
    block_close(bd);
}

static void test_fault_file_arm(const char *dir)
{
    char path[4096];
    uint8_t a[512];
    Error err = {0};
    BlockFile *ff = NULL;
    block_close(raw_image(dir, "arm.raw", path, sizeof(path)));
    BlockDev *bd = open_faulty(path, "raw", &ff, &err);
    if (!bd) {
        ok(0, "fault_file: open: %s", err.msg);
        return;
    }
    memset(a, 0x11, sizeof(a));
    fault_file_arm(ff, 3); /* write, sync, write pass; the next call crashes */
    int rc = block_pwrite(bd, 0, a, sizeof(a), &err) | block_flush(bd, &err) |
             block_pwrite(bd, 512, a, sizeof(a), &err);
    ok(rc == 0 && !fault_file_crashed(ff), "fault_file: armed for 3 calls, 3 calls pass");
    ok(block_flush(bd, &err) < 0 && fault_file_crashed(ff),
       "fault_file: the 4th call crashes (a sync that never completes)");
    block_close(bd);
    bd = block_open(path, "raw", true, &err);
    ok(bd && read_is(bd, 0, 0x11, 512) && read_is(bd, 512, 0, 512),
       "fault_file: the write before the failed sync is lost");
    block_close(bd);
}

/* Reordering: 64 pending writes, each either whole or absent after the crash. */
static void test_fault_file_subset(const char *dir)
{
    char path[4096];
    uint8_t a[512];
    Error err = {0};
    int whole = 0, absent = 0, torn = 0;
    BlockFile *ff = NULL;
    block_close(raw_image(dir, "subset.raw", path, sizeof(path)));
    BlockDev *bd = open_faulty(path, "raw", &ff, &err);
    if (!bd) {
        ok(0, "fault_file: open: %s", err.msg);
        return;
    }
    fault_file_set_mode(ff, FAULT_SUBSET, 42);
    for (int i = 0; i < 64; i++) {
        memset(a, i + 1, sizeof(a));
        block_pwrite(bd, (uint64_t)i * 512, a, sizeof(a), &err);
    }
    fault_file_crash(ff);
    block_close(bd);
    bd = block_open(path, "raw", true, &err);
    for (int i = 0; bd && i < 64; i++) {
        if (read_is(bd, (uint64_t)i * 512, (uint8_t)(i + 1), 512))
            whole++;
        else if (read_is(bd, (uint64_t)i * 512, 0, 512))
            absent++;
        else
            torn++;
    }
    ok(whole > 8 && absent > 8 && torn == 0,
       "fault_file: reordering crash keeps a subset of writes (%d kept, %d lost)", whole, absent);
    block_close(bd);
}

/* ---- qcow2 crash scenarios ---- */

static int make_base(const char *dir, uint64_t size, uint8_t *under, Rng *rng, Error *err)
{
    char path[4096];
    BlockCreateOpts co = {.size = size / 2 + 4096};
    snprintf(path, sizeof(path), "%s/base.raw", dir);
    if (block_create(path, "raw", &co, err) < 0)
        return -1;
    BlockDev *bd = block_open(path, "raw", false, err);
    if (!bd)
        return -1;
    rng_fill(rng, under, co.size);
    int rc = block_pwrite(bd, 0, under, co.size, err);
    block_close(bd);
    return rc;
}

static const char *fmt_of(const Scenario *s)
{
    return s->compat ? "qcow2" : "raw";
}

static int create_image(Crash *c, Error *err)
{
    const Scenario *s = c->sc;
    BlockCreateOpts co = {.size = c->size0,
                          .cluster_size = s->cluster_size,
                          .compat = s->compat,
                          .lazy_refcounts = s->lazy,
                          .extended_l2 = s->extended_l2,
                          .refcount_bits = s->refcount_bits};
    if (s->backing) {
        co.backing_file = "base.raw";
        co.backing_fmt = "raw";
    }
    snprintf(c->path, sizeof(c->path), "%s/crash.%s", c->dir, fmt_of(s));
    return block_create(c->path, fmt_of(s), &co, err);
}

static void ctrace(const char *what, uint64_t off, uint64_t len)
{
    if (getenv("FAULT_TRACE"))
        fprintf(stderr, "op: %s 0x%" PRIx64 "+0x%" PRIx64 "\n", what, off, len);
}

/* Note a request that changes [off, off+len) to src (NULL: zeroes). */
static void model_write(Crash *c, uint64_t off, uint64_t len, const uint8_t *src)
{
    if (src)
        memcpy(c->cur + off, src, len);
    else
        memset(c->cur + off, 0, len);
    memset(c->dirty + off, 1, len);
}

static void model_flushed(Crash *c)
{
    memcpy(c->durable, c->cur, c->cap);
    memset(c->dirty, 0, c->cap);
    c->lo = c->hi = c->size;
    for (int i = 0; i < c->nsnaps; i++) {
        if (c->snaps[i].state == SN_DELETING) {
            free(c->snaps[i].data);
            c->snaps[i--] = c->snaps[--c->nsnaps];
        } else {
            c->snaps[i].state = SN_DURABLE;
        }
    }
}

/* A request failed: fine after the crash (stop), a bug before it. */
static bool op_failed(Crash *c, const char *what, Error *err)
{
    if (!fault_file_crashed(c->ff))
        fail(c, "%s failed before any crash: %s", what, err->msg);
    return true;
}

static void pick(Crash *c, uint64_t *off, uint64_t *len)
{
    uint64_t cs = c->sc->cluster_size, span = cs < 32 * KiB ? 64 * KiB : 2 * cs;
    if (c->sc->refcount_bits == 64)
        span = 256 * KiB; /* grow the file past what the first refcount table covers */
    uint64_t n = rng_below(&c->rng, 3) == 0 ? cs * (1 + rng_below(&c->rng, 2))
                                            : 1 + rng_below(&c->rng, span);
    uint64_t o = rng_below(&c->rng, c->size - n + 1);
    *off = rng_below(&c->rng, 2) ? o / cs * cs : o;
    *len = n;
}

static bool snap_op(Crash *c, unsigned kind, Error *err)
{
    if (kind == 0 && c->nsnaps < MAX_SNAPS) {
        CSnap *s = &c->snaps[c->nsnaps];
        snprintf(s->name, sizeof(s->name), "s%d", ++c->snap_seq);
        BlockSnapshot sn = {.name = s->name, .icount = UINT64_MAX};
        s->data = malloc(c->size);
        memcpy(s->data, c->cur, c->size);
        s->state = SN_PENDING;
        c->nsnaps++; /* it may exist after a crash even if the call fails */
        ctrace(s->name, 0, 0);
        return block_snapshot_create(c->bd, &sn, err) < 0 && op_failed(c, "snapshot", err);
    }
    if (c->nsnaps == 0)
        return false;
    CSnap *s = &c->snaps[rng_below(&c->rng, (uint64_t)c->nsnaps)];
    if (s->state == SN_DELETING)
        return false; /* already gone as far as the driver is concerned */
    ctrace(kind == 1 ? "delete" : "apply", 0, 0);
    if (kind == 1) {
        s->state = SN_DELETING;
        return block_snapshot_delete(c->bd, s->name, err) < 0 && op_failed(c, "delete", err);
    }
    memset(c->dirty, 1, c->size); /* until a flush, old or new content */
    memcpy(c->cur, s->data, c->size);
    return block_snapshot_apply(c->bd, s->name, err) < 0 && op_failed(c, "apply", err);
}

/* Grow or shrink; the bytes between the old and the new end read as zeroes afterwards. */
static bool resize_op(Crash *c, Error *err)
{
    uint64_t n = c->size0 / 2 + rng_below(&c->rng, c->cap - c->size0 / 2 + 1);
    n = n / 512 * 512;
    ctrace("resize", n, 0);
    if (n < c->size)
        model_write(c, n, c->size - n, NULL);
    else
        model_write(c, c->size, n - c->size, NULL);
    c->lo = n < c->lo ? n : c->lo;
    c->hi = n > c->hi ? n : c->hi;
    if (block_truncate(c->bd, n, err) < 0)
        return op_failed(c, "resize", err);
    c->size = n;
    return false;
}

/* One random request; true when the workload must stop (crash or failure). */
static bool crash_step(Crash *c, uint8_t *buf)
{
    Error err = {0};
    uint64_t off, len;
    unsigned r = (unsigned)rng_below(&c->rng, 100);
    pick(c, &off, &len);
    if (r < 55) {
        ctrace("write", off, len);
        rng_fill(&c->rng, buf, len);
        model_write(c, off, len, buf);
        return block_pwrite(c->bd, off, buf, len, &err) < 0 && op_failed(c, "write", &err);
    }
    if (r < 63) {
        ctrace("zeroes", off, len);
        model_write(c, off, len, NULL);
        return block_write_zeroes(c->bd, off, len, r & 1, &err) < 0 &&
               op_failed(c, "write-zeroes", &err);
    }
    if (r < 68 && !c->sc->backing) { /* with a backing file, discarded bytes show it */
        ctrace("discard", off, len);
        model_write(c, off, len, NULL);
        return block_discard(c->bd, off, len, &err) < 0 && op_failed(c, "discard", &err);
    }
    if (r < 80) {
        ctrace("flush", 0, 0);
        if (block_flush(c->bd, &err) < 0)
            return op_failed(c, "flush", &err);
        model_flushed(c);
        return false;
    }
    if (r < 86 && c->sc->snapshots)
        return snap_op(c, r % 3, &err);
    if (r < 84 && c->sc->resize)
        return resize_op(c, &err);
    if (block_pread(c->bd, off, buf, len, &err) < 0)
        return op_failed(c, "read", &err);
    if (memcmp(buf, c->cur + off, len) != 0)
        fail(c, "read 0x%" PRIx64 "+0x%" PRIx64 " before the crash differs", off, len);
    return c->failed;
}

/* Run the workload with a crash armed after `trip` host-file calls; returns the calls made. */
static uint64_t run_workload(Crash *c, uint64_t trip)
{
    Error err = {0};
    uint8_t *buf = malloc(2 * c->sc->cluster_size + 256 * KiB);
    c->bd = buf ? open_faulty(c->path, fmt_of(c->sc), &c->ff, &err) : NULL;
    if (!c->bd) {
        fail(c, "open under the fault file: %s", err.msg);
        free(buf);
        return 0;
    }
    fault_file_set_mode(c->ff, c->sc->subset ? FAULT_SUBSET : FAULT_DROP, c->seed);
    fault_file_arm(c->ff, trip);
    for (unsigned i = 0; i < c->sc->ops && !c->failed; i++) {
        if (crash_step(c, buf))
            break;
    }
    uint64_t calls = fault_file_calls(c->ff);
    fault_file_crash(c->ff);
    block_close(c->bd); /* the driver's last writes fail: the machine is gone */
    c->bd = NULL;
    free(buf);
    return calls;
}

static void qemu_check(Crash *c, const char *when)
{
    static char out[8192];
    int rc = run_cmd(out, sizeof(out), "qemu-img check -f qcow2 '%s'", c->path);
    if (rc != 0 && rc != 3)
        fail(c, "qemu-img check %s: exit %d:\n%s", when, rc, out);
}

static void verify_content(Crash *c, BlockDev *bd, const uint8_t *want, const uint8_t *dirty,
                           const char *what)
{
    Error err = {0};
    uint64_t len = block_length(bd);
    if (len > c->cap)
        return fail(c, "%s: the disk is 0x%" PRIx64 " bytes, more than ever set", what, len);
    uint8_t *got = malloc(len ? len : 1);
    if (!got || block_pread(bd, 0, got, len, &err) < 0) {
        free(got);
        return fail(c, "%s: read: %s", what, err.msg);
    }
    for (uint64_t i = 0; i < len; i++) {
        if (dirty && dirty[i])
            continue;
        if (got[i] != want[i]) {
            fail(c, "%s: byte 0x%" PRIx64 " is 0x%02x, flushed 0x%02x", what, i, got[i], want[i]);
            break;
        }
        c->checked_bytes++;
    }
    free(got);
}

static void verify_snapshots(Crash *c, BlockDev *bd)
{
    BlockSnapshot *list;
    int count;
    Error err = {0};
    if (block_snapshot_list(bd, &list, &count, &err) < 0)
        return fail(c, "snapshot list after the crash: %s", err.msg);
    for (int i = 0; i < c->nsnaps && !c->failed; i++) {
        CSnap *s = &c->snaps[i];
        bool found = false;
        for (int j = 0; j < count; j++)
            found |= list[j].name && strcmp(list[j].name, s->name) == 0;
        if (s->state != SN_DURABLE)
            continue;
        if (!found) {
            fail(c, "snapshot %s taken before the last flush is gone", s->name);
        } else if (block_snapshot_apply(bd, s->name, &err) < 0) {
            fail(c, "apply %s after the crash: %s", s->name, err.msg);
        } else {
            char what[64];
            snprintf(what, sizeof(what), "snapshot %s", s->name);
            verify_content(c, bd, s->data, NULL, what);
        }
    }
    block_snapshot_list_free(list, count);
}

/*
 * The qcow2 v3 dirty bit: refcounts may be stale, and whoever opens the
 * image for writing next (we or QEMU) repairs it first.  Such an image is
 * only checked after our open.
 */
static bool image_dirty(const char *path)
{
    uint8_t h[80];
    FILE *f = fopen(path, "rb");
    bool dirty = f && fread(h, 1, sizeof(h), f) == sizeof(h) && h[7] >= 3 && (h[79] & 1);
    if (f)
        fclose(f);
    return dirty;
}

static void verify_after_crash(Crash *c, bool have_qemu)
{
    Error err = {0};
    BlockCheckResult res;
    have_qemu &= c->sc->compat != 0;
    bool was_dirty = have_qemu && image_dirty(c->path);
    if (have_qemu && !was_dirty)
        qemu_check(c, "of the crashed image");
    BlockDev *bd = block_open(c->path, fmt_of(c->sc), false, &err);
    if (!bd)
        return fail(c, "the crashed image does not open: %s", err.msg);
    if (bd->drv->check) {
        if (block_check(bd, &res, 0, &err) < 0)
            fail(c, "check after the crash: %s", err.msg);
        else if (res.corruptions || res.check_errors)
            fail(c, "check after the crash: %" PRId64 " corruptions, %" PRId64 " errors: %s",
                 res.corruptions, res.check_errors, res.first_problem);
    }
    uint64_t len = block_length(bd);
    if (len < c->lo || len > c->hi)
        fail(c, "the disk is 0x%" PRIx64 " bytes after the crash, not 0x%" PRIx64 "..0x%" PRIx64,
             len, c->lo, c->hi);
    verify_content(c, bd, c->durable, c->dirty, "after the crash");
    block_close(bd);
    /* Every 4th case (qemu-img costs more than the rest of a case), and dirty ones. */
    if (have_qemu && (was_dirty || c->seed % 4 == 0))
        qemu_check(c, "after our open and close");
    if (c->nsnaps == 0 || c->failed)
        return;
    bd = block_open(c->path, fmt_of(c->sc), false, &err);
    if (!bd)
        return fail(c, "the image does not reopen: %s", err.msg);
    verify_snapshots(c, bd);
    block_close(bd);
}

static void crash_reset(Crash *c, const Scenario *s, uint64_t seed, const uint8_t *under)
{
    for (int i = 0; i < c->nsnaps; i++)
        free(c->snaps[i].data);
    c->nsnaps = c->snap_seq = 0;
    c->sc = s;
    c->seed = seed;
    c->rng = (Rng){seed};
    c->failed = false;
    c->size = c->lo = c->hi = c->size0;
    memset(c->cur, 0, c->cap);
    if (under)
        memcpy(c->cur, under, c->size0);
    memcpy(c->durable, c->cur, c->cap);
    memset(c->dirty, 0, c->cap);
}

static int copy_file(const char *from, const char *to)
{
    static uint8_t buf[1 << 16];
    FILE *in = fopen(from, "rb"), *out = fopen(to, "wb");
    size_t n;
    int rc = in && out ? 0 : -1;
    while (rc == 0 && (n = fread(buf, 1, sizeof(buf), in)) > 0)
        rc = fwrite(buf, 1, n, out) == n ? 0 : -1;
    if (in)
        fclose(in);
    if (out && fclose(out) != 0)
        rc = -1;
    return rc;
}

/* One crash point: fresh image, workload, crash after `trip` calls, verification. */
static uint64_t crash_case(Crash *c, uint64_t trip, bool have_qemu)
{
    Error err = {0};
    if (create_image(c, &err) < 0) {
        fail(c, "create: %s", err.msg);
        return 0;
    }
    uint64_t calls = run_workload(c, trip);
    if (c->failed)
        return calls;
    /* Keep the image as the crash left it: a failure below is debugged from this copy. */
    char copy[4200];
    snprintf(copy, sizeof(copy), "%s.crashed", c->path);
    if (copy_file(c->path, copy) < 0)
        printf("# could not copy %s\n", c->path);
    verify_after_crash(c, have_qemu);
    return calls;
}

static void run_scenario(const Scenario *s, uint64_t seed, unsigned cases, bool have_qemu)
{
    Crash c = {.size0 = 2 * MiB, .cap = s->resize ? 8 * MiB : 2 * MiB};
    Error err = {0};
    char *dir = scratch_dir("crash");
    uint8_t *under = s->backing ? calloc(1, c.size0) : NULL;
    c.cur = malloc(c.cap);
    c.durable = malloc(c.cap);
    c.dirty = malloc(c.cap);
    c.dir = dir;
    c.sc = s;
    c.under = under;
    Rng pick_rng = {seed ^ 0xc0ffee};
    unsigned failures = 1;
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    if (!dir || !c.cur || !c.durable || !c.dirty || (s->backing && !under) ||
        (s->backing && make_base(dir, c.size0, under, &pick_rng, &err) < 0)) {
        ok(0, "%s: set up: %s", s->name, err.msg);
        goto out;
    }
    /* The calls a whole run makes, to spread the crash points over it. */
    crash_reset(&c, s, seed, under);
    uint64_t total = crash_case(&c, UINT64_MAX, have_qemu);
    failures = c.failed;
    unsigned done = 1;
    const char *one = getenv("CRASH_CASE"); /* replay one crash point of a failing run */
    for (unsigned i = 1; i < cases && failures == 0; i++, done++) {
        uint64_t trip = rng_below(&pick_rng, total + total / 8 + 1);
        if (one && (unsigned)atoi(one) != i)
            continue;
        printf("# case %u: seed %" PRIu64 ", crash after %" PRIu64 " calls\n", i, seed + i, trip);
        crash_reset(&c, s, seed + i, under);
        crash_case(&c, trip, have_qemu);
        failures += c.failed;
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    ok(failures == 0,
       "%s: %u crash points (%" PRIu64 " host calls per run), image consistent "
       "and flushed data intact",
       s->name, done, total);
    printf("# %s: %.1f MB of flushed data verified, %.2f s\n", s->name,
           (double)c.checked_bytes / 1e6,
           (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9);
out:
    crash_reset(&c, s, 0, NULL);
    free(c.cur);
    free(c.durable);
    free(c.dirty);
    free(under);
    if (dir && failures && getenv("CRASH_KEEP")) {
        printf("# kept %s (crash.*.crashed: the image as the failing crash left it)\n", dir);
    } else if (dir) {
        if (failures)
            printf("# CRASH_KEEP=1 keeps the failing case's images\n");
        scratch_remove(dir);
    }
    free(dir);
}

int main(void)
{
    const char *s = getenv("CRASH_SEED"), *only = getenv("CRASH_ONLY");
    const char *nc = getenv("CRASH_CASES");
    uint64_t base = s ? strtoull(s, NULL, 0) : 0xc4a54;
    bool have_qemu = have_qemu_img();
    setvbuf(stdout, NULL, _IOLBF, 0);
    char *dir = scratch_dir("fault");
    if (!dir) {
        ok(0, "scratch directory");
        return tap_done();
    }
    test_fault_file_drop(dir);
    test_fault_file_arm(dir);
    test_fault_file_subset(dir);
    scratch_remove(dir);
    free(dir);
    if (!have_qemu)
        printf("# qemu-img not found: only our own checks\n");
    for (size_t i = 0; i < sizeof(scenarios) / sizeof(scenarios[0]); i++) {
        const Scenario *sc = &scenarios[i];
        if (only && strcmp(only, sc->name) != 0)
            continue;
        unsigned cases = nc && atoi(nc) > 0 ? (unsigned)atoi(nc) : sc->cases;
        run_scenario(sc, base + i * 1000, cases, have_qemu);
    }
    return tap_done();
}
