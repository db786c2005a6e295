/*
 * Machine timer (ACLINT MTIMER): mtime runs and matches the time CSR,
 * mtimecmp in 64-bit and 32-bit halves, MTIP as the level mtime >=
 * mtimecmp, and the machine timer interrupt: mcause 0x8000000000000007,
 * mstatus stacking, masked by mstatus.MIE in M-mode but always taken from
 * S-mode and U-mode.
 */
#include "test.h"
#include "priv_macros.h"
#include "irq_macros.h"

TEST_BEGIN
    INSTALL_M_HANDLER
    PMP_ALLOW_ALL
    csrw mie, zero

    /* ---- MTIP is a level: mtime >= mtimecmp ---- */
    TIMER_IN(1000 * TICKS_PER_MS)
    csrr a0, mip
    CHECK_MASK(1, a0, MIP_MTIP, 0)
    TIMER_AT(0)
    csrr a0, mip
    CHECK_MASK(2, a0, MIP_MTIP, MIP_MTIP)

    /* ---- 32-bit halves, written the RV32 way: high = -1, low, high ---- */
    li t0, MTIMECMP0
    li t1, -1
    sw t1, 4(t0)
    csrr a0, mip
    CHECK_MASK(3, a0, MIP_MTIP, 0)
    li t0, MTIMECMP0
    li t1, 0x12345678
    sw t1, 0(t0)
    li t1, 0x9abcdef0
    sw t1, 4(t0)
    ld a1, 0(t0)
    CHECK(4, a1, 0x9abcdef012345678)
    li t0, MTIMECMP0
    lwu a1, 4(t0)
    CHECK(5, a1, 0x9abcdef0)
    lwu a1, 0(t0)
    CHECK(6, a1, 0x12345678)
    sw zero, 4(t0)                  /* now 0x12345678: 30 s after reset */
    ld a1, 0(t0)
    CHECK(7, a1, 0x12345678)

    /* ---- mtime advances, and the time CSR reads the same clock ---- */
    li t0, MTIME
    ld a0, 0(t0)
    rdtime a1
    ld a2, 0(t0)
    li TESTNUM, 8
    bltu a1, a0, test_fail          /* mtime <= time <= mtime */
    bltu a2, a1, test_fail
    DEADLINE(a3, 2000)
    li t0, MTIME
1:  ld a1, 0(t0)
    bne a1, a2, 2f
    bltu a1, a3, 1b
    li TESTNUM, 9
    j test_fail                     /* mtime stood still */
2:  li TESTNUM, 10
    bltu a1, a2, test_fail          /* went backwards */

    /* ---- the interrupt, taken in M-mode ---- */
    TRAP_CLEAR
    la TRAP_RESUME, 99f
    TIMER_IN(TICKS_PER_MS)
    li t0, MIP_MTIP
    csrw mie, t0
    csrsi mstatus, MSTATUS_MIE
    SPIN_UNTIL_TRAP(11)
99: CHECK(12, TRAP_MCAUSE, INTR(IRQ_MTI))
    CHECK(13, TRAP_COUNT, 1)
    CHECK(14, TRAP_MTVAL, 0)
    CHECK_MASK(15, TRAP_MSTATUS, MSTATUS_MIE | MSTATUS_MPIE | MSTATUS_MPP,
               MSTATUS_MPIE | MSTATUS_MPP_M)
    csrr a0, mip
    CHECK_MASK(16, a0, MIP_MTIP, MIP_MTIP)  /* still pending: the timer is a level */
    TIMER_OFF
    csrr a0, mip
    CHECK_MASK(17, a0, MIP_MTIP, 0)         /* a future mtimecmp clears it */

    /* ---- masked in M-mode by MIE = 0 ... ---- */
    TRAP_CLEAR
    li t0, MIP_MTIP
    csrw mie, t0
    TIMER_AT(0)
    nop
    csrr a0, mip
    CHECK(20, TRAP_COUNT, 0)
    CHECK_MASK(21, a0, MIP_MTIP, MIP_MTIP)

    /* ---- ... but taken at once from S-mode, whatever MIE ---- */
    TRAP_CLEAR
    la TRAP_RESUME, 99f
    GO_MODE(PRV_S, 98f)
98: SPIN_UNTIL_TRAP(22)
99: CHECK(23, TRAP_MCAUSE, INTR(IRQ_MTI))
    CHECK_LABEL(24, TRAP_MEPC, 98b)
    CHECK_MASK(25, TRAP_MSTATUS, MSTATUS_MPP, MSTATUS_MPP_S)

    /* ---- and from U-mode ---- */
    li t0, MIP_MTIP
    csrw mie, t0
    TRAP_CLEAR
    la TRAP_RESUME, 99f
    GO_MODE(PRV_U, 98f)
98: SPIN_UNTIL_TRAP(29)
99: CHECK(26, TRAP_MCAUSE, INTR(IRQ_MTI))
    CHECK_LABEL(27, TRAP_MEPC, 98b)
    CHECK_MASK(28, TRAP_MSTATUS, MSTATUS_MPP, 0)

    TIMER_OFF
    TEST_PASS

    M_HANDLER_CODE
