/* Long-term credential authentication of TURN requests (RFC 8489 section
 * 9.2) with REST credentials: stateless nonces, the password-algorithm
 * negotiation, expiry on every request, several secrets at once. Everything
 * said to an unauthenticated client is rate-limited per source and carries
 * no reason phrase. */
#include "relay/turn/server_internal.h"

#include <errno.h>
#include <string.h>

#include "common/monotime.h"

/* Why the credential itself is refused, or MA_COUNT when it is fine. */
static enum metrics_auth_failure credential_problem(const struct turn_server *s,
						    struct turn_req *req, bool realm_ok)
{
	const struct tern_config *conf = s->snap->conf;
	if (!realm_ok)
		return MA_WRONG_REALM;
	switch (cred_check_time(req->username, req->username_len, walltime_s(), conf->max_ttl,
				conf->clock_skew, &req->cred)) {
	case CRED_OK: return MA_COUNT;
	case CRED_EXPIRED: return MA_EXPIRED;
	case CRED_TOO_FAR: return MA_TOO_FAR;
	default: return MA_BAD_USERNAME;
	}
}

/* PASSWORD-ALGORITHMS we offer, in preference order: SHA-256, then MD5. */
static const uint8_t offered_algorithms[] = { 0x00, 0x02, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00 };

static uint64_t nonce_now_s(const struct turn_server *s) { return s->now_ms / 1000u; }

/* 401 or 438 with REALM and a fresh NONCE (RFC 8489 section 9.2.4). */
static void answer_challenge(struct turn_server *s, struct turn_req *req, int code)
{
	if (!turn_unauth_allowed(s, req->from))
		return;
	const struct turn_shared *sh = s->shared;
	char nonce[NONCE_MAX_LEN];
	int nlen = nonce_make(&sh->nonce_key, nonce_now_s(s), &req->from->addr, nonce, sizeof(nonce));
	if (nlen < 0)
		return;
	struct stun_builder b;
	req->authenticated = false;
	turn_answer_start(s, &b, req, STUN_ERROR);
	stun_build_error(&b, code, NULL);
	stun_build_attr(&b, STUN_ATTR_REALM, s->snap->conf->realm, strlen(s->snap->conf->realm));
	stun_build_attr(&b, STUN_ATTR_NONCE, nonce, (size_t)nlen);
	stun_build_attr(&b, STUN_ATTR_PASSWORD_ALGORITHMS, offered_algorithms,
			sizeof(offered_algorithms));
	turn_answer_send(s, &b, req);
}

static void answer_unauth_error(struct turn_server *s, struct turn_req *req, int code)
{
	if (turn_unauth_allowed(s, req->from))
		turn_answer_error(s, req, code);
}

/* The password algorithm the client chose (RFC 8489 section 9.2.4): MD5
 * unless it echoes our PASSWORD-ALGORITHMS and picks one from it.
 * Returns the algorithm or -EINVAL (400). */
static int chosen_algorithm(const struct stun_msg *msg)
{
	const struct stun_attr *list = stun_msg_find(msg, STUN_ATTR_PASSWORD_ALGORITHMS);
	const struct stun_attr *alg = stun_msg_find(msg, STUN_ATTR_PASSWORD_ALGORITHM);
	if (!list && !alg)
		return STUN_PWALG_MD5;
	if (!list || !alg)
		return -EINVAL;
	if (list->len != sizeof(offered_algorithms) ||
	    memcmp(stun_attr_value(msg, list), offered_algorithms, sizeof(offered_algorithms)) != 0)
		return -EINVAL;
	uint16_t a;
	if (stun_attr_get_password_alg(msg, alg, &a) < 0 ||
	    (a != STUN_PWALG_MD5 && a != STUN_PWALG_SHA256))
		return -EINVAL;
	return a;
}

static int check_key(const struct stun_msg *msg, bool sha256_mi, const uint8_t *key, size_t len)
{
	return sha256_mi ? stun_msg_check_integrity_sha256(msg, key, len)
			 : stun_msg_check_integrity(msg, key, len);
}

static void derive_key(int alg, const char *user, size_t ulen, const char *realm,
		       const char *password, size_t plen, uint8_t key[32], uint8_t *key_len)
{
	if (alg == STUN_PWALG_SHA256) {
		stun_long_term_key_sha256(user, ulen, realm, strlen(realm), password, plen, key);
		*key_len = 32;
	} else {
		stun_long_term_key_md5(user, ulen, realm, strlen(realm), password, plen, key);
		*key_len = 16;
	}
}

/* Tries the allocation's key first (no HMAC of the secret needed), then
 * every secret in force. Returns 0 when one of them verifies. */
static int verify_integrity(struct turn_server *s, struct turn_req *req, int alg)
{
	const struct stun_msg *msg = req->msg;
	const struct allocation *a = req->alloc;
	bool sha256_mi = msg->mi256_offset != 0;
	uint8_t want_len = alg == STUN_PWALG_SHA256 ? 32 : 16;
	if (a && a->key_len == want_len && a->username_len == req->username_len &&
	    memcmp(a->username, req->username, req->username_len) == 0 &&
	    check_key(msg, sha256_mi, a->key, a->key_len) == 0) {
		memcpy(req->key, a->key, a->key_len);
		req->key_len = a->key_len;
		req->use_sha256_mi = sha256_mi;
		return 0;
	}
	const struct tern_config *conf = s->snap->conf;
	for (unsigned i = 0; i < conf->secrets.n; i++) {
		char password[CRED_PASSWORD_CAP];
		int plen = cred_password(&conf->secrets, i, req->username, req->username_len, password);
		if (plen < 0)
			continue;
		derive_key(alg, req->username, req->username_len, conf->realm, password, (size_t)plen,
			   req->key, &req->key_len);
		explicit_bzero(password, sizeof(password));
		if (check_key(msg, sha256_mi, req->key, req->key_len) == 0) {
			req->use_sha256_mi = sha256_mi;
			return 0;
		}
	}
	explicit_bzero(req->key, sizeof(req->key));
	return -EACCES;
}

int turn_auth_request(struct turn_server *s, struct turn_req *req)
{
	const struct stun_msg *msg = req->msg;
	const struct tern_config *conf = s->snap->conf;
	if (!msg->mi_offset && !msg->mi256_offset) {
		turn_count_auth_failure(s, MA_NO_CREDENTIALS);
		answer_challenge(s, req, 401);
		return -EACCES;
	}
	const struct stun_attr *user = stun_msg_find(msg, STUN_ATTR_USERNAME);
	const struct stun_attr *realm = stun_msg_find(msg, STUN_ATTR_REALM);
	const struct stun_attr *nonce = stun_msg_find(msg, STUN_ATTR_NONCE);
	if (!user || !realm || !nonce) {
		turn_count_auth_failure(s, MA_MALFORMED);
		turn_audit_refused(s, req, MA_MALFORMED);
		answer_unauth_error(s, req, 400);
		return -EINVAL;
	}
	if (nonce_check(&s->shared->nonce_key, (const char *)stun_attr_value(msg, nonce), nonce->len,
			nonce_now_s(s), conf->nonce_lifetime, &req->from->addr) < 0) {
		turn_count_auth_failure(s, MA_STALE_NONCE);
		turn_audit_refused(s, req, MA_STALE_NONCE);
		answer_challenge(s, req, 438);
		return -ESTALE;
	}
	int alg = chosen_algorithm(msg);
	if (alg < 0) {
		turn_count_auth_failure(s, MA_MALFORMED);
		turn_audit_refused(s, req, MA_MALFORMED);
		answer_unauth_error(s, req, 400);
		return -EINVAL;
	}
	req->username = (const char *)stun_attr_value(msg, user);
	req->username_len = user->len;
	size_t rlen = strlen(conf->realm);
	bool realm_ok = realm->len == rlen &&
			memcmp(stun_attr_value(msg, realm), conf->realm, rlen) == 0;
	/* Expiry is checked on every request, not only the first. */
	enum metrics_auth_failure why = credential_problem(s, req, realm_ok);
	if (why == MA_COUNT && verify_integrity(s, req, alg) < 0)
		why = MA_BAD_INTEGRITY;
	/* Revoked credentials are refused like wrong ones: on every request. */
	if (why == MA_COUNT &&
	    revocation_set_covers(s->revoked, req->username, req->username_len, req->cred.expiry,
				  req->cred.user_id, req->cred.user_id_len, walltime_s()))
		why = MA_REVOKED;
	if (why != MA_COUNT) {
		turn_count_auth_failure(s, why);
		turn_audit_refused(s, req, why);
		answer_challenge(s, req, 401);
		return -EACCES;
	}
	req->authenticated = true;
	/* The allocation belongs to the credential that made it (RFC 8656 section 6). */
	struct allocation *a = req->alloc;
	if (a && (a->username_len != req->username_len ||
		  memcmp(a->username, req->username, req->username_len) != 0)) {
		turn_count_auth_failure(s, MA_WRONG_CREDENTIALS);
		turn_audit_refused(s, req, MA_WRONG_CREDENTIALS);
		turn_answer_error(s, req, 441);
		return -EPERM;
	}
	return 0;
}
