/* UDP allocations by 5-tuple; see alloc_table.h. */
#include "relay/turn/alloc_table.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* The hashed key: listener index, family, port and address bytes. */
static uint64_t tuple_hash(const struct siphash_key *k, const struct turn_client *c)
{
	uint8_t key[4 + 2 + 2 + 16] = { 0 };
	size_t len;
	const uint8_t *ip = sockaddr_ip_bytes(&c->addr, &len);
	uint32_t l = (uint32_t)c->listener;
	uint16_t port = sockaddr_port(&c->addr), fam = c->addr.ss_family;
	memcpy(key, &l, 4);
	memcpy(key + 4, &fam, 2);
	memcpy(key + 6, &port, 2);
	memcpy(key + 8, ip, len);
	return siphash24(k, key, 8 + len);
}

static bool tuple_equal(const struct turn_client *a, const struct turn_client *b)
{
	return a->listener == b->listener && sockaddr_equal(&a->addr, &b->addr);
}

int alloc_table_init(struct alloc_table *t, size_t initial_buckets)
{
	size_t n = 16;
	while (n < initial_buckets)
		n <<= 1;
	memset(t, 0, sizeof(*t));
	t->buckets = calloc(n, sizeof(*t->buckets));
	if (!t->buckets)
		return -ENOMEM;
	t->n_buckets = n;
	return siphash_key_random(&t->key);
}

void alloc_table_destroy(struct alloc_table *t)
{
	free(t->buckets);
	t->buckets = NULL;
	t->n_buckets = t->count = 0;
}

struct allocation *alloc_table_find(const struct alloc_table *t, const struct turn_client *c)
{
	if (!t->count)
		return NULL;
	size_t b = tuple_hash(&t->key, c) & (t->n_buckets - 1);
	for (struct allocation *a = t->buckets[b]; a; a = a->next)
		if (tuple_equal(&a->client, c))
			return a;
	return NULL;
}

static void grow(struct alloc_table *t)
{
	size_t n = t->n_buckets * 2;
	struct allocation **nb = calloc(n, sizeof(*nb));
	if (!nb)
		return; /* longer chains, still correct */
	for (size_t i = 0; i < t->n_buckets; i++) {
		struct allocation *a = t->buckets[i];
		while (a) {
			struct allocation *next = a->next;
			size_t b = tuple_hash(&t->key, &a->client) & (n - 1);
			a->next = nb[b];
			nb[b] = a;
			a = next;
		}
	}
	free(t->buckets);
	t->buckets = nb;
	t->n_buckets = n;
}

int alloc_table_insert(struct alloc_table *t, struct allocation *a)
{
	if (t->count + 1 > t->n_buckets - t->n_buckets / 4)
		grow(t);
	size_t b = tuple_hash(&t->key, &a->client) & (t->n_buckets - 1);
	a->next = t->buckets[b];
	t->buckets[b] = a;
	t->count++;
	return 0;
}

void alloc_table_remove(struct alloc_table *t, struct allocation *a)
{
	size_t b = tuple_hash(&t->key, &a->client) & (t->n_buckets - 1);
	for (struct allocation **pp = &t->buckets[b]; *pp; pp = &(*pp)->next) {
		if (*pp == a) {
			*pp = a->next;
			a->next = NULL;
			t->count--;
			return;
		}
	}
}
