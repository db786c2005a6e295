/*
 * The API's trust resources (/1.0/certificates, /1.0/certificates/tokens):
 * the client certificates HTTPS callers are served by, and the one-time
 * join tokens a new client presents to be trusted (docs/mgmt.md, "Trust").
 * A trusted caller (the unix socket, or a trusted certificate) manages
 * them; an untrusted TLS caller reaches only POST /1.0/certificates with a
 * token, which trusts the certificate it presents.
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "mgmt/api_int.h"

static void iso_time(time_t t, char *buf, size_t size)
{
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(buf, size, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static bool name_ok(const char *name)
{
    Error ignored = {0};
    return mgmt_name_check(name, &ignored);
}

static json_t *entry_json(const MgmtTrustEntry *e)
{
    char until[32];
    iso_time(e->not_after, until, sizeof(until));
    return json_pack("{s:s, s:s, s:s, s:s, s:s, s:s}", "name", e->name, "fingerprint",
                     e->fingerprint, "certificate", e->certificate, "added", e->added, "by", e->by,
                     "expires_at", until);
}

static json_t *token_json(const MgmtToken *k)
{
    char until[32];
    iso_time(k->expires, until, sizeof(until));
    return json_pack("{s:s, s:s, s:s, s:s}", "id", k->id, "name", k->name, "token", k->encoded,
                     "expires_at", until);
}

/* Who made a change, for the "by" of a trust entry. */
static void caller_text(const ApiRequest *req, char *buf, size_t size)
{
    if (!req->tls)
        snprintf(buf, size, "uid %ld", (long)req->uid);
    else if (req->trusted)
        snprintf(buf, size, "cert %s", req->cert_name);
    else
        snprintf(buf, size, "token");
}

void api_h_certs_list(Api *api, const ApiRequest *req, const ApiArgs *args, ApiResponse *r)
{
    json_t *a = json_array();
    for (size_t i = 0; a && i < mgmt_trust_count(api->trust); i++)
        if (json_array_append_new(a, entry_json(mgmt_trust_at(api->trust, i))) < 0) {
            json_decref(a);
            a = NULL;
        }
    api_reply_json(r, 200, a);
}

void api_h_cert_get(Api *api, const ApiRequest *req, const ApiArgs *args, ApiResponse *r)
{
    const MgmtTrustEntry *e = mgmt_trust_find(api->trust, args->arg[0]);
    if (!e)
        api_error(r, 404, "no trusted certificate %s", args->arg[0]);
    else
        api_reply_json(r, 200, entry_json(e));
}

/* Trust cert under name; 201 with the entry, or the error. */
static void trust_cert(Api *api, const ApiRequest *req, const char *name, const MgmtCert *cert,
                       ApiResponse *r)
{
    char by[96];
    Error err = {0};
    if (!mgmt_cert_valid_at(cert, time(NULL))) {
        api_error(r, 400, "the certificate is not valid now (expired or not yet valid)");
        return;
    }
    if (mgmt_trust_find(api->trust, cert->fingerprint) || mgmt_trust_find_name(api->trust, name)) {
        api_error(r, 409, "%s is already trusted",
                  mgmt_trust_find(api->trust, cert->fingerprint) ? cert->fingerprint : name);
        return;
    }
    caller_text(req, by, sizeof(by));
    if (mgmt_trust_add(api->trust, name, cert, by, &err) < 0) {
        api_error(r, name_ok(name) ? 500 : 400, "%s", err.msg);
        return;
    }
    snprintf(r->location, sizeof(r->location), "/1.0/certificates/%s", cert->fingerprint);
    api_reply_json(r, 201, entry_json(mgmt_trust_find(api->trust, cert->fingerprint)));
}

/* {"token"}: the caller's own certificate, trusted under the token's name. */
static void add_by_token(Api *api, const ApiRequest *req, const json_t *body, ApiResponse *r)
{
    const char *token = json_string_value(json_object_get(body, "token"));
    char name[MGMT_NAME_MAX + 1];
    Error err = {0};
    MgmtCert cert;
    if (!token || json_object_size(body) != 1) {
        api_error(r, 400, "token: a string, alone (the certificate is the one presented)");
        return;
    }
    if (!req->tls || !req->peer_cert) {
        api_error(r, 400, "a join token is used over HTTPS with the client certificate to trust");
        return;
    }
    if (mgmt_cert_parse(req->peer_cert, req->peer_cert_len, false, &cert, &err) < 0) {
        api_error(r, 400, "the client certificate: %s", err.msg);
        return;
    }
    if (!mgmt_cert_valid_at(&cert, time(NULL)))
        api_error(r, 403, "the client certificate is not valid now (expired or not yet valid)");
    else if (mgmt_trust_find(api->trust, cert.fingerprint))
        api_error(r, 409, "%s is already trusted", cert.fingerprint);
    else if (mgmt_trust_token_redeem(api->trust, token, time(NULL), name, &err) < 0)
        api_error(r, 403, "%s", err.msg);
    else
        trust_cert(api, req, name, &cert, r);
    mgmt_cert_free(&cert);
}

/* {"name", "certificate"}: a trusted caller adds a certificate (PEM). */
static void add_by_admin(Api *api, const ApiRequest *req, const json_t *body, ApiResponse *r)
{
    const char *name = json_string_value(json_object_get(body, "name"));
    const char *pem = json_string_value(json_object_get(body, "certificate"));
    Error err = {0};
    MgmtCert cert;
    if (!name || !pem || json_object_size(body) != 2) {
        api_error(r, 400, "name and certificate: strings, both required");
        return;
    }
    if (!mgmt_name_check(name, &err)) {
        api_error(r, 400, "%s", err.msg);
        return;
    }
    if (mgmt_cert_parse(pem, strlen(pem), true, &cert, &err) < 0) {
        api_error(r, 400, "certificate: %s", err.msg);
        return;
    }
    trust_cert(api, req, name, &cert, r);
    mgmt_cert_free(&cert);
}

void api_h_certs_add(Api *api, const ApiRequest *req, const ApiArgs *args, ApiResponse *r)
{
    static const char *const members[] = {"name", "certificate", "token", NULL};
    json_t *body = api_body_object(req, r);
    if (!body || !api_members_known(body, members, r)) {
        json_decref(body);
        return;
    }
    if (json_object_get(body, "token"))
        add_by_token(api, req, body, r);
    else if (!req->trusted)
        api_error(r, 403, "only a trusted client adds certificates (or give a join token)");
    else
        add_by_admin(api, req, body, r);
    json_decref(body);
}

void api_h_cert_delete(Api *api, const ApiRequest *req, const ApiArgs *args, ApiResponse *r)
{
    Error err = {0};
    if (!mgmt_trust_find(api->trust, args->arg[0]))
        api_error(r, 404, "no trusted certificate %s", args->arg[0]);
    else if (mgmt_trust_remove(api->trust, args->arg[0], &err) < 0)
        api_error(r, 500, "%s", err.msg);
    else
        api_reply_json(r, 200, json_object());
}

void api_h_tokens_list(Api *api, const ApiRequest *req, const ApiArgs *args, ApiResponse *r)
{
    json_t *a = json_array();
    size_t n = mgmt_trust_token_count(api->trust, time(NULL));
    for (size_t i = 0; a && i < n; i++)
        if (json_array_append_new(a, token_json(mgmt_trust_token_at(api->trust, i))) < 0) {
            json_decref(a);
            a = NULL;
        }
    api_reply_json(r, 200, a);
}

void api_h_tokens_add(Api *api, const ApiRequest *req, const ApiArgs *args, ApiResponse *r)
{
    static const char *const members[] = {"name", NULL};
    json_t *body = api_body_object(req, r);
    if (!body || !api_members_known(body, members, r)) {
        json_decref(body);
        return;
    }
    const char *name = json_string_value(json_object_get(body, "name"));
    Error err = {0};
    const MgmtToken *k = NULL;
    if (!name)
        api_error(r, 400, "name: a string, required");
    else if (mgmt_trust_find_name(api->trust, name))
        api_error(r, 409, "a certificate named '%s' is already trusted", name);
    else if (!mgmt_name_check(name, &err))
        api_error(r, 400, "%s", err.msg);
    else if (mgmt_trust_token_count(api->trust, time(NULL)) >= MGMT_TOKENS_LIVE_MAX)
        api_error(r, 429, "%d join tokens are alive already: revoke some or let them expire",
                  MGMT_TOKENS_LIVE_MAX);
    else if (!(k = mgmt_trust_token_new(api->trust, name, time(NULL), &err)))
        api_error(r, 500, "%s", err.msg);
    if (k) {
        snprintf(r->location, sizeof(r->location), "/1.0/certificates/tokens/%s", k->id);
        api_reply_json(r, 201, token_json(k));
    }
    json_decref(body);
}

void api_h_token_delete(Api *api, const ApiRequest *req, const ApiArgs *args, ApiResponse *r)
{
    Error err = {0};
    if (mgmt_trust_token_delete(api->trust, args->arg[0], &err) < 0)
        api_error(r, 404, "%s", err.msg);
    else
        api_reply_json(r, 200, json_object());
}
