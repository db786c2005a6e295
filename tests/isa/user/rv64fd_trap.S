/*
 * F/D state and illegal encodings: reserved static rounding modes (5, 6)
 * and rm = dyn with frm = 5..7 raise illegal instruction (mcause 2) without
 * writing the destination, while non-rounding FP instructions ignore frm;
 * with mstatus.FS = Off every FP instruction and FP CSR access is illegal;
 * writing FP state moves FS to Dirty and sets mstatus.SD.
 */
#include "user_macros.h"

#define FS_MASK 0x6000
/* Set mstatus.FS to v (0 Off, 1 Initial, 2 Clean, 3 Dirty). */
#define FS_SET(v) li t0, FS_MASK; csrc mstatus, t0; li t0, (v) << 13; csrs mstatus, t0
/* a0 = mstatus.FS, a1 = mstatus.SD */
#define FS_GET csrr a0, mstatus; srli a1, a0, 63; srli a0, a0, 13; andi a0, a0, 3

/* fa3 is preset to a marker; a trapping instruction must leave it alone */
#define MARK li t1, 0x5a5a5a5a5a5a5a5a; fmv.d.x fa3, t1
#define MARKED(n) TEST_CASE(n, a0, 0x5a5a5a5a5a5a5a5a, fmv.x.d a0, fa3)

    .option rvc
TEST_BEGIN
    TRAP_INSTALL
    FLOAD_S(fa0, 0x3f800000)
    FLOAD_S(fa1, 0x40000000)
    FLOAD_S(fa2, 0x40400000)

    /* reserved static rounding modes 5 and 6 (encoded by hand) */
    TEST_TRAP(1, 2, MARK; .insn r OP_FP, 5, 0x00, fa3, fa0, fa1)   /* fadd.s rm=5 */
    MARKED(2)
    TEST_TRAP(3, 2, .insn r OP_FP, 6, 0x00, fa3, fa0, fa1)         /* fadd.s rm=6 */
    TEST_TRAP(4, 2, .insn r OP_FP, 5, 0x09, fa3, fa0, fa1)         /* fmul.d rm=5 */
    TEST_TRAP(5, 2, .insn r OP_FP, 6, 0x2c, fa3, fa0, f0)          /* fsqrt.s rm=6 */
    TEST_TRAP(6, 2, .insn r4 MADD, 5, 0, fa3, fa0, fa1, fa2)       /* fmadd.s rm=5 */
    TEST_TRAP(7, 2, li a0, 7; .insn r OP_FP, 6, 0x60, a0, fa0, x0) /* fcvt.w.s rm=6 */
    TEST_CASE(8, a0, 7, )
    MARKED(9)
    /* the same encodings with a valid rm do not trap (the encoding is right) */
    TEST_NO_TRAP(10, .insn r OP_FP, 0, 0x00, fa3, fa0, fa1)
    TEST_FP_S(11, 0x40400000, 0, )
    TEST_NO_TRAP(12, .insn r4 MADD, 7, 0, fa3, fa0, fa1, fa2)
    TEST_FP_S(13, 0x40a00000, 0, )

    /* frm holds 5..7 without complaint; rm = dyn then traps */
    TEST_CASE(14, a0, 5, fsrmi 5; frrm a0)
    TEST_TRAP(15, 2, MARK; fadd.s fa3, fa0, fa1, dyn)
    MARKED(16)
    TEST_CASE(17, a0, 6, fsrmi 6; frrm a0)
    TEST_TRAP(18, 2, fmul.d fa3, fa0, fa1, dyn)
    TEST_TRAP(19, 2, fsqrt.s fa3, fa0, dyn)
    TEST_CASE(20, a0, 7, fsrmi 7; frrm a0)
    TEST_TRAP(21, 2, fnmadd.d fa3, fa0, fa1, fa2, dyn)
    TEST_TRAP(22, 2, fcvt.l.s a0, fa0, dyn)
    TEST_TRAP(23, 2, li a1, 3; fcvt.s.l fa3, a1, dyn)
    /* static modes still work while frm is invalid */
    TEST_NO_TRAP(24, fadd.s fa3, fa0, fa1, rtz)
    /* instructions that do not round ignore frm */
    TEST_NO_TRAP(25, fsgnj.s fa3, fa0, fa1; fmin.d fa3, fa0, fa1; feq.s a0, fa0, fa1; \
                 fclass.s a0, fa0; fmv.x.w a0, fa0; fmv.w.x fa3, a0; fle.s a0, fa0, fa1)
    /* fcsr: frm is bits 7:5, fflags bits 4:0 */
    TEST_CASE(26, a0, 0xe0, frcsr a0)
    TEST_CASE(27, a0, 0, fsrmi 0; frcsr a0)

    /* mstatus.FS = Off: every FP instruction and FP CSR access is illegal */
    MARK
    FS_SET(0)
    TEST_CASE(28, a0, 0, FS_GET)
    TEST_TRAP(29, 2, fadd.s fa3, fa0, fa1)
    TEST_TRAP(30, 2, fmadd.d fa3, fa0, fa1, fa2)
    TEST_TRAP(31, 2, la a1, fscratch; flw fa3, 0(a1))
    TEST_TRAP(32, 2, fsd fa0, 0(a1))
    TEST_TRAP(33, 2, li a0, 1; fmv.w.x fa3, a0)
    TEST_TRAP(34, 2, li a0, 7; fmv.x.d a0, fa0)
    TEST_CASE(35, a0, 7, )
    TEST_TRAP(36, 2, feq.d a0, fa0, fa1)
    TEST_TRAP(37, 2, fcvt.d.l fa3, a0)
    TEST_TRAP(38, 2, fclass.s a0, fa0)
    TEST_TRAP(39, 2, frcsr a0)
    TEST_TRAP(40, 2, frflags a0)
    TEST_TRAP(41, 2, fsrmi 1)
    TEST_TRAP(42, 2, csrwi fflags, 1)
    TEST_TRAP(43, 2, c.fld fa3, 0(a1))
    TEST_TRAP(44, 2, c.fsdsp fa0, 0(sp))
    TEST_CASE(45, a0, 0, FS_GET)
    /* FS stays Off; nothing above made it Dirty */
    TEST_CASE(46, a1, 0, FS_GET)
    FS_SET(1)
    MARKED(47)
    TEST_FP_INT(48, 0, 0, frrm a0)

    /* FS = Initial or Clean: writing an f register or fcsr makes it Dirty */
    TEST_CASE(49, a0, 3, FS_SET(1); fmv.w.x fa3, zero; FS_GET)
    TEST_CASE(50, a1, 1, FS_GET)
    TEST_CASE(51, a1, 0, FS_SET(2); FS_GET)
    TEST_CASE(52, a0, 3, FS_SET(2); fadd.d fa3, fa0, fa1; FS_GET)
    TEST_CASE(53, a1, 1, FS_GET)
    TEST_CASE(54, a0, 3, FS_SET(2); la a2, fscratch; fld fa3, 0(a2); FS_GET)
    TEST_CASE(55, a0, 3, FS_SET(2); fsrmi 0; FS_GET)
    TEST_CASE(56, a0, 3, FS_SET(1); csrwi fflags, 0; FS_GET)
    TEST_CASE(57, a0, 3, FS_SET(2); fcvt.s.w fa3, zero; FS_GET)
    TEST_CASE(58, a0, 3, FS_SET(1); c.fldsp fa3, 0(sp); FS_GET)
    /* (an op that only changes fflags must dirty it too: see strict.S) */

    TEST_PASS

    USER_TRAP_HANDLER

    .data
    .balign 8
fscratch:
    .dword 0x3ff0000000000000
