/*
 * The trust store and join tokens (src/mgmt/trust.c) and the certificate
 * helpers under them (src/mgmt/cert.c): a made key and certificate, its
 * fingerprint and validity, base64url both ways, trust entries written,
 * reloaded and removed (names that would escape refused, broken documents
 * skipped and kept), and tokens used once, refused after their expiry,
 * revoked, and never matched by a guess.  Time is passed in, so expiry is
 * tested without sleeping.
 */
#include <jansson.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "mgmt/fileio.h"
#include "mgmt/trust.h"
#include "tap.h"

static char root[256];

/* A fresh certificate under root (NAME.key, NAME.crt), parsed into c. */
static bool make_cert(const char *name, MgmtCert *c)
{
    char key[PATH_MAX], crt[PATH_MAX], *pem = NULL;
    size_t len;
    bool made;
    Error err = {0};
    snprintf(key, sizeof(key), "%s/%s.key", root, name);
    snprintf(crt, sizeof(crt), "%s/%s.crt", root, name);
    if (mgmt_cert_ensure(key, crt, name, &made, &err) < 0 ||
        mgmt_read_file(crt, MGMT_CERT_MAX, &pem, &len, &err) < 0 ||
        mgmt_cert_parse(pem, len, true, c, &err) < 0) {
        printf("# %s\n", err.msg);
        free(pem);
        return false;
    }
    free(pem);
    return made;
}

static void test_base64url(void)
{
    static const char *const in[] = {"", "f", "fo", "foo", "foob", "fooba", "foobar", "\xff\xfe"};
    static const char *const want[] = {"",       "Zg",      "Zm8",      "Zm9v",
                                       "Zm9vYg", "Zm9vYmE", "Zm9vYmFy", "__4"};
    for (size_t i = 0; i < sizeof(in) / sizeof(in[0]); i++) {
        char out[32];
        unsigned char *back = NULL;
        mgmt_base64url((const unsigned char *)in[i], strlen(in[i]), out);
        ssize_t n = mgmt_base64url_decode(out, &back);
        ok(strcmp(out, want[i]) == 0 && n == (ssize_t)strlen(in[i]) &&
               memcmp(back, in[i], (size_t)n) == 0,
           "base64url '%s' -> '%s' and back", want[i], out);
        free(back);
    }
    unsigned char *b = NULL;
    ok(mgmt_base64url_decode("a+b/", &b) < 0 && mgmt_base64url_decode("abcde", &b) < 0,
       "base64url refuses '+', '/' and an impossible length");
}

static void test_cert(void)
{
    MgmtCert c, again;
    time_t now = time(NULL);
    ok(make_cert("a", &c), "a key and certificate are made");
    char key[PATH_MAX];
    struct stat st;
    snprintf(key, sizeof(key), "%s/a.key", root);
    ok(stat(key, &st) == 0 && (st.st_mode & 0777) == 0600, "the key is mode 0600");
    ok(strlen(c.fingerprint) == MGMT_FP_LEN && strspn(c.fingerprint, "0123456789abcdef") == 64,
       "the fingerprint is 64 lower-case hex digits");
    ok(mgmt_cert_valid_at(&c, now) && !mgmt_cert_valid_at(&c, now - 3600) &&
           mgmt_cert_valid_at(&c, now + 9L * 365 * 86400) &&
           !mgmt_cert_valid_at(&c, now + 11L * 365 * 86400),
       "valid from now for ten years, not before, not after");
    ok(!make_cert("a", &again) && strcmp(again.fingerprint, c.fingerprint) == 0,
       "an existing key and certificate are kept");
    char pin[96];
    ok(mgmt_cert_pubkey_pin(&c, pin, sizeof(pin), NULL) == 0 && strncmp(pin, "sha256//", 8) == 0 &&
           strlen(pin) == 8 + 44,
       "the public key pin is sha256// and 44 base64 characters");
    MgmtCert bad;
    ok(mgmt_cert_parse("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n", 60, true,
                       &bad, NULL) < 0 &&
           mgmt_cert_parse("", 0, true, &bad, NULL) < 0,
       "not a certificate: refused");
    mgmt_cert_free(&c);
    mgmt_cert_free(&again);
}

static MgmtTrust *open_trust(void)
{
    MgmtTrust *t = NULL;
    Error err = {0};
    if (mgmt_trust_open(&t, root, &err) < 0)
        printf("# %s\n", err.msg);
    return t;
}

static void test_entries(void)
{
    MgmtTrust *t = open_trust();
    MgmtCert c1, c2;
    make_cert("c1", &c1);
    make_cert("c2", &c2);
    ok(t && mgmt_trust_count(t) == 0, "an empty trust store");
    if (!t)
        return;
    static const char *const bad[] = {"../x", "..", "a/b", "", ".h", "-x", "a b"};
    bool refused = true;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        refused &= mgmt_trust_add(t, bad[i], &c1, "test", NULL) < 0;
    ok(refused && mgmt_trust_count(t) == 0, "names that are not one path component are refused");
    ok(mgmt_trust_add(t, "one", &c1, "uid 0", NULL) == 0, "a certificate is trusted");
    ok(mgmt_trust_add(t, "two", &c1, "uid 0", NULL) < 0, "the same certificate again is refused");
    ok(mgmt_trust_add(t, "one", &c2, "uid 0", NULL) < 0, "the same name again is refused");
    ok(mgmt_trust_add(t, "two", &c2, "uid 0", NULL) == 0, "a second certificate");
    mgmt_trust_close(t);
    /* a broken document and a stray temporary file, then reopen */
    char p[PATH_MAX];
    snprintf(p, sizeof(p), "%s/trust/%064d.json", root, 0);
    ok(mgmt_write_atomic(p, "{\"version\": 1", 13, 0600, NULL) == 0, "a broken document");
    snprintf(p, sizeof(p), "%s/trust/.x.json.tmp-123456", root);
    ok(mgmt_write_atomic(p, "half", 4, 0600, NULL) == 0, "a stray temporary file");
    t = open_trust();
    const MgmtTrustEntry *e = t ? mgmt_trust_find(t, c1.fingerprint) : NULL;
    ok(t && mgmt_trust_count(t) == 2 && e && strcmp(e->name, "one") == 0 &&
           strcmp(e->by, "uid 0") == 0 && mgmt_trust_find_name(t, "two"),
       "reopened: both entries, the broken document skipped");
    ok(access(p, F_OK) < 0, "the stray temporary file is removed");
    snprintf(p, sizeof(p), "%s/trust/%064d.json", root, 0);
    ok(access(p, F_OK) == 0, "the broken document is kept on disk");
    ok(t && mgmt_trust_remove(t, c1.fingerprint, NULL) == 0 && !mgmt_trust_find(t, c1.fingerprint),
       "an entry is removed");
    ok(t && mgmt_trust_remove(t, c1.fingerprint, NULL) < 0 &&
           mgmt_trust_remove(t, "../../etc/passwd", NULL) < 0,
       "removing it again, or a non-fingerprint, fails");
    mgmt_trust_close(t);
    t = open_trust();
    ok(t && mgmt_trust_count(t) == 1, "the removal is on disk");
    mgmt_trust_close(t);
    mgmt_cert_free(&c1);
    mgmt_cert_free(&c2);
}

static void test_tokens(void)
{
    MgmtTrust *t = open_trust();
    if (!t)
        return;
    time_t now = 1000000;
    char name[MGMT_NAME_MAX + 1];
    mgmt_trust_set_token_ttl(t, 60);
    ok(mgmt_trust_set_server(t, "ab", json_pack("[s]", "127.0.0.1:8443"), NULL) == 0,
       "the server's identity is set");
    ok(!mgmt_trust_token_new(t, "../x", now, NULL), "a token for a bad name is refused");
    const MgmtToken *k = mgmt_trust_token_new(t, "laptop", now, NULL);
    ok(k && strlen(k->id) == 16, "a token is made");
    if (!k)
        return;
    char *encoded = strdup(k->encoded), id[17];
    snprintf(id, sizeof(id), "%s", k->id);
    json_t *j = mgmt_token_decode(encoded, NULL);
    ok(j && strcmp(json_string_value(json_object_get(j, "fingerprint")), "ab") == 0 &&
           strcmp(json_string_value(json_object_get(j, "name")), "laptop") == 0 &&
           json_array_size(json_object_get(j, "addresses")) == 1,
       "the token embeds the server's fingerprint, its addresses and the name");
    unsigned char *secret = NULL;
    ok(mgmt_base64url_decode(json_string_value(json_object_get(j, "secret")), &secret) == 32,
       "its secret is 32 bytes");
    free(secret);
    /* a guess: the same blob with another secret */
    json_object_set_new(j, "secret", json_string("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"));
    char *text = json_dumps(j, JSON_COMPACT), guess[1024];
    mgmt_base64url((const unsigned char *)text, strlen(text), guess);
    free(text);
    json_decref(j);
    ok(mgmt_trust_token_redeem(t, guess, now, name, NULL) < 0, "a guessed secret is refused");
    ok(mgmt_trust_token_redeem(t, "garbage!", now, name, NULL) < 0, "garbage is refused");
    ok(mgmt_trust_token_count(t, now) == 1, "and neither spent the token");
    ok(mgmt_trust_token_redeem(t, encoded, now + 60, name, NULL) == 0 &&
           strcmp(name, "laptop") == 0,
       "the token works until its last second, and names the client");
    ok(mgmt_trust_token_redeem(t, encoded, now + 60, name, NULL) < 0, "but only once");
    k = mgmt_trust_token_new(t, "late", now, NULL);
    free(encoded);
    encoded = k ? strdup(k->encoded) : NULL;
    ok(encoded && mgmt_trust_token_redeem(t, encoded, now + 61, name, NULL) < 0,
       "a token past its TTL is refused");
    ok(mgmt_trust_token_count(t, now + 61) == 0, "and is dropped");
    free(encoded);
    k = mgmt_trust_token_new(t, "revoked", now, NULL);
    snprintf(id, sizeof(id), "%s", k ? k->id : "");
    encoded = k ? strdup(k->encoded) : NULL;
    ok(mgmt_trust_token_delete(t, id, NULL) == 0 && mgmt_trust_token_delete(t, id, NULL) < 0,
       "a token is revoked once");
    ok(encoded && mgmt_trust_token_redeem(t, encoded, now, name, NULL) < 0,
       "a revoked token is refused");
    free(encoded);
    bool made = true;
    for (int i = 0; i < MGMT_TOKENS_LIVE_MAX; i++)
        made &= mgmt_trust_token_new(t, "many", now, NULL) != NULL;
    ok(made && !mgmt_trust_token_new(t, "many", now, NULL),
       "at most MGMT_TOKENS_LIVE_MAX tokens live at once");
    ok(mgmt_trust_token_new(t, "many", now + 61, NULL) != NULL, "expired ones make room");
    mgmt_trust_close(t);
}

int main(void)
{
    snprintf(root, sizeof(root), "/tmp/hostel-trust-XXXXXX");
    if (!mkdtemp(root)) {
        perror("mkdtemp");
        return 1;
    }
    test_base64url();
    test_cert();
    test_entries();
    test_tokens();
    char cmd[sizeof(root) + 16];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", root);
    if (system(cmd) != 0)
        printf("# could not remove %s\n", root);
    return tap_done();
}
