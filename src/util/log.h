/*
 * Diagnostics on stderr for conditions a user may want to know about but
 * that are not errors of the current call (a guest poking an unknown HTIF
 * command, a device driven into a state we do not model).
 *
 * Header-only on purpose: there is no logger state yet.  Debug messages are
 * compiled out unless HOSTEL_LOG_DEBUG is defined to 1, so they cost nothing
 * (not even argument formatting) in normal builds.  A run-time level
 * (--log-level) arrives with src/util/log.c when a daemon needs it.
 */
#ifndef HOSTEL_UTIL_LOG_H
#define HOSTEL_UTIL_LOG_H

#include <stdarg.h>
#include <stdio.h>

#ifndef HOSTEL_LOG_DEBUG
#define HOSTEL_LOG_DEBUG 0
#endif

/*
 * Name this process's VM in every log line ("hostel[NAME]: ..."): one
 * process runs one VM, so the name is process-wide.  Set it before any
 * thread starts.
 */
void log_set_name(const char *name);
/* "hostel" or "hostel[NAME]". */
const char *log_prefix(void);

/* Print "PREFIX: LEVEL: message" as one line on stderr. */
static inline void log_write(const char *level, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static inline void log_write(const char *level, const char *fmt, ...)
{
    char line[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    fprintf(stderr, "%s: %s: %s\n", log_prefix(), level, line);
}

#define log_warn(...) log_write("warning", __VA_ARGS__)
#define log_info(...) log_write("info", __VA_ARGS__)
#define log_debug(...)                                                                             \
    do {                                                                                           \
        if (HOSTEL_LOG_DEBUG)                                                                      \
            log_write("debug", __VA_ARGS__);                                                       \
    } while (0)

#endif
