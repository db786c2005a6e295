/*
 * The console socket's server: accepts clients on the VM's event loop,
 * reads each one's hello, answers OK with the history (or BUSY / ERR and
 * hangs up), fans the guest's output out to the attached clients and hands
 * the rw client's bytes to the VMM's console input.
 *
 * Sockets are non-blocking.  Each client has an output queue flushed when
 * the socket is writable; a client whose live output piles up past
 * CONSOLE_CLIENT_OUT_MAX is dropped.  A client that fails while the server
 * is working on the clients (a broadcast) is only marked dead and freed
 * afterwards.  A client told BUSY or ERR is shut down for writing and read
 * until it hangs up (at most CONSOLE_HELLO_TIMEOUT_NS), so that closing
 * with unread input never resets the connection before the line arrives.
 */
#include "vmm/console_server.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "control/socket.h"
#include "util/timer.h"
#include "vmm/console_ring.h"

#define HELLO_MAX 128         /* bytes in a hello line, newline included */
#define CLIENT_OUT_KEEP 65536 /* an idle client keeps an output buffer up to this size */
#define READ_CHUNK 4096       /* bytes read from a client at once */

typedef enum ClientState {
    CLIENT_HELLO,   /* connected, hello not complete yet */
    CLIENT_RO,      /* attached, read-only */
    CLIENT_RW,      /* attached, holds the input */
    CLIENT_CLOSING, /* told BUSY or ERR: flushing that, then waiting for the hang-up */
} ClientState;

typedef struct ConsoleClient {
    ConsoleServer *srv;
    int fd;
    ClientState state;
    char who[CONSOLE_WHO_MAX + 1];
    time_t since;          /* when it took the input (rw) */
    char hello[HELLO_MAX]; /* the hello received so far */
    size_t hello_len;
    uint8_t *out; /* queued output: out[out_off, out_len) */
    size_t out_off, out_len, out_cap;
    size_t history_left; /* queued bytes that are still the OK line and history */
    uint32_t events;     /* what the loop watches now */
    Timer *timer;        /* the hello's deadline, then the hang-up's */
    bool paused;         /* rw: not read while the VMM's input is full */
    bool in_eof;         /* attached, shut its side for writing: only output now */
    bool shut;           /* CLOSING: shutdown(SHUT_WR) done */
    bool dead;           /* to be freed */
} ConsoleClient;

struct ConsoleServer {
    EventLoop *loop;
    TimerList *timers;
    ConsoleServerConfig cfg;
    char *path;
    int listen_fd;
    ControlSocketId id;
    ConsoleRing history;
    ConsoleClient *clients[CONSOLE_MAX_CLIENTS];
    ConsoleClient *holder; /* the rw client, or NULL */
    unsigned busy;         /* > 0 while the clients are being walked */
};

/* ---- output ---- */

static size_t client_pending(const ConsoleClient *c)
{
    return c->out_len - c->out_off;
}

/* Watch what the client needs: input unless paused, writability while output waits. */
static void client_watch(ConsoleClient *c)
{
    uint32_t ev = c->paused || c->in_eof ? 0 : EPOLLIN;
    if (client_pending(c))
        ev |= EPOLLOUT;
    if (ev != c->events && evloop_mod_fd(c->srv->loop, c->fd, ev) == 0)
        c->events = ev;
}

/* Send what the socket takes now; a CLOSING client is shut down once all is sent. */
static void client_flush(ConsoleClient *c)
{
    while (!c->dead && client_pending(c)) {
        ssize_t n = send(c->fd, c->out + c->out_off, client_pending(c), MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            break;
        if (n <= 0) {
            c->dead = true;
            return;
        }
        c->out_off += (size_t)n;
        c->history_left -= (size_t)n < c->history_left ? (size_t)n : c->history_left;
    }
    if (!client_pending(c)) {
        c->out_off = c->out_len = 0;
        if (c->out_cap > CLIENT_OUT_KEEP) { /* the history sent: give its room back */
            free(c->out);
            c->out = NULL;
            c->out_cap = 0;
        }
    }
    if (c->state == CLIENT_CLOSING && !client_pending(c) && !c->shut) {
        shutdown(c->fd, SHUT_WR);
        c->shut = true;
    }
    client_watch(c);
}

/* Make room for len more queued bytes. Returns false if out of memory. */
static bool client_reserve(ConsoleClient *c, size_t len)
{
    if (c->out_off && c->out_len + len > c->out_cap) {
        memmove(c->out, c->out + c->out_off, client_pending(c));
        c->out_len -= c->out_off;
        c->out_off = 0;
    }
    if (c->out_len + len <= c->out_cap)
        return true;
    size_t cap = c->out_cap ? c->out_cap : 65536;
    while (cap < c->out_len + len)
        cap *= 2;
    uint8_t *p = realloc(c->out, cap);
    if (!p)
        return false;
    c->out = p;
    c->out_cap = cap;
    return true;
}

/* Queue len bytes (the client is dropped if its live backlog passes the limit). */
static void client_queue(ConsoleClient *c, const void *buf, size_t len)
{
    if (c->dead || !len)
        return;
    size_t total = client_pending(c) + len;
    size_t live = total > c->history_left ? total - c->history_left : 0;
    if (live > CONSOLE_CLIENT_OUT_MAX || !client_reserve(c, len)) {
        c->dead = true; /* it does not read what we send: give up on it */
        return;
    }
    memcpy(c->out + c->out_len, buf, len);
    c->out_len += len;
}

/* ---- client lifetime ---- */

static void client_free(ConsoleClient *c)
{
    ConsoleServer *s = c->srv;
    for (unsigned i = 0; i < CONSOLE_MAX_CLIENTS; i++)
        if (s->clients[i] == c)
            s->clients[i] = NULL;
    if (s->holder == c)
        s->holder = NULL;
    evloop_del_fd(s->loop, c->fd);
    close(c->fd);
    timer_free(c->timer);
    free(c->out);
    free(c);
}

/* Free the clients marked dead, unless the clients are being walked. */
static void server_reap(ConsoleServer *s)
{
    if (s->busy)
        return;
    for (unsigned i = 0; i < CONSOLE_MAX_CLIENTS; i++)
        if (s->clients[i] && s->clients[i]->dead)
            client_free(s->clients[i]);
}

/* Answer a last line (BUSY or ERR), then wait for the client to hang up. */
static void client_finish(ConsoleClient *c, const char *line)
{
    c->state = CLIENT_CLOSING;
    c->paused = false;
    c->history_left = strlen(line); /* not live output: never counts against the limit */
    client_queue(c, line, strlen(line));
    timer_mod(c->timer, timer_now_ns() + CONSOLE_HELLO_TIMEOUT_NS);
    client_flush(c);
}

/* ---- hello ---- */

/* WHO: 1 to CONSOLE_WHO_MAX bytes, no spaces or control characters. */
static bool who_valid(const char *who, size_t len)
{
    if (!len || len > CONSOLE_WHO_MAX)
        return false;
    for (size_t i = 0; i < len; i++)
        if ((unsigned char)who[i] <= ' ' || who[i] == 0x7f)
            return false;
    return true;
}

/*
 * Parse "HOSTEL-CONSOLE 1 rw|ro WHO" (without its newline) into *rw and
 * who.  Returns NULL, or the reason it is refused.
 */
static const char *hello_parse(const char *line, size_t len, bool *rw, char *who)
{
    static const char magic[] = "HOSTEL-CONSOLE ";
    size_t m = sizeof(magic) - 1;
    if (len < m || memcmp(line, magic, m) != 0)
        return "expected \"HOSTEL-CONSOLE 1 rw|ro WHO\"";
    line += m;
    len -= m;
    if (len < 2 || line[0] != '0' + CONSOLE_PROTOCOL || line[1] != ' ')
        return "unsupported protocol version (this VMM speaks 1)";
    line += 2;
    len -= 2;
    if (len < 3 || (memcmp(line, "rw ", 3) != 0 && memcmp(line, "ro ", 3) != 0))
        return "the mode is rw or ro";
    *rw = line[1] == 'w';
    if (!who_valid(line + 3, len - 3))
        return "WHO is 1 to 64 bytes without spaces or control characters";
    memcpy(who, line + 3, len - 3);
    who[len - 3] = '\0';
    return NULL;
}

/* Queue "OK N\n" and the history. */
static void client_attach(ConsoleClient *c, bool rw)
{
    ConsoleServer *s = c->srv;
    const uint8_t *a, *b;
    size_t alen, blen;
    char line[32];
    console_ring_spans(&s->history, &a, &alen, &b, &blen);
    int n = snprintf(line, sizeof(line), "OK %zu\n", alen + blen);
    c->state = rw ? CLIENT_RW : CLIENT_RO;
    if (rw) {
        s->holder = c;
        c->since = time(NULL);
    }
    timer_del(c->timer);
    c->history_left = (size_t)n + alen + blen;
    client_queue(c, line, (size_t)n);
    client_queue(c, a, alen);
    client_queue(c, b, blen);
    client_flush(c);
}

/* A complete hello line (without its newline): attach, or refuse. */
static void client_hello(ConsoleClient *c, const char *line, size_t len)
{
    ConsoleServer *s = c->srv;
    char msg[256], when[16] = "?";
    bool rw = false;
    const char *why = hello_parse(line, len, &rw, c->who);
    if (why) {
        snprintf(msg, sizeof(msg), "ERR %s\n", why);
        client_finish(c, msg);
        return;
    }
    if (rw && s->holder) {
        struct tm tm;
        if (gmtime_r(&s->holder->since, &tm))
            strftime(when, sizeof(when), "%H:%M:%S", &tm);
        snprintf(msg, sizeof(msg),
                 "BUSY the console's input is held by %s since %s UTC; attach read-only or "
                 "detach it first\n",
                 s->holder->who, when);
        client_finish(c, msg);
        return;
    }
    client_attach(c, rw);
}

/*
 * Read the hello up to its newline and no further: what follows stays in
 * the socket, to be read as input once the client is attached.
 */
static void client_read_hello(ConsoleClient *c)
{
    char *dst = c->hello + c->hello_len;
    size_t room = sizeof(c->hello) - c->hello_len;
    ssize_t n = recv(c->fd, dst, room, MSG_PEEK);
    if (n < 0 && (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK))
        return;
    if (n <= 0) {
        c->dead = true;
        return;
    }
    char *nl = memchr(dst, '\n', (size_t)n);
    size_t take = nl ? (size_t)(nl - dst) + 1 : (size_t)n;
    if (recv(c->fd, dst, take, 0) != (ssize_t)take) {
        c->dead = true;
        return;
    }
    c->hello_len += take;
    if (nl)
        client_hello(c, c->hello, c->hello_len - 1);
    else if (c->hello_len == sizeof(c->hello))
        client_finish(c, "ERR the hello line is longer than 128 bytes\n");
}

/* ---- input ---- */

/*
 * An attached client shut its side for writing (e.g. socat at the end of
 * its input): it still gets the output, until it hangs up (EPOLLHUP) or a
 * send fails; an rw client gives the input up and is read-only from now on.
 */
static void client_input_ended(ConsoleClient *c)
{
    if (c->srv->holder == c)
        c->srv->holder = NULL;
    c->state = CLIENT_RO;
    c->in_eof = true;
    client_watch(c);
}

/* The rw client's bytes, as many as the VMM has room for. */
static void client_read_input(ConsoleClient *c)
{
    ConsoleServer *s = c->srv;
    uint8_t buf[READ_CHUNK];
    size_t room = s->cfg.input_room(s->cfg.opaque);
    if (!room) {
        c->paused = true;
        client_watch(c);
        return;
    }
    ssize_t n = recv(c->fd, buf, room < sizeof(buf) ? room : sizeof(buf), 0);
    if (n < 0 && (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK))
        return;
    if (n == 0)
        client_input_ended(c);
    else if (n < 0)
        c->dead = true;
    else
        s->cfg.input(s->cfg.opaque, buf, (size_t)n);
}

/* An ro or closing client's bytes: read and dropped; the end of a closing client's ends it. */
static void client_read_discard(ConsoleClient *c)
{
    uint8_t buf[READ_CHUNK];
    ssize_t n = recv(c->fd, buf, sizeof(buf), 0);
    if (n < 0 && (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK))
        return;
    if (n == 0 && c->state == CLIENT_RO)
        client_input_ended(c);
    else if (n <= 0)
        c->dead = true;
}

static void client_read(ConsoleClient *c)
{
    switch (c->state) {
    case CLIENT_HELLO: client_read_hello(c); break;
    case CLIENT_RW: client_read_input(c); break;
    case CLIENT_RO:
    case CLIENT_CLOSING: client_read_discard(c); break;
    }
}

static void client_ready(void *opaque, uint32_t events)
{
    ConsoleClient *c = opaque;
    ConsoleServer *s = c->srv;
    s->busy++;
    if (events & EPOLLERR)
        c->dead = true;
    if ((events & EPOLLOUT) && !c->dead)
        client_flush(c);
    if ((events & EPOLLHUP) && (c->paused || c->in_eof))
        c->dead = true; /* hung up while not being read */
    else if ((events & (EPOLLIN | EPOLLHUP)) && !c->dead && !c->paused && !c->in_eof)
        client_read(c);
    s->busy--;
    server_reap(s);
}

/* The hello's (or the hang-up's) deadline passed. */
static void client_timeout(void *opaque)
{
    ConsoleClient *c = opaque;
    ConsoleServer *s = c->srv;
    if (c->state == CLIENT_HELLO) {
        static const char line[] = "ERR no hello within 5 s\n";
        ssize_t r = send(c->fd, line, sizeof(line) - 1, MSG_NOSIGNAL | MSG_DONTWAIT);
        (void)r;
    }
    if (c->state == CLIENT_HELLO || c->state == CLIENT_CLOSING)
        c->dead = true;
    server_reap(s);
}

/* ---- accepting ---- */

/* A connection beyond the limit: say why in one line and hang up. */
static void server_refuse(int fd)
{
    char line[80];
    int n = snprintf(line, sizeof(line), "ERR too many console clients (at most %d)\n",
                     CONSOLE_MAX_CLIENTS);
    ssize_t r = send(fd, line, (size_t)n, MSG_NOSIGNAL | MSG_DONTWAIT);
    (void)r;
    close(fd);
}

static int server_slot(const ConsoleServer *s)
{
    for (int i = 0; i < CONSOLE_MAX_CLIENTS; i++)
        if (!s->clients[i])
            return i;
    return -1;
}

/* A new client, watched and with its hello deadline armed; NULL if it cannot be served. */
static ConsoleClient *client_new(ConsoleServer *s, int fd)
{
    ConsoleClient *c = calloc(1, sizeof(*c));
    if (!c)
        return NULL;
    *c = (ConsoleClient){.srv = s, .fd = fd, .state = CLIENT_HELLO, .events = EPOLLIN};
    c->timer = timer_new(s->timers, client_timeout, c, NULL);
    if (!c->timer || evloop_add_fd(s->loop, fd, EPOLLIN, client_ready, c, NULL) < 0) {
        timer_free(c->timer);
        free(c);
        return NULL;
    }
    timer_mod(c->timer, timer_now_ns() + CONSOLE_HELLO_TIMEOUT_NS);
    return c;
}

static void server_accept(void *opaque, uint32_t events)
{
    ConsoleServer *s = opaque;
    (void)events;
    int fd = accept4(s->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0)
        return; /* EAGAIN, or the peer gave up already */
    int slot = server_slot(s);
    ConsoleClient *c = slot < 0 ? NULL : client_new(s, fd);
    if (!c) {
        server_refuse(fd);
        return;
    }
    s->clients[slot] = c;
}

/* ---- the server ---- */

ConsoleServer *console_server_new(EventLoop *loop, const ConsoleServerConfig *cfg, Error *err)
{
    ConsoleServer *s = calloc(1, sizeof(*s));
    if (!s || !(s->path = strdup(cfg->path))) {
        free(s);
        error_set(err, "out of memory creating the console socket");
        return NULL;
    }
    s->loop = loop;
    s->cfg = *cfg;
    s->cfg.path = s->path;
    s->listen_fd = -1;
    if (console_ring_init(&s->history, CONSOLE_HISTORY_BYTES, err) < 0 ||
        !(s->timers = timer_list_new(loop, err))) {
        console_server_free(s);
        return NULL;
    }
    size_t max = sizeof(((struct sockaddr_un *)0)->sun_path) - 1;
    if (strlen(s->path) > max) {
        error_set(err, "console socket path %s is too long (at most %zu bytes)", s->path, max);
        console_server_free(s);
        return NULL;
    }
    s->listen_fd = control_socket_listen(s->path, NULL, &s->id, err);
    if (s->listen_fd < 0 || evloop_add_fd(loop, s->listen_fd, EPOLLIN, server_accept, s, err) < 0) {
        console_server_free(s);
        return NULL;
    }
    return s;
}

void console_server_free(ConsoleServer *s)
{
    if (!s)
        return;
    for (unsigned i = 0; i < CONSOLE_MAX_CLIENTS; i++) {
        ConsoleClient *c = s->clients[i];
        if (c && !c->dead && client_pending(c))
            client_flush(c); /* a last try: the guest's final words */
        if (c)
            client_free(c);
    }
    if (s->listen_fd >= 0) {
        evloop_del_fd(s->loop, s->listen_fd);
        close(s->listen_fd);
        control_socket_remove(s->path, &s->id);
    }
    timer_list_free(s->timers);
    console_ring_fini(&s->history);
    free(s->path);
    free(s);
}

void console_server_output(ConsoleServer *s, const uint8_t *buf, size_t len)
{
    console_ring_write(&s->history, buf, len);
    s->busy++;
    for (unsigned i = 0; i < CONSOLE_MAX_CLIENTS; i++) {
        ConsoleClient *c = s->clients[i];
        if (!c || c->dead || (c->state != CLIENT_RO && c->state != CLIENT_RW))
            continue;
        bool idle = !client_pending(c);
        client_queue(c, buf, len);
        if (idle)
            client_flush(c); /* else it waits for EPOLLOUT, already watched */
    }
    s->busy--;
    server_reap(s);
}

void console_server_input_ready(ConsoleServer *s)
{
    ConsoleClient *c = s->holder;
    if (c && c->paused && !c->dead) {
        c->paused = false;
        client_watch(c);
    }
}

size_t console_server_clients(const ConsoleServer *s)
{
    size_t n = 0;
    for (unsigned i = 0; i < CONSOLE_MAX_CLIENTS; i++)
        n += s->clients[i] && !s->clients[i]->dead;
    return n;
}
