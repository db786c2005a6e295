/*
 * Booting Linux on the virt board: loading kernel, initrd, firmware and
 * device tree, the built-in SBI firmware's platform (harts, console,
 * power), and SBI HSM.  Bare-metal ELF programs go through
 * machine_load_kernel() in machine.c instead.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "hw/fdt.h"
#include "machine/machine_int.h"
#include "machine/sbi.h"

#define FW_DYNAMIC_MAGIC 0x4942534full /* "OSBI" */
#define FW_DYNAMIC_VERSION 2
#define BOOT_ISA "rv64imafdc_zicntr_zicsr_zifencei_zihintpause_sstc"

static const char *const isa_extensions[] = {
    "i", "m", "a", "f", "d", "c", "zicntr", "zicsr", "zifencei", "zihintpause", "sstc"};

/* ---- the device tree ---- */

static void fdt_cpu(DeviceTree *dt, unsigned i)
{
    dt_begin_at(dt, "cpu", i);
    dt_prop_str(dt, "device_type", "cpu");
    dt_prop_u32(dt, "reg", i);
    dt_prop_str(dt, "status", "okay");
    dt_prop_str(dt, "compatible", "riscv");
    dt_prop_str(dt, "riscv,isa", BOOT_ISA);
    dt_prop_str(dt, "riscv,isa-base", "rv64i");
    dt_prop_strs(dt, "riscv,isa-extensions", isa_extensions,
                 sizeof(isa_extensions) / sizeof(isa_extensions[0]));
    dt_prop_str(dt, "mmu-type", "riscv,sv48");
    dt_begin(dt, "interrupt-controller");
    dt_prop_u32(dt, "#interrupt-cells", 1);
    dt_prop_empty(dt, "interrupt-controller");
    dt_prop_str(dt, "compatible", "riscv,cpu-intc");
    dt_prop_u32(dt, "phandle", FDT_PHANDLE_CPU_INTC(i));
    dt_end(dt);
    dt_end(dt);
}

static void fdt_cpus(DeviceTree *dt, unsigned nharts)
{
    dt_begin(dt, "cpus");
    dt_prop_u32(dt, "#address-cells", 1);
    dt_prop_u32(dt, "#size-cells", 0);
    dt_prop_u32(dt, "timebase-frequency", HART_TIMEBASE_HZ);
    for (unsigned i = 0; i < nharts; i++)
        fdt_cpu(dt, i);
    dt_end(dt);
}

static void fdt_chosen(DeviceTree *dt, const Machine *m, const BootLayout *lay)
{
    char stdout_path[64];
    snprintf(stdout_path, sizeof(stdout_path), "/soc/serial@%llx",
             (unsigned long long)virt_memmap[VIRT_UART0].base);
    dt_begin(dt, "chosen");
    dt_prop_str(dt, "bootargs", m->boot.cmdline ? m->boot.cmdline : "");
    dt_prop_str(dt, "stdout-path", stdout_path);
    if (lay->initrd_start) {
        dt_prop_u64(dt, "linux,initrd-start", lay->initrd_start);
        dt_prop_u64(dt, "linux,initrd-end", lay->initrd_end);
    }
    dt_end(dt);
}

int machine_build_fdt(Machine *m, const BootLayout *lay, DeviceTree *dt, Error *err)
{
    if (dt_start(dt, err) < 0)
        return -1;
    dt_prop_u32(dt, "#address-cells", 2);
    dt_prop_u32(dt, "#size-cells", 2);
    dt_prop_str(dt, "compatible", "riscv-virtio");
    dt_prop_str(dt, "model", "hostel,virt");
    fdt_chosen(dt, m, lay);
    dt_begin_at(dt, "memory", m->bus.ram_base);
    dt_prop_str(dt, "device_type", "memory");
    dt_prop_reg(dt, m->bus.ram_base, m->bus.ram_size);
    dt_end(dt);
    fdt_cpus(dt, m->nharts);
    dt_begin(dt, "soc");
    dt_prop_u32(dt, "#address-cells", 2);
    dt_prop_u32(dt, "#size-cells", 2);
    dt_prop_str(dt, "compatible", "simple-bus");
    dt_prop_empty(dt, "ranges");
    virt_fdt_devices(m, dt);
    dt_end(dt);
    return dt_finish(dt, err);
}

/* ---- built-in SBI platform ---- */

static unsigned plat_nharts(void *opaque)
{
    return ((Machine *)opaque)->nharts;
}

static Hart *plat_hart(void *opaque, unsigned id)
{
    return ((Machine *)opaque)->harts[id];
}

static int plat_hart_state(void *opaque, unsigned id)
{
    return ((Machine *)opaque)->hsm[id];
}

/* Put hart h in S-mode at pc as the built-in firmware hands over harts. */
static void enter_supervisor(Machine *m, Hart *h, uint64_t pc, uint64_t a0, uint64_t a1);

static int plat_hart_start(void *opaque, unsigned id, uint64_t pc, uint64_t arg)
{
    Machine *m = opaque;
    if (m->hsm[id] != SBI_HSM_STOPPED)
        return SBI_ERR_ALREADY_AVAILABLE;
    if (!bus_ram_ptr(&m->bus, pc, 4))
        return SBI_ERR_INVALID_ADDRESS;
    enter_supervisor(m, m->harts[id], pc, id, arg);
    m->hsm[id] = SBI_HSM_STARTED;
    return SBI_SUCCESS;
}

static void plat_hart_stop(void *opaque, Hart *self)
{
    Machine *m = opaque;
    m->hsm[self->mhartid] = SBI_HSM_STOPPED;
    self->halted = true;
}

/*
 * The SBI console shares the UART's input, as firmware reading the UART
 * would: bytes the UART already holds are older than those the VMM still
 * queues, so they come first; when it is empty, the feed hook offers the
 * queued ones.  Skipping them stranded the first byte typed on hvc0
 * (Linux's SBI console) in the UART, which nothing drains then.
 */
static int plat_console_read(void *opaque)
{
    Machine *m = opaque;
    int c = uart16550_getc(m->uart);
    if (c >= 0 || !m->feed_hook)
        return c;
    m->feed_hook(m->feed_opaque);
    return uart16550_getc(m->uart);
}

static void plat_system_reset(void *opaque, uint32_t type, uint32_t reason)
{
    if (type == SBI_RESET_SHUTDOWN)
        machine_guest_exit(opaque, reason != 0, 1);
    else
        machine_guest_reset(opaque);
}

static void plat_set_timer(void *opaque, Hart *h, uint64_t when)
{
    hart_set_stimecmp(h, when);
}

static bool sbi_hook(void *opaque, Hart *h)
{
    static const SbiPlatform ops = {
        .nharts = plat_nharts,
        .hart = plat_hart,
        .hart_state = plat_hart_state,
        .hart_start = plat_hart_start,
        .hart_stop = plat_hart_stop,
        .console_write = machine_serial_write,
        .console_read = plat_console_read,
        .system_reset = plat_system_reset,
        .set_timer = plat_set_timer,
    };
    SbiPlatform p = ops;
    p.opaque = opaque;
    return sbi_ecall(&p, h);
}

static void enter_supervisor(Machine *m, Hart *h, uint64_t pc, uint64_t a0, uint64_t a1)
{
    hart_reset(h, pc);
    h->halted = false;
    /* What M-mode firmware would leave behind: everything delegated to S,
     * counters and Sstc open to S, SBI calls served in C. */
    h->medeleg = 0xb3ffull & ~(1ull << CAUSE_ECALL_S);
    h->mideleg = SIP_MASK;
    h->mcounteren = 0xffffffffull;
    h->scounteren = 0xffffffffull; /* as OpenSBI: user-mode rdtime/rdcycle (vDSO) work */
    h->menvcfg = 1ull << 63;       /* STCE */
    h->priv = PRV_S;
    h->x[10] = a0;
    h->x[11] = a1;
    h->ecall_hook = sbi_hook;
    h->ecall_opaque = m;
    hart_update_mmu(h);
}

/* ---- loading ---- */

/* Firmware: an ELF, or a flat binary loaded at the start of RAM. */
static int load_firmware(Machine *m, uint64_t *entry, Error *err)
{
    ElfFile *e = elf_open(m->boot.bios, NULL);
    if (e) {
        int r = elf_load(e, &m->bus, err);
        *entry = elf_entry(e);
        elf_close(e);
        return r;
    }
    int fd = open(m->boot.bios, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return error_set_errno(err, errno, "%s", m->boot.bios);
    uint8_t *dst = bus_ram_ptr(&m->bus, m->bus.ram_base, 2ull << 20);
    ssize_t n = dst ? read(fd, dst, 2ull << 20) : -1;
    close(fd);
    if (n <= 0)
        return error_set(err, "%s: cannot read firmware (empty, unreadable, or RAM too small)",
                         m->boot.bios);
    *entry = m->bus.ram_base;
    return 0;
}

/*
 * The boot ROM's contents, as QEMU virt's reset vector: every hart starts at
 * the ROM (virt_memmap[VIRT_ROM]) with a0 = mhartid, a1 = the device tree, a2 = OpenSBI's
 * fw_dynamic info (next stage = the kernel, in S-mode), and jumps to the
 * firmware.  Words 6-9 hold the firmware entry and the FDT address.
 */
static void write_boot_rom(Machine *m, const BootLayout *lay, uint64_t fw_entry)
{
    static const uint32_t code[6] = {
        0x00000297, /* auipc t0, 0 */
        0x02828613, /* addi  a2, t0, 40    (fw_dynamic info) */
        0xf1402573, /* csrr  a0, mhartid */
        0x0202b583, /* ld    a1, 32(t0)    (FDT) */
        0x0182b283, /* ld    t0, 24(t0)    (firmware entry) */
        0x00028067, /* jr    t0 */
    };
    uint64_t words[2] = {fw_entry, lay->fdt_addr};
    uint64_t info[6] = {FW_DYNAMIC_MAGIC,
                        FW_DYNAMIC_VERSION,
                        lay->entry,
                        1 /* S-mode */,
                        0,
                        ~0ull /* any boot hart */};
    memset(m->rom, 0, sizeof(m->rom));
    memcpy(m->rom, code, sizeof(code));
    memcpy(m->rom + 24, words, sizeof(words));
    memcpy(m->rom + 40, info, sizeof(info));
}

static int load_kernel_initrd(Machine *m, BootLayout *lay, Error *err)
{
    memset(lay, 0, sizeof(*lay));
    int is_image = boot_is_linux_image(m->boot.kernel, err);
    if (is_image < 0)
        return -1;
    if (!is_image && m->boot.bios) {
        if (boot_load_payload(&m->bus, m->boot.kernel, lay, err) < 0)
            return -1;
    } else if (boot_load_image(&m->bus, m->boot.kernel, lay, err) < 0) {
        return -1;
    }
    if (m->boot.initrd)
        return boot_load_initrd(&m->bus, m->boot.initrd, lay, err);
    boot_place_fdt(&m->bus, lay);
    return 0;
}

static void start_harts(Machine *m, const BootLayout *lay)
{
    for (unsigned i = 0; i < m->nharts; i++) {
        Hart *h = m->harts[i];
        m->instret_base += h->instret;
        if (m->boot.bios) {
            hart_reset(h, virt_memmap[VIRT_ROM].base); /* the reset vector sets a0-a2 */
            h->halted = false;
            h->ecall_hook = NULL;
            m->hsm[i] = SBI_HSM_STARTED;
        } else if (i == 0) {
            enter_supervisor(m, h, lay->entry, 0, lay->fdt_addr);
            m->hsm[i] = SBI_HSM_STARTED;
        } else {
            hart_reset(h, lay->entry);
            h->halted = true;
            m->hsm[i] = SBI_HSM_STOPPED;
        }
    }
    machine_reset_devices(m);
}

int machine_boot_load(Machine *m, Error *err)
{
    BootLayout lay;
    DeviceTree dt = {0};
    uint64_t fw_entry = 0;
    machine_invalidate_code(m);
    if (load_kernel_initrd(m, &lay, err) < 0)
        return -1;
    if (m->boot.bios && load_firmware(m, &fw_entry, err) < 0)
        return -1;
    int r = machine_build_fdt(m, &lay, &dt, err);
    if (r == 0)
        r = boot_copy_fdt(&m->bus, &lay, dt.blob, dt_size(&dt), err);
    dt_free(&dt);
    if (r < 0)
        return -1;
    if (m->boot.bios)
        write_boot_rom(m, &lay, fw_entry);
    start_harts(m, &lay);
    return 0;
}

static char *dup_or_null(const char *s)
{
    return s ? strdup(s) : NULL;
}

static int copy_boot(Machine *m, const MachineBoot *boot, Error *err)
{
    if (!boot->kernel)
        return error_set(err, "no kernel given");
    m->boot.kernel = dup_or_null(boot->kernel);
    m->boot.initrd = dup_or_null(boot->initrd);
    m->boot.cmdline = dup_or_null(boot->cmdline);
    m->boot.bios = dup_or_null(boot->bios);
    if (!m->boot.kernel || (boot->initrd && !m->boot.initrd) ||
        (boot->cmdline && !m->boot.cmdline) || (boot->bios && !m->boot.bios))
        return error_set(err, "out of memory");
    return 0;
}

int machine_set_boot(Machine *m, const MachineBoot *boot, Error *err)
{
    if (!m->boot.kernel && copy_boot(m, boot, err) < 0)
        return -1;
    m->linux_boot = true;
    for (unsigned i = 0; i < m->nharts; i++) { /* the built-in SBI serves S-mode ecalls */
        m->harts[i]->ecall_hook = m->boot.bios ? NULL : sbi_hook;
        m->harts[i]->ecall_opaque = m;
    }
    return 0;
}

int machine_boot(Machine *m, const MachineBoot *boot, Error *err)
{
    if (m->linux_boot || m->kernel)
        return error_set(err, "a kernel is already loaded");
    if (copy_boot(m, boot, err) < 0)
        return -1;
    m->linux_boot = true;
    return machine_boot_load(m, err);
}

int machine_dump_dtb(Machine *m, const MachineBoot *boot, const char *path, Error *err)
{
    BootLayout lay = {0};
    DeviceTree dt = {0};
    if (copy_boot(m, boot, err) < 0)
        return -1;
    boot_place_fdt(&m->bus, &lay);
    if (machine_build_fdt(m, &lay, &dt, err) < 0) {
        dt_free(&dt);
        return -1;
    }
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    size_t size = dt_size(&dt);
    int r = 0;
    if (fd < 0 || write(fd, dt.blob, size) != (ssize_t)size)
        r = error_set_errno(err, errno, "%s", path);
    if (fd >= 0 && close(fd) < 0 && r == 0)
        r = error_set_errno(err, errno, "%s", path);
    dt_free(&dt);
    return r;
}
