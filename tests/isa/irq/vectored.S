/*
 * Vectored mtvec (mode 1): an interrupt with cause c enters at base + 4*c
 * (MSI at +12, MTI at +28, MEI at +44), exceptions at base.  Each vector
 * entry notes its number in a7, then the recording M handler runs.
 */
#include "test.h"
#include "priv_macros.h"
#include "irq_macros.h"

/* Expect the vector entry (a7) and the interrupt cause of the last trap. */
#define CHECK_VECTOR(n, entry, cause)               \
    CHECK(n, a7, entry);                            \
    CHECK(n, TRAP_MCAUSE, cause)

TEST_BEGIN
    INSTALL_M_HANDLER
    PMP_ALLOW_ALL
    csrw mie, zero
    la t0, vector_table
    ori t0, t0, 1
    csrw mtvec, t0
    csrr a0, mtvec
    CHECK_REG(1, a0, t0)            /* mode 1 is supported */

    /* ---- MSI: base + 12 ---- */
    li a7, -1
    TRAP_CLEAR
    la TRAP_RESUME, 99f
    li t0, MIP_MSIP
    csrw mie, t0
    csrsi mstatus, MSTATUS_MIE
    MSIP_SET(1)
    SPIN_UNTIL_TRAP(2)
99: CHECK_VECTOR(3, 3, INTR(IRQ_MSI))
    MSIP_SET(0)

    /* ---- MTI: base + 28 ---- */
    li a7, -1
    TRAP_CLEAR
    la TRAP_RESUME, 99f
    TIMER_AT(0)
    li t0, MIP_MTIP
    csrw mie, t0
    csrsi mstatus, MSTATUS_MIE
    SPIN_UNTIL_TRAP(4)
99: CHECK_VECTOR(5, 7, INTR(IRQ_MTI))
    TIMER_OFF

    /* ---- MEI (PLIC source 10, the UART): base + 44 ---- */
    SW_CONST(PLIC_PRIO(UART_IRQ), 1)
    SW_CONST(PLIC_ENABLE(CTX_M0), 1 << UART_IRQ)
    SW_CONST(PLIC_THRESHOLD(CTX_M0), 0)
    li a7, -1
    TRAP_CLEAR
    la TRAP_RESUME, 99f
    li t0, MIP_MEIP
    csrw mie, t0
    csrsi mstatus, MSTATUS_MIE
    UART_IRQ_ON
    SPIN_UNTIL_TRAP(6)
99: CHECK_VECTOR(7, 11, INTR(IRQ_MEI))
    UART_IRQ_OFF
    LW_ADDR(a0, PLIC_CLAIM(CTX_M0))
    CHECK(8, a0, UART_IRQ)
    li t0, PLIC_CLAIM(CTX_M0)
    sw a0, 0(t0)

    /* ---- exceptions use the base ---- */
    li a7, -1
    TRAP_AT(ecall)
    CHECK_VECTOR(9, 0, CAUSE_ECALL_M)

    TEST_PASS

    M_HANDLER_CODE

    .align 8
    .option push
    .option norvc
vector_table:
    j vec0
    .rept 2
    j vec_bad
    .endr
    j vec3
    .rept 3
    j vec_bad
    .endr
    j vec7
    .rept 3
    j vec_bad
    .endr
    j vec11
    .rept 4
    j vec_bad
    .endr
    .option pop
vec0:  li a7, 0;  j m_trap_handler
vec3:  li a7, 3;  j m_trap_handler
vec7:  li a7, 7;  j m_trap_handler
vec11: li a7, 11; j m_trap_handler
vec_bad:
    li TESTNUM, 100
    j test_fail
