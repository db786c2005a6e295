/*
 * TLS identities for hosteld and its remote clients (docs/mgmt.md,
 * "Trust"), with GnuTLS: make a self-signed key and certificate (ECDSA
 * P-256, 10 years), read a certificate (PEM or DER) into what trust needs
 * (its SHA-256 fingerprint, validity dates, PEM text), and the pin of its
 * public key as libcurl takes it.  Also the encoding helpers the trust
 * store and the client share (base64url, random bytes).
 */
#ifndef HOSTEL_MGMT_CERT_H
#define HOSTEL_MGMT_CERT_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>
#include <time.h>

#include "util/error.h"

#define MGMT_FP_LEN 64            /* hex digits of a SHA-256 fingerprint */
#define MGMT_CERT_MAX (64u << 10) /* a certificate file larger than this is refused */
#define MGMT_CERT_DAYS (10 * 365) /* validity of the certificates we make */

/* A certificate as trust sees it. */
typedef struct MgmtCert {
    char fingerprint[MGMT_FP_LEN + 1]; /* SHA-256 of the DER, lower-case hex */
    char *pem;                         /* the certificate as PEM (malloc'd) */
    time_t not_before, not_after;      /* its validity, seconds since the epoch */
} MgmtCert;

/*
 * Parse one X.509 certificate from len bytes of data (PEM when pem, else
 * DER) into *out (free with mgmt_cert_free).  Returns 0, or -1 (not a
 * certificate, no memory).
 */
int mgmt_cert_parse(const void *data, size_t len, bool pem, MgmtCert *out, Error *err);
void mgmt_cert_free(MgmtCert *c);

/* c is valid at now (not_before <= now <= not_after). */
bool mgmt_cert_valid_at(const MgmtCert *c, time_t now);

/*
 * The key and certificate at key_path and crt_path: kept when both exist,
 * else made (a fresh ECDSA P-256 key, mode 0600; a self-signed certificate
 * for cn valid MGMT_CERT_DAYS, mode 0644, both written atomically).
 * *made tells which.  Returns 0, or -1 (I/O, GnuTLS).
 */
int mgmt_cert_ensure(const char *key_path, const char *crt_path, const char *cn, bool *made,
                     Error *err);

/*
 * libcurl's pin of c's public key into buf: "sha256//" and the base64 of
 * the SHA-256 of its SubjectPublicKeyInfo.  Returns 0, or -1.
 */
int mgmt_cert_pubkey_pin(const MgmtCert *c, char *buf, size_t size, Error *err);

/* n random bytes (getrandom).  Returns 0, or -1. */
int mgmt_random(void *buf, size_t n, Error *err);

/* base64url without padding of n bytes into out (size >= 4 * n / 3 + 2). */
void mgmt_base64url(const unsigned char *in, size_t n, char *out);

/*
 * Decode base64url (padding optional) into a malloc'd buffer.  Returns its
 * length, or -1 (not base64url, no memory).
 */
ssize_t mgmt_base64url_decode(const char *in, unsigned char **out);

#endif
