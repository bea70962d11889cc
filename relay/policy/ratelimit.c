/* Token buckets for unauthenticated answers (see ratelimit.h). A source is
 * its IPv4 address (/32) or its IPv6 /64 -- one subscriber usually holds a
 * whole /64, so per-address buckets would give them 2^64 of them. An
 * IPv4-mapped IPv6 address (dual-stack socket) counts as its IPv4 address,
 * or every IPv4 client would share ::ffff:0:0/64.
 *
 * Tokens are kept in milli-tokens so that refill is exact integer maths:
 * rate_per_s tokens per second is rate_per_s milli-tokens per millisecond.
 * Times are the low 32 bits of a monotonic ms clock; differences are taken
 * modulo 2^32, which is right across the wrap. A bucket left idle for a
 * multiple of ~49.7 days can look recently used and refill less than it
 * should: harmless, it only answers a little less for a moment. */
#include "relay/policy/ratelimit.h"

#include <errno.h>
#include <string.h>

#define RATELIMIT_MILLI 1000u

_Static_assert((RATELIMIT_BUCKETS & (RATELIMIT_BUCKETS - 1)) == 0,
	       "RATELIMIT_BUCKETS must be a power of two");

int ratelimit_init(struct ratelimit *rl, uint32_t rate_per_s, uint32_t burst)
{
	if (!rl || rate_per_s == 0 || burst == 0)
		return -EINVAL;
	if (burst > UINT32_MAX / RATELIMIT_MILLI)
		return -ERANGE;
	int r = siphash_key_random(&rl->key);
	if (r < 0)
		return r;
	rl->rate_per_s = rate_per_s;
	rl->burst = burst;
	/* Every source starts with a full bucket. */
	for (size_t i = 0; i < RATELIMIT_BUCKETS; i++)
		rl->buckets[i] = (struct ratelimit_bucket){ burst * RATELIMIT_MILLI, 0 };
	return 0;
}

static const uint8_t v4mapped_prefix[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };

/* The hashed key: a family tag then the IPv4 address or the IPv6 /64. */
static int source_key(const struct sockaddr_storage *src, uint8_t key[9], size_t *len)
{
	size_t iplen;
	const uint8_t *ip;

	if (src->ss_family != AF_INET && src->ss_family != AF_INET6)
		return -EAFNOSUPPORT;
	ip = sockaddr_ip_bytes(src, &iplen);
	if (iplen == 16 && memcmp(ip, v4mapped_prefix, sizeof(v4mapped_prefix)) == 0) {
		ip += 12;
		iplen = 4;
	}
	key[0] = iplen == 4 ? 4 : 6;
	*len = iplen == 4 ? 5 : 9;
	memcpy(key + 1, ip, *len - 1);
	return 0;
}

static void refill(const struct ratelimit *rl, struct ratelimit_bucket *b, uint32_t now)
{
	uint32_t elapsed = now - b->last_ms;   /* modulo 2^32: correct across the wrap */
	uint64_t cap = (uint64_t)rl->burst * RATELIMIT_MILLI;
	uint64_t t = b->tokens_milli + (uint64_t)elapsed * rl->rate_per_s;

	b->tokens_milli = (uint32_t)(t < cap ? t : cap);
	b->last_ms = now;
}

bool ratelimit_take(struct ratelimit *rl, const struct sockaddr_storage *src, uint64_t now_ms)
{
	uint8_t key[9];
	size_t len;

	/* An unknown family is nothing we should answer. */
	if (source_key(src, key, &len) < 0)
		return false;
	uint64_t h = siphash24(&rl->key, key, len);
	struct ratelimit_bucket *b = &rl->buckets[h & (RATELIMIT_BUCKETS - 1)];

	refill(rl, b, (uint32_t)now_ms);
	if (b->tokens_milli < RATELIMIT_MILLI)
		return false;
	b->tokens_milli -= RATELIMIT_MILLI;
	return true;
}

void token_bucket_init(struct token_bucket *tb, uint32_t rate_per_s, uint32_t burst)
{
	tb->rate_per_s = rate_per_s;
	tb->burst = burst;
	tb->tokens_milli = (uint64_t)burst * RATELIMIT_MILLI;
	tb->last_ms = 0;
}

bool token_bucket_take(struct token_bucket *tb, uint64_t now_ms)
{
	uint64_t cap = (uint64_t)tb->burst * RATELIMIT_MILLI;
	if (now_ms > tb->last_ms) {
		uint64_t add = (now_ms - tb->last_ms) * tb->rate_per_s;
		tb->tokens_milli = tb->tokens_milli + add > cap ? cap : tb->tokens_milli + add;
		tb->last_ms = now_ms;
	}
	if (tb->tokens_milli < RATELIMIT_MILLI)
		return false;
	tb->tokens_milli -= RATELIMIT_MILLI;
	return true;
}
