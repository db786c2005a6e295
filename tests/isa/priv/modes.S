/*
 * Privilege-mode transitions: the mstatus stack on mret and sret (xIE from
 * xPIE, xPIE = 1, xPP = U), mret/sret to every mode, and the instructions a
 * mode may not execute: sret/mret from below, sret with TSR, wfi in U, wfi
 * with TW, satp and sfence.vma with TVM.
 */
#include "test.h"
#include "priv_macros.h"

#define STACK_BITS (MSTATUS_MIE | MSTATUS_MPIE | MSTATUS_MPP)
#define SSTACK_BITS (MSTATUS_SIE | MSTATUS_SPIE | MSTATUS_SPP)

/* Set the bits of mask in mstatus to val. Clobbers t0. */
#define MSTATUS_SET(mask, val)                      \
    li t0, mask; csrc mstatus, t0;                  \
    li t0, val; csrs mstatus, t0

TEST_BEGIN
    INSTALL_M_HANDLER
    PMP_ALLOW_ALL
    csrw mie, zero                  /* enabling MIE never takes an interrupt */

    /* ---- mret to M: MIE = MPIE, MPIE = 1, MPP = U ---- */
    MSTATUS_SET(STACK_BITS, MSTATUS_MIE | MSTATUS_MPP_M)   /* MPIE = 0 */
    la t0, 1f
    csrw mepc, t0
    mret
    j test_fail
1:  csrr a0, mstatus
    CHECK_MASK(1, a0, STACK_BITS, MSTATUS_MPIE)
    MSTATUS_SET(STACK_BITS, MSTATUS_MPIE | MSTATUS_MPP_M)
    la t0, 1f
    csrw mepc, t0
    mret
    j test_fail
1:  csrr a0, mstatus
    CHECK_MASK(2, a0, STACK_BITS, MSTATUS_MIE | MSTATUS_MPIE)
    csrci mstatus, MSTATUS_MIE

    /* ---- mret to S and U: the mode, MIE from MPIE ---- */
    TRAP_CLEAR
    la s8, 2f
    MSTATUS_SET(STACK_BITS, MSTATUS_MPIE | MSTATUS_MPP_S)
    la t0, 1f
    csrw mepc, t0
    mret
1:  ecall
2:  CHECK_MEXC(3, CAUSE_ECALL_S, 1b)
    /* at the ecall: MIE was 1 (now in MPIE) */
    CHECK_MASK(4, TRAP_MSTATUS, STACK_BITS, MSTATUS_MPIE | MSTATUS_MPP_S)
    TRAP_CLEAR
    la s8, 2f
    MSTATUS_SET(STACK_BITS, 0)      /* MPP = U, MPIE = 0 */
    la t0, 1f
    csrw mepc, t0
    mret
1:  ecall
2:  CHECK_MEXC(5, CAUSE_ECALL_U, 1b)
    CHECK_MASK(6, TRAP_MSTATUS, STACK_BITS, 0)

    /* ---- sret from S to S and to U ---- */
    TRAP_CLEAR
    la s8, 3f
    li a1, SSTACK_BITS
    li a2, MSTATUS_SPIE | MSTATUS_SPP
    GO_MODE(PRV_S, 1f)
1:  csrc sstatus, a1
    csrs sstatus, a2                /* SIE = 0, SPIE = 1, SPP = S */
    la t0, 2f
    csrw sepc, t0
    sret
    j test_fail
2:  csrr a0, sstatus                /* still S: this read works */
    ecall
3:  CHECK(8, TRAP_MCAUSE, CAUSE_ECALL_S)
    CHECK_MASK(9, a0, SSTACK_BITS, MSTATUS_SIE | MSTATUS_SPIE)
    TRAP_CLEAR
    la s8, 3f
    li a2, MSTATUS_SIE              /* SIE = 1, SPIE = 0, SPP = U */
    GO_MODE(PRV_S, 1f)
1:  csrc sstatus, a1
    csrs sstatus, a2
    la t0, 2f
    csrw sepc, t0
    sret
    j test_fail
2:  ecall
3:  CHECK_MEXC(10, CAUSE_ECALL_U, 2b)
    csrr a0, sstatus
    CHECK_MASK(11, a0, SSTACK_BITS, MSTATUS_SPIE)
    /* sret in M goes to SPP too */
    TRAP_CLEAR
    la s8, 2f
    MSTATUS_SET(SSTACK_BITS, MSTATUS_SPP)
    la t0, 1f
    csrw sepc, t0
    sret
1:  ecall
2:  CHECK_MEXC(12, CAUSE_ECALL_S, 1b)
    csrr a0, mstatus
    CHECK_MASK(13, a0, SSTACK_BITS, MSTATUS_SPIE)

    /* ---- xRET below its level is illegal ---- */
    RUN_IN(PRV_U, 91: sret)
    CHECK_MEXC(14, CAUSE_ILLEGAL_INSN, 91b)
    CHECK_INSN(14, TRAP_MTVAL, 91b)
    RUN_IN(PRV_U, 91: mret)
    CHECK_MEXC(15, CAUSE_ILLEGAL_INSN, 91b)
    CHECK_INSN(15, TRAP_MTVAL, 91b)
    RUN_IN(PRV_S, 91: mret)
    CHECK_MEXC(16, CAUSE_ILLEGAL_INSN, 91b)
    CHECK_INSN(16, TRAP_MTVAL, 91b)

    /* ---- TSR: sret in S traps, sret in M does not ---- */
    li t0, MSTATUS_TSR
    csrs mstatus, t0
    RUN_IN(PRV_S, la t0, 97f; csrw sepc, t0; li t0, MSTATUS_SPP; csrs sstatus, t0; 91: sret)
    CHECK_MEXC(17, CAUSE_ILLEGAL_INSN, 91b)
    CHECK_INSN(17, TRAP_MTVAL, 91b)
    TRAP_CLEAR
    la s8, 2f
    MSTATUS_SET(MSTATUS_SPP, MSTATUS_SPP)
    la t0, 1f
    csrw sepc, t0
    sret
1:  ecall
2:  CHECK_MEXC(18, CAUSE_ECALL_S, 1b)
    li t0, MSTATUS_TSR
    csrc mstatus, t0
    RUN_IN(PRV_S, la t0, 97f; csrw sepc, t0; li t0, MSTATUS_SPP; csrs sstatus, t0; sret)
    CHECK_MEXC(19, CAUSE_ECALL_S, 97b)        /* sret went to the ecall in S */

    /* ---- wfi ---- */
    /* an interrupt pending and enabled in mie ends wfi even with MIE = 0 */
    li t0, MIP_SSIP
    csrs mip, t0
    csrw mie, t0
    TRAP_AT(wfi)
    CHECK(20, TRAP_COUNT, 0)
    csrw mie, zero
    /* U: always illegal (S-mode exists) */
    RUN_IN(PRV_U, 91: wfi)
    CHECK_MEXC(21, CAUSE_ILLEGAL_INSN, 91b)
    CHECK_INSN(21, TRAP_MTVAL, 91b)
    /* S with TW = 1: illegal */
    li t0, MSTATUS_TW
    csrs mstatus, t0
    RUN_IN(PRV_S, 91: wfi)
    CHECK_MEXC(22, CAUSE_ILLEGAL_INSN, 91b)
    CHECK_INSN(22, TRAP_MTVAL, 91b)
    /* M ignores TW */
    li t0, MIP_SSIP
    csrw mie, t0
    TRAP_AT(wfi)
    CHECK(23, TRAP_COUNT, 0)
    li t0, MSTATUS_TW
    csrc mstatus, t0
    /* S with TW = 0: waits; SSI delegated but SIE = 0, so not taken */
    li t0, MIP_SSIP
    csrw mideleg, t0
    csrci mstatus, MSTATUS_SIE
    RUN_IN(PRV_S, wfi)
    CHECK_MEXC(24, CAUSE_ECALL_S, 97b)
    csrw mie, zero
    csrw mideleg, zero
    li t0, MIP_SSIP
    csrc mip, t0

    /* ---- TVM: satp and sfence.vma in S trap ---- */
    RUN_IN(PRV_S, csrr a0, satp; csrw satp, zero; sfence.vma)
    CHECK(25, TRAP_MCAUSE, CAUSE_ECALL_S)
    li t0, MSTATUS_TVM
    csrs mstatus, t0
    RUN_IN(PRV_S, 91: csrr a0, satp)
    CHECK_MEXC(26, CAUSE_ILLEGAL_INSN, 91b)
    CHECK_INSN(26, TRAP_MTVAL, 91b)
    RUN_IN(PRV_S, 91: csrw satp, zero)
    CHECK_MEXC(27, CAUSE_ILLEGAL_INSN, 91b)
    CHECK_INSN(27, TRAP_MTVAL, 91b)
    RUN_IN(PRV_S, 91: sfence.vma)
    CHECK_MEXC(28, CAUSE_ILLEGAL_INSN, 91b)
    CHECK_INSN(28, TRAP_MTVAL, 91b)
    RUN_IN(PRV_S, li a1, 0x1000; 91: sfence.vma a1, zero)
    CHECK_MEXC(29, CAUSE_ILLEGAL_INSN, 91b)
    /* M is not affected by TVM */
    TRAP_AT(csrr a0, satp; csrw satp, zero; sfence.vma)
    CHECK(30, TRAP_COUNT, 0)
    li t0, MSTATUS_TVM
    csrc mstatus, t0
    /* sfence.vma in U is illegal */
    RUN_IN(PRV_U, 91: sfence.vma)
    CHECK_MEXC(31, CAUSE_ILLEGAL_INSN, 91b)
    CHECK_INSN(31, TRAP_MTVAL, 91b)

    TEST_PASS

    M_HANDLER_CODE
