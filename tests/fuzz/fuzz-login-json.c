/* fuzz-login-json.c - the console sign-in pieces on hostile input: a token
 * cache file (cp_login_token_parse), then, split off at the first NUL, a
 * CreateOAuth2Token answer applied to it (cp_login_apply_refresh) and the
 * rewritten file parsed back; and the same bytes as an error answer
 * (cp_login_refresh_error). */
#include <string.h>

#include "fuzz.h"
#include "login.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *text = (const char *)data;
	const char *nul = memchr(text, '\0', size);
	size_t tlen = nul ? (size_t)(nul - text) : size;
	const char *ans = nul ? nul + 1 : "";
	size_t alen = nul ? size - tlen - 1 : 0;

	cp_login_token t = {0};
	cp_error err = {0};
	int r = cp_login_token_parse(text, tlen, &t, &err);
	if (r == 0) {
		FUZZ_CHECK(t.access_key_id && t.secret_access_key && t.session_token && t.account_id &&
			   t.client_id && t.refresh_token && t.dpop_key);
		cp_error e2 = {0};
		int a = cp_login_apply_refresh(&t, ans, alen, 1796000000, &e2);
		FUZZ_CHECK(a == 0 || a == CP_ESOURCE || a == CP_EINTERNAL);
		if (a == 0) {
			FUZZ_CHECK(t.expires_at > 1796000000);
			char *out = cp_login_token_serialize(&t);
			if (out) {
				cp_login_token back = {0};
				cp_error e3 = {0};
				FUZZ_CHECK(cp_login_token_parse(out, strlen(out), &back, &e3) == 0);
				FUZZ_CHECK(back.expires_at == t.expires_at &&
					   strcmp(back.refresh_token, t.refresh_token) == 0);
				cp_login_token_free(&back);
				cp_free_secret(out);
			}
		} else if (a == CP_ESOURCE) {
			FUZZ_CHECK(e2.cause == CP_CAUSE_MALFORMED);
		}
	} else {
		FUZZ_CHECK((r == CP_ESOURCE || r == CP_EINTERNAL) && err.status == r && err.msg[0]);
	}
	cp_login_token_free(&t);
	const char *secrets[] = {"secret"};
	for (long st = 399; st <= 503; st += 52) {
		cp_error e4 = {0};
		int s = cp_login_refresh_error(st, text, tlen, "svc", "run `aws login --profile p`",
					       secrets, 1, &e4);
		FUZZ_CHECK(s >= CP_ESOURCE && s <= CP_EINTERACTIVE && e4.status == s);
		FUZZ_CHECK(!strstr(e4.msg, "secret")); /* never quoted */
	}
	return 0;
}
