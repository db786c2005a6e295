/*
 * libFuzzer target for the virtual switch's core (net/switch.h): a switch
 * of 2 to 7 ports with options from the input, then a script of frames
 * (any bytes), flushes, busy/gone/echoing outputs, ageing and
 * reconfiguration, on a clock the script advances.
 *
 *   0        u8 number of ports - 2 (mod 6)
 *   1        6 bytes per port (see port_config)
 *   then     ops: u8 op, its arguments; time advances by (op >> 3) x 7 ms
 *     op & 7 = 0..2  a frame: u8 port, u16 length (mod 2048), the bytes
 *                    (what the input still holds; zero-padded)
 *              3     a frame up to NET_MAX_FRAME + 1 bytes (u16 length x 2)
 *              4     u8 port: it can send again, flush it
 *              5     u8 x: port x % n's output becomes (x >> 4) % 4:
 *                    0 takes frames, 1 busy, 2 gone, 3 takes and echoes
 *                    broadcasts back in (as libslirp answers from inside
 *                    its input: nesting)
 *              6     age the table
 *              7     u8 port, 6 bytes of options: even port byte = set
 *                    its options, odd = remove it and add it back
 *
 * Besides ASan/UBSan, every frame an output gets is checked (and the
 * target traps if one is wrong): its length, a unicast source, its form
 * for the port (tagged only with a VLAN the port carries tagged, untagged
 * only if it has an untagged VLAN), the same VLAN as the port it came
 * from carries, never back to that port, isolation and spoof checking
 * kept; queues never pass their limit.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "net/switch.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_PORTS 7
#define MS 1000000ull

typedef struct FPort {
    SwitchPort *port;
    SwitchPortConfig cfg;
    int mode; /* 0 takes, 1 busy, 2 gone, 3 takes and echoes */
} FPort;

static Switch *sw;
static FPort ports[MAX_PORTS];
static unsigned nports;
static FPort *cur_in; /* the port whose frame is being switched; NULL while flushing */
static uint64_t now;
static uint8_t frame[NET_MAX_FRAME + 16];

static void check(int cond)
{
    if (!cond)
        __builtin_trap();
}

static bool carries(const SwitchPortConfig *c, unsigned v)
{
    return v && (v == c->vlan || (c->mode == SWITCH_TRUNK && (c->allowed[v / 8] >> (v % 8) & 1)));
}

static bool reach(const SwitchPortConfig *a, const SwitchPortConfig *b)
{
    return !(a->isolated && !b->uplink) && !(b->isolated && !a->uplink);
}

/* The frame an output got is right for it and for the port it came from. */
static void check_out(const FPort *out, const uint8_t *f, size_t len)
{
    static const uint8_t zero[NET_MAC_LEN];
    check(len >= 14 && len <= NET_MAX_FRAME);
    check(!(f[6] & 1) && memcmp(f + 6, zero, NET_MAC_LEN) != 0);
    unsigned v = out->cfg.vlan;
    if (f[12] == 0x81 && f[13] == 0x00) {
        check(len >= 18);
        v = (unsigned)(f[14] << 8 | f[15]) & 0xfff;
        check(out->cfg.mode == SWITCH_TRUNK && v != out->cfg.vlan && carries(&out->cfg, v));
    }
    check(v != 0);
    if (!cur_in)
        return;
    check(cur_in != out && carries(&cur_in->cfg, v) && reach(&cur_in->cfg, &out->cfg));
    check(!cur_in->cfg.spoof_check || memcmp(f + 6, cur_in->cfg.mac, NET_MAC_LEN) == 0);
}

static void input(FPort *p, const uint8_t *f, size_t len)
{
    FPort *saved = cur_in;
    cur_in = p;
    switch_input(sw, p->port, f, len, now);
    cur_in = saved;
}

static int output(void *opaque, const uint8_t *f, size_t len, bool flooded)
{
    (void)flooded;
    FPort *p = opaque;
    if (p->mode == 1)
        return 0;
    if (p->mode == 2)
        return -1;
    check_out(p, f, len);
    if (p->mode == 3 && f[0] == 0xff && len <= 2048) {
        uint8_t echo[2048];
        memcpy(echo, f, len);
        memcpy(echo + 6, p->cfg.mac, NET_MAC_LEN);
        input(p, echo, len);
    }
    return 1;
}

/* Options from 6 bytes; a valid set always (the checks have their own unit tests). */
static void port_config(SwitchPortConfig *c, unsigned i, const uint8_t *b)
{
    char name[16];
    snprintf(name, sizeof(name), "p%u", i);
    switch_port_config_default(c, name);
    c->mode = b[0] & 1 ? SWITCH_TRUNK : SWITCH_ACCESS;
    c->isolated = b[0] & 2;
    c->uplink = (b[0] & 4) && !c->isolated;
    c->spoof_check = b[0] & 8;
    if (c->mode == SWITCH_ACCESS) {
        c->vlan = b[1] == 0xff ? SWITCH_VLAN_MAX : (uint16_t)(1 + b[1] % 4);
    } else {
        c->vlan = (uint16_t)(b[1] % 5);
        for (unsigned v = 1; v <= 4; v++)
            if (b[2] >> (v - 1) & 1)
                c->allowed[v / 8] |= (uint8_t)(1u << (v % 8));
        if (b[2] & 0x10 || (!c->vlan && !(b[2] & 0xf)))
            c->allowed[SWITCH_VLAN_MAX / 8] |= (uint8_t)(1u << (SWITCH_VLAN_MAX % 8));
    }
    c->rate_bps = b[0] & 0x40 ? (uint64_t)b[3] * 100000 + 1 : 0;
    c->flood_pps = b[0] & 0x80 ? b[3] % 16 + 1 : 0;
    c->max_macs = 1 + b[3] % 8;
    c->queue_frames = 1 + b[4] % 8;
    const uint8_t m[NET_MAC_LEN] = {0x02, 0, 0, 0, 0, b[5]};
    memcpy(c->mac, m, NET_MAC_LEN);
}

static void check_queues(void)
{
    for (unsigned i = 0; i < nports; i++) {
        SwitchPortStats st;
        switch_port_stats(ports[i].port, &st);
        check(st.queued <= ports[i].cfg.queue_frames);
        check(switch_port_pending(ports[i].port) == (st.queued != 0));
    }
}

static size_t op_frame(unsigned op, const uint8_t *d, size_t size, size_t i)
{
    if (i + 3 > size)
        return size;
    FPort *p = &ports[d[i] % nports];
    size_t len = (size_t)(d[i + 1] | d[i + 2] << 8);
    len = op == 3 ? len * 2 % (NET_MAX_FRAME + 2) : len % 2048;
    i += 3;
    size_t have = size - i < len ? size - i : len;
    memcpy(frame, d + i, have);
    memset(frame + have, 0, len - have);
    input(p, frame, len);
    return i + have;
}

static size_t op_reconfigure(const uint8_t *d, size_t size, size_t i)
{
    if (i + 7 > size)
        return size;
    unsigned k = d[i] % nports;
    FPort *p = &ports[k];
    SwitchPortConfig c;
    port_config(&c, k, d + i + 1);
    if (d[i] & 1) {
        switch_port_remove(sw, p->port);
        p->port = switch_port_add(sw, &c, output, p, NULL);
    } else {
        check(switch_port_set_config(sw, p->port, &c, NULL) == 0);
    }
    check(p->port != NULL);
    p->cfg = *switch_port_config(p->port);
    return i + 7;
}

static void setup(const uint8_t *data, size_t size, size_t *i)
{
    SwitchConfig sc = {.ageing_s = 1, .fdb_max = 16};
    sw = switch_new(&sc, NULL);
    check(sw != NULL);
    nports = 2 + (size ? data[0] % 6 : 0);
    *i = 1;
    for (unsigned k = 0; k < nports; k++) {
        uint8_t b[6] = {0};
        for (unsigned j = 0; j < 6 && *i < size; j++)
            b[j] = data[(*i)++];
        port_config(&ports[k].cfg, k, b);
        ports[k].mode = 0;
        ports[k].port = switch_port_add(sw, &ports[k].cfg, output, &ports[k], NULL);
        check(ports[k].port != NULL);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    size_t i;
    now = 0;
    cur_in = NULL;
    setup(data, size, &i);
    while (i < size) {
        unsigned op = data[i++];
        now += (uint64_t)(op >> 3) * 7 * MS;
        if ((op & 7) <= 3) {
            i = op_frame(op & 7, data, size, i);
        } else if ((op & 7) == 4 && i < size) {
            FPort *p = &ports[data[i++] % nports];
            p->mode = 0;
            switch_port_flush(sw, p->port);
        } else if ((op & 7) == 5 && i < size) {
            ports[data[i] % nports].mode = (data[i] >> 4) % 4;
            i++;
        } else if ((op & 7) == 6) {
            switch_age(sw, now);
        } else if ((op & 7) == 7) {
            i = op_reconfigure(data, size, i);
        }
        check_queues();
    }
    switch_free(sw);
    sw = NULL;
    return 0;
}
