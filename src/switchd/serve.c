/*
 * The switch process's main loop.  SIGTERM and SIGINT are blocked and read
 * from a signalfd on the loop, so a signal ends the loop between two
 * events, never inside one; SIGPIPE is ignored (sends use MSG_NOSIGNAL
 * anyway).  The pid file is written (atomically: a temporary file renamed)
 * only once the control socket listens, so whoever waits for it can
 * connect at once.
 */
#include "switchd/serve.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "control/control.h"
#include "switchd/commands.h"
#include "util/io.h"
#include "util/log.h"

typedef struct SwitchdProcess {
    EventLoop *loop;
    SwitchdControl ctl;
    int sigfd;
    sigset_t old_mask;
    bool pid_written;
    const char *pid_file;
    int signal; /* the signal that stopped it, or 0 */
} SwitchdProcess;

static void on_signal(void *opaque, uint32_t events)
{
    SwitchdProcess *p = opaque;
    struct signalfd_siginfo si;
    if (read(p->sigfd, &si, sizeof(si)) == (ssize_t)sizeof(si))
        p->signal = (int)si.ssi_signo;
}

static int signals_block(SwitchdProcess *p, Error *err)
{
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    signal(SIGPIPE, SIG_IGN);
    if (sigprocmask(SIG_BLOCK, &set, &p->old_mask) < 0)
        return error_set_errno(err, errno, "cannot block signals");
    p->sigfd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
    if (p->sigfd < 0)
        return error_set_errno(err, errno, "cannot create a signalfd");
    return evloop_add_fd(p->loop, p->sigfd, EPOLLIN, on_signal, p, err);
}

static int pid_file_write(SwitchdProcess *p, const char *path, Error *err)
{
    char tmp[4096], line[32];
    int n = snprintf(tmp, sizeof(tmp), "%s.tmp", path);
    if (n < 0 || (size_t)n >= sizeof(tmp))
        return error_set(err, "pid file path %s is too long", path);
    int len = snprintf(line, sizeof(line), "%ld\n", (long)getpid());
    FILE *f = fopen(tmp, "w");
    if (!f)
        return error_set_errno(err, errno, "cannot write the pid file %s", tmp);
    bool ok = fwrite(line, 1, (size_t)len, f) == (size_t)len;
    ok = fclose(f) == 0 && ok;
    if (!ok || rename(tmp, path) < 0) {
        int e = errno;
        unlink(tmp);
        return error_set_errno(err, e, "cannot write the pid file %s", path);
    }
    p->pid_file = path;
    p->pid_written = true;
    return 0;
}

/* Remove the pid file if it still names this process. */
static void pid_file_remove(SwitchdProcess *p)
{
    char line[32] = "";
    FILE *f = p->pid_written ? fopen(p->pid_file, "r") : NULL;
    if (!f)
        return;
    bool mine = fgets(line, sizeof(line), f) && strtol(line, NULL, 10) == (long)getpid();
    fclose(f);
    if (mine)
        unlink(p->pid_file);
}

static int serve_start(SwitchdProcess *p, const SwitchdConfig *cfg, const SwitchdServeOptions *o,
                       Error *err)
{
    if (!(p->loop = evloop_new(err)) || signals_block(p, err) < 0 ||
        !(p->ctl.d = switchd_new(cfg, p->loop, err)))
        return -1;
    if (o->listen && switchd_listen(p->ctl.d, o->listen, err) < 0)
        return -1;
    ControlConfig cc = {.path = o->control,
                        .version = o->version,
                        .commands = switchd_commands,
                        .ncommands = switchd_ncommands,
                        .opaque = &p->ctl};
    if (!(p->ctl.srv = control_server_new(p->loop, &cc, err)))
        return -1;
    if (o->pid_file && pid_file_write(p, o->pid_file, err) < 0)
        return -1;
    return 0;
}

static void serve_stop(SwitchdProcess *p)
{
    control_server_free(p->ctl.srv); /* a last try to send the reply to quit */
    switchd_free(p->ctl.d);
    pid_file_remove(p);
    if (p->sigfd >= 0) {
        evloop_del_fd(p->loop, p->sigfd);
        close(p->sigfd);
        sigprocmask(SIG_SETMASK, &p->old_mask, NULL);
    }
    evloop_free(p->loop);
}

int switchd_serve(const SwitchdConfig *cfg, const SwitchdServeOptions *o, Error *err)
{
    SwitchdProcess p = {.sigfd = -1};
    if (serve_start(&p, cfg, o, err) < 0) {
        serve_stop(&p);
        return -1;
    }
    log_info("switch %s: serving on %s%s%s", cfg->name, o->control, o->listen ? ", ports on " : "",
             o->listen ? o->listen : "");
    int rc = 0;
    while (!p.ctl.quit && !p.signal && rc == 0)
        if (evloop_run_once(p.loop, UINT64_MAX) < 0)
            rc = error_set_errno(err, errno, "switch %s: the event loop failed", cfg->name);
    if (p.signal)
        log_info("switch %s: stopping on %s", cfg->name, strsignal(p.signal));
    else if (p.ctl.quit)
        log_info("switch %s: stopping (quit)", cfg->name);
    serve_stop(&p);
    return rc;
}
