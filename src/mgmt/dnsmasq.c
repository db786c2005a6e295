/*
 * dnsmasq for networks with a host tap (dnsmasq.h): its command line, its
 * leases file, and the processes (spawned, found again after a daemon
 * restart, ended; supervisor.c notices one that dies and this file's
 * callbacks restart it with back-off).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/pidfd.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "mgmt/dnsmasq.h"
#include "mgmt/fileio.h"
#include "mgmt/supervisor.h"
#include "util/clocks.h"
#include "util/compiler.h"
#include "util/log.h"

#define BACKOFF_MAX_S 30 /* the longest wait before a restart */
#define READY_S 5        /* a new dnsmasq writes its pid file within */
#define END_WAIT_MS 3000 /* after SIGTERM, then after SIGKILL */

/* ---- the command line ---- */

__attribute__((format(printf, 2, 3))) static bool add_arg(MgmtDnsmasqCmd *c, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(c->text + c->len, sizeof(c->text) - c->len, fmt, ap);
    va_end(ap);
    if (n < 0 || c->len + (size_t)n + 1 > sizeof(c->text) || c->argc >= MGMT_DNSMASQ_ARGS)
        return false;
    c->argv[c->argc++] = c->text + c->len;
    c->argv[c->argc] = NULL;
    c->len += (size_t)n + 1;
    return true;
}

static void ipv4_text(uint32_t a, char out[MGMT_NET_ADDR_TEXT])
{
    snprintf(out, MGMT_NET_ADDR_TEXT, "%u.%u.%u.%u", a >> 24, (a >> 16) & 0xff, (a >> 8) & 0xff,
             a & 0xff);
}

int mgmt_dnsmasq_cmd(const MgmtNetwork *net, const char *program, const char *ifname,
                     const char *leases, const char *pidfile, MgmtDnsmasqCmd *cmd, Error *err)
{
    uint32_t size = 1u << (32 - net->subnet.prefix), mask = ~(size - 1);
    char first[MGMT_NET_ADDR_TEXT], last[MGMT_NET_ADDR_TEXT], m[MGMT_NET_ADDR_TEXT];
    uint32_t count = size - 3; /* .2 to the last before the broadcast */
    ipv4_text(net->subnet.addr + 2, first);
    ipv4_text(net->subnet.addr + size - 2, last);
    ipv4_text(mask, m);
    memset(cmd, 0, sizeof(*cmd));
    bool ok = add_arg(cmd, "%s", program) && add_arg(cmd, "--keep-in-foreground") &&
              add_arg(cmd, "--conf-file=/dev/null") && add_arg(cmd, "--bind-interfaces") &&
              add_arg(cmd, "--interface=%s", ifname) && add_arg(cmd, "--except-interface=lo") &&
              add_arg(cmd, "--strict-order") &&
              add_arg(cmd, "--dhcp-range=%s,%s,%s,%s", first, last, m, MGMT_DNSMASQ_LEASE_TIME) &&
              add_arg(cmd, "--dhcp-lease-max=%u", count > 65536 ? 65536 : count) &&
              add_arg(cmd, "--dhcp-leasefile=%s", leases) &&
              add_arg(cmd, "--pid-file=%s", pidfile) && add_arg(cmd, "--dhcp-authoritative") &&
              add_arg(cmd, "--dhcp-no-override") && add_arg(cmd, "--log-facility=-");
    if (ok && !mgmt_network_host_nat(net)) /* internal: the host is no gateway */
        ok = add_arg(cmd, "--dhcp-option=3");
    if (!ok)
        return error_set(err, "%s: dnsmasq's command line is too long (its paths)", net->name);
    return 0;
}

/* ---- the leases file ---- */

static bool mac_ok(const char *s, char out[18])
{
    if (strlen(s) != 17)
        return false;
    for (int i = 0; i < 17; i++) {
        char c = s[i];
        bool hex = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
        if (i % 3 == 2 ? c != ':' : !hex)
            return false;
        out[i] = (char)(c >= 'A' && c <= 'F' ? c - 'A' + 'a' : c);
    }
    out[17] = '\0';
    return true;
}

static bool hostname_ok(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > 63)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '_' || c == '.'))
            return false;
    }
    return true;
}

/* One line (without its newline) as a lease. */
static bool lease_line(const char *line, size_t len, const MgmtSubnet *subnet, MgmtLease *l)
{
    char buf[256], *field[6], *save = NULL;
    int n = 0;
    if (len >= sizeof(buf))
        return false;
    memcpy(buf, line, len);
    buf[len] = '\0';
    for (char *f = strtok_r(buf, " ", &save); f && n < 6; f = strtok_r(NULL, " ", &save))
        field[n++] = f;
    if (n < 4 || n > 5)
        return false;
    size_t digits = strspn(field[0], "0123456789");
    struct in_addr in;
    if (digits == 0 || digits > 12 || field[0][digits] || !mac_ok(field[1], l->mac) ||
        inet_pton(AF_INET, field[2], &in) != 1)
        return false;
    uint32_t a = ntohl(in.s_addr);
    if (subnet && subnet->prefix && (a & ~((1u << (32 - subnet->prefix)) - 1)) != subnet->addr)
        return false;
    if (strcmp(field[3], "*") != 0 && !hostname_ok(field[3]))
        return false;
    l->expires = strtoll(field[0], NULL, 10);
    ipv4_text(a, l->ipv4);
    snprintf(l->hostname, sizeof(l->hostname), "%s", strcmp(field[3], "*") ? field[3] : "");
    return true;
}

size_t mgmt_leases_parse(const char *text, size_t len, const MgmtSubnet *subnet, MgmtLease *out,
                         size_t max)
{
    size_t n = 0;
    const char *p = text, *end = text + len;
    while (p < end && n < max) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        if (!nl) /* a line cut short (by the cap, or being written): not a lease */
            break;
        if (memchr(p, '\0', (size_t)(nl - p)) == NULL &&
            lease_line(p, (size_t)(nl - p), subnet, &out[n]))
            n++;
        p = nl + 1;
    }
    return n;
}

json_t *mgmt_leases_json(const char *path, const MgmtSubnet *subnet)
{
    json_t *a = json_array();
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
    struct stat st;
    if (!a || fd < 0 || fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
        if (fd >= 0)
            close(fd);
        return a;
    }
    char *text = malloc(MGMT_LEASES_FILE_MAX);
    MgmtLease *leases = calloc(MGMT_LEASES_MAX, sizeof(*leases));
    size_t len = 0;
    while (text && len < MGMT_LEASES_FILE_MAX) {
        ssize_t r = read(fd, text + len, MGMT_LEASES_FILE_MAX - len);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        len += (size_t)r;
    }
    close(fd);
    size_t n = text && leases ? mgmt_leases_parse(text, len, subnet, leases, MGMT_LEASES_MAX) : 0;
    for (size_t i = 0; i < n; i++) {
        char when[32];
        time_t t = (time_t)leases[i].expires;
        struct tm tm;
        gmtime_r(&t, &tm);
        strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
        json_array_append_new(
            a, json_pack("{s:s, s:s, s:o, s:o}", "mac", leases[i].mac, "ipv4", leases[i].ipv4,
                         "hostname",
                         leases[i].hostname[0] ? json_string(leases[i].hostname) : json_null(),
                         "expires", leases[i].expires ? json_string(when) : json_null()));
    }
    free(text);
    free(leases);
    return a;
}

/* ---- the processes ---- */

typedef struct DnsEntry {
    char name[MGMT_NET_NAME_MAX + 1];
    char cmd[MGMT_DNSMASQ_CMD_MAX];
    size_t cmdlen;
    char pidfile[PATH_MAX], log[PATH_MAX];
    MgmtChild proc; /* its dnsmasq (pid 0: none), supervised */
    bool removed;
    unsigned restarts;
    char message[300];
    struct DnsEntry *next;
} DnsEntry;

struct MgmtDnsmasq {
    pthread_mutex_t lock;
    DnsEntry *list;
    MgmtSupervisor *sup;
    MgmtNotifyFn *notify;
    void *notify_ctx;
};

static DnsEntry *find(MgmtDnsmasq *d, const char *name)
{
    for (DnsEntry *e = d->list; e; e = e->next)
        if (strcmp(e->name, name) == 0)
            return e;
    return NULL;
}

/* The pid a pid file names (0: none, or not a number). */
static pid_t read_pidfile(const char *path)
{
    char buf[32];
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0)
        return 0;
    ssize_t n = read(fd, buf, sizeof(buf) - 1);
    close(fd);
    if (n <= 0)
        return 0;
    buf[n] = '\0';
    long v = strtol(buf, NULL, 10);
    return v > 1 && v < (1L << 22) ? (pid_t)v : 0;
}

/* The command line of pid into buf (NUL-separated); its length, 0 when it cannot be read. */
static size_t read_cmdline(pid_t pid, char *buf, size_t size)
{
    char path[64];
    snprintf(path, sizeof(path), "/proc/%d/cmdline", (int)pid);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return 0;
    size_t len = 0;
    for (ssize_t r; len < size; len += (size_t)r)
        if ((r = read(fd, buf + len, size - len)) <= 0)
            break;
    close(fd);
    return len;
}

/* cmdline (len bytes, NUL-separated) holds the argument arg. */
static bool has_arg(const char *cmdline, size_t len, const char *arg)
{
    for (size_t i = 0; i < len; i += strlen(cmdline + i) + 1)
        if (strncmp(cmdline + i, arg, len - i) == 0 && strlen(arg) < len - i)
            return true;
    return false;
}

/* End the process of pidfd: SIGTERM, then SIGKILL. True when it is gone. */
static bool end_pidfd(int pidfd)
{
    struct pollfd p = {.fd = pidfd, .events = POLLIN};
    pidfd_send_signal(pidfd, SIGTERM, NULL, 0);
    if (poll(&p, 1, END_WAIT_MS) > 0)
        return true;
    pidfd_send_signal(pidfd, SIGKILL, NULL, 0);
    return poll(&p, 1, END_WAIT_MS) > 0;
}

/* Take e's pidfd from the supervisor and end its process (the lock held). */
static void end_taken(DnsEntry *e)
{
    int fd = e->proc.pidfd;
    e->proc.pidfd = -1;
    if (end_pidfd(fd) && e->proc.child)
        waitpid(e->proc.pid, NULL, 0);
    close(fd);
    e->proc.pid = 0;
}

/*
 * The dnsmasq e's pid file names, when it runs e's command line (*same
 * set) or another one with the same pid file (ours, with old arguments).
 * Returns its pidfd, or -1 when there is none.
 */
static int find_running(const DnsEntry *e, bool *same, pid_t *pid)
{
    char line[MGMT_DNSMASQ_CMD_MAX], arg[PATH_MAX + 16];
    *same = false;
    *pid = read_pidfile(e->pidfile);
    if (!*pid)
        return -1;
    int fd = pidfd_open(*pid, 0);
    size_t len = fd >= 0 ? read_cmdline(*pid, line, sizeof(line)) : 0;
    snprintf(arg, sizeof(arg), "--pid-file=%s", e->pidfile);
    if (len == 0 || !has_arg(line, len, arg)) {
        if (fd >= 0)
            close(fd);
        return -1;
    }
    *same = len == e->cmdlen && memcmp(line, e->cmd, len) == 0;
    return fd;
}

/* Spawn e's command line (mgmt_spawn: its own session, its output appended to its log); watch it. */
static int spawn(MgmtDnsmasq *d, DnsEntry *e, Error *err)
{
    char *argv[MGMT_DNSMASQ_ARGS + 1];
    unsigned n = 0;
    for (size_t i = 0; i < e->cmdlen && n < MGMT_DNSMASQ_ARGS; i += strlen(e->cmd + i) + 1)
        argv[n++] = e->cmd + i;
    argv[n] = NULL;
    unlink(e->pidfile);
    MgmtSpawn sp = {
        .path = argv[0], .argv = argv, .log = e->log, .hint = " (install dnsmasq-base)"};
    pid_t pid;
    if (mgmt_spawn(&sp, &pid, err) < 0)
        return -1;
    if (mgmt_supervisor_watch(d->sup, &e->proc, pid, -1, true) < 0) {
        int e2 = errno;
        kill(pid, SIGKILL);
        waitpid(pid, NULL, 0);
        return error_set_errno(err, e2, "dnsmasq: pidfd_open");
    }
    return 0;
}

/* e's new dnsmasq has written its pid file: 0; it ended, or did not in time: -1 (reaped). */
static int wait_ready(DnsEntry *e, Error *err)
{
    double deadline = clock_mono_s() + READY_S;
    pid_t pid = e->proc.pid;
    for (;;) {
        if (read_pidfile(e->pidfile) == pid)
            return 0;
        int st;
        if (waitpid(pid, &st, WNOHANG) == pid || clock_mono_s() > deadline) {
            char line[300];
            bool ended = true;
            if (clock_mono_s() > deadline && waitpid(pid, &st, WNOHANG) != pid) {
                ended = false;
                pidfd_send_signal(e->proc.pidfd, SIGKILL, NULL, 0);
                waitpid(pid, &st, 0);
            }
            close(e->proc.pidfd);
            e->proc.pidfd = -1;
            e->proc.pid = 0;
            mgmt_last_line(e->log, line, sizeof(line));
            if (strncmp(line, "--- ", 4) == 0)
                line[0] = '\0';
            if (!ended)
                return error_set(err, "dnsmasq did not write its pid file within %d s", READY_S);
            return error_set(err, "dnsmasq ended at once: %s",
                             line[0] ? line : "(nothing in dnsmasq.log)");
        }
        usleep(20 * 1000);
    }
}

/* The entry of name, made (and supervised) when there is none; NULL if out of memory. */
static DnsEntry *entry_get(MgmtDnsmasq *d, const char *name)
{
    DnsEntry *e = find(d, name);
    if (e || !(e = calloc(1, sizeof(*e))))
        return e;
    snprintf(e->name, sizeof(e->name), "%s", name);
    mgmt_supervisor_add(d->sup, &e->proc);
    e->next = d->list;
    d->list = e;
    return e;
}

int mgmt_dnsmasq_start(MgmtDnsmasq *d, const char *name, const MgmtDnsmasqCmd *cmd,
                       const char *pidfile, const char *log, Error *err)
{
    pthread_mutex_lock(&d->lock);
    DnsEntry *e = entry_get(d, name);
    if (!e) {
        pthread_mutex_unlock(&d->lock);
        return error_set(err, "out of memory");
    }
    bool same = e->proc.pid && !e->removed && e->cmdlen == cmd->len &&
                memcmp(e->cmd, cmd->text, cmd->len) == 0;
    if (same) {
        pthread_mutex_unlock(&d->lock);
        return 0;
    }
    if (e->proc.pidfd >= 0) /* ours, with other arguments: end it (the supervisor lets it go) */
        end_taken(e);
    memcpy(e->cmd, cmd->text, cmd->len);
    e->cmdlen = cmd->len;
    snprintf(e->pidfile, sizeof(e->pidfile), "%s", pidfile);
    snprintf(e->log, sizeof(e->log), "%s", log);
    e->removed = false;
    e->proc.restart_at = 0;
    e->message[0] = '\0';
    pid_t pid;
    int fd = find_running(e, &same, &pid), rc = 0;
    if (fd >= 0 && same) { /* a daemon restart: watch it again */
        mgmt_supervisor_watch(d->sup, &e->proc, pid, fd, false);
    } else {
        if (fd >= 0) {
            log_info("network %s: its dnsmasq (pid %d) runs with other arguments: replaced", name,
                     (int)pid);
            end_pidfd(fd);
            close(fd);
        }
        rc = spawn(d, e, err) < 0 || wait_ready(e, err) < 0 ? -1 : 0;
        if (rc < 0)
            snprintf(e->message, sizeof(e->message), "%.299s", err ? err->msg : "");
    }
    pthread_mutex_unlock(&d->lock);
    return rc;
}

int mgmt_dnsmasq_stop(MgmtDnsmasq *d, const char *name, const char *pidfile, Error *err)
{
    pthread_mutex_lock(&d->lock);
    DnsEntry *e = find(d, name);
    int fd = -1;
    pid_t pid = 0;
    bool child = false;
    if (e) {
        e->removed = true;
        e->proc.restart_at = 0;
        fd = e->proc.pidfd;
        pid = e->proc.pid;
        child = e->proc.child;
        e->proc.pidfd = -1; /* the supervisor lets it go */
        e->proc.pid = 0;
    }
    pthread_mutex_unlock(&d->lock);
    if (fd < 0) { /* none of ours: one a daemon before us started? */
        DnsEntry tmp = {.cmdlen = 0};
        bool same;
        snprintf(tmp.pidfile, sizeof(tmp.pidfile), "%s", pidfile);
        fd = find_running(&tmp, &same, &pid);
        child = false;
    }
    bool gone = fd < 0 || end_pidfd(fd);
    if (fd >= 0 && gone && child)
        waitpid(pid, NULL, 0);
    if (fd >= 0)
        close(fd);
    if (!gone)
        return error_set(err, "network '%s': its dnsmasq (pid %d) does not end", name, (int)pid);
    unlink(pidfile);
    return 0;
}

json_t *mgmt_dnsmasq_state_json(MgmtDnsmasq *d, const char *name)
{
    pthread_mutex_lock(&d->lock);
    DnsEntry *e = find(d, name);
    if (e && e->removed)
        e = NULL;
    const char *status = !e ? "stopped" : e->proc.pid ? "running" : "failed";
    json_t *j = json_pack("{s:s, s:i}", "status", status, "restarts", e ? (int)e->restarts : 0);
    if (j && e && e->proc.pid)
        json_object_set_new(j, "pid", json_integer(e->proc.pid));
    if (j && e && e->message[0])
        json_object_set_new(j, "message", json_string(e->message));
    pthread_mutex_unlock(&d->lock);
    return j;
}

int mgmt_dnsmasq_pid(MgmtDnsmasq *d, const char *name)
{
    pthread_mutex_lock(&d->lock);
    DnsEntry *e = find(d, name);
    int pid = e && !e->removed ? (int)e->proc.pid : 0;
    pthread_mutex_unlock(&d->lock);
    return pid;
}

/* ---- the supervisor's callbacks (the lock held) ---- */

/* The event type about e, with meta (taken): given with the lock released. */
static void dns_notify(MgmtDnsmasq *d, const char *type, const DnsEntry *e, json_t *meta)
{
    char name[MGMT_NET_NAME_MAX + 1];
    if (!d->notify) {
        json_decref(meta);
        return;
    }
    snprintf(name, sizeof(name), "%s", e->name);
    pthread_mutex_unlock(&d->lock);
    d->notify(d->notify_ctx, type, name, meta);
    pthread_mutex_lock(&d->lock);
}

/* A dnsmasq ended on its own: why, a restart planned, the event. */
static void dns_ended(void *opaque, MgmtChild *c, const MgmtChildExit *x)
{
    MgmtDnsmasq *d = opaque;
    DnsEntry *e = container_of(c, DnsEntry, proc);
    char line[300];
    int st = x->wstatus;
    mgmt_last_line(e->log, line, sizeof(line));
    if (x->have_status && WIFSIGNALED(st))
        snprintf(e->message, sizeof(e->message), "killed by signal %d (%s)", WTERMSIG(st),
                 strsignal(WTERMSIG(st)));
    else if (x->have_status && WIFEXITED(st))
        snprintf(e->message, sizeof(e->message), "exited with status %d: %.250s", WEXITSTATUS(st),
                 line);
    else /* started by a daemon before this one: no status */
        snprintf(e->message, sizeof(e->message), "ended (its log's last line: %.250s)", line);
    mgmt_supervisor_plan(d->sup, c, x->ran_s);
    log_warn("network %s: its dnsmasq %s; restarting in %u s", e->name, e->message, c->backoff_s);
    dns_notify(d, "network-dnsmasq-crashed", e,
               json_pack("{s:i, s:s, s:i}", "pid", (int)x->pid, "message", e->message,
                         "restart_in_s", (int)c->backoff_s));
}

/* A planned restart is due: spawn it again (not waited for: one that ends is seen ending). */
static void dns_due(void *opaque, MgmtChild *c)
{
    MgmtDnsmasq *d = opaque;
    DnsEntry *e = container_of(c, DnsEntry, proc);
    Error err = {0};
    if (e->removed || c->pid)
        return;
    e->restarts++;
    if (spawn(d, e, &err) == 0) {
        dns_notify(d, "network-dnsmasq-restarted", e,
                   json_pack("{s:i, s:i}", "pid", (int)c->pid, "restarts", (int)e->restarts));
        return;
    }
    snprintf(e->message, sizeof(e->message), "%.299s", err.msg);
    mgmt_supervisor_plan(d->sup, c, 0);
    log_warn("network %s: %s; trying again in %u s", e->name, err.msg, c->backoff_s);
    dns_notify(d, "network-dnsmasq-restart-failed", e,
               json_pack("{s:s, s:i}", "error", err.msg, "restart_in_s", (int)c->backoff_s));
}

static const MgmtSupervisorOps dns_ops = {.ended = dns_ended, .due = dns_due};

int mgmt_dnsmasq_new(MgmtDnsmasq **out, MgmtNotifyFn *notify, void *notify_ctx, Error *err)
{
    MgmtDnsmasq *d = calloc(1, sizeof(*d));
    if (!d)
        return error_set(err, "out of memory");
    d->notify = notify;
    d->notify_ctx = notify_ctx;
    pthread_mutex_init(&d->lock, NULL);
    if (mgmt_supervisor_new(&d->sup, &d->lock, &dns_ops, d, BACKOFF_MAX_S, err) < 0) {
        pthread_mutex_destroy(&d->lock);
        free(d);
        return -1;
    }
    *out = d;
    return 0;
}

void mgmt_dnsmasq_free(MgmtDnsmasq *d)
{
    if (!d)
        return;
    mgmt_supervisor_free(d->sup);
    while (d->list) {
        DnsEntry *e = d->list;
        d->list = e->next;
        if (e->proc.pidfd >= 0)
            close(e->proc.pidfd);
        free(e);
    }
    pthread_mutex_destroy(&d->lock);
    free(d);
}
