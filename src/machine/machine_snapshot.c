/*
 * The state commands of the control socket: save, suspend, and live
 * snapshots (create, list, revert, delete).
 *
 * A live snapshot is the VM's state file plus an internal qcow2 snapshot
 * of the same name on every writable disk, of one instant: the VM pauses,
 * in-flight disk requests finish, the state is written (not synced) to a
 * temporary file, and each disk's worker gets a job at the head of its
 * queue that takes the disk's snapshot; then the VM runs again.  Guest
 * disk requests wait behind those jobs, so the disks are snapshotted as
 * they were at the pause.  A finisher thread syncs the state file, waits
 * for the disks and renames the file into place; if a disk failed, it
 * deletes the disk snapshots made and the file instead.  Only then does
 * the client get its reply (deferred: control_defer), so every sync
 * happens while the guest runs.  One live snapshot at a time: the other
 * state commands are refused meanwhile, and teardown waits for it.
 *
 * State files live in $XDG_STATE_HOME/hostel/snapshots/VMNAME/ (default
 * ~/.local/state/...), one SNAP.state each.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
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
#include "util/io.h"
#include "util/log.h"
#include "util/timer.h"
#include "virtio/blk.h"

#define SNAPSHOT_NAME_MAX 64

static double ms_since(uint64_t t0)
{
    return (double)(timer_now_ns() - t0) / 1e6;
}

/* The state commands do not interleave with a live snapshot still finishing. */
static int snapshot_idle(const Machine *m, Error *err)
{
    if (m->snapshot_job)
        return error_set(err, "a snapshot is in progress: try again when it has finished");
    return 0;
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
    return json_pack("{s:s, s:I, s:f}", "file", file, "disk-bytes", (json_int_t)bytes, "pause-ms",
                     pause_ms);
}

json_t *machine_cmd_save(void *opaque, json_t *args, Error *err)
{
    const char *file;
    bool compress = false;
    if (snapshot_idle(opaque, err) < 0 || save_args(args, &file, &compress, err) < 0)
        return NULL;
    return save_to(opaque, file, compress, true, err);
}

/* Save, then end the VMM (exit status 0): `hostel run --restore FILE` continues. */
json_t *machine_cmd_suspend(void *opaque, json_t *args, Error *err)
{
    Machine *m = opaque;
    const char *file;
    bool compress = false;
    if (snapshot_idle(m, err) < 0 || save_args(args, &file, &compress, err) < 0)
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
    if (n == 0 || n > SNAPSHOT_NAME_MAX || name[0] == '.')
        return error_set(err, "snapshot name '%s': use 1 to 64 letters, digits, '.', '_' or '-'",
                         name);
    for (size_t i = 0; i < n; i++) {
        char c = name[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == '-'))
            return error_set(err, "snapshot name '%s': use letters, digits, '.', '_' or '-'", name);
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
    int n = state && state[0] == '/' ? snprintf(dir, size, "%s/hostel/snapshots/%s", state, m->name)
                                     : snprintf(dir, size, "%s/.local/state/hostel/snapshots/%s",
                                                home ? home : "/tmp", m->name);
    if (n < 0 || (size_t)n >= size)
        return error_set(err, "snapshot directory path too long");
    return create ? make_dirs(dir, err) : 0;
}

static int snapshot_file(const Machine *m, const char *name, char *path, size_t size, bool create,
                         Error *err)
{
    char dir[PATH_MAX - 80];
    if (snapshot_name_ok(name, err) < 0 || snapshot_dir(m, dir, sizeof(dir), create, err) < 0)
        return -1;
    snprintf(path, size, "%s/%s.state", dir, name);
    return 0;
}

/* The writable disks (snapshots change them) and their devices; a raw one cannot take part. */
static int snapshot_disks(Machine *m, BlockDev **disks, VirtioMmio **devs, unsigned *n, Error *err)
{
    *n = 0;
    for (unsigned i = 0; i < m->vm.ndisks; i++) {
        VirtioMmio *v = m->virtio[vmconfig_slot_of(&m->vm, VM_DEV_BLK, i)];
        BlockDev *bd = virtio_blk_disk(v);
        if (!bd || bd->read_only)
            continue;
        if (!bd->drv->snapshot_create)
            return error_set(err, "disk vd%c (%s) is %s: live snapshots need qcow2 disks", 'a' + i,
                             m->vm.disks[i].path, bd->drv->format);
        devs[*n] = v;
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

/* What every snapshot command needs: its name, its state file, the disks taking part. */
typedef struct SnapshotOp {
    const char *name;
    char path[PATH_MAX];
    BlockDev *disks[MACHINE_MAX_DISKS];
    VirtioMmio *devs[MACHINE_MAX_DISKS];
    unsigned n;
} SnapshotOp;

static int snapshot_op(Machine *m, json_t *args, bool create_dir, SnapshotOp *op, Error *err)
{
    static const char *const allowed[] = {"name", NULL};
    if (snapshot_idle(m, err) < 0 || control_args_check(args, allowed, err) < 0)
        return -1;
    if (!args || json_unpack(args, "{s:s}", "name", &op->name) < 0)
        return error_set(err, "expected {\"name\": SNAPSHOT}");
    if (snapshot_file(m, op->name, op->path, sizeof(op->path), create_dir, err) < 0)
        return -1;
    return snapshot_disks(m, op->disks, op->devs, &op->n, err);
}

/* ---- live snapshots: the part that finishes while the guest runs ---- */

typedef struct SnapshotDisk {
    struct SnapshotJob *job;
    VirtioMmio *dev;
    bool made; /* the disk has the snapshot (under job->lock) */
} SnapshotDisk;

typedef struct SnapshotJob {
    Machine *m;
    ControlPending *reply; /* NULL: nobody waits for the answer */
    char name[SNAPSHOT_NAME_MAX + 1];
    char path[PATH_MAX];     /* the state file, once complete */
    char tmp[PATH_MAX + 16]; /* the state file until then */
    int fd;                  /* tmp: written while paused, synced by the finisher */
    BlockSnapshot sn;        /* the entry every disk records */
    SnapshotDisk disks[MACHINE_MAX_DISKS];
    unsigned n;
    uint64_t t0; /* the pause began (timer_now_ns) */
    double pause_ms;
    pthread_t finisher;
    pthread_mutex_t lock;   /* protects the fields below and disks[].made */
    pthread_cond_t changed; /* a disk job finished */
    unsigned running;       /* disk jobs queued and not finished, + 1 while starting */
    int rc;                 /* 0, or -1 once something failed */
    Error err;              /* the first failure */
    bool finished;          /* the finisher is done: the VM thread may answer */
} SnapshotJob;

static SnapshotJob *snapshot_job_new(Machine *m, const SnapshotOp *op, Error *err)
{
    SnapshotJob *j = calloc(1, sizeof(*j));
    if (!j) {
        error_set(err, "out of memory");
        return NULL;
    }
    j->m = m;
    j->fd = -1;
    snprintf(j->name, sizeof(j->name), "%s", op->name);
    snprintf(j->path, sizeof(j->path), "%s", op->path);
    snprintf(j->tmp, sizeof(j->tmp), "%s.tmp-XXXXXX", op->path);
    j->n = op->n;
    j->running = 1; /* the finisher waits until every disk job is queued */
    for (unsigned i = 0; i < op->n; i++)
        j->disks[i] = (SnapshotDisk){.job = j, .dev = op->devs[i]};
    pthread_mutex_init(&j->lock, NULL);
    pthread_cond_init(&j->changed, NULL);
    return j;
}

static void snapshot_job_free(SnapshotJob *j)
{
    if (j->fd >= 0) {
        close(j->fd);
        unlink(j->tmp);
    }
    pthread_mutex_destroy(&j->lock);
    pthread_cond_destroy(&j->changed);
    free(j);
}

/* Record a failure (the first one is the one reported). Called with the lock held. */
static void snapshot_job_fail(SnapshotJob *j, const Error *e)
{
    if (j->rc == 0) {
        j->rc = -1;
        j->err = *e;
    }
}

static void snapshot_job_fail_unlocked(SnapshotJob *j, const Error *e)
{
    pthread_mutex_lock(&j->lock);
    snapshot_job_fail(j, e);
    pthread_mutex_unlock(&j->lock);
}

/* The end of a disk job (worker thread). */
static void snapshot_disk_done(SnapshotDisk *d, bool made, int rc, const Error *e)
{
    SnapshotJob *j = d->job;
    pthread_mutex_lock(&j->lock);
    d->made = made;
    if (rc < 0)
        snapshot_job_fail(j, e);
    j->running--;
    pthread_cond_broadcast(&j->changed);
    pthread_mutex_unlock(&j->lock);
}

/* Disk job: take the snapshot, at the head of the disk's queue. */
static void snapshot_disk_take(BlockDev *disk, void *opaque)
{
    SnapshotDisk *d = opaque;
    Error e = {0};
    int rc = block_snapshot_create(disk, &d->job->sn, &e);
    snapshot_disk_done(d, rc == 0, rc, &e);
}

/* Disk job: take it back (another part failed). */
static void snapshot_disk_drop(BlockDev *disk, void *opaque)
{
    SnapshotDisk *d = opaque;
    Error e = {0};
    int rc = block_snapshot_delete(disk, d->job->name, &e);
    if (rc < 0)
        log_warn("snapshot '%s': cannot take it back: %s", d->job->name, e.msg);
    snapshot_disk_done(d, rc < 0, 0, NULL);
}

/* Queue fn on every disk (only those that have the snapshot when made_only). */
static void snapshot_queue(SnapshotJob *j, VirtioBlkJobFn fn, bool made_only)
{
    for (unsigned i = 0; i < j->n; i++) {
        SnapshotDisk *d = &j->disks[i];
        Error e = {0};
        pthread_mutex_lock(&j->lock);
        bool skip = made_only && !d->made;
        j->running += !skip;
        pthread_mutex_unlock(&j->lock);
        if (skip || virtio_blk_queue_job(d->dev, fn, d, &e) == 0)
            continue;
        pthread_mutex_lock(&j->lock);
        j->running--;
        snapshot_job_fail(j, &e); /* when taking back, that disk keeps its snapshot */
        pthread_mutex_unlock(&j->lock);
    }
}

static int snapshot_job_wait(SnapshotJob *j)
{
    pthread_mutex_lock(&j->lock);
    while (j->running)
        pthread_cond_wait(&j->changed, &j->lock);
    int rc = j->rc;
    pthread_mutex_unlock(&j->lock);
    return rc;
}

static int snapshot_state_sync(SnapshotJob *j, Error *err)
{
    int rc = 0;
    if (fsync(j->fd) < 0)
        rc = error_set_errno(err, errno, "%s: cannot write the state file", j->path);
    if (close(j->fd) < 0 && rc == 0)
        rc = error_set_errno(err, errno, "%s: cannot write the state file", j->path);
    j->fd = -1;
    return rc;
}

static void snapshot_done(void *opaque);

/*
 * The finisher thread: state file synced (while the disks' jobs run), then
 * everything in place, or everything taken back; then the VM thread answers.
 */
static void *snapshot_finisher(void *opaque)
{
    SnapshotJob *j = opaque;
    Error e = {0};
    if (snapshot_state_sync(j, &e) < 0)
        snapshot_job_fail_unlocked(j, &e);
    int rc = snapshot_job_wait(j);
    if (rc == 0 && rename(j->tmp, j->path) < 0) {
        rc = error_set_errno(&e, errno, "%s: cannot write the state file", j->path);
        snapshot_job_fail_unlocked(j, &e);
    }
    if (rc == 0) {
        io_sync_dir_of(j->path);
    } else {
        unlink(j->tmp);
        snapshot_queue(j, snapshot_disk_drop, true);
        snapshot_job_wait(j);
    }
    pthread_mutex_lock(&j->lock);
    j->finished = true;
    pthread_mutex_unlock(&j->lock);
    while (evloop_call(j->m->loop, snapshot_done, j->m) < 0)
        usleep(1000); /* out of memory for a moment: the answer must get through */
    return NULL;
}

void machine_snapshot_finish(Machine *m)
{
    SnapshotJob *j = m->snapshot_job;
    if (!j)
        return;
    pthread_join(j->finisher, NULL);
    m->snapshot_job = NULL;
    json_t *ret = NULL;
    if (j->rc == 0)
        ret = json_pack("{s:s, s:s, s:I, s:f, s:f}", "name", j->name, "file", j->path, "disks",
                        (json_int_t)j->n, "pause-ms", j->pause_ms, "total-ms", ms_since(j->t0));
    if (j->reply)
        control_complete(j->reply, ret, &j->err);
    else
        json_decref(ret);
    snapshot_job_free(j);
}

/* On the VM thread, once the finisher is done. */
static void snapshot_done(void *opaque)
{
    Machine *m = opaque;
    SnapshotJob *j = m->snapshot_job;
    if (!j)
        return; /* teardown answered already */
    pthread_mutex_lock(&j->lock);
    bool finished = j->finished;
    pthread_mutex_unlock(&j->lock);
    if (finished)
        machine_snapshot_finish(m);
}

/* ---- live snapshots: the pause ---- */

/* Finish every in-flight device request; disks are not flushed (their snapshots do it). */
static void snapshot_drain(Machine *m)
{
    for (unsigned s = 0; s < MACHINE_VIRTIO_SLOTS; s++) {
        VirtioMmio *v = m->virtio[s];
        if (virtio_blk_disk(v))
            virtio_blk_drain(v);
        else if (v && v->ops->quiesce)
            v->ops->quiesce(v);
    }
}

static void snapshot_entry(Machine *m, SnapshotJob *j)
{
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    j->sn = (BlockSnapshot){.name = j->name,
                            .date_sec = (uint32_t)now.tv_sec,
                            .date_nsec = (uint32_t)now.tv_nsec,
                            .vm_clock_nsec = hart_time(m->harts[0]) * 100,
                            .icount = ~0ull};
}

/*
 * While paused and drained: the state into the temporary file, then the
 * finisher and the disk jobs started.  Returns 0, or -1 with nothing left
 * running (the temporary file is removed when j is freed).
 */
static int snapshot_begin(Machine *m, SnapshotJob *j, Error *err)
{
    MachineSaveOpts o = {0};
    if (machine_save_fd(m, j->fd, &o, err) < 0)
        return -1;
    snapshot_entry(m, j);
    int rc = pthread_create(&j->finisher, NULL, snapshot_finisher, j);
    if (rc != 0)
        return error_set_errno(err, rc, "cannot start the snapshot thread");
    snapshot_queue(j, snapshot_disk_take, false);
    pthread_mutex_lock(&j->lock);
    j->running--;
    pthread_cond_broadcast(&j->changed);
    pthread_mutex_unlock(&j->lock);
    return 0;
}

json_t *machine_cmd_snapshot_create(void *opaque, json_t *args, Error *err)
{
    Machine *m = opaque;
    SnapshotOp op;
    struct stat st;
    if (snapshot_op(m, args, true, &op, err) < 0)
        return NULL;
    if (stat(op.path, &st) == 0)
        return error_set(err, "snapshot '%s' exists", op.name), NULL;
    SnapshotJob *j = snapshot_job_new(m, &op, err);
    if (!j)
        return NULL;
    /* Created before the pause: a file creation may wait for the file system's journal. */
    if ((j->fd = mkstemp(j->tmp)) < 0) {
        error_set_errno(err, errno, "%s: cannot create the state file", op.path);
        snapshot_job_free(j);
        return NULL;
    }
    if (!(j->reply = control_defer(m->control, err))) {
        snapshot_job_free(j);
        return NULL;
    }
    bool was_paused = m->paused;
    j->t0 = timer_now_ns();
    machine_pause(m);
    machine_settle_clock(m);
    snapshot_drain(m);
    int rc = snapshot_begin(m, j, err);
    j->pause_ms = ms_since(j->t0);
    if (!was_paused)
        machine_resume(m);
    if (rc < 0) {
        control_complete(j->reply, NULL, err);
        snapshot_job_free(j);
        return NULL;
    }
    m->snapshot_job = j;
    return NULL; /* answered by machine_snapshot_finish */
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
                                              "date-sec", (json_int_t)st.st_mtime, "disk-bytes",
                                              (json_int_t)st.st_blocks * 512));
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
            return error_set(err, "%s has no snapshot named '%s'", disks[i]->filename, name), NULL;
    }
    MachineStateFile *f = machine_state_open(path, err);
    if (!f)
        return NULL;
    bool was_paused = m->paused;
    uint64_t t0 = timer_now_ns();
    machine_pause(m);
    machine_settle_clock(m);
    snapshot_drain(m); /* the workers must be done with the disks before they change */
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
    /* Disk snapshots without a state file (a VMM that died before the rename of a
     * live snapshot) go too: delete is how they are cleaned up. */
    bool have_file = stat(path, &st) == 0, on_disk = false, has[MACHINE_MAX_DISKS];
    for (unsigned i = 0; i < n; i++)
        on_disk |= has[i] = disk_has_snapshot(disks[i], name);
    if (!have_file && !on_disk)
        return error_set(err, "no snapshot named '%s'", name), NULL;
    machine_quiesce(m);
    for (unsigned i = 0; i < n; i++) {
        if (has[i] && block_snapshot_delete(disks[i], name, err) < 0)
            return NULL;
    }
    if (have_file && unlink(path) < 0)
        return error_set_errno(err, errno, "%s", path), NULL;
    return json_pack("{s:s, s:b}", "name", name, "state-file", have_file);
}
