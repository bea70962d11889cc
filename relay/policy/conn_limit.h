/* Stream connections per source address, across all workers, so one
 * address cannot take every connection slot (TCP/TLS floods). Sources are
 * IPv4 addresses and IPv6 /64 prefixes (one subscriber's allocation). The
 * table has a fixed size: a bucket that is full refuses new sources, which
 * fails closed under a spoofed-source flood instead of growing. Touched on
 * accept and close only, so one mutex is enough. */
#ifndef TERN_RELAY_CONN_LIMIT_H
#define TERN_RELAY_CONN_LIMIT_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "common/siphash.h"
#include "common/sockaddr.h"

#define CONN_LIMIT_BUCKETS 8192    /* power of two */
#define CONN_LIMIT_WAYS    8

struct conn_limit_slot {
	uint8_t key[9];                 /* family byte + 8 address bytes (v4 padded) */
	uint32_t count;                 /* 0 = free */
};

struct conn_limit {
	pthread_mutex_t lock;
	struct siphash_key key;
	uint32_t max_per_source;
	struct conn_limit_slot (*buckets)[CONN_LIMIT_WAYS];
};

int conn_limit_init(struct conn_limit *cl, uint32_t max_per_source);
void conn_limit_destroy(struct conn_limit *cl);
void conn_limit_set_max(struct conn_limit *cl, uint32_t max_per_source);
/* Counts a new connection from src; false when src is at its limit. */
bool conn_limit_acquire(struct conn_limit *cl, const struct sockaddr_storage *src);
void conn_limit_release(struct conn_limit *cl, const struct sockaddr_storage *src);

#endif
