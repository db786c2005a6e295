/*
 * The process log (see log.h): the level threshold, the VM's name, the two
 * record formats and the sink.  A record is formatted into one buffer and
 * handed to the sink whole, so records from several threads never mix.
 */
#include "util/clocks.h"
#include "util/log.h"

#include <errno.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

enum { LOG_MSG_MAX = 1024, LOG_LINE_MAX = 8192 };

LogLevel log_threshold = LOG_INFO;

static LogFormat log_format = LOG_FORMAT_TEXT;
static LogSink log_sink;
static void *log_sink_opaque;
static char log_name[72];                  /* empty: no --name */
static char log_prefix_buf[96] = "hostel"; /* "hostel" or "hostel[NAME]" */

static const char *const level_names[] = {
    [LOG_ERROR] = "error", [LOG_WARN] = "warn", [LOG_INFO] = "info", [LOG_DEBUG] = "debug"};
/* The words text records have always used (tests grep for "warning:"). */
static const char *const level_labels[] = {
    [LOG_ERROR] = "error", [LOG_WARN] = "warning", [LOG_INFO] = "info", [LOG_DEBUG] = "debug"};

void log_set_level(LogLevel level)
{
    log_threshold = level;
}

void log_set_format(LogFormat format)
{
    log_format = format;
}

void log_set_sink(LogSink sink, void *opaque)
{
    log_sink = sink;
    log_sink_opaque = opaque;
}

bool log_level_parse(const char *s, LogLevel *level)
{
    for (size_t i = 0; i < sizeof(level_names) / sizeof(level_names[0]); i++) {
        if (strcmp(s, level_names[i]) == 0) {
            *level = (LogLevel)i;
            return true;
        }
    }
    return false;
}

bool log_format_parse(const char *s, LogFormat *format)
{
    if (strcmp(s, "text") == 0)
        *format = LOG_FORMAT_TEXT;
    else if (strcmp(s, "json") == 0)
        *format = LOG_FORMAT_JSON;
    else
        return false;
    return true;
}

void log_set_name(const char *name)
{
    snprintf(log_name, sizeof(log_name), "%s", name);
    snprintf(log_prefix_buf, sizeof(log_prefix_buf), "hostel[%s]", name);
}

const char *log_prefix(void)
{
    return log_prefix_buf;
}

/* Now as ISO 8601 UTC with milliseconds: "2026-01-31T12:00:00.123Z". */
static void log_timestamp(char *buf, size_t len)
{
    clock_text(clock_real_s(), buf, len);
}

/* {"ts": ..., "level": ..., "vm": ..., "msg": ...} and a newline; returns its length. */
static size_t log_format_json(char *line, size_t len, LogLevel level, const char *msg)
{
    char ts[40];
    log_timestamp(ts, sizeof(ts));
    json_t *rec = json_object();
    json_object_set_new(rec, "ts", json_string(ts));
    json_object_set_new(rec, "level", json_string(level_names[level]));
    if (log_name[0])
        json_object_set_new(rec, "vm", json_string(log_name));
    json_t *text = json_string(msg);
    if (!text) { /* not UTF-8 (a guest's bytes): show those bytes as '?' */
        char clean[LOG_MSG_MAX];
        size_t i = 0;
        for (; msg[i] && i < sizeof(clean) - 1; i++)
            clean[i] = (unsigned char)msg[i] < 0x80 ? msg[i] : '?';
        clean[i] = '\0';
        text = json_string(clean);
    }
    json_object_set_new(rec, "msg", text);
    size_t n = json_dumpb(rec, line, len - 1, JSON_PRESERVE_ORDER);
    json_decref(rec);
    if (n == 0 || n >= len - 1) /* cannot happen: 6 bytes per escaped char fit; stay valid */
        n = (size_t)snprintf(line, len - 1, "{\"level\": \"%s\"}", level_names[level]);
    line[n++] = '\n';
    return n;
}

static void log_write_stderr(const char *line, size_t len)
{
    while (len > 0) {
        ssize_t n = write(STDERR_FILENO, line, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return;
        line += n;
        len -= (size_t)n;
    }
}

void log_emit(LogLevel level, const char *fmt, ...)
{
    char msg[LOG_MSG_MAX], line[LOG_LINE_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    size_t n;
    if (log_format == LOG_FORMAT_JSON) {
        n = log_format_json(line, sizeof(line), level, msg);
    } else {
        int w =
            snprintf(line, sizeof(line), "%s: %s: %s\n", log_prefix_buf, level_labels[level], msg);
        n = w < (int)sizeof(line) ? (size_t)w : sizeof(line) - 1;
        line[n - 1] = '\n'; /* a cut record still ends its line */
    }
    if (log_sink)
        log_sink(log_sink_opaque, level, line, n);
    else
        log_write_stderr(line, n);
}
