/*
 * A VM definition (VmConfig): RAM, harts, what to boot, the disks, the
 * network cards, and which virtio-mmio slot holds which device.  One codec
 * reads and writes it as JSON (vmconfig_from_json, vmconfig_to_json) for
 * every user of a definition: `hostel run --config`, the state file's
 * configuration section, and later the management daemon and migration.
 *
 * What the process lends a running machine (console fds, run limits) is not
 * part of a definition: see MachineHost in machine/machine.h.
 *
 * This module depends on util/, jansson and net/net.c's card parsing only,
 * so a program without the emulator can link it.
 */
#ifndef HOSTEL_MACHINE_VMCONFIG_H
#define HOSTEL_MACHINE_VMCONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "net/net.h"
#include "util/error.h"

struct json_t; /* jansson's json_t */

#define VMCONFIG_MAX_HARTS 8
#define VMCONFIG_MIN_RAM (16ull << 20)
#define VMCONFIG_MAX_RAM (1ull << 40)
#define VMCONFIG_DEFAULT_RAM (128ull << 20)
#define VMCONFIG_SLOTS 8     /* virtio-mmio slots of the board */
#define VMCONFIG_MAX_DISKS 6 /* the default layout keeps two slots for rng and console */
#define VMCONFIG_MAX_NICS 6

/* What a virtio-mmio slot holds. */
typedef enum VmDeviceKind {
    VM_DEV_EMPTY,    /* a placeholder the guest's drivers skip */
    VM_DEV_BLK,      /* disks[index] */
    VM_DEV_NET,      /* nics[index] */
    VM_DEV_RNG,      /* virtio-rng: at most one */
    VM_DEV_CONSOLE,  /* virtio-console: exactly one */
    VM_DEV_GPU,      /* virtio-gpu: one when the definition has a display, else none */
    VM_DEV_KEYBOARD, /* virtio-input keyboard: at most one */
    VM_DEV_TABLET,   /* virtio-input tablet (absolute pointer): at most one */
} VmDeviceKind;

typedef struct VmSlot {
    VmDeviceKind kind;
    unsigned index; /* VM_DEV_BLK, VM_DEV_NET: which disk or card; else 0 */
} VmSlot;

/* A virtio-blk disk (-d PATH[,ro][,format=F][,l2-cache-size=S]). */
typedef struct VmDisk {
    char *path; /* owned */
    bool read_only;
    char *format;            /* owned: "raw", "qcow2", or NULL: probe */
    uint64_t l2_cache_bytes; /* qcow2 L2 cache; 0 = the driver's default */
} VmDisk;

/* The display (--display headless[,width=W,height=H]): a virtio-gpu; no front end yet. */
#define VMCONFIG_DISPLAY_MIN 16   /* width or height */
#define VMCONFIG_DISPLAY_MAX 4095 /* (EDID's 12-bit fields) */
typedef struct VmDisplay {
    bool enabled;           /* false: --display none (the default) */
    uint32_t width, height; /* the mode the guest is offered; 1024x768 by default */
} VmDisplay;

/* What to boot; every string owned, NULL when absent. */
typedef struct VmBoot {
    char *kernel;
    char *initrd;
    char *cmdline;
    char *bios; /* NULL: built-in SBI; "none": bare-metal ELF; else M-mode firmware */
} VmBoot;

/*
 * Which device the console is (--console): the 16550 UART (ttyS0, and the
 * SBI console) or virtio-console's console port (a Linux hvc).  The other
 * one is not attached to the console: one console, never two mixed.
 */
typedef enum VmConsole {
    VM_CONSOLE_SERIAL, /* the default: what console=ttyS0 expects */
    VM_CONSOLE_VIRTIO,
} VmConsole;

/*
 * Parse a --console value: "serial" (or "ttyS0") or "virtio" (or "hvc0",
 * "hvc").  Returns 0, or -1 with err filled (one line).
 */
int vmconfig_console_parse(VmConsole *c, const char *spec, Error *err);

/* "serial" or "virtio". */
const char *vmconfig_console_name(VmConsole c);

typedef struct VmConfig {
    uint64_t ram_size; /* bytes: multiple of 4 KiB, VMCONFIG_MIN_RAM..VMCONFIG_MAX_RAM */
    unsigned nharts;   /* 1..VMCONFIG_MAX_HARTS */
    VmBoot boot;
    VmDisk disks[VMCONFIG_MAX_DISKS];
    unsigned ndisks;
    NetConfig nics[VMCONFIG_MAX_NICS]; /* each a user or tap card (never NET_NONE) */
    unsigned nnics;
    VmSlot devices[VMCONFIG_SLOTS]; /* slot n's device */
    VmDisplay display;
    VmConsole console;
} VmConfig;

/*
 * Booting from a disk as a PC does: Debian's OpenSBI (package opensbi) as
 * the M-mode firmware and Debian's U-Boot for QEMU's virt board in S-mode
 * (package u-boot-qemu) as its payload; U-Boot finds the disk and boots
 * its extlinux.conf or EFI loader.  A disk boot gets VMCONFIG_FIRMWARE_RAM
 * unless the RAM is given (a distribution does not fit in 128 MiB; RAM is
 * reserved, not allocated).
 */
#define VMCONFIG_FIRMWARE_OPENSBI "/usr/lib/riscv64-linux-gnu/opensbi/generic/fw_dynamic.bin"
#define VMCONFIG_FIRMWARE_UBOOT "/usr/lib/u-boot/qemu-riscv64_smode/u-boot.bin"
#define VMCONFIG_FIRMWARE_RAM (1ull << 30)

/*
 * Make b boot through the firmware above: bios defaults to OpenSBI and
 * kernel to U-Boot (given ones are kept).  Returns 0, or -1 (no memory).
 */
int vmconfig_boot_firmware(VmBoot *b, Error *err);

/* 128 MiB, one hart, nothing to boot, no disk, no card, the default layout. */
void vmconfig_default(VmConfig *cfg);

/* Free what cfg owns and leave it as vmconfig_default made it. */
void vmconfig_free(VmConfig *cfg);

/* A deep copy of src into dst (dst's old contents are not freed). Returns 0, or -1 (no memory). */
int vmconfig_copy(VmConfig *dst, const VmConfig *src, Error *err);

/* Replace *slot with a copy of s (NULL clears it). Returns 0, or -1 (no memory). */
int vmconfig_set_string(char **slot, const char *s, Error *err);

/*
 * Append a disk (strings copied) or a card.  The slot layout is not
 * changed: call vmconfig_default_layout (or set devices) afterwards.
 * Returns 0, or -1 with err filled (list full, no memory, NET_NONE card).
 */
int vmconfig_add_disk(VmConfig *cfg, const VmDisk *disk, Error *err);
int vmconfig_add_nic(VmConfig *cfg, const NetConfig *nic, Error *err);

/*
 * Parse a --display value: "none", or "headless" with optional ",width=W"
 * and ",height=H".  Returns 0, or -1 with err filled (one line).
 */
int vmconfig_display_parse(VmDisplay *d, const char *spec, Error *err);

/*
 * A VNC server for the display (--display vnc=...): how the VM is run, not
 * part of its definition.  listen is "HOST:PORT" or "unix:PATH" ("" =
 * none); password_file "" = none.
 */
typedef struct VmVnc {
    char listen[128];
    char password_file[256];
} VmVnc;

/*
 * vmconfig_display_parse, and "vnc=HOST:PORT" or "vnc=unix:PATH" with
 * optional ",width=W", ",height=H", ",password-file=FILE": a display with
 * that VNC server (vnc->listen "" for the other forms).
 */
int vmconfig_display_parse_vnc(VmDisplay *d, VmVnc *vnc, const char *spec, Error *err);

/*
 * Lay the slots out as the board always has: the disks in order, then the
 * cards in order, virtio-rng, virtio-console, virtio-gpu if the definition
 * has a display, the input devices the layout held before (keyboard,
 * tablet), and empty slots.  Returns 0, or -1 with err filled when the
 * devices do not fit (devices unchanged).
 */
int vmconfig_default_layout(VmConfig *cfg, Error *err);

/*
 * Add the virtio-input keyboard and tablet (--input) to the first empty
 * slots, unless the layout has them already.  Returns 0, or -1 with err
 * filled when no slots are free (devices unchanged).
 */
int vmconfig_add_input(VmConfig *cfg, Error *err);

/*
 * Check every limit and rule: RAM, harts, lists, card options, distinct
 * MACs, and a device list that holds each disk and card exactly once, one
 * console and at most one rng.  Errors name the member at fault
 * ("harts: 9 requested, 1 to 8 are supported").  Returns 0, or -1.
 */
int vmconfig_check(const VmConfig *cfg, Error *err);

/* The slot holding kind/index, or -1 if no slot does. */
int vmconfig_slot_of(const VmConfig *cfg, VmDeviceKind kind, unsigned index);

/* A slot as the codec writes it: "blk:0", "net:1", "rng", "console", "keyboard", "tablet",
 * "empty". */
void vmconfig_slot_format(VmSlot s, char *buf, size_t size);

/*
 * A fresh identity for every card of cfg: a new random, locally
 * administered unicast MAC address each, no two alike (a clone's).
 */
void vmconfig_fresh_macs(VmConfig *cfg);

/* Parse a slot in vmconfig_slot_format's form. Returns false if s is not one. */
bool vmconfig_slot_parse(const char *s, VmSlot *slot);

/*
 * The codec.  vmconfig_from_json reads a definition (members: ram-size,
 * harts, boot, disks, nics, devices; each optional, defaults as
 * vmconfig_default, devices absent = the default layout) into cfg, filled
 * from scratch, and checks it with vmconfig_check.  Unknown members and
 * wrong types are refused; err names the member ("disks[1].path: not a
 * string").  On failure cfg holds nothing to free.  Returns 0 or -1.
 */
int vmconfig_from_json(const struct json_t *j, VmConfig *cfg, Error *err);

/* As vmconfig_from_json, from JSON text (len bytes). */
int vmconfig_from_text(const char *text, size_t len, VmConfig *cfg, Error *err);

/*
 * Read the configuration section of a state file of format 1 (hostel
 * before VmConfig: one "net" object or null, "devices" as virtio device
 * names, integer hostfwd addresses) into cfg.  Returns 0 or -1 as above.
 */
int vmconfig_from_json_v1(const struct json_t *j, VmConfig *cfg, Error *err);

/* cfg as JSON (every member written), or NULL if out of memory. */
struct json_t *vmconfig_to_json(const VmConfig *cfg);

/* cfg as compact JSON text (malloc'd), or NULL if out of memory. */
char *vmconfig_to_text(const VmConfig *cfg);

#endif
