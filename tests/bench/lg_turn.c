/* The load generator's TURN setup of one allocation, as a state machine fed
 * by whatever transport the client uses: Allocate without credentials (the
 * 401 gives REALM and NONCE), Allocate with MESSAGE-INTEGRITY, then
 * CreatePermission and ChannelBind toward the allocation's peer. UDP
 * requests are retransmitted on a timer; stream requests only time out.
 * Built on Tern's own STUN codec and REST credential code. */
#include "tests/bench/loadgen.h"

#include <errno.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "auth/cred.h"
#include "relay/stun/stun.h"

#define LG_RTO_NS       (500ull * 1000 * 1000)
#define LG_STREAM_TO_NS (5000ull * 1000 * 1000)
#define LG_MAX_TRIES    6
#define LG_LIFETIME     3600

static uint16_t state_method(enum lg_state s)
{
	switch (s) {
	case LG_PERMISSION: return TURN_CREATE_PERMISSION;
	case LG_BIND: return TURN_CHANNEL_BIND;
	default: return TURN_ALLOCATE;
	}
}

static void add_auth(struct stun_builder *b, struct lg_alloc *a)
{
	stun_build_attr(b, STUN_ATTR_USERNAME, a->username, strlen(a->username));
	stun_build_attr(b, STUN_ATTR_REALM, a->realm, strlen(a->realm));
	stun_build_attr(b, STUN_ATTR_NONCE, a->nonce, a->nonce_len);
	stun_build_integrity(b, a->key, sizeof(a->key));
}

/* Builds the request for a's current state into a->req and sends it. */
static void send_request(struct lg *g, struct lg_alloc *a, bool fresh_tid)
{
	if (fresh_tid)
		RAND_bytes(a->tid, sizeof(a->tid));
	struct stun_builder b;
	stun_build_init(&b, a->req, LG_REQ_MAX, stun_type(state_method(a->state), STUN_REQUEST),
			a->tid);
	static const uint8_t udp_transport[4] = { 17, 0, 0, 0 };
	switch (a->state) {
	case LG_CHALLENGE:
		stun_build_attr(&b, TURN_ATTR_REQUESTED_TRANSPORT, udp_transport, 4);
		break;
	case LG_ALLOCATE:
		stun_build_attr(&b, TURN_ATTR_REQUESTED_TRANSPORT, udp_transport, 4);
		stun_build_u32(&b, TURN_ATTR_LIFETIME, LG_LIFETIME);
		add_auth(&b, a);
		break;
	case LG_PERMISSION:
		stun_build_xor_addr(&b, TURN_ATTR_XOR_PEER_ADDRESS, &g->peer_addr[a->peer]);
		add_auth(&b, a);
		break;
	case LG_BIND: {
		unsigned c = LG_CHANNEL + a->peer;
		uint8_t ch[4] = { (uint8_t)(c >> 8), (uint8_t)c, 0, 0 };
		stun_build_attr(&b, TURN_ATTR_CHANNEL_NUMBER, ch, 4);
		stun_build_xor_addr(&b, TURN_ATTR_XOR_PEER_ADDRESS, &g->peer_addr[a->peer]);
		add_auth(&b, a);
		break;
	}
	default:
		return;
	}
	int n = stun_build_finish(&b);
	if (n < 0) {
		a->state = LG_FAILED;
		return;
	}
	a->req_len = (uint16_t)n;
	a->deadline = lg_now() + (g->transport == LG_UDP ? LG_RTO_NS : LG_STREAM_TO_NS);
	if (lg_client_send(g, a, a->req, a->req_len) < 0 && g->transport != LG_UDP)
		a->state = LG_FAILED;
}

static void finish(struct lg *g, struct lg_alloc *a, enum lg_state st)
{
	a->state = st;
	if (st == LG_READY)
		g->ready++;
	else
		g->failed++;
	g->in_flight--;
}

void lg_setup_start(struct lg *g, struct lg_alloc *a)
{
	char user[48];
	snprintf(user, sizeof(user), "%s-%u", g->user_prefix, a->ep.index);
	g->in_flight++;
	a->t_start = lg_now();
	a->tries = 0;
	if (cred_mint(&g->secrets, user, (int64_t)time(NULL), 86400, a->username,
		      sizeof(a->username), a->password) < 0 ||
	    (a->fd < 0 && lg_client_open(g, a) < 0)) {
		finish(g, a, LG_FAILED);
		return;
	}
	a->state = LG_CHALLENGE;
	send_request(g, a, true);
}

/* 401 or 438: take REALM and NONCE, derive the key, ask again. */
static int take_challenge(struct lg_alloc *a, const struct stun_msg *m, bool first)
{
	const struct stun_attr *realm = stun_msg_find(m, STUN_ATTR_REALM);
	const struct stun_attr *nonce = stun_msg_find(m, STUN_ATTR_NONCE);
	if (!nonce || nonce->len > sizeof(a->nonce) || (first && !realm) ||
	    (realm && realm->len >= sizeof(a->realm)))
		return -EINVAL;
	if (first) {
		memcpy(a->realm, stun_attr_value(m, realm), realm->len);
		a->realm[realm->len] = 0;
		stun_long_term_key_md5(a->username, strlen(a->username), a->realm,
				       strlen(a->realm), a->password, strlen(a->password), a->key);
	}
	memcpy(a->nonce, stun_attr_value(m, nonce), nonce->len);
	a->nonce_len = nonce->len;
	return 0;
}

static enum lg_state next_state(enum lg_state s)
{
	switch (s) {
	case LG_ALLOCATE: return LG_PERMISSION;
	case LG_PERMISSION: return LG_BIND;
	case LG_BIND: return LG_READY;
	default: return LG_FAILED;
	}
}

void lg_setup_input(struct lg *g, struct lg_alloc *a, const uint8_t *buf, size_t len)
{
	struct stun_msg m;
	if (a->state < LG_CHALLENGE || a->state > LG_BIND || stun_msg_parse(&m, buf, len) < 0 ||
	    memcmp(m.tid, a->tid, sizeof(a->tid)) != 0 ||
	    stun_type_method(m.type) != state_method(a->state)) {
		g->c.bad++;
		return;
	}
	if (stun_type_class(m.type) == STUN_ERROR) {
		const struct stun_attr *e = stun_msg_find(&m, STUN_ATTR_ERROR_CODE);
		int code = 0;
		if (e)
			stun_attr_get_error(&m, e, &code);
		bool first = a->state == LG_CHALLENGE && code == 401;
		if ((first || code == 438) && a->tries++ < LG_MAX_TRIES &&
		    take_challenge(a, &m, first) == 0) {
			if (first)
				a->state = LG_ALLOCATE;
			send_request(g, a, true);
			return;
		}
		fprintf(stderr, "loadgen: allocation %u: error %d in state %d\n", a->ep.index,
			code, a->state);
		finish(g, a, LG_FAILED);
		return;
	}
	if (stun_type_class(m.type) != STUN_SUCCESS || a->state == LG_CHALLENGE) {
		finish(g, a, LG_FAILED);
		return;
	}
	a->state = next_state(a->state);
	a->tries = 0;
	if (a->state == LG_READY) {
		a->state = LG_BIND;     /* finish() counts the transition */
		finish(g, a, LG_READY);
		return;
	}
	send_request(g, a, true);
}

/* Retransmits (UDP) or gives up (streams, or too many tries). Scans every
 * allocation, so the caller calls it a few times a second, not per packet. */
void lg_setup_timers(struct lg *g, uint64_t now)
{
	for (unsigned i = 0; i < g->n_allocs; i++) {
		struct lg_alloc *a = &g->allocs[i];
		if (a->state < LG_CHALLENGE || a->state > LG_BIND || now < a->deadline)
			continue;
		if (g->transport != LG_UDP || ++a->tries > LG_MAX_TRIES) {
			fprintf(stderr, "loadgen: allocation %u timed out in state %d\n", i,
				a->state);
			finish(g, a, LG_FAILED);
			continue;
		}
		a->deadline = now + LG_RTO_NS * a->tries;
		lg_client_send(g, a, a->req, a->req_len);
	}
}

/* Refresh with LIFETIME 0: frees the allocation at once, so a later run
 * whose client happens to get the same ephemeral port does not meet it
 * (441). Fire and forget; the answer is ignored. */
void lg_release(struct lg *g, struct lg_alloc *a)
{
	if (a->state != LG_READY || a->fd < 0)
		return;
	uint8_t buf[LG_REQ_MAX];
	uint8_t tid[STUN_TID_LEN];
	RAND_bytes(tid, sizeof(tid));
	struct stun_builder b;
	stun_build_init(&b, buf, sizeof(buf), stun_type(TURN_REFRESH, STUN_REQUEST), tid);
	stun_build_u32(&b, TURN_ATTR_LIFETIME, 0);
	add_auth(&b, a);
	int n = stun_build_finish(&b);
	if (n > 0)
		lg_client_send(g, a, buf, (size_t)n);
}
