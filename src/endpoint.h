/* endpoint.h - the region and the STS endpoint (DESIGN.md "Resolution").
 *
 * Region: AWS_REGION > AWS_DEFAULT_REGION > the profile's `region` > (the
 * caller's IMDS answer) > none. Endpoint: AWS_ENDPOINT_URL_STS >
 * AWS_ENDPOINT_URL > [services X] sts.endpoint_url > profile endpoint_url >
 * https://sts.<region>.<partition suffix>; with no region, the global
 * https://sts.amazonaws.com signed for us-east-1. Configured endpoints are
 * skipped when AWS_IGNORE_CONFIGURED_ENDPOINT_URLS / the profile's
 * ignore_configured_endpoint_urls is true.
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

/* The DNS suffix of the partition a region belongs to. */
const char *cp_region_dns_suffix(const char *region);

typedef struct cp_sts_target {
	char *url;             /* no trailing slash */
	char *signing_region;  /* region used in the SigV4 scope */
	bool custom;           /* configured, not derived */
	const char *url_source;/* where url came from (static string, for explain/debug) */
} cp_sts_target;

/* region may be NULL (global endpoint). */
int cp_sts_endpoint_resolve(const cp_config *cfg, const cp_section *profile, const char *region,
			    cp_sts_target *ret, cp_error *err);
void cp_sts_target_free(cp_sts_target *t);

/* CA bundle: AWS_CA_BUNDLE > profile ca_bundle; NULL if neither. */
const char *cp_ca_bundle(const cp_section *profile);

/* IMDS endpoint: AWS_EC2_METADATA_SERVICE_ENDPOINT > profile
 * ec2_metadata_service_endpoint > mode (IPv6: http://[fd00:ec2::254]) >
 * http://169.254.169.254. Heap string. */
int cp_imds_endpoint(const cp_section *profile, char **ret, cp_error *err);

/* Boolean config values as the SDKs read them ("true"/"false", any case). */
bool cp_truthy(const char *s);

#endif
