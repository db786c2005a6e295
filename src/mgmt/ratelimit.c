/* Token buckets per client (ratelimit.h). */
#include <stdio.h>
#include <string.h>

#include "mgmt/ratelimit.h"

void ratelimit_init(RateLimit *rl, double rate, double burst)
{
    memset(rl, 0, sizeof(*rl));
    rl->rate = rate > 0 ? rate : 0;
    rl->burst = burst >= 1 ? burst : 1;
}

/* The bucket of id: found, or a fresh full one in a free or the least recently used slot. */
static RateBucket *bucket_of(RateLimit *rl, const char *id, double now)
{
    RateBucket *oldest = NULL;
    for (unsigned i = 0; i < rl->used; i++) {
        RateBucket *b = &rl->buckets[i];
        if (strcmp(b->id, id) == 0)
            return b;
        if (!oldest || b->last < oldest->last)
            oldest = b;
    }
    RateBucket *b = rl->used < RATELIMIT_CLIENTS ? &rl->buckets[rl->used++] : oldest;
    snprintf(b->id, sizeof(b->id), "%s", id);
    b->tokens = rl->burst;
    b->last = now;
    return b;
}

bool ratelimit_take(RateLimit *rl, const char *id, double now, double *retry_after_s)
{
    if (rl->rate <= 0)
        return true;
    RateBucket *b = bucket_of(rl, id, now);
    if (now > b->last) {
        b->tokens += (now - b->last) * rl->rate;
        if (b->tokens > rl->burst)
            b->tokens = rl->burst;
        b->last = now;
    }
    if (b->tokens >= 1) {
        b->tokens -= 1;
        return true;
    }
    *retry_after_s = (1 - b->tokens) / rl->rate;
    return false;
}
