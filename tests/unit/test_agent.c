/*
 * The guest agent client (src/vmm/agent.c) against scripted replies on a
 * fake port:
 *   - a call: 0xFF, guest-sync-delimited, then the command once the sync's
 *     id comes back after its sentinel; the "return" value reaches done;
 *   - stale bytes, a stale sync id and blank lines are skipped;
 *   - hostile replies: an "error" reply, malformed JSON, neither return nor
 *     error, a line past AGENT_REPLY_MAX, silence (sync and reply
 *     timeouts): each fails the call with a clear message, and the next
 *     call works;
 *   - no guest program on the port: refused at once;
 *   - calls queue in order; a full queue is refused; a port that takes a
 *     few bytes at a time; a no-reply command (guest-shutdown) succeeds on
 *     silence and fails on an error; freeing the client cancels calls.
 */
#include <stdlib.h>
#include <string.h>

#include "tap.h"
#include "util/evloop.h"
#include "util/timer.h"
#include "vmm/agent.h"

static EventLoop *loop;

/* The fake port: what the client sent, how much it takes per offer, whether it is open. */
static char sent[1 << 16];
static size_t sent_len, take_max = SIZE_MAX;
static bool port_open = true;

static size_t fake_send(void *opaque, const uint8_t *buf, size_t len)
{
    size_t n = len < take_max ? len : take_max;
    if (n > sizeof(sent) - sent_len)
        n = sizeof(sent) - sent_len;
    memcpy(sent + sent_len, buf, n);
    sent_len += n;
    return n;
}

static bool fake_connected(void *opaque)
{
    return port_open;
}

/* A call's outcome. */
typedef struct Outcome {
    int calls;
    char ret[512]; /* the return value as compact JSON */
    char err[512];
} Outcome;

static void record(void *opaque, json_t *ret, const Error *err)
{
    Outcome *o = opaque;
    o->calls++;
    if (ret) {
        char *t = json_dumps(ret, JSON_COMPACT | JSON_ENCODE_ANY | JSON_SORT_KEYS);
        snprintf(o->ret, sizeof(o->ret), "%s", t ? t : "?");
        free(t);
    } else {
        snprintf(o->err, sizeof(o->err), "%s", err->msg);
    }
}

/* Turn the loop until cond or ms milliseconds passed. */
#define RUN_UNTIL(cond, ms)                                                                        \
    do {                                                                                           \
        uint64_t end_ = timer_now_ns() + (uint64_t)(ms)*1000000;                                   \
        while (!(cond) && timer_now_ns() < end_)                                                   \
            evloop_run_once(loop, 5000000);                                                        \
    } while (0)

/* The id of the last guest-sync-delimited the client sent (0 if none). */
static long long last_sync_id(void)
{
    sent[sent_len < sizeof(sent) ? sent_len : sizeof(sent) - 1] = 0;
    const char *p = NULL, *q = sent;
    while ((q = strstr(q, "\"id\": ")))
        p = q++;
    return p ? atoll(p + 6) : 0;
}

static void feed(Agent *a, const char *s)
{
    agent_input(a, (const uint8_t *)s, strlen(s));
}

/* Answer the pending sync (after its sentinel). */
static void answer_sync(Agent *a)
{
    char line[64];
    snprintf(line, sizeof(line), "\xff{\"return\": %lld}\n", last_sync_id());
    feed(a, line);
}

static Agent *client(void)
{
    AgentIo io = {.send = fake_send, .connected = fake_connected};
    Error err;
    Agent *a = agent_new(loop, &io, &err);
    if (!a)
        printf("Bail out! %s\n", err.msg);
    sent_len = 0;
    take_max = SIZE_MAX;
    port_open = true;
    return a;
}

static void test_good(void)
{
    Agent *a = client();
    Outcome o = {0};
    Error err;
    ok(agent_call(a, "guest-ping", NULL, NULL, record, &o, &err) == 0 && o.calls == 0,
       "a call is queued; done never runs inside agent_call");
    RUN_UNTIL(sent_len, 1000);
    ok(sent_len && (uint8_t)sent[0] == 0xff && strstr(sent, "\"guest-sync-delimited\"") &&
           !strstr(sent, "guest-ping"),
       "0xFF and guest-sync-delimited go first, not the command");
    feed(a, "stale junk {\"return\": {}}\n\xff{\"return\": 1}\n"); /* a stale sync id */
    ok(!strstr(sent, "guest-ping"), "stale bytes and a stale sync id are skipped");
    answer_sync(a);
    ok(strstr(sent, "{\"execute\":\"guest-ping\"}\n") != NULL, "the sync answered: the command");
    feed(a, "\r\n  \n{\"return\": {\"x\": 1}}\n");
    ok(o.calls == 1 && strcmp(o.ret, "{\"x\":1}") == 0, "the return value reaches done: %s", o.ret);
    /* The arguments go out as given. */
    Outcome o2 = {0};
    sent_len = 0;
    agent_call(a, "guest-shutdown", json_pack("{s:s}", "mode", "halt"), NULL, record, &o2, &err);
    RUN_UNTIL(sent_len, 1000);
    answer_sync(a);
    ok(strstr(sent, "{\"execute\":\"guest-shutdown\",\"arguments\":{\"mode\":\"halt\"}}") != NULL,
       "arguments are sent");
    feed(a, "{\"return\": {}}\n");
    ok(o2.calls == 1 && !o2.err[0], "and answered");
    agent_free(a);
}

/* Run one call answered by reply (after a good sync); its outcome in *o. */
static void one_call(Agent *a, const char *reply, Outcome *o, unsigned timeout_ms)
{
    Error err;
    AgentCallOpts opts = {.timeout_ms = timeout_ms};
    sent_len = 0;
    memset(o, 0, sizeof(*o));
    agent_call(a, "guest-info", NULL, &opts, record, o, &err);
    RUN_UNTIL(sent_len, 1000);
    answer_sync(a);
    if (reply)
        agent_input(a, (const uint8_t *)reply, strlen(reply));
    RUN_UNTIL(o->calls, timeout_ms + 2000);
}

static void test_hostile(void)
{
    Agent *a = client();
    Outcome o;
    one_call(a, "{\"error\": {\"class\": \"CommandNotFound\", \"desc\": \"no such thing\"}}\n", &o,
             1000);
    ok(o.calls == 1 && strstr(o.err, "guest-info: the guest agent refused: no such thing"),
       "an error reply: %s", o.err);
    one_call(a, "{\"return\": [1, 2,\n", &o, 1000);
    ok(o.calls == 1 && strstr(o.err, "guest-info: the guest agent's reply is not JSON"),
       "malformed JSON: %s", o.err);
    one_call(a, "[1, 2]\n", &o, 1000);
    ok(o.calls == 1 && strstr(o.err, "neither \"return\" nor \"error\""),
       "neither return nor error: %s", o.err);
    char *big = malloc(AGENT_REPLY_MAX + 2);
    memset(big, 'x', AGENT_REPLY_MAX + 1);
    big[AGENT_REPLY_MAX + 1] = 0;
    one_call(a, big, &o, 1000);
    ok(o.calls == 1 && strstr(o.err, "longer than 1048576 bytes"), "an oversized reply: %s", o.err);
    free(big);
    feed(a, "xxxx\n"); /* the rest of the oversized line, while no call runs */
    one_call(a, "{\"return\": {\"fine\": true}}\n", &o, 1000);
    ok(o.calls == 1 && strcmp(o.ret, "{\"fine\":true}") == 0,
       "the rest of the oversized line is skipped; the next call works");
    one_call(a, NULL, &o, 100);
    ok(o.calls == 1 && strstr(o.err, "guest-info: the guest agent did not answer within 0.1 s"),
       "a silent agent: %s", o.err);
    /* Silent from the start: the sync itself times out. */
    Error err;
    AgentCallOpts opts = {.timeout_ms = 100};
    memset(&o, 0, sizeof(o));
    agent_call(a, "guest-ping", NULL, &opts, record, &o, &err);
    RUN_UNTIL(o.calls, 2000);
    ok(o.calls == 1 && strstr(o.err, "did not answer guest-sync-delimited within 0.1 s"),
       "no answer to the sync: %s", o.err);
    agent_free(a);
}

static void test_no_agent_and_queue(void)
{
    Agent *a = client();
    Outcome o = {0};
    Error err;
    port_open = false;
    agent_call(a, "guest-ping", NULL, NULL, record, &o, &err);
    RUN_UNTIL(o.calls, 1000);
    ok(o.calls == 1 && strstr(o.err, "no guest agent") && sent_len == 0,
       "no program on the port: refused at once, nothing sent: %s", o.err);
    port_open = true;
    Outcome q[AGENT_QUEUE_MAX] = {{0}};
    int queued = 0;
    for (int i = 0; i < AGENT_QUEUE_MAX; i++)
        queued += agent_call(a, "guest-ping", NULL, NULL, record, &q[i], &err) == 0;
    ok(queued == AGENT_QUEUE_MAX &&
           agent_call(a, "guest-ping", json_object(), NULL, record, &o, &err) < 0 &&
           strstr(err.msg, "wait already"),
       "the queue holds %d calls, then refuses: %s", AGENT_QUEUE_MAX, err.msg);
    RUN_UNTIL(sent_len, 1000);
    answer_sync(a);
    feed(a, "{\"return\": 1}\n");
    ok(q[0].calls == 1 && q[1].calls == 0, "calls run one at a time, in order");
    agent_free(a);
    ok(q[1].calls == 1 && strstr(q[1].err, "cancelled") && q[AGENT_QUEUE_MAX - 1].calls == 1,
       "freeing the client cancels the waiting calls: %s", q[1].err);
}

static void test_slow_port_and_no_reply(void)
{
    Agent *a = client();
    Outcome o = {0};
    Error err;
    take_max = 7; /* the guest takes 7 bytes per offer */
    agent_call(a, "guest-ping", NULL, NULL, record, &o, &err);
    RUN_UNTIL(sent_len, 1000);
    ok(sent_len == 7, "a slow port takes 7 bytes");
    while (sent_len < 20 || sent[sent_len - 1] != '\n')
        agent_writable(a);
    ok(strstr(sent, "guest-sync-delimited"), "agent_writable sends the rest");
    take_max = SIZE_MAX;
    answer_sync(a);
    agent_writable(a);
    feed(a, "{\"return\": {}}\n");
    ok(o.calls == 1 && strcmp(o.ret, "{}") == 0, "and the call completes");
    AgentCallOpts nr = {.no_reply = true, .timeout_ms = 200};
    memset(&o, 0, sizeof(o));
    sent_len = 0;
    agent_call(a, "guest-shutdown", NULL, &nr, record, &o, &err);
    RUN_UNTIL(sent_len, 1000);
    answer_sync(a);
    RUN_UNTIL(o.calls, 2000);
    ok(o.calls == 1 && !o.err[0], "a no-reply command succeeds on silence");
    memset(&o, 0, sizeof(o));
    sent_len = 0;
    agent_call(a, "guest-shutdown", NULL, &nr, record, &o, &err);
    RUN_UNTIL(sent_len, 1000);
    answer_sync(a);
    feed(a, "{\"error\": {\"class\": \"GenericError\", \"desc\": \"no /sbin/shutdown\"}}\n");
    ok(o.calls == 1 && strstr(o.err, "refused: no /sbin/shutdown"),
       "a no-reply command's error is reported: %s", o.err);
    memset(&o, 0, sizeof(o));
    sent_len = 0;
    nr.timeout_ms = 10000;
    agent_call(a, "guest-shutdown", NULL, &nr, record, &o, &err);
    RUN_UNTIL(sent_len, 1000);
    answer_sync(a);
    agent_free(a);
    ok(o.calls == 1 && !o.err[0], "a no-reply command sent when the VM goes away: success");
}

int main(void)
{
    Error err;
    if (!(loop = evloop_new(&err))) {
        printf("Bail out! %s\n", err.msg);
        return 1;
    }
    test_good();
    test_hostile();
    test_no_agent_and_queue();
    test_slow_port_and_no_reply();
    evloop_free(loop);
    return tap_done();
}
