/* spawn.h - runs one helper command with a deadline and a capped stdout.
 *
 * The one way src/ runs a command: credential_process (process.c) and
 * credproc_mfa_process (mfa.c). Core library, async-signal-safe child.
 *
 * The command runs as `/bin/sh -c COMMAND` with stdin from /dev/null, stdout
 * into a pipe that we read, stderr passed through, and:
 *  - in a process group of its own, so that a deadline, an output over the
 *    cap or our own death reaches everything it started (kill(-pgid));
 *  - with PR_SET_PDEATHSIG (SIGTERM; SIGKILL when SIGTERM is ignored), set
 *    before exec and checked against the race with our exit: a child whose
 *    parent already left (getppid() is no longer the pid we had before the
 *    fork) exits at once;
 *  - while it runs, SIGTERM, SIGINT and SIGHUP (each unless ignored) are
 *    forwarded to its process group (followed by SIGTERM, which a shell's
 *    background job does not ignore as it does SIGINT, and SIGCONT for a
 *    stopped member), and we then die of that same signal (default action
 *    restored, signal raised again), so that a caller such as `timeout`
 *    sees the usual status and nothing we started outlives us.
 *    Between fork and the handlers knowing the child, those signals are
 *    blocked, so none is lost.
 *
 * stdout is read until end of file or, once the child has exited, until
 * nothing more is buffered: a process it left in the background that still
 * holds its stdout is not waited for, and its process group is killed. Past
 * the deadline or the output cap the whole group is killed (SIGKILL). The
 * child is always reaped before cp_spawn_run() returns.
 */
#ifndef CP_SPAWN_H
#define CP_SPAWN_H

#include <stdbool.h>
#include <stddef.h>

#include "util.h"

typedef struct cp_spawn_options {
	const char *command; /* run with /bin/sh -c; borrowed */
	long timeout_ms;     /* the deadline, from the start; > 0 */
	size_t max_output;   /* more bytes than this on stdout: too_big */
	int inherit_fd;      /* a descriptor the command keeps across exec, or -1 */
} cp_spawn_options;

typedef struct cp_spawn_result {
	cp_buf out;     /* stdout, at most max_output bytes; may hold a secret */
	bool timed_out; /* the deadline passed (the group was killed) */
	bool too_big;   /* stdout went over max_output (the group was killed) */
	int status;     /* the waitpid() status of /bin/sh */
} cp_spawn_result;

/* Runs o->command. 0 when it ran: how it ended is in *ret (emptied first;
 * the caller words the message and frees ret with cp_spawn_result_free(),
 * also on failure). CP_EINTERNAL (err set) when a pipe, the fork or memory
 * failed; the child, if one was started, is then killed and reaped. */
int cp_spawn_run(const cp_spawn_options *o, cp_spawn_result *ret, cp_error *err);

/* How the command of o ended, in one sentence about `what` (e.g.
 * "credential_process of profile 'x'"): 0 when it exited with status 0;
 * else CP_ESOURCE with err: "<what> did not finish within <timeout> s",
 * "... printed more than <max_output> bytes", "... was killed by signal
 * N", "... could not be run (exit status 127)" or "... failed (exit status
 * N)". */
int cp_spawn_check(const cp_spawn_options *o, const cp_spawn_result *res, const char *what,
		   cp_error *err);

/* Wipes and frees ret->out; ret is emptied. */
void cp_spawn_result_free(cp_spawn_result *ret);

#endif
