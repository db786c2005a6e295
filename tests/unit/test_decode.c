/* Unit tests of the RV64GC decoder: fields, immediates, compressed expansion. */
#include <string.h>

#include "cpu/decode.h"
#include "tap.h"

static DecodedInsn dec(uint32_t raw, unsigned *len)
{
    DecodedInsn d;
    *len = decode_insn(raw, &d);
    return d;
}

static void check(uint32_t raw, Op op, unsigned rd, unsigned rs1, unsigned rs2, int32_t imm,
                  const char *what)
{
    unsigned len;
    DecodedInsn d = dec(raw, &len);
    ok(d.op == op && d.rd == rd && d.rs1 == rs1 && d.rs2 == rs2 && d.imm == imm &&
           len == ((raw & 3) == 3 ? 4u : 2u),
       "%s (got %s rd=%u rs1=%u rs2=%u imm=%d)", what, decode_op_name(d.op), d.rd, d.rs1, d.rs2,
       d.imm);
}

static void test_base(void)
{
    check(0xfff00513, OP_ADDI, 10, 0, 0x1f, -1, "addi a0, zero, -1");
    check(0x7ff00513, OP_ADDI, 10, 0, 0x1f, 2047, "addi a0, zero, 2047");
    check(0x800005b7, OP_LUI, 11, 0, 0, (int32_t)0x80000000, "lui a1, 0x80000");
    check(0x00000517, OP_AUIPC, 10, 0, 0, 0, "auipc a0, 0");
    check(0x03f59593, OP_SLLI, 11, 11, 0x1f, 63, "slli a1, a1, 63");
    check(0x43f5d593, OP_SRAI, 11, 11, 0x1f, 63, "srai a1, a1, 63");
    check(0x40c58533, OP_SUB, 10, 11, 12, 0, "sub a0, a1, a2");
    check(0x02c5c533, OP_DIV, 10, 11, 12, 0, "div a0, a1, a2");
    check(0x02c5f53b, OP_REMUW, 10, 11, 12, 0, "remuw a0, a1, a2");
    check(0x01f5951b, OP_SLLIW, 10, 11, 0x1f, 31, "slliw a0, a1, 31");
    check(0xfe5ff06f, OP_JAL, REG_SINK, 0x1f, 0x05, -28, "j -28 (rd x0 -> sink)");
    check(0xfeb50ee3, OP_BEQ, 0, 10, 11, -4, "beq a0, a1, -4");
    check(0x00b53423, OP_SD, 0, 10, 11, 8, "sd a1, 8(a0)");
    check(0xff853583, OP_LD, 11, 10, 0x18, -8, "ld a1, -8(a0)");
    check(0x00052003, OP_LW, REG_SINK, 10, 0, 0, "lw x0, 0(a0) still a load");
    check(0x100525af, OP_LR_W, 11, 10, 0, 0, "lr.w a1, (a0)");
    check(0x30529073, OP_CSRRW, REG_SINK, 5, 5, 0x305, "csrw mtvec, t0");
    check(0x30200073, OP_MRET, 0, 0, 2, 0x302, "mret");
    check(0x12000073, OP_SFENCE_VMA, 0, 0, 0, 0x120, "sfence.vma");
    check(0x0000100f, OP_FENCE_I, 0, 0, 0, 0, "fence.i");
}

static void test_fp(void)
{
    unsigned len;
    DecodedInsn d = dec(0x02b57553, &len); /* fadd.d fa0, fa0, fa1, dyn */
    ok(d.op == OP_FADD_D && d.rd == 10 && d.rm == 7, "fadd.d with dynamic rm");
    d = dec(0x02b55553, &len); /* rm = 5: reserved */
    ok(d.op == OP_ILLEGAL && d.imm == 0x02b55553, "reserved rm is illegal, imm = bits");
    d = dec(0x60b5f543, &len); /* fmadd.s? fmt field 0 */
    ok(d.op == OP_FMADD_S && d.rs3 == 12, "fmadd.s rs3");
    d = dec(0xe0050553, &len); /* fmv.x.w a0, fa0 */
    ok(d.op == OP_FMV_X_W && d.rd == 10, "fmv.x.w");
    d = dec(0xe0050053, &len); /* fmv.x.w x0, fa0 */
    ok(d.op == OP_FMV_X_W && d.rd == REG_SINK, "fmv.x.w to x0 goes to the sink");
    d = dec(0xf0050053, &len); /* fmv.w.x ft0, a0 */
    ok(d.op == OP_FMV_W_X && d.rd == 0, "fmv.w.x to f0 is not remapped");
    d = dec(0x42057553, &len); /* fcvt.d.s fa0, fa0 */
    ok(d.op == OP_FCVT_D_S, "fcvt.d.s");
    d = dec(0x40157553, &len); /* fcvt.s.d fa0, fa0 */
    ok(d.op == OP_FCVT_S_D, "fcvt.s.d");
}

static void test_compressed(void)
{
    check(0x0000, OP_ILLEGAL, 0, 0, 0, 0, "all-zero halfword is illegal");
    check(0x0040, OP_ADDI, 8, 2, 0, 4, "c.addi4spn s0, sp, 4");
    check(0x1141, OP_ADDI, 2, 2, 0, -16, "c.addi sp, -16");
    check(0x557d, OP_ADDI, 10, 0, 0, -1, "c.li a0, -1");
    check(0x7139, OP_ADDI, 2, 2, 0, -64, "c.addi16sp -64");
    check(0x6505, OP_LUI, 10, 0, 0, 0x1000, "c.lui a0, 1");
    check(0x7501, OP_LUI, 10, 0, 0, (int32_t)0xfffe0000, "c.lui a0, 0xfffe0 (negative)");
    check(0x8505, OP_SRAI, 10, 10, 0, 1, "c.srai a0, 1");
    check(0x8105, OP_SRLI, 10, 10, 0, 1, "c.srli a0, 1");
    check(0x9101, OP_SRLI, 10, 10, 0, 32, "c.srli a0, 32");
    check(0x8d0d, OP_SUB, 10, 10, 11, 0, "c.sub a0, a1");
    check(0x9d2d, OP_ADDW, 10, 10, 11, 0, "c.addw a0, a1");
    check(0xa001, OP_JAL, REG_SINK, 0, 0, 0, "c.j 0");
    check(0xbffd, OP_JAL, REG_SINK, 0, 0, -2, "c.j -2");
    check(0xc111, OP_BEQ, 0, 10, 0, 4, "c.beqz a0, 4");
    check(0xfd75, OP_BNE, 0, 10, 0, -4, "c.bnez a0, -4");
    check(0x8082, OP_JALR, REG_SINK, 1, 0, 0, "c.jr ra (ret)");
    check(0x9502, OP_JALR, 1, 10, 0, 0, "c.jalr a0");
    check(0x852e, OP_ADD, 10, 0, 11, 0, "c.mv a0, a1");
    check(0x952e, OP_ADD, 10, 10, 11, 0, "c.add a0, a1");
    check(0x9002, OP_EBREAK, 0, 0, 0, 0, "c.ebreak");
    check(0x6522, OP_LD, 10, 2, 0, 8, "c.ldsp a0, 8(sp)");
    check(0xe42a, OP_SD, 0, 2, 10, 8, "c.sdsp a0, 8(sp)");
    check(0x4108, OP_LW, 10, 10, 0, 0, "c.lw a0, 0(a0)");
    check(0x6108, OP_LD, 10, 10, 0, 0, "c.ld a0, 0(a0)");
    check(0x050a, OP_SLLI, 10, 10, 0, 2, "c.slli a0, 2");
    check(0x4002, OP_ILLEGAL, 0, 0, 0, 0x4002, "c.lwsp x0 is reserved");
    check(0x2001, OP_ILLEGAL, 0, 0, 0, 0x2001, "c.addiw x0 is reserved");
    check(0x8002, OP_ILLEGAL, 0, 0, 0, 0x8002, "c.jr x0 is reserved");
}

static void test_names(void)
{
    ok(strcmp(decode_op_name(OP_FCVT_LU_D), "fcvt.lu.d") == 0, "op names are mnemonics");
    ok(strcmp(decode_op_name(OP_COUNT + 5), "?") == 0, "out-of-range op name");
}

int main(void)
{
    test_base();
    test_fp();
    test_compressed();
    test_names();
    return tap_done();
}
