/* ecs.h - the container credential endpoint (ECS tasks, EKS Pod Identity).
 *
 * AWS_CONTAINER_CREDENTIALS_RELATIVE_URI is appended to
 * http://169.254.170.2; AWS_CONTAINER_CREDENTIALS_FULL_URI is used as is
 * when it is HTTPS, or HTTP to a loopback address, 169.254.170.2 (ECS) or
 * 169.254.170.23 / [fd00:ec2::23] (EKS), as the SDKs allow. The
 * Authorization header comes from AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE
 * (re-read at every call) else AWS_CONTAINER_AUTHORIZATION_TOKEN. Never
 * through a proxy. The reply is the same JSON as IMDS's credentials.
 * Returns 0, CP_ECONFIG (forbidden or malformed URI, bad token), CP_ESOURCE
 * (no URI in the environment, unreadable token file, unreachable, non-200,
 * malformed reply), CP_EINTERNAL.
 */
#ifndef CP_ECS_H
#define CP_ECS_H

#include <stdint.h>

#include "creds.h"
#include "retry.h"
#include "util.h"

#define CP_ECS_HOST "169.254.170.2"

typedef struct cp_ecs_options {
	const char *relative_uri;      /* AWS_CONTAINER_CREDENTIALS_RELATIVE_URI */
	const char *full_uri;          /* AWS_CONTAINER_CREDENTIALS_FULL_URI */
	const char *auth_token;        /* AWS_CONTAINER_AUTHORIZATION_TOKEN (secret) */
	const char *auth_token_file;   /* AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE */
	long timeout_ms;               /* per request; 0: 2000 */
	int attempts;                  /* 0: 1 */
	int64_t deadline_ms;           /* on clock->mono_ms; 0: none */
	const cp_clock *clock;         /* backoff and deadline; NULL: cp_clock_system */
} cp_ecs_options;

/* Fills o from the environment (borrowed pointers into environ; an empty
 * variable counts as unset). The core's (sources/container.c). */
void cp_ecs_options_from_env(cp_ecs_options *o);

/* The URL to call, after the SDKs' host checks (no DNS lookups: a host name
 * in FULL_URI over HTTP is allowed only if it is "localhost"). Heap string. */
int cp_ecs_resolve_uri(const cp_ecs_options *o, char **ret_url, cp_error *err);

/* GETs the credentials. */
int cp_ecs_get_credentials(const cp_ecs_options *o, cp_creds *ret, cp_error *err);

#endif
