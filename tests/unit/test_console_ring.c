/*
 * Unit tests of the console's history ring (console_ring.c) and of its log
 * file's rotation (console_log.c).
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "vmm/console_log.h"
#include "vmm/console_ring.h"
#include "vmm/console_server.h"
#include "tap.h"

/* The ring's content, oldest first, into a malloc'd buffer of *len bytes. */
static uint8_t *ring_content(const ConsoleRing *r, size_t *len)
{
    const uint8_t *a, *b;
    size_t alen, blen;
    console_ring_spans(r, &a, &alen, &b, &blen);
    uint8_t *out = malloc(alen + blen + 1);
    if (alen)
        memcpy(out, a, alen);
    if (blen)
        memcpy(out + alen, b, blen);
    *len = alen + blen;
    return out;
}

/* Byte i of a stream that never repeats within 251 bytes. */
static uint8_t pattern(size_t i)
{
    return (uint8_t)(i % 251);
}

static void test_ring_small(void)
{
    ConsoleRing r;
    size_t n;
    ok(console_ring_init(&r, 8, NULL) == 0, "a ring of 8 bytes");
    uint8_t *got = ring_content(&r, &n);
    ok(n == 0, "an empty ring holds nothing");
    free(got);

    console_ring_write(&r, (const uint8_t *)"abcde", 5);
    got = ring_content(&r, &n);
    ok(n == 5 && memcmp(got, "abcde", 5) == 0, "bytes come back as written");
    free(got);

    console_ring_write(&r, (const uint8_t *)"fghij", 5); /* wraps: abcde + fghij -> cdefghij */
    got = ring_content(&r, &n);
    ok(n == 8 && memcmp(got, "cdefghij", 8) == 0, "a write that wraps drops the oldest bytes");
    free(got);

    console_ring_write(&r, (const uint8_t *)"k", 1);
    got = ring_content(&r, &n);
    ok(n == 8 && memcmp(got, "defghijk", 8) == 0, "a full ring keeps the newest 8 bytes");
    free(got);

    console_ring_write(&r, (const uint8_t *)"0123456789", 10);
    got = ring_content(&r, &n);
    ok(n == 8 && memcmp(got, "23456789", 8) == 0, "a write larger than the ring keeps its tail");
    free(got);
    console_ring_fini(&r);
    ok(console_ring_init(&r, 0, NULL) < 0, "a ring of 0 bytes is refused");
}

/* 3 MiB in odd-sized writes: exactly the last 1 MiB is kept, in order. */
static void test_ring_mib(void)
{
    ConsoleRing r;
    size_t total = 3u << 20, done = 0, chunk = 1, n;
    uint8_t *stream = malloc(total);
    for (size_t i = 0; i < total; i++)
        stream[i] = pattern(i);
    ok(console_ring_init(&r, CONSOLE_HISTORY_BYTES, NULL) == 0, "a ring of the history's size");
    while (done < total) {
        size_t len = chunk < total - done ? chunk : total - done;
        console_ring_write(&r, stream + done, len);
        done += len;
        chunk = chunk * 7 % 40009 + 1; /* 1 byte to ~40 KB */
    }
    uint8_t *got = ring_content(&r, &n);
    is_u64(n, 1u << 20, "exactly 1 MiB is kept");
    ok(memcmp(got, stream + total - (1u << 20), 1u << 20) == 0,
       "it is the last 1 MiB of output, oldest first");
    free(got);
    free(stream);
    console_ring_fini(&r);
}

static size_t file_read(const char *path, uint8_t *buf, size_t size)
{
    FILE *f = fopen(path, "rb");
    size_t n = f ? fread(buf, 1, size, f) : 0;
    if (f)
        fclose(f);
    return n;
}

static off_t file_size(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 ? st.st_size : -1;
}

/* Writes of 300 bytes into a log of 1000: PATH.1 + PATH is always the newest output. */
static void test_log_rotation(const char *dir)
{
    char path[512], old[520];
    snprintf(path, sizeof(path), "%s/console.log", dir);
    snprintf(old, sizeof(old), "%s.1", path);
    Error e = {0};
    ConsoleLog *l = console_log_open(path, 1000, &e);
    ok(l != NULL, "open a log of 1000 bytes: %s", e.msg);
    struct stat st;
    ok(stat(path, &st) == 0 && (st.st_mode & 0777) == 0600, "the log is created mode 0600");

    uint8_t stream[3000], buf[4000];
    for (size_t i = 0; i < sizeof(stream); i++)
        stream[i] = pattern(i);
    int rc = 0;
    for (size_t off = 0; off < 900; off += 300)
        rc |= console_log_write(l, stream + off, 300, &e);
    ok(rc == 0 && file_size(path) == 900 && file_size(old) == -1, "900 bytes: no rotation yet");
    rc = console_log_write(l, stream + 900, 300, &e);
    ok(rc == 0 && file_size(old) == 1000 && file_size(path) == 200,
       "passing 1000 bytes: the first 1000 go to .1, the rest starts a fresh file");
    ok(file_read(old, buf, sizeof(buf)) == 1000 && memcmp(buf, stream, 1000) == 0 &&
           file_read(path, buf, sizeof(buf)) == 200 && memcmp(buf, stream + 1000, 200) == 0,
       "no byte is lost or reordered across the rotation");
    rc = console_log_write(l, stream + 1200, 1800, &e); /* two more rotations in one write */
    ok(rc == 0 && file_size(old) == 1000 && file_size(path) == 1000,
       "a large write rotates as often as it must");
    ok(file_read(old, buf, sizeof(buf)) == 1000 && memcmp(buf, stream + 1000, 1000) == 0 &&
           file_read(path, buf, sizeof(buf)) == 1000 && memcmp(buf, stream + 2000, 1000) == 0,
       "one old generation is kept: .1 then the file are the newest 2000 bytes");
    console_log_close(l);

    l = console_log_open(path, 1000, &e); /* a restarted VMM appends, and counts what is there */
    rc = console_log_write(l, (const uint8_t *)"x", 1, &e);
    ok(l && rc == 0 && file_size(path) == 1 && file_read(old, buf, sizeof(buf)) == 1000 &&
           memcmp(buf, stream + 2000, 1000) == 0,
       "reopened full, the log rotates at its first write");
    console_log_close(l);
}

static void test_log_errors(const char *dir)
{
    char path[512];
    Error e = {0};
    snprintf(path, sizeof(path), "%s/missing/console.log", dir);
    ok(console_log_open(path, 1000, &e) == NULL && strstr(e.msg, path),
       "a log in a missing directory is refused: %s", e.msg);
    e = (Error){0};
    ok(console_log_open(dir, 1000, &e) == NULL && e.msg[0], "a directory is refused: %s", e.msg);
    snprintf(path, sizeof(path), "%s/fifo", dir);
    e = (Error){0};
    ok(mkfifo(path, 0600) == 0 && console_log_open(path, 1000, &e) == NULL && e.msg[0],
       "a FIFO nobody reads is refused without hanging: %s", e.msg);
    int reader = open(path, O_RDONLY | O_NONBLOCK);
    e = (Error){0};
    ok(reader >= 0 && console_log_open(path, 1000, &e) == NULL &&
           strstr(e.msg, "not a regular file"),
       "a FIFO somebody reads is refused too: %s", e.msg);
    if (reader >= 0)
        close(reader);
    e = (Error){0};
    snprintf(path, sizeof(path), "%s/zero.log", dir);
    ok(console_log_open(path, 0, &e) == NULL && e.msg[0], "a size limit of 0 is refused");
}

int main(void)
{
    char dir[] = "/tmp/hostel-console-XXXXXX";
    if (!mkdtemp(dir)) {
        printf("1..0 # SKIP no temporary directory\n");
        return 77;
    }
    test_ring_small();
    test_ring_mib();
    test_log_rotation(dir);
    test_log_errors(dir);
    char cmd[600];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        printf("# could not remove %s\n", dir);
    return tap_done();
}
