/*
 * A managed VM's definition (MgmtVm): its name and identity, what the
 * user says about it (description, autostart) and the machine itself (a
 * VmConfig).  One codec reads and writes it as the JSON object the store
 * keeps on disk (with "version") and the API serves (with "state"), and
 * the name and UUID rules live here.
 *
 * Depends on util/ and machine/vmconfig (no emulator).
 */
#ifndef HOSTEL_MGMT_VM_H
#define HOSTEL_MGMT_VM_H

#include <stdbool.h>

#include "machine/vmconfig.h"
#include "util/error.h"

struct json_t;

#define MGMT_NAME_MAX 64          /* bytes of a VM name */
#define MGMT_UUID_LEN 36          /* "xxxxxxxx-xxxx-4xxx-yxxx-xxxxxxxxxxxx" */
#define MGMT_DESCRIPTION_MAX 4096 /* bytes of a description */
#define MGMT_LABELS_MAX 64        /* labels of a VM */
#define MGMT_LABEL_KEY_MAX 63     /* bytes of a label's key: [a-z0-9._/-], starting alphanumeric */
#define MGMT_LABEL_VALUE_MAX 255  /* bytes of a label's value (any UTF-8) */
#define MGMT_DOC_VERSION 1        /* the on-disk document's version this code writes */

/* What the daemon does when the VM's VMM ends without being asked to (docs/mgmt.md). */
typedef enum MgmtRestart {
    MGMT_RESTART_NO,         /* never restarted */
    MGMT_RESTART_ON_FAILURE, /* restarted when it crashed or failed, not after a clean power-off */
    MGMT_RESTART_ALWAYS,     /* restarted whenever it ends, unless a user stopped it */
} MgmtRestart;

/* "no", "on-failure", "always"; and back (false when s names none). */
const char *mgmt_restart_name(MgmtRestart r);
bool mgmt_restart_parse(const char *s, MgmtRestart *out);

typedef struct MgmtVm {
    char name[MGMT_NAME_MAX + 1];
    char uuid[MGMT_UUID_LEN + 1];
    char *description;     /* owned, never NULL once initialised ("" when none) */
    struct json_t *labels; /* owned: an object of strings, never NULL once initialised */
    bool autostart;
    MgmtRestart restart;
    VmConfig config;
} MgmtVm;

/* An empty definition: no name, no uuid, "" description, the default VmConfig. Returns 0 or -1. */
int mgmt_vm_init(MgmtVm *vm, Error *err);

/* Free what vm owns (it may be initialised again afterwards). */
void mgmt_vm_free(MgmtVm *vm);

/* A deep copy of src into dst (dst's old contents are not freed). Returns 0, or -1. */
int mgmt_vm_copy(MgmtVm *dst, const MgmtVm *src, Error *err);

/*
 * name is a VM name: 1 to 64 of [A-Za-z0-9._-], not starting with '.' or
 * '-' (so it is one path component, never "..", never a hidden file nor an
 * option).  Returns true, or false with err saying why ("name: ...").
 */
bool mgmt_name_check(const char *name, Error *err);

/* A fresh RFC 4122 version 4 UUID (getrandom) as 36 characters + NUL. Returns 0, or -1. */
int mgmt_uuid_new(char out[MGMT_UUID_LEN + 1], Error *err);

/* s is a UUID in canonical text form (lower-case hex, dashes at 8, 13, 18, 23). */
bool mgmt_uuid_check(const char *s);

/*
 * labels is a valid set of labels (mgmt_vm_labels_check's rules: an object
 * of at most MGMT_LABELS_MAX strings, keys of [a-z0-9._/-] starting
 * alphanumeric).  Returns true, or false with err saying why ("labels...").
 */
bool mgmt_vm_labels_check(const struct json_t *labels, Error *err);

/*
 * The document the store keeps: {"version": 1, "name", "uuid",
 * "description", "labels", "autostart", "restart", "config": vmconfig_to_json}.  NULL if out
 * of memory.
 */
struct json_t *mgmt_vm_to_doc(const MgmtVm *vm);

/*
 * Read a document (mgmt_vm_to_doc's shape) into vm, initialised here.
 * Refuses unknown members, a newer version, a bad name or UUID and a
 * config the VmConfig codec refuses ("config.harts: ...").  On failure vm
 * holds nothing to free.  Returns 0 or -1.
 */
int mgmt_vm_from_doc(const struct json_t *doc, MgmtVm *vm, Error *err);

/*
 * The object the API serves: the document without "version", with
 * "state" (the given word: "stopped", "running"...).  NULL if out of memory.
 */
struct json_t *mgmt_vm_to_api(const MgmtVm *vm, const char *state);

#endif
