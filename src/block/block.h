/*
 * Block backends: disk images behind one ops table per format (raw now,
 * qcow2 later), in the manner of QEMU's BlockDriver and kvmtool's
 * disk-image ops.  A format embeds BlockDev as the first member of its own
 * state and gets back to it with container_of.
 *
 * The block_*() wrappers check every range against the image length
 * before calling the format, so formats only see in-range requests.
 * Offsets and lengths are in bytes.  A BlockDev may be used from one
 * thread at a time (the device's worker thread); open and close happen on
 * the VM thread.
 *
 * Images opened for writing are locked (an OFD write lock on the file), so
 * two VMs cannot write one image; a read-only open takes a shared lock, so
 * it cannot open an image another VM is writing either.
 */
#ifndef HOSTEL_BLOCK_BLOCK_H
#define HOSTEL_BLOCK_BLOCK_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/uio.h>

#include "util/error.h"

/* Most iovecs one request may carry (the kernel's IOV_MAX). */
#define BLOCK_MAX_IOV 1024

typedef struct BlockDriver BlockDriver;

typedef struct BlockDev {
    const BlockDriver *drv;
    bool read_only;
    uint64_t length;     /* bytes the guest sees */
} BlockDev;

struct BlockDriver {
    const char *format;  /* "raw" */
    /* Open path; NULL with err filled on failure. */
    BlockDev *(*open)(const char *path, bool read_only, Error *err);
    /* Read / write iov (total bytes at offset, in range).  0, or -1 with err filled. */
    int (*readv)(BlockDev *bd, uint64_t offset, const struct iovec *iov, int iovcnt,
                 Error *err);
    int (*writev)(BlockDev *bd, uint64_t offset, const struct iovec *iov, int iovcnt,
                  Error *err);
    /* Make completed writes durable. */
    int (*flush)(BlockDev *bd, Error *err);
    /* Drop [offset, offset+len); later reads return unspecified data. */
    int (*discard)(BlockDev *bd, uint64_t offset, uint64_t len, Error *err);
    /* Make [offset, offset+len) read as zeroes; may deallocate if may_unmap. */
    int (*write_zeroes)(BlockDev *bd, uint64_t offset, uint64_t len, bool may_unmap,
                        Error *err);
    void (*close)(BlockDev *bd);
};

extern const BlockDriver block_raw_driver;

/*
 * Open an image.  format NULL or "raw" selects raw (format probing comes
 * with qcow2).  Fails with one clear line: missing or unreadable file,
 * unknown format, "image is in use by another process" when locked.
 */
BlockDev *block_open(const char *path, const char *format, bool read_only, Error *err);

/* Close the image and release its lock (NULL is ignored). */
void block_close(BlockDev *bd);

/* Size in bytes. */
uint64_t block_length(const BlockDev *bd);

/*
 * Request wrappers: reject writes to read-only images, ranges past the
 * end, more than BLOCK_MAX_IOV iovecs; then call the format.  Return 0, or
 * -1 with err filled.
 */
int block_readv(BlockDev *bd, uint64_t offset, const struct iovec *iov, int iovcnt,
                Error *err);
int block_writev(BlockDev *bd, uint64_t offset, const struct iovec *iov, int iovcnt,
                 Error *err);
int block_flush(BlockDev *bd, Error *err);
int block_discard(BlockDev *bd, uint64_t offset, uint64_t len, Error *err);
int block_write_zeroes(BlockDev *bd, uint64_t offset, uint64_t len, bool may_unmap,
                       Error *err);

/*
 * Lock fd's whole file with an open-file-description lock: shared when
 * !exclusive, exclusive otherwise.  Returns 0, or -1 with err filled
 * ("PATH: image is in use by another process" on a conflict).  Filesystems
 * without OFD lock support are accepted unlocked.  The lock goes away when
 * fd is closed.
 */
int block_lock_fd(int fd, bool exclusive, const char *path, Error *err);

#endif
