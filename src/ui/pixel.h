/*
 * Pixel conversion for the display's front ends (the VNC server, the
 * screendump): the scanout's 4-byte formats (virtio-gpu's, named by byte
 * order in memory) to RGB (3 bytes, PNG's order) or RGBX (4 bytes, the
 * VNC server's framebuffer: red in the lowest byte).
 */
#ifndef HOSTEL_UI_PIXEL_H
#define HOSTEL_UI_PIXEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Where red, green and blue sit in a pixel of format (VIRTIO_GPU_FORMAT_*). */
typedef struct UiPixelLayout {
    unsigned r, g, b; /* byte offsets 0..3 */
} UiPixelLayout;

/* The layout of format; false for a format virtio-gpu does not define. */
bool ui_pixel_layout(uint32_t format, UiPixelLayout *l);

/*
 * Convert n pixels from src (laid out as l) to dst: bpp 3 writes R, G, B;
 * bpp 4 writes R, G, B, 0.
 */
void ui_pixel_convert(const UiPixelLayout *l, const uint8_t *src, uint8_t *dst, size_t n,
                      unsigned bpp);

#endif
