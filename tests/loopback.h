/* loopback.h - an in-process loopback HTTP server for the unit tests of the
 * network clients: a forked child that answers scripted replies (srv_route)
 * and logs every request it saw, so that a test can check the wire.
 *
 *   srv s; srv_route routes[] = {{"GET", "/path", 0, 200, "body", SRV_REPLY}};
 *   srv_start(&s, routes, n);   ...use s.base...   char *log = srv_stop(&s);
 *
 * The log holds, per request: "=== METHOD TARGET\n", the header lines, then
 * "body: BODY\n". Every reply carries Content-Length, a fixed Date, the
 * route's Content-Type (if any) and "Connection: close"; an unscripted
 * request gets 404 "not scripted".
 *
 * Header-only; include it once per test program. The one loopback server of
 * the C unit tests (test-ecs, test-imds, test-sso, test-sts). */
#ifndef CP_TEST_LOOPBACK_H
#define CP_TEST_LOOPBACK_H

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cjson/cJSON.h>

enum { SRV_REPLY, SRV_HANG, SRV_CLOSE };

#define SRV_JSON "application/json"

typedef struct srv_route {
	const char *method;       /* NULL: any */
	const char *path;         /* request target, exact; "*": any */
	int uses;                 /* 0: unlimited; else served this many times */
	int status;
	const char *body;
	int action;               /* SRV_REPLY, SRV_HANG (no reply until the client gives up), SRV_CLOSE */
	const char *content_type; /* NULL: no Content-Type header */
	const char *write_path;   /* before replying, write write_body here (another process's work) */
	const char *write_body;
} srv_route;

typedef struct srv {
	pid_t pid;
	int port;
	int logfd;
	char base[64];       /* "http://127.0.0.1:PORT" */
} srv;


__attribute__((unused)) static void srv_write_all(int fd, const char *p, size_t n)
{
	while (n) {
		ssize_t w = write(fd, p, n);
		if (w <= 0) {
			if (w < 0 && errno == EINTR)
				continue;
			return;
		}
		p += w;
		n -= (size_t)w;
	}
}

/* Reads one request (headers and a Content-Length body); 0 or -1. */
__attribute__((unused)) static int srv_read_request(int c, char *buf, size_t cap, size_t *ret_len)
{
	size_t len = 0;
	char *end = NULL;
	size_t want = 0;
	for (;;) {
		struct pollfd p = {.fd = c, .events = POLLIN};
		if (poll(&p, 1, 5000) <= 0)
			return -1;
		ssize_t n = read(c, buf + len, cap - 1 - len);
		if (n <= 0)
			return -1;
		len += (size_t)n;
		buf[len] = '\0';
		if (!end && (end = strstr(buf, "\r\n\r\n"))) {
			char *cl = strcasestr(buf, "\r\nContent-Length:");
			size_t body = cl && cl < end ? strtoul(cl + 17, NULL, 10) : 0;
			want = (size_t)(end + 4 - buf) + body;
		}
		if (end && len >= want)
			break;
		if (len >= cap - 1)
			return -1;
	}
	*ret_len = len;
	return 0;
}

/* Writes one request's log entry (see the top of this file). */
__attribute__((unused)) static void srv_log_request(int logfd, const char *buf, const char *method,
						   const char *target)
{
	static char log[64 * 1024];
	const char *hdr_end = strstr(buf, "\r\n\r\n");
	const char *first_eol = strstr(buf, "\r\n");
	int n = snprintf(log, sizeof log, "=== %s %s\n", method, target);
	for (const char *p = first_eol + 2; p < hdr_end && n < (int)sizeof log - 2;) {
		const char *eol = strstr(p, "\r\n");
		n += snprintf(log + n, sizeof log - (size_t)n, "%.*s\n", (int)(eol - p), p);
		p = eol + 2;
	}
	if (n < (int)sizeof log - 2)
		n += snprintf(log + n, sizeof log - (size_t)n, "body: %s\n", hdr_end + 4);
	if (n > (int)sizeof log - 1)
		n = (int)sizeof log - 1;
	srv_write_all(logfd, log, (size_t)n);
}

/* The first route for this request that has uses left (counting one). */
__attribute__((unused)) static srv_route *srv_match(srv_route *routes, size_t nroutes,
						    const char *method, const char *target)
{
	for (size_t i = 0; i < nroutes; i++) {
		srv_route *x = &routes[i];
		if ((!x->method || strcmp(x->method, method) == 0) &&
		    (strcmp(x->path, "*") == 0 || strcmp(x->path, target) == 0) && x->uses >= 0) {
			if (x->uses > 0 && --x->uses == 0)
				x->uses = -1;
			return x;
		}
	}
	return NULL;
}

__attribute__((unused)) static void srv_serve(int lfd, int logfd, srv_route *routes, size_t nroutes)
{
	static char buf[256 * 1024];
	for (;;) { /* until srv_stop() kills it */
		int c = accept(lfd, NULL, NULL);
		if (c < 0)
			continue;
		size_t len;
		if (srv_read_request(c, buf, sizeof buf, &len) != 0) {
			close(c);
			continue;
		}
		char method[16] = "", target[1024] = "";
		sscanf(buf, "%15s %1023s", method, target);
		srv_log_request(logfd, buf, method, target);

		srv_route *r = srv_match(routes, nroutes, method, target);
		if (r && r->write_path) {
			FILE *f = fopen(r->write_path, "w");
			if (f) {
				fputs(r->write_body, f);
				fclose(f);
			}
		}
		if (r && r->action == SRV_HANG) {
			char tmp[256];
			struct pollfd p = {.fd = c, .events = POLLIN};
			while (poll(&p, 1, 10000) > 0 && read(c, tmp, sizeof tmp) > 0)
				;
		} else if (r && r->action == SRV_CLOSE) {
			/* nothing */
		} else {
			int status = r ? r->status : 404;
			const char *body = r ? (r->body ? r->body : "") : "not scripted";
			const char *ct = r ? r->content_type : NULL;
			char head[512];
			int hn = snprintf(head, sizeof head,
					  "HTTP/1.1 %d X\r\nContent-Length: %zu\r\n%s%s%s"
					  "Date: Mon, 20 Sep 2021 21:43:31 GMT\r\n"
					  "Connection: close\r\n\r\n",
					  status, strlen(body), ct ? "Content-Type: " : "", ct ? ct : "",
					  ct ? "\r\n" : "");
			srv_write_all(c, head, (size_t)hn);
			srv_write_all(c, body, strlen(body));
		}
		close(c);
	}
}

__attribute__((unused)) static int srv_start(srv *s, srv_route *routes, size_t nroutes)
{
	int lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t al = sizeof a;
	int pfd[2];
	if (lfd < 0 || bind(lfd, (struct sockaddr *)&a, sizeof a) != 0 || listen(lfd, 16) != 0 ||
	    getsockname(lfd, (struct sockaddr *)&a, &al) != 0 || pipe(pfd) != 0)
		return -1;
	fflush(stdout);
	fflush(stderr);
	pid_t pid = fork();
	if (pid < 0)
		return -1;
	if (pid == 0) {
		close(pfd[0]);
		srv_serve(lfd, pfd[1], routes, nroutes);
		_exit(0);
	}
	close(lfd);
	close(pfd[1]);
	s->pid = pid;
	s->port = ntohs(a.sin_port);
	s->logfd = pfd[0];
	snprintf(s->base, sizeof s->base, "http://127.0.0.1:%d", s->port);
	return 0;
}

/* Stops the server and returns what it logged (caller frees). */
__attribute__((unused)) static char *srv_stop(srv *s)
{
	/* SIGKILL: a handled SIGTERM could land just before accept() and be lost.
	 * Every log line was written before its reply was sent. */
	kill(s->pid, SIGKILL);
	waitpid(s->pid, NULL, 0);
	size_t cap = 256 * 1024, len = 0;
	char *log = malloc(cap);
	ssize_t n;
	while (len < cap - 1 && (n = read(s->logfd, log + len, cap - 1 - len)) > 0)
		len += (size_t)n;
	log[len] = '\0';
	close(s->logfd);
	return log;
}

/* One event of a recorded smithy-rs exchange (the "events" of an
 * http-traffic.json), as routes are built from it: what it holds, the
 * rest NULL. */
typedef struct srv_event {
	const cJSON *request;  /* "uri", "method", "headers" */
	const cJSON *response; /* the head ("Ok"): "status", "headers" */
	const char *data;      /* a body chunk, UTF-8 */
	bool data_is_response; /* the chunk's direction is "Response" */
} srv_event;

__attribute__((unused)) static srv_event srv_recorded_event(const cJSON *ev)
{
	const cJSON *a = cJSON_GetObjectItem(ev, "action");
	const cJSON *d = cJSON_GetObjectItem(a, "Data");
	const char *dir = cJSON_GetStringValue(cJSON_GetObjectItem(d, "direction"));
	srv_event e = {
		.request = cJSON_GetObjectItem(cJSON_GetObjectItem(a, "Request"), "request"),
		.response = cJSON_GetObjectItem(
			cJSON_GetObjectItem(cJSON_GetObjectItem(a, "Response"), "response"), "Ok"),
		.data = cJSON_GetStringValue(cJSON_GetObjectItem(cJSON_GetObjectItem(d, "data"), "Utf8")),
		.data_is_response = dir && strcmp(dir, "Response") == 0,
	};
	return e;
}

/* A port on which nothing listens (bound, then closed). */
__attribute__((unused)) static int closed_port(void)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t al = sizeof a;
	bind(fd, (struct sockaddr *)&a, sizeof a);
	getsockname(fd, (struct sockaddr *)&a, &al);
	close(fd);
	return ntohs(a.sin_port);
}

__attribute__((unused)) static int count_str(const char *hay, const char *needle)
{
	int n = 0;
	for (const char *p = hay; (p = strstr(p, needle)); p += strlen(needle))
		n++;
	return n;
}

#endif
