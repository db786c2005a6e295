/*
 * The networks' switch processes (netrun.h): spawning `hostel switch`,
 * finding a switch again after a daemon restart, the supervisor that
 * notices when one dies and restarts it with back-off, stopping one, and
 * control calls to it.  The VM cards on networks are netcard.c's.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
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
#include "mgmt/dnsmasq.h"
#include "mgmt/fileio.h"
#include "mgmt/nethost.h"
#include "mgmt/netroot.h"
#include "mgmt/netrun_int.h"
#include "util/clocks.h"
#include "util/compiler.h"
#include "util/log.h"

#define BACKOFF_MAX_S 30 /* the longest wait before a restart */
#define QUIT_WAIT_S 5    /* after quit, then after SIGKILL */

static const char *const status_names[] = {
    [NR_STOPPED] = "stopped",
    [NR_STARTING] = "starting",
    [NR_RUNNING] = "running",
    [NR_FAILED] = "failed",
};

/* ---- paths and files ---- */

/* NETRUN/NAME/file (file "" for the directory) or DATA/NAME/file (log files) into buf. */
int netrun_path(const MgmtNetRun *nr, const char *name, const char *file, char *buf, size_t size)
{
    const char *dir = strstr(file, ".log") ? nr->data_dir : nr->run_dir;
    int n = snprintf(buf, size, "%s/%s%s%s", dir, name, file[0] ? "/" : "", file);
    return n < 0 || (size_t)n >= size ? -1 : 0;
}

static int make_dir(const char *path, Error *err)
{
    if (mkdir(path, 0750) < 0 && errno != EEXIST)
        return error_set_errno(err, errno, "cannot make %.200s", path);
    return 0;
}

/* NETRUN/NAME and DATA/NAME. */
static int make_dirs(MgmtNetRun *nr, const char *name, Error *err)
{
    char path[PATH_MAX];
    if (netrun_path(nr, name, "", path, sizeof(path)) < 0 ||
        snprintf(path, sizeof(path), "%s/%s", nr->data_dir, name) >= (int)sizeof(path))
        return error_set(err, "%s: a path under the run or state directory is too long", name);
    if (make_dir(path, err) < 0)
        return -1;
    netrun_path(nr, name, "", path, sizeof(path));
    return make_dir(path, err);
}

/* The last line of the switch's log into buf ("" when none). */
static void log_last_line(MgmtNetRun *nr, const char *name, char *buf, size_t size)
{
    char path[PATH_MAX];
    buf[0] = '\0';
    if (netrun_path(nr, name, "switch.log", path, sizeof(path)) == 0)
        mgmt_last_line(path, buf, size);
}

/* The host interface an internal network's switch attaches to. */
void netrun_host_ifname(const char *name, char out[MGMT_NET_IFNAME_MAX])
{
    mgmt_net_ifname("hn", name, "", out);
}

/* A NAT uplink keeps its DHCP leases in NETRUN/NAME/leases (a restarted switch knows them). */
static void keep_leases(const MgmtNetRun *nr, const char *name, json_t *cfg)
{
    char path[PATH_MAX];
    size_t i;
    json_t *u;
    if (netrun_path(nr, name, "leases", path, sizeof(path)) < 0)
        return;
    json_array_foreach(json_object_get(cfg, "uplinks"), i, u)
    {
        const char *kind = json_string_value(json_object_get(u, "kind"));
        if (kind && strcmp(kind, "slirp") == 0)
            json_object_set_new(u, "leases", json_string(path));
    }
}

char *netrun_config_text(const MgmtNetRun *nr, const MgmtNetwork *net)
{
    char ifname[MGMT_NET_IFNAME_MAX];
    netrun_host_ifname(net->name, ifname);
    json_t *cfg = mgmt_network_switch_config(net, ifname);
    if (cfg)
        keep_leases(nr, net->name, cfg);
    char *text = cfg ? json_dumps(cfg, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
    json_decref(cfg);
    return text;
}

/* ---- the list (the lock held) ---- */

NetEntry *netrun_find(MgmtNetRun *nr, const char *name)
{
    for (NetEntry *e = nr->nets; e; e = e->next)
        if (strcmp(e->def.name, name) == 0)
            return e;
    return NULL;
}

static NetEntry *entry_get(MgmtNetRun *nr, const MgmtNetwork *net)
{
    NetEntry *e = netrun_find(nr, net->name);
    if (e)
        return e;
    e = calloc(1, sizeof(*e));
    if (!e)
        return NULL;
    e->def = *net;
    mgmt_supervisor_add(nr->sup, &e->proc);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&e->changed, &ca);
    pthread_condattr_destroy(&ca);
    e->next = nr->nets;
    nr->nets = e;
    return e;
}

/* Take e for a change of its process (start, stop, restart): one at a time. */
static void entry_take(MgmtNetRun *nr, NetEntry *e)
{
    while (e->busy)
        pthread_cond_wait(&e->changed, &nr->lock);
    e->busy = true;
}

static void entry_give(NetEntry *e)
{
    e->busy = false;
    pthread_cond_broadcast(&e->changed);
}

static void notify(MgmtNetRun *nr, const char *type, const char *name, json_t *meta)
{
    if (nr->notify)
        nr->notify(nr->notify_ctx, type, name, meta);
    else
        json_decref(meta);
}

/* ---- control calls ---- */

static int call_path(const char *path, const char *cmd, json_t *args, int fd, json_t **ret,
                     unsigned timeout_ms, Error *err)
{
    ControlConn c;
    if (control_conn_open(&c, path, (int)timeout_ms, err) < 0)
        return -1;
    json_t *reply = control_conn_call_fd(&c, cmd, args, fd, err);
    control_conn_close(&c);
    if (!reply)
        return -1;
    json_t *r = json_object_get(reply, "return");
    if (!r) {
        const char *d = json_string_value(json_object_get(json_object_get(reply, "error"), "desc"));
        error_set(err, "%s: %s", cmd, d ? d : "the switch sent a malformed reply");
        json_decref(reply);
        return -1;
    }
    if (ret)
        *ret = json_incref(r);
    json_decref(reply);
    return 0;
}

int mgmt_netrun_call(MgmtNetRun *nr, const char *name, const char *cmd, json_t *args, int fd,
                     json_t **ret, unsigned timeout_ms, Error *err)
{
    char path[PATH_MAX];
    pthread_mutex_lock(&nr->lock);
    NetEntry *e = netrun_find(nr, name);
    bool up = e && !e->removed && e->proc.pid;
    pthread_mutex_unlock(&nr->lock);
    if (!up)
        return error_set(err, "network '%s' is not running", name);
    if (netrun_path(nr, name, "control.sock", path, sizeof(path)) < 0)
        return error_set(err, "%s: the control socket's path is too long", name);
    return call_path(path, cmd, args, fd, ret, timeout_ms ? timeout_ms : 5000, err);
}

/*
 * Who answers on the control socket at path as the switch of name: its
 * pid (SO_PEERCRED), or 0 when nobody (or another network's switch).
 */
static pid_t switch_owner(const char *path, const char *name)
{
    ControlConn c;
    Error err = {0};
    if (control_conn_open(&c, path, 2000, &err) < 0)
        return 0;
    struct ucred cred;
    socklen_t len = sizeof(cred);
    pid_t pid = getsockopt(c.fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) == 0 ? cred.pid : 0;
    json_t *reply = pid ? control_conn_call(&c, "query-status", NULL, &err) : NULL;
    control_conn_close(&c);
    const char *who = json_string_value(json_object_get(json_object_get(reply, "return"), "name"));
    if (!who || strcmp(who, name) != 0)
        pid = 0;
    json_decref(reply);
    return pid;
}

/* ---- spawning ---- */

/* Spawn `hostel switch` for net in its own session, its output appended to its log. */
static int spawn_switch(MgmtNetRun *nr, const MgmtNetwork *net, pid_t *pid, Error *err)
{
    char cfg[PATH_MAX], ctl[PATH_MAX], pidf[PATH_MAX], log[PATH_MAX];
    if (netrun_path(nr, net->name, "switch.json", cfg, sizeof(cfg)) < 0 ||
        netrun_path(nr, net->name, "control.sock", ctl, sizeof(ctl)) < 0 ||
        netrun_path(nr, net->name, "pid", pidf, sizeof(pidf)) < 0 ||
        netrun_path(nr, net->name, "switch.log", log, sizeof(log)) < 0)
        return error_set(err, "%s: a path under the run or state directory is too long", net->name);
    char *text = netrun_config_text(nr, net);
    int rc = text ? mgmt_write_atomic(cfg, text, strlen(text), 0640, err)
                  : error_set(err, "out of memory");
    free(text);
    if (rc < 0)
        return -1;
    unlink(ctl); /* nobody answers on it: a dead switch's */
    char *argv[] = {nr->vmm_path, "switch",     "--config", cfg, "--control",
                    ctl,          "--pid-file", pidf,       NULL};
    MgmtSpawn sp = {.path = nr->vmm_path, .argv = argv, .log = log};
    return mgmt_spawn(&sp, pid, err);
}

/*
 * Wait (without the lock) until the switch pid answers on its control
 * socket, or ends, or the deadline passes.  Returns 0, or -1 with the
 * reason (its log's last line when it ended).
 */
static int wait_ready(MgmtNetRun *nr, const char *name, pid_t pid, Error *err)
{
    char path[PATH_MAX], line[300];
    double deadline = clock_mono_s() + nr->ready_timeout_ms / 1000.0;
    netrun_path(nr, name, "control.sock", path, sizeof(path));
    for (;;) {
        if (switch_owner(path, name) == pid)
            return 0;
        int st;
        if (waitpid(pid, &st, WNOHANG) == pid) {
            log_last_line(nr, name, line, sizeof(line));
            return error_set(err, "the switch ended at once: %s",
                             line[0] ? line : "(nothing in switch.log)");
        }
        if (clock_mono_s() > deadline) {
            kill(pid, SIGKILL);
            waitpid(pid, &st, 0);
            return error_set(err, "the switch did not answer within %u ms", nr->ready_timeout_ms);
        }
        usleep(20 * 1000);
    }
}

/* Watch pid as e's switch (the lock held). Returns 0, or -1 when it is already gone. */
static int watch(MgmtNetRun *nr, NetEntry *e, pid_t pid, bool child)
{
    if (mgmt_supervisor_watch(nr->sup, &e->proc, pid, -1, child) < 0)
        return -1;
    e->status = NR_RUNNING;
    e->message[0] = '\0';
    return 0;
}

/* The host side of net (an internal network's tap, a bridged network's bridge). */
static int host_side(MgmtNetRun *nr, const MgmtNetwork *net, Error *err)
{
    char marker[PATH_MAX];
    bool made;
    if (mgmt_network_needs_root(net) && geteuid() != 0)
        return error_set(err, "%s needs hosteld to run as root", mgmt_network_root_what(net));
    if (mgmt_network_host_tap(net)) /* the tap, and dnsmasq, nftables (netroot.c) */
        return mgmt_netroot_up(nr, net, err);
    if (net->kind != MGMT_NET_BRIDGED)
        return 0;
    if (nethost_bridge(net->bridge, &made, err) < 0)
        return -1;
    netrun_path(nr, net->name, "bridge-made", marker, sizeof(marker));
    if (made)
        mgmt_write_atomic(marker, net->bridge, strlen(net->bridge), 0640, NULL);
    return 0;
}

/*
 * Start e's switch from e->def (e taken; the lock held, released while
 * waiting): the one that answers already, else a new one.  Returns 0, or
 * -1 with err (e failed).
 */
static int start_taken(MgmtNetRun *nr, NetEntry *e, bool *found, Error *err)
{
    MgmtNetwork net = e->def;
    char path[PATH_MAX];
    pid_t pid = 0;
    *found = false;
    e->status = NR_STARTING;
    pthread_mutex_unlock(&nr->lock);
    int rc = make_dirs(nr, net.name, err);
    if (rc == 0)
        rc = host_side(nr, &net, err);
    if (rc == 0 && mgmt_net_has_switch(net.kind)) {
        netrun_path(nr, net.name, "control.sock", path, sizeof(path));
        pid = switch_owner(path, net.name);
        *found = pid != 0;
        if (!pid && (rc = spawn_switch(nr, &net, &pid, err)) == 0 &&
            (rc = wait_ready(nr, net.name, pid, err)) < 0)
            pid = 0;
    }
    pthread_mutex_lock(&nr->lock);
    if (rc == 0 && pid && watch(nr, e, pid, !*found) < 0)
        rc = error_set(err, "the switch ended before it could be watched");
    if (rc == 0 && !pid)
        e->status = NR_RUNNING; /* bridged: no process */
    if (rc < 0) {
        e->status = NR_FAILED;
        snprintf(e->message, sizeof(e->message), "%.299s", err->msg);
    }
    return rc;
}

/* Is there a switch configuration on disk other than the one net would have? */
static bool config_differs(MgmtNetRun *nr, const MgmtNetwork *net)
{
    char path[PATH_MAX], *text = netrun_config_text(nr, net), *disk = NULL;
    size_t len;
    netrun_path(nr, net->name, "switch.json", path, sizeof(path));
    bool differs =
        text && mgmt_read_file(path, 1 << 20, &disk, &len, NULL) == 0 && strcmp(disk, text) != 0;
    free(text);
    free(disk);
    return differs;
}

/* A new switch runs for name (it had died, or was restarted): tell (the lock held; released meanwhile). */
static void tell_restarted(MgmtNetRun *nr, const char *name)
{
    MgmtNetRestartedFn *fn = nr->restarted;
    void *ctx = nr->restarted_ctx;
    if (!fn)
        return;
    nr->restarted_calls++;
    pthread_mutex_unlock(&nr->lock);
    fn(ctx, name);
    pthread_mutex_lock(&nr->lock);
    if (--nr->restarted_calls == 0)
        pthread_cond_broadcast(&nr->restarted_idle);
}

void mgmt_netrun_on_restarted(MgmtNetRun *nr, MgmtNetRestartedFn *fn, void *ctx)
{
    pthread_mutex_lock(&nr->lock);
    while (nr->restarted_calls)
        pthread_cond_wait(&nr->restarted_idle, &nr->lock);
    nr->restarted = fn;
    nr->restarted_ctx = ctx;
    pthread_mutex_unlock(&nr->lock);
}

int mgmt_netrun_start(MgmtNetRun *nr, const MgmtNetwork *net, Error *err)
{
    pthread_mutex_lock(&nr->lock);
    NetEntry *e = entry_get(nr, net);
    if (!e) {
        pthread_mutex_unlock(&nr->lock);
        return error_set(err, "out of memory");
    }
    entry_take(nr, e);
    e->def = *net;
    e->removed = false;
    e->stopping = false;
    e->pending = false;
    e->proc.restart_at = 0;
    int rc = 0;
    bool found = false;
    if (!e->proc.pid || e->status != NR_RUNNING)
        rc = start_taken(nr, e, &found, err);
    if (rc < 0)
        mgmt_supervisor_plan(nr->sup, &e->proc, 0);
    Error ferr = {0};
    if (found && config_differs(nr, net) && netrun_forwards_live(nr, e, &ferr) != 0)
        e->pending = true; /* changed while the daemon was away: wait for the VMs */
    if (ferr.msg[0])
        log_warn("network %s: its forwards wait: %s", net->name, ferr.msg);
    json_t *meta = rc == 0 && e->proc.pid
                       ? json_pack("{s:i, s:b}", "pid", (int)e->proc.pid, "attached", found)
                       : NULL;
    entry_give(e);
    pthread_mutex_unlock(&nr->lock);
    if (meta)
        notify(nr, "network-started", net->name, meta);
    if (meta && !found) { /* a new switch: running VMs' cards on it need ports */
        pthread_mutex_lock(&nr->lock);
        tell_restarted(nr, net->name);
        pthread_mutex_unlock(&nr->lock);
    }
    return rc;
}

/* ---- stop ---- */

/* Wait (the lock held) up to seconds for e's switch to be gone. True when it is. */
static bool wait_gone(MgmtNetRun *nr, NetEntry *e, double seconds)
{
    struct timespec until;
    clock_gettime(CLOCK_MONOTONIC, &until);
    until.tv_sec += (time_t)seconds;
    while (e->proc.pid)
        if (pthread_cond_timedwait(&e->changed, &nr->lock, &until) == ETIMEDOUT)
            return e->proc.pid == 0;
    return true;
}

/* Quit e's switch, then kill it (e taken, the lock held). True when it is gone. */
static bool end_switch(MgmtNetRun *nr, NetEntry *e)
{
    char path[PATH_MAX];
    Error err = {0};
    if (!e->proc.pid)
        return true;
    netrun_path(nr, e->def.name, "control.sock", path, sizeof(path));
    pthread_mutex_unlock(&nr->lock);
    call_path(path, "quit", NULL, -1, NULL, 2000, &err);
    pthread_mutex_lock(&nr->lock);
    if (wait_gone(nr, e, QUIT_WAIT_S))
        return true;
    if (e->proc.pidfd >= 0)
        pidfd_send_signal(e->proc.pidfd, SIGKILL, NULL, 0);
    return wait_gone(nr, e, QUIT_WAIT_S);
}

/* Remove what start made on the host and in NETRUN (and the log when purge). */
static void remove_files(MgmtNetRun *nr, const MgmtNetwork *net, bool purge)
{
    static const char *const files[] = {"switch.json", "control.sock", "pid",
                                        "bridge-made", "leases",       "leases.tmp"};
    char path[PATH_MAX], ifname[MGMT_NET_IFNAME_MAX];
    Error err = {0};
    mgmt_netroot_down(nr, net, purge); /* dnsmasq, the nft table */
    if (mgmt_network_host_tap(net)) {
        netrun_host_ifname(net->name, ifname);
        if (nethost_delete(ifname, &err) < 0)
            log_warn("network %s: %s", net->name, err.msg);
    }
    netrun_path(nr, net->name, "bridge-made", path, sizeof(path));
    if (net->kind == MGMT_NET_BRIDGED && access(path, F_OK) == 0 &&
        nethost_delete(net->bridge, &err) < 0)
        log_warn("network %s: %s", net->name, err.msg);
    for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++)
        if (netrun_path(nr, net->name, files[i], path, sizeof(path)) == 0)
            unlink(path);
    if (netrun_path(nr, net->name, "", path, sizeof(path)) == 0)
        rmdir(path);
    if (purge && netrun_path(nr, net->name, "switch.log", path, sizeof(path)) == 0) {
        unlink(path);
        *strrchr(path, '/') = '\0';
        rmdir(path);
    }
}

int mgmt_netrun_stop(MgmtNetRun *nr, const char *name, bool purge, Error *err)
{
    pthread_mutex_lock(&nr->lock);
    NetEntry *e = netrun_find(nr, name);
    if (!e) {
        pthread_mutex_unlock(&nr->lock);
        return 0;
    }
    entry_take(nr, e);
    e->stopping = true;
    e->proc.restart_at = 0;
    bool gone = end_switch(nr, e);
    if (gone) {
        e->status = NR_STOPPED;
        e->removed = true;
        MgmtNetwork def = e->def;
        pthread_mutex_unlock(&nr->lock);
        remove_files(nr, &def, purge);
        pthread_mutex_lock(&nr->lock);
    }
    pid_t pid = e->proc.pid;
    entry_give(e);
    pthread_mutex_unlock(&nr->lock);
    if (!gone)
        return error_set(err, "network '%s': its switch (pid %d) does not end", name, (int)pid);
    notify(nr, "network-stopped", name, NULL);
    return 0;
}

/* ---- update ---- */

/* Restart e's switch with e->def (e taken, the lock held). Returns 0 or -1. */
static int restart_taken(MgmtNetRun *nr, NetEntry *e, Error *err)
{
    bool found;
    e->stopping = true;
    if (!end_switch(nr, e))
        return error_set(err, "network '%s': its switch does not end", e->def.name);
    e->stopping = false;
    e->pending = false;
    int rc = start_taken(nr, e, &found, err);
    if (rc < 0)
        mgmt_supervisor_plan(nr->sup, &e->proc, 0);
    return rc;
}

/* The number of VM ports on the switch at path (-1 when it does not answer). */
static int vm_ports(const char *path)
{
    json_t *ret = NULL;
    Error err = {0};
    if (call_path(path, "query-ports", NULL, -1, &ret, 2000, &err) < 0)
        return -1;
    size_t i, n = 0;
    json_t *p;
    json_array_foreach(json_object_get(ret, "ports"), i, p)
    {
        n += json_is_string(json_object_get(p, "kind")) &&
             strcmp(json_string_value(json_object_get(p, "kind")), "vm") == 0;
    }
    json_decref(ret);
    return (int)n;
}

/* Apply e's pending change when no VM port is left on its switch (e taken, the lock held). */
static int apply_if_free(MgmtNetRun *nr, NetEntry *e, bool *pending, Error *err)
{
    char path[PATH_MAX];
    netrun_path(nr, e->def.name, "control.sock", path, sizeof(path));
    pthread_mutex_unlock(&nr->lock);
    int ports = vm_ports(path);
    pthread_mutex_lock(&nr->lock);
    *pending = ports != 0 && e->proc.pid;
    e->pending = *pending;
    if (*pending)
        return 0;
    json_t *meta = NULL;
    int rc = restart_taken(nr, e, err);
    if (rc == 0 && e->proc.pid)
        meta = json_pack("{s:i, s:s}", "pid", (int)e->proc.pid, "why", "its configuration changed");
    if (meta) {
        MgmtNetwork def = e->def;
        pthread_mutex_unlock(&nr->lock);
        notify(nr, "network-started", def.name, meta);
        pthread_mutex_lock(&nr->lock);
        tell_restarted(nr, def.name);
    }
    return rc;
}

int mgmt_netrun_update(MgmtNetRun *nr, const MgmtNetwork *net, bool *pending, Error *err)
{
    *pending = false;
    pthread_mutex_lock(&nr->lock);
    NetEntry *e = netrun_find(nr, net->name);
    if (!e || e->removed) {
        pthread_mutex_unlock(&nr->lock);
        return 0;
    }
    entry_take(nr, e);
    char *before = netrun_config_text(nr, &e->def), *after = netrun_config_text(nr, net);
    bool changed = !before || !after || strcmp(before, after) != 0 || e->pending;
    free(before);
    free(after);
    MgmtNetwork *old = malloc(sizeof(*old));
    if (old)
        *old = e->def;
    e->def = *net;
    int rc = 0, live = 1;
    if (changed && mgmt_net_has_switch(net->kind) && old) /* forwards alone: set live */
        live = netrun_forwards_live(nr, e, err);
    if (live == -EBUSY) { /* refused, nothing changed */
        e->def = *old;
        rc = -EBUSY;
    } else if (live != 0 && changed && mgmt_net_has_switch(net->kind)) {
        rc = apply_if_free(nr, e, pending, err);
    } else if (live == 0) {
        e->pending = false;
    }
    free(old);
    entry_give(e);
    pthread_mutex_unlock(&nr->lock);
    return rc;
}

/* A VM left the network: a pending change is applied once no VM is on it. */
void netrun_vm_left(MgmtNetRun *nr, const char *name)
{
    Error err = {0};
    bool pending;
    pthread_mutex_lock(&nr->lock);
    NetEntry *e = netrun_find(nr, name);
    if (e && !e->removed && e->pending) {
        entry_take(nr, e);
        if (e->pending && apply_if_free(nr, e, &pending, &err) < 0)
            log_warn("network %s: cannot apply its change: %s", name, err.msg);
        entry_give(e);
    }
    pthread_mutex_unlock(&nr->lock);
}

/* ---- state ---- */

const char *mgmt_netrun_status(MgmtNetRun *nr, const char *name)
{
    pthread_mutex_lock(&nr->lock);
    NetEntry *e = netrun_find(nr, name);
    const char *s = status_names[e && !e->removed ? e->status : NR_STOPPED];
    pthread_mutex_unlock(&nr->lock);
    return s;
}

json_t *mgmt_netrun_state_json(MgmtNetRun *nr, const char *name)
{
    pthread_mutex_lock(&nr->lock);
    NetEntry *e = netrun_find(nr, name);
    if (e && e->removed)
        e = NULL;
    json_t *j = json_pack("{s:s, s:i, s:b}", "status", status_names[e ? e->status : NR_STOPPED],
                          "restarts", e ? (int)e->restarts : 0, "pending", e && e->pending);
    if (j && e && e->proc.pid)
        json_object_set_new(j, "pid", json_integer(e->proc.pid));
    if (j && e && e->message[0])
        json_object_set_new(j, "message", json_string(e->message));
    if (j && e && e->proc.restart_at > 0)
        json_object_set_new(j, "restart_in_s", json_real(e->proc.restart_at - clock_mono_s()));
    pthread_mutex_unlock(&nr->lock);
    return j;
}

/* ---- the supervisor's callbacks (the lock held) ---- */

/* e's switch is gone: record it, wake waiters, plan a restart; the event (NULL: none). */
static json_t *switch_ended(MgmtNetRun *nr, NetEntry *e, const MgmtChildExit *x)
{
    int st = x->wstatus;
    bool have = x->have_status;
    pthread_cond_broadcast(&e->changed);
    if (e->stopping) {
        e->status = NR_STOPPED;
        return NULL;
    }
    char line[300], msg[400];
    log_last_line(nr, e->def.name, line, sizeof(line));
    if (strncmp(line, "--- ", 4) == 0) /* our own start line: it said nothing */
        line[0] = '\0';
    if (have && WIFSIGNALED(st))
        snprintf(msg, sizeof(msg), "killed by signal %d (%s)", WTERMSIG(st),
                 strsignal(WTERMSIG(st)));
    else if (have && WIFEXITED(st))
        snprintf(msg, sizeof(msg), "exited with status %d: %s", WEXITSTATUS(st),
                 line[0] ? line : "(nothing in switch.log)");
    else
        snprintf(msg, sizeof(msg), "ended%s%s", line[0] ? ": " : " without a word (killed?)", line);
    e->status = NR_FAILED;
    snprintf(e->message, sizeof(e->message), "%.299s", msg);
    mgmt_supervisor_plan(nr->sup, &e->proc, x->ran_s);
    log_warn("network %s: its switch %s; restarting in %u s (the VMs on it have no link until "
             "then)",
             e->def.name, msg, e->proc.backoff_s);
    return json_pack("{s:s, s:i}", "message", msg, "restart_in_s", (int)e->proc.backoff_s);
}

static void on_switch_ended(void *opaque, MgmtChild *c, const MgmtChildExit *x)
{
    MgmtNetRun *nr = opaque;
    NetEntry *e = container_of(c, NetEntry, proc);
    char name[MGMT_NET_NAME_MAX + 1];
    if (e->stopping) { /* mgmt_netrun_stop or a restart waits for it */
        switch_ended(nr, e, x);
        return;
    }
    json_t *meta = switch_ended(nr, e, x);
    snprintf(name, sizeof(name), "%s", e->def.name);
    pthread_mutex_unlock(&nr->lock);
    notify(nr, "network-crashed", name, meta);
    pthread_mutex_lock(&nr->lock);
}

/* A planned restart is due (released while the switch starts). */
static void on_restart_due(void *opaque, MgmtChild *c)
{
    MgmtNetRun *nr = opaque;
    NetEntry *e = container_of(c, NetEntry, proc);
    Error err = {0};
    bool found;
    if (e->removed || e->stopping || e->proc.pid)
        return;
    if (e->busy) { /* a start or change is under way: look again in a second */
        e->proc.restart_at = clock_mono_s() + 1;
        return;
    }
    entry_take(nr, e);
    e->restarts++;
    e->pending = false;
    int rc = start_taken(nr, e, &found, &err);
    if (rc < 0)
        mgmt_supervisor_plan(nr->sup, &e->proc, 0);
    json_t *meta =
        rc == 0 ? json_pack("{s:i, s:i}", "pid", (int)e->proc.pid, "restarts", e->restarts)
                : json_pack("{s:s, s:i}", "error", err.msg, "restart_in_s", (int)e->proc.backoff_s);
    char name[MGMT_NET_NAME_MAX + 1];
    snprintf(name, sizeof(name), "%s", e->def.name);
    entry_give(e);
    pthread_mutex_unlock(&nr->lock);
    notify(nr, rc == 0 ? "network-started" : "network-restart-failed", name, meta);
    pthread_mutex_lock(&nr->lock);
    if (rc == 0) /* the VMs on it get their ports back */
        tell_restarted(nr, name);
}

static const MgmtSupervisorOps switch_ops = {.ended = on_switch_ended, .due = on_restart_due};

int mgmt_netrun_new(MgmtNetRun **out, const MgmtNetRunOptions *opt, Error *err)
{
    MgmtNetRun *nr = calloc(1, sizeof(*nr));
    if (!nr)
        return error_set(err, "out of memory");
    int a = snprintf(nr->data_dir, sizeof(nr->data_dir), "%s/netdata",
                     opt->state_dir ? opt->state_dir : "");
    int b = snprintf(nr->run_dir, sizeof(nr->run_dir), "%s", opt->run_dir ? opt->run_dir : "");
    int c = snprintf(nr->vmm_path, sizeof(nr->vmm_path), "%s", opt->vmm_path ? opt->vmm_path : "");
    if (a < 0 || b <= 0 || c <= 0 || (size_t)a >= sizeof(nr->data_dir) ||
        (size_t)b >= sizeof(nr->run_dir) || (size_t)c >= sizeof(nr->vmm_path)) {
        free(nr);
        return error_set(err, "netrun: a directory or the hostel path is missing or too long");
    }
    if (make_dir(nr->data_dir, err) < 0 || make_dir(nr->run_dir, err) < 0) {
        free(nr);
        return -1;
    }
    nr->ready_timeout_ms = opt->ready_timeout_ms ? opt->ready_timeout_ms : 10000;
    nr->notify = opt->notify;
    nr->notify_ctx = opt->notify_ctx;
    if (mgmt_dnsmasq_new(&nr->dns, nr->notify, nr->notify_ctx, err) < 0) {
        free(nr);
        return -1;
    }
    pthread_mutex_init(&nr->lock, NULL);
    pthread_cond_init(&nr->restarted_idle, NULL);
    if (mgmt_supervisor_new(&nr->sup, &nr->lock, &switch_ops, nr, BACKOFF_MAX_S, err) < 0) {
        mgmt_dnsmasq_free(nr->dns);
        pthread_cond_destroy(&nr->restarted_idle);
        pthread_mutex_destroy(&nr->lock);
        free(nr);
        return -1;
    }
    *out = nr;
    return 0;
}

void mgmt_netrun_free(MgmtNetRun *nr)
{
    if (!nr)
        return;
    mgmt_supervisor_free(nr->sup);
    while (nr->nets) {
        NetEntry *e = nr->nets;
        nr->nets = e->next;
        if (e->proc.pidfd >= 0)
            close(e->proc.pidfd);
        pthread_cond_destroy(&e->changed);
        free(e);
    }
    mgmt_dnsmasq_free(nr->dns);
    pthread_cond_destroy(&nr->restarted_idle);
    pthread_mutex_destroy(&nr->lock);
    free(nr);
}
