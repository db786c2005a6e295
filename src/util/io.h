/* Small helpers for host file descriptors. */
#ifndef HOSTEL_UTIL_IO_H
#define HOSTEL_UTIL_IO_H

#include <stdbool.h>
#include <stddef.h>

/*
 * Write all len bytes of buf to fd, retrying on EINTR and short writes.
 * Returns false if the fd failed (closed pipe, full disk...): the rest is
 * dropped, as guest console output to a vanished terminal should be.
 */
bool io_write_all(int fd, const void *buf, size_t len);

#endif
