/*
 * The shared-memory frame rings (net/ring.c):
 *   - a pair created by the switch side and attached by the VMM side over
 *     the same memfd: frames both ways, byte for byte, in order;
 *   - wrap-around with frames of every size, the largest frame, a ring
 *     that is full (and says so to wait_space until room is made);
 *   - the doorbell flags: idle/push_done and wait_space/pop_done ring once;
 *   - a hostile other side: impossible indexes, lengths and wrap markers
 *     make the ring broken, never a read outside it; random garbage too;
 *   - the memory is sealed (cannot be shrunk), attach checks its size;
 *   - the handshake messages over a socketpair, and what is not one;
 *   - two threads pushing and popping 200000 frames with eventfd doorbells
 *     and the idle/wait flags: none lost, none reordered, no missed wake-up.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include "net/ring.h"
#include "tap.h"

#define SMALL_RING (256u * 1024u)

typedef struct Pair {
    NetRingPair sw, vm;
    int memfd;
} Pair;

static bool pair_new(Pair *p, uint32_t bytes)
{
    Error err = {0};
    if (net_ring_create(&p->sw, bytes, &p->memfd, &err) < 0) {
        printf("# create: %s\n", err.msg);
        return false;
    }
    if (net_ring_attach(&p->vm, p->memfd, bytes, &err) < 0) {
        printf("# attach: %s\n", err.msg);
        return false;
    }
    return true;
}

static void pair_free(Pair *p)
{
    net_ring_detach(&p->sw);
    net_ring_detach(&p->vm);
    close(p->memfd);
}

static void fill(uint8_t *b, size_t len, unsigned seed)
{
    for (size_t i = 0; i < len; i++)
        b[i] = (uint8_t)(seed * 31 + i * 7);
}

static uint8_t out[NET_RING_FRAME_MAX], in[NET_RING_FRAME_MAX];

static void test_both_ways(void)
{
    Pair p;
    ok(pair_new(&p, SMALL_RING), "a pair is created and attached");
    fill(out, 60, 1);
    size_t len = 0;
    ok(net_ring_push(&p.vm.tx, out, 60) == NET_RING_OK, "the VMM pushes up");
    ok(net_ring_pop(&p.sw.rx, in, sizeof(in), &len) == NET_RING_OK && len == 60 &&
           memcmp(in, out, 60) == 0,
       "the switch pops the same frame");
    ok(net_ring_pop(&p.sw.rx, in, sizeof(in), &len) == NET_RING_EMPTY, "then up is empty");
    fill(out, 1514, 2);
    ok(net_ring_push(&p.sw.tx, out, 1514) == NET_RING_OK, "the switch pushes down");
    ok(net_ring_pop(&p.vm.rx, in, sizeof(in), &len) == NET_RING_OK && len == 1514 &&
           memcmp(in, out, 1514) == 0,
       "the VMM pops the same frame");
    ok(net_ring_pop(&p.sw.rx, in, sizeof(in), &len) == NET_RING_EMPTY,
       "a frame down never shows up");
    fill(out, NET_RING_FRAME_MAX, 3);
    ok(net_ring_push(&p.vm.tx, out, NET_RING_FRAME_MAX) == NET_RING_OK &&
           net_ring_pop(&p.sw.rx, in, sizeof(in), &len) == NET_RING_OK &&
           len == NET_RING_FRAME_MAX && memcmp(in, out, len) == 0,
       "the largest frame goes through");
    ok(net_ring_push(&p.vm.tx, out, NET_RING_FRAME_MAX + 1) == NET_RING_BROKEN &&
           net_ring_push(&p.vm.tx, out, 0) == NET_RING_BROKEN,
       "a frame longer than the limit or empty is refused");
    pair_free(&p);
}

/* Frames of sizes 1..3000 in bursts until the ring is full, drained in other bursts. */
static void test_wrap(void)
{
    Pair p;
    pair_new(&p, SMALL_RING);
    unsigned sent = 0, got = 0, fulls = 0, bad = 0;
    size_t sizes[4096];
    srand(7);
    for (int round = 0; round < 2000; round++) {
        int burst = rand() % 200 + 1;
        for (int i = 0; i < burst; i++) {
            size_t len = (size_t)(rand() % 3000) + 1;
            fill(out, len, sent);
            NetRingResult r = net_ring_push(&p.vm.tx, out, len);
            if (r == NET_RING_EMPTY) {
                fulls++;
                break;
            }
            bad += r != NET_RING_OK;
            sizes[sent++ % 4096] = len;
        }
        int drain = rand() % 60 + 1;
        for (int i = 0; i < drain; i++) {
            size_t len;
            NetRingResult r = net_ring_pop(&p.sw.rx, in, sizeof(in), &len);
            if (r == NET_RING_EMPTY)
                break;
            fill(out, sizes[got % 4096], got);
            bad += r != NET_RING_OK || len != sizes[got % 4096] || memcmp(in, out, len) != 0;
            got++;
        }
    }
    ok(bad == 0 && sent > 20000 && got > 20000, "%u frames pushed, %u popped, all intact", sent,
       got);
    ok(fulls > 0, "the ring was full %u times and said so", fulls);
    pair_free(&p);
}

static void test_full_and_flags(void)
{
    Pair p;
    pair_new(&p, SMALL_RING);
    NetRing *tx = &p.vm.tx, *rx = &p.sw.rx;
    size_t len;
    ok(net_ring_push(tx, out, 60) == NET_RING_OK && net_ring_push_done(tx) &&
           net_ring_push(&p.sw.tx, out, 60) == NET_RING_OK && net_ring_push_done(&p.sw.tx),
       "a new pair's consumers are asleep: the first frame each way rings");
    net_ring_pop(rx, in, sizeof(in), &len);
    net_ring_pop(&p.vm.rx, in, sizeof(in), &len);
    ok(net_ring_idle(rx), "an empty ring lets its consumer sleep");
    ok(net_ring_push(tx, out, 60) == NET_RING_OK && net_ring_push_done(tx),
       "a push to a sleeping consumer rings it");
    ok(net_ring_push(tx, out, 60) == NET_RING_OK && !net_ring_push_done(tx),
       "once: the next push does not ring again");
    ok(!net_ring_idle(rx), "a consumer with frames waiting may not sleep");
    net_ring_busy(rx);
    unsigned n = 2;
    while (net_ring_push(tx, out, 60) == NET_RING_OK)
        n++;
    is_u64(n, SMALL_RING / 64, "a 256 KiB ring holds 4096 minimum frames");
    ok(!net_ring_wait_space(tx, 60), "a full ring makes its producer wait");
    ok(net_ring_pop(rx, in, sizeof(in), &len) == NET_RING_OK && !net_ring_pop_done(rx),
       "one frame popped does not ring the waiting producer yet");
    ok(!net_ring_wait_space(tx, 1514), "room for a small frame is no room for a big one");
    unsigned popped = 1;
    while (!net_ring_pop_done(rx) && net_ring_pop(rx, in, sizeof(in), &len) == NET_RING_OK)
        popped++;
    is_u64(popped, n / 2, "the consumer rings it once half the ring is free (%u frames)", popped);
    ok(!net_ring_pop_done(rx), "once");
    ok(net_ring_wait_space(tx, 1514), "and then the big frame fits");
    ok(net_ring_push(tx, out, 1514) == NET_RING_OK, "and goes");
    while (net_ring_push(tx, out, 60) == NET_RING_OK)
        ;
    ok(!net_ring_wait_space(tx, 60), "full again: the producer waits again");
    while (net_ring_pop(rx, in, sizeof(in), &len) == NET_RING_OK)
        ;
    ok(net_ring_pop_done(rx), "an emptied ring rings it");
    pair_free(&p);
}

/* Write v at byte off of ring r's shared header field (0 head, 64 tail). */
static void poke_hdr(NetRing *r, size_t off, uint32_t v)
{
    memcpy((uint8_t *)r->h + off, &v, 4);
}

static void test_hostile(void)
{
    Pair p;
    size_t len;
    pair_new(&p, SMALL_RING);
    NetRing *up = &p.sw.rx; /* the switch reads what the VMM writes */
    poke_hdr(up, 0, SMALL_RING + 8);
    ok(net_ring_pop(up, in, sizeof(in), &len) == NET_RING_BROKEN, "a head beyond the ring");
    poke_hdr(up, 0, 4);
    ok(net_ring_pop(up, in, sizeof(in), &len) == NET_RING_BROKEN, "a head inside a record");
    poke_hdr(up, 0, 64);
    uint32_t l = 70000;
    memcpy(up->data, &l, 4);
    ok(net_ring_pop(up, in, sizeof(in), &len) == NET_RING_BROKEN, "a length over the limit");
    l = 61;
    memcpy(up->data, &l, 4);
    ok(net_ring_pop(up, in, sizeof(in), &len) == NET_RING_BROKEN, "a record beyond the head");
    l = 0;
    memcpy(up->data, &l, 4);
    ok(net_ring_pop(up, in, sizeof(in), &len) == NET_RING_BROKEN, "an empty record");
    l = 0xffffffffu;
    memcpy(up->data, &l, 4);
    ok(net_ring_pop(up, in, sizeof(in), &len) == NET_RING_BROKEN, "a wrap with nothing after");
    l = 60;
    memcpy(up->data, &l, 4);
    ok(net_ring_pop(up, in, 59, &len) == NET_RING_BROKEN, "a frame longer than the buffer");
    ok(net_ring_pop(up, in, sizeof(in), &len) == NET_RING_OK && len == 60,
       "a good record after all that is read");
    /* a record that runs past the end of the data */
    Pair q;
    pair_new(&q, SMALL_RING);
    q.sw.rx.pos = SMALL_RING - 16; /* as if 16 bytes before the end were reached */
    poke_hdr(&q.sw.rx, 0, SMALL_RING + 64);
    l = 40;
    memcpy(q.sw.rx.data + SMALL_RING - 16, &l, 4);
    ok(net_ring_pop(&q.sw.rx, in, sizeof(in), &len) == NET_RING_BROKEN,
       "a record across the end of the ring");
    pair_free(&q);
    /* the consumer's index, seen by the producer */
    NetRing *down = &p.sw.tx;
    poke_hdr(down, 64, 0x80000000u);
    NetRingResult res = NET_RING_OK;
    for (unsigned i = 0; i <= SMALL_RING / 64 && res == NET_RING_OK; i++)
        res = net_ring_push(down, out, 60);
    ok(res == NET_RING_BROKEN, "a tail beyond the head, seen when the producer looks at it");
    ok(!net_ring_wait_space(down, 60), "and no room is promised");
    pair_free(&p);
    /* garbage everywhere: whatever comes out is within bounds */
    pair_new(&p, SMALL_RING);
    srand(11);
    unsigned oks = 0, broken = 0;
    for (int trial = 0; trial < 3000; trial++) {
        uint8_t *d = p.sw.rx.data;
        for (int i = 0; i < 64; i++)
            d[rand() % SMALL_RING] = (uint8_t)rand();
        for (int i = 0; i < 8; i++) {
            uint32_t v = (uint32_t)rand() % 4 == 0 ? 0xffffffffu : (uint32_t)(rand() % 4096) * 4;
            memcpy(d + (size_t)(rand() % (SMALL_RING / 8)) * 8, &v, 4);
        }
        poke_hdr(&p.sw.rx, 0, p.sw.rx.pos + (uint32_t)(rand() % (2 * SMALL_RING)));
        for (int i = 0; i < 16; i++) {
            NetRingResult r = net_ring_pop(&p.sw.rx, in, sizeof(in), &len);
            if (r == NET_RING_OK && len <= NET_RING_FRAME_MAX)
                oks++;
            if (r != NET_RING_OK) {
                broken += r == NET_RING_BROKEN;
                break;
            }
        }
    }
    ok(broken > 0 && oks > 0, "garbage: %u frames read within bounds, %u times broken", oks,
       broken);
    pair_free(&p);
}

static void test_memory(void)
{
    Pair p;
    Error err = {0};
    pair_new(&p, SMALL_RING);
    ok(ftruncate(p.memfd, 4096) < 0 && errno == EPERM, "the ring's memory cannot be shrunk");
    ok(ftruncate(p.memfd, 1 << 24) < 0 && errno == EPERM, "nor grown");
    NetRingPair other;
    ok(net_ring_attach(&other, p.memfd, 2 * SMALL_RING, &err) < 0 && strstr(err.msg, "size"),
       "an accept announcing another size is refused: %s", err.msg);
    ok(net_ring_attach(&other, p.memfd, 3000, &err) < 0, "a size that is no power of two too");
    int fds[2];
    if (pipe(fds) == 0) {
        ok(net_ring_attach(&other, fds[0], SMALL_RING, &err) < 0, "a pipe is not ring memory");
        close(fds[0]);
        close(fds[1]);
    }
    NetRingPair bad;
    int memfd = -1;
    ok(net_ring_create(&bad, 12345, &memfd, &err) < 0 && memfd == -1,
       "create refuses a size that is no power of two");
    pair_free(&p);
}

/* The number of open descriptors of this process. */
static int open_fds(void)
{
    int n = 0;
    for (int fd = 0; fd < 1024; fd++)
        n += fcntl(fd, F_GETFD) >= 0;
    return n;
}

static void test_handshake(void)
{
    int sv[2], fds[NET_RING_MAX_FDS], nfds, efd, memfd, efd2;
    uint8_t buf[256];
    uint32_t bytes;
    socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sv);
    int before = open_fds();
    int vm_efd = eventfd(0, EFD_CLOEXEC);
    ok(net_ring_send_request(sv[0], vm_efd) == 0, "the VMM sends a request");
    ssize_t n = net_ring_recv(sv[1], buf, sizeof(buf), fds, &nfds);
    ok(n == NET_RING_MSG_LEN && nfds == 1, "it arrives with one descriptor");
    ok(net_ring_parse_request(buf, (size_t)n, fds, nfds, &efd), "the switch takes it");
    ok(fcntl(efd, F_GETFL) & O_NONBLOCK, "and makes the VMM's doorbell non-blocking");
    ok(!net_ring_parse_accept(buf, (size_t)n, fds, nfds, &memfd, &efd2, &bytes),
       "a request is no accept");
    NetRingPair sw;
    Error err = {0};
    int sw_memfd, sw_efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    net_ring_create(&sw, SMALL_RING, &sw_memfd, &err);
    ok(net_ring_send_accept(sv[1], sw_memfd, sw_efd, SMALL_RING) == 0, "the switch accepts");
    n = net_ring_recv(sv[0], buf, sizeof(buf), fds, &nfds);
    ok(n == NET_RING_MSG_LEN && nfds == 2 &&
           net_ring_parse_accept(buf, (size_t)n, fds, nfds, &memfd, &efd2, &bytes) &&
           bytes == SMALL_RING,
       "the VMM takes the accept and its size");
    NetRingPair vm;
    ok(net_ring_attach(&vm, memfd, bytes, &err) == 0, "and maps the rings");
    ok(net_ring_push(&vm.tx, "0123456789abcdef", 16) == NET_RING_OK, "the VMM pushes");
    size_t len;
    ok(net_ring_pop(&sw.rx, buf, sizeof(buf), &len) == NET_RING_OK && len == 16 &&
           memcmp(buf, "0123456789abcdef", 16) == 0,
       "the switch pops it through the memfd it sent");
    net_ring_kick(efd); /* the switch rings the VMM */
    struct pollfd pf = {.fd = vm_efd, .events = POLLIN};
    ok(poll(&pf, 1, 0) == 1, "the VMM's doorbell rings through the passed descriptor");
    net_ring_drain(vm_efd);
    ok(poll(&pf, 1, 0) == 0, "and is drained");
    net_ring_detach(&vm);
    net_ring_detach(&sw);
    int all[] = {vm_efd, efd, sw_memfd, sw_efd, memfd, efd2};
    net_ring_close_fds(all, 6);
    ok(open_fds() == before, "every descriptor closed again");

    /* what is not a request */
    send(sv[0], "a frame of an ordinary sort", 27, 0);
    n = net_ring_recv(sv[1], buf, sizeof(buf), fds, &nfds);
    ok(n == 27 && nfds == 0, "a frame comes without descriptors");
    int pfd[2];
    pipe(pfd);
    net_ring_send_request(sv[0], pfd[0]);
    n = net_ring_recv(sv[1], buf, sizeof(buf), fds, &nfds);
    ok(nfds == 1 && !net_ring_parse_request(buf, (size_t)n, fds, nfds, &efd),
       "a request whose doorbell is a pipe is refused");
    net_ring_close_fds(fds, nfds);
    vm_efd = eventfd(0, 0);
    net_ring_send_request(sv[0], vm_efd);
    n = net_ring_recv(sv[1], buf, sizeof(buf), fds, &nfds);
    buf[14] ^= 1; /* the magic */
    ok(!net_ring_parse_request(buf, (size_t)n, fds, nfds, &efd), "a wrong magic is refused");
    buf[14] ^= 1;
    buf[22] = 9; /* the version */
    ok(!net_ring_parse_request(buf, (size_t)n, fds, nfds, &efd), "an unknown version too");
    net_ring_close_fds(fds, nfds);
    /* four descriptors: two kept, two closed by recv */
    struct {
        struct cmsghdr h;
        int fd[4];
    } c = {.h = {.cmsg_len = CMSG_LEN(4 * sizeof(int)),
                 .cmsg_level = SOL_SOCKET,
                 .cmsg_type = SCM_RIGHTS},
           .fd = {vm_efd, vm_efd, vm_efd, vm_efd}};
    struct iovec iov = {.iov_base = buf, .iov_len = NET_RING_MSG_LEN};
    struct msghdr mh = {
        .msg_iov = &iov, .msg_iovlen = 1, .msg_control = &c, .msg_controllen = sizeof(c)};
    int mid = open_fds();
    sendmsg(sv[0], &mh, 0);
    n = net_ring_recv(sv[1], buf, sizeof(buf), fds, &nfds);
    ok(nfds == 2 && open_fds() == mid + 2, "of four descriptors two are kept, two closed");
    net_ring_close_fds(fds, nfds);
    close(vm_efd);
    close(pfd[0]);
    close(pfd[1]);
    close(sv[0]);
    close(sv[1]);
}

/* ---- two threads ---- */

#define STRESS_FRAMES 200000

typedef struct Stress {
    Pair p;
    int prod_efd, cons_efd; /* each side's doorbell */
    unsigned bad, waits, sleeps, lost;
} Stress;

/* Wait for a doorbell; false if it did not ring within 5 s (a lost wake-up). */
static bool wait_bell(int efd)
{
    struct pollfd pf = {.fd = efd, .events = POLLIN};
    bool rung = poll(&pf, 1, 5000) == 1;
    net_ring_drain(efd);
    return rung;
}

static void *producer(void *opaque)
{
    Stress *s = opaque;
    uint8_t f[1600];
    for (uint32_t i = 0; i < STRESS_FRAMES; i++) {
        size_t len = 8 + i % 1500;
        memset(f, (int)(i & 0xff), len);
        memcpy(f, &i, 4);
        NetRingResult r;
        while ((r = net_ring_push(&s->p.vm.tx, f, len)) == NET_RING_EMPTY)
            if (!net_ring_wait_space(&s->p.vm.tx, len)) {
                s->waits++;
                s->lost += !wait_bell(s->prod_efd);
            }
        if (r != NET_RING_OK)
            s->bad++;
        if (net_ring_push_done(&s->p.vm.tx))
            net_ring_kick(s->cons_efd);
    }
    return NULL;
}

static void *consumer(void *opaque)
{
    Stress *s = opaque;
    uint8_t f[NET_RING_FRAME_MAX];
    uint32_t next = 0;
    while (next < STRESS_FRAMES) {
        size_t len;
        NetRingResult r = net_ring_pop(&s->p.sw.rx, f, sizeof(f), &len);
        if (r == NET_RING_OK) {
            uint32_t seq;
            memcpy(&seq, f, 4);
            s->bad += seq != next || len != 8 + next % 1500;
            next++;
            if (net_ring_pop_done(&s->p.sw.rx))
                net_ring_kick(s->prod_efd);
            continue;
        }
        if (r == NET_RING_BROKEN) {
            s->bad++;
            break;
        }
        if (net_ring_idle(&s->p.sw.rx)) {
            s->sleeps++;
            s->lost += !wait_bell(s->cons_efd);
            net_ring_busy(&s->p.sw.rx);
        }
    }
    return NULL;
}

static void test_threads(void)
{
    Stress s = {.prod_efd = eventfd(0, EFD_NONBLOCK), .cons_efd = eventfd(0, EFD_NONBLOCK)};
    pair_new(&s.p, SMALL_RING);
    pthread_t a, b;
    pthread_create(&b, NULL, consumer, &s);
    pthread_create(&a, NULL, producer, &s);
    pthread_join(a, NULL);
    pthread_join(b, NULL);
    ok(s.lost == 0, "no doorbell was missed");
    ok(s.bad == 0,
       "%d frames across threads, in order and intact (the producer waited %u "
       "times, the consumer slept %u times)",
       STRESS_FRAMES, s.waits, s.sleeps);
    pair_free(&s.p);
    close(s.prod_efd);
    close(s.cons_efd);
}

int main(void)
{
    test_both_ways();
    test_wrap();
    test_full_and_flags();
    test_hostile();
    test_memory();
    test_handshake();
    test_threads();
    return tap_done();
}
