/*
 * Synchronous exceptions: cause, epc and tval for illegal instructions (32-
 * and 16-bit), breakpoints, ecall from U/S/M, load/store/fetch access faults,
 * jalr to an odd address, misaligned loads and stores (QEMU and hostel do them
 * in hardware) and misaligned LR/AMO (trap), and the mstatus stack on a trap.
 */
#include "test.h"
#include "priv_macros.h"

#define HOLE 0x200000     /* nothing is mapped here on the virt board */

/* The breakpoint tval is 0 (QEMU 7.2) or the pc (spec's preference). */
#define CHECK_BREAK_TVAL(n, label)                  \
    li TESTNUM, n;                                  \
    beqz TRAP_MTVAL, 1f;                            \
    bne TRAP_MTVAL, TRAP_MEPC, test_fail;           \
1:

TEST_BEGIN
    INSTALL_M_HANDLER
    PMP_ALLOW_ALL

    /* ---- illegal instructions: tval = the instruction bits ---- */
    TRAP_AT(.word 0xfe000033)       /* OP with funct7 0x7f */
    CHECK_MTRAP(1, CAUSE_ILLEGAL_INSN, 91b, 0xfe000033)   /* zero-extended */
    TRAP_AT(.word 0x0000007b)       /* custom-3 */
    CHECK_MTRAP(2, CAUSE_ILLEGAL_INSN, 91b, 0x7b)
    TRAP_AT(.hword 0x8002)          /* c.jr x0: reserved */
    CHECK_MTRAP(3, CAUSE_ILLEGAL_INSN, 91b, 0x8002)
    TRAP_AT(.hword 0x0000)          /* the all-zero 16-bit encoding */
    CHECK_MTRAP(4, CAUSE_ILLEGAL_INSN, 91b, 0)
    TRAP_AT(.hword 0x6081)          /* c.lui x1, 0: reserved */
    CHECK_MTRAP(5, CAUSE_ILLEGAL_INSN, 91b, 0x6081)
    TRAP_AT(.word 0x30208073)       /* mret with rs1 = x1 */
    CHECK_MTRAP(6, CAUSE_ILLEGAL_INSN, 91b, 0x30208073)
    TRAP_AT(.word 0x105000f3)       /* wfi with rd = x1 */
    CHECK_MTRAP(7, CAUSE_ILLEGAL_INSN, 91b, 0x105000f3)
    /* 16-bit illegal right before a 32-bit one: the length is per insn */
    TRAP_AT(.hword 0x0000; .word 0xfe000033)
    CHECK_MTRAP(8, CAUSE_ILLEGAL_INSN, 91b, 0)

    /* ---- breakpoints ---- */
    TRAP_AT(ebreak)
    CHECK_MEXC(10, CAUSE_BREAKPOINT, 91b)
    CHECK_BREAK_TVAL(10, 91b)
    .option push
    .option rvc
    TRAP_AT(c.ebreak)
    .option pop
    CHECK_MEXC(11, CAUSE_BREAKPOINT, 91b)
    CHECK_BREAK_TVAL(11, 91b)
    RUN_IN(PRV_U, 91: ebreak)
    CHECK_MEXC(12, CAUSE_BREAKPOINT, 91b)
    CHECK_BREAK_TVAL(12, 91b)
    CHECK_MASK(12, TRAP_MSTATUS, MSTATUS_MPP, 0)

    /* ---- ecall from each mode: tval 0 ---- */
    TRAP_AT(ecall)
    CHECK_MTRAP(13, CAUSE_ECALL_M, 91b, 0)
    RUN_IN(PRV_S, nop)
    CHECK_MTRAP(14, CAUSE_ECALL_S, 97b, 0)
    CHECK_MASK(14, TRAP_MSTATUS, MSTATUS_MPP, MSTATUS_MPP_S)
    RUN_IN(PRV_U, nop)
    CHECK_MTRAP(15, CAUSE_ECALL_U, 97b, 0)
    CHECK_MASK(15, TRAP_MSTATUS, MSTATUS_MPP, 0)

    /* ---- the trap stack: MPIE = old MIE, MIE = 0, MPP = old mode ---- */
    csrw mie, zero
    csrsi mstatus, MSTATUS_MIE
    TRAP_AT(ecall)
    CHECK_MASK(16, TRAP_MSTATUS, MSTATUS_MIE | MSTATUS_MPIE | MSTATUS_MPP,
               MSTATUS_MPIE | MSTATUS_MPP_M)
    csrr a0, mstatus                /* the handler resumes with MIE = 0 */
    CHECK_MASK(17, a0, MSTATUS_MIE, 0)
    TRAP_AT(ecall)
    CHECK_MASK(18, TRAP_MSTATUS, MSTATUS_MIE | MSTATUS_MPIE, 0)

    /* ---- access faults: nothing mapped ---- */
    li a1, HOLE
    TRAP_AT(lw a0, 0(a1))
    CHECK_MTRAP(19, CAUSE_LOAD_ACCESS, 91b, HOLE)
    TRAP_AT(ld a0, 16(a1))
    CHECK_MTRAP(20, CAUSE_LOAD_ACCESS, 91b, HOLE + 16)
    TRAP_AT(lbu a0, -1(zero))       /* the top of the address space */
    CHECK_MTRAP(21, CAUSE_LOAD_ACCESS, 91b, -1)
    TRAP_AT(sd a0, 8(a1))
    CHECK_MTRAP(22, CAUSE_STORE_ACCESS, 91b, HOLE + 8)
    TRAP_AT(sb a0, 3(a1))
    CHECK_MTRAP(23, CAUSE_STORE_ACCESS, 91b, HOLE + 3)
    TRAP_AT(lw a0, 0(zero))
    CHECK_MTRAP(24, CAUSE_LOAD_ACCESS, 91b, 0)
    TRAP_AT(fld f1, 0(a1))
    CHECK_MTRAP(25, CAUSE_LOAD_ACCESS, 91b, HOLE)
    TRAP_AT(fsw f1, 4(a1))
    CHECK_MTRAP(26, CAUSE_STORE_ACCESS, 91b, HOLE + 4)
    TRAP_AT(lr.w a0, (a1))
    CHECK_MTRAP(27, CAUSE_LOAD_ACCESS, 91b, HOLE)
    /* an AMO is a store/AMO access fault (QEMU 7.2 reports a load fault) */
    TRAP_AT(amoadd.d a0, a0, (a1))
    CHECK(28, TRAP_MTVAL, HOLE)
    CHECK_LABEL(28, TRAP_MEPC, 91b)
    li t0, CAUSE_STORE_ACCESS
    beq TRAP_MCAUSE, t0, 1f
    CHECK(28, TRAP_MCAUSE, CAUSE_LOAD_ACCESS)
1:
    /* the same from U: PMP allows all, the bus still faults */
    RUN_IN(PRV_U, 91: sw a0, 0(a1))
    CHECK_MTRAP(29, CAUSE_STORE_ACCESS, 91b, HOLE)
    CHECK_MASK(29, TRAP_MSTATUS, MSTATUS_MPP, 0)
    /* fetch: epc = tval = the target */
    TRAP_AT(li a2, HOLE; jalr ra, 0(a2))
    CHECK(30, TRAP_MCAUSE, CAUSE_FETCH_ACCESS)
    CHECK(30, TRAP_MEPC, HOLE)
    CHECK(30, TRAP_MTVAL, HOLE)
    TRAP_AT(li a2, HOLE; jalr ra, 0x42(a2))
    CHECK(31, TRAP_MCAUSE, CAUSE_FETCH_ACCESS)
    CHECK(31, TRAP_MEPC, HOLE + 0x42)
    CHECK(31, TRAP_MTVAL, HOLE + 0x42)
    RUN_IN(PRV_S, li a2, 0; jr a2)
    CHECK(32, TRAP_MCAUSE, CAUSE_FETCH_ACCESS)
    CHECK(32, TRAP_MEPC, 0)
    CHECK(32, TRAP_MTVAL, 0)
    CHECK_MASK(32, TRAP_MSTATUS, MSTATUS_MPP, MSTATUS_MPP_S)

    /* ---- jalr clears bit 0 of the target ---- */
    TRAP_CLEAR
    la a2, 1f + 1
    jalr ra, 0(a2)
2:  j test_fail
1:  CHECK(33, TRAP_COUNT, 0)
    CHECK_LABEL(34, ra, 2b)
    la a2, 1f - 1
    jalr zero, 2(a2)                /* even base, odd sum */
    j test_fail
1:  CHECK(35, TRAP_COUNT, 0)

    /* ---- misaligned loads and stores are done, not trapped ---- */
    la a1, buf
    li t0, 0x0807060504030201
    sd t0, 0(a1)
    li t0, 0x100f0e0d0c0b0a09
    sd t0, 8(a1)
    TRAP_CLEAR
    TEST_CASE(36, a0, 0x0908070605040302, ld a0, 1(a1))
    TEST_CASE(37, a0, 0x0f0e0d0c0b0a0908, ld a0, 7(a1))
    TEST_CASE(38, a0, 0x06050403, lwu a0, 2(a1))
    TEST_CASE(39, a0, 0x0c0b0a09, lw a0, 8(a1))
    TEST_CASE(40, a0, 0x0807, lhu a0, 6(a1))
    TEST_CASE(41, a0, 0x0a09, lh a0, 8(a1))
    TEST_CASE(42, a0, 0x0302, lh a0, 1(a1))
    li t0, 0xf1f2f3f4f5f6f7f8
    sd t0, 3(a1)
    TEST_CASE(43, a0, 0xf4f5f6f7f8030201, ld a0, 0(a1))
    TEST_CASE(44, a0, 0x100f0e0d0cf1f2f3, ld a0, 8(a1))
    li t0, 0xa1a2a3a4
    sw t0, 13(a1)
    TEST_CASE(45, a0, 0xa2a3a40d0cf1f2f3, ld a0, 8(a1))
    li t0, 0xb1b2
    sh t0, 7(a1)
    TEST_CASE(46, a0, 0xb2f5f6f7f8030201, ld a0, 0(a1))
    TEST_CASE(47, a0, 0xa2a3a40d0cf1f2b1, ld a0, 8(a1))
    /* floating point too */
    li t0, 0x400921fb54442d18
    fmv.d.x f1, t0
    fsd f1, 5(a1)
    fld f2, 5(a1)
    TEST_CASE(48, a0, 0x400921fb54442d18, fmv.x.d a0, f2)
    flw f3, 6(a1)
    TEST_CASE(49, a0, 0xfffffffffb54442d, fmv.x.d a0, f3)  /* NaN-boxed */
    /* across a page boundary */
    la a2, page_edge
    li t0, 0x1122334455667788
    sd t0, -3(a2)
    TEST_CASE(50, a0, 0x1122334455667788, ld a0, -3(a2))
    TEST_CASE(51, a0, 0x11223344, lwu a0, 1(a2))
    CHECK(52, TRAP_COUNT, 0)
    /* and in U-mode */
    RUN_IN(PRV_U, ld a0, -3(a2); sw a0, -1(a2))
    CHECK(53, TRAP_MCAUSE, CAUSE_ECALL_U)
    CHECK(54, a0, 0x1122334455667788)
    TEST_CASE(55, a0, 0x55667788, lwu a0, -1(a2))

    /* ---- misaligned LR/AMO trap: LR with cause 4, AMO with cause 6 ---- */
    la a1, buf
    addi a2, a1, 8
    TRAP_AT(lr.d a0, (a1); lr.d a0, (a2); lr.w a0, (a2))  /* aligned: no trap */
    CHECK(56, TRAP_COUNT, 0)
    addi a2, a1, 4
    TRAP_AT(lr.d a0, (a2))
    CHECK_MEXC(57, CAUSE_MISALIGNED_LOAD, 91b)
    CHECK_REG(57, TRAP_MTVAL, a2)
    addi a2, a1, 2
    TRAP_AT(lr.w a0, (a2))
    CHECK_MEXC(58, CAUSE_MISALIGNED_LOAD, 91b)
    CHECK_REG(58, TRAP_MTVAL, a2)
    addi a2, a1, 1
    TRAP_AT(amoswap.w a0, a0, (a2))
    CHECK_REG(59, TRAP_MTVAL, a2)
    CHECK_LABEL(59, TRAP_MEPC, 91b)
    /* QEMU 7.2 reports cause 4 for AMOs; the spec says 6 */
    li t0, CAUSE_MISALIGNED_LOAD
    beq TRAP_MCAUSE, t0, 1f
    CHECK(59, TRAP_MCAUSE, CAUSE_MISALIGNED_STORE)
1:  addi a2, a1, 4
    sd zero, 0(a1)
    TRAP_AT(amoadd.d a0, a0, (a2))
    CHECK_REG(60, TRAP_MTVAL, a2)
    li t0, CAUSE_MISALIGNED_LOAD
    beq TRAP_MCAUSE, t0, 1f
    CHECK(60, TRAP_MCAUSE, CAUSE_MISALIGNED_STORE)
1:  TEST_CASE(61, a0, 0, ld a0, 0(a1))              /* memory untouched */

    TEST_PASS

    M_HANDLER_CODE

    .data
    .align 4
buf: .dword 0, 0, 0, 0
    .align 12
    .space 4096 - 8
    .dword 0
page_edge:
    .dword 0, 0
