/*
 * The tap network backend:
 *   - --net tap parsing: accepted forms, interface names, every error;
 *     kind names both ways;
 *   - (root with /dev/net/tun, skipped otherwise) the backend on a tap it
 *     creates, seen from the host through a packet socket on the
 *     interface: a guest frame comes out of the interface, a host frame
 *     reaches the card; at most one batch of frames per loop wake-up; drops
 *     counted (the interface down, no card attached, a frame the tap
 *     refuses); a second attach
 *     is "in use", a non-tap interface is refused; when the interface is
 *     deleted under the backend the loop does not spin on the dead fd;
 *   - (root) tap,fd=N: a tap opened by the test and handed over as a
 *     descriptor carries frames; a descriptor that is not an attached tap
 *     without packet information is refused with its reason;
 *   - (root, with a bridge, a veth pair and tc) back-pressure: the tap is
 *     bridged to a veth whose queue is stuck (tbf at 8 bit/s).  Without a
 *     send buffer limit (the default) the tap takes every frame (the host
 *     queue drops them later); with one (TUNSETSNDBUF, as a parent may set)
 *     a write says EAGAIN once the stuck queue holds that much: the frame
 *     is held, can_send is false, the loop idles; when the queue is
 *     released the held frame comes out of the bridge and the card is told
 *     (tx_ready); deleting the interface while a frame is held drops it
 *     (counted) and tells the card; freeing the backend while it holds
 *     one closes the descriptor (ASan: nothing leaks).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/if_tun.h>
#include <linux/if_packet.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "net/net.h"
#include "net/tap.h"
#include "tap.h"
#include "vfake.h"
#include "util/timer.h"

#define ETH_TEST 0x88b5 /* IEEE 802 local experimental ethertype: nothing else sends it */
#define FLOOD 100       /* frames queued at once: more than one read batch (64) */

static EventLoop *loop;

/* ---- parsing ---- */

static void test_parse(void)
{
    NetConfig c;
    Error err = {0};
    int rc = net_config_parse(&c, "tap,ifname=hst-tap.0_a", &err);
    ok(rc == 0 && c.kind == NET_TAP && strcmp(c.ifname, "hst-tap.0_a") == 0 && c.nfwd == 0 &&
           memcmp(c.mac, net_default_mac, NET_MAC_LEN) == 0,
       "tap,ifname=: default MAC");
    rc = net_config_parse(&c, "tap,mac=52:54:00:00:00:07,ifname=abcdefghijklmno", &err);
    ok(rc == 0 && c.mac[5] == 7 && strcmp(c.ifname, "abcdefghijklmno") == 0,
       "a MAC before the name; 15 characters fit");
    ok(net_config_parse(&c, "user", &err) == 0 && c.ifname[0] == 0, "user has no ifname");
    ok(vfake_net_parse_fails("tap", "tap needs ifname=NAME"), "no ifname");
    ok(vfake_net_parse_fails("tap,mac=52:54:00:00:00:07", "tap needs ifname=NAME"), "only a MAC");
    ok(net_config_parse(&c, "tap,fd=3", &err) == 0 && c.fd == 3 && !c.ifname[0], "tap,fd=3");
    ok(vfake_net_parse_fails("tap,ifname=t0,fd=3", "tap takes ifname=NAME"), "ifname and fd");
    ok(vfake_net_parse_fails("tap,fd=2", "fd=2: expected a descriptor number of 3 or more"),
       "fd 2");
    ok(vfake_net_parse_fails("tap,ifname=abcdefghijklmnop",
                             "ifname 'abcdefghijklmnop': expected 1 to 15"),
       "16 characters");
    ok(vfake_net_parse_fails("tap,ifname=", "ifname '': expected"), "empty name");
    ok(vfake_net_parse_fails("tap,ifname=tap%d", "expected"), "'%%' (a kernel name pattern)");
    ok(vfake_net_parse_fails("tap,ifname=a/b", "expected"), "'/'");
    ok(vfake_net_parse_fails("tap,ifname=a:1", "expected"), "':'");
    ok(vfake_net_parse_fails("tap,ifname=..", "expected"), "'..'");
    ok(vfake_net_parse_fails("tap,ifname=a,ifname=b", "given twice"), "two names");
    ok(vfake_net_parse_fails("tap,ifname=a,hostfwd=tcp::22-:22", "hostfwd is for --net user"),
       "hostfwd on a tap");
    ok(vfake_net_parse_fails("tap,ifname=a,vhost=on",
                             "unknown option 'vhost=on' (expected ifname=..., fd=... "
                             "or mac=...)"),
       "unknown option");
    ok(vfake_net_parse_fails("tap,ifname", "ifname needs a value (ifname=...)"),
       "ifname without a value");
    ok(vfake_net_parse_fails("user,ifname=a",
                             "ifname is not an option of --net user (expected hostfwd=... or "
                             "mac=...)"),
       "ifname on user");
    ok(vfake_net_parse_fails("tap,ifname=a,mac=01:00:00:00:00:01", "unicast"), "multicast MAC");
    ok(vfake_net_parse_fails("bridge",
                             "unknown network type 'bridge' (expected none, user, tap, socket or "
                             "network)"),
       "unknown type");
}

static void test_names(void)
{
    NetKind k = NET_NONE;
    ok(strcmp(net_kind_name(NET_TAP), "tap") == 0 && strcmp(net_kind_name(NET_USER), "user") == 0 &&
           strcmp(net_kind_name(NET_NONE), "none") == 0,
       "kind names");
    ok(net_kind_from_name("tap", &k) && k == NET_TAP, "tap -> NET_TAP");
    ok(!net_kind_from_name("Tap", &k) && !net_kind_from_name("", &k) && k == NET_TAP,
       "unknown kind names are refused, the kind untouched");
    ok(net_ifname_valid("a") && net_ifname_valid("br0.100") && !net_ifname_valid("a b") &&
           !net_ifname_valid(".") && !net_ifname_valid("0123456789abcdef"),
       "interface names");
}

/* ---- the backend ---- */

static uint8_t got[2048];
static size_t got_len;
static unsigned got_frames;

/* The card: keeps the last test frame, ignores the host's own traffic (IPv6 and such). */
static bool capture(void *opaque, const uint8_t *frame, size_t len)
{
    if (len < 14 || frame[12] != ETH_TEST >> 8 || frame[13] != (ETH_TEST & 0xff))
        return true;
    got_len = len < sizeof(got) ? len : sizeof(got);
    memcpy(got, frame, got_len);
    got_frames++;
    return true;
}

/* A 60-byte test frame from src with payload byte tag. */
static size_t test_frame(uint8_t *f, const uint8_t *dst, const uint8_t *src, uint8_t tag)
{
    memset(f, tag, 60);
    memcpy(f, dst, 6);
    memcpy(f + 6, src, 6);
    f[12] = ETH_TEST >> 8;
    f[13] = ETH_TEST & 0xff;
    return 60;
}

static int if_up(const char *name)
{
    int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    struct ifreq ifr = {0};
    snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", name);
    int rc = s < 0 || ioctl(s, SIOCGIFFLAGS, &ifr) < 0 ? -1 : 0;
    ifr.ifr_flags |= IFF_UP;
    if (rc == 0)
        rc = ioctl(s, SIOCSIFFLAGS, &ifr);
    if (s >= 0)
        close(s);
    return rc;
}

/* A packet socket on the interface's host side, for test frames only. */
static int host_socket(const char *name)
{
    int s = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC | SOCK_NONBLOCK, htons(ETH_TEST));
    struct sockaddr_ll a = {.sll_family = AF_PACKET,
                            .sll_protocol = htons(ETH_TEST),
                            .sll_ifindex = (int)if_nametoindex(name)};
    if (s >= 0 && bind(s, (struct sockaddr *)&a, sizeof(a)) < 0) {
        close(s);
        return -1;
    }
    return s;
}

/* Wait up to ms for a test frame on the host socket; returns its length or -1. */
static ssize_t host_recv(int s, uint8_t *buf, size_t size, int ms)
{
    for (int i = 0; i < ms; i++) {
        ssize_t n = recv(s, buf, size, 0);
        if (n >= 0 || errno != EAGAIN)
            return n;
        usleep(1000);
    }
    return -1;
}

static bool run_until_frames(unsigned n, int ms)
{
    uint64_t end = timer_now_ns() + (uint64_t)ms * 1000000ull;
    while (got_frames < n && timer_now_ns() < end)
        evloop_run_once(loop, 10000000ull);
    return got_frames >= n;
}

static const uint8_t guest_mac[6] = {0x52, 0x54, 0x00, 0x12, 0x34, 0x56};
static const uint8_t host_mac[6] = {0x02, 0x00, 0x00, 0x00, 0x00, 0x01};

static void test_frames(NetBackend *b, int hs)
{
    uint8_t f[60], buf[2048];
    net_backend_send(b, f, test_frame(f, host_mac, guest_mac, 0xa1));
    ssize_t n = host_recv(hs, buf, sizeof(buf), 2000);
    ok(n == 60 && memcmp(buf, f, 60) == 0, "a guest frame comes out of the interface");

    test_frame(f, guest_mac, host_mac, 0xb2);
    ok(send(hs, f, 60, 0) == 60, "the host sends a frame into the tap");
    ok(run_until_frames(1, 2000) && got_len == 60 && memcmp(got, f, 60) == 0,
       "the event loop wakes and the card gets it");

    for (int i = 0; i < FLOOD; i++)
        send(hs, f, test_frame(f, guest_mac, host_mac, (uint8_t)i), 0);
    unsigned before = got_frames;
    evloop_run_once(loop, 1000000000ull);
    unsigned first = got_frames - before;
    ok(first > 0 && first <= 64, "one wake-up reads one batch (%u of %d frames)", first, FLOOD);
    ok(run_until_frames(before + FLOOD, 2000) && got[14] == FLOOD - 1,
       "the rest on the next turns, in order (%u)", got_frames - before);
}

static void test_drops(NetBackend *b, int hs)
{
    NetBackendStats st;
    uint8_t f[60];
    net_backend_stats(b, &st);
    ok(st.tx_dropped == 1 && st.rx_dropped == 0, "no more drops while the interface is up");
    net_backend_send(b, f, 5); /* shorter than an Ethernet header: the tap refuses it */
    net_backend_stats(b, &st);
    ok(st.tx_dropped == 2, "a frame the tap refuses is dropped and counted");
    net_backend_attach(b, NULL, NULL);
    send(hs, f, test_frame(f, guest_mac, host_mac, 0xc3), 0);
    for (int i = 0; i < 50 && st.rx_dropped == 0; i++) {
        evloop_run_once(loop, 10000000ull);
        net_backend_stats(b, &st);
    }
    ok(st.rx_dropped >= 1, "a frame with no card to take it is dropped and counted");
    net_backend_attach(b, capture, NULL);
}

static void test_attach_errors(const NetConfig *cfg)
{
    Error err = {0};
    NetBackend *b2 = net_backend_new(cfg, loop, &err);
    ok(!b2 && strstr(err.msg, "in use by another process") && strstr(err.msg, cfg->ifname),
       "a second attach: %s", err.msg);
    net_backend_free(b2);
    NetConfig lo = *cfg;
    strcpy(lo.ifname, "lo");
    b2 = net_backend_new(&lo, loop, &err);
    ok(!b2 && strstr(err.msg, "tap lo: the interface exists and is not a tap"), "lo: %s", err.msg);
    net_backend_free(b2);
}

/* The interface goes away under the backend: one warning, then the loop idles. */
static void test_deleted(const char *name)
{
    char cmd[64];
    snprintf(cmd, sizeof(cmd), "ip link del %s 2>/dev/null", name);
    if (system(cmd) != 0) {
        ok(1, "# SKIP cannot run ip link del");
        return;
    }
    for (int i = 0; i < 5; i++)
        evloop_run_once(loop, 10000000ull);
    int idle = evloop_run_once(loop, 0);
    ok(idle == 0, "after the interface is deleted the loop has nothing to run (%d)", idle);
}

static void test_backend(void)
{
    if (geteuid() != 0 || access("/dev/net/tun", R_OK | W_OK) != 0) {
        ok(1, "# SKIP the backend needs root and /dev/net/tun");
        return;
    }
    NetConfig cfg;
    Error err = {0};
    char spec[64];
    snprintf(spec, sizeof(spec), "tap,ifname=hstu%d", (int)(getpid() % 1000000));
    ok(net_config_parse(&cfg, spec, &err) == 0, "parsed %s", spec);
    NetBackend *b = net_backend_new(&cfg, loop, &err);
    ok(b != NULL, "attached to %s (created)%s%s", cfg.ifname, b ? "" : ": ", b ? "" : err.msg);
    if (!b)
        return;
    net_backend_attach(b, capture, NULL);
    uint8_t f[60];
    NetBackendStats st;
    net_backend_send(b, f, test_frame(f, host_mac, guest_mac, 0x99));
    net_backend_stats(b, &st);
    ok(st.tx_dropped == 1, "a frame while the interface is down is dropped and counted");
    int hs = if_up(cfg.ifname) == 0 ? host_socket(cfg.ifname) : -1;
    ok(hs >= 0, "interface up, packet socket bound");
    if (hs >= 0) {
        test_frames(b, hs);
        test_drops(b, hs);
        close(hs);
    }
    test_attach_errors(&cfg);
    test_deleted(cfg.ifname);
    net_backend_free(b);
    ok(if_nametoindex(cfg.ifname) == 0, "the interface the backend made is gone");
}

/* Open /dev/net/tun and attach it to name with flags (no attach when flags is 0). */
static int tun_open(const char *name, short flags)
{
    int fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC);
    struct ifreq ifr = {.ifr_flags = flags};
    snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", name);
    if (fd >= 0 && flags && ioctl(fd, TUNSETIFF, &ifr) < 0) {
        close(fd);
        return -1;
    }
    return fd;
}

/* A tap,fd= card on fd fails with a message containing want. */
static bool inherit_fails(int fd, const char *want)
{
    NetConfig cfg;
    Error err = {0};
    char spec[32];
    snprintf(spec, sizeof(spec), "tap,fd=%d", fd);
    net_config_parse(&cfg, spec, NULL);
    NetBackend *b = net_backend_new(&cfg, loop, &err);
    net_backend_free(b);
    if (b || !strstr(err.msg, want))
        printf("#   fd %d: %s\n", fd, b ? "accepted" : err.msg);
    return !b && strstr(err.msg, want);
}

static void test_inherit_errors(const char *name)
{
    int p[2], fd;
    ok(pipe(p) == 0 && inherit_fails(p[0], "not a tap (not a /dev/net/tun descriptor)"),
       "tap,fd= on a pipe");
    close(p[0]);
    close(p[1]);
    ok(fcntl(999, F_GETFD) < 0 && inherit_fails(999, "tap fd=999: the descriptor is not open"),
       "tap,fd= on a closed descriptor");
    fd = tun_open(name, 0);
    ok(fd >= 0 && inherit_fails(fd, "no interface attached"), "tap,fd= on a bare /dev/net/tun");
    close(fd);
    fd = tun_open(name, IFF_TUN | IFF_NO_PI);
    ok(fd >= 0 && inherit_fails(fd, "is a tun, not a tap"), "tap,fd= on a tun");
    close(fd);
    fd = tun_open(name, IFF_TAP);
    struct ifreq ifr = {0};
    if (fd >= 0 && ioctl(fd, TUNGETIFF, &ifr) == 0 && (ifr.ifr_flags & IFF_NO_PI))
        ok(1, "# SKIP this kernel reports IFF_NO_PI for a tap attached without it");
    else
        ok(fd >= 0 && inherit_fails(fd, "was attached with packet information"),
           "tap,fd= on a tap with packet information");
    close(fd);
    fd = tun_open(name, IFF_TAP | IFF_NO_PI | IFF_VNET_HDR);
    ok(fd >= 0 && inherit_fails(fd, "was attached with IFF_VNET_HDR"),
       "tap,fd= on a tap with virtio-net headers");
    close(fd);
}

static void test_inherit(void)
{
    if (geteuid() != 0 || access("/dev/net/tun", R_OK | W_OK) != 0) {
        ok(1, "# SKIP tap,fd= needs root and /dev/net/tun");
        return;
    }
    char name[IFNAMSIZ], spec[32];
    snprintf(name, sizeof(name), "hstf%d", (int)(getpid() % 1000000));
    int fd = tun_open(name, IFF_TAP | IFF_NO_PI);
    NetConfig cfg;
    Error err = {0};
    snprintf(spec, sizeof(spec), "tap,fd=%d", fd);
    ok(fd >= 0 && net_config_parse(&cfg, spec, &err) == 0, "made %s, parsed %s", name, spec);
    NetBackend *b = fd >= 0 ? net_backend_new(&cfg, loop, &err) : NULL;
    ok(b != NULL, "tap,fd=%d: the backend takes the descriptor%s%s", fd, b ? "" : ": ",
       b ? "" : err.msg);
    if (!b)
        return;
    ok(fcntl(fd, F_GETFL) & O_NONBLOCK, "made non-blocking");
    net_backend_attach(b, capture, NULL);
    int hs = if_up(name) == 0 ? host_socket(name) : -1;
    uint8_t f[60], buf[128];
    net_backend_send(b, f, test_frame(f, host_mac, guest_mac, 0x5a));
    ok(hs >= 0 && host_recv(hs, buf, sizeof(buf), 2000) == 60 && buf[14] == 0x5a,
       "a guest frame comes out of %s", name);
    unsigned before = got_frames;
    send(hs, f, test_frame(f, guest_mac, host_mac, 0x5b), 0);
    ok(run_until_frames(before + 1, 2000) && got[14] == 0x5b, "a host frame reaches the card");
    if (hs >= 0)
        close(hs);
    net_backend_free(b);
    ok(fcntl(fd, F_GETFD) < 0 && if_nametoindex(name) == 0,
       "the backend closes the descriptor: the interface goes");
    test_inherit_errors(name);
}

/* ---- back-pressure ---- */

#define SNDBUF (32 << 10) /* a few dozen small frames in flight */
#define MAX_HOLD 250      /* the limit holds fewer frames than this (tags stay distinct) */

static unsigned tx_ready_calls;

static void count_tx_ready(void *opaque)
{
    (void)opaque;
    tx_ready_calls++;
}

/* Run a shell command made from fmt; true if it succeeded. */
static bool shell(const char *fmt, ...)
{
    char cmd[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof(cmd), fmt, ap);
    va_end(ap);
    return system(cmd) == 0;
}

/* The interfaces of the test: the tap's bridge and a veth pair v-w on it. */
typedef struct Rig {
    char br[IFNAMSIZ], v[IFNAMSIZ], w[IFNAMSIZ];
} Rig;

#define NO_V6 "echo 1 > /proc/sys/net/ipv6/conf/%s/disable_ipv6" /* quiet: no host frames */

static bool rig_up(Rig *r)
{
    int id = (int)(getpid() % 1000000);
    snprintf(r->br, sizeof(r->br), "hstqb%d", id);
    snprintf(r->v, sizeof(r->v), "hstqv%d", id);
    snprintf(r->w, sizeof(r->w), "hstqw%d", id);
    return shell("ip link add %s type bridge && ip link add %s type veth peer name %s", r->br, r->v,
                 r->w) &&
           shell(NO_V6 " && " NO_V6 " && " NO_V6, r->br, r->v, r->w) &&
           shell("ip link set %s master %s up && ip link set %s up && ip link set %s up", r->v,
                 r->br, r->w, r->br);
}

static void rig_down(const Rig *r)
{
    shell("ip link del %s 2>/dev/null; ip link del %s 2>/dev/null", r->v, r->br);
}

/* The veth's queue takes frames and (at 8 bit/s) sends none: they stay in the host. */
static bool rig_stall(const Rig *r)
{
    return shell("tc qdisc add dev %s root tbf rate 8bit burst 2000 limit 10000000", r->v);
}

/* Delete the stuck queue: the frames in it are freed (and counted by tbf). */
static bool rig_release(const Rig *r)
{
    return shell("tc qdisc del dev %s root", r->v);
}

/* A tap,fd= backend on a new tap `name` on the bridge, with a send buffer limit (0 = none). */
static NetBackend *rig_tap(const Rig *r, const char *name, int sndbuf, int *fdp)
{
    NetConfig cfg;
    char spec[32];
    int fd = tun_open(name, IFF_TAP | IFF_NO_PI);
    *fdp = fd;
    if (fd < 0 || (sndbuf && ioctl(fd, TUNSETSNDBUF, &sndbuf) < 0) ||
        !shell(NO_V6 " && ip link set %s master %s up", name, name, r->br)) {
        if (fd >= 0)
            close(fd);
        return NULL;
    }
    snprintf(spec, sizeof(spec), "tap,fd=%d", fd);
    net_config_parse(&cfg, spec, NULL);
    NetBackend *b = net_backend_new(&cfg, loop, NULL);
    if (!b) {
        close(fd);
        return NULL;
    }
    net_backend_attach(b, capture, NULL);
    net_backend_attach_tx_ready(b, count_tx_ready);
    return b;
}

static uint64_t tx_dropped(NetBackend *b)
{
    NetBackendStats st;
    net_backend_stats(b, &st);
    return st.tx_dropped;
}

/* Send frames tagged 0, 1, ... (to an unknown address: the bridge floods them to the veth)
 * while the backend can take them, at most max; returns how many were sent. */
static int fill(NetBackend *b, int max)
{
    uint8_t f[60];
    int i = 0;
    while (i < max && net_backend_can_send(b)) {
        net_backend_send(b, f, test_frame(f, host_mac, guest_mac, (uint8_t)i));
        i++;
    }
    return i;
}

static bool run_until_tx_ready(unsigned n, int ms)
{
    uint64_t end = timer_now_ns() + (uint64_t)ms * 1000000ull;
    while (tx_ready_calls < n && timer_now_ns() < end)
        evloop_run_once(loop, 10000000ull);
    return tx_ready_calls >= n;
}

/* Wait up to ms for the test frame tagged tag on the packet socket s (others are skipped). */
static bool host_sees(int s, uint8_t tag, int ms)
{
    uint8_t buf[128];
    uint64_t end = timer_now_ns() + (uint64_t)ms * 1000000ull;
    while (timer_now_ns() < end) {
        ssize_t n = host_recv(s, buf, sizeof(buf), 10);
        if (n == 60 && buf[14] == tag)
            return true;
    }
    return false;
}

/* No limit (the default): writes succeed while the host queue behind the tap is stuck. */
static void test_no_limit(const Rig *r, NetBackend *b)
{
    int sent = rig_stall(r) ? fill(b, 2000) : 0;
    ok(sent == 2000 && tx_dropped(b) == 0,
       "without a send buffer limit the tap takes every frame while the host queue is stuck "
       "(%d of 2000): no back-pressure, the host drops",
       sent);
    rig_release(r);
}

/* A frame is held while the queue is stuck; it goes, and the card is told, once released. */
static void test_hold_release(const Rig *r, NetBackend *b, int ws)
{
    int sent = rig_stall(r) ? fill(b, MAX_HOLD) : 0;
    ok(sent > 0 && sent < MAX_HOLD && !net_backend_can_send(b) && tx_dropped(b) == 0,
       "with a limit the tap says EAGAIN once the stuck queue holds it: after %d frames one is "
       "held and can_send is false, nothing dropped",
       sent);
    uint8_t f[60];
    net_backend_send(b, f, test_frame(f, host_mac, guest_mac, 0xff));
    ok(tx_dropped(b) == 1, "a frame sent anyway while one is held is dropped and counted");
    for (int i = 0; i < 10; i++)
        evloop_run_once(loop, 10000000ull);
    ok(!net_backend_can_send(b) && tx_ready_calls == 0,
       "while the queue is stuck the frame stays held and the card is not told");
    ok(evloop_run_once(loop, 0) == 0, "meanwhile the loop is idle (no spinning on writability)");
    while (host_recv(ws, f, sizeof(f), 1) >= 0) /* the frames the queue let through */
        ;
    ok(rig_release(r) && run_until_tx_ready(1, 2000) && net_backend_can_send(b),
       "the queue released: the tap is writable, the held frame goes, the card is told");
    ok(host_sees(ws, (uint8_t)(sent - 1), 2000), "the held frame (%d) comes out of the bridge",
       sent - 1);
    ok(tx_ready_calls == 1 && tx_dropped(b) == 1, "told once, nothing more dropped");
    ok(evloop_run_once(loop, 0) == 0, "writability is no longer watched (the loop is idle)");
}

/* The interface deleted while a frame is held: the frame is dropped, the card told. */
static void test_deleted_held(const Rig *r, NetBackend *b, const char *name)
{
    int sent = rig_stall(r) ? fill(b, MAX_HOLD) : 0;
    uint64_t before = tx_dropped(b);
    ok(sent < MAX_HOLD && !net_backend_can_send(b), "held again (after %d frames)", sent);
    ok(shell("ip link del %s", name) && run_until_tx_ready(2, 2000) && net_backend_can_send(b) &&
           tx_dropped(b) == before + 1,
       "the interface deleted: the held frame is dropped and counted, the card is told");
    uint8_t f[60];
    net_backend_send(b, f, test_frame(f, host_mac, guest_mac, 0xfe));
    ok(tx_dropped(b) == before + 2 && net_backend_can_send(b),
       "frames after that are dropped and counted, never held");
    rig_release(r);
}

/* Freeing a backend that holds a frame (ASan: nothing leaks or is used after). */
static void test_free_held(const Rig *r, const char *name)
{
    int fd;
    NetBackend *b = rig_tap(r, name, SNDBUF, &fd);
    int sent = b && rig_stall(r) ? fill(b, MAX_HOLD) : 0;
    ok(sent > 0 && sent < MAX_HOLD && !net_backend_can_send(b), "%s holds a frame", name);
    net_backend_free(b);
    ok(fcntl(fd, F_GETFD) < 0 && if_nametoindex(name) == 0,
       "freed while holding it: the descriptor is closed, the interface gone");
    rig_release(r);
}

static void test_backpressure(void)
{
    Rig r;
    if (geteuid() != 0 || access("/dev/net/tun", R_OK | W_OK) != 0) {
        ok(1, "# SKIP back-pressure needs root and /dev/net/tun");
        return;
    }
    if (!rig_up(&r) || !rig_stall(&r) || !rig_release(&r)) {
        rig_down(&r);
        ok(1, "# SKIP cannot make a bridge, a veth pair and a tbf queue (ip, tc)");
        return;
    }
    char name[IFNAMSIZ];
    int fd;
    snprintf(name, sizeof(name), "hstq%d", (int)(getpid() % 1000000));
    NetBackend *b = rig_tap(&r, name, 0, &fd);
    int ws = host_socket(r.w);
    ok(b && ws >= 0, "tap %s on bridge %s, a packet socket on %s", name, r.br, r.w);
    if (b && ws >= 0) {
        test_no_limit(&r, b);
        int sndbuf = SNDBUF; /* what a parent would have set before handing the fd over */
        ok(ioctl(fd, TUNSETSNDBUF, &sndbuf) == 0, "a send buffer limit of %d bytes", sndbuf);
        tx_ready_calls = 0;
        test_hold_release(&r, b, ws);
        test_deleted_held(&r, b, name);
        snprintf(name, sizeof(name), "hstr%d", (int)(getpid() % 1000000));
        test_free_held(&r, name);
    }
    if (ws >= 0)
        close(ws);
    net_backend_free(b);
    rig_down(&r);
}

int main(void)
{
    Error err;
    if (!(loop = evloop_new(&err))) {
        printf("Bail out! %s\n", err.msg);
        return 1;
    }
    test_parse();
    test_names();
    test_backend();
    test_inherit();
    test_backpressure();
    evloop_free(loop);
    return tap_done();
}
