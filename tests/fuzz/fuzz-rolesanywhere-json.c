/* fuzz-rolesanywhere-json.c - the IAM Roles Anywhere service's answers on
 * hostile input: a CreateSession answer (cp_ra_parse_response) and the same
 * bytes as an error answer of every status class, with and without an
 * x-amzn-ErrorType header (cp_ra_error). */
#include <string.h>

#include "creds.h"
#include "fuzz.h"
#include "rolesanywhere.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *text = (const char *)data;
	cp_creds c = {0};
	cp_error err = {0};
	int r = cp_ra_parse_response(text, size, &c, &err);
	if (r == 0) {
		FUZZ_CHECK(c.access_key_id && c.secret_access_key && c.session_token);
	} else {
		FUZZ_CHECK((r == CP_ESOURCE || r == CP_EINTERNAL) && err.status == r && err.msg[0]);
		if (r == CP_ESOURCE)
			FUZZ_CHECK(err.cause == CP_CAUSE_MALFORMED);
	}
	cp_creds_clear(&c);

	/* The header value is the input's first line, as a server could send it. */
	char type[128];
	size_t tl = 0;
	while (tl < size && tl < sizeof type - 1 && text[tl] && text[tl] != '\n' && text[tl] != '\r')
		tl++;
	memcpy(type, text, tl);
	type[tl] = '\0';
	for (long st = 399; st <= 503; st += 26) {
		cp_error e = {0};
		int s = cp_ra_error("fuzz", st, st & 1 ? type : "", text, size, &e);
		FUZZ_CHECK(s == CP_EREFUSED || s == CP_ETRANSPORT);
		FUZZ_CHECK(e.status == s && e.msg[0] && e.remote.http_status == st);
		/* Server text is shown made safe: no control character survives. */
		for (const char *p = e.msg; *p; p++)
			FUZZ_CHECK((unsigned char)*p >= 0x20 && *p != 0x7f);
	}
	return 0;
}
