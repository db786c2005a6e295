/*
 * hostel img check [-f FMT] [-r leaks|all] [--output=human|json] [-U] [-q] FILE
 *
 * Exit status as qemu-img's: 0 clean, 1 the check could not complete,
 * 2 corruptions, 3 leaked clusters only, 63 the format has no checks.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "img/img_util.h"

enum {
    CHECK_CLEAN = 0,
    CHECK_ERROR = 1,
    CHECK_CORRUPT = 2,
    CHECK_LEAKS = 3,
    CHECK_UNSUPPORTED = 63
};

typedef struct CheckArgs {
    const char *format;
    const char *file;
    unsigned fix;
    ImgOutput output;
    bool share;
    bool quiet;
} CheckArgs;

enum { OPT_OUTPUT = 256 };

static const struct option check_long[] = {
    {"output", required_argument, NULL, OPT_OUTPUT},
    {"repair", required_argument, NULL, 'r'},
    {"force-share", no_argument, NULL, 'U'},
    {NULL, 0, NULL, 0},
};

static int check_parse(CheckArgs *a, int argc, char **argv)
{
    int c;
    while ((c = getopt_long(argc, argv, ":f:r:Uq", check_long, NULL)) != -1) {
        switch (c) {
        case 'f': a->format = optarg; break;
        case 'U': a->share = true; break;
        case 'q': a->quiet = true; break;
        case 'r':
            if (strcmp(optarg, "leaks") == 0)
                a->fix = BLOCK_FIX_LEAKS;
            else if (strcmp(optarg, "all") == 0)
                a->fix = BLOCK_FIX_LEAKS | BLOCK_FIX_ERRORS;
            else
                return img_usage_error("check", "-r must be 'leaks' or 'all'");
            break;
        case OPT_OUTPUT:
            if (!img_parse_output(optarg, &a->output))
                return img_usage_error("check", "--output must be human or json");
            break;
        default: return img_bad_option("check", c, argv);
        }
    }
    if (optind != argc - 1)
        return img_usage_error("check", "expected one image file name");
    if (a->fix && a->share)
        return img_usage_error("check", "-U cannot be used with -r (repairs write)");
    a->file = argv[optind];
    return 0;
}

static int check_status(const BlockCheckResult *r)
{
    if (r->check_errors)
        return CHECK_ERROR;
    if (r->corruptions)
        return CHECK_CORRUPT;
    if (r->leaks)
        return CHECK_LEAKS;
    return CHECK_CLEAN;
}

static double check_pct(uint64_t part, uint64_t whole)
{
    return whole ? (double)part * 100.0 / (double)whole : 0.0;
}

/* What the format found first, on stderr as qemu-img prints its per-cluster lines. */
static void check_problem(const CheckArgs *a, const BlockCheckResult *r)
{
    if (r->first_problem[0] && !a->quiet) {
        fflush(stdout);
        fprintf(stderr, "hostel img: %s: %s\n", a->file, r->first_problem);
    }
}

static void check_human(const BlockCheckResult *r)
{
    if (!r->corruptions && !r->leaks && !r->check_errors)
        printf("No errors were found on the image.\n");
    if (r->corruptions)
        printf("\n%" PRId64 " errors were found on the image.\nData may be corrupted, or "
               "further writes to the image may corrupt it.\n",
               r->corruptions);
    if (r->leaks)
        printf("\n%" PRId64 " leaked clusters were found on the image.\nThis means waste of "
               "disk space, but no harm to data.\n",
               r->leaks);
    if (r->check_errors)
        printf("\n%" PRId64 " internal errors have occurred during the check.\n", r->check_errors);
    if (r->total_clusters && r->allocated_clusters)
        printf("%" PRIu64 "/%" PRIu64 " = %0.2f%% allocated, %0.2f%% fragmented, %0.2f%% "
               "compressed clusters\n",
               r->allocated_clusters, r->total_clusters,
               check_pct(r->allocated_clusters, r->total_clusters),
               check_pct(r->fragmented_clusters, r->allocated_clusters),
               check_pct(r->compressed_clusters, r->allocated_clusters));
    if (r->image_end_offset)
        printf("Image end offset: %" PRIu64 "\n", r->image_end_offset);
}

/* Set key to n unless it is zero. */
static void check_json_count(json_t *o, const char *key, uint64_t n)
{
    if (n)
        json_object_set_new(o, key, json_integer((json_int_t)n));
}

/* qemu-img leaves out the counters that are zero, except check-errors. */
static void check_json(const CheckArgs *a, const char *format, const BlockCheckResult *r)
{
    json_t *o = json_object();
    check_json_count(o, "image-end-offset", r->image_end_offset);
    check_json_count(o, "total-clusters", r->total_clusters);
    json_object_set_new(o, "check-errors", json_integer(r->check_errors));
    check_json_count(o, "leaks", (uint64_t)r->leaks);
    check_json_count(o, "leaks-fixed", (uint64_t)r->leaks_fixed);
    check_json_count(o, "corruptions", (uint64_t)r->corruptions);
    check_json_count(o, "corruptions-fixed", (uint64_t)r->corruptions_fixed);
    check_json_count(o, "allocated-clusters", r->allocated_clusters);
    json_object_set_new(o, "filename", img_json_str(a->file));
    json_object_set_new(o, "format", json_string(format));
    check_json_count(o, "fragmented-clusters", r->fragmented_clusters);
    check_json_count(o, "compressed-clusters", r->compressed_clusters);
    img_json_print(o);
}

/* Repair, say what was repaired, then check again for the final verdict (as qemu-img). */
static int check_repair(BlockDev *bd, const CheckArgs *a, BlockCheckResult *r, Error *err)
{
    if (block_check(bd, r, a->fix, err) < 0)
        return -1;
    check_problem(a, r);
    int64_t leaks_fixed = r->leaks_fixed, corruptions_fixed = r->corruptions_fixed;
    if (!leaks_fixed && !corruptions_fixed)
        return 0;
    if (a->output == IMG_OUT_HUMAN && !a->quiet)
        printf("The following inconsistencies were found and repaired:\n\n"
               "    %" PRId64 " leaked clusters\n    %" PRId64 " corruptions\n\n"
               "Double checking the fixed image now...\n",
               leaks_fixed, corruptions_fixed);
    if (block_check(bd, r, 0, err) < 0)
        return -1;
    check_problem(a, r);
    r->leaks_fixed = leaks_fixed;
    r->corruptions_fixed = corruptions_fixed;
    return 0;
}

static int img_check(int argc, char **argv)
{
    CheckArgs a = {.output = IMG_OUT_HUMAN};
    int rc = check_parse(&a, argc, argv);
    if (rc)
        return rc;
    Error err = {0};
    unsigned flags = IMG_OPEN_NO_BACKING | (a.fix ? IMG_OPEN_RW | IMG_OPEN_REPAIR : 0) |
                     (a.share ? IMG_OPEN_SHARE : 0);
    BlockDev *bd = img_open(a.file, a.format, flags, &err);
    if (!bd)
        return img_fail(&err);
    BlockCheckResult r;
    if (check_repair(bd, &a, &r, &err) < 0) {
        rc = err.code == ENOTSUP ? CHECK_UNSUPPORTED : CHECK_ERROR;
        img_fail(&err);
    } else {
        if (a.output == IMG_OUT_JSON)
            check_json(&a, bd->drv->format, &r);
        else if (!a.quiet)
            check_human(&r);
        rc = check_status(&r);
    }
    block_close(bd);
    return rc;
}

const ImgCommand img_cmd_check = {
    .name = "check",
    .run = img_check,
    .summary = "check an image's metadata for leaks and corruption, optionally repair",
    .usage =
        "usage: hostel img check [-f FMT] [-r leaks|all] [--output=human|json] [-U] [-q] FILE\n\n"
        "Check FILE's metadata (qcow2 refcounts and tables).  Exit status: 0 no errors,\n"
        "1 the check could not complete, 2 corruptions found, 3 leaked clusters only,\n"
        "63 the format has no checks (raw).\n\n"
        "  -f FMT            raw or qcow2 (default: probed)\n"
        "  -r leaks          repair leaked clusters (opens the image read-write)\n"
        "  -r all            repair leaks and corruptions\n"
        "  --output=json     qemu-img's JSON fields\n"
        "  -U, --force-share do not lock the image\n"
        "  -q                quiet: only the exit status\n",
};
