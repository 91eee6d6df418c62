/* explain.c - `aws-credproc explain`: the chain, the endpoint, the cache
 * file and the time left, never a secret. */
#include <stdlib.h>

#include "credproc.h"
#include "role.h"
#include "run.h"

/* explain, when the region will come from IMDS: a configured endpoint is
 * used as it is (signed for the instance's region); otherwise the regional
 * endpoint of that region. */
static void s_imds_region(const cp_run *x, cp_buf *b)
{
	char *url = NULL;
	const char *src = NULL;
	cp_error e = {0};
	cp_buf_puts(b, "region: none configured; the instance's region from IMDS on a refresh\n");
	if (cp_sts_configured_endpoint(&x->cfg, x->settings, &url, &src, &e) == 0 && url)
		cp_buf_printf(b, "STS endpoint: %s (from %s), signed for the instance's region\n",
			      url, src);
	else
		cp_buf_puts(b, "STS endpoint: the regional endpoint of the instance's region\n");
	free(url);
}

static void s_step(const cp_role_step *s, size_t n, cp_buf *b)
{
	cp_buf_printf(b, "  %zu. assume role %s", n, s->role_arn);
	if (s->profile)
		cp_buf_printf(b, " (profile '%s')", s->profile);
	cp_buf_printf(b, ", session '%s'", s->role_session_name ? s->role_session_name : "(default)");
	if (!s->role_session_name) {
		char *name = cp_default_session_name();
		cp_buf_printf(b, " = '%s'", name ? name : "?");
		free(name);
	}
	if (s->external_id)
		cp_buf_puts(b, ", external id set");
	if (s->mfa_serial)
		cp_buf_printf(b, ", MFA device %s", s->mfa_serial);
	if (s->duration_seconds)
		cp_buf_printf(b, ", duration %d s\n", s->duration_seconds);
	else
		cp_buf_puts(b, ", duration: STS default (3600 s)\n");
}

/* Who a refresh asks: STS, unless the chain is a Roles Anywhere session
 * alone. */
static const char *s_asks(const cp_run *x)
{
	return !x->chain.nsteps && cp_source_as_rolesanywhere(x->chain.base)
		       ? "the Roles Anywhere service"
		       : "STS";
}

/* The cache file and what the next call does. */
static int s_cache(const cp_run *x, cp_cache *cache, cp_buf *b, cp_error *err)
{
	cp_cache_entry e = {0};
	char *dir = NULL, name[17];
	int r;
	if ((r = cp_cache_default_dir(x->req->cache_dir, &dir, err)))
		return r;
	cp_cache_name(x->key.data, name);
	cp_buf_printf(b, "cache file: %s/%s.json\n", dir, name);
	free(dir);
	if ((r = cp_cache_open(cache, x->req->cache_dir, err)))
		return r;
	if (!cache->usable) {
		cp_buf_printf(b, "cache: unusable (see the warning): every call asks %s\n", s_asks(x));
		return 0;
	}
	int64_t now = cp_run_now(x);
	r = cp_cache_read(cache, x->key.data, &e, err);
	if (r == CP_EINTERNAL)
		return r;
	if (r != 0) {
		cp_buf_printf(b, "cached credentials: none\nnext call: asks %s (refresh margin %d s)\n",
			      s_asks(x), x->margin);
		return 0;
	}
	char t[21];
	cp_format_iso8601(e.creds.expiration, t);
	cp_buf_printf(b, "cached credentials: expire %s (%lld s left of %lld s)\n", t,
		      (long long)(e.creds.expiration - now), (long long)(e.creds.expiration - e.issued));
	cp_buf_printf(b, "refresh margin: %lld s (min of %d s and half the lifetime)\n",
		      (long long)cp_run_effective_margin(x, &e), x->margin);
	if (cp_run_reusable(x, &e, now))
		cp_buf_puts(b, "next call: cache hit\n");
	else
		cp_buf_printf(b, "next call: asks %s (inside the refresh margin)\n", s_asks(x));
	cp_creds_clear(&e.creds);
	return 0;
}

int cp_explain(const cp_request *req, const cp_effects *fx, cp_buf *b, cp_error *err)
{
	cp_run x = {0};
	cp_cache cache = {.dirfd = -1};
	int r;
	const char *profile = req->profile ? req->profile : "default";
	const cp_source *base;

	if ((r = cp_run_prepare(&x, req, fx, err)))
		goto out;
	base = x.chain.base;
	cp_buf_printf(b, "profile: %s\n", req->flags.role_arn ? "(command line role)" : profile);
	cp_buf_printf(b, "config files: %s, %s\n", x.cfg_path, x.cred_path);
	cp_buf_puts(b, "chain:\n  1. ");
	base->ops->explain(base, &x, b);
	for (size_t i = 0; i < x.chain.nsteps; i++)
		s_step(&x.chain.steps[i], i + 2, b);
	if (!x.cached)
		cp_buf_puts(b, "no role to assume: the credentials are printed as they are, without caching\n");
	else if (x.region_from_imds)
		s_imds_region(&x, b);
	else if (x.sts.url)
		cp_buf_printf(b, "region: %s\nSTS endpoint: %s (from %s), signed for %s\n",
					x.region ? x.region
						 : x.sts.custom ? "none (the configured endpoint is used)"
								: "none (global endpoint)",
					x.sts.url,
					x.sts.url_source, x.sts.signing_region);
	else
		cp_buf_puts(b, "STS endpoint: not used\n");
	if (x.cached && req->no_cache)
		cp_buf_printf(b, "cache: disabled (--no-cache): every call asks %s\n", s_asks(&x));
	else if (x.cached && (r = s_cache(&x, &cache, b, err)))
		goto out;
	if (cp_chain_has_mfa(&x))
		cp_mfa_explain(&x, cache.usable ? &cache : NULL, b);
	r = cp_buf_status(b) ? cp_error_set(err, CP_EINTERNAL, "out of memory") : 0;
	if (!r && b->data) /* endpoints are named without their userinfo */
		b->len = cp_strip_userinfo(b->data, b->len + 1, b->data);
out:
	cp_cache_close(&cache);
	cp_run_release(&x);
	return r;
}
