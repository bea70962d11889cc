/* Per-source stream connection counts; see conn_limit.h. */
#include "relay/policy/conn_limit.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static void source_key(const struct sockaddr_storage *src, uint8_t key[9])
{
	size_t len;
	const uint8_t *ip = sockaddr_ip_bytes(src, &len);
	memset(key, 0, 9);
	key[0] = src->ss_family == AF_INET6 ? 6 : 4;
	memcpy(key + 1, ip, len == 16 ? 8 : 4); /* IPv6: the /64 */
}

int conn_limit_init(struct conn_limit *cl, uint32_t max_per_source)
{
	memset(cl, 0, sizeof(*cl));
	cl->buckets = calloc(CONN_LIMIT_BUCKETS, sizeof(*cl->buckets));
	if (!cl->buckets)
		return -ENOMEM;
	cl->max_per_source = max_per_source;
	int r = siphash_key_random(&cl->key);
	if (r == 0)
		r = -pthread_mutex_init(&cl->lock, NULL);
	return r;
}

void conn_limit_destroy(struct conn_limit *cl)
{
	if (!cl->buckets)
		return;
	free(cl->buckets);
	cl->buckets = NULL;
	pthread_mutex_destroy(&cl->lock);
}

void conn_limit_set_max(struct conn_limit *cl, uint32_t max_per_source)
{
	pthread_mutex_lock(&cl->lock);
	cl->max_per_source = max_per_source;
	pthread_mutex_unlock(&cl->lock);
}

static struct conn_limit_slot *bucket_of(struct conn_limit *cl, const uint8_t key[9])
{
	return cl->buckets[siphash24(&cl->key, key, 9) & (CONN_LIMIT_BUCKETS - 1)];
}

bool conn_limit_acquire(struct conn_limit *cl, const struct sockaddr_storage *src)
{
	uint8_t key[9];
	source_key(src, key);
	bool ok = false;
	pthread_mutex_lock(&cl->lock);
	struct conn_limit_slot *b = bucket_of(cl, key), *free_slot = NULL;
	for (int i = 0; i < CONN_LIMIT_WAYS; i++) {
		if (b[i].count && memcmp(b[i].key, key, 9) == 0) {
			ok = b[i].count < cl->max_per_source;
			b[i].count += ok;
			goto out;
		}
		if (!b[i].count && !free_slot)
			free_slot = &b[i];
	}
	if (free_slot && cl->max_per_source > 0) {
		memcpy(free_slot->key, key, 9);
		free_slot->count = 1;
		ok = true;
	}
out:
	pthread_mutex_unlock(&cl->lock);
	return ok;
}

void conn_limit_release(struct conn_limit *cl, const struct sockaddr_storage *src)
{
	uint8_t key[9];
	source_key(src, key);
	pthread_mutex_lock(&cl->lock);
	struct conn_limit_slot *b = bucket_of(cl, key);
	for (int i = 0; i < CONN_LIMIT_WAYS; i++) {
		if (b[i].count && memcmp(b[i].key, key, 9) == 0) {
			b[i].count--;
			break;
		}
	}
	pthread_mutex_unlock(&cl->lock);
}
