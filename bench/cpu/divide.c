/*
 * Workload "divide": integer division and remainder with divisors known
 * only at run time, in the four flavours of RV64M (div/divu/rem/remu and
 * their 32-bit *w forms): Euclid's GCD, digit sums in varying bases, and
 * signed/unsigned quotient mixes.  Measures the emulator's division path,
 * including its special cases (negative operands, small divisors).
 */
#include "bench.h"

#define DIV_ITERS 20000

const uint32_t bench_reps = 400;

static uint64_t div_gcd(uint64_t a, uint64_t b)
{
    while (b) {
        uint64_t t = a % b;
        a = b;
        b = t;
    }
    return a;
}

/* Sum of the digits of v written in base (2..37). */
static uint32_t div_digit_sum(uint32_t v, uint32_t base)
{
    uint32_t s = 0;
    while (v) {
        s += v % base;
        v /= base;
    }
    return s;
}

/* Signed 64- and 32-bit quotients and remainders (C truncates toward zero, as RISC-V does). */
static uint64_t div_signed(int64_t a, int64_t b, int32_t c, int32_t d)
{
    int64_t q = a / b, r = a % b;
    int32_t q32 = c / d, r32 = c % d;
    return (uint64_t)q ^ (uint64_t)r << 7 ^ (uint64_t)(int64_t)q32 << 19 ^ (uint64_t)(int64_t)r32;
}

/* One round of all kernels on operands drawn from seed. */
static uint64_t div_round(uint64_t *seed)
{
    uint64_t x = bench_rand(seed), y = bench_rand(seed);
    uint64_t h = div_gcd(x >> 1, (y >> 33) | 1);
    h += div_digit_sum((uint32_t)x, 2 + (uint32_t)(y % 36));
    int64_t a = (int64_t)(x >> 1) - (int64_t)(y >> 2);
    int64_t b = (int64_t)(y >> (40 + (x & 15))) - 1000;
    int32_t c = (int32_t)(uint32_t)(x >> 32) >> 1, d = (int32_t)((y & 0xffff) - 0x8000);
    h ^= div_signed(a, b == 0 ? 7 : b, c, d == 0 ? -3 : d);
    h += (x / ((y >> 50) | 1)) ^ (uint32_t)x / ((uint32_t)(y >> 20) | 1);
    return h;
}

uint64_t bench_run(uint32_t reps)
{
    uint64_t sum = BENCH_HASH_INIT;
    for (uint32_t r = 0; r < reps; r++) {
        uint64_t seed = 0x13198a2e03707344ULL + r;
        uint64_t h = 0;
        for (uint32_t i = 0; i < DIV_ITERS; i++)
            h = h * 31 + div_round(&seed);
        sum = bench_mix(sum, h);
    }
    return sum;
}
