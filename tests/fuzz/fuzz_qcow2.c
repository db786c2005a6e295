/*
 * libFuzzer target for the qcow2 open and read path: the input is an image
 * held in memory (a mem_file, so nothing touches the filesystem), opened
 * read-only with no backing chain (a backing file named in the header
 * must not be opened), then
 *   - every cluster of the first FUZZ_READ_CAP bytes is read, plus a
 *     cluster in the middle and at the end of the disk (an image claiming
 *     a 1 PiB disk must not make us read it all);
 *   - block_status walks the same range: an extent said to read as zeroes
 *     (zero flag, or unallocated with no backing file) must have read as
 *     zeroes;
 *   - info, the snapshot list and check (no repair) run;
 *   - for inputs of odd length, the image is also opened for writing on a
 *     copy (growth capped at FUZZ_GROW): a few writes, write-zeroes, a
 *     discard, a flush, then check with repair, as `hostel img check -r
 *     all` would on a damaged image.
 * A failure must come with an error message; a malformed image must never
 * crash, read or write out of bounds (ASan) or allocate without bound
 * (libFuzzer's -malloc_limit_mb).
 *
 * Large cluster sizes make images of mostly zeroes, so an input may also
 * be sparse: "HSPZ" then records {u64 offset, u16 length, bytes} laid
 * over zeroes (tests/fuzz/gen_qcow2_corpus.py writes such seeds).
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../block/mem_file.h"
#include "block/block.h"

#define FUZZ_READ_CAP (4u << 20) /* bytes of the disk read from its start */
#define FUZZ_CHUNK (64u << 10)
#define FUZZ_SPARSE_MAX (40ull << 20) /* largest image a sparse input expands to */
#define FUZZ_STATUS_STEPS 256
#define FUZZ_GROW (8u << 20) /* bytes a writable image may grow by */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(int cond)
{
    if (!cond)
        __builtin_trap();
}

static uint64_t le64(const uint8_t *p)
{
    uint64_t v;
    memcpy(&v, p, 8);
    return v;
}

/* Expand a sparse input into a MemStore (NULL if malformed: the input is skipped). */
static MemStore *sparse_store(const uint8_t *d, size_t n)
{
    uint64_t end = 0;
    size_t i = 4;
    while (i + 10 <= n) { /* first pass: the image's length */
        uint64_t off = le64(d + i);
        size_t len = (size_t)d[i + 8] | (size_t)d[i + 9] << 8;
        if (len > n - i - 10 || off > FUZZ_SPARSE_MAX - len)
            return NULL;
        if (off + len > end)
            end = off + len;
        i += 10 + len;
    }
    uint8_t *img = calloc(1, end ? (size_t)end : 1);
    if (!img)
        return NULL;
    for (i = 4; i + 10 <= n;) {
        uint64_t off = le64(d + i);
        size_t len = (size_t)d[i + 8] | (size_t)d[i + 9] << 8;
        memcpy(img + off, d + i + 10, len);
        i += 10 + len;
    }
    MemStore *s = mem_store_new(img, (size_t)end, end);
    free(img);
    return s;
}

/* memcmp, not a byte loop: coverage instrumentation makes every compare in a loop cost. */
static bool all_zero(const uint8_t *p, uint64_t n)
{
    static const uint8_t zero[FUZZ_CHUNK];
    for (uint64_t off = 0; off < n; off += FUZZ_CHUNK) {
        uint64_t k = n - off < FUZZ_CHUNK ? n - off : FUZZ_CHUNK;
        if (memcmp(p + off, zero, k) != 0)
            return false;
    }
    return true;
}

/* Read the disk's first `len` bytes into buf; false if any read failed. */
static bool read_head(BlockDev *bd, uint8_t *buf, uint64_t len)
{
    bool all = true;
    for (uint64_t off = 0; off < len; off += FUZZ_CHUNK) {
        Error err = {0};
        uint64_t n = len - off < FUZZ_CHUNK ? len - off : FUZZ_CHUNK;
        if (block_pread(bd, off, buf + off, n, &err) < 0) {
            check(err.msg[0] != 0);
            all = false;
        }
    }
    return all;
}

/* A read in the middle and at the end of the disk, wherever they are. */
static void read_far(BlockDev *bd)
{
    static uint8_t buf[FUZZ_CHUNK];
    uint64_t len = block_length(bd);
    uint64_t at[2] = {len / 2, len > FUZZ_CHUNK ? len - FUZZ_CHUNK : 0};
    for (int i = 0; i < 2; i++) {
        Error err = {0};
        uint64_t n = len - at[i] < FUZZ_CHUNK ? len - at[i] : FUZZ_CHUNK;
        if (n && block_pread(bd, at[i], buf, n, &err) < 0)
            check(err.msg[0] != 0);
    }
}

/* Extents that status says read as zeroes must have read as zeroes. */
static void walk_status(BlockDev *bd, const uint8_t *head, uint64_t len, bool head_ok)
{
    uint64_t off = 0;
    for (int i = 0; i < FUZZ_STATUS_STEPS && off < len; i++) {
        uint64_t pnum, host;
        unsigned flags;
        Error err = {0};
        if (block_status(bd, off, len - off, &pnum, &flags, &host, &err) < 0) {
            check(err.msg[0] != 0);
            return;
        }
        check(pnum > 0 && pnum <= len - off);
        bool zero = (flags & BLOCK_ST_ZERO) || (!(flags & BLOCK_ST_ALLOCATED) && !bd->backing);
        if (head_ok && zero)
            check(all_zero(head + off, pnum));
        off += pnum;
    }
}

static void inspect(BlockDev *bd)
{
    static uint8_t head[FUZZ_READ_CAP];
    Error err = {0};
    uint64_t len = block_length(bd) < FUZZ_READ_CAP ? block_length(bd) : FUZZ_READ_CAP;
    bool head_ok = read_head(bd, head, len);
    read_far(bd);
    walk_status(bd, head, len, head_ok);

    BlockInfo info;
    if (block_info(bd, &info, &err) == 0)
        block_info_free(&info);
    BlockSnapshot *list;
    int count;
    if (block_snapshot_list(bd, &list, &count, &err) == 0) {
        check(count >= 0 && (count == 0 || list));
        block_snapshot_list_free(list, count);
    }
    BlockCheckResult res;
    if (block_check(bd, &res, 0, &err) == 0)
        check(res.corruptions >= 0 && res.leaks >= 0);
}

/* Writes at both ends of the first clusters and in the middle of the disk. */
static void write_some(BlockDev *bd)
{
    static uint8_t buf[8192];
    Error err = {0};
    uint64_t len = block_length(bd);
    uint64_t at[3] = {0, bd->cluster_size ? bd->cluster_size - 512 : 4096, len / 2};
    memset(buf, 0x5a, sizeof(buf));
    for (int i = 0; i < 3; i++) {
        uint64_t n = at[i] < len ? (len - at[i] < sizeof(buf) ? len - at[i] : sizeof(buf)) : 0;
        if (n && block_pwrite(bd, at[i], buf, n, &err) < 0)
            check(err.msg[0] != 0);
    }
    if (len > 3 * 65536) {
        if (block_write_zeroes(bd, 65536, 65536, true, &err) < 0)
            check(err.msg[0] != 0);
        if (block_discard(bd, 2 * 65536, 65536, &err) < 0)
            check(err.msg[0] != 0);
    }
    if (block_flush(bd, &err) < 0)
        check(err.msg[0] != 0);
}

static void write_phase(MemStore *ro)
{
    size_t len;
    const uint8_t *img = mem_store_data(ro, &len);
    MemStore *s = mem_store_new(img, len, (uint64_t)len + FUZZ_GROW);
    BlockFile *f = s ? mem_file_open(s, "fuzz-rw.qcow2", false) : NULL;
    mem_store_unref(s);
    if (!f)
        return;
    BlockOpenOpts o = {.format = "qcow2", .no_backing = true, .l2_cache_bytes = 64 << 10};
    Error err = {0};
    BlockDev *bd = block_open_file(f, &o, &err);
    if (!bd) {
        check(err.msg[0] != 0);
        return;
    }
    write_some(bd);
    BlockCheckResult res;
    if (block_check(bd, &res, BLOCK_FIX_LEAKS | BLOCK_FIX_ERRORS, &err) < 0)
        check(err.msg[0] != 0);
    block_close(bd);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    MemStore *s = size >= 4 && memcmp(data, "HSPZ", 4) == 0 ? sparse_store(data, size)
                                                            : mem_store_new(data, size, size);
    if (!s)
        return 0;
    BlockFile *f = mem_file_open(s, "fuzz.qcow2", true);
    if (!f) {
        mem_store_unref(s);
        return 0;
    }
    BlockOpenOpts o = {.format = "qcow2",
                       .read_only = true,
                       .no_backing = true,
                       .no_lock = true,
                       .l2_cache_bytes = 64 << 10};
    Error err = {0};
    BlockDev *bd = block_open_file(f, &o, &err);
    if (!bd) {
        check(err.msg[0] != 0 && !strchr(err.msg, '\n'));
        mem_store_unref(s);
        return 0;
    }
    check(bd->read_only && !bd->backing);
    inspect(bd);
    block_close(bd);
    if ((size & 1) && block_qcow2_driver.writev)
        write_phase(s);
    mem_store_unref(s);
    return 0;
}
