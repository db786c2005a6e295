/*
 * `hostel console NAME`: attach this terminal to a VM's serial console
 * through hosteld (GET /1.0/vms/NAME/console, a websocket; docs/cli.md).
 * What the console printed before is shown first (the VMM keeps it), then
 * the live output; keystrokes go to the guest.  C-a d detaches and the VM
 * goes on; C-a C-a sends a C-a.  When the stream breaks (hosteld
 * restarted) the client reconnects for a while and shows only what it has
 * not shown yet; when the VM stops, it says so and ends.
 */
#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "mgmt_client.h"
#include "mgmt_ws.h"

#define ESCAPE_KEY 0x01 /* C-a */
#define TAIL_KEEP 256   /* bytes of shown output kept to find them in a history */
#define RECONNECT_S 30  /* how long a broken stream is tried again */
#define RECONNECT_STEP_MS 250

enum { OPT_SOCKET = 256, OPT_RO };

typedef struct ConsoleClient {
    const char *name;
    const char *socket; /* --socket, or NULL */
    bool ro;
    bool tty;       /* stdin is a terminal: raw mode, escapes */
    bool escape;    /* the last key was C-a */
    bool stdin_eof; /* stdin ended: only output now */
    char tail[TAIL_KEEP];
    size_t tail_len;   /* the last bytes shown */
    size_t skip_match; /* after a reconnect: history bytes to compare with tail, or 0 */
    struct termios saved;
} ConsoleClient;

static void console_help(FILE *out)
{
    fprintf(out, "usage: hostel console NAME [--ro] [--socket PATH]\n"
                 "\n"
                 "Attach to a running VM's serial console through hosteld.  What the console\n"
                 "printed before (its last 1 MiB) is shown first.  One client at a time types;\n"
                 "another is refused with who holds it, unless --ro.  NAME may be REMOTE:NAME.\n"
                 "\n"
                 "keys: C-a d detaches (the VM goes on), C-a C-a sends C-a.\n"
                 "\n"
                 "options:\n"
                 "      --ro              watch only: nothing typed is sent\n"
                 "      --socket PATH     hosteld's socket (default $HOSTEL_SOCKET...)\n"
                 "  -h, --help            show this help and exit\n"
                 "\n"
                 "exit status: 0 when detached or when the VM stopped; 1 when it could not\n"
                 "attach (the reason is printed) or the daemon stayed away; 2 for a bad\n"
                 "command line.\n");
}

/* ---- the terminal ---- */

static void term_raw(ConsoleClient *c)
{
    struct termios t;
    if (!c->tty || tcgetattr(STDIN_FILENO, &c->saved) < 0) {
        c->tty = false;
        return;
    }
    t = c->saved;
    cfmakeraw(&t);
    tcsetattr(STDIN_FILENO, TCSANOW, &t);
}

static void term_restore(ConsoleClient *c)
{
    if (c->tty)
        tcsetattr(STDIN_FILENO, TCSANOW, &c->saved);
}

/* ---- output: shown once, even across a reconnect ---- */

static void remember(ConsoleClient *c, const char *data, size_t len)
{
    if (len >= TAIL_KEEP) {
        memcpy(c->tail, data + len - TAIL_KEEP, TAIL_KEEP);
        c->tail_len = TAIL_KEEP;
        return;
    }
    size_t keep = c->tail_len + len > TAIL_KEEP ? TAIL_KEEP - len : c->tail_len;
    memmove(c->tail, c->tail + c->tail_len - keep, keep);
    memcpy(c->tail + keep, data, len);
    c->tail_len = keep + len;
}

/*
 * The first message after a reconnect holds the history: show only what
 * follows the last occurrence of what we showed last (all of it if that
 * is not found).
 */
static void show(ConsoleClient *c, const char *data, size_t len)
{
    if (c->skip_match && c->tail_len && len >= c->tail_len) {
        c->skip_match = 0;
        for (size_t i = len - c->tail_len + 1; i-- > 0;) {
            if (memcmp(data + i, c->tail, c->tail_len) == 0) {
                data += i + c->tail_len;
                len -= i + c->tail_len;
                break;
            }
        }
    }
    c->skip_match = 0;
    if (len && write(STDOUT_FILENO, data, len) < 0) { /* a closed stdout: nothing to show on */
    }
    if (len)
        remember(c, data, len);
}

/* ---- input ---- */

/*
 * Keys read from stdin into what is sent; C-a d sets *detach.  Returns the
 * number of bytes to send (in out).
 */
static size_t keys(ConsoleClient *c, const char *in, size_t n, char *out, bool *detach)
{
    size_t m = 0;
    for (size_t i = 0; i < n; i++) {
        char k = in[i];
        if (c->tty && c->escape) {
            c->escape = false;
            if (k == 'd') {
                *detach = true;
                return m;
            }
            out[m++] = k == ESCAPE_KEY ? ESCAPE_KEY : k;
        } else if (c->tty && k == ESCAPE_KEY) {
            c->escape = true;
        } else {
            out[m++] = k;
        }
    }
    return m;
}

/* ---- the connection ---- */

static int connect_console(ConsoleClient *c, MgmtWs **ws, bool *refused, Error *err)
{
    char path[256];
    MgmtTarget t;
    bool no_daemon = false;
    snprintf(path, sizeof(path), "/1.0/vms/%s/console?mode=%s", c->name, c->ro ? "ro" : "rw");
    *refused = false;
    if (mgmt_client_target(&t, c->socket, NULL, err) < 0)
        return -1;
    int rc = mgmt_ws_connect(ws, &t, path, &no_daemon, err);
    *refused = rc < 0 && !no_daemon;
    return rc;
}

/*
 * The stream broke: try again for RECONNECT_S.  Returns 1 reconnected, 0
 * when the VM is no longer running (said), -1 when nothing came back.
 */
static int reconnect(ConsoleClient *c, MgmtWs **ws)
{
    struct timespec t0, now;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (;;) {
        Error err = {0};
        bool refused;
        if (connect_console(c, ws, &refused, &err) == 0) {
            c->skip_match = 1;
            return 1;
        }
        if (refused && strstr(err.msg, "not running")) {
            term_restore(c);
            fprintf(stderr, "\r\nhostel: %s stopped\n", c->name);
            return 0;
        }
        /* a daemon on its way back can refuse or break a connection: only these are final */
        bool final = refused && (strstr(err.msg, "no VM named") || strstr(err.msg, "held by"));
        clock_gettime(CLOCK_MONOTONIC, &now);
        if (final || now.tv_sec - t0.tv_sec >= RECONNECT_S) {
            term_restore(c);
            fprintf(stderr, "\r\nhostel: the console of %s is gone: %s\n", c->name, err.msg);
            return -1;
        }
        usleep(RECONNECT_STEP_MS * 1000);
    }
}

/* Everything the stream has now, shown. Returns 0, or -1 when it ended. */
static int drain(ConsoleClient *c, MgmtWs *ws)
{
    for (;;) {
        WsMessage m;
        Error err = {0};
        int rc = mgmt_ws_recv(ws, &m, 0, &err);
        if (rc <= 0)
            return rc;
        if (m.op == WS_OP_BINARY || m.op == WS_OP_TEXT)
            show(c, (const char *)m.data, m.len);
    }
}

/* One wait: stdin to the guest, the guest to stdout. 1 go on, 0 detached, -1 stream ended. */
static int turn(ConsoleClient *c, MgmtWs *ws)
{
    struct pollfd p[2] = {{.fd = mgmt_ws_fd(ws), .events = POLLIN},
                          {.fd = STDIN_FILENO, .events = POLLIN}};
    bool input = !c->stdin_eof; /* read-only still reads: C-a d */
    if (poll(p, input ? 2 : 1, 1000) < 0 && errno != EINTR)
        return -1;
    if (drain(c, ws) < 0) /* also when poll saw nothing: TLS may hold bytes poll cannot see */
        return -1;
    if (!input || !(p[1].revents & (POLLIN | POLLHUP)))
        return 1;
    char in[512], out[512];
    ssize_t n = read(STDIN_FILENO, in, sizeof(in));
    if (n <= 0) {
        c->stdin_eof = true;
        return 1;
    }
    bool detach = false;
    size_t m = keys(c, in, (size_t)n, out, &detach);
    Error err = {0};
    if (m && !c->ro && mgmt_ws_send(ws, WS_OP_BINARY, out, m, &err) < 0)
        return -1;
    return detach ? 0 : 1;
}

static int console_session(ConsoleClient *c, MgmtWs *ws)
{
    term_raw(c);
    if (c->tty)
        fprintf(stderr, "(attached to %s%s; C-a d detaches)\r\n", c->name,
                c->ro ? ", read-only" : "");
    for (;;) {
        int rc = turn(c, ws);
        if (rc == 1)
            continue;
        mgmt_ws_close(ws);
        if (rc == 0) {
            term_restore(c);
            fprintf(stderr, "\r\n(detached from %s)\n", c->name);
            return 0;
        }
        rc = reconnect(c, &ws); /* restores the terminal when it gives up */
        if (rc <= 0)
            return rc == 0 ? 0 : CLI_EXIT_FAIL;
    }
}

static int console_main(int argc, char **argv)
{
    static const struct option longopts[] = {{"socket", required_argument, NULL, OPT_SOCKET},
                                             {"ro", no_argument, NULL, OPT_RO},
                                             {"help", no_argument, NULL, 'h'},
                                             {0}};
    ConsoleClient c = {.tty = isatty(STDIN_FILENO)};
    int o;
    optind = 1;
    while ((o = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        if (o == 'h') {
            console_help(stdout);
            return 0;
        } else if (o == OPT_SOCKET) {
            c.socket = optarg;
        } else if (o == OPT_RO) {
            c.ro = true;
        } else {
            return cli_usage("console", "unknown option '%s'", argv[optind - 1]);
        }
    }
    if (optind != argc - 1)
        return cli_usage("console", "expected one VM name");
    c.name = mgmt_client_split_vm(argv[optind]); /* REMOTE:VM */
    MgmtWs *ws;
    Error err = {0};
    bool refused;
    if (connect_console(&c, &ws, &refused, &err) < 0)
        return cli_fail(&err);
    return console_session(&c, ws);
}

const Command cmd_console = {
    .name = "console",
    .run = console_main,
    .help = console_help,
    .summary = "attach to a VM's serial console through hosteld (C-a d detaches)",
};
