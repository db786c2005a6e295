/*
 * Loading a Linux guest into RAM: the kernel (a RISC-V `Image` or an ELF
 * vmlinux), the initrd, and where the device tree goes.
 *
 * Layout (RAM at R, size S): kernel at R + text_offset (0x200000 for
 * RV64), device tree in the last BOOT_FDT_ROOM bytes of RAM, initrd just
 * below the device tree, page-aligned.
 */
#ifndef HOSTEL_MACHINE_BOOT_H
#define HOSTEL_MACHINE_BOOT_H

#include <stdbool.h>
#include <stdint.h>

#include "hw/bus.h"
#include "util/error.h"

#define BOOT_FDT_ROOM (2ull << 20)     /* reserved at the top of RAM for the FDT */
#define RISCV_IMAGE_MAGIC2 0x05435352u /* "RSC\x05" at offset 0x38 */

typedef struct BootLayout {
    uint64_t entry;        /* where the boot hart starts */
    uint64_t kernel_start; /* guest-physical range the kernel occupies */
    uint64_t kernel_end;
    uint64_t initrd_start; /* 0 when there is none */
    uint64_t initrd_end;
    uint64_t fdt_addr; /* where the device tree is to be copied */
    bool is_elf;       /* the kernel was an ELF (bare-metal program or vmlinux) */
} BootLayout;

/* Does this file start like a RISC-V Linux Image?  Returns 1, 0, or -1 with err. */
int boot_is_linux_image(const char *path, Error *err);

/*
 * Load a Linux Image at R + text_offset.  Fills entry/kernel_*.  Errors:
 * missing or unreadable file, not an RV64 Image, too big for RAM.
 */
int boot_load_image(Bus *bus, const char *path, BootLayout *lay, Error *err);

/*
 * Load a payload that is not a Linux Image for M-mode firmware to start
 * (e.g. U-Boot): an ELF at its own addresses, else a flat binary at
 * RAM + BOOT_PAYLOAD_OFFSET.  Fills entry/kernel_*.
 */
int boot_load_payload(Bus *bus, const char *path, BootLayout *lay, Error *err);
#define BOOT_PAYLOAD_OFFSET 0x200000ull

/*
 * Load the initrd below the FDT room; fills initrd_* and fdt_addr.  Fails
 * if it would overlap the kernel.  Call after the kernel is loaded.
 */
int boot_load_initrd(Bus *bus, const char *path, BootLayout *lay, Error *err);

/* Place the device tree (fills fdt_addr) when there is no initrd. */
void boot_place_fdt(const Bus *bus, BootLayout *lay);

/* Copy the finished tree blob into RAM at lay->fdt_addr. Returns 0 or -1. */
int boot_copy_fdt(Bus *bus, const BootLayout *lay, const void *blob, uint64_t size, Error *err);

#endif
