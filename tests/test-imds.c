/* test-imds.c - IMDS credentials JSON parsing, and the IMDSv2/IMDSv1 flow
 * against an in-process loopback HTTP server (a forked child answering
 * scripted replies and logging the requests it saw). */
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

#include "imds.h"
#include "tap.h"

/* ---- loopback server ---------------------------------------------------- */

enum { SRV_REPLY, SRV_HANG, SRV_CLOSE };

typedef struct srv_route {
	const char *method;  /* NULL: any */
	const char *path;    /* request target, exact */
	int uses;            /* 0: unlimited; else served this many times */
	int status;
	const char *body;
	int action;          /* SRV_REPLY, SRV_HANG (no reply until the client gives up), SRV_CLOSE */
} srv_route;

typedef struct srv {
	pid_t pid;
	int port;
	int logfd;
	char base[64];       /* "http://127.0.0.1:PORT" */
} srv;


static void srv_write_all(int fd, const char *p, size_t n)
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
static int srv_read_request(int c, char *buf, size_t cap, size_t *ret_len)
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

static void srv_serve(int lfd, int logfd, srv_route *routes, size_t nroutes)
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
		/* Log: "=== METHOD TARGET\n" then the header lines, then the body. */
		char *hdr_end = strstr(buf, "\r\n\r\n");
		char *first_eol = strstr(buf, "\r\n");
		char log[8192];
		int n = snprintf(log, sizeof log, "=== %s %s\n", method, target);
		for (char *p = first_eol + 2; p < hdr_end && n < (int)sizeof log - 2;) {
			char *eol = strstr(p, "\r\n");
			n += snprintf(log + n, sizeof log - (size_t)n, "%.*s\n", (int)(eol - p), p);
			p = eol + 2;
		}
		if (n < (int)sizeof log - 2)
			n += snprintf(log + n, sizeof log - (size_t)n, "body: %.2000s\n", hdr_end + 4);
		if (n > (int)sizeof log - 1)
			n = (int)sizeof log - 1;
		srv_write_all(logfd, log, (size_t)n);

		srv_route *r = NULL;
		for (size_t i = 0; i < nroutes && !r; i++) {
			srv_route *x = &routes[i];
			if ((!x->method || strcmp(x->method, method) == 0) &&
			    strcmp(x->path, target) == 0 && x->uses >= 0) {
				r = x;
				if (x->uses > 0 && --x->uses == 0)
					x->uses = -1;
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
			char head[512];
			int hn = snprintf(head, sizeof head,
					  "HTTP/1.1 %d X\r\nContent-Length: %zu\r\n"
					  "Date: Mon, 20 Sep 2021 21:43:31 GMT\r\n"
					  "Connection: close\r\n\r\n",
					  status, strlen(body));
			srv_write_all(c, head, (size_t)hn);
			srv_write_all(c, body, strlen(body));
		}
		close(c);
	}
}

static int srv_start(srv *s, srv_route *routes, size_t nroutes)
{
	int lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t al = sizeof a;
	int pfd[2];
	if (lfd < 0 || bind(lfd, (struct sockaddr *)&a, sizeof a) != 0 || listen(lfd, 16) != 0 ||
	    getsockname(lfd, (struct sockaddr *)&a, &al) != 0 || pipe(pfd) != 0)
		return -1;
	fflush(stdout);
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
static char *srv_stop(srv *s)
{
	/* SIGKILL: a handled SIGTERM could land just before accept() and be lost.
	 * Every log line was written before its reply was sent. */
	kill(s->pid, SIGKILL);
	waitpid(s->pid, NULL, 0);
	size_t cap = 65536, len = 0;
	char *log = malloc(cap);
	ssize_t n;
	while (len < cap - 1 && (n = read(s->logfd, log + len, cap - 1 - len)) > 0)
		len += (size_t)n;
	log[len] = '\0';
	close(s->logfd);
	return log;
}

/* A port on which nothing listens (bound, then closed). */
static int closed_port(void)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t al = sizeof a;
	bind(fd, (struct sockaddr *)&a, sizeof a);
	getsockname(fd, (struct sockaddr *)&a, &al);
	close(fd);
	return ntohs(a.sin_port);
}

static int count_str(const char *hay, const char *needle)
{
	int n = 0;
	for (const char *p = hay; (p = strstr(p, needle)); p += strlen(needle))
		n++;
	return n;
}

/* ---- fixtures ----------------------------------------------------------- */

#define ROLE_PATH "/latest/meta-data/iam/security-credentials/"
#define TOKEN "AQAEAKQRRHnsX8GCPgYTGMShrFJkMhru3n-8Ul5Gzvzj-bpWKYZuiw=="

static const char *const good_json =
	"{\n  \"Code\" : \"Success\",\n  \"LastUpdated\" : \"2021-09-20T21:42:26Z\",\n"
	"  \"Type\" : \"AWS-HMAC\",\n  \"AccessKeyId\" : \"ASIARTEST\",\n"
	"  \"SecretAccessKey\" : \"testsecret\",\n  \"Token\" : \"testtoken\",\n"
	"  \"Expiration\" : \"2021-09-21T04:16:53Z\"\n}";

static bool creds_are(const cp_creds *c, const char *akid, const char *secret,
		      const char *token, int64_t exp)
{
	return c->access_key_id && strcmp(c->access_key_id, akid) == 0 && c->secret_access_key &&
	       strcmp(c->secret_access_key, secret) == 0 && c->session_token &&
	       strcmp(c->session_token, token) == 0 && c->expiration == exp;
}

/* ---- parse tests -------------------------------------------------------- */

static void test_parse(void)
{
	cp_creds c = {0};
	cp_error e = {0};
	int r = cp_imds_parse_credentials(good_json, strlen(good_json), &c, &e);
	tap_ok(r == 0 && creds_are(&c, "ASIARTEST", "testsecret", "testtoken", 1632197813) &&
		       !c.account_id,
	       "parse: recorded IMDS credentials document");
	cp_creds_clear(&c);

	const char *with_acct = "{\"Code\":\"Success\",\"AccessKeyId\":\"A\",\"SecretAccessKey\":\"S\","
				"\"Token\":\"T\",\"Expiration\":\"2030-01-01T00:00:00.123Z\","
				"\"AccountId\":\"123456789012\"}";
	r = cp_imds_parse_credentials(with_acct, strlen(with_acct), &c, &e);
	tap_ok(r == 0 && creds_are(&c, "A", "S", "T", 1893456000) && c.account_id &&
		       strcmp(c.account_id, "123456789012") == 0,
	       "parse: fractional Expiration dropped, AccountId kept");
	cp_creds_clear(&c);

	const char *no_code = "{\"AccessKeyId\":\"A\",\"SecretAccessKey\":\"S\",\"Token\":\"T\","
			      "\"Expiration\":\"2030-01-01T00:00:00Z\"}";
	r = cp_imds_parse_credentials(no_code, strlen(no_code), &c, &e);
	tap_ok(r == 0, "parse: missing Code is accepted");
	cp_creds_clear(&c);

	static const struct {
		const char *json;
		const char *name;
		const char *msg_has;
	} bad[] = {
		{"{\"Code\":\"AssumeRoleUnauthorizedAccess\",\"AccessKeyId\":\"A\"}", "Code not Success",
		 "AssumeRoleUnauthorizedAccess"},
		{"{\"Code\":\"Success\",\"SecretAccessKey\":\"S\",\"Token\":\"T\",\"Expiration\":\"2030-01-01T00:00:00Z\"}",
		 "missing AccessKeyId", "AccessKeyId"},
		{"{\"Code\":\"Success\",\"AccessKeyId\":\"A\",\"Token\":\"T\",\"Expiration\":\"2030-01-01T00:00:00Z\"}",
		 "missing SecretAccessKey", "SecretAccessKey"},
		{"{\"Code\":\"Success\",\"AccessKeyId\":\"A\",\"SecretAccessKey\":\"S\",\"Expiration\":\"2030-01-01T00:00:00Z\"}",
		 "missing Token", "Token"},
		{"{\"Code\":\"Success\",\"AccessKeyId\":\"A\",\"SecretAccessKey\":\"S\",\"Token\":\"T\"}",
		 "missing Expiration", "Expiration"},
		{"{\"Code\":\"Success\",\"AccessKeyId\":\"A\",\"SecretAccessKey\":\"S\",\"Token\":\"T\",\"Expiration\":\"tomorrow\"}",
		 "malformed Expiration", "Expiration"},
		{"{\"Code\":\"Success\",\"AccessKeyId\":7,\"SecretAccessKey\":\"S\",\"Token\":\"T\",\"Expiration\":\"2030-01-01T00:00:00Z\"}",
		 "non-string AccessKeyId", "AccessKeyId"},
		{"{\"Code\":\"Success\",", "truncated JSON", "JSON"},
		{"[1,2]", "array", "object"},
		{"<html>", "HTML", "JSON"},
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		cp_error_clear(&e);
		r = cp_imds_parse_credentials(bad[i].json, strlen(bad[i].json), &c, &e);
		bool ok = r == CP_ESOURCE && e.status == CP_ESOURCE && !c.access_key_id &&
			  strstr(e.msg, bad[i].msg_has);
		if (!tap_ok(ok, "parse: rejects %s", bad[i].name))
			tap_diag("r=%d msg=%s", r, e.msg);
		cp_creds_clear(&c);
	}
	/* The secret never appears in an error message. */
	const char *leaky = "{\"Code\":\"Success\",\"AccessKeyId\":\"A\",\"SecretAccessKey\":\"SECRETX\","
			    "\"Token\":\"TOKENX\",\"Expiration\":\"SECRETX\"}";
	r = cp_imds_parse_credentials(leaky, strlen(leaky), &c, &e);
	tap_ok(r == CP_ESOURCE && !strstr(e.msg, "SECRETX") && !strstr(e.msg, "TOKENX"),
	       "parse: error messages never quote values");

	size_t big = 70 * 1024;
	char *huge = malloc(big + 1);
	memset(huge, ' ', big);
	huge[0] = '{';
	huge[big - 1] = '}';
	huge[big] = '\0';
	r = cp_imds_parse_credentials(huge, big, &c, &e);
	tap_ok(r == CP_ESOURCE && strstr(e.msg, "exceeds"), "parse: oversized document rejected");
	free(huge);
}

/* ---- flow tests --------------------------------------------------------- */

typedef struct flow {
	const char *name;
	srv_route routes[6];
	cp_imds_options opt;          /* endpoint filled in */
	bool trailing_slash;
	int want_status;
	const char *want_msg;         /* substring; NULL when success expected */
	const char *want_log[6];      /* substrings the request log must contain */
	const char *forbid_log[3];    /* substrings it must not contain */
	int want_requests;            /* number of requests, -1: don't check */
} flow;

static void run_flow(const flow *f)
{
	srv s;
	srv_route routes[6];
	memcpy(routes, f->routes, sizeof routes);
	size_t nroutes = 0;
	while (nroutes < 6 && routes[nroutes].path)
		nroutes++;
	if (srv_start(&s, routes, nroutes) != 0) {
		tap_ok(0, "%s: server start", f->name);
		return;
	}
	char endpoint[80];
	snprintf(endpoint, sizeof endpoint, "%s%s", s.base, f->trailing_slash ? "/" : "");
	cp_imds_options o = f->opt;
	o.endpoint = endpoint;
	if (!o.timeout_ms)
		o.timeout_ms = 2000;
	cp_creds c = {0};
	cp_error e = {0};
	int r = cp_imds_get_credentials(&o, &c, &e);
	char *log = srv_stop(&s);

	bool ok;
	if (f->want_status == 0)
		ok = r == 0 && creds_are(&c, "ASIARTEST", "testsecret", "testtoken", 1632197813);
	else
		ok = r == f->want_status && e.status == r && !c.access_key_id &&
		     (!f->want_msg || strstr(e.msg, f->want_msg));
	for (int i = 0; i < 6 && f->want_log[i]; i++)
		if (!strstr(log, f->want_log[i])) {
			ok = false;
			tap_diag("log lacks: %s", f->want_log[i]);
		}
	for (int i = 0; i < 3 && f->forbid_log[i]; i++)
		if (strstr(log, f->forbid_log[i])) {
			ok = false;
			tap_diag("log has: %s", f->forbid_log[i]);
		}
	int nreq = count_str(log, "=== ");
	if (f->want_requests >= 0 && nreq != f->want_requests) {
		ok = false;
		tap_diag("%d requests, wanted %d", nreq, f->want_requests);
	}
	if (!tap_ok(ok, "flow: %s", f->name)) {
		tap_diag("r=%d msg=%s", r, e.msg);
		tap_diag("log:\n%s", log);
	} else if (r) {
		tap_diag("%s", e.msg);
	}
	free(log);
	cp_creds_clear(&c);
}

static const char *role_lines = "\nimds-assume-role-test\nsecond-role\n";

#define R_PUT_TOKEN {"PUT", "/latest/api/token", 0, 200, TOKEN, SRV_REPLY}
#define R_ROLE {"GET", ROLE_PATH, 0, 200, "imds-assume-role-test", SRV_REPLY}
#define R_CREDS(json) {"GET", ROLE_PATH "imds-assume-role-test", 0, 200, json, SRV_REPLY}

static void test_flows(void)
{
	static const char *bad_code =
		"{\"Code\":\"AssumeRoleUnauthorizedAccess\",\"Message\":\"denied\"}";
	const flow flows[] = {
		{
			.name = "IMDSv2: token, role name, credentials",
			.routes = {R_PUT_TOKEN, R_ROLE, R_CREDS(good_json)},
			.want_log = {"=== PUT /latest/api/token\n",
				     "X-aws-ec2-metadata-token-ttl-seconds: 21600\n",
				     "=== GET " ROLE_PATH "\n",
				     "=== GET " ROLE_PATH "imds-assume-role-test\n",
				     "X-aws-ec2-metadata-token: " TOKEN "\n",
				     "User-Agent: aws-credproc/"},
			.forbid_log = {"Content-Type", "Expect:"},
			.want_requests = 3,
		},
		{
			.name = "IMDSv2: each GET carries the token",
			.routes = {R_PUT_TOKEN, R_ROLE, R_CREDS(good_json)},
			.want_log = {"=== GET " ROLE_PATH "\nHost: 127.0.0.1",
				     "Content-Length: 0\n"},
			.want_requests = 3,
		},
		{
			.name = "endpoint with a trailing slash",
			.routes = {R_PUT_TOKEN, R_ROLE, R_CREDS(good_json)},
			.trailing_slash = true,
			.forbid_log = {"//latest"},
			.want_requests = 3,
		},
		{
			.name = "several role lines: the first non-empty is used",
			.routes = {R_PUT_TOKEN, {"GET", ROLE_PATH, 0, 200, NULL, SRV_REPLY},
				   R_CREDS(good_json)},
			.want_requests = 3,
		},
		{
			.name = "token PUT 403: falls back to IMDSv1 (no token header)",
			.routes = {{"PUT", "/latest/api/token", 0, 403, "", SRV_REPLY}, R_ROLE,
				   R_CREDS(good_json)},
			.forbid_log = {"X-aws-ec2-metadata-token:"},
			.want_requests = 3,
		},
		{
			.name = "token PUT 404: falls back to IMDSv1",
			.routes = {{"PUT", "/latest/api/token", 0, 404, "", SRV_REPLY}, R_ROLE,
				   R_CREDS(good_json)},
			.want_requests = 3,
		},
		{
			.name = "token PUT 405: falls back to IMDSv1",
			.routes = {{"PUT", "/latest/api/token", 0, 405, "", SRV_REPLY}, R_ROLE,
				   R_CREDS(good_json)},
			.want_requests = 3,
		},
		{
			.name = "token PUT times out: falls back to IMDSv1",
			.routes = {{"PUT", "/latest/api/token", 0, 0, NULL, SRV_HANG}, R_ROLE,
				   R_CREDS(good_json)},
			.opt = {.timeout_ms = 300, .attempts = 3},
			.forbid_log = {"X-aws-ec2-metadata-token:"},
			.want_requests = 3,
		},
		{
			.name = "token PUT connection closed: falls back to IMDSv1",
			.routes = {{"PUT", "/latest/api/token", 0, 0, NULL, SRV_CLOSE}, R_ROLE,
				   R_CREDS(good_json)},
			.want_requests = 3,
		},
		{
			.name = "token PUT 403 with v1 disabled: error",
			.routes = {{"PUT", "/latest/api/token", 0, 403, "", SRV_REPLY}, R_ROLE,
				   R_CREDS(good_json)},
			.opt = {.v1_disabled = true},
			.want_status = CP_ESOURCE,
			.want_msg = "IMDSv1 fallback disabled and no IMDSv2 token",
			.want_requests = 1,
		},
		{
			.name = "token PUT timeout with v1 disabled: error",
			.routes = {{"PUT", "/latest/api/token", 0, 0, NULL, SRV_HANG}},
			.opt = {.v1_disabled = true, .timeout_ms = 300},
			.want_status = CP_ESOURCE,
			.want_msg = "IMDSv1 fallback disabled and no IMDSv2 token",
			.want_requests = 1,
		},
		{
			.name = "token PUT 400: error, no fallback",
			.routes = {{"PUT", "/latest/api/token", 0, 400, "", SRV_REPLY}, R_ROLE,
				   R_CREDS(good_json)},
			.want_status = CP_ESOURCE,
			.want_msg = "HTTP 400",
			.want_requests = 1,
		},
		{
			.name = "role name 404: no instance profile",
			.routes = {R_PUT_TOKEN, {"GET", ROLE_PATH, 0, 404, "<html/>", SRV_REPLY}},
			.want_status = CP_ESOURCE,
			.want_msg = "no IAM instance profile is attached (IMDS returned 404 for the role name)",
			.want_requests = 2,
		},
		{
			.name = "IMDSv1 GET answered 401: IMDSv2 required",
			.routes = {{"PUT", "/latest/api/token", 0, 403, "", SRV_REPLY},
				   {"GET", ROLE_PATH, 0, 401, "", SRV_REPLY}},
			.want_status = CP_ESOURCE,
			.want_msg = "requires IMDSv2",
			.want_requests = 2,
		},
		{
			.name = "credentials Code not Success: error naming the code",
			.routes = {R_PUT_TOKEN, R_ROLE, R_CREDS(bad_code)},
			.want_status = CP_ESOURCE,
			.want_msg = "AssumeRoleUnauthorizedAccess",
			.want_requests = 3,
		},
		{
			.name = "credentials GET 500 then 200 with attempts=2",
			.routes = {R_PUT_TOKEN, R_ROLE,
				   {"GET", ROLE_PATH "imds-assume-role-test", 1, 500, "oops", SRV_REPLY},
				   R_CREDS(good_json)},
			.opt = {.attempts = 2},
			.want_requests = 4,
		},
		{
			.name = "credentials GET 500 with attempts=1: error",
			.routes = {R_PUT_TOKEN, R_ROLE,
				   {"GET", ROLE_PATH "imds-assume-role-test", 0, 500, "oops", SRV_REPLY}},
			.want_status = CP_ESOURCE,
			.want_msg = "HTTP 500",
			.want_requests = 3,
		},
		{
			.name = "invalid role name is not put in a URL",
			.routes = {R_PUT_TOKEN, {"GET", ROLE_PATH, 0, 200, "../../x", SRV_REPLY}},
			.want_status = CP_ESOURCE,
			.want_msg = "invalid role name",
			.want_requests = 2,
		},
	};
	for (size_t i = 0; i < sizeof flows / sizeof flows[0]; i++) {
		flow f = flows[i];
		if (strstr(f.name, "several role lines"))
			f.routes[1].body = role_lines;
		run_flow(&f);
	}
}

static void test_unreachable(void)
{
	char ep[64];
	snprintf(ep, sizeof ep, "http://127.0.0.1:%d", closed_port());
	cp_imds_options o = {.endpoint = ep, .timeout_ms = 1000};
	cp_creds c = {0};
	cp_error e = {0};
	int r = cp_imds_get_credentials(&o, &c, &e);
	char want[160];
	snprintf(want, sizeof want, "EC2 instance metadata service at '%s' is unreachable: ", ep);
	if (!tap_ok(r == CP_ESOURCE && e.status == CP_ESOURCE && strstr(e.msg, want) &&
			    strstr(e.msg, "Connection refused"),
		    "refused connection: CP_ESOURCE, unreachable"))
		tap_diag("r=%d msg=%s", r, e.msg);

	char *region = NULL;
	cp_error_clear(&e);
	r = cp_imds_get_region(&o, &region, &e);
	tap_ok(r == CP_ESOURCE && !region && strstr(e.msg, "unreachable"),
	       "region, refused connection: CP_ESOURCE");
}

static void test_no_proxy(void)
{
	/* A proxy that does not exist: IMDS must never go through it. */
	setenv("http_proxy", "http://127.0.0.1:1", 1);
	setenv("HTTP_PROXY", "http://127.0.0.1:1", 1);
	setenv("ALL_PROXY", "http://127.0.0.1:1", 1);
	unsetenv("NO_PROXY");
	unsetenv("no_proxy");
	flow f = {
		.name = "proxy variables are ignored",
		.routes = {R_PUT_TOKEN, R_ROLE, R_CREDS(good_json)},
		.want_requests = 3,
	};
	run_flow(&f);
	unsetenv("http_proxy");
	unsetenv("HTTP_PROXY");
	unsetenv("ALL_PROXY");
}

static void test_region(void)
{
	srv_route routes[] = {
		R_PUT_TOKEN,
		{"GET", "/latest/meta-data/placement/region", 0, 200, "us-west-2\n", SRV_REPLY},
	};
	srv s;
	if (srv_start(&s, routes, 2) != 0) {
		tap_ok(0, "region: server start");
		return;
	}
	cp_imds_options o = {.endpoint = s.base};
	char *region = NULL;
	cp_error e = {0};
	int r = cp_imds_get_region(&o, &region, &e);
	char *log = srv_stop(&s);
	if (!tap_ok(r == 0 && region && strcmp(region, "us-west-2") == 0 &&
			    strstr(log, "=== GET /latest/meta-data/placement/region\n") &&
			    strstr(log, "X-aws-ec2-metadata-token: " TOKEN "\n"),
		    "region: IMDSv2, trimmed"))
		tap_diag("r=%d msg=%s region=%s", r, e.msg, region ? region : "(null)");
	free(region);
	free(log);

	srv_route routes2[] = {
		{"PUT", "/latest/api/token", 0, 405, "", SRV_REPLY},
		{"GET", "/latest/meta-data/placement/region", 0, 404, "", SRV_REPLY},
	};
	if (srv_start(&s, routes2, 2) != 0)
		return;
	o.endpoint = s.base;
	region = NULL;
	r = cp_imds_get_region(&o, &region, &e);
	log = srv_stop(&s);
	tap_ok(r == CP_ESOURCE && !region && strstr(e.msg, "HTTP 404"),
	       "region: 404 is CP_ESOURCE");
	free(log);
}

/* Replays recorded smithy-rs traffic and checks the requests and result. */
static void test_recorded(void)
{
	const char *dir = tap_conformance_dir();
	if (!dir) {
		tap_skip("recorded IMDS traffic: conformance data not found");
		return;
	}
	static const char *const cases[] = {
		"imds_default_chain_success",
		"imds_config_with_no_creds",
		"imds_no_iam_role",
		"imds_default_chain_error",
	};
	for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
		char path[8192];
		snprintf(path, sizeof path,
			 "%s/credential-chains/smithy-rs/default-credential-provider-chain/%s/http-traffic.json",
			 dir, cases[k]);
		char *traffic = tap_slurp(path, NULL);
		snprintf(path, sizeof path,
			 "%s/credential-chains/smithy-rs/default-credential-provider-chain/%s/test-case.json",
			 dir, cases[k]);
		char *tc = tap_slurp(path, NULL);
		cJSON *t = traffic ? cJSON_Parse(traffic) : NULL;
		cJSON *want = tc ? cJSON_Parse(tc) : NULL;
		free(traffic);
		free(tc);
		if (!t || !want) {
			tap_ok(0, "recorded %s: readable", cases[k]);
			cJSON_Delete(t);
			cJSON_Delete(want);
			continue;
		}
		/* Build routes: one per connection (request uri -> status + data). */
		srv_route routes[6] = {0};
		char paths[6][512], expect_reqs[6][600];
		size_t n = 0;
		cJSON *ev;
		cJSON_ArrayForEach(ev, cJSON_GetObjectItem(t, "events"))
		{
			cJSON *a = cJSON_GetObjectItem(ev, "action");
			cJSON *req = cJSON_GetObjectItem(cJSON_GetObjectItem(a, "Request"), "request");
			cJSON *resp = cJSON_GetObjectItem(
				cJSON_GetObjectItem(cJSON_GetObjectItem(a, "Response"), "response"), "Ok");
			cJSON *data = cJSON_GetObjectItem(cJSON_GetObjectItem(a, "Data"), "data");
			if (req && n < 6) {
				const char *uri = cJSON_GetObjectItem(req, "uri")->valuestring;
				const char *p = strstr(uri + 7, "/"); /* after http:// */
				snprintf(paths[n], sizeof paths[n], "%s", p ? p : "/");
				routes[n].method = cJSON_GetObjectItem(req, "method")->valuestring;
				routes[n].path = paths[n];
				routes[n].uses = 1;
				routes[n].action = SRV_REPLY;
				snprintf(expect_reqs[n], sizeof expect_reqs[n], "=== %s %s\n",
					 routes[n].method, paths[n]);
				n++;
			} else if (resp && n > 0) {
				routes[n - 1].status = cJSON_GetObjectItem(resp, "status")->valueint;
			} else if (data && n > 0) {
				routes[n - 1].body = cJSON_GetObjectItem(data, "Utf8")->valuestring;
			}
		}
		srv s;
		if (srv_start(&s, routes, n) != 0) {
			tap_ok(0, "recorded %s: server", cases[k]);
			cJSON_Delete(t);
			cJSON_Delete(want);
			continue;
		}
		cp_imds_options o = {.endpoint = s.base};
		cp_creds c = {0};
		cp_error e = {0};
		int r = cp_imds_get_credentials(&o, &c, &e);
		char *log = srv_stop(&s);
		bool ok = true;
		/* The same requests, in the same order. */
		const char *pos = log;
		for (size_t i = 0; i < n; i++) {
			const char *hit = strstr(pos, expect_reqs[i]);
			if (!hit) {
				ok = false;
				tap_diag("missing or out of order: %s", expect_reqs[i]);
				break;
			}
			pos = hit + 1;
		}
		if ((size_t)count_str(log, "=== ") != n) {
			ok = false;
			tap_diag("%d requests, recorded %zu", count_str(log, "=== "), n);
		}
		cJSON *res = cJSON_GetObjectItem(want, "result");
		cJSON *okres = cJSON_GetObjectItem(res, "Ok");
		if (okres) {
			ok = ok && r == 0 &&
			     creds_are(&c, cJSON_GetObjectItem(okres, "access_key_id")->valuestring,
				       cJSON_GetObjectItem(okres, "secret_access_key")->valuestring,
				       cJSON_GetObjectItem(okres, "session_token")->valuestring,
				       (int64_t)cJSON_GetObjectItem(okres, "expiry")->valuedouble);
		} else {
			ok = ok && r == CP_ESOURCE && strstr(e.msg, "no IAM instance profile");
		}
		if (!tap_ok(ok, "recorded %s: same requests, %s", cases[k],
			    okres ? "same credentials" : "no instance profile"))
			tap_diag("r=%d msg=%s\n%s", r, e.msg, log);
		free(log);
		cp_creds_clear(&c);
		cJSON_Delete(t);
		cJSON_Delete(want);
	}
}

int main(void)
{
	signal(SIGPIPE, SIG_IGN);
	test_parse();
	test_flows();
	test_unreachable();
	test_no_proxy();
	test_region();
	test_recorded();
	return tap_done();
}
