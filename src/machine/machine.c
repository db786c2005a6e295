/*
 * The machine: builds the bus, the harts and the board's devices (from the
 * one table in virt.c), loads the kernel, and runs the harts round-robin in
 * time slices until something stops the run.  Between slices it polls the
 * devices' timers and runs the event loop without waiting (console input, and work that
 * device threads queue with evloop_call); when every hart waits in WFI it
 * blocks in the event loop until the next timer deadline or an event.
 */
#include "machine/machine.h"

#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "cpu/hart.h"
#include "hw/bus.h"
#include "hw/htif.h"
#include "hw/uart16550.h"
#include "machine/elf.h"
#include "util/compiler.h"
#include "util/evloop.h"

#include "machine/machine_int.h"
#include "machine/machine_state.h"
#include "util/io.h"
#include "util/log.h"
#include "util/timer.h"
#include "virtio/blk.h"
#include "virtio/console.h"
#include "virtio/input.h"
#include "virtio/net.h"
#include "virtio/gpu.h"
#include "virtio/rng.h"

/* ---- what devices report back ---- */

void machine_guest_exit(void *opaque, bool failed, int code)
{
    Machine *m = opaque;
    if (m->exited)
        return; /* the first report wins */
    m->exited = true;
    m->exit_status = !failed ? 0 : (code & 0xff) ? (code & 0xff) : 1;
    m->stop = true;
}

void machine_guest_reset(void *opaque)
{
    Machine *m = opaque;
    m->reset_requested = true;
    m->stop = true;
}

/* ---- virtio-mmio slots ---- */

void machine_console_write(void *opaque, const uint8_t *buf, size_t len)
{
    Machine *m = opaque;
    if (m->host.console_out)
        m->host.console_out(m->host.console_opaque, buf, len);
    else
        io_write_all(m->host.out_fd, buf, len); /* console gone: the output is dropped */
}

void machine_serial_write(void *opaque, const uint8_t *buf, size_t len)
{
    Machine *m = opaque;
    if (m->vm.console == VM_CONSOLE_SERIAL)
        machine_console_write(m, buf, len); /* else not attached: one console, never two */
}

void machine_console_write_err(void *opaque, const uint8_t *buf, size_t len)
{
    Machine *m = opaque;
    if (m->host.console_err)
        m->host.console_err(m->host.console_opaque, buf, len);
    else
        io_write_all(m->host.err_fd, buf, len);
}

void machine_set_console_out(Machine *m, ConsoleOutFn out, ConsoleOutFn err, void *opaque)
{
    m->host.console_out = out;
    m->host.console_err = err;
    m->host.console_opaque = opaque;
}

/* Network card number i (--net) on its backend. */
static VirtioMmio *machine_virtio_net(Machine *m, const VirtioMmioConfig *c, unsigned i, Error *err)
{
    const NetConfig *nic = &m->vm.nics[i];
    VirtioNetConfig nc = {.backend = net_backend_new(nic, m->loop, err)};
    if (!nc.backend)
        return NULL;
    memcpy(nc.mac, nic->mac, sizeof(nc.mac));
    return virtio_net_new(c, &nc, err);
}

/* Disk number i (-d) on its image. */
static VirtioMmio *machine_virtio_blk(Machine *m, const VirtioMmioConfig *c, unsigned i, Error *err)
{
    const VmDisk *d = &m->vm.disks[i];
    BlockOpenOpts bo = {
        .format = d->format, .read_only = d->read_only, .l2_cache_bytes = d->l2_cache_bytes};
    BlockDev *bd = block_open_opts(d->path, &bo, err);
    if (!bd)
        return NULL;
    m->disk_info[i] = (struct MachineDiskInfo){bd->drv->format, bd->length};
    VirtioBlkConfig b = {.disk = bd, .loop = m->loop};
    return virtio_blk_new(c, &b, err);
}

static void machine_agent_rx(void *opaque, const uint8_t *buf, size_t len)
{
    Machine *m = opaque;
    if (m->agent.rx)
        m->agent.rx(m->agent.opaque, buf, len); /* no host side: dropped */
}

static void machine_agent_writable(void *opaque)
{
    Machine *m = opaque;
    if (m->agent.writable)
        m->agent.writable(m->agent.opaque);
}

/*
 * virtio-console in slot n: port 0 is the console port when the definition
 * makes virtio the console (else the driver never sees it), port 1 the
 * guest agent's.
 */
static VirtioMmio *machine_virtio_console(Machine *m, const VirtioMmioConfig *c, unsigned n,
                                          Error *err)
{
    m->vconsole_slot = n;
    VirtioConsoleConfig cc = {.ports = {{.present = m->vm.console == VM_CONSOLE_VIRTIO,
                                         .console = true,
                                         .tx = machine_console_write,
                                         .opaque = m},
                                        {.present = true,
                                         .name = MACHINE_AGENT_PORT_NAME,
                                         .tx = machine_agent_rx,
                                         .writable = machine_agent_writable,
                                         .opaque = m}}};
    return virtio_console_new(c, &cc, err);
}

/* Build slot n's device, the one the definition's device list puts there. */
static VirtioMmio *machine_virtio_device(Machine *m, const DeviceArgs *a, Error *err)
{
    VirtioMmioConfig c = {.bus = a->bus, .base = a->base, .irq = a->irq};
    unsigned n = a->instance;
    VmSlot slot = m->vm.devices[n];
    switch (slot.kind) {
    case VM_DEV_BLK: return machine_virtio_blk(m, &c, slot.index, err);
    case VM_DEV_NET: return machine_virtio_net(m, &c, slot.index, err);
    case VM_DEV_RNG: return virtio_rng_new(&c, err);
    case VM_DEV_GPU: {
        VirtioGpuConfig gc = {m->vm.display.width, m->vm.display.height, m->loop};
        return virtio_gpu_new(&c, &gc, err);
    }
    case VM_DEV_CONSOLE: return machine_virtio_console(m, &c, n, err);
    case VM_DEV_KEYBOARD:
    case VM_DEV_TABLET: {
        VirtioInputConfig ic = {.kind = slot.kind == VM_DEV_KEYBOARD ? VIRTIO_INPUT_KEYBOARD
                                                                     : VIRTIO_INPUT_TABLET,
                                .loop = m->loop};
        return virtio_input_new(&c, &ic, err);
    }
    case VM_DEV_EMPTY:
    default: return virtio_placeholder_new(&c, err);
    }
}

Device *machine_virtio_create(const DeviceArgs *a, Error *err)
{
    Machine *m = a->opaque;
    VirtioMmio *v = machine_virtio_device(m, a, err);
    if (!v)
        return NULL;
    device_place(&v->dev, a);
    m->virtio[a->instance] = v;
    return &v->dev;
}

void machine_reset_devices(Machine *m)
{
    if (m->htif)
        htif_reset(m->htif);
    virt_reset_devices(m);
}

/* ---- console input (the VMM's buffers offer it) ---- */

/* The virtio-console, or NULL when the layout has none. */
static VirtioMmio *machine_vconsole(Machine *m)
{
    VirtioMmio *v = m->virtio[m->vconsole_slot];
    return v && m->vm.devices[m->vconsole_slot].kind == VM_DEV_CONSOLE ? v : NULL;
}

size_t machine_console_input(Machine *m, MachineConsolePort port, const uint8_t *buf, size_t len)
{
    if (port == MACHINE_CONSOLE_UART)
        return uart16550_receive(m->uart, buf, len);
    VirtioMmio *hvc = machine_vconsole(m);
    return hvc ? virtio_console_receive(hvc, buf, len) : 0;
}

MachineConsolePort machine_console_port(const Machine *m)
{
    return m->vm.console == VM_CONSOLE_VIRTIO ? MACHINE_CONSOLE_VIRTIO : MACHINE_CONSOLE_UART;
}

void machine_set_agent_sink(Machine *m, const MachineAgentSink *s)
{
    m->agent = s ? *s : (MachineAgentSink){0};
}

size_t machine_agent_send(Machine *m, const uint8_t *buf, size_t len)
{
    VirtioMmio *v = machine_vconsole(m);
    return v ? virtio_console_port_receive(v, 1, buf, len) : 0;
}

bool machine_agent_open(Machine *m)
{
    VirtioMmio *v = machine_vconsole(m);
    return v && virtio_console_port_open(v, 1);
}

void machine_set_feed_hook(Machine *m, void (*fn)(void *opaque), void *opaque)
{
    m->feed_hook = fn;
    m->feed_opaque = opaque;
}

/* ---- construction ---- */

void machine_host_default(MachineHost *host)
{
    *host = (MachineHost){.out_fd = 1, .err_fd = 2};
}

/* A store or DMA is about to change a page holding decoded code: every
 * hart drops its blocks there. */
static void machine_code_write(void *opaque, uint64_t page_pa)
{
    Machine *m = opaque;
    for (unsigned i = 0; i < m->nharts; i++)
        hart_invalidate_code(m->harts[i], page_pa);
    *bus_page_flags(&m->bus, page_pa) &= (uint8_t)~BUS_PAGE_CODE;
}

/* A page now holds decoded code: no hart may keep storing to it unseen. */
static void machine_code_marked(void *opaque, uint64_t page_pa)
{
    Machine *m = opaque;
    for (unsigned i = 0; i < m->nharts; i++)
        hart_tlb_flush_store_page(m->harts[i], page_pa);
}

static int machine_add_harts(Machine *m, Error *err)
{
    guest_clock_init(&m->clock);
    for (unsigned i = 0; i < m->vm.nharts; i++) {
        m->harts[i] = hart_new(&m->bus, i, err);
        if (!m->harts[i])
            return -1;
        m->harts[i]->stop = &m->stop;
        m->harts[i]->clock = &m->clock; /* one guest clock (hw/clock.h) */
        if (i > 0) /* one host thread runs every hart: they share decoded code */
            hart_share_bcache(m->harts[i], m->harts[0]);
        m->nharts++;
    }
    m->bus.code_write = machine_code_write;
    m->bus.code_write_opaque = m;
    m->bus.code_marked = machine_code_marked;
    m->bus.code_marked_opaque = m;
    return 0;
}

/* The boot ROM, then the device table; the board keeps the devices it talks to. */
static int machine_add_devices(Machine *m, Error *err)
{
    const MemMapEntry *rom = &virt_memmap[VIRT_ROM];
    if (bus_add_rom(&m->bus, "boot-rom", rom->base, rom->size, m->rom, err) < 0 ||
        virt_create_devices(m, err) < 0)
        return -1;
    m->uart = virt_find(m, &uart16550_device_ops, 0);
    m->rtc = virt_find(m, &goldfish_rtc_device_ops, 0);
    m->vmgenid = virt_find(m, &vmgenid_device_ops, 0);
    m->gpio = virt_find(m, &sifive_gpio_device_ops, 0);
    if (!m->uart || !m->rtc || !m->vmgenid || !m->gpio)
        return error_set(err, "the device table lacks the UART, the RTC, the VM generation ID "
                              "or the GPIO controller");
    return 0;
}

Machine *machine_new(const VmConfig *vm, const MachineHost *host, Error *err)
{
    if (vmconfig_check(vm, err) < 0)
        return NULL;
    Machine *m = calloc(1, sizeof(*m));
    if (!m) {
        error_set(err, "out of memory creating the machine");
        return NULL;
    }
    if (vmconfig_copy(&m->vm, vm, err) < 0) {
        free(m);
        return NULL;
    }
    m->host = *host;
    if (bus_init(&m->bus, virt_memmap[VIRT_DRAM].base, vm->ram_size, err) < 0) {
        vmconfig_free(&m->vm);
        free(m);
        return NULL;
    }
    m->loop = evloop_new(err);
    if (!m->loop || machine_add_harts(m, err) < 0)
        goto fail;
    if (machine_add_devices(m, err) < 0)
        goto fail;
    return m;
fail:
    machine_free(m);
    return NULL;
}

void machine_free(Machine *m)
{
    if (!m)
        return;
    virt_free_devices(m); /* virtio joins device threads: before the loop goes */
    for (unsigned i = 0; i < m->nharts; i++)
        hart_free(m->harts[i]);
    evloop_free(m->loop);
    elf_close(m->kernel);
    free((char *)m->boot.kernel);
    free((char *)m->boot.initrd);
    free((char *)m->boot.cmdline);
    free((char *)m->boot.bios);
    htif_free(m->htif);
    bus_destroy(&m->bus);
    vmconfig_free(&m->vm);
    free(m);
}

volatile bool *machine_stop_flag(Machine *m)
{
    return &m->stop;
}

void machine_kick(Machine *m)
{
    evloop_kick(m->loop);
}

void machine_stats(const Machine *m, MachineStats *st)
{
    *st = m->stats;
}

/* ---- kernel loading ---- */

/* Look a symbol up; 1 = found and 8-byte aligned, 0 = absent, -1 = error. */
static int machine_htif_symbol(Machine *m, const char *name, uint64_t *pa, Error *err)
{
    int found = elf_symbol(m->kernel, name, pa, err);
    if (found == 1 && *pa % HTIF_REG_SIZE)
        return error_set(err, "symbol %s at 0x%llx is not 8-byte aligned", name,
                         (unsigned long long)*pa);
    return found;
}

/* Map HTIF over tohost/fromhost when the kernel defines them. */
static int machine_add_htif(Machine *m, Error *err)
{
    uint64_t tohost, fromhost;
    int has_to = machine_htif_symbol(m, "tohost", &tohost, err);
    if (has_to <= 0)
        return has_to;
    int has_from = machine_htif_symbol(m, "fromhost", &fromhost, err);
    if (has_from < 0)
        return -1;
    HtifConfig cfg = {.bus = &m->bus,
                      .out = machine_console_write,
                      .err = machine_console_write_err,
                      .out_opaque = m,
                      .exit = machine_guest_exit,
                      .opaque = m};
    m->htif = htif_new(&cfg);
    if (!m->htif)
        return error_set(err, "out of memory creating HTIF");
    if (bus_add_mmio(&m->bus, "htif-tohost", tohost, HTIF_REG_SIZE, &htif_tohost_ops, m->htif,
                     err) < 0)
        return -1;
    if (has_from)
        return bus_add_mmio(&m->bus, "htif-fromhost", fromhost, HTIF_REG_SIZE, &htif_fromhost_ops,
                            m->htif, err);
    return 0;
}

/*
 * Put every hart at the kernel's entry, M-mode, a0 = hartid, a1 = 0 (no FDT
 * yet), then reset the interrupt controllers: they restart the common time
 * base and drive the harts' cleared mip lines again.
 */
static void machine_reset_harts(Machine *m)
{
    uint64_t entry = elf_entry(m->kernel);
    for (unsigned i = 0; i < m->nharts; i++) {
        Hart *h = m->harts[i];
        m->instret_base += h->instret;
        hart_reset(h, entry);
        h->x[10] = i;
        h->x[11] = 0;
    }
    machine_reset_devices(m);
}

int machine_load_kernel(Machine *m, const char *path, Error *err)
{
    if (m->kernel || m->linux_boot)
        return error_set(err, "%s: a kernel is already loaded", path);
    m->kernel = elf_open(path, err);
    if (!m->kernel)
        return -1;
    uint64_t entry = elf_entry(m->kernel);
    if (elf_load(m->kernel, &m->bus, err) < 0 || machine_add_htif(m, err) < 0)
        return -1;
    if (!bus_ram_ptr(&m->bus, entry, 2))
        return error_set(err, "%s: entry point 0x%llx is outside RAM", path,
                         (unsigned long long)entry);
    machine_reset_harts(m);
    return 0;
}

/* ---- running ---- */

static double machine_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

uint64_t machine_instret(const Machine *m)
{
    uint64_t n = m->instret_base;
    for (unsigned i = 0; i < m->nharts; i++)
        n += m->harts[i]->instret;
    return n;
}

void machine_invalidate_code(Machine *m)
{
    Bus *b = &m->bus;
    for (uint64_t pa = b->ram_base; pa - b->ram_base < b->ram_size; pa += BUS_PAGE_SIZE) {
        if ((*bus_page_flags(b, pa) & BUS_PAGE_CODE) && b->code_write)
            b->code_write(b->code_write_opaque, pa);
    }
}

/* The guest asked for a reset: reload the kernel image, reset devices and harts. */
static int machine_reset(Machine *m, Error *err)
{
    m->reset_requested = false;
    m->stop = false;
    if (m->linux_boot)
        return machine_boot_load(m, err);
    machine_invalidate_code(m);
    if (elf_load(m->kernel, &m->bus, err) < 0)
        return -1;
    machine_reset_harts(m);
    return 0;
}

/* Instructions each hart may run in its next turn (0 when the limit is reached). */
static uint64_t machine_budget(const Machine *m)
{
    if (!m->host.max_insns)
        return MACHINE_SLICE;
    uint64_t done = machine_instret(m);
    if (done >= m->host.max_insns)
        return 0;
    uint64_t left = m->host.max_insns - done;
    return left < MACHINE_SLICE ? left : MACHINE_SLICE;
}

/* ---- the run loop ---- */

/* True if some hart has an interrupt both pending and enabled (WFI is over). */
static bool machine_irq_pending(const Machine *m)
{
    for (unsigned i = 0; i < m->nharts; i++) {
        const Hart *h = m->harts[i];
        if (!h->halted && (__atomic_load_n(&h->mip, __ATOMIC_RELAXED) & h->mie))
            return true;
    }
    return false;
}

/*
 * Every hart waits for an interrupt: block in the event loop until the
 * next timer deadline (at most MACHINE_IDLE_MAX_NS), an fd event, a call
 * queued by a device thread, machine_kick() or a signal.
 */
static void machine_idle(Machine *m)
{
    uint64_t ns = virt_next_deadline_ns(m);
    if (m->stop || ns == 0 || machine_irq_pending(m))
        return;
    evloop_run_once(m->loop, ns < MACHINE_IDLE_MAX_NS ? ns : MACHINE_IDLE_MAX_NS);
}

/* Give every hart one turn; sleep if they are all waiting for an interrupt. */
static void machine_turn(Machine *m, uint64_t budget)
{
    bool all_idle = true;
    if (m->feed_hook)
        m->feed_hook(m->feed_opaque);
    evloop_run_once(m->loop, 0);
    if (m->paused) /* paused by the VMM: not one more slice */
        return;
    virt_poll_devices(m);
    uint64_t t0 = m->throttle_pct ? timer_now_ns() : 0;
    for (unsigned i = 0; i < m->nharts && !m->stop; i++) {
        if (m->harts[i]->halted)
            continue;
        virt_poll_devices(m); /* the timers again: this hart's MTIP is current */
        if (hart_run(m->harts[i], budget) != HART_EXIT_WFI)
            all_idle = false;
    }
    if (m->throttle_pct && !all_idle) {
        uint64_t now = timer_now_ns();
        m->throttle_until = now + (now - t0) * m->throttle_pct / (100 - m->throttle_pct);
    }
    if (all_idle && !m->stop)
        machine_idle(m);
}

/* Throttled: wait out the harts' sleep in the event loop (devices, fds and calls go on). */
static bool machine_throttled(Machine *m)
{
    if (!m->throttle_pct || !m->throttle_until)
        return false;
    uint64_t now = timer_now_ns();
    if (now >= m->throttle_until) {
        m->throttle_until = 0;
        return false;
    }
    evloop_run_once(m->loop, m->throttle_until - now);
    virt_poll_devices(m); /* the guest's timers keep time while the harts sleep */
    return true;
}

/* Run until a stop; returns the reason, or -1 if a reset failed. */
static int machine_loop(Machine *m, Error *err)
{
    for (;;) {
        if (m->stop && m->reset_requested && !m->exited) {
            if (machine_reset(m, err) < 0)
                return -1;
            continue;
        }
        if (m->stop)
            return m->exited ? MACHINE_STOP_GUEST : MACHINE_STOP_HOST;
        if (m->paused) { /* no CPU use: wake for the VMM's fds, devices, signals */
            evloop_run_once(m->loop, MACHINE_IDLE_MAX_NS);
            continue;
        }
        if (machine_throttled(m))
            continue;
        uint64_t budget = machine_budget(m);
        if (budget == 0)
            return MACHINE_STOP_LIMIT;
        machine_turn(m, budget);
    }
}

int machine_run(Machine *m, Error *err)
{
    double start = machine_now();
    uint64_t paused_before = machine_paused_total_ns(m);
    /* bench/state times start-up (e.g. run --restore) to the first guest slice by this. */
    if (getenv("HOSTEL_TRACE_START"))
        log_info("run loop starts at monotonic %.6f s", (double)timer_now_ns() * 1e-9);
    int why = machine_loop(m, err);
    /* Paused time is not run time: keep MIPS honest. */
    m->stats.seconds =
        machine_now() - start - (double)(machine_paused_total_ns(m) - paused_before) * 1e-9;
    m->stats.instret = machine_instret(m);
    if (why < 0)
        return -1;
    m->stats.why = (MachineStop)why;
    return why == MACHINE_STOP_GUEST ? m->exit_status : 0;
}

/* ---- pause and what the VMM reads ---- */

uint8_t *machine_ram(Machine *m, uint64_t *size)
{
    *size = m->bus.ram_size;
    return m->bus.ram;
}

void machine_dirty_log_start(Machine *m)
{
    bus_dirty_log_start(&m->bus);
}

uint64_t machine_dirty_log_sync(Machine *m, uint8_t *bitmap)
{
    return bus_dirty_log_sync(&m->bus, bitmap);
}

void machine_dirty_log_stop(Machine *m)
{
    bus_dirty_log_stop(&m->bus);
}

void machine_set_throttle(Machine *m, unsigned pct)
{
    m->throttle_pct = pct > 99 ? 99 : pct;
    if (!pct)
        m->throttle_until = 0;
}

unsigned machine_throttle(const Machine *m)
{
    return m->throttle_pct;
}

bool machine_paused(const Machine *m)
{
    return m->paused;
}

void machine_pause(Machine *m)
{
    if (m->paused)
        return;
    m->paused = true;
    guest_clock_pause(&m->clock); /* time CSR, mtime, RTC: frozen while paused */
}

void machine_resume(Machine *m)
{
    if (!m->paused)
        return;
    guest_clock_resume(&m->clock);
    m->paused = false;
}

void machine_power_button(Machine *m)
{
    sifive_gpio_press(m->gpio, SIFIVE_GPIO_POWER_PIN, SIFIVE_GPIO_PRESS_NS);
}

void machine_settle_clock(Machine *m)
{
    guest_clock_settle(&m->clock);
}

uint64_t machine_paused_total_ns(const Machine *m)
{
    return guest_clock_paused_ns(&m->clock);
}

uint64_t machine_guest_ns(const Machine *m)
{
    return hart_time(m->harts[0]) * 100; /* the time CSR counts at 10 MHz */
}

EventLoop *machine_event_loop(Machine *m)
{
    return m->loop;
}

const VmConfig *machine_config(const Machine *m)
{
    return &m->vm;
}

void machine_hart_info(const Machine *m, unsigned i, MachineHartInfo *out)
{
    const Hart *h = m->harts[i];
    *out = (MachineHartInfo){.id = (unsigned)h->mhartid,
                             .pc = h->pc,
                             .priv = h->priv,
                             .halted = h->halted,
                             .wfi = h->wfi};
}

void machine_slot_info(const Machine *m, unsigned slot, MachineSlotInfo *out)
{
    const VirtioMmio *v = m->virtio[slot];
    *out = (MachineSlotInfo){.base = v->cfg.base,
                             .irq = v->cfg.irq.src,
                             .kind = v->ops->device_id ? v->ops->name : "empty"};
}

struct VirtioMmio *machine_input_device(Machine *m, bool tablet)
{
    int slot = vmconfig_slot_of(&m->vm, tablet ? VM_DEV_TABLET : VM_DEV_KEYBOARD, 0);
    return slot < 0 ? NULL : m->virtio[slot];
}

struct VirtioMmio *machine_gpu_device(Machine *m)
{
    int slot = vmconfig_slot_of(&m->vm, VM_DEV_GPU, 0);
    return slot < 0 ? NULL : m->virtio[slot];
}

void machine_disk_info(const Machine *m, unsigned i, const char **format, uint64_t *length)
{
    *format = m->disk_info[i].format;
    *length = m->disk_info[i].length;
}

VirtioMmio *machine_nic_device(Machine *m, unsigned i)
{
    if (i >= m->vm.nnics)
        return NULL;
    return m->virtio[vmconfig_slot_of(&m->vm, VM_DEV_NET, i)];
}

uint64_t machine_ram_resident(const Machine *m)
{
    enum { CHUNK_PAGES = 4096 }; /* one mincore call per chunk: a small vector on the stack */
    unsigned char vec[CHUNK_PAGES];
    uint64_t page = (uint64_t)sysconf(_SC_PAGESIZE), resident = 0;
    for (uint64_t off = 0; off < m->bus.ram_size; off += CHUNK_PAGES * page) {
        uint64_t len = m->bus.ram_size - off;
        if (len > CHUNK_PAGES * page)
            len = CHUNK_PAGES * page;
        if (mincore(m->bus.ram + off, (size_t)len, vec) < 0)
            return 0;
        for (uint64_t i = 0; i < (len + page - 1) / page; i++)
            resident += vec[i] & 1;
    }
    return resident * page;
}

VirtioMmio *machine_disk_device(Machine *m, unsigned i)
{
    if (i >= m->vm.ndisks)
        return NULL;
    return m->virtio[vmconfig_slot_of(&m->vm, VM_DEV_BLK, i)];
}
