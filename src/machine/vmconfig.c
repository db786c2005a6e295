/*
 * VmConfig itself: defaults, ownership (copy, free), building a definition
 * up (disks, cards), the default slot layout, and the checks every
 * definition passes whatever it came from.  The JSON codec is in
 * vmconfig_json.c.
 */
#include "machine/vmconfig.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "util/compiler.h"

#define PAGE_SIZE 4096ull

static const char *const slot_kind_names[] = {
    [VM_DEV_EMPTY] = "empty",       [VM_DEV_BLK] = "blk",         [VM_DEV_NET] = "net",
    [VM_DEV_RNG] = "rng",           [VM_DEV_CONSOLE] = "console", [VM_DEV_GPU] = "gpu",
    [VM_DEV_KEYBOARD] = "keyboard", [VM_DEV_TABLET] = "tablet",
};

void vmconfig_default(VmConfig *cfg)
{
    *cfg = (VmConfig){.ram_size = VMCONFIG_DEFAULT_RAM, .nharts = 1, .display = {false, 1024, 768}};
    vmconfig_default_layout(cfg, NULL);
}

static void disk_free(VmDisk *d)
{
    free(d->path);
    free(d->format);
}

void vmconfig_free(VmConfig *cfg)
{
    for (unsigned i = 0; i < cfg->ndisks && i < VMCONFIG_MAX_DISKS; i++)
        disk_free(&cfg->disks[i]);
    free(cfg->boot.kernel);
    free(cfg->boot.initrd);
    free(cfg->boot.cmdline);
    free(cfg->boot.bios);
    vmconfig_default(cfg);
}

int vmconfig_set_string(char **slot, const char *s, Error *err)
{
    char *copy = s ? strdup(s) : NULL;
    if (s && !copy)
        return error_set(err, "out of memory");
    free(*slot);
    *slot = copy;
    return 0;
}

int vmconfig_boot_firmware(VmBoot *b, Error *err)
{
    if (!b->bios && vmconfig_set_string(&b->bios, VMCONFIG_FIRMWARE_OPENSBI, err) < 0)
        return -1;
    if (!b->kernel && vmconfig_set_string(&b->kernel, VMCONFIG_FIRMWARE_UBOOT, err) < 0)
        return -1;
    return 0;
}

/* d's strings replaced by copies of src's (d's old ones are not freed). */
static int disk_copy(VmDisk *d, const VmDisk *src, Error *err)
{
    *d = (VmDisk){.read_only = src->read_only, .l2_cache_bytes = src->l2_cache_bytes};
    if (vmconfig_set_string(&d->path, src->path, err) < 0 ||
        vmconfig_set_string(&d->format, src->format, err) < 0) {
        disk_free(d);
        *d = (VmDisk){0};
        return -1;
    }
    return 0;
}

int vmconfig_copy(VmConfig *dst, const VmConfig *src, Error *err)
{
    *dst = *src;
    dst->boot = (VmBoot){0};
    dst->ndisks = 0;
    for (unsigned i = 0; i < src->ndisks; i++) {
        if (disk_copy(&dst->disks[i], &src->disks[i], err) < 0)
            goto fail;
        dst->ndisks++;
    }
    if (vmconfig_set_string(&dst->boot.kernel, src->boot.kernel, err) < 0 ||
        vmconfig_set_string(&dst->boot.initrd, src->boot.initrd, err) < 0 ||
        vmconfig_set_string(&dst->boot.cmdline, src->boot.cmdline, err) < 0 ||
        vmconfig_set_string(&dst->boot.bios, src->boot.bios, err) < 0)
        goto fail;
    return 0;
fail:
    vmconfig_free(dst);
    return -1;
}

int vmconfig_add_disk(VmConfig *cfg, const VmDisk *disk, Error *err)
{
    if (cfg->ndisks == VMCONFIG_MAX_DISKS)
        return error_set(err, "at most %d disks", VMCONFIG_MAX_DISKS);
    if (disk_copy(&cfg->disks[cfg->ndisks], disk, err) < 0)
        return -1;
    cfg->ndisks++;
    return 0;
}

int vmconfig_add_nic(VmConfig *cfg, const NetConfig *nic, Error *err)
{
    if (nic->kind == NET_NONE)
        return error_set(err, "a network card needs a backend (user, tap, socket or network)");
    if (cfg->nnics == VMCONFIG_MAX_NICS)
        return error_set(err, "at most %d network cards", VMCONFIG_MAX_NICS);
    cfg->nics[cfg->nnics++] = *nic;
    return 0;
}

/* ---- the slot layout ---- */

int vmconfig_default_layout(VmConfig *cfg, Error *err)
{
    bool keyboard = vmconfig_slot_of(cfg, VM_DEV_KEYBOARD, 0) >= 0;
    bool tablet = vmconfig_slot_of(cfg, VM_DEV_TABLET, 0) >= 0;
    unsigned used = cfg->ndisks + cfg->nnics + cfg->display.enabled + keyboard + tablet, n = 0;
    if (cfg->nnics == 1 && cfg->ndisks >= VMCONFIG_MAX_DISKS)
        return error_set(err,
                         "at most %d disks with a network card (--net none leaves room for %d)",
                         VMCONFIG_MAX_DISKS - 1, VMCONFIG_MAX_DISKS);
    if (used + 2 > VMCONFIG_SLOTS && (keyboard || tablet))
        return error_set(err,
                         "%u disks, %u network cards and %u input devices do not fit: the %d "
                         "virtio slots hold at most %d beside rng and console",
                         cfg->ndisks, cfg->nnics, keyboard + tablet, VMCONFIG_SLOTS,
                         VMCONFIG_SLOTS - 2);
    if (used + 2 > VMCONFIG_SLOTS)
        return error_set(err,
                         "%u disks and %u network cards do not fit: the %d virtio slots hold at "
                         "most %d beside rng and console",
                         cfg->ndisks, cfg->nnics, VMCONFIG_SLOTS, VMCONFIG_SLOTS - 2);
    for (unsigned i = 0; i < cfg->ndisks; i++)
        cfg->devices[n++] = (VmSlot){VM_DEV_BLK, i};
    for (unsigned i = 0; i < cfg->nnics; i++)
        cfg->devices[n++] = (VmSlot){VM_DEV_NET, i};
    cfg->devices[n++] = (VmSlot){VM_DEV_RNG, 0};
    cfg->devices[n++] = (VmSlot){VM_DEV_CONSOLE, 0};
    if (cfg->display.enabled)
        cfg->devices[n++] = (VmSlot){VM_DEV_GPU, 0};
    if (keyboard)
        cfg->devices[n++] = (VmSlot){VM_DEV_KEYBOARD, 0};
    if (tablet)
        cfg->devices[n++] = (VmSlot){VM_DEV_TABLET, 0};
    while (n < VMCONFIG_SLOTS)
        cfg->devices[n++] = (VmSlot){VM_DEV_EMPTY, 0};
    return 0;
}

int vmconfig_add_input(VmConfig *cfg, Error *err)
{
    static const VmDeviceKind kinds[] = {VM_DEV_KEYBOARD, VM_DEV_TABLET};
    unsigned want = 0;
    for (unsigned k = 0; k < ARRAY_SIZE(kinds); k++)
        want += vmconfig_slot_of(cfg, kinds[k], 0) < 0;
    unsigned empty = 0;
    for (unsigned s = 0; s < VMCONFIG_SLOTS; s++)
        empty += cfg->devices[s].kind == VM_DEV_EMPTY;
    if (want > empty)
        return error_set(err,
                         "no room for the keyboard and the tablet: %u of the %d virtio slots are "
                         "free, %u needed",
                         empty, VMCONFIG_SLOTS, want);
    for (unsigned k = 0, s = 0; k < ARRAY_SIZE(kinds); k++) {
        if (vmconfig_slot_of(cfg, kinds[k], 0) >= 0)
            continue;
        while (cfg->devices[s].kind != VM_DEV_EMPTY)
            s++;
        cfg->devices[s] = (VmSlot){kinds[k], 0};
    }
    return 0;
}

int vmconfig_slot_of(const VmConfig *cfg, VmDeviceKind kind, unsigned index)
{
    for (int s = 0; s < VMCONFIG_SLOTS; s++)
        if (cfg->devices[s].kind == kind && cfg->devices[s].index == index)
            return s;
    return -1;
}

static bool slot_indexed(VmDeviceKind kind)
{
    return kind == VM_DEV_BLK || kind == VM_DEV_NET;
}

/* A locally administered, unicast MAC address. */
static void random_mac(uint8_t m[NET_MAC_LEN])
{
    if (getrandom(m, NET_MAC_LEN, 0) != (ssize_t)NET_MAC_LEN)
        memset(m, 0x5a, NET_MAC_LEN);
    m[0] = (uint8_t)((m[0] & 0xfe) | 0x02);
}

void vmconfig_fresh_macs(VmConfig *cfg)
{
    for (unsigned i = 0; i < cfg->nnics; i++) {
        bool again;
        do {
            random_mac(cfg->nics[i].mac);
            again = false;
            for (unsigned j = 0; j < i; j++)
                again |= !memcmp(cfg->nics[j].mac, cfg->nics[i].mac, NET_MAC_LEN);
        } while (again);
    }
}

void vmconfig_slot_format(VmSlot s, char *buf, size_t size)
{
    const char *name =
        (unsigned)s.kind < ARRAY_SIZE(slot_kind_names) ? slot_kind_names[s.kind] : "?";
    if (slot_indexed(s.kind))
        snprintf(buf, size, "%s:%u", name, s.index);
    else
        snprintf(buf, size, "%s", name);
}

bool vmconfig_slot_parse(const char *s, VmSlot *slot)
{
    for (unsigned k = 0; k < ARRAY_SIZE(slot_kind_names); k++) {
        size_t len = strlen(slot_kind_names[k]);
        if (strncmp(s, slot_kind_names[k], len) != 0)
            continue;
        const char *rest = s + len;
        if (!slot_indexed((VmDeviceKind)k)) {
            if (*rest)
                continue;
            *slot = (VmSlot){(VmDeviceKind)k, 0};
            return true;
        }
        /* ":N", N one or two decimal digits without a leading zero */
        if (rest[0] != ':' || rest[1] < '0' || rest[1] > '9' || (rest[1] == '0' && rest[2]) ||
            (rest[2] && (rest[2] < '0' || rest[2] > '9' || rest[3])))
            return false;
        *slot = (VmSlot){(VmDeviceKind)k, (unsigned)strtoul(rest + 1, NULL, 10)};
        return true;
    }
    return false;
}

/* ---- checks ---- */

static int check_ram(uint64_t ram, Error *err)
{
    if (ram < VMCONFIG_MIN_RAM)
        return error_set(err, "ram-size: memory below 16 MiB (%llu KiB requested)",
                         (unsigned long long)(ram >> 10));
    if (ram > VMCONFIG_MAX_RAM)
        return error_set(err, "ram-size: memory above 1 TiB is not supported (%llu GiB requested)",
                         (unsigned long long)(ram >> 30));
    if (ram % PAGE_SIZE)
        return error_set(err, "ram-size: memory size must be a multiple of 4 KiB");
    return 0;
}

/* Nothing set that belongs to another kind of card. */
static int check_nic_foreign(const NetConfig *n, unsigned i, Error *err)
{
    static const NetPortOptions no_port;
    if (n->kind != NET_USER && n->nfwd)
        return error_set(err, "nics[%u].hostfwd: only a user card forwards ports", i);
    if (n->kind != NET_TAP && n->ifname[0])
        return error_set(err, "nics[%u].ifname: only a tap card has an interface name", i);
    if (n->kind != NET_SOCKET && n->path[0])
        return error_set(err, "nics[%u].path: only a socket card has a path", i);
    if (n->kind != NET_NETWORK && n->network[0])
        return error_set(err, "nics[%u].network: only a network card names a network", i);
    if (n->kind != NET_NETWORK && memcmp(&n->port, &no_port, sizeof(no_port)) != 0)
        return error_set(err, "nics[%u]: only a network card has switch port options", i);
    if (n->kind == NET_USER && n->fd != -1)
        return error_set(err, "nics[%u].fd: only a tap, socket or network card has a descriptor",
                         i);
    return 0;
}

/* What the card's kind needs: its interface, socket or network, and sane values. */
static int check_nic_kind(const NetConfig *n, unsigned i, Error *err)
{
    Error e = {0};
    if (n->fd != -1 && n->fd < 3)
        return error_set(err, "nics[%u].fd: %d is not a descriptor number of 3 or more", i, n->fd);
    if (n->nfwd > NET_MAX_HOSTFWD)
        return error_set(err, "nics[%u].hostfwd: at most %d rules", i, NET_MAX_HOSTFWD);
    switch (n->kind) {
    case NET_USER: return 0;
    case NET_TAP:
        if (n->ifname[0] && n->fd >= 0)
            return error_set(err, "nics[%u]: a tap card has ifname or fd, not both", i);
        if (n->fd < 0 && !n->ifname[0])
            return error_set(err, "nics[%u].ifname: missing (a tap card needs ifname or fd)", i);
        if (n->fd < 0 && !net_ifname_valid(n->ifname))
            return error_set(err, "nics[%u].ifname: '%.*s' is not an interface name", i,
                             NET_IFNAME_MAX - 1, n->ifname);
        return 0;
    case NET_SOCKET:
        if (n->path[0] && n->fd >= 0)
            return error_set(err, "nics[%u]: a socket card has path or fd, not both", i);
        if (n->fd < 0 && !n->path[0])
            return error_set(err, "nics[%u].path: missing (a socket card needs path or fd)", i);
        if (!memchr(n->path, '\0', sizeof(n->path)))
            return error_set(err, "nics[%u].path: too long for a unix socket", i);
        return 0;
    case NET_NETWORK:
        if (!memchr(n->network, '\0', sizeof(n->network)) || !net_network_name_valid(n->network))
            return error_set(err, "nics[%u].network: not a network name", i);
        if (net_port_options_check(&n->port, &e) < 0)
            return error_set(err, "nics[%u].%s", i, e.msg);
        return 0;
    default:
        return error_set(err, "nics[%u].kind: a card's backend is user, tap, socket or network", i);
    }
}

static int check_nic(const VmConfig *cfg, unsigned i, Error *err)
{
    const NetConfig *n = &cfg->nics[i];
    if (check_nic_kind(n, i, err) < 0 || check_nic_foreign(n, i, err) < 0)
        return -1;
    if ((n->mac[0] & 1) || !memcmp(n->mac, (uint8_t[NET_MAC_LEN]){0}, NET_MAC_LEN))
        return error_set(err, "nics[%u].mac: a card needs a unicast, non-zero address", i);
    for (unsigned j = 0; j < i; j++) {
        char mac[NET_MAC_TEXT];
        if (n->fd >= 0 && cfg->nics[j].fd == n->fd)
            return error_set(err, "nics[%u].fd: %d is nics[%u]'s descriptor too", i, n->fd, j);
        if (memcmp(cfg->nics[j].mac, n->mac, NET_MAC_LEN) != 0)
            continue;
        net_mac_format(n->mac, mac);
        return error_set(err, "nics[%u].mac: %s is nics[%u]'s address too", i, mac, j);
    }
    return 0;
}

static int check_disk(const VmDisk *d, unsigned i, Error *err)
{
    if (!d->path || !*d->path)
        return error_set(err, "disks[%u].path: expected an image path", i);
    if (d->format && strcmp(d->format, "raw") != 0 && strcmp(d->format, "qcow2") != 0)
        return error_set(err, "disks[%u].format: '%s' is not raw or qcow2", i, d->format);
    if (d->l2_cache_bytes > (1ull << 32))
        return error_set(err, "disks[%u].l2-cache-size: at most 4 GiB", i);
    return 0;
}

/* Slot s holds a device that exists and that no earlier slot holds. */
static int check_slot(const VmConfig *cfg, unsigned s, Error *err)
{
    VmSlot d = cfg->devices[s];
    char name[24];
    vmconfig_slot_format(d, name, sizeof(name));
    if ((unsigned)d.kind >= ARRAY_SIZE(slot_kind_names) || (!slot_indexed(d.kind) && d.index))
        return error_set(err, "devices[%u]: not a device", s);
    if (d.kind == VM_DEV_BLK && d.index >= cfg->ndisks)
        return error_set(err, "devices[%u]: slot holds blk %u but there is no disks[%u]", s,
                         d.index, d.index);
    if (d.kind == VM_DEV_NET && d.index >= cfg->nnics)
        return error_set(err, "devices[%u]: slot holds net %u but there is no nics[%u]", s, d.index,
                         d.index);
    int first = vmconfig_slot_of(cfg, d.kind, d.index);
    if (d.kind != VM_DEV_EMPTY && first != (int)s)
        return error_set(err, "devices[%u]: %s is already in slot %d", s, name, first);
    return 0;
}

static int check_devices(const VmConfig *cfg, Error *err)
{
    for (unsigned s = 0; s < VMCONFIG_SLOTS; s++)
        if (check_slot(cfg, s, err) < 0)
            return -1;
    for (unsigned i = 0; i < cfg->ndisks; i++)
        if (vmconfig_slot_of(cfg, VM_DEV_BLK, i) < 0)
            return error_set(err, "devices: no slot holds disks[%u] (blk:%u)", i, i);
    for (unsigned i = 0; i < cfg->nnics; i++)
        if (vmconfig_slot_of(cfg, VM_DEV_NET, i) < 0)
            return error_set(err, "devices: no slot holds nics[%u] (net:%u)", i, i);
    if (vmconfig_slot_of(cfg, VM_DEV_CONSOLE, 0) < 0)
        return error_set(err, "devices: no slot holds the console");
    if ((vmconfig_slot_of(cfg, VM_DEV_GPU, 0) >= 0) != cfg->display.enabled)
        return error_set(err, cfg->display.enabled ? "devices: no slot holds the display (gpu)"
                                                   : "devices: a gpu slot needs a display");
    return 0;
}

static int check_display(const VmDisplay *d, Error *err)
{
    if (!d->enabled)
        return 0;
    if (d->width < VMCONFIG_DISPLAY_MIN || d->width > VMCONFIG_DISPLAY_MAX ||
        d->height < VMCONFIG_DISPLAY_MIN || d->height > VMCONFIG_DISPLAY_MAX)
        return error_set(err, "display: %ux%u: width and height must be %d to %d", d->width,
                         d->height, VMCONFIG_DISPLAY_MIN, VMCONFIG_DISPLAY_MAX);
    return 0;
}

/* ",password-file=F" of a --display vnc= value. */
static int display_password(VmVnc *vnc, const char *opt, size_t len, Error *err)
{
    size_t key = strlen("password-file=");
    if (len == key || len - key >= sizeof(vnc->password_file))
        return error_set(err, "--display: '%.*s': expected password-file=FILE (1 to %zu bytes)",
                         (int)len, opt, sizeof(vnc->password_file) - 1);
    memcpy(vnc->password_file, opt + key, len - key);
    vnc->password_file[len - key] = 0;
    return 0;
}

/* One ",width=N", ",height=N" (or, for vnc=, ",password-file=F") of a --display value. */
static int display_option(VmDisplay *d, VmVnc *vnc, const char *opt, size_t len, Error *err)
{
    uint32_t *dst = NULL;
    size_t key = 0;
    if (vnc && len >= 14 && !strncmp(opt, "password-file=", 14))
        return display_password(vnc, opt, len, err);
    if (len > 6 && !strncmp(opt, "width=", 6))
        dst = &d->width, key = 6;
    else if (len > 7 && !strncmp(opt, "height=", 7))
        dst = &d->height, key = 7;
    if (!dst)
        return error_set(err, "--display: unknown option '%.*s' (width=W, height=H%s)", (int)len,
                         opt, vnc ? ", password-file=FILE" : "");
    unsigned long v = 0;
    for (size_t i = key; i < len; i++) {
        if (opt[i] < '0' || opt[i] > '9' || v > VMCONFIG_DISPLAY_MAX)
            return error_set(err, "--display: '%.*s': expected %.*sN with N from %d to %d",
                             (int)len, opt, (int)key, opt, VMCONFIG_DISPLAY_MIN,
                             VMCONFIG_DISPLAY_MAX);
        v = v * 10 + (unsigned long)(opt[i] - '0');
    }
    *dst = (uint32_t)(v > VMCONFIG_DISPLAY_MAX ? VMCONFIG_DISPLAY_MAX + 1 : v);
    return 0;
}

/* "vnc=ADDR" up to the first comma into vnc->listen; the length of the kind and address. */
static int display_vnc_listen(VmVnc *vnc, const char *spec, size_t *used, Error *err)
{
    const char *addr = spec + 4, *end = strchr(addr, ',');
    size_t len = end ? (size_t)(end - addr) : strlen(addr);
    if (!len || len >= sizeof(vnc->listen))
        return error_set(err, "--display '%s': expected vnc=HOST:PORT or vnc=unix:PATH", spec);
    memcpy(vnc->listen, addr, len);
    vnc->listen[len] = 0;
    *used = 4 + len;
    return 0;
}

int vmconfig_display_parse_vnc(VmDisplay *d, VmVnc *vnc, const char *spec, Error *err)
{
    VmDisplay out = {false, 1024, 768};
    VmVnc v = {{0}, {0}};
    size_t kind = 8;
    if (!strcmp(spec, "none")) {
        *d = out;
        if (vnc)
            *vnc = v;
        return 0;
    }
    if (vnc && !strncmp(spec, "vnc=", 4)) {
        if (display_vnc_listen(&v, spec, &kind, err) < 0)
            return -1;
    } else if (strncmp(spec, "headless", 8) != 0 || (spec[8] && spec[8] != ','))
        return error_set(err, "--display '%s': expected none, headless[,width=W,height=H]%s", spec,
                         vnc ? " or vnc=HOST:PORT|unix:PATH[,width=W,height=H]" : "");
    out.enabled = true;
    for (const char *p = spec + kind; *p == ',';) {
        const char *opt = p + 1, *next = strchr(opt, ',');
        size_t len = next ? (size_t)(next - opt) : strlen(opt);
        if (display_option(&out, v.listen[0] ? &v : NULL, opt, len, err) < 0)
            return -1;
        p = opt + len;
    }
    Error e;
    if (check_display(&out, &e) < 0)
        return error_set(err, "--display '%s': %s", spec, e.msg + 9);
    *d = out;
    if (vnc)
        *vnc = v;
    return 0;
}

int vmconfig_console_parse(VmConsole *c, const char *spec, Error *err)
{
    static const struct {
        const char *name;
        VmConsole kind;
    } names[] = {{"serial", VM_CONSOLE_SERIAL},
                 {"ttyS0", VM_CONSOLE_SERIAL},
                 {"virtio", VM_CONSOLE_VIRTIO},
                 {"hvc0", VM_CONSOLE_VIRTIO},
                 {"hvc", VM_CONSOLE_VIRTIO}};
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        if (strcmp(spec, names[i].name) == 0) {
            *c = names[i].kind;
            return 0;
        }
    }
    return error_set(err, "--console '%s': expected serial (ttyS0) or virtio (hvc0)", spec);
}

const char *vmconfig_console_name(VmConsole c)
{
    return c == VM_CONSOLE_VIRTIO ? "virtio" : "serial";
}

int vmconfig_display_parse(VmDisplay *d, const char *spec, Error *err)
{
    return vmconfig_display_parse_vnc(d, NULL, spec, err);
}

int vmconfig_check(const VmConfig *cfg, Error *err)
{
    if (check_ram(cfg->ram_size, err) < 0)
        return -1;
    if (cfg->nharts < 1 || cfg->nharts > VMCONFIG_MAX_HARTS)
        return error_set(err, "harts: %u requested, 1 to %d are supported", cfg->nharts,
                         VMCONFIG_MAX_HARTS);
    if (cfg->ndisks > VMCONFIG_MAX_DISKS)
        return error_set(err, "disks: at most %d", VMCONFIG_MAX_DISKS);
    if (cfg->nnics > VMCONFIG_MAX_NICS)
        return error_set(err, "nics: at most %d", VMCONFIG_MAX_NICS);
    for (unsigned i = 0; i < cfg->ndisks; i++)
        if (check_disk(&cfg->disks[i], i, err) < 0)
            return -1;
    for (unsigned i = 0; i < cfg->nnics; i++)
        if (check_nic(cfg, i, err) < 0)
            return -1;
    if (check_display(&cfg->display, err) < 0)
        return -1;
    return check_devices(cfg, err);
}
