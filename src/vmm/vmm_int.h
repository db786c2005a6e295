/*
 * The Vmm's internals, shared by the files that make up the VMM (vmm.c:
 * console, pause, run; vmm_control.c: the control socket's commands;
 * vmm_snapshot.c: the operations).  Nothing outside src/vmm/ includes this
 * (but tests/unit/test_vmm.c).
 */
#ifndef HOSTEL_VMM_VMM_INT_H
#define HOSTEL_VMM_VMM_INT_H

#include <jansson.h>

#include "control/control.h"
#include "util/evloop.h"
#include "vmm/vmm.h"

#define VMM_INPUT_BUF 65536    /* console bytes read ahead of the UART FIFO */
#define VMM_CONSOLE_BATCH 4096 /* console output gathered before the log and socket see it */

struct Vmm {
    Machine *m;
    EventLoop *loop; /* the machine's */
    char *name;
    char *snapshot_dir;
    struct ControlServer *control; /* NULL when there is no control socket */
    ControlCommand *commands;      /* the control socket's: vmm_control.c's and the agent's */
    struct Console *console;       /* filters typed input (Ctrl-A escapes); NULL = raw bytes */
    int in_fd;                     /* watched console input, -1 when none or at end of file */
    bool in_paused;                /* reading in_fd is paused: in_buf is full */
    uint8_t in_buf[VMM_INPUT_BUF]; /* read but not yet taken by the console port */
    size_t in_len;
    bool quit;                    /* the user asked to quit (Ctrl-A x) */
    bool control_quit;            /* vmm_quit: `quit` or `suspend` */
    bool suspended;               /* vmm_suspend saved the state: the run ends */
    uint64_t run_start_ns;        /* host CLOCK_MONOTONIC when vmm_run first began */
    VmmStats stats;               /* of the last vmm_run */
    struct SnapshotJob *job;      /* a live snapshot finishing (vmm_snapshot.c) */
    struct MigrateJob *migration; /* a live migration running or the last one (vmm_migrate.c) */
    bool migrated;                /* a migration completed: the run ends */
    struct TimerList *announce_timers; /* vmm_announce's frames (NULL until it runs) */
    struct Timer *announce_timer;
    unsigned announce_sent; /* rounds of frames sent so far */
    /* The console kept by the VMM (vmm_console.c); the front end's sinks it passes on. */
    struct ConsoleServer *console_server;     /* --console-socket; NULL when none */
    struct ConsoleLog *console_log;           /* --console-log; NULL when none */
    bool console_log_failing;                 /* the last log write failed (warned once) */
    uint8_t console_batch[VMM_CONSOLE_BATCH]; /* output not passed on yet (the UART sends bytes) */
    size_t console_batch_len;
    struct TimerList *console_timers;
    struct Timer *console_flush;           /* passes the batch on at the loop's next turn */
    ConsoleOutFn console_out, console_err; /* VmmConfig's, or NULL */
    void *console_opaque;
    struct VncServer *vnc; /* --display vnc=...; NULL when none */
    struct Agent *agent;   /* the guest agent client (vmm_agent.c); NULL without virtio-console */
    bool agent_closing;    /* vmm_agent_close runs: no new snapshot from a freeze's completion */
    bool quiescing;        /* a quiesced snapshot waits for the guest's fsfreeze */
};

/* Send {"event": name, "data": data} to control clients (takes data; dropped without a socket). */
void vmm_event(Vmm *v, const char *name, json_t *data);

/* Open the control socket on the machine's loop (vmm_control.c). Returns 0 or -1. */
int vmm_control_open(Vmm *v, const char *path, const char *version, Error *err);
/* Send SHUTDOWN and close the socket (vmm_control.c). */
void vmm_control_close(Vmm *v);

/* Open the console socket and log VmmConfig asks for and install the output sinks (vmm_console.c). */
int vmm_console_open(Vmm *v, const VmmConfig *c, Error *err);
/* Close them, giving the machine back the front end's sinks (vmm_console.c). */
void vmm_console_close(Vmm *v);

/* Bytes of console input the VMM can take now (vmm.c). */
size_t vmm_input_room(const Vmm *v);
/* Console input from a client, len <= vmm_input_room(), no escape filter (vmm.c). */
void vmm_input_push(Vmm *v, const uint8_t *buf, size_t len);

/* The guest agent client on the machine's agent port, if it has one (vmm_agent.c). */
int vmm_agent_open(Vmm *v, Error *err);
/* Fail the agent calls still waiting (their replies go out) and free the client. */
void vmm_agent_close(Vmm *v);
/* The control socket's agent-* commands (vmm_agent.c). */
extern const ControlCommand vmm_agent_commands[];
extern const size_t vmm_agent_ncommands;

/* Stop a migration still running (cancel, join its thread) and free it (before teardown). */
void vmm_migrate_finish(Vmm *v);

/* Wait for a live snapshot still finishing and fire its completion (before teardown). */
void vmm_snapshot_finish(Vmm *v);

#endif
