/* sts.h - the STS client: AssumeRole over SigV4 and the XML replies.
 *
 * Return values: 0; CP_EREFUSED when STS answers with an error (err->remote.code is
 * the STS error code, err->remote.http_status the status, err->msg names the role,
 * code and message); CP_ETRANSPORT for transport failures, 5xx, throttling
 * or an unparsable reply; CP_EINTERNAL on OOM. Every remote failure sets
 * err->cause (cp_sts_error_cause; CP_CAUSE_MALFORMED for an unparsable
 * reply; http.h's causes when no answer came).
 */
#ifndef CP_STS_H
#define CP_STS_H

#include <stdbool.h>
#include <stddef.h>

#include "creds.h"
#include "util.h"

/* Largest STS reply body accepted by cp_sts_parse_xml(). */
#define CP_STS_MAX_XML (64 * 1024)

typedef struct cp_sts_endpoint {
	const char *url;            /* e.g. "https://sts.us-east-1.amazonaws.com" */
	const char *signing_region; /* e.g. "us-east-1" */
	const char *ca_bundle;      /* NULL: system store */
	long timeout_ms;            /* 0: default */
	int64_t clock_offset;       /* seconds added to the local clock when signing */
} cp_sts_endpoint;

/* A session tag. */
typedef struct cp_tag {
	const char *key;
	const char *value;
} cp_tag;

typedef struct cp_assume_role_input {
	const char *role_arn;
	const char *role_session_name;
	const char *external_id;    /* NULL: omitted */
	int duration_seconds;       /* 0: omitted (STS default 3600) */
	const char *serial_number;  /* MFA, NULL: omitted */
	const char *token_code;     /* MFA code, NULL: omitted (secret) */
	const char *policy;         /* session policy JSON, NULL: omitted (Policy) */
	const char *const *policy_arns; /* PolicyArns.member.N.arn */
	size_t npolicy_arns;
	const cp_tag *tags;         /* Tags.member.N.Key / .Value */
	size_t ntags;
	const char *const *transitive_tag_keys; /* TransitiveTagKeys.member.N */
	size_t ntransitive_tag_keys;
	const char *source_identity; /* SourceIdentity, NULL: omitted */
} cp_assume_role_input;

/* AssumeRoleWithWebIdentity (sent unsigned). */
typedef struct cp_web_identity_input {
	const char *role_arn;
	const char *role_session_name;
	const char *token;          /* the OIDC token (secret) */
	int duration_seconds;       /* 0: omitted */
	const char *policy;         /* NULL: omitted */
	const char *const *policy_arns;
	size_t npolicy_arns;
} cp_web_identity_input;

/* A parsed STS reply: either credentials or an error envelope. */
typedef struct cp_sts_reply {
	bool is_error;
	cp_creds creds;             /* expiration set, fractions dropped; account_id from the ARN */
	char *expiration_text;      /* Expiration as sent */
	char *assumed_role_arn;     /* AssumedRoleUser/Arn, if present */
	char *request_id;
	char *error_type;
	char *error_code;
	char *error_message;
} cp_sts_reply;

/* Parses any "<Op>Response/<Op>Result/Credentials" reply or an ErrorResponse.
 * Network access and entity expansion are off. 0, or CP_ETRANSPORT when the
 * body is not a well-formed reply of either kind. */
int cp_sts_parse_xml(const char *xml, size_t len, cp_sts_reply *ret, cp_error *err);
void cp_sts_reply_free(cp_sts_reply *r);

/* The general class of an STS error reply (what err->cause says):
 * CP_CAUSE_THROTTLED (HTTP 429, or a throttling code: Throttling,
 * RequestLimitExceeded, IDPCommunicationError, ...), CP_CAUSE_SERVER (5xx),
 * CP_CAUSE_CLOCK_SKEW (SignatureDoesNotMatch, RequestExpired,
 * InvalidSignatureException or RequestTimeTooSkewed with a Date header,
 * server_date != 0), CP_CAUSE_CHAINED_ROLE_CAP (ValidationError about role
 * chaining), CP_CAUSE_EXPIRED_SESSION (ExpiredToken, InvalidClientTokenId),
 * else CP_CAUSE_REFUSED. code and message may be NULL. */
cp_cause cp_sts_error_cause(long http_status, const char *code, const char *message,
			    int64_t server_date);

/* Checks the optional parameters against the STS model's constraints
 * (Policy, PolicyArns: at most 10 of 20..2048 characters, Tags: at most 50,
 * keys 1..128 and values 0..256 characters of [\p{L}\p{Z}\p{N}_.:/=+-@], no
 * key twice ignoring case, TransitiveTagKeys, SourceIdentity: 2..64 of
 * [\w+=,.@-]). 0, CP_ECONFIG with a message naming the parameter (and a
 * tag key or policy ARN, never a policy, tag value or source identity), or
 * CP_EINTERNAL when the role ARN or session name is missing. Pure string
 * checks: no network library is involved. */
int cp_sts_assume_role_validate(const cp_assume_role_input *in, cp_error *err);

/* The same for AssumeRoleWithWebIdentity (Policy at most 2048 characters,
 * PolicyArns); a token of under 4 or over 20000 bytes is CP_ESOURCE. */
int cp_sts_web_identity_validate(const cp_web_identity_input *in, cp_error *err);

/* Form-encodes Action=AssumeRole&Version=2011-06-15&... and appends it to
 * out (awsQuery: PolicyArns.member.N.arn, Tags.member.N.Key/.Value,
 * TransitiveTagKeys.member.N, N from 1). 0; the status of
 * cp_sts_assume_role_validate() when the input is invalid (out untouched);
 * CP_EINTERNAL on OOM. */
int cp_sts_assume_role_body(const cp_assume_role_input *in, cp_buf *out);

/* Form-encodes Action=AssumeRoleWithWebIdentity&Version=2011-06-15&RoleArn&
 * RoleSessionName&WebIdentityToken[&DurationSeconds][&Policy][&PolicyArns...];
 * returns like cp_sts_assume_role_body(). out then holds the token: the
 * caller wipes it (cp_buf_free). */
int cp_sts_web_identity_body(const cp_web_identity_input *in, cp_buf *out);

/* POSTs AssumeRoleWithWebIdentity (unsigned) and parses the reply; same
 * return values as cp_sts_assume_role (InvalidIdentityToken, ExpiredTokenException,
 * AccessDenied... are CP_EREFUSED; IDPCommunicationError is retryable). */
int cp_sts_assume_role_with_web_identity(const cp_sts_endpoint *ep, const cp_web_identity_input *in,
					 cp_creds *ret, cp_error *err);

/* GetSessionToken (an MFA session). */
typedef struct cp_session_token_input {
	int duration_seconds;       /* 0: omitted (STS default 43200) */
	const char *serial_number;  /* MFA device ARN or serial */
	const char *token_code;     /* the 6-digit code (secret) */
} cp_session_token_input;

/* POSTs GetSessionToken, signed with source (long-term keys), and parses
 * the reply; same return values as cp_sts_assume_role. */
int cp_sts_get_session_token(const cp_sts_endpoint *ep, const cp_creds *source,
			     const cp_session_token_input *in, cp_creds *ret, cp_error *err);

/* POSTs AssumeRole, signed with source, and parses the reply. */
int cp_sts_assume_role(const cp_sts_endpoint *ep, const cp_creds *source,
		       const cp_assume_role_input *in, cp_creds *ret, cp_error *err);

#endif
