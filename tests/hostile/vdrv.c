/* The hostile-guest program's virtio-mmio driver (see vdrv.h). */
#include "vdrv.h"

#define WAIT_US 2000000     /* bounded polls: 2 s of guest time */
#define WAIT_SPINS 50000000 /* and a spin cap in case the timer stands still */

const QueueCfg queue_default = {8, Q_DESC, Q_AVAIL, Q_USED};

uint32_t dev_read(const Dev *d, unsigned reg)
{
    return mmio_read32(d->base + reg);
}

void dev_write(const Dev *d, unsigned reg, uint32_t value)
{
    mmio_write32(d->base + reg, value);
}

bool dev_probe(Dev *d, uint32_t id, const char *name)
{
    for (unsigned n = 0; n < VM_SLOTS; n++) {
        uintptr_t base = VM_SLOT0 + n * VM_SLOT_SIZE;
        if (mmio_read32(base + VM_MAGIC) != VM_MAGIC_VALUE || mmio_read32(base + VM_VERSION) != 2 ||
            mmio_read32(base + VM_DEVICE_ID) != id)
            continue;
        *d = (Dev){.name = name, .base = base};
        return true;
    }
    return false;
}

/* Poll `reg` until (value & mask) == want. */
static bool wait_reg(const Dev *d, unsigned reg, uint32_t mask, uint32_t want)
{
    uint64_t end = mtime() + WAIT_US * (MTIME_HZ / 1000000);
    for (uint32_t spins = 0; spins < WAIT_SPINS; spins++) {
        if ((dev_read(d, reg) & mask) == want)
            return true;
        if (mtime() > end)
            break;
    }
    return (dev_read(d, reg) & mask) == want;
}

bool dev_reset(Dev *d)
{
    dev_write(d, VM_STATUS, 0);
    d->avail_idx = 0;
    return wait_reg(d, VM_STATUS, 0xff, 0);
}

bool dev_negotiate(Dev *d, uint64_t features)
{
    if (!dev_reset(d))
        return false;
    dev_write(d, VM_STATUS, ST_ACKNOWLEDGE);
    dev_write(d, VM_STATUS, ST_ACKNOWLEDGE | ST_DRIVER);
    dev_write(d, VM_DRIVER_FEATURES_SEL, 0);
    dev_write(d, VM_DRIVER_FEATURES, (uint32_t)features);
    dev_write(d, VM_DRIVER_FEATURES_SEL, 1);
    dev_write(d, VM_DRIVER_FEATURES, (uint32_t)(features >> 32));
    dev_write(d, VM_STATUS, ST_ACKNOWLEDGE | ST_DRIVER | ST_FEATURES_OK);
    return dev_read(d, VM_STATUS) & ST_FEATURES_OK;
}

static void write64(Dev *d, unsigned low_reg, uint64_t value)
{
    dev_write(d, low_reg, (uint32_t)value);
    dev_write(d, low_reg + 4, (uint32_t)(value >> 32));
}

bool dev_queue_setup(Dev *d, const QueueCfg *q)
{
    d->num = q->num;
    d->desc = q->desc;
    d->avail = q->avail;
    d->used = q->used;
    d->avail_idx = 0;
    dev_write(d, VM_QUEUE_SEL, 0);
    dev_write(d, VM_QUEUE_NUM, q->num);
    write64(d, VM_QUEUE_DESC_LOW, q->desc);
    write64(d, VM_QUEUE_DRIVER_LOW, q->avail);
    write64(d, VM_QUEUE_DEVICE_LOW, q->used);
    dev_write(d, VM_QUEUE_READY, 1);
    return dev_read(d, VM_QUEUE_READY) == 1;
}

void dev_driver_ok(Dev *d)
{
    dev_write(d, VM_STATUS, dev_read(d, VM_STATUS) | ST_DRIVER_OK);
}

static int start_fail(const Dev *d, const char *why)
{
    uart_puts(d->name);
    uart_puts(": ");
    uart_puts(why);
    uart_puts("\n");
    return -1;
}

int dev_start(Dev *d, uint64_t features, const QueueCfg *q)
{
    phys_fill(AREA, 0, 0x3000); /* rings only: tables and buffers are the caller's */
    if (!dev_negotiate(d, features))
        return start_fail(d, "FEATURES_OK refused");
    if (dev_read(d, VM_QUEUE_NUM_MAX) < q->num)
        return start_fail(d, "QueueNumMax too small");
    if (!dev_queue_setup(d, q))
        return start_fail(d, "QueueReady refused");
    dev_driver_ok(d);
    if (dev_read(d, VM_STATUS) != (ST_ACKNOWLEDGE | ST_DRIVER | ST_FEATURES_OK | ST_DRIVER_OK))
        return start_fail(d, "unexpected Status after DRIVER_OK");
    return 0;
}

void desc_put(uint64_t table, unsigned i, uint64_t addr, uint32_t len, uint16_t flags,
              uint16_t next)
{
    volatile uint8_t *p = phys(table + 16ull * i);
    *(volatile uint64_t *)p = addr;
    *(volatile uint32_t *)(p + 8) = len;
    *(volatile uint16_t *)(p + 12) = flags;
    *(volatile uint16_t *)(p + 14) = next;
}

void dev_avail_add(Dev *d, uint16_t head)
{
    unsigned slot = d->num ? d->avail_idx % d->num : 0;
    *(volatile uint16_t *)phys(d->avail + 4 + 2ull * slot) = head;
    d->avail_idx++;
}

void dev_avail_publish(Dev *d, uint16_t idx)
{
    __asm__ volatile("fence rw, rw" ::: "memory");
    *(volatile uint16_t *)phys(d->avail + 2) = idx;
    dev_write(d, VM_QUEUE_NOTIFY, 0);
}

void dev_submit(Dev *d, uint16_t head)
{
    dev_avail_add(d, head);
    dev_avail_publish(d, d->avail_idx);
}

uint16_t dev_used_idx(const Dev *d)
{
    __asm__ volatile("fence rw, rw" ::: "memory");
    return *(volatile uint16_t *)phys(d->used + 2);
}

void dev_used_elem(const Dev *d, unsigned i, uint32_t *id, uint32_t *len)
{
    volatile uint8_t *p = phys(d->used + 4 + 8ull * (i % d->num));
    *id = *(volatile uint32_t *)p;
    *len = *(volatile uint32_t *)(p + 4);
}

bool dev_wait_status(const Dev *d, uint32_t bits)
{
    return wait_reg(d, VM_STATUS, bits, bits);
}

bool dev_wait_used(const Dev *d, uint16_t idx)
{
    uint64_t end = mtime() + WAIT_US * (MTIME_HZ / 1000000);
    for (uint32_t spins = 0; spins < WAIT_SPINS; spins++) {
        if (dev_used_idx(d) == idx)
            return true;
        if (mtime() > end)
            break;
    }
    return dev_used_idx(d) == idx;
}
