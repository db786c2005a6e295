/*
 * The state directory and its VM documents (store.h): atomic writes,
 * recovery at open (stray temporary files removed, unreadable documents
 * listed as broken and kept), and the in-memory list sorted by name.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "mgmt/fileio.h"
#include "mgmt/store.h"
#include "util/io.h"
#include "util/log.h"

#define DOC_MAX_BYTES (4u << 20) /* a document larger than this is broken, not read */

struct MgmtStore {
    char *dir;     /* the state directory */
    char *vms_dir; /* DIR/vms */
    MgmtVm *vms;   /* sorted by name */
    size_t nvms, cap;
    MgmtBroken *broken;
    size_t nbroken;
    MgmtStoreFault fault;
    int lock_fd; /* DIR/lock, flock'ed for as long as the store is open */
};

int mgmt_state_dir_default(char *buf, size_t size, Error *err)
{
    const char *xdg = getenv("XDG_DATA_HOME"), *home = getenv("HOME");
    int n;
    if (geteuid() == 0)
        n = snprintf(buf, size, "/var/lib/hostel");
    else if (xdg && xdg[0] == '/')
        n = snprintf(buf, size, "%s/hostel", xdg);
    else if (home && home[0] == '/')
        n = snprintf(buf, size, "%s/.local/share/hostel", home);
    else
        return error_set(err, "no state directory: HOME is not set (give --state-dir)");
    if (n < 0 || (size_t)n >= size)
        return error_set(err, "the state directory's path is too long");
    return 0;
}

/* mkdir -p for dir (each missing component made with mode). */
static int make_dirs(const char *dir, mode_t mode, Error *err)
{
    char path[PATH_MAX];
    if (snprintf(path, sizeof(path), "%s", dir) >= (int)sizeof(path))
        return error_set(err, "%.200s: path too long", dir);
    for (char *p = path + 1;; p++) {
        if (*p != '/' && *p != '\0')
            continue;
        char c = *p;
        *p = '\0';
        if (mkdir(path, mode) < 0 && errno != EEXIST)
            return error_set_errno(err, errno, "cannot create %.200s", path);
        *p = c;
        if (c == '\0')
            return 0;
    }
}

/* DIR/vms/FILE into buf. */
static int doc_path(const MgmtStore *s, const char *file, char *buf, size_t size, Error *err)
{
    if (snprintf(buf, size, "%s/%s", s->vms_dir, file) >= (int)size)
        return error_set(err, "%.200s/%.80s: path too long", s->vms_dir, file);
    return 0;
}

/* ---- the in-memory list ---- */

/* Where name is, or where it would go, in the sorted list. */
static size_t find_index(const MgmtStore *s, const char *name, bool *found)
{
    size_t lo = 0, hi = s->nvms;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(s->vms[mid].name, name);
        if (c == 0) {
            *found = true;
            return mid;
        }
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    *found = false;
    return lo;
}

/* Take vm (moved, not copied) into the list, replacing one of the same name. */
static int list_take(MgmtStore *s, MgmtVm *vm, Error *err)
{
    bool found;
    size_t i = find_index(s, vm->name, &found);
    if (found) {
        mgmt_vm_free(&s->vms[i]);
        s->vms[i] = *vm;
        return 0;
    }
    if (s->nvms == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 16;
        MgmtVm *v = realloc(s->vms, cap * sizeof(*v));
        if (!v)
            return error_set(err, "out of memory");
        s->vms = v;
        s->cap = cap;
    }
    memmove(&s->vms[i + 1], &s->vms[i], (s->nvms - i) * sizeof(*s->vms));
    s->vms[i] = *vm;
    s->nvms++;
    return 0;
}

static int broken_add(MgmtStore *s, const char *file, const char *message)
{
    MgmtBroken *b = realloc(s->broken, (s->nbroken + 1) * sizeof(*b));
    if (!b)
        return -1;
    s->broken = b;
    b[s->nbroken].file = strdup(file);
    b[s->nbroken].message = strdup(message);
    if (!b[s->nbroken].file || !b[s->nbroken].message) {
        free(b[s->nbroken].file);
        free(b[s->nbroken].message);
        return -1;
    }
    s->nbroken++;
    log_warn("%s/%s is broken and skipped (kept on disk): %s", s->vms_dir, file, message);
    return 0;
}

/* ---- open ---- */

/* A temporary file of ours: ".NAME.json.tmp-XXXXXX". */
static bool is_temp_file(const char *file)
{
    return file[0] == '.' && strstr(file, ".json.tmp-") != NULL;
}

/* The name of FILE = NAME.json into name (false if file is not one). */
static bool doc_name_of(const char *file, char name[MGMT_NAME_MAX + 1])
{
    size_t n = strlen(file);
    if (n <= 5 || strcmp(file + n - 5, ".json") != 0 || n - 5 > MGMT_NAME_MAX)
        return false;
    memcpy(name, file, n - 5);
    name[n - 5] = '\0';
    return true;
}

/* Read and decode one document into vm. Returns 0, or -1 with why in err. */
static int load_doc(const MgmtStore *s, const char *file, MgmtVm *vm, Error *err)
{
    char path[PATH_MAX], name[MGMT_NAME_MAX + 1];
    if (!doc_name_of(file, name) || !mgmt_name_check(name, err))
        return error_set(err, "the file name is not NAME.json for a valid VM name");
    if (doc_path(s, file, path, sizeof(path), err) < 0)
        return -1;
    json_error_t je;
    json_t *doc = json_load_file(path, JSON_REJECT_DUPLICATES, &je);
    if (!doc)
        return error_set(err, "line %d: %s", je.line, je.text);
    int r = mgmt_vm_from_doc(doc, vm, err);
    json_decref(doc);
    if (r == 0 && strcmp(vm->name, name) != 0) {
        mgmt_vm_free(vm);
        return error_set(err, "name: '%s' is not the file's name", vm->name);
    }
    return r;
}

/* One directory entry: remove it (temp), load it (document) or list it broken. */
static int open_entry(MgmtStore *s, int dirfd, const struct dirent *d, Error *err)
{
    struct stat st;
    if (fstatat(dirfd, d->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISREG(st.st_mode))
        return 0;
    if (is_temp_file(d->d_name)) {
        log_info("removing %s/%s, left by an interrupted write", s->vms_dir, d->d_name);
        if (unlinkat(dirfd, d->d_name, 0) < 0)
            log_warn("cannot remove %s/%s: %s", s->vms_dir, d->d_name, strerror(errno));
        return 0;
    }
    if (d->d_name[0] == '.' || !strstr(d->d_name, ".json"))
        return 0;
    MgmtVm vm;
    Error why = {0};
    if (st.st_size > DOC_MAX_BYTES)
        error_set(&why, "%lld bytes: larger than %u", (long long)st.st_size, DOC_MAX_BYTES);
    else if (load_doc(s, d->d_name, &vm, &why) == 0)
        return list_take(s, &vm, err) < 0 ? (mgmt_vm_free(&vm), -1) : 0;
    return broken_add(s, d->d_name, why.msg) < 0 ? error_set(err, "out of memory") : 0;
}

static int open_scan(MgmtStore *s, Error *err)
{
    DIR *dir = opendir(s->vms_dir);
    if (!dir)
        return error_set_errno(err, errno, "cannot read %.200s", s->vms_dir);
    struct dirent *d;
    int r = 0;
    while (r == 0 && (d = readdir(dir)) != NULL)
        r = open_entry(s, dirfd(dir), d, err);
    closedir(dir);
    if (r == 0)
        io_sync_dir_of(s->vms_dir); /* make the removals durable */
    return r;
}

/* One store per directory: an exclusive flock on DIR/lock (released when the process dies). */
static int store_lock(MgmtStore *s, Error *err)
{
    char path[PATH_MAX];
    if (snprintf(path, sizeof(path), "%s/lock", s->dir) >= (int)sizeof(path))
        return error_set(err, "%.200s: path too long", s->dir);
    s->lock_fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0640);
    if (s->lock_fd < 0)
        return error_set_errno(err, errno, "cannot open %.200s", path);
    if (flock(s->lock_fd, LOCK_EX | LOCK_NB) < 0)
        return errno == EWOULDBLOCK ? error_set(err, "%.200s is in use by another hosteld", s->dir)
                                    : error_set_errno(err, errno, "cannot lock %.200s", path);
    return 0;
}

int mgmt_store_open(MgmtStore **out, const char *dir, Error *err)
{
    MgmtStore *s = calloc(1, sizeof(*s));
    if (!s)
        return error_set(err, "out of memory");
    s->lock_fd = -1;
    s->dir = strdup(dir);
    if (s->dir && asprintf(&s->vms_dir, "%s/vms", dir) < 0)
        s->vms_dir = NULL;
    if (!s->dir || !s->vms_dir) {
        mgmt_store_close(s);
        return error_set(err, "out of memory");
    }
    if (make_dirs(s->vms_dir, 0750, err) < 0 || store_lock(s, err) < 0 || open_scan(s, err) < 0) {
        mgmt_store_close(s);
        return -1;
    }
    *out = s;
    return 0;
}

void mgmt_store_close(MgmtStore *s)
{
    if (!s)
        return;
    for (size_t i = 0; i < s->nvms; i++)
        mgmt_vm_free(&s->vms[i]);
    for (size_t i = 0; i < s->nbroken; i++) {
        free(s->broken[i].file);
        free(s->broken[i].message);
    }
    free(s->vms);
    free(s->broken);
    if (s->lock_fd >= 0)
        close(s->lock_fd);
    free(s->vms_dir);
    free(s->dir);
    free(s);
}

const char *mgmt_store_dir(const MgmtStore *s)
{
    return s->dir;
}

size_t mgmt_store_count(const MgmtStore *s)
{
    return s->nvms;
}

const MgmtVm *mgmt_store_at(const MgmtStore *s, size_t i)
{
    return i < s->nvms ? &s->vms[i] : NULL;
}

const MgmtVm *mgmt_store_find(const MgmtStore *s, const char *name)
{
    bool found;
    size_t i = find_index(s, name, &found);
    return found ? &s->vms[i] : NULL;
}

size_t mgmt_store_broken_count(const MgmtStore *s)
{
    return s->nbroken;
}

const MgmtBroken *mgmt_store_broken_at(const MgmtStore *s, size_t i)
{
    return i < s->nbroken ? &s->broken[i] : NULL;
}

const MgmtBroken *mgmt_store_broken_find(const MgmtStore *s, const char *name)
{
    size_t n = strlen(name);
    for (size_t i = 0; i < s->nbroken; i++) {
        const char *f = s->broken[i].file;
        if (strncmp(f, name, n) == 0 && strcmp(f + n, ".json") == 0)
            return &s->broken[i];
    }
    return NULL;
}

void mgmt_store_set_fault(MgmtStore *s, MgmtStoreFault fault)
{
    s->fault = fault;
}

/* ---- writes ---- */

/* The document text of vm (malloc'd), ending in a newline. */
static char *doc_text(const MgmtVm *vm, Error *err)
{
    json_t *doc = mgmt_vm_to_doc(vm);
    char *text = doc ? json_dumps(doc, JSON_INDENT(2) | JSON_SORT_KEYS) : NULL;
    json_decref(doc);
    char *line = NULL;
    if (!text || asprintf(&line, "%s\n", text) < 0)
        line = NULL;
    free(text);
    if (!line)
        error_set(err, "out of memory");
    return line;
}

/* Write vm's document atomically: temp, fsync, rename, fsync of the directory (fileio.h). */
static int write_doc(MgmtStore *s, const MgmtVm *vm, Error *err)
{
    char tmp[PATH_MAX], path[PATH_MAX], file[MGMT_NAME_MAX + 8];
    snprintf(file, sizeof(file), "%s.json", vm->name);
    char *text = doc_text(vm, err);
    if (!text || doc_path(s, file, path, sizeof(path), err) < 0 ||
        mgmt_write_temp(path, text, strlen(text), 0640, tmp, sizeof(tmp), err) < 0) {
        free(text);
        return -1;
    }
    free(text);
    if (s->fault == MGMT_FAULT_BEFORE_RENAME)
        return error_set(err, "fault injected before rename (%s left behind)", tmp);
    return mgmt_commit_temp(tmp, path, err);
}

int mgmt_store_put(MgmtStore *s, const MgmtVm *vm, Error *err)
{
    if (!mgmt_name_check(vm->name, err))
        return -1;
    MgmtVm copy;
    if (mgmt_vm_copy(&copy, vm, err) < 0)
        return -1;
    if (write_doc(s, vm, err) < 0 || list_take(s, &copy, err) < 0) {
        mgmt_vm_free(&copy);
        return -1;
    }
    return 0;
}

int mgmt_store_remove(MgmtStore *s, const char *name, Error *err)
{
    bool found;
    size_t i = find_index(s, name, &found);
    if (!found)
        return error_set(err, "no VM named '%.64s'", name);
    char path[PATH_MAX], file[MGMT_NAME_MAX + 8];
    snprintf(file, sizeof(file), "%s.json", name);
    if (doc_path(s, file, path, sizeof(path), err) < 0)
        return -1;
    if (unlink(path) < 0 && errno != ENOENT)
        return error_set_errno(err, errno, "cannot remove %.200s", path);
    io_sync_dir_of(path);
    mgmt_vm_free(&s->vms[i]);
    memmove(&s->vms[i], &s->vms[i + 1], (s->nvms - i - 1) * sizeof(*s->vms));
    s->nvms--;
    return 0;
}
