/*
 * The slirp uplink: a user-mode NAT (net/slirp.h, the same stack as
 * `--net user`) whose guest side is a switch port, so every VM on the
 * switch gets a DHCP lease (from .15 of the subnet), DNS (.3) and a
 * gateway (.2) that NATs to the outside through the host's sockets, and
 * host ports can be forwarded to VMs (and the forwards changed while it
 * runs: set-forwards).  No privilege is needed.
 *
 * libslirp takes every IPv4 frame it is given as its own to route (it
 * does not look at the destination MAC), so only frames addressed to it
 * go in: its addresses (52:55 followed by the IPv4 address it answers for)
 * and broadcast/multicast.  A frame the switch floods to find another VM
 * does not reach the NAT.
 *
 * With a leases file, the DHCP lease table outlives the process: it is
 * loaded at start, and written (libslirp's saved state: the leases and
 * its IP identification counter) within a second of a DHCP message going
 * in, so a switch that is restarted does not hand a running VM's address
 * to another one.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "net/slirp.h"
#include "net/uplink.h"
#include "util/compiler.h"
#include "util/io.h"
#include "util/le.h"
#include "util/log.h"

#define LEASES_MAGIC "hsl1" /* then the libslirp state version (le16), 2 zero bytes, the state */
#define LEASES_HEADER 8

typedef struct UplinkSlirp {
    Uplink up; /* first: container_of */
    NetBackend *nb;
    uint64_t filtered;               /* frames for other hosts, not given to libslirp */
    char name[SWITCH_NAME_MAX + 16]; /* "uplink NAME", for log lines */
    char leases[UPLINK_PATH_MAX];    /* "" = not kept */
    bool leases_dirty;               /* a DHCP message went in since the last write */
    bool leases_failed;              /* the last write failed (logged once) */
    uint64_t leases_written;
} UplinkSlirp;

static UplinkSlirp *slirp_uplink_of(Uplink *u)
{
    return container_of(u, UplinkSlirp, up);
}

/* For libslirp: a group address, or one of its own (52:55:...). */
static bool slirp_addressed(const uint8_t *frame, size_t len)
{
    return len >= 6 && ((frame[0] & 1) || (frame[0] == 0x52 && frame[1] == 0x55));
}

/* An untagged IPv4 UDP datagram to port 67: a DHCP client's message. */
static bool dhcp_to_server(const uint8_t *f, size_t len)
{
    if (len < 14 + 20 + 8 || f[12] != 0x08 || f[13] != 0x00 || (f[14] >> 4) != 4 || f[23] != 17)
        return false;
    size_t udp = 14 + (size_t)(f[14] & 15) * 4;
    return udp + 8 <= len && f[udp + 2] == 0 && f[udp + 3] == 67;
}

static int slirp_uplink_output(Uplink *u, const uint8_t *frame, size_t len)
{
    UplinkSlirp *s = slirp_uplink_of(u);
    if (slirp_addressed(frame, len)) {
        net_backend_send(s->nb, frame, len);
        s->leases_dirty |= s->leases[0] && dhcp_to_server(frame, len);
    } else {
        s->filtered++;
    }
    return 1; /* libslirp takes every frame at once (TCP retransmits what it drops) */
}

/* ---- the leases file ---- */

static int leases_write_file(const UplinkSlirp *s, const uint8_t *blob, size_t len, Error *err)
{
    char tmp[UPLINK_PATH_MAX + 8];
    uint8_t head[LEASES_HEADER] = LEASES_MAGIC;
    le_put(head + 4, 2, net_backend_state_version(s->nb));
    snprintf(tmp, sizeof(tmp), "%s.tmp", s->leases);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0)
        return error_set_errno(err, errno, "cannot write %s", tmp);
    bool ok = io_write_all(fd, head, sizeof(head)) && io_write_all(fd, blob, len);
    int e = errno;
    if (close(fd) < 0 && ok) {
        ok = false;
        e = errno;
    }
    if (!ok || rename(tmp, s->leases) < 0) {
        e = ok ? errno : e;
        unlink(tmp);
        return error_set_errno(err, e, "cannot write %s", s->leases);
    }
    return 0;
}

/* Write the lease table (libslirp's state) to the leases file. */
static void leases_write(UplinkSlirp *s)
{
    uint8_t *blob = NULL;
    size_t len = 0;
    Error err = {0};
    s->leases_dirty = false;
    int rc = net_backend_save(s->nb, &blob, &len, &err);
    if (rc == 0)
        rc = leases_write_file(s, blob, len, &err);
    free(blob);
    if (rc == 0) {
        s->leases_written++;
        s->leases_failed = false;
    } else if (!s->leases_failed) {
        s->leases_failed = true;
        log_warn("%s: the DHCP leases are not kept: %s", s->name, err.msg);
    }
}

/* Load the leases file when there is one (a bad one is logged and left alone). */
static void leases_read(UplinkSlirp *s)
{
    int fd = open(s->leases, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        if (errno != ENOENT)
            log_warn("%s: cannot read %s: %s", s->name, s->leases, strerror(errno));
        return;
    }
    struct stat st;
    uint8_t *buf = NULL;
    Error err = {0};
    const char *why = NULL;
    if (fstat(fd, &st) < 0 || st.st_size < LEASES_HEADER ||
        st.st_size > LEASES_HEADER + NET_STATE_MAX || !(buf = malloc((size_t)st.st_size)) ||
        io_pread_all(fd, buf, (size_t)st.st_size, 0) < 0 || memcmp(buf, LEASES_MAGIC, 4) != 0)
        why = "not a leases file of this hostel";
    else if (net_backend_check(s->nb, (uint16_t)le_get(buf + 4, 2), buf + LEASES_HEADER,
                               (size_t)st.st_size - LEASES_HEADER, &err) < 0 ||
             net_backend_load(s->nb, (uint16_t)le_get(buf + 4, 2), buf + LEASES_HEADER,
                              (size_t)st.st_size - LEASES_HEADER, &err) < 0)
        why = err.msg;
    close(fd);
    free(buf);
    if (why)
        log_warn("%s: the DHCP leases in %s are not used: %s", s->name, s->leases, why);
    else
        log_info("%s: the DHCP leases of %s are back", s->name, s->leases);
}

static void slirp_uplink_age(Uplink *u, uint64_t now_ns)
{
    UplinkSlirp *s = slirp_uplink_of(u);
    if (s->leases_dirty)
        leases_write(s);
}

/* NetReceiveFn: a frame from libslirp for a VM. */
static bool slirp_uplink_receive(void *opaque, const uint8_t *frame, size_t len)
{
    uplink_input(opaque, frame, len);
    return true;
}

static size_t slirp_uplink_counters(Uplink *u, UplinkCounter *out, size_t max)
{
    UplinkSlirp *s = slirp_uplink_of(u);
    size_t n = 0;
    if (n < max)
        out[n++] = (UplinkCounter){"not-for-nat", s->filtered};
    if (n < max && s->leases[0])
        out[n++] = (UplinkCounter){"leases-written", s->leases_written};
    return n;
}

static int slirp_uplink_set_forwards(Uplink *u, const NetHostFwd *fwd, unsigned nfwd, Error *err)
{
    return net_slirp_set_forwards(slirp_uplink_of(u)->nb, fwd, nfwd, err);
}

static void slirp_uplink_free(Uplink *u)
{
    UplinkSlirp *s = slirp_uplink_of(u);
    if (s->leases_dirty)
        leases_write(s);
    net_backend_free(s->nb);
    free(s);
}

static const UplinkOps slirp_uplink_ops = {
    .kind = "slirp",
    .output = slirp_uplink_output,
    .age = slirp_uplink_age,
    .counters = slirp_uplink_counters,
    .set_forwards = slirp_uplink_set_forwards,
    .free = slirp_uplink_free,
};

Uplink *uplink_slirp_new(const UplinkConfig *cfg, const UplinkEnv *env, Error *err)
{
    UplinkSlirp *s = calloc(1, sizeof(*s));
    if (!s) {
        error_set(err, "uplink %s: out of memory", cfg->name);
        return NULL;
    }
    char label[SWITCH_NAME_MAX + 16];
    snprintf(s->name, sizeof(s->name), "uplink %s", cfg->name);
    snprintf(label, sizeof(label), "uplink %s:", cfg->name);
    snprintf(s->leases, sizeof(s->leases), "%s", cfg->slirp.leases);
    NetSlirpConfig c = {
        .network = cfg->slirp.network,
        .prefix = cfg->slirp.prefix,
        .fwd = cfg->slirp.fwd,
        .nfwd = cfg->slirp.nfwd,
        .name = s->name,
        .fwd_label = label,
    };
    s->up.ops = &slirp_uplink_ops;
    s->nb = net_slirp_new_net(&c, env->loop, err);
    if (!s->nb) {
        free(s);
        return NULL;
    }
    net_backend_attach(s->nb, slirp_uplink_receive, &s->up);
    if (s->leases[0])
        leases_read(s);
    return &s->up;
}
