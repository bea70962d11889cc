/* Unit tests for common/hmac.c: the published HMAC vectors (RFC 2202 for
 * SHA-1, RFC 4231 for SHA-256) including keys longer than a block, inputs
 * split into parts, OpenSSL's own HMAC() as an oracle over random keys and
 * messages, MD5 digests, and two threads hashing at once (each thread owns
 * its context). */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include "common/hmac.h"

static void unhex(const char *hex, uint8_t *out, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		unsigned v = 0;
		assert_int_equal(sscanf(hex + 2 * i, "%2x", &v), 1);
		out[i] = (uint8_t)v;
	}
}

static void check_vector(enum hmac_digest d, const uint8_t *key, size_t klen, const char *msg,
			 const char *want_hex)
{
	size_t want_len = strlen(want_hex) / 2;
	uint8_t want[HMAC_OUT_MAX], got[HMAC_OUT_MAX];
	unhex(want_hex, want, want_len);
	const struct hmac_part part = { msg, strlen(msg) };
	assert_int_equal(hmac_compute(d, key, klen, &part, 1, got), (int)want_len);
	assert_memory_equal(got, want, want_len);
}

static void test_rfc_vectors(void **state)
{
	(void)state;
	uint8_t k0b[20], kaa[131];
	memset(k0b, 0x0b, sizeof(k0b));
	memset(kaa, 0xaa, sizeof(kaa));
	const char *big = "Test Using Larger Than Block-Size Key - Hash Key First";

	check_vector(HMAC_DIGEST_SHA1, k0b, 20, "Hi There",
		     "b617318655057264e28bc0b6fb378c8ef146be00");
	check_vector(HMAC_DIGEST_SHA1, (const uint8_t *)"Jefe", 4, "what do ya want for nothing?",
		     "effcdf6ae5eb2fa2d27416d5f184df9c259a7c79");
	check_vector(HMAC_DIGEST_SHA1, kaa, 80, big, "aa4ae5e15272d00e95705637ce8a3b55ed402112");

	check_vector(HMAC_DIGEST_SHA256, k0b, 20, "Hi There",
		     "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7");
	check_vector(HMAC_DIGEST_SHA256, (const uint8_t *)"Jefe", 4,
		     "what do ya want for nothing?",
		     "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
	check_vector(HMAC_DIGEST_SHA256, kaa, 131, big,
		     "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54");
}

/* Random key lengths 0..200 (around the 64-byte block) and messages split
 * at random points agree with OpenSSL's one-shot HMAC(). */
static void test_matches_openssl(void **state)
{
	(void)state;
	uint8_t key[200], msg[300], got[HMAC_OUT_MAX], want[EVP_MAX_MD_SIZE];
	for (int round = 0; round < 400; round++) {
		uint8_t r[4];
		assert_int_equal(RAND_bytes(r, sizeof(r)), 1);
		size_t klen = r[0] % 201, mlen = (size_t)(r[1] | r[2] << 8) % 301;
		size_t cut = mlen ? r[3] % (mlen + 1) : 0;
		assert_int_equal(RAND_bytes(key, sizeof(key)), 1);
		assert_int_equal(RAND_bytes(msg, sizeof(msg)), 1);
		bool sha256 = round & 1;
		const struct hmac_part parts[] = { { msg, cut }, { msg + cut, mlen - cut } };
		int n = hmac_compute(sha256 ? HMAC_DIGEST_SHA256 : HMAC_DIGEST_SHA1, key, klen,
				     parts, 2, got);
		unsigned int wlen = 0;
		assert_non_null(HMAC(sha256 ? EVP_sha256() : EVP_sha1(), key, (int)klen, msg, mlen,
				     want, &wlen));
		assert_int_equal(n, (int)wlen);
		assert_memory_equal(got, want, wlen);
	}
}

static void test_md5_digest_and_refusals(void **state)
{
	(void)state;
	uint8_t out[HMAC_OUT_MAX], want[16];
	/* RFC 1321 test suite: MD5("abc"), given as "ab" + "c". */
	const struct hmac_part parts[] = { { "ab", 2 }, { "c", 1 } };
	unhex("900150983cd24fb0d6963f7d28e17f72", want, 16);
	assert_int_equal(hmac_digest_parts(HMAC_DIGEST_MD5, parts, 2, out), 16);
	assert_memory_equal(out, want, 16);
	/* HMAC-MD5 is not offered; an unknown digest fails closed. */
	assert_int_equal(hmac_compute(HMAC_DIGEST_MD5, "k", 1, parts, 2, out), -EIO);
	assert_int_equal(hmac_compute((enum hmac_digest)7, "k", 1, parts, 2, out), -EIO);
	assert_int_equal(hmac_digest_parts((enum hmac_digest)7, parts, 2, out), -EIO);
}

static void *hash_many(void *arg)
{
	uintptr_t bad = 0;
	uint8_t key[32], got[HMAC_OUT_MAX], want[EVP_MAX_MD_SIZE];
	memset(key, (int)(uintptr_t)arg, sizeof(key));
	for (int i = 0; i < 2000; i++) {
		char msg[32];
		int len = snprintf(msg, sizeof(msg), "message %d", i);
		const struct hmac_part part = { msg, (size_t)len };
		unsigned int wlen = 0;
		HMAC(EVP_sha256(), key, sizeof(key), (const uint8_t *)msg, (size_t)len, want, &wlen);
		if (hmac_compute(HMAC_DIGEST_SHA256, key, sizeof(key), &part, 1, got) != 32 ||
		    memcmp(got, want, 32) != 0)
			bad++;
	}
	return (void *)bad;
}

static void test_threads_own_contexts(void **state)
{
	(void)state;
	pthread_t t[2];
	for (uintptr_t i = 0; i < 2; i++)
		assert_int_equal(pthread_create(&t[i], NULL, hash_many, (void *)(i + 1)), 0);
	for (int i = 0; i < 2; i++) {
		void *bad = NULL;
		assert_int_equal(pthread_join(t[i], &bad), 0);
		assert_null(bad);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rfc_vectors),
		cmocka_unit_test(test_matches_openssl),
		cmocka_unit_test(test_md5_digest_and_refusals),
		cmocka_unit_test(test_threads_own_contexts),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
