/* The TLS server context shared by every worker: certificate, key and the
 * protocol posture (TLS 1.2 and 1.3 only, AEAD suites only, no
 * renegotiation, no compression, no 0-RTT, ALPN "stun.turn" or none).
 * A reload builds a complete new context and swaps it in only if the
 * certificate and key load and match; sessions already running keep the
 * context they started with (OpenSSL counts the references). */
#ifndef TERN_RELAY_IO_TLS_H
#define TERN_RELAY_IO_TLS_H

#include <openssl/ssl.h>
#include <pthread.h>
#include <stddef.h>

#include "conf/config.h"

#define TLS_ALPN_TURN "stun.turn"   /* RFC 7443 */

struct tls_server {
	pthread_mutex_t lock;           /* guards ctx: taken per new session, not per packet */
	SSL_CTX *ctx;
	unsigned generation;            /* bumped by each successful reload */
};

/* Loads the certificate and key named in c; on failure writes why to err. */
int tls_server_init(struct tls_server *t, const struct tern_config *c, char *err, size_t cap);
/* Builds a new context from c's files; keeps the old one on failure. */
int tls_server_reload(struct tls_server *t, const struct tern_config *c, char *err, size_t cap);
/* A new server session on the current context, or NULL. */
SSL *tls_server_session(struct tls_server *t);
void tls_server_destroy(struct tls_server *t);

#endif
