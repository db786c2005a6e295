/*
 * The networks that run (docs/mgmt.md, "Networks"): one switch process
 * (`hostel switch`) per network of a kind that has one (all but bridged),
 * started by the daemon in its own session so that a daemon restart never
 * cuts a VM off, found again through its control socket when the daemon
 * starts, restarted with back-off when it dies, stopped when the network
 * is deleted.  And the VM cards on networks: a port of the network's
 * switch per card (a SEQPACKET socketpair, one end passed to the switch
 * with add-port, the other to the VMM), or a tap on the host bridge for a
 * bridged network.
 *
 * Files, for the network named NAME:
 *
 *   NETRUN/NAME/switch.json   the switch's configuration (written at each start)
 *   NETRUN/NAME/control.sock  its control socket
 *   NETRUN/NAME/pid           its pid (hostel switch --pid-file)
 *   NETRUN/NAME/bridge-made   a bridged network's bridge was made by hosteld
 *   NETRUN/NAME/leases        a NAT's DHCP leases (kept by the switch across restarts)
 *   DATA/NAME/switch.log      its stderr (and stdout), appended
 *
 * (NETRUN is net/ beside the API's socket; DATA is STATE_DIR/netdata.)  A
 * supervisor thread holds a pidfd of every switch.  The lock is a leaf:
 * no callback is made with it held.
 */
#ifndef HOSTEL_MGMT_NETRUN_H
#define HOSTEL_MGMT_NETRUN_H

#include <jansson.h>
#include <stdbool.h>

#include "mgmt/network.h"
#include "mgmt/runtime.h"
#include "util/error.h"

typedef struct MgmtNetRun MgmtNetRun;

typedef struct MgmtNetRunOptions {
    const char *state_dir;     /* DATA is STATE_DIR/netdata */
    const char *run_dir;       /* NETRUN */
    const char *vmm_path;      /* the hostel executable (`hostel switch`) */
    unsigned ready_timeout_ms; /* a started switch must answer within (0: 10 s) */
    MgmtNotifyFn *notify;      /* "network-started", "network-crashed"... with the network's name */
    void *notify_ctx;
} MgmtNetRunOptions;

/* Make it (no network known yet) and start its supervisor. Returns 0 or -1. */
int mgmt_netrun_new(MgmtNetRun **out, const MgmtNetRunOptions *opt, Error *err);

/* Stop the supervisor and free everything.  The switches go on running. */
void mgmt_netrun_free(MgmtNetRun *nr);

/*
 * Bring net up: its host side (an internal network's tap, a bridged
 * network's bridge), then its switch: the one whose control socket answers
 * (a daemon restart: it is watched again, not restarted), else a new one,
 * waited for until it answers.  Returns 0, or -1 (the network is then
 * "failed", and tried again with back-off).
 */
int mgmt_netrun_start(MgmtNetRun *nr, const MgmtNetwork *net, Error *err);

/*
 * net's definition changed.  When its switch's configuration differs in
 * the NAT's forwards alone, the running switch is given them at once
 * (set-forwards: all or nothing).  Other changes restart the switch with
 * the new configuration if no VM has a port on it; else they wait for the
 * last VM's port to go (*pending set).  Returns 0; -EBUSY when the switch
 * refused the new forwards (a host port in use: err names it; the switch
 * and netrun keep the old definition); -1 (a restart that failed).
 */
int mgmt_netrun_update(MgmtNetRun *nr, const MgmtNetwork *net, bool *pending, Error *err);

/*
 * Stop the network: its switch is asked to quit, then killed; its host
 * side and run files are removed, and its log too when purge.  Returns 0,
 * or -1 (a switch that does not end).
 */
int mgmt_netrun_stop(MgmtNetRun *nr, const char *name, bool purge, Error *err);

/*
 * What the network is doing: {"status": "running"|"starting"|"failed"|
 * "stopped", "pid", "restarts", "message" (why it failed), "pending"
 * (a change waits), "restart_in_s"}.  NULL if out of memory.
 */
json_t *mgmt_netrun_state_json(MgmtNetRun *nr, const char *name);

/* Its status word alone. */
const char *mgmt_netrun_status(MgmtNetRun *nr, const char *name);

/*
 * One control command to the network's switch, with the descriptor fd
 * when >= 0 (SCM_RIGHTS; the caller keeps its own); *ret gets the
 * "return" value (a new reference) when ret is not NULL.  Returns 0, or
 * -1 (not running, the switch's error, a timeout).
 */
int mgmt_netrun_call(MgmtNetRun *nr, const char *name, const char *cmd, json_t *args, int fd,
                     json_t **ret, unsigned timeout_ms, Error *err);

/*
 * The name of the switch port of the VM named vm's card number card
 * ("VM.CARD"; a VM name too long for a port name is shortened with a
 * hash).
 */
void mgmt_netrun_port_name(const char *vm, unsigned card, char out[64]);

/* The tap of the VM's card number card on a bridged network ("hb-VM-CARD", hashed when long). */
void mgmt_netrun_tap_name(const char *vm, unsigned card, char out[MGMT_NET_IFNAME_MAX]);

/*
 * Plug the VM's cards on networks in before its VMM is spawned: for card
 * N of kind network, a port of the network's switch (a socketpair, one
 * end given to the switch with add-port, the card's options from cfg),
 * the other end into fds[N] and "fd": 3+N into cfg's card; on a bridged
 * network, a tap joined to the bridge into fds[N] and the card made a
 * `tap,fd=3+N`.  Ports the VM left on any switch (a crash) are removed
 * first.  fds[i] is -1 for the other cards.  Returns 0, or -1 with nothing
 * left plugged (no such network, not running, not root for bridged...).
 */
int mgmt_netrun_plug(MgmtNetRun *nr, const char *vm, VmConfig *cfg, int fds[VMCONFIG_MAX_NICS],
                     Error *err);

/* The VM's VMM is gone: remove the ports and taps plug made for cfg (the VMM's config). */
void mgmt_netrun_unplug(MgmtNetRun *nr, const char *vm, const VmConfig *cfg);

/*
 * The running VM vm (its VMM runs cfg, the VMM's config, and listens on
 * the control socket control) may have cards whose ports have gone: its
 * switch was started again after it died.  For each card on network (NULL:
 * any), when the switch has no port for it or a dead one: a new
 * socketpair, add-port, and the other end to the VMM with set-net-fd.
 * Failures are logged (the card stays down until the VM restarts).
 */
void mgmt_netrun_replug(MgmtNetRun *nr, const char *vm, const VmConfig *cfg, const char *network,
                        const char *control);

/*
 * Called (without netrun's lock) when a new switch process runs for the
 * network name where VMs may have had ports: restarted by the supervisor
 * after it died, restarted for a change, or started in place of one that
 * had gone.  hosteld replugs the running VMs on it (mgmt_runtime_replug).
 */
typedef void MgmtNetRestartedFn(void *ctx, const char *name);

/*
 * Set (or, fn NULL, clear) the callback.  Clearing waits for a call in
 * progress to return, so ctx may be freed afterwards.
 */
void mgmt_netrun_on_restarted(MgmtNetRun *nr, MgmtNetRestartedFn *fn, void *ctx);

/* The runtime's hooks over plug, unplug and replug (ctx: the MgmtNetRun). */
extern const MgmtNicHooks mgmt_netrun_nic_hooks;

#endif
