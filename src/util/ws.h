/*
 * The websocket protocol (RFC 6455) as pure functions over buffers: frame
 * headers written, frames parsed and messages reassembled, the opening
 * handshake's keys.  No I/O: the daemon's stream hub (src/mgmt/hub.c) and
 * the client (tools/mgmt_ws.c) feed it the bytes they read and write the
 * bytes it makes.
 *
 * A parser is either a server's (every frame it receives must be masked)
 * or a client's (none may be).  A frame or a reassembled message larger
 * than the parser's cap is an error with close code 1009; every other
 * breach of the protocol is 1002, and a text message that is not UTF-8 is
 * 1007.  After an error the parser stays failed: the caller sends a close
 * frame with the code and drops the connection.
 */
#ifndef HOSTEL_UTIL_WS_H
#define HOSTEL_UTIL_WS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/error.h"

typedef enum WsOpcode {
    WS_OP_CONT = 0x0,
    WS_OP_TEXT = 0x1,
    WS_OP_BINARY = 0x2,
    WS_OP_CLOSE = 0x8,
    WS_OP_PING = 0x9,
    WS_OP_PONG = 0xa,
} WsOpcode;

/* Close codes (RFC 6455 section 7.4.1). */
enum {
    WS_CLOSE_NORMAL = 1000,
    WS_CLOSE_GOING_AWAY = 1001,
    WS_CLOSE_PROTOCOL = 1002,
    WS_CLOSE_UNSUPPORTED = 1003,
    WS_CLOSE_NO_STATUS = 1005, /* a close frame without a code (never sent) */
    WS_CLOSE_INVALID_DATA = 1007,
    WS_CLOSE_POLICY = 1008,
    WS_CLOSE_TOO_BIG = 1009,
    WS_CLOSE_INTERNAL = 1011,
};

#define WS_HEADER_MAX 14   /* the longest frame header: 2 + 8 (length) + 4 (mask) */
#define WS_CONTROL_MAX 125 /* a control frame's payload */
#define WS_KEY_LEN 24      /* Sec-WebSocket-Key: base64 of 16 bytes */
#define WS_ACCEPT_LEN 28   /* Sec-WebSocket-Accept: base64 of a SHA-1 */

/*
 * Write the header of a frame (fin set unless !fin) carrying len payload
 * bytes into out (WS_HEADER_MAX bytes at least), masked with mask when not
 * NULL.  Returns the header's length.
 */
size_t ws_header_encode(uint8_t *out, WsOpcode op, bool fin, uint64_t len, const uint8_t *mask);

/* XOR len bytes of data with mask, data[0] being byte offset of the payload. */
void ws_mask(uint8_t *data, size_t len, const uint8_t mask[4], size_t offset);

/*
 * A whole frame (header and payload, masked with mask when not NULL) in
 * malloc'd memory, its length in *out_len.  Returns NULL when out of memory.
 */
uint8_t *ws_frame_new(WsOpcode op, const void *payload, size_t len, const uint8_t *mask,
                      size_t *out_len);

/* A close frame's payload (code, then reason cut to fit) into out; returns its length. */
size_t ws_close_payload(uint8_t out[WS_CONTROL_MAX], uint16_t code, const char *reason);

/* One message (or control frame) out of a parser. */
typedef struct WsMessage {
    WsOpcode op; /* TEXT, BINARY, CLOSE, PING or PONG */
    const uint8_t *data;
    size_t len;
    uint16_t close_code; /* CLOSE: the code, or WS_CLOSE_NO_STATUS */
} WsMessage;

typedef struct WsParser {
    bool server;        /* frames received must be masked (a server's) or not (a client's) */
    size_t max_message; /* bytes; more is close 1009 */
    uint8_t *in;        /* received bytes not yet taken */
    size_t in_off, in_len, in_cap;
    uint8_t *msg; /* a fragmented message being reassembled */
    size_t msg_len, msg_cap;
    WsOpcode msg_op; /* its opcode, or WS_OP_CONT when none is under way */
    uint16_t error;  /* the close code of the protocol error met, or 0 */
} WsParser;

/* A parser for a server (server true) or a client, taking messages up to max_message bytes. */
void ws_parser_init(WsParser *p, bool server, size_t max_message);
void ws_parser_free(WsParser *p);

/* Append len received bytes.  Returns 0, or -1 when out of memory. */
int ws_parser_feed(WsParser *p, const void *data, size_t len, Error *err);

/*
 * The next whole message or control frame.  Returns 1 with *m filled (its
 * data valid until the next call), 0 when more bytes are needed, or -1 on
 * a protocol error: p->error holds the close code to send, err says why.
 */
int ws_parser_next(WsParser *p, WsMessage *m, Error *err);

/*
 * The Sec-WebSocket-Accept value for a client's Sec-WebSocket-Key into out
 * (NUL-terminated).  Returns 0, or -1 if key is not base64 of 16 bytes.
 */
int ws_accept_key(const char *key, char out[WS_ACCEPT_LEN + 1]);

/* A fresh random Sec-WebSocket-Key into out.  Returns 0, or -1 (no randomness). */
int ws_client_key(char out[WS_KEY_LEN + 1], Error *err);

/* value (a comma-separated header like "keep-alive, Upgrade") holds token, any case. */
bool ws_header_has_token(const char *value, const char *token);

/* len bytes at s are UTF-8 (no overlong forms, no surrogates, at most U+10FFFF). */
bool ws_utf8_valid(const uint8_t *s, size_t len);

#endif
