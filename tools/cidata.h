/*
 * A cloud-init NoCloud seed: a small FAT disk labelled CIDATA holding
 * user-data, meta-data and (optionally) network-config, made with Debian's
 * dosfstools and mtools (mkfs.vfat, mcopy).  `hostel run --cloud-init`
 * attaches it as a read-only virtio disk; cloud-init in the guest finds it
 * by its label (docs/images.md).
 */
#ifndef HOSTEL_TOOLS_CIDATA_H
#define HOSTEL_TOOLS_CIDATA_H

#include <stddef.h>

#include "util/error.h"

#define CIDATA_MAX_FILE (1u << 20) /* each of the seed's files */

/*
 * Parse SPEC ("USER-DATA[,meta-data=FILE][,network-config=FILE]") and make
 * the seed, or find it made: seeds are kept by content under
 * $HOSTEL_CACHE/cidata (or ~/.cache/hostel/cidata) as SHA1.img, so that a
 * state file naming one still finds it after the run.  Without meta-data,
 * one is written with `instance-id: iid-hostel-SHA1` (a new seed is a new
 * instance: cloud-init runs its first-boot steps again) and, when hostname
 * is not NULL, `local-hostname: HOSTNAME`.  Fills path (the image) and
 * returns 0, or -1 with err filled: a missing or oversized file, a bad
 * option, mkfs.vfat or mcopy missing or failing.
 */
int cidata_make(const char *spec, const char *hostname, char *path, size_t size, Error *err);

#endif
