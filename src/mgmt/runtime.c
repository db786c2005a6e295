/*
 * The VMs that run (runtime.h): spawning `hostel run`, finding VMMs again
 * after a daemon restart, stopping them, and the supervisor thread that
 * notices when one ends and applies its restart policy.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/pidfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "control/client.h"
#include "util/clocks.h"
#include "util/compiler.h"
#include "mgmt/fileio.h"
#include "mgmt/runtime.h"
#include "mgmt/supervisor.h"
#include "mgmt/vmm_machine.h"
#include "util/io.h"

#define BACKOFF_MAX_S 60      /* the longest wait before a restart */
#define QUIT_WAIT_S 5         /* after quit, then after SIGKILL */
#define CALL_TIMEOUT_MS 10000 /* a control command's default deadline */
#define TAIL_BYTES 2048       /* of a log, for a crash report */

typedef struct Run {
    char name[MGMT_NAME_MAX + 1];
    MgmtPower power;
    MgmtChild proc;      /* its VMM (pid 0 when none), supervised */
    bool stop_requested; /* a user stopped or suspended it: no restart */
    bool unplugging;     /* its VMM is gone and its cards are being unplugged */
    bool replug_started; /* a switch restarted while it was starting: replug once started */
    MgmtRestart restart;
    unsigned restarts;    /* by the supervisor, since the daemon started */
    double started_real;  /* 0: found at daemon start (the start is its process's) */
    json_t *last_exit;    /* how the last VMM ended, or NULL */
    pthread_cond_t ended; /* broadcast when the VMM is gone */
    struct Run *next;
} Run;

/* An event found under the lock, given to notify after it is released. */
typedef struct Pending {
    char type[32];
    char name[MGMT_NAME_MAX + 1];
    json_t *metadata;
} Pending;

struct MgmtRuntime {
    char data_dir[PATH_MAX], run_dir[PATH_MAX], vmm_path[PATH_MAX];
    MgmtNotifyFn *notify;
    void *notify_ctx;
    const MgmtNicHooks *nic_hooks;
    void *nic_ctx;
    unsigned max_starting, starting, ready_timeout_ms;
    pthread_mutex_t lock;
    pthread_cond_t start_slot;
    Run *runs;
    MgmtSupervisor *sup; /* watches the VMMs (r->proc); calls back under the lock */
    unsigned restarting; /* restart threads alive: free waits for them */
    pthread_cond_t restarted;
};

static const char *const power_names[] = {
    [MGMT_POWER_STOPPED] = "stopped",   [MGMT_POWER_STARTING] = "starting",
    [MGMT_POWER_RUNNING] = "running",   [MGMT_POWER_PAUSED] = "paused",
    [MGMT_POWER_STOPPING] = "stopping",
};

const char *mgmt_power_name(MgmtPower p)
{
    return (unsigned)p < sizeof(power_names) / sizeof(power_names[0]) ? power_names[p] : "unknown";
}

/* ---- time, paths, files ---- */

static bool is_run_file(const char *file)
{
    return strcmp(file, "control.sock") == 0 || strcmp(file, "console.sock") == 0 ||
           strcmp(file, "vnc.sock") == 0 || strcmp(file, "pid") == 0;
}

int mgmt_runtime_path(const MgmtRuntime *rt, const char *name, const char *file, char *buf,
                      size_t size)
{
    const char *dir = is_run_file(file) ? rt->run_dir : rt->data_dir;
    int n = file[0] ? snprintf(buf, size, "%s/%s/%s", dir, name, file)
                    : snprintf(buf, size, "%s/%s", dir, name);
    return n < 0 || (size_t)n >= size ? -1 : 0;
}

static int make_dir(const char *path, Error *err)
{
    if (mkdir(path, 0750) < 0 && errno != EEXIST)
        return error_set_errno(err, errno, "cannot make %.200s", path);
    return 0;
}

/* RUN/NAME and DATA/NAME (and its snapshots/). */
static int make_vm_dirs(MgmtRuntime *rt, const char *name, Error *err)
{
    char path[PATH_MAX];
    mgmt_runtime_path(rt, name, "", path, sizeof(path));
    if (make_dir(path, err) < 0)
        return -1;
    mgmt_runtime_path(rt, name, "snapshots", path, sizeof(path));
    if (make_dir(path, err) < 0)
        return -1;
    int n = snprintf(path, sizeof(path), "%s/%s", rt->run_dir, name);
    if (n < 0 || (size_t)n >= sizeof(path))
        return error_set(err, "%s: the run directory's path is too long", name);
    return make_dir(path, err);
}

/* The last TAIL_BYTES of path as a string (for a crash event), or NULL. */
static json_t *file_tail(const char *path)
{
    char tail[TAIL_BYTES];
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return NULL;
    off_t end = lseek(fd, 0, SEEK_END);
    ssize_t n = pread(fd, tail, sizeof(tail), end > TAIL_BYTES ? end - TAIL_BYTES : 0);
    close(fd);
    if (n <= 0)
        return NULL;
    for (ssize_t i = 0; i < n; i++) /* keep it valid UTF-8: the console may hold anything */
        if ((unsigned char)tail[i] >= 0x80 || (tail[i] < 0x20 && tail[i] != '\n'))
            tail[i] = '?';
    return json_stringn(tail, (size_t)n);
}

static bool file_exists(const char *path)
{
    return access(path, F_OK) == 0;
}

/* ---- the list of runs (the lock held) ---- */

static Run *run_find(MgmtRuntime *rt, const char *name)
{
    for (Run *r = rt->runs; r; r = r->next)
        if (strcmp(r->name, name) == 0)
            return r;
    return NULL;
}

static Run *run_get(MgmtRuntime *rt, const char *name)
{
    Run *r = run_find(rt, name);
    if (r)
        return r;
    r = calloc(1, sizeof(*r));
    if (!r)
        return NULL;
    snprintf(r->name, sizeof(r->name), "%s", name);
    mgmt_supervisor_add(rt->sup, &r->proc);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC); /* wait_ended's deadlines */
    pthread_cond_init(&r->ended, &ca);
    pthread_condattr_destroy(&ca);
    r->next = rt->runs;
    rt->runs = r;
    return r;
}

static bool run_active(const Run *r)
{
    return r->proc.pid != 0;
}

static void pending_add(Pending **list, size_t *n, const char *type, const char *name,
                        json_t *metadata)
{
    Pending *p = realloc(*list, (*n + 1) * sizeof(**list));
    if (!p) {
        json_decref(metadata);
        return;
    }
    *list = p;
    snprintf(p[*n].type, sizeof(p[*n].type), "%s", type);
    snprintf(p[*n].name, sizeof(p[*n].name), "%s", name);
    p[*n].metadata = metadata;
    (*n)++;
}

static void pending_deliver(MgmtRuntime *rt, Pending *list, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (rt->notify)
            rt->notify(rt->notify_ctx, list[i].type, list[i].name, list[i].metadata);
        else
            json_decref(list[i].metadata);
    }
    free(list);
}

static void notify_one(MgmtRuntime *rt, const char *type, const char *name, json_t *metadata)
{
    Pending *p = NULL;
    size_t n = 0;
    pending_add(&p, &n, type, name, metadata);
    pending_deliver(rt, p, n);
}

/* ---- how a VMM ended ---- */

/* DATA/NAME/exit.json, or NULL when it wrote none (it was killed). */
static json_t *read_exit_file(MgmtRuntime *rt, const char *name)
{
    char path[PATH_MAX];
    mgmt_runtime_path(rt, name, "exit.json", path, sizeof(path));
    json_t *j = json_load_file(path, 0, NULL);
    if (j && !json_is_object(j)) {
        json_decref(j);
        j = NULL;
    }
    return j;
}

/*
 * The record of how r's VMM ended: {"time", "reason", "status", "message",
 * "clean"}.  reason is the VMM's own word (guest, quit, suspended, signal,
 * error) or "crashed" when it said nothing.
 */
static json_t *exit_record(MgmtRuntime *rt, Run *r, bool have_status, int wstatus)
{
    char when[40], msg[300] = "";
    clock_text(clock_real_s(), when, sizeof(when));
    json_t *file = read_exit_file(rt, r->name);
    const char *reason = "crashed";
    int status = -1;
    if (file) {
        reason = json_string_value(json_object_get(file, "reason"));
        status = (int)json_integer_value(json_object_get(file, "status"));
        snprintf(msg, sizeof(msg), "%s", json_string_value(json_object_get(file, "message")) ?: "");
        reason = reason ? reason : "crashed";
    } else if (have_status && WIFSIGNALED(wstatus)) {
        status = 128 + WTERMSIG(wstatus);
        snprintf(msg, sizeof(msg), "killed by signal %d (%s)", WTERMSIG(wstatus),
                 strsignal(WTERMSIG(wstatus)));
    } else if (have_status && WIFEXITED(wstatus)) {
        status = WEXITSTATUS(wstatus);
        snprintf(msg, sizeof(msg), "exited with status %d without saying why", status);
    } else {
        snprintf(msg, sizeof(msg), "ended without saying how (killed?)");
    }
    bool clean = status == 0 && (strcmp(reason, "guest") == 0 || strcmp(reason, "quit") == 0 ||
                                 strcmp(reason, "suspended") == 0);
    json_t *j = json_pack("{s:s, s:s, s:i, s:s, s:b}", "time", when, "reason", reason, "status",
                          status, "message", msg, "clean", clean);
    json_decref(file);
    return j;
}

/* Plan r's restart per its policy (the lock held); true when one is planned. */
static bool plan_restart(MgmtRuntime *rt, Run *r, bool clean, double ran_s)
{
    if (r->stop_requested || r->restart == MGMT_RESTART_NO ||
        (r->restart == MGMT_RESTART_ON_FAILURE && clean))
        return false;
    mgmt_supervisor_plan(rt->sup, &r->proc, ran_s);
    return true;
}

/*
 * r's VMM is gone (the lock held; the supervisor reaped it): record it,
 * wake waiters, plan a restart, queue events.
 */
static void run_ended(MgmtRuntime *rt, Run *r, const MgmtChildExit *x, Pending **ev, size_t *nev)
{
    bool was_starting = r->power == MGMT_POWER_STARTING;
    json_t *rec = exit_record(rt, r, x->have_status, x->wstatus);
    r->power = MGMT_POWER_STOPPED;
    r->unplugging = rt->nic_hooks != NULL;
    json_decref(r->last_exit);
    r->last_exit = rec;
    pthread_cond_broadcast(&r->ended);
    bool clean = rec && json_is_true(json_object_get(rec, "clean"));
    char path[PATH_MAX];
    json_t *meta = rec ? json_deep_copy(rec) : json_object();
    if (!clean && meta) {
        mgmt_runtime_path(rt, r->name, "console.log", path, sizeof(path));
        json_object_set_new(meta, "console_tail", file_tail(path) ?: json_null());
    }
    pending_add(ev, nev, r->stop_requested || clean ? "vm-stopped" : "vm-crashed", r->name, meta);
    if (!was_starting && plan_restart(rt, r, clean, x->ran_s))
        pending_add(
            ev, nev, "vm-restarting", r->name,
            json_pack("{s:i, s:i}", "delay_s", r->proc.backoff_s, "restarts", r->restarts + 1));
}

/* ---- spawning ---- */

/*
 * The argument vector of hostel run for r (resume: from its suspended
 * state); with display, a VNC server on RUN/NAME/vnc.sock (the web
 * console's GET /1.0/vms/NAME/vnc connects there).
 */
static int vmm_argv(MgmtRuntime *rt, const char *name, bool resume, bool display,
                    char paths[][PATH_MAX], char **argv)
{
    static const char *const files[] = {"vmm-config.json",  "control.sock", "console.sock",
                                        "console.log",      "snapshots",    "exit.json",
                                        "suspended.hstate", "vnc.sock"};
    for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++)
        if (mgmt_runtime_path(rt, name, files[i], paths[i], PATH_MAX) < 0)
            return -1;
    int n = 0;
    argv[n++] = rt->vmm_path;
    argv[n++] = "run";
    argv[n++] = "--name";
    argv[n++] = (char *)name;
    if (resume) {
        argv[n++] = "--restore";
        argv[n++] = paths[6];
    } else {
        argv[n++] = "--config";
        argv[n++] = paths[0];
    }
    argv[n++] = "--control";
    argv[n++] = paths[1];
    argv[n++] = "--console-socket";
    argv[n++] = paths[2];
    argv[n++] = "--console-log";
    argv[n++] = paths[3];
    argv[n++] = "--snapshot-dir";
    argv[n++] = paths[4];
    argv[n++] = "--exit-file";
    argv[n++] = paths[5];
    if (display) {
        char sock[PATH_MAX];
        snprintf(sock, sizeof(sock), "%s", paths[7]);
        if (snprintf(paths[7], PATH_MAX, "unix:%s", sock) >= PATH_MAX)
            return -1;
        argv[n++] = "--vnc";
        argv[n++] = paths[7];
    }
    argv[n] = NULL;
    return 0;
}

/* Spawn hostel run (mgmt_spawn: its own session, its output appended to vmm.log). */
static int spawn_vmm(MgmtRuntime *rt, const char *name, bool resume, bool display, const int *fds,
                     pid_t *pid, Error *err)
{
    char paths[8][PATH_MAX], log[PATH_MAX];
    char *argv[24];
    if (vmm_argv(rt, name, resume, display, paths, argv) < 0 ||
        mgmt_runtime_path(rt, name, "vmm.log", log, sizeof(log)) < 0)
        return error_set(err, "%s: a path under the state or run directory is too long", name);
    unlink(paths[5]); /* the last exit.json: the next one is this VMM's */
    MgmtSpawn sp = {.path = rt->vmm_path,
                    .argv = argv,
                    .log = log,
                    .fds = fds, /* >= FD_HIGH (vmm_machine.c): no clash with 3 + card */
                    .nfds = VMCONFIG_MAX_NICS};
    return mgmt_spawn(&sp, pid, err);
}

static void write_pid_file(MgmtRuntime *rt, const char *name, pid_t pid)
{
    char path[PATH_MAX], text[32];
    mgmt_runtime_path(rt, name, "pid", path, sizeof(path));
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
    if (fd < 0)
        return;
    int n = snprintf(text, sizeof(text), "%d\n", (int)pid);
    if (!io_write_all(fd, text, (size_t)n)) { /* the control socket is the truth anyway */
    }
    close(fd);
}

/* Watch pid as r's VMM (the lock held). Returns 0, or -1 when it is already gone. */
static int run_watch(MgmtRuntime *rt, Run *r, pid_t pid, bool child)
{
    if (mgmt_supervisor_watch(rt->sup, &r->proc, pid, -1, child) < 0)
        return -1;
    r->started_real = clock_real_s();
    return 0;
}

/* ---- control calls ---- */

static int control_path(MgmtRuntime *rt, const char *name, char *buf, size_t size, Error *err)
{
    if (mgmt_runtime_path(rt, name, "control.sock", buf, size) < 0)
        return error_set(err, "%s: the control socket's path is too long", name);
    return 0;
}

/* cmd on the control socket at path; *ret the "return" (new reference) when ret. */
static int call_path(const char *path, const char *cmd, json_t *args, json_t **ret,
                     unsigned timeout_ms, Error *err)
{
    ControlConn c;
    if (control_conn_open(&c, path, (int)timeout_ms, err) < 0)
        return -1;
    json_t *reply = control_conn_call(&c, cmd, args, err);
    control_conn_close(&c);
    if (!reply)
        return -1;
    json_t *r = json_object_get(reply, "return");
    if (!r) {
        const char *d = json_string_value(json_object_get(json_object_get(reply, "error"), "desc"));
        error_set(err, "%s: %s", cmd, d ? d : "the VMM sent a malformed reply");
        json_decref(reply);
        return -1;
    }
    if (ret)
        *ret = json_incref(r);
    json_decref(reply);
    return 0;
}

int mgmt_runtime_call(MgmtRuntime *rt, const char *name, const char *cmd, json_t *args,
                      json_t **ret, unsigned timeout_ms, Error *err)
{
    char path[PATH_MAX];
    pthread_mutex_lock(&rt->lock);
    Run *r = run_find(rt, name);
    bool active = r && run_active(r);
    pthread_mutex_unlock(&rt->lock);
    if (!active)
        return error_set(err, "%s is not running", name);
    if (control_path(rt, name, path, sizeof(path), err) < 0)
        return -1;
    int rc = call_path(path, cmd, args, ret, timeout_ms ? timeout_ms : CALL_TIMEOUT_MS, err);
    if (rc == 0 && (strcmp(cmd, "pause") == 0 || strcmp(cmd, "resume") == 0)) {
        pthread_mutex_lock(&rt->lock);
        if (r->power == MGMT_POWER_RUNNING || r->power == MGMT_POWER_PAUSED)
            r->power = cmd[0] == 'p' ? MGMT_POWER_PAUSED : MGMT_POWER_RUNNING;
        pthread_mutex_unlock(&rt->lock);
    }
    return rc;
}

/* The VMM's own word for its state ("running", "paused"), via status; NULL if it does not answer. */
static MgmtPower ask_power(const char *path, unsigned timeout_ms, bool *answered)
{
    json_t *st = NULL;
    Error err = {0};
    *answered = call_path(path, "status", NULL, &st, timeout_ms, &err) == 0;
    const char *s = json_string_value(json_object_get(st, "status"));
    MgmtPower p = s && strcmp(s, "paused") == 0 ? MGMT_POWER_PAUSED : MGMT_POWER_RUNNING;
    json_decref(st);
    return p;
}

/* ---- start ---- */

static void start_slot_take(MgmtRuntime *rt)
{
    while (rt->starting >= rt->max_starting)
        pthread_cond_wait(&rt->start_slot, &rt->lock);
    rt->starting++;
}

static void start_slot_give(MgmtRuntime *rt)
{
    rt->starting--;
    pthread_cond_signal(&rt->start_slot);
}

/*
 * Wait (the lock held) until r's VMM answers on its control socket, or it
 * ends, or the deadline passes.  Returns 0, or -1 with err.
 */
static int wait_ready(MgmtRuntime *rt, Run *r, Error *err)
{
    char path[PATH_MAX], log[PATH_MAX], line[256];
    double deadline = clock_mono_s() + rt->ready_timeout_ms / 1000.0;
    control_path(rt, r->name, path, sizeof(path), err);
    while (r->power == MGMT_POWER_STARTING) {
        bool answered;
        pthread_mutex_unlock(&rt->lock);
        MgmtPower p = ask_power(path, 1000, &answered);
        if (!answered)
            usleep(20 * 1000);
        pthread_mutex_lock(&rt->lock);
        if (answered && r->power == MGMT_POWER_STARTING) {
            r->power = p;
            return 0;
        }
        if (!answered && clock_mono_s() > deadline && r->power == MGMT_POWER_STARTING)
            return error_set(err, "%s: the VMM did not answer within %u ms", r->name,
                             rt->ready_timeout_ms);
    }
    mgmt_runtime_path(rt, r->name, "vmm.log", log, sizeof(log));
    mgmt_last_line(log, line, sizeof(line));
    return error_set(err, "%s: the VMM ended at once: %s", r->name,
                     line[0] ? line : "(nothing in vmm.log)");
}

/* ---- the VMM's machine: the definition with its cards plugged in (vmm_machine.c) ---- */

/* Prepare the VMM's machine of the VM named name (without the lock). Returns 0, or -1. */
static int prepare_machine(MgmtRuntime *rt, const char *name, VmConfig *vmm, int *fds, Error *err)
{
    char config[PATH_MAX], vmm_config[PATH_MAX];
    mgmt_runtime_path(rt, name, "config.json", config, sizeof(config));
    mgmt_runtime_path(rt, name, "vmm-config.json", vmm_config, sizeof(vmm_config));
    return vmm_machine_prepare(rt->nic_hooks, rt->nic_ctx, name, config, vmm_config, vmm, fds, err);
}

/* Undo what the hooks made for the VMM that ran vmm-config.json (without the lock). */
static void unplug_machine(MgmtRuntime *rt, const char *name)
{
    char vmm_config[PATH_MAX];
    mgmt_runtime_path(rt, name, "vmm-config.json", vmm_config, sizeof(vmm_config));
    vmm_machine_unplug(rt->nic_hooks, rt->nic_ctx, name, vmm_config);
}

/* Spawn r's VMM with its machine prepared (the lock held, released while preparing). */
static int spawn_prepared(MgmtRuntime *rt, Run *r, bool resume, pid_t *pid, Error *err)
{
    int fds[VMCONFIG_MAX_NICS];
    VmConfig vmm;
    while (r->unplugging) /* the last VMM's cards go first */
        pthread_cond_wait(&r->ended, &rt->lock);
    pthread_mutex_unlock(&rt->lock);
    int rc = prepare_machine(rt, r->name, &vmm, fds, err);
    pthread_mutex_lock(&rt->lock);
    if (rc < 0)
        return -1;
    rc = spawn_vmm(rt, r->name, resume, vmm.display.enabled, fds, pid, err);
    vmm_machine_close(fds); /* the VMM has its own now */
    if (rc < 0 && rt->nic_hooks) {
        pthread_mutex_unlock(&rt->lock);
        rt->nic_hooks->unplug(rt->nic_ctx, r->name, &vmm);
        pthread_mutex_lock(&rt->lock);
    }
    vmconfig_free(&vmm);
    return rc;
}

/* Did a switch restart while r was starting (its ports may be gone)?  Cleared; the lock held. */
static bool take_replug(Run *r)
{
    bool replug = r->replug_started;
    r->replug_started = false;
    return replug;
}

static void replug_vm(MgmtRuntime *rt, const char *name, const char *network);

/* Start r from its files (config.json, or suspended.hstate); the lock held, r stopped. */
static int start_locked(MgmtRuntime *rt, Run *r, Error *err)
{
    char state[PATH_MAX];
    mgmt_runtime_path(rt, r->name, "suspended.hstate", state, sizeof(state));
    bool resume = file_exists(state);
    r->power = MGMT_POWER_STARTING;
    r->stop_requested = false;
    r->replug_started = false;
    r->proc.restart_at = 0;
    start_slot_take(rt);
    pid_t pid;
    int rc = spawn_prepared(rt, r, resume, &pid, err);
    if (rc == 0 && run_watch(rt, r, pid, true) < 0)
        rc = error_set(err, "%s: the VMM ended before it could be watched", r->name);
    if (rc == 0) {
        write_pid_file(rt, r->name, pid);
        rc = wait_ready(rt, r, err);
        if (rc < 0 && r->proc.pid)
            kill(r->proc.pid, SIGKILL); /* the supervisor reaps it */
    }
    if (rc < 0 && r->power == MGMT_POWER_STARTING && !r->proc.pid)
        r->power = MGMT_POWER_STOPPED;
    start_slot_give(rt);
    if (rc == 0 && resume)
        unlink(state); /* resumed: the guest has moved on from it */
    return rc;
}

static int write_config(MgmtRuntime *rt, const MgmtVm *vm, Error *err)
{
    char path[PATH_MAX], tmp[PATH_MAX + 8];
    mgmt_runtime_path(rt, vm->name, "config.json", path, sizeof(path));
    snprintf(tmp, sizeof(tmp), "%s.tmp", path);
    json_t *j = vmconfig_to_json(&vm->config);
    int rc = j ? json_dump_file(j, tmp, JSON_INDENT(2)) : -1;
    json_decref(j);
    if (rc < 0 || rename(tmp, path) < 0)
        return error_set(err, "%s: cannot write %.200s", vm->name, path);
    return 0;
}

int mgmt_runtime_start(MgmtRuntime *rt, const MgmtVm *vm, Error *err)
{
    if (make_vm_dirs(rt, vm->name, err) < 0 || write_config(rt, vm, err) < 0)
        return -1;
    pthread_mutex_lock(&rt->lock);
    Run *r = run_get(rt, vm->name);
    int rc;
    if (!r)
        rc = error_set(err, "out of memory");
    else if (r->power != MGMT_POWER_STOPPED)
        rc = error_set(err, "%s is %s", vm->name, mgmt_power_name(r->power));
    else {
        r->restart = vm->restart;
        rc = start_locked(rt, r, err);
    }
    json_t *meta = rc == 0 ? json_pack("{s:i}", "pid", (int)r->proc.pid) : NULL;
    bool replug = rc == 0 && take_replug(r);
    pthread_mutex_unlock(&rt->lock);
    if (replug)
        replug_vm(rt, vm->name, NULL);
    if (rc == 0)
        notify_one(rt, "vm-started", vm->name, meta);
    return rc;
}

/* A planned restart is due: start r again (on its own thread: it waits for the VMM). */
static void *restart_thread(void *opaque)
{
    void **a = opaque;
    MgmtRuntime *rt = a[0];
    Run *r = a[1];
    free(a);
    Error err = {0};
    pthread_mutex_lock(&rt->lock);
    bool go = r->power == MGMT_POWER_STOPPED && !r->stop_requested;
    if (go)
        r->restarts++; /* counted as it is tried: a watcher sees the count with the new pid */
    int rc = go ? start_locked(rt, r, &err) : 1;
    json_t *meta = rc == 0
                       ? json_pack("{s:i, s:i}", "pid", (int)r->proc.pid, "restarts", r->restarts)
                       : json_pack("{s:s}", "error", err.msg);
    char name[MGMT_NAME_MAX + 1];
    snprintf(name, sizeof(name), "%s", r->name);
    bool replug = rc == 0 && take_replug(r);
    pthread_mutex_unlock(&rt->lock);
    if (replug)
        replug_vm(rt, name, NULL);
    if (rc <= 0)
        notify_one(rt, rc == 0 ? "vm-started" : "vm-restart-failed", name, meta);
    else
        json_decref(meta);
    pthread_mutex_lock(&rt->lock);
    rt->restarting--;
    pthread_cond_broadcast(&rt->restarted);
    pthread_mutex_unlock(&rt->lock);
    return NULL;
}

static void launch_restart(MgmtRuntime *rt, Run *r)
{
    void **a = malloc(2 * sizeof(void *));
    pthread_t t;
    pthread_attr_t at;
    if (!a)
        return;
    a[0] = rt;
    a[1] = r;
    pthread_attr_init(&at);
    pthread_attr_setdetachstate(&at, PTHREAD_CREATE_DETACHED);
    if (pthread_create(&t, &at, restart_thread, a) != 0)
        free(a);
    else
        rt->restarting++;
    pthread_attr_destroy(&at);
}

/* ---- stop, suspend ---- */

/*
 * Wait (the lock held) up to seconds for r's VMM to be gone (and its cards
 * unplugged, within the same time). True when it is gone.
 */
static bool wait_ended(Run *r, pthread_mutex_t *lock, double seconds)
{
    struct timespec until;
    clock_gettime(CLOCK_MONOTONIC, &until);
    until.tv_sec += (time_t)seconds;
    until.tv_nsec += (long)((seconds - (double)(time_t)seconds) * 1e9);
    if (until.tv_nsec >= 1000000000L) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000L;
    }
    while (run_active(r))
        if (pthread_cond_timedwait(&r->ended, lock, &until) == ETIMEDOUT)
            return !run_active(r);
    while (r->unplugging) /* gone: a stopped VM has no port left on a network */
        if (pthread_cond_timedwait(&r->ended, lock, &until) == ETIMEDOUT)
            break;
    return true;
}

/* Mark r as being stopped by a user; -1 (err) when it is not running. The lock held. */
static int begin_stop(Run *r, const char *name, Error *err)
{
    if (!r || !run_active(r) || r->power == MGMT_POWER_STARTING)
        return error_set(err, "%s is not running", name);
    r->stop_requested = true;
    r->proc.restart_at = 0;
    r->power = MGMT_POWER_STOPPING;
    return 0;
}

/* How long a stop waits for the guest agent to take guest-shutdown (its sync, then a second). */
#define AGENT_STOP_MS 8000

/* Quit, then SIGKILL; true when the VMM is gone. The lock held. */
static bool force_end(MgmtRuntime *rt, Run *r, const char *path)
{
    Error err = {0};
    pthread_mutex_unlock(&rt->lock);
    call_path(path, "quit", NULL, NULL, 2000, &err);
    pthread_mutex_lock(&rt->lock);
    if (wait_ended(r, &rt->lock, QUIT_WAIT_S))
        return true;
    if (r->proc.pidfd >= 0)
        pidfd_send_signal(r->proc.pidfd, SIGKILL, NULL, 0);
    return wait_ended(r, &rt->lock, QUIT_WAIT_S);
}

int mgmt_runtime_stop(MgmtRuntime *rt, const char *name, bool force, unsigned timeout_s,
                      bool *forced, Error *err)
{
    char path[PATH_MAX];
    *forced = force;
    if (control_path(rt, name, path, sizeof(path), err) < 0)
        return -1;
    pthread_mutex_lock(&rt->lock);
    Run *r = run_find(rt, name);
    bool paused = r && r->power == MGMT_POWER_PAUSED;
    if (begin_stop(r, name, err) < 0) {
        pthread_mutex_unlock(&rt->lock);
        return -1;
    }
    bool gone = false;
    if (!force) {
        Error perr = {0};
        pthread_mutex_unlock(&rt->lock);
        if (paused) /* a paused guest cannot hear the button */
            call_path(path, "resume", NULL, NULL, 2000, &perr);
        /* The guest agent's shutdown first (fails at once without an agent), then the button. */
        int asked = call_path(path, "agent-shutdown", NULL, NULL, AGENT_STOP_MS, &perr);
        if (asked < 0)
            asked = call_path(path, "powerdown", NULL, NULL, 2000, &perr);
        pthread_mutex_lock(&rt->lock);
        gone = asked == 0 && wait_ended(r, &rt->lock, timeout_s);
        *forced = !gone;
    }
    if (!gone)
        gone = force_end(rt, r, path);
    if (!gone && r->power == MGMT_POWER_STOPPING)
        r->power = MGMT_POWER_RUNNING;
    pthread_mutex_unlock(&rt->lock);
    return gone ? 0 : error_set(err, "%s: the VMM (pid %d) does not end", name, (int)r->proc.pid);
}

int mgmt_runtime_suspend(MgmtRuntime *rt, const char *name, Error *err)
{
    char path[PATH_MAX], state[PATH_MAX];
    if (control_path(rt, name, path, sizeof(path), err) < 0 ||
        mgmt_runtime_path(rt, name, "suspended.hstate", state, sizeof(state)) < 0)
        return error_set(err, "%s: a path is too long", name);
    pthread_mutex_lock(&rt->lock);
    Run *r = run_find(rt, name);
    MgmtPower before = r ? r->power : MGMT_POWER_STOPPED;
    if (begin_stop(r, name, err) < 0) {
        pthread_mutex_unlock(&rt->lock);
        return -1;
    }
    pthread_mutex_unlock(&rt->lock);
    json_t *args = json_pack("{s:s}", "file", state);
    int rc = call_path(path, "suspend", args, NULL, 600 * 1000, err);
    json_decref(args);
    pthread_mutex_lock(&rt->lock);
    if (rc == 0 && !wait_ended(r, &rt->lock, 30))
        rc = error_set(err, "%s: saved, but the VMM does not end", name);
    if (rc < 0 && run_active(r)) { /* refused: it runs on as before */
        r->stop_requested = false;
        r->power = before;
    }
    pthread_mutex_unlock(&rt->lock);
    return rc;
}

/* ---- attach, state ---- */

/*
 * Ask the control socket at path who listens (its pid, SO_PEERCRED) and in
 * what state, on one connection.  Returns the pid, or 0 when nobody answers.
 */
static pid_t socket_owner(const char *path, MgmtPower *power)
{
    ControlConn c;
    Error err = {0};
    if (control_conn_open(&c, path, 2000, &err) < 0)
        return 0;
    struct ucred cred;
    socklen_t len = sizeof(cred);
    pid_t pid = getsockopt(c.fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) == 0 ? cred.pid : 0;
    json_t *reply = pid ? control_conn_call(&c, "status", NULL, &err) : NULL;
    control_conn_close(&c);
    const char *s = json_string_value(json_object_get(json_object_get(reply, "return"), "status"));
    *power = s && strcmp(s, "paused") == 0 ? MGMT_POWER_PAUSED : MGMT_POWER_RUNNING;
    json_decref(reply);
    return reply ? pid : 0;
}

/* The hooks' replug for the VM name (without the lock). */
static void replug_vm(MgmtRuntime *rt, const char *name, const char *network)
{
    char control[PATH_MAX], vmm_config[PATH_MAX];
    if (!rt->nic_hooks || !rt->nic_hooks->replug ||
        control_path(rt, name, control, sizeof(control), NULL) < 0 ||
        mgmt_runtime_path(rt, name, "vmm-config.json", vmm_config, sizeof(vmm_config)) < 0)
        return;
    vmm_machine_replug(rt->nic_hooks, rt->nic_ctx, name, vmm_config, control, network);
}

MgmtPower mgmt_runtime_attach(MgmtRuntime *rt, const char *name, MgmtRestart restart)
{
    char path[PATH_MAX];
    MgmtPower p = MGMT_POWER_STOPPED;
    bool found = false;
    if (control_path(rt, name, path, sizeof(path), NULL) < 0)
        return MGMT_POWER_STOPPED;
    pid_t pid = socket_owner(path, &p);
    pthread_mutex_lock(&rt->lock);
    Run *r = run_get(rt, name);
    if (r && !run_active(r)) {
        r->restart = restart;
        if (pid && run_watch(rt, r, pid, false) == 0) {
            r->power = p;
            r->started_real = 0; /* unknown: it started before this daemon */
            found = true;
        } else if (!r->last_exit) {
            r->last_exit = read_exit_file(rt, name);
        }
    }
    MgmtPower now = r ? r->power : MGMT_POWER_STOPPED;
    pthread_mutex_unlock(&rt->lock);
    if (found) /* a switch restarted while no daemon watched has no port for it */
        replug_vm(rt, name, NULL);
    return now;
}

void mgmt_runtime_replug(MgmtRuntime *rt, const char *network)
{
    char(*names)[MGMT_NAME_MAX + 1] = NULL;
    size_t n = 0;
    if (!rt->nic_hooks || !rt->nic_hooks->replug)
        return;
    pthread_mutex_lock(&rt->lock);
    for (Run *r = rt->runs; r; r = r->next) {
        if (run_active(r) && r->power == MGMT_POWER_STARTING)
            r->replug_started = true; /* its ports may predate the restart: once it answers */
        if (!run_active(r) || r->unplugging ||
            (r->power != MGMT_POWER_RUNNING && r->power != MGMT_POWER_PAUSED))
            continue;
        void *v = realloc(names, (n + 1) * sizeof(*names));
        if (!v)
            break;
        names = v;
        snprintf(names[n++], sizeof(names[0]), "%s", r->name);
    }
    pthread_mutex_unlock(&rt->lock);
    for (size_t i = 0; i < n; i++)
        replug_vm(rt, names[i], network);
    free(names);
}

MgmtPower mgmt_runtime_power(MgmtRuntime *rt, const char *name)
{
    pthread_mutex_lock(&rt->lock);
    Run *r = run_find(rt, name);
    MgmtPower p = r ? r->power : MGMT_POWER_STOPPED;
    pthread_mutex_unlock(&rt->lock);
    return p;
}

bool mgmt_runtime_is_suspended(MgmtRuntime *rt, const char *name)
{
    char path[PATH_MAX];
    return mgmt_runtime_path(rt, name, "suspended.hstate", path, sizeof(path)) == 0 &&
           file_exists(path);
}

void mgmt_runtime_set_restart(MgmtRuntime *rt, const char *name, MgmtRestart restart)
{
    pthread_mutex_lock(&rt->lock);
    Run *r = run_find(rt, name);
    if (r)
        r->restart = restart;
    pthread_mutex_unlock(&rt->lock);
}

/* VmRSS (bytes) and utime + stime (seconds) of pid from /proc; false when gone. */
static bool proc_usage(pid_t pid, long long *rss, double *cpu)
{
    char path[64], buf[1024];
    snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
    FILE *f = fopen(path, "re");
    if (!f)
        return false;
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = '\0';
    char *p = strrchr(buf, ')'); /* the command may hold spaces */
    unsigned long long ut = 0, st = 0;
    long long pages = 0;
    if (!p || sscanf(p + 2,
                     "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu %*d %*d %*d "
                     "%*d %*d %*d %*u %*u %lld",
                     &ut, &st, &pages) != 3)
        return false;
    *cpu = (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
    *rss = pages * sysconf(_SC_PAGESIZE);
    return true;
}

/* Seconds since pid started, from /proc (so a VMM found at daemon start has one too); -1. */
static double proc_age(pid_t pid)
{
    char path[64], buf[1024];
    snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
    FILE *f = fopen(path, "re"), *u = fopen("/proc/uptime", "re");
    size_t n = f ? fread(buf, 1, sizeof(buf) - 1, f) : 0;
    double up = -1;
    if (!u || fscanf(u, "%lf", &up) != 1)
        up = -1;
    if (f)
        fclose(f);
    if (u)
        fclose(u);
    buf[n] = '\0';
    char *p = strrchr(buf, ')');
    unsigned long long start;
    if (!p || up < 0 ||
        sscanf(p + 2,
               "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %*u %*u %*d %*d %*d %*d %*d "
               "%*d %llu",
               &start) != 1)
        return -1;
    double age = up - (double)start / (double)sysconf(_SC_CLK_TCK);
    return age < 0 ? 0 : age;
}

double mgmt_runtime_uptime(MgmtRuntime *rt, const char *name)
{
    pthread_mutex_lock(&rt->lock);
    Run *r = run_find(rt, name);
    pid_t pid = r && run_active(r) ? r->proc.pid : 0;
    pthread_mutex_unlock(&rt->lock);
    return pid ? proc_age(pid) : -1;
}

/* The members of a running VM's state (the lock held). */
static void state_running(const Run *r, json_t *j)
{
    long long rss;
    double cpu;
    json_object_set_new(j, "pid", json_integer(r->proc.pid));
    if (r->started_real > 0) {
        char when[40];
        clock_text(r->started_real, when, sizeof(when));
        json_object_set_new(j, "started_at", json_string(when));
        json_object_set_new(j, "uptime_s", json_real(clock_mono_s() - r->proc.started));
    } else { /* found at daemon start: its process knows */
        double age = proc_age(r->proc.pid);
        if (age >= 0)
            json_object_set_new(j, "uptime_s", json_real(age));
    }
    if (proc_usage(r->proc.pid, &rss, &cpu)) {
        json_object_set_new(j, "memory_rss", json_integer(rss));
        json_object_set_new(j, "cpu_s", json_real(cpu));
    }
}

json_t *mgmt_runtime_state_json(MgmtRuntime *rt, const char *name)
{
    bool suspended = mgmt_runtime_is_suspended(rt, name);
    pthread_mutex_lock(&rt->lock);
    Run *r = run_find(rt, name);
    MgmtPower p = r ? r->power : MGMT_POWER_STOPPED;
    json_t *j = json_pack("{s:s, s:b, s:i, s:s}", "status", mgmt_power_name(p), "suspended",
                          suspended, "restarts", r ? (int)r->restarts : 0, "restart_policy",
                          mgmt_restart_name(r ? r->restart : MGMT_RESTART_NO));
    if (j && r && run_active(r))
        state_running(r, j);
    if (j && r && r->proc.restart_at > 0)
        json_object_set_new(j, "restart_in_s", json_real(r->proc.restart_at - clock_mono_s()));
    if (j)
        json_object_set_new(j, "last_exit",
                            r && r->last_exit ? json_deep_copy(r->last_exit) : json_null());
    pthread_mutex_unlock(&rt->lock);
    return j;
}

/* Remove the plain files of dir, then dir (when empty). */
static void remove_dir_files(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    while (d && (e = readdir(d))) {
        if (e->d_type == DT_REG) {
            char path[PATH_MAX + 256];
            snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
            unlink(path);
        }
    }
    if (d)
        closedir(d);
    rmdir(dir);
}

/* Remove DATA/NAME's files we made and the directory when empty; RUN/NAME likewise. */
static void remove_vm_files(MgmtRuntime *rt, const char *name)
{
    static const char *const files[] = {
        "config.json",  "vmm-config.json", "exit.json",        "vmm.log",
        "console.log",  "console.log.1",   "suspended.hstate", "pid",
        "control.sock", "console.sock",    "vnc.sock"};
    char path[PATH_MAX];
    for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++)
        if (mgmt_runtime_path(rt, name, files[i], path, sizeof(path)) == 0)
            unlink(path);
    if (mgmt_runtime_path(rt, name, "snapshots", path, sizeof(path)) == 0)
        remove_dir_files(path); /* the live snapshots' memory states */
    if (mgmt_runtime_path(rt, name, "", path, sizeof(path)) == 0)
        rmdir(path);
    int n = snprintf(path, sizeof(path), "%s/%s", rt->run_dir, name);
    if (n > 0 && (size_t)n < sizeof(path))
        rmdir(path);
}

int mgmt_runtime_prepare(MgmtRuntime *rt, const char *name, Error *err)
{
    return make_vm_dirs(rt, name, err);
}

/* All of fd into a malloc'd string (*out), or the last line of it into err's message. */
static char *read_all(int fd)
{
    size_t len = 0, cap = 4096;
    char *buf = malloc(cap);
    for (ssize_t n; buf;) {
        if (len + 1 >= cap) {
            char *b = realloc(buf, cap *= 2);
            if (!b) {
                free(buf);
                return NULL;
            }
            buf = b;
        }
        n = read(fd, buf + len, cap - len - 1);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        len += (size_t)n;
    }
    if (buf)
        buf[len] = '\0';
    return buf;
}

int mgmt_runtime_tool(MgmtRuntime *rt, const char *const *args, char **out, Error *err)
{
    char *argv[32];
    int n = 0, pout[2] = {-1, -1}, perr[2] = {-1, -1};
    argv[n++] = rt->vmm_path;
    for (; args[n - 1] && n < 31; n++)
        argv[n] = (char *)args[n - 1];
    argv[n] = NULL;
    if (pipe2(pout, O_CLOEXEC) < 0 || pipe2(perr, O_CLOEXEC) < 0)
        return error_set_errno(err, errno, "cannot make a pipe");
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_adddup2(&fa, pout[1], 1);
    posix_spawn_file_actions_adddup2(&fa, perr[1], 2);
    pid_t pid;
    int rc = posix_spawn(&pid, rt->vmm_path, &fa, NULL, argv, NULL);
    posix_spawn_file_actions_destroy(&fa);
    close(pout[1]);
    close(perr[1]);
    char *text = rc == 0 ? read_all(pout[0]) : NULL; /* stdout first: it is the big one */
    char *errs = rc == 0 ? read_all(perr[0]) : NULL;
    close(pout[0]);
    close(perr[0]);
    int status = 0;
    if (rc == 0)
        while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
        }
    if (rc != 0)
        error_set_errno(err, rc, "cannot run %.200s", rt->vmm_path);
    else if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        char *end = errs ? errs + strlen(errs) : NULL;
        while (end && end > errs && (end[-1] == '\n' || end[-1] == '\r'))
            *--end = '\0';
        const char *line = errs ? strrchr(errs, '\n') : NULL;
        error_set(err, "hostel %s: %s", args[0],
                  line            ? line + 1
                  : errs && *errs ? errs
                                  : "failed without a word");
        rc = -1;
    }
    free(errs);
    if (rc == 0 && out)
        *out = text;
    else
        free(text);
    return rc == 0 ? 0 : -1;
}

int mgmt_runtime_forget(MgmtRuntime *rt, const char *name, Error *err)
{
    pthread_mutex_lock(&rt->lock);
    Run *r = run_find(rt, name);
    if (r && (run_active(r) || r->power != MGMT_POWER_STOPPED)) {
        pthread_mutex_unlock(&rt->lock);
        return error_set(err, "%s is %s", name, mgmt_power_name(r->power));
    }
    if (r) { /* kept (an operation may hold it), as new */
        json_decref(r->last_exit);
        r->last_exit = NULL;
        r->restarts = 0;
        r->proc.restart_at = 0;
        r->proc.backoff_s = 0;
    }
    remove_vm_files(rt, name);
    pthread_mutex_unlock(&rt->lock);
    return 0;
}

/* ---- the supervisor's callbacks (the lock held) ---- */

/* A VMM ended: its cards are unplugged, then its events given (the lock released meanwhile). */
static void on_vmm_ended(void *opaque, MgmtChild *c, const MgmtChildExit *x)
{
    MgmtRuntime *rt = opaque;
    Run *r = container_of(c, Run, proc);
    Pending *ev = NULL;
    size_t nev = 0;
    run_ended(rt, r, x, &ev, &nev);
    bool unplug = r->unplugging;
    pthread_mutex_unlock(&rt->lock);
    if (unplug) { /* runs are never freed while the supervisor runs */
        unplug_machine(rt, r->name);
        pthread_mutex_lock(&rt->lock);
        r->unplugging = false;
        pthread_cond_broadcast(&r->ended);
        pthread_mutex_unlock(&rt->lock);
    }
    pending_deliver(rt, ev, nev);
    pthread_mutex_lock(&rt->lock);
}

static void on_restart_due(void *opaque, MgmtChild *c)
{
    launch_restart(opaque, container_of(c, Run, proc));
}

static const MgmtSupervisorOps vmm_ops = {.ended = on_vmm_ended, .due = on_restart_due};

static int copy_path(char *dst, const char *src, const char *what, Error *err)
{
    if (!src || !*src || strlen(src) >= PATH_MAX)
        return error_set(err, "runtime: %s missing or too long", what);
    memcpy(dst, src, strlen(src) + 1);
    return 0;
}

int mgmt_runtime_new(MgmtRuntime **out, const MgmtRuntimeOptions *opt, Error *err)
{
    MgmtRuntime *rt = calloc(1, sizeof(*rt));
    if (!rt)
        return error_set(err, "out of memory");
    char data[PATH_MAX];
    snprintf(data, sizeof(data), "%s/vmdata", opt->state_dir ? opt->state_dir : "");
    if (copy_path(rt->data_dir, data, "state directory", err) < 0 ||
        copy_path(rt->run_dir, opt->run_dir, "run directory", err) < 0 ||
        copy_path(rt->vmm_path, opt->vmm_path, "VMM path", err) < 0 ||
        make_dir(rt->data_dir, err) < 0 || make_dir(rt->run_dir, err) < 0) {
        free(rt);
        return -1;
    }
    rt->notify = opt->notify;
    rt->notify_ctx = opt->notify_ctx;
    rt->nic_hooks = opt->nic_hooks;
    rt->nic_ctx = opt->nic_ctx;
    rt->max_starting = opt->max_starting ? opt->max_starting : 4;
    rt->ready_timeout_ms = opt->ready_timeout_ms ? opt->ready_timeout_ms : 20000;
    pthread_mutex_init(&rt->lock, NULL);
    pthread_cond_init(&rt->start_slot, NULL);
    pthread_cond_init(&rt->restarted, NULL);
    if (mgmt_supervisor_new(&rt->sup, &rt->lock, &vmm_ops, rt, BACKOFF_MAX_S, err) < 0) {
        pthread_cond_destroy(&rt->start_slot);
        pthread_cond_destroy(&rt->restarted);
        pthread_mutex_destroy(&rt->lock);
        free(rt);
        return -1;
    }
    *out = rt;
    return 0;
}

void mgmt_runtime_free(MgmtRuntime *rt)
{
    if (!rt)
        return;
    mgmt_supervisor_free(rt->sup);
    pthread_mutex_lock(&rt->lock);
    while (rt->restarting)
        pthread_cond_wait(&rt->restarted, &rt->lock);
    pthread_mutex_unlock(&rt->lock);
    while (rt->runs) {
        Run *r = rt->runs;
        rt->runs = r->next;
        if (r->proc.pidfd >= 0)
            close(r->proc.pidfd);
        json_decref(r->last_exit);
        pthread_cond_destroy(&r->ended);
        free(r);
    }
    pthread_cond_destroy(&rt->start_slot);
    pthread_cond_destroy(&rt->restarted);
    pthread_mutex_destroy(&rt->lock);
    free(rt);
}
