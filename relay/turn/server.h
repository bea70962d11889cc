/* The TURN server logic of one worker (RFC 8656 over RFC 8489): takes
 * client messages and peer datagrams, answers, relays, and keeps the
 * worker's allocations. It knows nothing of libevent or sockets: the io
 * layer hands it bytes and gives it a small table of operations to send
 * bytes and open relay sockets, so it can be unit-tested with fakes.
 *
 * Shared with other workers (read-only or behind their own locks): the
 * config snapshot, the nonce key, the port pool and the user quotas. */
#ifndef TERN_RELAY_TURN_SERVER_H
#define TERN_RELAY_TURN_SERVER_H

#include <stddef.h>
#include <stdint.h>

#include "auth/nonce.h"
#include "auth/revocation.h"
#include "conf/config.h"
#include "metrics/audit_ring.h"
#include "metrics/counters.h"
#include "metrics/expose.h"
#include "relay/policy/peer_policy.h"
#include "relay/policy/ratelimit.h"
#include "relay/turn/alloc_table.h"
#include "relay/turn/allocation.h"
#include "relay/turn/port_pool.h"
#include "relay/turn/snapshot.h"
#include "relay/turn/user_quota.h"

/* Operations the io layer provides. */
struct turn_io_ops {
	/* Sends one STUN or ChannelData message to a client (UDP: one datagram
	 * from the listener; TCP/TLS: appended to the stream). */
	void (*send_client)(void *io, const struct turn_client *to, const uint8_t *buf, size_t len);
	/* Sends one datagram from a relay to a peer. */
	void (*send_peer)(void *io, struct turn_relay *r, const struct sockaddr_storage *peer,
			  const uint8_t *buf, size_t len);
	/* Opens a relay socket bound to r->addr (address and port set by the
	 * caller) and starts reading it; 0 or negative errno (-EADDRINUSE: try
	 * another port). */
	int (*relay_open)(void *io, struct turn_relay *r, bool dont_fragment);
	void (*relay_close)(void *io, struct turn_relay *r);
};

/* What every worker shares. Built once by the daemon before workers start;
 * the configuration itself reaches workers as snapshots (snapshot.h). */
struct turn_shared {
	struct turn_snapshot *initial;   /* the snapshot workers start with */
	struct nonce_key nonce_key;
	struct port_pool ports;
	struct user_quota quota;
	/* Draining: new allocations are refused (300 to drain.alternate_server
	 * when configured), existing ones run to their end. Read at Allocate. */
	atomic_bool draining;
	/* The revocation feed has been stale past its grace period: new
	 * allocations are refused (established ones are never touched). */
	atomic_bool revocation_refusing;
};

struct turn_server {
	struct turn_shared *shared;
	struct turn_snapshot *snap;      /* the configuration in force on this worker */
	struct revocation_set *revoked;  /* who is revoked, as this worker last heard (or NULL) */
	const struct turn_io_ops *ops;
	void *io;
	uint64_t now_ms;                 /* monotonic, cached by the io layer per loop pass */
	uint64_t now_us;                 /* the same instant in microseconds (media timing) */
	struct alloc_table table;        /* UDP allocations */
	size_t n_allocations;            /* all of this worker's, UDP and stream */
	struct ratelimit unauth_limit;
	struct token_bucket unauth_total;
	struct worker_metrics metrics;   /* read by the exporter (metrics/counters.h) */
	/* The worker's audit ring (set by the io layer; NULL: no audit trail).
	 * turn_audit only pushes records into it: no I/O here. */
	struct audit_ring *audit;
	/* Scratch for building answers: one message at a time per worker. */
	uint8_t out[65536 + 64];
	/* Every allocation of this worker, for the expiry sweep and teardown. */
	struct allocation **all;
	size_t all_cap;
	/* Media states of ended allocations, kept for the next ones
	 * (media_turn.c): after warm-up the relay path allocates nothing. */
	struct media_pool_slot *media_pool;
	size_t media_pool_len;
};

int turn_server_init(struct turn_server *s, struct turn_shared *shared,
		     const struct turn_io_ops *ops, void *io);
/* Frees every allocation (closing relays through ops) and the tables. */
void turn_server_destroy(struct turn_server *s);

/* A message from a client: a UDP datagram or one framed TCP/TLS message.
 * *alloc_slot is the connection's allocation for TCP/TLS (NULL for UDP); the
 * server sets it when an allocation is made or freed on that connection. */
void turn_server_client_input(struct turn_server *s, const struct turn_client *from,
			      struct allocation **alloc_slot, const uint8_t *buf, size_t len);
/* A datagram a relay socket received from a peer. */
void turn_server_peer_input(struct turn_server *s, struct turn_relay *r,
			    const struct sockaddr_storage *peer, const uint8_t *buf, size_t len);
/* A TCP/TLS connection closed: its allocation (if any) goes with it. */
void turn_server_conn_closed(struct turn_server *s, struct allocation *a);
/* Expires allocations, permissions, channels; call about once a second. */
void turn_server_tick(struct turn_server *s);

/* Puts a new configuration snapshot in force on this worker (taking over
 * the caller's reference): new limits and policy apply from the next
 * message; permissions and channels to peers the new policy denies are
 * dropped at once. */
void turn_server_set_snapshot(struct turn_server *s, struct turn_snapshot *snap);

/* Puts a new revocation set in force (taking over the caller's reference)
 * and tears down every allocation it covers, at once. */
void turn_server_set_revocations(struct turn_server *s, struct revocation_set *set);

/* Copies the figures of up to cap live allocations (for the opt-in
 * per-allocation listing); returns how many. */
size_t turn_server_figures(const struct turn_server *s, struct alloc_figures *out, size_t cap);

/* Shared state. The config must outlive it (the initial snapshot does not own it). */
int turn_shared_init(struct turn_shared *sh, const struct tern_config *conf, char *err, size_t cap);
void turn_shared_destroy(struct turn_shared *sh);

#endif
