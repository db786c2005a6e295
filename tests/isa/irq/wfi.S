/*
 * WFI: returns at once when an enabled interrupt is already pending (even
 * with mstatus.MIE = 0, without a trap); waits for the timer and returns
 * with MIE = 0 without taking the interrupt; with MIE = 1 the interrupt is
 * taken with mepc at the instruction after the WFI.
 */
#include "test.h"
#include "priv_macros.h"
#include "irq_macros.h"

TEST_BEGIN
    INSTALL_M_HANDLER
    PMP_ALLOW_ALL
    csrw mie, zero
    TIMER_OFF

    /* ---- an enabled interrupt already pending, MIE = 0: WFI is a nop ---- */
    TRAP_CLEAR
    MSIP_SET(1)
    li t0, MIP_MSIP
    csrw mie, t0
    wfi
    CHECK(1, TRAP_COUNT, 0)
    MSIP_SET(0)
    csrw mie, zero

    /* ---- MIE = 0: the timer wakes WFI up, no trap is taken ---- */
    TRAP_CLEAR
    li t0, MIP_MTIP
    csrw mie, t0
    TIMER_IN(20 * TICKS_PER_MS)
    li t0, MTIMECMP0
    ld s1, 0(t0)                    /* s1 = when the timer fires */
    DEADLINE(a3, 2000)
1:  wfi                             /* the spec allows spurious returns: loop */
    csrr a0, mip
    andi a0, a0, MIP_MTIP
    bnez a0, 2f
    li t0, MTIME
    ld a1, 0(t0)
    li TESTNUM, 2
    bgeu a1, a3, test_fail          /* 2 s and no MTIP */
    j 1b
2:  CHECK(3, TRAP_COUNT, 0)
    li t0, MTIME
    ld a1, 0(t0)
    li TESTNUM, 4
    bltu a1, s1, test_fail          /* MTIP before mtime reached mtimecmp */
    TIMER_OFF

    /* ---- MIE = 1: taken, mepc = the instruction after the WFI ---- */
    TRAP_CLEAR
    la TRAP_RESUME, 99f
    TIMER_IN(20 * TICKS_PER_MS)
    csrsi mstatus, MSTATUS_MIE
91: wfi
92: SPIN_UNTIL_TRAP(5)
99: CHECK(6, TRAP_MCAUSE, INTR(IRQ_MTI))
    CHECK_LABEL(7, TRAP_MEPC, 92b)
    CHECK(8, TRAP_COUNT, 1)
    TIMER_OFF

    /* ---- from S-mode: an M interrupt wakes and traps to M ---- */
    li t0, MIP_MTIP
    csrw mie, t0
    TRAP_CLEAR
    la TRAP_RESUME, 99f
    TIMER_IN(20 * TICKS_PER_MS)
    GO_MODE(PRV_S, 98f)
98: wfi
97: SPIN_UNTIL_TRAP(9)
99: CHECK(10, TRAP_MCAUSE, INTR(IRQ_MTI))
    CHECK_LABEL(11, TRAP_MEPC, 97b)
    CHECK_MASK(12, TRAP_MSTATUS, MSTATUS_MPP, MSTATUS_MPP_S)
    TIMER_OFF

    TEST_PASS

    M_HANDLER_CODE
