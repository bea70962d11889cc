/* The probe's DTLS-SRTP ends (see ternctl_probe_dtls.h): DTLS 1.2 with the
 * use_srtp extension over a pair of memory BIOs per end. Written from
 * RFC 5764 and OpenSSL's manual pages.
 *
 * Datagrams: OpenSSL writes each record to the memory BIO in turn; we read
 * the BIO out whole and hand records out one per datagram (every record
 * fits the MTU we set, and a DTLS reader takes any number of whole records
 * per datagram, so what comes in is appended as it is). Timers: OpenSSL's
 * own (DTLSv1_get_timeout / DTLSv1_handle_timeout), started at 100 ms
 * instead of a second, since the whole probe has a few seconds. */
#include "auth/ternctl_probe_dtls.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#define DTLS_HEADER      13              /* type, version, epoch+seq, length */
#define FIRST_TIMER_US   100000u
#define MAX_TIMER_US     1000000u
#define PENDING_MAX      16384           /* one flight, retransmissions included */

struct probe_dtls {
	bool server, done;
	SSL_CTX *ctx;
	SSL *ssl;
	BIO *in, *out;                  /* owned by ssl */
	X509 *cert;                     /* ours */
	X509 *pinned;                   /* the other end's, the only one accepted */
	uint8_t pending[PENDING_MAX];   /* read out of `out`, not yet handed out */
	size_t pend_len, pend_pos;
};

/* ---- certificate ---------------------------------------------------------- */

static X509 *self_signed(EVP_PKEY *key, bool server)
{
	X509 *x = X509_new();
	uint64_t serial = 0;
	if (!x || RAND_bytes((unsigned char *)&serial, sizeof(serial)) != 1)
		goto fail;
	X509_NAME *name = X509_get_subject_name(x);
	const char *cn = server ? "tern-probe-peer" : "tern-probe-client";
	if (!X509_set_version(x, X509_VERSION_3) ||
	    !ASN1_INTEGER_set_uint64(X509_get_serialNumber(x), serial >> 1) ||
	    !X509_gmtime_adj(X509_getm_notBefore(x), -3600) ||
	    !X509_gmtime_adj(X509_getm_notAfter(x), 86400) || !X509_set_pubkey(x, key) ||
	    !X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)cn, -1,
					-1, 0) ||
	    !X509_set_issuer_name(x, name) || !X509_sign(x, key, EVP_sha256()))
		goto fail;
	return x;
fail:
	X509_free(x);
	return NULL;
}

/* The only check: the leaf is the pinned certificate (self-signed, so the
 * chain "error" at depth 0 is expected and the pin decides). */
static int verify_pinned(int ok, X509_STORE_CTX *store)
{
	(void)ok;
	SSL *ssl = X509_STORE_CTX_get_ex_data(store, SSL_get_ex_data_X509_STORE_CTX_idx());
	const struct probe_dtls *d = ssl ? SSL_get_app_data(ssl) : NULL;
	X509 *leaf = X509_STORE_CTX_get0_cert(store);
	return d && d->pinned && leaf && X509_cmp(leaf, d->pinned) == 0;
}

static unsigned int timer_cb(SSL *ssl, unsigned int timer_us)
{
	(void)ssl;
	if (timer_us == 0)
		return FIRST_TIMER_US;
	return timer_us >= MAX_TIMER_US / 2 ? MAX_TIMER_US : 2 * timer_us;
}

/* ---- an end --------------------------------------------------------------- */

static int ctx_setup(struct probe_dtls *d, EVP_PKEY *key)
{
	d->ctx = SSL_CTX_new(d->server ? DTLS_server_method() : DTLS_client_method());
	if (!d->ctx)
		return -ENOMEM;
	SSL_CTX_set_min_proto_version(d->ctx, DTLS1_2_VERSION);
	SSL_CTX_set_max_proto_version(d->ctx, DTLS1_2_VERSION);
	/* Both ends present a certificate, as WebRTC's do. */
	SSL_CTX_set_verify(d->ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, verify_pinned);
	/* Note the inverted convention: 0 means success here. */
	if (SSL_CTX_set_tlsext_use_srtp(d->ctx, PROBE_DTLS_PROFILE) != 0)
		return -EINVAL;
	if (SSL_CTX_use_certificate(d->ctx, d->cert) != 1 || SSL_CTX_use_PrivateKey(d->ctx, key) != 1)
		return -EINVAL;
	return 0;
}

static int ssl_setup(struct probe_dtls *d)
{
	d->ssl = SSL_new(d->ctx);
	d->in = BIO_new(BIO_s_mem());
	d->out = BIO_new(BIO_s_mem());
	if (!d->ssl || !d->in || !d->out) {
		BIO_free(d->in);
		BIO_free(d->out);
		d->in = d->out = NULL;
		return -ENOMEM;
	}
	/* An empty input BIO means "try again", not end of file. */
	BIO_set_mem_eof_return(d->in, -1);
	SSL_set_bio(d->ssl, d->in, d->out);
	SSL_set_app_data(d->ssl, d);
	/* A memory BIO has no path MTU to ask. */
	SSL_set_options(d->ssl, SSL_OP_NO_QUERY_MTU);
	SSL_set_mtu(d->ssl, PROBE_DTLS_MTU);
	DTLS_set_timer_cb(d->ssl, timer_cb);
	if (d->server)
		SSL_set_accept_state(d->ssl);
	else
		SSL_set_connect_state(d->ssl);
	return 0;
}

struct probe_dtls *probe_dtls_new(bool server, char *err, size_t cap)
{
	struct probe_dtls *d = calloc(1, sizeof(*d));
	EVP_PKEY *key = EVP_EC_gen("P-256");
	int r = -ENOMEM;
	if (d && key) {
		d->server = server;
		d->cert = self_signed(key, server);
		r = d->cert ? ctx_setup(d, key) : -ENOMEM;
		if (r == 0)
			r = ssl_setup(d);
	}
	EVP_PKEY_free(key);   /* the context holds its own reference */
	if (r < 0) {
		snprintf(err, cap, "DTLS setup failed: %s",
			 ERR_peek_error() ? ERR_reason_error_string(ERR_peek_error()) : strerror(-r));
		ERR_clear_error();
		probe_dtls_free(d);
		return NULL;
	}
	return d;
}

void probe_dtls_free(struct probe_dtls *d)
{
	if (!d)
		return;
	SSL_free(d->ssl);
	SSL_CTX_free(d->ctx);
	X509_free(d->cert);
	X509_free(d->pinned);
	free(d);
}

int probe_dtls_pin(struct probe_dtls *d, const struct probe_dtls *peer)
{
	X509_free(d->pinned);
	d->pinned = X509_dup(peer->cert);
	return d->pinned ? 0 : -ENOMEM;
}

bool probe_dtls_done(const struct probe_dtls *d)
{
	return d->done;
}

/* ---- the handshake -------------------------------------------------------- */

static int check_profile(struct probe_dtls *d, char *err, size_t cap)
{
	const SRTP_PROTECTION_PROFILE *p = SSL_get_selected_srtp_profile(d->ssl);
	if (!p || strcmp(p->name, PROBE_DTLS_PROFILE) != 0)
		return snprintf(err, cap, "DTLS: no SRTP profile agreed (use_srtp)"), -EPROTO;
	return 0;
}

int probe_dtls_step(struct probe_dtls *d, char *err, size_t cap)
{
	if (d->done) {
		/* The other end resending its last flight means ours was lost:
		 * reading lets OpenSSL resend it (and drops anything else). */
		uint8_t sink[256];
		ERR_clear_error();
		(void)SSL_read(d->ssl, sink, sizeof(sink));
		ERR_clear_error();
		return 1;
	}
	ERR_clear_error();
	int r = SSL_do_handshake(d->ssl);
	if (r == 1) {
		r = check_profile(d, err, cap);
		d->done = r == 0;
		return r < 0 ? r : 1;
	}
	int e = SSL_get_error(d->ssl, r);
	if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE)
		return 0;
	unsigned long code = ERR_peek_error();
	long v = SSL_get_verify_result(d->ssl);
	snprintf(err, cap, "DTLS handshake failed (%s side): %s%s%s", d->server ? "peer" : "client",
		 code ? ERR_reason_error_string(code) : "protocol error",
		 v != X509_V_OK ? ", certificate: " : "",
		 v != X509_V_OK ? X509_verify_cert_error_string(v) : "");
	ERR_clear_error();
	return -EPROTO;
}

/* Whole records only: a DTLS reader given half a record drops the rest. */
static bool whole_records(const uint8_t *p, size_t len)
{
	size_t pos = 0;
	for (int i = 0; i < 64 && pos < len; i++) {
		if (len - pos < DTLS_HEADER)
			return false;
		pos += DTLS_HEADER + ((size_t)p[pos + 11] << 8 | p[pos + 12]);
	}
	return pos == len;
}

int probe_dtls_input(struct probe_dtls *d, const uint8_t *p, size_t len)
{
	if (len == 0 || len > PROBE_DTLS_MTU * 2 || !whole_records(p, len))
		return -EMSGSIZE;
	return BIO_write(d->in, p, (int)len) == (int)len ? 0 : -ENOMEM;
}

size_t probe_dtls_output(struct probe_dtls *d, uint8_t *buf, size_t cap)
{
	if (d->pend_pos == d->pend_len) {
		d->pend_pos = 0;
		int n = BIO_read(d->out, d->pending, sizeof(d->pending));
		d->pend_len = n > 0 ? (size_t)n : 0;
	}
	size_t left = d->pend_len - d->pend_pos;
	if (left < DTLS_HEADER) {
		d->pend_pos = d->pend_len;
		return 0;
	}
	const uint8_t *rec = d->pending + d->pend_pos;
	size_t n = DTLS_HEADER + ((size_t)rec[11] << 8 | rec[12]);
	if (n > left || n > cap) {
		d->pend_pos = d->pend_len;   /* cannot happen with our MTU: drop, a timer resends */
		return 0;
	}
	memcpy(buf, rec, n);
	d->pend_pos += n;
	return n;
}

int probe_dtls_timeout_ms(struct probe_dtls *d)
{
	struct timeval tv;
	if (d->done || DTLSv1_get_timeout(d->ssl, &tv) != 1)
		return -1;
	return (int)(tv.tv_sec * 1000 + (tv.tv_usec + 999) / 1000);
}

int probe_dtls_tick(struct probe_dtls *d)
{
	if (d->done)
		return 0;
	return DTLSv1_handle_timeout(d->ssl) < 0 ? -EPROTO : 0;
}

/* ---- keys ------------------------------------------------------------------ */

void probe_dtls_split(const uint8_t km[PROBE_DTLS_KM_LEN], bool server,
		      struct probe_srtp_keys *k)
{
	const uint8_t *client_key = km;
	const uint8_t *server_key = km + PROBE_SRTP_KEY_LEN;
	const uint8_t *client_salt = km + 2 * PROBE_SRTP_KEY_LEN;
	const uint8_t *server_salt = client_salt + PROBE_SRTP_SALT_LEN;
	/* What the client writes, the client sends and the server receives. */
	uint8_t *client_dir = server ? k->in : k->out;
	uint8_t *server_dir = server ? k->out : k->in;
	memcpy(client_dir, client_key, PROBE_SRTP_KEY_LEN);
	memcpy(client_dir + PROBE_SRTP_KEY_LEN, client_salt, PROBE_SRTP_SALT_LEN);
	memcpy(server_dir, server_key, PROBE_SRTP_KEY_LEN);
	memcpy(server_dir + PROBE_SRTP_KEY_LEN, server_salt, PROBE_SRTP_SALT_LEN);
}

int probe_dtls_srtp_keys(struct probe_dtls *d, struct probe_srtp_keys *k)
{
	static const char label[] = "EXTRACTOR-dtls_srtp";
	uint8_t km[PROBE_DTLS_KM_LEN];
	if (!d->done || SSL_export_keying_material(d->ssl, km, sizeof(km), label,
						   sizeof(label) - 1, NULL, 0, 0) != 1)
		return -EPROTO;
	probe_dtls_split(km, d->server, k);
	OPENSSL_cleanse(km, sizeof(km));
	return 0;
}
