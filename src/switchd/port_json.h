/*
 * A switch port's options and state in the words of the switch's control
 * socket (docs/net.md, "The switch process"): add-port's and set-port's
 * arguments into a SwitchPortConfig, a port into query-ports' object.
 */
#ifndef HOSTEL_SWITCHD_PORT_JSON_H
#define HOSTEL_SWITCHD_PORT_JSON_H

#include <jansson.h>

#include "net/switchd.h"
#include "util/error.h"

/*
 * Fill pc from add-port's arguments: {name, mode, vlan, allowed, native,
 * isolated, uplink, spoof-check, mac, rate-mbit, flood-pps, queue}.
 * Returns 0, or -1 with one line in err naming the bad member.
 */
int switchd_port_from_json(SwitchPortConfig *pc, const json_t *args, Error *err);

/* One element of query-ports' "ports" (a new reference; NULL if out of memory). */
json_t *switchd_port_to_json(const SwitchdPortInfo *p);

#endif
