/*
 * A host-mode NAT's nftables table (nft.h): the ruleset text, and the
 * `nft` tool that applies it.
 *
 * Why the tool rather than libnftables: libnftables takes the same text
 * (nft_run_cmd_from_buffer), so it would save only the spawn, and it
 * would make hosteld link it for a feature most hosts never use; the tool
 * is a run-time dependency only (package nftables), and its error line is
 * what a person would see running the batch by hand.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mgmt/hostcmd.h"
#include "mgmt/nft.h"

void mgmt_nft_table(const char *name, char *out, size_t size)
{
    snprintf(out, size, "hostel-%s", name);
}

/* A growing text. */
typedef struct Text {
    char *buf;
    size_t len, cap;
    bool oom;
} Text;

__attribute__((format(printf, 2, 3))) static void put(Text *t, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (t->oom || n < 0)
        return;
    if (t->len + (size_t)n + 1 > t->cap) {
        size_t cap = (t->len + (size_t)n + 1) * 2;
        char *b = realloc(t->buf, cap);
        if (!b) {
            t->oom = true;
            return;
        }
        t->buf = b;
        t->cap = cap;
    }
    va_start(ap, fmt);
    vsnprintf(t->buf + t->len, t->cap - t->len, fmt, ap);
    va_end(ap);
    t->len += (size_t)n;
}

static void ipv4_text(uint32_t a, char out[MGMT_NET_ADDR_TEXT])
{
    snprintf(out, MGMT_NET_ADDR_TEXT, "%u.%u.%u.%u", a >> 24, (a >> 16) & 0xff, (a >> 8) & 0xff,
             a & 0xff);
}

/*
 * The DNAT rules of the forwards in one nat chain: from is the match
 * before the address ("iifname != \"hn-lan\" " in prerouting, "" in
 * output, where 127.0.0.0/8 is left alone: it cannot be routed to a VM).
 */
static void forward_rules(Text *t, const MgmtNetwork *net, const char *from, bool output)
{
    for (unsigned i = 0; i < net->nforwards; i++) {
        MgmtForward f;
        char host[MGMT_NET_ADDR_TEXT], vm[MGMT_NET_ADDR_TEXT];
        if (mgmt_net_forward_split(net->forwards[i], &f) < 0)
            continue; /* not stored by network.c: cannot be */
        ipv4_text(f.host_addr, host);
        ipv4_text(f.vm_addr, vm);
        if (f.host_addr)
            put(t, "\t\t%sip daddr %s", from, host);
        else
            put(t, "\t\t%s%sfib daddr type local", from, output ? "ip daddr != 127.0.0.0/8 " : "");
        put(t, " %s dport %u dnat to %s:%u\n", f.proto, f.host_port, vm, f.vm_port);
    }
}

char *mgmt_nft_ruleset(const MgmtNetwork *net, const char *ifname)
{
    char table[MGMT_NET_NAME_MAX + 8], subnet[40], from[MGMT_NET_IFNAME_MAX + 16];
    Text t = {0};
    mgmt_nft_table(net->name, table, sizeof(table));
    mgmt_subnet_format(&net->subnet, subnet, sizeof(subnet));
    snprintf(from, sizeof(from), "iifname != \"%s\" ", ifname);
    put(&t, "table ip %s\ndelete table ip %s\ntable ip %s {\n", table, table, table);
    put(&t, "\tcomment \"hosteld network %s: NAT of %s behind %s\"\n", net->name, subnet, ifname);
    put(&t, "\tchain prerouting {\n\t\ttype nat hook prerouting priority dstnat; policy accept;\n");
    forward_rules(&t, net, from, false);
    put(&t, "\t}\n\tchain output {\n\t\ttype nat hook output priority -100; policy accept;\n");
    forward_rules(&t, net, "", true);
    put(&t, "\t}\n\tchain postrouting {\n\t\ttype nat hook postrouting priority srcnat; "
            "policy accept;\n");
    put(&t, "\t\tip saddr %s ip daddr != %s oifname != \"%s\" masquerade\n", subnet, subnet,
        ifname);
    put(&t, "\t}\n\tchain forward {\n\t\ttype filter hook forward priority filter; "
            "policy accept;\n");
    put(&t, "\t\tiifname \"%s\" ip saddr %s accept\n", ifname, subnet);
    put(&t, "\t\toifname \"%s\" ip daddr %s ct state established,related accept\n", ifname, subnet);
    put(&t, "\t\toifname \"%s\" ip daddr %s ct status dnat accept\n", ifname, subnet);
    put(&t, "\t\tiifname \"%s\" drop\n\t\toifname \"%s\" drop\n\t}\n}\n", ifname, ifname);
    if (t.oom) {
        free(t.buf);
        return NULL;
    }
    return t.buf;
}

int mgmt_nft_apply(const MgmtNetwork *net, const char *ifname, Error *err)
{
    static const char *const args[] = {"-f", "-", NULL};
    char *text = mgmt_nft_ruleset(net, ifname);
    if (!text)
        return error_set(err, "out of memory");
    int rc = hostcmd_run("nft", "nftables", args, text, NULL, 0, err);
    free(text);
    return rc;
}

int mgmt_nft_remove(const char *name, Error *err)
{
    static const char *const args[] = {"-f", "-", NULL};
    char table[MGMT_NET_NAME_MAX + 8], text[200];
    mgmt_nft_table(name, table, sizeof(table));
    snprintf(text, sizeof(text), "table ip %s\ndelete table ip %s\n", table, table);
    return hostcmd_run("nft", "nftables", args, text, NULL, 0, err);
}

bool mgmt_nft_exists(const char *name)
{
    char table[MGMT_NET_NAME_MAX + 8];
    mgmt_nft_table(name, table, sizeof(table));
    const char *args[] = {"list", "table", "ip", table, NULL};
    return hostcmd_run("nft", "nftables", args, NULL, NULL, 0, NULL) == 0;
}
