/*
 * The display's front ends (src/ui/): pixel conversion from every
 * virtio-gpu format, a PNG written and read back with libpng, the
 * screendump's errors, the keysym table, the pointer mapping, and the VNC
 * server's listener, security rules and handshake over a real socket.
 */
#include <arpa/inet.h>
#include <linux/input-event-codes.h>
#include <png.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tap.h"
#include "ui/keymap.h"
#include "ui/pixel.h"
#include "ui/screendump.h"
#include "ui/vnc.h"
#include "vfake.h"
#include "virtio/gpu.h"
#include "virtio/input.h"

#define RAM_BASE 0x80000000ull

static Bus bus;
static VFakeIrq irq;
static char dir[] = "/tmp/hostel-test-ui-XXXXXX";

/* Each format with red 0x11, green 0x22, blue 0x33 and 0x44 in the fourth byte. */
static void test_pixels(void)
{
    static const struct {
        uint32_t format;
        uint8_t px[4];
    } cases[] = {
        {VIRTIO_GPU_FORMAT_B8G8R8A8_UNORM, {0x33, 0x22, 0x11, 0x44}},
        {VIRTIO_GPU_FORMAT_B8G8R8X8_UNORM, {0x33, 0x22, 0x11, 0x44}},
        {VIRTIO_GPU_FORMAT_A8R8G8B8_UNORM, {0x44, 0x11, 0x22, 0x33}},
        {VIRTIO_GPU_FORMAT_X8R8G8B8_UNORM, {0x44, 0x11, 0x22, 0x33}},
        {VIRTIO_GPU_FORMAT_R8G8B8A8_UNORM, {0x11, 0x22, 0x33, 0x44}},
        {VIRTIO_GPU_FORMAT_R8G8B8X8_UNORM, {0x11, 0x22, 0x33, 0x44}},
        {VIRTIO_GPU_FORMAT_X8B8G8R8_UNORM, {0x44, 0x33, 0x22, 0x11}},
        {VIRTIO_GPU_FORMAT_A8B8G8R8_UNORM, {0x44, 0x33, 0x22, 0x11}},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        UiPixelLayout l;
        uint8_t rgb[3], rgbx[4];
        bool known = ui_pixel_layout(cases[i].format, &l);
        ui_pixel_convert(&l, cases[i].px, rgb, 1, 3);
        ui_pixel_convert(&l, cases[i].px, rgbx, 1, 4);
        ok(known && rgb[0] == 0x11 && rgb[1] == 0x22 && rgb[2] == 0x33 && rgbx[0] == 0x11 &&
               rgbx[1] == 0x22 && rgbx[2] == 0x33 && rgbx[3] == 0,
           "format %u converts to RGB and RGBX", cases[i].format);
    }
    UiPixelLayout l;
    ok(!ui_pixel_layout(0, &l) && !ui_pixel_layout(5, &l), "unknown formats refused");
}

/* Read path back with libpng: 0 and the pixels as RGB (malloc'd), or -1. */
static int png_read(const char *path, uint32_t *w, uint32_t *h, uint8_t **rgb)
{
    png_image img = {.version = PNG_IMAGE_VERSION};
    if (!png_image_begin_read_from_file(&img, path))
        return -1;
    img.format = PNG_FORMAT_RGB;
    *rgb = malloc(PNG_IMAGE_SIZE(img));
    if (!*rgb || !png_image_finish_read(&img, NULL, *rgb, 0, NULL)) {
        free(*rgb);
        return -1;
    }
    *w = img.width;
    *h = img.height;
    return 0;
}

static void test_png(void)
{
    enum { W = 37, H = 21 };
    static uint8_t rgb[W * H * 3];
    char path[128], bad[160];
    Error err;
    for (size_t i = 0; i < sizeof(rgb); i++)
        rgb[i] = (uint8_t)(i * 7 + i / 3);
    snprintf(path, sizeof(path), "%s/a.png", dir);
    ok(ui_png_write(path, W, H, rgb, &err) == 0, "a %dx%d PNG written", W, H);
    uint32_t w = 0, h = 0;
    uint8_t *back = NULL;
    ok(png_read(path, &w, &h, &back) == 0 && w == W && h == H && !memcmp(back, rgb, sizeof(rgb)),
       "read back with libpng: same size and pixels");
    free(back);
    snprintf(bad, sizeof(bad), "%s/no-such-dir/a.png", dir);
    ok(ui_png_write(bad, W, H, rgb, &err) < 0 && strstr(err.msg, "no-such-dir"),
       "unwritable path: %s", err.msg);
    struct stat st;
    ok(stat(path, &st) == 0 && st.st_size > 0, "no temporary file replaced the PNG");
}

static void test_screendump_nothing(VirtioMmio *gpu)
{
    char path[128];
    Error err;
    snprintf(path, sizeof(path), "%s/s.png", dir);
    ok(ui_screendump(gpu, path, NULL, NULL, &err) < 0 && strstr(err.msg, "shows nothing") &&
           access(path, F_OK) < 0,
       "screendump with no scanout: %s", err.msg);
}

static void test_keymap(void)
{
    static const struct {
        uint32_t sym;
        unsigned code;
    } cases[] = {
        {'a', KEY_A},
        {'Z', KEY_Z},
        {'q', KEY_Q},
        {'0', KEY_0},
        {'1', KEY_1},
        {'9', KEY_9},
        {'!', KEY_1},
        {'@', KEY_2},
        {' ', KEY_SPACE},
        {'-', KEY_MINUS},
        {'_', KEY_MINUS},
        {'=', KEY_EQUAL},
        {'[', KEY_LEFTBRACE},
        {'}', KEY_RIGHTBRACE},
        {';', KEY_SEMICOLON},
        {'\'', KEY_APOSTROPHE},
        {'`', KEY_GRAVE},
        {'~', KEY_GRAVE},
        {'\\', KEY_BACKSLASH},
        {',', KEY_COMMA},
        {'.', KEY_DOT},
        {'/', KEY_SLASH},
        {'?', KEY_SLASH},
        {0xff0d, KEY_ENTER},
        {0xff09, KEY_TAB},
        {0xff1b, KEY_ESC},
        {0xff08, KEY_BACKSPACE},
        {0xffff, KEY_DELETE},
        {0xff50, KEY_HOME},
        {0xff57, KEY_END},
        {0xff55, KEY_PAGEUP},
        {0xff56, KEY_PAGEDOWN},
        {0xff63, KEY_INSERT},
        {0xff51, KEY_LEFT},
        {0xff52, KEY_UP},
        {0xff53, KEY_RIGHT},
        {0xff54, KEY_DOWN},
        {0xffbe, KEY_F1},
        {0xffc7, KEY_F10},
        {0xffc9, KEY_F12},
        {0xffe1, KEY_LEFTSHIFT},
        {0xffe2, KEY_RIGHTSHIFT},
        {0xffe3, KEY_LEFTCTRL},
        {0xffe4, KEY_RIGHTCTRL},
        {0xffe9, KEY_LEFTALT},
        {0xffea, KEY_RIGHTALT},
        {0xfe03, KEY_RIGHTALT},
        {0xffeb, KEY_LEFTMETA},
        {0xffe5, KEY_CAPSLOCK},
        {0xff8d, KEY_KPENTER},
        {0xffb7, KEY_KP7},
        {0xffab, KEY_KPPLUS},
    };
    unsigned bad = 0;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        if (ui_keysym_to_evdev(cases[i].sym) != cases[i].code) {
            printf("# keysym 0x%x -> %u, want %u\n", cases[i].sym, ui_keysym_to_evdev(cases[i].sym),
                   cases[i].code);
            bad++;
        }
    ok(bad == 0, "%zu keysyms map to their evdev codes", sizeof(cases) / sizeof(cases[0]));
    ok(ui_keysym_to_evdev(0) == 0 && ui_keysym_to_evdev(0x1f) == 0 &&
           ui_keysym_to_evdev(0xe9) == 0 && ui_keysym_to_evdev(0x10000) == 0 &&
           ui_keysym_to_evdev(0xff00) == 0,
       "keysyms without a key map to 0");
    /* Every printable ASCII character has a key. */
    unsigned missing = 0;
    for (uint32_t c = 0x20; c < 0x7f; c++)
        missing += ui_keysym_to_evdev(c) == 0;
    ok(missing == 0, "every printable ASCII character has a key");
}

static void test_pointer(void)
{
    VncPointer p;
    vnc_pointer_map(0, 0, 1024, 768, 0, 0, &p);
    ok(p.x == 0 && p.y == 0 && p.buttons == 0 && p.wheel == 0, "top left is 0,0");
    vnc_pointer_map(1023, 767, 1024, 768, 1 | 4, 0, &p);
    ok(p.x == VIRTIO_INPUT_ABS_MAX && p.y == VIRTIO_INPUT_ABS_MAX &&
           p.buttons == (VIRTIO_INPUT_BUTTON_LEFT | VIRTIO_INPUT_BUTTON_RIGHT),
       "bottom right is 32767,32767; left and right buttons");
    vnc_pointer_map(5000, -3, 1024, 768, 2, 0, &p);
    ok(p.x == VIRTIO_INPUT_ABS_MAX && p.y == 0 && p.buttons == VIRTIO_INPUT_BUTTON_MIDDLE,
       "outside the screen clamps; middle button");
    vnc_pointer_map(512, 384, 1024, 768, 8, 0, &p);
    ok(p.wheel == 1 && p.x == 512 * 32767 / 1023, "wheel up pressed: +1, x scaled");
    vnc_pointer_map(512, 384, 1024, 768, 8, 8, &p);
    ok(p.wheel == 0, "wheel up held: nothing more");
    vnc_pointer_map(512, 384, 1024, 768, 16, 0, &p);
    ok(p.wheel == -1 && p.buttons == 0, "wheel down: -1, no button");
}

static int connect_tcp(const char *addr)
{
    char host[64];
    const char *colon = strrchr(addr, ':');
    snprintf(host, sizeof(host), "%.*s", (int)(colon - addr), addr);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)atoi(colon + 1))};
    inet_pton(AF_INET, host, &a.sin_addr);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd >= 0 && connect(fd, (struct sockaddr *)&a, sizeof(a)) < 0) {
        close(fd);
        return -1;
    }
    struct timeval tv = {5, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    return fd;
}

static bool read_all(int fd, void *buf, size_t len)
{
    for (size_t got = 0; got < len;) {
        ssize_t n = read(fd, (char *)buf + got, len - got);
        if (n <= 0)
            return false;
        got += (size_t)n;
    }
    return true;
}

/* RFB 3.8 up to the security types offered: their list in types, their count returned. */
static int rfb_hello(int fd, uint8_t *types)
{
    char ver[12];
    uint8_t n;
    if (!read_all(fd, ver, 12) || memcmp(ver, "RFB 003.008\n", 12) != 0 ||
        write(fd, "RFB 003.008\n", 12) != 12 || !read_all(fd, &n, 1) || !read_all(fd, types, n))
        return -1;
    return n;
}

static void test_vnc(VirtioMmio *gpu)
{
    Error err;
    char pw[128], empty[128];
    VncConfig c = {.listen = "127.0.0.1:0", .gpu = gpu};
    VncServer *s = vnc_server_new(&c, &err);
    ok(s != NULL, "listens on 127.0.0.1 port 0 without a password: %s",
       s ? vnc_server_address(s) : err.msg);
    int fd = s ? connect_tcp(vnc_server_address(s)) : -1;
    uint8_t types[16], r[24], one = 1;
    ok(fd >= 0 && rfb_hello(fd, types) == 1 && types[0] == 1, "security type None only");
    uint32_t result = 1;
    bool init = fd >= 0 && write(fd, &one, 1) == 1 && read_all(fd, &result, 4) && result == 0 &&
                write(fd, &one, 1) == 1 && read_all(fd, r, 24);
    ok(init && (r[0] << 8 | r[1]) == 1024 && (r[2] << 8 | r[3]) == 768,
       "ServerInit: 1024x768 (the display's size while the guest shows nothing)");
    /* A FramebufferUpdateRequest gets a FramebufferUpdate (black). */
    uint8_t req[10] = {3, 0, 0, 0, 0, 0, 0x04, 0x00, 0x03, 0x00}, msg = 0xff;
    if (init) {
        uint32_t name_len = (uint32_t)r[20] << 24 | r[21] << 16 | r[22] << 8 | r[23];
        char name[64];
        init = name_len < sizeof(name) && read_all(fd, name, name_len) &&
               write(fd, req, sizeof(req)) == sizeof(req) && read_all(fd, &msg, 1);
    }
    ok(init && msg == 0, "a FramebufferUpdateRequest is answered with an update");
    if (fd >= 0)
        close(fd);
    vnc_server_free(s);

    c.listen = "0.0.0.0:0";
    ok(vnc_server_new(&c, &err) == NULL && strstr(err.msg, "password"),
       "0.0.0.0 without a password refused: %s", err.msg);
    c.listen = "127.0.0.1";
    ok(vnc_server_new(&c, &err) == NULL && strstr(err.msg, "HOST:PORT"), "no port: %s", err.msg);
    snprintf(empty, sizeof(empty), "%s/empty", dir);
    fclose(fopen(empty, "w"));
    c.listen = "127.0.0.1:0";
    c.password_file = empty;
    ok(vnc_server_new(&c, &err) == NULL && strstr(err.msg, "empty"), "empty password: %s", err.msg);
    snprintf(pw, sizeof(pw), "%s/pw", dir);
    FILE *f = fopen(pw, "w");
    fputs("sekrit-long-password\n", f);
    fclose(f);
    c.password_file = pw;
    c.listen = "0.0.0.0:0";
    s = vnc_server_new(&c, &err);
    ok(s != NULL, "0.0.0.0 with a password: %s", s ? vnc_server_address(s) : err.msg);
    char addr[64];
    snprintf(addr, sizeof(addr), "127.0.0.1:%s", s ? strrchr(vnc_server_address(s), ':') + 1 : "0");
    fd = s ? connect_tcp(addr) : -1;
    ok(fd >= 0 && rfb_hello(fd, types) == 1 && types[0] == 2, "security type VNC auth only");
    if (fd >= 0)
        close(fd);
    vnc_server_free(s);

    char sock[128];
    snprintf(sock, sizeof(sock), "unix:%s/vnc.sock", dir);
    c = (VncConfig){.listen = sock, .gpu = gpu};
    s = vnc_server_new(&c, &err);
    ok(s != NULL, "listens on %s", sock);
    vnc_server_free(s);
    ok(access(sock + 5, F_OK) < 0, "the unix socket is removed when the server ends");
}

int main(void)
{
    Error err;
    if (!mkdtemp(dir) || bus_init(&bus, RAM_BASE, 1 << 20, &err) < 0) {
        printf("Bail out! setup\n");
        return 1;
    }
    VirtioMmio *gpu = vfake_virtio_gpu(&bus, 0x10001000, &irq, &(VirtioGpuConfig){0}, &err);
    if (!gpu) {
        printf("Bail out! %s\n", err.msg);
        return 1;
    }
    test_pixels();
    test_png();
    test_screendump_nothing(gpu);
    test_keymap();
    test_pointer();
    test_vnc(gpu);
    virtio_mmio_free(gpu);
    bus_destroy(&bus);
    char cmd[64];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    if (system(cmd) != 0)
        printf("# could not remove %s\n", dir);
    return tap_done();
}
