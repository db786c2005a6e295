/*
 * The control socket server: accepts connections on the VM's event loop,
 * splits each one's input into lines, parses each line as one request,
 * dispatches it through the VMM's command table and queues the reply.
 *
 * Everything runs on the VM thread.  Sockets are non-blocking: input waits
 * in a fixed per-client buffer (a line longer than it is refused), output
 * in a per-client queue flushed when the socket is writable (a client that
 * lets CONTROL_OUT_MAX bytes pile up is dropped).  A client that fails
 * while a handler runs is only marked dead and freed once the handler
 * returns, since that handler may still be working on its behalf.
 * Deferred requests (control_defer) are kept on a list; a client that goes
 * away before its reply is ready is unlinked from them, and the reply is
 * dropped.
 */
#include "control/control.h"

#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "control/socket.h"
#include "util/fdpass.h"

#define CONTROL_CLIENT_FDS 16 /* descriptors waiting for their request line, per client */
#define CONTROL_RECV_FDS 8    /* descriptors one read takes (the kernel closes any beyond) */

/* A descriptor that came with the bytes of request line number line. */
typedef struct ControlFd {
    uint64_t line;
    int fd;
} ControlFd;

typedef struct ControlClient {
    ControlServer *srv;
    int fd;
    char in[CONTROL_LINE_MAX]; /* received, not yet a complete line */
    size_t in_len;
    uint64_t line_no;                  /* lines taken from in so far */
    ControlFd fds[CONTROL_CLIENT_FDS]; /* received, waiting for their line */
    unsigned nfds;
    char *out; /* queued output */
    size_t out_len, out_cap;
    bool closing; /* close once out is sent (an oversized line) */
    bool dead;    /* to be freed: the peer is gone or misbehaved */
} ControlClient;

struct ControlPending {
    ControlServer *srv;
    ControlClient *client; /* NULL once the client has gone */
    json_t *id;            /* the request's "id" (a reference), or NULL */
    ControlPending *next;
};

struct ControlServer {
    EventLoop *loop;
    ControlConfig cfg;
    char *path;
    int listen_fd;
    ControlSocketId id;
    ControlClient *clients[CONTROL_MAX_CLIENTS];
    unsigned busy;           /* > 0 while a client's input is being handled */
    ControlPending *pending; /* deferred requests not answered yet */
    /* The request whose handler runs now (control_defer's target). */
    ControlClient *cur_client;
    json_t *cur_id;
    bool cur_deferred;
    int cur_fd; /* the descriptor that came with the request being handled, or -1 */
};

/* ---- output ---- */

/* Send what the socket takes now; watch for writability if some is left. */
static void client_flush(ControlClient *c)
{
    size_t done = 0;
    while (done < c->out_len) {
        ssize_t n = send(c->fd, c->out + done, c->out_len - done, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            break;
        if (n <= 0) {
            c->dead = true;
            c->out_len = 0;
            return;
        }
        done += (size_t)n;
    }
    memmove(c->out, c->out + done, c->out_len - done);
    c->out_len -= done;
    uint32_t ev = c->closing ? 0 : EPOLLIN;
    evloop_mod_fd(c->srv->loop, c->fd, c->out_len ? ev | EPOLLOUT : ev);
    if (c->closing && !c->out_len)
        c->dead = true;
}

/* Queue one line (a newline is appended) and try to send it. */
static void client_send(ControlClient *c, const char *line)
{
    size_t len = strlen(line);
    if (c->dead)
        return;
    if (c->out_len + len + 1 > CONTROL_OUT_MAX) {
        c->dead = true; /* it does not read what we send: give up on it */
        return;
    }
    if (c->out_len + len + 1 > c->out_cap) {
        size_t cap = c->out_cap ? c->out_cap : 4096;
        while (cap < c->out_len + len + 1)
            cap *= 2;
        char *p = realloc(c->out, cap);
        if (!p) {
            c->dead = true;
            return;
        }
        c->out = p;
        c->out_cap = cap;
    }
    memcpy(c->out + c->out_len, line, len);
    c->out[c->out_len + len] = '\n';
    c->out_len += len + 1;
    client_flush(c);
}

/* Queue msg as one compact line. Takes the reference to msg. */
static void client_send_json(ControlClient *c, json_t *msg)
{
    char *text = msg ? json_dumps(msg, JSON_COMPACT | JSON_REAL_PRECISION(10)) : NULL;
    if (text)
        client_send(c, text);
    else
        c->dead = true; /* out of memory */
    free(text);
    json_decref(msg);
}

/* Reply {"error": {"class": cls, "desc": ...}, "id": id}; id may be NULL. */
static void client_error(ControlClient *c, const json_t *id, const char *cls, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void client_error(ControlClient *c, const json_t *id, const char *cls, const char *fmt, ...)
{
    char desc[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(desc, sizeof(desc), fmt, ap);
    va_end(ap);
    json_t *msg = json_pack("{s:{s:s,s:s}}", "error", "class", cls, "desc", desc);
    if (msg && id)
        json_object_set(msg, "id", (json_t *)id);
    client_send_json(c, msg);
}

/* ---- client lifetime ---- */

static void client_free(ControlClient *c)
{
    ControlServer *s = c->srv;
    for (ControlPending *p = s->pending; p; p = p->next)
        if (p->client == c)
            p->client = NULL;
    for (unsigned i = 0; i < CONTROL_MAX_CLIENTS; i++)
        if (s->clients[i] == c)
            s->clients[i] = NULL;
    evloop_del_fd(s->loop, c->fd);
    close(c->fd);
    for (unsigned i = 0; i < c->nfds; i++)
        close(c->fds[i].fd);
    free(c->out);
    free(c);
}

/* Free the clients marked dead, unless a handler is still running. */
static void server_reap(ControlServer *s)
{
    if (s->busy)
        return;
    for (unsigned i = 0; i < CONTROL_MAX_CLIENTS; i++)
        if (s->clients[i] && s->clients[i]->dead)
            client_free(s->clients[i]);
}

/* ---- requests ---- */

static json_t *builtin_query_commands(void *opaque, json_t *args, Error *err);

static const ControlCommand control_builtins[] = {
    {"query-commands", builtin_query_commands, "list the commands with a line of help each"},
};

static json_t *command_entry(const ControlCommand *cmd)
{
    return json_pack("{s:s,s:s}", "name", cmd->name, "help", cmd->help ? cmd->help : "");
}

static json_t *builtin_query_commands(void *opaque, json_t *args, Error *err)
{
    ControlServer *s = opaque;
    if (control_args_check(args, NULL, err) < 0)
        return NULL;
    json_t *list = json_array();
    for (size_t i = 0; list && i < sizeof(control_builtins) / sizeof(*control_builtins); i++)
        json_array_append_new(list, command_entry(&control_builtins[i]));
    for (size_t i = 0; list && i < s->cfg.ncommands; i++)
        json_array_append_new(list, command_entry(&s->cfg.commands[i]));
    return json_pack("{s:o*}", "commands", list);
}

/* The command called name, with the opaque pointer its handler takes; NULL if none. */
static const ControlCommand *find_command(ControlServer *s, const char *name, void **opaque)
{
    for (size_t i = 0; i < sizeof(control_builtins) / sizeof(*control_builtins); i++) {
        if (strcmp(control_builtins[i].name, name) == 0) {
            *opaque = s;
            return &control_builtins[i];
        }
    }
    for (size_t i = 0; i < s->cfg.ncommands; i++) {
        if (strcmp(s->cfg.commands[i].name, name) == 0) {
            *opaque = s->cfg.opaque;
            return &s->cfg.commands[i];
        }
    }
    return NULL;
}

/* Check a parsed request's shape. Returns 0, or -1 having replied with the error. */
static int request_check(ControlClient *c, json_t *req, const json_t *id)
{
    const char *key;
    json_t *value;
    json_object_foreach(req, key, value)
    {
        if (strcmp(key, "execute") != 0 && strcmp(key, "arguments") != 0 &&
            strcmp(key, "id") != 0) {
            client_error(c, id, "GenericError", "unknown member \"%s\" in the request", key);
            return -1;
        }
    }
    if (!json_is_string(json_object_get(req, "execute"))) {
        client_error(c, id, "GenericError", "the request needs \"execute\": a command name");
        return -1;
    }
    json_t *args = json_object_get(req, "arguments");
    if (args && !json_is_object(args)) {
        client_error(c, id, "GenericError", "\"arguments\" must be an object");
        return -1;
    }
    return 0;
}

/* Queue {"return": ret, "id": id}. Takes the reference to ret. */
static void client_return(ControlClient *c, const json_t *id, json_t *ret)
{
    json_t *msg = json_pack("{s:o}", "return", ret);
    if (msg && id)
        json_object_set(msg, "id", (json_t *)id);
    client_send_json(c, msg);
}

/* Call a command's handler; true if it deferred its reply (ret is then dropped). */
static bool request_call(ControlClient *c, const ControlCommand *cmd, void *opaque, json_t *args,
                         const json_t *id, json_t **ret, Error *e)
{
    ControlServer *s = c->srv;
    s->cur_client = c;
    s->cur_id = (json_t *)id;
    s->cur_deferred = false;
    *ret = cmd->handler(opaque, args, e);
    bool deferred = s->cur_deferred;
    s->cur_client = NULL;
    s->cur_id = NULL;
    s->cur_deferred = false;
    if (deferred) {
        json_decref(*ret); /* a handler that deferred must not answer now too */
        *ret = NULL;
    }
    return deferred;
}

/* Run a well-formed request and queue its reply (unless the handler deferred it). */
static void request_run(ControlClient *c, json_t *req, const json_t *id)
{
    const char *name = json_string_value(json_object_get(req, "execute"));
    void *opaque;
    const ControlCommand *cmd = find_command(c->srv, name, &opaque);
    if (!cmd) {
        client_error(c, id, "CommandNotFound", "unknown command \"%s\" (see query-commands)", name);
        return;
    }
    json_t *args = json_object_get(req, "arguments");
    json_t *empty = args ? NULL : json_object();
    Error e = {0};
    json_t *ret;
    bool deferred = request_call(c, cmd, opaque, args ? args : empty, id, &ret, &e);
    json_decref(empty);
    if (deferred)
        return;
    if (!ret) {
        client_error(c, id, "GenericError", "%s", e.msg[0] ? e.msg : "the command failed");
        return;
    }
    client_return(c, id, ret);
}

/* ---- deferred replies ---- */

ControlPending *control_defer(ControlServer *s, Error *err)
{
    if (!s || !s->cur_client || s->cur_deferred) {
        error_set(err, "internal error: a reply deferred outside a command");
        return NULL;
    }
    ControlPending *p = calloc(1, sizeof(*p));
    if (!p) {
        error_set(err, "out of memory");
        return NULL;
    }
    *p = (ControlPending){
        .srv = s, .client = s->cur_client, .id = json_incref(s->cur_id), .next = s->pending};
    s->pending = p;
    s->cur_deferred = true;
    return p;
}

static void pending_unlink(ControlPending *p)
{
    ControlPending **pp = &p->srv->pending;
    while (*pp != p)
        pp = &(*pp)->next;
    *pp = p->next;
}

void control_complete(ControlPending *p, json_t *ret, const Error *err)
{
    ControlServer *s = p->srv;
    pending_unlink(p);
    if (p->client && ret)
        client_return(p->client, p->id, ret);
    else if (p->client)
        client_error(p->client, p->id, "GenericError", "%s",
                     err && err->msg[0] ? err->msg : "the command failed");
    else
        json_decref(ret);
    json_decref(p->id);
    free(p);
    server_reap(s);
}

static bool line_is_blank(const char *line, size_t len)
{
    for (size_t i = 0; i < len; i++)
        if (line[i] != ' ' && line[i] != '\t' && line[i] != '\r')
            return false;
    return true;
}

/* Parse and answer one request line (without its newline). */
static void client_line(ControlClient *c, const char *line, size_t len)
{
    if (line_is_blank(line, len))
        return;
    json_error_t je;
    json_t *req = json_loadb(line, len, JSON_DECODE_ANY | JSON_REJECT_DUPLICATES, &je);
    if (!req) {
        client_error(c, NULL, "GenericError", "malformed JSON at column %d: %s", je.column,
                     je.text);
        return;
    }
    json_t *id = json_is_object(req) ? json_object_get(req, "id") : NULL;
    if (!json_is_object(req))
        client_error(c, NULL, "GenericError", "a request is a JSON object");
    else if (request_check(c, req, id) == 0)
        request_run(c, req, id);
    json_decref(req);
}

/* Take the descriptor that came with line number line; -1 if none. */
static int client_line_fd(ControlClient *c, uint64_t line)
{
    for (unsigned i = 0; i < c->nfds; i++) {
        if (c->fds[i].line == line) {
            int fd = c->fds[i].fd;
            c->fds[i] = c->fds[--c->nfds];
            return fd;
        }
    }
    return -1;
}

/* Answer one line with the descriptor that came with it offered to its handler. */
static void client_line_with_fd(ControlClient *c, const char *line, size_t len)
{
    ControlServer *s = c->srv;
    s->cur_fd = client_line_fd(c, c->line_no++);
    client_line(c, line, len);
    if (s->cur_fd >= 0)
        close(s->cur_fd); /* no handler took it */
    s->cur_fd = -1;
}

/* Answer every complete line in the buffer; keep the incomplete rest. */
static void client_lines(ControlClient *c)
{
    size_t start = 0;
    char *nl;
    while (!c->dead && !c->closing &&
           (nl = memchr(c->in + start, '\n', c->in_len - start)) != NULL) {
        size_t end = (size_t)(nl - c->in);
        client_line_with_fd(c, c->in + start, end - start);
        start = end + 1;
    }
    memmove(c->in, c->in + start, c->in_len - start);
    c->in_len -= start;
    if (c->in_len == sizeof(c->in) && !c->dead && !c->closing) {
        /* No way to find where this request ends: answer, then hang up. */
        client_error(c, NULL, "GenericError", "request line longer than %d bytes",
                     CONTROL_LINE_MAX);
        c->closing = true;
        client_flush(c);
    }
}

/*
 * Keep fd for the request line that holds the last byte of the read it
 * came with (a newline belongs to the line it ends).  The kernel hands a
 * message's descriptors over with the read that takes the message's (first
 * part of its) bytes and ends that read there, so this is the line the
 * sender sent it with.  One per line: a second one is closed, as is one
 * beyond CONTROL_CLIENT_FDS waiting.
 */
static void client_keep_fd(ControlClient *c, int fd)
{
    uint64_t line = c->line_no;
    for (size_t i = 0; i + 1 < c->in_len; i++)
        line += c->in[i] == '\n';
    bool taken = c->nfds == CONTROL_CLIENT_FDS || c->dead || c->closing;
    for (unsigned i = 0; i < c->nfds && !taken; i++)
        taken = c->fds[i].line == line;
    if (taken) {
        close(fd);
        return;
    }
    c->fds[c->nfds++] = (ControlFd){.line = line, .fd = fd};
}

typedef struct TakeFd {
    ControlClient *c;
    bool keep; /* the next descriptor is kept */
} TakeFd;

/* fdpass_each: the first descriptor is kept (when wanted), the others closed. */
static void take_fd(void *opaque, int fd)
{
    TakeFd *t = opaque;
    if (t->keep)
        client_keep_fd(t->c, fd);
    else
        close(fd);
    t->keep = false;
}

/* The descriptors of a read's SCM_RIGHTS messages: the first is kept, the others closed. */
static void client_take_fds(ControlClient *c, struct msghdr *msg, bool keep)
{
    fdpass_each(msg, take_fd, &(TakeFd){c, keep});
}

static void client_read(ControlClient *c)
{
    union {
        struct cmsghdr align;
        char buf[CMSG_SPACE(CONTROL_RECV_FDS * sizeof(int))];
    } ctl;
    struct iovec iov = {.iov_base = c->in + c->in_len, .iov_len = sizeof(c->in) - c->in_len};
    struct msghdr msg = {
        .msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl.buf, .msg_controllen = sizeof(ctl)};
    ssize_t n = recvmsg(c->fd, &msg, MSG_CMSG_CLOEXEC);
    if (n < 0 && (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK))
        return;
    if (n > 0)
        c->in_len += (size_t)n;
    client_take_fds(c, &msg, n > 0);
    if (n <= 0) {
        c->dead = true; /* closed (maybe mid-line) or broken: drop what it sent */
        return;
    }
    client_lines(c);
}

static void client_ready(void *opaque, uint32_t events)
{
    ControlClient *c = opaque;
    ControlServer *s = c->srv;
    s->busy++;
    if ((events & EPOLLOUT) && !c->dead)
        client_flush(c);
    if ((events & (EPOLLIN | EPOLLHUP | EPOLLERR)) && !c->dead && !c->closing)
        client_read(c);
    else if ((events & (EPOLLHUP | EPOLLERR)) && !c->dead)
        c->dead = true;
    s->busy--;
    server_reap(s);
}

/* ---- accepting ---- */

static void server_greet(ControlServer *s, ControlClient *c)
{
    json_t *msg = json_pack("{s:{s:s,s:i}}", "hostel", "version", s->cfg.version, "protocol",
                            CONTROL_PROTOCOL);
    client_send_json(c, msg);
}

/* A connection beyond the limit: say why in one line and hang up. */
static void server_refuse(int fd)
{
    char line[128];
    int n = snprintf(line, sizeof(line),
                     "{\"error\":{\"class\":\"GenericError\",\"desc\":\"too many control "
                     "connections (at most %d)\"}}\n",
                     CONTROL_MAX_CLIENTS);
    ssize_t r = send(fd, line, (size_t)n, MSG_NOSIGNAL | MSG_DONTWAIT);
    (void)r;
    close(fd);
}

static int server_slot(ControlServer *s)
{
    for (int i = 0; i < CONTROL_MAX_CLIENTS; i++)
        if (!s->clients[i])
            return i;
    return -1;
}

static void server_accept(void *opaque, uint32_t events)
{
    ControlServer *s = opaque;
    int fd = accept4(s->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0)
        return; /* EAGAIN, or the peer gave up already */
    int slot = server_slot(s);
    ControlClient *c = slot < 0 ? NULL : calloc(1, sizeof(*c));
    if (c) {
        c->srv = s;
        c->fd = fd;
    }
    if (!c || evloop_add_fd(s->loop, fd, EPOLLIN, client_ready, c, NULL) < 0) {
        free(c);
        server_refuse(fd);
        return;
    }
    s->clients[slot] = c;
    server_greet(s, c);
    server_reap(s);
}

/* ---- the server ---- */

ControlServer *control_server_new(EventLoop *loop, const ControlConfig *cfg, Error *err)
{
    ControlServer *s = calloc(1, sizeof(*s));
    char *path = strdup(cfg->path);
    if (!s || !path) {
        free(s);
        free(path);
        error_set(err, "out of memory creating the control socket");
        return NULL;
    }
    *s = (ControlServer){.loop = loop, .cfg = *cfg, .path = path, .listen_fd = -1, .cur_fd = -1};
    s->cfg.path = path;
    if (!s->cfg.version)
        s->cfg.version = "";
    s->listen_fd = control_socket_listen(path, cfg->vm_name, &s->id, err);
    if (s->listen_fd < 0) {
        free(path);
        free(s);
        return NULL;
    }
    if (evloop_add_fd(loop, s->listen_fd, EPOLLIN, server_accept, s, err) < 0) {
        control_server_free(s);
        return NULL;
    }
    return s;
}

void control_server_free(ControlServer *s)
{
    if (!s)
        return;
    for (unsigned i = 0; i < CONTROL_MAX_CLIENTS; i++) {
        ControlClient *c = s->clients[i];
        if (c && !c->dead && c->out_len)
            client_flush(c); /* a last try: e.g. the reply to "quit" */
        if (c)
            client_free(c);
    }
    while (s->pending) { /* their owners were told not to complete them now */
        ControlPending *p = s->pending;
        s->pending = p->next;
        json_decref(p->id);
        free(p);
    }
    if (s->listen_fd >= 0) {
        evloop_del_fd(s->loop, s->listen_fd);
        close(s->listen_fd);
        control_socket_remove(s->path, &s->id);
    }
    free(s->path);
    free(s);
}

void control_server_event(ControlServer *s, const char *name, json_t *data)
{
    json_t *msg = json_pack("{s:s}", "event", name);
    if (msg && data)
        json_object_set(msg, "data", data);
    json_decref(data);
    char *text = msg ? json_dumps(msg, JSON_COMPACT | JSON_REAL_PRECISION(10)) : NULL;
    json_decref(msg);
    for (unsigned i = 0; text && i < CONTROL_MAX_CLIENTS; i++)
        if (s->clients[i])
            client_send(s->clients[i], text);
    free(text);
    server_reap(s);
}

int control_take_fd(ControlServer *s)
{
    int fd = s->cur_fd;
    s->cur_fd = -1;
    return fd;
}

size_t control_server_clients(const ControlServer *s)
{
    size_t n = 0;
    for (unsigned i = 0; i < CONTROL_MAX_CLIENTS; i++)
        n += s->clients[i] && !s->clients[i]->dead;
    return n;
}

int control_args_check(const json_t *args, const char *const *allowed, Error *err)
{
    const char *key;
    json_t *value;
    json_object_foreach((json_t *)args, key, value)
    {
        bool ok = false;
        for (size_t i = 0; allowed && allowed[i] && !ok; i++)
            ok = strcmp(key, allowed[i]) == 0;
        if (!ok)
            return error_set(err, "unexpected argument \"%s\"", key);
    }
    return 0;
}
