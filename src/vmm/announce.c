/* announce-self's frame and timing (announce.h); vmm.c sends them. */
#include "vmm/announce.h"

#include <string.h>

static void put16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}

size_t announce_frame(const uint8_t mac[6], uint8_t out[ANNOUNCE_FRAME_LEN])
{
    memset(out, 0, ANNOUNCE_FRAME_LEN);
    memset(out, 0xff, 6); /* to everyone */
    memcpy(out + 6, mac, 6);
    put16(out + 12, ANNOUNCE_ETHERTYPE);
    uint8_t *arp = out + 14;
    put16(arp, 1);          /* hardware: Ethernet */
    put16(arp + 2, 0x0800); /* protocol: IPv4 */
    arp[4] = 6;
    arp[5] = 4;
    put16(arp + 6, 3);        /* reverse request */
    memcpy(arp + 8, mac, 6);  /* sender MAC; sender IP 0 */
    memcpy(arp + 18, mac, 6); /* target MAC; target IP 0 */
    return ANNOUNCE_FRAME_LEN;
}

unsigned announce_delay_ms(unsigned i)
{
    return ANNOUNCE_FIRST_MS + i * ANNOUNCE_STEP_MS;
}
