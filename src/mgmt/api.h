/*
 * The management API (docs/api.md, docs/openapi.json): the routing table
 * and one handler per route, independent of the HTTP library.  The
 * daemon's HTTP adapter (tools/hosteld.c) turns a request into an
 * ApiRequest, calls api_handle, and sends the ApiResponse; the fuzz target
 * and tests call api_handle directly.
 *
 * Every response body is JSON (but GET /metrics: Prometheus text, with its
 * content_type set); every failure is
 * {"error": {"code": STATUS, "message": "one line"}}.  Every mutating call
 * (POST, PUT, PATCH, DELETE) is appended to DIR/audit.log as one JSON line
 * (time, uid, method, path, status; over HTTPS the client certificate).
 *
 * Who may call: the unix socket's callers are trusted (the socket's mode
 * is the check); an HTTPS caller (ApiRequest.tls) is trusted when the
 * certificate it presented is in the trust store (trust.h) and valid now,
 * else it gets 403 on everything but GET /1.0 and POST /1.0/certificates
 * with a join token.  A browser's web session (the hostel_session cookie,
 * websession.h) is trusted like a certificate, but its changes must carry
 * the session's X-Hostel-CSRF header and its websockets an Origin of the
 * server's own.  The web console's files (GET /, /ui/...) and its login
 * routes are open to anyone.
 */
#ifndef HOSTEL_MGMT_API_H
#define HOSTEL_MGMT_API_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "mgmt/events.h"
#include "mgmt/hub.h"
#include "mgmt/store.h"
#include "mgmt/websession.h"
#include "util/error.h"

#define API_VERSION "1.0"
#define API_BODY_MAX (1u << 20) /* a request body larger than this is refused with 413 */

typedef struct Api Api;

typedef struct ApiRequest {
    const char *method;       /* "GET", "POST", ... */
    const char *path;         /* decoded, without the query: "/1.0/vms/vm1" */
    const char *query;        /* "recursion=1" (decoded pairs joined by '&'), or NULL */
    const char *content_type; /* the Content-Type header, or NULL */
    const char *body;         /* body_len bytes, not NUL-terminated; NULL when empty */
    size_t body_len;
    uid_t uid;      /* the caller (SO_PEERCRED), recorded in the audit log */
    bool wait_over; /* a waiting request's time is up: answer with what is */
    /* HTTPS callers (hosteld --listen); all zero on the unix socket */
    bool tls;
    const unsigned char *peer_cert; /* the client's certificate (DER), or NULL */
    size_t peer_cert_len;
    /* The caller's identity: filled by api_handle, not by the adapter */
    bool trusted;                  /* the unix socket, or a trusted, valid certificate */
    char cert_fingerprint[64 + 1]; /* SHA-256 of peer_cert (hex), or "" */
    char cert_name[64 + 1];        /* its trust entry's name, or "" */
    /* a websocket upgrade (Upgrade: websocket, Connection: upgrade) and its headers */
    bool websocket;
    const char *ws_key;      /* Sec-WebSocket-Key, or NULL */
    const char *ws_version;  /* Sec-WebSocket-Version, or NULL */
    const char *ws_protocol; /* Sec-WebSocket-Protocol, or NULL */
    /* the web console's headers (docs/web.md), each NULL when absent */
    const char *cookie;        /* Cookie: hostel_session=... */
    const char *csrf;          /* X-Hostel-CSRF */
    const char *origin;        /* Origin */
    const char *host;          /* Host */
    const char *accept;        /* Accept: a browser's GET / names text/html */
    const char *if_none_match; /* If-None-Match (static files) */
    const char *peer_addr;     /* the client's IP address over HTTPS ("127.0.0.1"), else NULL */
    /* filled by api_handle: the web session a cookie authenticated */
    unsigned web_session;           /* its serial, or 0 */
    bool web_session_ended;         /* a hostel_session cookie came that names no live session */
    char web_csrf[WEB_SECRET_TEXT]; /* its CSRF token */
} ApiRequest;

/*
 * What serves a websocket a route accepted (status 101): the adapter
 * sends the 101 with ws_accept, then hands the socket and these to the
 * stream hub (hub_adopt).  opaque belongs to ops (freed by its on_close);
 * if the upgrade never happens, api_response_free frees it with discard.
 */
typedef struct ApiStream {
    const HubConnOps *ops;
    void *opaque;
    void (*discard)(void *opaque);
    unsigned web_session; /* the web session that opened it (0: none): closed at its end */
} ApiStream;

typedef struct ApiResponse {
    int status;
    char *body;               /* JSON text (malloc'd), always set after api_handle */
    const char *content_type; /* the body's type when not JSON (a static string), or NULL */
    size_t body_len;          /* > 0: the body's length (a static file, maybe binary); 0: strlen */
    char location[128];       /* a Location header's value, or "" */
    char set_cookie[192];     /* a Set-Cookie header's value, or "" */
    char etag[64];            /* an ETag header's value (static files), or "" */
    bool static_file;         /* a file of the web console: Cache-Control: no-cache */
    unsigned web_session;     /* the web session a login opened or a logout ended (audit), or 0 */
    char allow[64];           /* an Allow header's value (405), or "" */
    int retry_after;          /* > 0: a Retry-After header's value (429), in seconds */
    double wait_s;            /* > 0: no answer yet; ask again (wait_over set when it is up) after
                           at most this long, or sooner when an operation ends */
    char ws_accept[32];       /* status 101: the Sec-WebSocket-Accept value */
    char ws_protocol[16];     /* status 101: a Sec-WebSocket-Protocol to answer with, or "" */
    ApiStream stream;         /* status 101: the websocket's handlers (take them: see ApiStream) */
} ApiResponse;

/* What the API is given when made. */
typedef struct ApiOptions {
    struct MgmtRuntime *runtime; /* the VMs that run (NULL: none can) */
    struct MgmtNetRun *netrun;   /* the networks that run (NULL: none does) */
    struct MgmtOps *ops;         /* required */
    const char *guest_dir;       /* the default guest's directory (Image, initramfs.cpio.gz) */
    const char *server_version;
    double rate_limit;     /* mutating calls a second per client (0: none) */
    double rate_burst;     /* and in a burst */
    bool no_host_paths;    /* refuse (403) requests naming host paths: for the fuzz target */
    unsigned token_ttl_s;  /* join tokens' validity in seconds (0: MGMT_TOKEN_TTL_DEFAULT) */
    MgmtEvents *events;    /* the event bus (not owned), or NULL: the API makes its own */
    const char *web_dir;   /* the web console's files (GET /, /ui/...), or NULL: none */
    WebSessionOptions web; /* the web sessions' clock and limits (zeros: the defaults) */
} ApiOptions;

/*
 * Make the API over store (not owned; it must outlive the API): open the
 * audit log in the store's directory.  Returns 0 with *out set, or -1.
 */
int api_new(Api **out, MgmtStore *store, const ApiOptions *opt, Error *err);
void api_free(Api *api);

/*
 * Answer one request into *resp (resp->body malloc'd: free it with
 * api_response_free).  Thread-safe: calls are serialised by the API's
 * lock.  Never fails: our own failures are 500 responses.
 */
void api_handle(Api *api, const ApiRequest *req, ApiResponse *resp);

/* Free resp's body, and its stream's state if nobody took it. */
void api_response_free(ApiResponse *resp);

/*
 * End the web sessions whose time is up (their on_end is called, ApiOptions.web):
 * call it every second or so, so their streams do not outlive them.
 */
void api_web_sweep(Api *api);

/* The API's event bus (given in ApiOptions, or its own): for emitters outside the API. */
MgmtEvents *api_events(Api *api);

/*
 * At daemon start, before the API is served: find every defined VM's VMM
 * again (those still running are watched, one control-socket connection
 * each, eight at a time; how the others ended is recorded), so that no
 * client sees a running VM as stopped.
 */
void api_attach_vms(Api *api);

/*
 * Before that: bring every defined network up (its switch found again, or
 * started), so that the VMs' cards have their networks.
 */
void api_attach_networks(Api *api);

/*
 * Then start the stopped VMs marked autostart, as operations of uid 0 (the
 * runtime bounds how many start at once).
 */
void api_autostart_vms(Api *api);

/*
 * What join tokens embed so a client can pin this server: its TLS
 * certificate's SHA-256 fingerprint and the addresses it listens on (a
 * JSON array of "HOST:PORT" strings; the reference is taken).  Returns 0,
 * or -1.
 */
int api_set_server_identity(Api *api, const char *fingerprint, json_t *addresses, Error *err);

/*
 * The default guest's directory: $HOSTEL_CACHE/guest, else
 * $HOME/.cache/hostel/guest (as `hostel run`).  Returns 0, or -1.
 */
int api_default_guest_dir(char *buf, size_t size, Error *err);

/* The OpenAPI document the daemon serves (docs/openapi.json, embedded at build time). */
extern const char mgmt_openapi_json[];

#endif
