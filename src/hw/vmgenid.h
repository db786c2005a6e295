/*
 * VM generation ID: a 16-byte value that changes whenever the machine's
 * memory starts a new life (a restore from a state file, a snapshot
 * revert, a clone's first run).  The guest keeps the ID it last saw; when
 * the interrupt says the ID changed, it mixes the new one into its RNG and
 * reseeds at once, so two VMs restored from one file do not produce the
 * same random numbers.  Device-tree binding "microsoft,vmgenid" (Linux
 * 6.10+, and hostel's default 6.1 guest through guest/patches/): reg is
 * the ID (read-only), one interrupt.  The line stays raised until the
 * guest reads the ID.
 */
#ifndef HOSTEL_HW_VMGENID_H
#define HOSTEL_HW_VMGENID_H

#include <stdbool.h>
#include <stdint.h>

#include "hw/device.h"

#define VMGENID_SIZE 0x1000 /* MMIO window; the ID is its first 16 bytes */
#define VMGENID_ID_LEN 16

/* The VmGenId begins with its Device (a Device pointer is the VmGenId). */
typedef struct VmGenId VmGenId;

extern const MmioOps vmgenid_ops;

/* Its device ops: "vmgenid", registers, fdt (no reset, no state section). */
extern const DeviceOps vmgenid_device_ops;

/* A device with a fresh random ID that drives irq ({NULL}: no line). NULL when out of memory. */
VmGenId *vmgenid_new(IrqLine irq);
void vmgenid_free(VmGenId *g);

/* A new random ID, and the interrupt raised to say so. */
void vmgenid_next_generation(VmGenId *g);

/* The current ID (for tests and `query-devices`). */
void vmgenid_get(const VmGenId *g, uint8_t id[VMGENID_ID_LEN]);

/*
 * The board's constructor: at a->base, line a->irq (its device-tree node:
 * microsoft,vmgenid).  NULL with err filled.
 */
Device *vmgenid_create(const DeviceArgs *a, Error *err);

#endif
