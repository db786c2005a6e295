/*
 * The event bus (mgmt/events.h): the ring keeps the last events with
 * increasing ids, a replay after an id is exact, filters by type, an
 * unsubscribed callback is never called again, and events emitted from
 * several threads at once reach a subscriber whole and in id order.
 */
#include <jansson.h>
#include <pthread.h>
#include <string.h>

#include "mgmt/events.h"
#include "tap.h"

#define MAX_SEEN 2000

typedef struct Seen {
    uint64_t id[MAX_SEEN];
    char type[MAX_SEEN][16];
    size_t n;
    bool bad; /* a text that was not a whole event */
} Seen;

static void on_event(void *opaque, const char *text, size_t len)
{
    Seen *s = opaque;
    json_t *j = json_loadb(text, len, 0, NULL);
    const char *type = json_string_value(json_object_get(j, "type"));
    const char *time = json_string_value(json_object_get(j, "time"));
    if (!j || !type || !time || strlen(time) != 24 || time[23] != 'Z' || s->n == MAX_SEEN ||
        !json_is_object(json_object_get(j, "metadata")))
        s->bad = true;
    else {
        s->id[s->n] = (uint64_t)json_integer_value(json_object_get(j, "id"));
        snprintf(s->type[s->n++], 16, "%s", type);
    }
    json_decref(j);
}

static void emit_n(MgmtEvents *ev, const char *type, int n)
{
    for (int i = 0; i < n; i++)
        mgmt_events_emit(ev, type, "/1.0/vms/vm1", 1000,
                         json_pack("{s:s, s:i}", "action", "vm-updated", "i", i));
}

/* The ids in a list's JSON text, as "3,4,5". */
static void list_ids(const char *text, char *out, size_t size)
{
    json_t *a = json_loads(text, 0, NULL);
    size_t i, n = 0;
    json_t *e;
    out[0] = '\0';
    json_array_foreach(a, i, e) n += (size_t)snprintf(out + n, size - n, "%s%lld", i ? "," : "",
                                                      json_integer_value(json_object_get(e, "id")));
    json_decref(a);
}

static void test_ring_and_list(void)
{
    MgmtEvents *ev;
    MgmtEventsFilter all = {0}, ops;
    char ids[200];
    ok(mgmt_events_new(&ev, 5, NULL) == 0, "a bus keeping 5");
    char *t = mgmt_events_list(ev, &all, 0);
    ok(t && strcmp(t, "[]") == 0, "nothing kept at first");
    free(t);
    emit_n(ev, "lifecycle", 5);
    emit_n(ev, "operation", 2);
    ok(mgmt_events_last_id(ev) == 7, "ids count up from 1");
    t = mgmt_events_list(ev, &all, 0);
    list_ids(t, ids, sizeof(ids));
    ok(strcmp(ids, "3,4,5,6,7") == 0, "the last 5 are kept (%s)", ids);
    free(t);
    t = mgmt_events_list(ev, &all, 5);
    list_ids(t, ids, sizeof(ids));
    ok(strcmp(ids, "6,7") == 0, "since=5 lists those after 5 (%s)", ids);
    free(t);
    mgmt_events_filter_parse("operation", &ops, NULL);
    t = mgmt_events_list(ev, &ops, 0);
    list_ids(t, ids, sizeof(ids));
    ok(strcmp(ids, "6,7") == 0, "type=operation lists the operations (%s)", ids);
    free(t);
    t = mgmt_events_list(ev, &all, 99);
    ok(t && strcmp(t, "[]") == 0, "since a future id lists nothing");
    free(t);
    mgmt_events_free(ev);
}

static void test_filter_parse(void)
{
    MgmtEventsFilter f;
    Error err = {0};
    ok(mgmt_events_filter_parse("lifecycle,operation", &f, NULL) == 0 && f.types == 3, "two types");
    ok(mgmt_events_filter_parse(NULL, &f, NULL) == 0 && f.types == 0, "none means all");
    ok(mgmt_events_filter_parse("lifecycle,bogus", &f, &err) < 0 && strstr(err.msg, "bogus"),
       "an unknown type is named: %s", err.msg);
    ok(mgmt_events_filter_parse("lifecyclex", &f, NULL) < 0, "a type is matched whole");
}

static void test_subscribe(void)
{
    MgmtEvents *ev;
    MgmtEventsFilter all = {0}, life;
    static Seen a, b;
    mgmt_events_new(&ev, 10, NULL);
    emit_n(ev, "lifecycle", 4);
    MgmtEventsSub *sa = mgmt_events_subscribe(ev, &all, true, 2, on_event, &a, NULL);
    mgmt_events_filter_parse("lifecycle", &life, NULL);
    MgmtEventsSub *sb = mgmt_events_subscribe(ev, &life, false, 0, on_event, &b, NULL);
    ok(a.n == 2 && a.id[0] == 3 && a.id[1] == 4, "a replay after 2 hands 3 and 4");
    ok(b.n == 0, "no replay, nothing yet");
    emit_n(ev, "operation", 1);
    emit_n(ev, "lifecycle", 1);
    ok(a.n == 4 && a.id[2] == 5 && a.id[3] == 6 && !a.bad, "then the new ones, in order");
    ok(b.n == 1 && b.id[0] == 6 && strcmp(b.type[0], "lifecycle") == 0,
       "a lifecycle subscriber misses the operation");
    mgmt_events_unsubscribe(ev, sa);
    emit_n(ev, "lifecycle", 1);
    ok(a.n == 4 && b.n == 2, "an unsubscribed callback is not called");
    mgmt_events_unsubscribe(ev, sb);
    mgmt_events_free(ev);
}

static void *emitter(void *opaque)
{
    emit_n(opaque, "lifecycle", 250);
    return NULL;
}

static void test_threads(void)
{
    MgmtEvents *ev;
    MgmtEventsFilter all = {0};
    static Seen s;
    pthread_t t[4];
    mgmt_events_new(&ev, MGMT_EVENTS_KEEP, NULL);
    MgmtEventsSub *sub = mgmt_events_subscribe(ev, &all, true, 0, on_event, &s, NULL);
    for (int i = 0; i < 4; i++)
        pthread_create(&t[i], NULL, emitter, ev);
    for (int i = 0; i < 4; i++)
        pthread_join(t[i], NULL);
    bool in_order = true;
    for (size_t i = 0; i < s.n; i++)
        in_order &= s.id[i] == i + 1;
    ok(s.n == 1000 && in_order && !s.bad, "4 threads x 250 events: all seen, whole, in id order");
    mgmt_events_unsubscribe(ev, sub);
    char *text = mgmt_events_list(ev, &all, 0);
    json_t *a = json_loads(text, 0, NULL);
    ok(json_array_size(a) == MGMT_EVENTS_KEEP, "the ring holds %d", MGMT_EVENTS_KEEP);
    json_decref(a);
    free(text);
    mgmt_events_free(ev);
}

int main(void)
{
    test_ring_and_list();
    test_filter_parse();
    test_subscribe();
    test_threads();
    return tap_done();
}
