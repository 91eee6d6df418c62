/* output.h - the documents printed on success.
 * Both return a heap string that holds secrets (free with cp_free_secret),
 * or NULL on out-of-memory. */
#ifndef CP_OUTPUT_H
#define CP_OUTPUT_H

#include "creds.h"

/* {"Version": 1, "AccessKeyId", "SecretAccessKey", ["SessionToken"],
 *  ["Expiration": "YYYY-MM-DDTHH:MM:SSZ"], ["AccountId"]} + "\n" */
char *cp_output_json(const cp_creds *c);

/* export AWS_ACCESS_KEY_ID=... lines (values shell-quoted), including
 * AWS_SESSION_TOKEN and AWS_CREDENTIAL_EXPIRATION when known; variables
 * that do not apply are unset so no stale value survives. */
char *cp_output_env(const cp_creds *c);

/* Installs cJSON allocation hooks that wipe memory before freeing it. */
void cp_output_init_json_hooks(void);

#endif
