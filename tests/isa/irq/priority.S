/*
 * Interrupt priority (privileged spec 3.1.9): interrupts pending together
 * are taken in the order MEI, MSI, MTI, then SEI, SSI, STI.  The handler
 * here records each mcause, silences that source (PLIC claim + UART IER =
 * 0 + complete, msip = 0, mtimecmp = -1, mip bits) and returns.
 *
 * Hostel only: QEMU 7.2 without AIA takes the lowest-numbered pending
 * interrupt first (MSI, MTI, MEI; SSI, STI, SEI), against the spec.
 */
#include "test.h"
#include "priv_macros.h"
#include "irq_macros.h"

/*
 * With MIE = 1 and mask enabled in mie, wait (2 s at most, test n) until
 * three interrupts were recorded at seen.
 */
#define TAKE_THREE(n, mask)                         \
    la s1, seen;                                    \
    li t0, mask;                                    \
    csrw mie, t0;                                   \
    csrsi mstatus, MSTATUS_MIE;                     \
    li TESTNUM, n;                                  \
    DEADLINE(a3, 2000);                             \
    la a2, seen + 24;                               \
80: beq s1, a2, 81f;                                \
    li t0, MTIME;                                   \
    ld a1, 0(t0);                                   \
    bltu a1, a3, 80b;                               \
    j test_fail;                                    \
81: csrci mstatus, MSTATUS_MIE

/* Check the k-th recorded mcause. */
#define CHECK_SEEN(n, k, cause)                     \
    la a2, seen;                                    \
    ld a0, 8 * (k)(a2);                             \
    CHECK(n, a0, cause)

TEST_BEGIN
    PMP_ALLOW_ALL
    la t0, prio_handler
    csrw mtvec, t0
    csrw mie, zero
    csrw mideleg, zero
    TIMER_OFF
    SW_CONST(PLIC_PRIO(UART_IRQ), 1)
    SW_CONST(PLIC_THRESHOLD(CTX_M0), 0)
    SW_CONST(PLIC_THRESHOLD(CTX_S0), 0)

    /* ---- M level: raised in the order MTI, MSI, MEI ---- */
    SW_CONST(PLIC_ENABLE(CTX_M0), 1 << UART_IRQ)
    TIMER_AT(0)
    MSIP_SET(1)
    UART_IRQ_ON
    csrr a0, mip
    CHECK_MASK(1, a0, MIP_MEIP | MIP_MSIP | MIP_MTIP, MIP_MEIP | MIP_MSIP | MIP_MTIP)
    TAKE_THREE(2, MIP_MEIP | MIP_MSIP | MIP_MTIP)
    CHECK_SEEN(3, 0, INTR(IRQ_MEI))
    CHECK_SEEN(4, 1, INTR(IRQ_MSI))
    CHECK_SEEN(5, 2, INTR(IRQ_MTI))
    csrr a0, mip
    CHECK_MASK(6, a0, MIP_MEIP | MIP_MSIP | MIP_MTIP, 0)
    SW_CONST(PLIC_ENABLE(CTX_M0), 0)

    /* ---- S level (not delegated, so taken by M): STI, SSI, SEI raised ---- */
    SW_CONST(PLIC_ENABLE(CTX_S0), 1 << UART_IRQ)
    li t0, MIP_STIP | MIP_SSIP
    csrs mip, t0
    UART_IRQ_ON
    csrr a0, mip
    CHECK_MASK(7, a0, MIP_SEIP | MIP_SSIP | MIP_STIP, MIP_SEIP | MIP_SSIP | MIP_STIP)
    TAKE_THREE(8, MIP_SEIP | MIP_SSIP | MIP_STIP)
    CHECK_SEEN(9, 0, INTR(IRQ_SEI))
    CHECK_SEEN(10, 1, INTR(IRQ_SSI))
    CHECK_SEEN(11, 2, INTR(IRQ_STI))

    TEST_PASS

    .align 4
prio_handler:
    csrr t3, mcause
    sd t3, 0(s1)
    addi s1, s1, 8
    li t4, INTR(IRQ_MEI)
    beq t3, t4, 1f
    li t4, INTR(IRQ_SEI)
    beq t3, t4, 2f
    li t4, INTR(IRQ_MSI)
    beq t3, t4, 3f
    li t4, INTR(IRQ_MTI)
    beq t3, t4, 4f
    li t4, INTR(IRQ_SSI)
    beq t3, t4, 5f
    li t4, INTR(IRQ_STI)
    beq t3, t4, 6f
    li TESTNUM, 100                 /* anything else */
    j test_fail
1:  li t5, PLIC_CLAIM(CTX_M0)
    j 7f
2:  li t5, PLIC_CLAIM(CTX_S0)
7:  lw t4, 0(t5)                    /* claim */
    UART_IRQ_OFF
    sw t4, 0(t5)                    /* complete */
    mret
3:  MSIP_SET(0)
    mret
4:  TIMER_OFF
    mret
5:  li t0, MIP_SSIP
    csrc mip, t0
    mret
6:  li t0, MIP_STIP
    csrc mip, t0
    mret

    .data
    .align 3
seen: .dword -1, -1, -1, -1
