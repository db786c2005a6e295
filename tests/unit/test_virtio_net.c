/*
 * The guest network stack below the guest, piece by piece:
 *   - util/timer: order, re-arming and freeing from callbacks, disarming;
 *   - --net parsing (net_config_parse): accepted forms and every error;
 *   - the libslirp backend: an ARP request from the guest is answered by
 *     the gateway 10.0.2.2, a connection to a forwarded host port wakes the
 *     event loop and becomes a SYN to the guest's port,
 *     a forwarded port in use is a one-line error; the same on another
 *     subnet (the switch's NAT uplink: 10.77.0.0/24, gateway .2, a forward
 *     to .20), and the subnet and forward checks;
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
#include "net/slirp.h"
#include "tap.h"
#include "util/timer.h"
#include "vfake.h"

#define RAM_BASE 0x80000000ull
#define RAM_SIZE (4ull << 20)
#define QAREA(q) (RAM_BASE + 0x10000ull * (q))
#define BUF (RAM_BASE + 0x100000)

static Bus bus;
static EventLoop *loop;
static VFakeIrq irq;

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
    ok(vfake_net_parse_fails("", "expected 'none'"), "empty value");
    ok(vfake_net_parse_fails("bridge", "unknown network type"), "unknown type");
    ok(vfake_net_parse_fails("user,hostfwd=tcp:127.0.0.1:0-:22", "ports 1-65535"), "host port 0");
    ok(vfake_net_parse_fails("user,hostfwd=tcp:127.0.0.1:22-:65536", "ports 1-65535"),
       "guest port 65536");
    ok(vfake_net_parse_fails("user,hostfwd=tcp:1.2.3:22-:22", "IPv4"), "bad host address");
    ok(vfake_net_parse_fails("user,hostfwd=tcp::22-10.0.3.1:22", "10.0.2.0/24"),
       "guest outside the net");
    ok(vfake_net_parse_fails("user,hostfwd=tcp::22-10.0.2.255:22", "10.0.2.0/24"),
       "broadcast guest");
    ok(vfake_net_parse_fails("user,hostfwd=tcp::22-:22,hostfwd=tcp:127.0.0.1:22-:23", "already"),
       "the same host port twice");
    ok(vfake_net_parse_fails("user,mac=00:00:00:00:00:00", "unicast"), "all-zero MAC");
    ok(vfake_net_parse_fails("user,mac=52:54:00:12:34:56:78", "six hex"), "seven-byte MAC");
    ok(vfake_net_parse_fails("user,mac=52-54-00-12-34-56", "six hex"), "MAC with dashes");
    ok(vfake_net_parse_fails("user,", "empty option"), "trailing comma");
    ok(vfake_net_parse_fails("user,restrict=on", "unknown option"), "unknown option");
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

/* An ARP request from the guest (net.net.net.me) for net.net.net.target. */
static size_t arp_request_in(uint8_t *f, const uint8_t net[3], uint8_t me, uint8_t target)
{
    static const uint8_t head[] = {0x08, 0x06, 0x00, 0x01, 0x08, 0x00, 6, 4, 0x00, 0x01};
    memset(f, 0, 60);
    memset(f, 0xff, 6);
    memcpy(f + 6, guest_mac, 6);
    memcpy(f + 12, head, sizeof(head));
    memcpy(f + 22, guest_mac, 6);
    memcpy(f + 28, (uint8_t[]){net[0], net[1], net[2], me}, 4);
    memcpy(f + 38, (uint8_t[]){net[0], net[1], net[2], target}, 4);
    return 60;
}

/* An ARP request from the guest (10.0.2.15) for target (a 10.0.2.x address). */
static size_t arp_request(uint8_t *f, uint8_t target)
{
    return arp_request_in(f, (uint8_t[]){10, 0, 2}, 15, target);
}

/* Is got an ARP frame with opcode op and sender / target protocol addresses? */
static bool got_arp(uint16_t op, const uint8_t *spa, const uint8_t *tpa)
{
    return got_len >= 42 && got[12] == 0x08 && got[13] == 0x06 && got[20] == 0 && got[21] == op &&
           memcmp(got + 28, spa, 4) == 0 && memcmp(got + 38, tpa, 4) == 0;
}

/* Is got a TCP SYN from net.2 to net.me:port, sent to the guest's MAC? */
static bool got_syn_in(const uint8_t net[3], uint8_t me, int port)
{
    const uint8_t *ip = got + 14, *tcp = ip + 20;
    return got_len >= 54 && memcmp(got, guest_mac, 6) == 0 && got[12] == 0x08 && got[13] == 0 &&
           ip[0] == 0x45 && ip[9] == 6 &&
           memcmp(ip + 12, (uint8_t[]){net[0], net[1], net[2], 2}, 4) == 0 &&
           memcmp(ip + 16, (uint8_t[]){net[0], net[1], net[2], me}, 4) == 0 &&
           (tcp[2] << 8 | tcp[3]) == port && (tcp[13] & 0x12) == 0x02;
}

/* Is got a TCP SYN from 10.0.2.2 to 10.0.2.15:port, sent to the guest's MAC? */
static bool got_syn(int port)
{
    return got_syn_in((uint8_t[]){10, 0, 2}, 15, port);
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

/* The same stack on another subnet, as `hostel switch`'s NAT uplink uses it. */
static void test_slirp_subnet(void)
{
    static const uint8_t net[3] = {10, 77, 0};
    Error err = {0};
    char rule[96];
    int port = free_port();
    snprintf(rule, sizeof(rule), "tcp:127.0.0.1:%d-10.77.0.20:8080", port);
    NetHostFwd fwd;
    struct in_addr n77 = {htonl(0x0a4d0000u)};
    ok(net_hostfwd_parse_in(&fwd, rule, n77, 24, &err) == 0, "forward into 10.77.0.0/24: %s", rule);
    ok(net_hostfwd_parse_in(&fwd, "tcp::80-10.0.2.15:80", n77, 24, &err) < 0 &&
           strstr(err.msg, "must be in 10.77.0.0/24"),
       "a guest address outside the subnet: %s", err.msg);
    ok(net_hostfwd_parse_in(&fwd, "tcp::80-10.77.0.255:80", n77, 24, &err) < 0,
       "the broadcast address is not a guest");
    ok(net_hostfwd_parse_in(&fwd, "tcp::80-10.77.1.9:80", n77, 23, &err) == 0,
       "a /23 reaches 10.77.1.9");
    ok(net_slirp_subnet_check(n77, 28, &err) < 0 && strstr(err.msg, "8 to 27"),
       "a /28 is too small: %s", err.msg);
    ok(net_slirp_subnet_check((struct in_addr){htonl(0x0a4d0001u)}, 24, &err) < 0 &&
           strstr(err.msg, "host bits are set (the network is 10.77.0.0/24)"),
       "host bits: %s", err.msg);

    ok(net_hostfwd_parse_in(&fwd, rule, n77, 24, &err) == 0, "the forward again");
    NetSlirpConfig c = {.network = n77,
                        .prefix = 24,
                        .fwd = &fwd,
                        .nfwd = 1,
                        .name = "uplink nat",
                        .fwd_label = "uplink nat:"};
    NetBackend *b = net_slirp_new_net(&c, loop, &err);
    ok(b != NULL, "user network on 10.77.0.0/24%s%s", b ? "" : ": ", b ? "" : err.msg);
    if (!b)
        return;
    NetBackend *b2 = net_slirp_new_net(&c, loop, &err);
    ok(!b2 && strstr(err.msg, "uplink nat: hostfwd tcp:127.0.0.1:") && strstr(err.msg, "in use"),
       "its forward again: %s", err.msg);
    net_backend_free(b2);
    net_backend_attach(b, capture, NULL);
    uint8_t f[60];
    got_frame = false;
    net_backend_send(b, f, arp_request_in(f, net, 20, 2));
    ok(got_frame && got_arp(2, (uint8_t[]){10, 77, 0, 2}, (uint8_t[]){10, 77, 0, 20}),
       "ARP: the gateway 10.77.0.2 answers 10.77.0.20");
    got_frame = false;
    net_backend_send(b, f, arp_request_in(f, net, 20, 3));
    ok(got_frame && got_arp(2, (uint8_t[]){10, 77, 0, 3}, (uint8_t[]){10, 77, 0, 20}),
       "ARP: the DNS server 10.77.0.3 answers");
    got_frame = false;
    int s = connect_local(port);
    ok(s >= 0 && run_until(&got_frame, 2000) && got_syn_in(net, 20, 8080),
       "a connection to the forward becomes a SYN from 10.77.0.2 to 10.77.0.20:8080");
    if (s >= 0)
        close(s);
    net_backend_free(b);
}

/* ---- virtio-net over a fake backend ---- */

typedef struct FakeNet {
    NetBackend nb;
    uint8_t last[2048];
    size_t last_len;
    unsigned sent;
    unsigned rx_ready; /* the card said it can take frames again */
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

static void fake_rx_ready(NetBackend *b)
{
    ((FakeNet *)b)->rx_ready++;
}

static const NetBackendOps fake_ops = {
    .name = "fake", .send = fake_send, .free = fake_free, .rx_ready = fake_rx_ready};
static FakeNet fake = {.nb.ops = &fake_ops};

/* Reset and bring the device up with VERSION_1 | MAC | STATUS and two queues of 8. */
static void drv_bringup(VirtioMmio *v, VFakeQueue *rx, VFakeQueue *tx)
{
    uint64_t f = VIRTIO_BIT(VIRTIO_F_VERSION_1) | VIRTIO_BIT(VIRTIO_NET_F_MAC) |
                 VIRTIO_BIT(VIRTIO_NET_F_STATUS);
    vfake_negotiate(v, f);
    vfake_queue(rx, v, VIRTIO_NET_RXQ, 8, QAREA(VIRTIO_NET_RXQ));
    vfake_queue(tx, v, VIRTIO_NET_TXQ, 8, QAREA(VIRTIO_NET_TXQ));
    vfake_driver_ok(v);
}

static void test_config(VirtioMmio *v)
{
    ok(vfake_rd(v, VIRTIO_MMIO_DEVICE_ID) == VIRTIO_ID_NET, "device id 1");
    uint64_t f = vfake_device_features(v);
    ok((f & VIRTIO_BIT(VIRTIO_NET_F_MAC)) && (f & VIRTIO_BIT(VIRTIO_NET_F_STATUS)) &&
           (f & VIRTIO_BIT(VIRTIO_F_VERSION_1)),
       "MAC, STATUS and VERSION_1 offered");
    uint8_t mac[6];
    for (int i = 0; i < 6; i++)
        mac[i] = vfake_rd8(v, VIRTIO_MMIO_CONFIG + (uint64_t)i);
    ok(memcmp(mac, (uint8_t[]){0x52, 0x54, 0x00, 0xaa, 0xbb, 0xcc}, 6) == 0, "config: MAC");
    ok(vfake_rd8(v, VIRTIO_MMIO_CONFIG + VIRTIO_NET_CFG_STATUS) == VIRTIO_NET_S_LINK_UP,
       "config: link up");
}

static void test_tx(VirtioMmio *v, VFakeQueue *tx)
{
    uint8_t *p = vfake_ram(&bus, BUF);
    memset(p, 0xee, VIRTIO_NET_HDR_SIZE);
    for (int i = 0; i < 100; i++)
        p[0x100 + i] = (uint8_t)i;
    /* Header + 30 bytes in one buffer, 70 more in a second one. */
    memcpy(p + VIRTIO_NET_HDR_SIZE, p + 0x100, 30);
    VFakeSeg segs[2] = {{BUF, VIRTIO_NET_HDR_SIZE + 30, false}, {BUF + 0x100 + 30, 70, false}};
    vfake_add(tx, segs, 2);
    vfake_kick(tx);
    ok(fake.sent == 1 && fake.last_len == 100 && memcmp(fake.last, p + 0x100, 100) == 0,
       "transmit: the 100-byte frame reaches the backend without the header");
    ok(vfake_used_idx(tx) == 1 && vfake_used_len(tx, 0) == 0 && irq.level,
       "transmit chain returned");
    vfake_wr(v, VIRTIO_MMIO_INTERRUPT_ACK, 3);
    VirtioNetStats st;
    virtio_net_stats(v, &st);
    ok(st.tx_frames == 1 && st.tx_dropped == 0, "tx counted");
    ok(st.tx_bytes == 100, "tx bytes: the frame without the header (%llu)",
       (unsigned long long)st.tx_bytes);
}

/* Transmit one frame of len bytes (frame) through the queue; the card's stats after it. */
static VirtioNetStats tx_frame(VirtioMmio *v, VFakeQueue *tx, const uint8_t *frame, size_t len)
{
    uint8_t *p = vfake_ram(&bus, BUF);
    memset(p, 0, VIRTIO_NET_HDR_SIZE);
    memcpy(p + VIRTIO_NET_HDR_SIZE, frame, len);
    VFakeSeg seg = {BUF, (uint32_t)(VIRTIO_NET_HDR_SIZE + len), false};
    vfake_add(tx, &seg, 1);
    vfake_kick(tx);
    vfake_wr(v, VIRTIO_MMIO_INTERRUPT_ACK, 3);
    VirtioNetStats st;
    virtio_net_stats(v, &st);
    return st;
}

/* The guest's IPv4 address is learned from its own frames (IPv4 source, ARP sender). */
static void test_learns_the_guests_address(VirtioMmio *v, VFakeQueue *tx)
{
    uint8_t ip[34] = {
        [12] = 0x08, [13] = 0x00, [14] = 0x45, [26] = 0, [27] = 0, [28] = 0, [29] = 0};
    ok(tx_frame(v, tx, ip, sizeof(ip)).ipv4 == 0, "0.0.0.0 (a DHCP client's source) is no address");
    ip[26] = 10, ip[27] = 0, ip[28] = 2, ip[29] = 15;
    ok(tx_frame(v, tx, ip, sizeof(ip)).ipv4 == 0x0a00020f, "an IPv4 packet's source: 10.0.2.15");
    uint8_t arp[42] = {[12] = 0x08, [13] = 0x06, [16] = 0x08, [17] = 0x00,
                       [28] = 192,  [29] = 168,  [30] = 1,    [31] = 7};
    ok(tx_frame(v, tx, arp, sizeof(arp)).ipv4 == 0xc0a80107, "an ARP sender: 192.168.1.7");
    ip[26] = 224, ip[27] = 0, ip[28] = 0, ip[29] = 251;
    ok(tx_frame(v, tx, ip, sizeof(ip)).ipv4 == 0xc0a80107, "a multicast source is ignored");
    uint8_t ipv6[60] = {[12] = 0x86, [13] = 0xdd};
    ok(tx_frame(v, tx, ipv6, sizeof(ipv6)).ipv4 == 0xc0a80107, "IPv6 leaves the IPv4 address");
    ok(tx_frame(v, tx, ip, 20).ipv4 == 0xc0a80107, "a runt frame is not read past its end");
}

static void test_rx(VirtioMmio *v, VFakeQueue *rx)
{
    const uint8_t frame[64] = {1, 2, 3, 4, 5, 6, [63] = 0x77};
    VirtioNetStats st;
    ok(!net_backend_deliver(&fake.nb, frame, sizeof(frame)), "no receive buffer: dropped");
    virtio_net_stats(v, &st);
    ok(st.rx_dropped == 1 && st.rx_frames == 0, "the drop is counted");
    VFakeSeg one[1] = {{BUF + 0x1000, 1526, true}};
    memset(vfake_ram(&bus, BUF + 0x1000), 0xaa, 1526);
    vfake_add(rx, one, 1);
    vfake_kick(rx);
    ok(net_backend_deliver(&fake.nb, frame, sizeof(frame)), "frame delivered to the buffer");
    uint8_t *p = vfake_ram(&bus, BUF + 0x1000);
    ok(vfake_used_idx(rx) == 1 && vfake_used_len(rx, 0) == VIRTIO_NET_HDR_SIZE + 64 && irq.level,
       "used length = 12-byte header + frame, interrupt raised");
    ok(p[0] == 0 && p[1] == 0 && vfake_get16(&bus, BUF + 0x1000 + 10) == 1 &&
           memcmp(p + VIRTIO_NET_HDR_SIZE, frame, 64) == 0 && p[VIRTIO_NET_HDR_SIZE + 64] == 0xaa,
       "header zeroed with num_buffers = 1, frame after it, nothing past it");
    vfake_wr(v, VIRTIO_MMIO_INTERRUPT_ACK, 3);
    VFakeSeg small[1] = {{BUF + 0x2000, VIRTIO_NET_HDR_SIZE + 32, true}};
    vfake_add(rx, small, 1);
    vfake_kick(rx);
    ok(!net_backend_deliver(&fake.nb, frame, sizeof(frame)) && vfake_used_idx(rx) == 2 &&
           vfake_used_len(rx, 1) == 0 && !vfake_broken(v),
       "too-small buffer: returned empty, frame dropped, device healthy");
    virtio_net_stats(v, &st);
    ok(st.rx_frames == 1 && st.rx_dropped == 2, "rx counters");
    ok(st.rx_bytes == 64, "rx bytes: the delivered frame only (%llu)",
       (unsigned long long)st.rx_bytes);
}

/* A DHCP ACK delivered to the guest tells its address (yiaddr); a NAK or OFFER does not. */
static void test_learns_the_dhcp_ack(VirtioMmio *v, VFakeQueue *rx)
{
    uint8_t f[14 + 20 + 8 + 240 + 4] = {[12] = 0x08, [13] = 0x00, [14] = 0x45, [23] = 17};
    uint8_t *udp = f + 34, *b = udp + 8, *opt = b + 240;
    udp[1] = 67, udp[3] = 68;
    b[0] = 2; /* BOOTREPLY */
    b[16] = 10, b[17] = 0, b[18] = 2, b[19] = 99;
    memcpy(b + 236, "\x63\x82\x53\x63", 4);
    opt[0] = 53, opt[1] = 1, opt[2] = 2, opt[3] = 255; /* an OFFER */
    VirtioNetStats st;
    for (int i = 0; i < 2; i++) {
        VFakeSeg seg[1] = {{BUF + 0x3000, 1526, true}};
        vfake_add(rx, seg, 1);
        vfake_kick(rx);
        ok(net_backend_deliver(&fake.nb, f, sizeof(f)), "a DHCP %s delivered", i ? "ACK" : "OFFER");
        vfake_wr(v, VIRTIO_MMIO_INTERRUPT_ACK, 3);
        virtio_net_stats(v, &st);
        if (i == 0)
            ok(st.ipv4 != 0x0a000263, "an OFFER is not the guest's address yet");
        opt[2] = 5; /* an ACK */
    }
    ok(st.ipv4 == 0x0a000263, "the ACK's yiaddr is the guest's address: 10.0.2.99");
}

/*
 * Back-pressure: the card says whether the guest has a receive buffer
 * posted (a backend reads only then) and tells the backend when the driver
 * notifies the receive queue; a card that is not running takes (and drops)
 * frames as before.
 */
static void test_can_receive(VirtioMmio *v, VFakeQueue *rx, VFakeQueue *tx)
{
    const uint8_t frame[64] = {1, 2, 3, 4, 5, 6};
    ok(!net_backend_can_receive(&fake.nb), "no receive buffer posted: the card cannot take one");
    unsigned ready = fake.rx_ready;
    VFakeSeg two[2] = {{BUF + 0x4000, 1526, true}, {BUF + 0x5000, 1526, true}};
    vfake_add(rx, &two[0], 1);
    vfake_add(rx, &two[1], 1);
    ok(net_backend_can_receive(&fake.nb), "buffers posted: it can");
    vfake_kick(rx);
    ok(fake.rx_ready == ready + 1, "the driver's notification of the receive queue is passed on");
    ok(net_backend_deliver(&fake.nb, frame, sizeof(frame)) && net_backend_can_receive(&fake.nb),
       "one frame in, one buffer left");
    ok(net_backend_deliver(&fake.nb, frame, sizeof(frame)) && !net_backend_can_receive(&fake.nb),
       "the second frame takes the last buffer");
    vfake_wr(v, VIRTIO_MMIO_INTERRUPT_ACK, 3);
    unsigned sent = fake.sent;
    ready = fake.rx_ready;
    tx_frame(v, tx, frame, sizeof(frame));
    ok(fake.sent == sent + 1 && fake.rx_ready == ready, "a transmit notification is not one");
    vfake_wr(v, VIRTIO_MMIO_STATUS, 0);
    ok(net_backend_can_receive(&fake.nb), "a reset card takes frames (and drops them)");
    drv_bringup(v, rx, tx);
    ok(fake.rx_ready > ready && !net_backend_can_receive(&fake.nb),
       "DRIVER_OK tells the backend; with no buffer yet the card cannot take one");
}

/* The backend loses and regains its peer: the status follows, with a config interrupt. */
static void test_link(VirtioMmio *v)
{
    vfake_wr(v, VIRTIO_MMIO_INTERRUPT_ACK, 3);
    uint32_t gen = (uint32_t)vfake_rd(v, VIRTIO_MMIO_CONFIG_GENERATION);
    net_backend_set_link(&fake.nb, false);
    ok(vfake_rd8(v, VIRTIO_MMIO_CONFIG + VIRTIO_NET_CFG_STATUS) == 0 && irq.level &&
           (vfake_rd(v, VIRTIO_MMIO_INTERRUPT_STATUS) & 2) &&
           vfake_rd(v, VIRTIO_MMIO_CONFIG_GENERATION) != gen,
       "link down: status 0, configuration interrupt, a new generation");
    vfake_wr(v, VIRTIO_MMIO_INTERRUPT_ACK, 3);
    net_backend_set_link(&fake.nb, false);
    ok(!irq.level, "the same state again: no interrupt");
    net_backend_set_link(&fake.nb, true);
    ok(vfake_rd8(v, VIRTIO_MMIO_CONFIG + VIRTIO_NET_CFG_STATUS) == VIRTIO_NET_S_LINK_UP &&
           irq.level,
       "link up again: status LINK_UP, interrupt");
    vfake_wr(v, VIRTIO_MMIO_INTERRUPT_ACK, 3);
}

static void test_bad_chains(VirtioMmio *v, VFakeQueue *rx, VFakeQueue *tx)
{
    VFakeSeg short_tx[1] = {{BUF, 8, false}};
    unsigned sent = fake.sent;
    vfake_add(tx, short_tx, 1);
    vfake_kick(tx);
    ok(vfake_broken(v) && fake.sent == sent,
       "transmit chain shorter than the header: device broken");
    drv_bringup(v, rx, tx);
    ok(!vfake_broken(v), "reset clears it");
    VFakeSeg rw_tx[2] = {{BUF, 64, false}, {BUF + 0x100, 64, true}};
    vfake_add(tx, rw_tx, 2);
    vfake_kick(tx);
    ok(vfake_broken(v), "transmit chain with a writable buffer: device broken");
    drv_bringup(v, rx, tx);
    VFakeSeg ro_rx[2] = {{BUF, 16, false}, {BUF + 0x100, 1526, true}};
    vfake_add(rx, ro_rx, 2);
    vfake_kick(rx);
    const uint8_t frame[60] = {0};
    ok(!net_backend_deliver(&fake.nb, frame, sizeof(frame)) && vfake_broken(v),
       "receive chain with a readable buffer: device broken");
    drv_bringup(v, rx, tx);
    VFakeSeg tiny_rx[1] = {{BUF, 4, true}};
    vfake_add(rx, tiny_rx, 1);
    vfake_kick(rx);
    ok(!net_backend_deliver(&fake.nb, frame, sizeof(frame)) && vfake_broken(v),
       "receive chain without room for the header: device broken");
    ok(!net_backend_deliver(&fake.nb, frame, sizeof(frame)), "a broken device drops frames");
}

static void test_device(void)
{
    Error err;
    VirtioNetConfig ncfg = {.backend = &fake.nb, .mac = {0x52, 0x54, 0x00, 0xaa, 0xbb, 0xcc}};
    VirtioMmio *v = vfake_virtio_net(&bus, 0x10001000, &irq, &ncfg, &err);
    ok(v != NULL, "virtio-net created");
    if (!v)
        return;
    test_config(v);
    VFakeQueue rx, tx;
    drv_bringup(v, &rx, &tx);
    ok((vfake_rd(v, VIRTIO_MMIO_STATUS) & VIRTIO_STATUS_DRIVER_OK) && !vfake_broken(v),
       "driver running");
    test_tx(v, &tx);
    test_learns_the_guests_address(v, &tx);
    test_rx(v, &rx);
    test_learns_the_dhcp_ack(v, &rx);
    test_can_receive(v, &rx, &tx);
    test_link(v);
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
    test_slirp_subnet();
    test_device();
    evloop_free(loop);
    bus_destroy(&bus);
    return tap_done();
}
