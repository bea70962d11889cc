/* TLS server context and its rotation; see tls.h. */
#include "relay/io/tls.h"

#include <errno.h>
#include <openssl/err.h>
#include <stdio.h>
#include <string.h>

/* TLS 1.2: forward-secret AEAD suites only. TLS 1.3 suites are all AEAD. */
static const char tls12_ciphers[] =
	"ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"
	"ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"
	"ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305";
static const char tls13_suites[] =
	"TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256";

/* ALPN (RFC 7301, RFC 7443): a client that offers protocols must offer
 * stun.turn; one that offers none is a browser, and welcome. */
static int select_alpn(SSL *ssl, const unsigned char **out, unsigned char *outlen,
		       const unsigned char *in, unsigned int inlen, void *arg)
{
	(void)ssl;
	(void)arg;
	const size_t want = sizeof(TLS_ALPN_TURN) - 1;
	for (unsigned i = 0; i < inlen;) {
		unsigned len = in[i];
		if (i + 1 + len > inlen)
			break;
		if (len == want && memcmp(in + i + 1, TLS_ALPN_TURN, want) == 0) {
			*out = in + i + 1;
			*outlen = (unsigned char)len;
			return SSL_TLSEXT_ERR_OK;
		}
		i += 1 + len;
	}
	return SSL_TLSEXT_ERR_ALERT_FATAL;
}

static void openssl_reason(char *buf, size_t cap)
{
	unsigned long e = ERR_peek_last_error();
	if (e)
		ERR_error_string_n(e, buf, cap);
	else
		snprintf(buf, cap, "unknown error");
	ERR_clear_error();
}

static SSL_CTX *build_ctx(const struct tern_config *c, char *err, size_t cap)
{
	char why[256];
	SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
	if (!ctx) {
		snprintf(err, cap, "cannot create a TLS context");
		return NULL;
	}
	SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
	SSL_CTX_set_max_proto_version(ctx, TLS1_3_VERSION);
	SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION |
				 SSL_OP_CIPHER_SERVER_PREFERENCE);
	/* (OpenSSL 3 refuses client-initiated renegotiation unless allowed.) */
	SSL_CTX_set_max_early_data(ctx, 0);            /* no 0-RTT: requests are not idempotent */
	SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF); /* tickets carry resumption */
	SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
	SSL_CTX_set_alpn_select_cb(ctx, select_alpn, NULL);
	if (SSL_CTX_set_cipher_list(ctx, tls12_ciphers) != 1 ||
	    SSL_CTX_set_ciphersuites(ctx, tls13_suites) != 1) {
		openssl_reason(why, sizeof(why));
		snprintf(err, cap, "cipher configuration: %s", why);
		goto fail;
	}
	if (SSL_CTX_use_certificate_chain_file(ctx, c->tls_certificate) != 1) {
		openssl_reason(why, sizeof(why));
		snprintf(err, cap, "%s: cannot load the certificate: %s", c->tls_certificate, why);
		goto fail;
	}
	if (SSL_CTX_use_PrivateKey_file(ctx, c->tls_private_key, SSL_FILETYPE_PEM) != 1) {
		openssl_reason(why, sizeof(why));
		snprintf(err, cap, "%s: cannot load the private key: %s", c->tls_private_key, why);
		goto fail;
	}
	if (SSL_CTX_check_private_key(ctx) != 1) {
		openssl_reason(why, sizeof(why));
		snprintf(err, cap, "%s does not match %s: %s", c->tls_private_key,
			 c->tls_certificate, why);
		goto fail;
	}
	return ctx;
fail:
	SSL_CTX_free(ctx);
	return NULL;
}

int tls_server_init(struct tls_server *t, const struct tern_config *c, char *err, size_t cap)
{
	memset(t, 0, sizeof(*t));
	t->ctx = build_ctx(c, err, cap);
	if (!t->ctx)
		return -EINVAL;
	return -pthread_mutex_init(&t->lock, NULL);
}

int tls_server_reload(struct tls_server *t, const struct tern_config *c, char *err, size_t cap)
{
	SSL_CTX *fresh = build_ctx(c, err, cap);
	if (!fresh)
		return -EINVAL;
	pthread_mutex_lock(&t->lock);
	SSL_CTX *old = t->ctx;
	t->ctx = fresh;
	t->generation++;
	pthread_mutex_unlock(&t->lock);
	SSL_CTX_free(old); /* live sessions hold their own reference */
	return 0;
}

SSL *tls_server_session(struct tls_server *t)
{
	pthread_mutex_lock(&t->lock);
	SSL *ssl = SSL_new(t->ctx);
	pthread_mutex_unlock(&t->lock);
	return ssl;
}

void tls_server_destroy(struct tls_server *t)
{
	if (!t->ctx)
		return;
	SSL_CTX_free(t->ctx);
	t->ctx = NULL;
	pthread_mutex_destroy(&t->lock);
}
