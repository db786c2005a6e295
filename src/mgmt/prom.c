/*
 * The Prometheus text format 0.0.4 writer (prom.h): escaping and the
 * layout of family headers and samples, over an open_memstream buffer.
 */
#include "mgmt/prom.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

int prom_open(PromText *t)
{
    t->buf = NULL;
    t->len = 0;
    t->f = open_memstream(&t->buf, &t->len);
    return t->f ? 0 : -1;
}

char *prom_take(PromText *t)
{
    bool ok = !ferror(t->f);
    if (fclose(t->f) != 0)
        ok = false;
    t->f = NULL;
    if (!ok) {
        free(t->buf);
        t->buf = NULL;
    }
    return t->buf;
}

/* The escape of c (backslash and newline always, the double quote in label values), or NULL. */
static const char *escape_of(char c, bool quote)
{
    return c == '\\' ? "\\\\" : c == '\n' ? "\\n" : c == '"' && quote ? "\\\"" : NULL;
}

/* Write s escaped. */
static void put_escaped(FILE *f, const char *s, bool quote)
{
    for (; *s; s++) {
        const char *rep = escape_of(*s, quote);
        if (rep)
            fputs(rep, f);
        else
            fputc(*s, f);
    }
}

bool prom_escape_label(const char *in, char *out, size_t size)
{
    size_t n = 0;
    for (; *in; in++) {
        const char *rep = escape_of(*in, true);
        size_t need = rep ? 2 : 1;
        if (n + need >= size)
            break;
        if (rep)
            memcpy(out + n, rep, 2);
        else
            out[n] = *in;
        n += need;
    }
    if (size)
        out[n] = '\0';
    return *in == '\0';
}

void prom_family(PromText *t, const char *name, const char *type, const char *help)
{
    fprintf(t->f, "# HELP %s ", name);
    put_escaped(t->f, help, false);
    fprintf(t->f, "\n# TYPE %s %s\n", name, type);
}

static void put_value(FILE *f, double v)
{
    if (isnan(v))
        fputs("NaN", f);
    else if (isinf(v))
        fputs(v > 0 ? "+Inf" : "-Inf", f);
    else if (v == floor(v) && fabs(v) < 9.007199254740992e15)
        fprintf(f, "%.0f", v);
    else
        fprintf(f, "%.17g", v);
}

void prom_sample(PromText *t, const char *name, const char *const *labels, double value)
{
    fputs(name, t->f);
    if (labels && labels[0]) {
        fputc('{', t->f);
        for (size_t i = 0; labels[i] && labels[i + 1]; i += 2) {
            fprintf(t->f, "%s%s=\"", i ? "," : "", labels[i]);
            put_escaped(t->f, labels[i + 1], true);
            fputc('"', t->f);
        }
        fputc('}', t->f);
    }
    fputc(' ', t->f);
    put_value(t->f, value);
    fputc('\n', t->f);
}
