/*
 * Shared-memory frame rings (see ring.h for the protocol).
 *
 * Layout of the memfd: two headers of one page each (up, then down), then
 * the up ring's data, then the down ring's.  Every field another process
 * writes sits on a cache line of its own.
 */
#include "net/ring.h"

#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/fdpass.h"

#define RING_PAGE 4096u
#define RING_MIN (256u * 1024u) /* two of the largest records */
#define RING_MAX (16u * 1024u * 1024u)
#define RING_WRAP 0xffffffffu /* a record length: go on at the start */
#define RING_VERSION 1
#define RING_REQUEST 1
#define RING_ACCEPT 2
#define RING_ETHERTYPE 0x88b5 /* IEEE 802 local experimental */

struct NetRingHdr {
    _Alignas(64) _Atomic uint32_t head; /* producer: bytes written */
    _Alignas(64) _Atomic uint32_t tail; /* consumer: bytes read */
    _Alignas(64) _Atomic uint32_t idle; /* consumer: ring me when head moves */
    _Alignas(64) _Atomic uint32_t wait; /* producer: ring me when tail moves */
};

_Static_assert(sizeof(struct NetRingHdr) <= RING_PAGE, "a header fits its page");

static uint32_t rec_size(size_t len)
{
    return (uint32_t)((4 + len + 7) & ~(size_t)7);
}

static bool ring_bytes_ok(uint32_t n)
{
    return n >= RING_MIN && n <= RING_MAX && (n & (n - 1)) == 0;
}

size_t net_ring_region_size(uint32_t ring_bytes)
{
    return 2 * (size_t)RING_PAGE + 2 * (size_t)ring_bytes;
}

/* Point rp's two directions into its mapping; up is the switch's rx. */
static void ring_layout(NetRingPair *rp, uint32_t ring_bytes, bool switch_side)
{
    uint8_t *base = rp->map;
    NetRing up = {.h = (NetRingHdr *)base, .data = base + 2 * RING_PAGE, .size = ring_bytes};
    NetRing down = {.h = (NetRingHdr *)(base + RING_PAGE),
                    .data = base + 2 * RING_PAGE + ring_bytes,
                    .size = ring_bytes};
    rp->tx = switch_side ? down : up;
    rp->rx = switch_side ? up : down;
}

static int ring_map(NetRingPair *rp, int memfd, uint32_t ring_bytes, Error *err)
{
    size_t len = net_ring_region_size(ring_bytes);
    void *m = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, memfd, 0);
    if (m == MAP_FAILED)
        return error_set_errno(err, errno, "cannot map the ring");
    *rp = (NetRingPair){.map = m, .map_len = len};
    return 0;
}

int net_ring_create(NetRingPair *rp, uint32_t ring_bytes, int *memfd, Error *err)
{
    *rp = (NetRingPair){0};
    if (!ring_bytes_ok(ring_bytes))
        return error_set(err, "ring size %u is not a power of two in 256 KiB..16 MiB", ring_bytes);
    int fd = memfd_create("hostel-ring", MFD_CLOEXEC | MFD_ALLOW_SEALING);
    if (fd < 0)
        return error_set_errno(err, errno, "cannot create the ring's memory");
    if (ftruncate(fd, (off_t)net_ring_region_size(ring_bytes)) < 0 ||
        fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL) < 0) {
        int e = errno;
        close(fd);
        return error_set_errno(err, e, "cannot size and seal the ring's memory");
    }
    if (ring_map(rp, fd, ring_bytes, err) < 0) {
        close(fd);
        return -1;
    }
    ring_layout(rp, ring_bytes, true);
    /* both consumers start asleep: the first frame each way rings its doorbell */
    atomic_store(&rp->tx.h->idle, 1);
    atomic_store(&rp->rx.h->idle, 1);
    *memfd = fd;
    return 0;
}

int net_ring_attach(NetRingPair *rp, int memfd, uint32_t ring_bytes, Error *err)
{
    struct stat st;
    *rp = (NetRingPair){0};
    if (!ring_bytes_ok(ring_bytes))
        return error_set(err, "the switch offered rings of %u bytes", ring_bytes);
    if (fstat(memfd, &st) < 0 || !S_ISREG(st.st_mode) ||
        (size_t)st.st_size != net_ring_region_size(ring_bytes))
        return error_set(err, "the switch's ring memory is not of the announced size");
    if (ring_map(rp, memfd, ring_bytes, err) < 0)
        return -1;
    ring_layout(rp, ring_bytes, false);
    return 0;
}

void net_ring_detach(NetRingPair *rp)
{
    if (rp->map)
        munmap(rp->map, rp->map_len);
    *rp = (NetRingPair){0};
}

/* ---- producer ---- */

/* Would a frame of len bytes fit with the consumer at tail?  (A bad tail: it does not.) */
static bool ring_fits(const NetRing *r, uint32_t tail, size_t len)
{
    uint32_t need = rec_size(len), used = r->pos - tail;
    uint32_t off = r->pos & (r->size - 1), contig = r->size - off;
    return used <= r->size && need + (contig < need ? contig : 0) <= r->size - used;
}

NetRingResult net_ring_push(NetRing *r, const void *frame, size_t len)
{
    if (len == 0 || len > NET_RING_FRAME_MAX)
        return NET_RING_BROKEN;
    /* the tail last read is behind the real one, so room it shows is there: read the shared
       line (which the consumer writes on every frame) only when it shows too little */
    if (!ring_fits(r, r->seen, len)) {
        uint32_t tail = atomic_load_explicit(&r->h->tail, memory_order_acquire);
        if (r->pos - tail > r->size)
            return NET_RING_BROKEN; /* the consumer claims to have read what was never written */
        r->seen = tail;
        if (!ring_fits(r, tail, len))
            return NET_RING_EMPTY;
    }
    uint32_t need = rec_size(len), head = r->pos;
    uint32_t off = head & (r->size - 1), contig = r->size - off;
    if (contig < need) { /* skip to the start */
        uint32_t wrap = RING_WRAP;
        memcpy(r->data + off, &wrap, 4);
        head += contig;
        off = 0;
    }
    uint32_t l = (uint32_t)len;
    memcpy(r->data + off, &l, 4);
    memcpy(r->data + off + 4, frame, len);
    r->pos = head + need;
    atomic_store_explicit(&r->h->head, r->pos, memory_order_release);
    return NET_RING_OK;
}

uint32_t net_ring_used(NetRing *r)
{
    uint32_t tail = atomic_load_explicit(&r->h->tail, memory_order_acquire);
    uint32_t used = r->pos - tail;
    if (used > r->size)
        return r->size;
    r->seen = tail;
    return used;
}

bool net_ring_push_done(NetRing *r)
{
    atomic_thread_fence(memory_order_seq_cst);
    if (!atomic_load_explicit(&r->h->idle, memory_order_relaxed))
        return false;
    atomic_store_explicit(&r->h->idle, 0, memory_order_relaxed);
    return true;
}

bool net_ring_wait_space(NetRing *r, size_t len)
{
    atomic_store_explicit(&r->h->wait, 1, memory_order_seq_cst);
    atomic_thread_fence(memory_order_seq_cst);
    uint32_t tail = atomic_load_explicit(&r->h->tail, memory_order_acquire);
    if (!ring_fits(r, tail, len))
        return false;
    r->seen = tail;
    atomic_store_explicit(&r->h->wait, 0, memory_order_relaxed);
    return true;
}

/* ---- consumer ---- */

NetRingResult net_ring_pop(NetRing *r, uint8_t *buf, size_t cap, size_t *len)
{
    uint32_t tail = r->pos;
    uint32_t avail = r->seen - tail; /* frames known to be there: no shared line read */
    if (avail < 8 || avail > r->size) {
        r->seen = atomic_load_explicit(&r->h->head, memory_order_acquire);
        avail = r->seen - tail;
        if (avail == 0)
            return NET_RING_EMPTY;
    }
    if (avail > r->size || avail < 8)
        return NET_RING_BROKEN;
    uint32_t off = tail & (r->size - 1), contig = r->size - off, l;
    memcpy(&l, r->data + off, 4); /* read once: the producer may change it */
    if (l == RING_WRAP) {
        if (contig >= avail)
            return NET_RING_BROKEN; /* a wrap with nothing after it */
        tail += contig;
        avail -= contig;
        off = 0;
        if (avail < 8)
            return NET_RING_BROKEN;
        memcpy(&l, r->data, 4);
        contig = r->size;
    }
    if (l == 0 || l > NET_RING_FRAME_MAX || l > cap || rec_size(l) > avail || rec_size(l) > contig)
        return NET_RING_BROKEN;
    memcpy(buf, r->data + off + 4, l);
    *len = l;
    r->pos = tail + rec_size(l);
    atomic_store_explicit(&r->h->tail, r->pos, memory_order_release);
    return NET_RING_OK;
}

bool net_ring_pop_done(NetRing *r)
{
    atomic_thread_fence(memory_order_seq_cst);
    if (!atomic_load_explicit(&r->h->wait, memory_order_relaxed))
        return false;
    /* not before half the ring is free: a producer woken for every frame popped would wake
       (and fill the ring again) as often as the consumer pops */
    uint32_t used = atomic_load_explicit(&r->h->head, memory_order_acquire) - r->pos;
    if (used > r->size / 2)
        return false;
    atomic_store_explicit(&r->h->wait, 0, memory_order_relaxed);
    return true;
}

bool net_ring_idle(NetRing *r)
{
    atomic_store_explicit(&r->h->idle, 1, memory_order_seq_cst);
    atomic_thread_fence(memory_order_seq_cst);
    if (atomic_load_explicit(&r->h->head, memory_order_acquire) == r->pos)
        return true;
    atomic_store_explicit(&r->h->idle, 0, memory_order_relaxed);
    return false;
}

void net_ring_busy(NetRing *r)
{
    atomic_store_explicit(&r->h->idle, 0, memory_order_relaxed);
}

/* ---- the handshake ---- */

/* A ring message: an Ethernet header nobody accepts, then ours. */
typedef struct RingMsg {
    uint8_t dst[6], src[6];
    uint8_t ethertype[2];
    char magic[8]; /* "hostelrg" */
    uint8_t version, type;
    uint8_t ring_bytes[4]; /* big-endian */
    uint8_t pad[4];
} RingMsg;

_Static_assert(sizeof(RingMsg) == NET_RING_MSG_LEN, "the message is packed");

static const char ring_magic[8] = {'h', 'o', 's', 't', 'e', 'l', 'r', 'g'};

static void msg_fill(RingMsg *m, uint8_t type, uint32_t ring_bytes)
{
    *m = (RingMsg){.ethertype = {RING_ETHERTYPE >> 8, RING_ETHERTYPE & 0xff},
                   .version = RING_VERSION,
                   .type = type,
                   .ring_bytes = {ring_bytes >> 24, ring_bytes >> 16, ring_bytes >> 8, ring_bytes}};
    memcpy(m->magic, ring_magic, sizeof(ring_magic));
}

static bool msg_check(const uint8_t *buf, size_t n, uint8_t type, uint32_t *ring_bytes)
{
    RingMsg m;
    if (n != sizeof(m))
        return false;
    memcpy(&m, buf, sizeof(m));
    if (memcmp(m.magic, ring_magic, sizeof(ring_magic)) != 0 || m.version != RING_VERSION ||
        m.type != type || m.ethertype[0] != (RING_ETHERTYPE >> 8) ||
        m.ethertype[1] != (RING_ETHERTYPE & 0xff))
        return false;
    *ring_bytes = (uint32_t)m.ring_bytes[0] << 24 | (uint32_t)m.ring_bytes[1] << 16 |
                  (uint32_t)m.ring_bytes[2] << 8 | m.ring_bytes[3];
    return true;
}

static int send_with_fds(int sock, const RingMsg *m, const int *fds, int nfds)
{
    ssize_t r = fdpass_send(sock, m, sizeof(*m), fds, (size_t)nfds, MSG_DONTWAIT | MSG_NOSIGNAL);
    if (r < 0)
        return -1;
    return r == (ssize_t)sizeof(*m) ? 0 : (errno = EMSGSIZE, -1);
}

int net_ring_send_request(int sock, int efd)
{
    RingMsg m;
    msg_fill(&m, RING_REQUEST, 0);
    return send_with_fds(sock, &m, &efd, 1);
}

int net_ring_send_accept(int sock, int memfd, int efd, uint32_t ring_bytes)
{
    RingMsg m;
    int fds[2] = {memfd, efd};
    msg_fill(&m, RING_ACCEPT, ring_bytes);
    return send_with_fds(sock, &m, fds, 2);
}

void net_ring_close_fds(int *fds, int nfds)
{
    for (int i = 0; i < nfds; i++)
        if (fds[i] >= 0)
            close(fds[i]);
}

typedef struct TakeFds {
    int *fds;
    int *nfds;
} TakeFds;

/* fdpass_each: the first descriptors into fds, the rest closed. */
static void take_fd(void *opaque, int fd)
{
    TakeFds *t = opaque;
    if (*t->nfds < NET_RING_MAX_FDS)
        t->fds[(*t->nfds)++] = fd;
    else
        close(fd);
}

ssize_t net_ring_recv(int sock, uint8_t *buf, size_t cap, int fds[NET_RING_MAX_FDS], int *nfds)
{
    union {
        struct cmsghdr align;
        char buf[CMSG_SPACE(sizeof(int) * FDPASS_MAX)];
    } u;
    struct iovec iov = {.iov_base = buf, .iov_len = cap};
    struct msghdr mh = {
        .msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.buf, .msg_controllen = sizeof(u.buf)};
    *nfds = 0;
    ssize_t n;
    do
        n = recvmsg(sock, &mh, MSG_DONTWAIT | MSG_TRUNC | MSG_CMSG_CLOEXEC);
    while (n < 0 && errno == EINTR);
    if (n >= 0 && mh.msg_controllen > 0)
        fdpass_each(&mh, take_fd, &(TakeFds){fds, nfds});
    return n;
}

/* fd is an eventfd (its /proc link says so); made non-blocking. */
static bool eventfd_ok(int fd)
{
    char path[64], link[64];
    snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
    ssize_t n = readlink(path, link, sizeof(link) - 1);
    if (n < 0)
        return false;
    link[n] = '\0';
    if (strcmp(link, "anon_inode:[eventfd]") != 0)
        return false;
    int fl = fcntl(fd, F_GETFL);
    return fl >= 0 && fcntl(fd, F_SETFL, fl | O_NONBLOCK) == 0;
}

bool net_ring_parse_request(const uint8_t *msg, size_t n, const int *fds, int nfds, int *efd)
{
    uint32_t ignored;
    if (nfds != 1 || !msg_check(msg, n, RING_REQUEST, &ignored) || !eventfd_ok(fds[0]))
        return false;
    *efd = fds[0];
    return true;
}

bool net_ring_parse_accept(const uint8_t *msg, size_t n, const int *fds, int nfds, int *memfd,
                           int *efd, uint32_t *ring_bytes)
{
    if (nfds != 2 || !msg_check(msg, n, RING_ACCEPT, ring_bytes) || !eventfd_ok(fds[1]))
        return false;
    *memfd = fds[0];
    *efd = fds[1];
    return true;
}

void net_ring_kick(int efd)
{
    uint64_t one = 1;
    ssize_t r;
    do
        r = write(efd, &one, sizeof(one));
    while (r < 0 && errno == EINTR);
    /* EAGAIN: the counter is full, the doorbell rung already */
}

void net_ring_drain(int efd)
{
    uint64_t v;
    ssize_t r;
    do
        r = read(efd, &v, sizeof(v));
    while (r < 0 && errno == EINTR);
}
