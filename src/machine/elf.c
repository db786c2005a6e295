/*
 * ELF64 RISC-V executable loader.  Reads only what it needs with pread
 * (headers, then each segment straight into guest RAM; the symbol table on
 * demand), so a large vmlinux with debug info is never read whole.  Every
 * value from the file is range-checked against the file size and RAM.
 */
#include "machine/elf.h"

#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#ifndef EM_RISCV
#define EM_RISCV 243
#endif

struct ElfFile {
    int fd;
    char *path;
    uint64_t file_size; /* bytes */
    Elf64_Ehdr eh;
    bool symtab_read; /* syms/strtab below are valid (possibly empty) */
    Elf64_Sym *syms;
    uint64_t nsyms;
    char *strtab;
    uint64_t strtab_size; /* bytes */
};

/* True if [off, off+len) lies inside the file (no wrap-around). */
static bool elf_in_file(const ElfFile *e, uint64_t off, uint64_t len)
{
    return off <= e->file_size && len <= e->file_size - off;
}

/* Fill err for a part [off, off+len) that does not lie inside the file; returns -1. */
static int elf_truncated(const ElfFile *e, const char *what, uint64_t off, uint64_t len, Error *err)
{
    return error_set(err, "%s: truncated ELF file (%s at 0x%llx+0x%llx, file has 0x%llx bytes)",
                     e->path, what, (unsigned long long)off, (unsigned long long)len,
                     (unsigned long long)e->file_size);
}

/* Read exactly len bytes at off into buf; what names the part for errors. */
static int elf_read_at(ElfFile *e, uint64_t off, uint64_t len, void *buf, const char *what,
                       Error *err)
{
    if (!elf_in_file(e, off, len))
        return elf_truncated(e, what, off, len, err);
    uint8_t *p = buf;
    while (len > 0) {
        size_t chunk = len > (1u << 30) ? (1u << 30) : (size_t)len;
        ssize_t n = pread(e->fd, p, chunk, (off_t)off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return error_set_errno(err, errno, "%s: cannot read %s", e->path, what);
        if (n == 0)
            return error_set(err, "%s: truncated ELF file (%s)", e->path, what);
        p += n;
        off += (uint64_t)n;
        len -= (uint64_t)n;
    }
    return 0;
}

static const char *elf_machine_name(unsigned machine)
{
    switch (machine) {
    case EM_386: return ", x86";
    case EM_X86_64: return ", x86-64";
    case EM_ARM: return ", 32-bit Arm";
    case EM_AARCH64: return ", AArch64";
    case EM_RISCV: return ", RISC-V";
    default: return "";
    }
}

/* Check e_ident: magic, class, byte order. */
static int elf_check_ident(const ElfFile *e, const unsigned char *id, Error *err)
{
    if (memcmp(id, ELFMAG, SELFMAG) != 0)
        return error_set(err, "%s: not an ELF file", e->path);
    if (e->file_size < sizeof(Elf64_Ehdr) && id[EI_CLASS] == ELFCLASS64)
        return error_set(err, "%s: truncated ELF file (header)", e->path);
    if (id[EI_CLASS] != ELFCLASS64)
        return error_set(err, "%s: not a 64-bit RISC-V ELF (%s)", e->path,
                         id[EI_CLASS] == ELFCLASS32 ? "32-bit ELF" : "unknown ELF class");
    if (id[EI_DATA] != ELFDATA2LSB)
        return error_set(err, "%s: not a 64-bit RISC-V ELF (big-endian)", e->path);
    return 0;
}

/* Check the fixed fields of the header after the identification bytes. */
static int elf_check_header(const ElfFile *e, Error *err)
{
    const Elf64_Ehdr *h = &e->eh;
    if (h->e_machine != EM_RISCV)
        return error_set(err, "%s: not a 64-bit RISC-V ELF (machine %u%s)", e->path, h->e_machine,
                         elf_machine_name(h->e_machine));
    if (h->e_type != ET_EXEC)
        return error_set(err, "%s: not an executable ELF (type %u%s)", e->path, h->e_type,
                         h->e_type == ET_DYN ? ", position-independent: link with -no-pie" : "");
    if (h->e_phnum == 0)
        return error_set(err, "%s: ELF file has no program headers", e->path);
    if (h->e_phentsize != sizeof(Elf64_Phdr))
        return error_set(err, "%s: corrupt ELF file (program header size %u, expected %zu)",
                         e->path, h->e_phentsize, sizeof(Elf64_Phdr));
    return 0;
}

/* Open path for reading; only regular files are accepted. */
static int elf_open_fd(ElfFile *e, Error *err)
{
    e->fd = open(e->path, O_RDONLY | O_CLOEXEC);
    if (e->fd < 0 && errno == ENOENT)
        return error_set(err, "%s: no such file", e->path);
    if (e->fd < 0)
        return error_set_errno(err, errno, "%s: cannot open", e->path);
    struct stat st;
    if (fstat(e->fd, &st) < 0)
        return error_set_errno(err, errno, "%s: cannot stat", e->path);
    if (!S_ISREG(st.st_mode))
        return error_set(err, "%s: not a regular file", e->path);
    e->file_size = (uint64_t)st.st_size;
    return 0;
}

ElfFile *elf_open(const char *path, Error *err)
{
    ElfFile *e = calloc(1, sizeof(*e));
    if (!e || !(e->path = strdup(path))) {
        free(e);
        error_set(err, "%s: out of memory", path);
        return NULL;
    }
    unsigned char id[EI_NIDENT] = {0};
    e->fd = -1;
    if (elf_open_fd(e, err) < 0)
        goto fail;
    if (e->file_size < SELFMAG + 2) {
        error_set(err, "%s: not an ELF file", path);
        goto fail;
    }
    uint64_t idlen = e->file_size < EI_NIDENT ? e->file_size : EI_NIDENT;
    if (elf_read_at(e, 0, idlen, id, "identification", err) < 0 ||
        elf_check_ident(e, id, err) < 0 ||
        elf_read_at(e, 0, sizeof(e->eh), &e->eh, "header", err) < 0 || elf_check_header(e, err) < 0)
        goto fail;
    return e;
fail:
    elf_close(e);
    return NULL;
}

void elf_close(ElfFile *e)
{
    if (!e)
        return;
    if (e->fd >= 0)
        close(e->fd);
    free(e->syms);
    free(e->strtab);
    free(e->path);
    free(e);
}

uint64_t elf_entry(const ElfFile *e)
{
    return e->eh.e_entry;
}

/* Read all program headers into a new array (caller frees); NULL on error. */
static Elf64_Phdr *elf_read_phdrs(ElfFile *e, Error *err)
{
    uint64_t len = (uint64_t)e->eh.e_phnum * sizeof(Elf64_Phdr);
    Elf64_Phdr *ph = malloc(len);
    if (!ph) {
        error_set(err, "%s: out of memory", e->path);
        return NULL;
    }
    if (elf_read_at(e, e->eh.e_phoff, len, ph, "program headers", err) < 0) {
        free(ph);
        return NULL;
    }
    return ph;
}

/* Check one PT_LOAD segment against the file and RAM. */
static int elf_check_segment(const ElfFile *e, const Bus *bus, const Elf64_Phdr *p, Error *err)
{
    if (p->p_filesz > p->p_memsz)
        return error_set(err,
                         "%s: corrupt ELF file (segment file size 0x%llx > memory size "
                         "0x%llx)",
                         e->path, (unsigned long long)p->p_filesz, (unsigned long long)p->p_memsz);
    if (!elf_in_file(e, p->p_offset, p->p_filesz))
        return elf_truncated(e, "segment data", p->p_offset, p->p_filesz, err);
    if (!bus_ram_ptr(bus, p->p_paddr, p->p_memsz)) {
        uint64_t last = p->p_paddr + p->p_memsz - 1;
        bool wraps = last < p->p_paddr;
        return error_set(
            err, "%s: segment 0x%llx-0x%llx does not fit in RAM (0x%llx-0x%llx)%s", e->path,
            (unsigned long long)p->p_paddr, wraps ? ~0ull : (unsigned long long)last,
            (unsigned long long)bus->ram_base,
            (unsigned long long)(bus->ram_base + bus->ram_size - 1),
            p->p_paddr >= bus->ram_base && !wraps ? "; use -m to give more memory" : "");
    }
    return 0;
}

/* Copy one checked segment into RAM and zero the rest of its memory image. */
static int elf_copy_segment(ElfFile *e, Bus *bus, const Elf64_Phdr *p, Error *err)
{
    uint8_t *dst = bus_ram_ptr(bus, p->p_paddr, p->p_memsz);
    if (elf_read_at(e, p->p_offset, p->p_filesz, dst, "segment data", err) < 0)
        return -1;
    memset(dst + p->p_filesz, 0, p->p_memsz - p->p_filesz);
    return 0;
}

int elf_load(ElfFile *e, Bus *bus, Error *err)
{
    Elf64_Phdr *ph = elf_read_phdrs(e, err);
    if (!ph)
        return -1;
    int ret = 0;
    unsigned nload = 0;
    for (unsigned i = 0; i < e->eh.e_phnum && ret == 0; i++) {
        if (ph[i].p_type == PT_LOAD && ph[i].p_memsz > 0) {
            ret = elf_check_segment(e, bus, &ph[i], err);
            nload++;
        }
    }
    if (ret == 0 && nload == 0)
        ret = error_set(err, "%s: ELF file has no loadable segments", e->path);
    for (unsigned i = 0; i < e->eh.e_phnum && ret == 0; i++) {
        if (ph[i].p_type == PT_LOAD && ph[i].p_memsz > 0)
            ret = elf_copy_segment(e, bus, &ph[i], err);
    }
    free(ph);
    return ret;
}

/* Read section header idx into *sh. */
static int elf_read_shdr(ElfFile *e, unsigned idx, Elf64_Shdr *sh, Error *err)
{
    uint64_t off = e->eh.e_shoff + (uint64_t)idx * sizeof(*sh);
    if (off < e->eh.e_shoff)
        return error_set(err, "%s: corrupt ELF file (section header offset)", e->path);
    return elf_read_at(e, off, sizeof(*sh), sh, "section header", err);
}

/* Allocate and read a section's contents (bounded by the file size). */
static void *elf_read_section(ElfFile *e, const Elf64_Shdr *sh, const char *what, Error *err)
{
    if (!elf_in_file(e, sh->sh_offset, sh->sh_size)) {
        elf_truncated(e, what, sh->sh_offset, sh->sh_size, err);
        return NULL;
    }
    void *buf = malloc(sh->sh_size ? sh->sh_size : 1);
    if (!buf) {
        error_set(err, "%s: out of memory reading %s", e->path, what);
        return NULL;
    }
    if (elf_read_at(e, sh->sh_offset, sh->sh_size, buf, what, err) < 0) {
        free(buf);
        return NULL;
    }
    return buf;
}

/* Find SHT_SYMTAB and its string table; *found = false if there is none. */
static int elf_find_symtab(ElfFile *e, Elf64_Shdr *sym, Elf64_Shdr *str, bool *found, Error *err)
{
    *found = false;
    if (e->eh.e_shoff == 0 || e->eh.e_shnum == 0)
        return 0;
    if (e->eh.e_shentsize != sizeof(Elf64_Shdr))
        return error_set(err, "%s: corrupt ELF file (section header size %u)", e->path,
                         e->eh.e_shentsize);
    for (unsigned i = 0; i < e->eh.e_shnum; i++) {
        if (elf_read_shdr(e, i, sym, err) < 0)
            return -1;
        if (sym->sh_type != SHT_SYMTAB)
            continue;
        if (sym->sh_entsize != sizeof(Elf64_Sym) || sym->sh_link >= e->eh.e_shnum)
            return error_set(err, "%s: corrupt ELF symbol table", e->path);
        if (elf_read_shdr(e, sym->sh_link, str, err) < 0)
            return -1;
        if (str->sh_type != SHT_STRTAB)
            return error_set(err, "%s: corrupt ELF symbol table (bad string table)", e->path);
        *found = true;
        return 0;
    }
    return 0;
}

/* Load .symtab and its string table once; an absent table is not an error. */
static int elf_read_symtab(ElfFile *e, Error *err)
{
    if (e->symtab_read)
        return 0;
    Elf64_Shdr sym, str;
    bool found;
    if (elf_find_symtab(e, &sym, &str, &found, err) < 0)
        return -1;
    if (found) {
        e->syms = elf_read_section(e, &sym, "symbol table", err);
        if (!e->syms)
            return -1;
        e->strtab = elf_read_section(e, &str, "string table", err);
        if (!e->strtab)
            return -1;
        e->nsyms = sym.sh_size / sizeof(Elf64_Sym);
        e->strtab_size = str.sh_size;
    }
    e->symtab_read = true;
    return 0;
}

/* True if symbol s is named name (its string must end inside the table). */
static bool elf_symbol_is(const ElfFile *e, const Elf64_Sym *s, const char *name, size_t len)
{
    if (s->st_name >= e->strtab_size || e->strtab_size - s->st_name <= len)
        return false;
    const char *sname = e->strtab + s->st_name;
    return memcmp(sname, name, len) == 0 && sname[len] == '\0';
}

int elf_symbol(ElfFile *e, const char *name, uint64_t *value, Error *err)
{
    if (elf_read_symtab(e, err) < 0)
        return -1;
    size_t len = strlen(name);
    for (uint64_t i = 0; i < e->nsyms; i++) {
        const Elf64_Sym *s = &e->syms[i];
        if (s->st_shndx != SHN_UNDEF && elf_symbol_is(e, s, name, len)) {
            *value = s->st_value;
            return 1;
        }
    }
    return 0;
}
