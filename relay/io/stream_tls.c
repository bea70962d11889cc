/* TURN over TLS (RFC 8656 section 3.1) and sharing the TLS port with a web
 * site. A new connection on a TLS listener first shows its ClientHello,
 * which we read without answering: by SNI and ALPN it is either passed
 * untouched to a configured backend (proxy.c) or terminated here. Anything
 * that is not a TLS ClientHello (plain HTTP, plaintext STUN, garbage) is
 * closed. Terminated connections run OpenSSL over memory BIOs, so the
 * socket reads and writes, the output cap and the timeouts stay the same
 * code as for plain TCP. */
#include "relay/io/stream.h"

#include <errno.h>
#include <openssl/err.h>
#include <string.h>

#include "relay/tls/clienthello.h"

/* "*.example.org" matches "a.example.org" (one or more labels), not "example.org". */
static bool sni_matches(const char *pattern, const char *sni, size_t sni_len)
{
	if (!pattern[0])
		return true;
	if (pattern[0] == '*' && pattern[1] == '.') {
		size_t plen = strlen(pattern + 1);
		return sni_len > plen && memcmp(sni + sni_len - plen, pattern + 1, plen) == 0;
	}
	return strlen(pattern) == sni_len && memcmp(pattern, sni, sni_len) == 0;
}

/* The passthrough rule the hello matches, or NULL to terminate TURN here.
 * A client offering ALPN stun.turn is ours whatever its SNI. */
static const struct conf_passthrough *route(const struct tern_config *conf,
					    const struct hello_info *h)
{
	if (hello_offers_alpn(h, "stun.turn"))
		return NULL;
	for (size_t i = 0; i < conf->n_passthrough; i++) {
		const struct conf_passthrough *p = &conf->passthrough[i];
		if (p->sni[0] && (!h->has_sni || !sni_matches(p->sni, h->sni, h->sni_len)))
			continue;
		if (p->alpn[0] && !hello_offers_alpn(h, p->alpn))
			continue;
		return p;
	}
	return NULL;
}

/* Moves whatever OpenSSL wrote into the write BIO onto the wire. */
static void flush_wbio(struct tcp_conn *c)
{
	char *data;
	long n = BIO_get_mem_data(c->wbio, &data);
	if (n > 0) {
		stream_write_raw(c, (const uint8_t *)data, (size_t)n);
		(void)BIO_reset(c->wbio);
	}
}

static bool start_tls(struct tcp_conn *c)
{
	c->rbio = BIO_new(BIO_s_mem());
	c->wbio = BIO_new(BIO_s_mem());
	if (!c->rbio || !c->wbio)
		return false;
	c->ssl = tls_server_session(&c->w->io->tls);
	if (!c->ssl)
		return false;
	BIO_set_mem_eof_return(c->rbio, -1); /* empty means "wait", not EOF */
	SSL_set_bio(c->ssl, c->rbio, c->wbio); /* the SSL owns the BIOs now */
	SSL_set_accept_state(c->ssl);
	/* The hello bytes we looked at go to OpenSSL as if just read. */
	if (BIO_write(c->rbio, c->in, (int)c->in_len) != (int)c->in_len)
		return false;
	c->in_len = 0;
	c->phase = STREAM_HANDSHAKE;
	return true;
}

enum hello_step { HELLO_STEP_WAIT, HELLO_STEP_CLOSE, HELLO_STEP_PROXIED, HELLO_STEP_TLS };

/* Reads the ClientHello so far and decides what the connection is. */
static enum hello_step on_hello_bytes(struct tcp_conn *c, const uint8_t *buf, size_t len)
{
	if (len > STREAM_HELLO_MAX - c->in_len)
		return HELLO_STEP_CLOSE;
	if (c->in_cap < STREAM_HELLO_MAX) {
		uint8_t *in = realloc(c->in, STREAM_HELLO_MAX);
		if (!in)
			return HELLO_STEP_CLOSE;
		c->in = in;
		c->in_cap = STREAM_HELLO_MAX;
	}
	memcpy(c->in + c->in_len, buf, len);
	c->in_len += len;
	struct hello_info h;
	enum hello_status st = hello_parse(c->in, c->in_len, STREAM_HELLO_MAX, &h);
	if (st == HELLO_NEED_MORE)
		return HELLO_STEP_WAIT;
	if (st != HELLO_OK) {
		mc_inc(&c->w->turn.metrics.tls_rejected);
		return HELLO_STEP_CLOSE;
	}
	const struct conf_passthrough *p = route(c->w->turn.snap->conf, &h);
	if (p) {
		struct worker *w = c->w;
		struct sockaddr_storage source = c->client.addr;
		uint8_t first[STREAM_HELLO_MAX];
		size_t first_len = c->in_len;
		memcpy(first, c->in, first_len);
		int fd = stream_detach(c);
		proxy_start(w, fd, &source, &p->backend, first, first_len);
		return HELLO_STEP_PROXIED; /* c is gone */
	}
	return start_tls(c) ? HELLO_STEP_TLS : HELLO_STEP_CLOSE;
}

/* Runs the handshake and decrypts application data into c->in. */
static bool drive(struct tcp_conn *c)
{
	if (c->phase == STREAM_HANDSHAKE) {
		int r = SSL_do_handshake(c->ssl);
		flush_wbio(c);
		if (r != 1) {
			int e = SSL_get_error(c->ssl, r);
			ERR_clear_error();
			return e == SSL_ERROR_WANT_READ;
		}
		c->phase = STREAM_OPEN;
		c->last_frame_ms = c->w->turn.now_ms;
	}
	for (;;) {
		if (!stream_make_room(c))
			return false;
		size_t got = 0;
		int r = SSL_read_ex(c->ssl, c->in + c->in_len, c->in_cap - c->in_len, &got);
		if (r != 1) {
			int e = SSL_get_error(c->ssl, r);
			ERR_clear_error();
			flush_wbio(c);
			/* A close_notify or an error ends the connection. */
			return e == SSL_ERROR_WANT_READ && stream_consume(c);
		}
		c->in_len += got;
		if (!stream_consume(c))
			return false;
		if (c->dead)
			return true;
	}
}

void stream_tls_input(struct tcp_conn *c, const uint8_t *buf, size_t len)
{
	bool ok;
	if (c->phase == STREAM_HELLO) {
		enum hello_step step = on_hello_bytes(c, buf, len);
		if (step == HELLO_STEP_WAIT || step == HELLO_STEP_PROXIED)
			return; /* (after PROXIED, c is freed) */
		ok = step == HELLO_STEP_TLS && drive(c);
	} else {
		ok = BIO_write(c->rbio, buf, (int)len) == (int)len && drive(c);
	}
	if (!ok)
		stream_close(c);
}

void stream_tls_send(struct tcp_conn *c, const uint8_t *buf, size_t len)
{
	if (c->phase != STREAM_OPEN)
		return;
	size_t written;
	if (SSL_write_ex(c->ssl, buf, len, &written) != 1) {
		ERR_clear_error();
		stream_kill(c);
		return;
	}
	flush_wbio(c);
}

void stream_tls_free(struct tcp_conn *c)
{
	if (c->ssl) {
		SSL_free(c->ssl); /* frees the BIOs it owns */
	} else {
		BIO_free(c->rbio);
		BIO_free(c->wbio);
	}
	c->ssl = NULL;
	c->rbio = c->wbio = NULL;
}
