/*
 * `hostel events`: follow hosteld's event stream (docs/cli.md, the
 * /1.0/events websocket through mgmt_ws.c) and print each event as it
 * comes: one line for a person (time, type, action, resource, uid), or the
 * event's JSON, one per line, with --json.  Runs until Ctrl-C; a daemon
 * that goes away ends it with one line and exit status 1.
 */
#include <curl/curl.h>
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "mgmt_client.h"
#include "mgmt_ws.h"

enum { OPT_SOCKET = 256, OPT_JSON, OPT_TYPE, OPT_SINCE };

typedef struct EventsOptions {
    const char *socket;
    const char *type;  /* type=... or NULL */
    const char *since; /* since=... or NULL */
    bool json;
} EventsOptions;

static void events_help(FILE *out)
{
    fprintf(out, "usage: hostel events [options]\n\n"
                 "Print hosteld's events as they happen (VMs defined, changed, deleted,\n"
                 "started, stopped, crashed; operations and their progress), one line each,\n"
                 "until Ctrl-C.\n\n"
                 "options:\n"
                 "      --type T[,T]      only these types: lifecycle, operation\n"
                 "      --since ID        first the events the daemon kept after event ID\n"
                 "                        (0: all it kept, at most the last 1000)\n"
                 "      --socket PATH     hosteld's socket (default $HOSTEL_SOCKET, else\n"
                 "                        /run/hostel/hosteld.sock as root,\n"
                 "                        $XDG_RUNTIME_DIR/hostel/hosteld.sock otherwise)\n"
                 "      --json            print each event's JSON, one per line\n"
                 "  -h, --help            show this help and exit\n"
                 "\n"
                 "'hostel --remote REMOTE events' follows a remote host's events (see\n"
                 "'hostel remote').\n");
}

/* Returns 0, -1 after --help, or a usage status. */
static int parse(EventsOptions *o, int argc, char **argv)
{
    static const struct option longopts[] = {
        {"socket", required_argument, NULL, OPT_SOCKET},
        {"json", no_argument, NULL, OPT_JSON},
        {"type", required_argument, NULL, OPT_TYPE},
        {"since", required_argument, NULL, OPT_SINCE},
        {"help", no_argument, NULL, 'h'},
        {0},
    };
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        switch (c) {
        case OPT_SOCKET: o->socket = optarg; break;
        case OPT_JSON: o->json = true; break;
        case OPT_TYPE: o->type = optarg; break;
        case OPT_SINCE: o->since = optarg; break;
        case 'h': events_help(stdout); return -1;
        default: return cli_usage("events", "unknown option '%s'", argv[optind - 1]);
        }
    }
    if (optind != argc)
        return cli_usage("events", "unexpected argument '%s'", argv[optind]);
    return 0;
}

/* "/1.0/events?type=...&since=..." into buf (the values escaped). */
static void events_path(const EventsOptions *o, char *buf, size_t size)
{
    char *type = o->type ? curl_easy_escape(NULL, o->type, 0) : NULL;
    char *since = o->since ? curl_easy_escape(NULL, o->since, 0) : NULL;
    snprintf(buf, size, "/1.0/events%s%s%s%s%s", type || since ? "?" : "", type ? "type=" : "",
             type ? type : "", type && since ? "&" : "", since ? "since=" : "");
    if (since)
        snprintf(buf + strlen(buf), size - strlen(buf), "%s", since);
    curl_free(type);
    curl_free(since);
}

/* One event for a person: time, type, action, resource, uid. */
static void print_human(const char *text, size_t len)
{
    json_t *j = json_loadb(text, len, 0, NULL);
    const char *action =
        json_string_value(json_object_get(json_object_get(j, "metadata"), "action"));
    const char *time = json_string_value(json_object_get(j, "time"));
    const char *type = json_string_value(json_object_get(j, "type"));
    const char *res = json_string_value(json_object_get(j, "resource"));
    if (!j || !time || !type || !res)
        printf("%.*s\n", (int)len, text); /* not what we expect: shown as it is */
    else
        printf("%s  %-10s %-12s %s  uid=%" JSON_INTEGER_FORMAT "\n", time, type,
               action ? action : "-", res, json_integer_value(json_object_get(j, "uid")));
    json_decref(j);
}

static int follow(MgmtWs *ws, bool json)
{
    WsMessage m;
    Error err = {0};
    while (mgmt_ws_recv(ws, &m, -1, &err) == 1) {
        if (json)
            printf("%.*s\n", (int)m.len, (const char *)m.data);
        else
            print_human((const char *)m.data, m.len);
        fflush(stdout);
    }
    fprintf(stderr, "hostel: the event stream ended: %s\n", err.msg);
    return CLI_EXIT_FAIL;
}

static int events_run(int argc, char **argv)
{
    EventsOptions o = {0};
    int r = parse(&o, argc, argv);
    if (r != 0)
        return r < 0 ? 0 : r;
    char path[512];
    Error err = {0};
    bool no_daemon;
    MgmtTarget t;
    MgmtWs *ws;
    events_path(&o, path, sizeof(path));
    if (mgmt_client_target(&t, o.socket, NULL, &err) < 0 ||
        mgmt_ws_connect(&ws, &t, path, &no_daemon, &err) < 0)
        return cli_fail(&err);
    r = follow(ws, o.json);
    mgmt_ws_close(ws);
    return r;
}

const Command cmd_events = {
    .name = "events",
    .run = events_run,
    .help = events_help,
    .summary = "follow hosteld's events (VMs defined, started, stopped, operations...)",
};
