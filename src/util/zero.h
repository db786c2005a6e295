/* Is a buffer all zero bytes?  (Thin copies skip such buffers.) */
#ifndef HOSTEL_UTIL_ZERO_H
#define HOSTEL_UTIL_ZERO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

static inline bool buf_is_zero(const void *buf, size_t len)
{
    const uint8_t *p = buf;
    /* Check the first 16 bytes, then compare the buffer with itself shifted by 16. */
    size_t head = len < 16 ? len : 16;
    for (size_t i = 0; i < head; i++) {
        if (p[i])
            return false;
    }
    return len <= 16 || memcmp(p, p + 16, len - 16) == 0;
}

#endif
