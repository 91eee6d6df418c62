/* creds.h - a set of AWS credentials; every field is owned and wiped on clear. */
#ifndef CP_CREDS_H
#define CP_CREDS_H

#include <stdint.h>

typedef struct cp_creds {
	char *access_key_id;     /* required */
	char *secret_access_key; /* required, secret */
	char *session_token;     /* optional, secret */
	int64_t expiration;      /* Unix seconds; 0 = does not expire */
	char *account_id;        /* optional */
} cp_creds;

/* Wipes and frees every field; c is left zeroed. NULL ok. */
void cp_creds_clear(cp_creds *c);
/* Deep copy into *dst (dst must be empty). 0 or CP_EINTERNAL. */
int cp_creds_copy(cp_creds *dst, const cp_creds *src);
/* Sets *dst (cleared first) to copies of the strings (session_token and
 * account_id: NULL for none) and expiration: what every parser of a
 * credentials document ends with. 0, or CP_EINTERNAL out of memory with
 * dst untouched. */
int cp_creds_set(cp_creds *dst, const char *access_key_id, const char *secret_access_key,
		 const char *session_token, int64_t expiration, const char *account_id);
/* Moves src into dst (dst cleared first); src is left zeroed. */
void cp_creds_move(cp_creds *dst, cp_creds *src);

#endif
