/*
 * The Prometheus text exposition format, version 0.0.4 (what operators
 * scrape at GET /metrics): metric families with their "# HELP" and
 * "# TYPE" lines, then samples "name{label="value",...} value", label
 * values and help texts escaped as the format says.  No HTTP, no state:
 * the caller builds the text family by family (every sample of a family
 * must follow its header) and takes the result.
 */
#ifndef HOSTEL_MGMT_PROM_H
#define HOSTEL_MGMT_PROM_H

#include <stdbool.h>
#include <stdio.h>

#define PROM_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

/* The text being written (open_memstream). */
typedef struct PromText {
    FILE *f;
    char *buf;
    size_t len;
} PromText;

/* Start an empty text.  Returns 0, or -1 (out of memory). */
int prom_open(PromText *t);

/* The text written (malloc'd, NUL-terminated; the caller frees it), or NULL if out of memory. */
char *prom_take(PromText *t);

/*
 * Write a family's header: "# HELP name help" (help escaped) and
 * "# TYPE name type" (type: "counter", "gauge"...).
 */
void prom_family(PromText *t, const char *name, const char *type, const char *help);

/*
 * Write one sample of the family name: labels is NULL or a NULL-terminated
 * list of name, value pairs (values escaped); value is written so that it
 * reads back the same (integers without an exponent).
 */
void prom_sample(PromText *t, const char *name, const char *const *labels, double value);

/*
 * Escape a label value into out (size bytes, NUL-terminated, cut to fit):
 * backslash, double quote and newline become \\, \" and \n.  Returns
 * false if it had to be cut.
 */
bool prom_escape_label(const char *in, char *out, size_t size);

#endif
