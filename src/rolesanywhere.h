/* rolesanywhere.h - IAM Roles Anywhere CreateSession (network side).
 *
 * The request, as aws/rolesanywhere-credential-helper sends it (its
 * generated rolesanywhere client and aws_signing_helper/signer.go):
 *   POST <endpoint>/sessions?profileArn=P&roleArn=R&trustAnchorArn=T
 *   Content-Type: application/json
 *   Host, X-Amz-Date: YYYYMMDDTHHMMSSZ
 *   X-Amz-X509: base64 of the leaf certificate's DER
 *   X-Amz-X509-Chain: base64 DER of each intermediate, comma-separated (only
 *     with a chain)
 *   Authorization: AWS4-X509-RSA-SHA256 | AWS4-X509-ECDSA-SHA256
 *     Credential=<leaf serial, decimal>/<yyyymmdd>/<region>/rolesanywhere/aws4_request,
 *     SignedHeaders=content-type;host;x-amz-date;x-amz-x509[;x-amz-x509-chain],
 *     Signature=<hex of the RSA PKCS#1 v1.5 / DER ECDSA signature over the
 *     SHA-256 of the string to sign>
 *   {"durationSeconds": N[, "roleSessionName": S]}
 * The canonical request and the string to sign are SigV4's (sigv4.c, X.509
 * mode): the ARNs are signed as the canonical query, the payload hash is the
 * SHA-256 of the JSON body.
 *   -> 201/200 {"credentialSet":[{"credentials":{"accessKeyId",
 *       "secretAccessKey","sessionToken","expiration": RFC 3339}, ...}],
 *       "subjectArn"}
 *   -> 400 ValidationException, 403 AccessDeniedException (untrusted or
 *      expired certificate, bad signature, disabled trust anchor or profile),
 *      404 ResourceNotFoundException; the code in x-amzn-ErrorType (or the
 *      body's "__type"/"code"), {"message": ...} in the body.
 *
 * Returns 0; CP_ECONFIG (incomplete options, a key that does not match the
 * certificate, a key the key store refuses, such as an encrypted PEM file);
 * CP_ESOURCE (a certificate or chain file that cannot be read or parsed, a
 * malformed reply); CP_EREFUSED (a 4xx answer); CP_ETRANSPORT (no answer,
 * 5xx or 429 after retries); CP_EINTERNAL. The private key is used through
 * the key store (keystore.h) and never leaves it; credentials are wiped
 * when freed and never appear in a message.
 */
#ifndef CP_ROLESANYWHERE_H
#define CP_ROLESANYWHERE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "creds.h"
#include "retry.h"
#include "sigv4.h"
#include "util.h"

#define CP_RA_DEFAULT_DURATION 3600
#define CP_RA_MIN_DURATION 900
#define CP_RA_MAX_DURATION 43200
#define CP_RA_MAX_CERT_FILE (256 * 1024)

typedef struct cp_ra_options {
	const char *profile;          /* the profile holding the settings (messages) */
	const char *certificate;      /* leaf certificate file, PEM or DER; required */
	const char *chain;            /* PEM bundle of intermediates; NULL: none */
	const char *private_key;      /* PEM file, "pkcs11:" URI, TSS2 PEM or "handle:0x81..." */
	const char *pin_file;         /* NULL: none */
	const char *pin_command;      /* NULL: none */
	const char *pkcs11_module;    /* NULL: the URI's module-path, else p11-kit's proxy */
	const char *trust_anchor_arn; /* required */
	const char *profile_arn;      /* required */
	const char *role_arn;         /* required */
	const char *session_name;     /* roleSessionName; NULL: none */
	int duration_seconds;         /* 0: CP_RA_DEFAULT_DURATION */
	const char *region;           /* signing region; required */
	const char *endpoint;         /* base URL, no trailing '/'; required */
	const char *endpoint_source;  /* where it came from, for messages; may be NULL */
	const char *ca_bundle;        /* PEM file, NULL: the system store */
	long timeout_ms;              /* per request; 0: 10000 */
	int attempts;                 /* per request; 0: 1 */
	int64_t deadline_ms;          /* on clock->mono_ms; 0: none */
	const cp_clock *clock;        /* backoff and deadline; NULL: cp_clock_system */
	int64_t now;                  /* Unix seconds; 0: the clock (tests pin it) */
} cp_ra_options;

/* The whole source: certificates, key, CreateSession. */
int cp_ra_get_credentials(const cp_ra_options *o, cp_creds *ret, cp_error *err);

/* ---- the pieces, for the tests ---------------------------------------- */

/* The certificates, ready for the headers. */
typedef struct cp_ra_certs {
	void *leaf;          /* X509 * (opaque here: no OpenSSL header needed) */
	char *leaf_b64;      /* base64 of the leaf's DER */
	char *chain_b64;     /* comma-separated base64 DER of each chain certificate; NULL: none */
	size_t nchain;
	char *serial;        /* the leaf's serial number, decimal */
	const char *algorithm; /* "AWS4-X509-RSA-SHA256" or "AWS4-X509-ECDSA-SHA256" (static) */
} cp_ra_certs;

/* Reads the leaf (PEM, else DER) and the chain (PEM, one or more
 * CERTIFICATE blocks). CP_ESOURCE for a file that cannot be read (missing,
 * unreadable) or parsed, CP_ECONFIG for a key type other than RSA or EC. */
int cp_ra_certs_load(const char *certificate, const char *chain, cp_ra_certs *ret, cp_error *err);
void cp_ra_certs_free(cp_ra_certs *c);

/* The signed request (heap strings; headers borrowed from this struct). */
typedef struct cp_ra_request {
	char *url;
	char *body;
	char host[320];
	cp_header headers[10];
	size_t nheaders;
	cp_sigv4_result sig; /* canonical request, string to sign, Authorization */
} cp_ra_request;

/* Builds and signs the CreateSession request of o at `now` with the
 * certificates c; sign(ctx, ...) signs the string to sign (cp_sigv4_sign_fn).
 * 0, CP_ECONFIG (bad endpoint, duration out of range), CP_EINTERNAL, or
 * sign's status. */
int cp_ra_request_build(const cp_ra_options *o, const cp_ra_certs *c, int64_t now,
			cp_sigv4_sign_fn sign, void *ctx, cp_ra_request *ret, cp_error *err);
void cp_ra_request_free(cp_ra_request *r);

/* Parses a CreateSession answer: credentialSet[0].credentials. CP_ESOURCE
 * (cause CP_CAUSE_MALFORMED) when anything is missing. */
int cp_ra_parse_response(const char *json, size_t len, cp_creds *ret, cp_error *err);

/* The status, cause and message of an error answer (http status, the
 * x-amzn-ErrorType header or "", the body), prefixed with `what`. Always
 * returns a non-zero CP_E* status with err set. */
int cp_ra_error(const char *what, long status, const char *error_type, const char *body,
		size_t len, cp_error *err);

#endif
