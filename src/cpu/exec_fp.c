/*
 * F and D instructions: operand unboxing, rounding-mode resolution,
 * mstatus.FS gating and dirtying, and the FP loads/stores.  The arithmetic
 * itself is in fpu.c.
 */
#include "cpu/exec.h"
#include "cpu/fpu.h"
#include "util/compiler.h"

#define F32_SIGN 0x80000000u
#define F64_SIGN 0x8000000000000000ull

#define unbox fp_unbox

static inline void set_s(Hart *h, unsigned rd, uint32_t v)
{
    h->f[rd] = FP_BOX32 | v;
}

static int fp_mem(Hart *h, const DecodedInsn *i, uint64_t *tval)
{
    uint64_t va = h->x[i->rs1] + (int64_t)i->imm, v;
    int cause;
    switch (i->op) {
    case OP_FLW:
        if ((cause = mem_load_slow(h, va, 4, &v, tval)))
            return cause;
        set_s(h, i->rd, (uint32_t)v);
        break;
    case OP_FLD:
        if ((cause = mem_load_slow(h, va, 8, &v, tval)))
            return cause;
        h->f[i->rd] = v;
        break;
    case OP_FSW: return mem_store_slow(h, va, 4, (uint32_t)h->f[i->rs2], tval);
    default: return mem_store_slow(h, va, 8, h->f[i->rs2], tval);
    }
    h->mstatus |= MSTATUS_FS;
    return 0;
}

static uint32_t sgnj32(Op op, uint32_t a, uint32_t b)
{
    uint32_t s = op == OP_FSGNJ_S ? b : op == OP_FSGNJN_S ? ~b : a ^ b;
    return (a & ~F32_SIGN) | (s & F32_SIGN);
}

static uint64_t sgnj64(Op op, uint64_t a, uint64_t b)
{
    uint64_t s = op == OP_FSGNJ_D ? b : op == OP_FSGNJN_D ? ~b : a ^ b;
    return (a & ~F64_SIGN) | (s & F64_SIGN);
}

/* Ops with no rounding mode and no flags-or-NaN subtleties. */
static bool fp_simple(Hart *h, const DecodedInsn *i)
{
    uint64_t *f = h->f, *x = h->x;
    uint32_t a = unbox(f[i->rs1]), b = unbox(f[i->rs2]);
    switch (i->op) {
    case OP_FSGNJ_S:
    case OP_FSGNJN_S:
    case OP_FSGNJX_S: set_s(h, i->rd, sgnj32(i->op, a, b)); break;
    case OP_FSGNJ_D:
    case OP_FSGNJN_D:
    case OP_FSGNJX_D: f[i->rd] = sgnj64(i->op, f[i->rs1], f[i->rs2]); break;
    case OP_FMV_X_W: x[i->rd] = (uint64_t)(int64_t)(int32_t)f[i->rs1]; return true;
    case OP_FMV_X_D: x[i->rd] = f[i->rs1]; return true;
    case OP_FMV_W_X: set_s(h, i->rd, (uint32_t)x[i->rs1]); break;
    case OP_FMV_D_X: f[i->rd] = x[i->rs1]; break;
    case OP_FCLASS_S: x[i->rd] = f32_classify(a); return true;
    case OP_FCLASS_D: x[i->rd] = f64_classify(f[i->rs1]); return true;
    default: return false;
    }
    h->mstatus |= MSTATUS_FS;
    return true;
}

/* Ops that raise flags but take no rounding mode. */
static bool fp_compare(Hart *h, const DecodedInsn *i)
{
    uint64_t *f = h->f, *x = h->x;
    uint32_t a = unbox(f[i->rs1]), b = unbox(f[i->rs2]), *fl = &h->fflags;
    uint64_t da = f[i->rs1], db = f[i->rs2];
    switch (i->op) {
    case OP_FMIN_S: set_s(h, i->rd, f32_min(a, b, fl)); break;
    case OP_FMAX_S: set_s(h, i->rd, f32_max(a, b, fl)); break;
    case OP_FMIN_D: f[i->rd] = f64_min(da, db, fl); break;
    case OP_FMAX_D: f[i->rd] = f64_max(da, db, fl); break;
    case OP_FEQ_S: x[i->rd] = (uint64_t)f32_eq(a, b, fl); break;
    case OP_FLT_S: x[i->rd] = (uint64_t)f32_lt(a, b, fl); break;
    case OP_FLE_S: x[i->rd] = (uint64_t)f32_le(a, b, fl); break;
    case OP_FEQ_D: x[i->rd] = (uint64_t)f64_eq(da, db, fl); break;
    case OP_FLT_D: x[i->rd] = (uint64_t)f64_lt(da, db, fl); break;
    case OP_FLE_D: x[i->rd] = (uint64_t)f64_le(da, db, fl); break;
    default: return false;
    }
    h->mstatus |= MSTATUS_FS;
    return true;
}

static void fp_single(Hart *h, const DecodedInsn *i, int rm)
{
    uint64_t *f = h->f, *x = h->x;
    uint32_t a = unbox(f[i->rs1]), b = unbox(f[i->rs2]), c = unbox(f[i->rs3]), *fl = &h->fflags;
    uint32_t r = 0;
    switch (i->op) {
    case OP_FADD_S: r = f32_add(a, b, rm, fl); break;
    case OP_FSUB_S: r = f32_sub(a, b, rm, fl); break;
    case OP_FMUL_S: r = f32_mul(a, b, rm, fl); break;
    case OP_FDIV_S: r = f32_div(a, b, rm, fl); break;
    case OP_FSQRT_S: r = f32_sqrt(a, rm, fl); break;
    case OP_FMADD_S: r = f32_fma(a, b, c, rm, fl); break;
    case OP_FMSUB_S: r = f32_fma(a, b, c ^ F32_SIGN, rm, fl); break;
    case OP_FNMSUB_S: r = f32_fma(a ^ F32_SIGN, b, c, rm, fl); break;
    case OP_FNMADD_S: r = f32_fma(a ^ F32_SIGN, b, c ^ F32_SIGN, rm, fl); break;
    case OP_FCVT_S_W: r = i32_to_f32((int32_t)x[i->rs1], rm, fl); break;
    case OP_FCVT_S_WU: r = u32_to_f32((uint32_t)x[i->rs1], rm, fl); break;
    case OP_FCVT_S_L: r = i64_to_f32((int64_t)x[i->rs1], rm, fl); break;
    case OP_FCVT_S_LU: r = u64_to_f32(x[i->rs1], rm, fl); break;
    case OP_FCVT_S_D: r = f64_to_f32(f[i->rs1], rm, fl); break;
    default: return;
    }
    set_s(h, i->rd, r);
}

static void fp_double(Hart *h, const DecodedInsn *i, int rm)
{
    uint64_t *f = h->f, *x = h->x, a = f[i->rs1], b = f[i->rs2], c = f[i->rs3], r = 0;
    uint32_t *fl = &h->fflags;
    switch (i->op) {
    case OP_FADD_D: r = f64_add(a, b, rm, fl); break;
    case OP_FSUB_D: r = f64_sub(a, b, rm, fl); break;
    case OP_FMUL_D: r = f64_mul(a, b, rm, fl); break;
    case OP_FDIV_D: r = f64_div(a, b, rm, fl); break;
    case OP_FSQRT_D: r = f64_sqrt(a, rm, fl); break;
    case OP_FMADD_D: r = f64_fma(a, b, c, rm, fl); break;
    case OP_FMSUB_D: r = f64_fma(a, b, c ^ F64_SIGN, rm, fl); break;
    case OP_FNMSUB_D: r = f64_fma(a ^ F64_SIGN, b, c, rm, fl); break;
    case OP_FNMADD_D: r = f64_fma(a ^ F64_SIGN, b, c ^ F64_SIGN, rm, fl); break;
    case OP_FCVT_D_W: r = i32_to_f64((int32_t)x[i->rs1], rm, fl); break;
    case OP_FCVT_D_WU: r = u32_to_f64((uint32_t)x[i->rs1], rm, fl); break;
    case OP_FCVT_D_L: r = i64_to_f64((int64_t)x[i->rs1], rm, fl); break;
    case OP_FCVT_D_LU: r = u64_to_f64(x[i->rs1], rm, fl); break;
    case OP_FCVT_D_S: r = f32_to_f64(unbox(a), fl); break;
    default: return;
    }
    f[i->rd] = r;
}

/* Conversions to integers; false if op is not one. */
static bool fp_to_int(Hart *h, const DecodedInsn *i, int rm)
{
    uint64_t a = h->f[i->rs1], *x = h->x;
    uint32_t s = unbox(a), *fl = &h->fflags;
    switch (i->op) {
    case OP_FCVT_W_S: x[i->rd] = (uint64_t)(int64_t)f32_to_i32(s, rm, fl); break;
    case OP_FCVT_WU_S: x[i->rd] = (uint64_t)(int64_t)(int32_t)f32_to_u32(s, rm, fl); break;
    case OP_FCVT_L_S: x[i->rd] = (uint64_t)f32_to_i64(s, rm, fl); break;
    case OP_FCVT_LU_S: x[i->rd] = f32_to_u64(s, rm, fl); break;
    case OP_FCVT_W_D: x[i->rd] = (uint64_t)(int64_t)f64_to_i32(a, rm, fl); break;
    case OP_FCVT_WU_D: x[i->rd] = (uint64_t)(int64_t)(int32_t)f64_to_u32(a, rm, fl); break;
    case OP_FCVT_L_D: x[i->rd] = (uint64_t)f64_to_i64(a, rm, fl); break;
    case OP_FCVT_LU_D: x[i->rd] = f64_to_u64(a, rm, fl); break;
    default: return false;
    }
    return true;
}

static bool is_double_op(Op op)
{
    return (op >= OP_FMADD_D && op <= OP_FCVT_D_S && op != OP_FCVT_S_D) || op == OP_FCVT_D_S;
}

int exec_fp(Hart *h, const DecodedInsn *i, uint64_t *tval)
{
    if (unlikely(!(h->mstatus & MSTATUS_FS)))
        return EXEC_ILLEGAL;
    switch (i->op) {
    case OP_FLW:
    case OP_FLD:
    case OP_FSW:
    case OP_FSD: return fp_mem(h, i, tval);
    }
    if (fp_simple(h, i) || fp_compare(h, i))
        return 0;
    int rm = i->rm == FPU_DYN ? (int)h->frm : i->rm;
    if (rm > FPU_RMM)
        return EXEC_ILLEGAL;
    if (!fp_to_int(h, i, rm)) {
        if (is_double_op((Op)i->op))
            fp_double(h, i, rm);
        else
            fp_single(h, i, rm);
    }
    h->mstatus |= MSTATUS_FS;
    return 0;
}
