/*
 * virtio devices driven through their virtio-mmio registers the way a
 * guest driver does (rings built by hand in a Bus's RAM), with the event
 * loop run to collect completions:
 *   - virtio-blk against a temporary raw image: feature negotiation,
 *     config space, read, write, flush, discard, write-zeroes, get-id,
 *     read-only mode, image locking, bad requests (IOERR / UNSUPP), a
 *     request without a status byte (device broken, then reset), reset
 *     with requests in flight, EVENT_IDX interrupt suppression;
 *   - virtio-blk jobs (live snapshots' barriers): a job holds back the
 *     requests queued after it and sees the image as those before it left
 *     it; a reset drops requests, not jobs; freeing the device runs them;
 *   - the transport's version check and placeholder slot;
 *   - virtio-rng (virtio-console: test_virtio_console.c).
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "tap.h"
#include "vfake.h"

#define RAM_BASE 0x80000000ull
#define RAM_SIZE (8ull << 20)
#define QAREA(q) (RAM_BASE + 0x10000ull * (q)) /* rings of queue q */
#define HDR (RAM_BASE + 0x80000)
#define STATUS (RAM_BASE + 0x81000)
#define DATA (RAM_BASE + 0x100000)
#define IMG_SIZE (1u << 20)
#define SECTORS (IMG_SIZE / 512)

static Bus bus;
static EventLoop *loop;
static VFakeIrq irq;

/* Run the event loop until n more used elements appear (5 s at most). */
static bool drv_wait(VFakeQueue *d, uint16_t n)
{
    struct timespec t0, t;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    while ((uint16_t)(vfake_used_idx(d) - d->used_seen) < n) {
        evloop_run_once(loop, 10000000ull);
        clock_gettime(CLOCK_MONOTONIC, &t);
        if (t.tv_sec - t0.tv_sec > 5)
            return false;
    }
    return true;
}

/* Run queued loop calls until none is left (before freeing a device). */
static void drain_loop(void)
{
    while (evloop_run_once(loop, 0) > 0)
        continue;
}

/* ---- virtio-blk ---- */

static char img_path[64];
static VFakeQueue bq;

static uint8_t pattern(uint32_t off)
{
    return (uint8_t)(off * 7 + (off >> 9));
}

static int make_image(void)
{
    snprintf(img_path, sizeof(img_path), "/tmp/hostel-test-blk-XXXXXX");
    int fd = mkstemp(img_path);
    uint8_t *buf = malloc(IMG_SIZE);
    for (uint32_t i = 0; i < IMG_SIZE; i++)
        buf[i] = pattern(i);
    bool good = fd >= 0 && write(fd, buf, IMG_SIZE) == IMG_SIZE;
    free(buf);
    if (fd >= 0)
        close(fd);
    return good ? 0 : -1;
}

static bool file_range(uint64_t off, void *buf, size_t len)
{
    int fd = open(img_path, O_RDONLY);
    bool good = fd >= 0 && pread(fd, buf, len, (off_t)off) == (ssize_t)len;
    if (fd >= 0)
        close(fd);
    return good;
}

static VirtioMmio *blk_create(bool read_only, const char *serial)
{
    Error err;
    BlockDev *disk = block_open(img_path, NULL, read_only, &err);
    if (!disk) {
        printf("# %s\n", err.msg);
        return NULL;
    }
    VirtioBlkConfig bcfg = {.disk = disk, .serial = serial, .loop = loop};
    VirtioMmio *v = vfake_virtio_blk(&bus, 0x10001000, &irq, &bcfg, &err);
    if (!v)
        printf("# %s\n", err.msg);
    return v;
}

/* Full driver bring-up with the given features and a queue of 16. */
static bool blk_bringup(VirtioMmio *v, uint64_t want)
{
    uint32_t st = vfake_negotiate(v, want);
    vfake_queue(&bq, v, 0, 16, QAREA(0));
    vfake_driver_ok(v);
    return (st & VIRTIO_STATUS_FEATURES_OK) && vfake_rd(v, VIRTIO_MMIO_QUEUE_READY) == 1;
}

/* One request: header + data segments + status byte.  Returns the status (0xff = none). */
static uint8_t blk_request(uint32_t type, uint64_t sector, const VFakeSeg *data, unsigned n,
                           uint32_t *len)
{
    uint8_t hdr[16] = {0};
    memcpy(hdr, &type, 4);
    memcpy(hdr + 8, &sector, 8);
    memcpy(vfake_ram(&bus, HDR), hdr, 16);
    *(uint8_t *)vfake_ram(&bus, STATUS) = 0xff;
    VFakeSeg segs[8] = {{HDR, 16, false}};
    memcpy(segs + 1, data, n * sizeof(VFakeSeg));
    segs[n + 1] = (VFakeSeg){STATUS, 1, true};
    vfake_add(&bq, segs, n + 2);
    vfake_kick(&bq);
    if (!drv_wait(&bq, 1))
        return 0xfe;
    if (len)
        *len = vfake_used_len(&bq, bq.used_seen);
    bq.used_seen++;
    return *(uint8_t *)vfake_ram(&bus, STATUS);
}

static uint8_t blk_rw(uint32_t type, uint64_t sector, uint32_t bytes)
{
    VFakeSeg s = {DATA, bytes, type == VIRTIO_BLK_T_IN};
    return blk_request(type, sector, &s, 1, NULL);
}

/* A discard / write-zeroes request with one segment. */
static uint8_t blk_dwz(uint32_t type, uint64_t sector, uint32_t count, uint32_t flags)
{
    uint8_t seg[16];
    memcpy(seg, &sector, 8);
    memcpy(seg + 8, &count, 4);
    memcpy(seg + 12, &flags, 4);
    memcpy(vfake_ram(&bus, DATA), seg, 16);
    VFakeSeg s = {DATA, 16, false};
    return blk_request(type, 0, &s, 1, NULL);
}

static const uint64_t all_features = ~0ull;

static void test_blk_registers(VirtioMmio *v)
{
    ok(vfake_rd(v, VIRTIO_MMIO_MAGIC_VALUE) == 0x74726976 &&
           vfake_rd(v, VIRTIO_MMIO_VERSION_REG) == 2,
       "magic and version 2");
    ok(vfake_rd(v, VIRTIO_MMIO_DEVICE_ID) == VIRTIO_ID_BLOCK, "device id 2");
    uint64_t f = vfake_device_features(v);
    uint64_t need = VIRTIO_BIT(VIRTIO_F_VERSION_1) | VIRTIO_BIT(VIRTIO_RING_F_INDIRECT_DESC) |
                    VIRTIO_BIT(VIRTIO_RING_F_EVENT_IDX) | VIRTIO_BIT(VIRTIO_BLK_F_SEG_MAX) |
                    VIRTIO_BIT(VIRTIO_BLK_F_BLK_SIZE) | VIRTIO_BIT(VIRTIO_BLK_F_FLUSH) |
                    VIRTIO_BIT(VIRTIO_BLK_F_DISCARD) | VIRTIO_BIT(VIRTIO_BLK_F_WRITE_ZEROES);
    ok((f & need) == need && !(f & VIRTIO_BIT(VIRTIO_BLK_F_RO)), "features offered (0x%llx)",
       (unsigned long long)f);
    uint64_t cap = vfake_rd(v, VIRTIO_MMIO_CONFIG) | (uint64_t)vfake_rd(v, VIRTIO_MMIO_CONFIG + 4)
                                                         << 32;
    is_u64(cap, SECTORS, "capacity in 512-byte sectors");
    ok(vfake_rd(v, VIRTIO_MMIO_CONFIG + VIRTIO_BLK_CFG_SEG_MAX) == VIRTIO_BLK_QUEUE_MAX - 2 &&
           vfake_rd(v, VIRTIO_MMIO_CONFIG + VIRTIO_BLK_CFG_BLK_SIZE) == 512,
       "seg_max and blk_size");
    uint64_t b = 0;
    virtio_mmio_ops.read(v, VIRTIO_MMIO_CONFIG + 1, 1, &b);
    ok(b == ((SECTORS >> 8) & 0xff), "byte access to the config space");
    vfake_wr(v, VIRTIO_MMIO_QUEUE_SEL, 1);
    ok(vfake_rd(v, VIRTIO_MMIO_QUEUE_NUM_MAX) == 0, "queue 1 does not exist");
    vfake_wr(v, VIRTIO_MMIO_QUEUE_SEL, 0);
    ok(vfake_rd(v, VIRTIO_MMIO_QUEUE_NUM_MAX) == VIRTIO_BLK_QUEUE_MAX, "queue 0 max size");
    uint32_t st = vfake_negotiate(v, all_features & ~VIRTIO_BIT(VIRTIO_F_VERSION_1));
    ok(!(st & VIRTIO_STATUS_FEATURES_OK), "a driver without VERSION_1 cannot set FEATURES_OK");
}

static void test_blk_io(VirtioMmio *v)
{
    VirtioBlkStats c0, c1;
    virtio_blk_stats(v, &c0);
    ok(blk_bringup(v, all_features), "bring-up with every feature");
    irq.raises = 0;
    uint32_t len = 0;
    VFakeSeg s = {DATA, 512, true};
    uint8_t st = blk_request(VIRTIO_BLK_T_IN, 3, &s, 1, &len);
    uint8_t want[1024];
    file_range(3 * 512, want, 512);
    ok(st == VIRTIO_BLK_S_OK && memcmp(vfake_ram(&bus, DATA), want, 512) == 0, "read sector 3");
    ok(len == 513, "used length = data + status (%u)", len);
    ok(irq.level && irq.raises == 1 &&
           (vfake_rd(v, VIRTIO_MMIO_INTERRUPT_STATUS) & VIRTIO_ISR_USED),
       "used-buffer interrupt raised");
    vfake_wr(v, VIRTIO_MMIO_INTERRUPT_ACK, VIRTIO_ISR_USED);
    ok(!irq.level && vfake_rd(v, VIRTIO_MMIO_INTERRUPT_STATUS) == 0, "acknowledged: line low");

    for (int i = 0; i < 1024; i++)
        ((uint8_t *)vfake_ram(&bus, DATA))[i] = (uint8_t)(i * 13 + 1);
    VFakeSeg two[2] = {{DATA, 700, false}, {DATA + 700, 324, false}};
    st = blk_request(VIRTIO_BLK_T_OUT, 10, two, 2, NULL);
    uint8_t got[1024];
    ok(st == VIRTIO_BLK_S_OK && file_range(10 * 512, got, 1024) &&
           memcmp(got, vfake_ram(&bus, DATA), 1024) == 0,
       "write 2 sectors from 2 buffers reaches the image");
    VFakeSeg none[1];
    ok(blk_request(VIRTIO_BLK_T_FLUSH, 0, none, 0, NULL) == VIRTIO_BLK_S_OK, "flush succeeds");

    memset(vfake_ram(&bus, DATA), 0xee, 32);
    VFakeSeg id = {DATA, 20, true};
    ok(blk_request(VIRTIO_BLK_T_GET_ID, 0, &id, 1, NULL) == VIRTIO_BLK_S_OK &&
           memcmp(vfake_ram(&bus, DATA), "test-serial\0\0\0\0\0\0\0\0\0", 20) == 0,
       "get-id returns the NUL-padded serial");

    ok(blk_dwz(VIRTIO_BLK_T_DISCARD, 16, 8, 0) == VIRTIO_BLK_S_OK, "discard 8 sectors");
    ok(blk_dwz(VIRTIO_BLK_T_WRITE_ZEROES, 24, 8, 0) == VIRTIO_BLK_S_OK, "write-zeroes");
    ok(blk_dwz(VIRTIO_BLK_T_WRITE_ZEROES, 40, 9, 1) == VIRTIO_BLK_S_OK, "write-zeroes, unmap");
    static const uint8_t zero[9 * 512];
    ok(file_range(24 * 512, got, 1024) && memcmp(got, zero, 1024) == 0, "zeroed range reads 0");
    uint8_t big[9 * 512];
    ok(file_range(40 * 512, big, sizeof(big)) && memcmp(big, zero, sizeof(big)) == 0,
       "unmapped zeroed range reads 0");
    ok(file_range(33 * 512, got, 512) && got[0] == pattern(33 * 512) &&
           got[511] == pattern(33 * 512 + 511),
       "neighbouring sectors untouched");
    virtio_blk_stats(v, &c1);
    ok(c1.read_ops - c0.read_ops == 1 && c1.read_bytes - c0.read_bytes == 512,
       "counters: one read of 512 bytes");
    ok(c1.write_ops - c0.write_ops == 1 && c1.write_bytes - c0.write_bytes == 1024,
       "counters: one write of 1024 bytes (discard and write-zeroes not counted as writes)");
    ok(c1.flush_ops - c0.flush_ops == 1 && c1.errors == c0.errors, "counters: one flush, no error");
}

static void test_blk_bad_requests(VirtioMmio *v)
{
    VirtioBlkStats c0, c1;
    virtio_blk_stats(v, &c0);
    ok(blk_rw(VIRTIO_BLK_T_IN, SECTORS - 1, 1024) == VIRTIO_BLK_S_IOERR,
       "read past the end: IOERR");
    ok(blk_rw(VIRTIO_BLK_T_OUT, SECTORS, 512) == VIRTIO_BLK_S_IOERR, "write at capacity: IOERR");
    ok(blk_rw(VIRTIO_BLK_T_IN, 0xfffffffffffffff0ull, 512) == VIRTIO_BLK_S_IOERR,
       "sector near 2^64 (overflow): IOERR");
    ok(blk_rw(VIRTIO_BLK_T_IN, 0, 100) == VIRTIO_BLK_S_IOERR,
       "length not a multiple of 512: IOERR");
    ok(blk_rw(99, 0, 512) == VIRTIO_BLK_S_UNSUPP, "unknown type: UNSUPP");
    ok(blk_dwz(VIRTIO_BLK_T_DISCARD, 0, 8, 1) == VIRTIO_BLK_S_UNSUPP, "discard with unmap: UNSUPP");
    ok(blk_dwz(VIRTIO_BLK_T_WRITE_ZEROES, 0, 8, 4) == VIRTIO_BLK_S_UNSUPP,
       "unknown segment flag: UNSUPP");
    ok(blk_dwz(VIRTIO_BLK_T_DISCARD, SECTORS - 4, 8, 0) == VIRTIO_BLK_S_IOERR,
       "discard past the end: IOERR");
    ok(blk_dwz(VIRTIO_BLK_T_WRITE_ZEROES, 0, 0x7fffffff, 0) == VIRTIO_BLK_S_IOERR,
       "write-zeroes above max_write_zeroes_sectors: IOERR");
    VFakeSeg odd = {DATA, 20, false};
    ok(blk_request(VIRTIO_BLK_T_DISCARD, 0, &odd, 1, NULL) == VIRTIO_BLK_S_IOERR,
       "discard payload not a multiple of 16: IOERR");
    virtio_blk_stats(v, &c1);
    ok(c1.errors - c0.errors == 10 && c1.read_ops == c0.read_ops && c1.write_ops == c0.write_ops,
       "counters: 10 errors, no read or write counted");
    ok(!(vfake_rd(v, VIRTIO_MMIO_STATUS) & VIRTIO_STATUS_DEVICE_NEEDS_RESET),
       "device still healthy");
}

static void test_blk_broken(VirtioMmio *v)
{
    vfake_wr(v, VIRTIO_MMIO_INTERRUPT_ACK, 3);
    uint8_t hdr[16] = {0};
    memcpy(vfake_ram(&bus, HDR), hdr, 16);
    VFakeSeg only_hdr = {HDR, 16, false};
    vfake_add(&bq, &only_hdr, 1);
    vfake_kick(&bq);
    uint32_t st = vfake_rd(v, VIRTIO_MMIO_STATUS);
    ok(st & VIRTIO_STATUS_DEVICE_NEEDS_RESET, "request without a status byte: DEVICE_NEEDS_RESET");
    ok((vfake_rd(v, VIRTIO_MMIO_INTERRUPT_STATUS) & VIRTIO_ISR_CONFIG) && irq.level,
       "configuration-change interrupt");
    vfake_add(&bq, &only_hdr, 1);
    vfake_kick(&bq);
    ok(vfake_used_idx(&bq) == bq.used_seen, "a broken device does no more work");
    ok(blk_bringup(v, all_features) &&
           !(vfake_rd(v, VIRTIO_MMIO_STATUS) & VIRTIO_STATUS_DEVICE_NEEDS_RESET),
       "reset and bring-up again");
    ok(!irq.level, "reset lowers the line");
    ok(blk_rw(VIRTIO_BLK_T_IN, 0, 512) == VIRTIO_BLK_S_OK, "works again after the reset");

    VFakeSeg short_hdr[2] = {{HDR, 8, false}, {STATUS, 1, true}};
    vfake_add(&bq, short_hdr, 2);
    vfake_kick(&bq);
    ok(vfake_rd(v, VIRTIO_MMIO_STATUS) & VIRTIO_STATUS_DEVICE_NEEDS_RESET,
       "request with an 8-byte header: DEVICE_NEEDS_RESET");
    ok(blk_bringup(v, all_features) && blk_rw(VIRTIO_BLK_T_IN, 0, 512) == VIRTIO_BLK_S_OK,
       "reset and working again");
}

static void test_blk_reset_in_flight(VirtioMmio *v)
{
    for (int i = 0; i < 5; i++) {
        VFakeSeg s[3] = {
            {HDR, 16, false}, {DATA + 0x10000ull * i, 0x10000, true}, {STATUS, 1, true}};
        uint8_t hdr[16] = {0};
        uint64_t sector = 128ull * i;
        memcpy(hdr + 8, &sector, 8);
        memcpy(vfake_ram(&bus, HDR), hdr, 16);
        vfake_add(&bq, s, 3);
    }
    vfake_kick(&bq);
    vfake_wr(v, VIRTIO_MMIO_STATUS, 0);
    drain_loop();
    ok(vfake_used_idx(&bq) == bq.used_seen && vfake_rd(v, VIRTIO_MMIO_STATUS) == 0,
       "reset with 5 requests in flight: nothing published after it");
    ok(blk_bringup(v, all_features) && blk_rw(VIRTIO_BLK_T_IN, 8, 4096) == VIRTIO_BLK_S_OK,
       "the device works after that reset");
}

static void test_blk_batch_and_indirect(VirtioMmio *v)
{
    ok(blk_bringup(v, all_features), "bring-up");
    for (int i = 0; i < 5; i++) { /* 5 reads of 2 sectors (15 of 16 descriptors), one notify */
        uint64_t hdr_pa = HDR + 32ull * i, st_pa = STATUS + i;
        uint8_t hdr[16] = {0};
        uint64_t sector = 100ull + 2 * i;
        memcpy(hdr + 8, &sector, 8);
        memcpy(vfake_ram(&bus, hdr_pa), hdr, 16);
        *(uint8_t *)vfake_ram(&bus, st_pa) = 0xff;
        VFakeSeg s[3] = {{hdr_pa, 16, false}, {DATA + 1024ull * i, 1024, true}, {st_pa, 1, true}};
        vfake_add(&bq, s, 3);
    }
    vfake_kick(&bq);
    bool good = drv_wait(&bq, 5);
    for (int i = 0; i < 5 && good; i++) {
        uint8_t want[1024];
        file_range((100 + 2ull * i) * 512, want, 1024);
        good = *(uint8_t *)vfake_ram(&bus, STATUS + i) == 0 &&
               memcmp(vfake_ram(&bus, DATA + 1024ull * i), want, 1024) == 0;
    }
    ok(good, "5 requests in one notify all complete with the right data");
    bq.used_seen += 5;

    /* An indirect table: header, data in 3 pieces, status. */
    uint64_t table = RAM_BASE + 0x90000;
    uint8_t hdr[16] = {0};
    uint64_t sector = 200;
    memcpy(hdr + 8, &sector, 8);
    memcpy(vfake_ram(&bus, HDR), hdr, 16);
    *(uint8_t *)vfake_ram(&bus, STATUS) = 0xff;
    vfake_write_desc(&bus, table, HDR, 16, VIRTQ_DESC_F_NEXT, 1);
    vfake_write_desc(&bus, table + 16, DATA, 100, VIRTQ_DESC_F_NEXT | VIRTQ_DESC_F_WRITE, 2);
    vfake_write_desc(&bus, table + 32, DATA + 100, 400, VIRTQ_DESC_F_NEXT | VIRTQ_DESC_F_WRITE, 3);
    vfake_write_desc(&bus, table + 48, DATA + 500, 12, VIRTQ_DESC_F_NEXT | VIRTQ_DESC_F_WRITE, 4);
    vfake_write_desc(&bus, table + 64, STATUS, 1, VIRTQ_DESC_F_WRITE, 0);
    uint16_t head = bq.next_desc;
    vfake_write_desc(&bus, bq.desc + 16ull * head, table, 80, VIRTQ_DESC_F_INDIRECT, 0);
    bq.next_desc = (uint16_t)((head + 1) % bq.num);
    vfake_put16(&bus, bq.avail + 4 + 2ull * (bq.avail_idx % bq.num), head);
    vfake_put16(&bus, bq.avail + 2, ++bq.avail_idx);
    vfake_kick(&bq);
    uint8_t want[512];
    file_range(200 * 512, want, 512);
    ok(drv_wait(&bq, 1) && *(uint8_t *)vfake_ram(&bus, STATUS) == 0 &&
           memcmp(vfake_ram(&bus, DATA), want, 512) == 0,
       "read through an indirect table");
    bq.used_seen++;
}

static void test_blk_event_idx(VirtioMmio *v)
{
    ok(blk_bringup(v, all_features), "bring-up with EVENT_IDX");
    blk_rw(VIRTIO_BLK_T_IN, 0, 512);
    vfake_wr(v, VIRTIO_MMIO_INTERRUPT_ACK, 3);
    vfake_put16(&bus, bq.avail + 4 + 2 * 16,
                (uint16_t)(bq.used_seen + 5)); /* used_event far ahead */
    int before = irq.raises;
    blk_rw(VIRTIO_BLK_T_IN, 0, 512);
    ok(irq.raises == before && !irq.level, "used_event ahead: interrupt suppressed");
    vfake_put16(&bus, bq.avail + 4 + 2 * 16, bq.used_seen); /* the next completion is wanted */
    blk_rw(VIRTIO_BLK_T_IN, 0, 512);
    ok(irq.raises == before + 1, "used_event reached: interrupt");
    vfake_wr(v, VIRTIO_MMIO_INTERRUPT_ACK, 3);
}

static void test_blk_writethrough(VirtioMmio *v)
{
    ok(blk_bringup(v, all_features & ~VIRTIO_BIT(VIRTIO_BLK_F_FLUSH) &
                          ~VIRTIO_BIT(VIRTIO_BLK_F_DISCARD)),
       "bring-up without FLUSH (writethrough) and DISCARD");
    memset(vfake_ram(&bus, DATA), 0x5a, 512);
    uint8_t got[512];
    ok(blk_rw(VIRTIO_BLK_T_OUT, 60, 512) == VIRTIO_BLK_S_OK && file_range(60 * 512, got, 512) &&
           got[0] == 0x5a && got[511] == 0x5a,
       "writethrough write lands");
    ok(blk_dwz(VIRTIO_BLK_T_DISCARD, 0, 8, 0) == VIRTIO_BLK_S_UNSUPP,
       "discard without the feature: UNSUPP");
}

static void test_blk_locking(void)
{
    Error err;
    BlockDev *again = block_open(img_path, NULL, false, &err);
    ok(!again && strstr(err.msg, "in use by another process"), "second writer refused: %s",
       again ? "(opened)" : err.msg);
    block_close(again);
    again = block_open(img_path, NULL, true, &err);
    ok(!again && strstr(err.msg, "in use"), "reader refused while a writer holds the image");
    block_close(again);
    ok(!block_open("/nonexistent/disk.img", NULL, false, &err) && strstr(err.msg, "/nonexistent"),
       "missing image: %s", err.msg);
    ok(!block_open(img_path, "qcow9", false, &err) && strstr(err.msg, "unknown image format"),
       "unknown format: %s", err.msg);
}

static void test_blk_read_only(void)
{
    VirtioMmio *v = blk_create(true, NULL);
    ok(v != NULL, "read-only device");
    if (!v)
        return;
    Error err;
    BlockDev *reader = block_open(img_path, NULL, true, &err);
    ok(reader != NULL, "a second reader may share a read-only image");
    block_close(reader);
    uint64_t f = vfake_device_features(v);
    ok((f & VIRTIO_BIT(VIRTIO_BLK_F_RO)) && !(f & VIRTIO_BIT(VIRTIO_BLK_F_DISCARD)) &&
           !(f & VIRTIO_BIT(VIRTIO_BLK_F_WRITE_ZEROES)),
       "RO offered, DISCARD and WRITE_ZEROES not");
    ok(blk_bringup(v, all_features), "bring-up");
    uint8_t before[512], after[512];
    file_range(0, before, 512);
    memset(vfake_ram(&bus, DATA), 0x77, 512);
    ok(blk_rw(VIRTIO_BLK_T_OUT, 0, 512) == VIRTIO_BLK_S_IOERR, "write to RO device: IOERR");
    ok(file_range(0, after, 512) && memcmp(before, after, 512) == 0, "image unchanged");
    ok(blk_rw(VIRTIO_BLK_T_IN, 0, 512) == VIRTIO_BLK_S_OK &&
           memcmp(vfake_ram(&bus, DATA), before, 512) == 0,
       "read works");
    ok(blk_dwz(VIRTIO_BLK_T_WRITE_ZEROES, 0, 8, 0) == VIRTIO_BLK_S_UNSUPP, "write-zeroes: UNSUPP");
    uint8_t id[20];
    VFakeSeg s = {DATA, 20, true};
    blk_request(VIRTIO_BLK_T_GET_ID, 0, &s, 1, NULL);
    memcpy(id, vfake_ram(&bus, DATA), 20);
    ok(memcmp(id, "hostel-10001000\0\0\0\0", 20) == 0, "default serial from the base address");
    drain_loop();
    virtio_mmio_free(v);
}

/* ---- jobs ---- */

/* A job that holds the worker until the test opens its gate (a slow snapshot). */
typedef struct Gate {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    bool open;
    int runs;
    uint8_t seen[512]; /* sector 20 as the job saw it */
} Gate;

static void gate_init(Gate *g, bool open)
{
    memset(g, 0, sizeof(*g));
    pthread_mutex_init(&g->lock, NULL);
    pthread_cond_init(&g->cond, NULL);
    g->open = open;
}

static void gate_open(Gate *g)
{
    pthread_mutex_lock(&g->lock);
    g->open = true;
    pthread_cond_broadcast(&g->cond);
    pthread_mutex_unlock(&g->lock);
}

static void *gate_open_later(void *opaque)
{
    usleep(50000);
    gate_open(opaque);
    return NULL;
}

static int gate_runs(Gate *g)
{
    pthread_mutex_lock(&g->lock);
    int n = g->runs;
    pthread_mutex_unlock(&g->lock);
    return n;
}

static void gate_job(BlockDev *disk, void *opaque)
{
    Gate *g = opaque;
    Error err;
    uint8_t buf[512];
    block_pread(disk, 20 * 512, buf, sizeof(buf), &err);
    pthread_mutex_lock(&g->lock);
    memcpy(g->seen, buf, sizeof(buf));
    while (!g->open)
        pthread_cond_wait(&g->cond, &g->lock);
    g->runs++;
    pthread_mutex_unlock(&g->lock);
}

/* Make a write of sector `sector` from DATA (filled with fill) available and notify. */
static void blk_write_async(uint64_t sector, uint8_t fill)
{
    uint8_t hdr[16] = {0};
    uint32_t type = VIRTIO_BLK_T_OUT;
    memcpy(hdr, &type, 4);
    memcpy(hdr + 8, &sector, 8);
    memcpy(vfake_ram(&bus, HDR), hdr, 16);
    memset(vfake_ram(&bus, DATA), fill, 512);
    VFakeSeg s[3] = {{HDR, 16, false}, {DATA, 512, false}, {STATUS, 1, true}};
    vfake_add(&bq, s, 3);
    vfake_kick(&bq);
}

static void test_blk_job_barrier(VirtioMmio *v)
{
    Error err = {0};
    Gate g;
    gate_init(&g, false);
    ok(blk_bringup(v, all_features), "bring-up");
    uint8_t before[512], after[512];
    file_range(20 * 512, before, 512);
    ok(virtio_blk_queue_job(v, gate_job, &g, &err) == 0, "a job is queued");
    blk_write_async(20, 0xa5);
    for (int i = 0; i < 10; i++)
        evloop_run_once(loop, 10000000);
    ok(vfake_used_idx(&bq) == bq.used_seen && gate_runs(&g) == 0,
       "a write queued after a running job waits for it (the VM thread goes on)");
    gate_open(&g);
    ok(drv_wait(&bq, 1) && gate_runs(&g) == 1, "the job ends, then the write completes");
    bq.used_seen++;
    file_range(20 * 512, after, 512);
    ok(memcmp(g.seen, before, 512) == 0 && after[0] == 0xa5 && after[511] == 0xa5,
       "the job saw the image without the later write; the write then reached it");

    /* A job queued after a request sees what the request did (both wait behind g2). */
    Gate g2, h;
    gate_init(&g2, false);
    gate_init(&h, true);
    virtio_blk_queue_job(v, gate_job, &g2, &err);
    blk_write_async(20, 0x5a);
    ok(virtio_blk_queue_job(v, gate_job, &h, &err) == 0, "a job queued behind a write");
    gate_open(&g2);
    virtio_blk_drain(v);
    ok(gate_runs(&h) == 1 && h.seen[0] == 0x5a && h.seen[511] == 0x5a,
       "drain waits for the job, which saw the write queued before it");
    ok(vfake_used_idx(&bq) == (uint16_t)(bq.used_seen + 1),
       "drain published the write's completion");
    bq.used_seen++;
}

/* A device reset (the guest reboots) drops queued requests but never a job. */
static void test_blk_job_reset(VirtioMmio *v)
{
    Error err = {0};
    Gate g, h;
    gate_init(&g, false);
    gate_init(&h, true);
    ok(blk_bringup(v, all_features), "bring-up");
    virtio_blk_queue_job(v, gate_job, &g, &err);
    virtio_blk_queue_job(v, gate_job, &h, &err);
    blk_write_async(21, 0x33);
    pthread_t t;
    pthread_create(&t, NULL, gate_open_later, &g);
    vfake_wr(v, VIRTIO_MMIO_STATUS, 0); /* waits for the running job, drops the write */
    pthread_join(t, NULL);
    virtio_blk_drain(v);
    drain_loop();
    uint8_t got[512];
    file_range(21 * 512, got, 512);
    ok(gate_runs(&g) == 1 && gate_runs(&h) == 1, "reset: both jobs ran");
    ok(vfake_used_idx(&bq) == bq.used_seen && got[0] != 0x33,
       "reset: the queued write was dropped");
}

/* Freeing the device runs the jobs still queued: their owners wait for them. */
static void test_blk_job_free(VirtioMmio *v)
{
    Error err = {0};
    Gate g, h;
    gate_init(&g, false);
    gate_init(&h, true);
    virtio_blk_queue_job(v, gate_job, &g, &err);
    virtio_blk_queue_job(v, gate_job, &h, &err);
    pthread_t t;
    pthread_create(&t, NULL, gate_open_later, &g);
    drain_loop();
    virtio_mmio_free(v);
    pthread_join(t, NULL);
    ok(gate_runs(&g) == 1 && gate_runs(&h) == 1, "free: every queued job ran first");
}

static void test_blk(void)
{
    if (make_image() < 0) {
        ok(0, "cannot create a temporary image");
        return;
    }
    VirtioMmio *v = blk_create(false, "test-serial");
    ok(v != NULL, "create virtio-blk on a 1 MiB raw image");
    if (!v)
        return;
    test_blk_registers(v);
    test_blk_io(v);
    test_blk_bad_requests(v);
    test_blk_broken(v);
    test_blk_reset_in_flight(v);
    test_blk_batch_and_indirect(v);
    test_blk_event_idx(v);
    test_blk_writethrough(v);
    test_blk_locking();
    test_blk_job_barrier(v);
    test_blk_job_reset(v);
    test_blk_job_free(v);
    test_blk_read_only();
    unlink(img_path);
}

/* ---- virtio-rng, the placeholder ---- */

static void test_rng(void)
{
    Error err;
    VirtioMmio *v = vfake_virtio_rng(&bus, 0x10002000, &irq, &err);
    ok(v && vfake_rd(v, VIRTIO_MMIO_DEVICE_ID) == VIRTIO_ID_RNG, "virtio-rng device id 4");
    ok(vfake_negotiate(v, all_features) & VIRTIO_STATUS_FEATURES_OK, "features accepted");
    VFakeQueue q;
    vfake_queue(&q, v, 0, 8, QAREA(0));
    vfake_driver_ok(v);
    memset(vfake_ram(&bus, DATA), 0, 64);
    VFakeSeg s[2] = {{DATA, 40, true}, {DATA + 40, 24, true}};
    vfake_add(&q, s, 2);
    vfake_kick(&q);
    int nonzero = 0;
    for (int i = 0; i < 64; i++)
        nonzero += ((uint8_t *)vfake_ram(&bus, DATA))[i] != 0;
    ok(vfake_used_idx(&q) == 1 && vfake_used_len(&q, 0) == 64 && nonzero > 32,
       "64 random bytes (%d non-zero)", nonzero);
    vfake_wr(v, VIRTIO_MMIO_INTERRUPT_ACK, 3);
    virtio_mmio_free(v);
}

static void test_placeholder(void)
{
    Error err;
    VirtioMmio *v = vfake_virtio_placeholder(&bus, 0x10008000, &err);
    ok(v && vfake_rd(v, VIRTIO_MMIO_MAGIC_VALUE) == VIRTIO_MMIO_MAGIC &&
           vfake_rd(v, VIRTIO_MMIO_DEVICE_ID) == 0 && vfake_rd(v, VIRTIO_MMIO_QUEUE_NUM_MAX) == 0,
       "placeholder slot: device id 0, no queues");
    vfake_wr(v, VIRTIO_MMIO_QUEUE_NOTIFY, 0);
    vfake_wr(v, VIRTIO_MMIO_QUEUE_READY, 1);
    uint64_t val = 1;
    ok(virtio_mmio_ops.read(v, 0x2, 2, &val) && val == 0, "odd-sized register read gives 0");
    virtio_mmio_free(v);
}

int main(void)
{
    Error err;
    if (bus_init(&bus, RAM_BASE, RAM_SIZE, &err) < 0 || !(loop = evloop_new(&err))) {
        printf("Bail out! %s\n", err.msg);
        return 1;
    }
    test_blk();
    test_rng();
    test_placeholder();
    evloop_free(loop);
    bus_destroy(&bus);
    return tap_done();
}
