/* Stream client connections (RFC 8656 section 3.1, TCP; TLS in
 * stream_tls.c): STUN messages and ChannelData framed on one stream, one
 * allocation at most per connection. Input is framed from a per-connection
 * buffer that starts small and grows only to the largest legal frame;
 * output goes straight to the socket and is queued only when the socket is
 * full, up to a cap past which whole frames are dropped (media tolerates
 * loss; a stalled reader must not eat memory). Every connection is bounded
 * in time too: to finish the TLS handshake, to make an allocation, to
 * complete a frame once started, and to say anything at all. */
#include "relay/io/stream.h"

#include <errno.h>
#include <event2/buffer.h>
#include <event2/event.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "relay/io/sdnotify.h"
#include "relay/io/sock.h"

#define STREAM_MAX_CONNS    16384      /* per worker */
#define STREAM_ACCEPT_BATCH 32

static const struct tern_config *conf_of(const struct tcp_conn *c)
{
	return c->w->turn.snap->conf;
}

static void unlink_conn(struct tcp_conn *c)
{
	struct worker *w = c->w;
	if (c->prev)
		c->prev->next = c->next;
	else
		w->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	w->n_conns--;
	if (c->counted)
		conn_limit_release(&w->io->conns, &c->client.addr);
	event_free(c->rev);
	event_free(c->wev);
	evbuffer_free(c->out);
	stream_tls_free(c);
	free(c->in);
}

void stream_close(struct tcp_conn *c)
{
	turn_server_conn_closed(&c->w->turn, c->alloc);
	unlink_conn(c);
	close(c->fd);
	free(c);
}

int stream_detach(struct tcp_conn *c)
{
	int fd = c->fd;
	c->counted = false;
	unlink_conn(c);
	free(c);
	return fd;
}

void stream_kill(struct tcp_conn *c)
{
	c->dead = true;
	event_active(c->wev, EV_WRITE, 0);
}

bool stream_consume(struct tcp_conn *c)
{
	size_t off = 0;
	uint64_t now = c->w->turn.now_ms;
	while (!c->dead) {
		ssize_t flen = stun_stream_frame_len(c->in + off, c->in_len - off, STREAM_MAX_FRAME);
		if (flen < 0)
			return false;
		if (flen == 0)
			break;
		turn_server_client_input(&c->w->turn, &c->client, &c->alloc, c->in + off, (size_t)flen);
		off += (size_t)flen;
		c->last_frame_ms = now;
	}
	memmove(c->in, c->in + off, c->in_len - off);
	c->in_len -= off;
	if (!c->in_len)
		c->partial_since_ms = 0;
	else if (off || !c->partial_since_ms)
		c->partial_since_ms = now; /* a new frame started */
	return true;
}

bool stream_make_room(struct tcp_conn *c)
{
	if (c->in_len < c->in_cap)
		return true;
	if (c->in_cap >= STREAM_MAX_FRAME + 4)
		return false;
	uint8_t *in = realloc(c->in, STREAM_MAX_FRAME + 4);
	if (!in)
		return false;
	c->in = in;
	c->in_cap = STREAM_MAX_FRAME + 4;
	return true;
}

/* Plain TCP reads straight into the frame buffer; TLS reads ciphertext into
 * the worker's scratch and lets stream_tls.c decrypt into the frame buffer. */
static void on_conn_readable(evutil_socket_t fd, short what, void *arg)
{
	(void)what;
	struct tcp_conn *c = arg;
	struct worker *w = c->w;
	worker_touch_clock(w);
	if (c->dead)
		return;
	bool tls = c->client.transport == TURN_TLS;
	if (!tls && !stream_make_room(c)) {
		stream_close(c);
		return;
	}
	uint8_t *dst = tls ? w->batch->data[0] : c->in + c->in_len;
	size_t room = tls ? sizeof(w->batch->data[0]) : c->in_cap - c->in_len;
	ssize_t n = recv(fd, dst, room, MSG_DONTWAIT);
	if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
		stream_close(c);
		return;
	}
	if (n < 0)
		return;
	bool ok = true;
	if (tls) {
		stream_tls_input(c, dst, (size_t)n);
	} else {
		c->in_len += (size_t)n;
		ok = stream_consume(c);
	}
	udp_out_flush(w);
	if (!ok)
		stream_close(c);
}

static void on_conn_writable(evutil_socket_t fd, short what, void *arg)
{
	(void)what;
	struct tcp_conn *c = arg;
	if (c->dead) {
		stream_close(c);
		return;
	}
	if (evbuffer_write(c->out, fd) < 0 && errno != EAGAIN && errno != EINTR) {
		stream_close(c);
		return;
	}
	if (evbuffer_get_length(c->out) == 0)
		event_del(c->wev);
}

void stream_write_raw(struct tcp_conn *c, const uint8_t *buf, size_t len)
{
	if (c->dead || !len)
		return;
	if (evbuffer_get_length(c->out)) {
		evbuffer_add(c->out, buf, len);
		return;
	}
	ssize_t n = send(c->fd, buf, len, MSG_DONTWAIT | MSG_NOSIGNAL);
	if (n < 0 && errno != EAGAIN && errno != EINTR) {
		stream_kill(c);
		return;
	}
	size_t sent = n < 0 ? 0 : (size_t)n;
	if (sent < len) {
		/* Keep the frame whole: the rest must follow, or the stream breaks. */
		evbuffer_add(c->out, buf + sent, len - sent);
		event_add(c->wev, NULL);
	}
}

void tcp_send_client(struct worker *w, const struct turn_client *to, const uint8_t *buf,
		     size_t len)
{
	struct tcp_conn *c = to->conn;
	if (c->dead)
		return;
	/* Whole frames are dropped, never parts of one, once a slow reader
	 * has the cap queued. */
	if (evbuffer_get_length(c->out) + len > conf_of(c)->stream_buffer) {
		mc_inc(&w->turn.metrics.send_dropped);
		return;
	}
	if (c->ssl)
		stream_tls_send(c, buf, len);
	else
		stream_write_raw(c, buf, len);
}

static struct tcp_conn *conn_new(struct worker *w, int fd)
{
	struct tcp_conn *c = calloc(1, sizeof(*c));
	if (!c)
		return NULL;
	c->w = w;
	c->fd = fd;
	c->in = malloc(STREAM_IN_INITIAL);
	c->out = evbuffer_new();
	c->rev = event_new(w->base, fd, EV_READ | EV_PERSIST, on_conn_readable, c);
	c->wev = event_new(w->base, fd, EV_WRITE | EV_PERSIST, on_conn_writable, c);
	if (!c->in || !c->out || !c->rev || !c->wev || event_add(c->rev, NULL) < 0) {
		if (c->rev)
			event_free(c->rev);
		if (c->wev)
			event_free(c->wev);
		if (c->out)
			evbuffer_free(c->out);
		free(c->in);
		free(c);
		return NULL;
	}
	c->in_cap = STREAM_IN_INITIAL;
	return c;
}

static void conn_open(struct worker *w, int fd, const struct sockaddr_storage *addr, bool tls)
{
	if (w->n_conns >= STREAM_MAX_CONNS || !conn_limit_acquire(&w->io->conns, addr)) {
		mc_inc(&w->turn.metrics.stream_refused);
		close(fd);
		return;
	}
	struct tcp_conn *c = conn_new(w, fd);
	if (!c) {
		conn_limit_release(&w->io->conns, addr);
		close(fd);
		return;
	}
	int one = 1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	c->counted = true;
	c->phase = tls ? STREAM_HELLO : STREAM_OPEN;
	c->client.transport = tls ? TURN_TLS : TURN_TCP;
	c->client.addr = *addr;
	c->client.listener = -1;
	c->client.conn = c;
	c->opened_ms = c->last_frame_ms = w->turn.now_ms;
	c->next = w->conns;
	if (w->conns)
		w->conns->prev = c;
	w->conns = c;
	w->n_conns++;
}

static void on_acceptable(evutil_socket_t lfd, short what, void *arg)
{
	(void)what;
	struct tcp_listener *l = arg;
	worker_touch_clock(l->w);
	for (int i = 0; i < STREAM_ACCEPT_BATCH; i++) {
		struct sockaddr_storage addr;
		socklen_t alen = sizeof(addr);
		int fd = accept4(lfd, (struct sockaddr *)&addr, &alen, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0)
			return;
		conn_open(l->w, fd, &addr, l->tls);
	}
}

static int open_listener(struct worker *w, const struct sockaddr_storage *addr, bool tls,
			 char *err, size_t cap)
{
	struct tcp_listener *l = &w->tcp[w->n_tcp];
	char where[SOCKADDR_STRLEN];
	sockaddr_format(addr, where, sizeof(where));
	l->w = w;
	l->tls = tls;
	/* A socket passed by systemd (ternd.socket) is bound and listening
	 * already; every worker accepts from its own copy. */
	int passed = sdnotify_listen_fd(SOCK_STREAM, addr);
	l->fd = passed >= 0 ? passed : sock_open_bound(addr, SOCK_STREAM, true);
	if (passed < 0 && l->fd >= 0 && listen(l->fd, 1024) < 0) {
		int e = errno;
		close(l->fd);
		l->fd = -e;
	}
	if (l->fd < 0) {
		snprintf(err, cap, "cannot listen on %s %s: %s", tls ? "TLS" : "TCP", where,
			 strerror(-l->fd));
		return l->fd;
	}
	l->ev = event_new(w->base, l->fd, EV_READ | EV_PERSIST, on_acceptable, l);
	if (!l->ev || event_add(l->ev, NULL) < 0) {
		close(l->fd);
		snprintf(err, cap, "cannot watch %s", where);
		return -ENOMEM;
	}
	w->n_tcp++;
	return 0;
}

int tcp_listeners_open(struct worker *w, char *err, size_t cap)
{
	const struct tern_config *conf = w->turn.snap->conf;
	int r = 0;
	for (size_t i = 0; i < conf->n_tcp && r == 0; i++)
		r = open_listener(w, &conf->tcp[i], false, err, cap);
	for (size_t i = 0; i < conf->n_tls && r == 0; i++)
		r = open_listener(w, &conf->tls[i], true, err, cap);
	return r;
}

void tcp_listeners_close(struct worker *w)
{
	for (size_t i = 0; i < w->n_tcp; i++) {
		event_free(w->tcp[i].ev);
		close(w->tcp[i].fd);
	}
	w->n_tcp = 0;
}

/* Why a connection has overstayed, or NULL. */
static const char *overdue(const struct tcp_conn *c, uint64_t now)
{
	const struct tern_config *conf = conf_of(c);
	uint64_t age = now - c->opened_ms;
	if (c->phase != STREAM_OPEN && age > (uint64_t)conf->tls_handshake_timeout * 1000u)
		return "handshake";
	if (!c->alloc && age > (uint64_t)conf->stream_auth_timeout * 1000u)
		return "no allocation";
	if (c->partial_since_ms && now - c->partial_since_ms > STREAM_PARTIAL_MS)
		return "partial frame";
	if (now - c->last_frame_ms > (uint64_t)conf->stream_idle_timeout * 1000u)
		return "idle";
	return NULL;
}

void tcp_sweep(struct worker *w, uint64_t now_ms)
{
	struct tcp_conn *c = w->conns;
	while (c) {
		struct tcp_conn *next = c->next;
		if (overdue(c, now_ms)) {
			mc_inc(&w->turn.metrics.stream_timed_out);
			stream_close(c);
		}
		c = next;
	}
}

void tcp_close_all(struct worker *w)
{
	while (w->conns)
		stream_close(w->conns);
	proxy_close_all(w);
}
