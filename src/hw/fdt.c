/* Thin error-remembering wrappers over libfdt's sequential-write API. */
#include "hw/fdt.h"

#include <libfdt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FDT_CALL(f, expr)                                                                          \
    do {                                                                                           \
        if ((f)->err == 0) {                                                                       \
            int r_ = (expr);                                                                       \
            if (r_ < 0)                                                                            \
                (f)->err = r_;                                                                     \
        }                                                                                          \
    } while (0)

int dt_start(DeviceTree *f, Error *err)
{
    f->err = 0;
    f->blob = calloc(1, FDT_MAX_SIZE);
    if (!f->blob)
        return error_set(err, "out of memory for the device tree");
    FDT_CALL(f, fdt_create(f->blob, FDT_MAX_SIZE));
    FDT_CALL(f, fdt_finish_reservemap(f->blob));
    FDT_CALL(f, fdt_begin_node(f->blob, ""));
    if (f->err)
        return error_set(err, "device tree: %s", fdt_strerror(f->err));
    return 0;
}

int dt_finish(DeviceTree *f, Error *err)
{
    FDT_CALL(f, fdt_end_node(f->blob));
    FDT_CALL(f, fdt_finish(f->blob));
    if (f->err)
        return error_set(err, "device tree: %s", fdt_strerror(f->err));
    return 0;
}

void dt_free(DeviceTree *f)
{
    free(f->blob);
    f->blob = NULL;
}

size_t dt_size(const DeviceTree *f)
{
    return fdt_totalsize(f->blob);
}

void dt_begin(DeviceTree *f, const char *name)
{
    FDT_CALL(f, fdt_begin_node(f->blob, name));
}

void dt_begin_at(DeviceTree *f, const char *name, uint64_t addr)
{
    char buf[64];
    snprintf(buf, sizeof(buf), "%s@%llx", name, (unsigned long long)addr);
    dt_begin(f, buf);
}

void dt_end(DeviceTree *f)
{
    FDT_CALL(f, fdt_end_node(f->blob));
}

void dt_prop_empty(DeviceTree *f, const char *name)
{
    FDT_CALL(f, fdt_property(f->blob, name, NULL, 0));
}

void dt_prop_u32(DeviceTree *f, const char *name, uint32_t v)
{
    FDT_CALL(f, fdt_property_u32(f->blob, name, v));
}

void dt_prop_u64(DeviceTree *f, const char *name, uint64_t v)
{
    FDT_CALL(f, fdt_property_u64(f->blob, name, v));
}

void dt_prop_str(DeviceTree *f, const char *name, const char *s)
{
    FDT_CALL(f, fdt_property_string(f->blob, name, s));
}

void dt_prop_strs(DeviceTree *f, const char *name, const char *const *s, unsigned n)
{
    char buf[512];
    size_t len = 0;
    for (unsigned i = 0; i < n; i++) {
        size_t l = strlen(s[i]) + 1;
        if (len + l > sizeof(buf)) {
            f->err = f->err ? f->err : -FDT_ERR_NOSPACE;
            return;
        }
        memcpy(buf + len, s[i], l);
        len += l;
    }
    FDT_CALL(f, fdt_property(f->blob, name, buf, (int)len));
}

void dt_prop_cells(DeviceTree *f, const char *name, const uint32_t *cells, unsigned n)
{
    uint32_t be[64];
    if (n > 64) {
        f->err = f->err ? f->err : -FDT_ERR_NOSPACE;
        return;
    }
    for (unsigned i = 0; i < n; i++)
        be[i] = cpu_to_fdt32(cells[i]);
    FDT_CALL(f, fdt_property(f->blob, name, be, (int)(n * 4)));
}

void dt_prop_hart_irqs(DeviceTree *f, unsigned nharts, uint32_t irq_a, uint32_t irq_b)
{
    uint32_t cells[4 * MACHINE_MAX_HARTS_FDT];
    if (nharts > MACHINE_MAX_HARTS_FDT) {
        f->err = f->err ? f->err : -FDT_ERR_NOSPACE;
        return;
    }
    for (unsigned i = 0; i < nharts; i++) {
        cells[4 * i + 0] = FDT_PHANDLE_CPU_INTC(i);
        cells[4 * i + 1] = irq_a;
        cells[4 * i + 2] = FDT_PHANDLE_CPU_INTC(i);
        cells[4 * i + 3] = irq_b;
    }
    dt_prop_cells(f, "interrupts-extended", cells, 4 * nharts);
}

void dt_prop_reg(DeviceTree *f, uint64_t addr, uint64_t size)
{
    uint32_t c[4] = {(uint32_t)(addr >> 32), (uint32_t)addr, (uint32_t)(size >> 32),
                     (uint32_t)size};
    dt_prop_cells(f, "reg", c, 4);
}
