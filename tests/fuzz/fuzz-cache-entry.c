/* fuzz-cache-entry.c - the cache entry reader (cp_cache_parse_entry, the
 * parser cp_cache_read uses) on hostile entry files.
 *
 * Input: the first line is the cache key, the rest the entry text. The
 * whole input is also tried as an entry for a fixed, realistic key.
 */
#include <string.h>

#include "cache.h"
#include "fuzz.h"

/* What src/credproc.c builds for a role on top of a static-key profile. */
static const char s_fixed_key[] =
	"aws-credproc cache key v1\n"
	"endpoint=https://sts.us-east-1.amazonaws.com\n"
	"region=us-east-1\n"
	"source=static keys\n"
	"profile=dev\n"
	"profile=base\n"
	"role=arn:aws:iam::123456789012:role/dev\n"
	"session=(default)\n"
	"external-id=\n"
	"mfa=\n"
	"duration=0\n";

static void s_one(const char *text, size_t len, const char *key)
{
	cp_cache_entry e = {0};
	cp_error err = {0};
	int r = cp_cache_parse_entry(text, len, key, &e, &err);
	if (r == 0) {
		/* What cache.h promises a hit holds. */
		FUZZ_CHECK(e.creds.access_key_id && e.creds.access_key_id[0]);
		FUZZ_CHECK(e.creds.secret_access_key && e.creds.secret_access_key[0]);
		FUZZ_CHECK(e.issued > 0 && e.creds.expiration > e.issued);
	} else {
		FUZZ_CHECK((r == CP_CACHE_MISS || r == CP_EINTERNAL) && err.status == r && err.msg[0]);
		FUZZ_CHECK(!e.creds.access_key_id && !e.creds.secret_access_key && !e.creds.session_token);
	}
	cp_creds_clear(&e.creds);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *text = (const char *)data;
	const char *nl = memchr(text, '\n', size);
	if (nl) {
		size_t kn = (size_t)(nl - text);
		char *key = cp_strndup(text, kn); /* a NUL in the line ends the key early */
		if (key) {
			s_one(nl + 1, size - kn - 1, key);
			free(key);
		}
	}
	s_one(text, size, s_fixed_key);
	return 0;
}
