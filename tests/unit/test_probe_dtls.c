/* Unit tests of auth/ternctl_probe_dtls.c: RFC 5764 section 4.2's split of
 * the exported keying material, a whole DTLS-SRTP handshake between the two
 * ends in memory (complementary SRTP keys on each side), the certificate
 * pin refusing another certificate, a lost flight resent by the timer, and
 * input that is not whole records refused. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "auth/ternctl_probe_dtls.h"

#define ROUNDS 50

static void test_split(void **state)
{
	(void)state;
	uint8_t km[PROBE_DTLS_KM_LEN];
	for (unsigned i = 0; i < sizeof(km); i++)
		km[i] = (uint8_t)i;
	struct probe_srtp_keys c, s;
	probe_dtls_split(km, false, &c);
	probe_dtls_split(km, true, &s);
	/* client key 0..15, server key 16..31, client salt 32..45, server salt 46..59 */
	for (unsigned i = 0; i < 16; i++) {
		assert_int_equal(c.out[i], i);
		assert_int_equal(c.in[i], 16 + i);
	}
	for (unsigned i = 0; i < 14; i++) {
		assert_int_equal(c.out[16 + i], 32 + i);
		assert_int_equal(c.in[16 + i], 46 + i);
	}
	/* The server protects with what the client unprotects, and back. */
	assert_memory_equal(s.out, c.in, PROBE_SRTP_KEYSALT);
	assert_memory_equal(s.in, c.out, PROBE_SRTP_KEYSALT);
}

static struct probe_dtls *end_new(bool server)
{
	char err[256] = "";
	struct probe_dtls *d = probe_dtls_new(server, err, sizeof(err));
	if (!d)
		fail_msg("%s", err);
	return d;
}

/* Moves every pending datagram from one end to the other; the count moved.
 * drop: how many to throw away first (a lossy path). */
static int carry(struct probe_dtls *from, struct probe_dtls *to, int *drop)
{
	uint8_t buf[2048];
	int n = 0;
	for (size_t len; n < 100 && (len = probe_dtls_output(from, buf, sizeof(buf))) > 0; n++) {
		assert_true(len <= PROBE_DTLS_MTU);
		assert_true(buf[0] >= 20 && buf[0] <= 63); /* RFC 7983: DTLS */
		if (drop && *drop > 0) {
			(*drop)--;
			continue;
		}
		assert_int_equal(probe_dtls_input(to, buf, len), 0);
	}
	return n;
}

static void sleep_ms(int ms)
{
	struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L };
	nanosleep(&ts, NULL);
}

/* Runs the handshake; 1 when both finished, negative when an end failed. */
static int handshake(struct probe_dtls *c, struct probe_dtls *s, int drop_first, char *err,
		     size_t cap)
{
	for (int i = 0; i < ROUNDS; i++) {
		int rc = probe_dtls_step(c, err, cap);
		if (rc < 0)
			return rc;
		int moved = carry(c, s, &drop_first);
		int rs = probe_dtls_step(s, err, cap);
		if (rs < 0)
			return rs;
		moved += carry(s, c, NULL);
		if (rc == 1 && rs == 1 && probe_dtls_done(c))
			return 1;
		if (moved == 0) {
			int t = probe_dtls_timeout_ms(c);
			if (t > 0)
				sleep_ms(t > 1000 ? 1000 : t);
			assert_int_equal(probe_dtls_tick(c), 0);
			assert_int_equal(probe_dtls_tick(s), 0);
		}
	}
	return 0;
}

static void pair(struct probe_dtls **c, struct probe_dtls **s)
{
	*c = end_new(false);
	*s = end_new(true);
	assert_int_equal(probe_dtls_pin(*c, *s), 0);
	assert_int_equal(probe_dtls_pin(*s, *c), 0);
}

static void test_handshake_keys(void **state)
{
	(void)state;
	struct probe_dtls *c, *s;
	pair(&c, &s);
	char err[256] = "";
	assert_int_equal(handshake(c, s, 0, err, sizeof(err)), 1);
	assert_true(probe_dtls_done(s));
	struct probe_srtp_keys kc, ks;
	assert_int_equal(probe_dtls_srtp_keys(c, &kc), 0);
	assert_int_equal(probe_dtls_srtp_keys(s, &ks), 0);
	assert_memory_equal(kc.out, ks.in, PROBE_SRTP_KEYSALT);
	assert_memory_equal(kc.in, ks.out, PROBE_SRTP_KEYSALT);
	assert_memory_not_equal(kc.out, kc.in, PROBE_SRTP_KEYSALT);
	/* No timer runs once done. */
	assert_int_equal(probe_dtls_timeout_ms(c), -1);
	probe_dtls_free(c);
	probe_dtls_free(s);
}

static void test_fresh_keys_each_time(void **state)
{
	(void)state;
	struct probe_srtp_keys k[2];
	for (int i = 0; i < 2; i++) {
		struct probe_dtls *c, *s;
		pair(&c, &s);
		char err[256] = "";
		assert_int_equal(handshake(c, s, 0, err, sizeof(err)), 1);
		assert_int_equal(probe_dtls_srtp_keys(c, &k[i]), 0);
		probe_dtls_free(c);
		probe_dtls_free(s);
	}
	assert_memory_not_equal(k[0].out, k[1].out, PROBE_SRTP_KEYSALT);
}

static void test_wrong_pin_refused(void **state)
{
	(void)state;
	struct probe_dtls *c, *s, *other = end_new(true);
	pair(&c, &s);
	assert_int_equal(probe_dtls_pin(c, other), 0); /* expects another peer */
	char err[256] = "";
	assert_true(handshake(c, s, 0, err, sizeof(err)) < 0);
	assert_non_null(strstr(err, "DTLS handshake failed"));
	struct probe_srtp_keys k;
	assert_int_equal(probe_dtls_srtp_keys(c, &k), -EPROTO);
	probe_dtls_free(c);
	probe_dtls_free(s);
	probe_dtls_free(other);
}

static void test_lost_flight_resent(void **state)
{
	(void)state;
	struct probe_dtls *c, *s;
	pair(&c, &s);
	char err[256] = "";
	/* The ClientHello is lost; the client's timer (100 ms) resends it. */
	assert_int_equal(handshake(c, s, 1, err, sizeof(err)), 1);
	probe_dtls_free(c);
	probe_dtls_free(s);
}

static void test_input_whole_records_only(void **state)
{
	(void)state;
	struct probe_dtls *s = end_new(true);
	uint8_t rec[13 + 4] = { 22, 0xfe, 0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 4, 1, 2, 3, 4 };
	assert_int_equal(probe_dtls_input(s, rec, sizeof(rec) - 1), -EMSGSIZE);
	assert_int_equal(probe_dtls_input(s, rec, 5), -EMSGSIZE);
	assert_int_equal(probe_dtls_input(s, rec, 0), -EMSGSIZE);
	assert_int_equal(probe_dtls_input(s, rec, sizeof(rec)), 0);
	probe_dtls_free(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_split),
		cmocka_unit_test(test_handshake_keys),
		cmocka_unit_test(test_fresh_keys_each_time),
		cmocka_unit_test(test_wrong_pin_refused),
		cmocka_unit_test(test_lost_flight_resent),
		cmocka_unit_test(test_input_whole_records_only),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
