/*
 * Requirements of the privileged spec 1.12 (and the A extension) that QEMU
 * 7.2 does not meet, so this test has no QEMU peer: it documents where an
 * emulator that follows the spec parts from QEMU.  Each check names QEMU
 * 7.2's behaviour.
 */
#include "test.h"
#include "priv_macros.h"

#define CLINT_MSIP     0x2000000
#define CLINT_MTIMECMP 0x2004000

TEST_BEGIN
    INSTALL_M_HANDLER
    PMP_ALLOW_ALL
    csrw mie, zero

    /* xepc[0] is always zero (QEMU keeps bit 0) */
    li a1, 0x80001001
    TEST_CASE(1, a0, 0x80001000, csrw mepc, a1; csrr a0, mepc)
    TEST_CASE(2, a0, 0x80001000, csrw sepc, a1; csrr a0, sepc)

    /* MPP cannot hold the reserved value 2 (QEMU stores it; mret then
     * enters U) */
    li t0, MSTATUS_MPP
    csrc mstatus, t0
    li t0, 2 << 11
    csrs mstatus, t0
    csrr a0, mstatus
    srli a0, a0, 11
    andi a0, a0, 3
    li TESTNUM, 3
    li t6, 2
    beq a0, t6, test_fail

    /* UXL is read-only 2 (QEMU lets any nonzero value in) */
    li t0, 1 << 32
    csrs mstatus, t0
    csrr a0, mstatus
    CHECK_MASK(4, a0, 0xf << 32, 0xa << 32)
    li t0, 3 << 32
    csrs sstatus, t0
    csrr a0, sstatus
    CHECK_MASK(5, a0, 3 << 32, 2 << 32)

    /* medeleg[11] (ecall from M) is read-only zero (QEMU: writable) */
    li t0, -1
    csrw medeleg, t0
    csrr a0, medeleg
    csrw medeleg, zero
    CHECK_MASK(6, a0, 1 << 11, 0)

    /* mcountinhibit bit 1 (no TM) is zero (QEMU: writable) */
    li t0, 2
    csrw mcountinhibit, t0
    csrr a0, mcountinhibit
    csrw mcountinhibit, zero
    CHECK_MASK(7, a0, 2, 0)

    /* pmpaddr holds bits 55:2 only: bits 63:54 are zero (QEMU keeps all) */
    li t0, -1
    csrw pmpaddr1, t0
    csrr a0, pmpaddr1
    csrw pmpaddr1, zero
    CHECK(8, a0, 0x003fffffffffffff)

    /* mret and sret to a mode below M clear MPRV (QEMU keeps it) */
    li t0, MSTATUS_MPRV
    csrs mstatus, t0
    RUN_IN(PRV_S, nop)
    CHECK_MASK(9, TRAP_MSTATUS, MSTATUS_MPRV, 0)
    li t0, MSTATUS_MPRV | MSTATUS_SPP
    csrs mstatus, t0
    TRAP_CLEAR
    la s8, 2f
    la t0, 1f
    csrw sepc, t0
    sret
1:  ecall
2:  CHECK_MASK(10, TRAP_MSTATUS, MSTATUS_MPRV, 0)
    li t0, MSTATUS_MPRV
    csrc mstatus, t0

    /* a misaligned AMO is a store/AMO misaligned exception, 6 (QEMU: 4) */
    la a1, buf + 1
    TRAP_AT(amoadd.w a0, a0, (a1))
    CHECK_MEXC(11, CAUSE_MISALIGNED_STORE, 91b)
    CHECK_REG(11, TRAP_MTVAL, a1)
    /* an AMO to nothing is a store/AMO access fault, 7 (QEMU: 5) */
    li a1, 0x200000
    TRAP_AT(amoor.d a0, a0, (a1))
    CHECK_MTRAP(12, CAUSE_STORE_ACCESS, 91b, 0x200000)
    /* a misaligned SC traps even without a reservation (QEMU: fails
     * silently) */
    la a1, buf + 4
    TRAP_AT(sc.d a0, a0, (a1))
    CHECK_MEXC(13, CAUSE_MISALIGNED_STORE, 91b)

    /*
     * Interrupt priority MEI > MSI > MTI > SEI > SSI > STI (QEMU takes the
     * lowest-numbered pending bit: SSI > MSI > STI > MTI > SEI).
     */
#define TAKE_ONE                                    \
    TRAP_CLEAR;                                     \
    la s8, 1f;                                      \
    li t0, MIP_MSIP | MIP_MTIP | MIP_SEIP | MIP_SSIP | MIP_STIP; \
    csrw mie, t0;                                   \
    csrsi mstatus, MSTATUS_MIE;                     \
    nop;                                            \
    j test_fail;                                    \
1:
    li t0, CLINT_MSIP
    li t1, 1
    sw t1, 0(t0)
    li t0, CLINT_MTIMECMP
    sd zero, 0(t0)
    li t0, MIP_SEIP | MIP_SSIP | MIP_STIP
    csrs mip, t0
    TAKE_ONE
    CHECK(14, TRAP_MCAUSE, INTR(IRQ_MSI))
    li t0, CLINT_MSIP
    sw zero, 0(t0)
    TAKE_ONE
    CHECK(15, TRAP_MCAUSE, INTR(IRQ_MTI))
    li t0, CLINT_MTIMECMP
    li t1, -1
    sd t1, 0(t0)
    TAKE_ONE
    CHECK(16, TRAP_MCAUSE, INTR(IRQ_SEI))
    li t0, MIP_SEIP
    csrc mip, t0
    TAKE_ONE
    CHECK(17, TRAP_MCAUSE, INTR(IRQ_SSI))
    li t0, MIP_SSIP
    csrc mip, t0
    TAKE_ONE
    CHECK(18, TRAP_MCAUSE, INTR(IRQ_STI))
    li t0, MIP_STIP
    csrc mip, t0
    csrw mie, zero

    TEST_PASS

    M_HANDLER_CODE

    .data
    .align 4
buf: .dword 0, 0
