/*
 * The host side of the QEMU guest agent protocol (docs/agent.md): JSON
 * requests, one per line, to qemu-ga on the guest's agent port, and its
 * replies.  Each call is preceded by guest-sync-delimited (a 0xFF byte to
 * flush the agent's parser, then a sync with a fresh id whose reply comes
 * after a 0xFF sentinel): whatever a previous client or a timed-out call
 * left in the stream is skipped.  Calls run one at a time, in order.
 *
 * Replies are hostile input: a line longer than AGENT_REPLY_MAX fails the
 * call, as do malformed JSON, a reply that is neither {"return"} nor
 * {"error"}, and silence past the call's timeout.  Nothing is printed: a
 * call's completion gets an Error that says what happened.
 *
 * Everything runs on the event loop's thread.
 */
#ifndef HOSTEL_VMM_AGENT_H
#define HOSTEL_VMM_AGENT_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/error.h"
#include "util/evloop.h"

#define AGENT_REPLY_MAX (1u << 20) /* bytes of one reply line */
#define AGENT_TIMEOUT_MS 5000      /* a call's default timeout */
#define AGENT_QUEUE_MAX 16         /* calls waiting their turn */

typedef struct Agent Agent;

/* The port under the protocol. */
typedef struct AgentIo {
    /* Offer bytes to the guest; returns how many it took (the rest is offered again later). */
    size_t (*send)(void *opaque, const uint8_t *buf, size_t len);
    /* True when a guest program has the port open. */
    bool (*connected)(void *opaque);
    void *opaque;
} AgentIo;

/*
 * A call's completion: ret is the reply's "return" value (borrowed: valid
 * during the call) on success, or ret = NULL and err saying why it failed.
 */
typedef void (*AgentDone)(void *opaque, json_t *ret, const Error *err);

typedef struct AgentCallOpts {
    unsigned timeout_ms; /* 0 = AGENT_TIMEOUT_MS; covers the sync and the reply */
    /*
     * The command never answers when it works (guest-shutdown): the call
     * succeeds after a second of silence (or when the agent is freed
     * meanwhile, as the VM powers off), and fails on an error reply.
     */
    bool no_reply;
} AgentCallOpts;

/* An agent client on io, its timers on loop.  NULL with err filled (no memory). */
Agent *agent_new(EventLoop *loop, const AgentIo *io, Error *err);

/* Fail every call still waiting ("the VM is shutting down") and free a.  NULL is a no-op. */
void agent_free(Agent *a);

/* Bytes the guest sent on the port. */
void agent_input(Agent *a, const uint8_t *buf, size_t len);

/* The port can take more bytes: send what waits. */
void agent_writable(Agent *a);

/*
 * Run command (e.g. "guest-ping") with args (taken; NULL = none) after the
 * calls queued before it.  done is called exactly once, later, unless this
 * returns -1 (err filled: the queue is full, no memory).  o may be NULL.
 */
int agent_call(Agent *a, const char *command, json_t *args, const AgentCallOpts *o, AgentDone done,
               void *opaque, Error *err);

/* True when a guest program has the port open (a call could be answered). */
bool agent_connected(const Agent *a);

#endif
