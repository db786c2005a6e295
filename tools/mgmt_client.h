/*
 * The client side of hosteld's API for `hostel`'s management verbs
 * (cmd_mgmt.c): one HTTP request over the daemon's unix socket with
 * libcurl (which will also speak HTTPS with client certificates to remote
 * hosts), the JSON reply decoded.
 */
#ifndef HOSTEL_TOOLS_MGMT_CLIENT_H
#define HOSTEL_TOOLS_MGMT_CLIENT_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "util/error.h"

typedef struct MgmtReply {
    long status;  /* the HTTP status */
    json_t *body; /* the decoded body (a new reference), or NULL if it was not JSON */
} MgmtReply;

/*
 * The daemon's socket: given (--socket) if not NULL, else $HOSTEL_SOCKET,
 * else /run/hostel/hosteld.sock as root and
 * $XDG_RUNTIME_DIR/hostel/hosteld.sock otherwise.  Returns 0, or -1.
 */
int mgmt_client_socket(char *buf, size_t size, const char *given, Error *err);

/*
 * Send method path (with body as JSON when not NULL) to the daemon on
 * socket and wait for the reply.  Returns 0 with *out filled (free it with
 * mgmt_reply_free), or -1 with err filled; when nobody listens on socket,
 * *no_daemon is set and err says how to start hosteld.
 */
int mgmt_client_call(const char *socket, const char *method, const char *path, json_t *body,
                     MgmtReply *out, bool *no_daemon, Error *err);

void mgmt_reply_free(MgmtReply *r);

/* The one-line message of an error reply, or a generic line with the status. */
const char *mgmt_reply_message(const MgmtReply *r, char *buf, size_t size);

#endif
