/* The kind-independent half of the uplinks: the constructor table, port modes, the ops calls. */
#include "net/uplink.h"

#include <string.h>

#include "net/switchd.h"
#include "util/compiler.h"

static const struct {
    const char *name;
    Uplink *(*create)(const UplinkConfig *cfg, const UplinkEnv *env, Error *err);
} uplink_kinds[] = {
    [UPLINK_SLIRP] = {"slirp", uplink_slirp_new},
    [UPLINK_VXLAN] = {"vxlan", uplink_vxlan_new},
    [UPLINK_TAP] = {"tap", uplink_tap_new},
};

const char *uplink_kind_name(UplinkKind kind)
{
    return (unsigned)kind < ARRAY_SIZE(uplink_kinds) ? uplink_kinds[kind].name : "?";
}

bool uplink_kind_from_name(const char *name, UplinkKind *kind)
{
    for (size_t i = 0; i < ARRAY_SIZE(uplink_kinds); i++) {
        if (strcmp(uplink_kinds[i].name, name) == 0) {
            *kind = (UplinkKind)i;
            return true;
        }
    }
    return false;
}

Uplink *uplink_new(const UplinkConfig *cfg, const UplinkEnv *env, Error *err)
{
    if ((unsigned)cfg->kind >= ARRAY_SIZE(uplink_kinds)) {
        error_set(err, "uplink %s: unknown kind", cfg->name);
        return NULL;
    }
    Uplink *u = uplink_kinds[cfg->kind].create(cfg, env, err);
    if (u) {
        u->input = env->input;
        u->input_opaque = env->input_opaque;
    }
    return u;
}

/*
 * A tunnel carries every VLAN: VLAN 1 untagged (as Linux's vxlan device
 * sends and expects), the others tagged.  A NAT or a host interface is on
 * VLAN 1, untagged.
 */
void uplink_port_config(const UplinkConfig *cfg, SwitchPortConfig *pc)
{
    switch_port_config_default(pc, cfg->name);
    pc->uplink = true;
    if (cfg->kind != UPLINK_VXLAN)
        return;
    pc->mode = SWITCH_TRUNK;
    pc->vlan = SWITCH_DEFAULT_VLAN;
    for (unsigned v = SWITCH_VLAN_MIN; v <= SWITCH_VLAN_MAX; v++)
        if (v != SWITCH_DEFAULT_VLAN)
            switchd_vlan_set(pc->allowed, v);
}

void uplink_input(Uplink *u, const uint8_t *frame, size_t len)
{
    if (u->input)
        u->input(u->input_opaque, frame, len);
}

int uplink_output(Uplink *u, const uint8_t *frame, size_t len)
{
    return u->ops->output(u, frame, len);
}

void uplink_age(Uplink *u, uint64_t now_ns)
{
    if (u->ops->age)
        u->ops->age(u, now_ns);
}

size_t uplink_counters(Uplink *u, UplinkCounter *out, size_t max)
{
    return u->ops->counters ? u->ops->counters(u, out, max) : 0;
}

int uplink_set_forwards(Uplink *u, const NetHostFwd *fwd, unsigned nfwd, Error *err)
{
    if (!u->ops->set_forwards)
        return error_set(err, "a %s uplink has no forwards (a slirp one has)", u->ops->kind);
    return u->ops->set_forwards(u, fwd, nfwd, err);
}

void uplink_free(Uplink *u)
{
    if (u)
        u->ops->free(u);
}
