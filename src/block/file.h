/*
 * BlockFile: the host file under an image format (qcow2's container).
 *
 * Formats never call pread/pwrite on a descriptor themselves: they go
 * through this ops table, so a test can put a fault-injecting file under a
 * real qcow2 image (tests/unit/test_qcow2_crash.c keeps every write that
 * no completed sync covers in memory and drops them at a simulated crash).
 *
 * All calls move the whole buffer or fail: 0, or -1 with err filled.
 * Reads past the end of the file return zeroes (a qcow2 image may end in
 * the middle of a cluster it has reserved but not written).
 */
#ifndef HOSTEL_BLOCK_FILE_H
#define HOSTEL_BLOCK_FILE_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/uio.h>

#include "util/error.h"

typedef struct BlockFile BlockFile;

typedef struct BlockFileOps {
    int (*preadv)(BlockFile *f, uint64_t off, const struct iovec *iov, int iovcnt, Error *err);
    int (*pwritev)(BlockFile *f, uint64_t off, const struct iovec *iov, int iovcnt, Error *err);
    /* Make every completed write durable (fdatasync). */
    int (*sync)(BlockFile *f, Error *err);
    /* Set the file's length (grow with zeroes or cut). */
    int (*truncate)(BlockFile *f, uint64_t len, Error *err);
    /* Deallocate [off, off+len) so it reads as zeroes; falls back to writing zeroes. */
    int (*punch)(BlockFile *f, uint64_t off, uint64_t len, Error *err);
    /* Current length in bytes. */
    uint64_t (*length)(BlockFile *f);
    /* Bytes the file occupies on the host (st_blocks * 512), for `img info`. */
    uint64_t (*allocated)(BlockFile *f);
    void (*close)(BlockFile *f);
} BlockFileOps;

struct BlockFile {
    const BlockFileOps *ops;
    char *path; /* as opened (malloc'd; freed by close) */
    int fd;     /* the host descriptor, -1 for files that have none */
    bool read_only;
    bool unsynced; /* written since the last sync (a sync with nothing to do is skipped) */
};

/*
 * Open a host file (regular file or block device).  lock: take an OFD lock
 * (exclusive for read-write, shared for read-only) as block_lock_fd() does.
 */
BlockFile *block_file_open(const char *path, bool read_only, bool lock, Error *err);

/*
 * Create (or truncate to zero) a host file for a new image.  It is locked
 * exclusively first, so an image another process has open is never cut.
 */
BlockFile *block_file_create(const char *path, Error *err);

/* Convenience wrappers over the ops table (one buffer). */
int block_file_pread(BlockFile *f, uint64_t off, void *buf, size_t len, Error *err);
int block_file_pwrite(BlockFile *f, uint64_t off, const void *buf, size_t len, Error *err);
static inline int block_file_sync(BlockFile *f, Error *err)
{
    return f->ops->sync(f, err);
}
static inline uint64_t block_file_length(BlockFile *f)
{
    return f->ops->length(f);
}
void block_file_close(BlockFile *f); /* NULL is ignored */

#endif
