/* credproc.h - the whole pipeline: config -> chain -> credentials.
 *
 * cp_get_credentials() loads the shared files, resolves the chain, obtains
 * the base credentials and assumes each role in turn. The network side is
 * reached only through cp_net(). Returns 0 or a CP_E* status with err set
 * (the status is the process exit status).
 */
#ifndef CP_CREDPROC_H
#define CP_CREDPROC_H

#include <stdbool.h>

#include "creds.h"
#include "net.h"
#include "retry.h"
#include "resolve.h"
#include "util.h"

#define CP_DEFAULT_TIMEOUT_MS 30000
#define CP_SHORT_LIFETIME_WARN 900 /* warn when fresh credentials live less */
#define CP_DEFAULT_REFRESH_MARGIN 1200 /* seconds */
#define CP_STALE_MIN_LEFT 300      /* stale-if-error: at least this much left */
#define CP_MAX_CLOCK_SKEW 240      /* beyond this, STS's Date corrects the signing time */

typedef struct cp_request {
	const char *profile;   /* target profile; NULL: "default" */
	cp_role_flags flags;   /* --role-arn etc. */
	const char *region;    /* --region; NULL: from environment/config */
	long timeout_ms;       /* 0: CP_DEFAULT_TIMEOUT_MS */
	const char *cache_dir; /* --cache-dir; NULL: the default */
	bool no_cache;         /* --no-cache */
	int refresh_margin;    /* --refresh-margin; -1: from config or the default */
} cp_request;

/* The effects of a call, injected (the tests fake both). */
typedef struct cp_effects {
	/* The network table, loaded on first use (cp_net); NULL with err set
	 * when it cannot be loaded. */
	const cp_net_ops *(*net)(cp_error *err);
	const cp_clock *clock; /* NULL: cp_clock_system */
} cp_effects;

/* The real ones: cp_net() and the system's clocks. */
extern const cp_effects cp_effects_system;

/* Cached credentials are reused while at least min(margin, lifetime / 2)
 * remains; otherwise they are refreshed under the key's lock. When the
 * refresh fails and the cached ones have CP_STALE_MIN_LEFT or more, those are
 * returned with a warning. */
int cp_get_credentials(const cp_request *req, const cp_effects *fx, cp_creds *ret, cp_error *err);

/* Writes the resolution chain, endpoint, cache file and remaining lifetime
 * to *ret (never a secret). */
int cp_explain(const cp_request *req, const cp_effects *fx, cp_buf *ret, cp_error *err);

/* Writes one line per profile of the shared files, sorted: its source,
 * the role it assumes, the time its cached credentials have left; a
 * profile that does not resolve, with its error (still 0). json: a JSON
 * array of objects instead of the table. Never a secret, never the
 * network, never creates the cache directory. */
int cp_list(const cp_request *req, const cp_effects *fx, bool json, cp_buf *ret, cp_error *err);

/* Removes the cache entry of req's profile, or (all) every entry. */
int cp_cache_clear_cmd(const cp_request *req, const cp_effects *fx, bool all, int *ret_removed,
		       cp_error *err);

#endif
