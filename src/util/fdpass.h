/*
 * Descriptors passed over unix sockets (SCM_RIGHTS): sending a message with
 * some attached, and taking those a received message carries.  Used by the
 * control socket (a switch port's socket handed to a VMM or a switch) and
 * by the switch ports' ring handshake (net/ring.h).
 */
#ifndef HOSTEL_UTIL_FDPASS_H
#define HOSTEL_UTIL_FDPASS_H

#include <stddef.h>
#include <sys/socket.h>
#include <sys/types.h>

#define FDPASS_MAX 8 /* descriptors one message may carry here */

/*
 * Send len bytes of buf on sock with nfds (1..FDPASS_MAX) descriptors
 * attached, flags as sendmsg's (EINTR retried).  Returns what sendmsg
 * returns: the bytes sent, or -1 with errno.
 */
ssize_t fdpass_send(int sock, const void *buf, size_t len, const int *fds, size_t nfds, int flags);

/*
 * Call fn(opaque, fd) for every descriptor the SCM_RIGHTS parts of a
 * received msg carry, in order; fn owns each (keeps or closes it).
 */
void fdpass_each(struct msghdr *msg, void (*fn)(void *opaque, int fd), void *opaque);

#endif
