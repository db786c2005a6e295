/*
 * The supervisor of hosteld's child processes (src/mgmt/supervisor.c) on
 * its own: the back-off, a watched process's end (with its status), a
 * restart that comes due, the wake when a process is watched, a child
 * removed or re-watched while its old process runs, and a removal that
 * waits for a callback under way; and mgmt_spawn (its session, its log,
 * the descriptors it hands over).  Children are /bin/sh and /bin/sleep.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "mgmt/fileio.h"
#include "mgmt/supervisor.h"
#include "tap.h"
#include "util/clocks.h"
#include "util/compiler.h"

extern char **environ;

/* An owner: one mutex, two children, what the callbacks saw. */
typedef struct Owner {
    pthread_mutex_t lock;
    pthread_cond_t changed;
    MgmtSupervisor *sup;
    MgmtChild a, b;
    int ended, due;          /* callbacks so far */
    MgmtChild *last;         /* the child of the last callback */
    MgmtChildExit exit;      /* the last ended's */
    double ended_at, due_at; /* monotonic s of the last of each */
    double hold_s;           /* a callback releases the lock and sleeps this long */
    bool in_callback;
} Owner;

static void hold(Owner *o)
{
    if (o->hold_s <= 0)
        return;
    o->in_callback = true;
    pthread_mutex_unlock(&o->lock);
    usleep((useconds_t)(o->hold_s * 1e6));
    pthread_mutex_lock(&o->lock);
    o->in_callback = false;
}

static void on_ended(void *opaque, MgmtChild *c, const MgmtChildExit *x)
{
    Owner *o = opaque;
    o->ended++;
    o->last = c;
    o->exit = *x;
    o->ended_at = clock_mono_s();
    pthread_cond_broadcast(&o->changed);
    hold(o);
}

static void on_due(void *opaque, MgmtChild *c)
{
    Owner *o = opaque;
    o->due++;
    o->last = c;
    o->due_at = clock_mono_s();
    pthread_cond_broadcast(&o->changed);
}

static const MgmtSupervisorOps ops = {.ended = on_ended, .due = on_due};

static void owner_init(Owner *o)
{
    memset(o, 0, sizeof(*o));
    pthread_mutex_init(&o->lock, NULL);
    pthread_cond_init(&o->changed, NULL);
    Error err = {0};
    if (mgmt_supervisor_new(&o->sup, &o->lock, &ops, o, 30, &err) < 0) {
        printf("Bail out! %s\n", err.msg);
        exit(1);
    }
    pthread_mutex_lock(&o->lock);
    mgmt_supervisor_add(o->sup, &o->a);
    mgmt_supervisor_add(o->sup, &o->b);
    pthread_mutex_unlock(&o->lock);
}

static void owner_free(Owner *o)
{
    mgmt_supervisor_free(o->sup);
    if (o->a.pidfd >= 0)
        close(o->a.pidfd);
    if (o->b.pidfd >= 0)
        close(o->b.pidfd);
    pthread_cond_destroy(&o->changed);
    pthread_mutex_destroy(&o->lock);
}

/* Wait (the lock held) up to seconds for *count to exceed was. True when it did. */
static bool wait_count(Owner *o, const int *count, int was, double seconds)
{
    double until = clock_mono_s() + seconds;
    while (*count <= was && clock_mono_s() < until) {
        pthread_mutex_unlock(&o->lock);
        usleep(10 * 1000);
        pthread_mutex_lock(&o->lock);
    }
    return *count > was;
}

/* /bin/sh -c script, as a child. */
static pid_t spawn_sh(const char *script)
{
    char *argv[] = {"/bin/sh", "-c", (char *)script, NULL};
    pid_t pid;
    return posix_spawn(&pid, argv[0], NULL, NULL, argv, environ) == 0 ? pid : -1;
}

static void test_backoff(void)
{
    unsigned b = 0, seen[8];
    for (int i = 0; i < 8; i++)
        seen[i] = b = mgmt_backoff_next(b, 0.5, 60);
    ok(seen[0] == 1 && seen[1] == 2 && seen[2] == 4 && seen[3] == 8 && seen[5] == 32 &&
           seen[6] == 60 && seen[7] == 60,
       "back-off 1, 2, 4, 8... capped at 60 (%u %u %u %u %u %u %u)", seen[0], seen[1], seen[2],
       seen[3], seen[5], seen[6], seen[7]);
    ok(mgmt_backoff_next(16, 20, 30) == 30, "capped at the maximum given (30)");
    ok(mgmt_backoff_next(16, MGMT_BACKOFF_RESET_S, 30) == 1, "a run of %d s starts it afresh",
       MGMT_BACKOFF_RESET_S);
    ok(mgmt_backoff_next(16, MGMT_BACKOFF_RESET_S - 1, 60) == 32, "a shorter run does not");
}

static void test_end_and_status(void)
{
    Owner o;
    owner_init(&o);
    pid_t pid = spawn_sh("sleep 0.2; exit 3");
    pthread_mutex_lock(&o.lock);
    ok(mgmt_supervisor_watch(o.sup, &o.a, pid, -1, true) == 0 && o.a.pidfd >= 0,
       "a running child is watched");
    bool got = wait_count(&o, &o.ended, 0, 10);
    ok(got && o.last == &o.a && o.exit.pid == pid, "its end is reported for its child");
    ok(o.exit.have_status && WIFEXITED(o.exit.wstatus) && WEXITSTATUS(o.exit.wstatus) == 3,
       "with its exit status (reaped by the supervisor)");
    ok(o.exit.ran_s >= 0.15 && o.exit.ran_s < 5, "and how long it ran (%.2f s)", o.exit.ran_s);
    ok(o.a.pid == 0 && o.a.pidfd == -1, "the child is left with no process");
    ok(waitpid(pid, NULL, WNOHANG) < 0 && errno == ECHILD, "no zombie is left");
    pid = spawn_sh("exec sleep 30");
    mgmt_supervisor_watch(o.sup, &o.b, pid, -1, false); /* found, not ours: no status */
    kill(pid, SIGKILL);
    got = wait_count(&o, &o.ended, 1, 10);
    ok(got && o.last == &o.b && !o.exit.have_status, "a process not spawned here: no status");
    waitpid(pid, NULL, 0);
    ok(mgmt_supervisor_watch(o.sup, &o.b, pid, -1, false) < 0 && o.b.pid == 0,
       "a process already gone cannot be watched");
    pthread_mutex_unlock(&o.lock);
    owner_free(&o);
}

static void test_restart_due(void)
{
    Owner o;
    owner_init(&o);
    pthread_mutex_lock(&o.lock);
    double t0 = clock_mono_s();
    mgmt_supervisor_plan(o.sup, &o.a, 0);
    ok(o.a.backoff_s == 1 && o.a.restart_at > t0, "a first restart is planned in 1 s");
    bool got = wait_count(&o, &o.due, 0, 10);
    double after = o.due_at - t0;
    ok(got && o.last == &o.a && after >= 0.99 && after < 1.6, "it comes due after 1 s (%.3f s)",
       after);
    ok(o.a.restart_at == 0, "and is cleared");
    usleep(200 * 1000);
    ok(o.due == 1, "once");
    mgmt_supervisor_plan(o.sup, &o.a, 0);
    ok(o.a.backoff_s == 2, "the next one waits 2 s");
    o.a.restart_at = clock_mono_s() + 0.1; /* sooner, for the test */
    o.b.restart_at = clock_mono_s() + 30;
    mgmt_supervisor_wake(o.sup);
    t0 = clock_mono_s();
    got = wait_count(&o, &o.due, 1, 5);
    ok(got && o.last == &o.a && clock_mono_s() - t0 < 0.6, "the earliest deadline is kept");
    ok(o.b.restart_at > 0 && o.due == 2, "a later one waits");
    pthread_mutex_unlock(&o.lock);
    owner_free(&o);
}

static void test_wake(void)
{
    Owner o;
    owner_init(&o);
    usleep(100 * 1000); /* the thread is in its idle poll (1 s) */
    pthread_mutex_lock(&o.lock);
    double t0 = clock_mono_s();
    mgmt_supervisor_watch(o.sup, &o.a, spawn_sh("sleep 0.1"), -1, true);
    bool got = wait_count(&o, &o.ended, 0, 10);
    double took = clock_mono_s() - t0;
    ok(got && took < 0.7, "a newly watched process is polled at once (ended after %.2f s)", took);
    pthread_mutex_unlock(&o.lock);
    owner_free(&o);
}

static void test_remove_while_running(void)
{
    Owner o;
    owner_init(&o);
    pid_t pid = spawn_sh("sleep 0.3");
    pthread_mutex_lock(&o.lock);
    mgmt_supervisor_watch(o.sup, &o.a, pid, -1, true);
    pthread_mutex_unlock(&o.lock);
    usleep(50 * 1000);
    pthread_mutex_lock(&o.lock);
    mgmt_supervisor_remove(o.sup, &o.a);
    int fd = o.a.pidfd;
    pthread_mutex_unlock(&o.lock);
    int st;
    ok(waitpid(pid, &st, 0) == pid && WIFEXITED(st), "a removed child's process runs to its end");
    usleep(300 * 1000);
    pthread_mutex_lock(&o.lock);
    ok(o.ended == 0, "and is not reported");
    ok(o.a.pidfd == fd && fcntl(fd, F_GETFD) >= 0, "its pidfd is left to the owner");
    pthread_mutex_unlock(&o.lock);
    close(fd);
    o.a.pidfd = -1;
    owner_free(&o);
}

static void test_rewatched(void)
{
    Owner o;
    owner_init(&o);
    pid_t old = spawn_sh("sleep 0.2"), pid = spawn_sh("exec sleep 30");
    pthread_mutex_lock(&o.lock);
    mgmt_supervisor_watch(o.sup, &o.a, old, -1, true);
    pthread_mutex_unlock(&o.lock);
    usleep(50 * 1000); /* the thread polls the old pidfd */
    pthread_mutex_lock(&o.lock);
    struct pollfd p = {.fd = o.a.pidfd, .events = POLLIN};
    poll(&p, 1, 5000); /* the old one ends: the thread's poll returns, and it waits for the lock */
    usleep(50 * 1000);
    int fd = o.a.pidfd;
    o.a.pidfd = -1; /* the owner takes it out, closes it, and watches another process */
    close(fd);
    mgmt_supervisor_watch(o.sup, &o.a, pid, -1, true);
    ok(o.a.pidfd == fd, "the new pidfd has the old one's number (%d, %d)", o.a.pidfd, fd);
    pthread_mutex_unlock(&o.lock);
    int st;
    waitpid(old, &st, 0);
    usleep(300 * 1000);
    pthread_mutex_lock(&o.lock);
    ok(o.ended == 0 && o.a.pid == pid, "the old process's end is not taken for the new one's");
    kill(pid, SIGKILL);
    bool got = wait_count(&o, &o.ended, 0, 10);
    ok(got && o.exit.pid == pid && o.exit.have_status && WIFSIGNALED(o.exit.wstatus) &&
           WTERMSIG(o.exit.wstatus) == SIGKILL,
       "the new one's end is reported, killed by SIGKILL");
    pthread_mutex_unlock(&o.lock);
    owner_free(&o);
}

static void test_remove_waits_for_callback(void)
{
    Owner o;
    owner_init(&o);
    o.hold_s = 0.4; /* the ended callback releases the lock for 0.4 s */
    pthread_mutex_lock(&o.lock);
    mgmt_supervisor_watch(o.sup, &o.a, spawn_sh("exit 0"), -1, true);
    bool got = wait_count(&o, &o.ended, 0, 10);
    bool during = o.in_callback;
    mgmt_supervisor_remove(o.sup, &o.a);
    ok(got && during, "a callback released the lock");
    ok(!o.in_callback, "removing its child waited for it to return");
    mgmt_supervisor_watch(o.sup, &o.b, spawn_sh("exit 0"), -1, true);
    got = wait_count(&o, &o.ended, 1, 10);
    ok(got && o.last == &o.b, "the other child is still supervised");
    pthread_mutex_unlock(&o.lock);
    owner_free(&o);
}

static void test_spawn(void)
{
    char dir[] = "/tmp/test_mgmt_supervisor.XXXXXX", log[64], text[512] = "";
    int p[2];
    if (!mkdtemp(dir) || pipe(p) < 0) {
        ok(0, "a temporary directory and a pipe");
        return;
    }
    snprintf(log, sizeof(log), "%s/child.log", dir);
    int high = fcntl(p[1], F_DUPFD_CLOEXEC, 10), fds[2] = {-1, high};
    close(p[1]);
    char *argv[] = {"/bin/sh", "-c",
                    "echo out; echo err >&2; echo card >&4; "
                    "test \"$(readlink /proc/$$/fd/0)\" = /dev/null",
                    NULL};
    MgmtSpawn sp = {.path = "/bin/sh", .argv = argv, .log = log, .fds = fds, .nfds = 2};
    pid_t pid;
    Error err = {0};
    ok(mgmt_spawn(&sp, &pid, &err) == 0, "a child is spawned (%s)", err.msg);
    close(high);
    char got[16] = "";
    ssize_t n = read(p[0], got, sizeof(got) - 1);
    ok(n == 5 && strncmp(got, "card\n", 5) == 0, "fds[1] is its descriptor 4");
    ok(getsid(pid) == pid, "in a session of its own");
    int st;
    waitpid(pid, &st, 0);
    ok(WIFEXITED(st) && WEXITSTATUS(st) == 0, "its stdin is /dev/null");
    int fd = open(log, O_RDONLY);
    n = fd >= 0 ? read(fd, text, sizeof(text) - 1) : -1;
    if (fd >= 0)
        close(fd);
    text[n > 0 ? n : 0] = '\0';
    ok(strncmp(text, "--- ", 4) == 0 && strstr(text, " hosteld starts: /bin/sh -c echo out;") &&
           strstr(text, "\nout\nerr\n"),
       "its log: the start line, then its stdout and stderr");
    mgmt_last_line(log, got, sizeof(got));
    ok(strcmp(got, "err") == 0, "the log's last line (%s)", got);
    char *none[] = {"/nonexistent/dnsmasq", NULL};
    sp = (MgmtSpawn){.path = none[0], .argv = none, .log = log, .hint = " (install it)"};
    ok(mgmt_spawn(&sp, &pid, &err) < 0 &&
           strcmp(err.msg, "cannot start /nonexistent/dnsmasq (install it): No such file or "
                           "directory") == 0,
       "a missing program: %s", err.msg);
    unlink(log);
    rmdir(dir);
    close(p[0]);
}

int main(void)
{
    test_spawn();
    test_backoff();
    test_end_and_status();
    test_restart_due();
    test_wake();
    test_remove_while_running();
    test_rewatched();
    test_remove_waits_for_callback();
    return tap_done();
}
