/*
 * RV64D beyond rounding (rv64d_round.S): canonical NaNs, signalling NaNs,
 * fmin/fmax, compares, fclass, conversions to and from integers with
 * saturation and flags, conversions between single and double (including
 * NaN-boxing of the single result), sign injection, fmv.x.d/fmv.d.x,
 * fld/fsd, overflow/underflow and FMA single rounding.
 */
#include "user_macros.h"

#define ONE     0x3ff0000000000000
#define MONE    0xbff0000000000000
#define TWO     0x4000000000000000
#define MTWO    0xc000000000000000
#define HALF    0x3fe0000000000000
#define MHALF   0xbfe0000000000000
#define PZERO   0x0000000000000000
#define MZERO   0x8000000000000000
#define PINF    0x7ff0000000000000
#define MINF    0xfff0000000000000
#define QNAN    0x7ff8000000000000      /* the canonical NaN */
#define SNAN    0x7ff0000000000001
#define MAXD    0x7fefffffffffffff
#define MINN    0x0010000000000000      /* smallest normal */
#define SUB1    0x0000000000000001      /* smallest subnormal */
#define NV 0x10
#define DZ 0x08
#define OF 0x04
#define UF 0x02
#define NX 0x01

TEST_BEGIN

    /* moves and loads/stores keep every bit, NaN payloads included */
    TEST_FP_INT(1, 0x7ff0000000000001, 0, li a1, SNAN; fmv.d.x fa0, a1; fmv.x.d a0, fa0)
    TEST_FP_INT(2, 0x0123456789abcdef, 0, la a1, ddata; fld fa0, 0(a1); fmv.x.d a0, fa0)
    TEST_FP_INT(3, 0xfff8000000000123, 0, la a1, ddata + 2047; fld fa0, -2039(a1); fmv.x.d a0, fa0)
    TEST_FP_INT(4, 0xfff8000000000123, 0, la a1, dscratch - 2047; fsd fa0, 2047(a1); \
                la a1, dscratch; ld a0, 0(a1))
    TEST_FP_D(5, 0xfff0000000000001, 0, FLOAD_D(fa0, SNAN); fneg.d fa3, fa0)

    /* canonical NaN results, sNaN inputs raise NV */
    FR2_D(6, fadd.d, rne, 0x7ff8000000012345, ONE, QNAN, 0)
    FR2_D(7, fadd.d, rne, 0xfff8000000000000, ONE, QNAN, 0)
    FR2_D(8, fmul.d, rne, ONE, SNAN, QNAN, NV)
    FR2_D(9, fdiv.d, rne, SNAN, QNAN, QNAN, NV)
    FR1_D(10, fsqrt.d, rne, 0xfff0000000000001, QNAN, NV)
    FR3_D(11, fmsub.d, rne, ONE, ONE, SNAN, QNAN, NV)
    FR3_D(12, fnmadd.d, rne, ONE, QNAN, ONE, QNAN, 0)
    /* invalid operations */
    FR2_D(13, fadd.d, rne, MINF, PINF, QNAN, NV)
    FR2_D(14, fmul.d, rne, MINF, MZERO, QNAN, NV)
    FR2_D(15, fdiv.d, rne, PZERO, PZERO, QNAN, NV)
    FR1_D(16, fsqrt.d, rne, MONE, QNAN, NV)
    FR3_D(17, fmadd.d, rne, PZERO, PINF, QNAN, QNAN, NV)
    FR3_D(18, fnmsub.d, rne, PINF, ONE, PINF, QNAN, NV)
    /* division by zero, exact specials */
    FR2_D(19, fdiv.d, rne, ONE, PZERO, PINF, DZ)
    FR2_D(20, fdiv.d, rne, ONE, MZERO, MINF, DZ)
    FR2_D(21, fdiv.d, rne, MINF, PZERO, MINF, 0)
    FR1_D(22, fsqrt.d, rne, MZERO, MZERO, 0)
    FR1_D(23, fsqrt.d, rne, 0x4010000000000000, TWO, 0)
    /* exact zero signs */
    FR2_D(24, fsub.d, rne, TWO, TWO, PZERO, 0)
    FR2_D(25, fsub.d, rdn, TWO, TWO, MZERO, 0)
    FR3_D(26, fnmsub.d, rne, PZERO, ONE, MZERO, MZERO, 0)

    /* overflow and underflow */
    FR2_D(27, fmul.d, rne, MAXD, TWO, PINF, OF | NX)
    FR2_D(28, fmul.d, rtz, MAXD, TWO, MAXD, OF | NX)
    FR2_D(29, fmul.d, rup, MAXD, MTWO, 0xffefffffffffffff, OF | NX)
    FR2_D(30, fadd.d, rmm, MAXD, MAXD, PINF, OF | NX)
    FR2_D(31, fmul.d, rne, MINN, HALF, 0x0008000000000000, 0)
    FR2_D(32, fmul.d, rne, 0x0010000000000001, HALF, 0x0008000000000000, UF | NX)
    FR2_D(33, fmul.d, rne, SUB1, HALF, PZERO, UF | NX)
    FR2_D(34, fmul.d, rup, SUB1, HALF, SUB1, UF | NX)
    /* tininess after rounding */
    FR2_D(35, fmul.d, rne, 0x3feffffffffffffe, 0x0010000000000001, MINN, NX)
    FR2_D(36, fmul.d, rtz, 0x3feffffffffffffe, 0x0010000000000001, 0x000fffffffffffff, UF | NX)

    /* FMA rounds once: (1+2^-26)(1+2^-27) - (1+3*2^-27) = 2^-53 exactly */
    FR3_D(37, fmadd.d, rne, 0x3ff0000004000000, 0x3ff0000002000000, 0xbff0000006000000, \
          0x3ca0000000000000, 0)
    FR3_D(38, fnmadd.d, rne, 0x3ff0000004000000, 0x3ff0000002000000, 0xbff0000006000000, \
          0xbca0000000000000, 0)

    /* fmin/fmax */
    FOP2_D(39, fmin.d, ONE, SNAN, ONE, NV)
    FOP2_D(40, fmax.d, QNAN, MONE, MONE, 0)
    FOP2_D(41, fmax.d, QNAN, 0x7ff8000000000001, QNAN, 0)
    FOP2_D(42, fmin.d, SNAN, SNAN, QNAN, NV)
    FOP2_D(43, fmin.d, PZERO, MZERO, MZERO, 0)
    FOP2_D(44, fmax.d, MZERO, PZERO, PZERO, 0)
    FOP2_D(45, fmax.d, MINF, MAXD, MAXD, 0)

    /* compares */
    FCMP_D(46, feq.d, ONE, ONE, 1, 0)
    FCMP_D(47, feq.d, ONE, QNAN, 0, 0)
    FCMP_D(48, feq.d, SNAN, SNAN, 0, NV)
    FCMP_D(49, flt.d, ONE, QNAN, 0, NV)
    FCMP_D(50, fle.d, QNAN, QNAN, 0, NV)
    FCMP_D(51, feq.d, PZERO, MZERO, 1, 0)
    FCMP_D(52, fle.d, MZERO, PZERO, 1, 0)
    FCMP_D(53, flt.d, MZERO, PZERO, 0, 0)
    FCMP_D(54, flt.d, MTWO, MONE, 1, 0)
    FCMP_D(55, fle.d, ONE, MONE, 0, 0)

    /* fclass */
    FCLASS_D(56, MINF, 0x001)
    FCLASS_D(57, MTWO, 0x002)
    FCLASS_D(58, 0x800fffffffffffff, 0x004)
    FCLASS_D(59, MZERO, 0x008)
    FCLASS_D(60, PZERO, 0x010)
    FCLASS_D(61, SUB1, 0x020)
    FCLASS_D(62, MINN, 0x040)
    FCLASS_D(63, PINF, 0x080)
    FCLASS_D(64, 0x7ff7ffffffffffff, 0x100)
    FCLASS_D(65, 0xfff8000000000000, 0x200)

    /* fcvt.w.d / fcvt.wu.d: rounding decides whether the result is in range */
    FCVT_I_D(66, fcvt.w.d, rtz, 0xc1e0000000100000, 0xffffffff80000000, NX)  /* -2^31-0.5 */
    FCVT_I_D(67, fcvt.w.d, rdn, 0xc1e0000000100000, 0xffffffff80000000, NV)
    FCVT_I_D(68, fcvt.w.d, rtz, 0x41dfffffffe00000, 0x7fffffff, NX)          /* 2^31-0.5 */
    FCVT_I_D(69, fcvt.w.d, rne, 0x41dfffffffe00000, 0x7fffffff, NV)
    FCVT_I_D(70, fcvt.w.d, rtz, QNAN, 0x7fffffff, NV)
    FCVT_I_D(71, fcvt.w.d, rtz, MINF, 0xffffffff80000000, NV)
    FCVT_I_D(72, fcvt.w.d, rmm, 0xc004000000000000, -3, NX)                  /* -2.5 */
    FCVT_I_D(73, fcvt.w.d, rne, 0xc004000000000000, -2, NX)
    FCVT_I_D(74, fcvt.wu.d, rtz, 0x41efffffffe00000, -1, 0)                  /* 2^32-1 */
    FCVT_I_D(75, fcvt.wu.d, rtz, 0x41e65a0bc0000000, 0xffffffffb2d05e00, 0)  /* 3e9 */
    FCVT_I_D(76, fcvt.wu.d, rtz, 0x41f0000000000000, -1, NV)                 /* 2^32 */
    FCVT_I_D(77, fcvt.wu.d, rtz, MHALF, 0, NX)
    FCVT_I_D(78, fcvt.wu.d, rdn, MHALF, 0, NV)
    FCVT_I_D(79, fcvt.wu.d, rtz, SNAN, -1, NV)
    FCVT_I_D(80, fcvt.wu.d, rtz, MINF, 0, NV)
    /* fcvt.l.d / fcvt.lu.d */
    FCVT_I_D(81, fcvt.l.d, rtz, 0x43e0000000000000, 0x7fffffffffffffff, NV)  /* 2^63 */
    FCVT_I_D(82, fcvt.l.d, rtz, 0xc3e0000000000000, 0x8000000000000000, 0)   /* -2^63 */
    FCVT_I_D(83, fcvt.l.d, rtz, 0x43dfffffffffffff, 0x7ffffffffffffc00, 0)
    FCVT_I_D(84, fcvt.l.d, rtz, QNAN, 0x7fffffffffffffff, NV)
    FCVT_I_D(85, fcvt.l.d, rtz, PINF, 0x7fffffffffffffff, NV)
    FCVT_I_D(86, fcvt.l.d, rtz, MINF, 0x8000000000000000, NV)
    FCVT_I_D(87, fcvt.l.d, rup, 0xbff8000000000000, -1, NX)                  /* -1.5 */
    FCVT_I_D(88, fcvt.lu.d, rtz, 0x43f0000000000000, -1, NV)                 /* 2^64 */
    FCVT_I_D(89, fcvt.lu.d, rtz, 0x43efffffffffffff, 0xfffffffffffff800, 0)
    FCVT_I_D(90, fcvt.lu.d, rtz, MONE, 0, NV)
    FCVT_I_D(91, fcvt.lu.d, rtz, MHALF, 0, NX)
    FCVT_I_D(92, fcvt.lu.d, rtz, QNAN, -1, NV)
    FCVT_I_D(93, fcvt.lu.d, rne, 0x3ff8000000000000, 2, NX)
    TEST_FP_INT(94, 1, NX, fsrmi 1; FLOAD_D(fa0, 0x3ffccccccccccccd); fcvt.l.d a0, fa0, dyn; fsrmi 0)

    /* integer to double */
    FCVT_D_I(95, fcvt.d.l, rne, 0x20000000000001, 0x4340000000000000, NX)     /* 2^53+1 */
    FCVT_D_I(96, fcvt.d.l, rup, 0x20000000000001, 0x4340000000000001, NX)
    FCVT_D_I(97, fcvt.d.l, rdn, -0x20000000000001, 0xc340000000000001, NX)
    FCVT_D_I(98, fcvt.d.l, rne, 0x8000000000000000, 0xc3e0000000000000, 0)
    FCVT_D_I(99, fcvt.d.lu, rne, -1, 0x43f0000000000000, NX)
    FCVT_D_I(100, fcvt.d.lu, rtz, -1, 0x43efffffffffffff, NX)
    TEST_FP_D(101, 0xc1e0000000000000, 0, li a1, 0x80000000; fcvt.d.w fa3, a1)
    TEST_FP_D(102, ONE, 0, li a1, 0x100000001; fcvt.d.w fa3, a1)
    TEST_FP_D(103, 0x41efffffffe00000, 0, li a1, 0xffffffff; fcvt.d.wu fa3, a1)
    TEST_FP_D(104, TWO, 0, li a1, 0xffffffff00000002; fcvt.d.wu fa3, a1)
    FCVT_D_I(105, fcvt.d.l, rne, 0, PZERO, 0)

    /* fcvt.s.d: rounding, overflow, underflow, NaNs; the result is NaN-boxed */
    TEST_FP_S(106, 0x3eaaaaab, NX, FLOAD_D(fa0, 0x3fd5555555555555); fcvt.s.d fa3, fa0, rne)
    TEST_FP_S(107, 0x3eaaaaaa, NX, FLOAD_D(fa0, 0x3fd5555555555555); fcvt.s.d fa3, fa0, rtz)
    TEST_FP_S(108, 0x7f800000, OF | NX, \
              FLOAD_D(fa0, 0x7e37e43c8800759c); fcvt.s.d fa3, fa0, rne) /* 1e300 */
    TEST_FP_S(109, 0x7f7fffff, OF | NX, FLOAD_D(fa0, 0x7e37e43c8800759c); fcvt.s.d fa3, fa0, rtz)
    TEST_FP_S(110, 0x00000000, UF | NX, \
              FLOAD_D(fa0, 0x01a56e1fc2f8f359); fcvt.s.d fa3, fa0, rne) /* 1e-300 */
    TEST_FP_S(111, 0x00000001, UF | NX, FLOAD_D(fa0, 0x01a56e1fc2f8f359); fcvt.s.d fa3, fa0, rup)
    TEST_FP_S(112, 0x00000001, 0, \
              FLOAD_D(fa0, 0x36a0000000000000); fcvt.s.d fa3, fa0, rne) /* 2^-149 */
    TEST_FP_S(113, 0x00000000, UF | NX, \
              FLOAD_D(fa0, 0x3690000000000000); fcvt.s.d fa3, fa0, rne) /* 2^-150 */
    TEST_FP_S(114, 0x00000001, UF | NX, FLOAD_D(fa0, 0x3690000000000000); fcvt.s.d fa3, fa0, rmm)
    TEST_FP_S(115, 0x7fc00000, NV, FLOAD_D(fa0, SNAN); fcvt.s.d fa3, fa0, rne)
    TEST_FP_S(116, 0x7fc00000, 0, FLOAD_D(fa0, 0xfff8000012345678); fcvt.s.d fa3, fa0, rne)
    TEST_FP_S(117, 0x80000000, 0, FLOAD_D(fa0, MZERO); fcvt.s.d fa3, fa0, rne)
    TEST_FP_INT(118, 0xffffffffbf800000, 0, FLOAD_D(fa0, MONE); fcvt.s.d fa3, fa0; fmv.x.d a0, fa3)
    /* fcvt.d.s: exact; sNaN -> canonical with NV; a non-boxed input is the canonical NaN */
    TEST_FP_D(119, 0x3fb99999a0000000, 0, FLOAD_S(fa0, 0x3dcccccd); fcvt.d.s fa3, fa0)
    TEST_FP_D(120, 0x36a0000000000000, 0, FLOAD_S(fa0, 0x00000001); fcvt.d.s fa3, fa0)
    TEST_FP_D(121, MINF, 0, FLOAD_S(fa0, 0xff800000); fcvt.d.s fa3, fa0)
    TEST_FP_D(122, QNAN, NV, FLOAD_S(fa0, 0x7f800001); fcvt.d.s fa3, fa0)
    TEST_FP_D(123, QNAN, 0, FLOAD_S(fa0, 0xffc12345); fcvt.d.s fa3, fa0)
    TEST_FP_D(124, QNAN, 0, FLOAD_D(fa0, ONE); fcvt.d.s fa3, fa0)

    /* sign injection */
    FOP2_D(125, fsgnj.d, ONE, MTWO, MONE, 0)
    FOP2_D(126, fsgnjn.d, MONE, MONE, ONE, 0)
    FOP2_D(127, fsgnjn.d, MONE, ONE, MONE, 0)
    FOP2_D(128, fsgnjx.d, MONE, MTWO, ONE, 0)
    FOP2_D(129, fsgnjx.d, ONE, MTWO, MONE, 0)
    FOP2_D(130, fsgnj.d, SNAN, MONE, 0xfff0000000000001, 0)
    TEST_FP_D(131, TWO, 0, FLOAD_D(fa0, MTWO); fabs.d fa3, fa0)

    TEST_PASS

    .data
    .balign 8
ddata:
    .dword 0x0123456789abcdef
    .dword 0xfff8000000000123
dscratch:
    .dword 0
