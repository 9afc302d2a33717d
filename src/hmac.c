#include "hmac.h"

#include <limits.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

bool hmac_sha256_hex(const char *key, size_t key_len, const char *msg, size_t msg_len,
	char out[HMAC_SHA256_HEX_LEN + 1])
{
	static const char hex[] = "0123456789abcdef";
	unsigned char mac[EVP_MAX_MD_SIZE];
	unsigned int n = 0;
	if (key_len > (size_t)INT_MAX ||
		!HMAC(EVP_sha256(), key, (int)key_len, (const unsigned char *)msg, msg_len, mac, &n) ||
		n * 2 != HMAC_SHA256_HEX_LEN) {
		out[0] = '\0';
		return false;
	}
	for (unsigned int i = 0; i < n; i++) {
		out[2 * i] = hex[mac[i] >> 4];
		out[2 * i + 1] = hex[mac[i] & 15];
	}
	out[HMAC_SHA256_HEX_LEN] = '\0';
	return true;
}

bool hmac_equal(const void *a, const void *b, size_t n)
{
	return CRYPTO_memcmp(a, b, n) == 0;
}
