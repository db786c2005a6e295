/*
 * A minimal virtio-mmio (version 2) driver for the hostile-guest program:
 * probing, the virtio 1.x initialisation sequence, one split virtqueue per
 * device at fixed guest addresses, and bounded polling.  It drives devices
 * through exactly the registers a real driver uses, so the scenarios can
 * bend any single step out of shape.
 */
#ifndef HOSTEL_TESTS_HOSTILE_VDRV_H
#define HOSTEL_TESTS_HOSTILE_VDRV_H

#include "hw.h"

/* virtio-mmio registers (virtio 1.2, 4.2.2). */
#define VM_MAGIC 0x000
#define VM_VERSION 0x004
#define VM_DEVICE_ID 0x008
#define VM_DEVICE_FEATURES 0x010
#define VM_DEVICE_FEATURES_SEL 0x014
#define VM_DRIVER_FEATURES 0x020
#define VM_DRIVER_FEATURES_SEL 0x024
#define VM_QUEUE_SEL 0x030
#define VM_QUEUE_NUM_MAX 0x034
#define VM_QUEUE_NUM 0x038
#define VM_QUEUE_READY 0x044
#define VM_QUEUE_NOTIFY 0x050
#define VM_INTERRUPT_STATUS 0x060
#define VM_INTERRUPT_ACK 0x064
#define VM_STATUS 0x070
#define VM_QUEUE_DESC_LOW 0x080
#define VM_QUEUE_DESC_HIGH 0x084
#define VM_QUEUE_DRIVER_LOW 0x090
#define VM_QUEUE_DRIVER_HIGH 0x094
#define VM_QUEUE_DEVICE_LOW 0x0a0
#define VM_QUEUE_DEVICE_HIGH 0x0a4
#define VM_CONFIG 0x100

#define VM_SLOT0 0x10001000ul
#define VM_SLOT_SIZE 0x1000ul
#define VM_SLOTS 8
#define VM_MAGIC_VALUE 0x74726976

#define ST_ACKNOWLEDGE 0x01
#define ST_DRIVER 0x02
#define ST_DRIVER_OK 0x04
#define ST_FEATURES_OK 0x08
#define ST_NEEDS_RESET 0x40

#define ISR_USED 0x1
#define ISR_CONFIG 0x2

#define F_INDIRECT_DESC (1ull << 28)
#define F_VERSION_1 (1ull << 32)

#define DESC_F_NEXT 1
#define DESC_F_WRITE 2
#define DESC_F_INDIRECT 4

#define ID_BLOCK 2
#define ID_RNG 4
#define ID_GPU 16

/* Fixed guest memory used for rings and buffers (well past the program). */
#define AREA 0x80200000ull
#define Q_DESC (AREA + 0x0000) /* 256 descriptors */
#define Q_AVAIL (AREA + 0x1000)
#define Q_USED (AREA + 0x2000)
#define IND_A (AREA + 0x3000) /* indirect tables, 256 entries each */
#define IND_B (AREA + 0x4000)
#define BUF_HDR (AREA + 0x5000)
#define BUF_STATUS (AREA + 0x5800)
#define BUF_DATA (AREA + 0x6000) /* 16 KiB */
#define BUF_DATA_SIZE 0x4000
#define AREA_SIZE 0xa000

/* Where and how big a queue is. */
typedef struct QueueCfg {
    uint32_t num;
    uint64_t desc, avail, used;
} QueueCfg;

/* One device and its queue 0, as this driver set it up. */
typedef struct Dev {
    const char *name;
    uintptr_t base;
    uint32_t num;
    uint64_t desc, avail, used;
    uint16_t avail_idx;
} Dev;

/* The default queue: 8 entries at Q_DESC / Q_AVAIL / Q_USED. */
extern const QueueCfg queue_default;

/* Register access on d. */
uint32_t dev_read(const Dev *d, unsigned reg);
void dev_write(const Dev *d, unsigned reg, uint32_t value);

/* Find the first slot holding device `id`; false if there is none. */
bool dev_probe(Dev *d, uint32_t id, const char *name);

/* Status = 0; true once the device reads back as reset (bounded wait). */
bool dev_reset(Dev *d);

/* Reset, ACKNOWLEDGE, DRIVER, write `features`, FEATURES_OK; true if it stuck. */
bool dev_negotiate(Dev *d, uint64_t features);

/* Program queue 0 from q and write QueueReady = 1; returns QueueReady read back. */
bool dev_queue_setup(Dev *d, const QueueCfg *q);

/* Set DRIVER_OK on top of the current status. */
void dev_driver_ok(Dev *d);

/* The whole sequence; 0 on success, else a short reason printed on the UART. */
int dev_start(Dev *d, uint64_t features, const QueueCfg *q);

/* Write descriptor i of the table at `table`. */
void desc_put(uint64_t table, unsigned i, uint64_t addr, uint32_t len, uint16_t flags,
              uint16_t next);

/* Put `head` in the next available slot (without publishing it). */
void dev_avail_add(Dev *d, uint16_t head);

/* Publish available index `idx` and notify queue 0. */
void dev_avail_publish(Dev *d, uint16_t idx);

/* dev_avail_add + publish: offer one chain. */
void dev_submit(Dev *d, uint16_t head);

/* The device's used index, and used element i. */
uint16_t dev_used_idx(const Dev *d);
void dev_used_elem(const Dev *d, unsigned i, uint32_t *id, uint32_t *len);

/* Poll until Status has all `bits` / the used index reaches idx; false on timeout. */
bool dev_wait_status(const Dev *d, uint32_t bits);
bool dev_wait_used(const Dev *d, uint16_t idx);

#endif
