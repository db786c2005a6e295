/* The web console's login tokens and sessions (src/mgmt/websession.c), on an injected clock. */
#include <string.h>

#include "mgmt/websession.h"
#include "tap.h"

static double fake_now;

static double fake_clock(void *ctx)
{
    (void)ctx;
    return fake_now;
}

static WebSessions *make(void)
{
    WebSessions *ws = NULL;
    WebSessionOptions o = {.clock = fake_clock};
    fake_now = 1000;
    if (websession_new(&ws, &o, NULL) < 0)
        abort();
    return ws;
}

/* A login with a fresh token; the session's secret into session. */
static void login(WebSessions *ws, char session[WEB_SECRET_TEXT], WebSessionInfo *info)
{
    char token[WEB_SECRET_TEXT];
    double exp, retry;
    if (websession_token_new(ws, 300, token, &exp, NULL) < 0 ||
        websession_login(ws, "1.2.3.4", token, session, info, &retry) != WEB_LOGIN_OK)
        abort();
}

static void test_token_is_one_time(void)
{
    WebSessions *ws = make();
    char token[WEB_SECRET_TEXT], session[WEB_SECRET_TEXT], other[WEB_SECRET_TEXT];
    double exp = 0, retry = 0;
    WebSessionInfo info;
    ok(websession_token_new(ws, 300, token, &exp, NULL) == 0, "a token is made");
    ok(strlen(token) == 64 && strspn(token, "0123456789abcdef") == 64, "64 hex digits: %s", token);
    ok(exp == 1300, "it ends ttl seconds from now (%.0f)", exp);
    ok(websession_token_count(ws) == 1, "one token waits");
    ok(websession_login(ws, "a", token, session, &info, &retry) == WEB_LOGIN_OK, "it logs in");
    ok(strlen(session) == 64 && strcmp(session, token) != 0, "the session's id is a new secret");
    ok(strlen(info.csrf) == 64 && strcmp(info.csrf, session) != 0, "so is its CSRF token");
    ok(info.id == 1 && info.expires_at == 1000 + WEB_IDLE_S, "serial 1, ends when idle (%.0f)",
       info.expires_at);
    ok(websession_login(ws, "a", token, other, &info, &retry) == WEB_LOGIN_BAD,
       "the same token a second time is refused");
    ok(websession_count(ws) == 1 && websession_token_count(ws) == 0, "one session, no token");
    char wrong[WEB_SECRET_TEXT];
    websession_token_new(ws, 300, token, &exp, NULL);
    memcpy(wrong, token, sizeof(wrong));
    wrong[63] = wrong[63] == '0' ? '1' : '0';
    ok(websession_login(ws, "a", wrong, other, &info, &retry) == WEB_LOGIN_BAD,
       "a token one digit off is refused");
    ok(websession_login(ws, "a", "", other, &info, &retry) == WEB_LOGIN_BAD &&
           websession_login(ws, "a", NULL, other, &info, &retry) == WEB_LOGIN_BAD,
       "an empty or missing token is refused");
    ok(websession_token_count(ws) == 1, "the real token still waits after wrong guesses");
    ok(websession_token_new(ws, 0, token, &exp, NULL) < 0 &&
           websession_token_new(ws, WEB_TOKEN_TTL_MAX + 1, token, &exp, NULL) < 0,
       "a ttl of 0 or over the maximum is refused");
    websession_free(ws);
}

static void test_token_expires(void)
{
    WebSessions *ws = make();
    char token[WEB_SECRET_TEXT], session[WEB_SECRET_TEXT];
    double exp, retry;
    WebSessionInfo info;
    websession_token_new(ws, 60, token, &exp, NULL);
    fake_now += 60;
    ok(websession_login(ws, "a", token, session, &info, &retry) == WEB_LOGIN_BAD,
       "a token is refused at its end");
    ok(websession_token_count(ws) == 0, "and forgotten");
    for (int i = 0; i < WEB_TOKENS_MAX + 5; i++)
        websession_token_new(ws, 100 + i, token, &exp, NULL);
    ok(websession_token_count(ws) == WEB_TOKENS_MAX, "at most %d tokens wait", WEB_TOKENS_MAX);
    ok(websession_login(ws, "b", token, session, &info, &retry) == WEB_LOGIN_OK,
       "the newest one works");
    websession_free(ws);
}

static void test_session_idle_and_absolute_expiry(void)
{
    WebSessions *ws = make();
    char session[WEB_SECRET_TEXT];
    WebSessionInfo info, found;
    login(ws, session, &info);
    fake_now += WEB_IDLE_S - 1;
    ok(websession_find(ws, session, &found), "a session is live until its idle end");
    ok(found.id == info.id && strcmp(found.csrf, info.csrf) == 0, "the same session, same CSRF");
    ok(found.expires_at == fake_now + WEB_IDLE_S, "a request restarts its idle time");
    fake_now += WEB_IDLE_S;
    ok(!websession_find(ws, session, &found), "a session idle for %d s is gone", WEB_IDLE_S);
    ok(websession_count(ws) == 0, "and forgotten");

    double start = fake_now;
    login(ws, session, &info);
    int lost = 0;
    while (fake_now + WEB_IDLE_S / 2 < start + WEB_ABSOLUTE_S) {
        fake_now += WEB_IDLE_S / 2;
        lost += !websession_find(ws, session, &found);
    }
    ok(lost == 0, "a session used every 15 minutes lives until its absolute end");
    fake_now = start + WEB_ABSOLUTE_S;
    ok(!websession_find(ws, session, &found), "and not a moment longer, however busy");
    websession_free(ws);

    ws = make();
    login(ws, session, &info);
    while (fake_now + WEB_IDLE_S / 2 < 1000 + WEB_ABSOLUTE_S - 100) {
        fake_now += WEB_IDLE_S / 2; /* never idle long: the absolute end comes first */
        websession_find(ws, session, &found);
    }
    ok(found.expires_at == 1000 + WEB_ABSOLUTE_S, "expires_at says the absolute end (%.0f)",
       found.expires_at);
    websession_free(ws);
}

static void test_logout_and_wrong_ids(void)
{
    WebSessions *ws = make();
    char a[WEB_SECRET_TEXT], b[WEB_SECRET_TEXT];
    WebSessionInfo ia, ib, found;
    login(ws, a, &ia);
    login(ws, b, &ib);
    ok(ia.id != ib.id && strcmp(ia.csrf, ib.csrf) != 0, "two sessions, their own serials and CSRF");
    ok(!websession_find(ws, "", &found) && !websession_find(ws, NULL, &found) &&
           !websession_find(ws, ia.csrf, &found),
       "an empty id, none, or a CSRF token is no session");
    char longer[WEB_SECRET_TEXT + 1];
    snprintf(longer, sizeof(longer), "%s0", a);
    ok(!websession_find(ws, longer, &found), "an id with a digit more is no session");
    unsigned id = 0;
    ok(websession_logout(ws, a, &id) && id == ia.id, "logout ends the session (serial %u)", id);
    ok(!websession_find(ws, a, &found), "its id is refused after");
    ok(websession_find(ws, b, &found) && found.id == ib.id, "the other session lives on");
    ok(!websession_logout(ws, a, &id), "a second logout finds nothing");
    websession_free(ws);
}

static void test_csrf_and_equal(void)
{
    WebSessions *ws = make();
    char s[WEB_SECRET_TEXT];
    WebSessionInfo info;
    login(ws, s, &info);
    ok(websession_csrf_ok(&info, info.csrf), "its own CSRF token passes");
    char bad[WEB_SECRET_TEXT];
    memcpy(bad, info.csrf, sizeof(bad));
    bad[0] = bad[0] == 'a' ? 'b' : 'a';
    ok(!websession_csrf_ok(&info, bad), "one digit off fails");
    ok(!websession_csrf_ok(&info, NULL) && !websession_csrf_ok(&info, ""), "none or empty fails");
    bad[10] = '\0';
    ok(!websession_csrf_ok(&info, bad), "a prefix fails");
    ok(!websession_equal("", ""), "two empty strings are no equal secrets");
    websession_free(ws);
}

static void test_login_rate_limit(void)
{
    WebSessions *ws = make();
    char session[WEB_SECRET_TEXT], token[WEB_SECRET_TEXT];
    WebSessionInfo info;
    double retry = 0, exp;
    int bad = 0;
    for (int i = 0; i < 20; i++)
        bad += websession_login(ws, "6.6.6.6", "guess", session, &info, &retry) == WEB_LOGIN_BAD;
    ok(bad == (int)WEB_LOGIN_BURST, "a burst of %d guesses is answered (%d were)",
       (int)WEB_LOGIN_BURST, bad);
    ok(websession_login(ws, "6.6.6.6", "guess", session, &info, &retry) == WEB_LOGIN_LIMITED &&
           retry > 0,
       "then the address is held back (retry in %.2f s)", retry);
    websession_token_new(ws, 300, token, &exp, NULL);
    ok(websession_login(ws, "6.6.6.6", token, session, &info, &retry) == WEB_LOGIN_LIMITED,
       "even with a good token");
    ok(websession_login(ws, "1.1.1.1", token, session, &info, &retry) == WEB_LOGIN_OK,
       "another address logs in with it (it was not used up)");
    fake_now += 2;
    ok(websession_login(ws, "6.6.6.6", "guess", session, &info, &retry) == WEB_LOGIN_BAD,
       "the held-back address may try again later");
    websession_free(ws);
}

static unsigned ended_ids[8], nended;

static void on_end(void *ctx, unsigned id)
{
    (void)ctx;
    if (nended < 8)
        ended_ids[nended++] = id;
}

static void test_on_end_is_called_for_every_end(void)
{
    WebSessions *ws = NULL;
    WebSessionOptions o = {.clock = fake_clock, .on_end = on_end};
    fake_now = 1000;
    websession_new(&ws, &o, NULL);
    char a[WEB_SECRET_TEXT], b[WEB_SECRET_TEXT];
    WebSessionInfo ia, ib, found;
    login(ws, a, &ia);
    login(ws, b, &ib);
    ok(nended == 0, "no end at the logins");
    websession_logout(ws, a, NULL);
    ok(nended == 1 && ended_ids[0] == ia.id, "a logout ends its session (serial %u)", ia.id);
    fake_now += WEB_IDLE_S;
    websession_sweep(ws);
    ok(nended == 2 && ended_ids[1] == ib.id, "an expiry ends its session at the next sweep");
    websession_sweep(ws);
    ok(nended == 2 && !websession_find(ws, b, &found), "once");
    for (int i = 0; i < WEB_SESSIONS_MAX + 1; i++) {
        fake_now += 1;
        login(ws, a, &ia);
    }
    ok(nended == 3, "the session used least recently gives way past %d, and is told (%u)",
       WEB_SESSIONS_MAX, nended);
    websession_free(ws);
}

int main(void)
{
    test_token_is_one_time();
    test_token_expires();
    test_session_idle_and_absolute_expiry();
    test_logout_and_wrong_ids();
    test_csrf_and_equal();
    test_login_rate_limit();
    test_on_end_is_called_for_every_end();
    return tap_done();
}
