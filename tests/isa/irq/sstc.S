/*
 * Sstc: with menvcfg.STCE set, STIP is the level time >= stimecmp (S-mode
 * writes stimecmp directly); the supervisor timer interrupt is taken by S
 * when delegated (scause 0x8000000000000005), writing a future value
 * clears STIP at once, and M can no longer write mip.STIP.
 */
#include "test.h"
#include "priv_macros.h"
#include "irq_macros.h"

#define MENVCFG_STCE (1 << 63)
#define CSR_STIMECMP 0x14d

TEST_BEGIN
    INSTALL_M_HANDLER
    INSTALL_S_HANDLER
    PMP_ALLOW_ALL
    csrw mie, zero
    li t0, -1
    csrw mcounteren, t0             /* S may read time */
    li t0, MENVCFG_STCE
    csrs menvcfg, t0
    csrr a0, menvcfg
    CHECK(1, a0, MENVCFG_STCE)

    /* ---- STIP follows stimecmp ---- */
    li t0, -1
    csrw CSR_STIMECMP, t0
    csrr a0, mip
    CHECK_MASK(2, a0, MIP_STIP, 0)
    csrw CSR_STIMECMP, zero
    DEADLINE(a3, 2000)
1:  csrr a0, mip                    /* due: STIP rises (soon) */
    andi a0, a0, MIP_STIP
    bnez a0, 2f
    li t0, MTIME
    ld a1, 0(t0)
    li TESTNUM, 3
    bgeu a1, a3, test_fail
    j 1b
2:  li t0, -1
    csrw CSR_STIMECMP, t0
    csrr a0, mip
    CHECK_MASK(4, a0, MIP_STIP, 0)  /* a future stimecmp clears it at once */
    li t0, MIP_STIP
    csrs mip, t0
    csrr a0, mip
    CHECK_MASK(10, a0, MIP_STIP, 0)  /* under STCE, mip.STIP is read-only */

    /* ---- S programs its timer and takes the interrupt ---- */
    li t0, MIP_STIP
    csrw mideleg, t0
    csrw mie, t0
    RUN_IN(PRV_S,
        csrr t1, CSR_STIMECMP;
        li t0, -1; bne t1, t0, test_fail;
        rdtime t1; li t0, TICKS_PER_MS; add t1, t1, t0;
        csrw CSR_STIMECMP, t1;
        csrsi sstatus, MSTATUS_SIE;
        SPIN_UNTIL_TRAP(5))
    CHECK(6, TRAP_SCAUSE, INTR(IRQ_STI))
    CHECK(7, TRAP_MCAUSE, CAUSE_ECALL_S)
    li t0, -1
    csrw CSR_STIMECMP, t0

    /* ---- STCE clear: S cannot reach stimecmp ---- */
    li t0, MENVCFG_STCE
    csrc menvcfg, t0
    RUN_IN(PRV_S, 91: csrr t1, CSR_STIMECMP)
    CHECK(8, TRAP_MCAUSE, CAUSE_ILLEGAL_INSN)
    CHECK_LABEL(9, TRAP_MEPC, 91b)

    TEST_PASS

    M_HANDLER_CODE
    S_HANDLER_CODE
