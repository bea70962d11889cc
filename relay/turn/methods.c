/* The four TURN requests (RFC 8656 sections 7-11): Allocate, Refresh,
 * CreatePermission and ChannelBind, each after authentication. Each check
 * answers with the error code the RFC names for it. */
#include "relay/turn/server_internal.h"

#include <errno.h>
#include <string.h>

#define PROTO_UDP 17
#define RELAY_BIND_ATTEMPTS 8

/* ---- Allocate ---- */

struct allocate_plan {
	int family;             /* first (or only) relay */
	bool dual;              /* also an IPv6 relay (ADDITIONAL-ADDRESS-FAMILY) */
	bool dual_refused;      /* asked for dual, but no IPv6 relay address: 440 in ADDRESS-ERROR-CODE */
	bool even, reserve;
	const uint8_t *token;   /* RESERVATION-TOKEN, or NULL */
	int64_t lifetime_req;
};

/* Reads and cross-checks the Allocate attributes. Returns 0 or an error code. */
static int plan_allocate(const struct turn_server *s, const struct stun_msg *msg,
			 struct allocate_plan *p)
{
	const struct tern_config *conf = s->snap->conf;
	const struct stun_attr *rt = stun_msg_find(msg, TURN_ATTR_REQUESTED_TRANSPORT);
	const struct stun_attr *ep = stun_msg_find(msg, TURN_ATTR_EVEN_PORT);
	const struct stun_attr *tok = stun_msg_find(msg, TURN_ATTR_RESERVATION_TOKEN);
	const struct stun_attr *raf = stun_msg_find(msg, TURN_ATTR_REQUESTED_ADDRESS_FAMILY);
	const struct stun_attr *aaf = stun_msg_find(msg, TURN_ATTR_ADDITIONAL_ADDRESS_FAMILY);
	const struct stun_attr *lt = stun_msg_find(msg, TURN_ATTR_LIFETIME);
	uint8_t proto;
	memset(p, 0, sizeof(*p));
	p->family = AF_INET;
	p->lifetime_req = -1;
	if (!rt || stun_attr_get_transport(msg, rt, &proto) < 0)
		return 400;
	if (proto != PROTO_UDP)
		return 442;
	if (tok && (ep || raf || aaf))
		return 400;
	if (tok) {
		if (tok->len != 8)
			return 400;
		p->token = stun_attr_value(msg, tok);
	}
	if (raf && aaf)
		return 400;
	if (ep && stun_attr_get_even_port(msg, ep, &p->reserve) < 0)
		return 400;
	p->even = ep != NULL;
	if (raf && stun_attr_get_family(msg, raf, &p->family) < 0)
		return 400;
	if (aaf) {
		int fam;
		if (stun_attr_get_family(msg, aaf, &fam) < 0 || fam != AF_INET6 || p->reserve)
			return 400;
		p->dual = conf->has_relay_v6;
		p->dual_refused = !conf->has_relay_v6;
	}
	if (p->family == AF_INET ? !conf->has_relay_v4 : !conf->has_relay_v6)
		return 440;
	uint32_t v;
	if (lt) {
		if (stun_attr_get_u32(msg, lt, &v) < 0)
			return 400;
		p->lifetime_req = v;
	}
	return 0;
}

/* Binds one relay of the family on a port from the pool. Returns 0 or an error code. */
static int open_relay(struct turn_server *s, struct allocation *a, int family,
		      const struct allocate_plan *p, int claimed_port)
{
	const struct tern_config *conf = s->snap->conf;
	struct turn_relay *r = &a->relay[a->n_relay];
	for (int attempt = 0; attempt < RELAY_BIND_ATTEMPTS; attempt++) {
		int port = claimed_port;
		if (port <= 0)
			port = port_pool_take(&s->shared->ports, family, p->even, p->reserve);
		if (port < 0)
			return 508;
		r->owner = a;
		r->fd = -1;
		r->addr = family == AF_INET6 ? conf->relay_v6 : conf->relay_v4;
		sockaddr_set_port(&r->addr, (uint16_t)port);
		int e = s->ops->relay_open(s->io, r, a->dont_fragment);
		if (e == 0) {
			a->n_relay++;
			return 0;
		}
		/* Someone outside Tern holds the port: give it back and try another. */
		port_pool_put(&s->shared->ports, family, (uint16_t)port);
		if (p->reserve)
			port_pool_put(&s->shared->ports, family, (uint16_t)(port + 1));
		if (e != -EADDRINUSE || claimed_port > 0)
			return 508;
	}
	return 508;
}

static int fill_allocation(struct turn_server *s, struct turn_req *req, struct allocation *a)
{
	a->client = *req->from;
	memcpy(a->username, req->username, req->username_len);
	a->username_len = req->username_len;
	a->user_id_off = (size_t)(req->cred.user_id - req->username);
	memcpy(a->key, req->key, req->key_len);
	a->key_len = req->key_len;
	a->cred_expiry = req->cred.expiry;
	a->created_ms = s->now_ms;
	a->dont_fragment = stun_msg_find(req->msg, TURN_ATTR_DONT_FRAGMENT) != NULL;
	const struct tern_config *conf = s->snap->conf;
	int r = user_quota_acquire(&s->shared->quota, req->cred.user_id, req->cred.user_id_len,
				   conf->allocations_per_user, conf->allocations_total);
	if (r == -EDQUOT)
		return 486;
	if (r < 0)
		return 508;
	a->user_id_len = req->cred.user_id_len;
	return 0;
}

static void answer_allocate(struct turn_server *s, struct turn_req *req, struct allocation *a,
			    const struct allocate_plan *p, uint32_t lifetime, const uint8_t *token)
{
	struct stun_builder b;
	turn_answer_start(s, &b, req, STUN_SUCCESS);
	for (unsigned i = 0; i < a->n_relay; i++)
		stun_build_xor_addr(&b, TURN_ATTR_XOR_RELAYED_ADDRESS, &a->relay[i].addr);
	if (p->dual_refused) {
		/* ADDRESS-ERROR-CODE: family IPv6, 440 (RFC 8656 section 18.13). */
		const uint8_t v[4] = { 0x02, 0, 4, 40 };
		stun_build_attr(&b, TURN_ATTR_ADDRESS_ERROR_CODE, v, sizeof(v));
	}
	stun_build_u32(&b, TURN_ATTR_LIFETIME, lifetime);
	if (token)
		stun_build_attr(&b, TURN_ATTR_RESERVATION_TOKEN, token, 8);
	stun_build_xor_addr(&b, STUN_ATTR_XOR_MAPPED_ADDRESS, &req->from->addr);
	turn_answer_send(s, &b, req);
}

/* Draining: send the client elsewhere (RFC 8489 section 10: 300 with
 * ALTERNATE-SERVER), or refuse for capacity when there is nowhere to send it. */
static void answer_draining(struct turn_server *s, struct turn_req *req)
{
	const struct tern_config *conf = s->snap->conf;
	turn_count_outcome(s, conf->has_alternate ? 300 : 508);
	if (!conf->has_alternate) {
		turn_answer_error(s, req, 508);
		return;
	}
	struct stun_builder b;
	turn_answer_start(s, &b, req, STUN_ERROR);
	stun_build_error(&b, 300, NULL);
	stun_build_addr(&b, STUN_ATTR_ALTERNATE_SERVER, &conf->alternate_server);
	turn_answer_send(s, &b, req);
}

void turn_handle_allocate(struct turn_server *s, struct turn_req *req)
{
	if (!req->alloc && atomic_load_explicit(&s->shared->draining, memory_order_relaxed)) {
		answer_draining(s, req);
		return;
	}
	if (!req->alloc &&
	    atomic_load_explicit(&s->shared->revocation_refusing, memory_order_relaxed)) {
		/* We cannot know who is revoked: fail closed for new calls only. */
		mc_inc(&s->metrics.revocation_refused);
		turn_count_outcome(s, 508);
		turn_answer_error(s, req, 508);
		return;
	}
	if (req->alloc) {
		turn_count_outcome(s, 437);
		turn_answer_error(s, req, 437); /* an allocation exists; not a retransmission */
		return;
	}
	struct allocate_plan p;
	int code = plan_allocate(s, req->msg, &p);
	int claimed = 0;
	if (!code && p.token) {
		/* The token names the family too (hence 400 with REQUESTED-ADDRESS-FAMILY). */
		claimed = port_pool_claim(&s->shared->ports, p.token, s->now_ms, &p.family);
		if (claimed < 0)
			code = 508;
	}
	uint32_t lifetime = turn_lifetime_for(s, p.lifetime_req, req->cred.expiry);
	const struct tern_config *conf = s->snap->conf;
	struct allocation *a = NULL;
	if (!code) {
		a = allocation_new((uint16_t)conf->permissions_per_allocation,
				   (uint16_t)conf->channels_per_allocation, req->username_len);
		code = a ? fill_allocation(s, req, a) : 508;
	}
	if (!code) {
		code = open_relay(s, a, p.family, &p, claimed);
		claimed = 0; /* open_relay owns the claimed port now, and returns it on failure */
	}
	if (!code && p.dual)
		code = open_relay(s, a, AF_INET6, &(struct allocate_plan){ 0 }, 0);
	uint8_t token[8];
	bool has_token = false;
	if (!code && p.reserve) {
		uint16_t next = (uint16_t)(sockaddr_port(&a->relay[0].addr) + 1);
		if (port_pool_reserve(&s->shared->ports, p.family, next, s->now_ms, token) < 0) {
			port_pool_put(&s->shared->ports, p.family, next);
			code = 508;
		}
		has_token = true;
	}
	if (!code && turn_allocation_register(s, a, req->alloc_slot) < 0)
		code = 508;
	if (code) {
		if (claimed > 0)
			port_pool_put(&s->shared->ports, p.family, (uint16_t)claimed);
		if (a) {
			turn_allocation_release(s, a);
			allocation_free(a);
		}
		turn_count_outcome(s, code);
		turn_answer_error(s, req, code);
		return;
	}
	turn_count_outcome(s, 0);
	a->expires_ms = s->now_ms + (uint64_t)lifetime * 1000u;
	req->alloc = a;
	answer_allocate(s, req, a, &p, lifetime, has_token ? token : NULL);
}

/* ---- Refresh ---- */

void turn_handle_refresh(struct turn_server *s, struct turn_req *req)
{
	struct allocation *a = req->alloc; /* present: checked before dispatch */
	const struct stun_msg *msg = req->msg;
	const struct stun_attr *raf = stun_msg_find(msg, TURN_ATTR_REQUESTED_ADDRESS_FAMILY);
	int fam;
	if (raf && (stun_attr_get_family(msg, raf, &fam) < 0 || !allocation_relay(a, fam))) {
		turn_answer_error(s, req, 443);
		return;
	}
	const struct stun_attr *lt = stun_msg_find(msg, TURN_ATTR_LIFETIME);
	uint32_t v = 0;
	if (lt && stun_attr_get_u32(msg, lt, &v) < 0) {
		turn_answer_error(s, req, 400);
		return;
	}
	uint32_t lifetime = 0;
	if (!lt || v > 0)
		lifetime = turn_lifetime_for(s, lt ? (int64_t)v : -1, req->cred.expiry);
	if (lifetime == 0) {
		turn_allocation_delete(s, a, ME_CLIENT);
		req->alloc = NULL;
	} else {
		a->expires_ms = s->now_ms + (uint64_t)lifetime * 1000u;
		turn_audit(s, AE_ALLOCATION_REFRESHED, a, 0, NULL);
	}
	struct stun_builder b;
	turn_answer_start(s, &b, req, STUN_SUCCESS);
	stun_build_u32(&b, TURN_ATTR_LIFETIME, lifetime);
	turn_answer_send(s, &b, req);
}

/* ---- CreatePermission and ChannelBind ---- */

/* Judges one peer address: 0, or 443 (no relay of its family) / 403 (policy). */
static int judge_peer(struct turn_server *s, struct allocation *a,
		      const struct sockaddr_storage *peer)
{
	if (!allocation_relay(a, peer->ss_family))
		return 443;
	if (peer_policy_check(&s->snap->policy, peer) != PEER_ALLOWED) {
		mc_inc(&s->metrics.peer_denied);
		turn_audit(s, AE_PERMISSION_DENIED, a, 0, peer);
		return 403;
	}
	return 0;
}

#define MAX_PEERS_PER_REQUEST 32

static bool listed_before(const struct sockaddr_storage *peers, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (sockaddr_same_ip(&peers[i], &peers[n]))
			return true;
	return false;
}

void turn_handle_create_permission(struct turn_server *s, struct turn_req *req)
{
	struct allocation *a = req->alloc; /* present: checked before dispatch */
	const struct stun_msg *msg = req->msg;
	struct sockaddr_storage peers[MAX_PEERS_PER_REQUEST];
	size_t n = 0, fresh = 0;
	int code = 0;
	/* All or nothing (RFC 8656 section 9.2): judge every peer before installing any. */
	for (uint16_t i = 0; i < msg->n_attrs && !code; i++) {
		if (msg->attrs[i].type != TURN_ATTR_XOR_PEER_ADDRESS)
			continue;
		if (n == MAX_PEERS_PER_REQUEST ||
		    stun_attr_get_xor_addr(msg, &msg->attrs[i], &peers[n]) < 0) {
			code = 400;
			break;
		}
		code = judge_peer(s, a, &peers[n]);
		/* An entry with any expiry (now 0) exists: refreshing it needs no
		 * slot; nor does a second mention of an address in this request. */
		if (!code && !allocation_permitted(a, &peers[n], 0) && !listed_before(peers, n))
			fresh++;
		n++;
	}
	if (!code && n == 0)
		code = 400;
	if (!code && allocation_reserve_permissions(a, fresh) < 0)
		code = 508;
	for (size_t i = 0; i < n && !code; i++)
		if (allocation_permit(a, &peers[i], s->now_ms) < 0)
			code = 508;
	if (code) {
		turn_answer_error(s, req, code);
		return;
	}
	turn_answer_empty_success(s, req);
}

void turn_handle_channel_bind(struct turn_server *s, struct turn_req *req)
{
	struct allocation *a = req->alloc; /* present: checked before dispatch */
	const struct stun_msg *msg = req->msg;
	const struct stun_attr *ch = stun_msg_find(msg, TURN_ATTR_CHANNEL_NUMBER);
	const struct stun_attr *pa = stun_msg_find(msg, TURN_ATTR_XOR_PEER_ADDRESS);
	uint16_t number;
	struct sockaddr_storage peer;
	int code = 0;
	if (!ch || !pa || stun_attr_get_channel(msg, ch, &number) < 0 ||
	    number < TURN_CHANNEL_MIN || number > TURN_CHANNEL_MAX ||
	    stun_attr_get_xor_addr(msg, pa, &peer) < 0)
		code = 400;
	if (!code)
		code = judge_peer(s, a, &peer);
	if (!code && !allocation_can_permit(a, &peer, s->now_ms))
		code = 508;
	if (!code) {
		int r = allocation_bind_channel(a, number, &peer, s->now_ms);
		code = r == -EEXIST ? 400 : r < 0 ? 508 : 0;
	}
	if (code) {
		turn_answer_error(s, req, code);
		return;
	}
	turn_answer_empty_success(s, req);
}
