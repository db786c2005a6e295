/*
 * Workload "crc32": CRC-32 (IEEE 802.3, reflected polynomial 0xEDB88320)
 * computed table-driven over a 64 KiB buffer and bit by bit over an eighth
 * of it.  Measures byte loads, table lookups, shifts and the short
 * data-dependent branches of the bitwise loop.  Self-test: both methods
 * must agree, and give the standard check value for "123456789".
 */
#include "bench.h"

#define CRC_POLY 0xedb88320u
#define CRC_BUF (64u * 1024)
#define CRC_CHECK_VALUE 0xcbf43926u /* CRC-32 of "123456789" (the standard check) */

const uint32_t bench_reps = 2000;

static uint32_t crc_bitwise(uint32_t crc, const uint8_t *p, uint32_t n)
{
    crc = ~crc;
    for (uint32_t i = 0; i < n; i++) {
        crc ^= p[i];
        for (int b = 0; b < 8; b++) {
            if (crc & 1)
                crc = (crc >> 1) ^ CRC_POLY;
            else
                crc >>= 1;
        }
    }
    return ~crc;
}

static void crc_make_table(uint32_t *table)
{
    for (uint32_t i = 0; i < 256; i++) {
        uint8_t byte = (uint8_t)i;
        table[i] = ~crc_bitwise(~0u, &byte, 1);
    }
}

static uint32_t crc_table(const uint32_t *table, uint32_t crc, const uint8_t *p, uint32_t n)
{
    crc = ~crc;
    for (uint32_t i = 0; i < n; i++)
        crc = table[(crc ^ p[i]) & 0xff] ^ (crc >> 8);
    return ~crc;
}

static void crc_selftest(const uint32_t *table)
{
    static const uint8_t digits[9] = {'1', '2', '3', '4', '5', '6', '7', '8', '9'};
    if (crc_bitwise(0, digits, 9) != CRC_CHECK_VALUE ||
        crc_table(table, 0, digits, 9) != CRC_CHECK_VALUE)
        bench_fail(BENCH_FAIL_SELFTEST);
}

uint64_t bench_run(uint32_t reps)
{
    uint64_t seed = 0xb7e151628aed2a6bULL;
    uint32_t *table = bench_alloc(256 * sizeof(uint32_t));
    uint8_t *buf = bench_alloc(CRC_BUF);
    crc_make_table(table);
    crc_selftest(table);
    for (uint32_t i = 0; i < CRC_BUF; i++)
        buf[i] = (uint8_t)(bench_rand(&seed) >> 56);
    uint64_t sum = BENCH_HASH_INIT;
    for (uint32_t r = 0; r < reps; r++) {
        buf[(r * 4099u) % CRC_BUF] ^= (uint8_t)(r | 1);
        uint32_t part = (r % 8) * (CRC_BUF / 8);
        uint32_t slow = crc_bitwise(r, buf + part, CRC_BUF / 8);
        if (slow != crc_table(table, r, buf + part, CRC_BUF / 8))
            bench_fail(BENCH_FAIL_SELFTEST);
        sum = bench_mix(sum, (uint64_t)crc_table(table, r, buf, CRC_BUF) << 32 | slow);
    }
    return sum;
}
