/* The probe's DTLS-SRTP handshake carried through the relay: the client
 * end's records go out as ChannelData on the probe's TURN connection, the
 * relay delivers them from the relayed address to the probe's UDP peer,
 * whose end answers to that address, back through the relay. So the relay
 * sees what it sees of a WebRTC call: a DTLS handshake on the flow before
 * any SRTP, and the keys the stream then uses exist only at the two ends.
 * Every wait is bounded by the caller's timeout and a round count; the
 * ends' own timers resend lost flights (ternctl_probe_dtls.c). */
#include "auth/ternctl_probe.h"

#include <errno.h>
#include <poll.h>
#include <string.h>

#include "auth/ternctl_probe_dtls.h"
#include "common/monotime.h"
#include "common/sockaddr.h"

#define HS_ROUNDS   2000
#define HS_BURST    64                  /* datagrams moved per round and end */

struct hs {
	struct probe_turn *t;
	uint16_t channel;
	int peer_fd;
	struct probe_dtls *client, *peer;
	struct sockaddr_storage to;         /* where the peer answers: the relayed address */
};

static bool is_dtls(const uint8_t *p, size_t n)
{
	return n > 0 && p[0] >= 20 && p[0] <= 63;   /* RFC 7983 */
}

static int flush(struct hs *h)
{
	uint8_t buf[PROBE_DTLS_MTU];
	size_t n;
	for (int i = 0; i < HS_BURST && (n = probe_dtls_output(h->client, buf, sizeof(buf))); i++)
		if (probe_turn_send_channel(h->t, h->channel, buf, n) < 0)
			return -EIO;
	for (int i = 0; i < HS_BURST && (n = probe_dtls_output(h->peer, buf, sizeof(buf))); i++)
		sendto(h->peer_fd, buf, n, 0, (const struct sockaddr *)&h->to, sockaddr_len(&h->to));
	return 0;
}

static int receive(struct hs *h)
{
	for (int i = 0; i < HS_BURST; i++) {
		const uint8_t *data = NULL;
		size_t len = 0;
		int got = probe_turn_recv_channel(h->t, 0, &data, &len);
		if (got < 0)
			return -EIO;
		if (got == 0)
			break;
		if (is_dtls(data, len))
			probe_dtls_input(h->client, data, len);
	}
	for (int i = 0; i < HS_BURST; i++) {
		uint8_t buf[2048];
		struct sockaddr_storage from;
		socklen_t fl = sizeof(from);
		ssize_t n = recvfrom(h->peer_fd, buf, sizeof(buf), MSG_DONTWAIT,
				     (struct sockaddr *)&from, &fl);
		if (n <= 0)
			break;
		if (is_dtls(buf, (size_t)n) && probe_dtls_input(h->peer, buf, (size_t)n) == 0)
			h->to = from;
	}
	return 0;
}

static int min_timer(int a, int b)
{
	return a < 0 ? b : b < 0 ? a : a < b ? a : b;
}

/* Waits for input on either side, at most until the next end's timer or
 * `left_ms`. */
static int wait_input(struct hs *h, int left_ms)
{
	int w = min_timer(min_timer(probe_dtls_timeout_ms(h->client), probe_dtls_timeout_ms(h->peer)),
			  left_ms);
	struct pollfd p[2] = { { .fd = h->t->fd, .events = POLLIN },
			       { .fd = h->peer_fd, .events = POLLIN } };
	if (h->t->ssl && SSL_pending(h->t->ssl))
		w = 0;
	return poll(p, 2, w) < 0 && errno != EINTR ? -errno : 0;
}

static int run(struct hs *h, int timeout_ms, char *err, size_t cap)
{
	uint64_t end = monotime_ms() + (uint64_t)timeout_ms;
	for (int i = 0; i < HS_ROUNDS; i++) {
		int rc = probe_dtls_step(h->client, err, cap);
		int rp = rc < 0 ? 0 : probe_dtls_step(h->peer, err, cap);
		if (rc < 0 || rp < 0)
			return -EPROTO;
		if (flush(h) < 0)
			return snprintf(err, cap, "DTLS: the connection to the relay failed"), -EIO;
		if (rc == 1 && rp == 1)
			return 0;
		uint64_t now = monotime_ms();
		if (now >= end)
			break;
		if (wait_input(h, (int)(end - now)) < 0 || receive(h) < 0)
			return snprintf(err, cap, "DTLS: the connection to the relay failed"), -EIO;
		if (probe_dtls_tick(h->client) < 0 || probe_dtls_tick(h->peer) < 0)
			return snprintf(err, cap, "DTLS: retransmission failed"), -EPROTO;
	}
	return snprintf(err, cap, "DTLS handshake through the relay did not finish within %d ms "
			"(the relay allocates but does not carry the flow)", timeout_ms), -ETIMEDOUT;
}

int probe_keying(struct probe_turn *t, uint16_t channel, int peer_fd, int timeout_ms,
		 struct probe_srtp_keys *client, struct probe_srtp_keys *peer, char *err,
		 size_t cap)
{
	struct hs h = { .t = t, .channel = channel, .peer_fd = peer_fd, .to = t->relayed };
	h.client = probe_dtls_new(false, err, cap);
	h.peer = h.client ? probe_dtls_new(true, err, cap) : NULL;
	int r = h.peer ? 0 : -ENOMEM;
	if (r == 0 && (probe_dtls_pin(h.client, h.peer) < 0 || probe_dtls_pin(h.peer, h.client) < 0))
		r = (snprintf(err, cap, "DTLS: out of memory"), -ENOMEM);
	if (r == 0)
		r = run(&h, timeout_ms, err, cap);
	if (r == 0 && (probe_dtls_srtp_keys(h.client, client) < 0 ||
		       probe_dtls_srtp_keys(h.peer, peer) < 0))
		r = (snprintf(err, cap, "DTLS: cannot export the SRTP keying material"), -EPROTO);
	probe_dtls_free(h.client);
	probe_dtls_free(h.peer);
	return r;
}
