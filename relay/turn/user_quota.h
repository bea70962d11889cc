/* How many allocations each user id holds, across all workers, and in
 * total: the limits behind 486 (Allocation Quota Reached) and 508
 * (Insufficient Capacity). Touched on allocate and free only. Keyed with
 * SipHash (attacker-chosen user ids) and bounded by the total allocation cap,
 * since every entry stands for at least one live allocation. */
#ifndef TERN_RELAY_USER_QUOTA_H
#define TERN_RELAY_USER_QUOTA_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include "common/siphash.h"

struct user_quota_entry;

struct user_quota {
	pthread_mutex_t lock;
	struct siphash_key key;
	struct user_quota_entry **buckets;
	size_t n_buckets;
	uint32_t total;
};

int user_quota_init(struct user_quota *q, size_t n_buckets);
void user_quota_destroy(struct user_quota *q);

/* Counts one more allocation for the user: 0, -EDQUOT when the user already
 * has per_user (486), -ENOSPC when the relay already has total (508),
 * -ENOMEM. */
int user_quota_acquire(struct user_quota *q, const char *user_id, size_t len, uint32_t per_user,
		       uint32_t total);
void user_quota_release(struct user_quota *q, const char *user_id, size_t len);
uint32_t user_quota_total(struct user_quota *q);

#endif
