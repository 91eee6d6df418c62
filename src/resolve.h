/* resolve.h - turn a profile into a credential chain (no I/O, no network).
 *
 * A chain is a base (where the first credentials come from) followed by the
 * roles to assume, in the order they are assumed. Semantics follow the
 * cross-SDK assume-role suite (conformance/credential-chains/smithy-rs/
 * assume-role-tests.json):
 *  - the selected profile's role_arn wins over its own static keys;
 *  - a source profile's static keys win over its role_arn;
 *  - a profile may name itself as source_profile only with static keys;
 *  - any other revisit is a cycle; at most CP_MAX_SOURCE_HOPS hops;
 *  - source_profile with credential_source is an error;
 *  - role_arn with web_identity_token_file is a web identity, whatever
 *    source_profile, credential_source or static keys the profile also has
 *    (botocore's web identity provider comes first);
 *  - SSO (sso_session / legacy sso_* keys) follows the suite's Sso cases:
 *    with sso_session, sso_start_url and sso_region belong in the
 *    [sso-session] section; sso_account_id and sso_role_name go together;
 *  - credproc_rolesanywhere_certificate (or --rolesanywhere-certificate)
 *    makes IAM Roles Anywhere the base, before credential_process and SSO;
 *    with role_arn and neither source_profile nor credential_source, the
 *    role is assumed with the Roles Anywhere session.
 *  - login_session (console sign-in) comes where botocore's profile
 *    providers put it: after static keys and SSO settings, before
 *    credential_process.
 * All functions return 0 or CP_ECONFIG / CP_EINTERNAL with err set.
 */
#ifndef CP_RESOLVE_H
#define CP_RESOLVE_H

#include <stdbool.h>
#include <stddef.h>

#include "config.h"
#include "creds.h"
#include "source.h"
#include "util.h"

#define CP_MAX_SOURCE_HOPS 16

typedef struct cp_role_step {
	char *profile;            /* profile that names the role, NULL for --role-arn */
	char *role_arn;
	char *role_session_name;  /* NULL: not configured (caller applies the default) */
	char *external_id;        /* NULL: none */
	char *mfa_serial;         /* NULL: none */
	int duration_seconds;     /* 0: not configured */
	/* Session parameters (our keys, credproc_*), raw as configured; NULL: none. */
	char *policy;             /* credproc_policy: JSON */
	char *policy_arns;        /* credproc_policy_arns: comma-separated ARNs */
	char *tags;               /* credproc_tags: comma-separated key=value */
	char *transitive_tag_keys;/* credproc_transitive_tag_keys: comma-separated */
	char *source_identity;    /* credproc_source_identity */
} cp_role_step;

typedef struct cp_chain {
	cp_source *base;           /* where the first credentials come from */
	cp_role_step *steps;       /* assumed in order: steps[0] with the base */
	size_t nsteps;
	char **profiles;           /* every profile visited, target first */
	size_t nprofiles;
} cp_chain;

/* Overrides from the command line (all optional). */
typedef struct cp_role_flags {
	const char *role_arn;          /* --role-arn: a role on top of source_profile/credential_source */
	const char *source_profile;    /* --source-profile */
	const char *credential_source; /* --credential-source */
	const char *role_session_name; /* applies to the last role */
	const char *external_id;       /* applies to the last role */
	const char *mfa_serial;        /* applies to the last role */
	int duration_seconds;          /* applies to the last role; 0: unset */
	const char *policy;            /* --policy, applies to the last role */
	const char *policy_arns;       /* --policy-arns */
	const char *tags;              /* --tags */
	const char *transitive_tag_keys; /* --transitive-tag-keys */
	const char *source_identity;   /* --source-identity */
	/* --rolesanywhere-*: IAM Roles Anywhere settings (source.h CP_RA_*),
	 * each overriding the profile's credproc_rolesanywhere_* key; with
	 * --rolesanywhere-certificate (or the profile's key) the base. */
	const char *rolesanywhere[CP_RA_NKEYS];
} cp_role_flags;

/* Resolves `profile` (or, with flags->role_arn, a role on top of
 * flags->source_profile / flags->credential_source) into *ret. */
int cp_resolve(const cp_config *cfg, const char *profile, const cp_role_flags *flags,
	       cp_chain *ret, cp_error *err);
void cp_chain_free(cp_chain *c);

/* Parses duration_seconds-style integers: [900, 43200]. 0 or CP_ECONFIG. */
int cp_parse_duration(const char *s, const char *what, int *ret, cp_error *err);

/* Default session name "aws-credproc-<user>", sanitized to [\w+=,.@-], <= 64. */
char *cp_default_session_name(void);
/* Whether s is a session name STS takes: 2-64 characters of [\w+=,.@-]
 * (role sessions, Roles Anywhere's roleSessionName). */
bool cp_session_name_ok(const char *s);
/* Replaces characters outside STS's set and truncates to 64 (in place). */
void cp_sanitize_session_name(char *s);

#endif
