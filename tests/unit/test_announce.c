/* Unit tests of announce-self's RARP frame and its timing (src/vmm/announce.c). */
#include <string.h>

#include "vmm/announce.h"
#include "tap.h"

static void test_frame(void)
{
    const uint8_t mac[6] = {0x52, 0x54, 0x00, 0x12, 0x34, 0x56};
    uint8_t f[ANNOUNCE_FRAME_LEN + 4];
    memset(f, 0xaa, sizeof(f));
    is_u64(announce_frame(mac, f), 60, "the frame is 60 bytes (the Ethernet minimum)");
    static const uint8_t bcast[6] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
    ok(!memcmp(f, bcast, 6), "to the broadcast address");
    ok(!memcmp(f + 6, mac, 6), "from the card's MAC (what a switch learns)");
    ok(f[12] == 0x80 && f[13] == 0x35, "ethertype 0x8035 (RARP)");
    static const uint8_t hdr[8] = {0, 1, 8, 0, 6, 4, 0, 3};
    ok(!memcmp(f + 14, hdr, 8), "Ethernet/IPv4, lengths 6 and 4, op 3 (reverse request)");
    ok(!memcmp(f + 22, mac, 6) && !memcmp(f + 32, mac, 6), "sender and target MAC are the card's");
    static const uint8_t zero[4];
    ok(!memcmp(f + 28, zero, 4) && !memcmp(f + 38, zero, 4), "no IP addresses");
    int pad = 1;
    for (int i = 42; i < 60; i++)
        pad &= f[i] == 0;
    ok(pad, "padded with zeros");
    ok(f[60] == 0xaa, "nothing written past 60 bytes");
}

static void test_delays(void)
{
    is_u64(announce_delay_ms(0), 50, "50 ms before the second frame");
    is_u64(announce_delay_ms(1), 150, "then 150");
    is_u64(announce_delay_ms(3), 350, "then 250 and 350");
}

int main(void)
{
    test_frame();
    test_delays();
    return tap_done();
}
