/*
 * Workload "stream": sequential memory bandwidth over two 32 MiB buffers
 * (far larger than the host's L2): a copy-with-add pass (a -> b) and a
 * sum pass over b, each repetition.  Measures the emulator's load/store
 * fast path on streaming accesses and the host's memory bandwidth through it.
 */
#include "bench.h"

#define STREAM_WORDS (4u << 20) /* 4 Mi x 8 bytes = 32 MiB per buffer */

const uint32_t bench_reps = 10;

static void stream_init(uint64_t *a)
{
    for (uint32_t i = 0; i < STREAM_WORDS; i++)
        a[i] = i * 0x9e3779b97f4a7c15ULL;
}

static void stream_copy_add(uint64_t *restrict dst, const uint64_t *restrict src, uint64_t k)
{
    for (uint32_t i = 0; i < STREAM_WORDS; i++)
        dst[i] = src[i] + k;
}

static uint64_t stream_sum(const uint64_t *a)
{
    uint64_t s0 = 0, s1 = 0;
    for (uint32_t i = 0; i < STREAM_WORDS; i += 2) {
        s0 += a[i];
        s1 ^= a[i + 1];
    }
    return s0 ^ (s1 << 1);
}

uint64_t bench_run(uint32_t reps)
{
    uint64_t *a = bench_alloc(STREAM_WORDS * sizeof(uint64_t));
    uint64_t *b = bench_alloc(STREAM_WORDS * sizeof(uint64_t));
    uint64_t sum = BENCH_HASH_INIT;
    stream_init(a);
    for (uint32_t r = 0; r < reps; r++) {
        stream_copy_add(b, a, r + 1);
        sum = bench_mix(sum, stream_sum(b));
        uint64_t *t = a;
        a = b, b = t;
    }
    return sum;
}
