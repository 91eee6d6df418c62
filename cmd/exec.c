/* exec.c - `aws-credproc exec`: COMMAND with a loopback credentials endpoint
 * of ours in AWS_CONTAINER_CREDENTIALS_FULL_URI (serve.h), or, with
 * --env-only, with the credentials in AWS_ACCESS_KEY_ID and friends.
 *
 * The endpoint is served by this process (a poll() loop) for as long as
 * COMMAND lives: no helper process can outlive us. TERM, INT, HUP, QUIT,
 * USR1, USR2 and WINCH are forwarded to COMMAND; its exit status is ours. */
#include "exec.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "serve.h"

extern char **environ;

mode_t cp_exec_orig_umask = 022;
struct rlimit cp_exec_orig_core = {RLIM_INFINITY, RLIM_INFINITY};

/* Removed from COMMAND's environment: credentials and every variable that
 * would make an SDK pick another source (or another profile) before the
 * container endpoint. Documented in aws-credproc(1), ENVIRONMENT of exec. */
static const char *const s_env_removed[] = {
	"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN",
	"AWS_CREDENTIAL_EXPIRATION", "AWS_ACCOUNT_ID", "AWS_PROFILE", "AWS_DEFAULT_PROFILE",
	"AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "AWS_CONTAINER_CREDENTIALS_FULL_URI",
	"AWS_CONTAINER_AUTHORIZATION_TOKEN", "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE",
	"AWS_WEB_IDENTITY_TOKEN_FILE", "AWS_ROLE_ARN", "AWS_ROLE_SESSION_NAME",
	"AWS_CREDPROC_CHAIN", "AWS_CREDPROC_STATUS_FD",
};

static const int s_forwarded[] = {SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2, SIGWINCH};

static volatile sig_atomic_t s_child = 0;
static int s_wake[2] = {-1, -1};

/* A signal the kernel sent (a terminal's ^C, ^\\, resize or hang-up) went
 * to the whole foreground process group, COMMAND included: not sent twice. */
static void s_forward(int sig, siginfo_t *si, void *uc)
{
	(void)uc;
	int e = errno;
	if (s_child > 0 && !(si && si->si_code == SI_KERNEL))
		kill((pid_t)s_child, sig);
	errno = e;
}

static void s_on_chld(int sig)
{
	(void)sig;
	int e = errno;
	if (write(s_wake[1], "c", 1) < 0) {
		/* full pipe: a wake-up is already pending */
	}
	errno = e;
}

static bool s_removed(const char *kv)
{
	for (size_t i = 0; i < sizeof s_env_removed / sizeof s_env_removed[0]; i++) {
		size_t n = strlen(s_env_removed[i]);
		if (strncmp(kv, s_env_removed[i], n) == 0 && kv[n] == '=')
			return true;
	}
	return false;
}

/* environ minus s_env_removed plus the extra NAME=VALUE strings. */
static char **s_child_env(char *const *extra, size_t nextra)
{
	size_t n = 0;
	for (char **e = environ; *e; e++)
		n++;
	char **env = calloc(n + nextra + 1, sizeof *env);
	if (!env)
		return NULL;
	size_t k = 0;
	for (char **e = environ; *e; e++)
		if (!s_removed(*e))
			env[k++] = *e;
	for (size_t i = 0; i < nextra; i++)
		env[k++] = extra[i];
	env[k] = NULL;
	return env;
}

static void s_restore_inherited(void)
{
	umask(cp_exec_orig_umask);
	setrlimit(RLIMIT_CORE, &cp_exec_orig_core);
	signal(SIGPIPE, SIG_DFL);
}

static int s_exec_failed(int e, const char *cmd, cp_error *err)
{
	if (e == ENOENT)
		return cp_error_set(err, 127, "%s: command not found", cmd);
	return cp_error_set(err, 126, "cannot run %s: %s", cmd, strerror(e));
}

static int s_env_only(const cp_request *req, char **argv, void (*warn)(const char *), cp_error *err)
{
	cp_creds c = {0};
	int r = cp_get_credentials(req, &cp_effects_system, &c, err);
	if (r)
		return r;
	char exp[21] = "";
	char msg[256];
	if (c.expiration) {
		cp_format_iso8601(c.expiration, exp);
		snprintf(msg, sizeof msg,
			 "--env-only: these credentials expire at %s and will not be refreshed", exp);
	} else {
		snprintf(msg, sizeof msg, "--env-only: these are long-term keys (no expiry)");
	}
	char **extra = calloc(5, sizeof *extra);
	size_t ne = 0;
	if (!extra)
		goto oom;
	extra[ne++] = cp_asprintf("AWS_ACCESS_KEY_ID=%s", c.access_key_id);
	extra[ne++] = cp_asprintf("AWS_SECRET_ACCESS_KEY=%s", c.secret_access_key);
	if (c.session_token)
		extra[ne++] = cp_asprintf("AWS_SESSION_TOKEN=%s", c.session_token);
	if (c.expiration)
		extra[ne++] = cp_asprintf("AWS_CREDENTIAL_EXPIRATION=%s", exp);
	cp_creds_clear(&c);
	for (size_t i = 0; i < ne; i++)
		if (!extra[i])
			goto oom;
	char **env = s_child_env(extra, ne);
	if (!env)
		goto oom;
	warn(msg);
	s_restore_inherited();
	execvpe(argv[0], argv, env);
	int e = errno;
	signal(SIGPIPE, SIG_IGN);
	for (size_t i = 0; i < ne; i++)
		cp_free_secret(extra[i]);
	free(extra);
	free(env);
	return s_exec_failed(e, argv[0], err);
oom:
	cp_creds_clear(&c);
	if (extra)
		for (size_t i = 0; i < ne; i++)
			cp_free_secret(extra[i]);
	free(extra);
	return cp_error_set(err, CP_EINTERNAL, "out of memory");
}

typedef struct s_run {
	const cp_request *req;
	pid_t pid;
	int status; /* wait status, valid once done */
	bool done;
} s_run;

static int s_get(void *ud, cp_creds *ret, cp_error *err)
{
	s_run *run = ud;
	return cp_get_credentials(run->req, &cp_effects_system, ret, err);
}

static int s_on_wake(void *ud)
{
	s_run *run = ud;
	char b[64];
	while (read(s_wake[0], b, sizeof b) > 0)
		;
	int st;
	pid_t p = waitpid(run->pid, &st, WNOHANG);
	if (p == run->pid) {
		run->status = st;
		run->done = true;
		s_child = 0; /* reaped: its pid may be reused */
		return 1;
	}
	return 0;
}

int cp_exec_run(const cp_request *req, bool env_only, char **argv, void (*warn)(const char *msg),
		cp_error *err)
{
	if (env_only)
		return s_env_only(req, argv, warn, err);

	/* Fail fast: the first answer is had before COMMAND starts. */
	cp_creds c = {0};
	int r = cp_get_credentials(req, &cp_effects_system, &c, err);
	cp_creds_clear(&c);
	if (r)
		return r;

	cp_server srv;
	if ((r = cp_server_open(&srv, err)))
		return r;
	char *extra[2] = {
		cp_asprintf("AWS_CONTAINER_CREDENTIALS_FULL_URI=%s", srv.url),
		cp_asprintf("AWS_CONTAINER_AUTHORIZATION_TOKEN=%s", srv.token),
	};
	char **env = extra[0] && extra[1] ? s_child_env(extra, 2) : NULL;
	int report[2] = {-1, -1};
	if (!env) {
		r = cp_error_set(err, CP_EINTERNAL, "out of memory");
		goto out;
	}
	if (pipe2(s_wake, O_CLOEXEC | O_NONBLOCK) || pipe2(report, O_CLOEXEC)) {
		r = cp_error_set(err, CP_EINTERNAL, "pipe: %s", strerror(errno));
		goto out;
	}

	sigset_t fwd, old;
	sigemptyset(&fwd);
	for (size_t i = 0; i < sizeof s_forwarded / sizeof s_forwarded[0]; i++)
		sigaddset(&fwd, s_forwarded[i]);
	sigaddset(&fwd, SIGCHLD);
	sigprocmask(SIG_BLOCK, &fwd, &old);
	struct sigaction sa = {0};
	sigemptyset(&sa.sa_mask);
	sa.sa_flags = SA_RESTART | SA_SIGINFO;
	sa.sa_sigaction = s_forward;
	for (size_t i = 0; i < sizeof s_forwarded / sizeof s_forwarded[0]; i++)
		sigaction(s_forwarded[i], &sa, NULL);
	sa.sa_sigaction = NULL;
	sa.sa_handler = s_on_chld;
	sa.sa_flags = SA_RESTART | SA_NOCLDSTOP;
	sigaction(SIGCHLD, &sa, NULL);

	pid_t pid = fork();
	if (pid == 0) {
		struct sigaction dfl = {0};
		dfl.sa_handler = SIG_DFL;
		for (size_t i = 0; i < sizeof s_forwarded / sizeof s_forwarded[0]; i++)
			sigaction(s_forwarded[i], &dfl, NULL);
		sigaction(SIGCHLD, &dfl, NULL);
		s_restore_inherited();
		sigprocmask(SIG_SETMASK, &old, NULL);
		execvpe(argv[0], argv, env);
		int e = errno;
		if (write(report[1], &e, sizeof e) < 0) {
			/* the parent sees 127 anyway */
		}
		_exit(e == ENOENT ? 127 : 126);
	}
	if (pid < 0) {
		r = cp_error_set(err, CP_EINTERNAL, "fork: %s", strerror(errno));
		sigprocmask(SIG_SETMASK, &old, NULL);
		goto out;
	}
	s_child = pid;
	sigprocmask(SIG_SETMASK, &old, NULL);
	close(report[1]);
	report[1] = -1;
	int e = 0;
	ssize_t got;
	do
		got = read(report[0], &e, sizeof e);
	while (got < 0 && errno == EINTR);
	s_run run = {.req = req, .pid = pid};
	if (got == (ssize_t)sizeof e) {
		while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
			;
		r = s_exec_failed(e, argv[0], err);
		goto out;
	}
	/* The wake-up pipe may already hold SIGCHLD's byte: on_wake checks. */
	if (write(s_wake[1], "s", 1) < 0) {
	}
	r = cp_server_run(&srv, s_wake[0], s_on_wake, s_get, &run, err);
	cp_server_close(&srv);
	if (r) {
		/* Our loop failed: COMMAND must not outlive its endpoint unseen. */
		kill(pid, SIGTERM);
	}
	while (!run.done) {
		int st;
		pid_t p = waitpid(pid, &st, 0);
		if (p == pid)
			run.status = st, run.done = true;
		else if (errno != EINTR)
			break;
	}
	if (!r) {
		err->msg[0] = 0;
		r = WIFEXITED(run.status) ? WEXITSTATUS(run.status)
		    : WIFSIGNALED(run.status) ? 128 + WTERMSIG(run.status) : CP_EINTERNAL;
	}
out:
	cp_server_close(&srv);
	for (int i = 0; i < 2; i++) {
		if (report[i] >= 0)
			close(report[i]);
		cp_free_secret(extra[i]);
	}
	free(env);
	return r;
}
