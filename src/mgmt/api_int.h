/*
 * What the API's resource files share (api.c, api_vms.c, ...): the Api
 * object, a route's arguments and handler type, and the reply and body
 * helpers every handler uses so the error shape is written once.  Private
 * to src/mgmt.
 */
#ifndef HOSTEL_MGMT_API_INT_H
#define HOSTEL_MGMT_API_INT_H

#include <jansson.h>
#include <pthread.h>
#include <stdbool.h>

#include "mgmt/api.h"
#include "mgmt/ops.h"
#include "mgmt/netrun.h"
#include "mgmt/network.h"
#include "mgmt/ratelimit.h"
#include "mgmt/runtime.h"
#include "mgmt/pool.h"
#include "mgmt/trust.h"
#include "mgmt/vm.h"

#define API_ARGS_MAX 3

struct Api {
    MgmtStore *store;
    MgmtRuntime *runtime; /* may be NULL (tests of definitions alone): no VM ever runs */
    MgmtOps *ops;
    MgmtPools *pools;       /* the storage pools (pool.h), opened on the store's directory */
    MgmtNetworks *networks; /* the network definitions (network.h) */
    MgmtNetRun *netrun;     /* the networks that run (NULL: none does) */
    MgmtTrust *trust;       /* DIR/trust: the certificates HTTPS callers are served by */
    int audit_fd;           /* DIR/audit.log, O_APPEND */
    bool host_paths;        /* clients may name host paths (pools, imports, exports) */
    char *guest_dir;
    char *server_version;
    pthread_mutex_t lock; /* serialises api_handle: the store is not thread-safe */
    RateLimit rate;       /* mutating calls per client */
    MgmtEvents *events;   /* the event bus (thread-safe on its own) */
    bool own_events;      /* made by api_new (none was given) */
    WebSessions *web;     /* the web console's login tokens and sessions */
    char *web_dir;        /* the web console's files ("" = none) */
};

/*
 * The path segments a route's "{...}" placeholders matched, in order
 * ("/1.0/vms/{name}" puts the VM's name in arg[0]); each passed
 * mgmt_name_check before the handler runs.
 */
typedef struct ApiArgs {
    char arg[API_ARGS_MAX][MGMT_NAME_MAX + 2];
    unsigned n;
} ApiArgs;

typedef void ApiHandler(Api *api, const ApiRequest *req, const ApiArgs *args, ApiResponse *r);

/* Replies: text (taken), JSON (the reference is taken; NULL = out of memory), an error. */
void api_reply_text(ApiResponse *r, int status, char *text);
void api_reply_json(ApiResponse *r, int status, json_t *j);
void api_error(ApiResponse *r, int status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* The body as a JSON object, or NULL after replying 413, 415 or 400. */
json_t *api_body_object(const ApiRequest *req, ApiResponse *r);

/* Every member of obj is in names (NULL-terminated); else false after a 400. */
bool api_members_known(const json_t *obj, const char *const *names, ApiResponse *r);

/* The state word of the VM named name: "stopped", "running"... or "suspended". */
const char *api_vm_state(Api *api, const char *name);

/* The VM named name, or NULL after a 404. */
const MgmtVm *api_vm_or_404(Api *api, const char *name, ApiResponse *r);

/*
 * Start an operation (spec->run on its own thread) and reply 202 with its
 * object and Location: /1.0/operations/ID.  On failure (and then ctx is
 * freed) a 500.
 */
void api_reply_operation(Api *api, const MgmtOpSpec *spec, ApiResponse *r);

/*
 * A websocket upgrade request's handshake checked (version 13, a valid
 * key): true with r->ws_accept set, else false after a 400 (api_ws.c).
 */
bool api_ws_accept(const ApiRequest *req, ApiResponse *r);

/*
 * Answer a websocket upgrade with a stream bridged to fd, a connected
 * stream socket (taken in every case): binary messages from the client go
 * to fd, what fd says comes back as binary messages, either side closing
 * closes the other (hub_bridge).  Text messages are ignored.  A client
 * asking for the subprotocol "binary" gets it echoed.  For the
 * console route: connect to the VM's console socket, then call this.
 * Returns true with the 101 set up, or false (fd closed) after a 400/500.
 */
bool api_reply_bridge(const ApiRequest *req, ApiResponse *r, int fd);

/* A VM's logs (api_logs.c). */
ApiHandler api_h_vm_logs, api_h_vm_log;

/* Clones of a VM (api_clone.c). */
ApiHandler api_h_vm_clone;

/* A VM's console as a websocket (api_console.c). */
ApiHandler api_h_vm_console;

/* A VM's screen (its VNC server) as a websocket (api_vnc.c). */
ApiHandler api_h_vm_vnc;

/* The event stream and the kept events (api_events.c). */
ApiHandler api_h_events;

/* VM definitions (api_vms.c). */
ApiHandler api_h_vms_list, api_h_vms_create, api_h_vm_get, api_h_vm_put, api_h_vm_patch,
    api_h_vm_delete;

/* The lifecycle (api_state.c) and operations (api_ops.c). */
ApiHandler api_h_vm_state_get, api_h_vm_state_put, api_h_snapshots_list, api_h_snapshot_create,
    api_h_snapshot_delete, api_h_snapshot_revert;
ApiHandler api_h_ops_list, api_h_op_get, api_h_op_cancel, api_h_op_wait;
/* Storage pools and volumes (api_volumes.c). */
ApiHandler api_h_pools_list, api_h_pools_create, api_h_pool_get, api_h_pool_delete,
    api_h_volumes_list, api_h_volumes_create, api_h_volume_get, api_h_volume_patch,
    api_h_volume_delete, api_h_volume_export;

/*
 * Each disk of config (a VmConfig JSON object) given as {"volume":
 * "POOL/VOL" or "VOL" (pool default), "read-only"?} becomes the volume's
 * {"path", "format", "read-only"}; false after a 422 naming the disk.
 */
bool api_disks_from_volumes(Api *api, json_t *config, ApiResponse *r);

/*
 * Delete the volumes that are disks of config and that no VM definition of
 * the store uses any more (call it once the VM named name is removed), and
 * the disk images a clone made in its own data directory that no VM has
 * as a disk or a backing file: what was deleted ("POOL/VOL", or the
 * image's path).  Host files that are neither are left.
 */
json_t *api_purge_volumes(Api *api, const char *name, const VmConfig *config);
/* Networks (api_networks.c): the reads are unlocked routes. */
ApiHandler api_h_networks_list, api_h_networks_create, api_h_network_get, api_h_network_patch,
    api_h_network_delete;

/*
 * The cards of cfg (a definition being stored): none holds a descriptor,
 * and each of kind network names a network that exists; else false after
 * a 400 naming the card.
 */
bool api_nics_check(Api *api, const VmConfig *cfg, ApiResponse *r);

/*
 * Each card of config (a VmConfig JSON object) of kind network given
 * without a mac gets a random, locally administered one: VMs share a
 * network, so the codec's default (52:54:00:12:34:56 for every first
 * card) would clash.
 */
void api_nics_fresh_macs(json_t *config);

/* Trust: certificates and join tokens (api_trust.c). */
ApiHandler api_h_certs_list, api_h_certs_add, api_h_cert_get, api_h_cert_delete, api_h_tokens_list,
    api_h_tokens_add, api_h_token_delete;

/* The web console's logins (api_web.c). */
ApiHandler api_h_web_tokens, api_h_web_login, api_h_web_session, api_h_web_logout;

/*
 * A caller not trusted otherwise whose hostel_session cookie names a live
 * session: trusted, with req->web_session and web_csrf set; one whose
 * cookie names none: req->web_session_ended (answered 401, not 403).
 */
void api_web_identify(Api *api, ApiRequest *req);

/*
 * What a cookie-authenticated request must also show: the session's
 * X-Hostel-CSRF on a change, an Origin of the server's own on a websocket
 * upgrade.  True when it does (or is not cookie-authenticated), else false
 * after a 403.
 */
bool api_web_guard(const ApiRequest *req, ApiResponse *r);

/* The request is for a file of the web console: GET / by a browser, GET /ui/... (api_static.c). */
bool api_static_wanted(const ApiRequest *req);

/* Answer it from the web directory: the file, 304, 404, or 503 when none is installed. */
void api_static_serve(Api *api, const ApiRequest *req, ApiResponse *r);

/* Metrics (api_metrics.c): GET /1.0/host and GET /metrics (unlocked routes). */
ApiHandler api_h_host_get, api_h_metrics_get;

/*
 * Add "stats" (the VMM's query-stats, asked with a short timeout) to a
 * running or paused VM's state; nothing when the VMM does not answer in
 * time.  Call it without the API's lock.
 */
void api_vm_state_add_stats(Api *api, const char *name, json_t *state);

#endif
