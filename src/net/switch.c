/*
 * The virtual switch (net/switch.h): an 802.1D learning bridge with
 * 802.1Q VLANs.
 *
 * The address table is one open-addressing hash table (linear probing,
 * backward-shift deletion, no tombstones) keyed by (VLAN, MAC) with a
 * random seed, sized to twice fdb_max so it never fills.  Ports are an
 * array in the order they were added.  A frame is classified on input
 * (its VLAN, where its payload starts) and delivered to each output in the
 * form that port wants: the frame as it came when it can be (no copy),
 * else a copy with the tag added, rewritten or removed, made once per
 * frame in a scratch buffer.
 *
 * Rules beyond the header's, written down here:
 * - Ingress: a frame shorter than an Ethernet header (or than its tag),
 *   longer than NET_MAX_FRAME, or whose source address is multicast or
 *   all-zero is malformed.  A tagged frame with VID 4095 is a VLAN the
 *   port does not carry.  Only 0x8100 is a tag; 0x88a8 and any other
 *   EtherType are payload.
 * - A frame never leaves untagged looking tagged: one whose EtherType is
 *   still 0x8100 once the switch's own tag is removed (a double-tagged or
 *   priority-tagged-then-tagged frame: the VLAN hopping trick) is not sent
 *   where it would leave untagged (counted once in the input port's
 *   drop_vlan).  On a tagged egress it keeps its inner tag.
 * - PCP: a frame that came tagged keeps its priority bits when it leaves
 *   tagged; one that came untagged leaves tagged with PCP 0.
 * - Link-local control frames (01:80:c2:00:00:01..0f: pause, LACP,
 *   802.1X, LLDP...) are for the link, never forwarded (not counted as
 *   drops); 01:80:c2:00:00:00 (STP BPDUs) is flooded, as a bridge without
 *   STP does.
 * - A frame to a known address learned on the port it came from is
 *   dropped silently (it has already reached its segment).
 * - A station seen on another port moves there; if that port is at its
 *   max_macs the old entry is forgotten (the station is flooded to).
 * - The table holds at most fdb_max entries; beyond that nothing more is
 *   learned until entries age out (frames are still forwarded, flooded).
 * - An egress queue holds at most queue_frames frames and
 *   max(queue_frames x 4 KiB, 1 MiB) bytes: a stuck peer cannot make the
 *   switch hold more than that for it.
 * - Egress priority: a queue has two classes, known unicast (high) and
 *   flooded frames (broadcast, multicast, unknown unicast: low), each in
 *   the order it came; switch_port_flush() sends every high frame before
 *   any low one.  Flooded frames may fill only half the queue (its frames
 *   rounded up, and its bytes); a unicast frame that finds the queue full
 *   evicts the oldest flooded frames to make room.  So a storm on a VLAN
 *   costs its ports' unicast nothing but the wait for the frame being sent
 *   (docs/net.md, "Storms").  Every frame dropped or evicted counts in
 *   drop_queue.
 * - Rate limit (rate_bps): a token bucket on every byte the port sends,
 *   checked first, with a burst of 100 ms at the rate but at least one
 *   NET_MAX_FRAME.  Flood limit (flood_pps): broadcast, multicast and
 *   unknown unicast frames, with a burst of one second at the rate.
 *   Both are GCRA (virtual scheduling) in nanoseconds.
 * - IPv4 learning (stats.ipv4) is done for ports that are not uplinks
 *   (an uplink has many hosts behind it) and only from their untagged
 *   VLAN (the access VLAN, or a trunk's native one): the address of the
 *   host's plain interface, not of its VLAN sub-interfaces.
 * - switch_port_set_config() drops the frames queued for the port (counted
 *   in drop_queue) if its mode, VLANs, isolation or uplink flag change:
 *   they were chosen and formed under the old ones (a port moved to another
 *   VLAN must not get the old VLAN's frames).  Otherwise they stay; a
 *   shorter queue keeps the oldest and drops the newest beyond it.
 * - An output may call switch_input() (libslirp answers from inside its
 *   input); such nesting is allowed 4 deep, deeper frames are dropped and
 *   counted as drop_flood of their port (a loop).  An output must not add,
 *   remove or reconfigure ports.
 */
#include "net/switch.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "net/sniff.h"

#define NS_PER_S 1000000000ull
#define SWITCH_FDB_LIMIT (1u << 20) /* fdb_max at most */
#define SWITCH_QUEUE_LIMIT 65536    /* queue_frames at most */
#define QUEUE_BYTES_PER_FRAME 4096
#define QUEUE_BYTES_MIN (1u << 20)
#define RATE_BURST_NS (NS_PER_S / 10)
#define FLOOD_BURST_NS NS_PER_S
#define MAX_DEPTH 4
#define ETH_HDR 14
#define ETH_TYPE 12 /* offset of the EtherType of an untagged frame */
#define VLAN_TAG 4
#define TPID_8021Q 0x8100
#define SCRATCH_SIZE (NET_MAX_FRAME + VLAN_TAG)

/* A rate limiter: generic cell rate algorithm, the token bucket in time units. */
typedef struct Limiter {
    uint64_t rate;     /* units per second; 0 = no limit */
    uint64_t burst_ns; /* how far ahead of now the schedule may run */
    uint64_t tat_ns;   /* theoretical arrival time: the schedule so far */
} Limiter;

/* A queued frame. */
typedef struct QFrame {
    size_t len;
    uint8_t data[];
} QFrame;

/* One class of an egress queue: a ring of the port's qlimit slots, allocated when first needed. */
typedef struct QRing {
    QFrame **q;
    uint32_t head, len;
    size_t bytes;
} QRing;

enum { Q_UNICAST, Q_FLOOD, Q_CLASSES }; /* in the order they are sent */

/* One slot of the address table; key 0 = empty (a VLAN is never 0). */
typedef struct FdbSlot {
    uint64_t key; /* vlan << 48 | mac */
    SwitchPort *port;
    uint64_t seen_ns;
} FdbSlot;

struct SwitchPort {
    SwitchPortConfig cfg;
    SwitchOutputFn output;
    void *opaque;
    SwitchPortStats st;
    unsigned index;    /* in sw->ports */
    uint32_t nmacs;    /* table entries pointing here */
    uint32_t max_macs; /* cfg.max_macs or its default */
    Limiter rate, flood;
    QRing ring[Q_CLASSES];
    uint32_t qlimit; /* cfg.queue_frames or its default: both classes together */
    uint32_t qlen;   /* both classes */
    size_t qbytes, qmax_bytes;
    bool flushing; /* switch_port_flush() is in the output: the head it sends stays put */
};

struct Switch {
    uint64_t ageing_ns;
    uint32_t fdb_max, fdb_count, fdb_mask;
    FdbSlot *fdb;
    uint64_t seed;
    SwitchPort **ports; /* SWITCH_MAX_PORTS slots, nports used, in the order added */
    unsigned nports;
    unsigned depth;                 /* switch_input() calls in progress */
    uint8_t *scratch[MAX_DEPTH][2]; /* per depth: the untagged and the tagged copy */
};

/* One frame on its way through the switch. */
typedef struct Fwd {
    Switch *sw;
    SwitchPort *in;
    const uint8_t *frame;
    size_t len;
    size_t off;       /* the EtherType after the tag (if any): 12 or 16 */
    uint16_t vlan;    /* the frame's VLAN inside the switch */
    uint16_t pcp;     /* priority bits to tag with */
    bool tagged_vlan; /* it came tagged with vlan: leaves tagged as it is */
    bool inner_tag;   /* its EtherType after the switch's tag is 0x8100 */
    bool drop_counted;
    bool flooded;         /* sent to every port of its VLAN: low egress priority */
    const uint8_t *u, *t; /* the untagged and tagged forms, once made */
    size_t ulen, tlen;
    int ack; /* a DHCP ACK? -1 = not looked at yet, 0 = no, 1 = yes */
    uint8_t chaddr[NET_MAC_LEN];
    uint32_t yiaddr;
} Fwd;

/* ---- helpers ---- */

static uint16_t be16_at(const uint8_t *p)
{
    return (uint16_t)(p[0] << 8 | p[1]);
}

static uint64_t mac48(const uint8_t *m)
{
    return (uint64_t)m[0] << 40 | (uint64_t)m[1] << 32 | (uint64_t)m[2] << 24 |
           (uint64_t)m[3] << 16 | (uint64_t)m[4] << 8 | m[5];
}

static uint64_t fdb_key(uint16_t vlan, const uint8_t *mac)
{
    return (uint64_t)vlan << 48 | mac48(mac);
}

static bool vlan_bit(const uint8_t *set, unsigned v)
{
    return set[v / 8] >> (v % 8) & 1;
}

static bool port_carries(const SwitchPort *p, uint16_t vlan)
{
    return vlan == p->cfg.vlan || (p->cfg.mode == SWITCH_TRUNK && vlan_bit(p->cfg.allowed, vlan));
}

/* Isolation: may a frame from a go to b? */
static bool port_may_reach(const SwitchPort *a, const SwitchPort *b)
{
    return !(a->cfg.isolated && !b->cfg.uplink) && !(b->cfg.isolated && !a->cfg.uplink);
}

/* ceil(units * 1e9 / rate) without overflow (units * 1e9 fits: units <= 2^20). */
static uint64_t cost_ns(uint64_t units, uint64_t rate)
{
    uint64_t n = units * NS_PER_S;
    return n / rate + (n % rate != 0);
}

static void limiter_init(Limiter *l, uint64_t rate, uint64_t burst_ns, uint64_t max_units)
{
    l->rate = rate;
    l->tat_ns = 0;
    l->burst_ns = 0;
    if (rate) {
        uint64_t one = cost_ns(max_units, rate);
        l->burst_ns = one > burst_ns ? one : burst_ns;
    }
}

/* Take units from the limiter at now; false = over the limit (nothing taken). */
static bool limiter_take(Limiter *l, uint64_t units, uint64_t now)
{
    if (!l->rate)
        return true;
    uint64_t cost = cost_ns(units, l->rate);
    uint64_t tat = l->tat_ns > now ? l->tat_ns : now;
    if (tat - now > l->burst_ns || cost > l->burst_ns - (tat - now))
        return false;
    l->tat_ns = tat + cost;
    return true;
}

/* ---- the address table ---- */

static uint32_t fdb_home(const Switch *sw, uint64_t key)
{
    uint64_t h = key ^ sw->seed; /* murmur3's finaliser */
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdull;
    h ^= h >> 33;
    h *= 0xc4ceb9fe1a85ec53ull;
    h ^= h >> 33;
    return (uint32_t)h & sw->fdb_mask;
}

/* The slot holding key, or the empty slot where it would go. */
static uint32_t fdb_slot(const Switch *sw, uint64_t key)
{
    uint32_t i = fdb_home(sw, key);
    while (sw->fdb[i].key && sw->fdb[i].key != key)
        i = (i + 1) & sw->fdb_mask;
    return i;
}

static SwitchPort *fdb_lookup(const Switch *sw, uint64_t key)
{
    return sw->fdb[fdb_slot(sw, key)].port;
}

/* Empty slot i, shifting back the entries after it that probed past it. */
static void fdb_delete_at(Switch *sw, uint32_t i)
{
    sw->fdb[i].port->nmacs--;
    sw->fdb_count--;
    for (uint32_t j = (i + 1) & sw->fdb_mask; sw->fdb[j].key; j = (j + 1) & sw->fdb_mask) {
        uint32_t home = fdb_home(sw, sw->fdb[j].key);
        if (((j - home) & sw->fdb_mask) >= ((j - i) & sw->fdb_mask)) {
            sw->fdb[i] = sw->fdb[j];
            i = j;
        }
    }
    sw->fdb[i] = (FdbSlot){0};
}

/* Delete the entries pred selects.  A deletion may shift a later entry into slot i: look again. */
static void fdb_delete_if(Switch *sw, bool (*pred)(const FdbSlot *s, const void *arg),
                          const void *arg)
{
    for (uint32_t i = 0; i <= sw->fdb_mask;) {
        if (sw->fdb[i].key && pred(&sw->fdb[i], arg))
            fdb_delete_at(sw, i);
        else
            i++;
    }
}

static bool slot_of_port(const FdbSlot *s, const void *port)
{
    return s->port == port;
}

static void fdb_forget_port(Switch *sw, SwitchPort *p)
{
    if (p->nmacs)
        fdb_delete_if(sw, slot_of_port, p);
}

/* Learn (or refresh, or move) key on port in. */
static void fdb_learn(Switch *sw, SwitchPort *in, uint64_t key, uint64_t now)
{
    uint32_t i = fdb_slot(sw, key);
    FdbSlot *s = &sw->fdb[i];
    if (s->key && s->port == in) {
        s->seen_ns = now;
    } else if (s->key) { /* the station moved */
        if (in->nmacs >= in->max_macs) {
            fdb_delete_at(sw, i);
            return;
        }
        s->port->nmacs--;
        s->port = in;
        s->seen_ns = now;
        in->nmacs++;
    } else if (in->nmacs < in->max_macs && sw->fdb_count < sw->fdb_max) {
        *s = (FdbSlot){.key = key, .port = in, .seen_ns = now};
        in->nmacs++;
        sw->fdb_count++;
    }
}

/* ---- the switch ---- */

Switch *switch_new(const SwitchConfig *cfg, Error *err)
{
    uint32_t fdb_max = cfg && cfg->fdb_max ? cfg->fdb_max : SWITCH_DEFAULT_FDB_MAX;
    uint32_t ageing = cfg && cfg->ageing_s ? cfg->ageing_s : SWITCH_DEFAULT_AGEING;
    if (fdb_max > SWITCH_FDB_LIMIT) {
        error_set(err, "switch: an address table of %u entries is too large (at most %u)", fdb_max,
                  SWITCH_FDB_LIMIT);
        return NULL;
    }
    uint32_t size = 16;
    while (size < 2 * fdb_max)
        size *= 2;
    Switch *sw = calloc(1, sizeof(*sw));
    if (sw) {
        sw->fdb = calloc(size, sizeof(*sw->fdb));
        sw->ports = calloc(SWITCH_MAX_PORTS, sizeof(*sw->ports));
    }
    if (!sw || !sw->fdb || !sw->ports) {
        switch_free(sw);
        error_set(err, "switch: out of memory");
        return NULL;
    }
    sw->fdb_max = fdb_max;
    sw->fdb_mask = size - 1;
    sw->ageing_ns = (uint64_t)ageing * NS_PER_S;
    if (getrandom(&sw->seed, sizeof(sw->seed), GRND_NONBLOCK) != sizeof(sw->seed))
        sw->seed = (uint64_t)(uintptr_t)sw * 0x9e3779b97f4a7c15ull;
    return sw;
}

/* The oldest frame of a class, taken out of the ring (the caller frees or keeps it). */
static QFrame *ring_pop(SwitchPort *p, QRing *r)
{
    QFrame *f = r->q[r->head];
    r->q[r->head] = NULL;
    r->head = (r->head + 1) % p->qlimit;
    r->len--;
    r->bytes -= f->len;
    p->qlen--;
    p->qbytes -= f->len;
    return f;
}

/* Drop every queued frame; counted if count. */
static void port_queue_clear(SwitchPort *p, bool count)
{
    for (int c = 0; c < Q_CLASSES; c++) {
        QRing *r = &p->ring[c];
        while (r->len) {
            free(ring_pop(p, r));
            if (count)
                p->st.drop_queue++;
        }
        r->head = 0;
    }
}

static void port_queue_free(SwitchPort *p)
{
    port_queue_clear(p, false);
    for (int c = 0; c < Q_CLASSES; c++) {
        free(p->ring[c].q);
        p->ring[c].q = NULL;
    }
}

static void port_free(SwitchPort *p)
{
    port_queue_free(p);
    free(p);
}

void switch_free(Switch *sw)
{
    if (!sw)
        return;
    for (unsigned i = 0; i < sw->nports; i++)
        port_free(sw->ports[i]);
    for (unsigned d = 0; d < MAX_DEPTH; d++) {
        free(sw->scratch[d][0]);
        free(sw->scratch[d][1]);
    }
    free(sw->ports);
    free(sw->fdb);
    free(sw);
}

/* ---- port options ---- */

void switch_port_config_default(SwitchPortConfig *cfg, const char *name)
{
    memset(cfg, 0, sizeof(*cfg));
    snprintf(cfg->name, sizeof(cfg->name), "%s", name ? name : "");
    cfg->mode = SWITCH_ACCESS;
    cfg->vlan = SWITCH_DEFAULT_VLAN;
}

static int check_name(const char *name, Error *err)
{
    size_t n = strnlen(name, SWITCH_NAME_MAX);
    if (n == 0 || n >= SWITCH_NAME_MAX)
        return error_set(err, "switch port: a name is 1 to %d characters", SWITCH_NAME_MAX - 1);
    for (size_t i = 0; i < n; i++) {
        char c = name[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == ':' || c == '-'))
            return error_set(err, "switch port '%s': a name is made of letters, digits and ._:-",
                             name);
    }
    return 0;
}

static int check_trunk(const SwitchPortConfig *cfg, Error *err)
{
    if (cfg->vlan > SWITCH_VLAN_MAX)
        return error_set(err, "switch port '%s': native VLAN %u is not 0 (none) or 1..%d",
                         cfg->name, cfg->vlan, SWITCH_VLAN_MAX);
    if (vlan_bit(cfg->allowed, 0) || vlan_bit(cfg->allowed, SWITCH_VLAN_MAX + 1))
        return error_set(err, "switch port '%s': allowed VLANs are 1..%d", cfg->name,
                         SWITCH_VLAN_MAX);
    for (unsigned v = SWITCH_VLAN_MIN; v <= SWITCH_VLAN_MAX; v++)
        if (vlan_bit(cfg->allowed, v))
            return 0;
    if (!cfg->vlan)
        return error_set(err, "switch port '%s': a trunk with no allowed VLAN and no native one",
                         cfg->name);
    return 0;
}

int switch_port_config_check(const SwitchPortConfig *cfg, Error *err)
{
    if (check_name(cfg->name, err) < 0)
        return -1;
    if (cfg->mode == SWITCH_TRUNK) {
        if (check_trunk(cfg, err) < 0)
            return -1;
    } else if (cfg->mode != SWITCH_ACCESS) {
        return error_set(err, "switch port '%s': mode is access or trunk", cfg->name);
    } else if (cfg->vlan < SWITCH_VLAN_MIN || cfg->vlan > SWITCH_VLAN_MAX) {
        return error_set(err, "switch port '%s': VLAN %u is not 1..%d", cfg->name, cfg->vlan,
                         SWITCH_VLAN_MAX);
    }
    if (cfg->spoof_check && ((cfg->mac[0] & 1) || mac48(cfg->mac) == 0))
        return error_set(err, "switch port '%s': spoof checking needs a unicast MAC address",
                         cfg->name);
    if (cfg->isolated && cfg->uplink)
        return error_set(err, "switch port '%s': an uplink cannot be isolated", cfg->name);
    if (cfg->queue_frames > SWITCH_QUEUE_LIMIT)
        return error_set(err, "switch port '%s': a queue of %u frames is too long (at most %d)",
                         cfg->name, cfg->queue_frames, SWITCH_QUEUE_LIMIT);
    return 0;
}

/* Give the port its (checked) options; the name is the caller's business. */
static void port_apply(SwitchPort *p, const SwitchPortConfig *cfg)
{
    p->cfg = *cfg;
    if (cfg->mode == SWITCH_ACCESS) /* the allowed set means nothing there */
        memset(p->cfg.allowed, 0, sizeof(p->cfg.allowed));
    p->max_macs = cfg->max_macs ? cfg->max_macs : SWITCH_DEFAULT_PORT_MACS;
    limiter_init(&p->rate, cfg->rate_bps, RATE_BURST_NS, (uint64_t)NET_MAX_FRAME * 8);
    limiter_init(&p->flood, cfg->flood_pps, FLOOD_BURST_NS, 1);
    p->qmax_bytes = (size_t)(cfg->queue_frames ? cfg->queue_frames : SWITCH_DEFAULT_QUEUE) *
                    QUEUE_BYTES_PER_FRAME;
    if (p->qmax_bytes < QUEUE_BYTES_MIN)
        p->qmax_bytes = QUEUE_BYTES_MIN;
}

SwitchPort *switch_port_find(Switch *sw, const char *name)
{
    for (unsigned i = 0; i < sw->nports; i++)
        if (strcmp(sw->ports[i]->cfg.name, name) == 0)
            return sw->ports[i];
    return NULL;
}

SwitchPort *switch_port_add(Switch *sw, const SwitchPortConfig *cfg, SwitchOutputFn output,
                            void *opaque, Error *err)
{
    if (switch_port_config_check(cfg, err) < 0)
        return NULL;
    if (!output) {
        error_set(err, "switch port '%s': no output", cfg->name);
        return NULL;
    }
    if (switch_port_find(sw, cfg->name)) {
        error_set(err, "switch port '%s' already exists", cfg->name);
        return NULL;
    }
    if (sw->nports >= SWITCH_MAX_PORTS) {
        error_set(err, "switch port '%s': the switch has %d ports already", cfg->name,
                  SWITCH_MAX_PORTS);
        return NULL;
    }
    SwitchPort *p = calloc(1, sizeof(*p));
    if (!p) {
        error_set(err, "switch port '%s': out of memory", cfg->name);
        return NULL;
    }
    port_apply(p, cfg);
    p->qlimit = cfg->queue_frames ? cfg->queue_frames : SWITCH_DEFAULT_QUEUE;
    p->output = output;
    p->opaque = opaque;
    p->index = sw->nports;
    sw->ports[sw->nports++] = p;
    return p;
}

void switch_port_remove(Switch *sw, SwitchPort *p)
{
    fdb_forget_port(sw, p);
    memmove(&sw->ports[p->index], &sw->ports[p->index + 1],
            (sw->nports - p->index - 1) * sizeof(*sw->ports));
    sw->nports--;
    for (unsigned i = p->index; i < sw->nports; i++)
        sw->ports[i]->index = i;
    port_free(p);
}

/* Would frames chosen and formed for options a be wrong for options b? */
static bool forwarding_changes(const SwitchPortConfig *a, const SwitchPortConfig *b)
{
    return a->mode != b->mode || a->vlan != b->vlan || a->isolated != b->isolated ||
           a->uplink != b->uplink ||
           (b->mode == SWITCH_TRUNK && memcmp(a->allowed, b->allowed, sizeof(a->allowed)) != 0);
}

/* Drop every queued frame (counted). */
static void port_queue_drop(SwitchPort *p)
{
    port_queue_clear(p, true);
}

/* The frames flooded frames may use of a queue of limit frames: half, rounded up. */
static uint32_t flood_limit(uint32_t limit)
{
    return limit - limit / 2;
}

/*
 * A new queue limit: of each class the oldest frames that fit stay (unicast
 * first, flooded frames within their share), the newest beyond it are dropped.
 */
static int port_queue_resize(SwitchPort *p, uint32_t limit, Error *err)
{
    if (limit == p->qlimit)
        return 0;
    QFrame **q[Q_CLASSES] = {NULL, NULL};
    for (int c = 0; c < Q_CLASSES; c++) {
        if (p->ring[c].q && !(q[c] = calloc(limit, sizeof(*q[c])))) {
            free(q[0]);
            return error_set(err, "switch port '%s': out of memory", p->cfg.name);
        }
    }
    uint32_t room = limit;
    for (int c = 0; c < Q_CLASSES; c++) {
        QRing *r = &p->ring[c];
        uint32_t keep = c == Q_FLOOD && room > flood_limit(limit) ? flood_limit(limit) : room;
        uint32_t n = 0;
        while (r->len) {
            QFrame *f = ring_pop(p, r);
            if (n < keep) {
                q[c][n++] = f;
                continue;
            }
            p->st.drop_queue++;
            free(f);
        }
        free(r->q);
        *r = (QRing){.q = q[c], .len = n};
        room -= n;
    }
    p->qlimit = limit;
    p->qlen = p->ring[Q_UNICAST].len + p->ring[Q_FLOOD].len;
    p->qbytes = 0;
    for (int c = 0; c < Q_CLASSES; c++) {
        QRing *r = &p->ring[c];
        for (uint32_t n = 0; n < r->len; n++)
            r->bytes += r->q[n]->len;
        p->qbytes += r->bytes;
    }
    return 0;
}

int switch_port_set_config(Switch *sw, SwitchPort *p, const SwitchPortConfig *cfg, Error *err)
{
    SwitchPortConfig c = *cfg;
    memcpy(c.name, p->cfg.name, sizeof(c.name));
    if (c.mode == SWITCH_ACCESS)
        memset(c.allowed, 0, sizeof(c.allowed));
    if (switch_port_config_check(&c, err) < 0 ||
        port_queue_resize(p, c.queue_frames ? c.queue_frames : SWITCH_DEFAULT_QUEUE, err) < 0)
        return -1;
    if (forwarding_changes(&p->cfg, &c))
        port_queue_drop(p);
    fdb_forget_port(sw, p);
    port_apply(p, &c);
    return 0;
}

const SwitchPortConfig *switch_port_config(const SwitchPort *p)
{
    return &p->cfg;
}

void switch_port_stats(const SwitchPort *p, SwitchPortStats *st)
{
    *st = p->st;
    st->queued = p->qlen;
}

void switch_port_foreach(Switch *sw, void (*fn)(void *opaque, SwitchPort *port), void *opaque)
{
    for (unsigned i = 0; i < sw->nports;) {
        SwitchPort *p = sw->ports[i];
        fn(opaque, p);
        if (i < sw->nports && sw->ports[i] == p) /* fn may remove the port it was given */
            i++;
    }
}

/* ---- egress ---- */

static bool queue_full(const SwitchPort *p, size_t len)
{
    return p->qlen >= p->qlimit || p->qbytes + len > p->qmax_bytes;
}

/*
 * Room for a frame of the class: a flooded frame within its share; a
 * unicast one evicts the oldest flooded frames if the queue is full (not
 * while the flush is sending the head of theirs).
 */
static bool queue_make_room(SwitchPort *p, int cls, size_t len)
{
    QRing *fl = &p->ring[Q_FLOOD];
    if (cls == Q_FLOOD)
        return !queue_full(p, len) && fl->len < flood_limit(p->qlimit) &&
               fl->bytes + len <= p->qmax_bytes / 2;
    const QRing *uc = &p->ring[Q_UNICAST];
    if (uc->len >= p->qlimit || uc->bytes + len > p->qmax_bytes)
        return false;
    while (queue_full(p, len) && fl->len && !p->flushing) {
        free(ring_pop(p, fl));
        p->st.drop_queue++;
    }
    return !queue_full(p, len);
}

static void port_enqueue(SwitchPort *p, int cls, const uint8_t *frame, size_t len)
{
    QRing *r = &p->ring[cls];
    if (!queue_make_room(p, cls, len)) {
        p->st.drop_queue++;
        return;
    }
    if (!r->q && !(r->q = calloc(p->qlimit, sizeof(*r->q)))) {
        p->st.drop_queue++;
        return;
    }
    QFrame *f = malloc(sizeof(*f) + len);
    if (!f) {
        p->st.drop_queue++;
        return;
    }
    f->len = len;
    memcpy(f->data, frame, len);
    r->q[(r->head + r->len) % p->qlimit] = f;
    r->len++;
    r->bytes += len;
    p->qlen++;
    p->qbytes += len;
}

static void port_sent(SwitchPort *p, int r, size_t len)
{
    if (r > 0) {
        p->st.tx_frames++;
        p->st.tx_bytes += len;
    } else {
        p->st.drop_gone++;
    }
}

/*
 * Hand a frame to the port's output, or queue it behind what already waits
 * of its class and of the classes sent before it.
 */
static void port_send(SwitchPort *p, bool flooded, const uint8_t *frame, size_t len)
{
    int cls = flooded ? Q_FLOOD : Q_UNICAST;
    if (p->flushing || (flooded ? p->qlen : p->ring[Q_UNICAST].len)) {
        port_enqueue(p, cls, frame, len);
        return;
    }
    int r = p->output(p->opaque, frame, len, flooded);
    if (r == 0)
        port_enqueue(p, cls, frame, len);
    else
        port_sent(p, r, len);
}

bool switch_port_pending(const SwitchPort *p)
{
    return p->qlen != 0;
}

void switch_port_flush(Switch *sw, SwitchPort *p)
{
    (void)sw;
    while (p->qlen && !p->flushing) {
        QRing *q = &p->ring[p->ring[Q_UNICAST].len ? Q_UNICAST : Q_FLOOD];
        QFrame *f = q->q[q->head];
        p->flushing = true;
        int r = p->output(p->opaque, f->data, f->len, q == &p->ring[Q_FLOOD]);
        p->flushing = false;
        if (r == 0)
            return;
        f = ring_pop(p, q);
        port_sent(p, r, f->len);
        free(f);
    }
}

/* ---- one frame through the switch ---- */

static void fwd_drop(Fwd *f, uint64_t *counter)
{
    if (!f->drop_counted)
        (*counter)++;
    f->drop_counted = true;
}

/* Which VLAN the frame belongs to; false = dropped (counted). */
static bool fwd_classify(Fwd *f)
{
    SwitchPort *in = f->in;
    if (f->len < ETH_HDR || f->len > NET_MAX_FRAME) {
        in->st.drop_malformed++;
        return false;
    }
    uint16_t tci = 0;
    f->off = ETH_TYPE;
    if (be16_at(f->frame + ETH_TYPE) == TPID_8021Q) {
        if (f->len < ETH_HDR + VLAN_TAG) {
            in->st.drop_malformed++;
            return false;
        }
        tci = be16_at(f->frame + ETH_TYPE + 2);
        f->off = ETH_TYPE + VLAN_TAG;
    }
    uint16_t vid = tci & 0xfff;
    f->pcp = tci >> 13;
    f->tagged_vlan = vid != 0;
    if (vid == 0) /* untagged or priority-tagged: the port's untagged VLAN */
        f->vlan = in->cfg.vlan;
    else if (in->cfg.mode == SWITCH_TRUNK && vid <= SWITCH_VLAN_MAX &&
             (vid == in->cfg.vlan || vlan_bit(in->cfg.allowed, vid)))
        f->vlan = vid;
    else
        f->vlan = 0;
    if (f->vlan == 0) {
        in->st.drop_vlan++;
        return false;
    }
    f->inner_tag = be16_at(f->frame + f->off) == TPID_8021Q;
    if (f->inner_tag && !f->tagged_vlan && in->cfg.mode == SWITCH_ACCESS) {
        in->st.drop_vlan++; /* tagged behind a priority tag: a tagged frame on an access port */
        return false;
    }
    return true;
}

/* The source may send: a unicast address, the port's own if it is checked. */
static bool fwd_source_ok(Fwd *f)
{
    const uint8_t *src = f->frame + NET_MAC_LEN;
    static const uint8_t zero[NET_MAC_LEN];
    if ((src[0] & 1) || memcmp(src, zero, NET_MAC_LEN) == 0) {
        f->in->st.drop_malformed++;
        return false;
    }
    if (f->in->cfg.spoof_check && memcmp(src, f->in->cfg.mac, NET_MAC_LEN) != 0) {
        f->in->st.drop_spoof++;
        return false;
    }
    return true;
}

static uint8_t *fwd_scratch(Fwd *f, int which)
{
    uint8_t **s = &f->sw->scratch[f->sw->depth - 1][which];
    if (!*s)
        *s = malloc(SCRATCH_SIZE);
    return *s;
}

/* The frame without a tag; NULL if memory ran out. */
static const uint8_t *fwd_untagged(Fwd *f, size_t *len)
{
    if (!f->u && f->off == ETH_TYPE) {
        f->u = f->frame;
        f->ulen = f->len;
    } else if (!f->u) {
        uint8_t *b = fwd_scratch(f, 0);
        if (!b)
            return NULL;
        memcpy(b, f->frame, ETH_TYPE);
        memcpy(b + ETH_TYPE, f->frame + f->off, f->len - f->off);
        f->u = b;
        f->ulen = f->len - VLAN_TAG;
    }
    *len = f->ulen;
    return f->u;
}

/* The frame with the tag of its VLAN; NULL if memory ran out or it would be too long. */
static const uint8_t *fwd_tagged(Fwd *f, size_t *len)
{
    if (!f->t && f->tagged_vlan) {
        f->t = f->frame;
        f->tlen = f->len;
    } else if (!f->t) {
        size_t body = f->len - f->off;
        uint8_t *b = ETH_TYPE + VLAN_TAG + body <= NET_MAX_FRAME ? fwd_scratch(f, 1) : NULL;
        if (!b)
            return NULL;
        uint16_t tci = (uint16_t)(f->pcp << 13 | f->vlan);
        memcpy(b, f->frame, ETH_TYPE);
        b[12] = TPID_8021Q >> 8, b[13] = TPID_8021Q & 0xff;
        b[14] = (uint8_t)(tci >> 8), b[15] = (uint8_t)tci;
        memcpy(b + ETH_TYPE + VLAN_TAG, f->frame + f->off, body);
        f->t = b;
        f->tlen = ETH_TYPE + VLAN_TAG + body;
    }
    *len = f->tlen;
    return f->t;
}

/* A host on a port: not an uplink, and the frame is on the port's untagged VLAN. */
static bool port_learns_ipv4(const SwitchPort *p, uint16_t vlan)
{
    return !p->cfg.uplink && vlan == p->cfg.vlan;
}

/* The sender's IPv4 address from its own ARP or IPv4 frames. */
static void fwd_learn_source_ipv4(Fwd *f)
{
    uint16_t type = be16_at(f->frame + f->off);
    size_t len;
    const uint8_t *u;
    uint32_t ip;
    if ((type == 0x0800 || type == 0x0806) && port_learns_ipv4(f->in, f->vlan) &&
        (u = fwd_untagged(f, &len)) && net_sniff_source_ipv4(u, len, &ip))
        f->in->st.ipv4 = htonl(ip);
}

/* A DHCP ACK going to out (untagged): is it out's host's address? */
static void fwd_learn_ack(Fwd *f, SwitchPort *out, const uint8_t *u, size_t len)
{
    if (f->ack < 0)
        f->ack = net_sniff_dhcp_ack(u, len, f->chaddr, &f->yiaddr);
    if (!f->ack)
        return;
    bool mine = out->cfg.spoof_check ? memcmp(out->cfg.mac, f->chaddr, NET_MAC_LEN) == 0
                                     : fdb_lookup(f->sw, fdb_key(f->vlan, f->chaddr)) == out;
    if (mine)
        out->st.ipv4 = htonl(f->yiaddr);
}

static void fwd_deliver(Fwd *f, SwitchPort *out)
{
    bool tagged = f->vlan != out->cfg.vlan; /* a trunk's VLAN other than its native one */
    size_t len = 0;
    const uint8_t *p;
    if (!tagged && f->inner_tag) { /* would leave untagged looking tagged */
        fwd_drop(f, &f->in->st.drop_vlan);
        return;
    }
    if (tagged && f->len - f->off + ETH_TYPE + VLAN_TAG > NET_MAX_FRAME) {
        fwd_drop(f, &f->in->st.drop_malformed);
        return;
    }
    p = tagged ? fwd_tagged(f, &len) : fwd_untagged(f, &len);
    if (!p) {
        out->st.drop_queue++; /* no memory for the copy */
        return;
    }
    if (!tagged && port_learns_ipv4(out, f->vlan) && be16_at(p + ETH_TYPE) == 0x0800)
        fwd_learn_ack(f, out, p, len);
    port_send(out, f->flooded, p, len);
}

static bool is_link_local(const uint8_t *dst)
{
    return dst[0] == 0x01 && dst[1] == 0x80 && dst[2] == 0xc2 && dst[3] == 0 && dst[4] == 0 &&
           (dst[5] & 0xf0) == 0 && dst[5] != 0;
}

static void fwd_flood(Fwd *f, uint64_t now)
{
    if (!limiter_take(&f->in->flood, 1, now)) {
        f->in->st.drop_flood++;
        return;
    }
    f->flooded = true;
    for (unsigned i = 0; i < f->sw->nports; i++) {
        SwitchPort *p = f->sw->ports[i];
        if (p != f->in && port_carries(p, f->vlan) && port_may_reach(f->in, p))
            fwd_deliver(f, p);
    }
}

static void fwd_forward(Fwd *f, uint64_t now)
{
    const uint8_t *dst = f->frame;
    if (dst[0] & 1) {
        if (!is_link_local(dst))
            fwd_flood(f, now);
        return;
    }
    SwitchPort *out = fdb_lookup(f->sw, fdb_key(f->vlan, dst));
    if (!out) {
        fwd_flood(f, now);
    } else if (out != f->in && port_carries(out, f->vlan) && port_may_reach(f->in, out)) {
        fwd_deliver(f, out);
    }
}

void switch_input(Switch *sw, SwitchPort *in, const uint8_t *frame, size_t len, uint64_t now_ns)
{
    in->st.rx_frames++;
    in->st.rx_bytes += len;
    if (sw->depth >= MAX_DEPTH) {
        in->st.drop_flood++; /* fed back from inside outputs too deep: a loop */
        return;
    }
    if (!limiter_take(&in->rate, (uint64_t)len * 8, now_ns)) {
        in->st.drop_rate++;
        return;
    }
    Fwd f = {.sw = sw, .in = in, .frame = frame, .len = len, .ack = -1};
    if (!fwd_classify(&f) || !fwd_source_ok(&f))
        return;
    sw->depth++;
    fdb_learn(sw, in, fdb_key(f.vlan, frame + NET_MAC_LEN), now_ns);
    fwd_learn_source_ipv4(&f);
    fwd_forward(&f, now_ns);
    sw->depth--;
}

/* ---- ageing and the table's contents ---- */

typedef struct AgeArg {
    uint64_t now, ageing;
} AgeArg;

static bool slot_expired(const FdbSlot *s, const void *arg)
{
    const AgeArg *a = arg;
    return a->now >= s->seen_ns && a->now - s->seen_ns >= a->ageing;
}

void switch_age(Switch *sw, uint64_t now_ns)
{
    AgeArg a = {now_ns, sw->ageing_ns};
    if (sw->fdb_count)
        fdb_delete_if(sw, slot_expired, &a);
}

void switch_fdb_foreach(Switch *sw, void (*fn)(void *opaque, const SwitchFdbEntry *e), void *opaque)
{
    for (uint32_t i = 0; i <= sw->fdb_mask; i++) {
        const FdbSlot *s = &sw->fdb[i];
        if (!s->key)
            continue;
        SwitchFdbEntry e = {
            .vlan = (uint16_t)(s->key >> 48), .port = s->port, .last_seen_ns = s->seen_ns};
        for (int b = 0; b < NET_MAC_LEN; b++)
            e.mac[b] = (uint8_t)(s->key >> (40 - 8 * b));
        fn(opaque, &e);
    }
}
