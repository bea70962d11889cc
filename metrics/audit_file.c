/* The audit trail on disk: an append-only file of chained JSON lines (the
 * format is in audit.c). The writer runs on the control thread only; it
 * resumes the chain from the file's last line at start, appends each batch
 * with one write(2) and rolls a failed batch back so that the file never
 * holds half a record or a gap in the chain. Errors are logged once per
 * change of errno, and counted. Also the verifier behind
 * `ternctl audit verify`. */
#include "metrics/audit.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/log.h"

#define TAIL_READ 8192   /* enough for the last line (AUDIT_LINE_MAX) */

static int64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Reads the file's last line and takes its hash as the chain's head.
 * Returns 1 when the file is empty, 0 when resumed, -EBADMSG when the last
 * line is not a complete record. */
static int resume(struct audit_writer *w, char *err, size_t cap)
{
	struct stat st;
	if (fstat(w->fd, &st) < 0)
		return -errno;
	if (st.st_size == 0)
		return 1;
	char buf[TAIL_READ + 1];
	off_t from = st.st_size > TAIL_READ ? st.st_size - TAIL_READ : 0;
	ssize_t n = pread(w->fd, buf, (size_t)(st.st_size - from), from);
	if (n <= 0)
		return n < 0 ? -errno : -EIO;
	if (buf[n - 1] != '\n') {
		snprintf(err, cap, "the last line is cut off (no newline); check it with "
			 "`ternctl audit verify` and move the file aside");
		return -EBADMSG;
	}
	buf[n - 1] = '\0';
	char *start = strrchr(buf, '\n');
	start = start ? start + 1 : buf;
	if (audit_line_hash(start, strlen(start), w->prev) < 0) {
		snprintf(err, cap, "the last line is not an audit record; check the file with "
			 "`ternctl audit verify` and move it aside");
		return -EBADMSG;
	}
	return 0;
}

static int write_all(int fd, const char *p, size_t len)
{
	while (len) {
		ssize_t n = write(fd, p, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return n < 0 ? -errno : -EIO;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

int audit_writer_open(struct audit_writer *w, const char *path, enum audit_addr_mode mode,
		      char *err, size_t cap)
{
	memset(w, 0, sizeof(*w));
	w->mode = mode;
	w->fd = open(path, O_RDWR | O_APPEND | O_CREAT | O_CLOEXEC | O_NOCTTY, 0600);
	if (w->fd < 0) {
		int e = errno;
		snprintf(err, cap, "%s: cannot open: %s", path, strerror(e));
		return -e;
	}
	char why[160] = "";
	int r = resume(w, why, sizeof(why));
	if (r < 0) {
		snprintf(err, cap, "%s: %s", path, why[0] ? why : strerror(-r));
		audit_writer_close(w);
		return r;
	}
	if (r == 1) {
		struct audit_record first = { .time_ms = now_ms(), .event = AE_TRAIL_CREATED };
		audit_genesis_hash(first.time_ms, w->prev);
		if ((r = audit_writer_append(w, &first, 1)) < 0) {
			snprintf(err, cap, "%s: cannot write: %s", path, strerror(-r));
			audit_writer_close(w);
			return r;
		}
	}
	return 0;
}

static void note_result(struct audit_writer *w, int e)
{
	if (e == w->last_errno)
		return;
	if (e)
		log_err("audit", "audit trail cannot be written: %s", strerror(e));
	else
		log_info("audit", "audit trail is written again");
	w->last_errno = e;
}

int audit_writer_append(struct audit_writer *w, const struct audit_record *recs, size_t n)
{
	if (w->fd < 0 || n == 0)
		return 0;
	size_t need = n * AUDIT_LINE_MAX;
	if (w->cap < need) {
		char *b = realloc(w->buf, need);
		if (!b) {
			w->write_errors += n;
			note_result(w, ENOMEM);
			return -ENOMEM;
		}
		w->buf = b;
		w->cap = need;
	}
	char prev[AUDIT_HEX];
	memcpy(prev, w->prev, sizeof(prev));
	size_t len = 0;
	for (size_t i = 0; i < n; i++) {
		int k = audit_format_record(&recs[i], w->mode, prev, w->buf + len, w->cap - len, prev);
		if (k > 0)
			len += (size_t)k;
	}
	off_t before = lseek(w->fd, 0, SEEK_END);
	int r = write_all(w->fd, w->buf, len);
	if (r == 0 && fdatasync(w->fd) < 0 && errno != EINVAL && errno != EROFS)
		r = -errno;
	if (r < 0) {
		/* Nothing of the batch stays: a half line would break the chain
		 * for every later record. (Not possible on a device such as
		 * /dev/full; there nothing was written.) */
		if (before >= 0 && ftruncate(w->fd, before) < 0) {
			/* the file keeps what it has; verify will show where */
		}
		w->write_errors += n;
		note_result(w, -r);
		return r;
	}
	memcpy(w->prev, prev, sizeof(prev));
	w->records += n;
	note_result(w, 0);
	return 0;
}

void audit_writer_close(struct audit_writer *w)
{
	if (w->fd >= 0)
		close(w->fd);
	w->fd = -1;
	free(w->buf);
	w->buf = NULL;
	w->cap = 0;
}

/* ---- verification ------------------------------------------------------ */

int audit_verify_file(const char *path, unsigned long *records, unsigned long *bad_line,
		      char *why, size_t cap)
{
	FILE *f = fopen(path, "re");
	if (!f)
		return -errno;
	struct audit_verifier v;
	audit_verify_init(&v);
	char *line = NULL;
	size_t lcap = 0;
	ssize_t n;
	int r = 0;
	while ((n = getline(&line, &lcap, f)) > 0) {
		bool terminated = line[n - 1] == '\n';
		if (!terminated) {
			v.line++;
			snprintf(v.why, sizeof(v.why), "the last line is cut off (truncated file)");
			r = -EBADMSG;
			break;
		}
		if ((r = audit_verify_line(&v, line, (size_t)n - 1)) < 0)
			break;
	}
	if (r == 0 && ferror(f))
		r = -EIO;
	if (r == 0 && v.records == 0) {
		v.line = 1;
		snprintf(v.why, sizeof(v.why), "no records (empty file)");
		r = -EBADMSG;
	}
	free(line);
	fclose(f);
	*records = v.records;
	*bad_line = v.line;
	snprintf(why, cap, "%s", v.why);
	return r;
}
