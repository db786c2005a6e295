/*
 * `hostel img` dispatch: a table of subcommands with qemu-img's names, each
 * in its own file (img_<command>.c) as a thin handler over src/block.
 */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "img/img_util.h"
#include "util/compiler.h"

static const ImgCommand *const img_commands[] = {
    &img_cmd_create,  &img_cmd_info,     &img_cmd_check,   &img_cmd_convert,
    &img_cmd_resize,  &img_cmd_snapshot, &img_cmd_commit,  &img_cmd_rebase,
    &img_cmd_compare, &img_cmd_map,      &img_cmd_measure,
};

static void img_help(FILE *out)
{
    fprintf(out, "usage: hostel img COMMAND [options]\n\n"
                 "Create, inspect, check and convert disk images (raw, qcow2) with\n"
                 "qemu-img's commands and options.\n\ncommands:\n");
    for (size_t i = 0; i < ARRAY_SIZE(img_commands); i++)
        fprintf(out, "  %-9s %s\n", img_commands[i]->name, img_commands[i]->summary);
    fprintf(out, "\nRun 'hostel img COMMAND --help' for a command's options.\n"
                 "Sizes take k, M, G, T, P or E suffixes (powers of 1024).\n");
}

static const ImgCommand *img_find(const char *name)
{
    for (size_t i = 0; i < ARRAY_SIZE(img_commands); i++) {
        if (strcmp(img_commands[i]->name, name) == 0)
            return img_commands[i];
    }
    return NULL;
}

/* --help or -h anywhere before "--" asks for the command's usage. */
static bool img_wants_help(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--") == 0)
            return false;
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0)
            return true;
    }
    return false;
}

static int img_main(int argc, char **argv)
{
    if (argc < 2) {
        img_help(stderr);
        return IMG_EXIT_FAIL;
    }
    const char *name = argv[1];
    if (strcmp(name, "--help") == 0 || strcmp(name, "-h") == 0 || strcmp(name, "help") == 0) {
        const ImgCommand *cmd = argc > 2 ? img_find(argv[2]) : NULL;
        if (cmd)
            fputs(cmd->usage, stdout);
        else
            img_help(stdout);
        return 0;
    }
    const ImgCommand *cmd = img_find(name);
    if (!cmd)
        return img_error("unknown command '%s' (see 'hostel img --help')", name);
    if (img_wants_help(argc - 1, argv + 1)) {
        fputs(cmd->usage, stdout);
        return 0;
    }
    img_getopt_reset();
    return cmd->run(argc - 1, argv + 1);
}

const Command cmd_img = {
    .name = "img",
    .run = img_main,
    .help = img_help,
    .summary = "create, inspect, check and convert disk images (raw, qcow2)",
};
