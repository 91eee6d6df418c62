/* imds.c - EC2 instance metadata: IMDSv2 session token, IMDSv1 fallback,
 * instance-profile credentials and the instance's region.
 *
 * Wire format as the SDKs send it (smithy-rs recorded traffic):
 *   PUT /latest/api/token            X-aws-ec2-metadata-token-ttl-seconds: 21600
 *   GET /latest/meta-data/iam/security-credentials/        X-aws-ec2-metadata-token: T
 *   GET /latest/meta-data/iam/security-credentials/<role>  X-aws-ec2-metadata-token: T
 * Never through a proxy. The token and the credentials are wiped when freed.
 */
#include "imds.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "http.h"
#include "json.h"
#include "retry.h"

#define S_TOKEN_PATH "/latest/api/token"
#define S_CREDS_PATH "/latest/meta-data/iam/security-credentials/"
#define S_REGION_PATH "/latest/meta-data/placement/region"
#define S_TOKEN_TTL "21600"
#define S_DEFAULT_TIMEOUT_MS 1000L
#define S_MAX_REPLY (64 * 1024)

typedef struct s_imds {
	char base[512];       /* endpoint without trailing '/' */
	bool v1_disabled;
	long timeout_ms;
	int attempts;
	int64_t deadline_ms;  /* on clock->mono_ms; 0: none */
	const cp_clock *clock; /* NULL: the system's */
	char *token;          /* IMDSv2 session token (secret), NULL in v1 mode */
} s_imds;

static int s_init(s_imds *im, const cp_imds_options *o, cp_error *err)
{
	const char *ep = o && o->endpoint && o->endpoint[0] ? o->endpoint : CP_IMDS_DEFAULT_ENDPOINT;
	size_t n = strlen(ep);
	while (n > 0 && ep[n - 1] == '/')
		n--;
	if (n == 0 || n >= sizeof im->base) {
		char shown[201]; /* no userinfo, cut */
		cp_strip_userinfo(shown, sizeof shown, ep);
		return cp_error_set(err, CP_ECONFIG, "invalid EC2 instance metadata endpoint '%s'",
				    shown);
	}
	memset(im, 0, sizeof *im);
	memcpy(im->base, ep, n);
	im->base[n] = '\0';
	im->v1_disabled = o && o->v1_disabled;
	im->timeout_ms = o && o->timeout_ms > 0 ? o->timeout_ms : S_DEFAULT_TIMEOUT_MS;
	im->attempts = o ? o->attempts : 0;
	im->deadline_ms = o ? o->deadline_ms : 0;
	im->clock = o ? o->clock : NULL;
	return 0;
}

static void s_fini(s_imds *im)
{
	cp_free_secret(im->token);
	im->token = NULL;
}

/* One IMDS request with up to im->attempts tries on transport failures and
 * 5xx (a token PUT that times out is not retried: it means "fall back";
 * running out of time is a timeout, so a token PUT then falls back too).
 * Returns 0 with *resp set, or the cp_http_send status with *ret_failure. */
static int s_request(s_imds *im, const char *method, const char *path, bool with_token,
		     cp_http_response *resp, cp_http_failure *ret_failure, cp_error *err)
{
	char *url = cp_asprintf("%s%s", im->base, path);
	if (!url)
		return cp_error_set(err, CP_EINTERNAL, "out of memory");
	cp_header h[1];
	size_t nh = 0;
	bool is_token_put = strcmp(method, "PUT") == 0;
	if (is_token_put)
		h[nh++] = (cp_header){"X-aws-ec2-metadata-token-ttl-seconds", S_TOKEN_TTL};
	else if (with_token && im->token)
		h[nh++] = (cp_header){"X-aws-ec2-metadata-token", im->token};
	cp_http_request req = {
		.method = method,
		.url = url,
		.headers = h,
		.nheaders = nh,
		.no_proxy = true,
		.connect_timeout_ms = im->timeout_ms,
		.timeout_ms = im->timeout_ms,
		.max_response = S_MAX_REPLY,
		.trace_path = true, /* /latest/api/token, .../security-credentials/ROLE */
	};
	char what[160];
	snprintf(what, sizeof what, "IMDS %s %s", method, path);
	cp_http_retry rp = {
		.attempts = im->attempts,
		.deadline_ms = im->deadline_ms,
		.clock = im->clock,
		.timeout_is_final = is_token_put,
		.late_is_timeout = true,
		.what = what,
	};
	int r = cp_http_send_retry(&rp, &req, resp, ret_failure, err);
	free(url);
	return r;
}

/* Rewords a transport failure already in err as a source failure. */
static int s_transport_error(const s_imds *im, cp_http_failure f, cp_error *err)
{
	if (cp_http_unreachable(f))
		cp_error_prefix(err, "EC2 instance metadata service at '%s' is unreachable",
				im->base);
	else
		cp_error_prefix(err, "EC2 instance metadata service at '%s'", im->base);
	if (err)
		err->status = CP_ESOURCE;
	return CP_ESOURCE;
}

/* Gets an IMDSv2 token into im->token, or leaves it NULL for IMDSv1. */
static int s_get_token(s_imds *im, cp_error *err)
{
	cp_http_response resp = {0};
	cp_http_failure f = CP_HTTP_OK;
	cp_error e = {0};
	char why[160];
	cp_cause cause = CP_CAUSE_REFUSED; /* of a refused fallback */
	int r = s_request(im, "PUT", S_TOKEN_PATH, false, &resp, &f, &e);
	if (r != 0) {
		if (r == CP_ETRANSPORT && (f == CP_HTTP_FAIL_TIMEOUT || f == CP_HTTP_FAIL_RESET)) {
			snprintf(why, sizeof why, "the token request %s",
				 f == CP_HTTP_FAIL_TIMEOUT ? "timed out" : "was reset");
			cause = CP_CAUSE_NO_ANSWER;
			goto fallback;
		}
		if (err)
			*err = e;
		return r == CP_ETRANSPORT ? s_transport_error(im, f, err) : r;
	}
	if (resp.status == 200) {
		char *t = cp_trim(resp.body.data);
		if (t[0] == '\0' || strpbrk(t, "\r\n")) {
			cp_http_response_free(&resp);
			return cp_error_set_cause(err, CP_ESOURCE, CP_CAUSE_MALFORMED,
					    "EC2 instance metadata service at '%s' sent an invalid token",
					    im->base);
		}
		im->token = cp_strdup(t);
		cp_http_response_free(&resp);
		if (!im->token)
			return cp_error_set(err, CP_EINTERNAL, "out of memory");
		return 0;
	}
	if (resp.status == 400) {
		cp_http_response_free(&resp);
		return cp_error_set_cause(err, CP_ESOURCE, CP_CAUSE_REFUSED,
				    "EC2 instance metadata service at '%s' rejected the token request "
				    "(HTTP 400)", im->base);
	}
	snprintf(why, sizeof why, "the token request was answered HTTP %ld", resp.status);
	cp_http_response_free(&resp);
fallback:
	if (im->v1_disabled)
		return cp_error_set_cause(err, CP_ESOURCE, cause,
				    "IMDSv1 fallback disabled and no IMDSv2 token (%s at '%s')", why,
				    im->base);
	cp_debug("IMDS: %s; falling back to IMDSv1", why);
	return 0;
}

/* A session: the endpoint of o, and its IMDSv2 token when there is one
 * (s_fini() after a success). */
static int s_open(s_imds *im, const cp_imds_options *o, cp_error *err)
{
	int r = s_init(im, o, err);
	if (r == 0 && (r = s_get_token(im, err)) != 0)
		s_fini(im);
	return r;
}

/* GET path; 0 with a 200 reply in *resp. what names the item in messages.
 * Any other status is CP_ESOURCE with the status in *ret_status. */
static int s_get(s_imds *im, const char *path, const char *what, cp_http_response *resp,
		 long *ret_status, cp_error *err)
{
	cp_http_failure f = CP_HTTP_OK;
	*ret_status = 0;
	int r = s_request(im, "GET", path, true, resp, &f, err);
	if (r != 0)
		return r == CP_ETRANSPORT ? s_transport_error(im, f, err) : r;
	long st = *ret_status = resp->status;
	if (st == 200)
		return 0;
	cp_http_response_free(resp);
	cp_cause cause = st >= 500 ? CP_CAUSE_SERVER : CP_CAUSE_REFUSED;
	if (st == 401 && !im->token)
		r = cp_error_set_cause(err, CP_ESOURCE, cause,
				 "EC2 instance metadata service at '%s' requires IMDSv2 and no token "
				 "could be obtained (HTTP 401 for %s)", im->base, what);
	else if (st == 401)
		r = cp_error_set_cause(err, CP_ESOURCE, cause,
				 "EC2 instance metadata service at '%s' rejected the IMDSv2 token "
				 "(HTTP 401 for %s)", im->base, what);
	else
		r = cp_error_set_cause(err, CP_ESOURCE, cause,
				 "EC2 instance metadata service at '%s' answered HTTP %ld for %s",
				 im->base, st, what);
	if (err)
		err->remote.http_status = st;
	return r;
}

static bool s_valid_role_name(const char *s)
{
	if (!*s || strlen(s) > 128)
		return false;
	for (; *s; s++) {
		char c = *s;
		if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		      strchr("_+=,.@-", c)))
			return false;
	}
	return true;
}

int cp_imds_get_credentials(const cp_imds_options *o, cp_creds *ret, cp_error *err)
{
	s_imds im;
	cp_http_response resp = {0};
	char *path = NULL;
	int r;
	if ((r = s_open(&im, o, err)) != 0)
		return r;

	long st;
	r = s_get(&im, S_CREDS_PATH, "the role name", &resp, &st, err);
	if (r == CP_ESOURCE && st == 404) {
		r = cp_error_set_cause(err, CP_ESOURCE, CP_CAUSE_REFUSED,
				 "no IAM instance profile is attached (IMDS returned 404 for the "
				 "role name)");
		goto out;
	}
	if (r)
		goto out;
	/* First non-empty line. */
	char *role = NULL;
	for (char *line = resp.body.data, *next; line; line = next) {
		next = strchr(line, '\n');
		if (next)
			*next++ = '\0';
		line = cp_trim(line);
		if (*line) {
			role = line;
			break;
		}
	}
	if (!role) {
		r = cp_error_set_cause(err, CP_ESOURCE, CP_CAUSE_REFUSED,
				 "no IAM instance profile is attached (IMDS returned an empty role "
				 "name)");
		goto out;
	}
	if (!s_valid_role_name(role)) {
		r = cp_error_set_cause(err, CP_ESOURCE, CP_CAUSE_MALFORMED,
				 "EC2 instance metadata service at '%s' returned an invalid role name",
				 im.base);
		goto out;
	}
	path = cp_asprintf("%s%s", S_CREDS_PATH, role);
	char what[200];
	snprintf(what, sizeof what, "the credentials of role '%s'", role);
	cp_http_response_free(&resp);
	if (!path) {
		r = cp_error_set(err, CP_EINTERNAL, "out of memory");
		goto out;
	}
	if ((r = s_get(&im, path, what, &resp, &st, err)) != 0)
		goto out;
	r = cp_imds_parse_credentials(resp.body.data, resp.body.len, ret, err);
	if (r == CP_ESOURCE)
		cp_error_prefix(err, "EC2 instance metadata service at '%s'", im.base);
out:
	free(path);
	cp_http_response_free(&resp);
	s_fini(&im);
	return r;
}

int cp_imds_get_region(const cp_imds_options *o, char **ret_region, cp_error *err)
{
	s_imds im;
	cp_http_response resp = {0};
	int r;
	if ((r = s_open(&im, o, err)) != 0)
		return r;
	long st;
	if ((r = s_get(&im, S_REGION_PATH, "the region", &resp, &st, err)) != 0)
		goto out;
	char *region = cp_trim(resp.body.data);
	if (!region[0] || strlen(region) > 64 ||
	    strspn(region, "abcdefghijklmnopqrstuvwxyz0123456789-") != strlen(region)) {
		r = cp_error_set_cause(err, CP_ESOURCE, CP_CAUSE_MALFORMED,
				 "EC2 instance metadata service at '%s' returned an invalid region",
				 im.base);
		goto out;
	}
	char *copy = cp_strdup(region);
	if (!copy) {
		r = cp_error_set(err, CP_EINTERNAL, "out of memory");
		goto out;
	}
	*ret_region = copy;
	r = 0;
out:
	cp_http_response_free(&resp);
	s_fini(&im);
	return r;
}

static const char *s_json_str(const cJSON *obj, const char *name)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, name);
	return cJSON_IsString(v) && v->valuestring ? v->valuestring : NULL;
}

int cp_imds_parse_credentials(const char *json, size_t len, cp_creds *ret, cp_error *err)
{
	if (!json || len == 0)
		return cp_error_set_cause(err, CP_ESOURCE, CP_CAUSE_MALFORMED, "empty credentials document");
	if (len > S_MAX_REPLY)
		return cp_error_set_cause(err, CP_ESOURCE, CP_CAUSE_MALFORMED, "credentials document exceeds %d bytes",
				    S_MAX_REPLY);
	cJSON *j = cJSON_ParseWithLength(json, len);
	if (!j)
		return cp_error_set_cause(err, CP_ESOURCE, CP_CAUSE_MALFORMED, "credentials document is not valid JSON");
	int64_t expiration = 0;
	int r;
	if (!cJSON_IsObject(j)) {
		r = cp_error_set_cause(err, CP_ESOURCE, CP_CAUSE_MALFORMED, "credentials document is not a JSON object");
		goto out;
	}
	const cJSON *code = cJSON_GetObjectItemCaseSensitive(j, "Code");
	if (code && !(cJSON_IsString(code) && strcmp(code->valuestring, "Success") == 0)) {
		/* Server text: quoted cleaned and cut (cp_safe_text). */
		const char *cs = cJSON_IsString(code) ? code->valuestring : "(not a string)";
		const char *ms = s_json_str(j, "Message");
		char ctext[72], mtext[256];
		cp_safe_text(ctext, sizeof ctext, cs, strlen(cs));
		cp_safe_text(mtext, sizeof mtext, ms ? ms : "", ms ? strlen(ms) : 0);
		r = cp_error_set_cause(err, CP_ESOURCE, CP_CAUSE_REFUSED, "instance profile credentials unavailable: Code '%s'%s%s",
				 ctext, mtext[0] ? ": " : "", mtext);
		goto out;
	}
	const char *akid = s_json_str(j, "AccessKeyId");
	const char *secret = s_json_str(j, "SecretAccessKey");
	const char *token = s_json_str(j, "Token");
	const char *exp = s_json_str(j, "Expiration");
	const char *missing = !akid || !akid[0] ? "AccessKeyId"
			      : !secret || !secret[0] ? "SecretAccessKey"
			      : !token || !token[0] ? "Token"
			      : !exp ? "Expiration" : NULL;
	if (missing) {
		r = cp_error_set_cause(err, CP_ESOURCE, CP_CAUSE_MALFORMED, "credentials document lacks '%s'", missing);
		goto out;
	}
	if (cp_parse_iso8601(exp, &expiration) != 0 || expiration <= 0) {
		r = cp_error_set_cause(err, CP_ESOURCE, CP_CAUSE_MALFORMED, "credentials document has a malformed Expiration");
		goto out;
	}
	const char *account = s_json_str(j, "AccountId");
	if (!account || !account[0] || strspn(account, "0123456789") != strlen(account))
		account = NULL;
	if ((r = cp_creds_set(ret, akid, secret, token, expiration, account)))
		r = cp_error_set(err, r, "out of memory");
out:
	cp_json_free_secret(j);
	return r;
}
