/* identity.c - cache key lines and the identity of a web identity token. */
#include "identity.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "json.h"

int cp_key_line(cp_buf *b, const char *name, const char *value)
{
	cp_buf_printf(b, "%s=", name);
	for (const char *p = value ? value : ""; *p && !b->failed; p++) {
		if (*p == '\\' || *p == '\n' || *p == '\r')
			cp_buf_printf(b, "\\x%02x", (unsigned char)*p);
		else
			cp_buf_putc(b, *p);
	}
	cp_buf_putc(b, '\n');
	return cp_buf_status(b);
}

int cp_key_url_line(cp_buf *b, const char *name, const char *value)
{
	if (!value)
		return cp_key_line(b, name, NULL);
	size_t n = strlen(value) + 1;
	char *clean = malloc(n);
	if (!clean) {
		b->failed = true;
		return CP_EINTERNAL;
	}
	cp_strip_userinfo(clean, n, value);
	int r = cp_key_line(b, name, clean);
	cp_freezero(clean, n);
	return r;
}

static int s_b64url_value(char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '-')
		return 62;
	if (c == '_')
		return 63;
	return -1;
}

int cp_base64url_decode(const char *in, size_t len, char **ret, size_t *ret_len)
{
	while (len && in[len - 1] == '=')
		len--;
	if (len % 4 == 1) {
		errno = EINVAL;
		return -1;
	}
	char *out = malloc(len / 4 * 3 + 3);
	if (!out)
		return -1; /* errno ENOMEM */
	size_t n = 0;
	unsigned int acc = 0;
	int bits = 0;
	for (size_t i = 0; i < len; i++) {
		int v = s_b64url_value(in[i]);
		if (v < 0) {
			free(out);
			errno = EINVAL;
			return -1;
		}
		acc = (acc << 6) | (unsigned int)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			out[n++] = (char)((acc >> bits) & 0xff);
		}
	}
	out[n] = '\0';
	*ret = out;
	*ret_len = n;
	return 0;
}

/* The claim as key text: a string, or an array of strings joined by ','. */
static int s_claim(cp_buf *b, const char *line, const cJSON *v)
{
	if (cJSON_IsString(v))
		return cp_key_line(b, line, v->valuestring);
	cp_buf joined = {0};
	if (cJSON_IsArray(v)) {
		const cJSON *it;
		bool first = true;
		cJSON_ArrayForEach(it, v) {
			if (!cJSON_IsString(it))
				continue;
			if (!first)
				cp_buf_putc(&joined, ',');
			cp_buf_puts(&joined, it->valuestring);
			first = false;
		}
	}
	if (joined.failed)
		b->failed = true;
	else
		cp_key_line(b, line, joined.data);
	cp_buf_free(&joined);
	return cp_buf_status(b);
}

int cp_jwt_identity(const char *token, cp_buf *b)
{
	const char *dot1 = token ? strchr(token, '.') : NULL;
	const char *dot2 = dot1 ? strchr(dot1 + 1, '.') : NULL;
	char *payload = NULL;
	size_t len = 0;
	cJSON *j = NULL;
	int r;

	if (!dot2 || cp_base64url_decode(dot1 + 1, (size_t)(dot2 - dot1 - 1), &payload, &len) ||
	    !(j = cJSON_ParseWithLength(payload, len)) || !cJSON_IsObject(j)) {
		r = cp_buf_puts(b, "token-identity=(not a JWT)\n");
		goto out;
	}
	r = s_claim(b, "token-iss", cJSON_GetObjectItemCaseSensitive(j, "iss")) |
	    s_claim(b, "token-sub", cJSON_GetObjectItemCaseSensitive(j, "sub")) |
	    s_claim(b, "token-aud", cJSON_GetObjectItemCaseSensitive(j, "aud"));
out:
	cp_json_free_secret(j);
	if (payload)
		cp_freezero(payload, len + 1);
	return r ? CP_EINTERNAL : 0;
}
