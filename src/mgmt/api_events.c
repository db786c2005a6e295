/*
 * The API's event resource (/1.0/events, docs/api.md "Events"): without
 * an upgrade, the kept events as a JSON array; with a websocket upgrade,
 * a stream (served by the stream hub, mgmt/hub.h) that sends each event
 * as one text message, after replaying the kept ones when since= is given.
 * Query: type=lifecycle,operation (default: all) and since=ID.
 */
#include <stdlib.h>
#include <string.h>

#include "mgmt/api_int.h"

typedef struct EventsQuery {
    MgmtEventsFilter filter;
    bool has_since;
    uint64_t since;
} EventsQuery;

/* since=ID: digits only, at most 19 of them. */
static bool parse_since(const char *v, size_t n, uint64_t *out)
{
    if (n == 0 || n > 19 || strspn(v, "0123456789") < n)
        return false;
    *out = strtoull(v, NULL, 10);
    return true;
}

/* One name=value pair of the query (n bytes at p) into q; false after a 400. */
static bool query_pair(const char *p, size_t n, EventsQuery *q, ApiResponse *r)
{
    char buf[256];
    Error err = {0};
    if (n >= sizeof(buf)) {
        api_error(r, 400, "query: a parameter is too long");
        return false;
    }
    memcpy(buf, p, n);
    buf[n] = '\0';
    if (strncmp(buf, "type=", 5) == 0) {
        if (mgmt_events_filter_parse(buf + 5, &q->filter, &err) == 0)
            return true;
        api_error(r, 400, "%s", err.msg);
        return false;
    }
    if (strncmp(buf, "since=", 6) == 0 && parse_since(buf + 6, n - 6, &q->since)) {
        q->has_since = true;
        return true;
    }
    api_error(r, 400, "query: '%.60s' is not type=TYPE[,TYPE] or since=ID", buf);
    return false;
}

static bool parse_query(const char *query, EventsQuery *q, ApiResponse *r)
{
    memset(q, 0, sizeof(*q));
    while (query && *query) {
        size_t n = strcspn(query, "&");
        if (n && !query_pair(query, n, q, r))
            return false;
        query += n + (query[n] == '&');
    }
    return true;
}

/* ---- the stream ---- */

/* One subscriber's stream: its query, and its subscription once open. */
typedef struct EventsStream {
    MgmtEvents *events;
    EventsQuery query;
    MgmtEventsSub *sub;
    HubConn *conn;
} EventsStream;

static void deliver(void *opaque, const char *text, size_t len)
{
    EventsStream *s = opaque;
    hub_send(s->conn, WS_OP_TEXT, text, len); /* a client that does not read is dropped */
}

static int stream_open(HubConn *c, void *opaque)
{
    EventsStream *s = opaque;
    s->conn = c;
    s->sub = mgmt_events_subscribe(s->events, &s->query.filter, s->query.has_since, s->query.since,
                                   deliver, s, NULL);
    return s->sub ? 0 : -1;
}

static void stream_close(HubConn *c, void *opaque)
{
    EventsStream *s = opaque;
    mgmt_events_unsubscribe(s->events, s->sub);
    free(s);
}

static const HubConnOps events_stream_ops = {
    .on_open = stream_open,
    .on_close = stream_close, /* what a subscriber sends is ignored (pings are answered) */
};

void api_h_events(Api *api, const ApiRequest *req, const ApiArgs *args, ApiResponse *r)
{
    EventsQuery q;
    if (!parse_query(req->query, &q, r))
        return;
    if (!req->websocket) {
        char *text = mgmt_events_list(api->events, &q.filter, q.since);
        if (!text)
            api_error(r, 500, "out of memory");
        else
            api_reply_text(r, 200, text);
        return;
    }
    EventsStream *s = calloc(1, sizeof(*s));
    char *empty = strdup("");
    if (!s || !empty) {
        free(s);
        free(empty);
        api_error(r, 500, "out of memory");
        return;
    }
    if (!api_ws_accept(req, r)) {
        free(s);
        free(empty);
        return;
    }
    *s = (EventsStream){.events = api->events, .query = q};
    api_reply_text(r, 101, empty);
    r->stream = (ApiStream){.ops = &events_stream_ops, .opaque = s, .discard = free};
}
