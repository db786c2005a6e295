/*
 * vmm_clone: `hostel clone` (machine_clone) as an operation with a
 * completion, run on a worker thread so that a long full clone does not
 * block the caller (the daemon's API thread, an event loop).
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "machine/machine_state.h"
#include "vmm/vmm.h"

typedef struct CloneJob {
    char *src;
    char *dst;
    bool full;
    VmmDone done;
    void *opaque;
} CloneJob;

static void clone_job_free(CloneJob *j)
{
    free(j->src);
    free(j->dst);
    free(j);
}

/* The worker: clone, complete, and go. */
static void *clone_worker(void *arg)
{
    CloneJob *j = arg;
    Error err = {0};
    if (machine_clone(j->src, j->dst, j->full, &err) < 0) {
        j->done(j->opaque, NULL, &err);
    } else {
        VmmResult r = {.file = j->dst};
        j->done(j->opaque, &r, NULL);
    }
    clone_job_free(j);
    return NULL;
}

/* The checks made before a thread starts: the same words machine_clone uses. */
static int clone_check(const char *src, const char *dst, VmmDone done, Error *err)
{
    if (!src || !*src || !dst || !*dst)
        return error_set(err, "clone: a source and a new name are needed");
    if (!done)
        return error_set(err, "clone: no completion given");
    if (access(dst, F_OK) == 0)
        return error_set(err, "%s exists: clone to a new name", dst);
    if (access(src, R_OK) < 0)
        return error_set_errno(err, errno, "%s", src);
    return 0;
}

static CloneJob *clone_job_new(const char *src, const char *dst, bool full, VmmDone done,
                               void *opaque)
{
    CloneJob *j = calloc(1, sizeof(*j));
    if (!j)
        return NULL;
    *j = (CloneJob){
        .src = strdup(src), .dst = strdup(dst), .full = full, .done = done, .opaque = opaque};
    if (!j->src || !j->dst) {
        clone_job_free(j);
        return NULL;
    }
    return j;
}

int vmm_clone(const char *src, const char *dst, bool full, VmmDone done, void *opaque, Error *err)
{
    if (clone_check(src, dst, done, err) < 0)
        return -1;
    CloneJob *j = clone_job_new(src, dst, full, done, opaque);
    if (!j)
        return error_set(err, "out of memory starting a clone");
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    pthread_t t;
    int rc = pthread_create(&t, &attr, clone_worker, j);
    pthread_attr_destroy(&attr);
    if (rc != 0) {
        clone_job_free(j);
        return error_set_errno(err, rc, "starting the clone thread");
    }
    return 0;
}
