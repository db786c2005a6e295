/*
 * Workload "raytrace": single-precision ray/sphere intersection, one ray
 * per pixel of a 96x64 image against 16 spheres, the camera moving a little
 * each repetition.  Uses fmaf (fmadd.s/fnmsub.s), sqrtf, fdiv.s, float
 * compares and float->int conversion.  The checksum holds the exact bits
 * of every hit distance, so any rounding difference fails the run.
 */
#include "bench.h"

#define RT_W 96
#define RT_H 64
#define RT_SPHERES 16
#define RT_FAR 1e30f

const uint32_t bench_reps = 120;

typedef struct Sphere {
    float cx, cy, cz, r2;
} Sphere;

typedef struct Vec3 {
    float x, y, z;
} Vec3;

static float rt_uniform(uint64_t *seed, float lo, float hi)
{
    return lo + (hi - lo) * ((float)(bench_rand(seed) >> 40) * 0x1p-24f);
}

static void rt_scene(Sphere *s, uint64_t *seed)
{
    for (int i = 0; i < RT_SPHERES; i++) {
        s[i].cx = rt_uniform(seed, -3, 3), s[i].cy = rt_uniform(seed, -2, 2);
        s[i].cz = rt_uniform(seed, 2, 10);
        float r = rt_uniform(seed, 0.2f, 1.0f);
        s[i].r2 = r * r;
    }
}

static float rt_dot(Vec3 a, Vec3 b)
{
    return __builtin_fmaf(a.x, b.x, __builtin_fmaf(a.y, b.y, a.z * b.z));
}

/* Distance along unit direction d from o to the nearest sphere hit; RT_FAR if none. */
static float rt_trace(const Sphere *s, Vec3 o, Vec3 d)
{
    float best = RT_FAR;
    for (int i = 0; i < RT_SPHERES; i++) {
        Vec3 l = {s[i].cx - o.x, s[i].cy - o.y, s[i].cz - o.z};
        float tca = rt_dot(l, d);
        float d2 = __builtin_fmaf(-tca, tca, rt_dot(l, l));
        if (d2 > s[i].r2)
            continue;
        float t = tca - __builtin_sqrtf(s[i].r2 - d2);
        if (t > 0 && t < best)
            best = t;
    }
    return best;
}

/* Unit direction through pixel (px, py) of the image plane at z = 1. */
static Vec3 rt_direction(int px, int py)
{
    Vec3 d = {(float)(px - RT_W / 2) / RT_W, (float)(py - RT_H / 2) / RT_H, 1.0f};
    float inv = 1.0f / __builtin_sqrtf(rt_dot(d, d));
    d.x *= inv, d.y *= inv, d.z *= inv;
    return d;
}

static uint64_t rt_frame(const Sphere *s, Vec3 eye)
{
    uint64_t h = BENCH_HASH_INIT;
    for (int py = 0; py < RT_H; py++) {
        uint32_t row = 0;
        for (int px = 0; px < RT_W; px++) {
            float t = rt_trace(s, eye, rt_direction(px, py));
            row = row * 33 + bench_fbits(t) + (uint32_t)(int32_t)(t < RT_FAR ? t * 256.0f : -1.0f);
        }
        h = bench_mix(h, row);
    }
    return h;
}

uint64_t bench_run(uint32_t reps)
{
    uint64_t seed = 0xc0ac29b7c97c50ddULL, sum = BENCH_HASH_INIT;
    Sphere *spheres = bench_alloc(RT_SPHERES * sizeof(Sphere));
    rt_scene(spheres, &seed);
    for (uint32_t r = 0; r < reps; r++) {
        Vec3 eye = {(float)(r % 32) * 0.03125f - 0.5f, (float)(r % 7) * 0.1f - 0.3f, 0.0f};
        sum = bench_mix(sum, rt_frame(spheres, eye));
    }
    return sum;
}
