/* A Redis connection on a libevent loop, plain TCP or TLS, with AUTH
 * (password or ACL user). Commands are sent as argument vectors, each
 * argument one RESP bulk string (hiredis's formatter), so no user id or
 * username is ever parsed as part of a command. Replies are read with
 * hiredis's protocol reader and delivered in order.
 *
 * Why not hiredis's own async context: Debian 12 ships hiredis 0.14, which
 * has no TLS; libevent's OpenSSL bufferevent gives us TLS, hiredis gives us
 * the protocol.
 *
 * Used by ternd's revocation feed (control thread) and by ternctl. */
#ifndef TERN_AUTH_REDIS_LINK_H
#define TERN_AUTH_REDIS_LINK_H

#include <hiredis/hiredis.h>
#include <openssl/ssl.h>
#include <stdbool.h>
#include <stddef.h>

#include "common/sockaddr.h"

struct event_base;
struct redis_link;

struct redis_link_opts {
	struct sockaddr_storage addr;
	bool tls;
	SSL_CTX *tls_ctx;               /* with tls: verifies the server (caller owns it) */
	const char *tls_server_name;    /* SNI and name to verify; NULL: the address */
	const char *username;           /* ACL user, or NULL for the default user */
	const char *password;           /* NULL: no AUTH */
	unsigned timeout_ms;            /* connect, and any reply beyond the command's own block */
};

/* reply is NULL when the link failed before the reply came; it is freed
 * after the callback returns. */
typedef void (*redis_reply_fn)(void *arg, redisReply *reply);
/* up = connected and authenticated; down comes once per failure, with why. */
typedef void (*redis_state_fn)(void *arg, bool up, const char *why);

struct redis_link *redis_link_new(struct event_base *base, const struct redis_link_opts *o,
				  redis_state_fn on_state, void *arg);
/* Drops the connection silently (no callbacks) and frees. */
void redis_link_free(struct redis_link *l);
/* Starts connecting; on_state tells the outcome. */
int redis_link_connect(struct redis_link *l);
bool redis_link_is_up(const struct redis_link *l);
/* Queues a command. extra_ms: how long the reply may take beyond timeout_ms
 * (an XREAD BLOCK's block time). 0 or -ENOTCONN / -ENOSPC / -ENOMEM. */
int redis_link_send(struct redis_link *l, int argc, const char **argv, const size_t *argvlen,
		    unsigned extra_ms, redis_reply_fn cb, void *arg);

/* An SSL_CTX for connecting to Redis: TLS 1.2+, verifying the server
 * against ca_file (or the system store when NULL). NULL on error, with why. */
SSL_CTX *redis_tls_context(const char *ca_file, char *err, size_t cap);

#endif
