/*
 * Live migration, pre-copy (docs/migration.md): the VM's state stream
 * sent over a socket while the guest runs.
 *
 *   VM thread                             worker thread
 *   connect, config section, dirty log on
 *   start round 0 ------------------------> all non-zero RAM ("ram-pages")
 *   round_done: sync the dirty log <------- (evloop_call)
 *     the rest fits the downtime limit?
 *     no: next round ---------------------> the dirty pages
 *     yes: pause, drain, flush, last pages,
 *          device sections, disk locks
 *          released, end ------------------> wait for the destination's line
 *   reply_done <--------------------------- {"migrate": "running"} or an error
 *     running: done, the run ends
 *     else: locks back, dirty log off, resume, done(error)
 *
 * The dirty log is synced on the VM thread only (bus.h's rule); the worker
 * only reads RAM and writes the socket.  The switch-over's writes happen
 * on the VM thread while the harts are paused, so the device sections and
 * the last pages are of one instant.  A cancel shuts the socket down, which
 * ends the worker's write at once.
 */
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "machine/machine_state.h"
#include "state/stream.h"
#include "state/stream_pages.h"
#include "util/log.h"
#include "util/timer.h"
#include "vmm/migrate_tls.h"
#include "vmm/migrate_uri.h"
#include "vmm/vmm_int.h"

#define MIGRATE_IO_TIMEOUT_S 10 /* a peer that takes nothing for this long has failed */
#define MIGRATE_REPLY_TIMEOUT_MS 60000
#define MIGRATE_REPLY_MAX 1024
#define MIGRATE_MIN_SAMPLE (1u << 20) /* a round this small does not measure the bandwidth */

typedef enum MigrateState {
    MIG_ACTIVE,
    MIG_SWITCHOVER,
    MIG_COMPLETED,
    MIG_FAILED,
    MIG_CANCELLED,
} MigrateState;

typedef struct MigrateJob {
    Vmm *v;
    VmmDone done; /* NULL once fired */
    void *opaque;
    int fd;
    StreamChannel ch;
    MigrateTls *tls; /* tls-creds: the session the channel goes through; NULL = plain */
    StreamOut out;
    StreamPagesZstd *zstd; /* --compress zstd: the RAM pages' packer; NULL = plain */
    uint8_t *ram;
    uint64_t ram_size, pages;
    uint8_t *bitmap; /* the pages the current round sends (NULL in round 0: all) */
    double limit_ms;
    unsigned max_rounds;
    bool auto_converge;
    double max_bandwidth; /* bytes/s, 0 = no cap */
    unsigned high_rounds; /* rounds in a row that dirtied more than half of what they sent */
    unsigned throttle_max;
    bool converged;
    MigrateState state;
    unsigned round;
    bool log_on, paused_here, locks_released;
    pthread_t thread;
    bool thread_running;
    atomic_bool cancel;
    _Atomic uint64_t bytes;
    /* the worker's result, read after the join */
    int thread_rc;
    Error thread_err;
    char reply[MIGRATE_REPLY_MAX];
    /* figures */
    uint64_t t0, round_t0, round_bytes0, pause_t0;
    uint64_t remaining;
    double bandwidth, dirty_rate, expected_ms, downtime_ms, total_ms;
    char error[512];
} MigrateJob;

static double ms_of(uint64_t ns)
{
    return (double)ns / 1e6;
}

bool vmm_migrating(const Vmm *v)
{
    return v->migration && v->migration->state <= MIG_SWITCHOVER;
}

bool vmm_migrate_switching_over(const Vmm *v)
{
    return v->migration && v->migration->state == MIG_SWITCHOVER;
}

/* ---- the worker ---- */

/* The bandwidth cap: sleep until sent bytes since t0 fit max_bandwidth (a cancel ends the wait). */
static void rate_limit(MigrateJob *j, uint64_t t0, uint64_t sent)
{
    if (j->max_bandwidth <= 0)
        return;
    uint64_t due = t0 + (uint64_t)((double)sent / j->max_bandwidth * 1e9);
    for (uint64_t now = timer_now_ns(); now < due && !atomic_load(&j->cancel);
         now = timer_now_ns()) {
        uint64_t ns = due - now < 50000000 ? due - now : 50000000;
        nanosleep(&(struct timespec){.tv_sec = 0, .tv_nsec = (long)ns}, NULL);
    }
}

/* Send the pages of map (all non-zero ones when round 0), STREAM_PAGES_MAX per section. */
static int send_pages(MigrateJob *j, const uint8_t *map, bool round0, Error *err)
{
    uint64_t batch[STREAM_PAGES_MAX], sent, total = 0, t0 = timer_now_ns();
    unsigned n = 0;
    for (uint64_t i = 0; i <= j->pages; i++) {
        if (i < j->pages && !stream_map_bit(map, i))
            continue;
        if (i < j->pages)
            batch[n++] = i;
        if (n == STREAM_PAGES_MAX || (i == j->pages && n)) {
            if (atomic_load(&j->cancel))
                return error_set(err, "cancelled");
            if (stream_out_ram_pages(&j->out, j->ram, j->ram_size, batch, n, round0, j->zstd, &sent,
                                     err) < 0)
                return -1;
            atomic_fetch_add(&j->bytes, sent);
            total += sent;
            rate_limit(j, t0, total);
            n = 0;
        }
    }
    return 0;
}

static void round_done(void *opaque);
static void reply_done(void *opaque);

static void *round_thread(void *opaque)
{
    MigrateJob *j = opaque;
    uint8_t *map = j->bitmap;
    if (!map)
        map = stream_ram_present_map(j->ram, j->pages, &j->thread_err);
    j->thread_rc = map ? send_pages(j, map, j->round == 0, &j->thread_err) : -1;
    if (map != j->bitmap)
        free(map);
    evloop_call(j->v->loop, round_done, j);
    return NULL;
}

/* The destination's one line after the end section: running, or why not. */
static int read_reply(MigrateJob *j, Error *err)
{
    size_t len = 0;
    uint64_t deadline = timer_now_ns() + (uint64_t)MIGRATE_REPLY_TIMEOUT_MS * 1000000;
    while (len < sizeof(j->reply) - 1) {
        struct pollfd p = {.fd = j->fd, .events = POLLIN};
        int64_t left = (int64_t)(deadline - timer_now_ns()) / 1000000;
        if (atomic_load(&j->cancel) || left <= 0)
            return error_set(err, "the destination did not confirm within %d s",
                             MIGRATE_REPLY_TIMEOUT_MS / 1000);
        ssize_t n;
        if (j->tls) {
            n = migrate_tls_read(j->tls, j->reply + len, 1, (int)(left < 200 ? left : 200));
            if (n < 0 && errno == ETIMEDOUT)
                continue;
        } else {
            if (poll(&p, 1, (int)(left < 200 ? left : 200)) <= 0)
                continue;
            n = read(j->fd, j->reply + len, 1);
        }
        if (n <= 0)
            return error_set(err, "the destination closed the connection before it confirmed");
        if (j->reply[len++] == '\n')
            break;
    }
    j->reply[len] = '\0';
    return 0;
}

static void *reply_thread(void *opaque)
{
    MigrateJob *j = opaque;
    j->thread_rc = read_reply(j, &j->thread_err);
    evloop_call(j->v->loop, reply_done, j);
    return NULL;
}

static int start_thread(MigrateJob *j, void *(*fn)(void *), Error *err)
{
    j->thread_rc = 0;
    memset(&j->thread_err, 0, sizeof(j->thread_err));
    if (pthread_create(&j->thread, NULL, fn, j) != 0)
        return error_set(err, "cannot start the migration thread");
    j->thread_running = true;
    return 0;
}

static void join_thread(MigrateJob *j)
{
    if (j->thread_running)
        pthread_join(j->thread, NULL);
    j->thread_running = false;
}

/* ---- the end, either way ---- */

static void fire(MigrateJob *j, const VmmResult *r, const Error *err)
{
    VmmDone done = j->done;
    j->done = NULL;
    j->total_ms = ms_of(timer_now_ns() - j->t0);
    if (done)
        done(j->opaque, r, err);
}

static void close_conn(MigrateJob *j)
{
    if (j->tls) {
        migrate_tls_close(j->tls);
        j->tls = NULL;
        close(j->fd);
    } else if (j->fd >= 0) {
        stream_channel_close(&j->ch);
    }
    j->fd = -1;
}

/* Anything failed before the destination confirmed: the source goes on. */
static void migrate_fail(MigrateJob *j, const char *why)
{
    Vmm *v = j->v;
    Error err = {0};
    bool cancelled = atomic_load(&j->cancel);
    close_conn(j);
    machine_set_throttle(v->m, 0);
    if (j->log_on)
        machine_dirty_log_stop(v->m);
    j->log_on = false;
    error_set(&err, "migration %s: %s", cancelled ? "cancelled" : "failed",
              cancelled ? "the VM goes on here" : why);
    if (j->locks_released && machine_disks_lock(v->m, true, &err) < 0) {
        /* Someone else holds an image now: running would corrupt it. */
        error_set(&err,
                  "migration failed (%s), and a disk lock cannot be taken back: "
                  "the VM stays paused",
                  why);
        j->paused_here = false;
    }
    j->locks_released = false;
    if (j->paused_here)
        vmm_resume(v);
    j->paused_here = false;
    j->state = cancelled ? MIG_CANCELLED : MIG_FAILED;
    snprintf(j->error, sizeof(j->error), "%s", err.msg);
    log_warn("%s", err.msg);
    free(j->bitmap);
    j->bitmap = NULL;
    fire(j, NULL, &err);
}

static void migrate_complete(MigrateJob *j)
{
    Vmm *v = j->v;
    j->downtime_ms = ms_of(timer_now_ns() - j->pause_t0);
    j->state = MIG_COMPLETED;
    close_conn(j);
    machine_set_throttle(v->m, 0);
    machine_dirty_log_stop(v->m);
    j->log_on = false;
    free(j->bitmap);
    j->bitmap = NULL;
    VmmResult r = {.rounds = j->round + 1,
                   .bytes = atomic_load(&j->bytes),
                   .throttle = j->throttle_max,
                   .converged = j->converged,
                   .downtime_ms = j->downtime_ms,
                   .total_ms = ms_of(timer_now_ns() - j->t0)};
    v->migrated = true;
    vmm_quit(v);
    fire(j, &r, NULL);
}

/* ---- the VM thread's steps ---- */

/* Send the bitmap's pages from the VM thread (the switch-over: the harts are paused). */
static int switchover_send(MigrateJob *j, Error *err)
{
    Vmm *v = j->v;
    uint8_t *more = calloc(1, (j->pages + 7) / 8 + 8);
    if (!more)
        return error_set(err, "out of memory");
    machine_dirty_log_sync(v->m, more);
    for (uint64_t i = 0; i < (j->pages + 7) / 8; i++)
        j->bitmap[i] |= more[i];
    free(more);
    int rc = send_pages(j, j->bitmap, false, err);
    if (rc == 0)
        rc = machine_save_devices(v->m, &j->out, err);
    if (rc == 0 && machine_disks_lock(v->m, false, err) == 0)
        j->locks_released = true;
    if (rc == 0)
        rc = stream_out_end(&j->out, err);
    return rc;
}

static void switchover(MigrateJob *j)
{
    Vmm *v = j->v;
    Error err = {0};
    j->state = MIG_SWITCHOVER;
    machine_set_throttle(v->m, 0); /* paused anyway; a failure resumes it at full speed */
    j->pause_t0 = timer_now_ns();
    if (!machine_paused(v->m)) {
        vmm_pause(v);
        j->paused_here = true;
    }
    machine_settle_clock(v->m);
    machine_quiesce(v->m); /* in-flight disk requests finish, disks are flushed */
    if (switchover_send(j, &err) < 0 || start_thread(j, reply_thread, &err) < 0)
        migrate_fail(j, err.msg);
}

/*
 * Auto-converge (QEMU's idea, our scheduler): a round that dirtied more
 * than half of what it sent is "high"; from the second high round in a
 * row on, each one throttles the harts harder (20 %, then +10 % up to
 * 99 %), so the guest dirties slower than the link carries.
 */
static void auto_converge(MigrateJob *j, uint64_t sent)
{
    if (!j->auto_converge)
        return;
    if ((double)j->remaining * STREAM_PAGE <= (double)sent / 2) {
        j->high_rounds = 0;
        return;
    }
    if (++j->high_rounds < 2)
        return;
    unsigned t = machine_throttle(j->v->m);
    t = t ? t + VMM_THROTTLE_STEP : VMM_THROTTLE_INITIAL;
    t = t > VMM_THROTTLE_MAX ? VMM_THROTTLE_MAX : t;
    machine_set_throttle(j->v->m, t);
    if (t > j->throttle_max)
        j->throttle_max = t;
    log_debug("migration round %u: %" PRIu64 " pages dirtied, %" PRIu64
              " bytes sent: throttle %u %%",
              j->round, j->remaining, sent, t);
}

/* A round was sent: sync the log, and send the next one or switch over. */
static void round_done(void *opaque)
{
    MigrateJob *j = opaque;
    join_thread(j);
    if (j->thread_rc < 0 || atomic_load(&j->cancel)) {
        migrate_fail(j, j->thread_err.msg);
        return;
    }
    uint64_t now = timer_now_ns(), bytes = atomic_load(&j->bytes);
    double secs = (double)(now - j->round_t0) / 1e9;
    if (bytes - j->round_bytes0 >= MIGRATE_MIN_SAMPLE || j->bandwidth == 0)
        j->bandwidth = secs > 0 ? (double)(bytes - j->round_bytes0) / secs : 1e9;
    if (!j->bitmap && !(j->bitmap = calloc(1, (j->pages + 7) / 8 + 8))) {
        migrate_fail(j, "out of memory");
        return;
    }
    j->remaining = machine_dirty_log_sync(j->v->m, j->bitmap);
    j->dirty_rate = secs > 0 ? (double)j->remaining / secs : 0;
    j->expected_ms = (double)j->remaining * (8 + STREAM_PAGE) / j->bandwidth * 1e3;
    j->converged = j->expected_ms <= j->limit_ms;
    if (j->converged || j->round + 1 >= j->max_rounds) {
        switchover(j);
        return;
    }
    auto_converge(j, bytes - j->round_bytes0);
    Error err = {0};
    j->round++;
    j->round_t0 = now;
    j->round_bytes0 = bytes;
    if (start_thread(j, round_thread, &err) < 0)
        migrate_fail(j, err.msg);
}

/* The destination's line came (or the connection ended). */
static void reply_done(void *opaque)
{
    MigrateJob *j = opaque;
    join_thread(j);
    if (j->thread_rc < 0) {
        migrate_fail(j, j->thread_err.msg);
        return;
    }
    json_error_t jerr;
    json_t *r = json_loads(j->reply, 0, &jerr);
    const char *status = NULL, *desc = NULL;
    json_unpack(r, "{s:s, s?s}", "migrate", &status, "desc", &desc);
    char why[200];
    snprintf(why, sizeof(why), "the destination refused the stream: %s",
             desc ? desc : "(no reason given)");
    bool ok = status && strcmp(status, "running") == 0;
    json_decref(r);
    if (ok)
        migrate_complete(j);
    else
        migrate_fail(j, why);
}

/* ---- the operation ---- */

static int migrate_connect(MigrateJob *j, const VmmMigrateOpts *o, Error *err)
{
    MigrateUri u;
    if (migrate_uri_parse(o->uri, &u, err) < 0 || (j->fd = migrate_uri_connect(&u, err)) < 0)
        return -1;
    struct timeval tv = {.tv_sec = MIGRATE_IO_TIMEOUT_S};
    setsockopt(j->fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    stream_channel_socket(&j->ch, j->fd, true);
    if (o->tls_creds) {
        const char *name = o->tls_hostname             ? o->tls_hostname
                           : u.kind == MIGRATE_URI_TCP ? u.host
                                                       : NULL;
        if (!(j->tls = migrate_tls_open(o->tls_creds, false, name, j->fd, err)))
            return -1;
        migrate_tls_channel(j->tls, &j->ch);
    }
    return stream_out_begin_channel(&j->out, &j->ch, err);
}

int vmm_migrate(Vmm *v, const VmmMigrateOpts *o, VmmDone done, void *opaque, Error *err)
{
    if (vmm_busy(v))
        return error_set(err, "a snapshot is in progress: try again when it has finished");
    if (vmm_migrating(v))
        return error_set(err, "a migration is in progress");
    if (o->downtime_limit_ms < 0 || o->downtime_limit_ms > 600000)
        return error_set(err, "downtime limit %.1f ms: expected 0 to 600000", o->downtime_limit_ms);
    if (o->max_bandwidth < 0)
        return error_set(err, "bandwidth cap: expected a positive number of bytes/s");
    MigrateJob *j = calloc(1, sizeof(*j));
    if (!j)
        return error_set(err, "out of memory");
    *j = (MigrateJob){.v = v,
                      .done = done,
                      .opaque = opaque,
                      .fd = -1,
                      .limit_ms =
                          o->downtime_limit_ms > 0 ? o->downtime_limit_ms : VMM_MIGRATE_DOWNTIME_MS,
                      .max_rounds = o->max_rounds ? o->max_rounds : VMM_MIGRATE_MAX_ROUNDS,
                      .auto_converge = !o->no_auto_converge,
                      .max_bandwidth = o->max_bandwidth,
                      .t0 = timer_now_ns()};
    j->ram = machine_ram(v->m, &j->ram_size);
    j->pages = j->ram_size / STREAM_PAGE;
    if ((o->compress_level && !(j->zstd = stream_pages_zstd_new(o->compress_level, err))) ||
        migrate_connect(j, o, err) < 0 || machine_save_config(v->m, &j->out, err) < 0) {
        close_conn(j);
        stream_pages_zstd_free(j->zstd);
        free(j);
        return -1;
    }
    vmm_migrate_finish(v); /* the last migration's figures */
    v->migration = j;
    machine_dirty_log_start(v->m);
    j->log_on = true;
    j->round_t0 = timer_now_ns();
    if (start_thread(j, round_thread, err) < 0) {
        j->done = NULL;
        migrate_fail(j, err->msg);
        return -1;
    }
    return 0;
}

int vmm_migrate_cancel(Vmm *v, Error *err)
{
    MigrateJob *j = v->migration;
    if (!j || j->state > MIG_SWITCHOVER)
        return error_set(err, "no migration is in progress");
    if (j->state == MIG_SWITCHOVER)
        return error_set(err, "the migration is switching over: too late to cancel");
    atomic_store(&j->cancel, true);
    shutdown(j->fd, SHUT_RDWR); /* the worker's write ends now */
    return 0;
}

static const char *state_name(MigrateState s)
{
    static const char *const names[] = {"active", "switchover", "completed", "failed", "cancelled"};
    return names[s];
}

void vmm_migrate_query(const Vmm *v, VmmMigrateInfo *info)
{
    const MigrateJob *j = v->migration;
    memset(info, 0, sizeof(*info));
    info->state = j ? state_name(j->state) : "none";
    if (!j)
        return;
    info->round = j->round;
    info->bytes = atomic_load(&((MigrateJob *)j)->bytes);
    info->pages_remaining = j->remaining;
    info->dirty_pages_per_s = j->dirty_rate;
    info->bandwidth = j->bandwidth;
    info->expected_downtime_ms = j->expected_ms;
    info->downtime_ms = j->downtime_ms;
    info->throttle = j->state <= MIG_SWITCHOVER ? machine_throttle(v->m) : 0;
    info->throttle_max = j->throttle_max;
    info->total_ms = j->state <= MIG_SWITCHOVER ? ms_of(timer_now_ns() - j->t0) : j->total_ms;
    snprintf(info->error, sizeof(info->error), "%s", j->error);
}

void vmm_migrate_finish(Vmm *v)
{
    MigrateJob *j = v->migration;
    if (!j)
        return;
    if (j->state <= MIG_SWITCHOVER) {
        atomic_store(&j->cancel, true);
        if (j->fd >= 0)
            shutdown(j->fd, SHUT_RDWR);
        join_thread(j);
        migrate_fail(j, "the VMM is exiting");
    }
    v->migration = NULL;
    free(j->bitmap);
    stream_pages_zstd_free(j->zstd);
    free(j);
}
