/*
 * The web console's logins (/1.0/web/..., docs/web.md "Security model"):
 * a trusted client asks for a one-time login token (POST /1.0/web/tokens,
 * `hostel web-login`); a browser exchanges it for a session cookie and a
 * CSRF token (POST /1.0/web/login); GET /1.0/web/session tells the page
 * whether it is logged in, POST /1.0/web/logout ends it.  The tokens and
 * sessions are websession.c's; this file is their HTTP side: the cookie,
 * the CSRF and Origin checks, the login URLs.
 */
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "mgmt/api_int.h"
#include "util/clocks.h"
#include "util/log.h"

#define COOKIE_NAME "hostel_session"
#define COOKIE_ATTRS "; Path=/; HttpOnly; Secure; SameSite=Strict"

/* The value of the cookie named name in a Cookie header into buf; false if absent or too long. */
static bool cookie_value(const char *header, const char *name, char *buf, size_t size)
{
    size_t nlen = strlen(name);
    for (const char *p = header; p && *p;) {
        p += strspn(p, " \t;");
        size_t len = strcspn(p, ";");
        if (len > nlen && strncmp(p, name, nlen) == 0 && p[nlen] == '=') {
            size_t vlen = len - nlen - 1;
            while (vlen && (p[nlen + 1 + vlen - 1] == ' ' || p[nlen + 1 + vlen - 1] == '\t'))
                vlen--;
            if (vlen >= size)
                return false;
            memcpy(buf, p + nlen + 1, vlen);
            buf[vlen] = '\0';
            return true;
        }
        p += len;
    }
    return false;
}

/* The session id a request's cookie carries into buf (WEB_SECRET_TEXT bytes); false if none. */
static bool session_of(const ApiRequest *req, char *buf)
{
    return cookie_value(req->cookie, COOKIE_NAME, buf, WEB_SECRET_TEXT);
}

void api_web_identify(Api *api, ApiRequest *req)
{
    char id[WEB_SECRET_TEXT];
    WebSessionInfo info;
    req->web_session = 0;
    req->web_csrf[0] = '\0';
    req->web_session_ended = false;
    if (req->trusted || !session_of(req, id))
        return;
    if (!websession_find(api->web, id, &info)) {
        req->web_session_ended = true;
        return;
    }
    req->trusted = true;
    req->web_session = info.id;
    memcpy(req->web_csrf, info.csrf, sizeof(req->web_csrf));
}

static bool is_change(const char *method)
{
    return strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0 &&
           strcmp(method, "OPTIONS") != 0;
}

/* Origin is "https://" + Host: the page this server served. */
static bool origin_is_ours(const ApiRequest *req)
{
    static const char scheme[] = "https://";
    const char *o = req->origin;
    return o && req->host && *req->host && strncasecmp(o, scheme, sizeof(scheme) - 1) == 0 &&
           strcasecmp(o + sizeof(scheme) - 1, req->host) == 0;
}

bool api_web_guard(const ApiRequest *req, ApiResponse *r)
{
    if (!req->web_session)
        return true;
    /* a login needs no CSRF token: its own secret is the proof (a stale cookie may come along) */
    bool login = strcmp(req->path, "/1.0/web/login") == 0;
    if (is_change(req->method) && !login && !websession_equal(req->web_csrf, req->csrf)) {
        api_error(r, 403,
                  "csrf: a change made with the session cookie needs its X-Hostel-CSRF header "
                  "(GET /1.0/web/session)");
        return false;
    }
    if (req->websocket && !origin_is_ours(req)) {
        api_error(r, 403,
                  "origin: a websocket opened with the session cookie must come from "
                  "this server's page (Origin https://HOST)");
        return false;
    }
    return true;
}

/* {"csrf_token", "expires_at"} of a session. */
static json_t *session_json(const WebSessionInfo *info)
{
    char when[CLOCK_TEXT_MAX];
    clock_text(info->expires_at, when, sizeof(when));
    return json_pack("{s:s, s:s}", "csrf_token", info->csrf, "expires_at", when);
}

/* ---- POST /1.0/web/tokens ---- */

/* "https://ADDR:PORT/#token=T" for each address served; a wildcard one named by the host name. */
static json_t *login_urls(Api *api, const char *token)
{
    json_t *urls = json_array(), *a;
    size_t i;
    char host[256] = "localhost";
    gethostname(host, sizeof(host) - 1);
    json_array_foreach(mgmt_trust_server_addresses(api->trust), i, a)
    {
        const char *addr = json_string_value(a), *colon = addr ? strrchr(addr, ':') : NULL;
        if (!colon)
            continue;
        int hl = (int)(colon - addr);
        bool wild = (hl == 7 && strncmp(addr, "0.0.0.0", 7) == 0) ||
                    (hl == 4 && strncmp(addr, "[::]", 4) == 0) || hl == 0;
        json_array_append_new(urls, json_sprintf("https://%.*s%s/#token=%s", wild ? 255 : hl,
                                                 wild ? host : addr, colon, token));
    }
    return urls;
}

/* The ttl member of a token request (body optional); -1 after a 400. */
static double token_ttl(const ApiRequest *req, ApiResponse *r)
{
    static const char *const names[] = {"ttl", NULL};
    if (!req->body_len)
        return WEB_TOKEN_TTL_DEFAULT;
    json_t *body = api_body_object(req, r);
    if (!body || !api_members_known(body, names, r)) {
        json_decref(body);
        return -1;
    }
    json_t *ttl = json_object_get(body, "ttl");
    json_int_t v =
        ttl ? (json_is_integer(ttl) ? json_integer_value(ttl) : -1) : WEB_TOKEN_TTL_DEFAULT;
    json_decref(body);
    if (v < 1 || v > WEB_TOKEN_TTL_MAX) {
        api_error(r, 400, "ttl: not a number of seconds from 1 to %d", WEB_TOKEN_TTL_MAX);
        return -1;
    }
    return (double)v;
}

void api_h_web_tokens(Api *api, const ApiRequest *req, const ApiArgs *args, ApiResponse *r)
{
    double ttl = token_ttl(req, r), expires;
    char token[WEB_SECRET_TEXT], when[CLOCK_TEXT_MAX];
    Error err = {0};
    if (ttl < 0)
        return;
    if (websession_token_new(api->web, ttl, token, &expires, &err) < 0) {
        api_error(r, 500, "%s", err.msg);
        return;
    }
    clock_text(expires, when, sizeof(when));
    api_reply_json(r, 201,
                   json_pack("{s:s, s:s, s:o}", "token", token, "expires_at", when, "urls",
                             login_urls(api, token)));
}

/* ---- POST /1.0/web/login, GET /1.0/web/session, POST /1.0/web/logout ---- */

/* The token member of a login, or NULL after a 400. */
static char *login_token(const ApiRequest *req, ApiResponse *r, char *buf, size_t size)
{
    static const char *const names[] = {"token", NULL};
    json_t *body = api_body_object(req, r);
    if (!body || !api_members_known(body, names, r)) {
        json_decref(body);
        return NULL;
    }
    const char *t = json_string_value(json_object_get(body, "token"));
    if (!t)
        api_error(r, 400, "token: missing, or not a string");
    else
        snprintf(buf, size, "%s", t);
    json_decref(body);
    return t ? buf : NULL;
}

void api_h_web_login(Api *api, const ApiRequest *req, const ApiArgs *args, ApiResponse *r)
{
    char token[WEB_SECRET_TEXT + 2], session[WEB_SECRET_TEXT];
    WebSessionInfo info;
    double retry = 0;
    if (!login_token(req, r, token, sizeof(token)))
        return;
    const char *client = req->peer_addr ? req->peer_addr : "unix";
    switch (websession_login(api->web, client, token, session, &info, &retry)) {
    case WEB_LOGIN_LIMITED:
        r->retry_after = (int)retry + 1;
        api_error(r, 429, "too many login attempts from %.60s: retry in %d s", client,
                  r->retry_after);
        return;
    case WEB_LOGIN_BAD:
        log_info("web: a login from %s with an unknown, used or expired token", client);
        api_error(r, 401,
                  "the login token is unknown, used or expired: ask for another "
                  "('hostel web-login')");
        return;
    case WEB_LOGIN_OK: break;
    }
    log_info("web: session %u opened from %s", info.id, client);
    snprintf(r->set_cookie, sizeof(r->set_cookie), COOKIE_NAME "=%s" COOKIE_ATTRS, session);
    r->web_session = info.id;
    api_reply_json(r, 200, session_json(&info));
}

void api_h_web_session(Api *api, const ApiRequest *req, const ApiArgs *args, ApiResponse *r)
{
    char id[WEB_SECRET_TEXT];
    WebSessionInfo info;
    if (!session_of(req, id) || !websession_find(api->web, id, &info)) {
        api_error(r, 401, "not logged in (no session, or it ended)");
        return;
    }
    api_reply_json(r, 200, session_json(&info));
}

void api_h_web_logout(Api *api, const ApiRequest *req, const ApiArgs *args, ApiResponse *r)
{
    char id[WEB_SECRET_TEXT];
    unsigned serial = 0;
    if (session_of(req, id) && websession_logout(api->web, id, &serial)) {
        log_info("web: session %u closed", serial);
        r->web_session = serial;
    }
    /* the cookie is cleared whether or not it named a session */
    snprintf(r->set_cookie, sizeof(r->set_cookie), COOKIE_NAME "=" COOKIE_ATTRS "; Max-Age=0");
    api_reply_json(r, 200, json_object());
}
