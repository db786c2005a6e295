/*
 * The screendump (screendump.h): the scanout is copied under the device's
 * lock (the guest waits only for the copy), then converted and encoded.
 */
#include "ui/screendump.h"

#include <errno.h>
#include <png.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ui/pixel.h"
#include "virtio/gpu.h"

/* libpng reports errors through longjmp: keep its message for the caller. */
static void png_error_fn(png_structp png, png_const_charp msg)
{
    Error *err = png_get_error_ptr(png);
    error_set(err, "png: %s", msg);
    png_longjmp(png, 1);
}

static void png_warning_fn(png_structp png, png_const_charp msg)
{
    (void)png;
    (void)msg;
}

/* Encode to an open file; 0 or -1 with err filled. */
static int png_encode(FILE *f, uint32_t width, uint32_t height, const uint8_t *rgb, Error *err)
{
    png_structp png =
        png_create_write_struct(PNG_LIBPNG_VER_STRING, err, png_error_fn, png_warning_fn);
    png_infop info = png ? png_create_info_struct(png) : NULL;
    if (!info) {
        png_destroy_write_struct(&png, NULL);
        return error_set(err, "png: out of memory");
    }
    if (setjmp(png_jmpbuf(png))) {
        png_destroy_write_struct(&png, &info);
        return -1;
    }
    png_init_io(png, f);
    png_set_IHDR(png, info, width, height, 8, PNG_COLOR_TYPE_RGB, PNG_INTERLACE_NONE,
                 PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    png_set_compression_level(png, 3); /* fast: a screendump is for scripts and tests */
    png_write_info(png, info);
    for (uint32_t y = 0; y < height; y++)
        png_write_row(png, rgb + (size_t)y * width * 3);
    png_write_end(png, NULL);
    png_destroy_write_struct(&png, &info);
    return 0;
}

int ui_png_write(const char *path, uint32_t width, uint32_t height, const uint8_t *rgb, Error *err)
{
    size_t len = strlen(path);
    char *tmp = malloc(len + 16);
    if (!tmp)
        return error_set(err, "out of memory");
    snprintf(tmp, len + 16, "%s.tmp%ld", path, (long)getpid());
    FILE *f = fopen(tmp, "wb");
    if (!f) {
        int e = errno;
        free(tmp);
        return error_set_errno(err, e, "%s", path);
    }
    Error perr = {0};
    int rc = png_encode(f, width, height, rgb, &perr);
    if (fclose(f) != 0 && rc == 0)
        rc = error_set_errno(&perr, errno, "write");
    if (rc == 0 && rename(tmp, path) < 0)
        rc = error_set_errno(&perr, errno, "rename");
    if (rc < 0) {
        unlink(tmp);
        error_set(err, "%s: %s", path, perr.msg);
    }
    free(tmp);
    return rc;
}

/* Copy the scanout as RGB; 0, or -1 with err filled. The caller frees *rgb. */
static int grab_rgb(VirtioMmio *gpu, uint8_t **rgb, uint32_t *w, uint32_t *h, Error *err)
{
    VirtioGpuFrame f;
    UiPixelLayout l;
    int rc = 0;
    virtio_gpu_frame_lock(gpu, &f);
    if (!f.pixels || !f.width || !f.height)
        rc = error_set(err, "the guest shows nothing on the display yet (no scanout set)");
    else if (!ui_pixel_layout(f.format, &l))
        rc = error_set(err, "the scanout's format %u is not supported", f.format);
    else if (!(*rgb = malloc((size_t)f.width * f.height * 3)))
        rc = error_set(err, "out of memory");
    else
        for (uint32_t y = 0; y < f.height; y++)
            ui_pixel_convert(&l, f.pixels + (size_t)y * f.stride, *rgb + (size_t)y * f.width * 3,
                             f.width, 3);
    *w = f.width;
    *h = f.height;
    virtio_gpu_frame_unlock(gpu);
    return rc;
}

int ui_screendump(VirtioMmio *gpu, const char *path, uint32_t *width, uint32_t *height, Error *err)
{
    uint8_t *rgb = NULL;
    uint32_t w, h;
    if (grab_rgb(gpu, &rgb, &w, &h, err) < 0)
        return -1;
    int rc = ui_png_write(path, w, h, rgb, err);
    free(rgb);
    if (rc == 0 && width)
        *width = w;
    if (rc == 0 && height)
        *height = h;
    return rc;
}
