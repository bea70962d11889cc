/* Unit tests for relay/turn/alloc_table.c: the UDP 5-tuple index. Lookups
 * by address, port and listener; growth by doubling with every entry still
 * reachable; removal from the head, middle and tail of a chain (found by
 * watching where entries land, so the test holds for any random key). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "relay/turn/alloc_table.h"

static struct allocation *make(const char *addr, int listener)
{
	struct allocation *a = allocation_new(1, 1, 16);
	assert_non_null(a);
	a->client.transport = TURN_UDP;
	a->client.listener = listener;
	assert_int_equal(sockaddr_parse(addr, false, &a->client.addr), 0);
	return a;
}

/* A client tuple for lookups, built apart from any allocation. */
static struct turn_client tuple(const char *addr, int listener)
{
	struct turn_client c;
	memset(&c, 0, sizeof(c));
	c.listener = listener;
	assert_int_equal(sockaddr_parse(addr, false, &c.addr), 0);
	return c;
}

/* An IPv4 client numbered i: distinct addresses and ports. */
static struct allocation *make_nth(size_t i)
{
	struct allocation *a = allocation_new(1, 1, 16);
	assert_non_null(a);
	uint8_t ip[4] = { 203, 0, (uint8_t)(i >> 8), (uint8_t)i };
	sockaddr_from_bytes(&a->client.addr, AF_INET, ip, (uint16_t)(1024 + i % 7));
	return a;
}

static size_t bucket_of(const struct alloc_table *t, const struct allocation *a)
{
	for (size_t b = 0; b < t->n_buckets; b++)
		for (const struct allocation *x = t->buckets[b]; x; x = x->next)
			if (x == a)
				return b;
	fail_msg("allocation not in any bucket");
	return 0;
}

static size_t chain_len(const struct alloc_table *t, size_t b)
{
	size_t n = 0;
	for (const struct allocation *x = t->buckets[b]; x; x = x->next)
		n++;
	return n;
}

static void test_empty(void **state)
{
	(void)state;
	struct alloc_table t;
	assert_int_equal(alloc_table_init(&t, 1), 0);
	assert_int_equal(t.n_buckets, 16);
	assert_int_equal(t.count, 0);
	struct turn_client c = tuple("1.2.3.4:5", 0);
	assert_null(alloc_table_find(&t, &c));
	alloc_table_destroy(&t);
	assert_null(t.buckets);
	/* Destroying twice is harmless. */
	alloc_table_destroy(&t);

	assert_int_equal(alloc_table_init(&t, 1000), 0);
	assert_int_equal(t.n_buckets, 1024);
	alloc_table_destroy(&t);
}

static void test_insert_find_remove(void **state)
{
	(void)state;
	struct alloc_table t;
	assert_int_equal(alloc_table_init(&t, 16), 0);
	struct allocation *a = make("203.0.113.5:40000", 0);
	assert_int_equal(alloc_table_insert(&t, a), 0);
	assert_int_equal(t.count, 1);
	struct turn_client c = tuple("203.0.113.5:40000", 0);
	assert_ptr_equal(alloc_table_find(&t, &c), a);
	alloc_table_remove(&t, a);
	assert_int_equal(t.count, 0);
	assert_null(alloc_table_find(&t, &c));
	assert_null(a->next);
	/* Removing what is not there changes nothing. */
	alloc_table_remove(&t, a);
	assert_int_equal(t.count, 0);
	/* And it can come back. */
	assert_int_equal(alloc_table_insert(&t, a), 0);
	assert_ptr_equal(alloc_table_find(&t, &c), a);
	alloc_table_remove(&t, a);
	allocation_free(a);
	alloc_table_destroy(&t);
}

static void test_tuple_parts_distinguish(void **state)
{
	(void)state;
	struct alloc_table t;
	assert_int_equal(alloc_table_init(&t, 16), 0);
	struct allocation *base = make("203.0.113.5:40000", 0);
	struct allocation *port = make("203.0.113.5:40001", 0);
	struct allocation *lst = make("203.0.113.5:40000", 1);
	struct allocation *ip = make("203.0.113.6:40000", 0);
	struct allocation *v6 = make("[2001:db8::5]:40000", 0);
	struct allocation *mapped = make("[::ffff:203.0.113.5]:40000", 0);
	struct allocation *all[] = { base, port, lst, ip, v6, mapped };
	for (size_t i = 0; i < 6; i++)
		assert_int_equal(alloc_table_insert(&t, all[i]), 0);
	assert_int_equal(t.count, 6);
	for (size_t i = 0; i < 6; i++)
		assert_ptr_equal(alloc_table_find(&t, &all[i]->client), all[i]);

	/* Lookups use only the tuple: transport and conn play no part. */
	struct turn_client c = tuple("203.0.113.5:40000", 1);
	c.transport = TURN_TCP;
	assert_ptr_equal(alloc_table_find(&t, &c), lst);
	struct turn_client none = tuple("203.0.113.5:40000", 2);
	assert_null(alloc_table_find(&t, &none));
	struct turn_client v6other = tuple("[2001:db8::5]:40001", 0);
	assert_null(alloc_table_find(&t, &v6other));

	/* Taking one out leaves its near twins in place. */
	alloc_table_remove(&t, base);
	assert_null(alloc_table_find(&t, &base->client));
	for (size_t i = 1; i < 6; i++)
		assert_ptr_equal(alloc_table_find(&t, &all[i]->client), all[i]);
	for (size_t i = 1; i < 6; i++)
		alloc_table_remove(&t, all[i]);
	assert_int_equal(t.count, 0);
	for (size_t i = 0; i < 6; i++)
		allocation_free(all[i]);
	alloc_table_destroy(&t);
}

static void test_growth(void **state)
{
	(void)state;
	enum { N = 5000 };
	struct alloc_table t;
	assert_int_equal(alloc_table_init(&t, 16), 0);
	struct allocation **a = calloc(N, sizeof(*a));
	assert_non_null(a);
	for (size_t i = 0; i < N; i++) {
		a[i] = make_nth(i);
		assert_int_equal(alloc_table_insert(&t, a[i]), 0);
		/* Load stays at or under 3/4 and buckets a power of two. */
		assert_true(t.count <= t.n_buckets - t.n_buckets / 4);
		assert_int_equal(t.n_buckets & (t.n_buckets - 1), 0);
	}
	assert_int_equal(t.count, N);
	assert_true(t.n_buckets >= 8192);
	size_t chained = 0;
	for (size_t b = 0; b < t.n_buckets; b++)
		chained += chain_len(&t, b);
	assert_int_equal(chained, N);
	for (size_t i = 0; i < N; i++)
		assert_ptr_equal(alloc_table_find(&t, &a[i]->client), a[i]);
	/* Remove every other one; the rest stay reachable. */
	for (size_t i = 0; i < N; i += 2)
		alloc_table_remove(&t, a[i]);
	assert_int_equal(t.count, N / 2);
	for (size_t i = 0; i < N; i++)
		assert_ptr_equal(alloc_table_find(&t, &a[i]->client), i % 2 ? a[i] : NULL);
	for (size_t i = 1; i < N; i += 2)
		alloc_table_remove(&t, a[i]);
	assert_int_equal(t.count, 0);
	for (size_t i = 0; i < N; i++)
		allocation_free(a[i]);
	free(a);
	alloc_table_destroy(&t);
}

/* Builds a chain of three in one bucket without growing the table: insert a
 * candidate, keep it if it landed in the target bucket, else take it out. */
static void build_chain(struct alloc_table *t, struct allocation *kept[3],
			struct allocation **pool, size_t n_pool)
{
	size_t n = 0, target = 0;
	for (size_t i = 0; i < n_pool && n < 3; i++) {
		assert_int_equal(alloc_table_insert(t, pool[i]), 0);
		size_t b = bucket_of(t, pool[i]);
		if (n == 0)
			target = b;
		if (b == target)
			kept[n++] = pool[i];
		else
			alloc_table_remove(t, pool[i]);
	}
	assert_int_equal(n, 3);
	assert_int_equal(t->n_buckets, 16);
	assert_int_equal(chain_len(t, target), 3);
}

static void chain_case(size_t victim)
{
	enum { POOL = 400 };
	struct alloc_table t;
	assert_int_equal(alloc_table_init(&t, 16), 0);
	struct allocation *pool[POOL], *kept[3];
	for (size_t i = 0; i < POOL; i++)
		pool[i] = make_nth(i);
	build_chain(&t, kept, pool, POOL);
	/* Insertion pushes at the head: kept[2] is first, kept[0] last. */
	size_t b = bucket_of(&t, kept[0]);
	assert_ptr_equal(t.buckets[b], kept[2]);
	assert_ptr_equal(t.buckets[b]->next, kept[1]);
	assert_ptr_equal(t.buckets[b]->next->next, kept[0]);

	alloc_table_remove(&t, kept[victim]);
	assert_int_equal(t.count, 2);
	assert_int_equal(chain_len(&t, b), 2);
	for (size_t i = 0; i < 3; i++)
		assert_ptr_equal(alloc_table_find(&t, &kept[i]->client),
				 i == victim ? NULL : kept[i]);
	for (size_t i = 0; i < 3; i++)
		if (i != victim)
			alloc_table_remove(&t, kept[i]);
	assert_int_equal(t.count, 0);
	assert_null(t.buckets[b]);
	for (size_t i = 0; i < POOL; i++)
		allocation_free(pool[i]);
	alloc_table_destroy(&t);
}

static void test_remove_chain_middle(void **state) { (void)state; chain_case(1); }
static void test_remove_chain_head(void **state) { (void)state; chain_case(2); }
static void test_remove_chain_tail(void **state) { (void)state; chain_case(0); }

/* Every table draws its own hash key: no two workers share a layout. */
static void test_keys_differ(void **state)
{
	(void)state;
	struct alloc_table t1, t2;
	assert_int_equal(alloc_table_init(&t1, 16), 0);
	assert_int_equal(alloc_table_init(&t2, 16), 0);
	assert_false(t1.key.k0 == t2.key.k0 && t1.key.k1 == t2.key.k1);
	alloc_table_destroy(&t1);
	alloc_table_destroy(&t2);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_empty),
		cmocka_unit_test(test_insert_find_remove),
		cmocka_unit_test(test_tuple_parts_distinguish),
		cmocka_unit_test(test_growth),
		cmocka_unit_test(test_remove_chain_middle),
		cmocka_unit_test(test_remove_chain_head),
		cmocka_unit_test(test_remove_chain_tail),
		cmocka_unit_test(test_keys_differ),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
