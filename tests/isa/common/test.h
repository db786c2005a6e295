/*
 * Macros for bare-metal ISA tests (assembly, preprocessed by gcc).
 *
 * A test program runs in M-mode from _start with a stack in sp, FP enabled
 * (mstatus.FS = Initial), and mtvec pointing at a handler that fails the
 * test with code 255 unless the test installs its own.  It ends with
 * TEST_PASS or TEST_FAIL; the result leaves through QEMU virt's test
 * finisher at 0x100000, so the same ELF runs under
 *   qemu-system-riscv64 -M virt -bios none -kernel X.elf
 * and under
 *   hostel run --bios none -k X.elf
 * with the exit status of the emulator as the result: 0 = pass, otherwise
 * the number of the failing check (gp, as in riscv-tests).
 *
 * Checks: TEST_CASE(n, reg, expected, code...) runs code, then compares reg
 * with expected and fails with number n on a mismatch.
 */
#ifndef HOSTEL_TESTS_ISA_TEST_H
#define HOSTEL_TESTS_ISA_TEST_H

#define FINISHER_BASE 0x100000
#define FINISHER_PASS 0x5555
#define FINISHER_FAIL 0x3333

#define TESTNUM gp

#define TEST_BEGIN                                  \
    .section .text.init;                            \
    .globl _start;                                  \
_start:                                             \
    la sp, _stack_top;                              \
    la t0, test_default_trap;                       \
    csrw mtvec, t0;                                 \
    li t0, (1 << 13);                               \
    csrs mstatus, t0;                               \
    csrwi fcsr, 0;                                  \
    li TESTNUM, 0;                                  \
    j test_main;                                    \
    .align 2;                                       \
test_default_trap:                                  \
    li TESTNUM, 255;                                \
    j test_fail;                                    \
test_fail:                                          \
    slli t0, TESTNUM, 16;                           \
    li t1, FINISHER_FAIL;                           \
    or t0, t0, t1;                                  \
    li t1, FINISHER_BASE;                           \
    sw t0, 0(t1);                                   \
1:  j 1b;                                           \
test_pass:                                          \
    li t0, FINISHER_PASS;                           \
    li t1, FINISHER_BASE;                           \
    sw t0, 0(t1);                                   \
1:  j 1b;                                           \
    .section .tohost, "aw", @progbits;              \
    .align 6; .globl tohost; tohost: .dword 0;      \
    .size tohost, 8;                                \
    .align 6; .globl fromhost; fromhost: .dword 0;  \
    .size fromhost, 8;                              \
    .text;                                          \
test_main:

#define TEST_PASS j test_pass
#define TEST_FAIL j test_fail

/* Run code, then check that reg equals the 64-bit constant expected. */
#define TEST_CASE(n, reg, expected, code...)        \
    li TESTNUM, n;                                  \
    code;                                           \
    li t6, expected;                                \
    bne reg, t6, test_fail

/* Check that the accrued FP flags equal expected, then clear them. */
#define TEST_FFLAGS(n, expected)                    \
    li TESTNUM, n;                                  \
    csrrw t6, fflags, zero;                         \
    li t5, expected;                                \
    bne t6, t5, test_fail

#endif
