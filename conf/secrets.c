/* Loading the REST shared secrets (see secrets.h) from their own file. The
 * file is read whole into one bounded buffer that is wiped before it is
 * freed, so no copy of a secret survives outside the struct secrets; its
 * permissions are checked on the open descriptor (fstat), not by path, so the
 * file checked is the file read. */
#include "conf/secrets.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Eight secrets of 256 bytes plus generous room for comments. */
#define SECRETS_FILE_MAX 65536

__attribute__((format(printf, 4, 5)))
static int fail(int r, char *err, size_t cap, const char *fmt, ...)
{
	if (err && cap) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(err, cap, fmt, ap);
		va_end(ap);
	}
	return r;
}

/* Group or others able to read or write a secret would let any local user
 * mint credentials; owner-only (0600 or 0400) is the only safe mode. */
static int check_mode(int fd, const char *path, char *err, size_t cap)
{
	struct stat st;
	if (fstat(fd, &st) < 0)
		return fail(-errno, err, cap, "%s: cannot stat: %s", path, strerror(errno));
	if (!S_ISREG(st.st_mode))
		return fail(-EINVAL, err, cap, "%s: not a regular file", path);
	if (st.st_mode & (S_IRGRP | S_IWGRP | S_IROTH | S_IWOTH))
		return fail(-EPERM, err, cap,
			    "%s: mode %04o lets group or others read or write the secrets; "
			    "run chmod 600 on it", path, (unsigned)(st.st_mode & 07777));
	return 0;
}

/* Reads at most SECRETS_FILE_MAX bytes into buf; returns the length. */
static ssize_t read_all(int fd, char *buf, const char *path, char *err, size_t cap)
{
	size_t len = 0;
	for (;;) {
		ssize_t n = read(fd, buf + len, SECRETS_FILE_MAX + 1 - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return fail(-errno, err, cap, "%s: cannot read: %s", path, strerror(errno));
		if (n == 0)
			return (ssize_t)len;
		len += (size_t)n;
		if (len > SECRETS_FILE_MAX)
			return fail(-EFBIG, err, cap, "%s: larger than %d bytes", path,
				    SECRETS_FILE_MAX);
	}
}

static size_t trim_trailing(const char *s, size_t len)
{
	while (len && (s[len - 1] == ' ' || s[len - 1] == '\t' || s[len - 1] == '\r'))
		len--;
	return len;
}

/* One non-blank, non-comment line: becomes out->s[out->n]. */
static int add_secret(struct secrets *out, const char *s, size_t len, const char *path,
		      unsigned line, char *err, size_t cap)
{
	if (s[0] == ' ' || s[0] == '\t')
		return fail(-EINVAL, err, cap, "%s:%u: leading whitespace (a secret line "
			    "must start with the secret itself)", path, line);
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c < 0x20 || c == 0x7f)
			return fail(-EINVAL, err, cap, "%s:%u: control character in secret",
				    path, line);
	}
	if (len < 16 || len > SECRETS_MAX_LEN)
		return fail(-EINVAL, err, cap, "%s:%u: secret is %zu bytes; must be 16..%d",
			    path, line, len, SECRETS_MAX_LEN);
	if (out->n == SECRETS_MAX)
		return fail(-E2BIG, err, cap, "%s:%u: more than %d secrets", path, line,
			    SECRETS_MAX);
	memcpy(out->s[out->n].value, s, len);
	out->s[out->n].len = len;
	out->n++;
	return 0;
}

static int parse_lines(struct secrets *out, const char *buf, size_t len, const char *path,
		       char *err, size_t cap)
{
	unsigned line = 0;
	size_t pos = 0;
	while (pos < len) {
		const char *nl = memchr(buf + pos, '\n', len - pos);
		size_t end = nl ? (size_t)(nl - buf) : len;
		const char *s = buf + pos;
		size_t n = trim_trailing(s, end - pos);
		line++;
		pos = end + 1;
		if (n == 0 || s[0] == '#')
			continue;
		int r = add_secret(out, s, n, path, line, err, cap);
		if (r < 0)
			return r;
	}
	if (out->n == 0)
		return fail(-EINVAL, err, cap, "%s: no secrets (one per line, 16..%d bytes)",
			    path, SECRETS_MAX_LEN);
	return 0;
}

static int load_fd(struct secrets *tmp, int fd, const char *path, char *err, size_t cap)
{
	int r = check_mode(fd, path, err, cap);
	if (r < 0)
		return r;
	char *buf = malloc(SECRETS_FILE_MAX + 1);
	if (!buf)
		return fail(-ENOMEM, err, cap, "%s: out of memory", path);
	ssize_t len = read_all(fd, buf, path, err, cap);
	r = len < 0 ? (int)len : parse_lines(tmp, buf, (size_t)len, path, err, cap);
	explicit_bzero(buf, SECRETS_FILE_MAX + 1);
	free(buf);
	return r;
}

int secrets_load(struct secrets *out, const char *path, char *err, size_t err_cap)
{
	if (!out || !path)
		return fail(-EINVAL, err, err_cap, "secrets: no file given");
	/* O_NONBLOCK: opening a FIFO must not wait for a writer (it would hang
	 * --check-config and a reload); check_mode() then refuses it. */
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0)
		return fail(-errno, err, err_cap, "%s: cannot open: %s", path, strerror(errno));

	/* Parse into a scratch set so *out changes only on success. */
	struct secrets tmp = { .hmac = out->hmac };
	int r = load_fd(&tmp, fd, path, err, err_cap);
	close(fd);
	if (r == 0) {
		secrets_wipe(out);
		*out = tmp;
	}
	secrets_wipe(&tmp);
	return r;
}

void secrets_wipe(struct secrets *s)
{
	if (!s)
		return;
	explicit_bzero(s->s, sizeof(s->s));
	s->n = 0;
}

int secrets_read_password(const char *path, char *out, size_t out_cap, char *err, size_t err_cap)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);   /* see secrets_load */
	if (fd < 0)
		return fail(-errno, err, err_cap, "%s: cannot open: %s", path, strerror(errno));
	int r = check_mode(fd, path, err, err_cap);
	char *buf = r < 0 ? NULL : malloc(SECRETS_FILE_MAX + 1);
	ssize_t len = r < 0 ? r : buf ? read_all(fd, buf, path, err, err_cap) : -ENOMEM;
	close(fd);
	if (len >= 0) {
		const char *nl = memchr(buf, '\n', (size_t)len);
		size_t line = trim_trailing(buf, nl ? (size_t)(nl - buf) : (size_t)len);
		bool clean = line > 0 && line < out_cap;
		for (size_t i = 0; clean && i < line; i++)
			clean = (unsigned char)buf[i] >= 0x20 && buf[i] != 0x7f;
		if (clean) {
			memcpy(out, buf, line);
			out[line] = '\0';
			r = 0;
		} else {
			r = fail(-EINVAL, err, err_cap, "%s: the first line must be the password "
				 "(1..%zu printable characters)", path, out_cap - 1);
		}
	} else if (r == 0) {
		r = (int)len;
	}
	if (buf) {
		explicit_bzero(buf, SECRETS_FILE_MAX + 1);
		free(buf);
	}
	return r;
}
