/* credproc.c - the chain: cache, lock, sources and roles, stale-if-error.
 *
 * Everything that touches the outside comes in through cp_effects (the
 * network table and the clock), so that tests/test-credproc.c runs the
 * whole pipeline on a fake clock and a fake network. */
#include "credproc.h"

#include <string.h>

#include "cache.h"
#include "role.h"
#include "run.h"

const cp_effects cp_effects_system = {.net = cp_net, .clock = &cp_clock_system};

/* Gets fresh credentials: the source, then each role. */
static int s_fetch(cp_run *x, cp_creds *ret, cp_error *err)
{
	cp_creds cur = {0}, next = {0};
	const cp_source *base = x->chain.base;
	int r = base->ops->fetch(base, x, &cur, err);
	if (!r && x->chain.nsteps)
		r = cp_run_sts_endpoint(x, err);
	if (!r && x->sts.url)
		cp_debug("STS endpoint %s (from %s), signing region %s", x->sts.url, x->sts.url_source,
			 x->sts.signing_region);
	for (size_t i = 0; !r && i < x->chain.nsteps; i++) {
		if (!(r = cp_role_assume_step(x, &x->chain.steps[i], &cur, &next, err)))
			cp_creds_move(&cur, &next);
	}
	if (!r)
		cp_creds_move(ret, &cur);
	cp_creds_clear(&cur);
	cp_creds_clear(&next);
	return r;
}

/* Stale-if-error (DESIGN.md "The cache"): after a transport failure (the
 * exit-5 class, which includes a lock wait that timed out) the cached
 * credentials in hand are moved to ret and printed with a warning when at
 * least CP_STALE_MIN_LEFT remains: returns 0. A refusal (exit 4) or any
 * other failure is never hidden: returns r. */
static int s_serve_stale(const cp_run *x, cp_cache_entry *stale, int r, cp_error *err, cp_creds *ret)
{
	int64_t left = stale->creds.expiration - cp_run_now(x);
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

/* Reads the entry: 0 and ret filled when it can be used as it is; else
 * CP_CACHE_MISS with an entry inside the margin moved to *stale (kept in
 * hand should the refresh fail), or CP_EINTERNAL. */
static int s_read(cp_run *x, cp_cache *cache, const char *what, cp_cache_entry *stale, cp_creds *ret,
		  cp_error *err)
{
	cp_cache_entry e = {0};
	int64_t now = cp_run_now(x);
	int r = cp_cache_read(cache, x->key.data, &e, err);
	if (r == CP_EINTERNAL)
		return r;
	if (r == 0 && cp_run_reusable(x, &e, now)) {
		cp_debug("cache: %s, %lld s left", what, (long long)(e.creds.expiration - now));
		cp_creds_move(ret, &e.creds);
		return 0;
	}
	if (r == 0) {
		cp_creds_clear(&stale->creds);
		*stale = e;
	}
	return CP_CACHE_MISS;
}

/* Takes the key's lock. The wait is bounded by --timeout; with MFA the
 * holder may be waiting for a person: wait long enough for them, and do not
 * count that wait against the network deadline. */
static int s_lock(cp_run *x, cp_cache *cache, cp_cache_lockfile *lock, cp_error *err)
{
	bool mfa = cp_chain_has_mfa(x);
	int64_t t0 = cp_run_mono_ms(x);
	long wait = mfa ? cp_mfa_lock_wait_ms(x) : (long)(x->deadline_ms - t0);
	int r = cp_cache_lock(cache, x->key.data, wait > 0 ? wait : 1, lock, err);
	if (mfa)
		cp_run_pause_deadline(x, t0);
	return r;
}

/* A miss under the lock: fetch, write the entry, or serve the stale one. */
static int s_refresh(cp_run *x, cp_cache *cache, cp_cache_entry *stale, cp_creds *ret, cp_error *err)
{
	cp_creds fresh = {0};
	int64_t issued = cp_run_now(x);
	int r = s_fetch(x, &fresh, err);
	if (r)
		return s_serve_stale(x, stale, r, err, ret);
	if (cache && cache->usable && fresh.expiration > issued) {
		cp_cache_entry ne = {.creds = fresh, .issued = issued};
		if ((r = cp_cache_write(cache, x->key.data, &ne, err))) {
			cp_creds_clear(&fresh);
			return r;
		}
	}
	cp_creds_move(ret, &fresh);
	x->fetched = true;
	return 0;
}

static int s_cached(cp_run *x, cp_cache *cache, cp_creds *ret, cp_error *err)
{
	cp_cache_lockfile lock = {.fd = -1};
	cp_cache_entry stale = {0};
	int r;
	cache->wait_may_be_for_a_person = cp_chain_has_mfa(x);
	x->cache = cache;
	if (cache->usable) {
		if ((r = s_read(x, cache, "hit", &stale, ret, err)) != CP_CACHE_MISS)
			goto out;
		cp_debug("cache: %s", stale.creds.access_key_id ? "entry inside the refresh margin" : "miss");
		if ((r = s_lock(x, cache, &lock, err))) {
			r = s_serve_stale(x, &stale, r, err, ret);
			goto out;
		}
		/* Someone may have refreshed it while we waited. */
		if ((r = s_read(x, cache, "refreshed by another process while waiting", &stale, ret,
				err)) != CP_CACHE_MISS)
			goto out;
		cp_cache_prune(cache, cp_run_now(x));
	}
	r = s_refresh(x, cache, &stale, ret, err);
out:
	cp_cache_unlock(&lock);
	cp_creds_clear(&stale.creds);
	return r;
}

int cp_get_credentials(const cp_request *req, const cp_effects *fx, cp_creds *ret, cp_error *err)
{
	cp_run x = {0};
	cp_cache cache = {.dirfd = -1};
	int r;

	if ((r = cp_run_prepare(&x, req, fx, err)))
		goto out;
	if (!x.cached || req->no_cache) {
		/* Static keys and pass-through processes are not cached. */
		cp_debug("cache: not used (%s)", x.cached ? "--no-cache" : "no role to assume");
		r = s_fetch(&x, ret, err);
		x.fetched = !r;
	} else if (!(r = cp_cache_open(&cache, req->cache_dir, err))) {
		r = s_cached(&x, &cache, ret, err);
	}
	if (!r && x.fetched && x.cached && ret->expiration) {
		int64_t left = ret->expiration - cp_run_now(&x);
		if (left < CP_SHORT_LIFETIME_WARN)
			cp_warn("the new credentials expire in %lld seconds; SDKs will run aws-credproc "
				"again on almost every call", (long long)left);
	}
out:
	cp_cache_close(&cache);
	cp_run_release(&x);
	return r;
}

int cp_cache_clear_cmd(const cp_request *req, const cp_effects *fx, bool all, int *ret_removed,
		       cp_error *err)
{
	cp_run x = {0};
	cp_cache cache = {.dirfd = -1};
	int r = 0;
	*ret_removed = 0;
	if (!all && ((r = cp_run_prepare(&x, req, fx, err)) || !x.cached))
		goto out;
	if ((r = cp_cache_open(&cache, req->cache_dir, err)))
		goto out;
	if (!cache.usable)
		r = cp_error_set(err, CP_ECONFIG, "the cache directory is unusable; nothing removed");
	else
		r = cp_cache_clear(&cache, all ? NULL : x.key.data, ret_removed, err);
out:
	cp_cache_close(&cache);
	cp_run_release(&x);
	return r;
}
