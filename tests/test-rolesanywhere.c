/* test-rolesanywhere.c - the IAM Roles Anywhere request and answer
 * (rolesanywhere.c): certificates, the canonical request and string to sign
 * byte for byte at a fixed time, the X.509 signature, the answer and the
 * error shapes. Keys and certificates are generated here. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <openssl/bn.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "config.h"
#include "keystore.h"
#include "resolve.h"
#include "rolesanywhere.h"
#include "tap.h"

#define TA "arn:aws:rolesanywhere:eu-west-2:123456789012:trust-anchor/ta-1"
#define PR "arn:aws:rolesanywhere:eu-west-2:123456789012:profile/p-1"
#define ROLE "arn:aws:iam::123456789012:role/ra-host"
#define T0 1700000000 /* 2023-11-14T22:13:20Z */

static char s_dir[] = "/tmp/test-ra-XXXXXX";

static char *s_path(const char *name)
{
	return cp_asprintf("%s/%s", s_dir, name);
}

static EVP_PKEY *s_key(bool rsa)
{
	return rsa ? EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048)
		   : EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
}

/* A certificate of key k with serial `serial` (decimal), signed by
 * itself, written as PEM (or DER) to name. */
static X509 *s_cert(EVP_PKEY *k, const char *serial, const char *name, bool der)
{
	X509 *x = X509_new();
	BIGNUM *bn = NULL;
	BN_dec2bn(&bn, serial);
	BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x));
	BN_free(bn);
	X509_set_version(x, 2);
	X509_gmtime_adj(X509_getm_notBefore(x), -3600);
	X509_gmtime_adj(X509_getm_notAfter(x), 86400);
	X509_NAME *n = X509_get_subject_name(x);
	X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC, (const unsigned char *)"ra-test", -1, -1, 0);
	X509_set_issuer_name(x, n);
	X509_set_pubkey(x, k);
	X509_sign(x, k, EVP_sha256());
	char *p = s_path(name);
	FILE *f = fopen(p, "wb");
	if (der)
		i2d_X509_fp(f, x);
	else
		PEM_write_X509(f, x);
	fclose(f);
	free(p);
	return x;
}

static char *s_b64(X509 *x)
{
	unsigned char *der = NULL;
	int n = i2d_X509(x, &der);
	char *out = malloc(((size_t)n + 2) / 3 * 4 + 1);
	EVP_EncodeBlock((unsigned char *)out, der, n);
	OPENSSL_free(der);
	return out;
}

static void s_sha256_hex(const void *d, size_t n, char out[65])
{
	unsigned char md[32];
	unsigned int len = 0;
	EVP_Digest(d, n, md, &len, EVP_sha256(), NULL);
	for (int i = 0; i < 32; i++)
		snprintf(out + 2 * i, 3, "%02x", md[i]);
}

static int s_sign(void *ctx, const void *data, size_t len, unsigned char **sig, size_t *siglen,
		  cp_error *err)
{
	return cp_key_sign_sha256(ctx, data, len, sig, siglen, err);
}

/* The signature hex of an Authorization value verifies over sts with k. */
static bool s_verifies(EVP_PKEY *k, const char *authz, const char *sts)
{
	const char *h = strstr(authz, "Signature=");
	if (!h)
		return false;
	h += 10;
	size_t n = strlen(h) / 2;
	unsigned char *sig = malloc(n);
	for (size_t i = 0; i < n; i++)
		sscanf(h + 2 * i, "%2hhx", &sig[i]);
	EVP_MD_CTX *c = EVP_MD_CTX_new();
	bool ok = EVP_DigestVerifyInit(c, NULL, EVP_sha256(), NULL, k) == 1 &&
		  EVP_DigestVerify(c, sig, n, (const unsigned char *)sts, strlen(sts)) == 1;
	EVP_MD_CTX_free(c);
	free(sig);
	return ok;
}

static const char *s_header(const cp_ra_request *q, const char *name)
{
	for (size_t i = 0; i < q->nheaders; i++)
		if (strcasecmp(q->headers[i].name, name) == 0)
			return q->headers[i].value;
	return NULL;
}

static void test_request(bool rsa)
{
	const char *kind = rsa ? "RSA" : "EC";
	EVP_PKEY *k = s_key(rsa);
	X509 *x = s_cert(k, "340282366920938463463374607431768211455", "leaf.pem", false);
	cp_ra_certs c = {0};
	cp_error err = {0};
	char *leaf = s_path("leaf.pem");
	int r = cp_ra_certs_load(leaf, NULL, &c, &err);
	tap_ok(r == 0, "%s: the certificate loads (%s)", kind, err.msg);
	tap_ok(c.serial && strcmp(c.serial, "340282366920938463463374607431768211455") == 0,
	       "%s: the serial in decimal (%s)", kind, c.serial ? c.serial : "(none)");
	tap_ok(strcmp(c.algorithm, rsa ? "AWS4-X509-RSA-SHA256" : "AWS4-X509-ECDSA-SHA256") == 0,
	       "%s: the algorithm %s", kind, c.algorithm);
	char *b64 = s_b64(x);
	tap_ok(c.leaf_b64 && strcmp(c.leaf_b64, b64) == 0, "%s: X-Amz-X509 is the base64 DER", kind);

	cp_ra_options o = {
		.trust_anchor_arn = TA,
		.profile_arn = PR,
		.role_arn = ROLE,
		.region = "eu-west-2",
		.endpoint = "https://rolesanywhere.eu-west-2.amazonaws.com",
	};
	cp_ra_request q = {0};
	r = cp_ra_request_build(&o, &c, T0, s_sign, k, &q, &err);
	tap_ok(r == 0, "%s: the request is built (%s)", kind, err.msg);
	const char *body = "{\"durationSeconds\":3600}";
	char bh[65], ch[65];
	s_sha256_hex(body, strlen(body), bh);
	tap_ok(q.body && strcmp(q.body, body) == 0, "%s: the body %s", kind, q.body);
	tap_ok(q.url && strcmp(q.url, "https://rolesanywhere.eu-west-2.amazonaws.com/sessions"
			   "?profileArn=arn%3Aaws%3Arolesanywhere%3Aeu-west-2%3A123456789012%3Aprofile%2Fp-1"
			   "&roleArn=arn%3Aaws%3Aiam%3A%3A123456789012%3Arole%2Fra-host"
			   "&trustAnchorArn=arn%3Aaws%3Arolesanywhere%3Aeu-west-2%3A123456789012%3Atrust-anchor%2Fta-1") == 0,
	       "%s: the URL carries the ARNs in the query", kind);
	char *creq = cp_asprintf(
		"POST\n/sessions\n"
		"profileArn=arn%%3Aaws%%3Arolesanywhere%%3Aeu-west-2%%3A123456789012%%3Aprofile%%2Fp-1"
		"&roleArn=arn%%3Aaws%%3Aiam%%3A%%3A123456789012%%3Arole%%2Fra-host"
		"&trustAnchorArn=arn%%3Aaws%%3Arolesanywhere%%3Aeu-west-2%%3A123456789012%%3Atrust-anchor%%2Fta-1\n"
		"content-type:application/json\n"
		"host:rolesanywhere.eu-west-2.amazonaws.com\n"
		"x-amz-date:20231114T221320Z\n"
		"x-amz-x509:%s\n"
		"\n"
		"content-type;host;x-amz-date;x-amz-x509\n"
		"%s", b64, bh);
	tap_ok(q.sig.canonical_request && strcmp(q.sig.canonical_request, creq) == 0,
	       "%s: the canonical request, byte for byte", kind);
	s_sha256_hex(creq, strlen(creq), ch);
	char *sts = cp_asprintf("%s\n20231114T221320Z\n20231114/eu-west-2/rolesanywhere/aws4_request\n%s",
				c.algorithm, ch);
	tap_ok(q.sig.string_to_sign && strcmp(q.sig.string_to_sign, sts) == 0,
	       "%s: the string to sign, byte for byte", kind);
	char *authz = cp_asprintf("%s Credential=340282366920938463463374607431768211455/20231114/"
				  "eu-west-2/rolesanywhere/aws4_request, "
				  "SignedHeaders=content-type;host;x-amz-date;x-amz-x509, Signature=",
				  c.algorithm);
	const char *a = s_header(&q, "Authorization");
	tap_ok(a && strncmp(a, authz, strlen(authz)) == 0, "%s: the Authorization header: %.120s",
	       kind, a ? a : "(none)");
	tap_ok(a && s_verifies(k, a, sts), "%s: its signature verifies with the certificate's key",
	       kind);
	tap_ok(s_header(&q, "X-Amz-Date") && strcmp(s_header(&q, "X-Amz-Date"), "20231114T221320Z") == 0,
	       "%s: X-Amz-Date is sent", kind);
	tap_ok(s_header(&q, "Host") && strcmp(s_header(&q, "Host"), "rolesanywhere.eu-west-2.amazonaws.com") == 0,
	       "%s: Host is sent", kind);
	tap_ok(!s_header(&q, "X-Amz-X509-Chain"), "%s: no chain header without a chain", kind);
	cp_ra_request_free(&q);

	/* Bounds of the duration. */
	o.duration_seconds = 899;
	tap_ok(cp_ra_request_build(&o, &c, T0, s_sign, k, &q, &err) == CP_ECONFIG,
	       "%s: 899 s is refused", kind);
	o.duration_seconds = 43201;
	tap_ok(cp_ra_request_build(&o, &c, T0, s_sign, k, &q, &err) == CP_ECONFIG,
	       "%s: 43201 s is refused", kind);

	free(creq);
	free(sts);
	free(authz);
	free(b64);
	free(leaf);
	cp_ra_certs_free(&c);
	X509_free(x);
	EVP_PKEY_free(k);
}

static void test_chain_and_session_name(void)
{
	EVP_PKEY *k = s_key(false), *ik = s_key(true);
	X509 *x = s_cert(k, "4660", "leaf.der", true);
	X509 *i1 = s_cert(ik, "1", "i1.pem", false), *i2 = s_cert(ik, "2", "i2.pem", false);
	char *p1 = s_path("i1.pem"), *p2 = s_path("i2.pem"), *pc = s_path("chain.pem");
	char *d1 = NULL, *d2 = NULL;
	size_t n1, n2;
	cp_read_file(p1, 65536, &d1, &n1);
	cp_read_file(p2, 65536, &d2, &n2);
	FILE *f = fopen(pc, "w");
	fprintf(f, "%s%s", d1, d2);
	fclose(f);
	char *leaf = s_path("leaf.der");
	cp_ra_certs c = {0};
	cp_error err = {0};
	tap_ok(cp_ra_certs_load(leaf, pc, &c, &err) == 0, "a DER leaf and a PEM chain load (%s)",
	       err.msg);
	char *b1 = s_b64(i1), *b2 = s_b64(i2), *both = cp_asprintf("%s,%s", b1, b2);
	tap_ok(c.nchain == 2 && c.chain_b64 && strcmp(c.chain_b64, both) == 0,
	       "the chain header: base64 DER of each, comma-separated");
	tap_ok(strcmp(c.serial, "4660") == 0, "the serial of a DER certificate");
	cp_ra_options o = {.trust_anchor_arn = TA, .profile_arn = PR, .role_arn = ROLE,
			   .region = "eu-west-2", .endpoint = "http://127.0.0.1:8080",
			   .session_name = "build-42", .duration_seconds = 900};
	cp_ra_request q = {0};
	tap_ok(cp_ra_request_build(&o, &c, T0, s_sign, k, &q, &err) == 0, "built (%s)", err.msg);
	tap_ok(strcmp(q.body, "{\"durationSeconds\":900,\"roleSessionName\":\"build-42\"}") == 0,
	       "the body with a session name: %s", q.body);
	tap_ok(strstr(q.sig.canonical_request, "\nhost:127.0.0.1:8080\n") != NULL,
	       "a non-default port is part of Host");
	tap_ok(strstr(q.sig.canonical_request, both) != NULL &&
	       strstr(q.sig.canonical_request, "content-type;host;x-amz-date;x-amz-x509;x-amz-x509-chain\n"),
	       "the chain header is signed");
	cp_ra_request_free(&q);
	cp_ra_certs_free(&c);

	/* Files that are not there or not certificates. */
	char *absent = s_path("absent.pem");
	tap_ok(cp_ra_certs_load(absent, NULL, &c, &err) == CP_ESOURCE && strstr(err.msg, "absent.pem"),
	       "a missing certificate is CP_ESOURCE naming it: %s", err.msg);
	tap_ok(cp_ra_certs_load(leaf, absent, &c, &err) == CP_ESOURCE && strstr(err.msg, "chain"),
	       "a missing chain is CP_ESOURCE: %s", err.msg);
	tap_ok(cp_ra_certs_load(p1, NULL, &c, &err) == 0,
	       "an RSA certificate loads");
	cp_ra_certs_free(&c);
	char *junk = s_path("junk.pem");
	f = fopen(junk, "w");
	fputs("not a certificate\n", f);
	fclose(f);
	tap_ok(cp_ra_certs_load(junk, NULL, &c, &err) == CP_ECONFIG, "junk is no certificate: %s",
	       err.msg);
	tap_ok(cp_ra_certs_load(leaf, junk, &c, &err) == CP_ECONFIG, "junk is no chain: %s", err.msg);

	free(absent);
	free(junk);
	free(b1);
	free(b2);
	free(both);
	free(d1);
	free(d2);
	free(p1);
	free(p2);
	free(pc);
	free(leaf);
	X509_free(x);
	X509_free(i1);
	X509_free(i2);
	EVP_PKEY_free(k);
	EVP_PKEY_free(ik);
}

static void test_response(void)
{
	cp_creds c = {0};
	cp_error err = {0};
	const char *good =
		"{\"credentialSet\":[{\"assumedRoleUser\":{\"arn\":\"a\",\"assumedRoleId\":\"b\"},"
		"\"credentials\":{\"accessKeyId\":\"ASIAEXAMPLE\",\"secretAccessKey\":\"sek\","
		"\"sessionToken\":\"tok\",\"expiration\":\"2023-11-14T23:13:20Z\"},"
		"\"packedPolicySize\":0,\"roleArn\":\"r\",\"sourceIdentity\":\"s\"}],"
		"\"subjectArn\":\"x\"}";
	tap_ok(cp_ra_parse_response(good, strlen(good), &c, &err) == 0 &&
	       strcmp(c.access_key_id, "ASIAEXAMPLE") == 0 && strcmp(c.secret_access_key, "sek") == 0 &&
	       strcmp(c.session_token, "tok") == 0 && c.expiration == T0 + 3600,
	       "credentialSet[0].credentials parsed (%s)", err.msg);
	cp_creds_clear(&c);
	const char *bad[] = {
		"", "[]", "{}", "{\"credentialSet\":[]}", "{\"credentialSet\":{}}",
		"{\"credentialSet\":[{\"credentials\":{\"accessKeyId\":\"A\",\"secretAccessKey\":\"s\","
		"\"expiration\":\"2023-11-14T23:13:20Z\"}}]}",
		"{\"credentialSet\":[{\"credentials\":{\"accessKeyId\":\"A\",\"secretAccessKey\":\"s\","
		"\"sessionToken\":\"t\",\"expiration\":1700000000}}]}",
		"{\"credentialSet\":[{\"credentials\":{\"accessKeyId\":\"A\",\"secretAccessKey\":\"s\","
		"\"sessionToken\":\"t\",\"expiration\":\"tomorrow\"}}]}",
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		int r = cp_ra_parse_response(bad[i], strlen(bad[i]), &c, &err);
		tap_ok(r == CP_ESOURCE && err.cause == CP_CAUSE_MALFORMED, "malformed answer %zu: %s", i,
		       err.msg);
	}

	/* Errors: status, code from x-amzn-ErrorType or the body, message. */
	const char *m = "{\"message\":\"Untrusted signing certificate\"}";
	int r = cp_ra_error("RA", 403, "AccessDeniedException:http://internal.amazon.com/", m,
			    strlen(m), &err);
	tap_ok(r == CP_EREFUSED && err.cause == CP_CAUSE_REFUSED &&
	       strcmp(err.remote.code, "AccessDeniedException") == 0 && err.remote.http_status == 403 &&
	       strcmp(err.msg, "RA: CreateSession answered 403 AccessDeniedException: Untrusted "
			       "signing certificate") == 0, "403: %s", err.msg);
	m = "{\"__type\":\"com.amazonaws#ResourceNotFoundException\",\"message\":\"Trust anchor not found\"}";
	r = cp_ra_error("RA", 404, "", m, strlen(m), &err);
	tap_ok(r == CP_EREFUSED && strcmp(err.remote.code, "ResourceNotFoundException") == 0,
	       "404 with the code in the body: %s", err.msg);
	m = "{\"message\":\"1 validation error detected\"}";
	r = cp_ra_error("RA", 400, "ValidationException", m, strlen(m), &err);
	tap_ok(r == CP_EREFUSED && strstr(err.msg, "ValidationException"), "400: %s", err.msg);
	r = cp_ra_error("RA", 500, "", "oops", 4, &err);
	tap_ok(r == CP_ETRANSPORT && err.cause == CP_CAUSE_SERVER, "500 is a transport failure: %s",
	       err.msg);
	r = cp_ra_error("RA", 429, "ThrottlingException", "{}", 2, &err);
	tap_ok(r == CP_ETRANSPORT && err.cause == CP_CAUSE_THROTTLED, "429 is throttling: %s", err.msg);
	m = "{\"message\":\"bad\\u001b[31m text\"}";
	r = cp_ra_error("RA", 403, "AccessDeniedException", m, strlen(m), &err);
	tap_ok(!strchr(err.msg, '\x1b'), "server text is cleaned: %s", err.msg);
}

/* Resolution: the source, its region, the keys it names when missing. */
static void test_resolve(void)
{
	static const char ini[] =
		"[profile ra]\n"
		"credproc_rolesanywhere_certificate = /c.pem\n"
		"credproc_rolesanywhere_private_key = /k.pem\n"
		"credproc_rolesanywhere_trust_anchor_arn = " TA "\n"
		"credproc_rolesanywhere_profile_arn = " PR "\n"
		"credproc_rolesanywhere_role_arn = " ROLE "\n"
		"credproc_rolesanywhere_session_duration = 7200\n"
		"[profile ra-region]\n"
		"region = eu-west-1\n"
		"credproc_rolesanywhere_certificate = /c.pem\n"
		"credproc_rolesanywhere_private_key = /k.pem\n"
		"credproc_rolesanywhere_trust_anchor_arn = " TA "\n"
		"credproc_rolesanywhere_profile_arn = " PR "\n"
		"credproc_rolesanywhere_role_arn = " ROLE "\n"
		"[profile next]\nrole_arn = arn:aws:iam::1:role/n\nsource_profile = ra\n"
		"[profile half]\ncredproc_rolesanywhere_certificate = /c.pem\n"
		"credproc_rolesanywhere_role_arn = " ROLE "\n"
		"[profile bad-duration]\ncredproc_rolesanywhere_certificate = /c.pem\n"
		"credproc_rolesanywhere_private_key = /k.pem\n"
		"credproc_rolesanywhere_trust_anchor_arn = " TA "\n"
		"credproc_rolesanywhere_profile_arn = " PR "\n"
		"credproc_rolesanywhere_role_arn = " ROLE "\n"
		"credproc_rolesanywhere_session_duration = 60\n";
	cp_config cfg;
	cp_error err = {0};
	cp_chain c = {0};
	cp_config_init(&cfg);
	tap_ok(cp_config_parse(&cfg, ini, strlen(ini), CP_FILE_CONFIG, "(test)", &err) == 0,
	       "config parsed (%s)", err.msg);
	int r = cp_resolve(&cfg, "ra", NULL, &c, &err);
	const cp_ra_source *ra = cp_source_as_rolesanywhere(c.base);
	tap_ok(r == 0 && ra && c.nsteps == 0 && strcmp(ra->region, "eu-west-2") == 0 &&
	       ra->duration_seconds == 7200 && strcmp(ra->v[CP_RA_ROLE_ARN], ROLE) == 0,
	       "a Roles Anywhere profile: the source, the trust anchor's region (%s)", err.msg);
	tap_ok(c.base && c.base->ops->temporary && !c.base->ops->calls_sts &&
	       strcmp(c.base->ops->kind, "Roles Anywhere") == 0, "temporary, calls no STS");
	cp_chain_free(&c);
	r = cp_resolve(&cfg, "ra-region", NULL, &c, &err);
	ra = cp_source_as_rolesanywhere(c.base);
	tap_ok(r == 0 && ra && strcmp(ra->region, "eu-west-1") == 0, "the profile's region wins");
	cp_chain_free(&c);
	r = cp_resolve(&cfg, "next", NULL, &c, &err);
	tap_ok(r == 0 && cp_source_as_rolesanywhere(c.base) && c.nsteps == 1,
	       "the root of a role chain (%s)", err.msg);
	cp_chain_free(&c);
	r = cp_resolve(&cfg, "half", NULL, &c, &err);
	tap_ok(r == CP_ECONFIG && strstr(err.msg, "credproc_rolesanywhere_private_key") &&
	       strstr(err.msg, "credproc_rolesanywhere_trust_anchor_arn") &&
	       strstr(err.msg, "credproc_rolesanywhere_profile_arn") &&
	       !strstr(err.msg, "credproc_rolesanywhere_role_arn"),
	       "the missing keys are named: %s", err.msg);
	r = cp_resolve(&cfg, "bad-duration", NULL, &c, &err);
	tap_ok(r == CP_ECONFIG && strstr(err.msg, "session_duration"), "a bad duration: %s", err.msg);
	cp_role_flags fl = {0};
	fl.rolesanywhere[CP_RA_CERTIFICATE] = "/other.pem";
	fl.rolesanywhere[CP_RA_SESSION_NAME] = "x";
	r = cp_resolve(&cfg, "ra", &fl, &c, &err);
	tap_ok(r == CP_ECONFIG && strstr(err.msg, "session_name"), "a one-letter session name: %s",
	       err.msg);
	fl.rolesanywhere[CP_RA_SESSION_NAME] = "ok-name";
	r = cp_resolve(&cfg, "ra", &fl, &c, &err);
	ra = cp_source_as_rolesanywhere(c.base);
	tap_ok(r == 0 && ra && strcmp(ra->v[CP_RA_CERTIFICATE], "/other.pem") == 0 &&
	       strcmp(ra->v[CP_RA_PRIVATE_KEY], "/k.pem") == 0, "a flag overrides the profile's key");
	cp_chain_free(&c);
	r = cp_resolve(&cfg, "no-such-profile", &fl, &c, &err);
	tap_ok(r == CP_ECONFIG && strstr(err.msg, "missing"), "flags alone must be complete: %s",
	       err.msg);
	cp_config_free(&cfg);
}

int main(void)
{
	if (!mkdtemp(s_dir)) {
		perror("mkdtemp");
		return 1;
	}
	test_request(true);
	test_request(false);
	test_chain_and_session_name();
	test_response();
	test_resolve();
	char *cmd = cp_asprintf("rm -rf '%s'", s_dir);
	if (system(cmd) != 0)
		fprintf(stderr, "cannot remove %s\n", s_dir);
	free(cmd);
	return tap_done();
}
