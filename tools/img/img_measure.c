/*
 * hostel img measure [--output=human|json] [-O FMT] [-o OPTS] [-U]
 *                    (--size N | [-f FMT] FILE)
 *
 * How large a file a new image needs.  For qcow2: the metadata a fully
 * allocated image of that virtual size has (header, L1 and L2 tables,
 * refcount table and blocks), plus either every cluster ("fully allocated
 * size") or the clusters FILE has data in ("required size"), the way
 * qemu-img measure counts, so both tools agree on the numbers.
 */
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "img/img_util.h"

/* Largest L1 table qcow2 readers accept (QEMU's limit: 32 MiB). */
#define QCOW2_MAX_L1_BYTES (32u << 20)

typedef struct MeasureArgs {
    const char *src_fmt, *dst_fmt, *file;
    uint64_t size;
    bool size_given, share;
    ImgOutput output;
    ImgCreateOpts co;
} MeasureArgs;

enum { OPT_OUTPUT = 256, OPT_SIZE };

static int measure_parse(MeasureArgs *a, int argc, char **argv)
{
    static const struct option longopts[] = {{"output", required_argument, NULL, OPT_OUTPUT},
                                             {"size", required_argument, NULL, OPT_SIZE},
                                             {"force-share", no_argument, NULL, 'U'},
                                             {NULL, 0, NULL, 0}};
    Error err = {0};
    int c;
    while ((c = getopt_long(argc, argv, ":f:O:o:U", longopts, NULL)) != -1) {
        switch (c) {
        case 'f': a->src_fmt = optarg; break;
        case 'O': a->dst_fmt = optarg; break;
        case 'U': a->share = true; break;
        case 'o':
            if (img_create_opts_add(&a->co, optarg, &err) < 0)
                return img_fail(&err);
            break;
        case OPT_SIZE:
            if (!img_parse_size(optarg, &a->size))
                return img_error("invalid image size '%s'", optarg);
            a->size_given = true;
            break;
        case OPT_OUTPUT:
            if (!img_parse_output(optarg, &a->output))
                return img_usage_error("measure", "--output must be human or json");
            break;
        default: return img_bad_option("measure", c, argv);
        }
    }
    if (argc - optind > 1)
        return img_usage_error("measure", "expected at most one image file name");
    a->file = optind < argc ? argv[optind] : NULL;
    if (a->file && a->size_given)
        return img_usage_error("measure", "--size N cannot be used together with a file name");
    if (!a->file && !a->size_given)
        return img_usage_error("measure", "give either --size N or one file name");
    if (img_create_opts_parse(&a->co, &err) < 0 ||
        img_create_opts_check(&a->co, a->dst_fmt, &err) < 0)
        return img_error("%s", err.msg);
    return 0;
}

static uint64_t div_up(uint64_t a, uint64_t b)
{
    return (a + b - 1) / b;
}

static uint64_t round_up(uint64_t a, uint64_t b)
{
    return div_up(a, b) * b;
}

/*
 * Bytes of refcount table and refcount blocks an image of `clusters`
 * clusters needs.  The refcount clusters need refcounts themselves, so
 * grow both counts until they cover everything, themselves included.
 */
static uint64_t qcow2_refcount_bytes(uint64_t clusters, uint64_t cs, unsigned refcount_bits)
{
    uint64_t per_block = cs * 8 / refcount_bits, per_table_cluster = cs / 8;
    uint64_t blocks = 0, table = 0;
    for (;;) {
        uint64_t nb = div_up(clusters + blocks + table, per_block);
        uint64_t nt = div_up(nb, per_table_cluster);
        if (nb == blocks && nt == table)
            return (blocks + table) * cs;
        blocks = nb;
        table = nt;
    }
}

/* Metadata plus data of a fully allocated qcow2 image of virtual size vs (cluster-aligned). */
static uint64_t qcow2_full_size(uint64_t vs, uint64_t cs, unsigned refcount_bits, bool extended_l2)
{
    uint64_t l2e = extended_l2 ? 16 : 8;
    uint64_t l2_entries = round_up(vs / cs, cs / l2e);             /* whole L2 tables */
    uint64_t l1_entries = round_up(l2_entries * l2e / cs, cs / 8); /* whole L1 clusters */
    uint64_t meta = cs + l2_entries * l2e + l1_entries * 8;        /* header, L2s, L1 */
    meta += qcow2_refcount_bytes((meta + vs) / cs, cs, refcount_bits);
    return meta + vs;
}

/* Bytes of the clusters FILE's chain has data in (zero ranges and holes excluded). */
static int measure_data(BlockDev *bd, uint64_t cs, uint64_t *bytes, Error *err)
{
    uint64_t len = block_length(bd), counted_end = 0, pnum, h;
    *bytes = 0;
    for (uint64_t off = 0; off < len; off += pnum) {
        unsigned flags, depth;
        if (img_chain_status(bd, off, len - off, &pnum, &flags, &h, &depth, err) < 0)
            return -1;
        if (!(flags & BLOCK_ST_DATA) || (flags & BLOCK_ST_ZERO))
            continue;
        uint64_t start = off / cs * cs, end = round_up(off + pnum, cs);
        if (start < counted_end)
            start = counted_end;
        if (end > start)
            *bytes += end - start;
        counted_end = end;
    }
    return 0;
}

static int measure_qcow2(const MeasureArgs *a, BlockDev *bd, uint64_t *required, uint64_t *full,
                         Error *err)
{
    const BlockCreateOpts *o = &a->co.o;
    uint64_t cs = o->cluster_size ? o->cluster_size : 65536;
    unsigned rb = o->refcount_bits ? o->refcount_bits : 16;
    uint64_t vs = round_up(bd ? block_length(bd) : a->size, cs);
    uint64_t l2_tables = div_up(vs / cs, cs / (o->extended_l2 ? 16 : 8));
    if (l2_tables * 8 > QCOW2_MAX_L1_BYTES)
        return error_set(err, "the image size is too large (try using a larger cluster size)");
    uint64_t data = 0;
    bool prealloc = o->preallocation && (strcmp(o->preallocation, "full") == 0 ||
                                         strcmp(o->preallocation, "falloc") == 0);
    if (prealloc)
        data = vs;
    else if (bd && measure_data(bd, cs, &data, err) < 0)
        return -1;
    *full = qcow2_full_size(vs, cs, rb, o->extended_l2);
    *required = *full - vs + data;
    return 0;
}

static void measure_print(const MeasureArgs *a, BlockDev *bd, uint64_t required, uint64_t full)
{
    if (a->output == IMG_OUT_HUMAN) {
        printf("required size: %" PRIu64 "\nfully allocated size: %" PRIu64 "\n", required, full);
        return;
    }
    json_t *o = json_object();
    /* qemu-img counts persistent bitmaps when both sides are qcow2; we have none. */
    if (bd && strcmp(bd->drv->format, "qcow2") == 0 && strcmp(a->dst_fmt, "qcow2") == 0)
        json_object_set_new(o, "bitmaps", json_integer(0));
    json_object_set_new(o, "required", json_integer((json_int_t)required));
    json_object_set_new(o, "fully-allocated", json_integer((json_int_t)full));
    img_json_print(o);
}

static int img_measure(int argc, char **argv)
{
    MeasureArgs a = {.dst_fmt = "raw", .output = IMG_OUT_HUMAN};
    int rc = measure_parse(&a, argc, argv);
    BlockDev *bd = NULL;
    Error err = {0};
    uint64_t required = 0, full = 0;
    if (rc == 0 && a.co.help) {
        img_create_opts_help(a.dst_fmt);
    } else if (rc == 0 && a.file &&
               !(bd = img_open(a.file, a.src_fmt, a.share ? IMG_OPEN_SHARE : 0, &err))) {
        rc = img_fail(&err);
    } else if (rc == 0 && strcmp(a.dst_fmt, "qcow2") == 0) {
        if (measure_qcow2(&a, bd, &required, &full, &err) < 0)
            rc = img_fail(&err);
    } else if (rc == 0) {
        required = full = bd ? block_length(bd) : round_up(a.size, 512);
    }
    if (rc == 0 && !a.co.help)
        measure_print(&a, bd, required, full);
    block_close(bd);
    img_create_opts_free(&a.co);
    return rc;
}

const ImgCommand img_cmd_measure = {
    .name = "measure",
    .run = img_measure,
    .summary = "compute the file size a new image needs",
    .usage = "usage: hostel img measure [--output=human|json] [-O FMT] [-o OPTS] [-U]\n"
             "                          (--size N | [-f FMT] FILE)\n\n"
             "Print the file size an image of format FMT needs to hold FILE's data\n"
             "(\"required size\") and when every cluster is allocated (\"fully allocated\n"
             "size\"), or those of an empty image of N bytes.\n\n"
             "  -O FMT          raw (default) or qcow2\n"
             "  -o OPTS         cluster_size, refcount_bits, extended_l2, preallocation, ...\n"
             "  --size N        measure an empty image of N bytes\n"
             "  -f FMT          format of FILE (default: probed)\n"
             "  --output=json   {\"required\": ..., \"fully-allocated\": ...}\n"
             "  -U              do not lock FILE\n",
};
