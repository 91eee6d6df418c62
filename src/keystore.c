/* keystore.c - private keys for X.509 signing: PEM/DER files, PKCS#11
 * tokens (the "pkcs11" ENGINE), TPM 2.0 (the "tpm2" provider).
 *
 * See keystore.h for the accepted references and the PIN rules. Every
 * buffer that held key material or a PIN is wiped before it is freed.
 * Nothing here prints.
 */
#include "keystore.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/decoder.h>
#include <openssl/engine.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/provider.h>
#include <openssl/rsa.h>
#include <openssl/store.h>
#include <openssl/ui.h>

#include "spawn.h"
#include "util.h"

#define S_MAX_KEY_FILE (1024 * 1024)

/* The first OpenSSL error of the queue as text (a static buffer), and the
 * queue emptied: the detail at the end of a message (OpenSSL's words; no
 * secret reaches them: the engine gets the URI without its PIN). */
static const char *s_ssl_error(void)
{
	static char buf[256];
	unsigned long e = ERR_peek_error();
	if (e == 0)
		snprintf(buf, sizeof buf, "no detail");
	else
		ERR_error_string_n(e, buf, sizeof buf);
	ERR_clear_error();
	return buf;
}

static int s_hex(char c)
{
	return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10
		: c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

/* ---- the key's type ---------------------------------------------------- */

/* RSA, or EC on P-256/P-384/P-521: 0, else CP_ECONFIG naming what. */
static int s_check_type(EVP_PKEY *k, const char *what, cp_error *err)
{
	if (EVP_PKEY_is_a(k, "RSA"))
		return 0;
	if (EVP_PKEY_is_a(k, "EC")) {
		char group[64] = "";
		size_t n = 0;
		if (EVP_PKEY_get_group_name(k, group, sizeof group, &n) != 1)
			group[0] = '\0';
		ERR_clear_error();
		if (!strcmp(group, "prime256v1") || !strcmp(group, "P-256") ||
		    !strcmp(group, "secp384r1") || !strcmp(group, "P-384") ||
		    !strcmp(group, "secp521r1") || !strcmp(group, "P-521"))
			return 0;
		return cp_error_set(err, CP_ECONFIG,
				    "the key of '%s' is an EC key on curve '%s': only P-256, P-384 and P-521 are supported",
				    what, group[0] ? group : "unknown");
	}
	const char *t = EVP_PKEY_get0_type_name(k);
	return cp_error_set(err, CP_ECONFIG,
			    "the key of '%s' is a%s %s key: only RSA and EC (P-256, P-384, P-521) keys are supported",
			    what, t && strchr("AEIOU", t[0]) ? "n" : "", t ? t : "unknown");
}

/* ---- PEM and DER files -------------------------------------------------- */

/* The decoder asked for a passphrase: the key is encrypted. Never answered. */
static int s_no_passphrase(char *pass, size_t pass_size, size_t *pass_len, const OSSL_PARAM params[],
			   void *arg)
{
	*(bool *)arg = true;
	return 0;
}

/* Decodes an unencrypted private key from DER (PKCS#1, PKCS#8, SEC1...). 0,
 * or CP_ECONFIG (*encrypted set when it needed a passphrase). */
static int s_decode_der(const unsigned char *der, size_t len, EVP_PKEY **ret, bool *encrypted)
{
	EVP_PKEY *k = NULL;
	OSSL_DECODER_CTX *d = OSSL_DECODER_CTX_new_for_pkey(&k, "DER", NULL, NULL, EVP_PKEY_KEYPAIR,
							    NULL, NULL);
	if (!d)
		return CP_EINTERNAL;
	OSSL_DECODER_CTX_set_passphrase_cb(d, s_no_passphrase, encrypted);
	const unsigned char *p = der;
	size_t left = len;
	int ok = OSSL_DECODER_from_data(d, &p, &left);
	OSSL_DECODER_CTX_free(d);
	if (!ok || !k) {
		EVP_PKEY_free(k);
		return CP_ECONFIG;
	}
	*ret = k;
	return 0;
}

/* Whether k (a decoded RSA or EC key) holds its private half: a public key
 * decodes as a key too. */
static bool s_has_private(EVP_PKEY *k)
{
	if (!EVP_PKEY_is_a(k, "RSA") && !EVP_PKEY_is_a(k, "EC"))
		return true; /* refused by s_check_type() */
	BIGNUM *bn = NULL;
	bool ok = EVP_PKEY_get_bn_param(k, EVP_PKEY_is_a(k, "RSA") ? OSSL_PKEY_PARAM_RSA_D
								   : OSSL_PKEY_PARAM_PRIV_KEY,
					&bn) == 1;
	BN_clear_free(bn);
	ERR_clear_error();
	return ok;
}

static int s_tpm_load_file(const char *path, const char *pem, size_t len, const cp_key_options *o,
			   EVP_PKEY **ret, cp_error *err);

static int s_encrypted(const char *path, cp_error *err)
{
	return cp_error_set(err, CP_ECONFIG,
			    "the private key '%s' is encrypted: decrypt it (openssl pkey -in KEY -out PLAIN) or put it in a PKCS#11 token or a TPM; aws-credproc never prompts for a passphrase",
			    path);
}

/* PEM blocks: the first private key. Certificates and EC parameters are
 * skipped; an encrypted key, a TSS2 key (the TPM) are recognized. */
static int s_load_pem(const char *path, const char *data, size_t len, const cp_key_options *o,
		      EVP_PKEY **ret, cp_error *err)
{
	BIO *b = BIO_new_mem_buf(data, (int)len);
	if (!b)
		return cp_error_set(err, CP_EINTERNAL, "out of memory");
	int r = -1;
	bool saw_cert = false, saw_any = false;
	while (r < 0) {
		char *name = NULL, *header = NULL;
		unsigned char *der = NULL;
		long dlen = 0;
		if (!PEM_read_bio(b, &name, &header, &der, &dlen)) {
			ERR_clear_error();
			break;
		}
		saw_any = true;
		bool key = !strcmp(name, "PRIVATE KEY") || !strcmp(name, "RSA PRIVATE KEY") ||
			   !strcmp(name, "EC PRIVATE KEY");
		if (!strcmp(name, "ENCRYPTED PRIVATE KEY") ||
		    (key && header && strstr(header, "ENCRYPTED"))) {
			r = s_encrypted(path, err);
		} else if (!strcmp(name, "TSS2 PRIVATE KEY")) {
			r = s_tpm_load_file(path, data, len, o, ret, err);
		} else if (key) {
			bool enc = false;
			EVP_PKEY *k = NULL;
			int d = s_decode_der(der, (size_t)dlen, &k, &enc);
			if (d == CP_EINTERNAL)
				r = cp_error_set(err, CP_EINTERNAL, "out of memory");
			else if (enc)
				r = s_encrypted(path, err);
			else if (d)
				r = cp_error_set(err, CP_ECONFIG,
						 "the %s block of '%s' is not a valid private key (%s)", name,
						 path, s_ssl_error());
			else if (!s_has_private(k)) {
				EVP_PKEY_free(k);
				r = cp_error_set(err, CP_ECONFIG, "'%s' holds no private key", path);
			} else {
				*ret = k;
				r = 0;
			}
		} else if (strstr(name, "PRIVATE KEY")) {
			/* "DSA PRIVATE KEY", "OPENSSH PRIVATE KEY", ... */
			r = cp_error_set(err, CP_ECONFIG,
					 "'%s' holds a \"%s\": only RSA and EC (P-256, P-384, P-521) keys in PKCS#1, PKCS#8 or SEC1 are supported",
					 path, name);
		} else if (strstr(name, "CERTIFICATE")) {
			saw_cert = true;
		}
		OPENSSL_free(name);
		OPENSSL_free(header);
		OPENSSL_clear_free(der, (size_t)(dlen > 0 ? dlen : 0));
	}
	BIO_free(b);
	if (r >= 0)
		return r;
	if (saw_cert)
		return cp_error_set(err, CP_ECONFIG,
				    "'%s' holds a certificate, not a private key", path);
	return cp_error_set(err, CP_ECONFIG, "'%s' holds no private key%s", path,
			    saw_any ? "" : " (no PEM block)");
}

static int s_load_file(const cp_key_options *o, EVP_PKEY **ret, cp_error *err)
{
	const char *path = o->key;
	char *data = NULL;
	size_t len = 0;
	if (cp_read_file(path, S_MAX_KEY_FILE, &data, &len) != 0) {
		int e = errno;
		return cp_error_set(err, e == EFBIG || e == EINVAL || e == EISDIR ? CP_ECONFIG : CP_ESOURCE,
				    "cannot read the private key '%s': %s", path,
				    e == EFBIG ? "larger than 1 MiB" : cp_read_file_strerror(e));
	}
	EVP_PKEY *k = NULL;
	int r;
	if (memmem(data, len, "-----BEGIN ", 11)) {
		r = s_load_pem(path, data, len, o, &k, err);
	} else {
		bool enc = false;
		r = s_decode_der((const unsigned char *)data, len, &k, &enc);
		if (r == CP_EINTERNAL)
			r = cp_error_set(err, CP_EINTERNAL, "out of memory");
		else if (enc)
			r = s_encrypted(path, err);
		else if (r)
			r = cp_error_set(err, CP_ECONFIG,
					 "'%s' is not a private key (neither PEM nor DER)", path);
		else if (!s_has_private(k))
			r = cp_error_set(err, CP_ECONFIG, "'%s' holds no private key", path);
	}
	ERR_clear_error();
	cp_freezero(data, len);
	if (!r && (r = s_check_type(k, path, err)) == 0) {
		*ret = k;
		return 0;
	}
	EVP_PKEY_free(k);
	return r;
}

/* ---- PINs ---------------------------------------------------------------- */

#define S_PIN_MAX 4096
#define S_PIN_COMMAND_TIMEOUT_MS 60000

/* Cuts text to its first line (CR/LF dropped; the rest wiped): its length. */
static size_t s_first_line(char *text, size_t len)
{
	size_t n = 0;
	while (n < len && text[n] != '\n' && text[n] != '\0')
		n++;
	while (n > 0 && text[n - 1] == '\r')
		n--;
	cp_wipe(text + n, len - n);
	return n;
}

static int s_pin_from_file(const char *path, char **ret, cp_error *err)
{
	char *data = NULL;
	size_t len = 0;
	if (cp_read_file(path, S_PIN_MAX, &data, &len) != 0) {
		int e = errno;
		return cp_error_set(err, e == ENOENT || e == EACCES ? CP_ESOURCE : CP_ECONFIG,
				    "cannot read the PIN file '%s': %s", path,
				    e == EFBIG ? "larger than 4 KiB" : cp_read_file_strerror(e));
	}
	if (s_first_line(data, len) == 0) {
		cp_freezero(data, len);
		return cp_error_set(err, CP_ECONFIG, "the PIN file '%s' has an empty first line", path);
	}
	*ret = data;
	return 0;
}

static int s_pin_from_command(const char *command, char **ret, cp_error *err)
{
	cp_spawn_options so = {
		.command = command,
		.timeout_ms = S_PIN_COMMAND_TIMEOUT_MS,
		.max_output = S_PIN_MAX,
		.inherit_fd = -1,
	};
	cp_spawn_result res = {0};
	int r = cp_spawn_run(&so, &res, err);
	if (!r)
		r = cp_spawn_check(&so, &res, "the PIN command", err);
	if (!r && (!res.out.data || s_first_line(res.out.data, res.out.len) == 0))
		r = cp_error_set(err, CP_ESOURCE, "the PIN command printed an empty first line");
	if (!r) {
		*ret = cp_strdup(res.out.data);
		if (!*ret)
			r = cp_error_set(err, CP_EINTERNAL, "out of memory");
	}
	cp_spawn_result_free(&res);
	return r;
}

/* The PIN: pin_file, pin_command, else the URI's pin-source (a path or a
 * file: URI), else its pin-value. *ret stays NULL when there is none. */
static int s_pin_get(const cp_key_options *o, const char *uri_source, const char *uri_value,
		     char **ret, cp_error *err)
{
	*ret = NULL;
	if (o->pin_file)
		return s_pin_from_file(o->pin_file, ret, err);
	if (o->pin_command)
		return s_pin_from_command(o->pin_command, ret, err);
	if (uri_source) {
		if (!strncmp(uri_source, "file://", 7))
			uri_source += 7;
		else if (!strncmp(uri_source, "file:", 5))
			uri_source += 5;
		return s_pin_from_file(uri_source, ret, err);
	}
	if (uri_value) {
		if (!*uri_value)
			return cp_error_set(err, CP_ECONFIG, "the pin-value of the PKCS#11 URI is empty");
		if (!(*ret = cp_strdup(uri_value)))
			return cp_error_set(err, CP_EINTERNAL, "out of memory");
	}
	return 0;
}

/* ---- TPM 2.0 ------------------------------------------------------------ */

/* The library context of TPM keys: the "tpm2" provider (which connects to
 * the TPM when it starts) and "default" (hashing, PEM). Loaded once, on the
 * first TPM key; kept until exit as the keys need it. */
static OSSL_LIB_CTX *s_tpm_ctx;
static OSSL_PROVIDER *s_tpm_prov, *s_tpm_default;

static int s_tpm_ctx_get(const char *what, cp_error *err)
{
	if (s_tpm_ctx)
		return 0;
	OSSL_LIB_CTX *ctx = OSSL_LIB_CTX_new();
	if (!ctx)
		return cp_error_set(err, CP_EINTERNAL, "out of memory");
	OSSL_PROVIDER *def = OSSL_PROVIDER_load(ctx, "default");
	if (!def) {
		OSSL_LIB_CTX_free(ctx);
		return cp_error_set(err, CP_EINTERNAL, "cannot load OpenSSL's default provider: %s",
				    s_ssl_error());
	}
	OSSL_PROVIDER *tpm = OSSL_PROVIDER_load(ctx, "tpm2");
	if (!tpm) {
		const char *dir = getenv("OPENSSL_MODULES");
		char *so = cp_asprintf("%s/tpm2.so", dir && *dir ? dir : OPENSSL_info(OPENSSL_INFO_MODULES_DIR));
		struct stat st;
		bool installed = so && stat(so, &st) == 0;
		free(so);
		const char *tcti = getenv("TPM2OPENSSL_TCTI");
		int r = installed
			? cp_error_set(err, CP_ESOURCE,
				       "the TPM of %s cannot be reached (TPM2OPENSSL_TCTI=%s): %s", what,
				       tcti && *tcti ? tcti : "(unset: the default device)", s_ssl_error())
			: cp_error_set(err, CP_ECONFIG,
				       "%s is a TPM key: that needs OpenSSL's tpm2 provider (Debian: tpm2-openssl), which is not installed",
				       what);
		OSSL_PROVIDER_unload(def);
		OSSL_LIB_CTX_free(ctx);
		return r;
	}
	s_tpm_ctx = ctx;
	s_tpm_prov = tpm;
	s_tpm_default = def;
	return 0;
}

/* The key's authorization value, asked for by the provider (the passphrase
 * callback of a decoder, a PEM callback for a store). */
typedef struct s_auth {
	const char *value; /* NULL: none given */
	bool asked;
} s_auth;

static int s_tpm_passphrase(char *pass, size_t pass_size, size_t *pass_len, const OSSL_PARAM params[],
			    void *arg)
{
	s_auth *a = arg;
	a->asked = true;
	size_t n = a->value ? strlen(a->value) : 0;
	if (!a->value || n > pass_size)
		return 0;
	memcpy(pass, a->value, n);
	*pass_len = n;
	return 1;
}

static int s_tpm_pem_cb(char *buf, int size, int rwflag, void *u)
{
	size_t n = 0;
	if (size <= 0 || !s_tpm_passphrase(buf, (size_t)size, &n, NULL, u))
		return -1;
	return (int)n;
}

static int s_tpm_auth_error(const s_auth *a, const char *what, cp_error *err)
{
	if (a->asked && !a->value)
		return cp_error_set(err, CP_ECONFIG,
				    "the TPM key %s needs an authorization value: give a PIN file or a PIN command",
				    what);
	return 0;
}

/* Whether the error queue holds the TPM's refusal of the authorization
 * value (TPM_RC_AUTH_FAIL, TPM_RC_BAD_AUTH, in any session; TPM_RC_LOCKOUT):
 * the tpm2 provider puts the TSS2 return code first in the error data. The
 * queue is emptied. */
static bool s_tpm_auth_refused(void)
{
	unsigned long e;
	const char *file, *func, *data;
	int line, flags;
	bool refused = false;
	while ((e = ERR_get_error_all(&file, &line, &func, &data, &flags)) != 0) {
		const char *lib = ERR_lib_error_string(e);
		cp_debug("keystore: TPM error: %s / %s", lib ? lib : "?", data ? data : "");
		if (!lib || strcmp(lib, "tpm2") || !data || !(flags & ERR_TXT_STRING))
			continue;
		char *end = NULL;
		unsigned long rc = strtoul(data, &end, 10);
		if (end == data)
			continue;
		rc &= 0xFFFu; /* the TPM's own code, without the TSS layer */
		if (((rc & 0x80u) && ((rc & 0xBFu) == 0x8Eu || (rc & 0xBFu) == 0xA2u)) || rc == 0x921u)
			refused = true;
	}
	return refused;
}

static int s_tpm_load_file(const char *path, const char *pem, size_t len, const cp_key_options *o,
			   EVP_PKEY **ret, cp_error *err)
{
	char *what = cp_asprintf("'%s'", path);
	s_auth a = {0};
	char *pin = NULL;
	EVP_PKEY *k = NULL;
	OSSL_DECODER_CTX *d = NULL;
	int r;
	if (!what)
		return cp_error_set(err, CP_EINTERNAL, "out of memory");
	/* The PIN first: a PIN command is not to inherit the TPM's connection. */
	if ((r = s_pin_get(o, NULL, NULL, &pin, err)) != 0 || (r = s_tpm_ctx_get(what, err)) != 0)
		goto done;
	a.value = pin;
	d = OSSL_DECODER_CTX_new_for_pkey(&k, "PEM", NULL, NULL, EVP_PKEY_KEYPAIR, s_tpm_ctx, NULL);
	if (!d) {
		r = cp_error_set(err, CP_EINTERNAL, "out of memory");
		goto done;
	}
	OSSL_DECODER_CTX_set_passphrase_cb(d, s_tpm_passphrase, &a);
	const unsigned char *p = (const unsigned char *)pem;
	size_t left = len;
	cp_debug("keystore: loading the TPM key '%s'", path);
	if (!OSSL_DECODER_from_data(d, &p, &left) || !k) {
		if (!(r = s_tpm_auth_error(&a, what, err)))
			r = cp_error_set(err, CP_ESOURCE, "the TPM cannot load the key '%s': %s", path,
					 s_ssl_error());
		EVP_PKEY_free(k);
		k = NULL;
		goto done;
	}
	if (EVP_PKEY_get0_provider(k) != s_tpm_prov) {
		r = cp_error_set(err, CP_ECONFIG, "'%s' is not a TPM key", path);
		goto done;
	}
	*ret = k;
	k = NULL;
	r = 0;
done:
	EVP_PKEY_free(k);
	OSSL_DECODER_CTX_free(d);
	cp_free_secret(pin);
	free(what);
	ERR_clear_error();
	return r;
}

/* "handle:0x81xxxxxx": a persistent handle (8 hex digits, 0x81 first). */
static bool s_tpm_handle_ok(const char *s)
{
	s += 7;
	if (strncmp(s, "0x81", 4) && strncmp(s, "0X81", 4))
		return false;
	for (int i = 2; i < 10; i++)
		if (s_hex(s[i]) < 0)
			return false;
	return s[10] == '\0';
}

static int s_tpm_load_handle(const cp_key_options *o, EVP_PKEY **ret, cp_error *err)
{
	char *what = cp_asprintf("'%s'", o->key);
	s_auth a = {0};
	char *pin = NULL, *uri = NULL;
	UI_METHOD *ui = NULL;
	OSSL_STORE_CTX *st = NULL;
	EVP_PKEY *k = NULL;
	int r;
	if (!what)
		return cp_error_set(err, CP_EINTERNAL, "out of memory");
	if (!s_tpm_handle_ok(o->key)) {
		r = cp_error_set(err, CP_ECONFIG,
				 "%s is not a persistent TPM handle (handle:0x81 and 6 more hex digits)", what);
		goto done;
	}
	/* The PIN first: a PIN command is not to inherit the TPM's connection. */
	if ((r = s_pin_get(o, NULL, NULL, &pin, err)) != 0 || (r = s_tpm_ctx_get(what, err)) != 0)
		goto done;
	a.value = pin;
	/* "?pass": the provider asks for the key's authorization value. */
	uri = cp_asprintf("%s%s", o->key, pin ? "?pass" : "");
	ui = UI_UTIL_wrap_read_pem_callback(s_tpm_pem_cb, 0);
	if (!uri || !ui) {
		r = cp_error_set(err, CP_EINTERNAL, "out of memory");
		goto done;
	}
	cp_debug("keystore: loading the TPM key %s", o->key);
	st = OSSL_STORE_open_ex(uri, s_tpm_ctx, NULL, ui, &a, NULL, NULL, NULL);
	while (st && !k && !OSSL_STORE_eof(st)) {
		OSSL_STORE_INFO *info = OSSL_STORE_load(st);
		if (info && OSSL_STORE_INFO_get_type(info) == OSSL_STORE_INFO_PKEY)
			k = OSSL_STORE_INFO_get1_PKEY(info);
		OSSL_STORE_INFO_free(info);
		if (!info)
			break;
	}
	if (!k) {
		if (!(r = s_tpm_auth_error(&a, what, err)))
			r = cp_error_set(err, CP_ESOURCE, "the TPM has no key at %s: %s", o->key, s_ssl_error());
		goto done;
	}
	if ((r = s_check_type(k, o->key, err)) != 0) {
		EVP_PKEY_free(k);
		goto done;
	}
	*ret = k;
done:
	OSSL_STORE_close(st);
	UI_destroy_method(ui);
	cp_free_secret(pin);
	free(uri);
	free(what);
	ERR_clear_error();
	return r;
}

/* ---- PKCS#11 ------------------------------------------------------------ */

/* A parsed "pkcs11:" URI: what the engine gets (the URI without the
 * attributes we handle: module-path, pin-source, pin-value), what a message
 * shows (without pin-value), and those values, percent-decoded. */
typedef struct s_p11_uri {
	cp_buf engine;
	cp_buf shown;
	char *module_path;
	char *pin_source;
	char *pin_value; /* a secret */
} s_p11_uri;

static void s_p11_uri_free(s_p11_uri *u)
{
	cp_buf_free(&u->engine);
	cp_buf_free(&u->shown);
	free(u->module_path);
	free(u->pin_source);
	cp_free_secret(u->pin_value);
}

/* The percent-decoded value of s[0..n); NULL when malformed or out of memory. */
static char *s_pct_decode(const char *s, size_t n)
{
	char *out = malloc(n + 1);
	size_t o = 0;
	if (!out)
		return NULL;
	for (size_t i = 0; i < n; i++) {
		if (s[i] != '%') {
			out[o++] = s[i];
			continue;
		}
		if (i + 2 >= n) {
			cp_freezero(out, n + 1);
			return NULL;
		}
		int a = s_hex(s[i + 1]), b = s_hex(s[i + 2]);
		if (a < 0 || b < 0 || (a == 0 && b == 0)) {
			cp_freezero(out, n + 1);
			return NULL;
		}
		out[o++] = (char)(a * 16 + b);
		i += 2;
	}
	out[o] = '\0';
	return out;
}

static int s_p11_uri_parse(const char *uri, s_p11_uri *u, cp_error *err)
{
	const char *rest = uri + 7; /* "pkcs11:" */
	size_t qpos = strcspn(rest, "?");
	cp_buf_puts(&u->engine, "pkcs11:");
	cp_buf_puts(&u->shown, "pkcs11:");
	bool first_e[2] = {true, true}, first_s[2] = {true, true};
	/* part 0: the path (';'), part 1: the query ('&') */
	for (int part = 0; part < 2; part++) {
		const char *p = part == 0 ? rest : (rest[qpos] ? rest + qpos + 1 : rest + qpos);
		const char *end = part == 0 ? rest + qpos : p + strlen(p);
		char sep = part == 0 ? ';' : '&';
		while (p < end) {
			const char *a_end = memchr(p, sep, (size_t)(end - p));
			if (!a_end)
				a_end = end;
			size_t alen = (size_t)(a_end - p);
			const char *eq = memchr(p, '=', alen);
			size_t nlen = eq ? (size_t)(eq - p) : alen;
			char **slot = NULL;
			if (nlen == 11 && !strncmp(p, "module-path", 11))
				slot = &u->module_path;
			else if (nlen == 10 && !strncmp(p, "pin-source", 10))
				slot = &u->pin_source;
			else if (nlen == 9 && !strncmp(p, "pin-value", 9))
				slot = &u->pin_value;
			else if (nlen == 11 && !strncmp(p, "module-name", 11))
				return cp_error_set(err, CP_ECONFIG,
						    "the PKCS#11 URI's module-name is not supported: give module-path or the module option");
			if (slot) {
				if (!eq || *slot)
					return cp_error_set(err, CP_ECONFIG,
							    "the PKCS#11 URI has a malformed or repeated %.*s attribute",
							    (int)nlen, p);
				if (!(*slot = s_pct_decode(eq + 1, (size_t)(a_end - eq - 1))))
					return cp_error_set(err, CP_ECONFIG,
							    "the PKCS#11 URI's %.*s is not well percent-encoded",
							    (int)nlen, p);
			} else if (alen) {
				if (!first_e[part] || part == 1)
					cp_buf_putc(&u->engine, first_e[part] ? '?' : sep);
				cp_buf_append(&u->engine, p, alen);
				first_e[part] = false;
			}
			if (alen && slot != &u->pin_value) {
				if (!first_s[part] || part == 1)
					cp_buf_putc(&u->shown, first_s[part] ? '?' : sep);
				cp_buf_append(&u->shown, p, alen);
				first_s[part] = false;
			}
			p = a_end < end ? a_end + 1 : end;
		}
	}
	if (cp_buf_status(&u->engine) || cp_buf_status(&u->shown))
		return cp_error_set(err, CP_EINTERNAL, "out of memory");
	return 0;
}

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"

/* The "pkcs11" ENGINE (libp11), loaded once: it keeps one PKCS#11 module,
 * which must stay loaded while its keys live (until exit). */
static ENGINE *s_p11_engine;
static char *s_p11_module; /* as asked for ("" for the engine's default) */

/* The UI of the engine: asked for a PIN only when none was given. Never
 * prompts: records the question and fails. */
static bool s_p11_asked;
static UI_METHOD *s_p11_ui;

static int s_ui_no_prompt(UI *ui, UI_STRING *uis)
{
	switch (UI_get_string_type(uis)) {
	case UIT_PROMPT:
	case UIT_VERIFY:
		s_p11_asked = true;
		return 0;
	default:
		return 1;
	}
}

static int s_p11_engine_get(const char *module, ENGINE **ret, cp_error *err)
{
	const char *want = module ? module : "";
	if (s_p11_engine) {
		if (strcmp(s_p11_module, want))
			return cp_error_set(err, CP_ECONFIG,
					    "one PKCS#11 module per run: '%s' is loaded, '%s' is asked for",
					    *s_p11_module ? s_p11_module : "(default)", *want ? want : "(default)");
		*ret = s_p11_engine;
		return 0;
	}
	if (!s_p11_ui) {
		s_p11_ui = UI_create_method("aws-credproc: no prompt");
		if (!s_p11_ui || UI_method_set_reader(s_p11_ui, s_ui_no_prompt) != 0)
			return cp_error_set(err, CP_EINTERNAL, "out of memory");
	}
	struct stat st;
	if (*want && stat(want, &st) != 0)
		return cp_error_set(err, CP_ECONFIG, "the PKCS#11 module '%s': %s", want, strerror(errno));
	if (*want && !S_ISREG(st.st_mode))
		return cp_error_set(err, CP_ECONFIG, "the PKCS#11 module '%s' is not a regular file", want);
	ENGINE *e = ENGINE_by_id("pkcs11");
	if (!e) {
		cp_debug("keystore: ENGINE_by_id(pkcs11): %s", s_ssl_error());
		return cp_error_set(err, CP_ECONFIG,
				    "PKCS#11 keys need OpenSSL's pkcs11 engine (libp11; Debian: libengine-pkcs11-openssl), which cannot be loaded");
	}
	/* The engine writes its errors to stderr unless quiet. */
	ENGINE_ctrl_cmd(e, "QUIET", 0, NULL, NULL, 1);
	if (*want && !ENGINE_ctrl_cmd_string(e, "MODULE_PATH", want, 0)) {
		ENGINE_free(e);
		return cp_error_set(err, CP_ECONFIG, "the pkcs11 engine refused the module path '%s': %s",
				    want, s_ssl_error());
	}
	if (!ENGINE_init(e)) {
		ENGINE_free(e);
		return cp_error_set(err, CP_ESOURCE, "the pkcs11 engine cannot start (module '%s'): %s",
				    *want ? want : "(default)", s_ssl_error());
	}
	ENGINE_free(e); /* the functional reference of ENGINE_init stays */
	if (!(s_p11_module = cp_strdup(want))) {
		ENGINE_finish(e);
		return cp_error_set(err, CP_EINTERNAL, "out of memory");
	}
	s_p11_engine = e;
	*ret = e;
	return 0;
}

/* Whether the error queue holds the module's refusal of the PIN
 * (CKR_PIN_INCORRECT, _INVALID, _LEN_RANGE, _EXPIRED, _LOCKED). */
static bool s_p11_pin_refused(void)
{
	unsigned long e;
	const char *file, *func, *data;
	int line, flags;
	bool refused = false;
	while ((e = ERR_get_error_all(&file, &line, &func, &data, &flags)) != 0) {
		const char *lib = ERR_lib_error_string(e);
		int reason = ERR_GET_REASON(e);
		if (lib && strstr(lib, "PKCS#11") && reason >= 0xA0 && reason <= 0xA4)
			refused = true;
	}
	return refused;
}

static int s_pkcs11_load(const cp_key_options *o, EVP_PKEY **ret, cp_error *err)
{
	s_p11_uri u = {0};
	char *pin = NULL;
	ENGINE *e = NULL;
	int r = s_p11_uri_parse(o->key, &u, err);
	if (r)
		goto done;
	const char *module = o->pkcs11_module ? o->pkcs11_module : u.module_path;
	if ((r = s_pin_get(o, u.pin_source, u.pin_value, &pin, err)) != 0) {
		cp_error_prefix(err, "%s", u.shown.data);
		goto done;
	}
	if ((r = s_p11_engine_get(module, &e, err)) != 0)
		goto done;
	if (pin && !ENGINE_ctrl_cmd_string(e, "PIN", pin, 0)) {
		r = cp_error_set(err, CP_EINTERNAL, "the pkcs11 engine refused to take a PIN");
		goto done;
	}
	s_p11_asked = false;
	ERR_clear_error();
	cp_debug("keystore: loading the PKCS#11 key %s (module %s)", u.shown.data,
		 module ? module : "(default)");
	EVP_PKEY *k = ENGINE_load_private_key(e, u.engine.data, s_p11_ui, NULL);
	if (!k) {
		if (s_p11_pin_refused())
			r = cp_error_set(err, CP_ESOURCE, "the token refused the PIN for '%s'", u.shown.data);
		else if (s_p11_asked)
			r = cp_error_set(err, CP_ECONFIG,
					 "the PKCS#11 key '%s' needs a PIN: give a PIN file or a PIN command",
					 u.shown.data);
		else
			r = cp_error_set(err, CP_ESOURCE,
					 "no private key at '%s' (module %s): no such token or object, or the token is absent",
					 u.shown.data, module ? module : "(default)");
		goto done;
	}
	if ((r = s_check_type(k, u.shown.data, err)) != 0) {
		EVP_PKEY_free(k);
		goto done;
	}
	*ret = k;
done:
	cp_free_secret(pin);
	s_p11_uri_free(&u);
	ERR_clear_error();
	return r;
}

#pragma GCC diagnostic pop

/* ---- the interface ------------------------------------------------------ */

int cp_key_load(const cp_key_options *o, EVP_PKEY **ret, cp_error *err)
{
	if (!o || !o->key || !*o->key)
		return cp_error_set(err, CP_ECONFIG, "no private key given");
	if (!strncmp(o->key, "pkcs11:", 7))
		return s_pkcs11_load(o, ret, err);
	if (!strncmp(o->key, "handle:", 7))
		return s_tpm_load_handle(o, ret, err);
	return s_load_file(o, ret, err);
}

int cp_key_sign_sha256(EVP_PKEY *k, const void *data, size_t len, unsigned char **sig,
		       size_t *siglen, cp_error *err)
{
	if (!k)
		return cp_error_set(err, CP_EINTERNAL, "no key to sign with");
	/* A TPM key signs in its own library context, by the tpm2 provider. */
	bool tpm = s_tpm_prov && EVP_PKEY_get0_provider(k) == s_tpm_prov;
	OSSL_LIB_CTX *libctx = tpm ? s_tpm_ctx : NULL;
	const char *propq = tpm ? "?provider=tpm2" : NULL;
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	EVP_PKEY_CTX *pctx = NULL;
	unsigned char *out = NULL;
	size_t n = 0;
	int r;
	if (!md) {
		r = cp_error_set(err, CP_EINTERNAL, "out of memory");
		goto done;
	}
	if (EVP_DigestSignInit_ex(md, &pctx, "SHA256", libctx, propq, k, NULL) != 1 ||
	    (EVP_PKEY_is_a(k, "RSA") && EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PADDING) != 1) ||
	    EVP_DigestSign(md, NULL, &n, data, len) != 1) {
		r = cp_error_set(err, CP_ESOURCE, "cannot sign with the private key (SHA-256, %s): %s",
				 EVP_PKEY_is_a(k, "RSA") ? "RSA PKCS#1 v1.5" : "ECDSA", s_ssl_error());
		goto done;
	}
	if (!(out = malloc(n ? n : 1))) {
		r = cp_error_set(err, CP_EINTERNAL, "out of memory");
		goto done;
	}
	if (EVP_DigestSign(md, out, &n, data, len) != 1) {
		if (tpm && s_tpm_auth_refused())
			r = cp_error_set(err, CP_ESOURCE, "the TPM refused the key's authorization value");
		else
			r = cp_error_set(err, CP_ESOURCE, "signing with the private key failed: %s",
					 s_ssl_error());
		free(out);
		goto done;
	}
	*sig = out;
	*siglen = n;
	r = 0;
done:
	EVP_MD_CTX_free(md);
	ERR_clear_error();
	return r;
}
