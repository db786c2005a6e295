/*
 * libFuzzer target for reading state files (`hostel state show`, and the
 * first steps of every `run --restore`): the input is a whole HOSTELVM
 * stream, put in a memfd and read through its /proc/self/fd path by
 * machine_state_describe (header, section table, sizes, CRC, the zstd run
 * index, then every section decoded by its device's table and printed).
 *
 * Most mutations would only ever meet the CRC check, so for inputs of even
 * length the harness first makes the final CRC right (the CRC-32 of every
 * byte before the last four, as a writer computes it for a stream without
 * flat RAM); odd lengths go in as they are and exercise the refusal.
 * A malformed stream must fail with a message, never crash, read out of
 * bounds (ASan) or allocate without bound (-malloc_limit_mb).
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "machine/machine_state.h"
#include "stream_crc.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(int cond)
{
    if (!cond)
        __builtin_trap();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static FILE *devnull;
    if (!devnull && !(devnull = fopen("/dev/null", "w")))
        return 0;
    uint8_t *copy = stream_crc_copy(data, size);
    if (!copy)
        return 0;
    int fd = memfd_create("state", MFD_CLOEXEC);
    if (fd < 0 || write(fd, copy, size) != (ssize_t)size) {
        if (fd >= 0)
            close(fd);
        free(copy);
        return 0;
    }
    char path[64];
    snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
    Error err = {0};
    json_t *doc = machine_state_describe(path, &err);
    if (!doc)
        check(err.msg[0] != '\0'); /* every refusal says why */
    else if (json_dumpf(doc, devnull, JSON_INDENT(2)) < 0)
        check(false);
    json_decref(doc);
    close(fd);
    free(copy);
    return 0;
}
