/*
 * The VMM around one machine: console input (host fd -> a buffer -> the
 * console port, through the Ctrl-A escape filter), pause and
 * resume with their events, the run and why it stopped, and teardown.
 */
#include "vmm/vmm.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "control/control.h"
#include "net/socket.h"
#include "ui/vnc.h"
#include "util/timer.h"
#include "virtio/net.h"
#include "vmm/announce.h"
#include "vmm/console.h"
#include "vmm/console_server.h"
#include "vmm/vmm_int.h"

/* ---- console input: in_fd -> the console port's queue ---- */

/* Hand buffered input to the console port (machine_console_port); read more once it took it all. */
static void vmm_input_feed(void *opaque)
{
    Vmm *v = opaque;
    if (v->in_len) {
        size_t n = machine_console_input(v->m, machine_console_port(v->m), v->in_buf, v->in_len);
        v->in_len -= n;
        memmove(v->in_buf, v->in_buf + n, v->in_len);
    }
    if (v->in_paused && v->in_len < sizeof(v->in_buf) && v->in_fd >= 0) {
        v->in_paused = false;
        evloop_mod_fd(v->loop, v->in_fd, EPOLLIN);
    }
    if (v->console_server && v->in_len < sizeof(v->in_buf))
        console_server_input_ready(v->console_server);
}

/* New bytes (in in_buf at dst) after the escape filter: queued for the console port. */
static void vmm_input_take(Vmm *v, uint8_t *dst, size_t len)
{
    if (v->console && console_filter(v->console, dst, len, dst, &len) == CONSOLE_QUIT) {
        v->quit = true;
        *machine_stop_flag(v->m) = true;
    }
    v->in_len += len;
}

size_t vmm_input_room(const Vmm *v)
{
    return sizeof(v->in_buf) - v->in_len;
}

void vmm_input_push(Vmm *v, const uint8_t *buf, size_t len)
{
    size_t room = vmm_input_room(v);
    len = len < room ? len : room;
    memcpy(v->in_buf + v->in_len, buf, len);
    v->in_len += len;
    vmm_input_feed(v);
}

/*
 * Event-loop handler: in_fd is readable, at end of file, or broken.  New
 * bytes pass the escape filter (C-a x) at once, then queue for the one
 * console port (the UART, which the SBI console -- Linux's hvc0 with
 * HVC_RISCV_SBI -- reads too, or virtio-console's console port).  Reading
 * pauses while the queue is full (flow control for pasted or piped input).
 */
static void vmm_input_ready(void *opaque, uint32_t events)
{
    Vmm *v = opaque;
    uint8_t *dst = v->in_buf + v->in_len;
    size_t room = sizeof(v->in_buf) - v->in_len;
    ssize_t n = room ? read(v->in_fd, dst, room) : 0;
    if (room && n < 0 && (errno == EINTR || errno == EAGAIN))
        return;
    if (room && n <= 0) { /* end of file or error: no more input */
        evloop_del_fd(v->loop, v->in_fd);
        v->in_fd = -1;
        return;
    }
    vmm_input_take(v, dst, (size_t)(room ? n : 0));
    if (v->in_len == sizeof(v->in_buf)) {
        v->in_paused = true;
        evloop_mod_fd(v->loop, v->in_fd, 0);
    }
    vmm_input_feed(v);
}

/* Watch fd.  Descriptors epoll cannot watch (regular files, /dev/null) mean no input. */
static int vmm_watch_input(Vmm *v, int fd, Error *err)
{
    Error e = {0};
    if (fd < 0)
        return 0;
    if (evloop_add_fd(v->loop, fd, EPOLLIN, vmm_input_ready, v, &e) < 0) {
        if (e.code == EPERM)
            return 0;
        return error_set(err, "console input: %s", e.msg);
    }
    v->in_fd = fd;
    return 0;
}

/* ---- construction ---- */

static int vmm_copy(char **dst, const char *src, Error *err)
{
    if (src && !(*dst = strdup(src)))
        return error_set(err, "out of memory");
    return 0;
}

/* The VNC server VmmConfig asks for, on the machine's display and input devices. */
static int vmm_vnc_open(Vmm *v, const VmmConfig *c, Error *err)
{
    if (!c->vnc_listen)
        return 0;
    VncConfig vc = {.listen = c->vnc_listen,
                    .password_file = c->vnc_password_file,
                    .gpu = machine_gpu_device(v->m),
                    .keyboard = machine_input_device(v->m, false),
                    .tablet = machine_input_device(v->m, true)};
    if (!vc.gpu)
        return error_set(err, "vnc=%s: the VM has no display", c->vnc_listen);
    v->vnc = vnc_server_new(&vc, err);
    return v->vnc ? 0 : -1;
}

Vmm *vmm_new(Machine *m, const VmmConfig *c, Error *err)
{
    Vmm *v = calloc(1, sizeof(*v));
    if (!v) {
        error_set(err, "out of memory creating the VMM");
        return NULL;
    }
    v->m = m;
    v->loop = machine_event_loop(m);
    v->in_fd = -1;
    if (vmm_copy(&v->name, c->name, err) < 0 ||
        vmm_copy(&v->snapshot_dir, c->snapshot_dir, err) < 0 ||
        vmm_watch_input(v, c->in_fd, err) < 0 ||
        (c->control_path && vmm_control_open(v, c->control_path, c->version, err) < 0) ||
        vmm_console_open(v, c, err) < 0 || vmm_vnc_open(v, c, err) < 0 ||
        vmm_agent_open(v, err) < 0) {
        vmm_free(v);
        return NULL;
    }
    machine_set_feed_hook(m, vmm_input_feed, v);
    return v;
}

void vmm_free(Vmm *v)
{
    if (!v)
        return;
    vnc_server_free(v->vnc); /* its thread reads the devices: first */
    vmm_agent_close(v);      /* its waiting calls answer through the control socket */
    vmm_snapshot_finish(v);  /* its completion may answer through the control socket */
    vmm_migrate_finish(v);
    vmm_control_close(v);
    vmm_console_close(v);
    timer_list_free(v->announce_timers); /* frees announce_timer */
    machine_set_feed_hook(v->m, NULL, NULL);
    if (v->in_fd >= 0)
        evloop_del_fd(v->loop, v->in_fd);
    free(v->name);
    free(v->snapshot_dir);
    free(v);
}

Machine *vmm_machine(Vmm *v)
{
    return v->m;
}

void vmm_set_console(Vmm *v, Console *c)
{
    v->console = c;
}

const char *vmm_name(const Vmm *v)
{
    return v->name;
}

/* ---- network cards ---- */

int vmm_net_set_fd(Vmm *v, unsigned card, int fd, Error *err)
{
    const VmConfig *vm = machine_config(v->m);
    const NetConfig *nic = card < vm->nnics ? &vm->nics[card] : NULL;
    VirtioMmio *dev = nic ? machine_nic_device(v->m, card) : NULL;
    Error e = {0};
    if (!nic || !dev || ((nic->kind != NET_SOCKET && nic->kind != NET_NETWORK) || nic->fd < 0)) {
        if (!nic || !dev)
            error_set(err, "no network card %u (the VM has %u)", card, vm->nnics);
        else
            error_set(err,
                      "card %u is a %s card: only socket and network cards with fd= take a new "
                      "socket",
                      card, nic->kind == NET_SOCKET ? "socket,path=" : net_kind_name(nic->kind));
        if (fd >= 0)
            close(fd);
        return -1;
    }
    if (fd < 0)
        return error_set(err, "card %u: no socket came with the request (pass one with it)", card);
    if (net_socket_set_fd(virtio_net_backend(dev), fd, &e) < 0)
        return error_set(err, "card %u: %s", card, e.msg);
    return 0;
}

/* One RARP frame from every card; the next round after its delay. */
static void vmm_announce_round(void *opaque)
{
    Vmm *v = opaque;
    const VmConfig *vm = machine_config(v->m);
    uint8_t frame[ANNOUNCE_FRAME_LEN];
    for (unsigned i = 0; i < vm->nnics; i++) {
        VirtioMmio *dev = machine_nic_device(v->m, i);
        NetBackend *b = dev ? virtio_net_backend(dev) : NULL;
        if (b)
            net_backend_send(b, frame, announce_frame(vm->nics[i].mac, frame));
    }
    if (++v->announce_sent < ANNOUNCE_ROUNDS)
        timer_mod(v->announce_timer,
                  timer_now_ns() + (uint64_t)announce_delay_ms(v->announce_sent - 1) * 1000000);
}

int vmm_announce(Vmm *v, Error *err)
{
    if (!v->announce_timers &&
        (!(v->announce_timers = timer_list_new(v->loop, err)) ||
         !(v->announce_timer = timer_new(v->announce_timers, vmm_announce_round, v, err))))
        return -1;
    v->announce_sent = 0;
    vmm_announce_round(v);
    return 0;
}

/* ---- pause, run, stop ---- */

void vmm_event(Vmm *v, const char *name, json_t *data)
{
    if (v->control)
        control_server_event(v->control, name, data);
    else
        json_decref(data);
}

void vmm_pause(Vmm *v)
{
    if (machine_paused(v->m))
        return;
    machine_pause(v->m);
    vmm_event(v, "STOP", NULL);
}

void vmm_resume(Vmm *v)
{
    if (!machine_paused(v->m))
        return;
    machine_resume(v->m);
    vmm_event(v, "RESUME", NULL);
}

void vmm_quit(Vmm *v)
{
    v->control_quit = true;
    *machine_stop_flag(v->m) = true;
}

void vmm_powerdown(Vmm *v)
{
    machine_power_button(v->m);
    vmm_event(v, "POWERDOWN", NULL);
}

uint64_t vmm_uptime_ns(const Vmm *v)
{
    return v->run_start_ns ? timer_now_ns() - v->run_start_ns : 0;
}

/* The machine stopped for a host reason: say which (escape, control, or signal). */
static VmmStop vmm_why(const Vmm *v, MachineStop why)
{
    switch (why) {
    case MACHINE_STOP_GUEST: return VMM_STOP_GUEST;
    case MACHINE_STOP_LIMIT: return VMM_STOP_LIMIT;
    default: return v->quit ? VMM_STOP_QUIT : v->control_quit ? VMM_STOP_CONTROL : VMM_STOP_HOST;
    }
}

int vmm_run(Vmm *v, Error *err)
{
    if (!v->run_start_ns)
        v->run_start_ns = timer_now_ns();
    int status = machine_run(v->m, err);
    MachineStats st;
    machine_stats(v->m, &st);
    v->stats = (VmmStats){.instret = st.instret,
                          .seconds = st.seconds,
                          .why = vmm_why(v, st.why),
                          .suspended = v->suspended,
                          .migrated = v->migrated};
    return status;
}

void vmm_stats(const Vmm *v, VmmStats *st)
{
    *st = v->stats;
}
