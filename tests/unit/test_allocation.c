/* Unit tests for relay/turn/allocation.c: permission and channel tables that
 * start empty and grow by doubling up to the configured limits, keeping
 * every entry through each growth; the limits answered with -ENOSPC; slots
 * freed by expiry reused without growing; channel rules (number or peer
 * bound elsewhere: -EEXIST); a channel binding installs its permission; the
 * username stored in full at the end of the allocation. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "relay/turn/allocation.h"

static struct sockaddr_storage peer(unsigned i, uint16_t port)
{
	struct sockaddr_storage ss;
	uint8_t ip[4] = { 198, 51, 100, (uint8_t)i };
	sockaddr_from_bytes(&ss, AF_INET, ip, port);
	return ss;
}

static void test_tables_start_empty(void **state)
{
	(void)state;
	struct allocation *a = allocation_new(32, 32, 0);
	assert_non_null(a);
	assert_int_equal(a->cap_perms, 0);
	assert_int_equal(a->cap_channels, 0);
	struct sockaddr_storage p = peer(1, 1000);
	assert_false(allocation_permitted(a, &p, 0));
	assert_null(allocation_channel_by_number(a, 0x4000, 0));
	assert_null(allocation_channel_by_peer(a, &p, 0));
	allocation_expire(a, 1000000);
	allocation_free(a);
}

static void test_permissions_grow_to_limit(void **state)
{
	(void)state;
	const uint16_t max = 13; /* not a power of two: the last growth is capped */
	struct allocation *a = allocation_new(max, 4, 0);
	assert_non_null(a);
	for (unsigned i = 0; i < max; i++) {
		struct sockaddr_storage p = peer(i, 1000);
		assert_int_equal(allocation_permit(a, &p, 100), 0);
		assert_true(a->cap_perms >= a->n_perms && a->cap_perms <= max);
		for (unsigned j = 0; j <= i; j++) { /* every earlier one survived growth */
			struct sockaddr_storage q = peer(j, 2000); /* port is ignored */
			assert_true(allocation_permitted(a, &q, 100));
		}
	}
	assert_int_equal(a->cap_perms, max);
	struct sockaddr_storage extra = peer(200, 1000);
	assert_int_equal(allocation_permit(a, &extra, 100), -ENOSPC);
	assert_false(allocation_can_permit(a, &extra, 100));
	assert_int_equal(allocation_reserve_permissions(a, 1), -ENOSPC);
	/* Refreshing an existing one needs no slot. */
	struct sockaddr_storage again = peer(3, 9);
	assert_int_equal(allocation_permit(a, &again, 200), 0);
	/* After expiry the slots are free again, without growing. */
	allocation_expire(a, 200 + TURN_PERMISSION_MS);
	assert_int_equal(a->n_perms, 0);
	assert_int_equal(allocation_permit(a, &extra, 300000 + 300), 0);
	assert_int_equal(a->cap_perms, max);
	allocation_free(a);
}

static void test_reserve_is_all_or_nothing(void **state)
{
	(void)state;
	struct allocation *a = allocation_new(5, 1, 0);
	assert_non_null(a);
	assert_int_equal(allocation_reserve_permissions(a, 6), -ENOSPC);
	assert_int_equal(a->n_perms, 0);
	assert_int_equal(allocation_reserve_permissions(a, 5), 0);
	assert_int_equal(a->cap_perms, 5);
	assert_int_equal(a->n_perms, 0);
	allocation_free(a);
}

static void test_channels_grow_to_limit(void **state)
{
	(void)state;
	const uint16_t max = 9;
	struct allocation *a = allocation_new(32, max, 0);
	assert_non_null(a);
	for (unsigned i = 0; i < max; i++) {
		struct sockaddr_storage p = peer(i, (uint16_t)(5000 + i));
		assert_int_equal(allocation_bind_channel(a, (uint16_t)(0x4000 + i), &p, 100), 0);
		assert_true(allocation_permitted(a, &p, 100)); /* installed with it */
		for (unsigned j = 0; j <= i; j++) {
			struct sockaddr_storage q = peer(j, (uint16_t)(5000 + j));
			const struct turn_channel *c =
				allocation_channel_by_number(a, (uint16_t)(0x4000 + j), 100);
			assert_non_null(c);
			assert_true(sockaddr_equal(&c->peer, &q));
			assert_ptr_equal(allocation_channel_by_peer(a, &q, 100), c);
		}
	}
	assert_int_equal(a->cap_channels, max);
	struct sockaddr_storage extra = peer(100, 7000);
	assert_int_equal(allocation_bind_channel(a, 0x5000, &extra, 100), -ENOSPC);
	/* Number or peer already bound elsewhere. */
	struct sockaddr_storage p0 = peer(0, 5000), p1 = peer(1, 5001);
	assert_int_equal(allocation_bind_channel(a, 0x4000, &p1, 100), -EEXIST);
	assert_int_equal(allocation_bind_channel(a, 0x4001, &p0, 100), -EEXIST);
	/* Rebinding the same pair refreshes it. */
	assert_int_equal(allocation_bind_channel(a, 0x4000, &p0, 200), 0);
	/* Past expiry and the quiet time, slots are reused without growing. */
	allocation_expire(a, 200 + TURN_CHANNEL_MS + TURN_CHANNEL_QUIET_MS);
	assert_null(allocation_channel_by_number(a, 0x4000, 0));
	assert_int_equal(allocation_bind_channel(a, 0x5000, &extra, 2000000), 0);
	assert_int_equal(a->cap_channels, max);
	allocation_free(a);
}

static void test_username_kept_whole(void **state)
{
	(void)state;
	char name[CRED_MAX_USERNAME + 1];
	memset(name, 'u', CRED_MAX_USERNAME);
	name[CRED_MAX_USERNAME] = '\0';
	struct allocation *a = allocation_new(1, 1, CRED_MAX_USERNAME);
	assert_non_null(a);
	memcpy(a->username, name, CRED_MAX_USERNAME + 1);
	a->username_len = CRED_MAX_USERNAME;
	assert_string_equal(a->username, name);
	allocation_free(a);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_tables_start_empty),
		cmocka_unit_test(test_permissions_grow_to_limit),
		cmocka_unit_test(test_reserve_is_all_or_nothing),
		cmocka_unit_test(test_channels_grow_to_limit),
		cmocka_unit_test(test_username_kept_whole),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
