/*
 * The VNC server (vnc.h) on libvncserver, driven by a thread of ours:
 * rfbProcessEvents serves the clients (no listener of libvncserver's: we
 * accept on our own TCP or unix socket and hand each connection to
 * rfbNewClient), and between its calls the scanout's dirty rectangle is
 * copied into the framebuffer.  Everything libvncserver does happens on
 * this one thread, so resizing the framebuffer needs no locking of ours.
 */
#include "ui/vnc.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <poll.h>
#include <pthread.h>
#include <rfb/rfb.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "ui/keymap.h"
#include "ui/pixel.h"
#include "util/log.h"
#include "virtio/gpu.h"
#include "virtio/input.h"

struct VncServer {
    VncConfig cfg;
    int listen_fd;
    bool is_unix;
    char address[128];
    char unix_path[108];
    char password[VNC_PASSWORD_MAX + 1];
    char *passwords[2]; /* rfbCheckPasswordByList's list: {password, NULL} */
    rfbScreenInfoPtr screen;
    uint8_t *fb; /* screen->frameBuffer: RGBX, width * 4 per row */
    uint32_t width, height;
    bool showing; /* the framebuffer holds a scanout (else black) */
    int clients;
    int last_mask; /* the pointer's last RFB button mask */
    int wake_fd;   /* eventfd: the screen changed (virtio_gpu_set_notify), or stop */
    pthread_t thread;
    bool started;
    atomic_bool stop;
};

/* ---- libvncserver's messages: to our log at debug level ---- */

static void vnc_log(const char *fmt, ...)
{
    char line[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    line[strcspn(line, "\n")] = 0;
    log_at(LOG_DEBUG, "vnc: %s", line);
}

/* ---- input ---- */

void vnc_pointer_map(int x, int y, uint32_t width, uint32_t height, int mask, int prev,
                     VncPointer *out)
{
    long w = width > 1 ? (long)width - 1 : 1, h = height > 1 ? (long)height - 1 : 1;
    x = x < 0 ? 0 : x > w ? (int)w : x;
    y = y < 0 ? 0 : y > h ? (int)h : y;
    out->x = (int)((long)x * VIRTIO_INPUT_ABS_MAX / w);
    out->y = (int)((long)y * VIRTIO_INPUT_ABS_MAX / h);
    out->buttons = (mask & 1 ? VIRTIO_INPUT_BUTTON_LEFT : 0) |
                   (mask & 2 ? VIRTIO_INPUT_BUTTON_MIDDLE : 0) |
                   (mask & 4 ? VIRTIO_INPUT_BUTTON_RIGHT : 0);
    int pressed = mask & ~prev;
    out->wheel = (pressed & 8 ? 1 : 0) - (pressed & 16 ? 1 : 0);
}

static void vnc_key(rfbBool down, rfbKeySym sym, rfbClientPtr cl)
{
    VncServer *s = cl->screen->screenData;
    unsigned code = ui_keysym_to_evdev(sym);
    if (code && s->cfg.keyboard)
        virtio_input_send_key(s->cfg.keyboard, code, down);
}

static void vnc_pointer(int mask, int x, int y, rfbClientPtr cl)
{
    VncServer *s = cl->screen->screenData;
    VncPointer p;
    vnc_pointer_map(x, y, s->width, s->height, mask, s->last_mask, &p);
    s->last_mask = mask;
    if (!s->cfg.tablet)
        return;
    virtio_input_send_abs(s->cfg.tablet, p.x, p.y);
    virtio_input_send_buttons(s->cfg.tablet, p.buttons);
    if (p.wheel)
        virtio_input_send_wheel(s->cfg.tablet, p.wheel);
}

/* A client asks for another size (SetDesktopSize): the guest is asked for that mode. */
static int vnc_set_size(int width, int height, int nscreens, struct rfbExtDesktopScreen *screens,
                        rfbClientPtr cl)
{
    VncServer *s = cl->screen->screenData;
    Error err;
    if (width <= 0 || height <= 0 ||
        virtio_gpu_request_resize(s->cfg.gpu, (uint32_t)width, (uint32_t)height, &err) < 0)
        return rfbExtDesktopSize_InvalidScreenLayout;
    return rfbExtDesktopSize_Success;
}

/* ---- clients ---- */

static void vnc_client_gone(rfbClientPtr cl)
{
    VncServer *s = cl->screen->screenData;
    s->clients--;
}

static enum rfbNewClientAction vnc_client_new(rfbClientPtr cl)
{
    VncServer *s = cl->screen->screenData;
    if (s->clients >= VNC_MAX_CLIENTS)
        return RFB_CLIENT_REFUSE;
    s->clients++;
    cl->clientGoneHook = vnc_client_gone;
    return RFB_CLIENT_ACCEPT;
}

static void vnc_accept(VncServer *s)
{
    struct pollfd p = {.fd = s->listen_fd, .events = POLLIN};
    while (poll(&p, 1, 0) == 1 && (p.revents & POLLIN)) {
        int fd = accept4(s->listen_fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
        if (fd < 0)
            return;
        if (fd >= FD_SETSIZE || !rfbNewClient(s->screen, fd))
            close(fd); /* rfbProcessEvents selects: no descriptor past FD_SETSIZE */
    }
}

/* ---- the framebuffer ---- */

/* Copy rectangle r (inside both) of frame f into the framebuffer. */
static void vnc_copy(VncServer *s, const VirtioGpuFrame *f, const UiPixelLayout *l,
                     const VirtioGpuRect *r)
{
    for (uint32_t y = r->y; y < r->y + r->height; y++)
        ui_pixel_convert(l, f->pixels + (size_t)y * f->stride + (size_t)r->x * 4,
                         s->fb + ((size_t)y * s->width + r->x) * 4, r->width, 4);
}

/*
 * A framebuffer of width x height for the screen (black), the old one
 * freed.  False (the old one kept) when out of memory.
 */
static bool vnc_resize(VncServer *s, uint32_t width, uint32_t height)
{
    uint8_t *fb = calloc((size_t)width * height, 4);
    if (!fb)
        return false;
    rfbNewFramebuffer(s->screen, (char *)fb, (int)width, (int)height, 8, 3, 4);
    free(s->fb);
    s->fb = fb;
    s->width = width;
    s->height = height;
    s->showing = false;
    return true;
}

/* Bring the framebuffer up to date with the scanout; the rectangle that changed in *r. */
static bool vnc_refresh(VncServer *s, VirtioGpuRect *r)
{
    VirtioGpuFrame f;
    UiPixelLayout l;
    uint32_t w, h;
    bool dirty = virtio_gpu_take_dirty(s->cfg.gpu, r);
    virtio_gpu_display_size(s->cfg.gpu, &w, &h); /* (takes the lock: before frame_lock) */
    virtio_gpu_frame_lock(s->cfg.gpu, &f);
    bool shows = f.pixels && f.width && f.height && ui_pixel_layout(f.format, &l);
    if (shows)
        w = f.width, h = f.height;
    if ((w != s->width || h != s->height) && !vnc_resize(s, w, h)) {
        virtio_gpu_frame_unlock(s->cfg.gpu);
        return false;
    }
    bool whole = shows != s->showing || !dirty;
    if (whole)
        *r = (VirtioGpuRect){0, 0, s->width, s->height};
    if (r->x >= s->width || r->y >= s->height)
        r->width = r->height = 0;
    if (r->width > s->width - r->x)
        r->width = s->width - r->x;
    if (r->height > s->height - r->y)
        r->height = s->height - r->y;
    if (shows && (dirty || !s->showing))
        vnc_copy(s, &f, &l, r);
    else if (!shows && s->showing)
        memset(s->fb, 0, (size_t)s->width * s->height * 4);
    bool changed = (dirty && shows) || shows != s->showing;
    s->showing = shows;
    virtio_gpu_frame_unlock(s->cfg.gpu);
    return changed && r->width && r->height;
}

/* On the VM thread, under the device's lock: only wake the VNC thread. */
static void vnc_wake(void *opaque)
{
    VncServer *s = opaque;
    uint64_t one = 1;
    if (write(s->wake_fd, &one, sizeof(one)) < 0) {
        /* the counter is full: the thread is woken anyway */
    }
}

/*
 * Sleep until something is to be done: the screen changed, a client sent
 * something, a client connects, or VNC_INTERVAL_MS passed (what the device
 * does not announce, a cursor or a disabled scanout, is seen then).
 */
static void vnc_wait(VncServer *s)
{
    struct pollfd p[2 + VNC_MAX_CLIENTS] = {{.fd = s->wake_fd, .events = POLLIN},
                                            {.fd = s->listen_fd, .events = POLLIN}};
    nfds_t n = 2;
    rfbClientIteratorPtr it = rfbGetClientIterator(s->screen);
    for (rfbClientPtr cl; (cl = rfbClientIteratorNext(it)) && n < 2 + VNC_MAX_CLIENTS;)
        if (cl->sock >= 0)
            p[n++] = (struct pollfd){.fd = cl->sock, .events = POLLIN};
    rfbReleaseClientIterator(it);
    if (poll(p, n, VNC_INTERVAL_MS) > 0 && (p[0].revents & POLLIN)) {
        uint64_t v;
        if (read(s->wake_fd, &v, sizeof(v)) < 0) {
            /* nothing was left to read */
        }
    }
}

static void *vnc_thread(void *opaque)
{
    VncServer *s = opaque;
    while (!atomic_load(&s->stop)) {
        VirtioGpuRect r;
        vnc_accept(s);
        if (vnc_refresh(s, &r))
            rfbMarkRectAsModified(s->screen, (int)r.x, (int)r.y, (int)(r.x + r.width),
                                  (int)(r.y + r.height));
        if (s->clients)
            rfbProcessEvents(s->screen, 0); /* input in, the updates asked for out */
        vnc_wait(s);
    }
    return NULL;
}

/* ---- setting up ---- */

/* The first line of path, at most VNC_PASSWORD_MAX bytes of it used. */
static int vnc_read_password(VncServer *s, const char *path, Error *err)
{
    char line[256];
    FILE *f = fopen(path, "r");
    if (!f)
        return error_set_errno(err, errno, "password-file %s", path);
    bool got = fgets(line, sizeof(line), f) != NULL;
    fclose(f);
    if (got)
        line[strcspn(line, "\r\n")] = 0;
    if (!got || !line[0])
        return error_set(err, "password-file %s: the first line (the password) is empty", path);
    size_t n = strlen(line);
    memcpy(s->password, line, n < VNC_PASSWORD_MAX ? n : VNC_PASSWORD_MAX);
    s->passwords[0] = s->password;
    explicit_bzero(line, sizeof(line));
    return 0;
}

static int vnc_listen_unix(VncServer *s, const char *path, Error *err)
{
    struct sockaddr_un a = {.sun_family = AF_UNIX};
    if (!path[0] || strlen(path) >= sizeof(a.sun_path))
        return error_set(err, "vnc=unix:%s: expected a path of 1 to %zu bytes", path,
                         sizeof(a.sun_path) - 1);
    memcpy(a.sun_path, path, strlen(path));
    s->listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (s->listen_fd < 0)
        return error_set_errno(err, errno, "vnc: socket");
    struct stat st;
    if (lstat(path, &st) == 0 && S_ISSOCK(st.st_mode))
        unlink(path); /* left by a VM that died; anything else is never touched: bind fails */
    if (bind(s->listen_fd, (struct sockaddr *)&a, sizeof(a)) < 0 || listen(s->listen_fd, 8) < 0)
        return error_set_errno(err, errno, "vnc: listen on %s", path);
    snprintf(s->unix_path, sizeof(s->unix_path), "%s", path);
    snprintf(s->address, sizeof(s->address), "unix:%s", path);
    s->is_unix = true;
    return 0;
}

static bool vnc_loopback(const struct sockaddr *sa)
{
    if (sa->sa_family == AF_INET)
        return (ntohl(((const struct sockaddr_in *)sa)->sin_addr.s_addr) >> 24) == 127;
    return sa->sa_family == AF_INET6 &&
           IN6_IS_ADDR_LOOPBACK(&((const struct sockaddr_in6 *)sa)->sin6_addr);
}

/* Split "HOST:PORT" / "[V6]:PORT" into host and port. */
static int vnc_split(const char *spec, char *host, size_t hsize, const char **port, Error *err)
{
    const char *colon = strrchr(spec, ':');
    const char *h = spec;
    size_t hlen = colon ? (size_t)(colon - spec) : 0;
    if (hlen >= 2 && h[0] == '[' && h[hlen - 1] == ']')
        h++, hlen -= 2;
    if (!colon || !hlen || hlen >= hsize || !colon[1])
        return error_set(err, "vnc=%s: expected HOST:PORT or unix:PATH", spec);
    memcpy(host, h, hlen);
    host[hlen] = 0;
    *port = colon + 1;
    return 0;
}

static int vnc_listen_tcp(VncServer *s, const char *spec, Error *err)
{
    char host[64], serv[16], name[64];
    const char *port = NULL;
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE}, *ai;
    if (vnc_split(spec, host, sizeof(host), &port, err) < 0)
        return -1;
    int rc = getaddrinfo(host, port, &hints, &ai);
    if (rc)
        return error_set(err, "vnc=%s: %s", spec, gai_strerror(rc));
    if (!s->passwords[0] && !vnc_loopback(ai->ai_addr)) {
        freeaddrinfo(ai);
        return error_set(err,
                         "vnc=%s: listening beyond loopback needs a password "
                         "(password-file=FILE)",
                         spec);
    }
    s->listen_fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    int one = 1;
    if (s->listen_fd >= 0)
        setsockopt(s->listen_fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (s->listen_fd < 0 || bind(s->listen_fd, ai->ai_addr, ai->ai_addrlen) < 0 ||
        listen(s->listen_fd, 8) < 0) {
        freeaddrinfo(ai);
        return error_set_errno(err, errno, "vnc: listen on %s", spec);
    }
    freeaddrinfo(ai);
    struct sockaddr_storage ss;
    socklen_t len = sizeof(ss);
    getsockname(s->listen_fd, (struct sockaddr *)&ss, &len);
    getnameinfo((struct sockaddr *)&ss, len, name, sizeof(name), serv, sizeof(serv),
                NI_NUMERICHOST | NI_NUMERICSERV);
    snprintf(s->address, sizeof(s->address), ss.ss_family == AF_INET6 ? "[%s]:%s" : "%s:%s", name,
             serv);
    return 0;
}

static int vnc_screen(VncServer *s, Error *err)
{
    int argc = 0;
    rfbLog = rfbErr = vnc_log; /* libvncserver's globals: it never prints itself */
    rfbMaxClientWait = VNC_CLIENT_WAIT_MS;
    virtio_gpu_display_size(s->cfg.gpu, &s->width, &s->height);
    s->fb = calloc((size_t)s->width * s->height, 4);
    s->screen = s->fb ? rfbGetScreen(&argc, NULL, (int)s->width, (int)s->height, 8, 3, 4) : NULL;
    if (!s->screen)
        return error_set(err, "vnc: out of memory");
    rfbScreenInfoPtr sc = s->screen;
    sc->frameBuffer = (char *)s->fb;
    sc->desktopName = "hostel";
    sc->port = sc->ipv6port = 0; /* we listen ourselves */
    sc->autoPort = FALSE;
    sc->httpPort = 0;
    sc->alwaysShared = TRUE;
    sc->deferUpdateTime = 0; /* the guest's flush is the frame: send it at once */
    sc->screenData = s;
    sc->kbdAddEvent = vnc_key;
    sc->ptrAddEvent = vnc_pointer;
    sc->setDesktopSizeHook = vnc_set_size;
    sc->newClientHook = vnc_client_new;
    if (s->passwords[0]) {
        sc->authPasswdData = s->passwords;
        sc->passwordCheck = rfbCheckPasswordByList;
    }
    rfbInitServer(sc);
    return 0;
}

VncServer *vnc_server_new(const VncConfig *cfg, Error *err)
{
    VncServer *s = calloc(1, sizeof(*s));
    if (!s) {
        error_set(err, "vnc: out of memory");
        return NULL;
    }
    s->cfg = *cfg;
    s->listen_fd = -1;
    s->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (s->wake_fd < 0) {
        error_set_errno(err, errno, "vnc: eventfd");
        free(s);
        return NULL;
    }
    int rc = cfg->password_file ? vnc_read_password(s, cfg->password_file, err) : 0;
    if (rc == 0)
        rc = !strncmp(cfg->listen, "unix:", 5) ? vnc_listen_unix(s, cfg->listen + 5, err)
                                               : vnc_listen_tcp(s, cfg->listen, err);
    if (rc == 0)
        rc = vnc_screen(s, err);
    if (rc == 0 && (errno = pthread_create(&s->thread, NULL, vnc_thread, s)) != 0)
        rc = error_set_errno(err, errno, "vnc: thread");
    s->started = rc == 0;
    if (rc == 0)
        virtio_gpu_set_notify(cfg->gpu, vnc_wake, s);
    if (rc < 0) {
        vnc_server_free(s);
        return NULL;
    }
    return s;
}

void vnc_server_free(VncServer *s)
{
    if (!s)
        return;
    if (s->started) {
        virtio_gpu_set_notify(s->cfg.gpu, NULL, NULL);
        atomic_store(&s->stop, true);
        vnc_wake(s);
        pthread_join(s->thread, NULL);
    }
    if (s->screen) {
        rfbShutdownServer(s->screen, TRUE);
        rfbScreenCleanup(s->screen);
    }
    free(s->fb);
    if (s->listen_fd >= 0)
        close(s->listen_fd);
    if (s->unix_path[0])
        unlink(s->unix_path);
    explicit_bzero(s->password, sizeof(s->password));
    close(s->wake_fd);
    free(s);
}

const char *vnc_server_address(const VncServer *s)
{
    return s->address;
}
