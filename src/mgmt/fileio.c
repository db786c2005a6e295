/*
 * Whole-file reads, a log's last line and atomic writes (fileio.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "mgmt/fileio.h"
#include "util/io.h"

void mgmt_last_line(const char *path, char *buf, size_t size)
{
    char tail[MGMT_LAST_LINE_TAIL + 1];
    buf[0] = '\0';
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return;
    off_t end = lseek(fd, 0, SEEK_END);
    ssize_t n = pread(fd, tail, MGMT_LAST_LINE_TAIL,
                      end > MGMT_LAST_LINE_TAIL ? end - MGMT_LAST_LINE_TAIL : 0);
    close(fd);
    while (n > 0 && (tail[n - 1] == '\n' || tail[n - 1] == '\r'))
        n--;
    if (n <= 0)
        return;
    tail[n] = '\0';
    const char *start = strrchr(tail, '\n');
    start = start ? start + 1 : tail;
    size_t len = strlen(start) < size ? strlen(start) : size - 1;
    memcpy(buf, start, len);
    buf[len] = '\0';
}

int mgmt_read_file(const char *path, size_t max, char **out, size_t *len, Error *err)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    struct stat st;
    if (fd < 0)
        return error_set_errno(err, errno, "cannot open %.200s", path);
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || (size_t)st.st_size > max) {
        close(fd);
        return error_set(err, "%.200s: not a regular file of at most %zu bytes", path, max);
    }
    char *b = malloc((size_t)st.st_size + 1);
    int r = b ? io_pread_all(fd, b, (size_t)st.st_size, 0) : -1;
    close(fd);
    if (r < 0) {
        free(b);
        return error_set(err, "cannot read %.200s", path);
    }
    b[st.st_size] = '\0';
    *out = b;
    *len = (size_t)st.st_size;
    return 0;
}

int mgmt_write_temp(const char *path, const char *text, size_t len, mode_t mode, char *tmp,
                    size_t tmp_size, Error *err)
{
    const char *slash = strrchr(path, '/');
    int dlen = slash ? (int)(slash - path + 1) : 0;
    if (snprintf(tmp, tmp_size, "%.*s.%s.tmp-XXXXXX", dlen, path, path + dlen) >= (int)tmp_size)
        return error_set(err, "%.200s: path too long", path);
    int fd = mkstemp(tmp);
    if (fd < 0)
        return error_set_errno(err, errno, "cannot create a file beside %.200s", path);
    int e = 0;
    if (fchmod(fd, mode) < 0 || !io_write_all(fd, text, len) || fsync(fd) < 0)
        e = errno ? errno : EIO;
    if (close(fd) < 0 && !e)
        e = errno;
    if (e) {
        unlink(tmp);
        return error_set_errno(err, e, "cannot write %.200s", tmp);
    }
    return 0;
}

int mgmt_commit_temp(const char *tmp, const char *path, Error *err)
{
    if (rename(tmp, path) < 0) {
        int e = errno;
        unlink(tmp);
        return error_set_errno(err, e, "cannot rename %.200s to %.200s", tmp, path);
    }
    io_sync_dir_of(path);
    return 0;
}

int mgmt_write_atomic(const char *path, const char *text, size_t len, mode_t mode, Error *err)
{
    char tmp[PATH_MAX];
    if (mgmt_write_temp(path, text, len, mode, tmp, sizeof(tmp), err) < 0)
        return -1;
    return mgmt_commit_temp(tmp, path, err);
}
