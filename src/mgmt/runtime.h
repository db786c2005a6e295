/*
 * The VMs that run (docs/mgmt.md "Lifecycle"): one `hostel run` process
 * per VM, started by the daemon in its own session so that a daemon
 * restart never stops a guest, and found again when the daemon starts.
 *
 * Files, for the VM named NAME:
 *
 *   RUN/NAME/control.sock   the VMM's control socket (RUN: --run-dir)
 *   RUN/NAME/console.sock   its console (history + live output)
 *   RUN/NAME/pid            the VMM's pid, written when it is started
 *   DATA/NAME/config.json   the definition it was started with
 *   DATA/NAME/vmm-config.json  what its VMM reads: the same with its cards' descriptors
 *   DATA/NAME/exit.json     how it ended (hostel run --exit-file)
 *   DATA/NAME/vmm.log       its stderr (and stdout), appended
 *   DATA/NAME/console.log   its console output (rotated by the VMM)
 *   DATA/NAME/suspended.hstate  the state a suspend saved; the next start resumes it
 *   DATA/NAME/snapshots/    its live snapshots
 *
 * (DATA is STATE_DIR/vmdata.)  A supervisor thread watches every VMM
 * through a pidfd: when one ends, how it ended is recorded (exit.json, or
 * the wait status, or "crashed" when neither says), a lifecycle event is
 * given to the notify callback, and the VM's restart policy is applied with
 * back-off.  The runtime's lock is a leaf: no callback is made with it held.
 */
#ifndef HOSTEL_MGMT_RUNTIME_H
#define HOSTEL_MGMT_RUNTIME_H

#include <jansson.h>
#include <stdbool.h>
#include <sys/types.h>

#include "mgmt/vm.h"
#include "util/error.h"

typedef struct MgmtRuntime MgmtRuntime;

/* What the daemon says a VM is doing. */
typedef enum MgmtPower {
    MGMT_POWER_STOPPED,
    MGMT_POWER_STARTING,
    MGMT_POWER_RUNNING,
    MGMT_POWER_PAUSED,
    MGMT_POWER_STOPPING,
} MgmtPower;

/* "stopped", "starting", ... */
const char *mgmt_power_name(MgmtPower p);

/*
 * A lifecycle event: type ("vm-started", "vm-stopped", "vm-crashed",
 * "vm-restarting"...), the VM's name, metadata (taken).  Called from any
 * thread, never with the runtime's lock held.
 */
typedef void MgmtNotifyFn(void *ctx, const char *type, const char *vm, json_t *metadata);

/*
 * How a VM's cards on hosteld's networks are plugged in around its VMM
 * (netrun.h).  plug is called before each spawn (start, restart, resume)
 * with the machine to start: it makes what the cards need, rewrites them
 * for the VMM (their "fd") and puts the descriptors to hand over in
 * fds[card] (-1: none), which the VMM gets as 3 + card; it returns 0, or
 * -1 with nothing made.  unplug undoes it once the VMM is gone, given the
 * machine the VMM ran (DATA/NAME/vmm-config.json).  replug (optional)
 * is called for a VMM that runs, given the machine it runs and its control
 * socket's path: cards whose port has gone (a network's switch that was
 * restarted, or found gone at daemon start) get a new one, handed to the
 * VMM with set-net-fd; network names the network whose cards to look at,
 * NULL every one.  All are called without the runtime's lock.
 */
typedef struct MgmtNicHooks {
    int (*plug)(void *ctx, const char *vm, VmConfig *cfg, int fds[VMCONFIG_MAX_NICS], Error *err);
    void (*unplug)(void *ctx, const char *vm, const VmConfig *cfg);
    void (*replug)(void *ctx, const char *vm, const VmConfig *cfg, const char *network,
                   const char *control);
} MgmtNicHooks;

typedef struct MgmtRuntimeOptions {
    const char *state_dir; /* DATA is STATE_DIR/vmdata */
    const char *run_dir;   /* RUN: sockets and pid files */
    const char *vmm_path;  /* the hostel executable */
    unsigned max_starting; /* VMMs being started at once, at most (0: 4) */
    unsigned
        ready_timeout_ms; /* a started VMM must answer on its control socket within (0: 20 s) */
    MgmtNotifyFn *notify;
    void *notify_ctx;
    const MgmtNicHooks *nic_hooks; /* NULL: no card is on a network */
    void *nic_ctx;
} MgmtRuntimeOptions;

/* Make the runtime (no VM known yet) and start its supervisor thread. Returns 0 or -1. */
int mgmt_runtime_new(MgmtRuntime **out, const MgmtRuntimeOptions *opt, Error *err);

/* Stop the supervisor and free everything.  Running VMMs go on running. */
void mgmt_runtime_free(MgmtRuntime *rt);

/*
 * Learn about the VM named name at daemon start: if its VMM still runs
 * (its control socket answers), watch it again and let the hooks' replug
 * give its cards whose ports have gone new ones; else record how it ended
 * while the daemon was away.  Returns the power state found.
 */
MgmtPower mgmt_runtime_attach(MgmtRuntime *rt, const char *name, MgmtRestart restart);

/*
 * The network's switch was started again (it had died): the hooks' replug
 * for every VM that runs or is paused, so those with cards on network get
 * their ports back without a restart.  Blocks (control calls); call it
 * without locks.
 */
void mgmt_runtime_replug(MgmtRuntime *rt, const char *network);

/* The VM's power state (STOPPED for a VM the runtime never saw). */
MgmtPower mgmt_runtime_power(MgmtRuntime *rt, const char *name);

/* Seconds the VM's VMM has run (from /proc: right for a VMM found at start), or -1. */
double mgmt_runtime_uptime(MgmtRuntime *rt, const char *name);

/* A suspend left a state file: the next start resumes it. */
bool mgmt_runtime_is_suspended(MgmtRuntime *rt, const char *name);

/* The restart policy the supervisor applies to the VM from now on. */
void mgmt_runtime_set_restart(MgmtRuntime *rt, const char *name, MgmtRestart restart);

/*
 * Start vm's VMM (resuming a suspended state when there is one) and wait
 * until it answers on its control socket.  Blocks: call it from an
 * operation.  Returns 0, or -1 (already running, cannot spawn, the VMM
 * ended at once: err holds the last line it wrote).
 */
int mgmt_runtime_start(MgmtRuntime *rt, const MgmtVm *vm, Error *err);

/*
 * Stop the VM: unless force, ask the guest agent to power the guest off
 * (agent-shutdown; docs/agent.md), or press its power button when no agent
 * takes it, and wait up to timeout_s seconds for the guest to power off; then quit the VMM, then
 * kill it.  No restart follows.  Blocks until the VMM is gone.  Returns 0
 * (*forced tells whether the guest had to be forced), or -1.
 */
int mgmt_runtime_stop(MgmtRuntime *rt, const char *name, bool force, unsigned timeout_s,
                      bool *forced, Error *err);

/* Save the VM's state to its suspended.hstate and end the VMM (no restart). Returns 0 or -1. */
int mgmt_runtime_suspend(MgmtRuntime *rt, const char *name, Error *err);

/*
 * One control-socket command to the VM's VMM (pause, resume, snapshot-...,
 * query-stats); *ret gets the "return" value (a new reference) when ret is
 * not NULL.  Returns 0, or -1 (not running, the VMM's error).
 */
int mgmt_runtime_call(MgmtRuntime *rt, const char *name, const char *cmd, json_t *args,
                      json_t **ret, unsigned timeout_ms, Error *err);

/*
 * The VM's runtime state as the API shows it: {"status", "pid",
 * "started_at", "uptime_s", "restarts", "suspended", "last_exit"}; for a
 * running VM also "memory_rss", "cpu_s".  NULL if out of memory.
 */
json_t *mgmt_runtime_state_json(MgmtRuntime *rt, const char *name);

/* The path of one of the VM's files under RUN ("control.sock"...) or DATA ("vmm.log"...). */
int mgmt_runtime_path(const MgmtRuntime *rt, const char *name, const char *file, char *buf,
                      size_t size);

/* Make DATA/NAME (and RUN/NAME) for a VM about to get files there. Returns 0, or -1. */
int mgmt_runtime_prepare(MgmtRuntime *rt, const char *name, Error *err);

/*
 * Run the hostel executable with args (argv[1...], NULL-terminated) to its
 * end, for the daemon's own uses of it (clone, print-config).  *out (when
 * not NULL) gets its stdout (malloc'd, NUL-terminated).  Returns 0 when it
 * exited 0, else -1 with err holding the last line it wrote on stderr.
 */
int mgmt_runtime_tool(MgmtRuntime *rt, const char *const *args, char **out, Error *err);

/* The VM was deleted: forget it and remove its files (not its disks). Refused while it runs. */
int mgmt_runtime_forget(MgmtRuntime *rt, const char *name, Error *err);

#endif
