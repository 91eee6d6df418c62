/* sigv4.h - AWS Signature Version 4 (header signing) with OpenSSL.
 *
 * The canonical request, string to sign and signature are exposed so that
 * the conformance suites can check each step (conformance/sigv4/).
 * All functions return 0 or a CP_E* status.
 */
#ifndef CP_SIGV4_H
#define CP_SIGV4_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "creds.h"
#include "util.h"

/* X.509 signing (IAM Roles Anywhere): the same canonical request and string
 * to sign, under `algorithm` ("AWS4-X509-RSA-SHA256" or
 * "AWS4-X509-ECDSA-SHA256") instead of AWS4-HMAC-SHA256; the Credential id
 * is the certificate's serial number in decimal; the signature is what
 * `sign` makes of the string to sign (a SHA-256 digest of it, signed with
 * RSA PKCS#1 v1.5 or as a DER ECDSA signature), hex-encoded. sign returns 0
 * or a CP_E* status with err set; *ret_sig is heap memory (freed by the
 * signer's caller with free()). */
typedef int (*cp_sigv4_sign_fn)(void *ctx, const void *data, size_t len, unsigned char **ret_sig,
				size_t *ret_siglen, cp_error *err);
typedef struct cp_sigv4_x509 {
	const char *algorithm;
	const char *serial;          /* decimal */
	cp_sigv4_sign_fn sign;
	void *ctx;
} cp_sigv4_x509;

typedef struct cp_sigv4_params {
	const char *method;          /* "GET", "POST", ... */
	const char *uri;             /* request target as on the wire: path, optionally "?query" */
	const cp_header *headers;    /* the request's headers, including Host */
	size_t nheaders;
	const void *body;
	size_t body_len;
	const char *region;          /* signing region, e.g. "us-east-1" */
	const char *service;         /* signing name, e.g. "sts" */
	const cp_creds *creds;       /* access key, secret, optional session token */
	int64_t time;                /* Unix seconds (the X-Amz-Date); ignored if headers carry X-Amz-Date */
	bool normalize_path;         /* remove dot segments / duplicate slashes (true except S3) */
	bool sign_body_header;       /* add and sign x-amz-content-sha256 */
	bool omit_session_token;     /* add X-Amz-Security-Token after signing (unsigned) */
	const cp_sigv4_x509 *x509;   /* non-NULL: X.509 signing; creds unused (may be NULL) */
} cp_sigv4_params;

typedef struct cp_sigv4_result {
	char *canonical_request;
	char *string_to_sign;
	char signature[65];          /* lowercase hex ("" with X.509 signing: the
	                              * signature is in authorization) */
	char *authorization;         /* full Authorization header value */
	/* Headers the caller must add to the request, in order (borrowed from
	 * this struct): X-Amz-Date (unless present), x-amz-content-sha256 (if
	 * requested), X-Amz-Security-Token (if a token), Authorization. */
	cp_header add[4];
	size_t nadd;
	char amz_date[17];           /* YYYYMMDDTHHMMSSZ */
	char content_sha256[65];
	char *session_token;         /* copy of the token for add[] (NULL if none or
	                              * the request already carries it); wiped on free */
} cp_sigv4_result;

/* Signs the request described by p. On success fills *ret (which must not
 * be copied afterwards: add[] points into it) and returns 0; on failure
 * returns CP_EINTERNAL (a malformed request: bad method, target, header
 * name or value, more than 256 headers, a value over 64 KiB, no Host,
 * duplicate Host/X-Amz-Date/x-amz-content-sha256/X-Amz-Security-Token, an
 * Authorization header already present) or CP_ECONFIG (invalid region,
 * service, access key id, secret or session token), and leaves *ret alone.
 * Request headers that already carry X-Amz-Date or x-amz-content-sha256
 * are used as is (the latter as the payload hash, e.g. UNSIGNED-PAYLOAD);
 * an X-Amz-Security-Token already in the request must equal the token.
 * User-Agent, X-Amzn-Trace-Id, Expect, Connection, Upgrade and
 * Sec-WebSocket-* are never signed. The query is form-decoded ('+' is a
 * space) and re-encoded; the path is encoded as given (so "%20" signs as
 * "%2520", SigV4's double encoding for non-S3 services). */
int cp_sigv4_sign(const cp_sigv4_params *p, cp_sigv4_result *ret, cp_error *err);
/* Wipes and frees every string of r, then zeroes it. NULL ok; idempotent. */
void cp_sigv4_result_free(cp_sigv4_result *r);

#endif
