/* instance-metadata.c - credential_source = Ec2InstanceMetadata (IMDSv2). */
#include <stdlib.h>

#include "endpoint.h"
#include "identity.h"
#include "run.h"
#include "source.h"

static int s_identity(const cp_source *s, const cp_run *run, cp_buf *k)
{
	(void)s;
	char *ep = NULL;
	cp_error ignored = {0};
	int e = cp_key_url_line(k, "imds-endpoint",
				cp_imds_endpoint(run->settings, &ep, &ignored) ? "(invalid)" : ep);
	free(ep);
	return e;
}

static int s_explain(const cp_source *s, const cp_run *run, cp_buf *b)
{
	char *ep = NULL;
	cp_error e = {0};
	int r = cp_imds_endpoint(run->settings, &ep, &e);
	r = cp_buf_printf(b, "EC2 instance metadata (IMDSv2) at %s (credential_source of profile '%s')\n",
			  r ? "(invalid endpoint)" : ep, s->profile);
	free(ep);
	return r;
}

static int s_fetch(const cp_source *s, cp_run *run, cp_creds *ret, cp_error *err)
{
	(void)s;
	cp_imds_options o;
	char *ep = NULL;
	int r = cp_run_imds_options(run, &o, &ep, err);
	if (r)
		return r;
	const cp_net_ops *net = cp_run_net(run, err);
	cp_debug("base: EC2 instance metadata at %s", ep);
	r = net ? net->imds_credentials(&o, ret, err) : err->status;
	free(ep);
	return r;
}

/* This source's row of the interface (source.h). Every source file ends
 * with one of the same shape: the repeat is the interface, not a copy. */
const cp_source_ops cp_source_imds_ops = {
	.kind = "Ec2InstanceMetadata",
	.label = "IMDS",
	.credential_source = "Ec2InstanceMetadata",
	.identity = s_identity,
	.explain = s_explain,
	.fetch = s_fetch,
};
