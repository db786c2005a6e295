/*
 * The websocket client `hostel events` and `hostel console` use
 * (tools/mgmt_ws.c) against the stream hub (mgmt/hub.h) over a real unix
 * socket: a tiny server here answers the handshake as hosteld does and
 * adopts the socket.  Text and binary round trips, a stream bridged to an
 * echo server (the console's plumbing, end to end, also through
 * api_reply_bridge as the console route will use it), a refusal's message,
 * the hub's close seen by the client, and no daemon at all.
 */
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "mgmt/api_int.h"
#include "mgmt/hub.h"
#include "mgmt_ws.h"
#include "tap.h"

typedef struct Server {
    int lfd;
    MgmtHub *hub;
    int echo_fd;  /* bridged to each stream when >= 0 */
    bool refuse;  /* answer 404 instead of 101 */
    bool via_api; /* the 101 and the bridge from api_reply_bridge (echo_fd) */
    atomic_int closed;
} Server;

static int s_open(HubConn *c, void *opaque)
{
    Server *s = opaque;
    if (s->echo_fd >= 0) {
        int fd = s->echo_fd;
        s->echo_fd = -1;
        return hub_bridge(c, fd, NULL);
    }
    return 0;
}

/* Text "close" closes with 4000; anything else comes back as it came. */
static void s_message(HubConn *c, void *opaque, WsOpcode op, const uint8_t *d, size_t len)
{
    if (len == 5 && memcmp(d, "close", 5) == 0)
        hub_close(c, 4000, "asked to");
    else
        hub_send(c, op, d, len);
}

static void s_close(HubConn *c, void *opaque)
{
    ((Server *)opaque)->closed++;
}

static const HubConnOps server_ops = {
    .on_open = s_open, .on_message = s_message, .on_close = s_close};

/* The console route's way: api_reply_bridge makes the 101 and the stream, the hub serves it. */
static void *serve_via_api(Server *s, int fd, const char *key)
{
    ApiRequest req = {
        .method = "GET", .path = "/x", .websocket = true, .ws_key = key, .ws_version = "13"};
    ApiResponse resp;
    char reply[256];
    memset(&resp, 0, sizeof(resp));
    int echo = s->echo_fd;
    s->echo_fd = -1;
    ok(api_reply_bridge(&req, &resp, echo) && resp.status == 101 && resp.stream.ops,
       "api_reply_bridge: a 101 with a stream");
    snprintf(reply, sizeof(reply),
             "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
             "Sec-WebSocket-Accept: %s\r\n\r\n",
             resp.ws_accept);
    ok(write(fd, reply, strlen(reply)) == (ssize_t)strlen(reply), "the server answers 101");
    hub_adopt(s->hub, fd, NULL, 0, NULL, NULL, resp.stream.ops, resp.stream.opaque, NULL);
    resp.stream.opaque = NULL; /* the hub's now */
    api_response_free(&resp);
    return NULL;
}

/* Accept one client, answer its handshake, hand it to the hub (as hosteld does). */
static void *serve_one(void *opaque)
{
    Server *s = opaque;
    int fd = accept(s->lfd, NULL, NULL);
    char req[4096] = {0}, accept_key[WS_ACCEPT_LEN + 1], reply[512];
    size_t n = 0;
    while (fd >= 0 && !strstr(req, "\r\n\r\n") && n < sizeof(req) - 1) {
        ssize_t r = read(fd, req + n, sizeof(req) - 1 - n);
        if (r <= 0)
            break;
        n += (size_t)r;
    }
    char *key = strstr(req, "Sec-WebSocket-Key: ");
    if (s->refuse || !key) {
        const char *body = "{\"error\": {\"code\": 404, \"message\": \"no VM named 'x'\"}}";
        snprintf(reply, sizeof(reply), "HTTP/1.1 404 Not Found\r\nContent-Length: %zu\r\n\r\n%s",
                 strlen(body), body);
        ok(write(fd, reply, strlen(reply)) > 0, "the server refuses");
        close(fd);
        return NULL;
    }
    key += strlen("Sec-WebSocket-Key: ");
    key[strcspn(key, "\r")] = '\0';
    if (s->via_api)
        return serve_via_api(s, fd, key);
    ws_accept_key(key, accept_key);
    snprintf(reply, sizeof(reply),
             "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
             "Sec-WebSocket-Accept: %s\r\n\r\n",
             accept_key);
    ok(write(fd, reply, strlen(reply)) == (ssize_t)strlen(reply), "the server answers 101");
    hub_adopt(s->hub, fd, NULL, 0, NULL, NULL, &server_ops, s, NULL);
    return NULL;
}

static MgmtWs *connect_to(Server *s, const char *path, pthread_t *t, Error *err)
{
    MgmtWs *ws = NULL;
    bool no_daemon;
    pthread_create(t, NULL, serve_one, s);
    MgmtTarget target = {.remote = ""};
    snprintf(target.socket, sizeof(target.socket), "%s", path);
    if (mgmt_ws_connect(&ws, &target, "/1.0/events", &no_daemon, err) < 0)
        ws = NULL;
    pthread_join(*t, NULL);
    return ws;
}

static atomic_int echo_done;

/* The peer of fd hung up within 3 s. */
static bool hung_up(int fd)
{
    struct pollfd p = {.fd = fd, .events = POLLIN};
    char c;
    return poll(&p, 1, 3000) == 1 && read(fd, &c, 1) == 0;
}

/* api_reply_bridge closes the socket it was given when there is no websocket after all. */
static void test_bridge_refusals(void)
{
    int sp[2];
    ApiResponse resp;
    ApiRequest bad = {.method = "GET",
                      .path = "/x",
                      .websocket = true,
                      .ws_key = "dGhlIHNhbXBsZSBub25jZQ==",
                      .ws_version = "8"};
    socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp);
    memset(&resp, 0, sizeof(resp));
    ok(!api_reply_bridge(&bad, &resp, sp[0]) && resp.status == 400 && hung_up(sp[1]),
       "a bad handshake: 400, and the socket is closed");
    api_response_free(&resp);
    close(sp[1]);
    ApiRequest good = bad;
    good.ws_version = "13";
    socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp);
    memset(&resp, 0, sizeof(resp));
    ok(api_reply_bridge(&good, &resp, sp[0]) && resp.status == 101 &&
           strcmp(resp.ws_accept, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=") == 0,
       "a good one: 101 with the accept key");
    api_response_free(&resp); /* the upgrade never happened */
    ok(hung_up(sp[1]), "an upgrade that never happens closes the socket");
    close(sp[1]);
}

static void *echo(void *opaque)
{
    int fd = *(int *)opaque;
    char buf[4096];
    ssize_t n;
    while ((n = read(fd, buf, sizeof(buf))) > 0)
        if (write(fd, buf, (size_t)n) != n)
            break;
    close(fd);
    echo_done = 1;
    return NULL;
}

int main(void)
{
    char dir[] = "/tmp/test_mgmt_ws.XXXXXX", path[64];
    Server s = {.echo_fd = -1};
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    pthread_t t;
    Error err = {0};
    WsMessage m;
    if (!mkdtemp(dir))
        return 77;
    snprintf(path, sizeof(path), "%s/s.sock", dir);
    snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
    s.lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    ok(bind(s.lfd, (struct sockaddr *)&sa, sizeof(sa)) == 0 && listen(s.lfd, 4) == 0, "listening");
    ok(hub_new(&s.hub, NULL, NULL) == 0, "a hub");

    MgmtWs *ws = connect_to(&s, path, &t, &err);
    ok(ws != NULL, "the client's handshake is accepted (%s)", err.msg);
    ok(ws && mgmt_ws_send(ws, WS_OP_TEXT, "hello", 5, NULL) == 0 &&
           mgmt_ws_recv(ws, &m, 3000, NULL) == 1 && m.op == WS_OP_TEXT && m.len == 5 &&
           memcmp(m.data, "hello", 5) == 0,
       "text there and back");
    static uint8_t big[200000];
    for (size_t i = 0; i < sizeof(big); i++)
        big[i] = (uint8_t)(i * 7);
    ok(ws && mgmt_ws_send(ws, WS_OP_BINARY, big, sizeof(big), NULL) == 0 &&
           mgmt_ws_recv(ws, &m, 3000, NULL) == 1 && m.op == WS_OP_BINARY && m.len == sizeof(big) &&
           memcmp(m.data, big, sizeof(big)) == 0,
       "200 kB of binary there and back (64-bit lengths, masking)");
    ok(ws && mgmt_ws_recv(ws, &m, 100, NULL) == 0, "nothing more: a timeout");
    ok(ws && mgmt_ws_send(ws, WS_OP_TEXT, "close", 5, NULL) == 0 &&
           mgmt_ws_recv(ws, &m, 3000, &err) < 0 && strstr(err.msg, "4000: asked to"),
       "the server's close reaches the client: %s", err.msg);
    mgmt_ws_close(ws);

    /* the console's plumbing: a websocket bridged to a unix socket (an echo server) */
    int br[2];
    pthread_t et;
    socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, br);
    pthread_create(&et, NULL, echo, &br[1]);
    s.echo_fd = br[0];
    ws = connect_to(&s, path, &t, &err);
    ok(ws && mgmt_ws_send(ws, WS_OP_BINARY, "ls -l\n", 6, NULL) == 0 &&
           mgmt_ws_recv(ws, &m, 3000, NULL) == 1 && m.op == WS_OP_BINARY && m.len == 6 &&
           memcmp(m.data, "ls -l\n", 6) == 0,
       "keys through the bridge come back from the echo server");
    int before = s.closed;
    mgmt_ws_close(ws);
    for (int i = 0; i < 300 && !echo_done; i++)
        usleep(10000);
    ok(echo_done, "the client leaving closes the bridged socket (the echo server ended)");
    if (echo_done)
        pthread_join(et, NULL);
    for (int i = 0; i < 300 && s.closed == before; i++)
        usleep(10000);
    ok(s.closed == before + 1, "and the stream");

    /* the same through the API's helper (the console route's way) */
    socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, br);
    echo_done = 0;
    pthread_create(&et, NULL, echo, &br[1]);
    s.echo_fd = br[0];
    s.via_api = true;
    ws = connect_to(&s, path, &t, &err);
    ok(ws && mgmt_ws_send(ws, WS_OP_BINARY, "uname\n", 6, NULL) == 0 &&
           mgmt_ws_recv(ws, &m, 3000, NULL) == 1 && m.op == WS_OP_BINARY && m.len == 6 &&
           memcmp(m.data, "uname\n", 6) == 0,
       "api_reply_bridge: keys through the bridge come back");
    mgmt_ws_close(ws);
    for (int i = 0; i < 300 && !echo_done; i++)
        usleep(10000);
    ok(echo_done, "api_reply_bridge: the client leaving closes the bridged socket");
    if (echo_done)
        pthread_join(et, NULL);
    s.via_api = false;
    test_bridge_refusals();

    s.refuse = true;
    ws = connect_to(&s, path, &t, &err);
    ok(!ws && strcmp(err.msg, "no VM named 'x'") == 0, "a refusal gives the daemon's message: %s",
       err.msg);

    bool no_daemon = false;
    unlink(path);
    MgmtTarget gone = {.remote = ""};
    snprintf(gone.socket, sizeof(gone.socket), "%s", path);
    ok(mgmt_ws_connect(&ws, &gone, "/1.0/events", &no_daemon, &err) < 0 && no_daemon &&
           strstr(err.msg, "start it with 'hosteld'"),
       "no daemon: says how to start one");
    hub_free(s.hub);
    close(s.lfd);
    rmdir(dir);
    return tap_done();
}
