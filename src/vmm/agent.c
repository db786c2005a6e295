/*
 * The guest agent client: a queue of calls, each run as sync -> command ->
 * reply (agent.h), a line reader capped at AGENT_REPLY_MAX, one timer that
 * starts the next call at the loop's next turn and bounds the running one.
 */
#include "vmm/agent.h"

#include <stdlib.h>
#include <string.h>

#include "util/timer.h"

#define AGENT_SENTINEL 0xff          /* guest-sync-delimited's delimiter, and the parser flush */
#define AGENT_NO_REPLY_GRACE_MS 1000 /* a no-reply command's error comes within this */

typedef enum AgentState {
    AGENT_IDLE,
    AGENT_SYNC,  /* waiting for 0xFF then {"return": sync_id} */
    AGENT_REPLY, /* waiting for the command's reply */
    AGENT_GRACE, /* a no-reply command went out: an error may still come */
} AgentState;

typedef struct AgentCall {
    struct AgentCall *next;
    char *command; /* "guest-ping" */
    char *line;    /* the request, with its newline */
    unsigned timeout_ms;
    bool no_reply;
    AgentDone done;
    void *opaque;
} AgentCall;

struct Agent {
    AgentIo io;
    TimerList *timers;
    Timer *timer;           /* starts the next call (expiry 0) or ends the running one (timeout) */
    AgentCall *head, *tail; /* head runs when state != IDLE */
    unsigned queued;
    AgentState state;
    int64_t sync_id;
    bool delimited; /* SYNC: the 0xFF sentinel came */
    bool skipping;  /* discarding an oversized line up to its newline */
    uint8_t *out;   /* bytes for the guest not taken yet */
    size_t out_len, out_cap;
    char *in; /* the reply line being read */
    size_t in_len, in_cap;
};

/* ---- output ---- */

static void agent_flush(Agent *a)
{
    if (!a->out_len)
        return;
    size_t n = a->io.send(a->io.opaque, a->out, a->out_len);
    a->out_len -= n;
    memmove(a->out, a->out + n, a->out_len);
}

static int agent_queue_out(Agent *a, const void *buf, size_t len)
{
    if (a->out_len + len > a->out_cap) {
        size_t cap = a->out_len + len + 256;
        uint8_t *p = realloc(a->out, cap);
        if (!p)
            return -1;
        a->out = p;
        a->out_cap = cap;
    }
    memcpy(a->out + a->out_len, buf, len);
    a->out_len += len;
    agent_flush(a);
    return 0;
}

void agent_writable(Agent *a)
{
    agent_flush(a);
}

/* ---- the calls ---- */

static void call_free(AgentCall *c)
{
    free(c->command);
    free(c->line);
    free(c);
}

static void agent_start_next(Agent *a);
static void agent_silent_success(Agent *a);

/* The running call ends: its completion, then the next call at the loop's next turn. */
static void agent_finish(Agent *a, json_t *ret, const Error *err)
{
    AgentCall *c = a->head;
    a->head = c->next;
    if (!a->head)
        a->tail = NULL;
    a->queued--;
    a->state = AGENT_IDLE;
    a->in_len = 0;
    if (err)
        a->out_len = 0; /* a half-sent request: the next sync's 0xFF flushes the agent */
    timer_del(a->timer);
    if (a->head)
        timer_mod(a->timer, 0);
    c->done(c->opaque, ret, err);
    call_free(c);
}

static void agent_fail(Agent *a, const char *fmt, const char *arg)
{
    Error e = {0};
    error_set(&e, fmt, a->head->command, arg);
    agent_finish(a, NULL, &e);
}

/* Begin the call at the head: flush the agent's parser, then sync. */
static void agent_start_next(Agent *a)
{
    AgentCall *c = a->head;
    if (!a->io.connected(a->io.opaque)) {
        agent_fail(a,
                   "%s: no guest agent: no guest program has opened the port "
                   "org.qemu.guest_agent.0 (is qemu-guest-agent running?)%s",
                   "");
        return;
    }
    char sync[96];
    a->sync_id = (int64_t)(timer_now_ns() & 0x3fffffffffffull) + 1;
    int n = snprintf(sync, sizeof(sync),
                     "\xff{\"execute\": \"guest-sync-delimited\", \"arguments\": {\"id\": %lld}}\n",
                     (long long)a->sync_id);
    a->state = AGENT_SYNC;
    a->delimited = false;
    a->skipping = false;
    a->in_len = 0;
    timer_mod(a->timer, timer_now_ns() + (uint64_t)c->timeout_ms * 1000000);
    if (agent_queue_out(a, sync, (size_t)n) < 0)
        agent_fail(a, "%s: out of memory%s", "");
}

static void agent_timer(void *opaque)
{
    Agent *a = opaque;
    if (!a->head)
        return;
    if (a->state == AGENT_IDLE) {
        agent_start_next(a);
        return;
    }
    if (a->state == AGENT_GRACE) {
        agent_silent_success(a);
        return;
    }
    char secs[32];
    snprintf(secs, sizeof(secs), "%.3g s", a->head->timeout_ms / 1000.0);
    agent_fail(a,
               a->state == AGENT_SYNC ? "%s: the guest agent did not answer guest-sync-delimited "
                                        "within %s"
                                      : "%s: the guest agent did not answer within %s",
               secs);
}

/* ---- input ---- */

/* The sync's reply: the command goes out (a no-reply command is done once it is queued). */
static void agent_synced(Agent *a)
{
    AgentCall *c = a->head;
    a->state = AGENT_REPLY;
    if (agent_queue_out(a, c->line, strlen(c->line)) < 0) {
        agent_fail(a, "%s: out of memory%s", "");
        return;
    }
    if (c->no_reply) { /* silence means it works: wait only for an error */
        a->state = AGENT_GRACE;
        unsigned ms =
            c->timeout_ms < AGENT_NO_REPLY_GRACE_MS ? c->timeout_ms : AGENT_NO_REPLY_GRACE_MS;
        timer_mod(a->timer, timer_now_ns() + (uint64_t)ms * 1000000);
    }
}

/* A no-reply command's grace ended in silence (or the VM goes away meanwhile): it worked. */
static void agent_silent_success(Agent *a)
{
    json_t *none = json_object();
    agent_finish(a, none, NULL);
    json_decref(none);
}

static void agent_sync_line(Agent *a, json_t *j)
{
    json_t *ret = json_is_object(j) ? json_object_get(j, "return") : NULL;
    if (json_is_integer(ret) && json_integer_value(ret) == a->sync_id)
        agent_synced(a);
    else
        a->delimited = false; /* a stale or garbled answer: wait for the next sentinel */
}

static void agent_reply_line(Agent *a, json_t *j, const json_error_t *jerr)
{
    char why[300];
    if (!j) {
        snprintf(why, sizeof(why), "%s at byte %d", jerr->text, jerr->position);
        agent_fail(a, "%s: the guest agent's reply is not JSON: %s", why);
        return;
    }
    json_t *ret = json_is_object(j) ? json_object_get(j, "return") : NULL;
    json_t *error = json_is_object(j) ? json_object_get(j, "error") : NULL;
    if (ret) {
        agent_finish(a, ret, NULL);
    } else if (json_is_object(error)) {
        const char *desc = json_string_value(json_object_get(error, "desc"));
        snprintf(why, sizeof(why), "%.280s", desc ? desc : "(no description)");
        agent_fail(a, "%s: the guest agent refused: %s", why);
    } else {
        agent_fail(a, "%s: the guest agent's reply has neither \"return\" nor \"error\"%s", "");
    }
}

/* One whole line (without its newline) in a->in. */
static void agent_line(Agent *a)
{
    size_t len = a->in_len, i = 0;
    a->in_len = 0;
    while (i < len && (a->in[i] == ' ' || a->in[i] == '\r' || a->in[i] == '\t'))
        i++;
    if (i == len)
        return; /* blank */
    json_error_t jerr;
    json_t *j = json_loadb(a->in + i, len - i, JSON_REJECT_DUPLICATES, &jerr);
    if (a->state == AGENT_SYNC)
        agent_sync_line(a, j);
    else
        agent_reply_line(a, j, &jerr);
    json_decref(j);
}

static void agent_byte(Agent *a, uint8_t b)
{
    if (a->state == AGENT_SYNC && !a->delimited) {
        a->delimited = b == AGENT_SENTINEL; /* everything before it is stale */
        a->in_len = 0;
        return;
    }
    if (a->skipping) {
        a->skipping = b != '\n';
        return;
    }
    if (b == '\n') {
        agent_line(a);
        return;
    }
    if (a->in_len == AGENT_REPLY_MAX) {
        a->skipping = true;
        a->in_len = 0;
        char max[32];
        snprintf(max, sizeof(max), "%u bytes", AGENT_REPLY_MAX);
        agent_fail(a, "%s: the guest agent's reply is longer than %s", max);
        return;
    }
    if (a->in_len == a->in_cap) {
        size_t cap = a->in_cap ? a->in_cap * 2 : 4096;
        char *p = realloc(a->in, cap > AGENT_REPLY_MAX ? AGENT_REPLY_MAX : cap);
        if (!p) {
            a->skipping = true;
            agent_fail(a, "%s: out of memory reading the guest agent's reply%s", "");
            return;
        }
        a->in = p;
        a->in_cap = cap > AGENT_REPLY_MAX ? AGENT_REPLY_MAX : cap;
    }
    a->in[a->in_len++] = (char)b;
}

void agent_input(Agent *a, const uint8_t *buf, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        if (a->state == AGENT_IDLE)
            return; /* nobody asked: unsolicited bytes are dropped */
        agent_byte(a, buf[i]);
    }
}

/* ---- the interface ---- */

int agent_call(Agent *a, const char *command, json_t *args, const AgentCallOpts *o, AgentDone done,
               void *opaque, Error *err)
{
    if (a->queued == AGENT_QUEUE_MAX) {
        json_decref(args);
        return error_set(err, "%s: %d guest agent calls wait already: try again later", command,
                         AGENT_QUEUE_MAX);
    }
    json_t *req = json_pack("{s:s, s:o*}", "execute", command, "arguments", args);
    char *text = req ? json_dumps(req, JSON_COMPACT) : NULL;
    json_decref(req);
    AgentCall *c = text ? calloc(1, sizeof(*c)) : NULL;
    size_t n = text ? strlen(text) : 0;
    char *line = c ? malloc(n + 2) : NULL;
    if (!line || !(c->command = strdup(command))) {
        free(text);
        free(line);
        free(c);
        return error_set(err, "%s: out of memory", command);
    }
    memcpy(line, text, n);
    memcpy(line + n, "\n", 2);
    free(text);
    *c = (AgentCall){.command = c->command,
                     .line = line,
                     .timeout_ms = o && o->timeout_ms ? o->timeout_ms : AGENT_TIMEOUT_MS,
                     .no_reply = o && o->no_reply,
                     .done = done,
                     .opaque = opaque};
    if (a->tail)
        a->tail->next = c;
    else
        a->head = c;
    a->tail = c;
    if (a->queued++ == 0)
        timer_mod(a->timer, 0); /* the loop's next turn: done never runs inside agent_call */
    return 0;
}

bool agent_connected(const Agent *a)
{
    return a->io.connected(a->io.opaque);
}

Agent *agent_new(EventLoop *loop, const AgentIo *io, Error *err)
{
    Agent *a = calloc(1, sizeof(*a));
    if (!a) {
        error_set(err, "out of memory");
        return NULL;
    }
    a->io = *io;
    if (!(a->timers = timer_list_new(loop, err)) ||
        !(a->timer = timer_new(a->timers, agent_timer, a, err))) {
        agent_free(a);
        return NULL;
    }
    return a;
}

void agent_free(Agent *a)
{
    if (!a)
        return;
    while (a->head) {
        if (a->state == AGENT_GRACE) {
            agent_silent_success(a); /* guest-shutdown worked: the VM powers off */
            continue;
        }
        a->state = AGENT_REPLY;
        agent_fail(a, "%s: cancelled: the VM is shutting down%s", "");
    }
    timer_list_free(a->timers);
    free(a->out);
    free(a->in);
    free(a);
}
