/* One TURN allocation (RFC 8656 section 2.2): the client's 5-tuple, up to
 * two relayed transport addresses (IPv4 and IPv6, for dual-stack
 * allocations), permissions, channels and timers. Owned by the worker that
 * received the Allocate; nothing here is touched by another thread.
 * Permission and channel tables start empty and grow by doubling, up to the
 * configured maxima, only in CreatePermission and ChannelBind: most calls
 * use one or two peers, and the relay path never allocates. */
#ifndef TERN_RELAY_ALLOCATION_H
#define TERN_RELAY_ALLOCATION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "auth/cred.h"
#include "common/sockaddr.h"
#include "relay/stun/stun.h"
#include "relay/turn/media.h"

#define TURN_PERMISSION_MS    300000u   /* RFC 8656 section 9: 300 s */
#define TURN_CHANNEL_MS       600000u   /* RFC 8656 section 12: 10 min */
#define TURN_CHANNEL_QUIET_MS 300000u   /* no rebinding to another peer for 5 min after expiry */
#define TURN_RESPONSE_CACHE   320

enum turn_transport { TURN_UDP = 0, TURN_TCP = 1, TURN_TLS = 2 };

/* Where a client message came from, and where answers go. */
struct turn_client {
	enum turn_transport transport;
	struct sockaddr_storage addr;   /* client's source */
	int listener;                   /* UDP: index of the worker's listener socket */
	void *conn;                     /* TCP/TLS: the io layer's connection, else NULL */
};

struct allocation;

/* A relayed transport address and its socket (managed by the io layer). */
struct turn_relay {
	struct allocation *owner;
	struct sockaddr_storage addr;
	int fd;
	void *io;                       /* io layer's event for this socket */
};

struct turn_permission {
	int family;
	uint8_t ip[16];
	uint64_t expires_ms;
};

struct turn_channel {
	uint16_t number;                /* 0 = free slot */
	struct sockaddr_storage peer;
	uint64_t expires_ms;            /* relaying stops here */
	/* After expiry the binding stays reserved until expires_ms + quiet. */
};

struct turn_cached_response {
	uint8_t tid[STUN_TID_LEN];
	uint16_t method;                /* of the request answered */
	uint16_t len;                   /* 0 = empty */
	uint8_t bytes[TURN_RESPONSE_CACHE];
};

struct allocation {
	uint64_t id;                    /* opaque random id: the only name logs may use */
	struct allocation *next;        /* alloc_table chain (UDP only) */
	size_t all_index;               /* position in the worker's list of allocations */
	struct allocation **conn_slot;  /* TCP/TLS: the connection's pointer to us */
	struct turn_client client;
	struct turn_relay relay[2];
	unsigned n_relay;
	bool dont_fragment;

	/* Credential: the username that made it (`username`, at the end), its
	 * key, and its hard end. */
	size_t username_len;
	size_t user_id_off, user_id_len; /* the user id inside username */
	uint8_t key[32];                /* long-term key (MD5: 16 bytes, SHA-256: 32) */
	uint8_t key_len;
	int64_t cred_expiry;            /* unix seconds */

	uint64_t created_ms, expires_ms;

	uint16_t max_perms, max_channels;  /* configured limits */
	uint16_t cap_perms, cap_channels;  /* slots allocated so far */
	struct turn_permission *perms;  /* cap_perms slots, n_perms in use */
	struct turn_channel *channels;  /* cap_channels slots, number 0 = free */
	uint16_t n_perms;

	/* The last authenticated answer, for retransmissions: the Allocate
	 * success until the client's next request (which shows it got it)
	 * is answered; errors to later Allocates never replace it. */
	struct turn_cached_response response;

	/* Per-allocation figures (metrics, per-allocation listing). */
	uint64_t pkts_to_peer, bytes_to_peer, pkts_to_client, bytes_to_client;
	uint64_t peak_pps, last_tick_pkts, last_tick_ms;

	/* Media assurance: flows and RTP streams seen (relay/turn/media.h);
	 * NULL until the first payload that needs it. Most allocations never
	 * carry media (ICE gathers a relay candidate per TURN server and
	 * transport and uses one), so they do not pay its 1.2 KB. */
	struct media_state *media;
	char username[];                /* username_len bytes and a NUL */
};

/* Makes an allocation allowed the given numbers of permissions and
 * channels, with room for a username of up to username_max bytes (and a
 * NUL); NULL on ENOMEM. */
struct allocation *allocation_new(uint16_t max_perms, uint16_t max_channels, size_t username_max);
void allocation_free(struct allocation *a);

/* The relay of the given family, or NULL. */
struct turn_relay *allocation_relay(struct allocation *a, int family);

/* Permissions are per IP address (port ignored). */
bool allocation_permitted(const struct allocation *a, const struct sockaddr_storage *peer,
			  uint64_t now_ms);
/* Installs or refreshes; -ENOSPC when the table is full, -ENOMEM when it
 * could not grow. */
int allocation_permit(struct allocation *a, const struct sockaddr_storage *peer, uint64_t now_ms);
/* Makes room for `extra` more permissions, so that installing them cannot
 * fail halfway (CreatePermission is all or nothing): 0, -ENOSPC beyond the
 * limit, -ENOMEM. */
int allocation_reserve_permissions(struct allocation *a, uint16_t extra);
/* True if allocation_permit would succeed for this peer. */
bool allocation_can_permit(const struct allocation *a, const struct sockaddr_storage *peer,
			   uint64_t now_ms);

/* Channel lookups for the relay path; expired bindings are not returned. */
const struct turn_channel *allocation_channel_by_number(const struct allocation *a,
							 uint16_t number, uint64_t now_ms);
const struct turn_channel *allocation_channel_by_peer(const struct allocation *a,
						       const struct sockaddr_storage *peer,
						       uint64_t now_ms);
/* ChannelBind (RFC 8656 section 11.2): 0, -EEXIST when the number is bound to
 * another peer or the peer to another number (400), -ENOSPC when full (508),
 * -ENOMEM when the table could not grow. */
int allocation_bind_channel(struct allocation *a, uint16_t number,
			    const struct sockaddr_storage *peer, uint64_t now_ms);

/* Drops expired permissions and channel bindings past their quiet time. */
void allocation_expire(struct allocation *a, uint64_t now_ms);

#endif
