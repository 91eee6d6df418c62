/* mfa-session.c - MFA for a role step.
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
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "identity.h"
#include "role.h"

#define CP_MFA_LOCK_SLACK_MS 10000

bool cp_chain_has_mfa(const cp_run *x)
{
	for (size_t i = 0; i < x->chain.nsteps; i++)
		if (x->chain.steps[i].mfa_serial)
			return true;
	return false;
}

long cp_mfa_lock_wait_ms(const cp_run *x)
{
	long person = CP_MFA_PROMPT_TIMEOUT_MS > CP_MFA_PROCESS_TIMEOUT_MS ? CP_MFA_PROMPT_TIMEOUT_MS
									 : CP_MFA_PROCESS_TIMEOUT_MS;
	return person + x->timeout_ms + CP_MFA_LOCK_SLACK_MS;
}

/* A credproc_mfa_* setting for step s: its own profile's, else the target's. */
static const char *s_step_setting(const cp_run *x, const cp_role_step *s, const char *key,
				  const char **ret_profile)
{
	const cp_section *secs[2] = {s->profile ? cp_config_profile(&x->cfg, s->profile) : NULL,
				     x->settings};
	for (int i = 0; i < 2; i++) {
		const char *v = cp_section_value(secs[i], key);
		if (v) {
			*ret_profile = secs[i]->name;
			return v;
		}
	}
	return NULL;
}

int cp_mfa_settings_get(const cp_run *x, const cp_role_step *s, cp_mfa_settings *m, cp_error *err)
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

int cp_mfa_code(cp_run *x, const cp_role_step *s, const cp_mfa_settings *m,
		char code[static CP_MFA_CODE_SIZE], cp_error *err)
{
	int64_t t0 = cp_run_mono_ms(x);
	int r;
	if (m->process) {
		r = cp_mfa_from_process(m->process_profile, m->process, s->mfa_serial,
					CP_MFA_PROCESS_TIMEOUT_MS, code, err);
	} else {
		cp_debug("MFA: asking on the terminal for the code of '%s'", s->mfa_serial);
		r = cp_mfa_from_tty(s->mfa_serial, CP_MFA_PROMPT_TIMEOUT_MS, code, err);
	}
	cp_run_pause_deadline(x, t0);
	return r;
}

/* The request and its signer, for cp_run_sts_call (role.c and
 * sources/mfa-session.c each adapt their own STS operation the same way). */
typedef struct s_gst {
	const cp_creds *src;
	cp_session_token_input in;
} s_gst;

static int s_call(void *ctx, const cp_net_ops *net, const cp_sts_endpoint *ep, cp_creds *ret,
		  cp_error *err)
{
	s_gst *g = ctx;
	return net->get_session_token(ep, g->src, &g->in, ret, err);
}

/* GetSessionToken for step s's device, signed with src (long-term keys). */
static int s_get_session_token(cp_run *x, const cp_role_step *s, const cp_creds *src,
			       const char *code, int duration, cp_creds *ret, cp_error *err)
{
	char who[2100];
	s_gst g = {.src = src,
		   .in = {.duration_seconds = duration, .serial_number = s->mfa_serial, .token_code = code}};
	snprintf(who, sizeof who, "MFA session for '%s'", s->mfa_serial);
	cp_debug("GetSessionToken for the MFA device '%s' (%d s) at %s", s->mfa_serial, duration,
		 x->sts.url);
	int r = cp_run_sts_call(x, who, true, s_call, &g, ret, err);
	if (r && err->status == CP_EREFUSED)
		cp_error_prefix(err, "MFA session (GetSessionToken)");
	return r ? r : cp_run_check_expiry(x, who, ret, err);
}

/* The cache key of an MFA session: the source and who it is (not its
 * rotating secret), the device, the duration and the endpoint. */
static int s_mfa_key(const cp_run *x, const cp_role_step *s, int duration, cp_buf *k)
{
	return cp_buf_puts(k, "aws-credproc MFA session key v2\n") || cp_run_endpoint_identity(x, k) ||
			       cp_run_source_identity(x, k) || cp_key_line(k, "mfa", s->mfa_serial) ||
			       cp_buf_printf(k, "mfa-session-duration=%d\n", duration)
		       ? CP_EINTERNAL
		       : 0;
}

int cp_mfa_session(cp_run *x, const cp_role_step *s, const cp_mfa_settings *m, const cp_creds *src,
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
			int64_t t0 = cp_run_mono_ms(x);
			r = cp_cache_lock(c, key.data, cp_mfa_lock_wait_ms(x), &lock, err);
			cp_run_pause_deadline(x, t0);
			if (r)
				goto out;
		}
		int64_t now = cp_run_now(x);
		r = cp_cache_read(c, key.data, &e, err);
		if (r == CP_EINTERNAL)
			goto out;
		if (r == 0 && cp_run_reusable(x, &e, now) &&
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
	if ((r = cp_mfa_code(x, s, m, code, err)))
		goto out;
	int64_t issued = cp_run_now(x);
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

/* The cached session of step s, for explain: one line. */
static int s_explain_cached(const cp_run *x, cp_cache *cache, const cp_role_step *s,
			    const cp_mfa_settings *m, cp_buf *b)
{
	cp_buf key = {0};
	cp_cache_entry ce = {0};
	cp_error e = {0};
	int64_t now = cp_run_now(x);
	int w = 0, r = s_mfa_key(x, s, m->duration, &key) ? CP_EINTERNAL
							  : cp_cache_read(cache, key.data, &ce, &e);
	if (r == 0) {
		char t[21];
		cp_format_iso8601(ce.creds.expiration, t);
		w = cp_buf_printf(b, ", cached until %s (%lld s left)%s\n", t,
				  (long long)(ce.creds.expiration - now),
				  cp_run_reusable(x, &ce, now) ? "" : "; inside the refresh margin: the next "
								      "refresh of the role asks for a code");
	} else if (r == CP_CACHE_MISS) {
		w = cp_buf_puts(b, ", none cached: the next refresh of the role asks for a code\n");
	} else {
		w = CP_EINTERNAL;
	}
	cp_creds_clear(&ce.creds);
	cp_buf_free(&key);
	return w;
}

int cp_mfa_explain(const cp_run *x, cp_cache *cache, cp_buf *b)
{
	const cp_source *base = x->chain.base;
	for (size_t i = 0; i < x->chain.nsteps; i++) {
		const cp_role_step *s = &x->chain.steps[i];
		cp_error e = {0};
		cp_mfa_settings m;
		int w;
		if (!s->mfa_serial)
			continue;
		if (cp_mfa_settings_get(x, s, &m, &e)) {
			if (cp_buf_printf(b, "MFA device %s: %s\n", s->mfa_serial, e.msg))
				return CP_EINTERNAL;
			continue;
		}
		if (m.process)
			w = cp_buf_printf(b, "MFA device %s: code from credproc_mfa_process of profile '%s'\n",
					  s->mfa_serial, m.process_profile);
		else
			w = cp_buf_printf(b, "MFA device %s: code from a prompt on the terminal\n",
					  s->mfa_serial);
		bool long_term = i == 0 && base->ops->long_term && base->ops->long_term(base);
		if (!w && !long_term) {
			w = cp_buf_puts(b, "  the source is a session (GetSessionToken needs long-term keys): "
					   "the code goes to AssumeRole, asked for at every refresh of this role\n");
		} else if (!w) {
			w = cp_buf_printf(b, "  MFA session: GetSessionToken for %d s%s", m.duration,
					  base->ops == &cp_source_process_ops
						  ? " (when credential_process prints long-term keys)"
						  : "");
			if (!w)
				w = !cache || !x->sts.url ? cp_buf_puts(b, ", not cached\n")
							  : s_explain_cached(x, cache, s, &m, b);
		}
		if (w)
			return CP_EINTERNAL;
	}
	return 0;
}
