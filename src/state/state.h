/*
 * Declarative device state: each hart and device describes its
 * architectural state in one table (StateDesc) of fields with a type, a
 * count, a bound and the section version that added it.  One engine
 * encodes, decodes and prints every table, so save, restore, migration
 * and `hostel state show` cannot disagree about a device's state.
 *
 * Encoding of one section payload: the fields in table order, each
 * little-endian, arrays element after element, nested tables inline; an
 * array whose length is the machine's (count_of) is led by its element
 * count (u32), which a load checks against the machine.
 * Nested tables (STATE_STRUCT) count versions in their section's numbering.
 * Fields whose version is newer than the stream's section version are
 * absent (they keep the value the device had before the load: its reset
 * value).  Nothing derived (TLBs, decoded code, host descriptors) is saved;
 * post_load rebuilds it.
 *
 * Loading is two-phase so a bad stream never changes the VM: decode every
 * section into a staging copy of each device (state_decode), validate it
 * (field bounds, then the table's check callback), and only when the whole
 * stream passed, copy the staging buffers over the devices (state_commit).
 */
#ifndef HOSTEL_STATE_STATE_H
#define HOSTEL_STATE_STATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <jansson.h>

#include "util/error.h"

typedef enum StateType {
    STATE_U8,
    STATE_U16,
    STATE_U32,
    STATE_U64,
    STATE_BOOL,   /* a C bool, encoded as one byte 0/1 */
    STATE_BYTES,  /* count raw bytes (printed as hex) */
    STATE_STRUCT, /* count elements of the nested table `sub`, `stride` bytes apart */
} StateType;

typedef struct StateDesc StateDesc;

typedef struct StateField {
    const char *name;
    StateType type;
    size_t offset;        /* offsetof() in the described struct */
    uint32_t count;       /* elements (0 means 1); with count_of: the most */
    size_t count_of;      /* 1 + offsetof an `unsigned` in the struct giving the elements
                              in use (configuration, not state: never read from a stream) */
    uint16_t version;     /* section version that added the field (0 or 1: from the start) */
    uint64_t max;         /* integers: largest valid value (0 = any) */
    const StateDesc *sub; /* STATE_STRUCT: the element's table */
    size_t stride;        /* STATE_STRUCT: sizeof one element */
    /*
     * count_of fields: a stream with fewer elements than the machine has (a
     * device that gained some since, e.g. queues) loads into the first ones;
     * the others are reset (sub->reset, or zeroed).  More is still refused.
     */
    bool grows;
} StateField;

struct StateDesc {
    const char *name;         /* section tag, e.g. "plic" */
    uint16_t version;         /* the version this build writes */
    uint16_t min_version;     /* the oldest version it can load */
    size_t size;              /* sizeof the described struct (staging copies) */
    const StateField *fields; /* terminated by an entry with name NULL */
    /* Cross-field validation of a decoded staging copy (optional). */
    int (*check)(const void *staged, Error *err);
    /* Before encoding: capture state kept elsewhere (e.g. the time) into fields (optional). */
    void (*pre_save)(void *live);
    /* An element of a `grows` array the stream lacks: put it in its reset state (optional). */
    void (*reset)(void *obj);
    /* After commit: rebuild derived state from the loaded fields (optional). */
    void (*post_load)(void *live);
    /*
     * A stream without this section still loads (a device added after files
     * were written): the object keeps its state, a fresh machine's reset state.
     */
    bool absent_ok;
};

/* Field constructors, for tables that read well. */
#define STATE_FIELD(st, field, ty, ...)                                                            \
    {                                                                                              \
        .name = #field, .type = (ty), .offset = offsetof(st, field), __VA_ARGS__                   \
    }
#define STATE_COUNT_OF(st, field) (offsetof(st, field) + 1)
#define STATE_END                                                                                  \
    {                                                                                              \
        .name = NULL                                                                               \
    }

/* Bytes the encoding of obj takes at section version `version`. */
size_t state_encoded_size(const StateDesc *desc, uint16_t version, const void *obj);

/* Encode obj (a struct desc describes) at desc->version into buf (state_encoded_size bytes). */
void state_encode(const StateDesc *desc, const void *obj, uint8_t *buf);

/*
 * Decode a payload of section version `version` into staged (which holds a
 * copy of the live object, or zeroes), checking the length, every field's
 * bound and desc->check.  Returns 0, or -1 with err naming the field.
 */
int state_decode(const StateDesc *desc, uint16_t version, const uint8_t *buf, size_t len,
                 void *staged, Error *err);

/*
 * The same for printing a file without a machine: obj is zeroed, element
 * counts of count_of fields come from the stream (up to the field's count),
 * and desc->check does not run (it compares with a live device, which a
 * zeroed object is not); field bounds still hold.
 */
int state_decode_any(const StateDesc *desc, uint16_t version, const uint8_t *buf, size_t len,
                     void *obj, Error *err);

/*
 * Copy the described fields of staged into live (only the fields: live's
 * pointers and host resources stay), then call post_load.
 */
void state_commit(const StateDesc *desc, void *live, const void *staged);

/*
 * obj as one JSON object: fields by name in table order, arrays as arrays,
 * bytes as a hex string (long ones: the start and a CRC).  The caller owns
 * the result (json_decref); NULL only when out of memory.
 */
json_t *state_to_json(const StateDesc *desc, const void *obj);

#endif
