/* Test helper: writes an RTP stream protected with libsrtp2 (SRTP,
 * AES_CM_128_HMAC_SHA1_80, the fixed test key below) to stdout, each packet
 * as a 2-byte big-endian length and its bytes. The integration tests
 * (tests/integration/test_media.py) relay these through ternd with loss,
 * reordering, duplicates and jitter of their own choosing, so the timing is
 * theirs and the packets are real SRTP.
 *
 *   srtp_gen [--ssrc N] [--count N] [--seq N] [--ts N] [--ts-step N] [--pt N]
 *            [--size BYTES] [--plain]
 *
 * --plain writes the RTP packets unprotected. Test tool: never installed. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <srtp2/srtp.h>

static const uint8_t test_key[30] = {
	0x54, 0x65, 0x72, 0x6e, 0x20, 0x73, 0x72, 0x74, 0x70, 0x20, 0x74, 0x65, 0x73, 0x74, 0x20,
	0x6b, 0x65, 0x79, 0x20, 0x30, 0x31, 0x32, 0x33, 0x34, 0x35, 0x36, 0x37, 0x38, 0x39, 0x21,
};

struct opts {
	uint32_t ssrc, count, seq, ts, ts_step, pt, size;
	int plain;
};

static int parse(int argc, char **argv, struct opts *o)
{
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--plain")) {
			o->plain = 1;
			continue;
		}
		if (i + 1 >= argc)
			return -1;
		uint32_t v = (uint32_t)strtoul(argv[i + 1], NULL, 0);
		const char *k = argv[i++];
		if (!strcmp(k, "--ssrc")) o->ssrc = v;
		else if (!strcmp(k, "--count")) o->count = v;
		else if (!strcmp(k, "--seq")) o->seq = v;
		else if (!strcmp(k, "--ts")) o->ts = v;
		else if (!strcmp(k, "--ts-step")) o->ts_step = v;
		else if (!strcmp(k, "--pt")) o->pt = v;
		else if (!strcmp(k, "--size")) o->size = v;
		else return -1;
	}
	return o->size < 12 || o->size > 1200 || o->pt > 127 ? -1 : 0;
}

static void put_packet(const uint8_t *p, int len)
{
	uint8_t hdr[2] = { (uint8_t)(len >> 8), (uint8_t)len };
	fwrite(hdr, 1, 2, stdout);
	fwrite(p, 1, (size_t)len, stdout);
}

int main(int argc, char **argv)
{
	struct opts o = { .ssrc = 0x5eed0001, .count = 100, .ts_step = 960, .pt = 111, .size = 172 };
	if (parse(argc, argv, &o) < 0) {
		fprintf(stderr, "usage: srtp_gen [--ssrc N] [--count N] [--seq N] [--ts N] "
			"[--ts-step N] [--pt N] [--size 12..1200] [--plain]\n");
		return 2;
	}
	srtp_t session = NULL;
	srtp_policy_t pol;
	memset(&pol, 0, sizeof(pol));
	srtp_crypto_policy_set_aes_cm_128_hmac_sha1_80(&pol.rtp);
	srtp_crypto_policy_set_aes_cm_128_hmac_sha1_80(&pol.rtcp);
	pol.ssrc.type = ssrc_any_outbound;
	pol.key = (unsigned char *)test_key;
	pol.window_size = 1024;
	if (srtp_init() != srtp_err_status_ok || srtp_create(&session, &pol) != srtp_err_status_ok) {
		fprintf(stderr, "srtp_gen: libsrtp2 setup failed\n");
		return 1;
	}
	uint8_t p[1200 + SRTP_MAX_TRAILER_LEN];
	for (uint32_t i = 0; i < o.count; i++) {
		uint16_t seq = (uint16_t)(o.seq + i);
		uint32_t ts = o.ts + i * o.ts_step;
		memset(p, 0, sizeof(p));
		p[0] = 0x80;
		p[1] = (uint8_t)o.pt;
		p[2] = (uint8_t)(seq >> 8);
		p[3] = (uint8_t)seq;
		for (int b = 0; b < 4; b++) {
			p[4 + b] = (uint8_t)(ts >> (24 - 8 * b));
			p[8 + b] = (uint8_t)(o.ssrc >> (24 - 8 * b));
		}
		for (uint32_t b = 12; b < o.size; b++)
			p[b] = (uint8_t)(i + b);
		int len = (int)o.size;
		if (!o.plain && srtp_protect(session, p, &len) != srtp_err_status_ok) {
			fprintf(stderr, "srtp_gen: srtp_protect failed at packet %u\n", i);
			return 1;
		}
		put_packet(p, len);
	}
	srtp_dealloc(session);
	srtp_shutdown();
	return fflush(stdout) == 0 ? 0 : 1;
}
