/*
 * hostel img snapshot [-l | -c NAME | -a NAME | -d NAME] [-U] [-q] FILE
 *
 * Internal snapshots of one image (its backing chain is not opened).
 */
#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "img/img_util.h"

typedef struct SnapshotArgs {
    char action; /* 'l', 'c', 'a' or 'd' */
    const char *name;
    const char *file;
    const char *format;
    bool share;
    bool quiet;
} SnapshotArgs;

static int snapshot_parse(SnapshotArgs *a, int argc, char **argv)
{
    int c;
    while ((c = getopt(argc, argv, ":lc:a:d:f:Uq")) != -1) {
        switch (c) {
        case 'l':
        case 'c':
        case 'a':
        case 'd':
            if (a->action)
                return img_usage_error("snapshot", "give only one of -l, -c, -a, -d");
            a->action = (char)c;
            a->name = c == 'l' ? NULL : optarg;
            break;
        case 'f': a->format = optarg; break;
        case 'U': a->share = true; break;
        case 'q': a->quiet = true; break;
        default: return img_bad_option("snapshot", c, argv);
        }
    }
    if (!a->action)
        return img_usage_error("snapshot", "give one of -l, -c NAME, -a NAME, -d NAME");
    if (optind != argc - 1)
        return img_usage_error("snapshot", "expected one image file name");
    if (a->share && a->action != 'l')
        return img_usage_error("snapshot", "-U only works with -l");
    a->file = argv[optind];
    return 0;
}

static int snapshot_list(BlockDev *bd, Error *err)
{
    BlockSnapshot *list;
    int count;
    if (block_snapshot_list(bd, &list, &count, err) < 0)
        return -1;
    if (count > 0) {
        printf("Snapshot list:\n");
        img_snapshot_table(list, count);
    }
    block_snapshot_list_free(list, count);
    return 0;
}

static int snapshot_create(BlockDev *bd, const char *name, Error *err)
{
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    /* As qemu-img: no VM state, VM clock 0, instruction count 0. */
    BlockSnapshot sn = {
        .name = (char *)name,
        .disk_size = block_length(bd),
        .date_sec = (uint32_t)now.tv_sec,
        .date_nsec = (uint32_t)(now.tv_nsec / 1000 * 1000),
    };
    return block_snapshot_create(bd, &sn, err);
}

static int snapshot_run(BlockDev *bd, const SnapshotArgs *a, Error *err)
{
    switch (a->action) {
    case 'l': return snapshot_list(bd, err);
    case 'c': return snapshot_create(bd, a->name, err);
    case 'a': return block_snapshot_apply(bd, a->name, err);
    default: return block_snapshot_delete(bd, a->name, err);
    }
}

static int img_snapshot(int argc, char **argv)
{
    SnapshotArgs a = {0};
    int rc = snapshot_parse(&a, argc, argv);
    if (rc)
        return rc;
    Error err = {0};
    unsigned flags =
        IMG_OPEN_NO_BACKING | (a.action == 'l' ? 0 : IMG_OPEN_RW) | (a.share ? IMG_OPEN_SHARE : 0);
    BlockDev *bd = img_open(a.file, a.format, flags, &err);
    if (!bd)
        return img_fail(&err);
    if (snapshot_run(bd, &a, &err) < 0 || block_flush(bd, &err) < 0)
        rc = img_fail(&err);
    block_close(bd);
    return rc;
}

const ImgCommand img_cmd_snapshot = {
    .name = "snapshot",
    .run = img_snapshot,
    .summary = "list, create, apply or delete internal snapshots (qcow2)",
    .usage =
        "usage: hostel img snapshot [-l | -c NAME | -a NAME | -d NAME] [-f FMT] [-U] [-q] FILE\n\n"
        "  -l        list the snapshots\n"
        "  -c NAME   create a snapshot of the current disk state\n"
        "  -a NAME   apply (revert to) a snapshot, by name or ID\n"
        "  -d NAME   delete a snapshot, by name or ID\n"
        "  -U        with -l: do not lock the image\n",
};
