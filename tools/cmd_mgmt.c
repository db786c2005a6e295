/*
 * `hostel create`, `list`, `info`, `delete`: thin clients of hosteld's API
 * (docs/cli.md, docs/api.md) over its unix socket (mgmt_client.c).  Each
 * prints a table or text for a person, or with --json the API's JSON for
 * scripts; an error from the daemon is printed as its one-line message
 * (exit status 1), and so is a missing daemon, with how to start it.
 */
#include <curl/curl.h>
#include <getopt.h>
#include <inttypes.h>
#include <jansson.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>
#include <unistd.h>

#include "cli.h"
#include "machine/vmconfig.h"
#include "mgmt/vm.h"
#include "mgmt_client.h"
#include "util/size.h"

#define SOCKET_MAX sizeof(((struct sockaddr_un *)0)->sun_path)

enum {
    OPT_SOCKET = 256,
    OPT_JSON,
    OPT_CPUS,
    OPT_MEMORY,
    OPT_DISK,
    OPT_NET,
    OPT_KERNEL,
    OPT_INITRD,
    OPT_CMDLINE,
    OPT_DESC,
    OPT_AUTOSTART,
    OPT_RESTART,
    OPT_LABEL,
    OPT_DISPLAY,
};

/* What every management verb takes. */
typedef struct MgmtCommon {
    const char *socket; /* --socket, or NULL */
    bool json;
} MgmtCommon;

static const char common_help[] =
    "      --socket PATH     hosteld's socket (default $HOSTEL_SOCKET, else\n"
    "                        /run/hostel/hosteld.sock as root,\n"
    "                        $XDG_RUNTIME_DIR/hostel/hosteld.sock otherwise)\n"
    "      --json            print the API's JSON instead of text\n"
    "  -h, --help            show this help and exit\n"
    "\n"
    "A VM's NAME may be REMOTE:NAME, for that remote's VM; 'hostel --remote REMOTE\n"
    "VERB ...' sends any verb to REMOTE (see 'hostel remote').\n";

/* ---- calling the daemon ---- */

/*
 * method path (body when not NULL) on the daemon; the reply's body (a new
 * reference) when the status is 2xx, else NULL after printing why.
 */
static json_t *call(const MgmtCommon *c, const char *method, const char *path, json_t *body)
{
    return mgmt_client_json(c->socket, method, path, body);
}

/* "/1.0/vms/NAME" with NAME escaped, into buf. */
static void vm_path(char *buf, size_t size, const char *name)
{
    char *esc = curl_easy_escape(NULL, name, 0);
    snprintf(buf, size, "/1.0/vms/%s", esc ? esc : "");
    curl_free(esc);
}

static void print_json(const json_t *j)
{
    mgmt_client_print_json(j);
}

/* Take --socket and --json; 1 if c was one of them, 0 if not. */
static int common_option(MgmtCommon *m, int c, const char *arg)
{
    if (c == OPT_SOCKET)
        m->socket = arg;
    else if (c == OPT_JSON)
        m->json = true;
    else
        return 0;
    return 1;
}

#define COMMON_LONGOPTS                                                                            \
    {"socket", required_argument, NULL, OPT_SOCKET}, {"json", no_argument, NULL, OPT_JSON},        \
    {                                                                                              \
        "help", no_argument, NULL, 'h'                                                             \
    }

/* A verb with only the common options and one NAME: NAME, or NULL after usage (*status). */
static const char *parse_name_verb(const char *cmd, int argc, char **argv, MgmtCommon *m,
                                   void (*help)(FILE *), int *status)
{
    static const struct option longopts[] = {COMMON_LONGOPTS, {0}};
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        if (c == 'h') {
            help(stdout);
            *status = 0;
            return NULL;
        }
        if (!common_option(m, c, optarg)) {
            *status = cli_usage(cmd, "unknown option '%s'", argv[optind - 1]);
            return NULL;
        }
    }
    if (optind != argc - 1) {
        *status = cli_usage(cmd, "expected one VM name");
        return NULL;
    }
    return mgmt_client_split_vm(argv[optind]); /* REMOTE:VM */
}

/* ---- create ---- */

typedef struct CreateOptions {
    MgmtCommon common;
    json_t *body;                      /* {"name", "description"?, "config": {...}} */
    json_t *config;                    /* body's config (borrowed) */
    VmConfig nics;                     /* the --net cards, parsed as `hostel run` does */
    bool mac_given[VMCONFIG_MAX_NICS]; /* the card's --net had mac= */
    bool net_given, net_none;
    json_t *new_volumes; /* --disk SIZE: [{"disk": index, "size", "format"}] made before the VM */
} CreateOptions;

static void create_help(FILE *out)
{
    fprintf(out,
            "usage: hostel create NAME [options]\n"
            "\n"
            "Define a VM in hosteld (it is not started).  What is not given takes the\n"
            "defaults of 'hostel run': 128 MiB, one hart, one user-mode NIC, and without\n"
            "--kernel the default guest (docs/mgmt.md).\n"
            "\n"
            "options:\n"
            "      --cpus N          harts (1 to 8)\n"
            "      --memory SIZE     RAM, e.g. 512M or 1G (a number alone is MiB)\n"
            "      --disk DISK[,ro][,format=raw|qcow2]   a disk (repeatable): POOL/VOL or VOL\n"
            "                        (a volume of the default pool), SIZE (a new qcow2\n"
            "                        volume NAME-diskN of that size in the default pool), or\n"
            "                        /ABSOLUTE/PATH (an image file as the daemon sees it)\n"
            "      --label KEY=VALUE a label (repeatable; KEY of [a-z0-9._/-])\n"
            "      --autostart       start the VM whenever hosteld starts\n"
            "      --restart POLICY  when its VMM ends unasked: no (default), on-failure, always\n"
            "      --net SPEC        a NIC as 'hostel run --net': user[,hostfwd=...],\n"
            "                        tap,ifname=NAME, network,name=NET[,vlan=V|,trunk=V:V..]\n"
            "                        (a port of a hosteld network: 'hostel network'), or\n"
            "                        none (repeatable)\n"
            "      --display WIDTHxHEIGHT|none   the screen (virtio-gpu, a keyboard and a\n"
            "                        tablet; seen through VNC and the web console): 1024x768\n"
            "                        by default, W and H 16 to 4095; none: no screen\n"
            "      --kernel FILE     the kernel (else the default guest)\n"
            "      --initrd FILE     its initramfs\n"
            "      --cmdline TEXT    its command line\n"
            "      --description TEXT\n"
            "%s",
            common_help);
}

static json_t *config_boot(CreateOptions *o)
{
    json_t *boot = json_object_get(o->config, "boot");
    if (!boot) {
        boot = json_object();
        json_object_set_new(o->config, "boot", boot);
    }
    return boot;
}

/* A --disk's first field as a disks[] item: a host path, a new volume (SIZE), or a volume. */
static json_t *disk_item(CreateOptions *o, const char *what, size_t index)
{
    uint64_t bytes;
    if (what[0] == '/')
        return json_pack("{s:s}", "path", what);
    if (what[0] >= '0' && what[0] <= '9' &&
        size_parse(what, SIZE_PLAIN_MIB | SIZE_LONG_UNITS, &bytes, NULL) == 0) {
        if (!o->new_volumes)
            o->new_volumes = json_array();
        json_array_append_new(o->new_volumes, json_pack("{s:I, s:I}", "disk", (json_int_t)index,
                                                        "size", (json_int_t)bytes));
        return json_object(); /* its volume is named once the VM's name is known */
    }
    return json_pack("{s:s}", "volume", what);
}

/* --disk DISK[,ro][,format=F] as a disks[] item. */
static int create_disk(CreateOptions *o, const char *arg)
{
    char *copy = strdup(arg), *save = NULL;
    char *what = copy ? strtok_r(copy, ",", &save) : NULL;
    json_t *disks = json_object_get(o->config, "disks");
    if (!disks)
        json_object_set_new(o->config, "disks", disks = json_array());
    json_t *d = what ? disk_item(o, what, json_array_size(disks)) : NULL;
    json_t *fresh = json_array_get(o->new_volumes, json_array_size(o->new_volumes) - 1);
    bool is_new = fresh && json_integer_value(json_object_get(fresh, "disk")) ==
                               (json_int_t)json_array_size(disks);
    int status =
        d ? 0 : cli_usage("create", "--disk '%s': expected a volume, a size or a path", arg);
    for (char *opt; status == 0 && (opt = strtok_r(NULL, ",", &save));) {
        if (strcmp(opt, "ro") == 0)
            json_object_set_new(d, "read-only", json_true());
        else if (strncmp(opt, "format=", 7) == 0)
            json_object_set_new(is_new ? fresh : d, "format", json_string(opt + 7));
        else
            status =
                cli_usage("create", "--disk '%s': unknown option '%s' (ro, format=)", arg, opt);
    }
    if (status == 0)
        json_array_append(disks, d);
    json_decref(d);
    free(copy);
    return status;
}

/* --net SPEC, read by the same parser as `hostel run --net`. */
static int create_net(CreateOptions *o, const char *arg)
{
    Error err = {0};
    NetConfig n;
    o->net_given = true;
    if (strcmp(arg, "none") == 0) {
        o->net_none = true;
        return 0;
    }
    if (net_config_parse_nic(&n, arg, o->nics.nnics, &err) < 0) /* the message names --net */
        return cli_usage("create", "%s", err.msg);
    if (o->nics.nnics < VMCONFIG_MAX_NICS)
        o->mac_given[o->nics.nnics] = strncmp(arg, "mac=", 4) == 0 || strstr(arg, ",mac=");
    if (vmconfig_add_nic(&o->nics, &n, &err) < 0)
        return cli_usage("create", "--net '%s': %s", arg, err.msg);
    return 0;
}

static int create_size(CreateOptions *o, const char *arg)
{
    uint64_t bytes;
    Error err = {0};
    if (size_parse(arg, SIZE_PLAIN_MIB | SIZE_LONG_UNITS, &bytes, &err) < 0)
        return cli_usage("create", "--memory '%s': %s", arg, err.msg);
    json_object_set_new(o->config, "ram-size", json_integer((json_int_t)bytes));
    return 0;
}

static int create_cpus(CreateOptions *o, const char *arg)
{
    char *end;
    long n = strtol(arg, &end, 10);
    if (*end || end == arg || n < 1 || n > 1024)
        return cli_usage("create", "--cpus '%s': not a number of harts", arg);
    json_object_set_new(o->config, "harts", json_integer(n));
    return 0;
}

/* --label KEY=VALUE into the body's labels (the daemon checks the key). */
static int create_label(CreateOptions *o, const char *arg)
{
    const char *eq = strchr(arg, '=');
    if (!eq || eq == arg)
        return cli_usage("create", "--label '%s': expected KEY=VALUE", arg);
    json_t *labels = json_object_get(o->body, "labels");
    if (!labels)
        json_object_set_new(o->body, "labels", labels = json_object());
    char key[128];
    snprintf(key, sizeof(key), "%.*s", (int)(eq - arg), arg);
    return json_object_set_new(labels, key, json_string(eq + 1));
}

/* --display WIDTHxHEIGHT|none as config.display (the daemon's codec checks the range). */
static int create_display(CreateOptions *o, const char *arg)
{
    unsigned w, h;
    char extra;
    if (strcmp(arg, "none") == 0)
        return json_object_set_new(o->config, "display", json_pack("{s:b}", "enabled", 0));
    if (sscanf(arg, "%ux%u%c", &w, &h, &extra) != 2 || arg[0] < '0' || arg[0] > '9')
        return cli_usage("create", "--display '%s': expected WIDTHxHEIGHT (e.g. 1280x800) or none",
                         arg);
    return json_object_set_new(o->config, "display",
                               json_pack("{s:i, s:i}", "width", (int)w, "height", (int)h));
}

static int create_option(CreateOptions *o, int c, const char *arg)
{
    switch (c) {
    case OPT_CPUS: return create_cpus(o, arg);
    case OPT_MEMORY: return create_size(o, arg);
    case OPT_DISK: return create_disk(o, arg);
    case OPT_NET: return create_net(o, arg);
    case OPT_KERNEL: return json_object_set_new(config_boot(o), "kernel", json_string(arg));
    case OPT_INITRD: return json_object_set_new(config_boot(o), "initrd", json_string(arg));
    case OPT_CMDLINE: return json_object_set_new(config_boot(o), "cmdline", json_string(arg));
    case OPT_DESC: return json_object_set_new(o->body, "description", json_string(arg));
    case OPT_AUTOSTART: return json_object_set_new(o->body, "autostart", json_true());
    case OPT_RESTART: return json_object_set_new(o->body, "restart", json_string(arg));
    case OPT_LABEL: return create_label(o, arg);
    case OPT_DISPLAY: return create_display(o, arg);
    default:
        if (common_option(&o->common, c, arg))
            return 0;
        return CLI_EXIT_USAGE;
    }
}

/* The cards of --net as the codec writes them, into config.nics. */
static int create_nics(CreateOptions *o)
{
    if (!o->net_given)
        return 0;
    if (o->net_none && o->nics.nnics)
        return cli_usage("create", "--net none cannot be given with other cards");
    json_t *all = vmconfig_to_json(&o->nics);
    json_t *nics = all ? json_object_get(all, "nics") : NULL;
    for (unsigned i = 0; nics && i < o->nics.nnics; i++) /* hosteld gives it a fresh one */
        if (o->nics.nics[i].kind == NET_NETWORK && !o->mac_given[i])
            json_object_del(json_array_get(nics, i), "mac");
    if (nics)
        json_object_set(o->config, "nics", nics);
    json_decref(all);
    return nics ? 0 : cli_usage("create", "out of memory");
}

static int create_parse(CreateOptions *o, int argc, char **argv)
{
    static const struct option longopts[] = {
        COMMON_LONGOPTS,
        {"cpus", required_argument, NULL, OPT_CPUS},
        {"memory", required_argument, NULL, OPT_MEMORY},
        {"disk", required_argument, NULL, OPT_DISK},
        {"net", required_argument, NULL, OPT_NET},
        {"kernel", required_argument, NULL, OPT_KERNEL},
        {"initrd", required_argument, NULL, OPT_INITRD},
        {"cmdline", required_argument, NULL, OPT_CMDLINE},
        {"description", required_argument, NULL, OPT_DESC},
        {"autostart", no_argument, NULL, OPT_AUTOSTART},
        {"restart", required_argument, NULL, OPT_RESTART},
        {"label", required_argument, NULL, OPT_LABEL},
        {"display", required_argument, NULL, OPT_DISPLAY},
        {0},
    };
    int c, r;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        if (c == 'h') {
            create_help(stdout);
            return -1;
        }
        if (c == '?')
            return cli_usage("create", "unknown option '%s'", argv[optind - 1]);
        if ((r = create_option(o, c, optarg)) != 0)
            return r;
    }
    if (optind != argc - 1)
        return cli_usage("create", "expected one VM name");
    json_object_set_new(o->body, "name", json_string(mgmt_client_split_vm(argv[optind])));
    return create_nics(o);
}

/* The volumes of --disk SIZE, made in the default pool as NAME-diskN; false after an error. */
static bool create_volumes(CreateOptions *o, const char *name, json_t *made)
{
    size_t i;
    json_t *v;
    json_t *disks = json_object_get(o->config, "disks");
    json_array_foreach(o->new_volumes, i, v)
    {
        char vol[96];
        json_int_t index = json_integer_value(json_object_get(v, "disk"));
        snprintf(vol, sizeof(vol), "%s-disk%lld", name, (long long)index);
        json_t *body =
            json_pack("{s:s, s:O, s:s}", "name", vol, "size", json_object_get(v, "size"), "format",
                      json_string_value(json_object_get(v, "format")) ?: "qcow2");
        json_t *r = call(&o->common, "POST", "/1.0/storage-pools/default/volumes", body);
        json_decref(body);
        if (!r)
            return false;
        json_decref(r);
        json_array_append_new(made, json_string(vol));
        char ref[120];
        snprintf(ref, sizeof(ref), "default/%s", vol);
        json_object_set_new(json_array_get(disks, (size_t)index), "volume", json_string(ref));
    }
    return true;
}

/* A failed create takes back the volumes it made. */
static void create_undo_volumes(CreateOptions *o, json_t *made)
{
    size_t i;
    json_t *v;
    json_array_foreach(made, i, v)
    {
        char path[200];
        snprintf(path, sizeof(path), "/1.0/storage-pools/default/volumes/%s", json_string_value(v));
        json_decref(call(&o->common, "DELETE", path, NULL));
    }
}

static int create_run(int argc, char **argv)
{
    CreateOptions o = {.body = json_object(), .config = json_object()};
    vmconfig_default(&o.nics);
    json_object_set(o.body, "config", o.config);
    int r = create_parse(&o, argc, argv);
    json_t *made = json_array();
    const char *name = json_string_value(json_object_get(o.body, "name"));
    Error err = {0};
    if (r == 0 && !mgmt_name_check(name, &err)) /* as the daemon would say, before any volume */
        r = cli_fail(&err);
    if (r == 0) {
        json_t *vm =
            create_volumes(&o, name, made) ? call(&o.common, "POST", "/1.0/vms", o.body) : NULL;
        if (!vm)
            create_undo_volumes(&o, made);
        if (vm && o.common.json)
            print_json(vm);
        else if (vm)
            printf("created %s (%s)\n", json_string_value(json_object_get(vm, "name")),
                   json_string_value(json_object_get(vm, "uuid")));
        r = vm ? 0 : CLI_EXIT_FAIL;
        json_decref(vm);
    }
    json_decref(made);
    json_decref(o.new_volumes);
    vmconfig_free(&o.nics);
    json_decref(o.config);
    json_decref(o.body);
    return r < 0 ? 0 : r;
}

/* ---- list ---- */

static void list_help(FILE *out)
{
    fprintf(out,
            "usage: hostel list [options]\n"
            "\n"
            "The VMs hosteld knows, as a table (NAME, STATE, CPUS, MEMORY), sorted by name.\n"
            "Definitions found broken on disk are reported after the table.\n"
            "\noptions:\n%s",
            common_help);
}

/* "128M", "1.5G": RAM for a person. */
static void human_size(char *buf, size_t size, uint64_t bytes)
{
    static const char units[] = "KMGT";
    double v = (double)bytes / 1024;
    int u = 0;
    while (v >= 1024 && u < 3) {
        v /= 1024;
        u++;
    }
    snprintf(buf, size, v == (double)(uint64_t)v ? "%.0f%c" : "%.1f%c", v, units[u]);
}

/* 42s, 5m12s, 3h04m, 2d07h. */
static void human_duration(char *buf, size_t size, double s)
{
    long t = (long)s;
    if (t < 60)
        snprintf(buf, size, "%lds", t);
    else if (t < 3600)
        snprintf(buf, size, "%ldm%02lds", t / 60, t % 60);
    else if (t < 86400)
        snprintf(buf, size, "%ldh%02ldm", t / 3600, t % 3600 / 60);
    else
        snprintf(buf, size, "%ldd%02ldh", t / 86400, t % 86400 / 3600);
}

/* A running VM's first IPv4 address as its guest agent reports it (GET /1.0/vms/NAME). */
static bool vm_agent_ipv4(const MgmtCommon *m, const char *name, char *buf, size_t size)
{
    char path[512];
    vm_path(path, sizeof(path), name);
    MgmtReply r;
    MgmtTarget t;
    bool no_daemon, found = false;
    if (mgmt_client_target(&t, m->socket, NULL, NULL) < 0 ||
        mgmt_client_call_target(&t, "GET", path, NULL, &r, &no_daemon, NULL) < 0)
        return false;
    size_t i;
    json_t *a;
    json_array_foreach(json_object_get(r.body, "addresses"), i, a)
    {
        const char *family = json_string_value(json_object_get(a, "family"));
        const char *addr = json_string_value(json_object_get(a, "address"));
        if (!found && family && addr && strcmp(family, "ipv4") == 0) {
            snprintf(buf, size, "%s", addr);
            found = true;
        }
    }
    mgmt_reply_free(&r);
    return found;
}

/*
 * A running VM's first IPv4 address as its VMM learned it from the guest's
 * frames, else as its guest agent reports it, or "-".
 */
static void vm_ipv4(const MgmtCommon *m, const char *name, char *buf, size_t size)
{
    char path[512];
    snprintf(buf, size, "-");
    vm_path(path, sizeof(path), name);
    strcat(path, "/state");
    MgmtReply r;
    MgmtTarget t;
    bool no_daemon;
    if (mgmt_client_target(&t, m->socket, NULL, NULL) < 0 ||
        mgmt_client_call_target(&t, "GET", path, NULL, &r, &no_daemon, NULL) < 0)
        return;
    size_t i;
    json_t *nic;
    json_array_foreach(json_object_get(json_object_get(r.body, "stats"), "nics"), i, nic)
    {
        const char *ip = json_string_value(json_object_get(nic, "ipv4"));
        if (ip) {
            snprintf(buf, size, "%s", ip);
            break;
        }
    }
    mgmt_reply_free(&r);
}

static void list_print(const MgmtCommon *m, const json_t *list)
{
    size_t i;
    json_t *vm, *b;
    printf("%-24s %-10s %4s %8s %-15s %10s\n", "NAME", "STATE", "CPUS", "MEMORY", "IP", "UPTIME");
    json_array_foreach(json_object_get(list, "vms"), i, vm)
    {
        json_t *cfg = json_object_get(vm, "config");
        char mem[32], up[32] = "-";
        human_size(mem, sizeof(mem),
                   (uint64_t)json_integer_value(json_object_get(cfg, "ram-size")));
        json_t *u = json_object_get(vm, "uptime_s");
        char ip[32] = "-";
        if (u) { /* it runs: its VMM may know its address */
            human_duration(up, sizeof(up), json_number_value(u));
            const char *name = json_string_value(json_object_get(vm, "name"));
            vm_ipv4(m, name, ip, sizeof(ip));
            if (strcmp(ip, "-") == 0)
                vm_agent_ipv4(m, name, ip, sizeof(ip));
        }
        printf("%-24s %-10s %4" JSON_INTEGER_FORMAT " %8s %-15s %10s\n",
               json_string_value(json_object_get(vm, "name")),
               json_string_value(json_object_get(vm, "state")),
               json_integer_value(json_object_get(cfg, "harts")), mem, ip, up);
    }
    json_array_foreach(json_object_get(list, "broken"), i, b)
    {
        fprintf(stderr, "hostel: broken definition %s: %s\n",
                json_string_value(json_object_get(b, "file")),
                json_string_value(json_object_get(b, "message")));
    }
}

static int list_run(int argc, char **argv)
{
    static const struct option longopts[] = {COMMON_LONGOPTS, {0}};
    MgmtCommon m = {0};
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        if (c == 'h') {
            list_help(stdout);
            return 0;
        }
        if (!common_option(&m, c, optarg))
            return cli_usage("list", "unknown option '%s'", argv[optind - 1]);
    }
    if (optind != argc)
        return cli_usage("list", "unexpected argument '%s'", argv[optind]);
    json_t *list = call(&m, "GET", "/1.0/vms?recursion=1", NULL);
    if (!list)
        return CLI_EXIT_FAIL;
    if (m.json)
        print_json(list);
    else
        list_print(&m, list);
    json_decref(list);
    return 0;
}

/* ---- info ---- */

static void info_help(FILE *out)
{
    fprintf(out,
            "usage: hostel info NAME [options]\n"
            "\nOne VM's definition: identity, state, CPUs, memory, boot, disks and NICs.\n"
            "\noptions:\n%s",
            common_help);
}

static void info_print_devices(const json_t *cfg)
{
    size_t i;
    json_t *d;
    json_array_foreach(json_object_get(cfg, "disks"), i, d)
    {
        printf("disk %zu:      %s%s\n", i, json_string_value(json_object_get(d, "path")),
               json_is_true(json_object_get(d, "read-only")) ? " (read-only)" : "");
    }
    json_array_foreach(json_object_get(cfg, "nics"), i, d)
    {
        const char *net = json_string_value(json_object_get(d, "network"));
        printf("nic %zu:       %s%s%s, mac %s\n", i, json_string_value(json_object_get(d, "kind")),
               net ? " " : "", net ? net : "", json_string_value(json_object_get(d, "mac")));
    }
}

static void info_print(const json_t *vm)
{
    const json_t *cfg = json_object_get(vm, "config"), *boot = json_object_get(cfg, "boot");
    char mem[32];
    const char *s;
    human_size(mem, sizeof(mem), (uint64_t)json_integer_value(json_object_get(cfg, "ram-size")));
    printf("name:        %s\n", json_string_value(json_object_get(vm, "name")));
    printf("uuid:        %s\n", json_string_value(json_object_get(vm, "uuid")));
    printf("state:       %s\n", json_string_value(json_object_get(vm, "state")));
    if ((s = json_string_value(json_object_get(vm, "description"))) && *s)
        printf("description: %s\n", s);
    printf("autostart:   %s\n", json_is_true(json_object_get(vm, "autostart")) ? "yes" : "no");
    const char *key;
    json_t *value;
    json_object_foreach(json_object_get(vm, "labels"), key, value)
        printf("label:       %s=%s\n", key, json_string_value(value));
    printf("cpus:        %" JSON_INTEGER_FORMAT "\n",
           json_integer_value(json_object_get(cfg, "harts")));
    printf("memory:      %s\n", mem);
    size_t i;
    json_t *a;
    json_array_foreach(json_object_get(vm, "addresses"), i, a) /* from the guest agent */
        printf("address:     %s/%" JSON_INTEGER_FORMAT " (%s)\n",
               json_string_value(json_object_get(a, "address")),
               json_integer_value(json_object_get(a, "prefix")),
               json_string_value(json_object_get(a, "interface")));
    if ((s = json_string_value(json_object_get(boot, "kernel"))))
        printf("kernel:      %s\n", s);
    if ((s = json_string_value(json_object_get(boot, "initrd"))))
        printf("initrd:      %s\n", s);
    if ((s = json_string_value(json_object_get(boot, "cmdline"))))
        printf("cmdline:     %s\n", s);
    info_print_devices(cfg);
}

static int info_run(int argc, char **argv)
{
    MgmtCommon m = {0};
    int status = CLI_EXIT_USAGE;
    const char *name = parse_name_verb("info", argc, argv, &m, info_help, &status);
    if (!name)
        return status;
    char path[512];
    vm_path(path, sizeof(path), name);
    json_t *vm = call(&m, "GET", path, NULL);
    if (!vm)
        return CLI_EXIT_FAIL;
    if (m.json)
        print_json(vm);
    else
        info_print(vm);
    json_decref(vm);
    return 0;
}

/* ---- delete ---- */

static void delete_help(FILE *out)
{
    fprintf(out,
            "usage: hostel delete NAME [options]\n"
            "\nDelete a VM's definition from hosteld (the VM must be stopped), with its logs\n"
            "and saved state.  Its disks are left alone unless --purge.\n"
            "\noptions:\n"
            "      --purge           also delete the volumes that are its disks and no other\n"
            "                        VM uses (host image files are never deleted)\n%s",
            common_help);
}

enum { OPT_PURGE = 310 };

static int delete_run(int argc, char **argv)
{
    static const struct option longopts[] = {
        COMMON_LONGOPTS, {"purge", no_argument, NULL, OPT_PURGE}, {0}};
    MgmtCommon m = {0};
    bool purge = false;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        if (c == 'h') {
            delete_help(stdout);
            return 0;
        }
        if (c == OPT_PURGE)
            purge = true;
        else if (!common_option(&m, c, optarg))
            return cli_usage("delete", "unknown option '%s'", argv[optind - 1]);
    }
    if (optind != argc - 1)
        return cli_usage("delete", "expected one VM name");
    const char *name = mgmt_client_split_vm(argv[optind]); /* REMOTE:VM */
    char path[512];
    vm_path(path, sizeof(path), name);
    if (purge)
        strcat(path, "?purge=1");
    json_t *r = call(&m, "DELETE", path, NULL);
    if (!r)
        return CLI_EXIT_FAIL;
    size_t i;
    json_t *v;
    if (m.json)
        print_json(r);
    else
        printf("deleted %s\n", name);
    json_array_foreach(m.json ? NULL : json_object_get(r, "purged"), i, v)
        printf("deleted volume %s\n", json_string_value(v));
    json_decref(r);
    return 0;
}

const Command cmd_create = {
    .name = "create",
    .run = create_run,
    .help = create_help,
    .summary = "define a VM in hosteld",
};
const Command cmd_list = {
    .name = "list",
    .run = list_run,
    .help = list_help,
    .summary = "list the VMs hosteld knows",
};
const Command cmd_info = {
    .name = "info",
    .run = info_run,
    .help = info_help,
    .summary = "show one VM's definition",
};
const Command cmd_delete = {
    .name = "delete",
    .run = delete_run,
    .help = delete_help,
    .summary = "delete a VM's definition from hosteld",
};

/* ---- the lifecycle: start, stop, reboot (and pause, resume, suspend, snapshot via cmd_ctl) ---- */

/*
 * Wait for the operation op (a 202's body) to end, asking the daemon
 * every two seconds (a line on a terminal says what it waits for).  The
 * ended operation (a new reference) when it succeeded, else NULL after
 * printing its error.  Ctrl-C leaves the operation running on the daemon.
 */
static json_t *wait_operation(const MgmtCommon *m, const json_t *op)
{
    const char *id = json_string_value(json_object_get(op, "id"));
    const char *what = json_string_value(json_object_get(op, "description"));
    char path[160];
    if (!id) {
        fprintf(stderr, "hostel: the daemon answered without an operation\n");
        return NULL;
    }
    snprintf(path, sizeof(path), "/1.0/operations/%s/wait?timeout=2", id);
    bool tty = isatty(STDERR_FILENO), said = false;
    for (;;) {
        json_t *now = call(m, "GET", path, NULL);
        const char *status = json_string_value(json_object_get(now, "status"));
        if (!now || !status || strcmp(status, "running") != 0) {
            if (said)
                fprintf(stderr, "\n");
            if (now && status && strcmp(status, "success") == 0)
                return now;
            if (now)
                fprintf(stderr, "hostel: %s: %s\n", what ? what : "the operation",
                        json_string_value(json_object_get(now, "err")) ?: status ?: "?");
            json_decref(now);
            return NULL;
        }
        json_t *pct = json_object_get(json_object_get(now, "progress"), "percent");
        if (tty && pct) /* one line, rewritten: what, and how far when the work says */
            fprintf(stderr, "\r%s (operation %.8s)... %3d%%", what ? what : "waiting", id,
                    (int)json_integer_value(pct));
        else if (tty)
            fprintf(stderr, "\r%s (operation %.8s)...", what ? what : "waiting", id);
        else if (pct) /* plain lines for logs */
            fprintf(stderr, "%s: %d%%\n", what ? what : id, (int)json_integer_value(pct));
        said = tty;
        json_decref(now);
    }
}

/* PUT the action on NAME's state and wait; 0 or an exit status. */
static int state_action(const MgmtCommon *m, const char *name, json_t *body, bool wait)
{
    char path[512];
    vm_path(path, sizeof(path), name);
    strcat(path, "/state");
    json_t *op = call(m, "PUT", path, body);
    json_t *done = op && wait ? wait_operation(m, op) : NULL;
    if (op && (done || !wait) && m->json)
        print_json(done ? done : op);
    int rc = op && (done || !wait) ? 0 : CLI_EXIT_FAIL;
    json_decref(op);
    json_decref(done);
    return rc;
}

static void action_help(FILE *out, const char *verb, const char *what, const char *options)
{
    fprintf(out,
            "usage: hostel %s NAME [options]\n\n%s\n"
            "The command waits for the operation to end (Ctrl-C stops waiting, not the\n"
            "operation); --no-wait prints the operation and returns at once.\n"
            "\noptions:\n%s"
            "      --no-wait         do not wait for the operation to end\n%s",
            verb, what, options, common_help);
}

static void start_help(FILE *out)
{
    action_help(out, "start",
                "Start a VM defined in hosteld: its VMM runs in its own process, which\n"
                "a restart of hosteld leaves running.  A VM that 'hostel suspend' saved\n"
                "resumes where it was.\n",
                "");
}

static void stop_help(FILE *out)
{
    action_help(out, "stop",
                "Stop a running VM: its power button is pressed and the guest given\n"
                "--timeout seconds to shut down; then (or at once with --force) its VMM\n"
                "is ended.  A stopped VM is not restarted by its restart policy.\n",
                "      --force           end the VMM at once (as pulling the plug)\n"
                "      --timeout SEC     how long the guest may take to power off (default 60)\n");
}

static void reboot_help(FILE *out)
{
    action_help(out, "reboot",
                "Restart a running VM: stop it (gracefully unless --force, as 'hostel\n"
                "stop'), then start it with its definition as it is now.\n",
                "      --force           do not wait for the guest to shut down\n"
                "      --timeout SEC     how long the guest may take to power off (default 60)\n");
}

enum { OPT_FORCE = 300, OPT_TIMEOUT, OPT_NO_WAIT };

/* start, stop, reboot NAME [--force] [--timeout SEC] [--no-wait]. */
static int action_main(const char *verb, int argc, char **argv, void (*help)(FILE *))
{
    static const struct option longopts[] = {COMMON_LONGOPTS,
                                             {"force", no_argument, NULL, OPT_FORCE},
                                             {"timeout", required_argument, NULL, OPT_TIMEOUT},
                                             {"no-wait", no_argument, NULL, OPT_NO_WAIT},
                                             {0}};
    MgmtCommon m = {0};
    bool force = false, wait = true, start = strcmp(verb, "start") == 0;
    long timeout = -1;
    char *end;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        if (c == 'h') {
            help(stdout);
            return 0;
        } else if (c == OPT_FORCE && !start) {
            force = true;
        } else if (c == OPT_TIMEOUT && !start) {
            timeout = strtol(optarg, &end, 10);
            if (*end || end == optarg || timeout < 0 || timeout > 3600)
                return cli_usage(verb, "--timeout '%s': expected seconds, 0 to 3600", optarg);
        } else if (c == OPT_NO_WAIT) {
            wait = false;
        } else if (!common_option(&m, c, optarg)) {
            return cli_usage(verb, "unknown option '%s'", argv[optind - 1]);
        }
    }
    if (optind != argc - 1)
        return cli_usage(verb, "expected one VM name");
    json_t *body = json_pack("{s:s}", "action", verb);
    if (force)
        json_object_set_new(body, "force", json_true());
    if (timeout >= 0)
        json_object_set_new(body, "timeout", json_integer(timeout));
    const char *name = mgmt_client_split_vm(argv[optind]); /* REMOTE:VM */
    int rc = state_action(&m, name, body, wait);
    json_decref(body);
    if (rc == 0 && !m.json && wait)
        printf("%s: %s\n", name,
               start                       ? "started"
               : strcmp(verb, "stop") == 0 ? "stopped"
                                           : "rebooted");
    return rc;
}

static int start_run(int argc, char **argv)
{
    return action_main("start", argc, argv, start_help);
}

static int stop_run(int argc, char **argv)
{
    return action_main("stop", argc, argv, stop_help);
}

static int reboot_run(int argc, char **argv)
{
    return action_main("reboot", argc, argv, reboot_help);
}

json_t *mgmt_cli_wait(const char *socket, const json_t *op)
{
    MgmtCommon m = {.socket = socket};
    return wait_operation(&m, op);
}

bool mgmt_cli_knows(const char *name)
{
    char path[512];
    MgmtReply r;
    MgmtTarget t;
    bool no_daemon;
    if (strchr(name, '/'))
        return false; /* a control socket's path */
    if (strchr(name, ':'))
        return true; /* REMOTE:VM: only a daemon can answer */
    vm_path(path, sizeof(path), name);
    if (mgmt_client_target(&t, NULL, NULL, NULL) < 0 ||
        mgmt_client_call_target(&t, "GET", path, NULL, &r, &no_daemon, NULL) < 0)
        return false;
    bool known = r.status == 200;
    mgmt_reply_free(&r);
    return known;
}

int mgmt_cli_simple_action(const char *name, const char *action)
{
    MgmtCommon m = {0};
    name = mgmt_client_split_vm(name); /* REMOTE:VM */
    json_t *body = json_pack("{s:s}", "action", action);
    int rc = state_action(&m, name, body, true);
    json_decref(body);
    return rc;
}

int mgmt_cli_snapshot(const char *op, const char *name, const char *snapshot)
{
    MgmtCommon m = {0};
    name = mgmt_client_split_vm(name); /* REMOTE:VM */
    char path[512], esc_path[700];
    vm_path(path, sizeof(path), name);
    char *esc = snapshot ? curl_easy_escape(NULL, snapshot, 0) : NULL;
    json_t *r = NULL, *body = NULL;
    if (strcmp(op, "list") == 0) {
        snprintf(esc_path, sizeof(esc_path), "%s/snapshots", path);
        r = call(&m, "GET", esc_path, NULL);
        if (r)
            print_json(r);
    } else {
        bool create = strcmp(op, "create") == 0;
        snprintf(esc_path, sizeof(esc_path), "%s/snapshots%s%s%s", path, create ? "" : "/",
                 create ? ""
                 : esc  ? esc
                        : "",
                 strcmp(op, "revert") == 0 ? "/revert" : "");
        body = create ? json_pack("{s:s}", "name", snapshot) : NULL;
        json_t *opj = call(&m, strcmp(op, "delete") == 0 ? "DELETE" : "POST", esc_path, body);
        r = opj ? wait_operation(&m, opj) : NULL;
        json_decref(opj);
    }
    curl_free(esc);
    json_decref(body);
    int rc = r ? 0 : CLI_EXIT_FAIL;
    json_decref(r);
    return rc;
}

int mgmt_cli_clone(const char *src, const char *name, bool linked)
{
    MgmtCommon m = {0};
    char path[512];
    src = mgmt_client_split_vm(src); /* REMOTE:VM */
    vm_path(path, sizeof(path), src);
    strcat(path, "/clones");
    json_t *body = json_pack("{s:s, s:b}", "name", name, "linked", linked);
    json_t *op = call(&m, "POST", path, body);
    json_t *done = op ? wait_operation(&m, op) : NULL;
    json_decref(body);
    json_decref(op);
    if (done)
        printf("cloned %s to %s (%s%s)\n", src, name, linked ? "linked" : "full",
               json_is_true(json_object_get(json_object_get(done, "result"), "suspended"))
                   ? "; 'hostel start' resumes it where the source was"
                   : "");
    int rc = done ? 0 : CLI_EXIT_FAIL;
    json_decref(done);
    return rc;
}

const Command cmd_start = {
    .name = "start",
    .run = start_run,
    .help = start_help,
    .summary = "start a VM hosteld knows (or resume a suspended one)",
};
const Command cmd_stop = {
    .name = "stop",
    .run = stop_run,
    .help = stop_help,
    .summary = "stop a VM: its guest shuts down, or is forced after a timeout",
};
const Command cmd_reboot = {
    .name = "reboot",
    .run = reboot_run,
    .help = reboot_help,
    .summary = "stop a VM, then start it again",
};
