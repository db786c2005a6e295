/*
 * Where control sockets live and how one is claimed: a named VM's socket
 * sits in a per-user directory (mode 0700), the socket itself is 0600.  A
 * socket file left by a VM that died is replaced; one somebody still
 * listens on belongs to a running VM and is never taken over.
 */
#include "control/socket.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "control/control.h"

/* The directory of named VMs' sockets, without a trailing slash. */
static int control_dir(char *buf, size_t size, Error *err)
{
    const char *xdg = getenv("XDG_RUNTIME_DIR");
    int n =
        xdg && *xdg ? snprintf(buf, size, "%s/hostel", xdg) : snprintf(buf, size, "/run/hostel");
    if (n < 0 || (size_t)n >= size)
        return error_set(err, "XDG_RUNTIME_DIR is too long for a socket path");
    return 0;
}

int control_socket_path(const char *name, char *buf, size_t size, Error *err)
{
    char dir[sizeof(((struct sockaddr_un *)0)->sun_path)];
    if (control_dir(dir, sizeof(dir), err) < 0)
        return -1;
    int n = snprintf(buf, size, "%s/%s.sock", dir, name);
    if (n < 0 || (size_t)n >= size || (size_t)n >= sizeof(dir))
        return error_set(err, "control socket path %s/%s.sock is too long (at most %zu bytes)", dir,
                         name, sizeof(dir) - 1);
    return 0;
}

int control_socket_dir_create(Error *err)
{
    char dir[sizeof(((struct sockaddr_un *)0)->sun_path)];
    if (control_dir(dir, sizeof(dir), err) < 0)
        return -1;
    if (mkdir(dir, 0700) < 0 && errno != EEXIST)
        return error_set_errno(err, errno, "cannot create %s", dir);
    return 0;
}

/* Fill addr with path. Returns 0, or -1 with err filled if it is too long. */
static int control_addr(struct sockaddr_un *addr, const char *path, Error *err)
{
    memset(addr, 0, sizeof(*addr));
    addr->sun_family = AF_UNIX;
    if (strlen(path) >= sizeof(addr->sun_path))
        return error_set(err, "control socket path %s is too long (at most %zu bytes)", path,
                         sizeof(addr->sun_path) - 1);
    strcpy(addr->sun_path, path);
    return 0;
}

int control_socket_connect(const char *path, Error *err)
{
    struct sockaddr_un addr;
    if (control_addr(&addr, path, err) < 0)
        return -1;
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return error_set_errno(err, errno, "cannot create a socket");
    if (connect(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0) {
        int e = errno;
        close(fd);
        error_set_errno(err, e, "cannot connect to %s", path);
        errno = e;
        return -1;
    }
    return fd;
}

/* Who owns an existing path: 1 = a live VM listens, 0 = stale socket, -1 = error. */
static int control_path_live(const char *path, const char *vm_name, Error *err)
{
    struct stat st;
    if (lstat(path, &st) < 0)
        return errno == ENOENT ? 0 : error_set_errno(err, errno, "cannot inspect %s", path);
    if (!S_ISSOCK(st.st_mode))
        return error_set(err, "%s exists and is not a socket: not replacing it", path);
    int fd = control_socket_connect(path, NULL);
    if (fd >= 0) {
        close(fd);
        if (vm_name)
            return error_set(err, "a VM named %s is already running (%s)", vm_name, path);
        return error_set(err, "another process (a VM or a switch) is already listening on %s",
                         path);
    }
    if (errno != ECONNREFUSED)
        return error_set_errno(err, errno, "cannot check whether %s is in use", path);
    return 0;
}

/* Bind fd to path with mode 0600; a stale socket file is replaced. */
static int control_bind(int fd, const struct sockaddr_un *addr, const char *vm_name, Error *err)
{
    const char *path = addr->sun_path;
    if (bind(fd, (const struct sockaddr *)addr, sizeof(*addr)) < 0) {
        if (errno != EADDRINUSE)
            return error_set_errno(err, errno, "cannot bind %s", path);
        if (control_path_live(path, vm_name, err) < 0)
            return -1;
        if (unlink(path) < 0 && errno != ENOENT)
            return error_set_errno(err, errno, "cannot remove the stale socket %s", path);
        if (bind(fd, (const struct sockaddr *)addr, sizeof(*addr)) < 0)
            return error_set_errno(err, errno, "cannot bind %s", path);
    }
    /* Before listen(): nobody can connect while the mode is still the umask's. */
    if (chmod(path, 0600) < 0) {
        int e = errno;
        unlink(path);
        return error_set_errno(err, e, "cannot set the mode of %s", path);
    }
    return 0;
}

int control_socket_listen(const char *path, const char *vm_name, ControlSocketId *id, Error *err)
{
    struct sockaddr_un addr;
    if (control_addr(&addr, path, err) < 0)
        return -1;
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0)
        return error_set_errno(err, errno, "cannot create a socket");
    if (control_bind(fd, &addr, vm_name, err) < 0) {
        close(fd);
        return -1;
    }
    struct stat st;
    if (stat(path, &st) < 0 || listen(fd, 8) < 0) {
        int e = errno;
        close(fd);
        unlink(path);
        return error_set_errno(err, e, "cannot listen on %s", path);
    }
    *id = (ControlSocketId){.dev = st.st_dev, .ino = st.st_ino};
    return fd;
}

void control_socket_remove(const char *path, const ControlSocketId *id)
{
    struct stat st;
    /* Another VM may have replaced a socket it found dead: leave that one alone. */
    if (lstat(path, &st) == 0 && st.st_dev == id->dev && st.st_ino == id->ino)
        unlink(path);
}
