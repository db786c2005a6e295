/*
 * The console the VMM keeps (VmmConfig.console_socket, console_log): the
 * guest's output fans out to the log file, the console socket's history
 * and clients, and the front end's own sink; the socket's rw client types
 * into the same input queues as in_fd (without the escape filter).
 */
#include <stdlib.h>
#include <string.h>

#include "util/log.h"
#include "util/timer.h"
#include "vmm/console_log.h"
#include "vmm/console_server.h"
#include "vmm/vmm_int.h"

/* Append to the log; a failure is reported once until a write works again. */
static void vmm_console_log(Vmm *v, const uint8_t *buf, size_t len)
{
    Error e = {0};
    if (console_log_write(v->console_log, buf, len, &e) == 0) {
        v->console_log_failing = false;
        return;
    }
    if (!v->console_log_failing)
        log_warn("%s (console output is not logged until a write works again)", e.msg);
    v->console_log_failing = true;
}

/* Pass the gathered output on: the log, the socket's history and clients, the front end's sink. */
static void vmm_console_flush(void *opaque)
{
    Vmm *v = opaque;
    const uint8_t *buf = v->console_batch;
    size_t len = v->console_batch_len;
    if (!len)
        return;
    v->console_batch_len = 0;
    if (v->console_log)
        vmm_console_log(v, buf, len);
    if (v->console_server)
        console_server_output(v->console_server, buf, len);
    if (v->console_out)
        v->console_out(v->console_opaque, buf, len);
}

/*
 * The machine's console sink while the VMM keeps the console.  The UART
 * hands over one byte at a time: they are gathered and passed on at the
 * event loop's next turn (between hart slices, or at once when the harts
 * idle), or when VMM_CONSOLE_BATCH bytes wait, so the log and every client
 * cost a system call per batch, not per byte.
 */
static void vmm_console_out(void *opaque, const uint8_t *buf, size_t len)
{
    Vmm *v = opaque;
    while (len) {
        if (v->console_batch_len == sizeof(v->console_batch))
            vmm_console_flush(v);
        size_t room = sizeof(v->console_batch) - v->console_batch_len;
        size_t n = len < room ? len : room;
        memcpy(v->console_batch + v->console_batch_len, buf, n);
        v->console_batch_len += n;
        buf += n;
        len -= n;
    }
    if (!timer_pending(v->console_flush))
        timer_mod(v->console_flush, 0); /* a time already past: the next turn */
}

/* HTIF's SYS_write to fd 2, passed on to the front end's sink (only installed when it has one). */
static void vmm_console_err(void *opaque, const uint8_t *buf, size_t len)
{
    Vmm *v = opaque;
    v->console_err(v->console_opaque, buf, len);
}

static size_t vmm_console_room(void *opaque)
{
    return vmm_input_room(opaque);
}

static void vmm_console_input(void *opaque, const uint8_t *buf, size_t len)
{
    vmm_input_push(opaque, buf, len);
}

int vmm_console_open(Vmm *v, const VmmConfig *c, Error *err)
{
    v->console_out = c->console_out;
    v->console_err = c->console_err;
    v->console_opaque = c->console_opaque;
    if (c->console_log) {
        uint64_t size = c->console_log_size ? c->console_log_size : CONSOLE_LOG_SIZE_DEFAULT;
        if (!(v->console_log = console_log_open(c->console_log, size, err)))
            return -1;
    }
    if ((c->console_log || c->console_socket) &&
        (!(v->console_timers = timer_list_new(v->loop, err)) ||
         !(v->console_flush = timer_new(v->console_timers, vmm_console_flush, v, err))))
        return -1;
    if (c->console_socket) {
        ConsoleServerConfig sc = {.path = c->console_socket,
                                  .input_room = vmm_console_room,
                                  .input = vmm_console_input,
                                  .opaque = v};
        if (!(v->console_server = console_server_new(v->loop, &sc, err)))
            return -1;
    }
    if (v->console_log || v->console_server)
        machine_set_console_out(v->m, vmm_console_out, c->console_err ? vmm_console_err : NULL, v);
    else if (c->console_out)
        machine_set_console_out(v->m, c->console_out, c->console_err, c->console_opaque);
    return 0;
}

void vmm_console_close(Vmm *v)
{
    vmm_console_flush(v); /* the guest's last words */
    if (v->console_log || v->console_server)
        machine_set_console_out(v->m, v->console_out, v->console_err, v->console_opaque);
    timer_list_free(v->console_timers); /* frees console_flush */
    v->console_timers = NULL;
    v->console_flush = NULL;
    console_server_free(v->console_server);
    console_log_close(v->console_log);
    v->console_server = NULL;
    v->console_log = NULL;
}
