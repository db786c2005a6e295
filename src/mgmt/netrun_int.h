/*
 * What netrun.c (the switch processes) and netcard.c (the VM cards) share:
 * the MgmtNetRun object and its list of networks.  Private to src/mgmt.
 */
#ifndef HOSTEL_MGMT_NETRUN_INT_H
#define HOSTEL_MGMT_NETRUN_INT_H

#include <limits.h>
#include <pthread.h>
#include <stdbool.h>
#include <sys/types.h>

#include "mgmt/netrun.h"
#include "mgmt/supervisor.h"

typedef enum NetStatus {
    NR_STOPPED,
    NR_STARTING,
    NR_RUNNING,
    NR_FAILED,
} NetStatus;

/* One network the daemon runs (entries are kept until mgmt_netrun_free). */
typedef struct NetEntry {
    MgmtNetwork def; /* its definition as last given */
    NetStatus status;
    MgmtChild proc; /* its switch (pid 0 when none), supervised */
    bool busy;      /* a start, stop or restart is under way (one at a time) */
    bool stopping;  /* being stopped on purpose: no restart */
    bool removed;   /* stopped for good (the network was deleted) */
    bool pending;   /* a changed configuration waits for the last VM port to go */
    unsigned restarts;
    char message[300];      /* why it failed */
    pthread_cond_t changed; /* broadcast when busy clears or the switch ends */
    struct NetEntry *next;
} NetEntry;

struct MgmtDnsmasq;

struct MgmtNetRun {
    char data_dir[PATH_MAX], run_dir[PATH_MAX], vmm_path[PATH_MAX];
    struct MgmtDnsmasq *dns; /* the dnsmasq processes of networks with "dhcp" (netroot.c) */
    unsigned ready_timeout_ms;
    MgmtNotifyFn *notify;
    void *notify_ctx;
    pthread_mutex_t lock;
    NetEntry *nets;
    MgmtSupervisor *sup;           /* watches the switches (e->proc); calls back under lock */
    MgmtNetRestartedFn *restarted; /* a switch that died runs again (may be NULL) */
    void *restarted_ctx;
    unsigned restarted_calls;      /* calls of it in progress */
    pthread_cond_t restarted_idle; /* broadcast when they are none */
};

/* The entry of the network named name, or NULL (the lock held). */
NetEntry *netrun_find(MgmtNetRun *nr, const char *name);

/* A path under NETRUN/NAME ("control.sock"...) or DATA/NAME ("switch.log"). Returns 0, or -1. */
int netrun_path(const MgmtNetRun *nr, const char *name, const char *file, char *buf, size_t size);

/* The tap an internal network's switch attaches to ("hn-NAME"). */
void netrun_host_ifname(const char *name, char out[MGMT_NET_IFNAME_MAX]);

/* A VM's port left the network name: apply a pending change once no VM is left on it. */
void netrun_vm_left(MgmtNetRun *nr, const char *name);

/*
 * The switch's configuration for net as text (compact, sorted: comparable;
 * a NAT uplink keeps its leases in NETRUN/NAME/leases), or NULL if OOM.
 */
char *netrun_config_text(const MgmtNetRun *nr, const MgmtNetwork *net);

/*
 * e->def differs from what its running switch was started with (its
 * switch.json) in the NAT's forwards alone: apply them with the switch's
 * set-forwards and record them in switch.json (netfwd.c; e taken, the
 * lock held, released during the call).  Returns 0 (applied, or nothing
 * to apply), 1 (not so: no switch, a change beyond the forwards, no NAT
 * uplink), -EBUSY (the switch refused, keeping its forwards: err says
 * which rule), -1 (the switch did not answer).
 */
int netrun_forwards_live(MgmtNetRun *nr, NetEntry *e, Error *err);

#endif
