/*
 * Helpers for the qcow2 snapshot and check tests: raw access to an image's
 * bytes (to read and patch metadata) and qemu-img as the peer.
 */
#ifndef HOSTEL_TESTS_BLOCK_QCOW2_TEST_UTIL_H
#define HOSTEL_TESTS_BLOCK_QCOW2_TEST_UTIL_H

#include <fcntl.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>

#include "robust.h"

static inline uint64_t tu_be(const uint8_t *p, int n)
{
    uint64_t v = 0;
    for (int i = 0; i < n; i++)
        v = v << 8 | p[i];
    return v;
}

static inline void tu_put_be(uint8_t *p, int n, uint64_t v)
{
    for (int i = n - 1; i >= 0; i--, v >>= 8)
        p[i] = (uint8_t)v;
}

/* Read n (<= 8) big-endian bytes at off of the file. */
static inline uint64_t tu_peek(const char *path, uint64_t off, int n)
{
    uint8_t b[8] = {0};
    int fd = open(path, O_RDONLY);
    if (fd < 0 || pread(fd, b, (size_t)n, (off_t)off) != n) {
        if (fd >= 0)
            close(fd);
        return UINT64_MAX;
    }
    close(fd);
    return tu_be(b, n);
}

static inline bool tu_poke(const char *path, uint64_t off, int n, uint64_t v)
{
    uint8_t b[8];
    tu_put_be(b, n, v);
    int fd = open(path, O_WRONLY);
    bool ok = fd >= 0 && pwrite(fd, b, (size_t)n, (off_t)off) == n;
    if (fd >= 0)
        close(fd);
    return ok;
}

static inline bool tu_poke_bytes(const char *path, uint64_t off, const void *buf, size_t n)
{
    int fd = open(path, O_WRONLY);
    bool ok = fd >= 0 && pwrite(fd, buf, n, (off_t)off) == (ssize_t)n;
    if (fd >= 0)
        close(fd);
    return ok;
}

/* Command output fit for one TAP line: newlines become spaces, at most 160 bytes. */
static inline const char *tu_oneline(const char *s)
{
    static char buf[161];
    size_t i = 0;
    for (; s && s[i] && i < sizeof(buf) - 1; i++)
        buf[i] = s[i] == '\n' || s[i] == '\r' ? ' ' : s[i];
    buf[i] = 0;
    return buf;
}

/* Header fields (byte offsets from the qcow2 spec). */
static inline uint32_t tu_cluster_bits(const char *p)
{
    return (uint32_t)tu_peek(p, 20, 4);
}
static inline uint64_t tu_l1_offset(const char *p)
{
    return tu_peek(p, 40, 8);
}
static inline uint64_t tu_reftable_offset(const char *p)
{
    return tu_peek(p, 48, 8);
}
static inline uint32_t tu_nb_snapshots(const char *p)
{
    return (uint32_t)tu_peek(p, 60, 4);
}
static inline uint64_t tu_snapshots_offset(const char *p)
{
    return tu_peek(p, 64, 8);
}

/* Host offset of the L2 table / data cluster of guest offset g (16-bit refcounts, std L2). */
static inline uint64_t tu_l2_entry_addr(const char *p, uint64_t g)
{
    uint32_t cb = tu_cluster_bits(p);
    uint64_t l2_entries = 1ull << (cb - 3);
    uint64_t l1e = tu_peek(p, tu_l1_offset(p) + 8 * ((g >> cb) / l2_entries), 8);
    return (l1e & 0x00fffffffffffe00ull) + 8 * ((g >> cb) % l2_entries);
}

/* Address of the 16-bit refcount of host cluster idx. */
static inline uint64_t tu_refcount_addr(const char *p, uint64_t idx)
{
    uint32_t cb = tu_cluster_bits(p);
    uint64_t per = 1ull << (cb - 1);
    uint64_t rb = tu_peek(p, tu_reftable_offset(p) + 8 * (idx / per), 8);
    return rb + 2 * (idx % per);
}

/* qemu-img check --output=json counts; returns qemu-img's exit status (-1: no run). */
typedef struct QemuCheck {
    long corruptions, leaks, check_errors;
    unsigned long long image_end, allocated;
} QemuCheck;

static inline long tu_json_num(const char *out, const char *key)
{
    const char *p = strstr(out, key);
    return p ? strtol(p + strlen(key), NULL, 10) : 0;
}

static inline int qemu_check(const char *path, const char *extra, QemuCheck *qc)
{
    static char out[65536];
    int st =
        run_cmd(out, sizeof(out), "qemu-img check %s --output=json '%s'", extra ? extra : "", path);
    memset(qc, 0, sizeof(*qc));
    qc->corruptions = tu_json_num(out, "\"corruptions\": ");
    qc->leaks = tu_json_num(out, "\"leaks\": ");
    qc->check_errors = tu_json_num(out, "\"check-errors\": ");
    qc->image_end = (unsigned long long)tu_json_num(out, "\"image-end-offset\": ");
    qc->allocated = (unsigned long long)tu_json_num(out, "\"allocated-clusters\": ");
    if (st != 0 && st != 2 && st != 3)
        printf("# qemu-img check exit %d: %s\n", st, tu_oneline(out));
    return st;
}

#endif
