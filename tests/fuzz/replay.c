/*
 * A main() for fuzz targets built without libFuzzer (gcc, plain builds):
 * runs LLVMFuzzerTestOneInput once per input file, so the seed corpus
 * doubles as a regression test.  Arguments are files or directories (every
 * regular file inside is run).  Prints one TAP line per input; a bug traps
 * or trips a sanitizer.
 */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define REPLAY_MAX_INPUT (1 << 20)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int ran, failed;

static void run_file(const char *path)
{
    static uint8_t buf[REPLAY_MAX_INPUT];
    FILE *f = fopen(path, "rb");
    size_t n = f ? fread(buf, 1, sizeof(buf), f) : 0;
    ran++;
    if (!f || ferror(f)) {
        printf("not ok %d - cannot read %s\n", ran, path);
        failed++;
    } else {
        LLVMFuzzerTestOneInput(buf, n);
        printf("ok %d - %s\n", ran, path);
    }
    if (f)
        fclose(f);
}

static int by_name(const struct dirent **a, const struct dirent **b)
{
    return strcmp((*a)->d_name, (*b)->d_name);
}

static void run_dir(const char *dir)
{
    struct dirent **names;
    int n = scandir(dir, &names, NULL, by_name);
    for (int i = 0; i < n; i++) {
        char path[4096];
        struct stat st;
        snprintf(path, sizeof(path), "%s/%s", dir, names[i]->d_name);
        if (stat(path, &st) == 0 && S_ISREG(st.st_mode))
            run_file(path);
        free(names[i]);
    }
    if (n >= 0)
        free(names);
}

int main(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        struct stat st;
        if (stat(argv[i], &st) == 0 && S_ISDIR(st.st_mode))
            run_dir(argv[i]);
        else
            run_file(argv[i]);
    }
    printf("1..%d\n", ran);
    return failed || ran == 0 ? 1 : 0;
}
