/*
 * `hostel logs NAME` and `hostel edit NAME`: a VM's logs as hosteld keeps
 * them (GET /1.0/vms/NAME/logs/FILE), and its definition edited in
 * $EDITOR, checked by the daemon before it is kept (PUT /1.0/vms/NAME):
 * an edit the daemon refuses is shown with its reason and offered again,
 * so nothing half-valid is ever stored.
 */
#include <curl/curl.h>
#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cli.h"
#include "mgmt_client.h"

enum { OPT_SOCKET = 256, OPT_VMM, OPT_TAIL };

/* One call to the daemon; 0 with *out filled (any status), or after printing why, -1. */
static int request(const char *socket, const char *method, const char *path, json_t *body,
                   MgmtReply *out)
{
    MgmtTarget t;
    Error err = {0};
    bool no_daemon;
    if (mgmt_client_target(&t, socket, NULL, &err) < 0 ||
        mgmt_client_call_target(&t, method, path, body, out, &no_daemon, &err) < 0) {
        cli_fail(&err);
        return -1;
    }
    return 0;
}

/* A non-2xx reply: its message printed; true when the reply was a success. */
static bool succeeded(MgmtReply *r)
{
    char buf[600];
    if (r->status >= 200 && r->status <= 299)
        return true;
    fprintf(stderr, "hostel: %s\n", mgmt_reply_message(r, buf, sizeof(buf)));
    return false;
}

/* ---- logs ---- */

static void logs_help(FILE *out)
{
    fprintf(out, "usage: hostel logs NAME [--vmm] [--tail BYTES] [--socket PATH]\n"
                 "\n"
                 "Print a VM's console log as hosteld keeps it (what the guest printed on its\n"
                 "serial console, across restarts), or with --vmm its VMM's own log (hostel\n"
                 "run's messages, one line per start).  NAME may be REMOTE:NAME.\n"
                 "\n"
                 "options:\n"
                 "      --vmm             the VMM's log instead of the console's\n"
                 "      --tail BYTES      only the last BYTES (default: all, up to 8 MiB)\n"
                 "      --socket PATH     hosteld's socket\n");
}

static int logs_main(int argc, char **argv)
{
    static const struct option longopts[] = {{"socket", required_argument, NULL, OPT_SOCKET},
                                             {"vmm", no_argument, NULL, OPT_VMM},
                                             {"tail", required_argument, NULL, OPT_TAIL},
                                             {"help", no_argument, NULL, 'h'},
                                             {0}};
    const char *socket = NULL, *tail = NULL;
    bool vmm = false;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        if (c == 'h') {
            logs_help(stdout);
            return 0;
        } else if (c == OPT_SOCKET) {
            socket = optarg;
        } else if (c == OPT_VMM) {
            vmm = true;
        } else if (c == OPT_TAIL) {
            tail = optarg;
            if (strspn(tail, "0123456789") != strlen(tail) || !*tail)
                return cli_usage("logs", "--tail '%s': expected a number of bytes", tail);
        } else {
            return cli_usage("logs", "unknown option '%s'", argv[optind - 1]);
        }
    }
    if (optind != argc - 1)
        return cli_usage("logs", "expected one VM name");
    const char *name = mgmt_client_split_vm(argv[optind]);
    char *esc = curl_easy_escape(NULL, name, 0), path[512];
    snprintf(path, sizeof(path), "/1.0/vms/%s/logs/%s%s%s", esc ? esc : "",
             vmm ? "vmm.log" : "console.log", tail ? "?tail=" : "", tail ? tail : "");
    curl_free(esc);
    MgmtReply r;
    if (request(socket, "GET", path, NULL, &r) < 0)
        return CLI_EXIT_FAIL;
    bool ok = succeeded(&r);
    if (ok && r.text)
        fputs(r.text, stdout);
    mgmt_reply_free(&r);
    return ok ? 0 : CLI_EXIT_FAIL;
}

/* ---- edit ---- */

static void edit_help(FILE *out)
{
    fprintf(out, "usage: hostel edit NAME [--socket PATH]\n"
                 "\n"
                 "Open a VM's definition (JSON: description, autostart, restart, config) in\n"
                 "$VISUAL, $EDITOR or vi.  When the editor ends, the daemon checks the new\n"
                 "definition before it keeps it: a refused one is shown with the reason and\n"
                 "you may edit it again (or leave it unchanged by saving it as it was).\n"
                 "Changes to the machine of a running VM apply at its next start.\n");
}

/* The editable members of a VM object (the rest is identity or state). */
static json_t *editable(const json_t *vm)
{
    json_t *e = json_object();
    static const char *const keep[] = {"description", "autostart", "restart", "config"};
    for (size_t i = 0; e && i < sizeof(keep) / sizeof(keep[0]); i++)
        if (json_object_get(vm, keep[i]))
            json_object_set(e, keep[i], json_object_get(vm, keep[i]));
    return e;
}

/* Run the editor on path; 0 when it ended well. */
static int run_editor(const char *path)
{
    const char *ed = getenv("VISUAL");
    if (!ed || !*ed)
        ed = getenv("EDITOR");
    if (!ed || !*ed)
        ed = "vi";
    char *cmd = NULL;
    if (asprintf(&cmd, "%s '%s'", ed, path) < 0)
        return -1;
    int st = system(cmd);
    free(cmd);
    return st != -1 && WIFEXITED(st) && WEXITSTATUS(st) == 0 ? 0 : -1;
}

/* Ask on the terminal whether to edit again; false without a terminal. */
static bool again(void)
{
    char line[16];
    if (!isatty(STDIN_FILENO))
        return false;
    fprintf(stderr, "edit again? [Y/n] ");
    return fgets(line, sizeof(line), stdin) && (line[0] != 'n' && line[0] != 'N');
}

/* One round: the file edited and sent. 1 stored, 0 unchanged, -1 refused, -2 failed. */
static int edit_round(const char *socket, const char *vmpath, const char *file, json_t *before)
{
    if (run_editor(file) < 0) {
        fprintf(stderr, "hostel: the editor failed: nothing changed\n");
        return -2;
    }
    json_error_t je;
    json_t *after = json_load_file(file, JSON_REJECT_DUPLICATES, &je);
    if (!after) {
        fprintf(stderr, "hostel: line %d column %d: %s\n", je.line, je.column, je.text);
        return -1;
    }
    if (json_equal(after, before)) {
        json_decref(after);
        return 0;
    }
    MgmtReply r;
    int rc = request(socket, "PUT", vmpath, after, &r);
    json_decref(after);
    if (rc < 0)
        return -2;
    rc = succeeded(&r) ? 1 : -1;
    if (rc == 1 && json_is_true(json_object_get(r.body, "restart_required")))
        printf("saved; the machine's changes apply at the VM's next start\n");
    else if (rc == 1)
        printf("saved\n");
    mgmt_reply_free(&r);
    return rc;
}

static int edit_main(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"socket", required_argument, NULL, OPT_SOCKET}, {"help", no_argument, NULL, 'h'}, {0}};
    const char *socket = NULL;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        if (c == 'h') {
            edit_help(stdout);
            return 0;
        } else if (c == OPT_SOCKET) {
            socket = optarg;
        } else {
            return cli_usage("edit", "unknown option '%s'", argv[optind - 1]);
        }
    }
    if (optind != argc - 1)
        return cli_usage("edit", "expected one VM name");
    const char *name = mgmt_client_split_vm(argv[optind]);
    char *esc = curl_easy_escape(NULL, name, 0), vmpath[512];
    snprintf(vmpath, sizeof(vmpath), "/1.0/vms/%s", esc ? esc : "");
    curl_free(esc);
    MgmtReply r;
    if (request(socket, "GET", vmpath, NULL, &r) < 0)
        return CLI_EXIT_FAIL;
    if (!succeeded(&r)) {
        mgmt_reply_free(&r);
        return CLI_EXIT_FAIL;
    }
    json_t *before = editable(r.body);
    mgmt_reply_free(&r);
    char file[] = "/tmp/hostel-edit-XXXXXX.json";
    int fd = mkstemps(file, 5);
    if (fd < 0 || json_dumpfd(before, fd, JSON_INDENT(2)) < 0 || write(fd, "\n", 1) != 1) {
        fprintf(stderr, "hostel: cannot write a temporary file: %s\n", strerror(errno));
        if (fd >= 0)
            close(fd), unlink(file);
        json_decref(before);
        return CLI_EXIT_FAIL;
    }
    close(fd);
    int rc;
    while ((rc = edit_round(socket, vmpath, file, before)) == -1 && again()) {
    }
    if (rc == 0)
        printf("unchanged\n");
    unlink(file);
    json_decref(before);
    return rc >= 0 ? 0 : CLI_EXIT_FAIL;
}

const Command cmd_logs = {
    .name = "logs",
    .run = logs_main,
    .help = logs_help,
    .summary = "print a VM's console log (or its VMM's) as hosteld keeps it",
};

const Command cmd_edit = {
    .name = "edit",
    .run = edit_main,
    .help = edit_help,
    .summary = "edit a VM's definition in $EDITOR, checked by hosteld before it is kept",
};
