/* The shared relay port range; see port_pool.h. */
#include "relay/turn/port_pool.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>

static unsigned fam_index(int family) { return family == AF_INET6 ? 1 : 0; }

static bool bit_get(const uint8_t *bits, uint32_t i) { return bits[i / 8] & (1u << (i % 8)); }
static void bit_set(uint8_t *bits, uint32_t i) { bits[i / 8] |= (uint8_t)(1u << (i % 8)); }
static void bit_clear(uint8_t *bits, uint32_t i) { bits[i / 8] &= (uint8_t)~(1u << (i % 8)); }

int port_pool_init(struct port_pool *p, uint16_t min, uint16_t max)
{
	memset(p, 0, sizeof(*p));
	if (min > max || min == 0)
		return -EINVAL;
	p->min = min;
	p->max = max;
	size_t bytes = ((size_t)max - min + 1 + 7) / 8;
	for (unsigned f = 0; f < 2; f++) {
		p->bits[f] = calloc(bytes, 1);
		if (!p->bits[f]) {
			port_pool_destroy(p);
			return -ENOMEM;
		}
	}
	uint32_t seed = 0;
	if (getrandom(&seed, sizeof(seed), 0) != (ssize_t)sizeof(seed))
		seed = 0;
	p->next = seed % ((uint32_t)max - min + 1);
	return -pthread_mutex_init(&p->lock, NULL);
}

void port_pool_destroy(struct port_pool *p)
{
	if (p->bits[0] || p->bits[1])
		pthread_mutex_destroy(&p->lock);
	free(p->bits[0]);
	free(p->bits[1]);
	p->bits[0] = p->bits[1] = NULL;
}

uint32_t port_pool_size(const struct port_pool *p) { return (uint32_t)p->max - p->min + 1; }

int port_pool_take(struct port_pool *p, int family, bool even, bool reserve_next)
{
	uint8_t *bits = p->bits[fam_index(family)];
	uint32_t n = port_pool_size(p);
	int found = -EAGAIN;
	pthread_mutex_lock(&p->lock);
	/* Rotate the starting point so a freed port is not handed out again at
	 * once (a late packet for the old allocation must not reach the new one). */
	for (uint32_t k = 0; k < n; k++) {
		uint32_t i = (p->next + k) % n;
		uint32_t port = p->min + i;
		if (bit_get(bits, i) || (even && (port & 1)))
			continue;
		if (reserve_next && (port + 1 > p->max || bit_get(bits, i + 1)))
			continue;
		bit_set(bits, i);
		if (reserve_next)
			bit_set(bits, i + 1);
		p->next = (i + 1 + reserve_next) % n;
		p->in_use[fam_index(family)] += 1u + reserve_next;
		found = (int)port;
		break;
	}
	pthread_mutex_unlock(&p->lock);
	return found;
}

void port_pool_put(struct port_pool *p, int family, uint16_t port)
{
	if (port < p->min || port > p->max)
		return;
	pthread_mutex_lock(&p->lock);
	uint8_t *bits = p->bits[fam_index(family)];
	if (bit_get(bits, port - p->min)) {
		bit_clear(bits, port - p->min);
		p->in_use[fam_index(family)]--;
	}
	pthread_mutex_unlock(&p->lock);
}

int port_pool_reserve(struct port_pool *p, int family, uint16_t port, uint64_t now_ms,
		      uint8_t token[8])
{
	if (getrandom(token, 8, 0) != 8)
		return -EIO;
	int r = -ENOSPC;
	pthread_mutex_lock(&p->lock);
	for (size_t i = 0; i < PORT_POOL_MAX_RESERVATIONS; i++) {
		struct port_reservation *res = &p->reservations[i];
		if (res->used)
			continue;
		memcpy(res->token, token, 8);
		res->family = family;
		res->port = port;
		res->expires_ms = now_ms + PORT_POOL_RESERVATION_MS;
		res->used = true;
		r = 0;
		break;
	}
	pthread_mutex_unlock(&p->lock);
	return r;
}

int port_pool_claim(struct port_pool *p, const uint8_t token[8], uint64_t now_ms, int *family)
{
	int r = -ENOENT;
	pthread_mutex_lock(&p->lock);
	for (size_t i = 0; i < PORT_POOL_MAX_RESERVATIONS; i++) {
		struct port_reservation *res = &p->reservations[i];
		if (res->used && res->expires_ms > now_ms && memcmp(res->token, token, 8) == 0) {
			res->used = false;
			*family = res->family;
			r = res->port;
			break;
		}
	}
	pthread_mutex_unlock(&p->lock);
	return r;
}

void port_pool_expire(struct port_pool *p, uint64_t now_ms)
{
	pthread_mutex_lock(&p->lock);
	for (size_t i = 0; i < PORT_POOL_MAX_RESERVATIONS; i++) {
		struct port_reservation *res = &p->reservations[i];
		if (res->used && res->expires_ms <= now_ms) {
			res->used = false;
			unsigned f = fam_index(res->family);
			uint32_t idx = res->port - p->min;
			if (bit_get(p->bits[f], idx)) {
				bit_clear(p->bits[f], idx);
				p->in_use[f]--;
			}
		}
	}
	pthread_mutex_unlock(&p->lock);
}
