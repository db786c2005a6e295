/*
 * The management API's core (api.h): one routing table (path pattern,
 * method, handler), the reply and body helpers, the audit log.  A path
 * that matches a route with another method is 405 with Allow; no match is
 * 404.  The handlers live in one file per resource (api_vms.c, ...) and
 * never print; every failure goes through api_error, so the error shape is
 * written in one place.
 */
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "mgmt/api_int.h"
#include "util/compiler.h"
#include "util/io.h"
#include "util/log.h"

/* One route: a pattern of segments ("{x}" matches one name), a method, a handler. */
typedef struct ApiRoute {
    const char *pattern;
    const char *method;
    ApiHandler *handle;
    bool unlocked; /* the handler runs without the API's lock and takes it itself */
} ApiRoute;

/* ---- replies ---- */

void api_reply_text(ApiResponse *r, int status, char *text)
{
    free(r->body);
    r->status = status;
    r->body = text;
    r->body_len = 0;
}

void api_error(ApiResponse *r, int status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

void api_error(ApiResponse *r, int status, const char *fmt, ...)
{
    char msg[600];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    for (char *p = msg; *p; p++) /* one line, always */
        if ((unsigned char)*p < 0x20)
            *p = ' ';
    json_t *m = json_string(msg);
    if (!m) { /* a client's bytes that are not UTF-8 (a path, a name): shown as '?' */
        for (char *p = msg; *p; p++)
            if ((unsigned char)*p >= 0x80)
                *p = '?';
        m = json_string(msg);
    }
    json_t *j = m ? json_pack("{s:{s:i, s:o}}", "error", "code", status, "message", m) : NULL;
    char *text = j ? json_dumps(j, 0) : NULL;
    json_decref(j);
    /* out of memory: a constant that needs none */
    api_reply_text(r, text ? status : 500,
                   text ? text
                        : strdup("{\"error\": {\"code\": 500, \"message\": \"out of memory\"}}"));
}

/* Reply with j (the reference is taken); NULL means we ran out of memory. */
void api_reply_json(ApiResponse *r, int status, json_t *j)
{
    char *text = j ? json_dumps(j, 0) : NULL;
    json_decref(j);
    if (!text)
        api_error(r, 500, "out of memory");
    else
        api_reply_text(r, status, text);
}

/* ---- request bodies ---- */

static bool content_type_is_json(const char *ct)
{
    static const char want[] = "application/json";
    if (!ct || strncasecmp(ct, want, sizeof(want) - 1) != 0)
        return false;
    char c = ct[sizeof(want) - 1];
    return c == '\0' || c == ';' || c == ' ';
}

/* The body as a JSON object, or NULL after replying 413, 415 or 400. */
json_t *api_body_object(const ApiRequest *req, ApiResponse *r)
{
    if (req->body_len > API_BODY_MAX) {
        api_error(r, 413, "the request body is larger than %u bytes", API_BODY_MAX);
        return NULL;
    }
    if (!content_type_is_json(req->content_type)) {
        api_error(r, 415, "the request body must be application/json, not %.60s",
                  req->content_type ? req->content_type : "untyped");
        return NULL;
    }
    json_error_t je;
    json_t *j = json_loadb(req->body ? req->body : "", req->body_len, JSON_REJECT_DUPLICATES, &je);
    if (!j) {
        api_error(r, 400, "malformed JSON: line %d column %d: %s", je.line, je.column, je.text);
        return NULL;
    }
    if (!json_is_object(j)) {
        json_decref(j);
        api_error(r, 400, "the request body is not a JSON object");
        return NULL;
    }
    return j;
}

/* Every member of obj is in names; else 400 naming the first stranger. */
bool api_members_known(const json_t *obj, const char *const *names, ApiResponse *r)
{
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)obj, key, v)
    {
        const char *const *n = names;
        while (*n && strcmp(*n, key) != 0)
            n++;
        if (!*n) {
            api_error(r, 400, "%.64s: unknown member", key);
            return false;
        }
    }
    return true;
}

/* ---- handlers ---- */

static void h_versions(Api *api, const ApiRequest *req, const ApiArgs *args, ApiResponse *r)
{
    api_reply_json(r, 200, json_pack("[s]", "/" API_VERSION));
}

/* GET /1.0: what the server is and how it sees the caller ("unix", "trusted", "untrusted"). */
static void h_server(Api *api, const ApiRequest *req, const ApiArgs *args, ApiResponse *r)
{
    const char *auth = !req->tls ? "unix" : req->trusted ? "trusted" : "untrusted";
    json_t *j = json_pack("{s:s, s:s, s:s}", "api_version", API_VERSION, "auth", auth,
                          "certificate_fingerprint", mgmt_trust_server_fingerprint(api->trust));
    if (j && !req->tls)
        json_object_set_new(j, "auth_uid", json_integer((json_int_t)req->uid));
    if (j && req->trusted) {
        json_object_set_new(j, "api_extensions",
                            json_pack("[s, s, s, s, s, s, s]", "vms", "certificates",
                                      "storage-pools", "operations", "events", "networks",
                                      "web-console"));
        json_object_set_new(j, "server",
                            json_pack("{s:s, s:s, s:I, s:s}", "name", "hosteld", "version",
                                      api->server_version, "pid", (json_int_t)getpid(), "state_dir",
                                      mgmt_store_dir(api->store)));
        json_object_set(j, "addresses", mgmt_trust_server_addresses(api->trust));
    }
    api_reply_json(r, 200, j);
}

static void h_openapi(Api *api, const ApiRequest *req, const ApiArgs *args, ApiResponse *r)
{
    char *text = strdup(mgmt_openapi_json);
    if (!text)
        api_error(r, 500, "out of memory");
    else
        api_reply_text(r, 200, text);
}

/* ?recursion=0|1 (the only parameter of the list); -1 after a 400. */
/* ---- routing ---- */

static const ApiRoute routes[] = {
    {.pattern = "/", .method = "GET", .handle = h_versions},
    {.pattern = "/1.0", .method = "GET", .handle = h_server},
    {.pattern = "/1.0/openapi.json", .method = "GET", .handle = h_openapi},
    {.pattern = "/1.0/events", .method = "GET", .handle = api_h_events},
    {.pattern = "/1.0/vms", .method = "GET", .handle = api_h_vms_list},
    {.pattern = "/1.0/vms", .method = "POST", .handle = api_h_vms_create},
    {.pattern = "/1.0/vms/{name}", .method = "GET", .handle = api_h_vm_get},
    {.pattern = "/1.0/vms/{name}", .method = "PUT", .handle = api_h_vm_put},
    {.pattern = "/1.0/vms/{name}", .method = "PATCH", .handle = api_h_vm_patch},
    {.pattern = "/1.0/vms/{name}", .method = "DELETE", .handle = api_h_vm_delete},
    {.pattern = "/1.0/vms/{name}/state",
     .method = "GET",
     .handle = api_h_vm_state_get,
     .unlocked = true},
    {.pattern = "/1.0/vms/{name}/state", .method = "PUT", .handle = api_h_vm_state_put},
    {.pattern = "/1.0/vms/{name}/console", .method = "GET", .handle = api_h_vm_console},
    {.pattern = "/1.0/vms/{name}/vnc", .method = "GET", .handle = api_h_vm_vnc},
    {.pattern = "/1.0/vms/{name}/clones", .method = "POST", .handle = api_h_vm_clone},
    {.pattern = "/1.0/vms/{name}/logs", .method = "GET", .handle = api_h_vm_logs},
    {.pattern = "/1.0/vms/{name}/logs/{file}", .method = "GET", .handle = api_h_vm_log},
    {.pattern = "/1.0/vms/{name}/snapshots", .method = "GET", .handle = api_h_snapshots_list},
    {.pattern = "/1.0/vms/{name}/snapshots", .method = "POST", .handle = api_h_snapshot_create},
    {.pattern = "/1.0/vms/{name}/snapshots/{snapshot}",
     .method = "DELETE",
     .handle = api_h_snapshot_delete},
    {.pattern = "/1.0/vms/{name}/snapshots/{snapshot}/revert",
     .method = "POST",
     .handle = api_h_snapshot_revert},
    {.pattern = "/1.0/operations", .method = "GET", .handle = api_h_ops_list},
    {.pattern = "/1.0/operations/{id}", .method = "GET", .handle = api_h_op_get},
    {.pattern = "/1.0/operations/{id}", .method = "DELETE", .handle = api_h_op_cancel},
    {.pattern = "/1.0/operations/{id}/wait", .method = "GET", .handle = api_h_op_wait},
    {.pattern = "/1.0/storage-pools", .method = "GET", .handle = api_h_pools_list},
    {.pattern = "/1.0/storage-pools", .method = "POST", .handle = api_h_pools_create},
    {.pattern = "/1.0/storage-pools/{pool}", .method = "GET", .handle = api_h_pool_get},
    {.pattern = "/1.0/storage-pools/{pool}", .method = "DELETE", .handle = api_h_pool_delete},
    {.pattern = "/1.0/storage-pools/{pool}/volumes", .method = "GET", .handle = api_h_volumes_list},
    {.pattern = "/1.0/storage-pools/{pool}/volumes",
     .method = "POST",
     .handle = api_h_volumes_create},
    {.pattern = "/1.0/storage-pools/{pool}/volumes/{volume}",
     .method = "GET",
     .handle = api_h_volume_get},
    {.pattern = "/1.0/storage-pools/{pool}/volumes/{volume}",
     .method = "PATCH",
     .handle = api_h_volume_patch},
    {.pattern = "/1.0/storage-pools/{pool}/volumes/{volume}",
     .method = "DELETE",
     .handle = api_h_volume_delete},
    {.pattern = "/1.0/storage-pools/{pool}/volumes/{volume}/export",
     .method = "POST",
     .handle = api_h_volume_export},
    /* trust (api_trust.c): the tokens' rows first, "tokens" is no fingerprint */
    {.pattern = "/1.0/certificates/tokens", .method = "GET", .handle = api_h_tokens_list},
    {.pattern = "/1.0/certificates/tokens", .method = "POST", .handle = api_h_tokens_add},
    {.pattern = "/1.0/certificates/tokens/{id}", .method = "DELETE", .handle = api_h_token_delete},
    {.pattern = "/1.0/certificates", .method = "GET", .handle = api_h_certs_list},
    {.pattern = "/1.0/certificates", .method = "POST", .handle = api_h_certs_add},
    {.pattern = "/1.0/certificates/{fingerprint}", .method = "GET", .handle = api_h_cert_get},
    {.pattern = "/1.0/certificates/{fingerprint}", .method = "DELETE", .handle = api_h_cert_delete},
    {.pattern = "/1.0/networks", .method = "GET", .handle = api_h_networks_list, .unlocked = true},
    {.pattern = "/1.0/networks", .method = "POST", .handle = api_h_networks_create},
    {.pattern = "/1.0/networks/{name}",
     .method = "GET",
     .handle = api_h_network_get,
     .unlocked = true},
    {.pattern = "/1.0/networks/{name}", .method = "PATCH", .handle = api_h_network_patch},
    {.pattern = "/1.0/networks/{name}", .method = "DELETE", .handle = api_h_network_delete},
    {.pattern = "/1.0/host", .method = "GET", .handle = api_h_host_get, .unlocked = true},
    {.pattern = "/metrics", .method = "GET", .handle = api_h_metrics_get, .unlocked = true},
    /* the web console's logins (api_web.c) */
    {.pattern = "/1.0/web/tokens", .method = "POST", .handle = api_h_web_tokens},
    {.pattern = "/1.0/web/login", .method = "POST", .handle = api_h_web_login},
    {.pattern = "/1.0/web/session", .method = "GET", .handle = api_h_web_session},
    {.pattern = "/1.0/web/logout", .method = "POST", .handle = api_h_web_logout},
};

/*
 * path matches pattern segment by segment; each segment under a "{...}"
 * goes to the next of args (NUL-terminated, at most MGMT_NAME_MAX + 1
 * bytes kept so an over-long one still fails the name check).
 */
static bool route_match(const char *pattern, const char *path, ApiArgs *args)
{
    args->n = 0;
    while (*pattern && *path) {
        if (*pattern == '{') {
            size_t n = strcspn(path, "/");
            const char *close = strchr(pattern, '}');
            if (n == 0 || !close || args->n == API_ARGS_MAX)
                return false;
            char *a = args->arg[args->n++];
            size_t size = sizeof(args->arg[0]);
            /* a longer segment is cut to size - 1 > MGMT_NAME_MAX bytes: still refused */
            snprintf(a, size, "%.*s", (int)(n < size ? n : size - 1), path);
            path += n;
            pattern = close + 1;
        } else if (*pattern++ != *path++) {
            return false;
        }
    }
    return *pattern == '\0' && *path == '\0';
}

/* The methods path allows, "GET, PUT" style, into allow; false if no route has path. */
static bool route_allow(const char *path, char *allow, size_t size)
{
    ApiArgs args;
    allow[0] = '\0';
    for (size_t i = 0; i < ARRAY_SIZE(routes); i++) {
        if (!route_match(routes[i].pattern, path, &args))
            continue;
        size_t n = strlen(allow);
        snprintf(allow + n, size - n, "%s%s", n ? ", " : "", routes[i].method);
    }
    return allow[0] != '\0';
}

static void route(Api *api, const ApiRequest *req, ApiResponse *r)
{
    ApiArgs args;
    for (size_t i = 0; i < ARRAY_SIZE(routes); i++) {
        if (strcmp(routes[i].method, req->method) != 0 ||
            !route_match(routes[i].pattern, req->path, &args))
            continue;
        Error err = {0};
        for (unsigned a = 0; a < args.n; a++) {
            if (!mgmt_name_check(args.arg[a], &err)) {
                api_error(r, 400, "%s", err.msg);
                return;
            }
        }
        if (routes[i].unlocked)
            pthread_mutex_unlock(&api->lock);
        routes[i].handle(api, req, &args, r);
        if (routes[i].unlocked)
            pthread_mutex_lock(&api->lock);
        return;
    }
    if (route_allow(req->path, r->allow, sizeof(r->allow)))
        api_error(r, 405, "%.10s is not allowed on %.200s (allowed: %s)", req->method, req->path,
                  r->allow);
    else
        api_error(r, 404, "no such resource: %.200s", req->path);
}

/* ---- the audit log ---- */

static bool is_mutating(const char *method)
{
    return strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0 &&
           strcmp(method, "OPTIONS") != 0;
}

static void audit(Api *api, const ApiRequest *req, int status, unsigned web_session)
{
    char when[40];
    struct timespec ts;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    size_t n = strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(when + n, sizeof(when) - n, ".%03ldZ", ts.tv_nsec / 1000000);
    /* uid: the unix socket's caller; null over HTTPS, where "cert" says who */
    json_t *uid = req->tls ? json_null() : json_integer((json_int_t)req->uid);
    json_t *j = json_pack("{s:s, s:o, s:s, s:s, s:i}", "time", when, "uid", uid, "method",
                          req->method, "path", req->path, "status", status);
    if (j && req->tls) /* who, over HTTPS: the certificate (and its trust name when trusted) */
        json_object_set_new(
            j, "cert",
            json_pack("{s:s, s:s}", "fingerprint", req->cert_fingerprint, "name", req->cert_name));
    /* a browser's: its web session's serial (never its secret) and its address */
    unsigned session = web_session ? web_session : req->web_session;
    if (j && session)
        json_object_set_new(j, "web_session", json_integer(session));
    if (j && req->peer_addr && (session || strncmp(req->path, "/1.0/web/", 9) == 0))
        json_object_set_new(j, "address", json_string(req->peer_addr));
    char *line = j ? json_dumps(j, JSON_COMPACT) : NULL;
    json_decref(j);
    if (!line || !io_write_all(api->audit_fd, line, strlen(line)) ||
        !io_write_all(api->audit_fd, "\n", 1))
        log_warn("cannot append to the audit log");
    free(line);
}

/* A mutating call over the caller's rate limit: answered 429. */
static bool over_limit(Api *api, const ApiRequest *req, ApiResponse *r)
{
    char id[RATELIMIT_ID_MAX];
    double retry;
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    if (req->web_session) /* a browser is its session */
        snprintf(id, sizeof(id), "web:%u", req->web_session);
    else if (req->tls && !req->cert_fingerprint[0]) /* no certificate: its address */
        snprintf(id, sizeof(id), "addr:%.80s", req->peer_addr ? req->peer_addr : "");
    else if (req->tls) /* an HTTPS caller is its certificate */
        snprintf(id, sizeof(id), "cert:%s", req->cert_fingerprint);
    else
        snprintf(id, sizeof(id), "uid:%lld", (long long)req->uid);
    if (!is_mutating(req->method) ||
        ratelimit_take(&api->rate, id, (double)ts.tv_sec + (double)ts.tv_nsec / 1e9, &retry))
        return false;
    r->retry_after = (int)retry + 1;
    api_error(r, 429, "too many changes: at most %g a second (a burst of %g); retry in %d s",
              api->rate.rate, api->rate.burst, r->retry_after);
    return true;
}

/*
 * Who the caller is: the unix socket is trusted (its file mode is the
 * check); over HTTPS, a certificate whose fingerprint is in the trust store
 * and that is valid now (an expired one is refused even if trusted).
 */
static void identify(Api *api, ApiRequest *req)
{
    req->trusted = !req->tls;
    req->cert_fingerprint[0] = req->cert_name[0] = '\0';
    MgmtCert cert;
    Error err = {0};
    if (!req->tls || !req->peer_cert ||
        mgmt_cert_parse(req->peer_cert, req->peer_cert_len, false, &cert, &err) < 0) {
        api_web_identify(api, req);
        return;
    }
    snprintf(req->cert_fingerprint, sizeof(req->cert_fingerprint), "%s", cert.fingerprint);
    const MgmtTrustEntry *e = mgmt_trust_find(api->trust, cert.fingerprint);
    if (e && mgmt_cert_valid_at(&cert, time(NULL))) {
        req->trusted = true;
        snprintf(req->cert_name, sizeof(req->cert_name), "%s", e->name);
    }
    mgmt_cert_free(&cert);
    api_web_identify(api, req); /* an untrusted certificate may come with a session cookie */
}

/*
 * What an untrusted HTTPS caller may reach: GET /1.0, POST
 * /1.0/certificates (a join token), and the web console's login routes.
 */
static bool open_to_untrusted(const ApiRequest *req)
{
    bool get = strcmp(req->method, "GET") == 0, post = strcmp(req->method, "POST") == 0;
    return (get && strcmp(req->path, "/1.0") == 0) ||
           (post && strcmp(req->path, "/1.0/certificates") == 0) ||
           (post && strcmp(req->path, "/1.0/web/login") == 0) ||
           (get && strcmp(req->path, "/1.0/web/session") == 0) ||
           (post && strcmp(req->path, "/1.0/web/logout") == 0);
}

/* Why an untrusted caller is refused, one line. */
static void refuse_untrusted(Api *api, const ApiRequest *req, ApiResponse *r)
{
    /* identify found its fingerprint trusted, so only its dates failed */
    bool expired = req->cert_fingerprint[0] && mgmt_trust_find(api->trust, req->cert_fingerprint);
    if (req->web_session_ended) /* the page learns it must log in again */
        api_error(r, 401,
                  "the web session ended (idle, expired, logged out, or the daemon "
                  "restarted): log in again");
    else if (!req->peer_cert)
        api_error(r, 403, "a trusted client certificate is required");
    else if (expired)
        api_error(r, 403, "the client certificate is trusted but not valid now (expired?)");
    else
        api_error(r, 403,
                  "the client certificate %.64s is not trusted (hostel trust add, or a "
                  "join token)",
                  req->cert_fingerprint);
}

void api_handle(Api *api, const ApiRequest *req, ApiResponse *resp)
{
    memset(resp, 0, sizeof(*resp));
    if (api_static_wanted(req)) { /* the page's files: anyone's, no state touched */
        api_static_serve(api, req, resp);
        return;
    }
    ApiRequest q = *req;
    pthread_mutex_lock(&api->lock);
    identify(api, &q);
    if (!q.trusted && !open_to_untrusted(&q))
        refuse_untrusted(api, &q, resp);
    else if (api_web_guard(&q, resp) && !over_limit(api, &q, resp))
        route(api, &q, resp);
    if (resp->status == 101)
        resp->stream.web_session = q.web_session;
    if (is_mutating(q.method))
        audit(api, &q, resp->status, resp->web_session);
    pthread_mutex_unlock(&api->lock);
}

void api_response_free(ApiResponse *resp)
{
    free(resp->body);
    resp->body = NULL;
    if (resp->stream.opaque && resp->stream.discard)
        resp->stream.discard(resp->stream.opaque);
    resp->stream.opaque = NULL;
}

void api_web_sweep(Api *api)
{
    pthread_mutex_lock(&api->lock);
    websession_sweep(api->web);
    pthread_mutex_unlock(&api->lock);
}

MgmtEvents *api_events(Api *api)
{
    return api->events;
}

int api_default_guest_dir(char *buf, size_t size, Error *err)
{
    const char *cache = getenv("HOSTEL_CACHE"), *home = getenv("HOME");
    int n;
    if (cache && *cache)
        n = snprintf(buf, size, "%s/guest", cache);
    else if (home && *home)
        n = snprintf(buf, size, "%s/.cache/hostel/guest", home);
    else
        return error_set(err, "no default guest directory: neither HOSTEL_CACHE nor HOME is set");
    if (n < 0 || (size_t)n >= size)
        return error_set(err, "the default guest directory's path is too long");
    return 0;
}

int api_new(Api **out, MgmtStore *store, const ApiOptions *opt, Error *err)
{
    Api *api = calloc(1, sizeof(*api));
    char path[PATH_MAX];
    if (!api)
        return error_set(err, "out of memory");
    api->store = store;
    api->runtime = opt->runtime;
    api->netrun = opt->netrun;
    ratelimit_init(&api->rate, opt->rate_limit, opt->rate_burst);
    api->host_paths = !opt->no_host_paths;
    api->ops = opt->ops;
    api->guest_dir = strdup(opt->guest_dir ? opt->guest_dir : "");
    api->server_version = strdup(opt->server_version ? opt->server_version : "");
    api->web_dir = strdup(opt->web_dir ? opt->web_dir : "");
    snprintf(path, sizeof(path), "%s/audit.log", mgmt_store_dir(store));
    api->audit_fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
    api->events = opt->events;
    if (!api->events && api->audit_fd >= 0 &&
        mgmt_events_new(&api->events, MGMT_EVENTS_KEEP, err) == 0)
        api->own_events = true;
    if (api->audit_fd < 0 || !api->guest_dir || !api->server_version || !api->events) {
        error_set_errno(err, api->audit_fd < 0 ? errno : ENOMEM, "cannot open %.200s", path);
        api_free(api);
        return -1;
    }
    if (!api->web_dir || websession_new(&api->web, &opt->web, err) < 0 ||
        mgmt_trust_open(&api->trust, mgmt_store_dir(store), err) < 0) {
        api_free(api);
        return -1;
    }
    if (opt->token_ttl_s)
        mgmt_trust_set_token_ttl(api->trust, opt->token_ttl_s);
    pthread_mutex_init(&api->lock, NULL);
    if (mgmt_pools_open(&api->pools, mgmt_store_dir(store), err) < 0 ||
        mgmt_networks_open(&api->networks, mgmt_store_dir(store), err) < 0) {
        api_free(api);
        return -1;
    }
    *out = api;
    return 0;
}

void api_free(Api *api)
{
    if (!api)
        return;
    if (api->trust)
        pthread_mutex_destroy(&api->lock);
    if (api->audit_fd >= 0)
        close(api->audit_fd);
    mgmt_trust_close(api->trust);
    mgmt_pools_close(api->pools);
    mgmt_networks_close(api->networks);
    if (api->own_events)
        mgmt_events_free(api->events);
    free(api->guest_dir);
    free(api->server_version);
    free(api->web_dir);
    websession_free(api->web);
    free(api);
}

int api_set_server_identity(Api *api, const char *fingerprint, json_t *addresses, Error *err)
{
    pthread_mutex_lock(&api->lock);
    int r = mgmt_trust_set_server(api->trust, fingerprint, addresses, err);
    pthread_mutex_unlock(&api->lock);
    return r;
}
