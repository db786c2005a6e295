/*
 * The virtio-mmio transport, version 2 (virtio 1.2, 4.2): the register
 * window through which a driver negotiates features, sets up queues,
 * notifies the device and acknowledges interrupts.  It is the same for
 * every device; a device supplies a VirtioDeviceOps table and embeds a
 * VirtioMmio as its first member (container_of gets back to the device).
 *
 * Only modern drivers are served: a driver that does not accept
 * VIRTIO_F_VERSION_1 cannot set FEATURES_OK.  The transport offers
 * INDIRECT_DESC and EVENT_IDX on top of the device's features.
 *
 * A driver that breaks the rules (a bad queue setup, a malformed chain)
 * makes the device "broken": one line is logged, DEVICE_NEEDS_RESET is set
 * in Status with a configuration-change interrupt, and the device does no
 * more work until the driver resets it.
 *
 * Everything runs on the VM thread; the interrupt line is level-triggered
 * (high while InterruptStatus is non-zero).
 */
#ifndef HOSTEL_VIRTIO_MMIO_H
#define HOSTEL_VIRTIO_MMIO_H

#include <stdbool.h>
#include <stdint.h>

#include "hw/device.h"
#include "util/error.h"
#include "virtio/virtio.h"
#include "virtio/virtq.h"

#define VIRTIO_MMIO_SIZE 0x1000
#define VIRTIO_MMIO_MAGIC 0x74726976 /* "virt" */
#define VIRTIO_MMIO_VERSION 2
#define VIRTIO_MMIO_VENDOR 0x554d4551 /* "QEMU", as QEMU's devices report */
#define VIRTIO_MMIO_MAX_QUEUES 8
#define VIRTIO_MMIO_CONFIG 0x100 /* device configuration space offset */

/* Register offsets. */
enum {
    VIRTIO_MMIO_MAGIC_VALUE = 0x000,
    VIRTIO_MMIO_VERSION_REG = 0x004,
    VIRTIO_MMIO_DEVICE_ID = 0x008,
    VIRTIO_MMIO_VENDOR_ID = 0x00c,
    VIRTIO_MMIO_DEVICE_FEATURES = 0x010,
    VIRTIO_MMIO_DEVICE_FEATURES_SEL = 0x014,
    VIRTIO_MMIO_DRIVER_FEATURES = 0x020,
    VIRTIO_MMIO_DRIVER_FEATURES_SEL = 0x024,
    VIRTIO_MMIO_QUEUE_SEL = 0x030,
    VIRTIO_MMIO_QUEUE_NUM_MAX = 0x034,
    VIRTIO_MMIO_QUEUE_NUM = 0x038,
    VIRTIO_MMIO_QUEUE_READY = 0x044,
    VIRTIO_MMIO_QUEUE_NOTIFY = 0x050,
    VIRTIO_MMIO_INTERRUPT_STATUS = 0x060,
    VIRTIO_MMIO_INTERRUPT_ACK = 0x064,
    VIRTIO_MMIO_STATUS = 0x070,
    VIRTIO_MMIO_QUEUE_DESC_LOW = 0x080,
    VIRTIO_MMIO_QUEUE_DESC_HIGH = 0x084,
    VIRTIO_MMIO_QUEUE_DRIVER_LOW = 0x090,
    VIRTIO_MMIO_QUEUE_DRIVER_HIGH = 0x094,
    VIRTIO_MMIO_QUEUE_DEVICE_LOW = 0x0a0,
    VIRTIO_MMIO_QUEUE_DEVICE_HIGH = 0x0a4,
    VIRTIO_MMIO_SHM_SEL = 0x0ac,
    VIRTIO_MMIO_SHM_LEN_LOW = 0x0b0,
    VIRTIO_MMIO_SHM_LEN_HIGH = 0x0b4,
    VIRTIO_MMIO_SHM_BASE_LOW = 0x0b8,
    VIRTIO_MMIO_SHM_BASE_HIGH = 0x0bc,
    VIRTIO_MMIO_CONFIG_GENERATION = 0x0fc,
};

typedef struct VirtioMmio VirtioMmio;

/* What a device type plugs into the transport. */
typedef struct VirtioDeviceOps {
    const char *name;    /* "virtio-blk", for messages */
    uint32_t device_id;  /* VIRTIO_ID_* */
    uint64_t features;   /* device-type feature bits always offered */
    unsigned num_queues; /* 0..VIRTIO_MMIO_MAX_QUEUES */
    uint16_t queue_max;  /* largest queue size (power of two, <= VIRTQ_MAX_SIZE) */
    /*
     * Configuration space access at offset (from 0x100) of size 1, 2, 4
     * or 8 bytes; NULL = no configuration space (reads 0, writes ignored).
     */
    uint64_t (*config_read)(VirtioMmio *v, uint64_t offset, unsigned size);
    void (*config_write)(VirtioMmio *v, uint64_t offset, unsigned size, uint64_t value);
    /* The driver notified queue q (ready, DRIVER_OK set, device not broken). */
    void (*queue_notify)(VirtioMmio *v, unsigned q);
    /* Device reset (Status = 0 or machine reset): drop in-flight work. May be NULL. */
    void (*reset)(VirtioMmio *v);
    /* Release the device (the VirtioMmio is part of it). */
    void (*free)(VirtioMmio *v);
    /*
     * Save/restore (optional): the device's own state table (the object is
     * the device struct, which begins with its VirtioMmio), and quiesce,
     * which completes every in-flight request before a save.
     */
    const struct StateDesc *state;
    void (*quiesce)(VirtioMmio *v);
} VirtioDeviceOps;

/* Where a device sits on the board. */
typedef struct VirtioMmioConfig {
    Bus *bus;      /* guest memory for the queues */
    uint64_t base; /* MMIO base address (the region is VIRTIO_MMIO_SIZE bytes) */
    IrqLine irq;   /* the line (its source is the device tree's "interrupts") */
} VirtioMmioConfig;

/*
 * A transport slot is a device of the board: it begins with its Device
 * (ops virtio_mmio_device_ops, whatever the device type behind it), so a
 * Device pointer of a slot is its VirtioMmio.
 */
struct VirtioMmio {
    Device dev;
    const VirtioDeviceOps *ops;
    VirtioMmioConfig cfg;
    uint64_t device_features; /* offered: ops->features, transport bits, instance bits */
    uint64_t driver_features; /* written by the driver */
    uint64_t features;        /* accepted at FEATURES_OK */
    uint32_t device_features_sel, driver_features_sel, queue_sel;
    uint32_t status;
    uint32_t isr; /* InterruptStatus */
    uint32_t config_generation;
    bool irq_level;
    bool broken;
    bool kick_pending[VIRTIO_MMIO_MAX_QUEUES]; /* notified before DRIVER_OK */
    unsigned nqueues;                          /* ops->num_queues (capped): the queues in use */
    Virtq vq[VIRTIO_MMIO_MAX_QUEUES];
};

/* Save/restore table of the transport (registers, negotiated features, queues). */
extern const struct StateDesc virtio_mmio_state_desc;

/* MMIO ops; the opaque pointer is the VirtioMmio. */
extern const MmioOps virtio_mmio_ops;

/*
 * The device ops of every slot: "virtio" (the transport's state tag; the
 * device type's own section is VirtioDeviceOps.state under its name),
 * registers, reset, fdt (virtio,mmio), state, free through VirtioDeviceOps.
 */
extern const DeviceOps virtio_mmio_device_ops;

/*
 * Initialise the transport part of a device in its reset state.  Called
 * by device constructors; ops must outlive v.  Devices may add feature
 * bits to v->device_features afterwards.
 */
void virtio_mmio_init(VirtioMmio *v, const VirtioDeviceOps *ops, const VirtioMmioConfig *cfg);

/* Reset the device as if the driver wrote 0 to Status (machine reset). */
void virtio_mmio_reset(VirtioMmio *v);

/* Free a device through its ops (NULL is ignored). */
void virtio_mmio_free(VirtioMmio *v);

/*
 * Mark the device broken: log "NAME@BASE: msg; device needs reset" once,
 * set DEVICE_NEEDS_RESET and raise a configuration-change interrupt if the
 * driver is running.  Further queue work is refused until a reset.
 */
void virtio_mmio_set_broken(VirtioMmio *v, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* True when feature bit was negotiated (FEATURES_OK accepted it). */
bool virtio_mmio_has_feature(const VirtioMmio *v, unsigned bit);

/* True when the driver set DRIVER_OK and the device is not broken. */
bool virtio_mmio_running(const VirtioMmio *v);

/* After pushing to queue q: raise the used-buffer interrupt if the driver wants it. */
void virtio_mmio_notify_used(VirtioMmio *v, unsigned q);

/* The configuration space changed: bump ConfigGeneration and interrupt. */
void virtio_mmio_config_changed(VirtioMmio *v);

/*
 * Read size bytes at offset of a little-endian configuration structure of
 * len bytes (bytes past its end read as 0).
 */
uint64_t virtio_config_bytes(const void *config, size_t len, uint64_t offset, unsigned size);

/* A placeholder slot (device id 0, no queues): drivers skip it. NULL if out of memory. */
VirtioMmio *virtio_placeholder_new(const VirtioMmioConfig *cfg, Error *err);

#endif
