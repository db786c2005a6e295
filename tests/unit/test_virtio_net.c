/*
 * The guest network stack below the guest, piece by piece:
 *   - util/timer: order, re-arming and freeing from callbacks, disarming;
 *   - --net parsing (net_config_parse): accepted forms and every error;
 *   - the libslirp backend: an ARP request from the guest is answered by
 *     the gateway 10.0.2.2, a connection to a forwarded host port wakes the
 *     event loop and becomes a SYN to the guest's port,
 *     a forwarded port in use is a one-line error;
 *   - virtio-net driven through its registers (rings built by hand) over a
 *     fake backend: features and config space, transmit (header stripped,
 *     chains of several buffers), receive (header, num_buffers, drops
 *     without buffers or with too-small ones), bad chains (device broken).
 */
#include <arpa/inet.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "net/net.h"
#include "tap.h"
#include "util/timer.h"
#include "virtio/net.h"

#define RAM_BASE 0x80000000ull
#define RAM_SIZE (4ull << 20)
#define QAREA(q) (RAM_BASE + 0x10000ull * (q))
#define BUF (RAM_BASE + 0x100000)

static Bus bus;
static EventLoop *loop;
static int irq_level;

static void on_irq(IrqController *c, unsigned src, bool level)
{
    irq_level = level;
}
static IrqController irqc = {.set_irq = on_irq};

static void *ram(uint64_t pa)
{
    return bus_ram_ptr(&bus, pa, 1);
}
static void put16(uint64_t pa, uint16_t v)
{
    memcpy(ram(pa), &v, 2);
}
static uint16_t get16(uint64_t pa)
{
    uint16_t v;
    memcpy(&v, ram(pa), 2);
    return v;
}
static uint32_t get32(uint64_t pa)
{
    uint32_t v;
    memcpy(&v, ram(pa), 4);
    return v;
}

/* Run the event loop until *flag is set or ms pass. */
static bool run_until(const bool *flag, int ms)
{
    uint64_t end = timer_now_ns() + (uint64_t)ms * 1000000ull;
    while (!*flag && timer_now_ns() < end)
        evloop_run_once(loop, 10000000ull);
    return *flag;
}

/* ---- timers ---- */

static int fired[8], nfired;
static Timer *timers[3];

static void on_timer(void *opaque)
{
    fired[nfired++] = (int)(intptr_t)opaque;
}

/* Timer 1 re-arms itself once, then frees timer 2. */
static void on_timer_rearm(void *opaque)
{
    static bool again;
    on_timer(opaque);
    if (!again) {
        again = true;
        timer_mod(timers[1], timer_now_ns() + 1000000);
    } else {
        timer_free(timers[2]);
        timers[2] = NULL;
    }
}

static void test_timers(void)
{
    Error err;
    TimerList *tl = timer_list_new(loop, &err);
    ok(tl != NULL, "timer list created");
    uint64_t now = timer_now_ns();
    timers[0] = timer_new(tl, on_timer, (void *)0, &err);
    timers[1] = timer_new(tl, on_timer_rearm, (void *)1, &err);
    timers[2] = timer_new(tl, on_timer, (void *)2, &err);
    Timer *never = timer_new(tl, on_timer, (void *)3, &err);
    timer_mod(timers[0], now + 20000000);
    timer_mod(timers[1], now + 5000000);
    timer_mod(timers[2], now + 300000000);
    timer_mod(never, now + 1000000);
    timer_del(never);
    ok(!timer_pending(never) && timer_pending(timers[0]), "timer_del disarms");
    bool done = false;
    uint64_t end = now + 1000000000ull;
    while (nfired < 3 && timer_now_ns() < end)
        evloop_run_once(loop, UINT64_MAX);
    ok(nfired == 3 && fired[0] == 1 && fired[1] == 1 && fired[2] == 0,
       "fired in expiry order, with a re-arm from a callback (%d fired)", nfired);
    ok(timers[2] == NULL, "a callback freed another timer");
    ok(!run_until(&done, 50) && nfired == 3, "a disarmed timer never fires");
    timer_list_free(tl); /* frees timers[0], timers[1] and never */
}

/* ---- --net parsing ---- */

static bool parse_fails(const char *spec, const char *want)
{
    NetConfig c;
    Error err = {0};
    if (net_config_parse(&c, spec, &err) == 0)
        return false;
    bool good = strstr(err.msg, want) && strstr(err.msg, "--net") && !strchr(err.msg, '\n');
    if (!good)
        printf("#   %s -> %s\n", spec, err.msg);
    return good;
}

static void test_parse(void)
{
    NetConfig c;
    Error err;
    ok(net_config_parse(&c, "none", &err) == 0 && c.kind == NET_NONE, "none");
    ok(net_config_parse(&c, "user", &err) == 0 && c.kind == NET_USER && c.nfwd == 0 &&
           memcmp(c.mac, net_default_mac, 6) == 0,
       "user: default MAC 52:54:00:12:34:56");
    int rc = net_config_parse(
        &c,
        "user,hostfwd=tcp:127.0.0.1:2222-:22,mac=52:54:00:AB:cd:01,hostfwd=udp::5353-10.0.2.20:53",
        &err);
    ok(rc == 0 && c.nfwd == 2 && c.mac[3] == 0xab && c.mac[5] == 0x01, "two forwards and a MAC");
    ok(!c.fwd[0].udp && c.fwd[0].host_addr.s_addr == htonl(0x7f000001) &&
           c.fwd[0].host_port == 2222 && c.fwd[0].guest_addr.s_addr == 0 &&
           c.fwd[0].guest_port == 22,
       "tcp:127.0.0.1:2222-:22");
    ok(c.fwd[1].udp && c.fwd[1].host_addr.s_addr == 0 && c.fwd[1].host_port == 5353 &&
           c.fwd[1].guest_addr.s_addr == htonl(0x0a000214) && c.fwd[1].guest_port == 53,
       "udp::5353-10.0.2.20:53");
    ok(net_config_parse(&c, "user,hostfwd=:127.0.0.1:80-:8080", &err) == 0 && !c.fwd[0].udp,
       "an empty protocol is tcp");
    char buf[64];
    net_hostfwd_format(&c.fwd[0], buf, sizeof(buf));
    ok(strcmp(buf, "tcp:127.0.0.1:80-:8080") == 0, "formatted back: %s", buf);
    ok(parse_fails("", "expected 'none'"), "empty value");
    ok(parse_fails("bridge", "unknown network type"), "unknown type");
    ok(parse_fails("user,hostfwd=tcp:127.0.0.1:0-:22", "ports 1-65535"), "host port 0");
    ok(parse_fails("user,hostfwd=tcp:127.0.0.1:22-:65536", "ports 1-65535"), "guest port 65536");
    ok(parse_fails("user,hostfwd=tcp:1.2.3:22-:22", "IPv4"), "bad host address");
    ok(parse_fails("user,hostfwd=tcp::22-10.0.3.1:22", "10.0.2.0/24"), "guest outside the net");
    ok(parse_fails("user,hostfwd=tcp::22-10.0.2.255:22", "10.0.2.0/24"), "broadcast guest");
    ok(parse_fails("user,hostfwd=tcp::22-:22,hostfwd=tcp:127.0.0.1:22-:23", "already"),
       "the same host port twice");
    ok(parse_fails("user,mac=00:00:00:00:00:00", "unicast"), "all-zero MAC");
    ok(parse_fails("user,mac=52:54:00:12:34:56:78", "six hex"), "seven-byte MAC");
    ok(parse_fails("user,mac=52-54-00-12-34-56", "six hex"), "MAC with dashes");
    ok(parse_fails("user,", "empty option"), "trailing comma");
    ok(parse_fails("user,restrict=on", "unknown option"), "unknown option");
}

/* ---- the libslirp backend ---- */

static uint8_t got[2048];
static size_t got_len;
static bool got_frame;

static bool capture(void *opaque, const uint8_t *frame, size_t len)
{
    got_len = len < sizeof(got) ? len : sizeof(got);
    memcpy(got, frame, got_len);
    got_frame = true;
    return true;
}

static const uint8_t guest_mac[6] = {0x52, 0x54, 0x00, 0x12, 0x34, 0x56};

/* An ARP request from the guest (10.0.2.15) for target (a 10.0.2.x address). */
static size_t arp_request(uint8_t *f, uint8_t target)
{
    static const uint8_t head[] = {0x08, 0x06, 0x00, 0x01, 0x08, 0x00, 6, 4, 0x00, 0x01};
    memset(f, 0, 60);
    memset(f, 0xff, 6);
    memcpy(f + 6, guest_mac, 6);
    memcpy(f + 12, head, sizeof(head));
    memcpy(f + 22, guest_mac, 6);
    memcpy(f + 28, (uint8_t[]){10, 0, 2, 15}, 4);
    memcpy(f + 38, (uint8_t[]){10, 0, 2, target}, 4);
    return 60;
}

/* Is got an ARP frame with opcode op and sender / target protocol addresses? */
static bool got_arp(uint16_t op, const uint8_t *spa, const uint8_t *tpa)
{
    return got_len >= 42 && got[12] == 0x08 && got[13] == 0x06 && got[20] == 0 && got[21] == op &&
           memcmp(got + 28, spa, 4) == 0 && memcmp(got + 38, tpa, 4) == 0;
}

/* Is got a TCP SYN from 10.0.2.2 to 10.0.2.15:port, sent to the guest's MAC? */
static bool got_syn(int port)
{
    const uint8_t *ip = got + 14, *tcp = ip + 20;
    return got_len >= 54 && memcmp(got, guest_mac, 6) == 0 && got[12] == 0x08 && got[13] == 0 &&
           ip[0] == 0x45 && ip[9] == 6 && memcmp(ip + 12, (uint8_t[]){10, 0, 2, 2}, 4) == 0 &&
           memcmp(ip + 16, (uint8_t[]){10, 0, 2, 15}, 4) == 0 && (tcp[2] << 8 | tcp[3]) == port &&
           (tcp[13] & 0x12) == 0x02;
}

static int free_port(void)
{
    int s = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(a);
    bind(s, (struct sockaddr *)&a, sizeof(a));
    getsockname(s, (struct sockaddr *)&a, &len);
    close(s);
    return ntohs(a.sin_port);
}

static int connect_local(int port)
{
    int s = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET,
                            .sin_port = htons((uint16_t)port),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    if (connect(s, (struct sockaddr *)&a, sizeof(a)) < 0) {
        close(s);
        return -1;
    }
    return s;
}

static void test_slirp(void)
{
    Error err = {0};
    char spec[96];
    int port = free_port();
    snprintf(spec, sizeof(spec), "user,hostfwd=tcp:127.0.0.1:%d-:8080", port);
    NetConfig cfg;
    ok(net_config_parse(&cfg, spec, &err) == 0, "parsed %s", spec);
    NetBackend *b = net_backend_new(&cfg, loop, &err);
    ok(b != NULL, "user network started%s%s", b ? "" : ": ", b ? "" : err.msg);
    if (!b)
        return;
    net_backend_attach(b, capture, NULL);
    uint8_t f[60];
    net_backend_send(b, f, arp_request(f, 2));
    ok(got_frame && got_arp(2, (uint8_t[]){10, 0, 2, 2}, (uint8_t[]){10, 0, 2, 15}) &&
           memcmp(got, guest_mac, 6) == 0,
       "ARP: 10.0.2.2 answers the guest");

    NetBackend *b2 = net_backend_new(&cfg, loop, &err);
    ok(!b2 && strstr(err.msg, "127.0.0.1") && strstr(err.msg, "in use"),
       "the same forward again: %s", err.msg);
    net_backend_free(b2);

    got_frame = false;
    int s = connect_local(port);
    ok(s >= 0, "connected to the forwarded port");
    bool woke = run_until(&got_frame, 2000);
    ok(woke && got_syn(8080),
       "the event loop woke: slirp accepted and sends a SYN to 10.0.2.15:8080 (ARP learnt)");
    if (s >= 0)
        close(s);
    net_backend_free(b);
    ok(connect_local(port) < 0, "the forward is closed with the backend");
}

/* ---- virtio-net over a fake backend ---- */

typedef struct FakeNet {
    NetBackend nb;
    uint8_t last[2048];
    size_t last_len;
    unsigned sent;
    bool freed;
} FakeNet;

static void fake_send(NetBackend *b, const uint8_t *frame, size_t len)
{
    FakeNet *f = (FakeNet *)b;
    f->last_len = len < sizeof(f->last) ? len : sizeof(f->last);
    memcpy(f->last, frame, f->last_len);
    f->sent++;
}

static void fake_free(NetBackend *b)
{
    ((FakeNet *)b)->freed = true;
}

static const NetBackendOps fake_ops = {.name = "fake", .send = fake_send, .free = fake_free};
static FakeNet fake = {.nb.ops = &fake_ops};

static uint32_t rd(VirtioMmio *v, uint64_t off)
{
    uint64_t val = 0;
    virtio_mmio_ops.read(v, off, 4, &val);
    return (uint32_t)val;
}

static uint8_t rd8(VirtioMmio *v, uint64_t off)
{
    uint64_t val = 0;
    virtio_mmio_ops.read(v, off, 1, &val);
    return (uint8_t)val;
}

static void wr(VirtioMmio *v, uint64_t off, uint32_t val)
{
    virtio_mmio_ops.write(v, off, 4, val);
}

typedef struct DQ {
    VirtioMmio *v;
    unsigned index;
    uint16_t num, avail_idx, next_desc;
    uint64_t desc, avail, used;
} DQ;

static uint64_t features(VirtioMmio *v)
{
    wr(v, VIRTIO_MMIO_DEVICE_FEATURES_SEL, 1);
    uint64_t hi = rd(v, VIRTIO_MMIO_DEVICE_FEATURES);
    wr(v, VIRTIO_MMIO_DEVICE_FEATURES_SEL, 0);
    return hi << 32 | rd(v, VIRTIO_MMIO_DEVICE_FEATURES);
}

static void drv_queue(DQ *d, VirtioMmio *v, unsigned index, uint16_t num)
{
    *d = (DQ){.v = v,
              .index = index,
              .num = num,
              .desc = QAREA(index),
              .avail = QAREA(index) + 0x1000,
              .used = QAREA(index) + 0x2000};
    memset(ram(QAREA(index)), 0, 0x3000);
    wr(v, VIRTIO_MMIO_QUEUE_SEL, index);
    wr(v, VIRTIO_MMIO_QUEUE_NUM, num);
    wr(v, VIRTIO_MMIO_QUEUE_DESC_LOW, (uint32_t)d->desc);
    wr(v, VIRTIO_MMIO_QUEUE_DESC_HIGH, (uint32_t)(d->desc >> 32));
    wr(v, VIRTIO_MMIO_QUEUE_DRIVER_LOW, (uint32_t)d->avail);
    wr(v, VIRTIO_MMIO_QUEUE_DRIVER_HIGH, (uint32_t)(d->avail >> 32));
    wr(v, VIRTIO_MMIO_QUEUE_DEVICE_LOW, (uint32_t)d->used);
    wr(v, VIRTIO_MMIO_QUEUE_DEVICE_HIGH, (uint32_t)(d->used >> 32));
    wr(v, VIRTIO_MMIO_QUEUE_READY, 1);
}

/* Reset and bring the device up with VERSION_1 | MAC | STATUS and two queues of 8. */
static void drv_bringup(VirtioMmio *v, DQ *rx, DQ *tx)
{
    uint64_t f = VIRTIO_BIT(VIRTIO_F_VERSION_1) | VIRTIO_BIT(VIRTIO_NET_F_MAC) |
                 VIRTIO_BIT(VIRTIO_NET_F_STATUS);
    wr(v, VIRTIO_MMIO_STATUS, 0);
    wr(v, VIRTIO_MMIO_STATUS, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER);
    wr(v, VIRTIO_MMIO_DRIVER_FEATURES_SEL, 0);
    wr(v, VIRTIO_MMIO_DRIVER_FEATURES, (uint32_t)f);
    wr(v, VIRTIO_MMIO_DRIVER_FEATURES_SEL, 1);
    wr(v, VIRTIO_MMIO_DRIVER_FEATURES, (uint32_t)(f >> 32));
    wr(v, VIRTIO_MMIO_STATUS, rd(v, VIRTIO_MMIO_STATUS) | VIRTIO_STATUS_FEATURES_OK);
    drv_queue(rx, v, VIRTIO_NET_RXQ, 8);
    drv_queue(tx, v, VIRTIO_NET_TXQ, 8);
    wr(v, VIRTIO_MMIO_STATUS, rd(v, VIRTIO_MMIO_STATUS) | VIRTIO_STATUS_DRIVER_OK);
}

/* Add a chain of n buffers (addr, len, writable) and notify. */
static void drv_add(DQ *d, const uint64_t (*seg)[3], unsigned n)
{
    uint16_t head = d->next_desc;
    for (unsigned i = 0; i < n; i++) {
        uint16_t idx = (uint16_t)((head + i) % d->num), next = (uint16_t)((idx + 1) % d->num);
        uint16_t flags = (seg[i][2] ? VIRTQ_DESC_F_WRITE : 0) | (i + 1 < n ? VIRTQ_DESC_F_NEXT : 0);
        uint8_t *p = ram(d->desc + 16ull * idx);
        uint32_t len = (uint32_t)seg[i][1];
        memcpy(p, &seg[i][0], 8);
        memcpy(p + 8, &len, 4);
        memcpy(p + 12, &flags, 2);
        memcpy(p + 14, &next, 2);
    }
    d->next_desc = (uint16_t)((head + n) % d->num);
    put16(d->avail + 4 + 2ull * (d->avail_idx % d->num), head);
    d->avail_idx++;
    put16(d->avail + 2, d->avail_idx);
    wr(d->v, VIRTIO_MMIO_QUEUE_NOTIFY, d->index);
}

static uint16_t used_idx(const DQ *d)
{
    return get16(d->used + 2);
}
static uint32_t used_len(const DQ *d, uint16_t k)
{
    return get32(d->used + 8 + 8ull * (k % d->num));
}

static bool broken(VirtioMmio *v)
{
    return rd(v, VIRTIO_MMIO_STATUS) & VIRTIO_STATUS_DEVICE_NEEDS_RESET;
}

static void test_config(VirtioMmio *v)
{
    ok(rd(v, VIRTIO_MMIO_DEVICE_ID) == VIRTIO_ID_NET, "device id 1");
    uint64_t f = features(v);
    ok((f & VIRTIO_BIT(VIRTIO_NET_F_MAC)) && (f & VIRTIO_BIT(VIRTIO_NET_F_STATUS)) &&
           (f & VIRTIO_BIT(VIRTIO_F_VERSION_1)),
       "MAC, STATUS and VERSION_1 offered");
    uint8_t mac[6];
    for (int i = 0; i < 6; i++)
        mac[i] = rd8(v, VIRTIO_MMIO_CONFIG + (uint64_t)i);
    ok(memcmp(mac, (uint8_t[]){0x52, 0x54, 0x00, 0xaa, 0xbb, 0xcc}, 6) == 0, "config: MAC");
    ok(rd8(v, VIRTIO_MMIO_CONFIG + VIRTIO_NET_CFG_STATUS) == VIRTIO_NET_S_LINK_UP,
       "config: link up");
}

static void test_tx(VirtioMmio *v, DQ *tx)
{
    uint8_t *p = ram(BUF);
    memset(p, 0xee, VIRTIO_NET_HDR_SIZE);
    for (int i = 0; i < 100; i++)
        p[0x100 + i] = (uint8_t)i;
    /* Header + 30 bytes in one buffer, 70 more in a second one. */
    memcpy(p + VIRTIO_NET_HDR_SIZE, p + 0x100, 30);
    uint64_t segs[2][3] = {{BUF, VIRTIO_NET_HDR_SIZE + 30, 0}, {BUF + 0x100 + 30, 70, 0}};
    drv_add(tx, segs, 2);
    ok(fake.sent == 1 && fake.last_len == 100 && memcmp(fake.last, p + 0x100, 100) == 0,
       "transmit: the 100-byte frame reaches the backend without the header");
    ok(used_idx(tx) == 1 && used_len(tx, 0) == 0 && irq_level, "transmit chain returned");
    wr(v, VIRTIO_MMIO_INTERRUPT_ACK, 3);
    VirtioNetStats st;
    virtio_net_stats(v, &st);
    ok(st.tx_frames == 1 && st.tx_dropped == 0, "tx counted");
}

static void test_rx(VirtioMmio *v, DQ *rx)
{
    const uint8_t frame[64] = {1, 2, 3, 4, 5, 6, [63] = 0x77};
    VirtioNetStats st;
    ok(!net_backend_deliver(&fake.nb, frame, sizeof(frame)), "no receive buffer: dropped");
    virtio_net_stats(v, &st);
    ok(st.rx_dropped == 1 && st.rx_frames == 0, "the drop is counted");
    uint64_t one[1][3] = {{BUF + 0x1000, 1526, 1}};
    memset(ram(BUF + 0x1000), 0xaa, 1526);
    drv_add(rx, one, 1);
    ok(net_backend_deliver(&fake.nb, frame, sizeof(frame)), "frame delivered to the buffer");
    uint8_t *p = ram(BUF + 0x1000);
    ok(used_idx(rx) == 1 && used_len(rx, 0) == VIRTIO_NET_HDR_SIZE + 64 && irq_level,
       "used length = 12-byte header + frame, interrupt raised");
    ok(p[0] == 0 && p[1] == 0 && get16(BUF + 0x1000 + 10) == 1 &&
           memcmp(p + VIRTIO_NET_HDR_SIZE, frame, 64) == 0 && p[VIRTIO_NET_HDR_SIZE + 64] == 0xaa,
       "header zeroed with num_buffers = 1, frame after it, nothing past it");
    wr(v, VIRTIO_MMIO_INTERRUPT_ACK, 3);
    uint64_t small[1][3] = {{BUF + 0x2000, VIRTIO_NET_HDR_SIZE + 32, 1}};
    drv_add(rx, small, 1);
    ok(!net_backend_deliver(&fake.nb, frame, sizeof(frame)) && used_idx(rx) == 2 &&
           used_len(rx, 1) == 0 && !broken(v),
       "too-small buffer: returned empty, frame dropped, device healthy");
    virtio_net_stats(v, &st);
    ok(st.rx_frames == 1 && st.rx_dropped == 2, "rx counters");
}

static void test_bad_chains(VirtioMmio *v, DQ *rx, DQ *tx)
{
    uint64_t short_tx[1][3] = {{BUF, 8, 0}};
    unsigned sent = fake.sent;
    drv_add(tx, short_tx, 1);
    ok(broken(v) && fake.sent == sent, "transmit chain shorter than the header: device broken");
    drv_bringup(v, rx, tx);
    ok(!broken(v), "reset clears it");
    uint64_t rw_tx[2][3] = {{BUF, 64, 0}, {BUF + 0x100, 64, 1}};
    drv_add(tx, rw_tx, 2);
    ok(broken(v), "transmit chain with a writable buffer: device broken");
    drv_bringup(v, rx, tx);
    uint64_t ro_rx[2][3] = {{BUF, 16, 0}, {BUF + 0x100, 1526, 1}};
    drv_add(rx, ro_rx, 2);
    const uint8_t frame[60] = {0};
    ok(!net_backend_deliver(&fake.nb, frame, sizeof(frame)) && broken(v),
       "receive chain with a readable buffer: device broken");
    drv_bringup(v, rx, tx);
    uint64_t tiny_rx[1][3] = {{BUF, 4, 1}};
    drv_add(rx, tiny_rx, 1);
    ok(!net_backend_deliver(&fake.nb, frame, sizeof(frame)) && broken(v),
       "receive chain without room for the header: device broken");
    ok(!net_backend_deliver(&fake.nb, frame, sizeof(frame)), "a broken device drops frames");
}

static void test_device(void)
{
    Error err;
    VirtioMmioConfig mcfg = {.bus = &bus, .base = 0x10001000, .irq = {&irqc, 1}};
    VirtioNetConfig ncfg = {.backend = &fake.nb, .mac = {0x52, 0x54, 0x00, 0xaa, 0xbb, 0xcc}};
    VirtioMmio *v = virtio_net_new(&mcfg, &ncfg, &err);
    ok(v != NULL, "virtio-net created");
    if (!v)
        return;
    test_config(v);
    DQ rx, tx;
    drv_bringup(v, &rx, &tx);
    ok((rd(v, VIRTIO_MMIO_STATUS) & VIRTIO_STATUS_DRIVER_OK) && !broken(v), "driver running");
    test_tx(v, &tx);
    test_rx(v, &rx);
    test_bad_chains(v, &rx, &tx);
    virtio_mmio_free(v);
    ok(fake.freed, "freeing the device frees its backend");
}

int main(void)
{
    Error err;
    if (bus_init(&bus, RAM_BASE, RAM_SIZE, &err) < 0 || !(loop = evloop_new(&err))) {
        printf("Bail out! %s\n", err.msg);
        return 1;
    }
    test_timers();
    test_parse();
    test_slirp();
    test_device();
    evloop_free(loop);
    bus_destroy(&bus);
    return tap_done();
}
