/* container.c - credential_source = EcsContainer: the container credential
 * endpoint of ECS tasks and EKS Pod Identity. */
#include <stdlib.h>
#include <string.h>

#include "identity.h"
#include "run.h"
#include "source.h"

static int s_identity(const cp_source *s, const cp_run *run, cp_buf *k)
{
	(void)s;
	(void)run;
	int e = cp_key_line(k, "container-relative-uri", getenv("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI"));
	return e ? e : cp_key_url_line(k, "container-full-uri", getenv("AWS_CONTAINER_CREDENTIALS_FULL_URI"));
}

static int s_explain(const cp_source *s, const cp_run *run, cp_buf *b)
{
	(void)run;
	return cp_buf_printf(b, "the container credential endpoint (credential_source of profile '%s')\n",
			     s->profile);
}

static int s_fetch(const cp_source *s, cp_run *run, cp_creds *ret, cp_error *err)
{
	(void)s;
	cp_ecs_options o;
	cp_ecs_options_from_env(&o);
	o.attempts = 3;
	o.deadline_ms = run->deadline_ms;
	o.clock = run->clock;
	const cp_net_ops *net = cp_run_net(run, err);
	cp_debug("base: container credential endpoint");
	return net ? net->ecs_credentials(&o, ret, err) : err->status;
}

void cp_ecs_options_from_env(cp_ecs_options *o)
{
	memset(o, 0, sizeof *o);
	o->relative_uri = cp_env("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI");
	o->full_uri = cp_env("AWS_CONTAINER_CREDENTIALS_FULL_URI");
	o->auth_token = cp_env("AWS_CONTAINER_AUTHORIZATION_TOKEN");
	o->auth_token_file = cp_env("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE");
}

/* This source's row of the interface (source.h). Every source file ends
 * with one of the same shape: the repeat is the interface, not a copy. */
const cp_source_ops cp_source_container_ops = {
	.kind = "EcsContainer",
	.label = "container",
	.credential_source = "EcsContainer",
	.identity = s_identity,
	.explain = s_explain,
	.fetch = s_fetch,
};
