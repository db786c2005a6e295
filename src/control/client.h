/*
 * The client side of the control socket (docs/control.md): connect to a
 * VM by name or socket path, check the greeting, and make one request at a
 * time.  Used by `hostel ctl`, `hostel pause` and `hostel resume`, and by
 * hosteld to drive VMMs and switch processes (a request may pass a file
 * descriptor: control_conn_call_fd).
 */
#ifndef HOSTEL_CONTROL_CLIENT_H
#define HOSTEL_CONTROL_CLIENT_H

#include <jansson.h>
#include <stddef.h>

#include "util/error.h"

#define CONTROL_REPLY_MAX (16u << 20) /* longest reply line a client accepts */

typedef struct ControlConn {
    int fd;
    int timeout_ms; /* per wait for a line; < 0 = no limit */
    char *buf;      /* received, not yet returned */
    size_t len, cap;
    json_int_t next_id;
} ControlConn;

/*
 * Connect to target: a socket path if it contains '/', else a VM name
 * (control_socket_path).  Reads and checks the greeting.  Returns 0, or -1
 * with err filled: "no VM named NAME is running" when nobody listens.
 */
int control_conn_open(ControlConn *c, const char *target, int timeout_ms, Error *err);
void control_conn_close(ControlConn *c);

/*
 * Execute cmd with args (NULL = none; the reference is not taken) and wait
 * for its reply, skipping events.  Returns the reply object ({"return"...}
 * or {"error"...}; a new reference), or NULL with err filled on an I/O
 * error, a timeout, or a reply that is not JSON.
 */
json_t *control_conn_call(ControlConn *c, const char *cmd, json_t *args, Error *err);

/*
 * As control_conn_call, sending fd along with the request (SCM_RIGHTS, in
 * the message that carries the request line).  The server gets its own
 * copy; the caller's fd stays open and its own.  fd < 0 sends none.
 */
json_t *control_conn_call_fd(ControlConn *c, const char *cmd, json_t *args, int fd, Error *err);

#endif
