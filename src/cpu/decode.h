/*
 * RV64GC instruction decoder.
 *
 * Every instruction, 16-bit compressed or 32-bit, is decoded once into a
 * DecodedInsn with an internal opcode; compressed forms decode to the same
 * opcodes as their expansions, so the executor has one case per operation.
 *
 * Conventions the executor relies on:
 *   - an integer destination x0 is rewritten to REG_SINK (32), a scratch
 *     slot that is never read, so no case tests rd != 0;
 *   - imm holds the sign-extended immediate (the CSR number for CSR ops,
 *     the raw instruction bits for OP_ILLEGAL);
 *   - rm holds the FP rounding-mode field, or aq/rl for atomics;
 *   - for CSR*I forms, rs1 holds the 5-bit unsigned immediate.
 */
#ifndef HOSTEL_CPU_DECODE_H
#define HOSTEL_CPU_DECODE_H

#include <stdint.h>

#define REG_SINK 32

/* X(name): every internal opcode. */
/* clang-format off */
#define DECODE_OPS(X) \
    X(ILLEGAL) X(LUI) X(AUIPC) X(JAL) X(JALR) \
    X(BEQ) X(BNE) X(BLT) X(BGE) X(BLTU) X(BGEU) \
    X(LB) X(LH) X(LW) X(LD) X(LBU) X(LHU) X(LWU) X(SB) X(SH) X(SW) X(SD) \
    X(ADDI) X(SLTI) X(SLTIU) X(XORI) X(ORI) X(ANDI) X(SLLI) X(SRLI) X(SRAI) \
    X(ADD) X(SUB) X(SLL) X(SLT) X(SLTU) X(XOR) X(SRL) X(SRA) X(OR) X(AND) \
    X(ADDIW) X(SLLIW) X(SRLIW) X(SRAIW) X(ADDW) X(SUBW) X(SLLW) X(SRLW) X(SRAW) \
    X(FENCE) X(FENCE_I) X(ECALL) X(EBREAK) X(MRET) X(SRET) X(WFI) X(SFENCE_VMA) \
    X(CSRRW) X(CSRRS) X(CSRRC) X(CSRRWI) X(CSRRSI) X(CSRRCI) \
    X(MUL) X(MULH) X(MULHSU) X(MULHU) X(DIV) X(DIVU) X(REM) X(REMU) \
    X(MULW) X(DIVW) X(DIVUW) X(REMW) X(REMUW) \
    X(LR_W) X(SC_W) X(AMOSWAP_W) X(AMOADD_W) X(AMOXOR_W) X(AMOAND_W) X(AMOOR_W) \
    X(AMOMIN_W) X(AMOMAX_W) X(AMOMINU_W) X(AMOMAXU_W) \
    X(LR_D) X(SC_D) X(AMOSWAP_D) X(AMOADD_D) X(AMOXOR_D) X(AMOAND_D) X(AMOOR_D) \
    X(AMOMIN_D) X(AMOMAX_D) X(AMOMINU_D) X(AMOMAXU_D) \
    X(FLW) X(FSW) X(FMADD_S) X(FMSUB_S) X(FNMSUB_S) X(FNMADD_S) \
    X(FADD_S) X(FSUB_S) X(FMUL_S) X(FDIV_S) X(FSQRT_S) X(FSGNJ_S) X(FSGNJN_S) X(FSGNJX_S) \
    X(FMIN_S) X(FMAX_S) X(FCVT_W_S) X(FCVT_WU_S) X(FCVT_L_S) X(FCVT_LU_S) X(FMV_X_W) \
    X(FEQ_S) X(FLT_S) X(FLE_S) X(FCLASS_S) X(FCVT_S_W) X(FCVT_S_WU) X(FCVT_S_L) \
    X(FCVT_S_LU) X(FMV_W_X) \
    X(FLD) X(FSD) X(FMADD_D) X(FMSUB_D) X(FNMSUB_D) X(FNMADD_D) \
    X(FADD_D) X(FSUB_D) X(FMUL_D) X(FDIV_D) X(FSQRT_D) X(FSGNJ_D) X(FSGNJN_D) X(FSGNJX_D) \
    X(FMIN_D) X(FMAX_D) X(FCVT_W_D) X(FCVT_WU_D) X(FCVT_L_D) X(FCVT_LU_D) X(FMV_X_D) \
    X(FEQ_D) X(FLT_D) X(FLE_D) X(FCLASS_D) X(FCVT_D_W) X(FCVT_D_WU) X(FCVT_D_L) \
    X(FCVT_D_LU) X(FMV_D_X) X(FCVT_S_D) X(FCVT_D_S) \
    X(BLOCK_END) /* executor-internal: marks the end of a decoded block */
/* clang-format on */

#define DECODE_ENUM(name) OP_##name,
typedef enum Op { DECODE_OPS(DECODE_ENUM) OP_COUNT } Op;
#undef DECODE_ENUM

typedef struct DecodedInsn {
    uint16_t op; /* enum Op */
    uint8_t rd;  /* destination (REG_SINK for integer x0) */
    uint8_t rs1;
    uint8_t rs2;
    uint8_t rs3;
    uint8_t rm;   /* FP rounding mode, or aq<<1|rl for atomics */
    uint8_t len;  /* instruction length in bytes: 2 or 4 */
    uint16_t off; /* byte offset from the start of its block */
    uint16_t pad;
    int32_t imm; /* see the header comment */
} DecodedInsn;

/*
 * Decode one instruction.  raw holds at least the low 16 bits; when those
 * say the instruction is 32-bit, all 32 bits must be present.  Fills *d
 * (op = OP_ILLEGAL, imm = raw bits on failure) and returns the length, 2 or 4.
 */
unsigned decode_insn(uint32_t raw, DecodedInsn *d);

/* Length of the instruction whose first halfword is lo16: 2 or 4. */
static inline unsigned decode_insn_len(uint16_t lo16)
{
    return (lo16 & 3) == 3 ? 4 : 2;
}

/* Name of an opcode for diagnostics, e.g. "addi". */
const char *decode_op_name(unsigned op);

#endif
