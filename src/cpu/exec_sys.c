/* Atomics (LR/SC/AMO) and CSR instructions, called from the block executor. */
#include "cpu/exec.h"

static uint64_t amo_compute(Op op, uint64_t old, uint64_t v, bool word)
{
    int64_t so = word ? (int32_t)old : (int64_t)old, sv = word ? (int32_t)v : (int64_t)v;
    uint64_t uo = word ? (uint32_t)old : old, uv = word ? (uint32_t)v : v;
    switch (op) {
    case OP_AMOSWAP_W:
    case OP_AMOSWAP_D: return v;
    case OP_AMOADD_W:
    case OP_AMOADD_D: return old + v;
    case OP_AMOXOR_W:
    case OP_AMOXOR_D: return old ^ v;
    case OP_AMOAND_W:
    case OP_AMOAND_D: return old & v;
    case OP_AMOOR_W:
    case OP_AMOOR_D: return old | v;
    case OP_AMOMIN_W:
    case OP_AMOMIN_D: return so < sv ? old : v;
    case OP_AMOMAX_W:
    case OP_AMOMAX_D: return so > sv ? old : v;
    case OP_AMOMINU_W:
    case OP_AMOMINU_D: return uo < uv ? old : v;
    default: return uo > uv ? old : v; /* AMOMAXU */
    }
}

static int do_lr(Hart *h, const DecodedInsn *i, unsigned size, uint64_t *tval)
{
    uint64_t va = h->x[i->rs1], v;
    *tval = va;
    if (va & (size - 1))
        return CAUSE_MISALIGNED_LOAD;
    int cause = mem_load_slow(h, va, size, &v, tval);
    if (cause)
        return cause;
    if (size == 4)
        v = (uint64_t)(int64_t)(int32_t)v;
    h->reservation = va;
    h->reservation_val = v;
    h->x[i->rd] = v;
    return 0;
}

static int do_sc(Hart *h, const DecodedInsn *i, unsigned size, uint64_t *tval)
{
    uint64_t va = h->x[i->rs1], v = h->x[i->rs2];
    uintptr_t host;
    bool ok = false;
    *tval = va;
    if (va & (size - 1))
        return CAUSE_MISALIGNED_STORE;
    if (h->reservation == va) {
        int cause = mem_amo_host(h, va, size, &host);
        if (cause)
            return cause;
        if (size == 4) {
            uint32_t expect = (uint32_t)h->reservation_val;
            ok = __atomic_compare_exchange_n((uint32_t *)host, &expect, (uint32_t)v, false,
                                             __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);
        } else {
            uint64_t expect = h->reservation_val;
            ok = __atomic_compare_exchange_n((uint64_t *)host, &expect, v, false, __ATOMIC_SEQ_CST,
                                             __ATOMIC_SEQ_CST);
        }
    }
    h->reservation = ~0ull;
    h->x[i->rd] = ok ? 0 : 1;
    return 0;
}

static int do_amo(Hart *h, const DecodedInsn *i, unsigned size, uint64_t *tval)
{
    uint64_t va = h->x[i->rs1], v = h->x[i->rs2], old;
    uintptr_t host;
    *tval = va;
    int cause = mem_amo_host(h, va, size, &host);
    if (cause)
        return cause;
    if (size == 4) {
        uint32_t *p = (uint32_t *)host, o = __atomic_load_n(p, __ATOMIC_RELAXED);
        while (!__atomic_compare_exchange_n(p, &o, (uint32_t)amo_compute(i->op, o, v, true), true,
                                            __ATOMIC_SEQ_CST, __ATOMIC_RELAXED))
            ;
        old = (uint64_t)(int64_t)(int32_t)o;
    } else {
        uint64_t *p = (uint64_t *)host, o = __atomic_load_n(p, __ATOMIC_RELAXED);
        while (!__atomic_compare_exchange_n(p, &o, amo_compute(i->op, o, v, false), true,
                                            __ATOMIC_SEQ_CST, __ATOMIC_RELAXED))
            ;
        old = o;
    }
    h->x[i->rd] = old;
    return 0;
}

int exec_amo(Hart *h, const DecodedInsn *i, uint64_t *tval)
{
    switch (i->op) {
    case OP_LR_W: return do_lr(h, i, 4, tval);
    case OP_LR_D: return do_lr(h, i, 8, tval);
    case OP_SC_W: return do_sc(h, i, 4, tval);
    case OP_SC_D: return do_sc(h, i, 8, tval);
    }
    return do_amo(h, i, i->op <= OP_AMOMAXU_W ? 4 : 8, tval);
}

int exec_csr(Hart *h, const DecodedInsn *i)
{
    unsigned csr = (unsigned)i->imm & 0xfff;
    bool imm_form = i->op >= OP_CSRRWI;
    uint64_t src = imm_form ? i->rs1 : h->x[i->rs1], old = 0;
    Op kind = imm_form ? (Op)(i->op - (OP_CSRRWI - OP_CSRRW)) : (Op)i->op;
    bool do_read = kind != OP_CSRRW || i->rd != REG_SINK;
    bool do_write = kind == OP_CSRRW || i->rs1 != 0;
    int cause;

    if (do_read && (cause = csr_read(h, csr, &old)))
        return cause;
    if (do_write) {
        uint64_t v = kind == OP_CSRRW ? src : kind == OP_CSRRS ? old | src : old & ~src;
        /* a write to a read-only CSR is illegal even when the value is unchanged */
        if ((cause = csr_write(h, csr, v)))
            return cause;
    }
    h->x[i->rd] = old;
    return 0;
}
