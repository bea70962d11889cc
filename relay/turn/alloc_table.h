/* A worker's allocations reachable by UDP 5-tuple (client address and the
 * listener it came in on). Chained hash keyed with SipHash, because clients
 * choose their addresses; grows by doubling on allocate, never on the relay
 * path. TCP and TLS allocations hang off their connection instead. */
#ifndef TERN_RELAY_ALLOC_TABLE_H
#define TERN_RELAY_ALLOC_TABLE_H

#include <stddef.h>

#include "common/siphash.h"
#include "relay/turn/allocation.h"

struct alloc_table {
	struct siphash_key key;
	struct allocation **buckets;
	size_t n_buckets;               /* power of two */
	size_t count;
};

int alloc_table_init(struct alloc_table *t, size_t initial_buckets);
/* Frees the table, not the allocations. */
void alloc_table_destroy(struct alloc_table *t);
struct allocation *alloc_table_find(const struct alloc_table *t, const struct turn_client *c);
/* -ENOMEM if growing failed (the entry is inserted anyway when possible). */
int alloc_table_insert(struct alloc_table *t, struct allocation *a);
void alloc_table_remove(struct alloc_table *t, struct allocation *a);

#endif
