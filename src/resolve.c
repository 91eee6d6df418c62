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
	cp_source_free(c->base);
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
	memset(c, 0, sizeof *c);
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

bool cp_session_name_ok(const char *s)
{
	size_t n = strlen(s);
	bool ok = n >= 2 && n <= 64;
	for (size_t i = 0; ok && i < n; i++)
		ok = s_session_char_ok((unsigned char)s[i]);
	return ok;
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
	if (!(s->role_arn = cp_strdup(cp_section_value(p, "role_arn"))))
		return cp_error_set(err, CP_EINTERNAL, "out of memory");
	if ((v = cp_section_value(p, "role_session_name")) && !(s->role_session_name = cp_strdup(v)))
		return cp_error_set(err, CP_EINTERNAL, "out of memory");
	if ((v = cp_section_value(p, "external_id")) && !(s->external_id = cp_strdup(v)))
		return cp_error_set(err, CP_EINTERNAL, "out of memory");
	if ((v = cp_section_value(p, "mfa_serial")) && !(s->mfa_serial = cp_strdup(v)))
		return cp_error_set(err, CP_EINTERNAL, "out of memory");
	if (((v = cp_section_value(p, "credproc_policy")) && !(s->policy = cp_strdup(v))) ||
	    ((v = cp_section_value(p, "credproc_policy_arns")) && !(s->policy_arns = cp_strdup(v))) ||
	    ((v = cp_section_value(p, "credproc_tags")) && !(s->tags = cp_strdup(v))) ||
	    ((v = cp_section_value(p, "credproc_transitive_tag_keys")) && !(s->transitive_tag_keys = cp_strdup(v))) ||
	    ((v = cp_section_value(p, "credproc_source_identity")) && !(s->source_identity = cp_strdup(v))))
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

/* The one role step of --role-arn (the flags of the last role, such as
 * --external-id, are applied to it later, as to any last step). */
static int s_flag_role(cp_chain *c, const char *role_arn, cp_error *err)
{
	cp_role_step *s = calloc(1, sizeof *s);
	if (!s || !(s->role_arn = cp_strdup(role_arn))) {
		free(s);
		return cp_error_set(err, CP_EINTERNAL, "out of memory");
	}
	c->steps = s;
	c->nsteps = 1;
	return 0;
}

/* The base found: c->base is set (replacing an earlier one). */
static int s_set_base(cp_chain *c, cp_source *src)
{
	cp_source_free(c->base);
	c->base = src;
	return 0;
}

/* Static keys of profile p: sets the base and *ret_found when they are
 * present and complete; 0 (not found), or CP_ECONFIG if only one half is
 * there. */
static int s_static_keys(cp_chain *c, const char *name, const cp_section *p, bool *ret_found,
			 cp_error *err)
{
	const char *akid = cp_section_value(p, "aws_access_key_id");
	const char *secret = cp_section_value(p, "aws_secret_access_key");
	cp_source *src;
	*ret_found = false;
	if (!akid && !secret)
		return 0;
	if (!akid || !secret)
		return cp_error_set(err, CP_ECONFIG, "profile '%s' has %s but is missing %s", name,
				    akid ? "aws_access_key_id" : "aws_secret_access_key",
				    akid ? "aws_secret_access_key" : "aws_access_key_id");
	int r = cp_source_static(name, akid, secret, cp_section_value(p, "aws_session_token"), &src, err);
	if (r)
		return r;
	*ret_found = true;
	return s_set_base(c, src);
}

static int s_named_source(cp_chain *c, const char *name, const char *value, cp_error *err)
{
	cp_source *src;
	int r = cp_source_named(name, value, &src, err);
	return r ? r : s_set_base(c, src);
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

		const char *role = cp_section_value(p, "role_arn");
		const char *srcp = cp_section_value(p, "source_profile");
		const char *csrc = cp_section_value(p, "credential_source");
		const char *wif = cp_section_value(p, "web_identity_token_file");

		/* A source profile's own static keys win over its role. */
		bool found;
		if (from && !(role && wif)) {
			if ((r = s_static_keys(c, name, p, &found, err)) || found)
				return r;
		}

		/* role_arn with web_identity_token_file is a web identity, whatever
		 * source_profile, credential_source or static keys the profile also
		 * has: botocore's web identity provider comes first. */
		if (role && wif) {
			cp_source *src;
			if ((r = cp_source_web_identity(name, wif, role, cp_section_value(p, "role_session_name"),
							&src, err)))
				return r;
			return s_set_base(c, src);
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
					if ((r = s_static_keys(c, name, p, &found, err)) || found)
						return r;
					return cp_error_set(err, CP_ECONFIG,
							    "profile '%s' names itself as source_profile but has no static keys",
							    name);
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
			if (cp_profile_has_rolesanywhere(p, NULL)) {
				cp_source *src;
				if ((r = s_push_role(c, name, p, err)) ||
				    (r = cp_source_rolesanywhere(name, p, NULL, &src, err)))
					return r;
				return s_set_base(c, src);
			}
			return cp_error_set(err, CP_ECONFIG,
					    "profile '%s' has role_arn but neither source_profile nor credential_source",
					    name);
		}
		/* Without role_arn, source_profile and credential_source mean
		 * nothing (as in the SDKs): the profile's own credentials count. */
		if ((r = s_static_keys(c, name, p, &found, err)) || found)
			return r;
		const char *proc = cp_section_value(p, "credential_process");
		cp_source *src;
		if (cp_profile_has_rolesanywhere(p, NULL)) {
			if ((r = cp_source_rolesanywhere(name, p, NULL, &src, err)))
				return r;
			return s_set_base(c, src);
		}
		/* A console sign-in session, where botocore's profile providers
		 * place it: after SSO settings, before credential_process. */
		const char *login = cp_section_value(p, "login_session");
		if (login && !cp_profile_has_sso(p)) {
			if ((r = cp_source_login(name, login, &src, err)))
				return r;
			return s_set_base(c, src);
		}
		if (proc) {
			if ((r = cp_source_process(name, proc, &src, err)))
				return r;
			return s_set_base(c, src);
		}
		if (wif)
			return cp_error_set(err, CP_ECONFIG,
					    "profile '%s' has web_identity_token_file but no role_arn", name);
		if (cp_profile_has_sso(p)) {
			if ((r = cp_source_sso(cfg, name, p, &src, err)))
				return r;
			return s_set_base(c, src);
		}
		if (srcp || csrc)
			return cp_error_set(err, CP_ECONFIG, "profile '%s' has %s but no role_arn", name,
					    srcp ? "source_profile" : "credential_source");
		return cp_error_set(err, CP_ECONFIG, "profile '%s' holds no credentials "
				    "(no static keys, role_arn, credential_process, SSO settings or login_session)", name);
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

	bool ra_flags = false;
	for (size_t i = 0; i < CP_RA_NKEYS; i++)
		ra_flags = ra_flags || flags->rolesanywhere[i];
	if (ra_flags) {
		/* Roles Anywhere from the flags, over the profile's keys (if any). */
		const cp_section *p = cp_config_profile(cfg, profile);
		cp_source *src;
		if (flags->source_profile || flags->credential_source) {
			r = cp_error_set(err, CP_ECONFIG,
					 "the --rolesanywhere-* options are a source of their own: not with "
					 "--source-profile or --credential-source");
			goto out;
		}
		if (!cp_profile_has_rolesanywhere(p, flags->rolesanywhere)) {
			r = cp_error_set(err, CP_ECONFIG,
					 "the --rolesanywhere-* options need --rolesanywhere-certificate (or "
					 "the profile's credproc_rolesanywhere_certificate)");
			goto out;
		}
		if ((r = cp_source_rolesanywhere(p ? profile : "(command line)", p, flags->rolesanywhere,
						  &src, err)))
			goto out;
		s_set_base(&c, src);
		if ((r = s_push_profile(&c, p ? profile : "(command line)"))) {
			r = cp_error_set(err, r, "out of memory");
			goto out;
		}
		if (flags->role_arn) {
			if ((r = s_flag_role(&c, flags->role_arn, err)))
				goto out;
		} else if (p && cp_section_value(p, "role_arn") && !cp_section_value(p, "source_profile") &&
			   !cp_section_value(p, "credential_source") &&
			   (r = s_push_role(&c, profile, p, err))) {
			/* The profile's own role on its Roles Anywhere session, as without flags. */
			goto out;
		}
	} else if (flags->role_arn) {
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
		if ((r = s_flag_role(&c, flags->role_arn, err)))
			goto out;
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
			bool found;
			if ((r = s_static_keys(&c, flags->source_profile, p, &found, err)))
				goto out;
			if (found) {
				if ((r = s_push_profile(&c, flags->source_profile))) {
					r = cp_error_set(err, r, "out of memory");
					goto out;
				}
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
			if (!cp_session_name_ok(s)) {
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
