/* identity-center.c - IAM Identity Center (sso_session / legacy sso_* keys):
 * the token `aws sso login` cached, then GetRoleCredentials. */
#include <stdlib.h>
#include <string.h>

#include "endpoint.h"
#include "identity.h"
#include "run.h"
#include "source.h"

typedef cp_sso_source s_sso;

static int s_identity(const cp_source *s, const cp_run *run, cp_buf *k)
{
	(void)run;
	const s_sso *o = (const s_sso *)s;
	return cp_key_line(k, "sso-session", o->session) || cp_key_line(k, "sso-start-url", o->start_url) ||
			       cp_key_line(k, "sso-region", o->region) ||
			       cp_key_line(k, "sso-account", o->account_id) ||
			       cp_key_line(k, "sso-role", o->role_name)
		       ? CP_EINTERNAL
		       : 0;
}

static int s_explain(const cp_source *s, const cp_run *run, cp_buf *b)
{
	(void)run;
	const s_sso *o = (const s_sso *)s;
	return cp_buf_printf(b, "IAM Identity Center: account %s, role %s, %s%s (profile '%s')\n",
			     o->account_id ? o->account_id : "?", o->role_name ? o->role_name : "?",
			     o->session ? "sso-session " : "start URL ",
			     o->session ? o->session : (o->start_url ? o->start_url : "?"), s->profile);
}

static int s_fetch(const cp_source *s, cp_run *run, cp_creds *ret, cp_error *err)
{
	const s_sso *o = (const s_sso *)s;
	if (!o->account_id || !o->role_name)
		return cp_error_set(err, CP_ECONFIG,
				    "profile '%s' sets sso_session '%s' without sso_account_id and "
				    "sso_role_name: the selected profile will resolve an access token "
				    "instead of credentials", s->profile, o->session);
	char *portal = NULL, *oidc = NULL;
	const char *portal_src = NULL, *oidc_src = NULL;
	cp_error oidc_err = {0};
	int r = cp_sso_endpoints(&run->cfg, run->settings, o->region, &portal, &portal_src, &oidc,
				 &oidc_src, &oidc_err, err);
	if (r)
		return r;
	cp_sso_options opt = {
		.profile = s->profile,
		.session_name = o->session,
		.start_url = o->start_url,
		.region = o->region,
		.account_id = o->account_id,
		.role_name = o->role_name,
		.portal_url = portal,
		.portal_source = portal_src,
		.oidc_url = oidc,
		.oidc_source = oidc_src,
		.oidc_error = &oidc_err,
		.ca_bundle = cp_ca_bundle(run->settings),
		.attempts = 3,
		.deadline_ms = run->deadline_ms,
		.clock = run->clock,
		.now = cp_run_now(run),
	};
	const cp_net_ops *net = cp_run_net(run, err);
	cp_debug("base: IAM Identity Center role '%s' in account %s (%s '%s' of profile '%s')",
		 o->role_name, o->account_id, o->session ? "sso-session" : "start URL",
		 o->session ? o->session : o->start_url, s->profile);
	r = net ? net->sso_credentials(&opt, ret, err) : err->status;
	free(portal);
	free(oidc);
	return r;
}

static void s_release(cp_source *s)
{
	s_sso *o = (s_sso *)s;
	free(o->session);
	free(o->start_url);
	free(o->region);
	free(o->account_id);
	free(o->role_name);
	free(o->registration_scopes);
}

/* This source's row of the interface (source.h). Every source file ends
 * with one of the same shape: the repeat is the interface, not a copy. */
const cp_source_ops cp_source_sso_ops = {
	.kind = "SSO",
	.temporary = true,
	.identity = s_identity,
	.explain = s_explain,
	.fetch = s_fetch,
	.release = s_release,
};

bool cp_profile_has_sso(const cp_section *p)
{
	return cp_section_value(p, "sso_session") || cp_section_value(p, "sso_start_url") || cp_section_value(p, "sso_account_id") ||
	       cp_section_value(p, "sso_role_name") || cp_section_value(p, "sso_region");
}

/* Messages follow the cross-SDK suite's (smithy-rs) wording. */
static int s_check(const cp_config *cfg, const char *name, const cp_section *p, const char **url,
		   const char **region, const char **scopes, cp_error *err)
{
	const char *session = cp_section_value(p, "sso_session");
	const char *account = cp_section_value(p, "sso_account_id");
	const char *role = cp_section_value(p, "sso_role_name");
	*url = cp_section_value(p, "sso_start_url");
	*region = cp_section_value(p, "sso_region");
	*scopes = NULL;
	if (session) {
		const cp_section *s = cp_config_sso_session(cfg, session);
		if (!s)
			return cp_error_set(err, CP_ECONFIG,
					    "sso-session named `%s` (referenced by profile `%s`) was not found",
					    session, name);
		const char *surl = cp_section_value(s, "sso_start_url");
		const char *sregion = cp_section_value(s, "sso_region");
		/* A copy of the session's own value is harmless (botocore accepts
		 * it); anything else is ambiguous. */
		const char *dup = *url && !(surl && strcmp(*url, surl) == 0) ? "sso_start_url"
				  : *region && !(sregion && strcmp(*region, sregion) == 0) ? "sso_region"
											     : NULL;
		if (dup)
			return cp_error_set(err, CP_ECONFIG,
					    "profile `%s`: `%s` can only be specified in the [sso-session] "
					    "config when a session name is given (sso_session = %s)",
					    name, dup, session);
		if (!surl || !sregion)
			return cp_error_set(err, CP_ECONFIG,
					    "[sso-session %s] (referenced by profile `%s`) is missing `%s`",
					    session, name, !surl ? "sso_start_url" : "sso_region");
		*url = surl;
		*region = sregion;
		*scopes = cp_section_value(s, "sso_registration_scopes");
	}
	if (role && !account)
		return cp_error_set(err, CP_ECONFIG,
				    "profile `%s`: if `sso_role_name` is set, then `sso_account_id` must also be set",
				    name);
	if (account && !role)
		return cp_error_set(err, CP_ECONFIG,
				    "profile `%s`: if `sso_account_id` is set, then `sso_role_name` must also be set",
				    name);
	if (!session) {
		const char *missing = !*url ? "sso_start_url" : !*region ? "sso_region"
						  : !account ? "sso_account_id and sso_role_name" : NULL;
		if (missing)
			return cp_error_set(err, CP_ECONFIG,
					    "profile `%s` has SSO settings but no %s (or use sso_session)",
					    name, missing);
	}
	if (!cp_region_valid(*region))
		return cp_error_set(err, CP_ECONFIG, "profile `%s`: invalid sso_region '%.64s'", name,
				    *region);
	return 0;
}

int cp_source_sso(const cp_config *cfg, const char *name, const cp_section *p, cp_source **ret,
		  cp_error *err)
{
	const char *url, *region, *scopes, *v;
	int r = s_check(cfg, name, p, &url, &region, &scopes, err);
	if (r)
		return r;
	s_sso *o = (s_sso *)cp_source_alloc(&cp_source_sso_ops, sizeof *o, name);
	if (!o || ((v = cp_section_value(p, "sso_session")) && !(o->session = cp_strdup(v))) ||
	    !(o->start_url = cp_strdup(url)) || !(o->region = cp_strdup(region)) ||
	    ((v = cp_section_value(p, "sso_account_id")) && !(o->account_id = cp_strdup(v))) ||
	    ((v = cp_section_value(p, "sso_role_name")) && !(o->role_name = cp_strdup(v))) ||
	    (scopes && !(o->registration_scopes = cp_strdup(scopes)))) {
		cp_source_free(o ? &o->base : NULL);
		return cp_error_set(err, CP_EINTERNAL, "out of memory");
	}
	*ret = &o->base;
	return 0;
}

const cp_sso_source *cp_source_as_sso(const cp_source *s)
{
	return s && s->ops == &cp_source_sso_ops ? (const s_sso *)s : NULL;
}
