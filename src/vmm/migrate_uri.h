/*
 * Where a migration stream goes or comes from (docs/migration.md):
 * "unix:PATH", "tcp:HOST:PORT" or "fd:N" (a descriptor the process already
 * has: a connected stream socket, or a listening one from which one
 * connection is accepted).  The source connects, the destination
 * (`hostel run --incoming`) listens and accepts one connection.
 */
#ifndef HOSTEL_VMM_MIGRATE_URI_H
#define HOSTEL_VMM_MIGRATE_URI_H

#include "util/error.h"

typedef enum MigrateUriKind { MIGRATE_URI_UNIX, MIGRATE_URI_TCP, MIGRATE_URI_FD } MigrateUriKind;

typedef struct MigrateUri {
    MigrateUriKind kind;
    char path[108]; /* unix: the socket's path */
    char host[256]; /* tcp: host name or address ([v6] without brackets) */
    char port[8];   /* tcp: port number */
    int fd;         /* fd: the descriptor */
} MigrateUri;

/* Parse text into u.  Returns 0, or -1 with err saying what is expected. */
int migrate_uri_parse(const char *text, MigrateUri *u, Error *err);

/* Connect to u (not fd:).  Returns the connected socket (close-on-exec), or -1 with err. */
int migrate_uri_connect(const MigrateUri *u, Error *err);

/*
 * Listen on u: a unix socket (a stale socket file at PATH is replaced;
 * anything else there is an error) or a TCP port; fd: returns N itself.
 * Returns the descriptor, or -1 with err.
 */
int migrate_uri_listen(const MigrateUri *u, Error *err);

/*
 * One connection from lfd (migrate_uri_listen's): accepted from a
 * listening socket (the unix socket's path is removed then), or lfd
 * itself when it is connected already (fd:).  Returns it, or -1 with err.
 */
int migrate_uri_accept(const MigrateUri *u, int lfd, Error *err);

#endif
