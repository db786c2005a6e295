/*
 * virtio-console (virtio 1.2, 5.3) with VIRTIO_CONSOLE_F_MULTIPORT: up to
 * VIRTIO_CONSOLE_MAX_PORTS ports.  Port 0 is the console port (a Linux hvc)
 * when the board attaches its console there; port 1 is a named port (the
 * guest agent's, org.qemu.guest_agent.0, under /dev/virtio-ports/).  A
 * port the configuration leaves out is never announced to the driver.
 *
 * Queues: 0/1 receive/transmit of port 0, 2/3 the control queues
 * (device->driver, driver->device), then 2 + 2p / 3 + 2p for port p >= 1.
 * A driver that does not negotiate MULTIPORT sees the single port 0.
 *
 * Control messages from the guest are hostile input: short, unknown or
 * out-of-range messages are ignored with one log line (the first such
 * message; later ones are counted silently) and the device stays up.
 * Emergency writes through the configuration space (EMERG_WRITE) go to
 * port 0's output.
 */
#ifndef HOSTEL_VIRTIO_CONSOLE_H
#define HOSTEL_VIRTIO_CONSOLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/error.h"
#include "virtio/mmio.h"

#define VIRTIO_CONSOLE_F_MULTIPORT 1
#define VIRTIO_CONSOLE_F_EMERG_WRITE 2
#define VIRTIO_CONSOLE_QUEUE_MAX 64
#define VIRTIO_CONSOLE_CFG_EMERG_WR 8 /* config offset of emerg_wr */
#define VIRTIO_CONSOLE_MAX_PORTS 2
#define VIRTIO_CONSOLE_NAME_MAX 64     /* a port name's bytes, at most */
#define VIRTIO_CONSOLE_CTRL_PENDING 16 /* control messages waiting for driver buffers */

/* Control events (struct virtio_console_control.event). */
enum {
    VIRTIO_CONSOLE_DEVICE_READY = 0,
    VIRTIO_CONSOLE_DEVICE_ADD = 1,
    VIRTIO_CONSOLE_DEVICE_REMOVE = 2,
    VIRTIO_CONSOLE_PORT_READY = 3,
    VIRTIO_CONSOLE_CONSOLE_PORT = 4,
    VIRTIO_CONSOLE_RESIZE = 5,
    VIRTIO_CONSOLE_PORT_OPEN = 6,
    VIRTIO_CONSOLE_PORT_NAME = 7,
};

/* One port's host side; every callback runs on the VM thread. */
typedef struct VirtioConsolePort {
    bool present;     /* announce the port to the driver */
    bool console;     /* a console port (hvc); else a named port */
    const char *name; /* a named port's name (copied; at most VIRTIO_CONSOLE_NAME_MAX bytes) */
    /* Guest output on this port: tx(opaque, buf, len); NULL drops it. */
    void (*tx)(void *opaque, const uint8_t *buf, size_t len);
    /* The driver posted receive buffers (more input can be taken now); may be NULL. */
    void (*writable)(void *opaque);
    void *opaque;
} VirtioConsolePort;

typedef struct VirtioConsoleConfig {
    VirtioConsolePort ports[VIRTIO_CONSOLE_MAX_PORTS];
} VirtioConsoleConfig;

/*
 * Create a virtio-console device.  Returns the transport part (map it with
 * virtio_mmio_ops, free it with virtio_mmio_free), or NULL with err filled
 * (no memory, a name too long).
 */
VirtioMmio *virtio_console_new(const VirtioMmioConfig *mcfg, const VirtioConsoleConfig *ccfg,
                               Error *err);

/*
 * Deliver host input into port's receive buffers.  Returns how many bytes
 * were taken: fewer than len (maybe 0) when the driver has no free buffers,
 * is not running, or does not know the port; the caller keeps the rest and
 * retries later (the port's writable callback says when).  v must come from
 * virtio_console_new().  Call on the VM thread.
 */
size_t virtio_console_port_receive(VirtioMmio *v, unsigned port, const uint8_t *buf, size_t len);

/* virtio_console_port_receive on port 0. */
size_t virtio_console_receive(VirtioMmio *v, const uint8_t *buf, size_t len);

/* True when the guest has opened port (PORT_OPEN from the driver, MULTIPORT only). */
bool virtio_console_port_open(VirtioMmio *v, unsigned port);

/* Hostile control messages ignored so far (each a log line only the first time). */
uint64_t virtio_console_bad_messages(VirtioMmio *v);

/* The device's state table (the driver's readiness, open ports, waiting control messages). */
extern const struct StateDesc virtio_console_state_desc;

#endif
