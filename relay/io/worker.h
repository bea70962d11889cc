/* A worker thread: its own libevent loop, its own SO_REUSEPORT listening
 * sockets, its TURN server (allocations, relay sockets) and counters.
 * Nothing in here is touched by another thread except `base` for loopbreak
 * (libevent's thread support makes that safe) and the startup handshake. */
#ifndef TERN_RELAY_IO_WORKER_H
#define TERN_RELAY_IO_WORKER_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <sys/socket.h>

#include "conf/config.h"
#include "relay/io/tls.h"
#include "relay/policy/conn_limit.h"
#include "relay/turn/server.h"

#define WORKER_BATCH     16     /* datagrams per recvmmsg */
#define WORKER_DGRAM_MAX 8192   /* larger datagrams are dropped as truncated */

struct event_base;
struct event;
struct worker;
struct tcp_conn;
struct proxy;

struct udp_listener {
	struct worker *w;
	int index;
	int fd;
	struct event *ev;
};

struct tcp_listener {
	struct worker *w;
	int fd;
	bool tls;
	struct event *ev;
};

/* What the io layer shares between workers (the TURN layer's shared state
 * is struct turn_shared): the TLS context and per-source connection counts. */
struct io_shared {
	struct tls_server tls;
	bool has_tls;
	struct conn_limit conns;
};

/* Receive batch shared by all of this worker's sockets (callbacks never nest). */
struct udp_batch {
	struct mmsghdr msgs[WORKER_BATCH];
	struct iovec iov[WORKER_BATCH];
	struct sockaddr_storage addrs[WORKER_BATCH];
	uint8_t data[WORKER_BATCH][WORKER_DGRAM_MAX];
};

/* Outgoing datagrams waiting for one sendmmsg (udp_out.c). */
struct udp_out {
	int fd;
	unsigned n;
	struct mmsghdr msgs[WORKER_BATCH];
	struct iovec iov[WORKER_BATCH];
	struct sockaddr_storage addrs[WORKER_BATCH];
	uint8_t data[WORKER_BATCH][WORKER_DGRAM_MAX + 64];
};

struct worker {
	unsigned index;
	pthread_t thread;
	struct event_base *base;
	struct turn_shared *shared;
	struct io_shared *io;
	struct turn_server turn;
	struct udp_listener udp[CONF_MAX_LISTEN];
	size_t n_udp;
	struct tcp_listener tcp[CONF_MAX_LISTEN];
	size_t n_tcp;
	struct tcp_conn *conns;         /* all open stream connections */
	size_t n_conns;
	struct proxy *proxies;          /* passthrough connections (proxy.c) */
	struct event *tick;
	uint64_t last_tick_ms;          /* for the loop lag figure */
	struct event *stop;             /* activated by worker_stop from another thread */
	/* Mailbox from the control thread: a new configuration snapshot. */
	pthread_mutex_t mail_lock;
	struct turn_snapshot *pending_snap;
	struct revocation_set *pending_revoked;
	struct event *mail;
	struct udp_batch *batch;
	struct udp_out *out;
	_Atomic uint64_t heartbeat_ms;  /* stamped by the worker's timer, read by the watchdog */
	/* Observability (worker_observe.c): the audit ring (owned by the daemon),
	 * a readiness ping answered through the mailbox, and the per-allocation
	 * figures copied each tick under mail_lock when metrics.per_allocation is on. */
	struct audit_ring *audit;
	_Atomic uint64_t ping_seq, pong_seq;
	struct alloc_figures *figures;
	size_t n_figures, figures_cap;
	uint64_t figures_ms;            /* monotonic time of the copy */

	/* Startup handshake with the daemon thread. */
	pthread_mutex_t *start_lock;
	pthread_cond_t *start_cond;
	bool started;
	int start_error;                /* 0 or negative errno */
	char start_msg[256];
};

/* Starts the thread; the thread opens its sockets and reports through
 * started/start_error under start_lock. */
int worker_start(struct worker *w);
/* Asks the loop to stop (from any thread) and joins it. */
void worker_stop(struct worker *w);
/* From the control thread: the worker puts snap in force on its own thread
 * at its next loop pass. Takes over one reference held by the caller. */
void worker_post_snapshot(struct worker *w, struct turn_snapshot *snap);
/* Likewise for a revocation set; the worker tears down what it covers. */
void worker_post_revocations(struct worker *w, struct revocation_set *set);

/* worker_observe.c: from the control thread, asks the worker to answer
 * ping `seq` (pong_seq) through its mailbox. */
void worker_ping(struct worker *w, uint64_t seq);
/* On the worker's thread: answer a ping; copy the figures (each tick); free them. */
void worker_pong(struct worker *w);
void worker_publish_figures(struct worker *w);
void worker_figures_free(struct worker *w);

/* The worker whose thread is running (NULL on other threads). */
struct worker *worker_self(void);

/* Refreshes the turn server's cached clock; call at the top of every callback. */
void worker_touch_clock(struct worker *w);

/* udp.c */
int udp_listeners_open(struct worker *w, char *err, size_t cap);
void udp_listeners_close(struct worker *w);
void udp_send_client(struct worker *w, const struct turn_client *to, const uint8_t *buf,
		     size_t len);
/* Points the batch's headers at its buffers, once. */
void udp_batch_init(struct udp_batch *b);
/* Fills the batch for recvmmsg and returns how many messages arrived (<= 0: none). */
int udp_batch_receive(struct worker *w, int fd);

/* udp_out.c */
void udp_out_queue(struct worker *w, int fd, const struct sockaddr_storage *to,
		   const uint8_t *buf, size_t len);
void udp_out_flush(struct worker *w);

/* tcp.c */
int tcp_listeners_open(struct worker *w, char *err, size_t cap);
void tcp_listeners_close(struct worker *w);
void tcp_send_client(struct worker *w, const struct turn_client *to, const uint8_t *buf,
		     size_t len);
void tcp_sweep(struct worker *w, uint64_t now_ms);
void tcp_close_all(struct worker *w);

/* relay_sock.c */
extern const struct turn_io_ops relay_io_ops;

#endif
