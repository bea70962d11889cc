/* Tern's load generator: shared types of loadgen.c (modes, main loop),
 * lg_turn.c (the TURN setup of one allocation), lg_net.c (sockets, the
 * UDP/TCP/TLS client transports, the peers) and lg_stats.c (latency
 * percentiles). Single-threaded by design: on a 2-core machine the server
 * under test gets the other core. */
#ifndef TERN_BENCH_LOADGEN_H
#define TERN_BENCH_LOADGEN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include <openssl/ssl.h>

#include "conf/secrets.h"

#define LG_BATCH        32      /* datagrams per recvmmsg/sendmmsg */
#define LG_DGRAM_MAX    2048
#define LG_REQ_MAX      512     /* one STUN request, kept for retransmission */
#define LG_STREAM_BUF   65536
#define LG_MAX_PEERS    64
#define LG_CHANNEL      0x4000
#define LG_RTP_HEADER   12      /* --rtp: an RTP version 2 header before the payload */
#define LG_RTP_CLOCK_STEP 960   /* timestamp step: 20 ms at 48 kHz, as Opus */
#define LG_OTHER_HEADER 4       /* --no-media: 0xff bytes, not STUN, DTLS or RTP (RFC 7983) */

enum lg_transport { LG_UDP, LG_TCP, LG_TLS };
enum lg_kind { LG_KIND_TURN, LG_KIND_FWD };

/* Where one allocation's setup stands. */
enum lg_state {
	LG_IDLE, LG_CHALLENGE, LG_ALLOCATE, LG_PERMISSION, LG_BIND, LG_READY, LG_FAILED
};

/* Payload carried by every ChannelData the load generator sends (after an
 * RTP header with --rtp, so the relay's media analysis sees RTP). */
struct lg_payload {
	uint64_t seq;
	uint64_t t_client;      /* CLOCK_MONOTONIC ns when the client sent it */
	uint64_t t_peer;        /* ... when the peer echoed it (0 before) */
	uint32_t alloc;
	uint32_t step;          /* ramp step it belongs to */
};

/* What an epoll event points at. */
enum lg_ep_kind { LG_EP_CLIENT, LG_EP_PEER };
struct lg_ep {
	enum lg_ep_kind kind;
	uint32_t index;
};

struct lg_alloc {
	struct lg_ep ep;
	int fd;
	SSL *ssl;
	enum lg_state state;
	uint8_t tries;
	uint16_t req_len;
	uint64_t deadline;              /* retransmit/timeout, ns */
	uint64_t t_start;
	uint8_t tid[12];
	uint8_t key[16];                /* long-term key, MD5 */
	char username[64];
	char password[48];              /* REST password (CRED_PASSWORD_CAP) */
	char realm[64];
	uint8_t nonce[128];
	uint16_t nonce_len;
	uint16_t peer;                  /* index into the peer sockets */
	uint16_t rtp_seq;               /* --rtp: this allocation's stream */
	uint32_t rtp_ts;
	uint8_t *req;                   /* LG_REQ_MAX bytes */
	uint8_t *rbuf;                  /* stream transports: LG_STREAM_BUF bytes */
	size_t rlen;
};

struct lg_counters {
	uint64_t sent, send_fail, peer_rx, client_rx, bad;
};

struct lg_samples {
	uint32_t *v;
	size_t n, cap;
};

struct lg {
	/* options */
	enum lg_transport transport;
	enum lg_kind kind;
	struct sockaddr_storage server;
	unsigned n_allocs, n_peers, window, payload;
	double rate, duration, step_seconds, ramp_start, ramp_factor, ramp_max;
	unsigned echo;                  /* peers echo (1) or sink (0) */
	bool rtp;                       /* payloads start with an RTP header */
	bool no_media;                  /* ... or with bytes no media analysis looks into */
	int peer_port_base;             /* forwarder: peer k listens on base + k */
	const char *user_prefix;
	struct secrets secrets;
	/* state */
	int epfd;
	struct lg_alloc *allocs;
	int peer_fd[LG_MAX_PEERS];
	struct lg_ep peer_ep[LG_MAX_PEERS];
	struct sockaddr_storage peer_addr[LG_MAX_PEERS];
	SSL_CTX *ssl_ctx;
	unsigned ready, failed, in_flight, next_setup;
	uint32_t step;
	struct lg_counters c;
	struct lg_samples rtt, c2p, p2c;
	uint64_t seq;
};

/* Where struct lg_payload starts in a relayed payload. */
static inline size_t lg_payload_off(const struct lg *g)
{
	return g->rtp ? LG_RTP_HEADER : g->no_media ? LG_OTHER_HEADER : 0;
}

/* lg_net.c */
uint64_t lg_now(void);
int lg_parse_addr(const char *text, struct sockaddr_storage *out);
int lg_peers_open(struct lg *g);
int lg_client_open(struct lg *g, struct lg_alloc *a);
void lg_client_close(struct lg_alloc *a);
int lg_client_send(struct lg *g, struct lg_alloc *a, const uint8_t *buf, size_t len);
/* Sends `count` ChannelData messages from client a (batched). */
int lg_client_send_data(struct lg *g, struct lg_alloc *a, unsigned count);
void lg_poll(struct lg *g, int timeout_ms);
void lg_raise_nofile(unsigned need);

/* lg_turn.c */
void lg_setup_start(struct lg *g, struct lg_alloc *a);
void lg_setup_input(struct lg *g, struct lg_alloc *a, const uint8_t *buf, size_t len);
void lg_setup_timers(struct lg *g, uint64_t now);
void lg_release(struct lg *g, struct lg_alloc *a);

/* lg_stats.c */
int lg_samples_init(struct lg_samples *s, size_t cap);
void lg_samples_add(struct lg_samples *s, uint64_t ns);
/* Percentile (0..100) in microseconds, or -1 with no samples. Sorts. */
double lg_samples_pct(struct lg_samples *s, double pct);
void lg_samples_reset(struct lg_samples *s);

#endif
