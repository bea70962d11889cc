/* metrics/expose.c: the Prometheus text page (HELP/TYPE once per family,
 * cumulative histogram buckets, active = created - ended, label escaping)
 * and the per-allocation JSON line. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "metrics/expose.h"

static char *page(const struct metrics_view *v)
{
	struct mbuf b = { 0 };
	assert_int_equal(metrics_expose(v, &b), 0);
	return b.p;
}

static void assert_line(const char *text, const char *line)
{
	char want[512];
	snprintf(want, sizeof(want), "\n%s\n", line);
	if (!strstr(text, want))
		fail_msg("missing line: %s", line);
}

static void test_counters_and_active(void **state)
{
	(void)state;
	struct metrics_view *v = calloc(1, sizeof(*v));
	struct worker_metrics *w1 = calloc(1, sizeof(*w1)), *w2 = calloc(1, sizeof(*w2));
	mc_add(&w1->alloc_created[MT_UDP][MF_IPV4], 5);
	mc_add(&w1->alloc_ended[MT_UDP][MF_IPV4], 2);
	mc_add(&w2->alloc_created[MT_UDP][MF_IPV4], 1);
	mc_add(&w2->relayed_packets[MD_TO_CLIENT][MT_TCP], 7);
	mc_inc(&w2->auth_failures[MA_EXPIRED]);
	mc_inc(&w1->alloc_outcome[MO_QUOTA]);
	metrics_sum(&v->sum, w1);
	metrics_sum(&v->sum, w2);
	v->n_workers = 2;
	v->loop_lag_ms[1] = 1234;
	v->version = "0.1.0";
	char *t = page(v);
	assert_line(t, "tern_allocations_active{transport=\"udp\",family=\"ipv4\"} 4");
	assert_line(t, "tern_allocations_created_total{transport=\"udp\",family=\"ipv4\"} 6");
	assert_line(t, "tern_relayed_packets_total{direction=\"to_client\",transport=\"tcp\"} 7");
	assert_line(t, "tern_auth_failures_total{reason=\"expired\"} 1");
	assert_line(t, "tern_allocate_requests_total{outcome=\"quota\"} 1");
	assert_line(t, "tern_worker_loop_lag_seconds{worker=\"1\"} 1.234");
	assert_line(t, "tern_build_info{version=\"0.1.0\"} 1");
	assert_line(t, "tern_revocation_feed_fresh 0");
	free(t);
	free(v);
	free(w1);
	free(w2);
}

/* Every family: one HELP and one TYPE, before its samples. */
static void test_help_type_once(void **state)
{
	(void)state;
	struct metrics_view *v = calloc(1, sizeof(*v));
	char *t = page(v);
	char *save = NULL, *copy = strdup(t);
	char seen[128][96];
	int n_seen = 0;
	for (char *line = strtok_r(copy, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		if (strncmp(line, "# TYPE ", 7) != 0)
			continue;
		char name[96];
		assert_int_equal(sscanf(line + 7, "%95s", name), 1);
		for (int i = 0; i < n_seen; i++)
			assert_string_not_equal(seen[i], name);
		assert_true(n_seen < 128);
		strcpy(seen[n_seen++], name);
		char help[128];
		snprintf(help, sizeof(help), "# HELP %s ", name);
		assert_non_null(strstr(t, help));
	}
	assert_true(n_seen > 30);
	free(copy);
	free(t);
	free(v);
}

static void test_histogram_cumulative(void **state)
{
	(void)state;
	struct metrics_view *v = calloc(1, sizeof(*v));
	const uint64_t *b = metrics_hist_bounds[MH_LIFETIME_S];
	mhist_observe(&v->sum.ended[MH_LIFETIME_S], b, 5);        /* le 10 */
	mhist_observe(&v->sum.ended[MH_LIFETIME_S], b, 45);       /* le 60 */
	mhist_observe(&v->sum.ended[MH_LIFETIME_S], b, 1000000);  /* +Inf */
	char *t = page(v);
	assert_line(t, "tern_allocation_lifetime_seconds_bucket{le=\"10\"} 1");
	assert_line(t, "tern_allocation_lifetime_seconds_bucket{le=\"30\"} 1");
	assert_line(t, "tern_allocation_lifetime_seconds_bucket{le=\"60\"} 2");
	assert_line(t, "tern_allocation_lifetime_seconds_bucket{le=\"86400\"} 2");
	assert_line(t, "tern_allocation_lifetime_seconds_bucket{le=\"+Inf\"} 3");
	assert_line(t, "tern_allocation_lifetime_seconds_sum 1000050");
	assert_line(t, "tern_allocation_lifetime_seconds_count 3");
	assert_line(t, "# TYPE tern_allocation_live_bytes histogram");
	assert_line(t, "tern_revocation_latency_seconds_bucket{le=\"0.001\"} 0");
	assert_line(t, "tern_revocation_latency_seconds_bucket{le=\"30.000\"} 0");
	free(t);
	free(v);
}

static void test_escaping(void **state)
{
	(void)state;
	struct mbuf b = { 0 };
	metrics_escape_label(&b, "a\"b\\c\nd");
	assert_string_equal(b.p, "a\\\"b\\\\c\\nd");
	mbuf_free(&b);
	metrics_escape_help(&b, "x\"y\\z\n");
	assert_string_equal(b.p, "x\"y\\\\z\\n");
	mbuf_free(&b);
	struct metrics_view *v = calloc(1, sizeof(*v));
	v->version = "1.0\"evil\n";
	char *t = page(v);
	assert_non_null(strstr(t, "tern_build_info{version=\"1.0\\\"evil\\n\"} 1\n"));
	free(t);
	free(v);
}

static void test_alloc_json(void **state)
{
	(void)state;
	struct alloc_figures f = { .id = 0x00ab0000000000cdULL, .transport = MT_TLS, .family = MF_IPV6,
				   .permissions = 2, .channels = 1, .age_s = 61, .pkts_to_peer = 3,
				   .bytes_to_peer = 300, .pkts_to_client = 4, .bytes_to_client = 400,
				   .peak_pps = 9, .dtls_flows = 1 };
	f.media[MD_TO_PEER] = (struct alloc_media_figures){
		.streams = 1, .clock_hz = 48000, .jitter_us = 10250, .expected = 400, .lost = 20,
		.reordered = 3, .duplicates = 2 };
	struct mbuf b = { 0 };
	metrics_alloc_json(&b, &f, 3, 250);
	assert_string_equal(b.p,
		"{\"id\":\"00ab0000000000cd\",\"worker\":3,\"transport\":\"tls\",\"family\":\"ipv6\","
		"\"age_s\":61,\"packets_to_peer\":3,\"bytes_to_peer\":300,\"packets_to_client\":4,"
		"\"bytes_to_client\":400,\"peak_pps\":9,\"permissions\":2,\"channels\":1,"
		"\"media\":{\"dtls_flows\":1,\"unencrypted_flows\":0,"
		"\"to_peer\":{\"rtp_streams\":1,\"clock_hz\":48000,\"expected\":400,\"lost\":20,"
		"\"loss_ratio\":0.050000,\"jitter_ms\":10.250,\"reordered\":3,\"duplicates\":2},"
		"\"to_client\":{\"rtp_streams\":0,\"clock_hz\":0,\"expected\":0,\"lost\":0,"
		"\"loss_ratio\":0.000000,\"jitter_ms\":0.000,\"reordered\":0,\"duplicates\":0}},"
		"\"figures_age_ms\":250}\n");
	mbuf_free(&b);
}

static void test_mbuf_grows(void **state)
{
	(void)state;
	struct mbuf b = { 0 };
	char big[1000];
	memset(big, 'x', sizeof(big));
	for (int i = 0; i < 100; i++)
		mbuf_printf(&b, "%.*s", (int)sizeof(big), big);
	assert_false(b.failed);
	assert_int_equal(b.len, 100000);
	assert_int_equal(strlen(b.p), 100000);
	mbuf_free(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_counters_and_active),
		cmocka_unit_test(test_help_type_once),
		cmocka_unit_test(test_histogram_cumulative),
		cmocka_unit_test(test_escaping),
		cmocka_unit_test(test_alloc_json),
		cmocka_unit_test(test_mbuf_grows),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
