/*
 * libFuzzer target for the incoming side of a live migration (`hostel run
 * --incoming`): the input is the byte stream a source sends, fed through a
 * pipe (a non-seekable channel, as a socket is) to
 * machine_state_open_channel, which reads and checks all of it (header,
 * sections, ram-pages into staged RAM, the CRC).  A stream that passes is
 * then loaded as the destination loads it: a machine is built from the
 * stream's own configuration section and machine_restore decodes every
 * hart and device section into it.
 *
 * The configuration is the source's word, so before building anything the
 * harness takes from it what would reach outside the process: disks become
 * one empty read-only scratch image, network cards become user-mode cards
 * with no port forward, RAM above 256 MiB is not built.  The guest never
 * runs.
 *
 * As in fuzz_state.c, inputs of even length get their final CRC made right
 * first (the CRC-32 of every byte before the last four), so mutations reach
 * the sections; odd lengths exercise the refusal.  A malformed stream must
 * fail with a message, never crash, read out of bounds (ASan) or allocate
 * without bound (-malloc_limit_mb).
 */
#include <pthread.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "machine/machine.h"
#include "machine/machine_state.h"
#include "stream_crc.h"
#include "state/channel.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_BUILD_RAM (256ull << 20)

static void check(int cond)
{
    if (!cond)
        __builtin_trap();
}

typedef struct Feed {
    int fd;
    const uint8_t *data;
    size_t size;
} Feed;

/* Writes the input into the pipe and closes it (a reader that stops early makes EPIPE). */
static void *feed(void *opaque)
{
    Feed *f = opaque;
    size_t off = 0;
    while (off < f->size) {
        ssize_t n = write(f->fd, f->data + off, f->size - off);
        if (n <= 0)
            break;
        off += (size_t)n;
    }
    close(f->fd);
    return NULL;
}

static char scratch_path[64];

static void scratch_remove(void)
{
    unlink(scratch_path);
}

/* A scratch raw image every disk of a hostile configuration is pointed at. */
static const char *scratch_disk(void)
{
    char *path = scratch_path;
    if (path[0])
        return path;
    snprintf(path, sizeof(scratch_path), "/tmp/hostel-fuzz-migrate-%d.img", (int)getpid());
    atexit(scratch_remove);
    FILE *f = fopen(path, "w");
    check(f != NULL);
    check(ftruncate(fileno(f), 1 << 20) == 0);
    fclose(f);
    return path;
}

/* Keep the machine inside the process: scratch disks, user-mode cards, bounded RAM. */
static int tame(VmConfig *cfg, Error *err)
{
    if (cfg->ram_size > MAX_BUILD_RAM)
        return -1;
    for (unsigned i = 0; i < cfg->ndisks; i++) {
        if (vmconfig_set_string(&cfg->disks[i].path, scratch_disk(), err) < 0 ||
            vmconfig_set_string(&cfg->disks[i].format, "raw", err) < 0)
            return -1;
        cfg->disks[i].read_only = true;
    }
    for (unsigned i = 0; i < cfg->nnics; i++) {
        uint8_t mac[sizeof(cfg->nics[i].mac)];
        memcpy(mac, cfg->nics[i].mac, sizeof(mac));
        net_config_default(&cfg->nics[i]);
        cfg->nics[i].kind = NET_USER;
        cfg->nics[i].nfwd = 0;
        memcpy(cfg->nics[i].mac, mac, sizeof(mac));
    }
    return 0;
}

static void load(MachineStateFile *f)
{
    VmConfig cfg;
    Error err = {0};
    if (vmconfig_copy(&cfg, machine_state_config(f), &err) < 0)
        return;
    if (tame(&cfg, &err) == 0) {
        MachineHost host = {.out_fd = -1, .err_fd = -1};
        Machine *m = machine_new(&cfg, &host, &err);
        if (m) {
            Error rerr = {0};
            if (machine_restore(m, f, false, &rerr) < 0)
                check(rerr.msg[0] != '\0');
            machine_free(m);
        }
    }
    vmconfig_free(&cfg);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    signal(SIGPIPE, SIG_IGN);
    uint8_t *copy = stream_crc_copy(data, size);
    if (!copy)
        return 0;
    int p[2];
    if (pipe(p) < 0) {
        free(copy);
        return 0;
    }
    Feed fd = {.fd = p[1], .data = copy, .size = size};
    pthread_t t;
    if (pthread_create(&t, NULL, feed, &fd) != 0) {
        close(p[0]);
        close(p[1]);
        free(copy);
        return 0;
    }
    StreamChannel ch;
    Error err = {0};
    MachineStateFile *f = NULL;
    if (stream_channel_for_fd(&ch, p[0], true, &err) == 0)
        f = machine_state_open_channel(&ch, "fuzz", &err);
    else
        close(p[0]);
    if (!f)
        check(err.msg[0] != '\0'); /* every refusal says why */
    else {
        load(f);
        machine_state_close(f);
    }
    pthread_join(t, NULL);
    free(copy);
    return 0;
}
