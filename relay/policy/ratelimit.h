/* Per-source token buckets for unauthenticated answers, in a fixed table
 * that never grows: sources hash (keyed SipHash over the IP address, port
 * ignored; IPv6 by its /64) into a fixed number of buckets, and colliding
 * sources share one. An unauthenticated client therefore costs no memory of
 * its own, and a flood of spoofed sources cannot grow anything. One table per
 * worker thread; not thread-safe. Pure: time is passed in. */
#ifndef TERN_RELAY_RATELIMIT_H
#define TERN_RELAY_RATELIMIT_H

#include <stdbool.h>
#include <stdint.h>

#include "common/siphash.h"
#include "common/sockaddr.h"

#define RATELIMIT_BUCKETS 4096   /* power of two */

struct ratelimit_bucket {
	uint32_t tokens_milli;   /* tokens x 1000 */
	uint32_t last_ms;        /* low 32 bits of the monotonic ms clock */
};

struct ratelimit {
	struct siphash_key key;
	uint32_t rate_per_s;
	uint32_t burst;
	struct ratelimit_bucket buckets[RATELIMIT_BUCKETS];
};

/* rate: tokens per second; burst: bucket depth. Returns 0 or negative errno. */
int ratelimit_init(struct ratelimit *rl, uint32_t rate_per_s, uint32_t burst);
/* Takes one token for this source at now_ms; false when the bucket is empty. */
bool ratelimit_take(struct ratelimit *rl, const struct sockaddr_storage *src, uint64_t now_ms);

/* One bucket for everything: the ceiling on unauthenticated answers a
 * worker sends per second whatever the sources, so a flood spoofing many
 * addresses cannot multiply the per-source allowance. */
struct token_bucket {
	uint32_t rate_per_s, burst;
	uint64_t tokens_milli;
	uint64_t last_ms;
};

void token_bucket_init(struct token_bucket *tb, uint32_t rate_per_s, uint32_t burst);
bool token_bucket_take(struct token_bucket *tb, uint64_t now_ms);

#endif
