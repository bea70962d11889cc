/* Shared helpers for the TURN server unit tests: a fake io layer that
 * records what would be sent and which relays were opened, a hand-built
 * config snapshot, REST credentials, and a small client that builds real
 * STUN requests with the codec and reads the answers back. Only
 * test_turn_server.c includes this; helpers are static. */
#ifndef TERN_TESTS_TURN_FIXTURE_H
#define TERN_TESTS_TURN_FIXTURE_H

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "auth/cred.h"
#include "relay/stun/stun.h"
#include "relay/turn/server.h"

#define FX_REALM      "tern.test"
#define FX_SECRET_NEW "fixture-secret-new-0123456789"
#define FX_SECRET_OLD "fixture-secret-old-9876543210"
#define FX_PORT_MIN   50000
#define FX_PORT_MAX   50099
#define FX_MAX_SENT   8
#define FX_BUF        2048

/* ---- the fake io layer -------------------------------------------------- */

struct fx_sent {
	struct turn_client to;
	size_t len;
	uint8_t buf[FX_BUF];
};

struct fx_peer_sent {
	struct turn_relay *relay;
	struct sockaddr_storage peer;
	size_t len;
	uint8_t buf[FX_BUF];
};

struct fx_io {
	size_t n_client, n_peer;                  /* totals; the rings keep the last few */
	struct fx_sent client[FX_MAX_SENT];
	struct fx_peer_sent peer[FX_MAX_SENT];
	unsigned n_open, n_close, n_live;
	struct turn_relay *last_open;
	struct sockaddr_storage last_open_addr, last_close_addr;
	bool last_df;
	int open_result;                          /* what relay_open returns (0: success) */
};

static void fx_send_client(void *io, const struct turn_client *to, const uint8_t *buf, size_t len)
{
	struct fx_io *x = io;
	struct fx_sent *s = &x->client[x->n_client++ % FX_MAX_SENT];
	assert_true(len <= sizeof(s->buf));
	s->to = *to;
	s->len = len;
	memcpy(s->buf, buf, len);
}

static void fx_send_peer(void *io, struct turn_relay *r, const struct sockaddr_storage *peer,
			 const uint8_t *buf, size_t len)
{
	struct fx_io *x = io;
	struct fx_peer_sent *s = &x->peer[x->n_peer++ % FX_MAX_SENT];
	assert_true(len <= sizeof(s->buf));
	assert_true(r->fd >= 0);
	s->relay = r;
	s->peer = *peer;
	s->len = len;
	memcpy(s->buf, buf, len);
}

static int fx_relay_open(void *io, struct turn_relay *r, bool dont_fragment)
{
	struct fx_io *x = io;
	x->n_open++;
	x->last_open_addr = r->addr;
	x->last_df = dont_fragment;
	if (x->open_result < 0)
		return x->open_result;
	r->fd = 1000 + (int)x->n_open;
	x->last_open = r;
	x->n_live++;
	return 0;
}

static void fx_relay_close(void *io, struct turn_relay *r)
{
	struct fx_io *x = io;
	assert_true(r->fd >= 0);
	assert_true(x->n_live > 0);
	x->n_close++;
	x->n_live--;
	x->last_close_addr = r->addr;
	r->fd = -1;
}

static const struct turn_io_ops fx_ops = {
	.send_client = fx_send_client,
	.send_peer = fx_send_peer,
	.relay_open = fx_relay_open,
	.relay_close = fx_relay_close,
};

/* ---- the server under test --------------------------------------------- */

struct fx {
	struct tern_config conf;
	struct turn_shared sh;
	struct turn_server s;
	struct fx_io io;
	bool running;
	uint32_t tid_seq;
};

static void fx_addr(struct sockaddr_storage *sa, const char *text)
{
	assert_int_equal(sockaddr_parse(text, true, sa), 0);
}

static void fx_conf_defaults(struct tern_config *c)
{
	memset(c, 0, sizeof(*c));
	c->workers = 1;
	strcpy(c->realm, FX_REALM);
	c->has_relay_v4 = true;
	fx_addr(&c->relay_v4, "192.0.2.10");
	c->port_min = FX_PORT_MIN;
	c->port_max = FX_PORT_MAX;
	/* secrets[0] mints, both verify: a rotation in progress. */
	c->secrets.hmac = SECRETS_HMAC_SHA1;
	c->secrets.n = 2;
	c->secrets.s[0].len = strlen(FX_SECRET_NEW);
	memcpy(c->secrets.s[0].value, FX_SECRET_NEW, c->secrets.s[0].len);
	c->secrets.s[1].len = strlen(FX_SECRET_OLD);
	memcpy(c->secrets.s[1].value, FX_SECRET_OLD, c->secrets.s[1].len);
	c->max_ttl = 86400;
	c->nonce_lifetime = 600;
	c->clock_skew = 30;
	c->allocations_total = 100;
	c->allocations_per_user = 10;
	c->permissions_per_allocation = 8;
	c->channels_per_allocation = 8;
	c->default_lifetime = 600;
	c->max_lifetime = 3600;
	c->unauth_rate = 1000;
	c->unauth_burst = 1000;
	c->unauth_total_rate = 100000;
}

static void fx_start(struct fx *f)
{
	char err[256] = "";
	int r = turn_shared_init(&f->sh, &f->conf, err, sizeof(err));
	if (r < 0)
		fail_msg("turn_shared_init: %s", err);
	assert_int_equal(turn_server_init(&f->s, &f->sh, &fx_ops, &f->io), 0);
	f->running = true;
}

static void fx_stop(struct fx *f)
{
	if (!f->running)
		return;
	turn_server_destroy(&f->s);
	turn_shared_destroy(&f->sh);
	f->running = false;
	/* Every relay the server opened, it closed. */
	assert_int_equal(f->io.n_live, 0);
}

/* Applies config changes made after setup: a fresh server and shared state. */
static void fx_restart(struct fx *f)
{
	fx_stop(f);
	memset(&f->io, 0, sizeof(f->io));
	fx_start(f);
}

static int fx_setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	assert_non_null(f);
	fx_conf_defaults(&f->conf);
	fx_start(f);
	*state = f;
	return 0;
}

static int fx_teardown(void **state)
{
	struct fx *f = *state;
	fx_stop(f);
	secrets_wipe(&f->conf.secrets);
	free(f);
	return 0;
}

/* ---- clients and credentials ------------------------------------------- */

struct fx_client {
	struct turn_client tc;
	struct allocation *slot;                  /* stream connections: the io layer's pointer */
	bool stream;
	char nonce[NONCE_MAX_LEN];
	size_t nonce_len;
	char username[CRED_MAX_USERNAME + 1];
	char password[CRED_PASSWORD_CAP];
	uint8_t key[16];
};

static void fx_client_init(struct fx_client *c, const char *addr, enum turn_transport tr)
{
	memset(c, 0, sizeof(*c));
	c->tc.transport = tr;
	fx_addr(&c->tc.addr, addr);
	c->stream = tr != TURN_UDP;
	c->tc.conn = c->stream ? (void *)c : NULL;
}

static void fx_key(const struct fx *f, struct fx_client *c)
{
	stun_long_term_key_md5(c->username, strlen(c->username), f->conf.realm,
			       strlen(f->conf.realm), c->password, strlen(c->password), c->key);
}

/* Mints a REST credential with `sec`, issued at now + skew_s, valid ttl s. */
static void fx_cred_with(const struct fx *f, struct fx_client *c, const struct secrets *sec,
			 const char *user_id, int64_t skew_s, int64_t ttl)
{
	assert_int_equal(cred_mint(sec, user_id, (int64_t)time(NULL) + skew_s, ttl, c->username,
				   sizeof(c->username), c->password), 0);
	fx_key(f, c);
}

static void fx_cred(const struct fx *f, struct fx_client *c, const char *user_id, int64_t ttl)
{
	fx_cred_with(f, c, &f->conf.secrets, user_id, 0, ttl);
}

/* ---- requests ----------------------------------------------------------- */

struct fx_msg {
	struct stun_builder b;
	uint16_t method;
	uint8_t tid[STUN_TID_LEN];
	uint8_t buf[1500];
};

static void fx_msg_start(struct fx *f, struct fx_msg *m, uint16_t method, enum stun_class cls)
{
	uint32_t seq = ++f->tid_seq;
	m->method = method;
	memset(m->tid, 0x5a, sizeof(m->tid));
	memcpy(m->tid, &seq, sizeof(seq));
	stun_build_init(&m->b, m->buf, sizeof(m->buf), stun_type(method, cls), m->tid);
}

static void fx_add_transport(struct fx_msg *m, uint8_t proto)
{
	const uint8_t v[4] = { proto, 0, 0, 0 };
	stun_build_attr(&m->b, TURN_ATTR_REQUESTED_TRANSPORT, v, sizeof(v));
}

static void fx_add_family(struct fx_msg *m, uint16_t type, uint8_t family)
{
	const uint8_t v[4] = { family, 0, 0, 0 };
	stun_build_attr(&m->b, type, v, sizeof(v));
}

static void fx_add_even_port(struct fx_msg *m, bool reserve)
{
	const uint8_t v = reserve ? 0x80 : 0x00;
	stun_build_attr(&m->b, TURN_ATTR_EVEN_PORT, &v, 1);
}

static void fx_add_peer(struct fx_msg *m, const char *addr)
{
	struct sockaddr_storage sa;
	fx_addr(&sa, addr);
	stun_build_xor_addr(&m->b, TURN_ATTR_XOR_PEER_ADDRESS, &sa);
}

static void fx_add_channel(struct fx_msg *m, uint16_t number)
{
	const uint8_t v[4] = { (uint8_t)(number >> 8), (uint8_t)number, 0, 0 };
	stun_build_attr(&m->b, TURN_ATTR_CHANNEL_NUMBER, v, sizeof(v));
}

/* USERNAME, REALM, NONCE and MESSAGE-INTEGRITY with the client's key. */
static void fx_msg_auth(const struct fx *f, struct fx_msg *m, const struct fx_client *c)
{
	stun_build_attr(&m->b, STUN_ATTR_USERNAME, c->username, strlen(c->username));
	stun_build_attr(&m->b, STUN_ATTR_REALM, f->conf.realm, strlen(f->conf.realm));
	stun_build_attr(&m->b, STUN_ATTR_NONCE, c->nonce, c->nonce_len);
	stun_build_integrity(&m->b, c->key, sizeof(c->key));
}

/* ---- answers ------------------------------------------------------------ */

struct fx_answer {
	struct turn_client to;
	size_t len;
	uint8_t buf[FX_BUF];
	struct stun_msg msg;
};

static size_t fx_sent_since(const struct fx *f, size_t before)
{
	return f->io.n_client - before;
}

static const struct fx_sent *fx_last_sent(const struct fx *f)
{
	assert_true(f->io.n_client > 0);
	return &f->io.client[(f->io.n_client - 1) % FX_MAX_SENT];
}

/* Hands raw bytes to the server as coming from c; returns how many
 * messages went back to any client. */
static size_t fx_input(struct fx *f, struct fx_client *c, const uint8_t *buf, size_t len)
{
	size_t before = f->io.n_client;
	turn_server_client_input(&f->s, &c->tc, c->stream ? &c->slot : NULL, buf, len);
	return fx_sent_since(f, before);
}

/* Sends a request; returns true and the parsed answer if exactly one came back. */
static bool fx_exchange(struct fx *f, struct fx_client *c, struct fx_msg *m, struct fx_answer *a)
{
	int len = stun_build_finish(&m->b);
	assert_true(len > 0);
	size_t n = fx_input(f, c, m->buf, (size_t)len);
	assert_true(n <= 1);
	if (n == 0)
		return false;
	const struct fx_sent *s = fx_last_sent(f);
	memset(a, 0, sizeof(*a));
	a->to = s->to;
	a->len = s->len;
	memcpy(a->buf, s->buf, s->len);
	assert_int_equal(stun_msg_parse(&a->msg, a->buf, a->len), 0);
	assert_memory_equal(a->msg.tid, m->tid, STUN_TID_LEN);
	assert_int_equal(stun_type_method(a->msg.type), m->method);
	assert_true(sockaddr_equal(&a->to.addr, &c->tc.addr));
	return true;
}

static const struct stun_attr *fx_attr_nth(const struct fx_answer *a, uint16_t type, unsigned n)
{
	for (uint16_t i = 0; i < a->msg.n_attrs; i++)
		if (a->msg.attrs[i].type == type && n-- == 0)
			return &a->msg.attrs[i];
	return NULL;
}

static unsigned fx_attr_count(const struct fx_answer *a, uint16_t type)
{
	unsigned n = 0;
	for (uint16_t i = 0; i < a->msg.n_attrs; i++)
		n += a->msg.attrs[i].type == type;
	return n;
}

static int fx_error(const struct fx_answer *a)
{
	if (stun_type_class(a->msg.type) == STUN_SUCCESS)
		return 0;
	assert_int_equal(stun_type_class(a->msg.type), STUN_ERROR);
	const struct stun_attr *e = stun_msg_find(&a->msg, STUN_ATTR_ERROR_CODE);
	assert_non_null(e);
	int code;
	assert_int_equal(stun_attr_get_error(&a->msg, e, &code), 0);
	return code;
}

static uint32_t fx_u32(const struct fx_answer *a, uint16_t type)
{
	const struct stun_attr *at = stun_msg_find(&a->msg, type);
	assert_non_null(at);
	uint32_t v;
	assert_int_equal(stun_attr_get_u32(&a->msg, at, &v), 0);
	return v;
}

static void fx_xor(const struct fx_answer *a, uint16_t type, unsigned n, struct sockaddr_storage *out)
{
	const struct stun_attr *at = fx_attr_nth(a, type, n);
	assert_non_null(at);
	assert_int_equal(stun_attr_get_xor_addr(&a->msg, at, out), 0);
}

/* An authenticated answer carries a correct MESSAGE-INTEGRITY under key. */
static void fx_assert_mi(const struct fx_answer *a, const uint8_t *key)
{
	assert_int_equal(stun_msg_check_integrity(&a->msg, key, 16), 0);
}

static void fx_assert_no_mi(const struct fx_answer *a)
{
	assert_int_equal(a->msg.mi_offset, 0);
	assert_int_equal(a->msg.mi256_offset, 0);
}

/* An error answered with integrity under the client's key. */
static void fx_assert_auth_error(const struct fx_answer *a, const struct fx_client *c, int code)
{
	assert_int_equal(fx_error(a), code);
	fx_assert_mi(a, c->key);
}

/* ---- conversations ------------------------------------------------------ */

/* The first leg of the dance: an Allocate without integrity, answered with
 * 401 and a nonce the client keeps. */
static void fx_get_nonce(struct fx *f, struct fx_client *c)
{
	struct fx_msg m;
	struct fx_answer a;
	fx_msg_start(f, &m, TURN_ALLOCATE, STUN_REQUEST);
	fx_add_transport(&m, 17);
	assert_true(fx_exchange(f, c, &m, &a));
	assert_int_equal(fx_error(&a), 401);
	const struct stun_attr *n = stun_msg_find(&a.msg, STUN_ATTR_NONCE);
	assert_non_null(n);
	assert_true(n->len <= sizeof(c->nonce));
	memcpy(c->nonce, stun_attr_value(&a.msg, n), n->len);
	c->nonce_len = n->len;
}

static void fx_login(struct fx *f, struct fx_client *c, const char *user_id)
{
	fx_cred(f, c, user_id, 3600);
	fx_get_nonce(f, c);
}

/* An authenticated Allocate for a UDP relay; returns the error code (0 for
 * success) and the answer in *a. */
static int fx_allocate(struct fx *f, struct fx_client *c, struct fx_answer *a)
{
	struct fx_msg m;
	fx_msg_start(f, &m, TURN_ALLOCATE, STUN_REQUEST);
	fx_add_transport(&m, 17);
	fx_msg_auth(f, &m, c);
	assert_true(fx_exchange(f, c, &m, a));
	fx_assert_mi(a, c->key);
	return fx_error(a);
}

/* Logs in and allocates; returns the relayed address's port. */
static uint16_t fx_allocated(struct fx *f, struct fx_client *c, const char *user_id)
{
	struct fx_answer a;
	fx_login(f, c, user_id);
	assert_int_equal(fx_allocate(f, c, &a), 0);
	struct sockaddr_storage relay;
	fx_xor(&a, TURN_ATTR_XOR_RELAYED_ADDRESS, 0, &relay);
	return sockaddr_port(&relay);
}

/* An authenticated request of `method` with up to two peers (NULL: none)
 * and a channel number (0: none); returns the error code. */
static int fx_peer_request(struct fx *f, struct fx_client *c, uint16_t method, const char *peer1,
			   const char *peer2, uint16_t channel)
{
	struct fx_msg m;
	struct fx_answer a;
	fx_msg_start(f, &m, method, STUN_REQUEST);
	if (channel)
		fx_add_channel(&m, channel);
	if (peer1)
		fx_add_peer(&m, peer1);
	if (peer2)
		fx_add_peer(&m, peer2);
	fx_msg_auth(f, &m, c);
	assert_true(fx_exchange(f, c, &m, &a));
	fx_assert_mi(&a, c->key);
	return fx_error(&a);
}

static int fx_refresh(struct fx *f, struct fx_client *c, int64_t lifetime, struct fx_answer *a)
{
	struct fx_msg m;
	fx_msg_start(f, &m, TURN_REFRESH, STUN_REQUEST);
	if (lifetime >= 0)
		stun_build_u32(&m.b, TURN_ATTR_LIFETIME, (uint32_t)lifetime);
	fx_msg_auth(f, &m, c);
	assert_true(fx_exchange(f, c, &m, a));
	fx_assert_mi(a, c->key);
	return fx_error(a);
}

/* A Send indication to peer carrying data; returns the count of datagrams
 * the server sent to peers. */
static size_t fx_send_indication(struct fx *f, struct fx_client *c, const char *peer,
				 const void *data, size_t len)
{
	struct fx_msg m;
	fx_msg_start(f, &m, TURN_SEND, STUN_INDICATION);
	fx_add_peer(&m, peer);
	stun_build_attr(&m.b, TURN_ATTR_DATA, data, len);
	int n = stun_build_finish(&m.b);
	assert_true(n > 0);
	size_t before = f->io.n_peer;
	assert_int_equal(fx_input(f, c, m.buf, (size_t)n), 0); /* indications get no answer */
	return f->io.n_peer - before;
}

static const struct fx_peer_sent *fx_last_peer(const struct fx *f)
{
	assert_true(f->io.n_peer > 0);
	return &f->io.peer[(f->io.n_peer - 1) % FX_MAX_SENT];
}

/* A datagram from peer to the client's relay (family of the peer); returns
 * how many messages went to clients. */
static size_t fx_from_peer(struct fx *f, struct allocation *a, const char *peer,
			   const void *data, size_t len)
{
	struct sockaddr_storage sa;
	fx_addr(&sa, peer);
	struct turn_relay *r = allocation_relay(a, sa.ss_family);
	assert_non_null(r);
	size_t before = f->io.n_client;
	turn_server_peer_input(&f->s, r, &sa, data, len);
	return fx_sent_since(f, before);
}

/* The allocation of a UDP client, as the server's table has it. */
static struct allocation *fx_alloc_of(const struct fx *f, const struct fx_client *c)
{
	return c->stream ? c->slot : alloc_table_find(&f->s.table, &c->tc);
}

#endif
