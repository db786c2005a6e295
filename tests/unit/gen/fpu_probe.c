/*
 * Bare-metal RISC-V program run under qemu-system-riscv64 -M virt by
 * gen_fpu_vectors.py: for each input vector it sets frm, clears fflags,
 * runs one F/D instruction (dynamic rounding mode) and prints
 * "RESULT FLAGS" in hex on the UART.  QEMU's answers become the expected
 * values of test_fpu.c.  The inputs come from probe_inputs.h (generated).
 */
#include <stdint.h>

#include "fpu_ops.h"

typedef struct {
    uint32_t op, rm;
    uint64_t a, b, c;
} ProbeVec;

#include "probe_inputs.h"

#define UART_THR ((volatile uint8_t *)0x10000000)

static void put_hex(uint64_t v, int digits)
{
    for (int i = digits - 1; i >= 0; i--)
        *UART_THR = "0123456789abcdef"[(v >> (4 * i)) & 15];
}

#define FT "ft0", "ft1", "ft2", "ft3"
/* single precision: operands via fmv.w.x (NaN-boxes), result via fmv.x.w */
#define S_RR(insn)                                                                                 \
    asm volatile("fmv.w.x ft0,%1\n\tfmv.w.x ft1,%2\n\t" insn " ft2,ft0,ft1\n\tfmv.x.w %0,ft2"      \
                 : "=r"(r)                                                                         \
                 : "r"(a), "r"(b)                                                                  \
                 : FT)
#define S_R(insn)                                                                                  \
    asm volatile("fmv.w.x ft0,%1\n\t" insn " ft2,ft0\n\tfmv.x.w %0,ft2" : "=r"(r) : "r"(a) : FT)
#define S_RRR(insn)                                                                                \
    asm volatile("fmv.w.x ft0,%1\n\tfmv.w.x ft1,%2\n\tfmv.w.x ft3,%3\n\t" insn                     \
                 " ft2,ft0,ft1,ft3\n\tfmv.x.w %0,ft2"                                              \
                 : "=r"(r)                                                                         \
                 : "r"(a), "r"(b), "r"(c)                                                          \
                 : FT)
#define S_CMP(insn)                                                                                \
    asm volatile("fmv.w.x ft0,%1\n\tfmv.w.x ft1,%2\n\t" insn " %0,ft0,ft1"                         \
                 : "=r"(r)                                                                         \
                 : "r"(a), "r"(b)                                                                  \
                 : FT)
#define S_TOX(insn) asm volatile("fmv.w.x ft0,%1\n\t" insn " %0,ft0" : "=r"(r) : "r"(a) : FT)
#define S_FROMX(insn) asm volatile(insn " ft2,%1\n\tfmv.x.w %0,ft2" : "=r"(r) : "r"(a) : FT)
/* double precision */
#define D_RR(insn)                                                                                 \
    asm volatile("fmv.d.x ft0,%1\n\tfmv.d.x ft1,%2\n\t" insn " ft2,ft0,ft1\n\tfmv.x.d %0,ft2"      \
                 : "=r"(r)                                                                         \
                 : "r"(a), "r"(b)                                                                  \
                 : FT)
#define D_R(insn)                                                                                  \
    asm volatile("fmv.d.x ft0,%1\n\t" insn " ft2,ft0\n\tfmv.x.d %0,ft2" : "=r"(r) : "r"(a) : FT)
#define D_RRR(insn)                                                                                \
    asm volatile("fmv.d.x ft0,%1\n\tfmv.d.x ft1,%2\n\tfmv.d.x ft3,%3\n\t" insn                     \
                 " ft2,ft0,ft1,ft3\n\tfmv.x.d %0,ft2"                                              \
                 : "=r"(r)                                                                         \
                 : "r"(a), "r"(b), "r"(c)                                                          \
                 : FT)
#define D_CMP(insn)                                                                                \
    asm volatile("fmv.d.x ft0,%1\n\tfmv.d.x ft1,%2\n\t" insn " %0,ft0,ft1"                         \
                 : "=r"(r)                                                                         \
                 : "r"(a), "r"(b)                                                                  \
                 : FT)
#define D_TOX(insn) asm volatile("fmv.d.x ft0,%1\n\t" insn " %0,ft0" : "=r"(r) : "r"(a) : FT)
#define D_FROMX(insn) asm volatile(insn " ft2,%1\n\tfmv.x.d %0,ft2" : "=r"(r) : "r"(a) : FT)

static uint64_t run_f32(uint32_t op, uint64_t a, uint64_t b, uint64_t c)
{
    uint64_t r = 0;
    switch (op) {
    case OP_F32_ADD: S_RR("fadd.s"); break;
    case OP_F32_SUB: S_RR("fsub.s"); break;
    case OP_F32_MUL: S_RR("fmul.s"); break;
    case OP_F32_DIV: S_RR("fdiv.s"); break;
    case OP_F32_SQRT: S_R("fsqrt.s"); break;
    case OP_F32_FMADD: S_RRR("fmadd.s"); break;
    case OP_F32_FMSUB: S_RRR("fmsub.s"); break;
    case OP_F32_FNMSUB: S_RRR("fnmsub.s"); break;
    case OP_F32_FNMADD: S_RRR("fnmadd.s"); break;
    case OP_F32_MIN: S_RR("fmin.s"); break;
    case OP_F32_MAX: S_RR("fmax.s"); break;
    case OP_F32_EQ: S_CMP("feq.s"); break;
    case OP_F32_LT: S_CMP("flt.s"); break;
    case OP_F32_LE: S_CMP("fle.s"); break;
    case OP_F32_CLASS: S_TOX("fclass.s"); break;
    case OP_F32_TO_I32: S_TOX("fcvt.w.s"); break;
    case OP_F32_TO_U32: S_TOX("fcvt.wu.s"); break;
    case OP_F32_TO_I64: S_TOX("fcvt.l.s"); break;
    case OP_F32_TO_U64: S_TOX("fcvt.lu.s"); break;
    case OP_I32_TO_F32: S_FROMX("fcvt.s.w"); break;
    case OP_U32_TO_F32: S_FROMX("fcvt.s.wu"); break;
    case OP_I64_TO_F32: S_FROMX("fcvt.s.l"); break;
    case OP_U64_TO_F32: S_FROMX("fcvt.s.lu"); break;
    case OP_F32_TO_F64:
        asm volatile("fmv.w.x ft0,%1\n\tfcvt.d.s ft2,ft0\n\tfmv.x.d %0,ft2"
                     : "=r"(r)
                     : "r"(a)
                     : FT);
        break;
    default: return ~0ull;
    }
    return r;
}

static uint64_t run_f64(uint32_t op, uint64_t a, uint64_t b, uint64_t c)
{
    uint64_t r = 0;
    switch (op) {
    case OP_F64_ADD: D_RR("fadd.d"); break;
    case OP_F64_SUB: D_RR("fsub.d"); break;
    case OP_F64_MUL: D_RR("fmul.d"); break;
    case OP_F64_DIV: D_RR("fdiv.d"); break;
    case OP_F64_SQRT: D_R("fsqrt.d"); break;
    case OP_F64_FMADD: D_RRR("fmadd.d"); break;
    case OP_F64_FMSUB: D_RRR("fmsub.d"); break;
    case OP_F64_FNMSUB: D_RRR("fnmsub.d"); break;
    case OP_F64_FNMADD: D_RRR("fnmadd.d"); break;
    case OP_F64_MIN: D_RR("fmin.d"); break;
    case OP_F64_MAX: D_RR("fmax.d"); break;
    case OP_F64_EQ: D_CMP("feq.d"); break;
    case OP_F64_LT: D_CMP("flt.d"); break;
    case OP_F64_LE: D_CMP("fle.d"); break;
    case OP_F64_CLASS: D_TOX("fclass.d"); break;
    case OP_F64_TO_I32: D_TOX("fcvt.w.d"); break;
    case OP_F64_TO_U32: D_TOX("fcvt.wu.d"); break;
    case OP_F64_TO_I64: D_TOX("fcvt.l.d"); break;
    case OP_F64_TO_U64: D_TOX("fcvt.lu.d"); break;
    case OP_I32_TO_F64: D_FROMX("fcvt.d.w"); break;
    case OP_U32_TO_F64: D_FROMX("fcvt.d.wu"); break;
    case OP_I64_TO_F64: D_FROMX("fcvt.d.l"); break;
    case OP_U64_TO_F64: D_FROMX("fcvt.d.lu"); break;
    case OP_F64_TO_F32:
        asm volatile("fmv.d.x ft0,%1\n\tfcvt.s.d ft2,ft0\n\tfmv.x.w %0,ft2"
                     : "=r"(r)
                     : "r"(a)
                     : FT);
        break;
    default: return run_f32(op, a, b, c);
    }
    return r;
}

int main(void)
{
    unsigned n = sizeof(probe_vecs) / sizeof(probe_vecs[0]);
    for (unsigned i = 0; i < n; i++) {
        const ProbeVec *v = &probe_vecs[i];
        uint64_t r, fl;
        asm volatile("csrw frm, %0\n\tcsrw fflags, zero" : : "r"(v->rm));
        r = run_f64(v->op, v->a, v->b, v->c);
        asm volatile("csrr %0, fflags" : "=r"(fl));
        put_hex(r, 16);
        *UART_THR = ' ';
        put_hex(fl, 2);
        *UART_THR = '\n';
    }
    return 0;
}
