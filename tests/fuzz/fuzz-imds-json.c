/* fuzz-imds-json.c - cp_imds_parse_credentials on hostile instance-metadata
 * credential documents. */
#include <string.h>

#include "fuzz.h"
#include "imds.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	cp_creds c = {0};
	cp_error err = {0};
	int r = cp_imds_parse_credentials((const char *)data, size, &c, &err);
	if (r == 0) {
		FUZZ_CHECK(c.access_key_id && c.access_key_id[0]);
		FUZZ_CHECK(c.secret_access_key && c.secret_access_key[0]);
		FUZZ_CHECK(c.session_token && c.session_token[0]);
		FUZZ_CHECK(c.expiration > 0);
		if (c.account_id)
			FUZZ_CHECK(strspn(c.account_id, "0123456789") == strlen(c.account_id));
	} else {
		FUZZ_CHECK((r == CP_ESOURCE || r == CP_EINTERNAL) && err.status == r && err.msg[0]);
		FUZZ_CHECK(!c.access_key_id && !c.secret_access_key && !c.session_token);
	}
	cp_creds_clear(&c);
	return 0;
}
