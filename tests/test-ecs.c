/* test-ecs.c - the container credential endpoint: URI resolution and host
 * checks (smithy-rs ecs-tests.json), the request (aws-sdk-ruby
 * ecs_credentials_request.json), the reply (ecs_credentials_response.json),
 * the recorded smithy-rs ecs_* exchanges, and our own cases against an
 * in-process loopback HTTP server (a forked child answering scripted replies
 * and logging the requests it saw). */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "ecs.h"
#include "loopback.h"
#include "tap.h"
#include "retry.h"

/* ---- fixtures ----------------------------------------------------------- */

#define CREDS_PATH "/v2/credentials/52b19262-e7aa-4f56-a1cd-b958dcde8f3b"

/* The reply shape ECS sends (no "Code"). */
static const char *const good_json =
	"{\"RoleArn\":\"arn:aws:iam::123456789012:role/ecs-task-role\",\"AccessKeyId\":\"ASIARTEST\","
	"\"SecretAccessKey\":\"testsecret\",\"Token\":\"testtoken\","
	"\"Expiration\":\"2021-09-21T04:16:53Z\"}";

static char tmpdir[] = "/tmp/test-ecs-XXXXXX";

static bool creds_are(const cp_creds *c, const char *akid, const char *secret,
		      const char *token, int64_t exp)
{
	return c->access_key_id && strcmp(c->access_key_id, akid) == 0 && c->secret_access_key &&
	       strcmp(c->secret_access_key, secret) == 0 && c->session_token &&
	       strcmp(c->session_token, token) == 0 && c->expiration == exp;
}

static bool good_creds(const cp_creds *c)
{
	return creds_are(c, "ASIARTEST", "testsecret", "testtoken", 1632197813);
}

static const char *const ecs_vars[] = {
	"AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
	"AWS_CONTAINER_CREDENTIALS_FULL_URI",
	"AWS_CONTAINER_AUTHORIZATION_TOKEN",
	"AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE",
};

static void clear_env(void)
{
	for (size_t i = 0; i < sizeof ecs_vars / sizeof ecs_vars[0]; i++)
		unsetenv(ecs_vars[i]);
}

static void write_file(const char *path, const char *data, size_t len)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd >= 0) {
		srv_write_all(fd, data, len);
		close(fd);
	}
}

/* The request target of an absolute URI ("/" if none). */
static const char *uri_target(const char *uri)
{
	const char *p = strstr(uri, "://");
	p = p ? strchr(p + 3, '/') : NULL;
	return p ? p : "/";
}

/* One call against a one-route server; returns the log (caller frees). */
/* A clock for the tests: mono advances only by what is slept (plus step
 * per sleep), and every sleep is recorded, never made. */
typedef struct fake_clock {
	int64_t mono;
	long step;
	long slept[8];
	int nsleeps;
} fake_clock;

static int64_t fake_now(const cp_clock *c)
{
	(void)c;
	return 1700000000;
}

static int64_t fake_mono(const cp_clock *c)
{
	return ((fake_clock *)c->data)->mono;
}

static void fake_sleep(const cp_clock *c, long ms)
{
	fake_clock *f = c->data;
	if (f->nsleeps < 8)
		f->slept[f->nsleeps] = ms;
	f->nsleeps++;
	f->mono += ms + f->step;
}

static char *call_server(srv_route *routes, size_t nroutes, cp_ecs_options *o, const char *path,
			 cp_creds *c, cp_error *e, int *ret)
{
	srv s;
	if (srv_start(&s, routes, nroutes) != 0) {
		*ret = -1;
		return strdup("");
	}
	char url[1100];
	snprintf(url, sizeof url, "%s%s", s.base, path);
	o->full_uri = url;
	o->relative_uri = NULL;
	if (!o->timeout_ms)
		o->timeout_ms = 2000;
	*ret = cp_ecs_get_credentials(o, c, e);
	o->full_uri = NULL;
	return srv_stop(&s);
}

/* ---- smithy-rs ecs-tests.json ------------------------------------------- */

static void test_smithy_uri(void)
{
	cJSON *j = tap_load_conformance_json("imds-ecs/smithy-rs/ecs-tests.json");
	cJSON *t;
	int n = 0;
	cJSON_ArrayForEach(t, cJSON_GetObjectItem(j, "tests"))
	{
		const char *docs = cJSON_GetObjectItem(t, "docs")->valuestring;
		clear_env();
		cJSON *kv;
		cJSON_ArrayForEach(kv, cJSON_GetObjectItem(t, "env")) setenv(kv->string, kv->valuestring, 1);
		cp_ecs_options o;
		cp_ecs_options_from_env(&o);
		char *url = NULL;
		cp_error e = {0};
		int r = cp_ecs_resolve_uri(&o, &url, &e);
		cJSON *res = cJSON_GetObjectItem(t, "result");
		cJSON *okv = cJSON_GetObjectItem(res, "Ok");
		cJSON *errv = cJSON_GetObjectItem(res, "ErrorContains");
		bool ok;
		if (okv)
			ok = r == 0 && url && strcmp(url, okv->valuestring) == 0;
		else /* not configured at all: unavailable (3); forbidden: config error (2) */
			ok = (r == CP_ECONFIG || (r == CP_ESOURCE && !o.relative_uri && !o.full_uri)) &&
			     e.status == r && !url && strcasestr(e.msg, errv->valuestring);
		if (!tap_ok(ok, "smithy-rs ecs-tests: %s", docs))
			tap_diag("r=%d url=%s msg=%s", r, url ? url : "(null)", e.msg);
		free(url);
		n++;
	}
	tap_diag("smithy-rs ecs-tests.json: %d cases", n);
	cJSON_Delete(j);
	clear_env();
}

/* ---- aws-sdk-ruby ecs_credentials_request.json -------------------------- */

static void test_ruby_request(void)
{
	cJSON *j = tap_load_conformance_json("imds-ecs/aws-sdk-ruby/ecs_credentials_request.json");
	cJSON *t;
	int k = 0;
	cJSON_ArrayForEach(t, j)
	{
		const char *desc = cJSON_GetObjectItem(t, "description")->valuestring;
		cJSON *expect = cJSON_GetObjectItem(t, "expect");
		const char *type = cJSON_GetObjectItem(expect, "type")->valuestring;
		cJSON *tf = cJSON_GetObjectItem(t, "token_file");
		char tokpath[256];
		snprintf(tokpath, sizeof tokpath, "%s/ruby-token-%d", tmpdir, k++);
		clear_env();
		cJSON *kv;
		cJSON_ArrayForEach(kv, cJSON_GetObjectItem(t, "env"))
		{
			/* A token file that exists is ours (written below); a missing one
			 * keeps its recorded path, which must not exist here either. */
			bool ours = tf && strcmp(kv->string, "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE") == 0 &&
				    strcmp(cJSON_GetObjectItem(tf, "type")->valuestring, "success") == 0;
			setenv(kv->string, ours ? tokpath : kv->valuestring, 1);
		}
		if (tf && strcmp(cJSON_GetObjectItem(tf, "type")->valuestring, "success") == 0) {
			const char *content = cJSON_GetObjectItem(tf, "content")->valuestring;
			write_file(tokpath, content, strlen(content));
		}
		cp_ecs_options o;
		cp_ecs_options_from_env(&o);
		o.timeout_ms = 300;
		cp_creds c = {0};
		cp_error e = {0};
		if (strcmp(type, "error") == 0) {
			const char *reason = cJSON_GetObjectItem(expect, "reason")->valuestring;
			struct stat st;
			if (tf && o.auth_token_file && stat(o.auth_token_file, &st) == 0) {
				tap_skip("ruby request: %s (the recorded path exists on this host)", desc);
				continue;
			}
			int64_t t0 = cp_mono_ms();
			int r = cp_ecs_get_credentials(&o, &c, &e);
			int want = tf ? CP_ESOURCE : CP_ECONFIG;
			bool ok = r == want && e.status == want && !c.access_key_id &&
				  strcasestr(e.msg, reason) && cp_mono_ms() - t0 < 250;
			if (!tap_ok(ok, "ruby request: %s (error, no request made)", desc))
				tap_diag("r=%d msg=%s", r, e.msg);
			cp_creds_clear(&c);
			continue;
		}
		/* Success: the URI we would call, then the request on the wire with
		 * the same target and token source, sent to a loopback server. */
		cJSON *req = cJSON_GetObjectItem(expect, "request");
		const char *want_uri = cJSON_GetObjectItem(req, "uri")->valuestring;
		const char *want_method = cJSON_GetObjectItem(req, "method")->valuestring;
		char *url = NULL;
		int r = cp_ecs_resolve_uri(&o, &url, &e);
		bool ok = r == 0 && url && strcmp(url, want_uri) == 0;
		if (!ok)
			tap_diag("resolve: r=%d url=%s msg=%s", r, url ? url : "(null)", e.msg);
		free(url);
		const char *target = uri_target(want_uri);
		srv_route routes[] = {{NULL, target, 0, 200, good_json, SRV_REPLY, "application/json", NULL, NULL}};
		char *log = call_server(routes, 1, &o, target, &c, &e, &r);
		char line[1200];
		snprintf(line, sizeof line, "=== %s %s\n", want_method, target);
		ok = ok && r == 0 && good_creds(&c) && count_str(log, "=== ") == 1 && strstr(log, line);
		cJSON *hdrs = cJSON_GetObjectItem(req, "headers");
		cJSON *h;
		bool want_auth = false;
		cJSON_ArrayForEach(h, hdrs)
		{
			snprintf(line, sizeof line, "\n%s: %s\n", h->string, h->valuestring);
			ok = ok && strstr(log, line);
			if (strcasecmp(h->string, "Authorization") == 0)
				want_auth = true;
		}
		if (!want_auth)
			ok = ok && !strcasestr(log, "\nAuthorization:");
		if (!tap_ok(ok, "ruby request: %s", desc))
			tap_diag("r=%d msg=%s log:\n%s", r, e.msg, log);
		free(log);
		cp_creds_clear(&c);
		unlink(tokpath);
	}
	cJSON_Delete(j);
	clear_env();
}

/* ---- aws-sdk-ruby ecs_credentials_response.json ------------------------- */

static void test_ruby_response(void)
{
	cJSON *j = tap_load_conformance_json("imds-ecs/aws-sdk-ruby/ecs_credentials_response.json");
	cJSON *t;
	cJSON_ArrayForEach(t, j)
	{
		const char *desc = cJSON_GetObjectItem(t, "description")->valuestring;
		cJSON *resp = cJSON_GetObjectItem(t, "response");
		cJSON *expect = cJSON_GetObjectItem(t, "expect");
		cJSON *body = cJSON_GetObjectItem(resp, "body");
		cJSON *ct = cJSON_GetObjectItem(cJSON_GetObjectItem(resp, "headers"), "Content-Type");
		int status = cJSON_GetObjectItem(resp, "status")->valueint;
		srv_route routes[] = {{NULL, "/creds", 0, status, body ? body->valuestring : "", SRV_REPLY,
				       ct ? ct->valuestring : NULL, NULL, NULL}};
		cp_ecs_options o = {0};
		cp_creds c = {0};
		cp_error e = {0};
		int r;
		char *log = call_server(routes, 1, &o, "/creds", &c, &e, &r);
		bool ok;
		char note[200] = "";
		if (strcmp(cJSON_GetObjectItem(expect, "type")->valuestring, "error") == 0) {
			/* "received ... from credentials endpoint: 401 Unauthorized" */
			const char *reason = cJSON_GetObjectItem(expect, "reason")->valuestring;
			const char *st = strrchr(reason, ':');
			st = st ? st + 2 : reason;
			ok = r == CP_ESOURCE && e.status == CP_ESOURCE && e.remote.http_status == status &&
			     !c.access_key_id && strstr(e.msg, "credentials endpoint") && strstr(e.msg, st);
			cJSON *code = cJSON_GetObjectItem(cJSON_GetObjectItem(expect, "metadata"), "Code");
			if (code)
				ok = ok && strcmp(e.remote.code, code->valuestring) == 0 &&
				     strstr(e.msg, code->valuestring);
			else
				ok = ok && e.remote.code[0] == '\0';
		} else {
			cJSON *w = cJSON_GetObjectItem(expect, "credentials");
			int64_t exp = 0;
			cp_parse_iso8601(cJSON_GetObjectItem(w, "expiration")->valuestring, &exp);
			ok = r == 0 &&
			     creds_are(&c, cJSON_GetObjectItem(w, "access_key_id")->valuestring,
				       cJSON_GetObjectItem(w, "secret_access_key")->valuestring,
				       cJSON_GetObjectItem(w, "session_token")->valuestring, exp);
			cJSON *acct = cJSON_GetObjectItem(w, "account_id");
			if (acct && strspn(acct->valuestring, "0123456789") == strlen(acct->valuestring)) {
				ok = ok && c.account_id && strcmp(c.account_id, acct->valuestring) == 0;
			} else if (acct) {
				/* Deliberate difference: AccountId goes into our output, and an
				 * AWS account id is digits; anything else is dropped. */
				ok = ok && !c.account_id;
				snprintf(note, sizeof note,
					 " (deliberate difference: non-numeric AccountId '%s' dropped)",
					 acct->valuestring);
			}
		}
		if (!tap_ok(ok, "ruby response: %s%s", desc, note))
			tap_diag("r=%d http=%ld code=%s msg=%s log:\n%s", r, e.remote.http_status, e.remote.code,
				 e.msg, log);
		else if (r)
			tap_diag("%s", e.msg);
		free(log);
		cp_creds_clear(&c);
	}
	cJSON_Delete(j);
}

/* ---- recorded smithy-rs ecs_* exchanges --------------------------------- */

static void test_recorded(void)
{
	const char *dir = tap_conformance_dir();
	static const char *const cases[] = {"ecs_credentials", "ecs_credentials_invalid_profile",
					    "ecs_assume_role"};
	for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
		char path[8192];
		const char *base = "credential-chains/smithy-rs/default-credential-provider-chain";
		snprintf(path, sizeof path, "%s/%s/%s/http-traffic.json", dir, base, cases[k]);
		char *traffic = tap_slurp(path, NULL);
		snprintf(path, sizeof path, "%s/%s/%s/env.json", dir, base, cases[k]);
		char *envs = tap_slurp(path, NULL);
		snprintf(path, sizeof path, "%s/%s/%s/test-case.json", dir, base, cases[k]);
		char *tcs = tap_slurp(path, NULL);
		cJSON *tr = traffic ? cJSON_Parse(traffic) : NULL;
		cJSON *env = envs ? cJSON_Parse(envs) : NULL;
		cJSON *tc = tcs ? cJSON_Parse(tcs) : NULL;
		free(traffic);
		free(envs);
		free(tcs);
		if (!tr || !env || !tc) {
			tap_ok(0, "recorded %s: readable", cases[k]);
			goto next;
		}
		/* The container exchange: the first request, its status and data. */
		const char *uri = NULL, *data = NULL;
		int status = 0, nreq = 0;
		cJSON *ev;
		cJSON_ArrayForEach(ev, cJSON_GetObjectItem(tr, "events"))
		{
			srv_event x = srv_recorded_event(ev);
			if (x.request && nreq++ == 0)
				uri = cJSON_GetObjectItem(x.request, "uri")->valuestring;
			else if (x.response && nreq == 1)
				status = cJSON_GetObjectItem(x.response, "status")->valueint;
			else if (x.data && nreq == 1 && x.data_is_response)
				data = x.data;
		}
		clear_env();
		cJSON *kv;
		cJSON_ArrayForEach(kv, env)
			if (strncmp(kv->string, "AWS_CONTAINER_", 14) == 0)
				setenv(kv->string, kv->valuestring, 1);
		cp_ecs_options o;
		cp_ecs_options_from_env(&o);
		char *url = NULL;
		cp_error e = {0};
		int r = cp_ecs_resolve_uri(&o, &url, &e);
		bool ok = uri && data && r == 0 && url && strcmp(url, uri) == 0;
		free(url);
		const char *target = uri ? uri_target(uri) : "/";
		srv_route routes[] = {{NULL, target, 0, status, data, SRV_REPLY, "application/json", NULL, NULL}};
		cp_creds c = {0};
		char *log = call_server(routes, 1, &o, target, &c, &e, &r);
		char line[1200];
		snprintf(line, sizeof line, "=== GET %s\n", target);
		ok = ok && strstr(log, line) && strstr(log, "\nAccept: application/json\n") &&
		     count_str(log, "=== ") == 1;
		/* The recorded body's credentials; where ECS is the whole chain, also
		 * the test case's result. */
		cJSON *b = data ? cJSON_Parse(data) : NULL;
		cJSON *want = cJSON_GetObjectItem(cJSON_GetObjectItem(tc, "result"), "Ok");
		int64_t exp = 0;
		if (b)
			cp_parse_iso8601(cJSON_GetObjectItem(b, "Expiration")->valuestring, &exp);
		ok = ok && b && r == 0 &&
		     creds_are(&c, cJSON_GetObjectItem(b, "AccessKeyId")->valuestring,
			       cJSON_GetObjectItem(b, "SecretAccessKey")->valuestring,
			       cJSON_GetObjectItem(b, "Token")->valuestring, exp);
		if (nreq == 1)
			ok = ok && want &&
			     creds_are(&c, cJSON_GetObjectItem(want, "access_key_id")->valuestring,
				       cJSON_GetObjectItem(want, "secret_access_key")->valuestring,
				       cJSON_GetObjectItem(want, "session_token")->valuestring,
				       (int64_t)cJSON_GetObjectItem(want, "expiry")->valuedouble);
		if (!tap_ok(ok, "recorded %s: same request, %s", cases[k],
			    nreq == 1 ? "same credentials" : "the container credentials of the chain"))
			tap_diag("r=%d msg=%s log:\n%s", r, e.msg, log);
		cJSON_Delete(b);
		free(log);
		cp_creds_clear(&c);
	next:
		cJSON_Delete(tr);
		cJSON_Delete(env);
		cJSON_Delete(tc);
	}
	clear_env();
}

/* ---- own cases: URIs ---------------------------------------------------- */

static void test_uri_rules(void)
{
	static const struct {
		const char *rel, *full, *want; /* want NULL: CP_ECONFIG */
		const char *why;
	} cases[] = {
		{NULL, "http://127.0.0.1:8080/creds", "http://127.0.0.1:8080/creds", "loopback IPv4"},
		{NULL, "http://127.255.0.9/creds", "http://127.255.0.9/creds", "all of 127.0.0.0/8"},
		{NULL, "http://127.1/creds", "http://127.1/creds", "127.1 is 127.0.0.1 to curl"},
		{NULL, "http://[::1]:8080/creds", "http://[::1]:8080/creds", "loopback IPv6"},
		{NULL, "HTTP://LOCALHOST/creds", "HTTP://LOCALHOST/creds", "localhost, any case"},
		{NULL, "http://169.254.170.23/v1/credentials", "http://169.254.170.23/v1/credentials",
		 "EKS Pod Identity IPv4"},
		{NULL, "https://169.254.169.254/x", "https://169.254.169.254/x", "HTTPS: any host"},
		{NULL, "http://169.254.169.254/", NULL, "IMDS address over HTTP"},
		{NULL, "http://example.com/", NULL, "a DNS name over HTTP (no lookups)"},
		{NULL, "http://localhost.example.com/", NULL, "a name that starts with localhost"},
		{NULL, "http://169.254.170.2./", NULL, "trailing dot (a DNS name)"},
		{NULL, "http://192.168.1.1/endpoint", NULL, "private address"},
		{NULL, "http://127.0.0.1@example.com/", NULL, "userinfo hiding the real host"},
		{NULL, "http://127.0.0.1\\@example.com/", NULL, "backslash userinfo trick"},
		{NULL, "http://[fe80::1]/", NULL, "IPv6 link-local"},
		{NULL, "http://[::1%25lo]/", NULL, "IPv6 with a zone id"},
		{NULL, "http://[fd00:ec2::24]/", NULL, "a neighbour of the EKS IPv6 address"},
		{NULL, "ftp://127.0.0.1/", NULL, "scheme other than http(s)"},
		{NULL, "http:///creds", NULL, "empty host"},
		{NULL, "http://127.0.0.1/a b", NULL, "space in the URI"},
		{NULL, "http://127.0.0.1/\r\nHost: evil", NULL, "CR/LF in the URI"},
		{"credentials", NULL, NULL, "relative URI without a leading '/'"},
		{"@example.com/creds", NULL, NULL, "relative URI moving the authority"},
		{".example.com/creds", NULL, NULL, "relative URI extending the host"},
		{"/creds\r\nX: y", NULL, NULL, "relative URI with CR/LF"},
		{"//example.com/x", NULL, "http://169.254.170.2//example.com/x",
		 "relative '//' stays a path on 169.254.170.2"},
		{"", "http://127.0.0.1/full", "http://127.0.0.1/full", "empty RELATIVE_URI is unset"},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		cp_ecs_options o = {.relative_uri = cases[i].rel, .full_uri = cases[i].full};
		char *url = NULL;
		cp_error e = {0};
		int r = cp_ecs_resolve_uri(&o, &url, &e);
		bool ok = cases[i].want ? r == 0 && url && strcmp(url, cases[i].want) == 0
					: r == CP_ECONFIG && e.status == CP_ECONFIG && !url;
		if (!tap_ok(ok, "uri: %s -> %s", cases[i].why, cases[i].want ? "allowed" : "CP_ECONFIG"))
			tap_diag("r=%d url=%s msg=%s", r, url ? url : "(null)", e.msg);
		free(url);
	}

	/* Resolution errors quote the configured value and name the host. */
	cp_ecs_options o = {.full_uri = "http://192.0.2.1/creds"};
	char *url = NULL;
	cp_error e = {0};
	int r = cp_ecs_resolve_uri(&o, &url, &e);
	free(url);
	tap_ok(r == CP_ECONFIG && strstr(e.msg, "'192.0.2.1' is not an allowed host"),
	       "uri: forbidden host is named in the message");
}

/* ---- own cases: requests ------------------------------------------------ */

static void test_flows(void)
{
	cp_creds c = {0};
	cp_error e = {0};
	int r;
	char *log;

	/* Success with an env token. */
	{
		srv_route routes[] = {{NULL, "/creds", 0, 200, good_json, SRV_REPLY, "application/json", NULL, NULL}};
		cp_ecs_options o = {.auth_token = "Bearer ENVTOKEN-1"};
		log = call_server(routes, 1, &o, "/creds", &c, &e, &r);
		bool ok = r == 0 && good_creds(&c) && !c.account_id &&
			  strstr(log, "=== GET /creds\n") &&
			  strstr(log, "\nAuthorization: Bearer ENVTOKEN-1\n") &&
			  strstr(log, "\nAccept: application/json\n") && count_str(log, "=== ") == 1;
		if (!tap_ok(ok, "flow: success with AWS_CONTAINER_AUTHORIZATION_TOKEN"))
			tap_diag("r=%d msg=%s log:\n%s", r, e.msg, log);
		free(log);
		cp_creds_clear(&c);
	}

	/* The token file wins over the env token, is re-read at each call, and
	 * loses its trailing newline. */
	{
		char tok[256];
		snprintf(tok, sizeof tok, "%s/token", tmpdir);
		write_file(tok, "FILETOKEN-A\n", 12);
		srv_route routes[] = {{NULL, "/creds", 0, 200, good_json, SRV_REPLY, "application/json", NULL, NULL}};
		srv s;
		bool ok = srv_start(&s, routes, 1) == 0;
		char url[128];
		snprintf(url, sizeof url, "%s/creds", s.base);
		cp_ecs_options o = {.full_uri = url, .auth_token = "ENVTOKEN", .auth_token_file = tok};
		int r1 = cp_ecs_get_credentials(&o, &c, &e);
		cp_creds_clear(&c);
		write_file(tok, "FILETOKEN-B\r\n", 13);
		int r2 = cp_ecs_get_credentials(&o, &c, &e);
		log = srv_stop(&s);
		const char *a = strstr(log, "\nAuthorization: FILETOKEN-A\n");
		const char *b = strstr(log, "\nAuthorization: FILETOKEN-B\n");
		ok = ok && r1 == 0 && r2 == 0 && good_creds(&c) && a && b && a < b &&
		     !strstr(log, "ENVTOKEN") && count_str(log, "=== ") == 2;
		if (!tap_ok(ok, "flow: token file wins, is re-read per call, newline trimmed"))
			tap_diag("r=%d/%d msg=%s log:\n%s", r1, r2, e.msg, log);
		free(log);
		cp_creds_clear(&c);
		unlink(tok);
	}

	/* 500 then 200 with attempts = 2; 429 then 200; 500 with attempts = 1. */
	static const struct {
		int first, attempts, want_r, want_requests;
		const char *name, *msg;
	} retry[] = {
		{500, 2, 0, 2, "500 then 200 with attempts=2: retried", NULL},
		{503, 3, 0, 2, "503 then 200 with attempts=3: retried once", NULL},
		{429, 2, 0, 2, "429 then 200 with attempts=2: retried", NULL},
		{500, 1, CP_ESOURCE, 1, "500 with attempts=1: CP_ESOURCE", "500 Internal Server Error"},
		{404, 3, CP_ESOURCE, 1, "404 is not retried", "404 Not Found"},
	};
	for (size_t i = 0; i < sizeof retry / sizeof retry[0]; i++) {
		srv_route routes[] = {{NULL, "/creds", 1, retry[i].first, "{}", SRV_REPLY, NULL, NULL, NULL},
				      {NULL, "/creds", 0, 200, good_json, SRV_REPLY, "application/json", NULL, NULL}};
		cp_ecs_options o = {.attempts = retry[i].attempts};
		cp_error_clear(&e);
		log = call_server(routes, 2, &o, "/creds", &c, &e, &r);
		bool ok = r == retry[i].want_r && count_str(log, "=== ") == retry[i].want_requests &&
			  (r ? e.status == r && e.remote.http_status == retry[i].first && !c.access_key_id &&
				       strstr(e.msg, retry[i].msg) && strstr(e.msg, "/creds'") &&
				       e.cause == (retry[i].first >= 500 ? CP_CAUSE_SERVER : CP_CAUSE_REFUSED)
			     : good_creds(&c));
		if (!tap_ok(ok, "flow: %s", retry[i].name))
			tap_diag("r=%d msg=%s log:\n%s", r, e.msg, log);
		free(log);
		cp_creds_clear(&c);
	}

	/* Backoff and deadline go through the options' clock: its sleeps are
	 * the backoffs (none real), and a deadline on it is honoured. */
	{
		srv_route routes[] = {{NULL, "/creds", 0, 503, "{}", SRV_REPLY, NULL, NULL, NULL}};
		fake_clock fc = {0};
		cp_clock clk = {.now = fake_now, .mono_ms = fake_mono, .sleep_ms = fake_sleep, .data = &fc};
		cp_ecs_options o = {.attempts = 3, .clock = &clk};
		cp_error_clear(&e);
		int64_t t0 = cp_mono_ms();
		log = call_server(routes, 1, &o, "/creds", &c, &e, &r);
		bool ok = r == CP_ESOURCE && count_str(log, "=== ") == 3 && fc.nsleeps == 2 &&
			  fc.slept[0] < 200 && fc.slept[1] < 400 && e.cause == CP_CAUSE_SERVER &&
			  strstr(e.msg, "503");
		if (!tap_ok(ok, "flow: 503 x3 on a fake clock: 2 backoffs on it (%ld, %ld ms), %lld ms real",
			    fc.slept[0], fc.slept[1], (long long)(cp_mono_ms() - t0)))
			tap_diag("r=%d sleeps=%d msg=%s log:\n%s", r, fc.nsleeps, e.msg, log);
		free(log);

		/* The deadline is on the fake clock: 1 s in, each backoff
		 * advances it by 2 s, so the second attempt is never made. */
		fake_clock fc2 = {.mono = 5000, .step = 2000};
		clk.data = &fc2;
		o = (cp_ecs_options){.attempts = 3, .clock = &clk, .deadline_ms = 6000};
		cp_error_clear(&e);
		log = call_server(routes, 1, &o, "/creds", &c, &e, &r);
		ok = r == CP_ESOURCE && count_str(log, "=== ") == 1 && strstr(e.msg, "503");
		if (!tap_ok(ok, "flow: a deadline on the fake clock stops the retries (%d request(s))",
			    count_str(log, "=== ")))
			tap_diag("r=%d msg=%s log:\n%s", r, e.msg, log);
		free(log);
	}

	/* Unreachable: refused connection, quickly. */
	{
		char url[64];
		snprintf(url, sizeof url, "http://127.0.0.1:%d/creds", closed_port());
		cp_ecs_options o = {.full_uri = url, .attempts = 2, .timeout_ms = 1000};
		int64_t t0 = cp_mono_ms();
		cp_error_clear(&e);
		r = cp_ecs_get_credentials(&o, &c, &e);
		int64_t took = cp_mono_ms() - t0;
		bool ok = r == CP_ESOURCE && e.status == CP_ESOURCE && strstr(e.msg, "unreachable") &&
			  strstr(e.msg, url) && took < 1500 && e.cause == CP_CAUSE_NO_ANSWER;
		if (!tap_ok(ok, "flow: refused connection: CP_ESOURCE in %lld ms", (long long)took))
			tap_diag("r=%d msg=%s", r, e.msg);
	}

	/* A server that never answers: the per-request timeout holds. */
	{
		srv_route routes[] = {{NULL, "/creds", 0, 0, NULL, SRV_HANG, NULL, NULL, NULL}};
		cp_ecs_options o = {.timeout_ms = 300};
		int64_t t0 = cp_mono_ms();
		cp_error_clear(&e);
		log = call_server(routes, 1, &o, "/creds", &c, &e, &r);
		int64_t took = cp_mono_ms() - t0;
		bool ok = r == CP_ESOURCE && took < 2000 && !c.access_key_id &&
			  e.cause == CP_CAUSE_NO_ANSWER;
		if (!tap_ok(ok, "flow: no answer: CP_ESOURCE after the timeout (%lld ms)", (long long)took))
			tap_diag("r=%d msg=%s", r, e.msg);
		free(log);
	}

	/* Connection closed without a reply. */
	{
		srv_route routes[] = {{NULL, "/creds", 0, 0, NULL, SRV_CLOSE, NULL, NULL, NULL}};
		cp_ecs_options o = {0};
		cp_error_clear(&e);
		log = call_server(routes, 1, &o, "/creds", &c, &e, &r);
		tap_ok(r == CP_ESOURCE && !c.access_key_id && e.cause == CP_CAUSE_NO_ANSWER,
		       "flow: connection closed: CP_ESOURCE (no answer)");
		free(log);
	}

	/* An overall deadline already past: nothing is sent. */
	{
		srv_route routes[] = {{NULL, "/creds", 0, 200, good_json, SRV_REPLY, NULL, NULL, NULL}};
		cp_ecs_options o = {.deadline_ms = cp_mono_ms() - 1};
		cp_error_clear(&e);
		log = call_server(routes, 1, &o, "/creds", &c, &e, &r);
		bool ok = r == CP_ESOURCE && strstr(e.msg, "deadline") && count_str(log, "=== ") == 0 &&
			  e.cause == CP_CAUSE_NO_ANSWER;
		if (!tap_ok(ok, "flow: deadline passed: CP_ESOURCE, no request"))
			tap_diag("r=%d msg=%s log:\n%s", r, e.msg, log);
		free(log);
	}

	/* Forbidden FULL_URI hosts: CP_ECONFIG before any network use. */
	static const char *const forbidden[] = {"http://169.254.169.254/latest/creds",
						"http://example.com/creds"};
	for (size_t i = 0; i < 2; i++) {
		cp_ecs_options o = {.full_uri = forbidden[i], .timeout_ms = 5000};
		int64_t t0 = cp_mono_ms();
		cp_error_clear(&e);
		r = cp_ecs_get_credentials(&o, &c, &e);
		bool ok = r == CP_ECONFIG && e.status == CP_ECONFIG && strstr(e.msg, "not an allowed host") &&
			  cp_mono_ms() - t0 < 100;
		if (!tap_ok(ok, "flow: forbidden FULL_URI %s: CP_ECONFIG", forbidden[i]))
			tap_diag("r=%d msg=%s", r, e.msg);
	}

	/* No configuration at all. */
	{
		cp_error_clear(&e);
		r = cp_ecs_get_credentials(NULL, &c, &e);
		tap_ok(r == CP_ESOURCE && strstr(e.msg, "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI"),
		       "flow: nothing configured: CP_ESOURCE (not in a container) naming the variables");
	}

	/* Reply problems. */
	static const struct {
		const char *body, *name, *msg;
		int status;
		const char *code;
		cp_cause cause;
	} bad[] = {
		{"{\"AccessKeyId\":\"A\",\"SecretAccessKey\":\"S\",\"Token\":\"T\"}",
		 "200 without Expiration: rejected (container credentials are temporary)", "Expiration",
		 200, "", CP_CAUSE_MALFORMED},
		{"{\"AccessKeyId\":\"A\",\"SecretAccessKey\":\"S\",\"Expiration\":\"2030-01-01T00:00:00Z\"}",
		 "200 without Token: rejected", "Token", 200, "", CP_CAUSE_MALFORMED},
		{"<html>hello</html>", "200 with HTML: rejected", "JSON", 200, "", CP_CAUSE_MALFORMED},
		{"{\"Code\":\"AccessDenied\",\"Message\":\"role not assumable\"}",
		 "200 with Code not Success: the endpoint's error", "role not assumable", 200,
		 "AccessDenied", CP_CAUSE_REFUSED},
		{"{\"code\":\"InvalidIdentityToken\",\"message\":\"token expired\"}",
		 "403 with {code,message}: both in the message", "403 Forbidden: InvalidIdentityToken - token expired",
		 403, "InvalidIdentityToken", CP_CAUSE_REFUSED},
		{"{\"message\":\"no such task\"}", "400 with only a message", "400 Bad Request: no such task",
		 400, "", CP_CAUSE_REFUSED},
		{"not json", "418 with a text body: status only", "answered 418", 418, "",
		 CP_CAUSE_REFUSED},
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		srv_route routes[] = {{NULL, "/creds", 0, bad[i].status, bad[i].body, SRV_REPLY, NULL, NULL, NULL}};
		cp_ecs_options o = {0};
		cp_error_clear(&e);
		log = call_server(routes, 1, &o, "/creds", &c, &e, &r);
		bool ok = r == CP_ESOURCE && e.status == CP_ESOURCE && !c.access_key_id &&
			  strstr(e.msg, bad[i].msg) && strcmp(e.remote.code, bad[i].code) == 0 &&
			  strstr(e.msg, "container credentials endpoint") && e.cause == bad[i].cause;
		if (!tap_ok(ok, "flow: %s", bad[i].name))
			tap_diag("r=%d code=%s msg=%s", r, e.remote.code, e.msg);
		free(log);
		cp_creds_clear(&c);
	}

	/* Proxies are never used. */
	{
		setenv("http_proxy", "http://127.0.0.1:1", 1);
		setenv("HTTP_PROXY", "http://127.0.0.1:1", 1);
		setenv("ALL_PROXY", "http://127.0.0.1:1", 1);
		unsetenv("NO_PROXY");
		unsetenv("no_proxy");
		srv_route routes[] = {{NULL, "/creds", 0, 200, good_json, SRV_REPLY, NULL, NULL, NULL}};
		cp_ecs_options o = {0};
		log = call_server(routes, 1, &o, "/creds", &c, &e, &r);
		tap_ok(r == 0 && good_creds(&c) && count_str(log, "=== ") == 1,
		       "flow: proxy variables are ignored");
		free(log);
		cp_creds_clear(&c);
		unsetenv("http_proxy");
		unsetenv("HTTP_PROXY");
		unsetenv("ALL_PROXY");
	}
}

/* ---- own cases: tokens and secrets -------------------------------------- */

/* Runs fn with stderr captured; returns what was written (caller frees). */
static char *capture_stderr(void (*fn)(void *), void *arg)
{
	char path[256];
	snprintf(path, sizeof path, "%s/stderr", tmpdir);
	fflush(stderr);
	int saved = dup(2);
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	dup2(fd, 2);
	close(fd);
	fn(arg);
	fflush(stderr);
	dup2(saved, 2);
	close(saved);
	char *out = tap_slurp(path, NULL);
	unlink(path);
	return out ? out : strdup("");
}

typedef struct debug_call {
	cp_ecs_options o;
	int r;
	cp_creds c;
	cp_error e;
} debug_call;

static void run_debug_call(void *arg)
{
	debug_call *d = arg;
	cp_set_debug(true);
	d->r = cp_ecs_get_credentials(&d->o, &d->c, &d->e);
	cp_set_debug(false);
}

static void test_tokens(void)
{
	cp_creds c = {0};
	cp_error e = {0};
	int r;
	char tok[256];
	snprintf(tok, sizeof tok, "%s/token", tmpdir);

	/* Header injection through the token: refused before any request. */
	static const struct {
		const char *data;
		size_t len;
		const char *name;
	} bad_files[] = {
		{"SECRETTOK\r\nX-Evil: 1", 20, "CR/LF inside"},
		{"SECRETTOK\nmore\n", 15, "LF inside"},
		{"SECRETTOK\x01", 10, "control character"},
		{"SECRETTOK\0tail", 14, "NUL byte"},
		{"\n", 1, "only a newline (empty)"},
		{"", 0, "empty file"},
	};
	for (size_t i = 0; i < sizeof bad_files / sizeof bad_files[0]; i++) {
		write_file(tok, bad_files[i].data, bad_files[i].len);
		srv_route routes[] = {{NULL, "/creds", 0, 200, good_json, SRV_REPLY, NULL, NULL, NULL}};
		cp_ecs_options o = {.auth_token_file = tok};
		cp_error_clear(&e);
		char *log = call_server(routes, 1, &o, "/creds", &c, &e, &r);
		bool ok = r == CP_ECONFIG && strstr(e.msg, "invalid authorization token") &&
			  !strstr(e.msg, "SECRETTOK") && count_str(log, "=== ") == 0;
		if (!tap_ok(ok, "token file, %s: CP_ECONFIG, no request, token not quoted",
			    bad_files[i].name))
			tap_diag("r=%d msg=%s", r, e.msg);
		free(log);
	}
	{
		srv_route routes[] = {{NULL, "/creds", 0, 200, good_json, SRV_REPLY, NULL, NULL, NULL}};
		cp_ecs_options o = {.auth_token = "SECRETTOK\r\nX-Evil: 1"};
		cp_error_clear(&e);
		char *log = call_server(routes, 1, &o, "/creds", &c, &e, &r);
		bool ok = r == CP_ECONFIG && strstr(e.msg, "invalid authorization token") &&
			  !strstr(e.msg, "SECRETTOK") && count_str(log, "=== ") == 0;
		if (!tap_ok(ok, "env token with CR/LF: CP_ECONFIG, no request, token not quoted"))
			tap_diag("r=%d msg=%s", r, e.msg);
		free(log);
	}
	/* Size cap: 16 KiB. */
	{
		size_t n = 16 * 1024;
		char *big = malloc(n + 2);
		memset(big, 'a', n + 1);
		write_file(tok, big, n);
		srv_route routes[] = {{NULL, "/creds", 0, 200, good_json, SRV_REPLY, NULL, NULL, NULL}};
		cp_ecs_options o = {.auth_token_file = tok};
		cp_error_clear(&e);
		char *log = call_server(routes, 1, &o, "/creds", &c, &e, &r);
		tap_ok(r == 0 && count_str(log, "=== ") == 1, "token file of exactly 16 KiB: sent");
		free(log);
		cp_creds_clear(&c);
		write_file(tok, big, n + 1);
		cp_error_clear(&e);
		log = call_server(routes, 1, &o, "/creds", &c, &e, &r);
		tap_ok(r == CP_ECONFIG && strstr(e.msg, "larger than 16 KiB") && count_str(log, "=== ") == 0,
		       "token file over 16 KiB: CP_ECONFIG, no request");
		free(log);
		free(big);
	}
	/* Unreadable token file: a source failure naming the path. */
	{
		char missing[300];
		snprintf(missing, sizeof missing, "%s/no-such-token", tmpdir);
		cp_ecs_options o = {.relative_uri = "/creds", .auth_token_file = missing};
		cp_error_clear(&e);
		r = cp_ecs_get_credentials(&o, &c, &e);
		tap_ok(r == CP_ESOURCE && strstr(e.msg, missing) &&
			       strstr(e.msg, "no such file or directory"),
		       "missing token file: CP_ESOURCE naming the path");
		cp_ecs_options d = {.relative_uri = "/creds", .auth_token_file = tmpdir};
		cp_error_clear(&e);
		r = cp_ecs_get_credentials(&d, &c, &e);
		tap_ok(r == CP_ESOURCE && strstr(e.msg, "failed to read authorization token"),
		       "token file is a directory: CP_ESOURCE");
	}

	/* The token never reaches a message, even when the endpoint echoes it. */
	{
		srv_route routes[] = {
			{NULL, "/creds", 0, 401,
			 "{\"code\":\"SECRETTOK-ECHO\",\"message\":\"bad token SECRETTOK-ECHO\"}",
			 SRV_REPLY, "application/json", NULL, NULL}};
		cp_ecs_options o = {.auth_token = "SECRETTOK-ECHO"};
		cp_error_clear(&e);
		char *log = call_server(routes, 1, &o, "/creds", &c, &e, &r);
		bool ok = r == CP_ESOURCE && strstr(e.msg, "401 Unauthorized") &&
			  !strstr(e.msg, "SECRETTOK") && !strstr(e.remote.code, "SECRETTOK");
		if (!tap_ok(ok, "an endpoint echoing the token: not in the message"))
			tap_diag("r=%d code=%s msg=%s", r, e.remote.code, e.msg);
		free(log);
	}
	/* Reply values never reach a message. */
	{
		srv_route routes[] = {
			{NULL, "/creds", 0, 200,
			 "{\"AccessKeyId\":\"AKSECRET\",\"SecretAccessKey\":\"SKSECRET\","
			 "\"Token\":\"STSECRET\",\"Expiration\":\"SKSECRET\"}",
			 SRV_REPLY, NULL, NULL, NULL}};
		cp_ecs_options o = {0};
		cp_error_clear(&e);
		char *log = call_server(routes, 1, &o, "/creds", &c, &e, &r);
		tap_ok(r == CP_ESOURCE && !strstr(e.msg, "SKSECRET") && !strstr(e.msg, "STSECRET"),
		       "malformed reply: secrets not in the message");
		free(log);
	}
	/* The query of FULL_URI is left out of request errors. */
	{
		srv_route routes[] = {{NULL, "/creds?sig=QUERYSECRET", 0, 500, "", SRV_REPLY, NULL, NULL, NULL}};
		cp_ecs_options o = {0};
		cp_error_clear(&e);
		char *log = call_server(routes, 1, &o, "/creds?sig=QUERYSECRET", &c, &e, &r);
		bool ok = r == CP_ESOURCE && strstr(e.msg, "/creds'") && !strstr(e.msg, "QUERYSECRET") &&
			  strstr(log, "=== GET /creds?sig=QUERYSECRET\n");
		if (!tap_ok(ok, "request error names the endpoint without its query"))
			tap_diag("r=%d msg=%s", r, e.msg);
		free(log);
	}
	/* --debug output carries neither the token nor the credentials. */
	{
		write_file(tok, "SECRETTOK-DEBUG\n", 16);
		srv_route routes[] = {{NULL, "/creds", 0, 200, good_json, SRV_REPLY, NULL, NULL, NULL}};
		srv s;
		if (srv_start(&s, routes, 1) != 0) {
			tap_ok(0, "debug: server start");
			return;
		}
		char url[128];
		snprintf(url, sizeof url, "%s/creds", s.base);
		debug_call d = {.o = {.full_uri = url, .auth_token_file = tok, .timeout_ms = 2000}};
		char *out = capture_stderr(run_debug_call, &d);
		char *log = srv_stop(&s);
		bool ok = d.r == 0 && good_creds(&d.c) && strstr(out, "debug:") &&
			  strstr(log, "\nAuthorization: SECRETTOK-DEBUG\n") &&
			  !strstr(out, "SECRETTOK") && !strstr(out, "testsecret") &&
			  !strstr(out, "testtoken");
		if (!tap_ok(ok, "debug output: no token, no credentials"))
			tap_diag("r=%d msg=%s stderr:\n%s", d.r, d.e.msg, out);
		free(out);
		free(log);
		cp_creds_clear(&d.c);
	}
	unlink(tok);
}

int main(void)
{
	signal(SIGPIPE, SIG_IGN);
	if (!mkdtemp(tmpdir)) {
		printf("not ok 1 - mkdtemp\n1..1\n");
		return 1;
	}
	clear_env();
	/* Own cases first: they need no conformance data. */
	test_uri_rules();
	test_flows();
	test_tokens();
	if (!tap_conformance_dir()) {
		rmdir(tmpdir);
		tap_skip_all("conformance data not found (set AWS_CREDPROC_CONFORMANCE_DIR)");
	}
	test_smithy_uri();
	test_ruby_request();
	test_ruby_response();
	test_recorded();
	rmdir(tmpdir);
	return tap_done();
}
