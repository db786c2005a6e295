/*
 * Trap entry (exceptions and interrupts, with medeleg/mideleg delegation),
 * interrupt selection, and the xRET instructions.
 */
#include "cpu/hart.h"

static uint64_t set_field(uint64_t reg, uint64_t mask, uint64_t val)
{
    return (reg & ~mask) | ((val * (mask & ~(mask << 1))) & mask);
}

static uint64_t trap_vector(uint64_t tvec, uint64_t cause, bool irq)
{
    uint64_t base = tvec & ~3ull;
    if (irq && (tvec & 3) == 1)
        return base + 4 * (cause & 63);
    return base;
}

static void trap_enter(Hart *h, uint64_t cause, uint64_t tval, bool irq)
{
    uint64_t code = cause & 63;
    uint64_t deleg = irq ? h->mideleg : h->medeleg;
    uint64_t full = cause | (irq ? CAUSE_INTERRUPT : 0);
    uint64_t s = h->mstatus;

    h->wfi = false;
    if (h->priv <= PRV_S && ((deleg >> code) & 1)) {
        h->scause = full;
        h->sepc = h->pc;
        h->stval = tval;
        s = set_field(s, MSTATUS_SPIE, (s & MSTATUS_SIE) != 0);
        s = set_field(s, MSTATUS_SIE, 0);
        s = set_field(s, MSTATUS_SPP, h->priv);
        h->pc = trap_vector(h->stvec, code, irq);
        h->priv = PRV_S;
    } else {
        h->mcause = full;
        h->mepc = h->pc;
        h->mtval = tval;
        s = set_field(s, MSTATUS_MPIE, (s & MSTATUS_MIE) != 0);
        s = set_field(s, MSTATUS_MIE, 0);
        s = set_field(s, MSTATUS_MPP, h->priv);
        h->pc = trap_vector(h->mtvec, code, irq);
        h->priv = PRV_M;
    }
    h->mstatus = s;
    hart_update_mmu(h);
}

void hart_exception(Hart *h, uint64_t cause, uint64_t tval)
{
    trap_enter(h, cause, tval, false);
}

/* Highest-priority interrupt in mask: MEI, MSI, MTI, SEI, SSI, STI. */
static int pick_irq(uint64_t mask)
{
    static const int order[] = {IRQ_MEI, IRQ_MSI, IRQ_MTI, IRQ_SEI, IRQ_SSI, IRQ_STI};
    for (unsigned i = 0; i < sizeof(order) / sizeof(order[0]); i++)
        if (mask & (1ull << order[i]))
            return order[i];
    return -1;
}

bool hart_check_interrupts(Hart *h)
{
    uint64_t pending = h->mip & h->mie;
    if (!pending)
        return false;
    uint64_t m = pending & ~h->mideleg, s = pending & h->mideleg;
    bool m_on = h->priv < PRV_M || (h->mstatus & MSTATUS_MIE);
    bool s_on = h->priv < PRV_S || (h->priv == PRV_S && (h->mstatus & MSTATUS_SIE));
    uint64_t take = (m_on && m) ? m : (s_on && s) ? s : 0;
    if (!take)
        return false;
    trap_enter(h, (uint64_t)pick_irq(take), 0, true);
    return true;
}

void hart_mret(Hart *h)
{
    uint64_t s = h->mstatus;
    unsigned prev = (unsigned)((s & MSTATUS_MPP) >> MSTATUS_MPP_SHIFT);
    s = set_field(s, MSTATUS_MIE, (s & MSTATUS_MPIE) != 0);
    s = set_field(s, MSTATUS_MPIE, 1);
    s = set_field(s, MSTATUS_MPP, PRV_U);
    if (prev != PRV_M)
        s &= ~MSTATUS_MPRV;
    h->mstatus = s;
    h->priv = prev;
    h->pc = h->mepc;
    hart_update_mmu(h);
}

void hart_sret(Hart *h)
{
    uint64_t s = h->mstatus;
    unsigned prev = (s & MSTATUS_SPP) ? PRV_S : PRV_U;
    s = set_field(s, MSTATUS_SIE, (s & MSTATUS_SPIE) != 0);
    s = set_field(s, MSTATUS_SPIE, 1);
    s = set_field(s, MSTATUS_SPP, PRV_U);
    s &= ~MSTATUS_MPRV;
    h->mstatus = s;
    h->priv = prev;
    h->pc = h->sepc;
    hart_update_mmu(h);
}
