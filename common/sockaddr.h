/* Socket address helpers shared by conf/, auth/ and relay/. An address
 * travels as a struct sockaddr_storage plus nothing else: the family says
 * which length applies. Formatting helpers exist for config errors and the
 * audit trail only; operational logs never print addresses. */
#ifndef TERN_COMMON_SOCKADDR_H
#define TERN_COMMON_SOCKADDR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <netinet/in.h>

socklen_t sockaddr_len(const struct sockaddr_storage *sa);
uint16_t sockaddr_port(const struct sockaddr_storage *sa);
void sockaddr_set_port(struct sockaddr_storage *sa, uint16_t port);
/* Same family, address and port. */
bool sockaddr_equal(const struct sockaddr_storage *a, const struct sockaddr_storage *b);
/* Same family and address, port ignored. */
bool sockaddr_same_ip(const struct sockaddr_storage *a, const struct sockaddr_storage *b);
/* Pointer to the raw address bytes (4 or 16) and their count. */
const uint8_t *sockaddr_ip_bytes(const struct sockaddr_storage *sa, size_t *len);
/* Builds an address from raw bytes; family AF_INET (4 bytes) or AF_INET6 (16). */
void sockaddr_from_bytes(struct sockaddr_storage *sa, int family, const uint8_t *ip, uint16_t port);

/* Parses "1.2.3.4:5", "[::1]:5", or with allow_no_port "1.2.3.4" / "::1"
 * (port 0). Returns 0 or -EINVAL. */
int sockaddr_parse(const char *text, bool allow_no_port, struct sockaddr_storage *out);
/* "1.2.3.4:5" or "[::1]:5"; returns 0 or -ENOSPC. */
int sockaddr_format(const struct sockaddr_storage *sa, char *buf, size_t cap);

#define SOCKADDR_STRLEN 64

#endif
