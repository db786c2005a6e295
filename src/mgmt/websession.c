/* The web console's login tokens and sessions (websession.h). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "mgmt/ratelimit.h"
#include "mgmt/websession.h"
#include "util/clocks.h"

#define SECRET_LEN (WEB_SECRET_TEXT - 1)

typedef struct Token {
    char secret[WEB_SECRET_TEXT];
    double expires_at;
} Token;

typedef struct Session {
    char secret[WEB_SECRET_TEXT];
    WebSessionInfo info;
    double created, last_used;
} Session;

struct WebSessions {
    WebSessionOptions opt;
    Token tokens[WEB_TOKENS_MAX];
    unsigned ntokens;
    Session sessions[WEB_SESSIONS_MAX];
    unsigned nsessions;
    unsigned next_id;
    RateLimit logins; /* per client address */
};

static double real_clock(void *ctx)
{
    (void)ctx;
    return clock_real_s();
}

static double now_of(const WebSessions *ws)
{
    return ws->opt.clock(ws->opt.clock_ctx);
}

int websession_new(WebSessions **out, const WebSessionOptions *opt, Error *err)
{
    WebSessions *ws = calloc(1, sizeof(*ws));
    if (!ws)
        return error_set(err, "out of memory");
    if (opt)
        ws->opt = *opt;
    if (!ws->opt.clock)
        ws->opt.clock = real_clock;
    if (ws->opt.idle_s <= 0)
        ws->opt.idle_s = WEB_IDLE_S;
    if (ws->opt.absolute_s <= 0)
        ws->opt.absolute_s = WEB_ABSOLUTE_S;
    ratelimit_init(&ws->logins, ws->opt.login_rate > 0 ? ws->opt.login_rate : WEB_LOGIN_RATE,
                   ws->opt.login_burst > 0 ? ws->opt.login_burst : WEB_LOGIN_BURST);
    ws->next_id = 1;
    *out = ws;
    return 0;
}

void websession_free(WebSessions *ws)
{
    if (!ws)
        return;
    memset(ws, 0, sizeof(*ws)); /* no secret left in freed memory */
    free(ws);
}

bool websession_equal(const char *a, const char *b)
{
    if (!a || !b || strnlen(a, SECRET_LEN + 1) != SECRET_LEN ||
        strnlen(b, SECRET_LEN + 1) != SECRET_LEN)
        return false;
    unsigned char diff = 0;
    for (size_t i = 0; i < SECRET_LEN; i++)
        diff |= (unsigned char)(a[i] ^ b[i]);
    return diff == 0;
}

bool websession_csrf_ok(const WebSessionInfo *info, const char *csrf)
{
    return websession_equal(info->csrf, csrf);
}

static int secret_new(char out[WEB_SECRET_TEXT], Error *err)
{
    unsigned char raw[WEB_SECRET_BYTES];
    if (getrandom(raw, sizeof(raw), 0) != (ssize_t)sizeof(raw))
        return error_set(err, "no random bytes for a secret");
    for (size_t i = 0; i < sizeof(raw); i++)
        snprintf(out + 2 * i, 3, "%02x", raw[i]);
    memset(raw, 0, sizeof(raw));
    return 0;
}

/* ---- expiry ---- */

static double session_end(const WebSessions *ws, const Session *s)
{
    double idle = s->last_used + ws->opt.idle_s, abs = s->created + ws->opt.absolute_s;
    return idle < abs ? idle : abs;
}

static void ended(const WebSessions *ws, unsigned id)
{
    if (ws->opt.on_end)
        ws->opt.on_end(ws->opt.on_end_ctx, id);
}

/* Drop the expired tokens and sessions (the order of the others is not kept). */
static void sweep(WebSessions *ws, double now)
{
    for (unsigned i = 0; i < ws->ntokens;) {
        if (ws->tokens[i].expires_at <= now)
            ws->tokens[i] = ws->tokens[--ws->ntokens];
        else
            i++;
    }
    for (unsigned i = 0; i < ws->nsessions;) {
        if (session_end(ws, &ws->sessions[i]) <= now) {
            ended(ws, ws->sessions[i].info.id);
            ws->sessions[i] = ws->sessions[--ws->nsessions];
        } else
            i++;
    }
}

/* ---- tokens ---- */

int websession_token_new(WebSessions *ws, double ttl_s, char token[WEB_SECRET_TEXT],
                         double *expires_at, Error *err)
{
    if (!(ttl_s >= 1 && ttl_s <= WEB_TOKEN_TTL_MAX))
        return error_set(err, "ttl: not a number of seconds from 1 to %d", WEB_TOKEN_TTL_MAX);
    double now = now_of(ws);
    sweep(ws, now);
    Token *t = &ws->tokens[ws->ntokens < WEB_TOKENS_MAX ? ws->ntokens : 0];
    if (ws->ntokens == WEB_TOKENS_MAX) /* the one ending first gives way */
        for (unsigned i = 1; i < ws->ntokens; i++)
            if (ws->tokens[i].expires_at < t->expires_at)
                t = &ws->tokens[i];
    if (secret_new(t->secret, err) < 0)
        return -1;
    if (ws->ntokens < WEB_TOKENS_MAX)
        ws->ntokens++;
    t->expires_at = now + ttl_s;
    memcpy(token, t->secret, WEB_SECRET_TEXT);
    *expires_at = t->expires_at;
    return 0;
}

/* Take the token equal to token (every entry compared, in constant time each); false if none. */
static bool token_take(WebSessions *ws, const char *token)
{
    int found = -1;
    for (unsigned i = 0; i < ws->ntokens; i++)
        if (websession_equal(ws->tokens[i].secret, token))
            found = (int)i;
    if (found < 0)
        return false;
    ws->tokens[found] = ws->tokens[--ws->ntokens];
    memset(&ws->tokens[ws->ntokens], 0, sizeof(Token));
    return true;
}

/* ---- sessions ---- */

/* A free slot: a new one, or the session used least recently. */
static Session *session_slot(WebSessions *ws)
{
    if (ws->nsessions < WEB_SESSIONS_MAX)
        return &ws->sessions[ws->nsessions++];
    Session *oldest = &ws->sessions[0];
    for (unsigned i = 1; i < ws->nsessions; i++)
        if (ws->sessions[i].last_used < oldest->last_used)
            oldest = &ws->sessions[i];
    ended(ws, oldest->info.id);
    return oldest;
}

WebLogin websession_login(WebSessions *ws, const char *client, const char *token,
                          char session[WEB_SECRET_TEXT], WebSessionInfo *info,
                          double *retry_after_s)
{
    double now = now_of(ws);
    char id[RATELIMIT_ID_MAX];
    snprintf(id, sizeof(id), "%s", client ? client : "");
    if (!ratelimit_take(&ws->logins, id, now, retry_after_s))
        return WEB_LOGIN_LIMITED;
    sweep(ws, now);
    if (!token_take(ws, token))
        return WEB_LOGIN_BAD;
    Session s = {.created = now, .last_used = now, .info.id = ws->next_id++};
    if (secret_new(s.secret, NULL) < 0 || secret_new(s.info.csrf, NULL) < 0)
        return WEB_LOGIN_BAD;
    s.info.expires_at = session_end(ws, &s);
    *session_slot(ws) = s;
    memcpy(session, s.secret, WEB_SECRET_TEXT);
    *info = s.info;
    return WEB_LOGIN_OK;
}

/* The live session whose secret is session, or NULL. */
static Session *session_find(WebSessions *ws, const char *session, double now)
{
    sweep(ws, now);
    Session *found = NULL;
    for (unsigned i = 0; i < ws->nsessions; i++)
        if (websession_equal(ws->sessions[i].secret, session))
            found = &ws->sessions[i];
    return found;
}

bool websession_find(WebSessions *ws, const char *session, WebSessionInfo *info)
{
    double now = now_of(ws);
    Session *s = session_find(ws, session, now);
    if (!s)
        return false;
    s->last_used = now;
    s->info.expires_at = session_end(ws, s);
    *info = s->info;
    return true;
}

bool websession_logout(WebSessions *ws, const char *session, unsigned *id)
{
    Session *s = session_find(ws, session, now_of(ws));
    if (!s)
        return false;
    if (id)
        *id = s->info.id;
    ended(ws, s->info.id);
    *s = ws->sessions[--ws->nsessions];
    memset(&ws->sessions[ws->nsessions], 0, sizeof(Session));
    return true;
}

void websession_sweep(WebSessions *ws)
{
    sweep(ws, now_of(ws));
}

size_t websession_count(WebSessions *ws)
{
    sweep(ws, now_of(ws));
    return ws->nsessions;
}

size_t websession_token_count(WebSessions *ws)
{
    sweep(ws, now_of(ws));
    return ws->ntokens;
}
