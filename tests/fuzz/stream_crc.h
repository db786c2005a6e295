/*
 * What the state and migration fuzz targets share: most mutations of a
 * stream would only ever meet its final CRC check, so an input of even
 * length is copied with its last four bytes made the CRC-32 of every byte
 * before them (as a writer computes the "end" section); odd lengths go in
 * as they are and exercise the refusal.
 */
#ifndef HOSTEL_TESTS_FUZZ_STREAM_CRC_H
#define HOSTEL_TESTS_FUZZ_STREAM_CRC_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <zlib.h>

/* A malloc'd copy of data, its CRC made right for even sizes; NULL when out of memory. */
static inline uint8_t *stream_crc_copy(const uint8_t *data, size_t size)
{
    uint8_t *copy = malloc(size ? size : 1);
    if (!copy)
        return NULL;
    memcpy(copy, data, size);
    if (size >= 8 && size % 2 == 0) {
        uLong crc = crc32(0L, copy, (uInt)(size - 4));
        for (int i = 0; i < 4; i++)
            copy[size - 4 + i] = (uint8_t)(crc >> (8 * i));
    }
    return copy;
}

#endif
