/* resolve.c - profile -> credential chain. */
#include "resolve.h"

#include <errno.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "endpoint.h"

void cp_chain_free(cp_chain *c)
{
	if (!c)
		return;
	free(c->base_profile);
	cp_creds_clear(&c->static_creds);
	free(c->process_command);
	free(c->web_identity_token_file);
	free(c->web_identity_role_arn);
	free(c->web_identity_session_name);
	for (size_t i = 0; i < c->nsteps; i++) {
		free(c->steps[i].profile);
		free(c->steps[i].role_arn);
		free(c->steps[i].role_session_name);
		free(c->steps[i].external_id);
		free(c->steps[i].mfa_serial);
		free(c->steps[i].policy);
		free(c->steps[i].policy_arns);
		free(c->steps[i].tags);
		free(c->steps[i].transitive_tag_keys);
		free(c->steps[i].source_identity);
	}
	free(c->steps);
	for (size_t i = 0; i < c->nprofiles; i++)
		free(c->profiles[i]);
	free(c->profiles);
	free(c->sso_session);
	free(c->sso_start_url);
	free(c->sso_region);
	free(c->sso_account_id);
	free(c->sso_role_name);
	free(c->sso_registration_scopes);
	memset(c, 0, sizeof *c);
}

int cp_base_kind_from_source(const char *s)
{
	if (!s)
		return -1;
	if (strcmp(s, "Environment") == 0)
		return CP_BASE_ENVIRONMENT;
	if (strcmp(s, "Ec2InstanceMetadata") == 0)
		return CP_BASE_IMDS;
	if (strcmp(s, "EcsContainer") == 0)
		return CP_BASE_ECS;
	return -1;
}

const char *cp_base_kind_name(cp_base_kind k)
{
	switch (k) {
	case CP_BASE_STATIC: return "static keys";
	case CP_BASE_ENVIRONMENT: return "Environment";
	case CP_BASE_IMDS: return "Ec2InstanceMetadata";
	case CP_BASE_ECS: return "EcsContainer";
	case CP_BASE_PROCESS: return "credential_process";
	case CP_BASE_WEB_IDENTITY: return "web identity";
	case CP_BASE_SSO: return "SSO";
	}
	return "unknown";
}

int cp_parse_duration(const char *s, const char *what, int *ret, cp_error *err)
{
	const char *p = s;
	long v = 0;
	if (!s || !*s)
		return cp_error_set(err, CP_ECONFIG, "%s is empty", what);
	for (; *p; p++) {
		if (*p < '0' || *p > '9' || v > 100000)
			return cp_error_set(err, CP_ECONFIG,
					    "%s must be a whole number of seconds between 900 and 43200", what);
		v = v * 10 + (*p - '0');
	}
	if (v < 900 || v > 43200)
		return cp_error_set(err, CP_ECONFIG,
				    "%s must be between 900 and 43200 seconds, not %ld", what, v);
	*ret = (int)v;
	return 0;
}

static bool s_session_char_ok(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '_' || c == '+' || c == '=' || c == ',' || c == '.' || c == '@' || c == '-';
}

void cp_sanitize_session_name(char *s)
{
	size_t i;
	for (i = 0; s[i] && i < 64; i++)
		if (!s_session_char_ok((unsigned char)s[i]))
			s[i] = '-';
	s[i] = '\0';
}

char *cp_default_session_name(void)
{
	const char *user = NULL;
	char uidbuf[32];
	struct passwd *pw = getpwuid(geteuid());
	if (pw && pw->pw_name && *pw->pw_name)
		user = pw->pw_name;
	if (!user) {
		const char *env = getenv("USER");
		if (env && *env)
			user = env;
	}
	if (!user) {
		snprintf(uidbuf, sizeof uidbuf, "%lu", (unsigned long)geteuid());
		user = uidbuf;
	}
	char *name = cp_asprintf("aws-credproc-%s", user);
	if (name)
		cp_sanitize_session_name(name);
	return name;
}

static const char *s_get(const cp_section *p, const char *key)
{
	const char *v = cp_section_get(p, key);
	return v && *v ? v : NULL;
}

static int s_push_profile(cp_chain *c, const char *name)
{
	char **n = realloc(c->profiles, (c->nprofiles + 1) * sizeof *n);
	if (!n)
		return CP_EINTERNAL;
	c->profiles = n;
	if (!(n[c->nprofiles] = cp_strdup(name)))
		return CP_EINTERNAL;
	c->nprofiles++;
	return 0;
}

static bool s_visited(const cp_chain *c, const char *name)
{
	for (size_t i = 0; i < c->nprofiles; i++)
		if (strcmp(c->profiles[i], name) == 0)
			return true;
	return false;
}

/* Appends a role step (steps are collected target-first, reversed at the end). */
static int s_push_role(cp_chain *c, const char *profile, const cp_section *p, cp_error *err)
{
	cp_role_step *n = realloc(c->steps, (c->nsteps + 1) * sizeof *n);
	if (!n)
		return cp_error_set(err, CP_EINTERNAL, "out of memory");
	c->steps = n;
	cp_role_step *s = &n[c->nsteps];
	memset(s, 0, sizeof *s);
	c->nsteps++;
	const char *v;
	if (profile && !(s->profile = cp_strdup(profile)))
		return cp_error_set(err, CP_EINTERNAL, "out of memory");
	if (!(s->role_arn = cp_strdup(s_get(p, "role_arn"))))
		return cp_error_set(err, CP_EINTERNAL, "out of memory");
	if ((v = s_get(p, "role_session_name")) && !(s->role_session_name = cp_strdup(v)))
		return cp_error_set(err, CP_EINTERNAL, "out of memory");
	if ((v = s_get(p, "external_id")) && !(s->external_id = cp_strdup(v)))
		return cp_error_set(err, CP_EINTERNAL, "out of memory");
	if ((v = s_get(p, "mfa_serial")) && !(s->mfa_serial = cp_strdup(v)))
		return cp_error_set(err, CP_EINTERNAL, "out of memory");
	if (((v = s_get(p, "credproc_policy")) && !(s->policy = cp_strdup(v))) ||
	    ((v = s_get(p, "credproc_policy_arns")) && !(s->policy_arns = cp_strdup(v))) ||
	    ((v = s_get(p, "credproc_tags")) && !(s->tags = cp_strdup(v))) ||
	    ((v = s_get(p, "credproc_transitive_tag_keys")) && !(s->transitive_tag_keys = cp_strdup(v))) ||
	    ((v = s_get(p, "credproc_source_identity")) && !(s->source_identity = cp_strdup(v))))
		return cp_error_set(err, CP_EINTERNAL, "out of memory");
	if ((v = cp_section_get(p, "duration_seconds"))) {
		char what[320];
		snprintf(what, sizeof what, "'duration_seconds' of profile '%s'", profile);
		int r = cp_parse_duration(v, what, &s->duration_seconds, err);
		if (r)
			return r;
	}
	return 0;
}

/* Static keys of profile p: 1 if present and complete, 0 if absent, or a
 * CP_ECONFIG status if only one half is there. */
static int s_static_keys(cp_chain *c, const char *name, const cp_section *p, cp_error *err)
{
	const char *akid = s_get(p, "aws_access_key_id");
	const char *secret = s_get(p, "aws_secret_access_key");
	const char *token = s_get(p, "aws_session_token");
	if (!akid && !secret)
		return 0;
	if (!akid)
		return -cp_error_set(err, CP_ECONFIG,
				     "profile '%s' has aws_secret_access_key but is missing aws_access_key_id",
				     name);
	if (!secret)
		return -cp_error_set(err, CP_ECONFIG,
				     "profile '%s' has aws_access_key_id but is missing aws_secret_access_key",
				     name);
	cp_creds_clear(&c->static_creds);
	if (!(c->static_creds.access_key_id = cp_strdup(akid)) ||
	    !(c->static_creds.secret_access_key = cp_strdup(secret)) ||
	    (token && !(c->static_creds.session_token = cp_strdup(token))))
		return -cp_error_set(err, CP_EINTERNAL, "out of memory");
	c->base = CP_BASE_STATIC;
	return 1;
}

static int s_set_base_profile(cp_chain *c, const char *name, cp_error *err)
{
	free(c->base_profile);
	if (!(c->base_profile = cp_strdup(name)))
		return cp_error_set(err, CP_EINTERNAL, "out of memory");
	return 0;
}

static int s_named_source(cp_chain *c, const char *name, const char *src, cp_error *err)
{
	int k = cp_base_kind_from_source(src);
	if (k < 0)
		return cp_error_set(err, CP_ECONFIG,
				    "profile '%s' has an unsupported credential_source '%s' "
				    "(expected Environment, Ec2InstanceMetadata or EcsContainer)",
				    name, src);
	c->base = (cp_base_kind)k;
	return s_set_base_profile(c, name, err);
}

static int s_reverse_steps(cp_chain *c)
{
	for (size_t i = 0; i < c->nsteps / 2; i++) {
		cp_role_step t = c->steps[i];
		c->steps[i] = c->steps[c->nsteps - 1 - i];
		c->steps[c->nsteps - 1 - i] = t;
	}
	return 0;
}

/* The SSO settings of profile `name` (see resolve.h). Messages follow the
 * suite's (smithy-rs) wording. */
static int s_sso(const cp_config *cfg, cp_chain *c, const char *name, const cp_section *p,
		 cp_error *err)
{
	const char *session = s_get(p, "sso_session");
	const char *url = s_get(p, "sso_start_url");
	const char *region = s_get(p, "sso_region");
	const char *account = s_get(p, "sso_account_id");
	const char *role = s_get(p, "sso_role_name");
	const char *scopes = NULL;
	if (session) {
		const cp_section *s = cp_config_sso_session(cfg, session);
		if (!s)
			return cp_error_set(err, CP_ECONFIG,
					    "sso-session named `%s` (referenced by profile `%s`) was not found",
					    session, name);
		const char *surl = s_get(s, "sso_start_url");
		const char *sregion = s_get(s, "sso_region");
		/* A copy of the session's own value is harmless (botocore accepts
		 * it); anything else is ambiguous. */
		const char *dup = url && !(surl && strcmp(url, surl) == 0) ? "sso_start_url"
				  : region && !(sregion && strcmp(region, sregion) == 0) ? "sso_region"
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
		url = surl;
		region = sregion;
		scopes = s_get(s, "sso_registration_scopes");
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
		const char *missing = !url ? "sso_start_url" : !region ? "sso_region"
						 : !account ? "sso_account_id and sso_role_name" : NULL;
		if (missing)
			return cp_error_set(err, CP_ECONFIG,
					    "profile `%s` has SSO settings but no %s (or use sso_session)",
					    name, missing);
	}
	if (!cp_region_valid(region))
		return cp_error_set(err, CP_ECONFIG, "profile `%s`: invalid sso_region '%.64s'", name,
				    region);
	if ((session && !(c->sso_session = cp_strdup(session))) ||
	    !(c->sso_start_url = cp_strdup(url)) || !(c->sso_region = cp_strdup(region)) ||
	    (account && !(c->sso_account_id = cp_strdup(account))) ||
	    (role && !(c->sso_role_name = cp_strdup(role))) ||
	    (scopes && !(c->sso_registration_scopes = cp_strdup(scopes))))
		return cp_error_set(err, CP_EINTERNAL, "out of memory");
	return 0;
}

static int s_walk(const cp_config *cfg, const char *start, cp_chain *c, cp_error *err)
{
	const char *name = start;
	const char *from = NULL;
	int r;
	for (int hop = 0;; hop++) {
		if (hop > CP_MAX_SOURCE_HOPS)
			return cp_error_set(err, CP_ECONFIG,
					    "the source_profile chain from '%s' is longer than %d hops",
					    start, CP_MAX_SOURCE_HOPS);
		const cp_section *p = cp_config_profile(cfg, name);
		if (!p) {
			if (from)
				return cp_error_set(err, CP_ECONFIG,
						    "source profile '%s' referenced from '%s' does not exist",
						    name, from);
			return cp_error_set(err, CP_ECONFIG, "profile '%s' does not exist", name);
		}
		if (s_visited(c, name)) {
			cp_buf path = {0};
			for (size_t i = 0; i < c->nprofiles; i++)
				cp_buf_printf(&path, "'%s' -> ", c->profiles[i]);
			cp_buf_printf(&path, "'%s'", name);
			r = cp_error_set(err, CP_ECONFIG, "source_profile cycle: %s",
					 path.data ? path.data : name);
			cp_buf_free(&path);
			return r;
		}
		if ((r = s_push_profile(c, name)))
			return cp_error_set(err, r, "out of memory");

		const char *role = s_get(p, "role_arn");
		const char *srcp = s_get(p, "source_profile");
		const char *csrc = s_get(p, "credential_source");
		const char *wif = s_get(p, "web_identity_token_file");

		/* A source profile's own static keys win over its role. */
		if (from && !(role && wif)) {
			r = s_static_keys(c, name, p, err);
			if (r < 0)
				return -r;
			if (r > 0)
				return s_set_base_profile(c, name, err);
		}

		/* role_arn with web_identity_token_file is a web identity, whatever
		 * source_profile, credential_source or static keys the profile also
		 * has: botocore's web identity provider comes first. */
		if (role && wif) {
			const char *v;
			c->base = CP_BASE_WEB_IDENTITY;
			if (!(c->web_identity_token_file = cp_strdup(wif)) ||
			    !(c->web_identity_role_arn = cp_strdup(role)) ||
			    ((v = s_get(p, "role_session_name")) &&
			     !(c->web_identity_session_name = cp_strdup(v))))
				return cp_error_set(err, CP_EINTERNAL, "out of memory");
			return s_set_base_profile(c, name, err);
		}
		if (role) {
			if (srcp && csrc)
				return cp_error_set(err, CP_ECONFIG,
						    "profile '%s' has both source_profile and credential_source; use one",
						    name);
			if (srcp) {
				if ((r = s_push_role(c, name, p, err)))
					return r;
				if (strcmp(srcp, name) == 0) {
					r = s_static_keys(c, name, p, err);
					if (r < 0)
						return -r;
					if (r == 0)
						return cp_error_set(err, CP_ECONFIG,
								    "profile '%s' names itself as source_profile but has no static keys",
								    name);
					return s_set_base_profile(c, name, err);
				}
				from = name;
				name = srcp;
				continue;
			}
			if (csrc) {
				if ((r = s_push_role(c, name, p, err)))
					return r;
				return s_named_source(c, name, csrc, err);
			}
			return cp_error_set(err, CP_ECONFIG,
					    "profile '%s' has role_arn but neither source_profile nor credential_source",
					    name);
		}
		/* Without role_arn, source_profile and credential_source mean
		 * nothing (as in the SDKs): the profile's own credentials count. */
		r = s_static_keys(c, name, p, err);
		if (r < 0)
			return -r;
		if (r > 0)
			return s_set_base_profile(c, name, err);
		const char *proc = s_get(p, "credential_process");
		if (proc) {
			c->base = CP_BASE_PROCESS;
			if (!(c->process_command = cp_strdup(proc)))
				return cp_error_set(err, CP_EINTERNAL, "out of memory");
			return s_set_base_profile(c, name, err);
		}
		if (wif)
			return cp_error_set(err, CP_ECONFIG,
					    "profile '%s' has web_identity_token_file but no role_arn", name);
		if (s_get(p, "sso_session") || s_get(p, "sso_start_url") || s_get(p, "sso_account_id") ||
		    s_get(p, "sso_role_name") || s_get(p, "sso_region")) {
			if ((r = s_sso(cfg, c, name, p, err)))
				return r;
			c->base = CP_BASE_SSO;
			return s_set_base_profile(c, name, err);
		}
		if (srcp || csrc)
			return cp_error_set(err, CP_ECONFIG, "profile '%s' has %s but no role_arn", name,
					    srcp ? "source_profile" : "credential_source");
		return cp_error_set(err, CP_ECONFIG, "profile '%s' holds no credentials "
				    "(no static keys, role_arn, credential_process or SSO settings)", name);
	}
}

int cp_resolve(const cp_config *cfg, const char *profile, const cp_role_flags *flags,
	       cp_chain *ret, cp_error *err)
{
	cp_chain c = {0};
	int r;
	static const cp_role_flags none = {0};
	if (!flags)
		flags = &none;

	if (flags->role_arn) {
		if (flags->source_profile && flags->credential_source) {
			r = cp_error_set(err, CP_ECONFIG,
					 "--source-profile and --credential-source cannot be used together");
			goto out;
		}
		if (!flags->source_profile && !flags->credential_source) {
			r = cp_error_set(err, CP_ECONFIG,
					 "--role-arn needs --source-profile or --credential-source");
			goto out;
		}
		cp_role_step *s = calloc(1, sizeof *s);
		if (!s || !(s->role_arn = cp_strdup(flags->role_arn))) {
			free(s);
			r = cp_error_set(err, CP_EINTERNAL, "out of memory");
			goto out;
		}
		c.steps = s;
		c.nsteps = 1;
		if (flags->credential_source) {
			if ((r = s_named_source(&c, "(command line)", flags->credential_source, err)))
				goto out;
		} else {
			/* The source profile is a source: its static keys win. Walk it
			 * as a source by pretending the flags are a profile. */
			const cp_section *p = cp_config_profile(cfg, flags->source_profile);
			if (!p) {
				r = cp_error_set(err, CP_ECONFIG, "source profile '%s' does not exist",
						 flags->source_profile);
				goto out;
			}
			r = s_static_keys(&c, flags->source_profile, p, err);
			if (r < 0) {
				r = -r;
				goto out;
			}
			if (r > 0) {
				if ((r = s_set_base_profile(&c, flags->source_profile, err)) ||
				    (r = s_push_profile(&c, flags->source_profile)))
					goto out;
			} else if ((r = s_walk(cfg, flags->source_profile, &c, err))) {
				goto out;
			}
		}
	} else {
		if (flags->source_profile || flags->credential_source) {
			r = cp_error_set(err, CP_ECONFIG, "--%s needs --role-arn",
					 flags->source_profile ? "source-profile" : "credential-source");
			goto out;
		}
		if ((r = s_walk(cfg, profile, &c, err)))
			goto out;
	}
	s_reverse_steps(&c);

	/* Command-line overrides apply to the last role assumed. */
	if (c.nsteps) {
		cp_role_step *last = &c.steps[c.nsteps - 1];
		if (flags->role_session_name) {
			free(last->role_session_name);
			if (!(last->role_session_name = cp_strdup(flags->role_session_name))) {
				r = cp_error_set(err, CP_EINTERNAL, "out of memory");
				goto out;
			}
		}
		if (flags->external_id) {
			free(last->external_id);
			if (!(last->external_id = cp_strdup(flags->external_id))) {
				r = cp_error_set(err, CP_EINTERNAL, "out of memory");
				goto out;
			}
		}
		if (flags->mfa_serial) {
			free(last->mfa_serial);
			if (!(last->mfa_serial = cp_strdup(flags->mfa_serial))) {
				r = cp_error_set(err, CP_EINTERNAL, "out of memory");
				goto out;
			}
		}
		if (flags->duration_seconds)
			last->duration_seconds = flags->duration_seconds;
		struct {
			const char *v;
			char **dst;
		} ov[] = {
			{flags->policy, &last->policy},
			{flags->policy_arns, &last->policy_arns},
			{flags->tags, &last->tags},
			{flags->transitive_tag_keys, &last->transitive_tag_keys},
			{flags->source_identity, &last->source_identity},
		};
		for (size_t i = 0; i < sizeof ov / sizeof ov[0]; i++) {
			if (!ov[i].v)
				continue;
			free(*ov[i].dst);
			if (!(*ov[i].dst = cp_strdup(ov[i].v))) {
				r = cp_error_set(err, CP_EINTERNAL, "out of memory");
				goto out;
			}
		}
	} else if (flags->role_session_name || flags->external_id || flags->duration_seconds ||
		   flags->mfa_serial || flags->policy || flags->policy_arns || flags->tags ||
		   flags->transitive_tag_keys || flags->source_identity) {
		r = cp_error_set(err, CP_ECONFIG,
				 "profile '%s' assumes no role: the role options (--role-session-name, "
				 "--external-id, --duration-seconds, --policy, --tags, ...) do not apply",
				 profile);
		goto out;
	}
	for (size_t i = 0; i < c.nsteps; i++) {
		if (c.steps[i].role_session_name) {
			char *s = c.steps[i].role_session_name;
			size_t n = strlen(s);
			bool ok = n >= 2 && n <= 64;
			for (size_t j = 0; ok && j < n; j++)
				ok = s_session_char_ok((unsigned char)s[j]);
			if (!ok) {
				r = cp_error_set(err, CP_ECONFIG,
						 "role_session_name '%s'%s must be 2-64 characters of [A-Za-z0-9_+=,.@-]",
						 s, c.steps[i].profile ? " of the profile" : "");
				goto out;
			}
		}
	}
	*ret = c;
	return 0;
out:
	cp_chain_free(&c);
	return r;
}
