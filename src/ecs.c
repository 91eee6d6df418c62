/* ecs.c - the container credential endpoint (ECS task roles, EKS Pod
 * Identity, and any local credential server speaking the same protocol).
 *
 * Wire format as the SDKs send it (smithy-rs recorded traffic):
 *   GET <uri>   Accept: application/json   [Authorization: <token>]
 * answered 200 with {"AccessKeyId","SecretAccessKey","Token","Expiration"
 * [,"RoleArn","AccountId"]} (no "Code"), or an error status with an
 * optional {"code"/"Code","message"/"Message"} body.
 *
 * The URI comes from AWS_CONTAINER_CREDENTIALS_RELATIVE_URI (appended to
 * http://169.254.170.2) else AWS_CONTAINER_CREDENTIALS_FULL_URI, which must
 * be HTTPS or plain HTTP to an address that cannot leave the host or the
 * task: loopback, 169.254.170.2, 169.254.170.23 or [fd00:ec2::23]. The host
 * is the one libcurl will connect to (curl's own URL parser decides it, so
 * "127.1" or "0x7f.0.0.1" are judged as 127.0.0.1 and "a\@b" as b). No DNS
 * lookup is made: "localhost" is the only name accepted over HTTP (the SDKs
 * resolve names and require every address to be loopback).
 *
 * The Authorization token is read from AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE
 * at every call (EKS rotates it), else AWS_CONTAINER_AUTHORIZATION_TOKEN. It
 * is a secret: never in a message, wiped when freed. Never through a proxy.
 */
#include "ecs.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>
#include <curl/curl.h>

#include "http.h"
#include "imds.h"
#include "json.h"
#include "retry.h"

#define S_BASE "http://" CP_ECS_HOST
#define S_DEFAULT_TIMEOUT_MS 2000L
#define S_MAX_REPLY (64 * 1024)
#define S_MAX_TOKEN (16 * 1024)
#define S_MAX_URI 2048

#define S_ENV_RELATIVE "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI"
#define S_ENV_FULL "AWS_CONTAINER_CREDENTIALS_FULL_URI"
#define S_ENV_TOKEN "AWS_CONTAINER_AUTHORIZATION_TOKEN"
#define S_ENV_TOKEN_FILE "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE"

static bool s_set(const char *s)
{
	return s && s[0];
}

/* No byte a URL or a header must not carry unencoded: controls, space, DEL. */
static bool s_clean_uri(const char *s)
{
	for (const unsigned char *p = (const unsigned char *)s; *p; p++)
		if (*p <= 0x20 || *p == 0x7f)
			return false;
	return true;
}

/* The host (as libcurl reports it: IPv4 normalized, IPv6 in brackets) may be
 * reached over plain HTTP. */
static bool s_allowed_http_host(const char *host)
{
	unsigned char a[16];
	if (inet_pton(AF_INET, host, a) == 1)
		return a[0] == 127 ||
		       (a[0] == 169 && a[1] == 254 && a[2] == 170 && (a[3] == 2 || a[3] == 23));
	size_t n = strlen(host);
	if (n > 2 && n < 64 && host[0] == '[' && host[n - 1] == ']') {
		char v6[64];
		memcpy(v6, host + 1, n - 2);
		v6[n - 2] = '\0';
		if (inet_pton(AF_INET6, v6, a) != 1)
			return false;
		static const unsigned char loop[16] = {[15] = 1};
		static const unsigned char eks[16] = {0xfd, 0x00, 0x0e, 0xc2, [15] = 0x23};
		return memcmp(a, loop, 16) == 0 || memcmp(a, eks, 16) == 0;
	}
	return cp_streq_icase(host, "localhost");
}

/* Parses url with libcurl's parser (the one that will connect) and checks
 * it. what names the source in messages. 0 or CP_ECONFIG/CP_EINTERNAL. */
static int s_check_url(const char *url, const char *what, bool relative, cp_error *err)
{
	char shown[301]; /* the URL as messages quote it: no userinfo, cut */
	cp_strip_userinfo(shown, sizeof shown, url);
	CURLU *u = curl_url();
	char *scheme = NULL, *host = NULL, *user = NULL, *zone = NULL;
	int r = 0;
	if (!u)
		return cp_error_set(err, CP_EINTERNAL, "out of memory");
	CURLUcode rc = curl_url_set(u, CURLUPART_URL, url, 0);
	if (rc == CURLUE_OK && curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK)
		rc = CURLUE_BAD_SCHEME;
	if (rc == CURLUE_OK && curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK)
		rc = CURLUE_NO_HOST;
	if (rc != CURLUE_OK) {
		if (rc == CURLUE_OUT_OF_MEMORY)
			r = cp_error_set(err, CP_EINTERNAL, "out of memory");
		else if (rc == CURLUE_BAD_SCHEME || rc == CURLUE_NO_HOST ||
			 rc == CURLUE_MALFORMED_INPUT || !strstr(url, "://"))
			r = cp_error_set(err, CP_ECONFIG,
					 "%s '%s' is invalid: URI did not specify a host", what,
					 shown);
		else
			r = cp_error_set(err, CP_ECONFIG, "%s '%s' is invalid: %s", what, shown,
					 curl_url_strerror(rc));
		goto out;
	}
	if (curl_url_get(u, CURLUPART_USER, &user, 0) == CURLUE_OK && user) {
		r = cp_error_set(err, CP_ECONFIG,
				 "%s '%s' is invalid: user information in the authority is not "
				 "supported", what, shown);
		goto out;
	}
	bool https = strcmp(scheme, "https") == 0;
	if (!https && strcmp(scheme, "http") != 0) {
		r = cp_error_set(err, CP_ECONFIG, "%s '%s' is invalid: scheme must be http or https",
				 what, shown);
		goto out;
	}
	if (relative) {
		/* Defence in depth: the path must not have moved the authority. */
		if (https || strcmp(host, CP_ECS_HOST) != 0)
			r = cp_error_set(err, CP_ECONFIG, "%s '%s' is invalid", what, shown);
		goto out;
	}
	if (https)
		goto out;
	bool has_zone = curl_url_get(u, CURLUPART_ZONEID, &zone, 0) == CURLUE_OK && zone;
	if (has_zone || !s_allowed_http_host(host))
		r = cp_error_set(err, CP_ECONFIG,
				 "%s '%s': '%.100s%s' is not an allowed host (plain HTTP is allowed "
				 "only to loopback, 169.254.170.2, 169.254.170.23 or [fd00:ec2::23]; "
				 "use HTTPS)", what, shown, host, has_zone ? " with a zone id" : "");
out:
	curl_free(scheme);
	curl_free(host);
	curl_free(user);
	curl_free(zone);
	curl_url_cleanup(u);
	return r;
}

int cp_ecs_resolve_uri(const cp_ecs_options *o, char **ret_url, cp_error *err)
{
	const char *rel = o ? o->relative_uri : NULL;
	const char *full = o ? o->full_uri : NULL;
	char *url = NULL;
	int r;
	if (s_set(rel)) {
		if (strlen(rel) > S_MAX_URI || rel[0] != '/' || !s_clean_uri(rel))
			return cp_error_set(err, CP_ECONFIG,
					    S_ENV_RELATIVE " '%.300s' is invalid: it must be a path "
					    "starting with '/', without spaces or control characters", rel);
		url = cp_asprintf("%s%s", S_BASE, rel);
		if (!url)
			return cp_error_set(err, CP_EINTERNAL, "out of memory");
		r = s_check_url(url, S_ENV_RELATIVE, true, err);
	} else if (s_set(full)) {
		if (strlen(full) > S_MAX_URI || !s_clean_uri(full))
			return cp_error_set(err, CP_ECONFIG,
					    S_ENV_FULL " is invalid: it is longer than %d bytes or holds "
					    "spaces or control characters", S_MAX_URI);
		r = s_check_url(full, S_ENV_FULL, false, err);
		if (r == 0 && !(url = cp_strdup(full)))
			r = cp_error_set(err, CP_EINTERNAL, "out of memory");
	} else {
		/* Not in a container: the source is unavailable (DESIGN's exit 3). */
		return cp_error_set(err, CP_ESOURCE,
				    "no environment variables were set to configure ECS provider "
				    "(credential_source = EcsContainer needs " S_ENV_RELATIVE " or "
				    S_ENV_FULL ")");
	}
	if (r) {
		free(url);
		return r;
	}
	*ret_url = url;
	return 0;
}

/* Trims trailing CR/LF and checks that what remains can be a header value:
 * no control character but tab, no DEL (so no header injection). */
static bool s_valid_token(char *t, size_t *len)
{
	size_t n = *len;
	while (n > 0 && (t[n - 1] == '\n' || t[n - 1] == '\r'))
		t[--n] = '\0';
	*len = n;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)t[i];
		if ((c < 0x20 && c != '\t') || c == 0x7f)
			return false;
	}
	return true;
}

/* The Authorization value for this call, or NULL for none. Heap secret. */
static int s_auth_token(const cp_ecs_options *o, char **ret, cp_error *err)
{
	*ret = NULL;
	if (s_set(o->auth_token_file)) {
		const char *path = o->auth_token_file;
		char *data = NULL;
		size_t len = 0;
		int e = cp_read_file(path, S_MAX_TOKEN, &data, &len) < 0 ? errno : 0;
		if (e == EFBIG)
			return cp_error_set(err, CP_ECONFIG,
					    "authorization token file '%.300s' is larger than %d KiB",
					    path, S_MAX_TOKEN / 1024);
		if (e) {
			char why[128];
			snprintf(why, sizeof why, "%s", cp_read_file_strerror(e));
			if (why[0] >= 'A' && why[0] <= 'Z')
				why[0] = (char)(why[0] - 'A' + 'a');
			return cp_error_set(err, CP_ESOURCE,
					    "failed to read authorization token from '%.300s': %s", path,
					    why);
		}
		size_t n = len;
		bool ok = strlen(data) == len && s_valid_token(data, &n);
		if (!ok || n == 0) {
			cp_freezero(data, len);
			return cp_error_set(err, CP_ECONFIG,
					    "invalid authorization token in '%.300s' (%s)", path,
					    ok ? "the file is empty"
					       : "it contains a line break or control character");
		}
		*ret = data; /* len >= strlen: cp_free_secret wipes the rest as NULs */
		return 0;
	}
	if (s_set(o->auth_token)) {
		char *t = cp_strdup(o->auth_token);
		if (!t)
			return cp_error_set(err, CP_EINTERNAL, "out of memory");
		size_t n = strlen(t);
		if (n > S_MAX_TOKEN || !s_valid_token(t, &n) || n == 0) {
			cp_free_secret(t);
			return cp_error_set(err, CP_ECONFIG,
					    "invalid authorization token in " S_ENV_TOKEN
					    " (it is empty, too long, or contains a line break or control "
					    "character)");
		}
		*ret = t;
	}
	return 0;
}

/* The endpoint as messages name it: everything before the query, without
 * userinfo. The query of a custom FULL_URI may carry a credential, so it is
 * left out. */
static void s_display(const char *url, char *out, size_t outlen)
{
	cp_strip_userinfo(out, outlen, url); /* nor its userinfo */
	size_t n = strcspn(out, "?#");
	if (n > 300)
		n = 300;
	out[n] = '\0';
}

static const char *s_reason(long st)
{
	switch (st) {
	case 301: return "Moved Permanently";
	case 302: return "Found";
	case 307: return "Temporary Redirect";
	case 308: return "Permanent Redirect";
	case 400: return "Bad Request";
	case 401: return "Unauthorized";
	case 403: return "Forbidden";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 408: return "Request Timeout";
	case 429: return "Too Many Requests";
	case 500: return "Internal Server Error";
	case 502: return "Bad Gateway";
	case 503: return "Service Unavailable";
	case 504: return "Gateway Timeout";
	default: return NULL;
	}
}

/* s as server text may be quoted (cp_safe_text: no control character, cut
 * to outlen); "" if it would quote the token. */
static void s_sanitize(const char *s, const char *token, char *out, size_t outlen)
{
	out[0] = '\0';
	if (!s || (token && token[0] && strstr(s, token)))
		return;
	cp_safe_text(out, outlen, s, strlen(s));
}

/* Code and message of a JSON error body (keys matched case-insensitively).
 * sso.c has one of the same frame for its own keys (__type, error,
 * error_description) and secrets: the frame is shared, the rules are not. */
static void s_error_body(const cp_buf *body, const char *token, char *code, size_t codelen,
			 char *msg, size_t msglen)
{
	code[0] = msg[0] = '\0';
	if (!body->data || body->len == 0)
		return;
	cJSON *j = cJSON_ParseWithLength(body->data, body->len);
	if (!j)
		return;
	if (cJSON_IsObject(j)) {
		const cJSON *c = cJSON_GetObjectItem(j, "code");
		const cJSON *m = cJSON_GetObjectItem(j, "message");
		if (cJSON_IsString(c))
			s_sanitize(c->valuestring, token, code, codelen);
		if (cJSON_IsString(m))
			s_sanitize(m->valuestring, token, msg, msglen);
	}
	cp_json_free_secret(j);
}

/* Returns 0 when a 200 arrived, else CP_ESOURCE/CP_EINTERNAL with err set. */
static int s_fetch(const cp_ecs_options *o, const char *url, const char *shown,
		   const char *token, cp_http_response *resp, cp_error *err)
{
	long timeout_ms = o->timeout_ms > 0 ? o->timeout_ms : S_DEFAULT_TIMEOUT_MS;
	cp_header h[2];
	size_t nh = 0;
	h[nh++] = (cp_header){"Accept", "application/json"};
	if (token)
		h[nh++] = (cp_header){"Authorization", token};
	cp_http_request req = {
		.method = "GET",
		.url = url,
		.headers = h,
		.nheaders = nh,
		.no_proxy = true,
		.connect_timeout_ms = timeout_ms,
		.timeout_ms = timeout_ms,
		.max_response = S_MAX_REPLY,
	};
	char what[400];
	snprintf(what, sizeof what, "container credentials %s", shown);
	cp_http_retry rp = {
		.attempts = o->attempts,
		.deadline_ms = o->deadline_ms,
		.clock = o->clock,
		.retry_429 = true,
		.what = what,
	};
	cp_http_failure f = CP_HTTP_OK;
	int r = cp_http_send_retry(&rp, &req, resp, &f, err);
	if (r != 0) {
		if (r == CP_ETRANSPORT) {
			if (cp_http_unreachable(f))
				cp_error_prefix(err, "container credentials endpoint '%s' is unreachable",
						shown);
			else
				cp_error_prefix(err, "container credentials endpoint '%s'", shown);
			if (err)
				err->status = CP_ESOURCE;
			r = CP_ESOURCE;
		}
		return r;
	}
	long st = resp->status;
	if (st == 200)
		return 0;
	char code[96], msg[256];
	s_error_body(&resp->body, token, code, sizeof code, msg, sizeof msg);
	cp_http_response_free(resp);
	const char *reason = s_reason(st);
	r = cp_error_set_cause(err, CP_ESOURCE,
			       st == 429 ? CP_CAUSE_THROTTLED : st >= 500 ? CP_CAUSE_SERVER : CP_CAUSE_REFUSED,
			 "container credentials endpoint '%s' answered %ld%s%s%s%s%s%s", shown, st,
			 reason ? " " : "", reason ? reason : "", code[0] ? ": " : "", code,
			 msg[0] ? (code[0] ? " - " : ": ") : "", msg);
	if (err) {
		err->remote.http_status = st;
		snprintf(err->remote.code, sizeof err->remote.code, "%s", code);
	}
	return r;
}

/* A 200 reply carrying {"Code": not "Success", ...}: the endpoint's error. */
static int s_check_code(const cp_buf *body, const char *shown, const char *token, cp_error *err)
{
	cJSON *j = cJSON_ParseWithLength(body->data, body->len);
	int r = 0;
	if (!j)
		return 0; /* the parser will say it is not JSON */
	const cJSON *c = cJSON_GetObjectItemCaseSensitive(j, "Code");
	if (cJSON_IsObject(j) && c && !(cJSON_IsString(c) && strcmp(c->valuestring, "Success") == 0)) {
		char code[96] = "", msg[256] = "";
		const cJSON *m = cJSON_GetObjectItem(j, "message");
		s_sanitize(cJSON_IsString(c) ? c->valuestring : "(not a string)", token, code,
			   sizeof code);
		if (cJSON_IsString(m))
			s_sanitize(m->valuestring, token, msg, sizeof msg);
		r = cp_error_set_cause(err, CP_ESOURCE, CP_CAUSE_REFUSED,
				 "container credentials endpoint '%s' returned Code '%s'%s%s", shown,
				 code, msg[0] ? ": " : "", msg);
		if (err)
			snprintf(err->remote.code, sizeof err->remote.code, "%s", code);
	}
	cp_json_free_secret(j);
	return r;
}

int cp_ecs_get_credentials(const cp_ecs_options *o, cp_creds *ret, cp_error *err)
{
	cp_ecs_options none = {0};
	if (!o)
		o = &none;
	char *url = NULL, *token = NULL;
	cp_http_response resp = {0};
	char shown[320];
	int r;
	if ((r = cp_ecs_resolve_uri(o, &url, err)) != 0)
		return r;
	s_display(url, shown, sizeof shown);
	if ((r = s_auth_token(o, &token, err)) != 0)
		goto out;
	cp_debug("container credentials: GET %s (%s)", shown,
		 token ? "with an Authorization header" : "no Authorization header");
	if ((r = s_fetch(o, url, shown, token, &resp, err)) != 0)
		goto out;
	if ((r = s_check_code(&resp.body, shown, token, err)) != 0)
		goto out;
	r = cp_imds_parse_credentials(resp.body.data, resp.body.len, ret, err);
	if (r == CP_ESOURCE)
		cp_error_prefix(err, "container credentials endpoint '%s'", shown);
out:
	cp_http_response_free(&resp);
	cp_free_secret(token);
	free(url);
	return r;
}
