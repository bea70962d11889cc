/* Passthrough on the TLS port: a connection whose ClientHello matched a
 * passthrough rule is spliced, bytes untouched, to its backend (the
 * hospital's HTTPS site on the same public address, say). We never see
 * inside it. Each direction is bounded (reading stops while the other side
 * has PROXY_HIGH_WATER queued) and idle connections are timed out. */
#include "relay/io/stream.h"

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#define PROXY_HIGH_WATER (256 * 1024)
#define PROXY_IDLE_S     300

struct proxy {
	struct worker *w;
	struct proxy *prev, *next;
	struct bufferevent *side[2];    /* 0: client, 1: backend */
	struct sockaddr_storage source; /* for the per-source connection count */
	/* Half-close, as TCP means it: side i sent FIN (eof[i]); once what it
	 * sent is delivered, the other side's write half is shut too (shut[!i]).
	 * The proxy ends when both directions are done. */
	bool eof[2], shut[2];
};

static void proxy_free(struct proxy *p)
{
	struct worker *w = p->w;
	if (p->prev)
		p->prev->next = p->next;
	else
		w->proxies = p->next;
	if (p->next)
		p->next->prev = p->prev;
	for (int i = 0; i < 2; i++)
		if (p->side[i])
			bufferevent_free(p->side[i]);
	conn_limit_release(&w->io->conns, &p->source);
	free(p);
}

static int side_of(const struct proxy *p, const struct bufferevent *bev)
{
	return bev == p->side[0] ? 0 : 1;
}

/* Passes side i's end of stream on to the other side once its output is
 * empty; frees the proxy when both directions have ended. Returns true if
 * the proxy is gone. */
static bool pass_eof(struct proxy *p, int i)
{
	int o = !i;
	if (p->eof[i] && !p->shut[o] &&
	    evbuffer_get_length(bufferevent_get_output(p->side[o])) == 0) {
		shutdown(bufferevent_getfd(p->side[o]), SHUT_WR);
		p->shut[o] = true;
	}
	if (p->shut[0] && p->shut[1]) {
		proxy_free(p);
		return true;
	}
	return false;
}

static void on_read(struct bufferevent *bev, void *arg)
{
	struct proxy *p = arg;
	struct bufferevent *dst = p->side[!side_of(p, bev)];
	struct evbuffer *out = bufferevent_get_output(dst);
	evbuffer_add_buffer(out, bufferevent_get_input(bev));
	if (evbuffer_get_length(out) >= PROXY_HIGH_WATER)
		bufferevent_disable(bev, EV_READ); /* until dst drains (on_write) */
}

static void on_write(struct bufferevent *bev, void *arg)
{
	struct proxy *p = arg;
	int i = side_of(p, bev);
	if (evbuffer_get_length(bufferevent_get_output(bev)) != 0)
		return;
	if (pass_eof(p, !i))
		return;
	if (!p->eof[!i])
		bufferevent_enable(p->side[!i], EV_READ);
}

static void on_event(struct bufferevent *bev, short what, void *arg)
{
	struct proxy *p = arg;
	if (what & BEV_EVENT_CONNECTED)
		return;
	if (what & (BEV_EVENT_ERROR | BEV_EVENT_TIMEOUT)) {
		proxy_free(p); /* a reset or a stall ends both directions */
		return;
	}
	/* EOF on side i: deliver what it sent, then pass the FIN on. */
	int i = side_of(p, bev);
	evbuffer_add_buffer(bufferevent_get_output(p->side[!i]), bufferevent_get_input(bev));
	p->eof[i] = true;
	bufferevent_disable(bev, EV_READ);
	pass_eof(p, i);
}

void proxy_start(struct worker *w, int fd, const struct sockaddr_storage *source,
		 const struct sockaddr_storage *backend, const uint8_t *first, size_t first_len)
{
	struct proxy *p = calloc(1, sizeof(*p));
	if (!p) {
		conn_limit_release(&w->io->conns, source);
		close(fd);
		return;
	}
	p->w = w;
	p->source = *source;
	p->next = w->proxies;
	if (w->proxies)
		w->proxies->prev = p;
	w->proxies = p;
	p->side[0] = bufferevent_socket_new(w->base, fd, BEV_OPT_CLOSE_ON_FREE);
	p->side[1] = bufferevent_socket_new(w->base, -1, BEV_OPT_CLOSE_ON_FREE);
	if (!p->side[0]) {
		close(fd);
		proxy_free(p);
		return;
	}
	struct timeval idle = { .tv_sec = PROXY_IDLE_S };
	for (int i = 0; i < 2 && p->side[i]; i++) {
		bufferevent_setcb(p->side[i], on_read, on_write, on_event, p);
		bufferevent_set_timeouts(p->side[i], &idle, &idle);
	}
	if (!p->side[1] ||
	    bufferevent_socket_connect(p->side[1], (const struct sockaddr *)backend,
				       (int)sockaddr_len(backend)) < 0 ||
	    bufferevent_write(p->side[1], first, first_len) < 0 ||
	    bufferevent_enable(p->side[0], EV_READ | EV_WRITE) < 0 ||
	    bufferevent_enable(p->side[1], EV_READ | EV_WRITE) < 0) {
		mc_inc(&w->turn.metrics.tls_proxy_failed);
		proxy_free(p);
		return;
	}
	mc_inc(&w->turn.metrics.tls_proxied);
}

void proxy_close_all(struct worker *w)
{
	while (w->proxies)
		proxy_free(w->proxies);
}
