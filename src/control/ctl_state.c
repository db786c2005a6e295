/*
 * `hostel suspend`, `hostel snapshot`, `hostel state show`: the VM-state
 * commands.  suspend and snapshot are thin clients of the control socket;
 * state show reads a state file locally.
 */
#include "control/ctl.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "machine/machine_state.h"

void ctl_suspend_help(FILE *out)
{
    fprintf(out, "usage: hostel suspend [--compress] NAME|PATH FILE\n"
                 "\n"
                 "Save a running VM's whole state (RAM, harts, devices; disks are flushed) to\n"
                 "FILE atomically, then end its VMM.  'hostel run --restore FILE' continues it\n"
                 "exactly where it was.  RAM is stored page by page (zero pages are holes) so a\n"
                 "restore maps it lazily; --compress stores it as zstd instead (smaller file,\n"
                 "slower restore).  See docs/state.md.\n");
}

void ctl_snapshot_help(FILE *out)
{
    fprintf(out, "usage: hostel snapshot create|revert|delete NAME|PATH SNAPSHOT\n"
                 "       hostel snapshot list NAME|PATH\n"
                 "\n"
                 "Live snapshots of a running VM: its memory state plus an internal qcow2\n"
                 "snapshot of every writable disk, taken while the VM is paused briefly.\n"
                 "revert brings back both; the VM goes on from the snapshot.  Every writable\n"
                 "disk must be qcow2.  Memory states are kept in\n"
                 "$XDG_STATE_HOME/hostel/snapshots/VMNAME/ (default ~/.local/state/...).\n");
}

void ctl_clone_help(FILE *out)
{
    fprintf(out, "usage: hostel clone [--full] SRC NEW\n"
                 "\n"
                 "Make a new VM or disk from SRC.  SRC a disk image: NEW is a qcow2 overlay\n"
                 "backed by SRC (a linked clone: SRC must not be written afterwards), or with\n"
                 "--full a thin qcow2 copy of its content.  SRC a state file (hostel suspend):\n"
                 "NEW is a state file of a VM with the same memory whose writable disks are\n"
                 "cloned as above (NEW.vda.qcow2, ...) and whose network card has a new MAC\n"
                 "address; a linked clone also moves SRC onto overlays (SRC.vda.qcow2, ...),\n"
                 "so the original disks become shared read-only bases.  Restore each with\n"
                 "'hostel run --restore FILE --name NAME'.\n");
}

void ctl_state_help(FILE *out)
{
    fprintf(out, "usage: hostel state show FILE|-\n"
                 "\n"
                 "Check a state file (written by 'hostel suspend' or a snapshot) and print it\n"
                 "as JSON: format version, the saved configuration, each device's fields, RAM.\n"
                 "With -, the state stream is read from standard input (a file or a pipe).\n");
}

static int usage(const char *cmd, const char *msg)
{
    fprintf(stderr, "hostel %s: %s (see 'hostel %s --help')\n", cmd, msg, cmd);
    return 2;
}

static bool is_help(int argc, char **argv)
{
    return argc == 2 && (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0);
}

int ctl_suspend_main(int argc, char **argv)
{
    if (is_help(argc, argv)) {
        ctl_suspend_help(stdout);
        return 0;
    }
    int i = 1;
    bool compress = argc > 1 && strcmp(argv[1], "--compress") == 0;
    i += compress;
    if (argc - i != 2 || argv[i][0] == '-')
        return usage("suspend", "expected NAME|PATH FILE");
    /* The VMM resolves paths from its own directory: send an absolute one. */
    char dir[PATH_MAX], abs[PATH_MAX + 256];
    const char *file = argv[i + 1], *slash = strrchr(file, '/');
    const char *base = slash ? slash + 1 : file;
    char parent[PATH_MAX];
    snprintf(parent, sizeof(parent), "%.*s", slash ? (int)(slash - file) + 1 : 1,
             slash ? file : ".");
    if (!*base || !realpath(parent, dir)) {
        fprintf(stderr, "hostel: %s: the directory does not exist\n", file);
        return 1;
    }
    snprintf(abs, sizeof(abs), "%s/%s", dir, base);
    json_t *args = json_pack("{s:s, s:b}", "file", abs, "compress", compress);
    int rc = ctl_call(argv[i], "suspend", args, 600, false);
    json_decref(args);
    return rc;
}

int ctl_snapshot_main(int argc, char **argv)
{
    if (is_help(argc, argv)) {
        ctl_snapshot_help(stdout);
        return 0;
    }
    if (argc < 3)
        return usage("snapshot", "expected create|list|revert|delete NAME|PATH [SNAPSHOT]");
    const char *op = argv[1] ? argv[1] : "";
    bool list = strcmp(op, "list") == 0;
    if (!list && strcmp(op, "create") && strcmp(op, "revert") && strcmp(op, "delete"))
        return usage("snapshot", "the operation is create, list, revert or delete");
    if (argc != (list ? 3 : 4))
        return usage("snapshot", list ? "expected list NAME|PATH"
                                      : "expected create|revert|delete NAME|PATH SNAPSHOT");
    char cmd[32];
    snprintf(cmd, sizeof(cmd), "snapshot-%s", op);
    json_t *args = list ? NULL : json_pack("{s:s}", "name", argv[3]);
    int rc = ctl_call(argv[2], cmd, args, 600, list);
    json_decref(args);
    return rc;
}

int ctl_state_main(int argc, char **argv)
{
    if (is_help(argc, argv)) {
        ctl_state_help(stdout);
        return 0;
    }
    if (argc != 3 || strcmp(argv[1], "show") != 0)
        return usage("state", "expected show FILE");
    Error err = {0};
    int rc = strcmp(argv[2], "-") == 0 ? machine_state_print_fd(0, "-", stdout, &err)
                                       : machine_state_print(argv[2], stdout, &err);
    if (rc < 0) {
        fprintf(stderr, "hostel: %s\n", err.msg);
        return 1;
    }
    return 0;
}

int ctl_clone_main(int argc, char **argv)
{
    if (is_help(argc, argv)) {
        ctl_clone_help(stdout);
        return 0;
    }
    bool full = argc > 1 && strcmp(argv[1], "--full") == 0;
    if (argc != 3 + full || argv[1 + full][0] == '-')
        return usage("clone", "expected [--full] SRC NEW");
    Error err = {0};
    if (machine_clone(argv[1 + full], argv[2 + full], full, &err) < 0) {
        fprintf(stderr, "hostel: %s\n", err.msg);
        return 1;
    }
    return 0;
}
