/* run.c - the state of one call (see run.h). */
#include "run.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "identity.h"

const char *cp_env_session_token(void)
{
	const char *t = cp_env("AWS_SESSION_TOKEN");
	return t ? t : cp_env("AWS_SECURITY_TOKEN");
}

const cp_net_ops *cp_run_net(cp_run *x, cp_error *err)
{
	return x->fx->net(err);
}

int64_t cp_run_now(const cp_run *x)
{
	return x->clock->now(x->clock);
}

int64_t cp_run_mono_ms(const cp_run *x)
{
	return x->clock->mono_ms(x->clock);
}

void cp_run_pause_deadline(cp_run *x, int64_t t0)
{
	x->deadline_ms += cp_run_mono_ms(x) - t0;
}

int cp_run_imds_options(cp_run *x, cp_imds_options *o, char **ret_endpoint, cp_error *err)
{
	if (cp_truthy(cp_env("AWS_EC2_METADATA_DISABLED")))
		return cp_error_set(err, CP_ESOURCE,
				    "EC2 instance metadata is disabled (AWS_EC2_METADATA_DISABLED=true)");
	int r = cp_imds_endpoint(x->settings, ret_endpoint, err);
	if (r)
		return r;
	memset(o, 0, sizeof *o);
	o->endpoint = *ret_endpoint;
	o->attempts = 3;
	o->deadline_ms = x->deadline_ms;
	o->clock = x->clock;
	o->v1_disabled = cp_truthy(cp_env("AWS_EC2_METADATA_V1_DISABLED")) ||
			 (x->settings && cp_truthy(cp_section_get(x->settings, "ec2_metadata_v1_disabled")));
	return 0;
}

int cp_run_sts_endpoint(cp_run *x, cp_error *err)
{
	if (x->sts.url)
		return 0;
	if (x->region_from_imds) {
		cp_imds_options o;
		char *ep = NULL;
		cp_error e2 = {0};
		const cp_net_ops *net = cp_run_net(x, &e2);
		if (net && cp_run_imds_options(x, &o, &ep, &e2) == 0 &&
		    net->imds_region(&o, &x->region, &e2) == 0 && !cp_region_valid(x->region)) {
			free(x->region);
			x->region = NULL;
		}
		if (!x->region)
			cp_debug("no region from instance metadata (%s): using the global endpoint", e2.msg);
		free(ep);
	}
	return cp_sts_endpoint_resolve(&x->cfg, x->settings, x->region, &x->sts, err);
}

/* The STS endpoint to call, with the clock offset learnt so far. */
static cp_sts_endpoint s_sts_ep(const cp_run *x)
{
	return (cp_sts_endpoint){
		.url = x->sts.url,
		.signing_region = x->sts.signing_region,
		.ca_bundle = cp_ca_bundle(x->settings),
		.timeout_ms = x->timeout_ms,
		.clock_offset = x->clock_offset,
	};
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

typedef struct s_sts_call {
	cp_sts_call_fn fn;
	void *ctx;
	const cp_net_ops *net;
	cp_sts_endpoint ep;
	cp_creds *ret;
} s_sts_call;

static int s_sts_attempt(void *ctx, int attempt, long left_ms, cp_error *err)
{
	(void)attempt;
	s_sts_call *a = ctx;
	a->ep.timeout_ms = left_ms;
	return a->fn(a->ctx, a->net, &a->ep, a->ret, err);
}

int cp_run_sts_call(cp_run *x, const char *who, bool signed_request, cp_sts_call_fn fn, void *ctx,
		    cp_creds *ret, cp_error *err)
{
	s_sts_call a = {.fn = fn, .ctx = ctx, .ret = ret};
	cp_retry p = {
		.attempts = 3,
		.base_ms = 200,
		.cap_ms = 5000,
		.deadline_ms = x->deadline_ms,
		.clock = x->clock,
		.ctx = &a,
		.what = who,
	};
	bool skew_fixed = false;
	int r;
	if (!(a.net = cp_run_net(x, err)))
		return err->status;
	for (;;) {
		a.ep = s_sts_ep(x);
		if (cp_run_mono_ms(x) >= x->deadline_ms) {
			r = cp_error_set(err, CP_ETRANSPORT, "%s: no answer from STS at '%s' within %ld s",
					 who, a.ep.url, x->timeout_ms / 1000);
			err->cause = CP_CAUSE_NO_ANSWER;
			return r;
		}
		r = cp_retry_run(&p, s_sts_attempt, err);
		int64_t off = err->remote.date - cp_run_now(x);
		if (!r || !signed_request || skew_fixed || err->cause != CP_CAUSE_CLOCK_SKEW ||
		    !err->remote.date || (off > -CP_MAX_CLOCK_SKEW && off < CP_MAX_CLOCK_SKEW))
			break;
		char what[128];
		s_describe_skew(what, sizeof what, off);
		cp_warn("%s: STS refused the request time (%s); %s; retrying with STS's time", who,
			err->remote.code, what);
		x->clock_offset = off;
		skew_fixed = true;
	}
	if (r && skew_fixed && err->status == CP_EREFUSED) {
		char what[128];
		s_describe_skew(what, sizeof what, x->clock_offset);
		size_t n = strlen(err->msg);
		snprintf(err->msg + n, sizeof err->msg - n, " (%s)", what);
	}
	return r;
}

int cp_run_check_expiry(const cp_run *x, const char *who, cp_creds *c, cp_error *err)
{
	if (!c->expiration || c->expiration > cp_run_now(x) + x->clock_offset)
		return 0;
	char t[21];
	cp_format_iso8601(c->expiration, t);
	cp_creds_clear(c);
	return cp_error_set(err, CP_EREFUSED,
			    "%s: STS returned credentials that expired at %s, before the local "
			    "time; check the system clock", who, t);
}

int64_t cp_run_effective_margin(const cp_run *x, const cp_cache_entry *e)
{
	int64_t lifetime = e->creds.expiration - e->issued;
	int64_t m = x->margin;
	if (lifetime / 2 < m)
		m = lifetime / 2;
	return m;
}

bool cp_run_reusable(const cp_run *x, const cp_cache_entry *e, int64_t now)
{
	int64_t left = e->creds.expiration - now;
	return left > 0 && left >= cp_run_effective_margin(x, e);
}

/* Loads the config, resolves the chain and everything that does not need the
 * network: region (unless it must come from IMDS), endpoint, cache key. */
static int s_cache_key(const cp_run *x, cp_buf *k);

/* No profile asked for and no [default] at all: a web identity from the
 * environment (EKS IRSA: AWS_WEB_IDENTITY_TOKEN_FILE, AWS_ROLE_ARN,
 * AWS_ROLE_SESSION_NAME), as the SDKs' default chain finds it. */
static bool s_eks_fallback(cp_run *x, int r, const cp_request *req)
{
	return r == CP_ECONFIG && !req->profile && !req->flags.role_arn &&
	       !cp_config_profile(&x->cfg, "default") && cp_env("AWS_WEB_IDENTITY_TOKEN_FILE") &&
	       cp_env("AWS_ROLE_ARN");
}

static int s_margin(cp_run *x, const cp_request *req, cp_error *err)
{
	x->margin = CP_DEFAULT_REFRESH_MARGIN;
	const char *v = cp_section_value(x->settings, "credproc_refresh_margin");
	if (req->refresh_margin >= 0) {
		x->margin = req->refresh_margin;
	} else if (v) {
		char *end;
		long m = strtol(v, &end, 10);
		if (*end || m < 0 || m > 43200)
			return cp_error_set(err, CP_ECONFIG,
					    "credproc_refresh_margin must be a whole number of seconds "
					    "between 0 and 43200");
		x->margin = (int)m;
	}
	return 0;
}

/* "read PATH" or "PATH does not exist" (VAR=PATH when VAR named it). */
static void s_file_state(cp_buf *b, const char *path, const char *var)
{
	const char *v = getenv(var);
	struct stat st;
	bool named = v && *v;
	if (stat(path, &st) == 0) {
		cp_buf_printf(b, "read %s", path);
		return;
	}
	int e = errno;
	if (named)
		cp_buf_printf(b, "%s=%s", var, path);
	else
		cp_buf_puts(b, path);
	cp_buf_puts(b, e == ENOENT || e == ENOTDIR ? " does not exist" : ": ");
	if (e != ENOENT && e != ENOTDIR)
		cp_buf_puts(b, strerror(e));
}

/* Whether the config file has a line "[name]": a profile section written
 * without "profile ", which the SDKs ignore there (except [default]). */
static bool s_bare_section_in_config(const char *path, const char *name)
{
	char *text = NULL;
	size_t len = 0;
	bool found = false;
	if (cp_read_file(path, CP_CONFIG_MAX_FILE, &text, &len))
		return false;
	size_t n = strlen(name);
	for (char *line = text; line && *line;) {
		char *nl = strchr(line, '\n');
		if (nl)
			*nl = 0;
		char *t = cp_trim(line);
		if (t[0] == '[' && strncmp(t + 1, name, n) == 0) {
			char *rest = t + 1 + n;
			while (*rest == ' ' || *rest == '\t')
				rest++;
			if (*rest == ']') {
				found = true;
				break;
			}
		}
		line = nl ? nl + 1 : NULL;
	}
	cp_freezero(text, len);
	return found;
}

/* "profile 'x' does not exist" says which files were read and which were
 * missing, the closest profile name, and a [x] section in the config file. */
static void s_explain_missing(cp_run *x, const char *profile, cp_error *err)
{
	char want[sizeof err->msg];
	snprintf(want, sizeof want, "profile '%s' does not exist", profile);
	if (strcmp(err->msg, want) != 0)
		return;
	cp_buf b = {0};
	cp_buf_puts(&b, " (");
	s_file_state(&b, x->cred_path, "AWS_SHARED_CREDENTIALS_FILE");
	cp_buf_puts(&b, "; ");
	s_file_state(&b, x->cfg_path, "AWS_CONFIG_FILE");
	cp_buf_puts(&b, ")");
	const char *best = NULL;
	size_t bestd = SIZE_MAX;
	for (size_t i = 0; i < x->cfg.nprofiles; i++) {
		size_t d = cp_edit_distance(profile, x->cfg.profiles[i].name);
		if (d < bestd) {
			bestd = d;
			best = x->cfg.profiles[i].name;
		}
	}
	/* Close: at most 2 edits, and fewer than a third of the name. */
	if (best && bestd <= 2 && bestd * 3 <= strlen(profile))
		cp_buf_printf(&b, "; did you mean '%s'?", best);
	if (strcmp(profile, "default") != 0 && s_bare_section_in_config(x->cfg_path, profile))
		cp_buf_printf(&b, "; the config file has [%s], which is ignored there: write "
			      "[profile %s]", profile, profile);
	if (!cp_buf_status(&b) && b.data) {
		size_t n = strlen(err->msg);
		snprintf(err->msg + n, sizeof err->msg - n, "%s", b.data);
	}
	cp_buf_free(&b);
}

int cp_run_prepare(cp_run *x, const cp_request *req, const cp_effects *fx, cp_error *err)
{
	int r;

	cp_config_init(&x->cfg);
	if ((r = cp_config_paths(&x->cfg_path, &x->cred_path, err)))
		return r;
	cp_debug("config file '%s', credentials file '%s'", x->cfg_path, x->cred_path);
	/* Large files are answered from their index, kept in the cache
	 * directory when it exists already (never created for it). */
	int ixfd = req->no_cache ? -1 : cp_cache_index_dir(req->cache_dir);
	r = cp_config_load_indexed(&x->cfg, x->cfg_path, x->cred_path, ixfd, err);
	if (ixfd >= 0)
		close(ixfd);
	if (r)
		return r;
	return cp_run_prepare_loaded(x, req, fx, err);
}

int cp_run_prepare_loaded(cp_run *x, const cp_request *req, const cp_effects *fx, cp_error *err)
{
	const char *profile = req->profile ? req->profile : "default";
	int r;

	x->req = req;
	x->fx = fx ? fx : &cp_effects_system;
	x->clock = x->fx->clock ? x->fx->clock : &cp_clock_system;
	x->timeout_ms = req->timeout_ms > 0 ? req->timeout_ms : CP_DEFAULT_TIMEOUT_MS;
	x->deadline_ms = cp_run_mono_ms(x) + x->timeout_ms;
	if ((r = cp_resolve(&x->cfg, profile, &req->flags, &x->chain, err))) {
		if (!s_eks_fallback(x, r, req)) {
			if (r == CP_ECONFIG)
				s_explain_missing(x, profile, err);
			return r;
		}
		cp_error_clear(err);
		cp_chain_free(&x->chain);
		if ((r = cp_source_web_identity("(environment)", cp_env("AWS_WEB_IDENTITY_TOKEN_FILE"),
						cp_env("AWS_ROLE_ARN"), cp_env("AWS_ROLE_SESSION_NAME"),
						&x->chain.base, err)))
			return r;
		cp_debug("no profile '%s': web identity from the environment", profile);
	}

	/* Settings (region, endpoint, CA bundle, IMDS keys, margin) come from the
	 * target profile; with --role-arn and no --profile, from the source profile. */
	x->settings = cp_config_profile(&x->cfg, profile);
	if (!x->settings && req->flags.source_profile)
		x->settings = cp_config_profile(&x->cfg, req->flags.source_profile);
	if ((r = s_margin(x, req, err)))
		return r;

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
	const cp_source_ops *base = x->chain.base->ops;
	x->cached = x->chain.nsteps || base->temporary;
	if (!x->cached)
		return 0;
	x->region_from_imds = !x->region && base == &cp_source_imds_ops;
	if ((x->chain.nsteps || base->calls_sts) && !x->region_from_imds &&
	    (r = cp_sts_endpoint_resolve(&x->cfg, x->settings, x->region, &x->sts, err)))
		return r;
	return s_cache_key(x, &x->key) ? cp_error_set(err, CP_EINTERNAL, "out of memory") : 0;
}

void cp_run_release(cp_run *x)
{
	cp_sts_target_free(&x->sts);
	free(x->region);
	cp_chain_free(&x->chain);
	cp_config_free(&x->cfg);
	free(x->cfg_path);
	free(x->cred_path);
	cp_buf_free(&x->key);
}

int cp_run_source_identity(const cp_run *x, cp_buf *k)
{
	const cp_source *s = x->chain.base;
	if (cp_key_line(k, "source", s->ops->kind) || cp_key_line(k, "source-profile", s->profile))
		return CP_EINTERNAL;
	return s->ops->identity(s, x, k) ? CP_EINTERNAL : 0;
}

int cp_run_endpoint_identity(const cp_run *x, cp_buf *k)
{
	if (cp_sts_endpoint_inputs(&x->cfg, x->settings, k))
		return CP_EINTERNAL;
	if (x->region_from_imds)
		return cp_key_line(k, "region", "(the instance's region, from IMDS)") ? CP_EINTERNAL : 0;
	return cp_key_line(k, "region", x->region ? x->region : "(none)") ||
			       cp_key_url_line(k, "endpoint", x->sts.url) ||
			       cp_key_line(k, "signing-region", x->sts.signing_region)
		       ? CP_EINTERNAL
		       : 0;
}

static int s_step_key(const cp_role_step *st, cp_buf *k)
{
	return cp_key_line(k, "role", st->role_arn) ||
	       cp_key_line(k, "session", st->role_session_name ? st->role_session_name : "(default)") ||
	       cp_key_line(k, "external-id", st->external_id) || cp_key_line(k, "mfa", st->mfa_serial) ||
	       cp_buf_printf(k, "duration=%d\n", st->duration_seconds) ||
	       cp_key_line(k, "policy", st->policy) || cp_key_line(k, "policy-arns", st->policy_arns) ||
	       cp_key_line(k, "tags", st->tags) ||
	       cp_key_line(k, "transitive-tag-keys", st->transitive_tag_keys) ||
	       cp_key_line(k, "source-identity", st->source_identity);
}

/* The cache key: everything that changes the credentials returned. */
static int s_cache_key(const cp_run *x, cp_buf *k)
{
	bool default_session = false;
	if (cp_buf_puts(k, "aws-credproc cache key v2\n") || cp_run_endpoint_identity(x, k) ||
	    cp_run_source_identity(x, k))
		return CP_EINTERNAL;
	for (size_t i = 0; i < x->chain.nprofiles; i++)
		if (cp_key_line(k, "profile", x->chain.profiles[i]))
			return CP_EINTERNAL;
	for (size_t i = 0; i < x->chain.nsteps; i++) {
		if (s_step_key(&x->chain.steps[i], k))
			return CP_EINTERNAL;
		if (!x->chain.steps[i].role_session_name)
			default_session = true;
	}
	if (default_session) {
		char *n = cp_default_session_name();
		int e = !n || cp_key_line(k, "default-session", n);
		free(n);
		return e ? CP_EINTERNAL : 0;
	}
	return 0;
}
