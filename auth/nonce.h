/* Stateless nonces (RFC 8489 section 9.2): the server keeps no per-client
 * state; a nonce carries its own issue time and a keyed MAC over that time
 * and the client's address, so it is valid only from that address and for a
 * configured lifetime. The nonce starts with the "obMatJos2" cookie and the
 * security-feature bits (RFC 8489 section 9.2.1): we set the
 * "password algorithms" bit. */
#ifndef TERN_AUTH_NONCE_H
#define TERN_AUTH_NONCE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "common/sockaddr.h"

#define NONCE_MAX_LEN 64   /* bytes of nonce text, well under STUN's 763 limit */
#define NONCE_KEY_LEN 32

struct nonce_key {
	uint8_t key[NONCE_KEY_LEN];
};

/* Fresh random key (process lifetime). Returns 0 or negative errno. */
int nonce_key_init(struct nonce_key *k);

/* Writes a nonce (ASCII, not NUL-terminated) for `client` issued at `now_s`
 * (monotonic seconds) into out; returns its length or negative errno. */
int nonce_make(const struct nonce_key *k, uint64_t now_s, const struct sockaddr_storage *client,
	       char *out, size_t cap);

/* 0 if valid, -ESTALE if well-formed and ours but older than lifetime_s (or
 * from the future), -EINVAL if malformed, forged or bound to another address. */
int nonce_check(const struct nonce_key *k, const char *nonce, size_t len, uint64_t now_s,
		uint64_t lifetime_s, const struct sockaddr_storage *client);

/* True if the nonce's security-feature bits include "password algorithms". */
int nonce_has_password_algorithms(const char *nonce, size_t len);

#endif
