/*
 * Constants of the virtio 1.2 specification shared by the virtqueue core,
 * the virtio-mmio transport and the devices: device status bits, reserved
 * feature bits, device ids.  Everything on the wire is little-endian.
 */
#ifndef HOSTEL_VIRTIO_VIRTIO_H
#define HOSTEL_VIRTIO_VIRTIO_H

/* Device status (virtio 1.2, 2.1). */
#define VIRTIO_STATUS_ACKNOWLEDGE 0x01
#define VIRTIO_STATUS_DRIVER 0x02
#define VIRTIO_STATUS_DRIVER_OK 0x04
#define VIRTIO_STATUS_FEATURES_OK 0x08
#define VIRTIO_STATUS_DEVICE_NEEDS_RESET 0x40
#define VIRTIO_STATUS_FAILED 0x80

/* Reserved feature bits (virtio 1.2, 6) that the core implements. */
#define VIRTIO_RING_F_INDIRECT_DESC 28
#define VIRTIO_RING_F_EVENT_IDX 29
#define VIRTIO_F_VERSION_1 32

/* Device ids (virtio 1.2, 5). */
#define VIRTIO_ID_NONE 0 /* placeholder slot: drivers ignore it */
#define VIRTIO_ID_NET 1
#define VIRTIO_ID_BLOCK 2
#define VIRTIO_ID_CONSOLE 3
#define VIRTIO_ID_RNG 4

/* Interrupt status bits (InterruptStatus / InterruptACK). */
#define VIRTIO_ISR_USED 0x1
#define VIRTIO_ISR_CONFIG 0x2

#define VIRTIO_BIT(n) (1ull << (n))

#endif
