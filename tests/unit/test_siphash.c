/* Unit tests for common/siphash.c: the SipHash-2-4 reference vectors of
 * Aumasson & Bernstein (key 00..0f, message 00..len-1), with lengths chosen
 * around the 8-byte block boundary, and sensitivity to every key and
 * message bit. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "common/siphash.h"

/* Key bytes 00..0f read little-endian, as the reference does. */
static const struct siphash_key ref_key = { 0x0706050403020100ULL, 0x0f0e0d0c0b0a0908ULL };

static void ref_message(uint8_t *m, size_t len)
{
	for (size_t i = 0; i < len; i++)
		m[i] = (uint8_t)i;
}

static void test_paper_vector(void **state)
{
	(void)state;
	uint8_t m[15];
	ref_message(m, sizeof(m));
	/* The paper's Appendix A: 15-byte message. */
	assert_true(siphash24(&ref_key, m, sizeof(m)) == 0xa129ca6149be45e5ULL);
}

static void test_empty_message(void **state)
{
	(void)state;
	assert_true(siphash24(&ref_key, "", 0) == 0x726fdb47dd0e0e31ULL);
	/* A NULL pointer with length 0 must not be read. */
	assert_true(siphash24(&ref_key, NULL, 0) == 0x726fdb47dd0e0e31ULL);
}

/* The first entries of the reference implementation's vector table: the
 * tail-only path (1..7 bytes) and the first full block (8 bytes). */
static void test_reference_table(void **state)
{
	(void)state;
	static const uint64_t want[] = {
		0x726fdb47dd0e0e31ULL, 0x74f839c593dc67fdULL, 0x0d6c8009d9a94f5aULL,
		0x85676696d7fb7e2dULL, 0xcf2794e0277187b7ULL, 0x18765564cd99a68dULL,
		0xcbc9466e58fee3ceULL, 0xab0200f58b01d137ULL, 0x93f5f5799a932462ULL,
	};
	uint8_t m[16];
	ref_message(m, sizeof(m));
	for (size_t len = 0; len < sizeof(want) / sizeof(want[0]); len++)
		assert_true(siphash24(&ref_key, m, len) == want[len]);
}

static void test_key_sensitivity(void **state)
{
	(void)state;
	uint8_t m[15];
	ref_message(m, sizeof(m));
	uint64_t base = siphash24(&ref_key, m, sizeof(m));
	for (unsigned bit = 0; bit < 128; bit++) {
		struct siphash_key k = ref_key;
		if (bit < 64)
			k.k0 ^= 1ULL << bit;
		else
			k.k1 ^= 1ULL << (bit - 64);
		assert_true(siphash24(&k, m, sizeof(m)) != base);
	}
	/* Swapping the halves is a different key too. */
	struct siphash_key swapped = { ref_key.k1, ref_key.k0 };
	assert_true(siphash24(&swapped, m, sizeof(m)) != base);
}

static void test_message_sensitivity(void **state)
{
	(void)state;
	uint8_t m[15];
	ref_message(m, sizeof(m));
	uint64_t base = siphash24(&ref_key, m, sizeof(m));
	for (unsigned bit = 0; bit < 8 * sizeof(m); bit++) {
		m[bit / 8] ^= (uint8_t)(1u << (bit % 8));
		assert_true(siphash24(&ref_key, m, sizeof(m)) != base);
		m[bit / 8] ^= (uint8_t)(1u << (bit % 8));
	}
	/* The length is part of the hash: a trailing zero byte changes it. */
	uint8_t z[16] = { 0 };
	assert_true(siphash24(&ref_key, z, 15) != siphash24(&ref_key, z, 16));
	assert_true(siphash24(&ref_key, m, sizeof(m)) == base);
}

static void test_random_key(void **state)
{
	(void)state;
	struct siphash_key a, b;
	assert_int_equal(siphash_key_random(&a), 0);
	assert_int_equal(siphash_key_random(&b), 0);
	assert_false(a.k0 == b.k0 && a.k1 == b.k1);
	assert_true(siphash24(&a, "tern", 4) != siphash24(&b, "tern", 4));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_paper_vector),
		cmocka_unit_test(test_empty_message),
		cmocka_unit_test(test_reference_table),
		cmocka_unit_test(test_key_sensitivity),
		cmocka_unit_test(test_message_sensitivity),
		cmocka_unit_test(test_random_key),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
