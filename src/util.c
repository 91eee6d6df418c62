/* util.c - errors, buffers, secret-safe memory, time helpers. */
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static cp_warn_fn s_warn_fn, s_progress_fn;
static void *s_warn_userdata, *s_progress_userdata;
static bool s_debug;

/* The length (2-4) of the well-formed UTF-8 sequence at p, of at most n
 * bytes, and its code point in *ret_cp; 0 if p does not start one. */
static size_t s_utf8_seq(const unsigned char *p, size_t n, uint32_t *ret_cp)
{
	size_t len;
	uint32_t c, min;
	if (p[0] >= 0xc2 && p[0] <= 0xdf) {
		len = 2, c = p[0] & 0x1fu, min = 0x80;
	} else if (p[0] >= 0xe0 && p[0] <= 0xef) {
		len = 3, c = p[0] & 0x0fu, min = 0x800;
	} else if (p[0] >= 0xf0 && p[0] <= 0xf4) {
		len = 4, c = p[0] & 0x07u, min = 0x10000;
	} else {
		return 0;
	}
	if (n < len)
		return 0;
	for (size_t i = 1; i < len; i++) {
		if ((p[i] & 0xc0) != 0x80)
			return 0;
		c = c << 6 | (p[i] & 0x3fu);
	}
	if (c < min || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff))
		return 0;
	*ret_cp = c;
	return len;
}

size_t cp_safe_text(char *out, size_t outlen, const char *s, size_t n)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t i = 0, o = 0;
	if (outlen == 0)
		return 0;
	while (i < n) {
		uint32_t c = p[i];
		size_t len = 1;
		char rep = 0;
		if (c == '\t' || c == '\n' || c == '\r')
			rep = ' ';
		else if (c < 0x20 || c == 0x7f)
			rep = '?';
		else if (c >= 0x80 && (len = s_utf8_seq(p + i, n - i, &c)) == 0)
			len = 1, rep = '?'; /* not UTF-8: one '?' per byte */
		else if (c >= 0x80 && c <= 0x9f)
			rep = '?'; /* a C1 control, one '?' for the sequence */
		size_t w = rep ? 1 : len;
		if (o + w >= outlen)
			break;
		if (rep)
			out[o] = rep;
		else
			memmove(out + o, p + i, len);
		o += w;
		i += len;
	}
	out[o] = '\0';
	return o;
}

/* The length of the URL authority at p: up to '/', '?', '#', a space or a
 * control character (a tab or a newline among them). */
static size_t s_authority_len(const char *p)
{
	size_t n = 0;
	while ((unsigned char)p[n] > 0x20 && p[n] != 0x7f && !strchr("/?#", p[n]))
		n++;
	return n;
}

size_t cp_strip_userinfo(char *out, size_t outlen, const char *s)
{
	size_t o = 0;
	if (outlen == 0)
		return 0;
	for (const char *p = s; *p && o + 1 < outlen;) {
		out[o++] = *p;
		if (p[0] == ':' && p[1] == '/' && p[2] == '/') {
			/* Copy "//", then drop everything up to the authority's last '@'. */
			size_t k = 1;
			for (; k < 3 && o + 1 < outlen; k++)
				out[o++] = p[k];
			p += k;
			if (k < 3)
				break;
			const char *at = memrchr(p, '@', s_authority_len(p));
			if (at)
				p = at + 1;
			continue;
		}
		p++;
	}
	out[o] = '\0';
	return o;
}

void cp_message_clean(char *msg)
{
	size_t n = strlen(msg);
	n = cp_safe_text(msg, n + 1, msg, n);
	cp_strip_userinfo(msg, n + 1, msg);
}

/* Formats a message into out as cp_message_clean() leaves it. The text is
 * formatted in full first (up to S_MSG_MAX) and cut to outlen, at a
 * character boundary, only once clean: a URL's userinfo is removed before
 * the cut, so no cut can leave a part of it behind. */
#define S_MSG_MAX 4096
__attribute__((format(printf, 3, 0)))
static void s_vformat(char *out, size_t outlen, const char *fmt, va_list ap)
{
	char tmp[S_MSG_MAX];
	vsnprintf(tmp, sizeof tmp, fmt, ap);
	cp_message_clean(tmp);
	cp_safe_text(out, outlen, tmp, strlen(tmp));
}

__attribute__((format(printf, 3, 4)))
static void s_format(char *out, size_t outlen, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	s_vformat(out, outlen, fmt, ap);
	va_end(ap);
}

__attribute__((format(printf, 4, 0)))
static int s_error_vset(cp_error *err, int status, cp_cause cause, const char *fmt, va_list ap)
{
	if (!err)
		return status;
	err->status = status;
	err->cause = cause;
	s_vformat(err->msg, sizeof err->msg, fmt, ap);
	return status;
}

int cp_error_set(cp_error *err, int status, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	s_error_vset(err, status, CP_CAUSE_NONE, fmt, ap);
	va_end(ap);
	return status;
}

int cp_error_set_cause(cp_error *err, int status, cp_cause cause, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	s_error_vset(err, status, cause, fmt, ap);
	va_end(ap);
	return status;
}

void cp_error_prefix(cp_error *err, const char *fmt, ...)
{
	if (!err)
		return;
	char prefix[S_MSG_MAX];
	char old[sizeof err->msg];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(prefix, sizeof prefix, fmt, ap);
	va_end(ap);
	memcpy(old, err->msg, sizeof old);
	s_format(err->msg, sizeof err->msg, "%s: %s", prefix, old);
}

void cp_error_clear(cp_error *err)
{
	if (err)
		memset(err, 0, sizeof *err);
}

bool cp_error_retryable(const cp_error *e)
{
	if (e->status != CP_ETRANSPORT)
		return false;
	return e->cause == CP_CAUSE_NO_ANSWER || e->cause == CP_CAUSE_SERVER ||
	       e->cause == CP_CAUSE_THROTTLED;
}

void cp_set_warn_handler(cp_warn_fn fn, void *userdata)
{
	s_warn_fn = fn;
	s_warn_userdata = userdata;
}

/* Formats a warning into one line and hands it to fn (NULL: dropped). */
__attribute__((format(printf, 3, 0)))
static void s_emit(cp_warn_fn fn, void *userdata, const char *fmt, va_list ap)
{
	char msg[1024];
	s_vformat(msg, sizeof msg, fmt, ap);
	if (fn)
		fn(userdata, msg);
}

void cp_warn(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	s_emit(s_warn_fn, s_warn_userdata, fmt, ap);
	va_end(ap);
}

void cp_set_progress_handler(cp_warn_fn fn, void *userdata)
{
	s_progress_fn = fn;
	s_progress_userdata = userdata;
}

void cp_progress(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	if (s_progress_fn)
		s_emit(s_progress_fn, s_progress_userdata, fmt, ap);
	else
		s_emit(s_warn_fn, s_warn_userdata, fmt, ap);
	va_end(ap);
}

void cp_set_debug(bool on) { s_debug = on; }

void cp_debug(const char *fmt, ...)
{
	if (!s_debug)
		return;
	char msg[1024];
	va_list ap;
	va_start(ap, fmt);
	s_vformat(msg, sizeof msg, fmt, ap);
	va_end(ap);
	fprintf(stderr, "aws-credproc: debug: %s\n", msg);
}

/* Room for extra more bytes and the NUL; a failure is remembered in b. */
static int s_buf_reserve(cp_buf *b, size_t extra)
{
	if (b->failed || extra > SIZE_MAX - b->len - 1) {
		b->failed = true;
		return CP_EINTERNAL;
	}
	size_t need = b->len + extra + 1;
	if (need <= b->cap)
		return 0;
	size_t cap = b->cap ? b->cap : 64;
	while (cap < need)
		cap = cap > SIZE_MAX / 2 ? need : cap * 2;
	/* Never realloc: the old block may hold a secret and must be wiped. */
	char *p = malloc(cap);
	if (!p) {
		b->failed = true;
		return CP_EINTERNAL;
	}
	if (b->data) {
		memcpy(p, b->data, b->len + 1);
		cp_freezero(b->data, b->cap);
	} else {
		p[0] = '\0'; /* NUL-terminated from the start (an empty file read) */
	}
	b->data = p;
	b->cap = cap;
	return 0;
}

int cp_buf_append(cp_buf *b, const void *p, size_t n)
{
	if (s_buf_reserve(b, n))
		return CP_EINTERNAL;
	if (n)
		memcpy(b->data + b->len, p, n);
	b->len += n;
	b->data[b->len] = '\0';
	return 0;
}

int cp_buf_puts(cp_buf *b, const char *s) { return cp_buf_append(b, s, strlen(s)); }
int cp_buf_putc(cp_buf *b, char c) { return cp_buf_append(b, &c, 1); }

int cp_buf_printf(cp_buf *b, const char *fmt, ...)
{
	va_list ap, ap2;
	va_start(ap, fmt);
	va_copy(ap2, ap);
	int n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0)
		b->failed = true;
	if (n < 0 || s_buf_reserve(b, (size_t)n)) {
		va_end(ap2);
		return CP_EINTERNAL;
	}
	vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap2);
	va_end(ap2);
	b->len += (size_t)n;
	return 0;
}

int cp_buf_status(const cp_buf *b)
{
	return b->failed ? CP_EINTERNAL : 0;
}

char *cp_buf_steal(cp_buf *b)
{
	char *p = b->data;
	b->data = NULL;
	b->len = b->cap = 0;
	b->failed = false;
	return p;
}

void cp_buf_free(cp_buf *b)
{
	if (b->data)
		cp_freezero(b->data, b->cap);
	b->data = NULL;
	b->len = b->cap = 0;
	b->failed = false;
}

void cp_wipe(void *p, size_t n)
{
	if (p && n)
		explicit_bzero(p, n);
}

void cp_freezero(void *p, size_t n)
{
	if (!p)
		return;
	explicit_bzero(p, n);
	free(p);
}

void cp_free_secret(char *s)
{
	if (s)
		cp_freezero(s, strlen(s));
}

char *cp_strdup(const char *s)
{
	return s ? strdup(s) : NULL;
}

char *cp_strndup(const char *s, size_t n)
{
	char *p = malloc(n + 1);
	if (!p)
		return NULL;
	memcpy(p, s, n);
	p[n] = '\0';
	return p;
}

char *cp_asprintf(const char *fmt, ...)
{
	va_list ap;
	char *p = NULL;
	va_start(ap, fmt);
	int n = vasprintf(&p, fmt, ap);
	va_end(ap);
	return n < 0 ? NULL : p;
}

/* 0 when st is a regular file, else EISDIR or EINVAL. */
static int s_regular(const struct stat *st)
{
	if (S_ISREG(st->st_mode))
		return 0;
	return S_ISDIR(st->st_mode) ? EISDIR : EINVAL;
}

int cp_open_regular(const char *path, struct stat *ret_st)
{
	struct stat st;
	int fd, e, fl;

	/* Only a regular file is read whole: a FIFO or a terminal can keep a
	 * reader waiting for ever, a device can be endless (or act on open), so
	 * neither is even opened. */
	if (stat(path, &st) < 0)
		return -1;
	if ((e = s_regular(&st))) {
		errno = e;
		return -1;
	}
	/* O_NONBLOCK: should the path have become a FIFO since, the open does
	 * not wait for a writer; what was opened is checked again. */
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0)
		return -1;
	if (fstat(fd, ret_st) < 0 || (fl = fcntl(fd, F_GETFL)) < 0 ||
	    fcntl(fd, F_SETFL, fl & ~O_NONBLOCK) < 0) {
		e = errno;
		goto fail;
	}
	if ((e = s_regular(ret_st)))
		goto fail;
	return fd;
fail:
	close(fd);
	errno = e;
	return -1;
}

int cp_read_fd(int fd, size_t size, size_t max, char **ret_data, size_t *ret_len)
{
	cp_buf b = {0};
	int e;

	if (size > max) {
		errno = EFBIG;
		return -1;
	}
	/* Read in place into a buffer of the size fstat gave (and one more
	 * byte, to see the end): a large file is neither copied nor wiped
	 * over and over as a growing buffer would be. It may still grow. */
	if (size > SIZE_MAX - 2 || s_buf_reserve(&b, size + 1)) {
		e = ENOMEM;
		goto out;
	}
	for (;;) {
		if (b.cap - b.len - 1 == 0 && s_buf_reserve(&b, 4096)) {
			e = ENOMEM;
			goto out;
		}
		size_t room = b.cap - b.len - 1;
		if (room > max + 1 - b.len)
			room = max + 1 - b.len; /* one byte past max is enough to refuse */
		ssize_t n = read(fd, b.data + b.len, room);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			e = errno;
			goto out;
		}
		if (n == 0)
			break;
		if (b.len + (size_t)n > max) {
			e = EFBIG; /* it grew while we read */
			goto out;
		}
		b.len += (size_t)n;
		b.data[b.len] = '\0';
	}
	*ret_len = b.len;
	*ret_data = cp_buf_steal(&b);
	e = 0;
out:
	cp_buf_free(&b);
	if (!e)
		return 0;
	errno = e;
	return -1;
}

int cp_read_file(const char *path, size_t max, char **ret_data, size_t *ret_len)
{
	struct stat st;
	int fd = cp_open_regular(path, &st), r, e;
	if (fd < 0)
		return -1;
	r = cp_read_fd(fd, (uintmax_t)st.st_size > max ? max + 1 : (size_t)st.st_size, max,
		       ret_data, ret_len);
	e = errno;
	close(fd);
	errno = e;
	return r;
}

const char *cp_read_file_strerror(int e)
{
	switch (e) {
	case EINVAL:
		return "not a regular file";
	case EISDIR:
		return "is a directory";
	default:
		return strerror(e);
	}
}

const char *cp_env(const char *name)
{
	const char *v = getenv(name);
	return v && *v ? v : NULL;
}

size_t cp_edit_distance(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);
	if (la > 64 || lb > 64)
		return SIZE_MAX;
	size_t row[65];
	for (size_t j = 0; j <= lb; j++)
		row[j] = j;
	for (size_t i = 1; i <= la; i++) {
		size_t diag = row[0];
		row[0] = i;
		for (size_t j = 1; j <= lb; j++) {
			size_t up = row[j];
			size_t best = diag + (a[i - 1] != b[j - 1]);
			if (up + 1 < best)
				best = up + 1;
			if (row[j - 1] + 1 < best)
				best = row[j - 1] + 1;
			row[j] = best;
			diag = up;
		}
	}
	return row[lb];
}

bool cp_streq_icase(const char *a, const char *b)
{
	for (;; a++, b++) {
		unsigned char x = (unsigned char)*a, y = (unsigned char)*b;
		if (x >= 'A' && x <= 'Z')
			x = (unsigned char)(x - 'A' + 'a');
		if (y >= 'A' && y <= 'Z')
			y = (unsigned char)(y - 'A' + 'a');
		if (x != y)
			return false;
		if (!x)
			return true;
	}
}

char *cp_trim(char *s)
{
	while (*s == ' ' || *s == '\t' || *s == '\r' || *s == '\n')
		s++;
	size_t n = strlen(s);
	while (n && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\r' || s[n - 1] == '\n'))
		s[--n] = '\0';
	return s;
}

/* Days from civil (Howard Hinnant's algorithm), independent of TZ. */
static int64_t s_days_from_civil(int64_t y, unsigned m, unsigned d)
{
	y -= m <= 2;
	int64_t era = (y >= 0 ? y : y - 399) / 400;
	unsigned yoe = (unsigned)(y - era * 400);
	unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
	unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + (int64_t)doe - 719468;
}

void cp_format_iso8601(int64_t t, char buf[static 21])
{
	time_t tt = (time_t)t;
	struct tm tm;
	if (!gmtime_r(&tt, &tm) || tm.tm_year + 1900 > 9999 || tm.tm_year + 1900 < 0) {
		snprintf(buf, 21, "1970-01-01T00:00:00Z");
		return;
	}
	unsigned f[6] = {(unsigned)(tm.tm_year + 1900), (unsigned)(tm.tm_mon + 1), (unsigned)tm.tm_mday,
			 (unsigned)tm.tm_hour, (unsigned)tm.tm_min, (unsigned)tm.tm_sec};
	char *p = buf;
	for (int i = 0; i < 6; i++) {
		unsigned v = f[i];
		if (i == 0) {
			*p++ = (char)('0' + v / 1000 % 10);
			*p++ = (char)('0' + v / 100 % 10);
		}
		*p++ = (char)('0' + v / 10 % 10);
		*p++ = (char)('0' + v % 10);
		*p++ = "--T::Z"[i];
	}
	*p = '\0';
}

static int s_digits(const char *s, int n, int *ret)
{
	int v = 0;
	for (int i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (s[i] - '0');
	}
	*ret = v;
	return 0;
}

int cp_parse_iso8601(const char *s, int64_t *ret)
{
	int Y, M, D, h, m, sec;
	if (!s || strlen(s) < 19)
		return -1;
	if (s_digits(s, 4, &Y) || s[4] != '-' || s_digits(s + 5, 2, &M) || s[7] != '-' ||
	    s_digits(s + 8, 2, &D) || (s[10] != 'T' && s[10] != 't' && s[10] != ' ') ||
	    s_digits(s + 11, 2, &h) || s[13] != ':' || s_digits(s + 14, 2, &m) || s[16] != ':' ||
	    s_digits(s + 17, 2, &sec))
		return -1;
	if (M < 1 || M > 12 || D < 1 || D > 31 || h > 23 || m > 59 || sec > 60)
		return -1;
	const char *p = s + 19;
	if (*p == '.') {
		p++;
		if (*p < '0' || *p > '9')
			return -1;
		while (*p >= '0' && *p <= '9')
			p++;
	}
	int64_t off = 0;
	if (*p == 'Z' || *p == 'z') {
		p++;
	} else if (*p == '+' || *p == '-') {
		int oh, om;
		int sign = *p == '-' ? -1 : 1;
		if (s_digits(p + 1, 2, &oh) || p[3] != ':' || s_digits(p + 4, 2, &om) || oh > 23 || om > 59)
			return -1;
		off = sign * (oh * 3600 + om * 60);
		p += 6;
	} else {
		return -1;
	}
	if (*p)
		return -1;
	int64_t days = s_days_from_civil(Y, (unsigned)M, (unsigned)D);
	*ret = days * 86400 + h * 3600 + m * 60 + sec - off;
	return 0;
}

int64_t cp_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec;
}

uint64_t cp_random64(void)
{
	static uint64_t counter;
	uint64_t v;
	if (getrandom(&v, sizeof v, GRND_NONBLOCK) == (ssize_t)sizeof v)
		return v;
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	v = ((uint64_t)getpid() << 32) ^ (uint64_t)ts.tv_nsec ^ ((uint64_t)ts.tv_sec << 20) ^ ++counter;
	/* splitmix64 finalizer */
	v = (v ^ (v >> 30)) * 0xbf58476d1ce4e5b9ULL;
	v = (v ^ (v >> 27)) * 0x94d049bb133111ebULL;
	return v ^ (v >> 31);
}
