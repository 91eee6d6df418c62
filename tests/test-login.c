/* test-login.c - console sign-in sessions: the token cache file (its name,
 * the trust rules, parsing), the DPoP proof (parsed back, the signature
 * verified with the public key), the CreateOAuth2Token body, its answer
 * and error mapping, the rewritten file, the sign-in endpoint, and the
 * whole source on a token that needs no refresh. (The refresh over HTTP
 * is tests/e2e/test_login_session.py, against a service that checks the
 * proofs independently.) */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>

#include "config.h"
#include "endpoint.h"
#include "identity.h"
#include "login.h"
#include "tap.h"

static char s_tmp[256];

#define SAK "loginSecretAccessKey/abcdefghijklmnop"
#define STOK "loginSessionToken+qrstuvwxyz0123456789"
#define RT "login-refresh-token-AAAA-1111"
#define RT2 "login-refresh-token-BBBB-2222"

static int s_rm(const char *p, const struct stat *st, int flag, struct FTW *f)
{
	(void)st, (void)flag, (void)f;
	return remove(p);
}

/* A new key's PEM: SEC1 ("EC PRIVATE KEY") or PKCS#8. */
static char *s_pem(EVP_PKEY *k, bool pkcs8)
{
	BIO *b = BIO_new(BIO_s_mem());
	char *out = NULL, *p;
	if (pkcs8 ? PEM_write_bio_PrivateKey(b, k, NULL, NULL, 0, NULL, NULL)
		  : PEM_write_bio_PrivateKey_traditional(b, k, NULL, NULL, 0, NULL, NULL)) {
		long n = BIO_get_mem_data(b, &p);
		out = strndup(p, (size_t)n);
	}
	BIO_free(b);
	return out;
}

/* The token document as `aws login` writes it. */
static char *s_token_json(const char *pem, const char *expires, const char *drop)
{
	cJSON *j = cJSON_CreateObject(), *at = cJSON_CreateObject();
	cJSON_AddStringToObject(at, "accessKeyId", "ASIALOGIN00000000001");
	cJSON_AddStringToObject(at, "secretAccessKey", SAK);
	cJSON_AddStringToObject(at, "sessionToken", STOK);
	cJSON_AddStringToObject(at, "accountId", "111122223333");
	cJSON_AddStringToObject(at, "expiresAt", expires);
	cJSON_AddItemToObject(j, "accessToken", at);
	cJSON_AddStringToObject(j, "tokenType", "aws_sigv4");
	cJSON_AddStringToObject(j, "clientId", "arn:aws:signin:::devtools/same-device");
	cJSON_AddStringToObject(j, "refreshToken", RT);
	cJSON_AddStringToObject(j, "idToken", "id.token.x");
	cJSON_AddStringToObject(j, "dpopKey", pem);
	cJSON_AddNumberToObject(j, "customNumber", 42);
	if (drop) {
		const char *dot = strchr(drop, '.');
		if (dot)
			cJSON_DeleteItemFromObject(at, dot + 1);
		else
			cJSON_DeleteItemFromObject(j, drop);
	}
	char *s = cJSON_PrintUnformatted(j);
	cJSON_Delete(j);
	return s;
}

static char *s_part(const char *jwt, int n, size_t *len)
{
	const char *p = jwt;
	for (int i = 0; i < n; i++)
		p = strchr(p, '.') + 1;
	size_t l = strcspn(p, ".");
	char *out = NULL;
	if (cp_base64url_decode(p, l, &out, len))
		return NULL;
	return out;
}

static bool s_verify(EVP_PKEY *k, const char *jwt)
{
	const char *last = strrchr(jwt, '.');
	size_t siglen = 0;
	char *sig = s_part(jwt, 2, &siglen);
	bool ok = false;
	if (sig && siglen == 64) {
		ECDSA_SIG *es = ECDSA_SIG_new();
		ECDSA_SIG_set0(es, BN_bin2bn((unsigned char *)sig, 32, NULL),
			       BN_bin2bn((unsigned char *)sig + 32, 32, NULL));
		unsigned char *der = NULL;
		int dl = i2d_ECDSA_SIG(es, &der);
		EVP_MD_CTX *md = EVP_MD_CTX_new();
		ok = dl > 0 && EVP_DigestVerifyInit(md, NULL, EVP_sha256(), NULL, k) == 1 &&
		     EVP_DigestVerify(md, der, (size_t)dl, (const unsigned char *)jwt,
				      (size_t)(last - jwt)) == 1;
		EVP_MD_CTX_free(md);
		OPENSSL_free(der);
		ECDSA_SIG_free(es);
	}
	free(sig);
	return ok;
}

static void s_b64url_bn(EVP_PKEY *k, const char *param, char *out, size_t outlen)
{
	BIGNUM *bn = NULL;
	unsigned char b[32];
	EVP_PKEY_get_bn_param(k, param, &bn);
	BN_bn2binpad(bn, b, 32);
	BN_free(bn);
	static const char a[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
	size_t n = 0;
	for (size_t i = 0; i < 32; i += 3) {
		unsigned v = (unsigned)b[i] << 16 | (i + 1 < 32 ? (unsigned)b[i + 1] << 8 : 0) |
			     (i + 2 < 32 ? b[i + 2] : 0);
		size_t chars = i + 2 < 32 ? 4 : i + 1 < 32 ? 3 : 2;
		for (size_t c = 0; c < chars && n + 1 < outlen; c++)
			out[n++] = a[(v >> (18 - 6 * c)) & 63];
	}
	out[n] = '\0';
}

static void s_dpop(void)
{
	EVP_PKEY *k = EVP_EC_gen("P-256");
	for (int pkcs8 = 0; pkcs8 < 2; pkcs8++) {
		char *pem = s_pem(k, pkcs8), *jwt = NULL;
		cp_error e = {0};
		int r = cp_login_dpop(pem, "http://127.0.0.1:8080/v1/token", 1796000000,
				      "0f0e0d0c-0b0a-4908-8706-050403020100", &jwt, &e);
		tap_ok(r == 0 && jwt, "dpop (%s): built (%s)", pkcs8 ? "PKCS#8" : "SEC1", e.msg);
		if (!jwt) {
			free(pem);
			continue;
		}
		size_t hl, pl;
		char *h = s_part(jwt, 0, &hl), *p = s_part(jwt, 1, &pl);
		char x[64], y[64], want[512];
		s_b64url_bn(k, OSSL_PKEY_PARAM_EC_PUB_X, x, sizeof x);
		s_b64url_bn(k, OSSL_PKEY_PARAM_EC_PUB_Y, y, sizeof y);
		snprintf(want, sizeof want,
			 "{\"typ\":\"dpop+jwt\",\"alg\":\"ES256\",\"jwk\":{\"kty\":\"EC\",\"x\":\"%s\","
			 "\"y\":\"%s\",\"crv\":\"P-256\"}}", x, y);
		tap_ok(h && strcmp(h, want) == 0, "dpop: header is botocore's compact JSON with the key's jwk: %s", h ? h : "(none)");
		tap_ok(p && strcmp(p, "{\"htm\":\"POST\",\"htu\":\"http://127.0.0.1:8080/v1/token\","
				      "\"iat\":1796000000,\"jti\":\"0f0e0d0c-0b0a-4908-8706-050403020100\"}") == 0,
		       "dpop: payload htm, htu, iat, jti: %s", p ? p : "(none)");
		tap_ok(s_verify(k, jwt), "dpop: the ES256 signature (raw r||s) verifies with the public key");
		tap_ok(!strchr(jwt, '=') && !strchr(jwt, '+') && !strchr(jwt, '/'), "dpop: base64url, no padding");
		free(h);
		free(p);
		free(jwt);
		free(pem);
	}
	/* jti: a fresh UUID v4 each time */
	char *pem = s_pem(k, false), *a = NULL, *b = NULL;
	cp_error e = {0};
	cp_login_dpop(pem, "https://us-east-1.signin.aws.amazon.com/v1/token", 1, NULL, &a, &e);
	cp_login_dpop(pem, "https://us-east-1.signin.aws.amazon.com/v1/token", 1, NULL, &b, &e);
	size_t l;
	char *pa = a ? s_part(a, 1, &l) : NULL, *pb = b ? s_part(b, 1, &l) : NULL;
	cJSON *ja = pa ? cJSON_Parse(pa) : NULL, *jb = pb ? cJSON_Parse(pb) : NULL;
	const char *ta = cJSON_GetStringValue(cJSON_GetObjectItem(ja, "jti"));
	const char *tb = cJSON_GetStringValue(cJSON_GetObjectItem(jb, "jti"));
	tap_ok(ta && tb && strcmp(ta, tb) && strlen(ta) == 36 && ta[14] == '4' &&
		       strchr("89ab", ta[19]), "dpop: a random UUID v4 as jti, new each time (%s, %s)",
	       ta ? ta : "-", tb ? tb : "-");
	tap_ok(a && s_verify(k, a) && b && s_verify(k, b), "dpop: both verify");
	cJSON_Delete(ja);
	cJSON_Delete(jb);
	free(pa);
	free(pb);
	free(a);
	free(b);
	free(pem);
	/* keys that cannot serve */
	EVP_PKEY *p384 = EVP_EC_gen("P-384"), *rsa = EVP_RSA_gen(2048);
	char *p384pem = s_pem(p384, false), *rsapem = s_pem(rsa, true), *out = NULL;
	const char *bad[] = {p384pem, rsapem, "-----BEGIN EC PRIVATE KEY-----\nbm90IGEga2V5\n-----END EC PRIVATE KEY-----\n",
			     "not a key", ""};
	const char *names[] = {"a P-384 key", "an RSA key", "DER garbage", "not PEM", "empty"};
	for (size_t i = 0; i < 5; i++) {
		cp_error be = {0};
		int r = cp_login_dpop(bad[i], "http://x/v1/token", 1, NULL, &out, &be);
		tap_ok(r == CP_EINTERACTIVE && strstr(be.msg, "dpopKey"), "dpop: %s refused: %d %s",
		       names[i], r, be.msg);
	}
	free(p384pem);
	free(rsapem);
	EVP_PKEY_free(p384);
	EVP_PKEY_free(rsa);
	EVP_PKEY_free(k);
}

static void s_file(void)
{
	char *path = NULL;
	cp_error e = {0};
	int r = cp_login_token_path("/d/", "abc", &path, &e);
	tap_ok(r == 0 && strcmp(path, "/d/ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad.json") == 0,
	       "path: <dir>/<sha256 hex of the session name>.json: %s", path ? path : e.msg);
	free(path);

	char good[300], link[300], *data = NULL, why[200];
	size_t len;
	snprintf(good, sizeof good, "%s/good.json", s_tmp);
	snprintf(link, sizeof link, "%s/link.json", s_tmp);
	FILE *f = fopen(good, "w");
	fputs("{}", f);
	fclose(f);
	chmod(good, 0600);
	r = cp_login_read_token_file(good, &data, &len, why, sizeof why);
	tap_ok(r == 0 && len == 2, "file: a regular 0600 file of ours is read");
	free(data);
	if (symlink(good, link) != 0)
		tap_diag("symlink: %s", strerror(errno));
	r = cp_login_read_token_file(link, &data, &len, why, sizeof why);
	tap_ok(r < 0 && strstr(why, "symbolic link"), "file: a symbolic link is refused: %s", why);
	chmod(good, 0620);
	r = cp_login_read_token_file(good, &data, &len, why, sizeof why);
	tap_ok(r < 0 && strstr(why, "writable by group"), "file: group-writable refused: %s", why);
	chmod(good, 0602);
	r = cp_login_read_token_file(good, &data, &len, why, sizeof why);
	tap_ok(r < 0 && strstr(why, "others"), "file: world-writable refused: %s", why);
	chmod(good, 0600);
	if (geteuid() == 0) {
		if (chown(good, 65534, 65534) != 0)
			tap_diag("chown: %s", strerror(errno));
		r = cp_login_read_token_file(good, &data, &len, why, sizeof why);
		tap_ok(r < 0 && strstr(why, "owned by uid 65534"), "file: another user's refused: %s", why);
		if (chown(good, 0, 0) != 0)
			tap_diag("chown: %s", strerror(errno));
	} else {
		tap_skip("file: another user's file (needs root to chown)");
	}
	r = cp_login_read_token_file(s_tmp, &data, &len, why, sizeof why);
	tap_ok(r < 0 && strstr(why, "directory"), "file: a directory refused: %s", why);
	snprintf(link, sizeof link, "%s/absent.json", s_tmp);
	errno = 0;
	r = cp_login_read_token_file(link, &data, &len, why, sizeof why);
	tap_ok(r < 0 && errno == ENOENT && !why[0], "file: absent is ENOENT, no reason");
}

static void s_parse_refresh(void)
{
	EVP_PKEY *k = EVP_EC_gen("P-256");
	char *pem = s_pem(k, false);
	char *doc = s_token_json(pem, "2026-12-03T10:00:00Z", NULL);
	cp_login_token t = {0};
	cp_error e = {0};
	int r = cp_login_token_parse(doc, strlen(doc), &t, &e);
	int64_t want;
	cp_parse_iso8601("2026-12-03T10:00:00Z", &want);
	tap_ok(r == 0 && t.expires_at == want && strcmp(t.account_id, "111122223333") == 0 &&
		       strcmp(t.refresh_token, RT) == 0 && strcmp(t.secret_access_key, SAK) == 0,
	       "parse: the fields botocore reads (%s)", e.msg);
	const char *fields[] = {"accessToken", "refreshToken", "dpopKey", "clientId",
				"accessToken.accessKeyId", "accessToken.secretAccessKey",
				"accessToken.sessionToken", "accessToken.accountId", "accessToken.expiresAt"};
	for (size_t i = 0; i < sizeof fields / sizeof *fields; i++) {
		char *d = s_token_json(pem, "2026-12-03T10:00:00Z", fields[i]);
		cp_login_token x = {0};
		cp_error xe = {0};
		const char *dot = strchr(fields[i], '.');
		int xr = cp_login_token_parse(d, strlen(d), &x, &xe);
		tap_ok(xr == CP_ESOURCE && strstr(xe.msg, dot ? dot + 1 : fields[i]),
		       "parse: without %s: %s", fields[i], xe.msg);
		cp_login_token_free(&x);
		free(d);
	}
	char *d = s_token_json(pem, "soon", NULL);
	cp_login_token x = {0};
	cp_error xe = {0};
	tap_ok(cp_login_token_parse(d, strlen(d), &x, &xe) == CP_ESOURCE && strstr(xe.msg, "expiresAt"),
	       "parse: a bad expiresAt: %s", xe.msg);
	free(d);
	tap_ok(cp_login_token_parse("[1]", 3, &x, &xe) == CP_ESOURCE, "parse: not an object");

	char *body = cp_login_refresh_body(&t);
	tap_ok(body && strcmp(body, "{\"clientId\":\"arn:aws:signin:::devtools/same-device\",\"refreshToken\":\""
				    RT "\",\"grantType\":\"refresh_token\"}") == 0,
	       "body: clientId, refreshToken, grantType refresh_token");
	cp_free_secret(body);

	/* malformed answers leave t as it was */
	const char *badans[] = {
		"{}", "[]", "{\"accessToken\":{\"accessKeyId\":\"A\",\"secretAccessKey\":\"S\"},\"expiresIn\":900,\"refreshToken\":\"R\"}",
		"{\"accessToken\":{\"accessKeyId\":\"A\",\"secretAccessKey\":\"S\",\"sessionToken\":\"T\"},\"expiresIn\":0,\"refreshToken\":\"R\"}",
		"{\"accessToken\":{\"accessKeyId\":\"A\",\"secretAccessKey\":\"S\",\"sessionToken\":\"T\"},\"expiresIn\":900}",
	};
	for (size_t i = 0; i < sizeof badans / sizeof *badans; i++) {
		cp_error be = {0};
		r = cp_login_apply_refresh(&t, badans[i], strlen(badans[i]), 1000, &be);
		tap_ok(r == CP_ESOURCE && be.cause == CP_CAUSE_MALFORMED && strcmp(t.refresh_token, RT) == 0,
		       "answer %zu malformed: %s", i, be.msg);
	}
	const char *ans = "{\"accessToken\":{\"accessKeyId\":\"ASIANEW0000000000002\",\"secretAccessKey\":\"newsecret\","
			  "\"sessionToken\":\"newtoken\"},\"tokenType\":\"aws_sigv4\",\"expiresIn\":900,"
			  "\"refreshToken\":\"" RT2 "\"}";
	r = cp_login_apply_refresh(&t, ans, strlen(ans), 1796000000, &e);
	tap_ok(r == 0 && t.expires_at == 1796000900 && strcmp(t.refresh_token, RT2) == 0 &&
		       strcmp(t.access_key_id, "ASIANEW0000000000002") == 0 &&
		       strcmp(t.account_id, "111122223333") == 0,
	       "answer: applied, expiresAt now + expiresIn, accountId kept (%s)", e.msg);
	char *text = cp_login_token_serialize(&t);
	cJSON *j = text ? cJSON_Parse(text) : NULL;
	const char *order[] = {"accessToken", "tokenType", "clientId", "refreshToken", "idToken",
			       "dpopKey", "customNumber"};
	bool ok = j != NULL;
	const cJSON *c = j ? j->child : NULL;
	for (size_t i = 0; ok && i < 7; i++, c = c->next)
		ok = c && strcmp(c->string, order[i]) == 0;
	ok = ok && !c;
	tap_ok(ok, "rewrite: every member kept, in its place");
	const cJSON *at = cJSON_GetObjectItem(j, "accessToken");
	const char *aorder[] = {"accessKeyId", "secretAccessKey", "sessionToken", "accountId", "expiresAt"};
	ok = at != NULL;
	c = at ? at->child : NULL;
	for (size_t i = 0; ok && i < 5; i++, c = c->next)
		ok = c && strcmp(c->string, aorder[i]) == 0;
	tap_ok(ok && !c && strcmp(cJSON_GetStringValue(cJSON_GetObjectItem(at, "expiresAt")),
				  "2026-11-30T01:08:20Z") == 0,
	       "rewrite: accessToken has botocore's five members, expiresAt as botocore writes it");
	tap_ok(cJSON_GetNumberValue(cJSON_GetObjectItem(j, "customNumber")) == 42 &&
		       strcmp(cJSON_GetStringValue(cJSON_GetObjectItem(j, "refreshToken")), RT2) == 0 &&
		       strcmp(cJSON_GetStringValue(cJSON_GetObjectItem(j, "dpopKey")), pem) == 0,
	       "rewrite: the new refresh token, the key and unknown members kept");
	cJSON_Delete(j);
	cp_free_secret(text);
	cp_login_token_free(&t);
	free(doc);
	free(pem);
	EVP_PKEY_free(k);
}

static void s_errors(void)
{
	struct {
		long st;
		const char *body;
		int want;
		const char *needle;
	} c[] = {
		{401, "{\"error\":\"TOKEN_EXPIRED\",\"message\":\"expired\"}", CP_EINTERACTIVE, "aws login --profile console"},
		{403, "{\"error\":\"USER_CREDENTIALS_CHANGED\",\"message\":\"changed\"}", CP_EINTERACTIVE, "aws login --profile console"},
		{403, "{\"__type\":\"AccessDeniedException\",\"error\":\"INSUFFICIENT_PERMISSIONS\",\"message\":\"no\"}", CP_EREFUSED, "INSUFFICIENT_PERMISSIONS"},
		{400, "{\"error\":\"INVALID_REQUEST\",\"message\":\"bad\"}", CP_EREFUSED, "INVALID_REQUEST"},
		{429, "{\"error\":\"INVALID_REQUEST\",\"message\":\"slow down\"}", CP_ETRANSPORT, "429"},
		{500, "{\"error\":\"server_error\",\"message\":\"oops\"}", CP_ETRANSPORT, "500"},
		{503, "", CP_ETRANSPORT, "503"},
		{302, "", CP_ESOURCE, "302"},
		{401, "{\"error\":\"TOKEN_EXPIRED\",\"message\":\"token " RT " is old\"}", CP_EINTERACTIVE, "TOKEN_EXPIRED"},
	};
	const char *secrets[] = {RT};
	for (size_t i = 0; i < sizeof c / sizeof *c; i++) {
		cp_error e = {0};
		int r = cp_login_refresh_error(c[i].st, c[i].body, strlen(c[i].body), "the sign-in service",
					       "run `aws login --profile console`", secrets, 1, &e);
		tap_ok(r == c[i].want && e.status == r && strstr(e.msg, c[i].needle) && !strstr(e.msg, RT) &&
			       e.remote.http_status == c[i].st,
		       "error %ld %s -> %d: %s", c[i].st, c[i].body, r, e.msg);
	}
}

static void s_endpoint(void)
{
	struct {
		const char *region, *fips, *ds, *want;
	} c[] = {
		{"us-east-1", NULL, NULL, "https://us-east-1.signin.aws.amazon.com"},
		{"cn-north-1", NULL, NULL, "https://cn-north-1.signin.amazonaws.cn"},
		{"us-gov-west-1", NULL, NULL, "https://us-gov-west-1.signin.amazonaws-us-gov.com"},
		{"us-east-1", "true", NULL, "https://signin-fips.us-east-1.amazonaws.com"},
		{"us-east-1", NULL, "true", "https://signin.us-east-1.api.aws"},
		{"us-east-1", "true", "true", "https://signin-fips.us-east-1.api.aws"},
	};
	for (size_t i = 0; i < sizeof c / sizeof *c; i++) {
		char *url = NULL;
		const char *src = NULL;
		cp_error e = {0};
		if (c[i].fips)
			setenv("AWS_USE_FIPS_ENDPOINT", c[i].fips, 1);
		if (c[i].ds)
			setenv("AWS_USE_DUALSTACK_ENDPOINT", c[i].ds, 1);
		int r = cp_signin_endpoint(NULL, NULL, c[i].region, &url, &src, &e);
		tap_ok(r == 0 && strcmp(url, c[i].want) == 0, "endpoint %s fips=%s dualstack=%s: %s",
		       c[i].region, c[i].fips ? c[i].fips : "-", c[i].ds ? c[i].ds : "-", url ? url : e.msg);
		free(url);
		unsetenv("AWS_USE_FIPS_ENDPOINT");
		unsetenv("AWS_USE_DUALSTACK_ENDPOINT");
	}
	char *url = NULL;
	const char *src = NULL;
	cp_error e = {0};
	tap_ok(cp_signin_endpoint(NULL, NULL, NULL, &url, &src, &e) == CP_ECONFIG && strstr(e.msg, "region"),
	       "endpoint: no region: %s", e.msg);
	setenv("AWS_ENDPOINT_URL_SIGNIN", "http://127.0.0.1:9/", 1);
	int r = cp_signin_endpoint(NULL, NULL, NULL, &url, &src, &e);
	tap_ok(r == 0 && strcmp(url, "http://127.0.0.1:9") == 0 && strcmp(src, "AWS_ENDPOINT_URL_SIGNIN") == 0,
	       "endpoint: AWS_ENDPOINT_URL_SIGNIN, trailing '/' dropped");
	free(url);
	setenv("AWS_USE_FIPS_ENDPOINT", "true", 1);
	tap_ok(cp_signin_endpoint(NULL, NULL, "us-east-1", &url, &src, &e) == CP_ECONFIG,
	       "endpoint: FIPS with a custom endpoint is refused, as the rule set says");
	unsetenv("AWS_USE_FIPS_ENDPOINT");
	setenv("AWS_ENDPOINT_URL_SIGNIN", "ftp://x", 1);
	tap_ok(cp_signin_endpoint(NULL, NULL, "us-east-1", &url, &src, &e) == CP_ECONFIG,
	       "endpoint: a bad URL is refused: %s", e.msg);
	unsetenv("AWS_ENDPOINT_URL_SIGNIN");
}

static void s_whole(void)
{
	EVP_PKEY *k = EVP_EC_gen("P-256");
	char *pem = s_pem(k, false), *path = NULL, dir[300];
	snprintf(dir, sizeof dir, "%s/login-cache", s_tmp);
	mkdir(dir, 0700);
	int64_t exp = 0;
	cp_parse_iso8601("2026-11-29T10:00:00Z", &exp);
	cp_login_options o = {.profile = "console", .session_name = "alice", .token_dir = dir,
			      .now = exp - 3600};
	cp_creds c = {0};
	cp_error e = {0};
	int r = cp_login_get_credentials(&o, &c, &e);
	tap_ok(r == CP_EINTERACTIVE && strstr(e.msg, "`aws login --profile console`"),
	       "source: no token file -> 6 with the aws login line: %s", e.msg);
	char *doc = s_token_json(pem, "2026-11-29T10:00:00Z", NULL);
	cp_login_token_path(dir, "alice", &path, &e);
	int fd = open(path, O_CREAT | O_WRONLY | O_TRUNC, 0600);
	tap_ok(fd >= 0 && write(fd, doc, strlen(doc)) == (ssize_t)strlen(doc) && close(fd) == 0,
	       "source: token file written");
	cp_error_clear(&e);
	r = cp_login_get_credentials(&o, &c, &e);
	tap_ok(r == 0 && strcmp(c.access_key_id, "ASIALOGIN00000000001") == 0 &&
		       strcmp(c.account_id, "111122223333") == 0 && c.expiration == exp,
	       "source: a token with hours left is used as it is, no endpoint needed (%s)", e.msg);
	cp_creds_clear(&c);
	o.now = exp - 200; /* 200 s left: a refresh is due, no endpoint known */
	cp_error why = {0};
	cp_error_set(&why, CP_ECONFIG, "the sign-in service needs a region");
	o.endpoint_error = &why;
	r = cp_login_get_credentials(&o, &c, &e);
	tap_ok(r == 0 && c.access_key_id, "source: refresh impossible, 200 s left: the current ones, a warning");
	cp_creds_clear(&c);
	o.now = exp + 10;
	r = cp_login_get_credentials(&o, &c, &e);
	tap_ok(r == CP_ECONFIG && strstr(e.msg, "region"), "source: expired, no endpoint: %d %s", r, e.msg);
	free(doc);
	free(path);
	free(pem);
	EVP_PKEY_free(k);
}

int main(void)
{
	snprintf(s_tmp, sizeof s_tmp, "/tmp/test-login-XXXXXX");
	if (!mkdtemp(s_tmp)) {
		printf("Bail out! mkdtemp: %s\n", strerror(errno));
		return 1;
	}
	unsetenv("AWS_ENDPOINT_URL");
	unsetenv("AWS_ENDPOINT_URL_SIGNIN");
	unsetenv("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS");
	unsetenv("AWS_USE_FIPS_ENDPOINT");
	unsetenv("AWS_USE_DUALSTACK_ENDPOINT");
	s_dpop();
	s_file();
	s_parse_refresh();
	s_errors();
	s_endpoint();
	s_whole();
	nftw(s_tmp, s_rm, 16, FTW_DEPTH | FTW_PHYS);
	return tap_done();
}
