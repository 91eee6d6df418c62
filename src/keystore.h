/* keystore.h - the private key of an X.509 certificate (IAM Roles Anywhere):
 * loaded from a file, a PKCS#11 token or a TPM 2.0, and signing with it.
 *
 * Network module (libcrypto); the cache-hit path never reaches it.
 *
 * Accepted key references (cp_key_options.key):
 *  - A file path: a PEM file with an unencrypted RSA or EC private key,
 *    PKCS#1 ("RSA PRIVATE KEY"), PKCS#8 ("PRIVATE KEY") or SEC1 ("EC
 *    PRIVATE KEY"); the first private key of the file is used, other blocks
 *    (certificates, "EC PARAMETERS") are skipped. A DER file (PKCS#1,
 *    PKCS#8, SEC1) too. Encrypted keys ("ENCRYPTED PRIVATE KEY", or
 *    "Proc-Type: 4,ENCRYPTED") are refused (CP_ECONFIG): decrypt the key
 *    or put it in a token; nothing ever prompts.
 *  - A TPM 2.0 key: a file holding a "TSS2 PRIVATE KEY" PEM block (as
 *    tpm2-openssl / tpm2-tss-engine write it), or "handle:0x81xxxxxx" (a
 *    persistent handle). Reached through OpenSSL 3's "tpm2" provider, in a
 *    library context of its own (never loaded for other keys); the TPM is
 *    chosen as the provider chooses it (TPM2OPENSSL_TCTI, e.g.
 *    "swtpm:host=127.0.0.1,port=2321" or "device:/dev/tpmrm0").
 *  - A PKCS#11 URI (RFC 7512), "pkcs11:token=...;object=...;id=...",
 *    through OpenSSL's "pkcs11" ENGINE (libp11). The module is
 *    pkcs11_module, else the URI's module-path attribute, else the
 *    engine's default (p11-kit's proxy).
 *    The engine holds one module per process: a later key naming another
 *    module is refused (CP_ECONFIG); a missing module file is CP_ECONFIG.
 *  Only RSA keys and EC keys on P-256, P-384 or P-521 are accepted.
 *
 * The PIN (PKCS#11) or key authorization value (TPM), from the first of:
 *  - pin_file: the first line of the file (CR/LF dropped; empty: refused);
 *  - pin_command: the first line of the command's standard output (run by
 *    /bin/sh -c, 60 s deadline, at most 4 KiB);
 *  - the URI's "pin-source=" attribute (a file path, or a file: URI), read
 *    as pin_file;
 *  - the URI's "pin-value=" attribute (percent-decoded). THE CALLER MUST
 *    refuse a reference with pin-value that came from the command line
 *    (argv is visible to every user): only a config file may carry it.
 *  (pin-source and pin-value are PKCS#11 URI attributes: a TPM key's
 *  authorization value comes from pin_file or pin_command only.)
 *  Without any, a token or TPM key that needs a PIN fails, CP_ECONFIG (no
 *  prompt, ever). A PIN is never logged, never in a message, and wiped
 *  after use (the pkcs11 engine keeps its own copy until exit, for keys
 *  that ask for it again at each signature). A refused PIN is CP_ESOURCE:
 *  "the token refused the PIN" at cp_key_load(); a TPM checks a key's
 *  authorization value only when it signs, so a wrong one is CP_ESOURCE
 *  "the TPM refused the key's authorization value" from
 *  cp_key_sign_sha256(). Messages name the file or the URI (its pin-value
 *  removed). The TPM's software stack (tss2) may write its own diagnostics
 *  to stderr (TSS2_LOG controls them).
 *
 * The key never leaves the token or the TPM: the EVP_PKEY is a handle and
 * cp_key_sign_sha256() asks the token or the TPM to sign.
 */
#ifndef CP_KEYSTORE_H
#define CP_KEYSTORE_H

#include <stddef.h>

#include <openssl/evp.h>

#include "util.h"

typedef struct cp_key_options {
	const char *key;           /* a PEM file path; a "pkcs11:" URI (RFC 7512);
	                              or a TPM 2.0 key: a "TSS2 PRIVATE KEY" PEM file
	                              or "handle:0x81xxxxxx" (a persistent handle) */
	const char *pin_file;      /* PIN / key auth from this file (first line); NULL: none */
	const char *pin_command;   /* PIN from this command's stdout (via src/spawn.c's runner); NULL: none */
	const char *pkcs11_module; /* the PKCS#11 module .so; NULL: the URI's module-path
	                              attribute, else p11-kit's proxy */
} cp_key_options;

/* Loads the private key. 0, or CP_ECONFIG (bad reference, encrypted PEM
 * key, unsupported key type, PIN in argv...) / CP_ESOURCE (missing file,
 * token or TPM absent, PIN refused) with err set. The message names the
 * file/URI (never a PIN), and the key never leaves a token or TPM.
 * *ret is freed with EVP_PKEY_free(). */
int cp_key_load(const cp_key_options *o, EVP_PKEY **ret, cp_error *err);

/* Signs data with SHA-256: RSA PKCS#1 v1.5, or ECDSA (DER signature as
 * EVP_DigestSign gives it). *sig is malloc'd. 0 or CP_E* with err set. */
int cp_key_sign_sha256(EVP_PKEY *k, const void *data, size_t len,
		       unsigned char **sig, size_t *siglen, cp_error *err);

#endif
