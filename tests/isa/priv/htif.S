/*
 * HTIF exit, as riscv-tests do it: the result is written to the tohost
 * symbol, (code << 1) | 1, 1 meaning pass; nothing else is used (QEMU's
 * spike machine has no test finisher).  A few checks run first so that a
 * failing code travels the same path; HTIF_CASE is TEST_CASE ending in
 * htif_fail instead of the finisher.
 */
#include "test.h"
#include "priv_macros.h"

#define HTIF_CASE(n, reg, expected, code...)        \
    li TESTNUM, n;                                  \
    code;                                           \
    li t6, expected;                                \
    bne reg, t6, htif_fail

TEST_BEGIN
    la t0, htif_trap
    csrw mtvec, t0
    HTIF_CASE(1, a0, 3, li a1, 1; li a2, 2; add a0, a1, a2)
    HTIF_CASE(2, a0, 0, csrr a0, mhartid)
    la s8, 1f
    li a0, 0
    ecall                           /* into htif_trap, which sets a0 */
1:  HTIF_CASE(3, a0, CAUSE_ECALL_M, )
    la a1, tohost                   /* tohost is still 0: nothing written yet */
    HTIF_CASE(4, a0, 0, ld a0, 0(a1))

htif_pass:
    li a0, 1
    j htif_write
htif_fail:
    slli a0, TESTNUM, 1
    ori a0, a0, 1
htif_write:
    la t0, tohost
1:  sd a0, 0(t0)
    j 1b

/* Expected traps return to s8 with mcause in a0; others fail with 254. */
    .align 4
htif_trap:
    csrr a0, mcause
    li t0, CAUSE_ECALL_M
    bne a0, t0, 1f
    csrw mepc, s8
    mret
1:  li TESTNUM, 254
    j htif_fail
