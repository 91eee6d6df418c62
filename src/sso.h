/* sso.h - IAM Identity Center (SSO) as a credential source (network side).
 *
 * The access token is the one `aws sso login` stores in
 * ~/.aws/sso/cache/<sha1 hex>.json, named after the sso-session name (for
 * `sso_session` profiles) or the start URL (legacy `sso_start_url`
 * profiles), as botocore's SSOTokenLoader names it:
 *   {"startUrl", "region", "accessToken", "expiresAt" (RFC 3339),
 *    ["clientId", "clientSecret", "registrationExpiresAt", "refreshToken"]}
 *
 * With an sso-session, a token with less than CP_SSO_REFRESH_WINDOW seconds
 * left is refreshed as botocore's SSOTokenProvider does (legacy profiles
 * are never refreshed): when refreshToken, clientId and clientSecret are
 * there and the registration has not expired, POST <oidc>/token with
 * {"grantType":"refresh_token","clientId","clientSecret","refreshToken"};
 * the answer {"accessToken","expiresIn"[,"refreshToken"]} is written back
 * to the cache file atomically (temp file, fsync, rename; 0600). A failed
 * refresh of a token that is still valid is a warning, not an error.
 *
 * Then GET <portal>/federation/credentials?role_name=R&account_id=A with
 * `x-amz-sso_bearer_token: <accessToken>` answers
 * {"roleCredentials":{"accessKeyId","secretAccessKey","sessionToken",
 * "expiration": epoch milliseconds}}.
 *
 * The endpoints come resolved from the core (cp_sso_endpoints, endpoint.h):
 * this side reads no configuration.
 *
 * Returns 0, CP_ECONFIG (bad endpoint, incomplete settings),
 * CP_EINTERACTIVE (no token or an unreadable one, token expired and not
 * refreshable or OIDC refused the refresh, the portal answered 401 or a 403
 * UnauthorizedException: "run `aws sso login ...`"), CP_EREFUSED (the
 * portal refused the request otherwise, e.g. 403 ForbiddenException "No
 * access": the role is not assigned to the user),
 * CP_ETRANSPORT (unreachable, 5xx, throttled after retries), CP_ESOURCE
 * (malformed token file or reply), CP_EINTERNAL.
 * Secrets (access and refresh tokens, client secret, role credentials) are
 * wiped when freed and never appear in a message or a debug line.
 */
#ifndef CP_SSO_H
#define CP_SSO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "creds.h"
#include "retry.h"
#include "util.h"

#define CP_SSO_REFRESH_WINDOW (15 * 60) /* botocore SSOTokenProvider._REFRESH_WINDOW */
#define CP_SSO_MAX_TOKEN_FILE (64 * 1024)

typedef struct cp_sso_options {
	const char *profile;          /* the profile holding the sso_* keys (messages) */
	const char *session_name;     /* sso_session; NULL: a legacy sso_start_url profile */
	const char *start_url;        /* required */
	const char *region;           /* sso_region, required */
	const char *account_id;       /* required */
	const char *role_name;        /* required */
	const char *portal_url;       /* the portal, no trailing '/'; required */
	const char *portal_source;    /* where it came from, for messages; may be NULL */
	const char *oidc_url;         /* SSO OIDC (refreshes), no trailing '/'; NULL: unresolved */
	const char *oidc_source;      /* where it came from, for messages; may be NULL */
	const cp_error *oidc_error;   /* why oidc_url is NULL: reported if a refresh is due */
	const char *ca_bundle;        /* PEM file, NULL: the system store */
	const char *token_dir;        /* NULL: ~/.aws/sso/cache */
	long timeout_ms;              /* per request; 0: 10000 */
	int attempts;                 /* per request; 0: 1 */
	int64_t deadline_ms;          /* on clock->mono_ms; 0: none */
	const cp_clock *clock;        /* backoff and deadline; NULL: cp_clock_system */
	int64_t now;                  /* Unix seconds; 0: the clock (tests pin it) */
} cp_sso_options;

/* The whole source: token (refreshed if needed), then GetRoleCredentials. */
int cp_sso_get_credentials(const cp_sso_options *o, cp_creds *ret, cp_error *err);

/* ---- the pieces, for the tests ---------------------------------------- */

/* The token cache file: <dir>/<sha1 hex of session_name, else start_url>.json.
 * dir NULL: ~/.aws/sso/cache (cp_home_dir(): $HOME when absolute, else the
 * passwd entry). Heap string. */
int cp_sso_token_path(const char *dir, const char *session_name, const char *start_url,
		      char **ret_path, cp_error *err);

typedef struct cp_sso_token {
	char *start_url;               /* may be NULL */
	char *region;                  /* may be NULL */
	char *access_token;            /* secret */
	int64_t expires_at;
	char *refresh_token;           /* secret; may be NULL */
	char *client_id;               /* may be NULL */
	char *client_secret;           /* secret; may be NULL */
	char *registration_expires_at; /* as written (kept verbatim on rewrite); may be NULL */
	int64_t registration_expires;  /* parsed; 0 if absent or malformed */
} cp_sso_token;

/* Parses a token cache file. accessToken and expiresAt (RFC 3339, or the
 * older "...UTC" form the CLI once wrote) are required: CP_ESOURCE. */
int cp_sso_token_parse(const char *json, size_t len, cp_sso_token *ret, cp_error *err);
void cp_sso_token_free(cp_sso_token *t);

/* True when t can be refreshed at `now` (refresh token, client id and
 * secret present, registration not expired). */
bool cp_sso_token_refreshable(const cp_sso_token *t, int64_t now);

/* The CreateToken request body of a refresh. Heap secret (cp_free_secret). */
char *cp_sso_refresh_body(const cp_sso_token *t);

/* Applies a CreateToken answer to t (new access token, expiry now +
 * expiresIn, new refresh token if any). 0 or CP_ESOURCE/CP_EINTERNAL. */
int cp_sso_apply_refresh(cp_sso_token *t, const char *json, size_t len, int64_t now,
			 cp_error *err);

/* The token file text botocore writes after a refresh. Heap secret. */
char *cp_sso_token_serialize(const cp_sso_token *t);

/* Parses a GetRoleCredentials answer (expiration in epoch milliseconds). */
int cp_sso_parse_role_credentials(const char *json, size_t len, cp_creds *ret, cp_error *err);

#endif
