/*
 * Unit tests of the split virtqueue core: rings are built by hand in a
 * Bus's RAM, as a driver would, then popped and pushed.  Good chains
 * (direct, indirect, mixed) must come out as the right scatter-gather
 * lists; every hostile chain or queue setup must break the queue through
 * the fail hook exactly once, without touching memory outside RAM (run
 * under ASan to be sure).
 */
#include <string.h>

#include "tap.h"
#include "vfake.h"
#include "virtio/virtq.h"

#define RAM_BASE 0x80000000ull
#define RAM_SIZE (1ull << 20)
#define DESC (RAM_BASE + 0x1000)
#define AVAIL (RAM_BASE + 0x2000)
#define USED (RAM_BASE + 0x3000)
#define INDIRECT (RAM_BASE + 0x4000)
#define BUF (RAM_BASE + 0x10000)

static Bus bus;
static Virtq q;
static int fails;
static char last_msg[256];
static uint16_t avail_idx;

static void on_fail(void *opaque, unsigned index, const char *msg)
{
    fails++;
    snprintf(last_msg, sizeof(last_msg), "%s", msg);
}

static void set_desc_at(uint64_t table, unsigned i, uint64_t addr, uint32_t len, uint16_t flags,
                        uint16_t next)
{
    vfake_write_desc(&bus, table + 16ull * i, addr, len, flags, next);
}

static void set_desc(unsigned i, uint64_t addr, uint32_t len, uint16_t flags, uint16_t next)
{
    set_desc_at(DESC, i, addr, len, flags, next);
}

static void avail_add(uint16_t head)
{
    vfake_put16(&bus, AVAIL + 4 + 2ull * (avail_idx % q.num), head);
    avail_idx++;
    vfake_put16(&bus, AVAIL + 2, avail_idx);
}

/* A fresh, enabled queue of size num with zeroed rings. */
static bool setup(uint16_t num, bool indirect, bool event_idx)
{
    memset(vfake_ram(&bus, RAM_BASE), 0, 0x10000);
    virtq_init(&q, &bus, 0, 256, on_fail, NULL);
    q.num = num;
    q.desc_addr = DESC;
    q.avail_addr = AVAIL;
    q.used_addr = USED;
    fails = 0;
    last_msg[0] = 0;
    avail_idx = 0;
    return virtq_enable(&q, indirect, event_idx);
}

/* Expect the next pop to break the queue, once, with a message mentioning what. */
static void expect_broken(const char *what, const char *name)
{
    static VirtqElem e;
    int rc = virtq_pop(&q, &e);
    ok(rc == -1 && q.broken && fails == 1 && strstr(last_msg, what), "%s: broken (%s)", name,
       last_msg);
    ok(virtq_pop(&q, &e) == -1 && fails == 1, "%s: stays broken, reported once", name);
}

static VirtqElem e;

static void test_good_chain(void)
{
    ok(setup(8, false, false), "enable a queue of 8");
    ok(virtq_pop(&q, &e) == 0, "empty queue pops nothing");
    set_desc(0, BUF, 16, VIRTQ_DESC_F_NEXT, 5);
    set_desc(5, BUF + 0x100, 100, VIRTQ_DESC_F_NEXT, 2);
    set_desc(2, BUF + 0x1000, 513, VIRTQ_DESC_F_WRITE, 0);
    avail_add(0);
    ok(virtq_pop(&q, &e) == 1, "pop a 3-descriptor chain");
    ok(e.head == 0 && e.n_out == 2 && e.n_in == 1, "2 readable + 1 writable segments");
    ok(e.out_len == 116 && e.in_len == 513, "lengths add up");
    ok(e.iov[0].iov_base == vfake_ram(&bus, BUF) &&
           e.iov[1].iov_base == vfake_ram(&bus, BUF + 0x100) &&
           e.iov[2].iov_base == vfake_ram(&bus, BUF + 0x1000) && e.gpa[2] == BUF + 0x1000,
       "host pointers and guest addresses");
    ok(virtq_pop(&q, &e) == 0 && q.inuse == 1, "then empty, one in flight");

    memset(vfake_ram(&bus, BUF), 0, 0x2000);
    memcpy(vfake_ram(&bus, BUF + 14), "ab", 2);
    memcpy(vfake_ram(&bus, BUF + 0x100), "cdef", 4);
    char tmp[8] = {0};
    ok(virtq_elem_read(&e, 14, tmp, 6) == 6 && memcmp(tmp, "abcdef", 6) == 0,
       "read across readable segments");
    ok(virtq_elem_write(&e, 510, "xyzw", 4) == 3 &&
           memcmp(vfake_ram(&bus, BUF + 0x1000 + 510), "xyz", 3) == 0,
       "write clamps to the writable part");
    struct iovec iov[4];
    ok(virtq_elem_slice(&e, false, 10, 20, iov, 4) == 2 && iov[0].iov_len == 6 &&
           iov[1].iov_len == 14 && iov[1].iov_base == vfake_ram(&bus, BUF + 0x100),
       "slice across segments");
    ok(virtq_elem_slice(&e, false, 10, 200, iov, 4) == -1, "slice past the end is refused");
    ok(virtq_elem_slice(&e, false, 0, 116, iov, 1) == -1, "slice needing too many iovecs refused");

    virtq_push(&q, &e, 5);
    is_u64(vfake_get16(&bus, USED + 2), 1, "used idx published");
    ok(vfake_get32(&bus, USED + 4) == 0 && vfake_get32(&bus, USED + 8) == 5,
       "used element: head 0, 5 bytes");
    ok(q.inuse == 0, "nothing in flight");
    virtq_push(&q, &e, 0xffffffff);
    ok(vfake_get32(&bus, USED + 12 + 4) == 513, "used length clamped to the writable size");
    ok(fails == 0, "no failure reported");
}

static void test_wraparound(void)
{
    ok(setup(4, false, false), "queue of 4");
    set_desc(1, BUF, 8, VIRTQ_DESC_F_WRITE, 0);
    bool all = true;
    for (int i = 0; i < 70000 && all; i++) { /* idx wraps past 65535 */
        avail_add(1);
        all = virtq_pop(&q, &e) == 1 && e.head == 1;
        virtq_push(&q, &e, 8);
    }
    ok(all && vfake_get16(&bus, USED + 2) == (uint16_t)70000, "70000 round trips, indexes wrap");
}

static void test_indirect(void)
{
    ok(setup(8, true, false), "queue with INDIRECT_DESC");
    set_desc_at(INDIRECT, 0, BUF, 16, VIRTQ_DESC_F_NEXT, 2);
    set_desc_at(INDIRECT, 2, BUF + 0x200, 512, VIRTQ_DESC_F_NEXT | VIRTQ_DESC_F_WRITE, 1);
    set_desc_at(INDIRECT, 1, BUF + 0x400, 1, VIRTQ_DESC_F_WRITE, 0);
    set_desc(3, INDIRECT, 48, VIRTQ_DESC_F_INDIRECT, 0);
    avail_add(3);
    ok(virtq_pop(&q, &e) == 1 && e.head == 3 && e.n_out == 1 && e.n_in == 2 && e.in_len == 513 &&
           e.iov[2].iov_base == vfake_ram(&bus, BUF + 0x400),
       "indirect table of 3");
    set_desc(4, BUF, 16, VIRTQ_DESC_F_NEXT, 6);
    set_desc(6, INDIRECT + 32, 16, VIRTQ_DESC_F_INDIRECT, 0); /* just entry 2 */
    set_desc_at(INDIRECT, 2, BUF + 0x200, 512, VIRTQ_DESC_F_WRITE, 0);
    avail_add(4);
    ok(virtq_pop(&q, &e) == 1 && e.n_out == 1 && e.n_in == 1 && e.in_len == 512,
       "direct descriptor followed by an indirect one");
    set_desc(7, BUF, 0, 0, 0);
    avail_add(7);
    ok(virtq_pop(&q, &e) == 1 && e.n_out == 0 && e.n_in == 0, "zero-length buffer is skipped");
}

static void test_notifications(void)
{
    ok(setup(8, false, false), "queue without EVENT_IDX");
    set_desc(0, BUF, 8, VIRTQ_DESC_F_WRITE, 0);
    avail_add(0);
    virtq_pop(&q, &e);
    virtq_push(&q, &e, 1);
    ok(virtq_need_irq(&q), "interrupt by default");
    vfake_put16(&bus, AVAIL, VIRTQ_AVAIL_F_NO_INTERRUPT);
    ok(!virtq_need_irq(&q), "no interrupt with VIRTQ_AVAIL_F_NO_INTERRUPT");

    ok(setup(8, false, true), "queue with EVENT_IDX");
    ok(virtq_pop(&q, &e) == 0 && vfake_get16(&bus, USED + 4 + 8 * 8) == 0,
       "empty pop sets avail_event");
    set_desc(0, BUF, 8, VIRTQ_DESC_F_WRITE, 0);
    avail_add(0);
    virtq_pop(&q, &e);
    ok(vfake_get16(&bus, USED + 4 + 8 * 8) == 1, "avail_event follows the pops");
    vfake_put16(&bus, AVAIL + 4 + 2 * 8, 2); /* used_event: interrupt when used idx passes 2 */
    virtq_push(&q, &e, 1);
    ok(virtq_need_irq(&q), "first push always interrupts");
    for (int i = 0; i < 2; i++) {
        avail_add(0);
        virtq_pop(&q, &e);
        virtq_push(&q, &e, 1);
        bool irq = virtq_need_irq(&q);
        ok(irq == (i == 1), "used idx %d: %s", i + 2, irq ? "interrupt" : "suppressed");
    }
}

/* ---- hostile drivers ---- */

static void test_bad_setup(void)
{
    virtq_init(&q, &bus, 1, 256, on_fail, NULL);
    struct {
        uint16_t num;
        uint64_t desc, avail, used;
        const char *what, *name;
    } cases[] = {
        {0, DESC, AVAIL, USED, "power of two", "size 0"},
        {3, DESC, AVAIL, USED, "power of two", "size 3"},
        {512, DESC, AVAIL, USED, "power of two", "size above the maximum"},
        {8, DESC + 8, AVAIL, USED, "aligned", "misaligned descriptor table"},
        {8, DESC, AVAIL + 1, USED, "aligned", "misaligned driver area"},
        {8, DESC, AVAIL, USED + 2, "aligned", "misaligned device area"},
        {8, RAM_BASE + RAM_SIZE - 64, AVAIL, USED, "outside RAM", "descriptors past RAM"},
        {8, 0x1000, AVAIL, USED, "outside RAM", "descriptors below RAM"},
        {8, DESC, 0xfffffffffffffff0ull, USED, "outside RAM", "driver area wraps"},
        {256, DESC, AVAIL, RAM_BASE + RAM_SIZE - 2048, "outside RAM", "device area past RAM"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        virtq_reset(&q);
        fails = 0;
        q.num = cases[i].num;
        q.desc_addr = cases[i].desc;
        q.avail_addr = cases[i].avail;
        q.used_addr = cases[i].used;
        bool enabled = virtq_enable(&q, false, false);
        ok(!enabled && !q.ready && q.broken && fails == 1 && strstr(last_msg, cases[i].what),
           "%s refused (%s)", cases[i].name, last_msg);
    }
    virtq_reset(&q);
    q.desc_addr = DESC;
    q.avail_addr = AVAIL;
    q.used_addr = USED;
    ok(virtq_enable(&q, false, false) && !q.broken, "reset clears the broken state");
}

static void test_bad_chains(void)
{
    setup(8, false, false);
    set_desc(0, BUF, 8, VIRTQ_DESC_F_NEXT, 1);
    set_desc(1, BUF, 8, VIRTQ_DESC_F_NEXT, 0);
    avail_add(0);
    expect_broken("longer than the queue size", "two-descriptor loop");

    setup(8, false, false);
    set_desc(3, BUF, 8, VIRTQ_DESC_F_NEXT, 3);
    avail_add(3);
    expect_broken("longer than the queue size", "self loop");

    setup(8, false, false);
    avail_add(8);
    expect_broken("out of range", "head index = size");

    setup(8, false, false);
    set_desc(0, BUF, 8, VIRTQ_DESC_F_NEXT, 0xffff);
    avail_add(0);
    expect_broken("out of range", "next index out of range");

    setup(8, false, false);
    set_desc(0, 0x1000, 8, 0, 0);
    avail_add(0);
    expect_broken("outside RAM", "buffer below RAM");

    setup(8, false, false);
    set_desc(0, RAM_BASE + RAM_SIZE - 4, 8, VIRTQ_DESC_F_WRITE, 0);
    avail_add(0);
    expect_broken("outside RAM", "buffer straddling the end of RAM");

    setup(8, false, false);
    set_desc(0, 0xfffffffffffffff0ull, 0x20, VIRTQ_DESC_F_WRITE, 0);
    avail_add(0);
    expect_broken("outside RAM", "buffer address wrapping around");

    setup(8, false, false);
    set_desc(0, BUF, 8, VIRTQ_DESC_F_WRITE | VIRTQ_DESC_F_NEXT, 1);
    set_desc(1, BUF, 8, 0, 0);
    avail_add(0);
    expect_broken("readable buffer after a writable", "readable after writable");

    setup(8, false, false);
    vfake_put16(&bus, AVAIL + 2, 9);
    expect_broken("available index moved", "available index jumps past the size");

    setup(2, false, false);
    set_desc(0, BUF, 8, 0, 0);
    for (int i = 0; i < 2; i++) {
        avail_add(0);
        virtq_pop(&q, &e);
    }
    avail_add(0);
    expect_broken("in flight", "more chains in flight than the size");
}

static void test_bad_indirect(void)
{
    setup(8, false, false);
    set_desc(0, INDIRECT, 16, VIRTQ_DESC_F_INDIRECT, 0);
    avail_add(0);
    expect_broken("without INDIRECT_DESC", "indirect without the feature");

    setup(8, true, false);
    set_desc_at(INDIRECT, 0, INDIRECT, 16, VIRTQ_DESC_F_INDIRECT, 0);
    set_desc(0, INDIRECT, 16, VIRTQ_DESC_F_INDIRECT, 0);
    avail_add(0);
    expect_broken("inside an indirect table", "nested indirect");

    setup(8, true, false);
    set_desc(0, INDIRECT, 16, VIRTQ_DESC_F_INDIRECT | VIRTQ_DESC_F_NEXT, 1);
    avail_add(0);
    expect_broken("NEXT set", "indirect with NEXT");

    uint32_t bad_lens[] = {0, 20, 16 * 9};
    for (int i = 0; i < 3; i++) {
        setup(8, true, false);
        set_desc(0, INDIRECT, bad_lens[i], VIRTQ_DESC_F_INDIRECT, 0);
        avail_add(0);
        char name[64];
        snprintf(name, sizeof(name), "indirect table of %u bytes", bad_lens[i]);
        expect_broken("indirect table of", name);
    }

    setup(8, true, false);
    set_desc(0, RAM_BASE + RAM_SIZE - 32, 64, VIRTQ_DESC_F_INDIRECT, 0);
    avail_add(0);
    expect_broken("outside RAM", "indirect table past RAM");

    setup(8, true, false);
    set_desc_at(INDIRECT, 0, BUF, 8, VIRTQ_DESC_F_NEXT, 1);
    set_desc_at(INDIRECT, 1, BUF, 8, VIRTQ_DESC_F_NEXT, 0);
    set_desc(0, INDIRECT, 32, VIRTQ_DESC_F_INDIRECT, 0);
    avail_add(0);
    expect_broken("longer than the queue size", "loop inside an indirect table");

    setup(8, true, false);
    for (int i = 0; i < 7; i++)
        set_desc(i, BUF, 8, VIRTQ_DESC_F_NEXT, i + 1);
    set_desc(7, INDIRECT, 16 * 8, VIRTQ_DESC_F_INDIRECT, 0);
    for (int i = 0; i < 8; i++)
        set_desc_at(INDIRECT, i, BUF, 8, i < 7 ? VIRTQ_DESC_F_NEXT : 0, i + 1);
    avail_add(0);
    expect_broken("longer than the queue size", "7 direct + 8 indirect > size 8");
}

/* Lengths that add past 4 GiB: needs a RAM big enough to hold each buffer (lazily reserved). */
static void test_huge_lengths(void)
{
    Bus big;
    Error err;
    if (bus_init(&big, RAM_BASE, 0xc0010000ull, &err) < 0) {
        ok(1, "# SKIP cannot reserve 3 GiB of address space: %s", err.msg);
        return;
    }
    Bus saved = bus;
    bus = big;
    setup(8, false, false);
    set_desc(0, RAM_BASE + 0x10000, 0xc0000000u, VIRTQ_DESC_F_WRITE | VIRTQ_DESC_F_NEXT, 1);
    set_desc(1, RAM_BASE + 0x10000, 0xc0000000u, VIRTQ_DESC_F_WRITE, 0);
    avail_add(0);
    expect_broken("more than 4 GiB", "writable lengths adding past 4 GiB");
    bus = saved;
    bus_destroy(&big);
}

static void test_push_after_reset(void)
{
    setup(8, false, false);
    set_desc(0, BUF, 8, VIRTQ_DESC_F_WRITE, 0);
    avail_add(0);
    virtq_pop(&q, &e);
    virtq_disable(&q);
    ok(virtq_enable(&q, false, false), "re-enable");
    virtq_push(&q, &e, 8);
    ok(vfake_get16(&bus, USED + 2) == 0, "a chain popped before a reset is not pushed after it");
}

int main(void)
{
    Error err;
    if (bus_init(&bus, RAM_BASE, RAM_SIZE, &err) < 0) {
        printf("Bail out! %s\n", err.msg);
        return 1;
    }
    test_good_chain();
    test_wraparound();
    test_indirect();
    test_notifications();
    test_bad_setup();
    test_bad_chains();
    test_bad_indirect();
    test_huge_lengths();
    test_push_after_reset();
    bus_destroy(&bus);
    return tap_done();
}
