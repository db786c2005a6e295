/* The console's log file with rotation by size (PATH -> PATH.1). */
#include "vmm/console_log.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

struct ConsoleLog {
    int fd;        /* PATH, open for appending; -1 after a failed rotation */
    uint64_t max;  /* rotate when size reaches this */
    uint64_t size; /* bytes in PATH */
    char *path;
    char *old_path; /* PATH.1 */
};

/* (Re)open PATH for appending and learn its size. Returns 0, or -1 with err. */
static int log_reopen(ConsoleLog *l, Error *err)
{
    struct stat st;
    /* O_NONBLOCK: a FIFO at PATH must not hang the VMM (it is refused below) */
    l->fd = open(l->path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOCTTY | O_NONBLOCK, 0600);
    if (l->fd < 0)
        return error_set_errno(err, errno, "console log %s", l->path);
    if (fstat(l->fd, &st) == 0 && S_ISREG(st.st_mode)) {
        l->size = (uint64_t)st.st_size;
        return 0;
    }
    close(l->fd);
    l->fd = -1;
    return error_set(err, "console log %s: not a regular file", l->path);
}

ConsoleLog *console_log_open(const char *path, uint64_t max_bytes, Error *err)
{
    ConsoleLog *l = calloc(1, sizeof(*l));
    size_t n = strlen(path) + 3;
    if (l) {
        l->fd = -1;
        l->path = strdup(path);
        l->old_path = malloc(n);
    }
    if (!l || !l->path || !l->old_path) {
        error_set(err, "out of memory opening the console log");
        console_log_close(l);
        return NULL;
    }
    snprintf(l->old_path, n, "%s.1", path);
    l->max = max_bytes;
    if (!max_bytes || log_reopen(l, err) < 0) {
        if (!max_bytes)
            error_set(err, "console log %s: the size limit must be at least one byte", path);
        console_log_close(l);
        return NULL;
    }
    return l;
}

/* PATH -> PATH.1, and a fresh PATH. Returns 0, or -1 with err (no file open then). */
static int log_rotate(ConsoleLog *l, Error *err)
{
    if (l->fd >= 0)
        close(l->fd);
    l->fd = -1;
    if (rename(l->path, l->old_path) < 0 && errno != ENOENT)
        return error_set_errno(err, errno, "console log: cannot rotate %s", l->path);
    return log_reopen(l, err);
}

int console_log_write(ConsoleLog *l, const uint8_t *buf, size_t len, Error *err)
{
    if (l->fd < 0 && log_reopen(l, err) < 0)
        return -1;
    while (len) {
        if (l->size >= l->max && log_rotate(l, err) < 0)
            return -1;
        size_t n = l->max - l->size < len ? (size_t)(l->max - l->size) : len;
        ssize_t w = write(l->fd, buf, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return error_set_errno(err, w < 0 ? errno : ENOSPC, "console log %s", l->path);
        l->size += (uint64_t)w;
        buf += w;
        len -= (size_t)w;
    }
    return 0;
}

void console_log_close(ConsoleLog *l)
{
    if (!l)
        return;
    if (l->fd >= 0)
        close(l->fd);
    free(l->path);
    free(l->old_path);
    free(l);
}
