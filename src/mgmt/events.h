/*
 * The event bus (docs/mgmt.md "Events"): what happened on this host, as
 * JSON objects {"id", "time", "type", "resource", "uid", "metadata"}.
 * Anything may emit, from any thread (the API's handlers today; the
 * supervisor and operations later); the bus keeps the last events in a
 * ring with increasing ids, for `GET /1.0/events?since=ID`, and hands each
 * new one to its subscribers (the websocket streams of /1.0/events).
 *
 * Types (the "type" member, as Incus has them): "lifecycle" (a resource
 * was created, changed, deleted, started, stopped...: metadata.action
 * says which, "vm-created" style) and "operation" (an operation's
 * progress).  A subscriber may ask for some types only.
 */
#ifndef HOSTEL_MGMT_EVENTS_H
#define HOSTEL_MGMT_EVENTS_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "util/error.h"

#define MGMT_EVENTS_KEEP 1000 /* events kept for a replay */

typedef struct MgmtEvents MgmtEvents;
typedef struct MgmtEventsSub MgmtEventsSub;

/* Which types a subscriber wants: a bit per known type, 0 for all of them. */
typedef struct MgmtEventsFilter {
    unsigned types;
} MgmtEventsFilter;

/*
 * A new event's JSON text (len bytes, no NUL counted), handed to a
 * subscriber in the emitting thread while the bus is locked: it must not
 * block nor call the bus.
 */
typedef void MgmtEventsFn(void *opaque, const char *text, size_t len);

/* A bus keeping the last keep events (MGMT_EVENTS_KEEP in the daemon).  Returns 0, or -1. */
int mgmt_events_new(MgmtEvents **out, size_t keep, Error *err);
/* Free the bus; every subscriber must be gone. */
void mgmt_events_free(MgmtEvents *ev);

/*
 * Record an event and hand it to the subscribers that want its type:
 * type ("lifecycle", "operation"), resource (an API path, "/1.0/vms/vm1"),
 * the uid who caused it ((uid_t)-1: the daemon itself), metadata (an
 * object; the reference is taken; NULL for none).  Thread-safe; never
 * fails (an event that cannot be made for want of memory is dropped and
 * logged).
 */
void mgmt_events_emit(MgmtEvents *ev, const char *type, const char *resource, uid_t uid,
                      json_t *metadata);

/*
 * A filter from a comma-separated list of types ("lifecycle,operation"),
 * NULL or "" meaning all.  Returns 0, or -1 naming an unknown type.
 */
int mgmt_events_filter_parse(const char *list, MgmtEventsFilter *f, Error *err);

/*
 * Subscribe fn(opaque, ...) to the events f lets through.  With replay,
 * the kept ones with an id above since are handed first, in order, and no
 * event is missed nor repeated between them and the new ones.  Returns the
 * subscription, or NULL when out of memory.
 */
MgmtEventsSub *mgmt_events_subscribe(MgmtEvents *ev, const MgmtEventsFilter *f, bool replay,
                                     uint64_t since, MgmtEventsFn *fn, void *opaque, Error *err);

/* End a subscription: once this returns, its fn is never called again. */
void mgmt_events_unsubscribe(MgmtEvents *ev, MgmtEventsSub *sub);

/*
 * The kept events with an id above since that f lets through, as the text
 * of a JSON array (malloc'd), oldest first.  Returns NULL when out of memory.
 */
char *mgmt_events_list(MgmtEvents *ev, const MgmtEventsFilter *f, uint64_t since);

/* The id of the last event emitted, 0 before the first. */
uint64_t mgmt_events_last_id(MgmtEvents *ev);

#endif
