/*
 * Migration URIs: parsing, connecting, listening, accepting (migrate_uri.h).
 */
#include "vmm/migrate_uri.h"

#include <errno.h>
#include <stdbool.h>
#include <fcntl.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

static int parse_unix(const char *path, MigrateUri *u, Error *err)
{
    if (!*path || strlen(path) >= sizeof(u->path))
        return error_set(err, "migration URI unix:%s: expected a socket path of 1 to 107 bytes",
                         path);
    u->kind = MIGRATE_URI_UNIX;
    snprintf(u->path, sizeof(u->path), "%s", path);
    return 0;
}

static int parse_tcp(const char *hp, MigrateUri *u, Error *err)
{
    const char *colon = strrchr(hp, ':');
    const char *host = hp;
    size_t hlen = colon ? (size_t)(colon - hp) : 0;
    if (hlen >= 2 && hp[0] == '[' && hp[hlen - 1] == ']') {
        host++;
        hlen -= 2;
    }
    char *end;
    long port = colon ? strtol(colon + 1, &end, 10) : 0;
    if (!colon || hlen == 0 || hlen >= sizeof(u->host) || !colon[1] || *end || port < 1 ||
        port > 65535)
        return error_set(err, "migration URI tcp:%s: expected tcp:HOST:PORT", hp);
    u->kind = MIGRATE_URI_TCP;
    memcpy(u->host, host, hlen);
    u->host[hlen] = '\0';
    snprintf(u->port, sizeof(u->port), "%ld", port);
    return 0;
}

static int parse_fd(const char *n, MigrateUri *u, Error *err)
{
    char *end;
    long fd = strtol(n, &end, 10);
    if (!*n || *end || fd < 0 || fd > 1000000)
        return error_set(err, "migration URI fd:%s: expected a descriptor number", n);
    if (fcntl((int)fd, F_GETFD) < 0)
        return error_set(err, "migration URI fd:%ld: the descriptor is not open", fd);
    u->kind = MIGRATE_URI_FD;
    u->fd = (int)fd;
    return 0;
}

int migrate_uri_parse(const char *text, MigrateUri *u, Error *err)
{
    memset(u, 0, sizeof(*u));
    u->fd = -1;
    if (!strncmp(text, "unix:", 5))
        return parse_unix(text + 5, u, err);
    if (!strncmp(text, "tcp:", 4))
        return parse_tcp(text + 4, u, err);
    if (!strncmp(text, "fd:", 3))
        return parse_fd(text + 3, u, err);
    return error_set(err, "migration URI '%s': expected unix:PATH, tcp:HOST:PORT or fd:N", text);
}

static void unix_addr(const MigrateUri *u, struct sockaddr_un *a)
{
    memset(a, 0, sizeof(*a));
    a->sun_family = AF_UNIX;
    memcpy(a->sun_path, u->path, strlen(u->path));
}

static int unix_socket(const MigrateUri *u, bool listening, Error *err)
{
    struct sockaddr_un a;
    unix_addr(u, &a);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return error_set_errno(err, errno, "unix:%s: cannot create a socket", u->path);
    struct stat st;
    if (listening && lstat(u->path, &st) == 0 && S_ISSOCK(st.st_mode))
        unlink(u->path); /* a stale socket; a live listener loses its path, as with any bind */
    int rc = listening ? bind(fd, (struct sockaddr *)&a, sizeof(a))
                       : connect(fd, (struct sockaddr *)&a, sizeof(a));
    if (rc == 0 && listening)
        rc = listen(fd, 1);
    if (rc < 0) {
        int e = errno;
        close(fd);
        return error_set_errno(err, e, "unix:%s: cannot %s", u->path,
                               listening ? "listen there" : "connect");
    }
    return fd;
}

static int tcp_socket(const MigrateUri *u, bool listening, Error *err)
{
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM, .ai_flags = listening ? AI_PASSIVE : 0};
    struct addrinfo *res;
    int g = getaddrinfo(u->host, u->port, &hints, &res);
    if (g != 0)
        return error_set(err, "tcp:%s:%s: %s", u->host, u->port, gai_strerror(g));
    int fd = -1, e = 0;
    for (struct addrinfo *ai = res; ai && fd < 0; ai = ai->ai_next) {
        fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
        if (fd < 0)
            continue;
        int one = 1;
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
        int rc = listening ? bind(fd, ai->ai_addr, ai->ai_addrlen)
                           : connect(fd, ai->ai_addr, ai->ai_addrlen);
        if (rc == 0 && listening)
            rc = listen(fd, 1);
        if (rc < 0) {
            e = errno;
            close(fd);
            fd = -1;
        }
    }
    freeaddrinfo(res);
    if (fd < 0)
        return error_set_errno(err, e, "tcp:%s:%s: cannot %s", u->host, u->port,
                               listening ? "listen there" : "connect");
    return fd;
}

int migrate_uri_connect(const MigrateUri *u, Error *err)
{
    switch (u->kind) {
    case MIGRATE_URI_UNIX: return unix_socket(u, false, err);
    case MIGRATE_URI_TCP: return tcp_socket(u, false, err);
    default: return error_set(err, "fd:%d: a migration source connects to unix: or tcp:", u->fd);
    }
}

int migrate_uri_listen(const MigrateUri *u, Error *err)
{
    switch (u->kind) {
    case MIGRATE_URI_UNIX: return unix_socket(u, true, err);
    case MIGRATE_URI_TCP: return tcp_socket(u, true, err);
    default: return u->fd;
    }
}

int migrate_uri_accept(const MigrateUri *u, int lfd, Error *err)
{
    int listening = 0;
    socklen_t len = sizeof(listening);
    if (getsockopt(lfd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &len) < 0 || !listening) {
        if (u->kind == MIGRATE_URI_FD)
            return lfd; /* connected already (or a pipe): read it as it is */
        return error_set(err, "the migration socket does not listen");
    }
    int fd;
    do
        fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
    while (fd < 0 && errno == EINTR);
    if (fd < 0)
        return error_set_errno(err, errno, "cannot accept the migration connection");
    if (u->kind == MIGRATE_URI_UNIX)
        unlink(u->path);
    return fd;
}
