/* Socket creation shared by listeners and relay sockets; see sock.h. */
#include "relay/io/sock.h"

#include <errno.h>
#include <netinet/in.h>
#include <unistd.h>

int sock_open_bound(const struct sockaddr_storage *addr, int type, bool reuseport)
{
	int fd = socket(addr->ss_family, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	int one = 1;
	if (addr->ss_family == AF_INET6 &&
	    setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one)) < 0)
		goto fail;
	if (reuseport && (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
			  setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) < 0))
		goto fail;
	if (bind(fd, (const struct sockaddr *)addr, sockaddr_len(addr)) < 0)
		goto fail;
	if (type == SOCK_DGRAM && reuseport) {
		/* A listener takes every client's datagrams: a deeper queue rides
		 * out scheduling gaps instead of dropping. Best effort (the kernel
		 * caps it at net.core.rmem_max / wmem_max). */
		int bytes = 4 * 1024 * 1024;
		setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &bytes, sizeof(bytes));
		setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &bytes, sizeof(bytes));
	}
	return fd;
fail:;
	int e = errno;
	close(fd);
	return -e;
}
