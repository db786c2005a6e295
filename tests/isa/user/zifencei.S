/*
 * Zifencei: self-modifying code.  Each case runs code (often several times,
 * so an emulator has it translated and cached), stores new instruction
 * bits over it, executes fence.i, runs it again and expects the new
 * behaviour: in the same block, on another page, a compressed pair replaced
 * by a 32-bit instruction and back, the target of a direct jump, and either
 * half of a 32-bit instruction that straddles a page boundary.
 * Replacement encodings are assembled into .data (new_* below).
 */
#include "user_macros.h"

/* Copy the 32-bit word at label src over the instruction at label dst. */
#define PATCH_W(dst, src) la t1, src; lw t1, 0(t1); la t2, dst; sw t1, 0(t2)
/* Copy the half-word at src over the half-word at dst. */
#define PATCH_H(dst, src) la t1, src; lhu t1, 0(t1); la t2, dst; sh t1, 0(t2)

    .option norelax
    .option norvc
TEST_BEGIN

    /* same block: a loop body patches its own first instruction */
    TEST_CASE(1, a0, 17, li a0, 0; li a3, 2; la a1, 1f; la a2, new_add16; lw a2, 0(a2); \
              1: addi a0, a0, 1; sw a2, 0(a1); fence.i; addi a3, a3, -1; bnez a3, 1b)
    /* same block: patch an instruction a few instructions ahead */
    TEST_CASE(2, a0, 2, la a1, 1f; la a2, new_li2; lw a2, 0(a2); sw a2, 0(a1); fence.i; 1: li a0, 1)

    /* another page, run (and cached) three times before the patch */
    TEST_CASE(3, a0, 3, call smc_page_fn; call smc_page_fn; call smc_page_fn)
    TEST_CASE(4, a0, 2, PATCH_W(smc_page_fn, new_li2); fence.i; call smc_page_fn)
    TEST_CASE(5, a0, 2, call smc_page_fn)

    /* two compressed instructions replaced by one 32-bit instruction */
    TEST_CASE(6, a0, 1, call smc_c_fn; call smc_c_fn)
    TEST_CASE(7, a0, 3, PATCH_W(smc_c_fn, new_li3); fence.i; call smc_c_fn)
    /* and a 32-bit instruction replaced by two compressed ones */
    TEST_CASE(8, a0, 5, call smc_w_fn; call smc_w_fn)
    TEST_CASE(9, a0, 7, PATCH_W(smc_w_fn, new_c67); fence.i; call smc_w_fn)
    /* only the second compressed half of a pair */
    TEST_CASE(10, a0, 7, call smc_w_fn)
    TEST_CASE(11, a0, 11, PATCH_H(smc_w_fn + 2, new_c67 + 4); fence.i; call smc_w_fn)

    /* the target of a direct jump from a hot block */
    TEST_CASE(12, a0, 1, call smc_chain_a; call smc_chain_a; call smc_chain_a)
    TEST_CASE(13, a0, 9, PATCH_W(smc_chain_b, new_add9); fence.i; call smc_chain_a)

    /* a 32-bit instruction across a page boundary: patch the upper half
     * (on the second page), then the lower half (on the first page) */
    TEST_CASE(14, a0, 0x101, call smc_straddle; call smc_straddle)
    TEST_CASE(15, a0, 0x301, PATCH_H(smc_straddle_insn + 2, new_addi_a0 + 2); fence.i; call smc_straddle)
    TEST_CASE(16, a0, 1, li a1, 0; PATCH_H(smc_straddle_insn, new_addi_a1); fence.i; call smc_straddle)
    TEST_CASE(17, a1, 0x301, )

    TEST_PASS

/* smc_page_fn: a0 = 3 (2 once patched), on another page than the patcher */
    .balign 4096
smc_page_fn:
    li a0, 3
    ret

/* smc_c_fn: c.li a0, 1; c.nop (4-byte aligned so one word covers both) */
    .balign 4
smc_c_fn:
    .option push
    .option rvc
    c.li a0, 1
    c.nop
    c.jr ra
    .option pop

/* smc_w_fn: a 32-bit li a0, 5 */
    .balign 4
smc_w_fn:
    li a0, 5
    ret

/* smc_chain_a jumps directly to smc_chain_b */
smc_chain_a:
    li a0, 0
    j smc_chain_b
    .balign 64
smc_chain_b:
    addi a0, a0, 1
    ret

/* smc_straddle: a0 = 1; addi a0, a0, 0x100 across the page boundary */
    .balign 4096
smc_straddle_page:
    .org smc_straddle_page + 4096 - 4
smc_straddle:
    .option push
    .option rvc
    c.li a0, 1
    .option pop
smc_straddle_insn:
    addi a0, a0, 0x100
    ret

    .data
    .balign 8
new_add16:   addi a0, a0, 16
new_li2:     li a0, 2
new_li3:     li a0, 3
new_add9:    addi a0, a0, 9
new_addi_a0: addi a0, a0, 0x300
new_addi_a1: addi a1, a0, 0x300
new_c67:
    .option push
    .option rvc
    c.li a0, 6
    c.addi a0, 1
    c.addi a0, 5           /* new_c67 + 4: replaces the second half */
    .option pop
