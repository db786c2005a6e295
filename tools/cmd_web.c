/*
 * `hostel web-login [--ttl SECONDS] [--json]`: a one-time login for the
 * web console (docs/web.md): asks hosteld for a login token (POST
 * /1.0/web/tokens) and prints the URLs that log a browser in with it, one
 * per HTTPS address the daemon listens on.
 */
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "mgmt/websession.h"
#include "mgmt_client.h"

static void web_login_help(FILE *out)
{
    fprintf(out,
            "usage: hostel web-login [--ttl SECONDS] [--json]\n\n"
            "Print a URL that logs a browser in to the web console of hosteld (the\n"
            "default daemon, --socket or --remote): https://HOST:PORT/#token=TOKEN for\n"
            "each address it serves HTTPS on (hosteld --listen). The token works once,\n"
            "within SECONDS (default %d, at most %d); the browser then holds a session\n"
            "cookie (30 minutes idle, 12 hours at most). docs/web.md.\n\n"
            "options:\n"
            "  --ttl SECONDS   how long the token may wait for its login\n"
            "  --json          print the daemon's answer (token, expires_at, urls)\n",
            WEB_TOKEN_TTL_DEFAULT, WEB_TOKEN_TTL_MAX);
}

static int web_login_run(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"ttl", required_argument, NULL, 't'},
        {"json", no_argument, NULL, 'j'},
        {"help", no_argument, NULL, 'h'},
        {0},
    };
    long ttl = WEB_TOKEN_TTL_DEFAULT;
    bool json = false;
    char *end;
    int c;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "+h", longopts, NULL)) != -1) {
        switch (c) {
        case 't':
            ttl = strtol(optarg, &end, 10);
            if (*end || end == optarg || ttl < 1 || ttl > WEB_TOKEN_TTL_MAX)
                return cli_usage("web-login", "--ttl '%s': not a number from 1 to %d", optarg,
                                 WEB_TOKEN_TTL_MAX);
            break;
        case 'j': json = true; break;
        case 'h': web_login_help(stdout); return 0;
        default: return cli_usage("web-login", "unknown option '%s'", argv[optind - 1]);
        }
    }
    if (optind < argc)
        return cli_usage("web-login", "unexpected argument '%s'", argv[optind]);
    json_t *body = json_pack("{s:I}", "ttl", (json_int_t)ttl);
    json_t *k = mgmt_client_json(NULL, "POST", "/1.0/web/tokens", body);
    json_decref(body);
    if (!k)
        return CLI_EXIT_FAIL;
    if (json) {
        mgmt_client_print_json(k);
        json_decref(k);
        return 0;
    }
    json_t *urls = json_object_get(k, "urls"), *u;
    size_t i;
    fprintf(stderr, "web console login (one use, until %s):\n",
            json_string_value(json_object_get(k, "expires_at")));
    json_array_foreach(urls, i, u) printf("%s\n", json_string_value(u));
    if (!json_array_size(urls)) {
        fprintf(stderr, "hosteld serves no HTTPS (--listen): open its page through your proxy "
                        "and log in with the token\n");
        printf("%s\n", json_string_value(json_object_get(k, "token")));
    }
    json_decref(k);
    return 0;
}

const Command cmd_web_login = {
    .name = "web-login",
    .run = web_login_run,
    .help = web_login_help,
    .summary = "a one-time login URL for hosteld's web console",
};
