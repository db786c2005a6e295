/*
 * Helpers shared by the randomized block tests (test_block_model.c,
 * test_qcow2_crash.c): a seeded PRNG, a scratch directory, and running
 * qemu-img as the conformance peer when it is installed.
 */
#ifndef HOSTEL_TESTS_BLOCK_ROBUST_H
#define HOSTEL_TESTS_BLOCK_ROBUST_H

#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

typedef struct Rng {
    uint64_t s;
} Rng;

/* splitmix64: tiny, and a seed fully determines the sequence. */
static inline uint64_t rng_u64(Rng *r)
{
    uint64_t z = (r->s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

/* Uniform in [0, n) (n > 0). */
static inline uint64_t rng_below(Rng *r, uint64_t n)
{
    return rng_u64(r) % n;
}

static inline void rng_fill(Rng *r, uint8_t *buf, size_t len)
{
    size_t i = 0;
    for (; i + 8 <= len; i += 8) {
        uint64_t v = rng_u64(r);
        memcpy(buf + i, &v, 8);
    }
    if (i < len) {
        uint64_t v = rng_u64(r);
        memcpy(buf + i, &v, len - i);
    }
}

/*
 * A fresh scratch directory under $TMPDIR, else /dev/shm (tmpfs: the tests
 * flush often, and a flush to a real disk costs milliseconds), else /tmp.
 * Returns a malloc'd path, NULL on failure.
 */
static inline char *scratch_dir(const char *tag)
{
    const char *tmp = getenv("TMPDIR");
    char *dir = NULL;
    if (!tmp || !*tmp)
        tmp = access("/dev/shm", W_OK | X_OK) == 0 ? "/dev/shm" : "/tmp";
    if (asprintf(&dir, "%s/hostel-%s.XXXXXX", tmp, tag) < 0)
        return NULL;
    if (!mkdtemp(dir)) {
        free(dir);
        return NULL;
    }
    return dir;
}

/* rm -rf dir (a scratch directory of ours). */
static inline void scratch_remove(const char *dir)
{
    char *cmd = NULL;
    if (asprintf(&cmd, "rm -rf '%s'", dir) >= 0 && system(cmd) != 0)
        fprintf(stderr, "# could not remove %s\n", dir);
    free(cmd);
}

static inline bool have_qemu_img(void)
{
    return system("qemu-img --version >/dev/null 2>&1") == 0;
}

/*
 * Run a shell command, capture its output (stdout + stderr) in out (at
 * most outlen - 1 bytes, NUL-terminated).  Returns the exit status, or -1
 * if it could not run or died on a signal.
 */
static inline int run_cmd(char *out, size_t outlen, const char *fmt, ...)
{
    char *cmd = NULL;
    va_list ap;
    va_start(ap, fmt);
    int n = vasprintf(&cmd, fmt, ap);
    va_end(ap);
    if (n < 0)
        return -1;
    char *full = NULL;
    n = asprintf(&full, "%s 2>&1", cmd);
    free(cmd);
    if (n < 0)
        return -1;
    FILE *p = popen(full, "r");
    free(full);
    if (!p)
        return -1;
    size_t got = 0;
    char sink[4096];
    for (;;) {
        char *dst = got + 1 < outlen ? out + got : sink;
        size_t room = got + 1 < outlen ? outlen - 1 - got : sizeof(sink);
        size_t r = fread(dst, 1, room, p);
        if (r == 0)
            break;
        if (dst != sink)
            got += r;
    }
    if (outlen)
        out[got] = 0;
    int st = pclose(p);
    return st >= 0 && WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

#endif
