/* Descriptors over unix sockets (fdpass.h). */
#include "util/fdpass.h"

#include <errno.h>
#include <string.h>

ssize_t fdpass_send(int sock, const void *buf, size_t len, const int *fds, size_t nfds, int flags)
{
    union {
        struct cmsghdr align;
        char buf[CMSG_SPACE(sizeof(int) * FDPASS_MAX)];
    } ctl;
    if (nfds == 0 || nfds > FDPASS_MAX) {
        errno = EINVAL;
        return -1;
    }
    memset(&ctl, 0, sizeof(ctl));
    struct iovec iov = {.iov_base = (void *)buf, .iov_len = len};
    struct msghdr msg = {.msg_iov = &iov,
                         .msg_iovlen = 1,
                         .msg_control = ctl.buf,
                         .msg_controllen = CMSG_SPACE(sizeof(int) * nfds)};
    struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int) * nfds);
    memcpy(CMSG_DATA(c), fds, sizeof(int) * nfds);
    ssize_t n;
    do
        n = sendmsg(sock, &msg, flags);
    while (n < 0 && errno == EINTR);
    return n;
}

void fdpass_each(struct msghdr *msg, void (*fn)(void *opaque, int fd), void *opaque)
{
    for (struct cmsghdr *c = CMSG_FIRSTHDR(msg); c; c = CMSG_NXTHDR(msg, c)) {
        if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
            continue;
        size_t n = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
        for (size_t i = 0; i < n; i++) {
            int fd;
            memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
            fn(opaque, fd);
        }
    }
}
