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
#include <unistd.h>

#define PROXY_HIGH_WATER (256 * 1024)
#define PROXY_IDLE_S     300

struct proxy {
	struct worker *w;
	struct proxy *prev, *next;
	struct bufferevent *side[2];    /* 0: client, 1: backend */
	struct sockaddr_storage source; /* for the per-source connection count */
	bool closing;                   /* one side ended: flush the other, then free */
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
	if (evbuffer_get_length(bufferevent_get_output(bev)) != 0)
		return;
	if (p->closing) {
		proxy_free(p);
		return;
	}
	bufferevent_enable(p->side[!side_of(p, bev)], EV_READ);
}

static void on_event(struct bufferevent *bev, short what, void *arg)
{
	struct proxy *p = arg;
	if (what & BEV_EVENT_CONNECTED)
		return;
	/* EOF, error or timeout on one side: deliver what it sent, then end. */
	struct bufferevent *other = p->side[!side_of(p, bev)];
	if (p->closing || (what & (BEV_EVENT_ERROR | BEV_EVENT_TIMEOUT))) {
		proxy_free(p);
		return;
	}
	struct evbuffer *out = bufferevent_get_output(other);
	evbuffer_add_buffer(out, bufferevent_get_input(bev));
	p->closing = true;
	bufferevent_disable(bev, EV_READ);
	if (evbuffer_get_length(out) == 0)
		proxy_free(p);
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
