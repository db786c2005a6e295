/*
 * Machine software interrupt (ACLINT MSWI): msip bit 0 drives mip.MSIP,
 * which software cannot write through the CSR; the interrupt (mcause
 * 0x8000000000000003) is masked by MIE in M-mode, taken from S and U.
 */
#include "test.h"
#include "priv_macros.h"
#include "irq_macros.h"

TEST_BEGIN
    INSTALL_M_HANDLER
    PMP_ALLOW_ALL
    csrw mie, zero

    /* ---- msip drives MSIP; only bit 0 is stored ---- */
    MSIP_SET(1)
    csrr a0, mip
    CHECK_MASK(1, a0, MIP_MSIP, MIP_MSIP)
    LW_ADDR(a1, MSIP0)
    CHECK(2, a1, 1)
    MSIP_SET(0xfffffffe)
    csrr a0, mip
    CHECK_MASK(3, a0, MIP_MSIP, 0)
    LW_ADDR(a1, MSIP0)
    CHECK(4, a1, 0)

    /* ---- mip.MSIP is read-only to csrs/csrc ---- */
    li t0, MIP_MSIP
    csrs mip, t0
    csrr a0, mip
    CHECK_MASK(5, a0, MIP_MSIP, 0)
    MSIP_SET(1)
    li t0, MIP_MSIP
    csrc mip, t0
    csrr a0, mip
    CHECK_MASK(6, a0, MIP_MSIP, MIP_MSIP)
    MSIP_SET(0)

    /* ---- the interrupt, taken in M-mode ---- */
    TRAP_CLEAR
    la TRAP_RESUME, 99f
    li t0, MIP_MSIP
    csrw mie, t0
    csrsi mstatus, MSTATUS_MIE
    MSIP_SET(1)
    SPIN_UNTIL_TRAP(7)
99: CHECK(8, TRAP_MCAUSE, INTR(IRQ_MSI))
    CHECK(9, TRAP_COUNT, 1)
    CHECK_MASK(10, TRAP_MSTATUS, MSTATUS_MIE | MSTATUS_MPIE | MSTATUS_MPP,
               MSTATUS_MPIE | MSTATUS_MPP_M)
    MSIP_SET(0)
    csrr a0, mip
    CHECK_MASK(11, a0, MIP_MSIP, 0)

    /* ---- masked in M-mode by MIE = 0, taken at once from U-mode ---- */
    TRAP_CLEAR
    li t0, MIP_MSIP
    csrw mie, t0
    MSIP_SET(1)
    nop
    CHECK(12, TRAP_COUNT, 0)
    la TRAP_RESUME, 99f
    GO_MODE(PRV_U, 98f)
98: SPIN_UNTIL_TRAP(13)
99: CHECK(14, TRAP_MCAUSE, INTR(IRQ_MSI))
    CHECK_LABEL(15, TRAP_MEPC, 98b)
    CHECK_MASK(16, TRAP_MSTATUS, MSTATUS_MPP, 0)

    /* ---- raised from S-mode itself: the store traps right after ---- */
    TRAP_CLEAR
    MSIP_SET(0)
    li t0, MIP_MSIP
    csrw mie, t0
    la TRAP_RESUME, 99f
    GO_MODE(PRV_S, 98f)
98: MSIP_SET(1)
    SPIN_UNTIL_TRAP(17)
99: CHECK(18, TRAP_MCAUSE, INTR(IRQ_MSI))
    CHECK_MASK(19, TRAP_MSTATUS, MSTATUS_MPP, MSTATUS_MPP_S)
    MSIP_SET(0)

    TEST_PASS

    M_HANDLER_CODE
