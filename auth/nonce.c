/* Stateless nonces (see nonce.h). Layout, 45 ASCII characters:
 *
 *   "obMatJos2"  nonce cookie (RFC 8489 section 9.2)
 *   "gAAA"       base64 of the 24-bit security feature set, bits numbered
 *                from the most significant (RFC 8489 section 18.1): bit 0
 *                "Password algorithms" set, bit 1 "Username anonymity" clear
 *   32 chars     base64url (no padding) of 24 bytes: issue time (monotonic
 *                seconds, 8 bytes big-endian) || first 16 bytes of
 *                HMAC-SHA256(key, cookie+features || time || family || ip || port)
 *
 * The MAC binds the nonce to the client's address AND port. A TURN client
 * keeps its 5-tuple for the life of its allocation (RFC 8656 identifies the
 * allocation by it), so a NAT rebinding starts over anyway; binding the port
 * too means a nonce leaked from one flow is useless to another flow behind
 * the same NAT. The key lives only in memory: a restart invalidates every
 * nonce, which costs a client one extra 438 round trip. */
#include "auth/nonce.h"

#include "common/hmac.h"

#include <errno.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#define NONCE_COOKIE      "obMatJos2"
#define NONCE_COOKIE_LEN  (sizeof(NONCE_COOKIE) - 1)
#define NONCE_FEATURES    "gAAA"          /* base64 of 0x80 0x00 0x00 */
#define NONCE_PREFIX_LEN  (NONCE_COOKIE_LEN + 4)
#define NONCE_TIME_LEN    8
#define NONCE_MAC_LEN     16
#define NONCE_RAW_LEN     (NONCE_TIME_LEN + NONCE_MAC_LEN)   /* 24: a multiple of 3 */
#define NONCE_TEXT_LEN    (NONCE_PREFIX_LEN + NONCE_RAW_LEN / 3 * 4)

_Static_assert(NONCE_TEXT_LEN <= NONCE_MAX_LEN, "nonce must fit NONCE_MAX_LEN");

static const char b64url[] =
	"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/* len must be a multiple of 3: the raw part always is, so no padding. */
static void b64url_encode(const uint8_t *in, size_t len, char *out)
{
	for (size_t i = 0; i < len; i += 3) {
		uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];
		*out++ = b64url[v >> 18 & 63];
		*out++ = b64url[v >> 12 & 63];
		*out++ = b64url[v >> 6 & 63];
		*out++ = b64url[v & 63];
	}
}

static int b64url_value(char c)
{
	const char *p = c ? memchr(b64url, c, 64) : NULL;
	return p ? (int)(p - b64url) : -1;
}

/* Strict inverse of b64url_encode; -EINVAL on any character outside the alphabet. */
static int b64url_decode(const char *in, size_t len, uint8_t *out)
{
	if (len % 4)
		return -EINVAL;
	for (size_t i = 0; i < len; i += 4) {
		uint32_t v = 0;
		for (size_t j = 0; j < 4; j++) {
			int d = b64url_value(in[i + j]);
			if (d < 0)
				return -EINVAL;
			v = v << 6 | (uint32_t)d;
		}
		*out++ = (uint8_t)(v >> 16);
		*out++ = (uint8_t)(v >> 8);
		*out++ = (uint8_t)v;
	}
	return 0;
}

int nonce_key_init(struct nonce_key *k)
{
	return RAND_bytes(k->key, sizeof(k->key)) == 1 ? 0 : -EIO;
}

static int client_bytes(const struct sockaddr_storage *client, uint8_t *buf, size_t *len)
{
	if (client->ss_family != AF_INET && client->ss_family != AF_INET6)
		return -EAFNOSUPPORT;
	size_t iplen;
	const uint8_t *ip = sockaddr_ip_bytes(client, &iplen);
	uint16_t port = sockaddr_port(client);

	buf[0] = client->ss_family == AF_INET6 ? 6 : 4;
	memcpy(buf + 1, ip, iplen);
	buf[1 + iplen] = (uint8_t)(port >> 8);
	buf[2 + iplen] = (uint8_t)port;
	*len = iplen + 3;
	return 0;
}

/* The MAC also covers the cookie and feature bits, so a client cannot flip
 * the advertised features of a nonce it was given. */
static int nonce_mac(const struct nonce_key *k, const uint8_t time_be[NONCE_TIME_LEN],
		     const struct sockaddr_storage *client, uint8_t mac[NONCE_MAC_LEN])
{
	uint8_t msg[NONCE_PREFIX_LEN + NONCE_TIME_LEN + 1 + 16 + 2];
	size_t clen;
	int r = client_bytes(client, msg + NONCE_PREFIX_LEN + NONCE_TIME_LEN, &clen);
	if (r < 0)
		return r;
	memcpy(msg, NONCE_COOKIE NONCE_FEATURES, NONCE_PREFIX_LEN);
	memcpy(msg + NONCE_PREFIX_LEN, time_be, NONCE_TIME_LEN);

	uint8_t full[HMAC_OUT_MAX];
	const struct hmac_part part = { msg, NONCE_PREFIX_LEN + NONCE_TIME_LEN + clen };
	if (hmac_compute(HMAC_DIGEST_SHA256, k->key, sizeof(k->key), &part, 1, full) < 0)
		return -EIO;
	memcpy(mac, full, NONCE_MAC_LEN);
	return 0;
}

int nonce_make(const struct nonce_key *k, uint64_t now_s, const struct sockaddr_storage *client,
	       char *out, size_t cap)
{
	if (cap < NONCE_TEXT_LEN)
		return -ENOSPC;
	uint8_t raw[NONCE_RAW_LEN];
	for (int i = 0; i < NONCE_TIME_LEN; i++)
		raw[i] = (uint8_t)(now_s >> (56 - 8 * i));
	int r = nonce_mac(k, raw, client, raw + NONCE_TIME_LEN);
	if (r < 0)
		return r;

	memcpy(out, NONCE_COOKIE NONCE_FEATURES, NONCE_PREFIX_LEN);
	b64url_encode(raw, sizeof(raw), out + NONCE_PREFIX_LEN);
	return (int)NONCE_TEXT_LEN;
}

int nonce_check(const struct nonce_key *k, const char *nonce, size_t len, uint64_t now_s,
		uint64_t lifetime_s, const struct sockaddr_storage *client)
{
	uint8_t raw[NONCE_RAW_LEN], mac[NONCE_MAC_LEN];

	if (!nonce || len != NONCE_TEXT_LEN ||
	    memcmp(nonce, NONCE_COOKIE NONCE_FEATURES, NONCE_PREFIX_LEN) != 0 ||
	    b64url_decode(nonce + NONCE_PREFIX_LEN, len - NONCE_PREFIX_LEN, raw) < 0)
		return -EINVAL;
	if (nonce_mac(k, raw, client, mac) < 0 ||
	    CRYPTO_memcmp(mac, raw + NONCE_TIME_LEN, NONCE_MAC_LEN) != 0)
		return -EINVAL;

	uint64_t issued = 0;
	for (int i = 0; i < NONCE_TIME_LEN; i++)
		issued = issued << 8 | raw[i];
	/* Authentic, so only its age can be wrong. One "from the future" was
	 * minted against a later cached clock (another worker's, say): treat it
	 * as stale so the client simply retries with a fresh one. */
	if (issued > now_s || now_s - issued > lifetime_s)
		return -ESTALE;
	return 0;
}

int nonce_has_password_algorithms(const char *nonce, size_t len)
{
	uint8_t feat[3];
	if (!nonce || len < NONCE_PREFIX_LEN || memcmp(nonce, NONCE_COOKIE, NONCE_COOKIE_LEN) != 0)
		return 0;
	/* The features use the standard base64 alphabet; its first 62 symbols
	 * agree with base64url, and bit 0 lives in the first symbol. */
	const char *f = nonce + NONCE_COOKIE_LEN;
	char tmp[4];
	for (int i = 0; i < 4; i++)
		tmp[i] = f[i] == '+' ? '-' : f[i] == '/' ? '_' : f[i];
	if (b64url_decode(tmp, 4, feat) < 0)
		return 0;
	return (feat[0] & 0x80) != 0;
}
