/*
 * PLIC, driven by the UART's interrupt (source 10): pending bit, priority
 * 0 never interrupts, threshold masking, claim/complete for the M context
 * of hart 0 (MEIP), the request staying pending after the line drops, and
 * the S context (SEIP) delegated to S-mode (scause 0x8000000000000009).
 */
#include "test.h"
#include "priv_macros.h"
#include "irq_macros.h"

#define SRC_BIT (1 << UART_IRQ)

TEST_BEGIN
    INSTALL_M_HANDLER
    INSTALL_S_HANDLER
    PMP_ALLOW_ALL
    csrw mie, zero

    /* ---- registers ---- */
    SW_CONST(PLIC_PRIO(UART_IRQ), 7)
    LW_ADDR(a0, PLIC_PRIO(UART_IRQ))
    CHECK(1, a0, 7)
    SW_CONST(PLIC_THRESHOLD(CTX_M0), 5)
    LW_ADDR(a0, PLIC_THRESHOLD(CTX_M0))
    CHECK(2, a0, 5)
    SW_CONST(PLIC_ENABLE(CTX_S0), 0xffffffff)
    LW_ADDR(a0, PLIC_ENABLE(CTX_S0))
    CHECK_MASK(3, a0, 0xfffffffe, 0xfffffffe) /* (bit 0: 0 on hostel, kept by QEMU) */
    SW_CONST(PLIC_ENABLE(CTX_S0), 0)
    SW_CONST(PLIC_PRIO(UART_IRQ), 0)
    SW_CONST(PLIC_THRESHOLD(CTX_M0), 0)

    /* ---- pending, but priority 0 and not enabled: quiet ---- */
    UART_IRQ_ON
    LW_ADDR(a0, PLIC_PENDING)
    CHECK_MASK(4, a0, SRC_BIT, SRC_BIT)
    SW_CONST(PLIC_ENABLE(CTX_M0), SRC_BIT)
    csrr a0, mip
    CHECK_MASK(5, a0, MIP_MEIP | MIP_SEIP, 0)  /* priority 0 never interrupts */
    SW_CONST(PLIC_PRIO(UART_IRQ), 3)
    csrr a0, mip
    CHECK_MASK(6, a0, MIP_MEIP | MIP_SEIP, MIP_MEIP)  /* only the enabled context */

    /* ---- threshold ---- */
    SW_CONST(PLIC_THRESHOLD(CTX_M0), 3)
    csrr a0, mip
    CHECK_MASK(7, a0, MIP_MEIP, 0)           /* priority must exceed it */
    LW_ADDR(a0, PLIC_CLAIM(CTX_M0))
    CHECK(8, a0, 0)                          /* nothing to claim above it */
    SW_CONST(PLIC_THRESHOLD(CTX_M0), 2)
    csrr a0, mip
    CHECK_MASK(9, a0, MIP_MEIP, MIP_MEIP)

    /* ---- claim / complete ---- */
    LW_ADDR(s1, PLIC_CLAIM(CTX_M0))
    CHECK(10, s1, UART_IRQ)
    csrr a0, mip
    CHECK_MASK(11, a0, MIP_MEIP, 0)          /* in service */
    LW_ADDR(a0, PLIC_PENDING)
    CHECK_MASK(12, a0, SRC_BIT, 0)           /* the claim cleared it */
    LW_ADDR(a0, PLIC_CLAIM(CTX_M0))
    CHECK(13, a0, 0)
    UART_IRQ_OFF
    li t0, PLIC_CLAIM(CTX_M0)
    sw s1, 0(t0)                             /* complete, line low */
    csrr a0, mip
    CHECK_MASK(14, a0, MIP_MEIP, 0)

    /* ---- a request stays pending when the line drops ---- */
    UART_IRQ_ON
    UART_IRQ_OFF
    LW_ADDR(a0, PLIC_PENDING)
    CHECK_MASK(15, a0, SRC_BIT, SRC_BIT)
    csrr a0, mip
    CHECK_MASK(16, a0, MIP_MEIP, MIP_MEIP)
    LW_ADDR(s1, PLIC_CLAIM(CTX_M0))
    CHECK(17, s1, UART_IRQ)
    li t0, PLIC_CLAIM(CTX_M0)
    sw s1, 0(t0)

    /* ---- MEI taken in M-mode ---- */
    TRAP_CLEAR
    la TRAP_RESUME, 99f
    li t0, MIP_MEIP
    csrw mie, t0
    csrsi mstatus, MSTATUS_MIE
    UART_IRQ_ON
    SPIN_UNTIL_TRAP(18)
99: CHECK(19, TRAP_MCAUSE, INTR(IRQ_MEI))
    LW_ADDR(s1, PLIC_CLAIM(CTX_M0))
    CHECK(20, s1, UART_IRQ)
    UART_IRQ_OFF
    li t0, PLIC_CLAIM(CTX_M0)
    sw s1, 0(t0)
    SW_CONST(PLIC_ENABLE(CTX_M0), 0)

    /* ---- the S context: SEIP, delegated to S-mode ---- */
    li t0, MIP_SEIP
    csrw mideleg, t0
    csrw mie, t0
    SW_CONST(PLIC_ENABLE(CTX_S0), SRC_BIT)
    SW_CONST(PLIC_THRESHOLD(CTX_S0), 0)
    UART_IRQ_ON
    csrr a0, mip
    CHECK_MASK(21, a0, MIP_MEIP | MIP_SEIP, MIP_SEIP)
    RUN_IN(PRV_S, csrsi sstatus, MSTATUS_SIE; 90: SPIN_UNTIL_TRAP(22))
    CHECK(23, TRAP_SCAUSE, INTR(IRQ_SEI))
    CHECK_LABEL(24, TRAP_SEPC, 90b)
    LW_ADDR(a0, PLIC_CLAIM(CTX_M0))
    CHECK(25, a0, 0)                         /* not enabled for the M context */
    LW_ADDR(s1, PLIC_CLAIM(CTX_S0))
    CHECK(26, s1, UART_IRQ)
    UART_IRQ_OFF
    li t0, PLIC_CLAIM(CTX_S0)
    sw s1, 0(t0)
    csrr a0, mip
    CHECK_MASK(27, a0, MIP_SEIP, 0)

    TEST_PASS

    M_HANDLER_CODE
    S_HANDLER_CODE
