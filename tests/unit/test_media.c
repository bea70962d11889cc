/* Unit tests of relay/turn/media.c: RFC 7983 classification, the flow
 * policy (DTLS first exempts, plain RTP counted or dropped, DTLS flows never
 * evicted) and the RTP stream figures (loss with 16-bit wrap, reordering,
 * duplicates, clock-rate estimate, RFC 3550 jitter). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "relay/turn/media.h"

static const uint8_t PEER[4] = { 192, 0, 2, 7 };

static size_t rtp(uint8_t *p, uint8_t pt, uint16_t seq, uint32_t ts, uint32_t ssrc)
{
	memset(p, 0xab, 60);
	p[0] = 0x80;
	p[1] = pt;
	p[2] = (uint8_t)(seq >> 8);
	p[3] = (uint8_t)seq;
	for (int i = 0; i < 4; i++) {
		p[4 + i] = (uint8_t)(ts >> (24 - 8 * i));
		p[8 + i] = (uint8_t)(ssrc >> (24 - 8 * i));
	}
	return 60;
}

static int feed(struct media_state *m, uint16_t port, uint16_t seq, uint32_t ts, uint64_t us,
		enum conf_media_policy pol)
{
	uint8_t p[60];
	enum metrics_media_kind k;
	size_t n = rtp(p, 111, seq, ts, 0x1234);
	return media_inspect(m, MD_TO_PEER, 4, PEER, port, p, n, us, pol, &k);
}

static void figures(struct media_state *m, struct media_stream_figures *f)
{
	media_stream_figures(&m->stream[MD_TO_PEER][0], f);
}

static void test_classify(void **state)
{
	(void)state;
	uint8_t p[2] = { 0, 0 };
	static const struct { uint8_t b0, b1; enum metrics_media_kind k; } cases[] = {
		{ 0, 1, MK_STUN }, { 3, 0, MK_STUN }, { 4, 0, MK_OTHER }, { 19, 0, MK_OTHER },
		{ 20, 0, MK_DTLS }, { 22, 0xfe, MK_DTLS }, { 63, 0, MK_DTLS },
		{ 64, 0, MK_TURN_CHANNEL }, { 79, 0, MK_TURN_CHANNEL }, { 80, 0, MK_OTHER },
		{ 128, 0, MK_RTP }, { 0x80, 111, MK_RTP }, { 0x80, 0x80 | 96, MK_RTP },
		{ 0x80, 200, MK_RTCP }, { 0x81, 192, MK_RTCP }, { 0x80, 223, MK_RTCP },
		{ 0x80, 224, MK_RTP }, { 191, 191, MK_RTP }, { 192, 0, MK_OTHER }, { 255, 0, MK_OTHER },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		p[0] = cases[i].b0;
		p[1] = cases[i].b1;
		assert_int_equal(media_classify(p, 2), cases[i].k);
	}
	assert_int_equal(media_classify(p, 0), MK_OTHER);
	p[0] = 0x80;
	assert_int_equal(media_classify(p, 1), MK_OTHER);
}

static void test_policy(void **state)
{
	(void)state;
	static struct media_state m;
	memset(&m, 0, sizeof(m));
	uint8_t dtls[13] = { 22, 0xfe, 0xfd };
	enum metrics_media_kind k;
	/* DTLS first on port 1000: its RTP passes even when enforcing. */
	assert_int_equal(media_inspect(&m, MD_TO_CLIENT, 4, PEER, 1000, dtls, sizeof(dtls), 1, CONF_MEDIA_ENFORCE, &k), 0);
	assert_int_equal(k, MK_DTLS);
	assert_int_equal(feed(&m, 1000, 1, 0, 2, CONF_MEDIA_ENFORCE), 0);
	/* Plain on port 2000: flagged once, dropped when enforcing. */
	assert_int_equal(feed(&m, 2000, 1, 0, 3, CONF_MEDIA_OBSERVE), MEDIA_NEW_UNENCRYPTED);
	assert_int_equal(feed(&m, 2000, 2, 0, 4, CONF_MEDIA_OBSERVE), 0);
	assert_int_equal(feed(&m, 2000, 3, 0, 5, CONF_MEDIA_ENFORCE), MEDIA_DROP);
	/* DTLS after the media started does not clear it. */
	media_inspect(&m, MD_TO_PEER, 4, PEER, 2000, dtls, sizeof(dtls), 6, CONF_MEDIA_ENFORCE, &k);
	assert_int_equal(feed(&m, 2000, 4, 0, 7, CONF_MEDIA_ENFORCE), MEDIA_DROP);
	/* Off: nothing judged. */
	assert_int_equal(feed(&m, 3000, 1, 0, 8, CONF_MEDIA_OFF), 0);
	assert_int_equal(m.unencrypted_flows, 1);
	assert_int_equal(m.dtls_flows, 1);
}

static void test_dtls_flows_never_evicted(void **state)
{
	(void)state;
	static struct media_state m;
	memset(&m, 0, sizeof(m));
	uint8_t dtls[13] = { 22, 0xfe, 0xfd };
	enum metrics_media_kind k;
	for (uint16_t i = 0; i < MEDIA_FLOWS; i++)
		media_inspect(&m, MD_TO_PEER, 4, PEER, (uint16_t)(100 + i), dtls, sizeof(dtls), i, CONF_MEDIA_ENFORCE, &k);
	/* A new plain flow finds no slot: passed, counted as untracked. */
	assert_int_equal(feed(&m, 999, 1, 0, 50, CONF_MEDIA_ENFORCE), MEDIA_UNTRACKED);
	for (uint16_t i = 0; i < MEDIA_FLOWS; i++)
		assert_int_equal(feed(&m, (uint16_t)(100 + i), 1, 0, 60, CONF_MEDIA_ENFORCE), 0);
	/* With one plain flow in the table, churn replaces only it. */
	memset(&m, 0, sizeof(m));
	for (uint16_t i = 0; i < MEDIA_FLOWS - 1; i++)
		media_inspect(&m, MD_TO_PEER, 4, PEER, (uint16_t)(100 + i), dtls, sizeof(dtls), i, CONF_MEDIA_ENFORCE, &k);
	for (uint16_t port = 2000; port < 2100; port++)
		assert_int_equal(feed(&m, port, 1, 0, 100 + port, CONF_MEDIA_ENFORCE),
				 MEDIA_NEW_UNENCRYPTED | MEDIA_DROP);
	for (uint16_t i = 0; i < MEDIA_FLOWS - 1; i++)
		assert_int_equal(feed(&m, (uint16_t)(100 + i), 2, 0, 9000, CONF_MEDIA_ENFORCE), 0);
}

static void test_loss_reorder_duplicates_wrap(void **state)
{
	(void)state;
	static struct media_state m;
	memset(&m, 0, sizeof(m));
	uint16_t seq0 = 65000;   /* wraps after 536 packets */
	uint64_t us = 1000;
	for (int i = 0; i < 1000; i++) {
		uint16_t seq = (uint16_t)(seq0 + i);
		if (i % 20 == 10)
			continue;                                        /* 50 lost */
		if (i % 100 == 55) {                                     /* 10 swaps */
			feed(&m, 5, (uint16_t)(seq + 1), (uint32_t)(i + 1) * 960, us, CONF_MEDIA_OBSERVE);
			feed(&m, 5, seq, (uint32_t)i * 960, us, CONF_MEDIA_OBSERVE);
			i++;
			continue;
		}
		feed(&m, 5, seq, (uint32_t)i * 960, us, CONF_MEDIA_OBSERVE);
		if (i % 100 == 75)                                       /* 10 duplicates */
			feed(&m, 5, seq, (uint32_t)i * 960, us, CONF_MEDIA_OBSERVE);
		us += 20000;
	}
	struct media_stream_figures f;
	figures(&m, &f);
	assert_int_equal(f.expected, 1000);
	assert_int_equal(f.received, 950);
	assert_int_equal(f.lost, 50);
	assert_int_equal(f.loss_e4, 500);
	assert_int_equal(f.reordered, 10);
	assert_int_equal(f.duplicates, 10);
	/* A late duplicate inside the window is a duplicate, not a reorder. */
	feed(&m, 5, (uint16_t)(seq0 + 995), 0, us, CONF_MEDIA_OBSERVE);
	figures(&m, &f);
	assert_int_equal(f.duplicates, 11);
	assert_int_equal(f.reordered, 10);
}

/* Every other packet 10 ms late: |D| is 10 ms each time, J converges to 10 ms. */
static void jitter_at(uint32_t rate, uint32_t *got_rate, uint32_t *jitter_us)
{
	static struct media_state m;
	memset(&m, 0, sizeof(m));
	uint32_t step = rate / 50;  /* 20 ms */
	for (int i = 0; i < 300; i++) {
		uint64_t us = 5000000u + (uint64_t)i * 20000u + (i % 2 ? 10000u : 0);
		feed(&m, 5, (uint16_t)i, 12345u + (uint32_t)i * step, us, CONF_MEDIA_OBSERVE);
	}
	struct media_stream_figures f;
	figures(&m, &f);
	*got_rate = f.rate;
	*jitter_us = f.jitter_us;
}

static void test_jitter_and_rate(void **state)
{
	(void)state;
	static const uint32_t rates[] = { 8000, 16000, 48000, 90000 };
	for (size_t i = 0; i < 4; i++) {
		uint32_t rate, j;
		jitter_at(rates[i], &rate, &j);
		assert_int_equal(rate, rates[i]);
		assert_in_range(j, 9500, 10100);
	}
}

static void test_ssrc_table_lru(void **state)
{
	(void)state;
	static struct media_state m;
	memset(&m, 0, sizeof(m));
	uint8_t p[60];
	enum metrics_media_kind k;
	for (uint32_t ssrc = 1; ssrc <= MEDIA_SSRCS + 2; ssrc++)
		for (uint16_t s = 0; s < 10; s++) {
			size_t n = rtp(p, 0, s, s * 160u, ssrc);
			media_inspect(&m, MD_TO_CLIENT, 4, PEER, 9, p, n, ssrc * 1000u + s, CONF_MEDIA_OBSERVE, &k);
		}
	unsigned seen = 0;
	for (unsigned i = 0; i < MEDIA_SSRCS; i++) {
		const struct media_stream *st = &m.stream[MD_TO_CLIENT][i];
		assert_true(st->used);
		assert_true(st->ssrc > 2);       /* the two oldest were replaced */
		assert_int_equal(st->received, 10);
		seen++;
	}
	assert_int_equal(seen, MEDIA_SSRCS);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_classify),
		cmocka_unit_test(test_policy),
		cmocka_unit_test(test_dtls_flows_never_evicted),
		cmocka_unit_test(test_loss_reorder_duplicates_wrap),
		cmocka_unit_test(test_jitter_and_rate),
		cmocka_unit_test(test_ssrc_table_lru),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
