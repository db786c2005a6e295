/*
 * `hostel volume VERB` and `hostel pool VERB`: thin clients of hosteld's
 * storage API (docs/cli.md, docs/api.md, /1.0/storage-pools) over its unix
 * socket (mgmt_client.c), in the manner of cmd_mgmt.c: a table or a line
 * for a person, the API's JSON with --json, an error from the daemon as
 * its one-line message with exit status 1.
 *
 * A volume is named POOL/VOL, or VOL alone in the default pool.  Host
 * files (import, export) are made absolute here, since the daemon does
 * not share our working directory.
 */
#include <curl/curl.h>
#include <getopt.h>
#include <jansson.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>
#include <unistd.h>

#include "cli.h"
#include "mgmt_client.h"
#include "util/compiler.h"
#include "util/size.h"

#define DEFAULT_POOL "default"

enum { OPT_SOCKET = 256, OPT_JSON, OPT_SIZE, OPT_FORMAT, OPT_BACKING, OPT_LINKED, OPT_SHRINK };

/* What a verb was given: the common options and its own, then its operands. */
typedef struct VolArgs {
    const char *socket;
    bool json;
    const char *size, *format, *backing;
    bool linked, shrink;
    char **operands;
    int noperands;
} VolArgs;

/* One verb of `hostel volume` or `hostel pool`. */
typedef struct VolVerb {
    const char *name;
    int (*run)(const VolArgs *a);
    const char *operands; /* for usage lines */
    int min, max;         /* how many operands */
    unsigned options;     /* which of OPT_SIZE... it takes (bit OPT_x - OPT_SIZE) */
} VolVerb;

#define TAKES(o) (1u << ((o)-OPT_SIZE))

static const char common_help[] =
    "      --socket PATH     hosteld's socket (default $HOSTEL_SOCKET, else\n"
    "                        /run/hostel/hosteld.sock as root,\n"
    "                        $XDG_RUNTIME_DIR/hostel/hosteld.sock otherwise)\n"
    "      --json            print the API's JSON instead of text\n"
    "  -h, --help            show this help and exit\n";

/* ---- calling the daemon (as cmd_mgmt.c) ---- */

/* method path (body when not NULL); the reply's body when 2xx, else NULL after printing why. */
static json_t *call(const VolArgs *a, const char *method, const char *path, json_t *body)
{
    return mgmt_client_json(a->socket, method, path, body);
}

/* reply is an operation (202): wait for it; the ended operation, or NULL after an error. */
static json_t *call_wait(const VolArgs *a, json_t *reply)
{
    if (!reply || !json_object_get(reply, "class"))
        return reply;
    json_t *done = mgmt_cli_wait(a->socket, reply);
    json_decref(reply);
    return done;
}

static void print_json(const json_t *j)
{
    mgmt_client_print_json(j);
}

/* Print the reply (--json) or nothing; 0 when there was one, else CLI_EXIT_FAIL. */
static int finish(const VolArgs *a, json_t *reply)
{
    if (!reply)
        return CLI_EXIT_FAIL;
    if (a->json)
        print_json(reply);
    json_decref(reply);
    return 0;
}

/* "/1.0/storage-pools/POOL" + suffix, each name escaped, into buf. */
static void pool_path(char *buf, size_t size, const char *pool, const char *suffix)
{
    char *esc = curl_easy_escape(NULL, pool, 0);
    snprintf(buf, size, "/1.0/storage-pools/%s%s", esc ? esc : "", suffix);
    curl_free(esc);
}

/* The API path of volume POOL/VOL (or VOL in the default pool) + suffix into buf. */
static void volume_path(char *buf, size_t size, const char *spec, const char *suffix)
{
    const char *slash = strchr(spec, '/');
    char pool[128], *vol = curl_easy_escape(NULL, slash ? slash + 1 : spec, 0);
    snprintf(pool, sizeof(pool), "%.*s", slash ? (int)(slash - spec) : 7,
             slash ? spec : DEFAULT_POOL);
    char *p = curl_easy_escape(NULL, pool, 0);
    snprintf(buf, size, "/1.0/storage-pools/%s/volumes/%s%s", p ? p : "", vol ? vol : "", suffix);
    curl_free(p);
    curl_free(vol);
}

/* spec is VOL or POOL/VOL, each part a plain name; else false after a usage line. */
static bool spec_ok(const char *spec)
{
    const char *slash = strchr(spec, '/'), *vol = slash ? slash + 1 : spec;
    bool ok = *vol && !strchr(vol, '/') && strcmp(vol, ".") && strcmp(vol, "..") &&
              (!slash || (slash > spec && strncmp(spec, "./", 2) && strncmp(spec, "../", 3)));
    if (!ok)
        cli_usage("volume", "'%s' is not POOL/VOL or VOL", spec);
    return ok;
}

/* The volume's name in spec (after POOL/). */
static const char *volume_name(const char *spec)
{
    const char *slash = strchr(spec, '/');
    return slash ? slash + 1 : spec;
}

/* "10G", "1.5M": a size for a person. */
static void human_size(char *buf, size_t size, json_int_t bytes)
{
    static const char units[] = "BKMGTPE";
    double v = (double)bytes;
    int u = 0;
    while (v >= 1024 && u < 6) {
        v /= 1024;
        u++;
    }
    snprintf(buf, size, v == (double)(uint64_t)v ? "%.0f%c" : "%.1f%c", v, units[u]);
}

static json_int_t int_of(const json_t *o, const char *key)
{
    return json_integer_value(json_object_get(o, key));
}

/* s as bytes (sizes as everywhere: 10G, 512M, a number alone is bytes); false after a message. */
static bool parse_size(const char *verb, const char *s, json_int_t *out)
{
    uint64_t bytes;
    Error err = {0};
    if (size_parse(s, SIZE_LONG_UNITS, &bytes, &err) < 0) {
        cli_usage(verb, "size '%s': %s", s, err.msg);
        return false;
    }
    *out = (json_int_t)bytes;
    return true;
}

/* path made absolute against our working directory into buf; false after a message. */
static bool absolute(const char *path, char *buf, size_t size)
{
    char cwd[PATH_MAX];
    if (path[0] == '/')
        return snprintf(buf, size, "%s", path) < (int)size;
    if (!getcwd(cwd, sizeof(cwd))) {
        fprintf(stderr, "hostel: cannot find the working directory\n");
        return false;
    }
    if (snprintf(buf, size, "%s/%s", cwd, path) >= (int)size) {
        fprintf(stderr, "hostel: %s: path too long\n", path);
        return false;
    }
    return true;
}

/* ---- volume verbs ---- */

static void volume_print(const json_t *v)
{
    char size[32], alloc[32];
    const char *backing = json_string_value(json_object_get(v, "backing"));
    human_size(size, sizeof(size), int_of(v, "size"));
    human_size(alloc, sizeof(alloc), int_of(v, "allocation"));
    printf("%s/%s: %s, %s, %s allocated%s%s\n", json_string_value(json_object_get(v, "pool")),
           json_string_value(json_object_get(v, "name")),
           json_string_value(json_object_get(v, "format")), size, alloc,
           backing ? ", backing " : "", backing ? backing : "");
}

/* POST .../volumes with body; prints "VERB POOL/NAME: ..." */
static int volume_post(const VolArgs *a, const char *spec, json_t *body, const char *verb)
{
    char path[512];
    json_object_set_new(body, "name", json_string(volume_name(spec)));
    volume_path(path, sizeof(path), spec, "");
    *strrchr(path, '/') = '\0'; /* .../volumes */
    json_t *v = call(a, "POST", path, body);
    json_decref(body);
    if (v && json_object_get(v, "class")) { /* a clone or an import: an operation */
        json_t *done = call_wait(a, v);
        v = NULL;
        if (done) {
            volume_path(path, sizeof(path), spec, "");
            v = call(a, "GET", path, NULL);
            json_decref(done);
        }
    }
    if (v && !a->json) {
        printf("%s ", verb);
        volume_print(v);
    }
    return finish(a, v);
}

static int vol_create(const VolArgs *a)
{
    json_t *body = json_object();
    json_int_t size;
    if (!a->size && !a->backing) {
        json_decref(body);
        return cli_usage("volume", "create: --size is required (or --backing)");
    }
    if (a->size && !parse_size("volume", a->size, &size)) {
        json_decref(body);
        return CLI_EXIT_USAGE;
    }
    if (a->size)
        json_object_set_new(body, "size", json_integer(size));
    if (a->format)
        json_object_set_new(body, "format", json_string(a->format));
    if (a->backing)
        json_object_set_new(body, "backing", json_string(a->backing));
    return volume_post(a, a->operands[0], body, "created");
}

static int vol_clone(const VolArgs *a)
{
    const char *src = a->operands[0], *slash = strchr(src, '/');
    char spec[256];
    if (strchr(a->operands[1], '/'))
        return cli_usage("volume", "clone: NEW is a name in SRC's pool, not '%s'", a->operands[1]);
    snprintf(spec, sizeof(spec), "%.*s%s", slash ? (int)(slash - src + 1) : 0, src, a->operands[1]);
    json_t *body = json_pack("{s:s, s:b}", "source", volume_name(src), "linked", a->linked);
    return volume_post(a, spec, body, "cloned");
}

static int vol_import(const VolArgs *a)
{
    char file[PATH_MAX];
    if (!absolute(a->operands[1], file, sizeof(file)))
        return CLI_EXIT_FAIL;
    json_t *body = json_pack("{s:s}", "import", file);
    if (a->format)
        json_object_set_new(body, "format", json_string(a->format));
    return volume_post(a, a->operands[0], body, "imported");
}

static int vol_export(const VolArgs *a)
{
    char file[PATH_MAX], path[512];
    if (!absolute(a->operands[1], file, sizeof(file)))
        return CLI_EXIT_FAIL;
    json_t *body = json_pack("{s:s}", "path", file);
    if (a->format)
        json_object_set_new(body, "format", json_string(a->format));
    volume_path(path, sizeof(path), a->operands[0], "/export");
    json_t *r = call_wait(a, call(a, "POST", path, body));
    json_decref(body);
    json_t *result = json_object_get(r, "result");
    if (r && !a->json)
        printf("exported %s to %s (%s)\n", a->operands[0], file,
               json_string_value(json_object_get(result, "format")));
    return finish(a, r);
}

static int vol_resize(const VolArgs *a)
{
    char path[512];
    json_int_t size;
    if (!parse_size("volume", a->operands[1], &size))
        return CLI_EXIT_USAGE;
    json_t *body = json_pack("{s:I, s:b}", "size", size, "shrink", a->shrink);
    volume_path(path, sizeof(path), a->operands[0], "");
    json_t *v = call(a, "PATCH", path, body);
    json_decref(body);
    if (v && !a->json) {
        printf("resized ");
        volume_print(v);
    }
    return finish(a, v);
}

static int vol_info(const VolArgs *a)
{
    char path[512];
    volume_path(path, sizeof(path), a->operands[0], "");
    json_t *v = call(a, "GET", path, NULL);
    if (v && !a->json) {
        size_t i;
        json_t *u;
        volume_print(v);
        printf("path: %s\n", json_string_value(json_object_get(v, "path")));
        json_array_foreach(json_object_get(v, "used_by"), i, u)
            printf("used by: %s\n", json_string_value(u));
    }
    return finish(a, v);
}

static int vol_delete(const VolArgs *a)
{
    char path[512];
    volume_path(path, sizeof(path), a->operands[0], "");
    json_t *r = call(a, "DELETE", path, NULL);
    if (r && !a->json)
        printf("deleted %s\n", a->operands[0]);
    return finish(a, r);
}

/* "vm1,vm2" or "-" into buf. */
static void users_str(const json_t *users, char *buf, size_t size)
{
    size_t i, n = 0;
    json_t *u;
    snprintf(buf, size, "-");
    json_array_foreach(users, i, u)
    {
        int k = snprintf(buf + n, size - n, "%s%s", i ? "," : "", json_string_value(u));
        n = k < 0 || (size_t)k >= size - n ? size - 1 : n + (size_t)k;
    }
}

static int vol_list(const VolArgs *a)
{
    char path[512];
    pool_path(path, sizeof(path), a->noperands ? a->operands[0] : DEFAULT_POOL, "/volumes");
    json_t *r = call(a, "GET", path, NULL);
    if (r && !a->json) {
        size_t i;
        json_t *v;
        printf("%-24s %-6s %8s %9s %-16s %s\n", "NAME", "FORMAT", "SIZE", "ALLOCATED", "BACKING",
               "USED BY");
        json_array_foreach(json_object_get(r, "volumes"), i, v)
        {
            char size[32], alloc[32], users[256];
            const char *backing = json_string_value(json_object_get(v, "backing"));
            human_size(size, sizeof(size), int_of(v, "size"));
            human_size(alloc, sizeof(alloc), int_of(v, "allocation"));
            users_str(json_object_get(v, "used_by"), users, sizeof(users));
            printf("%-24s %-6s %8s %9s %-16s %s\n", json_string_value(json_object_get(v, "name")),
                   json_string_value(json_object_get(v, "format")), size, alloc,
                   backing ? backing : "-", users);
        }
    }
    return finish(a, r);
}

/* ---- pool verbs ---- */

static int pool_list(const VolArgs *a)
{
    json_t *r = call(a, "GET", "/1.0/storage-pools", NULL);
    if (r && !a->json) {
        size_t i;
        json_t *p;
        printf("%-16s %-4s %8s %9s %9s %7s %s\n", "NAME", "KIND", "SIZE", "AVAILABLE", "ALLOCATED",
               "VOLUMES", "PATH");
        json_array_foreach(json_object_get(r, "pools"), i, p)
        {
            char cap[32], avail[32], alloc[32];
            human_size(cap, sizeof(cap), int_of(p, "capacity"));
            human_size(avail, sizeof(avail), int_of(p, "available"));
            human_size(alloc, sizeof(alloc), int_of(p, "allocation"));
            printf("%-16s %-4s %8s %9s %9s %7" JSON_INTEGER_FORMAT " %s\n",
                   json_string_value(json_object_get(p, "name")),
                   json_string_value(json_object_get(p, "kind")), cap, avail, alloc,
                   int_of(p, "volumes"), json_string_value(json_object_get(p, "path")));
        }
    }
    return finish(a, r);
}

static int pool_create(const VolArgs *a)
{
    char dir[PATH_MAX];
    if (!absolute(a->operands[1], dir, sizeof(dir)))
        return CLI_EXIT_FAIL;
    json_t *body = json_pack("{s:s, s:s, s:s}", "name", a->operands[0], "kind", "dir", "path", dir);
    json_t *r = call(a, "POST", "/1.0/storage-pools", body);
    json_decref(body);
    if (r && !a->json)
        printf("created pool %s at %s\n", a->operands[0],
               json_string_value(json_object_get(r, "path")));
    return finish(a, r);
}

static int pool_delete(const VolArgs *a)
{
    char path[512];
    pool_path(path, sizeof(path), a->operands[0], "");
    json_t *r = call(a, "DELETE", path, NULL);
    if (r && !a->json)
        printf("removed pool %s (its directory is left alone)\n", a->operands[0]);
    return finish(a, r);
}

/* ---- the verb tables and parsing ---- */

static const VolVerb volume_verbs[] = {
    {.name = "create",
     .run = vol_create,
     .operands = "POOL/VOL",
     .min = 1,
     .max = 1,
     .options = TAKES(OPT_SIZE) | TAKES(OPT_FORMAT) | TAKES(OPT_BACKING)},
    {.name = "list", .run = vol_list, .operands = "[POOL]", .min = 0, .max = 1},
    {.name = "info", .run = vol_info, .operands = "POOL/VOL", .min = 1, .max = 1},
    {.name = "resize",
     .run = vol_resize,
     .operands = "POOL/VOL SIZE",
     .min = 2,
     .max = 2,
     .options = TAKES(OPT_SHRINK)},
    {.name = "clone",
     .run = vol_clone,
     .operands = "POOL/SRC NEW",
     .min = 2,
     .max = 2,
     .options = TAKES(OPT_LINKED)},
    {.name = "import",
     .run = vol_import,
     .operands = "POOL/VOL FILE",
     .min = 2,
     .max = 2,
     .options = TAKES(OPT_FORMAT)},
    {.name = "export",
     .run = vol_export,
     .operands = "POOL/VOL FILE",
     .min = 2,
     .max = 2,
     .options = TAKES(OPT_FORMAT)},
    {.name = "delete", .run = vol_delete, .operands = "POOL/VOL", .min = 1, .max = 1},
};

static const VolVerb pool_verbs[] = {
    {.name = "list", .run = pool_list, .operands = "", .min = 0, .max = 0},
    {.name = "create", .run = pool_create, .operands = "NAME DIR", .min = 2, .max = 2},
    {.name = "delete", .run = pool_delete, .operands = "NAME", .min = 1, .max = 1},
};

static void volume_help(FILE *out)
{
    fprintf(out,
            "usage: hostel volume VERB [options] ...\n"
            "\n"
            "Disk images in hosteld's storage pools (docs/mgmt.md).  A volume is POOL/VOL,\n"
            "or VOL alone in the default pool; its file is POOL_DIR/VOL.qcow2 or VOL.raw.\n"
            "\n"
            "verbs:\n"
            "  create POOL/VOL --size SIZE [--format qcow2|raw] [--backing VOL]\n"
            "                        a new empty volume (qcow2 by default); --backing puts\n"
            "                        it over another volume of the pool (then --size may go)\n"
            "  list [POOL]           the volumes: name, format, size, allocated, backing, the\n"
            "                        VMs using it (default pool: default)\n"
            "  info POOL/VOL         one volume\n"
            "  resize POOL/VOL SIZE [--shrink]\n"
            "                        set the size; only raw volumes shrink, with --shrink\n"
            "  clone POOL/SRC NEW [--linked]\n"
            "                        copy SRC as NEW in its pool; --linked: a qcow2 over SRC\n"
            "  import POOL/VOL FILE [--format qcow2|raw]\n"
            "                        copy the image FILE (raw or qcow2) into the pool\n"
            "  export POOL/VOL FILE [--format qcow2|raw]\n"
            "                        copy the volume out to FILE (which must not exist)\n"
            "  delete POOL/VOL       delete it (refused while a VM or a volume uses it)\n"
            "\n"
            "SIZE: 10G, 512M, 1.5T (powers of 1024); a number alone is bytes.\n"
            "\noptions:\n%s",
            common_help);
}

static void pool_help(FILE *out)
{
    fprintf(out,
            "usage: hostel pool VERB [options] ...\n"
            "\n"
            "hosteld's storage pools: directories holding volumes ('hostel volume').\n"
            "\n"
            "verbs:\n"
            "  list                  the pools: size, available, allocated, volumes, path\n"
            "  create NAME DIR       define a pool over the existing directory DIR\n"
            "  delete NAME           forget a pool (refused for default and while it holds\n"
            "                        volumes); its directory is left alone\n"
            "\noptions:\n%s",
            common_help);
}

/* A VolVerb's option c into a; CLI_EXIT_USAGE if the verb does not take it, else 0. */
static int take_option(const char *cmd, const VolVerb *v, VolArgs *a, int c, char **argv)
{
    if (c == OPT_SOCKET || c == OPT_JSON) {
        if (c == OPT_SOCKET)
            a->socket = optarg;
        else
            a->json = true;
        return 0;
    }
    if (c < OPT_SIZE || !(v->options & TAKES(c)))
        return cli_usage(cmd, "%s: unknown option '%s'", v->name, argv[optind - 1]);
    switch (c) {
    case OPT_SIZE: a->size = optarg; break;
    case OPT_FORMAT: a->format = optarg; break;
    case OPT_BACKING: a->backing = optarg; break;
    case OPT_LINKED: a->linked = true; break;
    case OPT_SHRINK: a->shrink = true; break;
    }
    return 0;
}

/* argv = VERB [options] operands: parse for v and run it. */
static int run_verb(const char *cmd, const VolVerb *v, int argc, char **argv, void (*help)(FILE *))
{
    static const struct option longopts[] = {
        {"socket", required_argument, NULL, OPT_SOCKET},
        {"json", no_argument, NULL, OPT_JSON},
        {"size", required_argument, NULL, OPT_SIZE},
        {"format", required_argument, NULL, OPT_FORMAT},
        {"backing", required_argument, NULL, OPT_BACKING},
        {"linked", no_argument, NULL, OPT_LINKED},
        {"shrink", no_argument, NULL, OPT_SHRINK},
        {"help", no_argument, NULL, 'h'},
        {0},
    };
    VolArgs a = {0};
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, ":h", longopts, NULL)) != -1) {
        if (c == 'h') {
            help(stdout);
            return 0;
        }
        if (c == '?' || c == ':')
            return cli_usage(cmd, "%s: bad option '%s'", v->name, argv[optind - 1]);
        int r = take_option(cmd, v, &a, c, argv);
        if (r)
            return r;
    }
    a.operands = argv + optind;
    a.noperands = argc - optind;
    if (a.noperands < v->min || a.noperands > v->max)
        return cli_usage(cmd, "usage: hostel %s %s %s", cmd, v->name, v->operands);
    if (strncmp(v->operands, "POOL/", 5) == 0 && !spec_ok(a.operands[0]))
        return CLI_EXIT_USAGE;
    return v->run(&a);
}

static int dispatch(const char *cmd, const VolVerb *verbs, size_t n, int argc, char **argv,
                    void (*help)(FILE *))
{
    if (argc < 2) {
        help(stderr);
        return CLI_EXIT_USAGE;
    }
    if (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0) {
        help(stdout);
        return 0;
    }
    for (size_t i = 0; i < n; i++)
        if (strcmp(verbs[i].name, argv[1]) == 0)
            return run_verb(cmd, &verbs[i], argc - 1, argv + 1, help);
    return cli_usage(cmd, "unknown verb '%s'", argv[1]);
}

static int volume_run(int argc, char **argv)
{
    return dispatch("volume", volume_verbs, ARRAY_SIZE(volume_verbs), argc, argv, volume_help);
}

static int pool_run(int argc, char **argv)
{
    return dispatch("pool", pool_verbs, ARRAY_SIZE(pool_verbs), argc, argv, pool_help);
}

const Command cmd_volume = {
    .name = "volume",
    .run = volume_run,
    .help = volume_help,
    .summary = "create, list, resize, clone, import, export, delete volumes",
};
const Command cmd_pool = {
    .name = "pool",
    .run = pool_run,
    .help = pool_help,
    .summary = "list, create and delete storage pools",
};
