/* test-keystore.c - cp_key_load and cp_key_sign_sha256: RSA and EC keys in
 * PEM (PKCS#1, PKCS#8, SEC1) and DER files sign, and the signature verifies
 * with the public key; encrypted keys, certificates, garbage, other key
 * types are refused. Then a SoftHSM2 token (PKCS#11) and an swtpm TPM 2.0,
 * both set up here in a temporary directory by tests/keys/mk-*.sh. Every
 * key is generated at test time. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <netinet/in.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <openssl/bio.h>
#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>

#include "keystore.h"
#include "tap.h"
#include "util.h"

static char s_dir[] = "/tmp/cp-test-keystore-XXXXXX";

static double s_ms(const struct timespec *a, const struct timespec *b)
{
	return (double)(b->tv_sec - a->tv_sec) * 1e3 + (double)(b->tv_nsec - a->tv_nsec) / 1e6;
}

static char *s_path(const char *name)
{
	return cp_asprintf("%s/%s", s_dir, name);
}

/* Writes what the callback puts into a memory BIO to dir/name. */
static char *s_write_bio(const char *name, BIO *b)
{
	char *path = s_path(name);
	char *p = NULL;
	long n = BIO_get_mem_data(b, &p);
	FILE *f = fopen(path, "wb");
	if (!f || (n > 0 && fwrite(p, 1, (size_t)n, f) != (size_t)n) || fclose(f) != 0) {
		perror(path);
		exit(1);
	}
	BIO_free(b);
	return path;
}

static char *s_write_text(const char *name, const char *text)
{
	BIO *b = BIO_new(BIO_s_mem());
	BIO_puts(b, text);
	return s_write_bio(name, b);
}

/* Whether sig (from cp_key_sign_sha256) verifies under pub's public key. */
static bool s_verifies(EVP_PKEY *pub, const void *data, size_t len, const unsigned char *sig,
		       size_t siglen)
{
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	EVP_PKEY_CTX *pctx = NULL;
	bool ok = EVP_DigestVerifyInit_ex(md, &pctx, "SHA256", NULL, NULL, pub, NULL) == 1;
	if (ok && EVP_PKEY_is_a(pub, "RSA"))
		ok = EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PADDING) == 1;
	ok = ok && EVP_DigestVerify(md, sig, siglen, data, len) == 1;
	EVP_MD_CTX_free(md);
	ERR_clear_error();
	return ok;
}

/* Loads o->key, signs, verifies with pub (when not NULL). Returns the load
 * status; *ret_ms the time of load + sign. */
static int s_load_sign_verify(const cp_key_options *o, EVP_PKEY *pub, const char *what,
			      double *ret_ms)
{
	static const char msg[] = "AWS4-X509-ECDSA-SHA256\n20261203T120000Z\nscope\nhash";
	cp_error err = {0};
	EVP_PKEY *k = NULL;
	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	int r = cp_key_load(o, &k, &err);
	if (r) {
		tap_ok(0, "%s: loads (%d: %s)", what, r, err.msg);
		return r;
	}
	unsigned char *sig = NULL;
	size_t siglen = 0;
	int s = cp_key_sign_sha256(k, msg, sizeof msg - 1, &sig, &siglen, &err);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	if (ret_ms)
		*ret_ms = s_ms(&t0, &t1);
	tap_ok(s == 0 && sig && siglen > 0, "%s: loads and signs (%s)", what, s ? err.msg : "ok");
	if (pub)
		tap_ok(s == 0 && s_verifies(pub, msg, sizeof msg - 1, sig, siglen),
		       "%s: the signature verifies with the public key", what);
	free(sig);
	EVP_PKEY_free(k);
	return 0;
}

/* cp_key_load of key refused with status, its message containing want. */
static void s_refused(const char *key, int status, const char *want, const char *what)
{
	cp_key_options o = {.key = key};
	cp_error err = {0};
	EVP_PKEY *k = NULL;
	int r = cp_key_load(&o, &k, &err);
	tap_ok(r == status && !k && strstr(err.msg, want), "%s: refused with %d, '%s' (got %d: %s)",
	       what, status, want, r, err.msg);
	EVP_PKEY_free(k);
}

static EVP_PKEY *s_keygen_ec(const char *curve)
{
	return EVP_PKEY_Q_keygen(NULL, NULL, "EC", curve);
}

static void s_test_pem(void)
{
	EVP_PKEY *rsa = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
	EVP_PKEY *ec = s_keygen_ec("P-256");
	EVP_PKEY *ec384 = s_keygen_ec("P-384");
	EVP_PKEY *ec521 = s_keygen_ec("P-521");
	if (!rsa || !ec || !ec384 || !ec521) {
		tap_ok(0, "key generation");
		return;
	}
	struct {
		const char *name;
		EVP_PKEY *k;
		int form; /* 0 traditional PEM, 1 PKCS#8 PEM, 2 traditional DER, 3 PKCS#8 DER */
		const char *begin;
	} cases[] = {
		{"rsa-pkcs1.pem", rsa, 0, "-----BEGIN RSA PRIVATE KEY-----"},
		{"rsa-pkcs8.pem", rsa, 1, "-----BEGIN PRIVATE KEY-----"},
		{"rsa-pkcs1.der", rsa, 2, NULL},
		{"rsa-pkcs8.der", rsa, 3, NULL},
		{"ec-sec1.pem", ec, 0, "-----BEGIN EC PRIVATE KEY-----"},
		{"ec-pkcs8.pem", ec, 1, "-----BEGIN PRIVATE KEY-----"},
		{"ec-sec1.der", ec, 2, NULL},
		{"ec-pkcs8.der", ec, 3, NULL},
		{"ec384.pem", ec384, 1, "-----BEGIN PRIVATE KEY-----"},
		{"ec521.pem", ec521, 0, "-----BEGIN EC PRIVATE KEY-----"},
	};
	double ms = 0;
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		BIO *b = BIO_new(BIO_s_mem());
		switch (cases[i].form) {
		case 0: PEM_write_bio_PrivateKey_traditional(b, cases[i].k, NULL, NULL, 0, NULL, NULL); break;
		case 1: PEM_write_bio_PrivateKey(b, cases[i].k, NULL, NULL, 0, NULL, NULL); break;
		case 2: i2d_PrivateKey_bio(b, cases[i].k); break;
		case 3: i2d_PKCS8PrivateKey_bio(b, cases[i].k, NULL, NULL, 0, NULL, NULL); break;
		}
		char *p = NULL;
		long n = BIO_get_mem_data(b, &p);
		if (cases[i].begin && (n < 0 || !memmem(p, (size_t)n, cases[i].begin, strlen(cases[i].begin))))
			tap_ok(0, "%s: written as %s", cases[i].name, cases[i].begin);
		char *path = s_write_bio(cases[i].name, b);
		cp_key_options o = {.key = path};
		s_load_sign_verify(&o, cases[i].k, cases[i].name, &ms);
		if (i == 0 || i == 4)
			tap_diag("PEM %s: load + sign %.2f ms", cases[i].name, ms);
		free(path);
	}

	/* A certificate in front of the key (a combined file), and EC
	 * parameters in front (openssl ecparam -genkey). */
	{
		X509 *x = X509_new();
		X509_set_version(x, 2);
		ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
		X509_gmtime_adj(X509_getm_notBefore(x), 0);
		X509_gmtime_adj(X509_getm_notAfter(x), 3600);
		X509_NAME_add_entry_by_txt(X509_get_subject_name(x), "CN", MBSTRING_ASC,
					   (const unsigned char *)"test", -1, -1, 0);
		X509_set_issuer_name(x, X509_get_subject_name(x));
		X509_set_pubkey(x, ec);
		X509_sign(x, ec, EVP_sha256());
		BIO *b = BIO_new(BIO_s_mem());
		PEM_write_bio_X509(b, x);
		char *cert = s_write_bio("cert.pem", b);
		s_refused(cert, CP_ECONFIG, "holds a certificate, not a private key", "a certificate as the key");
		free(cert);
		b = BIO_new(BIO_s_mem());
		PEM_write_bio_X509(b, x);
		BIO_puts(b, "-----BEGIN EC PARAMETERS-----\nBggqhkjOPQMBBw==\n-----END EC PARAMETERS-----\n");
		PEM_write_bio_PrivateKey_traditional(b, ec, NULL, NULL, 0, NULL, NULL);
		char *combined = s_write_bio("combined.pem", b);
		cp_key_options o = {.key = combined};
		s_load_sign_verify(&o, ec, "certificate + EC parameters + key in one file", NULL);
		free(combined);
		X509_free(x);
	}

	/* Encrypted: PKCS#8, and the legacy Proc-Type: 4,ENCRYPTED. */
	{
		BIO *b = BIO_new(BIO_s_mem());
		PEM_write_bio_PKCS8PrivateKey(b, rsa, EVP_aes_256_cbc(), "secret", 6, NULL, NULL);
		char *path = s_write_bio("rsa-enc-pkcs8.pem", b);
		s_refused(path, CP_ECONFIG, "is encrypted: decrypt it", "encrypted PKCS#8");
		free(path);
		b = BIO_new(BIO_s_mem());
		PEM_write_bio_PrivateKey_traditional(b, ec, EVP_aes_256_cbc(), (unsigned char *)"secret", 6, NULL, NULL);
		path = s_write_bio("ec-enc-legacy.pem", b);
		char *text = tap_slurp(path, NULL);
		tap_ok(text && strstr(text, "Proc-Type: 4,ENCRYPTED"), "legacy encrypted PEM written");
		free(text);
		s_refused(path, CP_ECONFIG, "is encrypted: decrypt it", "legacy encrypted PEM (Proc-Type)");
		free(path);
		b = BIO_new(BIO_s_mem());
		i2d_PKCS8PrivateKey_bio(b, ec, EVP_aes_256_cbc(), "secret", 6, NULL, NULL);
		path = s_write_bio("ec-enc-pkcs8.der", b);
		s_refused(path, CP_ECONFIG, "is encrypted: decrypt it", "encrypted PKCS#8 DER");
		free(path);
	}

	/* Missing, garbage, empty, a directory, a public key. */
	{
		char *path = s_path("missing.pem");
		s_refused(path, CP_ESOURCE, "missing.pem", "a missing file");
		free(path);
		path = s_write_text("garbage.pem", "this is not a key\n\x01\x02");
		s_refused(path, CP_ECONFIG, "is not a private key", "garbage");
		free(path);
		path = s_write_text("garbage-pem.pem", "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n");
		s_refused(path, CP_ECONFIG, "not a valid private key", "a broken PEM block");
		free(path);
		path = s_write_text("empty.pem", "");
		s_refused(path, CP_ECONFIG, "is not a private key", "an empty file");
		free(path);
		s_refused(s_dir, CP_ECONFIG, "is a directory", "a directory");
		BIO *b = BIO_new(BIO_s_mem());
		PEM_write_bio_PUBKEY(b, ec);
		path = s_write_bio("pub.pem", b);
		s_refused(path, CP_ECONFIG, "holds no private key", "a public key");
		free(path);
		s_refused("", CP_ECONFIG, "no private key given", "an empty reference");
	}

	/* Other key types: DSA, Ed25519, EC on secp256k1. */
	{
		EVP_PKEY *ed = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
		BIO *b = BIO_new(BIO_s_mem());
		PEM_write_bio_PrivateKey(b, ed, NULL, NULL, 0, NULL, NULL);
		char *path = s_write_bio("ed25519.pem", b);
		s_refused(path, CP_ECONFIG, "only RSA and EC", "an Ed25519 key");
		free(path);
		EVP_PKEY_free(ed);

		EVP_PKEY *k1 = s_keygen_ec("secp256k1");
		b = BIO_new(BIO_s_mem());
		PEM_write_bio_PrivateKey(b, k1, NULL, NULL, 0, NULL, NULL);
		path = s_write_bio("secp256k1.pem", b);
		s_refused(path, CP_ECONFIG, "only P-256, P-384 and P-521", "an EC key on secp256k1");
		free(path);
		EVP_PKEY_free(k1);

		EVP_PKEY_CTX *pc = EVP_PKEY_CTX_new_from_name(NULL, "DSA", NULL);
		EVP_PKEY *params = NULL, *dsa = NULL;
		EVP_PKEY_paramgen_init(pc);
		EVP_PKEY_CTX_set_dsa_paramgen_bits(pc, 1024);
		EVP_PKEY_paramgen(pc, &params);
		EVP_PKEY_CTX_free(pc);
		pc = EVP_PKEY_CTX_new_from_pkey(NULL, params, NULL);
		EVP_PKEY_keygen_init(pc);
		EVP_PKEY_keygen(pc, &dsa);
		EVP_PKEY_CTX_free(pc);
		b = BIO_new(BIO_s_mem());
		PEM_write_bio_PrivateKey(b, dsa, NULL, NULL, 0, NULL, NULL);
		path = s_write_bio("dsa-pkcs8.pem", b);
		s_refused(path, CP_ECONFIG, "only RSA and EC", "a DSA key (PKCS#8)");
		free(path);
		b = BIO_new(BIO_s_mem());
		PEM_write_bio_PrivateKey_traditional(b, dsa, NULL, NULL, 0, NULL, NULL);
		path = s_write_bio("dsa-trad.pem", b);
		s_refused(path, CP_ECONFIG, "DSA PRIVATE KEY", "a DSA key (traditional)");
		free(path);
		EVP_PKEY_free(params);
		EVP_PKEY_free(dsa);
	}
	EVP_PKEY_free(rsa);
	EVP_PKEY_free(ec);
	EVP_PKEY_free(ec384);
	EVP_PKEY_free(ec521);
}

/* A tool or package is missing: a skip, a failure under CI=true. */
static void s_missing(const char *what)
{
	if (tap_ci())
		tap_ok(0, "%s (required under CI=true)", what);
	else
		tap_skip("%s", what);
}

/* Runs a fixture script of tests/keys with dir: its exit status (77: a tool
 * is missing), -1 when it could not run. */
static int s_fixture(const char *script, const char *dir)
{
	char *cmd = cp_asprintf("sh '%s/tests/keys/%s' '%s'", CP_SOURCE_ROOT, script, dir);
	int st = system(cmd);
	free(cmd);
	return st == -1 || !WIFEXITED(st) ? -1 : WEXITSTATUS(st);
}

static EVP_PKEY *s_read_pub_der(const char *path)
{
	size_t n = 0;
	char *der = tap_slurp(path, &n);
	const unsigned char *p = (const unsigned char *)der;
	EVP_PKEY *k = der ? d2i_PUBKEY(NULL, &p, (long)n) : NULL;
	free(der);
	return k;
}

/* cp_key_load + sign + verify in a child process (fresh engine state):
 * the status, the message in msg. */
static int s_in_child(const cp_key_options *o, EVP_PKEY *pub, char *msg, size_t msglen)
{
	int fd[2];
	if (pipe(fd) != 0)
		return -1;
	fflush(stdout);
	pid_t pid = fork();
	if (pid == 0) {
		close(fd[0]);
		cp_error err = {0};
		EVP_PKEY *k = NULL;
		int r = cp_key_load(o, &k, &err);
		if (!r) {
			unsigned char *sig = NULL;
			size_t siglen = 0;
			r = cp_key_sign_sha256(k, "data", 4, &sig, &siglen, &err);
			if (!r && pub && !s_verifies(pub, "data", 4, sig, siglen)) {
				r = 99;
				snprintf(err.msg, sizeof err.msg, "the signature does not verify");
			}
			free(sig);
		}
		EVP_PKEY_free(k);
		/* The status in the pipe too: a checker's exit code (valgrind's,
		 * a sanitizer's) does not change it. */
		char line[16 + sizeof err.msg];
		int n = snprintf(line, sizeof line, "%d %s", r, err.msg);
		if (write(fd[1], line, (size_t)n) < 0)
			_exit(98);
		_exit(r);
	}
	close(fd[1]);
	char line[16 + 1024] = "";
	size_t got = 0;
	ssize_t n;
	while (got + 1 < sizeof line && (n = read(fd[0], line + got, sizeof line - 1 - got)) > 0)
		got += (size_t)n;
	line[got] = '\0';
	close(fd[0]);
	int st = 0;
	waitpid(pid, &st, 0);
	char *end = NULL;
	long r = strtol(line, &end, 10);
	if (end == line)
		return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
	snprintf(msg, msglen, "%s", *end ? end + 1 : "");
	return (int)r;
}

static void s_test_pkcs11(void)
{
	const char *engines = getenv("OPENSSL_ENGINES");
	char *engine = cp_asprintf("%s/pkcs11.so", engines && *engines ? engines
						 : OPENSSL_info(OPENSSL_INFO_ENGINES_DIR));
	struct stat sb;
	bool have_engine = stat(engine, &sb) == 0;
	free(engine);
	if (!have_engine) {
		s_missing("PKCS#11: OpenSSL's pkcs11 engine (libengine-pkcs11-openssl) is not installed");
		return;
	}
	char *dir = s_path("softhsm");
	int st = s_fixture("mk-softhsm.sh", dir);
	if (st == 77) {
		s_missing("PKCS#11: softhsm2 or opensc (pkcs11-tool) is not installed");
		free(dir);
		return;
	}
	if (!tap_ok(st == 0, "PKCS#11: a SoftHSM2 token is set up (mk-softhsm.sh: %d)", st)) {
		free(dir);
		return;
	}
	char *conf = cp_asprintf("%s/softhsm2.conf", dir);
	setenv("SOFTHSM2_CONF", conf, 1);
	char *modfile = cp_asprintf("%s/module", dir);
	char *module = tap_slurp(modfile, NULL);
	cp_trim(module);
	char *pubpath = cp_asprintf("%s/ec.pub.der", dir);
	EVP_PKEY *ec_pub = s_read_pub_der(pubpath);
	free(pubpath);
	pubpath = cp_asprintf("%s/rsa.pub.der", dir);
	EVP_PKEY *rsa_pub = s_read_pub_der(pubpath);
	free(pubpath);
	tap_ok(ec_pub && rsa_pub, "PKCS#11: the public keys are read out of the token");
	/* Static: still reachable from the forked children (valgrind). */
	static char *pin, *bad_pin;
	pin = s_write_text("pin", "1234\n");
	bad_pin = s_write_text("bad-pin", "0000\r\n");
	char msg[1024];
	int r;

	/* Fresh processes: the engine keeps one module per process. */
	{
		/* The engine stays logged in once a PIN was accepted: these first. */
		cp_key_options w = {.key = "pkcs11:token=cp-test;object=ec", .pin_file = bad_pin,
				    .pkcs11_module = module};
		r = s_in_child(&w, NULL, msg, sizeof msg);
		tap_ok(r == CP_ESOURCE && strstr(msg, "the token refused the PIN") &&
		       strstr(msg, "pkcs11:token=cp-test;object=ec"),
		       "PKCS#11: a wrong PIN: 3, 'the token refused the PIN' (%d: %s)", r, msg);
		w.pin_file = NULL;
		r = s_in_child(&w, NULL, msg, sizeof msg);
		tap_ok(r == CP_ECONFIG && strstr(msg, "needs a PIN"),
		       "PKCS#11: no PIN given: 2, never a prompt (%d: %s)", r, msg);
		cp_key_options o = {.key = "pkcs11:token=cp-test;object=ec;type=private", .pin_file = pin};
		r = s_in_child(&o, ec_pub, msg, sizeof msg);
		if (stat("/usr/share/p11-kit/modules/softhsm2.module", &sb) == 0)
			tap_ok(r == 0, "PKCS#11: no module given: p11-kit's proxy finds the SoftHSM2 token (%d: %s)",
			       r, msg);
		else
			s_missing("PKCS#11: softhsm2 is not registered with p11-kit");
		o.pkcs11_module = "/nonexistent/libpkcs11-none.so";
		r = s_in_child(&o, NULL, msg, sizeof msg);
		tap_ok(r == CP_ECONFIG && strstr(msg, "/nonexistent/libpkcs11-none.so"),
		       "PKCS#11: a missing module: 2, named (%d: %s)", r, msg);
		char *uri = cp_asprintf("pkcs11:token=cp-test;object=rsa?module-path=%s&pin-value=1234", module);
		cp_key_options u = {.key = uri};
		r = s_in_child(&u, rsa_pub, msg, sizeof msg);
		tap_ok(r == 0, "PKCS#11: the URI's module-path and pin-value (%d: %s)", r, msg);
		free(uri);
		uri = cp_asprintf("pkcs11:token=cp-test;object=ec?pin-value=9876&module-path=%s", module);
		u.key = uri;
		r = s_in_child(&u, NULL, msg, sizeof msg);
		tap_ok(r == CP_ESOURCE && strstr(msg, "the token refused the PIN") && !strstr(msg, "9876") &&
		       strstr(msg, "pkcs11:token=cp-test;object=ec?module-path="),
		       "PKCS#11: a wrong pin-value is refused, and not shown (%d: %s)", r, msg);
		free(uri);
		uri = cp_asprintf("pkcs11:token=cp-test;object=ec?module-path=%s&pin-source=file:%s", module, pin);
		u.key = uri;
		r = s_in_child(&u, ec_pub, msg, sizeof msg);
		tap_ok(r == 0, "PKCS#11: the URI's pin-source (%d: %s)", r, msg);
		free(uri);
	}

	/* In this process, the module given. */
	double ms = 0;
	cp_key_options o = {.key = "pkcs11:token=cp-test;object=ec;type=private", .pin_file = pin,
			    .pkcs11_module = module};
	if (!s_load_sign_verify(&o, ec_pub, "PKCS#11 EC P-256 (PIN file)", &ms))
		tap_diag("PKCS#11 EC P-256: load + sign %.2f ms", ms);
	o = (cp_key_options){.key = "pkcs11:token=cp-test;id=%02", .pin_command = "printf '1234\\nignored\\n'",
			     .pkcs11_module = module};
	if (!s_load_sign_verify(&o, rsa_pub, "PKCS#11 RSA 2048 by id (PIN command)", &ms))
		tap_diag("PKCS#11 RSA 2048: load + sign %.2f ms", ms);

	cp_error err = {0};
	EVP_PKEY *k = NULL;
	o = (cp_key_options){.key = "pkcs11:token=cp-test;object=nothing-here", .pin_file = pin, .pkcs11_module = module};
	k = NULL;
	r = cp_key_load(&o, &k, &err);
	EVP_PKEY_free(k);
	tap_ok(r == CP_ESOURCE && !k && strstr(err.msg, "object=nothing-here"),
	       "PKCS#11: a missing object: 3 (%d: %s)", r, err.msg);
	o = (cp_key_options){.key = "pkcs11:token=no-such-token;object=ec", .pin_file = pin, .pkcs11_module = module};
	k = NULL;
	r = cp_key_load(&o, &k, &err);
	EVP_PKEY_free(k);
	tap_ok(r == CP_ESOURCE && !k, "PKCS#11: a missing token: 3 (%d: %s)", r, err.msg);
	o = (cp_key_options){.key = "pkcs11:token=cp-test;object=ec", .pin_command = "exit 3", .pkcs11_module = module};
	k = NULL;
	r = cp_key_load(&o, &k, &err);
	EVP_PKEY_free(k);
	tap_ok(r == CP_ESOURCE && !k && strstr(err.msg, "PIN command"),
	       "PKCS#11: a failing PIN command: 3 (%d: %s)", r, err.msg);
	char *missing = s_path("no-pin-file");
	o = (cp_key_options){.key = "pkcs11:token=cp-test;object=ec", .pin_file = missing, .pkcs11_module = module};
	k = NULL;
	r = cp_key_load(&o, &k, &err);
	EVP_PKEY_free(k);
	tap_ok(r == CP_ESOURCE && !k && strstr(err.msg, "no-pin-file"),
	       "PKCS#11: a missing PIN file: 3 (%d: %s)", r, err.msg);
	free(missing);
	o = (cp_key_options){.key = "pkcs11:object=ec?module-name=softhsm2", .pin_file = pin};
	k = NULL;
	r = cp_key_load(&o, &k, &err);
	EVP_PKEY_free(k);
	tap_ok(r == CP_ECONFIG && !k, "PKCS#11: module-name is refused (%d: %s)", r, err.msg);
	o = (cp_key_options){.key = "pkcs11:object=ec?pin-value=%zz", .pkcs11_module = module};
	k = NULL;
	r = cp_key_load(&o, &k, &err);
	EVP_PKEY_free(k);
	tap_ok(r == CP_ECONFIG && !k && !strstr(err.msg, "%zz"), "PKCS#11: a malformed pin-value (%d: %s)", r, err.msg);
	o = (cp_key_options){.key = "pkcs11:token=cp-test;object=ec", .pin_file = pin,
			     .pkcs11_module = "/another/module.so"};
	k = NULL;
	r = cp_key_load(&o, &k, &err);
	EVP_PKEY_free(k);
	tap_ok(r == CP_ECONFIG && !k && strstr(err.msg, "one PKCS#11 module"),
	       "PKCS#11: a second module in one process (%d: %s)", r, err.msg);

	EVP_PKEY_free(ec_pub);
	EVP_PKEY_free(rsa_pub);
	free(pin);
	free(bad_pin);
	free(module);
	free(modfile);
	free(conf);
	free(dir);
}

/* ---- swtpm ---------------------------------------------------------------- */

static pid_t s_swtpm_pid = -1;

static void s_swtpm_stop(void)
{
	if (s_swtpm_pid > 0) {
		kill(s_swtpm_pid, SIGTERM);
		waitpid(s_swtpm_pid, NULL, 0);
		s_swtpm_pid = -1;
	}
}

static bool s_port_free(int port)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port),
				.sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	bool ok = fd >= 0 && bind(fd, (struct sockaddr *)&a, sizeof a) == 0;
	if (fd >= 0)
		close(fd);
	return ok;
}

static bool s_port_accepts(int port)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port),
				.sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	bool ok = fd >= 0 && connect(fd, (struct sockaddr *)&a, sizeof a) == 0;
	if (fd >= 0)
		close(fd);
	return ok;
}

/* Starts swtpm on a free loopback port pair (the TPM, the control channel);
 * it dies with us (PR_SET_PDEATHSIG) even if this test crashes, and is
 * stopped at exit. The port, or -1. */
static int s_swtpm_start(const char *state)
{
	for (int attempt = 0; attempt < 8; attempt++) {
		int port = 20000 + (int)(cp_random64() % 40000);
		if (!s_port_free(port) || !s_port_free(port + 1))
			continue;
		char server[96], ctrl[96], dir[600];
		snprintf(server, sizeof server, "type=tcp,port=%d,bindaddr=127.0.0.1", port);
		snprintf(ctrl, sizeof ctrl, "type=tcp,port=%d,bindaddr=127.0.0.1", port + 1);
		snprintf(dir, sizeof dir, "dir=%s", state);
		fflush(stdout);
		pid_t parent = getpid();
		pid_t pid = fork();
		if (pid < 0)
			return -1;
		if (pid == 0) {
			prctl(PR_SET_PDEATHSIG, SIGKILL);
			if (getppid() != parent)
				_exit(1);
			int null = open("/dev/null", O_WRONLY);
			dup2(null, STDOUT_FILENO);
			execlp("swtpm", "swtpm", "socket", "--tpm2", "--server", server, "--ctrl", ctrl,
			       "--tpmstate", dir, "--flags", "not-need-init,startup-clear", (char *)NULL);
			_exit(127);
		}
		s_swtpm_pid = pid;
		for (int i = 0; i < 100; i++) {
			int st;
			if (waitpid(pid, &st, WNOHANG) == pid) {
				s_swtpm_pid = -1;
				if (WIFEXITED(st) && WEXITSTATUS(st) == 127)
					return -1;
				break; /* the port was taken meanwhile: another */
			}
			if (s_port_accepts(port))
				return port;
			usleep(50000);
		}
		s_swtpm_stop();
	}
	return -1;
}

static EVP_PKEY *s_read_pub_pem(const char *dir, const char *name)
{
	char *path = cp_asprintf("%s/%s", dir, name);
	FILE *f = fopen(path, "r");
	EVP_PKEY *k = f ? PEM_read_PUBKEY(f, NULL, NULL, NULL) : NULL;
	if (f)
		fclose(f);
	free(path);
	return k;
}

static bool s_have(const char *tool)
{
	char *cmd = cp_asprintf("command -v '%s' >/dev/null 2>&1", tool);
	int st = system(cmd);
	free(cmd);
	return st == 0;
}

static void s_test_tpm(void)
{
	if (!s_have("swtpm")) {
		s_missing("TPM: swtpm is not installed");
		return;
	}
	char *dir = s_path("tpm"), *state = s_path("tpm-state");
	mkdir(dir, 0700);
	mkdir(state, 0700);
	char msg[1024];
	int r;

	/* No TPM there (a closed port): before the provider is loaded here. */
	{
		int closed = 0;
		for (int i = 0; i < 20 && !closed; i++) {
			int p = 20000 + (int)(cp_random64() % 40000);
			if (s_port_free(p))
				closed = p;
		}
		char *tcti = cp_asprintf("swtpm:host=127.0.0.1,port=%d", closed);
		setenv("TPM2OPENSSL_TCTI", tcti, 1);
		setenv("TSS2_LOG", "all+none", 1);
		char *key = s_write_text("tpm-none.pem", "-----BEGIN TSS2 PRIVATE KEY-----\nMAA=\n-----END TSS2 PRIVATE KEY-----\n");
		cp_key_options o = {.key = key};
		r = s_in_child(&o, NULL, msg, sizeof msg);
		tap_ok(r == CP_ESOURCE && strstr(msg, "cannot be reached") && strstr(msg, tcti),
		       "TPM: no TPM at TPM2OPENSSL_TCTI: 3 (%d: %s)", r, msg);
		unsetenv("TSS2_LOG");
		free(key);
		free(tcti);
	}

	int port = s_swtpm_start(state);
	if (!tap_ok(port > 0, "TPM: swtpm runs on a loopback port (%d)", port))
		goto out;
	char *tcti = cp_asprintf("swtpm:host=127.0.0.1,port=%d", port);
	setenv("TPM2OPENSSL_TCTI", tcti, 1);
	free(tcti);
	int st = s_fixture("mk-swtpm.sh", dir);
	if (st == 77) {
		s_missing("TPM: tpm2-openssl or tpm2-tools is not installed");
		goto out;
	}
	if (!tap_ok(st == 0, "TPM: keys are created in the TPM (mk-swtpm.sh: %d)", st))
		goto out;

	EVP_PKEY *ec = s_read_pub_pem(dir, "ec.pub.pem"), *rsa = s_read_pub_pem(dir, "rsa.pub.pem"),
		 *auth = s_read_pub_pem(dir, "auth.pub.pem"), *h1 = s_read_pub_pem(dir, "h1.pub.pem"),
		 *h2 = s_read_pub_pem(dir, "h2.pub.pem");
	tap_ok(ec && rsa && auth && h1 && h2, "TPM: the public keys are read");
	char *ec_path = cp_asprintf("%s/ec.tss2.pem", dir), *rsa_path = cp_asprintf("%s/rsa.tss2.pem", dir),
	     *auth_path = cp_asprintf("%s/auth.tss2.pem", dir);
	char *pin = s_write_text("tpm-auth", "abc\n"), *bad = s_write_text("tpm-bad-auth", "abd\n");
	double ms = 0;
	cp_key_options o = {.key = ec_path};
	if (!s_load_sign_verify(&o, ec, "TPM EC P-256 (TSS2 PEM file)", &ms))
		tap_diag("TPM EC P-256 file: load + sign %.2f ms", ms);
	o = (cp_key_options){.key = rsa_path};
	if (!s_load_sign_verify(&o, rsa, "TPM RSA 2048 (TSS2 PEM file)", &ms))
		tap_diag("TPM RSA 2048 file: load + sign %.2f ms", ms);
	o = (cp_key_options){.key = auth_path, .pin_file = pin};
	s_load_sign_verify(&o, auth, "TPM EC P-256 with an authorization value (PIN file)", NULL);
	o = (cp_key_options){.key = "handle:0x81000001"};
	if (!s_load_sign_verify(&o, h1, "TPM EC P-256 persistent handle", &ms))
		tap_diag("TPM EC P-256 handle: load + sign %.2f ms", ms);
	o = (cp_key_options){.key = "handle:0x81000002", .pin_command = "echo s3cret"};
	s_load_sign_verify(&o, h2, "TPM RSA 2048 persistent handle with an authorization value (PIN command)", NULL);

	cp_error err = {0};
	EVP_PKEY *k = NULL;
	o = (cp_key_options){.key = auth_path};
	r = cp_key_load(&o, &k, &err);
	EVP_PKEY_free(k);
	tap_ok(r == CP_ECONFIG && strstr(err.msg, "needs an authorization value"),
	       "TPM: a key that needs an authorization value, none given: 2 (%d: %s)", r, err.msg);
	o = (cp_key_options){.key = auth_path, .pin_file = bad};
	k = NULL;
	r = cp_key_load(&o, &k, &err);
	if (!r) {
		unsigned char *sig = NULL;
		size_t siglen = 0;
		r = cp_key_sign_sha256(k, "x", 1, &sig, &siglen, &err);
		free(sig);
	}
	EVP_PKEY_free(k);
	tap_ok(r == CP_ESOURCE && strstr(err.msg, "refused") && !strstr(err.msg, "abd"),
	       "TPM: a wrong authorization value: 3 (%d: %s)", r, err.msg);
	k = NULL;
	o = (cp_key_options){.key = "handle:0x81000003"};
	r = cp_key_load(&o, &k, &err);
	EVP_PKEY_free(k);
	tap_ok(r == CP_ESOURCE && strstr(err.msg, "0x81000003"), "TPM: an empty handle: 3 (%d: %s)", r, err.msg);
	s_refused("handle:0x1234", CP_ECONFIG, "not a persistent TPM handle", "TPM: a malformed handle");
	s_refused("handle:0x80000001", CP_ECONFIG, "not a persistent TPM handle", "TPM: a transient handle");

	EVP_PKEY_free(ec);
	EVP_PKEY_free(rsa);
	EVP_PKEY_free(auth);
	EVP_PKEY_free(h1);
	EVP_PKEY_free(h2);
	free(ec_path);
	free(rsa_path);
	free(auth_path);
	free(pin);
	free(bad);
out:
	s_swtpm_stop();
	free(dir);
	free(state);
}

static void s_cleanup(void)
{
	char *cmd = cp_asprintf("rm -rf '%s'", s_dir);
	if (cmd && system(cmd) != 0)
		fprintf(stderr, "cannot remove %s\n", s_dir);
	free(cmd);
}

int main(void)
{
	if (!mkdtemp(s_dir)) {
		perror("mkdtemp");
		return 1;
	}
	s_test_pem();
	s_test_pkcs11();
	atexit(s_swtpm_stop);
	s_test_tpm();
	s_cleanup();
	return tap_done();
}
