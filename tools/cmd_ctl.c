/*
 * `hostel ctl`, `pause`, `resume`, `suspend`, `snapshot`: thin clients of a
 * running VM's control socket (src/control/client.h).  ctl prints the
 * command's "return" as JSON on stdout, or the error's description on
 * stderr (exit status 1).
 */
#include <errno.h>
#include <jansson.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "control/client.h"

enum { CTL_DEFAULT_TIMEOUT_S = 60 };

static void ctl_help(FILE *out)
{
    fprintf(out,
            "usage: hostel ctl [--timeout SEC] NAME|PATH COMMAND [JSON-ARGUMENTS]\n"
            "\n"
            "Send one command to a running VM through its control socket and print the\n"
            "result as JSON.  NAME is the VM's --name (socket $XDG_RUNTIME_DIR/hostel/NAME.sock,\n"
            "or /run/hostel/NAME.sock); an argument with a '/' is the socket's path\n"
            "(hostel run --control PATH).  JSON-ARGUMENTS is the command's arguments object,\n"
            "e.g. '{\"key\": 1}'.  'hostel ctl NAME query-commands' lists the commands:\n"
            "status, pause, resume, quit, query-harts, query-devices, query-stats...,\n"
            "and the guest agent's agent-ping, agent-interfaces, agent-shutdown...\n"
            "(docs/agent.md).\n"
            "'hostel ctl NAME screendump FILE.png' writes the display as a PNG (FILE is\n"
            "made absolute; same as '{\"file\": \"/abs/FILE.png\"}').\n"
            "See docs/control.md.\n"
            "\n"
            "options:\n"
            "      --timeout SEC   wait at most SEC seconds for the answer (default 60)\n"
            "  -h, --help          show this help and exit\n"
            "\n"
            "exit status: 0 = the command succeeded; 1 = it failed, or no VM answered\n"
            "(the reason is printed on stderr); 2 = bad command line.\n");
}

static void ctl_pause_help(FILE *out)
{
    fprintf(out, "usage: hostel pause NAME|PATH\n"
                 "\n"
                 "Pause a running VM: its harts stop (no CPU use) and its clock stands still\n"
                 "until 'hostel resume'.  Devices and the control socket are still served.\n");
}

static void ctl_resume_help(FILE *out)
{
    fprintf(out, "usage: hostel resume NAME|PATH\n"
                 "\n"
                 "Resume a VM paused by 'hostel pause'.  Its clock goes on where it stopped:\n"
                 "the guest sees no time pass while it was paused.\n");
}

/* Run cmd on target; print the return value if print, else nothing. Returns the exit status. */
static int ctl_call(const char *target, const char *cmd, json_t *args, int timeout_s, bool print)
{
    ControlConn c;
    Error err = {0};
    if (control_conn_open(&c, target, timeout_s * 1000, &err) < 0)
        return cli_fail(&err);
    json_t *reply = control_conn_call(&c, cmd, args, &err);
    control_conn_close(&c);
    if (!reply)
        return cli_fail(&err);
    json_t *ret = json_object_get(reply, "return");
    int status = 0;
    if (!ret) {
        const char *desc =
            json_string_value(json_object_get(json_object_get(reply, "error"), "desc"));
        fprintf(stderr, "hostel: %s\n", desc ? desc : "the VM sent a malformed reply");
        status = 1;
    } else if (print) {
        json_dumpf(ret, stdout, JSON_INDENT(2) | JSON_REAL_PRECISION(10));
        fputc('\n', stdout);
    }
    json_decref(reply);
    return status;
}

/* Leading options of ctl; returns the index of the first operand, or -1 with *status set. */
static int ctl_options(int argc, char **argv, int *timeout_s, int *status)
{
    int i = 1;
    for (; i < argc && argv[i][0] == '-' && argv[i][1]; i++) {
        if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
            ctl_help(stdout);
            *status = 0;
            return -1;
        }
        if (strcmp(argv[i], "--timeout") != 0) {
            *status = cli_usage("ctl", "unknown option '%s'", argv[i]);
            return -1;
        }
        char *end;
        errno = 0;
        long v = i + 1 < argc ? strtol(argv[i + 1], &end, 10) : 0;
        if (i + 1 >= argc || errno || *end || v < 1 || v > 86400) {
            *status = cli_usage("ctl", "--timeout '%s': expected seconds, 1 to 86400",
                                i + 1 < argc ? argv[i + 1] : "");
            return -1;
        }
        *timeout_s = (int)v;
        i++;
    }
    return i;
}

/*
 * The VMM resolves paths from its own directory: make file absolute (its
 * directory must exist).  Returns 0, or -1 after printing why.
 */
static int ctl_abs_path(const char *file, char *abs, size_t size)
{
    char dir[PATH_MAX], parent[PATH_MAX];
    const char *slash = strrchr(file, '/');
    const char *base = slash ? slash + 1 : file;
    snprintf(parent, sizeof(parent), "%.*s", slash ? (int)(slash - file) + 1 : 1,
             slash ? file : ".");
    if (!*base || !realpath(parent, dir)) {
        fprintf(stderr, "hostel: %s: the directory does not exist\n", file);
        return -1;
    }
    snprintf(abs, size, "%s/%s", dir, base);
    return 0;
}

/* `ctl NAME screendump FILE.png`: FILE made absolute, as {"file": PATH}; NULL after printing why. */
static json_t *ctl_file_args(const char *file)
{
    char abs[PATH_MAX + 256];
    if (ctl_abs_path(file, abs, sizeof(abs)) < 0)
        return NULL;
    json_t *args = json_pack("{s:s}", "file", abs);
    if (!args)
        fprintf(stderr, "hostel: out of memory\n");
    return args;
}

static int ctl_main(int argc, char **argv)
{
    int timeout_s = CTL_DEFAULT_TIMEOUT_S, status = 0;
    int i = ctl_options(argc, argv, &timeout_s, &status);
    if (i < 0)
        return status;
    if (argc - i < 2 || argc - i > 3)
        return cli_usage("ctl", "expected NAME|PATH COMMAND [JSON-ARGUMENTS]");
    json_t *args = NULL;
    if (argc - i == 3 && !strcmp(argv[i + 1], "screendump") && argv[i + 2][0] != '{') {
        if (!(args = ctl_file_args(argv[i + 2])))
            return 1;
    } else if (argc - i == 3) {
        json_error_t je;
        args = json_loads(argv[i + 2], JSON_REJECT_DUPLICATES, &je);
        if (!json_is_object(args)) {
            json_decref(args);
            return cli_usage("ctl", "JSON-ARGUMENTS '%s' is not a JSON object", argv[i + 2]);
        }
    }
    status = ctl_call(argv[i], argv[i + 1], args, timeout_s, true);
    json_decref(args);
    return status;
}

/* pause / resume NAME: one command without arguments, silent on success. */
static int ctl_simple(int argc, char **argv, const char *cmd, void (*help)(FILE *))
{
    if (argc == 2 && (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0)) {
        help(stdout);
        return 0;
    }
    if (argc != 2 || argv[1][0] == '-')
        return cli_usage(cmd, "expected one VM name or socket path");
    if (mgmt_cli_knows(argv[1])) /* a VM hosteld runs: through the daemon */
        return mgmt_cli_simple_action(argv[1], cmd);
    return ctl_call(argv[1], cmd, NULL, CTL_DEFAULT_TIMEOUT_S, false);
}

static int ctl_pause_main(int argc, char **argv)
{
    return ctl_simple(argc, argv, "pause", ctl_pause_help);
}

static int ctl_resume_main(int argc, char **argv)
{
    return ctl_simple(argc, argv, "resume", ctl_resume_help);
}

static void ctl_suspend_help(FILE *out)
{
    fprintf(out, "usage: hostel suspend NAME\n"
                 "       hostel suspend [--compress] NAME|PATH FILE\n"
                 "\n"
                 "With NAME alone, a VM hosteld runs: it is saved into hosteld's state\n"
                 "directory and its next 'hostel start' resumes it.\n"
                 "\n"
                 "Save a running VM's whole state (RAM, harts, devices; disks are flushed) to\n"
                 "FILE atomically, then end its VMM.  'hostel run --restore FILE' continues it\n"
                 "exactly where it was.  RAM is stored page by page (zero pages are holes) so a\n"
                 "restore maps it lazily; --compress stores it as zstd instead (smaller file,\n"
                 "slower restore).  See docs/state.md.\n");
}

static void ctl_snapshot_help(FILE *out)
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

static int ctl_suspend_main(int argc, char **argv)
{
    if (cli_is_help(argc, argv)) {
        ctl_suspend_help(stdout);
        return 0;
    }
    int i = 1;
    bool compress = argc > 1 && strcmp(argv[1], "--compress") == 0;
    i += compress;
    if (!compress && argc == 2 && argv[1][0] != '-' && mgmt_cli_knows(argv[1]))
        return mgmt_cli_simple_action(argv[1], "suspend"); /* into hosteld's own state file */
    if (argc - i != 2 || argv[i][0] == '-')
        return cli_usage("suspend", "expected NAME|PATH FILE");
    char abs[PATH_MAX + 256];
    if (ctl_abs_path(argv[i + 1], abs, sizeof(abs)) < 0)
        return 1;
    json_t *args = json_pack("{s:s, s:b}", "file", abs, "compress", compress);
    int rc = ctl_call(argv[i], "suspend", args, 600, false);
    json_decref(args);
    return rc;
}

static int ctl_snapshot_main(int argc, char **argv)
{
    if (cli_is_help(argc, argv)) {
        ctl_snapshot_help(stdout);
        return 0;
    }
    if (argc < 3)
        return cli_usage("snapshot", "expected create|list|revert|delete NAME|PATH [SNAPSHOT]");
    const char *op = argv[1] ? argv[1] : "";
    bool list = strcmp(op, "list") == 0;
    if (!list && strcmp(op, "create") && strcmp(op, "revert") && strcmp(op, "delete"))
        return cli_usage("snapshot", "the operation is create, list, revert or delete");
    if (argc != (list ? 3 : 4))
        return cli_usage("snapshot", "%s",
                         list ? "expected list NAME|PATH"
                              : "expected create|revert|delete NAME|PATH SNAPSHOT");
    if (mgmt_cli_knows(argv[2]))
        return mgmt_cli_snapshot(op, argv[2], list ? NULL : argv[3]);
    char cmd[32];
    snprintf(cmd, sizeof(cmd), "snapshot-%s", op);
    json_t *args = list ? NULL : json_pack("{s:s}", "name", argv[3]);
    int rc = ctl_call(argv[2], cmd, args, 600, list);
    json_decref(args);
    return rc;
}

const Command cmd_ctl = {
    .name = "ctl",
    .run = ctl_main,
    .help = ctl_help,
    .summary = "send a command to a running VM's control socket",
};

const Command cmd_pause = {
    .name = "pause",
    .run = ctl_pause_main,
    .help = ctl_pause_help,
    .summary = "pause a running VM (its clock stops too)",
};

const Command cmd_resume = {
    .name = "resume",
    .run = ctl_resume_main,
    .help = ctl_resume_help,
    .summary = "resume a paused VM",
};

const Command cmd_suspend = {
    .name = "suspend",
    .run = ctl_suspend_main,
    .help = ctl_suspend_help,
    .summary = "save a running VM to a file and end it",
};

const Command cmd_snapshot = {
    .name = "snapshot",
    .run = ctl_snapshot_main,
    .help = ctl_snapshot_help,
    .summary = "live snapshots of a running VM: create, list, revert, delete",
};
