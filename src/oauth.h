/* oauth.h - what the JSON services of the network side share: the SSO
 * OIDC refresh and the portal call (sso.c), the console sign-in refresh
 * (login.c) and Roles Anywhere's CreateSession (rolesanywhere.c). Network side only (module-internal: nothing here is exported
 * by the executable or reached through the cp_net() table).
 */
#ifndef CP_OAUTH_H
#define CP_OAUTH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "http.h"
#include "retry.h"
#include "util.h"

#define CP_OAUTH_DEFAULT_TIMEOUT_MS 10000L
#define CP_OAUTH_MAX_REPLY (64 * 1024)

/* The string member k of object o when it is a non-empty string; else NULL. */
const char *cp_oauth_jstr(const cJSON *o, const char *k);

/* s as server text may be quoted (cp_safe_text: no control character, cut
 * to outlen); "" when it would quote one of the secrets. */
void cp_oauth_sanitize(const char *s, const char *const *secrets, size_t nsecrets, char *out,
		       size_t outlen);

/* Code and message of a rest-json error body: "__type" (namespace and
 * suffix stripped), "code"/"Code", or OAuth's "error"; "message"/"Message"
 * or "error_description". Each sanitized as by cp_oauth_sanitize(). */
void cp_oauth_error_body(const cp_buf *body, const char *const *secrets, size_t nsecrets,
			 char *code, size_t codelen, char *msg, size_t msglen);

/* RFC 3339, plus the "YYYY-MM-DDTHH:MM:SSUTC" form older CLIs wrote: 0, or
 * -1 if malformed. */
int cp_oauth_parse_time(const char *s, int64_t *ret);

/* An error status worth another attempt: 429 or 5xx. */
bool cp_oauth_retryable_status(long st);
/* The cause of an error status: throttled, server, else refused. */
cp_cause cp_oauth_status_cause(long st);

/* How cp_oauth_send() repeats a request. */
typedef struct cp_oauth_send_opts {
	long timeout_ms;       /* per request; 0: CP_OAUTH_DEFAULT_TIMEOUT_MS */
	int attempts;          /* 0: 1 */
	int64_t deadline_ms;   /* on clock->mono_ms; 0: none */
	const cp_clock *clock; /* NULL: cp_clock_system */
} cp_oauth_send_opts;

/* Sends req (replies capped at CP_OAUTH_MAX_REPLY) with o's attempts,
 * jittered backoff and deadline (cp_http_send_retry, 429 retried too).
 * Returns 0 with the last response (a retryable status only when attempts
 * ran out), or CP_ETRANSPORT/CP_ECONFIG/CP_EINTERNAL with err set and
 * prefixed with `what`. */
int cp_oauth_send(const cp_oauth_send_opts *o, cp_http_request *req, const char *what,
		  cp_http_response *resp, cp_error *err);

#endif
