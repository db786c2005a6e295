/*
 * The tap uplink: an existing tap interface of the host (hosteld creates
 * it and gives it an address: the host's leg on an "internal" network),
 * attached by name through the tap backend of `--net tap` (net/tap.h):
 * the same attach checks and messages, the same non-blocking reads (64
 * frames per wake-up) and writes (a frame the interface cannot take now is
 * dropped and counted).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "net/tap.h"
#include "net/uplink.h"
#include "util/compiler.h"

typedef struct UplinkTap {
    Uplink up; /* first: container_of */
    NetBackend *nb;
} UplinkTap;

static UplinkTap *tap_uplink_of(Uplink *u)
{
    return container_of(u, UplinkTap, up);
}

static int tap_uplink_output(Uplink *u, const uint8_t *frame, size_t len)
{
    net_backend_send(tap_uplink_of(u)->nb, frame, len);
    return 1; /* sent or dropped (counted in tx-dropped): never queued */
}

/* NetReceiveFn: a frame from the host's side of the interface. */
static bool tap_uplink_receive(void *opaque, const uint8_t *frame, size_t len)
{
    uplink_input(opaque, frame, len);
    return true;
}

static size_t tap_uplink_counters(Uplink *u, UplinkCounter *out, size_t max)
{
    NetBackendStats st;
    net_backend_stats(tap_uplink_of(u)->nb, &st);
    if (max < 2)
        return 0;
    out[0] = (UplinkCounter){"tap-tx-dropped", st.tx_dropped};
    out[1] = (UplinkCounter){"tap-rx-dropped", st.rx_dropped};
    return 2;
}

static void tap_uplink_free(Uplink *u)
{
    UplinkTap *t = tap_uplink_of(u);
    net_backend_free(t->nb);
    free(t);
}

static const UplinkOps tap_uplink_ops = {
    .kind = "tap",
    .output = tap_uplink_output,
    .counters = tap_uplink_counters,
    .free = tap_uplink_free,
};

Uplink *uplink_tap_new(const UplinkConfig *cfg, const UplinkEnv *env, Error *err)
{
    UplinkTap *t = calloc(1, sizeof(*t));
    if (!t) {
        error_set(err, "uplink %s: out of memory", cfg->name);
        return NULL;
    }
    NetConfig nc;
    net_config_default(&nc);
    nc.kind = NET_TAP;
    snprintf(nc.ifname, sizeof(nc.ifname), "%s", cfg->tap.ifname);
    Error e = {0};
    t->up.ops = &tap_uplink_ops;
    t->nb = net_tap_new(&nc, env->loop, &e);
    if (!t->nb) {
        error_set(err, "uplink %s: %s", cfg->name, e.msg);
        free(t);
        return NULL;
    }
    net_backend_attach(t->nb, tap_uplink_receive, &t->up);
    return &t->up;
}
