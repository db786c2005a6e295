/*
 * The VMM's state operations: save, suspend, and live snapshots (create,
 * list, revert, delete), as C functions with completions (vmm.h).
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
 * the completion fire (on the VM thread), so every sync happens while the
 * guest runs.  One live snapshot at a time: the other operations are
 * refused meanwhile, and teardown waits for it.
 *
 * State files live in the directory the VMM was given (VmmConfig's
 * snapshot_dir: `hostel run` puts it under $XDG_STATE_HOME), one
 * SNAP.state each; it is created at the first snapshot.
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
#include "machine/machine_state.h"
#include "util/io.h"
#include "util/log.h"
#include "util/timer.h"
#include "virtio/blk.h"
#include "vmm/vmm_int.h"

#define SNAPSHOT_NAME_MAX 64

static double ms_since(uint64_t t0)
{
    return (double)(timer_now_ns() - t0) / 1e6;
}

bool vmm_busy(const Vmm *v)
{
    return v->job != NULL || v->quiescing;
}

/* The operations do not interleave with a live snapshot still finishing. */
static int vmm_idle(const Vmm *v, Error *err)
{
    if (vmm_busy(v))
        return error_set(err, "a snapshot is in progress: try again when it has finished");
    if (vmm_migrating(v))
        return error_set(err, "a migration is in progress");
    return 0;
}

/* ---- save / suspend ---- */

/* Pause (if running), save, and say how long the guest stood still. */
static int save_to(Vmm *v, const char *file, const VmmSaveOpts *so, bool resume, VmmResult *r,
                   Error *err)
{
    bool was_paused = machine_paused(v->m);
    uint64_t t0 = timer_now_ns();
    vmm_pause(v);
    machine_settle_clock(v->m);
    MachineSaveOpts o = {.compress = so && so->compress};
    int rc = machine_save(v->m, file, &o, err);
    r->pause_ms = ms_since(t0);
    if (!was_paused && resume)
        vmm_resume(v);
    if (rc < 0)
        return -1;
    struct stat st;
    r->file = file;
    r->disk_bytes = stat(file, &st) == 0 ? (uint64_t)st.st_blocks * 512 : 0;
    return 0;
}

int vmm_save(Vmm *v, const char *file, const VmmSaveOpts *o, VmmDone done, void *opaque, Error *err)
{
    VmmResult r = {0};
    if (vmm_idle(v, err) < 0 || save_to(v, file, o, true, &r, err) < 0)
        return -1;
    done(opaque, &r, NULL);
    return 0;
}

int vmm_suspend(Vmm *v, const char *file, const VmmSaveOpts *o, VmmDone done, void *opaque,
                Error *err)
{
    VmmResult r = {0};
    if (vmm_idle(v, err) < 0 || save_to(v, file, o, false, &r, err) < 0)
        return -1;
    v->suspended = true;
    vmm_quit(v);
    done(opaque, &r, NULL);
    return 0;
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
static int snapshot_dir(const Vmm *v, char *dir, size_t size, bool create, Error *err)
{
    if (!v->snapshot_dir)
        return error_set(err, "snapshots need a named VM (hostel run --name NAME)");
    int n = snprintf(dir, size, "%s", v->snapshot_dir);
    if (n < 0 || (size_t)n >= size)
        return error_set(err, "snapshot directory path too long");
    return create ? make_dirs(dir, err) : 0;
}

static int snapshot_file(const Vmm *v, const char *name, char *path, size_t size, bool create,
                         Error *err)
{
    char dir[PATH_MAX - 80];
    if (snapshot_name_ok(name, err) < 0 || snapshot_dir(v, dir, sizeof(dir), create, err) < 0)
        return -1;
    snprintf(path, size, "%s/%s.state", dir, name);
    return 0;
}

/* The writable disks (snapshots change them) and their devices; a raw one cannot take part. */
static int snapshot_disks(Machine *m, BlockDev **disks, VirtioMmio **devs, unsigned *n, Error *err)
{
    const VmConfig *vm = machine_config(m);
    *n = 0;
    for (unsigned i = 0; i < vm->ndisks; i++) {
        VirtioMmio *dev = machine_disk_device(m, i);
        BlockDev *bd = virtio_blk_disk(dev);
        if (!bd || bd->read_only)
            continue;
        if (!bd->drv->snapshot_create)
            return error_set(err, "disk vd%c (%s) is %s: live snapshots need qcow2 disks", 'a' + i,
                             vm->disks[i].path, bd->drv->format);
        devs[*n] = dev;
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

static int snapshot_op(Vmm *v, const char *name, bool create_dir, SnapshotOp *op, Error *err)
{
    op->name = name;
    if (vmm_idle(v, err) < 0 ||
        snapshot_file(v, op->name, op->path, sizeof(op->path), create_dir, err) < 0)
        return -1;
    return snapshot_disks(v->m, op->disks, op->devs, &op->n, err);
}

/* ---- live snapshots: the part that finishes while the guest runs ---- */

typedef struct SnapshotDisk {
    struct SnapshotJob *job;
    VirtioMmio *dev;
    bool made; /* the disk has the snapshot (under job->lock) */
} SnapshotDisk;

typedef struct SnapshotJob {
    Vmm *v;
    VmmDone done; /* fired on the VM thread once it is all durable, or taken back */
    void *opaque;
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

static SnapshotJob *snapshot_job_new(Vmm *v, const SnapshotOp *op, Error *err)
{
    SnapshotJob *j = calloc(1, sizeof(*j));
    if (!j) {
        error_set(err, "out of memory");
        return NULL;
    }
    j->v = v;
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
    while (evloop_call(j->v->loop, snapshot_done, j->v) < 0)
        usleep(1000); /* out of memory for a moment: the answer must get through */
    return NULL;
}

void vmm_snapshot_finish(Vmm *v)
{
    SnapshotJob *j = v->job;
    if (!j)
        return;
    pthread_join(j->finisher, NULL);
    v->job = NULL;
    VmmResult r = {.name = j->name,
                   .file = j->path,
                   .disks = j->n,
                   .pause_ms = j->pause_ms,
                   .total_ms = ms_since(j->t0)};
    j->done(j->opaque, j->rc == 0 ? &r : NULL, &j->err);
    snapshot_job_free(j);
}

/* On the VM thread, once the finisher is done. */
static void snapshot_done(void *opaque)
{
    Vmm *v = opaque;
    SnapshotJob *j = v->job;
    if (!j)
        return; /* teardown answered already */
    pthread_mutex_lock(&j->lock);
    bool finished = j->finished;
    pthread_mutex_unlock(&j->lock);
    if (finished)
        vmm_snapshot_finish(v);
}

/* ---- live snapshots: the pause ---- */

static void snapshot_entry(Machine *m, SnapshotJob *j)
{
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    j->sn = (BlockSnapshot){.name = j->name,
                            .date_sec = (uint32_t)now.tv_sec,
                            .date_nsec = (uint32_t)now.tv_nsec,
                            .vm_clock_nsec = machine_guest_ns(m),
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

int vmm_snapshot_create(Vmm *v, const char *name, VmmDone done, void *opaque, Error *err)
{
    SnapshotOp op;
    struct stat st;
    if (snapshot_op(v, name, true, &op, err) < 0)
        return -1;
    if (stat(op.path, &st) == 0)
        return error_set(err, "snapshot '%s' exists", op.name);
    SnapshotJob *j = snapshot_job_new(v, &op, err);
    if (!j)
        return -1;
    j->done = done;
    j->opaque = opaque;
    /* Created before the pause: a file creation may wait for the file system's journal. */
    if ((j->fd = mkstemp(j->tmp)) < 0) {
        error_set_errno(err, errno, "%s: cannot create the state file", op.path);
        snapshot_job_free(j);
        return -1;
    }
    bool was_paused = machine_paused(v->m);
    j->t0 = timer_now_ns();
    vmm_pause(v);
    machine_settle_clock(v->m);
    machine_drain(v->m);
    int rc = snapshot_begin(v->m, j, err);
    j->pause_ms = ms_since(j->t0);
    if (!was_paused)
        vmm_resume(v);
    if (rc < 0) {
        snapshot_job_free(j);
        return -1;
    }
    v->job = j;
    return 0; /* done fires from vmm_snapshot_finish */
}

/* dir/file when it is a snapshot's state file ("NAME.state", not hidden): its entry into info. */
static bool snapshot_info(const char *dir, const char *file, VmmSnapshotInfo *info)
{
    size_t len = strlen(file);
    char path[PATH_MAX];
    struct stat st;
    if (len < 7 || strcmp(file + len - 6, ".state") != 0 || file[0] == '.' ||
        len - 6 >= sizeof(info->name))
        return false;
    int n = snprintf(path, sizeof(path), "%s/%s", dir, file);
    if (n < 0 || (size_t)n >= sizeof(path) || stat(path, &st) < 0)
        return false;
    memcpy(info->name, file, len - 6);
    info->name[len - 6] = '\0';
    info->date_sec = st.st_mtime;
    info->disk_bytes = (uint64_t)st.st_blocks * 512;
    return true;
}

/* Append info to *list (of *n entries, room for *cap). Returns 0, or -1 out of memory. */
static int snapshot_list_add(VmmSnapshotInfo **list, size_t *n, size_t *cap,
                             const VmmSnapshotInfo *info)
{
    if (*n == *cap) {
        size_t c = *cap ? 2 * *cap : 8;
        VmmSnapshotInfo *bigger = realloc(*list, c * sizeof(*bigger));
        if (!bigger)
            return -1;
        *list = bigger;
        *cap = c;
    }
    (*list)[(*n)++] = *info;
    return 0;
}

int vmm_snapshot_list(Vmm *v, VmmSnapshotInfo **list, size_t *n, Error *err)
{
    char dir[PATH_MAX - 80];
    size_t cap = 0;
    int rc = 0;
    *list = NULL;
    *n = 0;
    if (snapshot_dir(v, dir, sizeof(dir), false, err) < 0)
        return -1;
    DIR *d = opendir(dir); /* none yet: no snapshots */
    struct dirent *e;
    VmmSnapshotInfo info;
    while (rc == 0 && d && (e = readdir(d))) {
        if (snapshot_info(dir, e->d_name, &info))
            rc = snapshot_list_add(list, n, &cap, &info);
    }
    if (d)
        closedir(d);
    if (rc < 0) {
        free(*list);
        *list = NULL;
        *n = 0;
        return error_set(err, "out of memory");
    }
    return 0;
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

int vmm_snapshot_revert(Vmm *v, const char *name, VmmDone done, void *opaque, Error *err)
{
    SnapshotOp op;
    if (snapshot_op(v, name, false, &op, err) < 0)
        return -1;
    for (unsigned i = 0; i < op.n; i++) {
        if (!disk_has_snapshot(op.disks[i], name))
            return error_set(err, "%s has no snapshot named '%s'", op.disks[i]->filename, name);
    }
    MachineStateFile *f = machine_state_open(op.path, err);
    if (!f)
        return -1;
    bool was_paused = machine_paused(v->m);
    uint64_t t0 = timer_now_ns();
    vmm_pause(v);
    machine_settle_clock(v->m);
    machine_drain(v->m); /* the workers must be done with the disks before they change */
    RevertDisks rd = {.disks = op.disks, .n = op.n, .name = name};
    int rc = machine_restore_with(v->m, f, true, revert_disks, &rd, err);
    machine_state_close(f);
    VmmResult r = {.name = name, .pause_ms = ms_since(t0)};
    if (!was_paused)
        vmm_resume(v);
    if (rc < 0)
        return -1;
    done(opaque, &r, NULL);
    return 0;
}

int vmm_snapshot_delete(Vmm *v, const char *name, VmmDone done, void *opaque, Error *err)
{
    SnapshotOp op;
    struct stat st;
    if (snapshot_op(v, name, false, &op, err) < 0)
        return -1;
    /* Disk snapshots without a state file (a VMM that died before the rename of a
     * live snapshot) go too: delete is how they are cleaned up. */
    bool have_file = stat(op.path, &st) == 0, on_disk = false, has[MACHINE_MAX_DISKS];
    for (unsigned i = 0; i < op.n; i++)
        on_disk |= has[i] = disk_has_snapshot(op.disks[i], name);
    if (!have_file && !on_disk)
        return error_set(err, "no snapshot named '%s'", name);
    machine_quiesce(v->m);
    for (unsigned i = 0; i < op.n; i++) {
        if (has[i] && block_snapshot_delete(op.disks[i], name, err) < 0)
            return -1;
    }
    if (have_file && unlink(op.path) < 0)
        return error_set_errno(err, errno, "%s", op.path);
    VmmResult r = {.name = name, .state_file = have_file};
    done(opaque, &r, NULL);
    return 0;
}
