/* test-spawn.c - cp_spawn_run: output, cap, deadline, a background process
 * holding stdout, an inherited descriptor, the signal dispositions put
 * back, and the child dying with us: a forwarded SIGTERM reaches its whole
 * group, a SIGKILL of ours its parent-death signal. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "spawn.h"
#include "tap.h"
#include "util.h"
#include "retry.h"

static char s_dir[] = "/tmp/cp-test-spawn-XXXXXX";

/* pid runs (a zombie waiting for its reaper does not count). */
static bool s_alive(pid_t pid)
{
	char path[64], buf[512];
	snprintf(path, sizeof path, "/proc/%ld/stat", (long)pid);
	FILE *f = fopen(path, "r");
	if (!f)
		return false;
	size_t n = fread(buf, 1, sizeof buf - 1, f);
	fclose(f);
	buf[n] = '\0';
	const char *p = strrchr(buf, ')');
	return p && p[1] == ' ' && p[2] != 'Z' && p[2] != 'X';
}

/* Whether none of pids[0..n) runs within 2 s. */
static bool s_all_gone(const pid_t *pids, size_t n)
{
	int64_t end = cp_mono_ms() + 2000;
	for (;;) {
		bool any = false;
		for (size_t i = 0; i < n; i++)
			any |= pids[i] > 0 && s_alive(pids[i]);
		if (!any)
			return true;
		if (cp_mono_ms() > end)
			return false;
		cp_sleep_ms(20);
	}
}

/* Reads up to n pids from path, waiting up to 10 s for the file. */
static size_t s_read_pids(const char *path, pid_t *pids, size_t n)
{
	for (int i = 0; i < 500; i++) {
		FILE *f = fopen(path, "r");
		if (f) {
			size_t got = 0;
			long v;
			while (got < n && fscanf(f, "%ld", &v) == 1)
				pids[got++] = (pid_t)v;
			fclose(f);
			if (got == n)
				return got;
		}
		cp_sleep_ms(20);
	}
	return 0;
}

static void s_kill_all(const pid_t *pids, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (pids[i] > 0)
			kill(pids[i], SIGKILL);
}

static int s_run(const char *command, long timeout_ms, size_t max, cp_spawn_result *res,
		 int64_t *ret_ms)
{
	cp_error err = {0};
	cp_spawn_options o = {.command = command, .timeout_ms = timeout_ms, .max_output = max,
			      .inherit_fd = -1};
	int64_t t0 = cp_mono_ms();
	int r = cp_spawn_run(&o, res, &err);
	*ret_ms = cp_mono_ms() - t0;
	return r;
}

static void s_output(void)
{
	cp_spawn_result res;
	int64_t ms;
	int r = s_run("printf hello; exit 3", 5000, 100, &res, &ms);
	tap_ok(r == 0 && !res.timed_out && !res.too_big && res.out.len == 5 &&
		       strcmp(res.out.data, "hello") == 0 && WIFEXITED(res.status) &&
		       WEXITSTATUS(res.status) == 3,
	       "stdout read, exit status kept");
	cp_spawn_result_free(&res);

	r = s_run("head -c 101 /dev/zero", 5000, 100, &res, &ms);
	tap_ok(r == 0 && res.too_big && res.out.len <= 100, "over the cap: too_big");
	cp_spawn_result_free(&res);
	r = s_run("head -c 100 /dev/zero", 5000, 100, &res, &ms);
	tap_ok(r == 0 && !res.too_big && res.out.len == 100, "exactly the cap: read");
	cp_spawn_result_free(&res);

	r = s_run("read x; echo \"${x:-none}\"", 5000, 100, &res, &ms);
	tap_ok(r == 0 && res.out.data && strcmp(res.out.data, "none\n") == 0, "stdin is /dev/null");
	cp_spawn_result_free(&res);

	r = s_run("sleep 10", 300, 100, &res, &ms);
	tap_ok(r == 0 && res.timed_out && WIFSIGNALED(res.status) && ms >= 290 && ms < 3000,
	       "deadline: killed after %lld ms", (long long)ms);
	cp_spawn_result_free(&res);

	/* Output closed, the shell lingering: still the deadline. */
	r = s_run("exec >&-; sleep 10", 300, 100, &res, &ms);
	tap_ok(r == 0 && res.timed_out && ms < 3000, "stdout closed, no exit: deadline (%lld ms)",
	       (long long)ms);
	cp_spawn_result_free(&res);
}

/* cp_spawn_check: one sentence per way a command ends. */
static void s_check(void)
{
	static const struct {
		const char *command;
		long timeout_ms;
		int status;
		const char *msg;
	} cases[] = {
		{"exit 0", 5000, 0, NULL},
		{"sleep 10", 300, CP_ESOURCE, "the helper did not finish within 0.3 s"},
		{"head -c 101 /dev/zero", 5000, CP_ESOURCE, "the helper printed more than 100 bytes"},
		{"kill -9 $$", 5000, CP_ESOURCE, "the helper was killed by signal 9"},
		{"exec /nonexistent/command", 5000, CP_ESOURCE, "the helper could not be run (exit status 127)"},
		{"echo out; exit 3", 5000, CP_ESOURCE, "the helper failed (exit status 3)"},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		cp_spawn_options o = {.command = cases[i].command, .timeout_ms = cases[i].timeout_ms,
				      .max_output = 100, .inherit_fd = -1};
		cp_spawn_result res;
		cp_error err = {0};
		int r = cp_spawn_run(&o, &res, &err);
		if (r == 0)
			r = cp_spawn_check(&o, &res, "the helper", &err);
		tap_ok(r == cases[i].status && (cases[i].msg ? strcmp(err.msg, cases[i].msg) == 0 : !err.msg[0]),
		       "check '%s': %s", cases[i].command, r ? err.msg : "0");
		cp_spawn_result_free(&res);
	}
}

static void s_background_holder(void)
{
	char pidfile[128], cmd[512];
	pid_t pid = 0;
	cp_spawn_result res;
	int64_t ms;
	snprintf(pidfile, sizeof pidfile, "%s/holder", s_dir);
	snprintf(cmd, sizeof cmd, "(sleep 30 & echo $! > %s); echo done", pidfile);
	int r = s_run(cmd, 5000, 100, &res, &ms);
	tap_ok(r == 0 && !res.timed_out && res.out.data && strcmp(res.out.data, "done\n") == 0 &&
		       ms < 4000,
	       "exited, a background process holds stdout: output in %lld ms", (long long)ms);
	cp_spawn_result_free(&res);
	s_read_pids(pidfile, &pid, 1);
	tap_ok(pid > 0 && s_all_gone(&pid, 1), "the process holding stdout is killed");
	s_kill_all(&pid, 1);

	/* A background process that does not hold stdout is left alone. The
	 * subshell lets go of stdout before it forks: with `sleep 30 >/dev/null &`
	 * the forked child holds the pipe until it gets to its redirection, and
	 * when the shell exits first that child is (rightly) killed as a holder:
	 * 3 runs in 20 failed that way. */
	snprintf(cmd, sizeof cmd, "(exec >/dev/null; sleep 30 & echo $! > %s); echo done", pidfile);
	unlink(pidfile);
	pid = 0;
	r = s_run(cmd, 5000, 100, &res, &ms);
	s_read_pids(pidfile, &pid, 1);
	tap_ok(r == 0 && pid > 0 && s_alive(pid), "a background process not holding stdout is left");
	cp_spawn_result_free(&res);
	s_kill_all(&pid, 1);
}

static void s_inherit(void)
{
	int p[2];
	char cmd[64], buf[16] = {0};
	cp_spawn_result res;
	cp_error err = {0};
	if (pipe2(p, O_CLOEXEC) < 0) {
		tap_ok(0, "pipe");
		return;
	}
	snprintf(cmd, sizeof cmd, "echo fd >&%d; echo ok", p[1]);
	cp_spawn_options o = {.command = cmd, .timeout_ms = 5000, .max_output = 100, .inherit_fd = p[1]};
	int r = cp_spawn_run(&o, &res, &err);
	close(p[1]);
	ssize_t k = read(p[0], buf, sizeof buf - 1);
	tap_ok(r == 0 && k == 3 && strcmp(buf, "fd\n") == 0 && strcmp(res.out.data, "ok\n") == 0,
	       "inherit_fd stays open across exec");
	cp_spawn_result_free(&res);
	close(p[0]);

	/* Another close-on-exec descriptor does not. */
	if (pipe2(p, O_CLOEXEC) < 0)
		return;
	snprintf(cmd, sizeof cmd, "{ echo fd >&%d; } 2>/dev/null || echo closed", p[1]);
	o.inherit_fd = -1;
	r = cp_spawn_run(&o, &res, &err);
	tap_ok(r == 0 && strcmp(res.out.data, "closed\n") == 0, "other descriptors are closed");
	cp_spawn_result_free(&res);
	close(p[0]);
	close(p[1]);
}

static void s_dispositions(void)
{
	cp_spawn_result res;
	int64_t ms;
	struct sigaction sa;
	sigset_t before, after;
	sigprocmask(SIG_SETMASK, NULL, &before);
	s_run("true", 5000, 100, &res, &ms);
	cp_spawn_result_free(&res);
	sigprocmask(SIG_SETMASK, NULL, &after);
	bool same = true;
	for (int s = 1; s < 32; s++)
		same &= sigismember(&before, s) == sigismember(&after, s);
	sigaction(SIGTERM, NULL, &sa);
	tap_ok(same && sa.sa_handler == SIG_DFL, "signal mask and SIGTERM disposition put back");

	/* An ignored SIGHUP stays ignored, for us and for the command. */
	signal(SIGHUP, SIG_IGN);
	s_run("trap - HUP; kill -HUP $$; echo survived", 5000, 100, &res, &ms);
	sigaction(SIGHUP, NULL, &sa);
	tap_ok(res.out.data && strcmp(res.out.data, "survived\n") == 0 && sa.sa_handler == SIG_IGN,
	       "an ignored SIGHUP stays ignored");
	cp_spawn_result_free(&res);
	signal(SIGHUP, SIG_DFL);
}

/* Forks a process that runs, through cp_spawn_run, `record` (which prints
 * `npids` pids, saved to a file) then `tail`; sends it `sig` once the pids
 * are known, and checks how it ended and that those processes are gone. */
static void s_dies_with_us(const char *what, const char *record, const char *tail, size_t npids,
			   int sig)
{
	char pidfile[128], cmd[512];
	pid_t pids[2] = {0, 0};
	snprintf(pidfile, sizeof pidfile, "%s/%s", s_dir, what);
	snprintf(cmd, sizeof cmd, "%s > '%s.tmp' && mv '%s.tmp' '%s'; %s", record, pidfile, pidfile,
		 pidfile, tail);
	fflush(NULL);
	pid_t t = fork();
	if (t == 0) {
		cp_spawn_result res;
		cp_error err = {0};
		cp_spawn_options o = {.command = cmd, .timeout_ms = 20000, .max_output = 100,
				      .inherit_fd = -1};
		cp_spawn_run(&o, &res, &err);
		_exit(42);
	}
	size_t got = s_read_pids(pidfile, pids, npids);
	kill(t, sig);
	int st = 0;
	waitpid(t, &st, 0);
	tap_ok(got == npids && WIFSIGNALED(st) && WTERMSIG(st) == sig,
	       "%s: the caller died of signal %d (status %#x)", what, sig, st);
	tap_ok(got == npids && s_all_gone(pids, npids), "%s: nothing it started is left", what);
	s_kill_all(pids, npids);
}

int main(void)
{
	if (!mkdtemp(s_dir)) {
		tap_skip_all("cannot create a temporary directory");
		return tap_done();
	}
	alarm(120);
	s_output();
	s_check();
	s_background_holder();
	s_inherit();
	s_dispositions();
	const char *group = "sleep 30 & echo $$ $!";
	s_dies_with_us("sigterm", group, "wait", 2, SIGTERM);
	s_dies_with_us("sigint", group, "wait", 2, SIGINT);
	s_dies_with_us("sighup", group, "wait", 2, SIGHUP);
	s_dies_with_us("sigkill", "echo $$", "exec sleep 30", 1, SIGKILL);
	char rm[128];
	snprintf(rm, sizeof rm, "rm -rf %s", s_dir);
	if (system(rm) != 0)
		tap_diag("cannot remove %s", s_dir);
	return tap_done();
}
