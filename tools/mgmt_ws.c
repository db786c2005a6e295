/*
 * The websocket client (mgmt_ws.h): libcurl connects in CONNECT_ONLY mode,
 * curl_easy_send/curl_easy_recv carry the upgrade request, the 101 answer
 * and the frames; poll() waits on the socket curl reports.
 */
#include "mgmt_ws.h"

#include <curl/curl.h>
#include <errno.h>
#include <jansson.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <time.h>

#define HEAD_MAX (16u << 10)    /* the daemon's answer to the upgrade: headers */
#define BODY_MAX (64u << 10)    /* ... and the body of a refusal */
#define MESSAGE_MAX (16u << 20) /* the largest message we take */
#define HANDSHAKE_TIMEOUT_MS 10000

struct MgmtWs {
    CURL *h;
    curl_socket_t fd;
    WsParser parser;
};

/* ---- bytes over curl ---- */

/* Wait until fd is readable (or writable, with out); false on timeout. */
static bool wait_fd(curl_socket_t fd, bool out, int timeout_ms)
{
    struct pollfd p = {.fd = fd, .events = out ? POLLOUT : POLLIN};
    int r;
    while ((r = poll(&p, 1, timeout_ms)) < 0 && errno == EINTR)
        ;
    return r > 0;
}

static int send_all(MgmtWs *ws, const void *data, size_t len, Error *err)
{
    const char *p = data;
    while (len) {
        size_t n = 0;
        CURLcode rc = curl_easy_send(ws->h, p, len, &n);
        if (rc == CURLE_AGAIN) {
            if (!wait_fd(ws->fd, true, HANDSHAKE_TIMEOUT_MS))
                return error_set(err, "hosteld does not take what we send");
            continue;
        }
        if (rc != CURLE_OK)
            return error_set(err, "talking to hosteld: %s", curl_easy_strerror(rc));
        p += n;
        len -= n;
    }
    return 0;
}

/* Some bytes into buf: their count, 0 at the end of the stream, -2 on timeout, -1 on error. */
static ssize_t recv_some(MgmtWs *ws, void *buf, size_t size, int timeout_ms, Error *err)
{
    for (;;) {
        size_t n = 0;
        CURLcode rc = curl_easy_recv(ws->h, buf, size, &n);
        if (rc == CURLE_OK)
            return (ssize_t)n;
        if (rc != CURLE_AGAIN) {
            error_set(err, "the connection to hosteld broke: %s", curl_easy_strerror(rc));
            return -1;
        }
        if (!wait_fd(ws->fd, false, timeout_ms))
            return -2;
    }
}

/* ---- the handshake ---- */

/* The value of header name in head (NUL-terminated headers) into out; false if absent. */
static bool head_value(const char *head, const char *name, char *out, size_t size)
{
    size_t n = strlen(name);
    for (const char *l = strstr(head, "\r\n"); l; l = strstr(l + 2, "\r\n")) {
        if (strncasecmp(l + 2, name, n) != 0 || l[2 + n] != ':')
            continue;
        const char *v = l + 3 + n;
        v += strspn(v, " \t");
        snprintf(out, size, "%.*s", (int)strcspn(v, "\r\n"), v);
        return true;
    }
    return false;
}

/* Read the answer's headers into head; the bytes read past them into *extra. */
static int read_head(MgmtWs *ws, char *head, size_t *len, Error *err)
{
    *len = 0;
    while (!strstr(head, "\r\n\r\n")) {
        if (*len + 1 >= HEAD_MAX)
            return error_set(err, "hosteld's answer to the upgrade is too long");
        ssize_t n = recv_some(ws, head + *len, HEAD_MAX - 1 - *len, HANDSHAKE_TIMEOUT_MS, err);
        if (n == -2)
            return error_set(err, "hosteld did not answer the upgrade within %d s",
                             HANDSHAKE_TIMEOUT_MS / 1000);
        if (n <= 0)
            return n == 0 ? error_set(err, "hosteld closed the connection during the upgrade") : -1;
        *len += (size_t)n;
        head[*len] = '\0';
    }
    return 0;
}

/* A refusal (not 101): its JSON error's message into err. */
static int refused(MgmtWs *ws, char *head, size_t len, int status, Error *err)
{
    char cl[32];
    size_t want = head_value(head, "Content-Length", cl, sizeof(cl)) ? strtoul(cl, NULL, 10) : 0;
    char *body = strstr(head, "\r\n\r\n") + 4;
    size_t have = len - (size_t)(body - head);
    while (want <= BODY_MAX && have < want && body + have < head + HEAD_MAX - 1) {
        ssize_t n = recv_some(ws, body + have, (size_t)(head + HEAD_MAX - 1 - (body + have)),
                              HANDSHAKE_TIMEOUT_MS, err);
        if (n <= 0)
            break;
        have += (size_t)n;
    }
    json_t *j = json_loadb(body, have, 0, NULL);
    const char *m = json_string_value(json_object_get(json_object_get(j, "error"), "message"));
    if (m)
        error_set(err, "%s", m);
    else
        error_set(err, "hosteld refused the websocket with HTTP %d", status);
    json_decref(j);
    return -1;
}

static int handshake(MgmtWs *ws, const char *host, const char *path, Error *err)
{
    char key[WS_KEY_LEN + 1], want[WS_ACCEPT_LEN + 1], got[64], req[1600];
    if (ws_client_key(key, err) < 0)
        return -1;
    ws_accept_key(key, want);
    int n = snprintf(req, sizeof(req),
                     "GET %s HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\n"
                     "Connection: Upgrade\r\nSec-WebSocket-Key: %s\r\n"
                     "Sec-WebSocket-Version: 13\r\n\r\n",
                     path, host, key);
    if (n < 0 || (size_t)n >= sizeof(req))
        return error_set(err, "the path is too long");
    char *head = calloc(1, HEAD_MAX);
    size_t len;
    int status = 0, r = -1;
    if (!head)
        return error_set(err, "out of memory");
    if (send_all(ws, req, (size_t)n, err) < 0 || read_head(ws, head, &len, err) < 0)
        goto out;
    if (sscanf(head, "HTTP/1.%*d %d", &status) != 1) {
        error_set(err, "hosteld's answer is not HTTP");
    } else if (status != 101) {
        refused(ws, head, len, status, err);
    } else if (!head_value(head, "Sec-WebSocket-Accept", got, sizeof(got)) ||
               strcmp(got, want) != 0) {
        error_set(err, "hosteld's websocket handshake is wrong (Sec-WebSocket-Accept)");
    } else {
        char *rest = strstr(head, "\r\n\r\n") + 4;
        r = ws_parser_feed(&ws->parser, rest, len - (size_t)(rest - head), err);
    }
out:
    free(head);
    return r;
}

/* Why the connection could not be made, one line (as mgmt_client's calls say it). */
static int connect_error(const MgmtTarget *t, CURLcode rc, bool *no_daemon, Error *err)
{
    if (rc == CURLE_COULDNT_CONNECT) {
        *no_daemon = true;
        if (t->remote[0])
            return error_set(err, "no hosteld answers at %s", t->url);
        return error_set(err,
                         "no hosteld answers on %s: start it with 'hosteld' (or 'systemctl "
                         "start hosteld', unit in contrib/hosteld.service), or give --socket",
                         t->socket);
    }
    if (rc == CURLE_SSL_PINNEDPUBKEYNOTMATCH)
        return error_set(err,
                         "remote '%s' (%s) presented another server key than the one pinned when "
                         "it was added: refusing (remove and add it again if that is expected)",
                         t->remote, t->url);
    return error_set(err, "cannot reach hosteld at %s: %s", t->remote[0] ? t->url : t->socket,
                     curl_easy_strerror(rc));
}

/* libcurl connects (and, for a remote, does the TLS handshake) to t; the socket into ws->fd. */
static int open_connection(MgmtWs *ws, const MgmtTarget *t, bool *no_daemon, Error *err)
{
    char url[sizeof(t->url) + 2];
    if (t->remote[0]) {
        mgmt_client_setup_tls(ws->h, t);
        snprintf(url, sizeof(url), "%s/", t->url);
    } else {
        curl_easy_setopt(ws->h, CURLOPT_UNIX_SOCKET_PATH, t->socket);
        snprintf(url, sizeof(url), "http://hosteld/");
    }
    curl_easy_setopt(ws->h, CURLOPT_URL, url);
    curl_easy_setopt(ws->h, CURLOPT_CONNECT_ONLY, 1L);
    curl_easy_setopt(ws->h, CURLOPT_CONNECTTIMEOUT_MS, (long)HANDSHAKE_TIMEOUT_MS);
    curl_easy_setopt(ws->h, CURLOPT_NOSIGNAL, 1L);
    CURLcode rc = curl_easy_perform(ws->h);
    if (rc != CURLE_OK)
        return connect_error(t, rc, no_daemon, err);
    if (curl_easy_getinfo(ws->h, CURLINFO_ACTIVESOCKET, &ws->fd) != CURLE_OK ||
        ws->fd == CURL_SOCKET_BAD)
        return error_set(err, "libcurl gives no socket for hosteld");
    return 0;
}

/* The Host header for t: HOST:PORT of a remote's URL, else "hosteld". */
static void host_of(const MgmtTarget *t, char *buf, size_t size)
{
    const char *h = t->remote[0] ? strstr(t->url, "://") : NULL;
    if (h)
        snprintf(buf, size, "%.*s", (int)strcspn(h + 3, "/"), h + 3);
    else
        snprintf(buf, size, "hosteld");
}

int mgmt_ws_connect(MgmtWs **out, const MgmtTarget *t, const char *path, bool *no_daemon,
                    Error *err)
{
    *no_daemon = false;
    MgmtWs *ws = calloc(1, sizeof(*ws));
    if (!ws || !(ws->h = curl_easy_init())) {
        free(ws);
        return error_set(err, "out of memory");
    }
    ws_parser_init(&ws->parser, false, MESSAGE_MAX);
    char host[sizeof(t->url)];
    host_of(t, host, sizeof(host));
    if (open_connection(ws, t, no_daemon, err) < 0 || handshake(ws, host, path, err) < 0) {
        ws_parser_free(&ws->parser);
        curl_easy_cleanup(ws->h);
        free(ws);
        return -1;
    }
    *out = ws;
    return 0;
}

/* ---- messages ---- */

int mgmt_ws_send(MgmtWs *ws, WsOpcode op, const void *data, size_t len, Error *err)
{
    uint8_t mask[4];
    size_t n;
    if (getrandom(mask, sizeof(mask), 0) != (ssize_t)sizeof(mask))
        return error_set_errno(err, errno, "no random bytes for a websocket mask");
    uint8_t *f = ws_frame_new(op, data, len, mask, &n);
    if (!f)
        return error_set(err, "out of memory");
    int r = send_all(ws, f, n, err);
    free(f);
    return r;
}

/* A control frame on the way: a ping answered; a close ends the stream (-1). */
static int on_control(MgmtWs *ws, const WsMessage *m, Error *err)
{
    if (m->op == WS_OP_PING)
        return mgmt_ws_send(ws, WS_OP_PONG, m->data, m->len, err);
    if (m->op != WS_OP_CLOSE)
        return 0;
    int reason = m->len > 2 ? (int)(m->len - 2) : 0;
    return error_set(err, "hosteld closed the stream (%u%s%.*s)", m->close_code, reason ? ": " : "",
                     reason, (const char *)m->data + 2);
}

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

int mgmt_ws_recv(MgmtWs *ws, WsMessage *m, int timeout_ms, Error *err)
{
    double until = now_ms() + timeout_ms;
    for (;;) {
        int r = ws_parser_next(&ws->parser, m, err);
        if (r < 0)
            return -1;
        if (r == 1 && (m->op == WS_OP_TEXT || m->op == WS_OP_BINARY))
            return 1;
        if (r == 1) {
            if (on_control(ws, m, err) < 0)
                return -1;
            continue;
        }
        int left = timeout_ms < 0 ? -1 : (int)(until - now_ms());
        if (timeout_ms >= 0 && left < 0)
            left = 0;
        uint8_t buf[16384];
        ssize_t n = recv_some(ws, buf, sizeof(buf), left, err);
        if (n == -2)
            return 0;
        if (n == 0)
            return error_set(err, "hosteld closed the connection");
        if (n < 0 || ws_parser_feed(&ws->parser, buf, (size_t)n, err) < 0)
            return -1;
    }
}

int mgmt_ws_fd(const MgmtWs *ws)
{
    return (int)ws->fd;
}

void mgmt_ws_close(MgmtWs *ws)
{
    if (!ws)
        return;
    uint8_t p[WS_CONTROL_MAX];
    size_t n = ws_close_payload(p, WS_CLOSE_NORMAL, "");
    mgmt_ws_send(ws, WS_OP_CLOSE, p, n, NULL);
    ws_parser_free(&ws->parser);
    curl_easy_cleanup(ws->h);
    free(ws);
}
