/* Little-endian integers of any width up to 8 bytes, byte by byte (any alignment). */
#ifndef HOSTEL_UTIL_LE_H
#define HOSTEL_UTIL_LE_H

#include <stddef.h>
#include <stdint.h>

static inline void le_put(uint8_t *buf, size_t n, uint64_t v)
{
    for (size_t i = 0; i < n; i++)
        buf[i] = (uint8_t)(v >> (8 * i));
}

static inline uint64_t le_get(const uint8_t *buf, size_t n)
{
    uint64_t v = 0;
    for (size_t i = 0; i < n; i++)
        v |= (uint64_t)buf[i] << (8 * i);
    return v;
}

#endif
