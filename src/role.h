/* role.h - one role step of a chain: AssumeRole with the step's session
 * parameters, the 1-hour cap of role chaining, and MFA (a cached MFA
 * session from long-term keys, see sources/mfa-session.c, or a code sent
 * to AssumeRole itself). */
#ifndef CP_ROLE_H
#define CP_ROLE_H

#include <stdbool.h>

#include "cache.h"
#include "mfa.h"
#include "resolve.h"
#include "run.h"

/* Assumes step s with src; 0 or a CP_E* status with err set. */
int cp_role_assume_step(cp_run *x, const cp_role_step *s, const cp_creds *src, cp_creds *ret,
			cp_error *err);

/* ---- MFA (sources/mfa-session.c) ----------------------------------------- */

#define CP_MFA_SESSION_DEFAULT 43200 /* seconds: 12 hours */
#define CP_MFA_SESSION_MIN 900
#define CP_MFA_SESSION_MAX 129600

typedef struct cp_mfa_settings {
	const char *process;         /* credproc_mfa_process, NULL: the terminal */
	const char *process_profile; /* the profile that sets it (messages) */
	int duration;                /* credproc_mfa_session_duration, seconds */
} cp_mfa_settings;

bool cp_chain_has_mfa(const cp_run *x);
/* How long a waiter waits for a lock whose holder may be asking a person. */
long cp_mfa_lock_wait_ms(const cp_run *x);
int cp_mfa_settings_get(const cp_run *x, const cp_role_step *s, cp_mfa_settings *m, cp_error *err);
/* The code for step s; the time a person takes does not count against
 * the network deadline. */
int cp_mfa_code(cp_run *x, const cp_role_step *s, const cp_mfa_settings *m,
		char code[static CP_MFA_CODE_SIZE], cp_error *err);
/* An MFA session for step s: cached, or (under the session key's lock,
 * after a re-read) a code and GetSessionToken. A cached session whose key
 * id is `refused` counts as missing. */
int cp_mfa_session(cp_run *x, const cp_role_step *s, const cp_mfa_settings *m, const cp_creds *src,
		   const char *refused, cp_creds *ret, bool *ret_cached, cp_error *err);
/* explain: where each code comes from, whether a session is cached. */
int cp_mfa_explain(const cp_run *x, cp_cache *cache, cp_buf *b);

#endif
