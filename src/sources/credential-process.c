/* credential-process.c - a nested credential_process (run by spawn.c). */
#include <stdlib.h>

#include "identity.h"
#include "process.h"
#include "run.h"
#include "source.h"

typedef struct s_process {
	cp_source base;
	char *command;
} s_process;

static int s_identity(const cp_source *s, const cp_run *run, cp_buf *k)
{
	(void)run;
	return cp_key_line(k, "command", ((const s_process *)s)->command);
}

static int s_explain(const cp_source *s, const cp_run *run, cp_buf *b)
{
	(void)run;
	return cp_buf_printf(b, "credential_process of profile '%s'\n", s->profile);
}

static int s_fetch(const cp_source *s, cp_run *run, cp_creds *ret, cp_error *err)
{
	cp_debug("base: credential_process of profile '%s'", s->profile);
	return cp_process_run(s->profile, ((const s_process *)s)->command, run->timeout_ms, ret, err);
}

/* It may print long-term keys: known only once it has run. */
static bool s_long_term(const cp_source *s)
{
	(void)s;
	return true;
}

static void s_release(cp_source *s)
{
	free(((s_process *)s)->command);
}

/* This source's row of the interface (source.h). Every source file ends
 * with one of the same shape: the repeat is the interface, not a copy. */
const cp_source_ops cp_source_process_ops = {
	.kind = "credential_process",
	.label = "process",
	.identity = s_identity,
	.explain = s_explain,
	.fetch = s_fetch,
	.long_term = s_long_term,
	.release = s_release,
};

int cp_source_process(const char *profile, const char *command, cp_source **ret, cp_error *err)
{
	s_process *s = (s_process *)cp_source_alloc(&cp_source_process_ops, sizeof *s, profile);
	if (!s || !(s->command = cp_strdup(command))) {
		cp_source_free(s ? &s->base : NULL);
		return cp_error_set(err, CP_EINTERNAL, "out of memory");
	}
	*ret = &s->base;
	return 0;
}
