/*
 * The backend-independent half of the network backend interface (attach,
 * send, deliver, save/restore, free) and the constructor that picks the
 * backend a NetConfig names.
 */
#include "net/net.h"

#include "net/slirp.h"
#include "net/socket.h"
#include "net/tap.h"

NetBackend *net_backend_new(const NetConfig *cfg, EventLoop *loop, Error *err)
{
    switch (cfg->kind) {
    case NET_USER: return net_slirp_new(cfg, loop, err);
    case NET_TAP: return net_tap_new(cfg, loop, err);
    case NET_SOCKET:
    case NET_NETWORK: return net_socket_new(cfg, loop, err);
    case NET_NONE:
    default: error_set(err, "no network backend for --net none"); return NULL;
    }
}

void net_backend_attach(NetBackend *b, NetReceiveFn fn, void *opaque)
{
    b->receive = fn;
    b->receive_opaque = opaque;
}

void net_backend_attach_link(NetBackend *b, NetLinkFn fn)
{
    b->link = fn;
}

void net_backend_attach_can_receive(NetBackend *b, NetCanReceiveFn fn)
{
    b->can_receive = fn;
}

bool net_backend_can_receive(NetBackend *b)
{
    return !b->receive || !b->can_receive || b->can_receive(b->receive_opaque);
}

void net_backend_rx_ready(NetBackend *b)
{
    if (b->ops->rx_ready)
        b->ops->rx_ready(b);
}

void net_backend_attach_tx_ready(NetBackend *b, NetTxReadyFn fn)
{
    b->tx_ready = fn;
}

bool net_backend_can_send(NetBackend *b)
{
    return !b->ops->can_send || b->ops->can_send(b);
}

void net_backend_tx_ready(NetBackend *b)
{
    if (b->tx_ready)
        b->tx_ready(b->receive_opaque);
}

bool net_backend_link_up(const NetBackend *b)
{
    return !b->link_down;
}

void net_backend_set_link(NetBackend *b, bool up)
{
    if (b->link_down == !up)
        return;
    b->link_down = !up;
    if (b->link)
        b->link(b->receive_opaque, up);
}

void net_backend_send(NetBackend *b, const uint8_t *frame, size_t len)
{
    b->ops->send(b, frame, len);
}

bool net_backend_deliver(NetBackend *b, const uint8_t *frame, size_t len)
{
    return b->receive && b->receive(b->receive_opaque, frame, len);
}

void net_backend_stats(NetBackend *b, NetBackendStats *st)
{
    *st = (NetBackendStats){0};
    if (b->ops->stats)
        b->ops->stats(b, st);
}

const char *net_backend_state_tag(const NetBackend *b)
{
    return b->ops->save ? b->ops->state_tag : NULL;
}

uint16_t net_backend_state_version(const NetBackend *b)
{
    return b->ops->state_version ? b->ops->state_version() : 0;
}

int net_backend_save(NetBackend *b, uint8_t **blob, size_t *len, Error *err)
{
    if (!b->ops->save)
        return error_set(err, "net %s: the backend has no state to save", b->ops->name);
    return b->ops->save(b, blob, len, err);
}

int net_backend_check(NetBackend *b, uint16_t version, const uint8_t *blob, size_t len, Error *err)
{
    if (!b->ops->check)
        return error_set(err, "net %s: the backend cannot load a saved state", b->ops->name);
    if (len > NET_STATE_MAX)
        return error_set(err, "net %s: the saved state is %zu bytes (at most %u)", b->ops->name,
                         len, NET_STATE_MAX);
    if (version == 0 || version > net_backend_state_version(b))
        return error_set(err,
                         "net %s: saved state version %u is not supported (this build: "
                         "1..%u)",
                         b->ops->name, version, net_backend_state_version(b));
    return b->ops->check(b, version, blob, len, err);
}

int net_backend_load(NetBackend *b, uint16_t version, const uint8_t *blob, size_t len, Error *err)
{
    if (net_backend_check(b, version, blob, len, err) < 0)
        return -1;
    return b->ops->load(b, version, blob, len, err);
}

void net_backend_free(NetBackend *b)
{
    if (b)
        b->ops->free(b);
}
