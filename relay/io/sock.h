/* Opening sockets the way every listener and relay needs them:
 * non-blocking, close-on-exec, IPv6 sockets IPv6-only (IPv4 peers are
 * judged as IPv4, never reached through mapped addresses). */
#ifndef TERN_RELAY_IO_SOCK_H
#define TERN_RELAY_IO_SOCK_H

#include <stdbool.h>

#include "common/sockaddr.h"

/* Returns a bound socket or negative errno. */
int sock_open_bound(const struct sockaddr_storage *addr, int type, bool reuseport);

#endif
