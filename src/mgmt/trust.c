/*
 * The trust store and join tokens (trust.h).
 */
#include <dirent.h>
#include <fcntl.h>
#include <errno.h>
#include <jansson.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "mgmt/fileio.h"
#include "mgmt/trust.h"
#include "util/io.h"
#include "util/log.h"

struct MgmtTrust {
    char *dir; /* STATE/trust */
    MgmtTrustEntry *entries;
    size_t n;
    MgmtToken *tokens;
    size_t ntokens;
    unsigned ttl_s;
    char server_fp[MGMT_FP_LEN + 1];
    json_t *addresses;
};

static void utc_now(char *buf, size_t size)
{
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(buf, size, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static bool is_fingerprint(const char *s)
{
    if (strlen(s) != MGMT_FP_LEN)
        return false;
    for (; *s; s++)
        if (!((*s >= '0' && *s <= '9') || (*s >= 'a' && *s <= 'f')))
            return false;
    return true;
}

static void entry_free(MgmtTrustEntry *e)
{
    free(e->certificate);
    e->certificate = NULL;
}

/* ---- documents ---- */

static json_t *entry_doc(const MgmtTrustEntry *e)
{
    return json_pack("{s:i, s:s, s:s, s:s, s:s, s:s}", "version", 1, "name", e->name, "fingerprint",
                     e->fingerprint, "certificate", e->certificate, "added", e->added, "by", e->by);
}

/* A document's members into e; the certificate re-parsed (its fingerprint must match). */
static int entry_from_doc(const json_t *doc, const char *file, MgmtTrustEntry *e, Error *err)
{
    const char *name = NULL, *fp = NULL, *pem = NULL, *added = "", *by = "";
    int version = 0;
    if (json_unpack((json_t *)doc, "{s:i, s:s, s:s, s:s, s?s, s?s}", "version", &version, "name",
                    &name, "fingerprint", &fp, "certificate", &pem, "added", &added, "by", &by) < 0)
        return error_set(err, "not a trust document");
    if (!mgmt_name_check(name, err))
        return -1;
    MgmtCert c;
    if (mgmt_cert_parse(pem, strlen(pem), true, &c, err) < 0)
        return -1;
    bool ok = strcmp(c.fingerprint, fp) == 0 && strncmp(file, fp, MGMT_FP_LEN) == 0 &&
              strcmp(file + MGMT_FP_LEN, ".json") == 0;
    memset(e, 0, sizeof(*e));
    snprintf(e->name, sizeof(e->name), "%s", name);
    snprintf(e->fingerprint, sizeof(e->fingerprint), "%s", c.fingerprint);
    snprintf(e->added, sizeof(e->added), "%s", added);
    snprintf(e->by, sizeof(e->by), "%s", by);
    e->not_before = c.not_before;
    e->not_after = c.not_after;
    e->certificate = c.pem;
    if (!ok) {
        entry_free(e);
        return error_set(err, "the fingerprint is not the certificate's or the file's");
    }
    return 0;
}

static int entries_push(MgmtTrust *t, const MgmtTrustEntry *e, Error *err)
{
    MgmtTrustEntry *v = realloc(t->entries, (t->n + 1) * sizeof(*v));
    if (!v)
        return error_set(err, "out of memory");
    t->entries = v;
    v[t->n++] = *e;
    return 0;
}

/* One file of DIR/trust: a temp file is removed, a document loaded or logged and skipped. */
static int load_entry(MgmtTrust *t, const char *file, Error *err)
{
    char path[PATH_MAX];
    snprintf(path, sizeof(path), "%s/%s", t->dir, file);
    if (file[0] == '.') {
        if (strstr(file, ".tmp-"))
            unlink(path);
        return 0;
    }
    json_error_t je;
    json_t *doc = json_load_file(path, JSON_REJECT_DUPLICATES, &je);
    MgmtTrustEntry e;
    Error why = {0};
    if (!doc)
        error_set(&why, "line %d: %s", je.line, je.text);
    else if (entry_from_doc(doc, file, &e, &why) == 0) {
        json_decref(doc);
        if (entries_push(t, &e, err) < 0) {
            entry_free(&e);
            return -1;
        }
        return 0;
    }
    json_decref(doc);
    log_warn("%s is broken and skipped (kept on disk): %s", path, why.msg);
    return 0;
}

static int load_all(MgmtTrust *t, Error *err)
{
    DIR *d = opendir(t->dir);
    if (!d)
        return error_set_errno(err, errno, "cannot read %.200s", t->dir);
    struct dirent *de;
    int r = 0;
    while (r == 0 && (de = readdir(d)) != NULL) {
        struct stat st;
        if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISREG(st.st_mode))
            r = load_entry(t, de->d_name, err);
    }
    closedir(d);
    return r;
}

int mgmt_trust_open(MgmtTrust **out, const char *state_dir, Error *err)
{
    MgmtTrust *t = calloc(1, sizeof(*t));
    if (!t || asprintf(&t->dir, "%s/trust", state_dir) < 0 || !(t->addresses = json_array())) {
        if (t)
            t->dir = NULL;
        mgmt_trust_close(t);
        return error_set(err, "out of memory");
    }
    t->ttl_s = MGMT_TOKEN_TTL_DEFAULT;
    if (mkdir(t->dir, 0700) < 0 && errno != EEXIST) {
        error_set_errno(err, errno, "cannot create %.200s", t->dir);
        mgmt_trust_close(t);
        return -1;
    }
    if (load_all(t, err) < 0) {
        mgmt_trust_close(t);
        return -1;
    }
    *out = t;
    return 0;
}

static void token_free(MgmtToken *k)
{
    free(k->encoded);
    k->encoded = NULL;
}

void mgmt_trust_close(MgmtTrust *t)
{
    if (!t)
        return;
    for (size_t i = 0; i < t->n; i++)
        entry_free(&t->entries[i]);
    for (size_t i = 0; i < t->ntokens; i++)
        token_free(&t->tokens[i]);
    free(t->entries);
    free(t->tokens);
    json_decref(t->addresses);
    free(t->dir);
    free(t);
}

int mgmt_trust_set_server(MgmtTrust *t, const char *fingerprint, json_t *addresses, Error *err)
{
    if (!addresses)
        return error_set(err, "out of memory");
    json_decref(t->addresses);
    t->addresses = addresses;
    snprintf(t->server_fp, sizeof(t->server_fp), "%s", fingerprint ? fingerprint : "");
    return 0;
}

const char *mgmt_trust_server_fingerprint(const MgmtTrust *t)
{
    return t->server_fp;
}

json_t *mgmt_trust_server_addresses(const MgmtTrust *t)
{
    return t->addresses;
}

void mgmt_trust_set_token_ttl(MgmtTrust *t, unsigned seconds)
{
    t->ttl_s = seconds ? seconds : 1;
}

/* ---- entries ---- */

size_t mgmt_trust_count(const MgmtTrust *t)
{
    return t->n;
}

const MgmtTrustEntry *mgmt_trust_at(const MgmtTrust *t, size_t i)
{
    return i < t->n ? &t->entries[i] : NULL;
}

const MgmtTrustEntry *mgmt_trust_find(const MgmtTrust *t, const char *fingerprint)
{
    for (size_t i = 0; i < t->n; i++)
        if (strcmp(t->entries[i].fingerprint, fingerprint) == 0)
            return &t->entries[i];
    return NULL;
}

const MgmtTrustEntry *mgmt_trust_find_name(const MgmtTrust *t, const char *name)
{
    for (size_t i = 0; i < t->n; i++)
        if (strcmp(t->entries[i].name, name) == 0)
            return &t->entries[i];
    return NULL;
}

static int entry_path(const MgmtTrust *t, const char *fp, char *buf, size_t size, Error *err)
{
    if (!is_fingerprint(fp))
        return error_set(err, "'%.80s' is not a SHA-256 fingerprint (64 hex digits)", fp);
    if (snprintf(buf, size, "%s/%s.json", t->dir, fp) >= (int)size)
        return error_set(err, "%.200s: path too long", t->dir);
    return 0;
}

/* Write e's document. */
static int entry_write(const MgmtTrust *t, const MgmtTrustEntry *e, Error *err)
{
    char path[PATH_MAX];
    if (entry_path(t, e->fingerprint, path, sizeof(path), err) < 0)
        return -1;
    json_t *doc = entry_doc(e);
    char *text = doc ? json_dumps(doc, JSON_INDENT(2) | JSON_SORT_KEYS) : NULL;
    json_decref(doc);
    if (!text)
        return error_set(err, "out of memory");
    int r = mgmt_write_atomic(path, text, strlen(text), 0600, err);
    free(text);
    return r;
}

int mgmt_trust_add(MgmtTrust *t, const char *name, const MgmtCert *cert, const char *by, Error *err)
{
    if (!mgmt_name_check(name, err))
        return -1;
    if (mgmt_trust_find(t, cert->fingerprint))
        return error_set(err, "certificate %s is already trusted", cert->fingerprint);
    if (mgmt_trust_find_name(t, name))
        return error_set(err, "a certificate named '%s' is already trusted", name);
    MgmtTrustEntry e = {.not_before = cert->not_before, .not_after = cert->not_after};
    snprintf(e.name, sizeof(e.name), "%s", name);
    snprintf(e.fingerprint, sizeof(e.fingerprint), "%s", cert->fingerprint);
    snprintf(e.by, sizeof(e.by), "%s", by);
    utc_now(e.added, sizeof(e.added));
    if (!(e.certificate = strdup(cert->pem)))
        return error_set(err, "out of memory");
    if (entry_write(t, &e, err) < 0 || entries_push(t, &e, err) < 0) {
        entry_free(&e);
        return -1;
    }
    return 0;
}

int mgmt_trust_remove(MgmtTrust *t, const char *fingerprint, Error *err)
{
    char path[PATH_MAX];
    const MgmtTrustEntry *e = mgmt_trust_find(t, fingerprint);
    if (!e)
        return error_set(err, "no trusted certificate %.80s", fingerprint);
    if (entry_path(t, fingerprint, path, sizeof(path), err) < 0)
        return -1;
    if (unlink(path) < 0 && errno != ENOENT)
        return error_set_errno(err, errno, "cannot remove %.200s", path);
    io_sync_dir_of(path);
    size_t i = (size_t)(e - t->entries);
    entry_free(&t->entries[i]);
    memmove(&t->entries[i], &t->entries[i + 1], (t->n - i - 1) * sizeof(*t->entries));
    t->n--;
    return 0;
}

/* ---- tokens ---- */

static void token_drop(MgmtTrust *t, size_t i)
{
    token_free(&t->tokens[i]);
    memmove(&t->tokens[i], &t->tokens[i + 1], (t->ntokens - i - 1) * sizeof(*t->tokens));
    t->ntokens--;
}

static void tokens_prune(MgmtTrust *t, time_t now)
{
    for (size_t i = t->ntokens; i-- > 0;)
        if (now > t->tokens[i].expires)
            token_drop(t, i);
}

/* What the client is given: base64url of {"name", "fingerprint", "addresses", "secret", "expires_at"}. */
static char *token_encode(const MgmtTrust *t, const MgmtToken *k)
{
    char when[32];
    struct tm tm;
    gmtime_r(&k->expires, &tm);
    strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
    json_t *j = json_pack("{s:s, s:s, s:O, s:s, s:s}", "name", k->name, "fingerprint", t->server_fp,
                          "addresses", t->addresses, "secret", k->secret, "expires_at", when);
    char *text = j ? json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
    json_decref(j);
    char *out = text ? malloc(strlen(text) * 4 / 3 + 4) : NULL;
    if (out)
        mgmt_base64url((const unsigned char *)text, strlen(text), out);
    free(text);
    return out;
}

static int token_fill(MgmtTrust *t, MgmtToken *k, const char *name, time_t now, Error *err)
{
    unsigned char secret[MGMT_TOKEN_SECRET_BYTES], id[8];
    if (mgmt_random(secret, sizeof(secret), err) < 0 || mgmt_random(id, sizeof(id), err) < 0)
        return -1;
    memset(k, 0, sizeof(*k));
    for (size_t i = 0; i < sizeof(id); i++)
        snprintf(k->id + 2 * i, 3, "%02x", id[i]);
    snprintf(k->name, sizeof(k->name), "%s", name);
    mgmt_base64url(secret, sizeof(secret), k->secret);
    k->expires = now + (time_t)t->ttl_s;
    if (!(k->encoded = token_encode(t, k)))
        return error_set(err, "out of memory");
    return 0;
}

const MgmtToken *mgmt_trust_token_new(MgmtTrust *t, const char *name, time_t now, Error *err)
{
    if (!mgmt_name_check(name, err))
        return NULL;
    tokens_prune(t, now);
    if (t->ntokens >= MGMT_TOKENS_LIVE_MAX) {
        error_set(err, "%d join tokens are alive already: revoke some or let them expire",
                  MGMT_TOKENS_LIVE_MAX);
        return NULL;
    }
    MgmtToken k;
    if (token_fill(t, &k, name, now, err) < 0)
        return NULL;
    MgmtToken *v = realloc(t->tokens, (t->ntokens + 1) * sizeof(*v));
    if (!v) {
        token_free(&k);
        error_set(err, "out of memory");
        return NULL;
    }
    t->tokens = v;
    v[t->ntokens] = k;
    return &v[t->ntokens++];
}

size_t mgmt_trust_token_count(MgmtTrust *t, time_t now)
{
    tokens_prune(t, now);
    return t->ntokens;
}

const MgmtToken *mgmt_trust_token_at(const MgmtTrust *t, size_t i)
{
    return i < t->ntokens ? &t->tokens[i] : NULL;
}

int mgmt_trust_token_delete(MgmtTrust *t, const char *id, Error *err)
{
    for (size_t i = 0; i < t->ntokens; i++) {
        if (strcmp(t->tokens[i].id, id) == 0) {
            token_drop(t, i);
            return 0;
        }
    }
    return error_set(err, "no join token %.40s", id);
}

json_t *mgmt_token_decode(const char *encoded, Error *err)
{
    unsigned char *raw = NULL;
    ssize_t n = strlen(encoded) <= MGMT_TOKEN_MAX ? mgmt_base64url_decode(encoded, &raw) : -1;
    json_t *j =
        n > 0 ? json_loadb((const char *)raw, (size_t)n, JSON_REJECT_DUPLICATES, NULL) : NULL;
    free(raw);
    if (!json_is_object(j) || !json_is_string(json_object_get(j, "secret")) ||
        !json_is_string(json_object_get(j, "fingerprint")) ||
        !json_is_string(json_object_get(j, "name"))) {
        json_decref(j);
        error_set(err, "not a hostel join token");
        return NULL;
    }
    return j;
}

/* Compare a and b (NUL-terminated) in time that does not depend on where they differ. */
static bool secret_equal(const char *a, const char *b)
{
    size_t n = strlen(a);
    if (n != strlen(b))
        return false;
    unsigned char d = 0;
    for (size_t i = 0; i < n; i++)
        d |= (unsigned char)(a[i] ^ b[i]);
    return d == 0;
}

int mgmt_trust_token_redeem(MgmtTrust *t, const char *encoded, time_t now,
                            char name[MGMT_NAME_MAX + 1], Error *err)
{
    static const char refused[] = "the join token is unknown, already used or expired";
    json_t *j = mgmt_token_decode(encoded, err);
    if (!j)
        return -1;
    const char *secret = json_string_value(json_object_get(j, "secret"));
    tokens_prune(t, now);
    for (size_t i = 0; i < t->ntokens; i++) {
        if (!secret_equal(t->tokens[i].secret, secret))
            continue;
        snprintf(name, MGMT_NAME_MAX + 1, "%s", t->tokens[i].name);
        token_drop(t, i);
        json_decref(j);
        return 0;
    }
    json_decref(j);
    return error_set(err, "%s", refused);
}
