/*
 * Counters: mcycle/minstret writable in M and seen through cycle/instret,
 * mcountinhibit freezing them, time following the CLINT's mtime, and
 * mcounteren/scounteren gating cycle/time/instret/hpmcounter3 in S and U
 * (illegal instruction when a bit is clear).  QEMU 7.2 counts host ticks in
 * cycle and instret, so only monotonicity and written values are checked.
 */
#include "test.h"
#include "priv_macros.h"

#define CLINT_MTIME 0x200bff8
#define BIG (1 << 56)
#define SLACK (1 << 32)

/* Check BIG <= reg < BIG + SLACK. */
#define CHECK_NEAR_BIG(n, reg)                      \
    li TESTNUM, n;                                  \
    li t6, BIG;                                     \
    bltu reg, t6, test_fail;                        \
    li t5, SLACK;                                   \
    add t6, t6, t5;                                 \
    bgeu reg, t6, test_fail

/* Run a counter read in mode and check: trap (illegal, tval insn) or not. */
#define READ_TRAPS(n, mode, insn...)                 \
    RUN_IN(mode, 91: insn);                         \
    CHECK_MEXC(n, CAUSE_ILLEGAL_INSN, 91b);         \
    CHECK_INSN(n, TRAP_MTVAL, 91b)
#define READ_WORKS(n, mode, insn...)                 \
    RUN_IN(mode, insn);                             \
    CHECK(n, TRAP_COUNT, 1);                        \
    CHECK(n, TRAP_MCAUSE, CAUSE_ECALL_U + (mode))

TEST_BEGIN
    INSTALL_M_HANDLER
    PMP_ALLOW_ALL
    csrw mcountinhibit, zero

    /* ---- writable in M, visible through the user CSRs ---- */
    li a1, BIG
    csrw mcycle, a1
    csrr a0, mcycle
    CHECK_NEAR_BIG(1, a0)
    csrw mcycle, a1
    csrr a0, cycle
    CHECK_NEAR_BIG(2, a0)
    csrw minstret, a1
    csrr a0, minstret
    CHECK_NEAR_BIG(3, a0)
    csrw minstret, a1
    csrr a0, instret
    CHECK_NEAR_BIG(4, a0)
    /* they move */
    csrr a0, cycle
    nop
    nop
    csrr a1, cycle
    li TESTNUM, 5
    bgeu a0, a1, test_fail
    csrr a0, instret
    nop
    nop
    csrr a1, instret
    li TESTNUM, 6
    bgeu a0, a1, test_fail

    /* ---- mcountinhibit: CY (bit 0) and IR (bit 2) freeze the counters ---- */
    li t0, 5
    csrw mcountinhibit, t0
    csrr a0, mcountinhibit
    CHECK_MASK(7, a0, 5, 5)
    li a1, 1000
    csrw minstret, a1
    csrw mcycle, a1
    nop
    nop
    nop
    csrr a0, minstret
    CHECK(8, a0, 1000)
    csrr a0, mcycle
    CHECK(9, a0, 1000)
    csrr a0, instret
    CHECK(10, a0, 1000)
    csrw mcountinhibit, zero
    nop
    nop
    csrr a0, minstret
    li TESTNUM, 11
    bgeu a1, a0, test_fail
    csrr a0, mcycle
    li TESTNUM, 12
    bgeu a1, a0, test_fail
    li t0, 1                        /* CY only: instret still counts */
    csrw mcountinhibit, t0
    csrw minstret, a1
    csrw mcycle, a1
    nop
    csrr a0, minstret
    csrr a2, mcycle
    csrw mcountinhibit, zero
    li TESTNUM, 13
    bgeu a1, a0, test_fail
    CHECK(14, a2, 1000)

    /* ---- time follows mtime ---- */
    csrr a0, time
    li t0, CLINT_MTIME
    ld a1, 0(t0)
    csrr a2, time
    li TESTNUM, 15
    bltu a1, a0, test_fail
    bltu a2, a1, test_fail

    /* ---- mcounteren / scounteren ---- */
    li t0, 0xf
    csrw mcounteren, t0
    csrr a0, mcounteren
    CHECK_MASK(16, a0, 0xf, 0xf)
    csrw scounteren, t0
    csrr a0, scounteren
    CHECK_MASK(17, a0, 0xf, 0xf)
    /* S: mcounteren only */
    csrw scounteren, zero
    READ_WORKS(18, PRV_S, csrr a0, cycle; csrr a0, time; csrr a0, instret;
               csrr a0, hpmcounter3)
    csrw mcounteren, zero
    READ_TRAPS(19, PRV_S, csrr a0, cycle)
    READ_TRAPS(20, PRV_S, csrr a0, time)
    READ_TRAPS(21, PRV_S, csrr a0, instret)
    READ_TRAPS(22, PRV_S, csrr a0, hpmcounter3)
    li t0, 1 << 1                   /* TM only */
    csrw mcounteren, t0
    READ_WORKS(23, PRV_S, csrr a0, time)
    READ_TRAPS(24, PRV_S, csrr a0, cycle)
    READ_TRAPS(25, PRV_S, csrr a0, instret)
    li t0, 1 << 2                   /* IR only */
    csrw mcounteren, t0
    READ_WORKS(26, PRV_S, csrr a0, instret)
    READ_TRAPS(27, PRV_S, csrr a0, time)
    /* U: needs both */
    li t0, 0xf
    csrw mcounteren, t0
    csrw scounteren, zero
    READ_TRAPS(28, PRV_U, csrr a0, cycle)
    READ_TRAPS(29, PRV_U, csrr a0, time)
    READ_TRAPS(30, PRV_U, csrr a0, instret)
    READ_TRAPS(31, PRV_U, csrr a0, hpmcounter3)
    li t0, 0xf
    csrw scounteren, t0
    READ_WORKS(32, PRV_U, csrr a0, cycle; csrr a0, time; csrr a0, instret;
               csrr a0, hpmcounter3)
    li t0, 1 << 0                   /* scounteren CY only */
    csrw scounteren, t0
    READ_WORKS(33, PRV_U, csrr a0, cycle)
    READ_TRAPS(34, PRV_U, csrr a0, time)
    csrw mcounteren, zero           /* mcounteren clear: scounteren no help */
    li t0, 0xf
    csrw scounteren, t0
    READ_TRAPS(35, PRV_U, csrr a0, cycle)
    READ_TRAPS(36, PRV_U, csrr a0, instret)
    /* M ignores both */
    csrw scounteren, zero
    TRAP_AT(csrr a0, cycle; csrr a0, time; csrr a0, instret; csrr a0, hpmcounter3)
    CHECK(37, TRAP_COUNT, 0)
    /* the M counters are never readable below M */
    li t0, 0xf
    csrw mcounteren, t0
    csrw scounteren, t0
    READ_TRAPS(38, PRV_S, csrr a0, mcycle)
    READ_TRAPS(39, PRV_S, csrr a0, minstret)
    READ_TRAPS(40, PRV_U, csrr a0, mcycle)
    /* a user counter written from U or S is illegal even when readable */
    READ_TRAPS(41, PRV_S, csrw cycle, zero)
    READ_TRAPS(42, PRV_U, csrw instret, zero)

    TEST_PASS

    M_HANDLER_CODE
