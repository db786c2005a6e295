/*
 * qcow2 internal snapshots: create / list / apply / delete round trips on
 * data written through block.h, our check after every step, qemu-img
 * check and snapshot -l on what we wrote, snapshots qemu-img made applied
 * by us, unknown extra data kept, and hostile snapshot tables refused.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "block/block.h"
#include "qcow2_test_util.h"
#include "tap.h"

#define MiB (1024ull * 1024)

static char *dir;
static bool qemu;

static char *path_in(const char *name)
{
    char *p = NULL;
    if (asprintf(&p, "%s/%s", dir, name) < 0)
        abort();
    return p;
}

/* A cluster-sized pattern that says which (tag, offset) wrote it. */
static void pattern(uint8_t *buf, size_t len, unsigned tag, uint64_t off)
{
    for (size_t i = 0; i < len; i++)
        buf[i] = (uint8_t)(tag * 31 + (off + i) / 512 * 7 + i);
}

static bool write_pat(BlockDev *bd, unsigned tag, uint64_t off, size_t len)
{
    uint8_t *b = malloc(len);
    Error e = {0};
    pattern(b, len, tag, off);
    int r = block_pwrite(bd, off, b, len, &e);
    if (r < 0)
        printf("# write: %s\n", e.msg);
    free(b);
    return r == 0;
}

static bool has_pat(BlockDev *bd, unsigned tag, uint64_t off, size_t len)
{
    uint8_t *b = malloc(len), *w = malloc(len);
    Error e = {0};
    pattern(w, len, tag, off);
    bool ok = block_pread(bd, off, b, len, &e) == 0 && memcmp(b, w, len) == 0;
    free(b);
    free(w);
    return ok;
}

static bool our_check_clean(BlockDev *bd, const char *what)
{
    BlockCheckResult r;
    Error e = {0};
    int rc = block_check(bd, &r, 0, &e);
    bool ok = rc == 0 && r.corruptions == 0 && r.leaks == 0 && r.check_errors == 0;
    if (!ok)
        printf("# %s: rc %d corruptions %lld leaks %lld errors %lld: %s %s\n", what, rc,
               (long long)r.corruptions, (long long)r.leaks, (long long)r.check_errors,
               r.first_problem, e.msg);
    return ok;
}

static int snap(BlockDev *bd, const char *name, Error *e)
{
    BlockSnapshot sn = {.name = (char *)name, .icount = UINT64_MAX};
    return block_snapshot_create(bd, &sn, e);
}

static bool qemu_clean(const char *path)
{
    QemuCheck qc;
    return qemu_check(path, NULL, &qc) == 0 && qc.corruptions == 0 && qc.leaks == 0;
}

/* Create, list, apply and delete on one image layout, checking after every step. */
static void round_trip(const char *label, const BlockCreateOpts *co)
{
    char *p = path_in(label);
    Error e = {0};
    ok(block_create(p, "qcow2", co, &e) == 0, "%s: create (%s)", label, e.msg);
    BlockDev *bd = block_open(p, "qcow2", false, &e);
    ok(bd != NULL, "%s: open (%s)", label, e.msg);
    if (!bd)
        return;
    uint64_t cs = bd->cluster_size;
    ok(write_pat(bd, 1, 0, 3 * cs) && write_pat(bd, 1, 5 * MiB, cs) &&
           write_pat(bd, 1, 9 * MiB + 512, 4096),
       "%s: write A", label);
    uint8_t *cbuf = malloc(cs);
    pattern(cbuf, cs, 8, 14 * MiB);
    memset(cbuf + cs / 2, 0, cs / 2); /* compressible */
    ok(block_write_compressed(bd, 14 * MiB, cbuf, cs, &e) == 0, "%s: a compressed cluster (%s)",
       label, e.msg);
    ok(snap(bd, "first", &e) == 0, "%s: snapshot first (%s)", label, e.msg);
    ok(our_check_clean(bd, "after create"), "%s: check clean after create", label);
    ok(write_pat(bd, 2, cs, cs) && write_pat(bd, 2, 5 * MiB + 4096, 4096) &&
           write_pat(bd, 2, 12 * MiB, cs) && write_pat(bd, 2, 14 * MiB, cs),
       "%s: write B over A and over the compressed cluster", label);
    ok(has_pat(bd, 2, cs, cs) && has_pat(bd, 1, 0, cs), "%s: B reads back, A kept aside", label);
    ok(snap(bd, "second", &e) == 0, "%s: snapshot second (%s)", label, e.msg);
    ok(snap(bd, "second", &e) < 0 && strstr(e.msg, "already exists"),
       "%s: duplicate name refused (%s)", label, e.msg);
    BlockSnapshot *l = NULL;
    int n = 0;
    ok(block_snapshot_list(bd, &l, &n, &e) == 0 && n == 2 && strcmp(l[0].name, "first") == 0 &&
           strcmp(l[1].name, "second") == 0 && strcmp(l[0].id, "1") == 0 &&
           strcmp(l[1].id, "2") == 0 && l[0].disk_size == 16 * MiB && l[1].date_sec > 0,
       "%s: list shows both with ids 1, 2", label);
    block_snapshot_list_free(l, n);
    ok(write_pat(bd, 3, 0, cs), "%s: write C", label);
    ok(block_snapshot_apply(bd, "first", &e) == 0, "%s: apply first (%s)", label, e.msg);
    ok(has_pat(bd, 1, 0, 3 * cs) && has_pat(bd, 1, 5 * MiB, cs) &&
           has_pat(bd, 1, 9 * MiB + 512, 4096),
       "%s: first's data is back", label);
    uint8_t *cgot = malloc(cs);
    ok(block_pread(bd, 14 * MiB, cgot, cs, &e) == 0 && memcmp(cgot, cbuf, cs) == 0,
       "%s: the compressed cluster is back", label);
    free(cgot);
    free(cbuf);
    uint8_t z[4096], zw[4096] = {0};
    ok(block_pread(bd, 12 * MiB, z, sizeof(z), &e) == 0 && memcmp(z, zw, sizeof(z)) == 0,
       "%s: data written after first is gone", label);
    ok(our_check_clean(bd, "after apply"), "%s: check clean after apply", label);
    ok(write_pat(bd, 4, 2 * cs, cs) && has_pat(bd, 4, 2 * cs, cs), "%s: writes after apply", label);
    ok(block_snapshot_apply(bd, "2", &e) == 0 && has_pat(bd, 2, cs, cs) &&
           has_pat(bd, 1, 2 * cs, cs) && has_pat(bd, 2, 12 * MiB, cs),
       "%s: apply by id 2 (%s)", label, e.msg);
    ok(block_snapshot_apply(bd, "nope", &e) < 0 && strstr(e.msg, "not found"),
       "%s: apply of a missing snapshot fails (%s)", label, e.msg);
    ok(block_snapshot_delete(bd, "first", &e) == 0, "%s: delete first (%s)", label, e.msg);
    ok(our_check_clean(bd, "after delete"), "%s: check clean after delete", label);
    ok(has_pat(bd, 2, cs, cs) && has_pat(bd, 1, 0, cs), "%s: data intact after delete", label);
    block_close(bd);
    if (qemu) {
        char out[4096];
        ok(qemu_clean(p), "%s: qemu-img check clean with a snapshot", label);
        ok(run_cmd(out, sizeof(out), "qemu-img snapshot -l '%s'", p) == 0 &&
               strstr(out, "second") && !strstr(out, "first"),
           "%s: qemu-img snapshot -l", label);
    }
    bd = block_open(p, "qcow2", false, &e);
    ok(bd && block_snapshot_delete(bd, "second", &e) == 0 && our_check_clean(bd, "last delete"),
       "%s: delete the last one after reopen (%s)", label, e.msg);
    block_close(bd);
    if (qemu)
        ok(qemu_clean(p), "%s: qemu-img check clean after deleting all", label);
    free(p);
}

/* Snapshots qemu-img made: listed and applied right by us; ours then pass qemu-img. */
static void from_qemu(void)
{
    char *p = path_in("q.qcow2"), out[4096];
    if (!qemu) {
        printf("ok %d - # SKIP qemu-img not installed\n", ++tap_n);
        free(p);
        return;
    }
    ok(run_cmd(out, sizeof(out),
               "qemu-img create -q -f qcow2 '%s' 8M && "
               "qemu-io -c 'write -P 0x11 0 192k' -c 'write -P 0x22 3M 64k' '%s' && "
               "qemu-img snapshot -c qsnap '%s' && "
               "qemu-io -c 'write -P 0x33 0 64k' -c 'discard 3M 64k' '%s'",
               p, p, p, p) == 0,
       "qemu-img made a snapshot (%s)", tu_oneline(out));
    Error e = {0};
    BlockDev *bd = block_open(p, NULL, false, &e);
    BlockSnapshot *l = NULL;
    int n = 0;
    ok(bd && block_snapshot_list(bd, &l, &n, &e) == 0 && n == 1 &&
           strcmp(l[0].name, "qsnap") == 0 && l[0].disk_size == 8 * MiB,
       "qemu's snapshot listed (%s)", e.msg);
    block_snapshot_list_free(l, n);
    if (!bd)
        return;
    ok(our_check_clean(bd, "qemu image"), "our check agrees qemu's image is clean");
    uint8_t b[65536], w[65536];
    memset(w, 0x11, sizeof(w));
    ok(block_snapshot_apply(bd, "qsnap", &e) == 0, "apply qemu's snapshot (%s)", e.msg);
    ok(block_pread(bd, 0, b, sizeof(b), &e) == 0 && memcmp(b, w, sizeof(b)) == 0,
       "its data is back");
    memset(w, 0x22, sizeof(w));
    ok(block_pread(bd, 3 * MiB, b, sizeof(b), &e) == 0 && memcmp(b, w, sizeof(b)) == 0,
       "the discarded range is back too");
    ok(snap(bd, "ours", &e) == 0 && our_check_clean(bd, "ours on qemu's"),
       "our snapshot next to qemu's (%s)", e.msg);
    block_close(bd);
    ok(qemu_clean(p), "qemu-img check clean after our apply + create");
    /* qemu-img leaves the last entry's padding out of the file when the table ends it. */
    char *u = path_in("unpadded.qcow2");
    ok(run_cmd(out, sizeof(out),
               "qemu-img create -q -f qcow2 '%s' 1M && "
               "qemu-img snapshot -c ab '%s'",
               u, u) == 0,
       "qemu-img snapshot at the file's end");
    BlockDev *ub = block_open(u, "qcow2", true, &e);
    ok(ub && block_snapshot_list(ub, &l, &n, &e) == 0 && n == 1 && strcmp(l[0].name, "ab") == 0,
       "a table without its last padding opens (%s)", e.msg);
    if (ub)
        block_snapshot_list_free(l, n);
    block_close(ub);
    free(u);
    ok(run_cmd(out, sizeof(out),
               "qemu-img snapshot -a ours '%s' && "
               "qemu-io -c 'read -P 0x11 0 64k' -c 'read -P 0x22 3M 64k' '%s'",
               p, p) == 0 &&
           !strstr(out, "Pattern verification failed"),
       "qemu applies our snapshot (%s)", tu_oneline(out));
    free(p);
}

/* Unknown extra data in a table entry survives our rewrite of the table. */
static void unknown_extra(void)
{
    char *p = path_in("x.qcow2");
    BlockCreateOpts co = {.size = 4 * MiB};
    Error e = {0};
    BlockDev *bd = NULL;
    ok(block_create(p, "qcow2", &co, &e) == 0 && (bd = block_open(p, "qcow2", false, &e)) &&
           snap(bd, "a", &e) == 0,
       "image with one snapshot (%s)", e.msg);
    block_close(bd);
    /* Grow entry 0's extra data from 24 to 32 bytes: the table stays in its cluster. */
    uint64_t t = tu_snapshots_offset(p);
    uint8_t ent[128] = {0};
    int fd = open(p, O_RDWR);
    ok(fd >= 0 && pread(fd, ent, 72, (off_t)t) == 72, "read the entry");
    uint8_t id_name[3];
    memcpy(id_name, ent + 64, 3); /* "1" "a" */
    tu_put_be(ent + 36, 4, 32);
    memcpy(ent + 64, "UNKNOWN!", 8);
    memcpy(ent + 72, id_name, 2);
    ok(pwrite(fd, ent, 80, (off_t)t) == 80, "patched unknown extra data in");
    close(fd);
    bd = block_open(p, "qcow2", false, &e);
    ok(bd && our_check_clean(bd, "unknown extra"), "opens, check clean (%s)", e.msg);
    ok(bd && snap(bd, "b", &e) == 0, "table rewritten by a new snapshot (%s)", e.msg);
    block_close(bd);
    t = tu_snapshots_offset(p);
    ok(tu_peek(p, t + 36, 4) == 32 &&
           tu_peek(p, t + 64, 8) == tu_be((const uint8_t *)"UNKNOWN!", 8),
       "unknown extra bytes kept");
    if (qemu)
        ok(qemu_clean(p), "qemu-img check clean");
    free(p);
}

/* Hostile snapshot tables: one clear line, no crash, no huge allocation. */
static void hostile(void)
{
    char *p = path_in("h.qcow2");
    BlockCreateOpts co = {.size = 4 * MiB};
    Error e = {0};
    BlockDev *bd = NULL;
    ok(block_create(p, "qcow2", &co, &e) == 0 && (bd = block_open(p, "qcow2", false, &e)) &&
           snap(bd, "a", &e) == 0,
       "image with one snapshot (%s)", e.msg);
    block_close(bd);
    uint64_t t = tu_snapshots_offset(p);
    static const struct {
        const char *what;
        uint64_t off;
        int n;
        uint64_t v;
    } bad[] = {
        {"too many snapshots", 60, 4, 70000},   {"table past the end of the file", 60, 4, 60000},
        {"misaligned L1 table", 1, 8, 0x10200}, {"huge L1 table", 2, 4, 0x10000000},
        {"too little extra data", 3, 4, 8},     {"too much extra data", 3, 4, 100000},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        uint64_t off = bad[i].off == 1   ? t
                       : bad[i].off == 2 ? t + 8
                       : bad[i].off == 3 ? t + 36
                                         : bad[i].off;
        uint64_t old = tu_peek(p, off, bad[i].n);
        tu_poke(p, off, bad[i].n, bad[i].v);
        bd = block_open(p, "qcow2", true, &e);
        ok(!bd && strstr(e.msg, "image is corrupt"), "%s refused (%s)", bad[i].what, e.msg);
        block_close(bd);
        tu_poke(p, off, bad[i].n, old);
    }
    bd = block_open(p, "qcow2", true, &e);
    ok(bd != NULL, "restored image opens again (%s)", e.msg);
    block_close(bd);
    free(p);
}

/* Apply restores the virtual size the snapshot was taken at. */
static void resize(void)
{
    char *p = path_in("r.qcow2");
    BlockCreateOpts co = {.size = 4 * MiB};
    Error e = {0};
    BlockDev *bd = NULL;
    ok(block_create(p, "qcow2", &co, &e) == 0 && (bd = block_open(p, "qcow2", false, &e)) &&
           write_pat(bd, 5, 0, 65536) && snap(bd, "small", &e) == 0,
       "snapshot at 4 MiB (%s)", e.msg);
    if (!bd)
        return;
    if (block_truncate(bd, 64 * MiB, &e) < 0) {
        printf("ok %d - # SKIP resize with snapshots: %s\n", ++tap_n, e.msg);
        block_close(bd);
        free(p);
        return;
    }
    ok(write_pat(bd, 6, 40 * MiB, 65536), "write past the old end");
    ok(block_snapshot_apply(bd, "small", &e) == 0 && block_length(bd) == 4 * MiB &&
           has_pat(bd, 5, 0, 65536),
       "apply brings back 4 MiB (%s)", e.msg);
    ok(our_check_clean(bd, "resize"), "check clean");
    block_close(bd);
    if (qemu)
        ok(qemu_clean(p), "qemu-img check clean");
    free(p);
}

int main(void)
{
    dir = scratch_dir("qcow2-snap");
    if (!dir) {
        printf("1..0 # SKIP no scratch directory\n");
        return 77;
    }
    qemu = have_qemu_img();
    round_trip("v3.qcow2", &(BlockCreateOpts){.size = 16 * MiB});
    round_trip("v2.qcow2", &(BlockCreateOpts){.size = 16 * MiB, .compat = 2});
    round_trip("c4k.qcow2", &(BlockCreateOpts){.size = 16 * MiB, .cluster_size = 4096});
    round_trip("xl2.qcow2", &(BlockCreateOpts){.size = 16 * MiB, .extended_l2 = true});
    from_qemu();
    unknown_extra();
    hostile();
    resize();
    scratch_remove(dir);
    free(dir);
    return tap_done();
}
