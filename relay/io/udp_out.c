/* Outgoing datagrams, batched: every datagram a worker sends while handling
 * one batch of input is queued here and leaves in one sendmmsg per socket
 * run, instead of one sendto each. Flushed at the end of every callback that
 * queues (udp_out_flush), and whenever the socket changes or the queue is
 * full, so order per socket is kept. Oversized datagrams bypass the queue. */
#include "relay/io/worker.h"

#include <string.h>

void udp_out_flush(struct worker *w)
{
	struct udp_out *q = w->out;
	unsigned done = 0;
	while (done < q->n) {
		int r = sendmmsg(q->fd, q->msgs + done, q->n - done, MSG_DONTWAIT);
		if (r <= 0) {
			/* A full socket buffer or an unreachable peer: drop this one, go on. */
			mc_inc(&w->turn.metrics.send_dropped);
			done++;
			continue;
		}
		done += (unsigned)r;
	}
	q->n = 0;
}

void udp_out_queue(struct worker *w, int fd, const struct sockaddr_storage *to,
		   const uint8_t *buf, size_t len)
{
	struct udp_out *q = w->out;
	if (q->n && (q->fd != fd || q->n == WORKER_BATCH))
		udp_out_flush(w);
	if (len > sizeof(q->data[0])) {
		udp_out_flush(w);
		if (sendto(fd, buf, len, MSG_DONTWAIT, (const struct sockaddr *)to,
			   sockaddr_len(to)) < 0)
			mc_inc(&w->turn.metrics.send_dropped);
		return;
	}
	unsigned i = q->n++;
	q->fd = fd;
	memcpy(q->data[i], buf, len);
	q->addrs[i] = *to;
	q->iov[i].iov_base = q->data[i];
	q->iov[i].iov_len = len;
	struct msghdr *h = &q->msgs[i].msg_hdr;
	memset(h, 0, sizeof(*h));
	h->msg_name = &q->addrs[i];
	h->msg_namelen = sockaddr_len(to);
	h->msg_iov = &q->iov[i];
	h->msg_iovlen = 1;
}
