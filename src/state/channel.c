/*
 * Stream channels over descriptors (see channel.h): read and write loop
 * over short transfers and EINTR; sockets use recv/send so that a peer
 * that went away is an error (EPIPE), not a signal.
 */
#include "state/channel.h"

#include <errno.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/io.h"

/* Transfer len bytes with one step function; stop early only at the end of the stream. */
static ssize_t fd_read(StreamChannel *c, void *buf, size_t len)
{
    size_t done = 0;
    while (done < len) {
        ssize_t n = read(c->fd, (char *)buf + done, len - done);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -1;
        if (n == 0)
            break;
        done += (size_t)n;
    }
    return (ssize_t)done;
}

static int fd_write(StreamChannel *c, const void *buf, size_t len)
{
    return io_write_all(c->fd, buf, len) ? 0 : -1;
}

static ssize_t sock_read(StreamChannel *c, void *buf, size_t len)
{
    size_t done = 0;
    while (done < len) {
        ssize_t n = recv(c->fd, (char *)buf + done, len - done, MSG_WAITALL);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -1;
        if (n == 0)
            break;
        done += (size_t)n;
    }
    return (ssize_t)done;
}

static int sock_write(StreamChannel *c, const void *buf, size_t len)
{
    size_t done = 0;
    while (done < len) {
        ssize_t n = send(c->fd, (const char *)buf + done, len - done, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return -1;
        done += (size_t)n;
    }
    return 0;
}

static void fd_close(StreamChannel *c)
{
    if (c->owns_fd && c->fd >= 0)
        close(c->fd);
    c->fd = -1;
}

static const StreamChannelOps fd_ops = {
    .read = fd_read,
    .write = fd_write,
    .close = fd_close,
};

static const StreamChannelOps socket_ops = {
    .read = sock_read,
    .write = sock_write,
    .close = fd_close,
};

void stream_channel_file(StreamChannel *c, int fd, bool owns_fd)
{
    *c = (StreamChannel){.ops = &fd_ops, .fd = fd, .seekable = true, .owns_fd = owns_fd};
}

void stream_channel_fd(StreamChannel *c, int fd, bool owns_fd)
{
    *c = (StreamChannel){.ops = &fd_ops, .fd = fd, .owns_fd = owns_fd};
}

void stream_channel_socket(StreamChannel *c, int fd, bool owns_fd)
{
    *c = (StreamChannel){.ops = &socket_ops, .fd = fd, .owns_fd = owns_fd};
}

int stream_channel_for_fd(StreamChannel *c, int fd, bool owns_fd, Error *err)
{
    struct stat st;
    if (fstat(fd, &st) < 0)
        return error_set_errno(err, errno, "descriptor %d", fd);
    if (S_ISREG(st.st_mode))
        stream_channel_file(c, fd, owns_fd);
    else if (S_ISSOCK(st.st_mode))
        stream_channel_socket(c, fd, owns_fd);
    else
        stream_channel_fd(c, fd, owns_fd);
    return 0;
}

void stream_channel_close(StreamChannel *c)
{
    if (c->ops)
        c->ops->close(c);
}
