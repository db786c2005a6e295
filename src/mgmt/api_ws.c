/*
 * What the API's websocket routes share (api_int.h): the handshake's
 * checks, and the reply of a route whose websocket is a bridge to a
 * connected socket (the console: GET /1.0/vms/NAME/console bridges to the
 * VMM's console socket).  The stream hub (hub.h) serves them once the
 * adapter has sent the 101.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "mgmt/api_int.h"
#include "util/ws.h"

bool api_ws_accept(const ApiRequest *req, ApiResponse *r)
{
    if (!req->ws_version || strcmp(req->ws_version, "13") != 0) {
        api_error(r, 400, "websocket: Sec-WebSocket-Version must be 13");
        return false;
    }
    if (ws_accept_key(req->ws_key, r->ws_accept) < 0) {
        api_error(r, 400, "websocket: Sec-WebSocket-Key is missing or not base64 of 16 bytes");
        return false;
    }
    return true;
}

/* ---- a websocket bridged to a socket ---- */

typedef struct BridgeStream {
    int fd; /* -1 once the hub has it */
} BridgeStream;

static int bridge_open(HubConn *c, void *opaque)
{
    BridgeStream *b = opaque;
    int fd = b->fd;
    b->fd = -1;
    return hub_bridge(c, fd, NULL);
}

static void bridge_discard(void *opaque)
{
    BridgeStream *b = opaque;
    if (b->fd >= 0)
        close(b->fd);
    free(b);
}

static void bridge_close(HubConn *c, void *opaque)
{
    bridge_discard(opaque);
}

static const HubConnOps bridge_ops = {
    .on_open = bridge_open,
    .on_close = bridge_close,
};

bool api_reply_bridge(const ApiRequest *req, ApiResponse *r, int fd)
{
    BridgeStream *b = NULL;
    char *empty = NULL;
    if (!api_ws_accept(req, r))
        goto fail;
    if (!(b = malloc(sizeof(*b))) || !(empty = strdup(""))) {
        api_error(r, 500, "out of memory");
        goto fail;
    }
    b->fd = fd;
    api_reply_text(r, 101, empty);
    if (ws_header_has_token(req->ws_protocol, "binary")) /* noVNC's; a browser needs the echo */
        snprintf(r->ws_protocol, sizeof(r->ws_protocol), "binary");
    r->stream = (ApiStream){.ops = &bridge_ops, .opaque = b, .discard = bridge_discard};
    return true;
fail:
    free(b);
    close(fd);
    return false;
}
