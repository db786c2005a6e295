/*
 * Common interface of the CPU benchmark workloads.
 *
 * Each workload (one .c file) is portable C that builds two ways:
 *  - for the guest (riscv64, bare metal): with crt0.S, guest.c and libc.c, into
 *    an ELF that runs the kernel and checks its checksum against BENCH_EXPECT;
 *  - for the host: with host.c, into a reference program that runs the same
 *    kernel natively and prints "#define BENCH_EXPECT 0x...ULL", the header
 *    the guest build includes.  A wrong emulator thus fails the self-check.
 * Keep workloads free of undefined behaviour, of pointer values in checksums
 * and of implicit FP contraction (built with -ffp-contract=off; use
 * __builtin_fma for fused multiply-add), so both builds compute the same bits.
 */
#ifndef HOSTEL_BENCH_H
#define HOSTEL_BENCH_H

#include <stddef.h>
#include <stdint.h>

/* Workload entry: runs the kernel reps times and returns a checksum of all results. */
uint64_t bench_run(uint32_t reps);

/* Repetitions for a full run (sized for ~1-3 s under QEMU TCG); quick mode uses 1. */
extern const uint32_t bench_reps;

/* Returns size bytes of 64-byte aligned, uninitialised memory; never fails
 * (the guest version ends the run with BENCH_FAIL_NOMEM when RAM is short). */
void *bench_alloc(size_t size);

/* Failure codes reported through the test finisher (0x3333 | code << 16). */
enum {
    BENCH_FAIL_CHECKSUM = 1, /* checksum differs from the host reference */
    BENCH_FAIL_NOMEM = 2,    /* bench_alloc ran past the end of RAM */
    BENCH_FAIL_TRAP = 3,     /* unexpected trap (see crt0.S) */
    BENCH_FAIL_SELFTEST = 4, /* an internal consistency check failed */
};

/* Ends the run with a failure code (guest) or exits non-zero (host). */
void bench_fail(int code) __attribute__((noreturn));

/* Mixes v into the running hash h (64-bit FNV-1a style over 8 bytes at once). */
static inline uint64_t bench_mix(uint64_t h, uint64_t v)
{
    h ^= v;
    h *= 0x100000001b3ULL;
    return h ^ (h >> 29);
}

/* Initial value for bench_mix chains. */
#define BENCH_HASH_INIT 0xcbf29ce484222325ULL

/* xorshift64*: a small deterministic pseudo-random generator; state must be non-zero. */
static inline uint64_t bench_rand(uint64_t *state)
{
    uint64_t x = *state;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *state = x;
    return x * 0x2545f4914f6cdd1dULL;
}

/* Returns the raw bits of a double / float, for hashing exact FP results. */
static inline uint64_t bench_dbits(double d)
{
    union {
        double d;
        uint64_t u;
    } c = {.d = d};
    return c.u;
}

static inline uint32_t bench_fbits(float f)
{
    union {
        float f;
        uint32_t u;
    } c = {.f = f};
    return c.u;
}

#endif
