/*
 * The screendump: what the scanout shows, written as a PNG (libpng).
 */
#ifndef HOSTEL_UI_SCREENDUMP_H
#define HOSTEL_UI_SCREENDUMP_H

#include <stdint.h>

#include "util/error.h"
#include "virtio/mmio.h"

/*
 * Write width x height pixels of RGB (3 bytes each, rows packed) to path
 * as an 8-bit RGB PNG, replacing the file atomically (a temporary file
 * renamed over it).  Returns 0, or -1 with err filled.
 */
int ui_png_write(const char *path, uint32_t width, uint32_t height, const uint8_t *rgb, Error *err);

/*
 * Copy the scanout of gpu (a virtio-gpu device) under its lock, convert
 * it to RGB and write it to path as a PNG.  Returns 0, or -1 with err
 * filled: the guest shows nothing yet, an unknown format, the file.
 * *width and *height (may be NULL) get the image's size.
 */
int ui_screendump(VirtioMmio *gpu, const char *path, uint32_t *width, uint32_t *height, Error *err);

#endif
