/*
 * Workload "randmem": random accesses over a 64 MiB table, beyond every
 * host cache level that matters: independent read-modify-write updates at
 * pseudo-random indices (GUPS-like) and a chain of dependent loads whose
 * next index comes from the value just read.  Measures the emulator's
 * address translation and memory path when every access misses.
 */
#include "bench.h"

#define RAND_WORDS (8u << 20) /* 8 Mi x 8 bytes = 64 MiB */
#define RAND_MASK (RAND_WORDS - 1)
#define RAND_UPDATES (1u << 19)
#define RAND_CHASE (1u << 17)

const uint32_t bench_reps = 10;

static void rand_init(uint64_t *t)
{
    for (uint32_t i = 0; i < RAND_WORDS; i++)
        t[i] = (uint64_t)i * 0xd1342543de82ef95ULL + 1;
}

static void rand_update(uint64_t *t, uint64_t *seed)
{
    for (uint32_t i = 0; i < RAND_UPDATES; i++) {
        uint64_t r = bench_rand(seed);
        t[r & RAND_MASK] ^= r;
    }
}

static uint64_t rand_chase(const uint64_t *t, uint64_t start)
{
    uint64_t idx = start & RAND_MASK, h = 0;
    for (uint32_t i = 0; i < RAND_CHASE; i++) {
        uint64_t v = t[idx];
        h += v;
        idx = ((v >> 17) ^ (idx * 5 + 1)) & RAND_MASK;
    }
    return h;
}

uint64_t bench_run(uint32_t reps)
{
    uint64_t *t = bench_alloc(RAND_WORDS * sizeof(uint64_t));
    uint64_t seed = 0xa4093822299f31d0ULL, sum = BENCH_HASH_INIT;
    rand_init(t);
    for (uint32_t r = 0; r < reps; r++) {
        rand_update(t, &seed);
        sum = bench_mix(sum, rand_chase(t, r * 0x9e3779b9u));
    }
    return sum;
}
