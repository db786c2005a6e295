/*
 * Unit tests of the control socket server: a fake command table on an
 * event loop, driven by raw clients on the same thread (the loop is pumped
 * while a client waits for a line).  Deferred replies: a command that
 * answers later, with other requests answered meanwhile, one whose client
 * leaves first, and one still pending when the server goes.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "control/client.h"
#include "control/control.h"
#include "control/socket.h"
#include "tap.h"

typedef struct Fake {
    int calls;
    ControlServer *srv;       /* for the command that sends an event while it runs */
    ControlPending *later[4]; /* deferred requests, in the order received */
    int nlater;
} Fake;

static json_t *cmd_echo(void *opaque, json_t *args, Error *err)
{
    Fake *f = opaque;
    f->calls++;
    return json_deep_copy(args);
}

static json_t *cmd_fail(void *opaque, json_t *args, Error *err)
{
    error_set(err, "boom: %d", 42);
    return NULL;
}

static json_t *cmd_shout(void *opaque, json_t *args, Error *err)
{
    Fake *f = opaque;
    control_server_event(f->srv, "SHOUT", json_pack("{s:i}", "n", 1));
    return json_object();
}

static json_t *cmd_strict(void *opaque, json_t *args, Error *err)
{
    static const char *const allowed[] = {"a", NULL};
    if (control_args_check(args, allowed, err) < 0)
        return NULL;
    return json_object();
}

/* Answered later by the test (control_complete); returns something that must be dropped. */
static json_t *cmd_later(void *opaque, json_t *args, Error *err)
{
    Fake *f = opaque;
    if (f->nlater == 4)
        return error_set(err, "too many"), NULL;
    if (!(f->later[f->nlater] = control_defer(f->srv, err)))
        return NULL;
    f->nlater++;
    return json_pack("{s:s}", "too", "early");
}

/* Defers, then fails before returning (as a live snapshot whose pause fails does). */
static json_t *cmd_later_fail(void *opaque, json_t *args, Error *err)
{
    Fake *f = opaque;
    ControlPending *p = control_defer(f->srv, err);
    if (!p)
        return NULL;
    error_set(err, "failed at once");
    control_complete(p, NULL, err);
    return NULL;
}

/* Takes the request's descriptor and writes the argument "say" into it; a second take gets -1. */
static json_t *cmd_take(void *opaque, json_t *args, Error *err)
{
    Fake *f = opaque;
    int fd = control_take_fd(f->srv);
    int again = control_take_fd(f->srv);
    const char *say = json_string_value(json_object_get(args, "say"));
    if (fd >= 0 && say) {
        ssize_t n = write(fd, say, strlen(say));
        (void)n;
    }
    if (fd >= 0)
        close(fd);
    return json_pack("{s:b,s:b}", "fd", fd >= 0, "again", again >= 0);
}

static const ControlCommand fake_commands[] = {
    {"echo", cmd_echo, "return the arguments"},
    {"fail", cmd_fail, "always fails"},
    {"shout", cmd_shout, "send an event, then reply"},
    {"strict", cmd_strict, "takes only a"},
    {"later", cmd_later, "answered when the test says so"},
    {"later-fail", cmd_later_fail, "deferred, then failed inside the handler"},
    {"take", cmd_take, "takes the request's descriptor and writes \"say\" into it"},
};
#define NFAKE (sizeof(fake_commands) / sizeof(fake_commands[0]))

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static int client(const char *path)
{
    return control_socket_connect(path, NULL);
}

static EventLoop *loop;

/* Pump the loop until fd has a whole line; return it (static buffer) or NULL on EOF/timeout. */
static char *get_line(int fd)
{
    static char buf[CONTROL_LINE_MAX * 2];
    static char pending[1 << 16];
    static size_t pending_len;
    static int pending_fd = -1;
    if (pending_fd != fd)
        pending_len = 0;
    pending_fd = fd;
    double end = now() + 3.0;
    while (now() < end) {
        char *nl = memchr(pending, '\n', pending_len);
        if (nl) {
            size_t n = (size_t)(nl - pending);
            memcpy(buf, pending, n);
            buf[n] = '\0';
            memmove(pending, nl + 1, pending_len - n - 1);
            pending_len -= n + 1;
            return buf;
        }
        evloop_run_once(loop, 5000000);
        ssize_t r = recv(fd, pending + pending_len, sizeof(pending) - pending_len, MSG_DONTWAIT);
        if (r == 0)
            return NULL;
        if (r > 0)
            pending_len += (size_t)r;
    }
    return NULL;
}

/* Pump the loop until the client sees end of file; true if it did. */
static bool get_eof(int fd)
{
    double end = now() + 3.0;
    char c[4096];
    while (now() < end) {
        evloop_run_once(loop, 5000000);
        ssize_t r = recv(fd, c, sizeof(c), MSG_DONTWAIT);
        if (r == 0 || (r < 0 && errno == ECONNRESET))
            return true;
    }
    return false;
}

static json_t *get_json(int fd)
{
    char *line = get_line(fd);
    return line ? json_loads(line, 0, NULL) : NULL;
}

static void send_str(int fd, const char *s)
{
    size_t len = strlen(s);
    if (send(fd, s, len, MSG_NOSIGNAL) != (ssize_t)len)
        ok(0, "send %zu bytes", len);
}

/* Send req and return the reply line's JSON. */
static json_t *call(int fd, const char *req)
{
    send_str(fd, req);
    return get_json(fd);
}

static const char *err_desc(json_t *reply)
{
    return json_string_value(json_object_get(json_object_get(reply, "error"), "desc"));
}

static const char *err_class(json_t *reply)
{
    return json_string_value(json_object_get(json_object_get(reply, "error"), "class"));
}

static int connect_greeted(const char *path)
{
    int fd = client(path);
    json_t *g = fd >= 0 ? get_json(fd) : NULL;
    json_decref(g);
    return g ? fd : -1;
}

static void wait_clients(ControlServer *s, size_t n)
{
    double end = now() + 3.0;
    while (control_server_clients(s) != n && now() < end)
        evloop_run_once(loop, 5000000);
}

static void test_paths(void)
{
    char buf[256];
    Error err = {0};
    setenv("XDG_RUNTIME_DIR", "/run/user/1000", 1);
    ok(control_socket_path("vm1", buf, sizeof(buf), &err) == 0 &&
           strcmp(buf, "/run/user/1000/hostel/vm1.sock") == 0,
       "XDG_RUNTIME_DIR path: %s", buf);
    unsetenv("XDG_RUNTIME_DIR");
    ok(control_socket_path("vm1", buf, sizeof(buf), &err) == 0 &&
           strcmp(buf, "/run/hostel/vm1.sock") == 0,
       "/run/hostel without XDG_RUNTIME_DIR: %s", buf);
    char longdir[200];
    memset(longdir, 'd', sizeof(longdir) - 1);
    longdir[0] = '/';
    longdir[sizeof(longdir) - 1] = '\0';
    setenv("XDG_RUNTIME_DIR", longdir, 1);
    ok(control_socket_path("vm1", buf, sizeof(buf), &err) < 0 && strstr(err.msg, "too long"),
       "a path beyond sun_path is refused: %s", err.msg);
    unsetenv("XDG_RUNTIME_DIR");
}

static void test_greeting_and_requests(const char *path)
{
    int fd = client(path);
    json_t *g = get_json(fd);
    json_t *h = json_object_get(g, "hostel");
    ok(h && strcmp(json_string_value(json_object_get(h, "version")), "9.9.9") == 0 &&
           json_integer_value(json_object_get(h, "protocol")) == 1,
       "greeting: version, protocol 1");
    json_decref(g);

    json_t *r = call(fd, "{\"execute\": \"echo\", \"arguments\": {\"x\": 1}, \"id\": \"abc\"}\n");
    ok(r && json_integer_value(json_object_get(json_object_get(r, "return"), "x")) == 1 &&
           strcmp(json_string_value(json_object_get(r, "id")), "abc") == 0,
       "reply carries the return value and the id");
    json_decref(r);

    r = call(fd, "{\"execute\": \"echo\"}\r\n");
    ok(r && json_object_size(json_object_get(r, "return")) == 0 && !json_object_get(r, "id"),
       "no arguments: an empty object; no id: none in the reply; CRLF accepted");
    json_decref(r);

    r = call(fd, "{\"execute\": \"fail\", \"id\": [1, 2]}\n");
    ok(r && strcmp(err_class(r), "GenericError") == 0 && strcmp(err_desc(r), "boom: 42") == 0 &&
           json_array_size(json_object_get(r, "id")) == 2,
       "handler error: desc and any id");
    json_decref(r);

    r = call(fd, "{\"execute\": \"nope\", \"id\": 5}\n");
    ok(r && strcmp(err_class(r), "CommandNotFound") == 0 &&
           json_integer_value(json_object_get(r, "id")) == 5,
       "unknown command: CommandNotFound");
    json_decref(r);

    r = call(fd, "{\"execute\": \"strict\", \"arguments\": {\"b\": 1}}\n");
    ok(r && err_desc(r) && strstr(err_desc(r), "\"b\""), "unexpected argument named: %s",
       r ? err_desc(r) : "");
    json_decref(r);

    r = call(fd, "{\"execute\": \"query-commands\"}\n");
    json_t *cmds = json_object_get(json_object_get(r, "return"), "commands");
    ok(json_array_size(cmds) == 1 + NFAKE &&
           strcmp(json_string_value(json_object_get(json_array_get(cmds, 1), "name")), "echo") == 0,
       "query-commands: the built-in and the table");
    json_decref(r);
    close(fd);
}

static void test_malformed(const char *path, Fake *f)
{
    static const char *const bad[][2] = {
        {"{\"execute\": \"echo\"\n", "malformed JSON"},
        {"[1, 2]\n", "a request is a JSON object"},
        {"{\"arguments\": {}}\n", "needs \"execute\""},
        {"{\"execute\": 7}\n", "needs \"execute\""},
        {"{\"execute\": \"echo\", \"arguments\": 3}\n", "must be an object"},
        {"{\"execute\": \"echo\", \"extra\": 1}\n", "unknown member \"extra\""},
        {"{\"execute\": \"echo\", \"execute\": \"fail\"}\n", "malformed JSON"},
        {"\xff\xfe\n", "malformed JSON"},
    };
    int fd = connect_greeted(path);
    int calls = f->calls;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        json_t *r = call(fd, bad[i][0]);
        ok(r && err_desc(r) && strstr(err_desc(r), bad[i][1]), "malformed request %zu: %s", i,
           r && err_desc(r) ? err_desc(r) : "(no reply)");
        json_decref(r);
    }
    ok(f->calls == calls, "no malformed request reached a handler");
    send_str(fd, "\n  \n");
    json_t *r = call(fd, "{\"execute\": \"echo\", \"id\": 1}\n");
    ok(r && json_object_get(r, "return"), "the connection still works after them");
    json_decref(r);

    /* Two requests in one write: two replies, in order. */
    send_str(fd, "{\"execute\": \"echo\", \"id\": 1}\n{\"execute\": \"echo\", \"id\": 2}\n");
    json_t *a = get_json(fd), *b = get_json(fd);
    ok(json_integer_value(json_object_get(a, "id")) == 1 &&
           json_integer_value(json_object_get(b, "id")) == 2,
       "pipelined requests answered in order");
    json_decref(a);
    json_decref(b);
    close(fd);
}

static void test_long_lines(const char *path, ControlServer *s)
{
    /* The longest line that fits is served. */
    static char req[CONTROL_LINE_MAX + 16];
    const char *head = "{\"execute\": \"echo\", \"arguments\": {\"s\": \"";
    size_t fill = CONTROL_LINE_MAX - strlen(head) - strlen("\"}}\n");
    strcpy(req, head);
    memset(req + strlen(head), 'a', fill);
    strcpy(req + strlen(head) + fill, "\"}}\n");
    ok(strlen(req) == CONTROL_LINE_MAX, "a request of exactly %d bytes", CONTROL_LINE_MAX);
    int fd = connect_greeted(path);
    json_t *r = call(fd, req);
    ok(r && strlen(json_string_value(json_object_get(json_object_get(r, "return"), "s"))) == fill,
       "is answered");
    json_decref(r);

    /* One byte more: an error, then the server hangs up; others carry on. */
    int other = connect_greeted(path);
    req[CONTROL_LINE_MAX - 1] = ' ';
    req[CONTROL_LINE_MAX] = '\n';
    req[CONTROL_LINE_MAX + 1] = '\0';
    send_str(fd, req);
    r = get_json(fd);
    ok(r && err_desc(r) && strstr(err_desc(r), "longer than 65536"), "oversized line: %s",
       r && err_desc(r) ? err_desc(r) : "(no reply)");
    json_decref(r);
    ok(get_eof(fd), "and the connection is closed");
    close(fd);
    wait_clients(s, 1);
    ok(control_server_clients(s) == 1, "the oversized client is gone");
    r = call(other, "{\"execute\": \"echo\", \"id\": 9}\n");
    ok(r && json_object_get(r, "return"), "another client is still served");
    json_decref(r);
    close(other);
    wait_clients(s, 0);
}

static void test_clients(const char *path, ControlServer *s)
{
    int fds[3];
    for (int i = 0; i < 3; i++)
        fds[i] = connect_greeted(path);
    ok(control_server_clients(s) == 3, "three clients connected");
    /* Interleave halves of lines between clients. */
    for (int i = 0; i < 3; i++)
        send_str(fds[i], "{\"execute\": \"echo\", ");
    evloop_run_once(loop, 1000000);
    char req[64];
    for (int i = 2; i >= 0; i--) {
        snprintf(req, sizeof(req), "\"id\": %d}\n", i);
        send_str(fds[i], req);
    }
    int good = 0;
    for (int i = 0; i < 3; i++) {
        json_t *r = get_json(fds[i]);
        good += r && json_integer_value(json_object_get(r, "id")) == i;
        json_decref(r);
    }
    ok(good == 3, "each client gets its own reply");

    control_server_event(s, "STOP", json_pack("{s:b}", "test", 1));
    good = 0;
    for (int i = 0; i < 3; i++) {
        json_t *e = get_json(fds[i]);
        good += e && strcmp(json_string_value(json_object_get(e, "event")), "STOP") == 0 &&
                json_is_true(json_object_get(json_object_get(e, "data"), "test"));
        json_decref(e);
    }
    ok(good == 3, "an event reaches every client");

    /* A handler that sends an event: the caller gets the event, then the reply. */
    send_str(fds[0], "{\"execute\": \"shout\", \"id\": 1}\n");
    json_t *e = get_json(fds[0]), *r = get_json(fds[0]);
    ok(e && json_object_get(e, "event") && r && json_object_get(r, "return"),
       "event sent from inside a handler, then the reply");
    json_decref(e);
    json_decref(r);
    json_decref(get_json(fds[1]));
    json_decref(get_json(fds[2]));

    /* Disconnect in the middle of a line. */
    send_str(fds[1], "{\"execute\": \"ec");
    evloop_run_once(loop, 1000000);
    close(fds[1]);
    wait_clients(s, 2);
    ok(control_server_clients(s) == 2, "a client gone mid-line is dropped");
    r = call(fds[2], "{\"execute\": \"echo\", \"id\": 3}\n");
    ok(r && json_integer_value(json_object_get(r, "id")) == 3, "the others go on");
    json_decref(r);
    close(fds[0]);
    close(fds[2]);
    wait_clients(s, 0);
}

/* Wait a little: true if fd received nothing (no reply is sent early). */
static bool quiet(int fd)
{
    for (int i = 0; i < 5; i++)
        evloop_run_once(loop, 5000000);
    char c;
    return recv(fd, &c, 1, MSG_DONTWAIT | MSG_PEEK) < 0 && errno == EAGAIN;
}

static void test_deferred(const char *path, ControlServer *s, Fake *f)
{
    Error err = {0};
    ok(!control_defer(s, &err) && err.msg[0], "control_defer outside a handler: %s", err.msg);
    int fd = connect_greeted(path);
    /* Deferred, with a request behind it: that one is answered first. */
    send_str(fd, "{\"execute\": \"later\", \"id\": 1}\n{\"execute\": \"echo\", \"id\": 2}\n");
    json_t *r = get_json(fd);
    ok(f->nlater == 1 && r && json_integer_value(json_object_get(r, "id")) == 2,
       "a deferred request does not hold back the next one");
    json_decref(r);
    ok(quiet(fd), "no reply to the deferred request yet (not even its handler's value)");
    control_complete(f->later[0], json_pack("{s:b}", "done", 1), NULL);
    r = get_json(fd);
    ok(r && json_integer_value(json_object_get(r, "id")) == 1 &&
           json_is_true(json_object_get(json_object_get(r, "return"), "done")),
       "control_complete sends the return value with the request's id");
    json_decref(r);
    ok(quiet(fd), "and only once");

    /* Completed with an error. */
    json_decref(call(fd, "{\"execute\": \"echo\"}\n"));
    send_str(fd, "{\"execute\": \"later\", \"id\": \"x\"}\n");
    ok(quiet(fd) && f->nlater == 2, "a second deferred request");
    err = (Error){0};
    error_set(&err, "it broke");
    control_complete(f->later[1], NULL, &err);
    r = get_json(fd);
    ok(r && err_desc(r) && strcmp(err_desc(r), "it broke") == 0 &&
           strcmp(json_string_value(json_object_get(r, "id")), "x") == 0,
       "an error completes it, with its id");
    json_decref(r);

    r = call(fd, "{\"execute\": \"later-fail\", \"id\": 3}\n");
    ok(r && err_desc(r) && strcmp(err_desc(r), "failed at once") == 0 &&
           json_integer_value(json_object_get(r, "id")) == 3,
       "completed inside its handler");
    json_decref(r);
    ok(quiet(fd), "answered once");

    /* The client leaves before the answer: it is dropped. */
    send_str(fd, "{\"execute\": \"later\", \"id\": 4}\n");
    ok(quiet(fd) && f->nlater == 3, "a third deferred request");
    close(fd);
    wait_clients(s, 0);
    control_complete(f->later[2], json_object(), NULL);
    ok(control_server_clients(s) == 0, "its client left first: the answer goes nowhere");

    /* One left pending: control_server_free drops it (ASan: no leak). */
    fd = connect_greeted(path);
    send_str(fd, "{\"execute\": \"later\", \"id\": 5}\n");
    ok(quiet(fd) && f->nlater == 4, "a fourth, never completed");
    close(fd);
}

static void test_limits(const char *path, ControlServer *s)
{
    int fds[CONTROL_MAX_CLIENTS];
    for (int i = 0; i < CONTROL_MAX_CLIENTS; i++)
        fds[i] = connect_greeted(path);
    ok(control_server_clients(s) == CONTROL_MAX_CLIENTS, "%d clients", CONTROL_MAX_CLIENTS);
    int extra = client(path);
    json_t *r = get_json(extra);
    ok(r && err_desc(r) && strstr(err_desc(r), "too many"), "one more is refused in one line");
    json_decref(r);
    ok(get_eof(extra), "and hung up on");
    close(extra);
    for (int i = 0; i < CONTROL_MAX_CLIENTS; i++)
        close(fds[i]);
    wait_clients(s, 0);

    /* A client that never reads its events is dropped, not buffered for ever. */
    int deaf = connect_greeted(path);
    for (int i = 0; i < 40000 && control_server_clients(s); i++)
        control_server_event(s, "NOISE",
                             json_pack("{s:s}", "pad",
                                       "0123456789012345678901234"
                                       "5678901234567890123456789"));
    ok(control_server_clients(s) == 0, "a client that does not read is dropped");
    close(deaf);
}

/* ---- descriptors passed with requests ---- */

/* Send s with the descriptors fds[0..n) attached (SCM_RIGHTS) in one message. */
static void send_fds(int fd, const char *s, const int *fds, size_t n)
{
    union {
        struct cmsghdr align;
        char buf[CMSG_SPACE(4 * sizeof(int))];
    } ctl;
    memset(&ctl, 0, sizeof(ctl));
    struct iovec iov = {.iov_base = (void *)s, .iov_len = strlen(s)};
    struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1};
    if (n) {
        msg.msg_control = ctl.buf;
        msg.msg_controllen = CMSG_SPACE(n * sizeof(int));
        struct cmsghdr *cm = CMSG_FIRSTHDR(&msg);
        cm->cmsg_level = SOL_SOCKET;
        cm->cmsg_type = SCM_RIGHTS;
        cm->cmsg_len = CMSG_LEN(n * sizeof(int));
        memcpy(CMSG_DATA(cm), fds, n * sizeof(int));
    }
    if (sendmsg(fd, &msg, MSG_NOSIGNAL) != (ssize_t)strlen(s))
        ok(0, "sendmsg %zu bytes with %zu fds", strlen(s), n);
}

/* A pipe whose write end is sent: p[0] is read by the test, p[1] closed after sending. */
typedef struct Pipe {
    int r, w;
} Pipe;

static Pipe pipe_new(void)
{
    int p[2] = {-1, -1};
    if (pipe2(p, O_NONBLOCK | O_CLOEXEC) < 0)
        ok(0, "pipe2");
    return (Pipe){p[0], p[1]};
}

/*
 * Pump the loop until the pipe's reader sees end of file (every write end
 * closed: ours was, so the server closed its copy too).  Returns the bytes
 * read before it (NUL-terminated; one of four static buffers, used in
 * turn), or NULL if no end of file came.
 */
static const char *pipe_drain(Pipe *p)
{
    static char bufs[4][256];
    static unsigned turn;
    char *buf = bufs[turn++ % 4];
    size_t len = 0;
    double end = now() + 3.0;
    while (now() < end) {
        evloop_run_once(loop, 5000000);
        ssize_t n = read(p->r, buf + len, sizeof(buf) - 1 - len);
        if (n == 0) {
            buf[len] = '\0';
            close(p->r);
            return buf;
        }
        if (n > 0)
            len += (size_t)n;
    }
    close(p->r);
    return NULL;
}

static json_t *return_of(json_t *r)
{
    return json_object_get(r, "return");
}

static void test_fds(const char *path, Fake *f)
{
    int c = connect_greeted(path);

    /* A descriptor for a handler that takes it. */
    Pipe a = pipe_new();
    send_fds(c, "{\"execute\": \"take\", \"arguments\": {\"say\": \"hi\"}, \"id\": 1}\n", &a.w, 1);
    close(a.w);
    json_t *r = get_json(c);
    ok(json_is_true(json_object_get(return_of(r), "fd")) &&
           json_is_false(json_object_get(return_of(r), "again")),
       "the handler takes the descriptor, once");
    json_decref(r);
    const char *got = pipe_drain(&a);
    ok(got && strcmp(got, "hi") == 0, "and it is the one sent (the handler wrote \"%s\")",
       got ? got : "(no EOF)");

    /* No descriptor: the handler gets -1. */
    r = call(c, "{\"execute\": \"take\", \"id\": 2}\n");
    ok(json_is_false(json_object_get(return_of(r), "fd")), "a request without one: -1");
    json_decref(r);

    /* A handler that does not take it: the server closes it after the reply. */
    Pipe b = pipe_new();
    send_fds(c, "{\"execute\": \"echo\", \"id\": 3}\n", &b.w, 1);
    close(b.w);
    json_decref(get_json(c));
    got = pipe_drain(&b);
    ok(got && !*got, "a descriptor no handler took is closed");

    /* Malformed, unknown command, blank line: closed too, no handler runs. */
    static const char *const refused[] = {"{\"execute\": \n", "{\"execute\": \"nope\"}\n",
                                          "{\"execute\": \"take\", \"x\": 1}\n"};
    for (size_t i = 0; i < sizeof(refused) / sizeof(*refused); i++) {
        Pipe p = pipe_new();
        send_fds(c, refused[i], &p.w, 1);
        close(p.w);
        r = get_json(c);
        got = pipe_drain(&p);
        ok(r && json_object_get(r, "error") && got && !*got,
           "refused request %zu: error reply, descriptor closed", i);
        json_decref(r);
    }
    Pipe blank = pipe_new();
    send_fds(c, "  \n", &blank.w, 1);
    close(blank.w);
    got = pipe_drain(&blank);
    ok(got && !*got, "with a blank line: closed");
    r = call(c, "{\"execute\": \"take\", \"id\": 4}\n");
    ok(json_is_false(json_object_get(return_of(r), "fd")), "and not given to the next request");
    json_decref(r);

    /* Several in one message: the first is kept, the others closed. */
    Pipe m[3] = {pipe_new(), pipe_new(), pipe_new()};
    int ws[3] = {m[0].w, m[1].w, m[2].w};
    send_fds(c, "{\"execute\": \"take\", \"arguments\": {\"say\": \"one\"}}\n", ws, 3);
    for (int i = 0; i < 3; i++)
        close(m[i].w);
    json_decref(get_json(c));
    const char *g0 = pipe_drain(&m[0]), *g1 = pipe_drain(&m[1]), *g2 = pipe_drain(&m[2]);
    ok(g0 && strcmp(g0, "one") == 0 && g1 && !*g1 && g2 && !*g2,
       "three with one request: the first is the handler's, the rest are closed");

    /* Sent with the first part of a request: it belongs to that request. */
    Pipe h = pipe_new();
    send_fds(c, "{\"execute\": \"take\", ", &h.w, 1);
    close(h.w);
    evloop_run_once(loop, 1000000);
    ok(quiet(c), "half a request: no reply yet");
    r = call(c, "\"arguments\": {\"say\": \"half\"}, \"id\": 5}\n");
    ok(json_is_true(json_object_get(return_of(r), "fd")), "the rest of it: the handler has it");
    json_decref(r);
    got = pipe_drain(&h);
    ok(got && strcmp(got, "half") == 0, "the descriptor sent with its first part");

    /* Sent with the end of one request and the start of the next: the next one's. */
    send_str(c, "{\"execute\": \"take\", \"id\": 6");
    evloop_run_once(loop, 1000000);
    Pipe n2 = pipe_new();
    send_fds(c, "}\n{\"execute\": \"take\", \"arguments\": {\"say\": \"2nd\"}, ", &n2.w, 1);
    close(n2.w);
    r = get_json(c);
    ok(json_integer_value(json_object_get(r, "id")) == 6 &&
           json_is_false(json_object_get(return_of(r), "fd")),
       "a request ended by a message with a descriptor: not its");
    json_decref(r);
    r = call(c, "\"id\": 7}\n");
    ok(json_is_true(json_object_get(return_of(r), "fd")), "the request it started: its");
    json_decref(r);
    got = pipe_drain(&n2);
    ok(got && strcmp(got, "2nd") == 0, "the descriptor written by the second handler");

    /* Two descriptors for one line (two messages): the second is closed. */
    Pipe d1 = pipe_new(), d2 = pipe_new();
    send_fds(c, "{\"execute\": \"take\", ", &d1.w, 1);
    evloop_run_once(loop, 1000000);
    send_fds(c, "\"arguments\": {\"say\": \"d\"}, ", &d2.w, 1);
    close(d1.w);
    close(d2.w);
    r = call(c, "\"id\": 8}\n");
    ok(json_is_true(json_object_get(return_of(r), "fd")), "two messages with one each");
    json_decref(r);
    g0 = pipe_drain(&d1);
    g1 = pipe_drain(&d2);
    ok(g0 && strcmp(g0, "d") == 0 && g1 && !*g1, "the first is the handler's, the second closed");

    /* A client gone in the middle of a request: its descriptor is closed. */
    int f2 = connect_greeted(path);
    Pipe gone = pipe_new();
    send_fds(f2, "{\"execute\": \"take\"", &gone.w, 1);
    close(gone.w);
    evloop_run_once(loop, 1000000);
    close(f2);
    got = pipe_drain(&gone);
    ok(got && !*got, "a client gone mid-request: its descriptor is closed");
    ok(control_take_fd(f->srv) == -1, "control_take_fd outside a handler: -1");
    close(c);
}

static void test_socket_file(const char *dir, const char *path, Fake *f)
{
    struct stat st;
    ok(stat(path, &st) == 0 && S_ISSOCK(st.st_mode) && (st.st_mode & 0777) == 0600,
       "socket mode 0600 (%o)", st.st_mode & 0777);
    ControlConfig cfg = {.path = path,
                         .vm_name = "vm1",
                         .version = "1",
                         .commands = fake_commands,
                         .ncommands = NFAKE,
                         .opaque = f};
    Error err = {0};
    ControlServer *second = control_server_new(loop, &cfg, &err);
    ok(!second && strstr(err.msg, "a VM named vm1 is already running"),
       "a live socket is not taken: %s", err.msg);
    control_server_free(second);

    /* A stale socket: bound, then its owner died without removing it. */
    char stale[200];
    snprintf(stale, sizeof(stale), "%s/stale.sock", dir);
    struct sockaddr_un a = {.sun_family = AF_UNIX};
    strcpy(a.sun_path, stale);
    int s = socket(AF_UNIX, SOCK_STREAM, 0);
    ok(bind(s, (struct sockaddr *)&a, sizeof(a)) == 0, "stale socket file made");
    close(s);
    cfg.path = stale;
    ControlServer *srv = control_server_new(loop, &cfg, &err);
    ok(srv != NULL, "a stale socket is replaced");
    int fd = connect_greeted(stale);
    ok(fd >= 0, "and served");
    close(fd);
    control_server_free(srv);
    ok(access(stale, F_OK) != 0, "the socket is removed when the server goes");

    /* A file that is not a socket is never replaced. */
    char plain[200];
    snprintf(plain, sizeof(plain), "%s/plain", dir);
    FILE *p = fopen(plain, "w");
    fputs("data", p);
    fclose(p);
    cfg.path = plain;
    err = (Error){0};
    srv = control_server_new(loop, &cfg, &err);
    ok(!srv && strstr(err.msg, "not a socket") && stat(plain, &st) == 0 && st.st_size == 4,
       "a regular file at the path is an error and stays: %s", err.msg);
    unlink(plain);
}

static volatile bool loop_stop;

static void *loop_thread(void *opaque)
{
    while (!loop_stop)
        evloop_run_once(loop, 10000000);
    return NULL;
}

/* The client library against the server running on its own thread. */
static void test_client(const char *dir, const char *path)
{
    pthread_t t;
    loop_stop = false;
    pthread_create(&t, NULL, loop_thread, NULL);
    ControlConn c;
    Error err = {0};
    ok(control_conn_open(&c, path, 3000, &err) == 0, "client: greeting accepted");
    json_t *args = json_pack("{s:i}", "v", 7);
    json_t *r = control_conn_call(&c, "echo", args, &err);
    ok(r && json_integer_value(json_object_get(json_object_get(r, "return"), "v")) == 7,
       "client: call returns the reply");
    json_decref(r);
    json_decref(args);
    r = control_conn_call(&c, "shout", NULL, &err);
    ok(r && json_object_get(r, "return"), "client: events before the reply are skipped");
    json_decref(r);
    r = control_conn_call(&c, "fail", NULL, &err);
    ok(r && err_desc(r) && strcmp(err_desc(r), "boom: 42") == 0, "client: error replies too");
    json_decref(r);
    int p[2];
    ok(pipe(p) == 0, "a pipe for the client to pass");
    args = json_pack("{s:s}", "say", "via client");
    r = control_conn_call_fd(&c, "take", args, p[1], &err);
    json_decref(args);
    close(p[1]);
    char buf[32] = "";
    ssize_t n = read(p[0], buf, sizeof(buf) - 1);
    ok(r && json_is_true(json_object_get(return_of(r), "fd")) && n == 10 &&
           strcmp(buf, "via client") == 0,
       "client: control_conn_call_fd passes the descriptor (\"%s\")", buf);
    ok(read(p[0], buf, 1) == 0, "client: the server's copy is closed after the handler");
    close(p[0]);
    json_decref(r);
    r = control_conn_call_fd(&c, "take", NULL, -1, &err);
    ok(r && json_is_false(json_object_get(return_of(r), "fd")), "client: fd -1 sends none");
    json_decref(r);
    control_conn_close(&c);
    loop_stop = true;
    pthread_join(t, NULL);

    char missing[200];
    snprintf(missing, sizeof(missing), "%s/none.sock", dir);
    ok(control_conn_open(&c, missing, 1000, &err) < 0 && strstr(err.msg, "no VM is listening on"),
       "client: missing path: %s", err.msg);
    setenv("XDG_RUNTIME_DIR", dir, 1);
    ok(control_conn_open(&c, "ghost", 1000, &err) < 0 &&
           strcmp(err.msg, "no VM named ghost is running") == 0,
       "client: missing name: %s", err.msg);
    unsetenv("XDG_RUNTIME_DIR");

    /* Something listens but never speaks: the client gives up after its timeout. */
    char mute[200];
    snprintf(mute, sizeof(mute), "%s/mute.sock", dir);
    struct sockaddr_un a = {.sun_family = AF_UNIX};
    strcpy(a.sun_path, mute);
    int s = socket(AF_UNIX, SOCK_STREAM, 0);
    ok(bind(s, (struct sockaddr *)&a, sizeof(a)) == 0 && listen(s, 1) == 0, "a mute server");
    double t0 = now();
    ok(control_conn_open(&c, mute, 300, &err) < 0 && strstr(err.msg, "no answer"),
       "client: times out: %s", err.msg);
    ok(now() - t0 < 2.0, "promptly");
    close(s);
    unlink(mute);
}

int main(void)
{
    Error err = {0};
    test_paths();
    loop = evloop_new(&err);
    char dir[] = "/tmp/test_control.XXXXXX";
    ok(loop && mkdtemp(dir), "loop and temp dir");
    char path[200];
    snprintf(path, sizeof(path), "%s/vm.sock", dir);
    Fake f = {0};
    ControlConfig cfg = {.path = path,
                         .vm_name = "vm1",
                         .version = "9.9.9",
                         .commands = fake_commands,
                         .ncommands = NFAKE,
                         .opaque = &f};
    ControlServer *s = control_server_new(loop, &cfg, &err);
    f.srv = s;
    ok(s != NULL, "server listens: %s", err.msg);
    if (!s)
        return tap_done();
    test_greeting_and_requests(path);
    test_malformed(path, &f);
    test_long_lines(path, s);
    test_clients(path, s);
    test_limits(path, s);
    test_client(dir, path);
    test_socket_file(dir, path, &f);
    test_deferred(path, s, &f);
    test_fds(path, &f);
    control_server_free(s);
    ok(access(path, F_OK) != 0, "socket removed at exit");
    rmdir(dir);
    evloop_free(loop);
    return tap_done();
}
