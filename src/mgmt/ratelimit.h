/*
 * Per-client rate limits (docs/mgmt.md "Limits"): one token bucket per
 * client identity (its uid on the unix socket, its certificate on HTTPS),
 * refilled at `rate` tokens a second up to `burst`; each mutating call
 * takes one.  At most RATELIMIT_CLIENTS buckets are kept; the one least
 * recently used gives way (it was full again long ago, or soon will be).
 * Not thread-safe: the API's lock covers it.
 */
#ifndef HOSTEL_MGMT_RATELIMIT_H
#define HOSTEL_MGMT_RATELIMIT_H

#include <stdbool.h>

#define RATELIMIT_CLIENTS 256
#define RATELIMIT_ID_MAX 96

typedef struct RateBucket {
    char id[RATELIMIT_ID_MAX];
    double tokens;
    double last; /* seconds: when tokens was computed */
} RateBucket;

typedef struct RateLimit {
    double rate;  /* tokens a second; 0 = no limit */
    double burst; /* the bucket's size */
    RateBucket buckets[RATELIMIT_CLIENTS];
    unsigned used;
} RateLimit;

/* A limit of rate calls a second with bursts of burst (rate 0: none). */
void ratelimit_init(RateLimit *rl, double rate, double burst);

/*
 * Client id makes one call at time now (seconds, monotonic): true when
 * allowed (a token taken); false when over the limit, with *retry_after_s
 * set to when the next token comes.
 */
bool ratelimit_take(RateLimit *rl, const char *id, double now, double *retry_after_s);

#endif
