/* The load generator's sockets: the peers (UDP on loopback, echo or sink),
 * the client transports (UDP, TCP, TLS over OpenSSL) and the epoll loop that
 * reads them. Datagrams move in batches with recvmmsg/sendmmsg; stream
 * transports coalesce a batch of ChannelData frames into one write. */
#include "tests/bench/loadgen.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "common/sockaddr.h"
#include "relay/stun/stun.h"

#define LG_SOCK_BUF     (1 << 20)
#define LG_WRITE_WAIT_MS 1000
#define LG_READ_ROUNDS  8

/* Receive batch (shared: callbacks never nest). */
static struct mmsghdr rx_msgs[LG_BATCH];
static struct iovec rx_iov[LG_BATCH];
static struct sockaddr_storage rx_addr[LG_BATCH];
static uint8_t rx_data[LG_BATCH][LG_DGRAM_MAX];
/* Send batch: ChannelData frames back to back (streams) or one per message. */
static struct mmsghdr tx_msgs[LG_BATCH];
static struct iovec tx_iov[LG_BATCH];
static uint8_t tx_data[LG_BATCH][LG_DGRAM_MAX];

uint64_t lg_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

int lg_parse_addr(const char *text, struct sockaddr_storage *out)
{
	return sockaddr_parse(text, false, out);
}

void lg_raise_nofile(unsigned need)
{
	struct rlimit r;
	if (getrlimit(RLIMIT_NOFILE, &r) == 0 && r.rlim_cur < need) {
		r.rlim_cur = need < r.rlim_max ? need : r.rlim_max;
		setrlimit(RLIMIT_NOFILE, &r);
	}
}

static void set_bufs(int fd)
{
	int v = LG_SOCK_BUF;
	setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &v, sizeof(v));
	setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &v, sizeof(v));
}

static int watch(struct lg *g, int fd, struct lg_ep *ep)
{
	struct epoll_event ev = { .events = EPOLLIN, .data.ptr = ep };
	return epoll_ctl(g->epfd, EPOLL_CTL_ADD, fd, &ev) < 0 ? -errno : 0;
}

/* Peer k on 127.0.0.1 (or ::1 for an IPv6 server), on an ephemeral port or
 * on peer_port_base + k when the forwarder must know where peers are. */
int lg_peers_open(struct lg *g)
{
	int family = g->server.ss_family;
	for (unsigned k = 0; k < g->n_peers; k++) {
		struct sockaddr_storage *a = &g->peer_addr[k];
		memset(a, 0, sizeof(*a));
		sockaddr_parse(family == AF_INET6 ? "[::1]:0" : "127.0.0.1:0", false, a);
		if (g->peer_port_base)
			sockaddr_set_port(a, (uint16_t)(g->peer_port_base + (int)k));
		int fd = socket(family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		if (fd < 0)
			return -errno;
		set_bufs(fd);
		socklen_t len = sockaddr_len(a);
		if (bind(fd, (struct sockaddr *)a, len) < 0 ||
		    getsockname(fd, (struct sockaddr *)a, &len) < 0) {
			int e = -errno;
			close(fd);
			return e;
		}
		g->peer_fd[k] = fd;
		g->peer_ep[k] = (struct lg_ep){ .kind = LG_EP_PEER, .index = k };
		int r = watch(g, fd, &g->peer_ep[k]);
		if (r < 0)
			return r;
	}
	return 0;
}

static int tls_connect(struct lg *g, struct lg_alloc *a)
{
	if (!g->ssl_ctx) {
		g->ssl_ctx = SSL_CTX_new(TLS_client_method());
		if (!g->ssl_ctx)
			return -ENOMEM;
		/* A benchmark against a throw-away certificate: no verification. */
		SSL_CTX_set_verify(g->ssl_ctx, SSL_VERIFY_NONE, NULL);
		SSL_CTX_set_min_proto_version(g->ssl_ctx, TLS1_2_VERSION);
		SSL_CTX_set_mode(g->ssl_ctx, SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
	}
	a->ssl = SSL_new(g->ssl_ctx);
	if (!a->ssl || SSL_set_fd(a->ssl, a->fd) != 1)
		return -ENOMEM;
	/* Handshake while the socket is still blocking: setup, not measured. */
	if (SSL_connect(a->ssl) != 1) {
		ERR_print_errors_fp(stderr);
		return -EPROTO;
	}
	return 0;
}

int lg_client_open(struct lg *g, struct lg_alloc *a)
{
	bool stream = g->transport != LG_UDP;
	a->fd = socket(g->server.ss_family, (stream ? SOCK_STREAM : SOCK_DGRAM) | SOCK_CLOEXEC, 0);
	if (a->fd < 0)
		return -errno;
	if (!stream)
		set_bufs(a->fd);
	if (connect(a->fd, (const struct sockaddr *)&g->server, sockaddr_len(&g->server)) < 0)
		return -errno;
	if (stream) {
		int one = 1;
		setsockopt(a->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		a->rbuf = malloc(LG_STREAM_BUF);
		a->rlen = 0;
		if (!a->rbuf)
			return -ENOMEM;
		if (g->transport == LG_TLS && tls_connect(g, a) < 0)
			return -EPROTO;
	}
	int fl = fcntl(a->fd, F_GETFL);
	if (fl < 0 || fcntl(a->fd, F_SETFL, fl | O_NONBLOCK) < 0)
		return -errno;
	return watch(g, a->fd, &a->ep);
}

void lg_client_close(struct lg_alloc *a)
{
	if (a->ssl) {
		SSL_free(a->ssl);
		a->ssl = NULL;
	}
	if (a->fd >= 0)
		close(a->fd);
	a->fd = -1;
	free(a->rbuf);
	a->rbuf = NULL;
}

/* Writes all of buf to a stream, waiting (bounded) when the socket is full. */
static int stream_write(struct lg_alloc *a, const uint8_t *buf, size_t len)
{
	size_t done = 0;
	while (done < len) {
		ssize_t n;
		bool want_read = false;
		if (a->ssl) {
			size_t w = 0;
			int r = SSL_write_ex(a->ssl, buf + done, len - done, &w);
			n = r == 1 ? (ssize_t)w : -1;
			if (r != 1) {
				int e = SSL_get_error(a->ssl, r);
				if (e != SSL_ERROR_WANT_WRITE && e != SSL_ERROR_WANT_READ)
					return -EPIPE;
				want_read = e == SSL_ERROR_WANT_READ;
				errno = EAGAIN;
			}
		} else {
			n = write(a->fd, buf + done, len - done);
		}
		if (n > 0) {
			done += (size_t)n;
			continue;
		}
		if (n < 0 && errno != EAGAIN && errno != EINTR)
			return -errno;
		struct pollfd p = { .fd = a->fd, .events = want_read ? POLLIN : POLLOUT };
		if (poll(&p, 1, LG_WRITE_WAIT_MS) <= 0)
			return -ETIMEDOUT;
	}
	return 0;
}

int lg_client_send(struct lg *g, struct lg_alloc *a, const uint8_t *buf, size_t len)
{
	if (g->transport != LG_UDP)
		return stream_write(a, buf, len);
	return send(a->fd, buf, len, MSG_DONTWAIT) < 0 ? -errno : 0;
}

/* --rtp: version 2, no padding, extension or CSRC (first byte 0x80),
 * payload type 111 (Opus), and per allocation its own SSRC, a sequence
 * number +1 and a timestamp +960 (20 ms at 48 kHz) per packet: what the
 * relay's media analysis follows for a real call. */
static void rtp_header(struct lg_alloc *a, uint8_t *h)
{
	uint32_t ssrc = 0x7e500000u ^ (a->ep.index * 2654435761u);
	uint16_t seq = a->rtp_seq++;
	uint32_t ts = a->rtp_ts;
	a->rtp_ts += LG_RTP_CLOCK_STEP;
	h[0] = 0x80;
	h[1] = 111;
	h[2] = (uint8_t)(seq >> 8);
	h[3] = (uint8_t)seq;
	for (int i = 0; i < 4; i++) {
		h[4 + i] = (uint8_t)(ts >> (24 - 8 * i));
		h[8 + i] = (uint8_t)(ssrc >> (24 - 8 * i));
	}
}

static void fill_channel_data(struct lg *g, struct lg_alloc *a, uint8_t *buf)
{
	buf[0] = (uint8_t)((LG_CHANNEL + a->peer) >> 8);
	buf[1] = (uint8_t)(LG_CHANNEL + a->peer);
	buf[2] = (uint8_t)(g->payload >> 8);
	buf[3] = (uint8_t)g->payload;
	if (g->rtp)
		rtp_header(a, buf + 4);
	else if (g->no_media)
		memset(buf + 4, 0xff, LG_OTHER_HEADER);
	struct lg_payload p = { .seq = g->seq++, .t_client = lg_now(), .alloc = a->ep.index,
				.step = g->step };
	memcpy(buf + 4 + lg_payload_off(g), &p, sizeof(p));
}

int lg_client_send_data(struct lg *g, struct lg_alloc *a, unsigned count)
{
	size_t frame = 4 + ((g->payload + 3u) & ~3u);
	if (count > LG_BATCH)
		count = LG_BATCH;
	if (g->transport != LG_UDP) {
		/* Frames back to back in one buffer: tx_data is contiguous. */
		uint8_t *buf = tx_data[0];
		if (frame * count > sizeof(tx_data))
			count = (unsigned)(sizeof(tx_data) / frame);
		for (unsigned i = 0; i < count; i++)
			fill_channel_data(g, a, buf + i * frame);
		int r = stream_write(a, buf, frame * count);
		if (r < 0) {
			g->c.send_fail += count;
			return r;
		}
		g->c.sent += count;
		return (int)count;
	}
	for (unsigned i = 0; i < count; i++) {
		fill_channel_data(g, a, tx_data[i]);
		tx_iov[i] = (struct iovec){ .iov_base = tx_data[i], .iov_len = 4 + g->payload };
		tx_msgs[i].msg_hdr = (struct msghdr){ .msg_iov = &tx_iov[i], .msg_iovlen = 1 };
	}
	int n = sendmmsg(a->fd, tx_msgs, count, MSG_DONTWAIT);
	unsigned ok = n > 0 ? (unsigned)n : 0;
	g->c.sent += ok;
	g->c.send_fail += count - ok;
	return (int)ok;
}

static int rx_batch(int fd)
{
	for (int i = 0; i < LG_BATCH; i++) {
		rx_iov[i] = (struct iovec){ .iov_base = rx_data[i], .iov_len = LG_DGRAM_MAX };
		rx_msgs[i].msg_hdr = (struct msghdr){ .msg_name = &rx_addr[i],
						      .msg_namelen = sizeof(rx_addr[i]),
						      .msg_iov = &rx_iov[i], .msg_iovlen = 1 };
	}
	return recvmmsg(fd, rx_msgs, LG_BATCH, MSG_DONTWAIT, NULL);
}

/* A ChannelData back at the client: round trip and peer-to-client times. */
static void client_data(struct lg *g, const uint8_t *buf, size_t len, uint64_t now)
{
	struct lg_payload p;
	size_t off = 4 + lg_payload_off(g);
	if (len < off + sizeof(p)) {
		g->c.bad++;
		return;
	}
	memcpy(&p, buf + off, sizeof(p));
	if (p.step != g->step)
		return;         /* a straggler from an earlier ramp step */
	g->c.client_rx++;
	lg_samples_add(&g->rtt, now - p.t_client);
	if (p.t_peer)
		lg_samples_add(&g->p2c, now - p.t_peer);
}

static void client_dispatch(struct lg *g, struct lg_alloc *a, const uint8_t *buf, size_t len,
			    uint64_t now)
{
	if (turn_is_channel_data(buf, len))
		client_data(g, buf, len, now);
	else
		lg_setup_input(g, a, buf, len);
}

static void client_udp_readable(struct lg *g, struct lg_alloc *a)
{
	for (int round = 0; round < LG_READ_ROUNDS; round++) {
		int n = rx_batch(a->fd);
		if (n <= 0)
			return;
		uint64_t now = lg_now();
		for (int i = 0; i < n; i++)
			client_dispatch(g, a, rx_data[i], rx_msgs[i].msg_len, now);
		if (n < LG_BATCH)
			return;
	}
}

static ssize_t stream_read(struct lg_alloc *a, uint8_t *buf, size_t cap)
{
	if (!a->ssl)
		return read(a->fd, buf, cap);
	size_t n = 0;
	int r = SSL_read_ex(a->ssl, buf, cap, &n);
	if (r == 1)
		return (ssize_t)n;
	int e = SSL_get_error(a->ssl, r);
	errno = (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) ? EAGAIN : EPIPE;
	return -1;
}

static void client_stream_readable(struct lg *g, struct lg_alloc *a)
{
	for (int round = 0; round < 64; round++) {
		ssize_t n = stream_read(a, a->rbuf + a->rlen, LG_STREAM_BUF - a->rlen);
		if (n <= 0) {
			if (n == 0 || errno != EAGAIN) {
				epoll_ctl(g->epfd, EPOLL_CTL_DEL, a->fd, NULL);
				if (a->state != LG_READY && a->state != LG_FAILED) {
					a->state = LG_FAILED;
					g->failed++;
					g->in_flight--;
				}
			}
			return;
		}
		a->rlen += (size_t)n;
		uint64_t now = lg_now();
		size_t off = 0;
		for (;;) {
			ssize_t f = stun_stream_frame_len(a->rbuf + off, a->rlen - off, LG_STREAM_BUF);
			if (f <= 0) {
				if (f < 0)
					a->rlen = off = 0;      /* unframeable: drop it all */
				break;
			}
			client_dispatch(g, a, a->rbuf + off, (size_t)f, now);
			off += (size_t)f;
		}
		memmove(a->rbuf, a->rbuf + off, a->rlen - off);
		a->rlen -= off;
	}
}

static void peer_readable(struct lg *g, unsigned k)
{
	int fd = g->peer_fd[k];
	for (int round = 0; round < LG_READ_ROUNDS; round++) {
		int n = rx_batch(fd);
		if (n <= 0)
			return;
		uint64_t now = lg_now();
		size_t off = lg_payload_off(g);
		int keep = 0;
		for (int i = 0; i < n; i++) {
			struct lg_payload p;
			if (rx_msgs[i].msg_len < off + sizeof(p)) {
				g->c.bad++;
				continue;
			}
			memcpy(&p, rx_data[i] + off, sizeof(p));
			if (p.step != g->step)
				continue;
			g->c.peer_rx++;
			lg_samples_add(&g->c2p, now - p.t_client);
			if (!g->echo)
				continue;
			p.t_peer = lg_now();
			memcpy(rx_data[i] + off, &p, sizeof(p));
			rx_iov[i].iov_len = rx_msgs[i].msg_len;
			if (keep != i) {
				rx_msgs[keep].msg_hdr = rx_msgs[i].msg_hdr;
			}
			keep++;
		}
		for (int done = 0; done < keep;) {
			int r = sendmmsg(fd, rx_msgs + done, (unsigned)(keep - done), MSG_DONTWAIT);
			if (r <= 0) {
				g->c.send_fail++;
				done++;
				continue;
			}
			done += r;
		}
		if (n < LG_BATCH)
			return;
	}
}

void lg_poll(struct lg *g, int timeout_ms)
{
	struct epoll_event ev[64];
	int n = epoll_wait(g->epfd, ev, 64, timeout_ms);
	for (int i = 0; i < n; i++) {
		struct lg_ep *ep = ev[i].data.ptr;
		if (ep->kind == LG_EP_PEER) {
			peer_readable(g, ep->index);
			continue;
		}
		struct lg_alloc *a = &g->allocs[ep->index];
		if (g->transport == LG_UDP)
			client_udp_readable(g, a);
		else
			client_stream_readable(g, a);
	}
}
