/*
 * virtio-console (virtio 1.2, 5.3) with a single port and no MULTIPORT:
 * queue 0 receives (host input to the guest; a Linux hvc, hvc1 when the
 * kernel's SBI console took hvc0), queue 1 transmits (guest output).
 * Emergency writes through the configuration space (EMERG_WRITE) are
 * supported.
 */
#ifndef HOSTEL_VIRTIO_CONSOLE_H
#define HOSTEL_VIRTIO_CONSOLE_H

#include <stddef.h>
#include <stdint.h>

#include "util/error.h"
#include "virtio/mmio.h"

#define VIRTIO_CONSOLE_F_EMERG_WRITE 2
#define VIRTIO_CONSOLE_QUEUE_MAX 64
#define VIRTIO_CONSOLE_CFG_EMERG_WR 8 /* config offset of emerg_wr */

typedef struct VirtioConsoleConfig {
    /* Guest output goes to tx(tx_opaque, buf, len), or, when tx is NULL, to out_fd. */
    void (*tx)(void *opaque, const uint8_t *buf, size_t len);
    void *tx_opaque;
    int out_fd;
} VirtioConsoleConfig;

/*
 * Create a virtio-console device.  Returns the transport part (map it with
 * virtio_mmio_ops, free it with virtio_mmio_free), or NULL with err filled.
 */
VirtioMmio *virtio_console_new(const VirtioMmioConfig *mcfg, const VirtioConsoleConfig *ccfg,
                               Error *err);

/*
 * Deliver host input into the guest's receive buffers.  Returns how many
 * bytes were taken: fewer than len (maybe 0) when the driver has no free
 * buffers or is not running; the caller keeps the rest and retries later.
 * v must come from virtio_console_new().  Call on the VM thread.
 */
size_t virtio_console_receive(VirtioMmio *v, const uint8_t *buf, size_t len);

#endif
