/*
 * JSON writer: commas and indentation from a per-level "has items" flag,
 * strings escaped byte by byte (UTF-8 passes through unchanged).
 */
#include "util/json.h"

#include <inttypes.h>

void jw_init(JsonWriter *w, FILE *out, bool pretty)
{
    *w = (JsonWriter){.out = out, .pretty = pretty};
}

static void json_indent(JsonWriter *w)
{
    if (!w->pretty)
        return;
    fputc('\n', w->out);
    for (int i = 0; i < w->depth; i++)
        fputs("    ", w->out);
}

/* Comma, newline and key before a value at the current level. */
static void json_member(JsonWriter *w, const char *key)
{
    int level = w->depth < JSON_MAX_DEPTH ? w->depth : JSON_MAX_DEPTH - 1;
    if (w->depth > 0) {
        if (w->has_items[level])
            fputs(w->pretty ? "," : ", ", w->out);
        json_indent(w);
    }
    w->has_items[level] = true;
    if (key) {
        jw_write_escaped(w->out, key);
        fputs(": ", w->out);
    }
}

static void json_open(JsonWriter *w, const char *key, char bracket)
{
    json_member(w, key);
    fputc(bracket, w->out);
    w->depth++;
    if (w->depth < JSON_MAX_DEPTH)
        w->has_items[w->depth] = false;
}

static void json_close(JsonWriter *w, char bracket)
{
    if (w->depth == 0)
        return;
    bool had_items = w->depth >= JSON_MAX_DEPTH || w->has_items[w->depth];
    w->depth--;
    if (had_items)
        json_indent(w);
    fputc(bracket, w->out);
}

void jw_object_begin(JsonWriter *w, const char *key)
{
    json_open(w, key, '{');
}

void jw_object_end(JsonWriter *w)
{
    json_close(w, '}');
}

void jw_array_begin(JsonWriter *w, const char *key)
{
    json_open(w, key, '[');
}

void jw_array_end(JsonWriter *w)
{
    json_close(w, ']');
}

void jw_string(JsonWriter *w, const char *key, const char *value)
{
    json_member(w, key);
    if (value)
        jw_write_escaped(w->out, value);
    else
        fputs("null", w->out);
}

void jw_int(JsonWriter *w, const char *key, int64_t value)
{
    json_member(w, key);
    fprintf(w->out, "%" PRId64, value);
}

void jw_uint(JsonWriter *w, const char *key, uint64_t value)
{
    json_member(w, key);
    fprintf(w->out, "%" PRIu64, value);
}

void jw_bool(JsonWriter *w, const char *key, bool value)
{
    json_member(w, key);
    fputs(value ? "true" : "false", w->out);
}

void jw_finish(JsonWriter *w)
{
    fputc('\n', w->out);
}

void jw_write_escaped(FILE *out, const char *s)
{
    fputc('"', out);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        switch (*p) {
        case '"': fputs("\\\"", out); break;
        case '\\': fputs("\\\\", out); break;
        case '\n': fputs("\\n", out); break;
        case '\r': fputs("\\r", out); break;
        case '\t': fputs("\\t", out); break;
        case '\b': fputs("\\b", out); break;
        case '\f': fputs("\\f", out); break;
        default:
            if (*p < 0x20 || *p == 0x7f)
                fprintf(out, "\\u%04x", *p);
            else
                fputc(*p, out);
        }
    }
    fputc('"', out);
}
