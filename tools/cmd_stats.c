/*
 * `hostel stats [NAME] [--json]`: what the VMs use, from hosteld's API
 * (docs/cli.md).  Without NAME, one table row per VM (CPU %, memory RSS,
 * guest RAM touched, disk and network bytes, uptime); with NAME, that VM's
 * detail, disk by disk and card by card.  CPU % is the VMM's CPU time over
 * the wall time between two samples of /1.0/vms/NAME/state taken a second
 * apart (what `top` shows, not a lifetime average); --json prints one
 * sample of the API's JSON at once and leaves rates to the script.
 */
#include <curl/curl.h>
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>
#include <unistd.h>

#include "cli.h"
#include "mgmt_client.h"

#define SAMPLE_GAP_US 1000000 /* between the two samples CPU % is computed from */

enum { OPT_SOCKET = 256, OPT_JSON };

typedef struct StatsOptions {
    const char *socket; /* --socket, or NULL */
    bool json;
    const char *name; /* one VM, or NULL for all */
} StatsOptions;

/* One VM's two samples of its state (each a new reference, or NULL). */
typedef struct VmRow {
    const char *name; /* borrowed from the list */
    json_t *before, *after;
} VmRow;

static void stats_help(FILE *out)
{
    fprintf(
        out,
        "usage: hostel stats [NAME] [options]\n"
        "\n"
        "What the VMs hosteld runs use.  Without NAME, a table: NAME, STATE, CPU%%, RSS (the\n"
        "VMM process's resident memory), TOUCHED (guest RAM resident in host memory),\n"
        "DISK-RD and DISK-WR (bytes the guest read and wrote, every disk), NET-RX and\n"
        "NET-TX (bytes its cards received and sent) and UPTIME.  With NAME, that VM in\n"
        "detail: instructions and MIPS, each disk's and each card's counters.\n"
        "CPU%% is measured over one second (two samples): the command takes a second.\n"
        "Counters start at zero when the VM's VMM starts.\n"
        "\noptions:\n"
        "      --socket PATH     hosteld's socket (default $HOSTEL_SOCKET, else\n"
        "                        /run/hostel/hosteld.sock as root,\n"
        "                        $XDG_RUNTIME_DIR/hostel/hosteld.sock otherwise)\n"
        "      --json            print the API's JSON at once (one sample, no CPU%%):\n"
        "                        with NAME its state (GET /1.0/vms/NAME/state),\n"
        "                        else {\"host\": GET /1.0/host, \"vms\": [{\"name\", \"state\"}]}\n"
        "  -h, --help            show this help and exit\n");
}

/* ---- calling the daemon ---- */

/* GET path: the body (a new reference) of a 2xx reply, else NULL after printing why. */
static json_t *get(const StatsOptions *o, const char *path)
{
    return mgmt_client_json(o->socket, "GET", path, NULL);
}

/* GET /1.0/vms/NAME + tail ("" or "/state"), NAME escaped. */
static json_t *get_vm(const StatsOptions *o, const char *name, const char *tail)
{
    char path[256];
    char *esc = curl_easy_escape(NULL, name, 0);
    snprintf(path, sizeof(path), "/1.0/vms/%s%s", esc ? esc : "", tail);
    curl_free(esc);
    return get(o, path);
}

/* ---- figures for a person ---- */

static double num(const json_t *obj, const char *key)
{
    return json_number_value(json_object_get(obj, key));
}

/* "512B", "1.5K", "128M": bytes for a person. */
static void human_bytes(char *buf, size_t size, double bytes)
{
    static const char units[] = "BKMGTP";
    int u = 0;
    while (bytes >= 1024 && u < 5) {
        bytes /= 1024;
        u++;
    }
    snprintf(buf, size, u == 0 || bytes >= 100 ? "%.0f%c" : "%.1f%c", bytes, units[u]);
}

/* "3d04h", "1h02m", "5m03s", "12s". */
static void human_time(char *buf, size_t size, double s)
{
    unsigned long t = s > 0 ? (unsigned long)s : 0;
    if (t >= 86400)
        snprintf(buf, size, "%lud%02luh", t / 86400, t % 86400 / 3600);
    else if (t >= 3600)
        snprintf(buf, size, "%luh%02lum", t / 3600, t % 3600 / 60);
    else if (t >= 60)
        snprintf(buf, size, "%lum%02lus", t / 60, t % 60);
    else
        snprintf(buf, size, "%lus", t);
}

/* The sum of member key over the objects of stats' list ("disks", "nics"). */
static double sum_of(const json_t *stats, const char *list, const char *key)
{
    double total = 0;
    size_t i;
    json_t *d;
    json_array_foreach(json_object_get(stats, list), i, d) total += num(d, key);
    return total;
}

/* CPU use between the two samples in percent of one host CPU; < 0 when unknown. */
static double cpu_percent(const json_t *before, const json_t *after)
{
    json_t *c0 = json_object_get(before, "cpu_s"), *c1 = json_object_get(after, "cpu_s");
    double dt = num(after, "uptime_s") - num(before, "uptime_s");
    if (!c0 || !c1 || dt <= 0 || num(after, "pid") != num(before, "pid"))
        return -1;
    return (json_number_value(c1) - json_number_value(c0)) / dt * 100;
}

/* A byte count of the state's stats, or "-" when there are none. */
static void stat_bytes(char *buf, size_t size, const json_t *stats, const char *list,
                       const char *key)
{
    if (!stats)
        snprintf(buf, size, "-");
    else if (list)
        human_bytes(buf, size, sum_of(stats, list, key));
    else
        human_bytes(buf, size, num(stats, key));
}

/* ---- all VMs: a table ---- */

static void table_row(const VmRow *row)
{
    const json_t *st = row->after ? row->after : row->before;
    const json_t *stats = json_object_get(st, "stats");
    char cpu[16] = "-", rss[16] = "-", touched[16], rd[16], wr[16], rx[16], tx[16], up[32] = "-";
    double pct = row->after ? cpu_percent(row->before, row->after) : -1;
    if (pct >= 0)
        snprintf(cpu, sizeof(cpu), "%.1f", pct);
    if (json_object_get(st, "memory_rss"))
        human_bytes(rss, sizeof(rss), num(st, "memory_rss"));
    if (json_object_get(st, "uptime_s"))
        human_time(up, sizeof(up), num(st, "uptime_s"));
    stat_bytes(touched, sizeof(touched), stats, NULL, "ram-touched");
    stat_bytes(rd, sizeof(rd), stats, "disks", "read-bytes");
    stat_bytes(wr, sizeof(wr), stats, "disks", "write-bytes");
    stat_bytes(rx, sizeof(rx), stats, "nics", "rx-bytes");
    stat_bytes(tx, sizeof(tx), stats, "nics", "tx-bytes");
    printf("%-24s %-10s %6s %7s %7s %7s %7s %7s %7s %8s\n", row->name,
           json_string_value(json_object_get(st, "status")), cpu, rss, touched, rd, wr, rx, tx, up);
}

/* Whether the VM has a VMM whose use can be sampled. */
static bool has_vmm(const json_t *state)
{
    return json_object_get(state, "pid") != NULL;
}

/* Take every VM's first sample; false after printing why. */
static bool sample_all(const StatsOptions *o, VmRow *rows, size_t n, bool *any_running)
{
    *any_running = false;
    for (size_t i = 0; i < n; i++) {
        if (!(rows[i].before = get_vm(o, rows[i].name, "/state")))
            return false;
        *any_running |= has_vmm(rows[i].before);
    }
    return true;
}

static int print_table(const StatsOptions *o, VmRow *rows, size_t n)
{
    bool any;
    if (!sample_all(o, rows, n, &any))
        return CLI_EXIT_FAIL;
    if (any)
        usleep(SAMPLE_GAP_US);
    for (size_t i = 0; any && i < n; i++)
        if (has_vmm(rows[i].before) && !(rows[i].after = get_vm(o, rows[i].name, "/state")))
            return CLI_EXIT_FAIL;
    printf("%-24s %-10s %6s %7s %7s %7s %7s %7s %7s %8s\n", "NAME", "STATE", "CPU%", "RSS",
           "TOUCHED", "DISK-RD", "DISK-WR", "NET-RX", "NET-TX", "UPTIME");
    for (size_t i = 0; i < n; i++)
        table_row(&rows[i]);
    return 0;
}

/* --json without NAME: {"host", "vms": [{"name", "state"}]} at once. */
static int print_all_json(const StatsOptions *o, VmRow *rows, size_t n)
{
    bool any;
    json_t *host = sample_all(o, rows, n, &any) ? get(o, "/1.0/host") : NULL;
    json_t *vms = json_array();
    if (!host || !vms) {
        json_decref(host);
        json_decref(vms);
        return CLI_EXIT_FAIL;
    }
    for (size_t i = 0; i < n; i++)
        json_array_append_new(
            vms, json_pack("{s:s, s:O}", "name", rows[i].name, "state", rows[i].before));
    json_t *out = json_pack("{s:o, s:o}", "host", host, "vms", vms);
    json_dumpf(out, stdout, JSON_INDENT(2));
    fputc('\n', stdout);
    json_decref(out);
    return 0;
}

static int stats_all(const StatsOptions *o)
{
    json_t *list = get(o, "/1.0/vms?recursion=1");
    if (!list)
        return CLI_EXIT_FAIL;
    json_t *vms = json_object_get(list, "vms"), *vm;
    size_t n = json_array_size(vms), i;
    VmRow *rows = calloc(n ? n : 1, sizeof(*rows));
    if (!rows) {
        json_decref(list);
        fprintf(stderr, "hostel: out of memory\n");
        return CLI_EXIT_FAIL;
    }
    json_array_foreach(vms, i, vm) rows[i].name = json_string_value(json_object_get(vm, "name"));
    int rc = o->json ? print_all_json(o, rows, n) : print_table(o, rows, n);
    for (i = 0; i < n; i++) {
        json_decref(rows[i].before);
        json_decref(rows[i].after);
    }
    free(rows);
    json_decref(list);
    return rc;
}

/* ---- one VM: the detail ---- */

static void print_devices(const json_t *stats)
{
    size_t i;
    json_t *d;
    char a[16], b[16];
    json_array_foreach(json_object_get(stats, "disks"), i, d)
    {
        human_bytes(a, sizeof(a), num(d, "read-bytes"));
        human_bytes(b, sizeof(b), num(d, "write-bytes"));
        printf("  disk vd%c     %s: read %s in %.0f ops, written %s in %.0f ops, %.0f flushes, "
               "%.0f errors\n",
               (char)('a' + (i < 26 ? i : 25)), json_string_value(json_object_get(d, "path")), a,
               num(d, "read-ops"), b, num(d, "write-ops"), num(d, "flush-ops"), num(d, "errors"));
    }
    json_array_foreach(json_object_get(stats, "nics"), i, d)
    {
        human_bytes(a, sizeof(a), num(d, "rx-bytes"));
        human_bytes(b, sizeof(b), num(d, "tx-bytes"));
        printf("  nic %s: rx %s in %.0f packets (%.0f dropped), tx %s in %.0f packets\n",
               json_string_value(json_object_get(d, "mac")), a, num(d, "rx-packets"),
               num(d, "rx-dropped"), b, num(d, "tx-packets"));
    }
}

static void print_detail(const char *name, const json_t *vm, const VmRow *row)
{
    const json_t *st = row->after ? row->after : row->before;
    const json_t *stats = json_object_get(st, "stats");
    char up[32], rss[16], touched[16], ram[16];
    printf("%s: %s", name, json_string_value(json_object_get(st, "status")));
    if (has_vmm(st)) {
        human_time(up, sizeof(up), num(st, "uptime_s"));
        printf(", pid %.0f, up %s", num(st, "pid"), up);
    }
    printf("\n");
    if (!has_vmm(st))
        return;
    double pct = row->after ? cpu_percent(row->before, row->after) : -1;
    if (pct >= 0)
        printf("  CPU          %.1f%% (%.2f s in all)\n", pct, num(st, "cpu_s"));
    human_bytes(rss, sizeof(rss), num(st, "memory_rss"));
    human_bytes(ram, sizeof(ram), num(json_object_get(vm, "config"), "ram-size"));
    if (!stats) {
        printf("  memory       RSS %s\n  (the VMM did not answer in time: no counters)\n", rss);
        return;
    }
    human_bytes(touched, sizeof(touched), num(stats, "ram-touched"));
    printf("  memory       RSS %s, guest RAM touched %s of %s\n", rss, touched, ram);
    printf("  instructions %.0f (%.1f MIPS)\n", num(stats, "instructions"), num(stats, "mips"));
    print_devices(stats);
}

static int stats_one(const StatsOptions *o)
{
    VmRow row = {.name = o->name};
    json_t *vm = get_vm(o, o->name, "");
    if (!vm || !(row.before = get_vm(o, o->name, "/state"))) {
        json_decref(vm);
        return CLI_EXIT_FAIL;
    }
    int rc = 0;
    if (o->json) {
        json_dumpf(row.before, stdout, JSON_INDENT(2));
        fputc('\n', stdout);
    } else {
        if (has_vmm(row.before)) {
            usleep(SAMPLE_GAP_US);
            row.after = get_vm(o, o->name, "/state");
        }
        if (has_vmm(row.before) && !row.after)
            rc = CLI_EXIT_FAIL;
        else
            print_detail(o->name, vm, &row);
    }
    json_decref(row.before);
    json_decref(row.after);
    json_decref(vm);
    return rc;
}

static int stats_run(int argc, char **argv)
{
    static const struct option longopts[] = {{"socket", required_argument, NULL, OPT_SOCKET},
                                             {"json", no_argument, NULL, OPT_JSON},
                                             {"help", no_argument, NULL, 'h'},
                                             {0}};
    StatsOptions o = {0};
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        if (c == 'h') {
            stats_help(stdout);
            return 0;
        }
        if (c == OPT_SOCKET)
            o.socket = optarg;
        else if (c == OPT_JSON)
            o.json = true;
        else
            return cli_usage("stats", "unknown option '%s'", argv[optind - 1]);
    }
    if (argc - optind > 1)
        return cli_usage("stats", "expected at most one VM name");
    o.name = optind < argc ? argv[optind] : NULL;
    return o.name ? stats_one(&o) : stats_all(&o);
}

const Command cmd_stats = {
    .name = "stats",
    .run = stats_run,
    .help = stats_help,
    .summary = "what the VMs hosteld runs use: CPU, memory, disk, network",
};
