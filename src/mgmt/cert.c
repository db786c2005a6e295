/*
 * TLS identities (cert.h) with GnuTLS, and the file and encoding helpers
 * trust and the client share.
 */
#include <errno.h>
#include <gnutls/abstract.h>
#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include "mgmt/cert.h"
#include "mgmt/fileio.h"

static int tls_error(Error *err, const char *what, int rc)
{
    return error_set(err, "%s: %s", what, gnutls_strerror(rc));
}

/* ---- encodings ---- */

static const char b64url[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

void mgmt_base64url(const unsigned char *in, size_t n, char *out)
{
    size_t o = 0;
    for (size_t i = 0; i < n; i += 3) {
        unsigned v = (unsigned)in[i] << 16;
        v |= i + 1 < n ? (unsigned)in[i + 1] << 8 : 0;
        v |= i + 2 < n ? in[i + 2] : 0;
        out[o++] = b64url[(v >> 18) & 63];
        out[o++] = b64url[(v >> 12) & 63];
        if (i + 1 < n)
            out[o++] = b64url[(v >> 6) & 63];
        if (i + 2 < n)
            out[o++] = b64url[v & 63];
    }
    out[o] = '\0';
}

static int b64url_value(char c)
{
    const char *p = c ? strchr(b64url, c) : NULL;
    return p ? (int)(p - b64url) : -1;
}

ssize_t mgmt_base64url_decode(const char *in, unsigned char **out)
{
    size_t n = strlen(in);
    while (n && in[n - 1] == '=')
        n--;
    if (n % 4 == 1)
        return -1;
    unsigned char *b = malloc(n * 3 / 4 + 1);
    if (!b)
        return -1;
    size_t o = 0;
    unsigned acc = 0, bits = 0;
    for (size_t i = 0; i < n; i++) {
        int v = b64url_value(in[i]);
        if (v < 0) {
            free(b);
            return -1;
        }
        acc = (acc << 6) | (unsigned)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            b[o++] = (unsigned char)(acc >> bits);
        }
    }
    *out = b;
    return (ssize_t)o;
}

static void base64_std(const unsigned char *in, size_t n, char *out)
{
    mgmt_base64url(in, n, out);
    size_t len = strlen(out);
    for (char *p = out; *p; p++)
        *p = *p == '-' ? '+' : *p == '_' ? '/' : *p;
    while (len % 4)
        out[len++] = '=';
    out[len] = '\0';
}

int mgmt_random(void *buf, size_t n, Error *err)
{
    size_t got = 0;
    while (got < n) {
        ssize_t r = getrandom((char *)buf + got, n - got, 0);
        if (r < 0 && errno != EINTR)
            return error_set_errno(err, errno, "getrandom");
        got += r > 0 ? (size_t)r : 0;
    }
    return 0;
}

/* ---- certificates ---- */

int mgmt_cert_parse(const void *data, size_t len, bool pem, MgmtCert *out, Error *err)
{
    memset(out, 0, sizeof(*out));
    gnutls_x509_crt_t crt;
    gnutls_datum_t in = {.data = (unsigned char *)data, .size = (unsigned)len}, p = {0};
    unsigned char fp[32];
    size_t fplen = sizeof(fp);
    if (len == 0 || len > MGMT_CERT_MAX || gnutls_x509_crt_init(&crt) < 0)
        return error_set(err, "not a certificate (empty or larger than %u bytes)", MGMT_CERT_MAX);
    int rc = gnutls_x509_crt_import(crt, &in, pem ? GNUTLS_X509_FMT_PEM : GNUTLS_X509_FMT_DER);
    if (rc >= 0)
        rc = gnutls_x509_crt_get_fingerprint(crt, GNUTLS_DIG_SHA256, fp, &fplen);
    if (rc >= 0)
        rc = gnutls_x509_crt_export2(crt, GNUTLS_X509_FMT_PEM, &p);
    if (rc >= 0) {
        for (size_t i = 0; i < fplen; i++)
            snprintf(out->fingerprint + 2 * i, 3, "%02x", fp[i]);
        out->not_before = gnutls_x509_crt_get_activation_time(crt);
        out->not_after = gnutls_x509_crt_get_expiration_time(crt);
        out->pem = strndup((const char *)p.data, p.size);
    }
    gnutls_free(p.data);
    gnutls_x509_crt_deinit(crt);
    if (rc < 0)
        return tls_error(err, "not an X.509 certificate", rc);
    return out->pem ? 0 : error_set(err, "out of memory");
}

void mgmt_cert_free(MgmtCert *c)
{
    free(c->pem);
    c->pem = NULL;
}

bool mgmt_cert_valid_at(const MgmtCert *c, time_t now)
{
    return c->not_before != (time_t)-1 && c->not_after != (time_t)-1 && c->not_before <= now &&
           now <= c->not_after;
}

int mgmt_cert_pubkey_pin(const MgmtCert *c, char *buf, size_t size, Error *err)
{
    gnutls_x509_crt_t crt = NULL;
    gnutls_pubkey_t pub = NULL;
    gnutls_datum_t in = {.data = (unsigned char *)c->pem, .size = (unsigned)strlen(c->pem)};
    gnutls_datum_t der = {0};
    unsigned char h[32];
    int rc = gnutls_x509_crt_init(&crt);
    if (rc >= 0)
        rc = gnutls_x509_crt_import(crt, &in, GNUTLS_X509_FMT_PEM);
    if (rc >= 0)
        rc = gnutls_pubkey_init(&pub);
    if (rc >= 0)
        rc = gnutls_pubkey_import_x509(pub, crt, 0);
    if (rc >= 0)
        rc = gnutls_pubkey_export2(pub, GNUTLS_X509_FMT_DER, &der);
    if (rc >= 0)
        rc = gnutls_hash_fast(GNUTLS_DIG_SHA256, der.data, der.size, h);
    gnutls_free(der.data);
    if (pub)
        gnutls_pubkey_deinit(pub);
    if (crt)
        gnutls_x509_crt_deinit(crt);
    if (rc < 0)
        return tls_error(err, "the certificate's public key", rc);
    char b64[64];
    base64_std(h, sizeof(h), b64);
    if (snprintf(buf, size, "sha256//%s", b64) >= (int)size)
        return error_set(err, "pin buffer too small");
    return 0;
}

/* Write a datum to path atomically with mode. */
static int write_datum(const char *path, const gnutls_datum_t *d, mode_t mode, Error *err)
{
    return mgmt_write_atomic(path, (const char *)d->data, d->size, mode, err);
}

/* Fill crt: version 3, random serial, CN, 10 years, for TLS servers and clients. */
static int crt_fill(gnutls_x509_crt_t crt, gnutls_x509_privkey_t key, const char *cn, Error *err)
{
    unsigned char serial[16];
    if (mgmt_random(serial, sizeof(serial), err) < 0)
        return -1;
    serial[0] &= 0x7f; /* positive */
    time_t now = time(NULL);
    int rc = gnutls_x509_crt_set_version(crt, 3);
    if (rc >= 0)
        rc = gnutls_x509_crt_set_serial(crt, serial, sizeof(serial));
    if (rc >= 0)
        rc = gnutls_x509_crt_set_dn_by_oid(crt, GNUTLS_OID_X520_COMMON_NAME, 0, cn,
                                           (unsigned)strlen(cn));
    if (rc >= 0)
        rc = gnutls_x509_crt_set_activation_time(crt, now - 60);
    if (rc >= 0)
        rc = gnutls_x509_crt_set_expiration_time(crt, now + (time_t)MGMT_CERT_DAYS * 86400);
    if (rc >= 0)
        rc = gnutls_x509_crt_set_key(crt, key);
    if (rc >= 0)
        rc = gnutls_x509_crt_set_basic_constraints(crt, 0, -1);
    if (rc >= 0)
        rc = gnutls_x509_crt_set_key_usage(crt, GNUTLS_KEY_DIGITAL_SIGNATURE);
    if (rc >= 0)
        rc = gnutls_x509_crt_set_key_purpose_oid(crt, GNUTLS_KP_TLS_WWW_SERVER, 0);
    if (rc >= 0)
        rc = gnutls_x509_crt_set_key_purpose_oid(crt, GNUTLS_KP_TLS_WWW_CLIENT, 0);
    if (rc >= 0)
        rc = gnutls_x509_crt_sign2(crt, crt, key, GNUTLS_DIG_SHA256, 0);
    return rc < 0 ? tls_error(err, "making a certificate", rc) : 0;
}

/* Make a fresh key and self-signed certificate into key_path and crt_path. */
static int cert_make(const char *key_path, const char *crt_path, const char *cn, Error *err)
{
    gnutls_x509_privkey_t key = NULL;
    gnutls_x509_crt_t crt = NULL;
    gnutls_datum_t kd = {0}, cd = {0};
    int r = -1;
    int rc = gnutls_x509_privkey_init(&key);
    if (rc >= 0)
        rc = gnutls_x509_privkey_generate(key, GNUTLS_PK_ECDSA,
                                          GNUTLS_CURVE_TO_BITS(GNUTLS_ECC_CURVE_SECP256R1), 0);
    if (rc >= 0)
        rc = gnutls_x509_crt_init(&crt);
    if (rc < 0) {
        tls_error(err, "making a key", rc);
        goto out;
    }
    if (crt_fill(crt, key, cn, err) < 0)
        goto out;
    rc = gnutls_x509_privkey_export2_pkcs8(key, GNUTLS_X509_FMT_PEM, NULL, GNUTLS_PKCS_PLAIN, &kd);
    if (rc >= 0)
        rc = gnutls_x509_crt_export2(crt, GNUTLS_X509_FMT_PEM, &cd);
    if (rc < 0)
        tls_error(err, "exporting a key", rc);
    else if (write_datum(key_path, &kd, 0600, err) == 0 &&
             write_datum(crt_path, &cd, 0644, err) == 0)
        r = 0;
out:
    if (kd.data)
        gnutls_memset(kd.data, 0, kd.size);
    gnutls_free(kd.data);
    gnutls_free(cd.data);
    if (crt)
        gnutls_x509_crt_deinit(crt);
    if (key)
        gnutls_x509_privkey_deinit(key);
    return r;
}

int mgmt_cert_ensure(const char *key_path, const char *crt_path, const char *cn, bool *made,
                     Error *err)
{
    *made = false;
    if (access(key_path, F_OK) == 0 && access(crt_path, F_OK) == 0)
        return 0;
    if (cert_make(key_path, crt_path, cn, err) < 0)
        return -1;
    *made = true;
    return 0;
}
