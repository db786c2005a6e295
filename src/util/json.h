/*
 * A small streaming JSON writer for machine-readable command output
 * (`hostel img ... --output=json`).  The caller nests objects and arrays;
 * the writer places commas, indentation and string escapes.  Pretty mode
 * indents by four spaces per level, as qemu-img does, so the two tools'
 * outputs look alike; compact mode puts everything on one line.
 * Names are jw_*: the json_* namespace is jansson's (the control socket's
 * parser), and the two link into one program.
 */
#ifndef HOSTEL_UTIL_JSON_H
#define HOSTEL_UTIL_JSON_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

/* Deepest nesting the writer tracks; deeper values are still written, unindented. */
#define JSON_MAX_DEPTH 32

typedef struct JsonWriter {
    FILE *out;
    bool pretty;
    int depth;                      /* open containers */
    bool has_items[JSON_MAX_DEPTH]; /* per level: a value was already written (comma) */
} JsonWriter;

void jw_init(JsonWriter *w, FILE *out, bool pretty);

/*
 * Every value call takes the member's key inside an object and NULL inside
 * an array or at the top level.
 */
void jw_object_begin(JsonWriter *w, const char *key);
void jw_object_end(JsonWriter *w);
void jw_array_begin(JsonWriter *w, const char *key);
void jw_array_end(JsonWriter *w);
void jw_string(JsonWriter *w, const char *key, const char *value); /* NULL: null */
void jw_int(JsonWriter *w, const char *key, int64_t value);
void jw_uint(JsonWriter *w, const char *key, uint64_t value);
void jw_bool(JsonWriter *w, const char *key, bool value);

/* End the document with a newline (after the top-level value). */
void jw_finish(JsonWriter *w);

/* Write s as a quoted JSON string with the escapes RFC 8259 requires. */
void jw_write_escaped(FILE *out, const char *s);

#endif
