/* test-resolve.c - chain resolution against the cross-SDK assume-role suite,
 * plus our own rules (hop limit, flags, durations, session names). */
#include <string.h>

#include "config.h"
#include "resolve.h"
#include "tap.h"

static int s_streq(const char *a, const char *b)
{
	if (!a || !b)
		return a == b;
	return strcmp(a, b) == 0;
}

static const char *s_jstr(const cJSON *o, const char *k)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
	return cJSON_IsString(v) ? v->valuestring : NULL;
}

/* Compares our chain with the suite's ProfileChain; returns 1 if equal. */
static int s_chain_matches(const cp_chain *c, const cJSON *expect, char *why, size_t whylen)
{
	int n = cJSON_GetArraySize(expect);
	const cJSON *base = cJSON_GetArrayItem(expect, 0);
	const cJSON *v;
	size_t first_role = 1;
	if ((v = cJSON_GetObjectItemCaseSensitive(base, "AccessKey"))) {
		const cp_creds *sc = cp_source_as_static(c->base);
		if (!sc || !s_streq(sc->access_key_id, s_jstr(v, "access_key_id")) ||
		    !s_streq(sc->secret_access_key, s_jstr(v, "secret_access_key"))) {
			snprintf(why, whylen, "base is not the expected static keys");
			return 0;
		}
	} else if ((v = cJSON_GetObjectItemCaseSensitive(base, "NamedSource"))) {
		if (!cp_source_named_ops(v->valuestring) || c->base->ops != cp_source_named_ops(v->valuestring)) {
			snprintf(why, whylen, "base is %s, expected %s", c->base->ops->kind,
				 v->valuestring);
			return 0;
		}
	} else if ((v = cJSON_GetObjectItemCaseSensitive(base, "WebIdentityToken"))) {
		const cp_web_identity_source *w = cp_source_as_web_identity(c->base);
		if (!w || !s_streq(w->role_arn, s_jstr(v, "role_arn")) ||
		    !s_streq(w->token_file, s_jstr(v, "web_identity_token_file")) ||
		    !s_streq(w->session_name, s_jstr(v, "role_session_name"))) {
			snprintf(why, whylen, "base is not the expected web identity");
			return 0;
		}
	} else if ((v = cJSON_GetObjectItemCaseSensitive(base, "Sso"))) {
		static const char *const keys[] = {"sso_session", "sso_start_url", "sso_region",
						   "sso_account_id", "sso_role_name"};
		const cp_sso_source *o = cp_source_as_sso(c->base);
		if (!o) {
			snprintf(why, whylen, "base is %s, expected Sso", c->base->ops->kind);
			return 0;
		}
		const char *got[] = {o->session, o->start_url, o->region, o->account_id, o->role_name};
		for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
			if (!s_streq(got[i], s_jstr(v, keys[i]))) {
				snprintf(why, whylen, "Sso %s is '%s', expected '%s'", keys[i],
					 got[i] ? got[i] : "(none)",
					 s_jstr(v, keys[i]) ? s_jstr(v, keys[i]) : "(none)");
				return 0;
			}
		}
	} else {
		snprintf(why, whylen, "unknown base kind in the suite");
		return 0;
	}
	if ((size_t)(n - 1) != c->nsteps) {
		snprintf(why, whylen, "%zu roles, expected %d", c->nsteps, n - 1);
		return 0;
	}
	for (size_t i = 0; i < c->nsteps; i++) {
		const cJSON *ar = cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(expect, (int)(i + first_role)),
								  "AssumeRole");
		const cp_role_step *s = &c->steps[i];
		if (!ar || !s_streq(s->role_arn, s_jstr(ar, "role_arn")) ||
		    !s_streq(s->external_id, s_jstr(ar, "external_id")) ||
		    !s_streq(s->role_session_name, s_jstr(ar, "role_session_name"))) {
			snprintf(why, whylen, "role %zu differs (got '%s')", i, s->role_arn);
			return 0;
		}
	}
	return 1;
}

static void s_suite(void)
{
	cJSON *suite = tap_load_conformance_json("credential-chains/smithy-rs/assume-role-tests.json");
	const cJSON *t;
	int idx = 0;
	cJSON_ArrayForEach(t, suite) {
		idx++;
		const char *docs = s_jstr(t, "docs");
		const cJSON *in = cJSON_GetObjectItemCaseSensitive(t, "input");
		const cJSON *out = cJSON_GetObjectItemCaseSensitive(t, "output");
		const cJSON *profiles = cJSON_GetObjectItemCaseSensitive(in, "profiles");
		const cJSON *sessions = cJSON_GetObjectItemCaseSensitive(in, "sso_sessions");
		cp_config cfg;
		cp_config_init(&cfg);
		/* An empty profile is created through a key with an empty value,
		 * which the resolver treats as absent. */
		const cJSON *p, *kv;
		int bad = 0;
		cJSON_ArrayForEach(p, profiles) {
			if (!cJSON_GetArraySize(p))
				bad |= cp_config_set(&cfg, p->string, "region", "");
			cJSON_ArrayForEach(kv, p)
				bad |= cp_config_set(&cfg, p->string, kv->string, kv->valuestring);
		}
		/* [sso-session x] sections go through the parser (cp_config_set
		 * makes profiles only). */
		cp_buf ini = {0};
		cJSON_ArrayForEach(p, sessions) {
			bad |= cp_buf_printf(&ini, "[sso-session %s]\n", p->string);
			cJSON_ArrayForEach(kv, p)
				bad |= cp_buf_printf(&ini, "%s = %s\n", kv->string, kv->valuestring);
		}
		cp_error perr = {0};
		if (ini.data)
			bad |= cp_config_parse(&cfg, ini.data, ini.len, CP_FILE_CONFIG, "(suite)", &perr);
		cp_buf_free(&ini);
		cp_chain c = {0};
		cp_error err = {0};
		int r = bad ? -1 : cp_resolve(&cfg, s_jstr(in, "selected_profile"), NULL, &c, &err);
		const cJSON *expect = cJSON_GetObjectItemCaseSensitive(out, "ProfileChain");
		char why[256] = "";
		if (expect) {
			int ok = r == 0 && s_chain_matches(&c, expect, why, sizeof why);
			tap_ok(ok, "assume-role #%d %s", idx, docs);
			if (!ok)
				tap_diag("r=%d err='%s' %s", r, err.msg, why);
		} else {
			/* The SSO errors use the suite's own wording. */
			const char *want = s_jstr(out, "Error");
			bool wording = !want || !strstr(want, "sso") || strstr(err.msg, want);
			tap_ok(r == CP_ECONFIG && err.msg[0] && wording, "assume-role #%d %s (error: %s)",
			       idx, docs, err.msg);
		}
		cp_chain_free(&c);
		cp_config_free(&cfg);
	}
	cJSON_Delete(suite);
}

/* A profile with role_arn and web_identity_token_file is a web identity,
 * whatever source_profile or credential_source it also names (botocore's
 * assume-role provider leaves such a profile to the web identity provider),
 * as the target and as a source. */
static void s_web_identity_wins(void)
{
	static const char *const other[][2] = {
		{"source_profile", "keys"},
		{"credential_source", "Environment"},
		{"credential_source", "NotASource"},
		{"source_profile", "w"},
	};
	cp_config cfg;
	cp_error err = {0};
	cp_chain c = {0};
	cp_config_init(&cfg);
	cp_config_set(&cfg, "keys", "aws_access_key_id", "AKID");
	cp_config_set(&cfg, "keys", "aws_secret_access_key", "SECRET");
	cp_config_set(&cfg, "w", "role_arn", "arn:aws:iam::123456789012:role/web");
	cp_config_set(&cfg, "w", "web_identity_token_file", "/token");
	cp_config_set(&cfg, "w", "role_session_name", "sess");
	cp_config_set(&cfg, "top", "role_arn", "arn:aws:iam::123456789012:role/top");
	cp_config_set(&cfg, "top", "source_profile", "w");
	for (size_t i = 0; i < sizeof other / sizeof other[0]; i++) {
		cp_config_set(&cfg, "w", "source_profile", "");
		cp_config_set(&cfg, "w", "credential_source", "");
		cp_config_set(&cfg, "w", other[i][0], other[i][1]);
		int r = cp_resolve(&cfg, "w", NULL, &c, &err);
		tap_ok(r == 0 && cp_source_as_web_identity(c.base) && c.nsteps == 0 &&
			       s_streq(cp_source_as_web_identity(c.base)->role_arn, "arn:aws:iam::123456789012:role/web") &&
			       s_streq(cp_source_as_web_identity(c.base)->session_name, "sess"),
		       "web identity beats %s = %s in the target (r=%d base=%s roles=%zu %s)",
		       other[i][0], other[i][1], r, c.base ? c.base->ops->kind : "(none)", c.nsteps, err.msg);
		cp_chain_free(&c);
		r = cp_resolve(&cfg, "top", NULL, &c, &err);
		tap_ok(r == 0 && cp_source_as_web_identity(c.base) && c.nsteps == 1 &&
			       s_streq(c.steps[0].role_arn, "arn:aws:iam::123456789012:role/top"),
		       "web identity beats %s = %s in a source profile (r=%d base=%s roles=%zu %s)",
		       other[i][0], other[i][1], r, c.base ? c.base->ops->kind : "(none)", c.nsteps, err.msg);
		cp_chain_free(&c);
	}
	/* ... and over static keys of its own, even in a source profile (where
	 * static keys otherwise win over role_arn) */
	cp_config_set(&cfg, "w", "source_profile", "w");
	cp_config_set(&cfg, "w", "aws_access_key_id", "AKIDW");
	cp_config_set(&cfg, "w", "aws_secret_access_key", "SECRETW");
	int r = cp_resolve(&cfg, "top", NULL, &c, &err);
	tap_ok(r == 0 && cp_source_as_web_identity(c.base) && c.nsteps == 1,
	       "web identity beats static keys in a source profile (r=%d base=%s roles=%zu %s)", r,
	       c.base ? c.base->ops->kind : "(none)", c.nsteps, err.msg);
	cp_chain_free(&c);
	r = cp_resolve(&cfg, "w", NULL, &c, &err);
	tap_ok(r == 0 && cp_source_as_web_identity(c.base) && c.nsteps == 0,
	       "web identity beats static keys in the target (r=%d base=%s roles=%zu %s)", r,
	       c.base ? c.base->ops->kind : "(none)", c.nsteps, err.msg);
	cp_chain_free(&c);
	cp_config_free(&cfg);
}

static void s_own(void)
{
	cp_config cfg;
	cp_error err = {0};
	cp_chain c = {0};
	char name[16], src[16];
	int r;

	/* 16 hops resolve, 17 do not. */
	cp_config_init(&cfg);
	for (int i = 0; i < 17; i++) {
		snprintf(name, sizeof name, "p%d", i);
		snprintf(src, sizeof src, "p%d", i + 1);
		cp_config_set(&cfg, name, "role_arn", "arn:aws:iam::123456789012:role/r");
		cp_config_set(&cfg, name, "source_profile", src);
	}
	cp_config_set(&cfg, "p17", "aws_access_key_id", "AKID");
	cp_config_set(&cfg, "p17", "aws_secret_access_key", "SECRET");
	r = cp_resolve(&cfg, "p1", NULL, &c, &err);
	tap_ok(r == 0 && c.nsteps == 16, "16 source_profile hops resolve (r=%d %s)", r, err.msg);
	cp_chain_free(&c);
	r = cp_resolve(&cfg, "p0", NULL, &c, &err);
	tap_ok(r == CP_ECONFIG && strstr(err.msg, "16"), "17 hops are refused: %s", err.msg);
	cp_chain_free(&c);

	/* Malformed duration. */
	cp_config_set(&cfg, "d", "role_arn", "arn:aws:iam::123456789012:role/r");
	cp_config_set(&cfg, "d", "source_profile", "p17");
	cp_config_set(&cfg, "d", "duration_seconds", "1h");
	r = cp_resolve(&cfg, "d", NULL, &c, &err);
	tap_ok(r == CP_ECONFIG && strstr(err.msg, "duration_seconds"), "malformed duration: %s", err.msg);
	cp_config_set(&cfg, "d", "duration_seconds", "899");
	r = cp_resolve(&cfg, "d", NULL, &c, &err);
	tap_ok(r == CP_ECONFIG, "duration below 900 refused: %s", err.msg);
	cp_config_set(&cfg, "d", "duration_seconds", "7200");
	r = cp_resolve(&cfg, "d", NULL, &c, &err);
	tap_ok(r == 0 && c.steps[0].duration_seconds == 7200, "duration 7200 accepted");
	cp_chain_free(&c);

	/* Flags: a role on top of a source profile; overrides apply to the last role. */
	cp_role_flags f = {.role_arn = "arn:aws:iam::123456789012:role/flag",
			   .source_profile = "d", .external_id = "ext", .role_session_name = "sess"};
	r = cp_resolve(&cfg, NULL, &f, &c, &err);
	tap_ok(r == 0 && c.nsteps == 2 && strcmp(c.steps[1].role_arn, f.role_arn) == 0 &&
	       strcmp(c.steps[1].external_id, "ext") == 0 && !c.steps[0].external_id,
	       "--role-arn on top of a role profile (r=%d %s)", r, err.msg);
	cp_chain_free(&c);
	cp_role_flags f2 = {.role_arn = "arn:aws:iam::123456789012:role/flag"};
	r = cp_resolve(&cfg, NULL, &f2, &c, &err);
	tap_ok(r == CP_ECONFIG, "--role-arn alone is refused: %s", err.msg);
	cp_role_flags f3 = {.role_arn = "arn:x", .credential_source = "Bogus"};
	r = cp_resolve(&cfg, NULL, &f3, &c, &err);
	tap_ok(r == CP_ECONFIG, "unknown --credential-source refused: %s", err.msg);
	cp_role_flags f4 = {.role_session_name = "bad name!"};
	cp_config_set(&cfg, "d", "role_session_name", "bad name!");
	r = cp_resolve(&cfg, "d", &f4, &c, &err);
	tap_ok(r == CP_ECONFIG, "invalid role_session_name refused: %s", err.msg);
	cp_config_free(&cfg);

	s_web_identity_wins();

	char *n = cp_default_session_name();
	int okname = n && strncmp(n, "aws-credproc-", 13) == 0 && strlen(n) <= 64;
	for (char *p = n; okname && *p; p++)
		okname = strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_+=,.@-", *p) != NULL;
	tap_ok(okname, "default session name '%s'", n ? n : "(null)");
	free(n);
	char s1[100];
	snprintf(s1, sizeof s1, "aws-credproc-j o/h#n");
	cp_sanitize_session_name(s1);
	tap_ok(strcmp(s1, "aws-credproc-j-o-h-n") == 0, "sanitized '%s'", s1);
	memset(s1, 'a', 99);
	s1[99] = 0;
	cp_sanitize_session_name(s1);
	tap_ok(strlen(s1) == 64, "truncated to 64");
}

int main(void)
{
	s_own();
	s_suite();
	return tap_done();
}
