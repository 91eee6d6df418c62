/* login.h - console sign-in sessions (`aws login`, `login_session`) as a
 * credential source (network side).
 *
 * `aws login` leaves a token cache file <dir>/<sha256 hex of the session
 * name>.json (dir: AWS_LOGIN_CACHE_DIRECTORY, else ~/.aws/login/cache; the
 * core resolves it), as botocore's LoginTokenLoader names it:
 *   {"accessToken": {"accessKeyId", "secretAccessKey", "sessionToken",
 *                    "accountId", "expiresAt" (RFC 3339)},
 *    "clientId", "refreshToken", "dpopKey" (an EC P-256 key, SEC1 or
 *    PKCS#8 PEM), ... any other members, kept}
 * accessToken (with its five members), refreshToken, dpopKey and clientId
 * are required (botocore's LoginCredentialFetcher._REQUIRED_TOKEN_FIELDS
 * and what it reads of accessToken).
 *
 * The file must be a regular file of ours, not writable by group or
 * others, not a symbolic link (the rules of our own cache files): anything
 * else is refused with CP_ESOURCE, as the SSO source refuses a token file
 * that is not a regular file.
 *
 * The access token is used as it is while more than
 * CP_LOGIN_REFRESH_THRESHOLD seconds are left (botocore's
 * _REFRESH_THRESHOLD). Otherwise the sign-in service's CreateOAuth2Token
 * (signin 2023-01-01, rest-json, unsigned):
 *   POST <endpoint>/v1/token   Content-Type: application/json
 *        DPoP: <ES256 JWT, see cp_login_dpop>
 *        {"clientId", "refreshToken", "grantType": "refresh_token"}
 *     -> 200 {"accessToken": {"accessKeyId", "secretAccessKey",
 *             "sessionToken"}, "tokenType", "expiresIn", "refreshToken"}
 *     -> 401/403 AccessDeniedException {"error": TOKEN_EXPIRED |
 *        USER_CREDENTIALS_CHANGED | INSUFFICIENT_PERMISSIONS | ...,
 *        "message"}; 400 ValidationException; 429 TooManyRequestsError;
 *        500 InternalServerException
 * and the file is rewritten as botocore rewrites it: every member kept,
 * accessToken replaced by the five members (accountId kept, expiresAt =
 * now + expiresIn, whole seconds, "Z"), refreshToken replaced; atomically
 * (cp_write_file_atomic, 0600). While one process refreshes, it holds an
 * flock() on the token file, and others wait for it (bounded by the
 * deadline) and then read what it wrote: one refresh, however many callers
 * (a rotated refresh token is good once).
 *
 * Returns 0, CP_EINTERACTIVE (no token file, an unusable one, missing
 * members, the service refused the refresh with TOKEN_EXPIRED or
 * USER_CREDENTIALS_CHANGED; the message ends with the exact line
 * `aws login --profile <profile>`), CP_EREFUSED (INSUFFICIENT_PERMISSIONS,
 * another 4xx), CP_ETRANSPORT (unreachable, 5xx, throttled after retries),
 * CP_ESOURCE (a refused token file, a malformed reply), CP_ECONFIG (no
 * sign-in endpoint when a refresh is due), CP_EINTERNAL.
 * Secrets (the keys, the refresh token, the DPoP key) are wiped when freed
 * and never appear in a message or a debug line.
 */
#ifndef CP_LOGIN_H
#define CP_LOGIN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "creds.h"
#include "retry.h"
#include "util.h"

#define CP_LOGIN_REFRESH_THRESHOLD (5 * 60) /* botocore LoginCredentialFetcher._REFRESH_THRESHOLD */
#define CP_LOGIN_MAX_TOKEN_FILE (64 * 1024)

typedef struct cp_login_options {
	const char *profile;          /* the profile holding login_session (the hint line) */
	const char *session_name;     /* login_session, required */
	const char *token_dir;        /* the token cache directory, required */
	const char *endpoint_url;     /* the sign-in service, no trailing '/'; NULL: unresolved */
	const char *endpoint_source;  /* where it came from, for messages; may be NULL */
	const cp_error *endpoint_error; /* why endpoint_url is NULL: reported if a refresh is due */
	const char *ca_bundle;        /* PEM file, NULL: the system store */
	long timeout_ms;              /* per request; 0: 10000 */
	int attempts;                 /* per request; 0: 1 */
	int64_t deadline_ms;          /* on clock->mono_ms; 0: none */
	const cp_clock *clock;        /* backoff, deadline, lock wait; NULL: cp_clock_system */
	int64_t now;                  /* Unix seconds; 0: the clock (tests pin it) */
} cp_login_options;

/* The whole source: the token (refreshed if due), as credentials with the
 * account id. */
int cp_login_get_credentials(const cp_login_options *o, cp_creds *ret, cp_error *err);

/* ---- the pieces, for the tests ---------------------------------------- */

/* <dir>/<sha256 hex of session_name>.json. Heap string. */
int cp_login_token_path(const char *dir, const char *session_name, char **ret_path, cp_error *err);

/* Reads the token file: O_NOFOLLOW, a regular file owned by the effective
 * user, not writable by group or others, at most CP_LOGIN_MAX_TOKEN_FILE
 * bytes. 0 with the NUL-terminated text (a secret); -1 with errno ENOENT
 * (no file) and *why empty, or with *why set (refused or unreadable). */
int cp_login_read_token_file(const char *path, char **ret_data, size_t *ret_len, char *why,
			     size_t whylen);

typedef struct cp_login_token {
	void *doc;                     /* the whole document (cJSON *), kept for the rewrite */
	/* Borrowed from doc: */
	const char *access_key_id;
	const char *secret_access_key; /* secret */
	const char *session_token;     /* secret */
	const char *account_id;
	const char *client_id;
	const char *refresh_token;     /* secret */
	const char *dpop_key;          /* secret: PEM */
	int64_t expires_at;
} cp_login_token;

/* Parses a token file. Missing or empty required members (named in the
 * message), a malformed expiresAt or not an object: CP_ESOURCE. */
int cp_login_token_parse(const char *json, size_t len, cp_login_token *ret, cp_error *err);
void cp_login_token_free(cp_login_token *t);

/* The DPoP proof of a request to htu: header {"typ":"dpop+jwt",
 * "alg":"ES256","jwk":{"kty":"EC","x","y","crv":"P-256"}}, payload
 * {"htm":"POST","htu","iat","jti"}, each compact JSON, base64url without
 * padding, signed with ES256 (the raw 64-byte r||s). jti NULL: a random
 * UUID (version 4). pem: the dpopKey (SEC1 or PKCS#8, read as botocore
 * reads it: the base64 between the BEGIN and END lines). Heap string in
 * *ret; CP_EINTERACTIVE when the key cannot be read or is not P-256 (the
 * hint is the caller's), CP_EINTERNAL. */
int cp_login_dpop(const char *pem, const char *htu, int64_t iat, const char *jti, char **ret,
		  cp_error *err);

/* The CreateOAuth2Token body of a refresh. Heap secret (cp_free_secret). */
char *cp_login_refresh_body(const cp_login_token *t);

/* Applies a CreateOAuth2Token answer to t (accessToken replaced, accountId
 * kept, expiresAt now + expiresIn; refreshToken replaced). 0, CP_ESOURCE
 * (cause CP_CAUSE_MALFORMED; t unchanged) or CP_EINTERNAL (t unusable). */
int cp_login_apply_refresh(cp_login_token *t, const char *json, size_t len, int64_t now,
			   cp_error *err);

/* The error of a CreateOAuth2Token answer with an error status: sets err
 * (status, cause, remote) and returns the status, as described at the top.
 * what names the service in the message; hint is appended to the
 * CP_EINTERACTIVE ones. */
int cp_login_refresh_error(long http_status, const char *body, size_t len, const char *what,
			   const char *hint, const char *const *secrets, size_t nsecrets,
			   cp_error *err);

/* The token file text after a refresh. Heap secret. */
char *cp_login_token_serialize(const cp_login_token *t);

#endif
