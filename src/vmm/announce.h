/*
 * announce-self after a migration (docs/migration.md): from each network
 * card, a few RARP frames carrying the card's MAC, so switches learn the
 * VM's new port without the guest sending anything (QEMU's announce-self).
 */
#ifndef HOSTEL_VMM_ANNOUNCE_H
#define HOSTEL_VMM_ANNOUNCE_H

#include <stddef.h>
#include <stdint.h>

#define ANNOUNCE_FRAME_LEN 60     /* the minimum Ethernet frame, without the FCS */
#define ANNOUNCE_ETHERTYPE 0x8035 /* RARP */
#define ANNOUNCE_ROUNDS 5         /* frames per card */
#define ANNOUNCE_FIRST_MS 50      /* the wait before the second frame; +100 ms each next one */
#define ANNOUNCE_STEP_MS 100

/*
 * A RARP "reverse request" from mac to the broadcast address: sender and
 * target hardware address mac, protocol addresses 0, padded with zeros.
 * Returns ANNOUNCE_FRAME_LEN.
 */
size_t announce_frame(const uint8_t mac[6], uint8_t out[ANNOUNCE_FRAME_LEN]);

/* The wait before frame i + 1 (i from 0): 50, 150, 250, 350 ms. */
unsigned announce_delay_ms(unsigned i);

#endif
