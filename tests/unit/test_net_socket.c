/*
 * The socket and network cards (net/net_spec.c, net/socket.c):
 *   - --net socket / network / tap,fd=: the accepted forms, a round trip
 *     through net_config_format for each, and every error message;
 *   - the backend over a real socketpair and the real event loop: frames
 *     both ways, one batch of 64 per wake-up, drops (a full socket, runts,
 *     oversized frames, no card), the link going down when the peer hangs
 *     up (the card told once, the loop idle after), SOCK_DGRAM too;
 *   - descriptors that are not what a card needs, a network card without fd;
 *   - path=: a card started before anyone listens connects once a listener
 *     appears, and again after the listener's side hangs up;
 *   - net_socket_set_fd (the VMM's set-net-fd): an fd= card whose peer hung
 *     up gets a new socket under its old descriptor number, link up, frames
 *     both ways, counters kept; a live one is swapped too (its old peer
 *     sees the hang-up); a stale hang-up event of the old socket does not
 *     take the new one down; what is refused (not connected, not a unix
 *     SEQPACKET socket, a path= card, another backend) is closed.
 * Links hostel-net and hostel-util only.
 */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <inttypes.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "net/net.h"
#include "net/ring.h"
#include "net/socket.h"
#include "tap.h"
#include "util/timer.h"

static EventLoop *loop;

/* ---- parsing ---- */

/* spec must be refused with one line naming --net and containing want. */
static bool parse_fails(const char *spec, const char *want)
{
    NetConfig c;
    Error err = {0};
    if (net_config_parse(&c, spec, &err) == 0) {
        printf("#   %s was accepted\n", spec);
        return false;
    }
    bool good = strstr(err.msg, want) && strstr(err.msg, "--net") && !strchr(err.msg, '\n');
    if (!good)
        printf("#   %s -> %s\n", spec, err.msg);
    return good;
}

/* spec parses, formats as want (NULL: as spec) and that text parses into the same card. */
static bool round_trip(const char *spec, const char *want)
{
    NetConfig a, b;
    Error err = {0};
    char text[NET_SPEC_TEXT];
    if (net_config_parse(&a, spec, &err) < 0) {
        printf("#   %s: %s\n", spec, err.msg);
        return false;
    }
    net_config_format(&a, text, sizeof(text));
    if (strcmp(text, want ? want : spec) != 0) {
        printf("#   %s formatted as %s\n", spec, text);
        return false;
    }
    if (net_config_parse(&b, text, &err) < 0 || memcmp(&a, &b, sizeof(a)) != 0) {
        printf("#   %s read back differently (%s)\n", text, err.msg);
        return false;
    }
    return true;
}

static void test_parse(void)
{
    NetConfig c;
    Error err = {0};
    ok(net_config_parse(&c, "user", &err) == 0 && c.fd == -1 && !c.path[0] && !c.network[0],
       "a user card has no descriptor (fd -1), path or network");
    ok(net_config_parse(&c, "socket,path=/run/sw.sock", &err) == 0 && c.kind == NET_SOCKET &&
           !strcmp(c.path, "/run/sw.sock") && c.fd == -1,
       "socket,path=");
    ok(net_config_parse(&c, "socket,fd=3", &err) == 0 && c.kind == NET_SOCKET && c.fd == 3 &&
           !c.path[0],
       "socket,fd=3");
    ok(net_config_parse(&c, "network,name=lan", &err) == 0 && c.kind == NET_NETWORK &&
           !strcmp(c.network, "lan") && c.fd == -1 && c.port.vlan == 0 && c.port.ntrunk == 0 &&
           !c.port.isolated && !c.port.no_spoof_check,
       "network,name=lan: no fd, an access port on the default VLAN with spoof checks");
    int rc = net_config_parse(&c,
                              "network,name=lan.2_x-y,fd=9,trunk=10:20:4094,native=1,isolated,"
                              "spoof-check=off,rate=100,flood=1000,mac=02:00:00:00:00:01",
                              &err);
    ok(rc == 0 && c.fd == 9 && c.port.ntrunk == 3 && c.port.trunk[0] == 10 &&
           c.port.trunk[2] == 4094 && c.port.native == 1 && c.port.isolated &&
           c.port.no_spoof_check && c.port.rate_mbit == 100 && c.port.flood_pps == 1000 &&
           c.mac[5] == 1,
       "network with every option %s", err.msg);
    ok(net_config_parse(&c, "network,name=a,isolated=on,spoof-check=on", &err) == 0 &&
           c.port.isolated && !c.port.no_spoof_check,
       "isolated=on, spoof-check=on");
    ok(net_config_parse(&c, "network,name=a,isolated=off,vlan=4094", &err) == 0 &&
           !c.port.isolated && c.port.vlan == 4094,
       "isolated=off, vlan=4094");
    ok(net_config_parse(&c, "tap,fd=7", &err) == 0 && c.kind == NET_TAP && c.fd == 7 &&
           !c.ifname[0],
       "tap,fd=7");
    ok(net_config_parse_nic(&c, "socket,fd=5", 2, &err) == 0 && c.mac[5] == 0x58,
       "card 2 without mac= gets 52:54:00:12:34:58");

    ok(round_trip("socket,path=/run/sw.sock,mac=52:54:00:12:34:56", NULL), "socket,path");
    ok(round_trip("socket,fd=3,mac=52:54:00:12:34:56", NULL), "socket,fd");
    ok(round_trip("socket,mac=02:00:00:00:00:09,fd=12", "socket,fd=12,mac=02:00:00:00:00:09"),
       "socket: options in the canonical order");
    ok(round_trip("network,name=lan", "network,name=lan,mac=52:54:00:12:34:56"), "network");
    ok(round_trip("network,name=lan,fd=3,vlan=10,mac=52:54:00:12:34:56", NULL), "access port");
    ok(round_trip("network,name=lan,trunk=10:20,native=1,isolated,spoof-check=off,rate=100,"
                  "flood=1000,mac=52:54:00:12:34:56",
                  NULL),
       "trunk port with every option");
    ok(round_trip("network,name=lan,isolated=off,spoof-check=on,rate=0",
                  "network,name=lan,mac=52:54:00:12:34:56"),
       "options at their defaults are left out");
    ok(round_trip("tap,fd=4", "tap,fd=4,mac=52:54:00:12:34:56"), "tap,fd");
    ok(round_trip("tap,ifname=t0", "tap,ifname=t0,mac=52:54:00:12:34:56"), "tap,ifname");
    ok(round_trip("user,hostfwd=tcp:127.0.0.1:2222-:22,hostfwd=udp::53-10.0.2.9:53",
                  "user,hostfwd=tcp:127.0.0.1:2222-:22,hostfwd=udp:0.0.0.0:53-10.0.2.9:53,"
                  "mac=52:54:00:12:34:56"),
       "user with forwards");
    ok(round_trip("none", NULL), "none");

    char long_trunk[NET_SPEC_TEXT] = "network,name=a,trunk=1", *p = long_trunk;
    for (int v = 2; v <= NET_MAX_TRUNK; v++)
        p += strlen(p), sprintf(p, ":%d", v);
    ok(net_config_parse(&c, long_trunk, &err) == 0 && c.port.ntrunk == NET_MAX_TRUNK,
       "a trunk of %d VLANs", NET_MAX_TRUNK);
    char want[NET_SPEC_TEXT];
    snprintf(want, sizeof(want), "%s,mac=52:54:00:12:34:56", long_trunk);
    ok(round_trip(long_trunk, want), "and formatted back");
    strcat(long_trunk, ":100");
    ok(parse_fails(long_trunk, "trunk: at most 64 VLANs"), "a trunk of 65 VLANs");
}

static void test_parse_errors(void)
{
    static const struct {
        const char *spec, *want;
    } cases[] = {
        {"socket", "socket needs path=PATH (a listening SEQPACKET socket) or fd=N"},
        {"socket,mac=02:00:00:00:00:01", "socket needs path=PATH"},
        {"socket,path=/a,fd=3", "socket takes path=PATH (a listening SEQPACKET socket) or fd=N "
                                "(a connected one), not both"},
        {"socket,fd=2", "fd=2: expected a descriptor number of 3 or more"},
        {"socket,fd=0", "fd=0: expected a descriptor number of 3 or more"},
        {"socket,fd=-1", "fd=-1: expected a descriptor number"},
        {"socket,fd=3x", "fd=3x: expected a descriptor number"},
        {"socket,fd=", "fd=: expected a descriptor number"},
        {"socket,fd=99999999999", "fd=99999999999: expected a descriptor number"},
        {"socket,fd", "fd needs a value (fd=...)"},
        {"socket,fd=3,fd=4", "fd is given twice"},
        {"socket,path=", "path is empty"},
        {"socket,path=/a,path=/b", "path is given twice"},
        {"socket,path=/a,name=lan",
         "name is not an option of --net socket (expected path=..., fd=... or mac=...)"},
        {"socket,path=/a,vlan=3", "vlan is not an option of --net socket"},
        {"socket,path=/a,ifname=t0", "ifname is not an option of --net socket"},
        {"socket,path=/a,hostfwd=tcp::1-:2", "hostfwd is for --net user"},
        {"socket,path=/a,speed=10", "unknown option 'speed=10' (expected path=..., fd=... or "
                                    "mac=...)"},
        {"socket,path=/a,mac=01:00:00:00:00:01", "unicast"},
        {"network", "network needs name=NET"},
        {"network,fd=3", "network needs name=NET"},
        {"network,name=", "name '': expected a network name"},
        {"network,name=-lan", "name '-lan': expected a network name"},
        {"network,name=a/b", "name 'a/b': expected a network name"},
        {"network,name=a,name=b", "name is given twice"},
        {"network,name=lan,vlan=0", "vlan=0: expected a VLAN number, 1 to 4094"},
        {"network,name=lan,vlan=4095", "vlan=4095: expected a VLAN number, 1 to 4094"},
        {"network,name=lan,vlan=ten", "vlan=ten: expected a VLAN number"},
        {"network,name=lan,vlan=+5", "vlan=+5: expected a VLAN number"},
        {"network,name=lan,trunk=", "trunk=: expected VLAN numbers separated by ':'"},
        {"network,name=lan,trunk=10::20", "trunk=10::20: expected VLAN numbers separated"},
        {"network,name=lan,trunk=:10", "trunk=:10: expected VLAN numbers separated"},
        {"network,name=lan,trunk=10:", "trunk=10:: expected VLAN numbers separated"},
        {"network,name=lan,trunk=10:x", "trunk=x: expected a VLAN number, 1 to 4094"},
        {"network,name=lan,trunk=10:4095", "trunk=4095: expected a VLAN number"},
        {"network,name=lan,trunk=20:10", "trunk: list the VLANs in ascending order (10 after 20)"},
        {"network,name=lan,trunk=10:10", "trunk: VLAN 10 is listed twice"},
        {"network,name=lan,native=5", "native: only a trunk port (trunk) has a native VLAN"},
        {"network,name=lan,native=5,trunk=5:6,native=6", "native is given twice"},
        {"network,name=lan,trunk=10,native=0", "native=0: expected a VLAN number"},
        {"network,name=lan,vlan=5,trunk=10", "vlan: a trunk port has no access VLAN"},
        {"network,name=lan,trunk=10,vlan=5", "vlan: a trunk port has no access VLAN"},
        {"network,name=lan,isolated=yes", "isolated=yes: expected on or off"},
        {"network,name=lan,spoof-check=no", "spoof-check=no: expected on or off"},
        {"network,name=lan,spoof-check", "spoof-check needs a value (spoof-check=...)"},
        {"network,name=lan,rate=fast", "rate=fast: expected Mbit/s, a whole number"},
        {"network,name=lan,rate=-1", "rate=-1: expected Mbit/s"},
        {"network,name=lan,rate=4294967296", "rate=4294967296: expected Mbit/s"},
        {"network,name=lan,flood=1k", "flood=1k: expected frames per second"},
        {"network,name=lan,path=/a", "path is not an option of --net network"},
        {"network,name=lan,ifname=t", "ifname is not an option of --net network"},
        {"network,name=lan,colour=red",
         "unknown option 'colour=red' (expected name=..., fd=..., vlan=..., trunk=..., "
         "native=..., isolated, spoof-check=..., rate=..., flood=... or mac=...)"},
        {"tap,fd=3,ifname=t0", "tap takes ifname=NAME"},
        {"tap,fd=1", "fd=1: expected a descriptor number of 3 or more"},
        {"tap,fd=3,path=/a", "path is not an option of --net tap"},
        {"user,fd=3", "fd is not an option of --net user (expected hostfwd=... or mac=...)"},
        {"user,vlan=3", "vlan is not an option of --net user"},
        {"user,isolated", "isolated is not an option of --net user"},
        {"none,fd=3", "'none' takes no options"},
        {"switch,path=/a", "unknown network type 'switch' (expected none, user, tap, socket or "
                           "network)"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        ok(parse_fails(cases[i].spec, cases[i].want), "refused: %s", cases[i].spec);

    char spec[256] = "socket,path=/";
    memset(spec + strlen(spec), 'p', NET_SOCKET_PATH_MAX - 2); /* 107 bytes with the '/' */
    NetConfig c;
    ok(net_config_parse(&c, spec, NULL) == 0 && strlen(c.path) == NET_SOCKET_PATH_MAX - 1,
       "a path of 107 bytes fits sun_path");
    strcat(spec, "p");
    ok(parse_fails(spec, "too long for a unix socket (at most 107 bytes)"), "108 bytes do not");
    char name[128] = "network,name=";
    memset(name + strlen(name), 'n', NET_NETWORK_NAME_MAX - 1);
    ok(net_config_parse(&c, name, NULL) == 0, "a network name of 63 characters");
    strcat(name, "n");
    ok(parse_fails(name, "expected a network name (1 to 63 letters"), "64 characters");
}

static void test_names(void)
{
    NetKind k;
    ok(net_kind_from_name("socket", &k) && k == NET_SOCKET && net_kind_from_name("network", &k) &&
           k == NET_NETWORK && !strcmp(net_kind_name(NET_SOCKET), "socket") &&
           !strcmp(net_kind_name(NET_NETWORK), "network"),
       "socket and network kind names");
    ok(net_network_name_valid("lan") && net_network_name_valid("0net") &&
           net_network_name_valid("a.b_c-d") && !net_network_name_valid("") &&
           !net_network_name_valid(".lan") && !net_network_name_valid("_x") &&
           !net_network_name_valid("a b") && !net_network_name_valid("a:b"),
       "network names");
    NetPortOptions p = {.ntrunk = 2, .trunk = {5, 5}};
    Error err = {0};
    ok(net_port_options_check(&p, &err) < 0 && !strcmp(err.msg, "trunk: VLAN 5 is listed twice"),
       "port options checked apart from the parser: %s", err.msg);
    p = (NetPortOptions){.ntrunk = NET_MAX_TRUNK + 1};
    ok(net_port_options_check(&p, &err) < 0 && strstr(err.msg, "at most 64"), "%s", err.msg);
    p = (NetPortOptions){.ntrunk = 1, .trunk = {0}};
    ok(net_port_options_check(&p, &err) < 0 &&
           !strcmp(err.msg, "trunk: 0 is not a VLAN (1 to 4094)"),
       "%s", err.msg);
    p = (NetPortOptions){.vlan = 5000};
    ok(net_port_options_check(&p, &err) < 0 &&
           !strcmp(err.msg, "vlan: 5000 is not a VLAN (1 to 4094)"),
       "%s", err.msg);
    p = (NetPortOptions){.ntrunk = 1, .trunk = {3}, .native = 4095};
    ok(net_port_options_check(&p, &err) < 0 &&
           !strcmp(err.msg, "native: 4095 is not a VLAN (1 to 4094)"),
       "%s", err.msg);
}

/* ---- the backend ---- */

#define FLOOD 100

static uint8_t got[NET_MAX_FRAME + 16];
static size_t got_len;
static unsigned got_frames;
static bool card_full; /* the card refuses frames */
static int link_calls;
static bool link_state = true;

static uint8_t got_tags[256]; /* byte 14 of each frame delivered, by its number mod 256 */
static bool no_buffers;       /* the card has no receive buffer: the backend must not read */

static bool capture(void *opaque, const uint8_t *frame, size_t len)
{
    (void)opaque;
    if (card_full)
        return false;
    got_len = len < sizeof(got) ? len : sizeof(got);
    memcpy(got, frame, got_len);
    got_tags[got_frames % 256] = len > 14 ? frame[14] : 0;
    got_frames++;
    return true;
}

static bool can_receive(void *opaque)
{
    (void)opaque;
    return !no_buffers;
}

static void on_link(void *opaque, bool up)
{
    (void)opaque;
    link_calls++;
    link_state = up;
}

static int tx_ready_calls;

static void on_tx_ready(void *opaque)
{
    (void)opaque;
    tx_ready_calls++;
}

static bool run_until_frames(unsigned n, int ms)
{
    uint64_t end = timer_now_ns() + (uint64_t)ms * 1000000ull;
    while (got_frames < n && timer_now_ns() < end)
        evloop_run_once(loop, 10000000ull);
    return got_frames >= n;
}

static bool run_until_link(bool up, int ms)
{
    uint64_t end = timer_now_ns() + (uint64_t)ms * 1000000ull;
    while (link_state != up && timer_now_ns() < end)
        evloop_run_once(loop, 10000000ull);
    return link_state == up;
}

static const uint8_t mac_a[6] = {0x52, 0x54, 0x00, 0x12, 0x34, 0x56};
static const uint8_t mac_b[6] = {0x52, 0x54, 0x00, 0x12, 0x34, 0x57};

static size_t test_frame(uint8_t *f, size_t len, uint8_t tag)
{
    memset(f, tag, len);
    memcpy(f, mac_a, 6);
    memcpy(f + 6, mac_b, 6);
    f[12] = 0x88;
    f[13] = 0xb5;
    return len;
}

static NetBackend *socket_backend(const char *kind, int fd, Error *err)
{
    NetConfig cfg;
    char spec[64];
    snprintf(spec, sizeof(spec), "%s,fd=%d", kind, fd);
    if (net_config_parse(&cfg, spec, err) < 0)
        return NULL;
    NetBackend *b = net_backend_new(&cfg, loop, err);
    if (b) {
        net_backend_attach(b, capture, NULL);
        net_backend_attach_link(b, on_link);
        net_backend_attach_can_receive(b, can_receive);
        net_backend_attach_tx_ready(b, on_tx_ready);
    }
    return b;
}

static unsigned ring_requests; /* ring requests the test's peers saw (and ignored) */

/*
 * The peer reads one message, as a peer without rings does: a ring request
 * (descriptors attached) is counted and skipped, never taken for a frame.
 */
static ssize_t peer_recv(int fd, uint8_t *buf, size_t cap)
{
    for (;;) {
        int fds[NET_RING_MAX_FDS], nfds, efd;
        ssize_t n = net_ring_recv(fd, buf, cap, fds, &nfds);
        if (n > 0 && nfds > 0) {
            ring_requests += net_ring_parse_request(buf, (size_t)n, fds, nfds, &efd);
            net_ring_close_fds(fds, nfds);
            continue;
        }
        return n;
    }
}

static NetBackendStats stats(NetBackend *b)
{
    NetBackendStats st;
    net_backend_stats(b, &st);
    return st;
}

static void test_frames(NetBackend *b, int peer)
{
    uint8_t f[1514], buf[2048];
    net_backend_send(b, f, test_frame(f, 60, 0xa1));
    ssize_t n = peer_recv(peer, buf, sizeof(buf));
    ok(n == 60 && !memcmp(buf, f, 60), "a guest frame is one message to the peer");
    net_backend_send(b, f, test_frame(f, 1514, 0xa2));
    n = peer_recv(peer, buf, sizeof(buf));
    ok(n == 1514 && !memcmp(buf, f, 1514), "a full-size frame too");

    unsigned before = got_frames;
    ok(send(peer, f, test_frame(f, 60, 0xb1), 0) == 60, "the peer sends a frame");
    ok(run_until_frames(before + 1, 2000) && got_len == 60 && !memcmp(got, f, 60),
       "the event loop wakes and the card gets it");

    for (int i = 0; i < FLOOD; i++)
        send(peer, f, test_frame(f, 60, (uint8_t)i), 0);
    before = got_frames;
    evloop_run_once(loop, 1000000000ull);
    unsigned first = got_frames - before;
    ok(first == 64, "one wake-up reads one batch (%u of %d frames)", first, FLOOD);
    ok(run_until_frames(before + FLOOD, 2000) && got[14] == FLOOD - 1,
       "the rest on the next turns, in order");
}

static void test_rx_drops(NetBackend *b, int peer)
{
    static uint8_t big[NET_MAX_FRAME + 1];
    uint8_t f[60];
    int sz = 4 << 20;
    setsockopt(peer, SOL_SOCKET, SO_SNDBUF, &sz, sizeof(sz));
    NetBackendStats st0 = stats(b);
    unsigned before = got_frames;
    send(peer, f, 5, 0); /* shorter than an Ethernet header */
    ssize_t n = send(peer, big, test_frame(big, sizeof(big), 0xcc), 0);
    ok(n == (ssize_t)sizeof(big), "the peer sends a frame of %zu bytes", sizeof(big));
    card_full = true;
    send(peer, f, test_frame(f, 60, 0xc1), 0);
    for (int i = 0; i < 20 && stats(b).rx_dropped < st0.rx_dropped + 3; i++)
        evloop_run_once(loop, 10000000ull);
    card_full = false;
    ok(stats(b).rx_dropped == st0.rx_dropped + 3 && got_frames == before,
       "a runt, a frame over %d bytes and one the card refuses are dropped and counted",
       NET_MAX_FRAME);
    send(peer, f, test_frame(f, 60, 0xc2), 0);
    ok(run_until_frames(before + 1, 2000) && got[14] == 0xc2, "the next frame is delivered");
}

/*
 * Transmit back-pressure: the card sends while can_send says yes; when the
 * peer's socket is full the frame is held (not dropped) and can_send says
 * no; once the peer reads, the held frame goes first, the card is told
 * (tx_ready) and frames go again, in order, none dropped.
 */
static void test_tx_full(NetBackend *b, int peer)
{
    static uint8_t f[1514], buf[2048];
    NetBackendStats st0 = stats(b);
    int sent = 0, calls0 = tx_ready_calls;
    while (net_backend_can_send(b) && sent < 100000)
        net_backend_send(b, f, test_frame(f, sizeof(f), (uint8_t)sent++));
    ok(!net_backend_can_send(b) && sent > 1 && stats(b).tx_dropped == st0.tx_dropped,
       "a peer that does not read: after %d frames the backend holds one and says wait, "
       "dropping none",
       sent);
    ok(net_backend_link_up(b) && link_calls == 0, "and the link stays up");
    for (int i = 0; i < 3; i++)
        evloop_run_once(loop, 10000000ull);
    ok(tx_ready_calls == calls0 && !net_backend_can_send(b), "still full: the card is not told");
    int got_n = 0;
    bool order = true;
    uint64_t end = timer_now_ns() + 5000000000ull;
    while (got_n < sent && timer_now_ns() < end) {
        ssize_t n = peer_recv(peer, buf, sizeof(buf));
        if (n > 0)
            order &= n == (ssize_t)sizeof(f) && buf[14] == (uint8_t)got_n++;
        else
            evloop_run_once(loop, 1000000ull);
    }
    ok(got_n == sent && order, "the peer reads all %d frames, the held one last, in order (%d)",
       sent, got_n);
    ok(tx_ready_calls == calls0 + 1 && net_backend_can_send(b) &&
           stats(b).tx_dropped == st0.tx_dropped,
       "once it was sent the card is told once and may send again (%d calls)",
       tx_ready_calls - calls0);
    net_backend_send(b, f, test_frame(f, 60, 0xd2));
    ok(peer_recv(peer, buf, sizeof(buf)) == 60 && buf[14] == 0xd2, "frames go again");
}

/* A peer that hangs up while a frame is held: it is dropped and the card goes on (dropping). */
static void test_tx_held_hangup(void)
{
    int sv[2];
    Error err = {0};
    static uint8_t f[1514];
    ok(socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sv) == 0, "a SEQPACKET socketpair");
    link_calls = 0;
    link_state = true;
    NetBackend *b = socket_backend("socket", sv[0], &err);
    if (!b) {
        ok(false, "socket backend: %s", err.msg);
        return;
    }
    while (net_backend_can_send(b))
        net_backend_send(b, f, test_frame(f, sizeof(f), 1));
    int calls0 = tx_ready_calls;
    NetBackendStats st0 = stats(b);
    close(sv[1]);
    ok(run_until_link(false, 2000), "the peer hangs up while a frame is held: the link goes down");
    ok(stats(b).tx_dropped == st0.tx_dropped + 1 && tx_ready_calls == calls0 + 1 &&
           net_backend_can_send(b),
       "the held frame is dropped and the card is told to go on");
    net_backend_send(b, f, test_frame(f, 60, 2));
    ok(stats(b).tx_dropped == st0.tx_dropped + 2, "frames without a peer are dropped");
    net_backend_free(b);
    link_state = true;
    link_calls = 0;
}

/*
 * Back-pressure: while the card has no receive buffer, frames stay in the
 * socket (not read, not dropped; the sender sees it fill up), the loop is
 * idle; once the card posts buffers they are delivered, in order.
 */
static void test_backpressure(NetBackend *b, int peer)
{
    uint8_t f[60];
    NetBackendStats st0 = stats(b);
    unsigned before = got_frames;
    no_buffers = true;
    send(peer, f, test_frame(f, 60, 0), 0);
    for (int i = 0; i < 5; i++)
        evloop_run_once(loop, 10000000ull);
    ok(got_frames == before && stats(b).rx_dropped == st0.rx_dropped,
       "no receive buffer: the frame is neither delivered nor dropped");
    ok(evloop_run_once(loop, 0) == 0, "and the loop is idle (the socket is not watched)");
    int sent = 1;
    while (sent < 100000 && send(peer, f, test_frame(f, 60, (uint8_t)sent), MSG_DONTWAIT) == 60)
        sent++;
    ok(sent < 100000 && errno == EAGAIN && stats(b).rx_dropped == st0.rx_dropped,
       "frames wait in the socket until the sender's send would block (%d frames)", sent);
    net_backend_rx_ready(b); /* a refill notification while still without buffers */
    evloop_run_once(loop, 10000000ull);
    ok(got_frames == before, "a notification that brings no buffer reads nothing");
    no_buffers = false;
    net_backend_rx_ready(b);
    bool all = run_until_frames(before + (unsigned)sent, 5000);
    bool order = all;
    for (unsigned i = 0; i < (unsigned)sent && order; i++)
        order = got_tags[(before + i) % 256] == (uint8_t)i;
    ok(all && order && stats(b).rx_dropped == st0.rx_dropped,
       "buffers posted: all %d frames delivered, in order, none dropped", sent);
}

/* A peer that hangs up while the card has no buffer: the link still goes down. */
static void test_hangup_paused(void)
{
    int sv[2];
    Error err = {0};
    uint8_t f[60];
    socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sv);
    link_calls = 0;
    link_state = true;
    NetBackend *b = socket_backend("socket", sv[0], &err);
    if (!b) {
        ok(false, "socket backend: %s", err.msg);
        return;
    }
    no_buffers = true;
    send(sv[1], f, test_frame(f, 60, 1), 0);
    for (int i = 0; i < 3; i++)
        evloop_run_once(loop, 10000000ull);
    close(sv[1]);
    ok(run_until_link(false, 2000) && link_calls == 1,
       "a peer that hangs up while the card has no buffer: the link goes down");
    evloop_run_once(loop, 0);
    ok(evloop_run_once(loop, 0) == 0, "and the loop is idle");
    no_buffers = false;
    net_backend_free(b);
}

static void test_hangup(NetBackend *b, int peer)
{
    uint8_t f[60];
    close(peer);
    ok(run_until_link(false, 2000) && link_calls == 1 && !net_backend_link_up(b),
       "the peer hangs up: the card is told the link is down");
    NetBackendStats st0 = stats(b);
    net_backend_send(b, f, test_frame(f, 60, 0xe1));
    ok(stats(b).tx_dropped == st0.tx_dropped + 1, "frames from the guest are dropped, counted");
    evloop_run_once(loop, 0);
    ok(evloop_run_once(loop, 0) == 0, "the dead socket does not spin the loop");
}

static void test_seqpacket(void)
{
    int sv[2];
    Error err = {0};
    ok(socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sv) == 0, "a SEQPACKET socketpair");
    link_calls = 0;
    link_state = true;
    NetBackend *b = socket_backend("socket", sv[0], &err);
    ok(b != NULL && net_backend_link_up(b), "socket,fd=%d: the link is up%s%s", sv[0],
       b ? "" : ": ", err.msg);
    if (!b)
        return;
    ok(fcntl(sv[0], F_GETFD) & FD_CLOEXEC && fcntl(sv[0], F_GETFL) & O_NONBLOCK,
       "the inherited socket is made non-blocking and close-on-exec");
    test_frames(b, sv[1]);
    test_rx_drops(b, sv[1]);
    test_tx_full(b, sv[1]);
    test_backpressure(b, sv[1]);
    test_hangup(b, sv[1]);
    net_backend_free(b);
    ok(fcntl(sv[0], F_GETFD) < 0 && errno == EBADF, "the backend closes the socket it owns");
    test_hangup_paused();
    test_tx_held_hangup();
}

static void test_dgram(void)
{
    int sv[2];
    uint8_t f[60], buf[128];
    Error err = {0};
    socketpair(AF_UNIX, SOCK_DGRAM, 0, sv);
    link_calls = 0;
    link_state = true;
    NetBackend *b = socket_backend("network,name=lan", sv[0], &err);
    ok(b != NULL, "network,name=lan,fd=%d on a SOCK_DGRAM socket%s%s", sv[0], b ? "" : ": ",
       err.msg);
    if (!b)
        return;
    net_backend_send(b, f, test_frame(f, 60, 0x11));
    ok(peer_recv(sv[1], buf, sizeof(buf)) == 60 && buf[14] == 0x11, "frames out");
    unsigned before = got_frames;
    send(sv[1], f, test_frame(f, 60, 0x12), 0);
    ok(run_until_frames(before + 1, 2000) && got[14] == 0x12, "frames in");
    close(sv[1]);
    net_backend_send(b, f, test_frame(f, 60, 0x13));
    ok(!net_backend_link_up(b) && link_calls == 1 && stats(b).tx_dropped == 1,
       "a datagram peer that went away is seen at the next send: link down, frame dropped");
    net_backend_free(b);
}

/* net_backend_new on cfg fails with a message containing want. */
static bool backend_fails(const NetConfig *cfg, const char *want)
{
    Error err = {0};
    NetBackend *b = net_backend_new(cfg, loop, &err);
    net_backend_free(b);
    if (b || !strstr(err.msg, want) || strchr(err.msg, '\n')) {
        printf("#   got '%s'\n", b ? "(accepted)" : err.msg);
        return false;
    }
    return true;
}

static void test_bad_fds(void)
{
    NetConfig cfg;
    net_config_parse(&cfg, "network,name=lan", NULL);
    ok(backend_fails(&cfg, "--net network: a network's port is handed over by hosteld (fd=N); "
                           "without hosteld use --net socket,path=PATH"),
       "a network card without fd");
    int p[2], sv[2];
    pipe(p);
    int tcp = socket(AF_INET, SOCK_STREAM, 0);
    socketpair(AF_UNIX, SOCK_STREAM, 0, sv);
    net_config_parse(&cfg, "socket,fd=3", NULL);
    cfg.fd = 1000;
    ok(fcntl(1000, F_GETFD) < 0 && backend_fails(&cfg, "socket fd=1000: descriptor 1000 is not "
                                                       "open"),
       "an fd that is not open");
    cfg.fd = p[0];
    ok(backend_fails(&cfg, "is not a socket"), "a pipe");
    cfg.fd = tcp;
    ok(backend_fails(&cfg, "is not a unix socket"), "a TCP socket");
    cfg.fd = sv[0];
    ok(backend_fails(&cfg, "is a unix stream socket (expected SOCK_SEQPACKET"),
       "a unix stream socket");
    ok(fcntl(sv[0], F_GETFD) == 0 || fcntl(sv[0], F_GETFD) == FD_CLOEXEC,
       "a refused descriptor is left open");
    net_config_parse(&cfg, "network,name=lan,fd=3", NULL);
    cfg.fd = p[1];
    ok(backend_fails(&cfg, "network lan (fd="), "a network card names its network");
    close(p[0]);
    close(p[1]);
    close(tcp);
    close(sv[0]);
    close(sv[1]);
}

/* ---- a new socket for an fd= card (set-net-fd) ---- */

static bool fd_closed(int fd)
{
    return fcntl(fd, F_GETFD) < 0 && errno == EBADF;
}

/* Frames both ways between the card and peer (tag: a byte to tell them apart). */
static bool frames_flow(NetBackend *b, int peer, uint8_t tag)
{
    uint8_t f[60], buf[128];
    net_backend_send(b, f, test_frame(f, 60, tag));
    if (peer_recv(peer, buf, sizeof(buf)) != 60 || buf[14] != tag)
        return false;
    unsigned before = got_frames;
    send(peer, f, test_frame(f, 60, (uint8_t)(tag + 1)), 0);
    return run_until_frames(before + 1, 2000) && got[14] == (uint8_t)(tag + 1);
}

/* A handler that swaps the card's socket from inside the loop (as set-net-fd does). */
typedef struct Swap {
    NetBackend *b;
    int trigger, fd, rc;
} Swap;

static void swap_now(void *opaque, uint32_t events)
{
    Swap *w = opaque;
    char c;
    Error err = {0};
    if (read(w->trigger, &c, 1) == 1)
        w->rc = net_socket_set_fd(w->b, w->fd, &err);
}

static void test_set_fd(void)
{
    int sv[2], tv[2], uv[2], p[2];
    uint8_t f[60], buf[128];
    Error err = {0};
    socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sv);
    link_calls = 0;
    link_state = true;
    NetBackend *b = socket_backend("network,name=lan", sv[0], &err);
    if (!b) {
        ok(false, "network,name=lan,fd=%d: %s", sv[0], err.msg);
        return;
    }
    close(sv[1]);
    ok(run_until_link(false, 2000), "the switch goes: the link is down");
    net_backend_send(b, f, test_frame(f, 60, 0x31));
    uint64_t dropped = stats(b).tx_dropped;
    socketpair(AF_UNIX, SOCK_SEQPACKET, 0, tv);
    int moved = tv[0];
    ok(net_socket_set_fd(b, moved, &err) == 0, "a new socket is taken%s%s", err.msg[0] ? ": " : "",
       err.msg);
    ok(link_state && link_calls == 2 && net_backend_link_up(b), "the card is told the link is up");
    int type, tlen = sizeof(type); /* moved's number may be reused: by the ring's doorbell */
    ok(getsockopt(moved, SOL_SOCKET, SO_TYPE, &type, (socklen_t *)&tlen) < 0 &&
           fcntl(sv[0], F_GETFD) == FD_CLOEXEC && (fcntl(sv[0], F_GETFL) & O_NONBLOCK),
       "under the card's old descriptor number (%d), non-blocking, close-on-exec", sv[0]);
    ok(frames_flow(b, tv[1], 0x32), "frames flow both ways on the new socket");
    ok(stats(b).tx_dropped == dropped, "the counters go on (%" PRIu64 " dropped before)", dropped);

    socketpair(AF_UNIX, SOCK_SEQPACKET, 0, uv);
    ok(net_socket_set_fd(b, uv[0], &err) == 0 && link_calls == 2,
       "a card whose link is up takes one too (no link change)");
    ok(peer_recv(tv[1], buf, sizeof(buf)) == 0, "its old peer sees the hang-up");
    ok(frames_flow(b, uv[1], 0x34), "frames flow on the newest socket");
    close(tv[1]);

    /* A hang-up event of the old socket still in the loop's batch when the swap happens. */
    socketpair(AF_UNIX, SOCK_SEQPACKET, 0, tv);
    pipe(p);
    Swap w = {.b = b, .trigger = p[0], .fd = tv[0], .rc = -2};
    evloop_add_fd(loop, p[0], EPOLLIN, swap_now, &w, NULL);
    evloop_run_once(loop, 0); /* epoll forgets the socket's last readiness */
    write(p[1], "x", 1);      /* ready first: its handler runs first in the round */
    close(uv[1]);             /* then the old socket's hang-up */
    evloop_run_once(loop, 100000000ull);
    evloop_del_fd(loop, p[0]);
    ok(w.rc == 0 && net_backend_link_up(b) && link_calls == 2,
       "a stale hang-up event of the replaced socket does not take the link down");
    ok(frames_flow(b, tv[1], 0x36), "frames flow after it");

    int tcp = socket(AF_INET, SOCK_STREAM, 0), lone = socket(AF_UNIX, SOCK_SEQPACKET, 0);
    socketpair(AF_UNIX, SOCK_STREAM, 0, uv);
    struct {
        int fd;
        const char *want, *what;
    } bad[] = {
        {p[1], "is not a socket", "a pipe"},
        {tcp, "is not a unix socket", "a TCP socket"},
        {uv[0], "is a unix stream socket", "a unix stream socket"},
        {lone, "the new socket is not connected", "a socket that is not connected"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        err = (Error){0};
        int rc = net_socket_set_fd(b, bad[i].fd, &err);
        ok(rc < 0 && strstr(err.msg, bad[i].want) && strstr(err.msg, "network lan") &&
               fd_closed(bad[i].fd),
           "%s is refused and closed: %s", bad[i].what, err.msg);
    }
    ok(net_backend_link_up(b) && frames_flow(b, tv[1], 0x38), "and the card keeps its socket");
    close(p[0]);
    close(uv[1]);
    net_backend_free(b);
    ok(fd_closed(sv[0]), "the backend closes the socket it was given");
    close(tv[1]);
}

/* The other backends refuse a new socket (and close it). */
static void test_set_fd_refused(const char *dir)
{
    char spec[300];
    NetConfig cfg;
    Error err = {0};
    int sv[2];
    snprintf(spec, sizeof(spec), "socket,path=%s/nobody.sock", dir);
    net_config_parse(&cfg, spec, NULL);
    NetBackend *b = net_backend_new(&cfg, loop, &err);
    socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sv);
    ok(b && net_socket_set_fd(b, sv[0], &err) < 0 && strstr(err.msg, "a path= card") &&
           fd_closed(sv[0]),
       "a path= card: %s", err.msg);
    net_backend_free(b);
    close(sv[1]);
    net_config_parse(&cfg, "user", NULL);
    b = net_backend_new(&cfg, loop, &err);
    socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sv);
    ok(b && net_socket_set_fd(b, sv[0], &err) < 0 && strstr(err.msg, "not on a socket") &&
           fd_closed(sv[0]),
       "a user card: %s", err.msg);
    net_backend_free(b);
    close(sv[1]);
}

/* ---- path= ---- */

static int listen_at(const char *path, int type)
{
    struct sockaddr_un a = {.sun_family = AF_UNIX};
    snprintf(a.sun_path, sizeof(a.sun_path), "%s", path);
    int s = socket(AF_UNIX, type | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    unlink(path);
    if (s < 0 || bind(s, (struct sockaddr *)&a, sizeof(a)) < 0 || listen(s, 4) < 0)
        return -1;
    return s;
}

/* Run the loop until the listener has a connection to accept (or ms pass). */
static int accept_within(int ls, int ms)
{
    uint64_t end = timer_now_ns() + (uint64_t)ms * 1000000ull;
    int c;
    while ((c = accept4(ls, NULL, NULL, SOCK_CLOEXEC)) < 0 && timer_now_ns() < end)
        evloop_run_once(loop, 10000000ull);
    return c;
}

static void test_path(const char *dir)
{
    char path[256], spec[300];
    NetConfig cfg;
    Error err = {0};
    uint8_t f[60], buf[128];
    snprintf(path, sizeof(path), "%s/sw.sock", dir);
    snprintf(spec, sizeof(spec), "socket,path=%s", path);
    net_config_parse(&cfg, spec, NULL);
    link_calls = 0;
    link_state = true;
    NetBackend *b = net_backend_new(&cfg, loop, &err);
    ok(b && !net_backend_link_up(b), "nobody listens yet: the card starts, its link down%s%s",
       b ? "" : ": ", err.msg);
    if (!b)
        return;
    net_backend_attach(b, capture, NULL);
    net_backend_attach_link(b, on_link);
    net_backend_send(b, f, test_frame(f, 60, 0x21));
    ok(stats(b).tx_dropped == 1, "frames meanwhile are dropped and counted");
    for (int i = 0; i < 3; i++)
        evloop_run_once(loop, 10000000ull);

    int ls = listen_at(path, SOCK_SEQPACKET);
    int c = accept_within(ls, 2500);
    ok(ls >= 0 && c >= 0, "a listener appears: the card connects within the retry period");
    ok(run_until_link(true, 100) && link_calls == 1, "the card is told the link is up");
    net_backend_send(b, f, test_frame(f, 60, 0x22));
    ok(peer_recv(c, buf, sizeof(buf)) == 60 && buf[14] == 0x22, "frames out");
    unsigned before = got_frames;
    send(c, f, test_frame(f, 60, 0x23), 0);
    ok(run_until_frames(before + 1, 2000) && got[14] == 0x23, "frames in");

    close(c);
    ok(run_until_link(false, 2000) && link_calls == 2, "the switch side hangs up: link down");
    c = accept_within(ls, 2500);
    ok(c >= 0 && run_until_link(true, 100) && link_calls == 3,
       "the card connects again within a second or so: link up");
    net_backend_send(b, f, test_frame(f, 60, 0x24));
    ok(peer_recv(c, buf, sizeof(buf)) == 60 && buf[14] == 0x24, "frames flow again");
    net_backend_free(b);
    close(c);
    close(ls);

    ls = listen_at(path, SOCK_STREAM);
    ok(ls >= 0 && backend_fails(&cfg, "not a SOCK_SEQPACKET socket"),
       "a stream listener at the path is refused at once");
    close(ls);
    unlink(path);
}

/* ---- rings: the test plays the switch ---- */

typedef struct FakeSwitch {
    NetRingPair ring;
    int sock, vm_efd, efd, memfd;
} FakeSwitch;

/* Run the loop for ms, or until the peer's socket has a message. */
static bool run_until_readable(int fd, int ms)
{
    uint64_t end = timer_now_ns() + (uint64_t)ms * 1000000ull;
    struct pollfd pf = {.fd = fd, .events = POLLIN};
    while (poll(&pf, 1, 0) == 0 && timer_now_ns() < end)
        evloop_run_once(loop, 1000000ull);
    return pf.revents & POLLIN;
}

/* Take the backend's request on sock and answer it: true when the rings are set up. */
static bool fake_switch_accept(FakeSwitch *sw, int sock)
{
    uint8_t buf[64];
    int fds[NET_RING_MAX_FDS], nfds;
    Error err = {0};
    *sw = (FakeSwitch){.sock = sock, .vm_efd = -1, .efd = -1, .memfd = -1};
    if (!run_until_readable(sock, 1000))
        return false;
    ssize_t n = net_ring_recv(sock, buf, sizeof(buf), fds, &nfds);
    if (n <= 0 || !net_ring_parse_request(buf, (size_t)n, fds, nfds, &sw->vm_efd))
        return false;
    sw->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (net_ring_create(&sw->ring, NET_RING_BYTES, &sw->memfd, &err) < 0 ||
        net_ring_send_accept(sock, sw->memfd, sw->efd, NET_RING_BYTES) < 0)
        return false;
    for (int i = 0; i < 5; i++) /* the backend reads the accept */
        evloop_run_once(loop, 1000000ull);
    return true;
}

static void fake_switch_free(FakeSwitch *sw)
{
    net_ring_detach(&sw->ring);
    int fds[] = {sw->vm_efd, sw->efd, sw->memfd};
    net_ring_close_fds(fds, 3);
}

/* Frames the backend pushed up, popped by the fake switch within ms: their count. */
static unsigned fake_switch_pop(FakeSwitch *sw, uint8_t *last_tag, int ms)
{
    static uint8_t buf[NET_RING_FRAME_MAX];
    unsigned n = 0;
    uint64_t end = timer_now_ns() + (uint64_t)ms * 1000000ull;
    do {
        size_t len;
        while (net_ring_pop(&sw->ring.rx, buf, sizeof(buf), &len) == NET_RING_OK) {
            *last_tag = buf[14];
            n++;
        }
        evloop_run_once(loop, 1000000ull);
    } while (n == 0 && timer_now_ns() < end);
    if (net_ring_pop_done(&sw->ring.rx))
        net_ring_kick(sw->vm_efd);
    return n;
}

/* The fake switch pushes n frames down (tags from tag on) and rings the backend if it sleeps. */
static void fake_switch_push(FakeSwitch *sw, unsigned n, uint8_t tag)
{
    uint8_t f[60];
    for (unsigned i = 0; i < n; i++)
        net_ring_push(&sw->ring.tx, f, test_frame(f, 60, (uint8_t)(tag + i)));
    if (net_ring_push_done(&sw->ring.tx))
        net_ring_kick(sw->vm_efd);
}

static void test_ring_frames(NetBackend *b, FakeSwitch *sw)
{
    uint8_t f[1514], tag = 0, buf[64];
    net_backend_send(b, f, test_frame(f, 60, 0x51));
    ok(fake_switch_pop(sw, &tag, 1000) == 1 && tag == 0x51, "a guest frame goes up the ring");
    ok(peer_recv(sw->sock, buf, sizeof(buf)) < 0 && errno == EAGAIN, "and not on the socket");
    got_frames = 0;
    fake_switch_push(sw, 3, 0x61);
    ok(run_until_frames(3, 1000) && got_tags[0] == 0x61 && got_tags[2] == 0x63,
       "frames down the ring reach the card, in order");
    send(sw->sock, f, test_frame(f, 60, 0x71), 0);
    ok(run_until_frames(4, 1000) && got_tags[3] == 0x71, "a frame still sent on the socket too");
    got_frames = 0;
    fake_switch_push(sw, 200, 0);
    ok(run_until_frames(200, 2000), "200 frames at once: all of them, 64 per turn of the loop");
}

static void test_ring_backpressure(NetBackend *b, FakeSwitch *sw)
{
    static uint8_t f[1514];
    int sent = 0, calls0 = tx_ready_calls;
    uint64_t dropped = stats(b).tx_dropped;
    while (net_backend_can_send(b) && sent < 100000)
        net_backend_send(b, f, test_frame(f, sizeof(f), (uint8_t)sent++));
    ok(!net_backend_can_send(b) && sent > 100 && stats(b).tx_dropped == dropped,
       "a switch that does not read: after %d frames the ring is full, one is held, none dropped",
       sent);
    for (int i = 0; i < 3; i++)
        evloop_run_once(loop, 1000000ull);
    ok(tx_ready_calls == calls0, "still full: the card is not told");
    uint8_t tag = 0;
    unsigned n = fake_switch_pop(sw, &tag, 1000);
    for (int i = 0; i < 20 && tx_ready_calls == calls0; i++)
        evloop_run_once(loop, 1000000ull);
    ok(tx_ready_calls == calls0 + 1 && net_backend_can_send(b),
       "the switch makes room and rings: the held frame goes, the card is told once");
    n += fake_switch_pop(sw, &tag, 1000);
    ok(n == (unsigned)sent && tag == (uint8_t)(sent - 1), "all %d frames arrive, the held one last",
       sent);

    no_buffers = true;
    got_frames = 0;
    fake_switch_push(sw, 10, 0x80);
    for (int i = 0; i < 20; i++)
        evloop_run_once(loop, 1000000ull);
    ok(got_frames == 0 && stats(b).rx_dropped == 0,
       "without a receive buffer frames wait in the ring, none dropped");
    no_buffers = false;
    net_backend_rx_ready(b);
    ok(run_until_frames(10, 1000) && got_tags[0] == 0x80, "rx_ready: the 10 frames arrive");
}

static void test_rings(void)
{
    int sv[2];
    Error err = {0};
    FakeSwitch sw;
    socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sv);
    link_calls = 0;
    link_state = true;
    NetBackend *b = socket_backend("network,name=lan", sv[0], &err);
    ok(b && fake_switch_accept(&sw, sv[1]), "the card asks for rings and takes the accept");
    if (!b)
        return;
    test_ring_frames(b, &sw);
    test_ring_backpressure(b, &sw);

    /* a switch that writes nonsense into the down ring: the card hangs up */
    uint32_t bad = 12345;
    memcpy((uint8_t *)sw.ring.tx.h, &bad, 4); /* its head */
    net_ring_kick(sw.vm_efd);
    ok(run_until_link(false, 1000), "a broken ring: the card hangs up, link down");
    uint8_t f[60], tag = 0;
    uint64_t dropped = stats(b).tx_dropped;
    net_backend_send(b, f, test_frame(f, 60, 0x90));
    ok(stats(b).tx_dropped == dropped + 1 && fake_switch_pop(&sw, &tag, 50) == 0,
       "and leaves the rings: its frames are dropped until it gets a new socket");
    fake_switch_free(&sw);
    close(sv[1]);

    /* a new socket: the card asks again */
    int tv[2];
    socketpair(AF_UNIX, SOCK_SEQPACKET, 0, tv);
    ok(net_socket_set_fd(b, tv[0], &err) == 0 && fake_switch_accept(&sw, tv[1]),
       "on a new socket the card asks for rings again");
    net_backend_send(b, f, test_frame(f, 60, 0x91));
    ok(fake_switch_pop(&sw, &tag, 1000) == 1 && tag == 0x91, "and uses them");
    close(tv[1]);
    ok(run_until_link(false, 1000), "the switch goes: link down");
    net_backend_send(b, f, test_frame(f, 60, 0x92));
    ok(fake_switch_pop(&sw, &tag, 50) == 0, "nothing goes to the old rings");
    fake_switch_free(&sw);
    net_backend_free(b);
}

int main(void)
{
    Error err;
    char dir[] = "/tmp/hostel-net-socket-XXXXXX";
    if (!(loop = evloop_new(&err)) || !mkdtemp(dir)) {
        printf("Bail out! %s\n", loop ? "mkdtemp" : err.msg);
        return 1;
    }
    test_parse();
    test_parse_errors();
    test_names();
    test_seqpacket();
    test_dgram();
    test_bad_fds();
    test_set_fd();
    test_set_fd_refused(dir);
    test_path(dir);
    test_rings();
    ok(ring_requests >= 5, "every SEQPACKET connection asked its peer for rings (%u)",
       ring_requests);
    rmdir(dir);
    evloop_free(loop);
    return tap_done();
}
