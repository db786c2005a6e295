/*
 * A sequential byte channel under the state stream: the same encoding is
 * written to and read from a regular file, any file descriptor (a pipe,
 * stdin) or a socket (migration).  A channel only moves bytes in order; a
 * file channel also says it is seekable, so the stream may use the file's
 * offsets for its fast paths (flat RAM written at its offsets and mapped at
 * restore, compressed RAM checked and decompressed on several threads).
 *
 * The ops report failures through errno, as read(2) and write(2) do: the
 * stream turns them into messages that name the stream.
 */
#ifndef HOSTEL_STATE_CHANNEL_H
#define HOSTEL_STATE_CHANNEL_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "util/error.h"

typedef struct StreamChannel StreamChannel;

typedef struct StreamChannelOps {
    /* Read len bytes; fewer only where the stream ends.  Returns the count, or -1 (errno). */
    ssize_t (*read)(StreamChannel *c, void *buf, size_t len);
    /* Write all len bytes.  Returns 0, or -1 (errno; EPIPE, not SIGPIPE, for a socket). */
    int (*write)(StreamChannel *c, const void *buf, size_t len);
    /* Close the descriptor if the channel owns it. */
    void (*close)(StreamChannel *c);
} StreamChannelOps;

struct StreamChannel {
    const StreamChannelOps *ops;
    int fd;
    bool seekable; /* a regular file read or written from offset 0: offsets may be used */
    bool owns_fd;  /* close(fd) on close */
    void *priv;    /* the ops' own state (a TLS session), NULL for the kinds above */
};

/* A regular file, positioned at offset 0 (a stream starts there). */
void stream_channel_file(StreamChannel *c, int fd, bool owns_fd);
/* Any descriptor read and written in order (a pipe, a terminal, stdin). */
void stream_channel_fd(StreamChannel *c, int fd, bool owns_fd);
/* A connected stream socket (send/recv; a closed peer gives EPIPE, never SIGPIPE). */
void stream_channel_socket(StreamChannel *c, int fd, bool owns_fd);
/*
 * The channel that fits fd: a file for a regular file, a socket for a
 * socket, else the plain descriptor.  Returns 0, or -1 with err set when fd
 * is not open.
 */
int stream_channel_for_fd(StreamChannel *c, int fd, bool owns_fd, Error *err);

static inline ssize_t stream_channel_read(StreamChannel *c, void *buf, size_t len)
{
    return c->ops->read(c, buf, len);
}

static inline int stream_channel_write(StreamChannel *c, const void *buf, size_t len)
{
    return c->ops->write(c, buf, len);
}

/* Close c (its descriptor if it owns it); a closed channel may be closed again. */
void stream_channel_close(StreamChannel *c);

#endif
