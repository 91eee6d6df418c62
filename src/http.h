/* http.h - one HTTP exchange over libcurl (network side only).
 *
 * cp_http_send() returns 0 whenever an HTTP response was received, whatever
 * its status; CP_ETRANSPORT for DNS, connect, TLS, timeout or an oversized
 * reply (err->msg says which, naming the host; err->cause is
 * CP_CAUSE_NO_ANSWER, CP_CAUSE_TLS or CP_CAUSE_TOO_LARGE); CP_EINTERNAL on OOM;
 * CP_ECONFIG when the URL is malformed or not http/https.
 * Proxies come from the usual environment variables unless no_proxy is set.
 */
#ifndef CP_HTTP_H
#define CP_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "retry.h"
#include "util.h"

#define CP_HTTP_MAX_RESPONSE (256 * 1024)

typedef struct cp_http_request {
	const char *method;         /* "GET", "PUT", "POST" */
	const char *url;
	const cp_header *headers;
	size_t nheaders;
	const char *body;           /* may be NULL */
	size_t body_len;
	const char *ca_bundle;      /* PEM file, NULL for the system store */
	bool no_proxy;              /* never use a proxy (link-local metadata endpoints) */
	long connect_timeout_ms;    /* 0: default 5000 */
	long timeout_ms;            /* total; 0: default 30000 */
	size_t max_response;        /* 0: CP_HTTP_MAX_RESPONSE */
	bool trace_path;            /* the --debug trace shows the URL's path (never
				     * its query): for paths that hold no secret */
} cp_http_request;

typedef struct cp_http_response {
	long status;
	cp_buf body;                /* may hold secrets: wiped by cp_http_response_free */
	int64_t server_date;        /* parsed Date header, 0 if absent */
	char error_type[96];        /* x-amzn-ErrorType header (rest-json errors), "" if absent */
} cp_http_response;

int cp_http_send(const cp_http_request *req, cp_http_response *ret, cp_error *err);
void cp_http_response_free(cp_http_response *r);

/* What kind of failure a cp_http_send_ex() that got no response hit, for
 * callers that fall back or retry depending on it. */
typedef enum cp_http_failure {
	CP_HTTP_OK = 0,          /* a response was received (any status) */
	CP_HTTP_FAIL_RESOLVE,    /* DNS failure (host or proxy) */
	CP_HTTP_FAIL_CONNECT,    /* refused, unreachable, or connect timed out */
	CP_HTTP_FAIL_TIMEOUT,    /* connected, but no complete reply in time */
	CP_HTTP_FAIL_RESET,      /* connection reset or closed before a full reply */
	CP_HTTP_FAIL_TLS,        /* handshake or certificate failure */
	CP_HTTP_FAIL_TOO_LARGE,  /* reply exceeded max_response */
	CP_HTTP_FAIL_OTHER       /* anything else (bad URL, OOM, ...) */
} cp_http_failure;

/* cp_http_send() that also reports the failure kind (ret_failure may be NULL;
 * set on every return). */
int cp_http_send_ex(const cp_http_request *req, cp_http_response *ret,
		    cp_http_failure *ret_failure, cp_error *err);

/* No answer at all: DNS, connect, timeout or reset (not TLS, size or OOM). */
static inline bool cp_http_unreachable(cp_http_failure f)
{
	return f == CP_HTTP_FAIL_RESOLVE || f == CP_HTTP_FAIL_CONNECT || f == CP_HTTP_FAIL_TIMEOUT ||
	       f == CP_HTTP_FAIL_RESET;
}

/* The most attempts cp_http_send_retry() makes, whatever a caller asks. */
#define CP_HTTP_MAX_ATTEMPTS 10

/* How cp_http_send_retry() repeats a request. */
typedef struct cp_http_retry {
	int attempts;          /* at most (bounded by CP_HTTP_MAX_ATTEMPTS); < 1 counts as 1 */
	int64_t deadline_ms;   /* on clock->mono_ms; 0: none */
	const cp_clock *clock; /* NULL: cp_clock_system */
	bool retry_429;        /* an HTTP 429 is tried again (always: a 5xx) */
	bool timeout_is_final; /* a timed-out attempt is not repeated (IMDS token PUT: it
				* means "fall back to IMDSv1") */
	bool late_is_timeout;  /* time running out after a failed attempt ends the request
				* as "no answer within the overall deadline" (IMDS); else
				* that attempt's result stands (container endpoint, SSO) */
	const char *what;      /* names the request in debug lines */
} cp_http_retry;

/* cp_http_send_ex() repeated through cp_retry_run(): after a failure
 * without an answer (cp_http_unreachable) or a 5xx (or 429) reply, with
 * full-jitter backoff (100 ms * 2^n, capped at 1 s) and each attempt's
 * timeouts cut to the time left before the deadline. Returns 0 with the
 * last response (a retryable status only when attempts or time ran out), or
 * the last attempt's failure. When the deadline has passed before the first
 * attempt: CP_ETRANSPORT, CP_CAUSE_NO_ANSWER, *ret_failure
 * CP_HTTP_FAIL_TIMEOUT and "no answer within the overall deadline".
 * req's timeouts are changed. */
int cp_http_send_retry(const cp_http_retry *p, cp_http_request *req, cp_http_response *resp,
		       cp_http_failure *ret_failure, cp_error *err);

/* The Host header value (host, and ":port" unless the scheme's default)
 * and the request target ("/path[?query]") of url, both heap strings: what a
 * signed request names. 0, CP_ECONFIG (not a URL) or CP_EINTERNAL. */
int cp_http_url_parts(const char *url, char **ret_host, char **ret_target);

#endif
