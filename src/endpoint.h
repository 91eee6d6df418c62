/* endpoint.h - the region and the STS endpoint (DESIGN.md "Resolution").
 *
 * Region: AWS_REGION > AWS_DEFAULT_REGION > the profile's `region` > (the
 * caller's IMDS answer) > none. Endpoint: AWS_ENDPOINT_URL_STS >
 * AWS_ENDPOINT_URL > [services X] sts.endpoint_url > profile endpoint_url >
 * the endpoint the STS endpoint rule set derives from the region and
 * use_fips_endpoint / use_dualstack_endpoint / sts_regional_endpoints
 * (conformance/sts/botocore/endpoints); with no region, the global
 * https://sts.amazonaws.com signed for us-east-1. Configured endpoints are
 * skipped when AWS_IGNORE_CONFIGURED_ENDPOINT_URLS / the profile's
 * ignore_configured_endpoint_urls is true. A profile's `services = X` with
 * no [services X] section, or an empty one, is CP_ECONFIG when the lookup
 * reaches it (botocore refuses such a profile).
 * Returns 0, CP_ECONFIG (malformed region or URL), CP_EINTERNAL.
 */
#ifndef CP_ENDPOINT_H
#define CP_ENDPOINT_H

#include <stdbool.h>

#include "config.h"
#include "util.h"

/* The region from the environment or the profile; *ret NULL when none. */
int cp_region_configured(const cp_section *profile, char **ret, cp_error *err);

/* True if s is a syntactically valid region name ([a-z0-9-], 1..64). */
bool cp_region_valid(const char *s);

/* The DNS suffix and the name ("aws", "aws-cn", "aws-us-gov", ...) of the
 * partition a region belongs to; unknown regions belong to "aws". */
const char *cp_region_dns_suffix(const char *region);
const char *cp_region_partition(const char *region);

/* The STS endpoint rule set as a pure function (no environment, no files).
 * region NULL or "" means unset; custom is a configured endpoint URL or NULL.
 *  - global_legacy (sts_regional_endpoints = legacy), no custom endpoint, no
 *    FIPS/dual-stack: the classic regions (us-east-1, eu-west-1, ...,
 *    aws-global) get https://sts.amazonaws.com signed for us-east-1;
 *  - custom: used as is (trailing '/' removed); with fips or dualstack an
 *    error, as the rule set says;
 *  - no region: an error ("Missing Region");
 *  - fips: https://sts-fips.<region>.<dns suffix> (GovCloud:
 *    https://sts.<region>.amazonaws.com); dualstack: the partition's
 *    dual-stack suffix (api.aws, ...); region aws-global: the global endpoint.
 * *ret_signing_region is the region, us-east-1 for the global endpoint (and
 * for a custom endpoint without a region). Heap strings.
 * Returns 0, CP_ECONFIG or CP_EINTERNAL. */
int cp_sts_endpoint_for(const char *region, bool fips, bool dualstack, bool global_legacy,
			const char *custom, char **ret_url, char **ret_signing_region, cp_error *err);

/* The STS endpoint settings, environment before profile:
 * AWS_USE_FIPS_ENDPOINT / use_fips_endpoint, AWS_USE_DUALSTACK_ENDPOINT /
 * use_dualstack_endpoint ("true"/"false", any case; default false) and
 * AWS_STS_REGIONAL_ENDPOINTS / sts_regional_endpoints ("regional", the
 * default, or "legacy"). Other values are CP_ECONFIG. */
typedef struct cp_sts_flags {
	bool fips;
	bool dualstack;
	bool global_legacy;
} cp_sts_flags;
int cp_sts_flags_get(const cp_section *profile, cp_sts_flags *ret, cp_error *err);

typedef struct cp_sts_target {
	char *url;             /* no trailing slash */
	char *signing_region;  /* region used in the SigV4 scope */
	bool custom;           /* configured, not derived */
	const char *url_source;/* where url came from (static string, for explain/debug) */
} cp_sts_target;

/* region may be NULL (global endpoint). Unlike cp_sts_endpoint_for, a
 * configured endpoint with FIPS or dual-stack on is used as it is (as
 * botocore does; a cp_debug note says so), and region aws-global is signed
 * for us-east-1 on its FIPS and dual-stack hosts too. */
int cp_sts_endpoint_resolve(const cp_config *cfg, const cp_section *profile, const char *region,
			    cp_sts_target *ret, cp_error *err);
void cp_sts_target_free(cp_sts_target *t);

/* The configured STS endpoint, if any: AWS_ENDPOINT_URL_STS >
 * AWS_ENDPOINT_URL > [services X] sts.endpoint_url > profile endpoint_url,
 * none when AWS_IGNORE_CONFIGURED_ENDPOINT_URLS / the profile's
 * ignore_configured_endpoint_urls is true (what cp_sts_endpoint_resolve
 * uses before the region). *ret_url a checked heap copy or NULL, *ret_src
 * where it came from (static string). 0; CP_ECONFIG for a malformed URL or a
 * profile naming a missing or empty [services] section; CP_EINTERNAL. */
int cp_sts_configured_endpoint(const cp_config *cfg, const cp_section *profile, char **ret_url,
			       const char **ret_src, cp_error *err);

/* The endpoint of the IAM Identity Center portal (oidc false, service
 * "sso") or of SSO OIDC (oidc true, "sso_oidc"), the standard
 * service-specific resolution: AWS_ENDPOINT_URL_SSO /
 * AWS_ENDPOINT_URL_SSO_OIDC > AWS_ENDPOINT_URL > [services X] sso /
 * sso_oidc endpoint_url > the profile's endpoint_url (none under
 * AWS_IGNORE_CONFIGURED_ENDPOINT_URLS / ignore_configured_endpoint_urls; a
 * missing [services] section is skipped) > the services' endpoint rule
 * sets: https://portal.sso.<sso_region>.<dns suffix> /
 * https://oidc.<sso_region>.<dns suffix>, "-fips" hosts and the dual-stack
 * suffix under use_fips_endpoint / use_dualstack_endpoint (GovCloud FIPS:
 * the plain host; either with a configured endpoint is CP_ECONFIG). cfg and
 * settings (the profile whose endpoint_url/services apply) may be NULL.
 * *ret_url: heap, no trailing '/'; *ret_source (static, may be NULL) says
 * where it came from. 0, CP_ECONFIG (bad URL, bad sso_region) or
 * CP_EINTERNAL. */
int cp_sso_endpoint(const cp_config *cfg, const cp_section *settings, const char *sso_region,
		    bool oidc, char **ret_url, const char **ret_source, cp_error *err);

/* Both SSO endpoints, for cp_sso_options. Returns the portal's status. The
 * OIDC endpoint is needed only to refresh a token: when it cannot be
 * resolved, *ret_oidc is NULL and ret_oidc_err says why (the SSO source
 * reports it if and when a refresh is due); only CP_EINTERNAL fails the
 * call. Heap strings; sources static. */
int cp_sso_endpoints(const cp_config *cfg, const cp_section *settings, const char *sso_region,
		     char **ret_portal, const char **ret_portal_src, char **ret_oidc,
		     const char **ret_oidc_src, cp_error *ret_oidc_err, cp_error *err);

/* The IAM Roles Anywhere endpoint: `explicit_url` (credproc_rolesanywhere_endpoint
 * or its flag; NULL: none) > AWS_ENDPOINT_URL_ROLESANYWHERE > AWS_ENDPOINT_URL >
 * [services X] rolesanywhere endpoint_url > the profile's endpoint_url (none
 * of these three under AWS_IGNORE_CONFIGURED_ENDPOINT_URLS) >
 * https://rolesanywhere.<region>.<dns suffix> (use_fips_endpoint:
 * rolesanywhere-fips). *ret_url heap, no trailing '/'; *ret_source static.
 * 0, CP_ECONFIG (bad URL or region) or CP_EINTERNAL. */
int cp_rolesanywhere_endpoint(const cp_config *cfg, const cp_section *settings, const char *region,
			      const char *explicit_url, char **ret_url, const char **ret_source,
			      cp_error *err);

/* The endpoint of the sign-in service (console sign-in sessions, service
 * "signin"), the standard service-specific resolution:
 * AWS_ENDPOINT_URL_SIGNIN > AWS_ENDPOINT_URL > [services X] signin
 * endpoint_url > the profile's endpoint_url (as cp_sso_endpoint: none under
 * ignore_configured_endpoint_urls; a missing [services] section skipped) >
 * the service's endpoint rule set (signin 2023-01-01) from region:
 * https://<region>.signin.aws.amazon.com (aws), .signin.amazonaws.cn
 * (aws-cn), .signin.amazonaws-us-gov.com (aws-us-gov), else
 * https://signin.<region>.<dns suffix>; use_fips_endpoint gives
 * https://signin-fips.<region>.<dns suffix>, use_dualstack_endpoint the
 * dual-stack suffix (either with a configured endpoint is CP_ECONFIG, as is
 * no region). *ret_url heap, no trailing '/'; *ret_source static.
 * 0, CP_ECONFIG or CP_EINTERNAL. */
int cp_signin_endpoint(const cp_config *cfg, const cp_section *settings, const char *region,
		       char **ret_url, const char **ret_source, cp_error *err);

/* Appends every input of cp_sts_endpoint_resolve except the region, raw as
 * configured (environment, the profile's keys, its [services] sts block,
 * the CA bundle), one escaped "name=value" line each, to b: the endpoint
 * part of a cache key. 0 or CP_EINTERNAL. */
int cp_sts_endpoint_inputs(const cp_config *cfg, const cp_section *profile, cp_buf *b);

/* CA bundle: AWS_CA_BUNDLE > profile ca_bundle; NULL if neither. */
const char *cp_ca_bundle(const cp_section *profile);

/* IMDS endpoint: AWS_EC2_METADATA_SERVICE_ENDPOINT > profile
 * ec2_metadata_service_endpoint > mode (AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE
 * > profile ec2_metadata_service_endpoint_mode; "IPv4" or "IPv6", any case;
 * IPv6: http://[fd00:ec2::254]) > http://169.254.169.254. The endpoint must
 * be an http(s) URL with a host; trailing '/' removed. Heap string.
 * Returns 0, CP_ECONFIG (bad URL or mode) or CP_EINTERNAL. */
int cp_imds_endpoint(const cp_section *profile, char **ret, cp_error *err);
/* The same with explicit overrides (NULL: none), as an SDK's IMDS client
 * builder has them: endpoint_override beats everything; mode_override beats
 * the mode settings but not a configured endpoint. */
int cp_imds_endpoint_ex(const cp_section *profile, const char *endpoint_override,
			const char *mode_override, char **ret, cp_error *err);

/* Boolean config values as the SDKs read them ("true"/"false", any case). */
bool cp_truthy(const char *s);

#endif
