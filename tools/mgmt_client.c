/*
 * HTTP over hosteld's unix socket, or HTTPS to a remote, with libcurl
 * (mgmt_client.h).  One easy handle per call: the verbs make one or two
 * calls, so there is nothing to keep alive.
 */
#include <curl/curl.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "mgmt/fileio.h"
#include "mgmt_client.h"

#define REPLY_MAX (64u << 20) /* a reply larger than this is refused */
#define CALL_TIMEOUT_S 60

typedef struct Buf {
    char *data;
    size_t len;
    bool overflow;
} Buf;

int mgmt_client_socket(char *buf, size_t size, const char *given, Error *err)
{
    const char *env = getenv("HOSTEL_SOCKET"), *run = getenv("XDG_RUNTIME_DIR");
    int n;
    if (given && *given)
        n = snprintf(buf, size, "%s", given);
    else if (env && *env)
        n = snprintf(buf, size, "%s", env);
    else if (geteuid() == 0)
        n = snprintf(buf, size, "/run/hostel/hosteld.sock");
    else if (run && *run)
        n = snprintf(buf, size, "%s/hostel/hosteld.sock", run);
    else
        return error_set(err, "XDG_RUNTIME_DIR is not set: give --socket or HOSTEL_SOCKET");
    if (n < 0 || (size_t)n >= size)
        return error_set(err, "the socket path is too long");
    return 0;
}

static size_t on_data(char *ptr, size_t size, size_t nmemb, void *userdata)
{
    Buf *b = userdata;
    size_t n = size * nmemb;
    char *d = b->len + n <= REPLY_MAX ? realloc(b->data, b->len + n + 1) : NULL;
    if (!d) {
        b->overflow = true;
        return 0; /* curl stops: CURLE_WRITE_ERROR */
    }
    memcpy(d + b->len, ptr, n);
    b->len += n;
    d[b->len] = '\0';
    b->data = d;
    return n;
}

static int no_daemon_error(const char *socket, Error *err)
{
    return error_set(err,
                     "no hosteld answers on %s: start it with 'hosteld' (or 'systemctl start "
                     "hosteld', unit in contrib/hosteld.service), or give --socket",
                     socket);
}

/* Perform the transfer set up in h; the reply's body into b. */
static int perform(CURL *h, const MgmtTarget *t, Buf *b, bool *no_daemon, Error *err)
{
    CURLcode rc = curl_easy_perform(h);
    if (rc == CURLE_COULDNT_CONNECT) {
        *no_daemon = true;
        if (t->remote[0])
            return error_set(err, "no hosteld answers at %s", t->url);
        return no_daemon_error(t->socket, err);
    }
    if (rc == CURLE_SSL_PINNEDPUBKEYNOTMATCH)
        return error_set(err,
                         "remote '%s' (%s) presented another server key than the one pinned when "
                         "it was added: refusing (remove and add it again if that is expected)",
                         t->remote, t->url);
    if (rc != CURLE_OK)
        return error_set(err, "talking to hosteld at %s: %s", t->remote[0] ? t->url : t->socket,
                         b->overflow ? "the reply is too large" : curl_easy_strerror(rc));
    return 0;
}

void mgmt_client_setup_tls(CURL *h, const MgmtTarget *t)
{
    curl_easy_setopt(h, CURLOPT_SSLCERT, t->cert);
    curl_easy_setopt(h, CURLOPT_SSLKEY, t->key);
    curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 0L);
    curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 0L);
    if (t->pin[0])
        curl_easy_setopt(h, CURLOPT_PINNEDPUBLICKEY, t->pin);
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "https");
}

static int call_with(CURL *h, const MgmtTarget *t, const char *method, const char *url,
                     const char *text, MgmtReply *out, bool *no_daemon, Error *err)
{
    struct curl_slist *headers = curl_slist_append(NULL, "Content-Type: application/json");
    headers = curl_slist_append(headers, "Expect:"); /* no 100-continue round trip */
    Buf b = {0};
    if (t->remote[0])
        mgmt_client_setup_tls(h, t);
    else
        curl_easy_setopt(h, CURLOPT_UNIX_SOCKET_PATH, t->socket);
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &b);
    curl_easy_setopt(h, CURLOPT_TIMEOUT, (long)CALL_TIMEOUT_S);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    if (text)
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, text);
    int r = perform(h, t, &b, no_daemon, err);
    if (r == 0) {
        curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &out->status);
        out->body = b.data ? json_loads(b.data, 0, NULL) : NULL;
        if (!out->body) { /* text (a log, /metrics): kept as it is */
            out->text = b.data;
            b.data = NULL;
        }
    }
    curl_slist_free_all(headers);
    free(b.data);
    return r;
}

int mgmt_client_call_target(const MgmtTarget *t, const char *method, const char *path, json_t *body,
                            MgmtReply *out, bool *no_daemon, Error *err)
{
    *no_daemon = false;
    memset(out, 0, sizeof(*out));
    char url[1024];
    snprintf(url, sizeof(url), "%s%s", t->remote[0] ? t->url : "http://hosteld", path);
    char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
    CURL *h = curl_easy_init();
    if (!h || (body && !text)) {
        free(text);
        if (h)
            curl_easy_cleanup(h);
        return error_set(err, "out of memory");
    }
    int r = call_with(h, t, method, url, text, out, no_daemon, err);
    curl_easy_cleanup(h);
    free(text);
    return r;
}

int mgmt_client_call(const char *socket, const char *method, const char *path, json_t *body,
                     MgmtReply *out, bool *no_daemon, Error *err)
{
    MgmtTarget t = {.remote = ""};
    snprintf(t.socket, sizeof(t.socket), "%s", socket);
    return mgmt_client_call_target(&t, method, path, body, out, no_daemon, err);
}

/* ---- remotes ---- */

int mgmt_client_config_dir(char *buf, size_t size, Error *err)
{
    const char *xdg = getenv("XDG_CONFIG_HOME"), *home = getenv("HOME");
    int n;
    if (xdg && xdg[0] == '/')
        n = snprintf(buf, size, "%s/hostel", xdg);
    else if (home && home[0] == '/')
        n = snprintf(buf, size, "%s/.config/hostel", home);
    else
        return error_set(err, "neither XDG_CONFIG_HOME nor HOME is set");
    if (n < 0 || (size_t)n >= size)
        return error_set(err, "the configuration directory's path is too long");
    return 0;
}

/* CONFIG_DIR/file into buf; with make, CONFIG_DIR (and its parent) made, mode 0700. */
static int config_path(const char *file, bool make, char *buf, size_t size, Error *err)
{
    char dir[PATH_MAX];
    if (mgmt_client_config_dir(dir, sizeof(dir), err) < 0)
        return -1;
    if (snprintf(buf, size, "%s/%s", dir, file) >= (int)size)
        return error_set(err, "%s/%s: path too long", dir, file);
    if (!make)
        return 0;
    char *slash = strrchr(dir, '/');
    *slash = '\0';
    mkdir(dir, 0700); /* ~/.config, when missing */
    *slash = '/';
    if (mkdir(dir, 0700) < 0 && errno != EEXIST)
        return error_set_errno(err, errno, "cannot create %s", dir);
    return 0;
}

int mgmt_client_identity(char *cert, size_t cert_size, char *key, size_t key_size, Error *err)
{
    char host[128] = "host", cn[200];
    const char *user = getenv("USER");
    bool made;
    if (config_path("client.crt", true, cert, cert_size, err) < 0 ||
        config_path("client.key", true, key, key_size, err) < 0)
        return -1;
    gethostname(host, sizeof(host) - 1);
    snprintf(cn, sizeof(cn), "%s@%s", user && *user ? user : "hostel", host);
    if (mgmt_cert_ensure(key, cert, cn, &made, err) < 0)
        return -1;
    if (made)
        fprintf(stderr, "hostel: made this client's certificate %s\n", cert);
    return 0;
}

json_t *mgmt_remotes_load(Error *err)
{
    char path[PATH_MAX];
    if (config_path("remotes.json", false, path, sizeof(path), err) < 0)
        return NULL;
    if (access(path, F_OK) < 0)
        return json_pack("{s:s, s:{}}", "default", MGMT_REMOTE_LOCAL, "remotes");
    json_error_t je;
    json_t *j = json_load_file(path, JSON_REJECT_DUPLICATES, &je);
    if (!json_is_object(j) || !json_is_object(json_object_get(j, "remotes"))) {
        json_decref(j);
        error_set(err, "%s: not a remotes file (line %d: %s)", path, je.line, je.text);
        return NULL;
    }
    return j;
}

int mgmt_remotes_save(const json_t *remotes, Error *err)
{
    char path[PATH_MAX];
    if (config_path("remotes.json", true, path, sizeof(path), err) < 0)
        return -1;
    char *text = json_dumps(remotes, JSON_INDENT(2) | JSON_SORT_KEYS);
    if (!text)
        return error_set(err, "out of memory");
    int r = mgmt_write_atomic(path, text, strlen(text), 0600, err);
    free(text);
    return r;
}

/* The remote named name from remotes.json into t. */
static int target_remote(MgmtTarget *t, const char *name, Error *err)
{
    json_t *all = mgmt_remotes_load(err);
    if (!all)
        return -1;
    json_t *r = json_object_get(json_object_get(all, "remotes"), name);
    const char *url = json_string_value(json_object_get(r, "url"));
    const char *pin = json_string_value(json_object_get(r, "pin"));
    int rc = 0;
    if (!url || !pin)
        rc = error_set(err, "no remote named '%.64s' (see 'hostel remote list')", name);
    else {
        snprintf(t->remote, sizeof(t->remote), "%s", name);
        snprintf(t->url, sizeof(t->url), "%s", url);
        snprintf(t->pin, sizeof(t->pin), "%s", pin);
        rc = mgmt_client_identity(t->cert, sizeof(t->cert), t->key, sizeof(t->key), err);
    }
    json_decref(all);
    return rc;
}

int mgmt_client_target(MgmtTarget *t, const char *given_socket, const char *remote, Error *err)
{
    memset(t, 0, sizeof(*t));
    const char *env = getenv("HOSTEL_REMOTE"), *sock = getenv("HOSTEL_SOCKET");
    json_t *all = NULL;
    if (!remote && env && *env)
        remote = env;
    if (!remote && !(given_socket && *given_socket) && !(sock && *sock)) {
        if (!(all = mgmt_remotes_load(err)))
            return -1;
        remote = json_string_value(json_object_get(all, "default"));
    }
    int r = remote && strcmp(remote, MGMT_REMOTE_LOCAL) != 0
                ? target_remote(t, remote, err)
                : mgmt_client_socket(t->socket, sizeof(t->socket), given_socket, err);
    json_decref(all);
    return r;
}

const char *mgmt_client_split_vm(const char *arg)
{
    const char *colon = strchr(arg, ':');
    if (!colon)
        return arg;
    char remote[MGMT_NAME_MAX + 2];
    snprintf(remote, sizeof(remote), "%.*s",
             (int)(colon - arg < MGMT_NAME_MAX + 1 ? colon - arg : MGMT_NAME_MAX + 1), arg);
    setenv("HOSTEL_REMOTE", remote, 1);
    return colon + 1;
}

/* The first certificate of the chain curl saw, as PEM. */
static const char *certinfo_pem(CURL *h)
{
    struct curl_certinfo *ci = NULL;
    if (curl_easy_getinfo(h, CURLINFO_CERTINFO, &ci) != CURLE_OK || !ci || ci->num_of_certs < 1)
        return NULL;
    for (struct curl_slist *s = ci->certinfo[0]; s; s = s->next)
        if (strncmp(s->data, "Cert:", 5) == 0)
            return s->data + 5;
    return NULL;
}

int mgmt_client_probe(const char *url, MgmtCert *server, char *auth, size_t auth_size, Error *err)
{
    MgmtTarget t = {.remote = "(new)"};
    if (strncmp(url, "https://", 8) != 0)
        return error_set(err, "%s: a remote's address is https://HOST:PORT", url);
    snprintf(t.url, sizeof(t.url), "%s", url);
    if (mgmt_client_identity(t.cert, sizeof(t.cert), t.key, sizeof(t.key), err) < 0)
        return -1;
    char full[1024];
    snprintf(full, sizeof(full), "%s/1.0", url);
    CURL *h = curl_easy_init();
    if (!h)
        return error_set(err, "out of memory");
    curl_easy_setopt(h, CURLOPT_CERTINFO, 1L);
    MgmtReply r = {0};
    bool no_daemon;
    int rc = call_with(h, &t, "GET", full, NULL, &r, &no_daemon, err);
    const char *pem = rc == 0 ? certinfo_pem(h) : NULL;
    if (rc == 0 && !pem)
        rc = error_set(err, "%s: the server showed no certificate", url);
    if (rc == 0)
        rc = mgmt_cert_parse(pem, strlen(pem), true, server, err);
    if (rc == 0)
        snprintf(auth, auth_size, "%s",
                 json_string_value(json_object_get(r.body, "auth"))
                     ? json_string_value(json_object_get(r.body, "auth"))
                     : "");
    mgmt_reply_free(&r);
    curl_easy_cleanup(h);
    return rc;
}

void mgmt_reply_free(MgmtReply *r)
{
    json_decref(r->body);
    r->body = NULL;
    free(r->text);
    r->text = NULL;
}

const char *mgmt_reply_message(const MgmtReply *r, char *buf, size_t size)
{
    const char *m =
        json_string_value(json_object_get(json_object_get(r->body, "error"), "message"));
    if (m)
        return m;
    snprintf(buf, size, "hosteld answered HTTP %ld without an error message", r->status);
    return buf;
}

json_t *mgmt_client_json(const char *socket, const char *method, const char *path, json_t *body)
{
    char buf[600];
    Error err = {0};
    MgmtReply r;
    MgmtTarget t;
    bool no_daemon;
    if (mgmt_client_target(&t, socket, NULL, &err) < 0 ||
        mgmt_client_call_target(&t, method, path, body, &r, &no_daemon, &err) < 0) {
        fprintf(stderr, "hostel: %s\n", err.msg);
        return NULL;
    }
    if (r.status < 200 || r.status > 299 || !r.body) {
        fprintf(stderr, "hostel: %s\n", mgmt_reply_message(&r, buf, sizeof(buf)));
        mgmt_reply_free(&r);
        return NULL;
    }
    return r.body;
}

void mgmt_client_print_json(const json_t *j)
{
    json_dumpf(j, stdout, JSON_INDENT(2));
    fputc('\n', stdout);
}
