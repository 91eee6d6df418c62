/* mfa.h - the MFA code: from credproc_mfa_process or a prompt on /dev/tty.
 *
 * Core library (no network libraries). The code is a secret for logging
 * purposes: no message, warning or debug line ever quotes it (nor the
 * output of credproc_mfa_process), and every buffer that held it is wiped.
 *
 *  - cp_mfa_from_process() runs the command with /bin/sh -c, stdin from
 *    /dev/null, stderr passed through, in its own process group, with a
 *    deadline, dying with us (spawn.h); the first line of its stdout,
 *    trimmed, must be the code.
 *  - cp_mfa_from_tty() opens /dev/tty (never stdin/stdout: stdout carries
 *    the JSON), writes "Enter MFA code for <serial>: ", reads a line with
 *    echo on and a deadline, and asks again (at most CP_MFA_MAX_PROMPTS
 *    times) when the answer is not a code.
 *
 * Return values: 0 and the code in ret (NUL-terminated); CP_EINTERACTIVE
 * when a person is needed and none can be asked (no terminal, not in the
 * terminal's foreground, no answer in time, no valid code, input closed);
 * CP_ESOURCE when credproc_mfa_process fails, times out or prints no code;
 * CP_EINTERNAL on out of memory or a failed fork/pipe.
 */
#ifndef CP_MFA_H
#define CP_MFA_H

#include <stdbool.h>
#include <stddef.h>

#include "util.h"

#define CP_MFA_CODE_DIGITS 6
#define CP_MFA_CODE_SIZE 8                /* buffer for a code: 6 digits + NUL (+1 spare) */
#define CP_MFA_PROMPT_TIMEOUT_MS 60000    /* the whole prompt, all attempts */
#define CP_MFA_PROCESS_TIMEOUT_MS 60000   /* credproc_mfa_process (may wait for a touch) */
#define CP_MFA_MAX_PROMPTS 3
#define CP_MFA_MAX_OUTPUT 4096            /* bytes of credproc_mfa_process output */

/* The code in text[0..len): its first line, spaces/tabs/CR trimmed, must be
 * exactly CP_MFA_CODE_DIGITS ASCII digits. true and ret filled, or false
 * (ret emptied). */
bool cp_mfa_parse_code(const char *text, size_t len, char ret[static CP_MFA_CODE_SIZE]);

/* Runs `command` (credproc_mfa_process of `profile`, for messages) for the
 * device `serial` with a deadline of timeout_ms (<= 0: the default). */
int cp_mfa_from_process(const char *profile, const char *command, const char *serial,
			long timeout_ms, char ret[static CP_MFA_CODE_SIZE], cp_error *err);

/* Prompts for the code of `serial` on the controlling terminal; all attempts
 * together get timeout_ms (<= 0: the default). */
int cp_mfa_from_tty(const char *serial, long timeout_ms, char ret[static CP_MFA_CODE_SIZE],
		    cp_error *err);

#endif
