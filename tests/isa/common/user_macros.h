/*
 * Extra macros for the unprivileged ISA tests (tests/isa/user), on top of
 * test.h: register/immediate operation checks, branch checks, a trap
 * handler that records the trap and resumes after the trapping instruction,
 * and floating-point operand/result helpers.
 *
 * Register use: gp = test number, t6/t5 = checkers (test.h); a0 = result,
 * a1..a3 = operands; s9/s10/s11 = mepc/mtval/mcause of the last trap taken
 * through user_trap (s11 = -1 means "no trap").
 */
#ifndef HOSTEL_TESTS_ISA_USER_MACROS_H
#define HOSTEL_TESTS_ISA_USER_MACROS_H

#include "test.h"

/* a0 = op(v1, v2) must equal expected. */
#define TEST_RR(n, op, expected, v1, v2) \
    TEST_CASE(n, a0, expected, li a1, v1; li a2, v2; op a0, a1, a2)

/* a0 = op(v1, imm) must equal expected. */
#define TEST_RI(n, op, expected, v1, imm) \
    TEST_CASE(n, a0, expected, li a1, v1; op a0, a1, imm)

/* Branch op on (v1, v2): taken must be 1 if the branch is taken, else 0. */
#define TEST_BR(n, op, taken, v1, v2) \
    TEST_CASE(n, a0, taken, li a1, v1; li a2, v2; li a0, 1; op a1, a2, 9f; li a0, 0; 9:)

/*
 * Trap catcher.  TRAP_INSTALL points mtvec at user_trap; USER_TRAP_HANDLER
 * emits the handler (once per file, anywhere in .text).  The handler
 * records mcause in s11, mtval in s10 and mepc in s9, then returns to the
 * instruction after the trapping one (2 or 4 bytes long, read from memory).
 * TEST_TRAP(n, cause, code...) runs code and checks that the last trap it
 * took had the given mcause; TEST_NO_TRAP checks that it took none.
 */
#define TRAP_INSTALL        \
    la t0, user_trap;       \
    csrw mtvec, t0

#define USER_TRAP_HANDLER   \
    .balign 4;              \
user_trap:                  \
    csrw mscratch, t0;      \
    csrr s11, mcause;       \
    csrr s10, mtval;        \
    csrr s9, mepc;          \
    lhu t0, 0(s9);          \
    andi t0, t0, 3;         \
    addi t0, t0, -3;        \
    beqz t0, 8f;            \
    addi t0, s9, 2;         \
    j 9f;                   \
8:  addi t0, s9, 4;         \
9:  csrw mepc, t0;          \
    csrr t0, mscratch;      \
    mret

#define TEST_TRAP(n, cause, code...) \
    TEST_CASE(n, s11, cause, li s11, -1; code)

#define TEST_NO_TRAP(n, code...) \
    TEST_CASE(n, s11, -1, li s11, -1; code)

/* FP register loads from raw bit patterns (t0 is clobbered). */
#define FLOAD_S(freg, bits) li t0, bits; fmv.w.x freg, t0
#define FLOAD_D(freg, bits) li t0, bits; fmv.d.x freg, t0

/* Check that reg holds expected and that the accrued flags are exactly
 * flags (then clear them), both under test number n. */
#define CHECK_FP(n, reg, expected, flags)   \
    li TESTNUM, n;                          \
    li t6, expected;                        \
    bne reg, t6, test_fail;                 \
    TEST_FFLAGS(n, flags)

/* Single-precision result bits (as fmv.x.w gives them: sign-extended). */
#define CHECK_FP_S(n, reg, expected, flags) \
    li TESTNUM, n;                          \
    li t6, expected;                        \
    sext.w t6, t6;                          \
    bne reg, t6, test_fail;                 \
    TEST_FFLAGS(n, flags)

/*
 * FRk_S / FRk_D: test n runs op with k operands (raw bit patterns a, b, c in
 * fa0..fa2) and rounding mode rm into fa3, then checks the result bits and
 * the exact accrued flags.
 */
#define FR1_S(n, op, rm, a, expected, flags)                                 \
    li TESTNUM, n; FLOAD_S(fa0, a); op fa3, fa0, rm;                         \
    fmv.x.w a0, fa3; CHECK_FP_S(n, a0, expected, flags)
#define FR2_S(n, op, rm, a, b, expected, flags)                              \
    li TESTNUM, n; FLOAD_S(fa0, a); FLOAD_S(fa1, b); op fa3, fa0, fa1, rm;   \
    fmv.x.w a0, fa3; CHECK_FP_S(n, a0, expected, flags)
#define FR3_S(n, op, rm, a, b, c, expected, flags)                           \
    li TESTNUM, n; FLOAD_S(fa0, a); FLOAD_S(fa1, b); FLOAD_S(fa2, c);        \
    op fa3, fa0, fa1, fa2, rm; fmv.x.w a0, fa3; CHECK_FP_S(n, a0, expected, flags)
#define FR1_D(n, op, rm, a, expected, flags)                                 \
    li TESTNUM, n; FLOAD_D(fa0, a); op fa3, fa0, rm;                         \
    fmv.x.d a0, fa3; CHECK_FP(n, a0, expected, flags)
#define FR2_D(n, op, rm, a, b, expected, flags)                              \
    li TESTNUM, n; FLOAD_D(fa0, a); FLOAD_D(fa1, b); op fa3, fa0, fa1, rm;   \
    fmv.x.d a0, fa3; CHECK_FP(n, a0, expected, flags)
#define FR3_D(n, op, rm, a, b, c, expected, flags)                           \
    li TESTNUM, n; FLOAD_D(fa0, a); FLOAD_D(fa1, b); FLOAD_D(fa2, c);        \
    op fa3, fa0, fa1, fa2, rm; fmv.x.d a0, fa3; CHECK_FP(n, a0, expected, flags)

/*
 * Generic FP checks: code computes an integer result in a0 (TEST_FP_INT) or
 * an FP result in fa3 (TEST_FP_S: single, compared as fmv.x.w gives it;
 * TEST_FP_D: double); then the exact accrued flags are checked.
 */
#define TEST_FP_INT(n, expected, flags, code...) \
    li TESTNUM, n; code; CHECK_FP(n, a0, expected, flags)
#define TEST_FP_S(n, expected, flags, code...) \
    li TESTNUM, n; code; fmv.x.w a0, fa3; CHECK_FP_S(n, a0, expected, flags)
#define TEST_FP_D(n, expected, flags, code...) \
    li TESTNUM, n; code; fmv.x.d a0, fa3; CHECK_FP(n, a0, expected, flags)

/* fa3 = op(a, b) for ops without a rounding mode (fmin, fmax, fsgnj*). */
#define FOP2_S(n, op, a, b, expected, flags) \
    TEST_FP_S(n, expected, flags, FLOAD_S(fa0, a); FLOAD_S(fa1, b); op fa3, fa0, fa1)
#define FOP2_D(n, op, a, b, expected, flags) \
    TEST_FP_D(n, expected, flags, FLOAD_D(fa0, a); FLOAD_D(fa1, b); op fa3, fa0, fa1)
/* a0 = compare(a, b) */
#define FCMP_S(n, op, a, b, expected, flags) \
    TEST_FP_INT(n, expected, flags, FLOAD_S(fa0, a); FLOAD_S(fa1, b); op a0, fa0, fa1)
#define FCMP_D(n, op, a, b, expected, flags) \
    TEST_FP_INT(n, expected, flags, FLOAD_D(fa0, a); FLOAD_D(fa1, b); op a0, fa0, fa1)
/* a0 = fclass(a); fclass never sets flags */
#define FCLASS_S(n, a, expected) TEST_FP_INT(n, expected, 0, FLOAD_S(fa0, a); fclass.s a0, fa0)
#define FCLASS_D(n, a, expected) TEST_FP_INT(n, expected, 0, FLOAD_D(fa0, a); fclass.d a0, fa0)
/* a0 = float-to-integer conversion of a with rounding mode rm */
#define FCVT_I_S(n, op, rm, a, expected, flags) \
    TEST_FP_INT(n, expected, flags, FLOAD_S(fa0, a); op a0, fa0, rm)
#define FCVT_I_D(n, op, rm, a, expected, flags) \
    TEST_FP_INT(n, expected, flags, FLOAD_D(fa0, a); op a0, fa0, rm)
/* fa3 = integer-to-float conversion of the integer i with rounding mode rm */
#define FCVT_S_I(n, op, rm, i, expected, flags) \
    TEST_FP_S(n, expected, flags, li a1, i; op fa3, a1, rm)
#define FCVT_D_I(n, op, rm, i, expected, flags) \
    TEST_FP_D(n, expected, flags, li a1, i; op fa3, a1, rm)

#endif
