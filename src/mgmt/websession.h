/*
 * The web console's logins (docs/web.md, "Security model"): a trusted
 * client asks for a one-time login token; a browser exchanges it for a
 * session (its id goes in the hostel_session cookie) and the session's
 * CSRF token, which every mutating request authenticated by the cookie
 * must carry.  Everything is in memory only: a daemon restart logs every
 * browser out.  Secrets are 256 random bits (getrandom) written as 64 hex
 * digits, compared in constant time.
 *
 * A session ends after WEB_IDLE_S without a request, or WEB_ABSOLUTE_S
 * after its login, whichever is first.  Login attempts are rate-limited per
 * client address.  The clock is injected (tests); NULL is CLOCK_REALTIME.
 * Not thread-safe: the API's lock covers it.
 */
#ifndef HOSTEL_MGMT_WEBSESSION_H
#define HOSTEL_MGMT_WEBSESSION_H

#include <stdbool.h>
#include <stddef.h>

#include "util/error.h"

#define WEB_SECRET_BYTES 32                        /* 256 bits */
#define WEB_SECRET_TEXT (2 * WEB_SECRET_BYTES + 1) /* hex, with its NUL */
#define WEB_TOKENS_MAX 64                          /* login tokens not used yet */
#define WEB_SESSIONS_MAX 256                       /* the oldest gives way past this */
#define WEB_TOKEN_TTL_DEFAULT 300                  /* seconds */
#define WEB_TOKEN_TTL_MAX 3600
#define WEB_IDLE_S (30 * 60)
#define WEB_ABSOLUTE_S (12 * 3600)
#define WEB_LOGIN_RATE 1.0   /* login attempts a second per client address */
#define WEB_LOGIN_BURST 10.0 /* and in a burst */

typedef struct WebSessions WebSessions;

/* Seconds of a wall clock (for expires_at, shown as RFC 3339). */
typedef double WebClock(void *ctx);

typedef struct WebSessionOptions {
    WebClock *clock; /* NULL: CLOCK_REALTIME */
    void *clock_ctx;
    double idle_s, absolute_s;      /* 0: WEB_IDLE_S, WEB_ABSOLUTE_S */
    double login_rate, login_burst; /* 0: WEB_LOGIN_RATE, WEB_LOGIN_BURST */
    /* called when a session ends (logout, expiry, eviction) with its serial; NULL: none */
    void (*on_end)(void *ctx, unsigned id);
    void *on_end_ctx;
} WebSessionOptions;

/* What a request learns of its session (no secret but the CSRF token, which the page holds). */
typedef struct WebSessionInfo {
    unsigned id;                /* a serial number, for the logs (never the secret) */
    char csrf[WEB_SECRET_TEXT]; /* the session's CSRF token */
    double expires_at;          /* the clock's seconds: idle or absolute end, the sooner */
} WebSessionInfo;

typedef enum WebLogin {
    WEB_LOGIN_OK,
    WEB_LOGIN_BAD,     /* unknown, used or expired token */
    WEB_LOGIN_LIMITED, /* too many attempts from this client: *retry_after_s says when */
} WebLogin;

/* Make an empty set.  Returns 0 with *out set, or -1 (no memory). */
int websession_new(WebSessions **out, const WebSessionOptions *opt, Error *err);
void websession_free(WebSessions *ws);

/*
 * A new one-time login token valid ttl_s seconds (1..WEB_TOKEN_TTL_MAX)
 * into token, its end into *expires_at.  Past WEB_TOKENS_MAX unused tokens
 * the one ending first gives way.  Returns 0, or -1 (bad ttl, no entropy).
 */
int websession_token_new(WebSessions *ws, double ttl_s, char token[WEB_SECRET_TEXT],
                         double *expires_at, Error *err);

/*
 * Exchange token (used up by the call, whatever the outcome of a known
 * one) for a new session: its id (the cookie's secret) into session, what
 * the page needs into *info.  client names the caller for the rate limit
 * (its address).
 */
WebLogin websession_login(WebSessions *ws, const char *client, const char *token,
                          char session[WEB_SECRET_TEXT], WebSessionInfo *info,
                          double *retry_after_s);

/* The live session whose id is session (its idle time restarts), into *info; false if none. */
bool websession_find(WebSessions *ws, const char *session, WebSessionInfo *info);

/* End the session whose id is session; its serial into *id.  False if there was none. */
bool websession_logout(WebSessions *ws, const char *session, unsigned *id);

/* csrf is info's CSRF token (constant time). */
bool websession_csrf_ok(const WebSessionInfo *info, const char *csrf);

/*
 * a and b are equal secrets: both exactly WEB_SECRET_TEXT - 1 bytes long,
 * compared in time independent of where they differ.  NULL is never equal.
 */
bool websession_equal(const char *a, const char *b);

/* Drop the expired tokens and sessions now (on_end is called for each session). */
void websession_sweep(WebSessions *ws);

/* Live sessions and unused tokens (expired ones are dropped first). */
size_t websession_count(WebSessions *ws);
size_t websession_token_count(WebSessions *ws);

#endif
