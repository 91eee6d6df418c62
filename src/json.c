/* json.c - cJSON trees and texts that hold secrets (json.h). */
#include "json.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

static void s_wipe_tree(cJSON *j)
{
	for (; j; j = j->next) {
		if (j->string && !(j->type & cJSON_StringIsConst))
			cp_wipe(j->string, strlen(j->string));
		if (j->type & cJSON_IsReference)
			continue;
		if (j->valuestring)
			cp_wipe(j->valuestring, strlen(j->valuestring));
		j->valuedouble = 0;
		j->valueint = 0;
		if (j->child)
			s_wipe_tree(j->child);
	}
}

void cp_json_free_secret(cJSON *j)
{
	if (!j)
		return;
	s_wipe_tree(j);
	cJSON_Delete(j);
}

int cp_json_print_secret(const cJSON *j, bool format, size_t max, char **ret)
{
	if (max == 0 || max > INT_MAX)
		return EFBIG;
	char *buf = malloc(max);
	if (!buf)
		return ENOMEM;
	if (!cJSON_PrintPreallocated((cJSON *)j, buf, (int)max, format)) {
		cp_freezero(buf, max);
		return EFBIG;
	}
	size_t n = strlen(buf);
	cp_wipe(buf + n, max - n);
	*ret = buf;
	return 0;
}
