/*
 * Unit tests for the ELF loader: a valid image loads (segments, bss, entry,
 * symbols); every kind of corrupt or foreign file gives the right one-line
 * error; and random corruption never crashes it (run under ASan+UBSan).
 */
#include <elf.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "machine/elf.h"
#include "tap.h"

#define RAM_BASE 0x80000000ull
#define RAM_SIZE (16ull << 20)

/* Layout of the test image (file offsets). */
enum {
    OFF_PH = 0x40,
    OFF_SEG1 = 0x100,
    OFF_SEG2 = 0x200,
    OFF_STR = 0x300,
    OFF_SYM = 0x400,
    OFF_SH = 0x500,
    NSECT = 3,
    IMG_LEN = OFF_SH + NSECT * 64,
};

typedef struct Img {
    uint8_t b[IMG_LEN];
} Img;

static Elf64_Ehdr *ehdr(Img *im)
{
    return (Elf64_Ehdr *)im->b;
}
static Elf64_Phdr *phdr(Img *im, int i)
{
    return (Elf64_Phdr *)(im->b + OFF_PH) + i;
}
static Elf64_Shdr *shdr(Img *im, int i)
{
    return (Elf64_Shdr *)(im->b + OFF_SH) + i;
}
static Elf64_Sym *sym(Img *im, int i)
{
    return (Elf64_Sym *)(im->b + OFF_SYM) + i;
}

static void build_headers(Img *im)
{
    Elf64_Ehdr *h = ehdr(im);
    memcpy(h->e_ident, ELFMAG, SELFMAG);
    h->e_ident[EI_CLASS] = ELFCLASS64;
    h->e_ident[EI_DATA] = ELFDATA2LSB;
    h->e_ident[EI_VERSION] = EV_CURRENT;
    h->e_type = ET_EXEC;
    h->e_machine = 243;
    h->e_version = EV_CURRENT;
    h->e_entry = RAM_BASE + 4;
    h->e_phoff = OFF_PH;
    h->e_shoff = OFF_SH;
    h->e_ehsize = sizeof(Elf64_Ehdr);
    h->e_phentsize = sizeof(Elf64_Phdr);
    h->e_phnum = 2;
    h->e_shentsize = sizeof(Elf64_Shdr);
    h->e_shnum = NSECT;
}

/* Segment 1: 16 bytes + bss up to 4 KiB at RAM_BASE; segment 2: 8 bytes at +0x2000. */
static void build_segments(Img *im)
{
    *phdr(im, 0) = (Elf64_Phdr){.p_type = PT_LOAD,
                                .p_offset = OFF_SEG1,
                                .p_vaddr = RAM_BASE,
                                .p_paddr = RAM_BASE,
                                .p_filesz = 16,
                                .p_memsz = 0x1000};
    *phdr(im, 1) = (Elf64_Phdr){.p_type = PT_LOAD,
                                .p_offset = OFF_SEG2,
                                .p_vaddr = 0xffffffff80002000ull,
                                .p_paddr = RAM_BASE + 0x2000,
                                .p_filesz = 8,
                                .p_memsz = 8};
    for (int i = 0; i < 16; i++)
        im->b[OFF_SEG1 + i] = (uint8_t)(0xa0 + i);
    memcpy(im->b + OFF_SEG2, "segment2", 8);
}

/* Symbols: tohost, fromhost, and an undefined one that must not be found. */
static void build_symbols(Img *im)
{
    static const char strtab[] = "\0tohost\0fromhost\0undef";
    memcpy(im->b + OFF_STR, strtab, sizeof(strtab));
    *sym(im, 1) = (Elf64_Sym){.st_name = 1, .st_shndx = 1, .st_value = RAM_BASE + 0x1000};
    *sym(im, 2) = (Elf64_Sym){.st_name = 8, .st_shndx = 1, .st_value = RAM_BASE + 0x1040};
    *sym(im, 3) = (Elf64_Sym){.st_name = 17, .st_shndx = SHN_UNDEF, .st_value = 1};
    *shdr(im, 1) = (Elf64_Shdr){.sh_type = SHT_SYMTAB,
                                .sh_offset = OFF_SYM,
                                .sh_size = 4 * sizeof(Elf64_Sym),
                                .sh_link = 2,
                                .sh_entsize = sizeof(Elf64_Sym)};
    *shdr(im, 2) =
        (Elf64_Shdr){.sh_type = SHT_STRTAB, .sh_offset = OFF_STR, .sh_size = sizeof(strtab)};
}

static void build_valid(Img *im)
{
    memset(im, 0, sizeof(*im));
    build_headers(im);
    build_segments(im);
    build_symbols(im);
}

static char tmp_path[64];

/* Write len bytes of data to the scratch file; returns its path. */
static const char *write_tmp(const void *data, size_t len)
{
    FILE *f = fopen(tmp_path, "wb");
    if (!f || fwrite(data, 1, len, f) != len || fclose(f) != 0) {
        printf("Bail out! cannot write %s\n", tmp_path);
        exit(1);
    }
    return tmp_path;
}

/* Open and load; returns 0 or -1 with err filled. */
static int try_load(const void *data, size_t len, Bus *bus, Error *err)
{
    ElfFile *e = elf_open(write_tmp(data, len), err);
    if (!e)
        return -1;
    int r = elf_load(e, bus, err);
    elf_close(e);
    return r;
}

/* Expect loading to fail with an error containing want. */
static void expect_error(const Img *im, size_t len, Bus *bus, const char *want, const char *what)
{
    Error err = {0};
    int r = try_load(im, len, bus, &err);
    ok(r < 0 && strstr(err.msg, want) && strstr(err.msg, tmp_path), "%s: %s", what, err.msg);
}

static void test_valid(Bus *bus)
{
    Img im;
    build_valid(&im);
    memset(bus->ram, 0x5a, 0x3000);
    Error err = {0};
    ElfFile *e = elf_open(write_tmp(&im, sizeof(im)), &err);
    ok(e != NULL, "a valid image opens: %s", err.msg);
    if (!e)
        return;
    ok(elf_load(e, bus, &err) == 0, "a valid image loads: %s", err.msg);
    ok(memcmp(bus->ram, im.b + OFF_SEG1, 16) == 0, "segment 1 data is in RAM at its paddr");
    ok(bus->ram[16] == 0 && bus->ram[0xfff] == 0, "segment 1 bss is zeroed");
    ok(bus->ram[0x1000] == 0x5a, "bytes past the segment are untouched");
    ok(memcmp(bus->ram + 0x2000, "segment2", 8) == 0, "segment 2 loads by paddr, not vaddr");
    is_u64(elf_entry(e), RAM_BASE + 4, "entry point");
    uint64_t v = 0;
    ok(elf_symbol(e, "tohost", &v, &err) == 1 && v == RAM_BASE + 0x1000, "finds tohost");
    ok(elf_symbol(e, "fromhost", &v, &err) == 1 && v == RAM_BASE + 0x1040, "finds fromhost");
    ok(elf_symbol(e, "undef", &v, &err) == 0, "undefined symbols are not found");
    ok(elf_symbol(e, "tohos", &v, &err) == 0, "a prefix of a name is not a match");
    ok(elf_symbol(e, "nothere", &v, &err) == 0, "an absent symbol is not found");
    elf_close(e);
}

static void test_foreign_files(Bus *bus)
{
    Error err = {0};
    ok(elf_open("/nonexistent/prog.elf", &err) == NULL &&
           strcmp(err.msg, "/nonexistent/prog.elf: no such file") == 0,
       "missing file: %s", err.msg);
    ok(elf_open("/", &err) == NULL && strstr(err.msg, "not a regular file"), "a directory: %s",
       err.msg);
    const char text[] = "#!/bin/sh\necho not an elf\n";
    Img im;
    memcpy(&im, text, sizeof(text));
    expect_error(&im, sizeof(text), bus, "not an ELF file", "a text file");
    expect_error(&im, 0, bus, "not an ELF file", "an empty file");
    build_valid(&im);
    ehdr(&im)->e_ident[EI_CLASS] = ELFCLASS32;
    expect_error(&im, sizeof(im), bus, "not a 64-bit RISC-V ELF (32-bit ELF)", "ELFCLASS32");
    build_valid(&im);
    ehdr(&im)->e_ident[EI_DATA] = ELFDATA2MSB;
    expect_error(&im, sizeof(im), bus, "not a 64-bit RISC-V ELF (big-endian)", "big-endian");
    build_valid(&im);
    ehdr(&im)->e_machine = EM_X86_64;
    expect_error(&im, sizeof(im), bus, "not a 64-bit RISC-V ELF (machine 62, x86-64)",
                 "x86-64 machine");
    build_valid(&im);
    ehdr(&im)->e_type = ET_DYN;
    expect_error(&im, sizeof(im), bus, "not an executable ELF (type 3", "ET_DYN");
}

static void test_truncated(Bus *bus)
{
    Img im;
    build_valid(&im);
    expect_error(&im, 40, bus, "truncated", "cut inside the ELF header");
    expect_error(&im, OFF_PH + 60, bus, "truncated", "cut inside the program headers");
    expect_error(&im, OFF_SEG1 + 8, bus, "truncated", "cut inside segment data");
    ehdr(&im)->e_phoff = ~0ull - 8;
    expect_error(&im, sizeof(im), bus, "truncated", "e_phoff near 2^64");
    build_valid(&im);
    ehdr(&im)->e_phnum = 0xffff;
    expect_error(&im, sizeof(im), bus, "truncated", "e_phnum 65535");
    build_valid(&im);
    phdr(&im, 0)->p_offset = ~0ull - 4;
    expect_error(&im, sizeof(im), bus, "truncated", "p_offset near 2^64");
    build_valid(&im);
    phdr(&im, 0)->p_filesz = ~0ull;
    phdr(&im, 0)->p_memsz = ~0ull;
    expect_error(&im, sizeof(im), bus, "truncated", "p_filesz 2^64-1");
    build_valid(&im);
    ehdr(&im)->e_phentsize = 32;
    expect_error(&im, sizeof(im), bus, "program header size", "wrong e_phentsize");
    build_valid(&im);
    ehdr(&im)->e_phnum = 0;
    expect_error(&im, sizeof(im), bus, "no program headers", "no program headers");
    build_valid(&im);
    phdr(&im, 0)->p_type = PT_NOTE;
    phdr(&im, 1)->p_type = PT_NOTE;
    expect_error(&im, sizeof(im), bus, "no loadable segments", "no PT_LOAD");
    build_valid(&im);
    phdr(&im, 0)->p_filesz = 0x2000;
    expect_error(&im, sizeof(im), bus, "file size 0x2000 > memory size", "filesz > memsz");
}

static void test_outside_ram(Bus *bus)
{
    Img im;
    build_valid(&im);
    phdr(&im, 1)->p_memsz = RAM_SIZE;
    expect_error(&im, sizeof(im), bus,
                 "segment 0x80002000-0x81001fff does not fit in RAM (0x80000000-0x80ffffff); "
                 "use -m to give more memory",
                 "segment past the end of RAM");
    build_valid(&im);
    phdr(&im, 1)->p_paddr = 0x1000;
    phdr(&im, 1)->p_memsz = 8;
    Error err = {0};
    ok(try_load(&im, sizeof(im), bus, &err) < 0 && strstr(err.msg, "does not fit in RAM") &&
           !strstr(err.msg, "use -m"),
       "segment below RAM (no -m hint): %s", err.msg);
    build_valid(&im);
    phdr(&im, 1)->p_paddr = ~0ull - 3;
    expect_error(&im, sizeof(im), bus, "does not fit in RAM", "p_paddr + p_memsz wraps");
    /* Nothing is copied when a later segment is bad. */
    build_valid(&im);
    phdr(&im, 1)->p_paddr = 0;
    memset(bus->ram, 0x77, 16);
    try_load(&im, sizeof(im), bus, &err);
    ok(bus->ram[0] == 0x77, "a bad segment stops the load before any segment is copied");
}

/* Open a (possibly bad) image and look up tohost; returns elf_symbol's result. */
static int try_symbol(const Img *im, Error *err)
{
    ElfFile *e = elf_open(write_tmp(im, sizeof(*im)), err);
    uint64_t v;
    int r = e ? elf_symbol(e, "tohost", &v, err) : -2;
    elf_close(e);
    return r;
}

static void test_bad_symtab(void)
{
    Img im;
    Error err = {0};
    build_valid(&im);
    shdr(&im, 1)->sh_link = 7;
    ok(try_symbol(&im, &err) == -1 && strstr(err.msg, "symbol table"), "sh_link out of range: %s",
       err.msg);
    build_valid(&im);
    shdr(&im, 2)->sh_offset = ~0ull - 2;
    ok(try_symbol(&im, &err) == -1 && strstr(err.msg, "truncated"), "strtab past EOF: %s", err.msg);
    build_valid(&im);
    shdr(&im, 1)->sh_size = ~0ull;
    ok(try_symbol(&im, &err) == -1 && strstr(err.msg, "truncated"), "huge symtab: %s", err.msg);
    build_valid(&im);
    sym(&im, 1)->st_name = 0xffffff00;
    ok(try_symbol(&im, &err) == 0, "a name offset past the string table is skipped");
    build_valid(&im);
    ehdr(&im)->e_shoff = ~0ull - 10;
    ok(try_symbol(&im, &err) == -1, "e_shoff near 2^64 is an error: %s", err.msg);
    build_valid(&im);
    ehdr(&im)->e_shnum = 0;
    ok(try_symbol(&im, &err) == 0, "no section headers: no symbols, no error");
    build_valid(&im);
    im.b[OFF_STR + sizeof("\0tohost\0fromhost\0undef") - 2] = 'x';
    im.b[OFF_STR + sizeof("\0tohost\0fromhost\0undef") - 1] = 'x';
    ok(try_symbol(&im, &err) == 1, "an unterminated string table does not break lookups");
}

/* Random corruption: every outcome is a load or a clean error, never a crash. */
static void test_fuzz(Bus *bus)
{
    srand(12345);
    int loaded = 0, clean = 0, runs = 3000;
    for (int i = 0; i < runs; i++) {
        Img im;
        build_valid(&im);
        for (int k = 0; k < 1 + rand() % 8; k++)
            im.b[rand() % 0x60 + (rand() % 4 == 0 ? OFF_SH : 0)] ^= (uint8_t)(1u << (rand() % 8));
        Error err = {0};
        ElfFile *e = elf_open(write_tmp(&im, sizeof(im) - (size_t)(rand() % 2) * 100), &err);
        int r = e ? elf_load(e, bus, &err) : -1;
        uint64_t v;
        if (e && elf_symbol(e, "fromhost", &v, &err) < 0)
            r = -1;
        elf_close(e);
        loaded += r == 0;
        clean += r < 0 && err.msg[0] != '\0';
    }
    ok(loaded + clean == runs, "%d corrupted images: %d loaded, %d clean errors", runs, loaded,
       clean);
    ok(loaded > 0 && clean > 0, "the corruption hit both harmless and fatal fields");
}

int main(void)
{
    strcpy(tmp_path, "/tmp/hostel-test-elf-XXXXXX");
    int fd = mkstemp(tmp_path);
    if (fd < 0) {
        printf("Bail out! mkstemp failed\n");
        return 1;
    }
    close(fd);
    Bus bus;
    Error err = {0};
    if (bus_init(&bus, RAM_BASE, RAM_SIZE, &err) < 0) {
        printf("Bail out! %s\n", err.msg);
        return 1;
    }
    test_valid(&bus);
    test_foreign_files(&bus);
    test_truncated(&bus);
    test_outside_ram(&bus);
    test_bad_symtab();
    test_fuzz(&bus);
    bus_destroy(&bus);
    unlink(tmp_path);
    return tap_done();
}
