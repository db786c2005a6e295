/* Host file descriptor helpers (see io.h). */
#include "util/io.h"

#include <errno.h>
#include <unistd.h>

bool io_write_all(int fd, const void *buf, size_t len)
{
    const char *p = buf;
    while (len > 0) {
        ssize_t n = write(fd, p, len > (1u << 20) ? (1u << 20) : len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return false;
        p += n;
        len -= (size_t)n;
    }
    return true;
}
