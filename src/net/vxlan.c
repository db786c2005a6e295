/*
 * The VXLAN header and the remote-address table.  The table is open
 * addressing with linear probing over a power-of-two array at least twice
 * the largest count, so a probe ends soon; deletion shifts the entries
 * behind the hole back (no tombstones), so ageing keeps lookups short.
 */
#include "net/vxlan.h"

#include <stdlib.h>
#include <string.h>

void vxlan_encode(uint8_t hdr[VXLAN_HDR_LEN], uint32_t vni)
{
    memset(hdr, 0, VXLAN_HDR_LEN);
    hdr[0] = VXLAN_FLAG_I;
    hdr[4] = (uint8_t)(vni >> 16);
    hdr[5] = (uint8_t)(vni >> 8);
    hdr[6] = (uint8_t)vni;
}

int vxlan_decode(const uint8_t *pkt, size_t len, uint32_t *vni)
{
    if (len < VXLAN_HDR_LEN + VXLAN_MIN_FRAME)
        return VXLAN_SHORT;
    if (!(pkt[0] & VXLAN_FLAG_I))
        return VXLAN_NO_VNI;
    *vni = (uint32_t)pkt[4] << 16 | (uint32_t)pkt[5] << 8 | pkt[6];
    return VXLAN_OK;
}

/* ---- the remote-address table ---- */

typedef struct VxlanMac {
    uint8_t mac[NET_MAC_LEN];
    bool used;
    unsigned peer;
    uint64_t seen_ns;
} VxlanMac;

struct VxlanMacTable {
    VxlanMac *slots;
    uint32_t mask; /* slots - 1 */
    uint32_t count, max;
    uint64_t ageing_ns;
};

VxlanMacTable *vxlan_macs_new(uint32_t max, uint64_t ageing_ns)
{
    uint32_t n = 16;
    while (n < 2 * (uint64_t)max && n < (1u << 30))
        n *= 2;
    VxlanMacTable *t = calloc(1, sizeof(*t));
    VxlanMac *slots = t ? calloc(n, sizeof(*slots)) : NULL;
    if (!slots) {
        free(t);
        return NULL;
    }
    *t = (VxlanMacTable){.slots = slots, .mask = n - 1, .max = max, .ageing_ns = ageing_ns};
    return t;
}

void vxlan_macs_free(VxlanMacTable *t)
{
    if (t)
        free(t->slots);
    free(t);
}

static uint32_t mac_hash(const uint8_t mac[NET_MAC_LEN])
{
    uint32_t h = 2166136261u; /* FNV-1a */
    for (int i = 0; i < NET_MAC_LEN; i++)
        h = (h ^ mac[i]) * 16777619u;
    return h;
}

/* The slot holding mac, or the empty slot where it would go. */
static uint32_t macs_slot(const VxlanMacTable *t, const uint8_t mac[NET_MAC_LEN])
{
    uint32_t i = mac_hash(mac) & t->mask;
    while (t->slots[i].used && memcmp(t->slots[i].mac, mac, NET_MAC_LEN) != 0)
        i = (i + 1) & t->mask;
    return i;
}

void vxlan_macs_learn(VxlanMacTable *t, const uint8_t mac[NET_MAC_LEN], unsigned peer,
                      uint64_t now_ns)
{
    if (mac[0] & 1)
        return; /* a group address is nobody's */
    VxlanMac *m = &t->slots[macs_slot(t, mac)];
    if (!m->used) {
        if (t->count >= t->max)
            return;
        memcpy(m->mac, mac, NET_MAC_LEN);
        m->used = true;
        t->count++;
    }
    m->peer = peer;
    m->seen_ns = now_ns;
}

static bool mac_expired(const VxlanMacTable *t, const VxlanMac *m, uint64_t now_ns)
{
    return now_ns > m->seen_ns && now_ns - m->seen_ns >= t->ageing_ns;
}

int vxlan_macs_lookup(const VxlanMacTable *t, const uint8_t mac[NET_MAC_LEN], uint64_t now_ns)
{
    const VxlanMac *m = &t->slots[macs_slot(t, mac)];
    if (!m->used || mac_expired(t, m, now_ns))
        return -1;
    return (int)m->peer;
}

/* Empty slot i, moving back the entries of the probe run behind it. */
static void macs_delete(VxlanMacTable *t, uint32_t i)
{
    uint32_t j = i;
    for (;;) {
        j = (j + 1) & t->mask;
        if (!t->slots[j].used)
            break;
        uint32_t home = mac_hash(t->slots[j].mac) & t->mask;
        /* j's entry may move to i unless its home lies cyclically in (i, j]. */
        bool stays = i <= j ? (home > i && home <= j) : (home > i || home <= j);
        if (!stays) {
            t->slots[i] = t->slots[j];
            i = j;
        }
    }
    t->slots[i].used = false;
    t->count--;
}

void vxlan_macs_age(VxlanMacTable *t, uint64_t now_ns)
{
    for (uint32_t i = 0; i <= t->mask; i++) {
        /* A deletion may move a later entry into i: look at i again. */
        while (t->slots[i].used && mac_expired(t, &t->slots[i], now_ns))
            macs_delete(t, i);
    }
}

uint32_t vxlan_macs_count(const VxlanMacTable *t)
{
    return t->count;
}
