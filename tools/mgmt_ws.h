/*
 * A websocket client of hosteld (the /1.0/events stream for `hostel
 * events`, the consoles for `hostel console`).  libcurl connects (its
 * CONNECT_ONLY mode: the unix socket, or TLS to a remote host) and
 * then carries bytes we write ourselves: the HTTP/1.1 upgrade request and
 * the frames (util/ws.h).  Debian 12's libcurl (7.88) is built without its
 * own websocket API ("ws" is not among `curl-config --protocols`), hence
 * the handshake by hand.
 */
#ifndef HOSTEL_TOOLS_MGMT_WS_H
#define HOSTEL_TOOLS_MGMT_WS_H

#include <stdbool.h>
#include <stddef.h>

#include "mgmt_client.h"
#include "util/error.h"
#include "util/ws.h"

typedef struct MgmtWs MgmtWs;

/*
 * Open a websocket to path ("/1.0/events?type=lifecycle") on the daemon t
 * names: its unix socket, or a remote over HTTPS (this client's
 * certificate, the server's key pinned: mgmt_client_setup_tls).  Returns 0
 * with *out set, or -1 with err filled: *no_daemon is set when nobody
 * listens (err says how to start hosteld); a refusal by the daemon (400,
 * 403, 404...) gives its one-line message.
 */
int mgmt_ws_connect(MgmtWs **out, const MgmtTarget *t, const char *path, bool *no_daemon,
                    Error *err);

/*
 * The next text or binary message, waiting up to timeout_ms (-1: for
 * ever); pings are answered and pongs skipped on the way.  Returns 1 with
 * *m filled (its data valid until the next call), 0 when timeout_ms passed,
 * or -1 when the stream ended: closed by the daemon (err gives its code
 * and reason) or broken.
 */
int mgmt_ws_recv(MgmtWs *ws, WsMessage *m, int timeout_ms, Error *err);

/* Send one message (TEXT or BINARY), masked as a client must.  Returns 0, or -1. */
int mgmt_ws_send(MgmtWs *ws, WsOpcode op, const void *data, size_t len, Error *err);

/* The socket, to poll beside other inputs (readable: call mgmt_ws_recv with timeout 0). */
int mgmt_ws_fd(const MgmtWs *ws);

/* Say goodbye (close 1000, best effort) and free ws; NULL is fine. */
void mgmt_ws_close(MgmtWs *ws);

#endif
