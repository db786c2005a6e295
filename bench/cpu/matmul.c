/*
 * Workload "matmul": integer matrix multiply (96x96, 32-bit wrap-around
 * arithmetic), C = A x B, with A perturbed between repetitions.  Measures
 * multiply throughput, loads with strided addresses and tight loops.
 */
#include "bench.h"

#define MM_N 96

const uint32_t bench_reps = 600;

static void mm_fill(uint32_t *m, uint64_t *seed)
{
    for (uint32_t i = 0; i < MM_N * MM_N; i++)
        m[i] = (uint32_t)bench_rand(seed);
}

/* c = a x b over 32-bit integers (modulo 2^32); i-k-j order for row-wise access. */
static void mm_multiply(uint32_t *c, const uint32_t *a, const uint32_t *b)
{
    for (uint32_t i = 0; i < MM_N; i++) {
        uint32_t *crow = &c[i * MM_N];
        for (uint32_t j = 0; j < MM_N; j++)
            crow[j] = 0;
        for (uint32_t k = 0; k < MM_N; k++) {
            uint32_t aik = a[i * MM_N + k];
            const uint32_t *brow = &b[k * MM_N];
            for (uint32_t j = 0; j < MM_N; j++)
                crow[j] += aik * brow[j];
        }
    }
}

static uint64_t mm_hash(const uint32_t *m)
{
    uint64_t h = BENCH_HASH_INIT;
    for (uint32_t i = 0; i < MM_N * MM_N; i += 2)
        h = bench_mix(h, (uint64_t)m[i] << 32 | m[i + 1]);
    return h;
}

uint64_t bench_run(uint32_t reps)
{
    uint64_t seed = 0x243f6a8885a308d3ULL;
    uint32_t *a = bench_alloc(MM_N * MM_N * sizeof(uint32_t));
    uint32_t *b = bench_alloc(MM_N * MM_N * sizeof(uint32_t));
    uint32_t *c = bench_alloc(MM_N * MM_N * sizeof(uint32_t));
    mm_fill(a, &seed);
    mm_fill(b, &seed);
    uint64_t sum = BENCH_HASH_INIT;
    for (uint32_t r = 0; r < reps; r++) {
        a[(r * 37u) % (MM_N * MM_N)] += r + 1;
        mm_multiply(c, a, b);
        sum = bench_mix(sum, mm_hash(c));
    }
    return sum;
}
