/*
 * -o option lists for create, convert and measure: "k=v,k=v" with ",,"
 * standing for a literal comma, as in qemu-img, checked per format.
 */
#include "img/img_util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Bits of ImgCreateOpts.o fields set through -o (to refuse them for raw). */
enum {
    OPT_SIZE,
    OPT_BACKING_FILE,
    OPT_BACKING_FMT,
    OPT_CLUSTER_SIZE,
    OPT_COMPAT,
    OPT_LAZY_REFCOUNTS,
    OPT_REFCOUNT_BITS,
    OPT_EXTENDED_L2,
    OPT_COMPRESSION_TYPE,
    OPT_PREALLOCATION,
    OPT_COUNT
};

typedef struct ImgOptDesc {
    const char *name;
    const char *help;
    bool raw; /* raw images accept it too */
} ImgOptDesc;

static const ImgOptDesc img_opt_table[OPT_COUNT] = {
    [OPT_SIZE] = {"size", "<size>  virtual disk size", true},
    [OPT_BACKING_FILE] = {"backing_file", "<str>  file name of a base image", false},
    [OPT_BACKING_FMT] = {"backing_fmt", "<str>  image format of the base image", false},
    [OPT_CLUSTER_SIZE] = {"cluster_size", "<size>  qcow2 cluster size (512 to 2M, power of 2)",
                          false},
    [OPT_COMPAT] = {"compat", "<str>  compatibility level (v2 [0.10] or v3 [1.1])", false},
    [OPT_LAZY_REFCOUNTS] = {"lazy_refcounts", "<on/off>  postpone refcount updates", false},
    [OPT_REFCOUNT_BITS] = {"refcount_bits", "<num>  width of a reference count entry in bits",
                           false},
    [OPT_EXTENDED_L2] = {"extended_l2", "<on/off>  extended L2 tables (subclusters)", false},
    [OPT_COMPRESSION_TYPE] = {"compression_type", "<str>  zlib or zstd", false},
    [OPT_PREALLOCATION] = {"preallocation", "<str>  off, metadata (qcow2), falloc, full", true},
};

int img_create_opts_add(ImgCreateOpts *c, const char *text, Error *err)
{
    size_t old = c->buf ? strlen(c->buf) : 0;
    char *buf = realloc(c->buf, old + strlen(text) + 2);
    if (!buf)
        return error_set(err, "out of memory");
    if (old)
        buf[old++] = ',';
    strcpy(buf + old, text);
    c->buf = buf;
    return 0;
}

void img_create_opts_free(ImgCreateOpts *c)
{
    free(c->buf);
    c->buf = NULL;
}

/* Cut the next item off *p (",," is a literal comma); returns it, or NULL at the end. */
static char *img_opt_next(char **p)
{
    char *start = *p, *out = *p, *in = *p;
    if (!start)
        return NULL;
    for (;;) {
        if (*in == ',' && in[1] == ',') {
            *out++ = ',';
            in += 2;
        } else if (*in == ',' || *in == '\0') {
            *p = *in ? in + 1 : NULL;
            *out = '\0';
            return start;
        } else {
            *out++ = *in++;
        }
    }
}

static int img_opt_bool(const char *key, const char *v, bool *out, Error *err)
{
    if (strcmp(v, "on") == 0 || strcmp(v, "true") == 0 || strcmp(v, "yes") == 0)
        *out = true;
    else if (strcmp(v, "off") == 0 || strcmp(v, "false") == 0 || strcmp(v, "no") == 0)
        *out = false;
    else
        return error_set(err, "parameter '%s' expects 'on' or 'off', not '%s'", key, v);
    return 0;
}

static int img_opt_choice(const char *key, const char *v, const char *const *choices,
                          const char **out, Error *err)
{
    for (; *choices; choices++) {
        if (strcmp(v, *choices) == 0) {
            *out = *choices;
            return 0;
        }
    }
    return error_set(err, "parameter '%s' does not accept value '%s'", key, v);
}

static int img_opt_size(const char *key, const char *v, uint64_t *out, Error *err)
{
    if (!img_parse_size(v, out))
        return error_set(err,
                         "parameter '%s' expects a size (k, M, G, T, P or E suffixes), "
                         "not '%s'",
                         key, v);
    return 0;
}

static int img_opt_compat(const char *v, int *out, Error *err)
{
    if (strcmp(v, "0.10") == 0 || strcmp(v, "v2") == 0)
        *out = 2;
    else if (strcmp(v, "1.1") == 0 || strcmp(v, "v3") == 0)
        *out = 3;
    else
        return error_set(err, "invalid compatibility level: '%s' (0.10, 1.1, v2 or v3)", v);
    return 0;
}

static int img_opt_number(const char *key, const char *v, unsigned *out, Error *err)
{
    char *end;
    unsigned long n = strtoul(v, &end, 10);
    if (!*v || *end || n > 1024)
        return error_set(err, "parameter '%s' expects a number, not '%s'", key, v);
    *out = (unsigned)n;
    return 0;
}

static int img_opt_set(ImgCreateOpts *c, int which, const char *key, const char *v, Error *err)
{
    static const char *const ctypes[] = {"zlib", "zstd", NULL};
    static const char *const prealloc[] = {"off", "metadata", "falloc", "full", NULL};
    BlockCreateOpts *o = &c->o;
    uint64_t n;
    switch (which) {
    case OPT_SIZE: c->size_set = true; return img_opt_size(key, v, &o->size, err);
    case OPT_BACKING_FILE: o->backing_file = v; return 0;
    case OPT_BACKING_FMT: o->backing_fmt = v; return 0;
    case OPT_CLUSTER_SIZE:
        if (img_opt_size(key, v, &n, err) < 0)
            return -1;
        if (n > UINT32_MAX)
            return error_set(err, "cluster size must be a power of two between 512 and 2M");
        o->cluster_size = (uint32_t)n;
        return 0;
    case OPT_COMPAT: return img_opt_compat(v, &o->compat, err);
    case OPT_LAZY_REFCOUNTS: return img_opt_bool(key, v, &o->lazy_refcounts, err);
    case OPT_REFCOUNT_BITS: return img_opt_number(key, v, &o->refcount_bits, err);
    case OPT_EXTENDED_L2: return img_opt_bool(key, v, &o->extended_l2, err);
    case OPT_COMPRESSION_TYPE: return img_opt_choice(key, v, ctypes, &o->compression_type, err);
    case OPT_PREALLOCATION: return img_opt_choice(key, v, prealloc, &o->preallocation, err);
    default: return error_set(err, "invalid parameter '%s'", key);
    }
}

static int img_opt_find(const char *key)
{
    for (int i = 0; i < OPT_COUNT; i++) {
        if (strcmp(img_opt_table[i].name, key) == 0)
            return i;
    }
    return -1;
}

int img_create_opts_parse(ImgCreateOpts *c, Error *err)
{
    c->set = 0;
    char *p = c->buf;
    char *item;
    while ((item = img_opt_next(&p))) {
        if (!*item)
            continue;
        if (strcmp(item, "help") == 0 || strcmp(item, "?") == 0) {
            c->help = true;
            continue;
        }
        char *eq = strchr(item, '=');
        if (!eq)
            return error_set(err, "option '%s' needs a value (KEY=VALUE)", item);
        *eq = '\0';
        int which = img_opt_find(item);
        if (which < 0)
            return error_set(err, "invalid parameter '%s' (see '-o help')", item);
        if (img_opt_set(c, which, item, eq + 1, err) < 0)
            return -1;
        c->set |= 1u << which;
    }
    return 0;
}

static bool img_pow2(uint64_t v)
{
    return v && !(v & (v - 1));
}

static int img_check_raw(const ImgCreateOpts *c, Error *err)
{
    for (int i = 0; i < OPT_COUNT; i++) {
        if ((c->set & (1u << i)) && !img_opt_table[i].raw)
            return error_set(err, "invalid parameter '%s' for format 'raw'", img_opt_table[i].name);
    }
    if (c->o.backing_file)
        return error_set(err, "backing file not supported for file format 'raw'");
    if (c->o.preallocation && strcmp(c->o.preallocation, "metadata") == 0)
        return error_set(err, "preallocation mode 'metadata' is for qcow2 only");
    return 0;
}

static int img_check_qcow2(const BlockCreateOpts *o, Error *err)
{
    uint32_t cs = o->cluster_size ? o->cluster_size : 65536;
    bool v2 = o->compat == 2;
    if (!img_pow2(cs) || cs < 512 || cs > (2u << 20))
        return error_set(err, "cluster size must be a power of two between 512 and 2048k");
    if (o->refcount_bits && (!img_pow2(o->refcount_bits) || o->refcount_bits > 64))
        return error_set(err, "refcount width must be a power of two and at most 64 bits");
    if (v2 && o->refcount_bits && o->refcount_bits != 16)
        return error_set(err, "refcount widths other than 16 bits need compat=1.1");
    if (v2 && o->lazy_refcounts)
        return error_set(err, "lazy refcounts need compat=1.1");
    if (v2 && o->extended_l2)
        return error_set(err, "extended L2 entries need compat=1.1");
    if (v2 && o->compression_type && strcmp(o->compression_type, "zlib") != 0)
        return error_set(err, "compression type '%s' needs compat=1.1", o->compression_type);
    if (o->extended_l2 && cs < 16384)
        return error_set(err, "extended L2 entries are only supported with cluster sizes of "
                              "at least 16384 bytes");
    return 0;
}

int img_create_opts_check(const ImgCreateOpts *c, const char *format, Error *err)
{
    if (strcmp(format, "raw") == 0)
        return img_check_raw(c, err);
    if (strcmp(format, "qcow2") == 0)
        return img_check_qcow2(&c->o, err);
    return error_set(err, "unknown image format '%s' (supported: raw, qcow2)", format);
}

void img_create_opts_help(const char *format)
{
    bool raw = strcmp(format, "raw") == 0;
    printf("Supported options:\n");
    for (int i = 0; i < OPT_COUNT; i++) {
        if (!raw || img_opt_table[i].raw)
            printf("  %-17s %s\n", img_opt_table[i].name, img_opt_table[i].help);
    }
}
