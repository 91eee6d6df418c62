/* fuzz-process-json.c - cp_process_parse on hostile credential_process
 * output (the Version 1 JSON document a nested process prints). */
#include <string.h>

#include "fuzz.h"
#include "process.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	cp_creds c = {0};
	cp_error err = {0};
	int r = cp_process_parse((const char *)data, size, &c, &err);
	if (r == 0) {
		FUZZ_CHECK(c.access_key_id && c.access_key_id[0]);
		FUZZ_CHECK(c.secret_access_key && c.secret_access_key[0]);
		FUZZ_CHECK(!c.session_token || c.session_token[0]);
		FUZZ_CHECK(!c.account_id || c.account_id[0]);
	} else {
		FUZZ_CHECK((r == CP_ESOURCE || r == CP_EINTERNAL) && err.status == r && err.msg[0]);
		FUZZ_CHECK(!c.access_key_id && !c.secret_access_key && !c.session_token);
	}
	cp_creds_clear(&c);
	return 0;
}
