/*
 * Supervisor timer and software interrupts (STI, SSI): M-mode raises STIP
 * through mip (no Sstc), S-mode raises SSIP through sip.  Without
 * delegation they trap to M; delegated through mideleg they trap to S
 * (scause 0x8000000000000005 / ...01), are masked in S by sstatus.SIE,
 * always taken from U, never taken in M, and SSI goes before STI.
 */
#include "test.h"
#include "priv_macros.h"
#include "irq_macros.h"

/* Clear every pending S-level interrupt bit M can write. */
#define CLEAR_S_PENDING  li t0, MIP_STIP | MIP_SSIP; csrc mip, t0

TEST_BEGIN
    INSTALL_M_HANDLER
    INSTALL_S_HANDLER
    PMP_ALLOW_ALL
    csrw mie, zero
    csrw mideleg, zero

    /* ---- M writes mip.STIP; not delegated: taken by M ---- */
    li t0, MIP_STIP
    csrs mip, t0
    csrr a0, mip
    CHECK_MASK(1, a0, MIP_STIP, MIP_STIP)
    TRAP_CLEAR
    la TRAP_RESUME, 99f
    li t0, MIP_STIP
    csrw mie, t0
    csrsi mstatus, MSTATUS_MIE
    SPIN_UNTIL_TRAP(2)
99: CHECK(3, TRAP_MCAUSE, INTR(IRQ_STI))
    CHECK(4, TRAP_COUNT, 1)
    CLEAR_S_PENDING

    /* ---- delegated STI: taken by S from S-mode with SIE = 1 ---- */
    li t0, MIP_STIP | MIP_SSIP
    csrw mideleg, t0
    csrr a0, mideleg
    CHECK_MASK(5, a0, MIP_SSIP | MIP_STIP | MIP_SEIP, MIP_STIP | MIP_SSIP)  /* QEMU (H) adds VS bits */
    li t0, MIP_STIP
    csrw mie, t0
    csrs mip, t0
    csrsi mstatus, MSTATUS_MIE      /* M is on, but delegated: not taken in M */
    nop
    nop
    csrci mstatus, MSTATUS_MIE
    CHECK(6, TRAP_COUNT, 1)
    RUN_IN(PRV_S, csrsi sstatus, MSTATUS_SIE; 90: SPIN_UNTIL_TRAP(7))
    CHECK(8, TRAP_SCAUSE, INTR(IRQ_STI))
    CHECK_LABEL(9, TRAP_SEPC, 90b)  /* taken right after the csrsi */
    CHECK_MASK(10, TRAP_SSTATUS, MSTATUS_SIE | MSTATUS_SPIE | MSTATUS_SPP,
               MSTATUS_SPIE | MSTATUS_SPP)
    CHECK(11, TRAP_MCAUSE, CAUSE_ECALL_S)  /* the S handler's way back */
    csrr a0, sip
    CHECK_MASK(12, a0, MIP_STIP, MIP_STIP)

    /* ---- masked in S by SIE = 0 ---- */
    li t0, MIP_STIP
    csrw mie, t0
    li t0, MSTATUS_SIE
    csrc mstatus, t0
    RUN_IN(PRV_S, nop; nop; nop)
    CHECK(13, TRAP_SCAUSE, -1)
    CHECK(14, TRAP_MCAUSE, CAUSE_ECALL_S)

    /* ---- always taken from U, whatever SIE ---- */
    RUN_IN(PRV_U, 90: SPIN_UNTIL_TRAP(15))
    CHECK(16, TRAP_SCAUSE, INTR(IRQ_STI))
    CHECK_LABEL(17, TRAP_SEPC, 90b)
    CHECK_MASK(18, TRAP_SSTATUS, MSTATUS_SPP, 0)
    CLEAR_S_PENDING

    /* ---- SSI: S-mode sets sip.SSIP, taken at once ---- */
    li t0, MIP_SSIP
    csrw mie, t0
    RUN_IN(PRV_S, csrsi sstatus, MSTATUS_SIE; csrsi sip, MIP_SSIP; 90: SPIN_UNTIL_TRAP(19))
    CHECK(20, TRAP_SCAUSE, INTR(IRQ_SSI))
    CHECK_LABEL(21, TRAP_SEPC, 90b)
    csrr a0, mip
    CHECK_MASK(22, a0, MIP_SSIP, MIP_SSIP)
    CLEAR_S_PENDING

    /* ---- SSI is taken before STI ---- */
    li t0, MIP_SSIP | MIP_STIP
    csrs mip, t0
    csrw mie, t0
    RUN_IN(PRV_U, 90: SPIN_UNTIL_TRAP(23))
    CHECK(24, TRAP_SCAUSE, INTR(IRQ_SSI))
    CLEAR_S_PENDING

    /* ---- M-level interrupts go before S-level ones, and to M ---- */
    li t0, MIP_SSIP
    csrs mip, t0
    MSIP_SET(1)
    li t0, MIP_SSIP | MIP_MSIP
    csrw mie, t0
    RUN_IN(PRV_U, 90: SPIN_UNTIL_TRAP(25))
    CHECK(26, TRAP_MCAUSE, INTR(IRQ_MSI))
    CHECK(27, TRAP_SCAUSE, -1)
    MSIP_SET(0)
    CLEAR_S_PENDING

    TEST_PASS

    M_HANDLER_CODE
    S_HANDLER_CODE
