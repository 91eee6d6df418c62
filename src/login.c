/* login.c - console sign-in sessions: the token cache `aws login` leaves,
 * its DPoP-bound refresh through the sign-in service, and the credentials
 * it holds (see login.h).
 *
 * Wire format, from the service model botocore ships (data/signin,
 * 2023-01-01, rest-json, operation CreateOAuth2Token with the payload
 * members tokenInput / tokenOutput, no auth) and botocore's
 * LoginCredentialFetcher and _build_dpop_header.
 */
#include "login.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/x509.h>

#include "fileio.h"
#include "http.h"
#include "json.h"
#include "oauth.h"

#define S_MAX_EXPIRES_IN (10LL * 365 * 86400)
/* The printed size of the token document, at most: every byte of a file
 * of the largest size escaped as \u00XX, plus the new members. */
#define S_PRINT_MAX (CP_LOGIN_MAX_TOKEN_FILE * 6 + 16384)
#define S_LOCK_POLL_MS 50

/* ---- small helpers ------------------------------------------------------ */

static int64_t s_now(const cp_login_options *o)
{
	return o && o->now ? o->now : cp_now();
}

static int64_t s_mono_ms(const cp_login_options *o)
{
	return o->clock ? o->clock->mono_ms(o->clock) : cp_mono_ms();
}

static void s_sleep_ms(const cp_login_options *o, long ms)
{
	if (o->clock)
		o->clock->sleep_ms(o->clock, ms);
	else
		cp_sleep_ms(ms);
}

/* The command that makes a new session, as the last words of a message. */
static void s_hint(const cp_login_options *o, char *buf, size_t len)
{
	snprintf(buf, len, "run `aws login --profile %s`", o->profile ? o->profile : "default");
}

static void s_b64url(cp_buf *b, const unsigned char *p, size_t n)
{
	static const char a[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
	size_t i = 0;
	for (; i + 2 < n; i += 3) {
		uint32_t v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8 | p[i + 2];
		char c[4] = {a[v >> 18], a[(v >> 12) & 63], a[(v >> 6) & 63], a[v & 63]};
		cp_buf_append(b, c, 4);
	}
	if (n - i == 1) {
		uint32_t v = (uint32_t)p[i] << 16;
		char c[2] = {a[v >> 18], a[(v >> 12) & 63]};
		cp_buf_append(b, c, 2);
	} else if (n - i == 2) {
		uint32_t v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8;
		char c[3] = {a[v >> 18], a[(v >> 12) & 63], a[(v >> 6) & 63]};
		cp_buf_append(b, c, 3);
	}
}

/* s as a JSON string, as Python's json.dumps writes it (ASCII). */
static void s_json_string(cp_buf *b, const char *s)
{
	cp_buf_putc(b, '"');
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if (*p == '"' || *p == '\\') {
			cp_buf_putc(b, '\\');
			cp_buf_putc(b, (char)*p);
		} else if (*p < 0x20 || *p >= 0x7f) {
			cp_buf_printf(b, "\\u%04x", *p);
		} else {
			cp_buf_putc(b, (char)*p);
		}
	}
	cp_buf_putc(b, '"');
}

/* ---- the token cache file ---------------------------------------------- */

int cp_login_token_path(const char *dir, const char *session_name, char **ret_path, cp_error *err)
{
	if (!dir || !session_name)
		return cp_error_set(err, CP_EINTERNAL, "no login session or token directory");
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	if (!EVP_Digest(session_name, strlen(session_name), md, &mdlen, EVP_sha256(), NULL) ||
	    mdlen != 32)
		return cp_error_set(err, CP_EINTERNAL, "SHA-256 is unavailable");
	char hex[65];
	for (unsigned i = 0; i < 32; i++)
		snprintf(hex + 2 * i, 3, "%02x", md[i]);
	size_t n = strlen(dir);
	while (n > 1 && dir[n - 1] == '/')
		n--;
	char *path = cp_asprintf("%.*s/%s.json", (int)n, dir, hex);
	if (!path)
		return cp_error_set(err, CP_EINTERNAL, "out of memory");
	*ret_path = path;
	return 0;
}

/* The token file: one we trust with our credentials (fileio.h). */
static int s_open_token(const char *path, struct stat *st, char *why, size_t whylen)
{
	return cp_open_private_file(path, CP_LOGIN_MAX_TOKEN_FILE, st, why, whylen);
}

static int s_read_open(int fd, const struct stat *st, char **ret_data, size_t *ret_len, char *why,
		       size_t whylen)
{
	return cp_read_private_fd(fd, st, CP_LOGIN_MAX_TOKEN_FILE, ret_data, ret_len, why, whylen);
}

int cp_login_read_token_file(const char *path, char **ret_data, size_t *ret_len, char *why,
			     size_t whylen)
{
	struct stat st;
	int fd = s_open_token(path, &st, why, whylen);
	if (fd < 0)
		return -1;
	int r = s_read_open(fd, &st, ret_data, ret_len, why, whylen);
	close(fd);
	if (r)
		errno = EIO;
	return r;
}

void cp_login_token_free(cp_login_token *t)
{
	if (!t)
		return;
	cp_json_free_secret(t->doc);
	memset(t, 0, sizeof *t);
}

/* Points t's fields into t->doc. A required member missing: its name. */
static const char *s_bind(cp_login_token *t)
{
	cJSON *j = t->doc;
	const cJSON *at = cJSON_GetObjectItemCaseSensitive(j, "accessToken");
	if (!cJSON_IsObject(at))
		return "accessToken";
	static const char *const names[] = {"accessKeyId", "secretAccessKey", "sessionToken",
					    "accountId", "expiresAt"};
	const char *v[5];
	for (size_t i = 0; i < 5; i++)
		if (!(v[i] = cp_oauth_jstr(at, names[i])))
			return names[i];
	if (!(t->refresh_token = cp_oauth_jstr(j, "refreshToken")))
		return "refreshToken";
	if (!(t->dpop_key = cp_oauth_jstr(j, "dpopKey")))
		return "dpopKey";
	if (!(t->client_id = cp_oauth_jstr(j, "clientId")))
		return "clientId";
	t->access_key_id = v[0];
	t->secret_access_key = v[1];
	t->session_token = v[2];
	t->account_id = v[3];
	return NULL;
}

int cp_login_token_parse(const char *json, size_t len, cp_login_token *ret, cp_error *err)
{
	cp_login_token t = {0};
	int r = 0;
	if (!(t.doc = cJSON_ParseWithLength(json, len)) || !cJSON_IsObject((cJSON *)t.doc)) {
		r = cp_error_set(err, CP_ESOURCE, "it is not a JSON object");
		goto out;
	}
	const char *missing = s_bind(&t);
	if (missing) {
		r = cp_error_set(err, CP_ESOURCE, "it has no %s%s", missing,
				 strcmp(missing, "accessToken") && strcmp(missing, "refreshToken") &&
						 strcmp(missing, "dpopKey") && strcmp(missing, "clientId")
					 ? " in accessToken"
					 : "");
		goto out;
	}
	const char *exp = cp_oauth_jstr(cJSON_GetObjectItemCaseSensitive(t.doc, "accessToken"),
					"expiresAt");
	if (cp_oauth_parse_time(exp, &t.expires_at) != 0) {
		r = cp_error_set(err, CP_ESOURCE, "its expiresAt '%.40s' is not an RFC 3339 time", exp);
		goto out;
	}
	*ret = t;
	memset(&t, 0, sizeof t);
out:
	cp_login_token_free(&t);
	return r;
}

/* ---- DPoP --------------------------------------------------------------- */

/* The EC P-256 key of a PEM text, read as botocore reads it: the lines
 * between BEGIN and END, base64, DER (SEC1 or PKCS#8). */
static EVP_PKEY *s_load_key(const char *pem, const char **why)
{
	cp_buf b64 = {0};
	unsigned char *der = NULL;
	EVP_PKEY *k = NULL;
	*why = "it is not a PEM private key";
	for (const char *l = pem; *l;) {
		size_t n = strcspn(l, "\r\n");
		if (!(n >= 10 && strncmp(l, "-----BEGIN", 10) == 0) &&
		    !(n >= 8 && strncmp(l, "-----END", 8) == 0))
			for (size_t i = 0; i < n; i++)
				if (l[i] != ' ' && l[i] != '\t')
					cp_buf_putc(&b64, l[i]);
		l += n;
		l += strspn(l, "\r\n");
	}
	if (cp_buf_status(&b64) || !b64.len || b64.len % 4 || b64.len > 16384)
		goto out;
	if (!(der = malloc(b64.len)))
		goto out;
	int n = EVP_DecodeBlock(der, (const unsigned char *)b64.data, (int)b64.len);
	if (n < 0)
		goto out;
	n -= (b64.data[b64.len - 1] == '=') + (b64.data[b64.len - 2] == '=');
	const unsigned char *p = der;
	k = d2i_AutoPrivateKey(NULL, &p, n);
	if (!k)
		goto out;
	char group[64] = "";
	if (!EVP_PKEY_is_a(k, "EC") ||
	    !EVP_PKEY_get_utf8_string_param(k, OSSL_PKEY_PARAM_GROUP_NAME, group, sizeof group, NULL) ||
	    (strcmp(group, "prime256v1") != 0 && strcmp(group, "P-256") != 0)) {
		*why = "it is not an EC P-256 key";
		EVP_PKEY_free(k);
		k = NULL;
	}
out:
	if (der)
		cp_freezero(der, b64.len);
	cp_buf_free(&b64);
	return k;
}

/* A random UUID, version 4, lowercase. */
static int s_uuid4(char out[37])
{
	unsigned char u[16];
	if (RAND_bytes(u, sizeof u) != 1)
		return -1;
	u[6] = (unsigned char)((u[6] & 0x0f) | 0x40);
	u[8] = (unsigned char)((u[8] & 0x3f) | 0x80);
	snprintf(out, 37,
		 "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", u[0],
		 u[1], u[2], u[3], u[4], u[5], u[6], u[7], u[8], u[9], u[10], u[11], u[12], u[13],
		 u[14], u[15]);
	return 0;
}

int cp_login_dpop(const char *pem, const char *htu, int64_t iat, const char *jti, char **ret,
		  cp_error *err)
{
	const char *why = NULL;
	EVP_PKEY *k = pem ? s_load_key(pem, &why) : NULL;
	BIGNUM *x = NULL, *y = NULL;
	EVP_MD_CTX *md = NULL;
	ECDSA_SIG *sig = NULL;
	unsigned char xy[64], der[128], rs[64];
	size_t derlen = sizeof der;
	cp_buf hdr = {0}, pay = {0}, out = {0};
	char uuid[37];
	int r = 0;
	if (!k)
		return cp_error_set(err, CP_EINTERACTIVE, "its dpopKey cannot be used: %s",
				    why ? why : "none");
	if (!EVP_PKEY_get_bn_param(k, OSSL_PKEY_PARAM_EC_PUB_X, &x) ||
	    !EVP_PKEY_get_bn_param(k, OSSL_PKEY_PARAM_EC_PUB_Y, &y) ||
	    BN_bn2binpad(x, xy, 32) != 32 || BN_bn2binpad(y, xy + 32, 32) != 32) {
		r = cp_error_set(err, CP_EINTERACTIVE, "its dpopKey has no usable public key");
		goto out;
	}
	if (!jti) {
		if (s_uuid4(uuid)) {
			r = cp_error_set(err, CP_EINTERNAL, "no random bytes for the DPoP proof");
			goto out;
		}
		jti = uuid;
	}
	/* botocore's json.dumps(..., separators=(',', ':')), in its order. */
	cp_buf_puts(&hdr, "{\"typ\":\"dpop+jwt\",\"alg\":\"ES256\",\"jwk\":{\"kty\":\"EC\",\"x\":\"");
	s_b64url(&hdr, xy, 32);
	cp_buf_puts(&hdr, "\",\"y\":\"");
	s_b64url(&hdr, xy + 32, 32);
	cp_buf_puts(&hdr, "\",\"crv\":\"P-256\"}}");
	cp_buf_puts(&pay, "{\"htm\":\"POST\",\"htu\":");
	s_json_string(&pay, htu);
	cp_buf_printf(&pay, ",\"iat\":%" PRId64 ",\"jti\":", iat);
	s_json_string(&pay, jti);
	cp_buf_putc(&pay, '}');
	s_b64url(&out, (const unsigned char *)hdr.data, hdr.len);
	cp_buf_putc(&out, '.');
	s_b64url(&out, (const unsigned char *)pay.data, pay.len);
	if (cp_buf_status(&hdr) || cp_buf_status(&pay) || cp_buf_status(&out)) {
		r = cp_error_set(err, CP_EINTERNAL, "out of memory");
		goto out;
	}
	const unsigned char *dp = der;
	const BIGNUM *sr, *ss;
	if (!(md = EVP_MD_CTX_new()) || EVP_DigestSignInit(md, NULL, EVP_sha256(), NULL, k) != 1 ||
	    EVP_DigestSign(md, der, &derlen, (const unsigned char *)out.data, out.len) != 1 ||
	    !(sig = d2i_ECDSA_SIG(NULL, &dp, (long)derlen))) {
		r = cp_error_set(err, CP_EINTERNAL, "cannot sign the DPoP proof (ES256)");
		goto out;
	}
	ECDSA_SIG_get0(sig, &sr, &ss);
	if (BN_bn2binpad(sr, rs, 32) != 32 || BN_bn2binpad(ss, rs + 32, 32) != 32) {
		r = cp_error_set(err, CP_EINTERNAL, "cannot encode the DPoP signature");
		goto out;
	}
	cp_buf_putc(&out, '.');
	s_b64url(&out, rs, 64);
	if (cp_buf_status(&out)) {
		r = cp_error_set(err, CP_EINTERNAL, "out of memory");
		goto out;
	}
	*ret = cp_buf_steal(&out);
out:
	ECDSA_SIG_free(sig);
	EVP_MD_CTX_free(md);
	BN_free(x);
	BN_free(y);
	EVP_PKEY_free(k);
	cp_buf_free(&hdr);
	cp_buf_free(&pay);
	cp_buf_free(&out);
	return r;
}

/* ---- CreateOAuth2Token -------------------------------------------------- */

char *cp_login_refresh_body(const cp_login_token *t)
{
	cJSON *j = cJSON_CreateObject();
	char *out = NULL;
	/* References: the tree holds no copy of a secret. botocore's order. */
	if (j && cJSON_AddItemToObjectCS(j, "clientId", cJSON_CreateStringReference(t->client_id)) &&
	    cJSON_AddItemToObjectCS(j, "refreshToken", cJSON_CreateStringReference(t->refresh_token)) &&
	    cJSON_AddItemToObjectCS(j, "grantType", cJSON_CreateStringReference("refresh_token")))
		cp_json_print_secret(j, false,
				     (strlen(t->client_id) + strlen(t->refresh_token)) * 6 + 256, &out);
	cJSON_Delete(j);
	return out;
}

/* Wipes the strings of a list of items and of their children. */
static void s_wipe_list(cJSON *c)
{
	for (; c; c = c->next) {
		if (c->valuestring)
			cp_wipe(c->valuestring, strlen(c->valuestring));
		s_wipe_list(c->child);
	}
}

/* Wipes the strings of item (and of its children) before cJSON frees it. */
static void s_wipe_item(cJSON *item)
{
	if (!item)
		return;
	if (item->valuestring)
		cp_wipe(item->valuestring, strlen(item->valuestring));
	s_wipe_list(item->child);
}

int cp_login_apply_refresh(cp_login_token *t, const char *json, size_t len, int64_t now,
			   cp_error *err)
{
	int r = 0;
	cJSON *j = cJSON_ParseWithLength(json, len), *nat = NULL, *nrt = NULL;
	const cJSON *at = j ? cJSON_GetObjectItemCaseSensitive(j, "accessToken") : NULL;
	const cJSON *ei = j ? cJSON_GetObjectItemCaseSensitive(j, "expiresIn") : NULL;
	const char *akid = cp_oauth_jstr(at, "accessKeyId");
	const char *secret = cp_oauth_jstr(at, "secretAccessKey");
	const char *token = cp_oauth_jstr(at, "sessionToken");
	const char *rt = j ? cp_oauth_jstr(j, "refreshToken") : NULL;
	const char *miss = !cJSON_IsObject(j)	       ? "a JSON object"
			   : !cJSON_IsObject(at)       ? "accessToken"
			   : !akid		       ? "accessToken.accessKeyId"
			   : !secret		       ? "accessToken.secretAccessKey"
			   : !token		       ? "accessToken.sessionToken"
			   : !rt		       ? "refreshToken"
			   : !cJSON_IsNumber(ei) || !isfinite(ei->valuedouble) || ei->valuedouble < 1 ||
					   ei->valuedouble > (double)S_MAX_EXPIRES_IN
				   ? "valid expiresIn"
				   : NULL;
	if (miss) {
		r = cp_error_set_cause(err, CP_ESOURCE, CP_CAUSE_MALFORMED, "the reply has no %s", miss);
		goto out;
	}
	char exp[21];
	cp_format_iso8601(now + (int64_t)ei->valuedouble, exp);
	if (!(nat = cJSON_CreateObject()) || !cJSON_AddStringToObject(nat, "accessKeyId", akid) ||
	    !cJSON_AddStringToObject(nat, "secretAccessKey", secret) ||
	    !cJSON_AddStringToObject(nat, "sessionToken", token) ||
	    !cJSON_AddStringToObject(nat, "accountId", t->account_id) ||
	    !cJSON_AddStringToObject(nat, "expiresAt", exp) || !(nrt = cJSON_CreateString(rt))) {
		r = cp_error_set(err, CP_EINTERNAL, "out of memory");
		goto out;
	}
	cJSON *doc = t->doc;
	cJSON *old_at = cJSON_GetObjectItemCaseSensitive(doc, "accessToken");
	cJSON *old_rt = cJSON_GetObjectItemCaseSensitive(doc, "refreshToken");
	s_wipe_item(old_at);
	s_wipe_item(old_rt);
	/* Replaced in place: the members keep their order, as Python's
	 * dict.update() keeps it. */
	if (!cJSON_ReplaceItemInObjectCaseSensitive(doc, "accessToken", nat)) {
		r = cp_error_set(err, CP_EINTERNAL, "out of memory");
		goto out;
	}
	nat = NULL;
	if (!cJSON_ReplaceItemInObjectCaseSensitive(doc, "refreshToken", nrt)) {
		r = cp_error_set(err, CP_EINTERNAL, "out of memory");
		goto out;
	}
	nrt = NULL;
	t->expires_at = now + (int64_t)ei->valuedouble;
	if (s_bind(t))
		r = cp_error_set(err, CP_EINTERNAL, "the refreshed token lost a member");
out:
	cp_json_free_secret(nat);
	cp_json_free_secret(nrt);
	cp_json_free_secret(j);
	return r;
}

char *cp_login_token_serialize(const cp_login_token *t)
{
	char *out = NULL;
	cp_json_print_secret(t->doc, false, S_PRINT_MAX, &out);
	return out;
}

int cp_login_refresh_error(long st, const char *body, size_t len, const char *what,
			   const char *hint, const char *const *secrets, size_t nsecrets,
			   cp_error *err)
{
	char code[96] = "", error[96] = "", msg[256] = "";
	cp_buf b = {.data = (char *)body, .len = body ? len : 0};
	cp_oauth_error_body(&b, secrets, nsecrets, code, sizeof code, msg, sizeof msg);
	cJSON *j = body && len ? cJSON_ParseWithLength(body, len) : NULL;
	if (cJSON_IsObject(j))
		cp_oauth_sanitize(cp_oauth_jstr(j, "error"), secrets, nsecrets, error, sizeof error);
	cp_json_free_secret(j);
	int status;
	cp_cause cause = cp_oauth_status_cause(st);
	bool relogin = (st == 401 || st == 403) && (strcmp(error, "TOKEN_EXPIRED") == 0 ||
						    strcmp(error, "USER_CREDENTIALS_CHANGED") == 0);
	if (relogin) {
		status = CP_EINTERACTIVE;
		cause = CP_CAUSE_EXPIRED_SESSION;
	} else if (cp_oauth_retryable_status(st)) {
		status = CP_ETRANSPORT;
	} else if (st >= 400 && st < 500) {
		status = CP_EREFUSED;
	} else {
		status = CP_ESOURCE;
		cause = CP_CAUSE_MALFORMED;
	}
	/* "AccessDeniedException (TOKEN_EXPIRED)": the exception and its error. */
	bool same = strcmp(code, error) == 0;
	int r = cp_error_set_cause(err, status, cause, "%s answered %ld%s%s%s%s%s%s%s%s%s", what, st,
				   code[0] ? " " : "", code, error[0] && !same ? " (" : "",
				   same ? "" : error, error[0] && !same ? ")" : "", msg[0] ? ": " : "",
				   msg, relogin && hint ? "; the session is over: " : "",
				   relogin && hint ? hint : "");
	if (err) {
		err->remote.http_status = st;
		snprintf(err->remote.code, sizeof err->remote.code, "%s", error[0] ? error : code);
	}
	return r;
}

/* ---- the whole source --------------------------------------------------- */

typedef struct s_file {
	int fd;
	struct stat st;
	cp_login_token t;
} s_file;

static void s_file_close(s_file *f)
{
	if (f->fd >= 0)
		close(f->fd);
	f->fd = -1;
	cp_login_token_free(&f->t);
}

/* Opens, reads and parses the token file into f (f->fd stays open). */
static int s_load(const cp_login_options *o, const char *path, s_file *f, cp_error *err)
{
	char why[200], hint[300];
	char *data = NULL;
	size_t len = 0;
	s_hint(o, hint, sizeof hint);
	f->fd = s_open_token(path, &f->st, why, sizeof why);
	if (f->fd < 0 && !why[0])
		return cp_error_set(err, CP_EINTERACTIVE,
				    "no console sign-in session '%s' ('%s' does not exist): %s",
				    o->session_name, path, hint);
	if (f->fd < 0 || s_read_open(f->fd, &f->st, &data, &len, why, sizeof why)) {
		s_file_close(f);
		return cp_error_set(err, CP_ESOURCE, "refusing the sign-in token file '%s': %s", path,
				    why);
	}
	int r = cp_login_token_parse(data, len, &f->t, err);
	cp_freezero(data, len);
	if (r == CP_ESOURCE) {
		s_file_close(f);
		r = CP_EINTERACTIVE;
		if (err) {
			cp_error_prefix(err, "the sign-in token file '%s' of session '%s' is unusable", path,
					o->session_name);
			size_t n = strlen(err->msg);
			snprintf(err->msg + n, sizeof err->msg - n, "; %s", hint);
			err->status = r;
		}
	}
	if (r)
		s_file_close(f);
	return r;
}

/* Takes the refresh lock: an flock() on the open token file, which must
 * still be the file at path (a refresh by someone else replaces it: then
 * f holds the new one, which may need no refresh any more). Waits until
 * the deadline at most; then goes on without the lock (a debug line). */
static int s_lock(const cp_login_options *o, const char *path, s_file *f, bool *ret_locked,
		  cp_error *err)
{
	*ret_locked = false;
	for (;;) {
		if (flock(f->fd, LOCK_EX | LOCK_NB) == 0) {
			struct stat now;
			if (stat(path, &now) == 0 && now.st_dev == f->st.st_dev &&
			    now.st_ino == f->st.st_ino) {
				*ret_locked = true;
				return 0;
			}
			/* Replaced while we waited: read the new one. */
			s_file_close(f);
			int r = s_load(o, path, f, err);
			if (r)
				return r;
			if (f->t.expires_at - s_now(o) > CP_LOGIN_REFRESH_THRESHOLD)
				return 0;
			continue;
		}
		if (errno != EWOULDBLOCK && errno != EINTR) {
			cp_debug("login: cannot lock '%s' (%s): refreshing without the lock", path,
				 strerror(errno));
			return 0;
		}
		if (o->deadline_ms && s_mono_ms(o) + S_LOCK_POLL_MS >= o->deadline_ms) {
			cp_debug("login: '%s' is still locked by another refresh at the deadline", path);
			return 0;
		}
		s_sleep_ms(o, S_LOCK_POLL_MS);
	}
}

/* CreateOAuth2Token with t's refresh token; t updated. */
static int s_refresh(const cp_login_options *o, cp_login_token *t, cp_error *err)
{
	char *url = NULL, *body = NULL, *dpop = NULL;
	cp_http_response resp = {0};
	char what[400], shown[301], hint[300];
	int r;
	if (!o->endpoint_url) {
		if (!o->endpoint_error)
			return cp_error_set(err, CP_EINTERNAL, "no sign-in endpoint");
		if (err)
			*err = *o->endpoint_error;
		return o->endpoint_error->status ? o->endpoint_error->status : CP_EINTERNAL;
	}
	s_hint(o, hint, sizeof hint);
	cp_strip_userinfo(shown, sizeof shown, o->endpoint_url);
	snprintf(what, sizeof what, "the sign-in service '%s'", shown);
	if (!(url = cp_asprintf("%s/v1/token", o->endpoint_url)) || !(body = cp_login_refresh_body(t))) {
		r = cp_error_set(err, CP_EINTERNAL, "out of memory");
		goto out;
	}
	if ((r = cp_login_dpop(t->dpop_key, url, s_now(o), NULL, &dpop, err))) {
		if (r == CP_EINTERACTIVE && err) {
			size_t n = strlen(err->msg);
			snprintf(err->msg + n, sizeof err->msg - n, "; %s", hint);
		}
		goto out;
	}
	cp_debug("login: refreshing session '%s' at %s (from %s)", o->session_name, shown,
		 o->endpoint_source ? o->endpoint_source : "the caller");
	cp_header h[] = {{"Content-Type", "application/json"}, {"DPoP", dpop}};
	cp_http_request req = {
		.method = "POST",
		.url = url,
		.headers = h,
		.nheaders = 2,
		.body = body,
		.body_len = strlen(body),
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
	if (resp.status == 200) {
		r = cp_login_apply_refresh(t, resp.body.data, resp.body.len, s_now(o), err);
		if (r == CP_ESOURCE)
			cp_error_prefix(err, "%s", what);
		goto out;
	}
	const char *secrets[] = {t->refresh_token, t->secret_access_key, t->session_token};
	r = cp_login_refresh_error(resp.status, resp.body.data, resp.body.len, what, hint, secrets, 3,
				   err);
out:
	cp_http_response_free(&resp);
	cp_free_secret(body);
	free(dpop);
	free(url);
	return r;
}

static int s_creds(const cp_login_token *t, cp_creds *ret, cp_error *err)
{
	return cp_creds_set(ret, t->access_key_id, t->secret_access_key, t->session_token,
			    t->expires_at, t->account_id)
		       ? cp_error_set(err, CP_EINTERNAL, "out of memory")
		       : 0;
}

int cp_login_get_credentials(const cp_login_options *o, cp_creds *ret, cp_error *err)
{
	if (!o || !o->session_name || !o->token_dir)
		return cp_error_set(err, CP_EINTERNAL, "login: no session or token directory");
	char *path = NULL, when[21], hint[300];
	s_file f = {.fd = -1};
	bool locked = false;
	int r;
	s_hint(o, hint, sizeof hint);
	if ((r = cp_login_token_path(o->token_dir, o->session_name, &path, err)))
		return r;
	if ((r = s_load(o, path, &f, err)))
		goto out;
	cp_format_iso8601(f.t.expires_at, when);
	cp_debug("login: token file '%s', credentials valid until %s", path, when);
	if (f.t.expires_at - s_now(o) > CP_LOGIN_REFRESH_THRESHOLD)
		goto done;
	if ((r = s_lock(o, path, &f, &locked, err)))
		goto out;
	if (f.t.expires_at - s_now(o) > CP_LOGIN_REFRESH_THRESHOLD) {
		cp_debug("login: refreshed by another process meanwhile");
		goto done;
	}
	if (!locked)
		cp_debug("login: refreshing without the lock of the token file");
	cp_error rerr = {0};
	int rr = s_refresh(o, &f.t, &rerr);
	if (rr == 0) {
		char *text = cp_login_token_serialize(&f.t);
		cp_error we = {0};
		if (text ? cp_write_file_atomic(AT_FDCWD, path, text, strlen(text), NULL, &we)
			 : cp_error_set(&we, CP_EINTERNAL, "%s", strerror(ENOMEM)))
			cp_warn("cannot update the sign-in token file '%s': %s (the refreshed "
				"credentials are used for this call only, and the next call needs "
				"`aws login` again)", path, we.msg);
		cp_free_secret(text);
		cp_format_iso8601(f.t.expires_at, when);
		cp_debug("login: refreshed, valid until %s", when);
		goto done;
	}
	if (rr == CP_EINTERNAL) {
		if (err)
			*err = rerr;
		r = rr;
		goto out;
	}
	/* Someone who takes no lock (botocore, the CLI) may have refreshed it
	 * meanwhile, making our refresh token useless: look again. */
	s_file again = {.fd = -1};
	cp_error e2 = {0};
	int64_t now = s_now(o);
	if (s_load(o, path, &again, &e2) == 0 && again.t.expires_at > f.t.expires_at &&
	    again.t.expires_at > now) {
		cp_debug("login: the token file was refreshed by someone else meanwhile");
		cp_login_token_free(&f.t);
		f.t = again.t;
		memset(&again.t, 0, sizeof again.t);
		s_file_close(&again);
		goto done;
	}
	s_file_close(&again);
	if (f.t.expires_at > now) {
		cp_warn("could not refresh console sign-in session '%s' (%s); using its current "
			"credentials, valid until %s", o->session_name, rerr.msg, when);
		goto done;
	}
	r = rr;
	if (err) {
		*err = rerr;
		if (rr == CP_EINTERACTIVE && !strstr(err->msg, hint)) {
			size_t n = strlen(err->msg);
			snprintf(err->msg + n, sizeof err->msg - n, "; %s", hint);
		}
		cp_error_prefix(err, "the credentials of console sign-in session '%s' expired at %s "
			        "and refreshing them failed", o->session_name, when);
	}
	goto out;
done:
	r = s_creds(&f.t, ret, err);
out:
	s_file_close(&f); /* releases the lock */
	free(path);
	return r;
}
