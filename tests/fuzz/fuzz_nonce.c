/* libFuzzer target: nonce_check on a NONCE value a client sends back, with a
 * fixed key, time and client address. Whatever the bytes, the answer is one
 * of valid / stale / invalid, and a nonce made here is always valid. */
#include <assert.h>
#include <errno.h>
#include <string.h>
#include "auth/nonce.h"

int LLVMFuzzerTestOneInput(const uint8_t *d, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *d, size_t size)
{
	static const struct nonce_key k = { .key = "fuzz-nonce-key-0123456789abcdef" };
	struct sockaddr_storage client = { 0 };
	char mine[NONCE_MAX_LEN];
	uint8_t ip[4] = { 192, 0, 2, 1 };
	sockaddr_from_bytes(&client, AF_INET, ip, 3478);
	int r = nonce_check(&k, (const char *)d, size, 1000000, 600, &client);
	assert(r == 0 || r == -ESTALE || r == -EINVAL);
	(void)nonce_has_password_algorithms((const char *)d, size);
	int n = nonce_make(&k, 1000000, &client, mine, sizeof(mine));
	assert(n > 0 && nonce_check(&k, mine, (size_t)n, 1000000, 600, &client) == 0);
	if (r == 0)   /* a valid nonce that is not ours would be a forgery */
		assert((size_t)n == size && memcmp(mine, d, size) == 0);
	return 0;
}
