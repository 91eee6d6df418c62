/* rolesanywhere.c - IAM Roles Anywhere: certificates, the X.509-signed
 * CreateSession request and its answer (see rolesanywhere.h). */
#include "rolesanywhere.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "http.h"
#include "json.h"
#include "keystore.h"
#include "oauth.h"

#define S_SERVICE "rolesanywhere"
#define S_ALG_RSA "AWS4-X509-RSA-SHA256"
#define S_ALG_EC "AWS4-X509-ECDSA-SHA256"

static const char *s_jstr(const cJSON *o, const char *k)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
	return cJSON_IsString(v) && v->valuestring[0] ? v->valuestring : NULL;
}

/* ---- certificates ------------------------------------------------------- */

static char *s_base64_der(X509 *x)
{
	unsigned char *der = NULL;
	int n = i2d_X509(x, &der);
	if (n <= 0)
		return NULL;
	char *out = malloc(((size_t)n + 2) / 3 * 4 + 1);
	if (out)
		EVP_EncodeBlock((unsigned char *)out, der, n);
	OPENSSL_free(der);
	return out;
}

/* Reads a certificate file: 0 and the data, or CP_ESOURCE naming it. */
static int s_read(const char *what, const char *path, char **data, size_t *len, cp_error *err)
{
	if (cp_read_file(path, CP_RA_MAX_CERT_FILE, data, len) < 0) {
		int e = errno;
		if (e == ENOMEM)
			return cp_error_set(err, CP_EINTERNAL, "out of memory");
		if (e == EFBIG)
			return cp_error_set(err, CP_ESOURCE, "the %s file '%s' is larger than %d KiB", what,
					    path, CP_RA_MAX_CERT_FILE / 1024);
		return cp_error_set(err, CP_ESOURCE, "cannot read the %s file '%s': %s", what, path,
				    cp_read_file_strerror(e));
	}
	return 0;
}

void cp_ra_certs_free(cp_ra_certs *c)
{
	if (!c)
		return;
	X509_free(c->leaf);
	free(c->leaf_b64);
	free(c->chain_b64);
	OPENSSL_free(c->serial);
	memset(c, 0, sizeof *c);
}

int cp_ra_certs_load(const char *certificate, const char *chain, cp_ra_certs *ret, cp_error *err)
{
	cp_ra_certs c = {0};
	char *data = NULL;
	size_t len = 0;
	BIO *bio = NULL;
	cp_buf cb = {0};
	int r;
	if (!certificate)
		return cp_error_set(err, CP_ECONFIG, "no certificate file");
	if ((r = s_read("certificate", certificate, &data, &len, err)))
		return r;
	/* PEM (the first CERTIFICATE block), else DER. */
	bio = BIO_new_mem_buf(data, (int)len);
	X509 *leaf = bio ? PEM_read_bio_X509(bio, NULL, NULL, NULL) : NULL;
	if (!leaf) {
		const unsigned char *p = (const unsigned char *)data;
		leaf = d2i_X509(NULL, &p, (long)len);
	}
	c.leaf = leaf;
	if (!leaf) {
		r = cp_error_set(err, CP_ECONFIG,
				 "'%s' holds no X.509 certificate (neither PEM nor DER)", certificate);
		goto out;
	}
	EVP_PKEY *pub = X509_get0_pubkey(leaf);
	int id = pub ? EVP_PKEY_get_base_id(pub) : 0;
	if (id == EVP_PKEY_RSA) {
		c.algorithm = S_ALG_RSA;
	} else if (id == EVP_PKEY_EC) {
		c.algorithm = S_ALG_EC;
	} else {
		r = cp_error_set(err, CP_ECONFIG,
				 "the certificate '%s' has a key that is neither RSA nor EC; Roles Anywhere "
				 "signs with those only", certificate);
		goto out;
	}
	BIGNUM *bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(leaf), NULL);
	c.serial = bn ? BN_bn2dec(bn) : NULL;
	BN_free(bn);
	if (!c.serial || !(c.leaf_b64 = s_base64_der(leaf))) {
		r = cp_error_set(err, CP_EINTERNAL, "out of memory");
		goto out;
	}
	if (chain) {
		BIO_free(bio);
		bio = NULL;
		free(data);
		data = NULL;
		if ((r = s_read("certificate chain", chain, &data, &len, err)))
			goto out;
		if (!(bio = BIO_new_mem_buf(data, (int)len))) {
			r = cp_error_set(err, CP_EINTERNAL, "out of memory");
			goto out;
		}
		X509 *x;
		while ((x = PEM_read_bio_X509(bio, NULL, NULL, NULL))) {
			char *b64 = s_base64_der(x);
			X509_free(x);
			if (!b64) {
				r = cp_error_set(err, CP_EINTERNAL, "out of memory");
				goto out;
			}
			if (c.nchain)
				cp_buf_putc(&cb, ',');
			cp_buf_puts(&cb, b64);
			free(b64);
			c.nchain++;
		}
		if (cp_buf_status(&cb)) {
			r = cp_error_set(err, CP_EINTERNAL, "out of memory");
			goto out;
		}
		if (!c.nchain) {
			r = cp_error_set(err, CP_ECONFIG,
					 "the certificate chain file '%s' holds no PEM certificate", chain);
			goto out;
		}
		c.chain_b64 = cp_buf_steal(&cb);
	}
	ERR_clear_error(); /* the end of the PEM data is queued as an error */
	*ret = c;
	memset(&c, 0, sizeof c);
	r = 0;
out:
	cp_buf_free(&cb);
	BIO_free(bio);
	free(data);
	cp_ra_certs_free(&c);
	return r;
}

/* ---- the request -------------------------------------------------------- */

void cp_ra_request_free(cp_ra_request *r)
{
	if (!r)
		return;
	free(r->url);
	free(r->body);
	cp_sigv4_result_free(&r->sig);
	memset(r, 0, sizeof *r);
}

/* Percent-encodes s for a query value (RFC 3986 unreserved kept). */
static void s_query_escape(cp_buf *b, const char *s)
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
}

int cp_ra_request_build(const cp_ra_options *o, const cp_ra_certs *c, int64_t now,
			cp_sigv4_sign_fn sign, void *ctx, cp_ra_request *ret, cp_error *err)
{
	cp_ra_request q = {0};
	cp_buf url = {0};
	char *host = NULL, *target = NULL;
	cJSON *j = NULL;
	int r;
	int duration = o->duration_seconds ? o->duration_seconds : CP_RA_DEFAULT_DURATION;
	if (duration < CP_RA_MIN_DURATION || duration > CP_RA_MAX_DURATION)
		return cp_error_set(err, CP_ECONFIG,
				    "the Roles Anywhere session duration must be between %d and %d seconds, "
				    "not %d", CP_RA_MIN_DURATION, CP_RA_MAX_DURATION, duration);
	if (!o->endpoint || !o->region || !o->trust_anchor_arn || !o->profile_arn || !o->role_arn)
		return cp_error_set(err, CP_ECONFIG, "incomplete Roles Anywhere settings");
	/* The ARNs travel in the query, in the order the canonical query sorts them. */
	cp_buf_printf(&url, "%s/sessions?profileArn=", o->endpoint);
	s_query_escape(&url, o->profile_arn);
	cp_buf_puts(&url, "&roleArn=");
	s_query_escape(&url, o->role_arn);
	cp_buf_puts(&url, "&trustAnchorArn=");
	s_query_escape(&url, o->trust_anchor_arn);
	if (cp_buf_status(&url)) {
		r = cp_error_set(err, CP_EINTERNAL, "out of memory");
		goto out;
	}
	if ((r = cp_http_url_parts(url.data, &host, &target))) {
		r = r == CP_EINTERNAL ? cp_error_set(err, r, "out of memory")
				      : cp_error_set(err, r, "invalid Roles Anywhere endpoint '%s'",
						     o->endpoint);
		goto out;
	}
	if (strlen(host) >= sizeof q.host) {
		r = cp_error_set(err, CP_ECONFIG, "invalid Roles Anywhere endpoint '%s'", o->endpoint);
		goto out;
	}
	snprintf(q.host, sizeof q.host, "%s", host);
	j = cJSON_CreateObject();
	if (!j || !cJSON_AddNumberToObject(j, "durationSeconds", duration) ||
	    (o->session_name && !cJSON_AddStringToObject(j, "roleSessionName", o->session_name)) ||
	    !(q.body = cJSON_PrintUnformatted(j))) {
		r = cp_error_set(err, CP_EINTERNAL, "out of memory");
		goto out;
	}
	q.url = cp_buf_steal(&url);
	size_t n = 0;
	q.headers[n++] = (cp_header){"Content-Type", "application/json"};
	q.headers[n++] = (cp_header){"Host", q.host};
	q.headers[n++] = (cp_header){"X-Amz-X509", c->leaf_b64};
	if (c->chain_b64)
		q.headers[n++] = (cp_header){"X-Amz-X509-Chain", c->chain_b64};
	cp_sigv4_x509 x = {.algorithm = c->algorithm, .serial = c->serial, .sign = sign, .ctx = ctx};
	cp_sigv4_params p = {
		.method = "POST",
		.uri = target,
		.headers = q.headers,
		.nheaders = n,
		.body = q.body,
		.body_len = strlen(q.body),
		.region = o->region,
		.service = S_SERVICE,
		.time = now,
		.normalize_path = true,
		.x509 = &x,
	};
	if ((r = cp_sigv4_sign(&p, &q.sig, err)))
		goto out;
	for (size_t i = 0; i < q.sig.nadd; i++)
		q.headers[n++] = q.sig.add[i];
	q.nheaders = n;
	*ret = q;
	/* add[] pointed into q.sig: point the copies into ret->sig. */
	for (size_t i = 0; i < ret->nheaders; i++) {
		if (ret->headers[i].value == q.host)
			ret->headers[i].value = ret->host;
		else if (ret->headers[i].value == q.sig.amz_date)
			ret->headers[i].value = ret->sig.amz_date;
	}
	memset(&q, 0, sizeof q);
	r = 0;
out:
	cJSON_Delete(j);
	cp_buf_free(&url);
	free(host);
	free(target);
	cp_ra_request_free(&q);
	return r;
}

/* ---- the answer --------------------------------------------------------- */

int cp_ra_parse_response(const char *json, size_t len, cp_creds *ret, cp_error *err)
{
	int r = 0;
	int64_t exp = 0;
	cJSON *j = cJSON_ParseWithLength(json, len);
	const cJSON *set = j ? cJSON_GetObjectItemCaseSensitive(j, "credentialSet") : NULL;
	const cJSON *first = cJSON_IsArray(set) ? cJSON_GetArrayItem(set, 0) : NULL;
	const cJSON *cr = first ? cJSON_GetObjectItemCaseSensitive(first, "credentials") : NULL;
	if (!cJSON_IsObject(cr)) {
		r = cp_error_set_cause(err, CP_ESOURCE, CP_CAUSE_MALFORMED,
				       "the reply has no credentialSet[0].credentials object");
		goto out;
	}
	const char *akid = s_jstr(cr, "accessKeyId");
	const char *secret = s_jstr(cr, "secretAccessKey");
	const char *token = s_jstr(cr, "sessionToken");
	const char *when = s_jstr(cr, "expiration");
	if (!akid || !secret || !token || !when) {
		r = cp_error_set_cause(err, CP_ESOURCE, CP_CAUSE_MALFORMED,
				       "the reply's credentials have no %s",
				       !akid ? "accessKeyId" : !secret ? "secretAccessKey"
				       : !token ? "sessionToken" : "expiration");
		goto out;
	}
	if (cp_parse_iso8601(when, &exp) != 0) {
		r = cp_error_set_cause(err, CP_ESOURCE, CP_CAUSE_MALFORMED,
				       "the reply's expiration '%.40s' is not an RFC 3339 time", when);
		goto out;
	}
	if ((r = cp_creds_set(ret, akid, secret, token, exp, NULL)))
		r = cp_error_set(err, r, "out of memory");
out:
	cp_json_free_secret(j);
	return r;
}

int cp_ra_error(const char *what, long status, const char *error_type, const char *body,
		size_t len, cp_error *err)
{
	char code[96] = "", msg[256] = "";
	cp_buf b = {.data = (char *)body, .len = body ? len : 0};
	cp_oauth_error_body(&b, NULL, 0, code, sizeof code, msg, sizeof msg);
	if (error_type && error_type[0]) {
		/* x-amzn-ErrorType wins: "Code:http://internal.amazon.com/..." -> "Code" */
		const char *h = strrchr(error_type, '#');
		h = h ? h + 1 : error_type;
		cp_safe_text(code, sizeof code, h, strlen(h));
		code[strcspn(code, ":")] = '\0';
	}
	int st = status == 429 || status >= 500 ? CP_ETRANSPORT : CP_EREFUSED;
	cp_cause cause = status == 429 || strstr(code, "Throttl") ? CP_CAUSE_THROTTLED
			 : status >= 500 ? CP_CAUSE_SERVER : CP_CAUSE_REFUSED;
	if (cause == CP_CAUSE_THROTTLED)
		st = CP_ETRANSPORT;
	int r = cp_error_set_cause(err, st, cause, "%s: CreateSession answered %ld%s%s%s%s", what,
				   status, code[0] ? " " : "", code, msg[0] ? ": " : "", msg);
	if (err) {
		err->remote.http_status = status;
		snprintf(err->remote.code, sizeof err->remote.code, "%s", code);
	}
	return r;
}

/* ---- the whole source --------------------------------------------------- */

static int s_sign(void *ctx, const void *data, size_t len, unsigned char **ret_sig,
		  size_t *ret_siglen, cp_error *err)
{
	return cp_key_sign_sha256(ctx, data, len, ret_sig, ret_siglen, err);
}

int cp_ra_get_credentials(const cp_ra_options *o, cp_creds *ret, cp_error *err)
{
	if (!o || !o->certificate || !o->private_key || !o->trust_anchor_arn || !o->profile_arn ||
	    !o->role_arn || !o->region || !o->endpoint)
		return cp_error_set(err, CP_ECONFIG, "profile '%s': incomplete Roles Anywhere settings",
				    o && o->profile ? o->profile : "?");
	cp_ra_certs c = {0};
	cp_ra_request q = {0};
	cp_http_response resp = {0};
	EVP_PKEY *key = NULL;
	char what[400], shown[301];
	int r;
	if ((r = cp_ra_certs_load(o->certificate, o->chain, &c, err)))
		return r;
	cp_key_options ko = {
		.key = o->private_key,
		.pin_file = o->pin_file,
		.pin_command = o->pin_command,
		.pkcs11_module = o->pkcs11_module,
	};
	if ((r = cp_key_load(&ko, &key, err)))
		goto out;
	/* The key must be the certificate's: a mismatch is a local mistake. */
	int eq = EVP_PKEY_eq(X509_get0_pubkey(c.leaf), key);
	if (eq == 0 || eq == -1) {
		r = cp_error_set(err, CP_ECONFIG,
				 "the private key '%s' does not belong to the certificate '%s'",
				 o->private_key, o->certificate);
		goto out;
	}
	if (eq != 1)
		cp_debug("rolesanywhere: cannot compare the key with the certificate here; the "
			 "service will check the signature");
	int64_t now = o->now ? o->now : cp_now();
	if ((r = cp_ra_request_build(o, &c, now, s_sign, key, &q, err)))
		goto out;
	cp_strip_userinfo(shown, sizeof shown, o->endpoint);
	snprintf(what, sizeof what, "Roles Anywhere endpoint '%s'", shown);
	cp_debug("rolesanywhere: CreateSession for role '%s' with certificate serial %s at %s (from %s)",
		 o->role_arn, c.serial, o->endpoint, o->endpoint_source ? o->endpoint_source : "the caller");
	cp_http_request req = {
		.method = "POST",
		.url = q.url,
		.headers = q.headers,
		.nheaders = q.nheaders,
		.body = q.body,
		.body_len = strlen(q.body),
		.ca_bundle = o->ca_bundle,
	};
	cp_oauth_send_opts so = {
		.timeout_ms = o->timeout_ms,
		.attempts = o->attempts,
		.deadline_ms = o->deadline_ms,
		.clock = o->clock,
	};
	if ((r = cp_oauth_send(&so, &req, what, &resp, err)))
		goto out;
	if (resp.status == 200 || resp.status == 201) {
		r = cp_ra_parse_response(resp.body.data, resp.body.len, ret, err);
		if (r == CP_ESOURCE)
			cp_error_prefix(err, "%s", what);
		if (r == 0 && ret->expiration <= now) {
			char when[21];
			cp_format_iso8601(ret->expiration, when);
			cp_creds_clear(ret);
			r = cp_error_set_cause(err, CP_EREFUSED, CP_CAUSE_REFUSED,
					       "%s returned credentials that expired at %s, before the "
					       "local time; check the system clock", what, when);
		}
		goto out;
	}
	r = cp_ra_error(what, resp.status, resp.error_type, resp.body.data, resp.body.len, err);
out:
	cp_http_response_free(&resp);
	cp_ra_request_free(&q);
	EVP_PKEY_free(key);
	cp_ra_certs_free(&c);
	return r;
}
