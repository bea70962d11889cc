/* The audit trail's record format and hash chain (see audit.h): formatting
 * a record as one JSON line chained to the previous one, and checking a
 * chain line by line. No I/O here; the writer and the file verifier are in
 * audit_file.c. */
#include "metrics/audit.h"

#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <openssl/evp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "metrics/expose.h"

#define PREV_HEAD "{\"prev\":\""
#define HASH_HEAD ",\"hash\":\""

const char *const audit_event_names[AE_COUNT] = {
	[AE_TRAIL_CREATED] = "trail_created",
	[AE_ALLOCATION_CREATED] = "allocation_created",
	[AE_ALLOCATION_REFRESHED] = "allocation_refreshed",
	[AE_ALLOCATION_DELETED] = "allocation_deleted",
	[AE_AUTH_REFUSED] = "auth_refused",
	[AE_PERMISSION_DENIED] = "permission_denied",
	[AE_REVOCATION_ENFORCED] = "revocation_enforced",
	[AE_MEDIA_UNENCRYPTED] = "media_unencrypted",
};

int audit_ring_init(struct audit_ring *r, size_t slots)
{
	memset(r, 0, sizeof(*r));
	if (slots == 0 || (slots & (slots - 1)))
		return -EINVAL;
	r->slots = calloc(slots, sizeof(*r->slots));
	if (!r->slots)
		return -ENOMEM;
	r->mask = slots - 1;
	atomic_init(&r->head, 0);
	atomic_init(&r->tail, 0);
	return 0;
}

void audit_ring_destroy(struct audit_ring *r)
{
	free(r->slots);
	r->slots = NULL;
}

void audit_sha256_hex(const void *data, size_t len, char out[AUDIT_HEX])
{
	unsigned char md[32];
	unsigned int mdlen = 0;
	EVP_Digest(data, len, md, &mdlen, EVP_sha256(), NULL);
	for (int i = 0; i < 32; i++)
		snprintf(out + 2 * i, 3, "%02x", md[i]);
	out[64] = '\0';
}

void audit_format_time(int64_t time_ms, char out[32])
{
	time_t s = (time_t)(time_ms / 1000);
	struct tm tm;
	gmtime_r(&s, &tm);
	size_t n = strftime(out, 32, "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(out + n, 32 - n, ".%03dZ", (int)(time_ms % 1000));
}

void audit_genesis_hash(int64_t time_ms, char out[AUDIT_HEX])
{
	char g[96], t[32];
	audit_format_time(time_ms, t);
	int n = snprintf(g, sizeof(g), "%s%s", AUDIT_GENESIS, t);
	audit_sha256_hex(g, (size_t)n, out);
}

void audit_format_addr(const struct audit_addr *a, enum audit_addr_mode mode, char *out,
		       size_t cap)
{
	out[0] = '\0';
	if (mode == AUDIT_ADDR_OMIT || (a->family != 4 && a->family != 6))
		return;
	uint8_t ip[16];
	memcpy(ip, a->ip, sizeof(ip));
	char text[INET6_ADDRSTRLEN];
	int af = a->family == 4 ? AF_INET : AF_INET6;
	if (mode == AUDIT_ADDR_TRUNCATED) {
		/* IPv4 /24, IPv6 /48: the network, not the person. */
		size_t keep = a->family == 4 ? 3 : 6;
		memset(ip + keep, 0, sizeof(ip) - keep);
	}
	inet_ntop(af, ip, text, sizeof(text));
	if (mode == AUDIT_ADDR_TRUNCATED)
		snprintf(out, cap, "%s/%d", text, a->family == 4 ? 24 : 48);
	else if (a->family == 4)
		snprintf(out, cap, "%s:%u", text, a->port);
	else
		snprintf(out, cap, "[%s]:%u", text, a->port);
}

/* JSON string contents: quote, backslash and every byte outside printable
 * ASCII escaped, so the line stays one line and valid UTF-8 whatever a
 * client put in its USERNAME. */
static void json_escape(struct mbuf *b, const char *s, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c == '"' || c == '\\')
			mbuf_printf(b, "\\%c", c);
		else if (c < 0x20 || c > 0x7e)
			mbuf_printf(b, "\\u%04x", c);
		else
			mbuf_append(b, (const char *)&c, 1);
	}
}

static void json_field(struct mbuf *b, const char *name, const char *value, size_t len)
{
	mbuf_printf(b, ",\"%s\":\"", name);
	json_escape(b, value, len);
	mbuf_append(b, "\"", 1);
}

static void record_body(struct mbuf *b, const struct audit_record *r, enum audit_addr_mode mode,
			const char prev[AUDIT_HEX])
{
	char t[32], addr[80];
	audit_format_time(r->time_ms, t);
	mbuf_printf(b, PREV_HEAD "%s\",\"time\":\"%s\",\"event\":\"%s\"", prev, t,
		    r->event < AE_COUNT ? audit_event_names[r->event] : "unknown");
	if (r->event == AE_TRAIL_CREATED) {
		mbuf_printf(b, ",\"format\":\"tern-audit-1\"");
		return;
	}
	if (r->user_len)
		json_field(b, "user", r->user, r->user_len < AUDIT_USER_MAX ? r->user_len
									     : AUDIT_USER_MAX);
	if (r->alloc_id)
		mbuf_printf(b, ",\"allocation\":\"%016" PRIx64 "\"", r->alloc_id);
	if (r->transport < MT_COUNT)
		mbuf_printf(b, ",\"transport\":\"%s\"", metrics_transport_names[r->transport]);
	audit_format_addr(&r->client, mode, addr, sizeof(addr));
	if (addr[0])
		json_field(b, "client", addr, strlen(addr));
	audit_format_addr(&r->peer, mode, addr, sizeof(addr));
	if (addr[0])
		json_field(b, "peer", addr, strlen(addr));
	if (r->reason[0])
		json_field(b, "reason", r->reason, strnlen(r->reason, sizeof(r->reason)));
	if (r->media_known)
		mbuf_printf(b, ",\"dtls_flows\":%u,\"unencrypted_flows\":%u",
			    (unsigned)r->dtls_flows, (unsigned)r->unencrypted_flows);
}

int audit_format_record(const struct audit_record *r, enum audit_addr_mode mode,
			const char prev[AUDIT_HEX], char *out, size_t cap,
			char hash_out[AUDIT_HEX])
{
	struct mbuf b = { 0 };
	record_body(&b, r, mode, prev);
	if (b.failed) {
		mbuf_free(&b);
		return -ENOMEM;
	}
	char hash[AUDIT_HEX];
	audit_sha256_hex(b.p, b.len, hash);
	int n = snprintf(out, cap, "%s" HASH_HEAD "%s\"}\n", b.p, hash);
	mbuf_free(&b);
	if (n < 0 || (size_t)n >= cap)
		return -ENOSPC;
	memcpy(hash_out, hash, AUDIT_HEX);
	return n;
}

/* ---- verification ------------------------------------------------------ */

static bool is_hex64(const char *p)
{
	for (int i = 0; i < 64; i++)
		if (!((p[i] >= '0' && p[i] <= '9') || (p[i] >= 'a' && p[i] <= 'f')))
			return false;
	return true;
}

/* The frame: PREV_HEAD hex64 '"' ... HASH_HEAD hex64 '"}'. Sets the body
 * length (what the hash covers) and pointers to the two hashes. */
static int parse_frame(const char *line, size_t len, size_t *body, const char **prev,
		       const char **hash)
{
	size_t ph = strlen(PREV_HEAD), hh = strlen(HASH_HEAD);
	if (len < ph + 65 + hh + 66 || memcmp(line, PREV_HEAD, ph) != 0 ||
	    !is_hex64(line + ph) || line[ph + 64] != '"')
		return -EBADMSG;
	size_t tail = len - (hh + 66);
	if (memcmp(line + tail, HASH_HEAD, hh) != 0 || !is_hex64(line + tail + hh) ||
	    memcmp(line + len - 2, "\"}", 2) != 0)
		return -EBADMSG;
	*body = tail;
	*prev = line + ph;
	*hash = line + tail + hh;
	return 0;
}

int audit_line_hash(const char *line, size_t len, char hash_out[AUDIT_HEX])
{
	size_t body;
	const char *prev, *hash;
	if (parse_frame(line, len, &body, &prev, &hash) < 0)
		return -EBADMSG;
	memcpy(hash_out, hash, 64);
	hash_out[64] = '\0';
	return 0;
}

void audit_verify_init(struct audit_verifier *v)
{
	memset(v, 0, sizeof(*v));
}

__attribute__((format(printf, 2, 3)))
static int bad(struct audit_verifier *v, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(v->why, sizeof(v->why), fmt, ap);
	va_end(ap);
	return -EBADMSG;
}

/* The first record's prev must be the genesis hash of its own time. */
static int check_genesis(struct audit_verifier *v, const char *line, size_t len,
			 const char *prev)
{
	static const char ev[] = "\"event\":\"trail_created\"";
	const char *t = memmem(line, len, ",\"time\":\"", 9);
	if (!memmem(line, len, ev, sizeof(ev) - 1) || !t || (size_t)(line + len - t) < 9 + 24)
		return bad(v, "the first record is not the trail's creation record "
			      "(records deleted from the start?)");
	/* Rebuild the genesis string from the printed time. */
	char g[96], want[AUDIT_HEX];
	int n = snprintf(g, sizeof(g), "%s%.24s", AUDIT_GENESIS, t + 9);
	audit_sha256_hex(g, (size_t)n, want);
	if (memcmp(prev, want, 64) != 0)
		return bad(v, "the creation record's prev does not match its time (edited)");
	return 0;
}

int audit_verify_line(struct audit_verifier *v, const char *line, size_t len)
{
	v->line++;
	size_t body;
	const char *prev, *hash;
	if (parse_frame(line, len, &body, &prev, &hash) < 0)
		return bad(v, "not a complete record (truncated or edited)");
	char got[AUDIT_HEX];
	audit_sha256_hex(line, body, got);
	if (memcmp(got, hash, 64) != 0)
		return bad(v, "the record's hash does not match its contents (edited)");
	if (!v->started) {
		if (check_genesis(v, line, len, prev) < 0)
			return -EBADMSG;
		v->started = true;
	} else if (memcmp(prev, v->prev, 64) != 0) {
		return bad(v, "prev does not match the previous record's hash "
			      "(a record was deleted, inserted or reordered)");
	}
	memcpy(v->prev, hash, 64);
	v->prev[64] = '\0';
	v->records++;
	return 0;
}
