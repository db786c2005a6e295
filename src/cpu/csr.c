/*
 * Control and status registers: privilege and read-only checks (from the
 * CSR number), WARL legalisation, views (sstatus/sie/sip over the M
 * registers) and side effects on the MMU state.
 */
#include "cpu/hart.h"

#define MSTATUS_WRITABLE                                                                           \
    (MSTATUS_SIE | MSTATUS_MIE | MSTATUS_SPIE | MSTATUS_MPIE | MSTATUS_SPP | MSTATUS_MPP |         \
     MSTATUS_FS | MSTATUS_MPRV | MSTATUS_SUM | MSTATUS_MXR | MSTATUS_TVM | MSTATUS_TW |            \
     MSTATUS_TSR)
#define SSTATUS_WRITABLE                                                                           \
    (MSTATUS_SIE | MSTATUS_SPIE | MSTATUS_SPP | MSTATUS_FS | MSTATUS_SUM | MSTATUS_MXR)
#define MEDELEG_WRITABLE 0xb3ffull /* causes 0-9, 12, 13, 15 */
#define MIDELEG_WRITABLE SIP_MASK
#define MIE_WRITABLE (SIP_MASK | MIP_MSIP | MIP_MTIP | MIP_MEIP)
#define MIP_WRITABLE SIP_MASK /* MSIP/MTIP/MEIP are driven by devices */
#define COUNTEREN_MASK 0xffffffffull
#define PMPADDR_MASK ((1ull << 54) - 1)
#define XLEN64 2ull
#define MENVCFG_STCE (1ull << 63)

enum { ILL = CAUSE_ILLEGAL_INSN };

static uint64_t mstatus_read(const Hart *h)
{
    uint64_t s = h->mstatus | (XLEN64 << 32) | (XLEN64 << 34);
    if ((s & MSTATUS_FS) == MSTATUS_FS)
        s |= MSTATUS_SD;
    return s;
}

static void mstatus_write(Hart *h, uint64_t val, uint64_t mask)
{
    uint64_t old = h->mstatus, s = (old & ~mask) | (val & mask);
    if (((s & MSTATUS_MPP) >> MSTATUS_MPP_SHIFT) == 2) /* reserved: keep the old MPP */
        s = (s & ~MSTATUS_MPP) | (old & MSTATUS_MPP);
    h->mstatus = s;
    if ((old ^ s) & MSTATUS_MXR)
        hart_tlb_flush(h);
    hart_update_mmu(h);
}

/* Counters visible below M are gated by mcounteren (and scounteren for U). */
static bool counter_allowed(const Hart *h, unsigned csr)
{
    unsigned bit = csr & 31;
    if (h->priv == PRV_M)
        return true;
    if (!((h->mcounteren >> bit) & 1))
        return false;
    return h->priv == PRV_S || ((h->scounteren >> bit) & 1);
}

/* ---- counters: offsets from the internal instret, frozen by mcountinhibit ---- */

enum { INHIBIT_CY = 1, INHIBIT_IR = 4 };

static uint64_t mcycle_value(const Hart *h)
{
    return (h->mcountinhibit & INHIBIT_CY) ? h->mcycle_frozen : h->instret + h->mcycle_offset;
}

static uint64_t minstret_value(const Hart *h)
{
    return (h->mcountinhibit & INHIBIT_IR) ? h->minstret_frozen : h->instret + h->minstret_offset;
}

/*
 * A CSR write takes effect after the writing instruction completes, and the
 * executor retires that instruction after this call: so a running counter
 * gets v - (instret + 1) as offset, and reads v right after.
 */
static void counter_write(Hart *h, uint64_t *offset, uint64_t *frozen, uint64_t bit, uint64_t v)
{
    if (h->mcountinhibit & bit)
        *frozen = v;
    else
        *offset = v - (h->instret + 1);
}

static void write_inhibit(Hart *h, uint64_t v)
{
    uint64_t set = v & ~h->mcountinhibit, cleared = h->mcountinhibit & ~v;
    if (set & INHIBIT_CY)
        h->mcycle_frozen = mcycle_value(h);
    if (set & INHIBIT_IR)
        h->minstret_frozen = minstret_value(h);
    if (cleared & INHIBIT_CY)
        h->mcycle_offset = h->mcycle_frozen - (h->instret + 1);
    if (cleared & INHIBIT_IR)
        h->minstret_offset = h->minstret_frozen - (h->instret + 1);
    h->mcountinhibit = v;
}

static bool fs_on(const Hart *h)
{
    return (h->mstatus & MSTATUS_FS) != 0;
}

static int read_counter(const Hart *h, unsigned csr, uint64_t *v)
{
    if (!counter_allowed(h, csr))
        return ILL;
    switch (csr) {
    case CSR_CYCLE: *v = mcycle_value(h); return 0;
    case CSR_TIME: *v = hart_time(h); return 0;
    case CSR_INSTRET: *v = minstret_value(h); return 0;
    }
    *v = 0; /* hpmcounter3..31: not implemented, read as zero */
    return 0;
}

static int read_fp(const Hart *h, unsigned csr, uint64_t *v)
{
    if (!fs_on(h))
        return ILL;
    if (csr == CSR_FFLAGS)
        *v = h->fflags;
    else if (csr == CSR_FRM)
        *v = h->frm;
    else
        *v = h->frm << 5 | h->fflags;
    return 0;
}

/* With Sstc enabled, STIP is the level time >= stimecmp: update it now. */
static void sstc_update_stip(Hart *h)
{
    if (h->menvcfg & MENVCFG_STCE) /* STIP is then the level time >= stimecmp */
        hart_set_irq(h, MIP_STIP, hart_time(h) >= h->stimecmp);
}

void hart_set_stimecmp(Hart *h, uint64_t when)
{
    h->stimecmp = when;
    sstc_update_stip(h);
}

/* Sstc: S-mode reaches stimecmp only with menvcfg.STCE and mcounteren.TM. */
static bool stimecmp_allowed(const Hart *h)
{
    return h->priv == PRV_M || ((h->menvcfg & MENVCFG_STCE) && (h->mcounteren & 2));
}

static int read_s(Hart *h, unsigned csr, uint64_t *v)
{
    switch (csr) {
    case CSR_SSTATUS: *v = mstatus_read(h) & SSTATUS_MASK; return 0;
    case CSR_SIE: *v = h->mie & h->mideleg; return 0;
    case CSR_SIP: *v = h->mip & h->mideleg; return 0;
    case CSR_STVEC: *v = h->stvec; return 0;
    case CSR_SCOUNTEREN: *v = h->scounteren; return 0;
    case CSR_SENVCFG: *v = h->senvcfg; return 0;
    case CSR_SSCRATCH: *v = h->sscratch; return 0;
    case CSR_SEPC: *v = h->sepc; return 0;
    case CSR_SCAUSE: *v = h->scause; return 0;
    case CSR_STVAL: *v = h->stval; return 0;
    case CSR_SATP:
        if (h->priv == PRV_S && (h->mstatus & MSTATUS_TVM))
            return ILL;
        *v = h->satp;
        return 0;
    case CSR_STIMECMP:
        if (!stimecmp_allowed(h))
            return ILL;
        *v = h->stimecmp;
        return 0;
    }
    return ILL;
}

static int read_m(Hart *h, unsigned csr, uint64_t *v)
{
    switch (csr) {
    case CSR_MVENDORID:
    case CSR_MARCHID:
    case CSR_MIMPID:
    case CSR_MCONFIGPTR: *v = 0; return 0;
    case CSR_MHARTID: *v = h->mhartid; return 0;
    case CSR_MSTATUS: *v = mstatus_read(h); return 0;
    case CSR_MISA: *v = h->misa; return 0;
    case CSR_MEDELEG: *v = h->medeleg; return 0;
    case CSR_MIDELEG: *v = h->mideleg; return 0;
    case CSR_MIE: *v = h->mie; return 0;
    case CSR_MIP: *v = h->mip; return 0;
    case CSR_MTVEC: *v = h->mtvec; return 0;
    case CSR_MCOUNTEREN: *v = h->mcounteren; return 0;
    case CSR_MENVCFG: *v = h->menvcfg; return 0;
    case CSR_MCOUNTINHIBIT: *v = h->mcountinhibit; return 0;
    case CSR_MSCRATCH: *v = h->mscratch; return 0;
    case CSR_MEPC: *v = h->mepc; return 0;
    case CSR_MCAUSE: *v = h->mcause; return 0;
    case CSR_MTVAL: *v = h->mtval; return 0;
    case CSR_MCYCLE: *v = mcycle_value(h); return 0;
    case CSR_MINSTRET: *v = minstret_value(h); return 0;
    }
    if (csr >= CSR_PMPCFG0 && csr <= CSR_PMPCFG15) {
        if (csr & 1 || csr > CSR_PMPCFG0 + 2)
            return ILL;
        *v = h->pmpcfg[(csr - CSR_PMPCFG0) / 2];
        return 0;
    }
    if (csr >= CSR_PMPADDR0 && csr < CSR_PMPADDR0 + 16) {
        *v = h->pmpaddr[csr - CSR_PMPADDR0];
        return 0;
    }
    if ((csr >= CSR_MHPMCOUNTER3 && csr <= CSR_MHPMCOUNTER31) ||
        (csr >= CSR_MHPMEVENT3 && csr <= CSR_MHPMEVENT31)) {
        *v = 0;
        return 0;
    }
    return ILL;
}

int csr_read(Hart *h, unsigned csr, uint64_t *val)
{
    if (((csr >> 8) & 3) > h->priv)
        return ILL;
    if (csr <= CSR_FCSR && csr >= CSR_FFLAGS)
        return read_fp(h, csr, val);
    if (csr >= CSR_CYCLE && csr <= CSR_HPMCOUNTER31)
        return read_counter(h, csr, val);
    if (((csr >> 8) & 3) == PRV_S)
        return read_s(h, csr, val);
    return read_m(h, csr, val);
}

static int write_fp(Hart *h, unsigned csr, uint64_t v)
{
    if (!fs_on(h))
        return ILL;
    if (csr == CSR_FFLAGS)
        h->fflags = v & 0x1f;
    else if (csr == CSR_FRM)
        h->frm = v & 7;
    else {
        h->fflags = v & 0x1f;
        h->frm = (v >> 5) & 7;
    }
    h->mstatus |= MSTATUS_FS;
    return 0;
}

static void write_satp(Hart *h, uint64_t v)
{
    uint64_t mode = v >> SATP_MODE_SHIFT;
    if (mode != SATP_MODE_BARE && mode != SATP_MODE_SV39 && mode != SATP_MODE_SV48)
        return; /* WARL: unsupported modes leave satp unchanged */
    if (mode == SATP_MODE_BARE)
        v = 0;
    h->satp = v;
    hart_tlb_flush(h);
}

static uint64_t tvec_legal(uint64_t v)
{
    return (v & 3) >= 2 ? v & ~3ull : v; /* modes 2 and 3 are reserved */
}

static int write_s(Hart *h, unsigned csr, uint64_t v)
{
    switch (csr) {
    case CSR_SSTATUS: mstatus_write(h, v, SSTATUS_WRITABLE); return 0;
    case CSR_SIE: h->mie = (h->mie & ~h->mideleg) | (v & h->mideleg & MIE_WRITABLE); return 0;
    case CSR_SIP:
        h->mip = (h->mip & ~(h->mideleg & MIP_SSIP)) | (v & h->mideleg & MIP_SSIP);
        return 0;
    case CSR_STVEC: h->stvec = tvec_legal(v); return 0;
    case CSR_SCOUNTEREN: h->scounteren = v & COUNTEREN_MASK; return 0;
    case CSR_SENVCFG: h->senvcfg = v & 1; return 0;
    case CSR_SSCRATCH: h->sscratch = v; return 0;
    case CSR_SEPC: h->sepc = v & ~1ull; return 0;
    case CSR_SCAUSE: h->scause = v; return 0;
    case CSR_STVAL: h->stval = v; return 0;
    case CSR_SATP:
        if (h->priv == PRV_S && (h->mstatus & MSTATUS_TVM))
            return ILL;
        write_satp(h, v);
        return 0;
    case CSR_STIMECMP:
        if (!stimecmp_allowed(h))
            return ILL;
        hart_set_stimecmp(h, v);
        return 0;
    }
    return ILL;
}

static int write_m(Hart *h, unsigned csr, uint64_t v)
{
    switch (csr) {
    case CSR_MSTATUS: mstatus_write(h, v, MSTATUS_WRITABLE); return 0;
    case CSR_MISA: return 0; /* WARL: fixed RV64IMAFDCSU */
    case CSR_MEDELEG: h->medeleg = v & MEDELEG_WRITABLE; return 0;
    case CSR_MIDELEG: h->mideleg = v & MIDELEG_WRITABLE; return 0;
    case CSR_MIE: h->mie = v & MIE_WRITABLE; return 0;
    case CSR_MIP: {
        uint64_t mask = MIP_WRITABLE & ~((h->menvcfg & MENVCFG_STCE) ? MIP_STIP : 0);
        h->mip = (h->mip & ~mask) | (v & mask);
        return 0;
    }
    case CSR_MTVEC: h->mtvec = tvec_legal(v); return 0;
    case CSR_MCOUNTEREN: h->mcounteren = v & COUNTEREN_MASK; return 0;
    case CSR_MENVCFG:
        h->menvcfg = v & (1 | MENVCFG_STCE);
        sstc_update_stip(h);
        return 0;
    case CSR_MCOUNTINHIBIT: write_inhibit(h, v & (INHIBIT_CY | INHIBIT_IR)); return 0;
    case CSR_MSCRATCH: h->mscratch = v; return 0;
    case CSR_MEPC: h->mepc = v & ~1ull; return 0;
    case CSR_MCAUSE: h->mcause = v; return 0;
    case CSR_MTVAL: h->mtval = v; return 0;
    case CSR_MCYCLE:
        counter_write(h, &h->mcycle_offset, &h->mcycle_frozen, INHIBIT_CY, v);
        return 0;
    case CSR_MINSTRET:
        counter_write(h, &h->minstret_offset, &h->minstret_frozen, INHIBIT_IR, v);
        return 0;
    }
    if (csr >= CSR_PMPCFG0 && csr <= CSR_PMPCFG15) {
        if (csr & 1 || csr > CSR_PMPCFG0 + 2)
            return ILL;
        h->pmpcfg[(csr - CSR_PMPCFG0) / 2] = v & 0x9f9f9f9f9f9f9f9full;
        return 0;
    }
    if (csr >= CSR_PMPADDR0 && csr < CSR_PMPADDR0 + 16) {
        h->pmpaddr[csr - CSR_PMPADDR0] = v & PMPADDR_MASK;
        return 0;
    }
    if ((csr >= CSR_MHPMCOUNTER3 && csr <= CSR_MHPMCOUNTER31) ||
        (csr >= CSR_MHPMEVENT3 && csr <= CSR_MHPMEVENT31))
        return 0; /* not implemented: hardwired to zero */
    return ILL;
}

int csr_write(Hart *h, unsigned csr, uint64_t val)
{
    if (((csr >> 8) & 3) > h->priv || (csr >> 10) == 3)
        return ILL;
    if (csr <= CSR_FCSR && csr >= CSR_FFLAGS)
        return write_fp(h, csr, val);
    if (((csr >> 8) & 3) == PRV_S)
        return write_s(h, csr, val);
    return write_m(h, csr, val);
}
