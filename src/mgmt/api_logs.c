/*
 * A VM's logs: GET /1.0/vms/NAME/logs lists them (the console's output,
 * rotated by the VMM, and the VMM's own stderr), GET .../logs/FILE gives
 * one as text, its last `tail` bytes when asked (?tail=N).  Only the names
 * listed are served: a log is one of a fixed set of files of the VM's data
 * directory, never a path a client builds.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "mgmt/api_int.h"

#define LOG_SERVE_MAX (8u << 20) /* at most this much of a log in one answer */

static const char *const log_files[] = {"console.log", "console.log.1", "vmm.log"};

static bool known_log(const char *file)
{
    for (size_t i = 0; i < sizeof(log_files) / sizeof(log_files[0]); i++)
        if (strcmp(file, log_files[i]) == 0)
            return true;
    return false;
}

void api_h_vm_logs(Api *api, const ApiRequest *req, const ApiArgs *args, ApiResponse *r)
{
    (void)req;
    if (!api_vm_or_404(api, args->arg[0], r))
        return;
    json_t *list = json_array();
    for (size_t i = 0; list && api->runtime && i < sizeof(log_files) / sizeof(log_files[0]); i++) {
        char path[PATH_MAX];
        struct stat st;
        if (mgmt_runtime_path(api->runtime, args->arg[0], log_files[i], path, sizeof(path)) < 0 ||
            stat(path, &st) < 0)
            continue;
        json_array_append_new(list, json_pack("{s:s, s:I, s:I}", "name", log_files[i], "size",
                                              (json_int_t)st.st_size, "modified",
                                              (json_int_t)st.st_mtime));
    }
    api_reply_json(r, 200, list ? json_pack("{s:o}", "logs", list) : NULL);
}

/* ?tail=N (bytes; default: the whole file up to LOG_SERVE_MAX); -1 after a 400. */
static long long tail_of(const ApiRequest *req, ApiResponse *r)
{
    const char *q = req->query;
    if (!q || !*q)
        return LOG_SERVE_MAX;
    char *end;
    long long n = strncmp(q, "tail=", 5) == 0 ? strtoll(q + 5, &end, 10) : -1;
    if (n < 0 || strncmp(q, "tail=", 5) != 0 || *end || end == q + 5) {
        api_error(r, 400, "query: '%.60s' is not tail=BYTES", q);
        return -1;
    }
    return n < LOG_SERVE_MAX ? n : LOG_SERVE_MAX;
}

void api_h_vm_log(Api *api, const ApiRequest *req, const ApiArgs *args, ApiResponse *r)
{
    char path[PATH_MAX];
    long long tail = tail_of(req, r);
    if (tail < 0 || !api_vm_or_404(api, args->arg[0], r))
        return;
    if (!known_log(args->arg[1]) || !api->runtime ||
        mgmt_runtime_path(api->runtime, args->arg[0], args->arg[1], path, sizeof(path)) < 0) {
        api_error(r, 404, "%s has no log named '%s' (console.log, console.log.1, vmm.log)",
                  args->arg[0], args->arg[1]);
        return;
    }
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
        api_error(r, 404, "%s: no %s yet", args->arg[0], args->arg[1]);
        if (fd >= 0)
            close(fd);
        return;
    }
    size_t n = (size_t)(st.st_size < tail ? st.st_size : tail);
    char *text = malloc(n + 1);
    ssize_t got = text ? pread(fd, text, n, st.st_size - (off_t)n) : -1;
    close(fd);
    if (got < 0) {
        free(text);
        api_error(r, 500, "cannot read %s: %s", args->arg[1], strerror(errno));
        return;
    }
    text[got] = '\0';
    r->content_type = "text/plain; charset=utf-8";
    api_reply_text(r, 200, text);
}
