/* Per-client token buckets of the management API (src/mgmt/ratelimit.c). */
#include <stdio.h>

#include "mgmt/ratelimit.h"
#include "tap.h"

static void test_burst_then_rate(void)
{
    RateLimit rl;
    double retry = 0;
    ratelimit_init(&rl, 8, 5);
    int allowed = 0;
    for (int i = 0; i < 8; i++)
        allowed += ratelimit_take(&rl, "uid:1000", 100.0, &retry);
    ok(allowed == 5, "a burst of 5 passes at once, the rest is refused (%d passed)", allowed);
    ok(retry > 0.12 && retry <= 0.125, "the refusal says when the next token comes (%.3f s)",
       retry);
    ok(ratelimit_take(&rl, "uid:1000", 100.125, &retry), "a token an eighth of a second later");
    ok(!ratelimit_take(&rl, "uid:1000", 100.125, &retry), "and only one");
    ok(ratelimit_take(&rl, "uid:0", 100.125, &retry), "another client has its own bucket");
    int after = 0;
    for (int i = 0; i < 10; i++)
        after += ratelimit_take(&rl, "uid:1000", 200.0, &retry);
    ok(after == 5, "a bucket refills up to the burst, not beyond (%d)", after);
}

static void test_no_limit(void)
{
    RateLimit rl;
    double retry = 0;
    ratelimit_init(&rl, 0, 1);
    int allowed = 0;
    for (int i = 0; i < 1000; i++)
        allowed += ratelimit_take(&rl, "x", 1.0, &retry);
    ok(allowed == 1000, "rate 0 is no limit");
}

static void test_many_clients(void)
{
    RateLimit rl;
    double retry = 0;
    char id[32];
    ratelimit_init(&rl, 1, 1);
    for (int i = 0; i < RATELIMIT_CLIENTS + 10; i++) {
        snprintf(id, sizeof(id), "uid:%d", i);
        ratelimit_take(&rl, id, 10.0 + i * 0.001, &retry);
    }
    ok(rl.used == RATELIMIT_CLIENTS, "at most %d buckets are kept", RATELIMIT_CLIENTS);
    ok(!ratelimit_take(&rl, "uid:265", 10.3, &retry), "a recent client keeps its empty bucket");
    ok(ratelimit_take(&rl, "uid:0", 10.3, &retry),
       "the least recently used client's bucket was given away (it starts full again)");
}

int main(void)
{
    test_burst_then_rate();
    test_no_limit();
    test_many_clients();
    return tap_done();
}
