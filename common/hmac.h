/* HMAC and plain digests through per-thread reusable OpenSSL contexts.
 *
 * OpenSSL 3's one-shot HMAC() and a fresh EVP_MAC_CTX per call spend most
 * of their time fetching the algorithm from the provider, allocating
 * contexts and taking locks: about 27,000 instructions for a 100-byte
 * HMAC-SHA1, several times the hashing itself. Every STUN request and
 * answer needs one or two, so the algorithms are fetched once per process
 * and each thread keeps its own contexts, re-keyed per call. */
#ifndef TERN_COMMON_HMAC_H
#define TERN_COMMON_HMAC_H

#include <stddef.h>
#include <stdint.h>

enum hmac_digest { HMAC_DIGEST_SHA1, HMAC_DIGEST_SHA256, HMAC_DIGEST_MD5 };

#define HMAC_OUT_MAX 32

struct hmac_part {
	const void *p;
	size_t n;
};

/* HMAC(key, parts[0] || ... || parts[n-1]) with MD5 not allowed. Writes
 * the digest's length of bytes to out and returns that length, or -EIO
 * when libcrypto fails (out of memory). */
int hmac_compute(enum hmac_digest d, const void *key, size_t key_len,
		 const struct hmac_part *parts, size_t n, uint8_t out[HMAC_OUT_MAX]);

/* H(parts...), same conventions (MD5 allowed: STUN long-term keys). */
int hmac_digest_parts(enum hmac_digest d, const struct hmac_part *parts, size_t n,
		      uint8_t out[HMAC_OUT_MAX]);

#endif
