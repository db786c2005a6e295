/*
 * Saving a machine to a state file and restoring it (suspend/resume,
 * snapshots; later migration).  The stream format is in src/state/stream.h
 * and docs/state.md.
 */
#ifndef HOSTEL_MACHINE_MACHINE_STATE_H
#define HOSTEL_MACHINE_MACHINE_STATE_H

#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>

#include "machine/machine.h"
#include "util/error.h"

/*
 * The configuration section's version: 2 = VmConfig JSON (vmconfig_to_json);
 * files of version 1 (one "net" card) are still read.
 */
#define MACHINE_CONFIG_VERSION 2

struct StreamSection;
struct StreamOut;
struct StreamChannel;

/*
 * Decode a configuration section (version 1 or 2) into vm (filled from
 * scratch; nothing to free on failure).  Returns 0, or -1 with err naming
 * what is wrong.
 */
int machine_state_config_decode(const struct StreamSection *sec, VmConfig *vm, Error *err);

typedef struct MachineSaveOpts {
    bool compress; /* RAM as zstd runs (smaller, slower to restore) instead of flat pages */
    int level;     /* zstd level; 0 = 3 */
} MachineSaveOpts;

/*
 * Write m's whole state (configuration, harts, devices, RAM) to path,
 * atomically: a temporary file in the same directory, fsync, rename.
 * Devices finish in-flight requests and disks are flushed first.  Call
 * while the harts are not running (between slices or paused).
 */
int machine_save(Machine *m, const char *path, const MachineSaveOpts *o, Error *err);

/* A state file opened (and fully checked: structure, sizes, CRC) for a restore. */
typedef struct MachineStateFile MachineStateFile;

MachineStateFile *machine_state_open(const char *path, Error *err);

void machine_state_close(MachineStateFile *f);
/* The configuration and boot files the state was saved with (valid until close). */
const VmConfig *machine_state_config(const MachineStateFile *f);
const MachineBoot *machine_state_boot(const MachineStateFile *f);

/*
 * Load the state into m, built from the same configuration.  Every section
 * is decoded and checked before anything in m changes; a file from another
 * machine or with a bad field is refused.  map_ram: map flat RAM from the
 * file (lazy, copy-on-write) instead of reading it.
 */
int machine_restore(Machine *m, MachineStateFile *f, bool map_ram, Error *err);

/*
 * machine_restore, calling before_commit(opaque, err) (if set) once every
 * section passed its checks and before anything changes: a revert applies
 * the disks' snapshots there.  A failure of before_commit fails the restore
 * with nothing changed.  Returns 0, or -1 with err filled.
 */
int machine_restore_with(Machine *m, MachineStateFile *f, bool map_ram,
                         int (*before_commit)(void *opaque, Error *err), void *opaque, Error *err);

/* ---- the primitives a live snapshot is made of (src/vmm/vmm_snapshot.c) ---- */

/*
 * Write m's state into fd as machine_save does, without quiescing devices
 * first, syncing or renaming: the caller does those (a live snapshot makes
 * the file durable while the guest runs again).  Returns 0, or -1 with err
 * filled.
 */
int machine_save_fd(Machine *m, int fd, const MachineSaveOpts *o, Error *err);

/*
 * While paused, move the guest's clocks forward over the pause so far (as a
 * resume would) and restart the pause from now: a save then records the
 * time the guest saw when it stopped.
 */
void machine_settle_clock(Machine *m);

/* Devices finish in-flight requests; disks are flushed (before a save or snapshot). */
void machine_quiesce(Machine *m);

/* Devices finish in-flight requests; disks are not flushed (their snapshots do it). */
void machine_drain(Machine *m);

/* ---- the pieces a live migration is made of (src/vmm/vmm_migrate.c) ---- */

/*
 * The configuration section (what the destination builds its machine
 * from), first in a migration stream.  Refused for a machine that did not
 * boot a kernel.  Returns 0, or -1 with err filled.
 */
int machine_save_config(Machine *m, struct StreamOut *out, Error *err);

/*
 * Every hart's and device's section (machine_save's, without the
 * configuration and RAM).  Call while the harts are paused and devices
 * drained.  Returns 0, or -1 with err filled.
 */
int machine_save_devices(Machine *m, struct StreamOut *out, Error *err);

/*
 * A migration stream read from ch (taken over; name for messages), fully
 * checked as machine_state_open checks a file: on success the caller
 * builds the machine from machine_state_config and calls machine_restore.
 */
MachineStateFile *machine_state_open_channel(struct StreamChannel *ch, const char *name,
                                             Error *err);

/*
 * Release (lock false) or take again (lock true) the exclusive lock of
 * every writable disk image, which stays open: the image lock handed to a
 * migration's destination at the switch-over.  Taking fails with err
 * filled when another process holds it.
 */
int machine_disks_lock(Machine *m, bool lock, Error *err);

/*
 * `hostel clone`: from a disk image, a qcow2 overlay on it (linked) or a
 * thin qcow2 copy (full); from a state file, a new state file whose
 * writable disks are cloned the same way and whose MAC address is new (a
 * linked clone also moves the source onto overlays: its disks become
 * shared read-only bases).  dst must not exist.
 */
int machine_clone(const char *src, const char *dst, bool full, Error *err);

/*
 * A state file checked and described as JSON (`hostel state show`): format,
 * config, sections (each device's fields by name), ram.  Returns the
 * document (json_decref it), or NULL with err saying what is wrong.
 */
json_t *machine_state_describe(const char *path, Error *err);
/* The same for a stream read from fd (a pipe, stdin; name for messages); fd stays the caller's. */
json_t *machine_state_describe_fd(int fd, const char *name, Error *err);

#endif
