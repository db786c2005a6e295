/*
 * The switch process (`hostel switch`, docs/net.md "The switch process"):
 * the event loop, the switch daemon (net/switchd.h), its control socket
 * (control/control.h with switchd/commands.h) and the pid file, run until
 * `quit` or SIGTERM/SIGINT.  One thread; no output but log lines.
 */
#ifndef HOSTEL_SWITCHD_SERVE_H
#define HOSTEL_SWITCHD_SERVE_H

#include "net/switchd.h"
#include "util/error.h"

typedef struct SwitchdServeOptions {
    const char *control;  /* the control socket's path */
    const char *listen;   /* a SOCK_SEQPACKET socket for `--net socket,path=` clients, or NULL */
    const char *pid_file; /* written once everything is up, removed at the end; or NULL */
    const char *version;  /* in the control socket's greeting */
} SwitchdServeOptions;

/*
 * Start the switch cfg describes and serve it until quit or a signal.
 * Returns 0 after a clean stop, or -1 with err filled if it could not
 * start (an uplink, a socket, the pid file).
 */
int switchd_serve(const SwitchdConfig *cfg, const SwitchdServeOptions *o, Error *err);

#endif
