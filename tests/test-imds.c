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

#include "loopback.h"

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
	tap_ok(r == CP_ESOURCE && strstr(e.msg, "exceeds") && e.cause == CP_CAUSE_MALFORMED,
	       "parse: oversized document rejected (malformed)");
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
	cp_cause want_cause;          /* err->cause of a failure */
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
		     (!f->want_msg || strstr(e.msg, f->want_msg)) && e.cause == f->want_cause;
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
		tap_diag("r=%d cause=%d msg=%s", r, (int)e.cause, e.msg);
		tap_diag("log:\n%s", log);
	} else if (r) {
		tap_diag("%s", e.msg);
	}
	free(log);
	cp_creds_clear(&c);
}

static const char *role_lines = "\nimds-assume-role-test\nsecond-role\n";

#define R_PUT_TOKEN {"PUT", "/latest/api/token", 0, 200, TOKEN, SRV_REPLY, NULL, NULL, NULL}
#define R_ROLE {"GET", ROLE_PATH, 0, 200, "imds-assume-role-test", SRV_REPLY, NULL, NULL, NULL}
#define R_CREDS(json) {"GET", ROLE_PATH "imds-assume-role-test", 0, 200, json, SRV_REPLY, NULL, NULL, NULL}

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
			.routes = {R_PUT_TOKEN, {"GET", ROLE_PATH, 0, 200, NULL, SRV_REPLY, NULL, NULL, NULL},
				   R_CREDS(good_json)},
			.want_requests = 3,
		},
		{
			.name = "token PUT 403: falls back to IMDSv1 (no token header)",
			.routes = {{"PUT", "/latest/api/token", 0, 403, "", SRV_REPLY, NULL, NULL, NULL}, R_ROLE,
				   R_CREDS(good_json)},
			.forbid_log = {"X-aws-ec2-metadata-token:"},
			.want_requests = 3,
		},
		{
			.name = "token PUT 404: falls back to IMDSv1",
			.routes = {{"PUT", "/latest/api/token", 0, 404, "", SRV_REPLY, NULL, NULL, NULL}, R_ROLE,
				   R_CREDS(good_json)},
			.want_requests = 3,
		},
		{
			.name = "token PUT 405: falls back to IMDSv1",
			.routes = {{"PUT", "/latest/api/token", 0, 405, "", SRV_REPLY, NULL, NULL, NULL}, R_ROLE,
				   R_CREDS(good_json)},
			.want_requests = 3,
		},
		{
			.name = "token PUT times out: falls back to IMDSv1",
			.routes = {{"PUT", "/latest/api/token", 0, 0, NULL, SRV_HANG, NULL, NULL, NULL}, R_ROLE,
				   R_CREDS(good_json)},
			.opt = {.timeout_ms = 300, .attempts = 3},
			.forbid_log = {"X-aws-ec2-metadata-token:"},
			.want_requests = 3,
		},
		{
			.name = "token PUT connection closed: falls back to IMDSv1",
			.routes = {{"PUT", "/latest/api/token", 0, 0, NULL, SRV_CLOSE, NULL, NULL, NULL}, R_ROLE,
				   R_CREDS(good_json)},
			.want_requests = 3,
		},
		{
			.name = "token PUT 403 with v1 disabled: error",
			.routes = {{"PUT", "/latest/api/token", 0, 403, "", SRV_REPLY, NULL, NULL, NULL}, R_ROLE,
				   R_CREDS(good_json)},
			.opt = {.v1_disabled = true},
			.want_status = CP_ESOURCE,
			.want_msg = "IMDSv1 fallback disabled and no IMDSv2 token",
			.want_requests = 1,
			.want_cause = CP_CAUSE_REFUSED,
		},
		{
			.name = "token PUT timeout with v1 disabled: error",
			.routes = {{"PUT", "/latest/api/token", 0, 0, NULL, SRV_HANG, NULL, NULL, NULL}},
			.opt = {.v1_disabled = true, .timeout_ms = 300},
			.want_status = CP_ESOURCE,
			.want_msg = "IMDSv1 fallback disabled and no IMDSv2 token",
			.want_requests = 1,
			.want_cause = CP_CAUSE_NO_ANSWER,
		},
		{
			.name = "token PUT 400: error, no fallback",
			.routes = {{"PUT", "/latest/api/token", 0, 400, "", SRV_REPLY, NULL, NULL, NULL}, R_ROLE,
				   R_CREDS(good_json)},
			.want_status = CP_ESOURCE,
			.want_msg = "HTTP 400",
			.want_cause = CP_CAUSE_REFUSED,
			.want_requests = 1,
		},
		{
			.name = "role name 404: no instance profile",
			.routes = {R_PUT_TOKEN, {"GET", ROLE_PATH, 0, 404, "<html/>", SRV_REPLY, NULL, NULL, NULL}},
			.want_status = CP_ESOURCE,
			.want_msg = "no IAM instance profile is attached (IMDS returned 404 for the role name)",
			.want_cause = CP_CAUSE_REFUSED,
			.want_requests = 2,
		},
		{
			.name = "IMDSv1 GET answered 401: IMDSv2 required",
			.routes = {{"PUT", "/latest/api/token", 0, 403, "", SRV_REPLY, NULL, NULL, NULL},
				   {"GET", ROLE_PATH, 0, 401, "", SRV_REPLY, NULL, NULL, NULL}},
			.want_status = CP_ESOURCE,
			.want_msg = "requires IMDSv2",
			.want_cause = CP_CAUSE_REFUSED,
			.want_requests = 2,
		},
		{
			.name = "credentials Code not Success: error naming the code",
			.routes = {R_PUT_TOKEN, R_ROLE, R_CREDS(bad_code)},
			.want_status = CP_ESOURCE,
			.want_msg = "AssumeRoleUnauthorizedAccess",
			.want_cause = CP_CAUSE_REFUSED,
			.want_requests = 3,
		},
		{
			.name = "credentials GET 500 then 200 with attempts=2",
			.routes = {R_PUT_TOKEN, R_ROLE,
				   {"GET", ROLE_PATH "imds-assume-role-test", 1, 500, "oops", SRV_REPLY, NULL, NULL, NULL},
				   R_CREDS(good_json)},
			.opt = {.attempts = 2},
			.want_requests = 4,
		},
		{
			.name = "credentials GET 500 with attempts=1: error",
			.routes = {R_PUT_TOKEN, R_ROLE,
				   {"GET", ROLE_PATH "imds-assume-role-test", 0, 500, "oops", SRV_REPLY, NULL, NULL, NULL}},
			.want_status = CP_ESOURCE,
			.want_msg = "HTTP 500",
			.want_cause = CP_CAUSE_SERVER,
			.want_requests = 3,
		},
		{
			.name = "invalid role name is not put in a URL",
			.routes = {R_PUT_TOKEN, {"GET", ROLE_PATH, 0, 200, "../../x", SRV_REPLY, NULL, NULL, NULL}},
			.want_status = CP_ESOURCE,
			.want_msg = "invalid role name",
			.want_cause = CP_CAUSE_MALFORMED,
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
			    strstr(e.msg, "Connection refused") && e.cause == CP_CAUSE_NO_ANSWER,
		    "refused connection: CP_ESOURCE, unreachable (cause: no answer)"))
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
		{"GET", "/latest/meta-data/placement/region", 0, 200, "us-west-2\n", SRV_REPLY, NULL, NULL, NULL},
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
		{"PUT", "/latest/api/token", 0, 405, "", SRV_REPLY, NULL, NULL, NULL},
		{"GET", "/latest/meta-data/placement/region", 0, 404, "", SRV_REPLY, NULL, NULL, NULL},
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
		tap_skip_data("recorded IMDS traffic: conformance data not found");
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
			srv_event x = srv_recorded_event(ev);
			if (x.request && n < 6) {
				const char *uri = cJSON_GetObjectItem(x.request, "uri")->valuestring;
				const char *p = strstr(uri + 7, "/"); /* after http:// */
				snprintf(paths[n], sizeof paths[n], "%s", p ? p : "/");
				routes[n].method = cJSON_GetObjectItem(x.request, "method")->valuestring;
				routes[n].path = paths[n];
				routes[n].uses = 1;
				routes[n].action = SRV_REPLY;
				snprintf(expect_reqs[n], sizeof expect_reqs[n], "=== %s %s\n",
					 routes[n].method, paths[n]);
				n++;
			} else if (x.response && n > 0) {
				routes[n - 1].status = cJSON_GetObjectItem(x.response, "status")->valueint;
			} else if (x.data && n > 0) {
				routes[n - 1].body = x.data;
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
