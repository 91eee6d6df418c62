/* imds.h - EC2 instance metadata (IMDSv2 with the SDKs' IMDSv1 fallback).
 *
 * Flow: PUT /latest/api/token (X-aws-ec2-metadata-token-ttl-seconds: 21600),
 * GET /latest/meta-data/iam/security-credentials/ (role name),
 * GET /latest/meta-data/iam/security-credentials/<role> (JSON).
 * Never through a proxy. A token PUT answered 403/404/405 or timing out falls
 * back to IMDSv1 unless v1_disabled; 400 is an error.
 * Returns 0, CP_ESOURCE (no metadata service, no instance profile, bad
 * reply), CP_EINTERNAL. err->cause says which kind of failure: no answer
 * (CP_CAUSE_NO_ANSWER), a 5xx, a refusal (401, 404, a token PUT answered
 * 400, a Code other than Success), a malformed reply.
 */
#ifndef CP_IMDS_H
#define CP_IMDS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "creds.h"
#include "retry.h"
#include "util.h"

#define CP_IMDS_DEFAULT_ENDPOINT "http://169.254.169.254"

typedef struct cp_imds_options {
	const char *endpoint;       /* base URL without trailing path; NULL: default */
	bool v1_disabled;           /* AWS_EC2_METADATA_V1_DISABLED / ec2_metadata_v1_disabled */
	long timeout_ms;            /* per request; 0: 1000 */
	int attempts;               /* 0: 1 */
	int64_t deadline_ms;        /* clock->mono_ms after which nothing is sent; 0: none */
	const cp_clock *clock;      /* backoff and deadline; NULL: cp_clock_system */
} cp_imds_options;

int cp_imds_get_credentials(const cp_imds_options *o, cp_creds *ret, cp_error *err);
/* GET /latest/meta-data/placement/region. */
int cp_imds_get_region(const cp_imds_options *o, char **ret_region, cp_error *err);

/* Parses the security-credentials JSON ({"Code":"Success","AccessKeyId":...}).
 * 0 or CP_ESOURCE. */
int cp_imds_parse_credentials(const char *json, size_t len, cp_creds *ret, cp_error *err);

#endif
