/*
 * qcow2 internal snapshots: the snapshot table (load, validate, write
 * back) and the create / list / apply / delete operations.
 *
 * A snapshot is a copy of the active L1 table plus one more reference on
 * every L2 table and data cluster it reaches, so later writes copy instead
 * of overwriting.  References are taken (and synced) before the table
 * entry that needs them is written, and dropped only after the entry is
 * gone: a crash in between leaks clusters, it never loses data.
 */
#ifndef HOSTEL_BLOCK_QCOW2_SNAPSHOT_H
#define HOSTEL_BLOCK_QCOW2_SNAPSHOT_H

#include <stdint.h>

#include "block/qcow2.h"

/* Limits on a snapshot table read from an image (QEMU uses the same ones). */
#define QCOW2_MAX_SNAPSHOTS 65536
#define QCOW2_MAX_SNAPSHOTS_BYTES (64u << 20)
#define QCOW2_MAX_SNAPSHOT_EXTRA 1024
/* Fixed part of a table entry, and the extra data we know (3 x 64 bits). */
#define QCOW2_SNAPSHOT_HEADER_LEN 40
#define QCOW2_SNAPSHOT_EXTRA_KNOWN 24

/* One entry of q->snapshots (q->nb_snapshots of them), host-endian. */
struct Qcow2Snapshot {
    uint64_t l1_table_offset;
    uint32_t l1_size; /* entries */
    char *id;         /* NUL-terminated copies of the on-disk strings */
    char *name;
    uint32_t date_sec, date_nsec;
    uint64_t vm_clock_nsec;
    uint64_t vm_state_size;
    uint64_t disk_size;   /* virtual size when taken */
    uint64_t icount;      /* UINT64_MAX when not recorded */
    uint32_t extra_len;   /* extra data bytes in the entry as read (table size) */
    uint32_t unknown_len; /* extra data past the fields we know, kept as is */
    uint8_t *unknown;
};

/*
 * Read q->nb_snapshots entries at q->snapshots_offset into q->snapshots.
 * Returns 0, or -1 with "image is corrupt: ..." for a table that breaks a
 * limit or the format (nothing is allocated then).
 */
int qcow2_snapshot_load_table(Qcow2 *q, Error *err);
/* Free q->snapshots (close); safe to call twice. */
void qcow2_snapshot_free_table(Qcow2 *q);
/* Bytes the table takes on disk (0 without snapshots). */
uint64_t qcow2_snapshot_table_bytes(const Qcow2 *q);

/* Block driver ops; 0, or -1 with err filled. */
int qcow2_snapshot_create(BlockDev *bd, const BlockSnapshot *sn, Error *err);
int qcow2_snapshot_list(BlockDev *bd, BlockSnapshot **list, int *count, Error *err);
int qcow2_snapshot_apply(BlockDev *bd, const char *id_or_name, Error *err);
int qcow2_snapshot_delete(BlockDev *bd, const char *id_or_name, Error *err);

#endif
