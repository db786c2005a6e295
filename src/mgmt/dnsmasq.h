/*
 * dnsmasq for hosteld's networks with a host tap (an internal network
 * with "dhcp": true, a nat network in host mode; docs/mgmt.md
 * "Networks"): DHCP and DNS on that interface only, as libvirt runs it.
 *
 *   dnsmasq --keep-in-foreground --conf-file=/dev/null --bind-interfaces
 *           --interface=TAP --except-interface=lo --strict-order
 *           --dhcp-range=.2,LAST,MASK,1h --dhcp-lease-max=N
 *           --dhcp-leasefile=DATA/NAME/leases --pid-file=NETRUN/NAME/dnsmasq.pid
 *           --dhcp-authoritative --dhcp-no-override --log-facility=-
 *           [--dhcp-option=3]        (internal: no default route offered)
 *
 * DNS queries are forwarded to the host's resolvers (dnsmasq reads
 * /etc/resolv.conf).  Each dnsmasq runs in its own session, its output
 * appended to DATA/NAME/dnsmasq.log, and outlives the daemon like a
 * switch: at start the daemon finds it again by its pid file and its
 * command line (the same arguments: watched again; others: replaced).  A
 * supervisor thread (supervisor.h) holds a pidfd of each; one that dies
 * is started again after 1 s, then 2, 4... up to 30 s (afresh after a
 * minute of running), with the events "network-dnsmasq-crashed" {"pid",
 * "message", "restart_in_s"}, then "network-dnsmasq-restarted" {"pid",
 * "restarts"} (or "network-dnsmasq-restart-failed" {"error",
 * "restart_in_s"} when it cannot be spawned).
 *
 * The leases file (dnsmasq's format: "EXPIRY MAC IPV4 HOSTNAME CLIENTID"
 * per line) is read for the API with a cap on its size; lines that are
 * not leases are ignored.
 */
#ifndef HOSTEL_MGMT_DNSMASQ_H
#define HOSTEL_MGMT_DNSMASQ_H

#include <jansson.h>
#include <limits.h>
#include <stdbool.h>
#include <stddef.h>

#include "mgmt/network.h"
#include "mgmt/runtime.h"
#include "util/error.h"

#define MGMT_DNSMASQ_ARGS 20             /* arguments, with the program's */
#define MGMT_DNSMASQ_CMD_MAX 8192        /* bytes of the command line, NUL-separated */
#define MGMT_LEASES_FILE_MAX (64 * 1024) /* bytes of a leases file read; the rest is ignored */
#define MGMT_LEASES_MAX 1024             /* leases shown at most */
#define MGMT_DNSMASQ_LEASE_TIME "1h"

/* dnsmasq's command line: argv[] points into text ("ARG\0ARG\0...", as /proc/PID/cmdline). */
typedef struct MgmtDnsmasqCmd {
    char text[MGMT_DNSMASQ_CMD_MAX];
    size_t len; /* bytes of text used, the last NUL included */
    char *argv[MGMT_DNSMASQ_ARGS + 1];
    unsigned argc;
} MgmtDnsmasqCmd;

/*
 * The command line of net's dnsmasq (program: the dnsmasq executable;
 * ifname: the host tap; leases, pidfile: the files).  Returns 0, or -1
 * when a path is too long.
 */
int mgmt_dnsmasq_cmd(const MgmtNetwork *net, const char *program, const char *ifname,
                     const char *leases, const char *pidfile, MgmtDnsmasqCmd *cmd, Error *err);

/* One DHCP lease. */
typedef struct MgmtLease {
    char mac[18]; /* "52:54:00:12:34:56", lower case */
    char ipv4[MGMT_NET_ADDR_TEXT];
    char hostname[64]; /* "" when the client gave none */
    long long expires; /* seconds since the epoch; 0 = never */
} MgmtLease;

/*
 * The leases in len bytes of text (a leases file) into out (at most max):
 * only well-formed lines, with an address in subnet (NULL: any), are
 * taken; any other line (too long, a DUID, a hostile or broken one) is
 * skipped.  Returns how many.
 */
size_t mgmt_leases_parse(const char *text, size_t len, const MgmtSubnet *subnet, MgmtLease *out,
                         size_t max);

/*
 * The leases file at path as the API's array: [{"mac", "ipv4",
 * "hostname" (null when none), "expires" (RFC 3339, null when never)}],
 * from its first MGMT_LEASES_FILE_MAX bytes.  A missing file is [].  NULL
 * if out of memory.
 */
json_t *mgmt_leases_json(const char *path, const MgmtSubnet *subnet);

/* ---- the processes ---- */

typedef struct MgmtDnsmasq MgmtDnsmasq;

/*
 * Make it (no dnsmasq known yet) and start its supervisor; notify (may be
 * NULL) is given its events, with the network's name, never with its lock
 * held.  Returns 0 or -1.
 */
int mgmt_dnsmasq_new(MgmtDnsmasq **out, MgmtNotifyFn *notify, void *notify_ctx, Error *err);

/* Stop the supervisor and forget everything: the dnsmasq processes go on running. */
void mgmt_dnsmasq_free(MgmtDnsmasq *d);

/*
 * Make sure the network name runs cmd (its pid file is the one in cmd):
 * the one it runs already (this daemon's, or found by its pid file and
 * command line), else a new one (an older one with other arguments is
 * ended first) in its own session, output appended to log, waited for
 * until it has written its pid file.  Returns 0, or -1 with dnsmasq's own
 * last line when it ended at once (a port in use...).
 */
int mgmt_dnsmasq_start(MgmtDnsmasq *d, const char *name, const MgmtDnsmasqCmd *cmd,
                       const char *pidfile, const char *log, Error *err);

/*
 * End the network's dnsmasq (SIGTERM, then SIGKILL), and one that its pid
 * file names (run by a daemon before this one) when this daemon has none.
 * Returns 0, or -1 when it does not end.
 */
int mgmt_dnsmasq_stop(MgmtDnsmasq *d, const char *name, const char *pidfile, Error *err);

/*
 * {"status": "running"|"failed"|"stopped", "pid", "restarts" (by the
 * supervisor), "message" (why it last ended or failed to start)} of the
 * network's dnsmasq.  NULL if out of memory.
 */
json_t *mgmt_dnsmasq_state_json(MgmtDnsmasq *d, const char *name);

/* Its pid (0: none). */
int mgmt_dnsmasq_pid(MgmtDnsmasq *d, const char *name);

#endif
