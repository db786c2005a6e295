/*
 * Zicsr, Zicntr and Zihintpause: csrrw/csrrs/csrrc and their immediate
 * forms (old value returned, rd = x0, rs1 = x0 / zimm = 0 do not write),
 * read-only CSRs that trap only when written, unimplemented CSRs, the
 * fcsr/frm/fflags aliases, cycle/time/instret counting up, and pause.
 * The exact instret count is in zicntr_exact.S (QEMU's is not exact).
 */
#include "user_macros.h"

#define ROTATE li t0, 0x0123456789abcdef

TEST_BEGIN
    TRAP_INSTALL

    /* csrrw: returns the old value, writes all 64 bits; rd = x0 still writes */
    TEST_CASE(1, a0, 0x0123456789abcdef, ROTATE; csrw mscratch, t0; li a1, -1; csrrw a0, mscratch, a1)
    TEST_CASE(2, a0, -1, csrr a0, mscratch)
    TEST_CASE(3, a0, 0x5555, li a1, 0x5555; csrrw x0, mscratch, a1; csrr a0, mscratch)
    /* rd == rs1: swap */
    TEST_CASE(4, a1, 0x5555, li a1, 0x7777; csrrw a1, mscratch, a1)
    TEST_CASE(5, a0, 0x7777, csrr a0, mscratch)
    /* csrrs / csrrc set and clear the bits of rs1 */
    TEST_CASE(6, a0, 0x7777, li a1, 0xf0000000000000f0; csrrs a0, mscratch, a1)
    TEST_CASE(7, a0, 0xf0000000000077f7, csrr a0, mscratch)
    TEST_CASE(8, a0, 0xf0000000000077f7, li a1, 0xf000000000000707; csrrc a0, mscratch, a1)
    TEST_CASE(9, a0, 0x70f0, csrr a0, mscratch)
    /* rs1 = x0: a pure read */
    TEST_CASE(10, a0, 0x70f0, csrrs a0, mscratch, x0; csrrc a0, mscratch, x0)
    TEST_CASE(11, a0, 0x70f0, csrr a0, mscratch)
    /* immediate forms: zimm is 5 bits, zero-extended */
    TEST_CASE(12, a0, 0x70f0, csrrwi a0, mscratch, 31)
    TEST_CASE(13, a0, 31, csrr a0, mscratch)
    TEST_CASE(14, a0, 31, csrrci a0, mscratch, 0x15)
    TEST_CASE(15, a0, 0x1a, csrrsi a0, mscratch, 0x10; csrr a0, mscratch)
    TEST_CASE(16, a0, 0x1a, csrrsi a0, mscratch, 0; csrrci a0, mscratch, 0)
    TEST_CASE(17, a0, 0x1a, csrr a0, mscratch)
    TEST_CASE(18, a0, 0, csrrwi x0, mscratch, 0; csrr a0, mscratch)

    /* read-only CSRs: reads (rs1 = x0, zimm = 0) are fine ... */
    TEST_NO_TRAP(19, csrr a0, mhartid; csrrs a0, cycle, x0; csrrc a0, instret, x0; \
                 csrrsi a0, mhartid, 0; csrrci a0, time, 0; csrr a0, mvendorid)
    TEST_CASE(20, a0, 0, csrr a0, mhartid)
    /* ... any write form traps, including csrrw with rd = x0 or rs1 = x0 */
    TEST_TRAP(21, 2, csrrw x0, mhartid, a1)
    TEST_TRAP(22, 2, li a0, 7; csrrw a0, cycle, x0)
    TEST_CASE(23, a0, 7, )                       /* rd not written */
    TEST_TRAP(24, 2, csrrwi a0, instret, 0)
    TEST_TRAP(25, 2, li a1, 1; csrrs a0, time, a1)
    TEST_TRAP(26, 2, csrrci a0, mhartid, 1)
    TEST_TRAP(27, 2, csrrsi a0, mimpid, 4)
    TEST_TRAP(28, 2, csrw cycle, zero)
    /* unimplemented CSR numbers trap even on reads */
    TEST_TRAP(29, 2, csrr a0, 0x8ff)
    TEST_TRAP(30, 2, csrr a0, 0x7c0)

    /* fcsr = frm << 5 | fflags; each alias writes only its own field */
    TEST_CASE(31, a0, 0, li a1, 0xff; fscsr a0, a1)
    TEST_CASE(32, a0, 0x1f, frflags a0)
    TEST_CASE(33, a0, 7, frrm a0)
    TEST_CASE(34, a0, 0x5f, li a1, 2; fsrm a1; frcsr a0)
    TEST_CASE(35, a0, 0x40, fsflagsi 0; frcsr a0)
    TEST_CASE(36, a0, 0x5f, li a1, 0xff; fsflags a1; frcsr a0)    /* 5 bits kept */
    TEST_CASE(37, a0, 0xff, li a1, 0xff; fsrm a1; frcsr a0)       /* 3 bits kept */
    TEST_CASE(38, a0, 0x1f, li a1, 0x03; fsflags a0, a1)          /* old value */
    TEST_CASE(39, a0, 0x07, li a1, 0x01; fsrm a0, a1)
    TEST_CASE(40, a0, 0x23, frcsr a0)
    TEST_CASE(41, a0, 0x33, csrsi fflags, 0x10; frcsr a0)
    TEST_CASE(42, a0, 0x13, csrci fflags, 0x0c; csrci frm, 0x1; csrr a0, fcsr)
    TEST_CASE(43, a0, 0xbf, csrwi fcsr, 0x1f; csrwi frm, 5; frcsr a0; fscsr zero)

    /* counters count up: cycle and instret strictly over a loop; time
     * eventually moves (bounded wait) and never goes backwards */
#define LOOP100 li t1, 100; 1: addi t1, t1, -1; bnez t1, 1b
    TEST_CASE(44, a0, 1, rdcycle a1; LOOP100; rdcycle a2; sltu a0, a1, a2)
    TEST_CASE(45, a0, 1, rdinstret a1; LOOP100; rdinstret a2; sltu a0, a1, a2)
    TEST_CASE(46, a0, 1, rdinstret a1; LOOP100; rdinstret a2; sub a0, a2, a1; sltiu a0, a0, \
              200; xori a0, a0, 1)
    TEST_CASE(47, a0, 1, rdtime a1; li t1, 100000000; 1: rdtime a2; bne a1, a2, 2f; \
              addi t1, t1, -1; bnez t1, 1b; 2: sltu a0, a1, a2)
    TEST_CASE(48, a0, 0, rdtime a1; rdtime a2; sltu a0, a2, a1)
    /* the M-mode names read the same counters */
    TEST_CASE(49, a0, 1, rdinstret a1; csrr a2, minstret; sltu a0, a1, a2)
    TEST_CASE(50, a0, 1, rdcycle a1; LOOP100; csrr a2, mcycle; sltu a0, a1, a2)

    /* pause (a fence hint) executes as a no-op, also in a spin loop */
#define PAUSE .4byte 0x0100000f
    TEST_CASE(51, a0, 42, li a0, 42; PAUSE; PAUSE)
    TEST_CASE(52, a0, 0, li a0, 5; 1: PAUSE; addi a0, a0, -1; bnez a0, 1b)

    TEST_PASS

    USER_TRAP_HANDLER
