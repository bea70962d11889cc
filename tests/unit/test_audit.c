/* metrics/audit_ring.h, audit.c, audit_file.c: the SPSC ring (order,
 * full-ring drops, a real producer thread), the record format and address
 * modes, the hash chain and what verification says about an edited,
 * deleted, reordered or cut-off record, and the writer resuming a chain. */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "metrics/audit.h"

static void test_ring_order_and_drops(void **state)
{
	(void)state;
	struct audit_ring r;
	assert_int_equal(audit_ring_init(&r, 3), -EINVAL);
	assert_int_equal(audit_ring_init(&r, 4), 0);
	for (int round = 0; round < 3; round++) {   /* wraps around */
		for (uint64_t i = 0; i < 6; i++) {
			struct audit_record *s = audit_ring_claim(&r);
			if (i >= 4) {
				assert_null(s);
				continue;
			}
			assert_non_null(s);
			s->alloc_id = i + 1;
			audit_ring_commit(&r);
		}
		struct audit_record out;
		for (uint64_t i = 0; i < 4; i++) {
			assert_true(audit_ring_pop(&r, &out));
			assert_int_equal(out.alloc_id, i + 1);
		}
		assert_false(audit_ring_pop(&r, &out));
	}
	assert_int_equal(mc_get(&r.dropped), 6);
	audit_ring_destroy(&r);
}

#define SPSC_N 200000

static void *producer(void *arg)
{
	struct audit_ring *r = arg;
	for (uint64_t i = 1; i <= SPSC_N;) {
		struct audit_record *s = audit_ring_claim(r);
		if (!s) {
			/* The test producer retries; a worker would drop. Yield, so a
			 * scheduler that runs one thread at a time (valgrind) lets
			 * the consumer in instead of spinning out the time slice. */
			sched_yield();
			continue;
		}
		s->alloc_id = i++;
		audit_ring_commit(r);
	}
	return NULL;
}

static void test_ring_threads(void **state)
{
	(void)state;
	struct audit_ring r;
	assert_int_equal(audit_ring_init(&r, 64), 0);
	pthread_t t;
	assert_int_equal(pthread_create(&t, NULL, producer, &r), 0);
	uint64_t want = 1;
	struct audit_record out;
	while (want <= SPSC_N) {
		if (audit_ring_pop(&r, &out))
			assert_int_equal(out.alloc_id, want++);
		else
			sched_yield();
	}
	pthread_join(t, NULL);
	audit_ring_destroy(&r);
}

static void test_addresses(void **state)
{
	(void)state;
	struct audit_addr v4 = { .family = 4, .ip = { 192, 0, 2, 77 }, .port = 5000 };
	struct audit_addr v6 = { .family = 6, .ip = { 0x20, 0x01, 0x0d, 0xb8, 0, 1, 0, 2, [15] = 5 },
				 .port = 443 };
	char out[80];
	audit_format_addr(&v4, AUDIT_ADDR_FULL, out, sizeof(out));
	assert_string_equal(out, "192.0.2.77:5000");
	audit_format_addr(&v4, AUDIT_ADDR_TRUNCATED, out, sizeof(out));
	assert_string_equal(out, "192.0.2.0/24");
	audit_format_addr(&v4, AUDIT_ADDR_OMIT, out, sizeof(out));
	assert_string_equal(out, "");
	audit_format_addr(&v6, AUDIT_ADDR_FULL, out, sizeof(out));
	assert_string_equal(out, "[2001:db8:1:2::5]:443");
	audit_format_addr(&v6, AUDIT_ADDR_TRUNCATED, out, sizeof(out));
	assert_string_equal(out, "2001:db8:1::/48");
	char t[32];
	audit_format_time(1714564800123, t);
	assert_string_equal(t, "2024-05-01T12:00:00.123Z");
}

static struct audit_record sample(int i)
{
	struct audit_record r = { .time_ms = 1714564800000 + i, .alloc_id = 0x1234 + (uint64_t)i,
				  .event = AE_ALLOCATION_DELETED, .transport = MT_UDP,
				  .client = { .family = 4, .ip = { 198, 51, 100, 9 }, .port = 40000 } };
	snprintf(r.reason, sizeof(r.reason), "expired");
	memcpy(r.user, "dr-\"zebra\"\n", 11);
	r.user_len = 11;
	return r;
}

/* A chain of n lines (creation record first) in one buffer. */
static char *chain(int n)
{
	size_t cap = (size_t)(n + 1) * AUDIT_LINE_MAX, len = 0;
	char *buf = malloc(cap), prev[AUDIT_HEX];
	struct audit_record first = { .time_ms = 1714564799000, .event = AE_TRAIL_CREATED };
	audit_genesis_hash(first.time_ms, prev);
	int k = audit_format_record(&first, AUDIT_ADDR_FULL, prev, buf, cap, prev);
	assert_true(k > 0);
	len += (size_t)k;
	for (int i = 0; i < n; i++) {
		struct audit_record r = sample(i);
		k = audit_format_record(&r, AUDIT_ADDR_FULL, prev, buf + len, cap - len, prev);
		assert_true(k > 0);
		len += (size_t)k;
	}
	return buf;
}

/* Verifies a buffer of lines; returns the broken line or 0. */
static unsigned long verify_text(const char *text, char *why, size_t cap)
{
	struct audit_verifier v;
	audit_verify_init(&v);
	for (const char *p = text; *p;) {
		const char *nl = strchr(p, '\n');
		assert_non_null(nl);
		if (audit_verify_line(&v, p, (size_t)(nl - p)) < 0) {
			snprintf(why, cap, "%s", v.why);
			return v.line;
		}
		p = nl + 1;
	}
	return 0;
}

static char *line_start(char *text, int line)
{
	for (int i = 1; i < line; i++)
		text = strchr(text, '\n') + 1;
	return text;
}

static void test_record_format(void **state)
{
	(void)state;
	char *c = chain(1);
	char *second = line_start(c, 2);
	assert_non_null(strstr(second, "\"event\":\"allocation_deleted\""));
	assert_non_null(strstr(second, "\"user\":\"dr-\\\"zebra\\\"\\u000a\""));
	assert_non_null(strstr(second, "\"allocation\":\"0000000000001234\""));
	assert_non_null(strstr(second, "\"client\":\"198.51.100.9:40000\""));
	assert_non_null(strstr(second, "\"reason\":\"expired\""));
	assert_non_null(strstr(second, "\"transport\":\"udp\""));
	free(c);
}

/* The media summary of an allocation's end: present (and verifiable) only
 * when the record says it is known, zeros included. */
static void test_record_media_summary(void **state)
{
	(void)state;
	char prev[AUDIT_HEX], hash[AUDIT_HEX], line[AUDIT_LINE_MAX], why[160];
	audit_genesis_hash(1714564799000, prev);
	struct audit_record r = sample(0);
	assert_true(audit_format_record(&r, AUDIT_ADDR_FULL, prev, line, sizeof(line), hash) > 0);
	assert_null(strstr(line, "dtls_flows"));
	assert_null(strstr(line, "unencrypted_flows"));

	r.media_known = true;
	r.dtls_flows = 2;
	r.unencrypted_flows = 0;
	int n = audit_format_record(&r, AUDIT_ADDR_FULL, prev, line, sizeof(line), hash);
	assert_true(n > 0);
	assert_non_null(strstr(line, ",\"dtls_flows\":2,\"unencrypted_flows\":0,\"hash\":"));

	/* It is covered by the hash: a verifier accepts the line, and an edit of
	 * the count breaks it. */
	char text[2 * AUDIT_LINE_MAX];
	struct audit_record first = { .time_ms = 1714564799000, .event = AE_TRAIL_CREATED };
	int k = audit_format_record(&first, AUDIT_ADDR_FULL, prev, text, sizeof(text), prev);
	assert_true(k > 0);
	assert_true(audit_format_record(&r, AUDIT_ADDR_FULL, prev, text + k, sizeof(text) - (size_t)k,
					hash) > 0);
	assert_int_equal(verify_text(text, why, sizeof(why)), 0);
	char *d = strstr(text + k, "\"dtls_flows\":2");
	assert_non_null(d);
	d[strlen("\"dtls_flows\":")] = '3';
	assert_int_equal(verify_text(text, why, sizeof(why)), 2);
}

static void test_chain_intact(void **state)
{
	(void)state;
	char why[160];
	char *c = chain(5);
	assert_int_equal(verify_text(c, why, sizeof(why)), 0);
	free(c);
}

static void test_chain_edited(void **state)
{
	(void)state;
	char why[160];
	char *c = chain(5);
	char *l3 = line_start(c, 3);
	char *exp = strstr(l3, "expired");
	exp[0] = 'X';
	assert_int_equal(verify_text(c, why, sizeof(why)), 3);
	assert_non_null(strstr(why, "edited"));
	free(c);
}

static void test_chain_deleted(void **state)
{
	(void)state;
	char why[160];
	char *c = chain(5);
	char *l3 = line_start(c, 3), *l4 = line_start(c, 4);
	memmove(l3, l4, strlen(l4) + 1);
	assert_int_equal(verify_text(c, why, sizeof(why)), 3);
	assert_non_null(strstr(why, "deleted"));
	free(c);
	/* Deleting the creation record is caught at the new first line. */
	c = chain(2);
	char *l2 = line_start(c, 2);
	memmove(c, l2, strlen(l2) + 1);
	assert_int_equal(verify_text(c, why, sizeof(why)), 1);
	assert_non_null(strstr(why, "creation"));
	free(c);
}

static void test_chain_cut(void **state)
{
	(void)state;
	char why[160];
	char *c = chain(3);
	char *l4 = line_start(c, 4);
	strcpy(l4 + 40, "\n");
	assert_int_equal(verify_text(c, why, sizeof(why)), 4);
	assert_non_null(strstr(why, "truncated"));
	free(c);
}

static void test_writer_resumes(void **state)
{
	(void)state;
	char path[] = "/tmp/tern-audit-test-XXXXXX";
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	close(fd);
	char err[256];
	struct audit_writer w;
	assert_int_equal(audit_writer_open(&w, path, AUDIT_ADDR_TRUNCATED, err, sizeof(err)), 0);
	struct audit_record r[3] = { sample(0), sample(1), sample(2) };
	assert_int_equal(audit_writer_append(&w, r, 2), 0);
	audit_writer_close(&w);
	assert_int_equal(audit_writer_open(&w, path, AUDIT_ADDR_TRUNCATED, err, sizeof(err)), 0);
	assert_int_equal(audit_writer_append(&w, &r[2], 1), 0);
	audit_writer_close(&w);
	unsigned long records, line;
	char why[200];
	assert_int_equal(audit_verify_file(path, &records, &line, why, sizeof(why)), 0);
	assert_int_equal(records, 4);
	/* A cut-off last line: the writer refuses to continue, verify names it. */
	FILE *f = fopen(path, "a");
	fputs("{\"prev\":\"00", f);
	fclose(f);
	assert_int_equal(audit_writer_open(&w, path, AUDIT_ADDR_TRUNCATED, err, sizeof(err)),
			 -EBADMSG);
	assert_int_equal(audit_verify_file(path, &records, &line, why, sizeof(why)), -EBADMSG);
	assert_int_equal(line, 5);
	unlink(path);
}

static void test_writer_disk_full(void **state)
{
	(void)state;
	char err[256];
	struct audit_writer w;
	if (access("/dev/full", W_OK) != 0)
		skip();
	assert_int_equal(audit_writer_open(&w, "/dev/full", AUDIT_ADDR_FULL, err, sizeof(err)),
			 -ENOSPC);
	assert_non_null(strstr(err, "cannot write"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ring_order_and_drops),
		cmocka_unit_test(test_ring_threads),
		cmocka_unit_test(test_addresses),
		cmocka_unit_test(test_record_format),
		cmocka_unit_test(test_record_media_summary),
		cmocka_unit_test(test_chain_intact),
		cmocka_unit_test(test_chain_edited),
		cmocka_unit_test(test_chain_deleted),
		cmocka_unit_test(test_chain_cut),
		cmocka_unit_test(test_writer_resumes),
		cmocka_unit_test(test_writer_disk_full),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
