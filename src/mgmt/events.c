/*
 * The event bus (events.h): a ring of the last events' JSON texts, a list
 * of subscribers, one lock.  An event's text is made mostly outside the
 * lock (metadata can be large); its id and time are set under the lock, so
 * ids increase in the order subscribers see them.
 */
#include "mgmt/events.h"
#include "util/clocks.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "util/compiler.h"
#include "util/log.h"

static const char *const event_types[] = {"lifecycle", "operation"};

typedef struct Kept {
    uint64_t id;
    unsigned type_bit; /* the type's bit in a filter, 0 for a type we do not know */
    char *text;
    size_t len;
} Kept;

struct MgmtEventsSub {
    MgmtEventsFilter filter;
    MgmtEventsFn *fn;
    void *opaque;
    MgmtEventsSub *prev, *next;
};

struct MgmtEvents {
    pthread_mutex_t lock;
    Kept *ring; /* keep slots; event id goes in slot id % keep */
    size_t keep;
    uint64_t last_id;
    MgmtEventsSub *subs;
};

int mgmt_events_new(MgmtEvents **out, size_t keep, Error *err)
{
    MgmtEvents *ev = calloc(1, sizeof(*ev));
    if (!ev || !(ev->ring = calloc(keep ? keep : 1, sizeof(Kept)))) {
        free(ev);
        return error_set(err, "out of memory");
    }
    ev->keep = keep ? keep : 1;
    pthread_mutex_init(&ev->lock, NULL);
    *out = ev;
    return 0;
}

void mgmt_events_free(MgmtEvents *ev)
{
    if (!ev)
        return;
    for (size_t i = 0; i < ev->keep; i++)
        free(ev->ring[i].text);
    free(ev->ring);
    pthread_mutex_destroy(&ev->lock);
    free(ev);
}

static unsigned type_bit(const char *type, size_t len)
{
    for (size_t i = 0; i < ARRAY_SIZE(event_types); i++)
        if (strlen(event_types[i]) == len && strncmp(event_types[i], type, len) == 0)
            return 1u << i;
    return 0;
}

int mgmt_events_filter_parse(const char *list, MgmtEventsFilter *f, Error *err)
{
    f->types = 0;
    while (list && *list) {
        size_t n = strcspn(list, ",");
        unsigned bit = type_bit(list, n);
        if (!bit)
            return error_set(err, "type: '%.*s' is not an event type (lifecycle, operation)",
                             (int)(n > 40 ? 40 : n), list);
        f->types |= bit;
        list += n + (list[n] == ',');
    }
    return 0;
}

static bool wants(const MgmtEventsFilter *f, unsigned bit)
{
    return f->types == 0 || (f->types & bit);
}

/* The event without its id and time: {"type": ..., "metadata": ...} as text, or NULL. */
static char *event_body(const char *type, const char *resource, uid_t uid, json_t *metadata)
{
    json_t *j = json_pack("{s:s, s:s, s:I, s:o}", "type", type, "resource", resource, "uid",
                          uid == (uid_t)-1 ? (json_int_t)-1 : (json_int_t)uid, "metadata",
                          metadata ? metadata : json_object());
    char *text = j ? json_dumps(j, JSON_COMPACT) : NULL;
    json_decref(j);
    return text;
}

/* Keep and hand out the event whose text lacks id and time (the lock held). */
static void publish(MgmtEvents *ev, unsigned bit, const char *body)
{
    char when[40];
    clock_text(clock_real_s(), when, sizeof(when));
    uint64_t id = ev->last_id + 1;
    size_t size = strlen(body) + 80;
    char *text = malloc(size);
    if (!text) {
        log_warn("events: out of memory: an event is lost");
        return;
    }
    int len = snprintf(text, size, "{\"id\":%" PRIu64 ",\"time\":\"%s\",%s", id, when, body + 1);
    ev->last_id = id;
    Kept *k = &ev->ring[id % ev->keep];
    free(k->text);
    *k = (Kept){.id = id, .type_bit = bit, .text = text, .len = (size_t)len};
    for (MgmtEventsSub *s = ev->subs; s; s = s->next)
        if (wants(&s->filter, bit))
            s->fn(s->opaque, text, (size_t)len);
}

void mgmt_events_emit(MgmtEvents *ev, const char *type, const char *resource, uid_t uid,
                      json_t *metadata)
{
    char *body = event_body(type, resource, uid, metadata);
    if (!body) {
        log_warn("events: cannot make a %s event for %s: lost", type, resource);
        return;
    }
    unsigned bit = type_bit(type, strlen(type));
    pthread_mutex_lock(&ev->lock);
    publish(ev, bit, body);
    pthread_mutex_unlock(&ev->lock);
    free(body);
}

/* The kept event with id, or NULL if it is no longer (or not yet) kept. */
static const Kept *kept(const MgmtEvents *ev, uint64_t id)
{
    const Kept *k = &ev->ring[id % ev->keep];
    return k->text && k->id == id ? k : NULL;
}

/* The first id still kept after since. */
static uint64_t first_after(const MgmtEvents *ev, uint64_t since)
{
    uint64_t oldest = ev->last_id >= ev->keep ? ev->last_id - ev->keep + 1 : 1;
    return since + 1 > oldest ? since + 1 : oldest;
}

MgmtEventsSub *mgmt_events_subscribe(MgmtEvents *ev, const MgmtEventsFilter *f, bool replay,
                                     uint64_t since, MgmtEventsFn *fn, void *opaque, Error *err)
{
    MgmtEventsSub *s = calloc(1, sizeof(*s));
    if (!s) {
        error_set(err, "out of memory");
        return NULL;
    }
    *s = (MgmtEventsSub){.filter = *f, .fn = fn, .opaque = opaque};
    pthread_mutex_lock(&ev->lock);
    for (uint64_t id = first_after(ev, since); replay && id <= ev->last_id; id++) {
        const Kept *k = kept(ev, id);
        if (k && wants(f, k->type_bit))
            fn(opaque, k->text, k->len);
    }
    s->next = ev->subs;
    if (ev->subs)
        ev->subs->prev = s;
    ev->subs = s;
    pthread_mutex_unlock(&ev->lock);
    return s;
}

void mgmt_events_unsubscribe(MgmtEvents *ev, MgmtEventsSub *s)
{
    if (!s)
        return;
    pthread_mutex_lock(&ev->lock);
    if (s->prev)
        s->prev->next = s->next;
    else
        ev->subs = s->next;
    if (s->next)
        s->next->prev = s->prev;
    pthread_mutex_unlock(&ev->lock);
    free(s);
}

char *mgmt_events_list(MgmtEvents *ev, const MgmtEventsFilter *f, uint64_t since)
{
    pthread_mutex_lock(&ev->lock);
    size_t size = 3;
    for (uint64_t id = first_after(ev, since); id <= ev->last_id; id++)
        size += kept(ev, id) ? kept(ev, id)->len + 1 : 0;
    char *text = malloc(size);
    size_t n = 0;
    if (text) {
        text[n++] = '[';
        for (uint64_t id = first_after(ev, since); id <= ev->last_id; id++) {
            const Kept *k = kept(ev, id);
            if (!k || !wants(f, k->type_bit))
                continue;
            if (n > 1)
                text[n++] = ',';
            memcpy(text + n, k->text, k->len);
            n += k->len;
        }
        text[n++] = ']';
        text[n] = '\0';
    }
    pthread_mutex_unlock(&ev->lock);
    return text;
}

uint64_t mgmt_events_last_id(MgmtEvents *ev)
{
    pthread_mutex_lock(&ev->lock);
    uint64_t id = ev->last_id;
    pthread_mutex_unlock(&ev->lock);
    return id;
}
