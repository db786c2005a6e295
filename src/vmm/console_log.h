/*
 * The console's log file: every byte the guest prints, appended to PATH;
 * once PATH would pass its size limit it is renamed to PATH.1 (replacing
 * the older generation) and a fresh PATH is started, so PATH.1 followed by
 * PATH is always the latest output, at most twice the limit on disk.
 */
#ifndef HOSTEL_VMM_CONSOLE_LOG_H
#define HOSTEL_VMM_CONSOLE_LOG_H

#include <stddef.h>
#include <stdint.h>

#include "util/error.h"

#define CONSOLE_LOG_SIZE_DEFAULT (4ull << 20) /* bytes in PATH before it rotates */

typedef struct ConsoleLog ConsoleLog;

/*
 * Open path for appending (created with mode 0600; what it already holds
 * counts towards max_bytes, which must be > 0).  Returns NULL with err
 * filled (e.g. the directory does not exist).
 */
ConsoleLog *console_log_open(const char *path, uint64_t max_bytes, Error *err);

/*
 * Append len bytes, rotating whenever the file reaches max_bytes (a write
 * is split so no generation passes the limit).  Returns 0, or -1 with err
 * filled (full disk, rotation refused): the bytes not written are dropped,
 * and the next call tries again.
 */
int console_log_write(ConsoleLog *l, const uint8_t *buf, size_t len, Error *err);

/* Close the file (NULL is ignored). */
void console_log_close(ConsoleLog *l);

#endif
