/*
 * RV64M: multiplication (low and all three high-half forms), division and
 * remainder including division by zero and signed overflow, and the W forms
 * with their 32-bit sign-extended results.
 */
#include "user_macros.h"

#define I64_MIN 0x8000000000000000
#define I64_MAX 0x7fffffffffffffff
#define U64_MAX 0xffffffffffffffff

TEST_BEGIN

    /* mul: low 64 bits of the product, any signs */
    TEST_RR(1, mul, 21, 3, 7)
    TEST_RR(2, mul, -21, -3, 7)
    TEST_RR(3, mul, 1, -1, -1)
    TEST_RR(4, mul, I64_MIN, I64_MIN, -1)
    TEST_RR(5, mul, 0, 0x100000000, 0x100000000)
    TEST_RR(6, mul, 1, I64_MAX, I64_MAX)
    TEST_CASE(7, a0, 0xfffe0002fffe0001, li a0, 0xffff0001; mul a0, a0, a0)   /* rd = rs1 = rs2 */

    /* mulh: signed x signed, high 64 bits */
    TEST_RR(8, mulh, 0x4000000000000000, I64_MIN, I64_MIN)
    TEST_RR(9, mulh, 0, -1, -1)
    TEST_RR(10, mulh, -1, -1, 1)
    TEST_RR(11, mulh, 0x3fffffffffffffff, I64_MAX, I64_MAX)
    TEST_RR(12, mulh, 0xc000000000000000, I64_MIN, I64_MAX)
    TEST_RR(13, mulh, 0, 3, 7)
    TEST_RR(14, mulh, -1, -3, 7)

    /* mulhu: unsigned x unsigned */
    TEST_RR(15, mulhu, 0xfffffffffffffffe, U64_MAX, U64_MAX)
    TEST_RR(16, mulhu, 1, I64_MIN, 2)
    TEST_RR(17, mulhu, 0, 3, 7)
    TEST_RR(18, mulhu, 0x7fffffffffffffff, U64_MAX, I64_MIN)

    /* mulhsu: rs1 signed, rs2 unsigned */
    TEST_RR(19, mulhsu, -1, -1, U64_MAX)
    TEST_RR(20, mulhsu, -2, -2, U64_MAX)
    TEST_RR(21, mulhsu, 0, 1, U64_MAX)
    TEST_RR(22, mulhsu, I64_MIN, I64_MIN, U64_MAX)
    TEST_RR(23, mulhsu, 0x7ffffffffffffffe, I64_MAX, U64_MAX)
    TEST_RR(24, mulhsu, -1, -3, 7)
    /* rs2 = -1 is read as 2^64 - 1 (the signed reading would give 0 here) */
    TEST_RR(25, mulhsu, 2, 3, -1)

    /* div/divu: truncation toward zero, divide by zero, overflow */
    TEST_RR(26, div, 3, 20, 6)
    TEST_RR(27, div, -3, -20, 6)
    TEST_RR(28, div, -3, 20, -6)
    TEST_RR(29, div, 3, -20, -6)
    TEST_RR(30, div, I64_MIN, I64_MIN, -1)
    TEST_RR(31, div, -1, 20, 0)
    TEST_RR(32, div, -1, -20, 0)
    TEST_RR(33, divu, 3, 20, 6)
    TEST_RR(34, divu, 0x2aaaaaaaaaaaaaa7, -20, 6)
    TEST_RR(35, divu, 0, 20, -6)
    TEST_RR(36, divu, U64_MAX, 20, 0)
    TEST_RR(37, divu, 0, I64_MIN, -1)

    /* rem/remu: sign follows the dividend; by zero returns the dividend */
    TEST_RR(38, rem, 2, 20, 6)
    TEST_RR(39, rem, -2, -20, 6)
    TEST_RR(40, rem, 2, 20, -6)
    TEST_RR(41, rem, -2, -20, -6)
    TEST_RR(42, rem, 0, I64_MIN, -1)
    TEST_RR(43, rem, 20, 20, 0)
    TEST_RR(44, rem, I64_MIN, I64_MIN, 0)
    TEST_RR(45, remu, 2, 20, 6)
    TEST_RR(46, remu, 2, -20, 6)
    TEST_RR(47, remu, 20, 20, -6)
    TEST_RR(48, remu, -20, -20, 0)

    /* mulw: low 32 bits of the product, sign-extended; upper inputs ignored */
    TEST_RR(49, mulw, 0xfffffffffffffffe, 0x7fffffff, 2)
    TEST_RR(50, mulw, 15, 0x100000003, 0x200000005)
    TEST_RR(51, mulw, 0, 0x10000, 0x10000)
    TEST_RR(52, mulw, 0xffffffff80000000, 0x8000, 0x10000)
    TEST_RR(53, mulw, 1, 0xffffffff, 0xffffffff)

    /* divw/divuw */
    TEST_RR(54, divw, 3, 20, 6)
    TEST_RR(55, divw, -3, -20, 6)
    TEST_RR(56, divw, 3, 0xffffffff00000014, 0x100000006)
    TEST_RR(57, divw, 0xffffffff80000000, 0x80000000, -1)  /* INT32_MIN / -1 */
    TEST_RR(58, divw, -1, 20, 0)
    TEST_RR(59, divw, -1, 20, 0x100000000)                 /* divisor low word 0 */
    TEST_RR(60, divuw, 0xffffffff80000000, 0x80000000, 1)
    TEST_RR(61, divuw, -1, 20, 0)                          /* 0xffffffff sext */
    TEST_RR(62, divuw, 0x7ffffff8, 0xfffffff0, 2)
    TEST_RR(63, divuw, 0, 0x80000000, -1)

    /* remw/remuw */
    TEST_RR(64, remw, 0, 0x80000000, -1)
    TEST_RR(65, remw, -2, -20, 6)
    TEST_RR(66, remw, 2, 20, -6)
    TEST_RR(67, remw, 0xffffffff80000000, 0x180000000, 0)
    TEST_RR(68, remuw, 0xffffffff80000005, 0x80000005, 0)
    TEST_RR(69, remuw, 15, 0xffffffff, 0x10)
    TEST_RR(70, remuw, 0xfffffffffffffffe, 0xfffffffe, 0xffffffff)
    TEST_RR(71, remuw, 2, 0x1234567800000014, 6)

    /* rd aliasing a source */
    TEST_CASE(72, a1, 6, li a1, 20; li a2, 3; div a1, a1, a2)
    TEST_CASE(73, a2, 2, li a1, 20; li a2, 3; rem a2, a1, a2)
    TEST_CASE(74, a1, 0xfffffffffffe0001, li a1, 0xffff; mulw a1, a1, a1)

    TEST_PASS
