/*
 * machine_clone's failures (src/machine/machine_clone.c): a state file whose
 * disk is gone fails with that disk's name and ENOENT in err->code, nothing
 * is left behind at the destination, and a source no driver can open fails
 * cleanly even when the caller passes no Error.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "machine/machine_state.h"
#include "machine/vmconfig.h"
#include "state/stream.h"
#include "tap.h"

/* A minimal state file at path: a config naming one writable disk, and the end. */
static int write_state_file(const char *path, const char *disk)
{
    VmConfig vm;
    Error err = {0};
    vmconfig_default(&vm);
    char *config = NULL;
    if (vmconfig_add_disk(&vm, &(VmDisk){.path = (char *)disk}, &err) == 0 &&
        vmconfig_default_layout(&vm, &err) == 0)
        config = vmconfig_to_text(&vm);
    vmconfig_free(&vm);
    int fd = config ? open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644) : -1;
    StreamOut s;
    int rc = fd >= 0 ? stream_out_begin(&s, fd, &err) : -1;
    if (rc == 0)
        rc = stream_out_section(&s, "config", 0, MACHINE_CONFIG_VERSION, 0, config, strlen(config),
                                &err);
    free(config);
    if (rc == 0)
        rc = stream_out_end(&s, &err);
    if (rc < 0)
        printf("# cannot write %s: %s\n", path, err.msg);
    if (fd >= 0)
        close(fd);
    return rc;
}

static void test_state_with_a_missing_disk(const char *dir)
{
    char state[PATH_MAX], disk[PATH_MAX], dst[PATH_MAX], overlay[PATH_MAX + 16];
    snprintf(state, sizeof(state), "%s/vm.state", dir);
    snprintf(disk, sizeof(disk), "%s/gone.img", dir);
    snprintf(dst, sizeof(dst), "%s/clone.state", dir);
    snprintf(overlay, sizeof(overlay), "%s.vda.qcow2", dst);
    ok(write_state_file(state, disk) == 0, "a state file naming %s is written", disk);
    for (int full = 0; full <= 1; full++) {
        Error err = {0};
        int rc = machine_clone(state, dst, full, &err);
        ok(rc < 0, "%s clone of a state whose disk is gone fails", full ? "a full" : "a linked");
        ok(err.code == ENOENT, "err->code is ENOENT (%d): %s", err.code, err.msg);
        ok(strstr(err.msg, "gone.img") != NULL, "the message names the missing disk");
        ok(access(dst, F_OK) < 0 && access(overlay, F_OK) < 0, "nothing is left at the clone");
    }
    unlink(state);
}

static void test_unopenable_source_without_error(const char *dir)
{
    char src[PATH_MAX], dst[PATH_MAX];
    snprintf(src, sizeof(src), "%s/a-directory", dir);
    snprintf(dst, sizeof(dst), "%s/dir.qcow2", dir);
    ok(mkdir(src, 0755) == 0, "a directory as the source");
    ok(machine_clone(src, dst, false, NULL) < 0, "a linked clone of it fails with no Error");
    ok(machine_clone(src, dst, true, NULL) < 0, "a full clone of it fails with no Error");
    Error err = {0};
    ok(machine_clone(src, dst, false, &err) < 0 && err.msg[0], "with an Error it says why: %s",
       err.msg);
    ok(access(dst, F_OK) < 0, "no clone is left behind");
    rmdir(src);
}

int main(void)
{
    char dir[] = "/tmp/hostel-test-clone-XXXXXX";
    if (!mkdtemp(dir)) {
        printf("1..0 # SKIP cannot create a temporary directory\n");
        return 77;
    }
    test_state_with_a_missing_disk(dir);
    test_unopenable_source_without_error(dir);
    rmdir(dir);
    return tap_done();
}
