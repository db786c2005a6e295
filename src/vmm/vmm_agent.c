/*
 * The guest agent in the VMM (docs/agent.md): the client (agent.c) on the
 * machine's agent port, the control socket's agent-* commands (each a
 * deferred reply: the guest answers later), and the quiesced live
 * snapshot: file systems frozen through the agent around the pause, thawed
 * at once after it.
 */
#include <stdlib.h>
#include <string.h>

#include "control/control.h"
#include "util/log.h"
#include "vmm/agent.h"
#include "vmm/vmm_int.h"

#define AGENT_FREEZE_TIMEOUT_MS 10000 /* fsfreeze flushes every file system first */

/* ---- the client on the machine's port ---- */

static size_t agent_port_send(void *opaque, const uint8_t *buf, size_t len)
{
    return machine_agent_send(opaque, buf, len);
}

static bool agent_port_connected(void *opaque)
{
    return machine_agent_open(opaque);
}

static void agent_port_rx(void *opaque, const uint8_t *buf, size_t len)
{
    agent_input(opaque, buf, len);
}

static void agent_port_writable(void *opaque)
{
    agent_writable(opaque);
}

int vmm_agent_open(Vmm *v, Error *err)
{
    if (vmconfig_slot_of(machine_config(v->m), VM_DEV_CONSOLE, 0) < 0)
        return 0; /* no virtio-console: no agent port */
    AgentIo io = {.send = agent_port_send, .connected = agent_port_connected, .opaque = v->m};
    if (!(v->agent = agent_new(v->loop, &io, err)))
        return -1;
    MachineAgentSink s = {.rx = agent_port_rx, .writable = agent_port_writable, .opaque = v->agent};
    machine_set_agent_sink(v->m, &s);
    return 0;
}

void vmm_agent_close(Vmm *v)
{
    if (!v->agent)
        return;
    machine_set_agent_sink(v->m, NULL);
    v->agent_closing = true;
    agent_free(v->agent); /* fails the calls still waiting: their replies go out */
    v->agent = NULL;
}

int vmm_agent_call(Vmm *v, const char *command, json_t *args, const AgentCallOpts *o,
                   AgentDone done, void *opaque, Error *err)
{
    if (!v->agent) {
        json_decref(args);
        return error_set(err, "%s: the VM has no virtio-console, so no guest agent port", command);
    }
    return agent_call(v->agent, command, args, o, done, opaque, err);
}

/* ---- the control socket's commands ---- */

/* How an agent-* command maps onto the agent's. */
typedef struct AgentCmd {
    const char *command; /* the guest agent's */
    const char *member;  /* the reply wraps the agent's return value in this; NULL: as is */
    unsigned timeout_ms; /* 0 = AGENT_TIMEOUT_MS */
    bool no_reply;       /* guest-shutdown */
} AgentCmd;

/* A deferred reply {member: return} (member NULL: the return value itself, an object). */
typedef struct AgentReply {
    ControlPending *p;
    const char *member;
} AgentReply;

static void agent_reply_done(void *opaque, json_t *ret, const Error *err)
{
    AgentReply *r = opaque;
    json_t *out = NULL;
    Error e = {0};
    if (ret && r->member)
        out = json_pack("{s:O}", r->member, ret);
    else if (ret && json_is_object(ret))
        out = json_incref(ret);
    else if (ret)
        error_set(&e, "the guest agent's reply is not an object");
    control_complete(r->p, out, out ? NULL : err ? err : &e);
    free(r);
}

/* Defer the reply and start c with args (taken).  Returns NULL (the reply comes later). */
static json_t *agent_cmd_run(Vmm *v, const AgentCmd *c, json_t *args, Error *err)
{
    AgentReply *r = calloc(1, sizeof(*r));
    if (!r) {
        json_decref(args);
        error_set(err, "out of memory");
        return NULL;
    }
    r->member = c->member;
    if (!(r->p = control_defer(v->control, err))) {
        json_decref(args);
        free(r);
        return NULL;
    }
    AgentCallOpts o = {.timeout_ms = c->timeout_ms, .no_reply = c->no_reply};
    if (vmm_agent_call(v, c->command, args, &o, agent_reply_done, r, err) < 0) {
        control_complete(r->p, NULL, err);
        free(r);
    }
    return NULL;
}

/* A command without arguments. */
static json_t *agent_cmd_simple(void *opaque, json_t *args, const AgentCmd *c, Error *err)
{
    if (control_args_check(args, NULL, err) < 0)
        return NULL;
    return agent_cmd_run(opaque, c, NULL, err);
}

static json_t *cmd_agent_ping(void *opaque, json_t *args, Error *err)
{
    static const AgentCmd c = {.command = "guest-ping"};
    return agent_cmd_simple(opaque, args, &c, err);
}

static json_t *cmd_agent_info(void *opaque, json_t *args, Error *err)
{
    static const AgentCmd c = {.command = "guest-info"};
    return agent_cmd_simple(opaque, args, &c, err);
}

static json_t *cmd_agent_osinfo(void *opaque, json_t *args, Error *err)
{
    static const AgentCmd c = {.command = "guest-get-osinfo"};
    return agent_cmd_simple(opaque, args, &c, err);
}

static json_t *cmd_agent_interfaces(void *opaque, json_t *args, Error *err)
{
    static const AgentCmd c = {.command = "guest-network-get-interfaces", .member = "interfaces"};
    return agent_cmd_simple(opaque, args, &c, err);
}

static json_t *cmd_agent_fsfreeze(void *opaque, json_t *args, Error *err)
{
    static const AgentCmd c = {.command = "guest-fsfreeze-freeze",
                               .member = "frozen",
                               .timeout_ms = AGENT_FREEZE_TIMEOUT_MS};
    return agent_cmd_simple(opaque, args, &c, err);
}

static json_t *cmd_agent_fsthaw(void *opaque, json_t *args, Error *err)
{
    static const AgentCmd c = {.command = "guest-fsfreeze-thaw",
                               .member = "thawed",
                               .timeout_ms = AGENT_FREEZE_TIMEOUT_MS};
    return agent_cmd_simple(opaque, args, &c, err);
}

static json_t *cmd_agent_fsfreeze_status(void *opaque, json_t *args, Error *err)
{
    static const AgentCmd c = {.command = "guest-fsfreeze-status", .member = "status"};
    return agent_cmd_simple(opaque, args, &c, err);
}

/* {"mode": "powerdown" (default), "reboot" or "halt"}: the agent does not answer when it works. */
static json_t *cmd_agent_shutdown(void *opaque, json_t *args, Error *err)
{
    static const char *const allowed[] = {"mode", NULL};
    static const AgentCmd c = {
        .command = "guest-shutdown", .member = NULL, .timeout_ms = 0, .no_reply = true};
    const char *mode = "powerdown";
    if (control_args_check(args, allowed, err) < 0 ||
        (args && json_unpack(args, "{s?s}", "mode", &mode) < 0)) {
        if (!err->msg[0])
            error_set(err, "expected {\"mode\": \"powerdown\", \"reboot\" or \"halt\"}");
        return NULL;
    }
    if (strcmp(mode, "powerdown") != 0 && strcmp(mode, "reboot") != 0 &&
        strcmp(mode, "halt") != 0) {
        error_set(err, "mode '%s': expected powerdown, reboot or halt", mode);
        return NULL;
    }
    return agent_cmd_run(opaque, &c, json_pack("{s:s}", "mode", mode), err);
}

/* base64 of len bytes into out (4 * ceil(len / 3) characters and a NUL). */
static void base64(const uint8_t *in, size_t len, char *out)
{
    static const char abc[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    for (size_t i = 0; i < len; i += 3, out += 4) {
        uint32_t n = (uint32_t)in[i] << 16 | (i + 1 < len ? (uint32_t)in[i + 1] << 8 : 0) |
                     (i + 2 < len ? in[i + 2] : 0);
        out[0] = abc[n >> 18 & 63];
        out[1] = abc[n >> 12 & 63];
        out[2] = i + 1 < len ? abc[n >> 6 & 63] : '=';
        out[3] = i + 2 < len ? abc[n & 63] : '=';
    }
    *out = '\0';
}

/* {"user", "password", "crypted": BOOL}: the password goes to the agent in base64. */
static json_t *cmd_agent_set_password(void *opaque, json_t *args, Error *err)
{
    static const char *const allowed[] = {"user", "password", "crypted", NULL};
    static const AgentCmd c = {.command = "guest-set-user-password"};
    const char *user, *password;
    int crypted = 0;
    if (control_args_check(args, allowed, err) < 0)
        return NULL;
    if (!args ||
        json_unpack(args, "{s:s, s:s, s?b}", "user", &user, "password", &password, "crypted",
                    &crypted) < 0 ||
        !user[0] || strlen(password) > 4096) {
        error_set(err, "expected {\"user\": NAME, \"password\": TEXT (at most 4096 bytes), "
                       "\"crypted\": BOOL (optional)}");
        return NULL;
    }
    size_t len = strlen(password);
    char *b64 = malloc(4 * (len / 3 + 1) + 1);
    if (!b64) {
        error_set(err, "out of memory");
        return NULL;
    }
    base64((const uint8_t *)password, len, b64);
    json_t *a = json_pack("{s:s, s:s, s:b}", "username", user, "password", b64, "crypted", crypted);
    free(b64);
    return agent_cmd_run(opaque, &c, a, err);
}

const ControlCommand vmm_agent_commands[] = {
    {"agent-ping", cmd_agent_ping, "ask the guest agent whether it is there"},
    {"agent-info", cmd_agent_info, "the guest agent's version and commands"},
    {"agent-osinfo", cmd_agent_osinfo, "the guest's operating system (guest-get-osinfo)"},
    {"agent-interfaces", cmd_agent_interfaces,
     "the guest's network interfaces and IP addresses, as the agent reports them"},
    {"agent-shutdown", cmd_agent_shutdown,
     "ask the guest agent to power off {\"mode\": powerdown, reboot or halt}"},
    {"agent-fsfreeze", cmd_agent_fsfreeze, "freeze the guest's file systems (count frozen)"},
    {"agent-fsthaw", cmd_agent_fsthaw, "thaw the guest's file systems (count thawed)"},
    {"agent-fsfreeze-status", cmd_agent_fsfreeze_status, "frozen or thawed"},
    {"agent-set-password", cmd_agent_set_password,
     "set {\"user\"}'s {\"password\"} in the guest (crypted: already hashed)"},
};
const size_t vmm_agent_ncommands = sizeof(vmm_agent_commands) / sizeof(vmm_agent_commands[0]);

/* ---- the quiesced live snapshot ---- */

typedef struct Quiesce {
    Vmm *v;
    char *name;
    VmmDone done;
    void *opaque;
    int refs;      /* the snapshot's completion and the thaw's */
    bool quiesced; /* the freeze worked */
} Quiesce;

static void quiesce_unref(Quiesce *q)
{
    if (--q->refs)
        return;
    free(q->name);
    free(q);
}

static void quiesce_thawed(void *opaque, json_t *ret, const Error *err)
{
    Quiesce *q = opaque;
    if (!ret) {
        log_warn("snapshot '%s': the guest's file systems could not be thawed: %s", q->name,
                 err->msg);
        vmm_event(q->v, "AGENT_THAW_FAILED",
                  json_pack("{s:s, s:s}", "snapshot", q->name, "error", err->msg));
    }
    quiesce_unref(q);
}

static void quiesce_snapshot_done(void *opaque, const VmmResult *r, const Error *err)
{
    Quiesce *q = opaque;
    if (r) {
        VmmResult res = *r;
        res.quiesced = q->quiesced;
        q->done(q->opaque, &res, NULL);
    } else {
        q->done(q->opaque, NULL, err);
    }
    quiesce_unref(q);
}

/* The freeze answered (or failed): take the snapshot, then thaw at once. */
static void quiesce_frozen(void *opaque, json_t *ret, const Error *err)
{
    Quiesce *q = opaque;
    Vmm *v = q->v;
    Error e = {0};
    v->quiescing = false;
    if (v->agent_closing) { /* the VMM is going away: no snapshot now */
        q->done(q->opaque, NULL, err);
        quiesce_unref(q);
        return;
    }
    q->quiesced = ret != NULL;
    if (!ret) {
        log_warn("snapshot '%s': not quiesced: %s", q->name, err->msg);
        vmm_event(v, "AGENT_QUIESCE_FAILED",
                  json_pack("{s:s, s:s}", "snapshot", q->name, "error", err->msg));
    }
    q->refs = 2;
    if (vmm_snapshot_create(v, q->name, quiesce_snapshot_done, q, &e) < 0) {
        q->done(q->opaque, NULL, &e);
        q->refs--;
    }
    AgentCallOpts o = {.timeout_ms = AGENT_FREEZE_TIMEOUT_MS};
    if (!q->quiesced ||
        vmm_agent_call(v, "guest-fsfreeze-thaw", NULL, &o, quiesce_thawed, q, &e) < 0)
        quiesce_unref(q);
}

int vmm_snapshot_create_quiesced(Vmm *v, const char *name, VmmDone done, void *opaque, Error *err)
{
    if (!v->agent || !agent_connected(v->agent) || machine_paused(v->m))
        return vmm_snapshot_create(v, name, done, opaque, err); /* nobody to freeze them */
    if (vmm_busy(v))
        return error_set(err, "a snapshot is in progress: try again when it has finished");
    Quiesce *q = calloc(1, sizeof(*q));
    if (!q || !(q->name = strdup(name))) {
        free(q);
        return error_set(err, "out of memory");
    }
    *q = (Quiesce){.v = v, .name = q->name, .done = done, .opaque = opaque, .refs = 1};
    AgentCallOpts o = {.timeout_ms = AGENT_FREEZE_TIMEOUT_MS};
    if (vmm_agent_call(v, "guest-fsfreeze-freeze", NULL, &o, quiesce_frozen, q, err) < 0) {
        free(q->name);
        free(q);
        return -1;
    }
    v->quiescing = true;
    return 0;
}
