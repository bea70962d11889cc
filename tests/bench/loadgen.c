/* Tern's TURN load generator (tests/bench). Creates allocations over UDP,
 * TCP or TLS with REST credentials (secret read from a file), owns the
 * peers, and relays ChannelData both ways: client -> relay -> peer, and the
 * peer echoes it back. Every payload carries a sequence number, the ramp
 * step and CLOCK_MONOTONIC send times, which give loss, round trip and both
 * one-way delays (same host, same clock).
 *
 * Modes (one JSON object per output line; run.py reads them):
 *   rate   fixed offered rate for --duration seconds
 *   ramp   rising rate until more than 0.1% is lost
 *   alloc  full allocations per second (401, Allocate, CreatePermission, ChannelBind)
 *   hold   make --allocs allocations and hold them (memory measurement)
 * --kind fwd talks to tests/bench/forwarder instead of a TURN server.
 * --rtp puts an RTP header in front of every payload (per allocation SSRC,
 * sequence number and timestamp), so the relay's media analysis has real
 * work: run.py compares ternd's CPU per packet with it on and off; --no-media
 * starts every payload with 0xff bytes instead, which the relay classifies
 * as "other" and looks no further into (the baseline without media
 * analysis). Without either, the payload starts with a counter and its
 * first byte falls in every RFC 7983 range in turn. */
#include "tests/bench/loadgen.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <unistd.h>

#define LG_SAMPLES      (1u << 20)
#define LG_DRAIN_NS     (300ull * 1000 * 1000)
#define LG_MAX_SEND_LOOP 512    /* packets sent before reading again */
#define LG_LOSS_LIMIT   0.001

static double cpu_seconds(void)
{
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	return (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 +
	       (double)ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6;
}

static const char *transport_name(enum lg_transport t)
{
	return t == LG_UDP ? "udp" : t == LG_TCP ? "tcp" : "tls";
}

static void event_line(struct lg *g, const char *event)
{
	printf("{\"event\":\"%s\",\"ready\":%u,\"failed\":%u}\n", event, g->ready, g->failed);
	fflush(stdout);
}

/* Opens the client sockets up front (hold mode: so the memory they cost the
 * kernel is in the baseline, not in the server's figure). */
static int open_all_clients(struct lg *g)
{
	for (unsigned i = 0; i < g->n_allocs; i++) {
		int r = lg_client_open(g, &g->allocs[i]);
		if (r < 0) {
			fprintf(stderr, "loadgen: client socket %u: %s\n", i, strerror(-r));
			return r;
		}
	}
	return 0;
}

/* Makes every allocation, at most --window at a time. Returns seconds taken. */
static double setup_all(struct lg *g)
{
	uint64_t t0 = lg_now();
	if (g->kind == LG_KIND_FWD) {
		for (unsigned i = 0; i < g->n_allocs; i++) {
			struct lg_alloc *a = &g->allocs[i];
			if (a->fd < 0 && lg_client_open(g, a) < 0) {
				a->state = LG_FAILED;
				g->failed++;
				continue;
			}
			a->state = LG_READY;
			g->ready++;
		}
		return (double)(lg_now() - t0) / 1e9;
	}
	uint64_t limit = t0 + (uint64_t)(30 + g->n_allocs / 50) * 1000000000ull;
	uint64_t next_timer = 0;
	while (g->ready + g->failed < g->n_allocs) {
		while (g->next_setup < g->n_allocs && g->in_flight < g->window)
			lg_setup_start(g, &g->allocs[g->next_setup++]);
		lg_poll(g, 5);
		uint64_t now = lg_now();
		if (now >= next_timer) {
			lg_setup_timers(g, now);
			next_timer = now + 50000000ull;
		}
		if (now > limit) {
			fprintf(stderr, "loadgen: setup did not finish in time\n");
			break;
		}
	}
	return (double)(lg_now() - t0) / 1e9;
}

struct lg_result {
	double target, seconds, cpu, relayed_pps, loss, rtt[3], c2p[2], p2c[2];
	struct lg_counters c;
};

/* Sends at `rate` packets/s (client -> peer) for `seconds`, then drains. */
static void run_traffic(struct lg *g, unsigned *ready_idx, unsigned n_ready, double rate,
			double seconds, struct lg_result *res)
{
	g->step++;
	memset(&g->c, 0, sizeof(g->c));
	lg_samples_reset(&g->rtt);
	lg_samples_reset(&g->c2p);
	lg_samples_reset(&g->p2c);
	double cpu0 = cpu_seconds();
	uint64_t start = lg_now(), end = start + (uint64_t)(seconds * 1e9), now = start;
	uint64_t attempted = 0;
	unsigned rr = 0;
	while (now < end && n_ready > 0) {
		uint64_t due = (uint64_t)(rate * (double)(now - start) / 1e9);
		unsigned sent_now = 0;
		while (due > attempted && sent_now < LG_MAX_SEND_LOOP) {
			uint64_t k = due - attempted;
			if (k > 8)
				k = 8;
			lg_client_send_data(g, &g->allocs[ready_idx[rr]], (unsigned)k);
			rr = (rr + 1) % n_ready;
			attempted += k;
			sent_now += (unsigned)k;
		}
		lg_poll(g, due > attempted ? 0 : 1);
		now = lg_now();
	}
	uint64_t expect = g->echo ? 2 : 1;
	uint64_t drain_end = lg_now() + LG_DRAIN_NS;
	while (lg_now() < drain_end &&
	       g->c.peer_rx + (g->echo ? g->c.client_rx : 0) < expect * g->c.sent)
		lg_poll(g, 1);
	res->target = rate;
	res->seconds = seconds;
	res->cpu = cpu_seconds() - cpu0;
	res->c = g->c;
	uint64_t relayed = g->c.peer_rx + (g->echo ? g->c.client_rx : 0);
	res->relayed_pps = (double)relayed / seconds;
	res->loss = g->c.sent ? 1.0 - (double)relayed / (double)(expect * g->c.sent) : 1.0;
	if (res->loss < 0)
		res->loss = 0;
	res->rtt[0] = lg_samples_pct(&g->rtt, 50);
	res->rtt[1] = lg_samples_pct(&g->rtt, 99);
	res->rtt[2] = lg_samples_pct(&g->rtt, 99.9);
	res->c2p[0] = lg_samples_pct(&g->c2p, 50);
	res->c2p[1] = lg_samples_pct(&g->c2p, 99);
	res->p2c[0] = lg_samples_pct(&g->p2c, 50);
	res->p2c[1] = lg_samples_pct(&g->p2c, 99);
}

static void print_result(struct lg *g, const char *mode, const struct lg_result *r)
{
	printf("{\"mode\":\"%s\",\"transport\":\"%s\",\"payload\":%u,\"allocs\":%u,"
	       "\"offered_pps\":%.0f,\"seconds\":%.3f,\"sent\":%llu,\"send_fail\":%llu,"
	       "\"peer_rx\":%llu,\"client_rx\":%llu,\"relayed\":%llu,\"relayed_pps\":%.0f,"
	       "\"loss\":%.6f,\"rtt_us\":{\"p50\":%.1f,\"p99\":%.1f,\"p999\":%.1f},"
	       "\"c2p_us\":{\"p50\":%.1f,\"p99\":%.1f},\"p2c_us\":{\"p50\":%.1f,\"p99\":%.1f},"
	       "\"client_cpu_s\":%.3f,\"client_cpu_share\":%.3f,\"payload_kind\":\"%s\"}\n",
	       mode, transport_name(g->transport), g->payload, g->ready, r->target, r->seconds,
	       (unsigned long long)r->c.sent, (unsigned long long)r->c.send_fail,
	       (unsigned long long)r->c.peer_rx, (unsigned long long)r->c.client_rx,
	       (unsigned long long)(r->c.peer_rx + r->c.client_rx), r->relayed_pps, r->loss,
	       r->rtt[0], r->rtt[1], r->rtt[2], r->c2p[0], r->c2p[1], r->p2c[0], r->p2c[1],
	       r->cpu, r->cpu / (r->seconds + LG_DRAIN_NS / 1e9),
	       g->rtp ? "rtp" : g->no_media ? "other" : "counter");
	fflush(stdout);
}

static unsigned ready_list(struct lg *g, unsigned **out)
{
	unsigned *idx = calloc(g->n_allocs ? g->n_allocs : 1, sizeof(*idx));
	unsigned n = 0;
	for (unsigned i = 0; idx && i < g->n_allocs; i++)
		if (g->allocs[i].state == LG_READY)
			idx[n++] = i;
	*out = idx;
	return n;
}

static int mode_rate(struct lg *g, unsigned *idx, unsigned n)
{
	struct lg_result r;
	event_line(g, "traffic_start");
	run_traffic(g, idx, n, g->rate, g->duration, &r);
	event_line(g, "traffic_end");
	print_result(g, "rate", &r);
	return r.c.sent > 0 ? 0 : 1;
}

/* Rising offered rate; a step over the loss limit is tried once more
 * (the machine is shared), a second failure ends the ramp. */
static int mode_ramp(struct lg *g, unsigned *idx, unsigned n)
{
	double best = 0, best_offered = 0;
	int strikes = 0;
	bool client_limited = false;
	for (double rate = g->ramp_start; rate <= g->ramp_max; ) {
		struct lg_result r;
		run_traffic(g, idx, n, rate, g->step_seconds, &r);
		print_result(g, "ramp_step", &r);
		if ((double)r.c.sent < 0.95 * rate * g->step_seconds)
			client_limited = true;
		if (r.loss > LG_LOSS_LIMIT || client_limited) {
			if (++strikes >= 2 || client_limited)
				break;
			continue;
		}
		strikes = 0;
		if (r.relayed_pps > best) {
			best = r.relayed_pps;
			best_offered = rate;
		}
		rate *= g->ramp_factor;
	}
	printf("{\"mode\":\"ramp\",\"transport\":\"%s\",\"payload\":%u,\"allocs\":%u,"
	       "\"max_relayed_pps\":%.0f,\"max_offered_pps\":%.0f,\"client_limited\":%s}\n",
	       transport_name(g->transport), g->payload, n, best, best_offered,
	       client_limited ? "true" : "false");
	fflush(stdout);
	return 0;
}

/* Deletes every allocation, a window's worth at a time so the server's
 * socket buffer is not flooded, then reads answers for a moment. */
static void release_all(struct lg *g)
{
	if (g->kind != LG_KIND_TURN)
		return;
	for (unsigned i = 0; i < g->n_allocs; i++) {
		lg_release(g, &g->allocs[i]);
		if (i % g->window != g->window - 1)
			continue;
		/* ~2 ms per window: a burst would overflow the server's socket
		 * buffer and leave allocations behind. */
		uint64_t pause = lg_now() + 2000000ull;
		while (lg_now() < pause)
			lg_poll(g, 1);
	}
	uint64_t end = lg_now() + 200000000ull;
	while (lg_now() < end)
		lg_poll(g, 10);
}

static void usage(void)
{
	fprintf(stderr,
		"usage: loadgen --server IP:PORT [--kind turn|fwd] [--transport udp|tcp|tls]\n"
		"  [--secret-file F] [--allocs N] [--peers N] [--window N] [--payload B]\n"
		"  [--mode rate|ramp|alloc|hold] [--rate PPS] [--duration S] [--sink]\n"
		"  [--ramp-start PPS] [--ramp-factor F] [--ramp-max PPS] [--step S]\n"
		"  [--peer-port-base P] [--user-prefix S] [--rtp | --no-media]\n");
}

enum { O_SERVER = 256, O_KIND, O_TRANSPORT, O_SECRET, O_ALLOCS, O_PEERS, O_WINDOW, O_PAYLOAD,
       O_MODE, O_RATE, O_DURATION, O_SINK, O_RSTART, O_RFACTOR, O_RMAX, O_STEP, O_PBASE,
       O_USER, O_RTP, O_NO_MEDIA };

static const struct option options[] = {
	{ "server", required_argument, NULL, O_SERVER },
	{ "kind", required_argument, NULL, O_KIND },
	{ "transport", required_argument, NULL, O_TRANSPORT },
	{ "secret-file", required_argument, NULL, O_SECRET },
	{ "allocs", required_argument, NULL, O_ALLOCS },
	{ "peers", required_argument, NULL, O_PEERS },
	{ "window", required_argument, NULL, O_WINDOW },
	{ "payload", required_argument, NULL, O_PAYLOAD },
	{ "mode", required_argument, NULL, O_MODE },
	{ "rate", required_argument, NULL, O_RATE },
	{ "duration", required_argument, NULL, O_DURATION },
	{ "sink", no_argument, NULL, O_SINK },
	{ "ramp-start", required_argument, NULL, O_RSTART },
	{ "ramp-factor", required_argument, NULL, O_RFACTOR },
	{ "ramp-max", required_argument, NULL, O_RMAX },
	{ "step", required_argument, NULL, O_STEP },
	{ "peer-port-base", required_argument, NULL, O_PBASE },
	{ "user-prefix", required_argument, NULL, O_USER },
	{ "rtp", no_argument, NULL, O_RTP },
	{ "no-media", no_argument, NULL, O_NO_MEDIA },
	{ NULL, 0, NULL, 0 },
};

static int parse_args(struct lg *g, int argc, char **argv, const char **mode,
		      const char **secret_file)
{
	bool have_server = false;
	int opt;
	while ((opt = getopt_long(argc, argv, "", options, NULL)) != -1) {
		switch (opt) {
		case O_SERVER: have_server = lg_parse_addr(optarg, &g->server) == 0; break;
		case O_KIND: g->kind = strcmp(optarg, "fwd") == 0 ? LG_KIND_FWD : LG_KIND_TURN; break;
		case O_TRANSPORT:
			g->transport = strcmp(optarg, "tcp") == 0 ? LG_TCP
				     : strcmp(optarg, "tls") == 0 ? LG_TLS : LG_UDP;
			break;
		case O_SECRET: *secret_file = optarg; break;
		case O_ALLOCS: g->n_allocs = (unsigned)strtoul(optarg, NULL, 10); break;
		case O_PEERS: g->n_peers = (unsigned)strtoul(optarg, NULL, 10); break;
		case O_WINDOW: g->window = (unsigned)strtoul(optarg, NULL, 10); break;
		case O_PAYLOAD: g->payload = (unsigned)strtoul(optarg, NULL, 10); break;
		case O_MODE: *mode = optarg; break;
		case O_RATE: g->rate = strtod(optarg, NULL); break;
		case O_DURATION: g->duration = strtod(optarg, NULL); break;
		case O_SINK: g->echo = 0; break;
		case O_RSTART: g->ramp_start = strtod(optarg, NULL); break;
		case O_RFACTOR: g->ramp_factor = strtod(optarg, NULL); break;
		case O_RMAX: g->ramp_max = strtod(optarg, NULL); break;
		case O_STEP: g->step_seconds = strtod(optarg, NULL); break;
		case O_PBASE: g->peer_port_base = atoi(optarg); break;
		case O_USER: g->user_prefix = optarg; break;
		case O_RTP: g->rtp = true; break;
		case O_NO_MEDIA: g->no_media = true; break;
		default: return -EINVAL;
		}
	}
	if (!have_server || (g->rtp && g->no_media) || g->n_allocs == 0 || g->n_peers == 0 ||
	    g->n_peers > LG_MAX_PEERS || g->window == 0 || g->payload > 1400 ||
	    g->payload < lg_payload_off(g) + sizeof(struct lg_payload) ||
	    g->duration <= 0 || g->duration > 600 || g->step_seconds <= 0 ||
	    g->ramp_factor <= 1.0 || (g->kind == LG_KIND_TURN && !*secret_file))
		return -EINVAL;
	return 0;
}

static int init(struct lg *g)
{
	lg_raise_nofile(g->n_allocs + g->n_peers + 64);
	g->epfd = epoll_create1(EPOLL_CLOEXEC);
	g->allocs = calloc(g->n_allocs, sizeof(*g->allocs));
	uint8_t *reqs = calloc(g->n_allocs, LG_REQ_MAX);
	if (g->epfd < 0 || !g->allocs || !reqs || lg_samples_init(&g->rtt, LG_SAMPLES) < 0 ||
	    lg_samples_init(&g->c2p, LG_SAMPLES) < 0 || lg_samples_init(&g->p2c, LG_SAMPLES) < 0)
		return -ENOMEM;
	for (unsigned i = 0; i < g->n_allocs; i++) {
		struct lg_alloc *a = &g->allocs[i];
		a->ep = (struct lg_ep){ .kind = LG_EP_CLIENT, .index = i };
		a->fd = -1;
		a->req = reqs + (size_t)i * LG_REQ_MAX;
		a->peer = (uint16_t)(i % g->n_peers);
	}
	return lg_peers_open(g);
}

int main(int argc, char **argv)
{
	static struct lg g = {
		.n_allocs = 16, .n_peers = 4, .window = 64, .payload = 160, .rate = 1000,
		.duration = 5, .step_seconds = 2, .ramp_start = 5000, .ramp_factor = 1.25,
		.ramp_max = 2e6, .echo = 1, .user_prefix = "bench",
	};
	const char *mode = "rate", *secret_file = NULL;
	if (parse_args(&g, argc, argv, &mode, &secret_file) < 0) {
		usage();
		return 2;
	}
	char err[256];
	if (secret_file && secrets_load(&g.secrets, secret_file, err, sizeof(err)) < 0) {
		fprintf(stderr, "loadgen: %s\n", err);
		return 2;
	}
	int r = init(&g);
	if (r < 0) {
		fprintf(stderr, "loadgen: init: %s\n", strerror(-r));
		return 1;
	}
	bool hold = strcmp(mode, "hold") == 0;
	if (hold) {
		if (open_all_clients(&g) < 0)
			return 1;
		event_line(&g, "sockets_open");
		usleep(1500 * 1000);    /* run.py samples memory now */
	}
	double t = setup_all(&g);
	printf("{\"mode\":\"setup\",\"transport\":\"%s\",\"allocs\":%u,\"ok\":%u,\"failed\":%u,"
	       "\"seconds\":%.3f,\"allocs_per_s\":%.1f}\n", transport_name(g.transport),
	       g.n_allocs, g.ready, g.failed, t, t > 0 ? g.ready / t : 0.0);
	fflush(stdout);
	unsigned *idx = NULL;
	unsigned n = ready_list(&g, &idx);
	int rc = n == g.n_allocs ? 0 : 1;
	if (hold) {
		event_line(&g, "allocated");
		uint64_t end = lg_now() + (uint64_t)(g.duration * 1e9);
		while (lg_now() < end)
			lg_poll(&g, 100);
		event_line(&g, "released");
	} else if (strcmp(mode, "rate") == 0) {
		rc |= mode_rate(&g, idx, n);
	} else if (strcmp(mode, "ramp") == 0) {
		rc |= mode_ramp(&g, idx, n);
	}
	release_all(&g);
	for (unsigned i = 0; i < g.n_allocs; i++)
		lg_client_close(&g.allocs[i]);
	free(idx);
	secrets_wipe(&g.secrets);
	return rc;
}
