/*
 * ACLINT model (MSWI + MTIMER, QEMU virt layout).  mtime is not stored: it
 * is the guest clock (hw/clock.h) the harts share and read as their time
 * CSR; a write to mtime or a restore sets that clock.
 * Access sizes follow QEMU: msip takes 4-byte accesses, the MTIMER 4 or 8;
 * other sizes and misaligned offsets are access faults.  Offsets of harts
 * that do not exist, and the holes, read as 0 and ignore writes.
 */
#include "hw/aclint.h"

#include <stdlib.h>
#include <stddef.h>

#include "state/state.h"

#define NS_PER_TICK GUEST_CLOCK_NS_PER_TICK
#define MSWI_END ACLINT_MTIMECMP_OFFSET
#define MENVCFG_STCE (1ull << 63)

struct Aclint {
    Device dev; /* first: the Device is the Aclint */
    Hart *harts[ACLINT_MAX_HARTS];
    unsigned nharts;
    uint32_t msip[ACLINT_MAX_HARTS];     /* bit 0 per hart */
    uint64_t mtimecmp[ACLINT_MAX_HARTS]; /* per hart, in ticks */
    uint64_t mtime; /* state only: captured before a save, applied after a load */
};

Aclint *aclint_new(Hart *const *harts, unsigned nharts, Error *err)
{
    if (nharts == 0 || nharts > ACLINT_MAX_HARTS) {
        error_set(err, "ACLINT: %u harts (1..%u supported)", nharts, ACLINT_MAX_HARTS);
        return NULL;
    }
    Aclint *a = calloc(1, sizeof(*a));
    if (!a) {
        error_set(err, "out of memory creating the ACLINT");
        return NULL;
    }
    a->dev = (Device){.ops = &aclint_device_ops, .size = ACLINT_SIZE};
    for (unsigned i = 0; i < nharts; i++) { /* one clock for all: the first hart's */
        a->harts[i] = harts[i];
        harts[i]->clock = harts[0]->clock;
    }
    a->nharts = nharts;
    aclint_reset(a);
    return a;
}

void aclint_free(Aclint *a)
{
    free(a);
}

uint64_t aclint_mtime(const Aclint *a)
{
    return guest_clock_ticks(a->harts[0]->clock);
}

/* Make mtime (and every hart's time CSR) read ticks from now on. */
static void aclint_set_mtime(Aclint *a, uint64_t ticks)
{
    guest_clock_set_ticks(a->harts[0]->clock, ticks);
}

static void aclint_update_mtip(Aclint *a, unsigned hart, uint64_t now)
{
    hart_set_irq(a->harts[hart], MIP_MTIP, now >= a->mtimecmp[hart]);
}

/* Sstc: STIP follows stimecmp only while menvcfg.STCE is set. */
static bool aclint_sstc(const Hart *h)
{
    return (h->menvcfg & MENVCFG_STCE) != 0;
}

void aclint_poll(Aclint *a)
{
    uint64_t now = aclint_mtime(a);
    for (unsigned i = 0; i < a->nharts; i++) {
        Hart *h = a->harts[i];
        aclint_update_mtip(a, i, now);
        if (aclint_sstc(h))
            hart_set_irq(h, MIP_STIP, now >= h->stimecmp);
    }
}

void aclint_reset(Aclint *a)
{
    aclint_set_mtime(a, 0);
    for (unsigned i = 0; i < a->nharts; i++) {
        a->msip[i] = 0;
        a->mtimecmp[i] = 0;
        hart_set_irq(a->harts[i], MIP_MSIP, false);
    }
    aclint_poll(a);
}

/* Nanoseconds until time reaches cmp: 0 if due but not yet seen in mip. */
static uint64_t aclint_wait_ns(const Hart *h, uint64_t mip_bit, uint64_t cmp, uint64_t now)
{
    if (now >= cmp)
        return (__atomic_load_n(&h->mip, __ATOMIC_RELAXED) & mip_bit) ? UINT64_MAX : 0;
    uint64_t ticks = cmp - now;
    return ticks > UINT64_MAX / NS_PER_TICK ? UINT64_MAX : ticks * NS_PER_TICK;
}

uint64_t aclint_next_deadline_ns(const Aclint *a)
{
    uint64_t now = aclint_mtime(a), best = UINT64_MAX;
    for (unsigned i = 0; i < a->nharts; i++) {
        const Hart *h = a->harts[i];
        uint64_t ns = aclint_wait_ns(h, MIP_MTIP, a->mtimecmp[i], now);
        if (aclint_sstc(h)) {
            uint64_t s = aclint_wait_ns(h, MIP_STIP, h->stimecmp, now);
            ns = s < ns ? s : ns;
        }
        best = ns < best ? ns : best;
    }
    return best;
}

/* ---- registers ---- */

/* Replace the bytes [shift/8, shift/8 + size) of old with value. */
static uint64_t aclint_merge(uint64_t old, unsigned shift, unsigned size, uint64_t value)
{
    uint64_t mask = size == 8 ? ~0ull : ((1ull << (8 * size)) - 1) << shift;
    return (old & ~mask) | ((value << shift) & mask);
}

static bool aclint_mswi_read(Aclint *a, uint64_t offset, unsigned size, uint64_t *value)
{
    uint64_t hart = offset / 4;
    if (size != 4 || offset % 4)
        return false;
    *value = hart < a->nharts ? a->msip[hart] : 0;
    return true;
}

static bool aclint_mswi_write(Aclint *a, uint64_t offset, unsigned size, uint64_t value)
{
    uint64_t hart = offset / 4;
    if (size != 4 || offset % 4)
        return false;
    if (hart < a->nharts) {
        a->msip[hart] = value & 1;
        hart_set_irq(a->harts[hart], MIP_MSIP, value & 1);
    }
    return true;
}

static bool aclint_mtimer_size_ok(uint64_t offset, unsigned size)
{
    return (size == 4 || size == 8) && offset % size == 0;
}

static bool aclint_mtimer_read(Aclint *a, uint64_t offset, unsigned size, uint64_t *value)
{
    uint64_t reg = offset & ~7ull, hart = (offset - ACLINT_MTIMECMP_OFFSET) / 8;
    unsigned shift = (unsigned)(offset & 7) * 8;
    uint64_t full = 0;
    if (!aclint_mtimer_size_ok(offset, size))
        return false;
    if (reg == ACLINT_MTIME_OFFSET)
        full = aclint_mtime(a);
    else if (hart < a->nharts)
        full = a->mtimecmp[hart];
    *value = size == 8 ? full : (uint32_t)(full >> shift);
    return true;
}

static bool aclint_mtimer_write(Aclint *a, uint64_t offset, unsigned size, uint64_t value)
{
    uint64_t reg = offset & ~7ull, hart = (offset - ACLINT_MTIMECMP_OFFSET) / 8;
    unsigned shift = (unsigned)(offset & 7) * 8;
    if (!aclint_mtimer_size_ok(offset, size))
        return false;
    if (reg == ACLINT_MTIME_OFFSET) {
        aclint_set_mtime(a, aclint_merge(aclint_mtime(a), shift, size, value));
        aclint_poll(a);
    } else if (hart < a->nharts) {
        a->mtimecmp[hart] = aclint_merge(a->mtimecmp[hart], shift, size, value);
        aclint_update_mtip(a, (unsigned)hart, aclint_mtime(a));
    }
    return true;
}

static bool aclint_mmio_read(void *opaque, uint64_t offset, unsigned size, uint64_t *value)
{
    if (offset < MSWI_END)
        return aclint_mswi_read(opaque, offset, size, value);
    return aclint_mtimer_read(opaque, offset, size, value);
}

static bool aclint_mmio_write(void *opaque, uint64_t offset, unsigned size, uint64_t value)
{
    if (offset < MSWI_END)
        return aclint_mswi_write(opaque, offset, size, value);
    return aclint_mtimer_write(opaque, offset, size, value);
}

const MmioOps aclint_ops = {
    .read = aclint_mmio_read,
    .write = aclint_mmio_write,
};

static void aclint_fdt(const Device *d, DeviceTree *dt, unsigned nharts)
{
    uint64_t base = d->base;
    static const char *const compat[] = {"sifive,clint0", "riscv,clint0"};
    dt_begin_at(dt, "clint", base);
    dt_prop_strs(dt, "compatible", compat, 2);
    dt_prop_reg(dt, base, ACLINT_SIZE);
    dt_prop_hart_irqs(dt, nharts, IRQ_MSI, IRQ_MTI);
    dt_end(dt);
}

/* ---- state ---- */

static void aclint_pre_save(void *live)
{
    Aclint *a = live;
    a->mtime = aclint_mtime(a);
}

static int aclint_state_check(const void *staged, Error *err)
{
    const Aclint *a = staged;
    for (unsigned i = 0; i < a->nharts; i++) {
        if (a->msip[i] > 1)
            return error_set(err, "aclint.msip[%u]: only bit 0 exists", i);
    }
    return 0;
}

static void aclint_post_load(void *live)
{
    Aclint *a = live;
    aclint_set_mtime(a, a->mtime);
    for (unsigned i = 0; i < a->nharts; i++)
        hart_set_irq(a->harts[i], MIP_MSIP, a->msip[i] & 1);
    aclint_poll(a);
}

static const StateField aclint_fields[] = {
    STATE_FIELD(Aclint, mtime, STATE_U64),
    STATE_FIELD(Aclint, msip, STATE_U32, .count = ACLINT_MAX_HARTS,
                .count_of = STATE_COUNT_OF(Aclint, nharts)),
    STATE_FIELD(Aclint, mtimecmp, STATE_U64, .count = ACLINT_MAX_HARTS,
                .count_of = STATE_COUNT_OF(Aclint, nharts)),
    STATE_END,
};

const StateDesc aclint_state_desc = {
    .name = "aclint",
    .version = 1,
    .min_version = 1,
    .size = sizeof(Aclint),
    .fields = aclint_fields,
    .check = aclint_state_check,
    .pre_save = aclint_pre_save,
    .post_load = aclint_post_load,
};

/* ---- the device ---- */

static void aclint_device_reset(Device *d)
{
    aclint_reset((Aclint *)d);
}

static void aclint_device_poll(Device *d)
{
    aclint_poll((Aclint *)d);
}

static uint64_t aclint_device_deadline(const Device *d)
{
    return aclint_next_deadline_ns((const Aclint *)d);
}

static void aclint_device_free(Device *d)
{
    aclint_free((Aclint *)d);
}

const DeviceOps aclint_device_ops = {
    .name = "aclint",
    .mmio = &aclint_ops,
    .reset = aclint_device_reset,
    .fdt = aclint_fdt,
    .state = &aclint_state_desc,
    .poll = aclint_device_poll,
    .next_deadline_ns = aclint_device_deadline,
    .free = aclint_device_free,
};

Device *aclint_create(const DeviceArgs *a, Error *err)
{
    Aclint *c = aclint_new(a->harts, a->nharts, err);
    if (!c)
        return NULL;
    device_place(&c->dev, a);
    return &c->dev;
}
