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
#include "mgmt/vm.h"

#define API_ARGS_MAX 3

struct Api {
    MgmtStore *store;
    int audit_fd; /* DIR/audit.log, O_APPEND */
    char *guest_dir;
    char *server_version;
    pthread_mutex_t lock; /* serialises api_handle: the store is not thread-safe */
    MgmtEvents *events;   /* the event bus (thread-safe on its own) */
    bool own_events;      /* made by api_new (none was given) */
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

/*
 * A websocket upgrade request's handshake checked (version 13, a valid
 * key): true with r->ws_accept set, else false after a 400 (api_events.c).
 */
bool api_ws_accept(const ApiRequest *req, ApiResponse *r);

/* The event stream and the kept events (api_events.c). */
ApiHandler api_h_events;

/* VM definitions (api_vms.c). */
ApiHandler api_h_vms_list, api_h_vms_create, api_h_vm_get, api_h_vm_put, api_h_vm_patch,
    api_h_vm_delete;

#endif
