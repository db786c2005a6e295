/*
 * `hostel ctl`, `hostel pause`, `hostel resume`: thin clients of a running
 * VM's control socket.  ctl prints the command's "return" as JSON on
 * stdout, or the error's description on stderr (exit status 1).
 */
#include "control/ctl.h"

#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "control/client.h"

enum { CTL_EXIT_USAGE = 2, CTL_DEFAULT_TIMEOUT_S = 60 };

void ctl_help(FILE *out)
{
    fprintf(out,
            "usage: hostel ctl [--timeout SEC] NAME|PATH COMMAND [JSON-ARGUMENTS]\n"
            "\n"
            "Send one command to a running VM through its control socket and print the\n"
            "result as JSON.  NAME is the VM's --name (socket $XDG_RUNTIME_DIR/hostel/NAME.sock,\n"
            "or /run/hostel/NAME.sock); an argument with a '/' is the socket's path\n"
            "(hostel run --control PATH).  JSON-ARGUMENTS is the command's arguments object,\n"
            "e.g. '{\"key\": 1}'.  'hostel ctl NAME query-commands' lists the commands:\n"
            "status, pause, resume, quit, query-harts, query-devices, query-stats...\n"
            "See docs/control.md.\n"
            "\n"
            "options:\n"
            "      --timeout SEC   wait at most SEC seconds for the answer (default 60)\n"
            "  -h, --help          show this help and exit\n"
            "\n"
            "exit status: 0 = the command succeeded; 1 = it failed, or no VM answered\n"
            "(the reason is printed on stderr); 2 = bad command line.\n");
}

void ctl_pause_help(FILE *out)
{
    fprintf(out, "usage: hostel pause NAME|PATH\n"
                 "\n"
                 "Pause a running VM: its harts stop (no CPU use) and its clock stands still\n"
                 "until 'hostel resume'.  Devices and the control socket are still served.\n");
}

void ctl_resume_help(FILE *out)
{
    fprintf(out, "usage: hostel resume NAME|PATH\n"
                 "\n"
                 "Resume a VM paused by 'hostel pause'.  Its clock goes on where it stopped:\n"
                 "the guest sees no time pass while it was paused.\n");
}

static int ctl_usage(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Report a bad command line in one line; returns the usage exit status. */
static int ctl_usage(const char *cmd, const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "hostel %s: ", cmd);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, " (see 'hostel %s --help')\n", cmd);
    return CTL_EXIT_USAGE;
}

/* Run cmd on target; print the return value if print, else nothing. Returns the exit status. */
int ctl_call(const char *target, const char *cmd, json_t *args, int timeout_s, bool print)
{
    ControlConn c;
    Error err = {0};
    if (control_conn_open(&c, target, timeout_s * 1000, &err) < 0) {
        fprintf(stderr, "hostel: %s\n", err.msg);
        return 1;
    }
    json_t *reply = control_conn_call(&c, cmd, args, &err);
    control_conn_close(&c);
    if (!reply) {
        fprintf(stderr, "hostel: %s\n", err.msg);
        return 1;
    }
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
            *status = ctl_usage("ctl", "unknown option '%s'", argv[i]);
            return -1;
        }
        char *end;
        errno = 0;
        long v = i + 1 < argc ? strtol(argv[i + 1], &end, 10) : 0;
        if (i + 1 >= argc || errno || *end || v < 1 || v > 86400) {
            *status = ctl_usage("ctl", "--timeout '%s': expected seconds, 1 to 86400",
                                i + 1 < argc ? argv[i + 1] : "");
            return -1;
        }
        *timeout_s = (int)v;
        i++;
    }
    return i;
}

int ctl_main(int argc, char **argv)
{
    int timeout_s = CTL_DEFAULT_TIMEOUT_S, status = 0;
    int i = ctl_options(argc, argv, &timeout_s, &status);
    if (i < 0)
        return status;
    if (argc - i < 2 || argc - i > 3)
        return ctl_usage("ctl", "expected NAME|PATH COMMAND [JSON-ARGUMENTS]");
    json_t *args = NULL;
    if (argc - i == 3) {
        json_error_t je;
        args = json_loads(argv[i + 2], JSON_REJECT_DUPLICATES, &je);
        if (!json_is_object(args)) {
            json_decref(args);
            return ctl_usage("ctl", "JSON-ARGUMENTS '%s' is not a JSON object", argv[i + 2]);
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
        return ctl_usage(cmd, "expected one VM name or socket path");
    return ctl_call(argv[1], cmd, NULL, CTL_DEFAULT_TIMEOUT_S, false);
}

int ctl_pause_main(int argc, char **argv)
{
    return ctl_simple(argc, argv, "pause", ctl_pause_help);
}

int ctl_resume_main(int argc, char **argv)
{
    return ctl_simple(argc, argv, "resume", ctl_resume_help);
}
