/*
 * TLS for migration streams with GnuTLS (migrate_tls.h).
 */
#include "vmm/migrate_tls.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <gnutls/gnutls.h>
#include <gnutls/x509.h>

struct MigrateTls {
    gnutls_certificate_credentials_t creds;
    gnutls_session_t session;
    int fd;
    bool up; /* the handshake completed: a close sends close_notify */
};

static int tls_error(Error *err, const char *what, int rc)
{
    return error_set(err, "migration TLS: %s: %s", what, gnutls_strerror(rc));
}

/* dir/name, which must exist and be readable. */
static int cred_path(const char *dir, const char *name, char *out, size_t size, Error *err)
{
    if ((size_t)snprintf(out, size, "%s/%s", dir, name) >= size)
        return error_set(err, "migration TLS: %s: path too long", dir);
    FILE *f = fopen(out, "re");
    if (!f)
        return error_set_errno(err, errno, "migration TLS: %s", out);
    fclose(f);
    return 0;
}

static int load_creds(MigrateTls *t, const char *dir, bool server, Error *err)
{
    char ca[4096], cert[4096], key[4096];
    const char *who = server ? "server" : "client";
    char cname[32], kname[32];
    snprintf(cname, sizeof(cname), "%s-cert.pem", who);
    snprintf(kname, sizeof(kname), "%s-key.pem", who);
    if (cred_path(dir, "ca-cert.pem", ca, sizeof(ca), err) < 0 ||
        cred_path(dir, cname, cert, sizeof(cert), err) < 0 ||
        cred_path(dir, kname, key, sizeof(key), err) < 0)
        return -1;
    int rc = gnutls_certificate_allocate_credentials(&t->creds);
    if (rc < 0)
        return tls_error(err, "credentials", rc);
    rc = gnutls_certificate_set_x509_trust_file(t->creds, ca, GNUTLS_X509_FMT_PEM);
    if (rc <= 0)
        return rc < 0 ? tls_error(err, ca, rc)
                      : error_set(err, "migration TLS: %s: no certificate in it", ca);
    rc = gnutls_certificate_set_x509_key_file(t->creds, cert, key, GNUTLS_X509_FMT_PEM);
    return rc < 0 ? tls_error(err, cert, rc) : 0;
}

static int start_session(MigrateTls *t, bool server, const char *hostname, Error *err)
{
    int rc = gnutls_init(&t->session, (server ? GNUTLS_SERVER : GNUTLS_CLIENT) | GNUTLS_NO_SIGNAL);
    if (rc < 0) {
        t->session = NULL;
        return tls_error(err, "session", rc);
    }
    if ((rc = gnutls_set_default_priority(t->session)) < 0 ||
        (rc = gnutls_credentials_set(t->session, GNUTLS_CRD_CERTIFICATE, t->creds)) < 0 ||
        (!server && hostname &&
         (rc = gnutls_server_name_set(t->session, GNUTLS_NAME_DNS, hostname, strlen(hostname))) <
             0))
        return tls_error(err, "session", rc);
    if (server)
        gnutls_certificate_server_set_request(t->session, GNUTLS_CERT_REQUIRE);
    gnutls_session_set_verify_cert(t->session, server ? NULL : hostname, 0);
    gnutls_transport_set_int(t->session, t->fd);
    gnutls_handshake_set_timeout(t->session, MIGRATE_TLS_HANDSHAKE_MS);
    do {
        rc = gnutls_handshake(t->session);
    } while (rc < 0 && !gnutls_error_is_fatal(rc));
    if (rc == GNUTLS_E_CERTIFICATE_VERIFICATION_ERROR) {
        unsigned status = gnutls_session_get_verify_cert_status(t->session);
        gnutls_datum_t why = {0};
        gnutls_certificate_verification_status_print(status, GNUTLS_CRT_X509, &why, 0);
        error_set(err, "migration TLS: the %s's certificate is refused: %s",
                  server ? "source" : "destination", why.data ? (char *)why.data : "?");
        gnutls_free(why.data);
        return -1;
    }
    if (rc == GNUTLS_E_CERTIFICATE_REQUIRED || rc == GNUTLS_E_NO_CERTIFICATE_FOUND)
        return error_set(err, "migration TLS: the source's certificate is refused: it showed none "
                              "signed by this side's ca-cert.pem");
    if (rc == GNUTLS_E_FATAL_ALERT_RECEIVED)
        return error_set(err, "migration TLS: the %s refused the handshake: %s",
                         server ? "source" : "destination",
                         gnutls_alert_get_name(gnutls_alert_get(t->session)));
    if (rc == GNUTLS_E_PULL_ERROR || rc == GNUTLS_E_PUSH_ERROR ||
        rc == GNUTLS_E_PREMATURE_TERMINATION)
        return error_set(err,
                         "migration TLS: the %s closed the connection during the handshake "
                         "(it may have refused this side's certificate; its log says why)",
                         server ? "source" : "destination");
    if (rc < 0)
        return tls_error(err, "handshake", rc);
    t->up = true;
    return 0;
}

MigrateTls *migrate_tls_open(const char *dir, bool server, const char *hostname, int fd, Error *err)
{
    if (!server && (!hostname || !*hostname)) {
        error_set(err, "migration TLS: the destination's name is needed to check its certificate "
                       "(tls-hostname)");
        return NULL;
    }
    MigrateTls *t = calloc(1, sizeof(*t));
    if (!t) {
        error_set(err, "out of memory");
        return NULL;
    }
    t->fd = fd;
    if (load_creds(t, dir, server, err) < 0 || start_session(t, server, hostname, err) < 0) {
        migrate_tls_close(t);
        return NULL;
    }
    return t;
}

int migrate_tls_write(MigrateTls *t, const void *buf, size_t len)
{
    size_t done = 0;
    while (done < len) {
        ssize_t n = gnutls_record_send(t->session, (const char *)buf + done, len - done);
        if (n == GNUTLS_E_AGAIN || n == GNUTLS_E_INTERRUPTED)
            continue;
        if (n <= 0) {
            errno = EPIPE;
            return -1;
        }
        done += (size_t)n;
    }
    return 0;
}

ssize_t migrate_tls_read(MigrateTls *t, void *buf, size_t len, int timeout_ms)
{
    for (;;) {
        if (timeout_ms >= 0 && !gnutls_record_check_pending(t->session)) {
            struct pollfd p = {.fd = t->fd, .events = POLLIN};
            int r = poll(&p, 1, timeout_ms);
            if (r == 0) {
                errno = ETIMEDOUT;
                return -1;
            }
            if (r < 0 && errno != EINTR)
                return -1;
        }
        ssize_t n = gnutls_record_recv(t->session, buf, len);
        if (n == GNUTLS_E_AGAIN || n == GNUTLS_E_INTERRUPTED)
            continue;
        if (n == GNUTLS_E_PREMATURE_TERMINATION)
            return 0; /* the peer closed without close_notify: the stream's end */
        if (n < 0) {
            errno = EPROTO;
            return -1;
        }
        return n;
    }
}

/* ---- a channel over the session ---- */

static ssize_t chan_read(StreamChannel *c, void *buf, size_t len)
{
    size_t done = 0;
    while (done < len) {
        ssize_t n = migrate_tls_read(c->priv, (char *)buf + done, len - done, -1);
        if (n < 0)
            return -1;
        if (n == 0)
            break;
        done += (size_t)n;
    }
    return (ssize_t)done;
}

static int chan_write(StreamChannel *c, const void *buf, size_t len)
{
    return migrate_tls_write(c->priv, buf, len);
}

static void chan_close(StreamChannel *c)
{
    (void)c; /* the session and its socket belong to whoever opened them */
}

static const StreamChannelOps tls_ops = {
    .read = chan_read, .write = chan_write, .close = chan_close};

void migrate_tls_channel(MigrateTls *t, StreamChannel *c)
{
    *c = (StreamChannel){.ops = &tls_ops, .fd = t->fd, .priv = t};
}

void migrate_tls_close(MigrateTls *t)
{
    if (!t)
        return;
    if (t->session) {
        if (t->up)
            gnutls_bye(t->session, GNUTLS_SHUT_WR);
        gnutls_deinit(t->session);
    }
    if (t->creds)
        gnutls_certificate_free_credentials(t->creds);
    free(t);
}
