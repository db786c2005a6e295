/* The console's history ring: the last cap bytes of guest output. */
#include "vmm/console_ring.h"

#include <stdlib.h>
#include <string.h>

int console_ring_init(ConsoleRing *r, size_t cap, Error *err)
{
    memset(r, 0, sizeof(*r));
    if (!cap)
        return error_set(err, "a console ring needs room for at least one byte");
    r->buf = malloc(cap);
    if (!r->buf)
        return error_set(err, "out of memory for the console history (%zu bytes)", cap);
    r->cap = cap;
    return 0;
}

void console_ring_fini(ConsoleRing *r)
{
    free(r->buf);
    memset(r, 0, sizeof(*r));
}

void console_ring_write(ConsoleRing *r, const uint8_t *buf, size_t len)
{
    if (len >= r->cap) { /* only the last cap bytes survive */
        memcpy(r->buf, buf + len - r->cap, r->cap);
        r->head = 0;
        r->len = r->cap;
        return;
    }
    size_t tail = (r->head + r->len) % r->cap;
    size_t first = r->cap - tail < len ? r->cap - tail : len;
    memcpy(r->buf + tail, buf, first);
    memcpy(r->buf, buf + first, len - first);
    size_t drop = r->len + len > r->cap ? r->len + len - r->cap : 0;
    r->head = (r->head + drop) % r->cap;
    r->len += len - drop;
}

void console_ring_spans(const ConsoleRing *r, const uint8_t **a, size_t *alen, const uint8_t **b,
                        size_t *blen)
{
    size_t first = r->cap - r->head < r->len ? r->cap - r->head : r->len;
    *a = r->buf ? r->buf + r->head : NULL;
    *alen = first;
    *b = r->buf;
    *blen = r->len - first;
}
