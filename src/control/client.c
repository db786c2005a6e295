/* Control socket client: line reader with a timeout, greeting check, one call at a time. */
#include "control/client.h"

#include <errno.h>
#include <poll.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "control/control.h"
#include "control/socket.h"
#include "util/fdpass.h"

/* Wait for the next line; returns it parsed (new reference) or NULL with err filled. */
static json_t *conn_read_json(ControlConn *c, Error *err)
{
    for (;;) {
        char *nl = c->len ? memchr(c->buf, '\n', c->len) : NULL;
        if (nl) {
            size_t n = (size_t)(nl - c->buf);
            json_error_t je;
            json_t *v = json_loadb(c->buf, n, 0, &je);
            memmove(c->buf, nl + 1, c->len - n - 1);
            c->len -= n + 1;
            if (!v)
                error_set(err, "the VM sent a line that is not JSON: %s", je.text);
            return v;
        }
        if (c->len == c->cap) {
            size_t cap = c->cap ? c->cap * 2 : 4096;
            char *p = cap <= CONTROL_REPLY_MAX ? realloc(c->buf, cap) : NULL;
            if (!p) {
                error_set(err, "the VM's reply is longer than %u bytes", CONTROL_REPLY_MAX);
                return NULL;
            }
            c->buf = p;
            c->cap = cap;
        }
        struct pollfd pfd = {.fd = c->fd, .events = POLLIN};
        int r = poll(&pfd, 1, c->timeout_ms);
        if (r < 0 && errno == EINTR)
            continue;
        if (r == 0) {
            error_set(err, "no answer from the VM within %g s", c->timeout_ms / 1000.0);
            return NULL;
        }
        ssize_t n = r < 0 ? -1 : recv(c->fd, c->buf + c->len, c->cap - c->len, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            error_set_errno(err, errno, "reading from the VM");
            return NULL;
        }
        if (n == 0) {
            error_set(err, "the VM closed the connection");
            return NULL;
        }
        c->len += (size_t)n;
    }
}

static int conn_greeting(ControlConn *c, Error *err)
{
    json_t *g = conn_read_json(c, err);
    if (!g)
        return -1;
    json_t *h = json_object_get(g, "hostel");
    json_t *err_obj = json_object_get(g, "error");
    int rc = 0;
    if (err_obj) {
        const char *desc = json_string_value(json_object_get(err_obj, "desc"));
        rc = error_set(err, "%s", desc ? desc : "the VM refused the connection");
    } else if (!json_is_integer(json_object_get(h, "protocol"))) {
        rc = error_set(err, "the socket did not greet as a hostel VM");
    } else if (json_integer_value(json_object_get(h, "protocol")) != CONTROL_PROTOCOL) {
        rc = error_set(err, "the VM speaks control protocol %lld; this hostel speaks %d",
                       (long long)json_integer_value(json_object_get(h, "protocol")),
                       CONTROL_PROTOCOL);
    }
    json_decref(g);
    return rc;
}

/* Connect; nobody there (no file, or nobody listening) gets the friendly message. */
static int conn_connect(const char *target, Error *err)
{
    char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
    bool is_path = strchr(target, '/') != NULL;
    if (is_path) {
        if (strlen(target) >= sizeof(path))
            return error_set(err, "socket path %s is too long", target);
        strcpy(path, target);
    } else if (control_socket_path(target, path, sizeof(path), err) < 0) {
        return -1;
    }
    Error e = {0};
    int fd = control_socket_connect(path, &e);
    if (fd >= 0)
        return fd;
    if (errno == ENOENT || errno == ECONNREFUSED) {
        if (is_path)
            return error_set(err, "no VM is listening on %s", target);
        return error_set(err, "no VM named %s is running", target);
    }
    return error_set(err, "%s", e.msg);
}

int control_conn_open(ControlConn *c, const char *target, int timeout_ms, Error *err)
{
    *c = (ControlConn){.fd = -1, .timeout_ms = timeout_ms, .next_id = 1};
    c->fd = conn_connect(target, err);
    if (c->fd < 0)
        return -1;
    if (conn_greeting(c, err) < 0) {
        control_conn_close(c);
        return -1;
    }
    return 0;
}

void control_conn_close(ControlConn *c)
{
    if (c->fd >= 0)
        close(c->fd);
    free(c->buf);
    *c = (ControlConn){.fd = -1};
}

static int conn_send(ControlConn *c, const char *text, Error *err)
{
    size_t len = strlen(text), done = 0;
    while (done < len) {
        ssize_t n = send(c->fd, text + done, len - done, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return error_set_errno(err, errno, "sending to the VM");
        done += (size_t)n;
    }
    return 0;
}

/* Send the first part of text with fd attached (SCM_RIGHTS), then the rest. */
static int conn_send_fd(ControlConn *c, const char *text, int fd, Error *err)
{
    ssize_t n = fdpass_send(c->fd, text, strlen(text), &fd, 1, MSG_NOSIGNAL);
    if (n < 0)
        return error_set_errno(err, errno, "sending to the VM");
    return conn_send(c, text + n, err);
}

/* Send one request (with fd when fd >= 0) and wait for its reply. */
static json_t *conn_request(ControlConn *c, const char *cmd, json_t *args, int fd, Error *err)
{
    json_int_t id = c->next_id++;
    json_t *req = json_pack("{s:s,s:I}", "execute", cmd, "id", id);
    if (req && args)
        json_object_set(req, "arguments", args);
    char *text = req ? json_dumps(req, JSON_COMPACT) : NULL;
    json_decref(req);
    size_t len = text ? strlen(text) : 0;
    char *line = text ? realloc(text, len + 2) : NULL;
    if (!line) {
        free(text);
        error_set(err, "out of memory");
        return NULL;
    }
    memcpy(line + len, "\n", 2);
    int rc = fd >= 0 ? conn_send_fd(c, line, fd, err) : conn_send(c, line, err);
    free(line);
    while (rc == 0) {
        json_t *reply = conn_read_json(c, err);
        if (!reply)
            return NULL;
        json_t *rid = json_object_get(reply, "id");
        bool mine = json_is_integer(rid) && json_integer_value(rid) == id;
        /* Errors about the request itself carry no id when it could not be parsed. */
        if (mine || (!rid && json_object_get(reply, "error")))
            return reply;
        json_decref(reply); /* an event, or a reply to someone else's id */
    }
    return NULL;
}

json_t *control_conn_call(ControlConn *c, const char *cmd, json_t *args, Error *err)
{
    return conn_request(c, cmd, args, -1, err);
}

json_t *control_conn_call_fd(ControlConn *c, const char *cmd, json_t *args, int fd, Error *err)
{
    return conn_request(c, cmd, args, fd, err);
}
