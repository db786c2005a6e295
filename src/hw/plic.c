/*
 * SiFive PLIC model.  State is a few bitmaps (input lines, pending, in
 * service) over the sources, the priorities, and per context its enables
 * and threshold.  Every change re-evaluates every context's output and
 * drives the hart's MEIP/SEIP.  Registers take 4-byte aligned accesses only
 * (as on QEMU; others are access faults); registers of source 0, of sources
 * or contexts that do not exist, and holes read as 0 and ignore writes.
 */
#include "hw/plic.h"

#include <stdlib.h>
#include <stddef.h>
#include <string.h>

#include "state/state.h"
#include "util/compiler.h"

#define PLIC_WORDS (PLIC_NUM_SOURCES / 32)
#define PLIC_ENABLE_END PLIC_CONTEXT_BASE
#define PLIC_REG_THRESHOLD 0
#define PLIC_REG_CLAIM 4

_Static_assert(PLIC_NUM_SOURCES % 32 == 0, "sources fill whole bitmap words");

typedef struct PlicContext {
    uint32_t enable[PLIC_WORDS];
    uint32_t threshold;
} PlicContext;

struct Plic {
    Device dev;        /* first: the Device is the Plic */
    IrqController irq; /* the input lines, for the devices' IrqLines */
    Hart *harts[PLIC_MAX_HARTS];
    unsigned nharts;
    unsigned ncontexts; /* 2 * nharts */
    PlicContext ctx[2 * PLIC_MAX_HARTS];
    uint32_t priority[PLIC_NUM_SOURCES];
    uint32_t line[PLIC_WORDS]; /* input levels from the devices */
    uint32_t pending[PLIC_WORDS];
    uint32_t claimed[PLIC_WORDS]; /* in service: claimed, not yet completed */
};

static bool plic_bit(const uint32_t *bits, unsigned src)
{
    return (bits[src / 32] >> (src % 32)) & 1;
}

static void plic_set_bit(uint32_t *bits, unsigned src, bool on)
{
    if (on)
        bits[src / 32] |= 1u << (src % 32);
    else
        bits[src / 32] &= ~(1u << (src % 32));
}

static bool plic_source_ok(unsigned src)
{
    return src > 0 && src < PLIC_NUM_SOURCES;
}

/* Pending enabled source of highest priority above the threshold (ties: lowest id), or 0. */
static unsigned plic_best(const Plic *p, unsigned ctx)
{
    const PlicContext *c = &p->ctx[ctx];
    unsigned best = 0;
    uint32_t best_prio = c->threshold;
    for (unsigned src = 1; src < PLIC_NUM_SOURCES; src++) {
        if (plic_bit(p->pending, src) && plic_bit(c->enable, src) && p->priority[src] > best_prio) {
            best = src;
            best_prio = p->priority[src];
        }
    }
    return best;
}

static void plic_update(Plic *p)
{
    for (unsigned ctx = 0; ctx < p->ncontexts; ctx++) {
        uint64_t bit = (ctx & 1) ? MIP_SEIP : MIP_MEIP;
        hart_set_irq(p->harts[ctx / 2], bit, plic_best(p, ctx) != 0);
    }
}

static void plic_controller_set_irq(IrqController *c, unsigned src, bool level);

Plic *plic_new(Hart *const *harts, unsigned nharts, Error *err)
{
    if (nharts == 0 || nharts > PLIC_MAX_HARTS) {
        error_set(err, "PLIC: %u harts (1..%u supported)", nharts, PLIC_MAX_HARTS);
        return NULL;
    }
    Plic *p = calloc(1, sizeof(*p));
    if (!p) {
        error_set(err, "out of memory creating the PLIC");
        return NULL;
    }
    p->dev = (Device){.ops = &plic_device_ops, .base = 0, .size = PLIC_SIZE};
    p->irq.set_irq = plic_controller_set_irq;
    p->dev.irq_controller = &p->irq;
    memcpy(p->harts, harts, nharts * sizeof(*harts));
    p->nharts = nharts;
    p->ncontexts = 2 * nharts;
    plic_reset(p);
    return p;
}

void plic_free(Plic *p)
{
    free(p);
}

void plic_reset(Plic *p)
{
    memset(p->ctx, 0, p->ncontexts * sizeof(*p->ctx));
    memset(p->priority, 0, sizeof(p->priority));
    memset(p->claimed, 0, sizeof(p->claimed));
    memcpy(p->pending, p->line, sizeof(p->pending));
    plic_update(p);
}

void plic_set_irq(Plic *p, unsigned src, bool level)
{
    if (!plic_source_ok(src))
        return;
    plic_set_bit(p->line, src, level);
    if (!level || plic_bit(p->claimed, src) || plic_bit(p->pending, src))
        return; /* a forwarded request stays pending when the line drops */
    plic_set_bit(p->pending, src, true);
    plic_update(p);
}

static uint32_t plic_claim(Plic *p, unsigned ctx)
{
    unsigned src = plic_best(p, ctx);
    if (src) {
        plic_set_bit(p->pending, src, false);
        plic_set_bit(p->claimed, src, true);
        plic_update(p);
    }
    return src;
}

/* Completion of a source not enabled for the context is ignored (PLIC spec). */
static void plic_complete(Plic *p, unsigned ctx, uint32_t src)
{
    if (!plic_source_ok(src) || !plic_bit(p->ctx[ctx].enable, src))
        return;
    plic_set_bit(p->claimed, src, false);
    if (plic_bit(p->line, src))
        plic_set_bit(p->pending, src, true); /* still asserted: a new request */
    plic_update(p);
}

/* ---- registers ---- */

static uint32_t plic_read_priority(const Plic *p, uint64_t offset)
{
    uint64_t src = (offset - PLIC_PRIORITY_BASE) / 4;
    return src < PLIC_NUM_SOURCES ? p->priority[src] : 0; /* priority[0] stays 0 */
}

static void plic_write_priority(Plic *p, uint64_t offset, uint32_t value)
{
    unsigned src = (unsigned)((offset - PLIC_PRIORITY_BASE) / 4); /* < 0x400 */
    if (!plic_source_ok(src))
        return;
    p->priority[src] = value & PLIC_MAX_PRIORITY;
    plic_update(p);
}

static uint32_t plic_read_pending(const Plic *p, uint64_t offset)
{
    uint64_t word = (offset - PLIC_PENDING_BASE) / 4;
    return word < PLIC_WORDS ? p->pending[word] : 0;
}

/* The enable word at offset, or NULL for a context or word that does not exist. */
static uint32_t *plic_enable_word(Plic *p, uint64_t offset)
{
    uint64_t ctx = (offset - PLIC_ENABLE_BASE) / PLIC_ENABLE_STRIDE;
    uint64_t word = (offset - PLIC_ENABLE_BASE) % PLIC_ENABLE_STRIDE / 4;
    if (ctx >= p->ncontexts || word >= PLIC_WORDS)
        return NULL;
    return &p->ctx[ctx].enable[word];
}

static void plic_write_enable(Plic *p, uint64_t offset, uint32_t value)
{
    uint32_t *word = plic_enable_word(p, offset);
    if (!word)
        return;
    bool first = (offset - PLIC_ENABLE_BASE) % PLIC_ENABLE_STRIDE == 0;
    *word = first ? value & ~1u : value; /* source 0 does not exist */
    plic_update(p);
}

static uint32_t plic_read_context(Plic *p, uint64_t offset)
{
    uint64_t ctx = (offset - PLIC_CONTEXT_BASE) / PLIC_CONTEXT_STRIDE;
    uint64_t reg = (offset - PLIC_CONTEXT_BASE) % PLIC_CONTEXT_STRIDE;
    if (ctx >= p->ncontexts)
        return 0;
    if (reg == PLIC_REG_THRESHOLD)
        return p->ctx[ctx].threshold;
    if (reg == PLIC_REG_CLAIM)
        return plic_claim(p, (unsigned)ctx);
    return 0;
}

static void plic_write_context(Plic *p, uint64_t offset, uint32_t value)
{
    uint64_t ctx = (offset - PLIC_CONTEXT_BASE) / PLIC_CONTEXT_STRIDE;
    uint64_t reg = (offset - PLIC_CONTEXT_BASE) % PLIC_CONTEXT_STRIDE;
    if (ctx >= p->ncontexts)
        return;
    if (reg == PLIC_REG_THRESHOLD) {
        p->ctx[ctx].threshold = value & PLIC_MAX_PRIORITY;
        plic_update(p);
    } else if (reg == PLIC_REG_CLAIM) {
        plic_complete(p, (unsigned)ctx, value);
    }
}

static bool plic_mmio_read(void *opaque, uint64_t offset, unsigned size, uint64_t *value)
{
    Plic *p = opaque;
    if (size != 4 || offset % 4)
        return false;
    if (offset < PLIC_PENDING_BASE)
        *value = plic_read_priority(p, offset);
    else if (offset < PLIC_ENABLE_BASE)
        *value = plic_read_pending(p, offset);
    else if (offset < PLIC_ENABLE_END) {
        uint32_t *word = plic_enable_word(p, offset);
        *value = word ? *word : 0;
    } else
        *value = plic_read_context(p, offset);
    return true;
}

static bool plic_mmio_write(void *opaque, uint64_t offset, unsigned size, uint64_t value)
{
    Plic *p = opaque;
    if (size != 4 || offset % 4)
        return false;
    if (offset < PLIC_PENDING_BASE)
        plic_write_priority(p, offset, (uint32_t)value);
    else if (offset < PLIC_ENABLE_BASE)
        return true; /* pending bits are read-only */
    else if (offset < PLIC_ENABLE_END)
        plic_write_enable(p, offset, (uint32_t)value);
    else
        plic_write_context(p, offset, (uint32_t)value);
    return true;
}

const MmioOps plic_ops = {
    .read = plic_mmio_read,
    .write = plic_mmio_write,
};

static void plic_controller_set_irq(IrqController *c, unsigned src, bool level)
{
    plic_set_irq(container_of(c, Plic, irq), src, level);
}

static void plic_fdt(const Device *d, DeviceTree *dt, unsigned nharts)
{
    uint64_t base = d->base;
    static const char *const compat[] = {"sifive,plic-1.0.0", "riscv,plic0"};
    dt_begin_at(dt, "plic", base);
    dt_prop_strs(dt, "compatible", compat, 2);
    dt_prop_u32(dt, "#address-cells", 0);
    dt_prop_u32(dt, "#interrupt-cells", 1);
    dt_prop_empty(dt, "interrupt-controller");
    dt_prop_reg(dt, base, PLIC_SIZE);
    dt_prop_u32(dt, "riscv,ndev", PLIC_NUM_SOURCES - 1);
    dt_prop_hart_irqs(dt, nharts, IRQ_MEI, IRQ_SEI);
    dt_prop_u32(dt, "phandle", FDT_PHANDLE_PLIC);
    dt_end(dt);
}

/* ---- state ---- */

static int plic_state_check(const void *staged, Error *err)
{
    const Plic *p = staged;
    for (unsigned src = 0; src < PLIC_NUM_SOURCES; src++) {
        if (p->priority[src] > PLIC_MAX_PRIORITY || (src == 0 && p->priority[0]))
            return error_set(err, "plic.priority[%u]: %u is out of range", src, p->priority[src]);
    }
    /* Source 0 does not exist: none of its bits may be set. */
    if ((p->line[0] | p->pending[0] | p->claimed[0]) & 1)
        return error_set(err, "plic: source 0 is set");
    return 0;
}

static void plic_post_load(void *live)
{
    plic_update(live);
}

static const StateField plic_context_fields[] = {
    STATE_FIELD(PlicContext, enable, STATE_U32, .count = PLIC_WORDS),
    STATE_FIELD(PlicContext, threshold, STATE_U32, .max = PLIC_MAX_PRIORITY),
    STATE_END,
};

static const StateDesc plic_context_desc = {
    .name = "plic-context",
    .version = 1,
    .size = sizeof(PlicContext),
    .fields = plic_context_fields,
};

static const StateField plic_fields[] = {
    STATE_FIELD(Plic, priority, STATE_U32, .count = PLIC_NUM_SOURCES),
    STATE_FIELD(Plic, line, STATE_U32, .count = PLIC_WORDS),
    STATE_FIELD(Plic, pending, STATE_U32, .count = PLIC_WORDS),
    STATE_FIELD(Plic, claimed, STATE_U32, .count = PLIC_WORDS),
    STATE_FIELD(Plic, ctx, STATE_STRUCT, .count = 2 * PLIC_MAX_HARTS,
                .count_of = STATE_COUNT_OF(Plic, ncontexts), .sub = &plic_context_desc,
                .stride = sizeof(PlicContext)),
    STATE_END,
};

const StateDesc plic_state_desc = {
    .name = "plic",
    .version = 1,
    .min_version = 1,
    .size = sizeof(Plic),
    .fields = plic_fields,
    .check = plic_state_check,
    .post_load = plic_post_load,
};

/* ---- the device ---- */

static void plic_device_reset(Device *d)
{
    plic_reset((Plic *)d);
}

static void plic_device_free(Device *d)
{
    plic_free((Plic *)d);
}

const DeviceOps plic_device_ops = {
    .name = "plic",
    .mmio = &plic_ops,
    .reset = plic_device_reset,
    .fdt = plic_fdt,
    .state = &plic_state_desc,
    .free = plic_device_free,
};

Device *plic_create(const DeviceArgs *a, Error *err)
{
    Plic *p = plic_new(a->harts, a->nharts, err);
    if (!p)
        return NULL;
    device_place(&p->dev, a);
    return &p->dev;
}
