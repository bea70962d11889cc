/* TLS ClientHello reader: the first step of sharing port 443 with a web
 * site. The listener calls hello_parse() on the bytes buffered so far and,
 * from SNI and ALPN, terminates TURN-over-TLS itself or splices the
 * connection to the web backend; nothing here touches sockets or TLS state.
 *
 * Two passes over the caller's buffer, both bounded by `len`:
 *  1. hello_frame() walks the record headers. It alone decides NOT_TLS and
 *     NEED_MORE, and it checks the four-byte handshake header as soon as its
 *     bytes arrive, so garbage after a 0x16 fails early, not at max_len.
 *  2. Once every byte of the hello is buffered, a cursor (struct hcur) reads
 *     the handshake body across record boundaries, skipping the 5-byte
 *     headers pass 1 validated. Its error is sticky: reads past the end of
 *     the enclosing vector return 0 and mark the cursor, checked once per
 *     vector.
 *
 * Choices where the RFCs leave room, all towards refusing:
 *  - Record version 0x0301..0x0304 (SSL 3.0's 0x0300 is refused), records of
 *    1..16384 bytes (RFC 8446 section 5.1 forbids empty handshake fragments),
 *    no other record type until the hello ends (no interleaving, ibid.).
 *  - The record holding the hello's last byte must end there: a client sends
 *    nothing else in the handshake before the ServerHello.
 *  - ClientHello.legacy_version must be 0x0301 or above (3.x); higher minor
 *    versions are accepted as RFC 5246 appendix E.1 asks of servers.
 *  - session id <= 32 bytes, cipher suites an even number >= 2 of bytes,
 *    >= 1 compression method; no extensions block at all is valid (TLS 1.0-
 *    1.2), otherwise it must fill the rest of the body exactly.
 *  - Any extension type twice -> MALFORMED (RFC 8446 section 4.2); more than
 *    HELLO_MAX_EXTENSIONS -> MALFORMED, which bounds the duplicate check;
 *    pre_shared_key anywhere but last -> MALFORMED (section 4.2.11).
 *  - server_name: a non-empty list; every entry is taken to be a type byte
 *    and a 16-bit length (the only shape RFC 6066 defines); the first
 *    host_name is used, later ones are only length-checked. It must be 1..253
 *    bytes of letters, digits, '-' and '.', labels of 1..63 bytes (so no
 *    leading, doubled or trailing dot): IP literals in brackets, '_' and
 *    UTF-8 are refused. Hyphen placement is not checked: routing only
 *    compares names.
 *  - ALPN: a non-empty list of non-empty names (RFC 7301 section 3.1); names
 *    over HELLO_ALPN_MAX_LEN bytes, and names past the first HELLO_MAX_ALPN
 *    kept ones, are validated and skipped.
 *  - supported_versions: 1-byte length, even, 2..254 (RFC 8446 section 4.2.1).
 *    Other extensions are only length-checked. */
#include "relay/tls/clienthello.h"

#include <string.h>

#define TLS_RECORD_HEADER   5
#define TLS_CT_HANDSHAKE    22
#define TLS_HS_CLIENT_HELLO 1
#define EXT_SERVER_NAME     0
#define EXT_ALPN            16
#define EXT_PRE_SHARED_KEY  41
#define EXT_SUPPORTED_VERS  43
#define SNI_HOST_NAME       0
#define DNS_LABEL_MAX       63

static size_t min_size(size_t a, size_t b)
{
	return a < b ? a : b;
}

/* Checks the bytes of a record header buffered so far (avail may be < 5),
 * so that a bad version or length fails as soon as it is visible. */
static enum hello_status record_header_check(const uint8_t *h, size_t avail, bool first)
{
	if (avail >= 1 && h[0] != TLS_CT_HANDSHAKE)
		return first ? HELLO_NOT_TLS : HELLO_MALFORMED;
	if (avail >= 2 && h[1] != 3)
		return HELLO_MALFORMED;
	if (avail >= 3 && (h[2] < 1 || h[2] > 4))
		return HELLO_MALFORMED;
	if (avail >= 4 && h[3] > HELLO_MAX_RECORD >> 8)
		return HELLO_MALFORMED;
	if (avail >= 5) {
		size_t n = (size_t)h[3] << 8 | h[4];
		return n == 0 || n > HELLO_MAX_RECORD ? HELLO_MALFORMED : HELLO_OK;
	}
	return HELLO_NEED_MORE;
}

/* Pass 1: record framing. On HELLO_OK, *body_len is the ClientHello body
 * length and every record carrying it is buffered and valid. */
static enum hello_status hello_frame(const uint8_t *buf, size_t len, size_t max_len,
				     size_t *body_len)
{
	uint8_t hs[4];          /* the handshake header, possibly split over records */
	size_t got = 0;         /* handshake bytes before the current record */
	size_t need = 0;        /* 4 + body length, once known */
	size_t off = 0;

	/* Every iteration advances off by a whole record of >= 6 bytes. */
	while (true) {
		enum hello_status st = record_header_check(buf + off, len - off, off == 0);
		if (st < 0)
			return st;
		/* The next record cannot fit, or cannot hold what is missing. */
		if (max_len - off < TLS_RECORD_HEADER ||
		    (need != 0 && need - got > max_len - off - TLS_RECORD_HEADER))
			return HELLO_MALFORMED;
		if (st == HELLO_NEED_MORE)
			return st;
		size_t frag = (size_t)buf[off + 3] << 8 | buf[off + 4];
		size_t start = off + TLS_RECORD_HEADER, end = start + frag;
		if (end > max_len)
			return HELLO_MALFORMED;
		size_t avail = min_size(end, len) - start;

		for (size_t i = 0; i < avail && got + i < 4; i++)
			hs[got + i] = buf[start + i];
		if (got + avail >= 1 && hs[0] != TLS_HS_CLIENT_HELLO)
			return HELLO_MALFORMED;
		if (need == 0 && got + avail >= 4) {
			need = 4 + ((size_t)hs[1] << 16 | (size_t)hs[2] << 8 | hs[3]);
			if (need > max_len - TLS_RECORD_HEADER)
				return HELLO_MALFORMED;
		}
		/* A record that goes past the hello's end is malformed even before
		 * its last bytes arrive: the length field already says so. */
		if (need != 0 && got + frag > need)
			return HELLO_MALFORMED;
		if (len < end)
			return HELLO_NEED_MORE;
		got += frag;
		if (need != 0 && got == need) {
			*body_len = need - 4;
			return HELLO_OK;
		}
		off = end;
	}
}

/* Pass 2: a cursor over the handshake body, across record headers. */
struct hcur {
	const uint8_t *buf;
	size_t off;        /* buffer offset of the next byte */
	size_t frag_left;  /* bytes of the current record from off */
	size_t left;       /* bytes this cursor (vector) may still read */
	bool err;          /* sticky: a read went past `left` */
};

/* Moves to the next record when the current one is used up. Safe: pass 1
 * checked that every record up to the hello's end is buffered. */
static void hcur_refill(struct hcur *c)
{
	if (c->frag_left == 0) {
		c->frag_left = (size_t)c->buf[c->off + 3] << 8 | c->buf[c->off + 4];
		c->off += TLS_RECORD_HEADER;
	}
}

/* Copies (dst != NULL) or skips n bytes. */
static void hcur_take(struct hcur *c, uint8_t *dst, size_t n)
{
	if (c->err || n > c->left) {
		c->err = true;
		return;
	}
	c->left -= n;
	while (n > 0) {    /* each turn takes >= 1 byte: records are non-empty */
		hcur_refill(c);
		size_t k = min_size(n, c->frag_left);
		if (dst) {
			memcpy(dst, c->buf + c->off, k);
			dst += k;
		}
		c->off += k;
		c->frag_left -= k;
		n -= k;
	}
}

static unsigned hcur_u8(struct hcur *c)
{
	uint8_t b[1] = { 0 };
	hcur_take(c, b, 1);
	return c->err ? 0 : b[0];
}

static unsigned hcur_u16(struct hcur *c)
{
	uint8_t b[2] = { 0, 0 };
	hcur_take(c, b, 2);
	return c->err ? 0 : (unsigned)b[0] << 8 | b[1];
}

/* A vector of n bytes: the returned cursor reads them, the parent skips them. */
static struct hcur hcur_sub(struct hcur *c, size_t n)
{
	struct hcur sub = *c;
	sub.left = n;
	hcur_take(c, NULL, n);
	sub.err = c->err;
	return sub;
}

static struct hcur hcur_vec8(struct hcur *c)
{
	return hcur_sub(c, hcur_u8(c));
}

static struct hcur hcur_vec16(struct hcur *c)
{
	return hcur_sub(c, hcur_u16(c));
}

/* A vector read exactly to its end, and nothing more. */
static bool hcur_done(const struct hcur *c)
{
	return !c->err && c->left == 0;
}

/* Validates a host_name as a DNS name and lower-cases it in place. */
static bool sni_normalise(char *name, size_t n)
{
	size_t label = 0;

	if (n == 0 || n > HELLO_SNI_MAX)
		return false;
	for (size_t i = 0; i < n; i++) {
		char ch = name[i];
		if (ch == '.') {
			if (label == 0)
				return false;
			label = 0;
			continue;
		}
		if (ch >= 'A' && ch <= 'Z')
			name[i] = (char)(ch - 'A' + 'a');
		else if (!(ch >= 'a' && ch <= 'z') && !(ch >= '0' && ch <= '9') && ch != '-')
			return false;
		if (++label > DNS_LABEL_MAX)
			return false;
	}
	return label != 0;
}

static bool ext_server_name(struct hello_info *h, struct hcur *d)
{
	struct hcur list = hcur_vec16(d);

	if (list.left == 0)
		return false;
	while (list.left > 0 && !list.err) {   /* >= 3 bytes a turn */
		unsigned type = hcur_u8(&list);
		struct hcur name = hcur_vec16(&list);
		if (list.err || name.left == 0)
			return false;
		if (type != SNI_HOST_NAME || h->has_sni)
			continue;   /* only the first host_name counts */
		if (name.left > HELLO_SNI_MAX)
			return false;
		size_t n = name.left;
		hcur_take(&name, (uint8_t *)h->sni, n);
		h->sni[n] = '\0';
		if (!sni_normalise(h->sni, n))
			return false;
		h->sni_len = n;
		h->has_sni = true;
	}
	return hcur_done(&list) && hcur_done(d);
}

static bool ext_alpn(struct hello_info *h, struct hcur *d)
{
	struct hcur list = hcur_vec16(d);

	if (list.left == 0)
		return false;
	while (list.left > 0 && !list.err) {   /* >= 2 bytes a turn */
		struct hcur name = hcur_vec8(&list);
		size_t n = name.left;
		if (list.err || n == 0)
			return false;
		if (n > HELLO_ALPN_MAX_LEN || h->n_alpn == HELLO_MAX_ALPN)
			continue;
		hcur_take(&name, (uint8_t *)h->alpn[h->n_alpn], n);
		h->alpn[h->n_alpn][n] = '\0';
		h->alpn_len[h->n_alpn++] = n;
	}
	return hcur_done(&list) && hcur_done(d);
}

static bool ext_supported_versions(struct hello_info *h, struct hcur *d)
{
	struct hcur list = hcur_vec8(d);

	if (list.left < 2 || list.left % 2 != 0)
		return false;
	while (list.left > 0 && !list.err)
		if (hcur_u16(&list) == 0x0304)
			h->offers_tls13 = true;
	return hcur_done(&list) && hcur_done(d);
}

static bool hello_extension(struct hello_info *h, unsigned type, struct hcur *d)
{
	switch (type) {
	case EXT_SERVER_NAME:
		return ext_server_name(h, d);
	case EXT_ALPN:
		return ext_alpn(h, d);
	case EXT_SUPPORTED_VERS:
		return ext_supported_versions(h, d);
	default:
		hcur_take(d, NULL, d->left);
		return hcur_done(d);
	}
}

static bool hello_extensions(struct hello_info *h, struct hcur *c)
{
	uint16_t seen[HELLO_MAX_EXTENSIONS];
	unsigned n = 0;
	struct hcur exts = hcur_vec16(c);

	while (exts.left > 0 && !exts.err) {   /* >= 4 bytes a turn */
		unsigned type = hcur_u16(&exts);
		struct hcur data = hcur_vec16(&exts);
		if (exts.err || n == HELLO_MAX_EXTENSIONS)
			return false;
		if (n > 0 && seen[n - 1] == EXT_PRE_SHARED_KEY)
			return false;
		for (unsigned i = 0; i < n; i++)
			if (seen[i] == type)
				return false;
		seen[n++] = (uint16_t)type;
		if (!hello_extension(h, type, &data))
			return false;
	}
	return hcur_done(&exts);
}

/* Pass 2 proper: the ClientHello body, which c covers exactly. */
static bool hello_body(struct hello_info *h, struct hcur *c)
{
	h->legacy_version = (uint16_t)hcur_u16(c);
	if (h->legacy_version >> 8 != 3 || (h->legacy_version & 0xff) < 1)
		return false;
	hcur_take(c, NULL, 32);                 /* random */
	struct hcur sid = hcur_vec8(c);
	struct hcur suites = hcur_vec16(c);
	struct hcur comp = hcur_vec8(c);
	if (c->err || sid.left > 32 || suites.left < 2 || suites.left % 2 != 0 ||
	    comp.left < 1)
		return false;
	if (c->left == 0)
		return true;                        /* no extensions: TLS 1.2 and older */
	return hello_extensions(h, c) && hcur_done(c);
}

enum hello_status hello_parse(const uint8_t *buf, size_t len, size_t max_len,
			      struct hello_info *out)
{
	size_t body_len = 0;
	enum hello_status st = hello_frame(buf, len, max_len, &body_len);
	if (st != HELLO_OK)
		return st;

	/* Start on the first record's fragment, just past the handshake header;
	 * the header may itself straddle records, so skip it with the cursor. */
	struct hcur c = {
		.buf = buf, .off = TLS_RECORD_HEADER,
		.frag_left = (size_t)buf[3] << 8 | buf[4], .left = 4 + body_len,
	};
	hcur_take(&c, NULL, 4);

	struct hello_info h;
	memset(&h, 0, sizeof(h));
	if (!hello_body(&h, &c))
		return HELLO_MALFORMED;
	*out = h;
	return HELLO_OK;
}

bool hello_offers_alpn(const struct hello_info *h, const char *proto)
{
	size_t n = strlen(proto);

	for (unsigned i = 0; i < h->n_alpn && i < HELLO_MAX_ALPN; i++)
		if (h->alpn_len[i] == n && memcmp(h->alpn[i], proto, n) == 0)
			return true;
	return false;
}
