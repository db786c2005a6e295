/*
 * The host side of host-mode NAT and DHCP networks (src/mgmt/nft.c,
 * dnsmasq.c): the nftables ruleset text of a network (exact, and checked
 * by `nft -c` when the test runs as root with nft installed), dnsmasq's
 * command line, and the leases file parser (good lines taken, hostile or
 * broken ones ignored, the file's size and the count capped).
 */
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "mgmt/dnsmasq.h"
#include "mgmt/hostcmd.h"
#include "mgmt/netroot.h"
#include "mgmt/network.h"
#include "mgmt/nft.h"
#include "tap.h"

static void network(const char *text, MgmtNetwork *net)
{
    json_t *j = json_loads(text, 0, NULL);
    Error err = {0};
    if (!j || mgmt_network_from_json(j, false, net, &err) < 0)
        printf("Bail out! test network %s: %s\n", text, err.msg);
    json_decref(j);
}

static const char expected_ruleset[] =
    "table ip hostel-lan\n"
    "delete table ip hostel-lan\n"
    "table ip hostel-lan {\n"
    "\tcomment \"hosteld network lan: NAT of 10.77.0.0/24 behind hn-lan\"\n"
    "\tchain prerouting {\n"
    "\t\ttype nat hook prerouting priority dstnat; policy accept;\n"
    "\t\tiifname != \"hn-lan\" fib daddr type local tcp dport 8080 dnat to 10.77.0.15:80\n"
    "\t\tiifname != \"hn-lan\" ip daddr 192.0.2.1 udp dport 5353 dnat to 10.77.0.20:53\n"
    "\t}\n"
    "\tchain output {\n"
    "\t\ttype nat hook output priority -100; policy accept;\n"
    "\t\tip daddr != 127.0.0.0/8 fib daddr type local tcp dport 8080 dnat to 10.77.0.15:80\n"
    "\t\tip daddr 192.0.2.1 udp dport 5353 dnat to 10.77.0.20:53\n"
    "\t}\n"
    "\tchain postrouting {\n"
    "\t\ttype nat hook postrouting priority srcnat; policy accept;\n"
    "\t\tip saddr 10.77.0.0/24 ip daddr != 10.77.0.0/24 oifname != \"hn-lan\" masquerade\n"
    "\t}\n"
    "\tchain forward {\n"
    "\t\ttype filter hook forward priority filter; policy accept;\n"
    "\t\tiifname \"hn-lan\" ip saddr 10.77.0.0/24 accept\n"
    "\t\toifname \"hn-lan\" ip daddr 10.77.0.0/24 ct state established,related accept\n"
    "\t\toifname \"hn-lan\" ip daddr 10.77.0.0/24 ct status dnat accept\n"
    "\t\tiifname \"hn-lan\" drop\n"
    "\t\toifname \"hn-lan\" drop\n"
    "\t}\n"
    "}\n";

static void test_ruleset(void)
{
    MgmtNetwork net;
    char table[80];
    network("{\"name\": \"lan\", \"nat\": {\"mode\": \"host\"}, \"subnet\": \"10.77.0.0/24\", "
            "\"forwards\": [\"8080-10.77.0.15:80\", \"udp:192.0.2.1:5353-10.77.0.20:53\"]}",
            &net);
    char *text = mgmt_nft_ruleset(&net, "hn-lan");
    ok(text && strcmp(text, expected_ruleset) == 0, "the ruleset of a network with two forwards");
    if (text && strcmp(text, expected_ruleset) != 0)
        printf("# got:\n%s", text);
    mgmt_nft_table("a.b_c-9", table, sizeof(table));
    ok(strcmp(table, "hostel-a.b_c-9") == 0, "the table's name: %s", table);
    /* the real nft parses it (check mode: nothing is changed) */
    char nft[64];
    if (geteuid() == 0 && strchr(hostcmd_path("nft", nft, sizeof(nft)), '/')) {
        static const char *const args[] = {"-c", "-f", "-", NULL};
        Error err = {0};
        ok(text && hostcmd_run("nft", "nftables", args, text, NULL, 0, &err) == 0,
           "nft -c accepts it: %s", err.msg);
        ok(hostcmd_run("nft", "nftables", args, "table ip x { chain y { nonsense; } }\n", NULL, 0,
                       &err) < 0 &&
               strstr(err.msg, "nft -c -f -: ") && !strchr(err.msg, '\n'),
           "a bad ruleset is one line of nft's: %s", err.msg);
    } else {
        printf("ok %d - # SKIP nft -c: not root or no nft\n", ++tap_n);
        printf("ok %d - # SKIP nft -c: not root or no nft\n", ++tap_n);
    }
    free(text);
    network("{\"name\": \"w\", \"nat\": {\"mode\": \"host\"}, \"subnet\": \"10.9.0.0/16\"}", &net);
    text = mgmt_nft_ruleset(&net, "hn-w");
    ok(text && strstr(text, "priority dstnat; policy accept;\n\t}\n\tchain output") &&
           strstr(text, "ip saddr 10.9.0.0/16 ip daddr != 10.9.0.0/16 oifname != \"hn-w\" "
                        "masquerade\n"),
       "no forwards: empty nat chains, the masquerade of the /16");
    free(text);
}

static void test_tool_errors(void)
{
    static const char *const args[] = {"x", NULL};
    Error err = {0};
    ok(hostcmd_run("hostel-no-such-tool", "somepkg", args, NULL, NULL, 0, &err) < 0 &&
           strstr(err.msg, "cannot run hostel-no-such-tool (somepkg)"),
       "a missing tool names its package: %s", err.msg);
    static const char *const sh[] = {"-c", "echo one; echo two >&2; exit 3", NULL};
    char out[64];
    ok(hostcmd_run("sh", "dash", sh, NULL, out, sizeof(out), &err) < 0 &&
           strcmp(err.msg, "sh -c echo one; echo two >&2; exit 3: two") == 0 &&
           strcmp(out, "one\ntwo\n") == 0,
       "a failing tool: its last line: %s", err.msg);
    static const char *const cat[] = {NULL};
    ok(hostcmd_run("cat", "coreutils", cat, "fed\n", out, sizeof(out), &err) == 0 &&
           strcmp(out, "fed\n") == 0,
       "input on stdin");
    static const char *const noisy[] = {"-c", "head -c 100000 /dev/zero | tr '\\0' x; exit 1",
                                        NULL};
    ok(hostcmd_run("sh", "dash", noisy, NULL, NULL, 0, &err) < 0 && strlen(err.msg) > 0,
       "a tool that prints a lot does not hang us");
}

static void test_dnsmasq_cmd(void)
{
    MgmtNetwork net;
    MgmtDnsmasqCmd cmd;
    Error err = {0};
    network("{\"name\": \"lan\", \"nat\": {\"mode\": \"host\"}, \"subnet\": \"10.77.0.0/24\"}",
            &net);
    ok(mgmt_dnsmasq_cmd(&net, "/usr/sbin/dnsmasq", "hn-lan", "/s/leases", "/r/dnsmasq.pid", &cmd,
                        &err) == 0,
       "a command line");
    static const char *const want[] = {"/usr/sbin/dnsmasq",
                                       "--keep-in-foreground",
                                       "--conf-file=/dev/null",
                                       "--bind-interfaces",
                                       "--interface=hn-lan",
                                       "--except-interface=lo",
                                       "--strict-order",
                                       "--dhcp-range=10.77.0.2,10.77.0.254,255.255.255.0,1h",
                                       "--dhcp-lease-max=253",
                                       "--dhcp-leasefile=/s/leases",
                                       "--pid-file=/r/dnsmasq.pid",
                                       "--dhcp-authoritative",
                                       "--dhcp-no-override",
                                       "--log-facility=-",
                                       NULL};
    bool same = true;
    for (unsigned i = 0; want[i] || cmd.argv[i]; i++)
        if (!want[i] || !cmd.argv[i] || strcmp(want[i], cmd.argv[i]) != 0) {
            printf("# argument %u: %s, want %s\n", i, cmd.argv[i] ? cmd.argv[i] : "(none)",
                   want[i] ? want[i] : "(none)");
            same = false;
        }
    ok(same && cmd.argc == 14, "a host NAT's: DHCP .2 to .254 on its tap alone");
    size_t len = 0;
    for (unsigned i = 0; i < cmd.argc; i++)
        len += strlen(cmd.argv[i]) + 1;
    ok(cmd.len == len && cmd.text[cmd.len - 1] == '\0', "the text is /proc/PID/cmdline's form");
    network("{\"name\": \"i\", \"kind\": \"internal\", \"dhcp\": true, \"subnet\": "
            "\"172.20.0.0/16\"}",
            &net);
    mgmt_dnsmasq_cmd(&net, "dnsmasq", "hn-i", "l", "p", &cmd, &err);
    ok(cmd.argc == 15 && strcmp(cmd.argv[14], "--dhcp-option=3") == 0 &&
           strcmp(cmd.argv[7], "--dhcp-range=172.20.0.2,172.20.255.254,255.255.0.0,1h") == 0 &&
           strcmp(cmd.argv[8], "--dhcp-lease-max=65533") == 0,
       "an internal network's: no router offered: %s %s", cmd.argv[7], cmd.argv[8]);
    char longpath[MGMT_DNSMASQ_CMD_MAX];
    memset(longpath, 'a', sizeof(longpath) - 1);
    longpath[sizeof(longpath) - 1] = '\0';
    ok(mgmt_dnsmasq_cmd(&net, "dnsmasq", "hn-i", longpath, "p", &cmd, &err) < 0 &&
           strstr(err.msg, "too long"),
       "paths too long: refused: %s", err.msg);
}

static void test_leases_parse(void)
{
    MgmtSubnet s;
    MgmtLease l[8];
    mgmt_subnet_parse("10.77.0.0/24", &s, NULL);
    const char good[] = "1765000000 52:54:00:AA:bb:01 10.77.0.15 vm1 01:52:54:00:aa:bb:01\n"
                        "0 52:54:00:aa:bb:02 10.77.0.16 * *\n"
                        "duid 00:01:00:01:2c:5f:ab:cd:52:54:00:12:34:56\n";
    size_t n = mgmt_leases_parse(good, strlen(good), &s, l, 8);
    ok(n == 2 && strcmp(l[0].mac, "52:54:00:aa:bb:01") == 0 &&
           strcmp(l[0].ipv4, "10.77.0.15") == 0 && strcmp(l[0].hostname, "vm1") == 0 &&
           l[0].expires == 1765000000LL,
       "a lease: MAC in lower case, its hostname and expiry");
    ok(n == 2 && l[1].hostname[0] == '\0' && l[1].expires == 0,
       "no hostname (*), never expires (0); the DUID line skipped");
    static const char *const hostile[] = {
        "1765000000 52:54:00:aa:bb:01 10.78.0.15 vm1 *\n",         /* outside the subnet */
        "1765000000 52:54:00:aa:bb 10.77.0.15 vm1 *\n",            /* short MAC */
        "1765000000 52:54:00:aa:bb:zz 10.77.0.15 vm1 *\n",         /* not hex */
        "1765000000 52-54-00-aa-bb-01 10.77.0.15 vm1 *\n",         /* other separators */
        "-5 52:54:00:aa:bb:01 10.77.0.15 vm1 *\n",                 /* a negative time */
        "99999999999999 52:54:00:aa:bb:01 10.77.0.15 vm1 *\n",     /* too many digits */
        "1765000000 52:54:00:aa:bb:01 10.77.0.999 vm1 *\n",        /* not an address */
        "1765000000 52:54:00:aa:bb:01 10.77.0.15 \"><script> *\n", /* markup as a name */
        "1765000000 52:54:00:aa:bb:01 10.77.0.15 vm\x1b[31m *\n",  /* an escape sequence */
        "1765000000 52:54:00:aa:bb:01 10.77.0.15\n",               /* too few fields */
        "1765000000 52:54:00:aa:bb:01 10.77.0.15 a b c d\n",       /* too many */
        "1765000000 52:54:00:aa:bb:01 10.77.0.15 "
        "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa *\n", /* 66 bytes */
    };
    for (size_t i = 0; i < sizeof(hostile) / sizeof(hostile[0]); i++)
        ok(mgmt_leases_parse(hostile[i], strlen(hostile[i]), &s, l, 8) == 0,
           "hostile line %zu ignored", i);
    char nul[] = "1765000000 52:54:00:aa:bb:01 10.77.0.15 vm1 *\n";
    nul[40] = '\0';
    ok(mgmt_leases_parse(nul, sizeof(nul) - 1, &s, l, 8) == 0, "a NUL inside a line: ignored");
    const char cut[] = "1765000000 52:54:00:aa:bb:01 10.77.0.15 vm1 *\n"
                       "1765000000 52:54:00:aa:bb:02 10.77.0.16 vm2 *";
    ok(mgmt_leases_parse(cut, strlen(cut), &s, l, 8) == 1, "a last line without its newline: cut");
    char big[1200];
    memset(big, 'x', sizeof(big));
    memcpy(big + sizeof(big) - 50, "\n0 52:54:00:aa:bb:03 10.77.0.17 ok *\n", 38);
    ok(mgmt_leases_parse(big, sizeof(big) - 12, &s, l, 8) == 1 && strcmp(l[0].hostname, "ok") == 0,
       "a line of a thousand bytes skipped, the next one read");
    const char many[] = "0 52:54:00:aa:bb:01 10.77.0.15 a *\n0 52:54:00:aa:bb:02 10.77.0.16 b *\n"
                        "0 52:54:00:aa:bb:03 10.77.0.17 c *\n";
    ok(mgmt_leases_parse(many, strlen(many), &s, l, 2) == 2, "at most max leases");
    ok(mgmt_leases_parse(many, strlen(many), NULL, l, 8) == 3, "no subnet: any address");
}

static void test_leases_json(void)
{
    char path[] = "/tmp/hostel-leases-XXXXXX";
    int fd = mkstemp(path);
    MgmtSubnet s;
    mgmt_subnet_parse("10.77.0.0/24", &s, NULL);
    const char text[] = "1765000000 52:54:00:aa:bb:01 10.77.0.15 vm1 *\n"
                        "0 52:54:00:aa:bb:02 10.77.0.16 * *\n";
    ok(fd >= 0 && write(fd, text, strlen(text)) == (ssize_t)strlen(text), "a leases file");
    json_t *a = mgmt_leases_json(path, &s);
    char *dump = json_dumps(a, JSON_COMPACT);
    ok(dump && strcmp(dump, "[{\"mac\":\"52:54:00:aa:bb:01\",\"ipv4\":\"10.77.0.15\","
                            "\"hostname\":\"vm1\",\"expires\":\"2025-12-06T05:46:40Z\"},"
                            "{\"mac\":\"52:54:00:aa:bb:02\",\"ipv4\":\"10.77.0.16\","
                            "\"hostname\":null,\"expires\":null}]") == 0,
       "as JSON: %s", dump);
    free(dump);
    json_decref(a);
    /* past the cap: a lease after MGMT_LEASES_FILE_MAX bytes of junk is not read */
    char *junk = malloc(MGMT_LEASES_FILE_MAX);
    memset(junk, '#', MGMT_LEASES_FILE_MAX);
    junk[MGMT_LEASES_FILE_MAX - 1] = '\n';
    ok(junk && lseek(fd, 0, SEEK_SET) == 0 && ftruncate(fd, 0) == 0 &&
           write(fd, junk, MGMT_LEASES_FILE_MAX) == MGMT_LEASES_FILE_MAX &&
           write(fd, text, strlen(text)) == (ssize_t)strlen(text),
       "a file over the cap");
    a = mgmt_leases_json(path, &s);
    ok(json_is_array(a) && json_array_size(a) == 0, "only its first %d bytes are read",
       MGMT_LEASES_FILE_MAX);
    json_decref(a);
    free(junk);
    close(fd);
    unlink(path);
    a = mgmt_leases_json(path, &s);
    ok(json_is_array(a) && json_array_size(a) == 0, "a missing file: no leases");
    json_decref(a);
    a = mgmt_leases_json("/dev/zero", &s);
    ok(json_is_array(a) && json_array_size(a) == 0, "not a regular file: not read");
    json_decref(a);
}

static void test_fill_ipv4(void)
{
    json_t *ports = json_loads(
        "[{\"name\": \"nat\", \"mac\": null, \"ipv4\": null},"
        " {\"name\": \"vm1.0\", \"mac\": \"52:54:00:AA:BB:01\", \"ipv4\": null},"
        " {\"name\": \"vm2.0\", \"mac\": \"52:54:00:aa:bb:02\", \"ipv4\": \"10.77.0.99\"},"
        " {\"name\": \"vm3.0\", \"mac\": \"52:54:00:aa:bb:03\", \"ipv4\": null}]",
        0, NULL);
    json_t *leases = json_loads("[{\"mac\": \"52:54:00:aa:bb:01\", \"ipv4\": \"10.77.0.15\"},"
                                " {\"mac\": \"52:54:00:aa:bb:02\", \"ipv4\": \"10.77.0.16\"}]",
                                0, NULL);
    mgmt_netroot_fill_ipv4(ports, leases);
    char *dump = json_dumps(ports, JSON_COMPACT);
    ok(dump && strstr(dump, "\"vm1.0\",\"mac\":\"52:54:00:AA:BB:01\",\"ipv4\":\"10.77.0.15\"") &&
           strstr(dump, "\"vm2.0\",\"mac\":\"52:54:00:aa:bb:02\",\"ipv4\":\"10.77.0.99\"") &&
           strstr(dump, "\"vm3.0\",\"mac\":\"52:54:00:aa:bb:03\",\"ipv4\":null") &&
           strstr(dump, "\"nat\",\"mac\":null,\"ipv4\":null"),
       "a port without an address gets its lease's; a learned one is kept: %s", dump);
    free(dump);
    json_decref(ports);
    json_decref(leases);
}

int main(void)
{
    test_ruleset();
    test_tool_errors();
    test_dnsmasq_cmd();
    test_leases_parse();
    test_leases_json();
    test_fill_ipv4();
    return tap_done();
}
