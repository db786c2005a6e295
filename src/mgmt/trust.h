/*
 * The trust store and join tokens (docs/mgmt.md, "Trust"): which TLS
 * client certificates hosteld serves over HTTPS.
 *
 *   DIR/trust/FINGERPRINT.json   one trusted certificate:
 *       {"name", "fingerprint", "certificate" (PEM), "added", "by"}
 *
 * written atomically (mgmt_write_atomic); at open, stray temporary files
 * are removed and a document that does not read is logged and skipped
 * (kept on disk).  A join token is a one-time secret a trusted admin makes
 * for a new client's name: the client presents it with its certificate
 * and that certificate is trusted under the name.  Tokens live in memory
 * (a daemon restart voids them), expire after a TTL and are used once.
 * Not thread-safe: the API holds its lock.
 */
#ifndef HOSTEL_MGMT_TRUST_H
#define HOSTEL_MGMT_TRUST_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include "mgmt/cert.h"
#include "mgmt/vm.h"
#include "util/error.h"

#define MGMT_TOKEN_TTL_DEFAULT 3600 /* seconds a join token is valid */
#define MGMT_TOKEN_SECRET_BYTES 32
#define MGMT_TOKEN_MAX 4096     /* bytes of an encoded token */
#define MGMT_TOKENS_LIVE_MAX 64 /* join tokens alive at once; more are refused */

typedef struct MgmtTrust MgmtTrust;

typedef struct MgmtTrustEntry {
    char name[MGMT_NAME_MAX + 1];
    char fingerprint[MGMT_FP_LEN + 1];
    char *certificate; /* PEM */
    char added[32];    /* UTC, ISO 8601 */
    char by[96];       /* who added it: "uid 1000", "cert NAME", "token" */
    time_t not_after;  /* the certificate's expiry */
    time_t not_before;
} MgmtTrustEntry;

typedef struct MgmtToken {
    char id[17];                              /* 16 hex digits: names it in the API */
    char name[MGMT_NAME_MAX + 1];             /* the name the client will be trusted as */
    char secret[MGMT_TOKEN_SECRET_BYTES * 2]; /* base64url */
    time_t expires;
    char *encoded; /* what the client is given (base64url of a JSON object) */
} MgmtToken;

/*
 * Open the trust store under state_dir (DIR/trust made, mode 0700, if
 * missing).  Returns 0 with *out set, or -1.
 */
int mgmt_trust_open(MgmtTrust **out, const char *state_dir, Error *err);
void mgmt_trust_close(MgmtTrust *t);

/*
 * What tokens embed so a client can pin the server: its certificate's
 * fingerprint and the addresses it listens on (a JSON array of strings;
 * the reference is taken).  Returns 0, or -1 (no memory).
 */
int mgmt_trust_set_server(MgmtTrust *t, const char *fingerprint, json_t *addresses, Error *err);
const char *mgmt_trust_server_fingerprint(const MgmtTrust *t); /* "" when none */
json_t *mgmt_trust_server_addresses(const MgmtTrust *t);       /* borrowed, never NULL */

/* Seconds a new token is valid (>= 1). */
void mgmt_trust_set_token_ttl(MgmtTrust *t, unsigned seconds);

size_t mgmt_trust_count(const MgmtTrust *t);
const MgmtTrustEntry *mgmt_trust_at(const MgmtTrust *t, size_t i);

/* The entry with this fingerprint, or the one named so; NULL if none. */
const MgmtTrustEntry *mgmt_trust_find(const MgmtTrust *t, const char *fingerprint);
const MgmtTrustEntry *mgmt_trust_find_name(const MgmtTrust *t, const char *name);

/*
 * Trust cert under name (checked as a VM name is: no path escapes), added
 * by whom.  Returns 0, or -1 (bad name, the fingerprint or the name is
 * already trusted, I/O).
 */
int mgmt_trust_add(MgmtTrust *t, const char *name, const MgmtCert *cert, const char *by,
                   Error *err);

/* Stop trusting fingerprint (file and memory).  Returns 0, or -1 (none, I/O). */
int mgmt_trust_remove(MgmtTrust *t, const char *fingerprint, Error *err);

/*
 * A new join token for name, valid from now for the TTL.  Returns it
 * (owned by the store), or NULL (bad name, MGMT_TOKENS_LIVE_MAX alive
 * already, no memory).
 */
const MgmtToken *mgmt_trust_token_new(MgmtTrust *t, const char *name, time_t now, Error *err);

/* The live tokens at now (expired ones are dropped first). */
size_t mgmt_trust_token_count(MgmtTrust *t, time_t now);
const MgmtToken *mgmt_trust_token_at(const MgmtTrust *t, size_t i);

/* Void the token with this id.  Returns 0, or -1 (none). */
int mgmt_trust_token_delete(MgmtTrust *t, const char *id, Error *err);

/*
 * Use the encoded token at now: if it names a live token, that token is
 * removed (it cannot be used again) and its name copied to name.  Returns
 * 0, or -1 (malformed, unknown, used or expired: one message for all).
 */
int mgmt_trust_token_redeem(MgmtTrust *t, const char *encoded, time_t now,
                            char name[MGMT_NAME_MAX + 1], Error *err);

/*
 * Decode an encoded token (client side): the server's fingerprint and
 * addresses, the name.  Returns the JSON object (a new reference), or NULL.
 */
json_t *mgmt_token_decode(const char *encoded, Error *err);

#endif
