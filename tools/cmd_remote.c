/*
 * `hostel remote ...` (the hosteld servers this client talks to, kept in
 * remotes.json) and `hostel trust ...` (the client certificates a hosteld
 * serves over HTTPS, and join tokens): docs/cli.md, docs/mgmt.md "Trust".
 * Thin handlers over mgmt_client.c and the API's /1.0/certificates.
 */
#include <curl/curl.h>
#include <getopt.h>
#include <jansson.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "mgmt/cert.h"
#include "mgmt/fileio.h"
#include "mgmt/trust.h"
#include "mgmt/vm.h"
#include "mgmt_client.h"

/* ---- calling the daemon ---- */

/* method path on the current target: the 2xx reply's body, or NULL after printing why. */
static json_t *call(const char *method, const char *path, json_t *body)
{
    return mgmt_client_json(NULL, method, path, body);
}

/* A subcommand with no options but --help: argv has exactly nargs operands after it. */
static int plain_args(const char *cmd, int argc, char **argv, int nargs, void (*help)(FILE *))
{
    if (cli_is_help(argc, argv) || (argc > 1 && strcmp(argv[1], "--help") == 0)) {
        help(stdout);
        return -1;
    }
    for (int i = 1; i < argc; i++)
        if (argv[i][0] == '-')
            return cli_usage(cmd, "unknown option '%s'", argv[i]);
    if (argc - 1 != nargs)
        return cli_usage(cmd, "expected %d argument%s", nargs, nargs == 1 ? "" : "s");
    return 0;
}

/* ---- remote ---- */

static void remote_help(FILE *out)
{
    fprintf(
        out,
        "usage: hostel remote add NAME https://HOST:PORT [--token TOKEN | --accept-certificate]\n"
        "       hostel remote list [--json]\n"
        "       hostel remote remove NAME\n"
        "       hostel remote switch NAME\n"
        "\n"
        "The hosteld servers this client manages (kept in $XDG_CONFIG_HOME/hostel/\n"
        "remotes.json, with this client's key and certificate, client.key and client.crt,\n"
        "made on first need).  Then 'hostel --remote NAME VERB ...' or 'hostel VERB\n"
        "NAME:VM' talks to that server; 'local' is the local daemon's socket.\n"
        "\n"
        "  add       with --token (from 'hostel trust token' on the server): the server is\n"
        "            pinned by the fingerprint in the token and trusts this client at once.\n"
        "            Without: the server's fingerprint is shown, and it is pinned only with\n"
        "            --accept-certificate; its admin then runs 'hostel trust add'.\n"
        "  list      the remotes (the default marked)\n"
        "  remove    forget a remote\n"
        "  switch    the remote used when none is named ('local' for the local daemon)\n");
}

/* The remote's name is a name (one path component, no ':') and not "local". */
static bool remote_name_ok(const char *name)
{
    Error err = {0};
    if (!mgmt_name_check(name, &err)) {
        fprintf(stderr, "hostel remote: %s\n", err.msg);
        return false;
    }
    if (strcmp(name, MGMT_REMOTE_LOCAL) == 0) {
        fprintf(stderr, "hostel remote: '%s' is the local daemon's name\n", name);
        return false;
    }
    return true;
}

/*
 * Check the server's certificate against the token (or the user's say-so);
 * its pin into pin, its fingerprint into fp, how it sees this client
 * ("trusted", "untrusted") into auth.
 */
static int remote_pin(const char *url, const json_t *token, bool accept, char *pin, size_t size,
                      char *fp, char auth[32], Error *err)
{
    MgmtCert server;
    if (mgmt_client_probe(url, &server, auth, 32, err) < 0)
        return -1;
    const char *want = json_string_value(json_object_get(token, "fingerprint"));
    int r = 0;
    snprintf(fp, MGMT_FP_LEN + 1, "%s", server.fingerprint);
    if (token && strcmp(want, server.fingerprint) != 0)
        r = error_set(err,
                      "%s presents certificate %s, not %.64s named by the token: refusing (is "
                      "this the right server?)",
                      url, server.fingerprint, want);
    else if (!token && !accept)
        r = error_set(err,
                      "the server at %s presents certificate %s: compare it with the server's "
                      "own (hosteld logs it at start; GET /1.0 shows it as "
                      "certificate_fingerprint), then add again with --accept-certificate",
                      url, server.fingerprint);
    if (r == 0)
        r = mgmt_cert_pubkey_pin(&server, pin, size, err);
    mgmt_cert_free(&server);
    return r;
}

/* Save the remote name into remotes.json. */
static int remote_save(const char *name, const char *url, const char *pin, const char *fp,
                       Error *err)
{
    json_t *all = mgmt_remotes_load(err);
    if (!all)
        return -1;
    json_object_set_new(json_object_get(all, "remotes"), name,
                        json_pack("{s:s, s:s, s:s}", "url", url, "pin", pin, "fingerprint", fp));
    int r = mgmt_remotes_save(all, err);
    json_decref(all);
    return r;
}

/* With a token: ask the server (now pinned) to trust this client's certificate. */
static int remote_join(const char *name, const char *url, const char *pin, const char *token,
                       Error *err)
{
    MgmtTarget t = {.remote = ""};
    MgmtReply r;
    bool no_daemon;
    char buf[160];
    snprintf(t.remote, sizeof(t.remote), "%s", name);
    snprintf(t.url, sizeof(t.url), "%s", url);
    snprintf(t.pin, sizeof(t.pin), "%s", pin);
    if (mgmt_client_identity(t.cert, sizeof(t.cert), t.key, sizeof(t.key), err) < 0)
        return -1;
    json_t *body = json_pack("{s:s}", "token", token);
    int rc = mgmt_client_call_target(&t, "POST", "/1.0/certificates", body, &r, &no_daemon, err);
    json_decref(body);
    if (rc < 0)
        return -1;
    if (r.status != 201)
        rc = error_set(err, "the server refused the token: %s",
                       mgmt_reply_message(&r, buf, sizeof(buf)));
    mgmt_reply_free(&r);
    return rc;
}

/* url without a query, a fragment or trailing slashes, into buf. */
static void clean_url(const char *url, char *buf, size_t size)
{
    snprintf(buf, size, "%s", url);
    buf[strcspn(buf, "?#")] = '\0';
    while (strlen(buf) > 8 && buf[strlen(buf) - 1] == '/')
        buf[strlen(buf) - 1] = '\0';
}

/* What the server's admin must do before it serves this client. */
static void print_trust_hint(void)
{
    char cert[PATH_MAX], key[PATH_MAX];
    Error err = {0};
    if (mgmt_client_identity(cert, sizeof(cert), key, sizeof(key), &err) == 0)
        printf("until its admin trusts this client ('hostel trust add NAME %s' on it),\n"
               "the server refuses every call\n",
               cert);
}

static int remote_add(int argc, char **argv)
{
    static const struct option longopts[] = {{"token", required_argument, NULL, 't'},
                                             {"accept-certificate", no_argument, NULL, 'a'},
                                             {"help", no_argument, NULL, 'h'},
                                             {0}};
    const char *token_text = NULL;
    bool accept = false;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        if (c == 'h') {
            remote_help(stdout);
            return 0;
        }
        if (c == 't')
            token_text = optarg;
        else if (c == 'a')
            accept = true;
        else
            return cli_usage("remote", "unknown option '%s'", argv[optind - 1]);
    }
    if (optind != argc - 2)
        return cli_usage("remote", "add takes NAME and https://HOST:PORT");
    const char *name = argv[optind], *url = argv[optind + 1];
    if (!remote_name_ok(name))
        return CLI_EXIT_USAGE;
    Error err = {0};
    json_t *known = mgmt_remotes_load(&err);
    bool exists = known && json_object_get(json_object_get(known, "remotes"), name);
    json_decref(known);
    if (!known)
        return cli_fail(&err);
    if (exists) {
        fprintf(stderr, "hostel remote: a remote named '%s' exists (remove it first)\n", name);
        return CLI_EXIT_FAIL;
    }
    json_t *token = token_text ? mgmt_token_decode(token_text, &err) : NULL;
    char pin[96], fp[MGMT_FP_LEN + 1], clean[512], auth[32] = "";
    clean_url(url, clean, sizeof(clean));
    int r = (token_text && !token)
                ? -1
                : remote_pin(clean, token, accept, pin, sizeof(pin), fp, auth, &err);
    json_decref(token);
    bool trusted = strcmp(auth, "trusted") == 0; /* already: a token would be refused (409) */
    /* saved only once the server is pinned and (with a token) trusts this client */
    if (r < 0 || (token_text && !trusted && remote_join(name, clean, pin, token_text, &err) < 0) ||
        remote_save(name, clean, pin, fp, &err) < 0)
        return cli_fail(&err);
    printf("remote %s added: %s, certificate %s\n", name, clean, fp);
    if (trusted && token_text)
        printf("the server trusts this client already: the token was not used\n");
    else if (!trusted && !token_text)
        print_trust_hint();
    return 0;
}

static void remote_list_print(const json_t *all)
{
    const char *def = json_string_value(json_object_get(all, "default"));
    const char *key;
    json_t *v;
    printf("%-20s %-36s %-16s %s\n", "NAME", "URL", "FINGERPRINT", "DEFAULT");
    printf("%-20s %-36s %-16s %s\n", MGMT_REMOTE_LOCAL, "unix socket", "-",
           !def || strcmp(def, MGMT_REMOTE_LOCAL) == 0 ? "*" : "");
    json_object_foreach(json_object_get(all, "remotes"), key, v)
    {
        const char *fp = json_string_value(json_object_get(v, "fingerprint"));
        printf("%-20s %-36s %-16.16s %s\n", key, json_string_value(json_object_get(v, "url")),
               fp ? fp : "?", def && strcmp(def, key) == 0 ? "*" : "");
    }
}

static int remote_list(int argc, char **argv)
{
    bool json = argc == 2 && strcmp(argv[1], "--json") == 0;
    int r = json ? 0 : plain_args("remote", argc, argv, 0, remote_help);
    if (r != 0)
        return r < 0 ? 0 : r;
    Error err = {0};
    json_t *all = mgmt_remotes_load(&err);
    if (!all)
        return cli_fail(&err);
    if (json) {
        json_dumpf(all, stdout, JSON_INDENT(2) | JSON_SORT_KEYS);
        fputc('\n', stdout);
    } else {
        remote_list_print(all);
    }
    json_decref(all);
    return 0;
}

/* remove NAME, or switch NAME: change remotes.json. */
static int remote_change(int argc, char **argv, bool remove)
{
    int r = plain_args("remote", argc, argv, 1, remote_help);
    if (r != 0)
        return r < 0 ? 0 : r;
    const char *name = argv[1];
    Error err = {0};
    json_t *all = mgmt_remotes_load(&err);
    if (!all)
        return cli_fail(&err);
    json_t *remotes = json_object_get(all, "remotes");
    bool known = json_object_get(remotes, name) != NULL;
    if (!known && (remove || strcmp(name, MGMT_REMOTE_LOCAL) != 0)) {
        json_decref(all);
        fprintf(stderr, "hostel remote: no remote named '%s'\n", name);
        return CLI_EXIT_FAIL;
    }
    const char *def = json_string_value(json_object_get(all, "default"));
    if (remove) {
        if (def && strcmp(def, name) == 0)
            json_object_set_new(all, "default", json_string(MGMT_REMOTE_LOCAL));
        json_object_del(remotes, name);
    } else {
        json_object_set_new(all, "default", json_string(name));
    }
    r = mgmt_remotes_save(all, &err);
    json_decref(all);
    if (r < 0)
        return cli_fail(&err);
    printf(remove ? "remote %s removed\n" : "default remote: %s\n", name);
    return 0;
}

static int remote_run(int argc, char **argv)
{
    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        remote_help(argc < 2 ? stderr : stdout);
        return argc < 2 ? CLI_EXIT_USAGE : 0;
    }
    const char *verb = argv[1];
    if (strcmp(verb, "add") == 0)
        return remote_add(argc - 1, argv + 1);
    if (strcmp(verb, "list") == 0)
        return remote_list(argc - 1, argv + 1);
    if (strcmp(verb, "remove") == 0)
        return remote_change(argc - 1, argv + 1, true);
    if (strcmp(verb, "switch") == 0)
        return remote_change(argc - 1, argv + 1, false);
    return cli_usage("remote", "unknown subcommand '%s'", verb);
}

/* ---- trust ---- */

static void trust_help(FILE *out)
{
    fprintf(
        out,
        "usage: hostel trust add NAME CERTFILE\n"
        "       hostel trust list [--json]\n"
        "       hostel trust remove FINGERPRINT|NAME\n"
        "       hostel trust token NAME\n"
        "       hostel trust tokens [--json]\n"
        "       hostel trust revoke-token ID\n"
        "\n"
        "The client certificates hosteld serves over HTTPS (hosteld --listen).  Run on\n"
        "the server (its unix socket), or from a trusted remote with --remote.\n"
        "\n"
        "  add           trust the certificate in CERTFILE (PEM) under NAME\n"
        "  list          the trusted certificates\n"
        "  remove        stop trusting one (its connections are refused from the next request)\n"
        "  token         make a one-time join token for a client to be named NAME: give it\n"
        "                to 'hostel remote add R https://HOST:PORT --token TOKEN' there\n"
        "                (valid for hosteld's --token-ttl, one hour by default)\n"
        "  tokens        the join tokens not yet used nor expired\n"
        "  revoke-token  void a join token\n");
}

static int trust_add(int argc, char **argv)
{
    int r = plain_args("trust", argc, argv, 2, trust_help);
    if (r != 0)
        return r < 0 ? 0 : r;
    char *pem = NULL;
    size_t len;
    Error err = {0};
    if (mgmt_read_file(argv[2], MGMT_CERT_MAX, &pem, &len, &err) < 0)
        return cli_fail(&err);
    json_t *body = json_pack("{s:s, s:s}", "name", argv[1], "certificate", pem);
    free(pem);
    if (!body) {
        fprintf(stderr, "hostel trust: %s: not a text certificate\n", argv[2]);
        return CLI_EXIT_FAIL;
    }
    json_t *e = call("POST", "/1.0/certificates", body);
    json_decref(body);
    if (!e)
        return CLI_EXIT_FAIL;
    printf("trusted %s: %s\n", argv[1], json_string_value(json_object_get(e, "fingerprint")));
    json_decref(e);
    return 0;
}

static int print_list(json_t *list, bool json, bool tokens)
{
    size_t i;
    json_t *v;
    if (json) {
        json_dumpf(list, stdout, JSON_INDENT(2));
        fputc('\n', stdout);
    } else if (tokens) {
        printf("%-16s %-24s %s\n", "ID", "NAME", "EXPIRES");
        json_array_foreach(list, i, v)
            printf("%-16s %-24s %s\n", json_string_value(json_object_get(v, "id")),
                   json_string_value(json_object_get(v, "name")),
                   json_string_value(json_object_get(v, "expires_at")));
    } else {
        printf("%-24s %-64s %-20s %s\n", "NAME", "FINGERPRINT", "EXPIRES", "ADDED BY");
        json_array_foreach(list, i, v)
            printf("%-24s %-64s %-20s %s\n", json_string_value(json_object_get(v, "name")),
                   json_string_value(json_object_get(v, "fingerprint")),
                   json_string_value(json_object_get(v, "expires_at")),
                   json_string_value(json_object_get(v, "by")));
    }
    json_decref(list);
    return 0;
}

static int trust_list(int argc, char **argv, bool tokens)
{
    bool json = argc == 2 && strcmp(argv[1], "--json") == 0;
    int r = json ? 0 : plain_args("trust", argc, argv, 0, trust_help);
    if (r != 0)
        return r < 0 ? 0 : r;
    json_t *list = call("GET", tokens ? "/1.0/certificates/tokens" : "/1.0/certificates", NULL);
    return list ? print_list(list, json, tokens) : CLI_EXIT_FAIL;
}

/* FINGERPRINT, or the fingerprint of the certificate named so, into fp. */
static int trust_resolve(const char *arg, char fp[MGMT_FP_LEN + 1])
{
    json_t *list = call("GET", "/1.0/certificates", NULL), *v;
    size_t i;
    if (!list)
        return -1;
    fp[0] = '\0';
    json_array_foreach(list, i, v)
    {
        const char *f = json_string_value(json_object_get(v, "fingerprint"));
        if (f && (strcmp(f, arg) == 0 ||
                  strcmp(json_string_value(json_object_get(v, "name")), arg) == 0))
            snprintf(fp, MGMT_FP_LEN + 1, "%s", f);
    }
    json_decref(list);
    if (!fp[0]) {
        fprintf(stderr, "hostel trust: no trusted certificate named or with fingerprint '%.80s'\n",
                arg);
        return -1;
    }
    return 0;
}

static int trust_remove(int argc, char **argv)
{
    int r = plain_args("trust", argc, argv, 1, trust_help);
    if (r != 0)
        return r < 0 ? 0 : r;
    char fp[MGMT_FP_LEN + 1], path[128];
    if (trust_resolve(argv[1], fp) < 0)
        return CLI_EXIT_FAIL;
    snprintf(path, sizeof(path), "/1.0/certificates/%s", fp);
    json_t *j = call("DELETE", path, NULL);
    if (!j)
        return CLI_EXIT_FAIL;
    json_decref(j);
    printf("no longer trusted: %s\n", fp);
    return 0;
}

static int trust_token(int argc, char **argv)
{
    int r = plain_args("trust", argc, argv, 1, trust_help);
    if (r != 0)
        return r < 0 ? 0 : r;
    json_t *body = json_pack("{s:s}", "name", argv[1]);
    json_t *k = call("POST", "/1.0/certificates/tokens", body);
    json_decref(body);
    if (!k)
        return CLI_EXIT_FAIL;
    fprintf(stderr, "join token for %s (one use, until %s):\n", argv[1],
            json_string_value(json_object_get(k, "expires_at")));
    printf("%s\n", json_string_value(json_object_get(k, "token")));
    json_decref(k);
    return 0;
}

static int trust_revoke(int argc, char **argv)
{
    int r = plain_args("trust", argc, argv, 1, trust_help);
    if (r != 0)
        return r < 0 ? 0 : r;
    char *esc = curl_easy_escape(NULL, argv[1], 0), path[256];
    snprintf(path, sizeof(path), "/1.0/certificates/tokens/%s", esc ? esc : "");
    curl_free(esc);
    json_t *j = call("DELETE", path, NULL);
    if (!j)
        return CLI_EXIT_FAIL;
    json_decref(j);
    printf("join token %s revoked\n", argv[1]);
    return 0;
}

static int trust_run(int argc, char **argv)
{
    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        trust_help(argc < 2 ? stderr : stdout);
        return argc < 2 ? CLI_EXIT_USAGE : 0;
    }
    const char *verb = argv[1];
    if (strcmp(verb, "add") == 0)
        return trust_add(argc - 1, argv + 1);
    if (strcmp(verb, "list") == 0)
        return trust_list(argc - 1, argv + 1, false);
    if (strcmp(verb, "remove") == 0)
        return trust_remove(argc - 1, argv + 1);
    if (strcmp(verb, "token") == 0)
        return trust_token(argc - 1, argv + 1);
    if (strcmp(verb, "tokens") == 0)
        return trust_list(argc - 1, argv + 1, true);
    if (strcmp(verb, "revoke-token") == 0)
        return trust_revoke(argc - 1, argv + 1);
    return cli_usage("trust", "unknown subcommand '%s'", verb);
}

const Command cmd_remote = {
    .name = "remote",
    .run = remote_run,
    .help = remote_help,
    .summary = "the hosteld servers this client manages (add, list, remove, switch)",
};
const Command cmd_trust = {
    .name = "trust",
    .run = trust_run,
    .help = trust_help,
    .summary = "the client certificates hosteld trusts, and join tokens",
};
