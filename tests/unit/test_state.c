/*
 * The state engine and the stream format: round trips, versioned fields,
 * bounds, and every kind of bad file refused before anything is changed;
 * the same stream over a socket and a pipe (writer on another thread), cut
 * short or corrupted.
 */
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <sys/socket.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <zstd.h>

#include "state/state.h"
#include "state/stream.h"
#include "state/stream_pages.h"
#include "util/le.h"
#include "tap.h"

typedef struct Queue {
    uint16_t size;
    uint64_t desc;
    bool ready;
} Queue;

typedef struct Dev {
    void *host_ptr; /* not state: must survive a load */
    uint32_t reg;
    uint8_t mode; /* 0..3 */
    uint64_t regs[4];
    uint8_t fifo[8];
    Queue q[2];
    uint32_t added_v2; /* appeared in version 2 */
} Dev;

static int dev_check(const void *staged, Error *err)
{
    const Dev *d = staged;
    return d->q[0].size > 256 ? error_set(err, "dev.q[0].size: too large") : 0;
}

static int post_loads;

static void dev_post_load(void *live)
{
    post_loads++;
}

static const StateField queue_fields[] = {
    STATE_FIELD(Queue, size, STATE_U16),
    STATE_FIELD(Queue, desc, STATE_U64),
    STATE_FIELD(Queue, ready, STATE_BOOL),
    STATE_END,
};
static const StateDesc queue_desc = {
    .name = "queue", .version = 2, .size = sizeof(Queue), .fields = queue_fields};

static const StateField dev_fields[] = {
    STATE_FIELD(Dev, reg, STATE_U32),
    STATE_FIELD(Dev, mode, STATE_U8, .max = 3),
    STATE_FIELD(Dev, regs, STATE_U64, .count = 4),
    STATE_FIELD(Dev, fifo, STATE_BYTES, .count = 8),
    STATE_FIELD(Dev, q, STATE_STRUCT, .count = 2, .sub = &queue_desc, .stride = sizeof(Queue)),
    STATE_FIELD(Dev, added_v2, STATE_U32, .version = 2),
    STATE_END,
};
static const StateDesc dev_desc = {.name = "dev",
                                   .version = 2,
                                   .min_version = 1,
                                   .size = sizeof(Dev),
                                   .fields = dev_fields,
                                   .check = dev_check,
                                   .post_load = dev_post_load};

static Dev sample(void)
{
    Dev d = {.host_ptr = &post_loads,
             .reg = 0xdeadbeef,
             .mode = 2,
             .regs = {1, 2, 3, 0xffffffffffffffffull},
             .fifo = "abcdefg",
             .q = {{.size = 128, .desc = 0x80001000, .ready = true}, {.size = 4}},
             .added_v2 = 77};
    return d;
}

static void test_round_trip(void)
{
    Dev a = sample(), b = {.host_ptr = NULL};
    size_t n = state_encoded_size(&dev_desc, 2, &a);
    is_u64(n, 4 + 1 + 32 + 8 + 2 * (2 + 8 + 1) + 4, "encoded size counts every field");
    uint8_t *buf = malloc(n);
    state_encode(&dev_desc, &a, buf);
    Error err = {0};
    Dev staged = b;
    ok(state_decode(&dev_desc, 2, buf, n, &staged, &err) == 0, "decode: %s", err.msg);
    state_commit(&dev_desc, &b, &staged);
    ok(b.reg == a.reg && b.mode == a.mode && memcmp(b.regs, a.regs, sizeof(a.regs)) == 0 &&
           memcmp(b.fifo, a.fifo, 8) == 0 && b.q[0].desc == a.q[0].desc && b.q[0].ready &&
           !b.q[1].ready && b.q[1].size == 4 && b.added_v2 == 77,
       "every field survives");
    ok(b.host_ptr == NULL, "commit leaves non-state members alone");
    ok(post_loads == 1, "post_load ran once");

    /* Bounds, check callback, lengths: each refused and nothing changes. */
    Dev live = sample();
    Dev before = live;
    buf[4] = 9; /* mode > max */
    staged = live;
    ok(state_decode(&dev_desc, 2, buf, n, &staged, &err) < 0 && strstr(err.msg, "dev.mode"),
       "out-of-range field refused: %s", err.msg);
    buf[4] = 2;
    ok(memcmp(&live, &before, sizeof(live)) == 0, "the live object is untouched");
    ok(state_decode(&dev_desc, 2, buf, n - 1, &staged, &err) < 0 && strstr(err.msg, "truncated"),
       "short payload refused: %s", err.msg);
    uint8_t *big = calloc(1, n + 3);
    memcpy(big, buf, n);
    ok(state_decode(&dev_desc, 2, big, n + 3, &staged, &err) < 0 && strstr(err.msg, "too many"),
       "trailing bytes refused: %s", err.msg);
    free(big);
    size_t q0 = 4 + 1 + 32 + 8;
    buf[q0] = 0x01;
    buf[q0 + 1] = 0x02; /* q[0].size = 0x201 > 256 */
    ok(state_decode(&dev_desc, 2, buf, n, &staged, &err) < 0 && strstr(err.msg, "too large"),
       "check callback refuses: %s", err.msg);
    buf[q0 + 10] = 2; /* ready is a bool */
    buf[q0] = 128;
    buf[q0 + 1] = 0;
    ok(state_decode(&dev_desc, 2, buf, n, &staged, &err) < 0, "bool other than 0/1 refused");
    ok(state_decode(&dev_desc, 3, buf, n, &staged, &err) < 0 && strstr(err.msg, "version 3"),
       "newer section version refused: %s", err.msg);
    ok(state_decode(&dev_desc, 0, buf, n, &staged, &err) < 0, "older than min_version refused");
    free(buf);

    /* A version-1 payload lacks added_v2: it keeps the staged (reset) value. */
    Dev v1 = sample();
    size_t n1 = state_encoded_size(&dev_desc, 1, &v1);
    is_u64(n1, n - 4, "version 1 has one field fewer");
    uint8_t *b1 = malloc(n);
    state_encode(&dev_desc, &v1, b1); /* v2 encoding: cut the last field */
    Dev st1 = {.added_v2 = 5};
    ok(state_decode(&dev_desc, 1, b1, n1, &st1, &err) == 0 && st1.added_v2 == 5 &&
           st1.reg == v1.reg,
       "old section: new field keeps its reset value");
    free(b1);
}

typedef struct Var {
    unsigned used; /* configuration: how many of vals are in use */
    uint32_t vals[8];
} Var;

static const StateField var_fields[] = {
    STATE_FIELD(Var, vals, STATE_U32, .count = 8, .count_of = STATE_COUNT_OF(Var, used)),
    STATE_END,
};
static const StateDesc var_desc = {
    .name = "var", .version = 1, .size = sizeof(Var), .fields = var_fields};

static const StateField grow_fields[] = {
    STATE_FIELD(Var, vals, STATE_U32, .count = 8, .count_of = STATE_COUNT_OF(Var, used),
                .grows = true),
    STATE_END,
};
static const StateDesc grow_desc = {
    .name = "grow", .version = 1, .size = sizeof(Var), .fields = grow_fields};

static void test_count_of(void)
{
    Var a = {.used = 3, .vals = {1, 2, 3, 4}};
    uint8_t buf[64];
    is_u64(state_encoded_size(&var_desc, 1, &a), 16, "count + the elements in use are encoded");
    state_encode(&var_desc, &a, buf);
    Var b = {.used = 3, .vals = {[3] = 9}};
    Error err = {0};
    ok(state_decode(&var_desc, 1, buf, 16, &b, &err) == 0 && b.vals[2] == 3 && b.vals[3] == 9,
       "decoded into the elements in use only");
    Var c = {.used = 2};
    ok(state_decode(&var_desc, 1, buf, 16, &c, &err) < 0 && strstr(err.msg, "3 elements saved"),
       "a stream from a bigger configuration is refused: %s", err.msg);
    Var d = {0};
    ok(state_decode_any(&var_desc, 1, buf, 16, &d, &err) == 0 && d.used == 3 && d.vals[2] == 3,
       "printing adopts the stream's count");
    buf[0] = 9; /* more than the field can hold */
    ok(state_decode_any(&var_desc, 1, buf, 16, &d, &err) < 0, "an oversized count is refused");
    /* A field that grows: a stream with fewer elements loads, the rest is reset. */
    buf[0] = 3;
    Var g = {.used = 5, .vals = {7, 7, 7, 7, 7}};
    ok(state_decode(&grow_desc, 1, buf, 16, &g, &err) == 0 && g.used == 5 && g.vals[0] == 1 &&
           g.vals[2] == 3 && g.vals[3] == 0 && g.vals[4] == 0,
       "a growing field: 3 saved elements load into 5, the others reset");
    Var h = {.used = 2};
    ok(state_decode(&grow_desc, 1, buf, 16, &h, &err) < 0 && strstr(err.msg, "3 elements saved"),
       "a growing field still refuses more elements than the machine has");
}

static char *tmp_path(void)
{
    static char path[64];
    strcpy(path, "/tmp/hostel-test-state-XXXXXX");
    int fd = mkstemp(path);
    close(fd);
    return path;
}

static uint8_t *make_ram(size_t size)
{
    uint8_t *ram = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    for (size_t i = 0; i < size / 4096; i += 3) /* two pages in three are zero */
        memset(ram + i * 4096, (int)(i % 251) + 1, 4096);
    ram[size - 1] = 0x5a;
    return ram;
}

/* The test stream's sections, RAM and end, after a begin that returned rc. */
static int write_body(StreamOut *s, int rc, const uint8_t *ram, size_t size, int enc, Error *err)
{
    const char payload[] = "device bytes";
    if (rc == 0)
        rc = stream_out_section(s, "dev", 3, 2, 0, payload, sizeof(payload), err);
    if (rc == 0)
        rc = stream_out_section(s, "future", 0, 1, STREAM_SEC_OPTIONAL, "x", 1, err);
    if (rc == 0)
        rc = stream_out_ram(s, ram, size, enc, 3, err);
    if (rc == 0)
        rc = stream_out_end(s, err);
    return rc;
}

static int write_stream(const char *path, const uint8_t *ram, size_t size, int enc)
{
    Error err = {0};
    int fd = open(path, O_WRONLY | O_TRUNC);
    StreamOut s;
    const char payload[] = "device bytes";
    int rc = stream_out_begin(&s, fd, &err);
    if (rc == 0)
        rc = stream_out_section(&s, "dev", 3, 2, 0, payload, sizeof(payload), &err);
    if (rc == 0)
        rc = stream_out_section(&s, "future", 0, 1, STREAM_SEC_OPTIONAL, "x", 1, &err);
    if (rc == 0)
        rc = stream_out_ram(&s, ram, size, enc, 3, &err);
    if (rc == 0)
        rc = stream_out_end(&s, &err);
    close(fd);
    if (rc)
        printf("# write_stream: %s\n", err.msg);
    return rc;
}

static void test_stream(int enc, bool map)
{
    const size_t size = 1 << 20;
    uint8_t *ram = make_ram(size);
    char *path = tmp_path();
    ok(write_stream(path, ram, size, enc) == 0, "stream written (%s)", enc ? "zstd" : "flat");
    StreamIn in;
    Error err = {0};
    ok(stream_in_open(&in, path, &err) == 0, "stream read back: %s", err.msg);
    const StreamSection *sec = stream_in_find(&in, "dev", 3);
    ok(sec && sec->version == 2 && sec->len == 13 && memcmp(sec->payload, "device bytes", 13) == 0,
       "section tag, instance, version and payload");
    ok(stream_in_find(&in, "dev", 0) == NULL, "instances are distinct");
    uint8_t *back = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    ok(stream_in_load_ram(&in, back, size, map, &err) == 0, "RAM loaded%s: %s",
       map ? " (mapped)" : "", err.msg);
    ok(memcmp(back, ram, size) == 0, "RAM identical");
    back[0] ^= 1; /* a private mapping: writes never reach the file */
    stream_in_close(&in);
    munmap(back, size);
    if (enc == STREAM_RAM_FLAT) {
        struct stat st;
        stat(path, &st);
        ok((uint64_t)st.st_blocks * 512 < size / 2 + 65536,
           "zero pages are holes: %llu bytes on disk for 1 MiB of RAM",
           (unsigned long long)st.st_blocks * 512);
        ok(stream_in_open(&in, path, &err) == 0, "file unchanged by a write to mapped RAM");
        stream_in_close(&in);
    }
    munmap(ram, size);
    unlink(path);
}

/* ---- the stream over a channel ---- */

typedef struct Writer {
    StreamChannel ch; /* owns its descriptor: closed when the stream is written */
    const uint8_t *ram, *bytes;
    size_t size, len;
    int enc, rc;
} Writer;

/* A writer thread: the test stream through w->ch. */
static void *writer_stream(void *arg)
{
    Writer *w = arg;
    Error err = {0};
    StreamOut s;
    w->rc =
        write_body(&s, stream_out_begin_channel(&s, &w->ch, &err), w->ram, w->size, w->enc, &err);
    stream_channel_close(&w->ch);
    return NULL;
}

/* A writer thread: w->bytes as they are (a stream cut or damaged on the way). */
static void *writer_bytes(void *arg)
{
    Writer *w = arg;
    w->rc = stream_channel_write(&w->ch, w->bytes, w->len);
    stream_channel_close(&w->ch);
    return NULL;
}

/* The test stream over a socketpair, written on another thread, read and loaded here. */
static void test_socket_round_trip(int enc)
{
    const size_t size = 1 << 20;
    uint8_t *ram = make_ram(size);
    int sv[2];
    socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv);
    Writer w = {.ram = ram, .size = size, .enc = enc};
    stream_channel_socket(&w.ch, sv[0], true);
    pthread_t t;
    pthread_create(&t, NULL, writer_stream, &w);
    StreamIn in;
    StreamChannel rch;
    Error err = {0};
    stream_channel_socket(&rch, sv[1], true);
    int rc = stream_in_open_channel(&in, &rch, "socket", &(StreamInOpts){0}, &err);
    pthread_join(t, NULL);
    const char *name = enc ? "zstd" : "flat";
    ok(rc == 0 && w.rc == 0 && in.sequential, "%s stream over a socket: read back: %s", name,
       err.msg);
    const StreamSection *sec = rc == 0 ? stream_in_find(&in, "dev", 3) : NULL;
    ok(sec && sec->version == 2 && sec->len == 13 && memcmp(sec->payload, "device bytes", 13) == 0,
       "%s over a socket: section as written", name);
    uint8_t *back = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    ok(rc == 0 && stream_in_load_ram(&in, back, size, true, &err) == 0 &&
           memcmp(back, ram, size) == 0,
       "%s over a socket: RAM identical: %s", name, err.msg);
    ok(rc == 0 && stream_in_load_ram(&in, back, size, true, &err) < 0,
       "received RAM is handed over once: %s", err.msg);
    if (rc == 0)
        stream_in_close(&in);
    munmap(back, size);
    munmap(ram, size);
}

/* Everything readable from fd until its end (caller frees). */
static uint8_t *slurp(int fd, size_t *len)
{
    size_t cap = 1 << 16;
    uint8_t *buf = malloc(cap);
    ssize_t n;
    *len = 0;
    while ((n = read(fd, buf + *len, cap - *len)) > 0) {
        *len += (size_t)n;
        if (*len == cap)
            buf = realloc(buf, cap *= 2);
    }
    return buf;
}

/* The test stream as a pipe carries it (writer on another thread). */
static uint8_t *stream_over_pipe(const uint8_t *ram, size_t size, int enc, size_t *len)
{
    int p[2];
    if (pipe(p) < 0)
        return NULL;
    Writer w = {.ram = ram, .size = size, .enc = enc};
    stream_channel_fd(&w.ch, p[1], true);
    pthread_t t;
    pthread_create(&t, NULL, writer_stream, &w);
    uint8_t *bytes = slurp(p[0], len);
    pthread_join(t, NULL);
    close(p[0]);
    return w.rc == 0 ? bytes : NULL;
}

/* Open len bytes fed through a pipe by another thread; the error in err. */
static int open_fed(const uint8_t *bytes, size_t len, Error *err)
{
    int p[2];
    if (pipe(p) < 0)
        return -2;
    Writer w = {.bytes = bytes, .len = len};
    stream_channel_fd(&w.ch, p[1], true);
    pthread_t t;
    pthread_create(&t, NULL, writer_bytes, &w);
    StreamIn in;
    *err = (Error){0};
    int rc = stream_in_open_fd(&in, p[0], "pipe", &(StreamInOpts){0}, err);
    if (rc == 0)
        stream_in_close(&in);
    close(p[0]); /* a writer still writing gets EPIPE */
    pthread_join(t, NULL);
    return rc;
}

/*
 * A stream over a pipe is the file's bytes; cut anywhere it is refused as
 * truncated; with any byte the CRC covers changed it is refused.
 */
static void test_channel_damage(int enc)
{
    const size_t size = 64 << 10;
    const char *name = enc ? "zstd" : "flat";
    uint8_t *ram = make_ram(size);
    char *path = tmp_path();
    size_t len = 0, flen = 0;
    uint8_t *bytes = stream_over_pipe(ram, size, enc, &len);
    write_stream(path, ram, size, enc);
    int fd = open(path, O_RDONLY);
    uint8_t *file = slurp(fd, &flen);
    close(fd);
    ok(bytes && len == flen && memcmp(bytes, file, len) == 0,
       "%s: a pipe carries the file's bytes exactly (%zu bytes)", name, len);
    Error err;
    ok(bytes && open_fed(bytes, len, &err) == 0, "%s: the whole stream from a pipe opens: %s", name,
       err.msg);
    StreamIn in;
    uint64_t data_lo = 0, data_hi = 0; /* flat page contents: not covered by the CRC */
    if (enc == STREAM_RAM_FLAT && stream_in_open(&in, path, &err) == 0) {
        data_lo = in.ram_data_off;
        data_hi = in.ram_data_off + size;
        stream_in_close(&in);
    }
    unsigned cuts = 0, cut_ok = 0, flips = 0, flip_ok = 0;
    for (size_t cut = 0; bytes && cut < len; cut += cut < 128 ? 1 : 211) {
        cuts++;
        cut_ok += open_fed(bytes, cut, &err) == -1 && strstr(err.msg, "truncated") != NULL;
    }
    cuts++;
    cut_ok += open_fed(bytes, len - 1, &err) == -1 && strstr(err.msg, "truncated") != NULL;
    ok(cuts > 100 && cut_ok == cuts, "%s: cut at %u offsets, each refused as truncated (%u)", name,
       cuts, cut_ok);
    for (size_t pos = 0; bytes && pos < len; pos += pos < 256 ? 1 : 97) {
        if (pos >= data_lo && pos < data_hi)
            continue;
        bytes[pos] ^= 0x5a;
        flips++;
        flip_ok += open_fed(bytes, len, &err) == -1 && err.msg[0];
        bytes[pos] ^= 0x5a;
    }
    ok(flips > 100 && flip_ok == flips, "%s: a byte changed at %u places, each refused (%u)", name,
       flips, flip_ok);
    free(bytes);
    free(file);
    munmap(ram, size);
    unlink(path);
}

/* Copy src to a new temp file, let edit() change it, and open it. */
static int open_edited(const char *src, void (*edit)(int fd, off_t size), Error *err)
{
    char *dst = strdup(tmp_path());
    char cmd[256];
    snprintf(cmd, sizeof(cmd), "cp %s %s", src, dst);
    if (system(cmd) != 0)
        return -2;
    int fd = open(dst, O_RDWR);
    struct stat st;
    fstat(fd, &st);
    edit(fd, st.st_size);
    close(fd);
    StreamIn in;
    int rc = stream_in_open(&in, dst, err);
    if (rc == 0)
        stream_in_close(&in);
    unlink(dst);
    free(dst);
    return rc;
}

static void flip_section_byte(int fd, off_t size)
{
    uint8_t b;
    pread(fd, &b, 1, 50);
    b ^= 0x10;
    pwrite(fd, &b, 1, 50);
}
static void truncate_half(int fd, off_t size)
{
    ftruncate(fd, size / 2);
}
static void truncate_crc(int fd, off_t size)
{
    ftruncate(fd, size - 2);
}
static void foreign_magic(int fd, off_t size)
{
    pwrite(fd, "NOTHOSTL", 8, 0);
}
static void newer_major(int fd, off_t size)
{
    uint8_t v[2] = {2, 0};
    pwrite(fd, v, 2, 8);
}
static void huge_section(int fd, off_t size)
{
    uint8_t len[8] = {0, 0, 0, 0, 0, 0, 0, 0x40}; /* "dev" section length 2^62 */
    pwrite(fd, len, 8, 28 + 1 + 3 + 8);
}
static void append_junk(int fd, off_t size)
{
    pwrite(fd, "junk", 4, size);
}
static void quote_in_tag(int fd, off_t size)
{
    pwrite(fd, "\"", 1, 28 + 1);
} /* "dev" -> "ev */

static void test_bad_streams(void)
{
    const size_t size = 64 << 10;
    uint8_t *ram = make_ram(size);
    char *path = strdup(tmp_path());
    write_stream(path, ram, size, STREAM_RAM_ZSTD);
    struct {
        void (*edit)(int, off_t);
        const char *what, *want;
    } cases[] = {
        {flip_section_byte, "a flipped byte", "checksum"},
        {truncate_half, "a file cut in half", "truncated"},
        {truncate_crc, "a file missing its checksum", "truncated"},
        {foreign_magic, "a foreign file", "not a hostel state file"},
        {newer_major, "a newer major version", "2.0 is not supported"},
        {huge_section, "a section claiming 2^62 bytes", "truncated"},
        {append_junk, "junk after the end", "after the end"},
        {quote_in_tag, "a quote in a section tag", "bad section tag"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        Error err = {0};
        int rc = open_edited(path, cases[i].edit, &err);
        ok(rc == -1 && strstr(err.msg, cases[i].want), "%s refused: %s", cases[i].what, err.msg);
    }
    Error err = {0};
    StreamIn in;
    ok(stream_in_open(&in, "/nonexistent/state", &err) < 0 && strstr(err.msg, "/nonexistent"),
       "missing file: %s", err.msg);
    unlink(path);
    free(path);
    munmap(ram, size);
}

/* A migration's stream in a file: round 0's non-zero pages, then a later round's (zstd level). */
static uint8_t *pages_stream(uint8_t *ram, size_t size, size_t *len, int level)
{
    char *path = tmp_path();
    int fd = open(path, O_RDWR | O_TRUNC);
    StreamOut s;
    Error err = {0};
    uint64_t all[STREAM_PAGES_MAX], n = size / 4096, later[] = {5, 7, 9};
    for (uint64_t i = 0; i < n; i++)
        all[i] = i;
    StreamPagesZstd *z = level ? stream_pages_zstd_new(level, &err) : NULL;
    int rc = stream_out_begin(&s, fd, &err) | (level && !z);
    rc |= stream_out_section(&s, "dev", 3, 2, 0, "device bytes", 13, &err);
    rc |= stream_out_ram_pages(&s, ram, size, all, (unsigned)n, true, z, NULL, &err);
    memset(ram + 6 * 4096, 0, 4096); /* page 6 (non-zero at round 0) becomes zero */
    memset(ram + 7 * 4096, 0xee, 4096);
    ram[9 * 4096 + 17] = 1;
    later[0] = 6;
    rc |= stream_out_ram_pages(&s, ram, size, later, 3, false, z, NULL, &err);
    rc |= stream_out_end(&s, &err);
    stream_pages_zstd_free(z);
    lseek(fd, 0, SEEK_SET);
    uint8_t *bytes = slurp(fd, len);
    close(fd);
    StreamIn in;
    ok(stream_in_open(&in, path, &err) < 0 && strstr(err.msg, "outside a migration stream"),
       "ram-pages sections are refused in a file: %s", err.msg);
    unlink(path);
    if (rc != 0) {
        free(bytes);
        return NULL;
    }
    return bytes;
}

/*
 * ram-pages sections (migration): round 0 skips zero pages, a later round
 * overrides pages (a page that became zero included); the RAM read back
 * is the RAM of the last round.  Cut or corrupted, the stream is refused.
 */
static void test_ram_pages(int level)
{
    const size_t size = 64 << 10;
    uint8_t *ram = make_ram(size);
    size_t len = 0;
    uint8_t *bytes = pages_stream(ram, size, &len, level);
    int p[2];
    ok(bytes && pipe(p) == 0, "a pages stream was written");
    if (!bytes)
        return;
    Writer w = {.bytes = bytes, .len = len};
    stream_channel_fd(&w.ch, p[1], true);
    pthread_t t;
    pthread_create(&t, NULL, writer_bytes, &w);
    StreamIn in;
    Error err = {0};
    int rc = stream_in_open_fd(&in, p[0], "pipe", &(StreamInOpts){0}, &err);
    pthread_join(t, NULL);
    close(p[0]);
    ok(rc == 0 && in.ram_encoding == STREAM_RAM_PAGES && in.ram_size == size &&
           stream_in_find(&in, "dev", 3) && !stream_in_find(&in, STREAM_PAGES_TAG, 0),
       "a pages stream reads back: %s", err.msg);
    uint8_t *back = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    ok(rc == 0 && stream_in_load_ram(&in, back, size, false, &err) == 0 &&
           memcmp(back, ram, size) == 0,
       "the RAM received is the last round's: %s", err.msg);
    if (rc == 0)
        stream_in_close(&in);
    size_t cut = 0, flipped = 0;
    for (size_t at = 1; at < len; at += len / 37 + 1)
        cut += open_fed(bytes, at, &err) < 0 && strstr(err.msg, "truncated");
    for (size_t at = 0; at + 4 < len; at += len / 41 + 1) {
        bytes[at] ^= 0x10;
        flipped += open_fed(bytes, len, &err) < 0;
        bytes[at] ^= 0x10;
    }
    ok(cut == (len - 2) / (len / 37 + 1) + 1, "a pages stream cut short is truncated (%zu)", cut);
    ok(flipped == (len - 5) / (len / 41 + 1) + 1, "any flipped byte is refused (%zu)", flipped);
    /* The later round's first page index made one past RAM: refused as it arrives. */
    uint8_t *sec = level ? NULL : memmem(bytes, len, "\x09ram-pages", 10);
    sec = sec ? memmem(sec + 10, len - (size_t)(sec + 10 - bytes), "\x09ram-pages", 10) : NULL;
    if (sec)
        le_put(sec + 10 + 16 + 16, 8, size / 4096);
    if (!level)
        ok(sec && open_fed(bytes, len, &err) < 0 && strstr(err.msg, "bad RAM page"),
           "a page outside RAM is refused: %s", err.msg);
    free(bytes);
    munmap(back, size);
    munmap(ram, size);
}

/* Compressed pages are fewer bytes; a frame that lies about itself is refused. */
static void test_ram_pages_zstd(void)
{
    const size_t size = 64 << 10;
    uint8_t *ram = make_ram(size);
    size_t plain = 0, packed = 0;
    free(pages_stream(ram, size, &plain, 0));
    munmap(ram, size);
    ram = make_ram(size);
    free(pages_stream(ram, size, &packed, 1));
    munmap(ram, size);
    ok(packed > 0 && packed * 4 < plain, "zstd pages: %zu bytes instead of %zu", packed, plain);
    uint8_t *out = malloc(STREAM_PAGES_ENTRIES_MAX), src[8200] = {1, 2, 3}, frame[9000];
    Error err = {0};
    size_t n = ZSTD_compress(frame, sizeof(frame), src, sizeof(src), 1); /* no checksum */
    ok(stream_pages_inflate(frame, n, out, &err) < 0 && strstr(err.msg, "checksum"),
       "a frame without a checksum is refused: %s", err.msg);
    ok(stream_pages_inflate(src, sizeof(src), out, &err) < 0, "garbage is refused: %s", err.msg);
    uint8_t *big = calloc(1, STREAM_PAGES_ENTRIES_MAX + 1);
    size_t cap = ZSTD_compressBound(STREAM_PAGES_ENTRIES_MAX + 1);
    uint8_t *bf = malloc(cap);
    ZSTD_CCtx *c = ZSTD_createCCtx();
    ZSTD_CCtx_setParameter(c, ZSTD_c_checksumFlag, 1);
    n = ZSTD_compress2(c, bf, cap, big, STREAM_PAGES_ENTRIES_MAX + 1);
    ok(!ZSTD_isError(n) && stream_pages_inflate(bf, n, out, &err) < 0,
       "a frame larger than a section's entries is refused: %s", err.msg);
    n = ZSTD_compress2(c, bf, cap, big, 4104);
    bf[n - 1] ^= 1; /* the frame's checksum */
    ok(stream_pages_inflate(bf, n, out, &err) < 0, "a wrong frame checksum is refused: %s",
       err.msg);
    ZSTD_freeCCtx(c);
    free(bf);
    free(big);
    free(out);
}

int main(void)
{
    test_round_trip();
    test_count_of();
    test_stream(STREAM_RAM_FLAT, false);
    test_stream(STREAM_RAM_FLAT, true);
    test_stream(STREAM_RAM_ZSTD, false);
    test_bad_streams();
    signal(SIGPIPE, SIG_IGN); /* a reader that refuses a stream closes its end */
    test_socket_round_trip(STREAM_RAM_FLAT);
    test_socket_round_trip(STREAM_RAM_ZSTD);
    test_channel_damage(STREAM_RAM_FLAT);
    test_channel_damage(STREAM_RAM_ZSTD);
    test_ram_pages(0);
    test_ram_pages(1);
    test_ram_pages_zstd();
    return tap_done();
}
