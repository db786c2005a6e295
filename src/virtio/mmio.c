/*
 * virtio-mmio version 2 transport: the register file, feature negotiation,
 * queue setup, notifications, the interrupt line and the "broken" state.
 * Device-independent: device behaviour comes from VirtioDeviceOps.
 */
#include "virtio/mmio.h"

#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "state/state.h"
#include "util/log.h"

/* Feature bits the transport itself implements, offered with every device. */
#define VIRTIO_MMIO_TRANSPORT_FEATURES                                                             \
    (VIRTIO_BIT(VIRTIO_F_VERSION_1) | VIRTIO_BIT(VIRTIO_RING_F_INDIRECT_DESC) |                    \
     VIRTIO_BIT(VIRTIO_RING_F_EVENT_IDX))

/* ---- interrupt and error state ---- */

static void mmio_update_irq(VirtioMmio *v)
{
    bool level = v->isr != 0;
    if (level == v->irq_level)
        return;
    v->irq_level = level;
    irq_line_set(&v->dev.irq, level);
}

void virtio_mmio_set_broken(VirtioMmio *v, const char *fmt, ...)
{
    if (v->broken)
        return;
    v->broken = true;
    char msg[384];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    log_warn("%s@0x%llx: %s; device needs reset", v->ops->name, (unsigned long long)v->cfg.base,
             msg);
    v->status |= VIRTIO_STATUS_DEVICE_NEEDS_RESET;
    if (v->status & VIRTIO_STATUS_DRIVER_OK) {
        v->isr |= VIRTIO_ISR_CONFIG;
        mmio_update_irq(v);
    }
}

/* Virtq fail hook: the whole device becomes broken. */
static void mmio_queue_fail(void *opaque, unsigned index, const char *msg)
{
    virtio_mmio_set_broken(opaque, "queue %u: %s", index, msg);
}

bool virtio_mmio_has_feature(const VirtioMmio *v, unsigned bit)
{
    return bit < 64 && (v->features & VIRTIO_BIT(bit));
}

bool virtio_mmio_running(const VirtioMmio *v)
{
    return (v->status & VIRTIO_STATUS_DRIVER_OK) && !v->broken;
}

void virtio_mmio_notify_used(VirtioMmio *v, unsigned q)
{
    if (q >= v->ops->num_queues || !virtq_need_irq(&v->vq[q]))
        return;
    v->isr |= VIRTIO_ISR_USED;
    mmio_update_irq(v);
}

void virtio_mmio_config_changed(VirtioMmio *v)
{
    v->config_generation++;
    if (!(v->status & VIRTIO_STATUS_DRIVER_OK))
        return;
    v->isr |= VIRTIO_ISR_CONFIG;
    mmio_update_irq(v);
}

/* ---- lifecycle ---- */

void virtio_mmio_init(VirtioMmio *v, const VirtioDeviceOps *ops, const VirtioMmioConfig *cfg)
{
    memset(v, 0, sizeof(*v));
    v->dev = (Device){.ops = &virtio_mmio_device_ops,
                      .base = cfg->base,
                      .size = VIRTIO_MMIO_SIZE,
                      .irq = cfg->irq};
    v->ops = ops;
    v->cfg = *cfg;
    v->device_features = ops->features | VIRTIO_MMIO_TRANSPORT_FEATURES;
    v->nqueues =
        ops->num_queues < VIRTIO_MMIO_MAX_QUEUES ? ops->num_queues : VIRTIO_MMIO_MAX_QUEUES;
    for (unsigned i = 0; i < ops->num_queues && i < VIRTIO_MMIO_MAX_QUEUES; i++)
        virtq_init(&v->vq[i], cfg->bus, i, ops->queue_max, mmio_queue_fail, v);
}

void virtio_mmio_reset(VirtioMmio *v)
{
    if (v->ops->reset)
        v->ops->reset(v); /* first: the device drains work that still refers to queues */
    for (unsigned i = 0; i < v->ops->num_queues; i++)
        virtq_reset(&v->vq[i]);
    v->driver_features = v->features = 0;
    v->device_features_sel = v->driver_features_sel = v->queue_sel = 0;
    v->status = 0;
    v->broken = false;
    v->isr = 0;
    mmio_update_irq(v);
}

void virtio_mmio_free(VirtioMmio *v)
{
    if (v)
        v->ops->free(v);
}

/* ---- register reads ---- */

static Virtq *mmio_selected_queue(VirtioMmio *v)
{
    return v->queue_sel < v->ops->num_queues ? &v->vq[v->queue_sel] : NULL;
}

static uint32_t mmio_device_features(const VirtioMmio *v)
{
    if (v->device_features_sel > 1)
        return 0;
    return (uint32_t)(v->device_features >> (32 * v->device_features_sel));
}

static uint32_t mmio_read_queue_reg(VirtioMmio *v, uint64_t offset)
{
    Virtq *q = mmio_selected_queue(v);
    if (!q)
        return 0; /* QueueNumMax 0: the queue does not exist */
    if (offset == VIRTIO_MMIO_QUEUE_NUM_MAX)
        return q->max;
    return q->ready; /* VIRTIO_MMIO_QUEUE_READY */
}

static uint32_t mmio_read_reg(VirtioMmio *v, uint64_t offset)
{
    switch (offset) {
    case VIRTIO_MMIO_MAGIC_VALUE: return VIRTIO_MMIO_MAGIC;
    case VIRTIO_MMIO_VERSION_REG: return VIRTIO_MMIO_VERSION;
    case VIRTIO_MMIO_DEVICE_ID: return v->ops->device_id;
    case VIRTIO_MMIO_VENDOR_ID: return VIRTIO_MMIO_VENDOR;
    case VIRTIO_MMIO_DEVICE_FEATURES: return mmio_device_features(v);
    case VIRTIO_MMIO_QUEUE_NUM_MAX:
    case VIRTIO_MMIO_QUEUE_READY: return mmio_read_queue_reg(v, offset);
    case VIRTIO_MMIO_INTERRUPT_STATUS: return v->isr;
    case VIRTIO_MMIO_STATUS: return v->status;
    case VIRTIO_MMIO_SHM_LEN_LOW:
    case VIRTIO_MMIO_SHM_LEN_HIGH:
    case VIRTIO_MMIO_SHM_BASE_LOW:
    case VIRTIO_MMIO_SHM_BASE_HIGH: return 0xffffffff; /* no shared memory regions */
    case VIRTIO_MMIO_CONFIG_GENERATION: return v->config_generation;
    default: return 0; /* write-only or unknown registers */
    }
}

static bool mmio_read(void *opaque, uint64_t offset, unsigned size, uint64_t *value)
{
    VirtioMmio *v = opaque;
    if (offset >= VIRTIO_MMIO_CONFIG) {
        const VirtioDeviceOps *ops = v->ops;
        *value = ops->config_read ? ops->config_read(v, offset - VIRTIO_MMIO_CONFIG, size) : 0;
        return true;
    }
    /* Registers take aligned 32-bit accesses only; anything else reads 0. */
    *value = (size == 4 && offset % 4 == 0) ? mmio_read_reg(v, offset) : 0;
    return true;
}

/* ---- register writes ---- */

static void mmio_write_driver_features(VirtioMmio *v, uint32_t value)
{
    if ((v->status & VIRTIO_STATUS_FEATURES_OK) || v->driver_features_sel > 1)
        return; /* frozen after FEATURES_OK; only two words exist */
    unsigned shift = 32 * v->driver_features_sel;
    v->driver_features &= ~(0xffffffffull << shift);
    v->driver_features |= (uint64_t)value << shift;
}

/* A 32-bit half of a queue address register. */
static void mmio_set_half(uint64_t *reg, bool high, uint32_t value)
{
    if (high)
        *reg = (*reg & 0xffffffffull) | (uint64_t)value << 32;
    else
        *reg = (*reg & ~0xffffffffull) | value;
}

static void mmio_write_queue_ready(VirtioMmio *v, Virtq *q, uint32_t value)
{
    if (!(value & 1)) {
        virtq_disable(q);
        return;
    }
    if (q->ready || v->broken)
        return;
    virtq_enable(q, virtio_mmio_has_feature(v, VIRTIO_RING_F_INDIRECT_DESC),
                 virtio_mmio_has_feature(v, VIRTIO_RING_F_EVENT_IDX));
}

/* QueueNum, QueueReady and the address registers of the selected queue. */
static void mmio_write_queue_reg(VirtioMmio *v, uint64_t offset, uint32_t value)
{
    Virtq *q = mmio_selected_queue(v);
    if (!q)
        return;
    if (offset == VIRTIO_MMIO_QUEUE_READY) {
        mmio_write_queue_ready(v, q, value);
        return;
    }
    if (q->ready)
        return; /* the driver must not change a live queue: ignore */
    switch (offset) {
    case VIRTIO_MMIO_QUEUE_NUM:
        q->num_written = (uint32_t)value;
        q->num = value > 0xffff ? 0 : (uint16_t)value;
        break;
    case VIRTIO_MMIO_QUEUE_DESC_LOW: mmio_set_half(&q->desc_addr, false, value); break;
    case VIRTIO_MMIO_QUEUE_DESC_HIGH: mmio_set_half(&q->desc_addr, true, value); break;
    case VIRTIO_MMIO_QUEUE_DRIVER_LOW: mmio_set_half(&q->avail_addr, false, value); break;
    case VIRTIO_MMIO_QUEUE_DRIVER_HIGH: mmio_set_half(&q->avail_addr, true, value); break;
    case VIRTIO_MMIO_QUEUE_DEVICE_LOW: mmio_set_half(&q->used_addr, false, value); break;
    case VIRTIO_MMIO_QUEUE_DEVICE_HIGH: mmio_set_half(&q->used_addr, true, value); break;
    default: break;
    }
}

static void mmio_notify(VirtioMmio *v, uint32_t value)
{
    unsigned q = value & 0xffff; /* NOTIFICATION_DATA is not offered: the queue index */
    if (q < v->ops->num_queues && v->vq[q].ready && virtio_mmio_running(v))
        v->ops->queue_notify(v, q);
}

static bool mmio_features_acceptable(const VirtioMmio *v)
{
    return (v->driver_features & VIRTIO_BIT(VIRTIO_F_VERSION_1)) &&
           !(v->driver_features & ~v->device_features);
}

/* DRIVER_OK: serve what the driver queued and notified before it. */
static void mmio_driver_ok(VirtioMmio *v)
{
    for (unsigned q = 0; q < v->ops->num_queues; q++)
        if (v->vq[q].ready && virtio_mmio_running(v))
            v->ops->queue_notify(v, q);
}

static void mmio_write_status(VirtioMmio *v, uint32_t value)
{
    if (value == 0) {
        virtio_mmio_reset(v);
        return;
    }
    value &= 0xff & ~VIRTIO_STATUS_DEVICE_NEEDS_RESET; /* that bit is the device's */
    uint32_t added = value & ~v->status;
    if (added & VIRTIO_STATUS_FEATURES_OK) {
        if (mmio_features_acceptable(v))
            v->features = v->driver_features;
        else
            value &= ~VIRTIO_STATUS_FEATURES_OK;
    }
    v->status = value | (v->status & VIRTIO_STATUS_DEVICE_NEEDS_RESET);
    if (added & VIRTIO_STATUS_DRIVER_OK)
        mmio_driver_ok(v);
}

static void mmio_write_reg(VirtioMmio *v, uint64_t offset, uint32_t value)
{
    switch (offset) {
    case VIRTIO_MMIO_DEVICE_FEATURES_SEL: v->device_features_sel = value; break;
    case VIRTIO_MMIO_DRIVER_FEATURES: mmio_write_driver_features(v, value); break;
    case VIRTIO_MMIO_DRIVER_FEATURES_SEL: v->driver_features_sel = value; break;
    case VIRTIO_MMIO_QUEUE_SEL: v->queue_sel = value; break;
    case VIRTIO_MMIO_QUEUE_NUM:
    case VIRTIO_MMIO_QUEUE_READY:
    case VIRTIO_MMIO_QUEUE_DESC_LOW:
    case VIRTIO_MMIO_QUEUE_DESC_HIGH:
    case VIRTIO_MMIO_QUEUE_DRIVER_LOW:
    case VIRTIO_MMIO_QUEUE_DRIVER_HIGH:
    case VIRTIO_MMIO_QUEUE_DEVICE_LOW:
    case VIRTIO_MMIO_QUEUE_DEVICE_HIGH: mmio_write_queue_reg(v, offset, value); break;
    case VIRTIO_MMIO_QUEUE_NOTIFY: mmio_notify(v, value); break;
    case VIRTIO_MMIO_INTERRUPT_ACK:
        v->isr &= ~value;
        mmio_update_irq(v);
        break;
    case VIRTIO_MMIO_STATUS: mmio_write_status(v, value); break;
    default: break; /* read-only or unknown registers */
    }
}

static bool mmio_write(void *opaque, uint64_t offset, unsigned size, uint64_t value)
{
    VirtioMmio *v = opaque;
    if (offset >= VIRTIO_MMIO_CONFIG) {
        if (v->ops->config_write)
            v->ops->config_write(v, offset - VIRTIO_MMIO_CONFIG, size, value);
        return true;
    }
    if (size == 4 && offset % 4 == 0)
        mmio_write_reg(v, offset, (uint32_t)value);
    return true; /* other widths are ignored, as QEMU does */
}

const MmioOps virtio_mmio_ops = {
    .read = mmio_read,
    .write = mmio_write,
};

/* ---- helpers for devices ---- */

uint64_t virtio_config_bytes(const void *config, size_t len, uint64_t offset, unsigned size)
{
    const uint8_t *p = config;
    uint64_t value = 0;
    for (unsigned i = 0; i < size && i < 8; i++)
        if (offset < len && i < len - offset)
            value |= (uint64_t)p[offset + i] << (8 * i);
    return value;
}

/* ---- the placeholder device ---- */

static void placeholder_notify(VirtioMmio *v, unsigned q)
{
}

static void placeholder_free(VirtioMmio *v)
{
    free(v);
}

static const VirtioDeviceOps placeholder_ops = {
    .name = "virtio-mmio",
    .device_id = VIRTIO_ID_NONE,
    .queue_notify = placeholder_notify,
    .free = placeholder_free,
};

VirtioMmio *virtio_placeholder_new(const VirtioMmioConfig *cfg, Error *err)
{
    VirtioMmio *v = malloc(sizeof(*v));
    if (!v) {
        error_set(err, "out of memory creating a virtio-mmio slot");
        return NULL;
    }
    virtio_mmio_init(v, &placeholder_ops, cfg);
    return v;
}

static void mmio_fdt(const Device *d, DeviceTree *dt, unsigned nharts)
{
    dt_begin_at(dt, "virtio_mmio", d->base);
    dt_prop_str(dt, "compatible", "virtio,mmio");
    dt_prop_reg(dt, d->base, VIRTIO_MMIO_SIZE);
    dt_prop_u32(dt, "interrupt-parent", FDT_PHANDLE_PLIC);
    dt_prop_u32(dt, "interrupts", d->irq.src);
    dt_end(dt);
}

/* ---- state ---- */

static int mmio_state_check(const void *staged, Error *err)
{
    const VirtioMmio *v = staged;
    if (v->features & ~v->device_features)
        return error_set(err, "%s: negotiated features 0x%llx are not offered by this device",
                         v->ops->name, (unsigned long long)v->features);
    if (v->queue_sel > 0xffff || v->device_features_sel > 1 || v->driver_features_sel > 1)
        return error_set(err, "%s: a selector register is out of range", v->ops->name);
    return 0;
}

static void mmio_post_load(void *live)
{
    VirtioMmio *v = live;
    for (unsigned i = 0; i < v->nqueues; i++)
        virtq_remap(&v->vq[i]); /* a queue outside RAM marks the device broken */
    v->irq_level = v->isr != 0;
    irq_line_set(&v->dev.irq, v->irq_level);
}

static const StateField mmio_fields[] = {
    STATE_FIELD(VirtioMmio, driver_features, STATE_U64),
    STATE_FIELD(VirtioMmio, features, STATE_U64),
    STATE_FIELD(VirtioMmio, device_features_sel, STATE_U32),
    STATE_FIELD(VirtioMmio, driver_features_sel, STATE_U32),
    STATE_FIELD(VirtioMmio, queue_sel, STATE_U32),
    STATE_FIELD(VirtioMmio, status, STATE_U32, .max = 0xff),
    STATE_FIELD(VirtioMmio, isr, STATE_U32, .max = 3),
    STATE_FIELD(VirtioMmio, config_generation, STATE_U32),
    STATE_FIELD(VirtioMmio, broken, STATE_BOOL),
    /* grows: a device type that gained queues (virtio-console's MULTIPORT: 2 -> 6) still
     * loads a file saved before; its new queues are reset, as a driver that never set
     * them up leaves them. */
    STATE_FIELD(VirtioMmio, kick_pending, STATE_BOOL, .count = VIRTIO_MMIO_MAX_QUEUES,
                .count_of = STATE_COUNT_OF(VirtioMmio, nqueues), .grows = true),
    STATE_FIELD(VirtioMmio, vq, STATE_STRUCT, .count = VIRTIO_MMIO_MAX_QUEUES,
                .count_of = STATE_COUNT_OF(VirtioMmio, nqueues), .sub = &virtq_state_desc,
                .stride = sizeof(Virtq), .grows = true),
    STATE_END,
};

const StateDesc virtio_mmio_state_desc = {
    .name = "virtio-mmio",
    .version = 1,
    .min_version = 1,
    .size = sizeof(VirtioMmio),
    .fields = mmio_fields,
    .check = mmio_state_check,
    .post_load = mmio_post_load,
};

/* ---- the transport as a device of the board ---- */

static void mmio_device_reset(Device *d)
{
    virtio_mmio_reset((VirtioMmio *)d);
}

static void mmio_device_free(Device *d)
{
    virtio_mmio_free((VirtioMmio *)d);
}

const DeviceOps virtio_mmio_device_ops = {
    .name = "virtio",
    .mmio = &virtio_mmio_ops,
    .reset = mmio_device_reset,
    .fdt = mmio_fdt,
    .state = &virtio_mmio_state_desc,
    .free = mmio_device_free,
};
