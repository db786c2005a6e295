/*
 * The two clocks the daemon reads, in seconds as doubles (CLOCK_MONOTONIC
 * for intervals and deadlines, CLOCK_REALTIME for what people read), and
 * a real time as RFC 3339 UTC with milliseconds ("2026-01-02T03:04:05.678Z"),
 * the form of every timestamp in the API, the events and the JSON log.
 */
#ifndef HOSTEL_UTIL_CLOCKS_H
#define HOSTEL_UTIL_CLOCKS_H

#include <stddef.h>

#define CLOCK_TEXT_MAX 32 /* bytes of clock_text's result, with its NUL */

double clock_mono_s(void);
double clock_real_s(void);

/* t (seconds of CLOCK_REALTIME) as RFC 3339 UTC with milliseconds into buf. */
void clock_text(double t, char *buf, size_t size);

#endif
