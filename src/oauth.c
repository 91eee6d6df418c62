/* oauth.c - what the token refreshes of the network side share (oauth.h). */
#include "oauth.h"

#include <stdio.h>
#include <string.h>

#include "json.h"

const char *cp_oauth_jstr(const cJSON *o, const char *k)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
	return cJSON_IsString(v) && v->valuestring[0] ? v->valuestring : NULL;
}

void cp_oauth_sanitize(const char *s, const char *const *secrets, size_t nsecrets, char *out,
		       size_t outlen)
{
	out[0] = '\0';
	if (!s)
		return;
	for (size_t i = 0; i < nsecrets; i++)
		if (secrets[i] && secrets[i][0] && strstr(s, secrets[i]))
			return;
	cp_safe_text(out, outlen, s, strlen(s));
}

void cp_oauth_error_body(const cp_buf *body, const char *const *secrets, size_t nsecrets,
			 char *code, size_t codelen, char *msg, size_t msglen)
{
	code[0] = msg[0] = '\0';
	if (!body->data || body->len == 0)
		return;
	cJSON *j = cJSON_ParseWithLength(body->data, body->len);
	if (!j)
		return;
	if (cJSON_IsObject(j)) {
		const char *c = cp_oauth_jstr(j, "__type");
		char tmp[128];
		if (c) {
			const char *h = strrchr(c, '#');
			snprintf(tmp, sizeof tmp, "%s", h ? h + 1 : c);
			tmp[strcspn(tmp, ":")] = '\0';
			c = tmp;
		}
		if (!c)
			c = cp_oauth_jstr(j, "code");
		if (!c)
			c = cp_oauth_jstr(j, "Code");
		if (!c)
			c = cp_oauth_jstr(j, "error");
		const char *m = cp_oauth_jstr(j, "message");
		if (!m)
			m = cp_oauth_jstr(j, "Message");
		if (!m)
			m = cp_oauth_jstr(j, "error_description");
		cp_oauth_sanitize(c, secrets, nsecrets, code, codelen);
		cp_oauth_sanitize(m, secrets, nsecrets, msg, msglen);
	}
	cp_json_free_secret(j);
}

int cp_oauth_parse_time(const char *s, int64_t *ret)
{
	char tmp[64];
	size_t n = s ? strlen(s) : 0;
	if (n < 19 || n >= sizeof tmp)
		return -1;
	memcpy(tmp, s, n + 1);
	if (n > 3 && strcmp(tmp + n - 3, "UTC") == 0) {
		tmp[n - 3] = 'Z';
		tmp[n - 2] = '\0';
	}
	return cp_parse_iso8601(tmp, ret);
}

bool cp_oauth_retryable_status(long st)
{
	return st == 429 || st >= 500;
}

cp_cause cp_oauth_status_cause(long st)
{
	return st == 429 ? CP_CAUSE_THROTTLED : st >= 500 ? CP_CAUSE_SERVER : CP_CAUSE_REFUSED;
}

int cp_oauth_send(const cp_oauth_send_opts *o, cp_http_request *req, const char *what,
		  cp_http_response *resp, cp_error *err)
{
	long timeout_ms = o->timeout_ms > 0 ? o->timeout_ms : CP_OAUTH_DEFAULT_TIMEOUT_MS;
	req->connect_timeout_ms = req->timeout_ms = timeout_ms;
	req->max_response = CP_OAUTH_MAX_REPLY;
	cp_http_retry rp = {
		.attempts = o->attempts,
		.deadline_ms = o->deadline_ms,
		.clock = o->clock,
		.retry_429 = true,
		.what = what,
	};
	int r = cp_http_send_retry(&rp, req, resp, NULL, err);
	if (r)
		cp_error_prefix(err, "%s", what);
	return r;
}
