/*
 * hosteld's child processes: how one is spawned (mgmt_spawn), and their
 * supervisor, one for each owner of some (the VMMs: runtime.c; the
 * switches: netrun.c; dnsmasq: dnsmasq.c): a thread that waits on a wake
 * eventfd, a pidfd of every watched process and the earliest planned
 * restart, and calls its owner back when a watched process ends or a
 * restart is due.  And the back-off of those restarts: 1 s, then 2, 4...
 * up to the owner's maximum, afresh after a run of MGMT_BACKOFF_RESET_S.
 * What a restart does, and whether one is planned at all (a restart
 * policy, a user's stop), is the owner's.
 *
 * An owner keeps its processes in a list of its own under one mutex and
 * embeds a MgmtChild in each entry (container_of gets the entry back).  The
 * supervisor is given that mutex: it takes it to read its children and
 * around every callback, and every mgmt_supervisor_ function but new and
 * free is called with it held.  A callback may release the mutex and take
 * it again before it returns (to send an event, to wait for a start); the
 * supervisor keeps no pointer to a child across that: it finds a process
 * that ended by its pidfd, among the children listed at that moment, and
 * checks that the process behind that pidfd has indeed ended, so a child
 * re-watched, unwatched or removed meanwhile is never mistaken for another.
 *
 * An owner may take a pidfd out itself (pidfd set to -1, the lock held,
 * closing it when it likes): the supervisor then lets that process go.
 */
#ifndef HOSTEL_MGMT_SUPERVISOR_H
#define HOSTEL_MGMT_SUPERVISOR_H

#include <pthread.h>
#include <stdbool.h>
#include <sys/types.h>

#include "util/error.h"

#define MGMT_BACKOFF_RESET_S 60 /* a process that ran this long starts its back-off afresh */

/* One supervised process slot, embedded in the owner's entry. */
typedef struct MgmtChild {
    pid_t pid;              /* 0 when none */
    int pidfd;              /* -1 when none is watched */
    bool child;             /* spawned by this daemon: its status is waited for */
    double started;         /* monotonic seconds when it was watched */
    unsigned backoff_s;     /* the last wait planned before a restart (0: none yet) */
    double restart_at;      /* monotonic seconds; 0 = none planned */
    struct MgmtChild *next; /* the supervisor's list (its own) */
    bool due;               /* the supervisor's: due in its current turn */
} MgmtChild;

/* How a watched process ended. */
typedef struct MgmtChildExit {
    pid_t pid;        /* it was */
    bool have_status; /* a child of this daemon: wstatus is waitpid's */
    int wstatus;
    double ran_s; /* from its watch to its end */
} MgmtChildExit;

typedef struct MgmtSupervisorOps {
    /*
     * c's process ended: it has been reaped (a child), its pidfd closed,
     * c->pid and c->pidfd cleared.  The owner records it and plans a
     * restart (mgmt_supervisor_plan) or not.
     */
    void (*ended)(void *opaque, MgmtChild *c, const MgmtChildExit *x);
    /* c's planned restart is due (c->restart_at is 0 again): the owner starts it, or not. */
    void (*due)(void *opaque, MgmtChild *c);
} MgmtSupervisorOps;

typedef struct MgmtSupervisor MgmtSupervisor;

/*
 * Make a supervisor over lock (the owner's, initialised) and start its
 * thread; restarts wait at most backoff_max_s.  Returns 0, or -1 with err.
 */
int mgmt_supervisor_new(MgmtSupervisor **out, pthread_mutex_t *lock, const MgmtSupervisorOps *ops,
                        void *opaque, unsigned backoff_max_s, Error *err);

/*
 * Stop the thread (waiting for a callback under way) and free the
 * supervisor; called without the lock.  Its children are left as they
 * are: their pidfds are the owner's to close.
 */
void mgmt_supervisor_free(MgmtSupervisor *s);

/* List c (no process, no restart planned). */
void mgmt_supervisor_add(MgmtSupervisor *s, MgmtChild *c);

/*
 * Unlist c: once this returns (after a callback on c under way on another
 * thread has returned), the supervisor never looks at c again.  Its
 * pidfd, if any, stays open: the owner's to close.
 */
void mgmt_supervisor_remove(MgmtSupervisor *s, MgmtChild *c);

/*
 * Watch pid as c's process, through pidfd (-1: opened here), spawned by
 * this daemon when child.  Returns 0, or -1 (errno set) when it is gone
 * already.
 */
int mgmt_supervisor_watch(MgmtSupervisor *s, MgmtChild *c, pid_t pid, int pidfd, bool child);

/*
 * Plan c's restart after its next back-off, ran_s being how long it ran
 * (0: a start that failed): mgmt_backoff_next, from now.
 */
void mgmt_supervisor_plan(MgmtSupervisor *s, MgmtChild *c, double ran_s);

/* Make the thread look at its children again (a change it does not see by itself). */
void mgmt_supervisor_wake(MgmtSupervisor *s);

/*
 * The wait before the next restart, last_s being the last one (0: none)
 * and ran_s how long the process ran: 1 s after a run of
 * MGMT_BACKOFF_RESET_S or more (or the first time), else twice the last,
 * at most max_s.
 */
unsigned mgmt_backoff_next(unsigned last_s, double ran_s, unsigned max_s);

/* A child to spawn. */
typedef struct MgmtSpawn {
    const char *path;  /* the executable */
    char *const *argv; /* its arguments, argv[0] first, NULL last */
    const char *log;   /* its stdout and stderr are appended to this file */
    const int *fds;    /* fds[i] >= 0 becomes its descriptor 3 + i (each above 2 + nfds) */
    size_t nfds;
    const char *hint; /* said after "cannot start PATH" (" (install X)"), or NULL */
} MgmtSpawn;

/*
 * Spawn a child as hosteld runs each of its children, in a session of its
 * own (a daemon restart never ends it): stdin /dev/null, stdout and stderr
 * appended to sp->log after a line "--- TIME hosteld starts: ARGV...",
 * every signal at its default and unblocked.  Returns 0 with *pid, or -1
 * with err ("cannot open LOG", "cannot start PATH": posix_spawn's errno).
 */
int mgmt_spawn(const MgmtSpawn *sp, pid_t *pid, Error *err);

#endif
