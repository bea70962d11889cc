/* A do-nothing UDP forwarder: the floor a TURN relay's data path is measured
 * against (tests/bench). It does what a relay must do per packet and nothing
 * more: ChannelData from a client on the "client" socket loses its 4-byte
 * header and leaves from that client's own relay socket toward the peer
 * 127.0.0.1:(peer_port_base + channel - 0x4000); a datagram arriving on a
 * relay socket gets the header back and goes to its client. No STUN, no
 * permissions, no authentication. One thread, epoll, recvmmsg/sendmmsg, like
 * a ternd worker.
 *
 *   forwarder --listen 127.0.0.1:PORT --peer-port-base P
 * prints {"event":"ready"} once bound and runs until SIGTERM/SIGINT. */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/sockaddr.h"

#define FW_BATCH        32
#define FW_DGRAM_MAX    2048
#define FW_TABLE        (1u << 16)      /* clients; a power of two */
#define FW_CHANNEL_MIN  0x4000

struct fw_client {
	struct sockaddr_in addr;        /* port 0: free slot */
	int relay_fd;
	uint16_t channel;
};

struct fw_out {
	int fd;
	unsigned n;
	struct mmsghdr msgs[FW_BATCH];
	struct iovec iov[FW_BATCH][2];
	struct sockaddr_in to[FW_BATCH];
	uint8_t hdr[FW_BATCH][4];
};

static volatile sig_atomic_t stop;
static struct fw_client table[FW_TABLE];
static unsigned n_clients;
static int client_fd, epfd, peer_port_base;
static struct fw_out out;
static struct mmsghdr rx_msgs[FW_BATCH];
static struct iovec rx_iov[FW_BATCH];
static struct sockaddr_in rx_addr[FW_BATCH];
static uint8_t rx_data[FW_BATCH][FW_DGRAM_MAX];

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

static void out_flush(void)
{
	unsigned done = 0;
	while (done < out.n) {
		int r = sendmmsg(out.fd, out.msgs + done, out.n - done, MSG_DONTWAIT);
		done += r > 0 ? (unsigned)r : 1;        /* drop what the kernel refuses */
	}
	out.n = 0;
}

/* Queues hdr (0 or 4 bytes) + data to `to` on fd; the data stays in the
 * receive batch, which is not reused before the flush at the end of it. */
static void out_queue(int fd, const struct sockaddr_in *to, const uint8_t *hdr, size_t hlen,
		      uint8_t *data, size_t len)
{
	if (out.n && (out.fd != fd || out.n == FW_BATCH))
		out_flush();
	unsigned i = out.n++;
	out.fd = fd;
	out.to[i] = *to;
	if (hlen)
		memcpy(out.hdr[i], hdr, hlen);
	out.iov[i][0] = (struct iovec){ .iov_base = out.hdr[i], .iov_len = hlen };
	out.iov[i][1] = (struct iovec){ .iov_base = data, .iov_len = len };
	out.msgs[i].msg_hdr = (struct msghdr){ .msg_name = &out.to[i],
					       .msg_namelen = sizeof(out.to[i]),
					       .msg_iov = out.iov[i], .msg_iovlen = 2 };
}

static int rx_batch(int fd)
{
	for (int i = 0; i < FW_BATCH; i++) {
		rx_iov[i] = (struct iovec){ .iov_base = rx_data[i], .iov_len = FW_DGRAM_MAX };
		rx_msgs[i].msg_hdr = (struct msghdr){ .msg_name = &rx_addr[i],
						      .msg_namelen = sizeof(rx_addr[i]),
						      .msg_iov = &rx_iov[i], .msg_iovlen = 1 };
	}
	return recvmmsg(fd, rx_msgs, FW_BATCH, MSG_DONTWAIT, NULL);
}

static uint32_t slot_of(const struct sockaddr_in *a)
{
	uint64_t k = ((uint64_t)a->sin_addr.s_addr << 16) | a->sin_port;
	return (uint32_t)((k * 0x9E3779B97F4A7C15ull) >> 48) & (FW_TABLE - 1);
}

/* The client's entry, created with a relay socket on first sight. */
static struct fw_client *client_lookup(const struct sockaddr_in *a, uint16_t channel)
{
	for (uint32_t i = slot_of(a), tries = 0; tries < FW_TABLE; i = (i + 1) & (FW_TABLE - 1),
	     tries++) {
		struct fw_client *c = &table[i];
		if (c->addr.sin_port == a->sin_port && c->addr.sin_addr.s_addr == a->sin_addr.s_addr)
			return c;
		if (c->addr.sin_port != 0)
			continue;
		if (n_clients >= FW_TABLE / 2)
			return NULL;
		int fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		struct sockaddr_in any = { .sin_family = AF_INET,
					   .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
		if (fd < 0 || bind(fd, (struct sockaddr *)&any, sizeof(any)) < 0) {
			if (fd >= 0)
				close(fd);
			return NULL;
		}
		struct epoll_event ev = { .events = EPOLLIN, .data.ptr = c };
		if (epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
			close(fd);
			return NULL;
		}
		c->addr = *a;
		c->relay_fd = fd;
		c->channel = channel;
		n_clients++;
		return c;
	}
	return NULL;
}

static void client_readable(void)
{
	for (int round = 0; round < 4; round++) {
		int n = rx_batch(client_fd);
		if (n <= 0)
			break;
		for (int i = 0; i < n; i++) {
			const uint8_t *b = rx_data[i];
			size_t len = rx_msgs[i].msg_len;
			if (len < 4 || (b[0] & 0xC0) != 0x40)
				continue;
			uint16_t channel = (uint16_t)(b[0] << 8 | b[1]);
			size_t plen = (size_t)(b[2] << 8 | b[3]);
			struct fw_client *c = client_lookup(&rx_addr[i], channel);
			if (!c || plen > len - 4)
				continue;
			struct sockaddr_in peer = {
				.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK),
				.sin_port = htons((uint16_t)(peer_port_base + channel - FW_CHANNEL_MIN)),
			};
			out_queue(c->relay_fd, &peer, NULL, 0, rx_data[i] + 4, plen);
		}
		if (n < FW_BATCH)
			break;
	}
	out_flush();
}

static void relay_readable(struct fw_client *c)
{
	for (int round = 0; round < 4; round++) {
		int n = rx_batch(c->relay_fd);
		if (n <= 0)
			break;
		for (int i = 0; i < n; i++) {
			size_t len = rx_msgs[i].msg_len;
			uint8_t hdr[4] = { (uint8_t)(c->channel >> 8), (uint8_t)c->channel,
					   (uint8_t)(len >> 8), (uint8_t)len };
			out_queue(client_fd, &c->addr, hdr, 4, rx_data[i], len);
		}
		if (n < FW_BATCH)
			break;
	}
	out_flush();
}

static int open_listener(const char *where)
{
	struct sockaddr_storage ss;
	if (sockaddr_parse(where, false, &ss) < 0 || ss.ss_family != AF_INET)
		return -EINVAL;
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (bind(fd, (struct sockaddr *)&ss, sizeof(struct sockaddr_in)) < 0) {
		int e = -errno;
		close(fd);
		return e;
	}
	/* The same queue depth as a ternd listener (relay/io/sock.c), so the
	 * two lose packets to the same scheduling gaps. Best effort. */
	int bytes = 4 * 1024 * 1024;
	setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &bytes, sizeof(bytes));
	setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &bytes, sizeof(bytes));
	return fd;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "listen", required_argument, NULL, 'l' },
		{ "peer-port-base", required_argument, NULL, 'p' },
		{ NULL, 0, NULL, 0 },
	};
	const char *listen_at = NULL;
	int opt;
	while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (opt == 'l')
			listen_at = optarg;
		else if (opt == 'p')
			peer_port_base = atoi(optarg);
		else
			return 2;
	}
	if (!listen_at || peer_port_base <= 0 || peer_port_base > 65000) {
		fprintf(stderr, "usage: forwarder --listen 127.0.0.1:PORT --peer-port-base P\n");
		return 2;
	}
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	signal(SIGTERM, on_signal);
	signal(SIGINT, on_signal);
	client_fd = open_listener(listen_at);
	epfd = epoll_create1(EPOLL_CLOEXEC);
	struct epoll_event ev = { .events = EPOLLIN, .data.ptr = NULL };
	if (client_fd < 0 || epfd < 0 || epoll_ctl(epfd, EPOLL_CTL_ADD, client_fd, &ev) < 0) {
		fprintf(stderr, "forwarder: cannot listen on %s\n", listen_at);
		return 1;
	}
	printf("{\"event\":\"ready\"}\n");
	fflush(stdout);
	while (!stop) {
		struct epoll_event evs[64];
		int n = epoll_wait(epfd, evs, 64, 100);
		for (int i = 0; i < n; i++) {
			if (evs[i].data.ptr)
				relay_readable(evs[i].data.ptr);
			else
				client_readable();
		}
	}
	for (unsigned i = 0; i < FW_TABLE; i++)
		if (table[i].addr.sin_port)
			close(table[i].relay_fd);
	close(epfd);
	close(client_fd);
	return 0;
}
