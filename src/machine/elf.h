/*
 * Loader for 64-bit little-endian RISC-V ELF executables (bare-metal
 * programs, firmware, kernels).  The file is hostile input: every size,
 * offset and count is checked against the file and against RAM before use,
 * and a corrupt file gives one clear error line, never a crash.
 */
#ifndef HOSTEL_MACHINE_ELF_H
#define HOSTEL_MACHINE_ELF_H

#include <stdint.h>

#include "hw/bus.h"
#include "util/error.h"

typedef struct ElfFile ElfFile;

/*
 * Open path and check its ELF header (64-bit, little-endian, EM_RISCV,
 * ET_EXEC).  Returns NULL with err filled ("PATH: no such file",
 * "PATH: not an ELF file", "PATH: not a 64-bit RISC-V ELF (machine N)", ...).
 */
ElfFile *elf_open(const char *path, Error *err);

/*
 * Copy every PT_LOAD segment to RAM at its physical address (p_paddr) and
 * zero its bss.  All segments are checked before the first byte is copied;
 * returns 0, or -1 with err filled (segment outside RAM, truncated file...).
 */
int elf_load(ElfFile *e, Bus *bus, Error *err);

/* The entry point address (e_entry). */
uint64_t elf_entry(const ElfFile *e);

/*
 * Look name up in the symbol table (.symtab).  Returns 1 and sets *value
 * when found, 0 when the file has no such symbol (or no symbol table), -1
 * with err filled when the table is corrupt.
 */
int elf_symbol(ElfFile *e, const char *name, uint64_t *value, Error *err);

/* Close the file and free everything; e may be NULL. */
void elf_close(ElfFile *e);

#endif
