/*
 * Raw images: the guest's disk is the file (or host block device) byte for
 * byte.  Reads and writes go straight to the BlockFile, flush is its sync,
 * discard punches holes, write-zeroes punches (if allowed) or writes zeroes.
 */
#include "block/block.h"

#include <stdlib.h>
#include <string.h>

#include "block/file.h"

static int raw_probe(const uint8_t *buf, size_t len)
{
    return 1; /* anything is a raw image, with the lowest score */
}

static BlockDev *raw_open(BlockFile *f, const BlockOpenOpts *o, Error *err)
{
    BlockDev *bd = calloc(1, sizeof(*bd));
    if (!bd) {
        error_set(err, "out of memory opening %s", f->path);
        block_file_close(f);
        return NULL;
    }
    *bd = (BlockDev){.drv = &block_raw_driver,
                     .read_only = o->read_only,
                     .length = block_file_length(f),
                     .file = f};
    return bd;
}

static void raw_close(BlockDev *bd)
{
    block_file_close(bd->file);
    free(bd);
}

static int raw_readv(BlockDev *bd, uint64_t offset, const struct iovec *iov, int iovcnt, Error *err)
{
    return bd->file->ops->preadv(bd->file, offset, iov, iovcnt, err);
}

static int raw_writev(BlockDev *bd, uint64_t offset, const struct iovec *iov, int iovcnt,
                      Error *err)
{
    return bd->file->ops->pwritev(bd->file, offset, iov, iovcnt, err);
}

static int raw_flush(BlockDev *bd, Error *err)
{
    return block_file_sync(bd->file, err);
}

static int raw_discard(BlockDev *bd, uint64_t offset, uint64_t len, Error *err)
{
    return bd->file->ops->punch(bd->file, offset, len, err);
}

static int raw_write_zeroes(BlockDev *bd, uint64_t offset, uint64_t len, bool may_unmap, Error *err)
{
    /* punch() deallocates where it can and writes zeroes where it cannot. */
    return bd->file->ops->punch(bd->file, offset, len, err);
}

static int raw_status(BlockDev *bd, uint64_t offset, uint64_t len, uint64_t *pnum, unsigned *flags,
                      uint64_t *host_off, Error *err)
{
    *pnum = len;
    *flags = BLOCK_ST_ALLOCATED | BLOCK_ST_DATA | BLOCK_ST_OFFSET;
    *host_off = offset;
    return 0;
}

static int raw_truncate(BlockDev *bd, uint64_t new_length, Error *err)
{
    if (bd->file->ops->truncate(bd->file, new_length, err) < 0)
        return -1;
    bd->length = new_length;
    return 0;
}

static int raw_create(const char *path, const BlockCreateOpts *o, Error *err)
{
    if (o->backing_file)
        return error_set(err, "%s: raw images cannot have a backing file", path);
    BlockFile *f = block_file_create(path, err);
    if (!f)
        return -1;
    int rc = f->ops->truncate(f, o->size, err);
    if (rc == 0 && o->preallocation && strcmp(o->preallocation, "full") == 0) {
        static const uint8_t zero[65536];
        for (uint64_t off = 0; rc == 0 && off < o->size; off += sizeof(zero)) {
            uint64_t n = o->size - off < sizeof(zero) ? o->size - off : sizeof(zero);
            rc = block_file_pwrite(f, off, zero, (size_t)n, err);
        }
    }
    if (rc == 0)
        rc = block_file_sync(f, err);
    block_file_close(f);
    return rc;
}

static int raw_info(BlockDev *bd, BlockInfo *info, Error *err)
{
    info->format = "raw";
    info->virtual_size = bd->length;
    info->actual_size = bd->file->ops->allocated(bd->file);
    return 0;
}

const BlockDriver block_raw_driver = {
    .format = "raw",
    .probe = raw_probe,
    .open = raw_open,
    .readv = raw_readv,
    .writev = raw_writev,
    .flush = raw_flush,
    .discard = raw_discard,
    .write_zeroes = raw_write_zeroes,
    .close = raw_close,
    .status = raw_status,
    .truncate = raw_truncate,
    .create = raw_create,
    .info = raw_info,
};
