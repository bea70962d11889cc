/* The probe's TURN client (see ternctl_probe.h): one connection to the
 * relay over UDP, TCP or TLS with blocking sockets and poll-bounded waits,
 * STUN transactions with retransmission on UDP, and ChannelData both ways.
 * Written for one short run of ternctl, not for a server: clarity over
 * speed, every wait bounded. */
#include "auth/ternctl_probe.h"

#include <errno.h>
#include <fcntl.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "common/monotime.h"
#include "common/sockaddr.h"
#include "relay/stun/stun.h"

#define RTO_MS        500
#define TRANSACT_MS   5000

/* ---- connection ----------------------------------------------------------- */

static int wait_fd(int fd, short events, int timeout_ms)
{
	struct pollfd p = { .fd = fd, .events = events };
	int r = poll(&p, 1, timeout_ms < 0 ? 0 : timeout_ms);
	return r < 0 ? -errno : r;
}

static int connect_bounded(int fd, const struct sockaddr_storage *sa, int timeout_ms)
{
	int fl = fcntl(fd, F_GETFL);
	fcntl(fd, F_SETFL, fl | O_NONBLOCK);
	int r = connect(fd, (const struct sockaddr *)sa, sockaddr_len(sa));
	if (r < 0 && errno == EINPROGRESS) {
		r = wait_fd(fd, POLLOUT, timeout_ms);
		if (r == 0)
			return -ETIMEDOUT;
		int e = 0;
		socklen_t el = sizeof(e);
		getsockopt(fd, SOL_SOCKET, SO_ERROR, &e, &el);
		r = e ? -e : 0;
	} else if (r < 0) {
		r = -errno;
	}
	fcntl(fd, F_SETFL, fl);
	return r;
}

static int tls_start(struct probe_turn *t, const struct sockaddr_storage *server,
		     const struct probe_tls_opts *o, int timeout_ms, char *err, size_t cap)
{
	t->ctx = SSL_CTX_new(TLS_client_method());
	if (!t->ctx)
		return snprintf(err, cap, "TLS: out of memory"), -ENOMEM;
	SSL_CTX_set_min_proto_version(t->ctx, TLS1_2_VERSION);
	if (!o->insecure) {
		SSL_CTX_set_verify(t->ctx, SSL_VERIFY_PEER, NULL);
		int ok = o->ca_file ? SSL_CTX_load_verify_locations(t->ctx, o->ca_file, NULL)
				    : SSL_CTX_set_default_verify_paths(t->ctx);
		if (!ok)
			return snprintf(err, cap, "TLS: cannot load CA certificates %s",
					o->ca_file ? o->ca_file : "(system)"), -EINVAL;
	}
	t->ssl = SSL_new(t->ctx);
	if (!t->ssl || !SSL_set_fd(t->ssl, t->fd))
		return snprintf(err, cap, "TLS: out of memory"), -ENOMEM;
	if (o->server_name) {
		SSL_set_tlsext_host_name(t->ssl, o->server_name);
		SSL_set1_host(t->ssl, o->server_name);
	} else if (!o->insecure) {
		char ip[64];
		size_t len;
		const uint8_t *b = sockaddr_ip_bytes(server, &len);
		inet_ntop(server->ss_family, b, ip, sizeof(ip));
		X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(t->ssl), ip);
	}
	struct timeval tv = { .tv_sec = timeout_ms / 1000, .tv_usec = (timeout_ms % 1000) * 1000 };
	setsockopt(t->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(t->fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	if (SSL_connect(t->ssl) != 1) {
		unsigned long e = ERR_get_error();
		long v = SSL_get_verify_result(t->ssl);
		snprintf(err, cap, "TLS handshake failed: %s%s%s",
			 e ? ERR_reason_error_string(e) : "connection closed",
			 v != X509_V_OK ? ", certificate: " : "",
			 v != X509_V_OK ? X509_verify_cert_error_string(v) : "");
		return -EPROTO;
	}
	return 0;
}

int probe_turn_open(struct probe_turn *t, enum probe_transport tr,
		    const struct sockaddr_storage *server, const struct probe_tls_opts *tls,
		    int timeout_ms, char *err, size_t cap)
{
	memset(t, 0, sizeof(*t));
	t->transport = tr;
	t->fd = socket(server->ss_family, (tr == PROBE_UDP ? SOCK_DGRAM : SOCK_STREAM) | SOCK_CLOEXEC,
		       0);
	if (t->fd < 0)
		return snprintf(err, cap, "socket: %s", strerror(errno)), -errno;
	int r = connect_bounded(t->fd, server, timeout_ms);
	if (r < 0)
		return snprintf(err, cap, "cannot connect to the relay: %s", strerror(-r)), r;
	if (tr != PROBE_UDP) {
		int one = 1;
		setsockopt(t->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	}
	socklen_t sl = sizeof(t->local);
	getsockname(t->fd, (struct sockaddr *)&t->local, &sl);
	return tr == PROBE_TLS ? tls_start(t, server, tls, timeout_ms, err, cap) : 0;
}

void probe_turn_close(struct probe_turn *t)
{
	if (t->ssl) {
		SSL_shutdown(t->ssl);
		SSL_free(t->ssl);
	}
	SSL_CTX_free(t->ctx);
	if (t->fd >= 0)
		close(t->fd);
	explicit_bzero(t->key, sizeof(t->key));
	t->ssl = NULL;
	t->ctx = NULL;
	t->fd = -1;
}

static int raw_send(struct probe_turn *t, const uint8_t *p, size_t len)
{
	if (t->ssl) {
		int n = SSL_write(t->ssl, p, (int)len);
		return n == (int)len ? 0 : -EIO;
	}
	ssize_t n = send(t->fd, p, len, MSG_NOSIGNAL);
	return n == (ssize_t)len ? 0 : n < 0 ? -errno : -EIO;
}

/* One datagram, or one frame off the stream, into *msg (len in *len).
 * 1 got one, 0 timed out, negative errno. */
static int raw_recv(struct probe_turn *t, int timeout_ms, const uint8_t **msg, size_t *len)
{
	static uint8_t dgram[65536];
	if (t->transport == PROBE_UDP) {
		int r = wait_fd(t->fd, POLLIN, timeout_ms);
		if (r <= 0)
			return r;
		ssize_t n = recv(t->fd, dgram, sizeof(dgram), 0);
		if (n < 0)
			return errno == ECONNREFUSED ? -ECONNREFUSED : -errno;
		*msg = dgram;
		*len = (size_t)n;
		return 1;
	}
	/* Drop the frame handed out last time. */
	if (*len && *msg == t->rbuf) {
		ssize_t prev = stun_stream_frame_len(t->rbuf, t->rlen, sizeof(t->rbuf));
		if (prev > 0) {
			memmove(t->rbuf, t->rbuf + prev, t->rlen - (size_t)prev);
			t->rlen -= (size_t)prev;
		}
	}
	*len = 0;
	uint64_t deadline = monotime_ms() + (uint64_t)(timeout_ms < 0 ? 0 : timeout_ms);
	for (;;) {
		ssize_t f = stun_stream_frame_len(t->rbuf, t->rlen, sizeof(t->rbuf));
		if (f < 0)
			return -EPROTO;
		if (f > 0) {
			*msg = t->rbuf;
			*len = (size_t)f;
			return 1;
		}
		uint64_t now = monotime_ms();
		int left = now < deadline ? (int)(deadline - now) : 0;
		if (!(t->ssl && SSL_pending(t->ssl)) && wait_fd(t->fd, POLLIN, left) <= 0)
			return 0;
		int n = t->ssl ? SSL_read(t->ssl, t->rbuf + t->rlen, (int)(sizeof(t->rbuf) - t->rlen))
			       : (int)recv(t->fd, t->rbuf + t->rlen, sizeof(t->rbuf) - t->rlen, 0);
		if (n <= 0)
			return -ECONNRESET;
		t->rlen += (size_t)n;
	}
}

/* The last frame raw_recv gave out, for the stream cursor. */
static const uint8_t *last_msg;
static size_t last_len;

static int next_msg(struct probe_turn *t, int timeout_ms, const uint8_t **msg, size_t *len)
{
	int r = raw_recv(t, timeout_ms, &last_msg, &last_len);
	if (r == 1) {
		*msg = last_msg;
		*len = last_len;
	}
	return r;
}

/* ---- transactions --------------------------------------------------------- */

struct request {
	uint16_t method;
	const struct sockaddr_storage *peer;   /* XOR-PEER-ADDRESS */
	uint16_t channel;                      /* CHANNEL-NUMBER, 0 = none */
	int family;                            /* Allocate: REQUESTED-ADDRESS-FAMILY */
	bool refresh_zero;                     /* Refresh: LIFETIME 0 */
};

static int build(struct probe_turn *t, const struct request *q, const uint8_t tid[STUN_TID_LEN],
		 uint8_t *buf, size_t cap)
{
	struct stun_builder b;
	stun_build_init(&b, buf, cap, stun_type(q->method, STUN_REQUEST), tid);
	if (q->method == TURN_ALLOCATE) {
		uint8_t udp[4] = { 17, 0, 0, 0 };
		stun_build_attr(&b, TURN_ATTR_REQUESTED_TRANSPORT, udp, 4);
		if (q->family == AF_INET6) {
			uint8_t fam[4] = { 2, 0, 0, 0 };
			stun_build_attr(&b, TURN_ATTR_REQUESTED_ADDRESS_FAMILY, fam, 4);
		}
	}
	if (q->refresh_zero)
		stun_build_u32(&b, TURN_ATTR_LIFETIME, 0);
	if (q->channel) {
		uint8_t ch[4] = { (uint8_t)(q->channel >> 8), (uint8_t)q->channel, 0, 0 };
		stun_build_attr(&b, TURN_ATTR_CHANNEL_NUMBER, ch, 4);
	}
	if (q->peer)
		stun_build_xor_addr(&b, TURN_ATTR_XOR_PEER_ADDRESS, q->peer);
	if (t->have_key) {
		stun_build_attr(&b, STUN_ATTR_USERNAME, t->username, strlen(t->username));
		stun_build_attr(&b, STUN_ATTR_REALM, t->realm, strlen(t->realm));
		stun_build_attr(&b, STUN_ATTR_NONCE, t->nonce, strlen(t->nonce));
		stun_build_integrity(&b, t->key, sizeof(t->key));
	}
	stun_build_fingerprint(&b);
	return stun_build_finish(&b);
}

/* Sends q and waits for its answer: the STUN class (success or error) with
 * *code set for errors, or negative errno. The answer stays parsed in *msg
 * (pointing into the receive buffer) until the next receive. */
static int transact(struct probe_turn *t, const struct request *q, struct stun_msg *msg, int *code)
{
	uint8_t tid[STUN_TID_LEN], out[1024];
	RAND_bytes(tid, sizeof(tid));
	int n = build(t, q, tid, out, sizeof(out));
	if (n < 0)
		return n;
	uint64_t end = monotime_ms() + TRANSACT_MS;
	int rto = RTO_MS;
	uint64_t next_send = 0;
	for (;;) {
		uint64_t now = monotime_ms();
		if (now >= end)
			return -ETIMEDOUT;
		if (now >= next_send && (next_send == 0 || t->transport == PROBE_UDP)) {
			int r = raw_send(t, out, (size_t)n);
			if (r < 0)
				return r;
			next_send = now + (uint64_t)rto;
			rto *= 2;
		}
		uint64_t until = t->transport == PROBE_UDP && next_send < end ? next_send : end;
		const uint8_t *m = NULL;
		size_t len = 0;
		int r = next_msg(t, (int)(until - monotime_ms()), &m, &len);
		if (r < 0)
			return r;
		if (r == 0 || stun_msg_parse(msg, m, len) < 0 || memcmp(msg->tid, tid, STUN_TID_LEN))
			continue;
		enum stun_class cls = stun_type_class(msg->type);
		if (cls == STUN_ERROR) {
			const struct stun_attr *e = stun_msg_find(msg, STUN_ATTR_ERROR_CODE);
			*code = 0;
			if (e)
				stun_attr_get_error(msg, e, code);
		}
		return (int)cls;
	}
}

static void copy_text(const struct stun_msg *msg, uint16_t type, char *out, size_t cap)
{
	const struct stun_attr *a = stun_msg_find(msg, type);
	if (!a || a->len >= cap)
		return;
	memcpy(out, stun_attr_value(msg, a), a->len);
	out[a->len] = '\0';
}

/* A request with the long-term credential: learns realm and nonce from a
 * 401 and retries once, and once more on 438 (stale nonce). */
static int authed(struct probe_turn *t, const struct request *q, const char *password,
		  struct stun_msg *msg, char *err, size_t cap)
{
	static const char *const names[] = { "request", "Allocate", "CreatePermission",
					     "ChannelBind", "Refresh" };
	const char *what = q->method == TURN_ALLOCATE ? names[1]
			 : q->method == TURN_CREATE_PERMISSION ? names[2]
			 : q->method == TURN_CHANNEL_BIND ? names[3]
			 : q->method == TURN_REFRESH ? names[4] : names[0];
	for (int round = 0; round < 3; round++) {
		int code = 0;
		int r = transact(t, q, msg, &code);
		if (r < 0)
			return snprintf(err, cap, "%s: %s", what, r == -ETIMEDOUT ? "no answer from the relay"
					: strerror(-r)), r;
		if (r == STUN_SUCCESS)
			return 0;
		if ((code == 401 || code == 438) && password) {
			copy_text(msg, STUN_ATTR_REALM, t->realm, sizeof(t->realm));
			copy_text(msg, STUN_ATTR_NONCE, t->nonce, sizeof(t->nonce));
			stun_long_term_key_md5(t->username, strlen(t->username), t->realm,
					       strlen(t->realm), password, strlen(password), t->key);
			t->have_key = true;
			continue;
		}
		return snprintf(err, cap, "%s refused: STUN error %d", what, code), -EACCES;
	}
	return snprintf(err, cap, "%s: authentication failed", what), -EACCES;
}

int probe_turn_setup(struct probe_turn *t, const char *username, const char *password,
		     const struct sockaddr_storage *peer, uint16_t channel, char *err, size_t cap)
{
	struct stun_msg msg;
	snprintf(t->username, sizeof(t->username), "%s", username);
	struct request q = { .method = TURN_ALLOCATE, .family = peer->ss_family };
	int r = authed(t, &q, password, &msg, err, cap);
	if (r < 0)
		return r;
	const struct stun_attr *ra = stun_msg_find(&msg, TURN_ATTR_XOR_RELAYED_ADDRESS);
	if (!ra || stun_attr_get_xor_addr(&msg, ra, &t->relayed) < 0)
		return snprintf(err, cap, "Allocate: no XOR-RELAYED-ADDRESS"), -EPROTO;
	q = (struct request){ .method = TURN_CREATE_PERMISSION, .peer = peer };
	r = authed(t, &q, password, &msg, err, cap);
	if (r == 0) {
		q = (struct request){ .method = TURN_CHANNEL_BIND, .peer = peer, .channel = channel };
		r = authed(t, &q, password, &msg, err, cap);
	}
	return r;
}

void probe_turn_release(struct probe_turn *t)
{
	struct stun_msg msg;
	char err[64];
	struct request q = { .method = TURN_REFRESH, .refresh_zero = true };
	if (t->have_key)
		authed(t, &q, NULL, &msg, err, sizeof(err));
}

int probe_turn_send_channel(struct probe_turn *t, uint16_t channel, const uint8_t *data,
			    size_t len)
{
	uint8_t out[4 + 1500 + 3];
	if (len > 1500)
		return -EMSGSIZE;
	out[0] = (uint8_t)(channel >> 8);
	out[1] = (uint8_t)channel;
	out[2] = (uint8_t)(len >> 8);
	out[3] = (uint8_t)len;
	memcpy(out + 4, data, len);
	size_t total = 4 + len;
	while (t->transport != PROBE_UDP && (total & 3))
		out[total++] = 0;   /* RFC 8656 section 12.5: padded on streams */
	return raw_send(t, out, total);
}

int probe_turn_recv_channel(struct probe_turn *t, int timeout_ms, const uint8_t **payload,
			    size_t *len)
{
	const uint8_t *m = NULL;
	size_t n = 0;
	int r = next_msg(t, timeout_ms, &m, &n);
	if (r <= 0)
		return r;
	uint16_t ch;
	if (!turn_is_channel_data(m, n) || turn_channel_data_parse(m, n, &ch, payload, len) < 0)
		return 0;
	return 1;
}
