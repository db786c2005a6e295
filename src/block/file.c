/*
 * The POSIX BlockFile: preadv/pwritev on a descriptor, fdatasync, fallocate.
 */
#include "block/file.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "block/block.h"

#define FILE_ZERO_CHUNK 65536
#define FILE_MAX_IOV 1024

static const uint8_t file_zeroes[FILE_ZERO_CHUNK];

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

/* Zero whatever is left of the iov (a read that hit the end of the file). */
static void iov_zero(struct iovec *iov, int cnt)
{
    for (int i = 0; i < cnt; i++)
        memset(iov[i].iov_base, 0, iov[i].iov_len);
}

/* preadv/pwritev until the whole iov moved, retrying short transfers and EINTR. */
static int posix_rw(BlockFile *f, uint64_t off, const struct iovec *iov, int iovcnt, bool write,
                    Error *err)
{
    if (iovcnt < 0 || iovcnt > FILE_MAX_IOV)
        return error_set(err, "%s: request with %d buffers", f->path, iovcnt);
    struct iovec local[FILE_MAX_IOV];
    memcpy(local, iov, sizeof(*iov) * (size_t)iovcnt);
    struct iovec *cur = local;
    int cnt = iovcnt;
    for (;;) {
        iov_advance(&cur, &cnt, 0); /* skip empty buffers */
        if (cnt == 0)
            return 0;
        ssize_t n =
            write ? pwritev(f->fd, cur, cnt, (off_t)off) : preadv(f->fd, cur, cnt, (off_t)off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n == 0 && !write) {
            iov_zero(cur, cnt);
            return 0;
        }
        if (n <= 0)
            return error_set_errno(err, n < 0 ? errno : EIO, "%s: %s at 0x%llx failed", f->path,
                                   write ? "write" : "read", (unsigned long long)off);
        off += (uint64_t)n;
        iov_advance(&cur, &cnt, (size_t)n);
    }
}

static int posix_preadv(BlockFile *f, uint64_t off, const struct iovec *iov, int iovcnt, Error *err)
{
    return posix_rw(f, off, iov, iovcnt, false, err);
}

static int posix_pwritev(BlockFile *f, uint64_t off, const struct iovec *iov, int iovcnt,
                         Error *err)
{
    f->unsynced = true;
    return posix_rw(f, off, iov, iovcnt, true, err);
}

static int posix_sync(BlockFile *f, Error *err)
{
    if (!f->unsynced)
        return 0; /* metadata code syncs at every ordering point, often twice in a row */
    while (fdatasync(f->fd) < 0) {
        if (errno != EINTR)
            return error_set_errno(err, errno, "%s: flush failed", f->path);
    }
    f->unsynced = false;
    return 0;
}

static int posix_truncate(BlockFile *f, uint64_t len, Error *err)
{
    f->unsynced = true;
    while (ftruncate(f->fd, (off_t)len) < 0) {
        if (errno != EINTR)
            return error_set_errno(err, errno, "%s: cannot resize the file", f->path);
    }
    return 0;
}

static bool errno_unsupported(int e)
{
    return e == EOPNOTSUPP || e == ENOSYS || e == EINVAL || e == ENODEV || e == ENOTTY;
}

static int posix_punch(BlockFile *f, uint64_t off, uint64_t len, Error *err)
{
    f->unsynced = true;
    int rc;
    while ((rc = fallocate(f->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, (off_t)off,
                           (off_t)len)) < 0 &&
           errno == EINTR)
        continue;
    if (rc == 0)
        return 0;
    if (!errno_unsupported(errno))
        return error_set_errno(err, errno, "%s: fallocate at 0x%llx failed", f->path,
                               (unsigned long long)off);
    while (len) { /* no hole punching here: write zeroes */
        size_t n = len < FILE_ZERO_CHUNK ? (size_t)len : FILE_ZERO_CHUNK;
        if (block_file_pwrite(f, off, file_zeroes, n, err) < 0)
            return -1;
        off += n;
        len -= n;
    }
    return 0;
}

static uint64_t posix_length(BlockFile *f)
{
    off_t end = lseek(f->fd, 0, SEEK_END);
    return end < 0 ? 0 : (uint64_t)end;
}

static uint64_t posix_allocated(BlockFile *f)
{
    struct stat st;
    return fstat(f->fd, &st) < 0 ? 0 : (uint64_t)st.st_blocks * 512;
}

static void posix_close(BlockFile *f)
{
    close(f->fd);
    free(f->path);
    free(f);
}

static const BlockFileOps posix_file_ops = {
    .preadv = posix_preadv,
    .pwritev = posix_pwritev,
    .sync = posix_sync,
    .truncate = posix_truncate,
    .punch = posix_punch,
    .length = posix_length,
    .allocated = posix_allocated,
    .close = posix_close,
};

static BlockFile *file_wrap(int fd, const char *path, bool read_only, Error *err)
{
    BlockFile *f = calloc(1, sizeof(*f));
    char *p = strdup(path);
    if (!f || !p) {
        free(f);
        free(p);
        close(fd);
        error_set(err, "out of memory opening %s", path);
        return NULL;
    }
    /* unsynced at first: the first sync also covers what an earlier process left behind */
    *f = (BlockFile){.ops = &posix_file_ops,
                     .path = p,
                     .fd = fd,
                     .read_only = read_only,
                     .unsynced = !read_only};
    return f;
}

BlockFile *block_file_open(const char *path, bool read_only, bool lock, Error *err)
{
    int fd = open(path, (read_only ? O_RDONLY : O_RDWR) | O_CLOEXEC);
    if (fd < 0) {
        error_set_errno(err, errno, "%s: cannot open the disk image%s", path,
                        read_only ? "" : " for writing");
        return NULL;
    }
    struct stat st;
    if (fstat(fd, &st) < 0 || !(S_ISREG(st.st_mode) || S_ISBLK(st.st_mode))) {
        close(fd);
        error_set(err, "%s: not a regular file or block device", path);
        return NULL;
    }
    if (lock && block_lock_fd(fd, !read_only, path, err) < 0) {
        close(fd);
        return NULL;
    }
    return file_wrap(fd, path, read_only, err);
}

BlockFile *block_file_create(const char *path, Error *err)
{
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) {
        error_set_errno(err, errno, "%s: cannot create the image", path);
        return NULL;
    }
    /* Never truncate an image a running VM has open. */
    if (block_lock_fd(fd, true, path, err) < 0) {
        close(fd);
        return NULL;
    }
    if (ftruncate(fd, 0) < 0) {
        error_set_errno(err, errno, "%s: cannot create the image", path);
        close(fd);
        return NULL;
    }
    return file_wrap(fd, path, false, err);
}

int block_file_pread(BlockFile *f, uint64_t off, void *buf, size_t len, Error *err)
{
    struct iovec iov = {.iov_base = buf, .iov_len = len};
    return f->ops->preadv(f, off, &iov, 1, err);
}

int block_file_pwrite(BlockFile *f, uint64_t off, const void *buf, size_t len, Error *err)
{
    struct iovec iov = {.iov_base = (void *)buf, .iov_len = len};
    return f->ops->pwritev(f, off, &iov, 1, err);
}

void block_file_close(BlockFile *f)
{
    if (f)
        f->ops->close(f);
}
