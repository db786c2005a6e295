/*
 * `hostel network VERB`: a thin client of hosteld's networks (docs/cli.md,
 * docs/api.md "Networks", /1.0/networks) over its socket (mgmt_client.c),
 * in the manner of cmd_volume.c: a table or a line for a person, the
 * API's JSON with --json, an error from the daemon as its one-line
 * message with exit status 1.
 */
#include <curl/curl.h>
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "mgmt_client.h"
#include "util/compiler.h"

#define FORWARDS_MAX 16
#define PEERS_MAX 32

enum {
    OPT_SOCKET = 256,
    OPT_JSON,
    OPT_KIND,
    OPT_SUBNET,
    OPT_FORWARD,
    OPT_VNI,
    OPT_PEER,
    OPT_VXLAN_PORT,
    OPT_LOCAL,
    OPT_NAT,
    OPT_NAT_MODE,
    OPT_DHCP,
    OPT_NO_DHCP,
    OPT_BRIDGE,
    OPT_DESCRIPTION,
};

/* What a verb was given. */
typedef struct NetArgs {
    const char *socket;
    bool json;
    const char *kind, *subnet, *vni, *vxlan_port, *local, *bridge, *description, *nat_mode;
    bool nat;
    int dhcp; /* -1: not given */
    const char *forwards[FORWARDS_MAX], *peers[PEERS_MAX];
    unsigned nforwards, npeers;
    char **operands;
    int noperands;
} NetArgs;

typedef struct NetVerb {
    const char *name;
    int (*run)(const NetArgs *a);
    const char *operands;
    int min, max;
    bool create_options; /* takes --kind, --subnet... */
} NetVerb;

static void network_help(FILE *out)
{
    fprintf(out,
            "usage: hostel network VERB [options] ...\n"
            "\n"
            "hosteld's virtual networks (docs/mgmt.md, docs/net.md): a switch per network\n"
            "that VMs' cards join with --net network,name=NET[,vlan=V] ('hostel create').\n"
            "\n"
            "verbs:\n"
            "  create NAME [--kind KIND] [options]\n"
            "                        define a network and start it\n"
            "  list                  the networks: name, kind, subnet, state, VM ports\n"
            "  info NAME             one network: its definition, state, ports (VM, card,\n"
            "                        VLAN, MAC, IPv4, link, counters) and learned addresses\n"
            "  delete NAME           stop and delete it (refused while VMs use it)\n"
            "\n"
            "kinds:\n"
            "  nat (default)         DHCP, DNS and NAT to the outside (no root needed;\n"
            "                        with --nat-mode host: the host's own, as root)\n"
            "  isolated              the VMs only\n"
            "  internal              the VMs and the host (a tap with the subnet's .1; root)\n"
            "  vxlan                 an overlay to other hosts (VXLAN, RFC 7348)\n"
            "  bridged               each card a tap on a host bridge (root)\n"
            "\n"
            "create options:\n"
            "      --kind KIND       nat, isolated, internal, vxlan or bridged\n"
            "      --subnet A.B.C.D/P   nat, internal, vxlan with NAT (default: a free\n"
            "                        10.X.Y.0/24); user-mode NAT: gateway .2, DNS .3,\n"
            "                        DHCP from .15; host mode, internal: the host is .1\n"
            "      --forward [tcp|udp:][HOSTADDR:]HOSTPORT-VMADDR:PORT\n"
            "                        forward a host port to a VM (repeatable; needs NAT)\n"
            "      --vni N           vxlan: the VXLAN network identifier (1 to 16777215)\n"
            "      --peer ADDR[:PORT]   vxlan: another host of the network (repeatable)\n"
            "      --vxlan-port P    vxlan: the UDP port (default 4789)\n"
            "      --local ADDR      vxlan: the local address (default 0.0.0.0)\n"
            "      --nat             vxlan: a NAT uplink too (implied by --subnet, --forward)\n"
            "      --nat-mode MODE   user (default): libslirp in the switch, no root;\n"
            "                        host: a host tap hn-NAME with the subnet's .1 as the\n"
            "                        gateway, dnsmasq for DHCP (.2 on) and DNS, nftables\n"
            "                        masquerade and forwards (table hostel-NAME), and\n"
            "                        net.ipv4.ip_forward=1 (root)\n"
            "      --dhcp, --no-dhcp internal: run dnsmasq on the host tap (default off);\n"
            "                        nat in host mode: the same (default on)\n"
            "      --bridge BR       bridged: the host bridge (made when missing)\n"
            "      --description TEXT\n"
            "\n"
            "options:\n"
            "      --socket PATH     hosteld's socket (default $HOSTEL_SOCKET, else\n"
            "                        /run/hostel/hosteld.sock as root,\n"
            "                        $XDG_RUNTIME_DIR/hostel/hosteld.sock otherwise)\n"
            "      --json            print the API's JSON instead of text\n"
            "  -h, --help            show this help and exit\n");
}

/* ---- calling the daemon ---- */

static json_t *call(const NetArgs *a, const char *method, const char *path, json_t *body)
{
    return mgmt_client_json(a->socket, method, path, body);
}

static int finish(const NetArgs *a, json_t *reply)
{
    if (!reply)
        return CLI_EXIT_FAIL;
    if (a->json)
        mgmt_client_print_json(reply);
    json_decref(reply);
    return 0;
}

/* "/1.0/networks/NAME" (escaped) into buf. */
static void network_path(char *buf, size_t size, const char *name)
{
    char *esc = curl_easy_escape(NULL, name, 0);
    snprintf(buf, size, "/1.0/networks/%s", esc ? esc : "");
    curl_free(esc);
}

static const char *str_of(const json_t *o, const char *key, const char *none)
{
    const char *s = json_string_value(json_object_get(o, key));
    return s && *s ? s : none;
}

static json_int_t int_of(const json_t *o, const char *key)
{
    return json_integer_value(json_object_get(o, key));
}

/* ---- create ---- */

/* A decimal integer filling s; false after a usage line. */
static bool parse_int(const char *opt, const char *s, json_int_t *out)
{
    char *end;
    long long v = strtoll(s, &end, 10);
    if (!*s || *end) {
        cli_usage("network", "%s '%s': not a number", opt, s);
        return false;
    }
    *out = v;
    return true;
}

/* The vxlan member of the body, from --vni, --peer, --vxlan-port, --local; NULL after a usage line. */
static json_t *vxlan_member(const NetArgs *a)
{
    json_int_t vni = 0, port = 0;
    if (a->vni && !parse_int("--vni", a->vni, &vni))
        return NULL;
    if (a->vxlan_port && !parse_int("--vxlan-port", a->vxlan_port, &port))
        return NULL;
    json_t *x = json_object();
    if (a->vni)
        json_object_set_new(x, "vni", json_integer(vni));
    if (a->vxlan_port)
        json_object_set_new(x, "port", json_integer(port));
    if (a->local)
        json_object_set_new(x, "local", json_string(a->local));
    if (a->npeers) {
        json_t *peers = json_array();
        for (unsigned i = 0; i < a->npeers; i++)
            json_array_append_new(peers, json_string(a->peers[i]));
        json_object_set_new(x, "peers", peers);
    }
    return x;
}

/* The create's body from the options (the daemon checks the values); NULL after a usage line. */
static json_t *create_body(const NetArgs *a)
{
    const char *kind = a->kind ? a->kind : "nat";
    bool vxlan = strcmp(kind, "vxlan") == 0;
    json_t *b = json_pack("{s:s, s:s}", "name", a->operands[0], "kind", kind);
    if (a->description)
        json_object_set_new(b, "description", json_string(a->description));
    if (a->subnet)
        json_object_set_new(b, "subnet", json_string(a->subnet));
    if (a->nforwards) {
        json_t *f = json_array();
        for (unsigned i = 0; i < a->nforwards; i++)
            json_array_append_new(f, json_string(a->forwards[i]));
        json_object_set_new(b, "forwards", f);
    }
    if (a->nat || a->nat_mode ||
        (vxlan && (a->subnet || a->nforwards))) /* the daemon says if the kind has it */
        json_object_set_new(b, "nat",
                            a->nat_mode ? json_pack("{s:s}", "mode", a->nat_mode) : json_object());
    if (a->dhcp >= 0)
        json_object_set_new(b, "dhcp", json_boolean(a->dhcp));
    if (vxlan || a->vni || a->npeers || a->vxlan_port || a->local) {
        json_t *x = vxlan_member(a);
        if (!x) {
            json_decref(b);
            return NULL;
        }
        json_object_set_new(b, "vxlan", x);
    }
    if (a->bridge)
        json_object_set_new(b, "bridge", json_string(a->bridge));
    return b;
}

static int net_create(const NetArgs *a)
{
    json_t *body = create_body(a);
    if (!body)
        return CLI_EXIT_USAGE;
    json_t *r = call(a, "POST", "/1.0/networks", body);
    json_decref(body);
    if (r && !a->json) {
        const char *subnet = str_of(r, "subnet", NULL);
        printf("created network %s (%s%s%s), %s\n", str_of(r, "name", "?"), str_of(r, "kind", "?"),
               subnet ? ", " : "", subnet ? subnet : "", str_of(r, "state", "?"));
    }
    return finish(a, r);
}

/* ---- list, info ---- */

static int net_list(const NetArgs *a)
{
    json_t *r = call(a, "GET", "/1.0/networks", NULL);
    if (r && !a->json) {
        size_t i;
        json_t *n;
        printf("%-20s %-9s %-18s %-8s %s\n", "NAME", "KIND", "SUBNET", "STATE", "PORTS");
        json_array_foreach(json_object_get(r, "networks"), i, n)
        {
            printf("%-20s %-9s %-18s %-8s %" JSON_INTEGER_FORMAT "\n", str_of(n, "name", "?"),
                   str_of(n, "kind", "?"), str_of(n, "subnet", "-"), str_of(n, "state", "?"),
                   int_of(n, "port_count"));
        }
    }
    return finish(a, r);
}

/* "10", "trunk 10,20 (native 1)" or "-" for a port's VLANs into buf. */
static void port_vlans(const json_t *p, char *buf, size_t size)
{
    const json_t *allowed = json_object_get(p, "allowed");
    if (strcmp(str_of(p, "mode", ""), "trunk") != 0) {
        json_int_t v = int_of(p, "vlan");
        if (v)
            snprintf(buf, size, "%" JSON_INTEGER_FORMAT, v);
        else
            snprintf(buf, size, "-");
        return;
    }
    size_t i, n = (size_t)snprintf(buf, size, "trunk ");
    json_t *v;
    json_array_foreach(allowed, i, v)
    {
        if (n < size)
            n += (size_t)snprintf(buf + n, size - n, "%s%" JSON_INTEGER_FORMAT, i ? "," : "",
                                  json_integer_value(v));
    }
    if (int_of(p, "native") && n < size)
        snprintf(buf + n, size - n, " native %" JSON_INTEGER_FORMAT, int_of(p, "native"));
}

/* The sum of a port's drop counters. */
static json_int_t port_drops(const json_t *stats)
{
    const char *key;
    json_t *v;
    json_int_t n = 0;
    json_object_foreach((json_t *)stats, key, v)
    {
        if (strncmp(key, "drop-", 5) == 0)
            n += json_integer_value(v);
    }
    return n;
}

static void info_ports(const json_t *ports)
{
    size_t i;
    json_t *p;
    printf("%-16s %-12s %-4s %-12s %-17s %-15s %-4s %9s %11s %9s %11s %6s\n", "PORT", "VM", "CARD",
           "VLAN", "MAC", "IPV4", "LINK", "RX-FRAMES", "RX-BYTES", "TX-FRAMES", "TX-BYTES",
           "DROPS");
    json_array_foreach(ports, i, p)
    {
        const json_t *st = json_object_get(p, "stats"), *card = json_object_get(p, "card");
        char vlans[64], cardtext[16] = "-";
        port_vlans(p, vlans, sizeof(vlans));
        if (json_is_integer(card))
            snprintf(cardtext, sizeof(cardtext), "%" JSON_INTEGER_FORMAT, json_integer_value(card));
        printf("%-16s %-12s %-4s %-12s %-17s %-15s %-4s %9" JSON_INTEGER_FORMAT
               " %11" JSON_INTEGER_FORMAT " %9" JSON_INTEGER_FORMAT " %11" JSON_INTEGER_FORMAT
               " %6" JSON_INTEGER_FORMAT "\n",
               str_of(p, "name", "?"), str_of(p, "vm", str_of(p, "kind", "-")), cardtext, vlans,
               str_of(p, "mac", "-"), str_of(p, "ipv4", "-"), str_of(p, "link", "-"),
               int_of(st, "rx-frames"), int_of(st, "rx-bytes"), int_of(st, "tx-frames"),
               int_of(st, "tx-bytes"), port_drops(st));
    }
}

/* "a, b, c" of an array of strings, or "-", into buf. */
static void join(const json_t *arr, char *buf, size_t size)
{
    size_t i, n = 0;
    json_t *s;
    snprintf(buf, size, "-");
    json_array_foreach(arr, i, s)
    {
        if (n < size)
            n += (size_t)snprintf(buf + n, size - n, "%s%s", i ? ", " : "", json_string_value(s));
    }
}

/* A network with a host tap: its NAT mode, tap, dnsmasq; the leases. */
static void info_host(const json_t *n)
{
    const json_t *h = json_object_get(n, "host"), *d = json_object_get(h, "dnsmasq");
    const json_t *nat = json_object_get(n, "nat");
    if (nat)
        printf("nat:         %s mode\n", str_of(nat, "mode", "?"));
    if (!h)
        return;
    printf("host:        %s %s", str_of(h, "interface", "?"), str_of(h, "address", "?"));
    if (json_object_get(h, "nft_table"))
        printf(", nft table %s", str_of(h, "nft_table", "?"));
    printf("\n");
    if (d) {
        printf("dnsmasq:     %s", str_of(d, "status", "?"));
        if (json_is_integer(json_object_get(d, "pid")))
            printf(" (pid %" JSON_INTEGER_FORMAT ")", int_of(d, "pid"));
        if (json_object_get(d, "message"))
            printf(": %s", str_of(d, "message", ""));
        printf("\n");
    }
    size_t i;
    json_t *l;
    json_array_foreach(json_object_get(n, "leases"), i, l)
    {
        printf("%s %-17s %-15s %-20s %s\n",
               i ? "            " : "leases:     ", str_of(l, "mac", "?"), str_of(l, "ipv4", "?"),
               str_of(l, "hostname", "-"), str_of(l, "expires", "never"));
    }
}

static void info_print(const json_t *n)
{
    char text[1024];
    const json_t *x = json_object_get(n, "vxlan");
    printf("%s: %s, %s", str_of(n, "name", "?"), str_of(n, "kind", "?"), str_of(n, "state", "?"));
    if (json_is_integer(json_object_get(n, "pid")))
        printf(" (switch pid %" JSON_INTEGER_FORMAT ")", int_of(n, "pid"));
    printf("\n");
    if (json_object_get(n, "message"))
        printf("why:         %s\n", str_of(n, "message", ""));
    if (json_object_get(n, "subnet"))
        printf("subnet:      %s\n", str_of(n, "subnet", ""));
    if (json_object_get(n, "forwards")) {
        join(json_object_get(n, "forwards"), text, sizeof(text));
        printf("forwards:    %s%s\n", text,
               json_is_true(json_object_get(n, "pending"))
                   ? " (a change waits for the VMs to leave)"
                   : "");
    }
    if (x) {
        join(json_object_get(x, "peers"), text, sizeof(text));
        printf("vxlan:       vni %" JSON_INTEGER_FORMAT ", %s:%" JSON_INTEGER_FORMAT ", peers %s\n",
               int_of(x, "vni"), str_of(x, "local", "?"), int_of(x, "port"), text);
    }
    if (json_object_get(n, "bridge"))
        printf("bridge:      %s\n", str_of(n, "bridge", ""));
    info_host(n);
    join(json_object_get(n, "used_by"), text, sizeof(text));
    printf("used by:     %s\n", text);
    printf("created:     %s\n", str_of(n, "created", "?"));
    if (*str_of(n, "description", ""))
        printf("description: %s\n", str_of(n, "description", ""));
    printf("\n");
    info_ports(json_object_get(n, "ports"));
    size_t i;
    json_t *f;
    if (json_array_size(json_object_get(n, "fdb")))
        printf("\n%-17s %-5s %-16s %s\n", "ADDRESS", "VLAN", "PORT", "AGE");
    json_array_foreach(json_object_get(n, "fdb"), i, f)
    {
        printf("%-17s %-5" JSON_INTEGER_FORMAT " %-16s %.0f s\n", str_of(f, "mac", "?"),
               int_of(f, "vlan"), str_of(f, "port", "?"),
               json_number_value(json_object_get(f, "age")));
    }
}

static int net_info(const NetArgs *a)
{
    char path[256];
    network_path(path, sizeof(path), a->operands[0]);
    json_t *r = call(a, "GET", path, NULL);
    if (r && !a->json)
        info_print(r);
    return finish(a, r);
}

static int net_delete(const NetArgs *a)
{
    char path[256];
    network_path(path, sizeof(path), a->operands[0]);
    json_t *r = call(a, "DELETE", path, NULL);
    if (r && !a->json)
        printf("deleted network %s\n", a->operands[0]);
    return finish(a, r);
}

/* ---- parsing ---- */

static const NetVerb verbs[] = {
    {.name = "create",
     .run = net_create,
     .operands = "NAME [--kind KIND] [options]",
     .min = 1,
     .max = 1,
     .create_options = true},
    {.name = "list", .run = net_list, .operands = "", .min = 0, .max = 0},
    {.name = "info", .run = net_info, .operands = "NAME", .min = 1, .max = 1},
    {.name = "delete", .run = net_delete, .operands = "NAME", .min = 1, .max = 1},
};

/* A repeated option's value into list (at most max); CLI_EXIT_USAGE past it. */
static int take_repeat(const char *opt, const char **list, unsigned *n, unsigned max)
{
    if (*n == max)
        return cli_usage("network", "%s: at most %u", opt, max);
    list[(*n)++] = optarg;
    return 0;
}

static int take_option(const NetVerb *v, NetArgs *a, int c, char **argv)
{
    if (c == OPT_SOCKET)
        a->socket = optarg;
    else if (c == OPT_JSON)
        a->json = true;
    else if (!v->create_options)
        return cli_usage("network", "%s: unknown option '%s'", v->name, argv[optind - 1]);
    switch (c) {
    case OPT_KIND: a->kind = optarg; break;
    case OPT_SUBNET: a->subnet = optarg; break;
    case OPT_FORWARD: return take_repeat("--forward", a->forwards, &a->nforwards, FORWARDS_MAX);
    case OPT_VNI: a->vni = optarg; break;
    case OPT_PEER: return take_repeat("--peer", a->peers, &a->npeers, PEERS_MAX);
    case OPT_VXLAN_PORT: a->vxlan_port = optarg; break;
    case OPT_LOCAL: a->local = optarg; break;
    case OPT_NAT: a->nat = true; break;
    case OPT_NAT_MODE: a->nat_mode = optarg; break;
    case OPT_DHCP: a->dhcp = 1; break;
    case OPT_NO_DHCP: a->dhcp = 0; break;
    case OPT_BRIDGE: a->bridge = optarg; break;
    case OPT_DESCRIPTION: a->description = optarg; break;
    }
    return 0;
}

static int run_verb(const NetVerb *v, int argc, char **argv)
{
    static const struct option longopts[] = {
        {"socket", required_argument, NULL, OPT_SOCKET},
        {"json", no_argument, NULL, OPT_JSON},
        {"kind", required_argument, NULL, OPT_KIND},
        {"subnet", required_argument, NULL, OPT_SUBNET},
        {"forward", required_argument, NULL, OPT_FORWARD},
        {"vni", required_argument, NULL, OPT_VNI},
        {"peer", required_argument, NULL, OPT_PEER},
        {"vxlan-port", required_argument, NULL, OPT_VXLAN_PORT},
        {"local", required_argument, NULL, OPT_LOCAL},
        {"nat", no_argument, NULL, OPT_NAT},
        {"nat-mode", required_argument, NULL, OPT_NAT_MODE},
        {"dhcp", no_argument, NULL, OPT_DHCP},
        {"no-dhcp", no_argument, NULL, OPT_NO_DHCP},
        {"bridge", required_argument, NULL, OPT_BRIDGE},
        {"description", required_argument, NULL, OPT_DESCRIPTION},
        {"help", no_argument, NULL, 'h'},
        {0},
    };
    NetArgs a = {.dhcp = -1};
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, ":h", longopts, NULL)) != -1) {
        if (c == 'h') {
            network_help(stdout);
            return 0;
        }
        if (c == '?' || c == ':')
            return cli_usage("network", "%s: bad option '%s'", v->name, argv[optind - 1]);
        int r = take_option(v, &a, c, argv);
        if (r)
            return r;
    }
    a.operands = argv + optind;
    a.noperands = argc - optind;
    if (a.noperands < v->min || a.noperands > v->max)
        return cli_usage("network", "usage: hostel network %s %s", v->name, v->operands);
    return v->run(&a);
}

static int network_run(int argc, char **argv)
{
    if (argc < 2) {
        network_help(stderr);
        return CLI_EXIT_USAGE;
    }
    if (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0) {
        network_help(stdout);
        return 0;
    }
    for (size_t i = 0; i < ARRAY_SIZE(verbs); i++)
        if (strcmp(verbs[i].name, argv[1]) == 0)
            return run_verb(&verbs[i], argc - 1, argv + 1);
    return cli_usage("network", "unknown verb '%s'", argv[1]);
}

const Command cmd_network = {
    .name = "network",
    .run = network_run,
    .help = network_help,
    .summary = "create, list, show and delete virtual networks",
};
