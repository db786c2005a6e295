/*
 * qcow2 consistency check and repair, counted the way `qemu-img check`
 * counts: the refcount every host cluster should have is rebuilt from the
 * header, the active and snapshot L1/L2 tables, the snapshot table and the
 * refcount structures, then compared with the stored one (stored lower:
 * corruption, stored higher: leak), then COPIED flags are compared with
 * the refcounts.
 */
#ifndef HOSTEL_BLOCK_QCOW2_CHECK_H
#define HOSTEL_BLOCK_QCOW2_CHECK_H

#include "block/qcow2.h"

/* Most host clusters we check (the expected refcounts take 4 bytes each). */
#define QCOW2_CHECK_MAX_CLUSTERS (1ull << 25)

/*
 * Driver op.  fix: BLOCK_FIX_LEAKS lowers leaked refcounts; BLOCK_FIX_ERRORS
 * also raises too-low ones, fixes COPIED flags and rebuilds broken
 * refcount structures.  res counts what is left and what was fixed.
 * Returns 0 when the check ran (whatever it found), -1 with err when it
 * could not (I/O error, image too large, a repair that failed).
 */
int qcow2_check(BlockDev *bd, BlockCheckResult *res, unsigned fix, Error *err);

/*
 * Repair refcounts and COPIED flags silently after an unclean close with
 * lazy refcounts (open of a dirty image for writing).  The caller clears
 * the dirty bit afterwards.  Returns -1 with err when the image could not
 * be made consistent.
 */
int qcow2_check_repair_dirty(Qcow2 *q, Error *err);

#endif
