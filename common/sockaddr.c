/* Socket address helpers; see sockaddr.h. */
#include "common/sockaddr.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

socklen_t sockaddr_len(const struct sockaddr_storage *sa)
{
	return sa->ss_family == AF_INET6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in);
}

uint16_t sockaddr_port(const struct sockaddr_storage *sa)
{
	if (sa->ss_family == AF_INET6)
		return ntohs(((const struct sockaddr_in6 *)sa)->sin6_port);
	return ntohs(((const struct sockaddr_in *)sa)->sin_port);
}

void sockaddr_set_port(struct sockaddr_storage *sa, uint16_t port)
{
	if (sa->ss_family == AF_INET6)
		((struct sockaddr_in6 *)sa)->sin6_port = htons(port);
	else
		((struct sockaddr_in *)sa)->sin_port = htons(port);
}

const uint8_t *sockaddr_ip_bytes(const struct sockaddr_storage *sa, size_t *len)
{
	if (sa->ss_family == AF_INET6) {
		*len = 16;
		return ((const struct sockaddr_in6 *)sa)->sin6_addr.s6_addr;
	}
	*len = 4;
	return (const uint8_t *)&((const struct sockaddr_in *)sa)->sin_addr.s_addr;
}

bool sockaddr_same_ip(const struct sockaddr_storage *a, const struct sockaddr_storage *b)
{
	if (a->ss_family != b->ss_family)
		return false;
	size_t la, lb;
	const uint8_t *pa = sockaddr_ip_bytes(a, &la), *pb = sockaddr_ip_bytes(b, &lb);
	return la == lb && memcmp(pa, pb, la) == 0;
}

bool sockaddr_equal(const struct sockaddr_storage *a, const struct sockaddr_storage *b)
{
	return sockaddr_same_ip(a, b) && sockaddr_port(a) == sockaddr_port(b);
}

void sockaddr_from_bytes(struct sockaddr_storage *sa, int family, const uint8_t *ip, uint16_t port)
{
	memset(sa, 0, sizeof(*sa));
	if (family == AF_INET6) {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)sa;
		s6->sin6_family = AF_INET6;
		memcpy(s6->sin6_addr.s6_addr, ip, 16);
		s6->sin6_port = htons(port);
	} else {
		struct sockaddr_in *s4 = (struct sockaddr_in *)sa;
		s4->sin_family = AF_INET;
		memcpy(&s4->sin_addr.s_addr, ip, 4);
		s4->sin_port = htons(port);
	}
}

static int parse_port(const char *s, uint16_t *port)
{
	/* Digits only: strtoul alone would accept blanks and signs. */
	if (*s == '\0' || strspn(s, "0123456789") != strlen(s))
		return -EINVAL;
	char *end;
	errno = 0;
	unsigned long v = strtoul(s, &end, 10);
	if (errno || *end != '\0' || v > 65535 || s[0] == '-' || s[0] == '+')
		return -EINVAL;
	*port = (uint16_t)v;
	return 0;
}

int sockaddr_parse(const char *text, bool allow_no_port, struct sockaddr_storage *out)
{
	char host[INET6_ADDRSTRLEN + 1];
	const char *port_text = NULL;
	size_t hlen;
	bool bracketed = text[0] == '[';
	if (bracketed) {
		const char *close = strchr(text, ']');
		if (!close)
			return -EINVAL;
		hlen = (size_t)(close - text - 1);
		if (close[1] == ':')
			port_text = close + 2;
		else if (close[1] != '\0')
			return -EINVAL;
		text++;
	} else {
		const char *colon = strchr(text, ':');
		if (colon && strchr(colon + 1, ':'))
			colon = NULL; /* bare IPv6 without brackets: no port */
		hlen = colon ? (size_t)(colon - text) : strlen(text);
		if (colon)
			port_text = colon + 1;
	}
	if (hlen == 0 || hlen >= sizeof(host))
		return -EINVAL;
	memcpy(host, text, hlen);
	host[hlen] = '\0';
	uint16_t port = 0;
	if (port_text) {
		if (parse_port(port_text, &port) < 0)
			return -EINVAL;
	} else if (!allow_no_port) {
		return -EINVAL;
	}
	uint8_t ip[16];
	if (!bracketed && inet_pton(AF_INET, host, ip) == 1)
		sockaddr_from_bytes(out, AF_INET, ip, port);
	else if (inet_pton(AF_INET6, host, ip) == 1)
		sockaddr_from_bytes(out, AF_INET6, ip, port);
	else
		return -EINVAL;
	return 0;
}

int sockaddr_format(const struct sockaddr_storage *sa, char *buf, size_t cap)
{
	char host[INET6_ADDRSTRLEN];
	size_t len;
	const uint8_t *ip = sockaddr_ip_bytes(sa, &len);
	inet_ntop(sa->ss_family == AF_INET6 ? AF_INET6 : AF_INET, ip, host, sizeof(host));
	int n = sa->ss_family == AF_INET6
		? snprintf(buf, cap, "[%s]:%u", host, sockaddr_port(sa))
		: snprintf(buf, cap, "%s:%u", host, sockaddr_port(sa));
	return (n < 0 || (size_t)n >= cap) ? -ENOSPC : 0;
}
