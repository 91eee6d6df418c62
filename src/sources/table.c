/* table.c - the sources that `credential_source = X` names, and the
 * plumbing every source shares. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "source.h"

const cp_source_ops *const cp_named_sources[] = {
	&cp_source_environment_ops,
	&cp_source_imds_ops,
	&cp_source_container_ops,
	NULL,
};

const cp_source_ops *cp_source_named_ops(const char *value)
{
	for (size_t i = 0; value && cp_named_sources[i]; i++)
		if (strcmp(value, cp_named_sources[i]->credential_source) == 0)
			return cp_named_sources[i];
	return NULL;
}

const char *cp_named_sources_text(void)
{
	static char text[256];
	if (!text[0]) {
		size_t n = 0;
		for (size_t i = 0; cp_named_sources[i]; i++)
			n += (size_t)snprintf(text + n, sizeof text - n, "%s%s",
					      i == 0 ? "" : cp_named_sources[i + 1] ? ", " : " or ",
					      cp_named_sources[i]->credential_source);
	}
	return text;
}

cp_source *cp_source_alloc(const cp_source_ops *ops, size_t size, const char *profile)
{
	cp_source *s = calloc(1, size);
	if (!s)
		return NULL;
	s->ops = ops;
	if (!(s->profile = cp_strdup(profile))) {
		free(s);
		return NULL;
	}
	return s;
}

void cp_source_free(cp_source *s)
{
	if (!s)
		return;
	if (s->ops->release)
		s->ops->release(s);
	free(s->profile);
	free(s);
}

int cp_source_named(const char *profile, const char *value, cp_source **ret, cp_error *err)
{
	const cp_source_ops *ops = cp_source_named_ops(value);
	if (!ops)
		return cp_error_set(err, CP_ECONFIG,
				    "profile '%s' has an unsupported credential_source '%s' (expected %s)",
				    profile, value, cp_named_sources_text());
	if (!(*ret = cp_source_alloc(ops, sizeof **ret, profile)))
		return cp_error_set(err, CP_EINTERNAL, "out of memory");
	return 0;
}
