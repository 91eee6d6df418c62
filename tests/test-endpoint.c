/* test-endpoint.c - the STS endpoint rule-set suite (botocore
 * sts-endpoint-tests-1.json) against cp_sts_endpoint_for(), the IMDS
 * endpoint suite (smithy-rs imds-endpoint-tests.json) against
 * cp_imds_endpoint_ex(), the settings that feed cp_sts_endpoint_resolve(), and
 * the SSO portal and OIDC endpoints (cp_sso_endpoint, cp_sso_endpoints).
 * The conformance data is read at run time, never copied. */
#include <limits.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "endpoint.h"
#include "tap.h"
#include "util.h"

static const char *s_str(const cJSON *o, const char *k)
{
	return cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(o, k));
}

static bool s_bool(const cJSON *o, const char *k)
{
	return cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(o, k));
}

/* The signingRegion of the first sigv4 auth scheme, or NULL. */
static const char *s_signing_region(const cJSON *endpoint)
{
	const cJSON *props = cJSON_GetObjectItemCaseSensitive(endpoint, "properties");
	const cJSON *s;
	cJSON_ArrayForEach(s, cJSON_GetObjectItemCaseSensitive(props, "authSchemes")) {
		const char *name = s_str(s, "name");
		if (name && strcmp(name, "sigv4") == 0)
			return s_str(s, "signingRegion");
	}
	return NULL;
}

static void s_sts_rules(void)
{
	cJSON *root = tap_load_conformance_json("sts/botocore/endpoints/sts-endpoint-tests-1.json");
	const cJSON *c;
	int n = 0;
	cJSON_ArrayForEach(c, cJSON_GetObjectItemCaseSensitive(root, "testCases")) {
		const char *doc = s_str(c, "documentation");
		const cJSON *params = cJSON_GetObjectItemCaseSensitive(c, "params");
		const cJSON *expect = cJSON_GetObjectItemCaseSensitive(c, "expect");
		const char *region = s_str(params, "Region");
		const char *custom = s_str(params, "Endpoint");
		bool fips = s_bool(params, "UseFIPS"), ds = s_bool(params, "UseDualStack");
		bool legacy = s_bool(params, "UseGlobalEndpoint");
		char *url = NULL, *sr = NULL;
		cp_error err = {0};
		int r = cp_sts_endpoint_for(region, fips, ds, legacy, custom, &url, &sr, &err);
		const char *want_err = s_str(expect, "error");
		const cJSON *ep = cJSON_GetObjectItemCaseSensitive(expect, "endpoint");
		bool ok;
		n++;
		if (want_err) {
			/* Our message is the rule set's, word for word. */
			ok = r == CP_ECONFIG && strcmp(err.msg, want_err) == 0;
			if (!ok)
				tap_diag("r=%d msg='%s' want error '%s'", r, err.msg, want_err);
		} else {
			const char *want_url = s_str(ep, "url");
			/* Without an auth scheme the SDK signs for the Region. */
			const char *want_sr = s_signing_region(ep);
			if (!want_sr)
				want_sr = region ? region : "us-east-1";
			ok = r == 0 && want_url && strcmp(url, want_url) == 0 && strcmp(sr, want_sr) == 0;
			if (!ok)
				tap_diag("r=%d got '%s' signed '%s' (%s); want '%s' signed '%s'", r,
					 url ? url : "", sr ? sr : "", err.msg, want_url ? want_url : "", want_sr);
		}
		tap_ok(ok, "sts rules %d: %s", n, doc ? doc : "?");
		free(url);
		free(sr);
	}
	tap_ok(n == 69, "sts rules: %d cases", n);
	cJSON_Delete(root);
}

/* Environment the settings and suites read; cleared between cases. */
static const char *const s_vars[] = {
	"AWS_ENDPOINT_URL_STS", "AWS_ENDPOINT_URL", "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS",
	"AWS_USE_FIPS_ENDPOINT", "AWS_USE_DUALSTACK_ENDPOINT", "AWS_STS_REGIONAL_ENDPOINTS",
	"AWS_REGION", "AWS_DEFAULT_REGION", "AWS_PROFILE", "AWS_CONFIG_FILE",
	"AWS_SHARED_CREDENTIALS_FILE", "AWS_EC2_METADATA_SERVICE_ENDPOINT",
	"AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE",
};

static void s_clear_env(void)
{
	for (size_t i = 0; i < sizeof s_vars / sizeof *s_vars; i++)
		unsetenv(s_vars[i]);
}

static bool s_resolve_is(cp_config *cfg, const cp_section *p, const char *region, const char *url,
			 const char *signing)
{
	cp_sts_target t = {0};
	cp_error err = {0};
	int r = cp_sts_endpoint_resolve(cfg, p, region, &t, &err);
	bool ok = r == 0 && strcmp(t.url, url) == 0 && strcmp(t.signing_region, signing) == 0;
	if (!ok)
		tap_diag("r=%d got '%s' signed '%s' (%s)", r, t.url ? t.url : "",
			 t.signing_region ? t.signing_region : "", err.msg);
	cp_sts_target_free(&t);
	return ok;
}

static int s_resolve_err(cp_config *cfg, const cp_section *p, const char *region, cp_error *err)
{
	cp_sts_target t = {0};
	int r = cp_sts_endpoint_resolve(cfg, p, region, &t, err);
	cp_sts_target_free(&t);
	return r;
}

static void s_sts_settings(void)
{
	cp_config cfg;
	cp_error err = {0};
	cp_config_init(&cfg);
	s_clear_env();
	cp_config_set(&cfg, "p", "use_fips_endpoint", "true");
	const cp_section *p = cp_config_profile(&cfg, "p");

	tap_ok(s_resolve_is(&cfg, NULL, "us-east-1", "https://sts.us-east-1.amazonaws.com", "us-east-1"),
	       "settings: regional by default (sts_regional_endpoints unset)");
	tap_ok(s_resolve_is(&cfg, p, "us-east-1", "https://sts-fips.us-east-1.amazonaws.com", "us-east-1"),
	       "settings: profile use_fips_endpoint");
	setenv("AWS_USE_FIPS_ENDPOINT", "FALSE", 1);
	tap_ok(s_resolve_is(&cfg, p, "us-east-1", "https://sts.us-east-1.amazonaws.com", "us-east-1"),
	       "settings: AWS_USE_FIPS_ENDPOINT=FALSE beats the profile");
	setenv("AWS_USE_FIPS_ENDPOINT", "True", 1);
	setenv("AWS_USE_DUALSTACK_ENDPOINT", "true", 1);
	tap_ok(s_resolve_is(&cfg, NULL, "us-west-2", "https://sts-fips.us-west-2.api.aws", "us-west-2"),
	       "settings: FIPS and dual-stack from the environment");
	tap_ok(s_resolve_is(&cfg, NULL, "cn-north-1", "https://sts-fips.cn-north-1.api.amazonwebservices.com.cn",
			    "cn-north-1"),
	       "settings: FIPS dual-stack in aws-cn");
	tap_ok(s_resolve_err(&cfg, NULL, NULL, &err) == CP_ECONFIG,
	       "settings: FIPS without a region refused: %s", err.msg);
	/* region aws-global: signed for us-east-1 with FIPS or dual-stack too */
	tap_ok(s_resolve_is(&cfg, NULL, "aws-global", "https://sts-fips.aws-global.api.aws", "us-east-1"),
	       "settings: FIPS dual-stack, region aws-global: signed for us-east-1");
	unsetenv("AWS_USE_DUALSTACK_ENDPOINT");
	tap_ok(s_resolve_is(&cfg, NULL, "aws-global", "https://sts-fips.aws-global.amazonaws.com", "us-east-1"),
	       "settings: FIPS, region aws-global: signed for us-east-1");
	/* A configured endpoint wins over FIPS and dual-stack (botocore uses it;
	 * the rule set's error is for the endpoint parameter of a client). */
	setenv("AWS_ENDPOINT_URL_STS", "http://127.0.0.1:9", 1);
	tap_ok(s_resolve_is(&cfg, NULL, "us-west-2", "http://127.0.0.1:9", "us-west-2"),
	       "settings: FIPS with a configured endpoint: the endpoint");
	unsetenv("AWS_USE_FIPS_ENDPOINT");
	setenv("AWS_USE_DUALSTACK_ENDPOINT", "true", 1);
	tap_ok(s_resolve_is(&cfg, NULL, "us-west-2", "http://127.0.0.1:9", "us-west-2"),
	       "settings: dual-stack with a configured endpoint: the endpoint");
	setenv("AWS_STS_REGIONAL_ENDPOINTS", "legacy", 1);
	tap_ok(s_resolve_is(&cfg, NULL, "us-east-1", "http://127.0.0.1:9", "us-east-1"),
	       "settings: dual-stack and legacy with a configured endpoint: the endpoint");
	unsetenv("AWS_STS_REGIONAL_ENDPOINTS");
	setenv("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS", "true", 1);
	tap_ok(s_resolve_is(&cfg, NULL, "us-east-1", "https://sts.us-east-1.api.aws", "us-east-1"),
	       "settings: ignored configured endpoint does not conflict with dual-stack");
	unsetenv("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS");
	unsetenv("AWS_ENDPOINT_URL_STS");
	setenv("AWS_USE_DUALSTACK_ENDPOINT", "yes", 1);
	tap_ok(s_resolve_err(&cfg, NULL, "us-east-1", &err) == CP_ECONFIG,
	       "settings: a non-boolean refused: %s", err.msg);
	unsetenv("AWS_USE_DUALSTACK_ENDPOINT");

	cp_config_set(&cfg, "q", "sts_regional_endpoints", "legacy");
	const cp_section *q = cp_config_profile(&cfg, "q");
	tap_ok(s_resolve_is(&cfg, q, "eu-west-1", "https://sts.amazonaws.com", "us-east-1"),
	       "settings: profile sts_regional_endpoints = legacy, classic region");
	tap_ok(s_resolve_is(&cfg, q, "eu-south-2", "https://sts.eu-south-2.amazonaws.com", "eu-south-2"),
	       "settings: legacy, newer region stays regional");
	setenv("AWS_STS_REGIONAL_ENDPOINTS", "regional", 1);
	tap_ok(s_resolve_is(&cfg, q, "eu-west-1", "https://sts.eu-west-1.amazonaws.com", "eu-west-1"),
	       "settings: AWS_STS_REGIONAL_ENDPOINTS=regional beats the profile");
	setenv("AWS_STS_REGIONAL_ENDPOINTS", "LEGACY", 1);
	tap_ok(s_resolve_is(&cfg, NULL, "us-east-1", "https://sts.amazonaws.com", "us-east-1"),
	       "settings: AWS_STS_REGIONAL_ENDPOINTS=LEGACY");
	tap_ok(s_resolve_is(&cfg, NULL, NULL, "https://sts.amazonaws.com", "us-east-1"),
	       "settings: no region: global endpoint");
	setenv("AWS_STS_REGIONAL_ENDPOINTS", "global", 1);
	tap_ok(s_resolve_err(&cfg, NULL, "us-east-1", &err) == CP_ECONFIG,
	       "settings: unknown sts_regional_endpoints refused: %s", err.msg);
	unsetenv("AWS_STS_REGIONAL_ENDPOINTS");
	tap_ok(s_resolve_is(&cfg, NULL, "aws-global", "https://sts.amazonaws.com", "us-east-1"),
	       "settings: region aws-global");
	tap_ok(s_resolve_is(&cfg, NULL, "eu-isoe-west-1", "https://sts.eu-isoe-west-1.cloud.adc-e.uk",
			    "eu-isoe-west-1") &&
		       s_resolve_is(&cfg, NULL, "us-isof-south-1", "https://sts.us-isof-south-1.csp.hci.ic.gov",
				    "us-isof-south-1") &&
		       s_resolve_is(&cfg, NULL, "eusc-de-east-1", "https://sts.eusc-de-east-1.amazonaws.eu",
				    "eusc-de-east-1"),
	       "settings: aws-iso-e, aws-iso-f and aws-eusc partitions");
	tap_ok(strcmp(cp_region_partition("us-gov-west-1"), "aws-us-gov") == 0 &&
		       strcmp(cp_region_partition("us-isob-east-1"), "aws-iso-b") == 0 &&
		       strcmp(cp_region_partition("aws-cn-global"), "aws-cn") == 0 &&
		       strcmp(cp_region_partition("xx-foo-1"), "aws") == 0,
	       "settings: partition lookup (unknown regions are aws)");

	setenv("AWS_ENDPOINT_URL_STS", "http:///x", 1);
	tap_ok(s_resolve_err(&cfg, NULL, "us-east-1", &err) == CP_ECONFIG,
	       "settings: endpoint without a host refused: %s", err.msg);
	setenv("AWS_ENDPOINT_URL_STS", "http://127.0.0.1:99999", 1);
	tap_ok(s_resolve_err(&cfg, NULL, "us-east-1", &err) == CP_ECONFIG,
	       "settings: endpoint with a bad port refused: %s", err.msg);
	setenv("AWS_ENDPOINT_URL_STS", "http://[::1]:8080/", 1);
	tap_ok(s_resolve_is(&cfg, NULL, "us-east-1", "http://[::1]:8080", "us-east-1"),
	       "settings: IPv6 literal endpoint");
	unsetenv("AWS_ENDPOINT_URL_STS");
	cp_config_free(&cfg);
}

/* services = NAME: the [services NAME] section must exist and hold something
 * (botocore refuses the profile otherwise), but only when the endpoint is
 * looked up there (no AWS_ENDPOINT_URL_STS / AWS_ENDPOINT_URL, not ignored). */
static void s_sts_services(void)
{
	static const char text[] =
		"[profile missing]\nservices = nosuch\n"
		"[profile empty]\nservices = empty\n"
		"[profile other]\nservices = other\n"
		"[profile good]\nservices = good\n"
		"[services empty]\n"
		"[services other]\ns3 =\n  endpoint_url = https://s3.example\n"
		"[services good]\nsts =\n  endpoint_url = https://sts.example/\n";
	cp_config cfg;
	cp_error err = {0};
	cp_config_init(&cfg);
	s_clear_env();
	int r = cp_config_parse(&cfg, text, sizeof text - 1, CP_FILE_CONFIG, "(test)", &err);
	tap_ok(r == 0, "services: config parsed (%s)", err.msg);
	const cp_section *missing = cp_config_profile(&cfg, "missing");
	const cp_section *empty = cp_config_profile(&cfg, "empty");
	tap_ok(s_resolve_err(&cfg, missing, "us-east-1", &err) == CP_ECONFIG && strstr(err.msg, "nosuch"),
	       "services: a missing [services] section refused: %s", err.msg);
	tap_ok(s_resolve_err(&cfg, empty, "us-east-1", &err) == CP_ECONFIG && strstr(err.msg, "empty"),
	       "services: an empty [services] section refused: %s", err.msg);
	tap_ok(s_resolve_is(&cfg, cp_config_profile(&cfg, "other"), "us-east-1",
			    "https://sts.us-east-1.amazonaws.com", "us-east-1"),
	       "services: a section without sts: the regional endpoint");
	tap_ok(s_resolve_is(&cfg, cp_config_profile(&cfg, "good"), "us-east-1", "https://sts.example",
			    "us-east-1"),
	       "services: the section's sts endpoint_url");
	setenv("AWS_ENDPOINT_URL_STS", "https://env.example", 1);
	tap_ok(s_resolve_is(&cfg, missing, "us-east-1", "https://env.example", "us-east-1"),
	       "services: not looked up (so not refused) under AWS_ENDPOINT_URL_STS");
	unsetenv("AWS_ENDPOINT_URL_STS");
	setenv("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS", "true", 1);
	tap_ok(s_resolve_is(&cfg, missing, "us-east-1", "https://sts.us-east-1.amazonaws.com", "us-east-1"),
	       "services: not looked up (so not refused) when configured endpoints are ignored");
	unsetenv("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS");
	cp_config_free(&cfg);
}

/* Writes `text` to dir/name; returns 0 on success. */
static int s_write(const char *dir, const char *name, const char *text)
{
	char path[PATH_MAX];
	snprintf(path, sizeof path, "%s/%s", dir, name);
	FILE *f = fopen(path, "w");
	if (!f)
		return -1;
	fputs(text, f);
	return fclose(f);
}

static void s_imds_suite(void)
{
	cJSON *root = tap_load_conformance_json("imds-ecs/smithy-rs/imds-endpoint-tests.json");
	char tmpl[] = "/tmp/test-endpoint-XXXXXX";
	char *dir = mkdtemp(tmpl);
	const cJSON *c;
	int n = 0;
	if (!dir) {
		tap_ok(0, "imds: mkdtemp");
		cJSON_Delete(root);
		return;
	}
	cJSON_ArrayForEach(c, cJSON_GetObjectItemCaseSensitive(root, "tests")) {
		const char *doc = s_str(c, "docs");
		const cJSON *e, *fs = cJSON_GetObjectItemCaseSensitive(c, "fs");
		char sub[PATH_MAX], path[PATH_MAX];
		n++;
		snprintf(sub, sizeof sub, "%s/%d", dir, n);
		s_clear_env();
		bool setup = mkdir(sub, 0700) == 0;
		cJSON_ArrayForEach(e, fs)
			setup = setup && cJSON_IsString(e) && s_write(sub, e->string, e->valuestring) == 0;
		/* Nothing from the real home: a credentials file that does not exist. */
		snprintf(path, sizeof path, "%s/no-credentials", sub);
		setenv("AWS_SHARED_CREDENTIALS_FILE", path, 1);
		snprintf(path, sizeof path, "%s/no-config", sub);
		setenv("AWS_CONFIG_FILE", path, 1);
		cJSON_ArrayForEach(e, cJSON_GetObjectItemCaseSensitive(c, "env")) {
			const char *v = e->valuestring;
			/* File names in `env` name the files of `fs`. */
			if (v && cJSON_GetObjectItemCaseSensitive(fs, v)) {
				snprintf(path, sizeof path, "%s/%s", sub, v);
				v = path;
			}
			if (v)
				setenv(e->string, v, 1);
		}

		cp_config cfg;
		cp_error err = {0};
		char *cpath = NULL, *kpath = NULL, *ep = NULL;
		cp_config_init(&cfg);
		int r = setup ? 0 : CP_EINTERNAL;
		if (!r)
			r = cp_config_paths(&cpath, &kpath, &err);
		if (!r)
			r = cp_config_load(&cfg, cpath, kpath, &err);
		/* The suite picks the profile with AWS_PROFILE. This tool never
		 * does (the profile comes from --profile); here the case's
		 * AWS_PROFILE names the profile the endpoint is computed for. */
		const char *pname = getenv("AWS_PROFILE");
		const cp_section *prof = r ? NULL : cp_config_profile(&cfg, pname && *pname ? pname : "default");
		if (!r)
			r = cp_imds_endpoint_ex(prof, s_str(c, "endpoint_override"), s_str(c, "mode_override"), &ep,
						&err);

		const cJSON *res = cJSON_GetObjectItemCaseSensitive(c, "result");
		const char *want_ok = s_str(res, "Ok");
		const char *want_err = s_str(res, "Err");
		bool ok;
		if (want_ok) {
			char *got = r ? NULL : cp_asprintf("%s/latest/api/token", ep);
			ok = got && strcmp(got, want_ok) == 0;
			if (!ok)
				tap_diag("r=%d got '%s' (%s); want '%s'", r, got ? got : "", err.msg, want_ok);
			free(got);
		} else {
			/* Failure with CP_ECONFIG. The wording is smithy-rs's; ours
			 * keeps its "`x` is not a valid endpoint mode". */
			ok = r == CP_ECONFIG &&
			     (!strstr(want_err ? want_err : "", "endpoint mode") || strstr(err.msg, want_err));
			if (!ok)
				tap_diag("r=%d msg='%s' (smithy-rs: '%s')", r, err.msg, want_err ? want_err : "");
		}
		tap_ok(ok, "imds endpoint %d: %s%s%s", n, doc ? doc : "?", r ? " -> " : "", r ? err.msg : "");
		free(ep);
		free(cpath);
		free(kpath);
		cp_config_free(&cfg);
		cJSON_ArrayForEach(e, fs)
		{
			snprintf(path, sizeof path, "%s/%s", sub, e->string);
			unlink(path);
		}
		rmdir(sub);
	}
	rmdir(dir);
	s_clear_env();
	tap_ok(n == 14, "imds endpoint: %d cases", n);
	cJSON_Delete(root);
}

/* The SSO portal and OIDC endpoints (resolved by the core for the SSO
 * source). */
static void s_sso_endpoints(void)
{
	const char *src = NULL;
	const char *region = "us-east-1";
	cp_error err = {0};
	int r;
	unsetenv("AWS_ENDPOINT_URL");
	unsetenv("AWS_ENDPOINT_URL_SSO");
	unsetenv("AWS_ENDPOINT_URL_SSO_OIDC");
	unsetenv("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS");
	char *u = NULL, *u2 = NULL;
	cp_sso_endpoint(NULL, NULL, region, false, &u, &src, &err);
	cp_sso_endpoint(NULL, NULL, region, true, &u2, &src, &err);
	tap_ok(u && u2 && strcmp(u, "https://portal.sso.us-east-1.amazonaws.com") == 0 &&
	       strcmp(u2, "https://oidc.us-east-1.amazonaws.com") == 0, "regional endpoints: %s, %s",
	       u ? u : "-", u2 ? u2 : "-");
	free(u);
	free(u2);
	region = "cn-north-1";
	u = NULL;
	cp_sso_endpoint(NULL, NULL, region, false, &u, &src, &err);
	tap_ok(u && strcmp(u, "https://portal.sso.cn-north-1.amazonaws.com.cn") == 0,
	       "China partition: %s", u ? u : err.msg);
	free(u);
	/* FIPS and dual-stack, from the services' endpoint rule sets. */
	struct {
		const char *region, *fips, *dual;
		bool oidc;
		const char *want;
	} fd[] = {
		{"us-east-2", "true", "true", false, "https://portal.sso-fips.us-east-2.api.aws"},
		{"us-east-2", "true", "false", false, "https://portal.sso-fips.us-east-2.amazonaws.com"},
		{"us-east-2", "false", "true", true, "https://oidc.us-east-2.api.aws"},
		{"us-east-2", "true", "false", true, "https://oidc-fips.us-east-2.amazonaws.com"},
		{"us-gov-west-1", "true", "false", false, "https://portal.sso.us-gov-west-1.amazonaws.com"},
	};
	for (size_t i = 0; i < sizeof fd / sizeof fd[0]; i++) {
		setenv("AWS_USE_FIPS_ENDPOINT", fd[i].fips, 1);
		setenv("AWS_USE_DUALSTACK_ENDPOINT", fd[i].dual, 1);
		region = fd[i].region;
		u = NULL;
		r = cp_sso_endpoint(NULL, NULL, region, fd[i].oidc, &u, &src, &err);
		tap_ok(r == 0 && strcmp(u, fd[i].want) == 0, "fips=%s dualstack=%s %s in %s: %s", fd[i].fips,
		       fd[i].dual, fd[i].oidc ? "OIDC" : "portal", fd[i].region, u ? u : err.msg);
		free(u);
	}
	setenv("AWS_ENDPOINT_URL_SSO", "http://custom.example", 1);
	r = cp_sso_endpoint(NULL, NULL, region, false, &u, &src, &err);
	tap_ok(r == CP_ECONFIG && strstr(err.msg, "use_fips_endpoint"), "FIPS with a custom endpoint: %s",
	       err.msg);
	unsetenv("AWS_ENDPOINT_URL_SSO");
	unsetenv("AWS_USE_FIPS_ENDPOINT");
	unsetenv("AWS_USE_DUALSTACK_ENDPOINT");
	region = "us-east-1";
	setenv("AWS_ENDPOINT_URL", "http://global.example/", 1);
	setenv("AWS_ENDPOINT_URL_SSO_OIDC", "http://oidc.example", 1);
	u = u2 = NULL;
	cp_sso_endpoint(NULL, NULL, region, false, &u, &src, &err);
	cp_sso_endpoint(NULL, NULL, region, true, &u2, &src, &err);
	tap_ok(u && u2 && strcmp(u, "http://global.example") == 0 &&
	       strcmp(u2, "http://oidc.example") == 0 && strcmp(src, "AWS_ENDPOINT_URL_SSO_OIDC") == 0,
	       "AWS_ENDPOINT_URL_SSO_OIDC beats AWS_ENDPOINT_URL; trailing '/' dropped");
	free(u);
	free(u2);
	setenv("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS", "true", 1);
	u = NULL;
	cp_sso_endpoint(NULL, NULL, region, false, &u, &src, &err);
	tap_ok(u && strcmp(u, "https://portal.sso.us-east-1.amazonaws.com") == 0,
	       "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS: regional again");
	free(u);
	unsetenv("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS");
	unsetenv("AWS_ENDPOINT_URL");
	unsetenv("AWS_ENDPOINT_URL_SSO_OIDC");
	setenv("AWS_ENDPOINT_URL_SSO", "ftp://x", 1);
	r = cp_sso_endpoint(NULL, NULL, region, false, &u, &src, &err);
	tap_ok(r == CP_ECONFIG && strstr(err.msg, "AWS_ENDPOINT_URL_SSO"), "bad endpoint: %s", err.msg);
	unsetenv("AWS_ENDPOINT_URL_SSO");

	cp_config cfg;
	cp_config_init(&cfg);
	const char *ini = "[profile p]\nservices = svc\n[services svc]\nsso =\n  endpoint_url = http://portal.svc\n"
			  "sso_oidc =\n  endpoint_url = http://oidc.svc\n";
	r = cp_config_parse(&cfg, ini, strlen(ini), CP_FILE_CONFIG, "t", &err);
	const cp_section *settings = cp_config_profile(&cfg, "p");
	u = u2 = NULL;
	cp_sso_endpoint(&cfg, settings, region, false, &u, &src, &err);
	cp_sso_endpoint(&cfg, settings, region, true, &u2, &src, &err);
	tap_ok(r == 0 && u && u2 && strcmp(u, "http://portal.svc") == 0 && strcmp(u2, "http://oidc.svc") == 0,
	       "[services] sso / sso_oidc endpoint_url");
	free(u);
	free(u2);
	cp_config_free(&cfg);

	/* Both at once: an OIDC endpoint that cannot be resolved is not an
	 * error until a refresh needs it; the portal's is. */
	char *p = NULL, *o = NULL;
	const char *ps = NULL, *os = NULL;
	cp_error oe = {0};
	setenv("AWS_ENDPOINT_URL_SSO_OIDC", "ftp://x", 1);
	r = cp_sso_endpoints(NULL, NULL, "us-east-1", &p, &ps, &o, &os, &oe, &err);
	tap_ok(r == 0 && p && strcmp(p, "https://portal.sso.us-east-1.amazonaws.com") == 0 &&
		       strcmp(ps, "the regional endpoint") == 0 && !o && oe.status == CP_ECONFIG &&
		       strstr(oe.msg, "AWS_ENDPOINT_URL_SSO_OIDC"),
	       "both endpoints: a bad OIDC endpoint is kept for later: %s", oe.msg);
	free(p);
	unsetenv("AWS_ENDPOINT_URL_SSO_OIDC");
	setenv("AWS_ENDPOINT_URL_SSO", "ftp://x", 1);
	p = o = NULL;
	r = cp_sso_endpoints(NULL, NULL, "us-east-1", &p, &ps, &o, &os, &oe, &err);
	tap_ok(r == CP_ECONFIG && !p && strstr(err.msg, "AWS_ENDPOINT_URL_SSO"),
	       "both endpoints: a bad portal endpoint fails: %s", err.msg);
	unsetenv("AWS_ENDPOINT_URL_SSO");
	p = o = NULL;
	r = cp_sso_endpoints(NULL, NULL, "eu-west-1", &p, &ps, &o, &os, &oe, &err);
	tap_ok(r == 0 && strcmp(p, "https://portal.sso.eu-west-1.amazonaws.com") == 0 &&
		       strcmp(o, "https://oidc.eu-west-1.amazonaws.com") == 0 &&
		       strcmp(os, "the regional endpoint") == 0,
	       "both endpoints: regional");
	free(p);
	free(o);
}

int main(void)
{
	s_clear_env();
	s_sts_rules();
	s_sts_settings();
	s_sts_services();
	s_imds_suite();
	s_sso_endpoints();
	return tap_done();
}
