/* TLS ClientHello reader, for routing port 443 by SNI and ALPN without
 * terminating TLS (RFC 8446 section 4.1.2, RFC 5246 section 7.4.1.2,
 * RFC 6066 section 3, RFC 7301 section 3.1).
 *
 * Pure: no I/O, no allocation, no logging. The caller buffers the first bytes
 * of a TCP stream and calls hello_parse() each time more arrive; the parser
 * walks the records with a bounded cursor and never reads past `len`. The
 * buffer is only read: on HELLO_OK the caller either hands the same bytes to
 * its own TLS stack or forwards them untouched to the web backend. */
#ifndef TERN_RELAY_TLS_CLIENTHELLO_H
#define TERN_RELAY_TLS_CLIENTHELLO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define HELLO_SNI_MAX        253  /* a DNS name in text form, no trailing dot */
#define HELLO_MAX_ALPN       8    /* protocols kept; later ones are checked, not kept */
#define HELLO_ALPN_MAX_LEN   31   /* longer protocol names are checked, not kept */
#define HELLO_MAX_EXTENSIONS 128  /* more and the hello is MALFORMED (real clients send < 30) */
#define HELLO_MAX_RECORD     16384 /* TLSPlaintext.length limit, RFC 8446 section 5.1 */

enum hello_status {
	HELLO_NEED_MORE = 0,
	HELLO_OK = 1,
	HELLO_NOT_TLS = -1,
	HELLO_MALFORMED = -2,
};

struct hello_info {
	/* ClientHello.legacy_version (0x0303 for TLS 1.2 and 1.3 clients). The
	 * record-layer version is only checked (0x0301..0x0304), not reported. */
	uint16_t legacy_version;
	/* The first host_name of server_name, lower-cased, NUL-terminated. */
	bool has_sni;
	char sni[HELLO_SNI_MAX + 3];
	size_t sni_len;
	/* The first HELLO_MAX_ALPN protocols of at most HELLO_ALPN_MAX_LEN bytes,
	 * in the client's order, each NUL-terminated (ALPN names are opaque
	 * bytes: use alpn_len, a name may hold a NUL). */
	unsigned n_alpn;
	char alpn[HELLO_MAX_ALPN][HELLO_ALPN_MAX_LEN + 1];
	size_t alpn_len[HELLO_MAX_ALPN];
	/* supported_versions lists 0x0304. */
	bool offers_tls13;
};

/* Looks at the first `len` bytes of a stream. Returns:
 *  HELLO_NOT_TLS    the first byte is not 22 (handshake record): plain HTTP,
 *                   STUN (0x00/0x01), ChannelData (0x40-0x7F), an SSLv2-
 *                   compatible hello (high bit set), anything else;
 *  HELLO_NEED_MORE  a valid prefix of a ClientHello; only ever returned while
 *                   len < max_len, so a caller buffering up to max_len bytes
 *                   always gets a verdict;
 *  HELLO_OK         *out filled (written only then);
 *  HELLO_MALFORMED  anything else, including a hello whose records would
 *                   take more than max_len bytes of stream.
 * The hello may span several handshake records (record version
 * 0x0301..0x0304, 1..16384 bytes each, nothing but handshake records before
 * the hello ends); the record holding its last byte must end with it. Bytes
 * after that record are not looked at (they may be a 0-RTT flight). See
 * clienthello.c for the details of what counts as malformed. */
enum hello_status hello_parse(const uint8_t *buf, size_t len, size_t max_len,
			      struct hello_info *out);

/* Routing helper: true if a kept ALPN protocol equals `proto` exactly. */
bool hello_offers_alpn(const struct hello_info *h, const char *proto);

#endif
