/* creds.c - credential sets with secure clearing. */
#include "creds.h"

#include <string.h>

#include "util.h"

void cp_creds_clear(cp_creds *c)
{
	if (!c)
		return;
	cp_free_secret(c->access_key_id);
	cp_free_secret(c->secret_access_key);
	cp_free_secret(c->session_token);
	cp_free_secret(c->account_id);
	memset(c, 0, sizeof *c);
}

int cp_creds_copy(cp_creds *dst, const cp_creds *src)
{
	cp_creds t = {0};
	t.expiration = src->expiration;
	if ((src->access_key_id && !(t.access_key_id = cp_strdup(src->access_key_id))) ||
	    (src->secret_access_key && !(t.secret_access_key = cp_strdup(src->secret_access_key))) ||
	    (src->session_token && !(t.session_token = cp_strdup(src->session_token))) ||
	    (src->account_id && !(t.account_id = cp_strdup(src->account_id)))) {
		cp_creds_clear(&t);
		return CP_EINTERNAL;
	}
	*dst = t;
	return 0;
}

int cp_creds_set(cp_creds *dst, const char *access_key_id, const char *secret_access_key,
		 const char *session_token, int64_t expiration, const char *account_id)
{
	/* Borrowed: copied, never freed here. */
	const cp_creds src = {
		.access_key_id = (char *)access_key_id,
		.secret_access_key = (char *)secret_access_key,
		.session_token = (char *)session_token,
		.expiration = expiration,
		.account_id = (char *)account_id,
	};
	cp_creds t = {0};
	if (cp_creds_copy(&t, &src))
		return CP_EINTERNAL;
	cp_creds_move(dst, &t);
	return 0;
}

void cp_creds_move(cp_creds *dst, cp_creds *src)
{
	cp_creds_clear(dst);
	*dst = *src;
	memset(src, 0, sizeof *src);
}
