/* Pixel conversion: virtio-gpu's formats to RGB or RGBX (pixel.h). */
#include "ui/pixel.h"

#include "virtio/gpu.h"

bool ui_pixel_layout(uint32_t format, UiPixelLayout *l)
{
    switch (format) {
    case VIRTIO_GPU_FORMAT_B8G8R8A8_UNORM:
    case VIRTIO_GPU_FORMAT_B8G8R8X8_UNORM: *l = (UiPixelLayout){2, 1, 0}; return true;
    case VIRTIO_GPU_FORMAT_A8R8G8B8_UNORM:
    case VIRTIO_GPU_FORMAT_X8R8G8B8_UNORM: *l = (UiPixelLayout){1, 2, 3}; return true;
    case VIRTIO_GPU_FORMAT_R8G8B8A8_UNORM:
    case VIRTIO_GPU_FORMAT_R8G8B8X8_UNORM: *l = (UiPixelLayout){0, 1, 2}; return true;
    case VIRTIO_GPU_FORMAT_X8B8G8R8_UNORM:
    case VIRTIO_GPU_FORMAT_A8B8G8R8_UNORM: *l = (UiPixelLayout){3, 2, 1}; return true;
    default: return false;
    }
}

void ui_pixel_convert(const UiPixelLayout *l, const uint8_t *src, uint8_t *dst, size_t n,
                      unsigned bpp)
{
    for (size_t i = 0; i < n; i++, src += 4, dst += bpp) {
        dst[0] = src[l->r];
        dst[1] = src[l->g];
        dst[2] = src[l->b];
        if (bpp == 4)
            dst[3] = 0;
    }
}
