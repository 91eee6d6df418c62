/* test-serve.c - the loopback credentials endpoint of `exec` (serve.h):
 * request parsing, the status decision, the document (read back by the
 * container/instance credentials parser), and a live server that a slow
 * client does not block. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "imds.h"
#include "serve.h"
#include "tap.h"

static int parse(const char *s, cp_http_request *r)
{
	return cp_http_parse_request(s, strlen(s), r);
}

static void t_parse(void)
{
	cp_http_request r;
	tap_ok(parse("GET /p HTTP/1.1\r\nHost: x\r\nAuthorization: tok\r\n\r\n", &r) == 0 &&
		       r.method_len == 3 && r.target_len == 2 && r.auth && r.auth_len == 3 &&
		       memcmp(r.auth, "tok", 3) == 0,
	       "a complete GET with Authorization");
	tap_ok(parse("GET /p HTTP/1.1\r\naUTHORIZATION:   tok  \r\n\r\n", &r) == 0 && r.auth_len == 3,
	       "header name any case, OWS trimmed");
	tap_ok(parse("GET /p HTTP/1.0\r\n\r\n", &r) == 0 && !r.auth, "HTTP/1.0, no Authorization");
	tap_ok(parse("GET /p HTTP/1.1\r\nHost: x\r\n", &r) == -1, "incomplete head: need more");
	tap_ok(parse("GET /p HT", &r) == -1, "partial request line: need more");
	tap_ok(parse("GET /p HTTP/1.1\nHost: x\n\n", &r) == 400, "bare LF: 400");
	tap_ok(parse("GET /p HTTP/1.1\r\nA: 1\r\nA\r\n\r\n", &r) == 400, "header without colon: 400");
	tap_ok(parse("GET /p HTTP/1.1\r\n Folded: x\r\n\r\n", &r) == 400, "folded header: 400");
	tap_ok(parse("GET /p HTTP/1.1\r\nAuthorization: a\r\nAuthorization: a\r\n\r\n", &r) == 400,
	       "two Authorization headers: 400");
	tap_ok(parse("GET /p HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n", &r) == 400,
	       "Transfer-Encoding: 400");
	tap_ok(parse("GET /p HTTP/1.1\r\nContent-Length: 5\r\n\r\n", &r) == 400, "a body: 400");
	tap_ok(parse("GET /p HTTP/1.1\r\nContent-Length: 0\r\n\r\n", &r) == 0, "Content-Length 0 ok");
	tap_ok(parse("GET /p HTTP/2.0\r\n\r\n", &r) == 505, "HTTP/2.0: 505");
	tap_ok(parse("GET /p FOO\r\n\r\n", &r) == 400, "no version: 400");
	tap_ok(parse("GET  /p HTTP/1.1\r\n\r\n", &r) == 400, "two spaces: 400");
	tap_ok(parse("G(T /p HTTP/1.1\r\n\r\n", &r) == 400, "method not a token: 400");
	tap_ok(parse("GET /p HTTP/1.1\r\nX: a\x01b\r\n\r\n", &r) == 400, "control byte: 400");
	char big[CP_SERVE_MAX_HEAD + 64];
	int n = snprintf(big, sizeof big, "GET /p HTTP/1.1\r\nX: ");
	memset(big + n, 'a', sizeof big - (size_t)n);
	tap_ok(cp_http_parse_request(big, CP_SERVE_MAX_HEAD, &r) == 431, "head over 8 KiB: 431");
	tap_ok(cp_http_parse_request(big, CP_SERVE_MAX_HEAD - 1, &r) == -1, "just under: need more");
}

static void t_decide(void)
{
	cp_http_request r;
	const char *path = "/abc", *tok = "sekrit";
	parse("GET /abc HTTP/1.1\r\nAuthorization: sekrit\r\n\r\n", &r);
	tap_ok(cp_serve_decide(&r, path, tok) == 200, "right token: 200");
	parse("GET /abc HTTP/1.1\r\nAuthorization: sekriT\r\n\r\n", &r);
	tap_ok(cp_serve_decide(&r, path, tok) == 403, "wrong token: 403");
	parse("GET /abc HTTP/1.1\r\nAuthorization: sekrit2\r\n\r\n", &r);
	tap_ok(cp_serve_decide(&r, path, tok) == 403, "longer token: 403");
	parse("GET /abc HTTP/1.1\r\nAuthorization: \r\n\r\n", &r);
	tap_ok(cp_serve_decide(&r, path, tok) == 403, "empty token: 403");
	parse("GET /abc HTTP/1.1\r\n\r\n", &r);
	tap_ok(cp_serve_decide(&r, path, tok) == 403, "missing token: 403");
	parse("GET /abc?x HTTP/1.1\r\nAuthorization: sekrit\r\n\r\n", &r);
	tap_ok(cp_serve_decide(&r, path, tok) == 404, "another target: 404");
	parse("POST /abc HTTP/1.1\r\nAuthorization: sekrit\r\n\r\n", &r);
	tap_ok(cp_serve_decide(&r, path, tok) == 405, "POST: 405");
	tap_ok(cp_consttime_eq("ab", 2, "ab", 2) && !cp_consttime_eq("ab", 2, "abab", 4) &&
		       !cp_consttime_eq("", 0, "a", 1) && cp_consttime_eq("", 0, "", 0),
	       "constant-time compare");
}

static void t_document(void)
{
	cp_creds c = {0}, back = {0};
	cp_error err = {0};
	cp_creds_set(&c, "ASIAEXAMPLE", "se\"cret", "tok/en+=", 1900000000, "123456789012");
	char *doc = cp_serve_creds_json(&c, 1);
	int r = doc ? cp_imds_parse_credentials(doc, strlen(doc), &back, &err) : -1;
	tap_ok(r == 0 && strcmp(back.access_key_id, "ASIAEXAMPLE") == 0 &&
		       strcmp(back.secret_access_key, "se\"cret") == 0 &&
		       strcmp(back.session_token, "tok/en+=") == 0 && back.expiration == 1900000000,
	       "the document reads back through the container parser (%s)", err.msg);
	tap_ok(doc && strstr(doc, "\"AccountId\":\"123456789012\"") && strstr(doc, "\"Token\""),
	       "AccountId and Token named as the agents do");
	cp_free_secret(doc);
	cp_creds_clear(&back);
	cp_creds_set(&c, "AKIAEXAMPLE", "s", NULL, 0, NULL);
	doc = cp_serve_creds_json(&c, 1000);
	tap_ok(doc && strstr(doc, "\"Token\":\"\"") && strstr(doc, "\"Expiration\":\"1970-01-01T01:16:40Z\""),
	       "long-term keys: empty Token, Expiration now + 1 hour");
	cp_free_secret(doc);
	cp_creds_clear(&c);
}

/* ---- a live server ---- */

static int s_calls;
static int get_creds(void *ud, cp_creds *ret, cp_error *err)
{
	(void)ud;
	(void)err;
	s_calls++;
	return cp_creds_set(ret, "ASIALIVE", "livesecret", "livetoken", 1900000000, NULL);
}

static int on_wake(void *ud)
{
	(void)ud;
	return 1;
}

static int dial(uint16_t port)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (connect(fd, (struct sockaddr *)&a, sizeof a)) {
		close(fd);
		return -1;
	}
	return fd;
}

static int status_of(int fd, char *buf, size_t n)
{
	size_t got = 0;
	ssize_t r;
	while (got + 1 < n && (r = read(fd, buf + got, n - 1 - got)) > 0)
		got += (size_t)r;
	buf[got] = 0;
	int st = 0;
	sscanf(buf, "HTTP/1.1 %d", &st);
	return st;
}

static void t_live(void)
{
	cp_server s;
	cp_error err = {0};
	int wake[2];
	if (cp_server_open(&s, &err) || pipe(wake)) {
		tap_ok(0, "server open: %s", err.msg);
		return;
	}
	tap_ok(strlen(s.token) == 64 && strlen(s.path) == 33 && strncmp(s.url, "http://127.0.0.1:", 17) == 0,
	       "random token, path, loopback URL");
	pid_t pid = fork();
	if (pid == 0) {
		close(wake[0]);
		int bad = 0;
		char buf[4096], req[512];
		/* A slow client holds a connection open without a whole head. */
		int slow = dial(s.port);
		if (slow < 0 || write(slow, "GET ", 4) != 4)
			bad |= 1;
		struct timespec t0, t1;
		clock_gettime(CLOCK_MONOTONIC, &t0);
		int fd = dial(s.port);
		snprintf(req, sizeof req, "GET %s HTTP/1.1\r\nHost: x\r\nAuthorization: %s\r\n\r\n", s.path,
			 s.token);
		if (fd < 0 || write(fd, req, strlen(req)) != (ssize_t)strlen(req) ||
		    status_of(fd, buf, sizeof buf) != 200 || !strstr(buf, "\"livetoken\""))
			bad |= 2;
		close(fd);
		clock_gettime(CLOCK_MONOTONIC, &t1);
		if (t1.tv_sec - t0.tv_sec > 2)
			bad |= 4;
		/* 431: an endless header */
		fd = dial(s.port);
		memset(buf, 'a', sizeof buf);
		int n = snprintf(req, sizeof req, "GET %s HTTP/1.1\r\nX: ", s.path);
		if (write(fd, req, (size_t)n) != n || write(fd, buf, sizeof buf) != (ssize_t)sizeof buf ||
		    write(fd, buf, sizeof buf) != (ssize_t)sizeof buf || status_of(fd, buf, sizeof buf) != 431)
			bad |= 8;
		close(fd);
		/* the slow client is dropped at its deadline */
		struct pollfd pf = {.fd = slow, .events = POLLIN};
		if (poll(&pf, 1, CP_SERVE_CONN_MS + 3000) != 1 || read(slow, buf, sizeof buf) != 0)
			bad |= 16;
		close(slow);
		if (write(wake[1], "x", 1) != 1)
			bad |= 32;
		_exit(bad);
	}
	close(wake[1]);
	int r = cp_server_run(&s, wake[0], on_wake, get_creds, NULL, &err);
	int st = 0;
	waitpid(pid, &st, 0);
	tap_ok(r == 0, "the server ran: %s", err.msg);
	tap_ok(WIFEXITED(st) && WEXITSTATUS(st) == 0, "client checks (bits %d: 1 slow, 2 200, 4 blocked, "
	       "8 431, 16 slow not dropped)", WIFEXITED(st) ? WEXITSTATUS(st) : -1);
	tap_ok(s_calls == 1 && s.served == 1, "one credentials fetch for one 200");
	uint16_t port = s.port;
	cp_server_close(&s);
	int fd = dial(port);
	tap_ok(fd < 0 && errno == ECONNREFUSED, "closed: connection refused");
	if (fd >= 0)
		close(fd);
	close(wake[0]);
}

int main(void)
{
	t_parse();
	t_decide();
	t_document();
	t_live();
	return tap_done();
}
