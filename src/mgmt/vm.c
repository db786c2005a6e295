/*
 * The managed VM definition: name and UUID rules, and the document codec
 * (vm.h).  The machine part is VmConfig's own codec; this file adds the
 * members around it and refuses anything it does not know.
 */
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "mgmt/vm.h"

int mgmt_vm_init(MgmtVm *vm, Error *err)
{
    memset(vm, 0, sizeof(*vm));
    vmconfig_default(&vm->config);
    vm->description = strdup("");
    vm->labels = json_object();
    if (!vm->description || !vm->labels) {
        mgmt_vm_free(vm);
        return error_set(err, "out of memory");
    }
    return 0;
}

void mgmt_vm_free(MgmtVm *vm)
{
    free(vm->description);
    vm->description = NULL;
    json_decref(vm->labels);
    vm->labels = NULL;
    vmconfig_free(&vm->config);
}

int mgmt_vm_copy(MgmtVm *dst, const MgmtVm *src, Error *err)
{
    *dst = *src;
    dst->description = strdup(src->description ? src->description : "");
    dst->labels = src->labels ? json_deep_copy(src->labels) : json_object();
    if (!dst->description || !dst->labels) {
        free(dst->description);
        json_decref(dst->labels);
        dst->description = NULL;
        dst->labels = NULL;
        return error_set(err, "out of memory");
    }
    if (vmconfig_copy(&dst->config, &src->config, err) < 0) {
        free(dst->description);
        json_decref(dst->labels);
        dst->description = NULL;
        dst->labels = NULL;
        return -1;
    }
    return 0;
}

static bool name_char_ok(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
           c == '_' || c == '-';
}

bool mgmt_name_check(const char *name, Error *err)
{
    size_t n = strlen(name);
    if (n == 0 || n > MGMT_NAME_MAX) {
        error_set(err, "name: %zu bytes, 1 to %d are allowed", n, MGMT_NAME_MAX);
        return false;
    }
    if (name[0] == '.' || name[0] == '-') {
        error_set(err, "name: '%.64s' starts with '%c'", name, name[0]);
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        if (!name_char_ok(name[i])) {
            error_set(err, "name: '%.64s' holds a character outside [A-Za-z0-9._-]", name);
            return false;
        }
    }
    return true;
}

int mgmt_uuid_new(char out[MGMT_UUID_LEN + 1], Error *err)
{
    unsigned char b[16];
    size_t got = 0;
    while (got < sizeof(b)) {
        ssize_t r = getrandom(b + got, sizeof(b) - got, 0);
        if (r < 0 && errno != EINTR)
            return error_set_errno(err, errno, "getrandom");
        got += r > 0 ? (size_t)r : 0;
    }
    b[6] = (unsigned char)((b[6] & 0x0f) | 0x40); /* version 4 */
    b[8] = (unsigned char)((b[8] & 0x3f) | 0x80); /* variant 10xx */
    snprintf(out, MGMT_UUID_LEN + 1,
             "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", b[0], b[1],
             b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13], b[14],
             b[15]);
    return 0;
}

bool mgmt_uuid_check(const char *s)
{
    if (strlen(s) != MGMT_UUID_LEN)
        return false;
    for (int i = 0; i < MGMT_UUID_LEN; i++) {
        bool dash = i == 8 || i == 13 || i == 18 || i == 23;
        if (dash ? s[i] != '-' : !((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return false;
    }
    return true;
}

static const char *const restart_names[] = {
    [MGMT_RESTART_NO] = "no",
    [MGMT_RESTART_ON_FAILURE] = "on-failure",
    [MGMT_RESTART_ALWAYS] = "always",
};

const char *mgmt_restart_name(MgmtRestart r)
{
    return (unsigned)r < sizeof(restart_names) / sizeof(restart_names[0]) ? restart_names[r] : "no";
}

bool mgmt_restart_parse(const char *s, MgmtRestart *out)
{
    for (unsigned i = 0; i < sizeof(restart_names) / sizeof(restart_names[0]); i++) {
        if (s && strcmp(s, restart_names[i]) == 0) {
            *out = (MgmtRestart)i;
            return true;
        }
    }
    return false;
}

static bool label_key_ok(const char *k)
{
    size_t n = strlen(k);
    if (n == 0 || n > MGMT_LABEL_KEY_MAX || !((*k >= 'a' && *k <= 'z') || (*k >= '0' && *k <= '9')))
        return false;
    return strspn(k, "abcdefghijklmnopqrstuvwxyz0123456789._/-") == n;
}

bool mgmt_vm_labels_check(const json_t *labels, Error *err)
{
    const char *key;
    json_t *v;
    if (!json_is_object(labels)) {
        error_set(err, "labels: not an object of strings");
        return false;
    }
    if (json_object_size(labels) > MGMT_LABELS_MAX) {
        error_set(err, "labels: more than %d", MGMT_LABELS_MAX);
        return false;
    }
    json_object_foreach((json_t *)labels, key, v)
    {
        if (!label_key_ok(key)) {
            error_set(err,
                      "labels: '%.64s' is not a key of 1 to %d of [a-z0-9._/-] starting "
                      "with a letter or digit",
                      key, MGMT_LABEL_KEY_MAX);
            return false;
        }
        if (!json_is_string(v) || json_string_length(v) > MGMT_LABEL_VALUE_MAX) {
            error_set(err, "labels.%s: not a string of at most %d bytes", key,
                      MGMT_LABEL_VALUE_MAX);
            return false;
        }
    }
    return true;
}

/* The members every view shares (name, uuid, description, labels, autostart, restart, config). */
static json_t *vm_common(const MgmtVm *vm)
{
    json_t *config = vmconfig_to_json(&vm->config);
    if (!config)
        return NULL;
    return json_pack("{s:s, s:s, s:s, s:O, s:b, s:s, s:o}", "name", vm->name, "uuid", vm->uuid,
                     "description", vm->description ? vm->description : "", "labels", vm->labels,
                     "autostart", vm->autostart, "restart", mgmt_restart_name(vm->restart),
                     "config", config);
}

json_t *mgmt_vm_to_doc(const MgmtVm *vm)
{
    json_t *j = vm_common(vm);
    if (j && json_object_set_new(j, "version", json_integer(MGMT_DOC_VERSION)) < 0) {
        json_decref(j);
        return NULL;
    }
    return j;
}

json_t *mgmt_vm_to_api(const MgmtVm *vm, const char *state)
{
    json_t *j = vm_common(vm);
    if (j && json_object_set_new(j, "state", json_string(state)) < 0) {
        json_decref(j);
        return NULL;
    }
    return j;
}

/* doc's members are all among names. */
static int doc_check_members(const json_t *doc, const char *const *names, Error *err)
{
    const char *key;
    json_t *v;
    if (!json_is_object(doc))
        return error_set(err, "the document is not a JSON object");
    json_object_foreach((json_t *)doc, key, v)
    {
        const char *const *n = names;
        while (*n && strcmp(*n, key) != 0)
            n++;
        if (!*n)
            return error_set(err, "%.64s: unknown member", key);
    }
    return 0;
}

static int doc_version(const json_t *doc, Error *err)
{
    json_t *v = json_object_get(doc, "version");
    if (!json_is_integer(v))
        return error_set(err, "version: %s", v ? "not an integer" : "missing");
    json_int_t n = json_integer_value(v);
    if (n < 1 || n > MGMT_DOC_VERSION)
        return error_set(err, "version: %lld is not one this hosteld reads (1 to %d)", (long long)n,
                         MGMT_DOC_VERSION);
    return 0;
}

/* The identity and the user's members (everything but config). */
static int doc_identity(const json_t *doc, MgmtVm *vm, Error *err)
{
    const char *name = json_string_value(json_object_get(doc, "name"));
    const char *uuid = json_string_value(json_object_get(doc, "uuid"));
    json_t *desc = json_object_get(doc, "description");
    json_t *autostart = json_object_get(doc, "autostart");
    if (!name)
        return error_set(err, "name: missing or not a string");
    if (!mgmt_name_check(name, err))
        return -1;
    if (!uuid || !mgmt_uuid_check(uuid))
        return error_set(err, "uuid: missing or not a UUID");
    if (desc && (!json_is_string(desc) || json_string_length(desc) > MGMT_DESCRIPTION_MAX))
        return error_set(err, "description: not a string of at most %d bytes",
                         MGMT_DESCRIPTION_MAX);
    if (autostart && !json_is_boolean(autostart))
        return error_set(err, "autostart: not a boolean");
    json_t *restart = json_object_get(doc, "restart");
    if (restart && !mgmt_restart_parse(json_string_value(restart), &vm->restart))
        return error_set(err, "restart: not \"no\", \"on-failure\" or \"always\"");
    json_t *labels = json_object_get(doc, "labels");
    if (labels && !mgmt_vm_labels_check(labels, err))
        return -1;
    if (labels && json_object_update(vm->labels, labels) < 0)
        return error_set(err, "out of memory");
    snprintf(vm->name, sizeof(vm->name), "%s", name);
    snprintf(vm->uuid, sizeof(vm->uuid), "%s", uuid);
    vm->autostart = json_is_true(autostart);
    if (desc && vmconfig_set_string(&vm->description, json_string_value(desc), err) < 0)
        return -1;
    return 0;
}

/* The config member through VmConfig's codec; errors prefixed "config.". */
static int doc_config(const json_t *doc, MgmtVm *vm, Error *err)
{
    json_t *c = json_object_get(doc, "config");
    if (!c)
        return error_set(err, "config: missing");
    Error e = {0};
    vmconfig_free(&vm->config);
    if (vmconfig_from_json(c, &vm->config, &e) < 0) {
        vmconfig_default(&vm->config);
        const char *top = "the configuration"; /* the codec's name for its whole object */
        if (strncmp(e.msg, top, strlen(top)) == 0)
            return error_set(err, "config%s", e.msg + strlen(top));
        return error_set(err, "config.%s", e.msg);
    }
    return 0;
}

int mgmt_vm_from_doc(const json_t *doc, MgmtVm *vm, Error *err)
{
    static const char *const names[] = {"version",   "name",    "uuid",   "description", "labels",
                                        "autostart", "restart", "config", NULL};
    if (mgmt_vm_init(vm, err) < 0)
        return -1;
    if (doc_check_members(doc, names, err) < 0 || doc_version(doc, err) < 0 ||
        doc_identity(doc, vm, err) < 0 || doc_config(doc, vm, err) < 0) {
        mgmt_vm_free(vm);
        return -1;
    }
    return 0;
}
