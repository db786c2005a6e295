/*
 * Whole-file reads (and a log's last line) and atomic writes for the management state (the VM
 * store, the trust store) and the client's configuration: a document is
 * written to a temporary file beside it (".FILE.tmp-XXXXXX"), fsynced,
 * renamed over the old one, and the directory is fsynced, so a crash at
 * any instant leaves the old document or the new one (and at worst a
 * stray temporary file, which the stores remove when they open).
 */
#ifndef HOSTEL_MGMT_FILEIO_H
#define HOSTEL_MGMT_FILEIO_H

#include <stddef.h>
#include <sys/types.h>

#include "util/error.h"

/*
 * Read the whole regular file at path (at most max bytes) into *out
 * (malloc'd, NUL-terminated), its length into *len.  Returns 0, or -1.
 */
int mgmt_read_file(const char *path, size_t max, char **out, size_t *len, Error *err);

/*
 * The first half of an atomic write: len bytes of text into a fresh
 * temporary file beside path, with mode, fsynced; its name into tmp.
 * Returns 0, or -1 (nothing left behind).
 */
int mgmt_write_temp(const char *path, const char *text, size_t len, mode_t mode, char *tmp,
                    size_t tmp_size, Error *err);

/*
 * The second half: rename tmp over path and fsync the directory.  Returns
 * 0, or -1 (tmp removed, path untouched).
 */
int mgmt_commit_temp(const char *tmp, const char *path, Error *err);

/* Both halves: path holds text afterwards, or still its old contents.  Returns 0, or -1. */
int mgmt_write_atomic(const char *path, const char *text, size_t len, mode_t mode, Error *err);

/*
 * The last line of the file at path (read from its last
 * MGMT_LAST_LINE_TAIL bytes, line ends dropped) into buf, cut to size;
 * "" when there is none (a missing or empty file).  A child's log says why
 * it ended at once this way.
 */
#define MGMT_LAST_LINE_TAIL 2048
void mgmt_last_line(const char *path, char *buf, size_t size);

#endif
