/*
 * The console socket: a unix socket on which the VMM serves the guest's
 * console to any number of clients (docs/vmm.md "The console socket").
 *
 *   client -> "HOSTEL-CONSOLE 1 rw WHO\n"   (or "ro"; WHO: 1-64 bytes, no
 *                                            spaces or control characters)
 *   server -> "OK N\n", N bytes of history (oldest first), then live output
 *          or "BUSY <message>\n" and close  (rw asked, another client holds
 *                                            the input)
 *          or "ERR <message>\n" and close   (malformed hello, no hello
 *                                            within 5 s, too many clients)
 *
 * After OK, the rw client's bytes are the guest's console input (no escape
 * sequences: the client handles its own); an ro client's are discarded.
 * One rw client at a time; its input is free again when it goes.  Output
 * goes to every attached client; one whose unsent output passes
 * CONSOLE_CLIENT_OUT_MAX (beyond the history it was sent) is dropped: the
 * guest never waits for a client.  The server keeps the history ring
 * (CONSOLE_HISTORY_BYTES).
 *
 * Everything runs on the VM thread, on the VM's event loop; no threads.
 */
#ifndef HOSTEL_VMM_CONSOLE_SERVER_H
#define HOSTEL_VMM_CONSOLE_SERVER_H

#include <stddef.h>
#include <stdint.h>

#include "util/error.h"
#include "util/evloop.h"

#define CONSOLE_PROTOCOL 1
#define CONSOLE_HISTORY_BYTES (1u << 20)       /* console output kept for new clients */
#define CONSOLE_CLIENT_OUT_MAX (1u << 20)      /* live output unsent before a client is dropped */
#define CONSOLE_HELLO_TIMEOUT_NS 5000000000ull /* a client's hello must arrive within this */
#define CONSOLE_WHO_MAX 64                     /* bytes in a client's label */
#define CONSOLE_MAX_CLIENTS 16                 /* connections at once; more get ERR */

typedef struct ConsoleServerConfig {
    const char *path; /* the socket's path (mode 0600; a stale socket is replaced) */
    /*
     * The rw client's bytes go to input(opaque, buf, len), never more than
     * input_room(opaque) returned just before.  While the room is 0 the
     * client is not read; call console_server_input_ready once there is room.
     */
    size_t (*input_room)(void *opaque);
    void (*input)(void *opaque, const uint8_t *buf, size_t len);
    void *opaque;
} ConsoleServerConfig;

typedef struct ConsoleServer ConsoleServer;

/*
 * Listen on cfg->path and serve it on loop.  A live socket at the path (a
 * running VM's) or a path that is not a socket is an error.  Returns NULL
 * with err filled.
 */
ConsoleServer *console_server_new(EventLoop *loop, const ConsoleServerConfig *cfg, Error *err);

/* Close every connection (a last try to send what is queued) and remove the socket. NULL is ignored. */
void console_server_free(ConsoleServer *s);

/* Guest output: into the history and to every attached client. */
void console_server_output(ConsoleServer *s, const uint8_t *buf, size_t len);

/* The input has room again: read the rw client if it was paused. */
void console_server_input_ready(ConsoleServer *s);

/* Connections open now (attached or still saying hello). */
size_t console_server_clients(const ConsoleServer *s);

#endif
