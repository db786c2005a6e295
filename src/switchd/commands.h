/*
 * The control commands of `hostel switch` (docs/net.md, "The switch
 * process"), served by the control socket's server (control/control.h)
 * with the switch daemon (net/switchd.h) behind them:
 *   add-port {port options} + a SOCK_SEQPACKET socket passed with the request
 *   remove-port {name}, set-port {port options}
 *   set-forwards {uplink, hostfwd}: a slirp uplink's forwards, all or none
 *   query-ports, query-fdb, query-status, quit
 */
#ifndef HOSTEL_SWITCHD_COMMANDS_H
#define HOSTEL_SWITCHD_COMMANDS_H

#include <stdbool.h>
#include <stddef.h>

#include "control/control.h"
#include "net/switchd.h"

/* What the handlers work on (the table's opaque pointer). */
typedef struct SwitchdControl {
    SwitchDaemon *d;
    ControlServer *srv; /* for the descriptor add-port takes */
    bool quit;          /* set by quit: the process ends after the reply */
} SwitchdControl;

extern const ControlCommand switchd_commands[];
extern const size_t switchd_ncommands;

#endif
