/*
 * The state engine: encode, decode (with validation), commit and describe (as JSON) any
 * struct described by a StateDesc table.  See state.h for the encoding.
 */
#include "state/state.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <zlib.h>

#include "util/le.h"

/* Elements of f in obj: its count, or the object's own length field (capped by count). */
static uint32_t field_count(const StateField *f, const uint8_t *obj)
{
    uint32_t n = f->count ? f->count : 1;
    if (f->count_of) {
        unsigned used;
        memcpy(&used, obj + f->count_of - 1, sizeof(used));
        n = used < n ? used : n;
    }
    return n;
}

/* Bytes one element of an integer or bool field takes in the stream and in memory. */
static size_t scalar_size(StateType t)
{
    switch (t) {
    case STATE_U8:
    case STATE_BOOL:
    case STATE_BYTES: return 1;
    case STATE_U16: return 2;
    case STATE_U32: return 4;
    case STATE_U64: return 8;
    case STATE_STRUCT: break;
    }
    return 0;
}

static bool field_present(const StateField *f, uint16_t version)
{
    return f->version <= version;
}

size_t state_encoded_size(const StateDesc *desc, uint16_t version, const void *obj)
{
    const uint8_t *o = obj;
    size_t n = 0;
    for (const StateField *f = desc->fields; f->name; f++) {
        if (!field_present(f, version))
            continue;
        if (f->count_of)
            n += 4; /* the element count leads the elements */
        for (uint32_t i = 0; f->type == STATE_STRUCT && i < field_count(f, o); i++)
            n += state_encoded_size(f->sub, version, o + f->offset + i * f->stride);
        if (f->type != STATE_STRUCT)
            n += field_count(f, o) * scalar_size(f->type);
    }
    return n;
}

static uint64_t load_mem(const uint8_t *p, StateType t)
{
    switch (t) {
    case STATE_U8:
    case STATE_BYTES: return *p;
    case STATE_BOOL: return *(const bool *)p;
    case STATE_U16: {
        uint16_t v;
        memcpy(&v, p, 2);
        return v;
    }
    case STATE_U32: {
        uint32_t v;
        memcpy(&v, p, 4);
        return v;
    }
    case STATE_U64: {
        uint64_t v;
        memcpy(&v, p, 8);
        return v;
    }
    case STATE_STRUCT: break;
    }
    return 0;
}

static void store_mem(uint8_t *p, StateType t, uint64_t v)
{
    switch (t) {
    case STATE_U8:
    case STATE_BYTES: *p = (uint8_t)v; break;
    case STATE_BOOL: *(bool *)p = v != 0; break;
    case STATE_U16: {
        uint16_t x = (uint16_t)v;
        memcpy(p, &x, 2);
        break;
    }
    case STATE_U32: {
        uint32_t x = (uint32_t)v;
        memcpy(p, &x, 4);
        break;
    }
    case STATE_U64: memcpy(p, &v, 8); break;
    case STATE_STRUCT: break;
    }
}

static uint8_t *encode_obj(const StateDesc *desc, const uint8_t *obj, uint8_t *buf)
{
    for (const StateField *f = desc->fields; f->name; f++) {
        const uint8_t *p = obj + f->offset;
        if (f->count_of) {
            le_put(buf, 4, field_count(f, obj));
            buf += 4;
        }
        for (uint32_t i = 0; i < field_count(f, obj); i++) {
            if (f->type == STATE_STRUCT) {
                buf = encode_obj(f->sub, p + i * f->stride, buf);
                continue;
            }
            size_t sz = scalar_size(f->type);
            le_put(buf, sz, load_mem(p + i * sz, f->type));
            buf += sz;
        }
    }
    return buf;
}

void state_encode(const StateDesc *desc, const void *obj, uint8_t *buf)
{
    encode_obj(desc, obj, buf);
}

typedef struct Decoder {
    const uint8_t *p, *end;
    Error *err;
    bool adopt_counts; /* printing a file: counts from the stream, no desc->check */
} Decoder;

/*
 * The element count before a count_of field: must match the object's, or is
 * adopted, or (a `grows` field) may be smaller.  *n gets how many to decode.
 */
static int decode_count(const StateDesc *desc, const StateField *f, Decoder *d, uint8_t *obj,
                        uint32_t *n_out)
{
    if (d->end - d->p < 4)
        return error_set(d->err, "%s.%s: the section is truncated", desc->name, f->name);
    unsigned n = (unsigned)le_get(d->p, 4), have;
    d->p += 4;
    memcpy(&have, obj + f->count_of - 1, sizeof(have));
    *n_out = n;
    if (d->adopt_counts && n <= f->count) {
        memcpy(obj + f->count_of - 1, &n, sizeof(n));
        return 0;
    }
    if (n != have && !(f->grows && n < have))
        return error_set(d->err, "%s.%s: %u elements saved, this machine has %u", desc->name,
                         f->name, n, have);
    return 0;
}

/* Elements first.. of a `grows` field the stream did not have: reset. */
static void reset_elements(const StateField *f, uint8_t *obj, uint32_t first)
{
    uint8_t *p = obj + f->offset;
    for (uint32_t i = first; i < field_count(f, obj); i++) {
        if (f->type != STATE_STRUCT)
            memset(p + i * scalar_size(f->type), 0, scalar_size(f->type));
        else if (f->sub->reset)
            f->sub->reset(p + i * f->stride);
        else
            memset(p + i * f->stride, 0, f->stride);
    }
}

static int decode_obj(const StateDesc *desc, uint16_t version, Decoder *d, uint8_t *obj);

static int decode_scalar(const StateDesc *desc, const StateField *f, uint32_t i, Decoder *d,
                         uint8_t *p)
{
    size_t sz = scalar_size(f->type);
    if ((size_t)(d->end - d->p) < sz)
        return error_set(d->err, "%s.%s: the section is truncated", desc->name, f->name);
    uint64_t v = le_get(d->p, sz);
    d->p += sz;
    if ((f->type == STATE_BOOL && v > 1) || (f->max && v > f->max)) {
        if (f->count > 1)
            return error_set(d->err, "%s.%s[%u]: value %" PRIu64 " is out of range", desc->name,
                             f->name, i, v);
        return error_set(d->err, "%s.%s: value %" PRIu64 " is out of range", desc->name, f->name,
                         v);
    }
    store_mem(p + i * sz, f->type, v);
    return 0;
}

static int decode_obj(const StateDesc *desc, uint16_t version, Decoder *d, uint8_t *obj)
{
    for (const StateField *f = desc->fields; f->name; f++) {
        if (!field_present(f, version))
            continue;
        uint8_t *p = obj + f->offset;
        uint32_t n = field_count(f, obj);
        if (f->count_of && decode_count(desc, f, d, obj, &n) < 0)
            return -1;
        n = n < field_count(f, obj) ? n : field_count(f, obj);
        for (uint32_t i = 0; i < n; i++) {
            int rc = f->type == STATE_STRUCT ? decode_obj(f->sub, version, d, p + i * f->stride)
                                             : decode_scalar(desc, f, i, d, p);
            if (rc < 0)
                return -1;
        }
        if (n < field_count(f, obj))
            reset_elements(f, obj, n);
    }
    /* A table's check compares with the live device (offered features, queue limits):
     * without one (printing a file) there is nothing to compare with. */
    return desc->check && !d->adopt_counts ? desc->check(obj, d->err) : 0;
}

static int decode_section(const StateDesc *desc, uint16_t version, const uint8_t *buf, size_t len,
                          void *staged, bool adopt, Error *err)
{
    if (version > desc->version || version < desc->min_version)
        return error_set(err,
                         "%s: section version %u is not supported (this hostel reads "
                         "%u to %u)",
                         desc->name, version, desc->min_version, desc->version);
    Decoder d = {.p = buf, .end = buf + len, .err = err, .adopt_counts = adopt};
    if (decode_obj(desc, version, &d, staged) < 0)
        return -1;
    if (d.p != d.end)
        return error_set(err, "%s: %zu bytes too many in the section", desc->name,
                         (size_t)(d.end - d.p));
    return 0;
}

int state_decode(const StateDesc *desc, uint16_t version, const uint8_t *buf, size_t len,
                 void *staged, Error *err)
{
    return decode_section(desc, version, buf, len, staged, false, err);
}

int state_decode_any(const StateDesc *desc, uint16_t version, const uint8_t *buf, size_t len,
                     void *obj, Error *err)
{
    return decode_section(desc, version, buf, len, obj, true, err);
}

static void commit_obj(const StateDesc *desc, uint8_t *live, const uint8_t *staged)
{
    for (const StateField *f = desc->fields; f->name; f++) {
        if (f->type == STATE_STRUCT) {
            for (uint32_t i = 0; i < field_count(f, staged); i++)
                commit_obj(f->sub, live + f->offset + i * f->stride,
                           staged + f->offset + i * f->stride);
        } else {
            memcpy(live + f->offset, staged + f->offset,
                   field_count(f, staged) * scalar_size(f->type));
        }
    }
}

void state_commit(const StateDesc *desc, void *live, const void *staged)
{
    commit_obj(desc, live, staged);
    if (desc->post_load)
        desc->post_load(live);
}

/* One element of an integer or bool field. */
static json_t *json_value(const StateField *f, const uint8_t *p, uint32_t i)
{
    uint64_t v = load_mem(p + i * scalar_size(f->type), f->type);
    if (f->type == STATE_BOOL)
        return json_boolean(v);
    return json_integer((json_int_t)v); /* fields wider than 63 bits print negative */
}

/* A bytes field as hex; long buffers (a ROM) as their start and a CRC. */
static json_t *json_bytes(const uint8_t *p, uint32_t n)
{
    size_t shown = n <= 64 ? n : 32;
    char buf[64 * 2 + 64];
    size_t len = 0;
    for (uint32_t i = 0; i < shown; i++)
        len += (size_t)snprintf(buf + len, sizeof(buf) - len, "%02x", p[i]);
    if (shown < n)
        snprintf(buf + len, sizeof(buf) - len, "... (%u bytes, crc32 %08lx)", n, crc32(0, p, n));
    return json_string(buf);
}

static json_t *json_field(const StateField *f, const uint8_t *obj)
{
    const uint8_t *p = obj + f->offset;
    uint32_t n = field_count(f, obj);
    if (f->type == STATE_BYTES)
        return json_bytes(p, n);
    json_t *arr = f->count ? json_array() : NULL;
    for (uint32_t i = 0; i < n; i++) {
        json_t *v = f->type == STATE_STRUCT ? state_to_json(f->sub, p + i * f->stride)
                                            : json_value(f, p, i);
        if (!arr)
            return v;
        json_array_append_new(arr, v);
    }
    return arr ? arr : json_null();
}

json_t *state_to_json(const StateDesc *desc, const void *obj)
{
    json_t *o = json_object();
    for (const StateField *f = desc->fields; f->name; f++)
        json_object_set_new(o, f->name, json_field(f, obj));
    return o;
}
