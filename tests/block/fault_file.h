/*
 * A fault-injecting BlockFile for crash tests, in the manner of SQLite's
 * crash-simulating VFS: it wraps another BlockFile (the "disk") and keeps
 * every write, truncate and punch that no completed sync covers in a
 * pending log, in memory.  Reads see the pending log (the page cache);
 * sync() applies the log to the disk in order and syncs it.
 *
 * A crash happens either when a test calls fault_file_crash() or after an
 * armed number of mutating calls (fault_file_arm()), so a crash can land in
 * the middle of one of the format's operations.  From then on every call
 * fails with EIO ("simulated crash"), and the pending log is resolved:
 *   FAULT_DROP    every pending change is lost (what QEMU's qcow2 must
 *                 survive: only syncs order writes);
 *   FAULT_SUBSET  a random subset of the pending changes reaches the disk,
 *                 in random order (a disk cache that reorders writes).
 * Closing the file closes the disk under it (releasing its lock), so the
 * test can then reopen the disk's file with the plain driver; closing a
 * file that did not crash is a clean shutdown (pending changes reach the
 * disk).  Writes past max_len (fault_file_wrap) fail with ENOSPC, which
 * also stops a runaway allocation early.
 */
#ifndef HOSTEL_TESTS_BLOCK_FAULT_FILE_H
#define HOSTEL_TESTS_BLOCK_FAULT_FILE_H

#include <stdint.h>

#include "block/file.h"

typedef enum { FAULT_DROP, FAULT_SUBSET } FaultMode;

/*
 * Wrap lower (ownership passes, also on failure).  The current content of
 * lower is read into memory (at most max_len bytes; larger files fail).
 */
BlockFile *fault_file_wrap(BlockFile *lower, uint64_t max_len, Error *err);

/* How the pending log is resolved at the crash, and the seed for FAULT_SUBSET. */
void fault_file_set_mode(BlockFile *f, FaultMode mode, uint64_t seed);

/*
 * Crash after n more mutating calls (write, truncate, punch, sync): the
 * n+1-th fails and nothing more reaches the disk.  n = UINT64_MAX disarms.
 */
void fault_file_arm(BlockFile *f, uint64_t n);

/* Crash now (no-op if it already crashed). */
void fault_file_crash(BlockFile *f);

bool fault_file_crashed(BlockFile *f);
/* Mutating calls so far (to pick crash points), completed syncs so far. */
uint64_t fault_file_calls(BlockFile *f);
uint64_t fault_file_syncs(BlockFile *f);
/* Changes in the pending log now. */
uint64_t fault_file_pending(BlockFile *f);

/*
 * Only the size cap, with no log and no crash: a pass-through to lower
 * (ownership passes, also on failure) whose writes and truncates past
 * max_len fail with ENOSPC, so a runaway allocation stops at once.
 */
BlockFile *cap_file_wrap(BlockFile *lower, uint64_t max_len, Error *err);

#endif
