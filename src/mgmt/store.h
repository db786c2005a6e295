/*
 * The state directory and the VM definitions kept in it (docs/mgmt.md):
 *
 *   DIR/vms/NAME.json    one document per VM (mgmt_vm_to_doc), versioned
 *   DIR/audit.log        the API's audit log (api.c)
 *   DIR/lock             flock'ed by the store's owner: one hosteld per directory
 *
 * Every write is atomic: the document goes to a temporary file in the
 * same directory (".NAME.json.tmp-XXXXXX"), is fsynced, renamed over the
 * old one, and the directory is fsynced; a crash at any instant leaves the
 * old document or the new one.  Opening the store removes stray temporary
 * files and loads every document; one that does not read is logged and
 * listed as broken, never deleted.  The store keeps the definitions in
 * memory, sorted by name; it is not thread-safe (the API holds a lock).
 */
#ifndef HOSTEL_MGMT_STORE_H
#define HOSTEL_MGMT_STORE_H

#include <stdbool.h>
#include <stddef.h>

#include "mgmt/vm.h"
#include "util/error.h"

typedef struct MgmtStore MgmtStore;

/* A document the store found and could not read. */
typedef struct MgmtBroken {
    char *file;    /* its name under vms/ */
    char *message; /* why, one line */
} MgmtBroken;

/* Fault injection for tests: where mgmt_store_put stops as if the process died. */
typedef enum MgmtStoreFault {
    MGMT_FAULT_NONE,
    MGMT_FAULT_BEFORE_RENAME, /* temp file written and synced, not renamed, left behind */
} MgmtStoreFault;

/*
 * The default state directory into buf: /var/lib/hostel for root, else
 * $XDG_DATA_HOME/hostel, else $HOME/.local/share/hostel.  Returns 0, or -1
 * (no HOME, or too long).
 */
int mgmt_state_dir_default(char *buf, size_t size, Error *err);

/*
 * Open the store in dir (created with its vms/ directory if missing,
 * mode 0750), locked against a second opener (another hosteld, or another
 * mgmt_store_open in this process): remove stray temporary files, load
 * every document.  Returns 0 with *out set, or -1 (dir cannot be made,
 * locked or read; no memory).
 */
int mgmt_store_open(MgmtStore **out, const char *dir, Error *err);
void mgmt_store_close(MgmtStore *s);

/* The state directory the store was opened on. */
const char *mgmt_store_dir(const MgmtStore *s);

/* The definitions, sorted by name: count, and the i-th (valid until the next change). */
size_t mgmt_store_count(const MgmtStore *s);
const MgmtVm *mgmt_store_at(const MgmtStore *s, size_t i);

/* The definition named name, or NULL. */
const MgmtVm *mgmt_store_find(const MgmtStore *s, const char *name);

/* The documents found broken at open. */
size_t mgmt_store_broken_count(const MgmtStore *s);
const MgmtBroken *mgmt_store_broken_at(const MgmtStore *s, size_t i);

/* The broken document that would hold the VM named name (NAME.json), or NULL. */
const MgmtBroken *mgmt_store_broken_find(const MgmtStore *s, const char *name);

/*
 * Write vm's document atomically (creating or replacing NAME.json), then
 * keep a copy of vm in memory.  Returns 0, or -1 with err filled (bad name,
 * I/O error, no memory): the old document, on disk and in memory, is kept.
 */
int mgmt_store_put(MgmtStore *s, const MgmtVm *vm, Error *err);

/* Delete the definition named name (file and memory). Returns 0, or -1 (none, I/O error). */
int mgmt_store_remove(MgmtStore *s, const char *name, Error *err);

/* Tests only: make the next writes stop at fault (MGMT_FAULT_NONE: behave). */
void mgmt_store_set_fault(MgmtStore *s, MgmtStoreFault fault);

#endif
