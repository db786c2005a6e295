/*
 * A NAT network's forwards changed while its switch runs (netrun_int.h):
 * applied at once with the switch's set-forwards (its slirp uplink binds
 * the new host ports and closes the old ones, all or nothing), without a
 * restart, so the VMs on it keep their ports and connections.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "control/client.h"
#include "mgmt/fileio.h"
#include "mgmt/netrun_int.h"
#include "util/log.h"

#define FWD_CALL_MS 5000 /* set-forwards */

/* The uplink named "nat" of a switch configuration (a slirp one), or NULL. */
static json_t *nat_uplink(json_t *cfg)
{
    size_t i;
    json_t *u;
    json_array_foreach(json_object_get(cfg, "uplinks"), i, u)
    {
        const char *kind = json_string_value(json_object_get(u, "kind"));
        const char *name = json_string_value(json_object_get(u, "name"));
        if (kind && name && strcmp(kind, "slirp") == 0 && strcmp(name, "nat") == 0)
            return u;
    }
    return NULL;
}

/*
 * The forwards of want when it differs from the configuration the switch
 * runs (have) in them alone: a new reference; NULL when it differs in
 * more, or has no NAT uplink.  *same when the forwards are the same too.
 */
static json_t *forwards_only(json_t *have, json_t *want, bool *same)
{
    json_t *hu = nat_uplink(have), *wu = nat_uplink(want);
    *same = false;
    if (!hu || !wu)
        return NULL;
    json_t *hf = json_incref(json_object_get(hu, "hostfwd")),
           *wf = json_incref(json_object_get(wu, "hostfwd"));
    json_object_del(hu, "hostfwd");
    json_object_del(wu, "hostfwd");
    bool rest_same = json_equal(have, want);
    *same = rest_same && json_equal(hf ? hf : json_array(), wf ? wf : json_array());
    json_decref(hf);
    if (!rest_same || !wf) {
        json_decref(wf);
        return NULL;
    }
    return wf;
}

/* set-forwards on the control socket at path: 0, -EBUSY refused (err: why), -1 no answer. */
static int call_set_forwards(const char *path, json_t *fwd, Error *err)
{
    ControlConn c;
    if (control_conn_open(&c, path, FWD_CALL_MS, err) < 0)
        return -1;
    json_t *args = json_pack("{s:s, s:O}", "uplink", "nat", "hostfwd", fwd);
    json_t *reply = args ? control_conn_call(&c, "set-forwards", args, err) : NULL;
    json_decref(args);
    control_conn_close(&c);
    if (!reply)
        return -1;
    int rc = 0;
    if (!json_object_get(reply, "return")) {
        const char *d = json_string_value(json_object_get(json_object_get(reply, "error"), "desc"));
        rc = d ? -EBUSY : -1;
        error_set(err, "%s", d ? d : "set-forwards: the switch sent a malformed reply");
    }
    json_decref(reply);
    return rc;
}

int netrun_forwards_live(MgmtNetRun *nr, NetEntry *e, Error *err)
{
    char cfg_path[PATH_MAX], ctl_path[PATH_MAX], *disk = NULL, *text = NULL;
    size_t len;
    bool same = false;
    if (!e->proc.pid ||
        netrun_path(nr, e->def.name, "switch.json", cfg_path, sizeof(cfg_path)) < 0 ||
        netrun_path(nr, e->def.name, "control.sock", ctl_path, sizeof(ctl_path)) < 0 ||
        mgmt_read_file(cfg_path, 1 << 20, &disk, &len, NULL) < 0)
        return 1;
    text = netrun_config_text(nr, &e->def);
    json_t *have = json_loads(disk, 0, NULL), *want = text ? json_loads(text, 0, NULL) : NULL;
    json_t *fwd = have && want ? forwards_only(have, want, &same) : NULL;
    json_decref(have);
    json_decref(want);
    free(disk);
    int rc = same ? 0 : 1;
    if (fwd && !same) {
        MgmtNetwork def = e->def;
        pthread_mutex_unlock(&nr->lock);
        rc = call_set_forwards(ctl_path, fwd, err);
        if (rc == 0 && mgmt_write_atomic(cfg_path, text, strlen(text), 0640, err) < 0)
            log_warn("network %s: forwards changed, but %s", def.name, err->msg);
        if (rc == 0)
            log_info("network %s: its switch forwards %zu host ports now", def.name,
                     json_array_size(fwd));
        pthread_mutex_lock(&nr->lock);
    }
    json_decref(fwd);
    free(text);
    return rc;
}
