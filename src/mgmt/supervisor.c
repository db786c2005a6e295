/*
 * hosteld's child processes (supervisor.h): the spawn, and the supervisor:
 * its list, its thread's turns (poll, then what ended, then what is due)
 * and the back-off.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <sys/pidfd.h>
#include <sys/wait.h>
#include <unistd.h>

#include "mgmt/supervisor.h"
#include "util/clocks.h"

#define IDLE_MS 1000 /* the longest poll when nothing is planned */
#define OOM_MS 100   /* the next look when the poll set could not grow */

struct MgmtSupervisor {
    pthread_mutex_t *lock; /* the owner's: over everything below but the thread's own */
    const MgmtSupervisorOps *ops;
    void *opaque;
    unsigned backoff_max_s;
    MgmtChild *children;
    MgmtChild *calling;  /* the child of the callback under way, or NULL */
    pthread_cond_t idle; /* broadcast when calling clears */
    int wake_fd;         /* eventfd: look again */
    bool stop;
    pthread_t thread;
    struct pollfd *fds; /* the thread's own: the wake eventfd, then the pidfds */
    size_t cap;
};

unsigned mgmt_backoff_next(unsigned last_s, double ran_s, unsigned max_s)
{
    if (ran_s >= MGMT_BACKOFF_RESET_S || last_s == 0)
        return 1;
    return last_s * 2 > max_s ? max_s : last_s * 2;
}

/* One line in the log (fd) saying what is started. */
static void log_start_line(int fd, char *const *argv)
{
    char when[CLOCK_TEXT_MAX];
    clock_text(clock_real_s(), when, sizeof(when));
    dprintf(fd, "--- %s hosteld starts:", when);
    for (char *const *a = argv; *a; a++)
        dprintf(fd, " %s", *a);
    dprintf(fd, "\n");
}

int mgmt_spawn(const MgmtSpawn *sp, pid_t *pid, Error *err)
{
    int logfd = open(sp->log, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
    if (logfd < 0)
        return error_set_errno(err, errno, "cannot open %.200s", sp->log);
    log_start_line(logfd, sp->argv);
    posix_spawn_file_actions_t fa;
    posix_spawnattr_t at;
    sigset_t none, deflt;
    sigemptyset(&none);
    sigfillset(&deflt);
    sigdelset(&deflt, SIGKILL);
    sigdelset(&deflt, SIGSTOP);
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_adddup2(&fa, logfd, 1);
    posix_spawn_file_actions_adddup2(&fa, logfd, 2);
    for (size_t i = 0; i < sp->nfds; i++)
        if (sp->fds[i] >= 0)
            posix_spawn_file_actions_adddup2(&fa, sp->fds[i], 3 + (int)i);
    posix_spawnattr_init(&at);
    posix_spawnattr_setflags(&at,
                             POSIX_SPAWN_SETSID | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
    posix_spawnattr_setsigmask(&at, &none);
    posix_spawnattr_setsigdefault(&at, &deflt);
    int rc = posix_spawn(pid, sp->path, &fa, &at, sp->argv, NULL);
    posix_spawn_file_actions_destroy(&fa);
    posix_spawnattr_destroy(&at);
    close(logfd);
    if (rc != 0)
        return error_set_errno(err, rc, "cannot start %.200s%s", sp->path,
                               sp->hint ? sp->hint : "");
    return 0;
}

void mgmt_supervisor_wake(MgmtSupervisor *s)
{
    uint64_t one = 1;
    if (write(s->wake_fd, &one, sizeof(one)) < 0) { /* a full counter: it is awake anyway */
    }
}

void mgmt_supervisor_add(MgmtSupervisor *s, MgmtChild *c)
{
    *c = (MgmtChild){.pidfd = -1, .next = s->children};
    s->children = c;
}

void mgmt_supervisor_remove(MgmtSupervisor *s, MgmtChild *c)
{
    for (MgmtChild **p = &s->children; *p; p = &(*p)->next) {
        if (*p == c) {
            *p = c->next;
            break;
        }
    }
    while (s->calling == c && !pthread_equal(pthread_self(), s->thread))
        pthread_cond_wait(&s->idle, s->lock);
}

int mgmt_supervisor_watch(MgmtSupervisor *s, MgmtChild *c, pid_t pid, int pidfd, bool child)
{
    if (pidfd < 0 && (pidfd = pidfd_open(pid, 0)) < 0)
        return -1;
    c->pid = pid;
    c->pidfd = pidfd;
    c->child = child;
    c->started = clock_mono_s();
    mgmt_supervisor_wake(s);
    return 0;
}

void mgmt_supervisor_plan(MgmtSupervisor *s, MgmtChild *c, double ran_s)
{
    c->backoff_s = mgmt_backoff_next(c->backoff_s, ran_s, s->backoff_max_s);
    c->restart_at = clock_mono_s() + c->backoff_s;
    mgmt_supervisor_wake(s);
}

/* ---- the thread ---- */

/* The poll set and its timeout (the lock held). Returns how many fds, 0 when stopping. */
static size_t poll_set(MgmtSupervisor *s, int *timeout_ms)
{
    size_t want = 1, n = 1;
    for (MgmtChild *c = s->children; c; c = c->next)
        want += c->pidfd >= 0;
    if (want > s->cap) {
        struct pollfd *f = realloc(s->fds, want * sizeof(*f));
        if (f) {
            s->fds = f;
            s->cap = want;
        }
    }
    s->fds[0] = (struct pollfd){.fd = s->wake_fd, .events = POLLIN};
    double next = -1, now = clock_mono_s();
    for (MgmtChild *c = s->children; c; c = c->next) {
        if (c->pidfd >= 0 && n < s->cap)
            s->fds[n++] = (struct pollfd){.fd = c->pidfd, .events = POLLIN};
        if (c->restart_at > 0 && (next < 0 || c->restart_at < next))
            next = c->restart_at;
    }
    *timeout_ms = next < 0 ? IDLE_MS : next <= now ? 0 : (int)((next - now) * 1000) + 1;
    bool short_of_memory = n < want; /* the rest at the next turn, soon */
    if (short_of_memory && *timeout_ms > OOM_MS)
        *timeout_ms = OOM_MS;
    return n;
}

/* The process behind pidfd has ended (its pidfd reads). */
static bool has_ended(int pidfd)
{
    struct pollfd p = {.fd = pidfd, .events = POLLIN};
    return poll(&p, 1, 0) > 0 && (p.revents & POLLIN);
}

/* The listed child whose pidfd is fd and whose process has ended, or NULL. */
static MgmtChild *ended_child(MgmtSupervisor *s, int fd)
{
    for (MgmtChild *c = s->children; c; c = c->next)
        if (c->pidfd == fd)
            return has_ended(fd) ? c : NULL;
    return NULL;
}

static void call_ended(MgmtSupervisor *s, MgmtChild *c)
{
    MgmtChildExit x = {.pid = c->pid, .ran_s = clock_mono_s() - c->started};
    x.have_status = c->child && waitpid(c->pid, &x.wstatus, WNOHANG) == c->pid;
    close(c->pidfd);
    c->pidfd = -1;
    c->pid = 0;
    s->calling = c;
    s->ops->ended(s->opaque, c, &x);
    s->calling = NULL;
    pthread_cond_broadcast(&s->idle);
}

/* The restarts due by now, each called once (the lock held, released by the callbacks). */
static void call_due(MgmtSupervisor *s)
{
    double now = clock_mono_s();
    for (MgmtChild *c = s->children; c; c = c->next)
        c->due = c->restart_at > 0 && c->restart_at <= now;
    for (;;) {
        MgmtChild *c = s->children;
        while (c && !c->due)
            c = c->next;
        if (!c || s->stop)
            return;
        c->due = false;
        c->restart_at = 0;
        s->calling = c;
        s->ops->due(s->opaque, c);
        s->calling = NULL;
        pthread_cond_broadcast(&s->idle);
    }
}

static void *supervise(void *opaque)
{
    MgmtSupervisor *s = opaque;
    pthread_mutex_lock(s->lock);
    while (!s->stop) {
        int timeout;
        size_t n = poll_set(s, &timeout);
        pthread_mutex_unlock(s->lock);
        if (poll(s->fds, n, timeout) > 0 && s->fds[0].revents) {
            uint64_t v;
            if (read(s->wake_fd, &v, sizeof(v)) < 0) { /* EAGAIN: drained already */
            }
        }
        pthread_mutex_lock(s->lock);
        for (size_t i = 1; i < n && !s->stop; i++) {
            MgmtChild *c = s->fds[i].revents ? ended_child(s, s->fds[i].fd) : NULL;
            if (c)
                call_ended(s, c);
        }
        call_due(s);
    }
    pthread_mutex_unlock(s->lock);
    return NULL;
}

int mgmt_supervisor_new(MgmtSupervisor **out, pthread_mutex_t *lock, const MgmtSupervisorOps *ops,
                        void *opaque, unsigned backoff_max_s, Error *err)
{
    MgmtSupervisor *s = calloc(1, sizeof(*s));
    struct pollfd *fds = calloc(1, sizeof(*fds));
    if (!s || !fds) {
        free(s);
        free(fds);
        return error_set(err, "out of memory");
    }
    *s = (MgmtSupervisor){.lock = lock,
                          .ops = ops,
                          .opaque = opaque,
                          .fds = fds,
                          .cap = 1,
                          .backoff_max_s = backoff_max_s};
    s->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    pthread_cond_init(&s->idle, NULL);
    int rc = s->wake_fd < 0 ? errno : pthread_create(&s->thread, NULL, supervise, s);
    if (rc != 0) {
        if (s->wake_fd >= 0)
            close(s->wake_fd);
        pthread_cond_destroy(&s->idle);
        free(s->fds);
        free(s);
        return error_set_errno(err, rc, "cannot start a supervisor thread");
    }
    *out = s;
    return 0;
}

void mgmt_supervisor_free(MgmtSupervisor *s)
{
    if (!s)
        return;
    pthread_mutex_lock(s->lock);
    s->stop = true;
    mgmt_supervisor_wake(s);
    pthread_mutex_unlock(s->lock);
    pthread_join(s->thread, NULL);
    close(s->wake_fd);
    pthread_cond_destroy(&s->idle);
    free(s->fds);
    free(s);
}
