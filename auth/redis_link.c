/* A Redis connection on libevent; see redis_link.h. */
#include "auth/redis_link.h"

#include <errno.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <openssl/err.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PENDING_MAX 32

struct pending {
	redis_reply_fn cb;
	void *arg;
	unsigned extra_ms;
};

struct redis_link {
	struct event_base *base;
	struct redis_link_opts o;
	redis_state_fn on_state;
	void *arg;
	struct bufferevent *bev;
	redisReader *reader;
	bool up;
	struct pending pending[PENDING_MAX];
	unsigned head, n_pending;
};

static void arm_timeout(struct redis_link *l)
{
	if (!l->bev)
		return;
	if (!l->n_pending) {
		bufferevent_set_timeouts(l->bev, NULL, NULL);
		return;
	}
	unsigned ms = l->o.timeout_ms + l->pending[l->head].extra_ms;
	struct timeval tv = { .tv_sec = ms / 1000, .tv_usec = (ms % 1000) * 1000 };
	bufferevent_set_timeouts(l->bev, &tv, &tv);
}

/* Ends the connection: every waiting command learns it failed, then the owner. */
static void fail(struct redis_link *l, const char *why)
{
	struct pending waiting[PENDING_MAX];
	unsigned n = l->n_pending, head = l->head;
	memcpy(waiting, l->pending, sizeof(waiting));
	l->n_pending = l->head = 0;
	l->up = false;
	if (l->bev)
		bufferevent_free(l->bev);
	l->bev = NULL;
	if (l->reader)
		redisReaderFree(l->reader);
	l->reader = NULL;
	for (unsigned i = 0; i < n; i++) {
		struct pending *p = &waiting[(head + i) % PENDING_MAX];
		if (p->cb)
			p->cb(p->arg, NULL);
	}
	l->on_state(l->arg, false, why);
}

static void deliver(struct redis_link *l, redisReply *reply)
{
	if (!l->n_pending) {
		freeReplyObject(reply); /* nothing asked for it: ignore */
		return;
	}
	struct pending p = l->pending[l->head];
	l->head = (l->head + 1) % PENDING_MAX;
	l->n_pending--;
	arm_timeout(l);
	if (p.cb)
		p.cb(p.arg, reply);
	freeReplyObject(reply);
}

static void on_read(struct bufferevent *bev, void *arg)
{
	struct redis_link *l = arg;
	struct evbuffer *in = bufferevent_get_input(bev);
	size_t len = evbuffer_get_length(in);
	unsigned char *data = evbuffer_pullup(in, (ssize_t)len);
	if (len && redisReaderFeed(l->reader, (const char *)data, len) != REDIS_OK) {
		fail(l, "protocol error");
		return;
	}
	evbuffer_drain(in, len);
	for (;;) {
		void *reply = NULL;
		if (redisReaderGetReply(l->reader, &reply) != REDIS_OK) {
			fail(l, "protocol error");
			return;
		}
		if (!reply)
			return;
		deliver(l, reply);
		if (!l->bev)
			return; /* a callback failed the link */
	}
}

static void on_auth(void *arg, redisReply *reply)
{
	struct redis_link *l = arg;
	if (!reply)
		return; /* fail() reports */
	if (reply->type == REDIS_REPLY_ERROR) {
		char why[160];
		snprintf(why, sizeof(why), "authentication refused: %.120s", reply->str);
		fail(l, why); /* on_read notices the link is gone and stops */
		return;
	}
	l->up = true;
	l->on_state(l->arg, true, NULL);
}

static void authenticate(struct redis_link *l)
{
	if (!l->o.password) {
		l->up = true;
		l->on_state(l->arg, true, NULL);
		return;
	}
	const char *argv[3] = { "AUTH" };
	size_t lens[3] = { 4 };
	int argc = 1;
	if (l->o.username) {
		argv[argc] = l->o.username;
		lens[argc++] = strlen(l->o.username);
	}
	argv[argc] = l->o.password;
	lens[argc++] = strlen(l->o.password);
	l->up = true; /* redis_link_send only sends on an up link; AUTH is the exception */
	int r = redis_link_send(l, argc, argv, lens, 0, on_auth, l);
	l->up = false;
	if (r < 0)
		fail(l, "cannot send AUTH");
}

static void on_event(struct bufferevent *bev, short what, void *arg)
{
	(void)bev;
	struct redis_link *l = arg;
	if (what & BEV_EVENT_CONNECTED) {
		authenticate(l);
		return;
	}
	char why[160];
	int sock_err = EVUTIL_SOCKET_ERROR();
	unsigned long e = ERR_get_error();
	/* libevent moves OpenSSL's errors off the thread's queue into the
	 * bufferevent; a failed verification says why in the SSL object. */
	SSL *ssl = l->o.tls && bev ? bufferevent_openssl_get_ssl(bev) : NULL;
	long verify = ssl ? SSL_get_verify_result(ssl) : X509_V_OK;
	if (!e && l->o.tls && bev)
		e = bufferevent_get_openssl_error(bev);
	if (what & BEV_EVENT_TIMEOUT)
		snprintf(why, sizeof(why), "timed out");
	else if (verify != X509_V_OK)
		snprintf(why, sizeof(why), "TLS: certificate verify failed: %s",
			 X509_verify_cert_error_string(verify));
	else if (e)
		snprintf(why, sizeof(why), "TLS: %s", ERR_reason_error_string(e));
	else if (what & BEV_EVENT_EOF)
		snprintf(why, sizeof(why), "connection closed");
	else if (sock_err)
		snprintf(why, sizeof(why), "%s", strerror(sock_err));
	else
		snprintf(why, sizeof(why), "%s", l->o.tls ? "TLS handshake failed" : "connection failed");
	ERR_clear_error();
	fail(l, why);
}

struct redis_link *redis_link_new(struct event_base *base, const struct redis_link_opts *o,
				  redis_state_fn on_state, void *arg)
{
	struct redis_link *l = calloc(1, sizeof(*l));
	if (!l)
		return NULL;
	l->base = base;
	l->o = *o;
	l->on_state = on_state;
	l->arg = arg;
	return l;
}

void redis_link_free(struct redis_link *l)
{
	if (!l)
		return;
	if (l->bev)
		bufferevent_free(l->bev);
	if (l->reader)
		redisReaderFree(l->reader);
	free(l);
}

bool redis_link_is_up(const struct redis_link *l) { return l->up; }

static struct bufferevent *make_bev(struct redis_link *l)
{
	if (!l->o.tls)
		return bufferevent_socket_new(l->base, -1, BEV_OPT_CLOSE_ON_FREE);
	SSL *ssl = SSL_new(l->o.tls_ctx);
	if (!ssl)
		return NULL;
	char host[SOCKADDR_STRLEN];
	const char *name = l->o.tls_server_name;
	if (!name) {
		size_t len;
		const uint8_t *ip = sockaddr_ip_bytes(&l->o.addr, &len);
		evutil_inet_ntop(l->o.addr.ss_family, ip, host, sizeof(host));
		X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), host);
	} else {
		SSL_set_tlsext_host_name(ssl, name);
		SSL_set1_host(ssl, name);
	}
	struct bufferevent *bev = bufferevent_openssl_socket_new(
		l->base, -1, ssl, BUFFEREVENT_SSL_CONNECTING, BEV_OPT_CLOSE_ON_FREE);
	if (!bev)
		SSL_free(ssl);
	return bev;
}

int redis_link_connect(struct redis_link *l)
{
	if (l->bev)
		return -EALREADY;
	l->reader = redisReaderCreate();
	l->bev = make_bev(l);
	if (!l->reader || !l->bev) {
		fail(l, "out of memory");
		return -ENOMEM;
	}
	bufferevent_setcb(l->bev, on_read, NULL, on_event, l);
	struct timeval tv = { .tv_sec = l->o.timeout_ms / 1000,
			      .tv_usec = (l->o.timeout_ms % 1000) * 1000 };
	bufferevent_set_timeouts(l->bev, &tv, &tv);
	bufferevent_enable(l->bev, EV_READ | EV_WRITE);
	if (bufferevent_socket_connect(l->bev, (struct sockaddr *)&l->o.addr,
				       (int)sockaddr_len(&l->o.addr)) < 0) {
		fail(l, "cannot connect");
		return -ECONNREFUSED;
	}
	return 0;
}

int redis_link_send(struct redis_link *l, int argc, const char **argv, const size_t *argvlen,
		    unsigned extra_ms, redis_reply_fn cb, void *arg)
{
	if (!l->up || !l->bev)
		return -ENOTCONN;
	if (l->n_pending == PENDING_MAX)
		return -ENOSPC;
	char *cmd = NULL;
	int len = redisFormatCommandArgv(&cmd, argc, argv, argvlen);
	if (len < 0)
		return -ENOMEM;
	int r = bufferevent_write(l->bev, cmd, (size_t)len);
	free(cmd);
	if (r < 0)
		return -ENOMEM;
	l->pending[(l->head + l->n_pending) % PENDING_MAX] =
		(struct pending){ .cb = cb, .arg = arg, .extra_ms = extra_ms };
	l->n_pending++;
	arm_timeout(l);
	return 0;
}

SSL_CTX *redis_tls_context(const char *ca_file, char *err, size_t cap)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
	if (!ctx) {
		snprintf(err, cap, "cannot create a TLS context");
		return NULL;
	}
	SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
	int ok = ca_file && ca_file[0] ? SSL_CTX_load_verify_locations(ctx, ca_file, NULL)
				       : SSL_CTX_set_default_verify_paths(ctx);
	if (ok != 1) {
		snprintf(err, cap, "%s: cannot load CA certificates",
			 ca_file && ca_file[0] ? ca_file : "system store");
		SSL_CTX_free(ctx);
		return NULL;
	}
	return ctx;
}
