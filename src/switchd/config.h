/*
 * The configuration of `hostel switch` (`--config FILE`, written by
 * hosteld; docs/net.md, "The switch process"): JSON into a SwitchdConfig.
 *
 *   {"name": "lan", "ageing": 300, "fdb-max": 4096,
 *    "uplinks": [
 *      {"kind": "slirp", "name": "nat", "subnet": "10.77.0.0/24",
 *       "hostfwd": ["tcp:127.0.0.1:8080-10.77.0.15:80"]},
 *      {"kind": "vxlan", "name": "vxlan", "vni": 42, "local": "0.0.0.0", "port": 4789,
 *       "peers": ["192.0.2.2", "192.0.2.3:4790"]},
 *      {"kind": "tap", "name": "host", "ifname": "hn-lan"}]}
 *
 * Everything but "name" (and an uplink's "kind", a vxlan's "vni", a tap's
 * "ifname") may be left out.  Unknown members are errors, so a typo is
 * never silently ignored.
 */
#ifndef HOSTEL_SWITCHD_CONFIG_H
#define HOSTEL_SWITCHD_CONFIG_H

#include <jansson.h>

#include "net/switchd.h"
#include "util/error.h"

#define SWITCHD_CONFIG_MAX (1u << 20) /* bytes of a configuration file */

/*
 * Fill cfg from the parsed configuration root.  Returns 0, or -1 with one
 * line in err naming the member that is wrong, e.g. 'uplinks[1] (vxlan):
 * "vni" must be an integer from 0 to 16777215'.
 */
int switchd_config_from_json(SwitchdConfig *cfg, const json_t *root, Error *err);

/*
 * Parse list, a "hostfwd" array of strings (as a slirp uplink's in the
 * file), into u->slirp.fwd (replacing what it had), guest addresses in
 * u's subnet.  where starts each error.  Returns 0, or -1 with err.
 */
int switchd_config_hostfwd(UplinkConfig *u, const json_t *list, const char *where, Error *err);

/* Read and parse the file at path ("PATH: ..." starts each error). Returns 0 or -1. */
int switchd_config_load(SwitchdConfig *cfg, const char *path, Error *err);

#endif
