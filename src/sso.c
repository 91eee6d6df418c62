/* sso.c - IAM Identity Center (SSO): the cached access token, its OIDC
 * refresh, and the portal's GetRoleCredentials (see sso.h).
 *
 * Wire formats, from the service models botocore ships (data/sso and
 * data/sso-oidc, 2019-06-10, both rest-json, unsigned) and botocore's
 * SSOTokenLoader / SSOTokenProvider / SSOCredentialFetcher:
 *   GET  <portal>/federation/credentials?role_name=R&account_id=A
 *        x-amz-sso_bearer_token: <accessToken>
 *     -> 200 {"roleCredentials":{"accessKeyId","secretAccessKey",
 *             "sessionToken","expiration": <epoch ms>}}
 *     -> 401 UnauthorizedException (the token is no good), 400
 *        InvalidRequestException, 404 ResourceNotFoundException, 429
 *        TooManyRequestsException
 *   POST <oidc>/token   Content-Type: application/json
 *        {"grantType":"refresh_token","clientId","clientSecret","refreshToken"}
 *     -> 200 {"accessToken","tokenType","expiresIn"[,"refreshToken"]}
 *     -> 400 {"error":"invalid_grant"|"expired_token"|...,"error_description"}
 */
#include "sso.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <openssl/evp.h>

#include "fileio.h"
#include "http.h"
#include "json.h"
#include "oauth.h"
#include "retry.h"

#define S_MAX_EXPIRES_IN (10LL * 365 * 86400)
/* The printed size of a JSON object whose keys and values add up to n bytes,
 * at most (every byte escaped as \u00XX, and room for the rest). */
#define S_PRINT_MAX(n) ((n) * 6 + 512)

/* ---- small helpers ------------------------------------------------------ */

static int64_t s_now(const cp_sso_options *o)
{
	return o && o->now ? o->now : cp_now();
}

/* The login command that fixes a missing or refused token. */
static void s_login_hint(const cp_sso_options *o, char *buf, size_t len)
{
	if (o->session_name)
		snprintf(buf, len, "run `aws sso login --sso-session %s`", o->session_name);
	else
		snprintf(buf, len, "run `aws sso login --profile %s`", o->profile ? o->profile : "default");
}

/* What the token belongs to, for messages. */
static void s_token_owner(const cp_sso_options *o, char *buf, size_t len)
{
	if (o->session_name)
		snprintf(buf, len, "sso-session '%s'", o->session_name);
	else {
		char url[301]; /* no userinfo, cut */
		cp_strip_userinfo(url, sizeof url, o->start_url ? o->start_url : "");
		snprintf(buf, len, "SSO start URL '%s' (profile '%s')", url,
			 o->profile ? o->profile : "default");
	}
}

/* Percent-encodes s for a query string (RFC 3986 unreserved kept). */
static int s_query_escape(cp_buf *b, const char *s)
{
	static const char hex[] = "0123456789ABCDEF";
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if ((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') ||
		    *p == '-' || *p == '_' || *p == '.' || *p == '~') {
			cp_buf_putc(b, (char)*p);
		} else {
			char enc[3] = {'%', hex[*p >> 4], hex[*p & 15]};
			cp_buf_append(b, enc, 3);
		}
	}
	return cp_buf_status(b);
}

/* ---- the token cache file ---------------------------------------------- */

int cp_sso_token_path(const char *dir, const char *session_name, const char *start_url,
		      char **ret_path, cp_error *err)
{
	const char *key = session_name ? session_name : start_url;
	if (!key)
		return cp_error_set(err, CP_ECONFIG, "neither an sso-session nor an SSO start URL is set");
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	if (!EVP_Digest(key, strlen(key), md, &mdlen, EVP_sha1(), NULL) || mdlen != 20)
		return cp_error_set(err, CP_EINTERNAL, "SHA-1 is unavailable");
	char hex[41];
	for (unsigned i = 0; i < 20; i++)
		snprintf(hex + 2 * i, 3, "%02x", md[i]);
	char *path;
	if (dir) {
		path = cp_asprintf("%s/%s.json", dir, hex);
	} else {
		char sub[64];
		snprintf(sub, sizeof sub, ".aws/sso/cache/%s.json", hex);
		cp_error e = {0};
		int r = cp_home_dir(sub, &path, &e);
		if (r == CP_EINTERNAL)
			return cp_error_set(err, r, "out of memory");
		if (r)
			return cp_error_set(err, CP_ESOURCE, "cannot find the SSO token cache: %s", e.msg);
	}
	if (!path)
		return cp_error_set(err, CP_EINTERNAL, "out of memory");
	*ret_path = path;
	return 0;
}

void cp_sso_token_free(cp_sso_token *t)
{
	if (!t)
		return;
	free(t->start_url);
	free(t->region);
	cp_free_secret(t->access_token);
	cp_free_secret(t->refresh_token);
	free(t->client_id);
	cp_free_secret(t->client_secret);
	free(t->registration_expires_at);
	memset(t, 0, sizeof *t);
}

static int s_dup_opt(const cJSON *j, const char *k, char **dst)
{
	const char *v = cp_oauth_jstr(j, k);
	if (!v)
		return 0;
	return (*dst = cp_strdup(v)) ? 0 : CP_EINTERNAL;
}

int cp_sso_token_parse(const char *json, size_t len, cp_sso_token *ret, cp_error *err)
{
	cp_sso_token t = {0};
	int r = 0;
	cJSON *j = cJSON_ParseWithLength(json, len);
	if (!j || !cJSON_IsObject(j)) {
		r = cp_error_set(err, CP_ESOURCE, "it is not a JSON object");
		goto out;
	}
	const char *at = cp_oauth_jstr(j, "accessToken");
	const char *exp = cp_oauth_jstr(j, "expiresAt");
	if (!at || !exp) {
		r = cp_error_set(err, CP_ESOURCE, "it has no %s", !at ? "accessToken" : "expiresAt");
		goto out;
	}
	if (cp_oauth_parse_time(exp, &t.expires_at) != 0) {
		r = cp_error_set(err, CP_ESOURCE, "its expiresAt '%.40s' is not an RFC 3339 time", exp);
		goto out;
	}
	if (!(t.access_token = cp_strdup(at)) || s_dup_opt(j, "startUrl", &t.start_url) ||
	    s_dup_opt(j, "region", &t.region) || s_dup_opt(j, "refreshToken", &t.refresh_token) ||
	    s_dup_opt(j, "clientId", &t.client_id) || s_dup_opt(j, "clientSecret", &t.client_secret) ||
	    s_dup_opt(j, "registrationExpiresAt", &t.registration_expires_at)) {
		r = cp_error_set(err, CP_EINTERNAL, "out of memory");
		goto out;
	}
	if (t.registration_expires_at && cp_oauth_parse_time(t.registration_expires_at, &t.registration_expires))
		t.registration_expires = 0;
	*ret = t;
	memset(&t, 0, sizeof t);
out:
	cp_sso_token_free(&t);
	cp_json_free_secret(j);
	return r;
}

bool cp_sso_token_refreshable(const cp_sso_token *t, int64_t now)
{
	return t->refresh_token && t->client_id && t->client_secret && t->registration_expires_at &&
	       t->registration_expires > now;
}

static size_t s_len(const char *s)
{
	return s ? strlen(s) : 0;
}

char *cp_sso_refresh_body(const cp_sso_token *t)
{
	if (!t->client_id || !t->client_secret || !t->refresh_token)
		return NULL;
	cJSON *j = cJSON_CreateObject();
	char *out = NULL;
	/* References: the tree holds no copy of a secret. */
	if (j && cJSON_AddItemToObjectCS(j, "grantType", cJSON_CreateStringReference("refresh_token")) &&
	    cJSON_AddItemToObjectCS(j, "clientId", cJSON_CreateStringReference(t->client_id)) &&
	    cJSON_AddItemToObjectCS(j, "clientSecret", cJSON_CreateStringReference(t->client_secret)) &&
	    cJSON_AddItemToObjectCS(j, "refreshToken", cJSON_CreateStringReference(t->refresh_token)))
		cp_json_print_secret(j, false, S_PRINT_MAX(s_len(t->client_id) + s_len(t->client_secret) +
							   s_len(t->refresh_token)), &out);
	cJSON_Delete(j);
	return out;
}

int cp_sso_apply_refresh(cp_sso_token *t, const char *json, size_t len, int64_t now, cp_error *err)
{
	int r = 0;
	char *at = NULL, *rt = NULL;
	cJSON *j = cJSON_ParseWithLength(json, len);
	if (!j || !cJSON_IsObject(j)) {
		r = cp_error_set_cause(err, CP_ESOURCE, CP_CAUSE_MALFORMED, "the reply is not a JSON object");
		goto out;
	}
	const char *a = cp_oauth_jstr(j, "accessToken");
	const cJSON *ei = cJSON_GetObjectItemCaseSensitive(j, "expiresIn");
	if (!a || !cJSON_IsNumber(ei) || !isfinite(ei->valuedouble) || ei->valuedouble <= 0 ||
	    ei->valuedouble > (double)S_MAX_EXPIRES_IN) {
		r = cp_error_set_cause(err, CP_ESOURCE, CP_CAUSE_MALFORMED, "the reply has no %s",
				 !a ? "accessToken" : "valid expiresIn");
		goto out;
	}
	const char *nr = cp_oauth_jstr(j, "refreshToken");
	if (!(at = cp_strdup(a)) || (nr && !(rt = cp_strdup(nr)))) {
		r = cp_error_set(err, CP_EINTERNAL, "out of memory");
		goto out;
	}
	cp_free_secret(t->access_token);
	t->access_token = at;
	at = NULL;
	t->expires_at = now + (int64_t)ei->valuedouble;
	/* As botocore: the refresh token is kept only when a new one came back. */
	cp_free_secret(t->refresh_token);
	t->refresh_token = rt;
	rt = NULL;
out:
	cp_free_secret(at);
	cp_free_secret(rt);
	cp_json_free_secret(j);
	return r;
}

char *cp_sso_token_serialize(const cp_sso_token *t)
{
	char exp[21];
	char *out = NULL;
	cp_format_iso8601(t->expires_at, exp);
	cJSON *j = cJSON_CreateObject();
	bool ok = j != NULL;
	/* botocore's order: startUrl, region, accessToken, expiresAt, clientId,
	 * clientSecret, registrationExpiresAt[, refreshToken]. */
	struct {
		const char *k, *v;
	} f[] = {
		{"startUrl", t->start_url},
		{"region", t->region},
		{"accessToken", t->access_token},
		{"expiresAt", exp},
		{"clientId", t->client_id},
		{"clientSecret", t->client_secret},
		{"registrationExpiresAt", t->registration_expires_at},
		{"refreshToken", t->refresh_token},
	};
	size_t est = 0;
	for (size_t i = 0; ok && i < sizeof f / sizeof f[0]; i++) {
		if (!f[i].v)
			continue;
		est += strlen(f[i].k) + strlen(f[i].v) + 6;
		ok = cJSON_AddItemToObjectCS(j, f[i].k, cJSON_CreateStringReference(f[i].v));
	}
	if (ok)
		cp_json_print_secret(j, false, S_PRINT_MAX(est), &out);
	cJSON_Delete(j);
	return out;
}

/* Reads and parses the token file. ENOENT and a malformed file are
 * CP_EINTERACTIVE (`aws sso login` writes a new one); other read errors
 * CP_ESOURCE. */
static int s_load_token(const cp_sso_options *o, const char *path, cp_sso_token *ret, cp_error *err)
{
	char owner[400], hint[300];
	char *data = NULL;
	size_t len = 0;
	s_token_owner(o, owner, sizeof owner);
	s_login_hint(o, hint, sizeof hint);
	char why[200];
	struct stat st;
	int fd = cp_open_private_file(path, CP_SSO_MAX_TOKEN_FILE, &st, why, sizeof why);
	if (fd < 0 && !why[0])
		return cp_error_set(err, CP_EINTERACTIVE,
				    "no SSO access token for %s ('%s' does not exist): %s", owner, path,
				    hint);
	if (fd >= 0) {
		if (cp_read_private_fd(fd, &st, CP_SSO_MAX_TOKEN_FILE, &data, &len, why, sizeof why))
			data = NULL;
		close(fd);
	}
	if (!data)
		return cp_error_set(err, CP_ESOURCE, "refusing the SSO token file '%s': %s", path, why);
	int r = cp_sso_token_parse(data, len, ret, err);
	cp_freezero(data, len);
	if (r == CP_ESOURCE) {
		r = CP_EINTERACTIVE;
		if (err) {
			cp_error_prefix(err, "the SSO token file '%s' for %s is unusable", path, owner);
			size_t n = strlen(err->msg);
			snprintf(err->msg + n, sizeof err->msg - n, "; %s", hint);
			err->status = r;
		}
	}
	return r;
}

/* ---- HTTP with retries -------------------------------------------------- */

/* Sends req with o's attempts, backoff and deadline (cp_oauth_send). */
static int s_send(const cp_sso_options *o, cp_http_request *req, const char *what,
		  cp_http_response *resp, cp_error *err)
{
	cp_oauth_send_opts so = {
		.timeout_ms = o->timeout_ms,
		.attempts = o->attempts,
		.deadline_ms = o->deadline_ms,
		.clock = o->clock,
	};
	return cp_oauth_send(&so, req, what, resp, err);
}

/* ---- the OIDC refresh --------------------------------------------------- */

/* Refreshes t in place. 0; CP_EINTERACTIVE when OIDC refused the refresh
 * (the sign-in is over); CP_ETRANSPORT, CP_ESOURCE, CP_ECONFIG otherwise. */
static int s_refresh(const cp_sso_options *o, cp_sso_token *t, cp_error *err)
{
	const char *url = o->oidc_url, *src = o->oidc_source ? o->oidc_source : "the caller";
	char *full = NULL, *body = NULL;
	cp_http_response resp = {0};
	int r;
	if (!url) {
		/* The core could not resolve it: a refresh is due now, so say why. */
		if (!o->oidc_error)
			return cp_error_set(err, CP_EINTERNAL, "no SSO OIDC endpoint");
		if (err)
			*err = *o->oidc_error;
		return o->oidc_error->status ? o->oidc_error->status : CP_EINTERNAL;
	}
	if (!(full = cp_asprintf("%s/token", url)) || !(body = cp_sso_refresh_body(t))) {
		r = cp_error_set(err, CP_EINTERNAL, "out of memory");
		goto out;
	}
	cp_debug("sso: refreshing the access token of %s%s at %s (from %s)",
		 o->session_name ? "sso-session " : "", o->session_name ? o->session_name : "profile",
		 url, src);
	cp_header h[] = {{"Content-Type", "application/json"}};
	cp_http_request req = {
		.method = "POST",
		.url = full,
		.headers = h,
		.nheaders = 1,
		.body = body,
		.body_len = strlen(body),
		.ca_bundle = o->ca_bundle,
	};
	char what[400], shown[301]; /* the endpoint without userinfo, cut */
	cp_strip_userinfo(shown, sizeof shown, url);
	snprintf(what, sizeof what, "SSO OIDC endpoint '%s'", shown);
	if ((r = s_send(o, &req, what, &resp, err)))
		goto out;
	int64_t now = s_now(o);
	if (resp.status == 200) {
		r = cp_sso_apply_refresh(t, resp.body.data, resp.body.len, now, err);
		if (r == CP_ESOURCE)
			cp_error_prefix(err, "%s", what);
		goto out;
	}
	const char *secrets[] = {t->access_token, t->refresh_token, t->client_secret};
	char code[96], msg[256];
	cp_oauth_error_body(&resp.body, secrets, 3, code, sizeof code, msg, sizeof msg);
	int status = cp_oauth_retryable_status(resp.status) ? CP_ETRANSPORT
		     : (resp.status >= 400 && resp.status < 500) ? CP_EINTERACTIVE : CP_ESOURCE;
	r = cp_error_set_cause(err, status, cp_oauth_status_cause(resp.status), "%s answered %ld%s%s%s%s",
			       what, resp.status, code[0] ? " " : "", code, msg[0] ? ": " : "", msg);
	if (err) {
		err->remote.http_status = resp.status;
		snprintf(err->remote.code, sizeof err->remote.code, "%s", code);
	}
out:
	cp_http_response_free(&resp);
	cp_free_secret(body);
	free(full);
	return r;
}

/* The token to use: loaded, refreshed (sso-session only) when within the
 * refresh window and possible, written back after a refresh. */
static int s_token(const cp_sso_options *o, cp_sso_token *ret, cp_error *err)
{
	char *path = NULL;
	cp_sso_token t = {0};
	char owner[400], hint[300], when[21];
	int r;
	s_token_owner(o, owner, sizeof owner);
	s_login_hint(o, hint, sizeof hint);
	if ((r = cp_sso_token_path(o->token_dir, o->session_name, o->start_url, &path, err)))
		return r;
	if ((r = s_load_token(o, path, &t, err)))
		goto out;
	int64_t now = s_now(o);
	cp_format_iso8601(t.expires_at, when);
	cp_debug("sso: token file '%s', access token valid until %s", path, when);
	if (!o->session_name) {
		/* Legacy profiles: botocore never refreshes them. */
		if (t.expires_at <= now)
			r = cp_error_set(err, CP_EINTERACTIVE,
					 "the SSO access token for %s expired at %s: %s", owner, when, hint);
		goto out;
	}
	if (t.expires_at - now >= CP_SSO_REFRESH_WINDOW)
		goto out;
	if (!cp_sso_token_refreshable(&t, now)) {
		cp_debug("sso: the token cannot be refreshed (%s)",
			 !t.refresh_token || !t.client_id || !t.client_secret
				 ? "no refresh token or client registration"
				 : "the client registration expired");
		if (t.expires_at <= now)
			r = cp_error_set(err, CP_EINTERACTIVE,
					 "the SSO access token for %s expired at %s and cannot be refreshed: %s",
					 owner, when, hint);
		goto out;
	}
	cp_error rerr = {0};
	int rr = s_refresh(o, &t, &rerr);
	if (rr == 0) {
		/* Written as botocore writes it: the configured start URL and region. */
		char *su = cp_strdup(o->start_url), *rg = cp_strdup(o->region), *text = NULL;
		if (su && rg) {
			free(t.start_url);
			free(t.region);
			t.start_url = su;
			t.region = rg;
			su = rg = NULL;
			text = cp_sso_token_serialize(&t);
		}
		free(su);
		free(rg);
		cp_error we = {0};
		if (text ? cp_write_file_atomic(AT_FDCWD, path, text, strlen(text), NULL, &we)
			 : cp_error_set(&we, CP_EINTERNAL, "%s", strerror(ENOMEM)))
			cp_warn("cannot update the SSO token file '%s': %s (the refreshed token is used "
				"for this call only)", path, we.msg);
		cp_free_secret(text);
		cp_format_iso8601(t.expires_at, when);
		cp_debug("sso: access token refreshed, valid until %s", when);
		goto out;
	}
	if (rr == CP_EINTERNAL) {
		if (err)
			*err = rerr;
		r = rr;
		goto out;
	}
	/* Another process may have refreshed it meanwhile (and rotated the
	 * refresh token, making ours useless): look again. */
	cp_sso_token again = {0};
	cp_error e2 = {0};
	if (s_load_token(o, path, &again, &e2) == 0 && again.expires_at > t.expires_at &&
	    again.expires_at > now) {
		cp_debug("sso: the token file was refreshed by someone else meanwhile");
		cp_sso_token_free(&t);
		t = again;
		goto out;
	}
	cp_sso_token_free(&again);
	if (t.expires_at > now) {
		cp_warn("could not refresh the SSO access token for %s (%s); using the current one, "
			"valid until %s", owner, rerr.msg, when);
		goto out;
	}
	r = cp_error_set_cause(err, rr == CP_EINTERACTIVE ? CP_EINTERACTIVE : rr, rerr.cause,
			 "the SSO access token for %s expired at %s and refreshing it failed (%s)%s%s",
			 owner, when, rerr.msg, rr == CP_EINTERACTIVE ? ": " : "",
			 rr == CP_EINTERACTIVE ? hint : "");
	if (err) {
		err->remote.http_status = rerr.remote.http_status;
		snprintf(err->remote.code, sizeof err->remote.code, "%s", rerr.remote.code);
	}
out:
	if (r == 0)
		*ret = t;
	else
		cp_sso_token_free(&t);
	free(path);
	return r;
}

/* ---- GetRoleCredentials ------------------------------------------------- */

int cp_sso_parse_role_credentials(const char *json, size_t len, cp_creds *ret, cp_error *err)
{
	int r = 0;
	cJSON *j = cJSON_ParseWithLength(json, len);
	const cJSON *rc = j ? cJSON_GetObjectItemCaseSensitive(j, "roleCredentials") : NULL;
	if (!cJSON_IsObject(rc)) {
		r = cp_error_set_cause(err, CP_ESOURCE, CP_CAUSE_MALFORMED, "the reply has no roleCredentials object");
		goto out;
	}
	const char *akid = cp_oauth_jstr(rc, "accessKeyId");
	const char *secret = cp_oauth_jstr(rc, "secretAccessKey");
	const char *token = cp_oauth_jstr(rc, "sessionToken");
	const cJSON *exp = cJSON_GetObjectItemCaseSensitive(rc, "expiration");
	if (!akid || !secret || !token) {
		r = cp_error_set_cause(err, CP_ESOURCE, CP_CAUSE_MALFORMED, "the reply's roleCredentials have no %s",
				 !akid ? "accessKeyId" : !secret ? "secretAccessKey" : "sessionToken");
		goto out;
	}
	if (!cJSON_IsNumber(exp) || !isfinite(exp->valuedouble) || exp->valuedouble <= 0 ||
	    exp->valuedouble > 253402300799000.0) {
		r = cp_error_set_cause(err, CP_ESOURCE, CP_CAUSE_MALFORMED,
				 "the reply's roleCredentials have no valid expiration (epoch milliseconds)");
		goto out;
	}
	if ((r = cp_creds_set(ret, akid, secret, token, (int64_t)(exp->valuedouble / 1000.0), NULL)))
		r = cp_error_set(err, r, "out of memory");
out:
	cp_json_free_secret(j);
	return r;
}

static bool s_account_id_valid(const char *s)
{
	size_t n = strlen(s);
	if (n != 12)
		return false;
	for (size_t i = 0; i < n; i++)
		if (s[i] < '0' || s[i] > '9')
			return false;
	return true;
}

int cp_sso_get_credentials(const cp_sso_options *o, cp_creds *ret, cp_error *err)
{
	if (!o || !o->start_url || !o->region || !o->account_id || !o->role_name)
		return cp_error_set(err, CP_ECONFIG,
				    "profile '%s': SSO needs sso_start_url, sso_region, sso_account_id "
				    "and sso_role_name", o && o->profile ? o->profile : "?");
	cp_sso_token t = {0};
	cp_http_response resp = {0};
	cp_buf url = {0};
	const char *ep = o->portal_url;
	const char *src = o->portal_source ? o->portal_source : "the caller";
	char owner[400], hint[300], what[400];
	int r;
	if (!ep)
		return cp_error_set(err, CP_EINTERNAL, "no SSO portal endpoint");
	s_token_owner(o, owner, sizeof owner);
	s_login_hint(o, hint, sizeof hint);
	if ((r = s_token(o, &t, err)))
		goto out;
	cp_buf_printf(&url, "%s/federation/credentials?role_name=", ep);
	s_query_escape(&url, o->role_name);
	cp_buf_puts(&url, "&account_id=");
	s_query_escape(&url, o->account_id);
	if (url.failed) {
		r = cp_error_set(err, CP_EINTERNAL, "out of memory");
		goto out;
	}
	char shown[301]; /* the endpoint without userinfo, cut */
	cp_strip_userinfo(shown, sizeof shown, ep);
	snprintf(what, sizeof what, "SSO portal '%s'", shown);
	cp_debug("sso: GetRoleCredentials for role '%s' in account %s at %s (from %s)", o->role_name,
		 o->account_id, ep, src);
	cp_header h[] = {{"x-amz-sso_bearer_token", t.access_token}};
	cp_http_request req = {
		.method = "GET",
		.url = url.data,
		.headers = h,
		.nheaders = 1,
		.ca_bundle = o->ca_bundle,
	};
	if ((r = s_send(o, &req, what, &resp, err)))
		goto out;
	if (resp.status == 200) {
		r = cp_sso_parse_role_credentials(resp.body.data, resp.body.len, ret, err);
		if (r == CP_ESOURCE)
			cp_error_prefix(err, "%s", what);
		if (r == 0) {
			int64_t now = s_now(o);
			if (ret->expiration <= now) {
				char when[21];
				cp_format_iso8601(ret->expiration, when);
				cp_creds_clear(ret);
				r = cp_error_set_cause(err, CP_EREFUSED, CP_CAUSE_REFUSED,
						 "%s returned credentials that expired at %s, before the local "
						 "time; check the system clock", what, when);
			} else if (s_account_id_valid(o->account_id) &&
				   !(ret->account_id = cp_strdup(o->account_id))) {
				cp_creds_clear(ret);
				r = cp_error_set(err, CP_EINTERNAL, "out of memory");
			}
		}
		goto out;
	}
	const char *secrets[] = {t.access_token};
	char code[96], msg[256];
	cp_oauth_error_body(&resp.body, secrets, 1, code, sizeof code, msg, sizeof msg);
	long st = resp.status;
	/* 401 is UnauthorizedException, the token is no good; a 403 is that
	 * only when it says so (ForbiddenException "No access": the role is not
	 * assigned to the user, which signing in again does not change). */
	if (st == 401 || (st == 403 && strcmp(code, "UnauthorizedException") == 0)) {
		r = cp_error_set_cause(err, CP_EINTERACTIVE, CP_CAUSE_EXPIRED_SESSION,
				 "%s refused the SSO access token for %s (%ld%s%s%s%s): %s", what, owner, st,
				 code[0] ? " " : "", code, msg[0] ? ": " : "", msg, hint);
	} else {
		r = cp_error_set_cause(err, cp_oauth_retryable_status(st) ? CP_ETRANSPORT : CP_EREFUSED,
				 cp_oauth_status_cause(st), "%s: GetRoleCredentials for role '%s' in account %s answered %ld%s%s%s%s%s",
				 what, o->role_name, o->account_id, st, code[0] ? " " : "", code,
				 msg[0] ? ": " : "", msg,
				 st == 403 ? " (is the role assigned to you in that account?)" : "");
	}
	if (err) {
		err->remote.http_status = st;
		snprintf(err->remote.code, sizeof err->remote.code, "%s", code);
	}
out:
	cp_http_response_free(&resp);
	cp_sso_token_free(&t);
	cp_buf_free(&url);
	return r;
}
