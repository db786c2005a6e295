/*
 * qio: a small qemu-io over hostel's block layer, for the interop tests
 * (tests/e2e/test_qcow2_interop.py) and for poking at images by hand.
 *
 *   qio [-f FMT] [-r] IMAGE CMD [CMD...]
 *
 * Each CMD is one argument holding a command and its options, as with
 * qemu-io -c: `qio disk.qcow2 'write -P 0xab 0 64k' 'read -P 0xab 0 64k'`.
 * The image is opened once and the commands run in order; the first one
 * that fails ends the run with one line on stderr and exit status 1
 * (2 for a usage error).  Sizes take k/M/G/T suffixes (powers of 1024).
 *
 * With --create OPTS the image is made first (format -f, default qcow2):
 * OPTS is qemu-img's -o list plus size, e.g.
 * `size=64M,cluster_size=4k,compat=0.10,backing_file=base.qcow2,backing_fmt=qcow2`.
 *
 * `random` is the workhorse of the interop matrix: it applies the same
 * pseudo-random writes, zero-writes and discards to the image and to a raw
 * reference file, so `qemu-img compare IMAGE REF` must report a match.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "block/block.h"

#define QIO_MAX_ARGS 16
#define QIO_CHUNK (1u << 20) /* bytes moved per request by read/write/compare */
#define QIO_SECTOR 512u

typedef struct Qio {
    BlockDev *bd;
    uint8_t *buf, *buf2, *buf3; /* QIO_CHUNK bytes each */
} Qio;

typedef int (*QioCmdFn)(Qio *q, int argc, char **argv, Error *err);

typedef struct QioCmd {
    const char *name;
    QioCmdFn fn;
    const char *usage;
} QioCmd;

/* ------------------------------------------------------------ argument parsing */

/* A size or offset: decimal or 0x hex, optional k/M/G/T suffix. */
static int qio_parse_size(const char *s, uint64_t *out, Error *err)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 0);
    if (errno || end == s || s[0] == '-')
        return error_set(err, "'%s' is not a size", s);
    unsigned shift = 0;
    switch (*end) {
    case 'k':
    case 'K': shift = 10; break;
    case 'm':
    case 'M': shift = 20; break;
    case 'g':
    case 'G': shift = 30; break;
    case 't':
    case 'T': shift = 40; break;
    case 'b':
    case 'B':
    case '\0': break;
    default: return error_set(err, "'%s' is not a size", s);
    }
    if (*end && end[1])
        return error_set(err, "'%s' is not a size", s);
    if (shift && v > (UINT64_MAX >> shift))
        return error_set(err, "'%s' is too large", s);
    *out = (uint64_t)v << shift;
    return 0;
}

static int qio_parse_byte(const char *s, uint8_t *out, Error *err)
{
    uint64_t v;
    if (qio_parse_size(s, &v, err) < 0 || v > 255)
        return error_set(err, "'%s' is not a byte value (0-255)", s);
    *out = (uint8_t)v;
    return 0;
}

/* OFF LEN as the last two arguments, starting at argv[i]. */
static int qio_parse_range(int argc, char **argv, int i, uint64_t *off, uint64_t *len, Error *err)
{
    if (argc - i != 2)
        return error_set(err, "expected OFFSET LENGTH");
    if (qio_parse_size(argv[i], off, err) < 0 || qio_parse_size(argv[i + 1], len, err) < 0)
        return -1;
    return 0;
}

/* Split one command string on blanks, in place. */
static int qio_split(char *line, char **argv)
{
    int argc = 0;
    for (char *tok = strtok(line, " \t"); tok; tok = strtok(NULL, " \t")) {
        if (argc == QIO_MAX_ARGS)
            return -1;
        argv[argc++] = tok;
    }
    return argc;
}

/* ------------------------------------------------------------ data commands */

static uint64_t qio_min(uint64_t a, uint64_t b)
{
    return a < b ? a : b;
}

/* Write [off, off+len) cluster by cluster through the compressed path. */
static int qio_write_compressed(Qio *q, uint64_t off, uint64_t len, uint8_t pat, Error *err)
{
    uint64_t cs = q->bd->cluster_size;
    if (!cs || cs > QIO_CHUNK)
        return error_set(err, "compressed writes need a cluster size up to 1 MiB");
    if (off % cs || (len % cs && off + len != block_length(q->bd)))
        return error_set(err, "compressed writes must cover whole clusters");
    memset(q->buf, pat, (size_t)cs);
    for (uint64_t done = 0; done < len; done += cs) {
        size_t n = (size_t)qio_min(cs, len - done);
        if (block_write_compressed(q->bd, off + done, q->buf, n, err) < 0)
            return -1;
    }
    return 0;
}

static int qio_write_pattern(Qio *q, uint64_t off, uint64_t len, uint8_t pat, Error *err)
{
    memset(q->buf, pat, QIO_CHUNK);
    for (uint64_t done = 0; done < len; done += QIO_CHUNK) {
        size_t n = (size_t)qio_min(QIO_CHUNK, len - done);
        if (block_pwrite(q->bd, off + done, q->buf, n, err) < 0)
            return -1;
    }
    return 0;
}

/* write [-P byte] [-z [-u]] [-c] OFF LEN */
static int qio_cmd_write(Qio *q, int argc, char **argv, Error *err)
{
    uint8_t pat = 0xcd; /* qemu-io's default pattern */
    bool zero = false, unmap = false, compressed = false;
    int i = 1;
    for (; i < argc && argv[i][0] == '-' && argv[i][1]; i++) {
        if (strcmp(argv[i], "-P") == 0 && i + 1 < argc) {
            if (qio_parse_byte(argv[++i], &pat, err) < 0)
                return -1;
        } else if (strcmp(argv[i], "-z") == 0) {
            zero = true;
        } else if (strcmp(argv[i], "-u") == 0) {
            unmap = true;
        } else if (strcmp(argv[i], "-c") == 0) {
            compressed = true;
        } else {
            return error_set(err, "unknown option %s", argv[i]);
        }
    }
    uint64_t off, len;
    if (qio_parse_range(argc, argv, i, &off, &len, err) < 0)
        return -1;
    if (zero && compressed)
        return error_set(err, "-z and -c do not go together");
    if (zero)
        return block_write_zeroes(q->bd, off, len, unmap, err);
    if (compressed)
        return qio_write_compressed(q, off, len, pat, err);
    return qio_write_pattern(q, off, len, pat, err);
}

/* Offset of the first byte of buf[0, n) that is not pat, or n. */
static size_t qio_find_mismatch(const uint8_t *buf, size_t n, uint8_t pat)
{
    for (size_t i = 0; i < n; i++) {
        if (buf[i] != pat)
            return i;
    }
    return n;
}

/* read [-P byte] OFF LEN: read (and with -P check every byte). */
static int qio_cmd_read(Qio *q, int argc, char **argv, Error *err)
{
    uint8_t pat = 0;
    bool verify = false;
    int i = 1;
    if (argc > 2 && strcmp(argv[1], "-P") == 0) {
        if (qio_parse_byte(argv[2], &pat, err) < 0)
            return -1;
        verify = true;
        i = 3;
    }
    uint64_t off, len;
    if (qio_parse_range(argc, argv, i, &off, &len, err) < 0)
        return -1;
    for (uint64_t done = 0; done < len; done += QIO_CHUNK) {
        size_t n = (size_t)qio_min(QIO_CHUNK, len - done);
        if (block_pread(q->bd, off + done, q->buf, n, err) < 0)
            return -1;
        size_t bad = verify ? qio_find_mismatch(q->buf, n, pat) : n;
        if (bad < n)
            return error_set(err, "pattern mismatch at 0x%" PRIx64 ": 0x%02x, expected 0x%02x",
                             off + done + bad, q->buf[bad], pat);
    }
    return 0;
}

static int qio_cmd_discard(Qio *q, int argc, char **argv, Error *err)
{
    uint64_t off, len;
    if (qio_parse_range(argc, argv, 1, &off, &len, err) < 0)
        return -1;
    return block_discard(q->bd, off, len, err);
}

static int qio_cmd_flush(Qio *q, int argc, char **argv, Error *err)
{
    if (argc != 1)
        return error_set(err, "flush takes no arguments");
    return block_flush(q->bd, err);
}

/* resize [+-]SIZE */
static int qio_cmd_resize(Qio *q, int argc, char **argv, Error *err)
{
    if (argc != 2)
        return error_set(err, "expected one size");
    const char *s = argv[1];
    int sign = s[0] == '+' ? 1 : s[0] == '-' ? -1 : 0;
    uint64_t v, len = block_length(q->bd);
    if (qio_parse_size(s + (sign != 0), &v, err) < 0)
        return -1;
    if (sign < 0 && v > len)
        return error_set(err, "cannot shrink by more than the size (%" PRIu64 ")", len);
    uint64_t n = sign > 0 ? len + v : sign < 0 ? len - v : v;
    return block_truncate(q->bd, n, err);
}

/* ------------------------------------------------------------ whole-image commands */

static int qio_open_raw(const char *path, int flags, uint64_t *len, Error *err)
{
    int fd = open(path, flags | O_CLOEXEC, 0644);
    struct stat st;
    if (fd < 0)
        return error_set_errno(err, errno, "%s", path);
    if (fstat(fd, &st) < 0) {
        error_set_errno(err, errno, "%s", path);
        close(fd);
        return -1;
    }
    *len = (uint64_t)st.st_size;
    return fd;
}

static int qio_pread_all(int fd, void *buf, size_t n, uint64_t off, const char *path, Error *err)
{
    for (size_t done = 0; done < n;) {
        ssize_t r = pread(fd, (uint8_t *)buf + done, n - done, (off_t)(off + done));
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return error_set_errno(err, r < 0 ? errno : EIO, "%s: read at 0x%" PRIx64, path,
                                   off + done);
        done += (size_t)r;
    }
    return 0;
}

static int qio_pwrite_all(int fd, const void *buf, size_t n, uint64_t off, const char *path,
                          Error *err)
{
    for (size_t done = 0; done < n;) {
        ssize_t r = pwrite(fd, (const uint8_t *)buf + done, n - done, (off_t)(off + done));
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return error_set_errno(err, r < 0 ? errno : EIO, "%s: write at 0x%" PRIx64, path,
                                   off + done);
        done += (size_t)r;
    }
    return 0;
}

static size_t qio_first_diff(const uint8_t *a, const uint8_t *b, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (a[i] != b[i])
            return i;
    }
    return n;
}

/* compare RAW: the image's whole content must equal the raw file byte for byte. */
static int qio_cmd_compare(Qio *q, int argc, char **argv, Error *err)
{
    if (argc != 2)
        return error_set(err, "expected one raw file");
    uint64_t rlen = 0, len = block_length(q->bd);
    int fd = qio_open_raw(argv[1], O_RDONLY, &rlen, err);
    if (fd < 0)
        return -1;
    int rc = 0;
    if (rlen != len)
        rc = error_set(err, "size differs: image %" PRIu64 ", %s %" PRIu64, len, argv[1], rlen);
    for (uint64_t off = 0; rc == 0 && off < len; off += QIO_CHUNK) {
        size_t n = (size_t)qio_min(QIO_CHUNK, len - off);
        rc = block_pread(q->bd, off, q->buf, n, err);
        if (rc == 0)
            rc = qio_pread_all(fd, q->buf2, n, off, argv[1], err);
        size_t d = rc == 0 ? qio_first_diff(q->buf, q->buf2, n) : n;
        if (d < n)
            rc = error_set(err, "content differs at 0x%" PRIx64 ": image 0x%02x, %s 0x%02x",
                           off + d, q->buf[d], argv[1], q->buf2[d]);
    }
    close(fd);
    return rc;
}

static bool qio_all_zero(const uint8_t *buf, size_t n)
{
    return n == 0 || (buf[0] == 0 && memcmp(buf, buf + 1, n - 1) == 0);
}

/* dump RAW: write the image's content to a new sparse raw file. */
static int qio_cmd_dump(Qio *q, int argc, char **argv, Error *err)
{
    if (argc != 2)
        return error_set(err, "expected one output file");
    uint64_t rlen = 0, len = block_length(q->bd);
    int fd = qio_open_raw(argv[1], O_WRONLY | O_CREAT | O_TRUNC, &rlen, err);
    if (fd < 0)
        return -1;
    int rc = ftruncate(fd, (off_t)len) < 0 ? error_set_errno(err, errno, "%s", argv[1]) : 0;
    for (uint64_t off = 0; rc == 0 && off < len; off += QIO_CHUNK) {
        size_t n = (size_t)qio_min(QIO_CHUNK, len - off);
        rc = block_pread(q->bd, off, q->buf, n, err);
        if (rc == 0 && !qio_all_zero(q->buf, n))
            rc = qio_pwrite_all(fd, q->buf, n, off, argv[1], err);
    }
    if (close(fd) < 0 && rc == 0)
        rc = error_set_errno(err, errno, "%s", argv[1]);
    return rc;
}

/* info: one line of key=value pairs. */
static int qio_cmd_info(Qio *q, int argc, char **argv, Error *err)
{
    unsigned depth = 0;
    for (BlockDev *b = q->bd->backing; b; b = b->backing)
        depth++;
    printf("format=%s length=%" PRIu64 " cluster_size=%u backing_depth=%u\n", q->bd->drv->format,
           block_length(q->bd), q->bd->cluster_size, depth);
    return 0;
}

/* check: the format's consistency check; fails on any corruption, leak or error. */
static int qio_cmd_check(Qio *q, int argc, char **argv, Error *err)
{
    BlockCheckResult r;
    if (block_check(q->bd, &r, 0, err) < 0)
        return -1;
    printf("corruptions=%" PRId64 " leaks=%" PRId64 " check_errors=%" PRId64 "\n", r.corruptions,
           r.leaks, r.check_errors);
    if (r.corruptions || r.leaks || r.check_errors)
        return error_set(err, "image has problems: %s", r.first_problem);
    return 0;
}

/* snapshot -c|-a|-d NAME, snapshot -l */
static int qio_cmd_snapshot(Qio *q, int argc, char **argv, Error *err)
{
    if (argc == 2 && strcmp(argv[1], "-l") == 0) {
        BlockSnapshot *list;
        int n;
        if (block_snapshot_list(q->bd, &list, &n, err) < 0)
            return -1;
        for (int i = 0; i < n; i++)
            printf("%s %s %" PRIu64 "\n", list[i].id, list[i].name, list[i].disk_size);
        block_snapshot_list_free(list, n);
        return 0;
    }
    if (argc != 3)
        return error_set(err, "expected -c|-a|-d NAME or -l");
    const char *op = argv[1], *name = argv[2];
    if (strcmp(op, "-c") == 0) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        BlockSnapshot sn = {.name = (char *)name,
                            .disk_size = block_length(q->bd),
                            .date_sec = (uint32_t)ts.tv_sec,
                            .date_nsec = (uint32_t)ts.tv_nsec,
                            .icount = UINT64_MAX};
        return block_snapshot_create(q->bd, &sn, err);
    }
    if (strcmp(op, "-a") == 0)
        return block_snapshot_apply(q->bd, name, err);
    if (strcmp(op, "-d") == 0)
        return block_snapshot_delete(q->bd, name, err);
    return error_set(err, "unknown option %s", op);
}

/* ------------------------------------------------------------ random */

/* splitmix64: the same SEED gives the same operations on every host. */
static uint64_t qio_rand(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

typedef struct QioRandom {
    Qio *q;
    int ref; /* the raw reference */
    const char *ref_path;
    uint64_t seed;
    bool compressed;    /* -c: some writes go through the compressed path */
    bool loose_discard; /* -l: a discard may also leave the old data */
    bool verbose;       /* -v: print each operation (to find the one that breaks) */
    uint64_t counts[4]; /* writes, zero-writes, discards, compressed writes */
} QioRandom;

static void qio_random_log(const QioRandom *r, const char *op, uint64_t off, uint64_t len)
{
    if (r->verbose)
        printf("%s 0x%" PRIx64 " 0x%" PRIx64 "\n", op, off, len);
}

/* A random request: sectors mostly, bytes sometimes, small mostly, large sometimes. */
static void qio_random_range(QioRandom *r, uint64_t *off, uint64_t *len)
{
    static const uint64_t max_len[] = {4096, 65536, 262144, QIO_CHUNK};
    uint64_t size = block_length(r->q->bd);
    uint64_t gran = qio_rand(&r->seed) % 4 == 0 ? 1 : QIO_SECTOR;
    uint64_t n = 1 + qio_rand(&r->seed) % qio_min(max_len[qio_rand(&r->seed) % 4], size);
    n = (n + gran - 1) / gran * gran;
    if (n > size)
        n = size;
    uint64_t o = qio_rand(&r->seed) % (size - n + 1);
    *off = o / gran * gran;
    *len = n;
}

static int qio_random_write(QioRandom *r, uint64_t off, uint64_t len, Error *err)
{
    uint8_t *buf = r->q->buf;
    for (uint64_t i = 0; i < len; i += 8) {
        uint64_t v = qio_rand(&r->seed);
        memcpy(buf + i, &v, (size_t)qio_min(8, len - i));
    }
    r->counts[0]++;
    if (block_pwrite(r->q->bd, off, buf, (size_t)len, err) < 0)
        return -1;
    return qio_pwrite_all(r->ref, buf, (size_t)len, off, r->ref_path, err);
}

static int qio_random_zero(QioRandom *r, uint64_t off, uint64_t len, Error *err)
{
    bool unmap = qio_rand(&r->seed) & 1;
    r->counts[1]++;
    qio_random_log(r, unmap ? "zero-unmap" : "zero", off, len);
    if (block_write_zeroes(r->q->bd, off, len, unmap, err) < 0)
        return -1;
    memset(r->q->buf, 0, (size_t)len);
    return qio_pwrite_all(r->ref, r->q->buf, (size_t)len, off, r->ref_path, err);
}

/* What the backing chain holds under [off, off+len) (zeroes past its end). */
static int qio_backing_read(BlockDev *bd, uint64_t off, uint8_t *buf, size_t len, Error *err)
{
    memset(buf, 0, len);
    BlockDev *b = bd->backing;
    if (!b || off >= block_length(b))
        return 0;
    return block_pread(b, off, buf, (size_t)qio_min(len, block_length(b) - off), err);
}

/*
 * A discard leaves zeroes or the backing file's data (block.h); with -l the
 * old data is accepted too, as QEMU does for parts of clusters.  Each
 * sector must be one of these as a whole; the reference takes what the
 * image now reads.
 */
static int qio_random_discard(QioRandom *r, uint64_t off, uint64_t len, Error *err)
{
    uint8_t *now = r->q->buf, *under = r->q->buf2;
    r->counts[2]++;
    if (block_discard(r->q->bd, off, len, err) < 0 ||
        block_pread(r->q->bd, off, now, (size_t)len, err) < 0 ||
        qio_backing_read(r->q->bd, off, under, (size_t)len, err) < 0)
        return -1;
    uint8_t *old = r->q->buf3;
    if (qio_pread_all(r->ref, old, (size_t)len, off, r->ref_path, err) < 0)
        return -1;
    for (uint64_t s = 0; s < len; s += QIO_SECTOR) {
        size_t n = (size_t)qio_min(QIO_SECTOR, len - s);
        if (qio_all_zero(now + s, n) || memcmp(now + s, under + s, n) == 0 ||
            (r->loose_discard && memcmp(now + s, old + s, n) == 0))
            continue;
        return error_set(err,
                         "after discard 0x%" PRIx64 "+0x%" PRIx64 ", 0x%" PRIx64
                         " reads neither zeroes nor the backing file's data%s",
                         off, len, off + s, r->loose_discard ? " nor the old data" : "");
    }
    return qio_pwrite_all(r->ref, now, (size_t)len, off, r->ref_path, err);
}

/* One whole cluster of random (half compressible) data through the compressed path. */
static int qio_random_compressed(QioRandom *r, Error *err)
{
    BlockDev *bd = r->q->bd;
    uint64_t cs = bd->cluster_size, size = block_length(bd);
    uint64_t off = qio_rand(&r->seed) % ((size + cs - 1) / cs) * cs;
    uint64_t len = qio_min(cs, size - off);
    uint8_t *buf = r->q->buf;
    for (uint64_t i = 0; i < len; i += 8) {
        uint64_t v = i % 16 ? 0x0101010101010101ull * (i / 4096) : qio_rand(&r->seed);
        memcpy(buf + i, &v, (size_t)qio_min(8, len - i));
    }
    r->counts[3]++;
    qio_random_log(r, "compressed", off, len);
    if (block_write_compressed(bd, off, buf, (size_t)len, err) < 0)
        return -1;
    return qio_pwrite_all(r->ref, buf, (size_t)len, off, r->ref_path, err);
}

static int qio_random_one(QioRandom *r, Error *err)
{
    uint64_t kind = qio_rand(&r->seed) % 100, off, len;
    uint64_t cs = r->q->bd->cluster_size;
    if (r->compressed && kind >= 90 && cs && cs <= QIO_CHUNK)
        return qio_random_compressed(r, err);
    qio_random_range(r, &off, &len);
    if (kind < 60 || kind >= 90) {
        qio_random_log(r, "write", off, len);
        return qio_random_write(r, off, len, err);
    }
    if (kind < 75)
        return qio_random_zero(r, off, len, err);
    qio_random_log(r, "discard", off, len);
    return qio_random_discard(r, off, len, err);
}

/* random [-c] [-l] [-v] SEED COUNT REFRAW */
static int qio_cmd_random(Qio *q, int argc, char **argv, Error *err)
{
    QioRandom r = {.q = q};
    int i = 1;
    for (; i < argc && argv[i][0] == '-'; i++) {
        if (strcmp(argv[i], "-c") == 0)
            r.compressed = true;
        else if (strcmp(argv[i], "-l") == 0)
            r.loose_discard = true;
        else if (strcmp(argv[i], "-v") == 0)
            r.verbose = true;
        else
            return error_set(err, "unknown option %s", argv[i]);
    }
    uint64_t count, rlen = 0, len = block_length(q->bd);
    if (argc - i != 3)
        return error_set(err, "expected SEED COUNT REFRAW");
    if (qio_parse_size(argv[i], &r.seed, err) < 0 || qio_parse_size(argv[i + 1], &count, err) < 0)
        return -1;
    r.ref_path = argv[i + 2];
    if (len == 0)
        return error_set(err, "the image is empty");
    r.ref = qio_open_raw(r.ref_path, O_RDWR, &rlen, err);
    if (r.ref < 0)
        return -1;
    int rc = 0;
    if (rlen != len)
        rc = error_set(err, "%s has %" PRIu64 " bytes, the image %" PRIu64, r.ref_path, rlen, len);
    for (uint64_t n = 0; rc == 0 && n < count; n++)
        rc = qio_random_one(&r, err);
    if (close(r.ref) < 0 && rc == 0)
        rc = error_set_errno(err, errno, "%s", r.ref_path);
    if (rc == 0)
        printf("random: %" PRIu64 " writes, %" PRIu64 " zero-writes, %" PRIu64 " discards, %" PRIu64
               " compressed\n",
               r.counts[0], r.counts[1], r.counts[2], r.counts[3]);
    return rc;
}

/* ------------------------------------------------------------ --create */

static int qio_create_bool(const char *v, bool *out, Error *err)
{
    if (strcmp(v, "on") == 0 || strcmp(v, "true") == 0)
        *out = true;
    else if (strcmp(v, "off") == 0 || strcmp(v, "false") == 0)
        *out = false;
    else
        return error_set(err, "'%s' is not on/off", v);
    return 0;
}

static int qio_create_compat(const char *v, int *out, Error *err)
{
    if (strcmp(v, "0.10") == 0 || strcmp(v, "v2") == 0)
        *out = 2;
    else if (strcmp(v, "1.1") == 0 || strcmp(v, "v3") == 0)
        *out = 3;
    else
        return error_set(err, "compat must be 0.10 or 1.1, not '%s'", v);
    return 0;
}

/* One key=value of --create. */
static int qio_create_opt(BlockCreateOpts *o, const char *key, char *v, Error *err)
{
    uint64_t n;
    if (strcmp(key, "size") == 0)
        return qio_parse_size(v, &o->size, err);
    if (strcmp(key, "cluster_size") == 0 || strcmp(key, "refcount_bits") == 0) {
        if (qio_parse_size(v, &n, err) < 0)
            return -1;
        if (n > UINT32_MAX)
            return error_set(err, "%s=%s is too large", key, v);
        if (key[0] == 'c')
            o->cluster_size = (uint32_t)n;
        else
            o->refcount_bits = (unsigned)n;
        return 0;
    }
    if (strcmp(key, "compat") == 0)
        return qio_create_compat(v, &o->compat, err);
    if (strcmp(key, "lazy_refcounts") == 0)
        return qio_create_bool(v, &o->lazy_refcounts, err);
    if (strcmp(key, "extended_l2") == 0)
        return qio_create_bool(v, &o->extended_l2, err);
    if (strcmp(key, "backing_file") == 0)
        o->backing_file = v;
    else if (strcmp(key, "backing_fmt") == 0)
        o->backing_fmt = v;
    else if (strcmp(key, "compression_type") == 0)
        o->compression_type = v;
    else if (strcmp(key, "preallocation") == 0)
        o->preallocation = v;
    else
        return error_set(err, "unknown creation option '%s'", key);
    return 0;
}

/* --create k=v,k=v: make the image (opts is modified in place). */
static int qio_create(const char *path, const char *format, char *opts, Error *err)
{
    BlockCreateOpts o = {0};
    for (char *kv = strtok(opts, ","); kv; kv = strtok(NULL, ",")) {
        char *eq = strchr(kv, '=');
        if (!eq)
            return error_set(err, "creation option '%s' is not KEY=VALUE", kv);
        *eq = '\0';
        if (qio_create_opt(&o, kv, eq + 1, err) < 0)
            return -1;
    }
    return block_create(path, format ? format : "qcow2", &o, err);
}

/* ------------------------------------------------------------ main */

static const QioCmd qio_cmds[] = {
    {"write", qio_cmd_write, "write [-P BYTE] [-z [-u]] [-c] OFF LEN"},
    {"read", qio_cmd_read, "read [-P BYTE] OFF LEN"},
    {"discard", qio_cmd_discard, "discard OFF LEN"},
    {"flush", qio_cmd_flush, "flush"},
    {"resize", qio_cmd_resize, "resize [+-]SIZE"},
    {"snapshot", qio_cmd_snapshot, "snapshot -c|-a|-d NAME | -l"},
    {"random", qio_cmd_random, "random [-c] [-l] [-v] SEED COUNT REFRAW"},
    {"compare", qio_cmd_compare, "compare RAWFILE"},
    {"dump", qio_cmd_dump, "dump RAWFILE"},
    {"info", qio_cmd_info, "info"},
    {"check", qio_cmd_check, "check"},
};

static void qio_usage(FILE *out)
{
    fprintf(out, "usage: qio [-f FMT] [-r] [--create KEY=VAL,...] IMAGE [CMD...]\n"
                 "commands:\n");
    for (size_t i = 0; i < sizeof(qio_cmds) / sizeof(qio_cmds[0]); i++)
        fprintf(out, "  %s\n", qio_cmds[i].usage);
}

static int qio_run(Qio *q, const char *text, Error *err)
{
    char line[1024], *argv[QIO_MAX_ARGS];
    if (snprintf(line, sizeof(line), "%s", text) >= (int)sizeof(line))
        return error_set(err, "command too long");
    int argc = qio_split(line, argv);
    if (argc <= 0)
        return error_set(err, argc < 0 ? "too many arguments" : "empty command");
    for (size_t i = 0; i < sizeof(qio_cmds) / sizeof(qio_cmds[0]); i++) {
        if (strcmp(argv[0], qio_cmds[i].name) == 0)
            return qio_cmds[i].fn(q, argc, argv, err);
    }
    return error_set(err, "unknown command '%s'", argv[0]);
}

int main(int argc, char **argv)
{
    BlockOpenOpts o = {0};
    char *create = NULL;
    int i = 1;
    for (; i < argc && argv[i][0] == '-'; i++) {
        if (strcmp(argv[i], "-f") == 0 && i + 1 < argc) {
            o.format = argv[++i];
        } else if (strcmp(argv[i], "--create") == 0 && i + 1 < argc) {
            create = argv[++i];
        } else if (strcmp(argv[i], "-r") == 0) {
            o.read_only = true;
        } else {
            qio_usage(strcmp(argv[i], "-h") == 0 ? stdout : stderr);
            return strcmp(argv[i], "-h") == 0 ? 0 : 2;
        }
    }
    if (argc - i < (create ? 1 : 2)) {
        qio_usage(stderr);
        return 2;
    }
    Error err = {0};
    if (create && qio_create(argv[i], o.format, create, &err) < 0) {
        fprintf(stderr, "qio: %s: %s\n", argv[i], err.msg);
        return 1;
    }
    Qio q = {.buf = malloc(QIO_CHUNK), .buf2 = malloc(QIO_CHUNK), .buf3 = malloc(QIO_CHUNK)};
    if (!q.buf || !q.buf2 || !q.buf3) {
        fprintf(stderr, "qio: out of memory\n");
        return 1;
    }
    const char *path = argv[i++];
    q.bd = block_open_opts(path, &o, &err);
    int rc = q.bd ? 0 : 1;
    if (!q.bd)
        fprintf(stderr, "qio: %s\n", err.msg);
    for (; rc == 0 && i < argc; i++) {
        if (qio_run(&q, argv[i], &err) < 0) {
            fprintf(stderr, "qio: %s: %s: %s\n", path, argv[i], err.msg);
            rc = 1;
        }
    }
    if (rc == 0 && block_flush(q.bd, &err) < 0) {
        fprintf(stderr, "qio: %s: flush: %s\n", path, err.msg);
        rc = 1;
    }
    block_close(q.bd);
    free(q.buf);
    free(q.buf2);
    free(q.buf3);
    return rc;
}
