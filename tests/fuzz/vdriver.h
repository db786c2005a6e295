/*
 * The driver side shared by the virtio device fuzz targets (fuzz_console.c,
 * fuzz_gpu.c): NQ split queues of QNUM entries each, queue q's rings at
 * RAM_BASE + 0x4000 * q in the target's `bus`, set up through the
 * virtio-mmio registers as a driver does.  The includer defines RAM_BASE,
 * QNUM and NQ and a `static Bus bus` before including it.
 */
#ifndef HOSTEL_TESTS_FUZZ_VDRIVER_H
#define HOSTEL_TESTS_FUZZ_VDRIVER_H

#include <stdint.h>
#include <string.h>

#include "virtio/mmio.h"
#include "virtio/virtio.h"

/* The driver's side of one queue. */
typedef struct Drv {
    uint16_t avail_idx, next_desc;
    uint32_t lens[QNUM]; /* the writable bytes each chain head had (the used check) */
} Drv;

static Drv drv[NQ];

static void wr(VirtioMmio *v, uint64_t off, uint32_t val)
{
    virtio_mmio_ops.write(v, off, 4, val);
}

static uint32_t rd(VirtioMmio *v, uint64_t off)
{
    uint64_t x = 0;
    virtio_mmio_ops.read(v, off, 4, &x);
    return (uint32_t)x;
}

static uint8_t *ram(uint64_t pa)
{
    return bus.ram + (pa - RAM_BASE);
}

static uint64_t qarea(unsigned q)
{
    return RAM_BASE + 0x4000ull * q;
}

static void setup(VirtioMmio *v)
{
    wr(v, VIRTIO_MMIO_STATUS, 0);
    wr(v, VIRTIO_MMIO_STATUS, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER);
    for (uint32_t sel = 0; sel < 2; sel++) {
        wr(v, VIRTIO_MMIO_DEVICE_FEATURES_SEL, sel);
        uint32_t f = rd(v, VIRTIO_MMIO_DEVICE_FEATURES);
        wr(v, VIRTIO_MMIO_DRIVER_FEATURES_SEL, sel);
        wr(v, VIRTIO_MMIO_DRIVER_FEATURES, f);
    }
    wr(v, VIRTIO_MMIO_STATUS,
       VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER | VIRTIO_STATUS_FEATURES_OK);
    memset(drv, 0, sizeof(drv));
    memset(bus.ram, 0, 0x4000 * NQ);
    for (unsigned q = 0; q < NQ; q++) {
        uint64_t a = qarea(q);
        wr(v, VIRTIO_MMIO_QUEUE_SEL, q);
        wr(v, VIRTIO_MMIO_QUEUE_NUM, QNUM);
        wr(v, VIRTIO_MMIO_QUEUE_DESC_LOW, (uint32_t)a);
        wr(v, VIRTIO_MMIO_QUEUE_DESC_HIGH, (uint32_t)(a >> 32));
        wr(v, VIRTIO_MMIO_QUEUE_DRIVER_LOW, (uint32_t)(a + 0x1000));
        wr(v, VIRTIO_MMIO_QUEUE_DRIVER_HIGH, (uint32_t)((a + 0x1000) >> 32));
        wr(v, VIRTIO_MMIO_QUEUE_DEVICE_LOW, (uint32_t)(a + 0x2000));
        wr(v, VIRTIO_MMIO_QUEUE_DEVICE_HIGH, (uint32_t)((a + 0x2000) >> 32));
        wr(v, VIRTIO_MMIO_QUEUE_READY, 1);
    }
    wr(v, VIRTIO_MMIO_STATUS, rd(v, VIRTIO_MMIO_STATUS) | VIRTIO_STATUS_DRIVER_OK);
}

#endif
