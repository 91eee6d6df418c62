/* test-json.c - trees and texts that hold secrets (json.h): what cJSON frees
 * is looked at, through allocation hooks, for the secret it held. */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"
#include "output.h"
#include "tap.h"
#include "util.h"

#define S_MARK "SeCrEt"

/* Every block cJSON frees is looked at for S_MARK before it goes. The
 * hooks keep each block's size in front of it. */
static int s_marked_frees, s_frees;

static void *s_malloc(size_t n)
{
	size_t *p = malloc(sizeof(size_t) * 2 + n);
	if (!p)
		return NULL;
	p[0] = n;
	return p + 2;
}

static void s_free(void *v)
{
	if (!v)
		return;
	size_t *p = (size_t *)v - 2;
	s_frees++;
	if (memmem(v, p[0], S_MARK, strlen(S_MARK)))
		s_marked_frees++;
	free(p);
}

static void s_count_reset(void)
{
	s_marked_frees = s_frees = 0;
}

static const char s_doc[] =
	"{\"AccessKeyId\":\"AKIA" S_MARK "\",\"SecretAccessKey\":\"" S_MARK "-secret\","
	"\"Nested\":{\"Token\":\"t-" S_MARK "\",\"List\":[\"a-" S_MARK "\",{\"k\":\"" S_MARK "\"},17,true,null]},"
	"\"key-" S_MARK "\":\"plain\",\"Expiration\":1700000000}";

static void s_free_secret(void)
{
	cJSON *j = cJSON_Parse(s_doc);
	s_count_reset();
	cJSON_Delete(j);
	tap_ok(j && s_marked_frees > 0, "control: a plain cJSON_Delete frees the secrets as they were (%d blocks)",
	       s_marked_frees);

	j = cJSON_Parse(s_doc);
	cJSON *exp = cJSON_GetObjectItemCaseSensitive(j, "Expiration");
	s_count_reset();
	double before = exp ? exp->valuedouble : 0;
	cp_json_free_secret(j);
	tap_ok(j && before == 1700000000.0 && s_frees > 10 && s_marked_frees == 0,
	       "cp_json_free_secret: values, nested values, array items and keys wiped before they are freed "
	       "(%d of %d freed blocks held the secret)", s_marked_frees, s_frees);

	/* References are the caller's: left as they are. */
	char secret[] = "ref-" S_MARK;
	char *owned = cp_strdup("owned-" S_MARK);
	j = cJSON_CreateObject();
	cJSON *inner = cJSON_CreateObject();
	cJSON_AddItemToObject(inner, "deep", cJSON_CreateString("inner"));
	bool ok = j && inner && cJSON_AddItemToObjectCS(j, "Ref", cJSON_CreateStringReference(secret)) &&
		  cJSON_AddItemToObject(j, "Obj", cJSON_CreateObjectReference(inner)) &&
		  cJSON_AddItemToObject(j, "Copy", cJSON_CreateString(owned));
	s_count_reset();
	cp_json_free_secret(j);
	const cJSON *deep = cJSON_GetObjectItemCaseSensitive(inner, "deep");
	tap_ok(ok && strcmp(secret, "ref-" S_MARK) == 0 && cJSON_IsString(deep) &&
	       strcmp(deep->valuestring, "inner") == 0 && strcmp(owned, "owned-" S_MARK) == 0 &&
	       s_marked_frees == 0,
	       "cp_json_free_secret: references (a string, an object) are neither wiped nor freed; copies are wiped");
	cJSON_Delete(inner);
	cp_free_secret(owned);
	cp_json_free_secret(NULL); /* nothing to do */
}

static void s_print_secret(void)
{
	cJSON *j = cJSON_Parse(s_doc);
	char *text = NULL;
	char *want = cJSON_PrintUnformatted(j);
	char *want_fmt = cJSON_Print(j);
	s_count_reset();
	int r = cp_json_print_secret(j, false, 4096, &text);
	tap_ok(r == 0 && text && want && strcmp(text, want) == 0,
	       "cp_json_print_secret: the text of cJSON_PrintUnformatted");
	tap_ok(s_marked_frees == 0 && s_frees == 0, "cp_json_print_secret: no buffer of cJSON's (%d freed)", s_frees);
	bool clean = text != NULL;
	for (size_t i = text ? strlen(text) + 1 : 4096; i < 4096; i++)
		clean = clean && text[i] == 0;
	tap_ok(clean, "cp_json_print_secret: the rest of the buffer is zero");
	cp_free_secret(text);
	text = NULL;
	r = cp_json_print_secret(j, true, 4096, &text);
	tap_ok(r == 0 && text && want_fmt && strcmp(text, want_fmt) == 0,
	       "cp_json_print_secret: formatted, the text of cJSON_Print");
	cp_free_secret(text);
	text = NULL;
	r = cp_json_print_secret(j, false, strlen(want) / 2, &text);
	tap_ok(r == EFBIG && text == NULL, "cp_json_print_secret: too small a buffer is EFBIG, nothing returned");
	r = cp_json_print_secret(j, false, 0, &text);
	tap_ok(r == EFBIG && text == NULL, "cp_json_print_secret: max 0 is EFBIG");
	cJSON_free(want);
	cJSON_free(want_fmt);
	cp_json_free_secret(j);
}

/* The credential_process output goes through both: no copy of a secret is
 * freed by cJSON. */
static void s_output(void)
{
	cp_creds c = {.access_key_id = "AKIA" S_MARK, .secret_access_key = "s-" S_MARK,
		      .session_token = "t-" S_MARK, .expiration = 1700000000};
	s_count_reset();
	char *out = cp_output_json(&c);
	tap_ok(out && strstr(out, "\"SecretAccessKey\":\t\"s-" S_MARK "\"") && s_marked_frees == 0,
	       "the credential_process JSON: printed, and its tree wiped (%d of %d freed blocks held a secret)",
	       s_marked_frees, s_frees);
	cp_free_secret(out);
}

int main(void)
{
	cJSON_Hooks h = {.malloc_fn = s_malloc, .free_fn = s_free};
	cJSON_InitHooks(&h);
	s_free_secret();
	s_print_secret();
	s_output();
	return tap_done();
}
