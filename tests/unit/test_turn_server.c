/* Unit tests for the TURN server logic (relay/turn): driven through
 * turn_server_client_input / turn_server_peer_input with fake io ops that
 * record every byte the server would send, real STUN messages from the
 * codec and real REST credentials. Time moves by setting s->now_ms.
 *
 * Groups: authentication, Allocate, Refresh and lifetimes, permissions and
 * the data path, channels, timers and limits, and regressions for the
 * bugs these tests found. */
#include "turn_fixture.h"

static const uint8_t udp_transport = 17;

/* ---- Binding and the challenge ------------------------------------------ */

static void test_binding(void **state)
{
	struct fx *f = *state;
	struct fx_client c;
	fx_client_init(&c, "203.0.113.5:40000", TURN_UDP);
	struct fx_msg m;
	struct fx_answer a;
	fx_msg_start(f, &m, STUN_BINDING, STUN_REQUEST);
	assert_true(fx_exchange(f, &c, &m, &a));
	/* 203.0.113.5:40000 XORed with the magic cookie. */
	uint8_t want[32] = {
		0x01, 0x01, 0x00, 0x0c, 0x21, 0x12, 0xa4, 0x42,
		0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
		0x00, 0x20, 0x00, 0x08, 0x00, 0x01, 0xbd, 0x52, 0xea, 0x12, 0xd5, 0x47,
	};
	memcpy(want + 8, m.tid, STUN_TID_LEN);
	assert_int_equal(a.len, sizeof(want));
	assert_memory_equal(a.buf, want, sizeof(want));
	assert_int_equal(f->io.n_open, 0);
}

static void test_binding_fingerprint_and_v6(void **state)
{
	struct fx *f = *state;
	struct fx_client c;
	fx_client_init(&c, "[2001:db8:1::5]:3479", TURN_UDP);
	struct fx_msg m;
	struct fx_answer a;
	fx_msg_start(f, &m, STUN_BINDING, STUN_REQUEST);
	stun_build_fingerprint(&m.b);
	assert_true(fx_exchange(f, &c, &m, &a));
	assert_int_equal(fx_error(&a), 0);
	struct sockaddr_storage mapped;
	fx_xor(&a, STUN_ATTR_XOR_MAPPED_ADDRESS, 0, &mapped);
	assert_true(sockaddr_equal(&mapped, &c.tc.addr));
	/* A FINGERPRINT asked for is a FINGERPRINT answered (checked by the parser). */
	assert_true(a.msg.fingerprint_ok);
	assert_int_equal(a.len, 20 + 24 + 8);
}

static void test_allocate_challenge(void **state)
{
	struct fx *f = *state;
	struct fx_client c;
	fx_client_init(&c, "203.0.113.5:40000", TURN_UDP);
	struct fx_msg m;
	struct fx_answer a;
	fx_msg_start(f, &m, TURN_ALLOCATE, STUN_REQUEST);
	fx_add_transport(&m, udp_transport);
	assert_true(fx_exchange(f, &c, &m, &a));
	assert_int_equal(a.msg.type, stun_type(TURN_ALLOCATE, STUN_ERROR));
	/* ERROR-CODE 401 with an empty reason phrase. */
	const struct stun_attr *e = stun_msg_find(&a.msg, STUN_ATTR_ERROR_CODE);
	assert_non_null(e);
	assert_int_equal(e->len, 4);
	assert_memory_equal(stun_attr_value(&a.msg, e), ((const uint8_t[]){ 0, 0, 4, 1 }), 4);
	const struct stun_attr *realm = stun_msg_find(&a.msg, STUN_ATTR_REALM);
	assert_non_null(realm);
	assert_int_equal(realm->len, strlen(FX_REALM));
	assert_memory_equal(stun_attr_value(&a.msg, realm), FX_REALM, strlen(FX_REALM));
	const struct stun_attr *nonce = stun_msg_find(&a.msg, STUN_ATTR_NONCE);
	assert_non_null(nonce);
	assert_true(nonce->len > 9 && nonce->len <= NONCE_MAX_LEN);
	/* RFC 8489 section 9.2: the nonce cookie announcing the security features. */
	assert_memory_equal(stun_attr_value(&a.msg, nonce), "obMatJos2", 9);
	const struct stun_attr *algs = stun_msg_find(&a.msg, STUN_ATTR_PASSWORD_ALGORITHMS);
	assert_non_null(algs);
	static const uint8_t want_algs[] = { 0, 2, 0, 0, 0, 1, 0, 0 };
	assert_int_equal(algs->len, sizeof(want_algs));
	assert_memory_equal(stun_attr_value(&a.msg, algs), want_algs, sizeof(want_algs));
	fx_assert_no_mi(&a);
	assert_int_equal(a.msg.n_attrs, 4);
	assert_int_equal(a.len, 20 + 8 + 4 + 12 + 4 + ((nonce->len + 3u) & ~3u) + 12);
	assert_int_equal(f->io.n_open, 0);
	assert_int_equal(f->s.n_allocations, 0);
}

/* ---- the full dance and Allocate --------------------------------------- */

static void test_allocate_success(void **state)
{
	struct fx *f = *state;
	struct fx_client c;
	fx_client_init(&c, "203.0.113.5:40000", TURN_UDP);
	fx_login(f, &c, "alice");
	struct fx_answer a;
	assert_int_equal(fx_allocate(f, &c, &a), 0);
	assert_int_equal(a.msg.type, stun_type(TURN_ALLOCATE, STUN_SUCCESS));

	struct sockaddr_storage relay, mapped;
	fx_xor(&a, TURN_ATTR_XOR_RELAYED_ADDRESS, 0, &relay);
	assert_true(sockaddr_same_ip(&relay, &f->conf.relay_v4));
	assert_in_range(sockaddr_port(&relay), FX_PORT_MIN, FX_PORT_MAX);
	assert_int_equal(f->io.n_open, 1);
	assert_true(sockaddr_equal(&f->io.last_open_addr, &relay));
	assert_false(f->io.last_df);
	assert_int_equal(fx_u32(&a, TURN_ATTR_LIFETIME), 600);
	fx_xor(&a, STUN_ATTR_XOR_MAPPED_ADDRESS, 0, &mapped);
	assert_true(sockaddr_equal(&mapped, &c.tc.addr));
	fx_assert_mi(&a, c.key);

	/* Exactly these attributes, in this order, and nothing else. */
	static const uint16_t order[] = { TURN_ATTR_XOR_RELAYED_ADDRESS, TURN_ATTR_LIFETIME,
					  STUN_ATTR_XOR_MAPPED_ADDRESS, STUN_ATTR_MESSAGE_INTEGRITY };
	assert_int_equal(a.msg.n_attrs, 4);
	for (unsigned i = 0; i < 4; i++)
		assert_int_equal(a.msg.attrs[i].type, order[i]);
	assert_int_equal(a.len, 20 + 12 + 8 + 12 + 24);

	struct allocation *al = fx_alloc_of(f, &c);
	assert_non_null(al);
	assert_int_equal(al->n_relay, 1);
	assert_int_equal(al->expires_ms, f->s.now_ms + 600000u);
	assert_int_equal(f->s.n_allocations, 1);
	assert_int_equal(mc_get(&f->s.metrics.alloc_created[MT_UDP][MF_IPV4]), 1);
	assert_int_equal(user_quota_total(&f->sh.quota), 1);
}

static void test_allocate_dont_fragment_and_fingerprint(void **state)
{
	struct fx *f = *state;
	struct fx_client c;
	fx_client_init(&c, "203.0.113.5:40000", TURN_UDP);
	fx_login(f, &c, "alice");
	struct fx_msg m;
	struct fx_answer a;
	fx_msg_start(f, &m, TURN_ALLOCATE, STUN_REQUEST);
	fx_add_transport(&m, udp_transport);
	stun_build_attr(&m.b, TURN_ATTR_DONT_FRAGMENT, NULL, 0);
	fx_msg_auth(f, &m, &c);
	stun_build_fingerprint(&m.b);
	assert_true(fx_exchange(f, &c, &m, &a));
	assert_int_equal(fx_error(&a), 0);
	fx_assert_mi(&a, c.key);
	assert_true(a.msg.fingerprint_ok);
	assert_true(f->io.last_df);
}

/* Logs alice in on c and sends one authenticated UDP Allocate built into m
 * (so that a test can send the same bytes again); returns its length. */
static size_t allocate_by_hand(struct fx *f, struct fx_client *c, struct fx_msg *m)
{
	fx_client_init(c, "203.0.113.5:40000", TURN_UDP);
	fx_login(f, c, "alice");
	fx_msg_start(f, m, TURN_ALLOCATE, STUN_REQUEST);
	fx_add_transport(m, udp_transport);
	fx_msg_auth(f, m, c);
	int len = stun_build_finish(&m->b);
	assert_true(len > 0);
	assert_int_equal(fx_input(f, c, m->buf, (size_t)len), 1);
	return (size_t)len;
}

static void test_allocate_retransmission(void **state)
{
	struct fx *f = *state;
	struct fx_client c;
	struct fx_msg m;
	size_t len = allocate_by_hand(f, &c, &m);
	struct fx_sent first = *fx_last_sent(f);
	f->s.now_ms += 1500;
	assert_int_equal(fx_input(f, &c, m.buf, len), 1);
	const struct fx_sent *second = fx_last_sent(f);
	assert_int_equal(second->len, first.len);
	assert_memory_equal(second->buf, first.buf, first.len);
	assert_int_equal(f->io.n_open, 1);
	assert_int_equal(f->s.n_allocations, 1);
}

/* One cached answer per allocation: a later request's answer replaces the
 * Allocate success, its retransmission gets its own bytes, and a request of
 * another method reusing a cached transaction id is answered afresh. */
static void test_response_cache_one_slot(void **state)
{
	struct fx *f = *state;
	struct fx_client c;
	struct fx_msg al;
	allocate_by_hand(f, &c, &al);

	/* CreatePermission carrying the Allocate's transaction id. */
	struct fx_msg cp;
	fx_msg_start(f, &cp, TURN_CREATE_PERMISSION, STUN_REQUEST);
	memcpy(cp.tid, al.tid, STUN_TID_LEN);
	memcpy(cp.buf + 8, al.tid, STUN_TID_LEN);
	fx_add_peer(&cp, "8.8.8.8:1");
	fx_msg_auth(f, &cp, &c);
	int cplen = stun_build_finish(&cp.b);
	assert_int_equal(fx_input(f, &c, cp.buf, (size_t)cplen), 1);
	struct fx_sent first = *fx_last_sent(f);
	assert_int_equal((first.buf[0] << 8 | first.buf[1]),
			 stun_type(TURN_CREATE_PERMISSION, STUN_SUCCESS));
	assert_int_equal(fx_alloc_of(f, &c)->n_perms, 1);

	/* Its retransmission: the same bytes, nothing installed twice. */
	assert_int_equal(fx_input(f, &c, cp.buf, (size_t)cplen), 1);
	const struct fx_sent *again = fx_last_sent(f);
	assert_int_equal(again->len, first.len);
	assert_memory_equal(again->buf, first.buf, first.len);
	assert_int_equal(fx_alloc_of(f, &c)->n_perms, 1);
}

static void test_allocate_mismatch(void **state)
{
	struct fx *f = *state;
	struct fx_client c;
	fx_client_init(&c, "203.0.113.5:40000", TURN_UDP);
	fx_allocated(f, &c, "alice");
	struct fx_answer a;
	assert_int_equal(fx_allocate(f, &c, &a), 437);
	assert_int_equal(f->io.n_open, 1);
	assert_int_equal(f->s.n_allocations, 1);
	/* Another port of the same address is another 5-tuple. */
	struct fx_client c2;
	fx_client_init(&c2, "203.0.113.5:40001", TURN_UDP);
	fx_allocated(f, &c2, "alice");
	assert_int_equal(f->s.n_allocations, 2);
}

static void allocate_expect(struct fx *f, struct fx_client *c, int code,
			    void (*add)(struct fx_msg *m))
{
	struct fx_msg m;
	struct fx_answer a;
	fx_msg_start(f, &m, TURN_ALLOCATE, STUN_REQUEST);
	add(&m);
	fx_msg_auth(f, &m, c);
	assert_true(fx_exchange(f, c, &m, &a));
	fx_assert_auth_error(&a, c, code);
}

static void add_nothing(struct fx_msg *m) { (void)m; }
static void add_tcp(struct fx_msg *m) { fx_add_transport(m, 6); }
static void add_short_transport(struct fx_msg *m)
{
	stun_build_attr(&m->b, TURN_ATTR_REQUESTED_TRANSPORT, "\x11", 1);
}

static void test_allocate_bad_transport(void **state)
{
	struct fx *f = *state;
	struct fx_client c;
	fx_client_init(&c, "203.0.113.5:40000", TURN_UDP);
	fx_login(f, &c, "alice");
	allocate_expect(f, &c, 400, add_nothing);
	allocate_expect(f, &c, 400, add_short_transport);
	allocate_expect(f, &c, 442, add_tcp);
	assert_int_equal(f->io.n_open, 0);
	assert_int_equal(f->s.n_allocations, 0);
	assert_int_equal(user_quota_total(&f->sh.quota), 0);
}

/* ---- authentication ------------------------------------------------------ */

/* A 401 challenge to an authenticated attempt: no integrity, fresh nonce. */
static void expect_401(struct fx *f, struct fx_client *c)
{
	struct fx_answer a;
	struct fx_msg m;
	unsigned opened = f->io.n_open;
	size_t allocations = f->s.n_allocations;
	fx_msg_start(f, &m, TURN_ALLOCATE, STUN_REQUEST);
	fx_add_transport(&m, udp_transport);
	fx_msg_auth(f, &m, c);
	assert_true(fx_exchange(f, c, &m, &a));
	assert_int_equal(fx_error(&a), 401);
	fx_assert_no_mi(&a);
	assert_non_null(stun_msg_find(&a.msg, STUN_ATTR_REALM));
	assert_non_null(stun_msg_find(&a.msg, STUN_ATTR_NONCE));
	assert_int_equal(f->io.n_open, opened);
	assert_int_equal(f->s.n_allocations, allocations);
}

static void test_auth_wrong_integrity(void **state)
{
	struct fx *f = *state;
	struct fx_client c;
	fx_client_init(&c, "203.0.113.5:40000", TURN_UDP);
	fx_login(f, &c, "alice");
	c.key[0] ^= 1;
	expect_401(f, &c);
	assert_int_equal(mc_get(&f->s.metrics.auth_failures[MA_BAD_INTEGRITY]), 1);
	/* A password for another username does not pass either. */
	struct fx_client other;
	fx_client_init(&other, "203.0.113.9:1", TURN_UDP);
	fx_cred(f, &other, "alice", 600);   /* another expiry: another username */
	memcpy(c.key, other.key, sizeof(c.key));
	expect_401(f, &c);
}

static void test_auth_wrong_realm(void **state)
{
	struct fx *f = *state;
	struct fx_client c;
	fx_client_init(&c, "203.0.113.5:40000", TURN_UDP);
	fx_login(f, &c, "alice");
	struct fx_msg m;
	struct fx_answer a;
	fx_msg_start(f, &m, TURN_ALLOCATE, STUN_REQUEST);
	fx_add_transport(&m, udp_transport);
	stun_build_attr(&m.b, STUN_ATTR_USERNAME, c.username, strlen(c.username));
	stun_build_attr(&m.b, STUN_ATTR_REALM, "other.realm", 11);
	stun_build_attr(&m.b, STUN_ATTR_NONCE, c.nonce, c.nonce_len);
	stun_build_integrity(&m.b, c.key, sizeof(c.key));
	assert_true(fx_exchange(f, &c, &m, &a));
	assert_int_equal(fx_error(&a), 401);
	fx_assert_no_mi(&a);
}

static void test_auth_missing_nonce(void **state)
{
	struct fx *f = *state;
	struct fx_client c;
	fx_client_init(&c, "203.0.113.5:40000", TURN_UDP);
	fx_login(f, &c, "alice");
	struct fx_msg m;
	struct fx_answer a;
	fx_msg_start(f, &m, TURN_ALLOCATE, STUN_REQUEST);
	fx_add_transport(&m, udp_transport);
	stun_build_attr(&m.b, STUN_ATTR_USERNAME, c.username, strlen(c.username));
	stun_build_attr(&m.b, STUN_ATTR_REALM, FX_REALM, strlen(FX_REALM));
	stun_build_integrity(&m.b, c.key, sizeof(c.key));
	assert_true(fx_exchange(f, &c, &m, &a));
	/* RFC 8489 section 9.2.4: MI without USERNAME, REALM and NONCE is a 400. */
	assert_int_equal(fx_error(&a), 400);
	fx_assert_no_mi(&a);
}

static void test_auth_expired_credential(void **state)
{
	struct fx *f = *state;
	struct fx_client c;
	fx_client_init(&c, "203.0.113.5:40000", TURN_UDP);
	fx_get_nonce(f, &c);
	fx_cred_with(f, &c, &f->conf.secrets, "alice", -7200, 3600);
	expect_401(f, &c);
	/* Expiry is a hard limit: the clock skew does not extend it. */
	fx_cred_with(f, &c, &f->conf.secrets, "alice", -3600, 3599);
	expect_401(f, &c);
}

static void test_auth_credential_too_far(void **state)
{
	struct fx *f = *state;
	struct fx_client c;
	fx_client_init(&c, "203.0.113.5:40000", TURN_UDP);
	fx_get_nonce(f, &c);
	fx_cred(f, &c, "alice", f->conf.max_ttl + f->conf.clock_skew + 60);
	expect_401(f, &c);
	/* At max_ttl it is fine. */
	fx_cred(f, &c, "alice", f->conf.max_ttl);
	struct fx_answer a;
	assert_int_equal(fx_allocate(f, &c, &a), 0);
}

static void test_auth_rotation(void **state)
{
	struct fx *f = *state;
	/* Minted by the old secret, still in the verifying set. */
	struct secrets old = { .hmac = SECRETS_HMAC_SHA1, .n = 1 };
	old.s[0] = f->conf.secrets.s[1];
	struct fx_client c;
	fx_client_init(&c, "203.0.113.5:40000", TURN_UDP);
	fx_get_nonce(f, &c);
	fx_cred_with(f, &c, &old, "alice", 0, 600);
	struct fx_answer a;
	assert_int_equal(fx_allocate(f, &c, &a), 0);
	fx_assert_mi(&a, c.key);

	/* A secret nobody configured is refused. */
	struct secrets stray = { .hmac = SECRETS_HMAC_SHA1, .n = 1 };
	stray.s[0].len = 24;
	memcpy(stray.s[0].value, "stray-secret-0123456789!", 24);
	struct fx_client d;
	fx_client_init(&d, "203.0.113.6:40000", TURN_UDP);
	fx_get_nonce(f, &d);
	fx_cred_with(f, &d, &stray, "alice", 0, 600);
	expect_401(f, &d);
	secrets_wipe(&old);
	secrets_wipe(&stray);
}

static void test_auth_stale_nonce(void **state)
{
	struct fx *f = *state;
	f->conf.nonce_lifetime = 60;
	fx_restart(f);
	struct fx_client c;
	fx_client_init(&c, "203.0.113.5:40000", TURN_UDP);
	fx_allocated(f, &c, "alice");
	f->s.now_ms += 61000;

	struct fx_msg m;
	struct fx_answer a;
	fx_msg_start(f, &m, TURN_REFRESH, STUN_REQUEST);
	fx_msg_auth(f, &m, &c);
	assert_true(fx_exchange(f, &c, &m, &a));
	assert_int_equal(fx_error(&a), 438);
	fx_assert_no_mi(&a);
	assert_non_null(stun_msg_find(&a.msg, STUN_ATTR_REALM));
	const struct stun_attr *n = stun_msg_find(&a.msg, STUN_ATTR_NONCE);
	assert_non_null(n);
	assert_false(n->len == c.nonce_len &&
		     memcmp(stun_attr_value(&a.msg, n), c.nonce, n->len) == 0);
	/* The allocation was not touched; with the new nonce the client carries on. */
	assert_int_equal(f->s.n_allocations, 1);
	memcpy(c.nonce, stun_attr_value(&a.msg, n), n->len);
	c.nonce_len = n->len;
	assert_int_equal(fx_refresh(f, &c, -1, &a), 0);
}

static void test_auth_nonce_other_address(void **state)
{
	struct fx *f = *state;
	struct fx_client c, d;
	fx_client_init(&c, "203.0.113.5:40000", TURN_UDP);
	fx_client_init(&d, "203.0.113.77:40000", TURN_UDP);
	fx_login(f, &c, "alice");
	fx_cred(f, &d, "dave", 600);
	memcpy(d.nonce, c.nonce, c.nonce_len);
	d.nonce_len = c.nonce_len;
	struct fx_answer a;
	struct fx_msg m;
	fx_msg_start(f, &m, TURN_ALLOCATE, STUN_REQUEST);
	fx_add_transport(&m, udp_transport);
	fx_msg_auth(f, &m, &d);
	assert_true(fx_exchange(f, &d, &m, &a));
	assert_int_equal(fx_error(&a), 438);
	fx_assert_no_mi(&a);
	assert_int_equal(f->s.n_allocations, 0);
	/* A forged nonce is no better. */
	d.nonce[d.nonce_len - 1] ^= 1;
	fx_msg_start(f, &m, TURN_ALLOCATE, STUN_REQUEST);
	fx_add_transport(&m, udp_transport);
	fx_msg_auth(f, &m, &d);
	assert_true(fx_exchange(f, &d, &m, &a));
	assert_int_equal(fx_error(&a), 438);
}

static void test_auth_wrong_credentials(void **state)
{
	struct fx *f = *state;
	struct fx_client c;
	fx_client_init(&c, "203.0.113.5:40000", TURN_UDP);
	fx_allocated(f, &c, "alice");
	/* Same 5-tuple, valid credential of another user. */
	struct fx_client b = c;
	fx_cred(f, &b, "bob", 600);
	struct fx_answer a;
	assert_int_equal(fx_refresh(f, &b, 0, &a), 441);
	fx_assert_mi(&a, b.key);
	assert_int_equal(fx_peer_request(f, &b, TURN_CREATE_PERMISSION, "8.8.8.8:1", NULL, 0), 441);
	/* Nothing of the allocation changed. */
	assert_int_equal(f->s.n_allocations, 1);
	assert_int_equal(f->io.n_close, 0);
	assert_int_equal(fx_alloc_of(f, &c)->n_perms, 0);
}

static void test_unknown_attribute(void **state)
{
	struct fx *f = *state;
	struct fx_client c;
	fx_client_init(&c, "203.0.113.5:40000", TURN_UDP);
	fx_login(f, &c, "alice");
	struct fx_msg m;
	struct fx_answer a;
	fx_msg_start(f, &m, TURN_ALLOCATE, STUN_REQUEST);
	fx_add_transport(&m, udp_transport);
	stun_build_attr(&m.b, 0x0031, "abcd", 4);
	stun_build_attr(&m.b, 0xC0DE, "opt!", 4);   /* comprehension-optional: ignored */
	stun_build_attr(&m.b, 0x7FFE, "", 0);
	fx_msg_auth(f, &m, &c);
	assert_true(fx_exchange(f, &c, &m, &a));
	fx_assert_auth_error(&a, &c, 420);
	const struct stun_attr *u = stun_msg_find(&a.msg, STUN_ATTR_UNKNOWN_ATTRIBUTES);
	assert_non_null(u);
	assert_int_equal(u->len, 4);
	assert_memory_equal(stun_attr_value(&a.msg, u), ((const uint8_t[]){ 0x00, 0x31, 0x7f, 0xfe }), 4);
	assert_int_equal(f->io.n_open, 0);

	/* Only comprehension-optional unknowns: the Allocate goes through. */
	fx_msg_start(f, &m, TURN_ALLOCATE, STUN_REQUEST);
	fx_add_transport(&m, udp_transport);
	stun_build_attr(&m.b, 0xC0DE, "opt!", 4);
	fx_msg_auth(f, &m, &c);
	assert_true(fx_exchange(f, &c, &m, &a));
	assert_int_equal(fx_error(&a), 0);
}

/* ---- address families ---------------------------------------------------- */

static void use_v6_relay(struct fx *f)
{
	f->conf.has_relay_v6 = true;
	fx_addr(&f->conf.relay_v6, "2001:db8::10");
	fx_restart(f);
}

static void add_raf_v6(struct fx_msg *m)
{
	fx_add_transport(m, udp_transport);
	fx_add_family(m, TURN_ATTR_REQUESTED_ADDRESS_FAMILY, 0x02);
}

static void test_family_v6_unavailable(void **state)
{
	struct fx *f = *state;
	struct fx_client c;
	fx_client_init(&c, "203.0.113.5:40000", TURN_UDP);
	fx_login(f, &c, "alice");
	allocate_expect(f, &c, 440, add_raf_v6);
	assert_int_equal(f->io.n_open, 0);
}

static void test_family_v6_relay(void **state)
{
	struct fx *f = *state;
	use_v6_relay(f);
	struct fx_client c;
	fx_client_init(&c, "203.0.113.5:40000", TURN_UDP);
	fx_login(f, &c, "alice");
	struct fx_msg m;
	struct fx_answer a;
	fx_msg_start(f, &m, TURN_ALLOCATE, STUN_REQUEST);
	add_raf_v6(&m);
	fx_msg_auth(f, &m, &c);
	assert_true(fx_exchange(f, &c, &m, &a));
	assert_int_equal(fx_error(&a), 0);
	assert_int_equal(fx_attr_count(&a, TURN_ATTR_XOR_RELAYED_ADDRESS), 1);
	struct sockaddr_storage relay;
	fx_xor(&a, TURN_ATTR_XOR_RELAYED_ADDRESS, 0, &relay);
	assert_int_equal(relay.ss_family, AF_INET6);
	assert_true(sockaddr_same_ip(&relay, &f->conf.relay_v6));
	/* An IPv4 peer does not fit an IPv6-only allocation. */
	assert_int_equal(fx_peer_request(f, &c, TURN_CREATE_PERMISSION, "8.8.8.8:1", NULL, 0), 443);
	assert_int_equal(fx_peer_request(f, &c, TURN_CREATE_PERMISSION,
					 "[2001:4860:4860::8888]:1", NULL, 0), 0);
}

static int allocate_dual(struct fx *f, struct fx_client *c, uint8_t family, struct fx_answer *a)
{
	struct fx_msg m;
	fx_msg_start(f, &m, TURN_ALLOCATE, STUN_REQUEST);
	fx_add_transport(&m, udp_transport);
	fx_add_family(&m, TURN_ATTR_ADDITIONAL_ADDRESS_FAMILY, family);
	fx_msg_auth(f, &m, c);
	assert_true(fx_exchange(f, c, &m, a));
	fx_assert_mi(a, c->key);
	return fx_error(a);
}

static void test_family_dual(void **state)
{
	struct fx *f = *state;
	use_v6_relay(f);
	struct fx_client c;
	fx_client_init(&c, "203.0.113.5:40000", TURN_UDP);
	fx_login(f, &c, "alice");
	struct fx_answer a;
	assert_int_equal(allocate_dual(f, &c, 0x01, &a), 400); /* additional must be IPv6 */
	assert_int_equal(allocate_dual(f, &c, 0x02, &a), 0);
	assert_int_equal(fx_attr_count(&a, TURN_ATTR_XOR_RELAYED_ADDRESS), 2);
	assert_null(stun_msg_find(&a.msg, TURN_ATTR_ADDRESS_ERROR_CODE));
	struct sockaddr_storage r4, r6;
	fx_xor(&a, TURN_ATTR_XOR_RELAYED_ADDRESS, 0, &r4);
	fx_xor(&a, TURN_ATTR_XOR_RELAYED_ADDRESS, 1, &r6);
	assert_int_equal(r4.ss_family, AF_INET);
	assert_int_equal(r6.ss_family, AF_INET6);
	assert_true(sockaddr_same_ip(&r4, &f->conf.relay_v4));
	assert_true(sockaddr_same_ip(&r6, &f->conf.relay_v6));
	assert_in_range(sockaddr_port(&r4), FX_PORT_MIN, FX_PORT_MAX);
	assert_in_range(sockaddr_port(&r6), FX_PORT_MIN, FX_PORT_MAX);
	assert_int_equal(f->io.n_open, 2);
	/* Peers of both families are welcome. */
	assert_int_equal(fx_peer_request(f, &c, TURN_CREATE_PERMISSION, "8.8.8.8:1",
					 "[2001:4860:4860::8888]:1", 0), 0);
	/* Both relays close with the allocation. */
	assert_int_equal(fx_refresh(f, &c, 0, &a), 0);
	assert_int_equal(f->io.n_close, 2);
}

static void test_family_dual_without_v6(void **state)
{
	struct fx *f = *state;
	struct fx_client c;
	fx_client_init(&c, "203.0.113.5:40000", TURN_UDP);
	fx_login(f, &c, "alice");
	struct fx_answer a;
	assert_int_equal(allocate_dual(f, &c, 0x02, &a), 0);
	assert_int_equal(fx_attr_count(&a, TURN_ATTR_XOR_RELAYED_ADDRESS), 1);
	struct sockaddr_storage r4;
	fx_xor(&a, TURN_ATTR_XOR_RELAYED_ADDRESS, 0, &r4);
	assert_int_equal(r4.ss_family, AF_INET);
	const struct stun_attr *ae = stun_msg_find(&a.msg, TURN_ATTR_ADDRESS_ERROR_CODE);
	assert_non_null(ae);
	/* Family IPv6, class 4, number 40, empty reason (RFC 8656 section 18.13). */
	assert_int_equal(ae->len, 4);
	assert_memory_equal(stun_attr_value(&a.msg, ae), ((const uint8_t[]){ 0x02, 0, 4, 40 }), 4);
	assert_int_equal(f->io.n_open, 1);
}

static void add_raf_and_aaf(struct fx_msg *m)
{
	fx_add_transport(m, udp_transport);
	fx_add_family(m, TURN_ATTR_REQUESTED_ADDRESS_FAMILY, 0x01);
	fx_add_family(m, TURN_ATTR_ADDITIONAL_ADDRESS_FAMILY, 0x02);
}

static void test_family_both_attributes(void **state)
{
	struct fx *f = *state;
	use_v6_relay(f);
	struct fx_client c;
	fx_client_init(&c, "203.0.113.5:40000", TURN_UDP);
	fx_login(f, &c, "alice");
	allocate_expect(f, &c, 400, add_raf_and_aaf);
	assert_int_equal(f->io.n_open, 0);
}

/* ---- EVEN-PORT and reservations ------------------------------------------ */

static void add_even(struct fx_msg *m)
{
	fx_add_transport(m, udp_transport);
	fx_add_even_port(m, false);
}

static void test_even_port(void **state)
{
	struct fx *f = *state;
	for (int i = 0; i < 6; i++) {
		char addr[32];
		snprintf(addr, sizeof(addr), "203.0.113.5:%d", 40000 + i);
		struct fx_client c;
		fx_client_init(&c, addr, TURN_UDP);
		fx_login(f, &c, "alice");
		struct fx_msg m;
		struct fx_answer a;
		fx_msg_start(f, &m, TURN_ALLOCATE, STUN_REQUEST);
		add_even(&m);
		fx_msg_auth(f, &m, &c);
		assert_true(fx_exchange(f, &c, &m, &a));
		assert_int_equal(fx_error(&a), 0);
		struct sockaddr_storage relay;
		fx_xor(&a, TURN_ATTR_XOR_RELAYED_ADDRESS, 0, &relay);
		assert_int_equal(sockaddr_port(&relay) % 2, 0);
		assert_null(stun_msg_find(&a.msg, TURN_ATTR_RESERVATION_TOKEN));
	}
}

static int allocate_with_token(struct fx *f, struct fx_client *c, const uint8_t token[8],
			       bool even, struct fx_answer *a)
{
	struct fx_msg m;
	fx_msg_start(f, &m, TURN_ALLOCATE, STUN_REQUEST);
	fx_add_transport(&m, udp_transport);
	if (even)
		fx_add_even_port(&m, false);
	stun_build_attr(&m.b, TURN_ATTR_RESERVATION_TOKEN, token, 8);
	fx_msg_auth(f, &m, c);
	assert_true(fx_exchange(f, c, &m, a));
	fx_assert_mi(a, c->key);
	return fx_error(a);
}

/* Allocates with EVEN-PORT R=1; returns the port and the token. */
static uint16_t allocate_reserving(struct fx *f, struct fx_client *c, uint8_t token[8])
{
	struct fx_msg m;
	struct fx_answer a;
	fx_msg_start(f, &m, TURN_ALLOCATE, STUN_REQUEST);
	fx_add_transport(&m, udp_transport);
	fx_add_even_port(&m, true);
	fx_msg_auth(f, &m, c);
	assert_true(fx_exchange(f, c, &m, &a));
	assert_int_equal(fx_error(&a), 0);
	const struct stun_attr *t = stun_msg_find(&a.msg, TURN_ATTR_RESERVATION_TOKEN);
	assert_non_null(t);
	assert_int_equal(t->len, 8);
	memcpy(token, stun_attr_value(&a.msg, t), 8);
	struct sockaddr_storage relay;
	fx_xor(&a, TURN_ATTR_XOR_RELAYED_ADDRESS, 0, &relay);
	assert_int_equal(sockaddr_port(&relay) % 2, 0);
	assert_true(sockaddr_port(&relay) < FX_PORT_MAX);
	return sockaddr_port(&relay);
}

static void test_reservation_token(void **state)
{
	struct fx *f = *state;
	struct fx_client c, d, e;
	fx_client_init(&c, "203.0.113.5:40000", TURN_UDP);
	fx_client_init(&d, "203.0.113.6:40000", TURN_UDP);
	fx_client_init(&e, "203.0.113.7:40000", TURN_UDP);
	fx_login(f, &c, "alice");
	uint8_t token[8];
	uint16_t port = allocate_reserving(f, &c, token);
	assert_int_equal(f->sh.ports.in_use[0], 2);

	fx_login(f, &d, "bob");
	struct fx_answer a;
	assert_int_equal(allocate_with_token(f, &d, token, false, &a), 0);
	struct sockaddr_storage relay;
	fx_xor(&a, TURN_ATTR_XOR_RELAYED_ADDRESS, 0, &relay);
	assert_int_equal(sockaddr_port(&relay), port + 1);
	assert_true(sockaddr_equal(&f->io.last_open_addr, &relay));
	assert_int_equal(f->io.n_open, 2);
	assert_int_equal(f->sh.ports.in_use[0], 2);

	/* A token is good once. */
	fx_login(f, &e, "carol");
	assert_int_equal(allocate_with_token(f, &e, token, false, &a), 508);
	assert_int_equal(f->io.n_open, 2);
}

static void test_reservation_unknown_token(void **state)
{
	struct fx *f = *state;
	struct fx_client c;
	fx_client_init(&c, "203.0.113.5:40000", TURN_UDP);
	fx_login(f, &c, "alice");
	const uint8_t token[8] = { 1, 2, 3, 4, 5, 6, 7, 8 };
	struct fx_answer a;
	assert_int_equal(allocate_with_token(f, &c, token, false, &a), 508);
	assert_int_equal(f->io.n_open, 0);
	assert_int_equal(user_quota_total(&f->sh.quota), 0);
}

static void test_reservation_with_even_port(void **state)
{
	struct fx *f = *state;
	struct fx_client c, d;
	fx_client_init(&c, "203.0.113.5:40000", TURN_UDP);
	fx_client_init(&d, "203.0.113.6:40000", TURN_UDP);
	fx_login(f, &c, "alice");
	uint8_t token[8];
	allocate_reserving(f, &c, token);
	fx_login(f, &d, "bob");
	struct fx_answer a;
	assert_int_equal(allocate_with_token(f, &d, token, true, &a), 400);
	assert_int_equal(f->io.n_open, 1);
}

static void test_reservation_expires(void **state)
{
	struct fx *f = *state;
	struct fx_client c, d;
	fx_client_init(&c, "203.0.113.5:40000", TURN_UDP);
	fx_client_init(&d, "203.0.113.6:40000", TURN_UDP);
	fx_login(f, &c, "alice");
	uint8_t token[8];
	allocate_reserving(f, &c, token);
	assert_int_equal(f->sh.ports.in_use[0], 2);
	f->s.now_ms += PORT_POOL_RESERVATION_MS + 1000;
	turn_server_tick(&f->s);
	/* The reserved port went back to the pool. */
	assert_int_equal(f->sh.ports.in_use[0], 1);
	fx_login(f, &d, "bob");
	struct fx_answer a;
	assert_int_equal(allocate_with_token(f, &d, token, false, &a), 508);
}

/* ---- limits ---------------------------------------------------------------- */

static void test_quota_per_user(void **state)
{
	struct fx *f = *state;
	f->conf.allocations_per_user = 1;
	fx_restart(f);
	struct fx_client c, d, e;
	fx_client_init(&c, "203.0.113.5:40000", TURN_UDP);
	fx_client_init(&d, "203.0.113.6:40000", TURN_UDP);
	fx_client_init(&e, "203.0.113.7:40000", TURN_UDP);
	fx_allocated(f, &c, "alice");
	fx_login(f, &d, "alice");
	struct fx_answer a;
	assert_int_equal(fx_allocate(f, &d, &a), 486);
	assert_int_equal(f->io.n_open, 1);
	fx_allocated(f, &e, "bob");
	/* Once alice lets go, she may allocate again. */
	assert_int_equal(fx_refresh(f, &c, 0, &a), 0);
	assert_int_equal(fx_allocate(f, &d, &a), 0);
}

static void test_quota_total(void **state)
{
	struct fx *f = *state;
	f->conf.allocations_total = 2;
	fx_restart(f);
	struct fx_client c[3];
	const char *users[] = { "alice", "bob", "carol" };
	for (int i = 0; i < 3; i++) {
		char addr[32];
		snprintf(addr, sizeof(addr), "203.0.113.%d:40000", 5 + i);
		fx_client_init(&c[i], addr, TURN_UDP);
	}
	fx_allocated(f, &c[0], users[0]);
	fx_allocated(f, &c[1], users[1]);
	fx_login(f, &c[2], users[2]);
	struct fx_answer a;
	assert_int_equal(fx_allocate(f, &c[2], &a), 508);
	assert_int_equal(f->io.n_open, 2);
	assert_int_equal(user_quota_total(&f->sh.quota), 2);
}

static void test_ports_exhausted(void **state)
{
	struct fx *f = *state;
	f->conf.port_min = 50000;
	f->conf.port_max = 50001;
	fx_restart(f);
	struct fx_client c, d, e;
	fx_client_init(&c, "203.0.113.5:40000", TURN_UDP);
	fx_client_init(&d, "203.0.113.6:40000", TURN_UDP);
	fx_client_init(&e, "203.0.113.7:40000", TURN_UDP);
	uint16_t pc = fx_allocated(f, &c, "alice");
	uint16_t pd = fx_allocated(f, &d, "bob");
	assert_int_not_equal(pc, pd);
	fx_login(f, &e, "carol");
	struct fx_answer a;
	assert_int_equal(fx_allocate(f, &e, &a), 508);
	assert_int_equal(user_quota_total(&f->sh.quota), 2);

	assert_int_equal(fx_refresh(f, &c, 0, &a), 0);
	assert_int_equal(f->io.n_close, 1);
	assert_int_equal(fx_allocate(f, &e, &a), 0);
	struct sockaddr_storage relay;
	fx_xor(&a, TURN_ATTR_XOR_RELAYED_ADDRESS, 0, &relay);
	assert_int_equal(sockaddr_port(&relay), pc);
}

static void test_relay_bind_failure(void **state)
{
	struct fx *f = *state;
	struct fx_client c;
	fx_client_init(&c, "203.0.113.5:40000", TURN_UDP);
	fx_login(f, &c, "alice");
	/* Every port held by someone outside Tern: a bounded number of tries. */
	f->io.open_result = -EADDRINUSE;
	struct fx_answer a;
	assert_int_equal(fx_allocate(f, &c, &a), 508);
	assert_true(f->io.n_open >= 2 && f->io.n_open <= 16);
	assert_int_equal(f->sh.ports.in_use[0], 0);
	assert_int_equal(user_quota_total(&f->sh.quota), 0);
	f->io.open_result = 0;
	assert_int_equal(fx_allocate(f, &c, &a), 0);
}

/* ---- Refresh and lifetimes ------------------------------------------------- */

static void test_refresh_delete(void **state)
{
	struct fx *f = *state;
	struct fx_client c;
	fx_client_init(&c, "203.0.113.5:40000", TURN_UDP);
	uint16_t port = fx_allocated(f, &c, "alice");
	struct fx_answer a;
	assert_int_equal(fx_refresh(f, &c, 0, &a), 0);
	assert_int_equal(a.msg.type, stun_type(TURN_REFRESH, STUN_SUCCESS));
	assert_int_equal(fx_u32(&a, TURN_ATTR_LIFETIME), 0);
	assert_int_equal(f->io.n_close, 1);
	assert_int_equal(sockaddr_port(&f->io.last_close_addr), port);
	assert_int_equal(f->s.n_allocations, 0);
	assert_null(fx_alloc_of(f, &c));
	assert_int_equal(user_quota_total(&f->sh.quota), 0);
	assert_int_equal(f->sh.ports.in_use[0], 0);
	/* Gone: a further Refresh finds nothing. */
	assert_int_equal(fx_refresh(f, &c, 600, &a), 437);
}

static void test_refresh_without_allocation(void **state)
{
	struct fx *f = *state;
	struct fx_client c;
	fx_client_init(&c, "203.0.113.5:40000", TURN_UDP);
	fx_login(f, &c, "alice");
	struct fx_answer a;
	assert_int_equal(fx_refresh(f, &c, 600, &a), 437);
	assert_int_equal(fx_refresh(f, &c, 0, &a), 437);
	assert_int_equal(fx_peer_request(f, &c, TURN_CREATE_PERMISSION, "8.8.8.8:1", NULL, 0), 437);
	assert_int_equal(fx_peer_request(f, &c, TURN_CHANNEL_BIND, "8.8.8.8:1", NULL, 0x4000), 437);
}

static uint32_t allocate_lifetime(struct fx *f, struct fx_client *c, int64_t lifetime)
{
	struct fx_msg m;
	struct fx_answer a;
	fx_msg_start(f, &m, TURN_ALLOCATE, STUN_REQUEST);
	fx_add_transport(&m, udp_transport);
	if (lifetime >= 0)
		stun_build_u32(&m.b, TURN_ATTR_LIFETIME, (uint32_t)lifetime);
	fx_msg_auth(f, &m, c);
	assert_true(fx_exchange(f, c, &m, &a));
	assert_int_equal(fx_error(&a), 0);
	return fx_u32(&a, TURN_ATTR_LIFETIME);
}

static void test_lifetime_caps(void **state)
{
	struct fx *f = *state;
	struct fx_client c;
	fx_client_init(&c, "203.0.113.5:40000", TURN_UDP);
	fx_login(f, &c, "alice");
	assert_int_equal(allocate_lifetime(f, &c, 100000), 3600);
	assert_int_equal(fx_alloc_of(f, &c)->expires_ms, f->s.now_ms + 3600000u);
	struct fx_answer a;
	/* Below the default: the default (RFC 8656 sections 7.2 and 8). */
	assert_int_equal(fx_refresh(f, &c, 10, &a), 0);
	assert_int_equal(fx_u32(&a, TURN_ATTR_LIFETIME), 600);
	assert_int_equal(fx_refresh(f, &c, 1800, &a), 0);
	assert_int_equal(fx_u32(&a, TURN_ATTR_LIFETIME), 1800);
	assert_int_equal(fx_refresh(f, &c, 0xFFFFFFFFll, &a), 0);
	assert_int_equal(fx_u32(&a, TURN_ATTR_LIFETIME), 3600);
	assert_int_equal(fx_refresh(f, &c, -1, &a), 0);
	assert_int_equal(fx_u32(&a, TURN_ATTR_LIFETIME), 600);
	assert_int_equal(fx_alloc_of(f, &c)->expires_ms, f->s.now_ms + 600000u);

	struct fx_client d;
	fx_client_init(&d, "203.0.113.6:40000", TURN_UDP);
	fx_login(f, &d, "bob");
	assert_int_equal(allocate_lifetime(f, &d, 0), 600);
}

static void test_lifetime_credential_cap(void **state)
{
	struct fx *f = *state;
	struct fx_client c;
	fx_client_init(&c, "203.0.113.5:40000", TURN_UDP);
	fx_get_nonce(f, &c);
	fx_cred(f, &c, "alice", 120);
	uint32_t lt = allocate_lifetime(f, &c, 3600);
	assert_in_range(lt, 110, 120);
	struct fx_answer a;
	assert_int_equal(fx_refresh(f, &c, 3600, &a), 0);
	assert_in_range(fx_u32(&a, TURN_ATTR_LIFETIME), 110, 120);
}

static void test_refresh_family(void **state)
{
	struct fx *f = *state;
	struct fx_client c;
	fx_client_init(&c, "203.0.113.5:40000", TURN_UDP);
	fx_allocated(f, &c, "alice");
	struct fx_msg m;
	struct fx_answer a;
	fx_msg_start(f, &m, TURN_REFRESH, STUN_REQUEST);
	fx_add_family(&m, TURN_ATTR_REQUESTED_ADDRESS_FAMILY, 0x02);
	fx_msg_auth(f, &m, &c);
	assert_true(fx_exchange(f, &c, &m, &a));
	fx_assert_auth_error(&a, &c, 443);
	assert_int_equal(f->s.n_allocations, 1);
}

/* ---- permissions and the data path ------------------------------------------ */

static void test_permission_all_or_nothing(void **state)
{
	struct fx *f = *state;
	struct fx_client c;
	fx_client_init(&c, "203.0.113.5:40000", TURN_UDP);
	fx_allocated(f, &c, "alice");
	/* 192.0.2.0/24 is documentation space: denied by the built-in policy. */
	assert_int_equal(fx_peer_request(f, &c, TURN_CREATE_PERMISSION, "8.8.8.8:1", "192.0.2.1:1",
					 0), 403);
	assert_int_equal(fx_peer_request(f, &c, TURN_CREATE_PERMISSION, "127.0.0.1:1", "8.8.8.8:1",
					 0), 403);
	assert_int_equal(fx_alloc_of(f, &c)->n_perms, 0);
	assert_int_equal(mc_get(&f->s.metrics.peer_denied), 2);
	assert_int_equal(fx_send_indication(f, &c, "8.8.8.8:1", "x", 1), 0);
	/* Both allowed: both installed. */
	assert_int_equal(fx_peer_request(f, &c, TURN_CREATE_PERMISSION, "8.8.8.8:1", "8.8.4.4:1",
					 0), 0);
	assert_int_equal(fx_alloc_of(f, &c)->n_perms, 2);
	/* No peer at all is a bad request. */
	assert_int_equal(fx_peer_request(f, &c, TURN_CREATE_PERMISSION, NULL, NULL, 0), 400);
}

static void test_permission_family_mismatch(void **state)
{
	struct fx *f = *state;
	struct fx_client c;
	fx_client_init(&c, "203.0.113.5:40000", TURN_UDP);
	fx_allocated(f, &c, "alice");
	assert_int_equal(fx_peer_request(f, &c, TURN_CREATE_PERMISSION,
					 "[2001:4860:4860::8888]:1", NULL, 0), 443);
	assert_int_equal(fx_peer_request(f, &c, TURN_CREATE_PERMISSION, "8.8.8.8:1",
					 "[2001:4860:4860::8888]:1", 0), 443);
	assert_int_equal(fx_alloc_of(f, &c)->n_perms, 0);
}

static void test_permission_allow_list(void **state)
{
	struct fx *f = *state;
	/* An explicit allow opens a documentation prefix; a deny closes a global one. */
	assert_int_equal(cidr_parse("192.0.2.0/24", &f->conf.allow[0]), 0);
	f->conf.n_allow = 1;
	assert_int_equal(cidr_parse("8.8.4.0/24", &f->conf.deny[0]), 0);
	f->conf.n_deny = 1;
	fx_restart(f);
	struct fx_client c;
	fx_client_init(&c, "203.0.113.5:40000", TURN_UDP);
	fx_allocated(f, &c, "alice");
	assert_int_equal(fx_peer_request(f, &c, TURN_CREATE_PERMISSION, "192.0.2.1:1", NULL, 0), 0);
	assert_int_equal(fx_peer_request(f, &c, TURN_CREATE_PERMISSION, "8.8.4.4:1", NULL, 0), 403);
}

static void test_permission_cap(void **state)
{
	struct fx *f = *state;
	f->conf.permissions_per_allocation = 2;
	fx_restart(f);
	struct fx_client c;
	fx_client_init(&c, "203.0.113.5:40000", TURN_UDP);
	fx_allocated(f, &c, "alice");
	assert_int_equal(fx_peer_request(f, &c, TURN_CREATE_PERMISSION, "8.8.8.8:1", NULL, 0), 0);
	assert_int_equal(fx_peer_request(f, &c, TURN_CREATE_PERMISSION, "8.8.4.4:1", NULL, 0), 0);
	assert_int_equal(fx_peer_request(f, &c, TURN_CREATE_PERMISSION, "1.1.1.1:1", NULL, 0), 508);
	/* A refresh (any port) needs no new slot, but all or nothing still holds. */
	assert_int_equal(fx_peer_request(f, &c, TURN_CREATE_PERMISSION, "8.8.8.8:2", NULL, 0), 0);
	assert_int_equal(fx_peer_request(f, &c, TURN_CREATE_PERMISSION, "8.8.8.8:1", "1.1.1.1:1",
					 0), 508);
	assert_int_equal(fx_alloc_of(f, &c)->n_perms, 2);
	/* A ChannelBind to a new peer needs a permission slot too. */
	assert_int_equal(fx_peer_request(f, &c, TURN_CHANNEL_BIND, "1.1.1.1:1", NULL, 0x4000), 508);
}

static void test_send_indication(void **state)
{
	struct fx *f = *state;
	struct fx_client c;
	fx_client_init(&c, "203.0.113.5:40000", TURN_UDP);
	fx_allocated(f, &c, "alice");
	static const char payload[] = "relay me, exactly";
	assert_int_equal(fx_send_indication(f, &c, "8.8.8.8:3000", payload, 17), 0);
	assert_int_equal(mc_get(&f->s.metrics.no_permission), 1);
	assert_int_equal(fx_peer_request(f, &c, TURN_CREATE_PERMISSION, "8.8.8.8:1", NULL, 0), 0);
	assert_int_equal(fx_send_indication(f, &c, "8.8.8.8:3000", payload, 17), 1);
	const struct fx_peer_sent *p = fx_last_peer(f);
	assert_int_equal(p->len, 17);
	assert_memory_equal(p->buf, payload, 17);
	struct sockaddr_storage want;
	fx_addr(&want, "8.8.8.8:3000");
	assert_true(sockaddr_equal(&p->peer, &want));
	assert_ptr_equal(p->relay, &fx_alloc_of(f, &c)->relay[0]);
	/* Permissions are per IP address: another port of the peer is fine. */
	assert_int_equal(fx_send_indication(f, &c, "8.8.8.8:3001", payload, 3), 1);
	assert_int_equal(fx_last_peer(f)->len, 3);
	/* Another address is not. */
	assert_int_equal(fx_send_indication(f, &c, "8.8.4.4:3000", payload, 3), 0);
	/* An empty DATA relays an empty datagram. */
	assert_int_equal(fx_send_indication(f, &c, "8.8.8.8:3000", "", 0), 1);
	assert_int_equal(fx_last_peer(f)->len, 0);
	assert_int_equal(mc_get(&f->s.metrics.relayed_packets[MD_TO_PEER][MT_UDP]), 3);
	assert_int_equal(mc_get(&f->s.metrics.relayed_bytes[MD_TO_PEER][MT_UDP]), 20);
}

static void test_send_indication_without_allocation(void **state)
{
	struct fx *f = *state;
	struct fx_client c;
	fx_client_init(&c, "203.0.113.5:40000", TURN_UDP);
	assert_int_equal(fx_send_indication(f, &c, "8.8.8.8:3000", "x", 1), 0);
	/* And a malformed one (no DATA) on a live allocation is dropped. */
	fx_allocated(f, &c, "alice");
	assert_int_equal(fx_peer_request(f, &c, TURN_CREATE_PERMISSION, "8.8.8.8:1", NULL, 0), 0);
	struct fx_msg m;
	fx_msg_start(f, &m, TURN_SEND, STUN_INDICATION);
	fx_add_peer(&m, "8.8.8.8:3000");
	int n = stun_build_finish(&m.b);
	assert_int_equal(fx_input(f, &c, m.buf, (size_t)n), 0);
	assert_int_equal(f->io.n_peer, 0);
}

static void test_data_indication(void **state)
{
	struct fx *f = *state;
	struct fx_client c;
	fx_client_init(&c, "203.0.113.5:40000", TURN_UDP);
	fx_allocated(f, &c, "alice");
	struct allocation *al = fx_alloc_of(f, &c);
	static const uint8_t payload[] = { 0xde, 0xad, 0xbe, 0xef, 0x01 };
	assert_int_equal(fx_from_peer(f, al, "8.8.8.8:3000", payload, sizeof(payload)), 0);
	assert_int_equal(mc_get(&f->s.metrics.no_permission), 1);

	assert_int_equal(fx_peer_request(f, &c, TURN_CREATE_PERMISSION, "8.8.8.8:1", NULL, 0), 0);
	assert_int_equal(fx_from_peer(f, al, "8.8.8.8:3000", payload, sizeof(payload)), 1);
	const struct fx_sent *s = fx_last_sent(f);
	assert_true(sockaddr_equal(&s->to.addr, &c.tc.addr));
	struct stun_msg msg;
	assert_int_equal(stun_msg_parse(&msg, s->buf, s->len), 0);
	assert_int_equal(msg.type, stun_type(TURN_DATA, STUN_INDICATION));
	assert_int_equal(msg.n_attrs, 2);
	assert_int_equal(msg.mi_offset, 0);
	assert_int_equal(msg.fingerprint_offset, 0);
	const struct stun_attr *pa = stun_msg_find(&msg, TURN_ATTR_XOR_PEER_ADDRESS);
	const struct stun_attr *da = stun_msg_find(&msg, TURN_ATTR_DATA);
	assert_non_null(pa);
	assert_non_null(da);
	struct sockaddr_storage peer, want;
	assert_int_equal(stun_attr_get_xor_addr(&msg, pa, &peer), 0);
	fx_addr(&want, "8.8.8.8:3000");
	assert_true(sockaddr_equal(&peer, &want));
	assert_int_equal(da->len, sizeof(payload));
	assert_memory_equal(stun_attr_value(&msg, da), payload, sizeof(payload));
	assert_int_equal(s->len, 20 + 12 + 4 + 8);
	assert_int_equal(mc_get(&f->s.metrics.relayed_packets[MD_TO_CLIENT][MT_UDP]), 1);
	/* Another IP without permission: still dropped. */
	assert_int_equal(fx_from_peer(f, al, "8.8.4.4:3000", payload, sizeof(payload)), 0);
}

/* ---- channels ---------------------------------------------------------------- */

static size_t channel_data(uint8_t *buf, uint16_t ch, const void *data, size_t len, bool pad)
{
	buf[0] = (uint8_t)(ch >> 8);
	buf[1] = (uint8_t)ch;
	buf[2] = (uint8_t)(len >> 8);
	buf[3] = (uint8_t)len;
	memcpy(buf + 4, data, len);
	size_t total = 4 + len;
	while (pad && total % 4)
		buf[total++] = 0;
	return total;
}

static void test_channel_data_udp(void **state)
{
	struct fx *f = *state;
	struct fx_client c;
	fx_client_init(&c, "203.0.113.5:40000", TURN_UDP);
	fx_allocated(f, &c, "alice");
	struct allocation *al = fx_alloc_of(f, &c);
	uint8_t buf[64];
	/* Before the binding, channel data goes nowhere. */
	size_t n = channel_data(buf, 0x4000, "hello", 5, false);
	assert_int_equal(fx_input(f, &c, buf, n), 0);
	assert_int_equal(f->io.n_peer, 0);

	assert_int_equal(fx_peer_request(f, &c, TURN_CHANNEL_BIND, "8.8.8.8:3000", NULL, 0x4000), 0);
	/* ChannelBind installs the permission too. */
	assert_int_equal(al->n_perms, 1);

	assert_int_equal(fx_input(f, &c, buf, n), 0);
	assert_int_equal(f->io.n_peer, 1);
	const struct fx_peer_sent *p = fx_last_peer(f);
	assert_int_equal(p->len, 5);
	assert_memory_equal(p->buf, "hello", 5);
	struct sockaddr_storage want;
	fx_addr(&want, "8.8.8.8:3000");
	assert_true(sockaddr_equal(&p->peer, &want));
	/* A UDP datagram may carry padding after the announced length. */
	n = channel_data(buf, 0x4000, "hello", 5, true);
	assert_int_equal(n, 12);
	assert_int_equal(fx_input(f, &c, buf, n), 0);
	assert_int_equal(fx_last_peer(f)->len, 5);
	/* An unbound number is dropped. */
	n = channel_data(buf, 0x4001, "hello", 5, false);
	assert_int_equal(fx_input(f, &c, buf, n), 0);
	assert_int_equal(f->io.n_peer, 2);

	/* Peer to client: ChannelData, unpadded on UDP. */
	assert_int_equal(fx_from_peer(f, al, "8.8.8.8:3000", "world!", 6), 1);
	const struct fx_sent *s = fx_last_sent(f);
	static const uint8_t want_cd[] = { 0x40, 0x00, 0x00, 0x06, 'w', 'o', 'r', 'l', 'd', '!' };
	assert_int_equal(s->len, sizeof(want_cd));
	assert_memory_equal(s->buf, want_cd, sizeof(want_cd));
	/* The same IP from another port has a permission but no channel: Data indication. */
	assert_int_equal(fx_from_peer(f, al, "8.8.8.8:3001", "world!", 6), 1);
	struct stun_msg msg;
	s = fx_last_sent(f);
	assert_int_equal(stun_msg_parse(&msg, s->buf, s->len), 0);
	assert_int_equal(msg.type, stun_type(TURN_DATA, STUN_INDICATION));
}

/* The media state is made by the first payload that needs it, not by the
 * allocation, and goes back to the worker's pool (zeroed for its next
 * owner) when the allocation ends. */
static void test_media_state_lazy_and_pooled(void **state)
{
	struct fx *f = *state;
	f->conf.media_policy = CONF_MEDIA_OBSERVE;
	fx_restart(f);
	struct fx_client c, d;
	fx_client_init(&c, "203.0.113.5:40000", TURN_UDP);
	fx_allocated(f, &c, "alice");
	struct allocation *al = fx_alloc_of(f, &c);
	assert_int_equal(fx_peer_request(f, &c, TURN_CHANNEL_BIND, "8.8.8.8:3000", NULL, 0x4000), 0);
	uint8_t buf[64];
	size_t n = channel_data(buf, 0x4000, "hello", 5, false);
	assert_int_equal(fx_input(f, &c, buf, n), 0);
	assert_null(al->media);                 /* relayed, nothing to analyse */

	static const uint8_t rtp[] = { 0x80, 111, 0, 1, 0, 0, 0, 0, 0, 0, 0x12, 0x34, 'x' };
	n = channel_data(buf, 0x4000, rtp, sizeof(rtp), false);
	assert_int_equal(fx_input(f, &c, buf, n), 0);
	assert_non_null(al->media);
	assert_true(al->media->stream[MD_TO_PEER][0].used);
	assert_int_equal(al->media->stream[MD_TO_PEER][0].received, 1);

	struct fx_answer a;
	assert_int_equal(fx_refresh(f, &c, 0, &a), 0);
	assert_int_equal(f->s.media_pool_len, 1);

	fx_client_init(&d, "203.0.113.6:40000", TURN_UDP);
	fx_allocated(f, &d, "bob");
	struct allocation *bl = fx_alloc_of(f, &d);
	assert_null(bl->media);
	assert_int_equal(fx_peer_request(f, &d, TURN_CHANNEL_BIND, "8.8.8.8:3000", NULL, 0x4000), 0);
	assert_int_equal(fx_input(f, &d, buf, n), 0);
	assert_non_null(bl->media);
	assert_int_equal(f->s.media_pool_len, 0);     /* taken from the pool */
	assert_int_equal(bl->media->stream[MD_TO_PEER][0].received, 1);  /* not alice's count */
	assert_int_equal(bl->media->unencrypted_flows, 1);   /* plain RTP, observed */
	assert_int_equal(bl->media->dtls_flows, 0);
}

static void test_channel_data_tcp(void **state)
{
	struct fx *f = *state;
	struct fx_client c;
	fx_client_init(&c, "203.0.113.5:40000", TURN_TCP);
	fx_allocated(f, &c, "alice");
	assert_non_null(c.slot);
	assert_int_equal(fx_peer_request(f, &c, TURN_CHANNEL_BIND, "8.8.8.8:3000", NULL, 0x4abc), 0);
	uint8_t buf[64];
	size_t n = channel_data(buf, 0x4abc, "world!", 6, true);
	assert_int_equal(n, 12);
	assert_int_equal(fx_input(f, &c, buf, n), 0);
	assert_int_equal(fx_last_peer(f)->len, 6);
	assert_memory_equal(fx_last_peer(f)->buf, "world!", 6);

	assert_int_equal(fx_from_peer(f, c.slot, "8.8.8.8:3000", "world!", 6), 1);
	const struct fx_sent *s = fx_last_sent(f);
	static const uint8_t want[] = { 0x4a, 0xbc, 0x00, 0x06, 'w', 'o', 'r', 'l', 'd', '!', 0, 0 };
	assert_int_equal(s->len, sizeof(want));
	assert_memory_equal(s->buf, want, sizeof(want));
	assert_ptr_equal(s->to.conn, &c);
	/* Already a multiple of 4: no padding. */
	assert_int_equal(fx_from_peer(f, c.slot, "8.8.8.8:3000", "abcd", 4), 1);
	assert_int_equal(fx_last_sent(f)->len, 8);
	fx_stop(f);   /* while c.slot, which the server writes, is still in scope */
}

static void test_channel_rebinding(void **state)
{
	struct fx *f = *state;
	struct fx_client c;
	fx_client_init(&c, "203.0.113.5:40000", TURN_UDP);
	fx_allocated(f, &c, "alice");
	assert_int_equal(fx_peer_request(f, &c, TURN_CHANNEL_BIND, "8.8.8.8:3000", NULL, 0x4000), 0);
	/* Same number, another peer. */
	assert_int_equal(fx_peer_request(f, &c, TURN_CHANNEL_BIND, "8.8.4.4:3000", NULL, 0x4000), 400);
	assert_int_equal(fx_peer_request(f, &c, TURN_CHANNEL_BIND, "8.8.8.8:3001", NULL, 0x4000), 400);
	/* Same peer, another number. */
	assert_int_equal(fx_peer_request(f, &c, TURN_CHANNEL_BIND, "8.8.8.8:3000", NULL, 0x4001), 400);
	/* The same binding again is a refresh. */
	f->s.now_ms += 60000;
	assert_int_equal(fx_peer_request(f, &c, TURN_CHANNEL_BIND, "8.8.8.8:3000", NULL, 0x4000), 0);
	const struct turn_channel *ch =
		allocation_channel_by_number(fx_alloc_of(f, &c), 0x4000, f->s.now_ms);
	assert_non_null(ch);
	assert_int_equal(ch->expires_ms, f->s.now_ms + TURN_CHANNEL_MS);
	/* Another number to another peer is fine. */
	assert_int_equal(fx_peer_request(f, &c, TURN_CHANNEL_BIND, "8.8.8.8:3001", NULL, 0x4001), 0);
}

static void test_channel_bad_requests(void **state)
{
	struct fx *f = *state;
	struct fx_client c;
	fx_client_init(&c, "203.0.113.5:40000", TURN_UDP);
	fx_allocated(f, &c, "alice");
	assert_int_equal(fx_peer_request(f, &c, TURN_CHANNEL_BIND, "8.8.8.8:3000", NULL, 0x3FFF), 400);
	assert_int_equal(fx_peer_request(f, &c, TURN_CHANNEL_BIND, "8.8.8.8:3000", NULL, 0x0001), 400);
	assert_int_equal(fx_peer_request(f, &c, TURN_CHANNEL_BIND, "8.8.8.8:3000", NULL, 0x8000), 400);
	assert_int_equal(fx_peer_request(f, &c, TURN_CHANNEL_BIND, "8.8.8.8:3000", NULL, 0xFFFF), 400);
	/* Missing peer, missing number. */
	assert_int_equal(fx_peer_request(f, &c, TURN_CHANNEL_BIND, NULL, NULL, 0x4000), 400);
	assert_int_equal(fx_peer_request(f, &c, TURN_CHANNEL_BIND, "8.8.8.8:3000", NULL, 0), 400);
	/* Policy and family as for permissions. */
	assert_int_equal(fx_peer_request(f, &c, TURN_CHANNEL_BIND, "127.0.0.1:3000", NULL, 0x4000),
			 403);
	assert_int_equal(fx_peer_request(f, &c, TURN_CHANNEL_BIND, "[2001:4860:4860::8888]:1", NULL,
					 0x4000), 443);
	assert_int_equal(fx_alloc_of(f, &c)->n_perms, 0);
}

/* ---- timers -------------------------------------------------------------------- */

static void test_permission_expiry(void **state)
{
	struct fx *f = *state;
	struct fx_client c;
	fx_client_init(&c, "203.0.113.5:40000", TURN_UDP);
	fx_allocated(f, &c, "alice");
	struct allocation *al = fx_alloc_of(f, &c);
	assert_int_equal(fx_peer_request(f, &c, TURN_CREATE_PERMISSION, "8.8.8.8:1", NULL, 0), 0);
	f->s.now_ms += TURN_PERMISSION_MS - 1000;
	turn_server_tick(&f->s);
	assert_int_equal(fx_send_indication(f, &c, "8.8.8.8:1", "a", 1), 1);
	assert_int_equal(fx_from_peer(f, al, "8.8.8.8:1", "b", 1), 1);

	f->s.now_ms += 1001;
	/* Even before the sweep, an expired permission relays nothing. */
	assert_int_equal(fx_send_indication(f, &c, "8.8.8.8:1", "a", 1), 0);
	turn_server_tick(&f->s);
	assert_int_equal(al->n_perms, 0);
	assert_int_equal(fx_send_indication(f, &c, "8.8.8.8:1", "a", 1), 0);
	assert_int_equal(fx_from_peer(f, al, "8.8.8.8:1", "b", 1), 0);
	assert_int_equal(f->s.n_allocations, 1);
}

static void test_channel_needs_permission(void **state)
{
	struct fx *f = *state;
	struct fx_client c;
	fx_client_init(&c, "203.0.113.5:40000", TURN_UDP);
	fx_allocated(f, &c, "alice");
	struct fx_answer a;
	assert_int_equal(fx_refresh(f, &c, 3600, &a), 0);
	assert_int_equal(fx_peer_request(f, &c, TURN_CHANNEL_BIND, "8.8.8.8:3000", NULL, 0x4000), 0);
	/* The channel lasts 10 minutes, its permission 5: after 5 nothing flows. */
	f->s.now_ms += TURN_PERMISSION_MS + 1000;
	turn_server_tick(&f->s);
	uint8_t buf[16];
	size_t n = channel_data(buf, 0x4000, "hi", 2, false);
	assert_int_equal(fx_input(f, &c, buf, n), 0);
	assert_int_equal(f->io.n_peer, 0);
	assert_int_equal(fx_from_peer(f, fx_alloc_of(f, &c), "8.8.8.8:3000", "x", 1), 0);
	/* Refreshing the binding restores both. */
	assert_int_equal(fx_peer_request(f, &c, TURN_CHANNEL_BIND, "8.8.8.8:3000", NULL, 0x4000), 0);
	assert_int_equal(fx_input(f, &c, buf, n), 0);
	assert_int_equal(f->io.n_peer, 1);
}

static void test_allocation_expiry(void **state)
{
	struct fx *f = *state;
	struct fx_client c;
	fx_client_init(&c, "203.0.113.5:40000", TURN_UDP);
	uint16_t port = fx_allocated(f, &c, "alice");
	f->s.now_ms += 599000;
	turn_server_tick(&f->s);
	assert_int_equal(f->s.n_allocations, 1);
	assert_int_equal(f->io.n_close, 0);
	f->s.now_ms += 1000;
	turn_server_tick(&f->s);
	assert_int_equal(f->s.n_allocations, 0);
	assert_int_equal(f->io.n_close, 1);
	assert_int_equal(sockaddr_port(&f->io.last_close_addr), port);
	assert_int_equal(mc_get(&f->s.metrics.alloc_end_reason[ME_EXPIRED]), 1);
	assert_null(fx_alloc_of(f, &c));
	assert_int_equal(user_quota_total(&f->sh.quota), 0);
	assert_int_equal(f->sh.ports.in_use[0], 0);
}

static void test_expiry_sweep_many(void **state)
{
	struct fx *f = *state;
	/* Allocations of mixed lifetimes: the sweep takes exactly the expired ones,
	 * whatever order the swap-removal leaves them in. */
	struct fx_client c[6];
	for (int i = 0; i < 6; i++) {
		char addr[32];
		snprintf(addr, sizeof(addr), "203.0.113.5:%d", 40000 + i);
		fx_client_init(&c[i], addr, TURN_UDP);
		fx_login(f, &c[i], "alice");
		assert_int_equal(allocate_lifetime(f, &c[i], i % 2 ? 1200 : 600), i % 2 ? 1200 : 600);
	}
	f->s.now_ms += 600000;
	turn_server_tick(&f->s);
	assert_int_equal(f->s.n_allocations, 3);
	for (int i = 0; i < 6; i++)
		assert_true((fx_alloc_of(f, &c[i]) != NULL) == (i % 2 == 1));
	f->s.now_ms += 600000;
	turn_server_tick(&f->s);
	assert_int_equal(f->s.n_allocations, 0);
	assert_int_equal(f->io.n_close, 6);
}

/* ---- rate limiting ------------------------------------------------------------- */

static bool binding_answered(struct fx *f, struct fx_client *c)
{
	struct fx_msg m;
	struct fx_answer a;
	fx_msg_start(f, &m, STUN_BINDING, STUN_REQUEST);
	return fx_exchange(f, c, &m, &a);
}

/* Many sources together cannot exceed the per-worker total. */
static void test_unauth_total_cap(void **state)
{
	struct fx *f = *state;
	f->conf.unauth_total_rate = 5;
	fx_restart(f);
	unsigned answered = 0;
	for (int i = 0; i < 20; i++) {
		char addr[64];
		snprintf(addr, sizeof(addr), "203.0.113.%d:40000", i + 1);
		struct fx_client c;
		fx_client_init(&c, addr, TURN_UDP);
		answered += binding_answered(f, &c);
	}
	assert_int_equal(answered, 5);
	/* A second later the bucket holds 5 again. */
	f->s.now_ms += 1000;
	struct fx_client late;
	fx_client_init(&late, "198.51.100.7:40000", TURN_UDP);
	assert_true(binding_answered(f, &late));
}

static void test_unauth_rate_limit(void **state)
{
	struct fx *f = *state;
	f->conf.unauth_burst = 3;
	f->conf.unauth_rate = 1;
	fx_restart(f);
	struct fx_client c, other;
	fx_client_init(&c, "203.0.113.5:40000", TURN_UDP);
	fx_client_init(&other, "198.51.100.99:40000", TURN_UDP);
	fx_login(f, &c, "alice");  /* the 401 took one token */
	assert_true(binding_answered(f, &c));
	assert_true(binding_answered(f, &c));
	assert_false(binding_answered(f, &c));
	/* Another port of the same address shares the bucket. */
	struct fx_client c2;
	fx_client_init(&c2, "203.0.113.5:40001", TURN_UDP);
	assert_false(binding_answered(f, &c2));
	/* So does a challenge. */
	struct fx_msg m;
	struct fx_answer a;
	fx_msg_start(f, &m, TURN_ALLOCATE, STUN_REQUEST);
	fx_add_transport(&m, udp_transport);
	assert_false(fx_exchange(f, &c, &m, &a));
	assert_int_equal(mc_get(&f->s.metrics.rate_limited), 3);
	/* Authenticated answers are not limited. */
	assert_int_equal(fx_allocate(f, &c, &a), 0);
	/* Nor is another source. */
	assert_true(binding_answered(f, &other));
	/* A second later one token is back. */
	f->s.now_ms += 1000;
	assert_true(binding_answered(f, &c));
	assert_false(binding_answered(f, &c));
}

static void test_garbage_ignored(void **state)
{
	struct fx *f = *state;
	struct fx_client c;
	fx_client_init(&c, "203.0.113.5:40000", TURN_UDP);
	static const uint8_t junk[] = { 0x00, 0x01, 0x00, 0x04, 0x21, 0x12, 0xa4, 0x42, 1, 2, 3 };
	assert_int_equal(fx_input(f, &c, junk, sizeof(junk)), 0);
	assert_int_equal(fx_input(f, &c, junk, 0), 0);
	assert_int_equal(mc_get(&f->s.metrics.malformed), 2);
	/* A response or an unknown method from a client. */
	struct fx_msg m;
	struct fx_answer a;
	fx_msg_start(f, &m, STUN_BINDING, STUN_SUCCESS);
	int n = stun_build_finish(&m.b);
	assert_int_equal(fx_input(f, &c, m.buf, (size_t)n), 0);
	fx_msg_start(f, &m, 0x0ABC, STUN_REQUEST);
	assert_true(fx_exchange(f, &c, &m, &a));
	assert_int_equal(fx_error(&a), 400);
}

/* ---- stream allocations --------------------------------------------------------- */

static void test_stream_allocation(void **state)
{
	struct fx *f = *state;
	struct fx_client c;
	fx_client_init(&c, "203.0.113.5:40000", TURN_TCP);
	fx_allocated(f, &c, "alice");
	struct allocation *al = c.slot;
	assert_non_null(al);
	assert_ptr_equal(al->conn_slot, &c.slot);
	assert_ptr_equal(al->client.conn, &c);
	/* Stream allocations are not in the UDP table. */
	assert_int_equal(f->s.table.count, 0);
	assert_null(alloc_table_find(&f->s.table, &c.tc));
	assert_int_equal(f->s.n_allocations, 1);
	assert_ptr_equal(fx_last_sent(f)->to.conn, &c);

	/* The same address over UDP is another client. */
	struct fx_client u;
	fx_client_init(&u, "203.0.113.5:40000", TURN_UDP);
	fx_allocated(f, &u, "alice");
	assert_int_equal(f->s.n_allocations, 2);

	turn_server_conn_closed(&f->s, c.slot);
	assert_null(c.slot);
	assert_int_equal(f->s.n_allocations, 1);
	assert_int_equal(f->io.n_close, 1);
	assert_int_equal(mc_get(&f->s.metrics.alloc_end_reason[ME_CONNECTION]), 1);
	/* A connection without an allocation closes quietly. */
	turn_server_conn_closed(&f->s, NULL);
	assert_int_equal(f->s.n_allocations, 1);
	assert_non_null(fx_alloc_of(f, &u));
	fx_stop(f);
}

static void test_stream_refresh_delete(void **state)
{
	struct fx *f = *state;
	struct fx_client c;
	fx_client_init(&c, "203.0.113.5:40000", TURN_TCP);
	fx_allocated(f, &c, "alice");
	struct fx_answer a;
	assert_int_equal(fx_refresh(f, &c, 0, &a), 0);
	/* The connection's pointer is cleared with the allocation. */
	assert_null(c.slot);
	assert_int_equal(f->io.n_close, 1);
	/* And the connection may allocate again. */
	assert_int_equal(fx_allocate(f, &c, &a), 0);
	assert_non_null(c.slot);
	fx_stop(f);
	assert_null(c.slot);
}

static void test_destroy_closes_everything(void **state)
{
	struct fx *f = *state;
	struct fx_client c[5];
	for (int i = 0; i < 5; i++) {
		char addr[32];
		snprintf(addr, sizeof(addr), "203.0.113.5:%d", 40000 + i);
		fx_client_init(&c[i], addr, i % 2 ? TURN_TCP : TURN_UDP);
		fx_allocated(f, &c[i], "alice");
	}
	assert_int_equal(f->io.n_live, 5);
	fx_stop(f);   /* asserts every relay was closed */
	assert_int_equal(f->io.n_close, 5);
	/* Stream connections learn their allocation is gone. */
	assert_null(c[1].slot);
	assert_null(c[3].slot);
}

/* ---- regressions: bugs these tests found, fixed since ---------------------- */

/* RFC 8656 section 7.2 / RFC 8489 section 6.3.1: a retransmitted Allocate
 * gets the original success response. A 437 to an intervening Allocate with
 * another transaction id overwrites the cached success
 * (relay/turn/server.c turn_answer_send caches every authenticated answer
 * to an Allocate into the allocation's cache), so the retransmission is
 * answered 437 and the client never learns its relayed address. */
static void test_bug_allocate_retransmit_after_mismatch(void **state)
{
	struct fx *f = *state;
	struct fx_client c;
	struct fx_msg m;
	size_t len = allocate_by_hand(f, &c, &m);
	struct fx_sent first = *fx_last_sent(f);
	struct fx_answer a;
	assert_int_equal(fx_allocate(f, &c, &a), 437);
	assert_int_equal(fx_input(f, &c, m.buf, len), 1);
	const struct fx_sent *again = fx_last_sent(f);
	assert_int_equal(again->len, first.len);
	assert_memory_equal(again->buf, first.buf, first.len);
}

/* RFC 8656 section 9.2: a CreatePermission naming the same new peer twice
 * needs one permission slot. methods.c turn_handle_create_permission counts
 * `fresh` once per XOR-PEER-ADDRESS, before any is installed, so with one
 * slot left the request is refused 508. */
static void test_bug_permission_duplicate_peer(void **state)
{
	struct fx *f = *state;
	f->conf.permissions_per_allocation = 2;
	fx_restart(f);
	struct fx_client c;
	fx_client_init(&c, "203.0.113.5:40000", TURN_UDP);
	fx_allocated(f, &c, "alice");
	assert_int_equal(fx_peer_request(f, &c, TURN_CREATE_PERMISSION, "8.8.8.8:1", NULL, 0), 0);
	assert_int_equal(fx_peer_request(f, &c, TURN_CREATE_PERMISSION, "1.1.1.1:1", "1.1.1.1:2",
					 0), 0);
	assert_int_equal(fx_alloc_of(f, &c)->n_perms, 2);
}

/* peer_policy.h: "the relay's own listener sockets are never peers". The
 * policy judges the XOR-PEER-ADDRESS of CreatePermission with its port, but
 * permissions are per IP (RFC 8656 section 9), and the Send indication path
 * (datapath.c to_peer) checks only the permission: a permission obtained
 * with any port lets the client send to the server's own listener. */
static void test_bug_send_to_own_listener(void **state)
{
	struct fx *f = *state;
	/* The server's public listener, on a global address. */
	fx_addr(&f->conf.udp[0], "8.8.8.8:3478");
	f->conf.n_udp = 1;
	fx_restart(f);
	struct fx_client c;
	fx_client_init(&c, "203.0.113.5:40000", TURN_UDP);
	fx_allocated(f, &c, "alice");
	/* Judged on the listener itself, it is refused ... */
	assert_int_equal(fx_peer_request(f, &c, TURN_CREATE_PERMISSION, "8.8.8.8:3478", NULL, 0),
			 403);
	assert_int_equal(fx_peer_request(f, &c, TURN_CHANNEL_BIND, "8.8.8.8:3478", NULL, 0x4000),
			 403);
	/* ... but a permission for the same IP at another port opens it. */
	assert_int_equal(fx_peer_request(f, &c, TURN_CREATE_PERMISSION, "8.8.8.8:1", NULL, 0), 0);
	assert_int_equal(fx_send_indication(f, &c, "8.8.8.8:3478", "loop", 4), 0);
}

int main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, fx_setup, fx_teardown)
	const struct CMUnitTest tests[] = {
		T(test_binding),
		T(test_binding_fingerprint_and_v6),
		T(test_allocate_challenge),
		T(test_allocate_success),
		T(test_allocate_dont_fragment_and_fingerprint),
		T(test_allocate_retransmission),
		T(test_response_cache_one_slot),
		T(test_allocate_mismatch),
		T(test_allocate_bad_transport),
		T(test_auth_wrong_integrity),
		T(test_auth_wrong_realm),
		T(test_auth_missing_nonce),
		T(test_auth_expired_credential),
		T(test_auth_credential_too_far),
		T(test_auth_rotation),
		T(test_auth_stale_nonce),
		T(test_auth_nonce_other_address),
		T(test_auth_wrong_credentials),
		T(test_unknown_attribute),
		T(test_family_v6_unavailable),
		T(test_family_v6_relay),
		T(test_family_dual),
		T(test_family_dual_without_v6),
		T(test_family_both_attributes),
		T(test_even_port),
		T(test_reservation_token),
		T(test_reservation_unknown_token),
		T(test_reservation_with_even_port),
		T(test_reservation_expires),
		T(test_quota_per_user),
		T(test_quota_total),
		T(test_ports_exhausted),
		T(test_relay_bind_failure),
		T(test_refresh_delete),
		T(test_refresh_without_allocation),
		T(test_lifetime_caps),
		T(test_lifetime_credential_cap),
		T(test_refresh_family),
		T(test_permission_all_or_nothing),
		T(test_permission_family_mismatch),
		T(test_permission_allow_list),
		T(test_permission_cap),
		T(test_send_indication),
		T(test_send_indication_without_allocation),
		T(test_data_indication),
		T(test_channel_data_udp),
		T(test_media_state_lazy_and_pooled),
		T(test_channel_data_tcp),
		T(test_channel_rebinding),
		T(test_channel_bad_requests),
		T(test_permission_expiry),
		T(test_channel_needs_permission),
		T(test_allocation_expiry),
		T(test_expiry_sweep_many),
		T(test_unauth_rate_limit),
		T(test_unauth_total_cap),
		T(test_garbage_ignored),
		T(test_stream_allocation),
		T(test_stream_refresh_delete),
		T(test_destroy_closes_everything),
		/* regressions of bugs these tests found */
		T(test_bug_allocate_retransmit_after_mismatch),
		T(test_bug_permission_duplicate_peer),
		T(test_bug_send_to_own_listener),
	};
#undef T
	return cmocka_run_group_tests_name("turn_server", tests, NULL, NULL);
}
