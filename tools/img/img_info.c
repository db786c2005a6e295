/*
 * hostel img info [-f FMT] [--output=human|json | --json] [--backing-chain] [-U] FILE
 *
 * The image is opened read-only without its backing chain (a missing
 * backing file does not hide the overlay's details); --backing-chain opens
 * each image of the chain in turn the same way.
 */
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "img/img_util.h"

typedef struct InfoArgs {
    const char *format;
    const char *file;
    ImgOutput output;
    bool chain;
    bool share;
} InfoArgs;

enum { OPT_OUTPUT = 256, OPT_JSON, OPT_CHAIN };

static const struct option info_long[] = {
    {"output", required_argument, NULL, OPT_OUTPUT},
    {"json", no_argument, NULL, OPT_JSON},
    {"backing-chain", no_argument, NULL, OPT_CHAIN},
    {"force-share", no_argument, NULL, 'U'},
    {NULL, 0, NULL, 0},
};

static int info_parse(InfoArgs *a, int argc, char **argv)
{
    int c;
    while ((c = getopt_long(argc, argv, ":f:U", info_long, NULL)) != -1) {
        switch (c) {
        case 'f': a->format = optarg; break;
        case 'U': a->share = true; break;
        case OPT_JSON: a->output = IMG_OUT_JSON; break;
        case OPT_CHAIN: a->chain = true; break;
        case OPT_OUTPUT:
            if (!img_parse_output(optarg, &a->output))
                return img_usage_error("info", "--output must be human or json");
            break;
        default: return img_bad_option("info", c, argv);
        }
    }
    if (optind != argc - 1)
        return img_usage_error("info", optind >= argc ? "expected one image file name"
                                                      : "expected one image file name only");
    a->file = argv[optind];
    return 0;
}

/* ---- snapshot tables (also used by `snapshot -l`) ---- */

void img_snapshot_table(const BlockSnapshot *sn, int count)
{
    printf("%-9s %-16s %8s%20s%13s%11s\n", "ID", "TAG", "VM SIZE", "DATE", "VM CLOCK", "ICOUNT");
    for (int i = 0; i < count; i++) {
        char date[32] = "", clock[32], size[32], icount[24] = "";
        time_t t = (time_t)sn[i].date_sec;
        struct tm tm;
        if (localtime_r(&t, &tm))
            strftime(date, sizeof(date), "%Y-%m-%d %H:%M:%S", &tm);
        uint64_t secs = sn[i].vm_clock_nsec / 1000000000u;
        snprintf(clock, sizeof(clock), "%02u:%02u:%02u.%03u", (unsigned)(secs / 3600),
                 (unsigned)(secs / 60 % 60), (unsigned)(secs % 60),
                 (unsigned)(sn[i].vm_clock_nsec / 1000000u % 1000u));
        img_size_str(sn[i].vm_state_size, size, sizeof(size));
        if (sn[i].icount != UINT64_MAX)
            snprintf(icount, sizeof(icount), "%" PRIu64, sn[i].icount);
        printf("%-9s %-16s %8s%20s%13s%11s\n", sn[i].id, sn[i].name ? sn[i].name : "", size, date,
               clock, icount);
    }
}

/* Set key to the number n (sizes and counters: at most INT64_MAX). */
static void info_set_uint(json_t *o, const char *key, uint64_t n)
{
    json_object_set_new(o, key, json_integer((json_int_t)n));
}

static json_t *info_json_snapshot(const BlockSnapshot *sn)
{
    json_t *o = json_object();
    json_object_set_new(o, "id", img_json_str(sn->id));
    json_object_set_new(o, "name", img_json_str(sn->name ? sn->name : ""));
    info_set_uint(o, "vm-state-size", sn->vm_state_size);
    info_set_uint(o, "date-sec", sn->date_sec);
    info_set_uint(o, "date-nsec", sn->date_nsec);
    info_set_uint(o, "vm-clock-sec", sn->vm_clock_nsec / 1000000000u);
    info_set_uint(o, "vm-clock-nsec", sn->vm_clock_nsec % 1000000000u);
    if (sn->icount != UINT64_MAX)
        info_set_uint(o, "icount", sn->icount);
    return o;
}

static json_t *info_json_snapshots(const BlockSnapshot *sn, int count)
{
    json_t *a = json_array();
    for (int i = 0; i < count; i++)
        json_array_append_new(a, info_json_snapshot(&sn[i]));
    return a;
}

/* ---- one image ---- */

static bool info_is_qcow2(const BlockInfo *in)
{
    return in->compat != NULL;
}

static void info_human(const char *file, const BlockInfo *in)
{
    char vs[32], ds[32];
    img_size_str(in->virtual_size, vs, sizeof(vs));
    img_size_str(in->actual_size, ds, sizeof(ds));
    printf("image: %s\nfile format: %s\n", file, in->format);
    printf("virtual size: %s (%" PRIu64 " bytes)\ndisk size: %s\n", vs, in->virtual_size, ds);
    if (in->cluster_size)
        printf("cluster_size: %" PRIu32 "\n", in->cluster_size);
    if (in->backing_file) {
        printf("backing file: %s", in->backing_file);
        if (in->full_backing_file && strcmp(in->full_backing_file, in->backing_file) != 0)
            printf(" (actual path: %s)", in->full_backing_file);
        putchar('\n');
    }
    if (in->backing_fmt)
        printf("backing file format: %s\n", in->backing_fmt);
    if (in->dirty)
        printf("cleanly shut down: no\n");
    if (in->nb_snapshots > 0) {
        printf("Snapshot list:\n");
        img_snapshot_table(in->snapshots, in->nb_snapshots);
    }
    if (info_is_qcow2(in)) {
        bool v3 = strcmp(in->compat, "0.10") != 0;
        printf("Format specific information:\n    compat: %s\n", in->compat);
        printf("    compression type: %s\n", in->compression_type ? in->compression_type : "zlib");
        if (v3)
            printf("    lazy refcounts: %s\n", in->lazy_refcounts ? "true" : "false");
        printf("    refcount bits: %u\n", in->refcount_bits ? in->refcount_bits : 16);
        if (v3)
            printf("    corrupt: %s\n    extended l2: %s\n", in->corrupt ? "true" : "false",
                   in->extended_l2 ? "true" : "false");
    }
}

static json_t *info_json_specific(const BlockInfo *in)
{
    bool v3 = strcmp(in->compat, "0.10") != 0;
    json_t *data = json_object();
    json_object_set_new(data, "compat", json_string(in->compat));
    json_object_set_new(data, "compression-type",
                        json_string(in->compression_type ? in->compression_type : "zlib"));
    if (v3)
        json_object_set_new(data, "lazy-refcounts", json_boolean(in->lazy_refcounts));
    info_set_uint(data, "refcount-bits", in->refcount_bits ? in->refcount_bits : 16);
    if (v3) {
        json_object_set_new(data, "corrupt", json_boolean(in->corrupt));
        json_object_set_new(data, "extended-l2", json_boolean(in->extended_l2));
    }
    return json_pack("{s:s, s:o}", "type", in->format, "data", data);
}

static json_t *info_json(const char *file, const BlockInfo *in)
{
    json_t *o = json_object();
    info_set_uint(o, "virtual-size", in->virtual_size);
    json_object_set_new(o, "filename", img_json_str(file));
    if (in->cluster_size)
        info_set_uint(o, "cluster-size", in->cluster_size);
    json_object_set_new(o, "format", json_string(in->format));
    info_set_uint(o, "actual-size", in->actual_size);
    if (in->backing_file) {
        json_object_set_new(o, "backing-filename", img_json_str(in->backing_file));
        if (in->full_backing_file)
            json_object_set_new(o, "full-backing-filename", img_json_str(in->full_backing_file));
    }
    if (in->backing_fmt)
        json_object_set_new(o, "backing-filename-format", img_json_str(in->backing_fmt));
    if (in->nb_snapshots > 0)
        json_object_set_new(o, "snapshots", info_json_snapshots(in->snapshots, in->nb_snapshots));
    if (info_is_qcow2(in))
        json_object_set_new(o, "format-specific", info_json_specific(in));
    json_object_set_new(o, "dirty-flag", json_boolean(in->dirty));
    return o;
}

/* block_info() plus what the CLI derives: the snapshot list and the backing file's path. */
static int info_collect(BlockDev *bd, BlockInfo *in, Error *err)
{
    if (block_info(bd, in, err) < 0)
        return -1;
    if (!in->format)
        in->format = bd->drv->format;
    if (!in->snapshots && block_snapshot_list(bd, &in->snapshots, &in->nb_snapshots, err) < 0)
        return -1;
    if (in->backing_file && !in->full_backing_file &&
        !(in->full_backing_file = block_backing_path(bd->filename, in->backing_file)))
        return error_set(err, "out of memory");
    return 0;
}

/*
 * Print one image, or with --output=json append its object to the array
 * out (or print it if out is NULL); *next gets its backing file's path and
 * format (malloc'd) for the chain.
 */
static int info_one(const InfoArgs *a, const char *file, const char *fmt, json_t *out, char **next,
                    char **next_fmt)
{
    Error err = {0};
    unsigned flags = IMG_OPEN_NO_BACKING | (a->share ? IMG_OPEN_SHARE : 0);
    BlockDev *bd = img_open(file, fmt, flags, &err);
    if (!bd)
        return img_fail(&err);
    BlockInfo in;
    int rc = info_collect(bd, &in, &err);
    if (rc == 0) {
        if (a->output == IMG_OUT_JSON && out)
            json_array_append_new(out, info_json(file, &in));
        else if (a->output == IMG_OUT_JSON)
            img_json_print(info_json(file, &in));
        else
            info_human(file, &in);
        *next = in.full_backing_file ? strdup(in.full_backing_file) : NULL;
        *next_fmt = in.backing_fmt ? strdup(in.backing_fmt) : NULL;
    } else {
        rc = img_fail(&err);
    }
    block_info_free(&in);
    block_close(bd);
    return rc;
}

/* The images already printed, by real path, to stop at a loop. */
typedef struct InfoSeen {
    char *paths[BLOCK_MAX_CHAIN + 1];
    int n;
} InfoSeen;

static int info_seen(InfoSeen *s, const char *file)
{
    char *real = realpath(file, NULL);
    if (!real)
        return 0; /* open() reports the problem */
    for (int i = 0; i < s->n; i++) {
        if (strcmp(s->paths[i], real) == 0) {
            free(real);
            return img_error("backing file '%s' creates an infinite loop", file);
        }
    }
    if (s->n > BLOCK_MAX_CHAIN) {
        free(real);
        return img_error("%s: backing chain too deep", file);
    }
    s->paths[s->n++] = real;
    return 0;
}

static int info_chain(const InfoArgs *a)
{
    InfoSeen seen = {.n = 0};
    char *file = strdup(a->file), *fmt = a->format ? strdup(a->format) : NULL;
    int rc = 0;
    json_t *w = json_array(); /* --output=json: the chain, printed even after an error */
    for (bool first = true; rc == 0 && file; first = false) {
        char *next = NULL, *next_fmt = NULL;
        rc = info_seen(&seen, file);
        if (rc == 0 && !first && a->output == IMG_OUT_HUMAN)
            putchar('\n');
        if (rc == 0)
            rc = info_one(a, file, fmt, w, &next, &next_fmt);
        free(file);
        free(fmt);
        file = next;
        fmt = next_fmt;
    }
    free(file);
    free(fmt);
    if (a->output == IMG_OUT_JSON)
        img_json_print(w);
    else
        json_decref(w);
    for (int i = 0; i < seen.n; i++)
        free(seen.paths[i]);
    return rc;
}

static int img_info(int argc, char **argv)
{
    InfoArgs a = {.output = IMG_OUT_HUMAN};
    int rc = info_parse(&a, argc, argv);
    if (rc)
        return rc;
    if (a.chain)
        return info_chain(&a);
    char *next = NULL, *next_fmt = NULL;
    rc = info_one(&a, a.file, a.format, NULL, &next, &next_fmt);
    free(next);
    free(next_fmt);
    return rc;
}

const ImgCommand img_cmd_info = {
    .name = "info",
    .run = img_info,
    .summary = "show an image's format, sizes, backing file and snapshots",
    .usage =
        "usage: hostel img info [-f FMT] [--output=human|json | --json] [--backing-chain] [-U]\n"
        "                       FILE\n\n"
        "Show FILE's format, virtual and disk size, cluster size, backing file,\n"
        "snapshots and qcow2 details.  The image is opened read-only.\n\n"
        "  -f FMT              raw or qcow2 (default: probed)\n"
        "  --output=json       qemu-img's JSON fields (also --json)\n"
        "  --backing-chain     also show every image below FILE\n"
        "  -U, --force-share   do not lock the image (it may be in use)\n",
};
