/*
 * The host side of networks with a host tap (netroot.h): the tap, the
 * host's forwarding switch, the nftables table, dnsmasq.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "mgmt/dnsmasq.h"
#include "mgmt/fileio.h"
#include "mgmt/hostcmd.h"
#include "mgmt/nethost.h"
#include "mgmt/netroot.h"
#include "mgmt/netrun_int.h"
#include "mgmt/nft.h"
#include "util/clocks.h"
#include "util/log.h"

#define IP_FORWARD "/proc/sys/net/ipv4/ip_forward"

/* DATA/NAME/file into buf. */
static int data_path(const MgmtNetRun *nr, const char *name, const char *file, char *buf,
                     size_t size)
{
    int n = snprintf(buf, size, "%s/%s/%s", nr->data_dir, name, file);
    return n < 0 || (size_t)n >= size ? -1 : 0;
}

/* The marker that says hosteld turned forwarding on: DATA/ip_forward.hosteld. */
static void marker_path(const MgmtNetRun *nr, char *buf, size_t size)
{
    if (snprintf(buf, size, "%s/ip_forward.hosteld", nr->data_dir) >= (int)size)
        buf[0] = '\0';
}

/* net.ipv4.ip_forward is 1 (-1: it cannot be read). */
static int ip_forward_enabled(void)
{
    char c = 0;
    int fd = open(IP_FORWARD, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    ssize_t n = read(fd, &c, 1);
    close(fd);
    return n == 1 ? c == '1' : -1;
}

/* Turn the host's IPv4 forwarding on (host-wide), recording that hosteld did. */
static int ip_forward_on(MgmtNetRun *nr, const char *name, Error *err)
{
    char marker[PATH_MAX], when[CLOCK_TEXT_MAX], text[300];
    if (ip_forward_enabled() == 1)
        return 0;
    int fd = open(IP_FORWARD, O_WRONLY | O_CLOEXEC);
    if (fd < 0 || write(fd, "1\n", 2) != 2) {
        int e = errno;
        if (fd >= 0)
            close(fd);
        return error_set_errno(err, e, "cannot set net.ipv4.ip_forward=1 (%s)", IP_FORWARD);
    }
    close(fd);
    clock_text(clock_real_s(), when, sizeof(when));
    snprintf(text, sizeof(text),
             "hosteld set net.ipv4.ip_forward=1 (it was 0) at %s for network %s\n", when, name);
    marker_path(nr, marker, sizeof(marker));
    mgmt_write_atomic(marker, text, strlen(text), 0640, NULL);
    log_info("network %s: set net.ipv4.ip_forward=1 (a host-wide setting; it was 0)", name);
    return 0;
}

/* The files of name's dnsmasq. */
static int dns_paths(const MgmtNetRun *nr, const char *name, char *leases, char *pidfile, char *log,
                     size_t size)
{
    if (data_path(nr, name, "leases", leases, size) < 0 ||
        data_path(nr, name, "dnsmasq.log", log, size) < 0 ||
        netrun_path(nr, name, "dnsmasq.pid", pidfile, size) < 0)
        return -1;
    return 0;
}

static int dns_up(MgmtNetRun *nr, const MgmtNetwork *net, const char *ifname, Error *err)
{
    char leases[PATH_MAX], pidfile[PATH_MAX], log[PATH_MAX], program[64];
    MgmtDnsmasqCmd cmd;
    if (dns_paths(nr, net->name, leases, pidfile, log, PATH_MAX) < 0)
        return error_set(err, "%s: a path under the run or state directory is too long", net->name);
    if (!net->dhcp)
        return mgmt_dnsmasq_stop(nr->dns, net->name, pidfile, err);
    hostcmd_path("dnsmasq", program, sizeof(program));
    if (mgmt_dnsmasq_cmd(net, program, ifname, leases, pidfile, &cmd, err) < 0)
        return -1;
    return mgmt_dnsmasq_start(nr->dns, net->name, &cmd, pidfile, log, err);
}

int mgmt_netroot_up(MgmtNetRun *nr, const MgmtNetwork *net, Error *err)
{
    char ifname[MGMT_NET_IFNAME_MAX];
    Error e = {0};
    if (!mgmt_network_host_tap(net))
        return 0;
    netrun_host_ifname(net->name, ifname);
    if (nethost_host_tap(ifname, &net->subnet, err) < 0)
        return -1;
    if (mgmt_network_host_nat(net)) {
        if (ip_forward_on(nr, net->name, err) < 0)
            return -1;
        if (mgmt_nft_apply(net, ifname, &e) < 0)
            return error_set(err, "the NAT's nftables table: %s", e.msg);
    }
    if (dns_up(nr, net, ifname, &e) < 0)
        return error_set(err, "%s", e.msg);
    return 0;
}

void mgmt_netroot_down(MgmtNetRun *nr, const MgmtNetwork *net, bool purge)
{
    char leases[PATH_MAX], pidfile[PATH_MAX], log[PATH_MAX];
    Error err = {0};
    if (!mgmt_network_host_tap(net) || dns_paths(nr, net->name, leases, pidfile, log, PATH_MAX) < 0)
        return;
    if (mgmt_dnsmasq_stop(nr->dns, net->name, pidfile, &err) < 0)
        log_warn("network %s: %s", net->name, err.msg);
    if (mgmt_network_host_nat(net) && mgmt_nft_remove(net->name, &err) < 0)
        log_warn("network %s: cannot remove its nftables table: %s", net->name, err.msg);
    if (purge) {
        unlink(leases);
        unlink(log);
    }
}

int mgmt_netroot_forwards(MgmtNetRun *nr, const MgmtNetwork *net, Error *err)
{
    char ifname[MGMT_NET_IFNAME_MAX];
    Error e = {0};
    (void)nr;
    if (!mgmt_network_host_nat(net))
        return 0;
    netrun_host_ifname(net->name, ifname);
    if (mgmt_nft_apply(net, ifname, &e) < 0)
        return error_set(err, "the NAT's nftables table: %s", e.msg);
    return 0;
}

json_t *mgmt_netroot_host_json(MgmtNetRun *nr, const MgmtNetwork *net)
{
    char ifname[MGMT_NET_IFNAME_MAX], addr[MGMT_NET_ADDR_TEXT + 4], table[MGMT_NET_NAME_MAX + 8],
        marker[PATH_MAX];
    if (!mgmt_network_host_tap(net))
        return NULL;
    netrun_host_ifname(net->name, ifname);
    mgmt_subnet_host(&net->subnet, 1, addr, MGMT_NET_ADDR_TEXT);
    snprintf(addr + strlen(addr), 5, "/%u", net->subnet.prefix);
    json_t *j = json_pack("{s:s, s:s}", "interface", ifname, "address", addr);
    if (j && mgmt_network_host_nat(net)) {
        mgmt_nft_table(net->name, table, sizeof(table));
        marker_path(nr, marker, sizeof(marker));
        json_object_set_new(j, "nft_table", json_string(table));
        json_object_set_new(j, "ip_forward",
                            json_pack("{s:b, s:b}", "enabled", ip_forward_enabled() == 1,
                                      "set_by_hosteld", access(marker, F_OK) == 0));
    }
    if (j && net->dhcp)
        json_object_set_new(j, "dnsmasq", mgmt_dnsmasq_state_json(nr->dns, net->name));
    return j;
}

json_t *mgmt_netroot_leases(MgmtNetRun *nr, const MgmtNetwork *net)
{
    char path[PATH_MAX];
    if (!mgmt_network_host_tap(net) || !net->dhcp ||
        data_path(nr, net->name, "leases", path, sizeof(path)) < 0)
        return NULL;
    return mgmt_leases_json(path, &net->subnet);
}

void mgmt_netroot_fill_ipv4(json_t *ports, const json_t *leases)
{
    size_t i, k;
    json_t *p, *l;
    json_array_foreach(ports, i, p)
    {
        const char *mac = json_string_value(json_object_get(p, "mac"));
        if (!mac || json_is_string(json_object_get(p, "ipv4")))
            continue;
        json_array_foreach((json_t *)leases, k, l)
        {
            const char *lmac = json_string_value(json_object_get(l, "mac"));
            if (lmac && strcasecmp(mac, lmac) == 0)
                json_object_set(p, "ipv4", json_object_get(l, "ipv4"));
        }
    }
}
