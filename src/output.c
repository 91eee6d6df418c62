/* output.c - credential_process JSON and shell export lines. */
#include "output.h"

#include <malloc.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "json.h"
#include "util.h"

static void s_wiping_free(void *p)
{
	if (p) {
		explicit_bzero(p, malloc_usable_size(p));
		free(p);
	}
}

void cp_output_init_json_hooks(void)
{
	cJSON_Hooks h = {.malloc_fn = malloc, .free_fn = s_wiping_free};
	cJSON_InitHooks(&h);
}

char *cp_output_json(const cp_creds *c)
{
	char exp[21];
	char *text = NULL, *res = NULL;
	cJSON *o = cJSON_CreateObject();
	if (!o)
		return NULL;
	if (!cJSON_AddNumberToObject(o, "Version", 1) ||
	    !cJSON_AddStringToObject(o, "AccessKeyId", c->access_key_id) ||
	    !cJSON_AddStringToObject(o, "SecretAccessKey", c->secret_access_key))
		goto out;
	if (c->session_token && !cJSON_AddStringToObject(o, "SessionToken", c->session_token))
		goto out;
	if (c->expiration) {
		cp_format_iso8601(c->expiration, exp);
		if (!cJSON_AddStringToObject(o, "Expiration", exp))
			goto out;
	}
	if (c->account_id && !cJSON_AddStringToObject(o, "AccountId", c->account_id))
		goto out;
	/* Room for every byte escaped as \u00XX, and for the rest. */
	size_t n = strlen(c->access_key_id) + strlen(c->secret_access_key) +
		   (c->session_token ? strlen(c->session_token) : 0) +
		   (c->account_id ? strlen(c->account_id) : 0);
	if (cp_json_print_secret(o, true, n * 6 + 512, &text) == 0)
		res = cp_asprintf("%s\n", text);
out:
	cp_free_secret(text);
	cp_json_free_secret(o);
	return res;
}

/* Single-quotes a value for POSIX shells. */
static int s_quote(cp_buf *b, const char *v)
{
	if (cp_buf_putc(b, '\''))
		return CP_EINTERNAL;
	for (; *v; v++) {
		if (*v == '\'') {
			if (cp_buf_puts(b, "'\\''"))
				return CP_EINTERNAL;
		} else if (cp_buf_putc(b, *v)) {
			return CP_EINTERNAL;
		}
	}
	return cp_buf_putc(b, '\'');
}

static int s_export(cp_buf *b, const char *name, const char *v)
{
	if (cp_buf_printf(b, "export %s=", name) || s_quote(b, v) || cp_buf_putc(b, '\n'))
		return CP_EINTERNAL;
	return 0;
}

char *cp_output_env(const cp_creds *c)
{
	cp_buf b = {0};
	char exp[21];
	if (s_export(&b, "AWS_ACCESS_KEY_ID", c->access_key_id) ||
	    s_export(&b, "AWS_SECRET_ACCESS_KEY", c->secret_access_key))
		goto oom;
	if (c->session_token) {
		if (s_export(&b, "AWS_SESSION_TOKEN", c->session_token))
			goto oom;
	} else if (cp_buf_puts(&b, "unset AWS_SESSION_TOKEN\n")) {
		goto oom;
	}
	if (c->expiration) {
		cp_format_iso8601(c->expiration, exp);
		if (s_export(&b, "AWS_CREDENTIAL_EXPIRATION", exp))
			goto oom;
	} else if (cp_buf_puts(&b, "unset AWS_CREDENTIAL_EXPIRATION\n")) {
		goto oom;
	}
	if (c->account_id) {
		if (s_export(&b, "AWS_ACCOUNT_ID", c->account_id))
			goto oom;
	} else if (cp_buf_puts(&b, "unset AWS_ACCOUNT_ID\n")) {
		goto oom;
	}
	return cp_buf_steal(&b);
oom:
	cp_buf_free(&b);
	return NULL;
}
