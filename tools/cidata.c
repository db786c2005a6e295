/*
 * The cloud-init NoCloud seed disk (cidata.h): the files read and capped,
 * a name from their content, the FAT image made by mkfs.vfat and filled by
 * mcopy in a private directory, then renamed into the cache.
 */
#include "cidata.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "util/io.h"
#include "util/sha1.h"

enum { SEED_USER, SEED_META, SEED_NETWORK, SEED_FILES };
static const char *const seed_names[SEED_FILES] = {"user-data", "meta-data", "network-config"};

typedef struct Seed {
    const char *path[SEED_FILES]; /* given files (NULL: none) */
    char *data[SEED_FILES];       /* their contents (meta-data may be made) */
    size_t len[SEED_FILES];
    char hex[2 * SHA1_LEN + 1]; /* the seed's name */
} Seed;

static void seed_free(Seed *s)
{
    for (int i = 0; i < SEED_FILES; i++)
        free(s->data[i]);
}

/* SPEC into s->path: the user-data file, then key=FILE options. */
static int seed_parse(Seed *s, char *spec, Error *err)
{
    char *save = NULL;
    for (char *tok = strtok_r(spec, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        char *eq = strchr(tok, '=');
        int which = -1;
        if (!s->path[SEED_USER] && !eq) {
            which = SEED_USER;
        } else if (eq) {
            *eq = '\0';
            for (int i = SEED_META; i < SEED_FILES; i++)
                if (strcmp(tok, seed_names[i]) == 0)
                    which = i;
            if (which < 0)
                return error_set(err,
                                 "--cloud-init: unknown option '%.40s' (meta-data=FILE or "
                                 "network-config=FILE)",
                                 tok);
            tok = eq + 1;
        }
        if (which < 0 || !*tok || s->path[which])
            return error_set(err, "--cloud-init: expected USER-DATA[,meta-data=FILE]"
                                  "[,network-config=FILE]");
        s->path[which] = tok;
    }
    if (!s->path[SEED_USER])
        return error_set(err, "--cloud-init: expected a user-data file");
    return 0;
}

static int read_capped(const char *path, char **data, size_t *len, Error *err)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    struct stat st;
    if (fd < 0)
        return error_set_errno(err, errno, "--cloud-init: %s", path);
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_size > CIDATA_MAX_FILE) {
        close(fd);
        return error_set(err, "--cloud-init: %s: not a regular file of at most 1 MiB", path);
    }
    *data = malloc((size_t)st.st_size + 1);
    int r = *data ? io_pread_all(fd, *data, (size_t)st.st_size, 0) : -1;
    close(fd);
    if (r < 0)
        return error_set(err, "--cloud-init: %s: cannot read it", path);
    *len = (size_t)st.st_size;
    return 0;
}

/* The seed's name: SHA-1 over each file's name, length and bytes. */
static void seed_name(Seed *s)
{
    size_t total = 0;
    for (int i = 0; i < SEED_FILES; i++)
        total += 32 + s->len[i];
    char *buf = malloc(total), *p = buf;
    uint8_t d[SHA1_LEN];
    if (!buf) {
        snprintf(s->hex, sizeof(s->hex), "%x", (unsigned)getpid()); /* still a fresh name */
        return;
    }
    for (int i = 0; i < SEED_FILES; i++) {
        p += sprintf(p, "%s %zu\n", seed_names[i], s->len[i]);
        if (s->len[i])
            memcpy(p, s->data[i], s->len[i]);
        p += s->len[i];
    }
    sha1(buf, (size_t)(p - buf), d);
    free(buf);
    for (int i = 0; i < SHA1_LEN; i++)
        sprintf(s->hex + 2 * i, "%02x", d[i]);
}

static int meta_data_default(Seed *s, const char *hostname, Error *err)
{
    char hex[2 * SHA1_LEN + 1];
    seed_name(s); /* of user-data and network-config: the instance changes with them */
    memcpy(hex, s->hex, sizeof(hex));
    size_t cap = 128 + (hostname ? strlen(hostname) : 0);
    s->data[SEED_META] = malloc(cap);
    if (!s->data[SEED_META])
        return error_set(err, "out of memory");
    int n = snprintf(s->data[SEED_META], cap, "instance-id: iid-hostel-%.16s\n", hex);
    if (hostname)
        n += snprintf(s->data[SEED_META] + n, cap - (size_t)n, "local-hostname: %s\n", hostname);
    s->len[SEED_META] = (size_t)n;
    return 0;
}

static int seed_read(Seed *s, const char *hostname, Error *err)
{
    for (int i = 0; i < SEED_FILES; i++)
        if (s->path[i] && read_capped(s->path[i], &s->data[i], &s->len[i], err) < 0)
            return -1;
    if (!s->path[SEED_META] && meta_data_default(s, hostname, err) < 0)
        return -1;
    seed_name(s);
    return 0;
}

/* mkdir -p of an absolute or relative path (mode 0700 for what it makes). */
static int mkdir_p(char *path, Error *err)
{
    for (char *p = path + 1;; p++) {
        if (*p != '/' && *p != '\0')
            continue;
        char c = *p;
        *p = '\0';
        int r = mkdir(path, 0700);
        *p = c;
        if (r < 0 && errno != EEXIST)
            return error_set_errno(err, errno, "--cloud-init: %s", path);
        if (!c)
            return 0;
    }
}

static int cache_dir(char *buf, size_t size, Error *err)
{
    const char *cache = getenv("HOSTEL_CACHE"), *home = getenv("HOME");
    int n = cache && *cache ? snprintf(buf, size, "%s/cidata", cache)
            : home          ? snprintf(buf, size, "%s/.cache/hostel/cidata", home)
                            : -1;
    if (n < 0 || (size_t)n >= size)
        return error_set(err, "--cloud-init: no cache directory (HOSTEL_CACHE or HOME)");
    return mkdir_p(buf, err);
}

/* Run a tool (looked up in PATH, then /usr/sbin and /sbin); 0, or -1 with err. */
static int run_tool(char *const argv[], const char *pkg, Error *err)
{
    pid_t pid = fork();
    if (pid < 0)
        return error_set_errno(err, errno, "--cloud-init: fork");
    if (pid == 0) {
        int null = open("/dev/null", O_WRONLY | O_CLOEXEC);
        if (null >= 0)
            dup2(null, 1);
        setenv("MTOOLS_SKIP_CHECK", "1", 1);
        execvp(argv[0], argv);
        char path[256];
        for (int i = 0; i < 2; i++) {
            snprintf(path, sizeof(path), "%s/%s", i ? "/sbin" : "/usr/sbin", argv[0]);
            execv(path, argv);
        }
        _exit(127);
    }
    int status;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    if (WIFEXITED(status) && WEXITSTATUS(status) == 127)
        return error_set(err, "--cloud-init: %s is missing (Debian package %s)", argv[0], pkg);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
        return error_set(err, "--cloud-init: %s failed (status %d)", argv[0],
                         WIFEXITED(status) ? WEXITSTATUS(status) : -1);
    return 0;
}

/* The image at img holding the seed's files, written to dir first. */
static int seed_image(Seed *s, const char *dir, const char *img, Error *err)
{
    char files[SEED_FILES][4096], blocks[32], volid[9];
    size_t total = 0;
    int nfiles = 0;
    for (int i = 0; i < SEED_FILES; i++) {
        if (!s->data[i])
            continue;
        if ((size_t)snprintf(files[nfiles], sizeof(files[nfiles]), "%s/%s", dir, seed_names[i]) >=
            sizeof(files[nfiles]))
            return error_set(err, "--cloud-init: path too long");
        int fd = open(files[nfiles], O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
        bool ok = fd >= 0 && io_write_all(fd, s->data[i], s->len[i]);
        if (fd >= 0 && close(fd) < 0)
            ok = false;
        if (!ok)
            return error_set_errno(err, errno, "--cloud-init: %s", files[nfiles]);
        total += s->len[i];
        nfiles++;
    }
    snprintf(blocks, sizeof(blocks), "%zu", 1024 + 2 * (total / 1024)); /* KiB */
    memcpy(volid, s->hex, 8);
    volid[8] = '\0';
    char *mkfs[] = {"mkfs.vfat", "-C", (char *)img, "-n", "CIDATA", "-i", volid, blocks, NULL};
    if (run_tool(mkfs, "dosfstools", err) < 0)
        return -1;
    char *mcopy[4 + SEED_FILES + 1] = {"mcopy", "-i", (char *)img};
    for (int i = 0; i < nfiles; i++)
        mcopy[3 + i] = files[i];
    mcopy[3 + nfiles] = "::";
    return run_tool(mcopy, "mtools", err);
}

/* Remove the private directory's files and the directory. */
static void remove_dir(const char *dir)
{
    char path[4096];
    for (int i = 0; i < SEED_FILES; i++)
        if ((size_t)snprintf(path, sizeof(path), "%s/%s", dir, seed_names[i]) < sizeof(path))
            unlink(path);
    if ((size_t)snprintf(path, sizeof(path), "%s/seed.img", dir) < sizeof(path))
        unlink(path);
    rmdir(dir);
}

static int seed_make(Seed *s, const char *cache, const char *final, Error *err)
{
    char dir[4096], img[4200];
    if ((size_t)snprintf(dir, sizeof(dir), "%s/.tmp-XXXXXX", cache) >= sizeof(dir) || !mkdtemp(dir))
        return error_set_errno(err, errno ? errno : ENAMETOOLONG, "--cloud-init: %s", cache);
    if ((size_t)snprintf(img, sizeof(img), "%s/seed.img", dir) >= sizeof(img))
        return error_set(err, "--cloud-init: path too long");
    int r = seed_image(s, dir, img, err);
    if (r == 0 && rename(img, final) < 0)
        r = error_set_errno(err, errno, "--cloud-init: %s", final);
    remove_dir(dir);
    return r;
}

int cidata_make(const char *spec, const char *hostname, char *path, size_t size, Error *err)
{
    Seed s = {0};
    char cache[4096];
    char *copy = strdup(spec);
    int r = copy ? 0 : error_set(err, "out of memory");
    if (r == 0)
        r = seed_parse(&s, copy, err);
    if (r == 0)
        r = seed_read(&s, hostname, err);
    if (r == 0)
        r = cache_dir(cache, sizeof(cache), err);
    if (r == 0 && (size_t)snprintf(path, size, "%s/%s.img", cache, s.hex) >= size)
        r = error_set(err, "--cloud-init: the cache path is too long");
    if (r == 0 && access(path, R_OK) != 0)
        r = seed_make(&s, cache, path, err);
    seed_free(&s);
    free(copy);
    return r;
}
