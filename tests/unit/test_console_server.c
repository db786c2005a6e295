/*
 * Unit tests of the console socket's server (console_server.c) on a real
 * unix socket, driven by pumping its event loop: a hello in pieces, input
 * that follows the hello in the same write, flow control of the rw
 * client's input, BUSY naming the holder, the input freed when it goes,
 * ro input dropped, output to every client.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "util/evloop.h"
#include "vmm/console_server.h"
#include "tap.h"

typedef struct FakeVmm {
    size_t room;     /* what input_room answers */
    char input[256]; /* what the rw client typed */
    size_t len;
} FakeVmm;

static size_t fake_room(void *opaque)
{
    return ((FakeVmm *)opaque)->room;
}

static void fake_input(void *opaque, const uint8_t *buf, size_t len)
{
    FakeVmm *f = opaque;
    len = len < sizeof(f->input) - 1 - f->len ? len : sizeof(f->input) - 1 - f->len;
    memcpy(f->input + f->len, buf, len);
    f->len += len;
    f->room -= len < f->room ? len : f->room;
}

static void pump(EventLoop *l)
{
    for (int i = 0; i < 20; i++)
        evloop_run_once(l, 2000000); /* 2 ms */
}

static int connect_to(const char *path)
{
    struct sockaddr_un a = {.sun_family = AF_UNIX};
    snprintf(a.sun_path, sizeof(a.sun_path), "%s", path);
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    if (fd >= 0 && connect(fd, (struct sockaddr *)&a, sizeof(a)) < 0) {
        close(fd);
        return -1;
    }
    return fd;
}

static void say(int fd, const char *s)
{
    ssize_t r = send(fd, s, strlen(s), MSG_NOSIGNAL);
    (void)r;
}

/* What fd received so far (NUL-terminated, without waiting). */
static const char *heard(int fd, char *buf, size_t size)
{
    ssize_t n = recv(fd, buf, size - 1, MSG_DONTWAIT);
    buf[n > 0 ? n : 0] = '\0';
    return buf;
}

int main(void)
{
    char dir[] = "/tmp/hcs-XXXXXX", path[64], buf[512];
    if (!mkdtemp(dir)) {
        printf("1..0 # SKIP no temporary directory\n");
        return 77;
    }
    snprintf(path, sizeof(path), "%s/c.sock", dir);
    Error e = {0};
    EventLoop *l = evloop_new(&e);
    FakeVmm f = {.room = 100};
    ConsoleServerConfig cfg = {
        .path = path, .input_room = fake_room, .input = fake_input, .opaque = &f};
    ConsoleServer *s = l ? console_server_new(l, &cfg, &e) : NULL;
    ok(s != NULL, "a console server listens: %s", e.msg);
    if (!s)
        return tap_done();
    console_server_output(s, (const uint8_t *)"boot\n", 5);

    int a = connect_to(path);
    say(a, "HOSTEL-CON");
    pump(l);
    ok(strcmp(heard(a, buf, sizeof(buf)), "") == 0, "half a hello gets no answer yet");
    say(a, "SOLE 1 rw alice\ntyped");
    pump(l);
    ok(strcmp(heard(a, buf, sizeof(buf)), "OK 5\nboot\n") == 0,
       "a hello in two pieces: OK and the history");
    ok(f.len == 5 && memcmp(f.input, "typed", 5) == 0,
       "bytes after the hello in the same write are input");

    f.room = 0;
    say(a, "more");
    pump(l);
    ok(f.len == 5, "no room: the rw client is not read");
    f.room = 100;
    console_server_input_ready(s);
    pump(l);
    ok(f.len == 9 && memcmp(f.input, "typedmore", 9) == 0, "room again: its bytes come in order");

    int b = connect_to(path);
    say(b, "HOSTEL-CONSOLE 1 rw bob\n");
    pump(l);
    ok(strncmp(heard(b, buf, sizeof(buf)), "BUSY the console's input is held by alice since ",
               48) == 0 &&
           strstr(buf, " UTC; attach read-only or detach it first\n"),
       "a second rw client: BUSY naming the holder (%.*s)", (int)strcspn(buf, "\n"), buf);
    pump(l);
    ok(recv(b, buf, sizeof(buf), MSG_DONTWAIT) == 0, "... and the connection is closed");
    close(b);

    int c = connect_to(path);
    say(c, "HOSTEL-CONSOLE 1 ro carol\nignored");
    pump(l);
    ok(strcmp(heard(c, buf, sizeof(buf)), "OK 5\nboot\n") == 0, "an ro client attaches");
    ok(f.len == 9, "an ro client's bytes are dropped");
    console_server_output(s, (const uint8_t *)"live", 4);
    pump(l);
    ok(strcmp(heard(a, buf, sizeof(buf)), "live") == 0 &&
           strcmp(heard(c, buf, sizeof(buf)), "live") == 0,
       "output goes to every client");
    ok(console_server_clients(s) == 2, "two clients attached");

    close(a);
    pump(l);
    b = connect_to(path);
    say(b, "HOSTEL-CONSOLE 1 rw bob\nhi");
    pump(l);
    ok(strcmp(heard(b, buf, sizeof(buf)), "OK 9\nboot\nlive") == 0 && f.len == 11 &&
           memcmp(f.input + 9, "hi", 2) == 0,
       "the holder gone, the next rw client attaches and types");

    int d = connect_to(path);
    say(d, "HOSTEL-CONSOLE 1 rw who\x7f\n");
    pump(l);
    ok(strcmp(heard(d, buf, sizeof(buf)),
              "ERR WHO is 1 to 64 bytes without spaces or control characters\n") == 0,
       "a control character in WHO: ERR");
    close(d);

    shutdown(b, SHUT_WR); /* socat at the end of its input: no more input, output still wanted */
    pump(l);
    console_server_output(s, (const uint8_t *)"!", 1);
    pump(l);
    ok(strcmp(heard(b, buf, sizeof(buf)), "!") == 0 && strcmp(heard(c, buf, sizeof(buf)), "!") == 0,
       "a client that shut its side for writing still gets the output");
    d = connect_to(path);
    say(d, "HOSTEL-CONSOLE 1 rw dave\n");
    pump(l);
    ok(strcmp(heard(d, buf, sizeof(buf)), "OK 10\nboot\nlive!") == 0,
       "... and the input it held is free for the next rw client");
    close(d);
    pump(l);

    int many[CONSOLE_MAX_CLIENTS];
    size_t opened = 0;
    while (opened < CONSOLE_MAX_CLIENTS && console_server_clients(s) < CONSOLE_MAX_CLIENTS) {
        many[opened++] = connect_to(path);
        pump(l);
    }
    int extra = connect_to(path);
    pump(l);
    ok(console_server_clients(s) == CONSOLE_MAX_CLIENTS &&
           strcmp(heard(extra, buf, sizeof(buf)), "ERR too many console clients (at most 16)\n") ==
               0,
       "a connection beyond %d: ERR and closed (%.*s)", CONSOLE_MAX_CLIENTS,
       (int)strcspn(buf, "\n"), buf);
    close(extra);
    for (size_t i = 0; i < opened; i++)
        close(many[i]);
    pump(l);
    ok(console_server_clients(s) == 2, "the clients that hung up are gone");

    console_server_free(s);
    ok(access(path, F_OK) != 0, "the socket is removed when the server goes");
    ok(recv(b, buf, sizeof(buf), 0) == 0 && recv(c, buf, sizeof(buf), 0) == 0,
       "clients see the end");
    close(b);
    close(c);
    evloop_free(l);
    rmdir(dir);
    return tap_done();
}
