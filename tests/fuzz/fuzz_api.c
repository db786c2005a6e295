/*
 * libFuzzer target for hosteld's request-to-handler path (src/mgmt/api.c):
 * routing, query and body checks, the JSON decoding of every resource
 * (the VM members and the VmConfig codec), and the store's writes.  The
 * input is a request in four parts:
 *
 *   METHOD \n PATH[?QUERY] \n CONTENT-TYPE \n BODY...
 *
 * (missing lines read as empty).  A METHOD starting with '~' comes over
 * HTTPS without a client certificate, one starting with "~~" over HTTPS
 * with a trusted one (the 403 rule, tokens, the trust routes as a remote
 * client sees them); one starting with '!' over HTTPS with a web session's
 * cookie (made at start; a fuzzed logout may end it), "!!" with its CSRF
 * header and Origin besides (the browser's checks, docs/web.md).  The API runs over one store in a fresh
 * directory (on /dev/shm when it exists, so the fsyncs are cheap); once it
 * holds more than 32 VMs they are removed, so the store stays small.
 * Every answer must be JSON (but a text one, GET /metrics, which must be
 * a 200 of whole lines), and every failure the one error shape with
 * its status; a malformed request must never crash, hang or leak.
 */
#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <gnutls/gnutls.h>

#include "mgmt/api.h"
#include "mgmt/ops.h"
#include "mgmt/cert.h"
#include "mgmt/fileio.h"
#include "util/log.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(int cond)
{
    if (!cond)
        __builtin_trap();
}

typedef struct Fixture {
    MgmtStore *store;
    MgmtOps *ops;
    Api *api;
    gnutls_datum_t cert; /* a trusted client certificate (DER) */
    char cookie[128];    /* "hostel_session=..." of a web session */
    char csrf[WEB_SECRET_TEXT];
} Fixture;

/* One request over the unix socket with a JSON body (or none); the answer (free it). */
static void call(Fixture *f, const char *path, const char *body, ApiResponse *resp)
{
    ApiRequest req = {.method = "POST",
                      .path = path,
                      .content_type = "application/json",
                      .body = body,
                      .body_len = body ? strlen(body) : 0};
    api_handle(f->api, &req, resp);
}

/* A web session: a login token asked for, then exchanged (web/login) for its cookie. */
static void web_login(Fixture *f)
{
    ApiResponse resp;
    char body[200];
    call(f, "/1.0/web/tokens", NULL, &resp);
    json_t *j = json_loads(resp.body, 0, NULL);
    check(resp.status == 201 && j);
    snprintf(body, sizeof(body), "{\"token\": \"%s\"}",
             json_string_value(json_object_get(j, "token")));
    json_decref(j);
    api_response_free(&resp);
    call(f, "/1.0/web/login", body, &resp);
    j = json_loads(resp.body, 0, NULL);
    check(resp.status == 200 && j);
    snprintf(f->csrf, sizeof(f->csrf), "%s", json_string_value(json_object_get(j, "csrf_token")));
    snprintf(f->cookie, sizeof(f->cookie), "%.*s", (int)strcspn(resp.set_cookie, ";"),
             resp.set_cookie);
    json_decref(j);
    api_response_free(&resp);
}

/* Make a client certificate under dir, trust it through the API, keep its DER in f->cert. */
static void trust_a_client(Fixture *f, const char *dir)
{
    char key[256], crt[256], *pem = NULL, *body = NULL;
    size_t len;
    bool made;
    snprintf(key, sizeof(key), "%s/client.key", dir);
    snprintf(crt, sizeof(crt), "%s/client.crt", dir);
    check(mgmt_cert_ensure(key, crt, "fuzz", &made, NULL) == 0 &&
          mgmt_read_file(crt, MGMT_CERT_MAX, &pem, &len, NULL) == 0);
    gnutls_datum_t in = {.data = (unsigned char *)pem, .size = (unsigned)len};
    check(gnutls_pem_base64_decode2("CERTIFICATE", &in, &f->cert) == 0);
    json_t *j = json_pack("{s:s, s:s}", "name", "fuzz", "certificate", pem);
    check(j && (body = json_dumps(j, 0)) != NULL);
    ApiRequest req = {.method = "POST",
                      .path = "/1.0/certificates",
                      .content_type = "application/json",
                      .body = body,
                      .body_len = strlen(body)};
    ApiResponse resp;
    api_handle(f->api, &req, &resp);
    check(resp.status == 201);
    api_response_free(&resp);
    json_decref(j);
    free(body);
    free(pem);
}

static Fixture *fixture(void)
{
    static Fixture f;
    static char dir[] = "/dev/shm/hostel-fuzz-api-XXXXXX";
    static char alt[] = "/tmp/hostel-fuzz-api-XXXXXX";
    if (f.api)
        return &f;
    log_set_level(LOG_ERROR);
    const char *d = mkdtemp(dir) ? dir : mkdtemp(alt);
    check(d && mgmt_store_open(&f.store, d, NULL) == 0 &&
          mgmt_ops_new(&f.ops, d, NULL, NULL, NULL) == 0);
    /* no runtime: the lifecycle routes are refused (501) rather than spawning VMMs; no host
     * paths: pools, imports and exports elsewhere than the state directory are refused (403) */
    ApiOptions opt = {
        .guest_dir = "/guest", .server_version = "fuzz", .ops = f.ops, .no_host_paths = true};
    check(api_new(&f.api, f.store, &opt, NULL) == 0);
    trust_a_client(&f, d);
    web_login(&f);
    return &f;
}

/* The next '\n'-terminated line of [*p, end) as a NUL-terminated copy (malloc'd). */
static char *take_line(const char **p, const char *end)
{
    const char *nl = memchr(*p, '\n', (size_t)(end - *p));
    size_t n = nl ? (size_t)(nl - *p) : (size_t)(end - *p);
    char *s = malloc(n + 1);
    check(s != NULL);
    memcpy(s, *p, n);
    s[n] = '\0';
    *p = nl ? nl + 1 : end;
    return s;
}

/* The answer is JSON; a failure is {"error": {"code": status, "message": "..."}}. */
/*
 * A text answer: GET /metrics (200), or the web console's files refused
 * (404, or 503: none installed): lines that end, no NUL (strlen is the body).
 */
static void check_text(const ApiResponse *r)
{
    size_t n = strlen(r->body);
    check(r->status == 200 || r->status == 404 || r->status == 503);
    check(n == 0 || r->body[n - 1] == '\n');
}

static void check_response(const ApiResponse *r)
{
    check(r->status >= 200 && r->status <= 599 && r->body != NULL);
    if (r->content_type) {
        check_text(r);
        return;
    }
    json_t *j = json_loads(r->body, 0, NULL);
    check(j != NULL);
    if (r->status >= 400) {
        json_t *e = json_object_get(j, "error");
        check(json_object_size(j) == 1 && json_object_size(e) == 2);
        check(json_integer_value(json_object_get(e, "code")) == r->status);
        const char *m = json_string_value(json_object_get(e, "message"));
        check(m && *m && !strchr(m, '\n'));
        check(r->status != 500); /* nothing a client sends is our bug */
    }
    json_decref(j);
}

static void trim_store(Fixture *f)
{
    while (mgmt_store_count(f->store) > 32)
        check(mgmt_store_remove(f->store, mgmt_store_at(f->store, 0)->name, NULL) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    Fixture *f = fixture();
    const char *p = (const char *)data, *end = p + size;
    char *method = take_line(&p, end), *path = take_line(&p, end), *ct = take_line(&p, end);
    char *query = strchr(path, '?');
    if (query)
        *query++ = '\0';
    unsigned tildes = method[0] == '~' ? (method[1] == '~' ? 2 : 1) : 0;
    unsigned bangs = method[0] == '!' ? (method[1] == '!' ? 2 : 1) : 0;
    ApiRequest req = {
        .method = method + tildes + bangs,
        .tls = tildes > 0 || bangs > 0,
        .cookie = bangs ? f->cookie : NULL,
        .csrf = bangs == 2 ? f->csrf : NULL,
        .origin = bangs == 2 ? "https://fuzz:8443" : NULL,
        .host = "fuzz:8443",
        .peer_addr = bangs || tildes ? "192.0.2.1" : NULL,
        .peer_cert = tildes == 2 ? f->cert.data : NULL,
        .peer_cert_len = tildes == 2 ? f->cert.size : 0,
        .path = path,
        .query = query,
        .content_type = *ct ? ct : NULL,
        .body = p < end ? p : NULL,
        .body_len = (size_t)(end - p),
        .uid = 1000,
    };
    ApiResponse resp;
    api_handle(f->api, &req, &resp);
    check_response(&resp);
    api_response_free(&resp);
    trim_store(f);
    free(method);
    free(path);
    free(ct);
    return 0;
}
