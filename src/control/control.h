/*
 * The control socket: a unix socket on which a running VM answers
 * line-delimited JSON requests (QMP-like; docs/control.md).
 *
 *   server -> {"hostel": {"version": "0.1.0", "protocol": 1}}      on connect
 *   client -> {"execute": "status", "arguments": {...}, "id": 7}
 *   server -> {"return": {...}, "id": 7}
 *          or {"error": {"class": "GenericError", "desc": "..."}, "id": 7}
 *   server -> {"event": "STOP", "data": {...}}                      at any time
 *
 * The server runs on the VM's event loop (callbacks on the VM thread) and
 * knows nothing of the machine: the VMM passes a table of commands and an
 * opaque pointer handed to every handler.  Several clients may be
 * connected; each has a bounded line buffer.  A malformed request gets an
 * error reply; a line longer than CONTROL_LINE_MAX gets one and the
 * connection is closed.  The VM goes on either way.
 *
 * A request may bring one file descriptor (SCM_RIGHTS, sent with the
 * request's bytes): its handler takes it with control_take_fd(); one no
 * handler takes is closed once the request is answered.
 */
#ifndef HOSTEL_CONTROL_CONTROL_H
#define HOSTEL_CONTROL_CONTROL_H

#include <jansson.h>
#include <stddef.h>

#include "util/error.h"
#include "util/evloop.h"

#define CONTROL_PROTOCOL 1
#define CONTROL_LINE_MAX 65536     /* bytes in one request line, newline included */
#define CONTROL_MAX_CLIENTS 16     /* connections served at once; more are refused */
#define CONTROL_OUT_MAX (1u << 20) /* unsent bytes per client before it is dropped */

/*
 * A command.  args is the request's "arguments" object (an empty object
 * when absent).  Returns the "return" object (a new reference), or NULL
 * with err filled: the client gets {"error": {"class": "GenericError",
 * "desc": err.msg}}.  Handlers run on the VM thread.  A handler whose work
 * goes on after it returns (a live snapshot waits for its disks) calls
 * control_defer() and returns NULL; the reply is sent by control_complete().
 */
typedef json_t *(*ControlHandler)(void *opaque, json_t *args, Error *err);

typedef struct ControlCommand {
    const char *name;
    ControlHandler handler;
    const char *help; /* one line, listed by query-commands */
} ControlCommand;

typedef struct ControlConfig {
    const char *path;    /* the socket's path */
    const char *vm_name; /* for "a VM named NAME is already running"; NULL = use path */
    const char *version; /* hostel's version, sent in the greeting */
    const ControlCommand *commands;
    size_t ncommands;
    void *opaque; /* passed to every handler */
} ControlConfig;

typedef struct ControlServer ControlServer;

/*
 * Listen on cfg->path (mode 0600) and serve it on loop.  A socket file
 * nobody listens on (left by a crashed VM) is replaced; a live one is an
 * error, as is a path that exists and is not a socket.  The commands table
 * must outlive the server.  Returns NULL with err filled.
 */
ControlServer *control_server_new(EventLoop *loop, const ControlConfig *cfg, Error *err);

/* Close every connection (after a last attempt to send what is queued) and remove the socket. */
void control_server_free(ControlServer *s);

/*
 * Send {"event": name, "data": data} to every client.  Takes the
 * reference to data (NULL = no "data" member).
 */
void control_server_event(ControlServer *s, const char *name, json_t *data);

/*
 * A request whose reply is sent later.  The client may send further
 * requests meanwhile; their replies go out as they are answered, so
 * replies can come out of order (the "id" member tells them apart).
 */
typedef struct ControlPending ControlPending;

/*
 * Inside a handler: do not reply to the request being handled when the
 * handler returns (it returns NULL then, and err is ignored).  Returns the
 * handle for control_complete(), or NULL with err filled if out of memory
 * or not called from inside a handler (the handler then fails as usual).
 */
ControlPending *control_defer(ControlServer *s, Error *err);

/*
 * Send the reply of a deferred request and free the handle: ret (taken; a
 * new reference) as "return", or, when ret is NULL, err's message as the
 * error.  The reply is dropped if the client has gone.  Call on the VM
 * thread, once per handle, before control_server_free (which drops the
 * replies still pending: their handles are then invalid).
 */
void control_complete(ControlPending *p, json_t *ret, const Error *err);

/*
 * Inside a handler: the file descriptor that came with the request (sent
 * with SCM_RIGHTS in the same message as the request line's bytes, or
 * with a part of them).  The caller owns it from then on.  Returns -1 when
 * the request brought none, when it was taken already, or outside a
 * handler.  A descriptor no handler takes is closed after the request; of
 * several sent for one request line only the first is kept.
 */
int control_take_fd(ControlServer *s);

/* Number of connected clients. */
size_t control_server_clients(const ControlServer *s);

/*
 * The socket path of the VM named name: $XDG_RUNTIME_DIR/hostel/NAME.sock,
 * or /run/hostel/NAME.sock when XDG_RUNTIME_DIR is unset or empty.
 * Returns 0, or -1 with err filled when it does not fit in size or in a
 * socket address.
 */
int control_socket_path(const char *name, char *buf, size_t size, Error *err);

/*
 * Create the directory that holds named VMs' sockets (mode 0700) if it is
 * missing.  Returns 0, or -1 with err filled.
 */
int control_socket_dir_create(Error *err);

/*
 * Check that args has no member outside allowed (a NULL-terminated list;
 * NULL = no member allowed).  Returns 0, or -1 with err naming the first
 * unexpected member.
 */
int control_args_check(const json_t *args, const char *const *allowed, Error *err);

#endif
