/*
 * Built-in SBI firmware (SBI 2.0): with no M-mode code in the guest, ecalls
 * from S-mode are served here, in C, on the calling hart's thread.
 *
 * Extensions: BASE, TIME, IPI, RFENCE, HSM, SRST, DBCN and the legacy
 * console/timer/IPI/fence/shutdown calls Linux still probes.  What needs the
 * machine (other harts, the console, power) goes through SbiPlatform.
 */
#ifndef HOSTEL_MACHINE_SBI_H
#define HOSTEL_MACHINE_SBI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cpu/hart.h"

/* SBI error codes */
enum {
    SBI_SUCCESS = 0,
    SBI_ERR_FAILED = -1,
    SBI_ERR_NOT_SUPPORTED = -2,
    SBI_ERR_INVALID_PARAM = -3,
    SBI_ERR_DENIED = -4,
    SBI_ERR_INVALID_ADDRESS = -5,
    SBI_ERR_ALREADY_AVAILABLE = -6,
    SBI_ERR_ALREADY_STARTED = -7,
    SBI_ERR_ALREADY_STOPPED = -8,
};

/* HSM states */
enum {
    SBI_HSM_STARTED = 0,
    SBI_HSM_STOPPED = 1,
    SBI_HSM_START_PENDING = 2,
    SBI_HSM_STOP_PENDING = 3,
    SBI_HSM_SUSPENDED = 4
};

/* SRST types */
enum { SBI_RESET_SHUTDOWN = 0, SBI_RESET_COLD = 1, SBI_RESET_WARM = 2 };

/* What the firmware needs from the machine. */
typedef struct SbiPlatform {
    void *opaque;
    unsigned (*nharts)(void *opaque);
    Hart *(*hart)(void *opaque, unsigned hartid);
    /* HSM: state of a hart, and start (pc, a1 = opaque) / stop the caller */
    int (*hart_state)(void *opaque, unsigned hartid);
    int (*hart_start)(void *opaque, unsigned hartid, uint64_t pc, uint64_t arg);
    void (*hart_stop)(void *opaque, Hart *self);
    /* Console: write bytes; read one byte or -1 when none is waiting */
    void (*console_write)(void *opaque, const uint8_t *buf, size_t len);
    int (*console_read)(void *opaque);
    /* Power: shutdown, cold or warm reset of the whole machine */
    void (*system_reset)(void *opaque, uint32_t type, uint32_t reason);
    /* Program hart's supervisor timer (absolute time in `time` ticks) */
    void (*set_timer)(void *opaque, Hart *h, uint64_t when);
} SbiPlatform;

/*
 * Serve the ecall the S-mode hart h just made (a7 = extension, a6 =
 * function, a0..a5 = arguments): sets a0 (error) and a1 (value) per the
 * SBI calling convention.  Returns false if the caller should instead
 * deliver the ecall as an exception (never, today: unknown calls return
 * SBI_ERR_NOT_SUPPORTED).
 */
bool sbi_ecall(const SbiPlatform *p, Hart *h);

#define SBI_IMPL_ID_HOSTEL 0x484f53ull     /* "HOS"; not a registered id */
#define SBI_SPEC_VERSION ((2u << 24) | 0u) /* 2.0 */

#endif
