/* fuzz-sts-xml.c - cp_sts_parse_xml on hostile STS replies. */
#include <string.h>

#include "fuzz.h"
#include "sts.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	cp_sts_reply rep = {0};
	cp_error err = {0};
	int r = cp_sts_parse_xml((const char *)data, size, &rep, &err);
	if (r == 0) {
		if (rep.is_error) {
			FUZZ_CHECK(rep.error_code && rep.error_code[0]);
			FUZZ_CHECK(!rep.creds.access_key_id && !rep.creds.secret_access_key);
			cp_cause c = cp_sts_error_cause(400, rep.error_code, rep.error_message, 0);
			FUZZ_CHECK(c != CP_CAUSE_NONE && c != CP_CAUSE_CLOCK_SKEW);
		} else {
			FUZZ_CHECK(rep.creds.access_key_id && rep.creds.access_key_id[0]);
			FUZZ_CHECK(rep.creds.secret_access_key && rep.creds.secret_access_key[0]);
			FUZZ_CHECK(!rep.expiration_text || rep.creds.expiration > 0);
			if (rep.creds.account_id)
				FUZZ_CHECK(rep.creds.account_id[0] &&
					   strspn(rep.creds.account_id, "0123456789") ==
						   strlen(rep.creds.account_id));
		}
	} else {
		FUZZ_CHECK((r == CP_ETRANSPORT || r == CP_EINTERNAL) && err.status == r && err.msg[0]);
		/* *ret is untouched on failure. */
		FUZZ_CHECK(!rep.is_error && !rep.creds.access_key_id && !rep.error_code);
	}
	cp_sts_reply_free(&rep);
	return 0;
}
