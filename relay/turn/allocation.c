/* Allocation state: permissions and channel bindings with their timers.
 * Tables are small fixed arrays scanned linearly: a WebRTC call uses a
 * handful of peers, and a scan of a few cache lines beats a hash here. */
#include "relay/turn/allocation.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define TABLE_FIRST_SLOTS 2

struct allocation *allocation_new(uint16_t max_perms, uint16_t max_channels, size_t username_max)
{
	struct allocation *a = calloc(1, sizeof(*a) + username_max + 1);
	if (!a)
		return NULL;
	a->max_perms = max_perms;
	a->max_channels = max_channels;
	for (unsigned i = 0; i < 2; i++)
		a->relay[i].fd = -1;
	return a;
}

void allocation_free(struct allocation *a)
{
	if (!a)
		return;
	explicit_bzero(a->key, sizeof(a->key));
	free(a->media);                 /* turn_media_release gives it back first */
	free(a->perms);
	free(a->channels);
	free(a);
}

struct turn_relay *allocation_relay(struct allocation *a, int family)
{
	for (unsigned i = 0; i < a->n_relay; i++)
		if (a->relay[i].addr.ss_family == family)
			return &a->relay[i];
	return NULL;
}

/* Doubles a table of `elem`-byte slots up to `max` (new slots zeroed);
 * -ENOSPC at the limit, -ENOMEM if realloc fails (the table is kept). */
static int table_grow(void **table, uint16_t *cap, uint16_t max, size_t elem)
{
	if (*cap >= max)
		return -ENOSPC;
	unsigned want = *cap ? 2u * *cap : TABLE_FIRST_SLOTS;
	uint16_t next = (uint16_t)(want < max ? want : max);
	void *t = realloc(*table, (size_t)next * elem);
	if (!t)
		return -ENOMEM;
	memset((char *)t + (size_t)*cap * elem, 0, (size_t)(next - *cap) * elem);
	*table = t;
	*cap = next;
	return 0;
}

int allocation_reserve_permissions(struct allocation *a, uint16_t extra)
{
	if (a->n_perms + extra > a->max_perms)
		return -ENOSPC;
	while (a->cap_perms < a->n_perms + extra) {
		int e = table_grow((void **)&a->perms, &a->cap_perms, a->max_perms,
				   sizeof(*a->perms));
		if (e < 0)
			return e;
	}
	return 0;
}

static bool perm_matches(const struct turn_permission *p, const struct sockaddr_storage *peer)
{
	size_t len;
	const uint8_t *ip = sockaddr_ip_bytes(peer, &len);
	return p->family == peer->ss_family && memcmp(p->ip, ip, len) == 0;
}

static struct turn_permission *perm_find(const struct allocation *a,
					 const struct sockaddr_storage *peer)
{
	for (uint16_t i = 0; i < a->n_perms; i++)
		if (perm_matches(&a->perms[i], peer))
			return &a->perms[i];
	return NULL;
}

bool allocation_permitted(const struct allocation *a, const struct sockaddr_storage *peer,
			  uint64_t now_ms)
{
	const struct turn_permission *p = perm_find(a, peer);
	return p && p->expires_ms > now_ms;
}

bool allocation_can_permit(const struct allocation *a, const struct sockaddr_storage *peer,
			   uint64_t now_ms)
{
	(void)now_ms;
	return perm_find(a, peer) || a->n_perms < a->max_perms;
}

int allocation_permit(struct allocation *a, const struct sockaddr_storage *peer, uint64_t now_ms)
{
	struct turn_permission *p = perm_find(a, peer);
	if (!p) {
		int e = allocation_reserve_permissions(a, 1);
		if (e < 0)
			return e;
		p = &a->perms[a->n_perms++];
		size_t len;
		const uint8_t *ip = sockaddr_ip_bytes(peer, &len);
		memset(p, 0, sizeof(*p));
		p->family = peer->ss_family;
		memcpy(p->ip, ip, len);
	}
	p->expires_ms = now_ms + TURN_PERMISSION_MS;
	return 0;
}

const struct turn_channel *allocation_channel_by_number(const struct allocation *a,
							 uint16_t number, uint64_t now_ms)
{
	for (uint16_t i = 0; i < a->cap_channels; i++) {
		const struct turn_channel *c = &a->channels[i];
		if (c->number == number)
			return c->expires_ms > now_ms ? c : NULL;
	}
	return NULL;
}

const struct turn_channel *allocation_channel_by_peer(const struct allocation *a,
						       const struct sockaddr_storage *peer,
						       uint64_t now_ms)
{
	for (uint16_t i = 0; i < a->cap_channels; i++) {
		const struct turn_channel *c = &a->channels[i];
		if (c->number && sockaddr_equal(&c->peer, peer))
			return c->expires_ms > now_ms ? c : NULL;
	}
	return NULL;
}

int allocation_bind_channel(struct allocation *a, uint16_t number,
			    const struct sockaddr_storage *peer, uint64_t now_ms)
{
	/* The permission this installs must not fail after the channel is in. */
	if (!perm_find(a, peer)) {
		int e = allocation_reserve_permissions(a, 1);
		if (e < 0)
			return e;
	}
	struct turn_channel *free_slot = NULL, *same = NULL;
	for (uint16_t i = 0; i < a->cap_channels; i++) {
		struct turn_channel *c = &a->channels[i];
		if (!c->number) {
			if (!free_slot)
				free_slot = c;
			continue;
		}
		bool num_eq = c->number == number, peer_eq = sockaddr_equal(&c->peer, peer);
		if (num_eq && peer_eq)
			same = c;
		else if (num_eq || peer_eq)
			return -EEXIST; /* still bound, or in its quiet time, elsewhere */
	}
	struct turn_channel *c = same ? same : free_slot;
	if (!c) {
		uint16_t first_new = a->cap_channels;
		int e = table_grow((void **)&a->channels, &a->cap_channels, a->max_channels,
				   sizeof(*a->channels));
		if (e < 0)
			return e;
		c = &a->channels[first_new];
	}
	c->number = number;
	c->peer = *peer;
	c->expires_ms = now_ms + TURN_CHANNEL_MS;
	/* A channel binding also installs or refreshes the peer's permission. */
	return allocation_permit(a, peer, now_ms);
}

void allocation_expire(struct allocation *a, uint64_t now_ms)
{
	for (uint16_t i = 0; i < a->n_perms;) {
		if (a->perms[i].expires_ms <= now_ms)
			a->perms[i] = a->perms[--a->n_perms];
		else
			i++;
	}
	for (uint16_t i = 0; i < a->cap_channels; i++) {
		struct turn_channel *c = &a->channels[i];
		if (c->number && c->expires_ms + TURN_CHANNEL_QUIET_MS <= now_ms)
			memset(c, 0, sizeof(*c));
	}
}
