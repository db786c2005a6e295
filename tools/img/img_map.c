/*
 * hostel img map [-f FMT] [--output=human|json | --json] [-U] FILE
 *
 * Walks the whole virtual disk through the backing chain and prints one
 * entry per run of bytes with the same status, merging neighbours as
 * qemu-img map does.
 */
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>

#include "img/img_util.h"

typedef struct MapArgs {
    const char *format;
    const char *file;
    ImgOutput output;
    bool share;
} MapArgs;

typedef struct MapEntry {
    uint64_t start, length;
    unsigned depth;
    unsigned flags;  /* BLOCK_ST_* */
    uint64_t offset; /* host offset, valid with BLOCK_ST_OFFSET */
} MapEntry;

enum { OPT_OUTPUT = 256, OPT_JSON };

static const struct option map_long[] = {
    {"output", required_argument, NULL, OPT_OUTPUT},
    {"json", no_argument, NULL, OPT_JSON},
    {"force-share", no_argument, NULL, 'U'},
    {NULL, 0, NULL, 0},
};

static int map_parse(MapArgs *a, int argc, char **argv)
{
    int c;
    while ((c = getopt_long(argc, argv, ":f:U", map_long, NULL)) != -1) {
        switch (c) {
        case 'f': a->format = optarg; break;
        case 'U': a->share = true; break;
        case OPT_JSON: a->output = IMG_OUT_JSON; break;
        case OPT_OUTPUT:
            if (!img_parse_output(optarg, &a->output))
                return img_usage_error("map", "--output must be human or json");
            break;
        default: return img_bad_option("map", c, argv);
        }
    }
    if (optind != argc - 1)
        return img_usage_error("map", "expected one image file name");
    a->file = argv[optind];
    return 0;
}

static bool map_has_offset(const MapEntry *e)
{
    return (e->flags & BLOCK_ST_OFFSET) != 0;
}

/* next continues e: same status and, for mapped data, the next host bytes. */
static bool map_mergeable(const MapEntry *e, const MapEntry *next, bool human)
{
    if (e->start + e->length != next->start)
        return false;
    if (human) /* qemu-img's table: only the file and the mapping have to continue */
        return e->depth == next->depth && e->offset + e->length == next->offset;
    if (e->depth != next->depth || e->flags != next->flags)
        return false;
    return !map_has_offset(e) || e->offset + e->length == next->offset;
}

/*
 * One entry of the JSON array, written as it is found (an image can have
 * millions): one object per line, as qemu-img prints them.
 */
static void map_print_json(const MapEntry *e, bool first)
{
    unsigned f = e->flags;
    json_t *o = json_pack("{s:I, s:I, s:i, s:b, s:b, s:b, s:b}", "start", (json_int_t)e->start,
                          "length", (json_int_t)e->length, "depth", (int)e->depth, "present",
                          (f & BLOCK_ST_ALLOCATED) != 0, "zero", (f & BLOCK_ST_ZERO) != 0, "data",
                          (f & BLOCK_ST_DATA) != 0, "compressed", (f & BLOCK_ST_COMPRESSED) != 0);
    if (map_has_offset(e))
        json_object_set_new(o, "offset", json_integer((json_int_t)e->offset));
    fputs(first ? "[" : ",\n", stdout);
    json_dumpf(o, stdout, JSON_PRESERVE_ORDER);
    json_decref(o);
}

static void map_print_human(BlockDev *bd, const MapEntry *e)
{
    BlockDev *layer = img_chain_layer(bd, e->depth);
    printf("%#-16" PRIx64 "%#-16" PRIx64 "%#-16" PRIx64 "%s\n", e->start, e->length, e->offset,
           layer ? layer->filename : "?");
}

/* Print the pending entry (if any) and note that something was printed. */
static void map_flush(BlockDev *bd, const MapArgs *a, const MapEntry *e, int *printed)
{
    if (!e->length)
        return;
    if (a->output == IMG_OUT_JSON) {
        map_print_json(e, *printed == 0);
    } else {
        if (!(e->flags & BLOCK_ST_DATA) || !map_has_offset(e))
            return; /* the table lists mapped data only */
        map_print_human(bd, e);
    }
    (*printed)++;
}

static int map_walk(BlockDev *bd, const MapArgs *a, Error *err)
{
    MapEntry cur = {0};
    int printed = 0;
    bool human = a->output == IMG_OUT_HUMAN;
    uint64_t len = block_length(bd);
    if (human)
        printf("%-16s%-16s%-16s%s\n", "Offset", "Length", "Mapped to", "File");
    for (uint64_t off = 0; off < len;) {
        MapEntry e = {.start = off};
        if (img_chain_status(bd, off, len - off, &e.length, &e.flags, &e.offset, &e.depth, err) < 0)
            return -1;
        if (human && (!(e.flags & BLOCK_ST_DATA) || !map_has_offset(&e))) {
            map_flush(bd, a, &cur, &printed);
            cur.length = 0;
        } else if (cur.length && map_mergeable(&cur, &e, human)) {
            cur.length += e.length;
        } else {
            map_flush(bd, a, &cur, &printed);
            cur = e;
        }
        off += e.length;
    }
    map_flush(bd, a, &cur, &printed);
    if (!human)
        printf(printed ? "]\n" : "[]\n");
    return 0;
}

static int img_map(int argc, char **argv)
{
    MapArgs a = {.output = IMG_OUT_HUMAN};
    int rc = map_parse(&a, argc, argv);
    if (rc)
        return rc;
    Error err = {0};
    BlockDev *bd = img_open(a.file, a.format, a.share ? IMG_OPEN_SHARE : 0, &err);
    if (!bd)
        return img_fail(&err);
    if (map_walk(bd, &a, &err) < 0)
        rc = img_fail(&err);
    block_close(bd);
    return rc;
}

const ImgCommand img_cmd_map = {
    .name = "map",
    .run = img_map,
    .summary = "show which parts of an image hold data, zeroes or come from a backing file",
    .usage = "usage: hostel img map [-f FMT] [--output=human|json | --json] [-U] FILE\n\n"
             "Walk FILE's virtual disk through its backing chain.  Human output lists the\n"
             "ranges mapped to host data (offset, length, host offset, file); JSON lists\n"
             "every range: start, length, depth (0 = FILE), present, zero, data,\n"
             "compressed and the host offset.\n\n"
             "  -f FMT              raw or qcow2 (default: probed)\n"
             "  --output=json       one JSON array (also --json)\n"
             "  -U, --force-share   do not lock the image\n",
};
