/* environment.c - credential_source = Environment: AWS_ACCESS_KEY_ID,
 * AWS_SECRET_ACCESS_KEY and AWS_SESSION_TOKEN (or AWS_SECURITY_TOKEN). */
#include <stdlib.h>

#include "identity.h"
#include "run.h"
#include "source.h"

static int s_identity(const cp_source *s, const cp_run *run, cp_buf *k)
{
	(void)s;
	(void)run;
	return cp_key_line(k, "source-key-id", getenv("AWS_ACCESS_KEY_ID"));
}

static int s_explain(const cp_source *s, const cp_run *run, cp_buf *b)
{
	(void)run;
	return cp_buf_printf(b, "the environment (AWS_ACCESS_KEY_ID, ...; credential_source of profile '%s')\n",
			     s->profile);
}

static int s_fetch(const cp_source *s, cp_run *run, cp_creds *ret, cp_error *err)
{
	(void)s;
	(void)run;
	const char *akid = cp_env("AWS_ACCESS_KEY_ID");
	const char *secret = cp_env("AWS_SECRET_ACCESS_KEY");
	const char *token = cp_env_session_token();
	cp_debug("base: environment variables");
	if (!akid || !secret)
		return cp_error_set(err, CP_ESOURCE,
				    "credential_source = Environment, but AWS_ACCESS_KEY_ID and "
				    "AWS_SECRET_ACCESS_KEY are not both set");
	return cp_creds_set(ret, akid, secret, token, 0, NULL) ? cp_error_set(err, CP_EINTERNAL, "out of memory")
								: 0;
}

static bool s_long_term(const cp_source *s)
{
	(void)s;
	return !cp_env_session_token();
}

/* This source's row of the interface (source.h). Every source file ends
 * with one of the same shape: the repeat is the interface, not a copy. */
const cp_source_ops cp_source_environment_ops = {
	.kind = "Environment",
	.credential_source = "Environment",
	.identity = s_identity,
	.explain = s_explain,
	.fetch = s_fetch,
	.long_term = s_long_term,
};
