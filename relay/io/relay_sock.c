/* Relay sockets: the UDP sockets on the relayed transport addresses that
 * peers send to, and the io operations the TURN server calls (send to a
 * client, send to a peer, open and close a relay). */
#include "relay/io/worker.h"

#include <errno.h>
#include <event2/event.h>
#include <netinet/in.h>
#include <string.h>
#include <unistd.h>

#include "relay/io/sock.h"

/* Datagrams from peers, read in batches. The relay belongs to the worker
 * whose loop runs this callback. */
static void on_relay_readable(evutil_socket_t fd, short what, void *arg)
{
	(void)what;
	struct turn_relay *r = arg;
	struct worker *w = worker_self();
	worker_touch_clock(w);
	for (int round = 0; round < 4; round++) {
		int n = udp_batch_receive(w, fd);
		if (n <= 0)
			break;
		for (int i = 0; i < n; i++) {
			if (w->batch->msgs[i].msg_hdr.msg_flags & MSG_TRUNC) {
				mc_inc(&w->turn.metrics.truncated);
				continue;
			}
			turn_server_peer_input(&w->turn, r, &w->batch->addrs[i], w->batch->data[i],
					       w->batch->msgs[i].msg_len);
		}
		if (n < WORKER_BATCH)
			break;
	}
	udp_out_flush(w);
}

static void io_send_client(void *io, const struct turn_client *to, const uint8_t *buf, size_t len)
{
	struct worker *w = io;
	if (to->transport == TURN_UDP)
		udp_send_client(w, to, buf, len);
	else
		tcp_send_client(w, to, buf, len);
}

static void io_send_peer(void *io, struct turn_relay *r, const struct sockaddr_storage *peer,
			 const uint8_t *buf, size_t len)
{
	udp_out_queue(io, r->fd, peer, buf, len);
}

static int set_dont_fragment(int fd, int family)
{
	int v = family == AF_INET6 ? IPV6_PMTUDISC_DO : IP_PMTUDISC_DO;
	return family == AF_INET6
		? setsockopt(fd, IPPROTO_IPV6, IPV6_MTU_DISCOVER, &v, sizeof(v))
		: setsockopt(fd, IPPROTO_IP, IP_MTU_DISCOVER, &v, sizeof(v));
}

static int io_relay_open(void *io, struct turn_relay *r, bool dont_fragment)
{
	struct worker *w = io;
	int fd = sock_open_bound(&r->addr, SOCK_DGRAM, false);
	if (fd < 0)
		return fd;
	if (dont_fragment && set_dont_fragment(fd, r->addr.ss_family) < 0) {
		int e = errno;
		close(fd);
		return -e;
	}
	r->fd = fd;
	r->io = event_new(w->base, fd, EV_READ | EV_PERSIST, on_relay_readable, r);
	if (!r->io || event_add(r->io, NULL) < 0) {
		if (r->io)
			event_free(r->io);
		r->io = NULL;
		close(fd);
		r->fd = -1;
		return -ENOMEM;
	}
	return 0;
}

static void io_relay_close(void *io, struct turn_relay *r)
{
	/* Datagrams queued for this socket must leave before it closes. */
	udp_out_flush(io);
	if (r->io)
		event_free(r->io);
	r->io = NULL;
	if (r->fd >= 0)
		close(r->fd);
	r->fd = -1;
}

const struct turn_io_ops relay_io_ops = {
	.send_client = io_send_client,
	.send_peer = io_send_peer,
	.relay_open = io_relay_open,
	.relay_close = io_relay_close,
};
