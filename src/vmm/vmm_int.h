/*
 * The Vmm's internals, shared by the files that make up the VMM (vmm.c:
 * console, pause, run; vmm_control.c: the control socket's commands;
 * vmm_snapshot.c: the operations).  Nothing outside src/vmm/ includes this
 * (but tests/unit/test_vmm.c).
 */
#ifndef HOSTEL_VMM_VMM_INT_H
#define HOSTEL_VMM_VMM_INT_H

#include <jansson.h>

#include "util/evloop.h"
#include "vmm/vmm.h"

#define VMM_INPUT_BUF 65536 /* console bytes read ahead of the UART FIFO */

struct Vmm {
    Machine *m;
    EventLoop *loop; /* the machine's */
    char *name;
    char *snapshot_dir;
    struct ControlServer *control; /* NULL when there is no control socket */
    struct Console *console;       /* filters typed input (Ctrl-A escapes); NULL = raw bytes */
    int in_fd;                     /* watched console input, -1 when none or at end of file */
    bool in_paused;                /* reading in_fd is paused: in_buf is full */
    uint8_t in_buf[VMM_INPUT_BUF]; /* read but not yet taken by the UART */
    size_t in_len;
    uint8_t hvc_buf[VMM_INPUT_BUF]; /* console input not yet taken by virtio-console */
    size_t hvc_len;
    bool quit;               /* the user asked to quit (Ctrl-A x) */
    bool control_quit;       /* vmm_quit: `quit` or `suspend` */
    bool suspended;          /* vmm_suspend saved the state: the run ends */
    uint64_t run_start_ns;   /* host CLOCK_MONOTONIC when vmm_run first began */
    VmmStats stats;          /* of the last vmm_run */
    struct SnapshotJob *job; /* a live snapshot finishing (vmm_snapshot.c) */
};

/* Send {"event": name, "data": data} to control clients (takes data; dropped without a socket). */
void vmm_event(Vmm *v, const char *name, json_t *data);

/* Open the control socket on the machine's loop (vmm_control.c). Returns 0 or -1. */
int vmm_control_open(Vmm *v, const char *path, const char *version, Error *err);
/* Send SHUTDOWN and close the socket (vmm_control.c). */
void vmm_control_close(Vmm *v);

/* Wait for a live snapshot still finishing and fire its completion (before teardown). */
void vmm_snapshot_finish(Vmm *v);

#endif
