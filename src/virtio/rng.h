/*
 * virtio-rng (virtio 1.2, 5.4): the driver posts writable buffers and the
 * device fills them with entropy from the host's getrandom(), on the VM
 * thread (the call does not block once the host's pool is initialised).
 */
#ifndef HOSTEL_VIRTIO_RNG_H
#define HOSTEL_VIRTIO_RNG_H

#include "util/error.h"
#include "virtio/mmio.h"

#define VIRTIO_RNG_QUEUE_MAX 64
#define VIRTIO_RNG_MAX_REQUEST 65536 /* bytes filled per buffer, at most */

/*
 * Create a virtio-rng device.  Returns the transport part (map it with
 * virtio_mmio_ops, free it with virtio_mmio_free), or NULL with err filled.
 */
VirtioMmio *virtio_rng_new(const VirtioMmioConfig *mcfg, Error *err);

#endif
