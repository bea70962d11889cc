/* The relay port range, shared by every worker: which ports are handed out,
 * and the EVEN-PORT reservations (RFC 8656 section 7.2) waiting to be claimed
 * with a RESERVATION-TOKEN, possibly on another worker. Touched only when an
 * allocation is made or freed, never per packet, so one mutex is enough.
 * Ports are per address family: an IPv4 and an IPv6 relay may share a number. */
#ifndef TERN_RELAY_PORT_POOL_H
#define TERN_RELAY_PORT_POOL_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#define PORT_POOL_MAX_RESERVATIONS 1024
#define PORT_POOL_RESERVATION_MS   30000   /* RFC 8656: about 30 seconds */

struct port_reservation {
	uint8_t token[8];
	int family;
	uint16_t port;
	uint64_t expires_ms;
	bool used;
};

struct port_pool {
	pthread_mutex_t lock;
	uint16_t min, max;
	uint32_t next;                     /* rotating start of the search */
	uint32_t in_use[2];                /* per family index (0 = v4, 1 = v6) */
	uint8_t *bits[2];                  /* one bit per port in [min, max] */
	struct port_reservation reservations[PORT_POOL_MAX_RESERVATIONS];
};

int port_pool_init(struct port_pool *p, uint16_t min, uint16_t max);
void port_pool_destroy(struct port_pool *p);

/* Takes a free port for the family; `even` asks for an even one, and with
 * `reserve_next` also the port above it (for a later RESERVATION-TOKEN).
 * `skip` lets the caller pass over ports it just failed to bind. Returns the
 * port or -EAGAIN when none is free. */
int port_pool_take(struct port_pool *p, int family, bool even, bool reserve_next);
void port_pool_put(struct port_pool *p, int family, uint16_t port);
/* Records a reservation of `port` (already taken) and writes a fresh token.
 * Returns 0, or -ENOSPC when the reservation table is full. */
int port_pool_reserve(struct port_pool *p, int family, uint16_t port, uint64_t now_ms,
		      uint8_t token[8]);
/* Claims a reservation: returns its port (still taken, now the caller's) and
 * sets *family, or returns -ENOENT if the token is unknown or expired. */
int port_pool_claim(struct port_pool *p, const uint8_t token[8], uint64_t now_ms, int *family);
/* Releases reservations that were never claimed. */
void port_pool_expire(struct port_pool *p, uint64_t now_ms);
/* Ports in use / in the range, for readiness (later issue). */
uint32_t port_pool_size(const struct port_pool *p);

#endif
