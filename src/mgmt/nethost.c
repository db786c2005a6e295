/*
 * The host side of networks (nethost.h): `ip` run with posix_spawn, taps
 * opened on /dev/net/tun.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <ifaddrs.h>
#include <limits.h>
#include <linux/if_tun.h>
#include <net/if.h>
#include <netinet/in.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "mgmt/hostcmd.h"
#include "mgmt/nethost.h"

int nethost_ip(const char *const *args, Error *err)
{
    return hostcmd_run("ip", "iproute2", args, NULL, NULL, 0, err);
}

static bool sys_exists(const char *ifname, const char *what)
{
    char path[PATH_MAX];
    struct stat st;
    snprintf(path, sizeof(path), "/sys/class/net/%s%s", ifname, what);
    return stat(path, &st) == 0;
}

bool nethost_exists(const char *ifname)
{
    return sys_exists(ifname, "");
}

/* One counter of /sys/class/net/IFNAME/statistics; 0 when it cannot be read. */
static uint64_t sys_counter(const char *ifname, const char *name)
{
    char path[PATH_MAX];
    unsigned long long v = 0;
    snprintf(path, sizeof(path), "/sys/class/net/%s/statistics/%s", ifname, name);
    FILE *f = fopen(path, "r");
    if (f) {
        if (fscanf(f, "%llu", &v) != 1)
            v = 0;
        fclose(f);
    }
    return v;
}

void nethost_tap_stats(const char *ifname, NetHostTapStats *st)
{
    /* the host receives what the VM sends: the tap's rx is the VM's tx */
    st->from_vm_frames = sys_counter(ifname, "rx_packets");
    st->from_vm_bytes = sys_counter(ifname, "rx_bytes");
    st->to_vm_frames = sys_counter(ifname, "tx_packets");
    st->to_vm_bytes = sys_counter(ifname, "tx_bytes");
    st->to_vm_dropped = sys_counter(ifname, "tx_dropped");
}

bool nethost_is_bridge(const char *ifname)
{
    return sys_exists(ifname, "/bridge");
}

int nethost_host_tap(const char *ifname, const MgmtSubnet *subnet, Error *err)
{
    char addr[MGMT_NET_ADDR_TEXT + 4];
    mgmt_subnet_host(subnet, 1, addr, sizeof(addr) - 4);
    snprintf(addr + strlen(addr), 4, "/%u", subnet->prefix);
    if (!nethost_exists(ifname)) {
        const char *add[] = {"tuntap", "add", "dev", ifname, "mode", "tap", NULL};
        const char *address[] = {"addr", "add", addr, "dev", ifname, NULL};
        if (nethost_ip(add, err) < 0)
            return -1;
        if (nethost_ip(address, err) < 0) {
            nethost_delete(ifname, NULL);
            return -1;
        }
    }
    const char *up[] = {"link", "set", "dev", ifname, "up", NULL};
    return nethost_ip(up, err);
}

int nethost_bridge(const char *bridge, bool *made, Error *err)
{
    *made = false;
    if (nethost_exists(bridge) && !nethost_is_bridge(bridge))
        return error_set(err, "%s exists and is not a bridge", bridge);
    if (!nethost_exists(bridge)) {
        const char *add[] = {"link", "add", "name", bridge, "type", "bridge", NULL};
        if (nethost_ip(add, err) < 0)
            return -1;
        *made = true;
    }
    const char *up[] = {"link", "set", "dev", bridge, "up", NULL};
    return nethost_ip(up, err);
}

/* Open (making it) the tap ifname: IFF_TAP | IFF_NO_PI, no persistence. */
static int tap_open(const char *ifname, Error *err)
{
    int fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0)
        return error_set_errno(err, errno, "cannot open /dev/net/tun");
    struct ifreq ifr;
    memset(&ifr, 0, sizeof(ifr));
    ifr.ifr_flags = IFF_TAP | IFF_NO_PI;
    snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", ifname);
    if (ioctl(fd, TUNSETIFF, &ifr) < 0) {
        int e = errno;
        close(fd);
        return error_set_errno(err, e, "tap %s: TUNSETIFF", ifname);
    }
    return fd;
}

int nethost_bridge_tap(const char *ifname, const char *bridge, Error *err)
{
    if (!nethost_is_bridge(bridge))
        return error_set(err, "the host has no bridge %s", bridge);
    if (nethost_exists(ifname) && nethost_delete(ifname, err) < 0)
        return -1;
    int fd = tap_open(ifname, err);
    const char *join[] = {"link", "set", "dev", ifname, "master", bridge, "up", NULL};
    if (fd >= 0 && nethost_ip(join, err) < 0) {
        close(fd); /* the tap goes with its last descriptor */
        return -1;
    }
    return fd;
}

int nethost_delete(const char *ifname, Error *err)
{
    if (!nethost_exists(ifname))
        return 0;
    const char *del[] = {"link", "del", "dev", ifname, NULL};
    return nethost_ip(del, err);
}

size_t nethost_subnets(MgmtSubnet *out, size_t max)
{
    struct ifaddrs *ifa, *i;
    size_t n = 0;
    if (getifaddrs(&ifa) < 0)
        return 0;
    for (i = ifa; i && n < max; i = i->ifa_next) {
        if (!i->ifa_addr || i->ifa_addr->sa_family != AF_INET || !i->ifa_netmask)
            continue;
        uint32_t a = ntohl(((struct sockaddr_in *)i->ifa_addr)->sin_addr.s_addr);
        uint32_t m = ntohl(((struct sockaddr_in *)i->ifa_netmask)->sin_addr.s_addr);
        if ((a >> 24) == 127)
            continue;
        unsigned prefix = (unsigned)__builtin_popcount(m);
        out[n++] = (MgmtSubnet){.addr = a & m, .prefix = prefix ? prefix : 32};
    }
    freeifaddrs(ifa);
    return n;
}
