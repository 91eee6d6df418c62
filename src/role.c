/* role.c - one role step of a chain (see role.h). */
#include "role.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

/* The session parameters of one role, parsed from their configured text. */
typedef struct s_params {
	char *buf;               /* one copy of all the lists, split in place */
	const char **arns;
	size_t narns;
	cp_tag *tags;
	size_t ntags;
	const char **keys;
	size_t nkeys;
} s_params;

static void s_params_free(s_params *p)
{
	free(p->buf);
	free(p->arns);
	free(p->tags);
	free(p->keys);
	memset(p, 0, sizeof *p);
}

/* Splits a comma-separated list in place (items trimmed, empty ones dropped). */
static int s_split(char *text, const char ***ret, size_t *ret_n)
{
	size_t n = 0, cap = 0;
	const char **v = NULL;
	for (char *save = NULL, *tok = strtok_r(text, ",", &save); tok;
	     tok = strtok_r(NULL, ",", &save)) {
		tok = cp_trim(tok);
		if (!*tok)
			continue;
		if (n == cap) {
			cap = cap ? cap * 2 : 8;
			const char **nv = realloc(v, cap * sizeof *nv);
			if (!nv) {
				free(v);
				return CP_EINTERNAL;
			}
			v = nv;
		}
		v[n++] = tok;
	}
	*ret = v;
	*ret_n = n;
	return 0;
}

/* Copies text to *w (advanced past it) and splits it there. */
static int s_split_copy(const char *text, char **w, const char ***ret, size_t *ret_n)
{
	char *t = strcpy(*w, text);
	*w += strlen(t) + 1;
	return s_split(t, ret, ret_n);
}

static int s_tags(const char *who, s_params *p, const char **tagv, size_t ntag, cp_error *err)
{
	if (ntag && !(p->tags = calloc(ntag, sizeof *p->tags)))
		return cp_error_set(err, CP_EINTERNAL, "out of memory");
	for (size_t i = 0; i < ntag; i++) {
		char *eq = strchr(tagv[i], '=');
		if (!eq)
			return cp_error_set(err, CP_ECONFIG,
					    "credproc_tags of profile '%s': '%.128s' is not key=value", who,
					    tagv[i]);
		*eq = '\0';
		p->tags[i].key = cp_trim((char *)tagv[i]);
		p->tags[i].value = cp_trim(eq + 1);
	}
	p->ntags = ntag;
	return 0;
}

static int s_params_parse(const cp_role_step *s, s_params *p, cp_error *err)
{
	const char *who = s->profile ? s->profile : "(command line)";
	memset(p, 0, sizeof *p);
	if (s->policy) {
		cJSON *j = cJSON_Parse(s->policy);
		bool ok = j && cJSON_IsObject(j);
		cJSON_Delete(j);
		if (!ok)
			return cp_error_set(err, CP_ECONFIG,
					    "credproc_policy of profile '%s' is not a JSON policy document", who);
	}
	size_t total = (s->policy_arns ? strlen(s->policy_arns) + 1 : 0) +
		       (s->tags ? strlen(s->tags) + 1 : 0) +
		       (s->transitive_tag_keys ? strlen(s->transitive_tag_keys) + 1 : 0);
	if (!total)
		return 0;
	if (!(p->buf = malloc(total)))
		return cp_error_set(err, CP_EINTERNAL, "out of memory");
	char *w = p->buf;
	const char **tagv = NULL;
	size_t ntag = 0;
	int r = 0;
	if ((s->policy_arns && s_split_copy(s->policy_arns, &w, &p->arns, &p->narns)) ||
	    (s->tags && s_split_copy(s->tags, &w, &tagv, &ntag)) ||
	    (s->transitive_tag_keys && s_split_copy(s->transitive_tag_keys, &w, &p->keys, &p->nkeys)))
		r = cp_error_set(err, CP_EINTERNAL, "out of memory");
	else if (s->tags)
		r = s_tags(who, p, tagv, ntag, err);
	free(tagv);
	if (r)
		s_params_free(p);
	return r;
}

/* The request and its signer, for cp_run_sts_call (role.c and
 * sources/mfa-session.c each adapt their own STS operation the same way). */
typedef struct s_assume_ctx {
	const cp_creds *src;
	cp_assume_role_input in;
} s_assume_ctx;

static int s_call(void *ctx, const cp_net_ops *net, const cp_sts_endpoint *ep, cp_creds *ret,
		  cp_error *err)
{
	s_assume_ctx *a = ctx;
	return net->assume_role(ep, a->src, &a->in, ret, err);
}

/* AssumeRole for step s, signed with src; mfa_code (may be NULL) goes with
 * the step's mfa_serial as SerialNumber/TokenCode. */
static int s_assume(cp_run *x, const cp_role_step *s, const cp_creds *src, const char *mfa_code,
		    cp_creds *ret, cp_error *err)
{
	char *default_name = NULL, who[2100];
	s_assume_ctx a = {
		.src = src,
		.in = {
			.role_arn = s->role_arn,
			.role_session_name = s->role_session_name,
			.external_id = s->external_id,
			.duration_seconds = s->duration_seconds,
			.serial_number = mfa_code ? s->mfa_serial : NULL,
			.token_code = mfa_code,
			.policy = s->policy,
			.source_identity = s->source_identity,
		},
	};
	s_params prm;
	int r = s_params_parse(s, &prm, err);
	if (r)
		return r;
	a.in.policy_arns = prm.arns;
	a.in.npolicy_arns = prm.narns;
	a.in.tags = prm.tags;
	a.in.ntags = prm.ntags;
	a.in.transitive_tag_keys = prm.keys;
	a.in.ntransitive_tag_keys = prm.nkeys;
	if (!a.in.role_session_name &&
	    !(a.in.role_session_name = default_name = cp_default_session_name())) {
		s_params_free(&prm);
		return cp_error_set(err, CP_EINTERNAL, "out of memory");
	}
	snprintf(who, sizeof who, "role '%s'", s->role_arn);
	cp_debug("assume role '%s' (session '%s'%s%s) at %s", s->role_arn, a.in.role_session_name,
		 s->external_id ? ", external id set" : "", mfa_code ? ", with an MFA code" : "",
		 x->sts.url);
	r = cp_run_sts_call(x, who, true, s_call, &a, ret, err);
	if (r && err->cause == CP_CAUSE_CHAINED_ROLE_CAP && a.in.duration_seconds > 3600) {
		cp_warn("role '%s': STS caps sessions of chained roles at 1 hour; "
			"retrying with duration_seconds = 3600 instead of %d",
			s->role_arn, a.in.duration_seconds);
		a.in.duration_seconds = 3600;
		r = cp_run_sts_call(x, who, true, s_call, &a, ret, err);
	}
	if (!r)
		r = cp_run_check_expiry(x, who, ret, err);
	free(default_name);
	s_params_free(&prm);
	return r;
}

/* One role step, with its MFA when it has mfa_serial. */
int cp_role_assume_step(cp_run *x, const cp_role_step *s, const cp_creds *src, cp_creds *ret,
			cp_error *err)
{
	char code[CP_MFA_CODE_SIZE] = "";
	cp_creds session = {0};
	char *refused = NULL;
	bool cached = false;
	cp_mfa_settings m;
	int r;

	if (!s->mfa_serial)
		return s_assume(x, s, src, NULL, ret, err);
	if ((r = cp_mfa_settings_get(x, s, &m, err)))
		return r;
	if (src->session_token && src->session_token[0]) {
		cp_debug("role '%s': its source credentials are a session, which cannot call "
			 "GetSessionToken: the MFA code goes to AssumeRole, and is asked for again at "
			 "every refresh of this role", s->role_arn);
		if (!(r = cp_mfa_code(x, s, &m, code, err)))
			r = s_assume(x, s, src, code, ret, err);
		cp_wipe(code, sizeof code);
		return r;
	}
	r = cp_mfa_session(x, s, &m, src, NULL, &session, &cached, err);
	if (!r)
		r = s_assume(x, s, &session, NULL, ret, err);
	if (r && cached && err->cause == CP_CAUSE_EXPIRED_SESSION) {
		cp_debug("STS refused the cached MFA session for '%s' (%s); starting a new one",
			 s->mfa_serial, err->remote.code);
		if (!(refused = cp_strdup(session.access_key_id))) {
			r = cp_error_set(err, CP_EINTERNAL, "out of memory");
			goto out;
		}
		cp_creds_clear(&session);
		cp_error_clear(err);
		r = cp_mfa_session(x, s, &m, src, refused, &session, &cached, err);
		if (!r)
			r = s_assume(x, s, &session, NULL, ret, err);
	}
out:
	free(refused);
	cp_creds_clear(&session);
	return r;
}
