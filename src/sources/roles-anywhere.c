/* roles-anywhere.c - IAM Roles Anywhere: an X.509 certificate and its key
 * (a file, a PKCS#11 token or a TPM) exchanged for a role session with
 * CreateSession (credproc_rolesanywhere_* keys or --rolesanywhere-* flags). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "endpoint.h"
#include "identity.h"
#include "resolve.h"
#include "run.h"
#include "source.h"

typedef cp_ra_source s_ra;

const char *const cp_ra_key_names[CP_RA_NKEYS] = {
	[CP_RA_CERTIFICATE] = "certificate",
	[CP_RA_PRIVATE_KEY] = "private_key",
	[CP_RA_CERTIFICATE_CHAIN] = "certificate_chain",
	[CP_RA_TRUST_ANCHOR_ARN] = "trust_anchor_arn",
	[CP_RA_PROFILE_ARN] = "profile_arn",
	[CP_RA_ROLE_ARN] = "role_arn",
	[CP_RA_SESSION_DURATION] = "session_duration",
	[CP_RA_SESSION_NAME] = "session_name",
	[CP_RA_PIN_FILE] = "pin_file",
	[CP_RA_PIN_COMMAND] = "pin_command",
	[CP_RA_PKCS11_MODULE] = "pkcs11_module",
	[CP_RA_ENDPOINT] = "endpoint",
};

/* The certificate file is public: its contents name the identity (a
 * renewed certificate is a new session). Capped like the network side. */
#define S_MAX_CERT (256 * 1024)

static const char *s_profile_value(const cp_section *p, size_t k)
{
	char key[64];
	snprintf(key, sizeof key, "credproc_rolesanywhere_%s", cp_ra_key_names[k]);
	return p ? cp_section_value(p, key) : NULL;
}

bool cp_profile_has_rolesanywhere(const cp_section *p, const char *const *flags)
{
	return (flags && flags[CP_RA_CERTIFICATE]) || s_profile_value(p, CP_RA_CERTIFICATE);
}

/* The endpoint to call and where it came from. */
static int s_endpoint(const s_ra *o, const cp_run *run, char **url, const char **src, cp_error *err)
{
	return cp_rolesanywhere_endpoint(&run->cfg, run->settings, o->region, o->v[CP_RA_ENDPOINT],
					 url, src, err);
}

static int s_identity(const cp_source *s, const cp_run *run, cp_buf *k)
{
	const s_ra *o = (const s_ra *)s;
	char *url = NULL, *data = NULL;
	const char *src = NULL;
	size_t len = 0;
	cp_error e = {0};
	cp_key_line(k, "ra-trust-anchor", o->v[CP_RA_TRUST_ANCHOR_ARN]);
	cp_key_line(k, "ra-profile", o->v[CP_RA_PROFILE_ARN]);
	cp_key_line(k, "ra-role", o->v[CP_RA_ROLE_ARN]);
	cp_key_line(k, "ra-session-name", o->v[CP_RA_SESSION_NAME]);
	cp_buf_printf(k, "ra-duration=%d\n", o->duration_seconds);
	cp_key_line(k, "ra-region", o->region);
	if (s_endpoint(o, run, &url, &src, &e) == 0)
		cp_key_url_line(k, "ra-endpoint", url);
	else
		cp_key_line(k, "ra-endpoint", "(invalid)");
	free(url);
	cp_key_line(k, "ra-certificate-file", o->v[CP_RA_CERTIFICATE]);
	if (cp_read_file(o->v[CP_RA_CERTIFICATE], S_MAX_CERT, &data, &len) == 0) {
		/* Text or DER: escaped per byte, NULs included. */
		cp_buf_puts(k, "ra-certificate=");
		for (size_t i = 0; i < len; i++) {
			unsigned char c = (unsigned char)data[i];
			if (c < 0x20 || c >= 0x7f || c == '\\')
				cp_buf_printf(k, "\\x%02x", c);
			else
				cp_buf_putc(k, (char)c);
		}
		cp_buf_putc(k, '\n');
		free(data);
	} else {
		cp_key_line(k, "ra-certificate", "(unreadable)");
	}
	return cp_buf_status(k);
}

static int s_explain(const cp_source *s, const cp_run *run, cp_buf *b)
{
	const s_ra *o = (const s_ra *)s;
	char *url = NULL;
	const char *src = NULL;
	cp_error e = {0};
	cp_buf_printf(b, "IAM Roles Anywhere: role %s (profile '%s')\n", o->v[CP_RA_ROLE_ARN],
		      s->profile);
	cp_buf_printf(b, "     trust anchor %s\n     Roles Anywhere profile %s\n",
		      o->v[CP_RA_TRUST_ANCHOR_ARN], o->v[CP_RA_PROFILE_ARN]);
	cp_buf_printf(b, "     certificate '%s'", o->v[CP_RA_CERTIFICATE]);
	if (o->v[CP_RA_CERTIFICATE_CHAIN])
		cp_buf_printf(b, ", chain '%s'", o->v[CP_RA_CERTIFICATE_CHAIN]);
	cp_buf_printf(b, ", private key '%s'\n", o->v[CP_RA_PRIVATE_KEY]);
	cp_buf_printf(b, "     session duration %d s%s%s%s\n",
		      o->duration_seconds ? o->duration_seconds : CP_RA_DEFAULT_DURATION,
		      o->duration_seconds ? "" : " (default)",
		      o->v[CP_RA_SESSION_NAME] ? ", session name " : "",
		      o->v[CP_RA_SESSION_NAME] ? o->v[CP_RA_SESSION_NAME] : "");
	if (s_endpoint(o, run, &url, &src, &e) == 0)
		cp_buf_printf(b, "     Roles Anywhere endpoint: %s (from %s), signed for %s\n", url, src,
			      o->region);
	else
		cp_buf_printf(b, "     Roles Anywhere endpoint: invalid (%s)\n", e.msg);
	free(url);
	return cp_buf_status(b);
}

static int s_fetch(const cp_source *s, cp_run *run, cp_creds *ret, cp_error *err)
{
	const s_ra *o = (const s_ra *)s;
	char *url = NULL;
	const char *src = NULL;
	int r = s_endpoint(o, run, &url, &src, err);
	if (r)
		return r;
	cp_ra_options opt = {
		.profile = s->profile,
		.certificate = o->v[CP_RA_CERTIFICATE],
		.chain = o->v[CP_RA_CERTIFICATE_CHAIN],
		.private_key = o->v[CP_RA_PRIVATE_KEY],
		.pin_file = o->v[CP_RA_PIN_FILE],
		.pin_command = o->v[CP_RA_PIN_COMMAND],
		.pkcs11_module = o->v[CP_RA_PKCS11_MODULE],
		.trust_anchor_arn = o->v[CP_RA_TRUST_ANCHOR_ARN],
		.profile_arn = o->v[CP_RA_PROFILE_ARN],
		.role_arn = o->v[CP_RA_ROLE_ARN],
		.session_name = o->v[CP_RA_SESSION_NAME],
		.duration_seconds = o->duration_seconds,
		.region = o->region,
		.endpoint = url,
		.endpoint_source = src,
		.ca_bundle = cp_ca_bundle(run->settings),
		.attempts = 3,
		.deadline_ms = run->deadline_ms,
		.clock = run->clock,
		.now = cp_run_now(run),
	};
	cp_debug("base: IAM Roles Anywhere role '%s' with certificate '%s' (profile '%s')",
		 o->v[CP_RA_ROLE_ARN], o->v[CP_RA_CERTIFICATE], s->profile);
	const cp_net_ops *net = cp_run_net(run, err);
	r = net ? net->rolesanywhere_credentials(&opt, ret, err) : err->status;
	free(url);
	return r;
}

static void s_release(cp_source *s)
{
	s_ra *o = (s_ra *)s;
	for (size_t i = 0; i < CP_RA_NKEYS; i++)
		free(o->v[i]);
	free(o->region);
}

/* This source's row of the interface (source.h). Every source file ends
 * with one of the same shape: the repeat is the interface, not a copy. */
const cp_source_ops cp_source_rolesanywhere_ops = {
	.kind = "Roles Anywhere",
	.temporary = true,
	.calls_sts = false,
	.identity = s_identity,
	.explain = s_explain,
	.fetch = s_fetch,
	.release = s_release,
};

/* The region of an ARN (arn:partition:service:region:account:resource), or NULL. */
static char *s_arn_region(const char *arn)
{
	const char *p = arn;
	for (int i = 0; i < 3 && p; i++) {
		p = strchr(p, ':');
		if (p)
			p++;
	}
	if (!p || strncmp(arn, "arn:", 4) != 0)
		return NULL;
	size_t n = strcspn(p, ":");
	return p[n] == ':' && n ? cp_strndup(p, n) : NULL;
}

int cp_source_rolesanywhere(const char *profile, const cp_section *p, const char *const *flags,
			    cp_source **ret, cp_error *err)
{
	const char *val[CP_RA_NKEYS];
	for (size_t i = 0; i < CP_RA_NKEYS; i++)
		val[i] = flags && flags[i] ? flags[i] : s_profile_value(p, i);
	static const size_t required[] = {CP_RA_CERTIFICATE, CP_RA_PRIVATE_KEY,
					  CP_RA_TRUST_ANCHOR_ARN, CP_RA_PROFILE_ARN, CP_RA_ROLE_ARN};
	cp_buf missing = {0};
	for (size_t i = 0; i < sizeof required / sizeof required[0]; i++)
		if (!val[required[i]])
			cp_buf_printf(&missing, "%scredproc_rolesanywhere_%s", missing.len ? ", " : "",
				      cp_ra_key_names[required[i]]);
	if (missing.len) {
		int r = cp_error_set(err, CP_ECONFIG,
				     "profile '%s' uses IAM Roles Anywhere but is missing %s (or the "
				     "--rolesanywhere-* flags)", profile, missing.data);
		cp_buf_free(&missing);
		return r;
	}
	cp_buf_free(&missing);
	int duration = 0;
	if (val[CP_RA_SESSION_DURATION]) {
		char what[320];
		snprintf(what, sizeof what, "credproc_rolesanywhere_session_duration of profile '%s'",
			 profile);
		int r = cp_parse_duration(val[CP_RA_SESSION_DURATION], what, &duration, err);
		if (r)
			return r;
	}
	if (val[CP_RA_SESSION_NAME] && !cp_session_name_ok(val[CP_RA_SESSION_NAME]))
		return cp_error_set(err, CP_ECONFIG,
				    "credproc_rolesanywhere_session_name '%.80s' of profile '%s' must be "
				    "2-64 characters of [A-Za-z0-9_+=,.@-]", val[CP_RA_SESSION_NAME], profile);
	/* As the helper: trust anchors and profiles are regional, one region. */
	char *ta_region = s_arn_region(val[CP_RA_TRUST_ANCHOR_ARN]);
	char *pr_region = s_arn_region(val[CP_RA_PROFILE_ARN]);
	bool differ = ta_region && pr_region && strcmp(ta_region, pr_region) != 0;
	free(ta_region);
	free(pr_region);
	if (differ)
		return cp_error_set(err, CP_ECONFIG,
				    "profile '%s': the Roles Anywhere trust anchor and profile are in "
				    "different regions ('%.200s', '%.200s')", profile,
				    val[CP_RA_TRUST_ANCHOR_ARN], val[CP_RA_PROFILE_ARN]);
	char *region = NULL;
	const char *pr = p ? cp_section_value(p, "region") : NULL;
	region = pr ? cp_strdup(pr) : s_arn_region(val[CP_RA_TRUST_ANCHOR_ARN]);
	if (!region || !cp_region_valid(region)) {
		int r = pr || region ? cp_error_set(err, CP_ECONFIG, "profile '%s': invalid region '%.64s'",
						    profile, region ? region : pr)
				     : cp_error_set(err, CP_ECONFIG,
						    "profile '%s': no region, and the trust anchor ARN "
						    "'%.200s' names none", profile,
						    val[CP_RA_TRUST_ANCHOR_ARN]);
		free(region);
		return r;
	}
	s_ra *o = (s_ra *)cp_source_alloc(&cp_source_rolesanywhere_ops, sizeof *o, profile);
	bool oom = !o;
	for (size_t i = 0; o && i < CP_RA_NKEYS; i++)
		if (val[i] && !(o->v[i] = cp_strdup(val[i])))
			oom = true;
	if (oom) {
		free(region);
		cp_source_free(o ? &o->base : NULL);
		return cp_error_set(err, CP_EINTERNAL, "out of memory");
	}
	o->region = region;
	o->duration_seconds = duration;
	*ret = &o->base;
	return 0;
}

const cp_ra_source *cp_source_as_rolesanywhere(const cp_source *s)
{
	return s && s->ops == &cp_source_rolesanywhere_ops ? (const s_ra *)s : NULL;
}
