/*
 * The state directory of hosteld (src/mgmt/store.c, vm.c): name and UUID
 * rules, atomic writes, recovery at open (a stray temporary file removed,
 * a corrupt document skipped and kept), and a crash between write and
 * rename (fault injection) leaving the old document.
 */
#include <dirent.h>
#include <fcntl.h>
#include <jansson.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "mgmt/store.h"
#include "tap.h"

static char root[256];

static void path_of(char *buf, size_t size, const char *rel)
{
    snprintf(buf, size, "%s/%s", root, rel);
}

static void write_file(const char *rel, const char *text)
{
    char p[PATH_MAX];
    path_of(p, sizeof(p), rel);
    FILE *f = fopen(p, "w");
    if (f) {
        fputs(text, f);
        fclose(f);
    }
}

static bool file_exists(const char *rel)
{
    char p[PATH_MAX];
    path_of(p, sizeof(p), rel);
    return access(p, F_OK) == 0;
}

/* Files under vms/ whose name starts with '.' (our temporary files). */
static int count_hidden(void)
{
    char p[PATH_MAX];
    path_of(p, sizeof(p), "vms");
    DIR *d = opendir(p);
    struct dirent *e;
    int n = 0;
    while (d && (e = readdir(d)))
        n += e->d_name[0] == '.' && strcmp(e->d_name, ".") && strcmp(e->d_name, "..");
    if (d)
        closedir(d);
    return n;
}

/* The harts of the document vms/NAME.json as on disk, or -1. */
static long long disk_harts(const char *name)
{
    char rel[128], p[PATH_MAX];
    snprintf(rel, sizeof(rel), "vms/%s.json", name);
    path_of(p, sizeof(p), rel);
    json_t *j = json_load_file(p, 0, NULL);
    long long h =
        j ? json_integer_value(json_object_get(json_object_get(j, "config"), "harts")) : -1;
    json_decref(j);
    return h;
}

static void test_names(void)
{
    static const char *const good[] = {"vm1", "a", "A.b_c-d", "9lives", "x..y"};
    static const char *const bad[] = {"", "../x", "/abs", "a/b", ".x", "-x", "..", "a b", "é"};
    char longest[66];
    memset(longest, 'a', 65);
    longest[65] = '\0';
    for (size_t i = 0; i < sizeof(good) / sizeof(*good); i++)
        ok(mgmt_name_check(good[i], NULL), "name '%s' accepted", good[i]);
    for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
        Error err = {0};
        ok(!mgmt_name_check(bad[i], &err) && strncmp(err.msg, "name: ", 6) == 0,
           "name '%s' refused (%s)", bad[i], err.msg);
    }
    ok(!mgmt_name_check(longest, NULL), "a 65-byte name is refused");
    longest[64] = '\0';
    ok(mgmt_name_check(longest, NULL), "a 64-byte name is accepted");
}

static void test_uuid(void)
{
    char a[MGMT_UUID_LEN + 1], b[MGMT_UUID_LEN + 1];
    ok(mgmt_uuid_new(a, NULL) == 0 && mgmt_uuid_new(b, NULL) == 0, "two UUIDs made");
    ok(mgmt_uuid_check(a) && a[14] == '4' && strchr("89ab", a[19]), "%s is RFC 4122 v4", a);
    ok(strcmp(a, b) != 0, "two UUIDs differ");
    ok(!mgmt_uuid_check("not-a-uuid") && !mgmt_uuid_check("C025DE84-4E0F-4EAF-A93B-AFCECFB35FAE"),
       "malformed and upper-case UUIDs refused");
}

/* A definition named name with harts harts. */
static void make_vm(MgmtVm *vm, const char *name, unsigned harts)
{
    mgmt_vm_init(vm, NULL);
    snprintf(vm->name, sizeof(vm->name), "%s", name);
    mgmt_uuid_new(vm->uuid, NULL);
    vm->config.nharts = harts;
}

static MgmtStore *open_store(void)
{
    MgmtStore *s = NULL;
    Error err = {0};
    if (mgmt_store_open(&s, root, &err) < 0)
        printf("# open: %s\n", err.msg);
    return s;
}

static void test_write_and_reopen(void)
{
    MgmtStore *s = open_store();
    ok(s && file_exists("vms"), "a fresh state directory is made with vms/");
    if (!s)
        return;
    MgmtStore *second = NULL;
    Error busy = {0};
    ok(mgmt_store_open(&second, root, &busy) < 0 && strstr(busy.msg, "in use"),
       "a second opener of the directory is refused (%s)", busy.msg);
    MgmtVm vm;
    make_vm(&vm, "vm1", 2);
    Error err = {0};
    ok(mgmt_store_put(s, &vm, &err) == 0, "vm1 stored (%s)", err.msg);
    ok(disk_harts("vm1") == 2 && count_hidden() == 0, "vm1.json is whole, no temporary left");
    MgmtVm bad;
    make_vm(&bad, "../x", 1);
    ok(mgmt_store_put(s, &bad, NULL) < 0 && !file_exists("x.json"), "a bad name is not written");
    mgmt_vm_free(&bad);
    mgmt_store_close(s);
    s = open_store();
    const MgmtVm *got = s ? mgmt_store_find(s, "vm1") : NULL;
    ok(got && got->config.nharts == 2 && strcmp(got->uuid, vm.uuid) == 0,
       "reopened: vm1 with its harts and UUID");
    mgmt_vm_free(&vm);
    mgmt_store_close(s);
}

static void test_recovery(void)
{
    write_file("vms/.vm1.json.tmp-AbC123", "{\"half\":");
    write_file("vms/broken.json", "{not json");
    write_file("vms/wrongname.json", "{\"version\": 1}");
    MgmtStore *s = open_store();
    ok(s != NULL, "the store opens over a stray temporary and corrupt documents");
    if (!s)
        return;
    ok(!file_exists("vms/.vm1.json.tmp-AbC123"), "the stray temporary file is removed");
    ok(mgmt_store_find(s, "vm1") != NULL && mgmt_store_count(s) == 1, "vm1 is still there");
    ok(mgmt_store_broken_count(s) == 2, "two documents are listed as broken");
    const MgmtBroken *b = mgmt_store_broken_find(s, "broken");
    ok(b && b->message[0], "broken.json is reported: %s", b ? b->message : "");
    ok(file_exists("vms/broken.json") && file_exists("vms/wrongname.json"),
       "broken documents are kept on disk");
    mgmt_store_close(s);
}

static void test_crash_before_rename(void)
{
    MgmtStore *s = open_store();
    if (!s)
        return;
    MgmtVm vm;
    make_vm(&vm, "vm1", 4);
    mgmt_store_set_fault(s, MGMT_FAULT_BEFORE_RENAME);
    ok(mgmt_store_put(s, &vm, NULL) < 0, "a write stopped before its rename fails");
    ok(disk_harts("vm1") == 2 && count_hidden() == 1,
       "the old document is on disk, beside the new one's temporary file");
    ok(mgmt_store_find(s, "vm1")->config.nharts == 2, "memory keeps the old definition");
    mgmt_store_close(s);
    s = open_store();
    ok(s && mgmt_store_find(s, "vm1")->config.nharts == 2 && count_hidden() == 0,
       "after the 'crash': the old definition, the temporary removed");
    mgmt_store_set_fault(s, MGMT_FAULT_NONE);
    ok(mgmt_store_put(s, &vm, NULL) == 0 && disk_harts("vm1") == 4, "a replace then writes");
    ok(mgmt_store_remove(s, "vm1", NULL) == 0 && !file_exists("vms/vm1.json") &&
           !mgmt_store_find(s, "vm1"),
       "remove deletes the file and the definition");
    ok(mgmt_store_remove(s, "vm1", NULL) < 0, "removing it again fails");
    mgmt_vm_free(&vm);
    mgmt_store_close(s);
}

static void test_doc_codec(void)
{
    static const char *const refused[] = {
        "{\"version\": 2, \"name\": \"a\", \"uuid\": \"c025de84-4e0f-4eaf-a93b-afcecfb35fae\", "
        "\"config\": {}}",
        "{\"version\": 1, \"name\": \"a\", \"uuid\": \"c025de84-4e0f-4eaf-a93b-afcecfb35fae\", "
        "\"config\": {}, \"extra\": 1}",
        "{\"version\": 1, \"name\": \"a/b\", \"uuid\": \"c025de84-4e0f-4eaf-a93b-afcecfb35fae\", "
        "\"config\": {}}",
        "{\"version\": 1, \"name\": \"a\", \"uuid\": \"c025de84-4e0f-4eaf-a93b-afcecfb35fae\", "
        "\"config\": {\"harts\": 99}}",
    };
    for (size_t i = 0; i < sizeof(refused) / sizeof(*refused); i++) {
        json_t *j = json_loads(refused[i], 0, NULL);
        MgmtVm vm;
        Error err = {0};
        ok(j && mgmt_vm_from_doc(j, &vm, &err) < 0 && err.msg[0], "document %zu refused: %s", i,
           err.msg);
        json_decref(j);
    }
}

int main(void)
{
    snprintf(root, sizeof(root), "/tmp/hostel-store-XXXXXX");
    if (!mkdtemp(root)) {
        perror("mkdtemp");
        return 1;
    }
    strcat(root, "/state"); /* the store makes it */
    test_names();
    test_uuid();
    test_write_and_reopen();
    test_recovery();
    test_crash_before_rename();
    test_doc_codec();
    char cmd[sizeof(root) + 16];
    snprintf(cmd, sizeof(cmd), "rm -rf '%.*s'", (int)(strlen(root) - 6), root);
    if (system(cmd) != 0)
        printf("# could not remove %s\n", root);
    return tap_done();
}
