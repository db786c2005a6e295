/*
 * virtio-blk (virtio 1.2, 5.2) over a block backend: read, write, flush,
 * discard, write-zeroes and get-id, with a read-only mode.  Requests are
 * checked on the VM thread, executed by one worker thread per device
 * (preadv/pwritev straight into guest RAM) and completed back on the VM
 * thread through the event loop, which then publishes the used element
 * and raises the interrupt.
 */
#ifndef HOSTEL_VIRTIO_BLK_H
#define HOSTEL_VIRTIO_BLK_H

#include <stdbool.h>
#include <stdint.h>

#include "block/block.h"
#include "util/error.h"
#include "util/evloop.h"
#include "virtio/mmio.h"

/* Feature bits (virtio 1.2, 5.2.3). */
#define VIRTIO_BLK_F_SEG_MAX 2
#define VIRTIO_BLK_F_RO 5
#define VIRTIO_BLK_F_BLK_SIZE 6
#define VIRTIO_BLK_F_FLUSH 9
#define VIRTIO_BLK_F_DISCARD 13
#define VIRTIO_BLK_F_WRITE_ZEROES 14

/* Request types and status values (5.2.6). */
#define VIRTIO_BLK_T_IN 0
#define VIRTIO_BLK_T_OUT 1
#define VIRTIO_BLK_T_FLUSH 4
#define VIRTIO_BLK_T_GET_ID 8
#define VIRTIO_BLK_T_DISCARD 11
#define VIRTIO_BLK_T_WRITE_ZEROES 13
#define VIRTIO_BLK_S_OK 0
#define VIRTIO_BLK_S_IOERR 1
#define VIRTIO_BLK_S_UNSUPP 2

#define VIRTIO_BLK_ID_BYTES 20
#define VIRTIO_BLK_SECTOR 512
#define VIRTIO_BLK_QUEUE_MAX 256
#define VIRTIO_BLK_MAX_DWZ_SEGS 16          /* segments of one discard / write-zeroes */
#define VIRTIO_BLK_MAX_DWZ_SECTORS 0x3fffff /* sectors of one segment (2 GiB - 512) */

/* Configuration space offsets (struct virtio_blk_config). */
enum {
    VIRTIO_BLK_CFG_CAPACITY = 0,
    VIRTIO_BLK_CFG_SEG_MAX = 12,
    VIRTIO_BLK_CFG_BLK_SIZE = 20,
    VIRTIO_BLK_CFG_MAX_DISCARD_SECTORS = 36,
    VIRTIO_BLK_CFG_MAX_DISCARD_SEG = 40,
    VIRTIO_BLK_CFG_DISCARD_ALIGN = 44,
    VIRTIO_BLK_CFG_MAX_WZ_SECTORS = 48,
    VIRTIO_BLK_CFG_MAX_WZ_SEG = 52,
    VIRTIO_BLK_CFG_WZ_MAY_UNMAP = 56,
    VIRTIO_BLK_CFG_SIZE = 60,
};

typedef struct VirtioBlkConfig {
    BlockDev *disk;     /* taken over by the device (closed when it is freed) */
    const char *serial; /* GET_ID string (up to 20 bytes); NULL = derived from the base */
    EventLoop *loop;    /* the VM thread's loop, where completions are delivered */
} VirtioBlkConfig;

/*
 * Create a virtio-blk device and start its worker thread.  The disk's
 * read-only flag decides VIRTIO_BLK_F_RO.  Returns the transport part (to
 * map with virtio_mmio_ops and free with virtio_mmio_free), or NULL with
 * err filled (the disk is then closed too).
 *
 * Completions are queued on the event loop with the device as argument:
 * free the device only once the loop will not run again (or after
 * evloop_free, which drops queued calls without running them).
 */
VirtioMmio *virtio_blk_new(const VirtioMmioConfig *mcfg, const VirtioBlkConfig *bcfg, Error *err);

/*
 * What the guest asked of the disk since the device was made (query-stats).
 * Counted on the VM thread when a request completes, so plain counters:
 * successful reads and writes with their payload bytes, flushes, and every
 * request answered with an error (I/O error or unsupported).
 */
typedef struct VirtioBlkStats {
    uint64_t read_bytes, read_ops;
    uint64_t write_bytes, write_ops;
    uint64_t flush_ops;
    uint64_t errors;
} VirtioBlkStats;

/* Copy the counters of virtio-blk device v into st.  VM thread. */
void virtio_blk_stats(VirtioMmio *v, VirtioBlkStats *st);

/* The image behind a virtio-blk device (snapshots); NULL if v is not virtio-blk. */
BlockDev *virtio_blk_disk(VirtioMmio *v);

/*
 * Wait until the worker has finished every queued request and job, then
 * publish the completions (no chain stays in flight).  Unlike the quiesce
 * op, the image is not flushed.  VM thread.
 */
void virtio_blk_drain(VirtioMmio *v);

/* Work run on the device's worker thread with exclusive use of its image. */
typedef void (*VirtioBlkJobFn)(BlockDev *disk, void *opaque);

/*
 * Queue fn(disk, opaque) on the worker of virtio-blk device v: it runs
 * after every request queued before this call and before any queued after
 * it, which wait meanwhile (queued just after a drain, it is a barrier at
 * the head of the queue: a live snapshot's point in time).  fn reports its
 * outcome itself; it must not wait for the VM thread.  A queued job always
 * runs exactly once: a device reset drops requests, not jobs, and freeing
 * the device runs the jobs still queued first.  Safe from any thread.
 * Returns 0, or -1 with err filled (out of memory; fn will not run).
 */
int virtio_blk_queue_job(VirtioMmio *v, VirtioBlkJobFn fn, void *opaque, Error *err);

#endif
