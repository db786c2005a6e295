/*
 * mstatus.MPRV: with MPRV = 1, M-mode loads and stores (also AMOs and FP) are
 * translated and checked with the privilege in MPP (SUM and MXR apply), and
 * their faults go to M even when page faults are delegated; fetches are not
 * translated (the page tables below do not map the code at all).  MPP = M
 * means no translation.  An mret that stays in M keeps MPRV.
 */
#include "test.h"
#include "priv_macros.h"

#define PG(i)   ((i) << 12)
#define AD      (PTE_A | PTE_D)
#define DATA_A  0xaaaaaaaa00000001
#define DATA_B  0xbbbbbbbb00000002
#define DATA_C  0xcccccccc00000003

#define PTE_TO(table, idx, target, flags)           \
    la t1, target;                                  \
    srli t1, t1, 12; slli t1, t1, 10;               \
    ori t1, t1, flags;                              \
    la t2, table; sd t1, (idx) * 8(t2)

/*
 * Run code in M with MPRV = 1 and MPP = mpp, expecting a trap at its first
 * instruction or none; MPRV is cleared again before anything else touches
 * memory (a trap from M leaves MPP = U after the handler's mret).
 */
#define MPRV_RUN(mpp, code...)                      \
    TRAP_CLEAR;                                     \
    la TRAP_RESUME, 92f;                            \
    li t0, MSTATUS_MPP; csrc mstatus, t0;           \
    li t0, ((mpp) << 11) | MSTATUS_MPRV;            \
    csrs mstatus, t0;                               \
91: code;                                           \
92: li t0, MSTATUS_MPRV; csrc mstatus, t0

TEST_BEGIN
    INSTALL_M_HANDLER
    PMP_ALLOW_ALL
    /* root -> l1 -> l0: only test pages, nothing at the code */
    PTE_TO(root, 0, l1, PTE_V)
    PTE_TO(l1, 0, l0, PTE_V)
    PTE_TO(l0, 1, data_a, PTE_V | PTE_R | PTE_A)
    PTE_TO(l0, 2, data_b, PTE_V | PTE_R | PTE_W | AD)
    PTE_TO(l0, 3, data_a, PTE_V | PTE_X | PTE_A)
    PTE_TO(l0, 5, data_c, PTE_V | PTE_R | PTE_W | PTE_U | AD)
    la t1, data_a; li t2, DATA_A; sd t2, 0(t1)
    la t1, data_b; li t2, DATA_B; sd t2, 0(t1)
    la t1, data_c; li t2, DATA_C; sd t2, 0(t1)
    la t0, root
    srli t0, t0, 12
    li t1, SATP_SV39
    or t0, t0, t1
    csrw satp, t0
    sfence.vma

    /* MPRV = 0: M is not translated */
    la a1, data_a
    TRAP_AT(ld a0, 0(a1))
    CHECK(1, TRAP_COUNT, 0)
    CHECK(2, a0, DATA_A)

    /* ---- MPP = S ---- */
    li a1, PG(1)
    MPRV_RUN(PRV_S, ld a0, 0(a1))
    CHECK(3, TRAP_COUNT, 0)         /* the fetches were not translated */
    CHECK(4, a0, DATA_A)
    li a1, PG(2)
    li a2, 0x4242
    MPRV_RUN(PRV_S, sd a2, 8(a1))
    CHECK(5, TRAP_COUNT, 0)
    la a1, data_b
    ld a0, 8(a1)
    CHECK(6, a0, 0x4242)
    li a1, PG(1)
    MPRV_RUN(PRV_S, sd a2, 0x10(a1))             /* read-only page */
    CHECK_MTRAP(7, CAUSE_STORE_PAGE_FAULT, 91b, PG(1) + 0x10)
    CHECK_MASK(8, TRAP_MSTATUS, MSTATUS_MPRV | MSTATUS_MPP, MSTATUS_MPRV | MSTATUS_MPP_M)
    li a1, 0x40000000
    MPRV_RUN(PRV_S, lw a0, 4(a1))                /* unmapped */
    CHECK_MTRAP(9, CAUSE_LOAD_PAGE_FAULT, 91b, 0x40000004)
    li a1, PG(5)
    MPRV_RUN(PRV_S, ld a0, 0(a1))                /* U page, SUM = 0 */
    CHECK_MTRAP(10, CAUSE_LOAD_PAGE_FAULT, 91b, PG(5))
    li t0, MSTATUS_SUM
    csrs mstatus, t0
    MPRV_RUN(PRV_S, ld a0, 0(a1))                /* SUM = 1 */
    CHECK(11, TRAP_COUNT, 0)
    CHECK(12, a0, DATA_C)
    li t0, MSTATUS_SUM
    csrc mstatus, t0
    li a1, PG(3)
    MPRV_RUN(PRV_S, ld a0, 0(a1))                /* execute-only */
    CHECK_MTRAP(13, CAUSE_LOAD_PAGE_FAULT, 91b, PG(3))
    li t0, MSTATUS_MXR
    csrs mstatus, t0
    MPRV_RUN(PRV_S, ld a0, 0(a1))
    CHECK(14, TRAP_COUNT, 0)
    CHECK(15, a0, DATA_A)
    li t0, MSTATUS_MXR
    csrc mstatus, t0
    /* AMOs and FP loads/stores are translated too */
    li a1, PG(2)
    li a2, 0x77
    MPRV_RUN(PRV_S, amoswap.d a0, a2, (a1))
    CHECK(16, TRAP_COUNT, 0)
    CHECK(17, a0, DATA_B)
    la a1, data_b
    ld a0, 0(a1)
    CHECK(18, a0, 0x77)
    li a1, PG(1)
    MPRV_RUN(PRV_S, fld f1, 0(a1))
    fmv.x.d a0, f1
    CHECK(19, a0, DATA_A)
    MPRV_RUN(PRV_S, amoadd.w a0, a2, (a1))       /* needs W */
    CHECK_MTRAP(20, CAUSE_STORE_PAGE_FAULT, 91b, PG(1))

    /* ---- MPP = U ---- */
    li a1, PG(5)
    MPRV_RUN(PRV_U, ld a0, 0(a1))
    CHECK(21, TRAP_COUNT, 0)
    CHECK(22, a0, DATA_C)
    li a1, PG(1)
    MPRV_RUN(PRV_U, ld a0, 0(a1))                /* not a U page */
    CHECK_MTRAP(23, CAUSE_LOAD_PAGE_FAULT, 91b, PG(1))
    li t0, MSTATUS_SUM              /* SUM does not help U */
    csrs mstatus, t0
    MPRV_RUN(PRV_U, ld a0, 0(a1))
    CHECK_MTRAP(24, CAUSE_LOAD_PAGE_FAULT, 91b, PG(1))
    li t0, MSTATUS_SUM
    csrc mstatus, t0

    /* ---- faults of MPRV accesses are M's, even when delegated ---- */
    li t0, (1 << CAUSE_LOAD_PAGE_FAULT) | (1 << CAUSE_STORE_PAGE_FAULT)
    csrw medeleg, t0
    li a1, PG(1)
    MPRV_RUN(PRV_S, sd a0, 0(a1))
    CHECK_MTRAP(25, CAUSE_STORE_PAGE_FAULT, 91b, PG(1))
    CHECK(25, TRAP_COUNT, 1)
    csrw medeleg, zero

    /* ---- MPP = M: no translation ---- */
    la a1, data_a
    MPRV_RUN(PRV_M, ld a0, 0(a1))
    CHECK(26, TRAP_COUNT, 0)
    CHECK(27, a0, DATA_A)

    /* ---- mret to M keeps MPRV (and sets MPP = U) ---- */
    li t0, MSTATUS_MPP_M | MSTATUS_MPRV
    csrs mstatus, t0
    la t0, 1f
    csrw mepc, t0
    mret
1:  csrr a0, mstatus
    li t0, MSTATUS_MPRV
    csrc mstatus, t0
    CHECK_MASK(28, a0, MSTATUS_MPRV | MSTATUS_MPP, MSTATUS_MPRV)

    csrw satp, zero
    TEST_PASS

    M_HANDLER_CODE

    .data
    .align 12
root:   .space 4096
l1:     .space 4096
l0:     .space 4096
data_a: .space 4096
data_b: .space 4096
data_c: .space 4096
