/*
 * The state commands of the control socket: save, suspend, and live
 * snapshots (create, list, revert, delete).
 *
 * A live snapshot is the VM's state file plus an internal qcow2 snapshot
 * of the same name on every writable disk, all taken while the VM is
 * paused (devices quiesced, disks flushed), so memory and disks agree.
 * State files live in $XDG_STATE_HOME/hostel/snapshots/VMNAME/ (default
 * ~/.local/state/...), one SNAP.state each.
 */
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "block/block.h"
#include "control/control.h"
#include "machine/machine_int.h"
#include "machine/machine_state.h"
#include "util/timer.h"
#include "virtio/blk.h"

static double ms_since(uint64_t t0)
{
    return (double)(timer_now_ns() - t0) / 1e6;
}

/* ---- save / suspend ---- */

static int save_args(json_t *args, const char **file, bool *compress, Error *err)
{
    static const char *const allowed[] = {"file", "compress", NULL};
    int c = 0;
    if (control_args_check(args, allowed, err) < 0)
        return -1;
    if (!args || json_unpack(args, "{s:s, s?b}", "file", file, "compress", &c) < 0)
        return error_set(err, "expected {\"file\": PATH, \"compress\": BOOL (optional)}");
    *compress = c;
    return 0;
}

/* Pause (if running), save, and say how long the guest stood still. */
static json_t *save_to(Machine *m, const char *file, bool compress, bool resume, Error *err)
{
    bool was_paused = m->paused;
    uint64_t t0 = timer_now_ns();
    machine_pause(m);
    machine_settle_clock(m);
    MachineSaveOpts o = {.compress = compress};
    int rc = machine_save(m, file, &o, err);
    double pause_ms = ms_since(t0);
    if (!was_paused && resume)
        machine_resume(m);
    if (rc < 0)
        return NULL;
    struct stat st;
    uint64_t bytes = stat(file, &st) == 0 ? (uint64_t)st.st_blocks * 512 : 0;
    return json_pack("{s:s, s:I, s:f}", "file", file, "disk-bytes", (json_int_t)bytes,
                     "pause-ms", pause_ms);
}

json_t *machine_cmd_save(void *opaque, json_t *args, Error *err)
{
    const char *file;
    bool compress = false;
    if (save_args(args, &file, &compress, err) < 0)
        return NULL;
    return save_to(opaque, file, compress, true, err);
}

/* Save, then end the VMM (exit status 0): `hostel run --restore FILE` continues. */
json_t *machine_cmd_suspend(void *opaque, json_t *args, Error *err)
{
    Machine *m = opaque;
    const char *file;
    bool compress = false;
    if (save_args(args, &file, &compress, err) < 0)
        return NULL;
    json_t *r = save_to(m, file, compress, false, err);
    if (!r)
        return NULL;
    m->control_quit = true;
    m->suspended = true;
    m->stop = true;
    return r;
}

/* ---- snapshots ---- */

static int snapshot_name_ok(const char *name, Error *err)
{
    size_t n = strlen(name);
    if (n == 0 || n > 64 || name[0] == '.')
        return error_set(err, "snapshot name '%s': use 1 to 64 letters, digits, '.', '_' or '-'",
                         name);
    for (size_t i = 0; i < n; i++) {
        char c = name[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == '-'))
            return error_set(err, "snapshot name '%s': use letters, digits, '.', '_' or '-'",
                             name);
    }
    return 0;
}

/* mkdir -p with mode 0700. */
static int make_dirs(char *path, Error *err)
{
    for (char *p = path + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        int rc = mkdir(path, 0700);
        *p = '/';
        if (rc < 0 && errno != EEXIST)
            return error_set_errno(err, errno, "%s: cannot create the directory", path);
    }
    if (mkdir(path, 0700) < 0 && errno != EEXIST)
        return error_set_errno(err, errno, "%s: cannot create the directory", path);
    return 0;
}

/* The VM's snapshot directory (created when create is true). */
static int snapshot_dir(const Machine *m, char *dir, size_t size, bool create, Error *err)
{
    if (!m->name)
        return error_set(err, "snapshots need a named VM (hostel run --name NAME)");
    const char *state = getenv("XDG_STATE_HOME"), *home = getenv("HOME");
    int n = state && state[0] == '/'
                ? snprintf(dir, size, "%s/hostel/snapshots/%s", state, m->name)
                : snprintf(dir, size, "%s/.local/state/hostel/snapshots/%s",
                           home ? home : "/tmp", m->name);
    if (n < 0 || (size_t)n >= size)
        return error_set(err, "snapshot directory path too long");
    return create ? make_dirs(dir, err) : 0;
}

static int snapshot_file(const Machine *m, const char *name, char *path, size_t size,
                         bool create, Error *err)
{
    char dir[PATH_MAX - 80];
    if (snapshot_name_ok(name, err) < 0 || snapshot_dir(m, dir, sizeof(dir), create, err) < 0)
        return -1;
    snprintf(path, size, "%s/%s.state", dir, name);
    return 0;
}

/* The writable disks (snapshots change them); a raw one cannot take part. */
static int snapshot_disks(Machine *m, BlockDev **disks, unsigned *n, Error *err)
{
    *n = 0;
    for (unsigned i = 0; i < m->cfg.ndisks; i++) {
        BlockDev *bd = virtio_blk_disk(m->virtio[i]);
        if (!bd || bd->read_only)
            continue;
        if (!bd->drv->snapshot_create)
            return error_set(err, "disk vd%c (%s) is %s: live snapshots need qcow2 disks",
                             'a' + i, m->cfg.disks[i].path, bd->drv->format);
        disks[(*n)++] = bd;
    }
    return 0;
}

static bool disk_has_snapshot(BlockDev *bd, const char *name)
{
    BlockSnapshot *list;
    int count;
    bool found = false;
    if (block_snapshot_list(bd, &list, &count, NULL) < 0)
        return false;
    for (int i = 0; i < count; i++)
        found |= list[i].name && strcmp(list[i].name, name) == 0;
    block_snapshot_list_free(list, count);
    return found;
}

static int disks_snapshot(Machine *m, BlockDev **disks, unsigned n, const char *name,
                          Error *err)
{
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    BlockSnapshot sn = {.name = (char *)name, .date_sec = (uint32_t)now.tv_sec,
                        .date_nsec = (uint32_t)now.tv_nsec,
                        .vm_clock_nsec = hart_time(m->harts[0]) * 100, .icount = ~0ull};
    for (unsigned i = 0; i < n; i++) {
        if (block_snapshot_create(disks[i], &sn, err) < 0) {
            while (i--)  /* take back the ones made: all disks or none */
                block_snapshot_delete(disks[i], name, NULL);
            return -1;
        }
    }
    return 0;
}

/* What every snapshot command needs: its name, its state file, the disks taking part. */
typedef struct SnapshotOp {
    const char *name;
    char path[PATH_MAX];
    BlockDev *disks[MACHINE_MAX_DISKS];
    unsigned n;
} SnapshotOp;

static int snapshot_op(Machine *m, json_t *args, bool create_dir, SnapshotOp *op, Error *err)
{
    static const char *const allowed[] = {"name", NULL};
    if (control_args_check(args, allowed, err) < 0)
        return -1;
    if (!args || json_unpack(args, "{s:s}", "name", &op->name) < 0)
        return error_set(err, "expected {\"name\": SNAPSHOT}");
    if (snapshot_file(m, op->name, op->path, sizeof(op->path), create_dir, err) < 0)
        return -1;
    return snapshot_disks(m, op->disks, &op->n, err);
}

json_t *machine_cmd_snapshot_create(void *opaque, json_t *args, Error *err)
{
    Machine *m = opaque;
    SnapshotOp op;
    struct stat st;
    if (snapshot_op(m, args, true, &op, err) < 0)
        return NULL;
    const char *name = op.name, *path = op.path;
    BlockDev **disks = op.disks;
    unsigned n = op.n;
    if (stat(path, &st) == 0)
        return error_set(err, "snapshot '%s' exists", name), NULL;
    for (unsigned i = 0; i < n; i++) {
        if (disk_has_snapshot(disks[i], name))
            return error_set(err, "%s already has a snapshot named '%s'", disks[i]->filename,
                             name), NULL;
    }
    bool was_paused = m->paused;
    uint64_t t0 = timer_now_ns();
    machine_pause(m);
    machine_settle_clock(m);
    machine_quiesce(m);
    int rc = disks_snapshot(m, disks, n, name, err);
    MachineSaveOpts o = {0};
    if (rc == 0 && (rc = machine_save(m, path, &o, err)) < 0) {
        for (unsigned i = 0; i < n; i++)
            block_snapshot_delete(disks[i], name, NULL);
    }
    double pause_ms = ms_since(t0);
    if (!was_paused)
        machine_resume(m);
    if (rc < 0)
        return NULL;
    return json_pack("{s:s, s:s, s:I, s:f}", "name", name, "file", path, "disks",
                     (json_int_t)n, "pause-ms", pause_ms);
}

json_t *machine_cmd_snapshot_list(void *opaque, json_t *args, Error *err)
{
    Machine *m = opaque;
    char dir[PATH_MAX - 80];
    if (control_args_check(args, NULL, err) < 0 ||
        snapshot_dir(m, dir, sizeof(dir), false, err) < 0)
        return NULL;
    json_t *list = json_array();
    DIR *d = opendir(dir);
    struct dirent *e;
    while (d && (e = readdir(d))) {
        size_t len = strlen(e->d_name);
        if (len < 7 || strcmp(e->d_name + len - 6, ".state") != 0 || e->d_name[0] == '.')
            continue;
        char path[PATH_MAX];
        struct stat st;
        snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
        if (stat(path, &st) < 0)
            continue;
        json_array_append_new(list, json_pack("{s:s%, s:I, s:I}", "name", e->d_name, len - 6,
                                              "date-sec", (json_int_t)st.st_mtime,
                                              "disk-bytes", (json_int_t)st.st_blocks * 512));
    }
    if (d)
        closedir(d);
    return json_pack("{s:o}", "snapshots", list);
}

typedef struct RevertDisks {
    BlockDev **disks;
    unsigned n;
    const char *name;
} RevertDisks;

/* Called by machine_restore once the whole state file passed its checks. */
static int revert_disks(void *opaque, Error *err)
{
    RevertDisks *r = opaque;
    for (unsigned i = 0; i < r->n; i++) {
        if (block_snapshot_apply(r->disks[i], r->name, err) < 0)
            return -1;
    }
    return 0;
}

json_t *machine_cmd_snapshot_revert(void *opaque, json_t *args, Error *err)
{
    Machine *m = opaque;
    SnapshotOp op;
    if (snapshot_op(m, args, false, &op, err) < 0)
        return NULL;
    const char *name = op.name, *path = op.path;
    BlockDev **disks = op.disks;
    unsigned n = op.n;
    for (unsigned i = 0; i < n; i++) {
        if (!disk_has_snapshot(disks[i], name))
            return error_set(err, "%s has no snapshot named '%s'", disks[i]->filename, name),
                   NULL;
    }
    MachineStateFile *f = machine_state_open(path, err);
    if (!f)
        return NULL;
    bool was_paused = m->paused;
    uint64_t t0 = timer_now_ns();
    machine_pause(m);
    machine_settle_clock(m);
    RevertDisks rd = {.disks = disks, .n = n, .name = name};
    int rc = machine_restore_with(m, f, true, revert_disks, &rd, err);
    machine_state_close(f);
    double pause_ms = ms_since(t0);
    if (!was_paused)
        machine_resume(m);
    if (rc < 0)
        return NULL;
    return json_pack("{s:s, s:f}", "name", name, "pause-ms", pause_ms);
}

json_t *machine_cmd_snapshot_delete(void *opaque, json_t *args, Error *err)
{
    Machine *m = opaque;
    SnapshotOp op;
    struct stat st;
    if (snapshot_op(m, args, false, &op, err) < 0)
        return NULL;
    const char *name = op.name, *path = op.path;
    BlockDev **disks = op.disks;
    unsigned n = op.n;
    if (stat(path, &st) < 0)
        return error_set(err, "no snapshot named '%s'", name), NULL;
    machine_quiesce(m);
    for (unsigned i = 0; i < n; i++) {
        if (disk_has_snapshot(disks[i], name) && block_snapshot_delete(disks[i], name, err) < 0)
            return NULL;
    }
    if (unlink(path) < 0)
        return error_set_errno(err, errno, "%s", path), NULL;
    return json_pack("{s:s}", "name", name);
}
