/* endpoint.c - region and endpoint selection. */
#include "endpoint.h"

#include <stdlib.h>
#include <string.h>

static const char *s_env(const char *name)
{
	const char *v = getenv(name);
	return v && *v ? v : NULL;
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
	const char *v = s_env("AWS_REGION");
	const char *src = "AWS_REGION";
	if (!v) {
		v = s_env("AWS_DEFAULT_REGION");
		src = "AWS_DEFAULT_REGION";
	}
	if (!v && profile) {
		v = cp_section_get(profile, "region");
		if (v && !*v)
			v = NULL;
		src = "the profile's region";
	}
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

const char *cp_region_dns_suffix(const char *region)
{
	if (strncmp(region, "cn-", 3) == 0)
		return "amazonaws.com.cn";
	if (strncmp(region, "us-isob-", 8) == 0)
		return "sc2s.sgov.gov";
	if (strncmp(region, "us-isof-", 8) == 0)
		return "csp.hci.ic.gov";
	if (strncmp(region, "us-iso-", 7) == 0)
		return "c2s.ic.gov";
	if (strncmp(region, "eu-isoe-", 8) == 0)
		return "cloud.adc-e.uk";
	return "amazonaws.com";
}

static int s_check_url(const char *url, const char *src, cp_error *err)
{
	if (strncmp(url, "https://", 8) != 0 && strncmp(url, "http://", 7) != 0)
		return cp_error_set(err, CP_ECONFIG,
				    "endpoint '%.200s' (from %s) must start with https:// or http://", url, src);
	for (const char *p = url; *p; p++)
		if ((unsigned char)*p <= ' ' || *p == 0x7f)
			return cp_error_set(err, CP_ECONFIG,
					    "endpoint from %s contains spaces or control characters", src);
	if (strlen(url) > 2048)
		return cp_error_set(err, CP_ECONFIG, "endpoint from %s is too long", src);
	return 0;
}

int cp_sts_endpoint_resolve(const cp_config *cfg, const cp_section *profile, const char *region,
			    cp_sts_target *ret, cp_error *err)
{
	cp_sts_target t = {0};
	const char *url = NULL, *src = NULL;
	char *sub = NULL;
	int r;
	bool ignore = cp_truthy(s_env("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS")) ||
		      (profile && cp_truthy(cp_section_get(profile, "ignore_configured_endpoint_urls")));

	if (!ignore) {
		if ((url = s_env("AWS_ENDPOINT_URL_STS")))
			src = "AWS_ENDPOINT_URL_STS";
		else if ((url = s_env("AWS_ENDPOINT_URL")))
			src = "AWS_ENDPOINT_URL";
		if (!url && profile) {
			const char *svc = cp_section_get(profile, "services");
			const cp_section *s = svc && *svc ? cp_config_services(cfg, svc) : NULL;
			const char *sts = s ? cp_section_get(s, "sts") : NULL;
			if (sts) {
				if (cp_subprop_get(sts, "endpoint_url", &sub))
					return cp_error_set(err, CP_EINTERNAL, "out of memory");
				if (sub && *sub) {
					url = sub;
					src = "the [services] section";
				}
			}
			if (!url) {
				const char *v = cp_section_get(profile, "endpoint_url");
				if (v && *v) {
					url = v;
					src = "the profile's endpoint_url";
				}
			}
		}
	}
	if (url) {
		if ((r = s_check_url(url, src, err))) {
			free(sub);
			return r;
		}
		size_t n = strlen(url);
		while (n > 0 && url[n - 1] == '/')
			n--;
		t.url = cp_strndup(url, n);
		t.signing_region = cp_strdup(region ? region : "us-east-1");
		t.custom = true;
		t.url_source = src;
	} else if (region) {
		if (!cp_region_valid(region)) {
			free(sub);
			return cp_error_set(err, CP_ECONFIG, "invalid region '%.64s'", region);
		}
		t.url = cp_asprintf("https://sts.%s.%s", region, cp_region_dns_suffix(region));
		t.signing_region = cp_strdup(region);
		t.url_source = "the regional endpoint";
	} else {
		t.url = cp_strdup("https://sts.amazonaws.com");
		t.signing_region = cp_strdup("us-east-1");
		t.url_source = "the global endpoint (no region configured)";
	}
	free(sub);
	if (!t.url || !t.signing_region) {
		cp_sts_target_free(&t);
		return cp_error_set(err, CP_EINTERNAL, "out of memory");
	}
	*ret = t;
	return 0;
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
	const char *v = s_env("AWS_CA_BUNDLE");
	if (v)
		return v;
	if (profile) {
		v = cp_section_get(profile, "ca_bundle");
		if (v && *v)
			return v;
	}
	return NULL;
}

int cp_imds_endpoint(const cp_section *profile, char **ret, cp_error *err)
{
	const char *v = s_env("AWS_EC2_METADATA_SERVICE_ENDPOINT");
	const char *src = "AWS_EC2_METADATA_SERVICE_ENDPOINT";
	if (!v && profile) {
		v = cp_section_get(profile, "ec2_metadata_service_endpoint");
		if (v && !*v)
			v = NULL;
		src = "ec2_metadata_service_endpoint";
	}
	if (!v) {
		const char *mode = s_env("AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE");
		if (!mode && profile)
			mode = cp_section_get(profile, "ec2_metadata_service_endpoint_mode");
		if (mode && *mode && cp_streq_icase(mode, "IPv6"))
			v = "http://[fd00:ec2::254]";
		else if (mode && *mode && !cp_streq_icase(mode, "IPv4"))
			return cp_error_set(err, CP_ECONFIG,
					    "invalid EC2 metadata endpoint mode '%.32s' (expected IPv4 or IPv6)", mode);
		else
			v = "http://169.254.169.254";
		src = "the default";
	}
	int r = s_check_url(v, src, err);
	if (r)
		return r;
	size_t n = strlen(v);
	while (n > 0 && v[n - 1] == '/')
		n--;
	if (!(*ret = cp_strndup(v, n)))
		return cp_error_set(err, CP_EINTERNAL, "out of memory");
	return 0;
}
