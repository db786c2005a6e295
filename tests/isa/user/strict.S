/*
 * Spec requirements that QEMU 7.2 (our peer) does not meet, so these run
 * under hostel only (peer 'none'):
 *  - a misaligned AMO raises store/AMO address-misaligned (6) or access
 *    fault (7); QEMU 7.2 reports load address-misaligned (4);
 *  - a misaligned SC raises 6 or 7 even when it would fail; QEMU 7.2 just
 *    fails it;
 *  - csrrs/csrrc with rs1 != x0 attempt a write even when the register
 *    holds 0, so on a read-only CSR they trap; QEMU 7.2 does not trap;
 *  - an FP instruction that changes only fflags changes FP state, so
 *    mstatus.FS becomes Dirty; QEMU 7.2 leaves it Clean.
 */
#include "user_macros.h"

/* Run code; the trap it takes must be store/AMO misaligned or access fault. */
#define TEST_AMO_TRAP(n, code...)                                       \
    TEST_CASE(n, a0, 1, li s11, -1; code; addi a0, s11, -6; sltiu a0, a0, 2)

TEST_BEGIN
    TRAP_INSTALL
    la s0, amo_area
    li a1, 0x0123456789abcdef
    sd a1, 0(s0)
    sd a1, 8(s0)
    li a2, 1

    /* misaligned AMOs, every width and a few offsets */
    TEST_AMO_TRAP(1, addi a1, s0, 2; amoadd.w a0, a2, (a1))
    TEST_AMO_TRAP(2, addi a1, s0, 1; amoswap.w a0, a2, (a1))
    TEST_AMO_TRAP(3, addi a1, s0, 3; amoor.w x0, a2, (a1))
    TEST_AMO_TRAP(4, addi a1, s0, 4; amoswap.d a0, a2, (a1))
    TEST_AMO_TRAP(5, addi a1, s0, 2; amomaxu.d a0, a2, (a1))
    TEST_AMO_TRAP(6, addi a1, s0, 7; amoand.d a0, a2, (a1))
    /* rd is not written by the trapping AMO */
    TEST_CASE(7, a0, 77, li a0, 77; addi a1, s0, 4; amoadd.d a0, a2, (a1))

    /* misaligned SC, with a reservation on the aligned address and without */
    TEST_AMO_TRAP(8, lr.d a0, (s0); addi a1, s0, 4; sc.d a0, a2, (a1))
    TEST_AMO_TRAP(9, lr.w a0, (s0); addi a1, s0, 2; sc.w a0, a2, (a1))
    TEST_AMO_TRAP(10, addi a1, s0, 1; sc.w a0, a2, (a1))

    /* memory untouched by all of the above */
    TEST_CASE(11, a0, 0x0123456789abcdef, ld a0, 0(s0))
    TEST_CASE(12, a0, 0x0123456789abcdef, ld a0, 8(s0))

    /* csrrs/csrrc with a zero-valued rs1 != x0 on read-only CSRs */
    TEST_TRAP(13, 2, li a1, 0; csrrs a0, cycle, a1)
    TEST_TRAP(14, 2, li a1, 0; csrrc a0, mhartid, a1)
    TEST_TRAP(15, 2, li a1, 0; csrrs x0, instret, a1)

    /* FS = Clean; feq on a signalling NaN sets NV only: FS must become Dirty */
    TEST_CASE(16, a0, 3, FLOAD_S(fa1, 0x7f800001); li t0, 0x6000; csrc mstatus, t0; \
              li t0, 0x4000; csrs mstatus, t0; feq.s a2, fa1, fa1;                  \
              csrr a0, mstatus; srli a0, a0, 13; andi a0, a0, 3)
    TEST_FFLAGS(17, 0x10)

    TEST_PASS

    USER_TRAP_HANDLER

    .data
    .balign 64
amo_area:
    .dword 0, 0
