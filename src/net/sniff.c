/*
 * Address sniffing (net/sniff.h): the DHCP ACK a host receives and the
 * IPv4 source of the frames it sends.
 */
#include "net/sniff.h"

#include <string.h>

enum {
    ETH_HDR = 14,
    IPV4_MIN = 20,
    UDP_HDR = 8,
    BOOTP_MIN = 240, /* the fixed BOOTP fields and the DHCP magic cookie */
    ARP_LEN = 28,
};

static uint32_t be32_at(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* The DHCP message type (option 53) of the options at f[o..len), 0 if absent or malformed. */
static int dhcp_message_type(const uint8_t *f, size_t o, size_t len)
{
    while (o + 2 < len && f[o] != 255) {
        if (f[o] == 0) { /* pad */
            o++;
            continue;
        }
        if (f[o] == 53 && f[o + 1] == 1)
            return f[o + 2];
        o += 2 + (size_t)f[o + 1];
    }
    return 0;
}

bool net_sniff_dhcp_ack(const uint8_t *f, size_t len, uint8_t chaddr[NET_MAC_LEN], uint32_t *yiaddr)
{
    if (len < ETH_HDR + IPV4_MIN || f[12] != 0x08 || f[13] != 0x00 || (f[ETH_HDR] >> 4) != 4 ||
        f[ETH_HDR + 9] != 17)
        return false;
    size_t ihl = (size_t)(f[ETH_HDR] & 0xf) * 4, udp = ETH_HDR + ihl, b = udp + UDP_HDR;
    if (ihl < IPV4_MIN || len < b + BOOTP_MIN || f[udp] != 0 || f[udp + 1] != 67 ||
        f[udp + 2] != 0 || f[udp + 3] != 68 || f[b] != 2 ||
        memcmp(f + b + 236, "\x63\x82\x53\x63", 4) != 0)
        return false;
    uint32_t ip = be32_at(f + b + 16);
    if (dhcp_message_type(f, b + BOOTP_MIN, len) != 5 || ip == 0)
        return false;
    memcpy(chaddr, f + b + 28, NET_MAC_LEN);
    *yiaddr = ip;
    return true;
}

bool net_sniff_source_ipv4(const uint8_t *f, size_t len, uint32_t *ip)
{
    uint32_t a = 0;
    if (len >= ETH_HDR + IPV4_MIN && f[12] == 0x08 && f[13] == 0x00 && (f[ETH_HDR] >> 4) == 4)
        a = be32_at(f + ETH_HDR + 12);
    else if (len >= ETH_HDR + ARP_LEN && f[12] == 0x08 && f[13] == 0x06 && f[16] == 0x08 &&
             f[17] == 0x00)
        a = be32_at(f + ETH_HDR + 14);
    /* not 0.0.0.0, loopback, multicast (224/4) or reserved and broadcast (240/4) */
    if (a == 0 || (a >> 24) == 127 || (a >> 28) >= 0xe)
        return false;
    *ip = a;
    return true;
}
