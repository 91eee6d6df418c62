/* source.h - where the first credentials of a chain come from.
 *
 * One file a source under src/sources/, each behind this small interface
 * (after aws-c-auth's credentials providers): a table of functions and the
 * source's own state. Resolution (resolve.c) builds the source from the
 * profile; the chain (credproc.c) asks it for its cache identity, its
 * explain line and its credentials, without knowing which one it is.
 *
 * Adding a source: one file here, one row in sources/table.c (when
 * `credential_source = X` names it) or one rule in resolve.c (when keys of
 * a profile select it), one test file, and its entries in --help, the man
 * page, the README and the completions.
 */
#ifndef CP_SOURCE_H
#define CP_SOURCE_H

#include <stdbool.h>

#include "config.h"
#include "creds.h"
#include "util.h"

typedef struct cp_run cp_run; /* run.h: the state of one call */
typedef struct cp_source cp_source;

typedef struct cp_source_ops {
	const char *kind;              /* "static keys", "Environment", ... (messages, cache key) */
	const char *label;             /* its SOURCE column in `list`; NULL: kind */
	const char *credential_source; /* the credential_source value naming it; NULL: none */
	/* The credentials are temporary ones that we obtain from a service
	 * (and so are cached, and need a region and an STS endpoint when
	 * calls_sts). False: printed as they are, never cached. */
	bool temporary;
	bool calls_sts;
	/* Appends the non-secret identity of the source to a cache key
	 * (cp_key_line lines): who it is, never a secret. 0 or CP_EINTERNAL. */
	int (*identity)(const cp_source *s, const cp_run *run, cp_buf *key);
	/* Appends one line for explain (ends with '\n'). 0 or CP_EINTERNAL. */
	int (*explain)(const cp_source *s, const cp_run *run, cp_buf *out);
	/* Gets the credentials now. 0 or a CP_E* status with err set. */
	int (*fetch)(const cp_source *s, cp_run *run, cp_creds *ret, cp_error *err);
	/* Whether the source gives long-term keys (which may start an MFA
	 * session with GetSessionToken), as far as is known before fetching.
	 * NULL: never. */
	bool (*long_term)(const cp_source *s);
	/* Frees what the source owns beyond struct cp_source (NULL: nothing). */
	void (*release)(cp_source *s);
} cp_source_ops;

/* Every source starts with this; its own state follows it. */
struct cp_source {
	const cp_source_ops *ops;
	char *profile; /* the profile that holds it ("(command line)", "(environment)") */
};

void cp_source_free(cp_source *s);

/* The sources that a credential_source value names (sources/table.c),
 * NULL-terminated, and the one named `value` (NULL: unknown). */
extern const cp_source_ops *const cp_named_sources[];
const cp_source_ops *cp_source_named_ops(const char *value);
/* "Environment, Ec2InstanceMetadata or EcsContainer" (static text). */
const char *cp_named_sources_text(void);

/* Constructors: 0, CP_ECONFIG or CP_EINTERNAL with err set. Strings are
 * copied. */
int cp_source_named(const char *profile, const char *value, cp_source **ret, cp_error *err);
int cp_source_static(const char *profile, const char *access_key_id, const char *secret,
		     const char *session_token, cp_source **ret, cp_error *err);
int cp_source_process(const char *profile, const char *command, cp_source **ret, cp_error *err);
int cp_source_web_identity(const char *profile, const char *token_file, const char *role_arn,
			   const char *session_name, cp_source **ret, cp_error *err);
/* The SSO settings of profile p (resolve.h states the rules). */
int cp_source_sso(const cp_config *cfg, const char *profile, const cp_section *p,
		  cp_source **ret, cp_error *err);
/* True if profile p has any sso_* key. */
bool cp_profile_has_sso(const cp_section *p);

/* A console sign-in session (login_session = session). */
int cp_source_login(const char *profile, const char *session, cp_source **ret, cp_error *err);
/* The token cache directory of console sign-in sessions, as botocore
 * finds it: AWS_LOGIN_CACHE_DIRECTORY ($VAR, ${VAR} and a leading "~"
 * expanded), else ~/.aws/login/cache. Heap string; CP_ESOURCE (no home
 * directory) or CP_EINTERNAL. */
int cp_login_cache_dir(char **ret, cp_error *err);

/* For the source files: allocates a source of `size` bytes (>= sizeof
 * struct cp_source) with ops and a copy of profile. NULL on OOM. */
cp_source *cp_source_alloc(const cp_source_ops *ops, size_t size, const char *profile);

/* The ops of each source, for the tests and for the checks that need to
 * know one source (the MFA explain, the EKS fallback). */
extern const cp_source_ops cp_source_static_ops, cp_source_environment_ops, cp_source_imds_ops,
	cp_source_container_ops, cp_source_process_ops, cp_source_web_identity_ops,
	cp_source_sso_ops;
extern const cp_source_ops cp_source_login_ops;

/* The state of the sources that resolution fills from several keys, for
 * the tests and explain; the cp_source_as_* views return NULL when s is of
 * another kind. */
typedef struct cp_web_identity_source {
	cp_source base;
	char *token_file;
	char *role_arn;
	char *session_name; /* NULL: the default session name */
} cp_web_identity_source;

/* IAM Identity Center. With sso_session, start URL and region come from
 * its [sso-session] section; without, from the profile (legacy). Account
 * and role are both set, or (sso_session only) both NULL: a token-only
 * profile, which yields no credentials. */
typedef struct cp_sso_source {
	cp_source base;
	char *session;        /* NULL: legacy sso_start_url profile */
	char *start_url;
	char *region;
	char *account_id;
	char *role_name;
	char *registration_scopes; /* raw; NULL: none */
} cp_sso_source;

/* IAM Roles Anywhere: the settings by key, credproc_rolesanywhere_<name>
 * in a profile, --rolesanywhere-<name with '-'> on the command line. */
enum {
	CP_RA_CERTIFICATE,
	CP_RA_PRIVATE_KEY,
	CP_RA_CERTIFICATE_CHAIN,
	CP_RA_TRUST_ANCHOR_ARN,
	CP_RA_PROFILE_ARN,
	CP_RA_ROLE_ARN,
	CP_RA_SESSION_DURATION,
	CP_RA_SESSION_NAME,
	CP_RA_PIN_FILE,
	CP_RA_PIN_COMMAND,
	CP_RA_PKCS11_MODULE,
	CP_RA_ENDPOINT,
	CP_RA_NKEYS
};
/* "certificate", "private_key", ... in the order above. */
extern const char *const cp_ra_key_names[CP_RA_NKEYS];

typedef struct cp_ra_source {
	cp_source base;
	char *v[CP_RA_NKEYS]; /* NULL: not set */
	char *region;         /* the profile's region, else the trust anchor ARN's */
	int duration_seconds; /* 0: the default (3600) */
} cp_ra_source;

/* True when profile p (may be NULL) or flags (CP_RA_NKEYS values, may be
 * NULL) set credproc_rolesanywhere_certificate. */
bool cp_profile_has_rolesanywhere(const cp_section *p, const char *const *flags);
/* The Roles Anywhere source of profile p (may be NULL: flags only), each
 * flag (non-NULL) overriding the profile's key. CP_ECONFIG names every
 * missing required key; a bad duration or session name. */
int cp_source_rolesanywhere(const char *profile, const cp_section *p, const char *const *flags,
			    cp_source **ret, cp_error *err);
extern const cp_source_ops cp_source_rolesanywhere_ops;
const cp_ra_source *cp_source_as_rolesanywhere(const cp_source *s);

/* A console sign-in session. */
typedef struct cp_login_source {
	cp_source base;
	char *session; /* login_session */
} cp_login_source;

const cp_creds *cp_source_as_static(const cp_source *s);
const cp_web_identity_source *cp_source_as_web_identity(const cp_source *s);
const cp_sso_source *cp_source_as_sso(const cp_source *s);
const cp_login_source *cp_source_as_login(const cp_source *s);

#endif
