/* endpoint.c - region and endpoint selection. */
#include "endpoint.h"

#include <stdlib.h>
#include <string.h>

#include "identity.h"

/* A setting: the environment variable env when set and not empty, else the
 * profile's key when not empty; NULL when neither. *ret_src names where it
 * came from: env, else key_src (NULL: the key itself). */
static const char *s_setting(const cp_section *profile, const char *env, const char *key,
			     const char *key_src, const char **ret_src)
{
	const char *v = cp_env(env);
	*ret_src = env;
	if (!v && profile) {
		v = cp_section_value(profile, key);
		*ret_src = key_src ? key_src : key;
	}
	return v;
}

bool cp_truthy(const char *s)
{
	return s && cp_streq_icase(s, "true");
}

bool cp_region_valid(const char *s)
{
	size_t n = s ? strlen(s) : 0;
	if (n == 0 || n > 64)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-'))
			return false;
	}
	return s[0] != '-' && s[n - 1] != '-';
}

int cp_region_configured(const cp_section *profile, char **ret, cp_error *err)
{
	const char *v = cp_env("AWS_REGION");
	const char *src = "AWS_REGION";
	if (!v)
		v = s_setting(profile, "AWS_DEFAULT_REGION", "region", "the profile's region", &src);
	if (!v) {
		*ret = NULL;
		return 0;
	}
	if (!cp_region_valid(v))
		return cp_error_set(err, CP_ECONFIG, "invalid region '%.64s' (from %s)", v, src);
	if (!(*ret = cp_strdup(v)))
		return cp_error_set(err, CP_EINTERNAL, "out of memory");
	return 0;
}

/* The partitions, from the AWS partition metadata (botocore
 * data/partitions.json, which the STS rule set's aws.partition() consults;
 * the rule set itself does not embed it). A region belongs to the partition
 * that lists it by name (the "<partition>-global" pseudo-regions), else to the
 * one whose pattern ^<prefix>\w+-\d+$ it matches, else to "aws". */
typedef struct s_partition {
	const char *name;
	const char *prefix;        /* NULL: the aws pattern, see s_aws_pattern */
	const char *global;        /* the pseudo-region listed by name, or NULL */
	const char *dns;
	const char *dualstack_dns;
	bool fips, dualstack;
} s_partition;

static const s_partition s_partitions[] = {
	{"aws", NULL, "aws-global", "amazonaws.com", "api.aws", true, true},
	{"aws-cn", "cn-", "aws-cn-global", "amazonaws.com.cn", "api.amazonwebservices.com.cn", true, true},
	{"aws-eusc", "eusc-de-", NULL, "amazonaws.eu", "api.amazonwebservices.eu", true, true},
	{"aws-iso", "us-iso-", "aws-iso-global", "c2s.ic.gov", "api.aws.ic.gov", true, true},
	{"aws-iso-b", "us-isob-", "aws-iso-b-global", "sc2s.sgov.gov", "api.aws.scloud", true, true},
	{"aws-iso-e", "eu-isoe-", "aws-iso-e-global", "cloud.adc-e.uk", "api.cloud-aws.adc-e.uk", true, true},
	{"aws-iso-f", "us-isof-", "aws-iso-f-global", "csp.hci.ic.gov", "api.aws.hci.ic.gov", true, true},
	{"aws-us-gov", "us-gov-", "aws-us-gov-global", "amazonaws.com", "api.aws", true, true},
};

static bool s_word(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
}

/* s matches ^\w+-\d+$ */
static bool s_tail_matches(const char *s)
{
	const char *p = s;
	while (s_word(*p))
		p++;
	if (p == s || *p != '-')
		return false;
	const char *d = ++p;
	while (*p >= '0' && *p <= '9')
		p++;
	return p > d && *p == '\0';
}

/* ^(us|eu|ap|sa|ca|me|af|il|mx)-\w+-\d+$ */
static bool s_aws_pattern(const char *region)
{
	static const char prefixes[][3] = {"us", "eu", "ap", "sa", "ca", "me", "af", "il", "mx"};
	for (size_t i = 0; i < sizeof prefixes / sizeof *prefixes; i++)
		if (strncmp(region, prefixes[i], 2) == 0 && region[2] == '-')
			return s_tail_matches(region + 3);
	return false;
}

static const s_partition *s_partition_of(const char *region)
{
	size_t n = sizeof s_partitions / sizeof *s_partitions;
	for (size_t i = 0; i < n; i++)
		if (s_partitions[i].global && strcmp(region, s_partitions[i].global) == 0)
			return &s_partitions[i];
	for (size_t i = 0; i < n; i++) {
		const s_partition *p = &s_partitions[i];
		if (p->prefix ? strncmp(region, p->prefix, strlen(p->prefix)) == 0 &&
					s_tail_matches(region + strlen(p->prefix))
			      : s_aws_pattern(region))
			return p;
	}
	return &s_partitions[0];
}

const char *cp_region_dns_suffix(const char *region)
{
	return s_partition_of(region)->dns;
}

const char *cp_region_partition(const char *region)
{
	return s_partition_of(region)->name;
}

#define S_MAX_SSO_URL 2048

static bool s_host_char(char c)
{
	/* RFC 3986 unreserved, sub-delims and pct-encoded */
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       strchr("-._~%!$&'()*+,;=", c) != NULL;
}

/* An absolute http(s) URL with a host: scheme://[userinfo@]host[:port][/...]. */
static int s_check_url(const char *url, const char *src, cp_error *err)
{
	char shown[201]; /* the URL as messages quote it: no userinfo, cut */
	cp_strip_userinfo(shown, sizeof shown, url);
	const char *p;
	if (strncmp(url, "https://", 8) == 0)
		p = url + 8;
	else if (strncmp(url, "http://", 7) == 0)
		p = url + 7;
	else
		return cp_error_set(err, CP_ECONFIG,
				    "endpoint '%s' (from %s) must start with https:// or http://", shown, src);
	for (const char *q = url; *q; q++)
		if ((unsigned char)*q <= ' ' || (unsigned char)*q >= 0x7f)
			return cp_error_set(err, CP_ECONFIG,
					    "endpoint from %s contains spaces, control or non-ASCII characters", src);
	if (strlen(url) > 2048)
		return cp_error_set(err, CP_ECONFIG, "endpoint from %s is too long", src);

	size_t alen = strcspn(p, "/?#");
	const char *end = p + alen;
	for (const char *q = p; q < end; q++)
		if (*q == '@')
			p = q + 1;
	const char *host = p, *hend;
	if (*p == '[') {
		const char *close = memchr(p, ']', (size_t)(end - p));
		if (!close || close == p + 1)
			return cp_error_set(err, CP_ECONFIG, "endpoint '%s' (from %s) has a malformed IPv6 host",
					    shown, src);
		for (const char *q = p + 1; q < close; q++)
			if (!((*q >= '0' && *q <= '9') || (*q >= 'a' && *q <= 'f') || (*q >= 'A' && *q <= 'F') ||
			      *q == ':' || *q == '.' || *q == '%' || s_word(*q)))
				return cp_error_set(err, CP_ECONFIG,
						    "endpoint '%s' (from %s) has a malformed IPv6 host", shown, src);
		hend = close + 1;
	} else {
		hend = p;
		while (hend < end && *hend != ':') {
			if (!s_host_char(*hend))
				return cp_error_set(err, CP_ECONFIG,
						    "endpoint '%s' (from %s) has an invalid character in its host",
						    shown, src);
			hend++;
		}
		if (hend == host)
			return cp_error_set(err, CP_ECONFIG, "endpoint '%s' (from %s) has no host", shown, src);
	}
	if (hend < end) {
		if (*hend != ':')
			return cp_error_set(err, CP_ECONFIG, "endpoint '%s' (from %s) is malformed after the host",
					    shown, src);
		long port = 0;
		const char *q = hend + 1;
		if (q == end)
			return cp_error_set(err, CP_ECONFIG, "endpoint '%s' (from %s) has an empty port", shown, src);
		for (; q < end; q++) {
			if (*q < '0' || *q > '9' || (port = port * 10 + (*q - '0')) > 65535)
				return cp_error_set(err, CP_ECONFIG, "endpoint '%s' (from %s) has an invalid port",
						    shown, src);
		}
		if (port == 0)
			return cp_error_set(err, CP_ECONFIG, "endpoint '%s' (from %s) has an invalid port", shown, src);
	}
	return 0;
}

/* A heap copy without trailing slashes. */
static char *s_trimmed(const char *url)
{
	size_t n = strlen(url);
	while (n > 0 && url[n - 1] == '/')
		n--;
	return cp_strndup(url, n);
}

/* The legacy global-endpoint regions of the STS rule set
 * (sts_regional_endpoints = legacy). */
static bool s_sts_legacy_global(const char *region)
{
	static const char *const legacy[] = {
		"ap-northeast-1", "ap-south-1", "ap-southeast-1", "ap-southeast-2", "aws-global",
		"ca-central-1", "eu-central-1", "eu-north-1", "eu-west-1", "eu-west-2", "eu-west-3",
		"sa-east-1", "us-east-1", "us-east-2", "us-west-1", "us-west-2",
	};
	for (size_t i = 0; i < sizeof legacy / sizeof *legacy; i++)
		if (strcmp(region, legacy[i]) == 0)
			return true;
	return false;
}

#define S_STS_GLOBAL "https://sts.amazonaws.com"

/* The STS endpoint rule set, rule by rule. *ret_src says which rule chose. */
static int s_sts_endpoint(const char *region, bool fips, bool dualstack, bool global_legacy,
			  const char *custom, char **ret_url, char **ret_signing_region,
			  const char **ret_src, cp_error *err)
{
	char *url = NULL;
	const char *signing = region, *src;
	int r;

	if (region && !*region)
		region = NULL;
	if (custom && !*custom)
		custom = NULL;
	if (region && !cp_region_valid(region))
		return cp_error_set(err, CP_ECONFIG, "invalid region '%.64s'", region);

	if (global_legacy && !custom && region && !fips && !dualstack) {
		if (s_sts_legacy_global(region)) {
			url = cp_strdup(S_STS_GLOBAL);
			signing = "us-east-1";
			src = "the global endpoint (sts_regional_endpoints = legacy)";
		} else {
			url = cp_asprintf("https://sts.%s.%s", region, s_partition_of(region)->dns);
			src = "the regional endpoint";
		}
	} else if (custom) {
		if (fips)
			return cp_error_set(err, CP_ECONFIG,
					    "Invalid Configuration: FIPS and custom endpoint are not supported");
		if (dualstack)
			return cp_error_set(err, CP_ECONFIG,
					    "Invalid Configuration: Dualstack and custom endpoint are not supported");
		if ((r = s_check_url(custom, "the configuration", err)))
			return r;
		url = s_trimmed(custom);
		if (!region)
			signing = "us-east-1";
		src = "a configured endpoint";
	} else if (!region) {
		return cp_error_set(err, CP_ECONFIG, "Invalid Configuration: Missing Region");
	} else {
		const s_partition *p = s_partition_of(region);
		if (fips && dualstack) {
			if (!p->fips || !p->dualstack)
				return cp_error_set(err, CP_ECONFIG,
						    "FIPS and DualStack are enabled, but this partition does not "
						    "support one or both");
			url = cp_asprintf("https://sts-fips.%s.%s", region, p->dualstack_dns);
			src = "the FIPS dual-stack endpoint";
		} else if (fips) {
			if (!p->fips)
				return cp_error_set(err, CP_ECONFIG,
						    "FIPS is enabled but this partition does not support FIPS");
			/* GovCloud's regular STS endpoints are its FIPS endpoints. */
			if (strcmp(p->name, "aws-us-gov") == 0)
				url = cp_asprintf("https://sts.%s.amazonaws.com", region);
			else
				url = cp_asprintf("https://sts-fips.%s.%s", region, p->dns);
			src = "the FIPS endpoint";
		} else if (dualstack) {
			if (!p->dualstack)
				return cp_error_set(err, CP_ECONFIG,
						    "DualStack is enabled but this partition does not support DualStack");
			url = cp_asprintf("https://sts.%s.%s", region, p->dualstack_dns);
			src = "the dual-stack endpoint";
		} else if (strcmp(region, "aws-global") == 0) {
			url = cp_strdup(S_STS_GLOBAL);
			signing = "us-east-1";
			src = "the global endpoint (region aws-global)";
		} else {
			url = cp_asprintf("https://sts.%s.%s", region, p->dns);
			src = "the regional endpoint";
		}
	}
	char *sr = cp_strdup(signing);
	if (!url || !sr) {
		free(url);
		free(sr);
		return cp_error_set(err, CP_EINTERNAL, "out of memory");
	}
	*ret_url = url;
	*ret_signing_region = sr;
	if (ret_src)
		*ret_src = src;
	return 0;
}

int cp_sts_endpoint_for(const char *region, bool fips, bool dualstack, bool global_legacy,
			const char *custom, char **ret_url, char **ret_signing_region, cp_error *err)
{
	return s_sts_endpoint(region, fips, dualstack, global_legacy, custom, ret_url, ret_signing_region,
			      NULL, err);
}

/* A boolean setting: the environment variable (when set and not empty) beats
 * the profile. "true"/"false" in any case; anything else is an error, so that
 * a misspelt use_fips_endpoint never silently means "no FIPS". */
static int s_bool_setting(const cp_section *profile, const char *env, const char *key, bool *ret,
			  cp_error *err)
{
	const char *src, *v = s_setting(profile, env, key, NULL, &src);
	*ret = false;
	if (!v)
		return 0;
	if (cp_streq_icase(v, "true"))
		*ret = true;
	else if (!cp_streq_icase(v, "false"))
		return cp_error_set(err, CP_ECONFIG, "%s must be true or false, not '%.32s'", src, v);
	return 0;
}

int cp_sts_flags_get(const cp_section *profile, cp_sts_flags *ret, cp_error *err)
{
	cp_sts_flags s = {0};
	int r;
	if ((r = s_bool_setting(profile, "AWS_USE_FIPS_ENDPOINT", "use_fips_endpoint", &s.fips, err)) ||
	    (r = s_bool_setting(profile, "AWS_USE_DUALSTACK_ENDPOINT", "use_dualstack_endpoint", &s.dualstack,
				err)))
		return r;
	const char *src, *v = s_setting(profile, "AWS_STS_REGIONAL_ENDPOINTS", "sts_regional_endpoints", NULL, &src);
	if (v && cp_streq_icase(v, "legacy"))
		s.global_legacy = true;
	else if (v && !cp_streq_icase(v, "regional"))
		return cp_error_set(err, CP_ECONFIG, "%s must be 'regional' or 'legacy', not '%.32s'", src, v);
	*ret = s;
	return 0;
}

/* The configured endpoint of a service: env_var > AWS_ENDPOINT_URL >
 * [services X] <key> endpoint_url > the profile's endpoint_url, none when
 * configured endpoints are ignored. *ret_url points into the environment,
 * the profile or *ret_sub (a heap copy of a [services] value: the caller
 * frees it); NULL when none. A profile naming a missing or empty
 * [services] section is CP_ECONFIG when strict (botocore refuses it), else
 * skipped. Unchecked. */
static int s_configured_endpoint(const cp_config *cfg, const cp_section *profile,
				 const char *env_var, const char *key, bool strict,
				 const char **ret_url, char **ret_sub, const char **ret_src,
				 cp_error *err)
{
	const char *url = NULL, *src = NULL;
	bool ignore = cp_truthy(cp_env("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS")) ||
		      (profile && cp_truthy(cp_section_get(profile, "ignore_configured_endpoint_urls")));

	*ret_url = NULL;
	*ret_sub = NULL;
	*ret_src = NULL;
	if (ignore)
		return 0;
	if ((url = cp_env(env_var)))
		src = env_var;
	else if ((url = cp_env("AWS_ENDPOINT_URL")))
		src = "AWS_ENDPOINT_URL";
	if (!url && profile) {
		const char *svc = cp_section_get(profile, "services");
		const cp_section *s = svc && *svc && cfg ? cp_config_services(cfg, svc) : NULL;
		const char *v = s ? cp_section_get(s, key) : NULL;
		if (strict && svc && *svc && (!s || !s->nprops))
			return cp_error_set(err, CP_ECONFIG, "services section '%.64s' of profile '%.64s' %s",
					    svc, profile->name, s ? "is empty" : "does not exist");
		if (v && cp_subprop_get(v, "endpoint_url", ret_sub))
			return cp_error_set(err, CP_EINTERNAL, "out of memory");
		if (*ret_sub && **ret_sub) {
			url = *ret_sub;
			src = "the [services] section";
		}
		if (!url) {
			v = cp_section_value(profile, "endpoint_url");
			if (v) {
				url = v;
				src = "the profile's endpoint_url";
			}
		}
	}
	*ret_url = url;
	*ret_src = url ? src : NULL;
	return 0;
}

int cp_sts_configured_endpoint(const cp_config *cfg, const cp_section *profile, char **ret_url,
			       const char **ret_src, cp_error *err)
{
	const char *url, *src;
	char *sub;
	*ret_url = NULL;
	*ret_src = NULL;
	int r = s_configured_endpoint(cfg, profile, "AWS_ENDPOINT_URL_STS", "sts", true, &url, &sub,
				      &src, err);
	if (!r && url && !(r = s_check_url(url, src, err))) {
		if (!(*ret_url = cp_strdup(url)))
			r = cp_error_set(err, CP_EINTERNAL, "out of memory");
		else
			*ret_src = src;
	}
	free(sub);
	return r;
}

/* ---- IAM Identity Center ------------------------------------------------ */

/* The partition's dual-stack DNS suffix (api.aws, ...) of region, as
 * STS's rule set has it: https://sts.<region>.<suffix>. *ret points into
 * *ret_mem (the caller frees it). */
static int s_dualstack_suffix(const char *region, const char **ret, char **ret_mem, cp_error *err)
{
	char *sts = NULL, *signing = NULL;
	int r = cp_sts_endpoint_for(region, false, true, false, NULL, &sts, &signing, err);
	if (r)
		return r;
	free(signing);
	size_t pre = strlen("https://sts.") + strlen(region) + 1;
	if (strlen(sts) <= pre) {
		free(sts);
		return cp_error_set(err, CP_EINTERNAL, "no dual-stack suffix for '%s'", region);
	}
	*ret = sts + pre;
	*ret_mem = sts;
	return 0;
}


/* A configured SSO (or sign-in, service "sign-in") endpoint: http or
 * https, a host, no query or fragment. */
static int s_check_service_url(const char *url, const char *service, const char *src, cp_error *err)
{
	size_t n = strlen(url);
	const char *rest = NULL;
	if (strncmp(url, "https://", 8) == 0)
		rest = url + 8;
	else if (strncmp(url, "http://", 7) == 0)
		rest = url + 7;
	bool clean = n <= S_MAX_SSO_URL;
	for (const unsigned char *p = (const unsigned char *)url; clean && *p; p++)
		clean = *p > 0x20 && *p != 0x7f;
	if (!rest || !clean || !*rest || *rest == '/' || strpbrk(url, "?#")) {
		char shown[301]; /* no userinfo, cut */
		cp_strip_userinfo(shown, sizeof shown, clean ? url : "(unprintable)");
		return cp_error_set(err, CP_ECONFIG,
				    "the %s endpoint '%s' (from %s) is invalid: it must be an "
				    "http or https URL with a host and no query", service, shown, src);
	}
	return 0;
}

/* A configured endpoint (src says where from) of a service whose rule set
 * (SSO, sign-in) refuses FIPS and dual-stack with a custom endpoint:
 * checked, and trimmed into *out (NULL: out of memory, the caller's check). */
static int s_custom_endpoint(const char *url, const cp_sts_flags *fl, const char *service,
			     const char *src, char **out, cp_error *err)
{
	if (fl->fips || fl->dualstack)
		return cp_error_set(err, CP_ECONFIG,
				    "%s is true and the %s endpoint is configured (%s): FIPS and "
				    "dual-stack are not supported with a custom endpoint",
				    fl->fips ? "use_fips_endpoint" : "use_dualstack_endpoint", service,
				    src);
	int r = s_check_service_url(url, service, src, err);
	if (!r)
		*out = s_trimmed(url);
	return r;
}

int cp_sso_endpoint(const cp_config *cfg, const cp_section *settings, const char *sso_region,
		    bool oidc, char **ret_url, const char **ret_source, cp_error *err)
{
	const char *url = NULL, *src = NULL;
	char *sub = NULL, *out = NULL;
	int r = s_configured_endpoint(cfg, settings,
				      oidc ? "AWS_ENDPOINT_URL_SSO_OIDC" : "AWS_ENDPOINT_URL_SSO",
				      oidc ? "sso_oidc" : "sso", false, &url, &sub, &src, err);
	if (r)
		goto out;
	/* use_fips_endpoint / use_dualstack_endpoint, as the rule sets of both
	 * services read them (the same settings as STS's). */
	cp_sts_flags fl;
	if ((r = cp_sts_flags_get(settings, &fl, err)))
		goto out;
	if (url) {
		if ((r = s_custom_endpoint(url, &fl, "SSO", src, &out, err)))
			goto out;
	} else {
		if (!sso_region || !cp_region_valid(sso_region)) {
			r = cp_error_set(err, CP_ECONFIG, "invalid sso_region '%.64s'",
					 sso_region ? sso_region : "");
			goto out;
		}
		const char *name = oidc ? "oidc" : "portal.sso";
		const char *fips = oidc ? "oidc-fips" : "portal.sso-fips";
		src = "the regional endpoint";
		if (fl.dualstack) {
			const char *sfx;
			char *mem = NULL;
			if ((r = s_dualstack_suffix(sso_region, &sfx, &mem, err)))
				goto out;
			out = cp_asprintf("https://%s.%s.%s", fl.fips ? fips : name, sso_region, sfx);
			free(mem);
		} else if (fl.fips && strcmp(cp_region_partition(sso_region), "aws-us-gov") == 0) {
			out = cp_asprintf("https://%s.%s.amazonaws.com", name, sso_region);
		} else {
			out = cp_asprintf("https://%s.%s.%s", fl.fips ? fips : name, sso_region,
					  cp_region_dns_suffix(sso_region));
		}
	}
	if (!out) {
		r = cp_error_set(err, CP_EINTERNAL, "out of memory");
		goto out;
	}
	*ret_url = out;
	if (ret_source)
		*ret_source = src;
out:
	free(sub);
	return r;
}

int cp_sso_endpoints(const cp_config *cfg, const cp_section *settings, const char *sso_region,
		     char **ret_portal, const char **ret_portal_src, char **ret_oidc,
		     const char **ret_oidc_src, cp_error *ret_oidc_err, cp_error *err)
{
	int r = cp_sso_endpoint(cfg, settings, sso_region, false, ret_portal, ret_portal_src, err);
	if (r)
		return r;
	*ret_oidc = NULL;
	*ret_oidc_src = NULL;
	cp_error_clear(ret_oidc_err);
	int o = cp_sso_endpoint(cfg, settings, sso_region, true, ret_oidc, ret_oidc_src, ret_oidc_err);
	if (o == CP_EINTERNAL) {
		free(*ret_portal);
		*ret_portal = NULL;
		if (err && ret_oidc_err)
			*err = *ret_oidc_err;
		return o;
	}
	return 0;
}

/* ---- console sign-in ----------------------------------------------------- */

int cp_signin_endpoint(const cp_config *cfg, const cp_section *settings, const char *region,
		       char **ret_url, const char **ret_source, cp_error *err)
{
	const char *url = NULL, *src = NULL;
	char *sub = NULL, *out = NULL, *mem = NULL;
	cp_sts_flags fl;
	int r = s_configured_endpoint(cfg, settings, "AWS_ENDPOINT_URL_SIGNIN", "signin", false, &url,
				      &sub, &src, err);
	if (r || (r = cp_sts_flags_get(settings, &fl, err)))
		goto out;
	if (url) {
		if ((r = s_custom_endpoint(url, &fl, "sign-in", src, &out, err)))
			goto out;
	} else {
		if (!region) {
			r = cp_error_set(err, CP_ECONFIG,
					 "the sign-in service needs a region: set the profile's region "
					 "(or AWS_REGION), or AWS_ENDPOINT_URL_SIGNIN");
			goto out;
		}
		if (!cp_region_valid(region)) {
			r = cp_error_set(err, CP_ECONFIG, "invalid region '%.64s'", region);
			goto out;
		}
		const char *part = cp_region_partition(region);
		src = "the regional endpoint";
		if (!fl.fips && !fl.dualstack && strcmp(part, "aws") == 0)
			out = cp_asprintf("https://%s.signin.aws.amazon.com", region);
		else if (!fl.fips && !fl.dualstack && strcmp(part, "aws-cn") == 0)
			out = cp_asprintf("https://%s.signin.amazonaws.cn", region);
		else if (!fl.fips && !fl.dualstack && strcmp(part, "aws-us-gov") == 0)
			out = cp_asprintf("https://%s.signin.amazonaws-us-gov.com", region);
		else if (fl.dualstack) {
			const char *sfx;
			if ((r = s_dualstack_suffix(region, &sfx, &mem, err)))
				goto out;
			out = cp_asprintf("https://signin%s.%s.%s", fl.fips ? "-fips" : "", region, sfx);
		} else {
			out = cp_asprintf("https://signin%s.%s.%s", fl.fips ? "-fips" : "", region,
					  cp_region_dns_suffix(region));
		}
	}
	if (!out) {
		r = cp_error_set(err, CP_EINTERNAL, "out of memory");
		goto out;
	}
	*ret_url = out;
	if (ret_source)
		*ret_source = src;
out:
	free(mem);
	free(sub);
	return r;
}

/* ---- IAM Roles Anywhere ------------------------------------------------- */

int cp_rolesanywhere_endpoint(const cp_config *cfg, const cp_section *settings, const char *region,
			      const char *explicit_url, char **ret_url, const char **ret_source,
			      cp_error *err)
{
	const char *url = explicit_url, *src = "credproc_rolesanywhere_endpoint";
	char *sub = NULL, *out = NULL;
	int r = 0;
	if (!url && (r = s_configured_endpoint(cfg, settings, "AWS_ENDPOINT_URL_ROLESANYWHERE",
					       "rolesanywhere", false, &url, &sub, &src, err)))
		goto out;
	if (url) {
		if ((r = s_check_url(url, src, err)))
			goto out;
		out = s_trimmed(url);
	} else {
		cp_sts_flags fl;
		if ((r = cp_sts_flags_get(settings, &fl, err)))
			goto out;
		if (!region || !cp_region_valid(region)) {
			r = cp_error_set(err, CP_ECONFIG, "invalid Roles Anywhere region '%.64s'",
					 region ? region : "");
			goto out;
		}
		src = "the regional endpoint";
		out = cp_asprintf("https://rolesanywhere%s.%s.%s", fl.fips ? "-fips" : "", region,
				  cp_region_dns_suffix(region));
	}
	if (!out) {
		r = cp_error_set(err, CP_EINTERNAL, "out of memory");
		goto out;
	}
	*ret_url = out;
	if (ret_source)
		*ret_source = src;
out:
	free(sub);
	return r;
}

int cp_sts_endpoint_resolve(const cp_config *cfg, const cp_section *profile, const char *region,
			    cp_sts_target *ret, cp_error *err)
{
	cp_sts_target t = {0};
	cp_sts_flags set;
	const char *src = NULL;
	char *url = NULL;
	int r;

	if ((r = cp_sts_flags_get(profile, &set, err)))
		return r;
	if ((r = cp_sts_configured_endpoint(cfg, profile, &url, &src, err)))
		return r;
	if (url && (set.fips || set.dualstack)) {
		/* A configured endpoint is used as it is, as botocore does (the rule
		 * set's error is for a client given both; cp_sts_endpoint_for keeps it). */
		cp_debug("%s%s%s not applied: the STS endpoint comes from %s",
			 set.fips ? "use_fips_endpoint" : "", set.fips && set.dualstack ? " and " : "",
			 set.dualstack ? "use_dualstack_endpoint" : "", src);
		set.fips = set.dualstack = false;
	}
	if (!url && !region) {
		/* DESIGN.md: no region at all means the global endpoint. FIPS and
		 * dual-stack endpoints are regional only: refuse rather than
		 * silently use an endpoint that is neither. */
		if (set.fips || set.dualstack) {
			r = cp_error_set(err, CP_ECONFIG,
					 "%s needs a region: set AWS_REGION or the profile's region",
					 set.fips ? "use_fips_endpoint" : "use_dualstack_endpoint");
			goto out;
		}
		t.url = cp_strdup(S_STS_GLOBAL);
		t.signing_region = cp_strdup("us-east-1");
		t.url_source = "the global endpoint (no region configured)";
		if (!t.url || !t.signing_region) {
			cp_sts_target_free(&t);
			r = cp_error_set(err, CP_EINTERNAL, "out of memory");
			goto out;
		}
	} else {
		r = s_sts_endpoint(region, set.fips, set.dualstack, set.global_legacy, url, &t.url,
				   &t.signing_region, &t.url_source, err);
		if (r)
			goto out;
		if (url) {
			t.custom = true;
			t.url_source = src;
		} else if (strcmp(region, "aws-global") == 0 && strcmp(t.signing_region, "us-east-1") != 0) {
			/* The pseudo-region's credential scope is us-east-1 (botocore's
			 * endpoint data), also for its FIPS and dual-stack hosts. */
			char *us = cp_strdup("us-east-1");
			if (!us) {
				cp_sts_target_free(&t);
				r = cp_error_set(err, CP_EINTERNAL, "out of memory");
				goto out;
			}
			free(t.signing_region);
			t.signing_region = us;
		}
	}
	*ret = t;
out:
	free(url);
	return r;
}

int cp_sts_endpoint_inputs(const cp_config *cfg, const cp_section *profile, cp_buf *b)
{
	static const char *const envs[] = {
		"AWS_IGNORE_CONFIGURED_ENDPOINT_URLS", "AWS_ENDPOINT_URL_STS", "AWS_ENDPOINT_URL",
		"AWS_USE_FIPS_ENDPOINT", "AWS_USE_DUALSTACK_ENDPOINT", "AWS_STS_REGIONAL_ENDPOINTS",
		"AWS_CA_BUNDLE",
	};
	static const char *const keys[] = {
		"ignore_configured_endpoint_urls", "endpoint_url", "use_fips_endpoint",
		"use_dualstack_endpoint", "sts_regional_endpoints", "ca_bundle", "services",
	};
	for (size_t i = 0; i < sizeof envs / sizeof *envs; i++)
		cp_key_url_line(b, envs[i], getenv(envs[i]));
	for (size_t i = 0; i < sizeof keys / sizeof *keys; i++)
		cp_key_url_line(b, keys[i], profile ? cp_section_get(profile, keys[i]) : NULL);
	const char *svc = profile ? cp_section_get(profile, "services") : NULL;
	const cp_section *s = svc && *svc ? cp_config_services(cfg, svc) : NULL;
	cp_key_url_line(b, "services.sts", s ? cp_section_get(s, "sts") : NULL);
	return cp_buf_status(b);
}

void cp_sts_target_free(cp_sts_target *t)
{
	if (!t)
		return;
	free(t->url);
	free(t->signing_region);
	memset(t, 0, sizeof *t);
}

const char *cp_ca_bundle(const cp_section *profile)
{
	const char *src;
	return s_setting(profile, "AWS_CA_BUNDLE", "ca_bundle", NULL, &src);
}

int cp_imds_endpoint_ex(const cp_section *profile, const char *endpoint_override,
			const char *mode_override, char **ret, cp_error *err)
{
	const char *v = endpoint_override && *endpoint_override ? endpoint_override : NULL;
	const char *src = "the explicit IMDS endpoint";
	if (!v)
		v = s_setting(profile, "AWS_EC2_METADATA_SERVICE_ENDPOINT", "ec2_metadata_service_endpoint",
			      NULL, &src);
	if (!v) {
		const char *mode = mode_override && *mode_override ? mode_override : NULL;
		const char *msrc = "the explicit IMDS endpoint mode";
		if (!mode)
			mode = s_setting(profile, "AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE",
					 "ec2_metadata_service_endpoint_mode", NULL, &msrc);
		if (!mode || cp_streq_icase(mode, "IPv4"))
			v = "http://169.254.169.254";
		else if (cp_streq_icase(mode, "IPv6"))
			v = "http://[fd00:ec2::254]";
		else
			return cp_error_set(err, CP_ECONFIG,
					    "`%.32s` is not a valid endpoint mode (from %s; expected IPv4 or IPv6)",
					    mode, msrc);
		src = "the default";
	}
	int r = s_check_url(v, src, err);
	if (r)
		return r;
	if (!(*ret = s_trimmed(v)))
		return cp_error_set(err, CP_EINTERNAL, "out of memory");
	return 0;
}

int cp_imds_endpoint(const cp_section *profile, char **ret, cp_error *err)
{
	return cp_imds_endpoint_ex(profile, NULL, NULL, ret, err);
}
