/*
 * HTTP over hosteld's unix socket with libcurl (mgmt_client.h).  One easy
 * handle per call: the verbs make one or two calls, so there is nothing to
 * keep alive.
 */
#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

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
static int perform(CURL *h, const char *socket, Buf *b, bool *no_daemon, Error *err)
{
    CURLcode rc = curl_easy_perform(h);
    if (rc == CURLE_COULDNT_CONNECT) {
        *no_daemon = true;
        return no_daemon_error(socket, err);
    }
    if (rc != CURLE_OK)
        return error_set(err, "talking to hosteld on %s: %s", socket,
                         b->overflow ? "the reply is too large" : curl_easy_strerror(rc));
    return 0;
}

static int call_with(CURL *h, const char *socket, const char *method, const char *url,
                     const char *text, MgmtReply *out, bool *no_daemon, Error *err)
{
    struct curl_slist *headers = curl_slist_append(NULL, "Content-Type: application/json");
    headers = curl_slist_append(headers, "Expect:"); /* no 100-continue round trip */
    Buf b = {0};
    curl_easy_setopt(h, CURLOPT_UNIX_SOCKET_PATH, socket);
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &b);
    curl_easy_setopt(h, CURLOPT_TIMEOUT, (long)CALL_TIMEOUT_S);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    if (text)
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, text);
    int r = perform(h, socket, &b, no_daemon, err);
    if (r == 0) {
        curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &out->status);
        out->body = b.data ? json_loads(b.data, 0, NULL) : NULL;
    }
    curl_slist_free_all(headers);
    free(b.data);
    return r;
}

int mgmt_client_call(const char *socket, const char *method, const char *path, json_t *body,
                     MgmtReply *out, bool *no_daemon, Error *err)
{
    *no_daemon = false;
    memset(out, 0, sizeof(*out));
    char url[1024];
    snprintf(url, sizeof(url), "http://hosteld%s", path);
    char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
    CURL *h = curl_easy_init();
    if (!h || (body && !text)) {
        free(text);
        if (h)
            curl_easy_cleanup(h);
        return error_set(err, "out of memory");
    }
    int r = call_with(h, socket, method, url, text, out, no_daemon, err);
    curl_easy_cleanup(h);
    free(text);
    return r;
}

void mgmt_reply_free(MgmtReply *r)
{
    json_decref(r->body);
    r->body = NULL;
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
