/*
 * The VMM: the process around one machine (docs/vmm.md).  The board
 * (src/machine/) runs harts and devices; the Vmm adds what a VM process
 * needs around it: console input from a host fd (buffered for the UART and
 * virtio-console, filtered for Ctrl-A escapes) or from the console socket
 * it serves with its history and log (vmm_console.c), the control socket
 * and its commands, the VM's name, pause/resume with events, why the run
 * stopped, and the operations a client asks for (save, suspend, snapshots)
 * as C functions with completion callbacks.  The control socket, and later the
 * daemon's API, are adapters over these functions.
 *
 * Everything runs on the VM thread (the machine's event loop): call these
 * functions from event-loop callbacks or between runs.
 */
#ifndef HOSTEL_VMM_VMM_H
#define HOSTEL_VMM_VMM_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "machine/machine.h"
#include "util/error.h"

typedef struct Vmm Vmm;
struct Console;

/* What the process gives its VMM.  Strings are copied. */
typedef struct VmmConfig {
    const char *name;         /* the VM's name (status, messages); NULL = none */
    const char *control_path; /* serve the control socket there; NULL = no socket */
    const char *version;      /* hostel's version, for the control greeting */
    const char *snapshot_dir; /* where snapshot state files live; NULL = no snapshots */
    int in_fd;                /* console input (a tty, pipe or socket); -1 = none */
    /*
     * Where the guest's console output goes (machine_set_console_out):
     * console_out(console_opaque, buf, len) on the VM thread, and HTIF's
     * SYS_write to fd 2 to console_err (NULL: the MachineHost's err_fd).
     * console_out NULL = keep the machine's own (MachineHost: out_fd).
     */
    ConsoleOutFn console_out;
    ConsoleOutFn console_err;
    void *console_opaque;
    /*
     * The console kept by the VMM (docs/vmm.md "The console socket"):
     * console_socket serves it to any number of clients there, with the
     * last CONSOLE_HISTORY_BYTES as history, and takes console input from
     * its rw client (give in_fd -1 then); console_log appends every byte of
     * output to that file, rotated to FILE.1 past console_log_size bytes
     * (0 = CONSOLE_LOG_SIZE_DEFAULT).  Output goes to the log, the socket
     * and console_out (if set); with either of the first two, the machine's
     * out_fd is not written.  NULL = none.
     */
    const char *console_socket;
    const char *console_log;
    uint64_t console_log_size;
    /*
     * A VNC server of the VM's display (docs/display.md "VNC"): listening on
     * vnc_listen ("HOST:PORT" or "unix:PATH"), with VNC authentication when
     * vnc_password_file is set.  NULL = none; the VM must have a display.
     */
    const char *vnc_listen;
    const char *vnc_password_file;
} VmmConfig;

/*
 * Build the VMM around m (which must outlive it: vmm_free before
 * machine_free): watch in_fd (descriptors epoll cannot watch, such as
 * regular files and /dev/null, mean no input), open the control socket,
 * the console socket and the console log.  Returns NULL with err filled
 * (e.g. another VM listens on the path, the log's directory is missing).
 */
Vmm *vmm_new(Machine *m, const VmmConfig *c, Error *err);

/*
 * Wait for a snapshot still finishing (its completion fires), send control
 * clients SHUTDOWN (with the stop reason once vmm_run ran), close the socket
 * and stop watching the console.  NULL is a no-op.
 */
void vmm_free(Vmm *v);

/* The machine the VMM runs. */
Machine *vmm_machine(Vmm *v);

/* Filter console input through c (Ctrl-A escapes) from now on; NULL = raw bytes. */
void vmm_set_console(Vmm *v, struct Console *c);

/* Why vmm_run() returned. */
typedef enum VmmStop {
    VMM_STOP_GUEST,   /* the guest ended the run (finisher, HTIF) */
    VMM_STOP_LIMIT,   /* max_insns reached */
    VMM_STOP_HOST,    /* the machine's stop flag was set from outside (signal) */
    VMM_STOP_QUIT,    /* the user typed the console's quit escape (Ctrl-A x) */
    VMM_STOP_CONTROL, /* `quit` or `suspend` on the control socket (vmm_quit) */
} VmmStop;

typedef struct VmmStats {
    uint64_t instret; /* instructions retired by all harts, across resets */
    double seconds;   /* wall time spent running, pauses excluded */
    VmmStop why;
    bool suspended; /* why == VMM_STOP_CONTROL after vmm_suspend */
    bool migrated;  /* why == VMM_STOP_CONTROL after a migration completed */
} VmmStats;

/*
 * Run the machine (machine_run) until it stops.  Returns the guest's exit
 * status when it ended the run, 0 for the other stops (see vmm_stats), or
 * -1 with err filled.
 */
int vmm_run(Vmm *v, Error *err);
void vmm_stats(const Vmm *v, VmmStats *st);

/* End the run soon with VMM_STOP_CONTROL (the control socket's `quit`). */
void vmm_quit(Vmm *v);

/* Pause and resume the harts (machine_pause), sending STOP/RESUME events to control clients. */
void vmm_pause(Vmm *v);
void vmm_resume(Vmm *v);

/*
 * Ask the guest to power off: press the board's power button
 * (machine_power_button).  The run ends when the guest powers off, as after
 * its own `poweroff`; a guest that ignores the button keeps running.
 */
void vmm_powerdown(Vmm *v);

/* Host nanoseconds since vmm_run first started (0 before). */
uint64_t vmm_uptime_ns(const Vmm *v);

/* The VM's name, or NULL. */
const char *vmm_name(const Vmm *v);

/*
 * Put network card number card on a new connected SEQPACKET socket fd
 * (the control socket's set-net-fd: hosteld re-plugs a card whose switch
 * was restarted): the old socket is closed, the link comes up.  Only for
 * socket and network cards with fd=.  fd is taken (closed on failure).
 * Returns 0, or -1 with err naming the card.
 */
int vmm_net_set_fd(Vmm *v, unsigned card, int fd, Error *err);

/* ---- operations (vmm_snapshot.c) ---- */

/* What an operation reports; each fills the members it names. */
typedef struct VmmResult {
    const char *name;    /* snapshot operations: the snapshot */
    const char *file;    /* save, suspend, snapshot-create: the state file */
    uint64_t disk_bytes; /* save, suspend: bytes the state file takes on disk */
    unsigned disks;      /* snapshot-create: disks that took the snapshot */
    double pause_ms;     /* save, suspend, snapshot-create, revert: the guest stood still */
    double total_ms;     /* snapshot-create: until everything was durable */
    bool state_file;     /* snapshot-delete: a state file was removed */
    unsigned rounds;     /* migrate: RAM rounds sent while the guest ran */
    uint64_t bytes;      /* migrate: bytes sent */
    double downtime_ms;  /* migrate: from the pause to the destination's confirmation */
    unsigned throttle;   /* migrate: the highest auto-converge throttle reached (percent) */
    bool converged; /* migrate: the rest fitted the downtime limit (not forced by max-rounds) */
    bool quiesced;  /* snapshot-create: the guest agent froze the file systems around it */
} VmmResult;

/*
 * An operation's completion, on the VM thread: r on success (valid during
 * the call), or r = NULL and err saying what failed.
 */
typedef void (*VmmDone)(void *opaque, const VmmResult *r, const Error *err);

/*
 * The operations' shared contract: a return of -1 (err filled) means the
 * operation failed or was refused and done is never called; 0 means done
 * is called exactly once, before the return for the operations that finish
 * at once, later for a live snapshot.  While a live snapshot is finishing,
 * every operation here is refused.
 */

typedef struct VmmSaveOpts {
    bool compress; /* RAM as zstd runs */
} VmmSaveOpts;

/* Pause (if running), save the state to file, resume if it was running. */
int vmm_save(Vmm *v, const char *file, const VmmSaveOpts *o, VmmDone done, void *opaque,
             Error *err);

/* Save as vmm_save, then end the run (VMM_STOP_CONTROL, stats say suspended). */
int vmm_suspend(Vmm *v, const char *file, const VmmSaveOpts *o, VmmDone done, void *opaque,
                Error *err);

/*
 * Live snapshot name: the VM pauses briefly, its state goes to
 * snapshot_dir/NAME.state and every writable disk (qcow2 only) takes an
 * internal snapshot NAME; the guest runs again while a finisher thread makes
 * it all durable, then done fires.  On a failure all of it is taken back.
 */
int vmm_snapshot_create(Vmm *v, const char *name, VmmDone done, void *opaque, Error *err);

/*
 * vmm_snapshot_create, quiesced when a guest agent has its port open
 * (docs/agent.md): the guest's file systems are frozen (guest-fsfreeze-
 * freeze) before the pause and thawed right after it; r->quiesced says
 * whether the freeze worked.  A freeze that fails or times out is logged
 * and sent as the AGENT_QUIESCE_FAILED event, and the snapshot is taken
 * anyway (not quiesced); a failed thaw is logged and sent as
 * AGENT_THAW_FAILED.  Without an agent, or while the VM is paused (its
 * agent cannot answer), it is vmm_snapshot_create.
 */
int vmm_snapshot_create_quiesced(Vmm *v, const char *name, VmmDone done, void *opaque, Error *err);

/* Go back to snapshot name: memory, devices and disks. */
int vmm_snapshot_revert(Vmm *v, const char *name, VmmDone done, void *opaque, Error *err);

/* Delete snapshot name: its state file and the disks' snapshots (either may be missing). */
int vmm_snapshot_delete(Vmm *v, const char *name, VmmDone done, void *opaque, Error *err);

typedef struct VmmSnapshotInfo {
    char name[65];
    int64_t date_sec;    /* the state file's modification time */
    uint64_t disk_bytes; /* bytes the state file takes */
} VmmSnapshotInfo;

/*
 * The snapshots in snapshot_dir (their state files), in directory order.
 * *list is malloc'd (free it; NULL when *n is 0).  Returns 0, or -1 with err.
 */
int vmm_snapshot_list(Vmm *v, VmmSnapshotInfo **list, size_t *n, Error *err);

/* True while a live snapshot is finishing. */
bool vmm_busy(const Vmm *v);

/* ---- the guest agent (vmm_agent.c, docs/agent.md) ---- */

struct AgentCallOpts;
/*
 * Call the guest agent's command (agent.h's agent_call) with args (taken).
 * Returns -1 with err filled when the VM has no agent port or the queue is
 * full; else done is called exactly once, later.
 */
int vmm_agent_call(Vmm *v, const char *command, json_t *args, const struct AgentCallOpts *o,
                   void (*done)(void *opaque, json_t *ret, const Error *err), void *opaque,
                   Error *err);

/* ---- live migration (vmm_migrate.c, docs/migration.md) ---- */

/*
 * announce-self: from every network card, ANNOUNCE_ROUNDS RARP frames with
 * its MAC (src/vmm/announce.h), the first now and the next ones after
 * 50, 150, 250, 350 ms, so switches learn the VM's new port.  The
 * destination of a migration calls it once the guest is about to run.
 * Returns 0, or -1 with err (no timer).
 */
int vmm_announce(Vmm *v, Error *err);

#define VMM_MIGRATE_DOWNTIME_MS 10.0 /* default downtime limit */
#define VMM_MIGRATE_MAX_ROUNDS 30    /* default round cap before the switch-over is forced */
#define VMM_THROTTLE_INITIAL 20      /* auto-converge: the first throttle (percent) */
#define VMM_THROTTLE_STEP 10         /* auto-converge: added at each round still too dirty */
#define VMM_THROTTLE_MAX 99

typedef struct VmmMigrateOpts {
    const char *uri;          /* unix:PATH or tcp:HOST:PORT (migrate_uri.h) */
    double downtime_limit_ms; /* 0 = VMM_MIGRATE_DOWNTIME_MS */
    unsigned max_rounds;      /* 0 = VMM_MIGRATE_MAX_ROUNDS */
    bool no_auto_converge;    /* do not throttle the harts (auto-converge is on by default) */
    double max_bandwidth;     /* bytes/s the stream may take; 0 = no cap */
    int compress_level;       /* RAM pages as zstd frames at this level (1..19); 0 = plain */
    const char *tls_creds;    /* TLS with the credentials in this directory (migrate_tls.h) */
    const char *tls_hostname; /* the destination's name in its certificate (default: tcp host) */
} VmmMigrateOpts;

/*
 * Pre-copy live migration to o->uri: the dirty log starts, round 0 sends
 * all non-zero RAM while the guest runs (on a thread of its own), later
 * rounds what was dirtied meanwhile, until the rest fits the downtime
 * limit at the measured bandwidth or the round cap is reached (with
 * auto-converge, from the second round in a row whose dirtied pages
 * exceed half of what it sent, the harts are throttled: 20 %, then +10 %
 * a round up to 99 %; lifted when the migration ends either way); then the
 * harts pause, devices drain, disks are flushed and their locks released,
 * the last pages and device sections go, and done fires once the
 * destination confirms it runs the VM: the run then ends
 * (VMM_STOP_CONTROL, stats say migrated).  On any failure before that
 * (connection lost, destination refused, migrate-cancel) the dirty log
 * stops, the locks are taken back, the guest runs again if it ran, and
 * done gets the error.  Refused (-1) while another operation runs.
 */
int vmm_migrate(Vmm *v, const VmmMigrateOpts *o, VmmDone done, void *opaque, Error *err);

typedef struct VmmMigrateInfo {
    const char *state;        /* none, active, switchover, completed, failed, cancelled */
    unsigned round;           /* the round being sent (0 = all RAM) */
    uint64_t bytes;           /* sent so far */
    uint64_t pages_remaining; /* dirty pages not sent yet (at the last sync) */
    double dirty_pages_per_s; /* measured over the last round */
    double bandwidth;         /* bytes/s, measured */
    double expected_downtime_ms;
    double downtime_ms;    /* once switched over */
    double total_ms;       /* since the start */
    unsigned throttle;     /* the harts' auto-converge throttle now (percent; 0 once it ended) */
    unsigned throttle_max; /* the highest throttle reached */
    char error[512];       /* failed: why */
} VmmMigrateInfo;

/* The current (or last) migration's progress. */
void vmm_migrate_query(const Vmm *v, VmmMigrateInfo *info);

/*
 * Cancel a migration before its switch-over: the guest goes on as if
 * nothing happened (done fires with "cancelled").  Returns 0, or -1 with
 * err when none runs or it is switching over already.
 */
int vmm_migrate_cancel(Vmm *v, Error *err);

/* True while a migration runs; switching over: the source is paused for the switch-over. */
bool vmm_migrating(const Vmm *v);
bool vmm_migrate_switching_over(const Vmm *v);

/* ---- clone (vmm_clone.c): no VM needed ---- */

/*
 * `hostel clone` as an operation: machine_clone(src, dst, full) (a linked
 * or full clone of a state file or a disk image) on a worker thread of its
 * own.  Refused up front (-1, err filled, done never called) when src or
 * dst is NULL or empty, done is NULL, dst exists or src cannot be read.
 * Otherwise returns 0 at once, and done is called exactly once ON THE
 * WORKER THREAD (not the VM thread: hand the result to an event loop with
 * evloop_call, or wake a waiting thread) when the clone has finished: with
 * r->file = dst on success, or r = NULL and err saying what failed (a
 * failed clone leaves nothing behind).  Nothing else touches opaque.
 */
int vmm_clone(const char *src, const char *dst, bool full, VmmDone done, void *opaque, Error *err);

#endif
