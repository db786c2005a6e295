/*
 * RV64GC decoder: 32-bit encodings and the C extension, into DecodedInsn.
 * Compressed instructions become the operation they expand to.
 */
#include "cpu/decode.h"

#include <ctype.h>
#include <string.h>

static inline uint32_t bits(uint32_t v, unsigned hi, unsigned lo)
{
    return (v >> lo) & ((1u << (hi - lo + 1)) - 1);
}

static inline int32_t sext(uint32_t v, unsigned width)
{
    return (int32_t)(v << (32 - width)) >> (32 - width);
}

static void set(DecodedInsn *d, Op op, unsigned rd, unsigned rs1, unsigned rs2, int32_t imm)
{
    d->op = op;
    d->rd = rd;
    d->rs1 = rs1;
    d->rs2 = rs2;
    d->imm = imm;
}

static unsigned illegal(DecodedInsn *d, uint32_t raw, unsigned len)
{
    memset(d, 0, sizeof(*d));
    d->op = OP_ILLEGAL;
    d->imm = (int32_t)(len == 2 ? (raw & 0xffff) : raw);
    d->len = len;
    return len;
}

/* ---- 32-bit immediates ---- */

static int32_t imm_i(uint32_t r)
{
    return (int32_t)r >> 20;
}
static int32_t imm_s(uint32_t r)
{
    return sext(bits(r, 31, 25) << 5 | bits(r, 11, 7), 12);
}
static int32_t imm_u(uint32_t r)
{
    return (int32_t)(r & 0xfffff000u);
}

static int32_t imm_b(uint32_t r)
{
    uint32_t v =
        bits(r, 31, 31) << 12 | bits(r, 7, 7) << 11 | bits(r, 30, 25) << 5 | bits(r, 11, 8) << 1;
    return sext(v, 13);
}

static int32_t imm_j(uint32_t r)
{
    uint32_t v = bits(r, 31, 31) << 20 | bits(r, 19, 12) << 12 | bits(r, 20, 20) << 11 |
                 bits(r, 30, 21) << 1;
    return sext(v, 21);
}

/* ---- 32-bit groups: each returns the op or OP_ILLEGAL ---- */

static Op dec_branch(uint32_t f3)
{
    static const Op t[8] = {OP_BEQ, OP_BNE, OP_ILLEGAL, OP_ILLEGAL,
                            OP_BLT, OP_BGE, OP_BLTU,    OP_BGEU};
    return t[f3];
}

static Op dec_load(uint32_t f3)
{
    static const Op t[8] = {OP_LB, OP_LH, OP_LW, OP_LD, OP_LBU, OP_LHU, OP_LWU, OP_ILLEGAL};
    return t[f3];
}

static Op dec_store(uint32_t f3)
{
    static const Op t[8] = {OP_SB, OP_SH, OP_SW, OP_SD};
    return f3 < 4 ? t[f3] : OP_ILLEGAL;
}

static Op dec_op_imm(uint32_t r, int32_t *imm)
{
    uint32_t f3 = bits(r, 14, 12), top6 = bits(r, 31, 26);
    static const Op t[8] = {OP_ADDI, OP_SLLI, OP_SLTI, OP_SLTIU, OP_XORI, OP_SRLI, OP_ORI, OP_ANDI};
    if (f3 == 1 || f3 == 5) {
        *imm = (int32_t)bits(r, 25, 20);
        if (f3 == 1)
            return top6 == 0 ? OP_SLLI : OP_ILLEGAL;
        return top6 == 0 ? OP_SRLI : top6 == 0x10 ? OP_SRAI : OP_ILLEGAL;
    }
    return t[f3];
}

static Op dec_op_imm32(uint32_t r, int32_t *imm)
{
    uint32_t f3 = bits(r, 14, 12), f7 = bits(r, 31, 25);
    if (f3 == 0)
        return OP_ADDIW;
    *imm = (int32_t)bits(r, 24, 20);
    if (f3 == 1)
        return f7 == 0 ? OP_SLLIW : OP_ILLEGAL;
    if (f3 == 5)
        return f7 == 0 ? OP_SRLIW : f7 == 0x20 ? OP_SRAIW : OP_ILLEGAL;
    return OP_ILLEGAL;
}

static Op dec_op(uint32_t r)
{
    static const Op base[8] = {OP_ADD, OP_SLL, OP_SLT, OP_SLTU, OP_XOR, OP_SRL, OP_OR, OP_AND};
    static const Op mul[8] = {OP_MUL, OP_MULH, OP_MULHSU, OP_MULHU,
                              OP_DIV, OP_DIVU, OP_REM,    OP_REMU};
    uint32_t f3 = bits(r, 14, 12), f7 = bits(r, 31, 25);
    if (f7 == 0)
        return base[f3];
    if (f7 == 1)
        return mul[f3];
    if (f7 == 0x20)
        return f3 == 0 ? OP_SUB : f3 == 5 ? OP_SRA : OP_ILLEGAL;
    return OP_ILLEGAL;
}

static Op dec_op32(uint32_t r)
{
    static const Op mul[8] = {OP_MULW, OP_ILLEGAL, OP_ILLEGAL, OP_ILLEGAL,
                              OP_DIVW, OP_DIVUW,   OP_REMW,    OP_REMUW};
    uint32_t f3 = bits(r, 14, 12), f7 = bits(r, 31, 25);
    if (f7 == 0)
        return f3 == 0 ? OP_ADDW : f3 == 1 ? OP_SLLW : f3 == 5 ? OP_SRLW : OP_ILLEGAL;
    if (f7 == 1)
        return mul[f3];
    if (f7 == 0x20)
        return f3 == 0 ? OP_SUBW : f3 == 5 ? OP_SRAW : OP_ILLEGAL;
    return OP_ILLEGAL;
}

static Op dec_system(uint32_t r)
{
    static const Op csr[8] = {OP_ILLEGAL, OP_CSRRW,  OP_CSRRS,  OP_CSRRC,
                              OP_ILLEGAL, OP_CSRRWI, OP_CSRRSI, OP_CSRRCI};
    uint32_t f3 = bits(r, 14, 12);
    if (f3 != 0)
        return csr[f3];
    switch (r) {
    case 0x00000073: return OP_ECALL;
    case 0x00100073: return OP_EBREAK;
    case 0x30200073: return OP_MRET;
    case 0x10200073: return OP_SRET;
    case 0x10500073: return OP_WFI;
    }
    if (bits(r, 31, 25) == 0x09 && bits(r, 11, 7) == 0)
        return OP_SFENCE_VMA;
    return OP_ILLEGAL;
}

static Op dec_amo(uint32_t r)
{
    static const Op w[32] = {
        [0x00] = OP_AMOADD_W, [0x01] = OP_AMOSWAP_W, [0x02] = OP_LR_W,     [0x03] = OP_SC_W,
        [0x04] = OP_AMOXOR_W, [0x0c] = OP_AMOAND_W,  [0x08] = OP_AMOOR_W,  [0x10] = OP_AMOMIN_W,
        [0x14] = OP_AMOMAX_W, [0x18] = OP_AMOMINU_W, [0x1c] = OP_AMOMAXU_W};
    static const Op d[32] = {
        [0x00] = OP_AMOADD_D, [0x01] = OP_AMOSWAP_D, [0x02] = OP_LR_D,     [0x03] = OP_SC_D,
        [0x04] = OP_AMOXOR_D, [0x0c] = OP_AMOAND_D,  [0x08] = OP_AMOOR_D,  [0x10] = OP_AMOMIN_D,
        [0x14] = OP_AMOMAX_D, [0x18] = OP_AMOMINU_D, [0x1c] = OP_AMOMAXU_D};
    uint32_t f3 = bits(r, 14, 12), f5 = bits(r, 31, 27);
    Op op = f3 == 2 ? w[f5] : f3 == 3 ? d[f5] : OP_ILLEGAL;
    /* table holes are 0 == OP_ILLEGAL; LR needs rs2 == 0 */
    if ((op == OP_LR_W || op == OP_LR_D) && bits(r, 24, 20) != 0)
        return OP_ILLEGAL;
    return op;
}

static int rm_valid(uint32_t rm)
{
    return rm <= 4 || rm == 7;
}

/* OP-FP ops that take a rounding mode, indexed by funct7 (S in even, D in odd). */
static Op dec_op_fp_rm(uint32_t f7)
{
    switch (f7) {
    case 0x00: return OP_FADD_S;
    case 0x01: return OP_FADD_D;
    case 0x04: return OP_FSUB_S;
    case 0x05: return OP_FSUB_D;
    case 0x08: return OP_FMUL_S;
    case 0x09: return OP_FMUL_D;
    case 0x0c: return OP_FDIV_S;
    case 0x0d: return OP_FDIV_D;
    }
    return OP_ILLEGAL;
}

static Op dec_op_fp(uint32_t r, int *uses_rm)
{
    static const Op cvt_to_int[2][4] = {{OP_FCVT_W_S, OP_FCVT_WU_S, OP_FCVT_L_S, OP_FCVT_LU_S},
                                        {OP_FCVT_W_D, OP_FCVT_WU_D, OP_FCVT_L_D, OP_FCVT_LU_D}};
    static const Op cvt_from_int[2][4] = {{OP_FCVT_S_W, OP_FCVT_S_WU, OP_FCVT_S_L, OP_FCVT_S_LU},
                                          {OP_FCVT_D_W, OP_FCVT_D_WU, OP_FCVT_D_L, OP_FCVT_D_LU}};
    uint32_t f7 = bits(r, 31, 25), f3 = bits(r, 14, 12), rs2 = bits(r, 24, 20), dbl = f7 & 1;
    Op op = dec_op_fp_rm(f7);
    *uses_rm = 1;
    if (op != OP_ILLEGAL)
        return op;
    switch (f7 & ~1u) {
    case 0x2c: return rs2 == 0 ? (dbl ? OP_FSQRT_D : OP_FSQRT_S) : OP_ILLEGAL;
    case 0x20:
        if (f7 == 0x20 && rs2 == 1)
            return OP_FCVT_S_D;
        return f7 == 0x21 && rs2 == 0 ? OP_FCVT_D_S : OP_ILLEGAL;
    case 0x60: return rs2 < 4 ? cvt_to_int[dbl][rs2] : OP_ILLEGAL;
    case 0x68: return rs2 < 4 ? cvt_from_int[dbl][rs2] : OP_ILLEGAL;
    }
    *uses_rm = 0;
    switch (f7 & ~1u) {
    case 0x10:
        if (f3 > 2)
            return OP_ILLEGAL;
        return dbl ? (Op)(OP_FSGNJ_D + f3) : (Op)(OP_FSGNJ_S + f3);
    case 0x14:
        if (f3 > 1)
            return OP_ILLEGAL;
        return dbl ? (f3 ? OP_FMAX_D : OP_FMIN_D) : (f3 ? OP_FMAX_S : OP_FMIN_S);
    case 0x50:
        if (f3 == 2)
            return dbl ? OP_FEQ_D : OP_FEQ_S;
        if (f3 == 1)
            return dbl ? OP_FLT_D : OP_FLT_S;
        if (f3 == 0)
            return dbl ? OP_FLE_D : OP_FLE_S;
        return OP_ILLEGAL;
    case 0x70:
        if (rs2 != 0)
            return OP_ILLEGAL;
        if (f3 == 0)
            return dbl ? OP_FMV_X_D : OP_FMV_X_W;
        if (f3 == 1)
            return dbl ? OP_FCLASS_D : OP_FCLASS_S;
        return OP_ILLEGAL;
    case 0x78: return (rs2 == 0 && f3 == 0) ? (dbl ? OP_FMV_D_X : OP_FMV_W_X) : OP_ILLEGAL;
    }
    return OP_ILLEGAL;
}

/* Does op write an integer register (so rd x0 must go to the sink)? */
static int writes_xreg(Op op)
{
    switch (op) {
    case OP_BEQ:
    case OP_BNE:
    case OP_BLT:
    case OP_BGE:
    case OP_BLTU:
    case OP_BGEU:
    case OP_SB:
    case OP_SH:
    case OP_SW:
    case OP_SD:
    case OP_FENCE:
    case OP_FENCE_I:
    case OP_ECALL:
    case OP_EBREAK:
    case OP_MRET:
    case OP_SRET:
    case OP_WFI:
    case OP_SFENCE_VMA:
    case OP_FLW:
    case OP_FLD:
    case OP_FSW:
    case OP_FSD:
    case OP_FMV_W_X:
    case OP_FMV_D_X:
    case OP_FCVT_S_W:
    case OP_FCVT_S_WU:
    case OP_FCVT_S_L:
    case OP_FCVT_S_LU:
    case OP_FCVT_D_W:
    case OP_FCVT_D_WU:
    case OP_FCVT_D_L:
    case OP_FCVT_D_LU:
    case OP_FCVT_S_D:
    case OP_FCVT_D_S: return 0;
    default: break;
    }
    if (op >= OP_FMADD_S && op <= OP_FSGNJX_S)
        return 0;
    if (op == OP_FMIN_S || op == OP_FMAX_S)
        return 0;
    if (op >= OP_FMADD_D && op <= OP_FSGNJX_D)
        return 0;
    if (op == OP_FMIN_D || op == OP_FMAX_D)
        return 0;
    return 1;
}

static Op dec_fma(uint32_t r, uint32_t opcode)
{
    uint32_t fmt = bits(r, 26, 25);
    unsigned k = (opcode - 0x43) >> 2; /* 0 madd, 1 msub, 2 nmsub, 3 nmadd */
    if (fmt == 0)
        return (Op)(OP_FMADD_S + k);
    if (fmt == 1)
        return (Op)(OP_FMADD_D + k);
    return OP_ILLEGAL;
}

static unsigned decode32(uint32_t r, DecodedInsn *d)
{
    uint32_t opcode = r & 0x7f, f3 = bits(r, 14, 12);
    unsigned rd = bits(r, 11, 7), rs1 = bits(r, 19, 15), rs2 = bits(r, 24, 20);
    int32_t imm = imm_i(r);
    int uses_rm = 0;
    Op op = OP_ILLEGAL;

    memset(d, 0, sizeof(*d));
    switch (opcode) {
    case 0x37:
        op = OP_LUI;
        imm = imm_u(r);
        break;
    case 0x17:
        op = OP_AUIPC;
        imm = imm_u(r);
        break;
    case 0x6f:
        op = OP_JAL;
        imm = imm_j(r);
        break;
    case 0x67: op = f3 == 0 ? OP_JALR : OP_ILLEGAL; break;
    case 0x63:
        op = dec_branch(f3);
        imm = imm_b(r);
        rd = 0;
        break;
    case 0x03: op = dec_load(f3); break;
    case 0x23:
        op = dec_store(f3);
        imm = imm_s(r);
        rd = 0;
        break;
    case 0x13: op = dec_op_imm(r, &imm); break;
    case 0x1b: op = dec_op_imm32(r, &imm); break;
    case 0x33:
        op = dec_op(r);
        imm = 0;
        break;
    case 0x3b:
        op = dec_op32(r);
        imm = 0;
        break;
    case 0x0f: op = f3 == 0 ? OP_FENCE : f3 == 1 ? OP_FENCE_I : OP_ILLEGAL; break;
    case 0x73:
        op = dec_system(r);
        imm = (int32_t)bits(r, 31, 20);
        break;
    case 0x2f:
        op = dec_amo(r);
        d->rm = bits(r, 26, 25);
        imm = 0;
        break;
    case 0x07: op = f3 == 2 ? OP_FLW : f3 == 3 ? OP_FLD : OP_ILLEGAL; break;
    case 0x27:
        op = f3 == 2 ? OP_FSW : f3 == 3 ? OP_FSD : OP_ILLEGAL;
        imm = imm_s(r);
        rd = 0;
        break;
    case 0x43:
    case 0x47:
    case 0x4b:
    case 0x4f:
        op = dec_fma(r, opcode);
        uses_rm = 1;
        d->rs3 = bits(r, 31, 27);
        break;
    case 0x53: op = dec_op_fp(r, &uses_rm); break;
    }
    if (op == OP_ILLEGAL || (uses_rm && !rm_valid(f3)))
        return illegal(d, r, 4);
    if (uses_rm)
        d->rm = f3;
    if (writes_xreg(op) && rd == 0)
        rd = REG_SINK;
    set(d, op, rd, rs1, rs2, imm);
    d->len = 4;
    return 4;
}

/* ---- compressed ---- */

static unsigned creg(uint32_t v)
{
    return 8 + v;
}

static Op c_q0(uint32_t r, DecodedInsn *d)
{
    unsigned rd = creg(bits(r, 4, 2)), rs1 = creg(bits(r, 9, 7));
    uint32_t ud = bits(r, 12, 10) << 3 | bits(r, 6, 5) << 6; /* ld/sd/fld/fsd offset */
    uint32_t uw = bits(r, 12, 10) << 3 | bits(r, 6, 6) << 2 | bits(r, 5, 5) << 6;
    switch (bits(r, 15, 13)) {
    case 0: {
        uint32_t nz =
            bits(r, 12, 11) << 4 | bits(r, 10, 7) << 6 | bits(r, 6, 6) << 2 | bits(r, 5, 5) << 3;
        if (nz == 0)
            return OP_ILLEGAL;
        set(d, OP_ADDI, rd, 2, 0, (int32_t)nz);
        return OP_ADDI;
    }
    case 1: set(d, OP_FLD, rd, rs1, 0, (int32_t)ud); return OP_FLD;
    case 2: set(d, OP_LW, rd, rs1, 0, (int32_t)uw); return OP_LW;
    case 3: set(d, OP_LD, rd, rs1, 0, (int32_t)ud); return OP_LD;
    case 5: set(d, OP_FSD, 0, rs1, rd, (int32_t)ud); return OP_FSD;
    case 6: set(d, OP_SW, 0, rs1, rd, (int32_t)uw); return OP_SW;
    case 7: set(d, OP_SD, 0, rs1, rd, (int32_t)ud); return OP_SD;
    }
    return OP_ILLEGAL;
}

static Op c_q1_alu(uint32_t r, DecodedInsn *d)
{
    static const Op reg[2][4] = {{OP_SUB, OP_XOR, OP_OR, OP_AND},
                                 {OP_SUBW, OP_ADDW, OP_ILLEGAL, OP_ILLEGAL}};
    unsigned rd = creg(bits(r, 9, 7)), rs2 = creg(bits(r, 4, 2));
    uint32_t sh = bits(r, 12, 12) << 5 | bits(r, 6, 2);
    Op op;
    switch (bits(r, 11, 10)) {
    case 0: set(d, OP_SRLI, rd, rd, 0, (int32_t)sh); return OP_SRLI;
    case 1: set(d, OP_SRAI, rd, rd, 0, (int32_t)sh); return OP_SRAI;
    case 2: set(d, OP_ANDI, rd, rd, 0, sext(sh, 6)); return OP_ANDI;
    }
    op = reg[bits(r, 12, 12)][bits(r, 6, 5)];
    set(d, op, rd, rd, rs2, 0);
    return op;
}

static Op c_q1(uint32_t r, DecodedInsn *d)
{
    unsigned rd = bits(r, 11, 7), rs1c = creg(bits(r, 9, 7));
    int32_t imm6 = sext(bits(r, 12, 12) << 5 | bits(r, 6, 2), 6);
    switch (bits(r, 15, 13)) {
    case 0: set(d, OP_ADDI, rd, rd, 0, imm6); return OP_ADDI;
    case 1:
        if (rd == 0)
            return OP_ILLEGAL;
        set(d, OP_ADDIW, rd, rd, 0, imm6);
        return OP_ADDIW;
    case 2: set(d, OP_ADDI, rd, 0, 0, imm6); return OP_ADDI;
    case 3:
        if (rd == 2) {
            uint32_t v = bits(r, 12, 12) << 9 | bits(r, 6, 6) << 4 | bits(r, 5, 5) << 6 |
                         bits(r, 4, 3) << 7 | bits(r, 2, 2) << 5;
            if (v == 0)
                return OP_ILLEGAL;
            set(d, OP_ADDI, 2, 2, 0, sext(v, 10));
            return OP_ADDI;
        }
        if (imm6 == 0)
            return OP_ILLEGAL;
        set(d, OP_LUI, rd, 0, 0, (int32_t)((uint32_t)imm6 << 12));
        return OP_LUI;
    case 4: return c_q1_alu(r, d);
    case 5: {
        uint32_t v = bits(r, 12, 12) << 11 | bits(r, 11, 11) << 4 | bits(r, 10, 9) << 8 |
                     bits(r, 8, 8) << 10 | bits(r, 7, 7) << 6 | bits(r, 6, 6) << 7 |
                     bits(r, 5, 3) << 1 | bits(r, 2, 2) << 5;
        set(d, OP_JAL, 0, 0, 0, sext(v, 12));
        return OP_JAL;
    }
    default: {
        uint32_t v = bits(r, 12, 12) << 8 | bits(r, 11, 10) << 3 | bits(r, 6, 5) << 6 |
                     bits(r, 4, 3) << 1 | bits(r, 2, 2) << 5;
        Op op = bits(r, 15, 13) == 6 ? OP_BEQ : OP_BNE;
        set(d, op, 0, rs1c, 0, sext(v, 9));
        return op;
    }
    }
}

static Op c_q2_misc(uint32_t r, DecodedInsn *d)
{
    unsigned rd = bits(r, 11, 7), rs2 = bits(r, 6, 2);
    if (bits(r, 12, 12) == 0) {
        if (rs2 == 0) {
            if (rd == 0)
                return OP_ILLEGAL;
            set(d, OP_JALR, 0, rd, 0, 0);
            return OP_JALR;
        }
        set(d, OP_ADD, rd, 0, rs2, 0);
        return OP_ADD;
    }
    if (rs2 == 0 && rd == 0) {
        set(d, OP_EBREAK, 0, 0, 0, 0);
        return OP_EBREAK;
    }
    if (rs2 == 0) {
        set(d, OP_JALR, 1, rd, 0, 0);
        return OP_JALR;
    }
    set(d, OP_ADD, rd, rd, rs2, 0);
    return OP_ADD;
}

static Op c_q2(uint32_t r, DecodedInsn *d)
{
    unsigned rd = bits(r, 11, 7), rs2 = bits(r, 6, 2);
    uint32_t ld = bits(r, 12, 12) << 5 | bits(r, 6, 5) << 3 | bits(r, 4, 2) << 6;
    uint32_t lw = bits(r, 12, 12) << 5 | bits(r, 6, 4) << 2 | bits(r, 3, 2) << 6;
    uint32_t sd = bits(r, 12, 10) << 3 | bits(r, 9, 7) << 6;
    uint32_t sw = bits(r, 12, 9) << 2 | bits(r, 8, 7) << 6;
    switch (bits(r, 15, 13)) {
    case 0: set(d, OP_SLLI, rd, rd, 0, (int32_t)(bits(r, 12, 12) << 5 | rs2)); return OP_SLLI;
    case 1: set(d, OP_FLD, rd, 2, 0, (int32_t)ld); return OP_FLD;
    case 2:
        if (rd == 0)
            return OP_ILLEGAL;
        set(d, OP_LW, rd, 2, 0, (int32_t)lw);
        return OP_LW;
    case 3:
        if (rd == 0)
            return OP_ILLEGAL;
        set(d, OP_LD, rd, 2, 0, (int32_t)ld);
        return OP_LD;
    case 4: return c_q2_misc(r, d);
    case 5: set(d, OP_FSD, 0, 2, rs2, (int32_t)sd); return OP_FSD;
    case 6: set(d, OP_SW, 0, 2, rs2, (int32_t)sw); return OP_SW;
    default: set(d, OP_SD, 0, 2, rs2, (int32_t)sd); return OP_SD;
    }
}

static unsigned decode16(uint32_t r, DecodedInsn *d)
{
    Op op;
    memset(d, 0, sizeof(*d));
    switch (r & 3) {
    case 0: op = c_q0(r, d); break;
    case 1: op = c_q1(r, d); break;
    default: op = c_q2(r, d); break;
    }
    if (op == OP_ILLEGAL)
        return illegal(d, r, 2);
    if (writes_xreg(op) && d->rd == 0)
        d->rd = REG_SINK;
    d->len = 2;
    return 2;
}

unsigned decode_insn(uint32_t raw, DecodedInsn *d)
{
    if ((raw & 3) != 3)
        return decode16(raw & 0xffff, d);
    if ((raw & 0x1c) == 0x1c) /* 48-bit and longer encodings */
        return illegal(d, raw, 4);
    return decode32(raw, d);
}

#define DECODE_NAME(name) #name,
static const char *const op_names[] = {DECODE_OPS(DECODE_NAME)};
#undef DECODE_NAME

const char *decode_op_name(unsigned op)
{
    static _Thread_local char buf[24];
    if (op >= OP_COUNT)
        return "?";
    size_t i = 0;
    for (const char *s = op_names[op]; *s && i + 1 < sizeof(buf); s++, i++)
        buf[i] = *s == '_' ? '.' : (char)tolower((unsigned char)*s);
    buf[i] = 0;
    return buf;
}
