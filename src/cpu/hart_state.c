/*
 * A hart's architectural state for save/restore: registers, the CSRs that
 * are stored as-is, counters, the LR/SC reservation and the run state.
 * The TLBs and the jump cache are derived (rebuilt after a load); the time
 * CSR belongs to the ACLINT's state.
 */
#include "cpu/hart.h"

#include "cpu/riscv.h"
#include "state/state.h"

#define U64(field, ...) STATE_FIELD(Hart, field, STATE_U64, __VA_ARGS__)

static const StateField hart_fields[] = {
    U64(x, .count = 32),
    U64(f, .count = 32),
    U64(pc),
    STATE_FIELD(Hart, priv, STATE_U32, .max = PRV_M),
    STATE_FIELD(Hart, fflags, STATE_U32, .max = 0x1f),
    STATE_FIELD(Hart, frm, STATE_U32, .max = 7),
    U64(mstatus),
    U64(misa),
    U64(medeleg),
    U64(mideleg),
    U64(mie),
    U64(mip),
    U64(mtvec),
    U64(mscratch),
    U64(mepc),
    U64(mcause),
    U64(mtval),
    U64(stvec),
    U64(sscratch),
    U64(sepc),
    U64(scause),
    U64(stval),
    U64(satp),
    U64(mcounteren),
    U64(scounteren),
    U64(menvcfg),
    U64(senvcfg),
    U64(mcountinhibit),
    U64(stimecmp),
    U64(pmpcfg, .count = 2),
    U64(pmpaddr, .count = 16),
    U64(mhartid),
    U64(instret),
    U64(minstret_offset),
    U64(mcycle_offset),
    U64(minstret_frozen),
    U64(mcycle_frozen),
    U64(reservation),
    U64(reservation_val),
    STATE_FIELD(Hart, wfi, STATE_BOOL),
    STATE_FIELD(Hart, halted, STATE_BOOL),
    STATE_END,
};

/* Values the interpreter relies on (a hostile file must not reach it). */
static int hart_state_check(const void *staged, Error *err)
{
    const Hart *h = staged;
    unsigned mode = (unsigned)(h->satp >> SATP_MODE_SHIFT);
    if (h->priv == 2)
        return error_set(err, "hart.priv: 2 is not a privilege level");
    if (((h->mstatus & MSTATUS_MPP) >> MSTATUS_MPP_SHIFT) == 2)
        return error_set(err, "hart.mstatus: MPP = 2 is not a privilege level");
    if (mode != SATP_MODE_BARE && mode != SATP_MODE_SV39 && mode != SATP_MODE_SV48)
        return error_set(err, "hart.satp: translation mode %u is not supported", mode);
    if (h->pc & 1)
        return error_set(err, "hart.pc: 0x%llx is not 2-byte aligned", (unsigned long long)h->pc);
    if (h->x[0] != 0)
        return error_set(err, "hart.x[0] is not zero");
    return 0;
}

static void hart_state_post_load(void *live)
{
    Hart *h = live;
    hart_update_mmu(h);
    hart_tlb_flush(h);
}

const StateDesc hart_state_desc = {
    .name = "hart",
    .version = 1,
    .min_version = 1,
    .size = sizeof(Hart),
    .fields = hart_fields,
    .check = hart_state_check,
    .post_load = hart_state_post_load,
};
