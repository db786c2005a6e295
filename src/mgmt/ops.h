/*
 * Operations (docs/mgmt.md "Operations"): anything that can take more than
 * a moment (start, stop, snapshot, clone, import...) runs on its own
 * thread; the API answers 202 with Location: /1.0/operations/ID at once,
 * and clients poll the operation, wait for it, or cancel it.
 *
 * Each operation is also a document, STATE_DIR/operations/ID.json,
 * rewritten when it starts and when it ends: a daemon that was killed while
 * one ran finds it at its next start and reports it failed ("interrupted"),
 * as a client polling it would expect.  The newest MGMT_OPS_KEEP finished
 * operations are kept; older ones are forgotten.
 */
#ifndef HOSTEL_MGMT_OPS_H
#define HOSTEL_MGMT_OPS_H

#include <jansson.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "mgmt/runtime.h"
#include "util/error.h"

#define MGMT_OPS_KEEP 200
#define MGMT_OP_ID_LEN 36 /* a UUID */

typedef struct MgmtOps MgmtOps;
typedef struct MgmtOp MgmtOp;

/*
 * The work of an operation, on its own thread.  Returns 0 (with *result
 * set to a JSON value or left NULL) or -1 with err filled.  It may call
 * mgmt_op_progress and should look at mgmt_op_cancelled when it can stop.
 */
typedef int MgmtOpFn(MgmtOp *op, void *ctx, json_t **result, Error *err);

typedef struct MgmtOpSpec {
    const char *description; /* "Starting vm1" */
    const char *resource;    /* "/1.0/vms/vm1" */
    uid_t uid;               /* who asked */
    bool may_cancel;
    MgmtOpFn *run;
    void *ctx; /* given to run, then to ctx_free */
    void (*ctx_free)(void *ctx);
} MgmtOpSpec;

/*
 * Open the operations of the state directory dir (dir/operations is made):
 * those found running are marked failed, "interrupted".  notify (may be
 * NULL) hears "operation-created", "operation-updated" and
 * "operation-finished" with the operation's object.  Returns 0 or -1.
 */
int mgmt_ops_new(MgmtOps **out, const char *dir, MgmtNotifyFn *notify, void *notify_ctx,
                 Error *err);

/*
 * Wait up to timeout_s for the running operations to end, then free
 * everything.  Returns false (and frees nothing) when some still run: the
 * caller then leaves without freeing.
 */
bool mgmt_ops_free(MgmtOps *ops, double timeout_s);

/*
 * Start an operation (its thread is made here); id gets its ID.  On
 * failure ctx is freed with ctx_free.  Returns 0 or -1.
 */
int mgmt_ops_start(MgmtOps *ops, const MgmtOpSpec *spec, char id[MGMT_OP_ID_LEN + 1], Error *err);

/* The API's object of the operation id (a new reference), or NULL when unknown. */
json_t *mgmt_ops_get(MgmtOps *ops, const char *id);

/* Every kept operation, newest first (recursion: objects, else their URLs). */
json_t *mgmt_ops_list(MgmtOps *ops, bool recursion);

/* Ask operation id to stop.  Returns 0, -1 (unknown: err "no operation"), -2 (it cannot). */
int mgmt_ops_cancel(MgmtOps *ops, const char *id, Error *err);

/* Operation id has ended (or is unknown: *known false). */
bool mgmt_ops_done(MgmtOps *ops, const char *id, bool *known);

/* A counter that changes whenever an operation ends. */
uint64_t mgmt_ops_generation(MgmtOps *ops);

/* Block until the generation differs from seen, or timeout_s passes; returns it. */
uint64_t mgmt_ops_wait_change(MgmtOps *ops, uint64_t seen, double timeout_s);

/* For the work function: progress (an object, taken), and whether a cancel was asked. */
void mgmt_op_progress(MgmtOp *op, json_t *progress);
bool mgmt_op_cancelled(const MgmtOp *op);

/* The flag a cancel sets, for work that polls one (pool.c's MgmtProgress). */
const atomic_bool *mgmt_op_cancel_flag(MgmtOp *op);

#endif
