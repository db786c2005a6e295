/* Clocks in seconds and RFC 3339 timestamps (clocks.h). */
#include <stdio.h>
#include <time.h>

#include "util/clocks.h"

static double seconds_of(clockid_t id)
{
    struct timespec ts;
    clock_gettime(id, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

double clock_mono_s(void)
{
    return seconds_of(CLOCK_MONOTONIC);
}

double clock_real_s(void)
{
    return seconds_of(CLOCK_REALTIME);
}

void clock_text(double t, char *buf, size_t size)
{
    time_t s = (time_t)t;
    int ms = (int)((t - (double)s) * 1000);
    struct tm tm;
    gmtime_r(&s, &tm);
    size_t n = strftime(buf, size, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(buf + n, size - n, ".%03dZ", ms > 999 ? 999 : ms);
}
