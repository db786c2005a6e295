/*
 * The block executor: finds (or decodes) the block at pc and runs it.
 *
 * This is the interpreter's hot path.  Integer instructions are executed
 * inline in one switch; loads and stores hit the soft TLB inline (one
 * compare that also checks alignment, then one add); everything rarer is a
 * call.  Interrupts are only checked between blocks.  A JIT would replace
 * exec_block() and keep fetch_block()'s contract.
 */
#include "cpu/exec.h"

#include <string.h>

#include "cpu/bcache.h"
#include "util/compiler.h"

/* ---- block building ---- */

static bool ends_block(Op op)
{
    switch (op) {
    case OP_JAL: case OP_JALR: case OP_BEQ: case OP_BNE: case OP_BLT: case OP_BGE:
    case OP_BLTU: case OP_BGEU: case OP_ECALL: case OP_EBREAK: case OP_MRET: case OP_SRET:
    case OP_WFI: case OP_SFENCE_VMA: case OP_FENCE_I: case OP_ILLEGAL:
    case OP_CSRRW: case OP_CSRRS: case OP_CSRRC: case OP_CSRRWI: case OP_CSRRSI:
    case OP_CSRRCI:
        return true;
    default:
        return false;
    }
}

static uint64_t host_to_pa(const Hart *h, uintptr_t host)
{
    return (uint64_t)(host - (uintptr_t)h->bus->ram) + h->bus->ram_base;
}

static void mark_code_page(Hart *h, uint64_t pa)
{
    uint8_t *flags = bus_page_flags(h->bus, pa);
    if (!(*flags & BUS_PAGE_CODE)) {
        *flags |= BUS_PAGE_CODE;
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
    scratch->ninsns = 1;
    scratch->bytes = 4;
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
    b->ninsns = n;
    b->bytes = off;
    bcache_insert(h->bcache, b);
    return b;
}

/* The block at h->pc, or NULL after raising a fetch exception. */
static Block *fetch_block(Hart *h, Block *scratch)
{
    uintptr_t host;
    int cause = mem_fetch_host(h, h->pc, &host);
    if (unlikely(cause)) {
        hart_exception(h, (uint64_t)cause, h->pc);
        return NULL;
    }
    uint64_t pa = host_to_pa(h, host);
    Block *b = bcache_lookup(h->bcache, pa);
    if (likely(b))
        return b;
    return decode_block(h, pa, (const uint8_t *)host, scratch);
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

#define LOAD(type, size)                                                                  \
    do {                                                                                  \
        uint64_t va_ = X(i->rs1) + (int64_t)i->imm;                                       \
        const TlbEntry *e_ = &tlb_load[(va_ >> BUS_PAGE_SHIFT) & (TLB_SIZE - 1)];         \
        if (likely((va_ & TLB_MASK(size)) == e_->tag)) {                                  \
            X(i->rd) = (uint64_t)(int64_t) * (const type *)(uintptr_t)(va_ + e_->addend); \
        } else {                                                                          \
            uint64_t v_;                                                                  \
            if (unlikely(cause = mem_load_slow(h, va_, size, &v_, &tval)))                \
                goto except;                                                              \
            X(i->rd) = (uint64_t)(int64_t)(type)v_;                                       \
        }                                                                                 \
    } while (0)

#define STORE(type, size)                                                                 \
    do {                                                                                  \
        uint64_t va_ = X(i->rs1) + (int64_t)i->imm;                                       \
        const TlbEntry *e_ = &tlb_store[(va_ >> BUS_PAGE_SHIFT) & (TLB_SIZE - 1)];        \
        if (likely((va_ & TLB_MASK(size)) == e_->tag)) {                                  \
            *(type *)(uintptr_t)(va_ + e_->addend) = (type)X(i->rs2);                     \
        } else if (unlikely(cause = mem_store_slow(h, va_, size, X(i->rs2), &tval))) {    \
            goto except;                                                                  \
        }                                                                                 \
    } while (0)

#define BRANCH(cond)                                 \
    do {                                             \
        if (cond) {                                  \
            target = pc0 + i->off + (int64_t)i->imm; \
            goto jump;                               \
        }                                            \
    } while (0)

static void exec_block(Hart *h, const Block *b)
{
    uint64_t *x = h->x;
    const uint64_t pc0 = h->pc;
    const DecodedInsn *i = b->insns, *end = i + b->ninsns;
    const TlbEntry *tlb_load = h->tlb[ACC_LOAD][h->mmu_data];
    const TlbEntry *tlb_store = h->tlb[ACC_STORE][h->mmu_data];
    uint64_t target = 0, tval = 0;
    int cause = 0;
    bool jumped = false;

    for (; i < end; i++) {
        switch ((Op)i->op) {
        case OP_LUI: X(i->rd) = (uint64_t)(int64_t)i->imm; break;
        case OP_AUIPC: X(i->rd) = pc0 + i->off + (int64_t)i->imm; break;
        case OP_JAL:
            X(i->rd) = pc0 + i->off + i->len;
            target = pc0 + i->off + (int64_t)i->imm;
            goto jump;
        case OP_JALR:
            target = (X(i->rs1) + (int64_t)i->imm) & ~1ull;
            X(i->rd) = pc0 + i->off + i->len;
            goto jump;
        case OP_BEQ: BRANCH(X(i->rs1) == X(i->rs2)); break;
        case OP_BNE: BRANCH(X(i->rs1) != X(i->rs2)); break;
        case OP_BLT: BRANCH((int64_t)X(i->rs1) < (int64_t)X(i->rs2)); break;
        case OP_BGE: BRANCH((int64_t)X(i->rs1) >= (int64_t)X(i->rs2)); break;
        case OP_BLTU: BRANCH(X(i->rs1) < X(i->rs2)); break;
        case OP_BGEU: BRANCH(X(i->rs1) >= X(i->rs2)); break;
        case OP_LB: LOAD(int8_t, 1); break;
        case OP_LH: LOAD(int16_t, 2); break;
        case OP_LW: LOAD(int32_t, 4); break;
        case OP_LD: LOAD(int64_t, 8); break;
        case OP_LBU: LOAD(uint8_t, 1); break;
        case OP_LHU: LOAD(uint16_t, 2); break;
        case OP_LWU: LOAD(uint32_t, 4); break;
        case OP_SB: STORE(uint8_t, 1); break;
        case OP_SH: STORE(uint16_t, 2); break;
        case OP_SW: STORE(uint32_t, 4); break;
        case OP_SD: STORE(uint64_t, 8); break;
        case OP_ADDI: X(i->rd) = X(i->rs1) + (int64_t)i->imm; break;
        case OP_SLTI: X(i->rd) = (int64_t)X(i->rs1) < (int64_t)i->imm; break;
        case OP_SLTIU: X(i->rd) = X(i->rs1) < (uint64_t)(int64_t)i->imm; break;
        case OP_XORI: X(i->rd) = X(i->rs1) ^ (uint64_t)(int64_t)i->imm; break;
        case OP_ORI: X(i->rd) = X(i->rs1) | (uint64_t)(int64_t)i->imm; break;
        case OP_ANDI: X(i->rd) = X(i->rs1) & (uint64_t)(int64_t)i->imm; break;
        case OP_SLLI: X(i->rd) = X(i->rs1) << i->imm; break;
        case OP_SRLI: X(i->rd) = X(i->rs1) >> i->imm; break;
        case OP_SRAI: X(i->rd) = (uint64_t)((int64_t)X(i->rs1) >> i->imm); break;
        case OP_ADD: X(i->rd) = X(i->rs1) + X(i->rs2); break;
        case OP_SUB: X(i->rd) = X(i->rs1) - X(i->rs2); break;
        case OP_SLL: X(i->rd) = X(i->rs1) << (X(i->rs2) & 63); break;
        case OP_SLT: X(i->rd) = (int64_t)X(i->rs1) < (int64_t)X(i->rs2); break;
        case OP_SLTU: X(i->rd) = X(i->rs1) < X(i->rs2); break;
        case OP_XOR: X(i->rd) = X(i->rs1) ^ X(i->rs2); break;
        case OP_SRL: X(i->rd) = X(i->rs1) >> (X(i->rs2) & 63); break;
        case OP_SRA: X(i->rd) = (uint64_t)((int64_t)X(i->rs1) >> (X(i->rs2) & 63)); break;
        case OP_OR: X(i->rd) = X(i->rs1) | X(i->rs2); break;
        case OP_AND: X(i->rd) = X(i->rs1) & X(i->rs2); break;
        case OP_ADDIW: X(i->rd) = SX32(X(i->rs1) + (int64_t)i->imm); break;
        case OP_SLLIW: X(i->rd) = SX32((uint32_t)X(i->rs1) << i->imm); break;
        case OP_SRLIW: X(i->rd) = SX32((uint32_t)X(i->rs1) >> i->imm); break;
        case OP_SRAIW: X(i->rd) = SX32((int32_t)X(i->rs1) >> i->imm); break;
        case OP_ADDW: X(i->rd) = SX32(X(i->rs1) + X(i->rs2)); break;
        case OP_SUBW: X(i->rd) = SX32(X(i->rs1) - X(i->rs2)); break;
        case OP_SLLW: X(i->rd) = SX32((uint32_t)X(i->rs1) << (X(i->rs2) & 31)); break;
        case OP_SRLW: X(i->rd) = SX32((uint32_t)X(i->rs1) >> (X(i->rs2) & 31)); break;
        case OP_SRAW: X(i->rd) = SX32((int32_t)X(i->rs1) >> (X(i->rs2) & 31)); break;
        case OP_MUL: X(i->rd) = X(i->rs1) * X(i->rs2); break;
        case OP_MULH:
            X(i->rd) = (uint64_t)(((__int128)(int64_t)X(i->rs1) * (int64_t)X(i->rs2)) >> 64);
            break;
        case OP_MULHSU:
            X(i->rd) = (uint64_t)(((__int128)(int64_t)X(i->rs1) *
                                   (__int128)(unsigned __int128)X(i->rs2)) >> 64);
            break;
        case OP_MULHU:
            X(i->rd) = (uint64_t)(((unsigned __int128)X(i->rs1) * X(i->rs2)) >> 64);
            break;
        case OP_DIV: {
            int64_t a = (int64_t)X(i->rs1), d = (int64_t)X(i->rs2);
            X(i->rd) = d == 0 ? ~0ull : (a == INT64_MIN && d == -1) ? (uint64_t)a
                                                                      : (uint64_t)(a / d);
            break;
        }
        case OP_DIVU: {
            uint64_t a = X(i->rs1), d = X(i->rs2);
            X(i->rd) = d == 0 ? ~0ull : a / d;
            break;
        }
        case OP_REM: {
            int64_t a = (int64_t)X(i->rs1), d = (int64_t)X(i->rs2);
            X(i->rd) = d == 0 ? (uint64_t)a : (a == INT64_MIN && d == -1) ? 0
                                                                          : (uint64_t)(a % d);
            break;
        }
        case OP_REMU: {
            uint64_t a = X(i->rs1), d = X(i->rs2);
            X(i->rd) = d == 0 ? a : a % d;
            break;
        }
        case OP_MULW: X(i->rd) = SX32(X(i->rs1) * X(i->rs2)); break;
        case OP_DIVW: {
            int32_t a = (int32_t)X(i->rs1), d = (int32_t)X(i->rs2);
            X(i->rd) = d == 0 ? ~0ull : (a == INT32_MIN && d == -1) ? SX32(a) : SX32(a / d);
            break;
        }
        case OP_DIVUW: {
            uint32_t a = (uint32_t)X(i->rs1), d = (uint32_t)X(i->rs2);
            X(i->rd) = d == 0 ? ~0ull : SX32(a / d);
            break;
        }
        case OP_REMW: {
            int32_t a = (int32_t)X(i->rs1), d = (int32_t)X(i->rs2);
            X(i->rd) = d == 0 ? SX32(a) : (a == INT32_MIN && d == -1) ? 0 : SX32(a % d);
            break;
        }
        case OP_REMUW: {
            uint32_t a = (uint32_t)X(i->rs1), d = (uint32_t)X(i->rs2);
            X(i->rd) = d == 0 ? SX32(a) : SX32(a % d);
            break;
        }
        case OP_FENCE: break;
        case OP_ECALL:
            cause = CAUSE_ECALL_U + (int)h->priv;
            tval = 0;
            goto except;
        case OP_EBREAK:
            cause = CAUSE_BREAKPOINT;
            tval = pc0 + i->off;
            goto except;
        case OP_ILLEGAL:
            cause = CAUSE_ILLEGAL_INSN;
            tval = (uint32_t)i->imm;
            goto except;
        case OP_CSRRW: case OP_CSRRS: case OP_CSRRC:
        case OP_CSRRWI: case OP_CSRRSI: case OP_CSRRCI:
            h->instret += (uint64_t)(i - b->insns);
            h->pc = pc0 + i->off;
            cause = exec_csr(h, i);
            h->instret -= (uint64_t)(i - b->insns);
            if (cause)
                goto illegal;
            break;
        case OP_MRET: case OP_SRET: case OP_WFI: case OP_SFENCE_VMA: case OP_FENCE_I:
            h->pc = pc0 + i->off;
            if ((cause = exec_priv(h, i, &jumped)))
                goto illegal;
            if (jumped) {
                target = h->pc;
                goto jump;
            }
            break;
        default:
            if (i->op >= OP_LR_W && i->op <= OP_AMOMAXU_D)
                cause = exec_amo(h, i, &tval);
            else
                cause = exec_fp(h, i, &tval);
            if (cause == EXEC_ILLEGAL)
                goto illegal;
            if (cause)
                goto except;
            break;
        }
    }
    h->pc = pc0 + b->bytes;
    h->instret += b->ninsns;
    return;
jump:
    h->pc = target;
    h->instret += (uint64_t)(i - b->insns) + 1;
    return;
illegal:
    tval = insn_bits(h, pc0 + i->off);
except:
    h->instret += (uint64_t)(i - b->insns);
    h->pc = pc0 + i->off;
    hart_exception(h, (uint64_t)cause, tval);
}

HartExit hart_run(Hart *h, uint64_t budget)
{
    uint64_t stop_at = h->instret + budget;
    struct {
        Block b;
        DecodedInsn insn[1];
    } scratch;

    for (;;) {
        if (unlikely(*h->stop))
            return HART_EXIT_STOP;
        if (unlikely(h->mip & h->mie)) {
            h->wfi = false; /* WFI ends on any pending enabled interrupt, taken or not */
            hart_check_interrupts(h);
        }
        if (unlikely(h->wfi))
            return HART_EXIT_WFI;
        if (unlikely(h->instret >= stop_at))
            return HART_EXIT_BUDGET;
        Block *b = fetch_block(h, &scratch.b);
        if (likely(b))
            exec_block(h, b);
    }
}
