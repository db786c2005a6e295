/*
 * Machine-level CSRs: identification registers, mstatus WARL fields, FS/SD,
 * mtvec direct and vectored modes, medeleg/mideleg writable bits, scratch and
 * trap CSRs, CSR instruction semantics, privilege checks on CSR numbers,
 * read-only and unknown CSRs, PMP CSRs.
 */
#include "test.h"
#include "priv_macros.h"

#define CLINT_MSIP     0x2000000
#define CLINT_MTIMECMP 0x2004000
#define MISA_IMAFDCSU  0x14112d
#define XL_FIELDS      (0xf << 32)     /* SXL and UXL */
#define XL_RV64        (0xa << 32)     /* SXL = UXL = 2 */
#define STATUS_CTRL    (MSTATUS_MPRV | MSTATUS_SUM | MSTATUS_MXR | MSTATUS_TVM | \
                        MSTATUS_TW | MSTATUS_TSR)

TEST_BEGIN
    INSTALL_M_HANDLER

    /* ---- identification ---- */
    TEST_CASE(1, a0, 2, csrr a0, misa; srli a0, a0, 62)
    csrr a0, misa
    CHECK_MASK(2, a0, MISA_IMAFDCSU, MISA_IMAFDCSU)
    TEST_CASE(3, a0, 0, csrr a0, mhartid)
    /* Reading a read-only CSR with csrrs/csrrc/csrrsi x0 is not a write. */
    TRAP_AT(csrrs a0, mvendorid, zero; csrrc a0, marchid, zero; csrrsi a0, mimpid, 0;
            csrrci a0, mhartid, 0)
    CHECK(4, TRAP_COUNT, 0)
    TRAP_AT(csrw mhartid, a0)
    CHECK_MEXC(5, CAUSE_ILLEGAL_INSN, 91b)
    CHECK_INSN(5, TRAP_MTVAL, 91b)
    TRAP_AT(csrrwi a0, mvendorid, 0)
    CHECK_MEXC(6, CAUSE_ILLEGAL_INSN, 91b)
    CHECK_INSN(6, TRAP_MTVAL, 91b)
    TRAP_AT(li a1, 1; csrrs a0, marchid, a1)
    CHECK(7, TRAP_MCAUSE, CAUSE_ILLEGAL_INSN)
    TRAP_AT(csrrci a0, mimpid, 1)
    CHECK(8, TRAP_MCAUSE, CAUSE_ILLEGAL_INSN)
    TRAP_AT(csrrw zero, mhartid, zero)    /* a write even with rd = rs1 = x0 */
    CHECK(9, TRAP_MCAUSE, CAUSE_ILLEGAL_INSN)

    /* ---- mstatus ---- */
    csrr a0, mstatus
    CHECK_MASK(10, a0, XL_FIELDS, XL_RV64)
    li t0, XL_FIELDS
    csrc mstatus, t0
    csrr a0, mstatus
    CHECK_MASK(11, a0, XL_FIELDS, XL_RV64)
    csrr a0, sstatus
    CHECK_MASK(12, a0, (3 << 32), (2 << 32))    /* sstatus shows UXL */
    li t0, MSTATUS_MPP
    csrc mstatus, t0
    csrr a0, mstatus
    CHECK_MASK(13, a0, MSTATUS_MPP, 0)
    li t0, MSTATUS_MPP_S
    csrs mstatus, t0
    csrr a0, mstatus
    CHECK_MASK(14, a0, MSTATUS_MPP, MSTATUS_MPP_S)
    li t0, MSTATUS_MPP_M
    csrs mstatus, t0
    csrr a0, mstatus
    CHECK_MASK(15, a0, MSTATUS_MPP, MSTATUS_MPP_M)
    li t0, STATUS_CTRL
    csrs mstatus, t0
    csrr a0, mstatus
    CHECK_MASK(16, a0, STATUS_CTRL, STATUS_CTRL)
    csrc mstatus, t0
    csrr a0, mstatus
    CHECK_MASK(17, a0, STATUS_CTRL, 0)
    /* sstatus is a view of mstatus: SIE/SPIE/SPP/SUM/MXR through it ... */
    li t0, MSTATUS_SIE | MSTATUS_SPIE | MSTATUS_SPP | MSTATUS_SUM | MSTATUS_MXR
    csrs sstatus, t0
    csrr a0, mstatus
    CHECK_MASK(18, a0, MSTATUS_SIE | MSTATUS_SPIE | MSTATUS_SPP | MSTATUS_SUM | MSTATUS_MXR,
               MSTATUS_SIE | MSTATUS_SPIE | MSTATUS_SPP | MSTATUS_SUM | MSTATUS_MXR)
    csrc sstatus, t0
    csrr a0, mstatus
    CHECK_MASK(19, a0, MSTATUS_SIE | MSTATUS_SPIE | MSTATUS_SPP | MSTATUS_SUM | MSTATUS_MXR, 0)
    /* ... but never M-only fields, in either direction. */
    li t0, MSTATUS_MPP_M | MSTATUS_MPIE | MSTATUS_TVM | MSTATUS_TW | MSTATUS_TSR | MSTATUS_MPRV
    csrs mstatus, t0
    csrr a0, sstatus
    CHECK_MASK(20, a0, MSTATUS_MPP | MSTATUS_MPIE | MSTATUS_MIE | STATUS_CTRL, 0)
    csrc sstatus, t0
    csrr a0, mstatus
    CHECK_MASK(21, a0, MSTATUS_MPP | MSTATUS_MPIE | MSTATUS_TVM | MSTATUS_TW | MSTATUS_TSR |
               MSTATUS_MPRV, MSTATUS_MPP_M | MSTATUS_MPIE | MSTATUS_TVM | MSTATUS_TW |
               MSTATUS_TSR | MSTATUS_MPRV)
    li t0, MSTATUS_TVM | MSTATUS_TW | MSTATUS_TSR | MSTATUS_MPRV
    csrc mstatus, t0

    /* ---- FS and SD ---- */
    li t0, MSTATUS_FS
    csrc mstatus, t0
    csrr a0, mstatus
#define SD (1 << 63)
    CHECK_MASK(22, a0, SD | MSTATUS_FS, 0)
    TRAP_AT(fadd.d f1, f2, f3)
    CHECK_MEXC(23, CAUSE_ILLEGAL_INSN, 91b)
    CHECK_INSN(23, TRAP_MTVAL, 91b)
    TRAP_AT(frcsr a0)
    CHECK_MEXC(24, CAUSE_ILLEGAL_INSN, 91b)
    CHECK_INSN(24, TRAP_MTVAL, 91b)
    TRAP_AT(fld f1, 0(sp))
    CHECK(25, TRAP_MCAUSE, CAUSE_ILLEGAL_INSN)
    li t0, (2 << 13)                 /* Clean */
    csrs mstatus, t0
    csrr a0, mstatus
    CHECK_MASK(26, a0, SD | MSTATUS_FS, (2 << 13))
    fmv.d.x f1, zero
    csrr a0, mstatus
    CHECK_MASK(27, a0, SD | MSTATUS_FS, SD | (3 << 13))
    li t0, MSTATUS_FS
    csrc mstatus, t0
    li t0, (2 << 13)
    csrs mstatus, t0
    csrwi fflags, 0
    csrr a0, mstatus
    CHECK_MASK(28, a0, SD | MSTATUS_FS, SD | (3 << 13))
    li t0, MSTATUS_FS
    csrc mstatus, t0
    li t0, (1 << 13)                 /* Initial */
    csrs mstatus, t0
    fcvt.d.w f2, zero
    csrr a0, mstatus
    CHECK_MASK(29, a0, SD | MSTATUS_FS, SD | (3 << 13))

    /* ---- mtvec ---- */
    csrr a1, mtvec
    li t0, 0x80000002                /* mode 2 is reserved */
    csrw mtvec, t0
    csrr a0, mtvec
    CHECK_MASK(30, a0, 2, 0)
    la t0, vtable + 1
    csrw mtvec, t0
    csrr a0, mtvec
    CHECK_LABEL(31, a0, vtable + 1)
    /* vectored: an exception goes to the base ... */
    li a7, -1
    TRAP_AT(ecall)
    CHECK(32, a7, 0)
    CHECK_MTRAP(33, CAUSE_ECALL_M, 91b, 0)
    /* ... an interrupt to base + 4 * cause: SSI (not delegated), MSI, MTI. */
    li a7, -1
    TRAP_CLEAR
    la s8, 1f
    li t0, MIP_SSIP
    csrs mip, t0
    csrw mie, t0
    csrsi mstatus, MSTATUS_MIE
2:  nop
1:  csrci mstatus, MSTATUS_MIE
    CHECK(34, a7, IRQ_SSI)
    CHECK(35, TRAP_MCAUSE, INTR(IRQ_SSI))
    CHECK_LABEL(36, TRAP_MEPC, 2b)
    CHECK(37, TRAP_MTVAL, 0)
    CHECK_MASK(38, TRAP_MSTATUS, MSTATUS_MIE | MSTATUS_MPIE | MSTATUS_MPP,
               MSTATUS_MPIE | MSTATUS_MPP_M)
    li t0, MIP_SSIP
    csrc mip, t0
    li a7, -1
    la s8, 1f
    li t0, CLINT_MSIP
    li t1, 1
    sw t1, 0(t0)
    li t0, MIP_MSIP
    csrw mie, t0
    csrsi mstatus, MSTATUS_MIE
    nop
1:  csrci mstatus, MSTATUS_MIE
    li t0, CLINT_MSIP
    sw zero, 0(t0)
    CHECK(39, a7, IRQ_MSI)
    CHECK(40, TRAP_MCAUSE, INTR(IRQ_MSI))
    li a7, -1
    la s8, 1f
    li t0, CLINT_MTIMECMP
    sd zero, 0(t0)
    li t0, MIP_MTIP
    csrw mie, t0
    csrsi mstatus, MSTATUS_MIE
    nop
1:  csrci mstatus, MSTATUS_MIE
    li t0, CLINT_MTIMECMP
    li t1, -1
    sd t1, 0(t0)
    CHECK(41, a7, IRQ_MTI)
    CHECK(42, TRAP_MCAUSE, INTR(IRQ_MTI))
    csrr a0, mip
    CHECK_MASK(43, a0, MIP_MTIP | MIP_MSIP, 0)
    INSTALL_M_HANDLER
    li t0, 0x80000003                /* stvec mode 3 is reserved too */
    csrw stvec, t0
    csrr a0, stvec
    CHECK_MASK(44, a0, 2, 0)

    /* ---- medeleg / mideleg ---- */
    li t0, -1
    csrw medeleg, t0
    csrr a0, medeleg
    CHECK_MASK(45, a0, 0xb3ff, 0xb3ff)  /* causes 0-9, 12, 13, 15 */
    csrw mideleg, t0
    csrr a0, mideleg
    CHECK_MASK(46, a0, 0xaaa, 0x222)    /* S-level bits only */
    csrw medeleg, zero
    csrw mideleg, zero
    TEST_CASE(47, a0, 0, csrr a0, medeleg)
    csrr a0, mideleg
    CHECK_MASK(48, a0, 0xaaa, 0)         /* H-extension VS bits may read 1 */
    /* sie/sip only show delegated bits */
    li t0, -1
    csrw sie, t0
    TEST_CASE(49, a0, 0, csrr a0, sie)
    li t0, MIP_SSIP | MIP_STIP | MIP_SEIP
    csrw mideleg, t0
    csrw sie, t0
    TEST_CASE(50, a0, MIP_SSIP | MIP_STIP | MIP_SEIP, csrr a0, sie)
    TEST_CASE(51, a0, MIP_SSIP | MIP_STIP | MIP_SEIP, csrr a0, mie)
    li t0, MIP_SSIP
    csrs sip, t0                     /* SSIP is writable through sip */
    TEST_CASE(52, a0, MIP_SSIP, csrr a0, mip; andi a0, a0, MIP_SSIP)
    csrc sip, t0
    TEST_CASE(53, a0, 0, csrr a0, mip; andi a0, a0, MIP_SSIP)
    csrw sie, zero
    csrw mie, zero
    csrw mideleg, zero

    /* ---- scratch and trap CSRs ---- */
    li a1, 0x0123456789abcdef
    li a2, 0xfedcba9876543210
    TEST_CASE(54, a0, 0x0123456789abcdef, csrw mscratch, a1; csrr a0, mscratch)
    TEST_CASE(55, a0, 0x0123456789abcdef, csrrw a0, mscratch, a2)
    TEST_CASE(56, a0, 0xfedcba9876543210, csrr a0, mscratch)
    TEST_CASE(57, a0, 0xfedcba9876543210, li a3, 0xff; csrrs a0, mscratch, a3)
    TEST_CASE(58, a0, 0xfedcba98765432ff, csrr a0, mscratch)
    TEST_CASE(59, a0, 0xfedcba98765432ff, li a3, 0xf0f; csrrc a0, mscratch, a3)
    TEST_CASE(60, a0, 0xfedcba98765430f0, csrr a0, mscratch)
    TEST_CASE(61, a0, 0xfedcba98765430f0, csrrwi a0, mscratch, 0x15)
    TEST_CASE(62, a0, 0x1f, csrrsi a0, mscratch, 0xa; csrr a0, mscratch)
    TEST_CASE(63, a0, 0x1f, csrrci a0, mscratch, 0x11)
    TEST_CASE(64, a0, 0x0e, csrr a0, mscratch)
    TEST_CASE(65, a0, 0x0123456789abcdef, csrw sscratch, a1; csrr a0, sscratch)
    TEST_CASE(66, a0, 0x0e, csrr a0, mscratch)  /* independent registers */
    li a1, 0x80001002               /* with C, epc bit 1 is kept */
    TEST_CASE(67, a0, 0x80001002, csrw mepc, a1; csrr a0, mepc)
    TEST_CASE(68, a0, 0x80001002, csrw sepc, a1; csrr a0, sepc)
    TEST_CASE(69, a0, 0x80001234, li a1, 0x80001234; csrw mtval, a1; csrr a0, mtval)
    TEST_CASE(70, a0, 0x80001234, csrw stval, a1; csrr a0, stval)
    TEST_CASE(71, a0, 2, li a1, 2; csrw mcause, a1; csrr a0, mcause)
    TEST_CASE(72, a0, INTR(5), li a1, INTR(5); csrw scause, a1; csrr a0, scause)

    /* ---- read-only and unknown CSRs (M-mode) ---- */
    TRAP_AT(csrw cycle, zero)
    CHECK_MEXC(73, CAUSE_ILLEGAL_INSN, 91b)
    CHECK_INSN(73, TRAP_MTVAL, 91b)
    TRAP_AT(li a1, 1; csrrs a0, instret, a1)
    CHECK(74, TRAP_MCAUSE, CAUSE_ILLEGAL_INSN)
    TRAP_AT(csrwi time, 0)
    CHECK(75, TRAP_MCAUSE, CAUSE_ILLEGAL_INSN)
    TRAP_AT(csrr a0, cycle; csrr a0, time; csrr a0, instret)
    CHECK(76, TRAP_COUNT, 0)
    TRAP_AT(csrr a0, 0x7ff)
    CHECK_MEXC(77, CAUSE_ILLEGAL_INSN, 91b)
    CHECK_INSN(77, TRAP_MTVAL, 91b)
    TRAP_AT(csrw 0x0ff, a0)
    CHECK(78, TRAP_MCAUSE, CAUSE_ILLEGAL_INSN)
    TRAP_AT(csrr a0, 0x3ff)
    CHECK(79, TRAP_MCAUSE, CAUSE_ILLEGAL_INSN)
    TRAP_AT(csrr a0, pmpcfg1)        /* odd pmpcfg do not exist on RV64 */
    CHECK(80, TRAP_MCAUSE, CAUSE_ILLEGAL_INSN)

    /* ---- PMP CSRs ---- */
#define PMPADDR_CASE(n, i)                          \
    li a1, 0x20000000 + (i) * 0x1000;               \
    csrw pmpaddr##i, a1;                            \
    csrr a0, pmpaddr##i;                            \
    CHECK(n, a0, 0x20000000 + (i) * 0x1000)
    PMPADDR_CASE(81, 0)
    PMPADDR_CASE(82, 1)
    PMPADDR_CASE(83, 2)
    PMPADDR_CASE(84, 3)
    PMPADDR_CASE(85, 4)
    PMPADDR_CASE(86, 5)
    PMPADDR_CASE(87, 6)
    PMPADDR_CASE(88, 7)
    PMPADDR_CASE(89, 8)
    PMPADDR_CASE(90, 9)
    PMPADDR_CASE(91, 10)
    PMPADDR_CASE(92, 11)
    PMPADDR_CASE(93, 12)
    PMPADDR_CASE(94, 13)
    PMPADDR_CASE(95, 14)
    PMPADDR_CASE(96, 15)
    /* all entries again: a write to one pmpaddr did not touch another */
    csrr a0, pmpaddr0
    CHECK(97, a0, 0x20000000)
    csrr a0, pmpaddr9
    CHECK(98, a0, 0x20009000)
    /* configurations without the lock bit and without W-only */
    li a1, 0x1f1b19000b090301        /* no NA4: the granularity may be > 4 */
    TEST_CASE(99, a0, 0x1f1b19000b090301, csrw pmpcfg0, a1; csrr a0, pmpcfg0)
    li a1, 0x0007050301000f1f
    TEST_CASE(100, a0, 0x0007050301000f1f, csrw pmpcfg2, a1; csrr a0, pmpcfg2)
    TEST_CASE(101, a0, 0x0007050301000f1f, csrrw a0, pmpcfg2, zero)
    TEST_CASE(102, a0, 0, csrr a0, pmpcfg2)
    /* M-mode is not restricted by unlocked entries (none allows this). */
    li t0, 0x19                     /* entry 0: NAPOT, read-only, unlocked */
    csrw pmpcfg0, t0
    li t0, -1
    csrw pmpaddr0, t0
    la a1, scratch
    TRAP_AT(sd t0, 0(a1); ld a0, 0(a1))
    CHECK(103, TRAP_COUNT, 0)
    CHECK(104, a0, -1)

    /* ---- CSR numbers of a higher privilege trap in S and U ---- */
    PMP_ALLOW_ALL
    RUN_IN(PRV_S, 91: csrr a0, mstatus)
    CHECK_MEXC(105, CAUSE_ILLEGAL_INSN, 91b)
    CHECK_INSN(105, TRAP_MTVAL, 91b)
    CHECK_MASK(105, TRAP_MSTATUS, MSTATUS_MPP, MSTATUS_MPP_S)
    RUN_IN(PRV_S, 91: csrw mscratch, zero)
    CHECK_MEXC(106, CAUSE_ILLEGAL_INSN, 91b)
    RUN_IN(PRV_S, 91: csrr a0, mhartid)
    CHECK_MEXC(107, CAUSE_ILLEGAL_INSN, 91b)
    RUN_IN(PRV_S, 91: csrr a0, pmpaddr0)
    CHECK_MEXC(108, CAUSE_ILLEGAL_INSN, 91b)
    RUN_IN(PRV_U, 91: csrr a0, sstatus)
    CHECK_MEXC(109, CAUSE_ILLEGAL_INSN, 91b)
    CHECK_INSN(109, TRAP_MTVAL, 91b)
    CHECK_MASK(109, TRAP_MSTATUS, MSTATUS_MPP, 0)
    RUN_IN(PRV_U, 91: csrw sscratch, zero)
    CHECK_MEXC(110, CAUSE_ILLEGAL_INSN, 91b)
    RUN_IN(PRV_U, 91: csrr a0, satp)
    CHECK_MEXC(111, CAUSE_ILLEGAL_INSN, 91b)
    RUN_IN(PRV_U, 91: csrr a0, mhartid)
    CHECK_MEXC(112, CAUSE_ILLEGAL_INSN, 91b)
    /* S-level CSRs work in S; the write is visible from M. */
    li a1, 0x5a5a
    RUN_IN(PRV_S, csrw sscratch, a1; csrr a0, sstatus)
    CHECK(113, TRAP_MCAUSE, CAUSE_ECALL_S)
    TEST_CASE(114, a0, 0x5a5a, csrr a0, sscratch)
    /* fflags is a U-level CSR */
    RUN_IN(PRV_U, csrwi fflags, 1; csrr a0, fflags)
    CHECK(115, TRAP_MCAUSE, CAUSE_ECALL_U)
    CHECK(116, a0, 1)
    csrwi fflags, 0

    TEST_PASS

    M_HANDLER_CODE

/* Vector table: slot i records i in a7, then enters the recording handler. */
    .align 8
vtable:
    .option push
    .option norvc
    j vslot0; j vslot1; j vslot2; j vslot3; j vslot4; j vslot5
    j vslot6; j vslot7; j vslot8; j vslot9; j vslot10; j vslot11
    .option pop
#define VSLOT(i) vslot##i: li a7, i; j m_trap_handler
    VSLOT(0); VSLOT(1); VSLOT(2); VSLOT(3); VSLOT(4); VSLOT(5)
    VSLOT(6); VSLOT(7); VSLOT(8); VSLOT(9); VSLOT(10); VSLOT(11)

    .data
    .align 3
scratch: .dword 0
