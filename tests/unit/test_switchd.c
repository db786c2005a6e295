/*
 * The pieces of `hostel switch` that need no process around them:
 *   - the configuration file (switchd/config.h): a full one read into
 *     SwitchdConfig, the defaults, and each kind of error;
 *   - add-port's arguments (switchd/port_json.h): access, trunk with
 *     ranges, MAC and spoof-check, limits, and the errors;
 *   - the VXLAN header (net/vxlan.h): RFC 7348's layout, short packets,
 *     the I flag, reserved bits ignored;
 *   - the remote-address table: learning, moving, lookup, ageing (with
 *     entries that collide in the hash), its bound;
 *   - the vxlan uplink over loopback UDP, a plain socket playing the peer:
 *     encapsulation, head-end replication to every peer, unicast to the
 *     learned peer, and datagrams from an unknown peer, of another VNI or
 *     too short dropped and counted;
 *   - the engine (net/switchd.h) with socketpair ports: one round reads at
 *     most SWITCHD_READ_BATCH frames from a port with hundreds waiting, and
 *     serves the other ready ports in the same round; a port whose peer
 *     does not read queues, then drains once it does.
 */
#include <arpa/inet.h>
#include <poll.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include "net/ring.h"
#include "net/switchd.h"
#include "net/uplink.h"
#include "net/vxlan.h"
#include "switchd/config.h"
#include "switchd/port_json.h"
#include "tap.h"
#include "util/timer.h"

/* ---- the configuration ---- */

static int parse(SwitchdConfig *cfg, const char *text, Error *err)
{
    json_error_t je;
    json_t *root = json_loads(text, 0, &je);
    if (!root)
        return error_set(err, "test JSON: %s", je.text);
    int rc = switchd_config_from_json(cfg, root, err);
    json_decref(root);
    return rc;
}

static void test_config(void)
{
    SwitchdConfig cfg;
    Error err = {0};
    int rc = parse(&cfg,
                   "{\"name\": \"lan\", \"ageing\": 60, \"fdb-max\": 100, \"uplinks\": ["
                   "{\"kind\": \"slirp\", \"name\": \"nat\", \"subnet\": \"10.77.0.0/24\","
                   " \"hostfwd\": [\"tcp:127.0.0.1:8080-10.77.0.15:80\", \"udp::53-:53\"],"
                   " \"leases\": \"/run/x/leases\"},"
                   "{\"kind\": \"vxlan\", \"vni\": 42, \"local\": \"192.0.2.1\", \"port\": 4790,"
                   " \"peers\": [\"192.0.2.2\", \"192.0.2.3:4791\"]},"
                   "{\"kind\": \"tap\", \"name\": \"host\", \"ifname\": \"hn-lan\"}]}",
                   &err);
    ok(rc == 0, "a full configuration: %s", err.msg);
    ok(strcmp(cfg.name, "lan") == 0 && cfg.ageing_s == 60 && cfg.fdb_max == 100 &&
           cfg.nuplinks == 3,
       "name, ageing, fdb-max, three uplinks");
    const UplinkConfig *s = &cfg.uplinks[0], *v = &cfg.uplinks[1], *t = &cfg.uplinks[2];
    ok(s->kind == UPLINK_SLIRP && strcmp(s->name, "nat") == 0 &&
           s->slirp.network.s_addr == htonl(0x0a4d0000) && s->slirp.prefix == 24 &&
           s->slirp.nfwd == 2 && s->slirp.fwd[0].host_port == 8080 &&
           s->slirp.fwd[0].guest_addr.s_addr == htonl(0x0a4d000f) && s->slirp.fwd[1].udp &&
           strcmp(s->slirp.leases, "/run/x/leases") == 0,
       "slirp: subnet, forwards, leases file");
    ok(v->kind == UPLINK_VXLAN && strcmp(v->name, "vxlan") == 0 && v->vxlan.vni == 42 &&
           v->vxlan.port == 4790 && v->vxlan.local.s_addr == htonl(0xc0000201) &&
           v->vxlan.npeers == 2 && v->vxlan.peers[0].port == 4790 &&
           v->vxlan.peers[1].port == 4791 && v->vxlan.peers[1].addr.s_addr == htonl(0xc0000203),
       "vxlan: named after its kind, VNI, local, peers with the default port and their own");
    ok(t->kind == UPLINK_TAP && strcmp(t->name, "host") == 0 &&
           strcmp(t->tap.ifname, "hn-lan") == 0,
       "tap: ifname");

    ok(parse(&cfg,
             "{\"name\": \"n1\", \"uplinks\": [{\"kind\": \"slirp\"}, "
             "{\"kind\": \"vxlan\", \"vni\": 0}]}",
             &err) == 0,
       "the defaults: %s", err.msg);
    ok(cfg.ageing_s == SWITCH_DEFAULT_AGEING && cfg.fdb_max == SWITCH_DEFAULT_FDB_MAX &&
           cfg.uplinks[0].slirp.network.s_addr == htonl(0x0a000200) &&
           cfg.uplinks[0].slirp.prefix == 24 && cfg.uplinks[1].vxlan.port == VXLAN_PORT &&
           cfg.uplinks[1].vxlan.local.s_addr == htonl(INADDR_ANY) &&
           cfg.uplinks[1].vxlan.npeers == 0,
       "ageing 300, fdb-max 4096, 10.0.2.0/24, port 4789 on every address, no peer");

    static const char *const bad[][2] = {
        {"{\"name\": \"a\", \"fdb-max\": -1}", "\"fdb-max\" must be an integer"},
        {"{\"name\": \"a\", \"ageing\": \"300\"}", "\"ageing\" must be an integer"},
        {"{\"name\": 7}", "\"name\" must be a string"},
        {"{\"name\": \"\"}", "\"name\" ''"},
        {"{\"name\": \"a\", \"uplinks\": [7]}", "uplinks[0]: an uplink is an object"},
        {"{\"name\": \"a\", \"uplinks\": [{\"kind\": \"tap\", \"ifname\": \"t\", \"x\": 1}]}",
         "uplinks[0] (tap): unknown member \"x\""},
        {"{\"name\": \"a\", \"uplinks\": [{\"kind\": \"vxlan\", \"vni\": 1, \"peers\": "
         "[\"1.2.3.4:x\"]}]}",
         "peer '1.2.3.4:x'"},
        {"{\"name\": \"a\", \"uplinks\": [{\"kind\": \"vxlan\", \"vni\": 1, \"peers\": "
         "[\"224.0.0.1\"]}]}",
         "not a unicast address"},
        {"{\"name\": \"a\", \"uplinks\": [{\"kind\": \"vxlan\", \"vni\": 1, \"port\": 0}]}",
         "\"port\" must be an integer from 1 to 65535"},
        {"{\"name\": \"a\", \"uplinks\": [{\"kind\": \"slirp\", \"name\": \"a b\"}]}",
         "\"name\" 'a b'"},
        {"{\"name\": \"a\", \"uplinks\": [{\"kind\": \"slirp\", \"hostfwd\": \"tcp::1-:1\"}]}",
         "\"hostfwd\" must be an array"},
        {"{\"name\": \"a\", \"uplinks\": [{\"kind\": \"slirp\", \"hostfwd\": [\"x\"]}]}",
         "hostfwd 'x': expected"},
        {"{\"name\": \"a\", \"uplinks\": [{\"kind\": \"slirp\", \"leases\": \"\"}]}",
         "\"leases\" must be a file's path"},
        {"{\"name\": \"a\", \"uplinks\": [{\"kind\": \"slirp\", \"leases\": 1}]}",
         "\"leases\" must be a string"},
        {"{\"name\": \"a\", \"uplinks\": [{\"kind\": \"slirp\", \"subnet\": \"10.0.0.0/7\"}]}",
         "prefix length must be 8 to 27"},
        {"{\"name\": \"a\", \"uplinks\": [{}, {}, {}, {}, {}, {}, {}, {}, {}]}", "at most 8"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
        err = (Error){0};
        ok(parse(&cfg, bad[i][0], &err) < 0 && strstr(err.msg, bad[i][1]), "refused: %s -> %s",
           bad[i][0], err.msg);
    }
    ok(switchd_config_load(&cfg, "/nonexistent/switch.json", &err) < 0 &&
           strstr(err.msg, "/nonexistent/switch.json: No such file"),
       "a missing file: %s", err.msg);
}

/* ---- add-port's arguments ---- */

static int port(SwitchPortConfig *pc, const char *text, Error *err)
{
    json_t *args = json_loads(text, 0, NULL);
    int rc = args ? switchd_port_from_json(pc, args, err) : error_set(err, "test JSON");
    json_decref(args);
    return rc;
}

static void test_port_args(void)
{
    SwitchPortConfig pc;
    Error err = {0};
    ok(port(&pc, "{\"name\": \"vm.0\"}", &err) == 0 && pc.mode == SWITCH_ACCESS && pc.vlan == 1 &&
           !pc.spoof_check && !pc.isolated && !pc.uplink && pc.rate_bps == 0,
       "a bare port: access VLAN 1, no check");
    ok(port(&pc,
            "{\"name\": \"vm.1\", \"vlan\": 10, \"mac\": \"52:54:00:00:00:01\", \"isolated\": true,"
            " \"rate-mbit\": 100, \"flood-pps\": 1000, \"queue\": 32}",
            &err) == 0 &&
           pc.vlan == 10 && pc.spoof_check && pc.mac[5] == 1 && pc.isolated &&
           pc.rate_bps == 100000000ull && pc.flood_pps == 1000 && pc.queue_frames == 32,
       "access options; a MAC turns the spoof check on: %s", err.msg);
    ok(port(&pc,
            "{\"name\": \"t\", \"mode\": \"trunk\", \"allowed\": [10, \"20-22\"], \"native\": 1}",
            &err) == 0 &&
           pc.mode == SWITCH_TRUNK && pc.vlan == 1 && switchd_vlan_isset(pc.allowed, 10) &&
           switchd_vlan_isset(pc.allowed, 21) && switchd_vlan_isset(pc.allowed, 22) &&
           !switchd_vlan_isset(pc.allowed, 23) && !switchd_vlan_isset(pc.allowed, 11),
       "trunk: numbers and ranges, native: %s", err.msg);
    ok(port(&pc, "{\"name\": \"m\", \"mac\": \"52:54:00:00:00:01\", \"spoof-check\": false}",
            &err) == 0 &&
           !pc.spoof_check,
       "spoof-check can be turned off");
    static const char *const bad[][2] = {
        {"{\"name\": \"t\", \"mode\": \"trunk\", \"allowed\": [\"22-20\"]}", "\"allowed\""},
        {"{\"name\": \"t\", \"mode\": \"trunk\", \"allowed\": [\"1-4095\"]}", "\"allowed\""},
        {"{\"name\": \"t\", \"mode\": \"trunk\", \"allowed\": 10}", "an array"},
        {"{\"name\": \"t\", \"mode\": \"trunk\", \"native\": 4095}", "\"native\""},
        {"{\"name\": \"t\", \"isolated\": 1}", "\"isolated\" must be true or false"},
        {"{\"name\": \"t\", \"rate-mbit\": -5}", "\"rate-mbit\""},
        {"{\"name\": \"t\", \"queue\": 70000}", "\"queue\""},
        {"{\"name\": 3}", "\"name\" is required"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
        err = (Error){0};
        ok(port(&pc, bad[i][0], &err) < 0 && strstr(err.msg, bad[i][1]), "refused: %s -> %s",
           bad[i][0], err.msg);
    }
}

/* ---- the VXLAN header ---- */

static void test_vxlan_header(void)
{
    uint8_t pkt[VXLAN_HDR_LEN + 14] = {0};
    vxlan_encode(pkt, 0x123456);
    static const uint8_t want[VXLAN_HDR_LEN] = {0x08, 0, 0, 0, 0x12, 0x34, 0x56, 0};
    ok(memcmp(pkt, want, sizeof(want)) == 0, "header: I flag, 24-bit VNI in bytes 4-6");
    uint32_t vni = 0;
    ok(vxlan_decode(pkt, sizeof(pkt), &vni) == VXLAN_OK && vni == 0x123456, "decoded back");
    vxlan_encode(pkt, VXLAN_VNI_MAX);
    ok(vxlan_decode(pkt, sizeof(pkt), &vni) == VXLAN_OK && vni == VXLAN_VNI_MAX, "VNI 2^24-1");
    pkt[1] = 0xff;
    pkt[7] = 0xff;
    pkt[0] |= 0x80;
    ok(vxlan_decode(pkt, sizeof(pkt), &vni) == VXLAN_OK && vni == VXLAN_VNI_MAX,
       "reserved bits are ignored on receipt");
    ok(vxlan_decode(pkt, sizeof(pkt) - 1, &vni) == VXLAN_SHORT,
       "shorter than header + Ethernet header");
    ok(vxlan_decode(pkt, 3, &vni) == VXLAN_SHORT, "a few bytes");
    pkt[0] = 0;
    ok(vxlan_decode(pkt, sizeof(pkt), &vni) == VXLAN_NO_VNI, "without the I flag");
}

/* ---- the remote-address table ---- */

static void test_vxlan_macs(void)
{
    const uint64_t s = 1000000000ull;
    VxlanMacTable *t = vxlan_macs_new(200, 10 * s);
    uint8_t mac[6] = {0x02, 0, 0, 0, 0, 1};
    ok(t && vxlan_macs_lookup(t, mac, 0) == -1, "empty: unknown");
    vxlan_macs_learn(t, mac, 3, 1 * s);
    ok(vxlan_macs_lookup(t, mac, 2 * s) == 3, "learned behind peer 3");
    vxlan_macs_learn(t, mac, 5, 3 * s);
    ok(vxlan_macs_lookup(t, mac, 4 * s) == 5 && vxlan_macs_count(t) == 1, "moved to peer 5");
    uint8_t group[6] = {0x01, 0, 0x5e, 0, 0, 1};
    vxlan_macs_learn(t, group, 1, 3 * s);
    ok(vxlan_macs_lookup(t, group, 4 * s) == -1 && vxlan_macs_count(t) == 1,
       "a group address is not learned");
    ok(vxlan_macs_lookup(t, mac, 13 * s) == -1, "unknown once older than the ageing time");
    vxlan_macs_age(t, 13 * s);
    ok(vxlan_macs_count(t) == 0, "and aged out of the table");

    /* Many addresses: every one found, half aged out, the rest still found. */
    for (unsigned i = 0; i < 200; i++) {
        uint8_t m[6] = {0x02, 1, 0, 0, (uint8_t)(i >> 8), (uint8_t)i};
        vxlan_macs_learn(t, m, i % 7, (i % 2 ? 20 : 5) * s);
    }
    uint8_t extra[6] = {0x02, 9, 9, 9, 9, 9};
    vxlan_macs_learn(t, extra, 1, 20 * s);
    ok(vxlan_macs_count(t) == 200 && vxlan_macs_lookup(t, extra, 20 * s) == -1,
       "full at 200: a new address is not learned");
    unsigned found = 0;
    for (unsigned i = 0; i < 200; i++) {
        uint8_t m[6] = {0x02, 1, 0, 0, (uint8_t)(i >> 8), (uint8_t)i};
        found += vxlan_macs_lookup(t, m, 14 * s) == (int)(i % 7) || !(i % 2);
    }
    ok(found == 200, "200 addresses each behind its peer");
    vxlan_macs_age(t, 16 * s);
    unsigned left = 0, gone = 0;
    for (unsigned i = 0; i < 200; i++) {
        uint8_t m[6] = {0x02, 1, 0, 0, (uint8_t)(i >> 8), (uint8_t)i};
        int p = vxlan_macs_lookup(t, m, 16 * s);
        left += i % 2 && p == (int)(i % 7);
        gone += !(i % 2) && p == -1;
    }
    ok(vxlan_macs_count(t) == 100 && left == 100 && gone == 100,
       "ageing removes the old half; the others are still found (%u, %u)", left, gone);
    vxlan_macs_learn(t, extra, 1, 20 * s);
    ok(vxlan_macs_lookup(t, extra, 20 * s) == 1, "room again");
    vxlan_macs_free(t);
}

/* ---- the vxlan uplink over loopback ---- */

static EventLoop *loop;
static uint8_t in_frame[2048];
static size_t in_len;
static unsigned in_count;

static void uplink_got(void *opaque, const uint8_t *frame, size_t len)
{
    in_len = len < sizeof(in_frame) ? len : sizeof(in_frame);
    memcpy(in_frame, frame, in_len);
    in_count++;
}

/* A UDP socket on addr (127.x.y.z), any port; its port in *port. */
static int udp_on(const char *addr, uint16_t *port)
{
    int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in a = {.sin_family = AF_INET};
    inet_pton(AF_INET, addr, &a.sin_addr);
    socklen_t len = sizeof(a);
    if (bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0 ||
        getsockname(fd, (struct sockaddr *)&a, &len) < 0) {
        close(fd);
        return -1;
    }
    *port = ntohs(a.sin_port);
    return fd;
}

/* The next datagram on fd within a second; its length, or -1. */
static ssize_t udp_recv(int fd, uint8_t *buf, size_t size)
{
    struct pollfd p = {.fd = fd, .events = POLLIN};
    if (poll(&p, 1, 1000) != 1)
        return -1;
    return recv(fd, buf, size, MSG_DONTWAIT);
}

static void udp_send_to(int fd, uint16_t port, const uint8_t *buf, size_t len)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
    inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
    if (sendto(fd, buf, len, 0, (struct sockaddr *)&a, sizeof(a)) != (ssize_t)len)
        ok(0, "sendto");
}

/* Run the loop until the uplink took count frames in all, or a second passed. */
static bool pump_until(unsigned count)
{
    uint64_t end = timer_now_ns() + 1000000000ull;
    while (in_count < count && timer_now_ns() < end)
        evloop_run_once(loop, 10000000);
    return in_count >= count;
}

static uint64_t counter(Uplink *u, const char *name)
{
    UplinkCounter c[UPLINK_MAX_COUNTERS];
    size_t n = uplink_counters(u, c, UPLINK_MAX_COUNTERS);
    for (size_t i = 0; i < n; i++)
        if (strcmp(c[i].name, name) == 0)
            return c[i].value;
    return UINT64_MAX;
}

static void test_vxlan_uplink(void)
{
    uint16_t p1, p2, p3, local;
    int peer1 = udp_on("127.0.0.2", &p1), peer2 = udp_on("127.0.0.3", &p2);
    int stranger = udp_on("127.0.0.4", &p3);
    int probe = udp_on("127.0.0.1", &local); /* find a free port for the uplink */
    close(probe);
    ok(peer1 >= 0 && peer2 >= 0 && stranger >= 0, "peers on 127.0.0.2 and .3, a stranger on .4");
    UplinkConfig cfg = {.kind = UPLINK_VXLAN, .name = "vx"};
    cfg.vxlan.vni = 42;
    cfg.vxlan.port = local;
    inet_pton(AF_INET, "127.0.0.1", &cfg.vxlan.local);
    inet_pton(AF_INET, "127.0.0.2", &cfg.vxlan.peers[0].addr);
    inet_pton(AF_INET, "127.0.0.3", &cfg.vxlan.peers[1].addr);
    cfg.vxlan.peers[0].port = p1;
    cfg.vxlan.peers[1].port = p2;
    cfg.vxlan.npeers = 2;
    UplinkEnv env = {.loop = loop, .input = uplink_got, .ageing_s = 300, .max_macs = 64};
    Error err = {0};
    Uplink *u = uplink_new(&cfg, &env, &err);
    ok(u != NULL, "vxlan uplink on 127.0.0.1:%u: %s", local, err.msg);
    if (!u)
        return;
    Uplink *again = uplink_new(&cfg, &env, &err);
    ok(!again && strstr(err.msg, "uplink vx: cannot bind UDP 127.0.0.1:") &&
           strstr(err.msg, "in use"),
       "the same port twice: %s", err.msg);

    /* A broadcast goes to every peer, in VXLAN. */
    uint8_t frame[60] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02, 0, 0, 0, 0, 1, 0x88, 0xb5};
    ok(uplink_output(u, frame, sizeof(frame)) == 1, "output takes the frame");
    uint8_t buf[2048];
    ssize_t n1 = udp_recv(peer1, buf, sizeof(buf));
    uint32_t vni = 0;
    ok(n1 == VXLAN_HDR_LEN + 60 && vxlan_decode(buf, (size_t)n1, &vni) == VXLAN_OK && vni == 42 &&
           memcmp(buf + VXLAN_HDR_LEN, frame, 60) == 0,
       "peer 1 gets it: VNI 42, the frame after the header");
    ssize_t n2 = udp_recv(peer2, buf, sizeof(buf));
    ok(n2 == n1, "and peer 2 (head-end replication)");

    /* From peer 2: decapsulated, its source learned behind peer 2. */
    uint8_t pkt[VXLAN_HDR_LEN + 60];
    vxlan_encode(pkt, 42);
    uint8_t reply[60] = {0x02, 0, 0, 0, 0, 1, 0x02, 0, 0, 0, 0, 2, 0x88, 0xb5, 'h', 'i'};
    memcpy(pkt + VXLAN_HDR_LEN, reply, sizeof(reply));
    udp_send_to(peer2, local, pkt, sizeof(pkt));
    ok(pump_until(1) && in_len == 60 && memcmp(in_frame, reply, 60) == 0,
       "a frame from peer 2 reaches the switch, without the header");
    uint8_t to_two[60] = {0x02, 0, 0, 0, 0, 2, 0x02, 0, 0, 0, 0, 1, 0x88, 0xb5};
    uplink_output(u, to_two, sizeof(to_two));
    ok(udp_recv(peer2, buf, sizeof(buf)) == VXLAN_HDR_LEN + 60 &&
           udp_recv(peer1, buf, sizeof(buf)) < 0,
       "a frame for the address learned behind peer 2 goes to peer 2 only");

    /* Refused: a stranger, another VNI, a runt, no I flag. */
    udp_send_to(stranger, local, pkt, sizeof(pkt));
    vxlan_encode(pkt, 43);
    udp_send_to(peer1, local, pkt, sizeof(pkt));
    udp_send_to(peer1, local, pkt, VXLAN_HDR_LEN + 10);
    vxlan_encode(pkt, 42);
    pkt[0] = 0;
    udp_send_to(peer1, local, pkt, sizeof(pkt));
    vxlan_encode(pkt, 42);
    udp_send_to(peer1, local, pkt, sizeof(pkt)); /* a good one behind them */
    ok(pump_until(2), "a good datagram after the bad ones gets through");
    ok(in_count == 2 && counter(u, "drop-peer") == 1 && counter(u, "drop-vni") == 1 &&
           counter(u, "drop-malformed") == 2 && counter(u, "rx-packets") == 2 &&
           counter(u, "tx-packets") == 3 && counter(u, "remote-macs") == 1,
       "dropped and counted: unknown peer 1, VNI 1, malformed 2; rx 2, tx 3");
    uplink_output(u, to_two, sizeof(to_two));
    ok(udp_recv(peer1, buf, sizeof(buf)) == VXLAN_HDR_LEN + 60,
       "the address moved behind peer 1 (the good datagram came from there)");
    uplink_free(u);
    close(peer1);
    close(peer2);
    close(stranger);
}

/* The port a vxlan uplink is on the switch: a trunk of every VLAN, 1 untagged. */
static void test_uplink_ports(void)
{
    UplinkConfig cfg = {.kind = UPLINK_VXLAN, .name = "vx"};
    SwitchPortConfig pc;
    uplink_port_config(&cfg, &pc);
    ok(pc.uplink && pc.mode == SWITCH_TRUNK && pc.vlan == 1 && !switchd_vlan_isset(pc.allowed, 1) &&
           switchd_vlan_isset(pc.allowed, 2) && switchd_vlan_isset(pc.allowed, 4094) &&
           strcmp(pc.name, "vx") == 0,
       "vxlan: trunk, native 1, 2..4094 tagged, an uplink");
    cfg.kind = UPLINK_SLIRP;
    uplink_port_config(&cfg, &pc);
    ok(pc.uplink && pc.mode == SWITCH_ACCESS && pc.vlan == 1, "slirp: access VLAN 1, an uplink");
}

/* ---- the engine ---- */

/* A VM port on a new socketpair; the test's end in *mine. */
static bool engine_port(SwitchDaemon *d, const char *name, int *mine)
{
    int sv[2];
    SwitchPortConfig pc;
    Error err = {0};
    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
        return false;
    switch_port_config_default(&pc, name);
    *mine = sv[0];
    return switchd_port_add(d, &pc, sv[1], &err) == 0;
}

static void eth_frame(uint8_t *f, uint8_t dst, uint8_t src)
{
    memset(f, 0, 60);
    memcpy(f, (uint8_t[]){0x02, 0, 0, 0, 0, dst}, 6);
    memcpy(f + 6, (uint8_t[]){0x02, 0, 0, 0, 0, src}, 6);
    f[12] = 0x88;
    f[13] = 0xb5;
}

static uint64_t port_rx(SwitchDaemon *d, const char *name)
{
    SwitchdPortInfo info;
    return switchd_port_info(d, name, &info) ? info.stats.rx_frames : UINT64_MAX;
}

/* Frames waiting on fd (drained). */
static unsigned drain(int fd)
{
    uint8_t buf[2048];
    unsigned n = 0;
    while (recv(fd, buf, sizeof(buf), MSG_DONTWAIT) > 0)
        n++;
    return n;
}

static void test_engine(void)
{
    SwitchdConfig cfg = {.name = "t"};
    Error err = {0};
    SwitchDaemon *d = switchd_new(&cfg, loop, &err);
    int flood, sink, a, b;
    ok(d && engine_port(d, "flood", &flood) && engine_port(d, "sink", &sink) &&
           engine_port(d, "a", &a) && engine_port(d, "b", &b),
       "a switch with four socketpair ports: %s", err.msg);
    if (!d)
        return;
    uint8_t f[60];
    eth_frame(f, 0, 9); /* the sink's address, learned: flood frames go only there */
    memset(f, 0xff, 6);
    send(sink, f, 60, 0);
    eth_frame(f, 0, 2);
    memset(f, 0xff, 6);
    send(b, f, 60, 0);
    for (int i = 0; i < 20; i++)
        evloop_run_once(loop, 1000000);
    drain(flood), drain(sink), drain(a), drain(b);

    int big = 4 << 20;
    setsockopt(flood, SOL_SOCKET, SO_SNDBUF, &big, sizeof(big));
    unsigned queued = 0;
    eth_frame(f, 9, 3);
    while (queued < 1000 && send(flood, f, 60, MSG_DONTWAIT) == 60)
        queued++;
    eth_frame(f, 2, 1);
    send(a, f, 60, 0);
    uint64_t flood_rx = port_rx(d, "flood");
    evloop_run_once(loop, 1000000); /* one round */
    ok(queued > 3 * SWITCHD_READ_BATCH, "%u frames wait on the flooding port", queued);
    ok(port_rx(d, "flood") - flood_rx == SWITCHD_READ_BATCH,
       "one round reads %d of them (read %llu)", SWITCHD_READ_BATCH,
       (unsigned long long)(port_rx(d, "flood") - flood_rx));
    ok(port_rx(d, "a") == 1 && drain(b) == 1,
       "and in the same round a's frame is read and reaches b");
    for (int i = 0; i < 100 && port_rx(d, "flood") - flood_rx < queued; i++)
        evloop_run_once(loop, 1000000);
    ok(port_rx(d, "flood") - flood_rx == queued, "the flood is read in later rounds");

    /* The sink does not read: its queue fills, then drains when it reads. */
    SwitchdPortInfo info;
    switchd_port_info(d, "sink", &info);
    ok(info.stats.queued > 0 || info.stats.drop_queue > 0,
       "the sink's socket filled: frames queued (%u) or dropped (%llu)", info.stats.queued,
       (unsigned long long)info.stats.drop_queue);
    unsigned got = 0;
    for (int i = 0; i < 200; i++) {
        unsigned n = drain(sink);
        got += n;
        evloop_run_once(loop, 1000000);
        switchd_port_info(d, "sink", &info);
        if (!info.stats.queued && !n)
            break;
    }
    switchd_port_info(d, "sink", &info);
    ok(info.stats.queued == 0 && got + info.stats.drop_queue == queued,
       "once it reads, the queue empties (%u received, %llu dropped)", got,
       (unsigned long long)info.stats.drop_queue);
    switchd_free(d);
    close(flood), close(sink), close(a), close(b);
}

/* ---- the engine with a port on rings (the test plays the VMM) ---- */

typedef struct FakeVmm {
    NetRingPair ring;
    int sock, efd, sw_efd;
} FakeVmm;

/* Ask for rings on sock and take the accept: true when they are mapped. */
static bool fake_vmm_rings(FakeVmm *v, int sock)
{
    uint8_t buf[64];
    int fds[NET_RING_MAX_FDS], nfds, memfd;
    uint32_t bytes;
    Error err = {0};
    *v = (FakeVmm){.sock = sock, .efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC), .sw_efd = -1};
    if (net_ring_send_request(sock, v->efd) < 0)
        return false;
    for (int i = 0; i < 10; i++)
        evloop_run_once(loop, 1000000);
    ssize_t n = net_ring_recv(sock, buf, sizeof(buf), fds, &nfds);
    if (n <= 0 || !net_ring_parse_accept(buf, (size_t)n, fds, nfds, &memfd, &v->sw_efd, &bytes))
        return false;
    bool good = net_ring_attach(&v->ring, memfd, bytes, &err) == 0;
    close(memfd);
    return good;
}

static const char *transport(SwitchDaemon *d, const char *name)
{
    SwitchdPortInfo info;
    return switchd_port_info(d, name, &info) && info.transport ? info.transport : "?";
}

/* Frames in the VMM's down ring (popped). */
static unsigned vmm_pop(FakeVmm *v)
{
    static uint8_t buf[NET_RING_FRAME_MAX];
    size_t len;
    unsigned n = 0;
    while (net_ring_pop(&v->ring.rx, buf, sizeof(buf), &len) == NET_RING_OK)
        n++;
    if (net_ring_pop_done(&v->ring.rx))
        net_ring_kick(v->sw_efd);
    return n;
}

static void test_engine_rings(void)
{
    SwitchdConfig cfg = {.name = "t"};
    Error err = {0};
    SwitchDaemon *d = switchd_new(&cfg, loop, &err);
    int r, sk, p2[2];
    FakeVmm v;
    ok(d && engine_port(d, "r", &r) && engine_port(d, "s", &sk) && fake_vmm_rings(&v, r),
       "a port asks for rings and gets them");
    if (!d)
        return;
    ok(strcmp(transport(d, "r"), "ring") == 0 && strcmp(transport(d, "s"), "socket") == 0,
       "query: r is on rings, s on its socket");
    uint8_t f[60];
    eth_frame(f, 0, 5); /* r announces itself */
    memset(f, 0xff, 6);
    net_ring_push(&v.ring.tx, f, 60);
    ok(net_ring_push_done(&v.ring.tx), "the switch starts asleep: the first frame up rings it");
    net_ring_kick(v.sw_efd);
    for (int i = 0; i < 10; i++)
        evloop_run_once(loop, 1000000);
    ok(drain(sk) == 1 && port_rx(d, "r") == 1, "a frame up r's ring reaches s's socket");
    net_ring_idle(&v.ring.rx); /* the VMM sleeps */
    eth_frame(f, 5, 6);
    send(sk, f, 60, 0);
    for (int i = 0; i < 10; i++)
        evloop_run_once(loop, 1000000);
    struct pollfd pf = {.fd = v.efd, .events = POLLIN};
    ok(poll(&pf, 1, 0) == 1 && vmm_pop(&v) == 1,
       "s's unicast to r lands in r's down ring, and r's doorbell rings");
    net_ring_drain(v.efd);
    net_ring_busy(&v.ring.rx);

    /* fairness: one round takes SWITCHD_RING_BATCH frames from a ring */
    eth_frame(f, 6, 5);
    for (int i = 0; i < 1000; i++)
        net_ring_push(&v.ring.tx, f, 60);
    net_ring_kick(v.sw_efd);
    uint64_t rx0 = port_rx(d, "r");
    evloop_run_once(loop, 1000000);
    ok(port_rx(d, "r") - rx0 == SWITCHD_RING_BATCH, "one round takes %d frames from the ring",
       SWITCHD_RING_BATCH);
    for (int i = 0; i < 50 && port_rx(d, "r") - rx0 < 1000; i++)
        evloop_run_once(loop, 1000000);
    ok(port_rx(d, "r") - rx0 == 1000, "the rest in later rounds, without another ring");
    drain(sk);

    /* the VMM does not read: frames wait in the switch's queue, then go when it does */
    int big = 4 << 20;
    setsockopt(sk, SOL_SOCKET, SO_SNDBUF, &big, sizeof(big));
    eth_frame(f, 5, 6);
    unsigned sent = 0;
    for (int round = 0; round < 40; round++) {
        for (int i = 0; i < 200; i++)
            sent += send(sk, f, 60, MSG_DONTWAIT) == 60;
        evloop_run_once(loop, 1000000);
    }
    SwitchdPortInfo info;
    for (int i = 0; i < 200 && switchd_port_info(d, "r", &info) && !info.stats.queued; i++)
        evloop_run_once(loop, 1000000);
    ok(info.stats.queued > 0, "%u frames for a VMM that does not read: the ring filled, %u queued",
       sent, info.stats.queued);
    unsigned got = 0;
    for (int i = 0; i < 200; i++) {
        got += vmm_pop(&v);
        evloop_run_once(loop, 1000000);
        switchd_port_info(d, "r", &info);
        if (!info.stats.queued && net_ring_idle(&v.ring.rx))
            break;
        net_ring_busy(&v.ring.rx);
    }
    got += vmm_pop(&v);
    switchd_port_info(d, "r", &info);
    ok(info.stats.queued == 0 && got + info.stats.drop_queue == sent,
       "it reads and rings: the queue empties (%u received, %llu dropped)", got,
       (unsigned long long)info.stats.drop_queue);

    /* a broadcast storm fills at most SWITCHD_RING_FLOOD_BYTES of the ring; unicast gets in */
    eth_frame(f, 0, 6);
    memset(f, 0xff, 6);
    for (int round = 0; round < 40; round++) {
        for (int i = 0; i < 64; i++)
            send(sk, f, 60, MSG_DONTWAIT);
        evloop_run_once(loop, 1000000);
    }
    eth_frame(f, 5, 6);
    f[20] = 0x77; /* the unicast one */
    send(sk, f, 60, 0);
    for (int i = 0; i < 10; i++)
        evloop_run_once(loop, 1000000);
    unsigned floods = 0, unicast = 0;
    size_t flen;
    static uint8_t fb[NET_RING_FRAME_MAX];
    while (net_ring_pop(&v.ring.rx, fb, sizeof(fb), &flen) == NET_RING_OK) {
        floods += fb[0] == 0xff;
        unicast += fb[0] != 0xff && fb[20] == 0x77;
    }
    switchd_port_info(d, "r", &info);
    ok(floods > 100 && floods * 64 <= SWITCHD_RING_FLOOD_BYTES + 64 && unicast == 1,
       "2560 broadcasts for a VMM that does not read: %u of them in its ring (at most %d bytes), "
       "the rest queued or dropped (%llu); a unicast frame after them still got in",
       floods, SWITCHD_RING_FLOOD_BYTES, (unsigned long long)info.stats.drop_queue);
    if (net_ring_pop_done(&v.ring.rx))
        net_ring_kick(v.sw_efd);
    for (int i = 0; i < 50; i++) {
        evloop_run_once(loop, 1000000);
        vmm_pop(&v);
    }

    /* what is not a request is ignored; a port keeps working */
    pipe(p2);
    net_ring_send_request(sk, p2[0]);
    net_ring_send_request(r, v.efd); /* a second request on a ring port */
    for (int i = 0; i < 10; i++)
        evloop_run_once(loop, 1000000);
    ok(strcmp(transport(d, "s"), "socket") == 0 && drain(r) == 0,
       "a request with a pipe for a doorbell, or a second one, is ignored");
    close(p2[0]);
    close(p2[1]);
    eth_frame(f, 5, 6);
    send(sk, f, 60, 0);
    for (int i = 0; i < 10; i++)
        evloop_run_once(loop, 1000000);
    ok(vmm_pop(&v) == 1, "frames still flow");

    /* a VMM that writes nonsense: the switch hangs up its port */
    uint32_t bad = 7;
    memcpy((uint8_t *)v.ring.tx.h, &bad, 4); /* its head */
    net_ring_kick(v.sw_efd);
    for (int i = 0; i < 10; i++)
        evloop_run_once(loop, 1000000);
    switchd_port_info(d, "r", &info);
    ok(!info.link_up && recv(r, f, sizeof(f), MSG_DONTWAIT) == 0,
       "a broken ring: the port hangs up (link down, the VMM sees its socket closed)");
    switchd_free(d);
    net_ring_detach(&v.ring);
    close(v.efd), close(v.sw_efd), close(r), close(sk);
}

int main(void)
{
    Error err = {0};
    loop = evloop_new(&err);
    test_config();
    test_port_args();
    test_vxlan_header();
    test_vxlan_macs();
    test_vxlan_uplink();
    test_uplink_ports();
    test_engine();
    test_engine_rings();
    evloop_free(loop);
    return tap_done();
}
