/* serve.h - the loopback credentials endpoint of `aws-credproc exec`.
 *
 * A tiny HTTP/1.1 server on 127.0.0.1 (a random port) that answers the
 * container-credentials document the SDKs read through
 * AWS_CONTAINER_CREDENTIALS_FULL_URI and AWS_CONTAINER_AUTHORIZATION_TOKEN:
 * {"AccessKeyId","SecretAccessKey","Token","Expiration"[,"AccountId"]}, the
 * shape of the ECS and EKS Pod Identity agents (and of what ecs.c reads).
 *
 * One path (random), GET only, one request per connection (the answer says
 * "Connection: close"), the request line and headers at most
 * CP_SERVE_MAX_HEAD bytes, each connection closed after CP_SERVE_CONN_MS.
 * The token is compared in constant time. Status: 404 another path, 405
 * another method, 403 a missing or wrong token, 200 the document, 500/503
 * a JSON {"code","message"} when the credentials cannot be had.
 * Core code: no libcurl, no libcrypto. */
#ifndef CP_SERVE_H
#define CP_SERVE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "creds.h"
#include "util.h"

#define CP_SERVE_MAX_HEAD 8192
#define CP_SERVE_MAX_CONNS 64
#define CP_SERVE_CONN_MS 5000

/* A parsed request: pointers into the caller's buffer (not NUL-terminated). */
typedef struct cp_http_request {
	const char *method;
	size_t method_len;
	const char *target;
	size_t target_len;
	const char *auth; /* the Authorization header's value; NULL if none */
	size_t auth_len;
} cp_http_request;

/* Parses the request line and headers of buf[0..len). Returns 0 when the
 * head is complete (ret set), -1 when more bytes are needed, or the HTTP
 * status to answer: 400 malformed (bare LF, control bytes, a header without
 * a colon, two Authorization headers, a body announced), 431 head over
 * CP_SERVE_MAX_HEAD, 505 not HTTP/1.0 or 1.1. */
int cp_http_parse_request(const char *buf, size_t len, cp_http_request *ret);

/* a and b equal, in time that depends only on the lengths. */
bool cp_consttime_eq(const char *a, size_t alen, const char *b, size_t blen);

/* The answer's status for req on an endpoint of path and token: 200, 403,
 * 404 or 405. */
int cp_serve_decide(const cp_http_request *req, const char *path, const char *token);

/* The container-credentials JSON of c (wipe with cp_free_secret). Without
 * an expiration (static keys) the document says now + 1 hour: the SDKs need
 * one, and come back then to get the same keys. NULL: out of memory. */
char *cp_serve_creds_json(const cp_creds *c, int64_t now);

/* Fetches the credentials for one 200 answer (the cache, or a refresh). */
typedef int (*cp_serve_creds_fn)(void *ud, cp_creds *ret, cp_error *err);
/* Called when wake_fd is readable; nonzero stops the server. */
typedef int (*cp_serve_wake_fn)(void *ud);

typedef struct cp_server {
	int listen_fd;
	uint16_t port;
	char token[65]; /* 64 hex digits */
	char path[34];  /* "/" + 32 hex digits */
	char url[80];   /* http://127.0.0.1:PORT/PATH */
	unsigned long served, refused, failed; /* 200s, 4xx, 5xx */
} cp_server;

/* Binds 127.0.0.1:0 and draws the token and the path. */
int cp_server_open(cp_server *s, cp_error *err);
/* Serves until on_wake returns nonzero (wake_fd readable). Only out of
 * memory or a poll() failure end it with a status. */
int cp_server_run(cp_server *s, int wake_fd, cp_serve_wake_fn on_wake, cp_serve_creds_fn get,
		  void *ud, cp_error *err);
/* Closes the listening socket (further connections are refused); wipes
 * the token. */
void cp_server_close(cp_server *s);

#endif
