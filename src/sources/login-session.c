/* login-session.c - console sign-in sessions (`login_session`, written by
 * `aws login`): the credentials of the session's token cache, refreshed by
 * the sign-in service when due (login.h). */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "endpoint.h"
#include "fileio.h"
#include "identity.h"
#include "run.h"
#include "source.h"

typedef cp_login_source s_login;

/* $NAME and ${NAME} replaced by the variable's value, unknown ones kept
 * (Python's os.path.expandvars). Heap string or NULL (out of memory). */
static char *s_expandvars(const char *v)
{
	cp_buf b = {0};
	for (const char *p = v; *p;) {
		if (*p == '$') {
			bool brace = p[1] == '{';
			const char *n = p + 1 + brace;
			size_t len = 0;
			while (isalnum((unsigned char)n[len]) || n[len] == '_')
				len++;
			if (len && (!brace || n[len] == '}')) {
				char name[256];
				if (len < sizeof name) {
					memcpy(name, n, len);
					name[len] = '\0';
					const char *val = getenv(name);
					if (val) {
						cp_buf_puts(&b, val);
						p = n + len + brace;
						continue;
					}
				}
			}
		}
		cp_buf_putc(&b, *p++);
	}
	if (cp_buf_status(&b) || !b.data) {
		cp_buf_free(&b);
		return cp_strdup("");
	}
	return cp_buf_steal(&b);
}

/* The token cache directory, as botocore's get_login_token_cache_directory()
 * finds it: AWS_LOGIN_CACHE_DIRECTORY (variables and a leading "~"
 * expanded), else ~/.aws/login/cache. */
int cp_login_cache_dir(char **ret, cp_error *err)
{
	const char *env = getenv("AWS_LOGIN_CACHE_DIRECTORY");
	cp_error e = {0};
	int r;
	if (!env)
		r = cp_home_dir(".aws/login/cache", ret, &e);
	else {
		char *v = s_expandvars(env);
		if (!v)
			return cp_error_set(err, CP_EINTERNAL, "out of memory");
		if (v[0] == '~' && (v[1] == '/' || v[1] == '\0')) {
			r = cp_home_dir(v[1] ? v + 2 : NULL, ret, &e);
			free(v);
		} else {
			*ret = v;
			r = 0;
		}
	}
	if (r == CP_EINTERNAL)
		return cp_error_set(err, r, "out of memory");
	if (r)
		return cp_error_set(err, CP_ESOURCE, "cannot find the sign-in token cache: %s", e.msg);
	return 0;
}

/* The sign-in service's region: the call's (AWS_REGION, AWS_DEFAULT_REGION,
 * the target profile's region: what botocore's client gets), else the
 * region of the profile holding login_session (which `aws login` writes
 * there; botocore has no region then, and cannot refresh). */
static const char *s_region(const cp_source *s, const cp_run *run)
{
	if (run->region)
		return run->region;
	const cp_section *p = cp_config_profile(&run->cfg, s->profile);
	return p ? cp_section_value(p, "region") : NULL;
}

static int s_identity(const cp_source *s, const cp_run *run, cp_buf *k)
{
	const s_login *o = (const s_login *)s;
	char *url = NULL;
	cp_error e = {0};
	/* Which session, in which token cache, refreshed where (the region and
	 * the general endpoint settings are in every key already). */
	int r = cp_key_line(k, "login-session", o->session) ||
		cp_key_line(k, "login-cache-dir", getenv("AWS_LOGIN_CACHE_DIRECTORY"));
	if (cp_signin_endpoint(&run->cfg, run->settings, s_region(s, run), &url, NULL, &e) == 0)
		r |= cp_key_url_line(k, "signin-endpoint", url);
	else
		r |= cp_key_line(k, "signin-endpoint", "(unresolved)");
	free(url);
	return r ? CP_EINTERNAL : 0;
}

static int s_explain(const cp_source *s, const cp_run *run, cp_buf *b)
{
	const s_login *o = (const s_login *)s;
	char *dir = NULL, *url = NULL;
	const char *src = NULL;
	cp_error e = {0};
	cp_buf_printf(b, "console sign-in: login_session %s (profile '%s'), token cache ", o->session,
		      s->profile);
	if (cp_login_cache_dir(&dir, &e) == 0)
		cp_buf_printf(b, "in %s", dir);
	else
		cp_buf_printf(b, "unknown (%s)", e.msg);
	cp_error_clear(&e);
	if (cp_signin_endpoint(&run->cfg, run->settings, s_region(s, run), &url, &src, &e) == 0)
		cp_buf_printf(b, ", refreshed at %s/v1/token (from %s)\n", url, src);
	else
		cp_buf_printf(b, ", no refresh possible: %s\n", e.msg);
	free(dir);
	free(url);
	return cp_buf_status(b);
}

static int s_fetch(const cp_source *s, cp_run *run, cp_creds *ret, cp_error *err)
{
	const s_login *o = (const s_login *)s;
	char *dir = NULL, *url = NULL;
	const char *src = NULL;
	cp_error ep_err = {0};
	int r = cp_login_cache_dir(&dir, err);
	if (r)
		return r;
	/* The endpoint is needed only for a refresh: an error is reported then. */
	if (cp_signin_endpoint(&run->cfg, run->settings, s_region(s, run), &url, &src, &ep_err) ==
	    CP_EINTERNAL) {
		free(dir);
		*err = ep_err;
		return CP_EINTERNAL;
	}
	cp_login_options opt = {
		.profile = s->profile,
		.session_name = o->session,
		.token_dir = dir,
		.endpoint_url = url,
		.endpoint_source = src,
		.endpoint_error = &ep_err,
		.ca_bundle = cp_ca_bundle(run->settings),
		.attempts = 3,
		.deadline_ms = run->deadline_ms,
		.clock = run->clock,
		.now = cp_run_now(run),
	};
	const cp_net_ops *net = cp_run_net(run, err);
	cp_debug("base: console sign-in session '%s' (profile '%s')", o->session, s->profile);
	r = net ? net->login_credentials(&opt, ret, err) : err->status;
	free(dir);
	free(url);
	return r;
}

static void s_release(cp_source *s)
{
	free(((s_login *)s)->session);
}

/* This source's row of the interface (source.h). */
const cp_source_ops cp_source_login_ops = {
	.kind = "login session",
	.label = "console sign-in",
	.temporary = true,
	.calls_sts = false,
	.identity = s_identity,
	.explain = s_explain,
	.fetch = s_fetch,
	.release = s_release,
};

int cp_source_login(const char *profile, const char *session, cp_source **ret, cp_error *err)
{
	s_login *o = (s_login *)cp_source_alloc(&cp_source_login_ops, sizeof *o, profile);
	if (!o || !(o->session = cp_strdup(session))) {
		cp_source_free(o ? &o->base : NULL);
		return cp_error_set(err, CP_EINTERNAL, "out of memory");
	}
	*ret = &o->base;
	return 0;
}

const cp_login_source *cp_source_as_login(const cp_source *s)
{
	return s && s->ops == &cp_source_login_ops ? (const s_login *)s : NULL;
}
