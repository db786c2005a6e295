/*
 * The block executor: finds (or decodes) the block at pc and runs it.
 *
 * This is the interpreter's hot path.  Integer instructions are executed
 * inline in one switch; loads and stores hit the soft TLB inline (one
 * compare that also checks alignment, then one add); everything rarer is a
 * call.  Interrupts are only checked between blocks.  A JIT would replace
 * run_blocks() and keep fetch_block()'s contract.
 */
#include "cpu/exec.h"

#include <stdio.h>
#include <string.h>

#include "cpu/bcache.h"
#include "cpu/fpu.h"
#include "util/compiler.h"
#include "util/log.h"

/* ---- block building ---- */

static bool ends_block(Op op)
{
    switch (op) {
    case OP_JAL:
    case OP_JALR:
    case OP_BEQ:
    case OP_BNE:
    case OP_BLT:
    case OP_BGE:
    case OP_BLTU:
    case OP_BGEU:
    case OP_ECALL:
    case OP_EBREAK:
    case OP_MRET:
    case OP_SRET:
    case OP_WFI:
    case OP_SFENCE_VMA:
    case OP_FENCE_I:
    case OP_ILLEGAL:
    case OP_CSRRW:
    case OP_CSRRS:
    case OP_CSRRC:
    case OP_CSRRWI:
    case OP_CSRRSI:
    case OP_CSRRCI: return true;
    default: return false;
    }
}

/* Does the block end with an instruction that may change translation? */
static bool ends_with_system(const Block *b)
{
    if (b->ninsns == 0)
        return true;
    Op op = (Op)b->insns[b->ninsns - 1].op;
    return ends_block(op) && !(op >= OP_JAL && op <= OP_BGEU);
}

static void mark_code_page(Hart *h, uint64_t pa)
{
    if (!bus_ram_ptr(h->bus, pa, 1))
        return; /* boot ROM: never written, nothing to track */
    uint8_t *flags = bus_page_flags(h->bus, pa);
    if (!(*flags & BUS_PAGE_CODE)) {
        *flags |= BUS_PAGE_CODE;
        if (h->bus->code_marked)
            h->bus->code_marked(h->bus->code_marked_opaque, pa & ~(BUS_PAGE_SIZE - 1));
        else
            hart_tlb_flush_store_page(h, pa & ~(BUS_PAGE_SIZE - 1));
    }
}

/*
 * A 32-bit instruction whose second half lies on the next page: decoded
 * into the caller's scratch block each time, never cached.
 */
static Block *cross_page_insn(Hart *h, const uint8_t *host, Block *scratch)
{
    uintptr_t host2;
    int cause = mem_fetch_host(h, h->pc + 2, &host2);
    if (cause) {
        hart_exception(h, (uint64_t)cause, h->pc + 2);
        return NULL;
    }
    uint16_t lo, hi;
    memcpy(&lo, host, 2);
    memcpy(&hi, (const void *)host2, 2);
    decode_insn((uint32_t)hi << 16 | lo, &scratch->insns[0]);
    scratch->insns[1] = (DecodedInsn){.op = OP_BLOCK_END, .off = 4};
    scratch->ninsns = 1;
    scratch->bytes = 4;
    scratch->valid = false; /* never cached, never chained */
    return scratch;
}

static Block *decode_block(Hart *h, uint64_t pa, const uint8_t *host, Block *scratch)
{
    unsigned room = (unsigned)(BUS_PAGE_SIZE - (pa & (BUS_PAGE_SIZE - 1)));
    unsigned off = 0, n = 0;
    Block *b = bcache_alloc(h->bcache, pa, BLOCK_MAX_INSNS);

    mark_code_page(h, pa);
    while (n < BLOCK_MAX_INSNS && off < room) {
        uint16_t lo;
        uint32_t raw;
        memcpy(&lo, host + off, 2);
        if (decode_insn_len(lo) == 4) {
            if (room - off < 4)
                break;
            memcpy(&raw, host + off, 4);
        } else {
            raw = lo;
        }
        DecodedInsn *d = &b->insns[n++];
        decode_insn(raw, d);
        d->off = (uint16_t)off;
        off += d->len;
        if (ends_block((Op)d->op))
            break;
    }
    if (n == 0)
        return cross_page_insn(h, host, scratch);
    b->insns[n] = (DecodedInsn){.op = OP_BLOCK_END, .off = (uint16_t)off};
    b->ninsns = n;
    b->bytes = off;
    bcache_insert(h->bcache, b);
    return b;
}

/* The block at h->pc, or NULL after raising a fetch exception. */
static Block *fetch_block(Hart *h, Block *scratch)
{
    Block *b = jcache_lookup(h->jcache, h->bcache, h->pc, h->mmu_fetch);
    if (likely(b))
        return b;
    uintptr_t host;
    uint64_t pa;
    int cause = mem_fetch_pa(h, h->pc, &host, &pa);
    if (unlikely(cause)) {
        hart_exception(h, (uint64_t)cause, h->pc);
        return NULL;
    }
    b = bcache_lookup(h->bcache, pa);
    if (!b)
        b = decode_block(h, pa, (const uint8_t *)host, scratch);
    if (b && b != scratch)
        jcache_store(h->jcache, h->bcache, h->pc, h->mmu_fetch, b);
    return b;
}

/* The raw bits of the instruction at pc, for mtval on illegal instructions. */
static uint64_t insn_bits(Hart *h, uint64_t pc)
{
    uintptr_t host;
    uint16_t lo, hi;
    if (mem_fetch_host(h, pc, &host))
        return 0;
    memcpy(&lo, (const void *)host, 2);
    if (decode_insn_len(lo) == 2)
        return lo;
    if (((pc + 2) & (BUS_PAGE_SIZE - 1)) == 0 && mem_fetch_host(h, pc + 2, &host))
        return 0;
    memcpy(&hi, (const void *)(host + (((pc + 2) & (BUS_PAGE_SIZE - 1)) ? 2 : 0)), 2);
    return (uint32_t)hi << 16 | lo;
}

/* ---- system instructions that may change privilege or pc ---- */

/* Returns 0 if the instruction completed normally, else a cause. */
static int exec_priv(Hart *h, const DecodedInsn *i, bool *jumped)
{
    uint64_t s = h->mstatus;
    switch (i->op) {
    case OP_MRET:
        if (h->priv != PRV_M)
            return EXEC_ILLEGAL;
        hart_mret(h);
        *jumped = true;
        return 0;
    case OP_SRET:
        if (h->priv == PRV_U || (h->priv == PRV_S && (s & MSTATUS_TSR)))
            return EXEC_ILLEGAL;
        hart_sret(h);
        *jumped = true;
        return 0;
    case OP_WFI:
        if (h->priv == PRV_U || (h->priv == PRV_S && (s & MSTATUS_TW)))
            return EXEC_ILLEGAL;
        if (!(h->mip & h->mie))
            h->wfi = true;
        return 0;
    case OP_SFENCE_VMA:
        if (h->priv == PRV_U || (h->priv == PRV_S && (s & MSTATUS_TVM)))
            return EXEC_ILLEGAL;
        hart_tlb_flush(h);
        return 0;
    }
    return 0; /* FENCE.I: blocks are invalidated by stores already */
}

/* ---- the executor ---- */

#define X(r) (x[(r)])
#define SX32(v) ((uint64_t)(int64_t)(int32_t)(v))
#define TLB_MASK(size) (~(uint64_t)(BUS_PAGE_SIZE - 1) | (uint64_t)((size)-1))

/* Threaded dispatch: every handler jumps straight to the next one. */
#define CASE(name) L_##name:
#define NEXT goto *labels[(++i)->op]

#define LOAD(type, size)                                                                           \
    do {                                                                                           \
        uint64_t va_ = X(i->rs1) + (int64_t)i->imm;                                                \
        const TlbEntry *e_ = &tlb_load[(va_ >> BUS_PAGE_SHIFT) & (TLB_SIZE - 1)];                  \
        if (likely((va_ & TLB_MASK(size)) == e_->tag)) {                                           \
            X(i->rd) = (uint64_t)(int64_t) * (const type *)(uintptr_t)(va_ + e_->addend);          \
        } else {                                                                                   \
            uint64_t v_;                                                                           \
            if (unlikely(cause = mem_load_slow(h, va_, size, &v_, &tval)))                         \
                goto except;                                                                       \
            X(i->rd) = (uint64_t)(int64_t)(type)v_;                                                \
        }                                                                                          \
    } while (0)

#define STORE(type, size)                                                                          \
    do {                                                                                           \
        uint64_t va_ = X(i->rs1) + (int64_t)i->imm;                                                \
        const TlbEntry *e_ = &tlb_store[(va_ >> BUS_PAGE_SHIFT) & (TLB_SIZE - 1)];                 \
        if (likely((va_ & TLB_MASK(size)) == e_->tag)) {                                           \
            *(type *)(uintptr_t)(va_ + e_->addend) = (type)X(i->rs2);                              \
        } else if (unlikely(cause = mem_store_slow(h, va_, size, X(i->rs2), &tval))) {             \
            goto except;                                                                           \
        }                                                                                          \
    } while (0)

#define BRANCH(cond)                                                                               \
    do {                                                                                           \
        if (cond) {                                                                                \
            target = pc0 + i->off + (int64_t)i->imm;                                               \
            goto taken;                                                                            \
        }                                                                                          \
        NEXT;                                                                                      \
    } while (0)

/* The hot FP instructions run inline; the rest go through exec_fp(). */
#define FP_ON()                                                                                    \
    do {                                                                                           \
        if (unlikely(!(h->mstatus & MSTATUS_FS)))                                                  \
            goto fp_off;                                                                           \
    } while (0)
#define FP_RM(out)                                                                                 \
    do {                                                                                           \
        out = i->rm == FPU_DYN ? (int)h->frm : (int)i->rm;                                         \
        if (unlikely(out > FPU_RMM))                                                               \
            goto fp_off;                                                                           \
    } while (0)
#define FP_D2(name, fn)                                                                            \
    CASE(name)                                                                                     \
    {                                                                                              \
        int rm_;                                                                                   \
        FP_ON();                                                                                   \
        FP_RM(rm_);                                                                                \
        h->f[i->rd] = fn(h->f[i->rs1], h->f[i->rs2], rm_, &h->fflags);                             \
        h->mstatus |= MSTATUS_FS;                                                                  \
        NEXT;                                                                                      \
    }
#define FP_S2(name, fn)                                                                            \
    CASE(name)                                                                                     \
    {                                                                                              \
        int rm_;                                                                                   \
        FP_ON();                                                                                   \
        FP_RM(rm_);                                                                                \
        h->f[i->rd] =                                                                              \
            FP_BOX32 | fn(fp_unbox(h->f[i->rs1]), fp_unbox(h->f[i->rs2]), rm_, &h->fflags);        \
        h->mstatus |= MSTATUS_FS;                                                                  \
        NEXT;                                                                                      \
    }
#define FP_FMA_D(name, sa, sc)                                                                     \
    CASE(name)                                                                                     \
    {                                                                                              \
        int rm_;                                                                                   \
        FP_ON();                                                                                   \
        FP_RM(rm_);                                                                                \
        h->f[i->rd] =                                                                              \
            f64_fma(h->f[i->rs1] ^ (sa), h->f[i->rs2], h->f[i->rs3] ^ (sc), rm_, &h->fflags);      \
        h->mstatus |= MSTATUS_FS;                                                                  \
        NEXT;                                                                                      \
    }
#define FP_FMA_S(name, sa, sc)                                                                     \
    CASE(name)                                                                                     \
    {                                                                                              \
        int rm_;                                                                                   \
        FP_ON();                                                                                   \
        FP_RM(rm_);                                                                                \
        h->f[i->rd] = FP_BOX32 | f32_fma(fp_unbox(h->f[i->rs1]) ^ (sa), fp_unbox(h->f[i->rs2]),    \
                                         fp_unbox(h->f[i->rs3]) ^ (sc), rm_, &h->fflags);          \
        h->mstatus |= MSTATUS_FS;                                                                  \
        NEXT;                                                                                      \
    }
#define F64_SIGN_BIT 0x8000000000000000ull
#define F32_SIGN_BIT 0x80000000u

#define ALU(name, expr)                                                                            \
    CASE(name)                                                                                     \
    {                                                                                              \
        X(i->rd) = (expr);                                                                         \
        NEXT;                                                                                      \
    }

/*
 * Run blocks until something needs the outer loop: the stop flag, a
 * pending enabled interrupt, WFI, or the instruction budget.  Blocks are
 * linked to their successors in the same page (such a link does not depend
 * on the virtual-to-physical mapping: the target is the block's own page
 * plus an offset), so a hot loop runs without any lookup.
 */
static HartExit run_blocks(Hart *h, uint64_t stop_at, Block *scratch)
{
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Woverride-init"
#pragma GCC diagnostic ignored "-Wpedantic"
    static const void *const labels[OP_COUNT] = {
        [0 ... OP_COUNT - 1] = &&L_OTHER,
#define LABEL(name) [OP_##name] = &&L_##name,
        LABEL(LUI) LABEL(AUIPC) LABEL(JAL) LABEL(JALR) LABEL(BEQ) LABEL(BNE) LABEL(BLT) LABEL(BGE)
            LABEL(BLTU) LABEL(BGEU) LABEL(LB) LABEL(LH) LABEL(LW) LABEL(LD) LABEL(LBU) LABEL(LHU)
                LABEL(LWU) LABEL(SB) LABEL(SH) LABEL(SW) LABEL(SD) LABEL(ADDI) LABEL(SLTI) LABEL(
                    SLTIU) LABEL(XORI) LABEL(ORI) LABEL(ANDI) LABEL(SLLI) LABEL(SRLI) LABEL(SRAI)
                    LABEL(ADD) LABEL(SUB) LABEL(SLL) LABEL(SLT) LABEL(SLTU) LABEL(XOR) LABEL(
                        SRL) LABEL(SRA) LABEL(OR) LABEL(AND) LABEL(ADDIW) LABEL(SLLIW) LABEL(SRLIW)
                        LABEL(SRAIW) LABEL(ADDW) LABEL(SUBW) LABEL(SLLW) LABEL(SRLW) LABEL(SRAW)
                            LABEL(MUL) LABEL(MULH) LABEL(MULHSU) LABEL(MULHU) LABEL(DIV) LABEL(DIVU)
                                LABEL(REM) LABEL(REMU) LABEL(MULW) LABEL(DIVW) LABEL(DIVUW) LABEL(
                                    REMW) LABEL(REMUW) LABEL(FENCE) LABEL(ECALL) LABEL(EBREAK)
                                    LABEL(ILLEGAL) LABEL(BLOCK_END) LABEL(CSRRW) LABEL(CSRRS)
                                        LABEL(CSRRC) LABEL(CSRRWI) LABEL(CSRRSI) LABEL(
                                            CSRRCI) LABEL(MRET) LABEL(SRET) LABEL(WFI)
                                            LABEL(SFENCE_VMA) LABEL(FENCE_I) LABEL(FLD) LABEL(
                                                FSD) LABEL(FADD_D) LABEL(FSUB_D) LABEL(FMUL_D)
                                                LABEL(FDIV_D) LABEL(FADD_S) LABEL(FSUB_S) LABEL(
                                                    FMUL_S) LABEL(FDIV_S) LABEL(FMADD_D)
                                                    LABEL(FMSUB_D) LABEL(FNMSUB_D) LABEL(FNMADD_D)
                                                        LABEL(FMV_X_D) LABEL(FMV_D_X) LABEL(FLW)
                                                            LABEL(FSW) LABEL(FMADD_S) LABEL(FMSUB_S)
                                                                LABEL(FNMSUB_S) LABEL(FNMADD_S)
                                                                    LABEL(FSQRT_S) LABEL(FSQRT_D)
#undef LABEL
    };
#pragma GCC diagnostic pop
    uint64_t *const x = h->x;
    uint64_t pc0, target = 0, tval = 0;
    const DecodedInsn *i;
    const TlbEntry *tlb_load, *tlb_store;
    Block *b, *n;
    int cause = 0, slot;
    bool jumped;
    unsigned traps = 0; /* a trap loop retires nothing: bound it so the machine loop runs */

lookup:
    if (unlikely(*h->stop))
        return HART_EXIT_STOP;
    if (unlikely(h->mip & h->mie)) {
        h->wfi = false; /* WFI ends on any pending enabled interrupt, taken or not */
        hart_check_interrupts(h);
    }
    if (unlikely(h->wfi || h->halted))
        return HART_EXIT_WFI;
    if (unlikely(h->instret >= stop_at))
        return HART_EXIT_BUDGET;
#ifdef HOSTEL_TRACE
    log_debug("trace: pc=%#llx priv=%u", (unsigned long long)h->pc, h->priv);
#endif
    if (!(b = fetch_block(h, scratch))) {
        if (unlikely(++traps >= HART_TRAP_BUDGET))
            return HART_EXIT_BUDGET;
        goto lookup;
    }
enter:
    pc0 = h->pc;
    i = b->insns;
    tlb_load = h->tlb[ACC_LOAD][h->mmu_data];
    tlb_store = h->tlb[ACC_STORE][h->mmu_data];
    goto *labels[i->op];

    CASE(LUI)
    {
        X(i->rd) = (uint64_t)(int64_t)i->imm;
        NEXT;
    }
    CASE(AUIPC)
    {
        X(i->rd) = pc0 + i->off + (int64_t)i->imm;
        NEXT;
    }
    CASE(JAL)
    {
        X(i->rd) = pc0 + i->off + i->len;
        target = pc0 + i->off + (int64_t)i->imm;
        goto taken;
    }
    CASE(JALR)
    {
        target = (X(i->rs1) + (int64_t)i->imm) & ~1ull;
        X(i->rd) = pc0 + i->off + i->len;
        goto jump;
    }
    CASE(BEQ) BRANCH(X(i->rs1) == X(i->rs2));
    CASE(BNE) BRANCH(X(i->rs1) != X(i->rs2));
    CASE(BLT) BRANCH((int64_t)X(i->rs1) < (int64_t)X(i->rs2));
    CASE(BGE) BRANCH((int64_t)X(i->rs1) >= (int64_t)X(i->rs2));
    CASE(BLTU) BRANCH(X(i->rs1) < X(i->rs2));
    CASE(BGEU) BRANCH(X(i->rs1) >= X(i->rs2));
    CASE(LB)
    {
        LOAD(int8_t, 1);
        NEXT;
    }
    CASE(LH)
    {
        LOAD(int16_t, 2);
        NEXT;
    }
    CASE(LW)
    {
        LOAD(int32_t, 4);
        NEXT;
    }
    CASE(LD)
    {
        LOAD(int64_t, 8);
        NEXT;
    }
    CASE(LBU)
    {
        LOAD(uint8_t, 1);
        NEXT;
    }
    CASE(LHU)
    {
        LOAD(uint16_t, 2);
        NEXT;
    }
    CASE(LWU)
    {
        LOAD(uint32_t, 4);
        NEXT;
    }
    CASE(SB)
    {
        STORE(uint8_t, 1);
        NEXT;
    }
    CASE(SH)
    {
        STORE(uint16_t, 2);
        NEXT;
    }
    CASE(SW)
    {
        STORE(uint32_t, 4);
        NEXT;
    }
    CASE(SD)
    {
        STORE(uint64_t, 8);
        NEXT;
    }
    ALU(ADDI, X(i->rs1) + (int64_t)i->imm)
    ALU(SLTI, (int64_t)X(i->rs1) < (int64_t)i->imm)
    ALU(SLTIU, X(i->rs1) < (uint64_t)(int64_t)i->imm)
    ALU(XORI, X(i->rs1) ^ (uint64_t)(int64_t)i->imm)
    ALU(ORI, X(i->rs1) | (uint64_t)(int64_t)i->imm)
    ALU(ANDI, X(i->rs1) & (uint64_t)(int64_t)i->imm)
    ALU(SLLI, X(i->rs1) << i->imm)
    ALU(SRLI, X(i->rs1) >> i->imm)
    ALU(SRAI, (uint64_t)((int64_t)X(i->rs1) >> i->imm))
    ALU(ADD, X(i->rs1) + X(i->rs2))
    ALU(SUB, X(i->rs1) - X(i->rs2))
    ALU(SLL, X(i->rs1) << (X(i->rs2) & 63))
    ALU(SLT, (int64_t)X(i->rs1) < (int64_t)X(i->rs2))
    ALU(SLTU, X(i->rs1) < X(i->rs2))
    ALU(XOR, X(i->rs1) ^ X(i->rs2))
    ALU(SRL, X(i->rs1) >> (X(i->rs2) & 63))
    ALU(SRA, (uint64_t)((int64_t)X(i->rs1) >> (X(i->rs2) & 63)))
    ALU(OR, X(i->rs1) | X(i->rs2))
    ALU(AND, X(i->rs1) & X(i->rs2))
    ALU(ADDIW, SX32(X(i->rs1) + (int64_t)i->imm))
    ALU(SLLIW, SX32((uint32_t)X(i->rs1) << i->imm))
    ALU(SRLIW, SX32((uint32_t)X(i->rs1) >> i->imm))
    ALU(SRAIW, SX32((int32_t)X(i->rs1) >> i->imm))
    ALU(ADDW, SX32(X(i->rs1) + X(i->rs2)))
    ALU(SUBW, SX32(X(i->rs1) - X(i->rs2)))
    ALU(SLLW, SX32((uint32_t)X(i->rs1) << (X(i->rs2) & 31)))
    ALU(SRLW, SX32((uint32_t)X(i->rs1) >> (X(i->rs2) & 31)))
    ALU(SRAW, SX32((int32_t)X(i->rs1) >> (X(i->rs2) & 31)))
    ALU(MUL, X(i->rs1) * X(i->rs2))
    ALU(MULH, (uint64_t)(((__int128)(int64_t)X(i->rs1) * (int64_t)X(i->rs2)) >> 64))
    ALU(MULHSU,
        (uint64_t)(((__int128)(int64_t)X(i->rs1) * (__int128)(unsigned __int128)X(i->rs2)) >> 64))
    ALU(MULHU, (uint64_t)(((unsigned __int128)X(i->rs1) * X(i->rs2)) >> 64))
    CASE(DIV)
    {
        int64_t a = (int64_t)X(i->rs1), d = (int64_t)X(i->rs2);
        X(i->rd) = d == 0 ? ~0ull : (a == INT64_MIN && d == -1) ? (uint64_t)a : (uint64_t)(a / d);
        NEXT;
    }
    CASE(DIVU)
    {
        uint64_t a = X(i->rs1), d = X(i->rs2);
        X(i->rd) = d == 0 ? ~0ull : a / d;
        NEXT;
    }
    CASE(REM)
    {
        int64_t a = (int64_t)X(i->rs1), d = (int64_t)X(i->rs2);
        X(i->rd) = d == 0 ? (uint64_t)a : (a == INT64_MIN && d == -1) ? 0 : (uint64_t)(a % d);
        NEXT;
    }
    CASE(REMU)
    {
        uint64_t a = X(i->rs1), d = X(i->rs2);
        X(i->rd) = d == 0 ? a : a % d;
        NEXT;
    }
    ALU(MULW, SX32(X(i->rs1) * X(i->rs2)))
    CASE(DIVW)
    {
        int32_t a = (int32_t)X(i->rs1), d = (int32_t)X(i->rs2);
        X(i->rd) = d == 0 ? ~0ull : (a == INT32_MIN && d == -1) ? SX32(a) : SX32(a / d);
        NEXT;
    }
    CASE(DIVUW)
    {
        uint32_t a = (uint32_t)X(i->rs1), d = (uint32_t)X(i->rs2);
        X(i->rd) = d == 0 ? ~0ull : SX32(a / d);
        NEXT;
    }
    CASE(REMW)
    {
        int32_t a = (int32_t)X(i->rs1), d = (int32_t)X(i->rs2);
        X(i->rd) = d == 0 ? SX32(a) : (a == INT32_MIN && d == -1) ? 0 : SX32(a % d);
        NEXT;
    }
    CASE(REMUW)
    {
        uint32_t a = (uint32_t)X(i->rs1), d = (uint32_t)X(i->rs2);
        X(i->rd) = d == 0 ? SX32(a) : SX32(a % d);
        NEXT;
    }
    CASE(FENCE)
    {
        NEXT;
    }
    CASE(ECALL)
    {
        if (h->priv == PRV_S && h->ecall_hook) {
            h->instret += (uint64_t)(i - b->insns);
            h->pc = pc0 + i->off;
            if (h->ecall_hook(h->ecall_opaque, h)) {
                h->instret += 1;
                h->pc = pc0 + i->off + 4;
                goto lookup; /* the call may have changed anything (fences, harts) */
            }
            h->instret -= (uint64_t)(i - b->insns);
        }
        cause = CAUSE_ECALL_U + (int)h->priv;
        tval = 0;
        goto except;
    }
    CASE(EBREAK)
    {
        cause = CAUSE_BREAKPOINT;
        tval = pc0 + i->off;
        goto except;
    }
    CASE(ILLEGAL)
    {
        cause = CAUSE_ILLEGAL_INSN;
        tval = (uint32_t)i->imm;
        goto except;
    }
    CASE(CSRRW) CASE(CSRRS) CASE(CSRRC) CASE(CSRRWI) CASE(CSRRSI) CASE(CSRRCI)
    {
        h->instret += (uint64_t)(i - b->insns); /* CSR reads see an exact instret */
        h->pc = pc0 + i->off;
        cause = exec_csr(h, i);
        h->instret -= (uint64_t)(i - b->insns);
        if (cause)
            goto illegal;
        NEXT;
    }
    CASE(MRET) CASE(SRET) CASE(WFI) CASE(SFENCE_VMA) CASE(FENCE_I)
    {
        h->pc = pc0 + i->off;
        jumped = false;
        if ((cause = exec_priv(h, i, &jumped)))
            goto illegal;
        if (jumped) {
            target = h->pc;
            goto jump;
        }
        NEXT;
    }
    CASE(FLD)
    {
        FP_ON();
        uint64_t va_ = X(i->rs1) + (int64_t)i->imm;
        const TlbEntry *e_ = &tlb_load[(va_ >> BUS_PAGE_SHIFT) & (TLB_SIZE - 1)];
        if (likely((va_ & TLB_MASK(8)) == e_->tag))
            h->f[i->rd] = *(const uint64_t *)(uintptr_t)(va_ + e_->addend);
        else if (unlikely(cause = mem_load_slow(h, va_, 8, &h->f[i->rd], &tval)))
            goto except;
        h->mstatus |= MSTATUS_FS;
        NEXT;
    }
    CASE(FSD)
    {
        FP_ON();
        uint64_t va_ = X(i->rs1) + (int64_t)i->imm;
        const TlbEntry *e_ = &tlb_store[(va_ >> BUS_PAGE_SHIFT) & (TLB_SIZE - 1)];
        if (likely((va_ & TLB_MASK(8)) == e_->tag))
            *(uint64_t *)(uintptr_t)(va_ + e_->addend) = h->f[i->rs2];
        else if (unlikely(cause = mem_store_slow(h, va_, 8, h->f[i->rs2], &tval)))
            goto except;
        NEXT;
    }
    FP_D2(FADD_D, f64_add)
    FP_D2(FSUB_D, f64_sub)
    FP_D2(FMUL_D, f64_mul)
    FP_D2(FDIV_D, f64_div)
    FP_S2(FADD_S, f32_add)
    FP_S2(FSUB_S, f32_sub)
    FP_S2(FMUL_S, f32_mul)
    FP_S2(FDIV_S, f32_div)
    FP_FMA_D(FMADD_D, 0, 0)
    FP_FMA_D(FMSUB_D, 0, F64_SIGN_BIT)
    FP_FMA_D(FNMSUB_D, F64_SIGN_BIT, 0)
    FP_FMA_D(FNMADD_D, F64_SIGN_BIT, F64_SIGN_BIT)
    CASE(FLW)
    {
        FP_ON();
        uint64_t va_ = X(i->rs1) + (int64_t)i->imm, v_;
        const TlbEntry *e_ = &tlb_load[(va_ >> BUS_PAGE_SHIFT) & (TLB_SIZE - 1)];
        if (likely((va_ & TLB_MASK(4)) == e_->tag))
            v_ = *(const uint32_t *)(uintptr_t)(va_ + e_->addend);
        else if (unlikely(cause = mem_load_slow(h, va_, 4, &v_, &tval)))
            goto except;
        h->f[i->rd] = FP_BOX32 | (uint32_t)v_;
        h->mstatus |= MSTATUS_FS;
        NEXT;
    }
    CASE(FSW)
    {
        FP_ON();
        uint64_t va_ = X(i->rs1) + (int64_t)i->imm;
        const TlbEntry *e_ = &tlb_store[(va_ >> BUS_PAGE_SHIFT) & (TLB_SIZE - 1)];
        if (likely((va_ & TLB_MASK(4)) == e_->tag))
            *(uint32_t *)(uintptr_t)(va_ + e_->addend) = (uint32_t)h->f[i->rs2];
        else if (unlikely(cause = mem_store_slow(h, va_, 4, (uint32_t)h->f[i->rs2], &tval)))
            goto except;
        NEXT;
    }
    FP_FMA_S(FMADD_S, 0, 0)
    FP_FMA_S(FMSUB_S, 0, F32_SIGN_BIT)
    FP_FMA_S(FNMSUB_S, F32_SIGN_BIT, 0)
    FP_FMA_S(FNMADD_S, F32_SIGN_BIT, F32_SIGN_BIT)
    CASE(FSQRT_S)
    {
        int rm_;
        FP_ON();
        FP_RM(rm_);
        h->f[i->rd] = FP_BOX32 | f32_sqrt(fp_unbox(h->f[i->rs1]), rm_, &h->fflags);
        h->mstatus |= MSTATUS_FS;
        NEXT;
    }
    CASE(FSQRT_D)
    {
        int rm_;
        FP_ON();
        FP_RM(rm_);
        h->f[i->rd] = f64_sqrt(h->f[i->rs1], rm_, &h->fflags);
        h->mstatus |= MSTATUS_FS;
        NEXT;
    }
    CASE(FMV_X_D)
    {
        FP_ON();
        X(i->rd) = h->f[i->rs1];
        NEXT;
    }
    CASE(FMV_D_X)
    {
        FP_ON();
        h->f[i->rd] = X(i->rs1);
        h->mstatus |= MSTATUS_FS;
        NEXT;
    }
    CASE(OTHER)
    {
        if (i->op >= OP_LR_W && i->op <= OP_AMOMAXU_D)
            cause = exec_amo(h, i, &tval);
        else
            cause = exec_fp(h, i, &tval);
        if (cause == EXEC_ILLEGAL)
            goto illegal;
        if (cause)
            goto except;
        NEXT;
    }
    CASE(BLOCK_END)
    {
        h->pc = pc0 + b->bytes;
        h->instret += b->ninsns;
        /* after a system instruction (e.g. a satp write) the mapping may differ */
        if (ends_with_system(b))
            goto lookup;
        slot = 0;
        goto chain;
    }
fp_off:
    cause = CAUSE_ILLEGAL_INSN;
    goto illegal;
taken:
    h->pc = target;
    h->instret += (uint64_t)(i - b->insns) + 1;
    slot = 1;
    goto chain;
jump:
    h->pc = target;
    h->instret += (uint64_t)(i - b->insns) + 1;
    goto lookup;
illegal:
    tval = insn_bits(h, pc0 + i->off);
except:
    h->instret += (uint64_t)(i - b->insns);
    h->pc = pc0 + i->off;
    hart_exception(h, (uint64_t)cause, tval);
    if (unlikely(++traps >= HART_TRAP_BUDGET))
        return HART_EXIT_BUDGET;
    goto lookup;

chain:
    /* the same checks as at lookup, without the lookup when a link exists */
    if (unlikely(*h->stop || (h->mip & h->mie) || h->instret >= stop_at))
        goto lookup;
    if (!b->valid || ((pc0 ^ h->pc) >> BUS_PAGE_SHIFT))
        goto lookup;
    n = b->next[slot];
    if (likely(n && n->valid)) {
        b = n;
        goto enter;
    }
    {
        uint64_t gen = bcache_generation(h->bcache);
        if (!(n = fetch_block(h, scratch)))
            goto lookup;
        if (n != scratch && bcache_generation(h->bcache) == gen)
            b->next[slot] = n;
        b = n;
        goto enter;
    }
}

_Static_assert(HART_TRAP_BUDGET > 0, "trap budget");

HartExit hart_run(Hart *h, uint64_t budget)
{
    struct {
        Block b;
        DecodedInsn insn[2];
    } scratch;
    return run_blocks(h, h->instret + budget, &scratch.b);
}
