/*
 * RV64A: lr/sc reservation rules the spec guarantees, every AMO in .w form
 * (sign extension of the old value, 32-bit arithmetic, upper rs2 bits
 * ignored) and .d form, rd aliasing rs2, and misaligned LR traps.
 */
#include "user_macros.h"

#define I64_MIN 0x8000000000000000
#define I64_MAX 0x7fffffffffffffff

/* a1 = value, stored at off(s0) as a word / doubleword */
#define SETW(off, v) li a1, v; sw a1, off(s0)
#define SETD(off, v) li a1, v; sd a1, off(s0)

/* AMO .w on word 0 of the area (word 1 = guard); a0 = old value */
#define TEST_AMOW(n, op, mem0, src, old, new)                               \
    TEST_CASE(n, a0, old, SETD(0, 0x5a5a5a5a00000000 | ((mem0) & 0xffffffff)); \
              li a2, src; op a0, a2, (s0));                                 \
    TEST_CASE(n, a0, ((new) & 0xffffffff) | 0x5a5a5a5a00000000, ld a0, 0(s0))

/* AMO .d on doubleword 0 of the area */
#define TEST_AMOD(n, op, mem0, src, old, new)                               \
    TEST_CASE(n, a0, old, SETD(0, mem0); li a2, src; op a0, a2, (s0));      \
    TEST_CASE(n, a0, new, ld a0, 0(s0))

TEST_BEGIN
    TRAP_INSTALL
    la s0, amo_area
    la s1, far_area

    /* sc with no reservation at all (nothing since reset) fails, no store */
    TEST_CASE(1, a0, 1, SETW(0, 7); li a2, 99; sc.w a0, a2, (s0); snez a0, a0)
    TEST_CASE(2, a0, 7, lw a0, 0(s0))

    /* lr.w/sc.w succeed; lr.w sign-extends; sc.w writes only 32 bits */
    TEST_CASE(3, a0, 0xffffffff80000000, SETD(0, 0x1111111180000000); lr.w a0, (s0))
    TEST_CASE(4, a0, 0, li a2, 0x12345678; sc.w a0, a2, (s0))
    TEST_CASE(5, a0, 0x1111111112345678, ld a0, 0(s0))
    /* a second sc after a successful one fails: the sc consumed the reservation */
    TEST_CASE(6, a0, 1, li a2, 0x55; sc.w a0, a2, (s0); snez a0, a0)
    TEST_CASE(7, a0, 0x1111111112345678, ld a0, 0(s0))

    /* lr.d/sc.d */
    TEST_CASE(8, a0, I64_MIN, SETD(0, I64_MIN); lr.d a0, (s0))
    TEST_CASE(9, a0, 0, li a2, -1; sc.d a0, a2, (s0))
    TEST_CASE(10, a0, -1, ld a0, 0(s0))

    /* sc to an address outside the reservation (another page) fails, and
     * the failed sc still invalidates the reservation on the lr address */
    TEST_CASE(11, a0, 1, SETD(0, 1); sd a1, 0(s1); lr.d a0, (s0); \
              li a2, 2; sc.d a0, a2, (s1); snez a0, a0)
    TEST_CASE(12, a0, 1, ld a0, 0(s1))
    TEST_CASE(13, a0, 1, li a2, 3; sc.d a0, a2, (s0); snez a0, a0)
    TEST_CASE(14, a0, 1, ld a0, 0(s0))

    /* a store by this hart between lr and sc: the spec allows the sc to
     * succeed or fail; either way memory must match what sc reported */
    TEST_CASE(15, a0, 0, SETD(0, 10); lr.d a0, (s0); li a2, 20; sd a2, 0(s0);   \
              li a2, 30; sc.d a3, a2, (s0); ld a4, 0(s0); li a0, 30;           \
              beqz a3, 1f; li a0, 20; 1: sub a0, a0, a4)

    /* sc rd == rs2: the stored value is the register's value before the sc */
    TEST_CASE(16, a1, 0, SETW(0, 5); lr.w a0, (s0); li a1, 0x77; sc.w a1, a1, (s0))
    TEST_CASE(17, a0, 0x77, lw a0, 0(s0))

    /* the classic lr/sc retry loop: atomic increment, 5 times */
    TEST_CASE(18, a0, 105, SETD(0, 100); li a3, 5;                            \
              2: lr.d a0, (s0); addi a0, a0, 1; sc.d a2, a0, (s0); bnez a2, 2b; \
              addi a3, a3, -1; bnez a3, 2b; ld a0, 0(s0))
    /* ordering bits do not change the semantics */
    TEST_CASE(19, a0, 0, SETW(0, 1); lr.w.aq a0, (s0); sc.w.rl a0, a2, (s0))
    TEST_CASE(20, a0, 0, lr.d.aqrl a0, (s0); sc.d.aqrl a0, a2, (s0))

    /* AMO .w: old value sign-extended, 32-bit operation, word 1 untouched */
    TEST_AMOW(21, amoswap.w, 0x80000000, 0x1234567800000001, 0xffffffff80000000, 1)
    TEST_AMOW(22, amoadd.w, 0x7fffffff, 1, 0x7fffffff, 0x80000000)
    TEST_AMOW(23, amoadd.w, 0xffffffff, 0xffffffff00000002, -1, 1)
    TEST_AMOW(24, amoxor.w, 0xff00ff00, 0x0ff00ff0, 0xffffffffff00ff00, 0xf0f0f0f0)
    TEST_AMOW(25, amoand.w, 0xff00ff00, 0x0ff00ff0, 0xffffffffff00ff00, 0x0f000f00)
    TEST_AMOW(26, amoor.w, 0x0f00ff00, 0x0ff00ff0, 0x0f00ff00, 0x0ff0fff0)
    /* min/max .w compare the low 32 bits only, signed or unsigned */
    TEST_AMOW(27, amomin.w, 0x80000000, 1, 0xffffffff80000000, 0x80000000)
    TEST_AMOW(28, amomin.w, 0, 0x00000001ffffffff, 0, 0xffffffff)
    TEST_AMOW(29, amomax.w, 0x80000000, 1, 0xffffffff80000000, 1)
    TEST_AMOW(30, amomax.w, 0xffffffff, 0x7fffffff00000000, -1, 0)
    TEST_AMOW(31, amominu.w, 0x80000000, 1, 0xffffffff80000000, 1)
    TEST_AMOW(32, amominu.w, 5, 0xffffffff00000001, 5, 1)
    TEST_AMOW(33, amomaxu.w, 1, 0xffffffff, 1, 0xffffffff)
    TEST_AMOW(34, amomaxu.w, 0x80000000, 0x7fffffff, 0xffffffff80000000, 0x80000000)

    /* AMO .d */
    TEST_AMOD(35, amoswap.d, I64_MIN, 5, I64_MIN, 5)
    TEST_AMOD(36, amoadd.d, I64_MAX, 1, I64_MAX, I64_MIN)
    TEST_AMOD(37, amoxor.d, 0xff00ff00ff00ff00, -1, 0xff00ff00ff00ff00, 0x00ff00ff00ff00ff)
    TEST_AMOD(38, amoand.d, 0xff00ff00ff00ff00, 0x0ff00ff00ff00ff0, 0xff00ff00ff00ff00, \
              0x0f000f000f000f00)
    TEST_AMOD(39, amoor.d, 0xff00ff00ff00ff00, 0x0ff00ff00ff00ff0, 0xff00ff00ff00ff00, \
              0xfff0fff0fff0fff0)
    TEST_AMOD(40, amomin.d, I64_MIN, 0, I64_MIN, I64_MIN)
    TEST_AMOD(41, amomin.d, 0, -1, 0, -1)
    TEST_AMOD(42, amomax.d, I64_MIN, -1, I64_MIN, -1)
    TEST_AMOD(43, amomax.d, I64_MAX, I64_MIN, I64_MAX, I64_MAX)
    TEST_AMOD(44, amominu.d, I64_MIN, 1, I64_MIN, 1)
    TEST_AMOD(45, amominu.d, 0, -1, 0, 0)
    TEST_AMOD(46, amomaxu.d, 1, -1, 1, -1)
    TEST_AMOD(47, amomaxu.d, I64_MIN, I64_MAX, I64_MIN, I64_MIN)

    /* rd == rs2: rd gets the old value, memory the op on the old rs2 */
    TEST_CASE(48, a2, 40, SETD(0, 40); li a2, 2; amoadd.d a2, a2, (s0))
    TEST_CASE(49, a0, 42, ld a0, 0(s0))
    TEST_CASE(50, a2, 0xffffffff80000000, SETW(0, 0x80000000); li a2, 9; amoswap.w a2, a2, (s0))
    TEST_CASE(51, a0, 9, lw a0, 0(s0))
    /* rd == rs1 (address register) */
    TEST_CASE(52, a0, 3, SETD(0, 3); mv a0, s0; li a2, 4; amoadd.d a0, a2, (a0))
    TEST_CASE(53, a0, 7, ld a0, 0(s0))
    /* rd == x0: the store still happens */
    TEST_CASE(54, a0, 15, SETD(0, 10); li a2, 5; amoadd.d.aqrl x0, a2, (s0); ld a0, 0(s0))

    /* the upper word of a doubleword: only those 4 bytes change */
    TEST_CASE(59, a0, 0xffffffff80000000, SETD(0, 0x8000000012345678); li a2, 1; \
              addi a1, s0, 4; amoadd.w a0, a2, (a1))
    TEST_CASE(60, a0, 0x8000000112345678, ld a0, 0(s0))
    TEST_CASE(61, a0, 0xffffffff80000001, addi a1, s0, 4; lr.w a0, (a1); li a2, -1; sc.w a3, a2, (a1))
    TEST_CASE(62, a0, 0xffffffff12345678, ld a0, 0(s0))

    /* misaligned LR traps (load address misaligned); memory is untouched.
     * Misaligned AMO and SC are in rv64a_misaligned.S (QEMU 7.2 differs) */
    TEST_TRAP(55, 4, SETD(0, 0); addi a1, s0, 2; lr.w a0, (a1))
    TEST_TRAP(56, 4, addi a1, s0, 4; lr.d a0, (a1))
    TEST_TRAP(57, 4, addi a1, s0, 1; lr.d a0, (a1))
    TEST_CASE(58, a0, 0, ld a0, 0(s0))

    TEST_PASS

    USER_TRAP_HANDLER

    .data
    .balign 64
amo_area:
    .dword 0, 0, 0, 0
    .balign 4096
far_area:
    .dword 0
