/*
 * Network definitions (src/mgmt/network.c, network_store.c): names,
 * subnets, forwards, the members each kind takes and refuses (and the
 * class of each error: -EPROTO for the shape, -EINVAL for a value), the
 * default subnet (deterministic, clear of the others), clashes between
 * networks, the switch configuration, documents written and read back,
 * a broken document skipped and its name kept taken.
 */
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "mgmt/network.h"
#include "tap.h"

static char root[256];

/* text (JSON) as a create's body into *net; the return code, err's line into msg. */
static int parse(const char *text, MgmtNetwork *net, char *msg, size_t size)
{
    json_error_t je;
    json_t *j = json_loads(text, 0, &je);
    Error err = {0};
    if (!j) {
        snprintf(msg, size, "bad test JSON: %s", je.text);
        return -999;
    }
    int rc = mgmt_network_from_json(j, false, net, &err);
    snprintf(msg, size, "%s", err.msg);
    json_decref(j);
    return rc;
}

/* text is refused with code and a message holding want. */
static void refused(const char *text, int code, const char *want)
{
    MgmtNetwork net;
    char msg[512];
    int rc = parse(text, &net, msg, sizeof(msg));
    ok(rc == code && strstr(msg, want), "%s -> %d '%s'", text, rc, msg);
}

static void test_names(void)
{
    Error err = {0};
    ok(mgmt_net_name_check("lan", &err) && mgmt_net_name_check("a.b_c-9", &err), "plain names");
    ok(!mgmt_net_name_check("", &err), "empty name refused");
    ok(!mgmt_net_name_check("-x", &err) && !mgmt_net_name_check(".x", &err) &&
           !mgmt_net_name_check("_x", &err),
       "a name starts with a letter or digit");
    ok(!mgmt_net_name_check("a/b", &err) && strstr(err.msg, "[A-Za-z0-9._-]"), "no slash: %s",
       err.msg);
    char long_name[80];
    memset(long_name, 'a', 64);
    long_name[64] = '\0';
    ok(!mgmt_net_name_check(long_name, &err), "64 bytes is too long");
    long_name[63] = '\0';
    ok(mgmt_net_name_check(long_name, &err), "63 bytes is fine");
}

static void test_subnets(void)
{
    MgmtSubnet s, t;
    Error err = {0};
    char buf[40];
    ok(mgmt_subnet_parse("10.77.0.0/24", &s, &err) == 0 && s.prefix == 24 && s.addr == 0x0a4d0000u,
       "10.77.0.0/24");
    mgmt_subnet_format(&s, buf, sizeof(buf));
    ok(strcmp(buf, "10.77.0.0/24") == 0, "formatted back: %s", buf);
    mgmt_subnet_host(&s, 1, buf, sizeof(buf));
    ok(strcmp(buf, "10.77.0.1") == 0, "host .1: %s", buf);
    ok(mgmt_subnet_parse("10.77.0.1/24", &s, &err) < 0 && strstr(err.msg, "10.77.0.0/24"),
       "host bits refused, the network suggested: %s", err.msg);
    ok(mgmt_subnet_parse("10.77.0.0/28", &s, &err) < 0 && strstr(err.msg, "/27"),
       "/28 too small: %s", err.msg);
    ok(mgmt_subnet_parse("10.0.0.0/7", &s, &err) < 0, "/7 too large");
    ok(mgmt_subnet_parse("10.77.0.0", &s, &err) < 0 && mgmt_subnet_parse("x/24", &s, &err) < 0 &&
           mgmt_subnet_parse("10.77.0.0/2x", &s, &err) < 0 &&
           mgmt_subnet_parse("10.77.0.0/", &s, &err) < 0,
       "malformed subnets refused");
    mgmt_subnet_parse("10.0.0.0/8", &s, NULL);
    mgmt_subnet_parse("10.9.8.0/24", &t, NULL);
    ok(mgmt_subnet_overlap(&s, &t) && mgmt_subnet_overlap(&t, &s), "a /24 inside a /8 overlaps");
    mgmt_subnet_parse("192.168.0.0/16", &s, NULL);
    ok(!mgmt_subnet_overlap(&s, &t), "disjoint subnets do not");
}

static void test_pick(void)
{
    MgmtSubnet a = mgmt_net_pick_subnet("lan", NULL, 0);
    MgmtSubnet b = mgmt_net_pick_subnet("lan", NULL, 0);
    ok(a.prefix == 24 && a.addr == b.addr && (a.addr >> 24) == 10, "the same name, the same /24");
    ok(((a.addr >> 16) & 0xff) >= 1 && ((a.addr >> 16) & 0xff) <= 254, "10.X with X in 1..254");
    MgmtSubnet c = mgmt_net_pick_subnet("lan", &a, 1);
    ok(c.prefix == 24 && c.addr != a.addr && !mgmt_subnet_overlap(&a, &c),
       "a taken subnet is skipped");
    MgmtSubnet all;
    mgmt_subnet_parse("10.0.0.0/8", &all, NULL);
    ok(mgmt_net_pick_subnet("lan", &all, 1).prefix == 0, "nothing left: none");
    ok(mgmt_net_pick_subnet("wan", NULL, 0).addr != a.addr, "another name, (here) another subnet");
}

static void test_forwards(void)
{
    MgmtSubnet s;
    Error err = {0};
    char out[MGMT_NET_FORWARD_TEXT];
    mgmt_subnet_parse("10.77.0.0/24", &s, NULL);
    ok(mgmt_net_forward_parse("tcp:127.0.0.1:8080-10.77.0.15:80", &s, out, &err) == 0 &&
           strcmp(out, "tcp:127.0.0.1:8080-10.77.0.15:80") == 0,
       "a full forward: %s", out);
    ok(mgmt_net_forward_parse("8080-10.77.0.15:80", &s, out, &err) == 0 &&
           strcmp(out, "tcp:0.0.0.0:8080-10.77.0.15:80") == 0,
       "tcp and every address by default: %s", out);
    ok(mgmt_net_forward_parse("udp:5353-10.77.0.20:53", &s, out, &err) == 0 &&
           strcmp(out, "udp:0.0.0.0:5353-10.77.0.20:53") == 0,
       "udp: %s", out);
    ok(mgmt_net_forward_parse("tcp:8080-10.78.0.15:80", &s, out, &err) < 0 &&
           strstr(err.msg, "10.77.0.0/24"),
       "a VM address outside the subnet: %s", err.msg);
    ok(mgmt_net_forward_parse("tcp:8080-10.77.0.2:80", &s, out, &err) < 0,
       "the gateway is not a VM");
    ok(mgmt_net_forward_parse("tcp:8080-10.77.0.255:80", &s, out, &err) < 0,
       "the broadcast address is not a VM");
    ok(mgmt_net_forward_parse("tcp:0-10.77.0.15:80", &s, out, &err) < 0 &&
           mgmt_net_forward_parse("tcp:8080-10.77.0.15:65536", &s, out, &err) < 0 &&
           mgmt_net_forward_parse("sctp:8080-10.77.0.15:80", &s, out, &err) < 0 &&
           mgmt_net_forward_parse("tcp:8080:10.77.0.15:80", &s, out, &err) < 0 &&
           mgmt_net_forward_parse("tcp:host:8080-10.77.0.15:80", &s, out, &err) < 0,
       "malformed forwards refused: %s", err.msg);
}

static void test_kinds(void)
{
    MgmtNetwork net;
    char msg[512];
    ok(parse("{\"name\": \"lan\"}", &net, msg, sizeof(msg)) == 0 && net.kind == MGMT_NET_NAT &&
           net.nat && !net.subnet.prefix,
       "nat by default, its subnet left to pick");
    ok(parse("{\"name\": \"lan\", \"kind\": \"nat\", \"subnet\": \"10.77.0.0/24\", \"forwards\": "
             "[\"8080-10.77.0.15:80\"], \"description\": \"d\"}",
             &net, msg, sizeof(msg)) == 0 &&
           net.nforwards == 1 && strcmp(net.forwards[0], "tcp:0.0.0.0:8080-10.77.0.15:80") == 0 &&
           strcmp(net.description, "d") == 0,
       "nat with a subnet and a forward: %s", msg);
    ok(parse("{\"name\": \"v\", \"kind\": \"vxlan\", \"vxlan\": {\"vni\": 42, \"peers\": "
             "[\"192.0.2.2\", \"192.0.2.3:4790\"]}}",
             &net, msg, sizeof(msg)) == 0 &&
           net.vni == 42 && net.vxlan_port == 4789 && strcmp(net.local, "0.0.0.0") == 0 &&
           net.npeers == 2 && !net.nat,
       "vxlan with its defaults: %s", msg);
    ok(parse("{\"name\": \"v\", \"kind\": \"vxlan\", \"nat\": {}, \"subnet\": \"10.5.0.0/24\", "
             "\"vxlan\": {\"vni\": 7, \"port\": 8472, \"local\": \"192.0.2.1\"}}",
             &net, msg, sizeof(msg)) == 0 &&
           net.nat && net.vxlan_port == 8472 && net.subnet.prefix == 24,
       "vxlan with NAT too: %s", msg);
    ok(parse("{\"name\": \"b\", \"kind\": \"bridged\", \"bridge\": \"br0\"}", &net, msg,
             sizeof(msg)) == 0 &&
           strcmp(net.bridge, "br0") == 0 && !net.nat,
       "bridged");
    ok(parse("{\"name\": \"i\", \"kind\": \"internal\", \"subnet\": \"192.168.50.0/24\"}", &net,
             msg, sizeof(msg)) == 0 &&
           net.subnet.prefix == 24 && !net.nat,
       "internal with a subnet");
    ok(parse("{\"name\": \"x\", \"kind\": \"isolated\"}", &net, msg, sizeof(msg)) == 0 && !net.nat,
       "isolated");
    /* the shape: 400 */
    refused("[]", -EPROTO, "object");
    refused("{\"kind\": \"nat\"}", -EPROTO, "name: missing");
    refused("{\"name\": \"a/b\"}", -EPROTO, "name:");
    refused("{\"name\": \"lan\", \"colour\": 1}", -EPROTO, "colour: unknown member");
    refused("{\"name\": \"lan\", \"kind\": 3}", -EPROTO, "kind: not a string");
    refused("{\"name\": \"lan\", \"forwards\": \"x\"}", -EPROTO, "forwards: not an array");
    refused("{\"name\": \"lan\", \"created\": \"x\"}", -EPROTO, "created: read-only");
    refused("{\"name\": \"v\", \"kind\": \"vxlan\", \"vxlan\": {\"vni\": \"1\"}}", -EPROTO,
            "vxlan.vni: not an integer");
    refused("{\"name\": \"v\", \"kind\": \"vxlan\", \"vxlan\": {\"vni\": 1, \"ttl\": 3}}", -EPROTO,
            "vxlan.ttl: unknown member");
    /* values: 422 */
    refused("{\"name\": \"lan\", \"kind\": \"hub\"}", -EINVAL, "kind: 'hub'");
    refused("{\"name\": \"lan\", \"subnet\": \"10.77.0.0/30\"}", -EINVAL, "subnet:");
    refused("{\"name\": \"lan\", \"forwards\": [\"8080-10.77.0.15:80\"]}", -EINVAL,
            "give the subnet too");
    refused(
        "{\"name\": \"lan\", \"subnet\": \"10.77.0.0/24\", \"forwards\": [\"8080-10.9.0.15:80\"]}",
        -EINVAL, "forwards[0]:");
    refused("{\"name\": \"lan\", \"nat\": {\"mode\": \"x\"}}", -EINVAL, "nat.mode");
    refused("{\"name\": \"x\", \"kind\": \"isolated\", \"subnet\": \"10.77.0.0/24\"}", -EINVAL,
            "subnet: an isolated network has none");
    refused("{\"name\": \"x\", \"kind\": \"isolated\", \"nat\": {}}", -EINVAL, "nat:");
    refused("{\"name\": \"x\", \"kind\": \"bridged\", \"bridge\": \"br0\", \"forwards\": []}",
            -EINVAL, "forwards:");
    refused("{\"name\": \"x\", \"kind\": \"bridged\"}", -EINVAL, "bridge: missing");
    refused("{\"name\": \"x\", \"kind\": \"bridged\", \"bridge\": \"a-very-long-bridge0\"}",
            -EINVAL, "bridge:");
    refused("{\"name\": \"x\", \"kind\": \"nat\", \"bridge\": \"br0\"}", -EINVAL,
            "bridge: a nat network has none");
    refused("{\"name\": \"v\", \"kind\": \"vxlan\"}", -EINVAL, "vxlan: missing");
    refused("{\"name\": \"v\", \"kind\": \"vxlan\", \"vxlan\": {}}", -EINVAL, "vxlan.vni: missing");
    refused("{\"name\": \"v\", \"kind\": \"vxlan\", \"vxlan\": {\"vni\": 16777216}}", -EINVAL,
            "vxlan.vni");
    refused("{\"name\": \"v\", \"kind\": \"vxlan\", \"subnet\": \"10.5.0.0/24\", \"vxlan\": "
            "{\"vni\": 1}}",
            -EINVAL, "without nat");
    refused("{\"name\": \"v\", \"kind\": \"vxlan\", \"vxlan\": {\"vni\": 1, \"peers\": "
            "[\"192.0.2.1:0\"]}}",
            -EINVAL, "vxlan.peers[0]");
    refused("{\"name\": \"v\", \"kind\": \"vxlan\", \"vxlan\": {\"vni\": 1, \"peers\": "
            "[\"192.0.2.1\", \"192.0.2.1\"]}}",
            -EINVAL, "twice");
    refused("{\"name\": \"v\", \"kind\": \"vxlan\", \"vxlan\": {\"vni\": 1, \"local\": \"any\"}}",
            -EINVAL, "vxlan.local");
    refused("{\"name\": \"n\", \"kind\": \"nat\", \"vxlan\": {\"vni\": 1}}", -EINVAL, "vxlan:");
}

/* nat.mode "host" and dhcp: the members, their defaults, the forwards, the switch's uplink. */
static void test_host_mode(void)
{
    MgmtNetwork net;
    char msg[512], out[MGMT_NET_FORWARD_TEXT];
    MgmtSubnet s;
    Error err = {0};
    ok(parse("{\"name\": \"lan\", \"nat\": {\"mode\": \"host\"}, \"subnet\": \"10.77.0.0/24\", "
             "\"forwards\": [\"8080-10.77.0.2:80\"]}",
             &net, msg, sizeof(msg)) == 0 &&
           net.nat && net.nat_mode == MGMT_NAT_HOST && net.dhcp && mgmt_network_host_nat(&net) &&
           mgmt_network_host_tap(&net) && mgmt_network_needs_root(&net),
       "host mode: dhcp by default, root, a host tap; .2 is a VM's there: %s", msg);
    json_t *j = mgmt_network_to_json(&net, true);
    ok(j &&
           strcmp(json_string_value(json_object_get(json_object_get(j, "nat"), "mode")), "host") ==
               0 &&
           json_is_true(json_object_get(j, "dhcp")),
       "the document says host and dhcp");
    MgmtNetwork back;
    Error e = {0};
    ok(j && mgmt_network_from_json(j, true, &back, &e) == 0 && back.nat_mode == MGMT_NAT_HOST &&
           back.dhcp && back.nforwards == 1,
       "and reads back: %s", e.msg);
    json_decref(j);
    json_t *c = mgmt_network_switch_config(&net, "hn-lan");
    char *text = json_dumps(c, JSON_COMPACT | JSON_SORT_KEYS);
    ok(text && strcmp(text, "{\"name\":\"lan\",\"uplinks\":[{\"ifname\":\"hn-lan\",\"kind\":"
                            "\"tap\",\"name\":\"nat\"}]}") == 0,
       "host mode: a tap uplink, no slirp: %s", text);
    free(text);
    json_decref(c);
    ok(parse("{\"name\": \"v\", \"kind\": \"vxlan\", \"nat\": {\"mode\": \"host\"}, \"subnet\": "
             "\"10.5.0.0/24\", \"vxlan\": {\"vni\": 7}}",
             &net, msg, sizeof(msg)) == 0 &&
           net.dhcp && mgmt_network_host_tap(&net),
       "vxlan with a host NAT: %s", msg);
    c = mgmt_network_switch_config(&net, "hn-v");
    text = json_dumps(c, JSON_COMPACT | JSON_SORT_KEYS);
    ok(text && strstr(text, "\"kind\":\"vxlan\"") &&
           strstr(text, "{\"ifname\":\"hn-v\",\"kind\":\"tap\",\"name\":\"nat\"}") &&
           !strstr(text, "slirp"),
       "its switch: the VXLAN uplink and the host tap: %s", text);
    free(text);
    json_decref(c);
    ok(parse("{\"name\": \"lan\", \"nat\": {\"mode\": \"host\"}, \"dhcp\": false}", &net, msg,
             sizeof(msg)) == 0 &&
           !net.dhcp,
       "host mode without dnsmasq");
    ok(parse("{\"name\": \"i\", \"kind\": \"internal\"}", &net, msg, sizeof(msg)) == 0 &&
           !net.dhcp && mgmt_network_host_tap(&net) && !mgmt_network_host_nat(&net),
       "internal: no dhcp unless asked");
    ok(parse("{\"name\": \"i\", \"kind\": \"internal\", \"dhcp\": true}", &net, msg, sizeof(msg)) ==
               0 &&
           net.dhcp,
       "internal with dhcp");
    ok(parse("{\"name\": \"lan\"}", &net, msg, sizeof(msg)) == 0 && !net.dhcp &&
           !mgmt_network_needs_root(&net) && !mgmt_network_host_tap(&net),
       "user mode: no dnsmasq, no root");
    refused("{\"name\": \"lan\", \"dhcp\": true}", -EINVAL, "dhcp: only internal");
    refused("{\"name\": \"x\", \"kind\": \"isolated\", \"dhcp\": true}", -EINVAL, "dhcp:");
    refused("{\"name\": \"i\", \"kind\": \"internal\", \"dhcp\": 1}", -EPROTO,
            "dhcp: not a boolean");
    refused("{\"name\": \"lan\", \"nat\": {\"mode\": \"host\"}, \"subnet\": \"10.77.0.0/24\", "
            "\"forwards\": [\"8080-10.77.0.1:80\"]}",
            -EINVAL, ".1 is the host's");
    refused("{\"name\": \"lan\", \"nat\": {\"mode\": \"host\"}, \"subnet\": \"10.77.0.0/24\", "
            "\"forwards\": [\"127.0.0.1:8080-10.77.0.5:80\"]}",
            -EINVAL, "loopback");
    mgmt_subnet_parse("10.77.0.0/24", &s, NULL);
    ok(mgmt_net_forward_parse_mode("udp:192.0.2.1:53-10.77.0.3:53", &s, MGMT_NAT_HOST, out, &err) ==
               0 &&
           strcmp(out, "udp:192.0.2.1:53-10.77.0.3:53") == 0,
       "host mode: a host address, .3 a VM's: %s", out);
    MgmtForward f;
    ok(mgmt_net_forward_split(out, &f) == 0 && strcmp(f.proto, "udp") == 0 &&
           f.host_addr == 0xc0000201u && f.host_port == 53 && f.vm_addr == 0x0a4d0003u &&
           f.vm_port == 53,
       "a forward split");
    ok(mgmt_net_forward_split("tcp:0.0.0.0:8080-10.77.0.5:80", &f) == 0 && f.host_addr == 0,
       "every address is 0");
    ok(mgmt_net_forward_split("sctp:1.2.3.4:1-1.2.3.4:2", &f) < 0 &&
           mgmt_net_forward_split("tcp:1.2.3.4:1", &f) < 0 &&
           mgmt_net_forward_split("tcp:1.2.3.4:0-1.2.3.5:1", &f) < 0,
       "not normal forms: refused");
}

static void test_ifnames(void)
{
    char a[MGMT_NET_IFNAME_MAX], b[MGMT_NET_IFNAME_MAX];
    mgmt_net_ifname("hn", "lan", "", a);
    ok(strcmp(a, "hn-lan") == 0, "a short name as is: %s", a);
    mgmt_net_ifname("hb", "a-long-vm-name", "-0", a);
    mgmt_net_ifname("hb", "a-long-vm-name2", "-0", b);
    ok(strlen(a) <= 15 && strlen(b) <= 15 && strcmp(a, b) != 0 && strncmp(a, "hb", 2) == 0,
       "long names hashed, distinct: %s %s", a, b);
    ok(a[2] != '-' && strcmp(a + strlen(a) - 2, "-0") == 0, "the hashed form keeps the suffix");
}

static void test_switch_config(void)
{
    MgmtNetwork net;
    char msg[512];
    parse("{\"name\": \"lan\", \"subnet\": \"10.77.0.0/24\", \"forwards\": [\"tcp:127.0.0.1:8080-"
          "10.77.0.15:80\"]}",
          &net, msg, sizeof(msg));
    json_t *c = mgmt_network_switch_config(&net, NULL);
    char *text = json_dumps(c, JSON_COMPACT | JSON_SORT_KEYS);
    ok(text && strcmp(text, "{\"name\":\"lan\",\"uplinks\":[{\"hostfwd\":[\"tcp:127.0.0.1:8080-"
                            "10.77.0.15:80\"],\"kind\":\"slirp\",\"name\":\"nat\",\"subnet\":"
                            "\"10.77.0.0/24\"}]}") == 0,
       "nat: one slirp uplink: %s", text);
    free(text);
    json_decref(c);
    parse("{\"name\": \"v\", \"kind\": \"vxlan\", \"vxlan\": {\"vni\": 42, \"peers\": "
          "[\"192.0.2.2\"]}}",
          &net, msg, sizeof(msg));
    c = mgmt_network_switch_config(&net, NULL);
    text = json_dumps(c, JSON_COMPACT | JSON_SORT_KEYS);
    ok(text && strstr(text, "\"kind\":\"vxlan\"") && strstr(text, "\"vni\":42") &&
           strstr(text, "\"port\":4789") && !strstr(text, "slirp"),
       "vxlan: %s", text);
    free(text);
    json_decref(c);
    parse("{\"name\": \"i\", \"kind\": \"internal\", \"subnet\": \"10.6.0.0/24\"}", &net, msg,
          sizeof(msg));
    c = mgmt_network_switch_config(&net, "hn-i");
    text = json_dumps(c, JSON_COMPACT | JSON_SORT_KEYS);
    ok(text && strstr(text, "{\"ifname\":\"hn-i\",\"kind\":\"tap\",\"name\":\"host\"}"),
       "internal: a tap uplink: %s", text);
    free(text);
    json_decref(c);
    parse("{\"name\": \"x\", \"kind\": \"isolated\"}", &net, msg, sizeof(msg));
    c = mgmt_network_switch_config(&net, NULL);
    ok(c && json_array_size(json_object_get(c, "uplinks")) == 0, "isolated: no uplink");
    json_decref(c);
}

static void write_text(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    if (f) {
        fputs(text, f);
        fclose(f);
    }
}

static void test_store(void)
{
    char state[300], path[400];
    snprintf(state, sizeof(state), "%s/state", root);
    mkdir(state, 0700);
    MgmtNetworks *n;
    Error err = {0};
    MgmtNetwork a, b;
    char msg[512];
    ok(mgmt_networks_open(&n, state, &err) == 0 && mgmt_networks_count(n) == 0, "an empty store");
    parse("{\"name\": \"lan\"}", &a, msg, sizeof(msg));
    ok(mgmt_networks_complete(n, &a, NULL, 0, &err) == 0 && a.subnet.prefix == 24 && a.created[0],
       "defaults filled: a subnet, the creation time");
    ok(mgmt_networks_put(n, &a, true, &err) == 0 && mgmt_networks_find(n, "lan"), "stored");
    ok(mgmt_networks_put(n, &a, true, &err) == -EEXIST && strstr(err.msg, "exists"),
       "a second create of the name: %s", err.msg);
    /* a clash with lan's subnet */
    char text[200], s[40];
    mgmt_subnet_format(&a.subnet, s, sizeof(s));
    snprintf(text, sizeof(text), "{\"name\": \"wan\", \"subnet\": \"%s\"}", s);
    parse(text, &b, msg, sizeof(msg));
    ok(mgmt_networks_complete(n, &b, NULL, 0, &err) == -EBUSY && strstr(err.msg, "'lan'"),
       "an overlapping subnet: %s", err.msg);
    parse("{\"name\": \"wan\"}", &b, msg, sizeof(msg));
    ok(mgmt_networks_complete(n, &b, NULL, 0, &err) == 0 &&
           !mgmt_subnet_overlap(&a.subnet, &b.subnet),
       "the default subnet avoids lan's");
    MgmtSubnet extra = b.subnet;
    MgmtNetwork c;
    parse("{\"name\": \"wan\"}", &c, msg, sizeof(msg));
    ok(mgmt_networks_complete(n, &c, &extra, 1, &err) == 0 &&
           !mgmt_subnet_overlap(&c.subnet, &extra),
       "and the extra subnets given (the host's)");
    b.nforwards = 1;
    char vm[MGMT_NET_ADDR_TEXT];
    mgmt_subnet_host(&b.subnet, 15, vm, sizeof(vm));
    snprintf(b.forwards[0], sizeof(b.forwards[0]), "tcp:0.0.0.0:8080-%s:80", vm);
    mgmt_networks_put(n, &b, true, &err);
    MgmtNetwork d;
    parse("{\"name\": \"dmz\", \"subnet\": \"172.16.0.0/24\", \"forwards\": "
          "[\"tcp:127.0.0.1:8080-172.16.0.15:80\"]}",
          &d, msg, sizeof(msg));
    ok(mgmt_networks_complete(n, &d, NULL, 0, &err) == -EBUSY && strstr(err.msg, "'wan'"),
       "a host port another network forwards: %s", err.msg);
    parse("{\"name\": \"dmz\", \"subnet\": \"172.16.0.0/24\", \"forwards\": "
          "[\"tcp:8081-172.16.0.15:80\", \"tcp:127.0.0.1:8081-172.16.0.16:80\"]}",
          &d, msg, sizeof(msg));
    ok(mgmt_networks_conflict(n, &d, &err) == -EBUSY && strstr(err.msg, "same host port"),
       "one host port forwarded twice: %s", err.msg);
    parse("{\"name\": \"v1\", \"kind\": \"vxlan\", \"vxlan\": {\"vni\": 1}}", &d, msg, sizeof(msg));
    mgmt_networks_put(n, &d, true, &err);
    parse("{\"name\": \"v2\", \"kind\": \"vxlan\", \"vxlan\": {\"vni\": 2}}", &d, msg, sizeof(msg));
    ok(mgmt_networks_conflict(n, &d, &err) == -EBUSY && strstr(err.msg, "UDP port 4789"),
       "two vxlan networks on one UDP port: %s", err.msg);
    mgmt_networks_close(n);
    /* read back; a broken document skipped and its name kept */
    snprintf(path, sizeof(path), "%s/networks/bad.json", state);
    write_text(path, "{\"version\": 1, \"name\": \"bad\", \"kind\": \"hub\"}");
    snprintf(path, sizeof(path), "%s/networks/.lan.json.tmp-123456", state);
    write_text(path, "{");
    ok(mgmt_networks_open(&n, state, &err) == 0 && mgmt_networks_count(n) == 3,
       "reopened: lan, v1, wan (bad skipped)");
    const MgmtNetwork *l = mgmt_networks_find(n, "lan");
    ok(l && l->subnet.addr == a.subnet.addr && strcmp(l->created, a.created) == 0,
       "lan as it was written");
    ok(access(path, F_OK) < 0, "a stray temporary file removed");
    parse("{\"name\": \"bad\"}", &d, msg, sizeof(msg));
    ok(mgmt_networks_put(n, &d, true, &err) == -EEXIST && strstr(err.msg, "broken"),
       "a broken document's name stays taken: %s", err.msg);
    ok(mgmt_networks_remove(n, "wan", &err) == 0 && !mgmt_networks_find(n, "wan") &&
           mgmt_networks_remove(n, "wan", &err) == -ENOENT,
       "removed, then no such network");
    snprintf(path, sizeof(path), "%s/networks/wan.json", state);
    ok(access(path, F_OK) < 0, "its document is gone");
    mgmt_networks_close(n);
}

int main(void)
{
    snprintf(root, sizeof(root), "/tmp/hostel-netdef-XXXXXX");
    if (!mkdtemp(root)) {
        printf("Bail out! mkdtemp\n");
        return 1;
    }
    test_names();
    test_subnets();
    test_pick();
    test_forwards();
    test_kinds();
    test_host_mode();
    test_ifnames();
    test_switch_config();
    test_store();
    char cmd[300];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", root);
    if (system(cmd) != 0)
        printf("# could not remove %s\n", root);
    return tap_done();
}
