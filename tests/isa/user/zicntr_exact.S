/*
 * Exact retired-instruction counts (hostel only: QEMU without -icount
 * derives instret from host time).  A read of instret returns the count of
 * instructions retired before it; a write to minstret takes effect after the
 * writing instruction has completed, so that instruction is not counted.
 */
#include "user_macros.h"

TEST_BEGIN

    /* straight-line code: the first read and 10 nops retire in between */
    TEST_CASE(1, a0, 11, rdinstret a1; nop; nop; nop; nop; nop; nop; nop; nop; nop; nop; \
              rdinstret a2; sub a0, a2, a1)
    /* back-to-back reads differ by one */
    TEST_CASE(2, a0, 1, rdinstret a1; rdinstret a2; sub a0, a2, a1)
    /* a loop: rdinstret + li + 10 x (addi, bnez) */
    TEST_CASE(3, a0, 22, rdinstret a1; li t1, 10; 1: addi t1, t1, -1; bnez t1, 1b; \
              rdinstret a2; sub a0, a2, a1)
    /* instructions are counted, not bytes: compressed ones count one each */
    .option push
    .option rvc
    TEST_CASE(4, a0, 7, rdinstret a1; c.nop; c.nop; c.nop; c.nop; j 1f; 1: fence.i; \
              rdinstret a2; sub a0, a2, a1)
    .option pop
    /* writing minstret */
    TEST_CASE(5, a0, 0, csrw minstret, zero; rdinstret a0)
    TEST_CASE(6, a0, 3, csrw minstret, zero; nop; nop; nop; rdinstret a0)
    TEST_CASE(7, a0, 0x100000001, li a1, 0x100000000; csrw minstret, a1; nop; rdinstret a0)

    TEST_PASS
