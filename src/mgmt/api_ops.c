/*
 * The operations resources (/1.0/operations...): list, read, cancel, and
 * wait.  A wait that cannot be answered yet sets the response's wait_s:
 * the HTTP adapter parks the request (no thread is held) and asks again
 * when an operation ends or the time is up.
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mgmt/api_int.h"

#define WAIT_MAX_S 3600

void api_reply_operation(Api *api, const MgmtOpSpec *spec, ApiResponse *r)
{
    char id[MGMT_OP_ID_LEN + 1];
    Error err = {0};
    if (mgmt_ops_start(api->ops, spec, id, &err) < 0) {
        api_error(r, 500, "%s", err.msg);
        return;
    }
    snprintf(r->location, sizeof(r->location), "/" API_VERSION "/operations/%s", id);
    json_t *op = mgmt_ops_get(api->ops, id);
    api_reply_json(r, 202, op ? op : json_pack("{s:s}", "id", id));
}

void api_h_ops_list(Api *api, const ApiRequest *req, const ApiArgs *args, ApiResponse *r)
{
    (void)args;
    const char *q = req->query;
    bool recursion = q && strcmp(q, "recursion=1") == 0;
    if (q && *q && !recursion && strcmp(q, "recursion=0") != 0) {
        api_error(r, 400, "query: '%.60s' is not recursion=0 or recursion=1", q);
        return;
    }
    json_t *list = mgmt_ops_list(api->ops, recursion);
    api_reply_json(r, 200, list ? json_pack("{s:o}", "operations", list) : NULL);
}

static void reply_op(Api *api, const char *id, ApiResponse *r)
{
    json_t *op = mgmt_ops_get(api->ops, id);
    if (!op)
        api_error(r, 404, "no operation %s", id);
    else
        api_reply_json(r, 200, op);
}

void api_h_op_get(Api *api, const ApiRequest *req, const ApiArgs *args, ApiResponse *r)
{
    (void)req;
    reply_op(api, args->arg[0], r);
}

void api_h_op_cancel(Api *api, const ApiRequest *req, const ApiArgs *args, ApiResponse *r)
{
    Error err = {0};
    (void)req;
    int rc = mgmt_ops_cancel(api->ops, args->arg[0], &err);
    if (rc == -1)
        api_error(r, 404, "%s", err.msg);
    else if (rc < 0)
        api_error(r, 409, "%s", err.msg);
    else
        reply_op(api, args->arg[0], r);
}

/* ?timeout=SECONDS (default: as long as WAIT_MAX_S); -1 after a 400. */
static double wait_timeout(const ApiRequest *req, ApiResponse *r)
{
    const char *q = req->query;
    if (!q || !*q)
        return WAIT_MAX_S;
    char *end;
    double t = strncmp(q, "timeout=", 8) == 0 ? strtod(q + 8, &end) : -1;
    if (t < 0 || t > WAIT_MAX_S || strncmp(q, "timeout=", 8) != 0 || *end || end == q + 8) {
        api_error(r, 400, "query: '%.60s' is not timeout=SECONDS (0 to %d)", q, WAIT_MAX_S);
        return -1;
    }
    return t;
}

void api_h_op_wait(Api *api, const ApiRequest *req, const ApiArgs *args, ApiResponse *r)
{
    bool known;
    double t = wait_timeout(req, r);
    if (t < 0)
        return;
    bool done = mgmt_ops_done(api->ops, args->arg[0], &known);
    if (known && !done && !req->wait_over && t > 0) {
        r->wait_s = t;
        return;
    }
    reply_op(api, args->arg[0], r);
}
