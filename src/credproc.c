/* credproc.c - config -> chain -> credentials. */
#include "credproc.h"

#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "config.h"
#include "endpoint.h"
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

/* Worth another attempt: throttling, 5xx, or no HTTP answer at all. */
static bool s_retryable(const cp_error *e)
{
	if (e->status != CP_ETRANSPORT || strcmp(e->code, "TlsFailure") == 0 ||
	    strcmp(e->code, "ResponseTooLarge") == 0)
		return false;
	return e->http_status == 0 || e->http_status == 429 || e->http_status >= 500 ||
	       cp_sts_error_retryable(e->code);
}

static const char *s_env(const char *name)
{
	const char *v = getenv(name);
	return v && *v ? v : NULL;
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
	o->v1_disabled = cp_truthy(s_env("AWS_EC2_METADATA_V1_DISABLED")) ||
			 (x->settings && cp_truthy(cp_section_get(x->settings, "ec2_metadata_v1_disabled")));
	return 0;
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
		const char *token = s_env("AWS_SESSION_TOKEN");
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
	case CP_BASE_ECS:
	case CP_BASE_WEB_IDENTITY:
	case CP_BASE_SSO:
		break;
	}
	return cp_error_set(err, CP_ECONFIG, "profile '%s': %s credentials are not supported yet",
			    c->base_profile ? c->base_profile : "?", cp_base_kind_name(c->base));
}

static bool s_role_chaining_refusal(const cp_error *e)
{
	return e->status == CP_EREFUSED && strcmp(e->code, "ValidationError") == 0 &&
	       strstr(e->msg, "role chaining") != NULL;
}

static int s_assume(s_ctx *x, const cp_role_step *s, const cp_creds *src, cp_creds *ret,
		    cp_error *err)
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
	if (s->mfa_serial) {
		return cp_error_set(err, CP_ECONFIG,
				    "profile '%s' uses mfa_serial, which is not supported yet",
				    s->profile ? s->profile : "(command line)");
	}
	if (!in.role_session_name) {
		if (!(default_name = cp_default_session_name()))
			return cp_error_set(err, CP_EINTERNAL, "out of memory");
		in.role_session_name = default_name;
	}
	cp_sts_endpoint ep = {
		.url = x->sts.url,
		.signing_region = x->sts.signing_region,
		.ca_bundle = cp_ca_bundle(x->settings),
		.timeout_ms = x->timeout_ms,
	};
	cp_debug("assume role '%s' (session '%s'%s) at %s", s->role_arn, in.role_session_name,
		 s->external_id ? ", external id set" : "", ep.url);
	int r;
	bool shortened = false;
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
		if (!r || !s_retryable(err) || attempt >= CP_MAX_ATTEMPTS)
			break;
		long delay = s_backoff_ms(attempt);
		if (s_mono_ms() + delay >= x->deadline_ms)
			break;
		cp_debug("attempt %d failed (%s); retrying in %ld ms", attempt, err->msg, delay);
		s_sleep_ms(delay);
	}
	if (!r && ret->expiration && ret->expiration <= cp_now()) {
		char t[21];
		cp_format_iso8601(ret->expiration, t);
		cp_creds_clear(ret);
		r = cp_error_set(err, CP_EREFUSED,
				 "role '%s': STS returned credentials that expired at %s, before the local "
				 "time; check the system clock", s->role_arn, t);
	}
	free(default_name);
	return r;
}

int cp_get_credentials(const cp_request *req, cp_creds *ret, cp_error *err)
{
	s_ctx x = {.req = req};
	char *cfg_path = NULL, *cred_path = NULL;
	cp_creds cur = {0}, next = {0};
	const char *profile = req->profile ? req->profile : "default";
	int r;

	x.timeout_ms = req->timeout_ms > 0 ? req->timeout_ms : CP_DEFAULT_TIMEOUT_MS;
	x.deadline_ms = s_mono_ms() + x.timeout_ms;
	cp_config_init(&x.cfg);
	if ((r = cp_config_paths(&cfg_path, &cred_path, err)))
		goto out;
	cp_debug("config file '%s', credentials file '%s'", cfg_path, cred_path);
	if ((r = cp_config_load(&x.cfg, cfg_path, cred_path, err)))
		goto out;
	if ((r = cp_resolve(&x.cfg, profile, &req->flags, &x.chain, err)))
		goto out;

	/* Settings (region, endpoint, CA bundle, IMDS keys) come from the target
	 * profile; with --role-arn and no --profile, from the source profile. */
	x.settings = cp_config_profile(&x.cfg, profile);
	if (!x.settings && req->flags.source_profile)
		x.settings = cp_config_profile(&x.cfg, req->flags.source_profile);

	if (req->region) {
		if (!cp_region_valid(req->region)) {
			r = cp_error_set(err, CP_ECONFIG, "invalid region '%.64s' (from --region)", req->region);
			goto out;
		}
		if (!(x.region = cp_strdup(req->region))) {
			r = cp_error_set(err, CP_EINTERNAL, "out of memory");
			goto out;
		}
	} else if ((r = cp_region_configured(x.settings, &x.region, err))) {
		goto out;
	}

	if ((r = s_base_credentials(&x, &cur, err)))
		goto out;

	if (x.chain.nsteps) {
		if (!x.region && x.chain.base == CP_BASE_IMDS) {
			cp_imds_options o;
			char *ep = NULL;
			cp_error e2 = {0};
			const cp_net_ops *net = cp_net(&e2);
			if (net && s_imds_options(&x, &o, &ep, &e2) == 0 &&
			    net->imds_region(&o, &x.region, &e2) == 0 && !cp_region_valid(x.region)) {
				free(x.region);
				x.region = NULL;
			}
			if (!x.region)
				cp_debug("no region from instance metadata: %s", e2.msg);
			free(ep);
		}
		if ((r = cp_sts_endpoint_resolve(&x.cfg, x.settings, x.region, &x.sts, err)))
			goto out;
		cp_debug("STS endpoint %s (from %s), signing region %s", x.sts.url, x.sts.url_source,
			 x.sts.signing_region);
	}

	for (size_t i = 0; i < x.chain.nsteps; i++) {
		if ((r = s_assume(&x, &x.chain.steps[i], &cur, &next, err)))
			goto out;
		cp_creds_move(&cur, &next);
	}
	if (x.chain.nsteps && cur.expiration) {
		int64_t left = cur.expiration - cp_now();
		if (left < CP_SHORT_LIFETIME_WARN)
			cp_warn("the new credentials expire in %lld seconds; SDKs will run aws-credproc "
				"again on almost every call", (long long)left);
	}
	cp_creds_move(ret, &cur);
	r = 0;
out:
	cp_creds_clear(&cur);
	cp_creds_clear(&next);
	cp_sts_target_free(&x.sts);
	free(x.region);
	cp_chain_free(&x.chain);
	cp_config_free(&x.cfg);
	free(cfg_path);
	free(cred_path);
	return r;
}
