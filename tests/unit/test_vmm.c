/*
 * Unit tests of the VMM without a socket: a Vmm over a small machine (a
 * fake Linux Image that never runs, one qcow2 disk), driven through its C
 * operations.  Pause and resume; the power button pressed and released;
 * save; a live snapshot whose completion fires once, later, with the right
 * result, while a second one (and a save) is refused; list, revert and
 * delete; a snapshot still finishing when the Vmm is freed; policies the
 * caller sets (no snapshot directory); console input from a pipe through
 * the escape filter to the UART;
 * console output into the sink the host, then the VMM, chose; vmm_clone
 * completing once on its worker thread, and its refusals.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "block/block.h"
#include "hw/uart16550.h"
#include "machine/machine_int.h"
#include "machine/virt.h"
#include "tap.h"
#include "util/evloop.h"
#include "util/timer.h"
#include "vmm/console.h"
#include "vmm/vmm.h"

static char dir[256];

/* What a completion saw. */
typedef struct Seen {
    int calls;
    bool ok;
    char name[80];
    char file[512];
    unsigned disks;
    uint64_t disk_bytes;
    bool state_file;
    char msg[sizeof(((Error *)0)->msg)];
} Seen;

static void seen_done(void *opaque, const VmmResult *r, const Error *err)
{
    Seen *s = opaque;
    s->calls++;
    s->ok = r != NULL;
    if (r) {
        snprintf(s->name, sizeof(s->name), "%s", r->name ? r->name : "");
        snprintf(s->file, sizeof(s->file), "%s", r->file ? r->file : "");
        s->disks = r->disks;
        s->disk_bytes = r->disk_bytes;
        s->state_file = r->state_file;
    } else {
        snprintf(s->msg, sizeof(s->msg), "%s", err->msg);
    }
}

/* A RISC-V Linux Image header and nothing else: enough to boot, never run. */
static void write_image(const char *path)
{
    uint8_t h[64] = {0};
    uint64_t text_offset = 0x200000, size = sizeof(h);
    memcpy(h + 8, &text_offset, 8);
    memcpy(h + 16, &size, 8);
    memcpy(h + 56, "RSC\x05", 4);
    FILE *f = fopen(path, "wb");
    fwrite(h, 1, sizeof(h), f);
    fclose(f);
}

/* A machine as make_machine builds it, lent host (NULL: the defaults, output to fd -1). */
static Machine *make_machine_host(const char *disk_format, const MachineHost *h)
{
    char disk[512], image[512];
    Error err = {0};
    snprintf(disk, sizeof(disk), "%s/disk.%s", dir, disk_format);
    snprintf(image, sizeof(image), "%s/Image", dir);
    write_image(image);
    BlockCreateOpts co = {.size = 1 << 20};
    unlink(disk);
    if (block_create(disk, disk_format, &co, &err) < 0)
        return NULL;
    VmConfig vm;
    MachineHost host;
    vmconfig_default(&vm);
    machine_host_default(&host);
    host.out_fd = -1;
    if (h)
        host = *h;
    vm.ram_size = 16ull << 20;
    VmDisk d = {.path = disk};
    Machine *m = NULL;
    MachineBoot boot = {.kernel = image};
    if (vmconfig_add_disk(&vm, &d, &err) == 0 && vmconfig_default_layout(&vm, &err) == 0)
        m = machine_new(&vm, &host, &err);
    if (m && machine_boot(m, &boot, &err) < 0) {
        machine_free(m);
        m = NULL;
    }
    vmconfig_free(&vm);
    if (!m)
        fprintf(stderr, "# machine: %s\n", err.msg);
    return m;
}

static Machine *make_machine(const char *disk_format)
{
    return make_machine_host(disk_format, NULL);
}

static Vmm *make_vmm(Machine *m, const char *snapdir, int in_fd)
{
    Error err = {0};
    VmmConfig c = {.name = "t", .snapshot_dir = snapdir, .in_fd = in_fd};
    Vmm *v = vmm_new(m, &c, &err);
    if (!v)
        fprintf(stderr, "# vmm: %s\n", err.msg);
    return v;
}

/* Run the VM thread's loop until s has seen a completion (at most 10 s). */
static void pump_until(Vmm *v, const Seen *s)
{
    uint64_t end = timer_now_ns() + 10000000000ull;
    while (!s->calls && timer_now_ns() < end)
        evloop_run_once(machine_event_loop(vmm_machine(v)), 50000000);
}

static void test_pause(Vmm *v)
{
    Machine *m = vmm_machine(v);
    vmm_pause(v);
    bool paused = machine_paused(m);
    vmm_pause(v); /* a no-op */
    vmm_resume(v);
    ok(paused && !machine_paused(m), "vmm_pause stops the harts, vmm_resume runs them again");
}

/* vmm_powerdown presses the board's power button, which lets go 100 ms of guest time later. */
static void test_powerdown(Vmm *v)
{
    Machine *m = vmm_machine(v);
    ok(!sifive_gpio_input(m->gpio, SIFIVE_GPIO_POWER_PIN), "the power button starts released");
    vmm_powerdown(v);
    uint64_t left = sifive_gpio_next_deadline_ns(m->gpio);
    ok(sifive_gpio_input(m->gpio, SIFIVE_GPIO_POWER_PIN) && left > 0 &&
           left <= SIFIVE_GPIO_PRESS_NS,
       "vmm_powerdown presses it, to be released within 100 ms of guest time");
    usleep(SIFIVE_GPIO_PRESS_NS / 1000 + 20000);
    virt_poll_devices(m);
    ok(!sifive_gpio_input(m->gpio, SIFIVE_GPIO_POWER_PIN) && !machine_paused(m),
       "the device poll releases it; the VM is not stopped by it");
}

static void test_save(Vmm *v)
{
    char file[512];
    Seen s = {0};
    Error err = {0};
    struct stat st;
    snprintf(file, sizeof(file), "%s/saved.state", dir);
    int rc = vmm_save(v, file, NULL, seen_done, &s, &err);
    ok(rc == 0 && s.calls == 1 && s.ok && strcmp(s.file, file) == 0 && s.disk_bytes > 0,
       "vmm_save completes once with the file and its size (%s)", rc ? err.msg : "ok");
    ok(stat(file, &st) == 0 && !machine_paused(vmm_machine(v)),
       "the state file exists and the VM runs again");
    Seen bad = {0};
    Error e2 = {0};
    rc = vmm_save(v, "/nonexistent-dir/x.state", NULL, seen_done, &bad, &e2);
    ok(rc < 0 && bad.calls == 0 && e2.msg[0], "a save that fails returns -1 and no completion");
}

static void test_snapshot_create(Vmm *v)
{
    Seen s = {0}, s2 = {0}, s3 = {0};
    Error err = {0}, e2 = {0}, e3 = {0};
    char want[512];
    struct stat st;
    snprintf(want, sizeof(want), "%s/snaps/one.state", dir);
    int rc = vmm_snapshot_create(v, "one", seen_done, &s, &err);
    ok(rc == 0, "a live snapshot starts (%s)", rc ? err.msg : "ok");
    bool busy = vmm_busy(v);
    int rc2 = vmm_snapshot_create(v, "two", seen_done, &s2, &e2);
    int rc3 = vmm_save(v, want, NULL, seen_done, &s3, &e3);
    ok(busy && s.calls == 0, "it finishes later: no completion before the loop runs");
    ok(rc2 < 0 && strstr(e2.msg, "in progress") && rc3 < 0 && strstr(e3.msg, "in progress"),
       "a second snapshot and a save are refused meanwhile (%s)", e2.msg);
    pump_until(v, &s);
    ok(s.calls == 1 && s.ok && strcmp(s.name, "one") == 0 && s.disks == 1 &&
           strcmp(s.file, want) == 0,
       "the completion fires once: name, file, one disk (%s)", s.ok ? s.file : s.msg);
    ok(stat(want, &st) == 0 && !vmm_busy(v) && s2.calls == 0 && s3.calls == 0,
       "the state file is in the caller's directory; the refused ones never complete");
    Seen again = {0};
    Error e4 = {0};
    rc = vmm_snapshot_create(v, "one", seen_done, &again, &e4);
    ok(rc < 0 && strstr(e4.msg, "exists") && again.calls == 0, "a name in use is refused");
}

static void test_snapshot_list_revert_delete(Vmm *v)
{
    VmmSnapshotInfo *list;
    size_t n = 0;
    Error err = {0};
    int rc = vmm_snapshot_list(v, &list, &n, &err);
    ok(rc == 0 && n == 1 && strcmp(list[0].name, "one") == 0 && list[0].disk_bytes > 0,
       "vmm_snapshot_list lists it");
    free(list);
    Seen r = {0}, d = {0}, d2 = {0};
    rc = vmm_snapshot_revert(v, "one", seen_done, &r, &err);
    ok(rc == 0 && r.calls == 1 && r.ok && strcmp(r.name, "one") == 0 &&
           !machine_paused(vmm_machine(v)),
       "revert completes once and the VM runs (%s)", rc ? err.msg : "ok");
    rc = vmm_snapshot_delete(v, "one", seen_done, &d, &err);
    ok(rc == 0 && d.calls == 1 && d.state_file, "delete removes the state file");
    rc = vmm_snapshot_delete(v, "one", seen_done, &d2, &err);
    ok(rc < 0 && d2.calls == 0 && strstr(err.msg, "no snapshot"), "then it is gone: %s", err.msg);
    rc = vmm_snapshot_list(v, &list, &n, &err);
    ok(rc == 0 && n == 0, "the list is empty");
    free(list);
}

/* Freed while the finisher runs: the completion still fires, once. */
static void test_free_while_finishing(void)
{
    Machine *m = make_machine("qcow2");
    char snapdir[300];
    snprintf(snapdir, sizeof(snapdir), "%s/snaps2", dir);
    Vmm *v = m ? make_vmm(m, snapdir, -1) : NULL;
    Seen s = {0};
    Error err = {0};
    int rc = v ? vmm_snapshot_create(v, "late", seen_done, &s, &err) : -1;
    vmm_free(v);
    machine_free(m);
    ok(rc == 0 && s.calls == 1 && s.ok && strcmp(s.name, "late") == 0,
       "vmm_free waits for a snapshot finishing and fires its completion once");
}

/* Policies are the caller's: no directory, no snapshots; raw disks cannot take part. */
static void test_refusals(void)
{
    Machine *m = make_machine("qcow2");
    Vmm *v = m ? make_vmm(m, NULL, -1) : NULL;
    Seen s = {0};
    Error err = {0};
    int rc = v ? vmm_snapshot_create(v, "x", seen_done, &s, &err) : 0;
    ok(rc < 0 && s.calls == 0 && strstr(err.msg, "named VM"),
       "without a snapshot directory, snapshots are refused: %s", err.msg);
    vmm_free(v);
    machine_free(m);
    m = make_machine("raw");
    char snapdir[300];
    snprintf(snapdir, sizeof(snapdir), "%s/snaps3", dir);
    v = m ? make_vmm(m, snapdir, -1) : NULL;
    Error e2 = {0};
    rc = v ? vmm_snapshot_create(v, "x", seen_done, &s, &e2) : 0;
    ok(rc < 0 && s.calls == 0 && strstr(e2.msg, "qcow2"), "a raw disk is refused: %s", e2.msg);
    vmm_free(v);
    machine_free(m);
}

/* Bytes from the input fd reach the UART; C-a x stops the run with VMM_STOP_QUIT. */
static void test_console_input(void)
{
    int p[2];
    Machine *m = make_machine("qcow2");
    if (!m || pipe(p) < 0) {
        ok(0, "console test set up");
        return;
    }
    Vmm *v = make_vmm(m, NULL, p[0]);
    Console con;
    console_open(&con, p[0], -1);
    vmm_set_console(v, &con);
    ssize_t w = write(p[1], "hi\x01x", 4);
    (void)w;
    evloop_run_once(machine_event_loop(m), 1000000000);
    /* The UART holds what it can; the rest waits in the VMM until the feed hook offers it. */
    int got[3];
    for (int i = 0; i < 3; i++) {
        got[i] = uart16550_getc(m->uart);
        m->feed_hook(m->feed_opaque); /* as the run loop does before each turn */
    }
    ok(got[0] == 'h' && got[1] == 'i' && got[2] < 0,
       "typed bytes reach the UART in order, the escape does not");
    Error err = {0};
    VmmStats st;
    int rc = vmm_run(v, &err);
    vmm_stats(v, &st);
    ok(rc == 0 && st.why == VMM_STOP_QUIT, "C-a x ends the run: VMM_STOP_QUIT (%d)", st.why);
    vmm_free(v);
    machine_free(m);
    close(p[0]);
    close(p[1]);
}

/* A console output sink that keeps what it gets. */
typedef struct Sink {
    char buf[64];
    size_t len;
    int calls;
} Sink;

static void sink_out(void *opaque, const uint8_t *buf, size_t len)
{
    Sink *s = opaque;
    for (size_t i = 0; i < len && s->len + 1 < sizeof(s->buf); i++)
        s->buf[s->len++] = (char)buf[i];
    s->calls++;
}

/* Guest console output goes to the sink the host chose, then to the one the VMM sets. */
static void test_console_sink(void)
{
    Sink a = {.len = 0}, b = {.len = 0};
    MachineHost h;
    machine_host_default(&h);
    h.out_fd = h.err_fd = -1;
    h.console_out = sink_out;
    h.console_opaque = &a;
    Machine *m = make_machine_host("raw", &h);
    ok(m != NULL, "a machine builds with a console sink");
    if (!m)
        return;
    uint64_t thr = virt_memmap[VIRT_UART0].base;
    bus_write(&m->bus, thr, 1, 'o');
    bus_write(&m->bus, thr, 1, 'k');
    machine_console_write(m, (const uint8_t *)"!\n", 2); /* virtio-console's tx, SBI console */
    ok(a.len == 4 && memcmp(a.buf, "ok!\n", 4) == 0 && a.calls == 3,
       "the UART's THR and the console writer land in the host's sink (%zu bytes)", a.len);
    Error err = {0};
    VmmConfig c = {.name = "t", .in_fd = -1, .console_out = sink_out, .console_opaque = &b};
    Vmm *v = vmm_new(m, &c, &err);
    ok(v != NULL, "a Vmm builds with its own console sink");
    bus_write(&m->bus, thr, 1, 'z');
    ok(b.len == 1 && b.buf[0] == 'z' && a.len == 4,
       "after vmm_new the UART writes to the VMM's sink, not the host's");
    vmm_free(v);
    machine_free(m);
}

/* What a clone's completion saw, from the worker thread. */
typedef struct CloneSeen {
    pthread_mutex_t lock;
    int calls;
    bool ok;
    bool other_thread;
    pthread_t caller;
    char file[512];
    char msg[sizeof(((Error *)0)->msg)];
} CloneSeen;

static void clone_seen(void *opaque, const VmmResult *r, const Error *err)
{
    CloneSeen *s = opaque;
    pthread_mutex_lock(&s->lock);
    s->calls++;
    s->ok = r != NULL;
    s->other_thread = !pthread_equal(pthread_self(), s->caller);
    snprintf(s->file, sizeof(s->file), "%s", r && r->file ? r->file : "");
    snprintf(s->msg, sizeof(s->msg), "%s", err ? err->msg : "");
    pthread_mutex_unlock(&s->lock);
}

/* Wait until s has seen a completion (10 s at most), then a little more for a second one. */
static void clone_wait_seen(CloneSeen *s)
{
    uint64_t end = timer_now_ns() + 10000000000ull;
    pthread_mutex_lock(&s->lock);
    while (!s->calls && timer_now_ns() < end) {
        pthread_mutex_unlock(&s->lock);
        usleep(1000);
        pthread_mutex_lock(&s->lock);
    }
    pthread_mutex_unlock(&s->lock);
    usleep(50000);
}

static void clone_seen_init(CloneSeen *s)
{
    memset(s, 0, sizeof(*s));
    pthread_mutex_init(&s->lock, NULL);
    s->caller = pthread_self();
}

/* vmm_clone: completes once on its worker; refuses bad arguments up front. */
static void test_clone(void)
{
    char src[512], dst[512], missing[512], bad[512];
    snprintf(src, sizeof(src), "%s/clone-src.raw", dir);
    snprintf(dst, sizeof(dst), "%s/clone-dst.qcow2", dir);
    snprintf(missing, sizeof(missing), "%s/no-such-disk.raw", dir);
    snprintf(bad, sizeof(bad), "%s/clone-bad.qcow2", dir);
    Error err = {0};
    BlockCreateOpts co = {.size = 1 << 20};
    ok(block_create(src, "raw", &co, &err) == 0, "a small raw disk to clone");
    CloneSeen s;
    clone_seen_init(&s);
    int rc = vmm_clone(src, dst, false, clone_seen, &s, &err);
    clone_wait_seen(&s);
    ok(rc == 0 && s.calls == 1 && s.ok && strcmp(s.file, dst) == 0,
       "vmm_clone of a raw disk completes once with success (%d calls) %s", s.calls, s.msg);
    ok(s.other_thread, "its completion runs on the worker thread");
    ok(access(dst, F_OK) == 0, "the overlay exists");

    Error e2 = {0};
    clone_seen_init(&s);
    rc = vmm_clone(missing, bad, false, clone_seen, &s, &e2);
    clone_wait_seen(&s);
    ok(rc < 0 && s.calls == 0 && strstr(e2.msg, "no-such-disk.raw"),
       "a missing source is refused up front, naming it, no completion: %s", e2.msg);
    Error e3 = {0};
    rc = vmm_clone(src, dst, false, clone_seen, &s, &e3);
    ok(rc < 0 && s.calls == 0 && strstr(e3.msg, "exists"), "an existing dst is refused: %s",
       e3.msg);
    Error e4 = {0};
    ok(vmm_clone("", dst, false, clone_seen, &s, &e4) < 0 && e4.msg[0] &&
           vmm_clone(src, NULL, false, clone_seen, &s, &e4) < 0 && s.calls == 0,
       "empty and NULL paths are refused: %s", e4.msg);

    /* A source that passes the checks but is no disk: the error comes through done. */
    clone_seen_init(&s);
    Error e5 = {0};
    rc = vmm_clone(dir, bad, false, clone_seen, &s, &e5);
    clone_wait_seen(&s);
    ok(rc == 0 && s.calls == 1 && !s.ok && s.msg[0] && access(bad, F_OK) < 0,
       "a clone that fails completes once with the error and leaves nothing: %s", s.msg);
}

int main(void)
{
    snprintf(dir, sizeof(dir), "/tmp/hostel-test-vmm-XXXXXX");
    if (!mkdtemp(dir))
        return 99;
    char snapdir[300];
    snprintf(snapdir, sizeof(snapdir), "%s/snaps", dir);
    Machine *m = make_machine("qcow2");
    Vmm *v = m ? make_vmm(m, snapdir, -1) : NULL;
    ok(v != NULL, "a Vmm builds over a machine with a qcow2 disk");
    if (v) {
        test_pause(v);
        test_powerdown(v);
        test_save(v);
        test_snapshot_create(v);
        test_snapshot_list_revert_delete(v);
    }
    vmm_free(v);
    machine_free(m);
    test_free_while_finishing();
    test_refusals();
    test_console_input();
    test_console_sink();
    test_clone();
    char cmd[300];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "# could not remove %s\n", dir);
    return tap_done();
}
