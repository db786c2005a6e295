/*
 * The virtual switch's core (net/switch.h), driven by hand: fake ports
 * whose outputs record what they are given (or refuse it, or report the
 * peer gone) and a clock the tests set.
 *   - port options: the defaults, every check, unique names, the port
 *     limit, find/foreach, removal;
 *   - learning by (VLAN, MAC), flooding of broadcast, multicast and unknown
 *     unicast, never back out of the input port, a station that moves,
 *     ageing, the table's size and the per-port limit, malformed frames;
 *   - 802.1Q: access and trunk ports both ways (exact bytes), native VLANs,
 *     priority tags, PCP, VID 4095, double tags, no leak across VLANs
 *     (a randomised run with an invariant checker on every output);
 *   - isolation, spoof checking, the rate and flood limits;
 *   - egress queues: order, limits in frames and bytes, flush, a gone peer;
 *   - IPv4 learning from ARP/IPv4 and DHCP ACKs; an output that feeds a
 *     frame back in (as libslirp does); the cost of forwarding one frame.
 */
#include <arpa/inet.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "net/sniff.h"
#include "net/switch.h"
#include "tap.h"

#define MS 1000000ull
#define SEC 1000000000ull
#define KEEP 512 /* bytes of each sent frame a peer keeps */
#define MAX_SENT 128

/* ---- fake ports ---- */

typedef struct Sent {
    size_t len;
    uint8_t data[KEEP];
} Sent;

typedef struct Peer {
    SwitchPort *port;
    int ret;    /* what the output returns: 1 sent, 0 busy, -1 gone */
    int budget; /* with ret 1 and budget > 0: frames taken before it turns busy; < 0 = no limit */
    unsigned n; /* frames taken */
    Sent sent[MAX_SENT];
    void (*hook)(struct Peer *p, const uint8_t *f, size_t len); /* called on each taken frame */
} Peer;

static int peer_output(void *opaque, const uint8_t *f, size_t len, bool flooded)
{
    (void)flooded;
    Peer *p = opaque;
    if (p->ret != 1)
        return p->ret;
    if (p->budget == 0)
        return 0;
    if (p->budget > 0)
        p->budget--;
    if (p->n < MAX_SENT) {
        p->sent[p->n].len = len;
        memcpy(p->sent[p->n].data, f, len < KEEP ? len : KEEP);
    }
    p->n++;
    if (p->hook)
        p->hook(p, f, len);
    return 1;
}

static void peer_reset(Peer *p)
{
    p->n = 0;
}

static Switch *sw_new(uint32_t ageing_s, uint32_t fdb_max)
{
    Error err = {0};
    SwitchConfig c = {.ageing_s = ageing_s, .fdb_max = fdb_max};
    Switch *sw = switch_new(&c, &err);
    if (!sw) {
        printf("Bail out! %s\n", err.msg);
        exit(1);
    }
    return sw;
}

static SwitchPort *add(Switch *sw, Peer *p, const SwitchPortConfig *c)
{
    Error err = {0};
    memset(p, 0, sizeof(*p));
    p->ret = 1;
    p->budget = -1;
    p->port = switch_port_add(sw, c, peer_output, p, &err);
    if (!p->port) {
        printf("Bail out! %s\n", err.msg);
        exit(1);
    }
    return p->port;
}

static SwitchPort *add_access(Switch *sw, Peer *p, const char *name, uint16_t vlan)
{
    SwitchPortConfig c;
    switch_port_config_default(&c, name);
    c.vlan = vlan;
    return add(sw, p, &c);
}

static void allow(SwitchPortConfig *c, uint16_t v)
{
    c->allowed[v / 8] |= (uint8_t)(1u << (v % 8));
}

/* A trunk carrying the VLANs of the 0-terminated list, native VLAN native. */
static SwitchPort *add_trunk(Switch *sw, Peer *p, const char *name, uint16_t native,
                             const uint16_t *vlans)
{
    SwitchPortConfig c;
    switch_port_config_default(&c, name);
    c.mode = SWITCH_TRUNK;
    c.vlan = native;
    for (; *vlans; vlans++)
        allow(&c, *vlans);
    return add(sw, p, &c);
}

static SwitchPortStats stats(const SwitchPort *port)
{
    SwitchPortStats st;
    switch_port_stats(port, &st);
    return st;
}

/* ---- frames ---- */

/* 02:00:00:00:hi:lo, a locally administered unicast address. */
static void mac(uint8_t m[6], unsigned n)
{
    const uint8_t b[6] = {0x02, 0, 0, 0, (uint8_t)(n >> 8), (uint8_t)n};
    memcpy(m, b, 6);
}

static const uint8_t BCAST[6] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
static const uint8_t MCAST[6] = {0x01, 0x00, 0x5e, 0x00, 0x00, 0xfb};

/*
 * Build a frame dst, src, [tag 0x8100 tci], type, then payload bytes
 * 0xa0, 0xa1, ... up to total length len (at least 14 or 18).  tci < 0 =
 * untagged.  Returns len.
 */
static size_t frame_to(uint8_t *b, const uint8_t *dst, const uint8_t *src, int tci, uint16_t type,
                       size_t len)
{
    size_t o = 12;
    memcpy(b, dst, 6);
    memcpy(b + 6, src, 6);
    if (tci >= 0) {
        b[12] = 0x81, b[13] = 0x00, b[14] = (uint8_t)(tci >> 8), b[15] = (uint8_t)tci;
        o = 16;
    }
    b[o] = (uint8_t)(type >> 8), b[o + 1] = (uint8_t)type;
    for (size_t i = o + 2; i < len; i++)
        b[i] = (uint8_t)(0xa0 + i - o);
    return len;
}

/* Unicast from station s to station d (by number), untagged, 64 bytes. */
static size_t uni(uint8_t *b, unsigned d, unsigned s)
{
    uint8_t dm[6], sm[6];
    mac(dm, d);
    mac(sm, s);
    return frame_to(b, dm, sm, -1, 0x88b5, 64);
}

/* A broadcast from station s: 64 bytes untagged, 68 tagged (the same payload either way). */
static size_t bcast(uint8_t *b, unsigned s, int tci)
{
    uint8_t sm[6];
    mac(sm, s);
    return frame_to(b, BCAST, sm, tci, 0x88b5, tci >= 0 ? 68 : 64);
}

static void in(Switch *sw, SwitchPort *port, const uint8_t *f, size_t len, uint64_t now)
{
    switch_input(sw, port, f, len, now);
}

/* ---- port options ---- */

static bool check_fails(const SwitchPortConfig *c, const char *want)
{
    Error err = {0};
    if (switch_port_config_check(c, &err) == 0) {
        printf("#   accepted\n");
        return false;
    }
    if (!strstr(err.msg, want)) {
        printf("#   error: %s\n", err.msg);
        return false;
    }
    return true;
}

static void test_config(void)
{
    SwitchPortConfig c, d;
    Error err = {0};
    switch_port_config_default(&c, "vm1.0");
    ok(strcmp(c.name, "vm1.0") == 0 && c.mode == SWITCH_ACCESS && c.vlan == 1 && !c.uplink &&
           !c.isolated && !c.spoof_check && !c.rate_bps && !c.flood_pps && !c.queue_frames &&
           !c.max_macs,
       "default: access on VLAN 1, no limits, no checks");
    ok(switch_port_config_check(&c, &err) == 0, "the default passes the check");
    switch_port_config_default(&d, "a:b-C_9.x");
    ok(switch_port_config_check(&d, &err) == 0, "a name of letters, digits and ._:-");
    char long_name[80];
    memset(long_name, 'n', sizeof(long_name));
    long_name[63] = 0;
    switch_port_config_default(&d, long_name);
    ok(switch_port_config_check(&d, &err) == 0, "63 characters fit");
    memset(d.name, 'n', sizeof(d.name)); /* no NUL in the array */
    ok(check_fails(&d, "1 to 63"), "a name that fills the array is refused");
    switch_port_config_default(&d, "");
    ok(check_fails(&d, "1 to 63"), "an empty name is refused");
    switch_port_config_default(&d, "a b");
    ok(check_fails(&d, "letters, digits"), "a space in a name is refused");
    switch_port_config_default(&d, "a/b");
    ok(check_fails(&d, "letters, digits"), "a slash in a name is refused");

    d = c, d.vlan = 0;
    ok(check_fails(&d, "VLAN 0 is not 1..4094"), "access VLAN 0 is refused");
    d = c, d.vlan = 4095;
    ok(check_fails(&d, "VLAN 4095 is not 1..4094"), "access VLAN 4095 is refused");
    d = c, d.vlan = 4094;
    ok(switch_port_config_check(&d, &err) == 0, "access VLAN 4094 is fine");
    d = c, d.mode = (SwitchPortMode)7;
    ok(check_fails(&d, "access or trunk"), "an unknown mode is refused");

    d = c, d.mode = SWITCH_TRUNK, d.vlan = 0;
    ok(check_fails(&d, "no allowed VLAN and no native"), "a trunk that carries nothing");
    d.vlan = 1;
    ok(switch_port_config_check(&d, &err) == 0, "a trunk with only a native VLAN");
    d.vlan = 0, allow(&d, 4094);
    ok(switch_port_config_check(&d, &err) == 0, "a trunk with only tagged VLANs (4094)");
    d.vlan = 4095;
    ok(check_fails(&d, "native VLAN 4095"), "native VLAN 4095 is refused");
    d.vlan = 0, allow(&d, 0);
    ok(check_fails(&d, "allowed VLANs are 1..4094"), "VLAN 0 in the allowed set is refused");
    d = c, d.mode = SWITCH_TRUNK, allow(&d, 4095);
    ok(check_fails(&d, "allowed VLANs are 1..4094"), "VLAN 4095 in the allowed set is refused");
    d = c, allow(&d, 0), allow(&d, 30);
    ok(switch_port_config_check(&d, &err) == 0, "an access port ignores the allowed set");

    d = c, d.isolated = true, d.uplink = true;
    ok(check_fails(&d, "an uplink cannot be isolated"), "isolated and uplink together");
    d = c, d.queue_frames = 65537;
    ok(check_fails(&d, "too long"), "a queue longer than 65536 frames");
    d = c, d.spoof_check = true;
    ok(check_fails(&d, "unicast MAC"), "spoof checking with no MAC");
    memcpy(d.mac, MCAST, 6);
    ok(check_fails(&d, "unicast MAC"), "spoof checking with a multicast MAC");

    SwitchConfig big = {.fdb_max = (1u << 20) + 1};
    ok(switch_new(&big, &err) == NULL && strstr(err.msg, "too large"),
       "an address table over 2^20 entries is refused: %s", err.msg);
    Switch *sw = switch_new(NULL, &err);
    ok(sw != NULL, "a switch with the defaults (NULL config)");
    switch_free(sw);
}

static void count_port(void *opaque, SwitchPort *port)
{
    char *names = opaque;
    strcat(names, switch_port_config(port)->name);
    strcat(names, " ");
}

static void remove_b(void *opaque, SwitchPort *port)
{
    Switch *sw = opaque;
    if (strcmp(switch_port_config(port)->name, "b") == 0)
        switch_port_remove(sw, port);
}

static void test_ports(void)
{
    Switch *sw = sw_new(0, 0);
    static Peer a, b, c, x;
    Error err = {0};
    add_access(sw, &a, "a", 1);
    add_access(sw, &b, "b", 1);
    add_access(sw, &c, "c", 1);
    SwitchPortConfig cfg;
    switch_port_config_default(&cfg, "b");
    ok(switch_port_add(sw, &cfg, peer_output, &x, &err) == NULL &&
           strstr(err.msg, "already exists"),
       "a name in use is refused: %s", err.msg);
    cfg.vlan = 0;
    ok(switch_port_add(sw, &cfg, peer_output, &x, &err) == NULL && strstr(err.msg, "VLAN"),
       "bad options are refused on add");
    ok(switch_port_find(sw, "b") == b.port && switch_port_find(sw, "nope") == NULL, "find by name");
    char names[64] = "";
    switch_port_foreach(sw, count_port, names);
    ok(strcmp(names, "a b c ") == 0, "foreach in the order added: %s", names);
    switch_port_foreach(sw, remove_b, sw);
    names[0] = 0;
    switch_port_foreach(sw, count_port, names);
    ok(strcmp(names, "a c ") == 0 && !switch_port_find(sw, "b"),
       "foreach's callback may remove its port: %s", names);
    ok(switch_port_config(a.port)->vlan == 1 && strcmp(switch_port_config(c.port)->name, "c") == 0,
       "a port's options");
    switch_free(sw);

    sw = sw_new(0, 0);
    static Peer many;
    int added = 0;
    for (int i = 0; i < SWITCH_MAX_PORTS; i++) {
        char name[16];
        snprintf(name, sizeof(name), "p%d", i);
        switch_port_config_default(&cfg, name);
        added += switch_port_add(sw, &cfg, peer_output, &many, &err) != NULL;
    }
    switch_port_config_default(&cfg, "one-more");
    ok(added == SWITCH_MAX_PORTS && !switch_port_add(sw, &cfg, peer_output, &many, &err) &&
           strstr(err.msg, "1024 ports"),
       "%d ports, then no more: %s", added, err.msg);
    switch_port_remove(sw, switch_port_find(sw, "p17"));
    ok(switch_port_add(sw, &cfg, peer_output, &many, &err) != NULL, "a removed port makes room");
    switch_free(sw);
}

/* ---- learning and flooding ---- */

typedef struct FdbFind {
    uint8_t mac[6];
    uint16_t vlan;
    const SwitchPort *port;
    unsigned count, found;
    uint64_t seen;
} FdbFind;

static void fdb_visit(void *opaque, const SwitchFdbEntry *e)
{
    FdbFind *f = opaque;
    f->count++;
    if (memcmp(e->mac, f->mac, 6) == 0 && e->vlan == f->vlan) {
        f->found++;
        f->port = e->port;
        f->seen = e->last_seen_ns;
    }
}

/* Where the table has station n on vlan (NULL = nowhere); *count = entries in all. */
static const SwitchPort *fdb_where(Switch *sw, unsigned n, uint16_t vlan, unsigned *count)
{
    FdbFind f = {.vlan = vlan};
    mac(f.mac, n);
    switch_fdb_foreach(sw, fdb_visit, &f);
    if (count)
        *count = f.count;
    return f.found == 1 ? f.port : NULL;
}

typedef struct PortCount {
    const SwitchPort *port;
    unsigned n;
} PortCount;

static void port_count_visit(void *opaque, const SwitchFdbEntry *e)
{
    PortCount *c = opaque;
    c->n += e->port == c->port;
}

static unsigned fdb_count_port(Switch *sw, const SwitchPort *port)
{
    PortCount c = {port, 0};
    switch_fdb_foreach(sw, port_count_visit, &c);
    return c.n;
}

static void reset3(Peer *a, Peer *b, Peer *c)
{
    peer_reset(a), peer_reset(b), peer_reset(c);
}

static void test_learning(void)
{
    Switch *sw = sw_new(0, 0);
    static Peer a, b, c;
    uint8_t f[128];
    size_t n;
    add_access(sw, &a, "a", 1);
    add_access(sw, &b, "b", 1);
    add_access(sw, &c, "c", 1);
    /* stations 1 on a, 2 on b, 3 on c */
    n = uni(f, 2, 1);
    in(sw, a.port, f, n, 0);
    ok(a.n == 0 && b.n == 1 && c.n == 1, "unknown unicast: flooded to every other port");
    ok(b.sent[0].len == n && memcmp(b.sent[0].data, f, n) == 0, "the frame as it came");
    unsigned count;
    ok(fdb_where(sw, 1, 1, &count) == a.port && count == 1, "the source is learned on its port");
    reset3(&a, &b, &c);
    n = uni(f, 1, 2);
    in(sw, b.port, f, n, 1);
    ok(a.n == 1 && b.n == 0 && c.n == 0, "known unicast: to its port only");
    reset3(&a, &b, &c);
    n = bcast(f, 3, -1);
    in(sw, c.port, f, n, 2);
    ok(a.n == 1 && b.n == 1 && c.n == 0, "broadcast: every other port");
    reset3(&a, &b, &c);
    uint8_t sm[6];
    mac(sm, 1);
    n = frame_to(f, MCAST, sm, -1, 0x0800, 60);
    in(sw, a.port, f, n, 3);
    ok(a.n == 0 && b.n == 1 && c.n == 1, "multicast: every other port");
    reset3(&a, &b, &c);
    n = uni(f, 3, 1);
    in(sw, a.port, f, n, 4);
    ok(c.n == 1 && a.n == 0 && b.n == 0, "station 3 is known from its broadcast");
    reset3(&a, &b, &c);
    n = uni(f, 1, 9); /* from a station 9 on a to station 1, also on a */
    in(sw, a.port, f, n, 5);
    ok(a.n == 0 && b.n == 0 && c.n == 0, "to a station on the input port: nowhere, not back");
    ok(fdb_where(sw, 9, 1, NULL) == a.port, "the sender was still learned");

    /* station 1 moves from a to c */
    n = uni(f, 2, 1);
    in(sw, c.port, f, n, 6);
    ok(fdb_where(sw, 1, 1, &count) == c.port && count == 4, "a station that moved is re-learned");
    reset3(&a, &b, &c);
    n = uni(f, 1, 2);
    in(sw, b.port, f, n, 7);
    ok(c.n == 1 && a.n == 0, "frames for it follow it");

    /* link-local control frames stay on their link; STP BPDUs are flooded */
    reset3(&a, &b, &c);
    uint8_t pause[6] = {0x01, 0x80, 0xc2, 0, 0, 0x01}, lldp[6] = {0x01, 0x80, 0xc2, 0, 0, 0x0e};
    uint8_t stp[6] = {0x01, 0x80, 0xc2, 0, 0, 0};
    in(sw, a.port, f, frame_to(f, pause, sm, -1, 0x8808, 60), 8);
    in(sw, a.port, f, frame_to(f, lldp, sm, -1, 0x88cc, 60), 8);
    ok(b.n == 0 && c.n == 0 && stats(a.port).drop_malformed == 0,
       "pause and LLDP frames are not forwarded");
    in(sw, a.port, f, frame_to(f, stp, sm, -1, 0x0026, 60), 8);
    ok(b.n == 1 && c.n == 1, "STP BPDUs are flooded (a bridge without STP)");
    SwitchPortStats st = stats(a.port);
    ok(st.rx_frames == 7 && st.rx_bytes == 64 * 3 + 60 * 4, "rx counters: %llu frames",
       (unsigned long long)st.rx_frames);
    st = stats(b.port);
    ok(st.tx_frames == 5 && st.tx_bytes == 64 * 3 + 60 * 2, "tx counters: %llu frames, %llu bytes",
       (unsigned long long)st.tx_frames, (unsigned long long)st.tx_bytes);
    switch_free(sw);
}

static void test_ageing(void)
{
    Switch *sw = sw_new(10, 0);
    static Peer a, b, c;
    uint8_t f[128];
    add_access(sw, &a, "a", 1);
    add_access(sw, &b, "b", 1);
    add_access(sw, &c, "c", 1);
    in(sw, a.port, f, uni(f, 2, 1), 0);
    in(sw, b.port, f, uni(f, 1, 2), 5 * SEC);
    FdbFind ff = {.vlan = 1};
    mac(ff.mac, 2);
    switch_fdb_foreach(sw, fdb_visit, &ff);
    ok(ff.found == 1 && ff.seen == 5 * SEC, "an entry records when it was last seen");
    switch_age(sw, 10 * SEC - 1);
    ok(fdb_where(sw, 1, 1, NULL) == a.port && fdb_where(sw, 2, 1, NULL) == b.port,
       "just under the ageing time: kept");
    switch_age(sw, 10 * SEC);
    ok(fdb_where(sw, 1, 1, NULL) == NULL && fdb_where(sw, 2, 1, NULL) == b.port,
       "at the ageing time: forgotten (the other, seen later, kept)");
    reset3(&a, &b, &c);
    in(sw, b.port, f, uni(f, 1, 2), 12 * SEC);
    ok(a.n == 1 && c.n == 1, "an aged-out station is flooded to again");
    in(sw, b.port, f, uni(f, 1, 2), 14 * SEC); /* refreshes 2 */
    switch_age(sw, 20 * SEC);
    ok(fdb_where(sw, 2, 1, NULL) == b.port, "traffic refreshes an entry");
    switch_age(sw, 24 * SEC);
    unsigned count;
    ok(fdb_where(sw, 2, 1, &count) == NULL && count == 0, "then it ages out too");
    switch_free(sw);

    sw = sw_new(0, 0);
    add_access(sw, &a, "a", 1);
    in(sw, a.port, f, uni(f, 2, 1), 0);
    switch_age(sw, 299 * SEC);
    ok(fdb_where(sw, 1, 1, NULL) == a.port, "default ageing: 300 s (kept at 299 s)");
    switch_age(sw, 300 * SEC);
    ok(fdb_where(sw, 1, 1, NULL) == NULL, "default ageing: gone at 300 s");
    switch_free(sw);
}

static void test_table_limits(void)
{
    Switch *sw = sw_new(0, 8);
    static Peer a, b, c;
    uint8_t f[128];
    add_access(sw, &a, "a", 1);
    add_access(sw, &b, "b", 1);
    for (unsigned s = 100; s < 112; s++)
        in(sw, a.port, f, uni(f, 1, s), 0);
    unsigned count;
    fdb_where(sw, 0, 1, &count);
    ok(count == 8, "the table holds fdb_max (8) entries: %u", count);
    ok(b.n == 12, "frames from stations not learned are still forwarded");
    peer_reset(&a);
    in(sw, b.port, f, uni(f, 111, 2), 0);
    ok(a.n == 1 && fdb_where(sw, 111, 1, NULL) == NULL, "a station not learned is flooded to");
    switch_age(sw, 300 * SEC);
    in(sw, b.port, f, uni(f, 1, 2), 300 * SEC);
    ok(fdb_where(sw, 2, 1, NULL) == b.port, "room again once entries aged out");
    switch_free(sw);

    /* a port flooding random sources fills only its own share */
    sw = sw_new(0, 0);
    SwitchPortConfig cfg;
    switch_port_config_default(&cfg, "a");
    cfg.max_macs = 3;
    add(sw, &a, &cfg);
    add_access(sw, &b, "b", 1);
    add_access(sw, &c, "c", 1);
    for (unsigned s = 1000; s < 1100; s++)
        in(sw, a.port, f, uni(f, 1, s), 0);
    ok(fdb_count_port(sw, a.port) == 3, "a port holds at most max_macs (3) entries");
    ok(b.n == 100 && c.n == 100, "frames beyond the limit are still forwarded");
    in(sw, b.port, f, uni(f, 1, 2), 0);
    ok(fdb_where(sw, 2, 1, NULL) == b.port, "other ports still learn");
    /* a station moving to a full port: forgotten, not left pointing to the old port */
    in(sw, b.port, f, uni(f, 1, 5), 0);
    in(sw, a.port, f, uni(f, 1, 5), 0);
    ok(fdb_where(sw, 5, 1, NULL) == NULL && fdb_count_port(sw, a.port) == 3,
       "a station moving to a full port is forgotten");
    switch_free(sw);

    sw = sw_new(0, 0);
    add_access(sw, &a, "a", 1);
    for (unsigned s = 1; s < 400; s++)
        in(sw, a.port, f, uni(f, 4000, s), 0);
    ok(fdb_count_port(sw, a.port) == SWITCH_DEFAULT_PORT_MACS, "default per-port limit: %d",
       SWITCH_DEFAULT_PORT_MACS);
    switch_free(sw);
}

/*
 * The table after deletions: in a small, crowded table (8 entries in 16
 * slots) half the entries age out, round after round with new addresses;
 * every entry left must still be found (known unicast, not flooded), and
 * learning it again must not make a second one.
 */
static void test_table_deletions(void)
{
    Switch *sw = sw_new(10, 8);
    static Peer a, b, c;
    uint8_t f[128];
    add_access(sw, &a, "a", 1);
    add_access(sw, &b, "b", 1);
    add_access(sw, &c, "c", 1);
    unsigned lost = 0, twice = 0;
    for (unsigned r = 0; r < 300; r++) {
        uint64_t t0 = (uint64_t)r * 1000 * SEC;
        unsigned base = 100 + r * 8;
        for (unsigned i = 0; i < 8; i++)
            in(sw, b.port, f, uni(f, 1, base + i), t0 + (i % 2) * 5 * SEC);
        switch_age(sw, t0 + 10 * SEC); /* the even ones go */
        peer_reset(&c);
        for (unsigned i = 1; i < 8; i += 2) {
            in(sw, a.port, f, uni(f, base + i, 1), t0 + 10 * SEC);
            in(sw, b.port, f, uni(f, 1, base + i), t0 + 10 * SEC);
            FdbFind ff = {.vlan = 1};
            mac(ff.mac, base + i);
            switch_fdb_foreach(sw, fdb_visit, &ff);
            twice += ff.found != 1;
        }
        lost += c.n;
        switch_age(sw, t0 + 100 * SEC);
    }
    ok(lost == 0 && twice == 0,
       "300 rounds of ageing half a crowded table: nothing lost (%u), "
       "nothing twice (%u)",
       lost, twice);
    switch_free(sw);
}

static void test_malformed(void)
{
    Switch *sw = sw_new(0, 0);
    static Peer a, b;
    static uint8_t f[NET_MAX_FRAME + 8];
    add_access(sw, &a, "a", 1);
    add_access(sw, &b, "b", 1);
    size_t n = bcast(f, 1, -1);
    in(sw, a.port, f, 13, 0);
    in(sw, a.port, f, 0, 0);
    in(sw, a.port, NULL, 0, 0);
    n = bcast(f, 1, 5);
    in(sw, a.port, f, 17, 0);
    uint8_t src[6];
    memcpy(src, MCAST, 6);
    in(sw, a.port, f, frame_to(f, BCAST, src, -1, 0x0800, 60), 0);
    memset(src, 0, 6);
    in(sw, a.port, f, frame_to(f, BCAST, src, -1, 0x0800, 60), 0);
    mac(src, 1);
    in(sw, a.port, f, frame_to(f, BCAST, src, -1, 0x0800, NET_MAX_FRAME + 1), 0);
    SwitchPortStats st = stats(a.port);
    ok(st.drop_malformed == 7 && b.n == 0,
       "runts, a cut tag, multicast and zero sources, an oversized frame: malformed (%llu)",
       (unsigned long long)st.drop_malformed);
    ok(st.rx_frames == 7 && st.rx_bytes == 13 + 17 + 60 + 60 + NET_MAX_FRAME + 1,
       "dropped frames are counted as received");
    unsigned count;
    fdb_where(sw, 0, 1, &count);
    ok(count == 0, "nothing learned from them");
    in(sw, a.port, f, frame_to(f, BCAST, src, -1, 0x0800, 14), 0);
    in(sw, a.port, f, frame_to(f, BCAST, src, -1, 0x0800, NET_MAX_FRAME), 0);
    ok(b.n == 2 && b.sent[1].len == NET_MAX_FRAME, "a bare header and a NET_MAX_FRAME frame pass");
    (void)n;
    switch_free(sw);
}

/* ---- VLANs ---- */

/* Did peer p get exactly the frame want (len n) as its frame i? */
static bool got(const Peer *p, unsigned i, const uint8_t *want, size_t n)
{
    if (i >= p->n || p->sent[i].len != n || memcmp(p->sent[i].data, want, n) != 0) {
        printf("#   frame %u of %u: len %zu, want %zu\n", i, p->n, i < p->n ? p->sent[i].len : 0,
               n);
        return false;
    }
    return true;
}

static void test_access_vlans(void)
{
    Switch *sw = sw_new(0, 0);
    static Peer a, b, c;
    uint8_t f[128], w[128];
    add_access(sw, &a, "a", 10);
    add_access(sw, &b, "b", 10);
    add_access(sw, &c, "c", 20);
    size_t n = bcast(f, 1, -1);
    in(sw, a.port, f, n, 0);
    ok(b.n == 1 && c.n == 0, "access VLAN 10: a broadcast reaches VLAN 10 only");
    in(sw, c.port, f, uni(f, 1, 3), 0); /* station 3 on c (VLAN 20) sends to station 1 */
    ok(a.n == 0 && b.n == 1 && fdb_where(sw, 3, 20, NULL) == c.port &&
           fdb_where(sw, 3, 10, NULL) == NULL,
       "station 1 is known in VLAN 10 only: nothing crosses to it from VLAN 20");
    peer_reset(&b);
    in(sw, a.port, f, uni(f, 3, 1), 0);
    ok(b.n == 1 && c.n == 0, "to a station of another VLAN: unknown here, flooded in VLAN 10 only");

    /* the same MAC in two VLANs: two entries */
    in(sw, c.port, f, uni(f, 9, 1), 0);
    ok(fdb_where(sw, 1, 10, NULL) == a.port && fdb_where(sw, 1, 20, NULL) == c.port,
       "learning is per (VLAN, MAC)");

    peer_reset(&b);
    n = bcast(f, 1, 10);
    in(sw, a.port, f, n, 0);
    ok(b.n == 0 && stats(a.port).drop_vlan == 1,
       "a tagged frame (even its own VID) on access: dropped");
    n = bcast(f, 1, 0x5000); /* priority tag: PCP 2, VID 0 */
    in(sw, a.port, f, n, 0);
    size_t wn = bcast(w, 1, -1);
    ok(got(&b, 0, w, wn), "a priority-tagged frame on access: untagged VLAN 10, tag stripped");
    switch_free(sw);
}

static void test_trunks(void)
{
    Switch *sw = sw_new(0, 0);
    static Peer t, t2, a, c, nat, t0;
    uint8_t f[128], w[128];
    size_t n, wn;
    const uint16_t vl[] = {10, 20, 0}, vl2[] = {20, 1, 0}, vl0[] = {10, 0};
    add_trunk(sw, &t, "t", 1, vl);     /* native 1, tagged 10 and 20 */
    add_trunk(sw, &t2, "t2", 10, vl2); /* native 10, tagged 1 and 20 */
    add_trunk(sw, &t0, "t0", 0, vl0);  /* no native, tagged 10 */
    add_access(sw, &a, "a", 10);
    add_access(sw, &c, "c", 20);
    add_access(sw, &nat, "n", 1);

    /* access -> trunks */
    n = bcast(f, 1, -1);
    in(sw, a.port, f, n, 0);
    wn = bcast(w, 1, 10);
    ok(got(&t, 0, w, wn) && t.n == 1, "access 10 -> trunk: tagged 0x8100 VID 10, PCP 0");
    ok(got(&t2, 0, f, n) && t2.n == 1, "access 10 -> trunk with native 10: untagged");
    ok(got(&t0, 0, w, wn), "access 10 -> trunk without native: tagged");
    ok(c.n == 0 && nat.n == 0, "not to the other VLANs' access ports");

    /* trunk -> access: tagged in, untagged out */
    n = bcast(f, 2, 0xa014); /* PCP 5, VID 20 */
    in(sw, t.port, f, n, 0);
    wn = bcast(w, 2, -1);
    ok(got(&c, 0, w, wn) && c.n == 1, "trunk VID 20 -> access 20: untagged, exactly");
    ok(got(&t2, 1, f, n), "trunk VID 20 -> trunk carrying 20: as it came (PCP 5 kept)");
    ok(a.n == 0 && nat.n == 0 && t0.n == 1, "VLAN 20 goes nowhere else");

    /* untagged on a trunk = its native VLAN; VID == native is native too */
    n = bcast(f, 3, -1);
    in(sw, t.port, f, n, 0);
    ok(got(&nat, 0, f, n), "untagged on trunk (native 1) -> access 1: untagged");
    wn = bcast(w, 3, 1);
    ok(got(&t2, 2, w, wn), "native 1 -> trunk carrying 1 tagged: tagged VID 1");
    n = bcast(f, 4, 1);
    in(sw, t.port, f, n, 0);
    wn = bcast(w, 4, -1);
    ok(got(&nat, 1, w, wn), "trunk tagged VID 1 (= native) -> access 1: untagged");
    n = bcast(f, 5, 0x2000); /* priority tag, PCP 1 */
    in(sw, t.port, f, n, 0);
    wn = bcast(w, 5, -1);
    ok(got(&nat, 2, w, wn), "trunk priority-tagged: native VLAN, tag stripped");
    wn = bcast(w, 5, 0x2001);
    ok(got(&t2, 4, w, wn), "... and tagged VID 1 on a trunk carrying it, PCP 1 kept");
    n = bcast(f, 6, -1);
    in(sw, nat.port, f, n, 0);
    ok(got(&t, t.n - 1, f, n), "access 1 -> trunk with native 1: untagged");

    /* refused on trunks */
    SwitchPortStats before = stats(t.port);
    unsigned a_n = a.n, c_n = c.n, nat_n = nat.n, t2_n = t2.n;
    in(sw, t.port, f, bcast(f, 7, 30), 0);   /* VID 30 not allowed */
    in(sw, t.port, f, bcast(f, 7, 4095), 0); /* reserved VID */
    ok(stats(t.port).drop_vlan == before.drop_vlan + 2,
       "trunk: VID 30 (not allowed), 4095: dropped");
    in(sw, t0.port, f, bcast(f, 7, -1), 0);
    in(sw, t0.port, f, bcast(f, 7, 0), 0);
    in(sw, t0.port, f, bcast(f, 7, 20), 0);
    ok(stats(t0.port).drop_vlan == 3,
       "trunk without native: untagged, priority-tagged and VID 20 dropped");
    ok(a.n == a_n && c.n == c_n && nat.n == nat_n && t2.n == t2_n, "none of them went anywhere");

    /* trunk -> trunk with a native in between: t tagged 10 -> t2 (native 10) untagged */
    n = bcast(f, 8, 10);
    in(sw, t.port, f, n, 0);
    wn = bcast(w, 8, -1);
    ok(got(&t2, t2.n - 1, w, wn) && got(&a, a.n - 1, w, wn),
       "trunk VID 10 -> trunk native 10 and access 10: untagged");
    n = bcast(f, 9, -1);
    in(sw, t2.port, f, n, 0);
    wn = bcast(w, 9, 10);
    ok(got(&t, t.n - 1, w, wn), "trunk native 10 untagged -> trunk: tagged VID 10");

    /* unicast learned through a trunk goes back tagged */
    in(sw, t.port, f, bcast(f, 2, 10), 0); /* station 2 behind t, VLAN 10 */
    unsigned tn = t.n;
    n = uni(f, 2, 1); /* from station 1 on a */
    in(sw, a.port, f, n, 0);
    uint8_t d[6], s[6];
    mac(d, 2), mac(s, 1);
    wn = frame_to(w, d, s, 10, 0x88b5, 68);
    ok(t.n == tn + 1 && got(&t, tn, w, wn), "known unicast to a station behind a trunk: tagged");
    switch_free(sw);
}

static void test_odd_tags(void)
{
    Switch *sw = sw_new(0, 0);
    static Peer t, t2, t3, a, b, nat;
    uint8_t f[128];
    size_t n;
    const uint16_t vl[] = {10, 20, 0}, vl2[] = {1, 0}, vl3[] = {20, 0};
    add_trunk(sw, &t, "t", 1, vl);
    add_trunk(sw, &t2, "t2", 10, vl2);
    add_trunk(sw, &t3, "t3", 0, vl3);
    add_access(sw, &a, "a", 10);
    add_access(sw, &b, "b", 10);
    add_access(sw, &nat, "n", 1);
    uint8_t src[6];
    mac(src, 1);

    /* 0x88a8 and other EtherTypes are payload */
    n = frame_to(f, BCAST, src, -1, 0x88a8, 64);
    in(sw, a.port, f, n, 0);
    ok(got(&b, 0, f, n), "0x88a8 on access: an ordinary frame of VLAN 10");
    ok(t.n == 1 && t.sent[0].data[12] == 0x81 && t.sent[0].data[16] == 0x88 &&
           t.sent[0].data[17] == 0xa8,
       "... tagged VID 10 on the trunk, 0x88a8 behind the tag");

    /* double tags: never leave untagged looking tagged */
    uint8_t inner[128];
    n = frame_to(inner, BCAST, src, 0x0000, 0x8100, 64); /* priority tag, then 0x8100 */
    inner[18] = 0x00, inner[19] = 20;                    /* inner VID 20 */
    unsigned bn = b.n;
    in(sw, a.port, inner, n, 0);
    ok(b.n == bn && stats(a.port).drop_vlan == 1, "access: priority tag + inner tag dropped");
    n = frame_to(inner, BCAST, src, 1, 0x8100, 64); /* VID 1 (t's native), inner 0x8100 */
    inner[18] = 0x00, inner[19] = 20;
    unsigned nn = nat.n, t2n = t2.n;
    in(sw, t.port, inner, n, 0);
    ok(nat.n == nn && stats(t.port).drop_vlan == 1,
       "trunk native VID + inner tag: not sent untagged (counted once)");
    ok(t2.n == t2n + 1 && got(&t2, t2n, inner, n),
       "... but sent tagged, both tags kept, where VLAN 1 is tagged");
    n = frame_to(inner, BCAST, src, 20, 0x8100, 64); /* QinQ 8100/8100 in VLAN 20 */
    in(sw, t.port, inner, n, 0);
    ok(got(&t3, 0, inner, n) && stats(t.port).drop_vlan == 1,
       "QinQ (8100/8100) between trunks carrying it tagged: as it came, no drop");

    /* an untagged frame too long to tag: not sent tagged */
    static uint8_t big[NET_MAX_FRAME];
    n = frame_to(big, BCAST, src, -1, 0x0800, NET_MAX_FRAME);
    unsigned tn = t.n, bn2 = b.n;
    in(sw, a.port, big, n, 0);
    ok(t.n == tn && b.n == bn2 + 1 && stats(a.port).drop_malformed == 1,
       "a NET_MAX_FRAME frame: untagged to access, too long to tag for the trunk (counted)");
    switch_free(sw);
}

/* Invariant checker for the randomised run: every frame out is right for its port. */
typedef struct Rnd {
    Peer peer;
    SwitchPort *port;
    SwitchPortConfig cfg;
    unsigned bad;
} Rnd;

static SwitchPort *rnd_in; /* the port of the frame being switched */
static uint16_t rnd_vlan;  /* its VLAN */
static Rnd rnd_ports[12];

static bool rnd_reach(const SwitchPortConfig *a, const SwitchPortConfig *b)
{
    return !(a->isolated && !b->uplink) && !(b->isolated && !a->uplink);
}

static int rnd_output(void *opaque, const uint8_t *f, size_t len, bool flooded)
{
    (void)flooded;
    Rnd *r = opaque;
    const SwitchPortConfig *c = &r->cfg, *ic = switch_port_config(rnd_in);
    r->peer.n++;
    bool tagged = len >= 16 && f[12] == 0x81 && f[13] == 0;
    uint16_t vid = tagged ? (uint16_t)((f[14] << 8 | f[15]) & 0xfff) : c->vlan;
    bool right = r->port != rnd_in && vid == rnd_vlan && rnd_reach(ic, c) &&
                 (tagged ? c->mode == SWITCH_TRUNK && vid != c->vlan &&
                               (c->allowed[vid / 8] >> (vid % 8) & 1)
                         : c->vlan == vid) &&
                 f[tagged ? 18 : 14] == (uint8_t)rnd_vlan; /* the payload says its VLAN */
    r->bad += !right;
    return 1;
}

static void test_no_leak(void)
{
    Switch *sw = sw_new(0, 64);
    Error err = {0};
    srand(7);
    const unsigned nports = sizeof(rnd_ports) / sizeof(rnd_ports[0]);
    for (unsigned i = 0; i < nports; i++) {
        Rnd *r = &rnd_ports[i];
        char name[8];
        snprintf(name, sizeof(name), "r%u", i);
        switch_port_config_default(&r->cfg, name);
        if (i % 3 == 2) {
            r->cfg.mode = SWITCH_TRUNK;
            r->cfg.vlan = (uint16_t)(rand() % 4); /* native 0..3 */
            for (uint16_t v = 1; v <= 4; v++)
                if (rand() % 2 || (v == 4 && !r->cfg.vlan))
                    allow(&r->cfg, v);
        } else {
            r->cfg.vlan = (uint16_t)(1 + rand() % 4);
        }
        r->cfg.isolated = i % 5 == 1;
        r->cfg.uplink = i % 5 == 3;
        r->port = switch_port_add(sw, &r->cfg, rnd_output, r, &err);
        if (!r->port) {
            printf("Bail out! %s\n", err.msg);
            exit(1);
        }
        r->cfg = *switch_port_config(r->port);
    }
    unsigned sent = 0, delivered = 0, bad = 0;
    for (unsigned k = 0; k < 20000; k++) {
        Rnd *r = &rnd_ports[rand() % nports];
        int vid = -1;
        uint16_t vlan = r->cfg.vlan;
        if (r->cfg.mode == SWITCH_TRUNK && rand() % 3) {
            vid = 1 + rand() % 4;
            vlan = (uint16_t)vid;
        }
        bool carried =
            vlan && (vlan == r->cfg.vlan || (vid > 0 && r->cfg.mode == SWITCH_TRUNK &&
                                             (r->cfg.allowed[vid / 8] >> (vid % 8) & 1)));
        uint8_t f[80], d[6], s[6];
        mac(d, (unsigned)(rand() % 3 ? rand() % 24 : 0xffff));
        if (d[5] == 0xff)
            memcpy(d, BCAST, 6);
        mac(s, (unsigned)(rand() % 24));
        size_t n = frame_to(f, d, s, vid, 0x88b5, 64);
        f[vid >= 0 ? 18 : 14] = (uint8_t)vlan;
        rnd_in = r->port;
        rnd_vlan = vlan;
        switch_input(sw, r->port, f, n, k * MS);
        sent += carried;
    }
    for (unsigned i = 0; i < nports; i++) {
        delivered += rnd_ports[i].peer.n;
        bad += rnd_ports[i].bad;
    }
    ok(bad == 0 && sent > 5000 && delivered > 5000,
       "20000 random frames on 12 mixed ports: %u deliveries, none to a wrong port, VLAN or form",
       delivered);
    switch_free(sw);
}

/* ---- isolation, spoofing, limits ---- */

static void test_isolation(void)
{
    Switch *sw = sw_new(0, 0);
    static Peer i1, i2, up, n1, n2;
    uint8_t f[128];
    SwitchPortConfig c;
    switch_port_config_default(&c, "i1");
    c.isolated = true;
    add(sw, &i1, &c);
    snprintf(c.name, sizeof(c.name), "i2");
    add(sw, &i2, &c);
    switch_port_config_default(&c, "up");
    c.uplink = true;
    add(sw, &up, &c);
    add_access(sw, &n1, "n1", 1);
    add_access(sw, &n2, "n2", 1);
    in(sw, i1.port, f, bcast(f, 1, -1), 0);
    ok(up.n == 1 && i2.n == 0 && n1.n == 0 && n2.n == 0,
       "isolated: broadcast reaches the uplink only");
    in(sw, up.port, f, bcast(f, 3, -1), 0);
    ok(i1.n == 1 && i2.n == 1 && n1.n == 1 && n2.n == 1, "the uplink reaches everyone");
    in(sw, n1.port, f, bcast(f, 4, -1), 0);
    ok(up.n == 2 && n2.n == 2 && i1.n == 1 && i2.n == 1,
       "an ordinary port reaches the uplink and other ordinary ports, not isolated ones");
    in(sw, i2.port, f, bcast(f, 2, -1), 0);
    peer_reset(&i1), peer_reset(&i2), peer_reset(&up), peer_reset(&n1), peer_reset(&n2);
    in(sw, i1.port, f, uni(f, 2, 1), 0);
    in(sw, i1.port, f, uni(f, 4, 1), 0);
    ok(i2.n == 0 && n1.n == 0 && up.n == 0, "known unicast between isolated/ordinary: dropped");
    in(sw, n1.port, f, uni(f, 1, 4), 0);
    ok(i1.n == 0, "known unicast from an ordinary port to an isolated one: dropped");
    in(sw, i1.port, f, uni(f, 3, 1), 0);
    in(sw, up.port, f, uni(f, 1, 3), 0);
    ok(up.n == 1 && i1.n == 1, "isolated <-> uplink unicast both ways");
    switch_free(sw);
}

static void test_spoof(void)
{
    Switch *sw = sw_new(0, 0);
    static Peer a, b;
    uint8_t f[128];
    SwitchPortConfig c;
    switch_port_config_default(&c, "a");
    c.spoof_check = true;
    mac(c.mac, 1);
    add(sw, &a, &c);
    add_access(sw, &b, "b", 1);
    in(sw, a.port, f, uni(f, 2, 1), 0);
    ok(b.n == 1 && fdb_where(sw, 1, 1, NULL) == a.port, "from the port's own MAC: forwarded");
    in(sw, a.port, f, uni(f, 2, 7), 0);
    in(sw, a.port, f, bcast(f, 8, -1), 0);
    ok(b.n == 1 && stats(a.port).drop_spoof == 2, "from another MAC: dropped (drop_spoof)");
    ok(fdb_where(sw, 7, 1, NULL) == NULL && fdb_where(sw, 8, 1, NULL) == NULL,
       "spoofed sources are not learned");
    in(sw, b.port, f, uni(f, 2, 7), 0);
    in(sw, b.port, f, uni(f, 2, 1), 0); /* b claims a's MAC: no spoof check on b */
    ok(fdb_where(sw, 1, 1, NULL) == b.port, "a port without the check may send from any MAC");
    switch_free(sw);
}

static void test_rate(void)
{
    Switch *sw = sw_new(0, 0);
    static Peer a, b;
    static uint8_t f[NET_MAX_FRAME];
    SwitchPortConfig c;
    switch_port_config_default(&c, "a");
    c.rate_bps = 8000000; /* 1 MB/s: a burst of 100 ms = 100000 bytes */
    add(sw, &a, &c);
    add_access(sw, &b, "b", 1);
    size_t n = uni(f, 2, 1);
    n = 1000;
    for (int i = 0; i < 101; i++)
        in(sw, a.port, f, n, 5 * SEC);
    ok(b.n == 100 && stats(a.port).drop_rate == 1, "1 MB/s: a burst of 100 kB, then drops (%u)",
       b.n);
    in(sw, a.port, f, n, 5 * SEC + 1 * MS - 1);
    ok(b.n == 100 && stats(a.port).drop_rate == 2, "nothing more before 1 ms");
    in(sw, a.port, f, n, 5 * SEC + 1 * MS);
    ok(b.n == 101, "after 1 ms, room for 1000 bytes");
    for (int i = 0; i < 11; i++)
        in(sw, a.port, f, n, 5 * SEC + 11 * MS);
    ok(b.n == 111 && stats(a.port).drop_rate == 3, "10 ms later: 10 more, the 11th dropped");
    in(sw, a.port, f, 64, 10 * SEC);
    for (int i = 0; i < 100; i++)
        in(sw, a.port, f, n, 10 * SEC);
    ok(b.n == 211 && stats(a.port).drop_rate == 4, "idle: the bucket fills up to its burst only");
    ok(stats(a.port).rx_frames == 215, "dropped frames count as received");
    switch_free(sw);

    sw = sw_new(0, 0);
    c.rate_bps = 80000; /* 10 kB/s: 100 ms is 1000 bytes, less than one NET_MAX_FRAME */
    add(sw, &a, &c);
    add_access(sw, &b, "b", 1);
    n = frame_to(f, BCAST, (uint8_t[6]){2, 0, 0, 0, 0, 1}, -1, 0x0800, NET_MAX_FRAME);
    in(sw, a.port, f, n, 0);
    ok(b.n == 1, "a slow port may still send one NET_MAX_FRAME frame");
    in(sw, a.port, f, 64, 0);
    ok(b.n == 1 && stats(a.port).drop_rate == 1, "then it waits");
    in(sw, a.port, f, 64, 64 * MS / 10);
    ok(b.n == 2, "64 bytes at 10 kB/s: 6.4 ms later");
    switch_free(sw);
}

static void test_flood_limit(void)
{
    Switch *sw = sw_new(0, 0);
    static Peer a, b;
    uint8_t f[128];
    SwitchPortConfig c;
    switch_port_config_default(&c, "a");
    c.flood_pps = 10;
    add(sw, &a, &c);
    add_access(sw, &b, "b", 1);
    in(sw, b.port, f, uni(f, 1, 2), 0); /* station 2 known on b */
    for (int i = 0; i < 11; i++)
        in(sw, a.port, f, bcast(f, 1, -1), SEC);
    ok(b.n == 10 && stats(a.port).drop_flood == 1,
       "10 pps: a burst of 10 broadcasts, the 11th dropped");
    for (int i = 0; i < 50; i++)
        in(sw, a.port, f, uni(f, 2, 1), SEC);
    ok(b.n == 60 && stats(a.port).drop_flood == 1, "known unicast is not limited");
    in(sw, a.port, f, uni(f, 77, 1), SEC);
    uint8_t sm[6];
    mac(sm, 1);
    in(sw, a.port, f, frame_to(f, MCAST, sm, -1, 0x0800, 60), SEC);
    ok(b.n == 60 && stats(a.port).drop_flood == 3, "unknown unicast and multicast are");
    in(sw, a.port, f, bcast(f, 1, -1), SEC + 100 * MS);
    in(sw, a.port, f, bcast(f, 1, -1), SEC + 100 * MS);
    ok(b.n == 61 && stats(a.port).drop_flood == 4, "100 ms later: one more");
    switch_free(sw);
}

/* ---- egress queues ---- */

/* The frame's sequence number (byte 20 of uni()/bcast() frames is overwritten with it). */
static void numbered(uint8_t *f, size_t n, unsigned k)
{
    (void)n;
    f[20] = (uint8_t)k;
}

static bool in_order(const Peer *p, unsigned first, unsigned count)
{
    if (p->n != count)
        return false;
    for (unsigned i = 0; i < count; i++)
        if (p->sent[i].data[20] != (uint8_t)(first + i))
            return false;
    return true;
}

static void test_queue(void)
{
    Switch *sw = sw_new(0, 0);
    static Peer a, b, c;
    uint8_t f[128];
    SwitchPortConfig cfg;
    add_access(sw, &a, "a", 1);
    switch_port_config_default(&cfg, "b");
    cfg.queue_frames = 4;
    add(sw, &b, &cfg);
    add_access(sw, &c, "c", 1);
    in(sw, b.port, f, uni(f, 1, 2), 0);
    peer_reset(&a), peer_reset(&c);
    b.ret = 0;
    for (unsigned k = 0; k < 3; k++) {
        size_t n = uni(f, 2, 1);
        numbered(f, n, k);
        in(sw, a.port, f, n, 0);
    }
    SwitchPortStats st = stats(b.port);
    ok(b.n == 0 && st.queued == 3 && switch_port_pending(b.port) && st.tx_frames == 0,
       "a busy port: frames queued (3), not counted as sent");
    b.ret = 1;
    size_t n = uni(f, 2, 1);
    numbered(f, n, 3);
    in(sw, a.port, f, n, 0);
    ok(b.n == 0 && stats(b.port).queued == 4, "while frames wait, a new one queues behind them");
    n = uni(f, 2, 1);
    numbered(f, n, 4);
    in(sw, a.port, f, n, 0);
    ok(stats(b.port).queued == 4 && stats(b.port).drop_queue == 1,
       "a full queue drops (drop_queue)");
    b.budget = 2;
    switch_port_flush(sw, b.port);
    ok(in_order(&b, 0, 2) && stats(b.port).queued == 2 && switch_port_pending(b.port),
       "flush sends until the output blocks");
    b.budget = -1;
    switch_port_flush(sw, b.port);
    ok(in_order(&b, 0, 4) && !switch_port_pending(b.port) && stats(b.port).queued == 0,
       "then the rest, in order");
    st = stats(b.port);
    ok(st.tx_frames == 4 && st.tx_bytes == 4 * 64, "tx counts what the output took");
    ok(stats(a.port).drop_queue == 0 && c.n == 0, "the drop is the egress port's");
    switch_port_flush(sw, b.port);
    ok(b.n == 4, "flushing an empty queue does nothing");

    /* a broadcast with one port stuck: the others are not held up */
    b.ret = 0;
    peer_reset(&c);
    in(sw, a.port, f, bcast(f, 1, -1), 0);
    ok(c.n == 1 && stats(b.port).queued == 1, "a stuck port queues, the others get the frame");

    /* the peer goes away: queued and new frames are dropped as gone */
    b.ret = -1;
    switch_port_flush(sw, b.port);
    in(sw, a.port, f, uni(f, 2, 1), 0);
    st = stats(b.port);
    ok(st.drop_gone == 2 && st.queued == 0 && st.tx_frames == 4, "a gone peer: drop_gone");
    switch_free(sw);

    /* the byte bound: 64 frames -> at most 1 MiB; flooded frames half of it */
    sw = sw_new(0, 0);
    static uint8_t big[60000];
    add_access(sw, &a, "a", 1);
    switch_port_config_default(&cfg, "b");
    cfg.queue_frames = 64;
    add(sw, &b, &cfg);
    in(sw, b.port, f, uni(f, 1, 2), 0);
    b.ret = 0;
    n = frame_to(big, BCAST, (uint8_t[6]){2, 0, 0, 0, 0, 1}, -1, 0x0800, sizeof(big));
    for (int i = 0; i < 10; i++)
        in(sw, a.port, big, n, 0);
    st = stats(b.port);
    ok(st.queued == 8 && st.drop_queue == 2, "60 kB broadcasts: 8 fit in 512 KiB, 2 dropped");
    uint8_t m2[6];
    mac(m2, 2);
    n = frame_to(big, m2, (uint8_t[6]){2, 0, 0, 0, 0, 1}, -1, 0x0800, sizeof(big));
    for (int i = 0; i < 20; i++)
        in(sw, a.port, big, n, 0);
    st = stats(b.port);
    ok(st.queued == 17 && st.drop_queue == 2 + 8 + 3,
       "60 kB unicast: 17 fit in 1 MiB (the broadcasts evicted), 3 dropped");

    /* default queue length */
    switch_port_config_default(&cfg, "d");
    static Peer d;
    add(sw, &d, &cfg);
    d.ret = 0;
    for (int i = 0; i < SWITCH_DEFAULT_QUEUE + 5; i++)
        in(sw, a.port, f, bcast(f, 1, -1), 0);
    st = stats(d.port);
    ok(st.queued == SWITCH_DEFAULT_QUEUE / 2 && st.drop_queue == SWITCH_DEFAULT_QUEUE / 2 + 5,
       "default queue: %d flooded frames", SWITCH_DEFAULT_QUEUE / 2);
    in(sw, d.port, f, uni(f, 3, 4), 0);
    for (int i = 0; i < SWITCH_DEFAULT_QUEUE + 5; i++)
        in(sw, a.port, f, uni(f, 4, 2), 0);
    st = stats(d.port);
    ok(st.queued == SWITCH_DEFAULT_QUEUE, "default queue: %d frames", SWITCH_DEFAULT_QUEUE);
    switch_free(sw); /* frees queued frames (ASan checks) */
}

/* Count the frames a peer got that are broadcasts, and check each class came in order. */
static bool classes_in_order(const Peer *p, unsigned *nbcast)
{
    int last[2] = {-1, -1};
    *nbcast = 0;
    for (unsigned i = 0; i < p->n; i++) {
        bool b = p->sent[i].data[0] == 0xff;
        int k = p->sent[i].data[20];
        if (k <= last[b])
            return false;
        last[b] = k;
        *nbcast += b;
    }
    return true;
}

static void test_queue_priority(void)
{
    Switch *sw = sw_new(0, 0);
    static Peer a, b, c;
    uint8_t f[128];
    SwitchPortConfig cfg;
    add_access(sw, &a, "a", 1);
    switch_port_config_default(&cfg, "b");
    cfg.queue_frames = 8;
    add(sw, &b, &cfg);
    add_access(sw, &c, "c", 1);
    in(sw, b.port, f, uni(f, 1, 2), 0);
    peer_reset(&a), peer_reset(&c);

    /* a storm fills half the queue, no more */
    b.ret = 0;
    for (unsigned k = 0; k < 6; k++) {
        size_t n = bcast(f, 3, -1);
        numbered(f, n, k);
        in(sw, a.port, f, n, 0);
    }
    SwitchPortStats st = stats(b.port);
    ok(st.queued == 4 && st.drop_queue == 2 && c.n == 6,
       "flooded frames take half the queue (4 of 8), the rest dropped; other ports get them all");

    /* unicast takes the other half, then evicts the oldest flooded frames */
    for (unsigned k = 0; k < 6; k++) {
        size_t n = uni(f, 2, 1);
        numbered(f, n, 10 + k);
        in(sw, a.port, f, n, 0);
    }
    st = stats(b.port);
    ok(st.queued == 8 && st.drop_queue == 2 + 2, "unicast: 4 queued, then 2 evict broadcasts");
    /* flooded frames meanwhile: no room */
    size_t n = bcast(f, 3, -1);
    numbered(f, n, 6);
    in(sw, a.port, f, n, 0);
    ok(stats(b.port).drop_queue == 5 && stats(b.port).queued == 8, "a full queue drops broadcasts");

    /* the flush: unicast first, each class in order */
    b.ret = 1;
    b.budget = 3;
    switch_port_flush(sw, b.port);
    ok(b.n == 3 && b.sent[0].data[20] == 10 && b.sent[2].data[20] == 12 &&
           stats(b.port).queued == 5,
       "flush sends the unicast frames first, in order");
    /* a new unicast frame while broadcasts wait: it goes before them */
    b.budget = -1;
    n = uni(f, 2, 1);
    numbered(f, n, 16);
    in(sw, a.port, f, n, 0);
    switch_port_flush(sw, b.port);
    unsigned nb;
    ok(b.n == 9 && classes_in_order(&b, &nb) && nb == 2 && b.sent[6].data[20] == 16 &&
           b.sent[7].data[20] == 2 && b.sent[8].data[20] == 3,
       "then the rest: unicast (the new one too) before the 2 newest broadcasts, in order");
    st = stats(b.port);
    ok(st.tx_frames == 9 && st.queued == 0 && !switch_port_pending(b.port), "all sent");

    /* a flooded frame never overtakes a waiting unicast one */
    peer_reset(&b);
    b.ret = 0;
    n = uni(f, 2, 1);
    numbered(f, n, 20);
    in(sw, a.port, f, n, 0);
    b.ret = 1;
    n = bcast(f, 3, -1);
    numbered(f, n, 21);
    in(sw, a.port, f, n, 0);
    ok(b.n == 0 && stats(b.port).queued == 2, "a broadcast queues behind a waiting unicast frame");
    switch_port_flush(sw, b.port);
    ok(in_order(&b, 20, 2), "and leaves after it");

    /* a queue of 1: flooded frames may have it; unicast evicts them */
    switch_port_config_default(&cfg, "b");
    cfg.queue_frames = 1;
    Error err = {0};
    ok(switch_port_set_config(sw, b.port, &cfg, &err) == 0, "a queue of 1");
    in(sw, b.port, f, uni(f, 1, 2), 0);
    peer_reset(&b);
    b.ret = 0;
    uint64_t d0 = stats(b.port).drop_queue;
    in(sw, a.port, f, bcast(f, 3, -1), 0);
    ok(stats(b.port).queued == 1 && stats(b.port).drop_queue == d0, "a broadcast has it");
    n = uni(f, 2, 1);
    numbered(f, n, 30);
    in(sw, a.port, f, n, 0);
    in(sw, a.port, f, n, 0);
    ok(stats(b.port).queued == 1 && stats(b.port).drop_queue == d0 + 2,
       "a unicast frame evicts it; the next one finds the queue full of unicast");
    b.ret = 1;
    switch_port_flush(sw, b.port);
    ok(in_order(&b, 30, 1), "the unicast frame is sent");
    switch_free(sw);
}

/* ---- IPv4 learning ---- */

static size_t arp_from(uint8_t *b, unsigned s, uint32_t ip)
{
    uint8_t sm[6];
    mac(sm, s);
    size_t n = frame_to(b, BCAST, sm, -1, 0x0806, 42);
    b[14] = 0, b[15] = 1, b[16] = 0x08, b[17] = 0x00, b[18] = 6, b[19] = 4, b[20] = 0, b[21] = 1;
    memcpy(b + 22, sm, 6);
    uint32_t be = htonl(ip);
    memcpy(b + 28, &be, 4);
    return n;
}

static size_t ipv4_from(uint8_t *b, unsigned d, unsigned s, int tci, uint32_t ip)
{
    uint8_t dm[6], sm[6];
    mac(dm, d);
    mac(sm, s);
    size_t n = frame_to(b, dm, sm, tci, 0x0800, tci >= 0 ? 64 : 60);
    uint8_t *p = b + (tci >= 0 ? 18 : 14);
    memset(p, 0, 20);
    p[0] = 0x45, p[9] = 17;
    uint32_t be = htonl(ip);
    memcpy(p + 12, &be, 4);
    return n;
}

/* A DHCP reply from station s to dst for chaddr (station c), yiaddr, message type. */
static size_t dhcp_from(uint8_t *b, const uint8_t *dst, unsigned s, unsigned c, uint32_t yiaddr,
                        uint8_t type)
{
    uint8_t sm[6];
    mac(sm, s);
    size_t n = frame_to(b, dst, sm, -1, 0x0800, 14 + 20 + 8 + 240 + 4);
    uint8_t *ip = b + 14, *udp = ip + 20, *bp = udp + 8, *opt = bp + 240;
    memset(ip, 0, n - 14);
    ip[0] = 0x45, ip[9] = 17;
    udp[1] = 67, udp[3] = 68;
    bp[0] = 2;
    uint32_t be = htonl(yiaddr);
    memcpy(bp + 16, &be, 4);
    mac(bp + 28, c);
    memcpy(bp + 236, "\x63\x82\x53\x63", 4);
    opt[0] = 53, opt[1] = 1, opt[2] = type, opt[3] = 255;
    return n;
}

static void test_ipv4(void)
{
    Switch *sw = sw_new(0, 0);
    static Peer a, b, s, up, t;
    static uint8_t f[512];
    SwitchPortConfig c;
    add_access(sw, &a, "a", 1);
    add_access(sw, &b, "b", 1);
    switch_port_config_default(&c, "s");
    c.spoof_check = true;
    mac(c.mac, 3);
    add(sw, &s, &c);
    switch_port_config_default(&c, "up");
    c.uplink = true;
    add(sw, &up, &c);
    const uint16_t vl[] = {10, 0};
    add_trunk(sw, &t, "t", 1, vl);

    ok(stats(a.port).ipv4 == 0, "no address yet");
    in(sw, a.port, f, arp_from(f, 1, 0x0a000005), 0);
    ok(stats(a.port).ipv4 == htonl(0x0a000005), "from the port's ARP: 10.0.0.5 (network order)");
    in(sw, a.port, f, ipv4_from(f, 9, 1, -1, 0), 0);
    ok(stats(a.port).ipv4 == htonl(0x0a000005), "0.0.0.0 (a DHCP client) is no address");
    in(sw, a.port, f, ipv4_from(f, 9, 1, -1, 0x0a000006), 0);
    ok(stats(a.port).ipv4 == htonl(0x0a000006), "from its IPv4 source: 10.0.0.6");
    in(sw, up.port, f, ipv4_from(f, 1, 4, -1, 0x08080808), 0);
    ok(stats(up.port).ipv4 == 0, "an uplink learns no address (many hosts behind it)");
    in(sw, t.port, f, ipv4_from(f, 9, 5, 10, 0xc0a80a05), 0);
    ok(stats(t.port).ipv4 == 0, "a trunk: not from a tagged VLAN");
    in(sw, t.port, f, ipv4_from(f, 9, 5, -1, 0x0a000007), 0);
    ok(stats(t.port).ipv4 == htonl(0x0a000007), "a trunk: from its native VLAN");

    /* DHCP replies from the uplink's server (station 4) */
    in(sw, b.port, f, bcast(f, 2, -1), 0); /* station 2 on b (no address yet) */
    unsigned bn = b.n;
    in(sw, up.port, f, dhcp_from(f, BCAST, 4, 2, 0x0a00000f, 2), 0);
    ok(b.n == bn + 1 && stats(b.port).ipv4 == 0, "an OFFER teaches nothing");
    in(sw, up.port, f, dhcp_from(f, BCAST, 4, 2, 0x0a00000f, 5), 0);
    ok(stats(b.port).ipv4 == htonl(0x0a00000f), "a broadcast ACK for b's station: b is 10.0.0.15");
    ok(stats(a.port).ipv4 == htonl(0x0a000006) && stats(s.port).ipv4 == 0,
       "the other ports that saw it are unchanged");
    uint8_t dm[6];
    mac(dm, 1);
    in(sw, up.port, f, dhcp_from(f, dm, 4, 1, 0x0a000010, 5), 0);
    ok(stats(a.port).ipv4 == htonl(0x0a000010), "a unicast ACK to a's station: 10.0.0.16");
    in(sw, up.port, f, dhcp_from(f, BCAST, 4, 3, 0x0a000011, 5), 0);
    ok(stats(s.port).ipv4 == htonl(0x0a000011),
       "a spoof-checked port, never heard from: matched by its MAC");
    in(sw, up.port, f, dhcp_from(f, BCAST, 4, 99, 0x0a000012, 5), 0);
    ok(stats(a.port).ipv4 == htonl(0x0a000010) && stats(b.port).ipv4 == htonl(0x0a00000f) &&
           stats(s.port).ipv4 == htonl(0x0a000011) && stats(t.port).ipv4 == htonl(0x0a000007),
       "an ACK for an unknown station: nobody's");
    switch_free(sw);
}

/* The shared sniffing helpers on their own (exact-size heap copies: ASan sees any overread). */
static bool sniff_ack(const uint8_t *f, size_t n, uint8_t *chaddr, uint32_t *yi)
{
    uint8_t *copy = malloc(n);
    memcpy(copy, f, n);
    bool r = net_sniff_dhcp_ack(copy, n, chaddr, yi);
    free(copy);
    return r;
}

static bool sniff_src(const uint8_t *f, size_t n, uint32_t *ip)
{
    uint8_t *copy = malloc(n);
    memcpy(copy, f, n);
    bool r = net_sniff_source_ipv4(copy, n, ip);
    free(copy);
    return r;
}

static void test_sniff(void)
{
    static uint8_t f[512], g[512];
    uint8_t ch[6], want[6];
    uint32_t yi = 0, ip = 0;
    size_t n = dhcp_from(f, BCAST, 4, 7, 0x0a000009, 5);
    mac(want, 7);
    ok(sniff_ack(f, n, ch, &yi) && yi == 0x0a000009 && memcmp(ch, want, 6) == 0,
       "an ACK: chaddr and yiaddr (host order)");
    ok(!sniff_ack(f, n - 2, ch, &yi), "cut inside option 53: no ACK, nothing read past the end");
    bool any = false;
    for (size_t k = 0; k < n - 1; k++) /* n - 1: option 53 whole, only the end option cut */
        any |= sniff_ack(f, k, ch, &yi);
    ok(!any, "no prefix cutting into option 53 is an ACK");
    memcpy(g, f, n);
    g[14 + 20 + 8 + 240] = 0; /* a pad, then option 53 */
    g[14 + 20 + 8 + 241] = 53, g[14 + 20 + 8 + 242] = 1, g[14 + 20 + 8 + 243] = 5;
    ok(sniff_ack(g, n + 1, ch, &yi), "pads before option 53 are skipped");
    memcpy(g, f, 14);
    g[14] = 0x46; /* a 24-byte IP header */
    memcpy(g + 15, f + 15, 19);
    memcpy(g + 38, f + 34, n - 34);
    ok(sniff_ack(g, n + 4, ch, &yi) && yi == 0x0a000009, "an IP header with options");
    g[14] = 0x44;
    ok(!sniff_ack(g, n + 4, ch, &yi), "an IP header length under 20: not read");
    n = dhcp_from(f, BCAST, 4, 7, 0, 5);
    ok(!sniff_ack(f, n, ch, &yi), "an ACK with yiaddr 0.0.0.0: nothing to learn");

    ok(sniff_src(f, ipv4_from(f, 1, 2, -1, 0x0a010203), &ip) && ip == 0x0a010203,
       "IPv4 source 10.1.2.3");
    const uint32_t bad[] = {0, 0x7f000001, 0xe00000fb, 0xf0000001, 0xffffffff};
    unsigned refused = 0;
    for (unsigned k = 0; k < 5; k++)
        refused += !sniff_src(f, ipv4_from(f, 1, 2, -1, bad[k]), &ip);
    ok(refused == 5, "0.0.0.0, loopback, multicast, 240/4 and broadcast are no host's address");
    n = arp_from(f, 1, 0xc0a80001);
    ok(sniff_src(f, n, &ip) && ip == 0xc0a80001 && !sniff_src(f, n - 1, &ip),
       "an ARP sender; a cut ARP is not read");
    f[17] = 0xdd; /* a protocol type other than IPv4 */
    ok(!sniff_src(f, n, &ip), "ARP for another protocol: no address");
    n = ipv4_from(f, 1, 2, 5, 0x0a010203);
    ok(!sniff_src(f, n, &ip), "a tagged frame is not looked into");
}

/* ---- removal, reconfiguration, re-entry ---- */

static void test_remove(void)
{
    Switch *sw = sw_new(0, 0);
    static Peer a, b, c;
    uint8_t f[128];
    add_access(sw, &a, "a", 1);
    add_access(sw, &b, "b", 1);
    add_access(sw, &c, "c", 1);
    for (unsigned s = 10; s < 40; s++)
        in(sw, b.port, f, uni(f, 1, s), 0);
    in(sw, a.port, f, uni(f, 2, 1), 0);
    b.ret = 0;
    in(sw, a.port, f, uni(f, 10, 1), 0);
    ok(stats(b.port).queued == 1 && fdb_count_port(sw, b.port) == 30, "b: 30 stations, 1 queued");
    switch_port_remove(sw, b.port);
    unsigned count;
    fdb_where(sw, 0, 1, &count);
    ok(count == 1 && fdb_where(sw, 1, 1, NULL) == a.port,
       "removing b forgets its 30 entries, keeps a's");
    peer_reset(&c);
    in(sw, a.port, f, uni(f, 10, 1), 0);
    ok(c.n == 1, "its stations are unknown again (flooded)");
    ok(switch_port_find(sw, "b") == NULL, "its name is free");
    add_access(sw, &b, "b", 1);
    ok(switch_port_find(sw, "b") == b.port, "and can be used again");
    switch_free(sw);
}

static void test_set_config(void)
{
    Switch *sw = sw_new(0, 0);
    static Peer a, b, c;
    uint8_t f[128];
    Error err = {0};
    add_access(sw, &a, "a", 1);
    add_access(sw, &b, "b", 1);
    add_access(sw, &c, "c", 20);
    in(sw, a.port, f, uni(f, 2, 1), 0);
    SwitchPortConfig cfg;
    switch_port_config_default(&cfg, "renamed");
    cfg.vlan = 20;
    ok(switch_port_set_config(sw, a.port, &cfg, &err) == 0, "set-config");
    ok(strcmp(switch_port_config(a.port)->name, "a") == 0 && switch_port_config(a.port)->vlan == 20,
       "the name stays, the VLAN changes");
    ok(fdb_where(sw, 1, 1, NULL) == NULL, "its learned addresses are forgotten");
    peer_reset(&b);
    in(sw, a.port, f, bcast(f, 1, -1), 0);
    ok(c.n == 1 && b.n == 0, "it is on VLAN 20 now");
    cfg.vlan = 0;
    ok(switch_port_set_config(sw, a.port, &cfg, &err) < 0 && switch_port_config(a.port)->vlan == 20,
       "bad options are refused, the old ones stay");

    /* a shorter queue keeps the oldest frames */
    c.ret = 0;
    for (unsigned k = 0; k < 6; k++) {
        size_t n = bcast(f, 1, -1);
        numbered(f, n, k);
        in(sw, a.port, f, n, 0);
    }
    switch_port_config_default(&cfg, "c");
    cfg.vlan = 20;
    cfg.queue_frames = 8;
    ok(switch_port_set_config(sw, c.port, &cfg, &err) == 0 && stats(c.port).queued == 4 &&
           stats(c.port).drop_queue == 2,
       "a shorter queue: the newest flooded frames beyond their half dropped");
    c.ret = 1;
    peer_reset(&c);
    switch_port_flush(sw, c.port);
    ok(in_order(&c, 0, 4), "the oldest stay, in order");

    /* moved to another VLAN: what waited for it under the old one is dropped */
    c.ret = 0;
    for (unsigned k = 0; k < 3; k++)
        in(sw, a.port, f, bcast(f, 1, -1), 0);
    cfg.vlan = 30;
    uint64_t dropped = stats(c.port).drop_queue;
    ok(switch_port_set_config(sw, c.port, &cfg, &err) == 0 && stats(c.port).queued == 0 &&
           stats(c.port).drop_queue == dropped + 3 && !switch_port_pending(c.port),
       "a port moved to another VLAN: its queued frames are dropped");
    c.ret = 1;
    peer_reset(&c);
    switch_port_flush(sw, c.port);
    ok(c.n == 0, "none of them reaches the port");
    switch_free(sw);
}

/*
 * An output that answers at once by feeding a frame back in, as libslirp
 * does: a broadcast tagged VLAN 10 with its own payload.
 */
static Switch *echo_sw;

static size_t echo_reply(uint8_t *r)
{
    uint8_t me[6];
    mac(me, 50);
    return frame_to(r, BCAST, me, 10, 0x88b6, 68);
}

static void echo_hook(Peer *p, const uint8_t *f, size_t len)
{
    uint8_t r[128];
    if (len < 14 || memcmp(f, BCAST, 6) != 0)
        return;
    switch_input(echo_sw, p->port, r, echo_reply(r), 0);
}

static void test_reentry(void)
{
    Switch *sw = echo_sw = sw_new(0, 0);
    static Peer t, e, a, b;
    uint8_t f[128], w[128], r[128], ru[128];
    const uint16_t vl[] = {10, 0};
    add_trunk(sw, &t, "t", 0, vl);
    add_access(sw, &a, "a", 10);
    add_trunk(sw, &e, "echo", 0, vl);
    add_access(sw, &b, "b", 10);
    e.hook = echo_hook;
    size_t n = bcast(f, 1, 10);
    in(sw, t.port, f, n, 0); /* a gets it untagged, then echo answers, then b */
    size_t wn = bcast(w, 1, -1), rn = echo_reply(r);
    uint8_t me[6];
    mac(me, 50);
    size_t run = frame_to(ru, BCAST, me, -1, 0x88b6, 64);
    ok(e.n == 1 && t.n == 1 && got(&t, 0, r, rn), "an output's answer, fed in from inside it");
    ok(a.n == 2 && got(&a, 0, w, wn) && got(&a, 1, ru, run) && b.n == 2 && got(&b, 0, ru, run),
       "the answer reaches the access ports untagged");
    ok(got(&b, 1, w, wn), "the first frame then reaches the port after the answering one, intact");
    switch_free(sw);
}

/* Two outputs that echo every broadcast back in: a loop, cut after 4 levels of nesting. */
static void loop_hook(Peer *p, const uint8_t *f, size_t len)
{
    uint8_t r[128];
    if (len > sizeof(r) || memcmp(f, BCAST, 6) != 0)
        return;
    memcpy(r, f, len);
    mac(r + 6, 60); /* a unicast source of its own */
    switch_input(echo_sw, p->port, r, len, 0);
}

static void test_loop(void)
{
    Switch *sw = echo_sw = sw_new(0, 0);
    static Peer x, y;
    uint8_t f[128];
    add_access(sw, &x, "x", 1);
    add_access(sw, &y, "y", 1);
    x.hook = y.hook = loop_hook;
    in(sw, x.port, f, bcast(f, 1, -1), 0);
    SwitchPortStats sx = stats(x.port), sy = stats(y.port);
    ok(sx.rx_frames == 3 && sy.rx_frames == 2 && x.n == 2 && y.n == 2,
       "an output feeding broadcasts back: 4 levels deep, then cut (x %llu, y %llu in)",
       (unsigned long long)sx.rx_frames, (unsigned long long)sy.rx_frames);
    ok(sx.drop_flood == 1 && sy.drop_flood == 0, "the frame too deep is counted as drop_flood");
    switch_free(sw);
}

/* ---- cost ---- */

static int null_output(void *opaque, const uint8_t *f, size_t len, bool flooded)
{
    (void)flooded;
    (void)f;
    (*(uint64_t *)opaque) += len;
    return 1;
}

static void test_speed(void)
{
    Switch *sw = sw_new(0, 0);
    Error err = {0};
    uint64_t bytes = 0;
    SwitchPortConfig c;
    SwitchPort *p[8];
    for (int i = 0; i < 8; i++) {
        char name[8];
        snprintf(name, sizeof(name), "p%d", i);
        switch_port_config_default(&c, name);
        p[i] = switch_port_add(sw, &c, null_output, &bytes, &err);
    }
    uint8_t f1[64], f2[64];
    uni(f1, 2, 1);
    uni(f2, 1, 2);
    switch_input(sw, p[0], f1, 64, 0);
    switch_input(sw, p[1], f2, 64, 0);
    bytes = 0;
    const int rounds = 1000000;
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (int i = 0; i < rounds; i++)
        switch_input(sw, p[0], f1, 64, (uint64_t)i);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double ns =
        ((double)(t1.tv_sec - t0.tv_sec) * 1e9 + (double)(t1.tv_nsec - t0.tv_nsec)) / rounds;
    printf("# forwarding a 64-byte unicast frame between two known ports: %.1f ns "
           "(this build's flags, sanitizers included if on)\n",
           ns);
    ok(bytes == (uint64_t)rounds * 64, "%d frames forwarded to their one port", rounds);
    switch_free(sw);
}

int main(void)
{
    test_config();
    test_ports();
    test_learning();
    test_ageing();
    test_table_limits();
    test_table_deletions();
    test_malformed();
    test_access_vlans();
    test_trunks();
    test_odd_tags();
    test_no_leak();
    test_isolation();
    test_spoof();
    test_rate();
    test_flood_limit();
    test_queue();
    test_queue_priority();
    test_ipv4();
    test_sniff();
    test_remove();
    test_set_config();
    test_reentry();
    test_loop();
    test_speed();
    return tap_done();
}
