/*
 * `hostel image build NAME ... -o FILE` and `hostel image list`: bootable disk
 * images built from a distribution's archive by the recipes in images/NAME/
 * (build.sh; docs/images.md).  The handler checks the recipe's name and hands
 * the options over to its script, with HOSTEL_BIN naming this program (the
 * script converts to qcow2 with `hostel img convert`).
 */
#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"

#ifndef HOSTEL_IMAGES_DIR
#define HOSTEL_IMAGES_DIR "images"
#endif

static void image_help(FILE *out)
{
    fprintf(out,
            "usage: hostel image build NAME [--size SIZE] [--packages A,B] [--format qcow2|raw]\n"
            "                          -o FILE\n"
            "       hostel image list\n"
            "\n"
            "Build a bootable disk image from a distribution's archive with its own tools\n"
            "(recipes in images/NAME/; 'list' shows them), e.g. debian-13: Debian 13 riscv64\n"
            "with systemd, Debian's kernel, u-boot-menu's extlinux.conf, openssh-server,\n"
            "cloud-init and qemu-guest-agent.  Boot it with 'hostel run -d FILE'; log in\n"
            "through a cloud-init seed ('hostel run --cloud-init USER-DATA').  Built once per\n"
            "recipe and options, cached in ~/.cache/hostel/images (or $HOSTEL_CACHE/images).\n"
            "Needs root and network access (docs/images.md).\n"
            "\n"
            "options:\n"
            "      --size SIZE       the disk's size in M or G (default 4G, at least 1536M)\n"
            "      --packages A,B    more packages to install\n"
            "      --format FMT      qcow2 (default) or raw (sparse)\n"
            "  -o FILE               where the image goes\n"
            "      --hash            print the recipe hash (the cache key) instead\n"
            "\n"
            "environment: HOSTEL_IMAGES_DIR (the recipes, default %s),\n"
            "HOSTEL_DEBIAN_MIRROR (default: the host's apt source for Debian), HOSTEL_CACHE\n",
            HOSTEL_IMAGES_DIR);
}

static const char *images_dir(void)
{
    const char *d = getenv("HOSTEL_IMAGES_DIR");
    return d && *d ? d : HOSTEL_IMAGES_DIR;
}

/* A recipe name: letters, digits, '.', '_', '-', not starting with '.' or '-'. */
static bool recipe_name_ok(const char *name)
{
    size_t n = strlen(name);
    if (n == 0 || n > 64 || name[0] == '.' || name[0] == '-')
        return false;
    return strspn(name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-") == n;
}

/* images/NAME/build.sh into buf; false when there is no such recipe. */
static bool recipe_script(const char *name, char *buf, size_t size)
{
    struct stat st;
    int n = snprintf(buf, size, "%s/%s/build.sh", images_dir(), name);
    return n > 0 && (size_t)n < size && stat(buf, &st) == 0 && S_ISREG(st.st_mode);
}

static int image_list(void)
{
    DIR *d = opendir(images_dir());
    if (!d) {
        fprintf(stderr, "hostel image: %s: %s\n", images_dir(), strerror(errno));
        return CLI_EXIT_FAIL;
    }
    char path[PATH_MAX];
    for (struct dirent *e; (e = readdir(d));)
        if (recipe_name_ok(e->d_name) && recipe_script(e->d_name, path, sizeof(path)))
            printf("%s\n", e->d_name);
    closedir(d);
    return 0;
}

/* Options a recipe takes: checked here for the usage line, their values by the recipe. */
static int build_check_args(int argc, char **argv, bool *has_out)
{
    static const struct option longopts[] = {
        {"size", required_argument, NULL, 's'},   {"packages", required_argument, NULL, 'p'},
        {"format", required_argument, NULL, 'f'}, {"hash", no_argument, NULL, 'H'},
        {"help", no_argument, NULL, 'h'},         {0}};
    int c;
    bool hash = false;
    opterr = 0;
    optind = 1;
    while ((c = getopt_long(argc, argv, ":o:h", longopts, NULL)) != -1) {
        if (c == 'h') {
            image_help(stdout);
            return -1;
        }
        if (c == 'o')
            *has_out = true;
        else if (c == 'H')
            hash = true;
        else if (c == ':')
            return cli_usage("image", "%s needs a value", argv[optind - 1]);
        else if (c == '?')
            return cli_usage("image", "unknown option '%s'", argv[optind - 1]);
    }
    if (optind < argc)
        return cli_usage("image", "unexpected argument '%s'", argv[optind]);
    if (!*has_out && !hash)
        return cli_usage("image", "build needs -o FILE");
    return 0;
}

static int image_build(int argc, char **argv)
{
    if (argc < 2)
        return cli_usage("image", "build needs a recipe name (hostel image list)");
    const char *name = argv[1];
    char script[PATH_MAX], self[PATH_MAX];
    if (!recipe_name_ok(name) || !recipe_script(name, script, sizeof(script)))
        return cli_usage("image", "no image recipe named '%.64s' in %s (hostel image list)", name,
                         images_dir());
    bool has_out = false;
    int r = build_check_args(argc - 1, argv + 1, &has_out);
    if (r != 0)
        return r < 0 ? 0 : r;
    ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
    if (n > 0) {
        self[n] = '\0';
        setenv("HOSTEL_BIN", self, 1);
    }
    char **args = calloc((size_t)argc + 2, sizeof(*args));
    if (!args) {
        fprintf(stderr, "hostel image: out of memory\n");
        return CLI_EXIT_FAIL;
    }
    args[0] = "bash";
    args[1] = script;
    for (int i = 2; i < argc; i++)
        args[i] = argv[i];
    fflush(NULL);
    execvp("bash", args);
    fprintf(stderr, "hostel image: cannot run bash %s: %s\n", script, strerror(errno));
    free(args);
    return CLI_EXIT_FAIL;
}

static int image_main(int argc, char **argv)
{
    if (argc < 2)
        return cli_usage("image", "expected build or list");
    if (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0) {
        image_help(stdout);
        return 0;
    }
    if (strcmp(argv[1], "list") == 0)
        return argc == 2 ? image_list() : cli_usage("image", "list takes no arguments");
    if (strcmp(argv[1], "build") == 0)
        return image_build(argc - 1, argv + 1);
    return cli_usage("image", "unknown subcommand '%.64s' (build or list)", argv[1]);
}

const Command cmd_image = {
    .name = "image",
    .run = image_main,
    .help = image_help,
    .summary = "build bootable disk images from a distribution's archive (debian-13)",
};
