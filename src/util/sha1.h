/*
 * SHA-1 (FIPS 180-4) over a buffer: what the websocket handshake's accept
 * key is made of (RFC 6455 section 4.2.2).  Not for security: SHA-1 is
 * broken for collisions; the handshake only uses it to prove the server
 * read the request.  Our own (80 lines) rather than GnuTLS's so the base
 * layer and the `hostel` client (whose libcurl links OpenSSL) pull in no
 * TLS library for it.
 */
#ifndef HOSTEL_UTIL_SHA1_H
#define HOSTEL_UTIL_SHA1_H

#include <stddef.h>
#include <stdint.h>

#define SHA1_LEN 20

/* The SHA-1 digest of len bytes at data into out.  Cannot fail. */
void sha1(const void *data, size_t len, uint8_t out[SHA1_LEN]);

#endif
