/*
 * The web console's files (docs/web.md): GET / (asked by a browser: its
 * Accept names text/html; other clients still get the API's versions) is
 * index.html, GET /ui/PATH is PATH under the web directory (hosteld
 * --web-dir).  They hold no data, so anyone may fetch them.  A path with an
 * empty, "." or ".." segment, a segment starting with '.', a control byte
 * or a backslash, an over-long path, or one that resolves (symbolic links
 * followed) outside the directory is 404, as is anything but a regular
 * file.  Each answer has an ETag (inode, size, modification time) and
 * If-None-Match gets 304.  The security headers are the adapter's.
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

#define STATIC_PATH_MAX 512         /* bytes of a path under /ui/ */
#define STATIC_FILE_MAX (32u << 20) /* a larger file is refused (500) */

static const struct {
    const char *ext, *type;
} types[] = {
    {"html", "text/html; charset=utf-8"},
    {"js", "text/javascript; charset=utf-8"},
    {"mjs", "text/javascript; charset=utf-8"},
    {"css", "text/css; charset=utf-8"},
    {"svg", "image/svg+xml"},
    {"png", "image/png"},
    {"ico", "image/x-icon"},
    {"woff2", "font/woff2"},
    {"woff", "font/woff"},
    {"json", "application/json"},
    {"map", "application/json"},
    {"txt", "text/plain; charset=utf-8"},
};

static const char *type_of(const char *path)
{
    const char *dot = strrchr(path, '.'), *slash = strrchr(path, '/');
    if (dot && (!slash || dot > slash))
        for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++)
            if (strcmp(dot + 1, types[i].ext) == 0)
                return types[i].type;
    return "application/octet-stream";
}

static bool accepts_html(const char *accept)
{
    return accept && strstr(accept, "text/html");
}

bool api_static_wanted(const ApiRequest *req)
{
    if (strcmp(req->method, "GET") != 0 && strcmp(req->method, "HEAD") != 0)
        return false;
    return (strcmp(req->path, "/") == 0 && accepts_html(req->accept)) ||
           strcmp(req->path, "/ui") == 0 || strncmp(req->path, "/ui/", 4) == 0;
}

/* rel is a path we serve: its segments are names, none hidden, no control byte. */
static bool rel_path_ok(const char *rel)
{
    size_t n = strlen(rel);
    if (n == 0 || n > STATIC_PATH_MAX)
        return false;
    for (const char *p = rel; *p; p++)
        if ((unsigned char)*p < 0x20 || *p == 0x7f || *p == '\\')
            return false;
    for (const char *seg = rel;;) {
        size_t len = strcspn(seg, "/");
        if (len == 0 || seg[0] == '.')
            return false;
        if (!seg[len])
            return true;
        seg += len + 1;
    }
}

static void reply_plain(ApiResponse *r, int status, const char *fmt, const char *arg)
{
    char text[PATH_MAX + 200];
    snprintf(text, sizeof(text), fmt, arg);
    api_reply_text(r, status, strdup(text));
    if (!r->body)
        api_error(r, 500, "out of memory");
    else
        r->content_type = "text/plain; charset=utf-8";
}

static void not_found(ApiResponse *r)
{
    reply_plain(r, 404, "%snot found\n", "");
}

/* The file's bytes into r (status 200); false if it cannot be read. */
static bool read_into(int fd, const struct stat *st, ApiResponse *r)
{
    size_t size = (size_t)st->st_size, got = 0;
    char *buf = malloc(size + 1);
    while (buf && got < size) {
        ssize_t n = read(fd, buf + got, size - got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        got += (size_t)n;
    }
    if (!buf || got != size) {
        free(buf);
        return false;
    }
    buf[size] = '\0';
    api_reply_text(r, 200, buf);
    r->body_len = size;
    return true;
}

/* If-None-Match names etag (or is "*"). */
static bool etag_matches(const char *inm, const char *etag)
{
    return inm && (strcmp(inm, "*") == 0 || strstr(inm, etag));
}

/* Serve the regular file at real (inside the web directory). */
static void serve_file(const char *real, const ApiRequest *req, ApiResponse *r)
{
    int fd = open(real, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
        if (fd >= 0)
            close(fd);
        not_found(r);
        return;
    }
    if ((uint64_t)st.st_size > STATIC_FILE_MAX) {
        close(fd);
        api_error(r, 500, "a file of the web console is larger than %u bytes", STATIC_FILE_MAX);
        return;
    }
    char etag[sizeof(r->etag)];
    snprintf(etag, sizeof(etag), "\"%llx-%llx-%llx\"", (unsigned long long)st.st_ino,
             (unsigned long long)st.st_size,
             (unsigned long long)st.st_mtim.tv_sec * 1000000000ull +
                 (unsigned long long)st.st_mtim.tv_nsec);
    if (etag_matches(req->if_none_match, etag)) {
        api_reply_text(r, 304, strdup(""));
    } else if (!read_into(fd, &st, r)) {
        api_error(r, 500, "cannot read a file of the web console");
        close(fd);
        return;
    }
    close(fd);
    if (!r->body) {
        api_error(r, 500, "out of memory");
        return;
    }
    memcpy(r->etag, etag, sizeof(etag));
    r->static_file = true;
    r->content_type = type_of(real);
}

void api_static_serve(Api *api, const ApiRequest *req, ApiResponse *r)
{
    const char *rel = strcmp(req->path, "/") == 0 || strcmp(req->path, "/ui") == 0 ||
                              strcmp(req->path, "/ui/") == 0
                          ? "index.html"
                          : req->path + 4;
    char root[PATH_MAX], want[2 * PATH_MAX], real[PATH_MAX];
    struct stat st;
    if (!api->web_dir[0] || !realpath(api->web_dir, root) || stat(root, &st) < 0 ||
        !S_ISDIR(st.st_mode)) {
        reply_plain(r, strcmp(rel, "index.html") == 0 ? 503 : 404,
                    "the web console is not installed: no web directory '%s' (hosteld "
                    "--web-dir DIR)\n",
                    api->web_dir);
        return;
    }
    if (!rel_path_ok(rel)) {
        not_found(r);
        return;
    }
    snprintf(want, sizeof(want), "%s/%s", root, rel);
    size_t rl = strlen(root);
    if (!realpath(want, real)) {
        if (strcmp(rel, "index.html") == 0 && errno == ENOENT)
            reply_plain(r, 503, "the web console is not installed: %s has no index.html\n", root);
        else
            not_found(r);
        return;
    }
    if (strncmp(real, root, rl) != 0 || real[rl] != '/') { /* a link out of the directory */
        not_found(r);
        return;
    }
    serve_file(real, req, r);
}
