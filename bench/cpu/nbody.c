/*
 * Workload "nbody": double-precision gravitational N-body simulation
 * (32 bodies, all pairs each step, symplectic Euler).  Measures fadd/fmul/
 * fdiv/fsqrt.d latency and throughput, FP loads/stores and the FP register
 * file.  The checksum holds the exact bits of the energy and positions, so
 * any rounding difference fails the run.
 */
#include "bench.h"

#define NB_BODIES 32
#define NB_STEPS 400
#define NB_DT 0.001
#define NB_SOFTENING 0.01

const uint32_t bench_reps = 75;

typedef struct Body {
    double x, y, z, vx, vy, vz, mass;
} Body;

/* Uniform double in [lo, hi) from 53 random bits (exact on every IEEE host). */
static double nb_uniform(uint64_t *seed, double lo, double hi)
{
    return lo + (hi - lo) * ((double)(bench_rand(seed) >> 11) * 0x1p-53);
}

static void nb_init(Body *b, uint64_t *seed)
{
    for (int i = 0; i < NB_BODIES; i++) {
        b[i].x = nb_uniform(seed, -1, 1), b[i].y = nb_uniform(seed, -1, 1);
        b[i].z = nb_uniform(seed, -1, 1);
        b[i].vx = nb_uniform(seed, -0.1, 0.1), b[i].vy = nb_uniform(seed, -0.1, 0.1);
        b[i].vz = nb_uniform(seed, -0.1, 0.1);
        b[i].mass = nb_uniform(seed, 0.5, 2.0);
    }
}

/* Applies the pull between bodies a and b over one time step to both velocities. */
static void nb_pair(Body *a, Body *b)
{
    double dx = a->x - b->x, dy = a->y - b->y, dz = a->z - b->z;
    double d2 = dx * dx + dy * dy + dz * dz + NB_SOFTENING;
    double mag = NB_DT / (d2 * __builtin_sqrt(d2));
    double ma = a->mass * mag, mb = b->mass * mag;
    a->vx -= dx * mb, a->vy -= dy * mb, a->vz -= dz * mb;
    b->vx += dx * ma, b->vy += dy * ma, b->vz += dz * ma;
}

static void nb_step(Body *b)
{
    for (int i = 0; i < NB_BODIES; i++) {
        for (int j = i + 1; j < NB_BODIES; j++)
            nb_pair(&b[i], &b[j]);
    }
    for (int i = 0; i < NB_BODIES; i++) {
        b[i].x += NB_DT * b[i].vx, b[i].y += NB_DT * b[i].vy;
        b[i].z += NB_DT * b[i].vz;
    }
}

static double nb_energy(const Body *b)
{
    double e = 0;
    for (int i = 0; i < NB_BODIES; i++) {
        double v2 = b[i].vx * b[i].vx + b[i].vy * b[i].vy + b[i].vz * b[i].vz;
        e += 0.5 * b[i].mass * v2;
        for (int j = i + 1; j < NB_BODIES; j++) {
            double dx = b[i].x - b[j].x, dy = b[i].y - b[j].y, dz = b[i].z - b[j].z;
            e -= b[i].mass * b[j].mass / __builtin_sqrt(dx * dx + dy * dy + dz * dz + NB_SOFTENING);
        }
    }
    return e;
}

uint64_t bench_run(uint32_t reps)
{
    uint64_t seed = 0x082efa98ec4e6c89ULL, sum = BENCH_HASH_INIT;
    Body *bodies = bench_alloc(NB_BODIES * sizeof(Body));
    nb_init(bodies, &seed);
    for (uint32_t r = 0; r < reps; r++) {
        for (int s = 0; s < NB_STEPS; s++)
            nb_step(bodies);
        sum = bench_mix(sum, bench_dbits(nb_energy(bodies)));
        for (int i = 0; i < NB_BODIES; i++)
            sum = bench_mix(sum, bench_dbits(bodies[i].x) ^ bench_dbits(bodies[i].vy));
    }
    return sum;
}
