/* HMAC and digests over a per-thread reusable digest context (see hmac.h
 * for why). The fetched algorithms are shared and immutable once fetched;
 * each context belongs to the thread that created it and is freed when the
 * thread exits. */
#include "common/hmac.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#define N_DIGESTS 3

static const char *const digest_name[N_DIGESTS] = {
	[HMAC_DIGEST_SHA1] = "SHA1",
	[HMAC_DIGEST_SHA256] = "SHA256",
	[HMAC_DIGEST_MD5] = "MD5",
};

static pthread_once_t fetch_once = PTHREAD_ONCE_INIT;
static pthread_key_t ctx_key;
static bool key_ok;
static EVP_MD *md_alg[N_DIGESTS];

/* A thread's digest context, reused for every hash it computes. */
static void md_ctx_free(void *p)
{
	EVP_MD_CTX_free(p);
}

/* Algorithms stay fetched for the life of the process; a failed fetch
 * leaves NULL and every call with that digest fails closed with -EIO. */
static void fetch_algorithms(void)
{
	key_ok = pthread_key_create(&ctx_key, md_ctx_free) == 0;
	for (int i = 0; i < N_DIGESTS; i++)
		md_alg[i] = EVP_MD_fetch(NULL, digest_name[i], NULL);
}

static EVP_MD_CTX *thread_md_ctx(void)
{
	pthread_once(&fetch_once, fetch_algorithms);
	if (!key_ok)
		return NULL;
	EVP_MD_CTX *ctx = pthread_getspecific(ctx_key);
	if (ctx)
		return ctx;
	ctx = EVP_MD_CTX_new();
	if (ctx && pthread_setspecific(ctx_key, ctx) != 0) {
		EVP_MD_CTX_free(ctx);
		ctx = NULL;
	}
	return ctx;
}

static int digest_into(EVP_MD_CTX *ctx, enum hmac_digest d, const uint8_t *prefix,
		       size_t prefix_len, const struct hmac_part *parts, size_t n,
		       uint8_t out[HMAC_OUT_MAX])
{
	if (!EVP_DigestInit_ex2(ctx, md_alg[d], NULL))
		return -EIO;
	if (prefix_len && !EVP_DigestUpdate(ctx, prefix, prefix_len))
		return -EIO;
	for (size_t i = 0; i < n; i++)
		if (parts[i].n && !EVP_DigestUpdate(ctx, parts[i].p, parts[i].n))
			return -EIO;
	unsigned int len = 0;
	if (!EVP_DigestFinal_ex(ctx, out, &len))
		return -EIO;
	return (int)len;
}

int hmac_digest_parts(enum hmac_digest d, const struct hmac_part *parts, size_t n,
		      uint8_t out[HMAC_OUT_MAX])
{
	if ((unsigned)d >= N_DIGESTS)
		return -EIO;
	EVP_MD_CTX *ctx = thread_md_ctx();
	if (!ctx || !md_alg[d])
		return -EIO;
	return digest_into(ctx, d, NULL, 0, parts, n, out);
}

/* RFC 2104 over the thread's digest context:
 * H((K ^ opad) || H((K ^ ipad) || text)), K hashed first when longer than
 * the block. SHA-1 and SHA-256 both have 64-byte blocks. */
#define HMAC_BLOCK 64

int hmac_compute(enum hmac_digest d, const void *key, size_t key_len,
		 const struct hmac_part *parts, size_t n, uint8_t out[HMAC_OUT_MAX])
{
	if ((unsigned)d >= N_DIGESTS || d == HMAC_DIGEST_MD5)
		return -EIO;
	EVP_MD_CTX *ctx = thread_md_ctx();
	if (!ctx || !md_alg[d])
		return -EIO;

	uint8_t k[HMAC_BLOCK] = { 0 };
	int r = 0;
	if (key_len > HMAC_BLOCK) {
		const struct hmac_part whole = { key, key_len };
		r = digest_into(ctx, d, NULL, 0, &whole, 1, k);
	} else if (key_len) {
		memcpy(k, key, key_len);
	}

	uint8_t pad[HMAC_BLOCK], inner[HMAC_OUT_MAX];
	if (r >= 0) {
		for (int i = 0; i < HMAC_BLOCK; i++)
			pad[i] = k[i] ^ 0x36;
		r = digest_into(ctx, d, pad, HMAC_BLOCK, parts, n, inner);
	}
	if (r >= 0) {
		for (int i = 0; i < HMAC_BLOCK; i++)
			pad[i] = k[i] ^ 0x5c;
		const struct hmac_part in = { inner, (size_t)r };
		r = digest_into(ctx, d, pad, HMAC_BLOCK, &in, 1, out);
	}
	OPENSSL_cleanse(k, sizeof(k));
	OPENSSL_cleanse(pad, sizeof(pad));
	OPENSSL_cleanse(inner, sizeof(inner));
	return r;
}
