/* Small helpers for host file descriptors. */
#ifndef HOSTEL_UTIL_IO_H
#define HOSTEL_UTIL_IO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * Write all len bytes of buf to fd, retrying on EINTR and short writes.
 * Returns false if the fd failed (closed pipe, full disk...): the rest is
 * dropped, as guest console output to a vanished terminal should be.
 */
bool io_write_all(int fd, const void *buf, size_t len);

/*
 * A sink for guest console output: takes len bytes of buf (which it does
 * not keep).  It cannot fail: output a sink cannot take is dropped.
 */
typedef void (*ConsoleOutFn)(void *opaque, const uint8_t *buf, size_t len);

/* pwrite / pread all len bytes at off (EINTR and short transfers retried).
 * Return 0, or -1 with errno set (a read that meets end of file: EIO). */
int io_pwrite_all(int fd, const void *buf, size_t len, uint64_t off);
int io_pread_all(int fd, void *buf, size_t len, uint64_t off);

/* fsync the directory holding path, so that a rename into it is durable (best effort). */
void io_sync_dir_of(const char *path);

#endif
