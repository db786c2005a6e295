/*
 * RV64I base integer instructions: ALU ops and immediates at their limits,
 * lui/auipc sign extension, shift amounts, W-form sign extension, compares,
 * branches, jal/jalr link values, loads/stores of every width, x0, fence.
 * Assembled without RVC so every instruction is the 32-bit encoding.
 */
#include "user_macros.h"

#define I64_MIN 0x8000000000000000
#define I64_MAX 0x7fffffffffffffff

    .option norvc
TEST_BEGIN
    TRAP_INSTALL

    /* add/sub/addi: 64-bit wrap, immediate limits -2048 and 2047 */
    TEST_RR(1, add, 3, 1, 2)
    TEST_RR(2, add, I64_MIN, I64_MAX, 1)
    TEST_RR(3, add, 0, -1, 1)
    TEST_RR(4, sub, -1, 1, 2)
    TEST_RR(5, sub, I64_MAX, I64_MIN, 1)
    TEST_RR(6, sub, I64_MIN, 0, I64_MIN)
    TEST_RI(7, addi, -2048, 0, -2048)
    TEST_RI(8, addi, 2047, 0, 2047)
    TEST_RI(9, addi, I64_MAX - 2047, I64_MIN, -2048)
    TEST_RI(10, addi, I64_MIN + 2046, I64_MAX, 2047)
    TEST_RI(11, addi, 0x100000000, 0xffffffff, 1)

    /* logic ops; immediates are sign-extended from 12 bits */
    TEST_RR(12, xor, 0xf00ff00f0ff00ff0, 0xff00ff00ff00ff00, 0x0f0f0f0ff0f0f0f0)
    TEST_RR(13, or, 0xff0fff0ffff0fff0, 0xff00ff00ff00ff00, 0x0f0f0f0ff0f0f0f0)
    TEST_RR(14, and, 0x0f000f00f000f000, 0xff00ff00ff00ff00, 0x0f0f0f0ff0f0f0f0)
    TEST_RI(15, xori, 0xedcba9876543210f, 0x123456789abcdef0, -1)
    TEST_RI(16, xori, 0x123456789abcd90f, 0x123456789abcdef0, 0x7ff)
    TEST_RI(17, ori, 0xfffffffffffff800, 0, -2048)
    TEST_RI(18, ori, 0x7ff, 0, 2047)
    TEST_RI(19, andi, 0x123456789abcd800, 0x123456789abcdef0, -2048)
    TEST_RI(20, andi, 0x6f0, 0x123456789abcdef0, 2047)

    /* slt/sltu and immediate forms: signed vs unsigned order */
    TEST_RR(21, slt, 1, -1, 1)
    TEST_RR(22, sltu, 0, -1, 1)
    TEST_RR(23, slt, 1, I64_MIN, I64_MAX)
    TEST_RR(24, sltu, 0, I64_MIN, I64_MAX)
    TEST_RR(25, slt, 0, 5, 5)
    TEST_RR(26, sltu, 0, 5, 5)
    TEST_RR(27, sltu, 1, 0, -1)
    TEST_RI(28, slti, 1, -2049, -2048)
    TEST_RI(29, slti, 0, -2048, -2048)
    TEST_RI(30, slti, 1, I64_MIN, 2047)
    TEST_RI(31, sltiu, 1, 0, 1)              /* seqz */
    TEST_RI(32, sltiu, 0, 1, 1)
    TEST_RI(33, sltiu, 1, 0xfffffffffffffffe, -1) /* -1 is the largest unsigned */
    TEST_RI(34, sltiu, 0, -1, -1)
    TEST_RI(35, sltiu, 1, 2047, -2048)

    /* 64-bit shifts by 0/31/32/63; register amounts use the low 6 bits */
    TEST_RI(36, slli, 0x8000000000000001, 0x8000000000000001, 0)
    TEST_RI(37, slli, 0x0000000080000000, 1, 31)
    TEST_RI(38, slli, 0x0000000100000000, 1, 32)
    TEST_RI(39, slli, I64_MIN, 0xffffffffffffffff, 63)
    TEST_RI(40, srli, 0x0000000100000000, I64_MIN, 31)
    TEST_RI(41, srli, 0x0000000080000000, I64_MIN, 32)
    TEST_RI(42, srli, 1, I64_MIN, 63)
    TEST_RI(43, srai, 0xffffffff00000000, I64_MIN, 31)
    TEST_RI(44, srai, 0xffffffff80000000, I64_MIN, 32)
    TEST_RI(45, srai, -1, I64_MIN, 63)
    TEST_RI(46, srai, 0x3fffffffffffffff, I64_MAX, 1)
    TEST_RR(47, sll, 0x8000000000000001, 0x8000000000000001, 64)
    TEST_RR(48, sll, 2, 1, 65)
    TEST_RR(49, sll, I64_MIN, 1, -1)
    TEST_RR(50, srl, 1, I64_MIN, -1)
    TEST_RR(51, srl, 0x4000000000000000, I64_MIN, 0xffffffffffffff41)
    TEST_RR(52, sra, -1, I64_MIN, 127)
    TEST_RR(53, sra, 0xc000000000000000, I64_MIN, 0x1001)
    TEST_RR(54, sra, 0x7fffffffffffffff, I64_MAX, 0x40)

    /* W forms: 32-bit results sign-extended, upper input bits ignored */
    TEST_RR(55, addw, 0xffffffff80000000, 0x7fffffff, 1)
    TEST_RR(56, addw, 0, 0xffffffff, 1)
    TEST_RR(57, addw, 3, 0x1234567800000001, 0x8765432100000002)
    TEST_RR(58, subw, 0x7fffffff, 0x80000000, 1)
    TEST_RR(59, subw, 0xffffffff80000000, 0, 0x80000000)
    TEST_RI(60, addiw, 0xffffffff80000000, 0x000000007fffffff, 1)
    TEST_RI(61, addiw, 0xffffffff80000000, 0x1234567880000000, 0)  /* sext.w */
    TEST_RI(62, addiw, 0x7ffff800, 0xffffffff7fffffff, -2047)
    TEST_RI(63, addiw, 0x000007fe, 0xffffffffffffffff, 2047)
    TEST_RI(64, addiw, 0xfffffffffffff7ff, 0xffffffffffffffff, -2048)
    TEST_RI(65, slliw, 0xffffffff80000000, 1, 31)
    TEST_RI(66, slliw, 0x12345678, 0xaaaaaaaa12345678, 0)
    TEST_RI(67, srliw, 0xffffffff80000000, 0x80000000, 0)  /* still sign-extends */
    TEST_RI(68, srliw, 1, 0xffffffff80000000, 31)
    TEST_RI(69, srliw, 0x00000001, 0x0000000f00000010, 4) /* upper half ignored */
    TEST_RI(70, sraiw, -1, 0x80000000, 31)
    TEST_RI(71, sraiw, 0xfffffffff8000000, 0x0000000080000000, 4)
    TEST_RI(72, sraiw, 0x7fffffff, 0xffffffff7fffffff, 0)
    TEST_RR(73, sllw, 0x12345678, 0x12345678, 32)      /* amount mod 32 */
    TEST_RR(74, sllw, 0xffffffff80000000, 1, 63)
    TEST_RR(75, srlw, 0x40000000, 0x80000000, 33)
    TEST_RR(76, srlw, 1, 0x80000000, -1)
    TEST_RR(77, sraw, 0xffffffffc0000000, 0x80000000, 0x21)
    TEST_RR(78, sraw, -1, 0x80000000, 31)
    TEST_RR(79, sraw, 0x00000001, 0xffffffff7fffffff, 30)

    /* lui/auipc: the 32-bit value is sign-extended to 64 bits */
    TEST_CASE(80, a0, 0xffffffff80000000, lui a0, 0x80000)
    TEST_CASE(81, a0, 0xfffffffffffff000, lui a0, 0xfffff)
    TEST_CASE(82, a0, 0x000000007ffff000, lui a0, 0x7ffff)
    TEST_CASE(83, a0, 0, 1: auipc a0, 0; la a1, 1b; sub a0, a0, a1)
    TEST_CASE(84, a0, 0xffffffff80000000, 1: auipc a0, 0x80000; la a1, 1b; sub a0, a0, a1)
    TEST_CASE(85, a0, -4096, 1: auipc a0, 0xfffff; la a1, 1b; sub a0, a0, a1)
    TEST_CASE(86, a0, 0x7ffff000, 1: auipc a0, 0x7ffff; la a1, 1b; sub a0, a0, a1)

    /* branches: taken and not taken, signed and unsigned boundaries */
    TEST_BR(87, beq, 1, -1, -1)
    TEST_BR(88, beq, 0, 0, I64_MIN)
    TEST_BR(89, bne, 1, 0, I64_MIN)
    TEST_BR(90, bne, 0, 7, 7)
    TEST_BR(91, blt, 1, -1, 0)
    TEST_BR(92, blt, 0, 0, -1)
    TEST_BR(93, blt, 0, 3, 3)
    TEST_BR(94, blt, 1, I64_MIN, I64_MAX)
    TEST_BR(95, bge, 1, 0, -1)
    TEST_BR(96, bge, 1, 3, 3)
    TEST_BR(97, bge, 0, I64_MIN, I64_MAX)
    TEST_BR(98, bltu, 1, 0, -1)
    TEST_BR(99, bltu, 0, -1, 0)
    TEST_BR(100, bltu, 0, 3, 3)
    TEST_BR(101, bltu, 0, I64_MIN, I64_MAX)
    TEST_BR(102, bgeu, 1, -1, 0)
    TEST_BR(103, bgeu, 1, 3, 3)
    TEST_BR(104, bgeu, 0, I64_MAX, I64_MIN)
    /* backward branch: a loop of 10 iterations */
    TEST_CASE(105, a0, 10, li a0, 0; li a1, 10; 1: addi a0, a0, 1; addi a1, a1, -1; bnez a1, 1b)

    /* jal: link = address of the next instruction; rd = x0 links nothing */
    TEST_CASE(106, a0, 0, jal a0, 1f; 1: la a1, 1b; sub a0, a0, a1)
    TEST_CASE(107, a0, 0, li a0, 1; jal a1, 2f; li a0, 2; 1: li a0, 3; 2: la a2, 1b - 4; \
              sub a0, a1, a2)
    TEST_CASE(108, a0, 5, li a0, 5; jal x0, 1f; li a0, 6; 1:)
    /* jal backwards */
    TEST_CASE(109, a0, 2, li a0, 0; j 2f; 1: addi a0, a0, 1; j 3f; 2: addi a0, a0, 1; j 1b; 3:)

    /* jalr: link value, offset added to rs1, bit 0 of the target cleared */
    TEST_CASE(110, a0, 0, la a1, 1f; jalr a0, 0(a1); 1: la a1, 1b; sub a0, a0, a1)
    TEST_CASE(111, a0, 7, li a0, 0; la a1, 1f - 2047; jalr a2, 2047(a1); li a0, 1; 1: addi a0, a0, 7)
    TEST_CASE(112, a0, 7, li a0, 0; la a1, 1f + 2048; jalr a2, -2048(a1); li a0, 1; 1: addi a0, a0, 7)
    TEST_CASE(113, a0, 7, li a0, 0; la a1, 1f + 1; jalr a2, 0(a1); li a0, 1; 1: addi a0, a0, 7)
    TEST_CASE(114, a0, 7, li a0, 0; la a1, 1f + 2; jalr a2, -1(a1); li a0, 1; 1: addi a0, a0, 7)
    /* rd == rs1: the target uses the old value, then rd gets the link */
    TEST_CASE(115, a0, 0, la a1, 1f; jalr a1, 0(a1); 2: li a0, 1; j 3f; \
              1: la a2, 2b; sub a0, a1, a2; 3:)
    TEST_CASE(116, a0, 9, li a0, 0; la a1, 1f; jalr x0, 0(a1); li a0, 1; 1: addi a0, a0, 9)

    /* loads: every width, sign vs zero extension, negative and large offsets */
    la s0, load_data
    TEST_CASE(117, a0, 0xffffffffffffff80, lb a0, 0(s0))
    TEST_CASE(118, a0, 0x80, lbu a0, 0(s0))
    TEST_CASE(119, a0, 0x7f, lb a0, 1(s0))
    TEST_CASE(120, a0, 0xffffffffffff8000, lh a0, 2(s0))
    TEST_CASE(121, a0, 0x8000, lhu a0, 2(s0))
    TEST_CASE(122, a0, 0xffffffff80000000, lw a0, 4(s0))
    TEST_CASE(123, a0, 0x80000000, lwu a0, 4(s0))
    TEST_CASE(124, a0, 0x7fffffff, lw a0, 8(s0))
    TEST_CASE(125, a0, 0x7fffffff, lwu a0, 8(s0))
    TEST_CASE(126, a0, 0x8000000080007f80, ld a0, 0(s0))
    TEST_CASE(127, a0, 0xffffffffffffff80, addi a1, s0, 4; lb a0, -4(a1))
    TEST_CASE(128, a0, 0x0123456789abcdef, li a1, 16 + 2048; add a1, a1, s0; ld a0, -2048(a1))
    TEST_CASE(129, a0, 0x01, addi a1, s0, 23 - 2047; lbu a0, 2047(a1))
    TEST_CASE(130, a0, 0xffffffff89abcdef, addi a1, s0, 16 + 2000; lw a0, -2000(a1))
    TEST_CASE(131, a0, 0xffffffffffff89ab, lh a0, 18(s0))

    /* stores: each width writes only its bytes */
    la s0, store_area
    li s1, 0x1111111111111111
#define FILL sd s1, 0(s0); sd s1, 8(s0); sd s1, 16(s0)
    TEST_CASE(132, a0, 0x11111111ff111111, FILL; li a1, 0x12345678abcdefff; sb a1, 3(s0); ld a0, 0(s0))
    TEST_CASE(133, a0, 0x1111111111111111, ld a0, 8(s0))
    TEST_CASE(134, a0, 0x11111111abcd1111, FILL; li a1, -0x5433; sh a1, 2(s0); ld a0, 0(s0))
    TEST_CASE(135, a0, 0x1111111111111111, ld a0, 8(s0))
    TEST_CASE(136, a0, 0x89abcdef11111111, FILL; li a1, 0x0123456789abcdef; sw a1, 4(s0); ld a0, 0(s0))
    TEST_CASE(137, a0, 0x1111111111111111, ld a0, 8(s0))
    TEST_CASE(138, a0, 0x0123456789abcdef, FILL; li a1, 0x0123456789abcdef; sd a1, 8(s0); ld a0, 8(s0))
    TEST_CASE(139, a0, 0x2222222222222222, ld a0, 0(s0); ld a1, 16(s0); add a0, a0, a1)
    TEST_CASE(140, a0, 0x11111111111111aa, FILL; addi a1, s0, 2047; li a2, 0xaa; sb a2, \
              -2047(a1); ld a0, 0(s0))
    TEST_CASE(141, a0, 0x11111111111155aa, addi a1, s0, 2048 - 1; li a2, 0x55; sb a2, \
              -2046(a1); ld a0, 0(s0))
    TEST_CASE(142, a0, 0x1111111111111111, ld a0, 8(s0))

    /* x0: writes are discarded */
    TEST_CASE(143, x0, 0, addi x0, x0, 5)
    TEST_CASE(144, x0, 0, lui x0, 0x12345)
    TEST_CASE(145, x0, 0, la a1, load_data; ld x0, 0(a1))
    TEST_CASE(146, a0, 0, li a0, 1; add a0, x0, x0)
    /* ... but a load to x0 is still performed: from an unmapped address it faults */
    TEST_TRAP(147, 5, li a1, 0; lw x0, 0(a1))

    /* fence orders memory, and otherwise has no effect */
    TEST_CASE(148, a0, 42, li a0, 42; fence; fence rw, rw; fence iorw, iorw; fence.tso; fence r, w)

    /* reserved W-shift encodings (shamt[5] = 1) are illegal */
    TEST_TRAP(149, 2, .4byte 0x0205151b)       /* slliw a0, a0, 32 */
    TEST_TRAP(150, 2, .4byte 0x0205551b)       /* srliw a0, a0, 32 */
    TEST_TRAP(151, 2, .4byte 0x4205551b)       /* sraiw a0, a0, 32 */
    /* ebreak and ecall trap (breakpoint, environment call from M) at their own pc */
    TEST_TRAP(152, 3, ebreak)
    TEST_CASE(153, a0, 0, 1: ebreak; la a1, 1b; sub a0, s9, a1)
    TEST_TRAP(154, 11, ecall)
    TEST_CASE(155, a0, 0, 1: ecall; la a1, 1b; sub a0, s9, a1)

    TEST_PASS

    USER_TRAP_HANDLER

    .data
    .balign 8
load_data:
    .byte 0x80, 0x7f, 0x00, 0x80, 0x00, 0x00, 0x00, 0x80
    .word 0x7fffffff, 0x00000000
    .dword 0x0123456789abcdef
    .dword 0
store_area:
    .dword 0, 0, 0
