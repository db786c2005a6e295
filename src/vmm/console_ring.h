/*
 * The console's history: a byte ring that keeps the last `cap` bytes the
 * guest printed (docs/vmm.md "The console socket").  Writing never fails
 * and never blocks: the oldest bytes make room.  Not thread-safe (the VM
 * thread owns it).
 */
#ifndef HOSTEL_VMM_CONSOLE_RING_H
#define HOSTEL_VMM_CONSOLE_RING_H

#include <stddef.h>
#include <stdint.h>

#include "util/error.h"

typedef struct ConsoleRing {
    uint8_t *buf; /* cap bytes */
    size_t cap;   /* bytes kept at most */
    size_t head;  /* index of the oldest byte held */
    size_t len;   /* bytes held (<= cap) */
} ConsoleRing;

/* An empty ring keeping up to cap (> 0) bytes. Returns 0, or -1 with err filled. */
int console_ring_init(ConsoleRing *r, size_t cap, Error *err);

/* Free the ring's buffer (a zeroed or already freed ring is fine). */
void console_ring_fini(ConsoleRing *r);

/* Append len bytes; past cap, the oldest bytes are dropped. */
void console_ring_write(ConsoleRing *r, const uint8_t *buf, size_t len);

/*
 * The bytes held, oldest first, as two spans: *a (*alen bytes), then *b
 * (*blen bytes; 0 unless the content wraps).  Valid until the next write.
 */
void console_ring_spans(const ConsoleRing *r, const uint8_t **a, size_t *alen, const uint8_t **b,
                        size_t *blen);

#endif
