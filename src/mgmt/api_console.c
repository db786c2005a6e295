/*
 * GET /1.0/vms/NAME/console: the VM's serial console as a websocket.  The
 * VMM keeps the console (its history and its one typist, docs/vmm.md);
 * this route connects to the VMM's console socket, says who is attaching
 * and how (`HOSTEL-CONSOLE 1 rw|ro WHO`), and bridges the websocket to it:
 * binary messages are keystrokes, what comes back is the history then the
 * live output.  A refusal from the VMM (another client types) is a 409
 * before the upgrade, so a client learns it as an ordinary HTTP error.
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "mgmt/api_int.h"
#include "util/io.h"

#define HELLO_TIMEOUT_MS 3000

/* ?mode=rw (the default) or ?mode=ro; NULL after a 400. */
static const char *console_mode(const ApiRequest *req, ApiResponse *r)
{
    const char *q = req->query;
    if (!q || !*q || strcmp(q, "mode=rw") == 0)
        return "rw";
    if (strcmp(q, "mode=ro") == 0)
        return "ro";
    api_error(r, 400, "query: '%.60s' is not mode=rw or mode=ro", q);
    return NULL;
}

/* A connected socket to the console of the VM named name, or -1 after a 409/500. */
static int console_connect(Api *api, const char *name, ApiResponse *r)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    char path[sizeof(sa.sun_path)];
    if (mgmt_runtime_path(api->runtime, name, "console.sock", path, sizeof(path)) < 0) {
        api_error(r, 500, "%s: the console socket's path is too long", name);
        return -1;
    }
    memcpy(sa.sun_path, path, strlen(path) + 1);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
        api_error(r, 409, "%s: its console does not answer (%s)", name, strerror(errno));
        if (fd >= 0)
            close(fd);
        return -1;
    }
    return fd;
}

/* One line from fd (at most size - 1 bytes, read a byte at a time so nothing after it is taken). */
static bool read_line(int fd, char *buf, size_t size)
{
    size_t n = 0;
    while (n + 1 < size) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        if (poll(&p, 1, HELLO_TIMEOUT_MS) <= 0 || read(fd, buf + n, 1) != 1)
            return false;
        if (buf[n] == '\n') {
            buf[n] = '\0';
            return true;
        }
        n++;
    }
    return false;
}

/* Who attaches, in the VMM's words: a label without spaces. */
static void who_of(const ApiRequest *req, char *buf, size_t size)
{
    if (req->web_session)
        snprintf(buf, size, "web-session=%u", req->web_session);
    else if (req->tls)
        snprintf(buf, size, "cert=%.16s", req->cert_name[0] ? req->cert_name : "?");
    else
        snprintf(buf, size, "uid=%lld", (long long)req->uid);
    for (char *p = buf; *p; p++)
        if (*p <= ' ' || *p == 0x7f)
            *p = '_';
}

/* Say hello as mode; true when the VMM answered OK (its history follows), else a reply. */
static bool console_hello(int fd, const ApiRequest *req, const char *mode, ApiResponse *r)
{
    char who[48], hello[96], line[256];
    who_of(req, who, sizeof(who));
    int n = snprintf(hello, sizeof(hello), "HOSTEL-CONSOLE 1 %s %s\n", mode, who);
    if (!io_write_all(fd, hello, (size_t)n) || !read_line(fd, line, sizeof(line))) {
        api_error(r, 409, "the VM's console did not answer");
        return false;
    }
    if (strncmp(line, "OK ", 3) == 0)
        return true;
    if (strncmp(line, "BUSY ", 5) == 0)
        api_error(r, 409, "%s", line + 5);
    else
        api_error(r, 500, "the VM's console refused: %.200s", line);
    return false;
}

void api_h_vm_console(Api *api, const ApiRequest *req, const ApiArgs *args, ApiResponse *r)
{
    const char *name = args->arg[0], *mode = console_mode(req, r);
    if (!mode || !api_vm_or_404(api, name, r))
        return;
    if (!req->websocket) {
        api_error(r, 400, "the console is a websocket: send Upgrade: websocket ('hostel console')");
        return;
    }
    if (!api->runtime || mgmt_runtime_power(api->runtime, name) == MGMT_POWER_STOPPED) {
        api_error(r, 409, "%s is not running", name);
        return;
    }
    if (!api_ws_accept(req, r))
        return;
    int fd = console_connect(api, name, r);
    if (fd < 0)
        return;
    if (!console_hello(fd, req, mode, r)) {
        close(fd);
        return;
    }
    api_reply_bridge(req, r, fd);
}
