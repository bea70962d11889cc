/* ternctl probe: checks a relay end to end the way a call uses it. Mints a
 * credential from the config's secrets (like `ternctl mint`), allocates
 * over UDP, TCP or TLS, binds a channel to a UDP peer that this process
 * runs itself, and sends an SRTP stream (libsrtp2, AES_CM_128_HMAC_SHA1_80)
 * through the relay. The peer unprotects each packet and sends it back,
 * protected again under its own SSRC, so the probe measures round-trip
 * time, loss and interarrival jitter of the echoed stream, and fails the
 * check when any goes past its threshold or the relay cannot be used at all.
 *
 * Like WebRTC, the flow is keyed with DTLS-SRTP (RFC 5764): a real DTLS 1.2
 * handshake between the client and the peer, through the relay, before any
 * SRTP (ternctl_probe_keying.c), so a relay with media.policy = enforce
 * relays the probe as it relays calls, and a relay that allocates but does
 * not carry the flow fails already there. --plain skips the handshake and
 * uses a fixed test key, the way an SDES or plain-RTP flow looks.
 *
 * Output: human-readable, --json, or --prometheus (the text format of
 * node_exporter's textfile collector; --output writes it atomically).
 * Exit status: 0 the relay passed, 1 it failed (or could not be probed),
 * 2 usage error. */
#include "auth/ternctl_probe.h"

#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <srtp2/srtp.h>

#include "auth/cred.h"
#include "auth/ternctl_probe_dtls.h"
#include "common/monotime.h"
#include "common/sockaddr.h"
#include "conf/config.h"

#define PROBE_DEFAULT_CONFIG "/etc/tern/ternd.conf"
#define PROBE_CHANNEL        0x4000
#define PROBE_MAX_PACKETS    10000
#define PROBE_PAYLOAD        160      /* an Opus-sized 20 ms frame */
#define PROBE_CLOCK          48000
#define SSRC_OUT             0x7e570001u
#define SSRC_ECHO            0x7e570002u

enum { PX_OK = 0, PX_FAIL = 1, PX_USAGE = 2 };
enum probe_format { PF_HUMAN, PF_JSON, PF_PROMETHEUS };

/* --plain only: the key SDES would have sent through signalling. */
static const uint8_t plain_key[PROBE_SRTP_KEYSALT] = {
	0x54, 0x65, 0x72, 0x6e, 0x20, 0x73, 0x72, 0x74, 0x70, 0x20, 0x74, 0x65, 0x73, 0x74, 0x20,
	0x6b, 0x65, 0x79, 0x20, 0x30, 0x31, 0x32, 0x33, 0x34, 0x35, 0x36, 0x37, 0x38, 0x39, 0x21,
};

struct probe_opts {
	const char *config, *server, *peer_address, *user, *output;
	bool plain;                     /* no DTLS handshake first */
	enum probe_transport transport;
	struct probe_tls_opts tls;
	int count, interval_ms, timeout_ms;
	double max_loss, max_rtt_ms, max_jitter_ms;
	enum probe_format format;
};

struct probe_result {
	char error[256];                /* "" when the stream ran */
	int sent, received, auth_failures;
	bool dtls;                      /* the stream was keyed by DTLS-SRTP */
	double handshake_ms;
	double loss, rtt_p50, rtt_p95, rtt_max, jitter_ms;
	bool passed;
	char failed[160];               /* which thresholds */
};

void probe_help(FILE *out)
{
	fprintf(out,
		"Usage: ternctl probe [options]\n"
		"\n"
		"Allocates on a relay with a credential minted from the config's secrets,\n"
		"sends an SRTP stream through it to a UDP peer run by the probe, which\n"
		"echoes it back, and reports round-trip time, loss and jitter. Exits 1 when\n"
		"the relay fails the check.\n"
		"\n"
		"  --config FILE        daemon config: secrets, realm, listeners (default %s)\n"
		"  --transport T        udp, tcp or tls (default udp)\n"
		"  --server IP:PORT     relay address (default: the config's first listener\n"
		"                       of that transport; a wildcard becomes loopback)\n"
		"  --peer-address IP    address the probe's peer binds to; the relay's peer\n"
		"                       policy must allow it (default: our address toward\n"
		"                       the relay)\n"
		"  --user ID            user id of the minted credential (default tern-probe)\n"
		"  --plain              no DTLS-SRTP handshake: a fixed key, as SDES or plain\n"
		"                       RTP flows look (media.policy = enforce drops them)\n"
		"  --count N            packets to send, 1..%d (default 100)\n"
		"  --interval MS        between packets, 1..1000 (default 20)\n"
		"  --timeout MS         connect/answer and final wait, 100..60000 (default 2000)\n"
		"  --max-loss RATIO     fail above this loss, 0..1 (default 0.02)\n"
		"  --max-rtt-ms MS      fail when the 95th percentile RTT is above (default 250)\n"
		"  --max-jitter-ms MS   fail when jitter is above (default 30)\n"
		"  --tls-ca FILE        CA certificates for TLS (default: the system's)\n"
		"  --tls-name NAME      TLS server name (SNI and certificate check)\n"
		"  --tls-insecure       do not check the certificate\n"
		"  --json               print one JSON object\n"
		"  --prometheus         print the node_exporter textfile format\n"
		"  --output FILE        write the output to FILE atomically (tmp + rename)\n"
		"  -h, --help           this text\n"
		"\n"
		"Exit status: 0 passed, 1 failed or could not probe, 2 usage error.\n",
		PROBE_DEFAULT_CONFIG, PROBE_MAX_PACKETS);
}

/* ---- options ---------------------------------------------------------------- */

enum { O_CONFIG = 300, O_TRANSPORT, O_SERVER, O_PEER, O_USER, O_COUNT, O_INTERVAL, O_TIMEOUT,
       O_MAX_LOSS, O_MAX_RTT, O_MAX_JITTER, O_CA, O_NAME, O_INSECURE, O_JSON, O_PROM, O_OUTPUT,
       O_PLAIN };

static const struct option probe_longopts[] = {
	{ "config", required_argument, NULL, O_CONFIG },
	{ "transport", required_argument, NULL, O_TRANSPORT },
	{ "server", required_argument, NULL, O_SERVER },
	{ "peer-address", required_argument, NULL, O_PEER },
	{ "user", required_argument, NULL, O_USER },
	{ "count", required_argument, NULL, O_COUNT },
	{ "interval", required_argument, NULL, O_INTERVAL },
	{ "timeout", required_argument, NULL, O_TIMEOUT },
	{ "max-loss", required_argument, NULL, O_MAX_LOSS },
	{ "max-rtt-ms", required_argument, NULL, O_MAX_RTT },
	{ "max-jitter-ms", required_argument, NULL, O_MAX_JITTER },
	{ "tls-ca", required_argument, NULL, O_CA },
	{ "tls-name", required_argument, NULL, O_NAME },
	{ "tls-insecure", no_argument, NULL, O_INSECURE },
	{ "json", no_argument, NULL, O_JSON },
	{ "prometheus", no_argument, NULL, O_PROM },
	{ "output", required_argument, NULL, O_OUTPUT },
	{ "plain", no_argument, NULL, O_PLAIN },
	{ "help", no_argument, NULL, 'h' },
	{ NULL, 0, NULL, 0 },
};

static int usage(const char *fmt, const char *arg)
{
	fputs("ternctl probe: ", stderr);
	fprintf(stderr, fmt, arg);
	fputs("\n", stderr);
	return PX_USAGE;
}

static bool num(const char *s, double lo, double hi, double *out)
{
	char *end;
	errno = 0;
	double v = strtod(s, &end);
	if (errno || end == s || *end || v < lo || v > hi)
		return false;
	*out = v;
	return true;
}

static int int_opt(const char *arg, int lo, int hi, int *out, const char *name)
{
	double v;
	if (!num(arg, lo, hi, &v) || v != (int)v)
		return usage(name, arg);
	*out = (int)v;
	return -1;
}

static int dbl_opt(const char *arg, double lo, double hi, double *out, const char *name)
{
	return num(arg, lo, hi, out) ? -1 : usage(name, arg);
}

/* -1 to go on, else an exit code. */
static int probe_opt(struct probe_opts *o, int c, const char *arg)
{
	switch (c) {
	case O_CONFIG: o->config = arg; return -1;
	case O_SERVER: o->server = arg; return -1;
	case O_PEER: o->peer_address = arg; return -1;
	case O_USER: o->user = arg; return -1;
	case O_OUTPUT: o->output = arg; return -1;
	case O_CA: o->tls.ca_file = arg; return -1;
	case O_NAME: o->tls.server_name = arg; return -1;
	case O_INSECURE: o->tls.insecure = true; return -1;
	case O_PLAIN: o->plain = true; return -1;
	case O_JSON: o->format = PF_JSON; return -1;
	case O_PROM: o->format = PF_PROMETHEUS; return -1;
	case 'h': probe_help(stdout); return PX_OK;
	case O_TRANSPORT:
		if (!strcmp(arg, "udp")) o->transport = PROBE_UDP;
		else if (!strcmp(arg, "tcp")) o->transport = PROBE_TCP;
		else if (!strcmp(arg, "tls")) o->transport = PROBE_TLS;
		else return usage("--transport: '%s' is not udp, tcp or tls", arg);
		return -1;
	case O_COUNT: return int_opt(arg, 1, PROBE_MAX_PACKETS, &o->count, "--count: '%s' is not 1..10000");
	case O_INTERVAL: return int_opt(arg, 1, 1000, &o->interval_ms, "--interval: '%s' is not 1..1000 ms");
	case O_TIMEOUT: return int_opt(arg, 100, 60000, &o->timeout_ms, "--timeout: '%s' is not 100..60000 ms");
	case O_MAX_LOSS: return dbl_opt(arg, 0, 1, &o->max_loss, "--max-loss: '%s' is not a ratio 0..1");
	case O_MAX_RTT: return dbl_opt(arg, 0, 60000, &o->max_rtt_ms, "--max-rtt-ms: '%s' is not 0..60000");
	case O_MAX_JITTER: return dbl_opt(arg, 0, 60000, &o->max_jitter_ms, "--max-jitter-ms: '%s' is not 0..60000");
	default: return usage("%stry 'ternctl probe --help'", "");
	}
}

static int probe_parse(int argc, char **argv, struct probe_opts *o)
{
	int c;
	optind = 0;
	opterr = 1;
	while ((c = getopt_long(argc, argv, "h", probe_longopts, NULL)) != -1) {
		int r = probe_opt(o, c, optarg);
		if (r >= 0)
			return r;
	}
	if (optind < argc)
		return usage("unexpected argument '%s'", argv[optind]);
	return -1;
}

/* ---- where to go -------------------------------------------------------------- */

static int pick_server(const struct probe_opts *o, const struct tern_config *c,
		       struct sockaddr_storage *out, char *err, size_t cap)
{
	if (o->server) {
		if (sockaddr_parse(o->server, false, out) < 0 || !sockaddr_port(out))
			return snprintf(err, cap, "--server '%s' is not IP:PORT", o->server), -EINVAL;
		return 0;
	}
	const struct sockaddr_storage *l = o->transport == PROBE_UDP ? (c->n_udp ? &c->udp[0] : NULL)
		: o->transport == PROBE_TCP ? (c->n_tcp ? &c->tcp[0] : NULL) : (c->n_tls ? &c->tls[0] : NULL);
	if (!l)
		return snprintf(err, cap, "the config has no listener for this transport; use --server"),
		       -EINVAL;
	*out = *l;
	size_t len;
	const uint8_t *ip = sockaddr_ip_bytes(out, &len);
	static const uint8_t zero[16];
	if (memcmp(ip, zero, len) == 0) {
		uint8_t lo[16] = { 0 };
		if (len == 4)
			lo[0] = 127, lo[3] = 1;
		else
			lo[15] = 1;
		sockaddr_from_bytes(out, out->ss_family, lo, sockaddr_port(l));
	}
	return 0;
}

/* ---- SRTP ----------------------------------------------------------------------- */

struct srtp_pair {
	srtp_t out, in;
};

/* One end's sessions: `k->out` protects what it sends, `k->in`
 * unprotects what it receives (master key || master salt each). */
static int srtp_pair_new(struct srtp_pair *p, const struct probe_srtp_keys *k)
{
	srtp_policy_t pol;
	memset(&pol, 0, sizeof(pol));
	srtp_crypto_policy_set_aes_cm_128_hmac_sha1_80(&pol.rtp);
	srtp_crypto_policy_set_aes_cm_128_hmac_sha1_80(&pol.rtcp);
	pol.key = (unsigned char *)k->out;
	pol.window_size = 1024;
	pol.ssrc.type = ssrc_any_outbound;
	if (srtp_create(&p->out, &pol) != srtp_err_status_ok)
		return -EINVAL;
	pol.key = (unsigned char *)k->in;
	pol.ssrc.type = ssrc_any_inbound;
	return srtp_create(&p->in, &pol) == srtp_err_status_ok ? 0 : -EINVAL;
}

static void srtp_pair_free(struct srtp_pair *p)
{
	if (p->out)
		srtp_dealloc(p->out);
	if (p->in)
		srtp_dealloc(p->in);
}

static void put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24), p[1] = (uint8_t)(v >> 16), p[2] = (uint8_t)(v >> 8), p[3] = (uint8_t)v;
}

static uint32_t get32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* RTP packet i of the outgoing stream, protected; its length or -1. */
static int make_packet(srtp_t out, uint8_t *p, uint16_t seq, uint32_t ts, uint64_t sent_us)
{
	memset(p, 0, 12 + PROBE_PAYLOAD);
	p[0] = 0x80;
	p[1] = 111;
	p[2] = (uint8_t)(seq >> 8);
	p[3] = (uint8_t)seq;
	put32(p + 4, ts);
	put32(p + 8, SSRC_OUT);
	put32(p + 12, (uint32_t)(sent_us >> 32));
	put32(p + 16, (uint32_t)sent_us);
	int len = 12 + PROBE_PAYLOAD;
	return srtp_protect(out, p, &len) == srtp_err_status_ok ? len : -1;
}

/* ---- the run ------------------------------------------------------------------ */

struct run {
	const struct probe_opts *o;
	struct probe_turn turn;
	int peer_fd;
	struct srtp_pair client, peer;
	uint64_t *sent_us;              /* per seq */
	bool *got;
	double *rtt;
	int n_rtt;
	uint32_t last_ts;
	uint64_t last_arrival;
	double jitter_us;
	bool have_last;
	struct probe_result *res;
};

/* The peer: unprotect, re-protect under its own SSRC, send back. (A late
 * DTLS retransmission is not RTP and fails the length or first-byte test.) */
static void peer_echo(struct run *r)
{
	uint8_t buf[2048];
	struct sockaddr_storage from;
	socklen_t fl = sizeof(from);
	ssize_t n = recvfrom(r->peer_fd, buf, sizeof(buf) - SRTP_MAX_TRAILER_LEN, MSG_DONTWAIT,
			     (struct sockaddr *)&from, &fl);
	if (n < 12 || (buf[0] & 0xc0) != 0x80)
		return;
	int len = (int)n;
	if (srtp_unprotect(r->peer.in, buf, &len) != srtp_err_status_ok) {
		r->res->auth_failures++;
		return;
	}
	put32(buf + 8, SSRC_ECHO);
	if (srtp_protect(r->peer.out, buf, &len) == srtp_err_status_ok)
		sendto(r->peer_fd, buf, (size_t)len, 0, (struct sockaddr *)&from, fl);
}

/* The echo back at the client: RTT from the send time inside the
 * (decrypted) payload, RFC 3550 jitter with the known 48 kHz clock. */
static void client_receive(struct run *r, const uint8_t *data, size_t n)
{
	uint8_t buf[2048];
	if (n < 12 + 8 || n > sizeof(buf) || (data[0] & 0xc0) != 0x80)
		return;
	memcpy(buf, data, n);
	int len = (int)n;
	if (srtp_unprotect(r->client.in, buf, &len) != srtp_err_status_ok || len < 20) {
		r->res->auth_failures++;
		return;
	}
	uint16_t seq = (uint16_t)(buf[2] << 8 | buf[3]);
	uint64_t sent = (uint64_t)get32(buf + 12) << 32 | get32(buf + 16);
	uint64_t now = monotime_us();
	if (seq >= r->o->count || r->got[seq] || r->sent_us[seq] != sent)
		return;
	r->got[seq] = true;
	r->res->received++;
	r->rtt[r->n_rtt++] = (double)(now - sent) / 1000.0;
	uint32_t ts = get32(buf + 4);
	if (r->have_last) {
		double d = (double)(now - r->last_arrival) -
			   (double)(int32_t)(ts - r->last_ts) * 1e6 / PROBE_CLOCK;
		r->jitter_us += ((d < 0 ? -d : d) - r->jitter_us) / 16.0;
	}
	r->have_last = true;
	r->last_ts = ts;
	r->last_arrival = now;
}

/* Everything the relay has sent us that is already here (a stream may hold
 * several frames in the buffer, with no new readiness on the socket). */
static int drain(struct run *r)
{
	for (int i = 0; i < 256; i++) {
		const uint8_t *data = NULL;
		size_t len = 0;
		int got = probe_turn_recv_channel(&r->turn, 0, &data, &len);
		if (got <= 0)
			return got;
		client_receive(r, data, len);
	}
	return 0;
}

static int pump(struct run *r, int wait_ms)
{
	int d = drain(r);
	if (d < 0)
		return d;
	struct pollfd p[2] = { { .fd = r->turn.fd, .events = POLLIN }, { .fd = r->peer_fd, .events = POLLIN } };
	bool pending = r->turn.ssl && SSL_pending(r->turn.ssl);
	if (poll(p, 2, pending ? 0 : wait_ms) < 0)
		return -errno;
	if (p[1].revents & POLLIN)
		peer_echo(r);
	return drain(r);
}

static int stream(struct run *r)
{
	const struct probe_opts *o = r->o;
	uint8_t pkt[12 + PROBE_PAYLOAD + SRTP_MAX_TRAILER_LEN];
	uint64_t start = monotime_us();
	uint32_t ts_step = (uint32_t)(PROBE_CLOCK / 1000 * o->interval_ms);
	for (int i = 0; i < o->count; i++) {
		uint64_t due = start + (uint64_t)i * (uint64_t)o->interval_ms * 1000u;
		for (uint64_t now = monotime_us(); now < due; now = monotime_us()) {
			int rr = pump(r, (int)((due - now + 999) / 1000));
			if (rr < 0)
				return rr;
		}
		r->sent_us[i] = monotime_us();
		int len = make_packet(r->client.out, pkt, (uint16_t)i, (uint32_t)i * ts_step, r->sent_us[i]);
		if (len < 0 || probe_turn_send_channel(&r->turn, PROBE_CHANNEL, pkt, (size_t)len) < 0)
			return -EIO;
		r->res->sent++;
	}
	uint64_t end = monotime_us() + (uint64_t)o->timeout_ms * 1000u;
	while (r->res->received < r->res->sent && monotime_us() < end) {
		int rr = pump(r, 20);
		if (rr < 0)
			return rr;
	}
	return 0;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

static double pct(const double *v, int n, double q)
{
	if (n == 0)
		return 0;
	int i = (int)(q * (n - 1) + 0.5);
	return v[i];
}

static void judge(const struct probe_opts *o, struct probe_result *res, double *rtt, int n)
{
	qsort(rtt, (size_t)n, sizeof(double), cmp_double);
	res->rtt_p50 = pct(rtt, n, 0.5);
	res->rtt_p95 = pct(rtt, n, 0.95);
	res->rtt_max = n ? rtt[n - 1] : 0;
	res->loss = res->sent ? 1.0 - (double)res->received / res->sent : 1.0;
	size_t used = 0;
	res->failed[0] = '\0';
#define FAILED(cond, what) \
	if (cond) used += (size_t)snprintf(res->failed + used, sizeof(res->failed) - used, "%s%s", used ? "," : "", what)
	FAILED(res->error[0], "error");
	FAILED(!res->error[0] && res->loss > o->max_loss, "loss");
	FAILED(!res->error[0] && n && res->rtt_p95 > o->max_rtt_ms, "rtt");
	FAILED(!res->error[0] && n && res->jitter_ms > o->max_jitter_ms, "jitter");
	FAILED(!res->error[0] && res->auth_failures, "srtp_auth");
#undef FAILED
	res->passed = res->failed[0] == '\0';
}

static int open_peer(const struct probe_opts *o, const struct probe_turn *t,
		     struct sockaddr_storage *peer, char *err, size_t cap)
{
	if (o->peer_address) {
		if (sockaddr_parse(o->peer_address, true, peer) < 0)
			return snprintf(err, cap, "--peer-address '%s' is not an IP address",
					o->peer_address), -EINVAL;
	} else {
		*peer = t->local;
	}
	sockaddr_set_port(peer, 0);
	int fd = socket(peer->ss_family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || bind(fd, (struct sockaddr *)peer, sockaddr_len(peer)) < 0) {
		snprintf(err, cap, "cannot bind the probe's peer: %s", strerror(errno));
		if (fd >= 0)
			close(fd);
		return -EADDRNOTAVAIL;
	}
	socklen_t sl = sizeof(*peer);
	getsockname(fd, (struct sockaddr *)peer, &sl);
	return fd;
}

/* The SRTP sessions of both ends: keyed by a DTLS-SRTP handshake through
 * the relay, or (--plain) with the fixed key. */
static int keying(struct run *r)
{
	struct probe_srtp_keys kc, kp;
	struct probe_result *res = r->res;
	if (r->o->plain) {
		memcpy(kc.out, plain_key, sizeof(plain_key));
		memcpy(kc.in, plain_key, sizeof(plain_key));
		kp = kc;
	} else {
		uint64_t t0 = monotime_us();
		if (probe_keying(&r->turn, PROBE_CHANNEL, r->peer_fd, r->o->timeout_ms, &kc, &kp,
				 res->error, sizeof(res->error)) < 0)
			return -EPROTO;
		res->dtls = true;
		res->handshake_ms = (double)(monotime_us() - t0) / 1000.0;
	}
	int e = srtp_pair_new(&r->client, &kc) < 0 || srtp_pair_new(&r->peer, &kp) < 0;
	explicit_bzero(&kc, sizeof(kc));
	explicit_bzero(&kp, sizeof(kp));
	if (e)
		return snprintf(res->error, sizeof(res->error), "libsrtp2 setup failed"), -EINVAL;
	return 0;
}

static void run_probe(const struct probe_opts *o, const struct tern_config *c,
		      struct probe_result *res)
{
	struct run r = { .o = o, .peer_fd = -1, .res = res };
	r.turn.fd = -1;
	char user[CRED_MAX_USERNAME + 1], pass[CRED_PASSWORD_CAP];
	struct sockaddr_storage server, peer;
	r.sent_us = calloc((size_t)o->count, sizeof(*r.sent_us));
	r.got = calloc((size_t)o->count, sizeof(*r.got));
	r.rtt = calloc((size_t)o->count, sizeof(*r.rtt));
	int64_t ttl = c->max_ttl < 600 ? c->max_ttl : 600;
	if (!r.sent_us || !r.got || !r.rtt)
		snprintf(res->error, sizeof(res->error), "out of memory");
	else if (pick_server(o, c, &server, res->error, sizeof(res->error)) < 0)
		;
	else if (cred_mint(&c->secrets, o->user, walltime_s(), ttl, user, sizeof(user), pass) < 0)
		snprintf(res->error, sizeof(res->error), "cannot mint a credential");
	else if (probe_turn_open(&r.turn, o->transport, &server, &o->tls, o->timeout_ms, res->error,
				 sizeof(res->error)) < 0)
		;
	else if ((r.peer_fd = open_peer(o, &r.turn, &peer, res->error, sizeof(res->error))) < 0)
		;
	else if (probe_turn_setup(&r.turn, user, pass, &peer, PROBE_CHANNEL, res->error,
				  sizeof(res->error)) < 0)
		;
	else if (keying(&r) < 0)
		;
	else if (stream(&r) < 0)
		snprintf(res->error, sizeof(res->error), "the connection to the relay failed mid-stream");
	explicit_bzero(pass, sizeof(pass));
	if (r.turn.fd >= 0 && !res->error[0])
		probe_turn_release(&r.turn);
	res->jitter_ms = r.jitter_us / 1000.0;
	judge(o, res, r.rtt, r.n_rtt);
	probe_turn_close(&r.turn);
	if (r.peer_fd >= 0)
		close(r.peer_fd);
	srtp_pair_free(&r.client);
	srtp_pair_free(&r.peer);
	free(r.sent_us);
	free(r.got);
	free(r.rtt);
}

/* ---- output ------------------------------------------------------------------- */

static const char *transport_name(enum probe_transport t)
{
	return t == PROBE_TLS ? "tls" : t == PROBE_TCP ? "tcp" : "udp";
}

static void json_str(FILE *f, const char *s)
{
	fputc('"', f);
	for (; *s; s++) {
		unsigned char ch = (unsigned char)*s;
		if (ch == '"' || ch == '\\')
			fprintf(f, "\\%c", ch);
		else if (ch < 0x20 || ch > 0x7e)
			fprintf(f, "\\u%04x", ch);
		else
			fputc(ch, f);
	}
	fputc('"', f);
}

static void print_json(FILE *f, const struct probe_opts *o, const struct probe_result *r)
{
	fprintf(f, "{\"passed\":%s,\"transport\":\"%s\",\"sent\":%d,\"received\":%d,"
		"\"loss_ratio\":%.4f,\"rtt_ms\":{\"p50\":%.3f,\"p95\":%.3f,\"max\":%.3f},"
		"\"jitter_ms\":%.3f,\"srtp_auth_failures\":%d,\"keying\":\"%s\","
		"\"dtls_handshake_ms\":%.3f,\"failed\":",
		r->passed ? "true" : "false", transport_name(o->transport), r->sent, r->received,
		r->loss, r->rtt_p50, r->rtt_p95, r->rtt_max, r->jitter_ms, r->auth_failures,
		o->plain ? "fixed" : "dtls-srtp", r->handshake_ms);
	json_str(f, r->failed);
	fputs(",\"error\":", f);
	if (r->error[0])
		json_str(f, r->error);
	else
		fputs("null", f);
	fprintf(f, ",\"thresholds\":{\"max_loss\":%g,\"max_rtt_ms\":%g,\"max_jitter_ms\":%g}}\n",
		o->max_loss, o->max_rtt_ms, o->max_jitter_ms);
}

static void print_prometheus(FILE *f, const struct probe_opts *o, const struct probe_result *r)
{
	const char *t = transport_name(o->transport);
	fprintf(f, "# HELP tern_probe_success 1 when the last probe passed every threshold.\n"
		"# TYPE tern_probe_success gauge\ntern_probe_success{transport=\"%s\"} %d\n",
		t, r->passed);
	fprintf(f, "# HELP tern_probe_rtt_seconds Round-trip time through the relay of the last probe.\n"
		"# TYPE tern_probe_rtt_seconds gauge\n"
		"tern_probe_rtt_seconds{transport=\"%s\",quantile=\"0.5\"} %.6f\n"
		"tern_probe_rtt_seconds{transport=\"%s\",quantile=\"0.95\"} %.6f\n",
		t, r->rtt_p50 / 1000, t, r->rtt_p95 / 1000);
	fprintf(f, "# HELP tern_probe_loss_ratio Packets of the last probe not echoed back.\n"
		"# TYPE tern_probe_loss_ratio gauge\ntern_probe_loss_ratio{transport=\"%s\"} %.4f\n",
		t, r->loss);
	fprintf(f, "# HELP tern_probe_jitter_seconds RFC 3550 jitter of the echoed stream.\n"
		"# TYPE tern_probe_jitter_seconds gauge\ntern_probe_jitter_seconds{transport=\"%s\"} %.6f\n",
		t, r->jitter_ms / 1000);
	if (r->dtls)
		fprintf(f, "# HELP tern_probe_dtls_handshake_seconds DTLS-SRTP handshake through the relay.\n"
			"# TYPE tern_probe_dtls_handshake_seconds gauge\n"
			"tern_probe_dtls_handshake_seconds{transport=\"%s\"} %.6f\n", t, r->handshake_ms / 1000);
	fprintf(f, "# HELP tern_probe_packets Packets sent and echoed in the last probe.\n"
		"# TYPE tern_probe_packets gauge\n"
		"tern_probe_packets{transport=\"%s\",what=\"sent\"} %d\n"
		"tern_probe_packets{transport=\"%s\",what=\"received\"} %d\n", t, r->sent, t, r->received);
	fprintf(f, "# HELP tern_probe_last_run_timestamp_seconds When the last probe ran.\n"
		"# TYPE tern_probe_last_run_timestamp_seconds gauge\n"
		"tern_probe_last_run_timestamp_seconds{transport=\"%s\"} %" PRId64 "\n", t, walltime_s());
}

static void print_human(FILE *f, const struct probe_opts *o, const struct probe_result *r)
{
	fprintf(f, "probe over %s: %s\n", transport_name(o->transport), r->passed ? "PASSED" : "FAILED");
	if (r->error[0])
		fprintf(f, "  error:    %s\n", r->error);
	fprintf(f, "  packets:  %d sent, %d echoed, loss %.2f %% (max %.2f %%)\n", r->sent,
		r->received, r->loss * 100, o->max_loss * 100);
	fprintf(f, "  rtt:      p50 %.2f ms, p95 %.2f ms (max %.0f ms), highest %.2f ms\n",
		r->rtt_p50, r->rtt_p95, o->max_rtt_ms, r->rtt_max);
	fprintf(f, "  jitter:   %.2f ms (max %.0f ms)\n", r->jitter_ms, o->max_jitter_ms);
	if (r->dtls)
		fprintf(f, "  keying:   DTLS-SRTP (%s), handshake %.2f ms\n", PROBE_DTLS_PROFILE,
			r->handshake_ms);
	else if (o->plain)
		fprintf(f, "  keying:   none (--plain: a fixed test key)\n");
	if (r->auth_failures)
		fprintf(f, "  srtp:     %d packets failed authentication\n", r->auth_failures);
	if (r->failed[0])
		fprintf(f, "  failed:   %s\n", r->failed);
}

static void emit(FILE *f, const struct probe_opts *o, const struct probe_result *r)
{
	if (o->format == PF_JSON)
		print_json(f, o, r);
	else if (o->format == PF_PROMETHEUS)
		print_prometheus(f, o, r);
	else
		print_human(f, o, r);
}

/* node_exporter may read the file at any moment: write a sibling, rename. */
static int write_atomically(const char *path, const struct probe_opts *o,
			    const struct probe_result *r)
{
	char tmp[4096];
	if ((size_t)snprintf(tmp, sizeof(tmp), "%s.tmp.%d", path, (int)getpid()) >= sizeof(tmp))
		return -ENAMETOOLONG;
	FILE *f = fopen(tmp, "we");
	if (!f)
		return -errno;
	emit(f, o, r);
	int bad = fflush(f) != 0 || ferror(f) || fsync(fileno(f)) != 0;
	bad |= fclose(f) != 0;
	if (bad || rename(tmp, path) < 0) {
		int e = errno ? errno : EIO;
		unlink(tmp);
		return -e;
	}
	return 0;
}

int cmd_probe(int argc, char **argv)
{
	struct probe_opts o = { .user = "tern-probe", .count = 100, .interval_ms = 20,
				.timeout_ms = 2000, .max_loss = 0.02, .max_rtt_ms = 250,
				.max_jitter_ms = 30 };
	int r = probe_parse(argc, argv, &o);
	if (r >= 0)
		return r;
	struct tern_config *c = NULL;
	char err[512];
	const char *path = o.config ? o.config : PROBE_DEFAULT_CONFIG;
	if (conf_load(path, &c, err, sizeof(err)) < 0) {
		fprintf(stderr, "ternctl: %s\n", err);
		return PX_FAIL;
	}
	if (srtp_init() != srtp_err_status_ok) {
		conf_free(c);
		fprintf(stderr, "ternctl: libsrtp2 would not initialise\n");
		return PX_FAIL;
	}
	struct probe_result res = { 0 };
	run_probe(&o, c, &res);
	conf_free(c);
	srtp_shutdown();
	if (o.output) {
		int w = write_atomically(o.output, &o, &res);
		if (w < 0) {
			fprintf(stderr, "ternctl: cannot write %s: %s\n", o.output, strerror(-w));
			return PX_FAIL;
		}
	} else {
		emit(stdout, &o, &res);
		fflush(stdout);
	}
	if (res.error[0] && (o.output || o.format != PF_HUMAN))
		fprintf(stderr, "ternctl: probe: %s\n", res.error);
	return res.passed ? PX_OK : PX_FAIL;
}
