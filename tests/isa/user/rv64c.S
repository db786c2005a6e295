/*
 * RV64C: every compressed instruction with its immediate limits, written
 * with explicit c.* mnemonics so the encoding is the 16-bit one; 16- and
 * 32-bit instructions mixed at 2-byte alignment; 32-bit instructions that
 * straddle a 4 KiB page boundary (they must be fetched from both pages);
 * c.ebreak and the all-zero illegal parcel through a trap handler.
 * sp points at c_area (a scratch buffer) for the sp-relative forms.
 */
#include "user_macros.h"

    .option norelax
    .option rvc
TEST_BEGIN
    TRAP_INSTALL
    la sp, c_area
    la s0, c_area

    /* c.addi4spn: sp + nzuimm (4..1020, multiple of 4) */
    TEST_CASE(1, a0, 4, c.addi4spn a0, sp, 4; sub a0, a0, sp)
    TEST_CASE(2, a0, 1020, c.addi4spn a0, sp, 1020; sub a0, a0, sp)
    /* the all-zero parcel (c.addi4spn with imm 0) is illegal */
    TEST_TRAP(3, 2, .2byte 0x0000)

    /* c.lw/c.sw (offset 0..124, lw sign-extends), c.ld/c.sd (0..248) */
    TEST_CASE(4, a0, 0xffffffff80000000, li a1, 0x80000000; c.sw a1, 124(s0); c.lw a0, 124(s0))
    TEST_CASE(5, a0, 0x8000000000000000, ld a0, 120(s0))          /* neighbours intact */
    TEST_CASE(80, a0, 0, ld a0, 128(s0))
    TEST_CASE(6, a0, 0x7fffffff, li a1, 0x123456787fffffff; c.sw a1, 0(s0); c.lw a0, 0(s0))
    TEST_CASE(7, a0, 0x8000000000000001, li a1, 0x8000000000000001; c.sd a1, 248(s0); c.ld a0, 248(s0))
    TEST_CASE(8, a0, -2, li a1, -2; c.sd a1, 0(s0); c.ld a0, 0(s0))

    /* c.fld/c.fsd (fs0..fa5 only, offset 0..248) */
    TEST_CASE(9, a0, 0x400921fb54442d18, li a1, 0x400921fb54442d18; fmv.d.x fs0, a1; \
              c.fsd fs0, 248(s0); c.fld fs1, 248(s0); fmv.x.d a0, fs1)
    TEST_CASE(10, a0, 0xfff0000000000001, li a1, 0xfff0000000000001; fmv.d.x fa5, a1; \
              c.fsd fa5, 0(s0); c.fld fa4, 0(s0); fmv.x.d a0, fa4)

    /* c.addi (-32..31, full 64-bit add), c.nop */
    TEST_CASE(11, a0, -33, li a0, -1; c.addi a0, -32)
    TEST_CASE(12, a0, 0x800000000000001e, li a0, 0x7fffffffffffffff; c.addi a0, 31)
    TEST_CASE(13, a0, 0x100000000, li a0, 0xffffffff; c.addi a0, 1)
    TEST_CASE(14, a0, 6, li a0, 6; c.nop)

    /* c.addiw (-32..31, 32-bit result sign-extended; imm 0 = sext.w) */
    TEST_CASE(15, a0, 0xffffffff80000000, li a0, 0x7fffffff; c.addiw a0, 1)
    TEST_CASE(16, a0, 0x7fffffe0, li a0, 0xffffffff7fffffff; c.addiw a0, -31)
    TEST_CASE(17, a0, 0xffffffff80000000, li a0, 0x1234567880000000; c.addiw a0, 0)
    TEST_CASE(18, a0, 0x7fffffdf, li a0, 0x80000000 - 1; c.addiw a0, -32)
    TEST_CASE(19, a0, 0x1e, li a0, -1; c.addiw a0, 31)

    /* c.li (-32..31) */
    TEST_CASE(20, a0, -32, li a0, 0x5555; c.li a0, -32)
    TEST_CASE(21, a5, 31, c.li a5, 31)
    TEST_CASE(22, t2, 0, li t2, 9; c.li t2, 0)

    /* c.lui: 6-bit signed nzimm << 12, sign-extended */
    TEST_CASE(23, a0, 0x1000, c.lui a0, 1)
    TEST_CASE(24, a0, 0x1f000, c.lui a0, 31)
    TEST_CASE(25, a0, 0xfffffffffffe0000, c.lui a0, 0xfffe0)
    TEST_CASE(26, s1, 0xfffffffffffff000, c.lui s1, 0xfffff)

    /* c.addi16sp (-512..496, multiple of 16) */
    TEST_CASE(27, a0, -512, mv a1, sp; c.addi16sp sp, -512; sub a0, sp, a1; mv sp, a1)
    TEST_CASE(28, a0, 496, mv a1, sp; c.addi16sp sp, 496; sub a0, sp, a1; mv sp, a1)
    TEST_CASE(29, a0, 0, mv a1, sp; c.addi16sp sp, -16; c.addi16sp sp, 16; sub a0, sp, a1)

    /* c.srli/c.srai (1..63), c.andi (-32..31) */
    TEST_CASE(30, a0, 1, li a0, 0x8000000000000000; c.srli a0, 63)
    TEST_CASE(31, a0, 0x80000000, li a0, 0x8000000000000000; c.srli a0, 32)
    TEST_CASE(32, a0, 0x4000000000000000, li a0, 0x8000000000000000; c.srli a0, 1)
    TEST_CASE(33, a0, -1, li a0, 0x8000000000000000; c.srai a0, 63)
    TEST_CASE(34, a0, 0xffffffff80000000, li a0, 0x8000000000000000; c.srai a0, 32)
    TEST_CASE(35, a0, 0x3fffffffffffffff, li a0, 0x7fffffffffffffff; c.srai a0, 1)
    TEST_CASE(36, a0, 0xffffffffffffffe0, li a0, -1; c.andi a0, -32)
    TEST_CASE(37, a0, 0x1f, li a0, -1; c.andi a0, 31)
    TEST_CASE(38, a0, 0x1234567800000000, li a0, 0x1234567800000010; c.andi a0, -32)

    /* register-register ALU: c.sub/xor/or/and (64-bit), c.subw/addw (32-bit) */
    TEST_CASE(39, a0, 0x8000000000000000, li a0, 0x7fffffffffffffff; li a1, -1; c.sub a0, a1)
    TEST_CASE(40, a0, 0xf0f0f0f0f0f0f0f0, li a0, 0xff00ff00ff00ff00; li a1, 0x0ff00ff00ff00ff0; c.xor a0, a1)
    TEST_CASE(41, a0, 0xfff0fff0fff0fff0, li a0, 0xff00ff00ff00ff00; li a1, 0x0ff00ff00ff00ff0; c.or a0, a1)
    TEST_CASE(42, a0, 0x0f000f000f000f00, li a0, 0xff00ff00ff00ff00; li a1, 0x0ff00ff00ff00ff0; c.and a0, a1)
    TEST_CASE(43, a0, 0x7fffffff, li a0, 0x80000000; li a1, 1; c.subw a0, a1)
    TEST_CASE(44, a0, 0xffffffff80000000, li a0, 0x7fffffff; li a1, 0x1234567800000001; c.addw a0, a1)
    TEST_CASE(45, a0, 0, li a0, 0xffffffff00000005; li a1, 5; c.subw a0, a1)

    /* c.slli (1..63) */
    TEST_CASE(46, a0, 0x8000000000000000, li a0, 1; c.slli a0, 63)
    TEST_CASE(47, a0, 0x100000000, li a0, 1; c.slli a0, 32)
    TEST_CASE(48, a0, 0xfffffffffffffffe, li a0, -1; c.slli a0, 1)

    /* c.lwsp (0..252, sign-extends), c.ldsp/c.fldsp (0..504) and the stores */
    TEST_CASE(49, a0, 0xffffffff90000000, li a1, 0x90000000; c.swsp a1, 252(sp); c.lwsp a0, 252(sp))
    TEST_CASE(50, a0, 0x12345678, li a1, 0x12345678; c.swsp a1, 0(sp); c.lwsp a0, 0(sp))
    TEST_CASE(51, a0, 0xfedcba9876543210, li a1, 0xfedcba9876543210; c.sdsp a1, 504(sp); c.ldsp a0, 504(sp))
    TEST_CASE(52, a0, 0xfedcba9876543210, ld a0, 504(s0))
    TEST_CASE(53, a0, 0x3ff0000000000000, li a1, 0x3ff0000000000000; fmv.d.x ft0, a1; \
              c.fsdsp ft0, 504(sp); c.fldsp ft11, 504(sp); fmv.x.d a0, ft11)
    TEST_CASE(54, a0, 0xc000000000000000, li a1, 0xc000000000000000; fmv.d.x ft3, a1; \
              c.fsdsp ft3, 0(sp); c.fldsp fs11, 0(sp); fmv.x.d a0, fs11)
    TEST_CASE(55, t0, -3, li a1, -3; c.sdsp a1, 8(sp); c.ldsp t0, 8(sp))

    /* c.mv and c.add (any registers, full 64-bit) */
    TEST_CASE(56, t3, 0x123456789abcdef0, li a1, 0x123456789abcdef0; c.mv t3, a1)
    TEST_CASE(57, s7, 0x8000000000000000, li s7, 0x7fffffffffffffff; li a1, 1; c.add s7, a1)
    TEST_CASE(58, a0, 0x200000000, li a0, 0x100000000; c.add a0, a0)

    /* c.j: forward to the maximum +2046, backward to the minimum -2048 */
    TEST_CASE(59, a0, 1, li a0, 0; c.j 1f; c.li a0, 9; .skip 2042; 1: c.addi a0, 1)
    TEST_CASE(60, a0, 1, li a0, 0; jal x0, 3f; 2: c.addi a0, 1;               \
              .option push; .option norvc; jal x0, 4f; .option pop; .skip 2042; \
              3: c.j 2b; 4:)

    /* c.beqz/c.bnez: taken / not taken, limits +254 and -256 */
    TEST_CASE(61, a0, 1, li a0, 1; li a1, 0; c.beqz a1, 1f; li a0, 0; 1:)
    TEST_CASE(62, a0, 0, li a0, 1; li a1, 0x100000000; c.beqz a1, 1f; li a0, 0; 1:)
    TEST_CASE(63, a0, 1, li a0, 1; li a1, 0x100000000; c.bnez a1, 1f; li a0, 0; 1:)
    TEST_CASE(64, a0, 0, li a0, 1; li a1, 0; c.bnez a1, 1f; li a0, 0; 1:)
    TEST_CASE(65, a0, 1, li a0, 0; li a1, 0; c.beqz a1, 1f; c.li a0, 9; .skip 250; 1: c.addi a0, 1)
    TEST_CASE(66, a0, 1, li a0, 0; li a1, 1; jal x0, 3f; 2: c.addi a0, 1;   \
              .option push; .option norvc; jal x0, 4f; .option pop; .skip 250; \
              3: c.bnez a1, 2b; 4:)

    /* c.jr / c.jalr: link = address after the 2-byte instruction */
    TEST_CASE(67, a0, 5, li a0, 0; la a1, 1f; c.jr a1; c.li a0, 9; 1: c.addi a0, 5)
    TEST_CASE(68, a0, 0, la a1, 2f; c.jalr a1; 1: j 3f; 2: la a2, 1b; sub a0, ra, a2; 3:)
    /* c.jalr ra: the target is the old ra, then ra is overwritten */
    TEST_CASE(69, a0, 0, la ra, 2f; c.jalr ra; 1: j 3f; 2: la a2, 1b; sub a0, ra, a2; 3:)
    /* c.jr lands on a 2-byte-aligned (not 4-byte-aligned) 32-bit instruction */
    TEST_CASE(70, a0, 0x1234, li a0, 0; la a1, 1f; c.jr a1; .balign 4; c.nop; \
              1: .option push; .option norvc; addi a0, a0, 0x234; lui a1, 1; .option pop; c.add a0, a1)

    /* reserved encodings are illegal: c.jr x0, c.lwsp/c.ldsp x0, c.addiw x0,
     * c.lui with imm 0, c.addi16sp with imm 0 */
    TEST_TRAP(81, 2, .2byte 0x8002)
    TEST_TRAP(82, 2, .2byte 0x4002)
    TEST_TRAP(83, 2, .2byte 0x6002)
    TEST_TRAP(84, 2, .2byte 0x2001)
    TEST_TRAP(85, 2, li ra, 5; .2byte 0x6081)
    TEST_CASE(86, ra, 5, )
    TEST_TRAP(87, 2, mv a1, sp; .2byte 0x6101)
    TEST_CASE(88, a0, 0, sub a0, sp, a1)

    /* HINTs with rd = x0 execute as no-ops: no trap, x0 still reads 0 */
    TEST_NO_TRAP(89, li a0, 7; .2byte 0x4015; add a1, x0, x0)      /* c.li x0, 5 */
    TEST_CASE(90, a1, 0, )
    TEST_NO_TRAP(91, .2byte 0x802a; add a1, x0, x0)                /* c.mv x0, a0 */
    TEST_CASE(92, a1, 0, )
    TEST_NO_TRAP(93, .2byte 0x902a; add a1, x0, x0)                /* c.add x0, a0 */
    TEST_CASE(94, a1, 0, )
    TEST_NO_TRAP(95, .2byte 0x6005; .2byte 0x0006; .2byte 0x0005; add a1, x0, x0) /* c.lui/slli/addi */
    TEST_CASE(96, a1, 0, )

    /* c.ebreak traps with mcause 3 and mepc at the c.ebreak */
    TEST_TRAP(71, 3, c.ebreak)
    TEST_CASE(72, a0, 0, li s11, -1; 1: c.ebreak; la a1, 1b; sub a0, s9, a1)

    /* mixed widths: 32-bit instructions at addresses = 2 mod 4 */
    TEST_CASE(73, a0, 0x12345678, .balign 4; c.li a0, 0;                  \
              .option push; .option norvc; lui a0, 0x12345; addi a0, a0, 0x678; .option pop; \
              c.mv a1, a0; c.mv a0, a1)

    /* 32-bit instructions straddling a page boundary, reached by falling
     * through from 16-bit ones, by a jump, and as a branch; run twice so a
     * cached translation is used the second time */
    TEST_CASE(74, a0, 109, call straddle_fallthrough)
    TEST_CASE(75, a0, 109, call straddle_fallthrough)
    TEST_CASE(76, a0, 0x1111, li a0, 0x1000; la a1, straddle_target; jalr ra, 0(a1))
    TEST_CASE(77, a0, 0x1111, li a0, 0x1000; la a1, straddle_target; jalr ra, 0(a1))
    TEST_CASE(78, a0, 3, call straddle_branch)
    TEST_CASE(79, a0, 3, call straddle_branch)

    TEST_PASS

    USER_TRAP_HANDLER

/* Page 1: a 32-bit addi at its last 2 bytes, entered by fall-through. */
    .balign 4096
straddle_page1:
    .org straddle_page1 + 4096 - 8
straddle_fallthrough:
    c.li a0, 5
    c.addi a0, 1
    c.nop
    .option push
    .option norvc
    addi a0, a0, 100          /* bytes 4094..4097 of the page */
    .option pop
    c.addi a0, 3
    c.jr ra

/* Page 2: a 32-bit lui that straddles, entered directly by a jump. */
    .balign 4096
straddle_page2:
    .org straddle_page2 + 4096 - 2
straddle_target:
    .option push
    .option norvc
    addi a0, a0, 0x111
    .option pop
    c.jr ra

/* Page 3: a backward 32-bit branch that straddles, taken twice. */
    .balign 4096
straddle_page3:
    .org straddle_page3 + 4096 - 8
straddle_branch:
    c.li a0, 0
    c.li a1, 3
1:  c.addi a0, 1
    .option push
    .option norvc
    blt a0, a1, 1b            /* bytes 4094..4097 of the page */
    .option pop
    c.jr ra

    .data
    .balign 16
c_area:
    .skip 1024
