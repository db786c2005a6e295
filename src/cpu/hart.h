/*
 * One RISC-V hart (RV64GC, privileged spec 1.12, M/S/U modes).
 *
 * Execution model: guest code is decoded once into blocks (bcache.h) keyed
 * by guest-physical address; hart_run() executes whole blocks and checks
 * interrupts only between them.  Memory accesses go through three soft TLBs
 * (fetch, load, store), one set per MMU index, whose hits turn a guest
 * virtual address into a host address with one add.  The block executor is
 * the only piece a JIT would replace (see exec.c).
 */
#ifndef HOSTEL_CPU_HART_H
#define HOSTEL_CPU_HART_H

#include <stdbool.h>
#include <stdint.h>

#include "cpu/riscv.h"
#include "hw/bus.h"
#include "hw/clock.h"
#include "util/error.h"

#define TLB_BITS 8
#define TLB_SIZE (1u << TLB_BITS)

/* What a TLB is used for. */
enum { ACC_FETCH = 0, ACC_LOAD = 1, ACC_STORE = 2, ACC_COUNT };

/*
 * MMU index: the translation regime + permissions a TLB entry was filled
 * under.  S-mode with SUM set has its own index so that toggling SUM (which
 * Linux does around every user copy) needs no flush.
 */
enum { MMU_U = 0, MMU_S = 1, MMU_S_SUM = 2, MMU_M = 3, MMU_COUNT };

typedef struct TlbEntry {
    uint64_t tag;     /* guest virtual page address; TLB_EMPTY when invalid */
    uintptr_t addend; /* host address = guest virtual address + addend */
} TlbEntry;
#define TLB_EMPTY (~0ull)

typedef struct BlockCache BlockCache;
typedef struct JumpCache JumpCache;

typedef struct Hart {
    uint64_t x[33]; /* x0..x31; x[REG_SINK] absorbs writes to x0 */
    uint64_t f[32]; /* FP registers, NaN-boxed */
    uint64_t pc;
    unsigned priv;   /* PRV_U, PRV_S or PRV_M */
    uint32_t fflags; /* accrued exception flags (fcsr[4:0]) */
    uint32_t frm;    /* dynamic rounding mode (fcsr[7:5]) */

    /* CSRs stored as-is (the rest are derived in csr.c) */
    uint64_t mstatus, misa, medeleg, mideleg, mie, mip;
    uint64_t mtvec, mscratch, mepc, mcause, mtval;
    uint64_t stvec, sscratch, sepc, scause, stval, satp;
    uint64_t mcounteren, scounteren, menvcfg, senvcfg, mcountinhibit;
    uint64_t stimecmp;
    uint64_t pmpcfg[2]; /* pmpcfg0, pmpcfg2 (RV64: even numbers only) */
    uint64_t pmpaddr[16];
    uint64_t mhartid;

    /* counters */
    uint64_t instret; /* instructions retired: monotonic, never written by the guest */
    /* The guest-visible counters: minstret = instret + minstret_offset and
     * mcycle = instret + mcycle_offset, or the frozen values while
     * mcountinhibit.IR / .CY are set (see csr.c). */
    uint64_t minstret_offset, mcycle_offset;
    uint64_t minstret_frozen, mcycle_frozen;

    /* LR/SC reservation: virtual address (~0 when none) and the value LR read;
     * SC succeeds by compare-and-swap against that value, as QEMU does */
    uint64_t reservation;
    uint64_t reservation_val;

    /* MMU state derived from priv/mstatus/satp by hart_update_mmu() */
    unsigned mmu_fetch; /* MMU index for instruction fetch */
    unsigned mmu_data;  /* MMU index for loads and stores (MPRV applied) */
    TlbEntry tlb[ACC_COUNT][MMU_COUNT][TLB_SIZE];

    /* run control */
    volatile bool *stop;     /* set by devices/host to leave hart_run() soon */
    volatile bool stop_self; /* default target of stop */
    bool wfi;                /* stalled in WFI until an interrupt is pending */
    bool halted;             /* stopped (SBI HSM): runs nothing until restarted */

    /* Firmware in the host: if set, ecalls from S-mode call it instead of
     * trapping (it reads a0-a7 and sets a0/a1); the pc then moves on. */
    bool (*ecall_hook)(void *opaque, struct Hart *h);
    void *ecall_opaque;

    Bus *bus;
    BlockCache *bcache; /* decoded blocks: may be shared by the harts of a machine */
    bool owns_bcache;
    JumpCache *jcache;    /* this hart's virtual pc -> block cache */
    GuestClock *clock;    /* the time CSR's source: own_clock, or the machine's */
    GuestClock own_clock; /* a lone hart's clock (hart_new points clock here) */
} Hart;

/* Save/restore table (hart_state.c). */
extern const struct StateDesc hart_state_desc;

/* Create a hart on a bus. Returns NULL with err filled on failure. */
Hart *hart_new(Bus *bus, uint64_t hartid, Error *err);
void hart_free(Hart *h);

/*
 * Make h use from's decoded-block cache (its own is freed): harts that run
 * on one host thread share decoded code.  Call before running h.
 */
void hart_share_bcache(Hart *h, Hart *from);

/* Architectural reset: M-mode, pc = reset_pc, CSRs to their reset values. */
void hart_reset(Hart *h, uint64_t reset_pc);

typedef enum HartExit {
    HART_EXIT_BUDGET, /* executed at least the requested instruction budget */
    HART_EXIT_WFI,    /* stalled in WFI with no interrupt pending */
    HART_EXIT_STOP,   /* *stop was set */
} HartExit;

/*
 * Traps taken in one hart_run() before it returns anyway: a guest whose
 * trap vector itself faults retires no instruction, and must not keep the
 * machine's loop (timers, I/O, the control socket) from running.
 */
#define HART_TRAP_BUDGET 4096

/* Execute until roughly budget instructions ran (or HART_TRAP_BUDGET traps), WFI stalls,
 * or *stop is set. */
HartExit hart_run(Hart *h, uint64_t budget);

/*
 * Drive an interrupt-pending line from a device: set or clear mip_bit
 * (MIP_MSIP, MIP_MTIP, MIP_MEIP, MIP_SEIP, ...) in the hart's mip.  Atomic,
 * so a device thread may call it; the hart notices at its next block end.
 */
void hart_set_irq(Hart *h, uint64_t mip_bit, bool level);

/* The time CSR: the hart's guest clock in ticks of 1 / HART_TIMEBASE_HZ s. */
uint64_t hart_time(const Hart *h);
#define HART_TIMEBASE_HZ GUEST_CLOCK_HZ

/* ---- internals shared by the cpu/ files ---- */

/* Raise a synchronous exception at pc with trap value tval (trap.c). */
void hart_exception(Hart *h, uint64_t cause, uint64_t tval);
/* Take the highest-priority pending enabled interrupt, if any; true if taken. */
bool hart_check_interrupts(Hart *h);
void hart_mret(Hart *h);
void hart_sret(Hart *h);

/* Recompute mmu_fetch/mmu_data after priv, mstatus or satp changed. */
void hart_update_mmu(Hart *h);
void hart_tlb_flush(Hart *h);
/*
 * Drop this hart's decoded blocks in the page holding page_pa.  The caller
 * (the bus's code_write hook) clears the page's BUS_PAGE_CODE flag once
 * every hart has done so.
 */
void hart_invalidate_code(Hart *h, uint64_t page_pa);
/* Drop store-TLB entries that map the guest-physical page page_pa. */
void hart_tlb_flush_store_page(Hart *h, uint64_t page_pa);

/*
 * Translate va for an access (mmu.c).  On success returns 0 and the
 * guest-physical address; on failure returns the exception cause.
 */
int mmu_translate(Hart *h, uint64_t va, int acc, unsigned mmu_idx, uint64_t *pa);

/*
 * Slow paths of loads and stores (mmu.c): TLB misses (and refills), MMIO,
 * misaligned accesses, writes to pages holding decoded code.  Return 0, or
 * an exception cause with *tval set to the faulting virtual address.
 * Nothing is written when a store faults.
 */
int mem_load_slow(Hart *h, uint64_t va, unsigned size, uint64_t *val, uint64_t *tval);
int mem_store_slow(Hart *h, uint64_t va, unsigned size, uint64_t val, uint64_t *tval);
/*
 * Host address of the instruction bytes at va (through the fetch TLB,
 * refilled on a miss).  Returns 0, or a fetch exception cause.
 */
int mem_fetch_host(Hart *h, uint64_t va, uintptr_t *host);
/* The same, also giving the guest-physical address (RAM or boot ROM). */
int mem_fetch_pa(Hart *h, uint64_t va, uintptr_t *host, uint64_t *pa);
/* Host address for an aligned atomic access at va (store TLB), or a cause. */
int mem_amo_host(Hart *h, uint64_t va, unsigned size, uintptr_t *host);

/* Set stimecmp (as M-mode or firmware would); STIP follows at once when Sstc is on. */
void hart_set_stimecmp(Hart *h, uint64_t when);

/* CSR access (csr.c): return 0 or CAUSE_ILLEGAL_INSN. */
int csr_read(Hart *h, unsigned csr, uint64_t *val);
int csr_write(Hart *h, unsigned csr, uint64_t val);

#endif
