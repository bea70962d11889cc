/* Unit tests of the TLS ClientHello reader (relay/tls/clienthello.c):
 * real hellos captured from OpenSSL, Python and curl (tls_hello_samples.h,
 * written by capture_hellos.py), then hand-built hellos for each rule. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "relay/tls/clienthello.h"
#include "tests/unit/tls_hello_samples.h"

#define N_SAMPLES (sizeof(hello_samples) / sizeof(hello_samples[0]))
#define MAX_LEN   (5 + 16384)

static uint8_t buf[1 << 17];

static void put16(uint8_t *p, size_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

/* Builds a one-record TLS 1.2-shaped hello around an extensions block
 * (NULL: no block at all). Returns its length. */
static size_t build_hello(uint8_t *out, const uint8_t *exts, size_t exts_len)
{
	static const uint8_t fixed[] = { 0x03, 0x03 };
	size_t n = 9;

	memcpy(out + n, fixed, 2), n += 2;
	memset(out + n, 0x11, 32), n += 32;
	out[n++] = 0;                                   /* session id */
	put16(out + n, 2), out[n + 2] = 0x13, out[n + 3] = 0x01, n += 4;
	out[n++] = 1, out[n++] = 0;                     /* compression: null */
	if (exts) {
		put16(out + n, exts_len), n += 2;
		memcpy(out + n, exts, exts_len), n += exts_len;
	}
	out[0] = 22, out[1] = 3, out[2] = 1;
	put16(out + 3, n - 5);
	out[5] = 1, out[6] = 0;
	put16(out + 7, n - 9);
	return n;
}

/* Appends one extension to e (at *n). */
static void ext(uint8_t *e, size_t *n, unsigned type, const void *data, size_t len)
{
	put16(e + *n, type), put16(e + *n + 2, len);
	if (len)
		memcpy(e + *n + 4, data, len);
	*n += 4 + len;
}

/* server_name data with one host_name. */
static size_t sni_data(uint8_t *d, const char *name, size_t len)
{
	put16(d, len + 3), d[2] = 0, put16(d + 3, len);
	memcpy(d + 5, name, len);
	return len + 5;
}

/* Offset of the first occurrence of str in b, or len. */
static size_t find(const uint8_t *b, size_t len, const char *str)
{
	size_t n = strlen(str);
	for (size_t i = 0; i + n <= len; i++)
		if (memcmp(b + i, str, n) == 0)
			return i;
	return len;
}

static enum hello_status parse_exts(const uint8_t *e, size_t n, struct hello_info *h)
{
	size_t len = build_hello(buf, e, n);
	return hello_parse(buf, len, MAX_LEN, h);
}

static enum hello_status parse_sni(const char *name, size_t len, struct hello_info *h)
{
	uint8_t d[300], e[320];
	size_t n = 0;
	ext(e, &n, 0, d, sni_data(d, name, len));
	return parse_exts(e, n, h);
}

static void check_sample(const struct hello_sample *s, const struct hello_info *h)
{
	assert_int_equal(h->legacy_version, 0x0303);
	assert_int_equal(h->has_sni, s->sni != NULL);
	if (s->sni) {
		assert_string_equal(h->sni, s->sni);
		assert_int_equal(h->sni_len, strlen(s->sni));
	}
	assert_int_equal(h->n_alpn, s->n_alpn);
	for (unsigned i = 0; i < s->n_alpn; i++) {
		assert_string_equal(h->alpn[i], s->alpn[i]);
		assert_int_equal(h->alpn_len[i], strlen(s->alpn[i]));
		assert_true(hello_offers_alpn(h, s->alpn[i]));
	}
	assert_int_equal(h->offers_tls13, s->tls13);
}

static void test_samples_parse(void **state)
{
	(void)state;
	for (size_t i = 0; i < N_SAMPLES; i++) {
		const struct hello_sample *s = &hello_samples[i];
		struct hello_info h;
		print_message("%s\n", s->name);
		assert_int_equal(hello_parse(s->bytes, s->len, MAX_LEN, &h), HELLO_OK);
		check_sample(s, &h);
		/* The exact size is enough; bytes after the hello's record are not read. */
		assert_int_equal(hello_parse(s->bytes, s->len, s->len, &h), HELLO_OK);
		memcpy(buf, s->bytes, s->len);
		memcpy(buf + s->len, "\x14\x03\x03\x00\x01\x01GET /", 11);
		assert_int_equal(hello_parse(buf, s->len + 11, MAX_LEN, &h), HELLO_OK);
		check_sample(s, &h);
	}
}

/* Every prefix needs more, never OK, and leaves *out alone. */
static void test_sample_prefixes(void **state)
{
	(void)state;
	struct hello_info h, orig;
	memset(&orig, 0x5a, sizeof(orig));
	for (size_t i = 0; i < N_SAMPLES; i++) {
		const struct hello_sample *s = &hello_samples[i];
		for (size_t n = 0; n < s->len; n++) {
			h = orig;
			assert_int_equal(hello_parse(s->bytes, n, MAX_LEN, &h), HELLO_NEED_MORE);
			assert_int_equal(hello_parse(s->bytes, n, s->len, &h), HELLO_NEED_MORE);
			assert_memory_equal(&h, &orig, sizeof(h));
		}
	}
}

/* A one-record sample cut into two records at every point, the handshake
 * header included, parses the same. */
static void test_split_records(void **state)
{
	(void)state;
	for (size_t i = 0; i < N_SAMPLES; i++) {
		const struct hello_sample *s = &hello_samples[i];
		size_t frag = s->len - 5;
		if (s->records != 1)
			continue;
		for (size_t cut = 1; cut < frag; cut++) {
			struct hello_info h;
			memcpy(buf, s->bytes, 5 + cut);
			put16(buf + 3, cut);
			memcpy(buf + 5 + cut, "\x16\x03\x03", 3);
			put16(buf + 8 + cut, frag - cut);
			memcpy(buf + 10 + cut, s->bytes + 5 + cut, frag - cut);
			assert_int_equal(hello_parse(buf, s->len + 5, MAX_LEN, &h), HELLO_OK);
			check_sample(s, &h);
			assert_int_equal(hello_parse(buf, s->len + 4, MAX_LEN, &h), HELLO_NEED_MORE);
			assert_int_equal(hello_parse(buf, s->len + 5, s->len + 4, &h), HELLO_MALFORMED);
			/* An alert between the two halves is interleaving. */
			buf[5 + cut] = 21;
			assert_int_equal(hello_parse(buf, s->len + 5, MAX_LEN, &h), HELLO_MALFORMED);
		}
	}
}

static void test_not_tls(void **state)
{
	(void)state;
	static const uint8_t stun_binding[20] = {
		0x00, 0x01, 0x00, 0x00, 0x21, 0x12, 0xa4, 0x42, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12 };
	static const uint8_t stun_response[4] = { 0x01, 0x01, 0x00, 0x0c };
	static const uint8_t channel_data[8] = { 0x40, 0x00, 0x00, 0x04, 'p', 'i', 'n', 'g' };
	/* SSLv2-compatible CLIENT-HELLO header (RFC 5246 appendix E.2). */
	static const uint8_t sslv2[11] = { 0x80, 0x2e, 0x01, 0x03, 0x01, 0x00, 0x15, 0, 0, 0, 0x10 };
	struct hello_info h;

	assert_int_equal(hello_parse((const uint8_t *)"GET / HTTP/1.1\r\n", 16, MAX_LEN, &h),
			 HELLO_NOT_TLS);
	assert_int_equal(hello_parse((const uint8_t *)"G", 1, MAX_LEN, &h), HELLO_NOT_TLS);
	assert_int_equal(hello_parse((const uint8_t *)"PRI * HTTP/2.0", 14, MAX_LEN, &h),
			 HELLO_NOT_TLS);
	assert_int_equal(hello_parse(stun_binding, 20, MAX_LEN, &h), HELLO_NOT_TLS);
	assert_int_equal(hello_parse(stun_binding, 1, MAX_LEN, &h), HELLO_NOT_TLS);
	assert_int_equal(hello_parse(stun_response, 4, MAX_LEN, &h), HELLO_NOT_TLS);
	assert_int_equal(hello_parse(channel_data, 8, MAX_LEN, &h), HELLO_NOT_TLS);
	assert_int_equal(hello_parse(sslv2, 11, MAX_LEN, &h), HELLO_NOT_TLS);
	/* Other TLS record types cannot open a connection either. */
	assert_int_equal(hello_parse((const uint8_t *)"\x15\x03\x03\x00\x02\x02\x28", 7,
				     MAX_LEN, &h), HELLO_NOT_TLS);
	assert_int_equal(hello_parse((const uint8_t *)"", 0, MAX_LEN, &h), HELLO_NEED_MORE);
}

/* Record headers fail as soon as the bad byte is visible. */
static void test_bad_records(void **state)
{
	(void)state;
	struct hello_info h;
	static const struct { const char *bytes; size_t len; } bad[] = {
		{ "\x16\x02", 2 },                  /* not 3.x */
		{ "\x16\x03\x00", 3 },              /* SSL 3.0 */
		{ "\x16\x03\x05", 3 },
		{ "\x16\x03\x01\x41", 4 },          /* > 16384 */
		{ "\x16\x03\x01\x40\x01", 5 },
		{ "\x16\x03\x01\x00\x00", 5 },      /* empty fragment */
		{ "\x16\x03\x01\x00\x30\x02", 6 },  /* ServerHello */
		{ "\x16\x03\x03\x00\x30\x00", 6 },  /* HelloRequest */
		/* The hello (0x26 bytes) ends before its record (0x30 bytes). */
		{ "\x16\x03\x03\x00\x30\x01\x00\x00\x26", 9 },
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(hello_parse((const uint8_t *)bad[i].bytes, bad[i].len, MAX_LEN, &h),
				 HELLO_MALFORMED);
	/* 16384 is the largest record, 0x0304 the highest version accepted. */
	assert_int_equal(hello_parse((const uint8_t *)"\x16\x03\x04\x40\x00\x01", 6, 1 << 20, &h),
			 HELLO_NEED_MORE);
}

static void test_max_len(void **state)
{
	(void)state;
	struct hello_info h;
	const struct hello_sample *s = &hello_samples[0];

	assert_int_equal(hello_parse(s->bytes, s->len, s->len - 1, &h), HELLO_MALFORMED);
	/* Known from the record header, or from the handshake header. */
	assert_int_equal(hello_parse(s->bytes, 5, s->len - 1, &h), HELLO_MALFORMED);
	assert_int_equal(hello_parse((const uint8_t *)"\x16\x03\x01\x00\x30\x01\x01\x00\x00", 9,
				     1000, &h), HELLO_MALFORMED);
	assert_int_equal(hello_parse((const uint8_t *)"\x16\x03\x01\x00\x30", 5, 4, &h),
			 HELLO_MALFORMED);
	/* Never NEED_MORE once max_len bytes are buffered. */
	for (size_t i = 0; i < N_SAMPLES; i++) {
		s = &hello_samples[i];
		for (size_t max = 0; max < s->len; max++)
			for (size_t n = max; n <= s->len; n += 7)
				assert_int_equal(hello_parse(s->bytes, n, max, &h), HELLO_MALFORMED);
	}
	/* A split hello needs room for the second record header too. */
	s = &hello_samples[0];
	size_t frag = s->len - 5, cut = 100;
	memcpy(buf, s->bytes, 5 + cut);
	put16(buf + 3, cut);
	memcpy(buf + 5 + cut, "\x16\x03\x03", 3);
	put16(buf + 8 + cut, frag - cut);
	memcpy(buf + 10 + cut, s->bytes + 5 + cut, frag - cut);
	assert_int_equal(hello_parse(buf, s->len + 5, s->len + 5, &h), HELLO_OK);
	assert_int_equal(hello_parse(buf, 5 + cut, s->len + 5, &h), HELLO_NEED_MORE);
	assert_int_equal(hello_parse(buf, 5 + cut, s->len + 4, &h), HELLO_MALFORMED);
}

/* Lengths inside the body that disagree with each other. */
static void test_corrupted_lengths(void **state)
{
	(void)state;
	struct hello_info h, orig;
	uint8_t e[64];
	size_t n = 0, len;
	ext(e, &n, 0xff01, "\x00", 1);
	memset(&orig, 0x5a, sizeof(orig));

	len = build_hello(buf, e, n);
	assert_int_equal(hello_parse(buf, len, MAX_LEN, &h), HELLO_OK);
	static const struct { size_t off; uint8_t val; } bad[] = {
		{ 43, 33 },                      /* session id > 32 */
		{ 43, 1 },                       /* session id eats into the suites */
		{ 45, 3 },                       /* odd cipher suites length */
		{ 45, 0 },                       /* no cipher suite */
		{ 48, 0 },                       /* no compression method */
		{ 48, 2 },
		{ 51, 6 },                       /* extensions block short of the end */
		{ 51, 4 },
		{ 51, 0 },
		{ 55, 2 },                       /* extension longer than its block */
		{ 55, 0 },                       /* ... shorter */
		{ 9, 0x02 },                     /* legacy_version 2.x */
		{ 10, 0x00 },                    /* SSL 3.0 */
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		len = build_hello(buf, e, n);
		buf[bad[i].off] = bad[i].val;
		h = orig;
		assert_int_equal(hello_parse(buf, len, MAX_LEN, &h), HELLO_MALFORMED);
		assert_memory_equal(&h, &orig, sizeof(h));
	}
	/* Handshake length beyond the record: waits for the next record... */
	len = build_hello(buf, e, n);
	buf[8]++;
	assert_int_equal(hello_parse(buf, len, MAX_LEN, &h), HELLO_NEED_MORE);
	/* ...and a trailing byte inside the body is malformed. */
	len = build_hello(buf, e, n);
	buf[len] = 0, buf[8]++, buf[4]++;
	assert_int_equal(hello_parse(buf, len + 1, MAX_LEN, &h), HELLO_MALFORMED);
	/* Handshake length short of the record. */
	len = build_hello(buf, e, n);
	buf[8]--;
	assert_int_equal(hello_parse(buf, len, MAX_LEN, &h), HELLO_MALFORMED);

	/* The same on a real hello: every length byte of the handshake header. */
	for (size_t i = 0; i < N_SAMPLES; i++) {
		const struct hello_sample *s = &hello_samples[i];
		if (s->records != 1)
			continue;
		size_t hs = (size_t)s->bytes[6] << 16 | (size_t)s->bytes[7] << 8 | s->bytes[8];
		memcpy(buf, s->bytes, s->len);
		buf[6] = (uint8_t)((hs - 1) >> 16), put16(buf + 7, (hs - 1) & 0xffff);
		assert_int_equal(hello_parse(buf, s->len, MAX_LEN, &h), HELLO_MALFORMED);
		memcpy(buf, s->bytes, s->len);
		buf[6] = 1;
		assert_int_equal(hello_parse(buf, s->len, MAX_LEN, &h), HELLO_MALFORMED);
	}
}

static void test_no_extensions(void **state)
{
	(void)state;
	struct hello_info h;
	size_t len = build_hello(buf, NULL, 0);

	buf[10] = 0x01;                  /* a TLS 1.0 client */
	assert_int_equal(hello_parse(buf, len, MAX_LEN, &h), HELLO_OK);
	assert_int_equal(h.legacy_version, 0x0301);
	assert_false(h.has_sni);
	assert_int_equal(h.n_alpn, 0);
	assert_false(h.offers_tls13);
	/* An empty extensions block is well-formed too. */
	assert_int_equal(parse_exts((const uint8_t *)"", 0, &h), HELLO_OK);
}

static void test_sni_valid(void **state)
{
	(void)state;
	struct hello_info h;
	char name[300];

	assert_int_equal(parse_sni("A-B.Example.COM", 15, &h), HELLO_OK);
	assert_true(h.has_sni);
	assert_string_equal(h.sni, "a-b.example.com");
	assert_int_equal(h.sni_len, 15);
	assert_int_equal(parse_sni("localhost", 9, &h), HELLO_OK);
	assert_string_equal(h.sni, "localhost");
	/* 253 bytes in labels of 63: the longest name. */
	memset(name, 'x', sizeof(name));
	for (size_t i = 63; i < 253; i += 64)
		name[i] = '.';
	assert_int_equal(parse_sni(name, 253, &h), HELLO_OK);
	assert_int_equal(h.sni_len, 253);
	assert_int_equal(strlen(h.sni), 253);
}

static void test_sni_malformed(void **state)
{
	(void)state;
	struct hello_info h;
	char name[300];
	static const char *const bad[] = {
		"exa mple.com", "a..b", ".a", "a.", ".", "a_b.example", "[::1]", "::1",
		"caf\xc3\xa9.fr", "host:443", "a/b", "*.example.org", "a\tb",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(parse_sni(bad[i], strlen(bad[i]), &h), HELLO_MALFORMED);
	assert_int_equal(parse_sni("a\0b", 3, &h), HELLO_MALFORMED);
	assert_int_equal(parse_sni("", 0, &h), HELLO_MALFORMED);
	memset(name, 'x', sizeof(name));
	for (size_t i = 63; i < 254; i += 64)
		name[i] = '.';
	assert_int_equal(parse_sni(name, 254, &h), HELLO_MALFORMED);  /* too long */
	memset(name, 'x', 64);
	assert_int_equal(parse_sni(name, 64, &h), HELLO_MALFORMED);   /* label of 64 */
	assert_int_equal(parse_sni(name, 63, &h), HELLO_OK);

	/* Structure: empty list, list length off by one, empty extension. */
	uint8_t e[64], d[32];
	size_t n = 0;
	ext(e, &n, 0, "\x00\x00", 2);
	assert_int_equal(parse_exts(e, n, &h), HELLO_MALFORMED);
	n = 0;
	ext(e, &n, 0, NULL, 0);
	assert_int_equal(parse_exts(e, n, &h), HELLO_MALFORMED);
	size_t dl = sni_data(d, "ab.cd", 5);
	d[1]++;
	n = 0;
	ext(e, &n, 0, d, dl);
	assert_int_equal(parse_exts(e, n, &h), HELLO_MALFORMED);
	/* A name not in a DNS form is malformed on a real hello as well. */
	const struct hello_sample *s = &hello_samples[0];
	size_t at = find(s->bytes, s->len, s->sni);
	assert_true(at < s->len);
	memcpy(buf, s->bytes, s->len);
	buf[at + 1] = '_';
	assert_int_equal(hello_parse(buf, s->len, MAX_LEN, &h), HELLO_MALFORMED);
	buf[at + 1] = 'U';
	assert_int_equal(hello_parse(buf, s->len, MAX_LEN, &h), HELLO_OK);
	assert_string_equal(h.sni, s->sni);
}

/* Several names: the first host_name wins, other types are skipped. */
static void test_sni_several_names(void **state)
{
	(void)state;
	struct hello_info h;
	uint8_t e[64];
	size_t n = 0;
	static const uint8_t d[] = {
		0x00, 0x15,
		0x07, 0x00, 0x03, 'x', '#', 'y',        /* unknown name type */
		0x00, 0x00, 0x04, 'f', 'i', 'r', 's',
		0x00, 0x00, 0x05, 's', 'e', 'c', 'o', 'n',
	};
	ext(e, &n, 0, d, sizeof(d));
	assert_int_equal(parse_exts(e, n, &h), HELLO_OK);
	assert_true(h.has_sni);
	assert_string_equal(h.sni, "firs");
	/* Only unknown types: no SNI. */
	n = 0;
	ext(e, &n, 0, "\x00\x06\x07\x00\x03x#y", 8);
	assert_int_equal(parse_exts(e, n, &h), HELLO_OK);
	assert_false(h.has_sni);
}

static void test_alpn(void **state)
{
	(void)state;
	struct hello_info h;
	uint8_t e[600], d[512];
	size_t n = 0, dl = 2;

	/* 32-byte name skipped, 31-byte kept, then p0..p9: the first 8 kept. */
	d[dl++] = 32, memset(d + dl, 'L', 32), dl += 32;
	d[dl++] = 31, memset(d + dl, 'k', 31), dl += 31;
	for (int i = 0; i < 10; i++)
		d[dl++] = 2, d[dl++] = 'p', d[dl++] = (uint8_t)('0' + i);
	put16(d, dl - 2);
	ext(e, &n, 16, d, dl);
	assert_int_equal(parse_exts(e, n, &h), HELLO_OK);
	assert_int_equal(h.n_alpn, 8);
	assert_int_equal(h.alpn_len[0], 31);
	assert_int_equal(strlen(h.alpn[0]), 31);
	assert_string_equal(h.alpn[1], "p0");
	assert_string_equal(h.alpn[7], "p6");
	assert_true(hello_offers_alpn(&h, "p6"));
	assert_false(hello_offers_alpn(&h, "p7"));
	assert_false(hello_offers_alpn(&h, "p"));
	assert_false(hello_offers_alpn(&h, "p00"));
	assert_false(hello_offers_alpn(&h, ""));

	/* An empty name, an empty list, a list length off by one. */
	n = 0;
	ext(e, &n, 16, "\x00\x04\x02h2\x00", 6);
	assert_int_equal(parse_exts(e, n, &h), HELLO_MALFORMED);
	n = 0;
	ext(e, &n, 16, "\x00\x00", 2);
	assert_int_equal(parse_exts(e, n, &h), HELLO_MALFORMED);
	n = 0;
	ext(e, &n, 16, "\x00\x04\x02h2", 5);
	assert_int_equal(parse_exts(e, n, &h), HELLO_MALFORMED);
	n = 0;
	ext(e, &n, 16, "\x00\x03\x03h2", 5);
	assert_int_equal(parse_exts(e, n, &h), HELLO_MALFORMED);
	/* Exact match only: "h2" does not match a name "h2\0x". */
	n = 0;
	ext(e, &n, 16, "\x00\x05\x04h2\x00x", 7);
	assert_int_equal(parse_exts(e, n, &h), HELLO_OK);
	assert_int_equal(h.alpn_len[0], 4);
	assert_false(hello_offers_alpn(&h, "h2"));
}

static void test_supported_versions(void **state)
{
	(void)state;
	struct hello_info h;
	uint8_t e[64];
	size_t n = 0;

	ext(e, &n, 43, "\x04\x03\x04\x03\x03", 5);
	assert_int_equal(parse_exts(e, n, &h), HELLO_OK);
	assert_true(h.offers_tls13);
	n = 0;
	ext(e, &n, 43, "\x04\x7f\x1c\x03\x03", 5);   /* a draft and 1.2 */
	assert_int_equal(parse_exts(e, n, &h), HELLO_OK);
	assert_false(h.offers_tls13);
	static const struct { const char *d; size_t len; } bad[] = {
		{ "\x03\x03\x04\x03", 4 }, { "\x00", 1 }, { "", 0 }, { "\x04\x03\x04", 3 },
		{ "\x02\x03\x04\x00", 4 },
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		n = 0;
		ext(e, &n, 43, bad[i].d, bad[i].len);
		assert_int_equal(parse_exts(e, n, &h), HELLO_MALFORMED);
	}
}

static void test_duplicates_and_order(void **state)
{
	(void)state;
	struct hello_info h;
	uint8_t e[1024], d[32];
	size_t n = 0, dl = sni_data(d, "a.b", 3);

	ext(e, &n, 0, d, dl);
	ext(e, &n, 0, d, dl);
	assert_int_equal(parse_exts(e, n, &h), HELLO_MALFORMED);
	n = 0;
	ext(e, &n, 0x1234, NULL, 0);
	ext(e, &n, 0, d, dl);
	ext(e, &n, 0x1234, NULL, 0);
	assert_int_equal(parse_exts(e, n, &h), HELLO_MALFORMED);
	/* pre_shared_key (41) must come last. */
	n = 0;
	ext(e, &n, 41, "\x00", 1);
	ext(e, &n, 0, d, dl);
	assert_int_equal(parse_exts(e, n, &h), HELLO_MALFORMED);
	n = 0;
	ext(e, &n, 0, d, dl);
	ext(e, &n, 41, "\x00", 1);
	assert_int_equal(parse_exts(e, n, &h), HELLO_OK);
	/* HELLO_MAX_EXTENSIONS distinct ones pass, one more does not. */
	n = 0;
	for (unsigned t = 0; t < HELLO_MAX_EXTENSIONS; t++)
		ext(e, &n, 0x1000 + t, NULL, 0);
	assert_int_equal(parse_exts(e, n, &h), HELLO_OK);
	ext(e, &n, 0x2000, NULL, 0);
	assert_int_equal(parse_exts(e, n, &h), HELLO_MALFORMED);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_samples_parse),
		cmocka_unit_test(test_sample_prefixes),
		cmocka_unit_test(test_split_records),
		cmocka_unit_test(test_not_tls),
		cmocka_unit_test(test_bad_records),
		cmocka_unit_test(test_max_len),
		cmocka_unit_test(test_corrupted_lengths),
		cmocka_unit_test(test_no_extensions),
		cmocka_unit_test(test_sni_valid),
		cmocka_unit_test(test_sni_malformed),
		cmocka_unit_test(test_sni_several_names),
		cmocka_unit_test(test_alpn),
		cmocka_unit_test(test_supported_versions),
		cmocka_unit_test(test_duplicates_and_order),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
