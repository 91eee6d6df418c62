/* process.h - nested credential_process sources and the recursion guard.
 *
 * A command runs under /bin/sh -c with stdin from /dev/null, stderr passed
 * through, stdout captured (at most CP_PROCESS_MAX_OUTPUT bytes), a
 * deadline, and dies with us (spawn.h). AWS_CREDPROC_CHAIN carries the profiles being resolved, and
 * AWS_CREDPROC_STATUS_FD lets a nested aws-credproc report its exit class
 * back so that e.g. a recursion error (2) or a needed person (6) propagates.
 */
#ifndef CP_PROCESS_H
#define CP_PROCESS_H

#include <stddef.h>

#include "creds.h"
#include "util.h"

#define CP_PROCESS_MAX_OUTPUT (64 * 1024)
#define CP_MAX_NESTING 4

/* Checks AWS_CREDPROC_CHAIN against `profile` and prepares the value the
 * children inherit ("a,b,profile"). Exits with CP_ECONFIG when the profile is
 * already in the chain or the chain already holds CP_MAX_NESTING entries.
 * On success sets AWS_CREDPROC_CHAIN in this process's environment. */
int cp_chain_guard(const char *profile, cp_error *err);

/* Runs `command` for `profile` and parses the credential_process JSON it
 * prints. Returns 0, CP_ESOURCE (failed, timed out, bad output, expired),
 * or the nested aws-credproc's own status when it reported one. */
int cp_process_run(const char *profile, const char *command, long timeout_ms, cp_creds *ret,
		   cp_error *err);

/* Parses a credential_process document (Version 1). 0 or CP_ESOURCE. */
int cp_process_parse(const char *json, size_t len, cp_creds *ret, cp_error *err);

/* Called once at start-up: takes AWS_CREDPROC_STATUS_FD from the environment
 * (if valid), so that cp_status_report() can write to it; removes the variable. */
void cp_status_fd_init(void);
/* Whether an outer aws-credproc waits for our status (we are nested). */
bool cp_status_fd_active(void);
/* Reports this process's exit status and its error line (may be NULL) to
 * an outer aws-credproc, if there is one. True when the whole line was
 * written: the outer one then prints the error line as its own, and we
 * need not (it would be printed twice). */
bool cp_status_report(int status, const char *msg);

#endif
