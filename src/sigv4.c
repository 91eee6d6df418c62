/* sigv4.c - AWS Signature Version 4, Authorization-header mode.
 *
 * Follows the AWS "Signature Version 4 signing process": canonical request,
 * string to sign, derived signing key, signature. Checked against the
 * aws-c-auth and botocore suites (conformance/sigv4/, tests/test-sigv4.c).
 *
 * Every buffer that holds the secret key, a derived key, an HMAC state or
 * the session token is wiped before it is freed or goes out of scope.
 * Nothing here prints.
 */
#include "sigv4.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/params.h>

#define S_ALGORITHM "AWS4-HMAC-SHA256"
#define S_MAX_HEADERS 256
#define S_MAX_HEADER_NAME 256
#define S_MAX_HEADER_VALUE (64 * 1024)
#define S_MAX_URI (64 * 1024)
#define S_MAX_METHOD 32
#define S_MAX_SCOPE_PART 64          /* region, service */
#define S_MAX_ACCESS_KEY 256
#define S_MAX_SECRET 4096
#define S_MAX_TOKEN S_MAX_HEADER_VALUE

/* Request headers that are never signed: proxies and HTTP stacks change
 * them (the same list aws-c-auth and botocore skip). */
static const char *const s_skipped_headers[] = {
	"user-agent", "x-amzn-trace-id", "expect", "connection", "upgrade",
	"sec-websocket-key", "sec-websocket-protocol", "sec-websocket-version",
};

typedef struct s_hdr {
	char *name;    /* lowercase */
	char *value;   /* trimmed, whitespace runs collapsed; may hold the token */
	size_t order;  /* position in the request, for a stable sort */
} s_hdr;

typedef struct s_qparam {
	char *key;     /* URI-encoded */
	char *value;   /* URI-encoded */
} s_qparam;

/* ---- small helpers ---------------------------------------------------- */

static void s_hex(char *out, const unsigned char *in, size_t n)
{
	static const char digits[] = "0123456789abcdef";
	for (size_t i = 0; i < n; i++) {
		out[2 * i] = digits[in[i] >> 4];
		out[2 * i + 1] = digits[in[i] & 0x0f];
	}
	out[2 * n] = '\0';
}

static int s_sha256_hex(const void *data, size_t len, char out[65])
{
	unsigned char md[32];
	unsigned int mdlen = 0;
	if (!EVP_Digest(data ? data : "", len, md, &mdlen, EVP_sha256(), NULL) || mdlen != sizeof md)
		return CP_EINTERNAL;
	s_hex(out, md, sizeof md);
	return 0;
}

/* out = HMAC-SHA256(key, data), through a reusable EVP_MAC context. */
static int s_hmac(EVP_MAC_CTX *ctx, const unsigned char *key, size_t keylen,
		  const void *data, size_t len, unsigned char out[32])
{
	char digest[] = "SHA256";
	OSSL_PARAM params[] = {
		OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest, 0),
		OSSL_PARAM_construct_end(),
	};
	size_t outlen = 0;
	if (!EVP_MAC_init(ctx, key, keylen, params) ||
	    !EVP_MAC_update(ctx, data, len) ||
	    !EVP_MAC_final(ctx, out, &outlen, 32) || outlen != 32)
		return CP_EINTERNAL;
	return 0;
}

static bool s_is_unreserved(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
	       c == '-' || c == '.' || c == '_' || c == '~';
}

/* RFC 7230 tchar. */
static bool s_is_tchar(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
	       (c != '\0' && strchr("!#$%&'*+-.^_`|~", c) != NULL);
}

/* Region and service: letters, digits, '-', '_' and '.'. */
static bool s_is_scope_char(unsigned char c)
{
	return s_is_unreserved(c) && c != '~';
}

/* Visible ASCII without the characters that would break the Credential
 * field of the Authorization header. */
static bool s_is_access_key_char(unsigned char c)
{
	return c > 0x20 && c < 0x7f && c != '/' && c != ',' && c != ';' && c != '=';
}

/* A session token travels in a header: visible ASCII only. */
static bool s_is_visible(unsigned char c)
{
	return c > 0x20 && c < 0x7f;
}

/* s is 1 to max characters, each one that ok accepts. */
static bool s_valid(const char *s, size_t max, bool (*ok)(unsigned char c))
{
	size_t n = 0;
	if (!s)
		return false;
	for (; s[n]; n++)
		if (n >= max || !ok((unsigned char)s[n]))
			return false;
	return n > 0;
}

/* A header value may contain HTAB and obsolete line folding (CR LF or LF
 * followed by SP/HTAB, as multi-line values are joined); any other control
 * character, or a line break that would start a new header, is refused. */
static bool s_valid_header_value(const char *v)
{
	size_t n = 0;
	for (; v[n]; n++) {
		unsigned char c = (unsigned char)v[n];
		if (n >= S_MAX_HEADER_VALUE)
			return false;
		if (c == '\r') {
			if (v[n + 1] != '\n')
				return false;
		} else if (c == '\n') {
			if (v[n + 1] != ' ' && v[n + 1] != '\t')
				return false;
		} else if ((c < 0x20 && c != '\t') || c == 0x7f) {
			return false;
		}
	}
	return true;
}

static bool s_is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* Trims and collapses every run of whitespace (folded lines included) to
 * one space, as the SigV4 "Trimall" step asks. */
static char *s_normalize_value(const char *v)
{
	size_t n = strlen(v);
	char *out = malloc(n + 1);
	if (!out)
		return NULL;
	size_t o = 0;
	bool pending = false;
	for (size_t i = 0; i < n; i++) {
		if (s_is_space(v[i])) {
			pending = o > 0;
			continue;
		}
		if (pending)
			out[o++] = ' ';
		pending = false;
		out[o++] = v[i];
	}
	out[o] = '\0';
	return out;
}

static char *s_lowercase_dup(const char *s)
{
	char *d = cp_strdup(s);
	if (!d)
		return NULL;
	for (char *p = d; *p; p++)
		if (*p >= 'A' && *p <= 'Z')
			*p = (char)(*p - 'A' + 'a');
	return d;
}

/* Appends the RFC 3986 encoding of s[0..n): unreserved bytes as is, '/'
 * too when keep_slash, everything else as %XX (uppercase). */
static int s_uri_encode(cp_buf *b, const char *s, size_t n, bool keep_slash)
{
	static const char digits[] = "0123456789ABCDEF";
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		int r;
		if (s_is_unreserved(c) || (keep_slash && c == '/')) {
			r = cp_buf_putc(b, (char)c);
		} else {
			char esc[3] = {'%', digits[c >> 4], digits[c & 0x0f]};
			r = cp_buf_append(b, esc, sizeof esc);
		}
		if (r)
			return r;
	}
	return 0;
}

static int s_hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Form-decodes s[0..n) ("%XX" and '+' as space; a stray '%' stays), then
 * re-encodes it into a new string. */
static char *s_query_component(const char *s, size_t n)
{
	cp_buf raw = {0}, enc = {0};
	char *ret = NULL;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		if (c == '%' && i + 2 < n && s_hexval(s[i + 1]) >= 0 && s_hexval(s[i + 2]) >= 0) {
			c = (char)(s_hexval(s[i + 1]) * 16 + s_hexval(s[i + 2]));
			i += 2;
		} else if (c == '+') {
			c = ' ';
		}
		if (cp_buf_putc(&raw, c))
			goto out;
	}
	if (s_uri_encode(&enc, raw.data ? raw.data : "", raw.len, false) || cp_buf_append(&enc, "", 0))
		goto out;
	ret = cp_buf_steal(&enc);
out:
	cp_buf_free(&raw);
	cp_buf_free(&enc);
	return ret;
}

/* ---- canonical URI ---------------------------------------------------- */

/* Removes "." and ".." segments and empty segments (duplicate slashes).
 * The result starts with '/' and keeps a trailing '/' of a non-root path. */
static int s_normalize_path(cp_buf *out, const char *path, size_t n)
{
	size_t i = 0;
	while (i < n) {
		while (i < n && path[i] == '/')
			i++;
		size_t start = i;
		while (i < n && path[i] != '/')
			i++;
		size_t len = i - start;
		if (len == 0 || (len == 1 && path[start] == '.'))
			continue;
		if (len == 2 && path[start] == '.' && path[start + 1] == '.') {
			while (out->len > 0 && out->data[out->len - 1] != '/')
				out->len--;
			if (out->len > 0)
				out->len--;          /* the '/' before the dropped segment */
			if (out->data)
				out->data[out->len] = '\0';
			continue;
		}
		if (cp_buf_putc(out, '/') || cp_buf_append(out, path + start, len))
			return CP_EINTERNAL;
	}
	if (out->len == 0)
		return cp_buf_putc(out, '/');
	if (n > 0 && path[n - 1] == '/')
		return cp_buf_putc(out, '/');
	return 0;
}

static int s_canonical_uri(cp_buf *creq, const char *path, size_t n, bool normalize)
{
	int r;
	if (n == 0)
		return cp_buf_putc(creq, '/');
	if (!normalize)
		return s_uri_encode(creq, path, n, true);
	cp_buf norm = {0};
	r = s_normalize_path(&norm, path, n);
	if (!r)
		r = s_uri_encode(creq, norm.data, norm.len, true);
	cp_buf_free(&norm);
	return r;
}

/* ---- canonical query string ------------------------------------------- */

static int s_qparam_cmp(const void *a, const void *b)
{
	const s_qparam *x = a, *y = b;
	int c = strcmp(x->key, y->key);
	return c ? c : strcmp(x->value, y->value);
}

static int s_canonical_query(cp_buf *creq, const char *q, size_t n)
{
	size_t count = 0, cap = 1;
	for (size_t i = 0; i < n; i++)
		if (q[i] == '&')
			cap++;
	s_qparam *params = calloc(cap, sizeof *params);
	int r = CP_EINTERNAL;
	if (!params)
		return CP_EINTERNAL;
	size_t i = 0;
	while (i <= n && count < cap) {
		size_t start = i;
		while (i < n && q[i] != '&')
			i++;
		size_t len = i - start;
		i++;                                 /* past the '&' (or the end) */
		if (len == 0)
			continue;
		const char *eq = memchr(q + start, '=', len);
		size_t klen = eq ? (size_t)(eq - (q + start)) : len;
		s_qparam *qp = &params[count++];
		qp->key = s_query_component(q + start, klen);
		qp->value = eq ? s_query_component(eq + 1, len - klen - 1) : cp_strdup("");
		if (!qp->key || !qp->value)
			goto out;
	}
	qsort(params, count, sizeof *params, s_qparam_cmp);
	for (size_t k = 0; k < count; k++) {
		if ((k && cp_buf_putc(creq, '&')) || cp_buf_puts(creq, params[k].key) ||
		    cp_buf_putc(creq, '=') || cp_buf_puts(creq, params[k].value))
			goto out;
	}
	r = 0;
out:
	for (size_t k = 0; k < count; k++) {
		cp_free_secret(params[k].key);
		cp_free_secret(params[k].value);
	}
	free(params);
	return r;
}

/* ---- canonical headers ------------------------------------------------ */

static int s_hdr_cmp(const void *a, const void *b)
{
	const s_hdr *x = a, *y = b;
	int c = strcmp(x->name, y->name);
	if (c)
		return c;
	return x->order < y->order ? -1 : x->order > y->order;
}

static bool s_is_skipped(const char *lname)
{
	for (size_t i = 0; i < sizeof s_skipped_headers / sizeof s_skipped_headers[0]; i++)
		if (strcmp(lname, s_skipped_headers[i]) == 0)
			return true;
	return false;
}

static int s_hdr_push(s_hdr *h, size_t *n, const char *lname, const char *value)
{
	h[*n].name = cp_strdup(lname);
	h[*n].value = s_normalize_value(value);
	h[*n].order = *n;
	(*n)++;
	return h[*n - 1].name && h[*n - 1].value ? 0 : CP_EINTERNAL;
}

static void s_hdrs_free(s_hdr *h, size_t n)
{
	if (!h)
		return;
	for (size_t i = 0; i < n; i++) {
		free(h[i].name);
		cp_free_secret(h[i].value);
	}
	free(h);
}

/* Appends "name:v1,v2\n" per distinct name (sorted) to creq and
 * "name;name" to signed. */
static int s_canonical_headers(cp_buf *creq, cp_buf *signed_hdrs, s_hdr *h, size_t n)
{
	qsort(h, n, sizeof *h, s_hdr_cmp);
	for (size_t i = 0; i < n; i++) {
		bool first = i == 0 || strcmp(h[i].name, h[i - 1].name) != 0;
		bool last = i + 1 == n || strcmp(h[i].name, h[i + 1].name) != 0;
		if (first) {
			if ((signed_hdrs->len && cp_buf_putc(signed_hdrs, ';')) ||
			    cp_buf_puts(signed_hdrs, h[i].name) ||
			    cp_buf_puts(creq, h[i].name) || cp_buf_putc(creq, ':'))
				return CP_EINTERNAL;
		} else if (cp_buf_putc(creq, ',')) {
			return CP_EINTERNAL;
		}
		if (cp_buf_puts(creq, h[i].value) || (last && cp_buf_putc(creq, '\n')))
			return CP_EINTERNAL;
	}
	return 0;
}

/* ---- dates ------------------------------------------------------------ */

static bool s_valid_amz_date(const char *v)
{
	/* YYYYMMDD 'T' HHMMSS 'Z' */
	if (strlen(v) != 16 || v[8] != 'T' || v[15] != 'Z')
		return false;
	for (int i = 0; i < 15; i++)
		if (i != 8 && (v[i] < '0' || v[i] > '9'))
			return false;
	return true;
}

static int s_format_amz_date(int64_t t, char out[17])
{
	time_t tt = (time_t)t;
	struct tm tm;
	if ((int64_t)tt != t || !gmtime_r(&tt, &tm) || tm.tm_year + 1900 > 9999)
		return CP_EINTERNAL;
	if (tm.tm_year + 1900 < 1000 || strftime(out, 17, "%Y%m%dT%H%M%SZ", &tm) != 16)
		return CP_EINTERNAL;
	return 0;
}

/* ---- signing key and signature ---------------------------------------- */

static int s_signature(const cp_sigv4_params *p, const char *date8, const char *sts,
		       char out[65])
{
	unsigned char k1[32], k2[32], sig[32];
	cp_buf secret = {0};
	int r = CP_EINTERNAL;
	EVP_MAC *mac = EVP_MAC_fetch(NULL, OSSL_MAC_NAME_HMAC, NULL);
	EVP_MAC_CTX *ctx = mac ? EVP_MAC_CTX_new(mac) : NULL;
	if (!ctx)
		goto out;
	if (cp_buf_puts(&secret, "AWS4") || cp_buf_puts(&secret, p->creds->secret_access_key))
		goto out;
	/* kDate, kRegion, kService, kSigning, then the signature. */
	if (s_hmac(ctx, (unsigned char *)secret.data, secret.len, date8, 8, k1) ||
	    s_hmac(ctx, k1, sizeof k1, p->region, strlen(p->region), k2) ||
	    s_hmac(ctx, k2, sizeof k2, p->service, strlen(p->service), k1) ||
	    s_hmac(ctx, k1, sizeof k1, "aws4_request", 12, k2) ||
	    s_hmac(ctx, k2, sizeof k2, sts, strlen(sts), sig))
		goto out;
	s_hex(out, sig, sizeof sig);
	r = 0;
out:
	OPENSSL_cleanse(k1, sizeof k1);
	OPENSSL_cleanse(k2, sizeof k2);
	OPENSSL_cleanse(sig, sizeof sig);
	cp_buf_free(&secret);
	EVP_MAC_CTX_free(ctx);   /* the provider clears its key copy */
	EVP_MAC_free(mac);
	return r;
}

/* ---- public API ------------------------------------------------------- */

/* Checks the parameters that come from configuration or the network. */
static int s_check_params(const cp_sigv4_params *p, cp_error *err)
{
	if (!p->method || !s_valid(p->method, S_MAX_METHOD, s_is_tchar))
		return cp_error_set(err, CP_EINTERNAL, "sigv4: invalid request method");
	if (!p->uri || strlen(p->uri) > S_MAX_URI)
		return cp_error_set(err, CP_EINTERNAL, "sigv4: missing or oversized request target");
	if (p->uri[0] != '\0' && p->uri[0] != '/' && p->uri[0] != '?')
		return cp_error_set(err, CP_EINTERNAL, "sigv4: request target must be a path");
	if (p->nheaders > S_MAX_HEADERS || (p->nheaders && !p->headers))
		return cp_error_set(err, CP_EINTERNAL, "sigv4: too many request headers (%zu, limit %d)",
				    p->nheaders, S_MAX_HEADERS);
	if (p->body_len && !p->body)
		return cp_error_set(err, CP_EINTERNAL, "sigv4: body length without a body");
	if (!s_valid(p->region, S_MAX_SCOPE_PART, s_is_scope_char))
		return cp_error_set(err, CP_ECONFIG, "invalid signing region '%.64s'",
				    p->region ? p->region : "");
	if (!s_valid(p->service, S_MAX_SCOPE_PART, s_is_scope_char))
		return cp_error_set(err, CP_ECONFIG, "invalid signing service name '%.64s'",
				    p->service ? p->service : "");
	if (p->x509) {
		const cp_sigv4_x509 *x = p->x509;
		if (!x->algorithm || !s_valid(x->algorithm, S_MAX_SCOPE_PART, s_is_scope_char) ||
		    !x->serial || !s_valid(x->serial, S_MAX_ACCESS_KEY, s_is_access_key_char) || !x->sign)
			return cp_error_set(err, CP_EINTERNAL, "sigv4: incomplete X.509 signer");
		return 0;
	}
	if (!p->creds || !p->creds->access_key_id || !p->creds->secret_access_key)
		return cp_error_set(err, CP_EINTERNAL, "sigv4: no credentials to sign with");
	if (!s_valid(p->creds->access_key_id, S_MAX_ACCESS_KEY, s_is_access_key_char))
		return cp_error_set(err, CP_ECONFIG, "invalid access key id");
	size_t slen = strlen(p->creds->secret_access_key);
	if (slen == 0 || slen > S_MAX_SECRET)
		return cp_error_set(err, CP_ECONFIG, "invalid secret access key");
	if (p->creds->session_token && !s_valid(p->creds->session_token, S_MAX_TOKEN, s_is_visible))
		return cp_error_set(err, CP_ECONFIG, "invalid session token");
	return 0;
}

int cp_sigv4_sign(const cp_sigv4_params *p, cp_sigv4_result *ret, cp_error *err)
{
	cp_sigv4_result res = {0};
	cp_buf creq = {0}, signed_hdrs = {0}, sts = {0}, authz = {0};
	s_hdr *hdrs = NULL;
	size_t nh = 0;
	const char *have_date = NULL, *have_sha = NULL, *have_token = NULL;
	bool have_host = false;
	const char *token, *query;
	size_t plen, qlen;
	char creq_hash[65], date8[9];
	int r;

	if (!p || !ret)
		return cp_error_set(err, CP_EINTERNAL, "sigv4: missing argument");
	if ((r = s_check_params(p, err)) != 0)
		return r;
	token = p->x509 ? NULL : p->creds->session_token;

	hdrs = calloc(p->nheaders + 3, sizeof *hdrs);
	if (!hdrs) {
		r = cp_error_set(err, CP_EINTERNAL, "out of memory");
		goto out;
	}

	/* The request's own headers. */
	for (size_t i = 0; i < p->nheaders; i++) {
		const cp_header *h = &p->headers[i];
		if (!h->name || !h->value || !s_valid(h->name, S_MAX_HEADER_NAME, s_is_tchar)) {
			r = cp_error_set(err, CP_EINTERNAL, "sigv4: invalid header name");
			goto out;
		}
		if (!s_valid_header_value(h->value)) {
			r = cp_error_set(err, CP_EINTERNAL, "sigv4: invalid or oversized value of header '%.64s'",
					 h->name);
			goto out;
		}
		char *lname = s_lowercase_dup(h->name);
		if (!lname) {
			r = cp_error_set(err, CP_EINTERNAL, "out of memory");
			goto out;
		}
		const char **seen = NULL;
		if (strcmp(lname, "authorization") == 0) {
			r = cp_error_set(err, CP_EINTERNAL, "sigv4: request is already signed");
			free(lname);
			goto out;
		} else if (strcmp(lname, "x-amz-date") == 0) {
			seen = &have_date;
		} else if (strcmp(lname, "x-amz-content-sha256") == 0) {
			seen = &have_sha;
		} else if (strcmp(lname, "x-amz-security-token") == 0) {
			seen = &have_token;
		} else if (strcmp(lname, "host") == 0) {
			if (have_host) {
				r = cp_error_set(err, CP_EINTERNAL, "sigv4: duplicate 'Host' header");
				free(lname);
				goto out;
			}
			have_host = true;
		}
		if (seen) {
			if (*seen) {
				r = cp_error_set(err, CP_EINTERNAL, "sigv4: duplicate '%s' header", h->name);
				free(lname);
				goto out;
			}
			*seen = h->value;
		}
		if (s_is_skipped(lname)) {
			free(lname);
			continue;
		}
		r = s_hdr_push(hdrs, &nh, lname, h->value);
		free(lname);
		if (r) {
			r = cp_error_set(err, CP_EINTERNAL, "out of memory");
			goto out;
		}
	}
	if (!have_host) {
		r = cp_error_set(err, CP_EINTERNAL, "sigv4: request has no 'Host' header");
		goto out;
	}

	/* X-Amz-Date: the request's, else p->time. */
	if (have_date) {
		char *d = s_normalize_value(have_date);
		bool ok = d && s_valid_amz_date(d);
		if (ok)
			memcpy(res.amz_date, d, 17);
		free(d);
		if (!ok) {
			r = cp_error_set(err, CP_EINTERNAL, "sigv4: malformed X-Amz-Date header");
			goto out;
		}
	} else {
		if (s_format_amz_date(p->time, res.amz_date)) {
			r = cp_error_set(err, CP_EINTERNAL, "sigv4: signing time out of range");
			goto out;
		}
		if (s_hdr_push(hdrs, &nh, "x-amz-date", res.amz_date)) {
			r = cp_error_set(err, CP_EINTERNAL, "out of memory");
			goto out;
		}
	}

	/* Payload hash: a caller-supplied x-amz-content-sha256 (e.g.
	 * UNSIGNED-PAYLOAD) is the payload hash; else SHA-256 of the body. */
	if (have_sha) {
		char *v = s_normalize_value(have_sha);
		bool ok = v && strlen(v) > 0 && strlen(v) < sizeof res.content_sha256;
		if (ok)
			memcpy(res.content_sha256, v, strlen(v) + 1);
		free(v);
		if (!ok) {
			r = cp_error_set(err, CP_EINTERNAL, "sigv4: malformed x-amz-content-sha256 header");
			goto out;
		}
	} else {
		if (s_sha256_hex(p->body, p->body_len, res.content_sha256)) {
			r = cp_error_set(err, CP_EINTERNAL, "sigv4: SHA-256 failed");
			goto out;
		}
		if (p->sign_body_header &&
		    s_hdr_push(hdrs, &nh, "x-amz-content-sha256", res.content_sha256)) {
			r = cp_error_set(err, CP_EINTERNAL, "out of memory");
			goto out;
		}
	}

	/* Session token: signed unless omit_session_token. A token header the
	 * request already carries must be this token, and signed. */
	if (have_token && token) {
		char *v = s_normalize_value(have_token);
		bool same = v && strlen(v) == strlen(token) &&
			    CRYPTO_memcmp(v, token, strlen(token)) == 0;
		cp_free_secret(v);
		if (!same || p->omit_session_token) {
			r = cp_error_set(err, CP_EINTERNAL,
					 "sigv4: request carries a conflicting X-Amz-Security-Token header");
			goto out;
		}
	} else if (token) {
		if (!(res.session_token = cp_strdup(token))) {
			r = cp_error_set(err, CP_EINTERNAL, "out of memory");
			goto out;
		}
		if (!p->omit_session_token &&
		    s_hdr_push(hdrs, &nh, "x-amz-security-token", res.session_token)) {
			r = cp_error_set(err, CP_EINTERNAL, "out of memory");
			goto out;
		}
	}

	/* Canonical request. */
	plen = strcspn(p->uri, "?#");
	query = p->uri[plen] == '?' ? p->uri + plen + 1 : "";
	qlen = strcspn(query, "#");
	if (cp_buf_puts(&creq, p->method) || cp_buf_putc(&creq, '\n') ||
	    s_canonical_uri(&creq, p->uri, plen, p->normalize_path) || cp_buf_putc(&creq, '\n') ||
	    s_canonical_query(&creq, query, qlen) || cp_buf_putc(&creq, '\n') ||
	    s_canonical_headers(&creq, &signed_hdrs, hdrs, nh) || cp_buf_putc(&creq, '\n') ||
	    cp_buf_append(&creq, signed_hdrs.data, signed_hdrs.len) || cp_buf_putc(&creq, '\n') ||
	    cp_buf_puts(&creq, res.content_sha256)) {
		r = cp_error_set(err, CP_EINTERNAL, "out of memory");
		goto out;
	}

	/* String to sign. */
	memcpy(date8, res.amz_date, 8);
	date8[8] = '\0';
	if (s_sha256_hex(creq.data, creq.len, creq_hash)) {
		r = cp_error_set(err, CP_EINTERNAL, "sigv4: SHA-256 failed");
		goto out;
	}
	const char *alg = p->x509 ? p->x509->algorithm : S_ALGORITHM;
	if (cp_buf_printf(&sts, "%s\n%s\n%s/%s/%s/aws4_request\n%s", alg, res.amz_date,
			  date8, p->region, p->service, creq_hash)) {
		r = cp_error_set(err, CP_EINTERNAL, "out of memory");
		goto out;
	}

	if (p->x509) {
		/* The signer's signature, hex-encoded, in the Authorization value. */
		unsigned char *xsig = NULL;
		size_t xlen = 0;
		if ((r = p->x509->sign(p->x509->ctx, sts.data, sts.len, &xsig, &xlen, err)))
			goto out;
		cp_buf_printf(&authz, "%s Credential=%s/%s/%s/%s/aws4_request, SignedHeaders=%s, Signature=",
			      alg, p->x509->serial, date8, p->region, p->service, signed_hdrs.data);
		for (size_t i = 0; i < xlen; i++)
			cp_buf_printf(&authz, "%02x", xsig[i]);
		free(xsig);
		if (cp_buf_status(&authz)) {
			r = cp_error_set(err, CP_EINTERNAL, "out of memory");
			goto out;
		}
	} else {
		if (s_signature(p, date8, sts.data, res.signature)) {
			r = cp_error_set(err, CP_EINTERNAL, "sigv4: HMAC-SHA256 failed");
			goto out;
		}
		if (cp_buf_printf(&authz, "%s Credential=%s/%s/%s/%s/aws4_request, SignedHeaders=%s, Signature=%s",
				  S_ALGORITHM, p->creds->access_key_id, date8, p->region, p->service,
				  signed_hdrs.data, res.signature)) {
			r = cp_error_set(err, CP_EINTERNAL, "out of memory");
			goto out;
		}
	}
	res.canonical_request = cp_buf_steal(&creq);
	res.string_to_sign = cp_buf_steal(&sts);
	res.authorization = cp_buf_steal(&authz);

	/* Transfer, then point add[] into the caller's struct. */
	*ret = res;
	memset(&res, 0, sizeof res);
	if (!have_date)
		ret->add[ret->nadd++] = (cp_header){"X-Amz-Date", ret->amz_date};
	if (p->sign_body_header && !have_sha)
		ret->add[ret->nadd++] = (cp_header){"x-amz-content-sha256", ret->content_sha256};
	if (ret->session_token)
		ret->add[ret->nadd++] = (cp_header){"X-Amz-Security-Token", ret->session_token};
	ret->add[ret->nadd++] = (cp_header){"Authorization", ret->authorization};
	r = 0;
out:
	s_hdrs_free(hdrs, nh);
	cp_buf_free(&creq);
	cp_buf_free(&signed_hdrs);
	cp_buf_free(&sts);
	cp_buf_free(&authz);
	cp_sigv4_result_free(&res);
	return r;
}

void cp_sigv4_result_free(cp_sigv4_result *r)
{
	if (!r)
		return;
	cp_free_secret(r->canonical_request);   /* may hold the session token */
	cp_free_secret(r->string_to_sign);
	cp_free_secret(r->authorization);
	cp_free_secret(r->session_token);
	cp_wipe(r, sizeof *r);
}
