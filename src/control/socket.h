/*
 * Control socket files: claiming a path for a server (replacing a stale
 * socket, refusing a live one), connecting as a client, removing it at exit.
 * Used by the server (control.c) and the client (client.c).
 */
#ifndef HOSTEL_CONTROL_SOCKET_H
#define HOSTEL_CONTROL_SOCKET_H

#include <sys/types.h>

#include "util/error.h"

/* Identifies the socket file a server created, so it removes only its own. */
typedef struct ControlSocketId {
    dev_t dev;
    ino_t ino;
} ControlSocketId;

/*
 * Create a non-blocking listening socket at path, mode 0600.  vm_name (or
 * NULL) words the error when a live VM already listens there.  Returns the
 * fd and fills id, or -1 with err filled.
 */
int control_socket_listen(const char *path, const char *vm_name, ControlSocketId *id, Error *err);

/* Remove path if it is still the socket id names. */
void control_socket_remove(const char *path, const ControlSocketId *id);

/*
 * Connect (blocking) to the socket at path.  Returns the fd, or -1 with
 * err filled and errno set (ENOENT, ECONNREFUSED: nobody is there).
 */
int control_socket_connect(const char *path, Error *err);

#endif
