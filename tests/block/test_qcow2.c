/*
 * qcow2 driver units: create/write/read, copy-on-write over a backing
 * file (whole clusters and extended-L2 subclusters), zero clusters,
 * discard, compressed clusters (zlib, zstd), resize, refcount widths, lazy
 * refcounts, and hostile headers and tables (each refused with a clear
 * line).  Images are checked with qemu-img when it is installed.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "block/block.h"
#include "qcow2_test_util.h"
#include "tap.h"

static char *dir;
static bool qemu;

static char *path_of(const char *name)
{
    static char buf[4][512];
    static int n;
    char *p = buf[n++ % 4];
    snprintf(p, 512, "%s/%s", dir, name);
    return p;
}

static BlockDev *create_open(const char *name, const BlockCreateOpts *o)
{
    Error err = {0};
    if (block_create(path_of(name), "qcow2", o, &err) < 0) {
        printf("# create %s: %s\n", name, err.msg);
        return NULL;
    }
    BlockDev *bd = block_open(path_of(name), NULL, false, &err);
    if (!bd)
        printf("# open %s: %s\n", name, err.msg);
    return bd;
}

static void fill(uint8_t *b, size_t n, uint8_t seed)
{
    for (size_t i = 0; i < n; i++)
        b[i] = (uint8_t)(seed + i * 7 + (i >> 9));
}

static bool all_is(const uint8_t *b, size_t n, uint8_t v)
{
    for (size_t i = 0; i < n; i++)
        if (b[i] != v)
            return false;
    return true;
}

/* qemu-img check finds neither corruption nor leaks (skipped without qemu-img). */
static void qemu_clean(const char *name, const char *what)
{
    if (!qemu)
        return;
    QemuCheck qc;
    int st = qemu_check(path_of(name), NULL, &qc);
    ok(st == 0 && qc.corruptions == 0 && qc.leaks == 0 && qc.check_errors == 0,
       "%s: qemu-img check is clean", what);
}

static void test_write_read(void)
{
    BlockCreateOpts o = {.size = 64 << 20};
    BlockDev *bd = create_open("rw.qcow2", &o);
    ok(bd != NULL, "create and open a 64 MiB image");
    if (!bd)
        return;
    Error err = {0};
    static uint8_t w[3 << 20], r[3 << 20];
    fill(w, sizeof(w), 1);
    ok(block_pwrite(bd, 100000, w, sizeof(w), &err) == 0, "unaligned 3 MiB write");
    ok(block_pread(bd, 100000, r, sizeof(r), &err) == 0 && memcmp(w, r, sizeof(w)) == 0,
       "reads back");
    ok(block_pread(bd, 0, r, 100000, &err) == 0 && all_is(r, 100000, 0),
       "the untouched head reads zeroes");
    is_u64(bd->cluster_size, 65536, "cluster size reported");
    block_close(bd);
    bd = block_open(path_of("rw.qcow2"), "qcow2", true, &err);
    ok(bd && block_pread(bd, 100000, r, sizeof(r), &err) == 0 && memcmp(w, r, sizeof(w)) == 0,
       "reads back after reopening");
    block_close(bd);
    qemu_clean("rw.qcow2", "write/read");
}

/* A raw base with a pattern and an overlay on it. */
static BlockDev *overlay(const char *name, uint32_t cluster, bool ext, uint8_t *base_data,
                         size_t base_len)
{
    Error err = {0};
    BlockCreateOpts ro = {.size = base_len};
    if (block_create(path_of("base.raw"), "raw", &ro, &err) < 0)
        return NULL;
    BlockDev *b = block_open(path_of("base.raw"), "raw", false, &err);
    if (!b || block_pwrite(b, 0, base_data, base_len, &err) < 0)
        return NULL;
    block_close(b);
    BlockCreateOpts o = {.backing_file = "base.raw",
                         .backing_fmt = "raw",
                         .cluster_size = cluster,
                         .extended_l2 = ext};
    return create_open(name, &o);
}

static void test_backing_cow(void)
{
    static uint8_t base[4 << 20], r[4 << 20], w[4096];
    fill(base, sizeof(base), 9);
    BlockDev *bd = overlay("ov.qcow2", 65536, false, base, sizeof(base));
    ok(bd != NULL, "overlay over a raw base");
    if (!bd)
        return;
    Error err = {0};
    is_u64(block_length(bd), sizeof(base), "size taken from the backing file");
    memset(w, 0xee, sizeof(w));
    ok(block_pwrite(bd, 70000, w, sizeof(w), &err) == 0, "4 KiB write inside a cluster");
    ok(block_pread(bd, 0, r, sizeof(r), &err) == 0, "read the whole disk");
    memcpy(base + 70000, w, sizeof(w));
    ok(memcmp(r, base, sizeof(base)) == 0, "the rest of the cluster came from the backing file");
    uint64_t pnum, host;
    unsigned fl;
    ok(block_status(bd, 65536, 65536 * 3, &pnum, &fl, &host, &err) == 0 && (fl & BLOCK_ST_DATA) &&
           pnum == 65536,
       "one cluster allocated");
    ok(block_status(bd, 131072, 65536, &pnum, &fl, &host, &err) == 0 && fl == 0,
       "the next one falls through to the backing file");
    block_close(bd);
    qemu_clean("ov.qcow2", "backing COW");
}

static void test_subcluster_cow(void)
{
    static uint8_t base[8 << 20], r[2 << 20], w[4096];
    fill(base, sizeof(base), 3);
    BlockDev *bd = overlay("sub.qcow2", 2 << 20, true, base, sizeof(base));
    ok(bd != NULL, "extended-L2 overlay with 2 MiB clusters");
    if (!bd)
        return;
    Error err = {0};
    struct stat before, after;
    stat(path_of("sub.qcow2"), &before);
    memset(w, 0x5a, sizeof(w));
    ok(block_pwrite(bd, (2 << 20) + 100 * 1024, w, sizeof(w), &err) == 0,
       "4 KiB write in a 2 MiB cluster");
    ok(block_flush(bd, &err) == 0, "flush");
    stat(path_of("sub.qcow2"), &after);
    uint64_t grew = (uint64_t)(after.st_blocks - before.st_blocks) * 512;
    ok(grew <= (2 << 20) + 65536 + 8192,
       "copied at most one 64 KiB subcluster (+ a 2 MiB L2 table): %llu bytes",
       (unsigned long long)grew);
    uint64_t pnum, host;
    unsigned fl;
    ok(block_status(bd, (2 << 20) + 64 * 1024, 1 << 20, &pnum, &fl, &host, &err) == 0 &&
           (fl & BLOCK_ST_DATA) && pnum == 65536,
       "exactly the touched subcluster is allocated");
    ok(block_pread(bd, 2 << 20, r, sizeof(r), &err) == 0, "read the cluster");
    memcpy(base + (2 << 20) + 100 * 1024, w, sizeof(w));
    ok(memcmp(r, base + (2 << 20), sizeof(r)) == 0, "subcluster head/tail from the backing file");
    block_close(bd);
    qemu_clean("sub.qcow2", "subcluster COW");
}

static void test_zero_discard(void)
{
    static uint8_t base[1 << 20], r[256 << 10], w[256 << 10];
    fill(base, sizeof(base), 5);
    BlockDev *bd = overlay("z.qcow2", 65536, false, base, sizeof(base));
    if (!bd)
        return;
    Error err = {0};
    fill(w, sizeof(w), 77);
    ok(block_pwrite(bd, 0, w, sizeof(w), &err) == 0, "write 256 KiB over the backing");
    ok(block_write_zeroes(bd, 65536, 65536, true, &err) == 0, "write zeroes, one cluster");
    ok(block_discard(bd, 131072, 65536 + 1000, &err) == 0, "discard a cluster and a bit");
    ok(block_pread(bd, 0, r, sizeof(r), &err) == 0, "read back");
    ok(memcmp(r, w, 65536) == 0 && all_is(r + 65536, 132072, 0) &&
           memcmp(r + 197608, w + 197608, sizeof(r) - 197608) == 0,
       "zeroes where zeroed and discarded (v3 hides the backing file), data elsewhere");
    uint64_t pnum, host;
    unsigned fl;
    ok(block_status(bd, 65536, 65536, &pnum, &fl, &host, &err) == 0 &&
           fl == (BLOCK_ST_ALLOCATED | BLOCK_ST_ZERO),
       "a zero cluster, not backed by host data");
    ok(block_flush(bd, &err) == 0, "flush");
    block_close(bd);
    if (qemu) {
        QemuCheck qc;
        qemu_check(path_of("z.qcow2"), NULL, &qc);
        ok(qc.allocated == 2 && qc.leaks == 0 && qc.corruptions == 0,
           "the zeroed and discarded clusters were freed (2 left, got %llu)", qc.allocated);
    }
}

static void test_compressed(const char *type)
{
    BlockCreateOpts o = {.size = 1 << 20, .compression_type = type};
    char name[64];
    snprintf(name, sizeof(name), "c-%s.qcow2", type);
    BlockDev *bd = create_open(name, &o);
    if (!bd)
        return;
    Error err = {0};
    static uint8_t w[65536], r[65536];
    for (size_t i = 0; i < sizeof(w); i++)
        w[i] = (uint8_t)(i / 1000);
    ok(block_write_compressed(bd, 65536, w, sizeof(w), &err) == 0, "%s: compressed write", type);
    uint64_t pnum, host;
    unsigned fl;
    ok(block_status(bd, 65536, 65536, &pnum, &fl, &host, &err) == 0 && (fl & BLOCK_ST_COMPRESSED),
       "%s: stored compressed", type);
    ok(block_pread(bd, 65536, r, sizeof(r), &err) == 0 && memcmp(w, r, sizeof(w)) == 0,
       "%s: reads back", type);
    fill(w, sizeof(w), 1);
    Rng rng = {42};
    rng_fill(&rng, w, sizeof(w));
    ok(block_write_compressed(bd, 0, w, sizeof(w), &err) == 0 &&
           block_status(bd, 0, 65536, &pnum, &fl, &host, &err) == 0 &&
           !(fl & BLOCK_ST_COMPRESSED) && (fl & BLOCK_ST_DATA),
       "%s: incompressible data is stored plain", type);
    memset(r, 0x11, 512);
    ok(block_pwrite(bd, 65536 + 512, r, 512, &err) == 0 &&
           block_pread(bd, 65536, r, sizeof(r), &err) == 0 && all_is(r + 512, 512, 0x11) &&
           r[0] == 0 && r[1024] == 1,
       "%s: a write into a compressed cluster keeps the rest", type);
    /* Two compressed clusters sharing a host cluster, both overwritten: two references go. */
    for (size_t i = 0; i < sizeof(w); i++)
        w[i] = (uint8_t)(i / 3000);
    ok(block_write_compressed(bd, 3 * 65536, w, sizeof(w), &err) == 0 &&
           block_write_compressed(bd, 4 * 65536, w, sizeof(w), &err) == 0 &&
           block_pwrite(bd, 3 * 65536, w, sizeof(w), &err) == 0 &&
           block_pwrite(bd, 4 * 65536, w, sizeof(w), &err) == 0,
       "%s: overwrite two packed compressed clusters", type);
    block_close(bd);
    qemu_clean(name, type);
}

static void test_resize(void)
{
    BlockCreateOpts o = {.size = 1 << 20, .cluster_size = 512};
    BlockDev *bd = create_open("rs.qcow2", &o);
    if (!bd)
        return;
    Error err = {0};
    static uint8_t w[8192], r[8192];
    fill(w, sizeof(w), 4);
    ok(block_pwrite(bd, (1 << 20) - 4096, w, 4096, &err) == 0, "write the last 4 KiB");
    ok(block_truncate(bd, 64 << 20, &err) == 0, "grow 1 MiB -> 64 MiB (the L1 table grows)");
    ok(block_pwrite(bd, (64 << 20) - 8192, w, 8192, &err) == 0 &&
           block_pread(bd, (1 << 20) - 4096, r, 4096, &err) == 0 && memcmp(r, w, 4096) == 0,
       "old data kept, new end writable");
    ok(block_truncate(bd, (1 << 20) - 2048, &err) == 0, "shrink into the written area");
    ok(block_truncate(bd, 2 << 20, &err) == 0 &&
           block_pread(bd, (1 << 20) - 4096, r, 8192, &err) == 0 && memcmp(r, w, 2048) == 0 &&
           all_is(r + 2048, 6144, 0),
       "grown again: the cut part reads zeroes");
    ok(block_truncate(bd, 1000, &err) < 0 && strstr(err.msg, "512"),
       "a size that is not a multiple of 512 is refused");
    block_close(bd);
    qemu_clean("rs.qcow2", "resize");
}

static void test_widths_v2_lazy(void)
{
    static const struct {
        unsigned bits;
        int compat;
        bool lazy;
        const char *name;
    } cases[] = {{1, 3, false, "rb1.qcow2"},
                 {64, 3, false, "rb64.qcow2"},
                 {16, 2, false, "v2.qcow2"},
                 {16, 3, true, "lazy.qcow2"}};
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        BlockCreateOpts o = {.size = 8 << 20,
                             .refcount_bits = cases[i].bits,
                             .compat = cases[i].compat,
                             .lazy_refcounts = cases[i].lazy,
                             .cluster_size = 4096};
        BlockDev *bd = create_open(cases[i].name, &o);
        if (!bd)
            continue;
        Error err = {0};
        static uint8_t w[1 << 20], r[1 << 20];
        fill(w, sizeof(w), (uint8_t)i);
        ok(block_pwrite(bd, 12345, w, sizeof(w), &err) == 0 &&
               block_pread(bd, 12345, r, sizeof(r), &err) == 0 && memcmp(w, r, sizeof(w)) == 0,
           "%s: write and read", cases[i].name);
        if (cases[i].lazy)
            ok(tu_peek(path_of(cases[i].name), 72, 8) & 1, "lazy: dirty bit set while writing");
        block_close(bd);
        if (cases[i].lazy)
            ok(!(tu_peek(path_of(cases[i].name), 72, 8) & 1), "lazy: dirty bit cleared on close");
        qemu_clean(cases[i].name, cases[i].name);
    }
}

static void test_make_empty_and_exts(void)
{
    static uint8_t base[1 << 20], r[1 << 20], w[200000];
    fill(base, sizeof(base), 8);
    BlockDev *bd = overlay("me.qcow2", 65536, false, base, sizeof(base));
    if (!bd)
        return;
    Error err = {0};
    memset(w, 0x77, sizeof(w));
    ok(block_pwrite(bd, 30000, w, sizeof(w), &err) == 0 && block_make_empty(bd, &err) == 0 &&
           block_pread(bd, 0, r, sizeof(r), &err) == 0 && memcmp(r, base, sizeof(r)) == 0,
       "make_empty: everything reads from the backing file again");
    block_close(bd);
    qemu_clean("me.qcow2", "make_empty");
    /* An unknown extension after the (empty) backing-format one survives a header rewrite. */
    BlockCreateOpts o = {.size = 1 << 20};
    block_create(path_of("ext.qcow2"), "qcow2", &o, &err);
    static const uint8_t ext[16] = {0x12, 0x34, 0x56, 0x78, 0, 0, 0, 5, 'h', 'e', 'l', 'l', 'o'};
    tu_poke_bytes(path_of("ext.qcow2"), 112, ext, sizeof(ext));
    tu_poke(path_of("ext.qcow2"), 128, 8, 0);
    bd = block_open(path_of("ext.qcow2"), "qcow2", false, &err);
    ok(bd && block_set_backing(bd, "base.raw", "raw", &err) == 0, "set a backing file");
    block_close(bd);
    uint8_t buf[512] = {0};
    int fd = open(path_of("ext.qcow2"), O_RDONLY);
    ok(fd >= 0 && pread(fd, buf, sizeof(buf), 0) == (ssize_t)sizeof(buf), "read the header");
    if (fd >= 0)
        close(fd);
    bool found = false;
    for (size_t i = 112; i + 13 <= sizeof(buf); i += 8)
        found |= memcmp(buf + i, ext, 13) == 0;
    ok(found, "the unknown extension was kept");
    bd = block_open(path_of("ext.qcow2"), NULL, true, &err);
    ok(bd && bd->backing && strcmp(bd->backing->drv->format, "raw") == 0,
       "the new backing file and format are used");
    block_close(bd);
}

/* Clusters QEMU compressed (packed back to back in sectors), overwritten by us. */
static void test_qemu_compressed(void)
{
    if (!qemu)
        return;
    static uint8_t w[8 * 65536];
    for (size_t i = 0; i < sizeof(w); i++)
        w[i] = (uint8_t)(i / 5000);
    int fd = open(path_of("qc.raw"), O_CREAT | O_TRUNC | O_WRONLY, 0644);
    bool written = fd >= 0 && write(fd, w, sizeof(w)) == (ssize_t)sizeof(w);
    if (fd >= 0)
        close(fd);
    char out[4096];
    ok(written && run_cmd(out, sizeof(out), "qemu-img convert -c -f raw -O qcow2 '%s' '%s'",
                          path_of("qc.raw"), path_of("qc.qcow2")) == 0,
       "qemu-img convert -c");
    Error err = {0};
    BlockDev *bd = block_open(path_of("qc.qcow2"), "qcow2", false, &err);
    static uint8_t r[sizeof(w)];
    ok(bd && block_pread(bd, 0, r, sizeof(r), &err) == 0 && memcmp(r, w, sizeof(w)) == 0,
       "QEMU's compressed clusters read back");
    memset(r, 0x3c, 65536);
    ok(bd && block_pwrite(bd, 2 * 65536, r, 65536, &err) == 0 &&
           block_pwrite(bd, 3 * 65536, r, 65536, &err) == 0 &&
           block_pwrite(bd, 5 * 65536 + 100, r, 1000, &err) == 0,
       "overwrite neighbouring compressed clusters");
    block_close(bd);
    qemu_clean("qc.qcow2", "QEMU-compressed image after our writes");
}

/* Patch a fresh image, open it, expect failure whose message contains want. */
static void expect_refused(const char *what, uint64_t off, int n, uint64_t v, bool rw,
                           const char *want)
{
    BlockCreateOpts o = {.size = 4 << 20};
    Error err = {0};
    block_create(path_of("bad.qcow2"), "qcow2", &o, &err);
    tu_poke(path_of("bad.qcow2"), off, n, v);
    BlockDev *bd = block_open(path_of("bad.qcow2"), "qcow2", !rw, &err);
    ok(!bd && strstr(err.msg, want), "%s: refused (%s)", what, err.msg);
    block_close(bd);
}

static void test_bad_headers(void)
{
    expect_refused("version 4", 4, 4, 4, false, "version");
    expect_refused("cluster bits 22", 20, 4, 22, false, "image is corrupt");
    expect_refused("cluster bits 8", 20, 4, 8, false, "image is corrupt");
    expect_refused("huge virtual size", 24, 8, 1ull << 63, false, "image is corrupt");
    expect_refused("L1 too small", 36, 4, 0, false, "image is corrupt");
    expect_refused("L1 too large", 36, 4, 0x10000000, false, "image is corrupt");
    expect_refused("misaligned L1", 40, 8, 0x30200, false, "image is corrupt");
    expect_refused("refcount table of 0 clusters", 56, 4, 0, false, "image is corrupt");
    expect_refused("huge refcount table", 56, 4, 1000, false, "image is corrupt");
    expect_refused("misaligned refcount table", 48, 8, 0x10008, false, "image is corrupt");
    expect_refused("refcount order 7", 96, 4, 7, false, "image is corrupt");
    expect_refused("header length 50", 100, 4, 50, false, "image is corrupt");
    expect_refused("encryption", 32, 4, 1, false, "encrypted");
    expect_refused("corrupt bit, read-write", 72, 8, 2, true, "image is corrupt: marked corrupt");
    expect_refused("external data file bit", 72, 8, 4, false, "external data file");
    expect_refused("unknown incompatible bit", 72, 8, 1ull << 40, false, "bit 40");
    expect_refused("backing name too long", 8, 8, 0x1000, false, "");
    expect_refused("extension overrunning the cluster", 112, 8, 0x123456787fffffffull, false,
                   "image is corrupt");
    BlockCreateOpts o = {.size = 4 << 20};
    Error err = {0};
    /* The image's feature name table names an unknown incompatible bit. */
    block_create(path_of("feat.qcow2"), "qcow2", &o, &err);
    uint8_t ft[8 + 48 + 8] = {0x68, 0x03, 0xf8, 0x57, 0, 0, 0, 48, 0, 40};
    memcpy(ft + 10, "fancy feature", 13);
    tu_poke_bytes(path_of("feat.qcow2"), 112, ft, sizeof(ft));
    tu_poke(path_of("feat.qcow2"), 72, 8, 1ull << 40);
    BlockDev *fb = block_open(path_of("feat.qcow2"), "qcow2", true, &err);
    ok(!fb && strstr(err.msg, "'fancy feature'"), "unknown feature named from the table (%s)",
       err.msg);
    block_close(fb);
    block_create(path_of("ro.qcow2"), "qcow2", &o, &err);
    tu_poke(path_of("ro.qcow2"), 72, 8, 2);
    BlockDev *bd = block_open(path_of("ro.qcow2"), "qcow2", true, &err);
    ok(bd != NULL, "an image marked corrupt still opens read-only");
    block_close(bd);
}

/* Data written, then its L2 entry or descriptor broken: reads fail cleanly. */
static void expect_bad_read(const char *what, bool compressed, uint64_t entry)
{
    BlockCreateOpts o = {.size = 4 << 20};
    Error err = {0};
    static uint8_t w[65536];
    memset(w, 1, sizeof(w));
    BlockDev *bd = create_open("badl2.qcow2", &o);
    if (!bd)
        return;
    if (compressed)
        block_write_compressed(bd, 0, w, sizeof(w), &err);
    else
        block_pwrite(bd, 0, w, sizeof(w), &err);
    block_close(bd);
    uint64_t at = tu_l2_entry_addr(path_of("badl2.qcow2"), 0);
    if (compressed)
        entry |= tu_peek(path_of("badl2.qcow2"), at, 8);
    tu_poke(path_of("badl2.qcow2"), at, 8, entry);
    bd = block_open(path_of("badl2.qcow2"), "qcow2", true, &err);
    ok(bd && block_pread(bd, 0, w, sizeof(w), &err) < 0 && strstr(err.msg, "image is corrupt"),
       "%s: read refused (%s)", what, err.msg);
    block_close(bd);
}

static void test_bad_tables(void)
{
    expect_bad_read("misaligned data cluster", false, 0x8000000000050200ull);
    expect_bad_read("data cluster in the header", false, 0x8000000000000000ull | 512);
    expect_bad_read("reserved L2 bits", false, 0x8100000000050000ull);
    expect_bad_read("compressed garbage", true, 0x1000);
    BlockCreateOpts o = {.size = 4 << 20};
    Error err = {0};
    block_create(path_of("badl1.qcow2"), "qcow2", &o, &err);
    tu_poke(path_of("badl1.qcow2"), tu_l1_offset(path_of("badl1.qcow2")), 8, 0x12345);
    BlockDev *bd = block_open(path_of("badl1.qcow2"), "qcow2", true, &err);
    uint8_t b[512];
    ok(bd && block_pread(bd, 0, b, sizeof(b), &err) < 0 && strstr(err.msg, "image is corrupt"),
       "misaligned L2 table offset: read refused (%s)", err.msg);
    block_close(bd);
}

/* A guest write through an entry pointing at the image's own tables is refused. */
static void expect_overlap_refused(const char *what, bool l1_entry, uint64_t target)
{
    BlockCreateOpts o = {.size = 4 << 20};
    Error err = {0};
    static uint8_t w[65536];
    memset(w, 7, sizeof(w));
    BlockDev *bd = create_open("overlap.qcow2", &o);
    if (!bd)
        return;
    block_pwrite(bd, 0, w, sizeof(w), &err);
    block_close(bd);
    const char *p = path_of("overlap.qcow2");
    uint64_t at = l1_entry ? tu_l1_offset(p) : tu_l2_entry_addr(p, 0);
    uint64_t l1_before = tu_peek(p, tu_l1_offset(p), 8);
    tu_poke(p, at, 8, 0x8000000000000000ull | target);
    bd = block_open(p, "qcow2", false, &err);
    int rc = bd ? block_pwrite(bd, 0, w, 4096, &err) : -1;
    ok(bd && rc < 0 && strstr(err.msg, "would overlap"), "%s: write refused (%s)", what, err.msg);
    block_close(bd);
    if (!l1_entry)
        ok(tu_peek(p, tu_l1_offset(p), 8) == l1_before, "%s: the L1 table is intact", what);
}

static void test_overlaps(void)
{
    /* probe.qcow2 is made as expect_overlap_refused makes its image: same layout. */
    BlockCreateOpts o = {.size = 4 << 20};
    Error err = {0};
    static uint8_t w[65536];
    BlockDev *bd = create_open("probe.qcow2", &o);
    if (bd)
        block_pwrite(bd, 0, w, sizeof(w), &err);
    block_close(bd);
    const char *p = path_of("probe.qcow2");
    uint64_t l1 = tu_l1_offset(p), reftable = tu_peek(p, 48, 8);
    uint64_t refblock = tu_peek(p, reftable, 8), l2 = tu_peek(p, l1, 8) & 0x00fffffffffffe00ull;
    expect_overlap_refused("L1 entry pointing at the L1 table", true, l1);
    expect_overlap_refused("data cluster on the L1 table", false, l1);
    expect_overlap_refused("data cluster on the refcount table", false, reftable);
    ok(refblock && l2, "probe: refcount block at 0x%llx, L2 table at 0x%llx",
       (unsigned long long)refblock, (unsigned long long)l2);
    expect_overlap_refused("data cluster on a refcount block", false, refblock);
    expect_overlap_refused("data cluster on the L2 table", false, l2);
}

/* block_probe_bootable: the boot signature in the first sector, through any format. */
static void test_probe_bootable(void)
{
    Error err = {0};
    uint8_t sector[512] = {0};
    BlockCreateOpts o = {.size = 1 << 20};
    BlockDev *bd = create_open("boot.qcow2", &o);
    ok(bd && block_probe_bootable(path_of("boot.qcow2"), NULL, &err) == 0,
       "a blank qcow2 is not bootable");
    sector[510] = 0x55;
    sector[511] = 0xaa;
    ok(bd && block_pwrite(bd, 0, sector, sizeof(sector), &err) == 0 && block_flush(bd, &err) == 0,
       "boot signature written");
    block_close(bd);
    ok(block_probe_bootable(path_of("boot.qcow2"), NULL, &err) == 1,
       "a qcow2 whose guest sector 0 ends 55 AA is bootable");
    ok(block_probe_bootable(path_of("boot.qcow2"), "raw", &err) == 0,
       "read as raw, the qcow2 header has no boot signature");
    FILE *f = fopen(path_of("tiny.img"), "wb");
    ok(f && fwrite("\x55\xaa", 1, 2, f) == 2 && fclose(f) == 0, "a 2-byte image made");
    ok(block_probe_bootable(path_of("tiny.img"), NULL, &err) == 0, "shorter than a sector: no");
    err.msg[0] = '\0';
    ok(block_probe_bootable(path_of("missing.img"), NULL, &err) == -1 &&
           strstr(err.msg, "missing.img"),
       "a missing image is an error naming it (%s)", err.msg);
}

int main(void)
{
    dir = scratch_dir("qcow2");
    if (!dir) {
        printf("1..0 # SKIP no scratch directory\n");
        return 77;
    }
    qemu = have_qemu_img();
    test_write_read();
    test_backing_cow();
    test_subcluster_cow();
    test_zero_discard();
    test_compressed("zlib");
    test_compressed("zstd");
    test_qemu_compressed();
    test_resize();
    test_widths_v2_lazy();
    test_make_empty_and_exts();
    test_bad_headers();
    test_overlaps();
    test_bad_tables();
    test_probe_bootable();
    scratch_remove(dir);
    return tap_done();
}
