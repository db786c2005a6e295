/*
 * The websocket codec (util/ws.h) and SHA-1 (util/sha1.h): RFC 6455's own
 * examples (the handshake key of section 1.3, the frames of section 5.7),
 * FIPS 180's SHA-1 vectors, fragmented messages, control frames between
 * fragments, byte-by-byte feeding, and each protocol error with its close
 * code.
 */
#include <stdio.h>
#include <string.h>

#include "tap.h"
#include "util/sha1.h"
#include "util/ws.h"

static const uint8_t masked_hello[] = {0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d,
                                       0x7f, 0x9f, 0x4d, 0x51, 0x58};
static const uint8_t mask_5_7[4] = {0x37, 0xfa, 0x21, 0x3d};

static void hex(const uint8_t *d, size_t n, char *out)
{
    for (size_t i = 0; i < n; i++)
        sprintf(out + 2 * i, "%02x", d[i]);
}

static void test_sha1(void)
{
    uint8_t d[SHA1_LEN];
    char h[2 * SHA1_LEN + 1];
    sha1("abc", 3, d);
    hex(d, sizeof(d), h);
    ok(strcmp(h, "a9993e364706816aba3e25717850c26c9cd0d89d") == 0, "sha1(abc)");
    sha1("", 0, d);
    hex(d, sizeof(d), h);
    ok(strcmp(h, "da39a3ee5e6b4b0d3255bfef95601890afd80709") == 0, "sha1 of nothing");
    const char *two = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
    sha1(two, strlen(two), d);
    hex(d, sizeof(d), h);
    ok(strcmp(h, "84983e441c3bd26ebaae4aa1f95129e5e54670f1") == 0, "sha1 over two blocks");
}

static void test_handshake(void)
{
    char accept[WS_ACCEPT_LEN + 1], key[WS_KEY_LEN + 1], key2[WS_KEY_LEN + 1];
    ok(ws_accept_key("dGhlIHNhbXBsZSBub25jZQ==", accept) == 0 &&
           strcmp(accept, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=") == 0,
       "RFC 6455 1.3: the sample nonce's accept key");
    ok(ws_accept_key("dGhlIHNhbXBsZSBub25jZQ", accept) < 0, "a short key is refused");
    ok(ws_accept_key("dGhlIHNhbXBsZSBub25j!Q==", accept) < 0, "a key not in base64 is refused");
    ok(ws_accept_key("", accept) < 0 && ws_accept_key(NULL, accept) < 0, "no key is refused");
    ok(ws_client_key(key, NULL) == 0 && ws_client_key(key2, NULL) == 0 &&
           strlen(key) == WS_KEY_LEN && strcmp(key, key2) != 0 && ws_accept_key(key, accept) == 0,
       "client keys are fresh and valid (%s)", key);
    ok(ws_header_has_token("keep-alive, Upgrade", "upgrade"), "Connection: keep-alive, Upgrade");
    ok(ws_header_has_token("websocket", "websocket"), "Upgrade: websocket");
    ok(!ws_header_has_token("keep-alive, upgrades", "upgrade") &&
           !ws_header_has_token(NULL, "upgrade"),
       "a token is matched whole");
}

static void test_encode(void)
{
    uint8_t h[WS_HEADER_MAX];
    size_t n;
    uint8_t *f = ws_frame_new(WS_OP_TEXT, "Hello", 5, mask_5_7, &n);
    ok(f && n == sizeof(masked_hello) && memcmp(f, masked_hello, n) == 0,
       "5.7: a masked Hello is the RFC's bytes");
    free(f);
    f = ws_frame_new(WS_OP_TEXT, "Hello", 5, NULL, &n);
    ok(f && n == 7 && memcmp(f, "\x81\x05Hello", 7) == 0, "5.7: an unmasked Hello");
    free(f);
    ok(ws_header_encode(h, WS_OP_BINARY, true, 256, NULL) == 4 &&
           memcmp(h, "\x82\x7e\x01\x00", 4) == 0,
       "5.7: 256 bytes take a 16-bit length");
    ok(ws_header_encode(h, WS_OP_BINARY, true, 65536, NULL) == 10 &&
           memcmp(h, "\x82\x7f\x00\x00\x00\x00\x00\x01\x00\x00", 10) == 0,
       "5.7: 64 KiB take a 64-bit length");
    uint8_t p[WS_CONTROL_MAX];
    ok(ws_close_payload(p, 1009, "too big") == 9 && p[0] == 0x03 && p[1] == 0xf1,
       "a close payload starts with its code");
}

/* Feed bytes to a fresh parser (one at a time when trickle) and take one message. */
static int parse_one(WsParser *p, const uint8_t *b, size_t n, bool trickle, WsMessage *m)
{
    int r = 0;
    for (size_t i = 0; i < n; i += trickle ? 1 : n) {
        ws_parser_feed(p, b + i, trickle ? 1 : n, NULL);
        if ((r = ws_parser_next(p, m, NULL)) != 0)
            return r;
    }
    return r;
}

static void test_parse_rfc(void)
{
    WsParser p;
    WsMessage m;
    for (int trickle = 0; trickle < 2; trickle++) {
        ws_parser_init(&p, true, 1024);
        ok(parse_one(&p, masked_hello, sizeof(masked_hello), trickle, &m) == 1 &&
               m.op == WS_OP_TEXT && m.len == 5 && memcmp(m.data, "Hello", 5) == 0,
           "a server reads the masked Hello%s", trickle ? " byte by byte" : "");
        ws_parser_free(&p);
    }
    ws_parser_init(&p, false, 1024);
    static const uint8_t frag[] = {0x01, 0x03, 'H', 'e', 'l', 0x89, 0x00, 0x80, 0x02, 'l', 'o'};
    ok(parse_one(&p, frag, sizeof(frag), false, &m) == 1 && m.op == WS_OP_PING && m.len == 0,
       "a ping between fragments comes out first");
    ok(ws_parser_next(&p, &m, NULL) == 1 && m.op == WS_OP_TEXT && m.len == 5 &&
           memcmp(m.data, "Hello", 5) == 0,
       "5.7: the fragmented Hel+lo is reassembled");
    ok(ws_parser_next(&p, &m, NULL) == 0, "then nothing more");
    ws_parser_free(&p);

    ws_parser_init(&p, true, 1024);
    static const uint8_t pong[] = {0x8a, 0x85, 0x37, 0xfa, 0x21, 0x3d,
                                   0x7f, 0x9f, 0x4d, 0x51, 0x58};
    ok(parse_one(&p, pong, sizeof(pong), false, &m) == 1 && m.op == WS_OP_PONG && m.len == 5 &&
           memcmp(m.data, "Hello", 5) == 0,
       "5.7: the masked pong");
    ws_parser_free(&p);

    ws_parser_init(&p, true, 1024);
    uint8_t close[2 + 4 + 2];
    size_t n;
    uint8_t *f = ws_frame_new(WS_OP_CLOSE, "\x03\xe8", 2, mask_5_7, &n);
    ok(parse_one(&p, f, n, false, &m) == 1 && m.op == WS_OP_CLOSE && m.close_code == 1000,
       "a close frame gives its code");
    free(f);
    (void)close;
    ws_parser_free(&p);
}

/* The close code a server's parser fails with on bytes b, or 0 if it does not fail. */
static unsigned server_error(const uint8_t *b, size_t n, size_t max)
{
    WsParser p;
    WsMessage m;
    ws_parser_init(&p, true, max);
    ws_parser_feed(&p, b, n, NULL);
    Error err = {0};
    int r;
    while ((r = ws_parser_next(&p, &m, &err)) == 1)
        ;
    unsigned code = r < 0 ? p.error : 0;
    ws_parser_free(&p);
    return code;
}

static uint8_t *masked(WsOpcode op, bool fin, const void *d, size_t len, size_t *n)
{
    uint8_t *f = malloc(WS_HEADER_MAX + len);
    size_t h = ws_header_encode(f, op, fin, len, mask_5_7);
    memcpy(f + h, d, len);
    ws_mask(f + h, len, mask_5_7, 0);
    *n = h + len;
    return f;
}

static void test_parse_errors(void)
{
    size_t n;
    is_u64(server_error((const uint8_t *)"\x81\x05Hello", 7, 1024), WS_CLOSE_PROTOCOL,
           "an unmasked client frame is 1002");
    uint8_t *f = masked(WS_OP_BINARY, true, "0123456789", 10, &n);
    is_u64(server_error(f, n, 9), WS_CLOSE_TOO_BIG, "a frame over the cap is 1009");
    is_u64(server_error(f, 6, 9), WS_CLOSE_TOO_BIG, "... known from its header alone");
    is_u64(server_error(f, n, 10), 0, "a frame at the cap is fine");
    free(f);
    uint8_t two[64];
    f = masked(WS_OP_BINARY, false, "012345", 6, &n);
    memcpy(two, f, n);
    free(f);
    size_t n2;
    f = masked(WS_OP_CONT, true, "6789", 4, &n2);
    memcpy(two + n, f, n2);
    free(f);
    is_u64(server_error(two, n + n2, 9), WS_CLOSE_TOO_BIG,
           "a message over the cap in fragments is 1009");
    is_u64(server_error(two, n + n2, 10), 0, "... and at the cap is fine");
    f = masked(WS_OP_CONT, true, "x", 1, &n);
    is_u64(server_error(f, n, 100), WS_CLOSE_PROTOCOL, "a continuation out of the blue is 1002");
    free(f);
    f = masked((WsOpcode)0x3, true, "x", 1, &n);
    is_u64(server_error(f, n, 100), WS_CLOSE_PROTOCOL, "an unknown opcode is 1002");
    f[0] |= 0x40;
    is_u64(server_error(f, n, 100), WS_CLOSE_PROTOCOL, "a reserved bit is 1002");
    free(f);
    f = masked(WS_OP_PING, false, "x", 1, &n);
    is_u64(server_error(f, n, 100), WS_CLOSE_PROTOCOL, "a fragmented ping is 1002");
    free(f);
    uint8_t big[126] = {0};
    f = masked(WS_OP_PING, true, big, sizeof(big), &n);
    is_u64(server_error(f, n, 1000), WS_CLOSE_PROTOCOL, "a ping of 126 bytes is 1002");
    free(f);
    f = masked(WS_OP_TEXT, true, "\xc0\xaf", 2, &n);
    is_u64(server_error(f, n, 100), WS_CLOSE_INVALID_DATA, "an overlong UTF-8 text is 1007");
    free(f);
    f = masked(WS_OP_CLOSE, true, "\x03\xed", 2, &n); /* 1005 may not be sent */
    is_u64(server_error(f, n, 100), WS_CLOSE_PROTOCOL, "a close with code 1005 is 1002");
    free(f);
    f = masked(WS_OP_TEXT, false, "a", 1, &n);
    memcpy(two, f, n);
    free(f);
    f = masked(WS_OP_TEXT, true, "b", 1, &n2);
    memcpy(two + n, f, n2);
    free(f);
    is_u64(server_error(two, n + n2, 100), WS_CLOSE_PROTOCOL,
           "a new message inside a fragmented one is 1002");

    WsParser p;
    WsMessage m;
    ws_parser_init(&p, false, 100);
    ws_parser_feed(&p, masked_hello, sizeof(masked_hello), NULL);
    ok(ws_parser_next(&p, &m, NULL) < 0 && p.error == WS_CLOSE_PROTOCOL,
       "a client refuses a masked server frame");
    ok(ws_parser_next(&p, &m, NULL) < 0, "a failed parser stays failed");
    ws_parser_free(&p);
}

static void test_utf8(void)
{
    ok(ws_utf8_valid((const uint8_t *)"h\xc3\xa9llo \xe2\x82\xac \xf0\x9f\x98\x80", 15),
       "UTF-8 of 1 to 4 bytes is valid");
    ok(!ws_utf8_valid((const uint8_t *)"\xed\xa0\x80", 3), "a surrogate is not");
    ok(!ws_utf8_valid((const uint8_t *)"\xf4\x90\x80\x80", 4), "past U+10FFFF is not");
    ok(!ws_utf8_valid((const uint8_t *)"\xe2\x82", 2), "a cut sequence is not");
}

int main(void)
{
    test_sha1();
    test_handshake();
    test_encode();
    test_parse_rfc();
    test_parse_errors();
    test_utf8();
    return tap_done();
}
