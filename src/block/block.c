/*
 * The format-independent part of block backends: choosing the format,
 * range and permission checks in front of every request, image locking.
 */
#include "block/block.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>

BlockDev *block_open(const char *path, const char *format, bool read_only, Error *err)
{
    if (format && strcmp(format, "raw") != 0) {
        error_set(err, "%s: unknown image format '%s' (supported: raw)", path, format);
        return NULL;
    }
    return block_raw_driver.open(path, read_only, err);
}

void block_close(BlockDev *bd)
{
    if (bd)
        bd->drv->close(bd);
}

uint64_t block_length(const BlockDev *bd)
{
    return bd->length;
}

static uint64_t iov_bytes(const struct iovec *iov, int iovcnt)
{
    uint64_t n = 0;
    for (int i = 0; i < iovcnt; i++)
        n += iov[i].iov_len;
    return n;
}

static int block_check_range(const BlockDev *bd, uint64_t offset, uint64_t len, Error *err)
{
    if (offset > bd->length || len > bd->length - offset)
        return error_set(err, "request 0x%llx+0x%llx is past the end of the image (0x%llx)",
                         (unsigned long long)offset, (unsigned long long)len,
                         (unsigned long long)bd->length);
    return 0;
}

static int block_check_write(const BlockDev *bd, uint64_t offset, uint64_t len, Error *err)
{
    if (bd->read_only)
        return error_set_errno(err, EROFS, "write to a read-only image");
    return block_check_range(bd, offset, len, err);
}

static int block_check_iov(int iovcnt, Error *err)
{
    if (iovcnt < 0 || iovcnt > BLOCK_MAX_IOV)
        return error_set(err, "request with %d buffers (at most %d)", iovcnt, BLOCK_MAX_IOV);
    return 0;
}

int block_readv(BlockDev *bd, uint64_t offset, const struct iovec *iov, int iovcnt,
                Error *err)
{
    if (block_check_iov(iovcnt, err) < 0 ||
        block_check_range(bd, offset, iov_bytes(iov, iovcnt), err) < 0)
        return -1;
    return bd->drv->readv(bd, offset, iov, iovcnt, err);
}

int block_writev(BlockDev *bd, uint64_t offset, const struct iovec *iov, int iovcnt,
                 Error *err)
{
    if (block_check_iov(iovcnt, err) < 0 ||
        block_check_write(bd, offset, iov_bytes(iov, iovcnt), err) < 0)
        return -1;
    return bd->drv->writev(bd, offset, iov, iovcnt, err);
}

int block_flush(BlockDev *bd, Error *err)
{
    return bd->read_only ? 0 : bd->drv->flush(bd, err);
}

int block_discard(BlockDev *bd, uint64_t offset, uint64_t len, Error *err)
{
    if (block_check_write(bd, offset, len, err) < 0)
        return -1;
    return len ? bd->drv->discard(bd, offset, len, err) : 0;
}

int block_write_zeroes(BlockDev *bd, uint64_t offset, uint64_t len, bool may_unmap,
                       Error *err)
{
    if (block_check_write(bd, offset, len, err) < 0)
        return -1;
    return len ? bd->drv->write_zeroes(bd, offset, len, may_unmap, err) : 0;
}

int block_lock_fd(int fd, bool exclusive, const char *path, Error *err)
{
    struct flock fl = {.l_type = exclusive ? F_WRLCK : F_RDLCK, .l_whence = SEEK_SET};
    if (fcntl(fd, F_OFD_SETLK, &fl) == 0)
        return 0;
    if (errno == EAGAIN || errno == EACCES)
        return error_set(err, "%s: image is in use by another process", path);
    if (errno == EINVAL || errno == ENOLCK || errno == ENOTSUP)
        return 0;  /* no OFD locks here: go on unlocked */
    return error_set_errno(err, errno, "%s: cannot lock the image", path);
}
