/* TCP client connections (RFC 8656 section 3.1): STUN messages and
 * ChannelData framed on one stream, one allocation at most per connection.
 * Input is framed from a per-connection buffer that starts small and grows
 * only to the largest legal frame; output goes straight to the socket and is
 * queued only when the socket is full, up to a cap past which whole frames
 * are dropped (media is loss-tolerant; a stalled reader must not eat memory).
 * TLS (a later issue) plugs in under the same framing. */
#include "relay/io/worker.h"

#include <errno.h>
#include <event2/buffer.h>
#include <event2/event.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "relay/io/sock.h"

#define TCP_IN_INITIAL   4096
#define TCP_MAX_FRAME    (65535 + STUN_HEADER_LEN)
#define TCP_OUT_CAP      (512 * 1024)
#define TCP_IDLE_MS      60000      /* no allocation and nothing heard: close */
#define TCP_MAX_CONNS    16384      /* per worker */
#define TCP_ACCEPT_BATCH 32

struct tcp_conn {
	struct worker *w;
	struct tcp_conn *prev, *next;
	int fd;
	bool dead;                      /* close at the next loop pass, not mid-callback */
	struct event *rev, *wev;
	struct turn_client client;
	struct allocation *alloc;
	uint8_t *in;
	size_t in_len, in_cap;
	struct evbuffer *out;
	uint64_t last_rx_ms;
};

static void conn_close(struct tcp_conn *c)
{
	struct worker *w = c->w;
	turn_server_conn_closed(&w->turn, c->alloc);
	if (c->prev)
		c->prev->next = c->next;
	else
		w->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	w->n_conns--;
	event_free(c->rev);
	event_free(c->wev);
	evbuffer_free(c->out);
	close(c->fd);
	free(c->in);
	free(c);
}

/* Marks the connection for closing from a safe place: its write event. */
static void conn_kill(struct tcp_conn *c)
{
	c->dead = true;
	event_active(c->wev, EV_WRITE, 0);
}

/* Feeds every complete frame to the TURN server. Returns false when the
 * stream cannot be framed. */
static bool conn_consume(struct tcp_conn *c)
{
	size_t off = 0;
	while (!c->dead) {
		ssize_t flen = stun_stream_frame_len(c->in + off, c->in_len - off, TCP_MAX_FRAME);
		if (flen < 0)
			return false;
		if (flen == 0)
			break;
		turn_server_client_input(&c->w->turn, &c->client, &c->alloc, c->in + off, (size_t)flen);
		off += (size_t)flen;
	}
	memmove(c->in, c->in + off, c->in_len - off);
	c->in_len -= off;
	return true;
}

static bool conn_grow(struct tcp_conn *c)
{
	if (c->in_cap >= TCP_MAX_FRAME + 4)
		return false;
	uint8_t *in = realloc(c->in, TCP_MAX_FRAME + 4);
	if (!in)
		return false;
	c->in = in;
	c->in_cap = TCP_MAX_FRAME + 4;
	return true;
}

static void on_conn_readable(evutil_socket_t fd, short what, void *arg)
{
	(void)what;
	struct tcp_conn *c = arg;
	worker_touch_clock(c->w);
	if (c->dead)
		return;
	if (c->in_len == c->in_cap && !conn_grow(c)) {
		conn_close(c);
		return;
	}
	ssize_t n = recv(fd, c->in + c->in_len, c->in_cap - c->in_len, MSG_DONTWAIT);
	if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
		conn_close(c);
		return;
	}
	if (n < 0)
		return;
	c->in_len += (size_t)n;
	c->last_rx_ms = c->w->turn.now_ms;
	bool ok = conn_consume(c);
	udp_out_flush(c->w);
	if (!ok)
		conn_close(c);
}

static void on_conn_writable(evutil_socket_t fd, short what, void *arg)
{
	(void)what;
	struct tcp_conn *c = arg;
	if (c->dead) {
		conn_close(c);
		return;
	}
	if (evbuffer_write(c->out, fd) < 0 && errno != EAGAIN && errno != EINTR) {
		conn_close(c);
		return;
	}
	if (evbuffer_get_length(c->out) == 0)
		event_del(c->wev);
}

void tcp_send_client(struct worker *w, const struct turn_client *to, const uint8_t *buf,
		     size_t len)
{
	struct tcp_conn *c = to->conn;
	if (c->dead)
		return;
	size_t queued = evbuffer_get_length(c->out);
	if (queued) {
		if (queued + len > TCP_OUT_CAP) {
			w->dropped_send++;
			return;
		}
		evbuffer_add(c->out, buf, len);
		return;
	}
	ssize_t n = send(c->fd, buf, len, MSG_DONTWAIT | MSG_NOSIGNAL);
	if (n < 0 && errno != EAGAIN && errno != EINTR) {
		conn_kill(c);
		return;
	}
	size_t sent = n < 0 ? 0 : (size_t)n;
	if (sent < len) {
		/* Keep the frame whole: the rest must follow, or the stream breaks. */
		evbuffer_add(c->out, buf + sent, len - sent);
		event_add(c->wev, NULL);
	}
}

static void conn_open(struct worker *w, int fd, const struct sockaddr_storage *addr)
{
	struct tcp_conn *c = calloc(1, sizeof(*c));
	if (c)
		c->in = malloc(TCP_IN_INITIAL);
	if (c && c->in) {
		c->out = evbuffer_new();
		c->rev = event_new(w->base, fd, EV_READ | EV_PERSIST, on_conn_readable, c);
		c->wev = event_new(w->base, fd, EV_WRITE | EV_PERSIST, on_conn_writable, c);
	}
	if (!c || !c->in || !c->out || !c->rev || !c->wev || event_add(c->rev, NULL) < 0) {
		if (c) {
			if (c->rev)
				event_free(c->rev);
			if (c->wev)
				event_free(c->wev);
			if (c->out)
				evbuffer_free(c->out);
			free(c->in);
			free(c);
		}
		close(fd);
		return;
	}
	int one = 1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	c->w = w;
	c->fd = fd;
	c->in_cap = TCP_IN_INITIAL;
	c->client.transport = TURN_TCP;
	c->client.addr = *addr;
	c->client.listener = -1;
	c->client.conn = c;
	c->last_rx_ms = w->turn.now_ms;
	c->next = w->conns;
	if (w->conns)
		w->conns->prev = c;
	w->conns = c;
	w->n_conns++;
}

static void on_tcp_acceptable(evutil_socket_t lfd, short what, void *arg)
{
	(void)what;
	struct tcp_listener *l = arg;
	worker_touch_clock(l->w);
	for (int i = 0; i < TCP_ACCEPT_BATCH; i++) {
		struct sockaddr_storage addr;
		socklen_t alen = sizeof(addr);
		int fd = accept4(lfd, (struct sockaddr *)&addr, &alen, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0)
			return;
		if (l->w->n_conns >= TCP_MAX_CONNS) {
			close(fd);
			continue;
		}
		conn_open(l->w, fd, &addr);
	}
}

int tcp_listeners_open(struct worker *w, char *err, size_t cap)
{
	const struct tern_config *conf = w->shared->conf;
	for (size_t i = 0; i < conf->n_tcp; i++) {
		struct tcp_listener *l = &w->tcp[i];
		char where[SOCKADDR_STRLEN];
		sockaddr_format(&conf->tcp[i], where, sizeof(where));
		l->w = w;
		l->fd = sock_open_bound(&conf->tcp[i], SOCK_STREAM, true);
		if (l->fd >= 0 && listen(l->fd, 1024) < 0) {
			int e = errno;
			close(l->fd);
			l->fd = -e;
		}
		if (l->fd < 0) {
			snprintf(err, cap, "cannot listen on TCP %s: %s", where, strerror(-l->fd));
			return l->fd;
		}
		l->ev = event_new(w->base, l->fd, EV_READ | EV_PERSIST, on_tcp_acceptable, l);
		if (!l->ev || event_add(l->ev, NULL) < 0) {
			close(l->fd);
			snprintf(err, cap, "cannot watch TCP %s", where);
			return -ENOMEM;
		}
		w->n_tcp++;
	}
	return 0;
}

void tcp_listeners_close(struct worker *w)
{
	for (size_t i = 0; i < w->n_tcp; i++) {
		event_free(w->tcp[i].ev);
		close(w->tcp[i].fd);
	}
	w->n_tcp = 0;
}

void tcp_sweep(struct worker *w, uint64_t now_ms)
{
	struct tcp_conn *c = w->conns;
	while (c) {
		struct tcp_conn *next = c->next;
		if (!c->alloc && now_ms - c->last_rx_ms > TCP_IDLE_MS)
			conn_close(c);
		c = next;
	}
}

void tcp_close_all(struct worker *w)
{
	while (w->conns)
		conn_close(w->conns);
}
