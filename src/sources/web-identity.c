/* web-identity.c - AssumeRoleWithWebIdentity with an OIDC token file
 * (web_identity_token_file + role_arn; EKS IRSA from the environment). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include "identity.h"
#include "run.h"
#include "source.h"

#define CP_WEB_IDENTITY_TOKEN_MAX (64 * 1024)

typedef cp_web_identity_source s_wi;

/* Reads the token file now (it rotates): the trimmed token in *ret_token
 * (inside *ret_buf, freed with cp_freezero(*ret_buf, *ret_len + 1)). */
static int s_read_token(const s_wi *w, char **ret_buf, size_t *ret_len, char **ret_token,
			cp_error *err)
{
	int e = cp_read_file(w->token_file, CP_WEB_IDENTITY_TOKEN_MAX, ret_buf, ret_len) < 0 ? errno : 0;
	if (e == EFBIG)
		return cp_error_set(err, CP_ESOURCE, "web identity token file '%s' is larger than %d bytes",
				    w->token_file, CP_WEB_IDENTITY_TOKEN_MAX);
	if (e)
		return cp_error_set(err, CP_ESOURCE, "cannot read the web identity token file '%s': %s",
				    w->token_file, cp_read_file_strerror(e));
	*ret_token = cp_trim(*ret_buf);
	return 0;
}

static int s_identity(const cp_source *s, const cp_run *run, cp_buf *k)
{
	(void)run;
	const s_wi *w = (const s_wi *)s;
	char *buf = NULL, *token;
	size_t len = 0;
	int e = cp_key_line(k, "web-identity-role", w->role_arn) ||
		cp_key_line(k, "web-identity-token-file", w->token_file) ||
		cp_key_line(k, "web-identity-session", w->session_name ? w->session_name : "(default)");
	if (e)
		return CP_EINTERNAL;
	if (s_read_token(w, &buf, &len, &token, NULL))
		return cp_key_line(k, "token-identity", "(unreadable)");
	e = cp_jwt_identity(token, k);
	cp_freezero(buf, len + 1);
	return e;
}

static int s_explain(const cp_source *s, const cp_run *run, cp_buf *b)
{
	(void)run;
	const s_wi *w = (const s_wi *)s;
	return cp_buf_printf(b, "web identity: AssumeRoleWithWebIdentity %s with the token in '%s' "
			     "(profile '%s')\n", w->role_arn, w->token_file, s->profile);
}

static int s_call(void *ctx, const cp_net_ops *net, const cp_sts_endpoint *ep, cp_creds *ret,
		  cp_error *err)
{
	return net->assume_role_with_web_identity(ep, ctx, ret, err);
}

static int s_fetch(const cp_source *s, cp_run *run, cp_creds *ret, cp_error *err)
{
	const s_wi *w = (const s_wi *)s;
	char *buf = NULL, *token, *default_name = NULL, who[2100];
	size_t len = 0;
	int r;
	snprintf(who, sizeof who, "role '%s'", w->role_arn);
	cp_debug("base: web identity token '%s' for role '%s'", w->token_file, w->role_arn);
	if ((r = cp_run_sts_endpoint(run, err)) || (r = s_read_token(w, &buf, &len, &token, err)))
		return r;
	if (!*token) {
		cp_freezero(buf, len + 1);
		return cp_error_set(err, CP_ESOURCE, "the web identity token file '%s' is empty",
				    w->token_file);
	}
	cp_web_identity_input in = {.role_arn = w->role_arn, .role_session_name = w->session_name,
				    .token = token};
	if (!in.role_session_name && !(in.role_session_name = default_name = cp_default_session_name()))
		r = cp_error_set(err, CP_EINTERNAL, "out of memory");
	else if (!(r = cp_run_sts_call(run, who, false, s_call, &in, ret, err)))
		r = cp_run_check_expiry(run, who, ret, err);
	cp_freezero(buf, len + 1);
	free(default_name);
	return r;
}

static void s_release(cp_source *s)
{
	s_wi *w = (s_wi *)s;
	free(w->token_file);
	free(w->role_arn);
	free(w->session_name);
}

/* This source's row of the interface (source.h). Every source file ends
 * with one of the same shape: the repeat is the interface, not a copy. */
const cp_source_ops cp_source_web_identity_ops = {
	.kind = "web identity",
	.temporary = true,
	.calls_sts = true,
	.identity = s_identity,
	.explain = s_explain,
	.fetch = s_fetch,
	.release = s_release,
};

int cp_source_web_identity(const char *profile, const char *token_file, const char *role_arn,
			   const char *session_name, cp_source **ret, cp_error *err)
{
	s_wi *w = (s_wi *)cp_source_alloc(&cp_source_web_identity_ops, sizeof *w, profile);
	if (!w || !(w->token_file = cp_strdup(token_file)) || !(w->role_arn = cp_strdup(role_arn)) ||
	    (session_name && !(w->session_name = cp_strdup(session_name)))) {
		cp_source_free(w ? &w->base : NULL);
		return cp_error_set(err, CP_EINTERNAL, "out of memory");
	}
	*ret = &w->base;
	return 0;
}

const cp_web_identity_source *cp_source_as_web_identity(const cp_source *s)
{
	return s && s->ops == &cp_source_web_identity_ops ? (const s_wi *)s : NULL;
}
