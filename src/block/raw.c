/*
 * Raw images: the guest's disk is the file (or host block device) byte for
 * byte.  Reads and writes are preadv/pwritev, flush is fdatasync, discard
 * punches holes and write-zeroes uses fallocate, each falling back to
 * something every filesystem supports when the call is refused.
 */
#include "block/block.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/compiler.h"

#define RAW_ZERO_CHUNK 65536

typedef struct RawImage {
    BlockDev bd;
    int fd;
    bool no_punch;       /* the filesystem refused FALLOC_FL_PUNCH_HOLE */
    bool no_zero_range;  /* ... and FALLOC_FL_ZERO_RANGE */
} RawImage;

static uint8_t raw_zeroes[RAW_ZERO_CHUNK];  /* never written */

static RawImage *raw_of(BlockDev *bd)
{
    return container_of(bd, RawImage, bd);
}

/* Open, check the file type, lock.  Returns the fd or -1 with err filled. */
static int raw_open_fd(const char *path, bool read_only, Error *err)
{
    int fd = open(path, (read_only ? O_RDONLY : O_RDWR) | O_CLOEXEC);
    if (fd < 0)
        return error_set_errno(err, errno, "%s: cannot open the disk image%s", path,
                               read_only ? "" : " for writing");
    struct stat st;
    if (fstat(fd, &st) < 0 || !(S_ISREG(st.st_mode) || S_ISBLK(st.st_mode))) {
        close(fd);
        return error_set(err, "%s: not a regular file or block device", path);
    }
    if (block_lock_fd(fd, !read_only, path, err) < 0) {
        close(fd);
        return -1;
    }
    return fd;
}

static BlockDev *raw_open(const char *path, bool read_only, Error *err)
{
    int fd = raw_open_fd(path, read_only, err);
    if (fd < 0)
        return NULL;
    off_t end = lseek(fd, 0, SEEK_END);
    RawImage *r = end < 0 ? NULL : calloc(1, sizeof(*r));
    if (!r) {
        if (end < 0)
            error_set_errno(err, errno, "%s: cannot get the image size", path);
        else
            error_set(err, "out of memory opening %s", path);
        close(fd);
        return NULL;
    }
    r->bd = (BlockDev){.drv = &block_raw_driver, .read_only = read_only,
                       .length = (uint64_t)end};
    r->fd = fd;
    return &r->bd;
}

static void raw_close(BlockDev *bd)
{
    RawImage *r = raw_of(bd);
    close(r->fd);
    free(r);
}

/* Drop the first n bytes of the iovec array *iov / *cnt (n <= its total). */
static void iov_advance(struct iovec **iov, int *cnt, size_t n)
{
    while (*cnt > 0 && n >= (*iov)->iov_len) {
        n -= (*iov)->iov_len;
        (*iov)++;
        (*cnt)--;
    }
    if (*cnt > 0 && n) {
        (*iov)->iov_base = (uint8_t *)(*iov)->iov_base + n;
        (*iov)->iov_len -= n;
    }
}

/* preadv/pwritev until the whole iov moved, retrying short transfers and EINTR. */
static int raw_rw(RawImage *r, uint64_t offset, const struct iovec *iov, int iovcnt,
                  bool write, Error *err)
{
    struct iovec local[BLOCK_MAX_IOV];  /* iovcnt <= BLOCK_MAX_IOV: checked by block.c */
    memcpy(local, iov, sizeof(*iov) * (size_t)iovcnt);
    struct iovec *cur = local;
    int cnt = iovcnt;
    for (;;) {
        iov_advance(&cur, &cnt, 0);  /* skip empty buffers */
        if (cnt == 0)
            return 0;
        ssize_t n = write ? pwritev(r->fd, cur, cnt, (off_t)offset)
                          : preadv(r->fd, cur, cnt, (off_t)offset);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return error_set_errno(err, n < 0 ? errno : EIO, "%s at 0x%llx failed",
                                   write ? "write" : "read", (unsigned long long)offset);
        offset += (uint64_t)n;
        iov_advance(&cur, &cnt, (size_t)n);
    }
}

static int raw_readv(BlockDev *bd, uint64_t offset, const struct iovec *iov, int iovcnt,
                     Error *err)
{
    return raw_rw(raw_of(bd), offset, iov, iovcnt, false, err);
}

static int raw_writev(BlockDev *bd, uint64_t offset, const struct iovec *iov, int iovcnt,
                      Error *err)
{
    return raw_rw(raw_of(bd), offset, iov, iovcnt, true, err);
}

static int raw_flush(BlockDev *bd, Error *err)
{
    while (fdatasync(raw_of(bd)->fd) < 0) {
        if (errno != EINTR)
            return error_set_errno(err, errno, "flush failed");
    }
    return 0;
}

static bool errno_unsupported(int e)
{
    return e == EOPNOTSUPP || e == ENOSYS || e == EINVAL || e == ENODEV || e == ENOTTY;
}

/* fallocate(mode); 1 = done, 0 = unsupported here (remembered in *unsupported), -1 = error. */
static int raw_fallocate(RawImage *r, int mode, uint64_t offset, uint64_t len,
                         bool *unsupported, Error *err)
{
    if (*unsupported)
        return 0;
    int rc;
    while ((rc = fallocate(r->fd, mode | FALLOC_FL_KEEP_SIZE, (off_t)offset, (off_t)len)) < 0 &&
           errno == EINTR)
        continue;
    if (rc == 0)
        return 1;
    if (errno_unsupported(errno)) {
        *unsupported = true;
        return 0;
    }
    return error_set_errno(err, errno, "fallocate at 0x%llx failed", (unsigned long long)offset);
}

static int raw_discard(BlockDev *bd, uint64_t offset, uint64_t len, Error *err)
{
    RawImage *r = raw_of(bd);
    int rc = raw_fallocate(r, FALLOC_FL_PUNCH_HOLE, offset, len, &r->no_punch, err);
    return rc < 0 ? -1 : 0;  /* discard is a hint: unsupported is fine */
}

/* Write zero buffers over the range (the fallback of write_zeroes). */
static int raw_write_zero_buffers(RawImage *r, uint64_t offset, uint64_t len, Error *err)
{
    while (len) {
        size_t n = len < RAW_ZERO_CHUNK ? (size_t)len : RAW_ZERO_CHUNK;
        struct iovec iov = {.iov_base = raw_zeroes, .iov_len = n};
        if (raw_rw(r, offset, &iov, 1, true, err) < 0)
            return -1;
        offset += n;
        len -= n;
    }
    return 0;
}

static int raw_write_zeroes(BlockDev *bd, uint64_t offset, uint64_t len, bool may_unmap,
                            Error *err)
{
    RawImage *r = raw_of(bd);
    int rc = 0;
    if (may_unmap)
        rc = raw_fallocate(r, FALLOC_FL_PUNCH_HOLE, offset, len, &r->no_punch, err);
    if (rc == 0)
        rc = raw_fallocate(r, FALLOC_FL_ZERO_RANGE, offset, len, &r->no_zero_range, err);
    if (rc == 0)
        rc = raw_write_zero_buffers(r, offset, len, err) < 0 ? -1 : 1;
    return rc < 0 ? -1 : 0;
}

const BlockDriver block_raw_driver = {
    .format = "raw",
    .open = raw_open,
    .readv = raw_readv,
    .writev = raw_writev,
    .flush = raw_flush,
    .discard = raw_discard,
    .write_zeroes = raw_write_zeroes,
    .close = raw_close,
};
