/* The audit trail's format and hash chain (pure: no I/O), and its writer
 * and verifier (audit_file.c: I/O).
 *
 * One record per line, JSON, with a fixed frame so that a verifier needs
 * no JSON parser:
 *
 *   {"prev":"<64 hex>","time":"2024-05-01T12:00:00.123Z","event":...,"hash":"<64 hex>"}
 *
 * hash = SHA-256 of the line's bytes up to (not including) `,"hash":"`;
 * prev = the previous line's hash. The first line of a file is a
 * "trail_created" record whose prev is SHA-256 of AUDIT_GENESIS followed by
 * that record's own time, so the head of the chain carries the file's
 * creation time. Editing a record breaks its hash; deleting or reordering
 * breaks the next record's prev; a cut-off last line has no hash frame. */
#ifndef TERN_METRICS_AUDIT_H
#define TERN_METRICS_AUDIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "metrics/audit_ring.h"

#define AUDIT_GENESIS  "tern audit trail v1, created "
#define AUDIT_HEX      65      /* 64 hex digits and NUL */
#define AUDIT_LINE_MAX 2048    /* a record's line, escaped user id included */

enum audit_addr_mode { AUDIT_ADDR_FULL, AUDIT_ADDR_TRUNCATED, AUDIT_ADDR_OMIT };

extern const char *const audit_event_names[AE_COUNT];

/* Lower-case hex SHA-256 of len bytes. */
void audit_sha256_hex(const void *data, size_t len, char out[AUDIT_HEX]);
/* The prev of a file's first record, made at `time_ms`. */
void audit_genesis_hash(int64_t time_ms, char out[AUDIT_HEX]);
/* "2024-05-01T12:00:00.123Z"; out has room for 32 bytes. */
void audit_format_time(int64_t time_ms, char out[32]);
/* Writes the address as the mode says ("" for omit or none): full keeps the
 * port, truncated keeps an IPv4 /24 or an IPv6 /48. */
void audit_format_addr(const struct audit_addr *a, enum audit_addr_mode mode, char *out,
		       size_t cap);

/* Formats one record chained to prev: the whole line with '\n'. Writes its
 * hash to hash_out. Returns the line's length, or -ENOSPC. */
int audit_format_record(const struct audit_record *r, enum audit_addr_mode mode,
			const char prev[AUDIT_HEX], char *out, size_t cap,
			char hash_out[AUDIT_HEX]);

/* Checks a chain line by line. */
struct audit_verifier {
	unsigned long line;          /* lines seen */
	unsigned long records;       /* records that verified */
	bool started;
	char prev[AUDIT_HEX];
	char why[160];               /* the first problem */
};

void audit_verify_init(struct audit_verifier *v);
/* One line without its '\n'. 0, or -EBADMSG with v->why (and v->line the
 * line's number, from 1). */
int audit_verify_line(struct audit_verifier *v, const char *line, size_t len);
/* The hash of a well-framed line (for resuming a chain): 0 or -EBADMSG. */
int audit_line_hash(const char *line, size_t len, char hash_out[AUDIT_HEX]);

/* ---- the file (audit_file.c) ---- */

struct audit_writer {
	int fd;                      /* -1: disabled */
	enum audit_addr_mode mode;
	char prev[AUDIT_HEX];
	uint64_t records;            /* written */
	uint64_t write_errors;       /* records that could not be written */
	int last_errno;              /* for logging once per change */
	char *buf;
	size_t cap;
};

/* Opens (creating it, mode 0600) and resumes the chain from the last line,
 * or starts one with a trail_created record. A last line that is not a
 * complete record is an error: the chain cannot be continued without
 * hiding it (see `ternctl audit verify`). 0 or negative errno with err. */
int audit_writer_open(struct audit_writer *w, const char *path, enum audit_addr_mode mode,
		      char *err, size_t cap);
/* Appends the records in one write; on failure nothing of them stays in the
 * file, the chain stays where it was, and they count as write errors. */
int audit_writer_append(struct audit_writer *w, const struct audit_record *recs, size_t n);
void audit_writer_close(struct audit_writer *w);

/* Verifies a file. 0 when intact (*records set); -EBADMSG with *bad_line
 * and why; other negative errno when it cannot be read. */
int audit_verify_file(const char *path, unsigned long *records, unsigned long *bad_line,
		      char *why, size_t cap);

#endif
