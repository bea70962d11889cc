/* Allocation counts per user id and in total; see user_quota.h. */
#include "relay/turn/user_quota.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

struct user_quota_entry {
	struct user_quota_entry *next;
	uint32_t count;
	size_t len;
	char id[];
};

int user_quota_init(struct user_quota *q, size_t n_buckets)
{
	memset(q, 0, sizeof(*q));
	q->buckets = calloc(n_buckets, sizeof(*q->buckets));
	if (!q->buckets)
		return -ENOMEM;
	q->n_buckets = n_buckets;
	int r = siphash_key_random(&q->key);
	if (r < 0)
		return r;
	return -pthread_mutex_init(&q->lock, NULL);
}

void user_quota_destroy(struct user_quota *q)
{
	if (!q->buckets)
		return;
	for (size_t i = 0; i < q->n_buckets; i++) {
		struct user_quota_entry *e = q->buckets[i];
		while (e) {
			struct user_quota_entry *next = e->next;
			free(e);
			e = next;
		}
	}
	free(q->buckets);
	q->buckets = NULL;
	pthread_mutex_destroy(&q->lock);
}

static struct user_quota_entry **find(struct user_quota *q, const char *id, size_t len)
{
	size_t b = siphash24(&q->key, id, len) % q->n_buckets;
	struct user_quota_entry **pp = &q->buckets[b];
	while (*pp && !((*pp)->len == len && memcmp((*pp)->id, id, len) == 0))
		pp = &(*pp)->next;
	return pp;
}

int user_quota_acquire(struct user_quota *q, const char *user_id, size_t len, uint32_t per_user,
		       uint32_t total)
{
	int r = 0;
	pthread_mutex_lock(&q->lock);
	struct user_quota_entry **pp = find(q, user_id, len);
	if (q->total >= total) {
		r = -ENOSPC;
	} else if (*pp && (*pp)->count >= per_user) {
		r = -EDQUOT;
	} else if (*pp) {
		(*pp)->count++;
	} else {
		struct user_quota_entry *e = malloc(sizeof(*e) + len);
		if (!e) {
			r = -ENOMEM;
		} else {
			e->next = NULL;
			e->count = 1;
			e->len = len;
			memcpy(e->id, user_id, len);
			*pp = e;
		}
	}
	if (r == 0)
		q->total++;
	pthread_mutex_unlock(&q->lock);
	return r;
}

void user_quota_release(struct user_quota *q, const char *user_id, size_t len)
{
	pthread_mutex_lock(&q->lock);
	struct user_quota_entry **pp = find(q, user_id, len);
	if (*pp) {
		q->total--;
		if (--(*pp)->count == 0) {
			struct user_quota_entry *e = *pp;
			*pp = e->next;
			free(e);
		}
	}
	pthread_mutex_unlock(&q->lock);
}

uint32_t user_quota_total(struct user_quota *q)
{
	pthread_mutex_lock(&q->lock);
	uint32_t t = q->total;
	pthread_mutex_unlock(&q->lock);
	return t;
}
