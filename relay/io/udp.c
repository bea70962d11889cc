/* UDP listeners: one SO_REUSEPORT socket per configured address in every
 * worker, so the kernel spreads clients over workers by 5-tuple and keeps
 * each client on one worker. Datagrams are read in batches (recvmmsg). */
#include "relay/io/worker.h"

#include <errno.h>
#include <event2/event.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "relay/io/sdnotify.h"
#include "relay/io/sock.h"

void udp_batch_init(struct udp_batch *b)
{
	for (int i = 0; i < WORKER_BATCH; i++) {
		b->iov[i].iov_base = b->data[i];
		b->iov[i].iov_len = WORKER_DGRAM_MAX;
		struct msghdr *h = &b->msgs[i].msg_hdr;
		memset(h, 0, sizeof(*h));
		h->msg_name = &b->addrs[i];
		h->msg_iov = &b->iov[i];
		h->msg_iovlen = 1;
	}
}

int udp_batch_receive(struct worker *w, int fd)
{
	/* The kernel rewrites only the address length, flags and length of
	 * each header; the rest was set once by udp_batch_init. */
	struct udp_batch *b = w->batch;
	for (int i = 0; i < WORKER_BATCH; i++)
		b->msgs[i].msg_hdr.msg_namelen = sizeof(b->addrs[i]);
	return recvmmsg(fd, b->msgs, WORKER_BATCH, MSG_DONTWAIT, NULL);
}

static void on_udp_readable(evutil_socket_t fd, short what, void *arg)
{
	(void)what;
	struct udp_listener *l = arg;
	struct worker *w = l->w;
	worker_touch_clock(w);
	struct turn_client from = { .transport = TURN_UDP, .listener = l->index };
	/* Bounded: a few batches per wakeup, then let other sockets run. */
	for (int round = 0; round < 4; round++) {
		int n = udp_batch_receive(w, fd);
		if (n <= 0)
			break;
		for (int i = 0; i < n; i++) {
			struct msghdr *h = &w->batch->msgs[i].msg_hdr;
			if (h->msg_flags & MSG_TRUNC) {
				mc_inc(&w->turn.metrics.truncated);
				continue;
			}
			from.addr = w->batch->addrs[i];
			turn_server_client_input(&w->turn, &from, NULL, w->batch->data[i],
						 w->batch->msgs[i].msg_len);
		}
		if (n < WORKER_BATCH)
			break;
	}
	udp_out_flush(w);
}

int udp_listeners_open(struct worker *w, char *err, size_t cap)
{
	const struct tern_config *conf = w->turn.snap->conf;
	for (size_t i = 0; i < conf->n_udp; i++) {
		struct udp_listener *l = &w->udp[i];
		char where[SOCKADDR_STRLEN];
		sockaddr_format(&conf->udp[i], where, sizeof(where));
		l->w = w;
		l->index = (int)i;
		l->ev = NULL;
		w->n_udp++;
		/* A UDP socket passed by systemd is one kernel socket: if every
		 * worker read it, a client's datagrams would scatter over workers
		 * that do not own its allocation. Only worker 0 reads it. */
		int passed = sdnotify_listen_fd(SOCK_DGRAM, &conf->udp[i]);
		if (passed >= 0 && w->index > 0) {
			close(passed);
			l->fd = -1;
			continue;
		}
		l->fd = passed >= 0 ? passed : sock_open_bound(&conf->udp[i], SOCK_DGRAM, true);
		if (l->fd < 0) {
			/* Listener addresses come from the admin's config, not from a client. */
			snprintf(err, cap, "cannot listen on UDP %s: %s", where, strerror(-l->fd));
			return l->fd;
		}
		l->ev = event_new(w->base, l->fd, EV_READ | EV_PERSIST, on_udp_readable, l);
		if (!l->ev || event_add(l->ev, NULL) < 0) {
			snprintf(err, cap, "cannot watch UDP %s", where);
			return -ENOMEM;
		}
	}
	return 0;
}

void udp_listeners_close(struct worker *w)
{
	for (size_t i = 0; i < w->n_udp; i++) {
		if (w->udp[i].ev)
			event_free(w->udp[i].ev);
		if (w->udp[i].fd >= 0)
			close(w->udp[i].fd);
	}
	w->n_udp = 0;
}

void udp_send_client(struct worker *w, const struct turn_client *to, const uint8_t *buf,
		     size_t len)
{
	udp_out_queue(w, w->udp[to->listener].fd, &to->addr, buf, len);
}
