/* The unit tests' shared board, interrupt line and virtio-mmio driver (see vfake.h). */
#include "vfake.h"

#include <stdio.h>
#include <string.h>

#include "net/net.h"

/* ---- an interrupt line ---- */

static void vfake_irq_set(IrqController *c, unsigned src, bool level)
{
    VFakeIrq *irq = (VFakeIrq *)c; /* ctl is the first member */
    irq->level = level;
    irq->raises += level;
    irq->src = src;
}

IrqLine vfake_irq_line(VFakeIrq *irq, unsigned src)
{
    if (!irq)
        return (IrqLine){0};
    irq->ctl.set_irq = vfake_irq_set;
    return (IrqLine){&irq->ctl, src};
}

/* ---- a bus with harts ---- */

int vfake_harts_init(VFakeHarts *b, int n, Error *err)
{
    memset(b, 0, sizeof(*b));
    if (n < 1 || n > VFAKE_MAX_HARTS)
        return error_set(err, "%d harts: 1 to %d", n, VFAKE_MAX_HARTS);
    if (bus_init(&b->bus, VFAKE_RAM_BASE, 16ull << 20, err) < 0)
        return -1;
    for (; b->n < n; b->n++) {
        if (!(b->harts[b->n] = hart_new(&b->bus, (uint64_t)b->n, err))) {
            vfake_harts_destroy(b);
            return -1;
        }
    }
    return 0;
}

void vfake_harts_destroy(VFakeHarts *b)
{
    for (int i = 0; i < b->n; i++)
        hart_free(b->harts[i]);
    b->n = 0;
    bus_destroy(&b->bus);
}

/* ---- guest RAM ---- */

void *vfake_ram(Bus *bus, uint64_t pa)
{
    return bus_ram_ptr(bus, pa, 1);
}

void vfake_put16(Bus *bus, uint64_t pa, uint16_t v)
{
    memcpy(vfake_ram(bus, pa), &v, 2);
}

uint16_t vfake_get16(Bus *bus, uint64_t pa)
{
    uint16_t v;
    memcpy(&v, vfake_ram(bus, pa), 2);
    return v;
}

uint32_t vfake_get32(Bus *bus, uint64_t pa)
{
    uint32_t v;
    memcpy(&v, vfake_ram(bus, pa), 4);
    return v;
}

void vfake_write_desc(Bus *bus, uint64_t pa, uint64_t addr, uint32_t len, uint16_t flags,
                      uint16_t next)
{
    uint8_t *p = vfake_ram(bus, pa);
    memcpy(p, &addr, 8);
    memcpy(p + 8, &len, 4);
    memcpy(p + 12, &flags, 2);
    memcpy(p + 14, &next, 2);
}

/* ---- devices ---- */

static VirtioMmioConfig mmio_config(Bus *bus, uint64_t base, VFakeIrq *irq)
{
    return (VirtioMmioConfig){.bus = bus, .base = base, .irq = vfake_irq_line(irq, 1)};
}

VirtioMmio *vfake_virtio_blk(Bus *bus, uint64_t base, VFakeIrq *irq, const VirtioBlkConfig *cfg,
                             Error *err)
{
    VirtioMmioConfig m = mmio_config(bus, base, irq);
    return virtio_blk_new(&m, cfg, err);
}

VirtioMmio *vfake_virtio_net(Bus *bus, uint64_t base, VFakeIrq *irq, const VirtioNetConfig *cfg,
                             Error *err)
{
    VirtioMmioConfig m = mmio_config(bus, base, irq);
    return virtio_net_new(&m, cfg, err);
}

VirtioMmio *vfake_virtio_rng(Bus *bus, uint64_t base, VFakeIrq *irq, Error *err)
{
    VirtioMmioConfig m = mmio_config(bus, base, irq);
    return virtio_rng_new(&m, err);
}

VirtioMmio *vfake_virtio_gpu(Bus *bus, uint64_t base, VFakeIrq *irq, const VirtioGpuConfig *cfg,
                             Error *err)
{
    VirtioMmioConfig m = mmio_config(bus, base, irq);
    return virtio_gpu_new(&m, cfg, err);
}

VirtioMmio *vfake_virtio_console(Bus *bus, uint64_t base, VFakeIrq *irq,
                                 const VirtioConsoleConfig *cfg, Error *err)
{
    VirtioMmioConfig m = mmio_config(bus, base, irq);
    return virtio_console_new(&m, cfg, err);
}

VirtioMmio *vfake_virtio_input(Bus *bus, uint64_t base, VFakeIrq *irq, const VirtioInputConfig *cfg,
                               Error *err)
{
    VirtioMmioConfig m = mmio_config(bus, base, irq);
    return virtio_input_new(&m, cfg, err);
}

VirtioMmio *vfake_virtio_placeholder(Bus *bus, uint64_t base, Error *err)
{
    VirtioMmioConfig m = mmio_config(bus, base, NULL);
    return virtio_placeholder_new(&m, err);
}

VmGenId *vfake_vmgenid(VFakeIrq *irq)
{
    return vmgenid_new(vfake_irq_line(irq, 12));
}

GoldfishRtc *vfake_rtc(VFakeIrq *irq)
{
    return goldfish_rtc_new(vfake_irq_line(irq, 11));
}

SifiveGpio *vfake_sifive_gpio(VFakeIrq *irq)
{
    return sifive_gpio_new(vfake_irq_line(irq, 13));
}

Uart16550 *vfake_uart(VFakeIrq *irq, UartConfig cfg)
{
    cfg.irq = vfake_irq_line(irq, 10);
    return uart16550_new(&cfg);
}

/* ---- a minimal virtio-mmio driver ---- */

uint32_t vfake_rd(VirtioMmio *v, uint64_t off)
{
    uint64_t val = 0;
    virtio_mmio_ops.read(v, off, 4, &val);
    return (uint32_t)val;
}

uint8_t vfake_rd8(VirtioMmio *v, uint64_t off)
{
    uint64_t val = 0;
    virtio_mmio_ops.read(v, off, 1, &val);
    return (uint8_t)val;
}

void vfake_wr(VirtioMmio *v, uint64_t off, uint32_t val)
{
    virtio_mmio_ops.write(v, off, 4, val);
}

uint64_t vfake_device_features(VirtioMmio *v)
{
    vfake_wr(v, VIRTIO_MMIO_DEVICE_FEATURES_SEL, 1);
    uint64_t hi = vfake_rd(v, VIRTIO_MMIO_DEVICE_FEATURES);
    vfake_wr(v, VIRTIO_MMIO_DEVICE_FEATURES_SEL, 0);
    return hi << 32 | vfake_rd(v, VIRTIO_MMIO_DEVICE_FEATURES);
}

bool vfake_broken(VirtioMmio *v)
{
    return vfake_rd(v, VIRTIO_MMIO_STATUS) & VIRTIO_STATUS_DEVICE_NEEDS_RESET;
}

uint32_t vfake_negotiate(VirtioMmio *v, uint64_t want)
{
    vfake_wr(v, VIRTIO_MMIO_STATUS, 0);
    vfake_wr(v, VIRTIO_MMIO_STATUS, VIRTIO_STATUS_ACKNOWLEDGE);
    vfake_wr(v, VIRTIO_MMIO_STATUS, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER);
    uint64_t f = vfake_device_features(v) & want;
    vfake_wr(v, VIRTIO_MMIO_DRIVER_FEATURES_SEL, 0);
    vfake_wr(v, VIRTIO_MMIO_DRIVER_FEATURES, (uint32_t)f);
    vfake_wr(v, VIRTIO_MMIO_DRIVER_FEATURES_SEL, 1);
    vfake_wr(v, VIRTIO_MMIO_DRIVER_FEATURES, (uint32_t)(f >> 32));
    vfake_wr(v, VIRTIO_MMIO_STATUS, vfake_rd(v, VIRTIO_MMIO_STATUS) | VIRTIO_STATUS_FEATURES_OK);
    return vfake_rd(v, VIRTIO_MMIO_STATUS);
}

void vfake_driver_ok(VirtioMmio *v)
{
    vfake_wr(v, VIRTIO_MMIO_STATUS, vfake_rd(v, VIRTIO_MMIO_STATUS) | VIRTIO_STATUS_DRIVER_OK);
}

void vfake_queue(VFakeQueue *d, VirtioMmio *v, unsigned index, uint16_t num, uint64_t area)
{
    *d = (VFakeQueue){.v = v,
                      .bus = v->cfg.bus,
                      .index = index,
                      .num = num,
                      .desc = area,
                      .avail = area + 0x1000,
                      .used = area + 0x2000};
    memset(vfake_ram(d->bus, area), 0, 0x3000);
    vfake_wr(v, VIRTIO_MMIO_QUEUE_SEL, index);
    vfake_wr(v, VIRTIO_MMIO_QUEUE_NUM, num);
    vfake_wr(v, VIRTIO_MMIO_QUEUE_DESC_LOW, (uint32_t)d->desc);
    vfake_wr(v, VIRTIO_MMIO_QUEUE_DESC_HIGH, (uint32_t)(d->desc >> 32));
    vfake_wr(v, VIRTIO_MMIO_QUEUE_DRIVER_LOW, (uint32_t)d->avail);
    vfake_wr(v, VIRTIO_MMIO_QUEUE_DRIVER_HIGH, (uint32_t)(d->avail >> 32));
    vfake_wr(v, VIRTIO_MMIO_QUEUE_DEVICE_LOW, (uint32_t)d->used);
    vfake_wr(v, VIRTIO_MMIO_QUEUE_DEVICE_HIGH, (uint32_t)(d->used >> 32));
    vfake_wr(v, VIRTIO_MMIO_QUEUE_READY, 1);
}

void vfake_add(VFakeQueue *d, const VFakeSeg *s, unsigned n)
{
    uint16_t head = d->next_desc;
    for (unsigned i = 0; i < n; i++) {
        uint16_t idx = (uint16_t)((head + i) % d->num), next = (uint16_t)((idx + 1) % d->num);
        uint16_t flags =
            (s[i].write ? VIRTQ_DESC_F_WRITE : 0) | (i + 1 < n ? VIRTQ_DESC_F_NEXT : 0);
        vfake_write_desc(d->bus, d->desc + 16ull * idx, s[i].addr, s[i].len, flags, next);
    }
    d->next_desc = (uint16_t)((head + n) % d->num);
    vfake_put16(d->bus, d->avail + 4 + 2ull * (d->avail_idx % d->num), head);
    d->avail_idx++;
    vfake_put16(d->bus, d->avail + 2, d->avail_idx);
}

void vfake_kick(VFakeQueue *d)
{
    vfake_wr(d->v, VIRTIO_MMIO_QUEUE_NOTIFY, d->index);
}

uint16_t vfake_used_idx(const VFakeQueue *d)
{
    return vfake_get16(d->bus, d->used + 2);
}

uint32_t vfake_used_len(const VFakeQueue *d, uint16_t k)
{
    return vfake_get32(d->bus, d->used + 4 + 8ull * (k % d->num) + 4);
}

/* ---- --net parsing ---- */

bool vfake_net_parse_fails(const char *spec, const char *want)
{
    NetConfig c;
    Error err = {0};
    if (net_config_parse(&c, spec, &err) == 0)
        return false;
    bool good = strstr(err.msg, want) && strstr(err.msg, "--net") && !strchr(err.msg, '\n');
    if (!good)
        printf("#   %s -> %s\n", spec, err.msg);
    return good;
}
