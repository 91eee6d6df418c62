/* serve.c - the loopback credentials endpoint of `aws-credproc exec` (see serve.h). */
#include "serve.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "json.h"
#include "retry.h"

static bool s_tchar(unsigned char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       (c && strchr("!#$%&'*+-.^_`|~", c));
}

static bool s_name_is(const char *p, size_t n, const char *name)
{
	if (strlen(name) != n)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = p[i];
		if (c >= 'A' && c <= 'Z')
			c = (char)(c - 'A' + 'a');
		if (c != name[i])
			return false;
	}
	return true;
}

int cp_http_parse_request(const char *buf, size_t len, cp_http_request *ret)
{
	cp_http_request r = {0};
	size_t scan = len < CP_SERVE_MAX_HEAD ? len : CP_SERVE_MAX_HEAD;
	const char *end = NULL;
	for (size_t i = 0; i + 3 < scan; i++)
		if (buf[i] == '\r' && buf[i + 1] == '\n' && buf[i + 2] == '\r' && buf[i + 3] == '\n') {
			end = buf + i + 2; /* after the last header line's CRLF */
			break;
		}
	/* Bytes seen so far must already be well-formed where checkable. */
	for (size_t i = 0; i < scan; i++) {
		unsigned char c = (unsigned char)buf[i];
		if (end && buf + i >= end)
			break;
		if (c == '\n' && (i == 0 || buf[i - 1] != '\r'))
			return 400;
		if ((c < 0x20 && c != '\r' && c != '\n' && c != '\t') || c == 0x7f)
			return 400;
	}
	if (!end)
		return len >= CP_SERVE_MAX_HEAD ? 431 : -1;

	/* Request line: METHOD SP TARGET SP HTTP/1.x CRLF */
	const char *p = buf, *eol = memchr(p, '\r', (size_t)(end - p));
	if (!eol || eol == p)
		return 400;
	const char *sp1 = memchr(p, ' ', (size_t)(eol - p));
	if (!sp1 || sp1 == p)
		return 400;
	for (const char *q = p; q < sp1; q++)
		if (!s_tchar((unsigned char)*q))
			return 400;
	const char *t = sp1 + 1;
	const char *sp2 = memchr(t, ' ', (size_t)(eol - t));
	if (!sp2 || sp2 == t)
		return 400;
	for (const char *q = t; q < sp2; q++)
		if ((unsigned char)*q <= 0x20 || (unsigned char)*q >= 0x7f)
			return 400;
	const char *ver = sp2 + 1;
	size_t vlen = (size_t)(eol - ver);
	if (vlen != 8 || memcmp(ver, "HTTP/1.", 7) != 0)
		return vlen >= 5 && memcmp(ver, "HTTP/", 5) == 0 ? 505 : 400;
	if (ver[7] != '0' && ver[7] != '1')
		return 505;
	r.method = p;
	r.method_len = (size_t)(sp1 - p);
	r.target = t;
	r.target_len = (size_t)(sp2 - t);

	/* Headers: NAME ":" OWS VALUE OWS CRLF; no folding. */
	for (p = eol + 2; p < end;) {
		eol = memchr(p, '\r', (size_t)(end - p));
		if (!eol || eol[1] != '\n')
			return 400;
		const char *colon = memchr(p, ':', (size_t)(eol - p));
		if (!colon || colon == p)
			return 400;
		for (const char *q = p; q < colon; q++)
			if (!s_tchar((unsigned char)*q))
				return 400;
		const char *v = colon + 1, *ve = eol;
		while (v < ve && (*v == ' ' || *v == '\t'))
			v++;
		while (ve > v && (ve[-1] == ' ' || ve[-1] == '\t'))
			ve--;
		size_t nlen = (size_t)(colon - p);
		if (s_name_is(p, nlen, "authorization")) {
			if (r.auth)
				return 400;
			r.auth = v;
			r.auth_len = (size_t)(ve - v);
		} else if (s_name_is(p, nlen, "transfer-encoding")) {
			return 400;
		} else if (s_name_is(p, nlen, "content-length")) {
			if (ve - v != 1 || *v != '0')
				return 400;
		}
		p = eol + 2;
	}
	*ret = r;
	return 0;
}

bool cp_consttime_eq(const char *a, size_t alen, const char *b, size_t blen)
{
	unsigned char d = alen != blen;
	if (!blen)
		return !alen;
	for (size_t i = 0; i < alen; i++)
		d |= (unsigned char)(a[i] ^ b[i % blen]);
	return d == 0;
}

int cp_serve_decide(const cp_http_request *req, const char *path, const char *token)
{
	if (!cp_consttime_eq(req->target, req->target_len, path, strlen(path)))
		return 404;
	if (req->method_len != 3 || memcmp(req->method, "GET", 3) != 0)
		return 405;
	if (!req->auth || !cp_consttime_eq(req->auth, req->auth_len, token, strlen(token)))
		return 403;
	return 200;
}

char *cp_serve_creds_json(const cp_creds *c, int64_t now)
{
	char exp[21];
	char *text = NULL;
	cJSON *o = cJSON_CreateObject();
	if (!o)
		return NULL;
	cp_format_iso8601(c->expiration ? c->expiration : now + 3600, exp);
	if (!cJSON_AddStringToObject(o, "AccessKeyId", c->access_key_id) ||
	    !cJSON_AddStringToObject(o, "SecretAccessKey", c->secret_access_key) ||
	    !cJSON_AddStringToObject(o, "Token", c->session_token ? c->session_token : "") ||
	    !cJSON_AddStringToObject(o, "Expiration", exp) ||
	    (c->account_id && !cJSON_AddStringToObject(o, "AccountId", c->account_id)))
		goto out;
	size_t n = strlen(c->access_key_id) + strlen(c->secret_access_key) +
		   (c->session_token ? strlen(c->session_token) : 0) +
		   (c->account_id ? strlen(c->account_id) : 0);
	if (cp_json_print_secret(o, false, n * 6 + 512, &text))
		text = NULL;
out:
	cp_json_free_secret(o);
	return text;
}

static int s_random_hex(char *out, size_t nbytes, cp_error *err)
{
	static const char x[] = "0123456789abcdef";
	unsigned char b[32];
	size_t got = 0;
	while (got < nbytes) {
		ssize_t n = getrandom(b + got, nbytes - got, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return cp_error_set(err, CP_EINTERNAL, "cannot draw random bytes: %s", strerror(errno));
		got += (size_t)n;
	}
	for (size_t i = 0; i < nbytes; i++) {
		out[2 * i] = x[b[i] >> 4];
		out[2 * i + 1] = x[b[i] & 15];
	}
	out[2 * nbytes] = 0;
	explicit_bzero(b, sizeof b);
	return 0;
}

int cp_server_open(cp_server *s, cp_error *err)
{
	memset(s, 0, sizeof *s);
	s->listen_fd = -1;
	int r;
	s->path[0] = '/';
	if ((r = s_random_hex(s->token, 32, err)) || (r = s_random_hex(s->path + 1, 16, err)))
		return r;
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return cp_error_set(err, CP_EINTERNAL, "cannot open the credentials endpoint's socket: %s",
				    strerror(errno));
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = 0};
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	socklen_t al = sizeof a;
	if (bind(fd, (struct sockaddr *)&a, sizeof a) || listen(fd, 64) ||
	    getsockname(fd, (struct sockaddr *)&a, &al)) {
		int e = errno;
		close(fd);
		return cp_error_set(err, CP_EINTERNAL, "cannot listen on 127.0.0.1 for the credentials endpoint: %s",
				    strerror(e));
	}
	s->listen_fd = fd;
	s->port = ntohs(a.sin_port);
	snprintf(s->url, sizeof s->url, "http://127.0.0.1:%u%s", (unsigned)s->port, s->path);
	return 0;
}

void cp_server_close(cp_server *s)
{
	if (s->listen_fd >= 0)
		close(s->listen_fd);
	s->listen_fd = -1;
	explicit_bzero(s->token, sizeof s->token);
}

typedef struct s_conn {
	int fd;
	int64_t deadline; /* monotonic ms */
	size_t len;
	char in[CP_SERVE_MAX_HEAD];
	char *out; /* the answer, may hold a secret */
	size_t out_len, out_off;
} s_conn;

static void s_conn_close(s_conn *c)
{
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
	if (c->out) {
		explicit_bzero(c->out, c->out_len);
		free(c->out);
	}
	c->out = NULL;
	c->out_len = c->out_off = c->len = 0;
	explicit_bzero(c->in, sizeof c->in);
}

static const char *s_reason(int st)
{
	switch (st) {
	case 200: return "OK";
	case 400: return "Bad Request";
	case 403: return "Forbidden";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 408: return "Request Timeout";
	case 431: return "Request Header Fields Too Large";
	case 503: return "Service Unavailable";
	case 505: return "HTTP Version Not Supported";
	default: return "Internal Server Error";
	}
}

/* Sets c->out to a whole answer; body is copied (may be a secret). */
static int s_answer(s_conn *c, int st, const char *body)
{
	size_t blen = strlen(body);
	char head[256];
	int h = snprintf(head, sizeof head,
			 "HTTP/1.1 %d %s\r\nContent-Type: application/json\r\nContent-Length: %zu\r\n"
			 "Cache-Control: no-store\r\nConnection: close\r\n%s\r\n",
			 st, s_reason(st), blen, st == 405 ? "Allow: GET\r\n" : "");
	c->out = malloc((size_t)h + blen);
	if (!c->out)
		return CP_EINTERNAL;
	memcpy(c->out, head, (size_t)h);
	memcpy(c->out + h, body, blen);
	c->out_len = (size_t)h + blen;
	c->out_off = 0;
	return 0;
}

static char *s_error_body(const char *code, const char *msg)
{
	cJSON *o = cJSON_CreateObject();
	char *s = NULL;
	if (o && cJSON_AddStringToObject(o, "code", code) && cJSON_AddStringToObject(o, "message", msg))
		s = cJSON_PrintUnformatted(o);
	cJSON_Delete(o);
	return s;
}

static int s_handle(cp_server *s, s_conn *c, int st, const cp_http_request *req, cp_serve_creds_fn get,
		    void *ud)
{
	if (st == 0)
		st = cp_serve_decide(req, s->path, s->token);
	if (st != 200) {
		static const struct { int st; const char *code, *msg; } m[] = {
			{400, "BadRequest", "malformed request"},
			{403, "Forbidden", "missing or wrong Authorization token"},
			{404, "NotFound", "no such path"},
			{405, "MethodNotAllowed", "only GET is served"},
			{408, "RequestTimeout", "the request took too long"},
			{431, "RequestHeaderFieldsTooLarge", "the request head is over 8 KiB"},
			{505, "HTTPVersionNotSupported", "HTTP/1.0 or HTTP/1.1 only"},
		};
		const char *code = "BadRequest", *msg = "malformed request";
		for (size_t i = 0; i < sizeof m / sizeof m[0]; i++)
			if (m[i].st == st)
				code = m[i].code, msg = m[i].msg;
		char *b = s_error_body(code, msg);
		int r = b ? s_answer(c, st, b) : CP_EINTERNAL;
		free(b);
		s->refused++;
		return r;
	}
	cp_creds cr = {0};
	cp_error e = {0};
	int r = get(ud, &cr, &e);
	if (r) {
		/* 503 for what may pass (transport, source), 500 otherwise. */
		int hs = r == CP_ETRANSPORT || r == CP_ESOURCE ? 503 : 500;
		char code[16];
		snprintf(code, sizeof code, "Status%d", r);
		char *b = s_error_body(r == CP_EREFUSED ? "Refused" : r == CP_ETRANSPORT ? "Transport"
				       : r == CP_ESOURCE ? "SourceUnavailable" : r == CP_ECONFIG ? "Configuration"
				       : r == CP_EINTERACTIVE ? "NeedsPerson" : "Internal", e.msg[0] ? e.msg : code);
		int rr = b ? s_answer(c, hs, b) : CP_EINTERNAL;
		free(b);
		s->failed++;
		return rr;
	}
	char *doc = cp_serve_creds_json(&cr, cp_now());
	cp_creds_clear(&cr);
	if (!doc)
		return CP_EINTERNAL;
	r = s_answer(c, 200, doc);
	cp_free_secret(doc);
	s->served++;
	return r;
}

int cp_server_run(cp_server *s, int wake_fd, cp_serve_wake_fn on_wake, cp_serve_creds_fn get,
		  void *ud, cp_error *err)
{
	s_conn *conns = calloc(CP_SERVE_MAX_CONNS, sizeof *conns);
	struct pollfd pf[CP_SERVE_MAX_CONNS + 2];
	int map[CP_SERVE_MAX_CONNS + 2];
	int status = 0;
	if (!conns)
		return cp_error_set(err, CP_EINTERNAL, "out of memory");
	for (int i = 0; i < CP_SERVE_MAX_CONNS; i++)
		conns[i].fd = -1;
	for (;;) {
		int n = 0, live = 0;
		int64_t now = cp_mono_ms(), next = -1;
		pf[n].fd = wake_fd, pf[n].events = POLLIN, map[n++] = -1;
		pf[n].fd = s->listen_fd, pf[n].events = POLLIN, map[n++] = -2;
		for (int i = 0; i < CP_SERVE_MAX_CONNS; i++) {
			s_conn *c = &conns[i];
			if (c->fd < 0)
				continue;
			if (now >= c->deadline) {
				s_conn_close(c); /* too slow: dropped, the others go on */
				continue;
			}
			live++;
			pf[n].fd = c->fd, pf[n].events = c->out ? POLLOUT : POLLIN, map[n++] = i;
			if (next < 0 || c->deadline < next)
				next = c->deadline;
		}
		/* Full: stop accepting until a slot frees (the kernel queues). */
		if (live == CP_SERVE_MAX_CONNS)
			pf[1].fd = -1;
		int timeout = next < 0 ? -1 : (int)(next - now + 1);
		int pr = poll(pf, (nfds_t)n, timeout);
		if (pr < 0) {
			if (errno == EINTR)
				continue;
			status = cp_error_set(err, CP_EINTERNAL, "poll: %s", strerror(errno));
			break;
		}
		if (pf[0].revents && on_wake(ud))
			break;
		if (pf[1].fd >= 0 && (pf[1].revents & POLLIN)) {
			for (int i = 0; i < CP_SERVE_MAX_CONNS; i++) {
				if (conns[i].fd >= 0)
					continue;
				int fd = accept4(s->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
				if (fd < 0)
					break;
				conns[i].fd = fd;
				conns[i].deadline = cp_mono_ms() + CP_SERVE_CONN_MS;
				conns[i].len = 0;
			}
		}
		for (int k = 2; k < n; k++) {
			s_conn *c = &conns[map[k]];
			if (!pf[k].revents || c->fd < 0)
				continue;
			if (c->out) {
				ssize_t w = send(c->fd, c->out + c->out_off, c->out_len - c->out_off, MSG_NOSIGNAL);
				if (w < 0 && (errno == EAGAIN || errno == EINTR))
					continue;
				if (w <= 0 || (c->out_off += (size_t)w) == c->out_len) {
					shutdown(c->fd, SHUT_WR);
					s_conn_close(c);
				}
				continue;
			}
			ssize_t rd = recv(c->fd, c->in + c->len, sizeof c->in - c->len, 0);
			if (rd < 0 && (errno == EAGAIN || errno == EINTR))
				continue;
			if (rd <= 0) {
				s_conn_close(c);
				continue;
			}
			c->len += (size_t)rd;
			cp_http_request req;
			int st = cp_http_parse_request(c->in, c->len, &req);
			if (st == -1)
				continue;
			if (s_handle(s, c, st, &req, get, ud)) {
				status = cp_error_set(err, CP_EINTERNAL, "out of memory");
				goto out;
			}
			/* Try at once; POLLOUT finishes the rest. */
			ssize_t w = send(c->fd, c->out, c->out_len, MSG_NOSIGNAL);
			if (w > 0 && (size_t)w == c->out_len) {
				shutdown(c->fd, SHUT_WR);
				s_conn_close(c);
			} else if (w > 0) {
				c->out_off = (size_t)w;
			} else if (errno != EAGAIN && errno != EINTR) {
				s_conn_close(c);
			}
		}
	}
out:
	for (int i = 0; i < CP_SERVE_MAX_CONNS; i++)
		s_conn_close(&conns[i]);
	free(conns);
	return status;
}
