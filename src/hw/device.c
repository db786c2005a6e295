/* The generic parts of the device interface (hw/device.h). */
#include "hw/device.h"

int device_map(Device *d, Bus *bus, Error *err)
{
    if (!d->ops->mmio)
        return 0;
    return bus_add_mmio(bus, d->ops->name, d->base, d->size, d->ops->mmio, d, err);
}

void device_reset(Device *d)
{
    if (d->ops->reset)
        d->ops->reset(d);
}

void device_free(Device *d)
{
    if (d)
        d->ops->free(d);
}

void device_fdt(const Device *d, DeviceTree *dt, unsigned nharts)
{
    if (d->ops->fdt)
        d->ops->fdt(d, dt, nharts);
}
