/*
 * RV64F beyond rounding (rv64f_round.S): NaN-boxing, canonical NaNs,
 * signalling NaNs, fmin/fmax, compares, fclass, conversions to and from
 * integers with saturation and flags, sign injection, moves, loads and
 * stores, overflow/underflow (tininess after rounding) and exact-zero signs,
 * and the single rounding of fused multiply-add.
 */
#include "user_macros.h"

#define ONE     0x3f800000
#define MONE    0xbf800000
#define TWO     0x40000000
#define MTWO    0xc0000000
#define HALF    0x3f000000
#define MHALF   0xbf000000
#define PZERO   0x00000000
#define MZERO   0x80000000
#define PINF    0x7f800000
#define MINF    0xff800000
#define QNAN    0x7fc00000      /* the canonical NaN */
#define SNAN    0x7f800001
#define MAXF    0x7f7fffff
#define MINN    0x00800000      /* smallest normal */
#define SUB1    0x00000001      /* smallest subnormal */
#define NV 0x10
#define DZ 0x08
#define OF 0x04
#define UF 0x02
#define NX 0x01

TEST_BEGIN

    /* NaN-boxing: flw and fmv.w.x write 1s into bits 63:32 */
    TEST_FP_INT(1, 0xffffffff3f800000, 0, la a1, fdata; flw fa3, 0(a1); fmv.x.d a0, fa3)
    TEST_FP_INT(2, 0xffffffff12345678, 0, li a1, 0xdeadbeef12345678; fmv.w.x fa3, a1; fmv.x.d a0, fa3)
    /* ... and so do single-precision arithmetic results */
    TEST_FP_INT(3, 0xffffffff40000000, 0, FLOAD_S(fa0, ONE); fadd.s fa3, fa0, fa0; fmv.x.d a0, fa3)
    /* a single-precision op reading an improperly boxed value sees the canonical NaN */
    TEST_FP_INT(4, 0xffffffff7fc00000, 0, FLOAD_D(fa0, 0x000000003f800000); fadd.s fa3, fa0, \
                fa0; fmv.x.d a0, fa3)
    TEST_FP_INT(5, 0xffffffff7fc00000, 0, FLOAD_D(fa0, 0xfffffffe3f800000); FLOAD_S(fa1, ONE); \
                fmul.s fa3, fa1, fa0; fmv.x.d a0, fa3)
    TEST_FP_INT(6, 0x200, 0, FLOAD_D(fa0, 0x7fffffff3f800000); fclass.s a0, fa0)
    TEST_FP_INT(7, 0, 0, FLOAD_D(fa0, 0x000000003f800000); FLOAD_S(fa1, ONE); feq.s a0, fa0, fa1)
    /* sign injection also unboxes: the invalid input reads as +canonical NaN */
    TEST_FP_INT(8, 0xffffffffffc00000, 0, FLOAD_D(fa0, 0x00000000bf800000); FLOAD_S(fa1, MONE); \
                fsgnj.s fa3, fa0, fa1; fmv.x.d a0, fa3)
    /* transfers out ignore the upper bits: fmv.x.w and fsw move the low 32 */
    TEST_FP_INT(9, 0xffffffffbf800000, 0, FLOAD_D(fa0, 0x12345678bf800000); fmv.x.w a0, fa0)
    TEST_FP_INT(10, 0x55555555bf800000, 0, FLOAD_D(fa0, 0x12345678bf800000); la a1, fscratch; \
                li a2, 0x5555555555555555; sd a2, 0(a1); fsw fa0, 0(a1); ld a0, 0(a1))
    /* fmv.x.w sign-extends; NaN payloads pass through moves untouched */
    TEST_FP_INT(11, 0x000000007fc00000, 0, FLOAD_S(fa0, QNAN); fmv.x.w a0, fa0)
    TEST_FP_INT(12, 0xffffffffff800001, 0, li a1, 0xff800001; fmv.w.x fa0, a1; fmv.x.w a0, fa0)
    /* flw/fsw with offsets; fsw writes 4 bytes only */
    TEST_FP_INT(13, 0xffffffffc0000000, 0, la a1, fdata + 2047; flw fa3, -2043(a1); fmv.x.w a0, fa3)
    TEST_FP_INT(14, 0x55555555c0000000, 0, la a1, fscratch; li a2, 0x5555555555555555; sd a2, 0(a1); \
                la a1, fscratch + 2048; fsw fa3, -2048(a1); la a1, fscratch; ld a0, 0(a1))

    /* canonical NaN: NaN results never carry payloads or signs */
    FR2_S(15, fadd.s, rne, 0x7fc12345, ONE, QNAN, 0)
    FR2_S(16, fadd.s, rne, 0xffc00000, ONE, QNAN, 0)
    FR2_S(17, fmul.s, rne, ONE, 0xff812345, QNAN, NV)
    /* signalling NaN inputs raise NV */
    FR2_S(18, fadd.s, rne, SNAN, ONE, QNAN, NV)
    FR2_S(19, fsub.s, rne, ONE, SNAN, QNAN, NV)
    FR2_S(20, fdiv.s, rne, SNAN, QNAN, QNAN, NV)
    FR1_S(21, fsqrt.s, rne, SNAN, QNAN, NV)
    FR3_S(22, fmadd.s, rne, ONE, ONE, SNAN, QNAN, NV)
    FR3_S(23, fnmsub.s, rne, QNAN, ONE, ONE, QNAN, 0)
    /* invalid operations */
    FR2_S(24, fadd.s, rne, PINF, MINF, QNAN, NV)
    FR2_S(25, fsub.s, rne, PINF, PINF, QNAN, NV)
    FR2_S(26, fmul.s, rne, PZERO, MINF, QNAN, NV)
    FR2_S(27, fdiv.s, rne, PZERO, MZERO, QNAN, NV)
    FR2_S(28, fdiv.s, rne, PINF, MINF, QNAN, NV)
    FR1_S(29, fsqrt.s, rne, MONE, QNAN, NV)
    FR1_S(30, fsqrt.s, rne, MINF, QNAN, NV)
    /* inf * 0 in an FMA is invalid even when the addend is a quiet NaN */
    FR3_S(31, fmadd.s, rne, PINF, PZERO, QNAN, QNAN, NV)
    FR3_S(32, fmadd.s, rne, PINF, ONE, MINF, QNAN, NV)
    /* division by zero and exact special results */
    FR2_S(33, fdiv.s, rne, ONE, PZERO, PINF, DZ)
    FR2_S(34, fdiv.s, rne, ONE, MZERO, MINF, DZ)
    FR2_S(35, fdiv.s, rne, MONE, PZERO, MINF, DZ)
    FR2_S(36, fdiv.s, rne, PINF, PZERO, PINF, 0)
    FR1_S(37, fsqrt.s, rne, MZERO, MZERO, 0)
    FR1_S(38, fsqrt.s, rne, PINF, PINF, 0)
    FR1_S(39, fsqrt.s, rne, 0x40800000, TWO, 0)

    /* sign of exact zero results: -0 only when rounding down */
    FR2_S(40, fadd.s, rne, ONE, MONE, PZERO, 0)
    FR2_S(41, fadd.s, rdn, ONE, MONE, MZERO, 0)
    FR2_S(42, fsub.s, rdn, TWO, TWO, MZERO, 0)
    FR2_S(43, fadd.s, rne, MZERO, MZERO, MZERO, 0)
    FR2_S(44, fadd.s, rne, MZERO, PZERO, PZERO, 0)
    FR3_S(45, fmadd.s, rne, MZERO, ONE, MZERO, MZERO, 0)
    FR3_S(46, fmsub.s, rne, PZERO, ONE, PZERO, PZERO, 0)
    FR3_S(47, fnmadd.s, rne, PZERO, ONE, PZERO, MZERO, 0)

    /* overflow: to inf or the largest finite value depending on the mode */
    FR2_S(48, fmul.s, rne, MAXF, TWO, PINF, OF | NX)
    FR2_S(49, fmul.s, rtz, MAXF, TWO, MAXF, OF | NX)
    FR2_S(50, fmul.s, rdn, MAXF, TWO, MAXF, OF | NX)
    FR2_S(51, fmul.s, rup, MAXF, MTWO, 0xff7fffff, OF | NX)
    FR2_S(52, fmul.s, rdn, MAXF, MTWO, MINF, OF | NX)
    FR2_S(53, fadd.s, rne, MAXF, MAXF, PINF, OF | NX)
    FR2_S(54, fdiv.s, rmm, MAXF, HALF, PINF, OF | NX)
    /* underflow: exact subnormal results raise nothing */
    FR2_S(55, fmul.s, rne, MINN, HALF, 0x00400000, 0)
    FR2_S(56, fsub.s, rne, 0x00800001, MINN, SUB1, 0)
    /* inexact subnormal / zero results raise UF and NX */
    FR2_S(57, fmul.s, rne, 0x00800001, HALF, 0x00400000, UF | NX)
    FR2_S(58, fmul.s, rne, SUB1, HALF, PZERO, UF | NX)
    FR2_S(59, fmul.s, rup, SUB1, HALF, SUB1, UF | NX)
    FR2_S(60, fmul.s, rne, 0x80000001, HALF, MZERO, UF | NX)
    /* tininess is detected after rounding: a product just below the smallest
     * normal that rounds up to it is not tiny (NX only); rounded down it is */
    FR2_S(61, fmul.s, rne, 0x3f7ffffe, 0x00800001, MINN, NX)
    FR2_S(62, fmul.s, rtz, 0x3f7ffffe, 0x00800001, 0x007fffff, UF | NX)

    /* FMA rounds once: (1+2^-12)^2 - (1+2^-11) = 2^-24 exactly (0 if the
     * product were rounded first) */
    FR3_S(63, fmadd.s, rne, 0x3f800800, 0x3f800800, 0xbf801000, 0x33800000, 0)
    FR3_S(64, fmsub.s, rne, 0x3f800800, 0x3f800800, 0x3f801000, 0x33800000, 0)
    FR3_S(65, fnmsub.s, rne, 0x3f800800, 0x3f800800, 0x3f801000, 0xb3800000, 0)
    FR3_S(66, fnmadd.s, rne, 0x3f800800, 0x3f800800, 0xbf801000, 0xb3800000, 0)

    /* fmin/fmax: NaN handling and signed zeros */
    FOP2_S(67, fmin.s, ONE, SNAN, ONE, NV)
    FOP2_S(68, fmax.s, SNAN, ONE, ONE, NV)
    FOP2_S(69, fmin.s, QNAN, ONE, ONE, 0)
    FOP2_S(70, fmax.s, MONE, 0x7fc12345, MONE, 0)
    FOP2_S(71, fmin.s, QNAN, 0xffc00001, QNAN, 0)
    FOP2_S(72, fmax.s, SNAN, QNAN, QNAN, NV)
    FOP2_S(73, fmin.s, MZERO, PZERO, MZERO, 0)
    FOP2_S(74, fmin.s, PZERO, MZERO, MZERO, 0)
    FOP2_S(75, fmax.s, MZERO, PZERO, PZERO, 0)
    FOP2_S(76, fmax.s, PZERO, MZERO, PZERO, 0)
    FOP2_S(77, fmin.s, MINF, ONE, MINF, 0)
    FOP2_S(78, fmax.s, MONE, MTWO, MONE, 0)

    /* compares: feq is quiet (NV only for sNaN), flt/fle signal on any NaN */
    FCMP_S(79, feq.s, ONE, ONE, 1, 0)
    FCMP_S(80, feq.s, QNAN, ONE, 0, 0)
    FCMP_S(81, feq.s, QNAN, QNAN, 0, 0)
    FCMP_S(82, feq.s, SNAN, ONE, 0, NV)
    FCMP_S(83, flt.s, QNAN, ONE, 0, NV)
    FCMP_S(84, fle.s, ONE, QNAN, 0, NV)
    FCMP_S(85, feq.s, MZERO, PZERO, 1, 0)
    FCMP_S(86, flt.s, MZERO, PZERO, 0, 0)
    FCMP_S(87, fle.s, PZERO, MZERO, 1, 0)
    FCMP_S(88, flt.s, MINF, PINF, 1, 0)
    FCMP_S(89, flt.s, TWO, ONE, 0, 0)
    FCMP_S(90, fle.s, TWO, ONE, 0, 0)
    FCMP_S(91, fle.s, MTWO, MONE, 1, 0)
    FCMP_S(92, flt.s, SUB1, MINN, 1, 0)

    /* fclass: one bit per class */
    FCLASS_S(93, MINF, 0x001)
    FCLASS_S(94, MONE, 0x002)
    FCLASS_S(95, 0x80000001, 0x004)
    FCLASS_S(96, MZERO, 0x008)
    FCLASS_S(97, PZERO, 0x010)
    FCLASS_S(98, 0x007fffff, 0x020)
    FCLASS_S(99, MAXF, 0x040)
    FCLASS_S(100, PINF, 0x080)
    FCLASS_S(101, SNAN, 0x100)
    FCLASS_S(102, 0xffbfffff, 0x100)
    FCLASS_S(103, QNAN, 0x200)
    FCLASS_S(104, 0xffffffff, 0x200)

    /* fcvt.w.s: rounding, and saturation with NV (NaN -> INT32_MAX) */
    FCVT_I_S(105, fcvt.w.s, rne, 0x3fc00000, 2, NX)            /* 1.5 */
    FCVT_I_S(106, fcvt.w.s, rne, 0x40200000, 2, NX)            /* 2.5 */
    FCVT_I_S(107, fcvt.w.s, rmm, 0x40200000, 3, NX)
    FCVT_I_S(108, fcvt.w.s, rmm, 0xc0200000, -3, NX)
    FCVT_I_S(109, fcvt.w.s, rtz, 0xbfc00000, -1, NX)           /* -1.5 */
    FCVT_I_S(110, fcvt.w.s, rdn, 0xbfc00000, -2, NX)
    FCVT_I_S(111, fcvt.w.s, rup, MHALF, 0, NX)
    FCVT_I_S(112, fcvt.w.s, rtz, 0xcf000000, 0xffffffff80000000, 0)  /* -2^31 */
    FCVT_I_S(113, fcvt.w.s, rtz, 0x4f000000, 0x7fffffff, NV)         /* 2^31 */
    FCVT_I_S(114, fcvt.w.s, rtz, 0xcf000001, 0xffffffff80000000, NV)
    FCVT_I_S(115, fcvt.w.s, rtz, QNAN, 0x7fffffff, NV)
    FCVT_I_S(116, fcvt.w.s, rtz, 0xffc00000, 0x7fffffff, NV)
    FCVT_I_S(117, fcvt.w.s, rtz, PINF, 0x7fffffff, NV)
    FCVT_I_S(118, fcvt.w.s, rtz, MINF, 0xffffffff80000000, NV)
    FCVT_I_S(119, fcvt.w.s, rne, 0x4f32d05e, 0x7fffffff, NV)         /* 3e9 */
    /* fcvt.wu.s: the 32-bit result is sign-extended; negatives saturate to 0 */
    FCVT_I_S(120, fcvt.wu.s, rne, 0x4f32d05e, 0xffffffffb2d05e00, 0)
    FCVT_I_S(121, fcvt.wu.s, rtz, MHALF, 0, NX)                /* rounds to 0: fine */
    FCVT_I_S(122, fcvt.wu.s, rdn, MHALF, 0, NV)                /* rounds to -1 */
    FCVT_I_S(123, fcvt.wu.s, rtz, MONE, 0, NV)
    FCVT_I_S(124, fcvt.wu.s, rtz, MINF, 0, NV)
    FCVT_I_S(125, fcvt.wu.s, rtz, PINF, -1, NV)
    FCVT_I_S(126, fcvt.wu.s, rtz, QNAN, -1, NV)
    FCVT_I_S(127, fcvt.wu.s, rtz, 0x4f800000, -1, NV)          /* 2^32 */
    /* fcvt.l.s / fcvt.lu.s */
    FCVT_I_S(128, fcvt.l.s, rtz, QNAN, 0x7fffffffffffffff, NV)
    FCVT_I_S(129, fcvt.l.s, rtz, MINF, 0x8000000000000000, NV)
    FCVT_I_S(130, fcvt.l.s, rtz, 0x5f000000, 0x7fffffffffffffff, NV)   /* 2^63 */
    FCVT_I_S(131, fcvt.l.s, rtz, 0xdf000000, 0x8000000000000000, 0)    /* -2^63 */
    FCVT_I_S(132, fcvt.l.s, rne, 0x4f32d05e, 3000000000, 0)
    FCVT_I_S(133, fcvt.l.s, rdn, 0xbfc00000, -2, NX)
    FCVT_I_S(134, fcvt.lu.s, rtz, QNAN, -1, NV)
    FCVT_I_S(135, fcvt.lu.s, rtz, MONE, 0, NV)
    FCVT_I_S(136, fcvt.lu.s, rtz, MHALF, 0, NX)
    FCVT_I_S(137, fcvt.lu.s, rtz, 0x5f800000, -1, NV)          /* 2^64 */
    FCVT_I_S(138, fcvt.lu.s, rtz, 0x5f000000, 0x8000000000000000, 0)
    FCVT_I_S(139, fcvt.lu.s, rup, 0x3f800001, 2, NX)
    /* dynamic rounding mode for conversions */
    TEST_FP_INT(140, 2, NX, fsrmi 3; FLOAD_S(fa0, 0x3f8ccccd); fcvt.w.s a0, fa0, dyn; fsrmi 0)

    /* integer to float: rounding and which input bits are used */
    FCVT_S_I(141, fcvt.s.w, rne, 16777217, 0x4b800000, NX)
    FCVT_S_I(142, fcvt.s.w, rup, 16777217, 0x4b800001, NX)
    FCVT_S_I(143, fcvt.s.w, rdn, -16777217, 0xcb800001, NX)
    FCVT_S_I(144, fcvt.s.w, rne, 0x100000001, ONE, 0)          /* low 32 bits only */
    FCVT_S_I(145, fcvt.s.w, rne, 0x80000000, 0xcf000000, 0)
    FCVT_S_I(146, fcvt.s.w, rne, 0, PZERO, 0)
    FCVT_S_I(147, fcvt.s.wu, rne, 0xffffffff, 0x4f800000, NX)
    FCVT_S_I(148, fcvt.s.wu, rtz, 0xffffffff, 0x4f7fffff, NX)
    FCVT_S_I(149, fcvt.s.wu, rne, 0xffffffff00000002, TWO, 0)
    FCVT_S_I(150, fcvt.s.l, rne, 0x8000000000000000, 0xdf000000, 0)
    FCVT_S_I(151, fcvt.s.l, rne, -1, MONE, 0)
    FCVT_S_I(152, fcvt.s.lu, rne, -1, 0x5f800000, NX)
    FCVT_S_I(153, fcvt.s.lu, rtz, -1, 0x5f7fffff, NX)
    FCVT_S_I(154, fcvt.s.l, rmm, 0x4000004000000000, 0x5e800001, NX)  /* 2^62 + 2^38: tie */
    FCVT_S_I(169, fcvt.s.l, rne, 0x4000004000000000, 0x5e800000, NX)
    TEST_FP_INT(155, 0xffffffff3f800000, 0, li a1, 1; fcvt.s.w fa3, a1; fmv.x.d a0, fa3)

    /* sign injection: no NaN canonicalisation, no flags */
    FOP2_S(156, fsgnj.s, ONE, MTWO, MONE, 0)
    FOP2_S(157, fsgnj.s, MONE, TWO, ONE, 0)
    FOP2_S(158, fsgnjn.s, ONE, ONE, MONE, 0)                   /* fneg */
    FOP2_S(159, fsgnjn.s, ONE, MONE, ONE, 0)
    FOP2_S(160, fsgnjx.s, MONE, MONE, ONE, 0)                  /* fabs */
    FOP2_S(161, fsgnjx.s, MONE, ONE, MONE, 0)
    FOP2_S(162, fsgnjx.s, ONE, MONE, MONE, 0)
    FOP2_S(163, fsgnjn.s, SNAN, SNAN, 0xff800001, 0)
    FOP2_S(164, fsgnj.s, 0x7fc12345, MZERO, 0xffc12345, 0)
    TEST_FP_S(165, MONE, 0, FLOAD_S(fa0, ONE); fneg.s fa3, fa0)
    TEST_FP_S(166, TWO, 0, FLOAD_S(fa0, MTWO); fabs.s fa3, fa0)
    TEST_FP_S(167, MTWO, 0, FLOAD_S(fa0, MTWO); fmv.s fa3, fa0)

    /* fflags accrue (sticky) across instructions until cleared */
    TEST_FP_INT(168, NV | DZ | NX, NV | DZ | NX, FLOAD_S(fa0, ONE); FLOAD_S(fa1, PZERO); \
                FLOAD_S(fa2, 0x40400000); \
                fdiv.s fa3, fa0, fa1; fdiv.s fa3, fa0, fa2; fdiv.s fa3, fa1, fa1; frflags a0)

    TEST_PASS

    .data
    .balign 8
fdata:
    .word 0x3f800000, 0xc0000000
fscratch:
    .dword 0, 0
