/* run.h - the state of one call: configuration read, chain resolved,
 * effects (network, clock) injected.
 *
 * cp_run_prepare() does everything that needs no network: loads the
 * files, resolves the chain, picks the settings profile, the refresh
 * margin, the region (unless it must come from IMDS), the STS endpoint and
 * the cache key. The sources and the role step read it and, for the
 * deadline and the clock offset learnt from STS, update it.
 */
#ifndef CP_RUN_H
#define CP_RUN_H

#include <stdbool.h>
#include <stdint.h>

#include "cache.h"
#include "config.h"
#include "credproc.h"
#include "endpoint.h"
#include "net.h"
#include "resolve.h"
#include "retry.h"

struct cp_run {
	const cp_request *req;
	const cp_effects *fx;
	const cp_clock *clock;      /* fx->clock, never NULL */
	cp_config cfg;
	cp_chain chain;
	const cp_section *settings; /* the profile whose region/endpoint/CA apply; may be NULL */
	char *region;
	cp_sts_target sts;
	long timeout_ms;
	int64_t deadline_ms;        /* on clock->mono_ms */
	char *cfg_path, *cred_path;
	bool region_from_imds;      /* no region configured: the instance's region applies */
	int margin;                 /* configured refresh margin, seconds */
	cp_buf key;                 /* cache key text */
	int64_t clock_offset;       /* STS time minus local time, once a skew was detected */
	bool cached;                /* temporary credentials: cached (roles, web identity, SSO) */
	cp_cache *cache;            /* the open cache (MFA sessions); NULL: none */
	bool fetched;               /* the credentials returned are fresh ones */
};

int cp_run_prepare(cp_run *x, const cp_request *req, const cp_effects *fx, cp_error *err);
void cp_run_release(cp_run *x);
/* cp_run_prepare() on files already loaded: x->cfg, x->cfg_path and
 * x->cred_path are set by the caller (cp_list loads the files once for
 * every profile, and takes them back before cp_run_release()). */
int cp_run_prepare_loaded(cp_run *x, const cp_request *req, const cp_effects *fx, cp_error *err);

/* The network table, loaded on first use. */
const cp_net_ops *cp_run_net(cp_run *x, cp_error *err);
int64_t cp_run_now(const cp_run *x);
int64_t cp_run_mono_ms(const cp_run *x);
/* Pushes the deadline back by the time since t0 (a person's time). */
void cp_run_pause_deadline(cp_run *x, int64_t t0);

/* The IMDS client options of the settings profile (endpoint in *ret_endpoint, freed by the caller). */
int cp_run_imds_options(cp_run *x, cp_imds_options *o, char **ret_endpoint, cp_error *err);
/* Resolves the STS endpoint now if it is not known yet (region from IMDS). */
int cp_run_sts_endpoint(cp_run *x, cp_error *err);

/* One STS call: attempts with backoff inside the deadline, then one retry
 * with STS's time when it refused ours (CP_CAUSE_CLOCK_SKEW beyond
 * CP_MAX_CLOCK_SKEW, with a warning naming `who`). fn sends the request
 * once with ep. */
typedef int (*cp_sts_call_fn)(void *ctx, const cp_net_ops *net, const cp_sts_endpoint *ep,
			      cp_creds *ret, cp_error *err);
int cp_run_sts_call(cp_run *x, const char *who, bool signed_request, cp_sts_call_fn fn, void *ctx,
		    cp_creds *ret, cp_error *err);

/* Credentials from STS that expired before the local time (plus the
 * offset learnt from STS) are refused: CP_EREFUSED, c cleared. */
int cp_run_check_expiry(const cp_run *x, const char *who, cp_creds *c, cp_error *err);

/* Reuse rule: at least min(margin, lifetime / 2) must remain. */
int64_t cp_run_effective_margin(const cp_run *x, const cp_cache_entry *e);
bool cp_run_reusable(const cp_run *x, const cp_cache_entry *e, int64_t now);

/* The non-secret identity of the endpoint and of the source: the lines
 * that begin every cache key (and the MFA session keys). */
int cp_run_endpoint_identity(const cp_run *x, cp_buf *k);
int cp_run_source_identity(const cp_run *x, cp_buf *k);

/* AWS_SESSION_TOKEN, else its old name AWS_SECURITY_TOKEN; NULL. */
const char *cp_env_session_token(void);

#endif
