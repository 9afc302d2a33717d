#ifndef REFTY_LEVER_HMAC_H
#define REFTY_LEVER_HMAC_H

/*
 * HMAC-SHA256 and a constant-time comparison: the only module that knows OpenSSL's libcrypto
 * (which libcurl's TLS links already). It holds no state, never logs and never does I/O.
 */

#include <stdbool.h>
#include <stddef.h>

#define HMAC_SHA256_HEX_LEN 64

/** Writes hex(HMAC-SHA256(key, msg)), lower case, NUL-terminated, into out. */
bool hmac_sha256_hex(const char *key, size_t key_len, const char *msg, size_t msg_len,
	char out[HMAC_SHA256_HEX_LEN + 1]);

/** Whether a and b (n bytes each) are equal, in time that does not depend on where they differ. */
bool hmac_equal(const void *a, const void *b, size_t n);

#endif
