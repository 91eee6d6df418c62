/* credproc.h - the whole pipeline: config -> chain -> credentials.
 *
 * cp_get_credentials() loads the shared files, resolves the chain, obtains
 * the base credentials and assumes each role in turn. The network side is
 * reached only through cp_net(). Returns 0 or a CP_E* status with err set
 * (the status is the process exit status).
 */
#ifndef CP_CREDPROC_H
#define CP_CREDPROC_H

#include "creds.h"
#include "resolve.h"
#include "util.h"

#define CP_DEFAULT_TIMEOUT_MS 30000
#define CP_SHORT_LIFETIME_WARN 900 /* warn when fresh credentials live less */

typedef struct cp_request {
	const char *profile;   /* target profile; NULL: "default" */
	cp_role_flags flags;   /* --role-arn etc. */
	const char *region;    /* --region; NULL: from environment/config */
	long timeout_ms;       /* 0: CP_DEFAULT_TIMEOUT_MS */
} cp_request;

int cp_get_credentials(const cp_request *req, cp_creds *ret, cp_error *err);

#endif
