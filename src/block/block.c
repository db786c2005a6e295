/*
 * The format-independent part of block backends: choosing the format,
 * range and permission checks in front of every request, the optional
 * operations' "not supported" answers, backing chains, image locking.
 */
#include "block/block.h"

#include "block/file.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>

static const BlockDriver *const block_drivers[] = {&block_qcow2_driver, &block_raw_driver};

const BlockDriver *block_driver_find(const char *format)
{
    for (size_t i = 0; i < sizeof(block_drivers) / sizeof(block_drivers[0]); i++) {
        if (strcmp(block_drivers[i]->format, format) == 0)
            return block_drivers[i];
    }
    return NULL;
}

/* The driver whose probe scores the file's first bytes highest. */
static const BlockDriver *block_probe(BlockFile *f, Error *err)
{
    uint8_t head[512];
    uint64_t len = block_file_length(f);
    size_t n = len < sizeof(head) ? (size_t)len : sizeof(head);
    if (block_file_pread(f, 0, head, n, err) < 0)
        return NULL;
    const BlockDriver *best = &block_raw_driver;
    int best_score = 0;
    for (size_t i = 0; i < sizeof(block_drivers) / sizeof(block_drivers[0]); i++) {
        int score = block_drivers[i]->probe(head, n);
        if (score > best_score) {
            best = block_drivers[i];
            best_score = score;
        }
    }
    return best;
}

BlockDev *block_open_file(BlockFile *f, const BlockOpenOpts *o, Error *err)
{
    const BlockDriver *drv;
    if (o->depth > BLOCK_MAX_CHAIN) {
        error_set(err, "%s: backing chain too deep or a loop", f->path);
        block_file_close(f);
        return NULL;
    }
    if (o->format) {
        drv = block_driver_find(o->format);
        if (!drv) {
            error_set(err, "%s: unknown image format '%s' (supported: raw, qcow2)", f->path,
                      o->format);
            block_file_close(f);
            return NULL;
        }
    } else if (!(drv = block_probe(f, err))) {
        block_file_close(f);
        return NULL;
    }
    char *name = strdup(f->path);
    BlockDev *bd = name ? drv->open(f, o, err) : NULL;
    if (!name) {
        error_set(err, "out of memory");
        block_file_close(f);
    }
    if (!bd) {
        free(name);
        return NULL;
    }
    bd->filename = name;
    return bd;
}

BlockDev *block_open_opts(const char *path, const BlockOpenOpts *o, Error *err)
{
    if (o->no_lock && !o->read_only) {
        error_set(err, "%s: an image opened for writing must be locked", path);
        return NULL;
    }
    if (o->format && !block_driver_find(o->format)) {
        error_set(err, "%s: unknown image format '%s' (supported: raw, qcow2)", path, o->format);
        return NULL;
    }
    BlockFile *f = block_file_open(path, o->read_only, !o->no_lock, err);
    return f ? block_open_file(f, o, err) : NULL;
}

BlockDev *block_open(const char *path, const char *format, bool read_only, Error *err)
{
    BlockOpenOpts o = {.format = format, .read_only = read_only};
    return block_open_opts(path, &o, err);
}

int block_probe_bootable(const char *path, const char *format, Error *err)
{
    BlockOpenOpts o = {.format = format, .read_only = true, .no_lock = true};
    uint8_t sector[512];
    BlockDev *bd = block_open_opts(path, &o, err);
    if (!bd)
        return -1;
    int r = 0;
    if (block_length(bd) >= sizeof(sector))
        r = block_pread(bd, 0, sector, sizeof(sector), err);
    else
        memset(sector, 0, sizeof(sector));
    block_close(bd);
    if (r < 0)
        return -1;
    return sector[510] == 0x55 && sector[511] == 0xaa;
}

int block_create(const char *path, const char *format, const BlockCreateOpts *o, Error *err)
{
    const BlockDriver *drv = block_driver_find(format ? format : "raw");
    if (!drv)
        return error_set(err, "unknown image format '%s' (supported: raw, qcow2)", format);
    if (!drv->create)
        return error_set(err, "%s: cannot create %s images", path, drv->format);
    return drv->create(path, o, err);
}

void block_close(BlockDev *bd)
{
    if (!bd)
        return;
    BlockDev *backing = bd->backing;
    char *name = bd->filename;
    bd->drv->close(bd);
    free(name);
    block_close(backing);
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

int block_readv(BlockDev *bd, uint64_t offset, const struct iovec *iov, int iovcnt, Error *err)
{
    if (block_check_iov(iovcnt, err) < 0 ||
        block_check_range(bd, offset, iov_bytes(iov, iovcnt), err) < 0)
        return -1;
    return bd->drv->readv(bd, offset, iov, iovcnt, err);
}

int block_writev(BlockDev *bd, uint64_t offset, const struct iovec *iov, int iovcnt, Error *err)
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

int block_write_zeroes(BlockDev *bd, uint64_t offset, uint64_t len, bool may_unmap, Error *err)
{
    if (block_check_write(bd, offset, len, err) < 0)
        return -1;
    return len ? bd->drv->write_zeroes(bd, offset, len, may_unmap, err) : 0;
}

int block_pread(BlockDev *bd, uint64_t offset, void *buf, size_t len, Error *err)
{
    struct iovec iov = {.iov_base = buf, .iov_len = len};
    return block_readv(bd, offset, &iov, 1, err);
}

int block_pwrite(BlockDev *bd, uint64_t offset, const void *buf, size_t len, Error *err)
{
    struct iovec iov = {.iov_base = (void *)buf, .iov_len = len};
    return block_writev(bd, offset, &iov, 1, err);
}

static int block_unsupported(BlockDev *bd, const char *op, Error *err)
{
    return error_set_errno(err, ENOTSUP, "%s: %s images do not support %s", bd->filename,
                           bd->drv->format, op);
}

int block_status(BlockDev *bd, uint64_t offset, uint64_t len, uint64_t *pnum, unsigned *flags,
                 uint64_t *host_off, Error *err)
{
    *pnum = 0;
    *flags = 0;
    *host_off = 0;
    if (block_check_range(bd, offset, len, err) < 0)
        return -1;
    if (!len)
        return 0;
    if (!bd->drv->status)
        return block_unsupported(bd, "block status", err);
    if (bd->drv->status(bd, offset, len, pnum, flags, host_off, err) < 0)
        return -1;
    if (*pnum == 0 || *pnum > len)
        return error_set(err, "%s: block status returned a bad length", bd->filename);
    return 0;
}

int block_status_chain(BlockDev *bd, uint64_t offset, uint64_t len, uint64_t *pnum, unsigned *flags,
                       uint64_t *host_off, unsigned *depth, Error *err)
{
    *depth = 0;
    for (BlockDev *layer = bd; layer; layer = layer->backing, (*depth)++) {
        if (offset >= layer->length) { /* past a shorter backing file: zeroes */
            *pnum = len;
            *flags = 0;
            *host_off = 0;
            return 0;
        }
        uint64_t n = len < layer->length - offset ? len : layer->length - offset;
        if (block_status(layer, offset, n, pnum, flags, host_off, err) < 0)
            return -1;
        if (*flags & BLOCK_ST_ALLOCATED)
            return 0;
        len = *pnum; /* look below only for the extent this layer left open */
    }
    return 0;
}

int block_truncate(BlockDev *bd, uint64_t new_length, Error *err)
{
    if (bd->read_only)
        return error_set_errno(err, EROFS, "%s: image is read-only", bd->filename);
    if (!bd->drv->truncate)
        return block_unsupported(bd, "resizing", err);
    return bd->drv->truncate(bd, new_length, err);
}

int block_write_compressed(BlockDev *bd, uint64_t offset, const void *buf, size_t len, Error *err)
{
    if (block_check_write(bd, offset, len, err) < 0)
        return -1;
    if (!bd->drv->write_compressed)
        return block_unsupported(bd, "compression", err);
    return bd->drv->write_compressed(bd, offset, buf, len, err);
}

int block_make_empty(BlockDev *bd, Error *err)
{
    if (bd->read_only)
        return error_set_errno(err, EROFS, "%s: image is read-only", bd->filename);
    if (!bd->drv->make_empty)
        return block_unsupported(bd, "emptying", err);
    return bd->drv->make_empty(bd, err);
}

int block_set_backing(BlockDev *bd, const char *file, const char *fmt, Error *err)
{
    if (bd->read_only)
        return error_set_errno(err, EROFS, "%s: image is read-only", bd->filename);
    if (!bd->drv->set_backing)
        return block_unsupported(bd, "backing files", err);
    return bd->drv->set_backing(bd, file, fmt, err);
}

int block_info(BlockDev *bd, BlockInfo *info, Error *err)
{
    memset(info, 0, sizeof(*info));
    if (!bd->drv->info)
        return block_unsupported(bd, "info", err);
    return bd->drv->info(bd, info, err);
}

void block_info_free(BlockInfo *info)
{
    free(info->backing_file);
    free(info->backing_fmt);
    free(info->full_backing_file);
    block_snapshot_list_free(info->snapshots, info->nb_snapshots);
    memset(info, 0, sizeof(*info));
}

int block_check(BlockDev *bd, BlockCheckResult *res, unsigned fix, Error *err)
{
    memset(res, 0, sizeof(*res));
    if (fix && bd->read_only)
        return error_set_errno(err, EROFS, "%s: image is read-only", bd->filename);
    if (!bd->drv->check)
        return block_unsupported(bd, "checks", err);
    return bd->drv->check(bd, res, fix, err);
}

int block_snapshot_create(BlockDev *bd, const BlockSnapshot *sn, Error *err)
{
    if (bd->read_only)
        return error_set_errno(err, EROFS, "%s: image is read-only", bd->filename);
    if (!bd->drv->snapshot_create)
        return block_unsupported(bd, "internal snapshots", err);
    return bd->drv->snapshot_create(bd, sn, err);
}

int block_snapshot_list(BlockDev *bd, BlockSnapshot **list, int *count, Error *err)
{
    *list = NULL;
    *count = 0;
    if (!bd->drv->snapshot_list)
        return 0; /* formats without snapshots have none */
    return bd->drv->snapshot_list(bd, list, count, err);
}

void block_snapshot_list_free(BlockSnapshot *list, int count)
{
    for (int i = 0; list && i < count; i++)
        free(list[i].name);
    free(list);
}

int block_snapshot_apply(BlockDev *bd, const char *id_or_name, Error *err)
{
    if (bd->read_only)
        return error_set_errno(err, EROFS, "%s: image is read-only", bd->filename);
    if (!bd->drv->snapshot_apply)
        return block_unsupported(bd, "internal snapshots", err);
    return bd->drv->snapshot_apply(bd, id_or_name, err);
}

int block_snapshot_delete(BlockDev *bd, const char *id_or_name, Error *err)
{
    if (bd->read_only)
        return error_set_errno(err, EROFS, "%s: image is read-only", bd->filename);
    if (!bd->drv->snapshot_delete)
        return block_unsupported(bd, "internal snapshots", err);
    return bd->drv->snapshot_delete(bd, id_or_name, err);
}

char *block_backing_path(const char *image_path, const char *backing)
{
    const char *slash = strrchr(image_path, '/');
    if (backing[0] == '/' || !slash)
        return strdup(backing);
    size_t dir = (size_t)(slash - image_path) + 1;
    char *p = malloc(dir + strlen(backing) + 1);
    if (p) {
        memcpy(p, image_path, dir);
        strcpy(p + dir, backing);
    }
    return p;
}

void block_unlock_fd(int fd)
{
    struct flock fl = {.l_type = F_UNLCK, .l_whence = SEEK_SET};
    fcntl(fd, F_OFD_SETLK, &fl);
}

int block_lock_fd(int fd, bool exclusive, const char *path, Error *err)
{
    struct flock fl = {.l_type = exclusive ? F_WRLCK : F_RDLCK, .l_whence = SEEK_SET};
    if (fcntl(fd, F_OFD_SETLK, &fl) == 0)
        return 0;
    if (errno == EAGAIN || errno == EACCES)
        return error_set(err, "%s: image is in use by another process", path);
    if (errno == EINVAL || errno == ENOLCK || errno == ENOTSUP)
        return 0; /* no OFD locks here: go on unlocked */
    return error_set_errno(err, errno, "%s: cannot lock the image", path);
}
