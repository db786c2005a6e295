/*
 * Cross-hart code modification (2 harts).  Hart 1 first stores to a page
 * as data (filling its store TLB), hart 0 then executes code in that page
 * (so it is decoded), hart 1 rewrites the code, and after fence.i hart 0
 * must run the new instruction: a store TLB entry made before a page held
 * code must not let another hart's writes bypass invalidation.
 */
#include "test.h"

#define LI_A0_1 0x00100513  /* li a0, 1 */
#define LI_A0_2 0x00200513  /* li a0, 2 */

TEST_BEGIN
    csrr t0, mhartid
    bnez t0, hart1

    /* hart 0: wait for hart 1's data store, run the code, signal, wait, run again */
    la s0, flag
1:  lw t1, 0(s0)
    li t2, 1
    bne t1, t2, 1b
    fence.i
    jal ra, patch_fn
    TEST_CASE(1, a0, 1, nop)
    li t1, 2
    sw t1, 0(s0)          /* tell hart 1 to patch */
2:  lw t1, 0(s0)
    li t2, 3
    bne t1, t2, 2b
    fence.i
    jal ra, patch_fn
    TEST_CASE(2, a0, 2, nop)
    TEST_PASS

hart1:
    la s0, flag
    la s1, patch_fn
    lw t1, 0(s1)          /* read, then store the same word: a data store to the page */
    sw t1, 0(s1)
    li t1, 1
    sw t1, 0(s0)
3:  lw t1, 0(s0)
    li t2, 2
    bne t1, t2, 3b
    li t1, LI_A0_2
    sw t1, 0(s1)          /* patch the first instruction of patch_fn */
    fence
    li t1, 3
    sw t1, 0(s0)
4:  wfi
    j 4b

    .balign 4096
    .option push
    .option norvc
patch_fn:
    li a0, 1
    ret
    .option pop

    .data
    .balign 64
flag: .word 0
