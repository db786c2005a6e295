/*
 * The slirp uplink: a user-mode NAT (net/slirp.h, the same stack as
 * `--net user`) whose guest side is a switch port, so every VM on the
 * switch gets a DHCP lease (from .15 of the subnet), DNS (.3) and a
 * gateway (.2) that NATs to the outside through the host's sockets, and
 * host ports can be forwarded to VMs (and the forwards changed while it
 * runs: set-forwards).  No privilege is needed.
 *
 * libslirp takes every IPv4 frame it is given as its own to route (it
 * does not look at the destination MAC), so only frames addressed to it
 * go in: its addresses (52:55 followed by the IPv4 address it answers for)
 * and broadcast/multicast.  A frame the switch floods to find another VM
 * does not reach the NAT.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "net/slirp.h"
#include "net/uplink.h"
#include "util/compiler.h"

typedef struct UplinkSlirp {
    Uplink up; /* first: container_of */
    NetBackend *nb;
    uint64_t filtered; /* frames for other hosts, not given to libslirp */
} UplinkSlirp;

static UplinkSlirp *slirp_uplink_of(Uplink *u)
{
    return container_of(u, UplinkSlirp, up);
}

/* For libslirp: a group address, or one of its own (52:55:...). */
static bool slirp_addressed(const uint8_t *frame, size_t len)
{
    return len >= 6 && ((frame[0] & 1) || (frame[0] == 0x52 && frame[1] == 0x55));
}

static int slirp_uplink_output(Uplink *u, const uint8_t *frame, size_t len)
{
    UplinkSlirp *s = slirp_uplink_of(u);
    if (slirp_addressed(frame, len))
        net_backend_send(s->nb, frame, len);
    else
        s->filtered++;
    return 1; /* libslirp takes every frame at once (TCP retransmits what it drops) */
}

/* NetReceiveFn: a frame from libslirp for a VM. */
static bool slirp_uplink_receive(void *opaque, const uint8_t *frame, size_t len)
{
    uplink_input(opaque, frame, len);
    return true;
}

static size_t slirp_uplink_counters(Uplink *u, UplinkCounter *out, size_t max)
{
    if (max < 1)
        return 0;
    out[0] = (UplinkCounter){"not-for-nat", slirp_uplink_of(u)->filtered};
    return 1;
}

static int slirp_uplink_set_forwards(Uplink *u, const NetHostFwd *fwd, unsigned nfwd, Error *err)
{
    return net_slirp_set_forwards(slirp_uplink_of(u)->nb, fwd, nfwd, err);
}

static void slirp_uplink_free(Uplink *u)
{
    UplinkSlirp *s = slirp_uplink_of(u);
    net_backend_free(s->nb);
    free(s);
}

static const UplinkOps slirp_uplink_ops = {
    .kind = "slirp",
    .output = slirp_uplink_output,
    .counters = slirp_uplink_counters,
    .set_forwards = slirp_uplink_set_forwards,
    .free = slirp_uplink_free,
};

Uplink *uplink_slirp_new(const UplinkConfig *cfg, const UplinkEnv *env, Error *err)
{
    UplinkSlirp *s = calloc(1, sizeof(*s));
    if (!s) {
        error_set(err, "uplink %s: out of memory", cfg->name);
        return NULL;
    }
    char name[SWITCH_NAME_MAX + 16], label[SWITCH_NAME_MAX + 16];
    snprintf(name, sizeof(name), "uplink %s", cfg->name);
    snprintf(label, sizeof(label), "uplink %s:", cfg->name);
    NetSlirpConfig c = {
        .network = cfg->slirp.network,
        .prefix = cfg->slirp.prefix,
        .fwd = cfg->slirp.fwd,
        .nfwd = cfg->slirp.nfwd,
        .name = name,
        .fwd_label = label,
    };
    s->up.ops = &slirp_uplink_ops;
    s->nb = net_slirp_new_net(&c, env->loop, err);
    if (!s->nb) {
        free(s);
        return NULL;
    }
    net_backend_attach(s->nb, slirp_uplink_receive, &s->up);
    return &s->up;
}
