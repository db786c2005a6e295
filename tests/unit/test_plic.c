/*
 * PLIC unit tests: priorities, pending bits, per-context enables and
 * thresholds, claim/complete with level-triggered sources, the MEIP/SEIP
 * outputs of each context, bounds of every guest-controlled index, reset.
 */
#include "cpu/hart.h"
#include "hw/plic.h"
#include "tap.h"
#include "vfake.h"

#define PRIO(src) (PLIC_PRIORITY_BASE + 4ull * (src))
#define PENDING(word) (PLIC_PENDING_BASE + 4ull * (word))
#define ENABLE(ctx, word) (PLIC_ENABLE_BASE + PLIC_ENABLE_STRIDE * (ctx) + 4ull * (word))
#define THRESHOLD(ctx) (PLIC_CONTEXT_BASE + PLIC_CONTEXT_STRIDE * (uint64_t)(ctx))
#define CLAIM(ctx) (THRESHOLD(ctx) + 4)

static Plic *plic;
static VFakeHarts board;

static uint64_t rd(uint64_t off)
{
    uint64_t v = 0xdeadbeef;
    if (!plic_ops.read(plic, off, 4, &v))
        return 0xbad;
    return v;
}

static void wr(uint64_t off, uint64_t v)
{
    if (!plic_ops.write(plic, off, 4, v))
        printf("# write to 0x%llx refused\n", (unsigned long long)off);
}

static bool has(int hart, uint64_t bit)
{
    return (board.harts[hart]->mip & bit) != 0;
}

/* Enable src (alone in its word) for ctx. */
static void enable(unsigned ctx, unsigned src)
{
    wr(ENABLE(ctx, src / 32), rd(ENABLE(ctx, src / 32)) | 1u << (src % 32));
}

static void test_priority_regs(void)
{
    wr(PRIO(1), 9);
    is_u64(rd(PRIO(1)), 1, "priority is 3 bits wide (9 -> 1)");
    wr(PRIO(95), 7);
    is_u64(rd(PRIO(95)), 7, "source 95 exists");
    wr(PRIO(0), 5);
    is_u64(rd(PRIO(0)), 0, "source 0 priority reads 0");
    wr(PRIO(96), 5);
    is_u64(rd(PRIO(96)), 0, "source 96 does not exist: reads 0");
    wr(PRIO(1), 0);
    wr(PRIO(95), 0);
}

static void test_pending_and_outputs(void)
{
    plic_set_irq(plic, 10, true);
    is_u64(rd(PENDING(0)), 1u << 10, "line 10 high: pending bit 10");
    ok(!has(0, MIP_MEIP) && !has(0, MIP_SEIP), "not enabled: no output");
    enable(0, 10);
    ok(!has(0, MIP_MEIP), "enabled, priority 0: never interrupts");
    wr(PRIO(10), 1);
    ok(has(0, MIP_MEIP), "priority 1 > threshold 0: hart 0 MEIP (context 0)");
    ok(!has(0, MIP_SEIP) && !has(1, MIP_MEIP) && !has(1, MIP_SEIP), "other contexts quiet");
    wr(THRESHOLD(0), 1);
    ok(!has(0, MIP_MEIP), "threshold 1 masks priority 1");
    wr(THRESHOLD(0), 0xf9);
    is_u64(rd(THRESHOLD(0)), 1, "threshold is 3 bits wide");
    wr(THRESHOLD(0), 0);
    ok(has(0, MIP_MEIP), "threshold 0 again: MEIP");
    wr(PENDING(0), 0);
    is_u64(rd(PENDING(0)), 1u << 10, "pending bits are read-only");
}

static void test_claim_complete(void)
{
    is_u64(rd(CLAIM(0)), 10, "claim returns source 10");
    ok(!has(0, MIP_MEIP), "claimed: MEIP lowered");
    is_u64(rd(PENDING(0)), 0, "claim clears the pending bit");
    is_u64(rd(CLAIM(0)), 0, "in service, line still high: not claimable again");
    plic_set_irq(plic, 10, true);
    ok(!has(0, MIP_MEIP), "re-asserting a line in service does not make it pending");
    wr(CLAIM(0), 10);
    ok(has(0, MIP_MEIP) && rd(PENDING(0)) == 1u << 10,
       "complete with the line still high: pending again");
    plic_set_irq(plic, 10, false);
    ok(has(0, MIP_MEIP) && rd(PENDING(0)) == 1u << 10,
       "line drops: the forwarded request stays pending");
    is_u64(rd(CLAIM(0)), 10, "claimed with the line low");
    wr(CLAIM(0), 10);
    ok(!has(0, MIP_MEIP) && rd(PENDING(0)) == 0, "completed with the line low: quiet");
    is_u64(rd(CLAIM(0)), 0, "nothing pending: claim returns 0");
    plic_set_irq(plic, 10, true);
    is_u64(rd(CLAIM(0)), 10, "claimed again");
    plic_set_irq(plic, 10, false);
    wr(CLAIM(1), 10);
    plic_set_irq(plic, 10, true);
    ok(!has(0, MIP_MEIP), "complete from a context without the source enabled: ignored");
    wr(CLAIM(0), 10);
    ok(has(0, MIP_MEIP), "complete from the claiming context");
    plic_set_irq(plic, 10, false);
    is_u64(rd(CLAIM(0)), 10, "the last request");
    wr(CLAIM(0), 10);
    ok(!has(0, MIP_MEIP), "all served");
}

static void test_order(void)
{
    unsigned srcs[] = {3, 5, 7, 40};
    uint32_t prios[] = {2, 5, 5, 1};
    for (int i = 0; i < 4; i++) {
        wr(PRIO(srcs[i]), prios[i]);
        enable(1, srcs[i]);
        plic_set_irq(plic, srcs[i], true);
    }
    ok(has(0, MIP_SEIP) && !has(0, MIP_MEIP), "context 1 (hart 0 S) drives SEIP only");
    is_u64(rd(PENDING(1)), 1u << 8, "source 40: pending word 1");
    is_u64(rd(CLAIM(1)), 5, "highest priority, ties to the lowest id: 5");
    is_u64(rd(CLAIM(1)), 7, "then 7");
    wr(THRESHOLD(1), 2);
    ok(!has(0, MIP_SEIP), "threshold 2 hides 3 (prio 2) and 40 (prio 1)");
    is_u64(rd(CLAIM(1)), 0, "claim honours the threshold");
    wr(THRESHOLD(1), 0);
    is_u64(rd(CLAIM(1)), 3, "then 3");
    is_u64(rd(CLAIM(1)), 40, "then 40");
    ok(!has(0, MIP_SEIP), "all in service: SEIP low");
    for (int i = 0; i < 4; i++) {
        plic_set_irq(plic, srcs[i], false);
        wr(CLAIM(1), srcs[i]);
    }
    ok(!has(0, MIP_SEIP), "completed with lines low: quiet");
}

static void test_contexts(void)
{
    wr(PRIO(33), 3);
    enable(3, 33);
    plic_set_irq(plic, 33, true);
    ok(has(1, MIP_SEIP) && !has(1, MIP_MEIP), "context 3 = hart 1 S-mode: SEIP");
    ok(!has(0, MIP_SEIP) && !has(0, MIP_MEIP), "hart 0 unaffected");
    is_u64(rd(CLAIM(2)), 0, "context 2 (hart 1 M) has 33 disabled: claims 0");
    enable(2, 33);
    ok(has(1, MIP_MEIP), "enabled for context 2 too: MEIP");
    is_u64(rd(CLAIM(2)), 33, "context 2 claims 33");
    ok(!has(1, MIP_MEIP) && !has(1, MIP_SEIP), "claimed: both contexts drop it");
    plic_set_irq(plic, 33, false);
    wr(CLAIM(2), 33);
}

/* Completions with ids that are not sources end nothing: source 10 stays in service. */
static void test_bad_completions(void)
{
    wr(PRIO(10), 1);
    enable(0, 10);
    plic_set_irq(plic, 10, true);
    is_u64(rd(CLAIM(0)), 10, "source 10 claimed, its line still high");
    wr(CLAIM(0), 0);
    wr(CLAIM(0), PLIC_NUM_SOURCES);
    wr(CLAIM(0), 0xffffffff);
    ok(!has(0, MIP_MEIP) && !(rd(PENDING(0)) & 1u << 10),
       "complete with ids 0, 96, 0xffffffff: ignored, 10 is still in service");
    wr(CLAIM(0), 10);
    ok(has(0, MIP_MEIP) && (rd(PENDING(0)) & 1u << 10),
       "complete with 10 ends the service: pending again");
    plic_set_irq(plic, 10, false);
    is_u64(rd(CLAIM(0)), 10, "the last request of 10");
    wr(CLAIM(0), 10);
    wr(ENABLE(0, 0), 0);
    wr(PRIO(10), 0);
}

static void test_bounds(void)
{
    uint64_t before = rd(PENDING(0)), v;
    plic_set_irq(plic, 0, true);
    plic_set_irq(plic, PLIC_NUM_SOURCES, true);
    plic_set_irq(plic, 0xffffffffu, true);
    is_u64(rd(PENDING(0)), before, "set_irq of source 0 / out of range: ignored");
    is_u64(rd(PENDING(3)), 0, "pending word 3 does not exist: reads 0");
    wr(ENABLE(0, 0), 0xffffffff);
    is_u64(rd(ENABLE(0, 0)), 0xfffffffe, "enable bit of source 0 is hardwired to 0");
    wr(ENABLE(0, 0), 0);
    wr(ENABLE(0, 3), 0xffffffff);
    is_u64(rd(ENABLE(0, 3)), 0, "enable word 3 does not exist");
    wr(ENABLE(4, 0), 0xffffffff);
    is_u64(rd(ENABLE(4, 0)), 0, "context 4 does not exist (2 harts): enables read 0");
    wr(ENABLE(15871, 2), 0xffffffff);
    is_u64(rd(ENABLE(15871, 2)), 0, "last context of the map: reads 0");
    wr(THRESHOLD(4), 3);
    is_u64(rd(THRESHOLD(4)), 0, "threshold of context 4: reads 0");
    is_u64(rd(CLAIM(1023)), 0, "claim of the last context of the map: 0");
    test_bad_completions();
    is_u64(rd(THRESHOLD(0) + 8), 0, "hole inside a context reads 0");
    is_u64(rd(PLIC_SIZE - 4), 0, "last word of the region reads 0");
    is_u64(rd(0x1ffc), 0, "hole after the pending bits reads 0");
    ok(!plic_ops.read(plic, PRIO(1), 8, &v), "8-byte read faults");
    ok(!plic_ops.write(plic, PRIO(1), 1, 1), "1-byte write faults");
    ok(!plic_ops.read(plic, PRIO(1) + 2, 4, &v), "misaligned read faults");
}

static void test_reset(void)
{
    wr(PRIO(20), 4);
    enable(0, 20);
    plic_set_irq(plic, 20, true);
    ok(has(0, MIP_MEIP), "source 20 interrupts context 0");
    is_u64(rd(CLAIM(0)), 20, "claimed before reset");
    plic_reset(plic);
    ok(!has(0, MIP_MEIP), "reset: priorities and enables 0, MEIP low");
    is_u64(rd(PRIO(20)) | rd(ENABLE(0, 0)), 0, "reset clears priority and enables");
    is_u64(rd(PENDING(0)), 1u << 20, "reset keeps the high line: pending, not in service");
    plic_set_irq(plic, 20, false);
}

/* Devices reach the PLIC through an IrqLine on the controller its Device offers. */
static void test_irq_line(void)
{
    const Device *d = (const Device *)plic;
    IrqLine line = {d->irq_controller, 7};
    ok(d->ops == &plic_device_ops && d->irq_controller, "the PLIC is a device offering its lines");
    wr(PRIO(7), 1);
    enable(0, 7);
    irq_line_set(&line, true);
    ok(has(0, MIP_MEIP) && (rd(PENDING(0)) & (1u << 7)), "a line raised: source 7 pending, MEIP");
    is_u64(rd(CLAIM(0)), 7, "the line's source is claimed");
    irq_line_set(&line, false);
    wr(CLAIM(0), 7);
    ok(!has(0, MIP_MEIP) && !(rd(PENDING(0)) & (1u << 7)), "lowered and completed: quiet");
    IrqLine none = {0};
    uint64_t before = rd(PENDING(0));
    irq_line_set(&none, true); /* a line wired to nothing goes nowhere */
    is_u64(rd(PENDING(0)), before, "an unwired line changes nothing");
    wr(PRIO(7), 0);
}

static void test_new_bounds(void)
{
    Error err = {0};
    ok(plic_new(board.harts, 0, &err) == NULL && err.msg[0], "0 harts refused: %s", err.msg);
    ok(plic_new(board.harts, PLIC_MAX_HARTS + 1, &err) == NULL, "too many harts refused");
}

int main(void)
{
    Error err = {0};
    if (vfake_harts_init(&board, 2, &err) < 0)
        return printf("Bail out! %s\n", err.msg), 1;
    plic = plic_new(board.harts, 2, &err);
    ok(plic != NULL, "plic_new: %s", err.msg);
    if (!plic)
        return tap_done();
    test_priority_regs();
    test_pending_and_outputs();
    test_claim_complete();
    test_order();
    test_contexts();
    test_bounds();
    test_reset();
    test_irq_line();
    test_new_bounds();
    plic_free(plic);
    vfake_harts_destroy(&board);
    return tap_done();
}
