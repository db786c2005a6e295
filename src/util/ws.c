/*
 * The websocket protocol (ws.h): frame headers, the parser that
 * reassembles messages, the handshake keys (SHA-1 from util/sha1.c, base64
 * here).
 */
#include "util/ws.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>

#include "util/sha1.h"

static const char ws_guid[] = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/* ---- frames out ---- */

size_t ws_header_encode(uint8_t *out, WsOpcode op, bool fin, uint64_t len, const uint8_t *mask)
{
    size_t n = 2;
    out[0] = (uint8_t)((fin ? 0x80 : 0) | (op & 0x0f));
    uint8_t m = mask ? 0x80 : 0;
    if (len < 126) {
        out[1] = (uint8_t)(m | len);
    } else if (len <= 0xffff) {
        out[1] = m | 126;
        out[2] = (uint8_t)(len >> 8);
        out[3] = (uint8_t)len;
        n = 4;
    } else {
        out[1] = m | 127;
        for (unsigned i = 0; i < 8; i++)
            out[2 + i] = (uint8_t)(len >> (56 - 8 * i));
        n = 10;
    }
    if (mask) {
        memcpy(out + n, mask, 4);
        n += 4;
    }
    return n;
}

void ws_mask(uint8_t *data, size_t len, const uint8_t mask[4], size_t offset)
{
    for (size_t i = 0; i < len; i++)
        data[i] ^= mask[(offset + i) & 3];
}

uint8_t *ws_frame_new(WsOpcode op, const void *payload, size_t len, const uint8_t *mask,
                      size_t *out_len)
{
    uint8_t header[WS_HEADER_MAX];
    size_t h = ws_header_encode(header, op, true, len, mask);
    uint8_t *f = malloc(h + len + 1);
    if (!f)
        return NULL;
    memcpy(f, header, h);
    if (len)
        memcpy(f + h, payload, len);
    if (mask)
        ws_mask(f + h, len, mask, 0);
    *out_len = h + len;
    return f;
}

size_t ws_close_payload(uint8_t out[WS_CONTROL_MAX], uint16_t code, const char *reason)
{
    size_t n = reason ? strlen(reason) : 0;
    if (n > WS_CONTROL_MAX - 2)
        n = WS_CONTROL_MAX - 2;
    out[0] = (uint8_t)(code >> 8);
    out[1] = (uint8_t)code;
    if (n)
        memcpy(out + 2, reason, n);
    return n + 2;
}

/* ---- frames in ---- */

void ws_parser_init(WsParser *p, bool server, size_t max_message)
{
    memset(p, 0, sizeof(*p));
    p->server = server;
    p->max_message = max_message;
    p->msg_op = WS_OP_CONT;
}

void ws_parser_free(WsParser *p)
{
    free(p->in);
    free(p->msg);
    p->in = p->msg = NULL;
    p->in_off = p->in_len = p->in_cap = p->msg_len = p->msg_cap = 0;
}

int ws_parser_feed(WsParser *p, const void *data, size_t len, Error *err)
{
    if (p->in_off) { /* what was taken goes: the buffer holds at most one frame in progress */
        memmove(p->in, p->in + p->in_off, p->in_len - p->in_off);
        p->in_len -= p->in_off;
        p->in_off = 0;
    }
    if (p->in_len + len > p->in_cap) {
        size_t cap = (p->in_len + len) * 2;
        uint8_t *in = realloc(p->in, cap);
        if (!in)
            return error_set(err, "out of memory");
        p->in = in;
        p->in_cap = cap;
    }
    if (len)
        memcpy(p->in + p->in_len, data, len);
    p->in_len += len;
    return 0;
}

static int fail(WsParser *p, uint16_t code, Error *err, const char *why)
{
    p->error = code;
    return error_set(err, "websocket: %s", why);
}

/* A frame's header as read. */
typedef struct FrameHead {
    bool fin;
    WsOpcode op;
    uint64_t len;
    bool masked;
    uint8_t mask[4];
    size_t size; /* the header's bytes */
} FrameHead;

/* The header at buf (avail bytes): 1 when whole, 0 when more is needed. */
static int head_read(const uint8_t *buf, size_t avail, FrameHead *h)
{
    if (avail < 2)
        return 0;
    h->fin = buf[0] & 0x80;
    h->op = (WsOpcode)(buf[0] & 0x0f);
    h->masked = buf[1] & 0x80;
    h->len = buf[1] & 0x7f;
    size_t n = 2;
    if (h->len >= 126) {
        size_t ext = h->len == 126 ? 2 : 8;
        if (avail < n + ext)
            return 0;
        h->len = 0;
        for (size_t i = 0; i < ext; i++)
            h->len = h->len << 8 | buf[n + i];
        n += ext;
    }
    if (h->masked) {
        if (avail < n + 4)
            return 0;
        memcpy(h->mask, buf + n, 4);
        n += 4;
    }
    h->size = n;
    return 1;
}

static bool is_control(WsOpcode op)
{
    return op == WS_OP_CLOSE || op == WS_OP_PING || op == WS_OP_PONG;
}

static bool close_code_valid(unsigned c)
{
    return (c >= 1000 && c <= 1003) || (c >= 1007 && c <= 1011) || (c >= 3000 && c <= 4999);
}

/* A header's checks against the protocol and the state of p: 0, or -1. */
static int head_check(WsParser *p, const uint8_t *buf, const FrameHead *h, Error *err)
{
    if (buf[0] & 0x70)
        return fail(p, WS_CLOSE_PROTOCOL, err, "reserved bits set (no extension was agreed)");
    if (h->masked != p->server)
        return fail(p, WS_CLOSE_PROTOCOL, err,
                    p->server ? "a client's frame is not masked" : "a server's frame is masked");
    if (is_control(h->op)) {
        if (!h->fin || h->len > WS_CONTROL_MAX)
            return fail(p, WS_CLOSE_PROTOCOL, err, "a control frame is fragmented or too long");
        return 0;
    }
    if (h->op != WS_OP_CONT && h->op != WS_OP_TEXT && h->op != WS_OP_BINARY)
        return fail(p, WS_CLOSE_PROTOCOL, err, "unknown opcode");
    if (h->op == WS_OP_CONT && p->msg_op == WS_OP_CONT)
        return fail(p, WS_CLOSE_PROTOCOL, err, "a continuation frame outside a message");
    if (h->op != WS_OP_CONT && p->msg_op != WS_OP_CONT)
        return fail(p, WS_CLOSE_PROTOCOL, err, "a new message inside a fragmented one");
    uint64_t so_far = h->op == WS_OP_CONT ? p->msg_len : 0;
    if (h->len > p->max_message || so_far + h->len > p->max_message)
        return fail(p, WS_CLOSE_TOO_BIG, err, "a message is larger than the limit");
    return 0;
}

/* A control frame's payload as a message (a close's code checked). */
static int control_message(WsParser *p, const FrameHead *h, uint8_t *data, WsMessage *m, Error *err)
{
    *m = (WsMessage){.op = h->op, .data = data, .len = (size_t)h->len};
    if (h->op != WS_OP_CLOSE)
        return 1;
    if (h->len == 0) {
        m->close_code = WS_CLOSE_NO_STATUS;
        return 1;
    }
    m->close_code = (uint16_t)(data[0] << 8 | data[1]);
    if (h->len == 1 || !close_code_valid(m->close_code))
        return fail(p, WS_CLOSE_PROTOCOL, err, "a close frame with a bad code");
    if (!ws_utf8_valid(data + 2, m->len - 2))
        return fail(p, WS_CLOSE_INVALID_DATA, err, "a close reason is not UTF-8");
    return 1;
}

/* Append a fragment to the message under way. */
static int msg_append(WsParser *p, const uint8_t *data, size_t len, Error *err)
{
    if (p->msg_len + len > p->msg_cap) {
        size_t cap = (p->msg_len + len) * 2;
        uint8_t *msg = realloc(p->msg, cap ? cap : 1);
        if (!msg)
            return fail(p, WS_CLOSE_INTERNAL, err, "out of memory");
        p->msg = msg;
        p->msg_cap = cap;
    }
    if (len)
        memcpy(p->msg + p->msg_len, data, len);
    p->msg_len += len;
    return 0;
}

/* A finished data message: its UTF-8 checked when it is text. */
static int data_message(WsParser *p, WsOpcode op, const uint8_t *data, size_t len, WsMessage *m,
                        Error *err)
{
    if (op == WS_OP_TEXT && !ws_utf8_valid(data, len))
        return fail(p, WS_CLOSE_INVALID_DATA, err, "a text message is not UTF-8");
    *m = (WsMessage){.op = op, .data = data, .len = len};
    return 1;
}

/* One whole frame (header h, payload at data, unmasked): a message, or 0 for a fragment. */
static int take_frame(WsParser *p, const FrameHead *h, uint8_t *data, WsMessage *m, Error *err)
{
    size_t len = (size_t)h->len;
    if (is_control(h->op))
        return control_message(p, h, data, m, err);
    if (h->fin && h->op != WS_OP_CONT) /* a message in one frame: no copy */
        return data_message(p, h->op, data, len, m, err);
    if (h->op != WS_OP_CONT) {
        p->msg_op = h->op;
        p->msg_len = 0;
    }
    if (msg_append(p, data, len, err) < 0)
        return -1;
    if (!h->fin)
        return 0;
    WsOpcode op = p->msg_op;
    p->msg_op = WS_OP_CONT;
    return data_message(p, op, p->msg, p->msg_len, m, err);
}

int ws_parser_next(WsParser *p, WsMessage *m, Error *err)
{
    for (;;) {
        if (p->error)
            return error_set(err, "websocket: the connection already failed");
        uint8_t *buf = p->in + p->in_off;
        size_t avail = p->in_len - p->in_off;
        FrameHead h;
        if (!head_read(buf, avail, &h))
            return 0;
        if (head_check(p, buf, &h, err) < 0)
            return -1;
        if (avail - h.size < h.len)
            return 0;
        uint8_t *data = buf + h.size;
        if (h.masked)
            ws_mask(data, (size_t)h.len, h.mask, 0);
        p->in_off += h.size + (size_t)h.len;
        int r = take_frame(p, &h, data, m, err);
        if (r != 0)
            return r;
    }
}

/* ---- the handshake ---- */

/* base64 of len bytes into out (4 * ceil(len / 3) characters and a NUL). */
static void base64(const uint8_t *in, size_t len, char *out)
{
    size_t o = 0;
    for (size_t i = 0; i < len; i += 3) {
        uint32_t v = (uint32_t)in[i] << 16;
        if (i + 1 < len)
            v |= (uint32_t)in[i + 1] << 8;
        if (i + 2 < len)
            v |= in[i + 2];
        out[o++] = b64[v >> 18 & 63];
        out[o++] = b64[v >> 12 & 63];
        out[o++] = i + 1 < len ? b64[v >> 6 & 63] : '=';
        out[o++] = i + 2 < len ? b64[v & 63] : '=';
    }
    out[o] = '\0';
}

/* key is 22 base64 characters and "==" (16 bytes, as RFC 6455 asks). */
static bool key_valid(const char *key)
{
    if (strlen(key) != WS_KEY_LEN || strcmp(key + 22, "==") != 0)
        return false;
    for (int i = 0; i < 22; i++)
        if (!strchr(b64, key[i]) || key[i] == '\0')
            return false;
    return true;
}

int ws_accept_key(const char *key, char out[WS_ACCEPT_LEN + 1])
{
    char text[WS_KEY_LEN + sizeof(ws_guid)];
    uint8_t digest[SHA1_LEN];
    if (!key || !key_valid(key))
        return -1;
    memcpy(text, key, WS_KEY_LEN);
    memcpy(text + WS_KEY_LEN, ws_guid, sizeof(ws_guid));
    sha1(text, WS_KEY_LEN + sizeof(ws_guid) - 1, digest);
    base64(digest, SHA1_LEN, out);
    return 0;
}

int ws_client_key(char out[WS_KEY_LEN + 1], Error *err)
{
    uint8_t nonce[16];
    if (getrandom(nonce, sizeof(nonce), 0) != (ssize_t)sizeof(nonce))
        return error_set_errno(err, errno, "no random bytes for the websocket key");
    base64(nonce, sizeof(nonce), out);
    return 0;
}

bool ws_header_has_token(const char *value, const char *token)
{
    size_t tlen = strlen(token);
    while (value && *value) {
        value += strspn(value, " \t,");
        size_t n = strcspn(value, ",");
        size_t end = n;
        while (end && (value[end - 1] == ' ' || value[end - 1] == '\t'))
            end--;
        if (end == tlen && strncasecmp(value, token, tlen) == 0)
            return true;
        value += n;
    }
    return false;
}

/* The length of the UTF-8 sequence at s (avail bytes), or 0 if it is not one. */
static size_t utf8_seq(const uint8_t *s, size_t avail)
{
    uint8_t c = s[0];
    size_t n = c < 0x80                 ? 1
               : c >= 0xc2 && c <= 0xdf ? 2
               : c >= 0xe0 && c <= 0xef ? 3
               : c >= 0xf0 && c <= 0xf4 ? 4
                                        : 0;
    if (n == 0 || n > avail)
        return 0;
    for (size_t i = 1; i < n; i++)
        if ((s[i] & 0xc0) != 0x80)
            return 0;
    if ((c == 0xe0 && s[1] < 0xa0) || (c == 0xed && s[1] > 0x9f) || /* overlong, surrogate */
        (c == 0xf0 && s[1] < 0x90) || (c == 0xf4 && s[1] > 0x8f))   /* overlong, > U+10FFFF */
        return 0;
    return n;
}

bool ws_utf8_valid(const uint8_t *s, size_t len)
{
    for (size_t i = 0, n; i < len; i += n)
        if ((n = utf8_seq(s + i, len - i)) == 0)
            return false;
    return true;
}
