/*
 * `hostel migrate`: live-migrate a running VM through its control socket
 * (docs/migration.md).  One connection carries the `migrate` request,
 * whose reply comes when the destination runs the VM (or the migration
 * failed); a second one polls `query-migrate` for the progress line shown
 * on a terminal.  The final figures go to stdout.
 */
#include <errno.h>
#include <jansson.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "control/client.h"

static void migrate_help(FILE *out)
{
    fprintf(out,
            "usage: hostel migrate [options] NAME|PATH URI\n"
            "       hostel migrate [options] --control PATH URI\n"
            "\n"
            "Move a running VM to another VMM while it runs (pre-copy live migration).\n"
            "Start the destination first: hostel run --incoming URI.  URI is unix:PATH\n"
            "or tcp:HOST:PORT.  RAM is sent while the guest runs, then what it dirtied,\n"
            "until the rest fits the downtime limit; then the VM pauses, the last pages\n"
            "and the devices go, and the source ends once the destination says it runs\n"
            "the VM.  If anything fails before that, the VM goes on here.  Disks must be\n"
            "reachable at the same paths on the destination (shared storage).\n"
            "See docs/migration.md.\n"
            "\n"
            "options:\n"
            "      --control PATH        the source VM's control socket\n"
            "      --downtime-limit MS   the pause to aim for (default 10)\n"
            "      --max-rounds N        rounds before the switch-over is forced (default 30)\n"
            "      --no-auto-converge    do not throttle a guest that dirties memory faster than\n"
            "                            the link carries it (by default, from the second round\n"
            "                            in a row that dirtied more than half of what it sent,\n"
            "                            the harts get 20 %% less time, then 10 %% less a round,\n"
            "                            up to 99 %%, until the migration ends)\n"
            "      --bandwidth MB/s      cap the stream at this many MB (10^6 bytes) a second\n"
            "      --compress zstd       send RAM pages as zstd frames (fewer bytes, more CPU:\n"
            "                            for links slower than the compressor; default: plain)\n"
            "      --compress-level N    zstd's level, 1-19 (default 1)\n"
            "      --tls-creds DIR       TLS with mutual certificates: DIR holds ca-cert.pem,\n"
            "                            client-cert.pem and client-key.pem (the destination\n"
            "                            runs with --tls-creds too; docs/migration.md, TLS)\n"
            "      --tls-hostname NAME   the destination's name in its certificate (default:\n"
            "                            the host of a tcp: URI; needed with unix:)\n"
            "      --json                print the final figures as JSON\n"
            "  -h, --help                show this help and exit\n"
            "\n"
            "exit status: 0 = the VM runs at the destination; 1 = the migration failed\n"
            "(the VM goes on at the source; the reason is on stderr); 2 = bad command line.\n");
}

typedef struct MigrateCall {
    const char *target;
    json_t *args;
    json_t *reply; /* the migrate reply, or NULL with err */
    Error err;
    volatile bool finished;
} MigrateCall;

static void *migrate_call(void *opaque)
{
    MigrateCall *c = opaque;
    ControlConn conn;
    if (control_conn_open(&conn, c->target, -1, &c->err) == 0) {
        c->reply = control_conn_call(&conn, "migrate", c->args, &c->err);
        control_conn_close(&conn);
    }
    c->finished = true;
    return NULL;
}

/* One progress line on a terminal, from query-migrate. */
static void migrate_progress(ControlConn *c)
{
    Error err = {0};
    json_t *r = control_conn_call(c, "query-migrate", NULL, &err);
    json_t *ret = r ? json_object_get(r, "return") : NULL;
    if (ret)
        fprintf(stderr,
                "\r%-10s round %2lld  %8.1f MiB sent  %7lld pages left  %6.1f ms expected  "
                "throttle %2lld %% ",
                json_string_value(json_object_get(ret, "state")),
                (long long)json_integer_value(json_object_get(ret, "round")),
                (double)json_integer_value(json_object_get(ret, "bytes")) / 1048576.0,
                (long long)json_integer_value(json_object_get(ret, "pages-remaining")),
                json_real_value(json_object_get(ret, "expected-downtime-ms")),
                (long long)json_integer_value(json_object_get(ret, "throttle-pct")));
    json_decref(r);
}

static int migrate_report(json_t *reply, bool json, const Error *err)
{
    json_t *ret = reply ? json_object_get(reply, "return") : NULL;
    if (!ret) {
        const char *desc =
            reply ? json_string_value(json_object_get(json_object_get(reply, "error"), "desc"))
                  : err->msg;
        fprintf(stderr, "hostel: %s\n", desc ? desc : "the VM sent a malformed reply");
        return 1;
    }
    if (json) {
        json_dumpf(ret, stdout, JSON_INDENT(2) | JSON_REAL_PRECISION(10));
        fputc('\n', stdout);
        return 0;
    }
    printf("migrated: total %.1f ms, downtime %.1f ms, %.1f MiB sent in %lld round(s)",
           json_real_value(json_object_get(ret, "total-ms")),
           json_real_value(json_object_get(ret, "downtime-ms")),
           (double)json_integer_value(json_object_get(ret, "bytes")) / 1048576.0,
           (long long)json_integer_value(json_object_get(ret, "rounds")));
    long long throttle = json_integer_value(json_object_get(ret, "throttle-pct"));
    if (throttle)
        printf(", throttled up to %lld %%", throttle);
    if (!json_is_true(json_object_get(ret, "converged")))
        printf(" (did not converge: switched over at the round cap)");
    putchar('\n');
    return 0;
}

static int migrate_run(const char *target, json_t *args, bool json)
{
    MigrateCall call = {.target = target, .args = args};
    ControlConn poll;
    Error err = {0};
    if (control_conn_open(&poll, target, 10000, &err) < 0)
        return cli_fail(&err);
    pthread_t t;
    if (pthread_create(&t, NULL, migrate_call, &call) != 0) {
        control_conn_close(&poll);
        fprintf(stderr, "hostel: cannot start a thread\n");
        return 1;
    }
    bool tty = isatty(2);
    while (!call.finished) {
        nanosleep(&(struct timespec){.tv_nsec = 100 * 1000000}, NULL);
        if (tty && !call.finished)
            migrate_progress(&poll);
    }
    pthread_join(t, NULL);
    control_conn_close(&poll);
    if (tty)
        fputc('\n', stderr);
    int rc = migrate_report(call.reply, json, &call.err);
    json_decref(call.reply);
    return rc;
}

/* A number option's value in [lo, hi]; false (after a usage line) if it is not one. */
static bool migrate_number(const char *opt, const char *arg, double lo, double hi, double *out)
{
    char *end;
    errno = 0;
    double v = arg ? strtod(arg, &end) : 0;
    if (!arg || errno || end == arg || *end || v < lo || v > hi) {
        cli_usage("migrate", "%s '%s': expected a number from %g to %g", opt, arg ? arg : "", lo,
                  hi);
        return false;
    }
    *out = v;
    return true;
}

static int migrate_main(int argc, char **argv)
{
    const char *control = NULL, *pos[2] = {NULL, NULL};
    double limit = 0, rounds = 0, bandwidth = 0, level = 0;
    const char *compress = NULL, *tls_creds = NULL, *tls_hostname = NULL;
    bool json = false, converge = true;
    int npos = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *next = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            migrate_help(stdout);
            return 0;
        } else if (!strcmp(a, "--json")) {
            json = true;
        } else if (!strcmp(a, "--control") && next) {
            control = argv[++i];
        } else if (!strcmp(a, "--downtime-limit")) {
            if (!migrate_number(a, next, 0.001, 600000, &limit))
                return 2;
            i++;
        } else if (!strcmp(a, "--no-auto-converge")) {
            converge = false;
        } else if (!strcmp(a, "--bandwidth")) {
            if (!migrate_number(a, next, 0.01, 1e6, &bandwidth))
                return 2;
            i++;
        } else if (!strcmp(a, "--compress") && next) {
            compress = argv[++i];
        } else if (!strcmp(a, "--tls-creds") && next) {
            tls_creds = argv[++i];
        } else if (!strcmp(a, "--tls-hostname") && next) {
            tls_hostname = argv[++i];
        } else if (!strcmp(a, "--compress-level")) {
            if (!migrate_number(a, next, 1, 19, &level))
                return 2;
            i++;
        } else if (!strcmp(a, "--max-rounds")) {
            if (!migrate_number(a, next, 1, 1000, &rounds))
                return 2;
            i++;
        } else if (a[0] == '-' && a[1]) {
            return cli_usage("migrate", "unknown option or missing argument '%s'", a);
        } else if (npos < 2) {
            pos[npos++] = a;
        } else {
            return cli_usage("migrate", "unexpected argument '%s'", a);
        }
    }
    if (npos != (control ? 1 : 2))
        return cli_usage("migrate", "%s",
                         control ? "expected one URI after --control PATH"
                                 : "expected NAME|PATH and URI");
    const char *target = control ? control : pos[0], *uri = pos[npos - 1];
    json_t *args = json_pack("{s:s}", "uri", uri);
    if (limit > 0)
        json_object_set_new(args, "downtime-limit-ms", json_real(limit));
    if (rounds > 0)
        json_object_set_new(args, "max-rounds", json_integer((json_int_t)rounds));
    if (!converge)
        json_object_set_new(args, "auto-converge", json_false());
    if (bandwidth > 0)
        json_object_set_new(args, "max-bandwidth", json_real(bandwidth * 1e6));
    if (compress)
        json_object_set_new(args, "compress", json_string(compress));
    if (level > 0)
        json_object_set_new(args, "compress-level", json_integer((json_int_t)level));
    char creds[4096];
    if (tls_creds && !realpath(tls_creds, creds)) { /* the VMM resolves it elsewhere */
        fprintf(stderr, "hostel migrate: --tls-creds %s: %s\n", tls_creds, strerror(errno));
        json_decref(args);
        return 2;
    }
    if (tls_creds)
        json_object_set_new(args, "tls-creds", json_string(creds));
    if (tls_hostname)
        json_object_set_new(args, "tls-hostname", json_string(tls_hostname));
    int rc = migrate_run(target, args, json);
    json_decref(args);
    return rc;
}

const Command cmd_migrate = {
    .name = "migrate",
    .run = migrate_main,
    .help = migrate_help,
    .summary = "live-migrate a running VM to another VMM (hostel run --incoming)",
};
