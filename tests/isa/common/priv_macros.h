/*
 * Helpers for the privileged-architecture ISA tests (tests/isa/priv): CSR bit
 * constants, mode switches, PMP set-up, and trap handlers that record what
 * the hart reported so the main flow can check it.  Include after test.h.
 *
 * Register conventions (on top of test.h's gp = test number, t5/t6 scratch):
 *   s8          resume address: the M handler returns there, in M-mode
 *   s7 s9-s11   the M handler's record: mstatus, mcause, mepc, mtval
 *   s6          number of traps taken by the M handler
 *   s2-s5       the S handler's record: sstatus, scause, sepc, stval
 * The M handler (m_trap_handler) records, disables all interrupt enables in
 * mie when the trap was an interrupt, and resumes at s8 in M-mode with
 * MIE = 0 (whatever the mode and MIE were before the trap).  The S
 * handler (s_trap_handler) records into s2-s5, disables sie when the trap was
 * an interrupt, and executes ecall, so control comes back to M (s9 = 9) and
 * then to s8.  Both preserve every other register (the M handler parks t0
 * in mscratch).  TRAP_CLEAR sets every record to -1 ("nothing") and s6 to 0.
 */
#ifndef HOSTEL_TESTS_ISA_PRIV_MACROS_H
#define HOSTEL_TESTS_ISA_PRIV_MACROS_H

#define PRV_U 0
#define PRV_S 1
#define PRV_M 3

#define MSTATUS_SIE   (1 << 1)
#define MSTATUS_MIE   (1 << 3)
#define MSTATUS_SPIE  (1 << 5)
#define MSTATUS_MPIE  (1 << 7)
#define MSTATUS_SPP   (1 << 8)
#define MSTATUS_MPP   (3 << 11)
#define MSTATUS_MPP_S (1 << 11)
#define MSTATUS_MPP_M (3 << 11)
#define MSTATUS_FS    (3 << 13)
#define MSTATUS_MPRV  (1 << 17)
#define MSTATUS_SUM   (1 << 18)
#define MSTATUS_MXR   (1 << 19)
#define MSTATUS_TVM   (1 << 20)
#define MSTATUS_TW    (1 << 21)
#define MSTATUS_TSR   (1 << 22)

#define IRQ_SSI 1
#define IRQ_MSI 3
#define IRQ_STI 5
#define IRQ_MTI 7
#define IRQ_SEI 9
#define IRQ_MEI 11
#define MIP_SSIP (1 << IRQ_SSI)
#define MIP_MSIP (1 << IRQ_MSI)
#define MIP_STIP (1 << IRQ_STI)
#define MIP_MTIP (1 << IRQ_MTI)
#define MIP_SEIP (1 << IRQ_SEI)
#define MIP_MEIP (1 << IRQ_MEI)
#define INTR(irq) ((1 << 63) | (irq))   /* mcause value of an interrupt */

#define CAUSE_MISALIGNED_FETCH 0
#define CAUSE_FETCH_ACCESS     1
#define CAUSE_ILLEGAL_INSN     2
#define CAUSE_BREAKPOINT       3
#define CAUSE_MISALIGNED_LOAD  4
#define CAUSE_LOAD_ACCESS      5
#define CAUSE_MISALIGNED_STORE 6
#define CAUSE_STORE_ACCESS     7
#define CAUSE_ECALL_U          8
#define CAUSE_ECALL_S          9
#define CAUSE_ECALL_M          11
#define CAUSE_FETCH_PAGE_FAULT 12
#define CAUSE_LOAD_PAGE_FAULT  13
#define CAUSE_STORE_PAGE_FAULT 15

#define SATP_SV39 (8 << 60)
#define SATP_SV48 (9 << 60)

#define PTE_V (1 << 0)
#define PTE_R (1 << 1)
#define PTE_W (1 << 2)
#define PTE_X (1 << 3)
#define PTE_U (1 << 4)
#define PTE_G (1 << 5)
#define PTE_A (1 << 6)
#define PTE_D (1 << 7)

/* Records of the handlers (see the conventions above). */
#define TRAP_RESUME  s8
#define TRAP_MSTATUS s7
#define TRAP_MCAUSE  s9
#define TRAP_MEPC    s10
#define TRAP_MTVAL   s11
#define TRAP_COUNT   s6
#define TRAP_SSTATUS s2
#define TRAP_SCAUSE  s3
#define TRAP_SEPC    s4
#define TRAP_STVAL   s5

/* Forget every earlier trap: records -1, count 0. */
#define TRAP_CLEAR                                  \
    li s7, -1; li s9, -1; li s10, -1; li s11, -1;   \
    li s2, -1; li s3, -1; li s4, -1; li s5, -1;     \
    li s6, 0

/* Check that reg equals the address of label (test number n). */
#define CHECK_LABEL(n, reg, label)                  \
    li TESTNUM, n;                                  \
    la t6, label;                                   \
    bne reg, t6, test_fail

/* Check that reg equals the 64-bit constant val (test number n). */
#define CHECK(n, reg, val)                          \
    li TESTNUM, n;                                  \
    li t6, val;                                     \
    bne reg, t6, test_fail

/* Check that reg equals register other (test number n). */
#define CHECK_REG(n, reg, other)                    \
    li TESTNUM, n;                                  \
    bne reg, other, test_fail

/* Check that (reg & mask) == val, using t5 (test number n). */
#define CHECK_MASK(n, reg, mask, val)               \
    li TESTNUM, n;                                  \
    li t6, mask;                                    \
    and t5, reg, t6;                                \
    li t6, val;                                     \
    bne t5, t6, test_fail

/* Check the M handler's record of the last trap: cause and epc label. */
#define CHECK_MEXC(n, cause, epc_label)             \
    CHECK(n, TRAP_MCAUSE, cause);                   \
    CHECK_LABEL(n, TRAP_MEPC, epc_label)

/* The same and tval. */
#define CHECK_MTRAP(n, cause, epc_label, tval)      \
    CHECK_MEXC(n, cause, epc_label);                \
    CHECK(n, TRAP_MTVAL, tval)

/* Check the S handler's record of the last trap: cause and epc label. */
#define CHECK_SEXC(n, cause, epc_label)             \
    CHECK(n, TRAP_SCAUSE, cause);                   \
    CHECK_LABEL(n, TRAP_SEPC, epc_label)

/* Check that reg holds the 32-bit instruction at label (any 2-byte alignment). */
#define CHECK_INSN(n, reg, label)                   \
    li TESTNUM, n;                                  \
    la t6, label;                                   \
    lhu t5, 2(t6);                                  \
    slli t5, t5, 16;                                \
    lhu t6, 0(t6);                                  \
    or t6, t6, t5;                                  \
    bne reg, t6, test_fail

/* Check that reg holds the 16-bit instruction at label. */
#define CHECK_INSN16(n, reg, label)                 \
    li TESTNUM, n;                                  \
    la t6, label;                                   \
    lhu t6, 0(t6);                                  \
    bne reg, t6, test_fail

/*
 * Run code in M-mode expecting a trap at its first instruction (local label
 * 91); the handler resumes after it (local label 92).
 */
#define TRAP_AT(code...)                            \
    TRAP_CLEAR;                                     \
    la TRAP_RESUME, 92f;                            \
91: code;                                           \
92:

/* Install the recording handlers (direct mode). */
#define INSTALL_M_HANDLER                           \
    la t0, m_trap_handler; csrw mtvec, t0
#define INSTALL_S_HANDLER                           \
    la t0, s_trap_handler; csrw stvec, t0

/* A PMP entry that gives S and U full access to everything (as firmware). */
#define PMP_ALLOW_ALL                               \
    li t0, -1; csrw pmpaddr0, t0;                   \
    li t0, 0x1f; csrw pmpcfg0, t0

/* mret to label in privilege mode (PRV_U, PRV_S, PRV_M). Clobbers t0. */
#define GO_MODE(mode, label)                        \
    li t0, MSTATUS_MPP; csrc mstatus, t0;           \
    li t0, (mode) << 11; csrs mstatus, t0;          \
    la t0, label; csrw mepc, t0;                    \
    mret

/*
 * Forget earlier traps, run code in privilege mode and come back to M with
 * ecall: afterwards s9 is the ecall cause (8/9/11) if code did not trap, or
 * the cause of the first trap of code.  Local labels: 98 = the first
 * instruction of code, 97 = the closing ecall, 99 = after it (in M).
 */
#define RUN_IN(mode, code...)                       \
    TRAP_CLEAR;                                     \
    la TRAP_RESUME, 99f;                            \
    GO_MODE(mode, 98f);                             \
98: code;                                           \
97: ecall;                                          \
99:

/*
 * The handlers' code: put M_HANDLER_CODE and S_HANDLER_CODE once in .text of
 * a test that uses them.
 */
#define M_HANDLER_CODE                              \
    .align 4;                                       \
m_trap_handler:                                     \
    csrrw t0, mscratch, t0;                         \
    csrr s7, mstatus;                               \
    csrr s9, mcause;                                \
    csrr s10, mepc;                                 \
    csrr s11, mtval;                                \
    addi s6, s6, 1;                                 \
    bgez s9, 1f;                                    \
    csrw mie, zero;                                 \
1:  li t0, MSTATUS_MPP_M;                           \
    csrs mstatus, t0;                               \
    li t0, MSTATUS_MPIE;                            \
    csrc mstatus, t0;                               \
    csrw mepc, s8;                                  \
    csrrw t0, mscratch, t0;                         \
    mret

#define S_HANDLER_CODE                              \
    .align 4;                                       \
s_trap_handler:                                     \
    csrr s2, sstatus;                               \
    csrr s3, scause;                                \
    csrr s4, sepc;                                  \
    csrr s5, stval;                                 \
    bgez s3, 1f;                                    \
    csrw sie, zero;                                 \
1:                                                  \
s_trap_ecall:                                       \
    ecall

#endif
