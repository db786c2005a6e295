/* Linux boot: Image header parsing and placement of kernel, initrd, FDT. */
#include "machine/boot.h"
#include "machine/elf.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* The 64-byte header at the start of a RISC-V Linux Image (little-endian). */
typedef struct RiscvImageHeader {
    uint32_t code0, code1;
    uint64_t text_offset;
    uint64_t image_size;
    uint64_t flags;
    uint32_t version, res1;
    uint64_t res2;
    uint64_t magic;  /* "RISCV\0\0\0", deprecated */
    uint32_t magic2; /* "RSC\x05" */
    uint32_t res3;
} RiscvImageHeader;

static int open_file(const char *path, off_t *size, Error *err)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    struct stat st;
    if (fd < 0)
        return error_set_errno(err, errno, "%s", path);
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return error_set(err, "%s: not a regular file", path);
    }
    *size = st.st_size;
    return fd;
}

/* Read exactly len bytes from fd at offset 0 into dst. */
static int read_all(int fd, void *dst, uint64_t len, const char *path, Error *err)
{
    uint64_t done = 0;
    while (done < len) {
        ssize_t n = pread(fd, (char *)dst + done, len - done, (off_t)done);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return n < 0 ? error_set_errno(err, errno, "%s", path)
                         : error_set(err, "%s: file shrank while reading", path);
        done += (uint64_t)n;
    }
    return 0;
}

static int read_header(int fd, RiscvImageHeader *h)
{
    return pread(fd, h, sizeof(*h), 0) == (ssize_t)sizeof(*h) ? 0 : -1;
}

int boot_is_linux_image(const char *path, Error *err)
{
    off_t size = 0;
    RiscvImageHeader h;
    int fd = open_file(path, &size, err);
    if (fd < 0)
        return -1;
    int r = read_header(fd, &h) == 0 && h.magic2 == RISCV_IMAGE_MAGIC2;
    close(fd);
    return r;
}

int boot_load_image(Bus *bus, const char *path, BootLayout *lay, Error *err)
{
    off_t size = 0;
    RiscvImageHeader h;
    int fd = open_file(path, &size, err);
    if (fd < 0)
        return -1;
    if (read_header(fd, &h) < 0 || h.magic2 != RISCV_IMAGE_MAGIC2) {
        close(fd);
        return error_set(err, "%s: not a RISC-V Linux Image (no RSC\\x05 magic)", path);
    }
    uint64_t footprint = h.image_size > (uint64_t)size ? h.image_size : (uint64_t)size;
    uint64_t start = bus->ram_base + h.text_offset;
    uint64_t limit = bus->ram_size > BOOT_FDT_ROOM ? bus->ram_size - BOOT_FDT_ROOM : 0;
    if (h.text_offset >= limit || footprint > limit - h.text_offset) {
        close(fd);
        return error_set(err,
                         "%s: kernel needs %llu MiB at offset %#llx: RAM too small "
                         "(use -m)",
                         path, (unsigned long long)(footprint >> 20) + 1,
                         (unsigned long long)h.text_offset);
    }
    int r = read_all(fd, bus_ram_ptr(bus, start, (uint64_t)size), (uint64_t)size, path, err);
    close(fd);
    if (r < 0)
        return -1;
    lay->entry = lay->kernel_start = start;
    lay->kernel_end = start + footprint;
    lay->is_elf = false;
    return 0;
}

static int load_flat(Bus *bus, const char *path, BootLayout *lay, Error *err)
{
    off_t size = 0;
    int fd = open_file(path, &size, err);
    if (fd < 0)
        return -1;
    uint64_t start = bus->ram_base + BOOT_PAYLOAD_OFFSET;
    uint64_t room = bus->ram_size > BOOT_FDT_ROOM + BOOT_PAYLOAD_OFFSET
                        ? bus->ram_size - BOOT_FDT_ROOM - BOOT_PAYLOAD_OFFSET
                        : 0;
    if ((uint64_t)size > room) {
        close(fd);
        return error_set(err, "%s: does not fit in RAM (use -m)", path);
    }
    int r = read_all(fd, bus_ram_ptr(bus, start, (uint64_t)size), (uint64_t)size, path, err);
    close(fd);
    lay->entry = lay->kernel_start = start;
    lay->kernel_end = start + (uint64_t)size;
    lay->is_elf = false;
    return r;
}

int boot_load_payload(Bus *bus, const char *path, BootLayout *lay, Error *err)
{
    ElfFile *e = elf_open(path, NULL);
    if (!e)
        return load_flat(bus, path, lay, err);
    int r = elf_load(e, bus, err);
    lay->entry = lay->kernel_start = elf_entry(e);
    lay->kernel_end = lay->kernel_start; /* the segments are where the ELF says */
    lay->is_elf = true;
    elf_close(e);
    return r;
}

void boot_place_fdt(const Bus *bus, BootLayout *lay)
{
    lay->fdt_addr = bus->ram_base + bus->ram_size - BOOT_FDT_ROOM;
}

int boot_load_initrd(Bus *bus, const char *path, BootLayout *lay, Error *err)
{
    off_t size = 0;
    int fd = open_file(path, &size, err);
    if (fd < 0)
        return -1;
    boot_place_fdt(bus, lay);
    uint64_t top = lay->fdt_addr;
    uint64_t start = (top - (uint64_t)size) & ~(BUS_PAGE_SIZE - 1);
    if ((uint64_t)size > top - bus->ram_base || start < lay->kernel_end) {
        close(fd);
        return error_set(err,
                         "%s: initrd of %llu MiB does not fit in RAM beside the kernel "
                         "(use -m)",
                         path, (unsigned long long)((uint64_t)size >> 20) + 1);
    }
    int r = read_all(fd, bus_ram_ptr(bus, start, (uint64_t)size), (uint64_t)size, path, err);
    close(fd);
    if (r < 0)
        return -1;
    lay->initrd_start = start;
    lay->initrd_end = start + (uint64_t)size;
    return 0;
}

int boot_copy_fdt(Bus *bus, const BootLayout *lay, const void *blob, uint64_t size, Error *err)
{
    uint8_t *dst = bus_ram_ptr(bus, lay->fdt_addr, size);
    if (!dst || size > BOOT_FDT_ROOM)
        return error_set(err, "device tree of %llu bytes does not fit at %#llx",
                         (unsigned long long)size, (unsigned long long)lay->fdt_addr);
    memcpy(dst, blob, size);
    return 0;
}
