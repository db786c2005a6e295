/*
 * TLS for migration streams (docs/migration.md, "TLS"): mutual X.509
 * authentication with GnuTLS, credentials from a directory laid out as
 * QEMU's and libvirt's are:
 *
 *   ca-cert.pem                     the CA both sides' certificates chain to
 *   server-cert.pem, server-key.pem the destination's (`hostel run --incoming`)
 *   client-cert.pem, client-key.pem the source's (`hostel migrate`)
 *
 * Each side verifies the other's certificate against ca-cert.pem; the
 * source also checks the destination's name (the URI's host, or the
 * hostname given).  A session moves the stream's bytes and the
 * destination's reply line; one thread may send while another receives.
 */
#ifndef HOSTEL_VMM_MIGRATE_TLS_H
#define HOSTEL_VMM_MIGRATE_TLS_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "state/channel.h"
#include "util/error.h"

#define MIGRATE_TLS_HANDSHAKE_MS 10000

typedef struct MigrateTls MigrateTls;

/*
 * A session over the connected socket fd (not taken over): the server side
 * (server true) or the client side checking the peer's name against
 * hostname (NULL: no name check, refused for a client).  Loads the
 * credentials from dir and completes the handshake within
 * MIGRATE_TLS_HANDSHAKE_MS.  NULL with err set on any failure (a missing
 * file, a peer without a certificate or with one the CA did not sign, a
 * name mismatch, a timeout).
 */
MigrateTls *migrate_tls_open(const char *dir, bool server, const char *hostname, int fd,
                             Error *err);

/* A channel (not owning fd) whose bytes go through t. */
void migrate_tls_channel(MigrateTls *t, StreamChannel *c);

/* Write all of buf.  Returns 0, or -1 (errno set). */
int migrate_tls_write(MigrateTls *t, const void *buf, size_t len);

/* Read up to len bytes, waiting at most timeout_ms.  Returns the count, 0 at the end, -1 on
 * error or timeout (errno ETIMEDOUT). */
ssize_t migrate_tls_read(MigrateTls *t, void *buf, size_t len, int timeout_ms);

/* Close the session (a close_notify is sent if the peer may still read); fd stays open. */
void migrate_tls_close(MigrateTls *t);

#endif
