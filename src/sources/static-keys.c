/* static-keys.c - aws_access_key_id / aws_secret_access_key [/ aws_session_token]. */
#include <stdlib.h>

#include "identity.h"
#include "source.h"

typedef struct s_static {
	cp_source base;
	cp_creds creds;
} s_static;

static int s_identity(const cp_source *s, const cp_run *run, cp_buf *k)
{
	(void)run;
	return cp_key_line(k, "source-key-id", ((const s_static *)s)->creds.access_key_id);
}

static int s_explain(const cp_source *s, const cp_run *run, cp_buf *b)
{
	(void)run;
	return cp_buf_printf(b, "static keys of profile '%s'%s\n", s->profile,
			     ((const s_static *)s)->creds.session_token ? " (with a session token)" : "");
}

static int s_fetch(const cp_source *s, cp_run *run, cp_creds *ret, cp_error *err)
{
	(void)run;
	cp_debug("base: static keys of profile '%s'", s->profile);
	return cp_creds_copy(ret, &((const s_static *)s)->creds)
		       ? cp_error_set(err, CP_EINTERNAL, "out of memory")
		       : 0;
}

static bool s_long_term(const cp_source *s)
{
	return !((const s_static *)s)->creds.session_token;
}

static void s_release(cp_source *s)
{
	cp_creds_clear(&((s_static *)s)->creds);
}

/* This source's row of the interface (source.h). Every source file ends
 * with one of the same shape: the repeat is the interface, not a copy. */
const cp_source_ops cp_source_static_ops = {
	.kind = "static keys",
	.identity = s_identity,
	.explain = s_explain,
	.fetch = s_fetch,
	.long_term = s_long_term,
	.release = s_release,
};

int cp_source_static(const char *profile, const char *akid, const char *secret, const char *token,
		     cp_source **ret, cp_error *err)
{
	s_static *s = (s_static *)cp_source_alloc(&cp_source_static_ops, sizeof *s, profile);
	if (!s || cp_creds_set(&s->creds, akid, secret, token, 0, NULL)) {
		cp_source_free(s ? &s->base : NULL);
		return cp_error_set(err, CP_EINTERNAL, "out of memory");
	}
	*ret = &s->base;
	return 0;
}

const cp_creds *cp_source_as_static(const cp_source *s)
{
	return s && s->ops == &cp_source_static_ops ? &((const s_static *)s)->creds : NULL;
}
