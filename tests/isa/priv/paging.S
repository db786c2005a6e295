/*
 * Virtual memory (Sv39 and Sv48), page tables built from M-mode, code run in
 * S and U: 4 KiB pages, 2 MiB megapages and 1 GiB gigapages, misaligned
 * superpages, invalid entries at each level, a pointer at the last level,
 * permission faults (load 13, store 15, fetch 12) with stval = the virtual
 * address, pages crossed by a misaligned access or a 32-bit instruction, U
 * pages versus SUM, MXR, W without R, non-canonical addresses, hardware A/D
 * updates, sfence.vma (all, by address, by ASID), satp WARL, delegation of
 * page faults to S.
 *
 * Virtual layout (Sv39; Sv48 reuses the tree below one more level):
 *   0x0000_0000 + i * 4 KiB  the 4 KiB test pages of l0 (see page_setup)
 *   0x0020_0000              2 MiB megapage -> 0x8020_0000 (RW)
 *   0x0040_0000              megapage with a misaligned PPN
 *   0x0060_0000              pointer to l0 with A, D and U set (faults)
 *   0x0080_0000              invalid level-1 entry
 *   0x4000_0000              invalid level-2 entry
 *   0x8000_0000              1 GiB identity gigapage (RWX, not U): code, data
 *   0xc000_0000              gigapage alias of 0x8000_0000, read/write only
 *   0x1_0000_0000            gigapage with a misaligned PPN
 *   0x1_8000_0000            gigapage alias of 0x8000_0000 with U: U-mode code
 */
#include "test.h"
#include "priv_macros.h"

#define PG(i)      ((i) << 12)
#define ALIAS_U    0x100000000       /* U alias VA - PA */
#define ALIAS_RW   0x40000000        /* read/write alias VA - PA */
#define MEGA_VA    0x200000
#define MEGA_PA    0x80200000
#define RWX        (PTE_R | PTE_W | PTE_X)
#define AD         (PTE_A | PTE_D)
#define DATA_A     0xaaaaaaaa00000001
#define DATA_B     0xbbbbbbbb00000002
#define DATA_C     0xcccccccc00000003
#define DATA_D     0xdddddddd00000004

/* table[idx] = leaf or pointer to the page of label target, with flags. */
#define PTE_TO(table, idx, target, flags)           \
    la t1, target; PTE_WRITE(table, idx, flags)
#define PTE_PA(table, idx, pa, flags)               \
    li t1, pa; PTE_WRITE(table, idx, flags)
#define PTE_WRITE(table, idx, flags)                \
    srli t1, t1, 12; slli t1, t1, 10;               \
    ori t1, t1, flags;                              \
    la t2, table; li t3, (idx) * 8; add t2, t2, t3; \
    sd t1, 0(t2)

/* Like RUN_IN(PRV_U, code), with code running at its U-page alias. */
#define RUN_U(code...)                              \
    TRAP_CLEAR;                                     \
    la TRAP_RESUME, 99f;                            \
    li t0, MSTATUS_MPP; csrc mstatus, t0;           \
    la t0, 98f; li t1, ALIAS_U; add t0, t0, t1;     \
    csrw mepc, t0;                                  \
    mret;                                           \
98: code;                                           \
97: ecall;                                          \
99:

/* Like RUN_IN(PRV_S, code), flushing the TLB first. */
#define RUN_S(code...) RUN_IN(PRV_S, sfence.vma; code)

/* Check that reg is the U alias of label. */
#define CHECK_LABEL_U(n, reg, label)                \
    li TESTNUM, n;                                  \
    la t6, label; li t5, ALIAS_U; add t6, t6, t5;   \
    bne reg, t6, test_fail

/* A page fault taken by M at label 91 with tval va. */
#define CHECK_PF(n, cause, va) CHECK_MTRAP(n, cause, 91b, va)

/* A fetch page fault taken by M at va: epc = tval = va. */
#define CHECK_FETCH_PF(n, va)                       \
    CHECK(n, TRAP_MCAUSE, CAUSE_FETCH_PAGE_FAULT);  \
    CHECK(n, TRAP_MEPC, va);                        \
    CHECK(n, TRAP_MTVAL, va)

/* tval of a fault on the second page of an access at va: the access
 * address or the start of that page (both allowed by the spec). */
#define CHECK_TVAL2(n, va, page)                    \
    li TESTNUM, n;                                  \
    li t6, va;                                      \
    beq TRAP_MTVAL, t6, 1f;                         \
    li t6, page;                                    \
    bne TRAP_MTVAL, t6, test_fail;                  \
1:

TEST_BEGIN
    INSTALL_M_HANDLER
    INSTALL_S_HANDLER
    PMP_ALLOW_ALL
    jal ra, page_setup
    jal ra, data_setup
    la t0, root
    srli t0, t0, 12
    li t1, SATP_SV39
    or t0, t0, t1
    csrw satp, t0
    csrr a0, satp
    CHECK_REG(1, a0, t0)
    sfence.vma

    /* ---- S: basic mappings through each page size ---- */
    RUN_S(li a1, PG(1); ld a0, 0(a1))
    CHECK(2, TRAP_MCAUSE, CAUSE_ECALL_S)
    CHECK(3, a0, DATA_A)
    li a2, 0x1234567887654321
    RUN_S(li a1, PG(2); sd a2, 8(a1); ld a0, 8(a1))
    CHECK(4, TRAP_MCAUSE, CAUSE_ECALL_S)
    CHECK(5, a0, 0x1234567887654321)
    la a1, data_b
    ld a0, 8(a1)                    /* M sees it at the physical address */
    CHECK(6, a0, 0x1234567887654321)
    li a1, MEGA_PA + 0x1238         /* megapage */
    li a2, 0x0badc0de
    sd a2, 0(a1)
    RUN_S(li a1, MEGA_VA + 0x1238; ld a0, 0(a1); li a1, MEGA_VA + 0x1ffff8; sd a2, 0(a1))
    CHECK(7, TRAP_MCAUSE, CAUSE_ECALL_S)
    CHECK(8, a0, 0x0badc0de)
    li a1, MEGA_PA + 0x1ffff8
    ld a0, 0(a1)
    CHECK(9, a0, 0x0badc0de)
    la a1, data_c                   /* gigapage alias */
    li a2, ALIAS_RW
    add a1, a1, a2
    RUN_S(ld a0, 0(a1))
    CHECK(10, TRAP_MCAUSE, CAUSE_ECALL_S)
    CHECK(11, a0, DATA_C)
    la a1, 1f                       /* ... which is not executable */
    li a2, ALIAS_RW
    add a1, a1, a2
    RUN_S(91: jalr ra, 0(a1))
1:  CHECK(12, TRAP_MCAUSE, CAUSE_FETCH_PAGE_FAULT)
    CHECK_REG(12, TRAP_MEPC, a1)
    CHECK_REG(12, TRAP_MTVAL, a1)
    /* a misaligned access that crosses two pages mapped to unrelated frames */
    la a1, data_a + 4088
    li a2, 0x5555555566666666
    sd a2, 0(a1)
    RUN_S(li a1, PG(1) + 0xffc; ld a0, 0(a1))
    CHECK(13, TRAP_MCAUSE, CAUSE_ECALL_S)
    li t0, DATA_B
    slli t0, t0, 32
    li t1, 0x55555555
    or t0, t0, t1
    CHECK_REG(14, a0, t0)

    /* ---- invalid and malformed entries: load 13, store 15 ---- */
    RUN_S(li a1, PG(0); 91: ld a0, 0x10(a1))
    CHECK_PF(15, CAUSE_LOAD_PAGE_FAULT, 0x10)
    RUN_S(li a1, PG(0); 91: sw a0, 0x24(a1))
    CHECK_PF(16, CAUSE_STORE_PAGE_FAULT, 0x24)
    RUN_S(li a1, 0x800000; 91: lw a0, 4(a1))     /* invalid at level 1 */
    CHECK_PF(17, CAUSE_LOAD_PAGE_FAULT, 0x800004)
    RUN_S(li a1, 0x40000000; 91: sd a0, 0(a1))   /* invalid at level 2 */
    CHECK_PF(18, CAUSE_STORE_PAGE_FAULT, 0x40000000)
    RUN_S(li a1, PG(11); 91: ld a0, 0(a1))       /* pointer at level 0 */
    CHECK_PF(19, CAUSE_LOAD_PAGE_FAULT, PG(11))
    RUN_S(li a1, 0x400000; 91: ld a0, 0x18(a1))  /* misaligned megapage */
    CHECK_PF(20, CAUSE_LOAD_PAGE_FAULT, 0x400018)
    RUN_S(li a1, 0x100000000; 91: sb a0, 1(a1))  /* misaligned gigapage */
    CHECK_PF(21, CAUSE_STORE_PAGE_FAULT, 0x100000001)
    RUN_S(li a1, PG(4); 91: ld a0, 0(a1))        /* W without R */
    CHECK_PF(22, CAUSE_LOAD_PAGE_FAULT, PG(4))
    RUN_S(li a1, PG(4); 91: sd a0, 8(a1))
    CHECK_PF(23, CAUSE_STORE_PAGE_FAULT, PG(4) + 8)
    /* non-canonical: bits 63:39 differ from bit 38 */
    RUN_S(li a1, 0x8000000000; 91: ld a0, 0(a1))
    CHECK_PF(24, CAUSE_LOAD_PAGE_FAULT, 0x8000000000)
    RUN_S(li a1, 0x4000001000; 91: sd a0, 0(a1))
    CHECK_PF(25, CAUSE_STORE_PAGE_FAULT, 0x4000001000)
    RUN_S(li a1, 0xffff7fc000000000; 91: ld a0, 0(a1))
    CHECK_PF(26, CAUSE_LOAD_PAGE_FAULT, 0xffff7fc000000000)
    RUN_S(li a1, 0x8000000000 + PG(1); 91: jalr ra, 0(a1))
    CHECK_FETCH_PF(27, 0x8000000000 + PG(1))
    /* canonical, upper half, unmapped */
    RUN_S(li a1, 0xffffffc000000000; 91: ld a0, 0(a1))
    CHECK_PF(28, CAUSE_LOAD_PAGE_FAULT, 0xffffffc000000000)

    /* ---- permissions ---- */
    RUN_S(li a1, PG(1); 91: sd a0, 0x30(a1))     /* R only */
    CHECK_PF(29, CAUSE_STORE_PAGE_FAULT, PG(1) + 0x30)
    RUN_S(li a1, PG(1) + 0x40; 91: jalr ra, 0(a1))
    CHECK_FETCH_PF(30, PG(1) + 0x40)
    RUN_S(li a1, PG(1); 91: amoadd.d a0, a0, (a1))   /* AMO needs W */
    CHECK_PF(31, CAUSE_STORE_PAGE_FAULT, PG(1))
    RUN_S(li a1, PG(1); lr.d a0, (a1))           /* LR needs only R */
    CHECK(32, TRAP_MCAUSE, CAUSE_ECALL_S)
    CHECK(32, a0, DATA_A)
    /* execute-only: callable, not readable unless MXR */
    RUN_S(li a1, PG(3); jalr ra, 0(a1))
    CHECK(33, TRAP_MCAUSE, CAUSE_ECALL_S)
    CHECK(33, a0, 0x5a)
    RUN_S(li a1, PG(3); 91: lw a0, 0(a1))
    CHECK_PF(34, CAUSE_LOAD_PAGE_FAULT, PG(3))
    li t0, MSTATUS_MXR
    csrs mstatus, t0
    RUN_S(li a1, PG(3); lhu a0, 0(a1))
    CHECK(35, TRAP_MCAUSE, CAUSE_ECALL_S)
    CHECK_INSN16(35, a0, xfunc)
    RUN_S(li a1, PG(3); 91: sw a0, 0(a1))        /* MXR does not give W */
    CHECK_PF(36, CAUSE_STORE_PAGE_FAULT, PG(3))
    li t0, MSTATUS_MXR
    csrc mstatus, t0

    /* ---- U pages from S: SUM for data, never for fetch ---- */
    RUN_S(li a1, PG(5); 91: ld a0, 0(a1))
    CHECK_PF(37, CAUSE_LOAD_PAGE_FAULT, PG(5))
    RUN_S(li a1, PG(5); 91: sd a0, 8(a1))
    CHECK_PF(38, CAUSE_STORE_PAGE_FAULT, PG(5) + 8)
    li t0, MSTATUS_SUM
    csrs mstatus, t0
    li a2, 0x77
    RUN_S(li a1, PG(5); sd a2, 8(a1); ld a0, 0(a1))
    CHECK(39, TRAP_MCAUSE, CAUSE_ECALL_S)
    CHECK(40, a0, DATA_C)
    RUN_S(li a1, PG(6); 91: jalr ra, 0(a1))
    CHECK_FETCH_PF(41, PG(6))
    li t0, MSTATUS_SUM
    csrc mstatus, t0
    RUN_S(li a1, PG(6); 91: jalr ra, 0(a1))
    CHECK_FETCH_PF(42, PG(6))

    /* ---- U ---- */
    RUN_U(li a1, PG(5); ld a0, 8(a1))
    CHECK(43, TRAP_MCAUSE, CAUSE_ECALL_U)
    CHECK(44, a0, 0x77)
    CHECK_LABEL_U(45, TRAP_MEPC, 97b)
    RUN_U(li a1, PG(6); jalr ra, 0(a1))          /* U code on a U page */
    CHECK(46, TRAP_MCAUSE, CAUSE_ECALL_U)
    CHECK(46, a0, 0x5a)
    RUN_U(li a1, PG(1); 91: ld a0, 0(a1))        /* not a U page */
    CHECK(47, TRAP_MCAUSE, CAUSE_LOAD_PAGE_FAULT)
    CHECK_LABEL_U(47, TRAP_MEPC, 91b)
    CHECK(47, TRAP_MTVAL, PG(1))
    RUN_U(li a1, PG(2); 91: sd a0, 0(a1))
    CHECK(48, TRAP_MCAUSE, CAUSE_STORE_PAGE_FAULT)
    CHECK(48, TRAP_MTVAL, PG(2))
    li t0, MSTATUS_SUM              /* SUM is about S only */
    csrs mstatus, t0
    RUN_U(li a1, PG(1); 91: ld a0, 0(a1))
    CHECK(49, TRAP_MCAUSE, CAUSE_LOAD_PAGE_FAULT)
    li t0, MSTATUS_SUM
    csrc mstatus, t0
    la a1, 1f                       /* fetch from a non-U page */
    RUN_U(91: jalr ra, 0(a1))
1:  CHECK(50, TRAP_MCAUSE, CAUSE_FETCH_PAGE_FAULT)
    CHECK_REG(50, TRAP_MEPC, a1)
    CHECK_REG(50, TRAP_MTVAL, a1)
    RUN_U(li a1, PG(12); 91: lw a0, 0(a1))       /* U execute-only */
    CHECK(51, TRAP_MCAUSE, CAUSE_LOAD_PAGE_FAULT)
    li t0, MSTATUS_MXR
    csrs mstatus, t0
    RUN_U(li a1, PG(12); lhu a0, 0(a1))
    CHECK(52, TRAP_MCAUSE, CAUSE_ECALL_U)
    CHECK_INSN16(52, a0, xfunc)
    li t0, MSTATUS_MXR
    csrc mstatus, t0

    /* ---- faults on the second page of an access ---- */
    RUN_S(li a1, PG(14) + 0xffc; 91: ld a0, 0(a1))
    CHECK(53, TRAP_MCAUSE, CAUSE_LOAD_PAGE_FAULT)
    CHECK_LABEL(53, TRAP_MEPC, 91b)
    CHECK_TVAL2(53, PG(14) + 0xffc, PG(15))
    RUN_S(li a0, -1; li a1, PG(14) + 0xffe; 91: sw a0, 0(a1))
    CHECK(54, TRAP_MCAUSE, CAUSE_STORE_PAGE_FAULT)
    CHECK_TVAL2(54, PG(14) + 0xffe, PG(15))
    la a1, data_b + 0xffe           /* the faulting store wrote nothing */
    lhu a0, 0(a1)
    CHECK(55, a0, 0)
    RUN_S(li a1, PG(16) - 2; 91: lw a0, 0(a1))   /* first page invalid */
    CHECK_PF(56, CAUSE_LOAD_PAGE_FAULT, PG(16) - 2)
    /* a 32-bit instruction whose second half is on a non-executable page */
    RUN_S(li a1, PG(10) - 2; 91: jalr ra, 0(a1))
    CHECK(57, TRAP_MCAUSE, CAUSE_FETCH_PAGE_FAULT)
    CHECK(57, TRAP_MEPC, PG(10) - 2)
    CHECK_TVAL2(57, PG(10) - 2, PG(10))

    /* ---- A and D are set by the hardware ---- */
    RUN_S(li a1, PG(7); ld a0, 0(a1))
    CHECK(58, TRAP_MCAUSE, CAUSE_ECALL_S)
    CHECK(58, a0, DATA_D)
    la a1, l0
    ld a0, 7 * 8(a1)
    CHECK_MASK(59, a0, AD, PTE_A)
    RUN_S(li a1, PG(8); li a0, 0x99; sd a0, 0x10(a1))
    CHECK(60, TRAP_MCAUSE, CAUSE_ECALL_S)
    la a1, l0
    ld a0, 8 * 8(a1)
    CHECK_MASK(61, a0, AD, AD)
    RUN_S(li a1, PG(7); sd a0, 0x18(a1))
    la a1, l0
    ld a0, 7 * 8(a1)
    CHECK_MASK(62, a0, AD | RWX | PTE_V, AD | PTE_R | PTE_W | PTE_V)

    /* ---- a non-leaf entry with A, D or U set (reserved): QEMU faults ---- */
    RUN_S(li a1, 0x600000 + PG(1); 91: ld a0, 0(a1))
    CHECK_PF(63, CAUSE_LOAD_PAGE_FAULT, 0x600000 + PG(1))

    /* ---- sfence.vma: after it, the new mapping is used ---- */
    RUN_S(li a1, PG(13); ld a0, 0(a1); la a3, l0; ld a4, 13 * 8(a3);
          la a5, data_b; srli a5, a5, 12; slli a5, a5, 10; andi a4, a4, 0x3ff;
          or a4, a4, a5; sd a4, 13 * 8(a3); sfence.vma; ld a2, 0(a1))
    CHECK(64, TRAP_MCAUSE, CAUSE_ECALL_S)
    CHECK(64, a0, DATA_A)
    CHECK(65, a2, DATA_B)
    PTE_TO(l0, 13, data_c, PTE_V | PTE_R | PTE_W | AD)
    RUN_IN(PRV_S, li a1, PG(13); sfence.vma a1, zero; ld a0, 0(a1))
    CHECK(66, a0, DATA_C)
    /* with ASID 5 in satp: by ASID, then by address and ASID */
    la t0, root
    srli t0, t0, 12
    li t1, SATP_SV39 | (5 << 44)
    or t0, t0, t1
    csrw satp, t0
    csrr a0, satp                   /* ASIDLEN may be 0: ignore the ASID */
    xor a0, a0, t0
    li t1, ~(0xffff << 44)
    and a0, a0, t1
    CHECK(67, a0, 0)
    PTE_TO(l0, 13, data_d, PTE_V | PTE_R | PTE_W | AD)
    RUN_IN(PRV_S, li a1, PG(13); li a2, 5; sfence.vma zero, a2; ld a0, 0(a1))
    CHECK(68, a0, DATA_D)
    PTE_TO(l0, 13, data_a, PTE_V | PTE_R | PTE_W | AD)
    RUN_IN(PRV_S, li a1, PG(13); li a2, 5; sfence.vma a1, a2; ld a0, 0(a1))
    CHECK(69, a0, DATA_A)

    /* ---- satp is WARL: reserved modes are not written ---- */
    csrr a1, satp
    li t0, (15 << 60) | 0x1234
    csrw satp, t0
    csrr a0, satp
    CHECK_REG(70, a0, a1)
    li t0, (11 << 60) | 0x1234
    csrw satp, t0
    csrr a0, satp
    CHECK_REG(71, a0, a1)
    li t0, (1 << 60) | 0x1234
    csrw satp, t0
    csrr a0, satp
    CHECK_REG(72, a0, a1)

    /* ---- page faults delegated to S: scause/stval, M not involved ---- */
    li t0, (1 << CAUSE_FETCH_PAGE_FAULT) | (1 << CAUSE_LOAD_PAGE_FAULT) | \
           (1 << CAUSE_STORE_PAGE_FAULT)
    csrw medeleg, t0
    RUN_U(li a1, PG(1) + 0x28; 91: ld a0, 0(a1))
    CHECK(73, TRAP_COUNT, 1)
    CHECK_LABEL(73, TRAP_MEPC, s_trap_ecall)
    CHECK(74, TRAP_SCAUSE, CAUSE_LOAD_PAGE_FAULT)
    CHECK_LABEL_U(74, TRAP_SEPC, 91b)
    CHECK(74, TRAP_STVAL, PG(1) + 0x28)
    CHECK_MASK(74, TRAP_SSTATUS, MSTATUS_SPP, 0)
    RUN_S(li a1, 0x40000000 + 0x38; 91: sd a0, 0(a1))
    CHECK(75, TRAP_COUNT, 1)
    CHECK_SEXC(75, CAUSE_STORE_PAGE_FAULT, 91b)
    CHECK(75, TRAP_STVAL, 0x40000038)
    CHECK_MASK(75, TRAP_SSTATUS, MSTATUS_SPP, MSTATUS_SPP)
    RUN_S(li a1, PG(1) + 0x40; 91: jalr ra, 0(a1))
    CHECK(76, TRAP_COUNT, 1)
    CHECK(76, TRAP_SCAUSE, CAUSE_FETCH_PAGE_FAULT)
    CHECK(76, TRAP_SEPC, PG(1) + 0x40)
    CHECK(76, TRAP_STVAL, PG(1) + 0x40)
    csrw medeleg, zero

    /* ---- Sv48: the same tree one level down, plus a higher alias ---- */
    la t0, root48
    srli t0, t0, 12
    li t1, SATP_SV48
    or t0, t0, t1
    csrw satp, t0
    csrr a0, satp
    CHECK_REG(77, a0, t0)
    RUN_S(li a1, PG(1); ld a0, 0(a1))
    CHECK(78, TRAP_MCAUSE, CAUSE_ECALL_S)
    CHECK(78, a0, DATA_A)
    RUN_S(li a1, 0x8000000000 + PG(2); ld a0, 8(a1))  /* canonical in Sv48 */
    CHECK(79, TRAP_MCAUSE, CAUSE_ECALL_S)
    CHECK(79, a0, 0x1234567887654321)
    RUN_S(li a1, 0x800000000000; 91: ld a0, 0(a1))    /* not canonical */
    CHECK_PF(80, CAUSE_LOAD_PAGE_FAULT, 0x800000000000)
    RUN_S(li a1, 0x10000000000; 91: ld a0, 0(a1))     /* root48[2] invalid */
    CHECK_PF(81, CAUSE_LOAD_PAGE_FAULT, 0x10000000000)
    RUN_S(li a1, MEGA_VA + 0x1238; ld a0, 0(a1))
    CHECK(82, a0, 0x0badc0de)
    RUN_U(li a1, PG(1); 91: ld a0, 0(a1))
    CHECK(83, TRAP_MCAUSE, CAUSE_LOAD_PAGE_FAULT)
    RUN_U(li a1, PG(5); ld a0, 8(a1))
    CHECK(84, TRAP_MCAUSE, CAUSE_ECALL_U)
    CHECK(84, a0, 0x77)
    csrw satp, zero

    TEST_PASS

/* Fill the page tables (all zero in .data) as described at the top. */
page_setup:
    PTE_TO(root48, 0, root, PTE_V)
    PTE_TO(root48, 1, root, PTE_V)
    PTE_TO(root, 0, l1, PTE_V)
    PTE_PA(root, 2, 0x80000000, PTE_V | RWX | AD)
    PTE_PA(root, 3, 0x80000000, PTE_V | PTE_R | PTE_W | AD)
    PTE_PA(root, 4, MEGA_PA, PTE_V | PTE_R | PTE_W | AD)
    PTE_PA(root, 6, 0x80000000, PTE_V | RWX | PTE_U | AD)
    PTE_TO(l1, 0, l0, PTE_V)
    PTE_PA(l1, 1, MEGA_PA, PTE_V | PTE_R | PTE_W | AD)
    PTE_PA(l1, 2, MEGA_PA + 0x1000, PTE_V | PTE_R | PTE_W | AD)
    PTE_TO(l1, 3, l0, PTE_V | PTE_A | PTE_D | PTE_U)
    PTE_TO(l0, 1, data_a, PTE_V | PTE_R | PTE_A)
    PTE_TO(l0, 2, data_b, PTE_V | PTE_R | PTE_W | AD)
    PTE_TO(l0, 3, xpage, PTE_V | PTE_X | PTE_A)
    PTE_TO(l0, 4, data_a, PTE_V | PTE_W | AD)
    PTE_TO(l0, 5, data_c, PTE_V | PTE_R | PTE_W | PTE_U | AD)
    PTE_TO(l0, 6, xpage, PTE_V | PTE_R | PTE_X | PTE_U | PTE_A)
    PTE_TO(l0, 7, data_d, PTE_V | PTE_R | PTE_W)
    PTE_TO(l0, 8, data_d, PTE_V | PTE_R | PTE_W | PTE_A)
    PTE_TO(l0, 9, xpage2, PTE_V | PTE_R | PTE_X | PTE_A)
    PTE_TO(l0, 10, data_a, PTE_V | PTE_R | PTE_A)
    PTE_TO(l0, 11, l0, PTE_V)
    PTE_TO(l0, 12, xpage, PTE_V | PTE_X | PTE_U | PTE_A)
    PTE_TO(l0, 13, data_a, PTE_V | PTE_R | PTE_W | AD)
    PTE_TO(l0, 14, data_b, PTE_V | PTE_R | PTE_W | AD)
    PTE_TO(l0, 16, data_a, PTE_V | PTE_R | PTE_W | AD)
    ret

/* Mark the data pages. */
data_setup:
    la t1, data_a; li t2, DATA_A; sd t2, 0(t1)
    la t1, data_b; li t2, DATA_B; sd t2, 0(t1)
    la t1, data_c; li t2, DATA_C; sd t2, 0(t1)
    la t1, data_d; li t2, DATA_D; sd t2, 0(t1)
    ret

    M_HANDLER_CODE
    S_HANDLER_CODE

/* Code reached only through the test mappings. */
    .align 12
xpage:
xfunc:
    li a0, 0x5a
    ret
    .align 12
xpage2:
    .space 4096 - 2
    .hword 0x0513                   /* first half of addi a0, a0, ... */
    .align 12

    .data
    .align 12
root48: .space 4096
root:   .space 4096
l1:     .space 4096
l0:     .space 4096
data_a: .space 4096
data_b: .space 4096
data_c: .space 4096
data_d: .space 4096
