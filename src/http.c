/* http.c - one HTTP exchange over libcurl.
 *
 * One easy handle per call. No redirects are followed, only http and https
 * are allowed, the reply body is capped, and headers and bodies (which may
 * carry secrets) are wiped when freed. Error messages name the endpoint
 * (scheme, host and port only) and the failure, never a header or a body.
 */
#include "http.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <curl/curl.h>

#include "cp_config.h"

#define S_DEFAULT_CONNECT_TIMEOUT_MS 5000L
#define S_DEFAULT_TIMEOUT_MS 30000L
#define S_USER_AGENT "aws-credproc/" CP_VERSION

static pthread_once_t s_curl_once = PTHREAD_ONCE_INIT;
static CURLcode s_curl_init_rc = CURLE_FAILED_INIT;

static void s_curl_init(void)
{
	s_curl_init_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

typedef struct s_transfer {
	cp_buf body;
	size_t max;
	bool too_large;
	bool oom;
	int64_t date;
	char error_type[96];
} s_transfer;

static size_t s_write_cb(char *ptr, size_t size, size_t nmemb, void *userdata)
{
	s_transfer *t = userdata;
	size_t n = size * nmemb;
	if (n > t->max || t->body.len > t->max - n) {
		t->too_large = true;
		return 0; /* aborts the transfer with CURLE_WRITE_ERROR */
	}
	if (cp_buf_append(&t->body, ptr, n)) {
		t->oom = true;
		return 0;
	}
	return n;
}

/* s starts with the lowercase ASCII text p, in any case. */
static bool s_prefix_icase(const char *s, const char *p)
{
	for (; *p; s++, p++) {
		char c = *s >= 'A' && *s <= 'Z' ? (char)(*s - 'A' + 'a') : *s;
		if (c != *p)
			return false;
	}
	return true;
}

static size_t s_header_cb(char *ptr, size_t size, size_t nitems, void *userdata)
{
	s_transfer *t = userdata;
	size_t n = size * nitems;
	/* A new status line starts a new response (1xx, proxy CONNECT). */
	if (n >= 5 && memcmp(ptr, "HTTP/", 5) == 0) {
		t->date = 0;
		t->error_type[0] = '\0';
		return n;
	}
	/* rest-json services name the error in x-amzn-ErrorType. */
	if (n > 17 && n < 256 && s_prefix_icase(ptr, "x-amzn-errortype:")) {
		size_t vlen = n - 17;
		char v[256];
		memcpy(v, ptr + 17, vlen);
		v[vlen] = '\0';
		snprintf(t->error_type, sizeof t->error_type, "%s", cp_trim(v));
		return n;
	}
	if (n > 5 && n < 128 && (ptr[0] == 'D' || ptr[0] == 'd')) {
		char line[128];
		memcpy(line, ptr, n);
		line[n] = '\0';
		char *colon = strchr(line, ':');
		if (colon) {
			*colon = '\0';
			if (cp_streq_icase(cp_trim(line), "date")) {
				time_t d = curl_getdate(cp_trim(colon + 1), NULL);
				t->date = d > 0 ? (int64_t)d : 0;
			}
		}
	}
	return n;
}

/* "scheme://host[:port]/" of url, for messages (no userinfo, path or query). */
static void s_url_base(const char *url, bool with_path, char *out, size_t outlen)
{
	CURLU *u = curl_url();
	char *scheme = NULL, *host = NULL, *port = NULL, *path = NULL;
	if (u && curl_url_set(u, CURLUPART_URL, url, 0) == CURLUE_OK &&
	    curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) == CURLUE_OK &&
	    curl_url_get(u, CURLUPART_HOST, &host, 0) == CURLUE_OK) {
		if (curl_url_get(u, CURLUPART_PORT, &port, 0) != CURLUE_OK)
			port = NULL;
		if (!with_path || curl_url_get(u, CURLUPART_PATH, &path, 0) != CURLUE_OK)
			path = NULL;
		snprintf(out, outlen, "%s://%s%s%s%s", scheme, host, port ? ":" : "",
			 port ? port : "", path && path[0] == '/' ? path : "/");
	} else {
		snprintf(out, outlen, "(invalid URL)");
	}
	curl_free(scheme);
	curl_free(host);
	curl_free(port);
	curl_free(path);
	curl_url_cleanup(u);
}

static bool s_is_tls_error(CURLcode rc)
{
	switch (rc) {
	case CURLE_SSL_CONNECT_ERROR:
	case CURLE_PEER_FAILED_VERIFICATION:
	case CURLE_SSL_CERTPROBLEM:
	case CURLE_SSL_CIPHER:
	case CURLE_SSL_CACERT_BADFILE:
	case CURLE_SSL_ENGINE_NOTFOUND:
	case CURLE_SSL_ENGINE_SETFAILED:
	case CURLE_SSL_ENGINE_INITFAILED:
	case CURLE_SSL_SHUTDOWN_FAILED:
	case CURLE_SSL_CRL_BADFILE:
	case CURLE_SSL_ISSUER_ERROR:
	case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
	case CURLE_SSL_INVALIDCERTSTATUS:
	case CURLE_SSL_CLIENTCERT:
	case CURLE_USE_SSL_FAILED:
		return true;
	default:
		return false;
	}
}

/* Whether no_proxy (curl's syntax: "*", or host names and addresses, a
 * leading '.' optional, separated by commas or spaces) exempts host. An
 * entry we cannot judge (a CIDR range) counts as a match: we only name a
 * proxy when we are sure curl used it. */
static bool s_no_proxy_match(const char *list, const char *host)
{
	size_t hl = strlen(host);
	for (const char *p = list; *p;) {
		while (*p == ',' || *p == ' ' || *p == '\t')
			p++;
		const char *e = p;
		while (*e && *e != ',' && *e != ' ' && *e != '\t')
			e++;
		const char *q = p;
		size_t n = (size_t)(e - p);
		if (n == 1 && *q == '*')
			return true;
		if (memchr(q, '/', n))
			return true;
		if (n && *q == '.') {
			q++;
			n--;
		}
		if (n && n <= hl && strncasecmp(host + hl - n, q, n) == 0 &&
		    (n == hl || host[hl - n - 1] == '.'))
			return true;
		p = e;
	}
	return false;
}

/* The proxy that libcurl takes from the environment for url, as its
 * detect_proxy() does (scheme_proxy, SCHEME_PROXY but never HTTP_PROXY,
 * all_proxy, ALL_PROXY; no_proxy, NO_PROXY): its scheme://host:port/ (no
 * userinfo) in out and the variable's name in *var; false for none. */
static bool s_env_proxy(const char *url, char *out, size_t outlen, const char **var)
{
	CURLU *u = curl_url();
	char *scheme = NULL, *host = NULL;
	bool found = false;
	if (!u || curl_url_set(u, CURLUPART_URL, url, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK)
		goto out;
	const char *np = getenv("no_proxy");
	if (!np || !*np)
		np = getenv("NO_PROXY");
	char h[256];
	snprintf(h, sizeof h, "%s", host);
	if (h[0] == '[') { /* [::1] */
		memmove(h, h + 1, strlen(h));
		char *b = strchr(h, ']');
		if (b)
			*b = 0;
	}
	if (np && *np && s_no_proxy_match(np, h))
		goto out;
	char lower[32], upper[32];
	snprintf(lower, sizeof lower, "%s_proxy", scheme);
	snprintf(upper, sizeof upper, "%s_PROXY", scheme);
	for (char *c = upper; *c && *c != '_'; c++)
		if (*c >= 'a' && *c <= 'z')
			*c = (char)(*c - 'a' + 'A');
	const char *names[] = {lower, strcmp(scheme, "http") == 0 ? NULL : upper, "all_proxy",
			       "ALL_PROXY"};
	for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
		const char *v = names[i] ? getenv(names[i]) : NULL;
		if (!v || !*v)
			continue;
		static const char *const vars[] = {"http_proxy", "https_proxy", "HTTPS_PROXY",
						   "all_proxy", "ALL_PROXY"};
		*var = "a proxy variable";
		for (size_t j = 0; j < sizeof vars / sizeof vars[0]; j++)
			if (strcmp(vars[j], names[i]) == 0)
				*var = vars[j];
		CURLU *pu = curl_url();
		char *ps = NULL, *ph = NULL, *pp = NULL;
		if (pu && curl_url_set(pu, CURLUPART_URL, v, CURLU_DEFAULT_SCHEME) == CURLUE_OK &&
		    curl_url_get(pu, CURLUPART_SCHEME, &ps, 0) == CURLUE_OK &&
		    curl_url_get(pu, CURLUPART_HOST, &ph, 0) == CURLUE_OK) {
			if (curl_url_get(pu, CURLUPART_PORT, &pp, 0) != CURLUE_OK)
				pp = NULL;
			snprintf(out, outlen, "%s://%s%s%s/", ps, ph, pp ? ":" : "", pp ? pp : "");
		} else {
			snprintf(out, outlen, "(unparsable)");
		}
		curl_free(ps);
		curl_free(ph);
		curl_free(pp);
		curl_url_cleanup(pu);
		found = true;
		break;
	}
out:
	curl_free(scheme);
	curl_free(host);
	curl_url_cleanup(u);
	return found;
}

/* Words a failed transfer. errbuf is curl's detail; it is used only for TLS
 * failures, where it describes the certificate problem (never a secret). */
static int s_transfer_error(CURL *h, CURLcode rc, const s_transfer *t,
			    const cp_http_request *req, const char *base,
			    long timeout_ms, const char *errbuf, cp_http_failure *ret_failure,
			    cp_error *err)
{
	long os_errno = 0;
	curl_off_t connect_time = 0;
	curl_easy_getinfo(h, CURLINFO_OS_ERRNO, &os_errno);
	curl_easy_getinfo(h, CURLINFO_CONNECT_TIME_T, &connect_time);
	const char *why = os_errno ? strerror((int)os_errno) : curl_easy_strerror(rc);
	char proxy[512];
	const char *proxy_var = NULL;

	if (t->oom) {
		*ret_failure = CP_HTTP_FAIL_OTHER;
		return cp_error_set(err, CP_EINTERNAL, "out of memory reading the response from '%s'",
				    base);
	}
	if (t->too_large) {
		*ret_failure = CP_HTTP_FAIL_TOO_LARGE;
		return cp_error_set_cause(err, CP_ETRANSPORT, CP_CAUSE_TOO_LARGE,
					  "response from '%s' exceeds %zu bytes", base, t->max);
	}
	switch (rc) {
	case CURLE_URL_MALFORMAT:
	case CURLE_UNSUPPORTED_PROTOCOL:
		*ret_failure = CP_HTTP_FAIL_OTHER;
		return cp_error_set(err, CP_ECONFIG, "cannot use URL '%s': %s", base,
				    curl_easy_strerror(rc));
	case CURLE_COULDNT_RESOLVE_HOST:
		*ret_failure = CP_HTTP_FAIL_RESOLVE;
		return cp_error_set_cause(err, CP_ETRANSPORT, CP_CAUSE_NO_ANSWER,
					  "cannot resolve the host of '%s'", base);
	case CURLE_COULDNT_RESOLVE_PROXY:
		*ret_failure = CP_HTTP_FAIL_RESOLVE;
		if (!req->no_proxy && s_env_proxy(req->url, proxy, sizeof proxy, &proxy_var))
			return cp_error_set_cause(err, CP_ETRANSPORT, CP_CAUSE_NO_ANSWER,
						  "cannot resolve the proxy '%s' (from %s) for '%s'",
						  proxy, proxy_var, base);
		return cp_error_set_cause(err, CP_ETRANSPORT, CP_CAUSE_NO_ANSWER,
					  "cannot resolve the proxy for '%s'", base);
	case CURLE_COULDNT_CONNECT:
		*ret_failure = CP_HTTP_FAIL_CONNECT;
		if (!req->no_proxy && s_env_proxy(req->url, proxy, sizeof proxy, &proxy_var))
			return cp_error_set_cause(err, CP_ETRANSPORT, CP_CAUSE_NO_ANSWER,
						  "cannot connect to the proxy '%s' (from %s) for '%s': %s",
						  proxy, proxy_var, base, why);
		return cp_error_set_cause(err, CP_ETRANSPORT, CP_CAUSE_NO_ANSWER,
					  "cannot connect to '%s': %s", base, why);
	case CURLE_OPERATION_TIMEDOUT:
		if (connect_time <= 0) {
			*ret_failure = CP_HTTP_FAIL_CONNECT;
			return cp_error_set_cause(err, CP_ETRANSPORT, CP_CAUSE_NO_ANSWER,
						  "cannot connect to '%s': timed out", base);
		}
		*ret_failure = CP_HTTP_FAIL_TIMEOUT;
		return cp_error_set_cause(err, CP_ETRANSPORT, CP_CAUSE_NO_ANSWER,
					  "no reply from '%s' within %ld ms", base, timeout_ms);
	case CURLE_SEND_ERROR:
	case CURLE_RECV_ERROR:
	case CURLE_GOT_NOTHING:
	case CURLE_PARTIAL_FILE:
		*ret_failure = CP_HTTP_FAIL_RESET;
		return cp_error_set_cause(err, CP_ETRANSPORT, CP_CAUSE_NO_ANSWER,
					  "connection to '%s' failed: %s", base,
					  rc == CURLE_GOT_NOTHING || rc == CURLE_PARTIAL_FILE
						  ? curl_easy_strerror(rc) : why);
	case CURLE_OUT_OF_MEMORY:
		*ret_failure = CP_HTTP_FAIL_OTHER;
		return cp_error_set(err, CP_EINTERNAL, "out of memory talking to '%s'", base);
	default:
		break;
	}
	if (s_is_tls_error(rc)) {
		*ret_failure = CP_HTTP_FAIL_TLS;
		return cp_error_set_cause(err, CP_ETRANSPORT, CP_CAUSE_TLS, "TLS failure with '%s': %s",
					  base, errbuf[0] ? errbuf : curl_easy_strerror(rc));
	}
	/* Any other transfer failure: no HTTP answer came back either. */
	*ret_failure = CP_HTTP_FAIL_OTHER;
	return cp_error_set_cause(err, CP_ETRANSPORT, CP_CAUSE_NO_ANSWER, "request to '%s' failed: %s",
				  base, curl_easy_strerror(rc));
}

/* Header list whose strings are wiped on free (values may be secrets). */
static void s_slist_free(struct curl_slist *l)
{
	for (struct curl_slist *p = l; p; p = p->next)
		if (p->data)
			cp_wipe(p->data, strlen(p->data));
	curl_slist_free_all(l);
}

static int s_slist_add(struct curl_slist **l, const char *name, const char *value)
{
	/* "Name;" sends an empty header, "Name:" removes one curl would add. */
	char *line = value ? cp_asprintf(value[0] ? "%s: %s" : "%s;", name, value)
			   : cp_asprintf("%s:", name);
	if (!line)
		return CP_EINTERNAL;
	struct curl_slist *n = curl_slist_append(*l, line);
	cp_free_secret(line);
	if (!n)
		return CP_EINTERNAL;
	*l = n;
	return 0;
}

static bool s_has_header(const cp_http_request *req, const char *name)
{
	for (size_t i = 0; i < req->nheaders; i++)
		if (cp_streq_icase(req->headers[i].name, name))
			return true;
	return false;
}

#define S_SETOPT(h, opt, val)                                   \
	do {                                                    \
		if (curl_easy_setopt((h), (opt), (val)) != CURLE_OK) \
			goto setopt_failed;                     \
	} while (0)

int cp_http_send_ex(const cp_http_request *req, cp_http_response *ret,
		    cp_http_failure *ret_failure, cp_error *err)
{
	cp_http_failure dummy_failure;
	if (!ret_failure)
		ret_failure = &dummy_failure;
	*ret_failure = CP_HTTP_FAIL_OTHER;

	pthread_once(&s_curl_once, s_curl_init);
	if (s_curl_init_rc != CURLE_OK)
		return cp_error_set(err, CP_EINTERNAL, "cannot initialize libcurl: %s",
				    curl_easy_strerror(s_curl_init_rc));

	char base[512];
	s_url_base(req->url, false, base, sizeof base);
	char traced[1024]; /* the debug trace's URL: with the path when asked */
	s_url_base(req->url, req->trace_path, traced, sizeof traced);

	long connect_ms = req->connect_timeout_ms > 0 ? req->connect_timeout_ms
						      : S_DEFAULT_CONNECT_TIMEOUT_MS;
	long timeout_ms = req->timeout_ms > 0 ? req->timeout_ms : S_DEFAULT_TIMEOUT_MS;
	if (connect_ms > timeout_ms)
		connect_ms = timeout_ms;

	s_transfer t = {.max = req->max_response ? req->max_response : CP_HTTP_MAX_RESPONSE};
	struct curl_slist *hdrs = NULL;
	char errbuf[CURL_ERROR_SIZE] = "";
	int r;
	CURL *h = curl_easy_init();
	if (!h)
		return cp_error_set(err, CP_EINTERNAL, "cannot create a libcurl handle");

	for (size_t i = 0; i < req->nheaders; i++) {
		if ((r = s_slist_add(&hdrs, req->headers[i].name, req->headers[i].value)) != 0)
			goto oom;
	}
	/* Never wait for "100 Continue"; never let curl invent a Content-Type. */
	if ((r = s_slist_add(&hdrs, "Expect", NULL)) != 0)
		goto oom;
	if (!s_has_header(req, "Content-Type") && (r = s_slist_add(&hdrs, "Content-Type", NULL)) != 0)
		goto oom;

	S_SETOPT(h, CURLOPT_URL, req->url);
	S_SETOPT(h, CURLOPT_PROTOCOLS_STR, "http,https");
	S_SETOPT(h, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
	S_SETOPT(h, CURLOPT_FOLLOWLOCATION, 0L);
	S_SETOPT(h, CURLOPT_NOSIGNAL, 1L);
	S_SETOPT(h, CURLOPT_CONNECTTIMEOUT_MS, connect_ms);
	S_SETOPT(h, CURLOPT_TIMEOUT_MS, timeout_ms);
	S_SETOPT(h, CURLOPT_USERAGENT, S_USER_AGENT);
	S_SETOPT(h, CURLOPT_ERRORBUFFER, errbuf);
	S_SETOPT(h, CURLOPT_WRITEFUNCTION, s_write_cb);
	S_SETOPT(h, CURLOPT_WRITEDATA, &t);
	S_SETOPT(h, CURLOPT_HEADERFUNCTION, s_header_cb);
	S_SETOPT(h, CURLOPT_HEADERDATA, &t);
	S_SETOPT(h, CURLOPT_HTTPHEADER, hdrs);
	S_SETOPT(h, CURLOPT_SSL_VERIFYPEER, 1L);
	S_SETOPT(h, CURLOPT_SSL_VERIFYHOST, 2L);
	if (req->ca_bundle)
		S_SETOPT(h, CURLOPT_CAINFO, req->ca_bundle);
	if (req->no_proxy)
		S_SETOPT(h, CURLOPT_PROXY, "");

	const char *method = req->method ? req->method : "GET";
	if (strcmp(method, "GET") == 0) {
		S_SETOPT(h, CURLOPT_HTTPGET, 1L);
	} else {
		/* The body is not copied by curl (it may hold a secret). */
		S_SETOPT(h, CURLOPT_POSTFIELDS, req->body ? req->body : "");
		S_SETOPT(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)(req->body ? req->body_len : 0));
		if (strcmp(method, "POST") != 0)
			S_SETOPT(h, CURLOPT_CUSTOMREQUEST, method);
	}

	CURLcode rc = curl_easy_perform(h);
	if (rc != CURLE_OK) {
		r = s_transfer_error(h, rc, &t, req, base, timeout_ms, errbuf, ret_failure, err);
		if (err)
			cp_debug("%s %s: %s", method, traced, err->msg);
		goto out;
	}
	long status = 0;
	curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
	if (!t.body.data && cp_buf_append(&t.body, "", 0)) {
		r = CP_EINTERNAL;
		goto oom;
	}
	ret->status = status;
	ret->body = t.body; /* transferred */
	memset(&t.body, 0, sizeof t.body);
	ret->server_date = t.date;
	memcpy(ret->error_type, t.error_type, sizeof ret->error_type);
	*ret_failure = CP_HTTP_OK;
	curl_off_t total_us = 0;
	curl_easy_getinfo(h, CURLINFO_TOTAL_TIME_T, &total_us);
	cp_debug("%s %s: HTTP %ld in %lld ms", method, traced, status, (long long)(total_us / 1000));
	r = 0;
	goto out;

setopt_failed:
	r = cp_error_set(err, CP_EINTERNAL, "libcurl refused an option for '%s'", base);
	goto out;
oom:
	r = cp_error_set(err, CP_EINTERNAL, "out of memory preparing a request to '%s'", base);
out:
	curl_easy_cleanup(h);
	s_slist_free(hdrs);
	cp_buf_free(&t.body);
	return r;
}

int cp_http_send(const cp_http_request *req, cp_http_response *ret, cp_error *err)
{
	return cp_http_send_ex(req, ret, NULL, err);
}

/* ---- repeated requests ------------------------------------------------- */

typedef struct s_retry_ctx {
	const cp_http_retry *p;
	cp_http_request *req;
	cp_http_response *resp;
	cp_http_failure *failure;
	long connect_ms, timeout_ms; /* as the caller asked, before any cut */
	int calls;
	bool got_response;           /* the last attempt got an HTTP answer */
	bool retryable;              /* ... and cp_retry_run was told to go on */
	int last_r;
	cp_error last;               /* the last attempt's own result */
} s_retry_ctx;

static int s_retry_attempt(void *vctx, int attempt, long left_ms, cp_error *err)
{
	s_retry_ctx *x = vctx;
	(void)attempt;
	cp_http_response_free(x->resp);
	x->req->connect_timeout_ms = x->connect_ms < left_ms ? x->connect_ms : left_ms;
	x->req->timeout_ms = x->timeout_ms < left_ms ? x->timeout_ms : left_ms;
	x->calls++;
	x->retryable = false;
	int r = cp_http_send_ex(x->req, x->resp, x->failure, err);
	x->got_response = r == 0;
	if (r == 0) {
		long st = x->resp->status;
		if (st < 500 && !(st == 429 && x->p->retry_429))
			return 0;
		/* A failed attempt for cp_retry_run; the caller gets the reply. */
		r = cp_error_set_cause(err, CP_ETRANSPORT,
				       st == 429 ? CP_CAUSE_THROTTLED : CP_CAUSE_SERVER,
				       "answered HTTP %ld", st);
	}
	x->last_r = r;
	x->last = *err;
	return r;
}

static bool s_retry_retryable(void *vctx, int r, const cp_error *err)
{
	s_retry_ctx *x = vctx;
	(void)err;
	x->retryable = x->got_response ||
		       (r == CP_ETRANSPORT && cp_http_unreachable(*x->failure) &&
			!(x->p->timeout_is_final && *x->failure == CP_HTTP_FAIL_TIMEOUT));
	return x->retryable;
}

int cp_http_send_retry(const cp_http_retry *p, cp_http_request *req, cp_http_response *resp,
		       cp_http_failure *ret_failure, cp_error *err)
{
	cp_http_failure dummy_failure = CP_HTTP_OK;
	if (!ret_failure)
		ret_failure = &dummy_failure;
	s_retry_ctx x = {
		.p = p,
		.req = req,
		.resp = resp,
		.failure = ret_failure,
		.connect_ms = req->connect_timeout_ms > 0 ? req->connect_timeout_ms
							  : S_DEFAULT_CONNECT_TIMEOUT_MS,
		.timeout_ms = req->timeout_ms > 0 ? req->timeout_ms : S_DEFAULT_TIMEOUT_MS,
	};
	cp_retry rp = {
		.attempts = p->attempts < CP_HTTP_MAX_ATTEMPTS ? p->attempts : CP_HTTP_MAX_ATTEMPTS,
		.base_ms = 100,
		.cap_ms = 1000,
		.deadline_ms = p->deadline_ms,
		.clock = p->clock,
		.retryable = s_retry_retryable,
		.ctx = &x,
		.what = p->what,
	};
	cp_error e = {0};
	int r = cp_retry_run(&rp, s_retry_attempt, &e);
	/* x.retryable still set: the loop stopped for time, not for attempts. */
	if (x.calls == 0 || (r && x.retryable && p->late_is_timeout)) {
		cp_http_response_free(resp);
		*ret_failure = CP_HTTP_FAIL_TIMEOUT;
		return cp_error_set_cause(err, CP_ETRANSPORT, CP_CAUSE_NO_ANSWER,
					  "no answer within the overall deadline");
	}
	/* The last attempt's result stands, also when time ran out after it. */
	if (x.got_response)
		return 0;
	if (err)
		*err = x.last;
	return x.last_r;
}

void cp_http_response_free(cp_http_response *r)
{
	if (!r)
		return;
	cp_buf_free(&r->body);
	r->status = 0;
	r->server_date = 0;
	r->error_type[0] = '\0';
}

/* Host header value and request target: see http.h. */
int cp_http_url_parts(const char *url, char **ret_host, char **ret_target)
{
	CURLU *u = curl_url();
	char *scheme = NULL, *host = NULL, *port = NULL, *path = NULL, *query = NULL;
	int r = CP_ECONFIG;
	if (!u)
		return CP_EINTERNAL;
	if (curl_url_set(u, CURLUPART_URL, url, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_PATH, &path, 0) != CURLUE_OK)
		goto out;
	if (curl_url_get(u, CURLUPART_PORT, &port, 0) != CURLUE_OK)
		port = NULL;
	if (curl_url_get(u, CURLUPART_QUERY, &query, 0) != CURLUE_OK)
		query = NULL;
	bool default_port = !port || (strcmp(scheme, "https") == 0 && strcmp(port, "443") == 0) ||
			    (strcmp(scheme, "http") == 0 && strcmp(port, "80") == 0);
	char *h = default_port ? cp_strdup(host) : cp_asprintf("%s:%s", host, port);
	char *t = cp_asprintf("%s%s%s", path[0] ? path : "/", query ? "?" : "", query ? query : "");
	if (!h || !t) {
		free(h);
		free(t);
		r = CP_EINTERNAL;
		goto out;
	}
	*ret_host = h;
	*ret_target = t;
	r = 0;
out:
	curl_free(scheme);
	curl_free(host);
	curl_free(port);
	curl_free(path);
	curl_free(query);
	curl_url_cleanup(u);
	return r;
}
