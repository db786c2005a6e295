/*
 * The stream hub (mgmt/hub.h) over socketpairs: a client end written and
 * read with util/ws, the server end adopted by the hub.  Messages both
 * ways, pings, the close handshake, protocol errors and their codes, a
 * client that never reads dropped while another is served, the bridge to
 * a unix stream socket (an echo server) both ways and its closing, and a
 * hub that stops with connections open.
 */
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "mgmt/hub.h"
#include "tap.h"

static const uint8_t mask[4] = {1, 2, 3, 4};

typedef struct Probe {
    atomic_int opened, closed, messages;
    char last[64];
    HubConn *conn;
    int bridge_fd; /* given to hub_bridge in on_open when >= 0 */
} Probe;

static int p_open(HubConn *c, void *opaque)
{
    Probe *p = opaque;
    p->conn = c;
    p->opened++;
    if (p->bridge_fd >= 0)
        return hub_bridge(c, p->bridge_fd, NULL);
    return 0;
}

static void p_message(HubConn *c, void *opaque, WsOpcode op, const uint8_t *d, size_t len)
{
    Probe *p = opaque;
    snprintf(p->last, sizeof(p->last), "%d:%.*s", op, (int)len, (const char *)d);
    p->messages++;
    if (len == 4 && memcmp(d, "echo", 4) == 0)
        hub_send(c, WS_OP_TEXT, "echoed", 6);
}

static void p_close(HubConn *c, void *opaque)
{
    ((Probe *)opaque)->closed++;
}

static const HubConnOps probe_ops = {
    .on_open = p_open, .on_message = p_message, .on_close = p_close};

/* Wait up to 3 s for *v to reach want. */
static bool wait_for(atomic_int *v, int want)
{
    for (int i = 0; i < 300 && *v < want; i++)
        usleep(10000);
    return *v >= want;
}

static void send_frame(int fd, WsOpcode op, const void *d, size_t len, const uint8_t *m)
{
    size_t n;
    uint8_t *f = ws_frame_new(op, d, len, m, &n);
    ok(write(fd, f, n) == (ssize_t)n, "client sends a frame of %zu bytes (op %d)", len, op);
    free(f);
}

/* The next frame the client gets within 3 s: 1, 0 at EOF, -1 on timeout or error. */
static int read_frame(int fd, WsParser *p, WsMessage *m)
{
    for (;;) {
        int r = ws_parser_next(p, m, NULL);
        if (r != 0)
            return r;
        struct pollfd pfd = {.fd = fd, .events = POLLIN};
        if (poll(&pfd, 1, 3000) <= 0)
            return -1;
        uint8_t buf[4096];
        ssize_t n = read(fd, buf, sizeof(buf));
        if (n <= 0)
            return n == 0 ? 0 : -1;
        ws_parser_feed(p, buf, (size_t)n, NULL);
    }
}

/* A connection: sp[0] the client's end, sp[1] adopted with extra bytes. */
static void connect_probe(MgmtHub *hub, int sp[2], Probe *p, const void *extra, size_t n)
{
    socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp);
    ok(hub_adopt(hub, sp[1], extra, n, NULL, NULL, &probe_ops, p, NULL) == 0, "adopted");
    ok(wait_for(&p->opened, 1), "on_open ran");
}

static void test_messages(MgmtHub *hub)
{
    Probe p = {.bridge_fd = -1};
    int sp[2];
    size_t n;
    uint8_t *hi = ws_frame_new(WS_OP_TEXT, "hi", 2, mask, &n);
    connect_probe(hub, sp, &p, hi, n);
    free(hi);
    ok(wait_for(&p.messages, 1) && strcmp(p.last, "1:hi") == 0,
       "the bytes that came with the handshake are a message (%s)", p.last);
    WsParser cp;
    WsMessage m;
    ws_parser_init(&cp, false, 1 << 20);
    send_frame(sp[0], WS_OP_TEXT, "echo", 4, mask);
    ok(read_frame(sp[0], &cp, &m) == 1 && m.op == WS_OP_TEXT && m.len == 6 &&
           memcmp(m.data, "echoed", 6) == 0,
       "an op's hub_send reaches the client unmasked");
    send_frame(sp[0], WS_OP_PING, "pp", 2, mask);
    ok(read_frame(sp[0], &cp, &m) == 1 && m.op == WS_OP_PONG && m.len == 2, "a ping is ponged");
    send_frame(sp[0], WS_OP_CLOSE, "\x03\xe8", 2, mask);
    ok(read_frame(sp[0], &cp, &m) == 1 && m.op == WS_OP_CLOSE && m.close_code == 1000,
       "a close is answered with its code");
    ok(read_frame(sp[0], &cp, &m) == 0, "then the socket ends");
    ok(wait_for(&p.closed, 1), "and on_close ran");
    ws_parser_free(&cp);
    close(sp[0]);
}

/* The close code a client gets after sending bytes b (then EOF), or 0. */
static unsigned close_after(MgmtHub *hub, const uint8_t *b, size_t n)
{
    Probe p = {.bridge_fd = -1};
    int sp[2];
    WsParser cp;
    WsMessage m;
    unsigned code = 0;
    connect_probe(hub, sp, &p, NULL, 0);
    ws_parser_init(&cp, false, 1 << 20);
    ok(write(sp[0], b, n) == (ssize_t)n, "client sends %zu bytes", n);
    if (read_frame(sp[0], &cp, &m) == 1 && m.op == WS_OP_CLOSE)
        code = m.close_code;
    ok(read_frame(sp[0], &cp, &m) == 0 && wait_for(&p.closed, 1), "the connection ends");
    ws_parser_free(&cp);
    close(sp[0]);
    return code;
}

static void test_protocol_errors(MgmtHub *hub)
{
    is_u64(close_after(hub, (const uint8_t *)"\x81\x02hi", 4), WS_CLOSE_PROTOCOL,
           "an unmasked client frame: close 1002");
    uint8_t big[WS_HEADER_MAX];
    size_t h = ws_header_encode(big, WS_OP_BINARY, true, 5000, mask);
    is_u64(close_after(hub, big, h), WS_CLOSE_TOO_BIG, "a message over the cap: close 1009");
    size_t n;
    uint8_t *f = ws_frame_new(WS_OP_TEXT, "\xff", 1, mask, &n);
    is_u64(close_after(hub, f, n), WS_CLOSE_INVALID_DATA, "text that is not UTF-8: close 1007");
    free(f);
}

typedef struct Flood {
    HubConn *c;
    atomic_int refused;
} Flood;

static void test_slow_client(MgmtHub *hub)
{
    Probe slow = {.bridge_fd = -1}, fine = {.bridge_fd = -1};
    int s1[2], s2[2];
    connect_probe(hub, s1, &slow, NULL, 0);
    connect_probe(hub, s2, &fine, NULL, 0);
    char kib[1024];
    memset(kib, 'x', sizeof(kib));
    int sent = 0;
    while (sent < 4096 && hub_send(slow.conn, WS_OP_TEXT, kib, sizeof(kib)) == 0)
        sent++;
    ok(sent < 4096, "a client that never reads stops taking messages after %d KiB", sent);
    ok(wait_for(&slow.closed, 1), "... and is dropped");
    WsParser cp;
    WsMessage m;
    ws_parser_init(&cp, false, 1 << 20);
    ok(hub_send(fine.conn, WS_OP_TEXT, "still", 5) == 0 && read_frame(s2[0], &cp, &m) == 1 &&
           m.len == 5,
       "another client is still served");
    ws_parser_free(&cp);
    close(s1[0]);
    close(s2[0]);
    ok(wait_for(&fine.closed, 1), "a client that hangs up is closed");
}

static void test_ping_flood(MgmtHub *hub)
{
    Probe p = {.bridge_fd = -1};
    int sp[2];
    connect_probe(hub, sp, &p, NULL, 0);
    uint8_t payload[WS_CONTROL_MAX] = {0};
    size_t n;
    uint8_t *f = ws_frame_new(WS_OP_PING, payload, sizeof(payload), mask, &n);
    int sent = 0;
    for (; sent < 4000 && p.closed == 0; sent++)
        if (send(sp[0], f, n, MSG_NOSIGNAL | MSG_DONTWAIT) != (ssize_t)n)
            usleep(1000);
    free(f);
    ok(wait_for(&p.closed, 1),
       "a client that pings but never reads its pongs is dropped (%d pings)", sent);
    close(sp[0]);
}

/* A close frame the client never reads (its socket full) ends the connection after a grace. */
static void test_close_grace(void)
{
    MgmtHub *hub;
    Probe p = {.bridge_fd = -1};
    int sp[2];
    hub_new(&hub, NULL, NULL); /* a 1 MiB queue: more than the socket takes */
    connect_probe(hub, sp, &p, NULL, 0);
    static char chunk[16 << 10];
    for (int i = 0; i < 32; i++)
        hub_send(p.conn, WS_OP_BINARY, chunk, sizeof(chunk));
    hub_close(p.conn, WS_CLOSE_NORMAL, "bye");
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (int i = 0; i < 1000 && !p.closed; i++)
        usleep(10000);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    ok(p.closed == 1 && t1.tv_sec - t0.tv_sec >= 4,
       "a client that does not read its close frame is let go after the grace (%lds)",
       (long)(t1.tv_sec - t0.tv_sec));
    close(sp[0]);
    hub_free(hub);
}

static void *echo_server(void *opaque)
{
    int fd = *(int *)opaque;
    char buf[256];
    ssize_t n;
    while ((n = read(fd, buf, sizeof(buf))) > 0) {
        if (n == 4 && memcmp(buf, "quit", 4) == 0)
            break;
        if (write(fd, buf, (size_t)n) != n)
            break;
    }
    close(fd);
    return NULL;
}

static void test_bridge(MgmtHub *hub)
{
    int br[2], sp[2];
    pthread_t t;
    socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, br);
    pthread_create(&t, NULL, echo_server, &br[1]);
    Probe p = {.bridge_fd = br[0]};
    connect_probe(hub, sp, &p, NULL, 0);
    WsParser cp;
    WsMessage m;
    ws_parser_init(&cp, false, 1 << 20);
    send_frame(sp[0], WS_OP_BINARY, "console!", 8, mask);
    ok(read_frame(sp[0], &cp, &m) == 1 && m.op == WS_OP_BINARY && m.len == 8 &&
           memcmp(m.data, "console!", 8) == 0,
       "binary in goes to the bridged socket, its answer comes back binary");
    send_frame(sp[0], WS_OP_TEXT, "ctl", 3, mask);
    ok(wait_for(&p.messages, 1) && strcmp(p.last, "1:ctl") == 0, "text still goes to the op");
    send_frame(sp[0], WS_OP_BINARY, "quit", 4, mask);
    ok(read_frame(sp[0], &cp, &m) == 1 && m.op == WS_OP_CLOSE && m.close_code == 1000,
       "the bridged end closing closes the websocket (1000)");
    ok(read_frame(sp[0], &cp, &m) == 0 && wait_for(&p.closed, 1), "... and its socket");
    pthread_join(t, NULL);
    ws_parser_free(&cp);
    close(sp[0]);

    /* the client hanging up closes the bridged socket */
    socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, br);
    Probe q = {.bridge_fd = br[0]};
    connect_probe(hub, sp, &q, NULL, 0);
    close(sp[0]);
    struct pollfd pfd = {.fd = br[1], .events = POLLIN};
    char c;
    ok(poll(&pfd, 1, 3000) == 1 && read(br[1], &c, 1) == 0,
       "the client hanging up closes the bridged socket");
    close(br[1]);
    ok(wait_for(&q.closed, 1), "on_close ran");
}

static void test_stop(void)
{
    MgmtHub *hub;
    Probe p = {.bridge_fd = -1};
    int sp[2];
    hub_new(&hub, NULL, NULL);
    connect_probe(hub, sp, &p, NULL, 0);
    ok(hub_count(hub) == 1, "the hub holds one connection");
    hub_free(hub);
    ok(p.closed == 1, "stopping the hub closes it");
    WsParser cp;
    WsMessage m;
    ws_parser_init(&cp, false, 1 << 20);
    ok(read_frame(sp[0], &cp, &m) == 1 && m.op == WS_OP_CLOSE && m.close_code == 1001,
       "its client is told: 1001");
    ws_parser_free(&cp);
    close(sp[0]);
}

int main(void)
{
    MgmtHub *hub;
    HubOptions opt = {.queue_max = 16 << 10, .message_max = 4096};
    ok(hub_new(&hub, &opt, NULL) == 0, "a hub (queue 16 KiB, messages up to 4 KiB)");
    test_messages(hub);
    test_protocol_errors(hub);
    test_slow_client(hub);
    test_ping_flood(hub);
    test_bridge(hub);
    ok(hub_count(hub) == 0, "every connection is gone");
    hub_free(hub);
    test_stop();
    test_close_grace();
    return tap_done();
}
