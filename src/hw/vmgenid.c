/* VM generation ID: 16 random bytes, renewed on each restore, and an interrupt. */
#include "hw/vmgenid.h"

#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

struct VmGenId {
    Device dev; /* first: the Device is the VmGenId; dev.irq is its line */
    uint8_t id[VMGENID_ID_LEN];
};

/*
 * getrandom() cannot fail for 16 bytes once the host's pool is up; should it,
 * the ID must still differ from the last one, so fall back to mixing the
 * old ID with the clock rather than keep it.
 */
static void new_id(uint8_t id[VMGENID_ID_LEN])
{
    if (getrandom(id, VMGENID_ID_LEN, 0) == VMGENID_ID_LEN)
        return;
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    uint64_t x = (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
    for (unsigned i = 0; i < VMGENID_ID_LEN; i++) {
        x = x * 6364136223846793005ull + 1442695040888963407ull;
        id[i] ^= (uint8_t)(x >> 56) | 1;
    }
}

static void set_line(VmGenId *g, bool level)
{
    irq_line_set(&g->dev.irq, level);
}

/* Any read of the ID acknowledges the interrupt: the guest has seen the new value. */
static bool vmgenid_read(void *opaque, uint64_t off, unsigned size, uint64_t *value)
{
    VmGenId *g = opaque;
    *value = 0;
    if (off >= VMGENID_ID_LEN)
        return true;
    for (unsigned i = 0; i < size && off + i < VMGENID_ID_LEN; i++)
        *value |= (uint64_t)g->id[off + i] << (8 * i);
    set_line(g, false);
    return true;
}

/* The ID is read-only; writes are ignored. */
static bool vmgenid_write(void *opaque, uint64_t off, unsigned size, uint64_t value)
{
    (void)opaque, (void)off, (void)size, (void)value;
    return true;
}

const MmioOps vmgenid_ops = {
    .read = vmgenid_read,
    .write = vmgenid_write,
};

VmGenId *vmgenid_new(IrqLine irq)
{
    VmGenId *g = calloc(1, sizeof(*g));
    if (!g)
        return NULL;
    g->dev = (Device){.ops = &vmgenid_device_ops, .size = VMGENID_SIZE, .irq = irq};
    new_id(g->id);
    return g;
}

void vmgenid_free(VmGenId *g)
{
    free(g);
}

void vmgenid_next_generation(VmGenId *g)
{
    new_id(g->id);
    set_line(g, true);
}

void vmgenid_get(const VmGenId *g, uint8_t id[VMGENID_ID_LEN])
{
    memcpy(id, g->id, VMGENID_ID_LEN);
}

static void vmgenid_fdt(const Device *d, DeviceTree *dt, unsigned nharts)
{
    uint64_t base = d->base;
    unsigned irq = d->irq.src;
    dt_begin_at(dt, "vmgenid", base);
    dt_prop_str(dt, "compatible", "microsoft,vmgenid");
    dt_prop_reg(dt, base, VMGENID_ID_LEN);
    dt_prop_u32(dt, "interrupt-parent", FDT_PHANDLE_PLIC);
    dt_prop_u32(dt, "interrupts", irq);
    dt_end(dt);
}

/* ---- the device ---- */

static void vmgenid_device_free(Device *d)
{
    vmgenid_free((VmGenId *)d);
}

/* No reset: the ID belongs to the memory's life, not to a boot; no state: a restore renews it. */
const DeviceOps vmgenid_device_ops = {
    .name = "vmgenid",
    .mmio = &vmgenid_ops,
    .fdt = vmgenid_fdt,
    .free = vmgenid_device_free,
};

Device *vmgenid_create(const DeviceArgs *a, Error *err)
{
    VmGenId *g = vmgenid_new(a->irq);
    if (!g) {
        error_set(err, "out of memory creating the VM generation ID");
        return NULL;
    }
    device_place(&g->dev, a);
    return &g->dev;
}
