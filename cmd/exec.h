/* exec.h - `aws-credproc exec`: COMMAND with a loopback credentials endpoint. */
#ifndef CP_EXEC_H
#define CP_EXEC_H

#include <stdbool.h>
#include <sys/resource.h>
#include <sys/types.h>

#include "credproc.h"

/* What main() changed for us and COMMAND gets back. */
extern mode_t cp_exec_orig_umask;
extern struct rlimit cp_exec_orig_core;

/* Runs argv[0] with argv (NULL-terminated). Returns COMMAND's exit status
 * (128+N if killed by signal N) with err->msg empty, or, when COMMAND did
 * not run, our status with err set: CP_E* when no credentials could be had,
 * 127 not found, 126 not executable. env_only: no endpoint, the variables
 * set and COMMAND exec'd in our place, after warn() is given the line that
 * names the expiry. */
int cp_exec_run(const cp_request *req, bool env_only, char **argv, void (*warn)(const char *msg),
		cp_error *err);

#endif
