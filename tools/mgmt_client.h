/*
 * The client side of hosteld's API for `hostel`'s management verbs
 * (cmd_mgmt.c, cmd_remote.c): one HTTP request with libcurl, over the
 * local daemon's unix socket or over HTTPS to a remote (docs/mgmt.md,
 * "Trust"), the JSON reply decoded.
 *
 * Remotes live in $XDG_CONFIG_HOME/hostel/remotes.json (else
 * ~/.config/hostel), beside this client's own key and self-signed
 * certificate (client.key, client.crt, made on first need).  A remote is
 * pinned: its server certificate's public key is saved when it is added
 * and every later connection must present the same key (libcurl's
 * CURLOPT_PINNEDPUBLICKEY; no CA is involved, the server is self-signed).
 */
#ifndef HOSTEL_TOOLS_MGMT_CLIENT_H
#define HOSTEL_TOOLS_MGMT_CLIENT_H

#include <curl/curl.h>
#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "mgmt/cert.h"
#include "mgmt/vm.h"
#include "util/error.h"

#define MGMT_REMOTE_LOCAL "local" /* the name of the local daemon (its unix socket) */

/* Where a call goes: the local socket, or a remote over HTTPS. */
typedef struct MgmtTarget {
    char remote[MGMT_NAME_MAX + 1]; /* the remote's name, "" for the local socket */
    char socket[108];               /* the unix socket (local) */
    char url[512];                  /* "https://HOST:PORT" (remote) */
    char pin[96];                   /* "sha256//BASE64" of the server's public key, or "" */
    char cert[4096], key[4096];     /* this client's certificate and key files (remote) */
} MgmtTarget;

typedef struct MgmtReply {
    long status;  /* the HTTP status */
    json_t *body; /* the decoded body (a new reference), or NULL if it was not JSON */
    char *text;   /* a body that was not JSON (malloc'd, NUL-terminated), or NULL */
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

/*
 * Where calls go: the remote named remote when not NULL, else
 * $HOSTEL_REMOTE, else (unless a socket is given or $HOSTEL_SOCKET set)
 * remotes.json's default; "local" or none is the local socket (given, as
 * mgmt_client_socket).  Returns 0, or -1 (unknown remote, unreadable
 * remotes.json, no client certificate).
 */
int mgmt_client_target(MgmtTarget *t, const char *given_socket, const char *remote, Error *err);

/*
 * mgmt_client_call to t.  Returns 0 with *out filled, or -1 (*no_daemon set
 * when nothing answers at all).
 */
int mgmt_client_call_target(const MgmtTarget *t, const char *method, const char *path, json_t *body,
                            MgmtReply *out, bool *no_daemon, Error *err);

/*
 * "REMOTE:VM" addressing: when arg holds a ':', the remote before it is
 * set for this process's calls ($HOSTEL_REMOTE) and the VM's name after it
 * is returned; otherwise arg itself.
 */
const char *mgmt_client_split_vm(const char *arg);

/* $XDG_CONFIG_HOME/hostel (else ~/.config/hostel) into buf.  Returns 0, or -1. */
int mgmt_client_config_dir(char *buf, size_t size, Error *err);

/*
 * This client's key and certificate (client.key, client.crt in the config
 * directory), made on first need.  Returns 0 with the paths, or -1.
 */
int mgmt_client_identity(char *cert, size_t cert_size, char *key, size_t key_size, Error *err);

/*
 * Connect to url ("https://HOST:PORT") presenting this client's
 * certificate, without trusting the server, and get the server's
 * certificate into *server (free with mgmt_cert_free) and GET /1.0's
 * "auth" into auth.  Returns 0, or -1 (unreachable, not TLS).
 */
int mgmt_client_probe(const char *url, MgmtCert *server, char *auth, size_t auth_size, Error *err);

/* remotes.json as JSON ({"default": NAME, "remotes": {NAME: {...}}}: a new reference), or NULL. */
json_t *mgmt_remotes_load(Error *err);

/* Write remotes.json (mode 0600, atomically).  Returns 0, or -1. */
int mgmt_remotes_save(const json_t *remotes, Error *err);

/*
 * HTTPS to remote t on h: this client's certificate, and the server's
 * public key pinned (self-signed, so no CA and no host name check: the pin
 * is the check).  Cannot fail.
 */
void mgmt_client_setup_tls(CURL *h, const MgmtTarget *t);

void mgmt_reply_free(MgmtReply *r);

/*
 * The verbs' common call: method path (body as JSON when not NULL) on the
 * daemon the command names (socket if not NULL, else --remote or the
 * default; mgmt_client_target).  The reply's JSON body (a new reference)
 * when the status is 2xx; else NULL after printing one line on stderr (the
 * daemon's message, or how to start it).
 */
json_t *mgmt_client_json(const char *socket, const char *method, const char *path, json_t *body);

/* j on stdout, indented, and a newline (--json). */
void mgmt_client_print_json(const json_t *j);

/* The one-line message of an error reply, or a generic line with the status. */
const char *mgmt_reply_message(const MgmtReply *r, char *buf, size_t size);

#endif
