/*
 * Storage pools and volumes (src/mgmt/pool.c, pool_volume.c) on a
 * temporary state directory: pool definitions (default pool, define,
 * undefine, reopen, a broken document skipped), volume names and escapes
 * (bad names, a symlink out of the pool, a backing file outside it),
 * create, clone (linked and full), import, export, resize and delete with
 * the data read back through the block layer, progress and cancel, the
 * in-use checks, and `qemu-img check` on what we made when it is present.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <dirent.h>

#include "block/block.h"
#include "mgmt/pool.h"
#include "tap.h"

#define MIB (1ull << 20)

static char root[256];    /* the test's temporary directory */
static char state[300];   /* ROOT/state */
static char outside[300]; /* ROOT/outside: a directory no pool covers */

static bool exists(const char *path)
{
    struct stat st;
    return lstat(path, &st) == 0;
}

/* Files in dir whose name starts with '.' (temporary files), "." and ".." aside. */
static int count_hidden(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    int n = 0;
    while (d && (e = readdir(d)))
        n += e->d_name[0] == '.' && strcmp(e->d_name, ".") && strcmp(e->d_name, "..");
    if (d)
        closedir(d);
    return n;
}

/* Write a 4 KiB pattern (byte seed) at off of the image at path. */
static bool write_pattern(const char *path, uint64_t off, uint8_t seed)
{
    uint8_t buf[4096];
    for (size_t i = 0; i < sizeof(buf); i++)
        buf[i] = (uint8_t)(seed + i);
    BlockDev *bd = block_open(path, NULL, false, NULL);
    bool ok =
        bd && block_pwrite(bd, off, buf, sizeof(buf), NULL) == 0 && block_flush(bd, NULL) == 0;
    block_close(bd);
    return ok;
}

/* The image at path (format fmt) reads the pattern seed at off, and zeroes at zero_off. */
static bool reads_pattern(const char *path, const char *fmt, uint64_t off, uint8_t seed,
                          uint64_t zero_off)
{
    uint8_t buf[4096];
    BlockDev *bd = block_open(path, fmt, true, NULL);
    bool ok = bd && block_pread(bd, off, buf, sizeof(buf), NULL) == 0;
    for (size_t i = 0; ok && i < sizeof(buf); i++)
        ok = buf[i] == (uint8_t)(seed + i);
    ok = ok && block_pread(bd, zero_off, buf, sizeof(buf), NULL) == 0;
    for (size_t i = 0; ok && i < sizeof(buf); i++)
        ok = buf[i] == 0;
    block_close(bd);
    return ok;
}

static bool qemu_img_check(const char *path)
{
    char cmd[PATH_MAX + 64];
    if (system("qemu-img --version >/dev/null 2>&1") != 0)
        return true; /* not installed: nothing to compare with */
    snprintf(cmd, sizeof(cmd), "qemu-img check -q '%s' >/dev/null 2>&1", path);
    return system(cmd) == 0;
}

static MgmtPools *open_pools(void)
{
    MgmtPools *p = NULL;
    Error err = {0};
    if (mgmt_pools_open(&p, state, &err) < 0)
        printf("# open: %s\n", err.msg);
    return p;
}

static const MgmtPool *default_pool(MgmtPools *p)
{
    return mgmt_pools_find(p, MGMT_POOL_DEFAULT);
}

static void test_pools(void)
{
    char path[PATH_MAX];
    MgmtPools *p = open_pools();
    snprintf(path, sizeof(path), "%s/pools/default", state);
    ok(p && default_pool(p) && exists(path), "the default pool and its directory are made");
    if (!p)
        return;
    Error err = {0};
    ok(mgmt_pool_define(p, "other", "dir", outside, &err) == 0, "pool 'other' defined (%s)",
       err.msg);
    ok(mgmt_pool_define(p, "other", "dir", root, &err) == -EEXIST, "the name again: -EEXIST");
    ok(mgmt_pool_define(p, "again", "dir", outside, &err) == -EEXIST,
       "the same directory again: -EEXIST (%s)", err.msg);
    ok(mgmt_pool_define(p, "rel", "dir", "relative/dir", &err) == -EINVAL, "a relative path: %s",
       err.msg);
    ok(mgmt_pool_define(p, "nodir", "dir", "/nonexistent/x", &err) == -EINVAL,
       "a missing directory: %s", err.msg);
    ok(mgmt_pool_define(p, "lvm", "lvm", root, &err) == -EINVAL, "an unknown kind: %s", err.msg);
    ok(mgmt_pool_define(p, "../x", "dir", root, &err) == -EINVAL, "a bad name: %s", err.msg);
    ok(mgmt_pool_undefine(p, "default", &err) == -EBUSY, "the default pool stays: %s", err.msg);
    ok(mgmt_pool_undefine(p, "nope", &err) == -ENOENT, "undefining a missing pool: -ENOENT");
    mgmt_pools_close(p);
    /* a broken document beside the good ones is skipped and kept */
    snprintf(path, sizeof(path), "%s/storage-pools/broken.json", state);
    FILE *f = fopen(path, "w");
    if (f) {
        fputs("{\"version\": 1, \"name\": \"broken\", \"kind\": \"dir\", \"path\": 3}", f);
        fclose(f);
    }
    p = open_pools();
    ok(p && mgmt_pools_count(p) == 2 && mgmt_pools_find(p, "other"),
       "reopened: default and other, the broken document skipped");
    ok(exists(path), "the broken document is kept on disk");
    unlink(path);
    if (!p)
        return;
    snprintf(path, sizeof(path), "%s/storage-pools/other.json", state);
    ok(mgmt_pool_undefine(p, "other", &err) == 0 && !exists(path) && exists(outside),
       "other undefined: its document gone, its directory kept");
    mgmt_pools_close(p);
}

static void test_names_and_create(const MgmtPool *pool)
{
    static const char *const bad[] = {"../x", "/abs", "a/b", "..", ".x", "-x", ""};
    char path[PATH_MAX];
    Error err = {0};
    for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
        MgmtVolumeCreate c = {.name = bad[i], .format = "qcow2", .size = MIB};
        ok(mgmt_volume_create(pool, &c, &err) == -EINVAL, "volume name '%s' refused", bad[i]);
    }
    ok(count_hidden(pool->path) == 0 && !exists("/abs.qcow2"), "nothing was written for them");
    MgmtVolumeCreate c = {.name = "base", .format = "qcow2", .size = 16 * MIB};
    ok(mgmt_volume_create(pool, &c, &err) == 0, "base.qcow2 created (%s)", err.msg);
    snprintf(path, sizeof(path), "%s/base.qcow2", pool->path);
    ok(exists(path) && qemu_img_check(path), "base.qcow2 exists and qemu-img check accepts it");
    ok(mgmt_volume_create(pool, &c, &err) == -EEXIST, "base again: -EEXIST");
    c.format = "raw";
    ok(mgmt_volume_create(pool, &c, &err) == -EEXIST, "base as raw too: -EEXIST (%s)", err.msg);
    MgmtVolumeCreate badsz[] = {{.name = "z", .format = "raw", .size = 0},
                                {.name = "z", .format = "raw", .size = 513},
                                {.name = "z", .format = "raw", .size = (1ull << 62) + 512},
                                {.name = "z", .format = "vmdk", .size = MIB},
                                {.name = "z", .format = "raw", .size = MIB, .backing = "base"}};
    for (size_t i = 0; i < sizeof(badsz) / sizeof(*badsz); i++)
        ok(mgmt_volume_create(pool, &badsz[i], &err) == -EINVAL, "refused: %s", err.msg);
    MgmtVolumeCreate raw = {.name = "disk", .format = "raw", .size = 4 * MIB};
    MgmtVolume v;
    ok(mgmt_volume_create(pool, &raw, &err) == 0 && mgmt_volume_get(pool, "disk", &v, &err) == 0,
       "disk.raw created and read");
    ok(strcmp(v.format, "raw") == 0 && v.size == 4 * MIB && !v.backing, "disk: raw, 4 MiB");
    mgmt_volume_free(&v);
    MgmtVolumeCreate child = {.name = "child", .format = "qcow2", .backing = "base"};
    ok(mgmt_volume_create(pool, &child, &err) == 0 && mgmt_volume_get(pool, "child", &v, &err) == 0,
       "child created over base (%s)", err.msg);
    ok(v.backing && strcmp(v.backing, "base") == 0 && v.size == 16 * MIB && !v.backing_file,
       "child's backing is the volume base, its size base's");
    mgmt_volume_free(&v);
    child.name = "orphan";
    child.backing = "missing";
    ok(mgmt_volume_create(pool, &child, &err) == -ENOENT, "a missing backing: %s", err.msg);
    ok(mgmt_volume_get(pool, "missing", &v, &err) == -ENOENT, "get of a missing volume: -ENOENT");
}

static void test_escapes(const MgmtPool *pool)
{
    char out[PATH_MAX], link_path[PATH_MAX], foreign[PATH_MAX];
    Error err = {0};
    BlockCreateOpts o = {.size = MIB};
    snprintf(out, sizeof(out), "%s/secret.qcow2", outside);
    block_create(out, "qcow2", &o, NULL);
    snprintf(link_path, sizeof(link_path), "%s/evil.qcow2", pool->path);
    ok(symlink(out, link_path) == 0, "a symlink out of the pool planted");
    MgmtVolume v;
    ok(mgmt_volume_get(pool, "evil", &v, &err) == -EXDEV, "get refuses it: %s", err.msg);
    ok(mgmt_volume_delete(pool, "evil", &err) == -EXDEV && exists(out), "delete refuses it");
    ok(mgmt_volume_resize(pool, "evil", 2 * MIB, false, &err) == -EXDEV, "resize refuses it");
    ok(mgmt_volume_clone(pool, "evil", "stolen", false, NULL, &err) == -EXDEV &&
           mgmt_volume_get(pool, "stolen", &v, NULL) == -ENOENT,
       "clone refuses it");
    MgmtVolumeCreate c = {.name = "over", .format = "qcow2", .backing = "evil"};
    ok(mgmt_volume_create(pool, &c, &err) == -EXDEV, "a backing through it is refused");
    MgmtVolume *all;
    size_t n;
    bool listed = false;
    ok(mgmt_volume_list(pool, &all, &n, &err) == 0, "list");
    for (size_t i = 0; i < n; i++)
        listed |= strcmp(all[i].name, "evil") == 0;
    mgmt_volumes_free(all, n);
    ok(!listed, "list leaves the escaping symlink out");
    unlink(link_path);
    /* an image in the pool whose backing file is outside it */
    snprintf(foreign, sizeof(foreign), "%s/foreign.qcow2", pool->path);
    BlockCreateOpts fo = {.size = MIB, .backing_file = out, .backing_fmt = "qcow2"};
    ok(block_create(foreign, "qcow2", &fo, &err) == 0, "foreign.qcow2 over %s made", out);
    ok(mgmt_volume_get(pool, "foreign", &v, &err) == 0 && !v.backing && v.backing_file &&
           strcmp(v.backing_file, out) == 0,
       "get shows its backing_file outside");
    mgmt_volume_free(&v);
    ok(mgmt_volume_clone(pool, "foreign", "f2", true, NULL, &err) == -EXDEV,
       "a linked clone over it: %s", err.msg);
    ok(mgmt_volume_clone(pool, "foreign", "f3", false, NULL, &err) == -EXDEV,
       "a full clone of it is refused too");
    char never[PATH_MAX];
    snprintf(never, sizeof(never), "%s/never.qcow2", outside);
    ok(mgmt_volume_export(pool, "foreign", never, NULL, NULL, &err) == -EXDEV && !exists(never),
       "and an export");
    /* one level further: top (in the pool) over foreign (in the pool) over secret (outside) */
    char top[PATH_MAX];
    snprintf(top, sizeof(top), "%s/top.qcow2", pool->path);
    BlockCreateOpts to = {.size = MIB, .backing_file = "foreign.qcow2", .backing_fmt = "qcow2"};
    ok(block_create(top, "qcow2", &to, &err) == 0 && mgmt_volume_get(pool, "top", &v, &err) == 0 &&
           v.backing && strcmp(v.backing, "foreign") == 0,
       "top.qcow2 over foreign made");
    mgmt_volume_free(&v);
    ok(mgmt_volume_clone(pool, "top", "t2", true, NULL, &err) == -EXDEV &&
           mgmt_volume_clone(pool, "top", "t3", false, NULL, &err) == -EXDEV,
       "clones of top are refused: the chain leaves the pool two levels down");
    unlink(top);
    unlink(foreign);
}

typedef struct Seen {
    uint64_t done, total;
    unsigned calls;
} Seen;

static void on_progress(void *opaque, uint64_t done, uint64_t total)
{
    Seen *s = opaque;
    s->done = done;
    s->total = total;
    s->calls++;
}

static void test_copies(const MgmtPool *pool)
{
    char base[PATH_MAX], path[PATH_MAX], host[PATH_MAX];
    Error err = {0};
    snprintf(base, sizeof(base), "%s/base.qcow2", pool->path);
    ok(write_pattern(base, 5 * MIB, 7), "a pattern written in base at 5 MiB");
    Seen seen = {0};
    MgmtProgress pr = {.report = on_progress, .opaque = &seen};
    ok(mgmt_volume_clone(pool, "base", "full", false, &pr, &err) == 0, "full clone (%s)", err.msg);
    snprintf(path, sizeof(path), "%s/full.qcow2", pool->path);
    ok(reads_pattern(path, "qcow2", 5 * MIB, 7, 0) && qemu_img_check(path),
       "full reads the pattern, zeroes elsewhere, and passes qemu-img check");
    ok(seen.calls >= 8 && seen.done == 16 * MIB && seen.total == 16 * MIB,
       "progress reported up to 16 MiB (%u calls)", seen.calls);
    MgmtVolume v;
    ok(mgmt_volume_get(pool, "full", &v, NULL) == 0 && !v.backing && v.allocation < 4 * MIB,
       "full has no backing and stays thin (%llu bytes)", (unsigned long long)v.allocation);
    mgmt_volume_free(&v);
    ok(mgmt_volume_clone(pool, "base", "linked", true, NULL, &err) == 0 &&
           mgmt_volume_get(pool, "linked", &v, NULL) == 0 && v.backing &&
           strcmp(v.backing, "base") == 0,
       "linked clone over base");
    mgmt_volume_free(&v);
    snprintf(path, sizeof(path), "%s/linked.qcow2", pool->path);
    ok(reads_pattern(path, "qcow2", 5 * MIB, 7, 0), "linked reads base's pattern");
    atomic_bool cancel = true;
    MgmtProgress stop = {.cancel = &cancel};
    ok(mgmt_volume_clone(pool, "base", "never", false, &stop, &err) == -ECANCELED &&
           mgmt_volume_get(pool, "never", &v, NULL) == -ENOENT && count_hidden(pool->path) == 0,
       "a cancelled clone leaves no volume and no temporary file");
    /* import a raw host file with the pattern, as qcow2; export it back as raw */
    snprintf(host, sizeof(host), "%s/host.img", outside);
    BlockCreateOpts o = {.size = 8 * MIB};
    ok(block_create(host, "raw", &o, NULL) == 0 && write_pattern(host, 3 * MIB, 42),
       "a raw host image");
    ok(mgmt_volume_import(pool, "imported", host, "qcow2", NULL, &err) == 0, "imported (%s)",
       err.msg);
    snprintf(path, sizeof(path), "%s/imported.qcow2", pool->path);
    ok(reads_pattern(path, "qcow2", 3 * MIB, 42, 6 * MIB) && qemu_img_check(path),
       "imported.qcow2 reads the pattern and passes qemu-img check");
    ok(mgmt_volume_import(pool, "nofile", "/nonexistent.img", "qcow2", NULL, &err) == -EINVAL,
       "importing a missing file: %s", err.msg);
    ok(mgmt_volume_import(pool, "rel", "relative.img", "qcow2", NULL, &err) == -EINVAL,
       "importing a relative path: %s", err.msg);
    ok(mgmt_volume_import(pool, "imported", host, "qcow2", NULL, &err) == -EEXIST,
       "importing over a volume: -EEXIST");
    snprintf(host, sizeof(host), "%s/exported.raw", outside);
    ok(mgmt_volume_export(pool, "imported", host, "raw", NULL, &err) == 0 &&
           reads_pattern(host, "raw", 3 * MIB, 42, 0),
       "exported as raw (%s)", err.msg);
    ok(mgmt_volume_export(pool, "imported", host, "raw", NULL, &err) == -EEXIST,
       "export never overwrites: %s", err.msg);
    ok(mgmt_volume_export(pool, "imported", "rel.raw", NULL, NULL, &err) == -EINVAL,
       "export to a relative path: %s", err.msg);
}

static void test_resize_delete(const MgmtPool *pool)
{
    Error err = {0};
    MgmtVolume v;
    ok(mgmt_volume_resize(pool, "full", 32 * MIB, false, &err) == 0 &&
           mgmt_volume_get(pool, "full", &v, NULL) == 0 && v.size == 32 * MIB,
       "full grown to 32 MiB (%s)", err.msg);
    mgmt_volume_free(&v);
    ok(mgmt_volume_resize(pool, "full", 8 * MIB, true, &err) == -EINVAL,
       "a qcow2 volume never shrinks: %s", err.msg);
    ok(mgmt_volume_resize(pool, "disk", 2 * MIB, false, &err) == -EINVAL,
       "a raw shrink without shrink: %s", err.msg);
    ok(mgmt_volume_resize(pool, "disk", 2 * MIB, true, &err) == 0 &&
           mgmt_volume_get(pool, "disk", &v, NULL) == 0 && v.size == 2 * MIB,
       "a raw shrink with shrink");
    mgmt_volume_free(&v);
    ok(mgmt_volume_resize(pool, "disk", 1000, false, &err) == -EINVAL, "a size not of 512s");
    ok(mgmt_volume_resize(pool, "nope", MIB, false, &err) == -ENOENT, "resizing a missing one");
    /* a running VM's lock */
    char path[PATH_MAX];
    snprintf(path, sizeof(path), "%s/disk.raw", pool->path);
    BlockDev *held = block_open(path, "raw", false, NULL);
    ok(held && mgmt_volume_resize(pool, "disk", 8 * MIB, false, &err) == -EBUSY,
       "resize while an image is open for writing: %s", err.msg);
    ok(mgmt_volume_delete(pool, "disk", &err) == -EBUSY && exists(path),
       "delete while it is open is refused");
    block_close(held);
    ok(mgmt_volume_delete(pool, "base", &err) == -EBUSY, "base has clones over it: %s", err.msg);
    ok(mgmt_volume_delete(pool, "child", &err) == 0 &&
           mgmt_volume_delete(pool, "linked", &err) == 0,
       "child and linked deleted");
    ok(mgmt_volume_delete(pool, "base", &err) == 0 &&
           mgmt_volume_get(pool, "base", &v, NULL) == -ENOENT,
       "then base (%s)", err.msg);
    ok(mgmt_volume_delete(pool, "base", &err) == -ENOENT, "deleting it again: -ENOENT");
    MgmtPoolUsage u;
    ok(mgmt_pool_usage(pool, &u, &err) == 0 && u.volumes == 3 && u.allocation > 0 &&
           u.capacity >= u.available && u.capacity > 0,
       "usage: 3 volumes, %llu bytes allocated", (unsigned long long)u.allocation);
}

static void test_users(const MgmtPool *pool)
{
    MgmtStore *s = NULL;
    MgmtVm vm;
    MgmtVolume v;
    const char *names[2];
    Error err = {0};
    ok(mgmt_store_open(&s, state, &err) == 0, "a store on the state directory");
    if (!s)
        return;
    mgmt_vm_init(&vm, NULL);
    snprintf(vm.name, sizeof(vm.name), "vm1");
    mgmt_uuid_new(vm.uuid, NULL);
    ok(mgmt_volume_get(pool, "disk", &v, NULL) == 0, "disk read");
    VmDisk d = {.path = v.path};
    ok(vmconfig_add_disk(&vm.config, &d, NULL) == 0 && mgmt_store_put(s, &vm, NULL) == 0,
       "vm1 defined with disk.raw");
    ok(mgmt_volume_users(s, &v, names, 2) == 1 && strcmp(names[0], "vm1") == 0,
       "disk.raw is used by vm1");
    mgmt_volume_free(&v);
    ok(mgmt_volume_get(pool, "full", &v, NULL) == 0 && mgmt_volume_users(s, &v, names, 2) == 0,
       "full is used by none");
    mgmt_volume_free(&v);
    mgmt_vm_free(&vm);
    mgmt_store_close(s);
}

int main(void)
{
    snprintf(root, sizeof(root), "/tmp/hostel-pool-XXXXXX");
    if (!mkdtemp(root)) {
        perror("mkdtemp");
        return 1;
    }
    snprintf(state, sizeof(state), "%s/state", root);
    snprintf(outside, sizeof(outside), "%s/outside", root);
    mkdir(state, 0750);
    mkdir(outside, 0750);
    test_pools();
    MgmtPools *p = open_pools();
    if (p) {
        test_names_and_create(default_pool(p));
        test_escapes(default_pool(p));
        test_copies(default_pool(p));
        test_resize_delete(default_pool(p));
        test_users(default_pool(p));
        mgmt_pools_close(p);
    }
    char cmd[sizeof(root) + 16];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", root);
    if (system(cmd) != 0)
        printf("# could not remove %s\n", root);
    return tap_done();
}
