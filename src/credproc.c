/* credproc.c - config -> chain -> credentials. */
#include "credproc.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include <cjson/cJSON.h>

#include "cache.h"
#include "config.h"
#include "endpoint.h"
#include "identity.h"
#include "mfa.h"
#include "net.h"
#include "process.h"

typedef struct s_ctx {
	const cp_request *req;
	cp_config cfg;
	cp_chain chain;
	const cp_section *settings; /* the profile whose region/endpoint/CA apply */
	char *region;
	cp_sts_target sts;
	long timeout_ms;
	int64_t deadline_ms; /* monotonic */
	char *cfg_path, *cred_path;
	bool region_from_imds; /* no region configured: the instance's region applies */
	int margin;            /* configured refresh margin, seconds */
	cp_buf key;            /* cache key text */
	int64_t clock_offset;  /* STS time minus local time, once a skew was detected */
	bool sts_needed;       /* roles to assume, or a web identity base */
	cp_cache *cache;       /* the open cache (MFA sessions), NULL: none */
} s_ctx;

#define CP_MAX_ATTEMPTS 3
#define CP_BACKOFF_BASE_MS 200
#define CP_BACKOFF_CAP_MS 5000

static int64_t s_mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Full-jitter exponential backoff: a random delay in [0, min(cap, base * 2^n)). */
static long s_backoff_ms(int attempt)
{
	long ceiling = CP_BACKOFF_BASE_MS << (attempt < 10 ? attempt : 10);
	if (ceiling > CP_BACKOFF_CAP_MS)
		ceiling = CP_BACKOFF_CAP_MS;
	unsigned int rnd = 0;
	if (getrandom(&rnd, sizeof rnd, GRND_NONBLOCK) != sizeof rnd)
		rnd = (unsigned int)s_mono_ms();
	return (long)(rnd % (unsigned long)ceiling);
}

static void s_sleep_ms(long ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
	while (nanosleep(&ts, &ts) < 0)
		;
}

/* After attempt number `attempt` ended with r: false when it succeeded or is
 * not worth repeating (or the deadline allows no more); otherwise waits the
 * backoff and returns true. */
static bool s_retry_wait(const s_ctx *x, int attempt, int r, const cp_error *err)
{
	if (!r || !cp_error_retryable(err) || attempt >= CP_MAX_ATTEMPTS)
		return false;
	long delay = s_backoff_ms(attempt);
	if (s_mono_ms() + delay >= x->deadline_ms)
		return false;
	cp_debug("attempt %d failed (%s); retrying in %ld ms", attempt, err->msg, delay);
	s_sleep_ms(delay);
	return true;
}

static const char *s_env(const char *name)
{
	const char *v = getenv(name);
	return v && *v ? v : NULL;
}

/* The session token of credential_source = Environment: AWS_SESSION_TOKEN,
 * else its old name AWS_SECURITY_TOKEN (still read by botocore); NULL. */
static const char *s_env_session_token(void)
{
	const char *t = s_env("AWS_SESSION_TOKEN");
	return t ? t : s_env("AWS_SECURITY_TOKEN");
}

static int s_imds_options(s_ctx *x, cp_imds_options *o, char **ret_endpoint, cp_error *err)
{
	if (cp_truthy(s_env("AWS_EC2_METADATA_DISABLED")))
		return cp_error_set(err, CP_ESOURCE,
				    "EC2 instance metadata is disabled (AWS_EC2_METADATA_DISABLED=true)");
	int r = cp_imds_endpoint(x->settings, ret_endpoint, err);
	if (r)
		return r;
	memset(o, 0, sizeof *o);
	o->endpoint = *ret_endpoint;
	o->attempts = 3;
	o->deadline_ms = x->deadline_ms;
	o->v1_disabled = cp_truthy(s_env("AWS_EC2_METADATA_V1_DISABLED")) ||
			 (x->settings && cp_truthy(cp_section_get(x->settings, "ec2_metadata_v1_disabled")));
	return 0;
}

#define CP_WEB_IDENTITY_TOKEN_MAX (64 * 1024)

/* AssumeRoleWithWebIdentity with the token read now (it rotates). */
static int s_web_identity(s_ctx *x, const char *role_arn, const char *token_file,
			  const char *session_name, cp_creds *ret, cp_error *err)
{
	char *token = NULL, *default_name = NULL;
	size_t len = 0;
	int r, e;
	const cp_net_ops *net = cp_net(err);
	if (!net)
		return err->status;
	if (!x->sts.url && (r = cp_sts_endpoint_resolve(&x->cfg, x->settings, x->region, &x->sts, err)))
		return r;
	e = cp_read_file(token_file, CP_WEB_IDENTITY_TOKEN_MAX, &token, &len) < 0 ? errno : 0;
	if (e == EFBIG)
		return cp_error_set(err, CP_ESOURCE, "web identity token file '%s' is larger than %d bytes",
				    token_file, CP_WEB_IDENTITY_TOKEN_MAX);
	if (e)
		return cp_error_set(err, CP_ESOURCE, "cannot read the web identity token file '%s': %s",
				    token_file, cp_read_file_strerror(e));
	char *t = cp_trim(token);
	if (!*t) {
		cp_freezero(token, len + 1);
		return cp_error_set(err, CP_ESOURCE, "the web identity token file '%s' is empty", token_file);
	}
	if (!session_name) {
		if (!(default_name = cp_default_session_name())) {
			cp_freezero(token, len + 1);
			return cp_error_set(err, CP_EINTERNAL, "out of memory");
		}
		session_name = default_name;
	}
	cp_web_identity_input in = {.role_arn = role_arn, .role_session_name = session_name, .token = t};
	cp_sts_endpoint ep = {
		.url = x->sts.url,
		.signing_region = x->sts.signing_region,
		.ca_bundle = cp_ca_bundle(x->settings),
	};
	for (int attempt = 1;; attempt++) {
		long left = (long)(x->deadline_ms - s_mono_ms());
		if (left <= 0) {
			r = cp_error_set(err, CP_ETRANSPORT, "role '%s': no answer from STS at '%s' in time",
					 role_arn, ep.url);
			break;
		}
		ep.timeout_ms = left;
		cp_error_clear(err);
		r = net->assume_role_with_web_identity(&ep, &in, ret, err);
		if (!s_retry_wait(x, attempt, r, err))
			break;
	}
	cp_freezero(token, len + 1);
	free(default_name);
	return r;
}

static int s_base_credentials(s_ctx *x, cp_creds *ret, cp_error *err)
{
	cp_chain *c = &x->chain;
	int r;
	switch (c->base) {
	case CP_BASE_STATIC:
		cp_debug("base: static keys of profile '%s'", c->base_profile);
		return cp_creds_copy(ret, &c->static_creds) ? cp_error_set(err, CP_EINTERNAL, "out of memory") : 0;
	case CP_BASE_ENVIRONMENT: {
		const char *akid = s_env("AWS_ACCESS_KEY_ID");
		const char *secret = s_env("AWS_SECRET_ACCESS_KEY");
		const char *token = s_env_session_token();
		cp_debug("base: environment variables");
		if (!akid || !secret)
			return cp_error_set(err, CP_ESOURCE,
					    "credential_source = Environment, but AWS_ACCESS_KEY_ID and "
					    "AWS_SECRET_ACCESS_KEY are not both set");
		cp_creds t = {0};
		if (!(t.access_key_id = cp_strdup(akid)) || !(t.secret_access_key = cp_strdup(secret)) ||
		    (token && !(t.session_token = cp_strdup(token)))) {
			cp_creds_clear(&t);
			return cp_error_set(err, CP_EINTERNAL, "out of memory");
		}
		cp_creds_move(ret, &t);
		return 0;
	}
	case CP_BASE_IMDS: {
		cp_imds_options o;
		char *ep = NULL;
		if ((r = s_imds_options(x, &o, &ep, err)))
			return r;
		const cp_net_ops *net = cp_net(err);
		cp_debug("base: EC2 instance metadata at %s", ep);
		r = net ? net->imds_credentials(&o, ret, err) : err->status;
		free(ep);
		return r;
	}
	case CP_BASE_PROCESS:
		cp_debug("base: credential_process of profile '%s'", c->base_profile);
		return cp_process_run(c->base_profile, c->process_command, x->timeout_ms, ret, err);
	case CP_BASE_ECS: {
		cp_ecs_options o = {
			.relative_uri = s_env("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI"),
			.full_uri = s_env("AWS_CONTAINER_CREDENTIALS_FULL_URI"),
			.auth_token = s_env("AWS_CONTAINER_AUTHORIZATION_TOKEN"),
			.auth_token_file = s_env("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE"),
		};
		o.attempts = 3;
		o.deadline_ms = x->deadline_ms;
		const cp_net_ops *net = cp_net(err);
		cp_debug("base: container credential endpoint");
		return net ? net->ecs_credentials(&o, ret, err) : err->status;
	}
	case CP_BASE_WEB_IDENTITY:
		cp_debug("base: web identity token '%s' for role '%s'", c->web_identity_token_file,
			 c->web_identity_role_arn);
		return s_web_identity(x, c->web_identity_role_arn, c->web_identity_token_file,
				      c->web_identity_session_name, ret, err);
	case CP_BASE_SSO: {
		if (!c->sso_account_id || !c->sso_role_name)
			return cp_error_set(err, CP_ECONFIG,
					    "profile '%s' sets sso_session '%s' without sso_account_id and "
					    "sso_role_name: the selected profile will resolve an access token "
					    "instead of credentials", c->base_profile, c->sso_session);
		char *portal = NULL, *oidc = NULL;
		const char *portal_src = NULL, *oidc_src = NULL;
		cp_error oidc_err = {0};
		r = cp_sso_endpoints(&x->cfg, x->settings, c->sso_region, &portal, &portal_src,
					 &oidc, &oidc_src, &oidc_err, err);
		if (r)
			return r;
		cp_sso_options o = {
			.profile = c->base_profile,
			.session_name = c->sso_session,
			.start_url = c->sso_start_url,
			.region = c->sso_region,
			.account_id = c->sso_account_id,
			.role_name = c->sso_role_name,
			.portal_url = portal,
			.portal_source = portal_src,
			.oidc_url = oidc,
			.oidc_source = oidc_src,
			.oidc_error = &oidc_err,
			.ca_bundle = cp_ca_bundle(x->settings),
			.attempts = 3,
			.deadline_ms = x->deadline_ms,
		};
		const cp_net_ops *net = cp_net(err);
		cp_debug("base: IAM Identity Center role '%s' in account %s (%s '%s' of profile '%s')",
			 c->sso_role_name, c->sso_account_id, c->sso_session ? "sso-session" : "start URL",
			 c->sso_session ? c->sso_session : c->sso_start_url, c->base_profile);
		r = net ? net->sso_credentials(&o, ret, err) : err->status;
		free(portal);
		free(oidc);
		return r;
	}
	}
	return cp_error_set(err, CP_ECONFIG, "profile '%s': %s credentials are not supported yet",
			    c->base_profile ? c->base_profile : "?", cp_base_kind_name(c->base));
}

/* STS refused the signature's time: the local clock is off. */
static bool s_skew_refusal(const cp_error *e, int64_t *ret_offset)
{
	if (e->status != CP_EREFUSED || !e->remote.date)
		return false;
	if (strcmp(e->remote.code, "SignatureDoesNotMatch") != 0 && strcmp(e->remote.code, "RequestExpired") != 0 &&
	    strcmp(e->remote.code, "InvalidSignatureException") != 0 &&
	    strcmp(e->remote.code, "RequestTimeTooSkewed") != 0)
		return false;
	int64_t off = e->remote.date - cp_now();
	if (off > -CP_MAX_CLOCK_SKEW && off < CP_MAX_CLOCK_SKEW)
		return false;
	*ret_offset = off;
	return true;
}

/* The offset in whole minutes: STS's Date header has a resolution of one
 * second and the answer takes time to arrive, so seconds would be false
 * precision. */
static void s_describe_skew(char *buf, size_t len, int64_t off)
{
	int64_t a = off < 0 ? -off : off;
	snprintf(buf, len, "the local clock is about %lld min %s STS's", (long long)((a + 30) / 60),
		 off > 0 ? "behind" : "ahead of");
}

static bool s_role_chaining_refusal(const cp_error *e)
{
	return e->status == CP_EREFUSED && strcmp(e->remote.code, "ValidationError") == 0 &&
	       strstr(e->msg, "role chaining") != NULL;
}

/* The session parameters of one role, parsed from their configured text. */
typedef struct s_params {
	char *buf;               /* one copy of all the lists, split in place */
	const char **arns;
	size_t narns;
	cp_tag *tags;
	size_t ntags;
	const char **keys;
	size_t nkeys;
} s_params;

static void s_params_free(s_params *p)
{
	free(p->buf);
	free(p->arns);
	free(p->tags);
	free(p->keys);
	memset(p, 0, sizeof *p);
}

/* Splits a comma-separated list in place (items trimmed, empty ones dropped). */
static int s_split(char *text, const char ***ret, size_t *ret_n)
{
	size_t n = 0, cap = 0;
	const char **v = NULL;
	for (char *save = NULL, *tok = strtok_r(text, ",", &save); tok;
	     tok = strtok_r(NULL, ",", &save)) {
		tok = cp_trim(tok);
		if (!*tok)
			continue;
		if (n == cap) {
			cap = cap ? cap * 2 : 8;
			const char **nv = realloc(v, cap * sizeof *nv);
			if (!nv) {
				free(v);
				return CP_EINTERNAL;
			}
			v = nv;
		}
		v[n++] = tok;
	}
	*ret = v;
	*ret_n = n;
	return 0;
}

static int s_params_parse(const cp_role_step *s, s_params *p, cp_error *err)
{
	const char *who = s->profile ? s->profile : "(command line)";
	memset(p, 0, sizeof *p);
	if (s->policy) {
		cJSON *j = cJSON_Parse(s->policy);
		bool ok = j && cJSON_IsObject(j);
		cJSON_Delete(j);
		if (!ok)
			return cp_error_set(err, CP_ECONFIG,
					    "credproc_policy of profile '%s' is not a JSON policy document", who);
	}
	size_t total = (s->policy_arns ? strlen(s->policy_arns) + 1 : 0) +
		       (s->tags ? strlen(s->tags) + 1 : 0) +
		       (s->transitive_tag_keys ? strlen(s->transitive_tag_keys) + 1 : 0);
	if (!total)
		return 0;
	if (!(p->buf = malloc(total)))
		return cp_error_set(err, CP_EINTERNAL, "out of memory");
	char *w = p->buf;
	const char **tagv = NULL;
	size_t ntag = 0;
	if (s->policy_arns) {
		char *t = strcpy(w, s->policy_arns);
		w += strlen(t) + 1;
		if (s_split(t, &p->arns, &p->narns))
			goto oom;
	}
	if (s->tags) {
		char *t = strcpy(w, s->tags);
		w += strlen(t) + 1;
		if (s_split(t, &tagv, &ntag))
			goto oom;
		if (ntag && !(p->tags = calloc(ntag, sizeof *p->tags))) {
			free(tagv);
			goto oom;
		}
		for (size_t i = 0; i < ntag; i++) {
			char *eq = strchr(tagv[i], '=');
			if (!eq) {
				int r = cp_error_set(err, CP_ECONFIG,
						     "credproc_tags of profile '%s': '%.128s' is not key=value",
						     who, tagv[i]);
				free(tagv);
				s_params_free(p);
				return r;
			}
			*eq = '\0';
			p->tags[i].key = cp_trim((char *)tagv[i]);
			p->tags[i].value = cp_trim(eq + 1);
		}
		p->ntags = ntag;
		free(tagv);
	}
	if (s->transitive_tag_keys) {
		char *t = strcpy(w, s->transitive_tag_keys);
		if (s_split(t, &p->keys, &p->nkeys))
			goto oom;
	}
	return 0;
oom:
	s_params_free(p);
	return cp_error_set(err, CP_EINTERNAL, "out of memory");
}

/* AssumeRole for step s, signed with src; mfa_code (may be NULL) goes with
 * the step's mfa_serial as SerialNumber/TokenCode. */
static int s_assume(s_ctx *x, const cp_role_step *s, const cp_creds *src, const char *mfa_code,
		    cp_creds *ret, cp_error *err)
{
	const cp_net_ops *net = cp_net(err);
	if (!net)
		return err->status;
	char *default_name = NULL;
	cp_assume_role_input in = {
		.role_arn = s->role_arn,
		.role_session_name = s->role_session_name,
		.external_id = s->external_id,
		.duration_seconds = s->duration_seconds,
	};
	if (mfa_code) {
		in.serial_number = s->mfa_serial;
		in.token_code = mfa_code;
	}
	s_params prm;
	int pr = s_params_parse(s, &prm, err);
	if (pr)
		return pr;
	in.policy = s->policy;
	in.policy_arns = prm.arns;
	in.npolicy_arns = prm.narns;
	in.tags = prm.tags;
	in.ntags = prm.ntags;
	in.transitive_tag_keys = prm.keys;
	in.ntransitive_tag_keys = prm.nkeys;
	in.source_identity = s->source_identity;
	if (!in.role_session_name) {
		if (!(default_name = cp_default_session_name())) {
			s_params_free(&prm);
			return cp_error_set(err, CP_EINTERNAL, "out of memory");
		}
		in.role_session_name = default_name;
	}
	cp_sts_endpoint ep = {
		.url = x->sts.url,
		.signing_region = x->sts.signing_region,
		.ca_bundle = cp_ca_bundle(x->settings),
		.timeout_ms = x->timeout_ms,
		.clock_offset = x->clock_offset,
	};
	cp_debug("assume role '%s' (session '%s'%s%s) at %s", s->role_arn, in.role_session_name,
		 s->external_id ? ", external id set" : "", mfa_code ? ", with an MFA code" : "", ep.url);
	int r;
	bool shortened = false, skew_fixed = false;
	for (int attempt = 1;; attempt++) {
		long left = (long)(x->deadline_ms - s_mono_ms());
		if (left <= 0) {
			r = cp_error_set(err, CP_ETRANSPORT, "role '%s': no answer from STS at '%s' within %ld s",
					 s->role_arn, ep.url, x->timeout_ms / 1000);
			break;
		}
		ep.timeout_ms = left;
		cp_error_clear(err);
		r = net->assume_role(&ep, src, &in, ret, err);
		if (r && !shortened && in.duration_seconds > 3600 && s_role_chaining_refusal(err)) {
			cp_warn("role '%s': STS caps sessions of chained roles at 1 hour; "
				"retrying with duration_seconds = 3600 instead of %d",
				s->role_arn, in.duration_seconds);
			in.duration_seconds = 3600;
			shortened = true;
			attempt--;
			continue;
		}
		int64_t off;
		if (r && !skew_fixed && s_skew_refusal(err, &off)) {
			char what[128];
			s_describe_skew(what, sizeof what, off);
			cp_warn("role '%s': STS refused the request time (%s); %s; retrying with STS's time",
				s->role_arn, err->remote.code, what);
			ep.clock_offset = off;
			x->clock_offset = off;
			skew_fixed = true;
			attempt--;
			continue;
		}
		if (!s_retry_wait(x, attempt, r, err))
			break;
	}
	if (r && skew_fixed && err->status == CP_EREFUSED) {
		char what[128];
		s_describe_skew(what, sizeof what, ep.clock_offset);
		size_t n = strlen(err->msg);
		snprintf(err->msg + n, sizeof err->msg - n, " (%s)", what);
	}
	if (!r && ret->expiration && ret->expiration <= cp_now() + x->clock_offset) {
		char t[21];
		cp_format_iso8601(ret->expiration, t);
		cp_creds_clear(ret);
		r = cp_error_set(err, CP_EREFUSED,
				 "role '%s': STS returned credentials that expired at %s, before the local "
				 "time; check the system clock", s->role_arn, t);
	}
	free(default_name);
	s_params_free(&prm);
	return r;
}

/* ---- MFA ------------------------------------------------------------------
 *
 * A role step with mfa_serial whose source is long-term keys gets an MFA
 * session first: GetSessionToken(SerialNumber, TokenCode, DurationSeconds =
 * credproc_mfa_session_duration), cached under its own key with the reuse
 * rule and lock discipline of the roles (lock, re-read, prompt only if still
 * missing), so that a person is asked once per session, not once per role
 * refresh; the role is then assumed with the session's credentials. Session
 * credentials (a chained role, IMDS, ...) cannot call GetSessionToken: then
 * the code goes to AssumeRole itself, asked again at every refresh of that
 * role. The code is never logged. */

#define CP_MFA_SESSION_DEFAULT 43200 /* seconds: 12 hours */
#define CP_MFA_SESSION_MIN 900
#define CP_MFA_SESSION_MAX 129600
#define CP_MFA_LOCK_SLACK_MS 10000

typedef struct s_mfa {
	const char *process;         /* credproc_mfa_process, NULL: the terminal */
	const char *process_profile; /* the profile that sets it (messages) */
	int duration;                /* credproc_mfa_session_duration, seconds */
} s_mfa;

static bool s_reusable(const s_ctx *x, const cp_cache_entry *e, int64_t now);
static int s_endpoint_identity(const s_ctx *x, cp_buf *k);
static int s_source_identity(const s_ctx *x, cp_buf *k);

static bool s_chain_has_mfa(const s_ctx *x)
{
	for (size_t i = 0; i < x->chain.nsteps; i++)
		if (x->chain.steps[i].mfa_serial)
			return true;
	return false;
}

/* How long a waiter waits for a lock whose holder may be asking a person. */
static long s_mfa_lock_wait_ms(const s_ctx *x)
{
	long person = CP_MFA_PROMPT_TIMEOUT_MS > CP_MFA_PROCESS_TIMEOUT_MS ? CP_MFA_PROMPT_TIMEOUT_MS
									 : CP_MFA_PROCESS_TIMEOUT_MS;
	return person + x->timeout_ms + CP_MFA_LOCK_SLACK_MS;
}

/* A credproc_mfa_* setting for step s: its own profile's, else the target's. */
static const char *s_step_setting(const s_ctx *x, const cp_role_step *s, const char *key,
				  const char **ret_profile)
{
	const cp_section *secs[2] = {s->profile ? cp_config_profile(&x->cfg, s->profile) : NULL,
				     x->settings};
	for (int i = 0; i < 2; i++) {
		const char *v = secs[i] ? cp_section_get(secs[i], key) : NULL;
		if (v && *v) {
			*ret_profile = secs[i]->name;
			return v;
		}
	}
	return NULL;
}

static int s_mfa_settings(const s_ctx *x, const cp_role_step *s, s_mfa *m, cp_error *err)
{
	const char *where = NULL, *v;
	memset(m, 0, sizeof *m);
	m->duration = CP_MFA_SESSION_DEFAULT;
	m->process = s_step_setting(x, s, "credproc_mfa_process", &m->process_profile);
	if ((v = s_step_setting(x, s, "credproc_mfa_session_duration", &where))) {
		char *end;
		errno = 0;
		long d = strtol(v, &end, 10);
		if (errno || end == v || *end || d < CP_MFA_SESSION_MIN || d > CP_MFA_SESSION_MAX)
			return cp_error_set(err, CP_ECONFIG,
					    "credproc_mfa_session_duration of profile '%s' must be a whole "
					    "number of seconds between %d and %d",
					    where, CP_MFA_SESSION_MIN, CP_MFA_SESSION_MAX);
		m->duration = (int)d;
	}
	return 0;
}

/* The code for step s. The time a person takes does not count against the
 * network deadline. */
static int s_mfa_code(s_ctx *x, const cp_role_step *s, const s_mfa *m,
		      char code[static CP_MFA_CODE_SIZE], cp_error *err)
{
	int64_t t0 = s_mono_ms();
	int r;
	if (m->process) {
		r = cp_mfa_from_process(m->process_profile, m->process, s->mfa_serial,
					CP_MFA_PROCESS_TIMEOUT_MS, code, err);
	} else {
		cp_debug("MFA: asking on the terminal for the code of '%s'", s->mfa_serial);
		r = cp_mfa_from_tty(s->mfa_serial, CP_MFA_PROMPT_TIMEOUT_MS, code, err);
	}
	x->deadline_ms += s_mono_ms() - t0;
	return r;
}

/* GetSessionToken for step s's device, signed with src (long-term keys). */
static int s_get_session_token(s_ctx *x, const cp_role_step *s, const cp_creds *src,
			       const char *code, int duration, cp_creds *ret, cp_error *err)
{
	const cp_net_ops *net = cp_net(err);
	if (!net)
		return err->status;
	cp_session_token_input in = {
		.duration_seconds = duration,
		.serial_number = s->mfa_serial,
		.token_code = code,
	};
	cp_sts_endpoint ep = {
		.url = x->sts.url,
		.signing_region = x->sts.signing_region,
		.ca_bundle = cp_ca_bundle(x->settings),
		.timeout_ms = x->timeout_ms,
		.clock_offset = x->clock_offset,
	};
	cp_debug("GetSessionToken for the MFA device '%s' (%d s) at %s", s->mfa_serial, duration,
		 ep.url);
	int r;
	bool skew_fixed = false;
	for (int attempt = 1;; attempt++) {
		long left = (long)(x->deadline_ms - s_mono_ms());
		if (left <= 0) {
			r = cp_error_set(err, CP_ETRANSPORT,
					 "MFA session for '%s': no answer from STS at '%s' within %ld s",
					 s->mfa_serial, ep.url, x->timeout_ms / 1000);
			break;
		}
		ep.timeout_ms = left;
		cp_error_clear(err);
		r = net->get_session_token(&ep, src, &in, ret, err);
		int64_t off;
		if (r && !skew_fixed && s_skew_refusal(err, &off)) {
			char what[128];
			s_describe_skew(what, sizeof what, off);
			cp_warn("MFA session for '%s': STS refused the request time (%s); %s; retrying "
				"with STS's time", s->mfa_serial, err->remote.code, what);
			ep.clock_offset = off;
			x->clock_offset = off;
			skew_fixed = true;
			attempt--;
			continue;
		}
		if (!s_retry_wait(x, attempt, r, err))
			break;
	}
	if (r && err->status == CP_EREFUSED)
		cp_error_prefix(err, "MFA session (GetSessionToken)");
	if (!r && ret->expiration && ret->expiration <= cp_now() + x->clock_offset) {
		char t[21];
		cp_format_iso8601(ret->expiration, t);
		cp_creds_clear(ret);
		r = cp_error_set(err, CP_EREFUSED,
				 "MFA session for '%s': STS returned credentials that expired at %s, "
				 "before the local time; check the system clock", s->mfa_serial, t);
	}
	return r;
}

/* The cache key of an MFA session: the source and who it is (not its
 * rotating secret), the device, the duration and the endpoint. */
static int s_mfa_key(const s_ctx *x, const cp_role_step *s, int duration, cp_buf *k)
{
	int e = cp_buf_puts(k, "aws-credproc MFA session key v2\n") | s_endpoint_identity(x, k) |
		s_source_identity(x, k) | cp_key_line(k, "mfa", s->mfa_serial) |
		cp_buf_printf(k, "mfa-session-duration=%d\n", duration);
	return e ? CP_EINTERNAL : 0;
}

/* An MFA session for step s: cached, or (under the session key's lock, after
 * a re-read) a code and GetSessionToken. A cached session whose key id is
 * `refused` (STS refused it) counts as missing. */
static int s_mfa_session(s_ctx *x, const cp_role_step *s, const s_mfa *m, const cp_creds *src,
			 const char *refused, cp_creds *ret, bool *ret_cached, cp_error *err)
{
	cp_cache *c = x->cache && x->cache->usable ? x->cache : NULL;
	cp_cache_lockfile lock = {.fd = -1};
	cp_cache_entry e = {0};
	cp_creds fresh = {0};
	cp_buf key = {0};
	char code[CP_MFA_CODE_SIZE] = "";
	int r;

	*ret_cached = false;
	if (s_mfa_key(x, s, m->duration, &key)) {
		r = cp_error_set(err, CP_EINTERNAL, "out of memory");
		goto out;
	}
	for (int pass = 0; c && pass < 2; pass++) {
		if (pass == 1) {
			/* Someone may be asking for the code right now: wait for them. */
			int64_t t0 = s_mono_ms();
			r = cp_cache_lock(c, key.data, s_mfa_lock_wait_ms(x), &lock, err);
			x->deadline_ms += s_mono_ms() - t0;
			if (r)
				goto out;
		}
		int64_t now = cp_now();
		r = cp_cache_read(c, key.data, &e, err);
		if (r == CP_EINTERNAL)
			goto out;
		if (r == 0 && s_reusable(x, &e, now) &&
		    !(refused && strcmp(e.creds.access_key_id, refused) == 0)) {
			cp_debug("MFA session for '%s': %s, %lld s left", s->mfa_serial,
				 pass ? "started by another process while waiting" : "cache hit",
				 (long long)(e.creds.expiration - now));
			cp_creds_move(ret, &e.creds);
			*ret_cached = true;
			r = 0;
			goto out;
		}
		cp_creds_clear(&e.creds);
	}
	cp_debug("MFA session for '%s': %s; a code is needed", s->mfa_serial,
		 refused ? "the cached one was refused" : c ? "none cached" : "no cache");
	if ((r = s_mfa_code(x, s, m, code, err)))
		goto out;
	int64_t issued = cp_now();
	if ((r = s_get_session_token(x, s, src, code, m->duration, &fresh, err)))
		goto out;
	if (c && fresh.expiration > issued) {
		cp_cache_entry ne = {.creds = fresh, .issued = issued};
		if ((r = cp_cache_write(c, key.data, &ne, err)))
			goto out;
	}
	cp_creds_move(ret, &fresh);
	r = 0;
out:
	cp_wipe(code, sizeof code);
	cp_cache_unlock(&lock);
	cp_creds_clear(&e.creds);
	cp_creds_clear(&fresh);
	cp_buf_free(&key);
	return r;
}

static bool s_stale_session_refusal(const cp_error *e)
{
	return e->status == CP_EREFUSED &&
	       (strcmp(e->remote.code, "ExpiredToken") == 0 || strcmp(e->remote.code, "InvalidClientTokenId") == 0);
}

/* One role step, with its MFA when it has mfa_serial. */
static int s_assume_step(s_ctx *x, const cp_role_step *s, const cp_creds *src, cp_creds *ret,
			 cp_error *err)
{
	char code[CP_MFA_CODE_SIZE] = "";
	cp_creds session = {0};
	char *refused = NULL;
	bool cached = false;
	s_mfa m;
	int r;

	if (!s->mfa_serial)
		return s_assume(x, s, src, NULL, ret, err);
	if ((r = s_mfa_settings(x, s, &m, err)))
		return r;
	if (src->session_token && src->session_token[0]) {
		cp_debug("role '%s': its source credentials are a session, which cannot call "
			 "GetSessionToken: the MFA code goes to AssumeRole, and is asked for again at "
			 "every refresh of this role", s->role_arn);
		if (!(r = s_mfa_code(x, s, &m, code, err)))
			r = s_assume(x, s, src, code, ret, err);
		cp_wipe(code, sizeof code);
		return r;
	}
	r = s_mfa_session(x, s, &m, src, NULL, &session, &cached, err);
	if (!r)
		r = s_assume(x, s, &session, NULL, ret, err);
	if (r && cached && s_stale_session_refusal(err)) {
		cp_debug("STS refused the cached MFA session for '%s' (%s); starting a new one",
			 s->mfa_serial, err->remote.code);
		if (!(refused = cp_strdup(session.access_key_id))) {
			r = cp_error_set(err, CP_EINTERNAL, "out of memory");
			goto out;
		}
		cp_creds_clear(&session);
		cp_error_clear(err);
		r = s_mfa_session(x, s, &m, src, refused, &session, &cached, err);
		if (!r)
			r = s_assume(x, s, &session, NULL, ret, err);
	}
out:
	free(refused);
	cp_creds_clear(&session);
	return r;
}

/* explain: where each MFA code comes from and, for an MFA session, whether
 * one is cached (cache NULL: none). Never the code. */
static int s_explain_mfa(const s_ctx *x, cp_cache *cache, cp_buf *b)
{
	int w = 0;
	for (size_t i = 0; i < x->chain.nsteps; i++) {
		const cp_role_step *s = &x->chain.steps[i];
		const cp_chain *c = &x->chain;
		cp_error e = {0};
		s_mfa m;
		if (!s->mfa_serial)
			continue;
		if (s_mfa_settings(x, s, &m, &e)) {
			w |= cp_buf_printf(b, "MFA device %s: %s\n", s->mfa_serial, e.msg);
			continue;
		}
		if (m.process)
			w |= cp_buf_printf(b, "MFA device %s: code from credproc_mfa_process of profile '%s'\n",
					   s->mfa_serial, m.process_profile);
		else
			w |= cp_buf_printf(b, "MFA device %s: code from a prompt on the terminal\n",
					   s->mfa_serial);
		bool long_term = i == 0 && ((c->base == CP_BASE_STATIC && !c->static_creds.session_token) ||
					    (c->base == CP_BASE_ENVIRONMENT && !s_env_session_token()) ||
					    c->base == CP_BASE_PROCESS);
		if (!long_term) {
			w |= cp_buf_puts(b, "  the source is a session (GetSessionToken needs long-term keys): "
					    "the code goes to AssumeRole, asked for at every refresh of this role\n");
			continue;
		}
		w |= cp_buf_printf(b, "  MFA session: GetSessionToken for %d s%s", m.duration,
				   c->base == CP_BASE_PROCESS ? " (when credential_process prints long-term keys)" : "");
		if (!cache || !x->sts.url) {
			w |= cp_buf_puts(b, ", not cached\n");
			continue;
		}
		cp_buf key = {0};
		cp_cache_entry ce = {0};
		int64_t now = cp_now();
		int r = s_mfa_key(x, s, m.duration, &key) ? CP_EINTERNAL : cp_cache_read(cache, key.data, &ce, &e);
		if (r == 0) {
			char t[21];
			cp_format_iso8601(ce.creds.expiration, t);
			w |= cp_buf_printf(b, ", cached until %s (%lld s left)%s\n", t,
					   (long long)(ce.creds.expiration - now),
					   s_reusable(x, &ce, now) ? "" : "; inside the refresh margin: the next "
									 "refresh of the role asks for a code");
		} else if (r == CP_CACHE_MISS) {
			w |= cp_buf_puts(b, ", none cached: the next refresh of the role asks for a code\n");
		} else {
			w = 1;
		}
		cp_creds_clear(&ce.creds);
		cp_buf_free(&key);
	}
	return w;
}

static bool s_default_session_needed(const s_ctx *x)
{
	for (size_t i = 0; i < x->chain.nsteps; i++)
		if (!x->chain.steps[i].role_session_name)
			return true;
	return false;
}

/* The non-secret identity of the source (DESIGN.md "The cache"): the kind,
 * the profile that holds it, and who it is (access key id of static and
 * environment keys, the IMDS endpoint, the container endpoint, the command,
 * the web identity token's iss/sub/aud, the SSO session). */
static int s_source_identity(const s_ctx *x, cp_buf *k)
{
	const cp_chain *c = &x->chain;
	int e = cp_key_line(k, "source", cp_base_kind_name(c->base)) |
		cp_key_line(k, "source-profile", c->base_profile);
	switch (c->base) {
	case CP_BASE_STATIC:
		e |= cp_key_line(k, "source-key-id", c->static_creds.access_key_id);
		break;
	case CP_BASE_ENVIRONMENT:
		e |= cp_key_line(k, "source-key-id", getenv("AWS_ACCESS_KEY_ID"));
		break;
	case CP_BASE_IMDS: {
		char *ep = NULL;
		cp_error ignored = {0};
		e |= cp_key_url_line(k, "imds-endpoint",
				 cp_imds_endpoint(x->settings, &ep, &ignored) ? "(invalid)" : ep);
		free(ep);
		break;
	}
	case CP_BASE_ECS:
		e |= cp_key_line(k, "container-relative-uri", getenv("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI")) |
		     cp_key_url_line(k, "container-full-uri", getenv("AWS_CONTAINER_CREDENTIALS_FULL_URI"));
		break;
	case CP_BASE_PROCESS:
		e |= cp_key_line(k, "command", c->process_command);
		break;
	case CP_BASE_WEB_IDENTITY: {
		char *token = NULL;
		size_t len = 0;
		e |= cp_key_line(k, "web-identity-role", c->web_identity_role_arn) |
		     cp_key_line(k, "web-identity-token-file", c->web_identity_token_file) |
		     cp_key_line(k, "web-identity-session",
				 c->web_identity_session_name ? c->web_identity_session_name : "(default)");
		if (cp_read_file(c->web_identity_token_file, CP_WEB_IDENTITY_TOKEN_MAX, &token, &len) == 0) {
			e |= cp_jwt_identity(cp_trim(token), k);
			cp_freezero(token, len + 1);
		} else {
			e |= cp_key_line(k, "token-identity", "(unreadable)");
		}
		break;
	}
	case CP_BASE_SSO:
		e |= cp_key_line(k, "sso-session", c->sso_session) |
		     cp_key_line(k, "sso-start-url", c->sso_start_url) |
		     cp_key_line(k, "sso-region", c->sso_region) |
		     cp_key_line(k, "sso-account", c->sso_account_id) |
		     cp_key_line(k, "sso-role", c->sso_role_name);
		break;
	}
	return e ? CP_EINTERNAL : 0;
}

/* Every input of the STS endpoint: the raw settings, the region (or that it
 * comes from the instance), and what they resolve to when known now. */
static int s_endpoint_identity(const s_ctx *x, cp_buf *k)
{
	int e = cp_sts_endpoint_inputs(&x->cfg, x->settings, k);
	if (x->region_from_imds)
		e |= cp_key_line(k, "region", "(the instance's region, from IMDS)");
	else
		e |= cp_key_line(k, "region", x->region ? x->region : "(none)") |
		     cp_key_url_line(k, "endpoint", x->sts.url) |
		     cp_key_line(k, "signing-region", x->sts.signing_region);
	return e ? CP_EINTERNAL : 0;
}

/* The cache key: everything that changes the credentials returned. */
static int s_cache_key(const s_ctx *x, cp_buf *k)
{
	int e = cp_buf_puts(k, "aws-credproc cache key v2\n") | s_endpoint_identity(x, k) |
		s_source_identity(x, k);
	for (size_t i = 0; i < x->chain.nprofiles; i++)
		e |= cp_key_line(k, "profile", x->chain.profiles[i]);
	for (size_t i = 0; i < x->chain.nsteps; i++) {
		const cp_role_step *st = &x->chain.steps[i];
		e |= cp_key_line(k, "role", st->role_arn) |
		     cp_key_line(k, "session", st->role_session_name ? st->role_session_name : "(default)") |
		     cp_key_line(k, "external-id", st->external_id) |
		     cp_key_line(k, "mfa", st->mfa_serial) |
		     cp_buf_printf(k, "duration=%d\n", st->duration_seconds) |
		     cp_key_line(k, "policy", st->policy) |
		     cp_key_line(k, "policy-arns", st->policy_arns) |
		     cp_key_line(k, "tags", st->tags) |
		     cp_key_line(k, "transitive-tag-keys", st->transitive_tag_keys) |
		     cp_key_line(k, "source-identity", st->source_identity);
	}
	if (s_default_session_needed(x)) {
		char *n = cp_default_session_name();
		e |= n ? cp_key_line(k, "default-session", n) : 1;
		free(n);
	}
	return e ? CP_EINTERNAL : 0;
}

/* Loads the config, resolves the chain and everything that does not need the
 * network: region (unless it must come from IMDS), endpoint, cache key. */
static int s_prepare(s_ctx *x, const cp_request *req, cp_error *err)
{
	const char *profile = req->profile ? req->profile : "default";
	int r;

	x->req = req;
	x->timeout_ms = req->timeout_ms > 0 ? req->timeout_ms : CP_DEFAULT_TIMEOUT_MS;
	x->deadline_ms = s_mono_ms() + x->timeout_ms;
	cp_config_init(&x->cfg);
	if ((r = cp_config_paths(&x->cfg_path, &x->cred_path, err)))
		return r;
	cp_debug("config file '%s', credentials file '%s'", x->cfg_path, x->cred_path);
	if ((r = cp_config_load(&x->cfg, x->cfg_path, x->cred_path, err)))
		return r;
	if ((r = cp_resolve(&x->cfg, profile, &req->flags, &x->chain, err))) {
		/* No profile asked for and no [default] at all: a web identity from
		 * the environment (EKS IRSA: AWS_WEB_IDENTITY_TOKEN_FILE, AWS_ROLE_ARN,
		 * AWS_ROLE_SESSION_NAME), as the SDKs' default chain finds it. */
		if (r != CP_ECONFIG || req->profile || req->flags.role_arn ||
		    cp_config_profile(&x->cfg, "default") || !s_env("AWS_WEB_IDENTITY_TOKEN_FILE") ||
		    !s_env("AWS_ROLE_ARN"))
			return r;
		cp_error_clear(err);
		cp_chain_free(&x->chain);
		cp_chain *c = &x->chain;
		const char *sn = s_env("AWS_ROLE_SESSION_NAME");
		c->base = CP_BASE_WEB_IDENTITY;
		if (!(c->base_profile = cp_strdup("(environment)")) ||
		    !(c->web_identity_token_file = cp_strdup(s_env("AWS_WEB_IDENTITY_TOKEN_FILE"))) ||
		    !(c->web_identity_role_arn = cp_strdup(s_env("AWS_ROLE_ARN"))) ||
		    (sn && !(c->web_identity_session_name = cp_strdup(sn))))
			return cp_error_set(err, CP_EINTERNAL, "out of memory");
		cp_debug("no profile '%s': web identity from the environment", profile);
	}

	/* Settings (region, endpoint, CA bundle, IMDS keys, margin) come from the
	 * target profile; with --role-arn and no --profile, from the source profile. */
	x->settings = cp_config_profile(&x->cfg, profile);
	if (!x->settings && req->flags.source_profile)
		x->settings = cp_config_profile(&x->cfg, req->flags.source_profile);

	x->margin = CP_DEFAULT_REFRESH_MARGIN;
	if (req->refresh_margin >= 0) {
		x->margin = req->refresh_margin;
	} else if (x->settings) {
		const char *v = cp_section_get(x->settings, "credproc_refresh_margin");
		if (v && *v) {
			char *end;
			long m = strtol(v, &end, 10);
			if (*end || m < 0 || m > 43200)
				return cp_error_set(err, CP_ECONFIG,
						    "credproc_refresh_margin must be a whole number of seconds "
						    "between 0 and 43200");
			x->margin = (int)m;
		}
	}

	if (req->region) {
		if (!cp_region_valid(req->region))
			return cp_error_set(err, CP_ECONFIG, "invalid region '%.64s' (from --region)",
					    req->region);
		if (!(x->region = cp_strdup(req->region)))
			return cp_error_set(err, CP_EINTERNAL, "out of memory");
	} else if ((r = cp_region_configured(x->settings, &x->region, err))) {
		return r;
	}
	/* Temporary credentials that we obtain (roles, web identity, SSO) are
	 * cached; static keys and pass-through processes are printed as they are. */
	x->sts_needed = x->chain.nsteps || x->chain.base == CP_BASE_WEB_IDENTITY ||
			x->chain.base == CP_BASE_SSO;
	if (!x->sts_needed)
		return 0;
	bool calls_sts = x->chain.nsteps || x->chain.base == CP_BASE_WEB_IDENTITY;
	x->region_from_imds = !x->region && x->chain.base == CP_BASE_IMDS;
	if (calls_sts && !x->region_from_imds) {
		if ((r = cp_sts_endpoint_resolve(&x->cfg, x->settings, x->region, &x->sts, err)))
			return r;
	}

	return s_cache_key(x, &x->key) ? cp_error_set(err, CP_EINTERNAL, "out of memory") : 0;
}

static void s_release(s_ctx *x)
{
	cp_sts_target_free(&x->sts);
	free(x->region);
	cp_chain_free(&x->chain);
	cp_config_free(&x->cfg);
	free(x->cfg_path);
	free(x->cred_path);
	cp_buf_free(&x->key);
}

/* Gets fresh credentials: base, then each role. */
static int s_fetch(s_ctx *x, cp_creds *ret, cp_error *err)
{
	cp_creds cur = {0}, next = {0};
	int r;
	if ((r = s_base_credentials(x, &cur, err)))
		goto out;
	if (x->sts_needed && x->region_from_imds && !x->sts.url) {
		cp_imds_options o;
		char *ep = NULL;
		cp_error e2 = {0};
		const cp_net_ops *net = cp_net(&e2);
		if (net && s_imds_options(x, &o, &ep, &e2) == 0 &&
		    net->imds_region(&o, &x->region, &e2) == 0 && !cp_region_valid(x->region)) {
			free(x->region);
			x->region = NULL;
		}
		if (!x->region)
			cp_debug("no region from instance metadata (%s): using the global endpoint", e2.msg);
		free(ep);
		if ((r = cp_sts_endpoint_resolve(&x->cfg, x->settings, x->region, &x->sts, err)))
			goto out;
	}
	if (x->sts.url)
		cp_debug("STS endpoint %s (from %s), signing region %s", x->sts.url, x->sts.url_source,
			 x->sts.signing_region);
	for (size_t i = 0; i < x->chain.nsteps; i++) {
		if ((r = s_assume_step(x, &x->chain.steps[i], &cur, &next, err)))
			goto out;
		cp_creds_move(&cur, &next);
	}
	cp_creds_move(ret, &cur);
	r = 0;
out:
	cp_creds_clear(&cur);
	cp_creds_clear(&next);
	return r;
}

/* The reuse rule: at least min(margin, lifetime / 2) must remain. */
static int64_t s_effective_margin(const s_ctx *x, const cp_cache_entry *e)
{
	int64_t lifetime = e->creds.expiration - e->issued;
	int64_t m = x->margin;
	if (lifetime / 2 < m)
		m = lifetime / 2;
	return m;
}

static bool s_reusable(const s_ctx *x, const cp_cache_entry *e, int64_t now)
{
	int64_t left = e->creds.expiration - now;
	return left > 0 && left >= s_effective_margin(x, e);
}

/* Stale-if-error (DESIGN.md "The cache"): after a transport failure (the
 * exit-5 class, which includes a lock wait that timed out) the cached
 * credentials in hand are moved to ret and printed with a warning when at
 * least CP_STALE_MIN_LEFT remains: returns 0. A refusal (exit 4) or any
 * other failure is never hidden: returns r. */
static int s_serve_stale(cp_cache_entry *stale, int r, cp_error *err, cp_creds *ret)
{
	int64_t left = stale->creds.expiration - cp_now();
	if (r != CP_ETRANSPORT || !stale->creds.access_key_id || left < CP_STALE_MIN_LEFT)
		return r;
	char t[21];
	cp_format_iso8601(stale->creds.expiration, t);
	cp_warn("%s; printing the cached credentials, valid until %s (%lld min left)", err->msg, t,
		(long long)(left / 60));
	cp_error_clear(err);
	cp_creds_move(ret, &stale->creds);
	return 0;
}

int cp_get_credentials(const cp_request *req, cp_creds *ret, cp_error *err)
{
	s_ctx x = {0};
	cp_cache cache = {.dirfd = -1};
	cp_cache_lockfile lock = {.fd = -1};
	cp_cache_entry e = {0}, stale = {0};
	const char *key;
	int r;

	if ((r = s_prepare(&x, req, err)))
		goto out;

	/* Static keys and pass-through processes are not cached. */
	if (!x.sts_needed || req->no_cache) {
		cp_debug("cache: not used (%s)", x.sts_needed ? "--no-cache" : "no role to assume");
		if ((r = s_fetch(&x, ret, err)))
			goto out;
		goto fresh;
	}
	key = x.key.data;
	if ((r = cp_cache_open(&cache, req->cache_dir, err)))
		goto out;
	x.cache = &cache;
	bool mfa = s_chain_has_mfa(&x);
	cache.wait_may_be_for_a_person = mfa;
	if (cache.usable) {
		int64_t now = cp_now();
		r = cp_cache_read(&cache, key, &e, err);
		if (r == CP_EINTERNAL)
			goto out;
		if (r == 0 && s_reusable(&x, &e, now)) {
			cp_debug("cache: hit, %lld s left", (long long)(e.creds.expiration - now));
			cp_creds_move(ret, &e.creds);
			r = 0;
			goto out;
		}
		cp_debug("cache: %s", r == 0 ? "entry inside the refresh margin" : "miss");
		if (r == 0) {
			stale = e; /* in hand, should the refresh fail */
			memset(&e, 0, sizeof e);
		}
		/* The wait is bounded by --timeout. With MFA the holder may be
		 * waiting for a person: wait long enough for them, and do not count
		 * that wait against the network deadline. */
		int64_t t0 = s_mono_ms();
		long wait = mfa ? s_mfa_lock_wait_ms(&x) : (long)(x.deadline_ms - t0);
		r = cp_cache_lock(&cache, key, wait > 0 ? wait : 1, &lock, err);
		if (mfa)
			x.deadline_ms += s_mono_ms() - t0;
		if (r) {
			r = s_serve_stale(&stale, r, err, ret);
			goto out;
		}
		/* Someone may have refreshed it while we waited. */
		now = cp_now();
		r = cp_cache_read(&cache, key, &e, err);
		if (r == CP_EINTERNAL)
			goto out;
		if (r == 0 && s_reusable(&x, &e, now)) {
			cp_debug("cache: refreshed by another process while waiting");
			cp_creds_move(ret, &e.creds);
			r = 0;
			goto out;
		}
		if (r == 0) {
			cp_creds_clear(&stale.creds);
			stale = e;
			memset(&e, 0, sizeof e);
		}
		cp_cache_prune(&cache, now);
	}

	cp_creds fresh = {0};
	int64_t issued = cp_now();
	r = s_fetch(&x, &fresh, err);
	if (r) {
		r = s_serve_stale(&stale, r, err, ret);
		goto out;
	}
	if (cache.usable && fresh.expiration > issued) {
		cp_cache_entry ne = {.creds = fresh, .issued = issued};
		if ((r = cp_cache_write(&cache, key, &ne, err))) {
			cp_creds_clear(&fresh);
			goto out;
		}
	}
	cp_creds_move(ret, &fresh);
fresh:
	if (x.sts_needed && ret->expiration) {
		int64_t left = ret->expiration - cp_now();
		if (left < CP_SHORT_LIFETIME_WARN)
			cp_warn("the new credentials expire in %lld seconds; SDKs will run aws-credproc "
				"again on almost every call", (long long)left);
	}
	r = 0;
out:
	cp_cache_unlock(&lock);
	cp_cache_close(&cache);
	cp_creds_clear(&e.creds);
	cp_creds_clear(&stale.creds);
	s_release(&x);
	return r;
}

static int s_explain_source(const s_ctx *x, cp_buf *b)
{
	const cp_chain *c = &x->chain;
	switch (c->base) {
	case CP_BASE_STATIC:
		return cp_buf_printf(b, "static keys of profile '%s'%s\n", c->base_profile,
				     c->static_creds.session_token ? " (with a session token)" : "");
	case CP_BASE_ENVIRONMENT:
		return cp_buf_printf(b, "the environment (AWS_ACCESS_KEY_ID, ...; credential_source of profile '%s')\n",
				     c->base_profile);
	case CP_BASE_IMDS: {
		char *ep = NULL;
		cp_error e = {0};
		int r = cp_imds_endpoint(x->settings, &ep, &e);
		r = cp_buf_printf(b, "EC2 instance metadata (IMDSv2) at %s (credential_source of profile '%s')\n",
				  r ? "(invalid endpoint)" : ep, c->base_profile);
		free(ep);
		return r;
	}
	case CP_BASE_PROCESS:
		return cp_buf_printf(b, "credential_process of profile '%s'\n", c->base_profile);
	case CP_BASE_ECS:
		return cp_buf_printf(b, "the container credential endpoint (credential_source of profile '%s')\n",
				     c->base_profile);
	case CP_BASE_WEB_IDENTITY:
		return cp_buf_printf(b, "web identity: AssumeRoleWithWebIdentity %s with the token in '%s' "
				     "(profile '%s')\n", c->web_identity_role_arn, c->web_identity_token_file,
				     c->base_profile);
	case CP_BASE_SSO:
		return cp_buf_printf(b, "IAM Identity Center: account %s, role %s, %s%s (profile '%s')\n",
				     c->sso_account_id ? c->sso_account_id : "?",
				     c->sso_role_name ? c->sso_role_name : "?",
				     c->sso_session ? "sso-session " : "start URL ",
				     c->sso_session ? c->sso_session : (c->sso_start_url ? c->sso_start_url : "?"),
				     c->base_profile);
	}
	return cp_buf_printf(b, "%s (profile '%s')\n", cp_base_kind_name(c->base), c->base_profile);
}

/* explain, when the region will come from IMDS: a configured endpoint is
 * used as it is (signed for the instance's region); otherwise the regional
 * endpoint of that region. */
static int s_explain_imds_region(const s_ctx *x, cp_buf *b)
{
	char *url = NULL;
	const char *src = NULL;
	cp_error e = {0};
	int w = cp_buf_puts(b, "region: none configured; the instance's region from IMDS on a refresh\n");
	if (cp_sts_configured_endpoint(&x->cfg, x->settings, &url, &src, &e) == 0 && url)
		w |= cp_buf_printf(b, "STS endpoint: %s (from %s), signed for the instance's region\n",
				   url, src);
	else
		w |= cp_buf_puts(b, "STS endpoint: the regional endpoint of the instance's region\n");
	free(url);
	return w;
}

int cp_explain(const cp_request *req, cp_buf *b, cp_error *err)
{
	s_ctx x = {0};
	cp_cache cache = {.dirfd = -1};
	cp_cache_entry e = {0};
	char *dir = NULL;
	int r, w = 0;
	const char *profile = req->profile ? req->profile : "default";

	if ((r = s_prepare(&x, req, err)))
		goto out;
	w |= cp_buf_printf(b, "profile: %s\n", req->flags.role_arn ? "(command line role)" : profile);
	w |= cp_buf_printf(b, "config files: %s, %s\n", x.cfg_path, x.cred_path);
	w |= cp_buf_puts(b, "chain:\n  1. ");
	w |= s_explain_source(&x, b);
	for (size_t i = 0; i < x.chain.nsteps; i++) {
		const cp_role_step *s = &x.chain.steps[i];
		w |= cp_buf_printf(b, "  %zu. assume role %s", i + 2, s->role_arn);
		if (s->profile)
			w |= cp_buf_printf(b, " (profile '%s')", s->profile);
		w |= cp_buf_printf(b, ", session '%s'", s->role_session_name ? s->role_session_name : "(default)");
		if (!s->role_session_name) {
			char *n = cp_default_session_name();
			w |= cp_buf_printf(b, " = '%s'", n ? n : "?");
			free(n);
		}
		if (s->external_id)
			w |= cp_buf_puts(b, ", external id set");
		if (s->mfa_serial)
			w |= cp_buf_printf(b, ", MFA device %s", s->mfa_serial);
		if (s->duration_seconds)
			w |= cp_buf_printf(b, ", duration %d s", s->duration_seconds);
		else
			w |= cp_buf_puts(b, ", duration: STS default (3600 s)");
		w |= cp_buf_putc(b, '\n');
	}
	if (!x.sts_needed) {
		w |= cp_buf_puts(b, "no role to assume: the credentials are printed as they are, without caching\n");
		goto done;
	}
	if (x.region_from_imds)
		w |= s_explain_imds_region(&x, b);
	else if (x.sts.url)
		w |= cp_buf_printf(b, "region: %s\nSTS endpoint: %s (from %s), signed for %s\n",
				   x.region ? x.region : "none (global endpoint)", x.sts.url,
				   x.sts.url_source, x.sts.signing_region);
	else
		w |= cp_buf_puts(b, "STS endpoint: not used\n");
	if (req->no_cache) {
		w |= cp_buf_puts(b, "cache: disabled (--no-cache): every call asks STS\n");
		goto done;
	}
	if ((r = cp_cache_default_dir(req->cache_dir, &dir, err)))
		goto out;
	char name[17];
	cp_cache_name(x.key.data, name);
	w |= cp_buf_printf(b, "cache file: %s/%s.json\n", dir, name);
	if ((r = cp_cache_open(&cache, req->cache_dir, err)))
		goto out;
	if (!cache.usable) {
		w |= cp_buf_puts(b, "cache: unusable (see the warning): every call asks STS\n");
		goto done;
	}
	int64_t now = cp_now();
	r = cp_cache_read(&cache, x.key.data, &e, err);
	if (r == CP_EINTERNAL)
		goto out;
	if (r != 0) {
		w |= cp_buf_printf(b, "cached credentials: none\nnext call: asks STS (refresh margin %d s)\n",
				   x.margin);
	} else {
		char t[21];
		cp_format_iso8601(e.creds.expiration, t);
		int64_t left = e.creds.expiration - now;
		w |= cp_buf_printf(b, "cached credentials: expire %s (%lld s left of %lld s)\n", t,
				   (long long)left, (long long)(e.creds.expiration - e.issued));
		w |= cp_buf_printf(b, "refresh margin: %lld s (min of %d s and half the lifetime)\n",
				   (long long)s_effective_margin(&x, &e), x.margin);
		w |= cp_buf_printf(b, "next call: %s\n",
				   s_reusable(&x, &e, now) ? "cache hit" : "asks STS (inside the refresh margin)");
	}
done:
	if (s_chain_has_mfa(&x))
		w |= s_explain_mfa(&x, cache.usable ? &cache : NULL, b);
	r = w ? cp_error_set(err, CP_EINTERNAL, "out of memory") : 0;
	if (!r && b->data) /* endpoints are named without their userinfo */
		b->len = cp_strip_userinfo(b->data, b->len + 1, b->data);
out:
	cp_creds_clear(&e.creds);
	cp_cache_close(&cache);
	free(dir);
	s_release(&x);
	return r;
}

int cp_cache_clear_cmd(const cp_request *req, bool all, int *ret_removed, cp_error *err)
{
	s_ctx x = {0};
	cp_cache cache = {.dirfd = -1};
	int r;
	*ret_removed = 0;
	if (!all) {
		if ((r = s_prepare(&x, req, err)))
			goto out;
		if (!x.sts_needed) {
			r = 0;
			goto out;
		}
	}
	if ((r = cp_cache_open(&cache, req->cache_dir, err)))
		goto out;
	if (!cache.usable) {
		r = cp_error_set(err, CP_ECONFIG, "the cache directory is unusable; nothing removed");
		goto out;
	}
	r = cp_cache_clear(&cache, all ? NULL : x.key.data, ret_removed, err);
out:
	cp_cache_close(&cache);
	s_release(&x);
	return r;
}
