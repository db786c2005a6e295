/*
 * Shared pieces of the hostile-guest scenarios: the context (the devices
 * found), failure reporting, the outcome checks (device broken / request
 * completed with a status) and virtio-blk request builders.
 *
 * A scenario returns 0 when the device reacted as specified, otherwise one
 * of the FAIL_* kinds (printed on the UART with the failed check); the
 * runner turns it into the program's exit code: the scenario's number, or
 * 128 + the number when the device did not recover after the reset.
 */
#ifndef HOSTEL_TESTS_HOSTILE_SCEN_H
#define HOSTEL_TESTS_HOSTILE_SCEN_H

#include "vdrv.h"

enum {
    FAIL_RECOVER = 1, /* the well-formed request after the reset failed */
    FAIL_OUTCOME = 2, /* the device did not react as specified */
    FAIL_DATA = 3,    /* guest memory or a used element is wrong */
    FAIL_SETUP = 4,   /* the well-formed part of the scenario's setup failed */
};

/* virtio-blk request types and statuses (virtio 1.2, 5.2.6). */
#define BLK_T_IN 0
#define BLK_T_OUT 1
#define BLK_S_OK 0
#define BLK_S_IOERR 1
#define BLK_S_UNSUPP 2
#define SECTOR 512

/* Features this driver negotiates. */
#define FEATS (F_VERSION_1 | F_INDIRECT_DESC)

/* Sectors the scenarios use: the hostile writes aim at TARGET, the good write at WRITTEN. */
#define SECTOR_TARGET 2
#define SECTOR_WRITTEN 3
#define HOSTILE_BYTE 0xee

typedef struct Ctx {
    Dev blk, rng, gpu;
    bool has_gpu;      /* the machine has a display: the gpu scenarios run */
    uint64_t capacity; /* of the disk, in sectors */
} Ctx;

typedef struct Scenario {
    const char *name;
    int (*run)(Ctx *c);
    bool rng;  /* which device to recover afterwards: rng, else blk (or gpu, below) */
    bool peer; /* well-defined by the spec: also run on QEMU (PEER_ONLY builds) */
    bool gpu;  /* a virtio-gpu scenario: runs (and recovers gpu) only with a display */
} Scenario;

/* Print "  FAIL (kind): what value" and return kind. */
int fail(int kind, const char *what, uint64_t value);

/* dev_start or return FAIL_SETUP. */
#define START(dev, features, queue)                                                                \
    do {                                                                                           \
        if (dev_start((dev), (features), (queue)) != 0)                                            \
            return FAIL_SETUP;                                                                     \
    } while (0)

/*
 * The device must be broken: DEVICE_NEEDS_RESET in Status (polled).  With
 * queue_live (DRIVER_OK set on a valid queue) also a configuration-change
 * interrupt and nothing in the used ring.
 */
int expect_broken(Dev *d, bool queue_live);

/* blk: the chain `head` must complete with `status`, the device not broken. */
int expect_blk_status(Dev *d, uint16_t head, uint8_t status);

/* Content of byte `offset` of the test disk (tests/e2e/test_hostile.py makes it). */
uint8_t disk_byte(uint64_t offset);

/* Content the good write puts at byte i of SECTOR_WRITTEN. */
uint8_t written_byte(unsigned i);

/* Does buf hold `len` bytes of the disk from sector `sector`? */
bool disk_matches(uint64_t buf, uint64_t sector, size_t len);

/* Write a 16-byte request header at `at`; fill the status byte with 0xff. */
void blk_hdr(uint64_t at, uint32_t type, uint64_t sector);

/*
 * Descriptors first..first+2 of `table`: header at BUF_HDR, `len` data bytes
 * at BUF_DATA (device-writable for IN), status at BUF_STATUS.
 */
void blk_chain(uint64_t table, unsigned first, uint32_t type, uint64_t sector, uint32_t len);

/* After a reset: start, read sector 0 through `d` and compare it with the disk. */
int recover_blk(Ctx *c);

/* After a reset: start and get 64 random bytes. */
int recover_rng(Ctx *c);

/* After a reset: start and get the display info. */
int recover_gpu(Ctx *c);

/* Scenario tables of each file. */
extern const Scenario scen_chain[], scen_indirect[], scen_queue[], scen_blk[], scen_dwz[],
    scen_rng[], scen_misc[], scen_gpu[], scen_final[];

#endif
