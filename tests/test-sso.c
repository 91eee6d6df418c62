/* test-sso.c - IAM Identity Center (SSO): the token cache file name, token
 * parsing, the OIDC refresh body and its answer, GetRoleCredentials and the
 * error mapping, against an in-process loopback HTTP server (a forked child
 * answering scripted replies and logging what it saw, bodies included); the
 * smithy-rs profile-provider sso_* recordings replayed through the module;
 * and the SSO parts of chain resolution beyond the suite's six cases. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
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

#include "config.h"
#include "credproc.h"
#include "loopback.h"
#include "resolve.h"
#include "endpoint.h"
#include "sso.h"
#include "tap.h"

/* ---- fixtures ----------------------------------------------------------- */

static char s_tmp[256];      /* per-run temporary directory */
static char s_tokdir[300];   /* its token cache directory */

#define AT "e2e-access-token-ONE-0123456789"
#define AT2 "e2e-access-token-TWO-9876543210"
#define RT "e2e-refresh-token-AAAA-1111"
#define RT2 "e2e-refresh-token-BBBB-2222"
#define CSEC "e2e-client-secret-ZZZZ-9999"
#define SAK "e2eRoleSecretAccessKey/abcdefghijklmnop"
#define STOK "e2eRoleSessionToken+qrstuvwxyz0123456789"

static const char *const s_secrets[] = {AT, AT2, RT, RT2, CSEC, SAK, STOK};

static bool s_no_secret(const char *text)
{
	for (size_t i = 0; i < sizeof s_secrets / sizeof s_secrets[0]; i++)
		if (strstr(text, s_secrets[i]))
			return false;
	return true;
}

static int s_rm(const char *p, const struct stat *st, int flag, struct FTW *f)
{
	(void)st, (void)flag, (void)f;
	return remove(p);
}

static void s_write(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");
	if (f) {
		fputs(text, f);
		fclose(f);
	}
}

static char *s_token_file(const char *session, const char *url)
{
	char *p = NULL;
	cp_error err = {0};
	cp_sso_token_path(s_tokdir, session, url, &p, &err);
	return p;
}

/* A token cache file for sso-session "dev", expiring `left` seconds from now. */
static char *s_token_json(long left, bool refreshable, long reg_left)
{
	char exp[21], reg[21];
	cp_format_iso8601(cp_now() + left, exp);
	cp_format_iso8601(cp_now() + reg_left, reg);
	if (!refreshable)
		return cp_asprintf("{\"startUrl\": \"https://d-abc123.awsapps.com/start\", \"region\": "
				   "\"us-east-1\", \"accessToken\": \"%s\", \"expiresAt\": \"%s\"}",
				   AT, exp);
	return cp_asprintf("{\"startUrl\": \"https://d-abc123.awsapps.com/start\", \"region\": \"us-east-1\", "
			   "\"accessToken\": \"%s\", \"expiresAt\": \"%s\", \"clientId\": \"client-id-123\", "
			   "\"clientSecret\": \"%s\", \"registrationExpiresAt\": \"%s\", \"refreshToken\": \"%s\"}",
			   AT, exp, CSEC, reg, RT);
}

static char s_role_ok[512];

/* The endpoints the core resolves (cp_sso_endpoints) from the environment,
 * as of the last s_opts(). */
static char *s_portal, *s_oidc;
static cp_error s_oidc_err;

static void s_opts(cp_sso_options *o, const char *session)
{
	memset(o, 0, sizeof *o);
	free(s_portal);
	free(s_oidc);
	s_portal = s_oidc = NULL;
	cp_error e = {0};
	if (cp_sso_endpoints(NULL, NULL, "us-east-1", &s_portal, &o->portal_source, &s_oidc,
			     &o->oidc_source, &s_oidc_err, &e))
		fprintf(stderr, "# s_opts: %s\n", e.msg);
	o->portal_url = s_portal;
	o->oidc_url = s_oidc;
	o->oidc_error = &s_oidc_err;
	o->profile = "p";
	o->session_name = session;
	o->start_url = "https://d-abc123.awsapps.com/start";
	o->region = "us-east-1";
	o->account_id = "012345678901";
	o->role_name = "SampleRole";
	o->token_dir = s_tokdir;
	o->timeout_ms = 3000;
	o->attempts = 1;
}

static char s_warned[2048];
static void s_warn_cb(void *ud, const char *msg)
{
	(void)ud;
	snprintf(s_warned, sizeof s_warned, "%s", msg);
}

/* ---- pure pieces -------------------------------------------------------- */

static void s_pieces(void)
{
	char *p = NULL;
	cp_error err = {0};
	int r;

	/* The cache file name: SHA-1 of the session name, else of the start URL. */
	r = cp_sso_token_path("/d", "dev", "https://ignored", &p, &err);
	tap_ok(r == 0 && strcmp(p, "/d/34c6fceca75e456f25e7e99531e2425c6c1de443.json") == 0,
	       "token file of sso-session 'dev': %s", p ? p : err.msg);
	free(p);
	p = NULL;
	r = cp_sso_token_path("/d", NULL, "https://d-abc123.awsapps.com/start", &p, &err);
	tap_ok(r == 0 && strcmp(p, "/d/40a89917e3175433e361b710a9d43528d7f1890a.json") == 0,
	       "token file of a legacy start URL: %s", p ? p : err.msg);
	free(p);
	p = NULL;
	char *home = getenv("HOME") ? cp_strdup(getenv("HOME")) : NULL;
	setenv("HOME", "/home/someone/", 1);
	r = cp_sso_token_path(NULL, "dev", NULL, &p, &err);
	tap_ok(r == 0 && strcmp(p, "/home/someone/.aws/sso/cache/"
				   "34c6fceca75e456f25e7e99531e2425c6c1de443.json") == 0,
	       "the directory follows HOME: %s", p ? p : err.msg);
	free(p);
	if (home)
		setenv("HOME", home, 1);
	else
		unsetenv("HOME");
	free(home);

	/* Token parsing. */
	cp_sso_token t = {0};
	const char *full = "{\"startUrl\":\"https://x\",\"region\":\"eu-west-1\",\"accessToken\":\"" AT
			   "\",\"expiresAt\":\"2199-11-14T04:05:45Z\",\"clientId\":\"cid\",\"clientSecret\":\"" CSEC
			   "\",\"registrationExpiresAt\":\"2199-03-06T19:53:17Z\",\"refreshToken\":\"" RT "\"}";
	r = cp_sso_token_parse(full, strlen(full), &t, &err);
	tap_ok(r == 0 && strcmp(t.access_token, AT) == 0 && t.expires_at == 7253985945LL &&
	       strcmp(t.refresh_token, RT) == 0 && strcmp(t.client_id, "cid") == 0 &&
	       strcmp(t.client_secret, CSEC) == 0 && t.registration_expires == 7232183597LL &&
	       strcmp(t.region, "eu-west-1") == 0,
	       "a full token file parses (r=%d %s)", r, err.msg);
	tap_ok(cp_sso_token_refreshable(&t, cp_now()), "with refresh token and registration: refreshable");
	tap_ok(!cp_sso_token_refreshable(&t, 7232183597LL), "registration expired: not refreshable");

	char *body = cp_sso_refresh_body(&t);
	cJSON *bj = body ? cJSON_Parse(body) : NULL;
	tap_ok(bj && cJSON_GetArraySize(bj) == 4 &&
	       strcmp(cJSON_GetObjectItemCaseSensitive(bj, "grantType")->valuestring, "refresh_token") == 0 &&
	       strcmp(cJSON_GetObjectItemCaseSensitive(bj, "clientId")->valuestring, "cid") == 0 &&
	       strcmp(cJSON_GetObjectItemCaseSensitive(bj, "clientSecret")->valuestring, CSEC) == 0 &&
	       strcmp(cJSON_GetObjectItemCaseSensitive(bj, "refreshToken")->valuestring, RT) == 0,
	       "refresh body: exactly grantType, clientId, clientSecret, refreshToken");
	cJSON_Delete(bj);
	cp_free_secret(body);

	const char *ans = "{\"accessToken\":\"" AT2 "\",\"tokenType\":\"Bearer\",\"expiresIn\":28800}";
	r = cp_sso_apply_refresh(&t, ans, strlen(ans), 1000, &err);
	tap_ok(r == 0 && strcmp(t.access_token, AT2) == 0 && t.expires_at == 1000 + 28800 &&
	       !t.refresh_token, "refresh answer without refreshToken: new token, old refresh token dropped "
	       "(as botocore)");
	const char *ans2 = "{\"accessToken\":\"" AT "\",\"expiresIn\":3600,\"refreshToken\":\"" RT2 "\"}";
	r = cp_sso_apply_refresh(&t, ans2, strlen(ans2), 1000, &err);
	tap_ok(r == 0 && strcmp(t.refresh_token, RT2) == 0, "refresh answer with a rotated refresh token");
	const char *bad = "{\"accessToken\":\"x\",\"expiresIn\":-5}";
	r = cp_sso_apply_refresh(&t, bad, strlen(bad), 1000, &err);
	tap_ok(r == CP_ESOURCE && strcmp(t.access_token, AT) == 0, "negative expiresIn refused, token kept");

	char *text = cp_sso_token_serialize(&t);
	cp_sso_token t2 = {0};
	r = text ? cp_sso_token_parse(text, strlen(text), &t2, &err) : -1;
	tap_ok(r == 0 && strcmp(t2.access_token, AT) == 0 && t2.expires_at == 1000 + 3600 &&
	       strcmp(t2.refresh_token, RT2) == 0 &&
	       strcmp(t2.registration_expires_at, "2199-03-06T19:53:17Z") == 0 &&
	       strstr(text, "\"expiresAt\":\"1970-01-01T01:16:40Z\""),
	       "serialized token round-trips (registrationExpiresAt verbatim, expiresAt in Z form)");
	cp_free_secret(text);
	cp_sso_token_free(&t2);
	cp_sso_token_free(&t);

	const char *utc = "{\"accessToken\":\"a\",\"expiresAt\":\"2019-11-14T04:05:45UTC\"}";
	r = cp_sso_token_parse(utc, strlen(utc), &t, &err);
	tap_ok(r == 0 && t.expires_at == 1573704345LL && !cp_sso_token_refreshable(&t, 0),
	       "the older '...UTC' expiresAt form parses; no refresh data: not refreshable");
	cp_sso_token_free(&t);
	const char *noat = "{\"expiresAt\":\"2199-11-14T04:05:45Z\"}";
	r = cp_sso_token_parse(noat, strlen(noat), &t, &err);
	tap_ok(r == CP_ESOURCE && strstr(err.msg, "accessToken"), "no accessToken: %s", err.msg);
	const char *badexp = "{\"accessToken\":\"a\",\"expiresAt\":\"tomorrow\"}";
	r = cp_sso_token_parse(badexp, strlen(badexp), &t, &err);
	tap_ok(r == CP_ESOURCE, "malformed expiresAt: %s", err.msg);
	r = cp_sso_token_parse("[1]", 3, &t, &err);
	tap_ok(r == CP_ESOURCE, "not an object: %s", err.msg);

	/* GetRoleCredentials answers. */
	cp_creds c = {0};
	const char *rc = "{\"roleCredentials\":{\"accessKeyId\":\"ASIARTESTID\",\"secretAccessKey\":\"" SAK
			 "\",\"sessionToken\":\"" STOK "\",\"expiration\": 1651516560000}}";
	r = cp_sso_parse_role_credentials(rc, strlen(rc), &c, &err);
	tap_ok(r == 0 && strcmp(c.access_key_id, "ASIARTESTID") == 0 &&
	       strcmp(c.secret_access_key, SAK) == 0 && strcmp(c.session_token, STOK) == 0 &&
	       c.expiration == 1651516560, "roleCredentials parse; expiration in milliseconds");
	cp_creds_clear(&c);
	const char *rc2 = "{\"roleCredentials\":{\"accessKeyId\":\"A\",\"secretAccessKey\":\"S\","
			  "\"sessionToken\":\"T\"}}";
	r = cp_sso_parse_role_credentials(rc2, strlen(rc2), &c, &err);
	tap_ok(r == CP_ESOURCE && strstr(err.msg, "expiration"), "no expiration: %s", err.msg);
	r = cp_sso_parse_role_credentials("{}", 2, &c, &err);
	tap_ok(r == CP_ESOURCE, "no roleCredentials: %s", err.msg);
}

/* ---- the module against a loopback server -------------------------------- */

#define PORTAL_PATH "/federation/credentials?role_name=SampleRole&account_id=012345678901"

static void s_module(void)
{
	cp_sso_options o;
	cp_error err = {0};
	cp_creds c = {0};
	srv s;
	char *log, *tf, *tok;
	int r;
	int64_t soon = cp_now() + 3600;
	snprintf(s_role_ok, sizeof s_role_ok,
		 "{\"roleCredentials\":{\"accessKeyId\":\"ASIAE2EROLE\",\"secretAccessKey\":\"" SAK
		 "\",\"sessionToken\":\"" STOK "\",\"expiration\":%lld000}}", (long long)soon);
	cp_set_warn_handler(s_warn_cb, NULL);

	/* 1. A valid token: GET with the bearer header, nothing else. */
	tf = s_token_file("dev", NULL);
	tok = s_token_json(8 * 3600, true, 86400);
	s_write(tf, tok);
	{
		srv_route rt[] = {{"GET", PORTAL_PATH, 0, 200, s_role_ok, SRV_REPLY, SRV_JSON, NULL, NULL}};
		srv_start(&s, rt, 1);
		setenv("AWS_ENDPOINT_URL_SSO", s.base, 1);
		s_opts(&o, "dev");
		r = cp_sso_get_credentials(&o, &c, &err);
		log = srv_stop(&s);
		tap_ok(r == 0 && strcmp(c.access_key_id, "ASIAE2EROLE") == 0 && c.expiration == soon &&
		       c.account_id && strcmp(c.account_id, "012345678901") == 0,
		       "valid token: role credentials with their expiration and the account (r=%d %s)", r,
		       err.msg);
		tap_ok(count_str(log, "=== ") == 1 && strstr(log, "=== GET " PORTAL_PATH "\n") &&
		       strstr(log, "\nx-amz-sso_bearer_token: " AT "\n"),
		       "one GET /federation/credentials with x-amz-sso_bearer_token");
		if (!tap_ok(!strstr(log, "POST"), "no refresh of a token valid for hours"))
			tap_diag("%s", log);
		free(log);
		cp_creds_clear(&c);
	}
	free(tok);

	/* 2. Expiring within the refresh window: refreshed, file rewritten. */
	tok = s_token_json(300, true, 86400);
	s_write(tf, tok);
	{
		char ans[256];
		snprintf(ans, sizeof ans, "{\"accessToken\":\"%s\",\"tokenType\":\"Bearer\",\"expiresIn\":28800,"
			 "\"refreshToken\":\"%s\"}", AT2, RT2);
		srv_route rt[] = {{"POST", "/token", 0, 200, ans, SRV_REPLY, SRV_JSON, NULL, NULL},
				  {"GET", PORTAL_PATH, 0, 200, s_role_ok, SRV_REPLY, SRV_JSON, NULL, NULL}};
		srv_start(&s, rt, 2);
		setenv("AWS_ENDPOINT_URL_SSO", s.base, 1);
		setenv("AWS_ENDPOINT_URL_SSO_OIDC", s.base, 1);
		s_opts(&o, "dev");
		cp_set_debug(true);
		/* --debug output must not carry a secret either. */
		char dbg[512];
		snprintf(dbg, sizeof dbg, "%s/debug.txt", s_tmp);
		fflush(stderr);
		int saved = dup(2);
		int dfd = open(dbg, O_CREAT | O_TRUNC | O_WRONLY, 0600);
		dup2(dfd, 2);
		close(dfd);
		r = cp_sso_get_credentials(&o, &c, &err);
		fflush(stderr);
		dup2(saved, 2);
		close(saved);
		cp_set_debug(false);
		log = srv_stop(&s);
		tap_ok(r == 0 && strcmp(c.access_key_id, "ASIAE2EROLE") == 0,
		       "token in the refresh window: refreshed, then credentials (r=%d %s)", r, err.msg);
		char *post = strstr(log, "=== POST /token\n");
		char *get = strstr(log, "=== GET " PORTAL_PATH "\n");
		tap_ok(post && get && post < get && strstr(post, "\nContent-Type: application/json\n") &&
		       strstr(get, "x-amz-sso_bearer_token: " AT2 "\n"),
		       "POST /token (application/json) first, then GET with the new token");
		char *b = post ? strstr(post, "\nbody: ") : NULL;
		cJSON *bj = b ? cJSON_Parse(b + 7) : NULL;
		const cJSON *gt = cJSON_GetObjectItemCaseSensitive(bj, "grantType");
		tap_ok(bj && cJSON_GetArraySize(bj) == 4 && cJSON_IsString(gt) &&
		       strcmp(gt->valuestring, "refresh_token") == 0 &&
		       strcmp(cJSON_GetObjectItemCaseSensitive(bj, "clientId")->valuestring, "client-id-123") == 0 &&
		       strcmp(cJSON_GetObjectItemCaseSensitive(bj, "clientSecret")->valuestring, CSEC) == 0 &&
		       strcmp(cJSON_GetObjectItemCaseSensitive(bj, "refreshToken")->valuestring, RT) == 0,
		       "the refresh body on the wire");
		cJSON_Delete(bj);
		free(log);
		cp_creds_clear(&c);
		size_t n = 0;
		char *text = tap_slurp(tf, &n);
		cp_sso_token nt = {0};
		struct stat st;
		r = text ? cp_sso_token_parse(text, n, &nt, &err) : -1;
		tap_ok(r == 0 && strcmp(nt.access_token, AT2) == 0 && strcmp(nt.refresh_token, RT2) == 0 &&
		       nt.expires_at >= cp_now() + 28800 - 60 && strcmp(nt.client_secret, CSEC) == 0 &&
		       strcmp(nt.start_url, "https://d-abc123.awsapps.com/start") == 0 &&
		       stat(tf, &st) == 0 && (st.st_mode & 0777) == 0600,
		       "the token file was rewritten (new tokens, registration kept, mode 0600)");
		cp_sso_token_free(&nt);
		free(text);
		char *d = tap_slurp(dbg, NULL);
		tap_ok(d && strstr(d, "refresh") && s_no_secret(d), "--debug mentions the refresh, no secret");
		free(d);
	}
	free(tok);

	/* 3. Refresh refused, token still valid: warning, the old token is used. */
	tok = s_token_json(300, true, 86400);
	s_write(tf, tok);
	{
		srv_route rt[] = {{"POST", "/token", 0, 400,
				   "{\"error\":\"invalid_grant\",\"error_description\":\"Invalid refresh token provided\"}", SRV_REPLY, SRV_JSON,
				   NULL, NULL},
				  {"GET", PORTAL_PATH, 0, 200, s_role_ok, SRV_REPLY, SRV_JSON, NULL, NULL}};
		srv_start(&s, rt, 2);
		setenv("AWS_ENDPOINT_URL_SSO", s.base, 1);
		setenv("AWS_ENDPOINT_URL_SSO_OIDC", s.base, 1);
		s_opts(&o, "dev");
		s_warned[0] = '\0';
		r = cp_sso_get_credentials(&o, &c, &err);
		log = srv_stop(&s);
		tap_ok(r == 0 && strstr(log, "x-amz-sso_bearer_token: " AT "\n") &&
		       strstr(s_warned, "invalid_grant") && s_no_secret(s_warned),
		       "refresh refused, token still valid: used, with a warning: %s", s_warned);
		free(log);
		cp_creds_clear(&c);
	}
	free(tok);

	/* 4. Expired, refresh refused: the login hint, exit 6. */
	tok = s_token_json(-60, true, 86400);
	s_write(tf, tok);
	{
		srv_route rt[] = {{"POST", "/token", 0, 400,
				   "{\"error\":\"invalid_grant\",\"error_description\":\"Invalid refresh token provided\"}", SRV_REPLY, SRV_JSON,
				   NULL, NULL}};
		srv_start(&s, rt, 1);
		setenv("AWS_ENDPOINT_URL_SSO", s.base, 1);
		setenv("AWS_ENDPOINT_URL_SSO_OIDC", s.base, 1);
		s_opts(&o, "dev");
		r = cp_sso_get_credentials(&o, &c, &err);
		log = srv_stop(&s);
		tap_ok(r == CP_EINTERACTIVE && strstr(err.msg, "aws sso login --sso-session dev") &&
		       !strstr(log, "GET ") && s_no_secret(err.msg) && err.cause == CP_CAUSE_REFUSED,
		       "expired, refresh refused: %s", err.msg);
		free(log);
	}
	free(tok);

	/* 5. Expired, refresh endpoint down (5xx): a transport failure. */
	tok = s_token_json(-60, true, 86400);
	s_write(tf, tok);
	{
		srv_route rt[] = {{"POST", "/token", 0, 503, "{\"message\":\"down\"}", SRV_REPLY, SRV_JSON, NULL, NULL}};
		srv_start(&s, rt, 1);
		setenv("AWS_ENDPOINT_URL_SSO_OIDC", s.base, 1);
		s_opts(&o, "dev");
		o.attempts = 2;
		r = cp_sso_get_credentials(&o, &c, &err);
		log = srv_stop(&s);
		tap_ok(r == CP_ETRANSPORT && count_str(log, "=== POST /token") == 2 &&
		       err.cause == CP_CAUSE_SERVER,
		       "expired, OIDC answers 503 twice: exit 5 after 2 attempts: %s", err.msg);
		free(log);
	}
	free(tok);

	/* 6. Expired, refresh refused, but another process refreshed the file
	 * meanwhile (and rotated the refresh token): its token is used. */
	tok = s_token_json(-60, true, 86400);
	s_write(tf, tok);
	{
		char other[1024];
		char exp[21];
		cp_format_iso8601(cp_now() + 8 * 3600, exp);
		snprintf(other, sizeof other, "{\"accessToken\":\"%s\",\"expiresAt\":\"%s\"}", AT2, exp);
		srv_route rt[] = {{"POST", "/token", 0, 400, "{\"error\":\"invalid_grant\"}", SRV_REPLY, SRV_JSON, tf, other},
				  {"GET", PORTAL_PATH, 0, 200, s_role_ok, SRV_REPLY, SRV_JSON, NULL, NULL}};
		srv_start(&s, rt, 2);
		setenv("AWS_ENDPOINT_URL_SSO", s.base, 1);
		setenv("AWS_ENDPOINT_URL_SSO_OIDC", s.base, 1);
		s_opts(&o, "dev");
		r = cp_sso_get_credentials(&o, &c, &err);
		log = srv_stop(&s);
		tap_ok(r == 0 && strstr(log, "x-amz-sso_bearer_token: " AT2 "\n"),
		       "a concurrent refresh by another process is picked up (r=%d %s)", r, err.msg);
		free(log);
		cp_creds_clear(&c);
	}
	free(tok);

	/* 7. Expired without refresh data; registration expired: no request. */
	for (int i = 0; i < 2; i++) {
		tok = i == 0 ? s_token_json(-60, false, 0) : s_token_json(-60, true, -10);
		s_write(tf, tok);
		srv_route rt[] = {{"GET", "*", 0, 500, "{}", SRV_REPLY, SRV_JSON, NULL, NULL}, {"POST", "*", 0, 500, "{}", SRV_REPLY, SRV_JSON, NULL, NULL}};
		srv_start(&s, rt, 2);
		setenv("AWS_ENDPOINT_URL_SSO", s.base, 1);
		setenv("AWS_ENDPOINT_URL_SSO_OIDC", s.base, 1);
		s_opts(&o, "dev");
		r = cp_sso_get_credentials(&o, &c, &err);
		log = srv_stop(&s);
		tap_ok(r == CP_EINTERACTIVE && strstr(err.msg, "cannot be refreshed") &&
		       strstr(err.msg, "aws sso login --sso-session dev") && !strstr(log, "==="),
		       "expired, %s: no request, exit 6: %s",
		       i == 0 ? "no refresh token" : "registration expired", err.msg);
		free(log);
		free(tok);
	}

	/* 7b. Expired and refreshable, but the OIDC endpoint is invalid: the
	 * core's reason is reported now that a refresh is due (exit 2); with a
	 * token valid beyond the window it is never mentioned. */
	tok = s_token_json(-60, true, 86400);
	s_write(tf, tok);
	{
		srv_route rt[] = {{"GET", PORTAL_PATH, 0, 200, s_role_ok, SRV_REPLY, SRV_JSON, NULL, NULL}};
		srv_start(&s, rt, 1);
		setenv("AWS_ENDPOINT_URL_SSO", s.base, 1);
		setenv("AWS_ENDPOINT_URL_SSO_OIDC", "ftp://x", 1);
		s_opts(&o, "dev");
		r = cp_sso_get_credentials(&o, &c, &err);
		tap_ok(r == CP_ECONFIG && strstr(err.msg, "refreshing it failed") &&
			       strstr(err.msg, "AWS_ENDPOINT_URL_SSO_OIDC"),
		       "expired, OIDC endpoint invalid: exit 2 naming it: %s", err.msg);
		free(tok);
		tok = s_token_json(8 * 3600, true, 86400);
		s_write(tf, tok);
		r = cp_sso_get_credentials(&o, &c, &err);
		log = srv_stop(&s);
		tap_ok(r == 0 && count_str(log, "=== GET") == 1,
		       "valid token, OIDC endpoint invalid: not needed, not reported (r=%d)", r);
		cp_creds_clear(&c);
		free(log);
		unsetenv("AWS_ENDPOINT_URL_SSO_OIDC");
	}
	free(tok);

	/* 8. No token file. */
	unlink(tf);
	s_opts(&o, "dev");
	r = cp_sso_get_credentials(&o, &c, &err);
	tap_ok(r == CP_EINTERACTIVE && strstr(err.msg, "does not exist") &&
	       strstr(err.msg, "aws sso login --sso-session dev"), "no token file: %s", err.msg);
	s_write(tf, "{\"accessToken\": 5}");
	r = cp_sso_get_credentials(&o, &c, &err);
	tap_ok(r == CP_EINTERACTIVE && strstr(err.msg, "unusable") && strstr(err.msg, "aws sso login"),
	       "a malformed token file: %s", err.msg);

	/* 9. The portal's answers. */
	tok = s_token_json(8 * 3600, true, 86400);
	s_write(tf, tok);
	struct {
		int status;
		const char *body;
		int want;
		const char *needle;
		cp_cause cause;
	} cases[] = {
		{401, "{\"message\":\"Session token not found or invalid\"}", CP_EINTERACTIVE,
		 "aws sso login --sso-session dev", CP_CAUSE_EXPIRED_SESSION},
		{403, "{\"message\":\"forbidden " AT "\",\"__type\":\"UnauthorizedException\"}",
		 CP_EINTERACTIVE, "aws sso login", CP_CAUSE_EXPIRED_SESSION},
		{403, "{\"message\":\"No access\",\"__type\":\"ForbiddenException\"}", CP_EREFUSED,
		 "ForbiddenException: No access (is the role assigned", CP_CAUSE_REFUSED},
		{404, "{\"message\":\"No access\",\"__type\":\"com.amazonaws.switchboard.portal#ResourceNotFoundException\"}",
		 CP_EREFUSED, "ResourceNotFoundException: No access", CP_CAUSE_REFUSED},
		{400, "{\"message\":\"bad\"}", CP_EREFUSED, "400", CP_CAUSE_REFUSED},
		{500, "oops", CP_ETRANSPORT, "500", CP_CAUSE_SERVER},
		{429, "{\"message\":\"slow down\"}", CP_ETRANSPORT, "429", CP_CAUSE_THROTTLED},
		{200, "{\"roleCredentials\":{}}", CP_ESOURCE, "accessKeyId", CP_CAUSE_MALFORMED},
		{200, "{\"roleCredentials\":{\"accessKeyId\":\"A\",\"secretAccessKey\":\"" SAK
		      "\",\"sessionToken\":\"" STOK "\",\"expiration\":1000}}", CP_EREFUSED, "clock",
		 CP_CAUSE_REFUSED},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		srv_route rt[] = {{"GET", PORTAL_PATH, 0, cases[i].status, cases[i].body, SRV_REPLY, SRV_JSON, NULL, NULL}};
		srv_start(&s, rt, 1);
		setenv("AWS_ENDPOINT_URL_SSO", s.base, 1);
		s_opts(&o, "dev");
		o.attempts = 2;
		r = cp_sso_get_credentials(&o, &c, &err);
		log = srv_stop(&s);
		int expect_calls = cases[i].status >= 429 && cases[i].status != 200 ? 2 : 1;
		tap_ok(r == cases[i].want && strstr(err.msg, cases[i].needle) && s_no_secret(err.msg) &&
		       count_str(log, "=== GET") == expect_calls && !c.access_key_id &&
		       err.cause == cases[i].cause,
		       "portal %d: exit %d, %d call(s), cause %d: %s", cases[i].status, cases[i].want,
		       expect_calls, (int)err.cause, err.msg);
		free(log);
		cp_creds_clear(&c);
	}
	free(tok);

	/* 10. Nothing listens. */
	char url[64];
	snprintf(url, sizeof url, "http://127.0.0.1:%d", closed_port());
	setenv("AWS_ENDPOINT_URL_SSO", url, 1);
	tok = s_token_json(8 * 3600, true, 86400);
	s_write(tf, tok);
	s_opts(&o, "dev");
	r = cp_sso_get_credentials(&o, &c, &err);
	tap_ok(r == CP_ETRANSPORT && strstr(err.msg, "SSO portal") && err.cause == CP_CAUSE_NO_ANSWER &&
		       cp_error_retryable(&err),
	       "portal unreachable (no answer, retryable): %s", err.msg);
	free(tok);
	free(tf);

	/* 11. Legacy profile: its own file, never refreshed, `--profile` hint. */
	tf = s_token_file(NULL, "https://d-abc123.awsapps.com/start");
	tok = s_token_json(300, true, 86400);
	s_write(tf, tok);
	{
		srv_route rt[] = {{"GET", PORTAL_PATH, 0, 200, s_role_ok, SRV_REPLY, SRV_JSON, NULL, NULL},
				  {"POST", "*", 0, 500, "{}", SRV_REPLY, SRV_JSON, NULL, NULL}};
		srv_start(&s, rt, 2);
		setenv("AWS_ENDPOINT_URL_SSO", s.base, 1);
		setenv("AWS_ENDPOINT_URL_SSO_OIDC", s.base, 1);
		s_opts(&o, NULL);
		r = cp_sso_get_credentials(&o, &c, &err);
		log = srv_stop(&s);
		tap_ok(r == 0 && !strstr(log, "POST") && strstr(log, "x-amz-sso_bearer_token: " AT "\n"),
		       "legacy profile, 5 minutes left: used as is, no refresh (r=%d %s)", r, err.msg);
		free(log);
		cp_creds_clear(&c);
	}
	free(tok);
	tok = s_token_json(-1, true, 86400);
	s_write(tf, tok);
	s_opts(&o, NULL);
	r = cp_sso_get_credentials(&o, &c, &err);
	tap_ok(r == CP_EINTERACTIVE && strstr(err.msg, "aws sso login --profile p") &&
	       strstr(err.msg, "expired"), "legacy profile, expired: %s", err.msg);
	free(tok);
	free(tf);
	unsetenv("AWS_ENDPOINT_URL_SSO");
	unsetenv("AWS_ENDPOINT_URL_SSO_OIDC");
	cp_set_warn_handler(NULL, NULL);
}

/* ---- the smithy-rs recorded cases --------------------------------------- */

static char *s_conf_path(const char *rel)
{
	const char *dir = tap_conformance_dir();
	return dir ? cp_asprintf("%s/credential-chains/smithy-rs/profile-provider/%s", dir, rel) : NULL;
}

/* Replays sso_credentials / sso_override_global_env_url through the module:
 * the recorded token file, the recorded portal body from a loopback server
 * (pointed at with the standard variables), the recorded request checked. */
/* A clock pinned at s_pinned_now (the monotonic clock and sleep are the
 * system's): the whole pipeline on recorded credentials of 2022. */
static int64_t s_pinned_now;

static int64_t s_pinned(const cp_clock *c)
{
	(void)c;
	return s_pinned_now;
}

static int64_t s_sys_mono(const cp_clock *c)
{
	return cp_clock_system.mono_ms(c);
}

static void s_sys_sleep(const cp_clock *c, long ms)
{
	cp_clock_system.sleep_ms(c, ms);
}

static const cp_clock s_pinned_clock = {.now = s_pinned, .mono_ms = s_sys_mono, .sleep_ms = s_sys_sleep};

/* The recorded home of case `name` under HOME=<tmp>/home-<name>: its config,
 * its token cache file; the cache directory beside it. Returns the home. */
static char *s_recorded_home(const char *name, const char *token)
{
	char *home = cp_asprintf("%s/home-%s", s_tmp, name);
	char rel[256], dir[600];
	snprintf(rel, sizeof rel, "%s/fs/home/.aws/config", name);
	char *p = s_conf_path(rel);
	char *cfg = p ? tap_slurp(p, NULL) : NULL;
	free(p);
	snprintf(dir, sizeof dir, "%s/.aws/sso/cache", home);
	char *cmd = cp_asprintf("mkdir -p '%s'", dir);
	if (system(cmd) != 0)
		tap_diag("mkdir failed");
	free(cmd);
	snprintf(dir, sizeof dir, "%s/.aws/config", home);
	s_write(dir, cfg ? cfg : "");
	snprintf(dir, sizeof dir, "%s/.aws/sso/cache/34c6fceca75e456f25e7e99531e2425c6c1de443.json", home);
	s_write(dir, token);
	free(cfg);
	return home;
}

/* pipeline false: the module alone (cp_sso_get_credentials with its clock
 * pinned); true: the whole pipeline (cp_get_credentials: config, chain,
 * cache) on a pinned clock, then a second call answered by the cache. */
static void s_replay(const char *name, const char *env_var, bool pipeline)
{
	char rel[256];
	snprintf(rel, sizeof rel, "%s/http-traffic.json", name);
	char *p = s_conf_path(rel);
	char *traffic = p ? tap_slurp(p, NULL) : NULL;
	free(p);
	snprintf(rel, sizeof rel, "%s/test-case.json", name);
	p = s_conf_path(rel);
	char *tc = p ? tap_slurp(p, NULL) : NULL;
	free(p);
	snprintf(rel, sizeof rel, "%s/fs/home/.aws/sso/cache/34c6fceca75e456f25e7e99531e2425c6c1de443.json", name);
	p = s_conf_path(rel);
	char *token = p ? tap_slurp(p, NULL) : NULL;
	free(p);
	if (!traffic || !tc || !token) {
		tap_skip_data("recorded %s: files missing", name);
		free(traffic), free(tc), free(token);
		return;
	}
	cJSON *tj = cJSON_Parse(traffic), *cj = cJSON_Parse(tc);
	const cJSON *ev = cJSON_GetObjectItemCaseSensitive(tj, "events");
	const cJSON *req = srv_recorded_event(cJSON_GetArrayItem(ev, 0)).request;
	const char *uri = cJSON_GetObjectItemCaseSensitive(req, "uri")->valuestring;
	const cJSON *hdrs = cJSON_GetObjectItemCaseSensitive(req, "headers");
	const char *bearer = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(hdrs, "x-amz-sso_bearer_token"), 0)
				     ->valuestring;
	const char *reply = srv_recorded_event(cJSON_GetArrayItem(ev, 4)).data;
	const cJSON *ok = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(cj, "result"), "Ok");
	const char *path = strstr(uri, "://") ? strchr(strstr(uri, "://") + 3, '/') : NULL;

	char tf[512];
	snprintf(tf, sizeof tf, "%s/34c6fceca75e456f25e7e99531e2425c6c1de443.json", s_tokdir);
	s_write(tf, token);
	srv_route rt[] = {{"GET", path ? path : "/", 0, 200, reply, SRV_REPLY, SRV_JSON, NULL, NULL}};
	srv s;
	srv_start(&s, rt, 1);
	setenv(env_var, s.base, 1);
	cp_sso_options o;
	s_opts(&o, "dev");
	/* The recorded credentials expired in 2022: pin the clock before that. */
	int64_t expiry = (int64_t)cJSON_GetObjectItemCaseSensitive(ok, "expiry")->valuedouble;
	o.now = expiry - 600;
	cp_creds c = {0};
	cp_error err = {0};
	int r;
	char *home = NULL, *cache = NULL, *saved_home = NULL;
	cp_request rq = {.refresh_margin = -1};
	cp_effects fx = {.net = cp_net, .clock = &s_pinned_clock};
	if (pipeline) {
		saved_home = cp_strdup(getenv("HOME"));
		home = s_recorded_home(name, token);
		cache = cp_asprintf("%s/credproc-cache", home);
		setenv("HOME", home, 1);
		unsetenv("AWS_CONFIG_FILE");
		unsetenv("AWS_SHARED_CREDENTIALS_FILE");
		rq.cache_dir = cache;
		s_pinned_now = expiry - 3000;
		r = cp_get_credentials(&rq, &fx, &c, &err);
	} else {
		r = cp_sso_get_credentials(&o, &c, &err);
	}
	char *log = srv_stop(&s);
	unsetenv(env_var);
	char line[1200], hdr[600];
	snprintf(line, sizeof line, "=== GET %s\n", path ? path : "?");
	snprintf(hdr, sizeof hdr, "\nx-amz-sso_bearer_token: %s\n", bearer);
	tap_ok(r == 0 &&
	       strcmp(c.access_key_id, cJSON_GetObjectItemCaseSensitive(ok, "access_key_id")->valuestring) == 0 &&
	       strcmp(c.secret_access_key, cJSON_GetObjectItemCaseSensitive(ok, "secret_access_key")->valuestring) == 0 &&
	       strcmp(c.session_token, cJSON_GetObjectItemCaseSensitive(ok, "session_token")->valuestring) == 0 &&
	       c.expiration == expiry && strstr(log, line) && strstr(log, hdr),
	       "recorded %s%s: the recorded request (%s with the bearer header), the expected credentials "
	       "(clock pinned before their 2022 expiry) (r=%d %s)", name,
	       pipeline ? " through the whole pipeline" : "", path ? path : "?", r, err.msg);
	free(log);
	if (pipeline) {
		/* The server is gone: 1800 s later the cache answers. */
		char first[64];
		snprintf(first, sizeof first, "%s", c.access_key_id ? c.access_key_id : "");
		cp_creds_clear(&c);
		s_pinned_now += 1800;
		r = cp_get_credentials(&rq, &fx, &c, &err);
		tap_ok(r == 0 && strcmp(c.access_key_id, first) == 0,
		       "recorded %s through the whole pipeline: 1200 s left, answered from the cache "
		       "(r=%d %s)", name, r, err.msg);
		if (saved_home)
			setenv("HOME", saved_home, 1);
		else
			unsetenv("HOME");
		free(saved_home);
		free(home);
		free(cache);
	}
	cp_creds_clear(&c);
	cJSON_Delete(tj);
	cJSON_Delete(cj);
	free(traffic), free(tc), free(token);
	unlink(tf);
}

/* sso_token through the whole pipeline: HOME at a copy of the recorded
 * home; the profile has an sso_session but no account/role. */
static void s_replay_token_profile(void)
{
	char *cfgp = s_conf_path("sso_token/fs/home/.aws/config");
	char *tcp = s_conf_path("sso_token/test-case.json");
	char *text = cfgp ? tap_slurp(cfgp, NULL) : NULL;
	char *tc = tcp ? tap_slurp(tcp, NULL) : NULL;
	free(cfgp);
	free(tcp);
	if (!text || !tc) {
		tap_skip_data("recorded sso_token: files missing");
		free(text), free(tc);
		return;
	}
	cJSON *cj = cJSON_Parse(tc);
	const char *want = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(cj, "result"),
							    "ErrorContains")->valuestring;
	char path[512], cred[512], cache[512];
	snprintf(path, sizeof path, "%s/config", s_tmp);
	snprintf(cred, sizeof cred, "%s/credentials", s_tmp);
	snprintf(cache, sizeof cache, "%s/credproc-cache", s_tmp);
	s_write(path, text);
	s_write(cred, "");
	setenv("AWS_CONFIG_FILE", path, 1);
	setenv("AWS_SHARED_CREDENTIALS_FILE", cred, 1);
	cp_request req = {.cache_dir = cache, .refresh_margin = -1};
	cp_creds c = {0};
	cp_error err = {0};
	int r = cp_get_credentials(&req, &cp_effects_system, &c, &err);
	tap_ok(r == CP_ECONFIG && strstr(err.msg, want), "recorded sso_token: error contains '%s': %s", want,
	       err.msg);
	unsetenv("AWS_CONFIG_FILE");
	unsetenv("AWS_SHARED_CREDENTIALS_FILE");
	cJSON_Delete(cj);
	free(text);
	free(tc);
}

/* ---- resolution beyond the suite ---------------------------------------- */

static int s_resolve_text(const char *ini, const char *profile, cp_chain *c, cp_error *err)
{
	cp_config cfg;
	cp_config_init(&cfg);
	int r = cp_config_parse(&cfg, ini, strlen(ini), CP_FILE_CONFIG, "t", err);
	if (!r)
		r = cp_resolve(&cfg, profile, NULL, c, err);
	cp_config_free(&cfg);
	return r;
}

static void s_resolution(void)
{
	cp_chain c = {0};
	cp_error err = {0};
	int r;
	const char *sess = "[sso-session dev]\nsso_region = eu-west-1\nsso_start_url = https://d-x.awsapps.com/start\n"
			   "sso_registration_scopes = sso:account:access\n";
	char ini[1024];

	snprintf(ini, sizeof ini, "%s[profile p]\nsso_session = dev\nsso_account_id = 111122223333\n"
		 "sso_role_name = Admin\n[profile r]\nrole_arn = arn:aws:iam::222233334444:role/w\n"
		 "source_profile = p\n", sess);
	r = s_resolve_text(ini, "r", &c, &err);
	const cp_sso_source *o = cp_source_as_sso(c.base);
	tap_ok(r == 0 && o && c.nsteps == 1 && strcmp(c.base->profile, "p") == 0 &&
	       strcmp(o->region, "eu-west-1") == 0 && strcmp(o->account_id, "111122223333") == 0 &&
	       strcmp(o->registration_scopes, "sso:account:access") == 0,
	       "SSO as the source of an assume-role chain (r=%d %s)", r, err.msg);
	cp_chain_free(&c);

	snprintf(ini, sizeof ini, "%s[profile p]\nsso_session = dev\nsso_region = eu-west-1\n"
		 "sso_account_id = 111122223333\nsso_role_name = Admin\n", sess);
	r = s_resolve_text(ini, "p", &c, &err);
	tap_ok(r == 0 && cp_source_as_sso(c.base), "sso_region repeating the session's own value is accepted");
	cp_chain_free(&c);

	snprintf(ini, sizeof ini, "%s[profile p]\nsso_session = dev\nsso_start_url = https://other\n", sess);
	r = s_resolve_text(ini, "p", &c, &err);
	tap_ok(r == CP_ECONFIG && strstr(err.msg, "sso_start_url"), "a different sso_start_url: %s", err.msg);

	r = s_resolve_text("[sso-session dev]\nsso_start_url = https://x\n[profile p]\nsso_session = dev\n",
			   "p", &c, &err);
	tap_ok(r == CP_ECONFIG && strstr(err.msg, "sso_region"), "session without sso_region: %s", err.msg);

	r = s_resolve_text("[profile p]\nsso_start_url = https://x\nsso_account_id = 111122223333\n"
			   "sso_role_name = Admin\n", "p", &c, &err);
	tap_ok(r == CP_ECONFIG && strstr(err.msg, "sso_region"), "legacy without sso_region: %s", err.msg);

	r = s_resolve_text("[profile p]\nsso_start_url = https://x\nsso_region = us-east-1\n", "p", &c, &err);
	tap_ok(r == CP_ECONFIG && strstr(err.msg, "sso_account_id"), "legacy without account and role: %s",
	       err.msg);

	r = s_resolve_text("[profile p]\nsso_start_url = https://x\nsso_region = US East\n"
			   "sso_account_id = 111122223333\nsso_role_name = Admin\n", "p", &c, &err);
	tap_ok(r == CP_ECONFIG && strstr(err.msg, "sso_region"), "invalid sso_region: %s", err.msg);

	r = s_resolve_text("[profile p]\nsso_start_url = https://x\nsso_region = us-east-1\n"
			   "sso_account_id = 111122223333\nsso_role_name = Admin\n", "p", &c, &err);
	o = cp_source_as_sso(c.base);
	tap_ok(r == 0 && o && !o->session && strcmp(o->start_url, "https://x") == 0,
	       "legacy profile resolves (r=%d %s)", r, err.msg);
	cp_chain_free(&c);
}

int main(void)
{
	snprintf(s_tmp, sizeof s_tmp, "/tmp/test-sso-XXXXXX");
	if (!mkdtemp(s_tmp)) {
		printf("Bail out! mkdtemp: %s\n", strerror(errno));
		return 1;
	}
	snprintf(s_tokdir, sizeof s_tokdir, "%s/sso-cache", s_tmp);
	mkdir(s_tokdir, 0700);
	unsetenv("AWS_ENDPOINT_URL");
	unsetenv("AWS_ENDPOINT_URL_SSO");
	unsetenv("AWS_ENDPOINT_URL_SSO_OIDC");
	unsetenv("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS");
	unsetenv("AWS_USE_FIPS_ENDPOINT");
	unsetenv("AWS_USE_DUALSTACK_ENDPOINT");
	unsetenv("AWS_CA_BUNDLE");
	unsetenv("HTTP_PROXY");
	unsetenv("http_proxy");
	unsetenv("ALL_PROXY");
	unsetenv("all_proxy");

	s_pieces();
	s_module();
	s_resolution();
	if (tap_conformance_dir()) {
		s_replay("sso_credentials", "AWS_ENDPOINT_URL_SSO", false);
		s_replay("sso_override_global_env_url", "AWS_ENDPOINT_URL", false);
		s_replay("sso_credentials", "AWS_ENDPOINT_URL_SSO", true);
		s_replay_token_profile();
	}
	nftw(s_tmp, s_rm, 16, FTW_DEPTH | FTW_PHYS);
	if (!tap_conformance_dir())
		tap_skip_all("conformance data not found (set AWS_CREDPROC_CONFORMANCE_DIR)");
	return tap_done();
}
