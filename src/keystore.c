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

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/decoder.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>

#include "util.h"

#define S_MAX_KEY_FILE (1024 * 1024)

/* The first OpenSSL error of the queue as text (a static buffer), and the
 * queue emptied: for debug lines only. */
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

/* ---- TPM 2.0 ------------------------------------------------------------ */

static int s_tpm_load_file(const char *path, const char *pem, size_t len, const cp_key_options *o,
			   EVP_PKEY **ret, cp_error *err)
{
	return cp_error_set(err, CP_ECONFIG, "'%s' is a TPM key: TPM keys are not supported yet", path);
}

static int s_tpm_load_handle(const cp_key_options *o, EVP_PKEY **ret, cp_error *err)
{
	return cp_error_set(err, CP_ECONFIG, "'%s': TPM keys are not supported yet", o->key);
}

/* ---- PKCS#11 ------------------------------------------------------------ */

static int s_pkcs11_load(const cp_key_options *o, EVP_PKEY **ret, cp_error *err)
{
	return cp_error_set(err, CP_ECONFIG, "PKCS#11 keys are not supported yet");
}

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
	OSSL_LIB_CTX *libctx = NULL;
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	EVP_PKEY_CTX *pctx = NULL;
	unsigned char *out = NULL;
	size_t n = 0;
	int r = CP_EINTERNAL;
	if (!md) {
		r = cp_error_set(err, CP_EINTERNAL, "out of memory");
		goto done;
	}
	if (EVP_DigestSignInit_ex(md, &pctx, "SHA256", libctx, NULL, k, NULL) != 1) {
		r = cp_error_set(err, CP_ESOURCE, "cannot sign with the private key: %s", s_ssl_error());
		goto done;
	}
	if (EVP_PKEY_is_a(k, "RSA") && EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PADDING) != 1) {
		r = cp_error_set(err, CP_ESOURCE, "cannot sign with the private key (PKCS#1 v1.5 padding): %s",
				 s_ssl_error());
		goto done;
	}
	if (EVP_DigestSign(md, NULL, &n, data, len) != 1 || !(out = malloc(n ? n : 1)) ||
	    EVP_DigestSign(md, out, &n, data, len) != 1) {
		r = out ? cp_error_set(err, CP_ESOURCE, "signing with the private key failed: %s",
				       s_ssl_error())
			: cp_error_set(err, CP_EINTERNAL, "out of memory or signing failed: %s",
				       s_ssl_error());
		free(out);
		out = NULL;
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
