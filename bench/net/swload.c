/*
 * swload: a frame blaster for the switch's own cost (bench/net/run.py).
 *
 *   swload --tx FD --rx FD --pid PID [--size BYTES] [--seconds T]
 *          [--warmup S] [--pps N] [--batch N] [--transport ring|socket]
 *
 * FD are the far ends of two ports of a running `hostel switch`
 * (SOCK_SEQPACKET sockets whose other ends run.py handed to the switch
 * with add-port, inherited here).  The rx port first sends one broadcast
 * from its address, so the switch learns where that address lives; then
 * one thread sends unicast frames of BYTES bytes (as on the wire, no FCS:
 * 60 is a minimum Ethernet frame, 64 bytes with its FCS) from the tx port
 * to the rx port's address, as fast as the socket takes them (blocking
 * sendmmsg) or paced at N frames a second, and another counts what
 * arrives on the rx port.  After a warm-up of S seconds, a window of T
 * seconds is measured: frames sent, frames received and the CPU time
 * (utime + stime of /proc/PID/stat) the switch process PID used in it.
 *
 * --transport ring (the default, as a VMM does) first asks the switch for
 * shared-memory rings on both ports (net/ring.h) and moves the frames
 * through them, ringing doorbells only when the other side sleeps;
 * --transport socket sends and receives one message per frame.
 *
 * Prints one line of JSON on stdout; exit 0, 1 on a failure (one line on
 * stderr), 2 on a bad command line.
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "net/ring.h"

#define LOAD_MAX_FRAME 65550
#define LOAD_MAX_BATCH 256
#define LOAD_ETHERTYPE 0x88b5 /* IEEE 802 local experimental */

static const uint8_t load_mac_tx[6] = {0x02, 0x00, 0x5e, 0x10, 0x00, 0x01};
static const uint8_t load_mac_rx[6] = {0x02, 0x00, 0x5e, 0x10, 0x00, 0x02};

typedef struct LoadOpts {
    int tx_fd, rx_fd;
    long pid;
    unsigned size;  /* bytes per frame, no FCS */
    double seconds; /* measured window */
    double warmup;  /* before the window */
    uint64_t pps;   /* 0 = as fast as the socket takes them */
    unsigned batch; /* frames per sendmmsg, or between two doorbell checks */
    bool ring;      /* frames through shared-memory rings, not the sockets */
} LoadOpts;

/* One port's rings (--transport ring). */
typedef struct LoadRing {
    NetRingPair ring;
    int efd;    /* ours */
    int sw_efd; /* the switch's */
} LoadRing;

typedef struct LoadState {
    const LoadOpts *o;
    atomic_bool stop;
    atomic_uint_fast64_t sent, received, received_bytes, foreign;
    int error;              /* errno of a failed send/recv, 0 = none */
    const char *error_what; /* which */
    LoadRing tx, rx;        /* --transport ring */
} LoadState;

static double load_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* utime + stime of pid in seconds, or -1 if it cannot be read. */
static double load_cpu_seconds(long pid)
{
    char path[64], buf[1024];
    snprintf(path, sizeof(path), "/proc/%ld/stat", pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = '\0';
    const char *p = strrchr(buf, ')'); /* the command name may hold spaces */
    unsigned long long utime, stime;
    /* after ")": state ppid pgrp session tty tpgid flags, 4 fault counts, utime stime */
    if (!p || sscanf(p + 1, " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &utime,
                     &stime) != 2)
        return -1;
    return (double)(utime + stime) / (double)sysconf(_SC_CLK_TCK);
}

static void load_fill_frame(uint8_t *frame, unsigned size, const uint8_t *dst, const uint8_t *src)
{
    memset(frame, 0, size);
    memcpy(frame, dst, 6);
    memcpy(frame + 6, src, 6);
    frame[12] = LOAD_ETHERTYPE >> 8;
    frame[13] = LOAD_ETHERTYPE & 0xff;
}

/* A thread's send or receive failed: note the first failure and stop (none once stopping). */
static void load_fail(LoadState *st, const char *what, int err)
{
    if (atomic_load(&st->stop))
        return;
    if (!st->error) {
        st->error = err;
        st->error_what = what;
    }
    atomic_store(&st->stop, true);
}

/* Send n frames (one buffer, n messages); returns how many went, -1 on an error. */
static int load_send_batch(int fd, struct mmsghdr *msgs, unsigned n)
{
    int r;
    do {
        r = sendmmsg(fd, msgs, n, 0);
    } while (r < 0 && errno == EINTR);
    return r;
}

static void *load_sender(void *opaque)
{
    LoadState *st = opaque;
    const LoadOpts *o = st->o;
    static uint8_t frame[LOAD_MAX_FRAME];
    struct iovec iov = {frame, o->size};
    struct mmsghdr msgs[LOAD_MAX_BATCH];
    load_fill_frame(frame, o->size, load_mac_rx, load_mac_tx);
    memset(msgs, 0, sizeof(msgs));
    for (unsigned i = 0; i < o->batch; i++) {
        msgs[i].msg_hdr.msg_iov = &iov;
        msgs[i].msg_hdr.msg_iovlen = 1;
    }
    double next = load_now();
    while (!atomic_load(&st->stop)) {
        unsigned n = o->batch;
        if (o->pps) {
            /* a batch every batch/pps seconds, on an absolute schedule */
            next += (double)n / (double)o->pps;
            double wait = next - load_now();
            if (wait > 0) {
                struct timespec ts = {(time_t)wait, (long)((wait - (time_t)wait) * 1e9)};
                nanosleep(&ts, NULL);
            }
        }
        int r = load_send_batch(o->tx_fd, msgs, n);
        if (r < 0) {
            if (errno == EAGAIN || errno == ENOBUFS)
                continue;
            load_fail(st, "send on the tx port", errno);
            break;
        }
        atomic_fetch_add(&st->sent, (uint64_t)r);
    }
    return NULL;
}

/* Wait up to 100 ms for a doorbell, then empty it. */
static void load_wait_bell(int efd)
{
    struct pollfd pf = {.fd = efd, .events = POLLIN};
    poll(&pf, 1, 100);
    net_ring_drain(efd);
}

/* The sender on rings: batch frames between doorbell checks; wait for room when full. */
static void *load_ring_sender(void *opaque)
{
    LoadState *st = opaque;
    const LoadOpts *o = st->o;
    static uint8_t frame[LOAD_MAX_FRAME];
    NetRing *r = &st->tx.ring.tx;
    load_fill_frame(frame, o->size, load_mac_rx, load_mac_tx);
    double next = load_now();
    while (!atomic_load(&st->stop)) {
        if (o->pps) {
            next += (double)o->batch / (double)o->pps;
            double wait = next - load_now();
            if (wait > 0) {
                struct timespec ts = {(time_t)wait, (long)((wait - (time_t)wait) * 1e9)};
                nanosleep(&ts, NULL);
            }
        }
        unsigned n = 0;
        while (n < o->batch && !atomic_load(&st->stop)) {
            NetRingResult res = net_ring_push(r, frame, o->size);
            if (res == NET_RING_OK) {
                n++;
                continue;
            }
            if (res == NET_RING_BROKEN) {
                load_fail(st, "push on the tx port's ring", EPROTO);
                return NULL;
            }
            if (net_ring_push_done(r))
                net_ring_kick(st->tx.sw_efd);
            if (!net_ring_wait_space(r, o->size))
                load_wait_bell(st->tx.efd);
        }
        if (net_ring_push_done(r))
            net_ring_kick(st->tx.sw_efd);
        atomic_fetch_add(&st->sent, n);
    }
    return NULL;
}

/* Count one received frame: ours (tx -> rx) or anything else. */
static void load_count(LoadState *st, const uint8_t *frame, size_t len)
{
    if (len >= 14 && memcmp(frame, load_mac_rx, 6) == 0 && memcmp(frame + 6, load_mac_tx, 6) == 0) {
        atomic_fetch_add(&st->received, 1);
        atomic_fetch_add(&st->received_bytes, len);
    } else {
        atomic_fetch_add(&st->foreign, 1);
    }
}

static void *load_receiver(void *opaque)
{
    LoadState *st = opaque;
    enum { N = 64 };
    static uint8_t bufs[N][2048];
    struct iovec iov[N];
    struct mmsghdr msgs[N];
    memset(msgs, 0, sizeof(msgs));
    for (unsigned i = 0; i < N; i++) {
        iov[i].iov_base = bufs[i];
        iov[i].iov_len = sizeof(bufs[i]);
        msgs[i].msg_hdr.msg_iov = &iov[i];
        msgs[i].msg_hdr.msg_iovlen = 1;
    }
    while (!atomic_load(&st->stop)) {
        int r = recvmmsg(st->o->rx_fd, msgs, N, MSG_WAITFORONE, NULL);
        if (r < 0) {
            if (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK)
                continue; /* the receive time-out: look at stop again */
            load_fail(st, "receive on the rx port", errno);
            break;
        }
        if (r == 0) {
            load_fail(st, "receive on the rx port (the switch hung up)", EPIPE);
            break;
        }
        for (int i = 0; i < r; i++) {
            if (msgs[i].msg_len == 0) {
                load_fail(st, "receive on the rx port (the switch hung up)", EPIPE);
                return NULL;
            }
            load_count(st, bufs[i], msgs[i].msg_len);
        }
    }
    return NULL;
}

/* The receiver on rings: pop, ring the switch when it waits for room, sleep when empty. */
static void *load_ring_receiver(void *opaque)
{
    LoadState *st = opaque;
    static uint8_t buf[NET_RING_FRAME_MAX];
    NetRing *r = &st->rx.ring.rx;
    while (!atomic_load(&st->stop)) {
        size_t len;
        NetRingResult res = net_ring_pop(r, buf, sizeof(buf), &len);
        if (res == NET_RING_OK) {
            load_count(st, buf, len);
            if (net_ring_pop_done(r))
                net_ring_kick(st->rx.sw_efd);
            continue;
        }
        if (res == NET_RING_BROKEN) {
            load_fail(st, "pop on the rx port's ring", EPROTO);
            break;
        }
        if (net_ring_pop_done(r))
            net_ring_kick(st->rx.sw_efd);
        if (net_ring_idle(r)) {
            load_wait_bell(st->rx.efd);
            net_ring_busy(r);
        }
    }
    return NULL;
}

/* Ask the switch for rings on fd and take them (blocking, 100 ms time-outs). */
static int load_ring_setup(int fd, LoadRing *lr)
{
    uint8_t buf[256];
    int fds[NET_RING_MAX_FDS], nfds, memfd;
    uint32_t bytes;
    Error err = {0};
    lr->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (lr->efd < 0 || net_ring_send_request(fd, lr->efd) < 0)
        return -1;
    double end = load_now() + 5;
    while (load_now() < end) {
        struct pollfd pf = {.fd = fd, .events = POLLIN};
        if (poll(&pf, 1, 100) <= 0)
            continue;
        ssize_t n = net_ring_recv(fd, buf, sizeof(buf), fds, &nfds);
        if (n > 0 && nfds > 0 &&
            net_ring_parse_accept(buf, (size_t)n, fds, nfds, &memfd, &lr->sw_efd, &bytes)) {
            int rc = net_ring_attach(&lr->ring, memfd, bytes, &err);
            close(memfd);
            return rc;
        }
        net_ring_close_fds(fds, nfds); /* a frame before the accept: not ours to count */
    }
    errno = ETIMEDOUT;
    return -1;
}

/* Make blocking reads and writes time out so both threads see the stop flag. */
static int load_set_timeouts(int fd)
{
    struct timeval tv = {0, 100 * 1000};
    if (setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) < 0)
        return -1;
    return setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
}

/* The rx port says where its address lives: one broadcast from it. */
static int load_announce(int fd, const uint8_t *mac)
{
    static const uint8_t bcast[6] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
    uint8_t frame[60];
    load_fill_frame(frame, sizeof(frame), bcast, mac);
    return send(fd, frame, sizeof(frame), 0) == (ssize_t)sizeof(frame) ? 0 : -1;
}

static void load_sleep(double seconds)
{
    struct timespec ts = {(time_t)seconds, (long)((seconds - (time_t)seconds) * 1e9)};
    while (nanosleep(&ts, &ts) < 0 && errno == EINTR) {
    }
}

typedef struct LoadSample {
    double t, cpu;
    uint64_t sent, received, bytes;
} LoadSample;

static int load_sample(LoadState *st, LoadSample *s)
{
    s->t = load_now();
    s->cpu = load_cpu_seconds(st->o->pid);
    s->sent = atomic_load(&st->sent);
    s->received = atomic_load(&st->received);
    s->bytes = atomic_load(&st->received_bytes);
    return s->cpu < 0 ? -1 : 0;
}

static void load_report(const LoadOpts *o, LoadState *st, const LoadSample *a, const LoadSample *b)
{
    printf("{\"size\": %u, \"pps-asked\": %" PRIu64 ", \"seconds\": %.6f, \"sent\": %" PRIu64
           ", \"received\": %" PRIu64 ", \"received-bytes\": %" PRIu64
           ", \"switch-cpu-s\": %.4f, \"sent-total\": %" PRIu64 ", \"received-total\": %" PRIu64
           ", \"foreign\": %" PRIu64 ", \"clk-tck\": %ld}\n",
           o->size, o->pps, b->t - a->t, b->sent - a->sent, b->received - a->received,
           b->bytes - a->bytes, b->cpu - a->cpu, (uint64_t)atomic_load(&st->sent),
           (uint64_t)atomic_load(&st->received), (uint64_t)atomic_load(&st->foreign),
           sysconf(_SC_CLK_TCK));
}

/* Run the load: announce, warm up, measure.  Returns 0, or 1 with a message printed. */
static int load_run(const LoadOpts *o)
{
    LoadState st = {.o = o};
    if (load_set_timeouts(o->tx_fd) < 0 || load_set_timeouts(o->rx_fd) < 0 ||
        load_announce(o->rx_fd, load_mac_rx) < 0) {
        fprintf(stderr, "swload: fd %d or %d: %s\n", o->tx_fd, o->rx_fd, strerror(errno));
        return 1;
    }
    if (load_cpu_seconds(o->pid) < 0) {
        fprintf(stderr, "swload: cannot read /proc/%ld/stat\n", o->pid);
        return 1;
    }
    if (o->ring &&
        (load_ring_setup(o->tx_fd, &st.tx) < 0 || load_ring_setup(o->rx_fd, &st.rx) < 0)) {
        fprintf(stderr, "swload: the switch gave no rings: %s\n", strerror(errno));
        return 1;
    }
    pthread_t rx, tx;
    if (pthread_create(&rx, NULL, o->ring ? load_ring_receiver : load_receiver, &st) != 0) {
        fprintf(stderr, "swload: cannot start a thread\n");
        return 1;
    }
    load_sleep(0.05); /* the switch has learned the rx address before the first unicast */
    if (pthread_create(&tx, NULL, o->ring ? load_ring_sender : load_sender, &st) != 0) {
        atomic_store(&st.stop, true);
        pthread_join(rx, NULL);
        fprintf(stderr, "swload: cannot start a thread\n");
        return 1;
    }
    LoadSample a, b;
    load_sleep(o->warmup);
    int bad = load_sample(&st, &a);
    load_sleep(o->seconds);
    bad |= load_sample(&st, &b);
    atomic_store(&st.stop, true);
    pthread_join(tx, NULL);
    pthread_join(rx, NULL);
    if (st.error) {
        fprintf(stderr, "swload: %s: %s\n", st.error_what, strerror(st.error));
        return 1;
    }
    if (bad) {
        fprintf(stderr, "swload: cannot read /proc/%ld/stat (has the switch exited?)\n", o->pid);
        return 1;
    }
    load_report(o, &st, &a, &b);
    return 0;
}

static int load_parse_num(const char *opt, const char *s, double min, double max, double *out)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || *end || v < min || v > max) {
        fprintf(stderr, "swload: %s: '%s' is not a number in [%g, %g]\n", opt, s, min, max);
        return -1;
    }
    *out = v;
    return 0;
}

static void load_usage(FILE *out)
{
    fprintf(out, "usage: swload --tx FD --rx FD --pid PID [--size BYTES] [--seconds T] "
                 "[--warmup S] [--pps N] [--batch N] [--transport ring|socket]\n");
}

/* One option and its value into o.  Returns 0, or -1 with a message printed. */
static int load_option(LoadOpts *o, const char *opt, const char *val)
{
    double v;
    struct {
        const char *name;
        double min, max;
    } const spec[] = {
        {"--tx", 3, 1 << 20},     {"--rx", 3, 1 << 20},
        {"--pid", 1, 1 << 30},    {"--size", 14, LOAD_MAX_FRAME},
        {"--seconds", 0.1, 3600}, {"--warmup", 0, 600},
        {"--pps", 0, 1e9},        {"--batch", 1, LOAD_MAX_BATCH},
    };
    for (size_t i = 0; i < sizeof(spec) / sizeof(spec[0]); i++) {
        if (strcmp(opt, spec[i].name) != 0)
            continue;
        if (load_parse_num(opt, val, spec[i].min, spec[i].max, &v) < 0)
            return -1;
        switch (i) {
        case 0: o->tx_fd = (int)v; break;
        case 1: o->rx_fd = (int)v; break;
        case 2: o->pid = (long)v; break;
        case 3: o->size = (unsigned)v; break;
        case 4: o->seconds = v; break;
        case 5: o->warmup = v; break;
        case 6: o->pps = (uint64_t)v; break;
        default: o->batch = (unsigned)v; break;
        }
        return 0;
    }
    fprintf(stderr, "swload: unknown option '%s'\n", opt);
    return -1;
}

int main(int argc, char **argv)
{
    LoadOpts o = {
        .tx_fd = -1, .rx_fd = -1, .size = 60, .seconds = 5, .warmup = 1, .batch = 32, .ring = true};
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
            load_usage(stdout);
            return 0;
        }
        if (i + 1 >= argc) {
            fprintf(stderr, "swload: %s needs a value\n", argv[i]);
            return 2;
        }
        if (strcmp(argv[i], "--transport") == 0) {
            if (strcmp(argv[i + 1], "ring") != 0 && strcmp(argv[i + 1], "socket") != 0) {
                fprintf(stderr, "swload: --transport: '%s' is not ring or socket\n", argv[i + 1]);
                return 2;
            }
            o.ring = strcmp(argv[i + 1], "ring") == 0;
        } else if (load_option(&o, argv[i], argv[i + 1]) < 0) {
            return 2;
        }
        i++;
    }
    if (o.tx_fd < 0 || o.rx_fd < 0 || o.pid <= 0 || o.tx_fd == o.rx_fd) {
        load_usage(stderr);
        return 2;
    }
    if (o.pps && o.batch > o.pps / 100 + 1)
        o.batch = (unsigned)(o.pps / 100 + 1); /* at most ~10 ms between batches */
    return load_run(&o);
}
