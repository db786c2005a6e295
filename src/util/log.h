/*
 * The process log: diagnostics a user or an operator may want to see that
 * are not errors of the current call (a guest poking an unknown HTIF
 * command, a device driven into a state we do not model, a tap interface
 * created for the VM).
 *
 * One logger per process (one process runs one VM): a level threshold
 * (error < warn < info < debug; info by default), a format (text: one
 * "hostel[NAME]: warning: message" line; json: one JSON object per line
 * with "ts", "level", "vm" and "msg") and a sink (stderr by default, or a
 * callback a daemon installs).  Configure it in main() before threads start.
 *
 * The level test is done by the macros before any argument is formatted,
 * as redis's serverLog does: a disabled message costs one compare.
 */
#ifndef HOSTEL_UTIL_LOG_H
#define HOSTEL_UTIL_LOG_H

#include <stdbool.h>
#include <stddef.h>

typedef enum LogLevel {
    LOG_ERROR,
    LOG_WARN,
    LOG_INFO,
    LOG_DEBUG,
} LogLevel;

typedef enum LogFormat {
    LOG_FORMAT_TEXT,
    LOG_FORMAT_JSON,
} LogFormat;

/*
 * Where finished records go: line is one whole record ending in '\n', len
 * bytes long; it is only valid during the call.  May be called from any
 * thread that logs.
 */
typedef void (*LogSink)(void *opaque, LogLevel level, const char *line, size_t len);

/*
 * The threshold the macros read (messages above it are dropped).  It is
 * the one piece of process state the logger exposes, so the check can be
 * inlined; change it only with log_set_level.
 */
extern LogLevel log_threshold;

void log_set_level(LogLevel level);
void log_set_format(LogFormat format);

/* Send records to sink(opaque, ...) instead; NULL restores stderr. */
void log_set_sink(LogSink sink, void *opaque);

/* "error", "warn", "info" or "debug" into *level; returns false for anything else. */
bool log_level_parse(const char *s, LogLevel *level);
/* "text" or "json" into *format; returns false for anything else. */
bool log_format_parse(const char *s, LogFormat *format);

/*
 * Name this process's VM in every record ("hostel[NAME]: ..." in text,
 * "vm": NAME in JSON).  Set it before any thread starts.
 */
void log_set_name(const char *name);
/* "hostel" or "hostel[NAME]". */
const char *log_prefix(void);

/* Format and emit one record unconditionally (the macros test the level first). */
void log_emit(LogLevel level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define log_at(level, ...)                                                                         \
    do {                                                                                           \
        if ((level) <= log_threshold)                                                              \
            log_emit((level), __VA_ARGS__);                                                        \
    } while (0)

#define log_error(...) log_at(LOG_ERROR, __VA_ARGS__)
#define log_warn(...) log_at(LOG_WARN, __VA_ARGS__)
#define log_info(...) log_at(LOG_INFO, __VA_ARGS__)
#define log_debug(...) log_at(LOG_DEBUG, __VA_ARGS__)

#endif
